//! Join links that must not work: expired, not yet valid, tampered, foreign-signed,
//! or naming nobody. Each gets a clear error page (HTTP) or 401 (WebSocket) and never
//! reaches the media plane.

use chrono::{Duration, Utc};
use uuid::Uuid;
use viva::auth::{JoinGrant, Signer};

use crate::helpers::{TestApp, join_tokens, spawn_app};

async fn page(app: &TestApp, token: &str) -> (u16, String) {
    let res = app
        .http
        .get(format!("{}/j/{token}", app.base))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn ws_status(app: &TestApp, token: &str) -> u16 {
    match tokio_tungstenite::connect_async(app.ws_url(token)).await {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("unexpected websocket error {e}"),
    }
}

async fn assert_refused(app: &TestApp, token: &str, code: &str) {
    let (status, body) = page(app, token).await;
    assert_eq!(status, 401, "page for {code}");
    assert!(
        body.contains(&format!("data-error-code=\"{code}\"")),
        "page should explain {code}: {body}"
    );
    assert!(body.contains("无法进入会议"), "Chinese text first");
    assert_eq!(ws_status(app, token).await, 401, "websocket for {code}");
}

#[tokio::test]
async fn a_current_link_opens_the_join_page_and_signaling() {
    let app = spawn_app().await;
    let tokens = app.book_now(&[("专家", "expert")]).await;
    let (status, body) = page(&app, &tokens[0]).await;
    assert_eq!(status, 200);
    assert!(body.contains("/assets/join.js"), "{body}");
    assert_eq!(ws_status(&app, &tokens[0]).await, 101);
}

#[tokio::test]
async fn an_expired_link_is_refused() {
    let app = spawn_app().await;
    let body = app
        .book(Utc::now() - Duration::hours(3), 60, &[("专家", "expert")])
        .await;
    assert_refused(&app, &join_tokens(&body)[0], "expired").await;
}

#[tokio::test]
async fn a_link_before_its_window_is_refused_with_the_opening_time() {
    let app = spawn_app().await;
    let start = Utc::now() + Duration::days(2);
    let body = app.book(start, 60, &[("专家", "expert")]).await;
    let token = &join_tokens(&body)[0];
    assert_refused(&app, token, "not_yet_valid").await;
    let opens = (start - Duration::minutes(30)).with_timezone(&chrono_tz::Asia::Shanghai);
    let (_, page_text) = page(&app, token).await;
    assert!(
        page_text.contains(&opens.format("%Y-%m-%d %H:%M").to_string()),
        "page names the opening time: {page_text}"
    );
}

#[tokio::test]
async fn the_link_window_opens_thirty_minutes_before_and_ends_with_the_session() {
    let app = spawn_app().await;
    // Starts in 20 minutes: inside the 30-minute early window, so usable now.
    let body = app
        .book(
            Utc::now() + Duration::minutes(20),
            45,
            &[("专家", "expert")],
        )
        .await;
    let link = &body["joinLinks"][0];
    let from: chrono::DateTime<Utc> = link["validFrom"].as_str().unwrap().parse().unwrap();
    let until: chrono::DateTime<Utc> = link["validUntil"].as_str().unwrap().parse().unwrap();
    let start: chrono::DateTime<Utc> = body["session"]["startsAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(start - from, Duration::minutes(30));
    assert_eq!(until - start, Duration::minutes(45));
    assert_eq!(page(&app, &join_tokens(&body)[0]).await.0, 200);
}

#[tokio::test]
async fn a_tampered_link_is_refused() {
    let app = spawn_app().await;
    let token = app.book_now(&[("观察员", "observer")]).await.remove(0);
    // Forge the payload: an observer tries to become a publishing host.
    let (version, rest) = token.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let json = String::from_utf8(engine.decode(payload).unwrap()).unwrap();
    let forged = json
        .replace("\"observer\"", "\"host\"")
        .replace("\"pub\":false", "\"pub\":true");
    assert_ne!(forged, json);
    let tampered = format!("{version}.{}.{signature}", engine.encode(forged));
    assert_refused(&app, &tampered, "invalid_token").await;
    assert_eq!(app.state.sfu.stats().await.unwrap().participants, 0);
}

#[tokio::test]
async fn a_link_signed_with_another_key_is_refused() {
    let app = spawn_app().await;
    let body = app.book(Utc::now(), 60, &[("专家", "expert")]).await;
    let foreign = Signer::new(b"someone-else's-key-0123456789abcdef");
    let token = foreign.sign_join(&JoinGrant {
        sid: body["session"]["id"].as_str().unwrap().parse().unwrap(),
        pid: body["joinLinks"][0]["participantId"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap(),
        role: scheduler::Role::Host,
        may_publish: true,
        may_subscribe: true,
        nbf: 0,
        exp: (Utc::now() + Duration::hours(1)).timestamp(),
        generation: 0,
    });
    assert_refused(&app, &token, "invalid_token").await;
}

#[tokio::test]
async fn a_correctly_signed_grant_for_nobody_is_refused_at_signaling() {
    let app = spawn_app().await;
    let token = app.state.signer.sign_join(&JoinGrant {
        sid: Uuid::new_v4(),
        pid: Uuid::new_v4(),
        role: scheduler::Role::Expert,
        may_publish: true,
        may_subscribe: true,
        nbf: 0,
        exp: (Utc::now() + Duration::hours(1)).timestamp(),
        generation: 0,
    });
    assert_eq!(ws_status(&app, &token).await, 401);
    assert_eq!(app.state.sfu.stats().await.unwrap().participants, 0);
}

#[tokio::test]
async fn signaling_without_a_token_or_with_garbage_is_refused() {
    let app = spawn_app().await;
    let url = format!("{}/rtc", app.base.replacen("http://", "ws://", 1));
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 401),
        other => panic!("expected 401, got {other:?}"),
    }
    for junk in ["", "x", "v1..", "v1.e30.AAAA"] {
        assert_eq!(ws_status(&app, junk).await, 401, "{junk:?}");
    }
    assert_eq!(page(&app, "v1.garbage.sig").await.0, 401);
}
