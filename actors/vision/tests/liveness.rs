//! Active liveness on real photos: frames that follow the asked head movements (a real
//! photo warped in 2.5-D by `vkyc_loadtest::headpose`) pass; a still photo repeated, the
//! right moves in the wrong order, and a face swapped mid-challenge fail — with reasons.

mod support;

use support::*;
use vkyc_loadtest::headpose::{self, FaceGeometry};
use vkyc_vision::face::{FaceConfig, FaceDetector};
use vkyc_vision::inference::Pool;
use vkyc_vision::liveness::Move;
use vkyc_vision::verify::{Frame, LivenessEngine, LivenessJob};

fn geometry(models: &vkyc_vision::runtime::Models, img: &image::RgbImage) -> FaceGeometry {
    let mut det = FaceDetector::new(models.session("yunet").unwrap());
    let d = det.detect(img, &FaceConfig::default()).unwrap()[0];
    FaceGeometry {
        bbox: (d.bbox.x, d.bbox.y, d.bbox.w, d.bbox.h),
        landmarks: d.landmarks.map(|p| (p.x, p.y)),
    }
}

/// The models, a liveness pool and the customer's photo with its face geometry.
struct Fixture {
    models: vkyc_vision::runtime::Models,
    pool: Pool<LivenessEngine>,
    photo: image::RgbImage,
    geom: FaceGeometry,
}

async fn fixture() -> Fixture {
    let models = models();
    let pool = liveness_pool(&models).await;
    let photo = photo("person_b_1.jpg");
    let geom = geometry(&models, &photo);
    Fixture {
        models,
        pool,
        photo,
        geom,
    }
}

fn job(moves: &[Move], frames: Vec<image::RgbImage>) -> LivenessJob {
    LivenessJob {
        moves: moves.to_vec(),
        frames: frames
            .iter()
            .enumerate()
            .map(|(i, f)| Frame {
                image: jpeg(f, 90),
                t_ms: i as u64 * 100,
            })
            .collect(),
    }
}

#[tokio::test]
async fn following_the_challenge_passes_and_a_still_photo_fails() {
    let Fixture {
        pool, photo, geom, ..
    } = fixture().await;
    let asked = [Move::TurnLeft, Move::LookUp, Move::TurnRight];
    let frames = headpose::challenge_frames(&photo, &geom, &asked, 8, 0.5);
    let v = pool.submit(job(&asked, frames)).await.unwrap().verdict;
    println!(
        "followed: live={} score={} passive={:?}\n  {:?}",
        v.live, v.score, v.passive_live_probability, v.reasons
    );
    for m in &v.active.moves {
        println!(
            "  {:<10} done={} frame={:?} peak={:.3}",
            m.mv.as_str(),
            m.done,
            m.frame,
            m.peak
        );
    }
    assert!(v.active.passed, "{:?}", v.reasons);
    assert!(v.live && v.score >= 60, "{v:?}");

    let still = headpose::still_frames(&photo, 20);
    let v = pool.submit(job(&asked, still)).await.unwrap().verdict;
    println!(
        "still: live={} score={}\n  {:?}",
        v.live, v.score, v.reasons
    );
    assert!(!v.live && v.score <= 40);
    assert!(
        v.reasons.iter().any(|r| r.starts_with("static_frames")),
        "{:?}",
        v.reasons
    );
    assert!(
        v.reasons.iter().any(|r| r.starts_with("move_not_seen")),
        "{:?}",
        v.reasons
    );
}

#[tokio::test]
async fn the_wrong_order_or_another_face_fails() {
    let Fixture {
        models,
        pool,
        photo,
        geom,
    } = fixture().await;

    // Asked: look up, then turn left. Performed: turn left, then look up.
    let asked = [Move::LookUp, Move::TurnLeft];
    let frames = headpose::challenge_frames(&photo, &geom, &[Move::TurnLeft, Move::LookUp], 8, 0.5);
    let v = pool.submit(job(&asked, frames)).await.unwrap().verdict;
    println!(
        "wrong order: live={} score={}\n  {:?}",
        v.live, v.score, v.reasons
    );
    assert!(!v.live);
    assert!(
        v.reasons
            .iter()
            .any(|r| r.starts_with("move_not_seen: turn_left")),
        "{:?}",
        v.reasons
    );

    // The moves are made, but by someone else after the neutral frames.
    let other = photo_resized_like("person_a_2.jpg", &photo);
    let og = geometry(&models, &other);
    let asked = [Move::TurnRight, Move::LookDown];
    let mut frames = headpose::still_frames(&photo, 4);
    frames.extend(
        headpose::challenge_frames(&other, &og, &asked, 8, 0.5)
            .into_iter()
            .skip(3),
    );
    let v = pool.submit(job(&asked, frames)).await.unwrap().verdict;
    println!(
        "swapped face: live={} score={}\n  {:?}",
        v.live, v.score, v.reasons
    );
    assert!(!v.live);
    assert!(
        v.reasons.iter().any(|r| r.starts_with("face_changed")),
        "{:?}",
        v.reasons
    );
}

/// A call's picture starts small (the sender's bandwidth estimate ramps up) and sharpens:
/// the first frames of the series are 160 px wide, sent as they are. The small faces are
/// not used to judge who is in front of the camera, so the series passes; a person swapped
/// in after the small frames still fails.
#[tokio::test]
async fn a_picture_that_sharpens_midway_passes_and_a_swap_still_fails() {
    let Fixture {
        models,
        pool,
        photo,
        geom,
    } = fixture().await;
    let small = |f: &image::RgbImage| {
        let h = (f.height() as u64 * 160 / f.width() as u64) as u32;
        image::imageops::resize(f, 160, h, image::imageops::FilterType::Triangle)
    };
    let asked = [Move::TurnLeft, Move::LookUp, Move::TurnRight];
    let mut frames = headpose::challenge_frames(&photo, &geom, &asked, 8, 0.5);
    let n = frames.len() / 3;
    for f in &mut frames[..n] {
        *f = small(f);
    }
    let v = pool.submit(job(&asked, frames)).await.unwrap().verdict;
    println!(
        "sharpening: live={} score={} best={:?}\n  {:?}",
        v.live, v.score, v.active.best_frame, v.reasons
    );
    assert!(v.live, "{:?}", v.reasons);
    assert!(
        v.active.best_frame.is_some_and(|b| b >= n),
        "the best frame is a sharp one: {:?}",
        v.active.best_frame
    );

    // Small frames of the customer, then someone else makes the moves.
    let other = photo_resized_like("person_a_2.jpg", &photo);
    let og = geometry(&models, &other);
    let asked = [Move::TurnRight, Move::LookDown];
    let mut frames: Vec<image::RgbImage> = headpose::still_frames(&photo, 4)
        .iter()
        .map(small)
        .collect();
    frames.extend(headpose::still_frames(&photo, 3));
    frames.extend(
        headpose::challenge_frames(&other, &og, &asked, 8, 0.5)
            .into_iter()
            .skip(3),
    );
    let v = pool.submit(job(&asked, frames)).await.unwrap().verdict;
    println!(
        "swapped after small frames: live={} score={}\n  {:?}",
        v.live, v.score, v.reasons
    );
    assert!(!v.live);
    assert!(
        v.reasons.iter().any(|r| r.starts_with("face_changed")),
        "{:?}",
        v.reasons
    );
}

fn photo_resized_like(name: &str, like: &image::RgbImage) -> image::RgbImage {
    image::imageops::resize(
        &photo(name),
        like.width(),
        like.height(),
        image::imageops::FilterType::Triangle,
    )
}

/// Every move alone passes; every pair performed in the wrong order fails (a turn must not
/// count as a nod, and the other way round).
#[tokio::test]
async fn every_move_is_recognised_and_order_matters() {
    let Fixture {
        pool, photo, geom, ..
    } = fixture().await;
    for m in Move::ALL {
        let frames = headpose::challenge_frames(&photo, &geom, &[m], 8, 0.6);
        let v = pool.submit(job(&[m], frames)).await.unwrap().verdict;
        println!(
            "{:<10} alone: live={} peak={:.3}",
            m.as_str(),
            v.live,
            v.active.moves[0].peak
        );
        assert!(v.live, "{} alone: {:?}", m.as_str(), v.reasons);
    }
    for a in Move::ALL {
        for b in Move::ALL.into_iter().filter(|&b| b != a) {
            let frames = headpose::challenge_frames(&photo, &geom, &[b, a], 8, 0.6);
            let v = pool.submit(job(&[a, b], frames)).await.unwrap().verdict;
            assert!(
                !v.live,
                "asked {} then {}, performed the other way round: {:?}",
                a.as_str(),
                b.as_str(),
                v.reasons
            );
        }
    }
}
