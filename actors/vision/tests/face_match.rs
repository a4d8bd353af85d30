//! Face match on real photos through the real inference pool: same person years apart
//! matches, different people do not, and augmented copies of a photo still match. Prints
//! the score table. Also the bad inputs and the supervision of a panicking worker.

mod support;

use image::imageops;
use support::*;
use vkyc_vision::inference::InferenceError;
use vkyc_vision::verify::FaceMatchJob;

fn rotate(img: &image::RgbImage, deg: f32) -> image::RgbImage {
    use vkyc_vision::geometry::{warp_affine, Affine};
    let (w, h) = (img.width() as f32, img.height() as f32);
    let (s, c) = deg.to_radians().sin_cos();
    let (cx, cy) = (w / 2.0, h / 2.0);
    let m = Affine([c, -s, cx - c * cx + s * cy, s, c, cy - s * cx - c * cy]);
    warp_affine(img, &m, img.width(), img.height())
}

fn darken(img: &image::RgbImage, f: f32) -> image::RgbImage {
    let mut out = img.clone();
    for p in out.pixels_mut() {
        for c in p.0.iter_mut() {
            *c = (*c as f32 * f) as u8;
        }
    }
    out
}

#[tokio::test]
async fn same_person_matches_and_different_people_do_not() {
    let models = models();
    let pool = face_pool(&models, 1, 8).await;
    let m = |a: &str, b: &str| {
        let pool = pool.clone();
        let (a, b) = (photo_bytes(a), photo_bytes(b));
        async move {
            pool.submit(FaceMatchJob {
                probe: a,
                references: vec![b],
            })
            .await
            .expect("match runs")
        }
    };
    let same = [
        ("person_a_1.jpg", "person_a_2.jpg"),
        ("person_b_1.jpg", "person_b_2.jpg"),
    ];
    let different = [
        ("person_a_1.jpg", "person_b_1.jpg"),
        ("person_a_2.jpg", "person_b_2.jpg"),
        ("person_a_1.jpg", "impostor_1.jpg"),
        ("person_b_1.jpg", "impostor_2.jpg"),
        ("impostor_1.jpg", "impostor_2.jpg"),
    ];
    println!(
        "\n{:<34} {:>10} {:>6} {:>8}",
        "pair", "similarity", "score", "matched"
    );
    for (a, b) in same {
        let r = m(a, b).await;
        println!(
            "{:<34} {:>10.3} {:>6} {:>8}",
            format!("{a} ~ {b}"),
            r.similarity,
            r.score,
            r.matched
        );
        assert!(r.matched && r.score >= 60, "{a} vs {b} should match: {r:?}");
    }
    for (a, b) in different {
        let r = m(a, b).await;
        println!(
            "{:<34} {:>10.3} {:>6} {:>8}",
            format!("{a} ~ {b}"),
            r.similarity,
            r.score,
            r.matched
        );
        assert!(
            !r.matched && r.score < 60,
            "{a} vs {b} should not match: {r:?}"
        );
    }

    // Augmented copies of one photo against the original and against another photo of
    // the same person.
    let base = photo("person_a_1.jpg");
    let variants: Vec<(&str, Vec<u8>)> = vec![
        ("mirrored", jpeg(&imageops::flip_horizontal(&base), 92)),
        ("darkened x0.55", jpeg(&darken(&base, 0.55), 92)),
        ("jpeg q=15", jpeg(&base, 15)),
        ("rotated 8 deg", jpeg(&rotate(&base, 8.0), 92)),
        ("rotated -8 deg", jpeg(&rotate(&base, -8.0), 92)),
    ];
    for (name, bytes) in variants {
        for reference in ["person_a_1.jpg", "person_a_2.jpg"] {
            let r = pool
                .submit(FaceMatchJob {
                    probe: bytes.clone(),
                    references: vec![photo_bytes(reference)],
                })
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            println!(
                "{:<34} {:>10.3} {:>6} {:>8}",
                format!("a_1 {name} ~ {reference}"),
                r.similarity,
                r.score,
                r.matched
            );
            assert!(r.matched, "{name} vs {reference}: {r:?}");
        }
    }

    // Several references: one result each, the best one decides.
    let r = pool
        .submit(FaceMatchJob {
            probe: photo_bytes("person_b_1.jpg"),
            references: vec![photo_bytes("impostor_1.jpg"), photo_bytes("person_b_2.jpg")],
        })
        .await
        .unwrap();
    assert_eq!(r.references.len(), 2);
    assert!(
        r.matched
            && r.references[1].result.as_ref().unwrap().matched
            && !r.references[0].result.as_ref().unwrap().matched
    );
}

fn group_photo() -> Vec<u8> {
    let a = photo("person_a_2.jpg");
    let b = photo("person_b_1.jpg");
    let h = a.height().max(b.height());
    let mut canvas =
        image::RgbImage::from_pixel(a.width() + b.width(), h, image::Rgb([200, 200, 200]));
    imageops::replace(&mut canvas, &a, 0, 0);
    imageops::replace(&mut canvas, &b, a.width() as i64, 0);
    jpeg(&canvas, 90)
}

#[tokio::test]
async fn bad_inputs_get_their_own_codes() {
    let models = models();
    let pool = face_pool(&models, 1, 8).await;
    let good = photo_bytes("person_a_1.jpg");
    let full = jpeg(&photo("person_b_1.jpg"), 90);
    let mut huge = png(&image::RgbImage::new(8, 8));
    // Claim 30000x30000 in the PNG header (with a valid CRC): refused before decoding.
    huge[16..20].copy_from_slice(&30000u32.to_be_bytes());
    huge[20..24].copy_from_slice(&30000u32.to_be_bytes());
    let crc = crc32fast::hash(&huge[12..29]);
    huge[29..33].copy_from_slice(&crc.to_be_bytes());
    let blank = jpeg(
        &image::RgbImage::from_pixel(640, 480, image::Rgb([120, 130, 140])),
        90,
    );
    let dark = jpeg(&darken(&photo("person_b_1.jpg"), 0.12), 95);
    let blurred = jpeg(&imageops::blur(&photo("person_b_1.jpg"), 6.0), 95);
    let tiny_face = jpeg(
        &imageops::resize(
            &photo("person_b_1.jpg"),
            128,
            160,
            imageops::FilterType::Triangle,
        ),
        95,
    );
    let half = {
        let p = photo("person_b_1.jpg");
        let (w, h) = p.dimensions();
        jpeg(&imageops::crop_imm(&p, w / 2, 0, w / 2, h).to_image(), 95)
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "image_empty"),
        (
            "text file",
            b"name,dob\nA,1990-01-01\n".to_vec(),
            "image_unsupported",
        ),
        (
            "truncated jpeg",
            full[..full.len() / 3].to_vec(),
            "image_corrupt",
        ),
        ("30000x30000 png", huge, "image_too_large"),
        ("no face", blank, "no_face"),
        ("group photo", group_photo(), "multiple_faces"),
        ("too dark", dark, "image_too_dark"),
        ("blurred", blurred, "image_blurred"),
        ("face too small", tiny_face, "face_too_small"),
        ("half a face", half, "face_out_of_frame"),
    ];
    for (name, probe, code) in cases {
        let e = pool
            .submit(FaceMatchJob {
                probe,
                references: vec![good.clone()],
            })
            .await
            .expect_err(name);
        println!("{name:<18} -> {} ({e})", e.code());
        assert_eq!(e.code(), code, "{name}: {e}");
    }
    // A reference without a face is reported on that reference, the rest still runs.
    let r = pool
        .submit(FaceMatchJob {
            probe: good.clone(),
            references: vec![b"nope".to_vec(), photo_bytes("person_a_2.jpg")],
        })
        .await
        .unwrap();
    assert_eq!(
        r.references[0].error.as_ref().unwrap().code,
        "image_unsupported"
    );
    assert!(r.matched);
}

#[tokio::test]
async fn a_panicking_worker_is_replaced_and_the_next_request_succeeds() {
    let models = models();
    let pool = face_pool(&models, 1, 4).await;
    let job = || FaceMatchJob {
        probe: photo_bytes("person_b_1.jpg"),
        references: vec![photo_bytes("person_b_2.jpg")],
    };
    assert!(pool.submit(job()).await.unwrap().matched);
    // The crash is queued before the next job: that job's caller gets an error, not a hang.
    pool.inject_panic(0);
    let lost = pool.submit(job()).await;
    assert_eq!(lost.unwrap_err(), InferenceError::WorkerFailed("face"));
    // The supervisor has started a fresh worker (with its own sessions).
    // Polled up to a generous deadline: loading a worker's models on a busy host takes a while.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let ok = loop {
        match pool.submit(job()).await {
            Ok(r) => break r,
            Err(InferenceError::WorkerFailed(_)) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "no new worker answered"
                );
                tokio::time::sleep(std::time::Duration::from_millis(100)).await
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert!(ok.matched, "a new worker answers");
    assert_eq!(pool.available(), 4, "every slot is free again");
}

#[tokio::test]
async fn a_saturated_pool_answers_busy_at_once() {
    let models = models();
    let pool = face_pool(&models, 1, 2).await;
    let job = || FaceMatchJob {
        probe: photo_bytes("person_a_1.jpg"),
        references: vec![photo_bytes("person_a_2.jpg"); 4],
    };
    let mut running = Vec::new();
    for _ in 0..2 {
        let p = pool.clone();
        running.push(tokio::spawn(async move { p.submit(job()).await }));
    }
    tokio::task::yield_now().await;
    while pool.available() > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    let t = std::time::Instant::now();
    let e = pool.submit(job()).await.unwrap_err();
    assert!(
        matches!(
            e,
            InferenceError::Busy {
                engine: "face",
                retry_after_secs: 1
            }
        ),
        "{e}"
    );
    println!("busy answered in {:?}", t.elapsed());
    for r in running {
        assert!(r.await.unwrap().unwrap().matched);
    }
}
