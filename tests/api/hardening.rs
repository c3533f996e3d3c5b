//! Hostile and buggy clients: what one participant, guest or bot can make the server
//! do is bounded, and nothing they do degrades, shows or changes what is not theirs
//! (issue "Hardening"; `docs/security.md`). Each test here failed before its fix.

use serde_json::{Value, json};

use crate::helpers::{TestApp, book_now_as, spawn_app};
use crate::ws_client::WsClient;

/// The whole audit log (after the writer caught up).
pub async fn audit_entries(app: &TestApp) -> Vec<Value> {
    app.state.audit.flush().await;
    app.admin_get("/api/v1/audit?limit=5000")
        .await
        .as_array()
        .unwrap()
        .clone()
}

/// An audit entry's detail (stored as JSON text).
pub fn detail(entry: &Value) -> Value {
    serde_json::from_str(entry["detail"].as_str().unwrap_or("null")).unwrap_or(Value::Null)
}

/// Audit entries of one actor.
pub fn by_actor<'a>(entries: &'a [Value], participant: &str) -> Vec<&'a Value> {
    entries
        .iter()
        .filter(|e| e["actor"] == format!("participant:{participant}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_flood_is_closed_with_one_audit_entry_and_scores_are_kept() {
    let app = spawn_app().await;
    let d = book_now_as(
        &app,
        "defense",
        &[
            ("秘书", "host"),
            ("专家", "expert"),
            ("申请人", "applicant"),
            ("旁听", "observer"),
        ],
    )
    .await;
    let (expert_id, observer_id) = (&d.ids[1], &d.ids[3]);
    let mut host = WsClient::join(&app, &d.tokens[0]).await;
    let mut expert = WsClient::join(&app, &d.tokens[1]).await;
    let mut observer = WsClient::join(&app, &d.tokens[3]).await;
    for _ in 0..4 {
        host.send(json!({"type": "advance"})).await;
    }
    expert
        .wait_for("scoring", |m| {
            m["type"] == "phase" && m["phase"] == "scoring"
        })
        .await;

    // The observer floods forbidden commands as fast as the socket takes them, while
    // the expert submits a sheet.
    let flood = [
        json!({"type": "mute", "participantId": expert_id}),
        json!({"type": "raiseHand", "raised": true}),
    ];
    let mut sent = 0;
    for i in 0..5000 {
        if !observer.try_send(&flood[i % 2]).await {
            break;
        }
        sent += 1;
        if i == 100 {
            expert
                .send(json!({"type": "submitScores", "scores": [8, 8, 8, 8], "comment": "好"}))
                .await;
        }
    }
    let fatal = observer
        .closed_with()
        .await
        .expect("the flooder is told why it is closed");
    assert_eq!(fatal["code"], "rate_limited", "{fatal}");
    assert!(sent > 100, "the flood was sent: {sent}");
    expert
        .wait_for("locked sheet", |m| {
            m["type"] == "scoreSheet" && m["locked"] == true
        })
        .await;

    let entries = audit_entries(&app).await;
    let flooder: Vec<&Value> = by_actor(&entries, observer_id)
        .into_iter()
        .filter(|e| e["action"] != "join" && e["action"] != "leave")
        .collect();
    assert!(
        flooder.len() <= 3,
        "a flood of {sent} messages left {} audit entries: one per kind of attempt and one for the close",
        flooder.len()
    );
    assert_eq!(
        flooder
            .iter()
            .filter(|e| e["action"] == "closedForAbuse")
            .count(),
        1
    );
    assert!(
        flooder
            .iter()
            .any(|e| e["action"] == "refused" && detail(e)["attempted"] == "mute"),
        "the kind of attempt is on record: {flooder:?}"
    );
    let report = app
        .admin_get(&format!("/api/v1/sessions/{}/scores", d.session))
        .await;
    let sheet = &report["sheets"][0];
    assert_eq!(sheet["expertId"], expert_id.as_str());
    assert_eq!(sheet["scores"], json!([8, 8, 8, 8]), "{report}");
    assert!(
        by_actor(&entries, expert_id)
            .iter()
            .any(|e| e["action"] == "scoreSubmitted")
    );
    let verify = app.admin_get("/api/v1/audit/verify").await;
    assert_eq!(verify["intact"], true, "{verify}");
    // The host is still connected and can act.
    host.send(json!({"type": "extend", "minutes": 1})).await;
    host.wait_for("extended", |m| {
        m["type"] == "phase" && m["phase"] == "scoring"
    })
    .await;
}

async fn sign_in(app: &TestApp, username: &str, password: &str) -> reqwest::Response {
    app.http
        .post(format!("{}/api/v1/auth/login", app.base))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn password_guessing_is_slowed_then_refused_before_the_password_is_checked() {
    let app = spawn_app().await;
    for attempt in 0..5 {
        let res = sign_in(&app, "admin", &format!("guess-{attempt}")).await;
        assert_eq!(res.status(), 401, "attempt {attempt}");
    }
    let res = sign_in(&app, "admin", "guess-5").await;
    assert_eq!(res.status(), 429);
    let wait: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait >= 1, "Retry-After {wait}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited");
    // Even the right password is not checked while the budget is spent: a guesser
    // learns nothing from the 429.
    let res = sign_in(&app, "admin", crate::helpers::ADMIN_PASSWORD).await;
    assert_eq!(res.status(), 429);
    // Another name from the same client still gets its own few tries.
    assert_eq!(sign_in(&app, "secretary", "x").await.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_sign_ins_never_run_more_password_checks_than_the_bound() {
    use viva::http::limits::SIGN_IN_CONCURRENCY;
    let app = spawn_app().await;
    let attempts = (0..40).map(|_| sign_in(&app, "admin", crate::helpers::ADMIN_PASSWORD));
    let statuses: Vec<u16> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "{statuses:?}"
    );
    assert!(statuses.contains(&200), "{statuses:?}");
    assert!(
        statuses.contains(&503),
        "40 at once exceed the queue: {statuses:?}"
    );
    let most = app.state.limits.most_checks_at_once();
    assert!(
        (1..=SIGN_IN_CONCURRENCY).contains(&most),
        "{most} Argon2 checks ran at once"
    );
}

#[tokio::test]
async fn a_weak_configured_administrator_password_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = viva::config::Config::default();
    config.http.listen = "127.0.0.1:0".parse().unwrap();
    config.media.udp_listen = "127.0.0.1:0".parse().unwrap();
    config.admin.listen = String::new();
    config.database.url = format!("sqlite://{}", dir.path().join("viva.db").display());
    config.storage.data_dir = dir.path().join("data");
    config.auth.admin_password = viva::config::Secret::new("123456");
    let err = viva::app::Application::build(config)
        .await
        .expect_err("a weak password is refused");
    let message = format!("{err:#}");
    assert!(
        message.contains("admin_password") && message.contains("at least 12"),
        "{message}"
    );
}
