//! The lobby, enforced by the SFU: a defense's applicant receives no media from the room
//! and sends none to it until the host admits them; only the host can admit; the
//! admission survives a reconnect.

use std::time::Duration;

use serde_json::Value;
use viva::signaling::protocol::ClientMessage;

use crate::helpers::{join_tokens, spawn_app};
use crate::rtc_client::run_participant;
use crate::ws_client::WsClient;

/// Joins, sends one command, and collects what comes back for a moment.
async fn command(app: &crate::helpers::TestApp, token: &str, message: ClientMessage) -> Vec<Value> {
    let mut client = WsClient::join(app, token).await;
    client.say(message).await;
    client.drain(Duration::from_millis(500)).await;
    client.seen
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
    let applicant_id: uuid::Uuid = body["joinLinks"][2]["participantId"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let admit = ClientMessage::Admit {
        participant_id: applicant_id,
    };
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
    let replies = command(&app, &tokens[1], admit.clone()).await;
    assert!(
        replies
            .iter()
            .any(|r| r["type"] == "error" && r["code"] == "forbidden"),
        "{replies:?}"
    );

    // The host admits; the admission holds when the applicant reconnects.
    let replies = command(&app, &tokens[0], admit.clone()).await;
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
    let applicant_id: uuid::Uuid = body["joinLinks"][2]["participantId"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let admit = ClientMessage::Admit {
        participant_id: applicant_id,
    };
    let mut host = WsClient::join(&app, &tokens[0]).await;
    let mut expert = WsClient::join(&app, &tokens[1]).await;
    let mut applicant = WsClient::join(&app, &tokens[2]).await;
    // On joining, the applicant hears it is in the lobby, then the phase.
    let in_lobby = applicant
        .wait_for("a message", |v| v["type"] == "lobby")
        .await;
    assert_eq!(in_lobby["inLobby"], true);
    let first = applicant
        .wait_for("a message", |v| v["type"] == "phase")
        .await;
    assert_eq!(first["phase"], "lobby");

    // Only the host moves the agenda.
    expert.say(ClientMessage::Advance).await;
    let refused = expert.wait_for("a message", |v| v["type"] == "error").await;
    assert_eq!(refused["code"], "forbidden");

    host.say(admit.clone()).await;
    let admitted = applicant
        .wait_for("a message", |v| v["type"] == "lobby")
        .await;
    assert_eq!(admitted["inLobby"], false);

    host.say(ClientMessage::Advance).await;
    let presentation = expert
        .wait_for("a message", |v| {
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
    host.say(ClientMessage::Extend { minutes: 5 }).await;
    let extended = applicant
        .wait_for("a message", |v| {
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

    host.say(ClientMessage::Advance).await; // Q&A
    host.say(ClientMessage::Advance).await; // deliberation
    let back_in_lobby = applicant
        .wait_for("a message", |v| v["type"] == "lobby")
        .await;
    assert_eq!(
        back_in_lobby["inLobby"], true,
        "deliberation returns the applicant to the lobby"
    );
    expert
        .wait_for("a message", |v| {
            v["type"] == "phase" && v["phase"] == "deliberation"
        })
        .await;

    host.say(admit.clone()).await;
    let closed = host.wait_for("a message", |v| v["type"] == "error").await;
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
