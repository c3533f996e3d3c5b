//! Drives Viva: books one session per room through the HTTP API as the
//! administrator (recording off, so only forwarding is measured), connects each
//! generated participant through its join link's signaling WebSocket, answers the
//! SFU's offers, and plays a silent host (signaling only) that admits the applicant.

use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::endpoint::{Endpoint, Remote, Schedule};
use crate::workload::{Room, Spawned};
use media::delay::DelayHistogram;

/// Where Viva runs and how to sign in.
#[derive(Debug, Clone)]
pub struct Viva {
    /// e.g. `http://127.0.0.1:8080`.
    pub base: String,
    /// The administrator's password.
    pub admin_password: String,
    /// The generator's address for media sockets.
    pub bind: std::net::IpAddr,
    /// Simulcast layers per publisher's video.
    pub layers: usize,
    /// The admin listener's `/metrics`, when given: the SFU's own forwarding delay is
    /// then read beside the generator's end-to-end latency.
    pub metrics: Option<String>,
    /// The SFU's ICE-TCP listener, when every endpoint is to reach it over TCP
    /// instead of UDP (as behind a firewall that drops UDP).
    pub tcp: Option<std::net::SocketAddr>,
}

impl Viva {
    /// Signs in once before anything is measured: a sign-in hashes the password with
    /// Argon2 (about 19 MiB, freed at once but not always handed back to the kernel),
    /// which belongs in the idle memory figure, not in the per-track one.
    pub async fn warm_up(&self) -> Result<()> {
        self.admin_token(&reqwest::Client::new()).await.map(drop)
    }

    /// The SFU's forwarding-delay histogram now (`None` without `metrics`).
    pub async fn forward_delay(&self) -> Result<Option<DelayHistogram>> {
        let Some(url) = &self.metrics else {
            return Ok(None);
        };
        let text = reqwest::get(url)
            .await?
            .error_for_status()
            .context("reading the admin listener's /metrics")?
            .text()
            .await?;
        parse_forward_delay(&text)
            .map(Some)
            .context("no viva_forward_delay_seconds histogram in /metrics")
    }

    async fn admin_token(&self, http: &reqwest::Client) -> Result<String> {
        let res: Value = http
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&json!({"username": "admin", "password": self.admin_password}))
            .send()
            .await?
            .error_for_status()
            .context("admin sign-in")?
            .json()
            .await?;
        Ok(res["token"].as_str().context("no token")?.to_owned())
    }

    /// Books a room's session and starts its endpoints; ids start at `first_id`.
    pub async fn spawn_room(
        &self,
        room: &Room,
        index: usize,
        first_id: u32,
        schedule: Schedule,
    ) -> Result<Spawned> {
        let http = reqwest::Client::new();
        let token = self.admin_token(&http).await?;
        // A defense-shaped room has an applicant (who waits in the lobby) and experts;
        // listeners are observers. The host is the generator's silent admitter.
        let mut people = vec![json!({"name": "主持人", "role": "host"})];
        for p in 0..room.publishers {
            let role = if p == 0 && room.publishers > 1 {
                "applicant"
            } else {
                "expert"
            };
            people.push(json!({"name": format!("发布者{p}"), "role": role}));
        }
        let kind = if room.publishers == 1 {
            "training"
        } else {
            "defense"
        };
        if kind == "training" {
            people[1] = json!({"name": "讲师", "role": "trainer"});
        }
        for l in 0..room.listeners {
            let role = if kind == "training" {
                "trainee"
            } else {
                "observer"
            };
            people.push(json!({"name": format!("听众{l}"), "role": role}));
        }
        let start = (chrono::Utc::now() - chrono::Duration::minutes(5)).to_rfc3339();
        let res = http
            .post(format!("{}/api/v1/sessions", self.base))
            .bearer_auth(&token)
            .json(&json!({
                "title": format!("负载测试 {index}"),
                "kind": kind,
                "start": start,
                "durationMinutes": 240,
                "timeZone": "Asia/Shanghai",
                "participants": people,
            }))
            .send()
            .await?;
        if !res.status().is_success() {
            bail!("booking failed: {}", res.text().await?);
        }
        let body: Value = res.json().await?;
        let session = body["session"]["id"].as_str().context("session id")?;
        http.put(format!(
            "{}/api/v1/sessions/{session}/recording-policy",
            self.base
        ))
        .bearer_auth(&token)
        .json(&json!({"record": false}))
        .send()
        .await?
        .error_for_status()
        .context("recording policy")?;
        let links: Vec<(String, String)> = body["joinLinks"]
            .as_array()
            .context("join links")?
            .iter()
            .map(|l| {
                (
                    l["url"]
                        .as_str()
                        .unwrap_or_default()
                        .rsplit('/')
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                    l["participantId"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let ws_base = self.base.replacen("http://", "ws://", 1);
        let mut spawned = Spawned::default();
        // The host: signaling only, admits the applicant once it is in the lobby.
        let applicant = (kind == "defense").then(|| links[1].1.clone());
        let host_url = format!("{ws_base}/rtc?token={}", links[0].0);
        spawned.helpers.push(tokio::spawn(silent_host(
            host_url,
            applicant,
            schedule.clone(),
        )));
        for (i, (token, _)) in links.iter().enumerate().skip(1) {
            let publish = i <= room.publishers;
            let id = first_id + i as u32;
            let endpoint = Endpoint::new(id, publish, self.bind, self.layers, self.tcp).await?;
            let url = format!("{ws_base}/rtc?token={token}");
            spawned
                .endpoints
                .push(tokio::spawn(participant(url, endpoint, schedule.clone())));
        }
        Ok(spawned)
    }
}

async fn participant(
    url: String,
    endpoint: Endpoint,
    schedule: Schedule,
) -> crate::endpoint::Outcome {
    let (to_endpoint, remote) = mpsc::unbounded_channel();
    let (replies, mut answers) = mpsc::unbounded_channel();
    let mut stopped = schedule.stopped();
    let run = tokio::spawn(endpoint.run(schedule, remote, replies));
    match connect(&url).await {
        Ok(mut ws) => {
            let _ = ws
                .send(Message::Text(
                    json!({"type":"join","protocol":1}).to_string().into(),
                ))
                .await;
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    answer = answers.recv() => match answer {
                        Some(sdp) => {
                            let _ = ws.send(Message::Text(json!({"type":"answer","sdp":sdp}).to_string().into())).await;
                        }
                        None => break,
                    },
                    msg = ws.next() => match msg {
                        Some(Ok(Message::Text(text))) => {
                            let msg: Value = serde_json::from_str(&text).unwrap_or_default();
                            match msg["type"].as_str() {
                                Some("offer") => {
                                    let sdp = msg["sdp"].as_str().unwrap_or_default().to_owned();
                                    let _ = to_endpoint.send(Remote::Offer(sdp));
                                }
                                Some("error") => eprintln!("viva: {msg}"),
                                _ => {}
                            }
                        }
                        Some(Ok(_)) => {}
                        _ => break,
                    },
                }
            }
            let _ = ws.close(None).await;
        }
        Err(e) => eprintln!("viva signaling: {e}"),
    }
    drop(to_endpoint);
    run.await.unwrap_or_default()
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a signaling connection. Viva budgets connection attempts per client address
/// (a burst, then ten a second): the generator, one address for hundreds of
/// participants, waits and tries again on 429 as a page does.
async fn connect(url: &str) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::Error;
    let mut attempts = 0;
    loop {
        match tokio_tungstenite::connect_async(url).await {
            Ok((ws, _)) => return Ok(ws),
            Err(Error::Http(res)) if res.status() == 429 && attempts < 20 => {
                attempts += 1;
                let wait = res
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok()?.parse().ok())
                    .unwrap_or(1);
                tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

async fn silent_host(url: String, applicant: Option<String>, schedule: Schedule) {
    let Ok(mut ws) = connect(&url).await else {
        eprintln!("viva: the host could not connect");
        return;
    };
    let _ = ws
        .send(Message::Text(
            json!({"type":"join","protocol":1}).to_string().into(),
        ))
        .await;
    let mut stopped = schedule.stopped();
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            // Admitting is idempotent; repeat until the applicant has arrived.
            _ = tick.tick(), if applicant.is_some() => {
                if let Some(id) = &applicant {
                    let _ = ws.send(Message::Text(json!({"type":"admit","participantId":id}).to_string().into())).await;
                }
            }
            // Nothing the host hears needs an answer; reading keeps the socket alive.
            msg = ws.next() => match msg {
                Some(Ok(_)) => {}
                _ => break,
            },
        }
    }
    let _ = ws.close(None).await;
}

/// `viva_forward_delay_seconds` read back from Prometheus text, or `None` when the
/// histogram is missing or not the one [`DelayHistogram`] writes.
pub fn parse_forward_delay(text: &str) -> Option<DelayHistogram> {
    const NAME: &str = "viva_forward_delay_seconds";
    let value = |suffix: &str| -> Option<f64> {
        text.lines().find_map(|l| {
            l.strip_prefix(NAME)?
                .strip_prefix(suffix)?
                .trim()
                .parse()
                .ok()
        })
    };
    let buckets: Vec<(u64, u64)> = text
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(NAME)?.strip_prefix("_bucket{le=\"")?;
            let (bound, count) = rest.split_once("\"} ")?;
            // `+Inf` is the count, read below (and would parse as an f64).
            let seconds: f64 = bound.parse().ok().filter(|s: &f64| s.is_finite())?;
            Some(((seconds * 1e6).round() as u64, count.trim().parse().ok()?))
        })
        .collect();
    let count = value("_count ")? as u64;
    let sum_us = (value("_sum ")? * 1e6).round() as u64;
    DelayHistogram::from_cumulative(&buckets, count, sum_us)
}

/// Quantile `q` of the delays counted between two readings, as the upper bound of its
/// bucket in milliseconds (`None` if nothing was counted or it lies beyond the last
/// bound).
pub fn delay_quantile_ms(before: &DelayHistogram, after: &DelayHistogram, q: f64) -> Option<f64> {
    after
        .since(before)
        .quantile_bound_us(q)
        .map(|us| us as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `/metrics` writes for a histogram.
    fn exposition(h: &DelayHistogram) -> String {
        let mut out = String::from("# TYPE viva_forward_delay_seconds histogram\n");
        for (bound_us, n) in h.cumulative() {
            let seconds = bound_us as f64 / 1e6;
            out.push_str(&format!(
                "viva_forward_delay_seconds_bucket{{le=\"{seconds}\"}} {n}\n"
            ));
        }
        out.push_str(&format!(
            "viva_forward_delay_seconds_bucket{{le=\"+Inf\"}} {c}\n\
             viva_forward_delay_seconds_sum {}\nviva_forward_delay_seconds_count {c}\n",
            h.sum_us as f64 / 1e6,
            c = h.count
        ));
        out
    }

    #[test]
    fn the_sfus_delay_is_read_from_its_metrics_over_a_window() {
        let mut h = DelayHistogram::default();
        for _ in 0..10 {
            h.observe(80);
        }
        let before = parse_forward_delay(&exposition(&h)).unwrap();
        assert_eq!(before, h);
        // In the window: 90 under 100 µs, 9 under 1 ms, 1 beyond the last bound.
        for _ in 0..90 {
            h.observe(80);
        }
        for _ in 0..9 {
            h.observe(700);
        }
        h.observe(2_000_000);
        let after = parse_forward_delay(&exposition(&h)).unwrap();
        assert_eq!(delay_quantile_ms(&before, &after, 0.5), Some(0.1));
        assert_eq!(delay_quantile_ms(&before, &after, 0.99), Some(1.0));
        assert_eq!(delay_quantile_ms(&before, &after, 1.0), None);
        assert_eq!(
            delay_quantile_ms(&before, &before, 0.5),
            None,
            "nothing counted"
        );
        let text = exposition(&h);
        let truncated: String = text.lines().skip(3).map(|l| format!("{l}\n")).collect();
        assert_eq!(parse_forward_delay(&truncated), None, "buckets missing");
    }
}
