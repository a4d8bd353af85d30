//! Real encoded media for the simulated peers: a VP8 clip and an Opus clip, encoded once
//! by `ffmpeg` into `~/.cache/vkyc-loadtest/` (kept and reused; generated only when
//! missing), read back (IVF frames, Ogg Opus packets) and packetised into RTP payloads the
//! way a browser's sender would (VP8 payload descriptor, MTU 1200).
//!
//! Every publisher loops the same clip; the sequence numbers and timestamps are the
//! publisher's own, so the receiver sees a continuous stream.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use webrtc::media::io::ivf_reader::IVFReader;
use webrtc::rtp::codecs::vp8::Vp8Payloader;
use webrtc::rtp::packetizer::Payloader;

/// RTP payload budget per packet (as browsers: ~1200 bytes of payload).
pub const MTU: usize = 1200;

/// What to encode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaProfile {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub video_kbps: u32,
    pub audio_kbps: u32,
    /// Length of the clip that is looped, in seconds.
    pub clip_secs: u32,
}

impl Default for MediaProfile {
    fn default() -> Self {
        Self {
            width: 640,
            height: 360,
            fps: 30,
            video_kbps: 500,
            audio_kbps: 32,
            clip_secs: 10,
        }
    }
}

/// One video frame as RTP payloads (the last one carries the marker bit).
#[derive(Debug, Clone)]
pub struct VideoFrame {
    pub payloads: Vec<Bytes>,
}

/// The clips, packetised.
#[derive(Debug, Clone)]
pub struct MediaSamples {
    pub profile: MediaProfile,
    pub video: Vec<VideoFrame>,
    /// One Opus packet (20 ms) each.
    pub audio: Vec<Bytes>,
}

impl MediaSamples {
    /// Average RTP payload bit rate of the video clip, in kbit/s.
    pub fn video_kbps(&self) -> f64 {
        let bytes: usize = self
            .video
            .iter()
            .flat_map(|f| f.payloads.iter())
            .map(Bytes::len)
            .sum();
        bytes as f64 * 8.0 / 1000.0 / (self.video.len() as f64 / self.profile.fps as f64)
    }
}

pub fn default_cache_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(".cache/vkyc-loadtest")
}

/// Load the clips for `profile` from `dir`, encoding them with ffmpeg first if missing.
pub fn load_or_generate(dir: &Path, profile: &MediaProfile) -> Result<MediaSamples> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let p = profile;
    let video = dir.join(format!(
        "vp8-{}x{}-{}fps-{}k-{}s.ivf",
        p.width, p.height, p.fps, p.video_kbps, p.clip_secs
    ));
    let audio = dir.join(format!("opus-{}k-{}s.ogg", p.audio_kbps, p.clip_secs));
    if !video.exists() {
        let size = format!("testsrc2=size={}x{}:rate={}", p.width, p.height, p.fps);
        let rate = format!("{}k", p.video_kbps);
        let buf = format!("{}k", p.video_kbps / 2);
        #[rustfmt::skip]
        let args = ["-f", "lavfi", "-i", &size, "-t", &p.clip_secs.to_string(), "-c:v", "libvpx",
            "-b:v", &rate, "-minrate", &rate, "-maxrate", &rate, "-bufsize", &buf, "-g", &(p.fps * 2).to_string(),
            "-deadline", "realtime", "-cpu-used", "8", "-pix_fmt", "yuv420p"];
        ffmpeg(&args, &video)?;
    }
    if !audio.exists() {
        #[rustfmt::skip]
        let args = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", &p.clip_secs.to_string(),
            "-c:a", "libopus", "-b:a", &format!("{}k", p.audio_kbps), "-frame_duration", "20", "-ac", "1"];
        ffmpeg(&args, &audio)?;
    }
    let video = read_ivf(&std::fs::read(&video)?).with_context(|| video.display().to_string())?;
    let audio =
        ogg_packets(&std::fs::read(&audio)?).with_context(|| audio.display().to_string())?;
    if video.is_empty() || audio.is_empty() {
        bail!("empty media clips in {}", dir.display());
    }
    Ok(MediaSamples {
        profile: profile.clone(),
        video,
        audio,
    })
}

/// Run ffmpeg into a temporary file of this process's own, then move it into place: no
/// half-written clip is ever taken for a cached one, and test processes that make the same
/// clip at once (a fresh machine) each write their own file and rename it over the other's.
fn ffmpeg(args: &[&str], out: &Path) -> Result<()> {
    let ext = out.extension().and_then(|e| e.to_str()).unwrap_or("bin");
    let tmp = out.with_extension(format!(
        "tmp{}-{:x}.{ext}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .arg(&tmp)
        .status()
        .map_err(|e| anyhow::anyhow!("cannot run ffmpeg ({e}): install it (Debian: apt-get install ffmpeg) or put the clip at {}", out.display()))?;
    if !status.success() {
        bail!("ffmpeg failed ({status}) making {}", out.display());
    }
    std::fs::rename(&tmp, out)?;
    Ok(())
}

/// IVF (VP8) file → frames packetised into RTP payloads.
pub fn read_ivf(data: &[u8]) -> Result<Vec<VideoFrame>> {
    let (mut reader, header) =
        IVFReader::new(std::io::Cursor::new(data)).context("not an IVF file")?;
    if &header.four_cc != b"VP80" {
        bail!(
            "IVF codec is {:?}, not VP8",
            String::from_utf8_lossy(&header.four_cc)
        );
    }
    let mut payloader = Vp8Payloader::default();
    let mut frames = Vec::new();
    while let Ok((frame, _)) = reader.parse_next_frame() {
        let payloads = payloader.payload(MTU, &frame.freeze())?;
        if !payloads.is_empty() {
            frames.push(VideoFrame { payloads });
        }
    }
    Ok(frames)
}

/// Ogg Opus file → Opus packets (the two header packets, OpusHead and OpusTags, skipped).
/// Packets are joined across segments and pages per the Ogg lacing rules.
pub fn ogg_packets(data: &[u8]) -> Result<Vec<Bytes>> {
    let mut packets = Vec::new();
    let mut current = Vec::new();
    let mut pos = 0;
    while pos + 27 <= data.len() {
        if &data[pos..pos + 4] != b"OggS" {
            bail!("bad Ogg page at byte {pos}");
        }
        let nseg = data[pos + 26] as usize;
        let table = data
            .get(pos + 27..pos + 27 + nseg)
            .context("truncated Ogg page")?;
        let mut body = pos + 27 + nseg;
        for &lace in table {
            let seg = data
                .get(body..body + lace as usize)
                .context("truncated Ogg segment")?;
            current.extend_from_slice(seg);
            body += lace as usize;
            if lace < 255 {
                packets.push(Bytes::from(std::mem::take(&mut current)));
            }
        }
        pos = body;
    }
    let audio: Vec<Bytes> = packets
        .into_iter()
        .filter(|p| !p.starts_with(b"OpusHead") && !p.starts_with(b"OpusTags"))
        .collect();
    Ok(audio)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(segments: &[&[u8]]) -> Vec<u8> {
        let mut v = b"OggS".to_vec();
        v.extend_from_slice(&[0; 22]);
        let mut table = Vec::new();
        for s in segments {
            let mut n = s.len();
            while n >= 255 {
                table.push(255u8);
                n -= 255;
            }
            table.push(n as u8);
        }
        v.push(table.len() as u8);
        v.extend_from_slice(&table);
        for s in segments {
            v.extend_from_slice(s);
        }
        v
    }

    #[test]
    fn ogg_packets_are_split_by_lacing_and_headers_skipped() {
        let big = vec![7u8; 300];
        let mut data = page(&[b"OpusHead-xxxxxxxxxxx"]);
        data.extend(page(&[b"OpusTags-yy"]));
        data.extend(page(&[b"abc", &big, b"de"]));
        let p = ogg_packets(&data).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(&p[0][..], b"abc");
        assert_eq!(p[1].len(), 300);
        assert_eq!(&p[2][..], b"de");
    }

    #[test]
    fn garbage_is_not_ogg() {
        assert!(ogg_packets(b"this is not an ogg file at all, no sir").is_err());
    }
}
