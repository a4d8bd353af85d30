//! The verification engines the inference pools run: face match, liveness and (with the OCR
//! models) document reading. Each is an [`Engine`]: built once per worker from [`Models`],
//! then given jobs of raw image bytes — decoding happens on the worker's blocking thread too.

use image::RgbImage;
use serde::Serialize;

use crate::decode::{decode_rgb, DecodeLimits};
use crate::face::{
    self, FaceConfig, FaceDetector, FaceEmbedder, FaceEngine, Quality, ReferenceMatch, Strictness,
};
use crate::geometry::{BBox, Point};
use crate::idcard::{name_match, read_document, DocumentFields, DocumentKind};
use crate::inference::Engine;
use crate::liveness::{
    self, ChallengeConfig, FrameFace, LivenessVerdict, Move, PassiveConfig, PassiveModel,
};
use crate::ocr::{OcrConfig, OcrEngine};
use crate::runtime::{ModelError, Models};
use crate::VisionError;

pub use vkyc_domain::kyc::CheckError;

impl From<&VisionError> for CheckError {
    fn from(e: &VisionError) -> Self {
        CheckError::new(e.code(), e.to_string())
    }
}

fn face_engine(models: &Models) -> Result<FaceEngine, ModelError> {
    Ok(FaceEngine {
        detector: FaceDetector::new(models.session("yunet")?),
        embedder: FaceEmbedder::new(models.session("sface")?),
    })
}

// ------------------------------------------------------------------------ face match

#[derive(Clone)]
pub struct FaceInit {
    pub models: Models,
    pub face: FaceConfig,
    pub limits: DecodeLimits,
}

pub struct FaceMatchJob {
    pub probe: Vec<u8>,
    pub references: Vec<Vec<u8>>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FaceSummary {
    pub bbox: BBox,
    pub landmarks: [Point; 5],
    pub detector_score: f32,
    pub quality: Quality,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReferenceOutcome {
    pub index: usize,
    #[serde(flatten)]
    pub result: Option<ReferenceMatch>,
    pub face: Option<FaceSummary>,
    pub error: Option<CheckError>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FaceMatchOutcome {
    /// The best reference matched.
    pub matched: bool,
    /// 0–100, the best reference's score; 60 and above is a match.
    pub score: u8,
    pub similarity: f32,
    pub threshold: f32,
    pub probe: FaceSummary,
    pub references: Vec<ReferenceOutcome>,
}

pub struct FaceMatchEngine {
    engine: FaceEngine,
    init: FaceInit,
}

fn summary(a: &face::FaceAnalysis) -> FaceSummary {
    FaceSummary {
        bbox: a.detection.bbox,
        landmarks: a.detection.landmarks,
        detector_score: a.detection.score,
        quality: a.quality.clone(),
    }
}

impl FaceMatchEngine {
    fn analyze(
        &mut self,
        bytes: &[u8],
        strictness: Strictness,
    ) -> Result<face::FaceAnalysis, VisionError> {
        let img = decode_rgb(bytes, &self.init.limits)?;
        self.engine.analyze(&img, strictness, &self.init.face)
    }
}

impl Engine for FaceMatchEngine {
    type Job = FaceMatchJob;
    type Output = FaceMatchOutcome;
    type Init = FaceInit;
    const NAME: &'static str = "face";

    fn build(init: &FaceInit) -> Result<Self, ModelError> {
        Ok(Self {
            engine: face_engine(&init.models)?,
            init: init.clone(),
        })
    }

    fn run(&mut self, job: FaceMatchJob) -> Result<FaceMatchOutcome, VisionError> {
        let probe = self.analyze(&job.probe, Strictness::Capture)?;
        let mut references = Vec::with_capacity(job.references.len());
        for (index, bytes) in job.references.iter().enumerate() {
            references.push(match self.analyze(bytes, Strictness::Reference) {
                Ok(r) => ReferenceOutcome {
                    index,
                    result: Some(face::compare(
                        index,
                        &probe.embedding,
                        &r.embedding,
                        &self.init.face,
                    )),
                    face: Some(summary(&r)),
                    error: None,
                },
                Err(e) if e.is_input_error() => ReferenceOutcome {
                    index,
                    result: None,
                    face: None,
                    error: Some(CheckError::from(&e)),
                },
                Err(e) => return Err(e),
            });
        }
        let best = references
            .iter()
            .filter_map(|r| r.result.as_ref())
            .max_by(|a, b| a.similarity.total_cmp(&b.similarity));
        Ok(FaceMatchOutcome {
            matched: best.is_some_and(|b| b.matched),
            score: best.map_or(0, |b| b.score),
            similarity: best.map_or(0.0, |b| b.similarity),
            threshold: self.init.face.match_threshold,
            probe: summary(&probe),
            references,
        })
    }
}

// -------------------------------------------------------------------------- liveness

#[derive(Clone)]
pub struct LivenessInit {
    pub models: Models,
    pub face: FaceConfig,
    pub challenge: ChallengeConfig,
    pub passive: PassiveConfig,
    pub limits: DecodeLimits,
}

/// The model name of the passive liveness model in [`Models`]: the shipped one, or a
/// customer's file registered under `liveness_custom`.
pub fn passive_model_name(p: &PassiveConfig) -> &'static str {
    if p.model_path.is_empty() {
        "liveness"
    } else {
        "liveness_custom"
    }
}

pub struct Frame {
    pub image: Vec<u8>,
    /// Milliseconds since the first frame.
    pub t_ms: u64,
}

pub struct LivenessJob {
    pub moves: Vec<Move>,
    pub frames: Vec<Frame>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LivenessOutcome {
    #[serde(flatten)]
    pub verdict: LivenessVerdict,
    /// Per frame: the error that made it unusable, if any.
    pub frame_errors: Vec<Option<CheckError>>,
}

pub struct LivenessEngine {
    engine: FaceEngine,
    passive: PassiveModel,
    init: LivenessInit,
}

impl Engine for LivenessEngine {
    type Job = LivenessJob;
    type Output = LivenessOutcome;
    type Init = LivenessInit;
    const NAME: &'static str = "liveness";

    fn build(init: &LivenessInit) -> Result<Self, ModelError> {
        let session = init.models.session(passive_model_name(&init.passive))?;
        Ok(Self {
            engine: face_engine(&init.models)?,
            passive: PassiveModel::new(session, init.passive.clone()),
            init: init.clone(),
        })
    }

    fn run(&mut self, job: LivenessJob) -> Result<LivenessOutcome, VisionError> {
        let cfg = &self.init;
        let mut images: Vec<RgbImage> = Vec::with_capacity(job.frames.len());
        let mut faces = Vec::with_capacity(job.frames.len());
        let mut frame_errors = Vec::with_capacity(job.frames.len());
        for f in &job.frames {
            // A frame that is not an image at all is the caller's error, not a liveness fail.
            let img = decode_rgb(&f.image, &cfg.limits)?;
            let det = self.engine.detector.detect(&img, &cfg.face)?;
            match face::single_face(&det, img.width(), img.height(), &cfg.face) {
                Ok(d) => {
                    faces.push(FrameFace {
                        t_ms: f.t_ms,
                        detection: Some(d),
                    });
                    frame_errors.push(None);
                }
                Err(e) => {
                    faces.push(FrameFace {
                        t_ms: f.t_ms,
                        detection: None,
                    });
                    frame_errors.push(Some(CheckError::from(&e)));
                }
            }
            images.push(img);
        }
        let identical = liveness::frames_identical(&images);
        let min_face_px = cfg.face.min_face_px as f32;
        let mut active =
            liveness::verify_active(&job.moves, &faces, identical, &cfg.challenge, min_face_px);
        let mut passive = None;
        if let Some(best) = active.best_frame {
            let det = faces[best].detection.expect("best frame has a face");
            passive = Some(self.passive.live_probability(&images[best], &det)?);
            // The same person throughout ([`liveness::identity_plan`]).
            if let Some(plan) =
                liveness::identity_plan(&active, &faces, &cfg.challenge, min_face_px)
            {
                let embedder = &mut self.engine.embedder;
                let why = liveness::judge_identity(&plan, cfg.face.match_threshold, |i| {
                    let d = faces[i].detection.expect("planned frames have a face");
                    embedder.embed(&face::align(&images[i], &d))
                })?;
                match why {
                    liveness::Identity::Same => {}
                    liveness::Identity::Unchecked(note) => active.reasons.push(note),
                    liveness::Identity::Changed(why) => {
                        active.passed = false;
                        active
                            .reasons
                            .retain(|r| !r.starts_with("challenge_completed"));
                        active.reasons.push(why);
                    }
                }
            }
        }
        Ok(LivenessOutcome {
            verdict: liveness::combine(active, passive, &cfg.challenge, &cfg.passive),
            frame_errors,
        })
    }
}

// -------------------------------------------------------------------------- document

#[derive(Clone)]
pub struct DocumentInit {
    pub models: Models,
    pub ocr: OcrConfig,
    pub face: FaceConfig,
    pub limits: DecodeLimits,
}

pub struct DocumentJob {
    pub kind: DocumentKind,
    pub image: Vec<u8>,
    /// The applicant's name as given to the lender, for the name match.
    pub expected_name: Option<String>,
}

/// The photo printed on the card, cut out for a face match.
#[derive(Debug, Clone, Serialize)]
pub struct CardFace {
    pub bbox: BBox,
    pub detector_score: f32,
    /// The face crop (box grown ×1.6), JPEG.
    #[serde(skip)]
    pub jpeg: Vec<u8>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DocumentOutcome {
    pub fields: DocumentFields,
    /// 0–100 ([`crate::idcard::name_match`]) of the name read against the expected name.
    pub name_match: Option<u8>,
    pub face: Option<CardFace>,
    pub face_error: Option<CheckError>,
}

pub struct DocumentEngine {
    ocr: OcrEngine,
    detector: FaceDetector,
    init: DocumentInit,
}

impl Engine for DocumentEngine {
    type Job = DocumentJob;
    type Output = DocumentOutcome;
    type Init = DocumentInit;
    const NAME: &'static str = "document";

    fn build(init: &DocumentInit) -> Result<Self, ModelError> {
        let ocr = OcrEngine::new(
            init.models.session("ocr_det")?,
            init.models.session("ocr_rec")?,
        )
        .map_err(|e| ModelError::Session {
            name: "ocr_rec".into(),
            path: init
                .models
                .path("ocr_rec")
                .map(|p| p.to_path_buf())
                .unwrap_or_default(),
            message: e.to_string(),
        })?
        .with_config(init.ocr.clone());
        Ok(Self {
            ocr,
            detector: FaceDetector::new(init.models.session("yunet")?),
            init: init.clone(),
        })
    }

    fn run(&mut self, job: DocumentJob) -> Result<DocumentOutcome, VisionError> {
        let img = decode_rgb(&job.image, &self.init.limits)?;
        let fields = read_document(&mut self.ocr, job.kind, &img)?;
        let name_match = match (&job.expected_name, &fields.name) {
            (Some(expected), Some(read)) => Some(name_match(expected, read)),
            (Some(_), None) => Some(0),
            _ => None,
        };
        // The card's photo: the largest face on it (cards may carry a small ghost image too).
        let (face, face_error) = match self.detector.detect(&img, &self.init.face)?.first() {
            Some(d) => {
                let crop = face::face_crop(&img, &d.bbox.scaled(1.6), u32::MAX);
                let mut jpeg = Vec::new();
                image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 92)
                    .encode_image(&crop)
                    .map_err(|e| VisionError::Inference(format!("encoding the card face: {e}")))?;
                (
                    Some(CardFace {
                        bbox: d.bbox,
                        detector_score: d.score,
                        jpeg,
                    }),
                    None,
                )
            }
            None => (None, Some(CheckError::from(&VisionError::NoFace))),
        };
        Ok(DocumentOutcome {
            fields,
            name_match,
            face,
            face_error,
        })
    }
}
