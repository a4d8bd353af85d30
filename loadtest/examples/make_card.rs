//! Writes a synthetic PAN card (PNG) made with a given face photo, and prints what is printed
//! on it as JSON (`name`, `pan_number`, `date_of_birth`, …). Used by the browser tests.
//!
//! ```text
//! cargo run -q -p vkyc-loadtest --example make_card -- PHOTO SEED OUT.png
//! ```

use anyhow::{bail, Context, Result};
use vkyc_loadtest::cards::{pan_card, portrait_crop, Fonts};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [photo, seed, out] = args.as_slice() else {
        bail!("usage: make_card PHOTO SEED OUT.png");
    };
    let seed: u64 = seed
        .parse()
        .with_context(|| format!("seed is not a number: {seed}"))?;
    let img = image::open(photo)
        .with_context(|| format!("reading {photo}"))?
        .to_rgb8();
    let fonts = Fonts::system()?;
    let (card, truth) = pan_card(seed, &portrait_crop(&img), &fonts);
    card.save(out).with_context(|| format!("writing {out}"))?;
    println!("{}", serde_json::to_string(&truth)?);
    Ok(())
}
