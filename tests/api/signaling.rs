//! Signaling protocol rules over a real WebSocket: version negotiation, malformed and
//! hostile messages, and that a misbehaving participant does not disturb the others.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{TestApp, spawn_app};
use crate::rtc_client::run_participant;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(app: &TestApp, token: &str) -> Ws {
    tokio_tungstenite::connect_async(app.ws_url(token))
        .await
        .expect("connects")
        .0
}

async fn send(ws: &mut Ws, text: &str) {
    ws.send(Message::Text(text.to_owned().into()))
        .await
        .unwrap();
}

/// The next JSON message of `kind`, skipping others; `None` if the socket closes or
/// 5 s pass.
async fn next_of(ws: &mut Ws, kind: &str) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next()).await.ok()??;
        if let Ok(Message::Text(text)) = msg {
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["type"] == kind {
                return Some(v);
            }
        } else if matches!(msg, Ok(Message::Close(_)) | Err(_)) {
            return None;
        }
    }
}

async fn closes(ws: &mut Ws) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(None | Some(Ok(Message::Close(_))) | Some(Err(_))) => return true,
            Ok(Some(Ok(_))) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn an_unsupported_protocol_version_is_refused_and_closed() {
    let app = spawn_app().await;
    let token = app.book_now(&[("专家", "expert")]).await.remove(0);
    let mut ws = connect(&app, &token).await;
    send(&mut ws, r#"{"type":"join","protocol":99}"#).await;
    let err = next_of(&mut ws, "error").await.expect("error reply");
    assert_eq!(err["code"], "unsupported_protocol");
    assert_eq!(err["fatal"], true);
    assert!(closes(&mut ws).await);
    assert_eq!(app.state.sfu.stats().await.unwrap().participants, 0);
}

#[tokio::test]
async fn the_first_message_must_be_join() {
    let app = spawn_app().await;
    let token = app.book_now(&[("专家", "expert")]).await.remove(0);
    let mut ws = connect(&app, &token).await;
    send(&mut ws, r#"{"type":"answer","sdp":"v=0"}"#).await;
    let err = next_of(&mut ws, "error").await.expect("error reply");
    assert_eq!(err["code"], "join_first");
    assert!(closes(&mut ws).await);
}

#[tokio::test]
async fn welcome_names_the_session_and_who_is_there() {
    let app = spawn_app().await;
    let tokens = app.book_now(&[("秘书", "host"), ("专家", "expert")]).await;
    let mut first = connect(&app, &tokens[0]).await;
    send(&mut first, r#"{"type":"join","protocol":1}"#).await;
    let welcome = next_of(&mut first, "welcome").await.unwrap();
    assert_eq!(welcome["me"]["name"], "秘书");
    assert_eq!(welcome["participants"], json!([]));
    assert!(
        next_of(&mut first, "offer").await.unwrap()["sdp"]
            .as_str()
            .unwrap()
            .contains("a=ice-lite")
    );

    let mut second = connect(&app, &tokens[1]).await;
    send(&mut second, r#"{"type":"join","protocol":1}"#).await;
    let welcome = next_of(&mut second, "welcome").await.unwrap();
    assert_eq!(welcome["participants"][0]["name"], "秘书");
    let joined = next_of(&mut first, "participantJoined").await.unwrap();
    assert_eq!(joined["participant"]["role"], "expert");

    drop(second);
    let left = next_of(&mut first, "participantLeft").await.unwrap();
    assert_eq!(left["id"], welcome["me"]["id"]);
}

#[tokio::test]
async fn opening_a_link_twice_replaces_the_older_connection() {
    let app = spawn_app().await;
    let token = app.book_now(&[("专家", "expert")]).await.remove(0);
    let mut old = connect(&app, &token).await;
    send(&mut old, r#"{"type":"join","protocol":1}"#).await;
    next_of(&mut old, "welcome").await.unwrap();
    let mut new = connect(&app, &token).await;
    send(&mut new, r#"{"type":"join","protocol":1}"#).await;
    next_of(&mut new, "welcome").await.unwrap();
    let err = next_of(&mut old, "error").await.unwrap();
    assert_eq!(err["code"], "replaced");
    assert!(closes(&mut old).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_messages_get_errors_and_do_not_disturb_the_room() {
    let app = spawn_app().await;
    let tokens = app
        .book_now(&[
            ("专家甲", "expert"),
            ("专家乙", "expert"),
            ("捣乱者", "expert"),
        ])
        .await;
    let mut hostile = connect(&app, &tokens[2]).await;
    send(&mut hostile, r#"{"type":"join","protocol":1}"#).await;
    next_of(&mut hostile, "welcome").await.unwrap();

    // The last is five times the server's read buffer: it still arrives whole, and is
    // answered as the bad SDP it is.
    let long_sdp = format!(r#"{{"type":"answer","sdp":"{}"}}"#, "x".repeat(40_000));
    let garbage = [
        "not json",
        "[]",
        r#"{"type":"offer","sdp":"v=0"}"#,
        r#"{"type":"answer"}"#,
        r#"{"type":"join","protocol":1,"role":"host","pub":true}"#,
        r#"{"type":"publish","kind":"screen"}"#,
        r#"{"type":"answer","sdp":"this is not sdp"}"#,
        &long_sdp,
    ];
    for text in garbage {
        send(&mut hostile, text).await;
        let err = next_of(&mut hostile, "error")
            .await
            .unwrap_or_else(|| panic!("no reply to {text}"));
        assert_eq!(err["fatal"], false, "{text}: {err}");
    }
    hostile
        .send(Message::Binary(vec![0u8; 32].into()))
        .await
        .unwrap();
    let err = next_of(&mut hostile, "error").await.unwrap();
    assert_eq!(err["code"], "binary_not_supported");

    // Meanwhile the two others exchange media normally.
    let limit = Duration::from_secs(20);
    let (ua, ub) = (app.ws_url(&tokens[0]), app.ws_url(&tokens[1]));
    let (a, b) = tokio::join!(
        run_participant(&ua, 1, &[2], 30, limit),
        run_participant(&ub, 2, &[1], 30, limit),
    );
    assert!(a.video_from.get(&2).copied().unwrap_or(0) >= 30, "{a:?}");
    assert!(b.video_from.get(&1).copied().unwrap_or(0) >= 30, "{b:?}");
    assert_eq!(a.corrupt + b.corrupt, 0);
}

#[tokio::test]
async fn a_flood_of_bad_messages_closes_only_that_connection() {
    let app = spawn_app().await;
    let tokens = app
        .book_now(&[("专家甲", "expert"), ("捣乱者", "expert")])
        .await;
    let mut good = connect(&app, &tokens[0]).await;
    send(&mut good, r#"{"type":"join","protocol":1}"#).await;
    next_of(&mut good, "welcome").await.unwrap();
    let mut hostile = connect(&app, &tokens[1]).await;
    send(&mut hostile, r#"{"type":"join","protocol":1}"#).await;
    next_of(&mut hostile, "welcome").await.unwrap();
    for _ in 0..viva::signaling::ws::MAX_PROTOCOL_ERRORS {
        send(&mut hostile, "{").await;
    }
    assert!(closes(&mut hostile).await, "flooder is disconnected");
    // The good participant just sees them leave, and stays connected.
    let left = next_of(&mut good, "participantLeft").await.unwrap();
    assert!(left["id"].is_string());
    send(&mut good, r#"{"type":"leave"}"#).await;
    assert!(closes(&mut good).await);
}
