//! Staff accounts and signed-in consoles, black-box: the first-admin link, passwords, the
//! cookie and its CSRF token, timeouts, the admin API, who may take, see and audit a session.

mod common;

use common::*;
use serde_json::json;

const ADMIN: &str = "admin@vkyc.test";
const AGENT: &str = "agent@vkyc.test";
const AGENT2: &str = "agent2@vkyc.test";
const AUDITOR: &str = "auditor@vkyc.test";
const MAKER: &str = "maker@vkyc.test";

async fn staffed(tweak: impl FnOnce(figment::Figment) -> figment::Figment) -> TestApp {
    spawn_app_with(|f| {
        tweak(with_staff(
            f,
            &[
                (ADMIN, &["admin"], &[]),
                (AGENT, &["agent"], &["en"]),
                (AGENT2, &["agent"], &["hi"]),
                (AUDITOR, &["auditor"], &[]),
                (MAKER, &["agent", "auditor"], &["en"]),
            ],
        ))
    })
    .await
}

/// An error answer's (status, code).
fn refusal(status: u16, body: &serde_json::Value) -> (u16, &str) {
    (status, body["error"]["code"].as_str().unwrap_or(""))
}

async fn new_session(app: &TestApp) -> String {
    let res = app
        .http
        .post(format!("{}/v1/sessions", app.base))
        .bearer_auth(API_KEY)
        .json(&json!({"mode": "live_agent", "applicant": {"name": "Test Person"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    res.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn the_first_start_link_creates_the_first_admin_once_and_signs_them_in() {
    let app = spawn_app().await;
    let url = app.setup_url.clone().expect("no account yet: a setup link");
    let token = url
        .split("#token=")
        .nth(1)
        .expect("the secret is in the fragment")
        .to_string();
    assert!(url.starts_with(&format!("{}/setup#token=", app.base)));
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let setup = |token: String, password: &str| {
        http.post(format!("{}/v1/auth/setup", app.base))
            .json(&json!({"token": token, "email": "Root@Bank.Example", "name": "First Admin", "password": password}))
            .send()
    };
    // A weak password is refused and the link still works.
    let res = setup(token.clone(), "short").await.unwrap();
    assert_eq!(res.status(), 422);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"]["code"],
        "weak_password"
    );
    let res = setup("not-the-token".into(), "a long enough password")
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"]["code"],
        "setup_link_invalid"
    );

    let res = setup(token.clone(), "a long enough password")
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let cookie = res
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Path=/"),
        "{cookie}"
    );
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["user"]["email"], "root@bank.example");
    assert_eq!(
        body["user"]["roles"],
        json!(["agent", "auditor", "supervisor", "admin"])
    );
    // Signed in: the cookie names the admin.
    let me = http
        .get(format!("{}/v1/auth/me", app.base))
        .send()
        .await
        .unwrap();
    let me: serde_json::Value = me.json().await.unwrap();
    assert_eq!(me["user"]["email"], "root@bank.example");
    assert_eq!(me["method"], "setup");
    // Used once.
    let res = setup(token, "a long enough password").await.unwrap();
    assert_eq!(res.status(), 409);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"]["code"],
        "already_set_up"
    );
}

#[tokio::test]
async fn passwords_sign_in_and_every_wrong_answer_is_the_same() {
    let app = staffed(|f| f).await;
    assert!(app.setup_url.is_none(), "seeded accounts: no setup link");
    let c = Console::sign_in(&app, AGENT).await;
    assert_eq!(c.user["roles"], json!(["agent"]));
    for (email, password) in [
        (AGENT, "wrong password here"),
        ("nobody@vkyc.test", STAFF_PASSWORD),
        ("not an email", STAFF_PASSWORD),
        ("", API_KEY),
    ] {
        let (status, body) = Console::try_sign_in(&app, email, password)
            .await
            .err()
            .expect("refused");
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (401, Some("invalid_credentials")),
            "{email}"
        );
    }
    // The API key is not an account: it cannot sign in, and the console's endpoints refuse it.
    for path in ["/v1/auth/me", "/v1/users"] {
        let (status, err) = call(&app, reqwest::Method::GET, path, API_KEY, None).await;
        assert_eq!(refusal(status, &err), (403, "forbidden_role"), "{path}");
    }
    // No credentials at all.
    let res = app
        .http
        .get(format!("{}/v1/auth/me", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn a_change_without_the_csrf_token_is_refused_and_sign_out_ends_the_console() {
    let app = staffed(|f| f).await;
    let c = Console::sign_in(&app, AGENT).await;
    let body = json!({"mode": "live_agent", "applicant": {"name": "Test Person"}});
    let (status, err) = c
        .send(reqwest::Method::POST, "/v1/sessions", body.clone(), false)
        .await;
    assert_eq!(refusal(status, &err), (403, "csrf_failed"));
    let (status, _) = c.post("/v1/sessions", body).await;
    assert_eq!(status, 201);
    let (status, _) = c.post("/v1/auth/logout", json!(null)).await;
    assert_eq!(status, 204);
    assert_eq!(
        c.get("/v1/auth/me").await.0,
        401,
        "the browser's cookie is cleared"
    );
    // And the old cookie, replayed, is dead on the server.
    let res = app
        .http
        .get(format!("{}/v1/auth/me", app.base))
        .header("cookie", &c.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"]["code"],
        "console_expired"
    );
}

#[tokio::test]
async fn an_idle_console_is_signed_out() {
    let app = staffed(|f| f.merge(("console.idle_timeout_secs", 1))).await;
    let c = Console::sign_in(&app, AGENT).await;
    assert_eq!(c.get("/v1/auth/me").await.0, 200);
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    let (status, err) = c.get("/v1/auth/me").await;
    assert_eq!(refusal(status, &err), (401, "console_expired"));
}

#[tokio::test]
async fn admins_manage_accounts_and_nobody_else_can() {
    let app = staffed(|f| f).await;
    let admin = Console::sign_in(&app, ADMIN).await;
    let agent = Console::sign_in(&app, AGENT).await;
    let auditor = Console::sign_in(&app, AUDITOR).await;
    let (status, list) = admin.get("/v1/users").await;
    assert_eq!(status, 200);
    let emails: Vec<&str> = list["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        [ADMIN, AGENT2, AGENT, AUDITOR, MAKER],
        "by email (\"2\" sorts before \"@\")"
    );
    assert!(
        list["users"][0].get("password_hash").is_none(),
        "no secret is served"
    );
    for c in [&agent, &auditor] {
        assert_eq!(c.get("/v1/users").await.0, 403);
        let (status, err) = c
            .post(
                "/v1/users",
                json!({"email": "x@vkyc.test", "name": "X", "roles": ["admin"]}),
            )
            .await;
        assert_eq!(refusal(status, &err), (403, "forbidden_role"));
    }
    let new = json!({"email": "new@vkyc.test", "name": "New Agent", "roles": ["agent"], "skills": {"languages": ["ta"]}, "password": "new agent password"});
    let (status, user) = admin.post("/v1/users", new.clone()).await;
    assert_eq!(status, 201, "{user}");
    assert_eq!(
        admin.post("/v1/users", new).await.1["error"]["code"],
        "email_taken"
    );
    let (status, err) = admin
        .post(
            "/v1/users",
            json!({"email": "bad", "name": "X", "roles": ["agent"]}),
        )
        .await;
    assert_eq!(status, 422, "{err}");
    let (status, _) = admin
        .post(
            "/v1/users",
            json!({"email": "y@vkyc.test", "name": "Y", "roles": []}),
        )
        .await;
    assert_eq!(status, 422);
    let (status, _) = admin
        .post(
            "/v1/users",
            json!({"email": "z@vkyc.test", "name": "Z", "roles": ["agent"], "password": "short"}),
        )
        .await;
    assert_eq!(status, 422);
    let newbie = Console::try_sign_in(&app, "new@vkyc.test", "new agent password")
        .await
        .unwrap_or_else(|e| panic!("the new account signs in: {e:?}"));

    // Disabling signs the account out at once; an admin cannot lock themselves out.
    let id = user["id"].as_str().unwrap();
    let (status, _) = admin
        .send(
            reqwest::Method::PATCH,
            &format!("/v1/users/{id}"),
            json!({"disabled": true}),
            true,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(newbie.get("/v1/auth/me").await.0, 401);
    assert!(
        Console::try_sign_in(&app, "new@vkyc.test", "new agent password")
            .await
            .is_err()
    );
    let me = admin.user_id();
    let (status, err) = admin
        .send(
            reqwest::Method::PATCH,
            &format!("/v1/users/{me}"),
            json!({"roles": ["agent"]}),
            true,
        )
        .await;
    assert_eq!(refusal(status, &err), (409, "self_lockout"));
    let (status, err) = admin
        .get(&format!("/v1/users/{}", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(refusal(status, &err), (404, "user_not_found"));
}

#[tokio::test]
async fn a_session_is_its_agents_and_its_agent_cannot_audit_it() {
    let app = staffed(|f| f).await;
    let sid = new_session(&app).await;
    let maker = Console::sign_in(&app, MAKER).await;
    let agent2 = Console::sign_in(&app, AGENT2).await;
    let auditor = Console::sign_in(&app, AUDITOR).await;

    // Unassigned: any agent sees it; the first agent token assigns it.
    assert_eq!(agent2.get(&format!("/v1/sessions/{sid}")).await.0, 200);
    let (status, token) = maker.token(&sid, "agent").await;
    assert_eq!(status, 201, "{token}");
    assert_eq!(
        token["participant_id"],
        maker.user_id(),
        "the agent token is the user's"
    );
    let (_, doc) = maker.get(&format!("/v1/sessions/{sid}")).await;
    assert_eq!(doc["agent"]["email"], MAKER, "the session names its agent");

    // Another agent: neither see it nor take it, nor find it in the list.
    let (status, err) = agent2.get(&format!("/v1/sessions/{sid}")).await;
    assert_eq!(refusal(status, &err), (403, "assigned_to_another_agent"));
    let (status, err) = agent2.get(&format!("/v1/sessions/{sid}/kyc")).await;
    assert_eq!(refusal(status, &err), (403, "assigned_to_another_agent"));
    let (status, _) = agent2.token(&sid, "agent").await;
    assert_eq!(status, 403);
    let (status, _) = agent2.token(&sid, "customer").await;
    assert_eq!(status, 403);
    let listed = agent2.get("/v1/sessions").await.1["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["id"] == sid.as_str());
    assert!(!listed, "another agent's session is not listed");
    // An agent's console cannot act in the session without its join token, nor observe.
    let (status, err) = maker.get(&format!("/v1/sessions/{sid}/captures")).await;
    assert_eq!(refusal(status, &err), (403, "forbidden_role"));
    let (status, err) = agent2.token(&sid, "observer").await;
    assert_eq!(refusal(status, &err), (403, "forbidden_role"));

    // Maker ≠ checker: the maker holds the auditor role too, and still may not audit it.
    let (status, err) = maker.token(&sid, "observer").await;
    assert_eq!(refusal(status, &err), (403, "maker_checker"));
    let (status, obs) = auditor.token(&sid, "observer").await;
    assert_eq!(status, 201, "{obs}");
    assert_eq!(
        obs["participant_id"],
        format!("observer-{}", auditor.user_id())
    );

    // The agent decides with their token; the auditor audits with theirs: the result
    // document names both (and validates against the published schema).
    let agent_token = token["token"].as_str().unwrap();
    let (status, v) = call(
        &app,
        reqwest::Method::POST,
        &format!("/v1/sessions/{sid}/decision"),
        agent_token,
        Some(json!({"result": "declined", "notes": "test"})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let observer = obs["token"].as_str().unwrap();
    let (status, v) = call(
        &app,
        reqwest::Method::POST,
        &format!("/v1/sessions/{sid}/audit"),
        observer,
        Some(json!({"verdict": "approved"})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let (_, doc) = call(
        &app,
        reqwest::Method::GET,
        &format!("/v1/sessions/{sid}"),
        API_KEY,
        None,
    )
    .await;
    assert_eq!(
        (
            doc["agent"]["email"].as_str(),
            doc["auditor"]["email"].as_str()
        ),
        (Some(MAKER), Some(AUDITOR))
    );
    assert_eq!(
        doc["kyc"]["agent_decision"]["by"],
        format!("agent:{}", maker.user_id())
    );
    assert_session_schema(&app, &doc).await;
}

#[tokio::test]
async fn password_guessing_is_rate_limited_per_account_and_address() {
    let app = staffed(|f| {
        f.merge(("console.login_per_email_per_minute", 3))
            .merge(("console.login_per_ip_per_minute", 8))
    })
    .await;
    let login = |email: &'static str, password: &'static str| {
        let (http, base) = (app.http.clone(), app.base.clone());
        async move {
            let r = http
                .post(format!("{base}/v1/auth/login"))
                .json(&json!({"email": email, "password": password}))
                .send()
                .await
                .unwrap();
            let retry = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let v: serde_json::Value = r.json().await.unwrap_or_default();
            (
                v["error"]["code"].as_str().unwrap_or("ok").to_string(),
                retry,
            )
        }
    };
    for _ in 0..3 {
        assert_eq!(
            login(AGENT, "wrong guess 1234").await.0,
            "invalid_credentials"
        );
    }
    // The fourth try for this account is not looked at, right password or not.
    let (code, retry) = login(AGENT, STAFF_PASSWORD).await;
    assert_eq!(code, "rate_limited");
    assert!(retry.is_some_and(|s| (1..=20).contains(&s)), "{retry:?}");
    // Another account from the same address signs in, until the address's own limit.
    assert_eq!(login(AGENT2, STAFF_PASSWORD).await.0, "ok");
    let mut codes = vec![];
    for _ in 0..4 {
        codes.push(login(AUDITOR, "wrong guess 1234").await.0);
    }
    assert_eq!(
        codes,
        [
            "invalid_credentials",
            "invalid_credentials",
            "invalid_credentials",
            "rate_limited"
        ],
        "8 attempts a minute from one address: the 9th is refused"
    );
}
