//! No secret and no personal value in the server's output. The real binary runs as a service
//! would (stdout and stderr are files, not a terminal) at `debug` log level, with the
//! development OTP notifier, through a first start and a whole KYC case: the first-admin
//! link, sign-ins (a wrong password too), a session with the applicant's data and the
//! lender's expected answers, join tokens, consent, location, a one-time code sent and typed
//! (wrong, then right), answers, a webhook with its secret, the decision with notes. Then
//! every secret and personal value the run used is looked for in everything the server
//! wrote.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

const KEY: &str = "secret-api-key-a1b2c3d4e5f6";
const JWT: &str = "secret-jwt-key-0f9e8d7c6b5a-0f9e8d7c6b5a";

struct Server {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Server {
    fn output(&self) -> String {
        let read = |n: &str| std::fs::read_to_string(self.dir.path().join(n)).unwrap_or_default();
        format!("{}\n{}", read("stdout.txt"), read("stderr.txt"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = |n: &str| std::fs::File::create(dir.path().join(n)).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_vkyc"))
        .env("VKYC_PROFILE", "test")
        .env("VKYC_STORAGE__DATA_DIR", &data)
        .env("VKYC_AUTH__API_KEY", KEY)
        .env("VKYC_AUTH__JWT_SECRET", JWT)
        .env("VKYC_LOG__LEVEL", "debug")
        .env("VKYC_KYC__OTP_NOTIFIER", "dev")
        // Ten digits: a code cannot turn up in the output by chance.
        .env("VKYC_KYC__OTP__DIGITS", "10")
        // The webhook goes to a closed port on this machine (its deliveries fail and retry).
        .env("VKYC_WEBHOOKS__ALLOW_PRIVATE", "true")
        .stdout(Stdio::from(file("stdout.txt")))
        .stderr(Stdio::from(file("stderr.txt")))
        .spawn()
        .expect("binary starts");
    let mut server = Server {
        child,
        url: String::new(),
        dir,
    };
    for _ in 0..600 {
        if let Some(line) = server
            .output()
            .lines()
            .find(|l| l.starts_with("vkyc listening on "))
        {
            server.url = line["vkyc listening on ".len()..].trim().to_string();
            return server;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server did not start: {}", server.output());
}

async fn send(
    http: &reqwest::Client,
    server: &Server,
    method: reqwest::Method,
    path: &str,
    bearer: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let mut r = http.request(method, format!("{}{path}", server.url));
    if let Some(t) = bearer {
        r = r.bearer_auth(t);
    }
    let r = r.json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// One attempt of a step: 201, and its outcome.
async fn attempt(
    server: &Server,
    http: &reqwest::Client,
    path: &str,
    token: &str,
    body: Value,
) -> String {
    let (s, v) = send(http, server, reqwest::Method::POST, path, Some(token), body).await;
    assert_eq!(s, 201, "{v}");
    v["attempt"]["outcome"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn a_whole_kyc_run_leaves_no_secret_or_personal_value_in_the_output() {
    use reqwest::Method as M;
    let server = start().await;
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let mut secrets: Vec<(&str, String)> =
        vec![("api key", KEY.into()), ("jwt secret", JWT.into())];

    // The first-admin link: a file readable by the server's user only, named on stdout.
    let out = server.output();
    let line = out
        .lines()
        .find(|l| l.contains("first start:"))
        .expect("first-start line");
    let path = line
        .split(" is in ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "only the owner may read {path}");
    }
    let link = std::fs::read_to_string(path).unwrap();
    let token = link.trim().split("#token=").nth(1).unwrap().to_string();
    secrets.push(("first-admin token", token.clone()));
    let admin_password = "Correct-Horse-Battery-7731";
    secrets.push(("admin password", admin_password.into()));
    let (s, v) = send(&http, &server, M::POST, "/v1/auth/setup", None,
        json!({"token": token, "email": "first.admin@bank.example", "name": "Firstname Adminperson", "password": admin_password})).await;
    assert_eq!(s, 201, "{v}");
    let wrong = "Wrong-Password-Attempt-5512";
    secrets.push(("wrong password", wrong.into()));
    let (s, _) = send(
        &http,
        &server,
        M::POST,
        "/v1/auth/login",
        None,
        json!({"email": "first.admin@bank.example", "password": wrong}),
    )
    .await;
    assert_eq!(s, 401);
    secrets.push((
        "csrf token",
        v["csrf"].as_str().unwrap_or_default().to_string(),
    ));

    // The session: the applicant's data and the lender's expected answers.
    let personal = [
        ("applicant name", "Zyxwvut Qponmlk"),
        ("date of birth", "1987-06-05"),
        ("reference", "REF-PRIVATE-99177"),
        ("expected answer", "Lighthouse keeper at Vengurla"),
        ("answer", "Keeps the Vengurla rock light"),
        ("address answer", "17 Harbour Lane, Vengurla 416516"),
        ("latitude", "15.86151"),
        ("decision notes", "Notes-mention-Zyxwvut-privately"),
        (
            "webhook secret",
            "whsec_dmt5Yy10ZXN0LXByaXZhdGUtd2ViaG9vay1zZWNyZXQtMDAwMQ==",
        ),
    ];
    for (what, v) in personal {
        secrets.push((what, v.to_string()));
    }
    // The webhook secret's key bytes in another encoding, too.
    secrets.push((
        "webhook secret bytes",
        "dmt5Yy10ZXN0LXByaXZhdGUtd2ViaG9vay1zZWNyZXQtMDAwMQ".into(),
    ));
    let (s, created) = send(&http, &server, M::POST, "/v1/sessions", Some(KEY), json!({
        "mode": "live_agent",
        "applicant": {"name": "Zyxwvut Qponmlk", "date_of_birth": "1987-06-05", "reference_id": "REF-PRIVATE-99177"},
        "workflow": ["consent", "location", "otp", "questions"],
        "questions": {"expected": {"occupation": "Lighthouse keeper at Vengurla"}},
    })).await;
    assert_eq!(s, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let token_for = |role: &'static str| {
        let (http, server, id) = (&http, &server, id.clone());
        async move {
            let (s, t) = send(
                http,
                server,
                M::POST,
                &format!("/v1/sessions/{id}/tokens"),
                Some(KEY),
                json!({"role": role}),
            )
            .await;
            assert_eq!(s, 201, "{t}");
            t["token"].as_str().unwrap().to_string()
        }
    };
    let agent = token_for("agent").await;
    let customer = token_for("customer").await;
    secrets.push(("agent token", agent.clone()));
    secrets.push(("customer token", customer.clone()));
    let steps = format!("/v1/sessions/{id}/steps");

    let (s, v) = send(
        &http,
        &server,
        M::POST,
        &format!("{steps}/consent/attempts"),
        Some(&customer),
        json!({"text_version": "v1", "given": true}),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = send(
        &http,
        &server,
        M::POST,
        &format!("{steps}/location/attempts"),
        Some(&customer),
        json!({"latitude": 15.86151, "longitude": 73.63397, "accuracy_m": 12.0}),
    )
    .await;
    assert_eq!(s, 201, "{v}");

    // The one-time code: to the outbox (no terminal here), never to the log.
    let (s, v) = send(
        &http,
        &server,
        M::POST,
        &format!("{steps}/otp/attempts"),
        Some(&agent),
        json!({"action": "send"}),
    )
    .await;
    assert_eq!(s, 202, "{v}");
    let outbox = server
        .dir
        .path()
        .join("data/outbox")
        .join(format!("otp-{}.txt", id.replace('-', "")));
    let code = std::fs::read_to_string(&outbox).expect("the code in the outbox");
    assert_eq!(code.len(), 10, "{code}");
    secrets.push(("one-time code", code.clone()));
    let wrong_code: String = code.chars().rev().collect::<String>();
    let otp = format!("{steps}/otp/attempts");
    if wrong_code != code {
        secrets.push(("wrong code", wrong_code.clone()));
        let got = attempt(&server, &http, &otp, &customer, json!({"code": wrong_code})).await;
        assert_eq!(got, "failed");
    }
    let got = attempt(&server, &http, &otp, &customer, json!({"code": code})).await;
    assert_eq!(got, "passed");
    let answers = json!({"answers": [
        {"id": "purpose", "value": "Keeps the Vengurla rock light"},
        {"id": "occupation", "value": "Keeps the Vengurla rock light"},
        {"id": "address", "value": "17 Harbour Lane, Vengurla 416516"},
    ]});
    let got = attempt(
        &server,
        &http,
        &format!("{steps}/questions/attempts"),
        &agent,
        answers,
    )
    .await;
    assert_eq!(got, "passed");
    let (s, v) = send(&http, &server, M::POST, "/v1/webhooks", Some(KEY), json!({
        "url": "http://127.0.0.1:9/hook", "secret": "whsec_dmt5Yy10ZXN0LXByaXZhdGUtd2ViaG9vay1zZWNyZXQtMDAwMQ==", "event_types": ["video.reviewed"]})).await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = send(
        &http,
        &server,
        M::POST,
        &format!("/v1/sessions/{id}/decision"),
        Some(&agent),
        json!({"result": "approved", "notes": "Notes-mention-Zyxwvut-privately"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (s, doc) = send(
        &http,
        &server,
        M::GET,
        &format!("/v1/sessions/{id}"),
        Some(KEY),
        Value::Null,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        doc["applicant"]["name"], "Zyxwvut Qponmlk",
        "the values were really used"
    );

    // Let the background work (relay, webhook dispatcher) log what it logs, then stop.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let out = server.output();
    drop(server);
    // The output is real: the run is in it, by ids only.
    assert!(out.contains(&id), "the log names the session by its id");
    assert!(
        out.contains("one-time code written to the outbox"),
        "the notifier said where"
    );
    let leaked: Vec<&str> = secrets
        .iter()
        .filter(|(_, v)| !v.is_empty() && out.contains(v.as_str()))
        .map(|(what, _)| *what)
        .collect();
    assert!(
        leaked.is_empty(),
        "in the server's output: {leaked:?}\n{out}"
    );
}
