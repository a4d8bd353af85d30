//! Criterion benchmarks of the verification engine on this machine: each model alone (the
//! bare `session.run` on a prepared tensor) and the whole face-match pipeline on a 640×480
//! JPEG capture (decode → detect → quality → align → embed → score against a reference).
//!
//! Needs the models (`bash models/setup.sh --all`). Run: `cargo bench -p vkyc-actors --bench vision`.

use criterion::{criterion_group, criterion_main, Criterion};
use image::imageops::{self, FilterType};
use ndarray::Array4;
use ort::value::TensorRef;
use vkyc_vision::decode::{decode_rgb, DecodeLimits};
use vkyc_vision::face::{self, FaceConfig, FaceDetector, FaceEmbedder, FaceEngine, Strictness};
use vkyc_vision::runtime::{default_models_dir, Models};

fn photo(name: &str) -> image::RgbImage {
    let home = std::env::var("HOME").unwrap();
    let dir = std::env::var("VKYC_CACHE").unwrap_or(format!("{home}/.cache/vkyc-test"));
    image::open(format!("{dir}/photos/{name}"))
        .expect("run `bash models/setup.sh --all`")
        .to_rgb8()
}

/// A 640×480 "webcam capture": the photo scaled to 480 high, centred on a grey frame.
fn capture_jpeg() -> Vec<u8> {
    let p = photo("person_b_1.jpg");
    let h = 480;
    let w = p.width() * h / p.height();
    let p = imageops::resize(&p, w, h, FilterType::Triangle);
    let mut frame = image::RgbImage::from_pixel(640, 480, image::Rgb([128, 128, 128]));
    imageops::replace(&mut frame, &p, ((640 - w) / 2) as i64, 0);
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&frame)
        .unwrap();
    out
}

fn benches(c: &mut Criterion) {
    let threads = std::env::var("VKYC_BENCH_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let models = Models::load(&default_models_dir(), threads, &[]).expect("models");
    let mut g = c.benchmark_group("model_only");
    let mut yunet = models.session("yunet").unwrap();
    let frame = decode_rgb(&capture_jpeg(), &DecodeLimits::default()).unwrap();
    let x = Array4::<f32>::from_shape_fn((1, 3, 480, 640), |(_, c, y, xx)| {
        frame.get_pixel(xx as u32, y as u32)[2 - c] as f32
    });
    g.bench_function("yunet_640x480", |b| {
        b.iter(|| {
            yunet
                .run(ort::inputs![TensorRef::from_array_view(&x).unwrap()])
                .unwrap()
                .len()
        })
    });
    let mut sface = models.session("sface").unwrap();
    // A real aligned face: a constant tensor runs measurably faster than real data.
    let aligned = {
        let img = photo("person_b_1.jpg");
        let mut d = FaceDetector::new(models.session("yunet").unwrap());
        let det = d.detect(&img, &FaceConfig::default()).unwrap()[0];
        face::align(&img, &det)
    };
    let x = Array4::<f32>::from_shape_fn((1, 3, 112, 112), |(_, c, y, xx)| {
        aligned.get_pixel(xx as u32, y as u32)[c] as f32
    });
    g.bench_function("sface_112", |b| {
        b.iter(|| {
            sface
                .run(ort::inputs![TensorRef::from_array_view(&x).unwrap()])
                .unwrap()
                .len()
        })
    });
    let mut live = models.session("liveness").unwrap();
    let x = Array4::<f32>::from_elem((1, 3, 128, 128), 100.0);
    g.bench_function("liveness_128", |b| {
        b.iter(|| {
            live.run(ort::inputs![TensorRef::from_array_view(&x).unwrap()])
                .unwrap()
                .len()
        })
    });
    let mut det = models.session("ocr_det").unwrap();
    let x = Array4::<f32>::from_elem((1, 3, 416, 640), 0.1);
    g.bench_function("ocr_det_640x416", |b| {
        b.iter(|| {
            det.run(ort::inputs![TensorRef::from_array_view(&x).unwrap()])
                .unwrap()
                .len()
        })
    });
    let mut rec = models.session("ocr_rec").unwrap();
    let x = Array4::<f32>::from_elem((1, 3, 48, 320), 0.1);
    g.bench_function("ocr_rec_48x320", |b| {
        b.iter(|| {
            rec.run(ort::inputs![TensorRef::from_array_view(&x).unwrap()])
                .unwrap()
                .len()
        })
    });
    g.finish();

    let cfg = FaceConfig::default();
    let mut engine = FaceEngine {
        detector: FaceDetector::new(models.session("yunet").unwrap()),
        embedder: FaceEmbedder::new(models.session("sface").unwrap()),
    };
    let reference = engine
        .analyze(&photo("person_b_2.jpg"), Strictness::Reference, &cfg)
        .unwrap()
        .embedding;
    let capture = capture_jpeg();
    let limits = DecodeLimits::default();
    let mut g = c.benchmark_group("pipeline");
    g.bench_function("decode_jpeg_640x480", |b| {
        b.iter(|| decode_rgb(&capture, &limits).unwrap().width())
    });
    let img = decode_rgb(&capture, &limits).unwrap();
    g.bench_function("detect_640x480", |b| {
        b.iter(|| engine.detector.detect(&img, &cfg).unwrap().len())
    });
    let det = engine.detector.detect(&img, &cfg).unwrap()[0];
    g.bench_function("align_embed", |b| {
        b.iter(|| {
            engine
                .embedder
                .embed(&face::align(&img, &det))
                .unwrap()
                .len()
        })
    });
    g.bench_function("quality", |b| {
        b.iter(|| {
            face::sharpness(&face::face_crop(&img, &det.bbox, 112))
                + face::brightness(&img, &det.bbox)
        })
    });
    g.bench_function("face_match_640x480", |b| {
        b.iter(|| {
            let img = decode_rgb(&capture, &limits).unwrap();
            let a = engine.analyze(&img, Strictness::Capture, &cfg).unwrap();
            face::compare(0, &a.embedding, &reference, &cfg).score
        })
    });
    g.finish();
}

criterion_group! {
    name = vision;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(4));
    targets = benches
}
criterion_main!(vision);
