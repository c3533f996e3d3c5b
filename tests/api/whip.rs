//! WHIP ingest end to end: a trainer's studio encoder (a Rust WHIP client offering
//! H.264 and Opus, as OBS Studio does) publishes into a training session; trainees
//! receive it, the recorder records it as sent, and the endpoint refuses what RFC 9725
//! and our grants say it must.

use std::time::Duration;
use viva::signaling::protocol::ClientMessage;

use chrono::Utc;
use serde_json::Value;

use crate::helpers::{TestApp, join_tokens, spawn_app, spawn_app_with};
use crate::rtc_client::{
    Options, WHIP_LAYERS, layer_tag, run_participant, run_participant_with, run_whip_publisher,
    run_whip_publisher_in_layers, simulcast_whip_offer,
};
use crate::ws_client::WsClient;

async fn token_for(app: &TestApp, session: &str, bearer: &str) -> reqwest::Response {
    app.http
        .post(format!("{}/api/v1/sessions/{session}/whip-token", app.base))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trainer_publishes_from_a_whip_client_to_trainees_and_the_recording() {
    let app = spawn_app().await;
    let Training {
        body,
        session,
        tokens,
        endpoint,
        whip,
    } = training_with_whip(&app).await;
    let trainer_id = body["joinLinks"][0]["participantId"]
        .as_str()
        .unwrap()
        .to_owned();

    // Only the trainer (or a host, or an administrator) gets the session's token.
    assert_eq!(token_for(&app, &session, &tokens[1]).await.status(), 403);
    assert!(endpoint.ends_with(&format!("/whip/{session}")));

    // Refusals: wrong media type, forged token, another session's token, not SDP.
    let post = async |token: &str, content_type: &str, body: &str| {
        app.http
            .post(&endpoint)
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(post(&whip, "application/json", "{}").await, 415);
    assert_eq!(post("v1.forged.token", "application/sdp", "v=0").await, 401);
    assert_eq!(
        post(&tokens[0], "application/sdp", "v=0").await,
        401,
        "a join token is not a WHIP token"
    );
    assert_eq!(post(&whip, "application/sdp", "hello").await, 400);
    // An offer that looks like SDP but is not one: refused, and no feed is left behind.
    assert_eq!(
        post(&whip, "application/sdp", "v=0\r\nm=nonsense\r\n").await,
        400
    );
    assert_eq!(app.state.ingests.count(), 0);
    let other = app
        .book_kind(
            "training",
            Utc::now() - chrono::Duration::minutes(1),
            60,
            &[("讲师", "trainer"), ("农户", "trainee")],
        )
        .await;
    let other_session = other["session"]["id"].as_str().unwrap();
    let wrong = app
        .http
        .post(format!("{}/whip/{other_session}", app.base))
        .bearer_auth(&whip)
        .header("content-type", "application/sdp")
        .body("v=0")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);

    // The trainer records; the studio feed and a trainee run side by side.
    let mut trainer = WsClient::join(&app, &tokens[0]).await;
    trainer.say(ClientMessage::Recording { on: true }).await;
    trainer
        .wait_for("recording", |m| m["type"] == "recording" && m["on"] == true)
        .await;
    let trainee_url = app.ws_url(&tokens[1]);
    let (feed, trainee) = tokio::join!(
        // H.264, as OBS Studio sends it.
        run_whip_publisher(&endpoint, &whip, 1, true, Duration::from_secs(6)),
        run_participant(&trainee_url, 2, &[1], 40, Duration::from_secs(6)),
    );
    assert_eq!(feed.status, 201, "{feed:?}");
    assert!(feed.connected && feed.sent > 100, "{feed:?}");
    assert!(
        trainee.video_from.get(&1).copied().unwrap_or(0) >= 40
            && trainee.audio_from.get(&1).copied().unwrap_or(0) >= 40,
        "the trainee receives the studio feed: {trainee:?}"
    );
    assert_eq!(trainee.corrupt, 0);

    // The resource ends with DELETE (once).
    let location = format!("{}{}", app.base, feed.location.clone().unwrap());
    let delete = async || {
        app.http
            .delete(&location)
            .bearer_auth(&whip)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(delete().await, 200);
    assert_eq!(delete().await, 404);

    trainer.say(ClientMessage::Recording { on: false }).await;
    let parts = crate::helpers::settled(Duration::from_secs(10), async || {
        let recordings = app
            .admin_get(&format!("/api/v1/sessions/{session}/recordings"))
            .await;
        let parts = recordings[0]["parts"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let closed =
            recordings[0]["state"] == "stopped" && parts.iter().all(|p| p["closed"] == true);
        (closed, parts)
    })
    .await;
    let studio = format!("whip-{trainer_id}");
    let mut tracks: Vec<(&str, &str)> = parts
        .iter()
        .filter(|p| p["participant"] == studio.as_str())
        .map(|p| (p["source"].as_str().unwrap(), p["codec"].as_str().unwrap()))
        .collect();
    tracks.sort();
    assert_eq!(
        tracks,
        vec![("camera", "H264"), ("microphone", "OPUS")],
        "recorded as sent, without transcoding: {parts:#?}"
    );
}

/// A training session running now, and the WHIP endpoint and token its trainer was
/// issued.
struct Training {
    body: Value,
    session: String,
    /// Join tokens, the trainer's first.
    tokens: Vec<String>,
    endpoint: String,
    whip: String,
}

async fn training_with_whip(app: &TestApp) -> Training {
    let body = app
        .book_kind(
            "training",
            Utc::now() - chrono::Duration::minutes(1),
            60,
            &[
                ("讲师", "trainer"),
                ("农户", "trainee"),
                ("果农", "trainee"),
            ],
        )
        .await;
    let session = body["session"]["id"].as_str().unwrap().to_owned();
    let tokens = join_tokens(&body);
    let issued: Value = token_for(app, &session, &tokens[0])
        .await
        .json()
        .await
        .unwrap();
    Training {
        endpoint: issued["endpoint"].as_str().unwrap().to_owned(),
        whip: issued["token"].as_str().unwrap().to_owned(),
        body,
        session,
        tokens,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encoder_with_simulcast_on_reaches_each_trainee_at_the_layer_it_asks_for() {
    let app = spawn_app().await;
    let Training {
        endpoint,
        whip,
        tokens,
        ..
    } = training_with_whip(&app).await;
    let (near, far) = (app.ws_url(&tokens[1]), app.ws_url(&tokens[2]));
    // One trainee asks for nothing (the top layer); the other for the lowest, as a
    // phone showing a small tile does.
    let low = Options {
        prefer_layer: Some("low"),
        ..Options::default()
    };
    let six_seconds = Duration::from_secs(6);
    let lowest = [layer_tag(1, 0)];
    let (feed, top, bottom) = tokio::join!(
        run_whip_publisher_in_layers(&endpoint, &whip, 1, six_seconds),
        run_participant(&near, 2, &[1], 100, six_seconds),
        run_participant_with(&far, 3, low, &lowest, 100, six_seconds),
    );
    assert_eq!(feed.status, 201, "{feed:?}");
    assert!(feed.connected, "{feed:?}");
    assert!(
        top.video_from.get(&1).copied().unwrap_or(0) >= 100
            && top.audio_from.get(&1).copied().unwrap_or(0) >= 100,
        "the first trainee receives the top layer and the sound: {top:?}"
    );
    // The lower layers only while the first frame climbs to the top, as each
    // layer's first keyframe makes it available.
    for layer in 0..WHIP_LAYERS.len() - 1 {
        let lower = top.video_from.get(&layer_tag(1, layer)).copied();
        assert!(lower.unwrap_or(0) <= 1, "layer {layer}: {top:?}");
    }
    let got = |layer| {
        bottom
            .video_from
            .get(&layer_tag(1, layer))
            .copied()
            .unwrap_or(0)
    };
    assert!(
        got(0) >= 100 && got(0) > 10 * (got(1) + got(2)),
        "the second trainee asked for the lowest layer: {bottom:?}"
    );
    assert_eq!(top.corrupt + bottom.corrupt, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_simulcast_off_an_encoder_offering_it_is_told_what_to_change() {
    let app = spawn_app_with(|config| config.media.simulcast = false).await;
    let Training { endpoint, whip, .. } = training_with_whip(&app).await;
    let offer = simulcast_whip_offer();
    assert!(offer.contains("a=simulcast:send"), "{offer}");
    let refused = app
        .http
        .post(&endpoint)
        .bearer_auth(&whip)
        .header("content-type", "application/sdp")
        .body(offer)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    let refusal: Value = refused.json().await.unwrap();
    assert_eq!(refusal["code"], "unsupported", "{refusal}");
    assert!(
        refusal["message"]
            .as_str()
            .is_some_and(|m| m.contains("simulcast")),
        "{refusal}"
    );
    assert_eq!(app.state.ingests.count(), 0, "nothing is left behind");
}

/// A session takes at most two live feeds (the studio and one spare), even when
/// offers arrive at once; an offer is bounded before the media thread sees it; the
/// token lives as long as the session's booked time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_takes_two_feeds_at_most_and_bounded_offers_for_its_booked_time() {
    let app = spawn_app().await;
    let Training {
        body,
        tokens,
        session,
        endpoint,
        whip,
    } = training_with_whip(&app).await;
    let start: chrono::DateTime<Utc> = body["session"]["startsAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let ends = start + chrono::Duration::minutes(60);
    let issued: Value = token_for(&app, &session, &tokens[0])
        .await
        .json()
        .await
        .unwrap();
    let expires: chrono::DateTime<Utc> = issued["expiresAt"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        expires, ends,
        "valid for the booked time, not hours after it"
    );

    let oversized = format!(
        "v=0\r\n{}",
        "a=x-padding:0123456789abcdef\r\n".repeat(2_000)
    );
    let res = app
        .http
        .post(&endpoint)
        .bearer_auth(&whip)
        .header("content-type", "application/sdp")
        .body(oversized)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        app.state.ingests.count(),
        0,
        "no place is kept by a refused offer"
    );

    let limit = Duration::from_secs(4);
    let (a, b, c) = tokio::join!(
        run_whip_publisher(&endpoint, &whip, 1, true, limit),
        run_whip_publisher(&endpoint, &whip, 2, true, limit),
        run_whip_publisher(&endpoint, &whip, 3, true, limit),
    );
    let mut statuses = vec![a.status, b.status, c.status];
    statuses.sort();
    assert_eq!(statuses, vec![201, 201, 409], "{a:?} {b:?} {c:?}");
}
