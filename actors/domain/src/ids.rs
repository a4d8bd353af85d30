//! Typed ids. Each wraps a UUID and (de)serialises as its plain string form, so the wire
//! format is unchanged; the type keeps a session id from being passed where a peer's is meant.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident, $new:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema, schemars::JsonSchema)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh id.
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                Self($new())
            }
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
            pub const fn into_uuid(self) -> Uuid {
                self.0
            }
            /// The 32 hex digits without dashes (blob keys, file names).
            pub fn simple(&self) -> uuid::fmt::Simple {
                self.0.simple()
            }
            pub const fn as_u128(&self) -> u128 {
                self.0.as_u128()
            }
            pub const fn from_u128(v: u128) -> Self {
                Self(Uuid::from_u128(v))
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, uuid::Error> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }

        impl PartialEq<Uuid> for $name {
            fn eq(&self, other: &Uuid) -> bool {
                self.0 == *other
            }
        }
    };
}

uuid_id!(
    /// A KYC session. A live call's room is keyed by the session it belongs to (a group's
    /// parent session for all its applicants).
    SessionId,
    Uuid::new_v4
);

uuid_id!(
    /// One WebRTC connection in a room. A participant who rejoins gets a new peer id.
    PeerId,
    Uuid::new_v4
);

uuid_id!(
    /// A staff member's account (agent, auditor, supervisor, admin).
    UserId,
    Uuid::new_v4
);

uuid_id!(
    /// One offer of a waiting customer to an agent (the desk's queue rings the agent).
    OfferId,
    Uuid::new_v4
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_keep_the_uuid_wire_form() {
        let id = SessionId::new();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{}\"", id.as_uuid()));
        assert_eq!(serde_json::from_str::<SessionId>(&json).unwrap(), id);
        assert_eq!(id.to_string().parse::<SessionId>().unwrap(), id);
        assert!("not-a-uuid".parse::<SessionId>().is_err());
    }
}
