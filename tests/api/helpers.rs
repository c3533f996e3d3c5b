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
    /// Where the server listens (differs from `base` when a test sets a public URL).
    pub bound: String,
    /// The admin (metrics) listener.
    pub admin_base: Option<String>,
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

/// Free disk below which a test server refuses to record, in MB.
pub const TEST_MIN_FREE_DISK_MB: u64 = 64;

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
    config.media.tcp_listen = "127.0.0.1:0".into();
    config.media.announce_ip = "127.0.0.1".parse().unwrap();
    config.database.url = format!("sqlite://{}", dir.path().join("viva.db").display());
    config.storage.data_dir = dir.path().join("data");
    config.web.dir = repo_root().join("web/dist");
    config.auth.admin_password = Secret::new(ADMIN_PASSWORD);
    config.auth.signing_key = Secret::new(SIGNING_KEY);
    config.admin.listen = "127.0.0.1:0".into();
    // A test records a few megabytes; the 2 GB production floor would make recording
    // refuse on a build machine whose disk is merely busy (CI of e07f31c failed so).
    config.alerts.min_free_disk_mb = TEST_MIN_FREE_DISK_MB;
    tweak(&mut config);
    let app = Application::build(config).await.expect("server builds");
    let base = app.public_url().to_owned();
    let bound = format!("http://{}", app.http_addr());
    let admin_base = app.admin_addr().map(|a| format!("http://{a}"));
    let state = app.state().clone();
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    TestApp {
        base,
        bound,
        admin_base,
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

    /// What the admin listener's `/metrics` says, in Prometheus text.
    pub async fn metrics(&self) -> String {
        let admin = self.admin_base.clone().expect("admin listener");
        self.http
            .get(format!("{admin}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn admin_token(&self) -> String {
        admin_token_at(&self.http, &self.base).await
    }

    /// Books a session and returns the response body.
    pub async fn book(&self, start: DateTime<Utc>, minutes: i64, people: &[(&str, &str)]) -> Value {
        self.book_kind("defense", start, minutes, people).await
    }

    /// An administrator's GET of a JSON resource; asserts 200.
    /// GETs a public path and reads its JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

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

    /// An administrator's POST of a JSON body; asserts success and returns the reply.
    pub async fn admin_post(&self, path: &str, body: Value) -> Value {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(self.admin_token().await)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "POST {path}: {}", res.status());
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
        self.booking(kind)
            .at(start)
            .minutes(minutes)
            .people(people)
            .send()
            .await
            .body
    }

    /// The one way tests book: `app.booking("defense").people(&[…]).send()`, a session
    /// that began a minute ago and lasts an hour unless told otherwise.
    pub fn booking<'a>(&'a self, kind: &'a str) -> Booking<'a> {
        Booking {
            app: self,
            kind,
            start: Utc::now() - Duration::minutes(1),
            minutes: 60,
            participants: Vec::new(),
        }
    }

    /// Books a training session that began a minute ago with a trainer (first) and a
    /// host (second).
    pub async fn book_training_pair(&self) -> TrainingPair {
        let body = self
            .book_kind(
                "training",
                Utc::now() - Duration::minutes(1),
                60,
                &[("讲师", "trainer"), ("秘书", "host")],
            )
            .await;
        let session = body["session"]["id"].as_str().unwrap().to_owned();
        let ws_urls = join_tokens(&body).iter().map(|t| self.ws_url(t)).collect();
        let participant_ids = (0..2)
            .map(|i| {
                body["joinLinks"][i]["participantId"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        TrainingPair {
            session,
            ws_urls,
            participant_ids,
        }
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

/// A training session on now, its trainer and host.
pub struct TrainingPair {
    /// The session's id.
    pub session: String,
    /// Signaling URLs: the trainer's, then the host's.
    pub ws_urls: Vec<String>,
    /// Participant ids in the same order.
    pub participant_ids: Vec<String>,
}

impl TrainingPair {
    /// Runs the trainer (tag 1) and the host (tag 2) publishing to each other for
    /// `limit`: both also expect a sender that never comes, so both run all of it.
    pub async fn run_for(
        &self,
        limit: std::time::Duration,
    ) -> (crate::rtc_client::Received, crate::rtc_client::Received) {
        use crate::rtc_client::run_participant;
        let urls = &self.ws_urls;
        let (a, b) = tokio::join!(
            run_participant(&urls[0], 1, &[2, 99], 1, limit),
            run_participant(&urls[1], 2, &[1, 99], 1, limit),
        );
        assert!(a.connected && b.connected);
        (a, b)
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

/// Creates a panel (host 秘书, experts 专家0–2) and `projects` applicants with one
/// project each, and books them as today's defense day starting a minute from now
/// (UTC), 2-minute phases. Returns each defense's session body (with join links), in
/// booked order.
pub async fn book_panel_day(app: &TestApp, projects: usize) -> Vec<Value> {
    book_panel_day_at(&app.http, &app.base, projects).await
}

/// [`book_panel_day`] on a server at `base` (one in another process).
pub async fn book_panel_day_at(http: &reqwest::Client, base: &str, projects: usize) -> Vec<Value> {
    let token = admin_token_at(http, base).await;
    let post = |path: &'static str, body: Value| {
        let (http, url, token) = (http.clone(), format!("{base}{path}"), token.clone());
        async move {
            let res = http
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(res.status().is_success(), "{path}: {}", res.status());
            res.json::<Value>().await.unwrap()
        }
    };
    let org = post("/api/v1/organisations", json!({"name": "乙科学院"})).await["id"].clone();
    let uni = post("/api/v1/organisations", json!({"name": "甲农业大学"})).await["id"].clone();
    let programme = post(
        "/api/v1/programmes",
        json!({"name": "重点研发", "minPanelSize": 3, "maxPanelSize": 5}),
    )
    .await["id"]
        .clone();
    let mut experts = Vec::new();
    for i in 0..3 {
        let e = post("/api/v1/people", json!({"name": format!("专家{i}"), "email": format!("e{i}@example.org"), "organisationId": org, "roles": ["expert"], "fields": ["农业"]})).await;
        experts.push(e["id"].clone());
    }
    let panel = post(
        "/api/v1/panels",
        json!({"name": "第一组", "memberIds": experts}),
    )
    .await["id"]
        .clone();
    let mut project_ids = Vec::new();
    for i in 0..projects {
        let a = post("/api/v1/people", json!({"name": format!("申请人{i}"), "email": format!("a{i}@example.org"), "organisationId": uni, "roles": ["applicant"]})).await;
        let p = post("/api/v1/projects", json!({"code": format!("NY-{i}"), "title": format!("项目{i}"), "programmeId": programme, "applicantId": a["id"], "organisationId": uni, "field": "农业"})).await;
        project_ids.push(p["id"].clone());
    }
    let start = Utc::now() + Duration::minutes(1);
    let plan = post(
        "/api/v1/plan",
        json!({
            "date": start.format("%Y-%m-%d").to_string(), "timeZone": "UTC",
            "dayStart": start.format("%H:%M").to_string(),
            "agenda": {"presentationMinutes": 2, "qaMinutes": 2, "deliberationMinutes": 2, "bufferMinutes": 0},
            "slots": projects, "panelIds": [panel], "projectIds": project_ids,
            "book": true, "hostName": "秘书"
        }),
    )
    .await;
    let mut placed: Vec<Value> = plan["placed"].as_array().unwrap().clone();
    assert_eq!(placed.len(), projects, "{plan}");
    placed.sort_by_key(|p| p["slot"].as_u64());
    let mut out = Vec::new();
    for p in placed {
        let res = http
            .get(format!(
                "{base}/api/v1/sessions/{}",
                p["sessionId"].as_str().unwrap()
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        out.push(res.json::<Value>().await.unwrap());
    }
    out
}

/// An administrator's sign-in token from the server at `base`.
pub async fn admin_token_at(http: &reqwest::Client, base: &str) -> String {
    let res = http
        .post(format!("{base}/api/v1/auth/login"))
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

/// The join token of the participant with this name in a session body.
pub fn token_of(session: &Value, name: &str) -> String {
    let link = session["joinLinks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not invited: {session}"));
    link["url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned()
}

/// The participant id of the participant with this name in a session body.
pub fn id_of(session: &Value, name: &str) -> String {
    session["joinLinks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == name)
        .unwrap()["participantId"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A local HTTP endpoint that keeps every JSON body POSTed to it (an alert webhook).
pub async fn webhook_sink() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    use axum::routing::post;
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |axum::Json(body): axum::Json<Value>| {
            let keep = keep.clone();
            async move {
                keep.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

/// Tests whose figures depend on timing (real browsers, injected network faults) take
/// this lock, so that on a 2-core machine they do not run beside each other and
/// measure their neighbours' load instead of what they test.
pub static TIMING_SENSITIVE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A booking being described ([`TestApp::booking`]); `send` books it.
pub struct Booking<'a> {
    app: &'a TestApp,
    kind: &'a str,
    start: DateTime<Utc>,
    minutes: i64,
    participants: Vec<Value>,
}

impl Booking<'_> {
    pub fn at(mut self, start: DateTime<Utc>) -> Self {
        self.start = start;
        self
    }

    pub fn minutes(mut self, minutes: i64) -> Self {
        self.minutes = minutes;
        self
    }

    /// Free-text participants, `(name, role)`.
    pub fn people(mut self, people: &[(&str, &str)]) -> Self {
        self.participants.extend(
            people
                .iter()
                .map(|(name, role)| json!({"name": name, "role": role})),
        );
        self
    }

    /// Books it as an administrator; asserts 201.
    pub async fn send(self) -> Booked {
        let res = self
            .app
            .http
            .post(format!("{}/api/v1/sessions", self.app.base))
            .bearer_auth(self.app.admin_token().await)
            .json(&json!({
                "title": "项目答辩 · test",
                "kind": self.kind,
                "start": self.start.to_rfc3339(),
                "durationMinutes": self.minutes,
                "timeZone": "Asia/Shanghai",
                "participants": self.participants,
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
        Booked::from_body(res.json().await.unwrap())
    }
}

/// A session booked to start a minute ago, as the tests use it.
pub struct Booked {
    pub session: String,
    /// Join tokens, in the order the participants were given.
    pub tokens: Vec<String>,
    /// Participant ids, in the same order.
    pub ids: Vec<String>,
    /// The API's reply as it came.
    pub body: Value,
}

impl Booked {
    fn from_body(body: Value) -> Self {
        Self {
            session: body["session"]["id"].as_str().unwrap().to_owned(),
            tokens: join_tokens(&body),
            ids: body["joinLinks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["participantId"].as_str().unwrap().to_owned())
                .collect(),
            body,
        }
    }
}

/// Books a session of `kind` running now (started a minute ago, 60 minutes).
pub async fn book_now_as(app: &TestApp, kind: &str, people: &[(&str, &str)]) -> Booked {
    app.booking(kind).people(people).send().await
}

/// Tests that load the CPU for seconds (GStreamer post-production) hold this for
/// reading; tests whose figures are measured under injected faults hold it for writing,
/// so that on a 2-core machine they never measure their neighbours' load. Always taken
/// before [`TIMING_SENSITIVE`], so the two locks cannot deadlock.
pub static CPU_HEAVY: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// One unlabelled figure from Prometheus text.
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

/// Waits until `check` yields a value (tried every 100 ms, for at most `within`) and
/// returns it; panics naming `what` otherwise. For things written in the background
/// (samples, connection events) that a test must see before it asserts on them.
pub async fn eventually<T, F, Fut>(what: &str, within: std::time::Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} did not happen within {within:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Waits until `check` says its value is complete (tried every 100 ms, for at most
/// `within`), then returns the last value either way: for waits that only let
/// background writes catch up before a test's own assertions judge what is there.
pub async fn settled<T, F, Fut>(within: std::time::Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = (bool, T)>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let (complete, value) = check().await;
        if complete || tokio::time::Instant::now() >= deadline {
            return value;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A port free on loopback now (for a server in another process, told its ports).
pub fn free_port(udp: bool) -> u16 {
    if udp {
        std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    } else {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }
}

/// Fails (with what to run) when Chromium, Playwright or the built web client is missing.
pub fn require_browser_tooling() {
    let chromium = std::env::var("VIVA_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "{chromium} is missing: run scripts/test.sh, which installs Debian's chromium"
    );
    assert!(
        repo_root()
            .join("tests/browser/node_modules/playwright-core")
            .exists(),
        "playwright-core is missing: run scripts/test.sh (npm ci in tests/browser)"
    );
    assert!(
        repo_root().join("web/dist/assets/join.js").exists(),
        "the web client is not built: run scripts/test.sh (npm run build in web)"
    );
}

/// `viva serve` in a process of its own, on fixed ports and one data directory, so it
/// can be stopped and started again as an operator (or systemd) would.
pub struct ServeProcess {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub media_port: u16,
    pub admin_port: u16,
    env: Vec<(String, String)>,
    child: Option<tokio::process::Child>,
    pub http: reqwest::Client,
}

impl ServeProcess {
    pub fn new(env: &[(&str, &str)]) -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            port: free_port(false),
            media_port: free_port(true),
            admin_port: free_port(false),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            child: None,
            http: reqwest::Client::new(),
        }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn admin_base(&self) -> String {
        format!("http://127.0.0.1:{}", self.admin_port)
    }

    pub fn log_path(&self) -> std::path::PathBuf {
        self.dir.path().join("viva.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Starts the server and returns once it answers `/healthz` (bounded).
    pub async fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_viva"));
        command
            .arg("serve")
            .current_dir(self.dir.path())
            .env("VIVA_HTTP__LISTEN", format!("127.0.0.1:{}", self.port))
            .env("VIVA_HTTP__PUBLIC_URL", self.base())
            .env(
                "VIVA_MEDIA__UDP_LISTEN",
                format!("127.0.0.1:{}", self.media_port),
            )
            .env("VIVA_MEDIA__TCP_LISTEN", "127.0.0.1:0")
            .env("VIVA_MEDIA__ANNOUNCE_IP", "127.0.0.1")
            .env("VIVA_MEDIA__SIMULCAST", "false")
            .env(
                "VIVA_ADMIN__LISTEN",
                format!("127.0.0.1:{}", self.admin_port),
            )
            .env(
                "VIVA_ALERTS__MIN_FREE_DISK_MB",
                TEST_MIN_FREE_DISK_MB.to_string(),
            )
            .env("VIVA_AUTH__ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("VIVA_AUTH__SIGNING_KEY", SIGNING_KEY)
            .env("VIVA_WEB__DIR", repo_root().join("web/dist"))
            .env("VIVA_BACKUP__EVERY_HOURS", "0")
            .env("VIVA_LOG", "info,rtc=warn,webrtc=warn,sqlx=warn")
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .kill_on_drop(true);
        for (k, v) in &self.env {
            command.env(k, v);
        }
        self.child = Some(command.spawn().unwrap());
        for _ in 0..200 {
            let ok = self
                .http
                .get(format!("{}/healthz", self.base()))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("viva serve did not come up: {}", self.log());
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id().unwrap()
    }

    /// Whether the process still runs.
    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// SIGKILL: no chance to save, close or say anything.
    pub async fn kill(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().await.unwrap();
    }

    /// SIGTERM; returns how long the server took to exit (bounded at 30 s).
    pub async fn terminate(&mut self) -> std::time::Duration {
        let started = std::time::Instant::now();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let mut child = self.child.take().unwrap();
        let status = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait())
            .await
            .expect("viva exits after SIGTERM")
            .unwrap();
        assert!(status.success(), "exit status {status:?}");
        started.elapsed()
    }

    pub async fn admin_get(&self, token: &str, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.base()))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits (bounded) until live state has been saved after `after`.
    pub async fn saved_after(&self, after: chrono::DateTime<chrono::Utc>) {
        let wanted = after.timestamp_millis() as f64 / 1000.0;
        for _ in 0..100 {
            let text = self
                .http
                .get(format!("{}/metrics", self.admin_base()))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let saved = metric(&text, "viva_live_state_saved_timestamp_seconds");
            if saved >= wanted {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("live state was not saved within 10 s");
    }
}
