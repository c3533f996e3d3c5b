//! The hostile-participant soak: a defense with three real Chromium clients runs
//! while 20 hostile Rust clients attack `viva serve` (a process of its own, so its
//! memory can be read): they flood every command, send malformed and oversized JSON,
//! open and drop sockets in a loop, spray junk and forged STUN/RTP/RTCP at the media
//! port, and hammer sign-in and the public endpoints. Everything stays on loopback and
//! every loop is bounded in rate and time.
//!
//! Pass: the defense's stability verdict is stable and every page kept decoding,
//! the score sheet and the chat submitted during the soak are stored, the audit chain
//! verifies, the server logged no panic, and its memory returns to within 10% of its
//! pre-soak level.
//!
//! The hostile clients run on a runtime of their own whose threads take the lowest CPU
//! priority: in the field an attacker uses their own machine, while here they share
//! two cores with three browsers and the server. What is measured is whether Viva
//! holds, not whether one small machine can host the attack and its victims at once.
//!
//! `VIVA_SOAK_SECONDS` sets the soak's length (default 60, what the test command
//! runs); `scripts/soak-hostile.sh SECONDS` runs a longer one and prints the report.
//! `VIVA_SOAK_HOSTILE=0` runs the same defense without the attack (a baseline).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{ADMIN_PASSWORD, ServeProcess, join_tokens, repo_root};

/// How long the warm-up attack runs before the soak's memory baseline is taken.
const WARM_UP: Duration = Duration::from_secs(10);

/// What the hostile clients did, counted as they go.
#[derive(Default)]
struct Tally {
    messages: AtomicU64,
    closed_by_server: AtomicU64,
    refused_upgrades: AtomicU64,
    sockets: AtomicU64,
    datagrams: AtomicU64,
    sign_ins: AtomicU64,
    sign_ins_refused: AtomicU64,
    requests: AtomicU64,
    requests_refused: AtomicU64,
}

impl Tally {
    fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn report(&self) -> Value {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        json!({
            "wsMessages": get(&self.messages),
            "wsClosedByServer": get(&self.closed_by_server),
            "wsUpgradesRefused": get(&self.refused_upgrades),
            "socketsOpened": get(&self.sockets),
            "udpDatagrams": get(&self.datagrams),
            "signIns": get(&self.sign_ins),
            "signInsRefused": get(&self.sign_ins_refused),
            "publicRequests": get(&self.requests),
            "publicRequestsRefused": get(&self.requests_refused),
        })
    }
}

/// A field of the server's `/proc/PID/status`, in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// The server's own memory in KiB: its anonymous resident pages (heap, stacks). The
/// file-backed rest of its RSS is its code and libraries, paged in as an attack
/// exercises code paths and reclaimable by the kernel at any time: not the server's
/// to give back, and no sign of a leak.
fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "RssAnon:")
}

/// A quantile of the forwarding delay histogram in `/metrics`, in milliseconds (the
/// upper bound of the bucket it falls in).
fn delay_quantile_ms(metrics: &str, q: f64) -> Option<f64> {
    let buckets: Vec<(f64, f64)> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("viva_forward_delay_seconds_bucket{le=\""))
        .filter_map(|l| {
            let (le, count) = l.split_once("\"} ")?;
            Some((
                le.parse().unwrap_or(f64::INFINITY),
                count.trim().parse().ok()?,
            ))
        })
        .collect();
    let total = buckets.last()?.1;
    buckets
        .iter()
        .find(|(_, count)| *count >= total * q)
        .map(|(le, _)| le * 1000.0)
}

/// Every client message kind, valid JSON, as a flooder sends them.
fn every_command(target: &str) -> Vec<Value> {
    vec![
        json!({"type": "mute", "participantId": target}),
        json!({"type": "raiseHand", "raised": true}),
        json!({"type": "admit", "participantId": target}),
        json!({"type": "advance"}),
        json!({"type": "extend", "minutes": 60}),
        json!({"type": "remove", "participantId": target}),
        json!({"type": "recording", "on": true}),
        json!({"type": "chat", "text": "刷屏"}),
        json!({"type": "submitScores", "scores": [10, 10, 10, 10], "comment": ""}),
        json!({"type": "renegotiate"}),
        json!({"type": "preferLayer", "track": "x", "layer": "high"}),
        json!({"type": "report", "freezeCount": 9, "tracks": []}),
        json!({"type": "rate", "stars": 1, "comment": ""}),
        json!({"type": "answer", "sdp": "v=0\r\n"}),
        json!({"type": "close"}),
    ]
}

/// Connects, joins, then sends `messages` (cycled) as fast as the socket takes them
/// until the server closes it or `limit` were sent. Counts what happened.
async fn flood_once(url: &str, messages: &[Message], limit: usize, tally: &Tally) {
    Tally::add(&tally.sockets);
    let mut ws = match tokio_tungstenite::connect_async(url).await {
        Ok((ws, _)) => ws,
        Err(_) => {
            Tally::add(&tally.refused_upgrades);
            return;
        }
    };
    let join = Message::Text(r#"{"type":"join","protocol":1}"#.into());
    if ws.send(join).await.is_err() {
        return;
    }
    for message in messages.iter().cycle().take(limit) {
        if ws.send(message.clone()).await.is_err() {
            Tally::add(&tally.closed_by_server);
            return;
        }
        Tally::add(&tally.messages);
        // Drain replies without waiting, so the server is never blocked on us.
        while let Ok(Some(Ok(reply))) = tokio::time::timeout(Duration::ZERO, ws.next()).await {
            if matches!(reply, Message::Close(_)) {
                Tally::add(&tally.closed_by_server);
                return;
            }
        }
    }
}

/// A hostile loop: runs `round` until `deadline`, at most `per_second` rounds a
/// second.
async fn bounded<F, Fut>(deadline: Instant, per_second: u32, mut round: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let pause = Duration::from_secs(1) / per_second.max(1);
    while Instant::now() < deadline {
        let started = Instant::now();
        round().await;
        tokio::time::sleep(pause.saturating_sub(started.elapsed())).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_defense_holds_while_twenty_hostile_clients_attack() {
    crate::browser::require_browser_tooling();
    // The soak owns the machine: no other test's load is measured as ours.
    let _cpu = crate::helpers::CPU_HEAVY.write().await;
    let _alone = crate::helpers::TIMING_SENSITIVE.lock().await;
    let seconds: u64 = std::env::var("VIVA_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);

    // 1. `viva serve`, a process of its own, its log kept for the panic check. One
    // camera encoding per browser instead of three layers (the harness's default):
    // simulcast has nothing to do with what is attacked here, and three browsers
    // encoding three layers each are most of what two cores can do.
    let mut server = ServeProcess::new(&[]);
    server.start().await;
    let (port, media_port, admin_port) = (server.port, server.media_port, server.admin_port);
    let base = server.base();
    let pid = server.pid();
    let http = server.http.clone();
    let login: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let admin = login["token"].as_str().unwrap().to_owned();
    let book = async |kind: &str, people: Value| -> Value {
        http.post(format!("{base}/api/v1/sessions"))
            .bearer_auth(&admin)
            .json(&json!({
                "title": format!("{kind} under attack"),
                "kind": kind,
                "start": (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339(),
                "durationMinutes": 120,
                "timeZone": "Asia/Shanghai",
                "participants": people,
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    };
    let defense = book(
        "defense",
        json!([
            {"name": "秘书", "role": "host"}, {"name": "专家", "role": "expert"},
            {"name": "申请人", "role": "applicant"},
            {"name": "旁听甲", "role": "observer"}, {"name": "旁听乙", "role": "observer"},
        ]),
    )
    .await;
    let training = book(
        "training",
        json!([
            {"name": "讲师", "role": "trainer"}, {"name": "农户甲", "role": "trainee"},
            {"name": "农户乙", "role": "trainee"}, {"name": "农户丙", "role": "trainee"},
        ]),
    )
    .await;
    let defense_id = defense["session"]["id"].as_str().unwrap().to_owned();
    let training_id = training["session"]["id"].as_str().unwrap().to_owned();
    let d_tokens = join_tokens(&defense);
    let t_tokens = join_tokens(&training);
    let applicant_id = defense["joinLinks"][2]["participantId"]
        .as_str()
        .unwrap()
        .to_owned();
    let ws_url = |token: &str| format!("ws://127.0.0.1:{port}/rtc?token={token}");
    let page_url = |token: &str| format!("{base}/j/{token}");

    // 2. The defense in Chromium; hostile clients start once it is in Q&A with media.
    let mut browsers = tokio::process::Command::new("node")
        .arg(repo_root().join("tests/browser/soak.mjs"))
        .args([
            page_url(&d_tokens[0]),
            page_url(&d_tokens[1]),
            page_url(&d_tokens[2]),
            applicant_id.clone(),
            seconds.to_string(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut progress = tokio::io::BufReader::new(browsers.stderr.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(90), async {
        while let Ok(Some(line)) = progress.next_line().await {
            eprintln!("{line}");
            if line.contains("soak: ready") {
                return true;
            }
        }
        false
    })
    .await;
    if !matches!(ready, Ok(true)) {
        let _ = browsers.start_kill();
        let out = browsers.wait_with_output().await.unwrap();
        panic!(
            "the defense did not get going in the browsers: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    tokio::spawn(async move {
        while let Ok(Some(line)) = progress.next_line().await {
            eprintln!("{line}");
        }
    });
    // 4. Twenty hostile clients, at the lowest CPU priority (see the module's notes).
    let attackers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(|| {
            // On Linux, `None` (0) names the calling thread.
            let _ = rustix::process::setpriority_process(None, 19);
        })
        .build()
        .unwrap();
    let attack = std::env::var("VIVA_SOAK_HOSTILE").map_or(true, |v| v != "0");
    let tally = Arc::new(Tally::default());
    // Every hostile client, running until `deadline`.
    let launch = |deadline: Instant| -> Vec<tokio::task::JoinHandle<()>> {
        let mut hostile = Vec::new();
        let observer_a = defense["joinLinks"][3]["participantId"]
            .as_str()
            .unwrap()
            .to_owned();
        // Five flood every command: two defense observers, three trainees.
        for token in [
            &d_tokens[3],
            &d_tokens[4],
            &t_tokens[2],
            &t_tokens[3],
            &d_tokens[3],
        ] {
            let (url, tally) = (ws_url(token), tally.clone());
            let commands: Vec<Message> = every_command(&observer_a)
                .iter()
                .map(|m| Message::Text(m.to_string().into()))
                .collect();
            hostile.push(attackers.spawn(async move {
                bounded(deadline, 5, || flood_once(&url, &commands, 2_000, &tally)).await;
            }));
        }
        // Three send malformed, oversized and deeply nested JSON, and binary frames.
        for token in [&d_tokens[4], &t_tokens[3], &t_tokens[2]] {
            let (url, tally) = (ws_url(token), tally.clone());
            let junk = vec![
                Message::Text("{".into()),
                Message::Text("[]".into()),
                Message::Text(format!("{}{}", "[".repeat(5_000), "]".repeat(5_000)).into()),
                Message::Text(
                    format!(r#"{{"type":"chat","text":"{}"}}"#, "长".repeat(30_000)).into(),
                ),
                Message::Text(
                    format!(r#"{{"type":"answer","sdp":"{}"}}"#, "x".repeat(200_000)).into(),
                ),
                Message::Binary(vec![0u8; 1024].into()),
                Message::Text(r#"{"type":"join","protocol":99}"#.into()),
                Message::Text(r#"{"type":"mute","participantId":"not-a-uuid"}"#.into()),
            ];
            hostile.push(attackers.spawn(async move {
                bounded(deadline, 5, || flood_once(&url, &junk, 500, &tally)).await;
            }));
        }
        // Three open and drop sockets in a loop (valid link, forged link, no join at all).
        for (token, join) in [
            (t_tokens[3].clone(), true),
            ("v1.forged.token".to_owned(), true),
            (d_tokens[4].clone(), false),
        ] {
            let (url, tally) = (ws_url(&token), tally.clone());
            hostile.push(attackers.spawn(async move {
                bounded(deadline, 10, || async {
                    Tally::add(&tally.sockets);
                    match tokio_tungstenite::connect_async(&url).await {
                        Ok((mut ws, _)) => {
                            if join {
                                let _ = ws
                                    .send(Message::Text(r#"{"type":"join","protocol":1}"#.into()))
                                    .await;
                            }
                            drop(ws);
                        }
                        Err(_) => Tally::add(&tally.refused_upgrades),
                    }
                })
                .await;
            }));
        }
        // Three spray the media port: junk, forged STUN checks (guessed ufrags, wrong
        // integrity), RTP, RTCP and DTLS look-alikes.
        for seed in 0..3u8 {
            let tally = tally.clone();
            hostile.push(attackers.spawn(async move {
                let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
                let target = format!("127.0.0.1:{media_port}");
                let mut n: u32 = 0;
                bounded(deadline, 50, || {
                    let (socket, target, tally) = (&socket, &target, &tally);
                    n = n.wrapping_add(1);
                    let round = n;
                    async move {
                        for i in 0..20u32 {
                            let k = round.wrapping_mul(31).wrapping_add(i) ^ u32::from(seed);
                            let datagram: Vec<u8> = match k % 5 {
                                0 => media::stun::signed_binding_request(
                                    &format!("v{}{:08x}:browser", k % 8, k),
                                    "a-guessed-password-000000",
                                    [seed; 12],
                                ),
                                1 => {
                                    let mut p = vec![0x80, 96];
                                    p.extend_from_slice(&k.to_be_bytes());
                                    p.extend_from_slice(&[0x90, 0xe0, 0x80, 0x01]);
                                    p.resize(200, 0xab);
                                    p
                                }
                                2 => vec![0x81, 201, 0, 7, 0, 0, 0, 1, 0, 0, 0, 42],
                                3 => {
                                    let mut p = vec![22, 0xfe, 0xfd];
                                    p.resize(120, k as u8);
                                    p
                                }
                                _ => (0..(k % 1400) as usize)
                                    .map(|b| (b as u32 ^ k) as u8)
                                    .collect(),
                            };
                            if socket.send_to(&datagram, target).await.is_ok() {
                                Tally::add(&tally.datagrams);
                            }
                        }
                    }
                })
                .await;
            }));
        }
        // Three hammer sign-in with wrong passwords.
        for who in ["admin", "secretary", "admin"] {
            let (http, tally, url) = (
                http.clone(),
                tally.clone(),
                format!("{base}/api/v1/auth/login"),
            );
            hostile.push(attackers.spawn(async move {
                let mut n = 0u64;
                bounded(deadline, 20, || {
                    n += 1;
                    let body = json!({"username": who, "password": format!("guess-{n}")});
                    let (http, tally, url) = (&http, &tally, &url);
                    async move {
                        Tally::add(&tally.sign_ins);
                        if let Ok(res) = http.post(url).json(&body).send().await
                            && (res.status() == 429 || res.status() == 503)
                        {
                            Tally::add(&tally.sign_ins_refused);
                        }
                    }
                })
                .await;
            }));
        }
        // Three hammer the public endpoints.
        for kind in 0..3u8 {
            let (http, tally, base) = (http.clone(), tally.clone(), base.clone());
            let observer_token = d_tokens[4].clone();
            hostile.push(attackers.spawn(async move {
                let mut n = 0u64;
                bounded(deadline, 40, || {
                    n += 1;
                    let request = match (u64::from(kind) + n) % 6 {
                        0 => http.get(format!("{base}/healthz")),
                        1 => http.get(format!("{base}/api/v1/help-videos?q=水稻")),
                        2 => http
                            .post(format!(
                                "{base}/api/v1/help-videos/{}/views",
                                uuid::Uuid::new_v4()
                            ))
                            .json(&json!({"viewer": uuid::Uuid::new_v4()})),
                        3 => http.get(format!("{base}/j/v1.garbage.{n}")),
                        4 => http.get(format!("{base}/j/{observer_token}/invitation.ics")),
                        _ => http
                            .post(format!("{base}/whip/{}", uuid::Uuid::new_v4()))
                            .bearer_auth("v1.forged.whip")
                            .header("content-type", "application/sdp")
                            .body("v=0\r\n"),
                    };
                    let tally = &tally;
                    async move {
                        Tally::add(&tally.requests);
                        if let Ok(res) = request.send().await
                            && res.status() == 429
                        {
                            Tally::add(&tally.requests_refused);
                        }
                    }
                })
                .await;
            }));
        }
        hostile
    };
    // Memory with the defense running, before any attack (cold).
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss_cold = rss_kib(pid);
    // A short warm-up attack first: what any first use fills once (SQLite's page cache,
    // up to 2 MiB per pooled connection; the allocator's arenas) is then part of the
    // level the soak is compared with, so that only growth with the attack's length
    // counts.
    let warm_up = launch(Instant::now() + WARM_UP);
    for task in warm_up {
        let _ = task.await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss_before = rss_kib(pid);

    // 3. Legitimate chat in the training session all through the soak.
    let deadline = Instant::now() + Duration::from_secs(seconds.saturating_sub(25).max(10));
    let chat = {
        let url = ws_url(&t_tokens[1]);
        tokio::spawn(async move {
            let mut client = crate::ws_client::WsClient::join_url(&url).await;
            let mut sent = Vec::new();
            let mut i = 0;
            while Instant::now() < deadline {
                let text = format!("合法消息{i}");
                client.send(json!({"type": "chat", "text": text})).await;
                sent.push(text);
                i += 1;
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            sent
        })
    };
    let hostile = launch(deadline);
    assert_eq!(hostile.len(), 20, "twenty hostile clients");
    if !attack {
        for task in &hostile {
            task.abort();
        }
    }
    if let Ok(only) = std::env::var("VIVA_SOAK_ONLY") {
        let kinds = [
            ("flood", 0..5),
            ("malformed", 5..8),
            ("churn", 8..11),
            ("udp", 11..14),
            ("signin", 14..17),
            ("public", 17..20),
        ];
        let (_, keep) = kinds
            .into_iter()
            .find(|(k, _)| *k == only)
            .expect("VIVA_SOAK_ONLY names a kind of attack");
        for (i, task) in hostile.iter().enumerate() {
            if !keep.contains(&i) {
                task.abort();
            }
        }
    }
    let mut rss_peak = rss_before;
    while Instant::now() < deadline {
        rss_peak = rss_peak.max(rss_kib(pid));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    for task in hostile {
        if let Err(e) = task.await {
            assert!(e.is_cancelled(), "a hostile client failed: {e}");
        }
    }
    attackers.shutdown_background();
    let sent_chat = chat.await.unwrap();

    // 5. The browsers finish the defense: scoring through the page.
    let output = tokio::time::timeout(
        Duration::from_secs(seconds + 120),
        browsers.wait_with_output(),
    )
    .await
    .expect("the browser side finishes")
    .expect("its output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let browser_side: Value = serde_json::from_str(stdout.lines().last().unwrap_or("{}"))
        .unwrap_or_else(|_| panic!("no result line: {stdout}"));

    // 6. Memory settles back (bounded wait), then the record.
    let mut rss_after = rss_kib(pid);
    for _ in 0..30 {
        if rss_after * 10 <= rss_before * 11 {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        rss_after = rss_kib(pid);
    }
    let get = async |path: String| -> Value {
        http.get(format!("{base}{path}"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    };
    let stability = get(format!("/api/v1/sessions/{defense_id}/stability")).await;
    let scores = get(format!("/api/v1/sessions/{defense_id}/scores")).await;
    let stored_chat = get(format!("/api/v1/sessions/{training_id}/chat")).await;
    let verify = get("/api/v1/audit/verify".to_owned()).await;
    let metrics = http
        .get(format!("http://127.0.0.1:{admin_port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let metric = |name: &str| -> String {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("?")
            .to_owned()
    };
    let alive = server.alive();
    let log = server.log();
    let report = json!({
        "seconds": seconds,
        "attack": attack,
        "hostile": tally.report(),
        "rssAnonKiB": {"cold": rss_cold, "before": rss_before, "peak": rss_peak, "after": rss_after},
        "rssKiB": {"after": status_kib(pid, "VmRSS:")},
        "server": {
            "unauthenticatedStun": metric("viva_unauthenticated_stun_total"),
            "unroutableDatagrams": metric("viva_unroutable_datagrams_total"),
            "closedForAbuse": log.matches("connection closed for abuse").count(),
            "forwardDelayP99Ms": delay_quantile_ms(&metrics, 0.99),
        },
        "verdict": stability["verdict"]["stable"],
        "verdictReasons": stability["verdict"]["reasons"],
        "upKeyframes": stability["samples"].as_array().map(|a| a.iter().filter(|s| s["direction"] == "up").map(|s| s["keyframes"].as_i64().unwrap_or(0)).sum::<i64>()),
        "upPlis": stability["samples"].as_array().map(|a| a.iter().filter(|s| s["direction"] == "up").map(|s| s["plis"].as_i64().unwrap_or(0)).sum::<i64>()),
        "downPlis": stability["samples"].as_array().map(|a| a.iter().filter(|s| s["direction"] == "down").map(|s| s["plis"].as_i64().unwrap_or(0)).sum::<i64>()),
        "badIntervals": stability["samples"].as_array().map(|all| all.iter().filter(|s| {
            s["freezes"].as_i64().unwrap_or(0) > 0 || s["rttMs"].as_f64().unwrap_or(0.0) > 400.0
                || (s["packets"].as_i64().unwrap_or(0) > 0 && s["lost"].as_i64().unwrap_or(0) * 10 >= s["packets"].as_i64().unwrap_or(1))
        }).map(|s| json!({"at": s["at"], "dir": s["direction"], "track": s["track"], "freezes": s["freezes"], "rttMs": s["rttMs"], "lost": s["lost"], "packets": s["packets"]})).collect::<Vec<_>>()),
        "browser": {"stalls": browser_side["stalls"], "scored": browser_side["scored"]["ok"]},
        "chat": {"sent": sent_chat.len(), "stored": stored_chat.as_array().map(Vec::len)},
        "auditIntact": verify["intact"],
        "auditEntries": verify["entries"],
    });
    println!("SOAK REPORT {report}");
    for line in metrics
        .lines()
        .filter(|l| l.starts_with("viva_forward_delay_seconds"))
    {
        println!("SOAK METRIC {line}");
    }

    // Every check is made and reported together, with the report: a failure in CI
    // then says everything the run saw, not only its first broken promise.
    let mut broken: Vec<String> = Vec::new();
    let mut check = |holds: bool, what: String| {
        if !holds {
            broken.push(what);
        }
    };
    check(alive, "the server died".into());
    check(!log.contains("panicked"), "the server panicked".into());
    check(
        browser_side["ok"] == true,
        format!("the browsers' defense: {browser_side}"),
    );
    check(
        stability["verdict"]["stable"] == true,
        format!("the defense's verdict: {}", stability["verdict"]),
    );
    let sheet = scores["sheets"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["locked"] == true);
    check(
        sheet.is_some_and(|s| s["scores"] == json!([9, 9, 9, 9])),
        format!("no stored sheet of 9s: {scores}"),
    );
    let stored: Vec<&str> = stored_chat
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["text"].as_str())
        .collect();
    for text in &sent_chat {
        check(
            stored.contains(&text.as_str()),
            format!("chat {text} was lost"),
        );
    }
    check(verify["intact"] == true, format!("audit chain: {verify}"));
    check(
        rss_after * 10 <= rss_before * 11,
        format!("memory did not settle: {rss_before} KiB before, {rss_after} KiB after"),
    );
    if !broken.is_empty() {
        let tail: String = {
            let lines: Vec<&str> = log.lines().collect();
            lines[lines.len().saturating_sub(40)..].join("\n")
        };
        panic!(
            "the soak broke {} promise(s): {broken:#?}\nreport: {report}\nserver log tail:\n{tail}",
            broken.len()
        );
    }
    server.kill().await;
}
