//! Recording driven by sessions, end to end: a host's switch and a defense's admission
//! start the recorder on the SFU's forwarded media, the parts land on disk and in the
//! database as they are written, and a full disk refuses to record out loud.

use std::time::Duration;
use viva::signaling::protocol::ClientMessage;

use chrono::Utc;
use serde_json::{Value, json};

use crate::helpers::{Booked, TestApp, book_now_as, spawn_app, spawn_app_with, webhook_sink};
use crate::rtc_client::run_participant;
use crate::ws_client::WsClient;

/// Polls the session's recordings until `done` holds for them (bounded).
async fn recordings_until(
    app: &TestApp,
    session: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    // Up to a minute: post-production of a few seconds takes seconds on a busy machine.
    crate::helpers::eventually(
        "the recordings' expected state",
        Duration::from_secs(60),
        async || {
            let recordings = app
                .admin_get(&format!("/api/v1/sessions/{session}/recordings"))
                .await
                .as_array()
                .cloned()
                .unwrap_or_default();
            done(&recordings).then_some(recordings)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hosts_switch_records_every_forwarded_track_into_parts_on_disk() {
    let app = spawn_app().await;
    let t = book_now_as(
        &app,
        "training",
        &[("主持", "host"), ("讲师", "trainer"), ("农户", "trainee")],
    )
    .await;
    let mut host = WsClient::join(&app, &t.tokens[0]).await;
    let mut trainee_ws = WsClient::join(&app, &t.tokens[2]).await;
    host.say(ClientMessage::Recording { on: true }).await;
    trainee_ws
        .wait_for("the recording indicator", |m| {
            m["type"] == "recording" && m["on"] == true
        })
        .await;
    // The trainer publishes microphone and camera for a while; the (unpromoted)
    // trainee's media reach nobody, so they must not be recorded either.
    let urls: Vec<String> = t.tokens.iter().map(|t| app.ws_url(t)).collect();
    let (trainer, _) = tokio::join!(
        run_participant(&urls[1], 1, &[2], 1, Duration::from_secs(4)),
        run_participant(&urls[2], 2, &[1], 100, Duration::from_secs(4)),
    );
    assert!(trainer.connected);
    host.say(ClientMessage::Recording { on: false }).await;
    let recordings = recordings_until(&app, &t.session, |r| {
        r.len() == 1
            && r[0]["state"] == "stopped"
            && r[0]["parts"]
                .as_array()
                .is_some_and(|p| !p.is_empty() && p.iter().all(|p| p["closed"] == true))
    })
    .await;
    let parts = recordings[0]["parts"].as_array().unwrap();
    let trainer_id = &t.ids[1];
    let mut sources: Vec<&str> = parts
        .iter()
        .map(|p| p["source"].as_str().unwrap())
        .collect();
    sources.sort();
    assert_eq!(sources, vec!["camera", "microphone"], "{parts:#?}");
    assert!(
        parts.iter().all(|p| &p["participant"] == trainer_id),
        "only what reached the room is recorded"
    );
    let dir = viva::recording::recordings_dir(&app.state.settings.data_dir);
    for part in parts {
        let path = dir.join(part["path"].as_str().unwrap());
        // The test client's payloads are tagged bytes, not decodable media, so the
        // parts are read by their demuxer (real codecs are decoded in media's tests).
        let streams = media::recorder::demux(&path).expect("a readable part");
        let expected = if part["source"] == "camera" {
            "video/x-vp8"
        } else {
            "audio/x-opus"
        };
        assert_eq!(streams.len(), 1, "{}", path.display());
        assert_eq!(streams[0].caps, expected, "{}", path.display());
        assert!(
            streams[0].frames >= 50 && streams[0].span >= Duration::from_secs(2),
            "seconds of media: {:?}",
            streams[0]
        );
        assert!(part["bytes"].as_i64().unwrap() > 1000, "{part}");
        assert_eq!(part["clean"], true, "stopped cleanly: {part}");
    }
    // The stopped recording is queued for post-production.
    assert!(recordings[0]["production"].is_object(), "{recordings:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_defense_records_from_admission_unless_its_booking_says_not_to() {
    let app = spawn_app().await;
    let people = [
        ("秘书", "host"),
        ("专家", "expert"),
        ("申请人", "applicant"),
    ];
    let d = book_now_as(&app, "defense", &people).await;
    let mut host = WsClient::join(&app, &d.tokens[0]).await;
    let mut expert = WsClient::join(&app, &d.tokens[1]).await;
    let _applicant = WsClient::join(&app, &d.tokens[2]).await;
    host.send(json!({"type": "admit", "participantId": d.ids[2]}))
        .await;
    expert
        .wait_for("recording on at admission", |m| {
            m["type"] == "recording" && m["on"] == true
        })
        .await;
    recordings_until(&app, &d.session, |r| {
        r.len() == 1 && r[0]["state"] == "recording"
    })
    .await;

    // A booking that says "do not record" is not recorded at admission.
    let quiet = book_now_as(&app, "defense", &people).await;
    let response = app
        .http
        .put(format!(
            "{}/api/v1/sessions/{}/recording-policy",
            app.base, quiet.session
        ))
        .bearer_auth(app.admin_token().await)
        .json(&json!({"record": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let mut host = WsClient::join(&app, &quiet.tokens[0]).await;
    let mut applicant = WsClient::join(&app, &quiet.tokens[2]).await;
    host.send(json!({"type": "admit", "participantId": quiet.ids[2]}))
        .await;
    applicant
        .wait_for("admitted", |m| {
            m["type"] == "lobby" && m["inLobby"] == false
        })
        .await;
    // Absence cannot be awaited: give the admission's recording decision (a store read
    // away) a generous second, then check that nothing started.
    host.drain(Duration::from_secs(1)).await;
    assert!(
        !host.saw(|m| m["type"] == "recording" && m["on"] == true),
        "no recording indicator"
    );
    let none = app
        .admin_get(&format!("/api/v1/sessions/{}/recordings", quiet.session))
        .await;
    assert_eq!(none, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_disk_space_recording_refuses_to_start_and_says_so() {
    let (hook, alerts) = webhook_sink().await;
    let app = spawn_app_with(|config| {
        config.alerts.webhook = hook;
        config.alerts.min_free_disk_mb = u64::MAX / 2;
    })
    .await;
    let t = book_now_as(
        &app,
        "training",
        &[("讲师", "trainer"), ("农户", "trainee")],
    )
    .await;
    let mut trainer = WsClient::join(&app, &t.tokens[0]).await;
    trainer.say(ClientMessage::Recording { on: true }).await;
    let refused = trainer
        .wait_for("the refusal", |m| {
            m["type"] == "error" && m["code"] == "recording_refused"
        })
        .await;
    assert!(
        refused["message"].as_str().unwrap().contains("disk"),
        "{refused}"
    );
    trainer
        .wait_for("the indicator back off", |m| {
            m["type"] == "recording" && m["on"] == false
        })
        .await;
    crate::helpers::settled(Duration::from_secs(5), async || {
        let arrived = alerts
            .lock()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "recorderFailed" && a["sessionId"] == t.session.as_str());
        (arrived, ())
    })
    .await;
    assert!(
        alerts
            .lock()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "recorderFailed"),
        "an alert: {:?}",
        alerts.lock().unwrap()
    );
    let none = app
        .admin_get(&format!("/api/v1/sessions/{}/recordings", t.session))
        .await;
    assert_eq!(none, json!([]), "nothing half-started");
}

/// Writes a real Matroska part (VP8 or Opus) of `seconds`, as the recorder would.
fn real_part(path: &std::path::Path, video: bool, seconds: u32) {
    use gstreamer::prelude::*;
    gstreamer::init().unwrap();
    let description = if video {
        format!(
            "videotestsrc num-buffers={} ! video/x-raw,width=320,height=240,framerate=25/1 ! \
             vp8enc deadline=1 ! matroskamux ! filesink name=out",
            seconds * 25
        )
    } else {
        format!(
            "audiotestsrc num-buffers={} samplesperbuffer=960 ! audio/x-raw,rate=48000,channels=2 ! \
             opusenc ! matroskamux ! filesink name=out",
            seconds * 50
        )
    };
    let pipeline = gstreamer::parse::launch(&description)
        .unwrap()
        .downcast::<gstreamer::Pipeline>()
        .unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    pipeline
        .by_name("out")
        .unwrap()
        .set_property("location", path.to_str().unwrap());
    pipeline.set_state(gstreamer::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    bus.timed_pop_filtered(
        gstreamer::ClockTime::from_seconds(60),
        &[gstreamer::MessageType::Eos, gstreamer::MessageType::Error],
    )
    .unwrap();
    pipeline.set_state(gstreamer::State::Null).unwrap();
}

/// A post-production job cut off by a stop (left `running`) resumes at the next start
/// and completes; one whose parts cannot be decoded is retried and then shown as
/// failed with its reason, and its parts stay where they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_production_resumes_after_a_restart_and_fails_visibly() {
    let _heavy = crate::helpers::CPU_HEAVY.read().await;
    let dir = tempfile::tempdir().unwrap();
    let (db, data) = (dir.path().join("viva.db"), dir.path().join("data"));
    let same_place = |config: &mut viva::config::Config| {
        config.database.url = format!("sqlite://{}", db.display());
        config.storage.data_dir = data.clone();
    };
    let first = spawn_app_with(same_place).await;
    let t = book_now_as(
        &first,
        "training",
        &[("讲师", "trainer"), ("农户", "trainee")],
    )
    .await;
    let session: uuid::Uuid = t.session.parse().unwrap();
    let base = viva::recording::recordings_dir(&data);
    let mut jobs = Vec::new();
    for parts in [Parts::Real(3), Parts::Garbage] {
        jobs.push(seed_recording(&first, &data, session, &t.ids[0], parts, "running").await);
    }
    drop(first);

    let second = spawn_app_with(same_place).await;
    let settled = recordings_until(&second, &t.session, |r| {
        r.len() == 2
            && r.iter()
                .all(|r| matches!(r["production"]["state"].as_str(), Some("done" | "failed")))
    })
    .await;
    let by_id = |id: uuid::Uuid| {
        settled
            .iter()
            .find(|r| r["id"] == id.to_string())
            .unwrap()
            .clone()
    };
    let done = by_id(jobs[0]);
    assert_eq!(done["production"]["state"], "done", "{done:#}");
    let outputs: Value =
        serde_json::from_str(done["production"]["outputs"].as_str().unwrap()).unwrap();
    let info = media::recorder::discover(&base.join(outputs["mp4"].as_str().unwrap())).unwrap();
    assert!(
        info.streams.contains(&"video/x-h264".to_owned()),
        "{info:?}"
    );
    assert!(
        info.duration.abs_diff(Duration::from_millis(3120)) <= Duration::from_millis(200),
        "{info:?}"
    );
    assert!(base.join(outputs["hls"].as_str().unwrap()).exists());
    let failed = by_id(jobs[1]);
    assert_eq!(failed["production"]["state"], "failed", "{failed:#}");
    assert_eq!(failed["production"]["attempts"], 3);
    assert!(!failed["production"]["error"].as_str().unwrap().is_empty());
    for part in failed["parts"].as_array().unwrap() {
        assert!(
            base.join(part["path"].as_str().unwrap()).exists(),
            "raw parts are never deleted by a failure"
        );
    }
    // Operators see the failed job in the metrics.
    let metrics = second
        .http
        .get(format!("{}/metrics", second.admin_base.clone().unwrap()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("viva_postproduction_jobs{state=\"failed\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("viva_recordings_running 0"), "{metrics}");
}

/// A recording continued after a restart (`recording::resume` puts the new parts in
/// `continued-<ms>/`, later on the recording's timeline) is produced as one video: the
/// parts before and after the server's gap in their places, the gap black, and the
/// chapters where the phases changed, one of them during the gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_production_joins_a_recording_continued_after_a_restart_across_the_gap() {
    use scheduler::record::{ProductionJob, RecordingPart, RecordingRecord};
    let _heavy = crate::helpers::CPU_HEAVY.read().await;
    let app = spawn_app().await;
    let t = book_now_as(
        &app,
        "training",
        &[("讲师", "trainer"), ("农户", "trainee")],
    )
    .await;
    let session: uuid::Uuid = t.session.parse().unwrap();
    let store = app.state.store.clone();
    let base = viva::recording::recordings_dir(&app.state.settings.data_dir);
    let started = Utc::now() - chrono::Duration::minutes(1);
    let second = |s: i64| started + chrono::Duration::seconds(s);
    let recording = RecordingRecord {
        id: uuid::Uuid::new_v4(),
        session_id: session,
        started_at: started,
        stopped_at: Some(second(10)),
        state: "stopped".into(),
        error: None,
    };
    store.create_recording(&recording).await.unwrap();
    // 0–3 s before the server stopped; 7–10 s after it came back.
    let continued = format!("continued-{}", second(7).timestamp_millis());
    for (subdir, offset_ms) in [("", 0), (continued.as_str(), 7_000)] {
        for (source, video) in [("camera", true), ("microphone", false)] {
            let relative = std::path::Path::new(&session.to_string())
                .join(recording.id.to_string())
                .join(subdir)
                .join(format!("trainer-{source}-000.mkv"));
            real_part(&base.join(&relative), video, 3);
            store
                .add_recording_part(&RecordingPart {
                    id: uuid::Uuid::new_v4(),
                    recording_id: recording.id,
                    participant: t.ids[0].clone(),
                    source: source.into(),
                    codec: if video { "VP8" } else { "OPUS" }.into(),
                    index: 0,
                    path: relative.to_string_lossy().into_owned(),
                    offset_ms,
                    opened_at: second(offset_ms / 1000),
                    closed: true,
                    clean: subdir.is_empty(),
                    bytes: 1,
                })
                .await
                .unwrap();
        }
    }
    // Questions began while the server was away (its deadline was kept).
    for (phase, at) in [("presentation", 0), ("qa", 5), ("deliberation", 8)] {
        store
            .record_phase(session, phase, second(at))
            .await
            .unwrap();
    }
    let job = ProductionJob::queued(recording.id, Utc::now());
    store.save_production_job(&job).await.unwrap();
    app.state.recordings.announce(job.id);
    let done = recordings_until(&app, &t.session, |r| {
        r.len() == 1
            && matches!(
                r[0]["production"]["state"].as_str(),
                Some("done" | "failed")
            )
    })
    .await;
    assert_eq!(done[0]["production"]["state"], "done", "{done:#?}");
    let outputs: Value =
        serde_json::from_str(done[0]["production"]["outputs"].as_str().unwrap()).unwrap();
    let mp4 = base.join(outputs["mp4"].as_str().unwrap());
    let info = media::recorder::discover(&mp4).unwrap();
    assert!(
        info.duration.abs_diff(Duration::from_secs(10)) <= Duration::from_millis(300),
        "one video over the whole timeline, gap included: {info:?}"
    );
    let chapters =
        std::fs::read_to_string(base.join(outputs["chapters"].as_str().unwrap())).unwrap();
    for cue in [
        "00:00:00.000 --> 00:00:05.000\n陈述 Presentation",
        "00:00:05.000 --> 00:00:08.000\n问答 Questions",
        "00:00:08.000 --> ",
    ] {
        assert!(chapters.contains(cue), "{cue:?} in {chapters}");
    }
    let lit = |at: f64| lit_share_at(&mp4, Duration::from_secs_f64(at));
    let (before, gap, after) = (lit(1.5), lit(5.0), lit(8.5));
    assert!(
        before > 0.05 && after > 0.05 && gap < 0.001,
        "the parts show on both sides and the gap is black: lit share {before:.3}, {gap:.3}, {after:.3}"
    );
}

/// The share of a video's pixels brighter than dark grey in the frame shown at `at`.
fn lit_share_at(path: &std::path::Path, at: Duration) -> f64 {
    use gstreamer::prelude::*;
    gstreamer::init().unwrap();
    let pipeline = gstreamer::parse::launch(&format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! video/x-raw,format=GRAY8 ! \
         appsink name=frames sync=false",
        path.display()
    ))
    .unwrap()
    .downcast::<gstreamer::Pipeline>()
    .unwrap();
    let bus = pipeline.bus().unwrap();
    let settle = || {
        let message = bus
            .timed_pop_filtered(
                gstreamer::ClockTime::from_seconds(30),
                &[
                    gstreamer::MessageType::AsyncDone,
                    gstreamer::MessageType::Error,
                ],
            )
            .expect("the video prerolls");
        assert!(
            matches!(message.view(), gstreamer::MessageView::AsyncDone(_)),
            "{message:?}"
        );
    };
    pipeline.set_state(gstreamer::State::Paused).unwrap();
    settle();
    pipeline
        .seek_simple(
            gstreamer::SeekFlags::FLUSH | gstreamer::SeekFlags::ACCURATE,
            gstreamer::ClockTime::from_nseconds(at.as_nanos() as u64),
        )
        .unwrap();
    settle();
    let sample = pipeline
        .by_name("frames")
        .unwrap()
        .emit_by_name::<gstreamer::Sample>("pull-preroll", &[]);
    let structure = sample.caps().unwrap().structure(0).unwrap().to_owned();
    let (width, height) = (
        structure.get::<i32>("width").unwrap() as usize,
        structure.get::<i32>("height").unwrap() as usize,
    );
    let map = sample.buffer().unwrap().map_readable().unwrap();
    // GRAY8 rows are padded to a multiple of four bytes.
    let stride = width.div_ceil(4) * 4;
    let lit = (0..height)
        .flat_map(|row| &map[row * stride..row * stride + width])
        .filter(|luma| **luma > 40)
        .count();
    pipeline.set_state(gstreamer::State::Null).unwrap();
    lit as f64 / (width * height) as f64
}

/// A training session with one produced recording (real parts, post-production run by
/// the server): (booking, recording id).
async fn produced(app: &TestApp) -> (Booked, uuid::Uuid) {
    produced_of(app, "training", &[("讲师", "trainer"), ("农户", "trainee")]).await
}

async fn produced_of(app: &TestApp, kind: &str, people: &[(&str, &str)]) -> (Booked, uuid::Uuid) {
    let t = book_now_as(app, kind, people).await;
    let session: uuid::Uuid = t.session.parse().unwrap();
    let data_dir = app.state.settings.data_dir.clone();
    let recording =
        seed_recording(app, &data_dir, session, &t.ids[0], Parts::Real(2), "queued").await;
    recordings_until(app, &t.session, |r| {
        r.len() == 1 && r[0]["production"]["state"] == "done"
    })
    .await;
    (t, recording)
}

/// What a seeded recording's parts hold.
#[derive(Clone, Copy, PartialEq)]
enum Parts {
    /// Real VP8 and Opus of this many seconds (the microphone starting 120 ms later).
    Real(u32),
    /// Bytes that are not media at all.
    Garbage,
}

/// Stores a stopped recording of `session` with a camera and a microphone part on disk
/// and a post-production job in `job_state` (`running` as if a process died mid-job).
async fn seed_recording(
    app: &TestApp,
    data_dir: &std::path::Path,
    session: uuid::Uuid,
    participant: &str,
    parts: Parts,
    job_state: &str,
) -> uuid::Uuid {
    use scheduler::record::{ProductionJob, RecordingPart, RecordingRecord};
    let store = app.state.store.clone();
    let base = viva::recording::recordings_dir(data_dir);
    let recording = RecordingRecord {
        id: uuid::Uuid::new_v4(),
        session_id: session,
        started_at: Utc::now(),
        stopped_at: Some(Utc::now()),
        state: "stopped".into(),
        error: None,
    };
    store.create_recording(&recording).await.unwrap();
    for (source, video) in [("camera", true), ("microphone", false)] {
        let relative = format!("{session}/{}/trainer-{source}-000.mkv", recording.id);
        let path = base.join(&relative);
        match parts {
            Parts::Real(seconds) => real_part(&path, video, seconds),
            Parts::Garbage => {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, b"not matroska at all").unwrap();
            }
        }
        store
            .add_recording_part(&RecordingPart {
                id: uuid::Uuid::new_v4(),
                recording_id: recording.id,
                participant: participant.to_owned(),
                source: source.into(),
                codec: if video { "VP8" } else { "OPUS" }.into(),
                index: 0,
                path: relative,
                offset_ms: if video { 0 } else { 120 },
                opened_at: Utc::now(),
                closed: true,
                clean: true,
                bytes: 1,
            })
            .await
            .unwrap();
    }
    let job = ProductionJob {
        id: uuid::Uuid::new_v4(),
        recording_id: recording.id,
        state: job_state.into(),
        attempts: i64::from(job_state == "running"),
        progress: if job_state == "running" { 0.4 } else { 0.0 },
        error: None,
        outputs: None,
        updated_at: Utc::now(),
    };
    store.save_production_job(&job).await.unwrap();
    app.state.recordings.announce(job.id);
    recording.id
}

async fn link(app: &TestApp, recording: &str, bearer: &str, use_: &str) -> reqwest::Response {
    app.http
        .post(format!("{}/api/v1/recordings/{recording}/links", app.base))
        .bearer_auth(bearer)
        .json(&json!({ "use": use_ }))
        .send()
        .await
        .unwrap()
}

async fn status_of(app: &TestApp, url: &str) -> u16 {
    app.http.get(url).send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recordings_are_served_only_through_short_lived_signed_links_to_those_entitled() {
    let _heavy = crate::helpers::CPU_HEAVY.read().await;
    use viva::auth::token::MediaClaims;
    let app = spawn_app().await;
    let (t, recording) = produced(&app).await;
    let rid = recording.to_string();
    let admin = app.admin_token().await;

    // An administrator plays: playlist, segments, thumbnail, chapters.
    let play: Value = link(&app, &rid, &admin, "play").await.json().await.unwrap();
    let expires: chrono::DateTime<Utc> = play["expiresAt"].as_str().unwrap().parse().unwrap();
    assert!(expires <= Utc::now() + chrono::Duration::minutes(15));
    let playlist_url = play["url"].as_str().unwrap().to_owned();
    let playlist = app.http.get(&playlist_url).send().await.unwrap();
    assert_eq!(playlist.status(), 200);
    assert_eq!(playlist.headers()["cache-control"], "private, no-store");
    let playlist = playlist.text().await.unwrap();
    let segment = playlist.lines().find(|l| l.ends_with(".ts")).unwrap();
    let segment_url = playlist_url.replace("index.m3u8", segment);
    assert_eq!(status_of(&app, &segment_url).await, 200);
    let thumbnail = app
        .http
        .get(play["thumbnail"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(&thumbnail.bytes().await.unwrap()[..2], &[0xff, 0xd8]);

    // A download link gets the MP4 as an attachment, and nothing else.
    let download: Value = link(&app, &rid, &admin, "download")
        .await
        .json()
        .await
        .unwrap();
    let mp4_url = download["url"].as_str().unwrap().to_owned();
    let mp4 = app.http.get(&mp4_url).send().await.unwrap();
    assert_eq!(mp4.status(), 200);
    assert!(
        mp4.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let token = mp4_url
        .split("/media/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(
        status_of(&app, &format!("{}/media/{token}/hls/index.m3u8", app.base)).await,
        404,
        "a download link does not play"
    );

    // Path tricks (dot segments a client resolves itself land on other routes or on
    // the same files; encoded ones reach the server and are refused), tampering,
    // expiry.
    for trick in [
        "../../../viva.db",
        "hls/../../../../viva.db",
        "hls/%2e%2e/%2e%2e/video.mp4",
        "hls/segment1.ts",
        "video.mp4%00.jpg",
    ] {
        let status = status_of(&app, &format!("{}/media/{token}/{trick}", app.base)).await;
        assert!(status == 404 || status == 400, "{trick}: {status}");
    }
    let mut tampered = token.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_eq!(
        status_of(&app, &format!("{}/media/{tampered}/video.mp4", app.base)).await,
        403
    );
    let now = Utc::now().timestamp();
    let signer = &app.state.signer;
    let admin_uid = {
        let claims = signer.verify_admin(&admin, Utc::now()).unwrap();
        claims.uid
    };
    let expired = signer.sign_media(&MediaClaims {
        rid: recording,
        uid: admin_uid,
        adm: true,
        use_: "download".into(),
        nbf: now - 1000,
        exp: now - 1,
    });
    assert_eq!(
        status_of(&app, &format!("{}/media/{expired}/video.mp4", app.base)).await,
        403
    );

    // Guessed ids.
    let guessed = uuid::Uuid::new_v4().to_string();
    assert_eq!(link(&app, &guessed, &admin, "play").await.status(), 404);
    assert_eq!(link(&app, "not-a-uuid", &admin, "play").await.status(), 404);
    assert_eq!(
        link(&app, &rid, "forged.token.value", "play")
            .await
            .status(),
        401
    );

    // The trainer may; a trainee may not, not even with a link signed for them: rights
    // are checked again when the link is used.
    assert_eq!(link(&app, &rid, &t.tokens[0], "play").await.status(), 200);
    assert_eq!(link(&app, &rid, &t.tokens[1], "play").await.status(), 403);
    let trainee: uuid::Uuid = t.ids[1].parse().unwrap();
    let smuggled = signer.sign_media(&MediaClaims {
        rid: recording,
        uid: trainee,
        adm: false,
        use_: "download".into(),
        nbf: now,
        exp: now + 600,
    });
    assert_eq!(
        status_of(&app, &format!("{}/media/{smuggled}/video.mp4", app.base)).await,
        403
    );
    // Someone else's trainer neither.
    let other = book_now_as(
        &app,
        "training",
        &[("讲师", "trainer"), ("农户", "trainee")],
    )
    .await;
    assert_eq!(
        link(&app, &rid, &other.tokens[0], "play").await.status(),
        403
    );
    // A defense's recording: its host and panel may; its applicant and observer may not.
    let (d, defense) = produced_of(
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
    let did = defense.to_string();
    let mut statuses = Vec::new();
    for token in [
        &d.tokens[0],
        &d.tokens[1],
        &d.tokens[2],
        &d.tokens[3],
        &t.tokens[0],
    ] {
        statuses.push(link(&app, &did, token, "download").await.status().as_u16());
    }
    assert_eq!(
        statuses,
        [200, 200, 403, 403, 403],
        "host, expert, applicant, observer, another session's trainer"
    );

    // Issuing and serving are audited, and no link ends up in the audit log.
    // (Serving is recorded as the response goes out: waited for, with the writer
    // flushed before each read.)
    let log = crate::helpers::eventually(
        "three issued and two served links in the audit log",
        Duration::from_secs(5),
        || async {
            app.state.audit.flush().await;
            let log = app.admin_get("/api/v1/audit?limit=5000").await;
            let entries = log.as_array().unwrap();
            let count = |action: &str| entries.iter().filter(|e| e["action"] == action).count();
            (count("mediaLinkIssued") >= 3 && count("mediaServed") >= 2).then_some(log)
        },
    )
    .await;
    assert!(
        !log.to_string().contains(&token),
        "no link in the audit log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trainer_publishes_a_help_video_that_anyone_can_find_play_and_count() {
    let _heavy = crate::helpers::CPU_HEAVY.read().await;
    let app = spawn_app().await;
    let (t, recording) = produced(&app).await;
    let rid = recording.to_string();
    let publish = async |bearer: &str, body: Value| {
        app.http
            .post(format!("{}/api/v1/recordings/{rid}/publish", app.base))
            .bearer_auth(bearer)
            .json(&body)
            .send()
            .await
            .unwrap()
    };
    let body = json!({
        "title": "苹果树冬季修剪",
        "description": "科技特派员现场讲解修剪要点",
        "tags": ["修剪", "冬季"],
        "category": "果树",
        "envoy": "王研究员",
    });
    assert_eq!(
        publish(&t.tokens[1], body.clone()).await.status(),
        403,
        "a trainee may not"
    );
    let mut bad = body.clone();
    bad["title"] = json!("   ");
    assert_eq!(publish(&t.tokens[0], bad).await.status(), 422);
    let mut unknown = body.clone();
    unknown["views"] = json!(1_000_000);
    assert_eq!(
        publish(&t.tokens[0], unknown).await.status(),
        400,
        "unknown fields refused"
    );
    let created = publish(&t.tokens[0], body.clone()).await;
    assert_eq!(created.status(), 201);
    let video: Value = created.json().await.unwrap();
    assert_eq!(video["publishedBy"], "", "who published is not public");
    assert_eq!(
        publish(&t.tokens[0], body).await.status(),
        409,
        "published once"
    );

    // Defense recordings are confidential: never published, not even by an admin.
    let (_, defense) = produced_of(
        &app,
        "defense",
        &[
            ("秘书", "host"),
            ("专家", "expert"),
            ("申请人", "applicant"),
        ],
    )
    .await;
    let refused = app
        .http
        .post(format!("{}/api/v1/recordings/{defense}/publish", app.base))
        .bearer_auth(app.admin_token().await)
        .json(&json!({"title": "x", "category": "x", "envoy": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);

    // Public: search, details, files, views.
    let found: Value = app
        .http
        .get(format!(
            "{}/api/v1/help-videos?q=修剪&category=果树",
            app.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    let none: Value = app.get_json("/api/v1/help-videos?q=水稻").await;
    assert_eq!(none, json!([]));
    let id = found[0]["id"].as_str().unwrap();
    assert!(found[0]["durationMs"].as_u64().unwrap() >= 1800, "{found}");
    let hls = format!("{}{}", app.base, found[0]["hls"].as_str().unwrap());
    let playlist = app
        .http
        .get(&hls)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(playlist.contains("#EXT-X-ENDLIST"), "{playlist}");
    let download = app
        .http
        .get(format!("{}/help/{id}/video.mp4?download=1", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    assert!(
        download.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    for trick in [
        "hls/%2e%2e/%2e%2e/video.mp4",
        "parts.mkv",
        "hls/index.m3u8%00",
    ] {
        let status = status_of(&app, &format!("{}/help/{id}/{trick}", app.base)).await;
        assert_eq!(status, 404, "{trick}");
    }
    let unpublished = uuid::Uuid::new_v4();
    assert_eq!(
        status_of(&app, &format!("{}/help/{unpublished}/video.mp4", app.base)).await,
        404
    );
    // A viewer counts once a day, however often they reload or replay.
    let view = |body: Value| {
        let request = app
            .http
            .post(format!("{}/api/v1/help-videos/{id}/views", app.base))
            .json(&body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (ann, bo, cy) = (
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
    );
    for (viewer, counted, views) in [
        (ann, true, 1),
        (ann, false, 1),
        (bo, true, 2),
        (ann, false, 2),
        (cy, true, 3),
    ] {
        let (status, body) = view(json!({ "viewer": viewer })).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["counted"], counted, "{viewer}: {body}");
        assert_eq!(body["views"], views, "{viewer}: {body}");
    }
    for bad in [
        json!({}),
        json!({"viewer": "not-a-uuid"}),
        json!({"viewer": ann, "extra": 1}),
    ] {
        let (status, body) = view(bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let unknown = app
        .http
        .post(format!(
            "{}/api/v1/help-videos/{}/views",
            app.base,
            uuid::Uuid::new_v4()
        ))
        .json(&json!({ "viewer": ann }))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404, "an unpublished video has no views");
    let one: Value = app.get_json(&format!("/api/v1/help-videos/{id}")).await;
    assert_eq!(one["views"], 3);
    let report = app
        .admin_get(&format!("/api/v1/report?year={}", Utc::now().format("%Y")))
        .await;
    let indicator = |key: &str| {
        report["indicators"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["key"] == key)
            .unwrap()["value"]
            .clone()
    };
    assert_eq!(indicator("helpVideosPublished"), 1.0);
    assert_eq!(indicator("helpVideoViews"), 3.0);
}

/// A published help video plays in headless Chromium (HLS, phone-sized screen) and its
/// view count rises.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_help_video_plays_in_chromium_and_counts_the_view() {
    let _heavy = crate::helpers::CPU_HEAVY.read().await;
    crate::browser::require_browser_tooling();
    let app = spawn_app().await;
    let (t, recording) = produced(&app).await;
    let published: Value = app
        .http
        .post(format!(
            "{}/api/v1/recordings/{recording}/publish",
            app.base
        ))
        .bearer_auth(&t.tokens[0])
        .json(&json!({
            "title": "桃树夏季修剪",
            "tags": ["修剪"],
            "category": "果树",
            "envoy": "刘教授",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = published["id"].as_str().unwrap().to_owned();
    let result =
        crate::browser::run_scenario("help_video.mjs", &[app.base.clone(), id.clone()]).await;
    eprintln!("{result}");
    assert_eq!(result["ok"], true, "{result}");
    let after: Value = app.get_json(&format!("/api/v1/help-videos/{id}")).await;
    assert_eq!(after["views"], 1, "one play, one view");
}

/// The administrator's recordings page: post-production shown as done, playback
/// through a signed link, publishing as a help video (tags split on either comma).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrators_follow_post_production_play_and_publish_from_the_recordings_page() {
    let _heavy = crate::helpers::CPU_HEAVY.read().await;
    crate::browser::require_browser_tooling();
    let app = spawn_app().await;
    let (_, recording) = produced(&app).await;
    let result = crate::browser::run_scenario(
        "recordings.mjs",
        &[
            app.base.clone(),
            crate::helpers::ADMIN_PASSWORD.to_owned(),
            recording.to_string(),
        ],
    )
    .await;
    assert_eq!(result["ok"], true, "{result}");
    let videos: Value = app.get_json("/api/v1/help-videos").await;
    assert_eq!(videos[0]["title"], "葡萄避雨栽培");
    assert_eq!(videos[0]["tags"], json!(["葡萄", "避雨"]));
}

/// Past the retention period a recording's media are deleted (its rows and the audit
/// trail stay); one published as a help video is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recordings_past_the_retention_period_lose_their_media_unless_published() {
    let _heavy = crate::helpers::CPU_HEAVY.read().await;
    let app = spawn_app_with(|config| config.recording.retention_days = 30).await;
    let (_, kept) = produced(&app).await;
    let (t, gone) = produced(&app).await;
    let admin = app.admin_token().await;
    let published = app
        .http
        .post(format!("{}/api/v1/recordings/{kept}/publish", app.base))
        .bearer_auth(&admin)
        .json(&json!({"title": "施肥", "category": "土肥", "envoy": "赵"}))
        .send()
        .await
        .unwrap();
    assert_eq!(published.status(), 201);
    let store = app.state.store.clone();
    for id in [kept, gone] {
        let mut r = store.recording(id).await.unwrap().unwrap();
        r.stopped_at = Some(Utc::now() - chrono::Duration::days(31));
        store.update_recording(&r).await.unwrap();
    }
    let fresh_link = link(&app, &gone.to_string(), &admin, "download").await;
    assert_eq!(fresh_link.status(), 200, "before the sweep");
    let url = fresh_link.json::<Value>().await.unwrap()["url"]
        .as_str()
        .unwrap()
        .to_owned();

    let expired = viva::recording::sweep_expired(&app.state, Utc::now())
        .await
        .unwrap();
    assert_eq!(expired, 1);
    let dir = viva::recording::recordings_dir(&app.state.settings.data_dir)
        .join(&t.session)
        .join(gone.to_string());
    assert!(!dir.exists(), "media deleted");
    assert_eq!(
        link(&app, &gone.to_string(), &admin, "play").await.status(),
        404
    );
    assert_eq!(
        status_of(&app, &url).await,
        404,
        "an issued link dies with the media"
    );
    assert_eq!(
        store.recording_parts(gone).await.unwrap().len(),
        2,
        "what was recorded stays on record"
    );
    assert_eq!(
        link(&app, &kept.to_string(), &admin, "play").await.status(),
        200,
        "published: kept"
    );
    assert_eq!(
        viva::recording::sweep_expired(&app.state, Utc::now())
            .await
            .unwrap(),
        0,
        "expired once"
    );
    // The sweep recorded its entries before returning: one flush, one read.
    app.state.audit.flush().await;
    let log = app.admin_get("/api/v1/audit?limit=5000").await;
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "recordingExpired"),
        "the expiry is audited"
    );
}

/// `viva serve` killed with SIGKILL mid-recording: every part on disk plays up to within
/// a second of the kill, and when the session is not resumed the next start marks the
/// recording interrupted and queues its post-production.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_recording_leaves_playable_parts_and_recovers_them_when_not_resumed() {
    let _heavy = crate::helpers::CPU_HEAVY.read().await;
    let mut server = crate::helpers::ServeProcess::new(&[]);
    let (base, port, http) = (server.base(), server.port, server.http.clone());
    server.start().await;
    let token: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": crate::helpers::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let admin = token["token"].as_str().unwrap().to_owned();
    let booked: Value = http
        .post(format!("{base}/api/v1/sessions"))
        .bearer_auth(&admin)
        .json(&json!({
            "title": "嫁接技术培训",
            "kind": "training",
            "start": (Utc::now() - chrono::Duration::minutes(1)).to_rfc3339(),
            "durationMinutes": 60,
            "timeZone": "Asia/Shanghai",
            "participants": [{"name": "讲师", "role": "trainer"}, {"name": "农户", "role": "trainee"}],
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let session = booked["session"]["id"].as_str().unwrap().to_owned();
    let tokens = crate::helpers::join_tokens(&booked);
    let ws_url = |token: &str| format!("ws://127.0.0.1:{port}/rtc?token={token}");
    let recordings = async || -> Vec<Value> {
        http.get(format!("{base}/api/v1/sessions/{session}/recordings"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    };

    let mut trainer = WsClient::join_url(&ws_url(&tokens[0])).await;
    trainer.say(ClientMessage::Recording { on: true }).await;
    trainer
        .wait_for("recording", |m| m["type"] == "recording" && m["on"] == true)
        .await;
    // The trainer publishes (waiting for the silent trainee keeps it going).
    let publisher_url = ws_url(&tokens[0]);
    let _publishing = tokio::spawn(async move {
        run_participant(&publisher_url, 1, &[2], 1, Duration::from_secs(20)).await
    });
    crate::helpers::eventually(
        "camera and microphone parts opened",
        Duration::from_secs(10),
        async || {
            let r = recordings().await;
            let opened = r.first().and_then(|r| r["parts"].as_array().cloned());
            opened.filter(|parts| parts.len() == 2)
        },
    )
    .await;
    // Let a few seconds of media be written, then kill -9 mid-stream.
    tokio::time::sleep(Duration::from_secs(4)).await;
    server.kill().await;
    let killed_at = Utc::now();
    // A live session's recording would continue after the restart (tests/api/
    // restart.rs); this one has nothing to resume: its session was cancelled while the
    // server was down, so the recording is closed as interrupted.
    {
        let url = format!(
            "sqlite://{}",
            server.dir.path().join("data/viva.db").display()
        );
        let store = viva::app::open_existing_store(&url).await.unwrap();
        store
            .cancel_session(session.parse().unwrap())
            .await
            .unwrap();
    }

    server.start().await;
    let after = recordings().await;
    assert_eq!(after[0]["state"], "interrupted", "{after:#?}");
    assert!(
        after[0]["production"].is_object(),
        "post-production queued: {after:#?}"
    );
    let parts_dir = viva::recording::recordings_dir(&server.dir.path().join("data"));
    for part in after[0]["parts"].as_array().unwrap() {
        let opened_at: chrono::DateTime<Utc> = part["openedAt"].as_str().unwrap().parse().unwrap();
        let written = (killed_at - opened_at).to_std().unwrap();
        let path = parts_dir.join(part["path"].as_str().unwrap());
        let streams = media::recorder::demux(&path).expect("the part plays after SIGKILL");
        let span = streams[0].span;
        eprintln!(
            "{}: {span:?} playable of {written:?} written",
            part["source"]
        );
        assert!(
            written.saturating_sub(span) <= Duration::from_secs(1),
            "{}: {span:?} playable, {written:?} between its first packet and the kill",
            part["source"]
        );
    }
}

/// A player's later range requests are not new downloads, but no range makes a first
/// download invisible: a suffix range (`bytes=-N`) that takes the whole file is on
/// record like any first fetch of a link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_fetch_of_a_link_is_audited_whatever_range_it_asks_for() {
    let _heavy = crate::helpers::CPU_HEAVY.read().await;
    let app = spawn_app().await;
    let (t, recording) = produced(&app).await;
    let admin = app.admin_token().await;
    let served = async || {
        app.state.audit.flush().await;
        app.admin_get("/api/v1/audit?limit=5000")
            .await
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "mediaServed")
            .count()
    };
    let download: Value = link(&app, &recording.to_string(), &admin, "download")
        .await
        .json()
        .await
        .unwrap();
    let url = download["url"].as_str().unwrap().to_owned();
    let whole = app
        .http
        .get(&url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    // The trainer's own link (another link than the administrator's).
    let fresh: Value = link(&app, &recording.to_string(), &t.tokens[0], "download")
        .await
        .json()
        .await
        .unwrap();
    let before = served().await;
    let suffix = app
        .http
        .get(fresh["url"].as_str().unwrap())
        .header("range", format!("bytes=-{}", whole.len()))
        .send()
        .await
        .unwrap();
    assert_eq!(suffix.status(), 206);
    assert_eq!(
        suffix.bytes().await.unwrap().len(),
        whole.len(),
        "the whole file"
    );
    assert_eq!(
        served().await,
        before + 1,
        "a suffix range is a download on record"
    );
    let rest = app
        .http
        .get(fresh["url"].as_str().unwrap())
        .header("range", "bytes=100-")
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 206);
    assert_eq!(
        served().await,
        before + 1,
        "the same link's later ranges are not"
    );
}
