//! Renders one cycle of head movements (turn left, turn right, look up, look down, each out
//! and back) from a real face photo, as numbered PNG frames for a looping fake camera.
//! The face geometry comes from the real detector; the warp is `vkyc_loadtest::headpose`.
//!
//! ```text
//! cargo run -p vkyc-vision --example head_moves -- PHOTO OUT_DIR [FRAMES_PER_MOVE=21] [AMPLITUDE_RAD=0.6]
//! ```
//! Writes `OUT_DIR/f0000.png …` and prints the frame count. `tests/browser/fixtures.sh`
//! turns them into `face_moves.y4m` at 30 fps (one cycle ≈ 3 s; Chromium loops it).

use vkyc_loadtest::headpose::{self, FaceGeometry, Move};
use vkyc_vision::face::{FaceConfig, FaceDetector};
use vkyc_vision::runtime::{default_models_dir, Models};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        anyhow::bail!("usage: head_moves PHOTO OUT_DIR [FRAMES_PER_MOVE] [AMPLITUDE_RAD]");
    }
    let per_move: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(21);
    let amplitude: f32 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(0.6);
    let photo = image::open(&args[0])?.to_rgb8();
    let models = Models::load(&default_models_dir(), 1, &[])
        .map_err(|e| anyhow::anyhow!("{e} (run bash models/setup.sh)"))?;
    let mut detector = FaceDetector::new(
        models
            .session("yunet")
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    );
    let faces = detector
        .detect(&photo, &FaceConfig::default())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let d = faces
        .first()
        .ok_or_else(|| anyhow::anyhow!("no face in {}", args[0]))?;
    let geom = FaceGeometry {
        bbox: (d.bbox.x, d.bbox.y, d.bbox.w, d.bbox.h),
        landmarks: d.landmarks.map(|p| (p.x, p.y)),
    };
    let frames = headpose::challenge_frames(
        &photo,
        &geom,
        &[
            Move::TurnLeft,
            Move::TurnRight,
            Move::LookUp,
            Move::LookDown,
        ],
        per_move,
        amplitude,
    );
    let out = std::path::Path::new(&args[1]);
    std::fs::create_dir_all(out)?;
    for (i, f) in frames.iter().enumerate() {
        f.save(out.join(format!("f{i:04}.png")))?;
    }
    println!("{}", frames.len());
    Ok(())
}
