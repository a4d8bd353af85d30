//! Staff accounts: who signs in to the console and what each may do.
//!
//! A [`User`] is built from validated parts ([`Email`], [`UserName`], a non-empty set of
//! [`StaffRole`]s), so a stored or submitted account with an empty name, a malformed email or
//! no role cannot exist. Secrets (a password hash, an SSO subject) are not part of it: the
//! store keeps them beside the user and never hands them to the API.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::UserId;

/// What a staff member may do. A user holds one or more.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    /// Runs calls: takes offers from the queue, verifies, decides (the maker).
    Agent,
    /// Reviews decided cases (the checker); never the agent of the same case.
    Auditor,
    /// Watches the queue and the agents, joins calls silently, reassigns waiting customers.
    Supervisor,
    /// Manages accounts.
    Admin,
}

impl StaffRole {
    pub const ALL: [StaffRole; 4] = [
        StaffRole::Agent,
        StaffRole::Auditor,
        StaffRole::Supervisor,
        StaffRole::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StaffRole::Agent => "agent",
            StaffRole::Auditor => "auditor",
            StaffRole::Supervisor => "supervisor",
            StaffRole::Admin => "admin",
        }
    }
}

impl fmt::Display for StaffRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StaffRole {
    type Err = InvalidUser;
    fn from_str(s: &str) -> Result<Self, InvalidUser> {
        StaffRole::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| InvalidUser::Role(s.chars().take(40).collect()))
    }
}

/// Why a user's input was refused (a 422 at the edge, with [`InvalidUser::code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidUser {
    #[error("the email address is not valid")]
    Email,
    #[error("the name must be 1 to 100 characters, without control characters")]
    Name,
    #[error("unknown role {0:?} (agent, auditor, supervisor, admin)")]
    Role(String),
    #[error("a user needs at least one role")]
    NoRole,
    #[error("a skill must be 1 to 40 characters of letters, digits, '-' or '_'")]
    Skill,
}

impl InvalidUser {
    pub fn code(&self) -> &'static str {
        match self {
            InvalidUser::Email => "invalid_email",
            InvalidUser::Name => "invalid_name",
            InvalidUser::Role(_) | InvalidUser::NoRole => "invalid_role",
            InvalidUser::Skill => "invalid_skill",
        }
    }
}

/// An email address, trimmed and lower-cased: one `@`, a non-empty local part, a domain with a
/// dot and no spaces; at most 254 characters. (Deliverability is the mail server's business.)
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    schemars::JsonSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, format = "email", example = "asha@bank.example")]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Self, InvalidUser> {
        let s = s.trim().to_lowercase();
        let (local, domain) = s.split_once('@').ok_or(InvalidUser::Email)?;
        let ok = !local.is_empty()
            && s.len() <= 254
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !s.chars().any(|c| c.is_whitespace() || c.is_control());
        if ok {
            Ok(Self(s))
        } else {
            Err(InvalidUser::Email)
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_newtype!(Email, InvalidUser);

/// A person's display name: trimmed, 1 to 100 characters, no control characters.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    schemars::JsonSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "Asha Rao")]
pub struct UserName(String);

impl UserName {
    pub fn parse(s: &str) -> Result<Self, InvalidUser> {
        let s = s.trim();
        let n = s.chars().count();
        if (1..=100).contains(&n) && !s.chars().any(char::is_control) {
            Ok(Self(s.to_string()))
        } else {
            Err(InvalidUser::Name)
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_newtype!(UserName, InvalidUser);

/// One skill or requirement value (`hi`, `personal_loan`, `north`, `vip`): lower-cased,
/// 1 to 40 characters of ASCII letters, digits, `-` and `_`.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    schemars::JsonSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "hi")]
pub struct Skill(String);

impl Skill {
    pub fn parse(s: &str) -> Result<Self, InvalidUser> {
        let s = s.trim().to_ascii_lowercase();
        if (1..=40).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            Ok(Self(s))
        } else {
            Err(InvalidUser::Skill)
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_newtype!(Skill, InvalidUser);

/// What an agent can serve, or (as a session's requirements) what a call needs: languages
/// (`hi`, `en`), products (`personal_loan`), regions (`north`) and free tags (`vip`). An
/// agent serves a session when, for each dimension the session names, the agent has at least
/// one of the listed values (languages: the customer speaks any of them), and the agent has
/// every tag the session names.
#[derive(
    Debug,
    Clone,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    schemars::JsonSchema,
)]
#[serde(default)]
pub struct Skills {
    pub languages: BTreeSet<Skill>,
    pub products: BTreeSet<Skill>,
    pub regions: BTreeSet<Skill>,
    pub tags: BTreeSet<Skill>,
}

impl Skills {
    /// Whether an agent with these skills can serve a session that requires `needs`.
    pub fn serves(&self, needs: &Skills) -> bool {
        let any = |have: &BTreeSet<Skill>, want: &BTreeSet<Skill>| {
            want.is_empty() || !have.is_disjoint(want)
        };
        any(&self.languages, &needs.languages)
            && any(&self.products, &needs.products)
            && any(&self.regions, &needs.regions)
            && needs.tags.is_subset(&self.tags)
    }

    pub fn is_empty(&self) -> bool {
        self.languages.is_empty()
            && self.products.is_empty()
            && self.regions.is_empty()
            && self.tags.is_empty()
    }
}

/// A staff account, as the API shows it (no secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub name: UserName,
    /// Never empty.
    #[schema(value_type = Vec<StaffRole>)]
    pub roles: BTreeSet<StaffRole>,
    pub skills: Skills,
    /// A disabled user cannot sign in, and their console sessions end.
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

impl User {
    pub fn new(
        email: Email,
        name: UserName,
        roles: BTreeSet<StaffRole>,
        skills: Skills,
        now: DateTime<Utc>,
    ) -> Result<Self, InvalidUser> {
        if roles.is_empty() {
            return Err(InvalidUser::NoRole);
        }
        Ok(Self {
            id: UserId::new(),
            email,
            name,
            roles,
            skills,
            disabled: false,
            created_at: now,
        })
    }

    pub fn has(&self, role: StaffRole) -> bool {
        self.roles.contains(&role)
    }
}

/// A user named in a record (an attempt, a decision, an audit, an activity) and in the result
/// document: who they were when they acted, kept even if the account changes later.
#[derive(
    Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, schemars::JsonSchema,
)]
pub struct UserRef {
    pub id: UserId,
    pub name: String,
    pub email: String,
}

impl From<&User> for UserRef {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            name: u.name.to_string(),
            email: u.email.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skills(languages: &[&str], tags: &[&str]) -> Skills {
        Skills {
            languages: languages.iter().map(|s| Skill::parse(s).unwrap()).collect(),
            tags: tags.iter().map(|s| Skill::parse(s).unwrap()).collect(),
            ..Skills::default()
        }
    }

    #[test]
    fn emails_are_normalised_or_refused() {
        assert_eq!(
            Email::parse("  Asha@Bank.Example ").unwrap().as_str(),
            "asha@bank.example"
        );
        for bad in [
            "",
            "asha",
            "@bank.example",
            "asha@bank",
            "asha@@bank.example",
            "as ha@bank.example",
            "asha@.example",
            "asha@bank.",
            "a\u{0}@b.c",
        ] {
            assert_eq!(Email::parse(bad), Err(InvalidUser::Email), "{bad:?}");
        }
        assert!(serde_json::from_str::<Email>("\"nope\"").is_err());
    }

    #[test]
    fn names_roles_and_skills_validate() {
        assert_eq!(UserName::parse(" Asha Rao ").unwrap().as_str(), "Asha Rao");
        assert_eq!(UserName::parse("   "), Err(InvalidUser::Name));
        assert_eq!(UserName::parse(&"x".repeat(101)), Err(InvalidUser::Name));
        assert_eq!(UserName::parse("a\nb"), Err(InvalidUser::Name));
        assert_eq!("supervisor".parse::<StaffRole>(), Ok(StaffRole::Supervisor));
        assert_eq!(
            "root".parse::<StaffRole>().unwrap_err().code(),
            "invalid_role"
        );
        assert_eq!(Skill::parse("HI").unwrap().as_str(), "hi");
        assert_eq!(Skill::parse("hindi language"), Err(InvalidUser::Skill));
        let now = Utc::now();
        let e = Email::parse("a@b.co").unwrap();
        let n = UserName::parse("A").unwrap();
        assert_eq!(
            User::new(e, n, BTreeSet::new(), Skills::default(), now),
            Err(InvalidUser::NoRole)
        );
    }

    #[test]
    fn an_agent_serves_a_session_when_each_named_dimension_overlaps_and_has_every_tag() {
        let agent = skills(&["hi", "en"], &["vip"]);
        assert!(agent.serves(&Skills::default()));
        assert!(agent.serves(&skills(&["hi"], &[])));
        assert!(agent.serves(&skills(&["ta", "en"], &["vip"])));
        assert!(!agent.serves(&skills(&["ta"], &[])));
        assert!(!agent.serves(&skills(&[], &["vip", "nri"])));
        let products = Skills {
            products: [Skill::parse("home_loan").unwrap()].into(),
            ..Skills::default()
        };
        assert!(
            !agent.serves(&products),
            "an agent with no products does not serve a product requirement"
        );
    }
}
