//! The activity log: who read a session's personal data or decided on it, what, when and from
//! where — the record RBI's V-CIP directions ask for, with the official's credentials.
//!
//! Each session has its own chain. Entry `n` carries the MAC of entry `n - 1` (`prev`; the
//! first carries [`GENESIS`]) and its own `mac` = HMAC-SHA-256 over `prev` and the entry's
//! canonical fields, under a key that is not kept in the database. So an entry changed,
//! removed from the middle, moved or forged without the key breaks the chain at that point
//! ([`verify_chain`]); and an entry removed from the end breaks the chain's `head` (count and
//! last MAC), which the store keeps beside it.
//!
//! No applicant data goes in an entry: ids, roles, the action, the client address.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::ids::SessionId;

/// The `prev` of a chain's first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActivityAction {
    /// A capture's image was served.
    CaptureRead,
    /// A call recording's media was served (with a token, or by a signed URL).
    RecordingRead,
    /// A signed URL to a recording was issued.
    RecordingLinkIssued,
    /// A self-recorded video was served.
    SelfRecordVideoRead,
    /// The KYC case document (OCR fields, scores, answers) was served.
    CaseRead,
    /// A step's verdict was recorded.
    StepDecided,
    /// The agent's decision on the case.
    CaseDecided,
    /// The auditor's verdict.
    Audited,
    /// A legal hold was placed or lifted.
    LegalHoldChanged,
    /// The applicant's personal data was erased (a data subject's request).
    Erased,
    /// Data past its retention was purged.
    Purged,
}

/// Who acted: the kind of credential and its holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Actor {
    /// `api_key`, `staff` (a signed-in console), `participant` (a join token), `signed_url`
    /// or `system`.
    pub kind: String,
    /// The staff user's id, the participant id, the recording link's id, or the system
    /// component; empty for the API key.
    pub id: String,
    /// The staff user's email (the official's credentials), for `staff`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The role: a participant's (`agent`, `customer`, `observer`) or the staff roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

impl Actor {
    pub fn system(component: &str) -> Self {
        Self {
            kind: "system".into(),
            id: component.into(),
            email: None,
            role: None,
        }
    }
}

/// An entry to append: the store gives it its place and seals it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewActivity {
    pub session_id: SessionId,
    pub actor: Actor,
    pub action: ActivityAction,
    /// What was read or decided: a capture, recording or step id, a verdict.
    pub target: Option<String>,
    /// The client's address.
    pub from: Option<String>,
    pub at: DateTime<Utc>,
}

/// One sealed entry of a session's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActivityEntry {
    pub session_id: SessionId,
    /// 1, 2, 3… within the session.
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub action: ActivityAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The previous entry's `mac` (hex), or [`GENESIS`].
    pub prev: String,
    /// HMAC-SHA-256 (hex) of `prev` and this entry.
    pub mac: String,
}

/// The end of a session's chain, kept beside it: how many entries and the last MAC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    pub count: u64,
    pub mac: String,
}

impl Default for ChainHead {
    fn default() -> Self {
        Self {
            count: 0,
            mac: GENESIS.into(),
        }
    }
}

/// The key the chains are sealed with (kept outside the store).
#[derive(Clone)]
pub struct ChainKey(Vec<u8>);

impl ChainKey {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    fn mac(&self, prev: &str, e: &ActivityEntry) -> String {
        let mut m = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        // Length-prefixed fields: no two different entries hash the same bytes.
        let fields = [
            prev.to_string(),
            e.session_id.to_string(),
            e.seq.to_string(),
            e.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            serde_json::to_string(&e.actor).expect("an actor serialises"),
            serde_json::to_string(&e.action).expect("an action serialises"),
            e.target.clone().unwrap_or_default(),
            e.from.clone().unwrap_or_default(),
        ];
        for f in &fields {
            m.update(&(f.len() as u64).to_be_bytes());
            m.update(f.as_bytes());
        }
        m.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Seals `new` as the entry after `head`; the new head is `(head.count + 1, entry.mac)`.
    pub fn seal(&self, head: &ChainHead, new: NewActivity) -> ActivityEntry {
        // Stored at microsecond precision, so the MAC is over what is read back.
        let at = DateTime::from_timestamp_micros(new.at.timestamp_micros()).unwrap_or(new.at);
        let mut e = ActivityEntry {
            session_id: new.session_id,
            seq: head.count + 1,
            at,
            actor: new.actor,
            action: new.action,
            target: new.target,
            from: new.from,
            prev: head.mac.clone(),
            mac: String::new(),
        };
        e.mac = self.mac(&e.prev, &e);
        e
    }
}

/// Where a chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error(
        "entry {seq}: its MAC does not match its contents (changed, or not sealed with this key)"
    )]
    Tampered { seq: u64 },
    #[error("entry {found} found where entry {expected} belongs (an entry is missing or moved)")]
    Gap { expected: u64, found: u64 },
    #[error("entry {seq} does not follow the entry before it (prev differs)")]
    Unlinked { seq: u64 },
    #[error("the chain has {found} entries, its head says {expected} (entries removed from the end, or the head changed)")]
    Truncated { expected: u64, found: u64 },
    #[error("the chain's last MAC differs from its head")]
    HeadMismatch,
    #[error("entry {seq} belongs to another session")]
    Misplaced { seq: u64 },
}

/// Checks a session's entries (in `seq` order) against its head.
pub fn verify_chain(
    key: &ChainKey,
    session: SessionId,
    entries: &[ActivityEntry],
    head: &ChainHead,
) -> Result<(), ChainBreak> {
    let mut prev = GENESIS.to_string();
    for (i, e) in entries.iter().enumerate() {
        let expected = i as u64 + 1;
        if e.session_id != session {
            return Err(ChainBreak::Misplaced { seq: e.seq });
        }
        if e.seq != expected {
            return Err(ChainBreak::Gap {
                expected,
                found: e.seq,
            });
        }
        if key.mac(&e.prev, e) != e.mac {
            return Err(ChainBreak::Tampered { seq: e.seq });
        }
        if e.prev != prev {
            return Err(ChainBreak::Unlinked { seq: e.seq });
        }
        prev = e.mac.clone();
    }
    if entries.len() as u64 != head.count {
        return Err(ChainBreak::Truncated {
            expected: head.count,
            found: entries.len() as u64,
        });
    }
    if prev != head.mac {
        return Err(ChainBreak::HeadMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(key: &ChainKey, n: usize) -> (SessionId, Vec<ActivityEntry>, ChainHead) {
        let sid = SessionId::new();
        let mut head = ChainHead::default();
        let mut out = vec![];
        for i in 0..n {
            let e = key.seal(
                &head,
                NewActivity {
                    session_id: sid,
                    actor: Actor {
                        kind: "staff".into(),
                        id: format!("user-{i}"),
                        email: Some("auditor@bank.example".into()),
                        role: Some("auditor".into()),
                    },
                    action: ActivityAction::CaptureRead,
                    target: Some(format!("capture-{i}")),
                    from: Some("127.0.0.1".into()),
                    at: Utc::now(),
                },
            );
            head = ChainHead {
                count: e.seq,
                mac: e.mac.clone(),
            };
            out.push(e);
        }
        (sid, out, head)
    }

    #[test]
    fn a_sealed_chain_verifies_and_every_kind_of_tampering_is_found() {
        let key = ChainKey::new(b"k".to_vec());
        let (sid, entries, head) = chain(&key, 4);
        assert_eq!(verify_chain(&key, sid, &entries, &head), Ok(()));
        assert_eq!(entries[0].prev, GENESIS);

        let mut changed = entries.clone();
        changed[1].from = Some("127.0.0.2".into());
        assert_eq!(
            verify_chain(&key, sid, &changed, &head),
            Err(ChainBreak::Tampered { seq: 2 })
        );

        let mut missing = entries.clone();
        missing.remove(2);
        assert_eq!(
            verify_chain(&key, sid, &missing, &head),
            Err(ChainBreak::Gap {
                expected: 3,
                found: 4
            })
        );

        let cut = &entries[..3];
        assert_eq!(
            verify_chain(&key, sid, cut, &head),
            Err(ChainBreak::Truncated {
                expected: 4,
                found: 3
            })
        );

        let other = ChainKey::new(b"another key".to_vec());
        assert_eq!(
            verify_chain(&other, sid, &entries, &head),
            Err(ChainBreak::Tampered { seq: 1 })
        );

        // A forged chain re-sealed from scratch with another key does not pass either.
        let (_, forged, forged_head) = chain(&other, 4);
        assert!(verify_chain(&key, sid, &forged, &forged_head).is_err());
    }
}
