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
    use viva::limits::SIGN_IN_CONCURRENCY;
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
    config.media.tcp_listen = "127.0.0.1:0".into();
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

/// An admin's POST or DELETE; returns status and JSON body (or null).
async fn admin_send(app: &TestApp, method: reqwest::Method, path: &str) -> (u16, Value) {
    let res = app
        .http
        .request(method, format!("{}{path}", app.base))
        .bearer_auth(app.admin_token().await)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// What a link's holder gets from each door a join link opens: the join page, the
/// invitation, signaling, WHIP token issuance and recording links.
async fn doors(app: &TestApp, token: &str, session: &str) -> Vec<(String, u16, String)> {
    let mut out = Vec::new();
    let page = app
        .http
        .get(format!("{}/j/{token}", app.base))
        .send()
        .await
        .unwrap();
    let status = page.status().as_u16();
    let html = page.text().await.unwrap();
    let code = html
        .split("data-error-code=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("")
        .to_owned();
    out.push(("join page".into(), status, code));
    for (name, request) in [
        (
            "invitation",
            app.http
                .get(format!("{}/j/{token}/invitation.ics", app.base)),
        ),
        (
            "whip token",
            app.http
                .post(format!("{}/api/v1/sessions/{session}/whip-token", app.base))
                .bearer_auth(token),
        ),
        (
            "recording link",
            app.http
                .post(format!(
                    "{}/api/v1/recordings/{}/links",
                    app.base,
                    uuid::Uuid::new_v4()
                ))
                .bearer_auth(token)
                .json(&json!({"use": "play"})),
        ),
    ] {
        let res = request.send().await.unwrap();
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        out.push((
            name.into(),
            status,
            body["code"].as_str().unwrap_or("").to_owned(),
        ));
    }
    let ws = match tokio_tungstenite::connect_async(app.ws_url(token)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => r.status().as_u16(),
        Ok(_) => 101,
        Err(e) => panic!("{e}"),
    };
    out.push(("signaling".into(), ws, String::new()));
    out
}

fn all_refused(doors: &[(String, u16, String)], code: &str) {
    for (door, status, got) in doors {
        assert_eq!(*status, 401, "{door}: {doors:?}");
        if door != "signaling" {
            assert_eq!(got, code, "{door}: {doors:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_session_closes_its_connections_and_every_door_of_its_links() {
    let app = spawn_app().await;
    let t = book_now_as(
        &app,
        "training",
        &[("讲师", "trainer"), ("主持", "host"), ("农户", "trainee")],
    )
    .await;
    let mut trainer = WsClient::join(&app, &t.tokens[0]).await;
    let mut trainee = WsClient::join(&app, &t.tokens[2]).await;
    let asked = std::time::Instant::now();
    let (status, _) = admin_send(
        &app,
        reqwest::Method::POST,
        &format!("/api/v1/sessions/{}/cancel", t.session),
    )
    .await;
    assert_eq!(status, 200);
    for client in [&mut trainer, &mut trainee] {
        let fatal = client.closed_with().await.expect("told why");
        assert_eq!(fatal["code"], "cancelled", "{fatal}");
    }
    assert!(
        asked.elapsed() < std::time::Duration::from_secs(2),
        "closed {:?} after the cancellation",
        asked.elapsed()
    );
    all_refused(&doors(&app, &t.tokens[1], &t.session).await, "cancelled");
    let entries = audit_entries(&app).await;
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "cancelled" && e["sessionId"] == t.session.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_taken_off_the_booking_is_disconnected_and_their_link_is_void() {
    let app = spawn_app().await;
    let t = book_now_as(
        &app,
        "training",
        &[
            ("讲师", "trainer"),
            ("农户甲", "trainee"),
            ("农户乙", "trainee"),
        ],
    )
    .await;
    let mut trainer = WsClient::join(&app, &t.tokens[0]).await;
    let mut removed = WsClient::join(&app, &t.tokens[1]).await;
    let (status, _) = admin_send(
        &app,
        reqwest::Method::DELETE,
        &format!("/api/v1/sessions/{}/participants/{}", t.session, t.ids[1]),
    )
    .await;
    assert_eq!(status, 204);
    let fatal = removed.closed_with().await.expect("told why");
    assert_eq!(fatal["code"], "revoked", "{fatal}");
    trainer
        .wait_for("departure", |m| {
            m["type"] == "participantLeft" && m["id"] == t.ids[1].as_str()
        })
        .await;
    all_refused(&doors(&app, &t.tokens[1], &t.session).await, "revoked");
    // The others' links still work; the booking no longer lists them; they were sent
    // a cancellation of their invitation.
    WsClient::join(&app, &t.tokens[2]).await;
    let shown = app
        .admin_get(&format!("/api/v1/sessions/{}", t.session))
        .await;
    assert!(
        shown["joinLinks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["participantId"] != t.ids[1].as_str())
    );
    let notes = app
        .admin_get(&format!("/api/v1/sessions/{}/notifications", t.session))
        .await;
    assert!(
        notes.as_array().unwrap().iter().any(|n| {
            n["participantId"] == t.ids[1].as_str()
                && n["kind"] == "cancel"
                && n["ics"].as_str().unwrap().contains("METHOD:CANCEL")
        }),
        "{notes}"
    );
    let (again, _) = admin_send(
        &app,
        reqwest::Method::DELETE,
        &format!("/api/v1/sessions/{}/participants/{}", t.session, t.ids[1]),
    )
    .await;
    assert_eq!(again, 404, "already off the booking");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_link_closes_its_connection_and_only_the_new_link_works() {
    let app = spawn_app().await;
    let d = book_now_as(&app, "defense", &[("秘书", "host"), ("专家", "expert")]).await;
    let mut expert = WsClient::join(&app, &d.tokens[1]).await;
    let (status, renewed) = admin_send(
        &app,
        reqwest::Method::POST,
        &format!(
            "/api/v1/sessions/{}/participants/{}/revoke",
            d.session, d.ids[1]
        ),
    )
    .await;
    assert_eq!(status, 200, "{renewed}");
    let fatal = expert.closed_with().await.expect("told why");
    assert_eq!(fatal["code"], "revoked", "{fatal}");
    all_refused(&doors(&app, &d.tokens[1], &d.session).await, "revoked");
    let new_token = renewed["url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    assert_ne!(new_token, d.tokens[1]);
    let mut back = WsClient::join(&app, &new_token).await;
    back.wait_type("scoreSheet").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_outlives_its_link_is_closed_as_expired() {
    let app = crate::helpers::spawn_app_with(|c| c.auth.overrun_grace_minutes = 0).await;
    let d = book_now_as(&app, "defense", &[("秘书", "host"), ("专家", "expert")]).await;
    // The same participant's link, signed to end two seconds from now.
    let now = chrono::Utc::now();
    let token = app.state.signer.sign_join(&viva::auth::JoinGrant {
        sid: d.session.parse().unwrap(),
        pid: d.ids[1].parse().unwrap(),
        role: scheduler::Role::Expert,
        may_publish: true,
        may_subscribe: true,
        nbf: (now - chrono::Duration::minutes(1)).timestamp(),
        exp: (now + chrono::Duration::seconds(2)).timestamp(),
        generation: 0,
    });
    let mut expert = WsClient::join(&app, &token).await;
    let fatal = expert
        .closed_with()
        .await
        .expect("closed at the link's end");
    assert_eq!(fatal["code"], "expired", "{fatal}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panel_member_without_a_seat_in_the_defense_held_gets_none_of_its_media_or_roster() {
    use crate::helpers::{book_panel_day, id_of, token_of};
    use crate::rtc_client::run_participant;
    let app = spawn_app().await;
    let day = book_panel_day(&app, 2).await;
    let (first, second) = (&day[0], &day[1]);
    let s2 = second["session"]["id"].as_str().unwrap();
    let mut host = WsClient::join(&app, &token_of(first, "秘书")).await;
    let mut e0 = WsClient::join(&app, &token_of(first, "专家0")).await;
    let mut e2 = WsClient::join(&app, &token_of(first, "专家2")).await;
    let e2_id = id_of(first, "专家2");
    // A conflict of interest with the second project comes to light: 专家2 is taken
    // off the second defense while the day runs.
    let (status, _) = admin_send(
        &app,
        reqwest::Method::DELETE,
        &format!(
            "/api/v1/sessions/{s2}/participants/{}",
            id_of(second, "专家2")
        ),
    )
    .await;
    assert_eq!(status, 204);
    let mut a2 = WsClient::join(&app, &token_of(second, "申请人1")).await;
    let names: Vec<&str> = a2.welcome["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["秘书"],
        "an applicant waiting in the lobby sees the host only"
    );

    // The first defense closes; the second, which 专家2 must not attend, is held.
    for _ in 0..4 {
        host.send(json!({"type": "advance"})).await;
    }
    e0.wait_for("scoring", |m| {
        m["type"] == "phase" && m["phase"] == "scoring"
    })
    .await;
    e0.send(json!({"type": "submitScores", "scores": [8, 8, 8, 8], "comment": ""}))
        .await;
    e0.wait_for("locked", |m| {
        m["type"] == "scoreSheet" && m["locked"] == true
    })
    .await;
    host.send(json!({"type": "advance"})).await;
    let notice = e2
        .wait_for("out of the room", |m| {
            m["type"] == "lobby" && m["inLobby"] == true
        })
        .await;
    assert_eq!(notice["reason"], "notSeated", "{notice}");
    e0.wait_for("专家2 leaves the roster", |m| {
        m["type"] == "participantLeft" && m["id"] == e2_id.as_str()
    })
    .await;
    a2.wait_for("admitted", |m| {
        m["type"] == "lobby" && m["inLobby"] == false
    })
    .await;
    a2.drain(std::time::Duration::from_millis(300)).await;
    assert!(
        !a2.saw(|m| m["type"] == "participantJoined" && m["participant"]["id"] == e2_id.as_str()),
        "the applicant never learns 专家2 is there"
    );

    // Media: the panel and the applicant see and hear each other; 专家2 neither
    // receives anything nor reaches anyone.
    let limit = std::time::Duration::from_secs(6);
    let (u0, u2, ue2) = (
        app.ws_url(&token_of(first, "专家0")),
        app.ws_url(&token_of(second, "申请人1")),
        app.ws_url(&token_of(first, "专家2")),
    );
    let (expert, applicant, excluded) = tokio::join!(
        run_participant(&u0, 1, &[2], 20, limit),
        run_participant(&u2, 2, &[1], 20, limit),
        run_participant(&ue2, 3, &[1, 2], 20, limit),
    );
    assert!(
        expert.video_from.get(&2).copied().unwrap_or(0) >= 20
            && applicant.video_from.get(&1).copied().unwrap_or(0) >= 20,
        "{expert:?} {applicant:?}"
    );
    assert!(excluded.connected, "{excluded:?}");
    assert!(
        excluded.video_from.is_empty() && excluded.audio_from.is_empty(),
        "the excluded expert received the defense: {excluded:?}"
    );
    assert!(
        !expert.video_from.contains_key(&3)
            && !expert.audio_from.contains_key(&3)
            && !applicant.video_from.contains_key(&3)
            && !applicant.audio_from.contains_key(&3),
        "the excluded expert reached the defense: {expert:?} {applicant:?}"
    );
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    for path in [
        "/",
        "/help",
        "/j/not-a-token",
        "/api/v1/openapi.json",
        "/healthz",
    ] {
        let res = app
            .http
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        let h = res.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{path}: {csp}"
        );
        assert!(
            !csp.contains("'unsafe-eval'") && !csp.contains("script-src 'self' 'unsafe-inline'")
        );
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert!(
            h.get("strict-transport-security").is_none(),
            "no HSTS over plain http"
        );
    }
    let secure =
        crate::helpers::spawn_app_with(|c| c.http.public_url = "https://viva.example.org".into())
            .await;
    let res = secure
        .http
        .get(format!("{}/healthz", secure.bound))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["strict-transport-security"],
        "max-age=31536000",
        "HSTS once the public URL is https"
    );
}

#[tokio::test]
async fn rejections_are_the_json_error_shape_everywhere() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let cases = [
        (
            reqwest::Method::GET,
            "/api/v1/sessions",
            400,
            "malformed_query",
        ),
        (
            reqwest::Method::GET,
            "/api/v1/sessions?from=yesterday&to=x",
            422,
            "invalid_field",
        ),
        (
            reqwest::Method::GET,
            "/api/v1/no-such-thing",
            404,
            "not_found",
        ),
        (
            reqwest::Method::DELETE,
            "/api/v1/sessions",
            405,
            "method_not_allowed",
        ),
        (
            reqwest::Method::GET,
            "/api/v1/audit?limit=many",
            400,
            "malformed_query",
        ),
    ];
    for (method, path, status, code) in cases {
        let res = app
            .http
            .request(method.clone(), format!("{}{path}", app.base))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), status, "{method} {path}");
        let body: Value = res
            .json()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON: {e}"));
        assert_eq!(body["code"], code, "{method} {path}: {body}");
        assert!(body["message"].is_string());
    }
}

#[tokio::test]
async fn anonymous_view_counts_are_budgeted_per_client() {
    let app = spawn_app().await;
    let video = uuid::Uuid::new_v4();
    let mut statuses = Vec::new();
    for _ in 0..40 {
        let res = app
            .http
            .post(format!("{}/api/v1/help-videos/{video}/views", app.base))
            .json(&json!({"viewer": uuid::Uuid::new_v4()}))
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert!(limited >= 15, "40 writes in a burst: {statuses:?}");
    assert!(
        statuses[..20].iter().all(|s| *s == 404),
        "the burst passes: {statuses:?}"
    );
}

#[tokio::test]
async fn anonymous_health_checks_learn_nothing_an_attacker_could_use() {
    let app = spawn_app().await;
    let body = app.get_json("/healthz").await;
    let text = body.to_string();
    assert!(
        !text.contains("gstreamer") && !text.contains("participants") && !text.contains("version"),
        "{text}"
    );
}

#[tokio::test]
async fn a_client_opening_signaling_sockets_in_a_loop_is_slowed_down() {
    let app = spawn_app().await;
    let mut statuses = std::collections::BTreeMap::new();
    for _ in 0..260 {
        let status = match tokio_tungstenite::connect_async(app.ws_url("v1.not.a-token")).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => r.status().as_u16(),
            Ok(_) => 101,
            Err(e) => panic!("{e}"),
        };
        *statuses.entry(status).or_insert(0) += 1;
    }
    assert!(
        statuses.get(&429).copied().unwrap_or(0) >= 40,
        "a loop is refused before it reaches the database: {statuses:?}"
    );
    assert_eq!(statuses.get(&101), None);
}
