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
