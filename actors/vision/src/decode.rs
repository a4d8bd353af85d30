//! Bounded image decoding. The format is sniffed from the bytes (never trusted from a
//! content type), the dimensions are read from the header and checked **before** any pixel
//! buffer is allocated (a 30000×30000 PNG of a few KB is refused here), and the decoder runs
//! with an allocation limit as a second guard.

use std::io::Cursor;

use image::{ImageFormat, ImageReader, Limits, RgbImage};
use serde::Deserialize;

use crate::VisionError;

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecodeLimits {
    /// Largest accepted width × height.
    pub max_pixels: u64,
    /// Largest accepted side, in pixels.
    pub max_side: u32,
    /// Smallest accepted side, in pixels.
    pub min_side: u32,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_pixels: 24_000_000,
            max_side: 8192,
            min_side: 32,
        }
    }
}

/// Decodes JPEG, PNG or WebP bytes into RGB, within `limits`.
pub fn decode_rgb(bytes: &[u8], limits: &DecodeLimits) -> Result<RgbImage, VisionError> {
    if bytes.is_empty() {
        return Err(VisionError::ImageEmpty);
    }
    let format = image::guess_format(bytes).map_err(|_| VisionError::ImageUnsupported)?;
    if !matches!(
        format,
        ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP
    ) {
        return Err(VisionError::ImageUnsupported);
    }
    if format == ImageFormat::Jpeg && !jpeg_complete(bytes) {
        // The JPEG decoder fills a cut-off scan with grey instead of failing.
        return Err(VisionError::ImageCorrupt(
            "the JPEG data ends before its end-of-image marker".into(),
        ));
    }
    let (width, height) = ImageReader::with_format(Cursor::new(bytes), format)
        .into_dimensions()
        .map_err(|e| VisionError::ImageCorrupt(e.to_string()))?;
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels || width > limits.max_side || height > limits.max_side {
        return Err(VisionError::ImageTooLarge {
            width,
            height,
            max_pixels: limits.max_pixels,
            max_side: limits.max_side,
        });
    }
    if width < limits.min_side || height < limits.min_side {
        return Err(VisionError::ImageTooSmall {
            width,
            height,
            min_side: limits.min_side,
        });
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut l = Limits::default();
    l.max_image_width = Some(limits.max_side);
    l.max_image_height = Some(limits.max_side);
    // RGBA at 16 bits a channel is the worst case a decoder may allocate, plus slack.
    // (Saturating: a configuration may say "no limit" with u64::MAX pixels.)
    l.max_alloc = Some(limits.max_pixels.saturating_mul(8).saturating_add(1 << 20));
    reader.limits(l);
    let img = reader
        .decode()
        .map_err(|e| VisionError::ImageCorrupt(e.to_string()))?;
    Ok(img.to_rgb8())
}

/// A complete JPEG ends with the EOI marker (FF D9), give or take trailing padding.
fn jpeg_complete(bytes: &[u8]) -> bool {
    let end = bytes
        .iter()
        .rposition(|&b| b != 0 && b != b'\n' && b != b'\r' && b != b' ')
        .map_or(0, |i| i + 1);
    end >= 4 && bytes[end - 2] == 0xFF && bytes[end - 1] == 0xD9
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_pixel(w, h, image::Rgb([10, 20, 30]));
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn decodes_a_small_png() {
        let img = decode_rgb(&png(64, 48), &DecodeLimits::default()).unwrap();
        assert_eq!(img.dimensions(), (64, 48));
        assert_eq!(img.get_pixel(3, 3).0, [10, 20, 30]);
    }

    #[test]
    fn refuses_empty_text_and_truncated() {
        let l = DecodeLimits::default();
        assert_eq!(decode_rgb(b"", &l).unwrap_err().code(), "image_empty");
        assert_eq!(
            decode_rgb(b"hello, this is text", &l).unwrap_err().code(),
            "image_unsupported"
        );
        let p = png(200, 200);
        assert_eq!(
            decode_rgb(&p[..p.len() / 2], &l).unwrap_err().code(),
            "image_corrupt"
        );
    }

    #[test]
    fn refuses_huge_dimensions_from_the_header_alone() {
        // A PNG header claiming 30000x30000: only the header is read, nothing is allocated.
        let mut p = png(8, 8);
        p[16..20].copy_from_slice(&30000u32.to_be_bytes());
        p[20..24].copy_from_slice(&30000u32.to_be_bytes());
        let crc = crc32fast::hash(&p[12..29]);
        p[29..33].copy_from_slice(&crc.to_be_bytes());
        let e = decode_rgb(&p, &DecodeLimits::default()).unwrap_err();
        assert_eq!(e.code(), "image_too_large", "{e}");
    }

    /// Found by fuzz_decode_any_limits_never_panic: limits of `u64::MAX` pixels ("no limit")
    /// overflowed the decoder's allocation limit (a panic in debug builds).
    #[test]
    fn unlimited_pixels_are_no_overflow() {
        let l = DecodeLimits {
            max_pixels: u64::MAX,
            ..DecodeLimits::default()
        };
        assert_eq!(decode_rgb(&png(64, 48), &l).unwrap().dimensions(), (64, 48));
    }

    #[test]
    fn refuses_tiny_images() {
        assert_eq!(
            decode_rgb(&png(8, 8), &DecodeLimits::default())
                .unwrap_err()
                .code(),
            "image_too_small"
        );
    }
}
