//! Stream measurements end to end: what the SFU measures on real WebRTC connections is
//! stored per session and participant every 2 s, both directions, and judged by the
//! stability definition; the browser's own reports are stored too.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::{join_tokens, spawn_app};
use crate::rtc_client::run_participant;

async fn stability(app: &crate::helpers::TestApp, session: &str) -> Value {
    app.admin_get(&format!("/api/v1/sessions/{session}/stability"))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_connections_are_sampled_both_ways_and_judged_stable() {
    let app = spawn_app().await;
    let body = app
        .book_kind(
            "training",
            chrono::Utc::now() - chrono::Duration::minutes(1),
            60,
            &[("讲师", "trainer"), ("秘书", "host")],
        )
        .await;
    let session = body["session"]["id"].as_str().unwrap().to_owned();
    let tokens = join_tokens(&body);
    let urls: Vec<String> = tokens.iter().map(|t| app.ws_url(t)).collect();
    // Both expect something the other never reaches, so both run the full 7 s.
    let limit = Duration::from_secs(7);
    let (a, b) = tokio::join!(
        run_participant(&urls[0], 1, &[2, 99], 1, limit),
        run_participant(&urls[1], 2, &[1, 99], 1, limit),
    );
    assert!(a.connected && b.connected);
    let mut report = stability(&app, &session).await;
    for _ in 0..20 {
        if report["samples"].as_array().unwrap().len() >= 8 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        report = stability(&app, &session).await;
    }
    let samples = report["samples"].as_array().unwrap();
    for who in [
        &body["joinLinks"][0]["participantId"],
        &body["joinLinks"][1]["participantId"],
    ] {
        for direction in ["up", "down"] {
            let mine: Vec<&Value> = samples
                .iter()
                .filter(|s| &s["participantId"] == who && s["direction"] == direction)
                .collect();
            assert!(mine.len() >= 2, "{direction} samples for {who}: {report:#}");
            let packets: i64 = mine.iter().map(|s| s["packets"].as_i64().unwrap()).sum();
            let lost: i64 = mine.iter().map(|s| s["lost"].as_i64().unwrap()).sum();
            assert!(packets > 200, "{direction}: {packets} packets");
            assert_eq!(lost, 0, "nothing is lost on loopback: {direction}");
            assert!(mine.iter().all(|s| s["kbps"].as_f64().unwrap() > 10.0));
        }
    }
    assert_eq!(report["verdict"]["stable"], true, "{:#}", report["verdict"]);
    assert_eq!(report["verdict"]["definition"], "v1");
    let events: Vec<&str> = report["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert!(
        events.contains(&"joined") && events.contains(&"connected"),
        "{events:?}"
    );
}
