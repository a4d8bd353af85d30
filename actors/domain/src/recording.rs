//! A call's recording as the rest of vkyc sees it: its container, its tracks and the summary
//! the recorder gives when the file is finished. The recorder (`vkyc-media`) produces these;
//! the `recording.*` events carry them, and the stores keep them as the recording's metadata.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::call::{MediaKind, Role};

/// The file format of a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Container {
    /// WebM (Matroska): VP8 video and Opus audio as they arrived, no re-encoding.
    Webm,
}

impl Container {
    pub fn as_str(self) -> &'static str {
        match self {
            Container::Webm => "webm",
        }
    }
}

/// One WebM track of the finished file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema, JsonSchema)]
pub struct RecordedTrack {
    #[schemars(range(min = 1))]
    pub number: u64,
    pub kind: MediaKind,
    pub role: Role,
    pub participant_id: String,
    pub frames: u64,
    pub packets: u64,
    pub lost_packets: u64,
    /// First frame's media time, ms.
    pub start_ms: i64,
    pub synced_by_sender_report: bool,
}

/// What the recorder reports when it has finished a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RecordingSummary {
    /// Length of the recording's media, ms.
    pub duration_ms: i64,
    /// Size of the (encrypted) file.
    pub bytes: u64,
    pub tracks: Vec<RecordedTrack>,
    pub packets_recorded: u64,
    /// Late frames whose timestamp was moved forward to keep the file valid.
    pub frames_clamped: u64,
    /// Time from the end of the call to the file being ready, ms.
    pub finalize_ms: u64,
}
