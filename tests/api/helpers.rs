//! Spawning a real server for a test, and typed helpers for its API.

use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use tempfile::TempDir;
use viva::app::Application;
use viva::config::{Config, Secret};

pub const ADMIN_PASSWORD: &str = "test-admin-password";
pub const SIGNING_KEY: &str = "test-signing-key-0123456789abcdef0123456789";

/// A running server. Dropping it stops the server and removes its files.
pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub state: viva::state::AppState,
    _dir: TempDir,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A server with a configuration tweak (e.g. an SMTP relay).
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    if std::env::var_os("VIVA_TEST_LOG").is_some() {
        viva::telemetry::init();
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::default();
    config.http.listen = "127.0.0.1:0".parse().unwrap();
    config.http.public_url = String::new();
    config.media.udp_listen = "127.0.0.1:0".parse().unwrap();
    config.media.announce_ip = "127.0.0.1".parse().unwrap();
    config.database.url = format!("sqlite://{}", dir.path().join("viva.db").display());
    config.storage.data_dir = dir.path().join("data");
    config.web.dir = repo_root().join("web/dist");
    config.auth.admin_password = Secret::new(ADMIN_PASSWORD);
    config.auth.signing_key = Secret::new(SIGNING_KEY);
    tweak(&mut config);
    let app = Application::build(config).await.expect("server builds");
    let base = app.public_url().to_owned();
    let state = app.state().clone();
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    TestApp {
        base,
        http: reqwest::Client::new(),
        state,
        _dir: dir,
        _shutdown: shutdown,
    }
}

impl TestApp {
    pub fn ws_url(&self, token: &str) -> String {
        format!(
            "{}/rtc?token={token}",
            self.base.replacen("http://", "ws://", 1)
        )
    }

    pub async fn admin_token(&self) -> String {
        let res = self
            .http
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Books a session and returns the response body.
    pub async fn book(&self, start: DateTime<Utc>, minutes: i64, people: &[(&str, &str)]) -> Value {
        self.book_kind("defense", start, minutes, people).await
    }

    /// An administrator's GET of a JSON resource; asserts 200.
    pub async fn admin_get(&self, path: &str) -> Value {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(self.admin_token().await)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "GET {path}");
        res.json().await.unwrap()
    }

    /// Books a session of the given kind (`defense` or `training`).
    pub async fn book_kind(
        &self,
        kind: &str,
        start: DateTime<Utc>,
        minutes: i64,
        people: &[(&str, &str)],
    ) -> Value {
        let token = self.admin_token().await;
        let participants: Vec<Value> = people
            .iter()
            .map(|(name, role)| json!({"name": name, "role": role}))
            .collect();
        let res = self
            .http
            .post(format!("{}/api/v1/sessions", self.base))
            .bearer_auth(token)
            .json(&json!({
                "title": "项目答辩 · test",
                "kind": kind,
                "start": start.to_rfc3339(),
                "durationMinutes": minutes,
                "timeZone": "Asia/Shanghai",
                "participants": participants,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            201,
            "booking failed: {}",
            res.text().await.unwrap()
        );
        res.json().await.unwrap()
    }

    /// Books a session that is on now with the given people; returns their join
    /// tokens in order.
    pub async fn book_now(&self, people: &[(&str, &str)]) -> Vec<String> {
        let body = self
            .book(Utc::now() - Duration::minutes(5), 60, people)
            .await;
        join_tokens(&body)
    }
}

pub fn join_urls(body: &Value) -> Vec<String> {
    body["joinLinks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["url"].as_str().unwrap().to_owned())
        .collect()
}

pub fn join_tokens(body: &Value) -> Vec<String> {
    join_urls(body)
        .into_iter()
        .map(|u| u.rsplit('/').next().unwrap().to_owned())
        .collect()
}

/// A new, empty database on the test PostgreSQL server (`VIVA_TEST_POSTGRES_URL`, set by
/// `scripts/test.sh`); `None` outside CI when no server is configured.
pub async fn fresh_postgres_database() -> Option<String> {
    let Ok(url) = std::env::var("VIVA_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "VIVA_TEST_POSTGRES_URL must be set under CI (scripts/test.sh sets it)"
        );
        eprintln!("PostgreSQL variant skipped: VIVA_TEST_POSTGRES_URL is not set");
        return None;
    };
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    let name = format!("viva_api_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .unwrap();
    Some(match url.split_once('?') {
        Some((base, query)) => format!("{}/{name}?{query}", base.trim_end_matches("/postgres")),
        None => format!("{}/{name}", url.trim_end_matches("/postgres")),
    })
}
