//! # vkyc-vision — the verification engine and its inference actors
//!
//! Pure pipelines over decoded images and ONNX sessions, and the actors that run them: the
//! inference pools ([`inference`]) own the ONNX sessions and call into the pipelines; the
//! engines of [`verify`] (face match, liveness, document) are what a pool runs for one job.
//! Everything but the pools is testable with a model directory and a photo, no server needed.
//!
//! - [`inference`]: bounded pools of ractor workers, one ONNX session each, supervised and
//!   restarted; [`verify`]: the face-match, liveness and document jobs they run.
//! - [`runtime`]: ONNX Runtime library + model files, checked against `models/manifest.toml`.
//! - [`decode`]: bounded image decoding (format sniffing, pixel limits before allocation).
//! - [`geometry`]: points, boxes, similarity transforms and warping.
//! - [`face`]: YuNet detection with 5 landmarks, quality checks, alignment, SFace embedding,
//!   cosine similarity mapped to a 0–100 score.
//! - [`liveness`]: head pose from landmarks, the active head-movement challenge, the
//!   pluggable passive (anti-spoofing) model, and how they combine.
//! - [`ocr`]: PP-OCR text detection + recognition; [`idcard`]: PAN/Aadhaar field extraction
//!   and name matching.
//!
//! Errors carry stable machine-readable codes ([`VisionError::code`]) that the API returns.

pub mod decode;
pub mod face;
pub mod geometry;
pub mod idcard;
pub mod inference;
pub mod liveness;
pub mod ocr;
pub mod runtime;
pub mod verify;

/// A setting's check for the engines' `validate`: `value` must lie in `range`, or the message
/// names the key (`face.match_threshold must be within 0.05..=0.75, got 0.9`).
pub(crate) fn within<T, R>(key: &str, value: T, range: R) -> Result<(), String>
where
    T: PartialOrd + std::fmt::Display,
    R: std::ops::RangeBounds<T> + std::fmt::Debug,
{
    if range.contains(&value) {
        Ok(())
    } else {
        Err(format!("{key} must be within {range:?}, got {value}"))
    }
}

use serde::Serialize;

/// A check failed on the input, or inference failed. `code()` is stable API.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize)]
#[serde(tag = "code", content = "message", rename_all = "snake_case")]
pub enum VisionError {
    #[error("the image is empty")]
    ImageEmpty,
    #[error("not an image in a supported format (JPEG, PNG or WebP)")]
    ImageUnsupported,
    #[error("the image is truncated or corrupt: {0}")]
    ImageCorrupt(String),
    #[error("the image is {width}x{height}; at most {max_pixels} pixels and {max_side} px a side are accepted")]
    ImageTooLarge {
        width: u32,
        height: u32,
        max_pixels: u64,
        max_side: u32,
    },
    #[error("the image is {width}x{height}; at least {min_side} px a side is needed")]
    ImageTooSmall {
        width: u32,
        height: u32,
        min_side: u32,
    },
    #[error("no face was found: make sure the face is fully visible and well lit")]
    NoFace,
    #[error("{0} faces were found: only one person may be in the picture")]
    MultipleFaces(usize),
    #[error("the face is partly out of the frame: move so the whole face is visible")]
    FaceOutOfFrame,
    #[error("the face is too small ({0} px wide): move closer to the camera")]
    FaceTooSmall(u32),
    #[error("the picture is too dark: find more light or face a window")]
    TooDark,
    #[error("the picture is overexposed: move away from the direct light")]
    TooBright,
    #[error("the picture is blurred: hold still and make sure the camera is in focus")]
    Blurred,
    #[error("inference failed: {0}")]
    Inference(String),
}

impl VisionError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::ImageEmpty => "image_empty",
            Self::ImageUnsupported => "image_unsupported",
            Self::ImageCorrupt(_) => "image_corrupt",
            Self::ImageTooLarge { .. } => "image_too_large",
            Self::ImageTooSmall { .. } => "image_too_small",
            Self::NoFace => "no_face",
            Self::MultipleFaces(_) => "multiple_faces",
            Self::FaceOutOfFrame => "face_out_of_frame",
            Self::FaceTooSmall(_) => "face_too_small",
            Self::TooDark => "image_too_dark",
            Self::TooBright => "image_too_bright",
            Self::Blurred => "image_blurred",
            Self::Inference(_) => "inference_failed",
        }
    }

    /// The caller's input is at fault (4xx), as opposed to the engine (5xx).
    pub fn is_input_error(&self) -> bool {
        !matches!(self, Self::Inference(_))
    }
}

impl From<ort::Error> for VisionError {
    fn from(e: ort::Error) -> Self {
        Self::Inference(e.to_string())
    }
}
