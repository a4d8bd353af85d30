//! Question banks, black-box: the lender defines a bank, each session draws its own random
//! choice and order from it, the lender's expected answers are the `original` the agent's
//! record is compared with, and the customer never sees the questions beforehand.

mod common;

use std::collections::HashSet;

use common::{assert_session_schema, call, spawn_app, TestApp, API_KEY};
use reqwest::Method;
use serde_json::{json, Value};

async fn api(app: &TestApp, m: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    call(app, m, path, API_KEY, body).await
}

fn loan_bank() -> Value {
    json!({
        "name": "Personal loan",
        "ask": 3,
        "questions": [
            {"id": "speaking_to", "text": "Am I speaking to the applicant?", "always": true},
            {"id": "pincode", "text": "What is your pincode?"},
            {"id": "employment", "text": "Are you salaried or self-employed?"},
            {"id": "birth_year", "text": "In which year were you born?"},
            {"id": "applied", "text": "Which loan did you apply for?"},
            {"id": "employer", "text": "Who is your employer?"}
        ]
    })
}

async fn new_session(app: &TestApp, questions: Option<Value>) -> (u16, Value) {
    let mut body = json!({"mode": "live_agent", "applicant": {"name": "Asha Rao"},
        "workflow": ["consent", "questions"]});
    if let Some(q) = questions {
        body["questions"] = q;
    }
    api(app, Method::POST, "/v1/sessions", Some(body)).await
}

fn asked(session: &Value) -> Vec<String> {
    session["questions"]
        .as_array()
        .unwrap_or(&vec![])
        .iter()
        .map(|q| q["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn each_session_draws_its_own_questions_from_the_lenders_bank() {
    let app = spawn_app().await;
    let (s, v) = api(
        &app,
        Method::PUT,
        "/v1/question-banks/loan",
        Some(loan_bank()),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["id"], "loan");

    // Twenty sessions: every one asks 3 questions, the `always` one among them; the choice
    // and the order vary (60 orderings of 2 of 5 around the fixed one, times 3 places).
    let mut orders = HashSet::new();
    let mut sets = HashSet::new();
    for _ in 0..20 {
        let (s, v) = new_session(&app, Some(json!({"bank": "loan"}))).await;
        assert_eq!(s, 201, "{v}");
        assert_eq!(v["question_bank"], "loan");
        let ids = asked(&v);
        assert_eq!(ids.len(), 3, "{v}");
        assert!(ids.contains(&"speaking_to".to_string()), "{ids:?}");
        let mut set = ids.clone();
        set.sort();
        sets.insert(set);
        orders.insert(ids);
    }
    assert!(
        sets.len() > 1 && orders.len() > sets.len(),
        "questions vary between sessions: {orders:?}"
    );

    // A session without a bank asks the default one (the test profile's: all three, fixed).
    let (_, v) = new_session(&app, None).await;
    assert_eq!(
        (v["question_bank"].as_str(), asked(&v)),
        (
            Some("standard"),
            vec!["purpose".into(), "occupation".into(), "address".into()]
        )
    );
    let (s, v) = api(&app, Method::GET, "/v1/question-banks", None).await;
    assert_eq!(s, 200);
    assert_eq!(v["default_bank"], "standard");
    let ids: Vec<&str> = v["banks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["loan", "standard"]);
}

#[tokio::test]
async fn bad_banks_and_bad_requests_are_refused_with_their_codes() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"name": "x", "ask": 0, "questions": [{"id": "a", "text": "A?"}]}),
            "ask:",
        ),
        (
            json!({"name": "x", "ask": 1, "questions": []}),
            "questions: 1 to 100",
        ),
        (
            json!({"name": "x", "ask": 1, "questions": [{"id": "a", "text": "A?"}, {"id": "a", "text": "B?"}]}),
            "twice",
        ),
        (
            json!({"name": "x", "ask": 1, "questions": [{"id": "A b", "text": "A?"}]}),
            "question id",
        ),
    ];
    for (body, msg) in cases {
        let (s, v) = api(
            &app,
            Method::PUT,
            "/v1/question-banks/x",
            Some(body.clone()),
        )
        .await;
        assert_eq!(s, 422, "{body} → {v}");
        assert_eq!(v["error"]["code"], "validation_failed", "{v}");
        assert!(v["error"]["message"].as_str().unwrap().contains(msg), "{v}");
    }
    let (s, v) = api(&app, Method::GET, "/v1/question-banks/x", None).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (404, Some("question_bank_not_found")),
        "nothing was stored"
    );
    let (s, v) = api(&app, Method::GET, "/v1/question-banks/Not%20A%20Slug", None).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("invalid_path"))
    );

    let (s, v) = new_session(&app, Some(json!({"bank": "nope"}))).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("unknown_question_bank")),
        "{v}"
    );
    let (s, v) = new_session(&app, Some(json!({"expected": {"pincod": "411001"}}))).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("validation_failed")),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no question \"pincod\""),
        "{v}"
    );
    let (s, v) = api(
        &app,
        Method::POST,
        "/v1/sessions",
        Some(
            json!({"mode": "live_agent", "applicant": {"name": "A B"}, "workflow": ["consent"],
            "questions": {"bank": "standard"}}),
        ),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("validation_failed")),
        "{v}"
    );

    let (s, v) = api(&app, Method::DELETE, "/v1/question-banks/standard", None).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("default_question_bank"))
    );
    let (s, _) = api(&app, Method::GET, "/v1/question-banks/standard", None).await;
    assert_eq!(s, 200, "still there");
}

#[tokio::test]
async fn the_lenders_expected_answers_are_the_original_and_the_customer_sees_no_question() {
    let app = spawn_app().await;
    let (s, v) = new_session(
        &app,
        Some(json!({"expected": {"occupation": "Teacher", "address": "12 MG Road, Pune"}})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let agent = app.api.token(&id, "agent").await.unwrap().token;
    let customer = app.api.token(&id, "customer").await.unwrap().token;

    // The customer's copy of the session has neither the questions nor the expected answers.
    let (s, v) = call(
        &app,
        Method::GET,
        &format!("/v1/sessions/{id}"),
        &customer,
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert!(
        v.get("questions").is_none() && v.get("question_bank").is_none(),
        "{v}"
    );
    assert!(!v.to_string().contains("Teacher"), "{v}");

    // The agent's case document lists them with what the lender expects.
    let (s, v) = call(
        &app,
        Method::GET,
        &format!("/v1/sessions/{id}/kyc"),
        &agent,
        None,
    )
    .await;
    assert_eq!(s, 200);
    let expected: Vec<Option<&str>> = v["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["expected"].as_str())
        .collect();
    assert_eq!(
        expected,
        [None, Some("Teacher"), Some("12 MG Road, Pune")],
        "{v}"
    );

    // The agent records what the customer said: a different occupation is an edit of the
    // lender's value; the same address (other case) is not.
    let (s, v) = call(
        &app,
        Method::POST,
        &format!("/v1/sessions/{id}/steps/questions/attempts"),
        &agent,
        Some(json!({"answers": [
            {"id": "purpose", "value": "Home renovation"},
            {"id": "occupation", "value": "Shop owner"},
            {"id": "address", "value": "12 mg road, pune"}
        ]})),
    )
    .await;
    assert_eq!(
        (s, v["attempt"]["outcome"].as_str()),
        (201, Some("passed")),
        "{v}"
    );
    let answers = &v["attempt"]["data"]["answers"];
    let by_id = |id: &str| {
        answers
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == id)
            .cloned()
            .unwrap()
    };
    let occ = by_id("occupation");
    assert_eq!(
        (
            &occ["original"],
            &occ["original_from"],
            &occ["value"],
            &occ["edited"]
        ),
        (
            &json!("Teacher"),
            &json!("lender"),
            &json!("Shop owner"),
            &json!(true)
        )
    );
    assert_eq!(by_id("address")["edited"], false);
    let purpose = by_id("purpose");
    assert_eq!(
        (&purpose["original_from"], &purpose["edited"]),
        (&json!("first_answer"), &json!(false))
    );

    // The lender's document carries them, in the published schema.
    let (_, doc) = api(&app, Method::GET, &format!("/v1/sessions/{id}"), None).await;
    assert_eq!(doc["questions"][1]["expected"], "Teacher", "{doc}");
    assert_session_schema(&app, &doc).await;

    // Replacing the bank changes no session already created.
    let (s, _) = api(
        &app,
        Method::PUT,
        "/v1/question-banks/standard",
        Some(json!({"name": "New", "ask": 1, "questions": [{"id": "other", "text": "Other?"}]})),
    )
    .await;
    assert_eq!(s, 200);
    let (_, v) = call(
        &app,
        Method::GET,
        &format!("/v1/sessions/{id}/kyc"),
        &agent,
        None,
    )
    .await;
    assert_eq!(v["questions"].as_array().unwrap().len(), 3, "{v}");
    let (_, v) = new_session(&app, None).await;
    assert_eq!(asked(&v), ["other"]);
}
