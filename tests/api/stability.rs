//! Stream measurements end to end: what the SFU measures on real WebRTC connections is
//! stored per session and participant every 2 s, both directions, and judged by the
//! stability definition; the browser's own reports are stored too.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::{eventually, join_tokens, settled, spawn_app};

async fn stability(app: &crate::helpers::TestApp, session: &str) -> Value {
    app.admin_get(&format!("/api/v1/sessions/{session}/stability"))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_connections_are_sampled_both_ways_and_judged_stable() {
    let app = spawn_app().await;
    let pair = app.book_training_pair().await;
    let session = &pair.session;
    pair.run_for(Duration::from_secs(7)).await;
    let report = settled(Duration::from_secs(2), async || {
        let report = stability(&app, session).await;
        (report["samples"].as_array().unwrap().len() >= 8, report)
    })
    .await;
    let samples = report["samples"].as_array().unwrap();
    let ids = [
        pair.participant_ids[0].as_str(),
        pair.participant_ids[1].as_str(),
    ];
    for (me, who) in ids.iter().enumerate() {
        let other = ids[1 - me];
        // One sample per track: the two sources each sends, and the other's two
        // sources each receives.
        for (direction, tracks) in [
            ("up", ["microphone".to_owned(), "camera".to_owned()]),
            (
                "down",
                [format!("{other}/microphone"), format!("{other}/camera")],
            ),
        ] {
            for track in &tracks {
                let of_track = samples
                    .iter()
                    .filter(|s| {
                        s["participantId"] == *who
                            && s["direction"] == direction
                            && s["track"] == track.as_str()
                    })
                    .count();
                assert!(of_track >= 2, "{direction} {track} of {who}: {report:#}");
            }
            let mine: Vec<&Value> = samples
                .iter()
                .filter(|s| s["participantId"] == *who && s["direction"] == direction)
                .collect();
            assert!(
                mine.iter()
                    .all(|s| tracks.iter().any(|t| s["track"] == t.as_str())),
                "only those tracks: {mine:#?}"
            );
            let packets: i64 = mine.iter().map(|s| s["packets"].as_i64().unwrap()).sum();
            let lost: i64 = mine.iter().map(|s| s["lost"].as_i64().unwrap()).sum();
            assert!(packets > 200, "{direction}: {packets} packets");
            assert_eq!(lost, 0, "nothing is lost on loopback: {direction}");
            assert!(mine.iter().all(|s| s["kbps"].as_f64().unwrap() > 10.0));
            if direction == "up" {
                let frames: i64 = mine.iter().map(|s| s["frames"].as_i64().unwrap()).sum();
                assert!(frames > 100, "video frames are counted: {frames}");
            }
            if direction == "down" {
                // The subscriber's receiver reports came back: a round trip from their
                // LSR/DLSR, small on loopback.
                let rtts: Vec<f64> = mine.iter().filter_map(|s| s["rttMs"].as_f64()).collect();
                assert!(
                    !rtts.is_empty(),
                    "downlink RTT from receiver reports: {mine:#?}"
                );
                assert!(rtts.iter().all(|r| *r >= 0.0 && *r < 200.0), "{rtts:?}");
            }
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

    // Operators scrape the same figures from the admin listener, never the public one.
    let text = app.metrics().await;
    let value = |name: &str| crate::helpers::metric(&text, name);
    assert!(value("viva_forwarded_packets_total") > 500.0);
    assert!(value("viva_forwarded_bytes_total") > 50_000.0);
    // Sent in batches (sendmmsg), none dropped on loopback.
    let sent = value("viva_sent_datagrams_total");
    assert!(sent >= value("viva_forwarded_packets_total"), "{text}");
    assert!(value("viva_send_calls_total") <= sent);
    assert_eq!(value("viva_dropped_datagrams_total"), 0.0, "{text}");
    // Every forwarded RTP packet's time in the SFU is counted, from the kernel's stamp:
    // one reading per packet received (fewer than the copies forwarded), each well
    // under a second on loopback (a stamp on the wrong clock would be far off).
    let delays = value("viva_forward_delay_seconds_count");
    assert!(delays > 200.0, "{text}");
    assert!(delays <= value("viva_forwarded_packets_total"), "{text}");
    assert_eq!(
        value(r#"viva_forward_delay_seconds_bucket{le="1"}"#),
        delays,
        "{text}"
    );
    assert_eq!(
        value("viva_bookings_next_30_days"),
        0.0,
        "the only booking began a minute ago"
    );
    let count = value(r#"viva_stream_loss_percent_count{direction="up"}"#);
    assert!(count >= 4.0, "{text}");
    assert_eq!(
        value(r#"viva_stream_loss_percent_bucket{direction="up",le="0.5"}"#),
        count,
        "no loss on loopback: {text}"
    );
    let public = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        public.status(),
        404,
        "metrics are not on the public listener"
    );

    // After the session, raw samples are compacted to per-minute aggregates; the
    // verdict of record stays what the raw samples said.
    let id: uuid::Uuid = session.parse().unwrap();
    let raw_count = report["samples"].as_array().unwrap().len();
    let compacted = viva::signaling::metering::compact_session(&app.state, id)
        .await
        .unwrap();
    assert!(compacted);
    let after = stability(&app, session).await;
    let kept = after["samples"].as_array().unwrap().len();
    assert!(kept < raw_count, "{kept} of {raw_count}");
    assert_eq!(after["verdict"], report["verdict"]);
    let packets = |r: &Value| -> i64 {
        r["samples"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["packets"].as_i64().unwrap())
            .sum()
    };
    assert_eq!(
        packets(&after),
        packets(&report),
        "totals survive compaction"
    );
    assert!(
        !viva::signaling::metering::compact_session(&app.state, id)
            .await
            .unwrap(),
        "compacting twice changes nothing"
    );
}

/// Loss injected with nftables on one participant's link (its own network namespace)
/// must be the loss stored for that participant and direction, and the verdict must
/// follow the definition: N = 0, 5, 20% on the uplink (counted on arrival at the SFU)
/// within ±1.5 points, and 5, 20% on the downlink (the video originals the subscriber
/// NACKed and the audio loss its receiver reports state) within ±1.5 points too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_loss_is_stored_as_injected_and_judged_by_the_definition() {
    use crate::helpers::spawn_app_with;
    use crate::netns::Namespace;
    use crate::rtc_client::{Options, run_participant_with};
    let Some(ns) = Namespace::for_test(1) else {
        return;
    };
    let _quiet = crate::helpers::CPU_HEAVY.write().await;
    let _alone = crate::helpers::TIMING_SENSITIVE.lock().await;
    let host_ip: std::net::IpAddr = ns.host_ip.parse().unwrap();
    let (hook, alerts) = crate::helpers::webhook_sink().await;
    let app = spawn_app_with(|config| {
        config.media.udp_listen = std::net::SocketAddr::new(host_ip, 0);
        config.media.tcp_listen = std::net::SocketAddr::new(host_ip, 0).to_string();
        config.media.announce_ip = host_ip;
        config.alerts.webhook = hook;
    })
    .await;
    let port = app.state.sfu.media_addr().port();
    let mut faulty_by_loss = Vec::new();
    let mut clean_participants = Vec::new();
    // Both send 250 packets/s for 36 s, so each direction has about 8 000 packets to
    // count once the fault is in place: at 20% loss the binomial spread is then 0.45
    // points, so the ±1.5 the issue asks for is more than three spreads (at 24 s and
    // 5 500 packets it was 2.6, and one CI run read 18.44% for 20%).
    let dense = || Options {
        video_packets_per_tick: 4,
        ..Options::default()
    };
    let mut measured = Vec::new();
    for (percent, uplink) in [(0, true), (5, true), (20, true), (5, false), (20, false)] {
        ns.clear_faults();
        let body = app
            .book_kind(
                "training",
                chrono::Utc::now() - chrono::Duration::minutes(1),
                60,
                &[("讲师", "trainer"), ("秘书", "host")],
            )
            .await;
        let session = body["session"]["id"].as_str().unwrap().to_owned();
        let faulty = body["joinLinks"][0]["participantId"]
            .as_str()
            .unwrap()
            .to_owned();
        let clean = body["joinLinks"][1]["participantId"]
            .as_str()
            .unwrap()
            .to_owned();
        let urls: Vec<String> = join_tokens(&body).iter().map(|t| app.ws_url(t)).collect();
        let options = Options {
            socket: Some(ns.bind_udp()),
            video_packets_per_tick: 4,
            ..Options::default()
        };
        let limit = Duration::from_secs(36);
        // The fault starts once the faulty client is connected (the handshake is not
        // what is measured); only intervals wholly after it count.
        let inject = async {
            eventually(
                "the faulty client connected",
                Duration::from_secs(10),
                async || {
                    let events = stability(&app, &session).await;
                    events["events"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|e| e["participantId"] == faulty.as_str() && e["event"] == "connected")
                        .then_some(())
                },
            )
            .await;
            assert!(ns.drop_udp(port, percent, uplink), "nftables rule");
            chrono::Utc::now()
        };
        let (a, b, counted_from) = tokio::join!(
            run_participant_with(&urls[0], 1, options, &[2, 99], 1, limit),
            run_participant_with(&urls[1], 2, dense(), &[1, 99], 1, limit),
            inject,
        );
        assert!(a.connected && b.connected, "{percent}%: {a:?} {b:?}");
        // Samples are written in the background: wait (bounded) for the last interval.
        let ended = chrono::Utc::now() - chrono::Duration::seconds(4);
        let report = settled(Duration::from_secs(5), async || {
            let report = stability(&app, &session).await;
            let last = report["samples"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["participantId"] == faulty.as_str())
                .filter_map(|s| {
                    s["at"]
                        .as_str()?
                        .parse::<chrono::DateTime<chrono::Utc>>()
                        .ok()
                })
                .max();
            (last.is_some_and(|at| at >= ended), report)
        })
        .await;
        let direction = if uplink { "up" } else { "down" };
        // (packets, lost) per track of one participant's samples in one direction,
        // over the intervals that began after the rule was in place.
        let per_track = |participant: &str, direction: &str| {
            let mut by_track = std::collections::BTreeMap::<String, (i64, i64)>::new();
            for s in report["samples"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["participantId"] == participant && s["direction"] == direction)
                .filter(|s| {
                    // The interval (at - seconds, at] began after the rule was in place.
                    let at = s["at"]
                        .as_str()
                        .unwrap()
                        .parse::<chrono::DateTime<chrono::Utc>>()
                        .unwrap();
                    let seconds = s["seconds"].as_f64().unwrap();
                    at - chrono::Duration::milliseconds((seconds * 1000.0) as i64) > counted_from
                })
            {
                let track = by_track
                    .entry(s["track"].as_str().unwrap().to_owned())
                    .or_default();
                track.0 += s["packets"].as_i64().unwrap();
                track.1 += s["lost"].as_i64().unwrap();
            }
            by_track
        };
        let by_track = per_track(&faulty, direction);
        if uplink {
            // What the faulty uplink lost never reached the SFU: the other
            // participant's downlink carried the gaps but lost nothing itself, and is
            // not blamed for them (audio and video alike).
            let received = per_track(&clean, "down");
            assert_eq!(received.len(), 2, "{percent}%: {received:?}");
            for (track, (p, l)) in &received {
                assert!(
                    *p >= 500 && (*l as f64) <= 0.015 * *p as f64,
                    "{percent}% lost upstream, yet the clean downlink's {track} lost {l} of {p}"
                );
            }
            measured.push(format!(
                "clean downlink at {percent}% upstream: {received:?}"
            ));
        }
        let (packets, lost) = by_track
            .values()
            .fold((0, 0), |(p, l), (tp, tl)| (p + tp, l + tl));
        // Each track carries its own loss: the microphone's and the camera's, both
        // near what was injected (looser than the pooled figure: the audio track has
        // only about a thousand packets, so its binomial spread is about a point).
        assert_eq!(by_track.len(), 2, "{direction} {percent}%: {by_track:?}");
        for (track, (p, l)) in &by_track {
            let track_loss = 100.0 * *l as f64 / *p as f64;
            assert!(
                *p >= 500 && (track_loss - f64::from(percent)).abs() <= 5.0,
                "{direction} {percent}% on {track}: {track_loss:.2}% of {p} packets"
            );
        }
        measured.push(format!("{direction} {percent}% per track: {by_track:?}"));
        let loss = 100.0 * lost as f64 / packets as f64;
        let verdict = report["verdict"]["participants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["participantId"] == faulty.as_str())
            .unwrap()
            .clone();
        if uplink {
            faulty_by_loss.push((percent, faulty.clone()));
        }
        clean_participants.push(clean.clone());
        measured.push(format!(
            "{direction} {percent}%: measured {loss:.2}% of {packets} packets, stable={}",
            verdict["stable"]
        ));
        eprintln!("{}", measured.last().unwrap());
        assert!(
            packets > 6000,
            "{direction} {percent}%: only {packets} packets"
        );
        assert!(
            (loss - f64::from(percent)).abs() <= 1.5,
            "{direction}: injected {percent}%, measured {loss:.2}%"
        );
        assert_eq!(verdict["stable"], percent < 10, "{verdict:#}");
        if uplink && percent > 0 {
            let nacks: i64 = report["samples"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["participantId"] == faulty.as_str() && s["direction"] == "up")
                .map(|s| s["nacks"].as_i64().unwrap())
                .sum();
            assert!(nacks > 0, "the SFU asked for the lost packets: {percent}%");
        }
    }
    ns.clear_faults();
    eprintln!("injected loss: {}", measured.join("; "));

    // The on-call webhook heard about the unstable one, and only about it.
    let alerted: Vec<String> = alerts
        .lock()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "sessionUnstable")
        .map(|a| a["participantId"].as_str().unwrap().to_owned())
        .collect();
    for (percent, faulty) in faulty_by_loss {
        assert_eq!(
            alerted.contains(&faulty),
            percent >= 10,
            "{percent}%: {alerted:?}"
        );
    }
    for clean in clean_participants {
        assert!(!alerted.contains(&clean), "{clean} was clean: {alerted:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn low_disk_space_raises_an_alert_on_the_webhook() {
    let (hook, alerts) = crate::helpers::webhook_sink().await;
    let _app = crate::helpers::spawn_app_with(|config| {
        config.alerts.webhook = hook;
        config.alerts.min_free_disk_mb = u64::MAX / 2;
    })
    .await;
    let disk = eventually("a diskLow alert", Duration::from_secs(5), async || {
        alerts
            .lock()
            .unwrap()
            .iter()
            .find(|a| a["kind"] == "diskLow")
            .cloned()
    })
    .await;
    assert!(
        disk["message"].as_str().unwrap().contains("MB free"),
        "{disk}"
    );
    assert!(disk["at"].is_string());
}

/// A connection that ends before its first periodic sample (2 s after connecting) is
/// still measured, up to its last packet: the SFU reads it once more as it leaves. So
/// is the tail of every longer connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_shorter_than_one_interval_is_measured_to_its_end() {
    let app = spawn_app().await;
    let pair = app.book_training_pair().await;
    let session = &pair.session;
    // From opening signaling to leaving: less than one sampling interval connected.
    let (a, _) = pair.run_for(Duration::from_millis(1500)).await;
    assert!(a.audio_sent >= 10, "A published {} packets", a.audio_sent);
    let trainer = pair.participant_ids[0].as_str();
    let stored = |report: &Value| -> (usize, i64) {
        let mine: Vec<&Value> = report["samples"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| {
                s["participantId"] == trainer
                    && s["direction"] == "up"
                    && s["track"] == "microphone"
            })
            .collect();
        let packets = mine.iter().map(|s| s["packets"].as_i64().unwrap()).sum();
        (mine.len(), packets)
    };
    // A's last datagrams may still sit in the SFU's socket when its leave is handled:
    // up to 5 packets (100 ms) may be missing; the periodic schedule alone stored none.
    let wanted = a.audio_sent as i64 - 5;
    let report = settled(Duration::from_secs(10), async || {
        let report = stability(&app, session).await;
        (stored(&report).1 >= wanted, report)
    })
    .await;
    let (samples, packets) = stored(&report);
    assert!(samples >= 1, "no uplink sample of A: {report:#}");
    assert!(
        packets >= wanted && packets <= a.audio_sent as i64,
        "A sent {} audio packets, {packets} stored in {samples} samples",
        a.audio_sent
    );
}

/// A refused join is on the session's record with its reason: a link used before it
/// opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_failures_are_recorded_with_their_reason() {
    let app = spawn_app().await;
    let body = app
        .book(
            chrono::Utc::now() + chrono::Duration::hours(3),
            60,
            &[("秘书", "host"), ("专家", "expert")],
        )
        .await;
    let session = body["session"]["id"].as_str().unwrap().to_owned();
    let token = &join_tokens(&body)[1];
    let refused = tokio_tungstenite::connect_async(app.ws_url(token)).await;
    assert!(refused.is_err(), "a link that is not open yet is refused");
    let e = eventually("a joinFailed event", Duration::from_secs(5), async || {
        let report = stability(&app, &session).await;
        report["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["event"] == "joinFailed")
            .cloned()
    })
    .await;
    assert_eq!(e["participantId"], body["joinLinks"][1]["participantId"]);
    assert!(
        e["detail"].as_str().unwrap().contains("not_yet_valid"),
        "{e}"
    );
}

/// Loss injected on arrival, with real browsers: two Chromium pages (in one network
/// namespace) publish camera and microphone to each other while nftables drops N% of
/// the media port's UDP at random at the ingress of the receiving side's veth: at the
/// server (both uplinks) and at the namespace (both downlinks) at once. Chromium
/// answers the SFU's NACKs by resending on the same SSRC (no RTX is negotiated);
/// what is stored must still be the loss on the wire, per track and direction,
/// against what the rules dropped of each kind (their counters read the clear-text
/// RTP payload type).
///
/// Ignored: it does not hold yet (issue #19, item 3). The rules count originals apart
/// from repeats (see [`crate::netns::Namespace::drop_on_arrival`]), and at 20% the
/// camera's uplink still reads 16.8% stored against 20.6% of its originals dropped:
/// Chromium resends a lost last-of-frame packet, byte for byte on the same SSRC and
/// number, before any later packet, so no receiver can count that loss by sequence
/// number (docs/stability.md, "Loss against the wire"; RTX would separate them). The
/// downlinks read 1.5–4 points low by mechanisms not yet established.
/// `scripts/loss-chromium.sh` runs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "does not hold yet: issue #19 item 3 (scripts/loss-chromium.sh)"]
async fn chromium_loss_on_arrival_is_stored_as_injected_both_ways() {
    use crate::helpers::{join_urls, spawn_app_with};
    use crate::netns::Namespace;
    use tokio::io::AsyncBufReadExt;
    crate::browser::require_browser_tooling();
    let Some(ns) = Namespace::for_test(2) else {
        return;
    };
    let _quiet = crate::helpers::CPU_HEAVY.write().await;
    let _alone = crate::helpers::TIMING_SENSITIVE.lock().await;
    let seconds: u64 = std::env::var("VIVA_LOSS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let host_ip: std::net::IpAddr = ns.host_ip.parse().unwrap();
    let app = spawn_app_with(|config| {
        config.http.listen = std::net::SocketAddr::new(host_ip, 0);
        config.media.udp_listen = std::net::SocketAddr::new(host_ip, 0);
        config.media.tcp_listen = String::new();
        config.media.announce_ip = host_ip;
        config.media.simulcast = false;
    })
    .await;
    let port = app.state.sfu.media_addr().port();
    let chromium = ns.chromium_wrapper();
    let mut report = Vec::new();
    let mut off = Vec::new();
    for percent in [5u32, 20] {
        ns.clear_arrival_faults();
        let body = app
            .book(
                chrono::Utc::now() - chrono::Duration::minutes(1),
                60,
                &[("秘书", "host"), ("专家", "expert")],
            )
            .await;
        let session = body["session"]["id"].as_str().unwrap().to_owned();
        let urls = join_urls(&body);
        let mut node = tokio::process::Command::new("node")
            .arg(crate::helpers::repo_root().join("tests/browser/loss.mjs"))
            .args([
                urls[0].clone(),
                urls[1].clone(),
                chromium.to_string_lossy().into_owned(),
                app.base.clone(),
                seconds.to_string(),
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs");
        let mut progress = tokio::io::BufReader::new(node.stderr.take().unwrap()).lines();
        let ready = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = progress.next_line().await {
                if line.contains("loss: ready") {
                    return true;
                }
                eprintln!("{line}");
            }
            false
        })
        .await;
        assert!(
            matches!(ready, Ok(true)),
            "{percent}%: the call did not start"
        );
        assert!(ns.drop_on_arrival(port, percent, true), "uplink rule");
        assert!(ns.drop_on_arrival(port, percent, false), "downlink rule");
        let counted_from = chrono::Utc::now();
        let output =
            tokio::time::timeout(Duration::from_secs(seconds + 60), node.wait_with_output())
                .await
                .expect("the browsers finish")
                .unwrap();
        let counted_to = chrono::Utc::now() - chrono::Duration::seconds(1);
        let wire = (ns.arrival_counts(true), ns.arrival_counts(false));
        ns.clear_arrival_faults();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let browsers: Value = serde_json::from_str(stdout.lines().last().unwrap_or("{}"))
            .unwrap_or_else(|_| panic!("no result line: {stdout}"));
        assert_eq!(browsers["ok"], true, "{browsers}");
        report.push(format!(
            "{percent}%: sent by the browsers (before, after): {} {}",
            browsers["sentBefore"], browsers["sentAfter"]
        ));
        // The last intervals are written as the pages leave: wait (bounded).
        let samples = settled(Duration::from_secs(5), async || {
            let samples = stability(&app, &session).await;
            let latest = samples["samples"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|s| {
                    s["at"]
                        .as_str()?
                        .parse::<chrono::DateTime<chrono::Utc>>()
                        .ok()
                })
                .max();
            (latest.is_some_and(|at| at >= counted_to), samples)
        })
        .await;
        // (participant, direction, source) → (packets, lost) over whole intervals
        // inside the fault's time.
        let mut sums = std::collections::BTreeMap::<(String, String, String), (i64, i64)>::new();
        for s in samples["samples"].as_array().unwrap() {
            let at: chrono::DateTime<chrono::Utc> = s["at"].as_str().unwrap().parse().unwrap();
            let began = at
                - chrono::Duration::milliseconds((s["seconds"].as_f64().unwrap() * 1000.0) as i64);
            if began < counted_from || at > counted_to {
                continue;
            }
            let track = s["track"].as_str().unwrap();
            let source = if track.contains("camera") {
                "camera"
            } else if track.contains("microphone") {
                "microphone"
            } else {
                continue;
            };
            let key = (
                s["participantId"].as_str().unwrap().to_owned(),
                s["direction"].as_str().unwrap().to_owned(),
                source.to_owned(),
            );
            let sum = sums.entry(key).or_default();
            sum.0 += s["packets"].as_i64().unwrap();
            sum.1 += s["lost"].as_i64().unwrap();
        }
        assert_eq!(
            sums.len(),
            8,
            "both participants, both directions, both sources: {sums:?}"
        );
        // Pooled over both participants, per direction and source, against the
        // originals of that kind the rule dropped on that side.
        let (Some(up), Some(down)) = wire else {
            panic!("{percent}%: the rules' counters are unreadable");
        };
        for (direction, tally) in [("up", up), ("down", down)] {
            for (source, kind) in [("microphone", tally.audio), ("camera", tally.video)] {
                let (total, dropped) = (kind.first, kind.first_dropped);
                report.push(format!(
                    "{percent}% {direction} {source}: repeats (retransmissions) {}, {} of them dropped",
                    kind.again, kind.again_dropped
                ));
                let (packets, lost) = sums
                    .iter()
                    .filter(|((_, d, s), _)| d == direction && s == source)
                    .fold((0, 0), |(p, l), (_, (pp, ll))| (p + pp, l + ll));
                let stored = 100.0 * lost as f64 / packets.max(1) as f64;
                let injected = 100.0 * dropped as f64 / total.max(1) as f64;
                report.push(format!(
                    "{percent}% {direction} {source}: stored {lost}/{packets} = {stored:.2}%, dropped on the wire {dropped}/{total} = {injected:.2}%"
                ));
                if packets < 1_000 || (stored - injected).abs() > 1.5 {
                    off.push(format!("{percent}% {direction} {source}: stored {stored:.2}%, dropped {injected:.2}%"));
                }
                // The rule does what it says (a wide bound: it is a random draw).
                assert!(
                    (injected - f64::from(percent)).abs() < 5.0,
                    "{percent}% {direction} {source}: the rule dropped {injected:.2}%"
                );
            }
        }
        for ((who, direction, source), (packets, lost)) in &sums {
            let measured = 100.0 * *lost as f64 / (*packets).max(1) as f64;
            report.push(format!(
                "  {percent}% {direction} {source} of {}: {lost}/{packets} = {measured:.2}%",
                &who[..8]
            ));
        }
    }
    eprintln!("chromium loss on arrival:\n  {}", report.join("\n  "));
    assert!(
        off.is_empty(),
        "stored loss off by more than 1.5 points: {off:?}\n{report:#?}"
    );
}
