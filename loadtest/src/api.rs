//! A small client for the vkyc REST API.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Clone)]
pub struct ApiClient {
    pub base: String,
    api_key: String,
    http: reqwest::Client,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IssuedToken {
    pub token: String,
    pub role: String,
    pub participant_id: String,
    pub session_id: String,
    pub join_url: String,
}

impl ApiClient {
    pub fn new(base: &str, api_key: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            api_key: api_key.to_string(),
            http: reqwest::Client::builder()
                // Shorter than the server's keep-alive (75 s): a pooled connection is never
                // reused just as the server closes it.
                .pool_idle_timeout(std::time::Duration::from_secs(30))
                .build()
                .expect("http client"),
        }
    }

    pub fn ws_url(&self) -> String {
        format!("{}/v1/rtc", self.base.replacen("http", "ws", 1))
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Value> {
        let resp = req.bearer_auth(&self.api_key).send().await?;
        let status = resp.status();
        let body: Value = resp.json().await.context("response is not JSON")?;
        if !status.is_success() {
            bail!("HTTP {status}: {body}");
        }
        Ok(body)
    }

    /// Create a live-agent session for a synthetic applicant; returns its id.
    pub async fn create_session(&self, name: &str) -> Result<String> {
        let body = json!({"mode": "live_agent", "applicant": {"name": name}});
        let v = self
            .send(
                self.http
                    .post(format!("{}/v1/sessions", self.base))
                    .json(&body),
            )
            .await?;
        Ok(v["id"].as_str().context("no id")?.to_string())
    }

    pub async fn token(&self, session_id: &str, role: &str) -> Result<IssuedToken> {
        let v = self
            .send(
                self.http
                    .post(format!("{}/v1/sessions/{session_id}/tokens", self.base))
                    .json(&json!({"role": role})),
            )
            .await?;
        Ok(serde_json::from_value(v)?)
    }

    pub async fn get(&self, path: &str) -> Result<Value> {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    pub async fn post(&self, path: &str, body: Value) -> Result<Value> {
        self.send(self.http.post(format!("{}{path}", self.base)).json(&body))
            .await
    }

    /// A client for the same server that authenticates with `bearer` (a join token).
    pub fn with_bearer(&self, bearer: &str) -> ApiClient {
        ApiClient {
            base: self.base.clone(),
            api_key: bearer.to_string(),
            http: self.http.clone(),
        }
    }

    /// POST `body` and return the status and JSON body whatever the status (the load test
    /// counts error codes rather than failing on them). Transport errors are `Err`.
    pub async fn post_raw(&self, path: &str, body: &Value) -> Result<(u16, Value)> {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.api_key)
            .json(body)
            .send()
            .await?;
        let status = resp.status().as_u16();
        let body = resp.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    /// GET a path without authentication as plain text (`/metrics`).
    pub async fn get_text(&self, path: &str) -> Result<String> {
        let resp = self.http.get(format!("{}{path}", self.base)).send().await?;
        if !resp.status().is_success() {
            bail!("GET {path}: HTTP {}", resp.status());
        }
        Ok(resp.text().await?)
    }
}
