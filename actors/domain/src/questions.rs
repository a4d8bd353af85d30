//! Question banks: the lender's sets of questions the agent asks in the `questions` step.
//!
//! Regulators ask that the questions vary between calls (a customer coached on last week's
//! call should not know this one's), so a session does not ask a fixed list: when it is
//! created, [`QuestionBank::draw`] picks `ask` of the bank's questions — every `always`
//! question, then a random choice of the others — and, unless the bank's order is `fixed`,
//! puts them in a random order. The lender may give, per session, the answer it expects to
//! each question (`expected`: what its own records say — the applicant's pincode, the loan
//! they applied for); the agent's recorded value is compared with it (`original` vs `value`,
//! `edited`), as in the KYC reports banks already read.
//!
//! What was drawn is copied into the session ([`AskedQuestion`]: id, text, expected), so
//! later edits to the bank never change what a session asked. Expected values are the
//! lender's records about a person: personal data, never in logs or events.

use std::collections::{BTreeMap, HashSet};

use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

/// A bank or question definition, or a session's question request, that breaks a rule; the
/// message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidQuestions(pub String);

fn invalid(msg: impl Into<String>) -> InvalidQuestions {
    InvalidQuestions(msg.into())
}

/// Trimmed text of 1 to `max` characters with no control characters (line breaks included:
/// a question is read aloud from one line).
fn clean_text(field: &str, s: &str, max: usize) -> Result<String, InvalidQuestions> {
    let t = s.trim();
    let n = t.chars().count();
    if n == 0 || n > max || t.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{field}: 1 to {max} characters, no control characters"
        )));
    }
    Ok(t.to_string())
}

/// Checks a slug: 1 to 40 characters of lower-case ASCII letters, digits, `-` and `_`.
fn slug(field: &str, s: &str) -> Result<String, InvalidQuestions> {
    let ok = (1..=40).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(s.to_string())
    } else {
        Err(invalid(format!(
            "{field}: 1 to 40 characters of a-z, 0-9, - and _ (got {s:?})"
        )))
    }
}

macro_rules! slug_type {
    ($name:ident, $field:literal, $example:literal, $doc:literal) => {
        #[doc = $doc]
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
        #[schema(value_type = String, example = $example)]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<Self, InvalidQuestions> {
                slug($field, s).map(Self)
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        text_newtype!($name, InvalidQuestions);
    };
}

slug_type!(
    BankId,
    "bank",
    "personal_loan",
    "A question bank's id: 1 to 40 characters of a-z, 0-9, `-` and `_`."
);
slug_type!(
    QuestionId,
    "question id",
    "pincode",
    "A question's id within its bank (the answers name it): a slug like a bank's id."
);

/// How the drawn questions are ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QuestionOrder {
    /// A new order for every session (the default).
    #[default]
    Random,
    /// The bank's order (the drawn questions keep their places relative to each other).
    Fixed,
}

/// One question of a bank.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BankQuestion {
    pub id: QuestionId,
    /// What the agent reads out: 1 to 300 characters.
    pub text: String,
    /// Asked in every session (e.g. "Have you applied for a loan with us?"); the others are
    /// drawn at random.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub always: bool,
}

/// A lender's set of questions, as an admin or the lender's back end defines it (also the
/// body of `PUT /v1/question-banks/{id}`, without the id). Deserialising it validates it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "RawBank")]
pub struct QuestionBank {
    pub id: BankId,
    /// A name for people (`Personal loan — standard`): 1 to 100 characters.
    pub name: String,
    /// How many questions a session asks: at least the `always` ones, at most all.
    pub ask: usize,
    #[serde(default)]
    pub order: QuestionOrder,
    /// 1 to 100 questions with distinct ids.
    pub questions: Vec<BankQuestion>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBank {
    id: BankId,
    name: String,
    ask: usize,
    #[serde(default)]
    order: QuestionOrder,
    questions: Vec<BankQuestion>,
}

impl TryFrom<RawBank> for QuestionBank {
    type Error = InvalidQuestions;
    fn try_from(r: RawBank) -> Result<Self, InvalidQuestions> {
        Self::new(r.id, &r.name, r.ask, r.order, r.questions)
    }
}

/// The body of `PUT /v1/question-banks/{id}`: a bank without its id (the path names it).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BankDefinition {
    pub name: String,
    pub ask: usize,
    #[serde(default)]
    pub order: QuestionOrder,
    pub questions: Vec<BankQuestion>,
}

impl QuestionBank {
    pub fn new(
        id: BankId,
        name: &str,
        ask: usize,
        order: QuestionOrder,
        questions: Vec<BankQuestion>,
    ) -> Result<Self, InvalidQuestions> {
        let name = clean_text("name", name, 100)?;
        if questions.is_empty() || questions.len() > 100 {
            return Err(invalid("questions: 1 to 100"));
        }
        let mut seen = HashSet::new();
        let mut clean = Vec::with_capacity(questions.len());
        for q in questions {
            if !seen.insert(q.id.clone()) {
                return Err(invalid(format!(
                    "questions: the id {:?} twice",
                    q.id.as_str()
                )));
            }
            let text = clean_text(&format!("questions[{}].text", q.id), &q.text, 300)?;
            clean.push(BankQuestion { text, ..q });
        }
        let always = clean.iter().filter(|q| q.always).count();
        if ask == 0 || ask < always || ask > clean.len() {
            return Err(invalid(format!(
                "ask: from the {always} `always` question(s) (and at least 1) to all {}",
                clean.len()
            )));
        }
        Ok(Self {
            id,
            name,
            ask,
            order,
            questions: clean,
        })
    }

    pub fn define(id: BankId, d: BankDefinition) -> Result<Self, InvalidQuestions> {
        Self::new(id, &d.name, d.ask, d.order, d.questions)
    }

    fn has(&self, id: &QuestionId) -> bool {
        self.questions.iter().any(|q| &q.id == id)
    }

    /// The questions one session asks: every `always` question and a random choice of the
    /// others, `ask` in all, in a random order (or the bank's, for `fixed`), each with the
    /// answer the lender expects if it gave one. An expected answer to a question the bank
    /// does not have is an error (a typo would otherwise silently ask nothing).
    pub fn draw(
        &self,
        expected: &ExpectedAnswers,
        rng: &mut impl rand::Rng,
    ) -> Result<Vec<AskedQuestion>, InvalidQuestions> {
        if let Some(unknown) = expected.0.keys().find(|id| !self.has(id)) {
            return Err(invalid(format!(
                "questions.expected: the bank {:?} has no question {:?}",
                self.id.as_str(),
                unknown.as_str()
            )));
        }
        let (always, mut others): (Vec<usize>, Vec<usize>) =
            (0..self.questions.len()).partition(|&i| self.questions[i].always);
        others.shuffle(rng);
        let mut picked: Vec<usize> = always;
        picked.extend(others.into_iter().take(self.ask - picked.len()));
        match self.order {
            QuestionOrder::Random => picked.shuffle(rng),
            QuestionOrder::Fixed => picked.sort_unstable(),
        }
        Ok(picked
            .into_iter()
            .map(|i| {
                let q = &self.questions[i];
                AskedQuestion {
                    id: q.id.clone(),
                    text: q.text.clone(),
                    expected: expected.0.get(&q.id).cloned(),
                }
            })
            .collect())
    }
}

/// The answers the lender expects, by question id: each 1 to 500 characters, no control
/// characters. Personal data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "BTreeMap<QuestionId, String>")]
#[schema(value_type = BTreeMap<String, String>, example = json!({"pincode": "411001"}))]
pub struct ExpectedAnswers(BTreeMap<QuestionId, String>);

impl TryFrom<BTreeMap<QuestionId, String>> for ExpectedAnswers {
    type Error = InvalidQuestions;
    fn try_from(m: BTreeMap<QuestionId, String>) -> Result<Self, InvalidQuestions> {
        if m.len() > 100 {
            return Err(invalid("questions.expected: at most 100 answers"));
        }
        m.into_iter()
            .map(|(id, v)| {
                let v = clean_text(&format!("questions.expected.{id}"), &v, 500)?;
                Ok((id, v))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

/// What a new session asks (`NewSession::questions`): a bank, and the answers the lender
/// expects. Without it, a session whose workflow has a questions step asks the server's
/// default bank.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuestionRequest {
    /// The bank (default `kyc.default_question_bank`).
    #[serde(default)]
    pub bank: Option<BankId>,
    #[serde(default)]
    pub expected: ExpectedAnswers,
}

/// A question a session asks, as drawn from its bank when the session was created.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AskedQuestion {
    pub id: QuestionId,
    pub text: String,
    /// The answer the lender's records give (the `original` of the agent's answer).
    pub expected: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn q(id: &str, always: bool) -> BankQuestion {
        BankQuestion {
            id: QuestionId::parse(id).unwrap(),
            text: format!("Question {id}?"),
            always,
        }
    }

    fn bank(ask: usize, order: QuestionOrder, qs: Vec<BankQuestion>) -> QuestionBank {
        QuestionBank::new(BankId::parse("loan").unwrap(), "Loans", ask, order, qs).unwrap()
    }

    fn ids(asked: &[AskedQuestion]) -> Vec<&str> {
        asked.iter().map(|a| a.id.as_str()).collect()
    }

    #[test]
    fn a_bank_is_checked_when_it_is_made() {
        let new = |ask, qs| {
            QuestionBank::new(
                BankId::parse("b").unwrap(),
                "B",
                ask,
                QuestionOrder::Random,
                qs,
            )
            .map_err(|e| e.0)
        };
        assert!(new(0, vec![q("a", false)]).unwrap_err().starts_with("ask:"));
        assert!(new(2, vec![q("a", false)]).unwrap_err().starts_with("ask:"));
        assert!(
            new(1, vec![q("a", true), q("b", true)])
                .unwrap_err()
                .starts_with("ask:"),
            "ask covers every always question"
        );
        assert_eq!(
            new(1, vec![q("a", false), q("a", false)]).unwrap_err(),
            "questions: the id \"a\" twice"
        );
        assert_eq!(new(1, vec![]).unwrap_err(), "questions: 1 to 100");
        let mut bad = q("a", false);
        bad.text = "line one\nline two".into();
        assert!(new(1, vec![bad])
            .unwrap_err()
            .contains("no control characters"));
        assert!(QuestionId::parse("Pin Code").is_err());
        assert!(BankId::parse("").is_err());
        // The same rules when the bank comes as JSON (config, store, API).
        let e = serde_json::from_value::<QuestionBank>(serde_json::json!({
            "id": "x", "name": " ", "ask": 1, "questions": [{"id": "a", "text": "A?"}]
        }))
        .unwrap_err();
        assert!(e.to_string().contains("name: 1 to 100"), "{e}");
    }

    #[test]
    fn a_draw_asks_every_always_question_and_a_random_choice_of_the_others() {
        let b = bank(
            3,
            QuestionOrder::Random,
            vec![
                q("name", true),
                q("a", false),
                q("b", false),
                q("c", false),
                q("d", false),
                q("e", false),
            ],
        );
        let mut sets = HashSet::new();
        let mut firsts = HashSet::new();
        for seed in 0..200 {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let asked = b.draw(&ExpectedAnswers::default(), &mut rng).unwrap();
            let got = ids(&asked);
            assert_eq!(got.len(), 3);
            assert!(got.contains(&"name"), "{got:?}");
            let mut distinct = got.clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(distinct.len(), 3, "no question twice: {got:?}");
            firsts.insert(got[0].to_string());
            sets.insert(distinct.join(","));
        }
        // 10 possible choices of 2 among 5, and the always-question is not always first.
        assert_eq!(sets.len(), 10, "{sets:?}");
        assert!(firsts.len() >= 3, "{firsts:?}");
    }

    #[test]
    fn a_fixed_order_keeps_the_banks_order() {
        let b = bank(
            2,
            QuestionOrder::Fixed,
            vec![
                q("first", true),
                q("a", false),
                q("b", false),
                q("c", false),
            ],
        );
        for seed in 0..50 {
            let asked = b
                .draw(
                    &ExpectedAnswers::default(),
                    &mut rand::rngs::StdRng::seed_from_u64(seed),
                )
                .unwrap();
            assert_eq!(asked[0].id.as_str(), "first");
            assert_ne!(asked[1].id.as_str(), "first");
        }
        let all = bank(
            3,
            QuestionOrder::Fixed,
            vec![q("x", false), q("y", false), q("z", false)],
        );
        let asked = all
            .draw(&ExpectedAnswers::default(), &mut rand::thread_rng())
            .unwrap();
        assert_eq!(ids(&asked), ["x", "y", "z"]);
    }

    #[test]
    fn expected_answers_go_with_their_questions_and_must_name_one() {
        let b = bank(
            2,
            QuestionOrder::Fixed,
            vec![q("pincode", false), q("job", false)],
        );
        let expected: ExpectedAnswers =
            serde_json::from_value(serde_json::json!({"pincode": " 411001 "})).unwrap();
        let asked = b.draw(&expected, &mut rand::thread_rng()).unwrap();
        assert_eq!(asked[0].expected.as_deref(), Some("411001"));
        assert_eq!(asked[1].expected, None);

        let typo: ExpectedAnswers =
            serde_json::from_value(serde_json::json!({"pincod": "411001"})).unwrap();
        assert_eq!(
            b.draw(&typo, &mut rand::thread_rng()).unwrap_err().0,
            "questions.expected: the bank \"loan\" has no question \"pincod\""
        );
        for bad in [
            serde_json::json!({"pincode": ""}),
            serde_json::json!({"pincode": "a\u{0007}b"}),
            serde_json::json!({"Pin": "1"}),
        ] {
            assert!(serde_json::from_value::<ExpectedAnswers>(bad).is_err());
        }
    }
}
