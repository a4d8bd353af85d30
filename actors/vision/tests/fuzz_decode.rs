//! Property tests of bounded image decoding (`decode_rgb` with `DecodeLimits`; README:
//! Fuzzing): random bytes, and real small JPEG/PNG/WebP files made here with the `image` crate
//! and then damaged, or given header dimensions past the limits. Whatever the bytes, the
//! answer is an image within the limits or an error, never a panic, and the memory the decoder
//! takes is bounded by the limits (a global allocator in this test binary measures the peak).

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Cursor;
use std::sync::atomic::{AtomicUsize, Ordering};

use image::{DynamicImage, ImageBuffer, ImageFormat, Luma, Rgb, Rgba};
use proptest::prelude::*;
use proptest::sample::Index;
use vkyc_vision::decode::{decode_rgb, DecodeLimits};

// ---- Peak memory.

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Cases per `fuzz_` target: `VKYC_FUZZ_CASES`, default 2000.
fn cases() -> u32 {
    std::env::var("VKYC_FUZZ_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(2000)
}

/// A proptest config running `n` cases, writing no regression files into the tree.
fn config(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: n.max(1),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Decodes and checks the answer: an image inside the limits, or an error; and the peak of
/// memory taken meanwhile within what the limits allow (the decoder's own allocation limit,
/// the RGB copy, and a few times the input for its tables and buffers).
fn decode_checked(
    bytes: &[u8],
    limits: &DecodeLimits,
) -> Result<Result<(u32, u32), &'static str>, TestCaseError> {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let r = decode_rgb(bytes, limits);
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    let allowed = (limits.max_pixels as u128) * 12 + 4 * bytes.len() as u128 + (8 << 20);
    prop_assert!(
        peak as u128 <= allowed,
        "decoding {} bytes took {peak} bytes of memory (limits {limits:?})",
        bytes.len()
    );
    Ok(match r {
        Ok(img) => {
            let (w, h) = img.dimensions();
            prop_assert!(
                w <= limits.max_side && h <= limits.max_side,
                "{w}x{h} ({limits:?})"
            );
            prop_assert!(
                w >= limits.min_side && h >= limits.min_side,
                "{w}x{h} ({limits:?})"
            );
            prop_assert!(u64::from(w) * u64::from(h) <= limits.max_pixels);
            prop_assert_eq!(img.as_raw().len(), w as usize * h as usize * 3);
            Ok((w, h))
        }
        Err(e) => Err(e.code()),
    })
}

/// Small limits, so that a decoder allocating past them shows.
fn small_limits() -> impl Strategy<Value = DecodeLimits> {
    (16u32..=2048, 256u64..=(1 << 20), 0u32..=32).prop_map(|(max_side, max_pixels, min_side)| {
        DecodeLimits {
            max_pixels,
            max_side,
            min_side,
        }
    })
}

// ---- Real images, made here.

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fmt {
    Png,
    Jpeg,
    WebP,
}

#[derive(Debug, Clone)]
struct Picture {
    fmt: Fmt,
    w: u32,
    h: u32,
    /// PNG only: 0 RGB8, 1 RGBA8, 2 grey 8, 3 RGB 16-bit.
    color: u8,
    seed: u8,
    noise: bool,
}

fn pictures() -> impl Strategy<Value = Picture> {
    (
        prop_oneof![Just(Fmt::Png), Just(Fmt::Jpeg), Just(Fmt::WebP)],
        1u32..=72,
        1u32..=72,
        0u8..4,
        any::<u8>(),
        any::<bool>(),
    )
        .prop_map(|(fmt, w, h, color, seed, noise)| Picture {
            fmt,
            w,
            h,
            color,
            seed,
            noise,
        })
}

fn encode(p: &Picture) -> Vec<u8> {
    let px = |x: u32, y: u32, c: u32| -> u8 {
        if p.noise {
            let v = x.wrapping_mul(2_654_435_761)
                ^ y.wrapping_mul(40_503)
                ^ c.wrapping_mul(97)
                ^ u32::from(p.seed);
            (v.wrapping_mul(2_246_822_519) >> 24) as u8
        } else {
            (x * 3 + y * 5 + c * 60 + u32::from(p.seed)) as u8
        }
    };
    let rgb = ImageBuffer::from_fn(p.w, p.h, |x, y| {
        Rgb([px(x, y, 0), px(x, y, 1), px(x, y, 2)])
    });
    let img = match (p.fmt, p.color) {
        (Fmt::Png, 1) | (Fmt::WebP, 1) => {
            DynamicImage::ImageRgba8(ImageBuffer::from_fn(p.w, p.h, |x, y| {
                Rgba([px(x, y, 0), px(x, y, 1), px(x, y, 2), px(x, y, 3)])
            }))
        }
        (Fmt::Png, 2) | (Fmt::Jpeg, 2) => {
            DynamicImage::ImageLuma8(ImageBuffer::from_fn(p.w, p.h, |x, y| Luma([px(x, y, 0)])))
        }
        (Fmt::Png, 3) => DynamicImage::ImageRgb16(ImageBuffer::from_fn(p.w, p.h, |x, y| {
            Rgb([0, 1, 2].map(|c| u16::from(px(x, y, c)) * 257))
        })),
        _ => DynamicImage::ImageRgb8(rgb),
    };
    let format = match p.fmt {
        Fmt::Png => ImageFormat::Png,
        Fmt::Jpeg => ImageFormat::Jpeg,
        Fmt::WebP => ImageFormat::WebP,
    };
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), format).unwrap();
    out
}

/// Writes new dimensions into a file's header (PNG IHDR with its CRC fixed, the JPEG frame
/// header, the lossless WebP header). Returns false if the header was not found.
fn set_dimensions(bytes: &mut [u8], fmt: Fmt, w: u32, h: u32) -> bool {
    match fmt {
        Fmt::Png => {
            if bytes.len() < 33 || &bytes[12..16] != b"IHDR" {
                return false;
            }
            bytes[16..20].copy_from_slice(&w.to_be_bytes());
            bytes[20..24].copy_from_slice(&h.to_be_bytes());
            let crc = crc32fast::hash(&bytes[12..29]);
            bytes[29..33].copy_from_slice(&crc.to_be_bytes());
            true
        }
        Fmt::Jpeg => {
            // SOF0..SOF2: FF Cn, length, precision, height, width.
            let Some(at) = bytes
                .windows(2)
                .position(|m| m[0] == 0xFF && (0xC0..=0xC2).contains(&m[1]))
            else {
                return false;
            };
            if bytes.len() < at + 9 {
                return false;
            }
            bytes[at + 5..at + 7].copy_from_slice(&(h.min(0xFFFF) as u16).to_be_bytes());
            bytes[at + 7..at + 9].copy_from_slice(&(w.min(0xFFFF) as u16).to_be_bytes());
            true
        }
        Fmt::WebP => {
            if bytes.len() < 25 || &bytes[12..16] != b"VP8L" || bytes[20] != 0x2F {
                return false;
            }
            let old = u32::from_le_bytes(bytes[21..25].try_into().unwrap());
            let (w, h) = (w.clamp(1, 1 << 14) - 1, h.clamp(1, 1 << 14) - 1);
            let new = (old & !0x0FFF_FFFF) | w | (h << 14);
            bytes[21..25].copy_from_slice(&new.to_le_bytes());
            true
        }
    }
}

/// The dimensions a header can say, per format.
fn max_declared(fmt: Fmt) -> u32 {
    match fmt {
        Fmt::Png => i32::MAX as u32,
        Fmt::Jpeg => 0xFFFF,
        // 14 bits of width − 1; image-webp reads 16384 as 0 (and refuses it as corrupt).
        Fmt::WebP => (1 << 14) - 1,
    }
}

#[derive(Debug, Clone)]
enum Damage {
    Flip(Index, u8),
    Set(Index, u8),
    Truncate(Index),
    Insert(Index, Vec<u8>),
    Remove(Index, usize),
    /// Another part of the file copied over this one.
    Splice(Index, Index, usize),
}

fn damages() -> impl Strategy<Value = Vec<Damage>> {
    let d = prop_oneof![
        4 => (any::<Index>(), 1u8..).prop_map(|(i, x)| Damage::Flip(i, x)),
        2 => (any::<Index>(), prop_oneof![Just(0u8), Just(0xFF), any::<u8>()]).prop_map(|(i, x)| Damage::Set(i, x)),
        1 => any::<Index>().prop_map(Damage::Truncate),
        1 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(i, b)| Damage::Insert(i, b)),
        1 => (any::<Index>(), 1usize..64).prop_map(|(i, n)| Damage::Remove(i, n)),
        1 => (any::<Index>(), any::<Index>(), 1usize..64).prop_map(|(a, b, n)| Damage::Splice(a, b, n)),
    ];
    prop::collection::vec(d, 1..6)
}

fn apply(bytes: &mut Vec<u8>, damage: &[Damage]) {
    for d in damage {
        if bytes.is_empty() {
            return;
        }
        let n = bytes.len();
        match d {
            Damage::Flip(i, x) => bytes[i.index(n)] ^= x,
            Damage::Set(i, x) => bytes[i.index(n)] = *x,
            Damage::Truncate(i) => bytes.truncate(i.index(n)),
            Damage::Insert(i, b) => {
                let at = i.index(n + 1);
                bytes.splice(at..at, b.iter().copied());
            }
            Damage::Remove(i, len) => {
                let at = i.index(n);
                bytes.drain(at..(at + len).min(n));
            }
            Damage::Splice(a, b, len) => {
                let (from, to) = (a.index(n), b.index(n));
                let len = (*len).min(n - from).min(n - to);
                let piece = bytes[from..from + len].to_vec();
                bytes[to..to + len].copy_from_slice(&piece);
            }
        }
    }
}

/// What `decode_rgb` must answer for an intact image of `w`×`h`.
fn expected(w: u32, h: u32, l: &DecodeLimits) -> Result<(u32, u32), &'static str> {
    if u64::from(w) * u64::from(h) > l.max_pixels || w > l.max_side || h > l.max_side {
        Err("image_too_large")
    } else if w < l.min_side || h < l.min_side {
        Err("image_too_small")
    } else {
        Ok((w, h))
    }
}

proptest! {
    #![proptest_config(config(cases()))]

    #[test]
    fn fuzz_decode_any_bytes_never_panics(
        magic in prop_oneof![
            Just(&b""[..]),
            Just(&b"\xFF\xD8\xFF"[..]),
            Just(&b"\x89PNG\r\n\x1a\n"[..]),
            Just(&b"RIFF\x00\x01\x00\x00WEBPVP8 "[..]),
            Just(&b"RIFF\x00\x01\x00\x00WEBPVP8L"[..]),
            Just(&b"RIFF\x00\x01\x00\x00WEBPVP8X"[..]),
        ],
        body in prop::collection::vec(any::<u8>(), 0..600),
        eoi in any::<bool>(),
        limits in small_limits(),
    ) {
        let mut bytes = magic.to_vec();
        bytes.extend(body);
        if eoi {
            // Past the cut-off-JPEG check, into the decoder.
            bytes.extend([0xFF, 0xD9]);
        }
        let r = decode_checked(&bytes, &limits)?;
        if bytes.is_empty() {
            prop_assert_eq!(r, Err("image_empty"));
        }
    }

    #[test]
    fn fuzz_decode_real_images(p in pictures(), limits in small_limits()) {
        let bytes = encode(&p);
        let r = decode_checked(&bytes, &limits)?;
        prop_assert_eq!(r, expected(p.w, p.h, &limits), "{:?}", p);
    }

    #[test]
    fn fuzz_decode_damaged_images_never_panic(p in pictures(), damage in damages(), limits in small_limits()) {
        let mut bytes = encode(&p);
        apply(&mut bytes, &damage);
        let _ = decode_checked(&bytes, &limits)?;
    }

    #[test]
    fn fuzz_decode_refuses_oversize_declared_dimensions(
        p in pictures(),
        w in prop_oneof![1u32..100, 100u32..=0xFFFF, any::<u32>()],
        h in prop_oneof![1u32..100, 100u32..=0xFFFF, any::<u32>()],
        damage in prop::option::weighted(0.3, damages()),
        limits in small_limits(),
    ) {
        let mut bytes = encode(&p);
        let (w, h) = (w.clamp(1, max_declared(p.fmt)), h.clamp(1, max_declared(p.fmt)));
        if !set_dimensions(&mut bytes, p.fmt, w, h) {
            return Ok(()); // a WebP written in the extended format: no lossless header to edit
        }
        let oversize = expected(w, h, &limits) == Err("image_too_large");
        match damage {
            None => {
                let r = decode_checked(&bytes, &limits)?;
                // A PNG row past the image crate's own 512 MiB allocation limit (tens of
                // millions of pixels wide) is refused while reading the header, as corrupt.
                let absurd_row = p.fmt == Fmt::Png && u64::from(w) * 8 + 1 > 512 << 20;
                if oversize && absurd_row {
                    prop_assert!(matches!(r, Err("image_too_large" | "image_corrupt")), "{:?}", r);
                } else if oversize {
                    // Refused from the header alone, before anything is allocated for pixels.
                    prop_assert_eq!(r, Err("image_too_large"), "{}x{} {:?}", w, h, p);
                } else if let Ok(dims) = r {
                    prop_assert_eq!(dims, (w, h));
                }
            }
            Some(d) => {
                apply(&mut bytes, &d);
                let _ = decode_checked(&bytes, &limits)?;
            }
        }
    }

    /// Any limits a configuration may hold, including none at all (`u64::MAX` pixels).
    #[test]
    fn fuzz_decode_any_limits_never_panic(
        p in pictures(),
        max_pixels in prop_oneof![any::<u64>(), Just(u64::MAX), Just(0u64)],
        max_side in prop_oneof![any::<u32>(), Just(u32::MAX), Just(0u32)],
        min_side in prop_oneof![0u32..64, any::<u32>()],
    ) {
        let limits = DecodeLimits { max_pixels, max_side, min_side };
        let bytes = encode(&p);
        match decode_rgb(&bytes, &limits) {
            Ok(img) => prop_assert_eq!(img.dimensions(), (p.w, p.h)),
            Err(e) => prop_assert_eq!(Err(e.code()), expected(p.w, p.h, &limits)),
        }
    }
}
