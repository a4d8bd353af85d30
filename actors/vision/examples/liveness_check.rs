//! Runs the liveness check of the face step on a series of frames from disk, exactly as the
//! liveness pool does (same engine, default configuration), and prints the verdict as JSON.
//! For investigating a verdict: save the frames a call produced, or cut some from a video.
//!
//! ```text
//! cargo run -p vkyc-vision --example liveness_check -- FRAMES_DIR MOVES [MS_BETWEEN_FRAMES=250]
//! ```
//! `FRAMES_DIR`: JPEG/PNG files, taken in name order; `MOVES`: e.g. `turn_left,look_up,look_down`.

use vkyc_vision::decode::DecodeLimits;
use vkyc_vision::face::FaceConfig;
use vkyc_vision::inference::Engine;
use vkyc_vision::liveness::{ChallengeConfig, Move, PassiveConfig};
use vkyc_vision::runtime::{default_models_dir, Models};
use vkyc_vision::verify::{Frame, LivenessEngine, LivenessInit, LivenessJob};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        anyhow::bail!("usage: liveness_check FRAMES_DIR MOVES [MS_BETWEEN_FRAMES]");
    }
    let every: u64 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(250);
    let moves: Vec<Move> = args[1]
        .split(',')
        .map(|m| {
            serde_json::from_value(serde_json::Value::String(m.trim().into()))
                .map_err(|e| anyhow::anyhow!("move {m:?}: {e}"))
        })
        .collect::<anyhow::Result<_>>()?;
    let mut paths: Vec<_> = std::fs::read_dir(&args[0])?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    paths.sort();
    let frames = paths
        .iter()
        .enumerate()
        .map(|(i, p)| {
            Ok(Frame {
                image: std::fs::read(p)?,
                t_ms: i as u64 * every,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let models = Models::load(&default_models_dir(), 1, &[])
        .map_err(|e| anyhow::anyhow!("{e} (run bash models/setup.sh)"))?;
    let init = LivenessInit {
        models,
        face: FaceConfig::default(),
        challenge: ChallengeConfig::default(),
        passive: PassiveConfig::default(),
        limits: DecodeLimits::default(),
    };
    let mut engine = LivenessEngine::build(&init).map_err(|e| anyhow::anyhow!("{e}"))?;
    let out = engine
        .run(LivenessJob { moves, frames })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
