//! The lobby, enforced by the SFU: a defense's applicant receives no media from the room
//! and sends none to it until the host admits them; only the host can admit; the
//! admission survives a reconnect.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{join_tokens, spawn_app};
use crate::rtc_client::run_participant;

async fn command(app: &crate::helpers::TestApp, token: &str, text: String) -> Vec<Value> {
    let (mut ws, _) = tokio_tungstenite::connect_async(app.ws_url(token))
        .await
        .unwrap();
    ws.send(Message::Text(r#"{"type":"join","protocol":1}"#.into()))
        .await
        .unwrap();
    ws.send(Message::Text(text.into())).await.unwrap();
    // Collect what comes back for a moment (welcome, offer, maybe an error).
    let mut replies = Vec::new();
    while let Ok(Some(Ok(Message::Text(t)))) =
        tokio::time::timeout(Duration::from_millis(500), ws.next()).await
    {
        replies.push(serde_json::from_str(&t).unwrap());
    }
    replies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_applicant_gets_no_media_until_the_host_admits_them() {
    let app = spawn_app().await;
    let body = app
        .book(
            chrono::Utc::now() - chrono::Duration::minutes(1),
            60,
            &[
                ("秘书", "host"),
                ("专家", "expert"),
                ("申请人", "applicant"),
            ],
        )
        .await;
    let tokens = join_tokens(&body);
    let applicant_id = body["joinLinks"][2]["participantId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (expert_url, applicant_url) = (app.ws_url(&tokens[1]), app.ws_url(&tokens[2]));

    // In the lobby: connected, but nothing flows either way.
    let limit = Duration::from_secs(4);
    let (expert, applicant) = tokio::join!(
        run_participant(&expert_url, 1, &[2], 1, limit),
        run_participant(&applicant_url, 2, &[1], 1, limit),
    );
    assert!(
        expert.connected && applicant.connected,
        "{expert:?} {applicant:?}"
    );
    assert!(
        applicant.video_from.is_empty() && applicant.audio_from.is_empty(),
        "lobby received media: {applicant:?}"
    );
    assert!(
        expert.video_from.is_empty() && expert.audio_from.is_empty(),
        "the lobby sent media: {expert:?}"
    );

    // An expert cannot admit.
    let replies = command(
        &app,
        &tokens[1],
        format!(r#"{{"type":"admit","participantId":"{applicant_id}"}}"#),
    )
    .await;
    assert!(
        replies
            .iter()
            .any(|r| r["type"] == "error" && r["code"] == "forbidden"),
        "{replies:?}"
    );

    // The host admits; the admission holds when the applicant reconnects.
    let replies = command(
        &app,
        &tokens[0],
        format!(r#"{{"type":"admit","participantId":"{applicant_id}"}}"#),
    )
    .await;
    assert!(!replies.iter().any(|r| r["type"] == "error"), "{replies:?}");
    let limit = Duration::from_secs(20);
    let (expert, applicant) = tokio::join!(
        run_participant(&expert_url, 1, &[2], 30, limit),
        run_participant(&applicant_url, 2, &[1], 30, limit),
    );
    assert!(
        applicant.video_from.get(&1).copied().unwrap_or(0) >= 30,
        "{applicant:?}"
    );
    assert!(
        expert.audio_from.get(&2).copied().unwrap_or(0) >= 30,
        "{expert:?}"
    );
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn joined(app: &crate::helpers::TestApp, token: &str) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(app.ws_url(token))
        .await
        .unwrap();
    ws.send(Message::Text(r#"{"type":"join","protocol":1}"#.into()))
        .await
        .unwrap();
    ws
}

async fn say(ws: &mut Ws, text: &str) {
    ws.send(Message::Text(text.to_owned().into()))
        .await
        .unwrap();
}

/// The next message matching `pred` within 5 s.
async fn expect(ws: &mut Ws, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("expected message within 5 s")
            .expect("socket open")
            .unwrap();
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).unwrap();
            if pred(&v) {
                return v;
            }
        }
    }
}

#[tokio::test]
async fn the_host_runs_the_agenda_and_deliberation_returns_the_applicant_to_the_lobby() {
    let app = spawn_app().await;
    let body = app
        .book(
            chrono::Utc::now() - chrono::Duration::minutes(1),
            60,
            &[
                ("秘书", "host"),
                ("专家", "expert"),
                ("申请人", "applicant"),
            ],
        )
        .await;
    let session: uuid::Uuid = body["session"]["id"].as_str().unwrap().parse().unwrap();
    let tokens = join_tokens(&body);
    let applicant_id = body["joinLinks"][2]["participantId"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut host = joined(&app, &tokens[0]).await;
    let mut expert = joined(&app, &tokens[1]).await;
    let mut applicant = joined(&app, &tokens[2]).await;
    // On joining, the applicant hears it is in the lobby, then the phase.
    let in_lobby = expect(&mut applicant, |v| v["type"] == "lobby").await;
    assert_eq!(in_lobby["inLobby"], true);
    let first = expect(&mut applicant, |v| v["type"] == "phase").await;
    assert_eq!(first["phase"], "lobby");

    // Only the host moves the agenda.
    say(&mut expert, r#"{"type":"advance"}"#).await;
    let refused = expect(&mut expert, |v| v["type"] == "error").await;
    assert_eq!(refused["code"], "forbidden");

    say(
        &mut host,
        &format!(r#"{{"type":"admit","participantId":"{applicant_id}"}}"#),
    )
    .await;
    let admitted = expect(&mut applicant, |v| v["type"] == "lobby").await;
    assert_eq!(admitted["inLobby"], false);

    say(&mut host, r#"{"type":"advance"}"#).await;
    let presentation = expect(&mut expert, |v| {
        v["type"] == "phase" && v["phase"] == "presentation"
    })
    .await;
    let ends: chrono::DateTime<chrono::Utc> =
        presentation["endsAt"].as_str().unwrap().parse().unwrap();
    let left = ends - chrono::Utc::now();
    assert!(
        left > chrono::Duration::minutes(14) && left <= chrono::Duration::minutes(15),
        "15-minute presentation: {left}"
    );
    say(&mut host, r#"{"type":"extend","minutes":5}"#).await;
    let extended = expect(&mut applicant, |v| {
        v["type"] == "phase"
            && v["phase"] == "presentation"
            && v["endsAt"] != presentation["endsAt"]
    })
    .await;
    let new_ends: chrono::DateTime<chrono::Utc> =
        extended["endsAt"].as_str().unwrap().parse().unwrap();
    assert!(
        new_ends - ends >= chrono::Duration::seconds(299),
        "extended by 5 minutes"
    );

    say(&mut host, r#"{"type":"advance"}"#).await; // Q&A
    say(&mut host, r#"{"type":"advance"}"#).await; // deliberation
    let back_in_lobby = expect(&mut applicant, |v| v["type"] == "lobby").await;
    assert_eq!(
        back_in_lobby["inLobby"], true,
        "deliberation returns the applicant to the lobby"
    );
    expect(&mut expert, |v| {
        v["type"] == "phase" && v["phase"] == "deliberation"
    })
    .await;

    say(
        &mut host,
        &format!(r#"{{"type":"admit","participantId":"{applicant_id}"}}"#),
    )
    .await;
    let closed = expect(&mut host, |v| v["type"] == "error").await;
    assert_eq!(closed["code"], "admission_closed");

    // Every change is stored with its time (chapters of the recording).
    let phases = crate::helpers::settled(Duration::from_secs(5), async || {
        let phases = app.state.store.phases(session).await.unwrap();
        (phases.len() >= 3, phases)
    })
    .await;
    let names: Vec<&str> = phases.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(names, vec!["presentation", "qa", "deliberation"]);
    assert!(phases.windows(2).all(|w| w[0].1 <= w[1].1));
}
