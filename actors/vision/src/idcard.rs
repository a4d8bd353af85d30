//! Field extraction from OCR lines of Indian ID cards (PAN, Aadhaar front) and name matching.
//! Pure functions over [`TextLine`]s; only [`read_document`] touches a model (through
//! [`OcrEngine`]).
//!
//! Printed labels (often bilingual, small) read poorly, so fields are found by **format and
//! layout**, labels only helping:
//!
//! ```text
//! PAN (new format)                                  Aadhaar (front)
//!   INCOME TAX DEPARTMENT   GOVT. OF INDIA            GOVERNMENT OF INDIA
//!   [photo] Permanent Account Number Card   [QR]      [photo] Rajesh Kumar        ← name
//!           ABCDE1234F           ← AAAAA9999A                 DOB: 01/02/1990     ← or "Year of Birth: 1990"
//!           Name                                              MALE                ← gender
//!           RAJESH KUMAR         ← 1st upper-case line          2345 6789 0123    ← 12 digits, Verhoeff
//!           Father's Name                                      VID : 9123 …       (16 digits, ignored)
//!           SURESH KUMAR         ← 2nd upper-case line
//!           Date of Birth
//!           01/02/1990           ← dd/mm/yyyy
//! ```
//!
//! PAN: the number is the 10-character window that fits `AAAAA9999A` after correcting the
//! usual OCR confusions by position (`0→O 1→I 5→S 8→B …` in letter positions, the reverse in
//! digit positions); its 4th letter is the holder type (P for a person). The names are the
//! upper-case lines between the number and the date of birth (old-format cards, with the
//! number at the bottom: the upper-case lines above the date).
//!
//! Aadhaar: the number is a 12-digit group (a 16-digit VID is ignored), checked with the
//! Verhoeff checksum; **only a masked form (`XXXX XXXX 1234`) leaves this module**. The
//! name is the nearest name-like line above the date of birth.

use image::RgbImage;

use crate::ocr::{OcrEngine, TextLine};
use crate::VisionError;

pub use vkyc_domain::document::{DocumentFields, DocumentKind, Gender};

/// OCR's the card and extracts the fields; when the document number is not found the card
/// is read again turned 180° (cheaper and more reliable than an orientation model), and the
/// reading with fewer missing fields wins.
pub fn read_document(
    engine: &mut OcrEngine,
    kind: DocumentKind,
    img: &RgbImage,
) -> Result<DocumentFields, VisionError> {
    let fields = extract(kind, &engine.read(img)?);
    if fields.has_number() {
        return Ok(fields);
    }
    let turned = image::imageops::rotate180(img);
    let again = extract(kind, &engine.read(&turned)?);
    Ok(if again.missing.len() < fields.missing.len() {
        again
    } else {
        fields
    })
}

/// Extracts the fields of a `kind` card from its OCR lines (in reading order, as
/// [`OcrEngine::read`] returns them).
pub fn extract(kind: DocumentKind, lines: &[TextLine]) -> DocumentFields {
    let texts: Vec<String> = lines.iter().map(|l| normalise_text(&l.text)).collect();
    match kind {
        DocumentKind::Pan => extract_pan(&texts),
        DocumentKind::Aadhaar => extract_aadhaar(&texts, &row_texts(lines)),
    }
}

/// The text of each row of lines (lines whose vertical centres are within half a line
/// height of the row's first), joined with spaces: the detector may split the widely spaced
/// groups of an Aadhaar number into separate boxes.
fn row_texts(lines: &[TextLine]) -> Vec<String> {
    let mut rows: Vec<(f32, f32, Vec<String>)> = Vec::new(); // (centre y, height, texts)
    for l in lines {
        let cy = l.bbox.y + l.bbox.h / 2.0;
        match rows.last_mut() {
            Some((y, h, texts)) if (cy - *y).abs() < 0.5 * h.min(l.bbox.h) => {
                texts.push(normalise_text(&l.text))
            }
            _ => rows.push((cy, l.bbox.h, vec![normalise_text(&l.text)])),
        }
    }
    rows.into_iter()
        .filter(|r| r.2.len() > 1)
        .map(|r| r.2.join(" "))
        .collect()
}

fn extract_pan(texts: &[String]) -> DocumentFields {
    let mut f = DocumentFields::empty(DocumentKind::Pan);
    let pan = texts
        .iter()
        .enumerate()
        .filter_map(|(i, t)| find_pan(t).map(|(pan, cost)| (cost, i, pan)))
        .min_by_key(|&(cost, i, _)| (cost, i));
    let pan_idx = pan.as_ref().map(|p| p.1);
    f.pan_number = pan.map(|p| p.2);
    let dob = find_dob(texts, pan_idx);
    let dob_idx = dob.as_ref().map(|d| d.0);
    f.date_of_birth = dob.map(|d| d.1);

    // Names: upper-case lines between the number and the date (new format), else above the
    // date (old format: number at the bottom), never in the header.
    let header_end = texts
        .iter()
        .rposition(|t| is_header(t))
        .filter(|&h| dob_idx.is_none_or(|d| h < d));
    let hi = dob_idx.unwrap_or(texts.len());
    let lo = match pan_idx {
        Some(p) if p < hi => Some(p),
        _ => header_end,
    };
    let start = lo.map_or(0, |l| l + 1);
    let names: Vec<String> = texts[start.min(hi)..hi]
        .iter()
        .filter_map(|t| upper_name(t))
        .collect();
    f.name = names.first().cloned();
    f.father_name = names.get(1).cloned();

    for (field, present) in [
        ("pan_number", f.pan_number.is_some()),
        ("name", f.name.is_some()),
        ("father_name", f.father_name.is_some()),
        ("date_of_birth", f.date_of_birth.is_some()),
    ] {
        if !present {
            f.missing.push(field.into());
        }
    }
    f
}

fn extract_aadhaar(texts: &[String], rows: &[String]) -> DocumentFields {
    let mut f = DocumentFields::empty(DocumentKind::Aadhaar);
    // The number: best candidate first (checksum passes, printed in 4-digit groups, first
    // digit 2–9 as UIDAI issues them). Only the masked form and the check result are kept.
    let best = texts
        .iter()
        .chain(rows)
        .filter_map(|t| aadhaar_candidate(t))
        .max_by_key(|c| (c.checksum_ok, c.grouped, c.plausible_first));
    if let Some(c) = best {
        f.aadhaar_masked = Some(c.masked);
        f.aadhaar_checksum_ok = Some(c.checksum_ok);
    }
    let dob = find_dob(texts, None).or_else(|| find_year_of_birth(texts));
    let dob_idx = dob.as_ref().map(|d| d.0);
    f.date_of_birth = dob.map(|d| d.1);
    f.gender = texts.iter().find_map(|t| find_gender(t));

    // The name: nearest name-like line above the date of birth; without a date, the first
    // name-like line after the header.
    f.name = match dob_idx {
        Some(d) => texts[..d].iter().rev().find_map(|t| any_case_name(t)),
        None => {
            let start = texts
                .iter()
                .rposition(|t| is_header(t))
                .map_or(0, |h| h + 1);
            texts[start..].iter().find_map(|t| any_case_name(t))
        }
    };

    for (field, present) in [
        ("aadhaar_number", f.aadhaar_masked.is_some()),
        ("name", f.name.is_some()),
        ("date_of_birth", f.date_of_birth.is_some()),
        ("gender", f.gender.is_some()),
    ] {
        if !present {
            f.missing.push(field.into());
        }
    }
    f
}

/// Full-width forms (the recogniser's dictionary is mostly Chinese and returns `：／（` …)
/// mapped to ASCII; whitespace collapsed.
fn normalise_text(s: &str) -> String {
    let mapped: String = s
        .chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            _ => c,
        })
        .collect();
    mapped.split_whitespace().collect::<Vec<_>>().join(" ")
}

// ---------------------------------------------------------------------------------------
// PAN number

/// Valid 4th characters of a PAN: the holder type (P person, C company, H HUF, F firm,
/// A association, T trust, B body of individuals, L local authority, J juridical person,
/// G government).
const PAN_HOLDER_TYPES: &str = "PCHFATBLJG";

fn digit_as_letter(c: char) -> Option<char> {
    Some(match c {
        'A'..='Z' => c,
        '0' => 'O',
        '1' => 'I',
        '2' => 'Z',
        '4' => 'A',
        '5' => 'S',
        '6' => 'G',
        '8' => 'B',
        _ => return None,
    })
}

fn letter_as_digit(c: char) -> Option<char> {
    Some(match c {
        '0'..='9' => c,
        'O' | 'Q' | 'D' | 'U' => '0',
        'I' | 'L' | 'T' | 'J' => '1',
        'Z' => '2',
        'A' => '4',
        'S' => '5',
        'G' => '6',
        'B' => '8',
        _ => return None,
    })
}

/// A PAN in `window` (10 characters) after positional correction, and how many characters
/// had to be corrected. At least two of the four digits must have been read as digits (so
/// an all-letter word is never taken for a PAN).
pub fn correct_pan(window: &[char]) -> Option<(String, u32)> {
    if window.len() != 10 {
        return None;
    }
    let mut out = String::with_capacity(10);
    let (mut fixes, mut real_digits) = (0, 0);
    for (i, &c) in window.iter().enumerate() {
        let fixed = if (5..9).contains(&i) {
            if c.is_ascii_digit() {
                real_digits += 1;
            }
            letter_as_digit(c)?
        } else {
            digit_as_letter(c)?
        };
        fixes += u32::from(fixed != c);
        out.push(fixed);
    }
    let holder = out.chars().nth(3)?;
    (real_digits >= 2 && PAN_HOLDER_TYPES.contains(holder)).then_some((out, fixes))
}

/// The most plausible PAN in a line and its cost (corrections, plus 2 when the line holds
/// more than the number).
fn find_pan(text: &str) -> Option<(String, u32)> {
    let compact: Vec<char> = text
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if compact.len() < 10 {
        return None;
    }
    let extra = if compact.len() == 10 { 0 } else { 2 };
    compact
        .windows(10)
        .filter_map(correct_pan)
        .filter(|(_, fixes)| *fixes <= 3)
        .min_by_key(|(_, fixes)| *fixes)
        .map(|(pan, fixes)| (pan, fixes + extra))
}

// ---------------------------------------------------------------------------------------
// Dates

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        _ => 0,
    }
}

fn iso_date(d: u32, m: u32, y: u32) -> Option<String> {
    ((1900..=2100).contains(&y) && (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m))
        .then(|| format!("{y:04}-{m:02}-{d:02}"))
}

/// The first valid `dd/mm/yyyy` (also `-` or `.`, spaces ignored; or `ddmmyyyy` when the
/// separators were lost) in a line, as ISO `yyyy-mm-dd`.
pub fn parse_date(text: &str) -> Option<String> {
    let s: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let is_sep = |c: char| matches!(c, '/' | '-' | '.');
    for run in s.split(|c: char| !(c.is_ascii_digit() || is_sep(c))) {
        let parts: Vec<&str> = run.split(is_sep).collect();
        for w in parts.windows(3) {
            let ok =
                (1..=2).contains(&w[0].len()) && (1..=2).contains(&w[1].len()) && w[2].len() >= 4;
            if !ok || !w.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit())) {
                continue;
            }
            let (d, m, y) = (
                w[0].parse().ok()?,
                w[1].parse().ok()?,
                w[2][..4].parse().ok()?,
            );
            if let Some(iso) = iso_date(d, m, y) {
                return Some(iso);
            }
        }
        for p in parts.iter().filter(|p| p.len() == 8) {
            let n = |r: std::ops::Range<usize>| p[r].parse::<u32>().ok();
            if let (Some(d), Some(m), Some(y)) = (n(0..2), n(2..4), n(4..8)) {
                if let Some(iso) = iso_date(d, m, y) {
                    return Some(iso);
                }
            }
        }
    }
    None
}

/// The date of birth: a date on a line labelled as such, else the first date after the
/// PAN line (if any), else the first date not labelled as an issue/print date.
fn find_dob(texts: &[String], after: Option<usize>) -> Option<(usize, String)> {
    let dates: Vec<(usize, String, String)> = texts
        .iter()
        .enumerate()
        .filter_map(|(i, t)| parse_date(t).map(|d| (i, d, letters_upper(t))))
        .filter(|(_, _, l)| {
            !["ISSUE", "DOWNLOAD", "PRINT", "VALID"]
                .iter()
                .any(|w| l.contains(w))
        })
        .collect();
    let labelled = dates
        .iter()
        .find(|(_, _, l)| l.contains("DOB") || l.contains("BIRTH"));
    let after_pan = after.and_then(|p| dates.iter().find(|(i, _, _)| *i > p));
    labelled
        .or(after_pan)
        .or(dates.first())
        .map(|(i, d, _)| (*i, d.clone()))
}

/// "Year of Birth: 1990" / "YoB 1990": (line, "1990").
fn find_year_of_birth(texts: &[String]) -> Option<(usize, String)> {
    texts.iter().enumerate().find_map(|(i, t)| {
        let l = letters_upper(t);
        if !(l.contains("YEAR") || l.contains("YOB") || l.contains("BIRTH")) {
            return None;
        }
        let digits: String = t.chars().filter(|c| c.is_ascii_digit()).collect();
        let year: u32 = digits.get(digits.len().checked_sub(4)?..)?.parse().ok()?;
        (1900..=2100)
            .contains(&year)
            .then(|| (i, format!("{year:04}")))
    })
}

// ---------------------------------------------------------------------------------------
// Names, header, gender

/// The letters of a line, upper-case, without spaces or anything else.
fn letters_upper(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphabetic())
        .flat_map(char::to_uppercase)
        .collect()
}

/// Printed words that are never part of a name (compared without spaces, since OCR drops
/// them).
const LABEL_WORDS: [&str; 18] = [
    "INCOMETAX",
    "DEPARTMENT",
    "GOVT",
    "GOVERNMENT",
    "OFINDIA",
    "PERMANENT",
    "ACCOUNT",
    "NUMBERCARD",
    "FATHER",
    "DATEOFBIRTH",
    "BIRTH",
    "SIGNATURE",
    "AADHAAR",
    "AADHAR",
    "ENROL",
    "DOWNLOAD",
    "ISSUE",
    "YEAROF",
];
/// Label words that are only excluded as whole tokens (they can occur inside a name).
const LABEL_TOKENS: [&str; 14] = [
    "NAME",
    "DOB",
    "DATE",
    "CARD",
    "TAX",
    "INDIA",
    "VID",
    "YOB",
    "OF",
    "MALE",
    "FEMALE",
    "TRANSGENDER",
    "ADHIKAR",
    "PEHCHAN",
];

fn is_label(text: &str) -> bool {
    let letters = letters_upper(text);
    LABEL_WORDS.iter().any(|w| letters.contains(w))
        || text
            .split(|c: char| !c.is_alphabetic())
            .any(|tok| LABEL_TOKENS.contains(&tok.to_uppercase().as_str()))
}

fn is_header(text: &str) -> bool {
    let l = letters_upper(text);
    ["INCOMETAX", "GOVT", "GOVERNMENT", "OFINDIA", "DEPARTMENT"]
        .iter()
        .any(|w| l.contains(w))
}

/// The line as a name if it looks like one: Latin letters, spaces, `.` and `'` only, at
/// least 3 letters, not a label. Returned with single spaces.
fn name_text(text: &str) -> Option<String> {
    if !text
        .chars()
        .all(|c| c.is_ascii_alphabetic() || matches!(c, ' ' | '.' | '\''))
        || is_label(text)
    {
        return None;
    }
    let letters = text.chars().filter(|c| c.is_ascii_alphabetic()).count();
    (letters >= 3).then(|| {
        text.replace('.', " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    })
}

/// A name printed in capitals (PAN): at most 30 % lower-case letters (OCR confuses the case
/// of c/o/s/v/w/x/z), returned upper-case.
fn upper_name(text: &str) -> Option<String> {
    let name = name_text(text)?;
    let letters = name.chars().filter(|c| c.is_ascii_alphabetic()).count();
    let lower = name.chars().filter(|c| c.is_ascii_lowercase()).count();
    (lower * 10 <= letters * 3).then(|| name.to_ascii_uppercase())
}

/// A name in any case (Aadhaar prints it in title case), as printed.
fn any_case_name(text: &str) -> Option<String> {
    name_text(text)
}

/// Gender from a whole word (`MALE`, `Female`, `पुरुष / MALE` …; never from inside a name
/// such as HEMALEKHA).
fn find_gender(text: &str) -> Option<Gender> {
    let up = text.to_uppercase();
    let has = |w: &str| up.split(|c: char| !c.is_alphabetic()).any(|t| t == w);
    if has("TRANSGENDER") || text.contains("ट्रांसजेंडर") {
        Some(Gender::Transgender)
    } else if has("FEMALE") || text.contains("महिला") {
        Some(Gender::Female)
    } else if has("MALE") || text.contains("पुरुष") {
        Some(Gender::Male)
    } else {
        None
    }
}

// ---------------------------------------------------------------------------------------
// Aadhaar number

struct AadhaarCandidate {
    masked: String,
    checksum_ok: bool,
    grouped: bool,
    plausible_first: bool,
}

/// A 12-digit Aadhaar number on a line (a 16-digit VID is not one). The digits are used
/// here and dropped: only the masked form and the checks leave.
fn aadhaar_candidate(text: &str) -> Option<AadhaarCandidate> {
    if letters_upper(text).contains("VID") {
        return None;
    }
    let real_digits = text.chars().filter(|c| c.is_ascii_digit()).count();
    if real_digits < 8 {
        return None;
    }
    // On a line of digits, letters that look like digits are digits.
    let mapped: String = text
        .chars()
        .map(|c| match c {
            'O' | 'o' | 'D' | 'Q' => '0',
            'I' | 'l' | '|' | '!' => '1',
            'Z' | 'z' => '2',
            'S' | 's' => '5',
            'B' => '8',
            _ => c,
        })
        .collect();
    // Digit runs, single spaces inside a run allowed ("2345 6789 0123").
    let mut runs: Vec<(String, usize)> = Vec::new(); // (digits, groups)
    let mut cur = String::new();
    let mut groups = 0;
    let mut prev_space = false;
    for c in mapped.chars().chain(std::iter::once('#')) {
        if c.is_ascii_digit() {
            if cur.is_empty() || prev_space {
                groups += 1;
            }
            cur.push(c);
            prev_space = false;
        } else if c == ' ' && !cur.is_empty() && !prev_space {
            prev_space = true;
        } else {
            if !cur.is_empty() {
                runs.push((std::mem::take(&mut cur), groups));
            }
            groups = 0;
            prev_space = false;
        }
    }
    let (digits, groups) = runs.into_iter().find(|(d, _)| d.len() == 12)?;
    let checksum_ok = verhoeff_valid(&digits);
    let first = digits.as_bytes()[0];
    Some(AadhaarCandidate {
        masked: format!("XXXX XXXX {}", &digits[8..]),
        checksum_ok,
        grouped: groups == 3,
        plausible_first: (b'2'..=b'9').contains(&first),
    })
}

/// The Verhoeff checksum (Aadhaar's last digit) over a string of ASCII digits.
pub use vkyc_domain::verhoeff::is_valid as verhoeff_valid;

/// Masks every run of 12 or more digits (spaces between them allowed: an Aadhaar number or
/// a VID) in free text, keeping only the last four digits — for raw OCR text that has to be
/// logged or shown.
pub fn redact_aadhaar(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = chars.clone();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        // Extend the run over digits and single spaces.
        let mut digit_pos = vec![i];
        let mut j = i + 1;
        while j < chars.len() {
            if chars[j].is_ascii_digit() {
                digit_pos.push(j);
                j += 1;
            } else if chars[j] == ' ' && j + 1 < chars.len() && chars[j + 1].is_ascii_digit() {
                j += 1;
            } else {
                break;
            }
        }
        if digit_pos.len() >= 12 {
            for &p in &digit_pos[..digit_pos.len() - 4] {
                out[p] = 'X';
            }
        }
        i = j;
    }
    out.into_iter().collect()
}

// ---------------------------------------------------------------------------------------
// Name matching

/// Honorifics dropped before comparing (when something else is left).
const TITLES: [&str; 8] = ["MR", "MRS", "MS", "DR", "SHRI", "SMT", "KUM", "KUMARI"];

fn name_tokens(s: &str) -> Vec<String> {
    let up: String = s
        .chars()
        .map(|c| {
            if c.is_alphabetic() {
                c.to_uppercase().next().unwrap_or(c)
            } else {
                ' '
            }
        })
        .collect();
    let toks: Vec<String> = up.split_whitespace().map(str::to_string).collect();
    let without: Vec<String> = toks
        .iter()
        .filter(|t| !TITLES.contains(&t.as_str()))
        .cloned()
        .collect();
    if without.is_empty() {
        toks
    } else {
        without
    }
}

fn levenshtein(a: &[char], b: &[char]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// 1 − Levenshtein distance / longer length.
fn similarity(a: &str, b: &str) -> f64 {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let longest = a.len().max(b.len());
    if longest == 0 {
        return 1.0;
    }
    1.0 - levenshtein(&a, &b) as f64 / longest as f64
}

/// Token similarity: Levenshtein similarity, except an initial (`R`) against a name (`RAJESH`)
/// gets 0.5 when the letters agree.
fn token_similarity(a: &str, b: &str) -> f64 {
    let (la, lb) = (a.chars().count(), b.chars().count());
    if (la == 1) != (lb == 1) {
        return if a.chars().next() == b.chars().next() {
            0.5
        } else {
            0.0
        };
    }
    similarity(a, b)
}

/// Greedy best-pair token alignment (order-free), weighted by length.
fn token_set_score(e: &[String], r: &[String]) -> f64 {
    let len = |s: &String| s.chars().count() as f64;
    let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
    for (i, a) in e.iter().enumerate() {
        for (j, b) in r.iter().enumerate() {
            pairs.push((token_similarity(a, b), i, j));
        }
    }
    pairs.sort_by(|x, y| y.0.total_cmp(&x.0));
    let (mut used_e, mut used_r) = (vec![false; e.len()], vec![false; r.len()]);
    let (mut num, mut den) = (0.0, 0.0);
    for (s, i, j) in pairs {
        if s <= 0.0 || used_e[i] || used_r[j] {
            continue;
        }
        used_e[i] = true;
        used_r[j] = true;
        let w = len(&e[i]).max(len(&r[j]));
        num += s * w;
        den += w;
    }
    den += e
        .iter()
        .zip(&used_e)
        .filter(|(_, u)| !**u)
        .map(|(t, _)| len(t))
        .sum::<f64>();
    den += r
        .iter()
        .zip(&used_r)
        .filter(|(_, u)| !**u)
        .map(|(t, _)| len(t))
        .sum::<f64>();
    if den == 0.0 {
        0.0
    } else {
        num / den
    }
}

fn permutations(tokens: &[String]) -> Vec<Vec<String>> {
    if tokens.len() <= 1 {
        return vec![tokens.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..tokens.len() {
        let mut rest = tokens.to_vec();
        let first = rest.remove(i);
        for mut p in permutations(&rest) {
            p.insert(0, first.clone());
            out.push(p);
        }
    }
    out
}

/// How well a name read from a document matches the expected one, 0–100.
///
/// Both are normalised: upper-case, anything but letters becomes a space, runs of spaces
/// collapse, honorifics (MR, MRS, SHRI, SMT, …) are dropped. Then
///
/// `score = round(100 × max(S_whole, S_tokens))` where
///
/// - `S_whole` = max over orderings of the expected tokens of `1 − lev(E, R) / max(|E|, |R|)`,
///   `E`, `R` the names with **spaces removed** (OCR drops spaces; orderings make
///   "KUMAR RAJESH" match "RAJESHKUMAR"; at most 5 tokens are permuted);
/// - `S_tokens` = `Σ s(e,r)·max(|e|,|r|) / (Σ max(|e|,|r|) + Σ |unpaired tokens|)` over a
///   greedy best-first pairing of expected with read tokens (order-free), with
///   `s` = the Levenshtein similarity of the tokens, or 0.5 for an initial against a token
///   starting with that letter ("R KUMAR" vs "RAJESH KUMAR" → 73).
///
/// Identical names score 100, unrelated ones near 0; one wrong letter in a 12-letter name
/// scores about 92. Empty input scores 0.
pub fn name_match(expected: &str, read: &str) -> u8 {
    let (e, r) = (name_tokens(expected), name_tokens(read));
    if e.is_empty() || r.is_empty() {
        return 0;
    }
    let read_joined: String = r.concat();
    let orderings = if e.len() <= 5 {
        permutations(&e)
    } else {
        vec![e.clone()]
    };
    let whole = orderings
        .iter()
        .map(|p| similarity(&p.concat(), &read_joined))
        .fold(0.0, f64::max);
    let tokens = token_set_score(&e, &r);
    (100.0 * whole.max(tokens)).round().clamp(0.0, 100.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::BBox;

    fn lines(texts: &[&str]) -> Vec<TextLine> {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| TextLine {
                text: t.to_string(),
                confidence: 0.95,
                bbox: BBox {
                    x: 10.0,
                    y: 30.0 * i as f32,
                    w: 200.0,
                    h: 24.0,
                },
            })
            .collect()
    }

    #[test]
    fn pan_number_is_corrected_by_position() {
        let pan = |s: &str| find_pan(s).map(|p| p.0);
        assert_eq!(pan("ABCPE1234F").as_deref(), Some("ABCPE1234F"));
        assert_eq!(pan("A8CP5l234F").as_deref(), Some("ABCPS1234F"));
        assert_eq!(pan("A8CP51234F").as_deref(), Some("ABCPS1234F"));
        assert_eq!(pan("ABCPE12O4F").as_deref(), Some("ABCPE1204F"));
        assert_eq!(pan("ABCPE I2S4 F").as_deref(), Some("ABCPE1254F"));
        assert_eq!(pan("0BCPE1234F").as_deref(), Some("OBCPE1234F"));
        // 4th letter must be a holder type; letters only is no PAN.
        assert_eq!(pan("ABCXE1234F"), None);
        assert_eq!(pan("RAJESHKUMAR"), None);
        assert_eq!(pan("SOMEPLOISB"), None);
        // Inside a longer line, still found.
        assert_eq!(pan("PAN: ABCPE1234F").as_deref(), Some("ABCPE1234F"));
    }

    #[test]
    fn dates_in_common_shapes() {
        assert_eq!(parse_date("01/02/1990").as_deref(), Some("1990-02-01"));
        assert_eq!(parse_date("DOB: 1/2/1990").as_deref(), Some("1990-02-01"));
        assert_eq!(
            parse_date("Date of Birth 31-12-2001").as_deref(),
            Some("2001-12-31")
        );
        assert_eq!(parse_date("29 / 02 / 2000").as_deref(), Some("2000-02-29"));
        assert_eq!(parse_date("01021990").as_deref(), Some("1990-02-01"));
        assert_eq!(parse_date("29/02/2001"), None);
        assert_eq!(parse_date("32/01/1990"), None);
        assert_eq!(parse_date("ABCPE1234F"), None);
    }

    #[test]
    fn new_format_pan_card() {
        let l = lines(&[
            "INCOME TAX DEPARTMENT",
            "GOVT.OF INDIA",
            "Permanent Account Number Card",
            "ABCPK1234F",
            "Name",
            "RAJESH KUMAR",
            "Father's Name",
            "SURESHKUMAR",
            "Date of Birth",
            "07/03/1985",
            "Signature",
        ]);
        let f = extract(DocumentKind::Pan, &l);
        assert_eq!(f.pan_number.as_deref(), Some("ABCPK1234F"));
        assert_eq!(f.name.as_deref(), Some("RAJESH KUMAR"));
        assert_eq!(f.father_name.as_deref(), Some("SURESHKUMAR"));
        assert_eq!(f.date_of_birth.as_deref(), Some("1985-03-07"));
        assert!(f.missing.is_empty(), "{:?}", f.missing);
        let json = serde_json::to_value(&f).unwrap();
        assert_eq!(json["kind"], "pan");
        assert!(json.get("aadhaar_masked").is_none());
    }

    #[test]
    fn old_format_pan_card_and_missing_fields() {
        let l = lines(&[
            "INCOME TAX DEPARTMENT GOVT. OF INDIA",
            "PRIYA SHARMA",
            "MOHAN SHARMA",
            "14/11/1992",
            "Permanent Account Number",
            "BQRPS7781K",
        ]);
        let f = extract(DocumentKind::Pan, &l);
        assert_eq!(f.name.as_deref(), Some("PRIYA SHARMA"));
        assert_eq!(f.father_name.as_deref(), Some("MOHAN SHARMA"));
        assert_eq!(f.pan_number.as_deref(), Some("BQRPS7781K"));

        let f = extract(
            DocumentKind::Pan,
            &lines(&[
                "INCOME TAX DEPARTMENT",
                "ABCPK1234F",
                "Name",
                "RAJESH KUMAR",
            ]),
        );
        assert_eq!(f.missing, vec!["father_name", "date_of_birth"]);
    }

    #[test]
    fn verhoeff() {
        assert!(verhoeff_valid("2363"));
        assert!(!verhoeff_valid("2364"));
        assert!(verhoeff_valid("234567890124"));
        // Any single-digit change and any adjacent swap is caught.
        let n = b"234567890124";
        for i in 0..12 {
            let mut m = n.to_vec();
            m[i] = b'0' + (m[i] - b'0' + 3) % 10;
            assert!(!verhoeff_valid(std::str::from_utf8(&m).unwrap()));
            if i < 11 && n[i] != n[i + 1] {
                let mut s = n.to_vec();
                s.swap(i, i + 1);
                assert!(!verhoeff_valid(std::str::from_utf8(&s).unwrap()));
            }
        }
        assert!(!verhoeff_valid(""));
        assert!(!verhoeff_valid("12a4"));
    }

    #[test]
    fn aadhaar_card_masks_the_number() {
        let l = lines(&[
            "GOVERNMENT OF INDIA",
            "Anita Devi",
            "DOB: 05/06/1978",
            "FEMALE",
            "2345 6789 0124",
            "VID : 9123 4567 8901 2345",
            "Aadhaar - Aam Aadmi ka Adhikar",
        ]);
        let f = extract(DocumentKind::Aadhaar, &l);
        assert_eq!(f.aadhaar_masked.as_deref(), Some("XXXX XXXX 0124"));
        assert_eq!(f.aadhaar_checksum_ok, Some(true));
        assert_eq!(f.name.as_deref(), Some("Anita Devi"));
        assert_eq!(f.date_of_birth.as_deref(), Some("1978-06-05"));
        assert_eq!(f.gender, Some(Gender::Female));
        assert!(f.missing.is_empty());
        // The full number appears nowhere in the result.
        let dbg = format!("{f:?}{}", serde_json::to_string(&f).unwrap());
        assert!(
            !dbg.contains("23456789") && !dbg.contains("2345 6789"),
            "{dbg}"
        );
    }

    #[test]
    fn aadhaar_year_of_birth_male_and_bad_checksum() {
        let l = lines(&[
            "Government of India",
            "Ravi Prakash Singh",
            "Year of Birth : 1969",
            "पुरुष / MALE",
            "2345 6789 O125",
        ]);
        let f = extract(DocumentKind::Aadhaar, &l);
        assert_eq!(f.date_of_birth.as_deref(), Some("1969"));
        assert_eq!(f.gender, Some(Gender::Male));
        assert_eq!(f.name.as_deref(), Some("Ravi Prakash Singh"));
        assert_eq!(f.aadhaar_masked.as_deref(), Some("XXXX XXXX 0125"));
        assert_eq!(f.aadhaar_checksum_ok, Some(false));
        // A lone VID is not an Aadhaar number.
        let f = extract(DocumentKind::Aadhaar, &lines(&["VID: 9123 4567 8901 2345"]));
        assert!(f.missing.iter().any(|m| m == "aadhaar_number"));
        assert_eq!(f.aadhaar_checksum_ok, None);
    }

    #[test]
    fn aadhaar_number_split_into_boxes_and_gender_words() {
        let mut l = lines(&[
            "Hemalekha Nair",
            "DOB: 05/06/1978",
            "Female",
            "2345",
            "6789",
            "0124",
        ]);
        for (k, line) in l[3..].iter_mut().enumerate() {
            line.bbox = BBox {
                x: 300.0 + 120.0 * k as f32,
                y: 200.0,
                w: 100.0,
                h: 40.0,
            };
        }
        let f = extract(DocumentKind::Aadhaar, &l);
        assert_eq!(f.aadhaar_masked.as_deref(), Some("XXXX XXXX 0124"));
        assert_eq!(f.aadhaar_checksum_ok, Some(true));
        assert_eq!(f.gender, Some(Gender::Female));
        assert_eq!(f.name.as_deref(), Some("Hemalekha Nair"));
        // Names that contain label words inside them (ADHIKAR in RADHIKARAO) are names.
        let f = extract(
            DocumentKind::Aadhaar,
            &lines(&["GOVERNMENT OF INDIA", "Radhika Rao", "DOB:11/05/1956"]),
        );
        assert_eq!(f.name.as_deref(), Some("Radhika Rao"));
    }

    #[test]
    fn redaction() {
        assert_eq!(
            redact_aadhaar("No. 2345 6789 0124 ok"),
            "No. XXXX XXXX 0124 ok"
        );
        assert_eq!(
            redact_aadhaar("VID 9123456789012345"),
            "VID XXXXXXXXXXXX2345"
        );
        assert_eq!(
            redact_aadhaar("DOB 01/02/1990, pin 560001"),
            "DOB 01/02/1990, pin 560001"
        );
    }

    #[test]
    fn name_matching() {
        assert_eq!(name_match("Rajesh Kumar", "RAJESH KUMAR"), 100);
        assert_eq!(
            name_match("RAJESH KUMAR", "RAJESHKUMAR"),
            100,
            "dropped space"
        );
        assert_eq!(name_match("Rajesh Kumar", "KUMAR RAJESH"), 100, "reordered");
        assert_eq!(
            name_match("Rajesh Kumar", "KUMARRAJESH"),
            100,
            "reordered, no space"
        );
        assert_eq!(name_match("Mr. Rajesh Kumar", "RAJESH KUMAR"), 100, "title");
        let initial = name_match("RAJESH KUMAR", "R KUMAR");
        assert!((60..=80).contains(&initial), "{initial}");
        let typo = name_match("RAJESH KUMAR", "RAJESH KUNAR");
        assert!((88..100).contains(&typo), "{typo}");
        let other = name_match("RAJESH KUMAR", "PRIYA SHARMA");
        assert!(other < 40, "{other}");
        let partial = name_match("RAJESH KUMAR VERMA", "RAJESH KUMAR");
        assert!((60..90).contains(&partial), "{partial}");
        assert_eq!(name_match("", "RAJESH"), 0);
        assert_eq!(name_match("Rajesh", "123"), 0);
    }
}
