//! Synthetic Indian ID cards — a PAN card (new format) and the front of an Aadhaar card —
//! with their true fields, for the OCR tests, benches, the browser end-to-end test and the
//! load test. Everything is drawn (fonts from the system, a face photo from the caller) and
//! deterministic for a seed; the numbers are random but well-formed (a PAN's 4th letter is
//! P, an Aadhaar number passes Verhoeff), belonging to no one.
//!
//! ```text
//! PAN, 1000×630 (×0.9–1.1)                          Aadhaar
//! ┌──────────────────────────────────────────┐      ┌──────────────────────────────────────────┐
//! │ INCOME TAX DEPARTMENT  (◎)  GOVT. OF INDIA│      │▀▀▀▀▀▀▀▀▀▀ GOVERNMENT OF INDIA ▀▀▀▀▀▀▀▀▀▀▀│
//! │ ┌─────┐ Permanent Account Number Card     │      │ ┌─────┐ Rajesh Kumar                     │
//! │ │face │ ABCPK1234F                        │      │ │face │ DOB: 07/03/1985 | Year of Birth  │
//! │ │     │ Name                              │      │ │     │ MALE                             │
//! │ └─────┘ RAJESH KUMAR                      │      │ └─────┘                                  │
//! │ ~sig~   Father's Name                     │      │            2345 6789 0124                │
//! │         SURESH KUMAR               ┌──┐   │      │        VID : 9123 4567 8901 2345         │
//! │Signature Date of Birth             │QR│   │      │ ──────────────────────────────────────── │
//! │         07/03/1985                 └──┘   │      │        Mera Aadhaar, Meri Pehchan        │
//! └──────────────────────────────────────────┘      └──────────────────────────────────────────┘
//! ```
//!
//! Then the "capture": the card is laid on a darker surface, turned by up to ±3°, its
//! brightness changed, blurred slightly, given sensor noise and JPEG-compressed.

use std::path::{Path, PathBuf};

use ab_glyph::{FontVec, PxScale};
use anyhow::{bail, Context};
use image::imageops::{self, FilterType};
use image::{Rgb, RgbImage};
use imageproc::drawing::{
    draw_filled_circle_mut, draw_filled_rect_mut, draw_hollow_circle_mut, draw_line_segment_mut,
    draw_text_mut, text_size,
};
use imageproc::geometric_transformations::{rotate_about_center, Interpolation, Projection};
use imageproc::rect::Rect;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// Where Debian puts the fonts used (packages fonts-dejavu-core and fonts-liberation).
pub const FONT_DIRS: [&str; 2] = [
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/truetype/liberation",
];

/// Font families: (name, regular file, bold file).
const FAMILIES: [(&str, &str, &str); 8] = [
    ("DejaVu Sans", "DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
    (
        "DejaVu Sans Condensed",
        "DejaVuSansCondensed.ttf",
        "DejaVuSansCondensed-Bold.ttf",
    ),
    ("DejaVu Serif", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf"),
    (
        "DejaVu Sans Mono",
        "DejaVuSansMono.ttf",
        "DejaVuSansMono-Bold.ttf",
    ),
    (
        "Liberation Sans",
        "LiberationSans-Regular.ttf",
        "LiberationSans-Bold.ttf",
    ),
    (
        "Liberation Sans Narrow",
        "LiberationSansNarrow-Regular.ttf",
        "LiberationSansNarrow-Bold.ttf",
    ),
    (
        "Liberation Serif",
        "LiberationSerif-Regular.ttf",
        "LiberationSerif-Bold.ttf",
    ),
    (
        "Liberation Mono",
        "LiberationMono-Regular.ttf",
        "LiberationMono-Bold.ttf",
    ),
];

pub struct FontFamily {
    pub name: String,
    pub regular: FontVec,
    pub bold: FontVec,
}

/// The font families cards are drawn with; each card uses one, chosen by its seed.
pub struct Fonts {
    families: Vec<FontFamily>,
}

impl Fonts {
    /// The DejaVu and Liberation families from [`FONT_DIRS`].
    pub fn system() -> anyhow::Result<Self> {
        let dirs: Vec<PathBuf> = FONT_DIRS.iter().map(PathBuf::from).collect();
        Self::from_dirs(&dirs).context("install the Debian packages fonts-dejavu-core and fonts-liberation (apt-get install -y fonts-dejavu-core fonts-liberation)")
    }

    /// Every known family whose regular and bold files are both in one of `dirs`.
    pub fn from_dirs(dirs: &[PathBuf]) -> anyhow::Result<Self> {
        let find = |file: &str| dirs.iter().map(|d| d.join(file)).find(|p| p.is_file());
        let mut families = Vec::new();
        for (name, regular, bold) in FAMILIES {
            if let (Some(r), Some(b)) = (find(regular), find(bold)) {
                families.push(FontFamily {
                    name: name.to_string(),
                    regular: load_font(&r)?,
                    bold: load_font(&b)?,
                });
            }
        }
        if families.is_empty() {
            bail!(
                "no usable fonts in {}",
                dirs.iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        Ok(Self { families })
    }

    pub fn families(&self) -> &[FontFamily] {
        &self.families
    }
}

fn load_font(path: &Path) -> anyhow::Result<FontVec> {
    let bytes = std::fs::read(path).with_context(|| format!("reading font {}", path.display()))?;
    FontVec::try_from_vec(bytes).with_context(|| format!("parsing font {}", path.display()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CardKind {
    Pan,
    Aadhaar,
}

/// A box in pixels of the returned image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PixelBox {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

/// What is printed on a generated card. The full Aadhaar number is here **for test
/// comparison only**.
#[derive(Debug, Clone, Serialize)]
pub struct CardTruth {
    pub kind: CardKind,
    /// As printed: upper case on a PAN card, title case on an Aadhaar card.
    pub name: String,
    /// PAN only.
    pub father_name: Option<String>,
    /// ISO `yyyy-mm-dd`, or `yyyy` when the Aadhaar card prints only the year of birth.
    pub date_of_birth: String,
    pub pan_number: Option<String>,
    /// 12 digits, no spaces.
    pub aadhaar_number: Option<String>,
    /// Aadhaar only: "male" or "female".
    pub gender: Option<String>,
    /// Where the face photo is, in the returned (captured) image: the axis-aligned box
    /// around the turned photo.
    pub face_box: PixelBox,
    /// Font family used.
    pub font: String,
    /// Rotation of the capture, degrees (clockwise positive).
    pub rotation_deg: f32,
}

const MALE: [&str; 40] = [
    "RAJESH",
    "SURESH",
    "AMIT",
    "VIKRAM",
    "ARJUN",
    "RAHUL",
    "SANJAY",
    "ANIL",
    "MANOJ",
    "DEEPAK",
    "RAVI",
    "PRAKASH",
    "VIJAY",
    "SUNIL",
    "ASHOK",
    "KIRAN",
    "NITIN",
    "ROHIT",
    "GAURAV",
    "HARISH",
    "MAHESH",
    "DINESH",
    "RAMESH",
    "GANESH",
    "VENKATESH",
    "SRINIVAS",
    "KARTHIK",
    "ANAND",
    "ARVIND",
    "MOHAN",
    "GOPAL",
    "NARESH",
    "PANKAJ",
    "ABHISHEK",
    "SIDDHARTH",
    "ADITYA",
    "YOGESH",
    "HEMANT",
    "BALAJI",
    "IMRAN",
];
const FEMALE: [&str; 40] = [
    "PRIYA", "ANITA", "SUNITA", "POOJA", "NEHA", "KAVITA", "LAKSHMI", "DIVYA", "MEERA", "ANJALI",
    "SHALINI", "REKHA", "GEETA", "SWATI", "NISHA", "PREETI", "ASHA", "USHA", "DEEPA", "SNEHA",
    "ARCHANA", "BHAVANA", "CHITRA", "JYOTI", "KALPANA", "MADHURI", "NANDINI", "PALLAVI", "RADHIKA",
    "SAVITA", "SHWETA", "SMITA", "TANVI", "VIDYA", "YAMINI", "FATIMA", "AYESHA", "HEMA", "MAMTA",
    "SEEMA",
];
const SURNAMES: [&str; 40] = [
    "SHARMA",
    "VERMA",
    "GUPTA",
    "KUMAR",
    "SINGH",
    "PATEL",
    "REDDY",
    "NAIR",
    "IYER",
    "RAO",
    "JOSHI",
    "MEHTA",
    "SHAH",
    "DESAI",
    "KULKARNI",
    "CHATTERJEE",
    "BANERJEE",
    "MUKHERJEE",
    "DAS",
    "GHOSH",
    "AGARWAL",
    "MISHRA",
    "PANDEY",
    "TIWARI",
    "YADAV",
    "CHAUHAN",
    "MALHOTRA",
    "KAPOOR",
    "BHATIA",
    "SAXENA",
    "PILLAI",
    "MENON",
    "NAIDU",
    "HEGDE",
    "SHETTY",
    "KHAN",
    "SIDDIQUI",
    "CHOUDHARY",
    "THAKUR",
    "BOSE",
];
const MIDDLE: [&str; 6] = ["KUMAR", "PRASAD", "LAL", "CHANDRA", "NATH", "DEVI"];

/// A random full name (upper case): first [middle] surname.
fn random_name(rng: &mut StdRng, female: bool, surname: &str) -> String {
    let first = if female {
        FEMALE.choose(rng)
    } else {
        MALE.choose(rng)
    }
    .copied()
    .unwrap_or("ASHA");
    let middle = if rng.gen_bool(0.2) {
        let m = *MIDDLE.choose(rng).unwrap_or(&"KUMAR");
        // DEVI is a woman's, KUMAR mostly a man's middle name.
        if (m == "DEVI") == female && m != surname {
            Some(m)
        } else {
            None
        }
    } else {
        None
    };
    match middle {
        Some(m) => format!("{first} {m} {surname}"),
        None => format!("{first} {surname}"),
    }
}

fn title_case(s: &str) -> String {
    s.split(' ')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f
                    .to_uppercase()
                    .chain(c.flat_map(char::to_lowercase))
                    .collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A random date of birth (1950–2005): (day, month, year).
fn random_dob(rng: &mut StdRng) -> (u32, u32, u32) {
    let y = rng.gen_range(1950..=2005);
    let m = rng.gen_range(1..=12);
    let days = match m {
        2 if y % 4 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    (rng.gen_range(1..=days), m, y)
}

/// A well-formed individual's PAN: 3 letters, P, the surname's initial, 4 digits, a letter.
fn random_pan(rng: &mut StdRng, surname: &str) -> String {
    let letter = |rng: &mut StdRng| (b'A' + rng.gen_range(0..26u8)) as char;
    let mut s: String = (0..3).map(|_| letter(rng)).collect();
    s.push('P');
    s.push(surname.chars().next().unwrap_or('A'));
    s.push_str(&format!("{:04}", rng.gen_range(1..10000)));
    s.push(letter(rng));
    s
}

/// The Verhoeff check digit to append to `digits` (ASCII digits).
pub use vkyc_domain::verhoeff::check_digit as verhoeff_check_digit;

/// A random Aadhaar-shaped number: first digit 2–9, Verhoeff check digit last.
fn random_aadhaar(rng: &mut StdRng) -> String {
    let mut s = String::with_capacity(12);
    s.push((b'0' + rng.gen_range(2..=9u8)) as char);
    for _ in 0..10 {
        s.push((b'0' + rng.gen_range(0..=9u8)) as char);
    }
    let check = verhoeff_check_digit(&s);
    s.push(check);
    s
}

fn group4(s: &str) -> String {
    s.as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" ")
}

// ---------------------------------------------------------------------------------------
// Drawing

/// A card being drawn at scale `s` of the 1000×630 design grid.
struct Canvas<'f> {
    img: RgbImage,
    s: f32,
    family: &'f FontFamily,
}

const INK: Rgb<u8> = Rgb([22, 24, 30]);

/// How a piece of text is drawn: size in design units, weight, colour.
#[derive(Clone, Copy)]
struct Style {
    size: f32,
    bold: bool,
    color: Rgb<u8>,
}

fn bold(size: f32, color: Rgb<u8>) -> Style {
    Style {
        size,
        bold: true,
        color,
    }
}

fn regular(size: f32, color: Rgb<u8>) -> Style {
    Style {
        size,
        bold: false,
        color,
    }
}

impl Canvas<'_> {
    fn px(&self, v: f32) -> i32 {
        (v * self.s).round() as i32
    }

    fn font(&self, style: Style) -> &FontVec {
        if style.bold {
            &self.family.bold
        } else {
            &self.family.regular
        }
    }

    fn width_of(&self, style: Style, text: &str) -> f32 {
        text_size(PxScale::from(style.size * self.s), self.font(style), text).0 as f32 / self.s
    }

    /// Text with its top-left at (x, y) in design units, shrunk to fit `max_w` if given.
    /// Text with its top-left at (x, y) in design units, shrunk to fit `max_w` if given.
    fn text(&mut self, x: f32, y: f32, style: Style, text: &str, max_w: Option<f32>) {
        let mut style = style;
        if let Some(max_w) = max_w {
            let w = self.width_of(style, text);
            if w > max_w {
                style.size *= max_w / w;
            }
        }
        let (px, py) = (self.px(x), self.px(y));
        let scale = PxScale::from(style.size * self.s);
        let font = if style.bold {
            &self.family.bold
        } else {
            &self.family.regular
        };
        draw_text_mut(&mut self.img, style.color, px, py, scale, font, text);
    }

    fn centred_text(&mut self, cx: f32, y: f32, style: Style, text: &str) {
        let w = self.width_of(style, text);
        self.text(cx - w / 2.0, y, style, text, None);
    }

    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, color: Rgb<u8>) {
        let r = Rect::at(self.px(x), self.px(y))
            .of_size(self.px(w).max(1) as u32, self.px(h).max(1) as u32);
        draw_filled_rect_mut(&mut self.img, r, color);
    }

    /// The face photo, centre-cropped to the box's aspect and scaled into it, with a thin
    /// frame. Returns the box in pixels.
    fn photo(&mut self, face: &RgbImage, x: f32, y: f32, w: f32, h: f32) -> (u32, u32, u32, u32) {
        let (bx, by, bw, bh) = (
            self.px(x) as u32,
            self.px(y) as u32,
            self.px(w) as u32,
            self.px(h) as u32,
        );
        let (fw, fh) = face.dimensions();
        let target = bw as f32 / bh as f32;
        let (cw, ch) = if fw as f32 / fh as f32 > target {
            ((fh as f32 * target) as u32, fh)
        } else {
            (fw, (fw as f32 / target) as u32)
        };
        let crop =
            imageops::crop_imm(face, (fw - cw) / 2, (fh - ch) / 2, cw.max(1), ch.max(1)).to_image();
        let scaled = imageops::resize(&crop, bw, bh, FilterType::Triangle);
        imageops::replace(&mut self.img, &scaled, bx as i64, by as i64);
        let frame = Rgb([90, 90, 100]);
        for (x0, y0, x1, y1) in [
            (bx, by, bx + bw, by),
            (bx, by + bh, bx + bw, by + bh),
            (bx, by, bx, by + bh),
            (bx + bw, by, bx + bw, by + bh),
        ] {
            draw_line_segment_mut(
                &mut self.img,
                (x0 as f32, y0 as f32),
                (x1 as f32, y1 as f32),
                frame,
            );
        }
        (bx, by, bw, bh)
    }

    /// A signature-like scribble in the box.
    fn scribble(&mut self, rng: &mut StdRng, x: f32, y: f32, w: f32, h: f32) {
        use std::f32::consts::TAU;
        let ink = Rgb([20, 30, 90]);
        let n = 60;
        let (f1, f2, ph) = (
            rng.gen_range(2.0..5.0f32),
            rng.gen_range(7.0..13.0f32),
            rng.gen_range(0.0..std::f32::consts::TAU),
        );
        let mut prev = None;
        for i in 0..=n {
            let t = i as f32 / n as f32;
            let px = x + w * t;
            let py = y + h * (0.5 + 0.3 * (t * f1 * TAU + ph).sin() + 0.15 * (t * f2 * TAU).sin());
            let p = (px * self.s, py * self.s);
            if let Some(q) = prev {
                draw_line_segment_mut(&mut self.img, q, p, ink);
                draw_line_segment_mut(&mut self.img, (q.0, q.1 + 1.0), (p.0, p.1 + 1.0), ink);
            }
            prev = Some(p);
        }
    }

    /// A QR-code-like block of modules with the three finder squares.
    fn fake_qr(&mut self, rng: &mut StdRng, x: f32, y: f32, size: f32) {
        let n = 25;
        let m = size / n as f32;
        self.rect(
            x - m,
            y - m,
            size + 2.0 * m,
            size + 2.0 * m,
            Rgb([250, 250, 250]),
        );
        let finder = |r: usize, c: usize| {
            [(0usize, 0usize), (0, n - 7), (n - 7, 0)]
                .iter()
                .find_map(|&(r0, c0)| {
                    (r >= r0 && r < r0 + 7 && c >= c0 && c < c0 + 7).then(|| {
                        let (dr, dc) = (r - r0, c - c0);
                        let ring = dr.min(dc).min(6 - dr).min(6 - dc);
                        ring != 1
                    })
                })
        };
        for r in 0..n {
            for c in 0..n {
                let dark = finder(r, c).unwrap_or_else(|| rng.gen_bool(0.5));
                if dark {
                    self.rect(
                        x + c as f32 * m,
                        y + r as f32 * m,
                        m + 0.5,
                        m + 0.5,
                        Rgb([15, 15, 15]),
                    );
                }
            }
        }
    }

    /// The national-emblem stand-in: concentric circles with spokes.
    fn emblem(&mut self, cx: f32, cy: f32, r: f32, color: Rgb<u8>) {
        let (x, y, rr) = (self.px(cx), self.px(cy), self.px(r));
        draw_hollow_circle_mut(&mut self.img, (x, y), rr, color);
        draw_hollow_circle_mut(&mut self.img, (x, y), rr * 2 / 3, color);
        for k in 0..12 {
            let a = k as f32 * std::f32::consts::PI / 6.0;
            let (s, c) = a.sin_cos();
            draw_line_segment_mut(
                &mut self.img,
                (
                    x as f32 + c * rr as f32 * 0.66,
                    y as f32 + s * rr as f32 * 0.66,
                ),
                (x as f32 + c * rr as f32, y as f32 + s * rr as f32),
                color,
            );
        }
        draw_filled_circle_mut(&mut self.img, (x, y), (rr / 4).max(1), color);
    }
}

/// Light card background: a diagonal gradient between two tints with a faint guilloche.
fn background(w: u32, h: u32, a: [f32; 3], b: [f32; 3], rng: &mut StdRng) -> RgbImage {
    let (f1, f2, f3) = (
        rng.gen_range(14.0..22.0f32),
        rng.gen_range(20.0..30.0f32),
        rng.gen_range(2.0..4.0f32),
    );
    let amp = rng.gen_range(3.0..7.0f32);
    RgbImage::from_fn(w, h, |x, y| {
        let t = (x as f32 / w as f32 * 0.7 + y as f32 / h as f32 * 0.3).clamp(0.0, 1.0);
        let wave = amp
            * ((x as f32 / f1 + f3 * (y as f32 / f2).sin()).sin()
                * (y as f32 / f1 + f3 * (x as f32 / f2).cos()).cos());
        let px = |i: usize| (a[i] + (b[i] - a[i]) * t + wave).clamp(0.0, 255.0) as u8;
        Rgb([px(0), px(1), px(2)])
    })
}

/// Design size of a card (ID-1 aspect, 85.6 × 54 mm).
const DESIGN_W: f32 = 1000.0;
const DESIGN_H: f32 = 630.0;

fn new_canvas<'f>(
    rng: &mut StdRng,
    fonts: &'f Fonts,
    tint_a: [f32; 3],
    tint_b: [f32; 3],
) -> Canvas<'f> {
    let s = *[0.9f32, 1.0, 1.1].choose(rng).unwrap_or(&1.0);
    let family = fonts.families.choose(rng).expect("Fonts is never empty");
    let (w, h) = ((DESIGN_W * s).round() as u32, (DESIGN_H * s).round() as u32);
    Canvas {
        img: background(w, h, tint_a, tint_b, rng),
        s,
        family,
    }
}

/// A PAN card (new format) with a random holder; `face` is a face photo already cropped
/// around the head (it is centre-cropped further to the photo's 4:5 aspect).
pub fn pan_card(seed: u64, face: &RgbImage, fonts: &Fonts) -> (RgbImage, CardTruth) {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x9A4_CA4D);
    let surname = *SURNAMES.choose(&mut rng).unwrap_or(&"SHARMA");
    let female = rng.gen_bool(0.5);
    let name = random_name(&mut rng, female, surname);
    let father = random_name(&mut rng, false, surname);
    let (d, m, y) = random_dob(&mut rng);
    let pan = random_pan(&mut rng, surname);

    let mut c = new_canvas(
        &mut rng,
        fonts,
        [222.0, 232.0, 240.0],
        [238.0, 236.0, 222.0],
    );
    let header = Rgb([20, 40, 110]);
    c.rect(0.0, 0.0, DESIGN_W, 8.0, header);
    let left = "INCOME TAX DEPARTMENT";
    c.text(40.0, 26.0, bold(30.0, header), left, Some(430.0));
    c.emblem(530.0, 48.0, 30.0, Rgb([120, 110, 60]));
    let right = "GOVT. OF INDIA";
    let rw = c.width_of(bold(30.0, header), right).min(330.0);
    c.text(
        DESIGN_W - 40.0 - rw,
        26.0,
        bold(30.0, header),
        right,
        Some(330.0),
    );

    let photo = c.photo(face, 45.0, 120.0, 180.0, 225.0);
    c.scribble(&mut rng, 50.0, 365.0, 170.0, 55.0);
    c.text(80.0, 430.0, regular(18.0, INK), "Signature", None);

    let x0 = 270.0;
    let label = Rgb([60, 64, 80]);
    let value_w = Some(DESIGN_W - x0 - 40.0);
    c.text(
        x0,
        118.0,
        regular(22.0, label),
        "Permanent Account Number Card",
        None,
    );
    c.text(x0, 150.0, bold(38.0, INK), &pan, None);
    c.text(x0, 218.0, regular(20.0, label), "Name", None);
    c.text(x0, 243.0, bold(30.0, INK), &name, value_w);
    c.text(x0, 298.0, regular(20.0, label), "Father's Name", None);
    c.text(x0, 323.0, bold(30.0, INK), &father, value_w);
    c.text(x0, 378.0, regular(20.0, label), "Date of Birth", None);
    c.text(
        x0,
        403.0,
        bold(30.0, INK),
        &format!("{d:02}/{m:02}/{y}"),
        None,
    );
    c.fake_qr(&mut rng, 815.0, 440.0, 140.0);

    let family = c.family.name.clone();
    let (img, face_box, rotation_deg) = capture(c.img, photo, &mut rng, seed);
    let truth = CardTruth {
        kind: CardKind::Pan,
        name,
        father_name: Some(father),
        date_of_birth: format!("{y:04}-{m:02}-{d:02}"),
        pan_number: Some(pan),
        aadhaar_number: None,
        gender: None,
        face_box,
        font: family,
        rotation_deg,
    };
    (img, truth)
}

/// The front of an Aadhaar card with a random holder; `face` as for [`pan_card`].
pub fn aadhaar_card(seed: u64, face: &RgbImage, fonts: &Fonts) -> (RgbImage, CardTruth) {
    let mut rng = StdRng::seed_from_u64(seed ^ 0xAAD_4AA2);
    let surname = *SURNAMES.choose(&mut rng).unwrap_or(&"SHARMA");
    let female = rng.gen_bool(0.5);
    let name = title_case(&random_name(&mut rng, female, surname));
    let (d, m, y) = random_dob(&mut rng);
    let year_only = rng.gen_bool(0.15);
    let number = random_aadhaar(&mut rng);
    let upper_gender = rng.gen_bool(0.6);

    let mut c = new_canvas(
        &mut rng,
        fonts,
        [250.0, 250.0, 246.0],
        [240.0, 244.0, 250.0],
    );
    c.rect(0.0, 0.0, DESIGN_W, 16.0, Rgb([240, 130, 40]));
    c.rect(0.0, 84.0, DESIGN_W, 8.0, Rgb([30, 140, 60]));
    c.emblem(70.0, 50.0, 28.0, Rgb([110, 100, 60]));
    c.emblem(930.0, 50.0, 28.0, Rgb([210, 40, 40]));
    c.centred_text(DESIGN_W / 2.0, 30.0, bold(32.0, INK), "GOVERNMENT OF INDIA");

    let photo = c.photo(face, 50.0, 125.0, 190.0, 235.0);
    let x0 = 285.0;
    c.text(
        x0,
        145.0,
        regular(32.0, INK),
        &name,
        Some(DESIGN_W - x0 - 40.0),
    );
    let dob_text = if year_only {
        format!("Year of Birth : {y}")
    } else {
        format!("DOB: {d:02}/{m:02}/{y}")
    };
    c.text(x0, 205.0, regular(28.0, INK), &dob_text, None);
    let gender = if female { "female" } else { "male" };
    let printed_gender = if upper_gender {
        gender.to_uppercase()
    } else {
        title_case(gender)
    };
    c.text(x0, 258.0, regular(28.0, INK), &printed_gender, None);

    c.centred_text(DESIGN_W / 2.0, 420.0, bold(54.0, INK), &group4(&number));
    if rng.gen_bool(0.5) {
        let vid: String = (0..16)
            .map(|_| (b'0' + rng.gen_range(0..=9u8)) as char)
            .collect();
        c.centred_text(
            DESIGN_W / 2.0,
            492.0,
            regular(22.0, INK),
            &format!("VID : {}", group4(&vid)),
        );
    }
    c.rect(40.0, 540.0, DESIGN_W - 80.0, 4.0, Rgb([200, 30, 30]));
    c.centred_text(
        DESIGN_W / 2.0,
        560.0,
        bold(26.0, Rgb([200, 30, 30])),
        "Mera Aadhaar, Meri Pehchan",
    );

    let family = c.family.name.clone();
    let (img, face_box, rotation_deg) = capture(c.img, photo, &mut rng, seed);
    let truth = CardTruth {
        kind: CardKind::Aadhaar,
        name,
        father_name: None,
        date_of_birth: if year_only {
            format!("{y:04}")
        } else {
            format!("{y:04}-{m:02}-{d:02}")
        },
        pan_number: None,
        aadhaar_number: Some(number),
        gender: Some(gender.to_string()),
        face_box,
        font: family,
        rotation_deg,
    };
    (img, truth)
}

/// A card of either kind.
pub fn card(kind: CardKind, seed: u64, face: &RgbImage, fonts: &Fonts) -> (RgbImage, CardTruth) {
    match kind {
        CardKind::Pan => pan_card(seed, face, fonts),
        CardKind::Aadhaar => aadhaar_card(seed, face, fonts),
    }
}

/// The card as a camera sees it: on a darker surface (6–10 % margin), turned ±3°, a glare
/// spot on a third of the cards, farther away (scaled ×0.6–1), brightness ×0.8–1.1,
/// Gaussian blur σ 0.3–0.9, sensor noise σ 2–6, JPEG quality 75–92. Returns the image, the
/// photo's box in it and the rotation.
fn capture(
    card: RgbImage,
    photo: (u32, u32, u32, u32),
    rng: &mut StdRng,
    seed: u64,
) -> (RgbImage, PixelBox, f32) {
    let (cw, ch) = card.dimensions();
    let mx = (cw as f32 * rng.gen_range(0.06..0.10)) as u32;
    let my = (ch as f32 * rng.gen_range(0.06..0.10)) as u32;
    let (w, h) = (cw + 2 * mx, ch + 2 * my);
    let surface = [
        rng.gen_range(40.0..90.0f32),
        rng.gen_range(35.0..80.0f32),
        rng.gen_range(30.0..70.0f32),
    ];
    let mut img = RgbImage::from_fn(w, h, |x, y| {
        let t = 0.8 + 0.4 * (x as f32 / w as f32) * (1.0 - 0.5 * y as f32 / h as f32);
        Rgb(surface.map(|v| (v * t).clamp(0.0, 255.0) as u8))
    });
    imageops::replace(&mut img, &card, mx as i64, my as i64);

    let deg = rng.gen_range(-3.0..3.0f32);
    let theta = deg.to_radians();
    let fill = Rgb(surface.map(|v| v as u8));
    let img = rotate_about_center(
        &img,
        theta,
        Interpolation::Bilinear,
        imageproc::geometric_transformations::Border::Constant(fill),
    );
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    let turn =
        Projection::translate(cx, cy) * Projection::rotate(theta) * Projection::translate(-cx, -cy);
    let (px, py, pw, ph) = photo;
    let corners = [(px, py), (px + pw, py), (px + pw, py + ph), (px, py + ph)]
        .map(|(x, y)| turn * ((x + mx) as f32, (y + my) as f32));
    let (x0, x1) = corners
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (y0, y1) = corners
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let mut img = img;
    if rng.gen_bool(0.33) {
        // Light reflected off the laminate: a soft additive spot.
        let (gx, gy) = (
            mx as f32 + rng.gen_range(0.2..0.8) * cw as f32,
            my as f32 + rng.gen_range(0.2..0.8) * ch as f32,
        );
        let sigma = rng.gen_range(0.08..0.18) * cw as f32;
        let strength = rng.gen_range(30.0..70.0f32);
        for (x, y, p) in img.enumerate_pixels_mut() {
            let d2 = (x as f32 - gx).powi(2) + (y as f32 - gy).powi(2);
            let add = strength * (-d2 / (2.0 * sigma * sigma)).exp();
            p.0 = p.0.map(|v| (v as f32 + add).min(255.0) as u8);
        }
    }
    let zoom = rng.gen_range(0.6..1.0f32);
    let img = imageops::resize(
        &img,
        (w as f32 * zoom).round() as u32,
        (h as f32 * zoom).round() as u32,
        FilterType::Triangle,
    );
    let face_box = PixelBox {
        x: (x0.max(0.0) * zoom) as u32,
        y: (y0.max(0.0) * zoom) as u32,
        w: ((x1 - x0) * zoom).round() as u32,
        h: ((y1 - y0) * zoom).round() as u32,
    };

    let gain = rng.gen_range(0.8..1.1f32);
    let offset = rng.gen_range(-10.0..10.0f32);
    let mut img = img;
    for p in img.pixels_mut() {
        p.0 =
            p.0.map(|v| (v as f32 * gain + offset).clamp(0.0, 255.0) as u8);
    }
    let img = imageproc::filter::gaussian_blur_f32(&img, rng.gen_range(0.3..0.9));
    let mut img = img;
    imageproc::noise::gaussian_noise_mut(&mut img, 0.0, rng.gen_range(2.0..6.0), seed);
    let quality = rng.gen_range(75..=92u8);
    (jpeg_round_trip(&img, quality), face_box, deg)
}

fn jpeg_round_trip(img: &RgbImage, quality: u8) -> RgbImage {
    let mut buf = Vec::new();
    let encoded =
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, quality).encode_image(img);
    match encoded
        .ok()
        .and_then(|_| image::load_from_memory_with_format(&buf, image::ImageFormat::Jpeg).ok())
    {
        Some(decoded) => decoded.to_rgb8(),
        None => img.clone(),
    }
}

/// A head-and-shoulders crop of a portrait photo (centred horizontally, from near the top,
/// 4:5), for callers without a face detector.
pub fn portrait_crop(photo: &RgbImage) -> RgbImage {
    let (w, h) = photo.dimensions();
    let cw = (w as f32 * 0.8).min(h as f32 * 0.8 * 0.8) as u32;
    let ch = (cw as f32 * 1.25) as u32;
    let x = (w - cw) / 2;
    let y = ((h as f32 * 0.04) as u32).min(h - ch.min(h));
    imageops::crop_imm(photo, x, y, cw.max(1), ch.min(h).max(1)).to_image()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verhoeff_check_digits() {
        assert_eq!(verhoeff_check_digit("236"), '3');
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..50 {
            let n = random_aadhaar(&mut rng);
            assert_eq!(n.len(), 12);
            assert!(n.as_bytes()[0] >= b'2');
        }
    }

    #[test]
    fn pan_format() {
        let mut rng = StdRng::seed_from_u64(2);
        for _ in 0..50 {
            let p = random_pan(&mut rng, "SHARMA");
            let b = p.as_bytes();
            assert_eq!(b.len(), 10);
            assert!(
                b[..5].iter().all(u8::is_ascii_uppercase)
                    && b[5..9].iter().all(u8::is_ascii_digit)
                    && b[9].is_ascii_uppercase()
            );
            assert_eq!((b[3], b[4]), (b'P', b'S'));
        }
    }

    #[test]
    fn cards_are_deterministic_and_locate_the_face() {
        // The fonts are installed with the suite (tests/run-all.sh): without them this fails.
        let fonts =
            Fonts::system().expect("system fonts (Debian fonts-dejavu-core, fonts-liberation)");
        let face = RgbImage::from_pixel(160, 200, Rgb([40, 220, 40]));
        let (a, ta) = pan_card(7, &face, &fonts);
        let (b, tb) = pan_card(7, &face, &fonts);
        assert_eq!(a.as_raw(), b.as_raw());
        assert_eq!(ta.pan_number, tb.pan_number);
        let (c, tc) = aadhaar_card(7, &face, &fonts);
        assert!(c.width() > 500 && tc.aadhaar_number.is_some());
        assert!(
            tc.face_box.x + tc.face_box.w <= c.width()
                && tc.face_box.y + tc.face_box.h <= c.height()
        );
        // The face box is where the (green) photo ended up.
        let green = |p: &Rgb<u8>| p[1] > 150 && p[0] < 110 && p[2] < 110;
        let fb = ta.face_box;
        let all = a.pixels().filter(|p| green(p)).count();
        let inside = a
            .enumerate_pixels()
            .filter(|(x, y, p)| {
                green(p) && (fb.x..fb.x + fb.w).contains(x) && (fb.y..fb.y + fb.h).contains(y)
            })
            .count();
        assert!(
            inside as f32 > 0.97 * all as f32 && all as f32 > 0.6 * (fb.w * fb.h) as f32,
            "{fb:?} {inside} {all}"
        );
    }
}
