//! What an attempt of each step recorded: [`StepData`], one variant per step type — the
//! consent text version, the position and whether it is inside the region, the tries left
//! on a code, the answers with their originals, the fields read from an ID card, the face
//! matches per source with the liveness verdict. These are the evidence an agent and an
//! auditor read; the 0–100 figures the recommendation uses are the attempt's
//! [`Scores`](crate::kyc::Scores).
//!
//! **The JSON shape.** An attempt's `data` is the variant's object, with no tag: which
//! variant it is follows from the step's `type`. So serialising is plain (`untagged`), and
//! reading goes through the step: a [`Step`](crate::kyc::Step) is read with its `type`
//! first, then each attempt's `data` with [`StepData::from_json`]. A step that crashed has
//! no data (`null`). Fields that the case actor has always written as `null` when unknown
//! (`accuracy_m`, `card_face`, `best_frame`…) are still written so; fields that appear only
//! once a check got that far (`liveness`, `matches`…) are left out until then.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::challenge::MoveResult;
use crate::document::{DocumentFields, DocumentKind};
use crate::geometry::BBox;
use crate::kyc::{CheckError, StepType};

/// The details of one attempt, by step type.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum StepData {
    Consent(ConsentData),
    Location(LocationData),
    Otp(OtpData),
    Questions(QuestionsData),
    Document(DocumentData),
    Face(FaceData),
}

impl StepData {
    pub fn step_type(&self) -> StepType {
        match self {
            StepData::Consent(_) => StepType::Consent,
            StepData::Location(_) => StepType::Location,
            StepData::Otp(_) => StepType::Otp,
            StepData::Questions(_) => StepType::Questions,
            StepData::Document(_) => StepType::Document,
            StepData::Face(_) => StepType::Face,
        }
    }

    /// Reads the stored `data` of an attempt of step `step` (`null`: none).
    pub fn from_json(step: StepType, v: Value) -> Result<Option<StepData>, serde_json::Error> {
        if v.is_null() {
            return Ok(None);
        }
        Ok(Some(match step {
            StepType::Consent => StepData::Consent(serde_json::from_value(v)?),
            StepType::Location => StepData::Location(serde_json::from_value(v)?),
            StepType::Otp => StepData::Otp(serde_json::from_value(v)?),
            StepType::Questions => StepData::Questions(serde_json::from_value(v)?),
            StepType::Document => StepData::Document(serde_json::from_value(v)?),
            StepType::Face => StepData::Face(serde_json::from_value(v)?),
        }))
    }
}

/// The API contract of an untagged enum whose variants' objects may overlap: `anyOf` them
/// (a derived `oneOf` would refuse `{"capture_id": …}`, which is both a document not read and a
/// face not compared; the step's `type` tells which).
macro_rules! any_of_schema {
    ($name:ident, $description:literal, $($variant:ty),+) => {
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                let any = utoipa::openapi::schema::AnyOfBuilder::new().description(Some($description));
                $(let any = any.item(utoipa::openapi::Ref::from_schema_name(<$variant as utoipa::ToSchema>::name()));)+
                utoipa::openapi::schema::Schema::AnyOf(any.build()).into()
            }
        }

        impl utoipa::ToSchema for $name {
            fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
                $(
                    schemas.push((<$variant as utoipa::ToSchema>::name().into(), <$variant as utoipa::PartialSchema>::schema()));
                    <$variant as utoipa::ToSchema>::schemas(schemas);
                )+
            }
        }
    };
}

any_of_schema!(
    StepData,
    "The details of one attempt: the object of the step's `type`.",
    ConsentData,
    LocationData,
    OtpData,
    QuestionsData,
    DocumentData,
    FaceData
);
any_of_schema!(DocumentData, "The document step: what was read from the ID card, or only which capture it was when the card could not be read.", DocumentRead, DocumentNotRead);

// ------------------------------------------------------------------------ consent

/// The consent step: which consent text the customer saw, and whether they agreed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConsentData {
    pub text_version: String,
    pub given: bool,
}

// ----------------------------------------------------------------------- location

/// The location step: the browser's position checked against the region, or why the
/// browser gave none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum LocationData {
    Found(LocationFound),
    Unavailable(LocationUnavailable),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LocationFound {
    pub latitude: f64,
    pub longitude: f64,
    /// The browser's accuracy radius in metres, when it gave one.
    pub accuracy_m: Option<f64>,
    /// The allowed region's name (`[kyc.region]`).
    pub region: String,
    pub inside_region: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LocationUnavailable {
    /// The browser's reason.
    pub error: String,
}

// ---------------------------------------------------------------------------- otp

/// The OTP step: one code entered. The code itself is never kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OtpData {
    /// Tries left on the code sent (on a passed attempt, what was left of a code now used up).
    pub tries_left: u32,
}

// ---------------------------------------------------------------------- questions

/// The questions step: the agent's record of every configured question's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QuestionsData {
    pub answers: Vec<Answer>,
}

/// One answer. `original` is what the lender's records say (the expected answer it gave
/// when it created the session) or, without one, the first value the agent recorded; a
/// value that differs from it is an edit: both are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Answer {
    /// The question's id in its bank.
    pub id: String,
    /// The question's text when it was asked.
    pub question: String,
    pub original: String,
    /// Where `original` comes from.
    #[serde(default)]
    pub original_from: OriginalSource,
    pub value: String,
    /// `value` is given and differs from `original` (ignoring case and spacing).
    pub edited: bool,
}

/// Where an answer's `original` comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OriginalSource {
    /// The answer the lender expected (`questions.expected` of the session).
    Lender,
    /// The first value the agent recorded.
    #[default]
    FirstAnswer,
}

/// What the agent records for one question (the case actor's input).
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerInput {
    pub id: String,
    pub question: String,
    /// The lender's expected answer, if it gave one.
    pub expected: Option<String>,
    pub value: String,
}

/// Case and spacing do not make an answer different.
fn same_answer(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.split_whitespace()
            .map(str::to_lowercase)
            .collect::<Vec<_>>()
            .join(" ")
    };
    norm(a) == norm(b)
}

impl QuestionsData {
    /// A new attempt's answers: each keeps as its `original` the lender's expected answer,
    /// else the first non-empty value an `earlier` attempt recorded for its question, else
    /// its own value; it is `edited` when its value is given and differs from that.
    pub fn record<'a>(
        earlier: impl IntoIterator<Item = &'a QuestionsData>,
        answers: Vec<AnswerInput>,
    ) -> Self {
        let mut first: HashMap<&str, &str> = HashMap::new();
        for a in earlier.into_iter().flat_map(|q| &q.answers) {
            if !a.original.trim().is_empty() {
                first.entry(&a.id).or_insert(&a.original);
            }
        }
        let answers = answers
            .into_iter()
            .map(|a| {
                let (original, original_from) = match a.expected {
                    Some(e) => (e, OriginalSource::Lender),
                    None => (
                        first
                            .get(a.id.as_str())
                            .map_or_else(|| a.value.clone(), |o| o.to_string()),
                        OriginalSource::FirstAnswer,
                    ),
                };
                Answer {
                    edited: !a.value.trim().is_empty() && !same_answer(&original, &a.value),
                    id: a.id,
                    question: a.question,
                    original,
                    original_from,
                    value: a.value,
                }
            })
            .collect();
        Self { answers }
    }

    /// Every question has an answer.
    pub fn complete(&self) -> bool {
        self.answers.iter().all(|a| !a.value.trim().is_empty())
    }

    /// The value recorded for question `id`.
    pub fn value(&self, id: &str) -> Option<&str> {
        self.answers
            .iter()
            .find(|a| a.id == id)
            .map(|a| a.value.as_str())
    }
}

// ----------------------------------------------------------------------- document

/// The document step: what was read from the ID card, or only which capture it was when
/// the card could not be read (no engine, engine busy…).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DocumentData {
    Read(DocumentRead),
    NotRead(DocumentNotRead),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DocumentRead {
    /// The capture of the card.
    pub capture_id: Uuid,
    pub kind: DocumentKind,
    pub fields: DocumentFields,
    /// 0–100: the name read against the applicant's (also in `scores.name_match`).
    pub name_match: u8,
    /// Where the photo printed on the card was found; null when none was.
    pub card_face: Option<CardPhoto>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DocumentNotRead {
    /// The capture of the card.
    pub capture_id: Uuid,
}

/// The photo printed on an ID card (the face step compares the customer with it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CardPhoto {
    pub bbox: BBox,
}

// --------------------------------------------------------------------------- face

/// The face step: the liveness verdict when a head-movement challenge ran, the face
/// compared (`capture_id`, a capture or the challenge's best frame), and its match against
/// each source. Each part is present once the check got that far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FaceData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness: Option<LivenessData>,
    /// The capture compared with the sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture_id: Option<Uuid>,
    /// One per source: the document's photo first, then the lender's references.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<Vec<SourceMatch>>,
    /// The compared face's quality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<Quality>,
}

/// The face compared with one source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SourceMatch {
    /// `document_photo` or `reference:<capture id>`.
    pub source: String,
    /// 0–100 (60 and above is a match); null when the source could not be compared.
    pub score: Option<u8>,
    pub matched: Option<bool>,
    /// Why the source could not be compared (e.g. no face on it).
    pub error: Option<CheckError>,
}

/// What the quality checks measured on a face.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Quality {
    pub face_px: u32,
    pub brightness: f32,
    pub sharpness: f32,
}

/// The liveness check on the frames of a head-movement challenge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LivenessData {
    pub challenge_id: Uuid,
    pub live: bool,
    /// 0–100 (also in `scores.liveness`).
    pub score: u8,
    pub moves: Vec<MoveResult>,
    /// Frames received.
    pub frames: usize,
    pub frames_with_face: usize,
    /// The capture of the most frontal usable frame, if any.
    pub best_frame: Option<Uuid>,
    /// The anti-spoofing model's verdict on the best frame, when it ran.
    pub passive_live_probability: Option<f32>,
    /// Each starts with a stable code.
    pub reasons: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::challenge::Move;
    use serde_json::json;

    /// Each step's data as the case actor wrote it before it was typed (keys and nulls
    /// included), read by step type and written back the same.
    #[test]
    fn every_step_keeps_its_json() {
        let id = "6f1c2a52-54a1-4c6b-9d0e-0a7f1d2a3b4c";
        let samples = [
            (
                StepType::Consent,
                json!({"text_version": "v1", "given": true}),
            ),
            (
                StepType::Location,
                json!({"latitude": 19.07, "longitude": 72.88, "accuracy_m": 25.0, "region": "IN", "inside_region": true}),
            ),
            (
                StepType::Location,
                json!({"latitude": 51.5, "longitude": -0.12, "accuracy_m": null, "region": "IN", "inside_region": false}),
            ),
            (StepType::Location, json!({"error": "permission denied"})),
            (StepType::Otp, json!({"tries_left": 2})),
            (
                StepType::Questions,
                json!({"answers": [
                    {"id": "purpose", "question": "What is the purpose of the loan?", "original": "Home renovation", "original_from": "first_answer", "value": "Home repair", "edited": true},
                    {"id": "occupation", "question": "What is your occupation?", "original": "Teacher", "original_from": "lender", "value": "Teacher", "edited": false},
                ]}),
            ),
            (
                StepType::Document,
                json!({"capture_id": id, "kind": "pan", "name_match": 100, "card_face": {"bbox": {"x": 10.0, "y": 20.5, "w": 64.0, "h": 80.0}},
                    "fields": {"kind": "pan", "pan_number": "ABCDE1234F", "name": "RAJESH KUMAR", "date_of_birth": "1990-02-01", "missing": ["father_name"]}}),
            ),
            (
                StepType::Document,
                json!({"capture_id": id, "kind": "aadhaar", "name_match": 0, "card_face": null,
                    "fields": {"kind": "aadhaar", "aadhaar_masked": "XXXX XXXX 0123", "aadhaar_checksum_ok": true, "gender": "male", "missing": ["name", "date_of_birth"]}}),
            ),
            (StepType::Document, json!({"capture_id": id})),
            (StepType::Face, json!({})),
            (StepType::Face, json!({"capture_id": id})),
            (
                StepType::Face,
                json!({"capture_id": id, "quality": {"face_px": 180, "brightness": 0.5, "sharpness": 120.25},
                "matches": [
                    {"source": "document_photo", "score": 82, "matched": true, "error": null},
                    {"source": format!("reference:{id}"), "score": null, "matched": null, "error": {"code": "no_face", "message": "no face found"}},
                ]}),
            ),
            (
                StepType::Face,
                json!({"capture_id": id, "quality": {"face_px": 180, "brightness": 0.5, "sharpness": 120.25},
                    "matches": [{"source": "document_photo", "score": 40, "matched": false, "error": null}],
                    "liveness": {"challenge_id": id, "live": false, "score": 35,
                        "moves": [{"move": "turn_left", "done": true, "frame": 3, "peak": 0.25}, {"move": "look_up", "done": false, "frame": null, "peak": 0.0}],
                        "frames": 12, "frames_with_face": 11, "best_frame": id, "passive_live_probability": 0.75,
                        "reasons": ["move_missed: look_up was not seen"]}}),
            ),
            (
                StepType::Face,
                json!({"liveness": {"challenge_id": id, "live": false, "score": 0, "moves": [], "frames": 8, "frames_with_face": 0, "best_frame": null, "passive_live_probability": null, "reasons": []}}),
            ),
        ];
        for (t, v) in samples {
            let data = StepData::from_json(t, v.clone())
                .unwrap_or_else(|e| panic!("{t:?} {v}: {e}"))
                .unwrap();
            assert_eq!(data.step_type(), t);
            assert_eq!(serde_json::to_value(&data).unwrap(), v, "{t:?}");
        }
        assert_eq!(
            StepData::from_json(StepType::Face, Value::Null).unwrap(),
            None
        );
    }

    #[test]
    fn variants_hold_what_the_json_says() {
        let v = json!({"latitude": 51.5, "longitude": -0.12, "accuracy_m": null, "region": "IN", "inside_region": false});
        let Some(StepData::Location(LocationData::Found(l))) =
            StepData::from_json(StepType::Location, v).unwrap()
        else {
            panic!("a position")
        };
        assert_eq!((l.accuracy_m, l.inside_region), (None, false));
        let v = json!({"capture_id": Uuid::nil()});
        assert_eq!(
            StepData::from_json(StepType::Document, v).unwrap(),
            Some(StepData::Document(DocumentData::NotRead(DocumentNotRead {
                capture_id: Uuid::nil()
            })))
        );
        let v = json!({"liveness": {"challenge_id": Uuid::nil(), "live": true, "score": 90, "moves": [{"move": "look_down", "done": true, "frame": 2, "peak": 0.5}], "frames": 8, "frames_with_face": 8, "best_frame": null, "passive_live_probability": 0.5, "reasons": []}});
        let Some(StepData::Face(f)) = StepData::from_json(StepType::Face, v).unwrap() else {
            panic!("face")
        };
        assert_eq!(
            f.liveness.as_ref().map(|l| (l.live, l.moves[0].mv)),
            Some((true, Move::LookDown))
        );
        assert!(
            StepData::from_json(StepType::Otp, json!({"tries": 1})).is_err(),
            "a shape that is not the step's is refused"
        );
    }

    #[test]
    fn the_lenders_expected_answer_is_the_original() {
        let q = |id: &str, expected: Option<&str>, v: &str| AnswerInput {
            id: id.to_string(),
            question: format!("{id}?"),
            expected: expected.map(str::to_string),
            value: v.to_string(),
        };
        let first = QuestionsData::record(
            [],
            vec![
                q("pincode", Some("411001"), "411002"),
                q("job", Some("Salaried"), "  salaried "),
                q("name", Some("Asha Rao"), ""),
                q("purpose", None, "Car"),
            ],
        );
        let a = &first.answers;
        assert_eq!(
            (a[0].original.as_str(), a[0].original_from, a[0].edited),
            ("411001", OriginalSource::Lender, true)
        );
        assert!(!a[1].edited, "case and spacing are not an edit");
        assert!(!a[2].edited, "no answer yet is not an edit");
        assert_eq!(
            (a[3].original.as_str(), a[3].original_from, a[3].edited),
            ("Car", OriginalSource::FirstAnswer, false)
        );
        // A later attempt compares with the lender's value still, not the agent's first.
        let second = QuestionsData::record([&first], vec![q("pincode", Some("411001"), "411001")]);
        assert!(!second.answers[0].edited);
        // Records written before `original_from` existed read as the agent's first answer.
        let old: Answer = serde_json::from_value(
            json!({"id": "a", "question": "A?", "original": "x", "value": "y", "edited": true}),
        )
        .unwrap();
        assert_eq!(old.original_from, OriginalSource::FirstAnswer);
    }

    #[test]
    fn answers_keep_their_first_value() {
        let q = |id: &str, v: &str| AnswerInput {
            id: id.to_string(),
            question: format!("{id}?"),
            expected: None,
            value: v.to_string(),
        };
        let first =
            QuestionsData::record([], vec![q("purpose", "Home renovation"), q("address", "")]);
        assert!(!first.complete());
        let second = QuestionsData::record(
            [&first],
            vec![
                q("purpose", "Home repair"),
                q("address", "12 MG Road, Pune"),
            ],
        );
        let third = QuestionsData::record(
            [&first, &second],
            vec![
                q("purpose", "Home repair"),
                q("address", "12 MG Road, Pune"),
            ],
        );
        assert!(third.complete());
        let a = &third.answers;
        assert_eq!(
            (a[0].original.as_str(), a[0].value.as_str(), a[0].edited),
            ("Home renovation", "Home repair", true)
        );
        assert_eq!(
            (a[1].original.as_str(), a[1].edited),
            ("12 MG Road, Pune", false),
            "an empty first answer is not the original"
        );
        assert_eq!(third.value("address"), Some("12 MG Road, Pune"));
        assert_eq!(third.value("nope"), None);
    }
}
