//! Media through the SFU between Rust WebRTC clients.

use std::time::Duration;

use crate::helpers::spawn_app;
use crate::rtc_client::run_participant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_receive_each_others_audio_and_video_intact() {
    let app = spawn_app().await;
    let tokens = app
        .book_now(&[("专家甲", "expert"), ("秘书乙", "host")])
        .await;
    let (url_a, url_b) = (app.ws_url(&tokens[0]), app.ws_url(&tokens[1]));
    let limit = Duration::from_secs(20);
    let (a, b) = tokio::join!(
        run_participant(&url_a, 1, &[2], 50, limit),
        run_participant(&url_b, 2, &[1], 50, limit),
    );
    for (name, got, other, me) in [("a", &a, 2u8, 1u8), ("b", &b, 1, 2)] {
        assert!(got.connected, "{name} never connected: {got:?}");
        assert!(
            got.video_from.get(&other).copied().unwrap_or(0) >= 50,
            "{name} video: {got:?}"
        );
        assert!(
            got.audio_from.get(&other).copied().unwrap_or(0) >= 50,
            "{name} audio: {got:?}"
        );
        assert_eq!(got.corrupt, 0, "{name} received altered payloads");
        assert!(
            !got.video_from.contains_key(&me) && !got.audio_from.contains_key(&me),
            "{name} received its own media back"
        );
        assert!(got.errors.is_empty(), "{name} got errors: {:?}", got.errors);
    }
    let stats = app.state.sfu.stats().await.unwrap();
    assert!(stats.forwarded_packets >= 200, "{stats:?}");
}
