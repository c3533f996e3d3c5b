//! Drives Janus (1.1.x) through its HTTP API with the VideoRoom plugin: one room per
//! generated room, publishers join and offer (Janus answers), then every subscriber
//! joins one multistream subscription to the feeds it should receive (Janus offers,
//! the endpoint answers). Each endpoint has its own Janus session; Janus is configured
//! without session timeouts (`scripts/janus-bench.sh`), so nothing needs polling once
//! negotiated.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::endpoint::{Endpoint, Outcome, Schedule};
use crate::workload::{Room, Spawned};

/// Where Janus listens, e.g. `http://127.0.0.1:8088/janus`.
#[derive(Debug, Clone)]
pub struct Janus {
    /// The HTTP API's base URL.
    pub base: String,
    /// The generator's address for media sockets.
    pub bind: std::net::IpAddr,
    /// Simulcast layers per publisher's video.
    pub layers: usize,
}

/// One Janus session with one VideoRoom handle.
struct Handle {
    http: reqwest::Client,
    /// The session's URL (`<base>/<session id>`).
    session: String,
    handle: String,
}

impl Janus {
    async fn handle(&self, http: &reqwest::Client) -> Result<Handle> {
        let created = post(http, &self.base, json!({"janus": "create"})).await?;
        let session = id_of(&created)?;
        let attached = post(
            http,
            &format!("{}/{session}", self.base),
            json!({"janus": "attach", "plugin": "janus.plugin.videoroom"}),
        )
        .await?;
        Ok(Handle {
            http: http.clone(),
            handle: id_of(&attached)?,
            session: format!("{}/{session}", self.base),
        })
    }

    /// Creates the room and starts its endpoints; ids start at `first_id`.
    pub async fn spawn_room(
        &self,
        room: &Room,
        index: usize,
        first_id: u32,
        schedule: Schedule,
    ) -> Result<Spawned> {
        let http = reqwest::Client::new();
        let admin = self.handle(&http).await?;
        // Unique across runs against one Janus process.
        let room_id = u64::from(rand::random::<u32>()) * 1000 + index as u64;
        let created = admin
            .message(
                json!({
                    "request": "create",
                    "room": room_id,
                    "publishers": room.publishers.max(1),
                    "bitrate": 2_000_000,
                    "fir_freq": 10,
                    "audiocodec": "opus",
                    "videocodec": "vp8",
                    "notify_joining": false,
                }),
                None,
            )
            .await?;
        let data = &created["plugindata"]["data"];
        if data["videoroom"] != "created" {
            bail!("room not created: {created}");
        }
        let mut spawned = Spawned::default();
        let mut feeds = Vec::new();
        // (endpoint id, its own feed when it is a publisher): subscribed once every
        // feed exists.
        let mut subscriptions: Vec<(u32, Option<Value>)> = Vec::new();
        let mut id = first_id;
        for _ in 0..room.publishers {
            id += 1;
            let mut endpoint = Endpoint::new(id, true, self.bind, self.layers, None).await?;
            let offer = endpoint.offer()?;
            let publisher = self.handle(&http).await?;
            let event = publisher
                .message(
                    json!({
                        "request": "joinandconfigure",
                        "room": room_id,
                        "ptype": "publisher",
                        "display": format!("gen-{id}"),
                        "audio": true,
                        "video": true,
                    }),
                    Some(json!({"type": "offer", "sdp": offer})),
                )
                .await?;
            let feed = event["plugindata"]["data"]["id"].clone();
            let answer = event["jsep"]["sdp"]
                .as_str()
                .with_context(|| format!("no answer for publisher {id}: {event}"))?;
            endpoint.accept(answer.to_owned())?;
            publisher.trickle_done().await?;
            feeds.push(feed.clone());
            spawned
                .endpoints
                .push(spawn_endpoint(endpoint, schedule.clone()));
            // A publisher also watches the others (defense rooms, meetings).
            if room.publishers_subscribe && room.publishers > 1 {
                subscriptions.push((id, Some(feed)));
            }
        }
        for _ in 0..room.listeners {
            id += 1;
            subscriptions.push((id, None));
        }
        // Subscriptions once every feed exists, so nobody renegotiates.
        for (sub_id, own) in subscriptions {
            let streams: Vec<Value> = feeds
                .iter()
                .filter(|f| Some(*f) != own.as_ref())
                .map(|f| json!({"feed": f}))
                .collect();
            let subscriber = self.handle(&http).await?;
            // A feed can be subscribed once its publisher's media is up: retry
            // (bounded) while Janus says it has no such feed yet.
            let mut attempt = 0;
            let event = loop {
                let joined = subscriber
                    .message(
                        json!({
                            "request": "join",
                            "room": room_id,
                            "ptype": "subscriber",
                            "streams": streams,
                        }),
                        None,
                    )
                    .await;
                match joined {
                    Err(e) if attempt < 100 && e.to_string().contains("No such feed") => {
                        attempt += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    other => break other?,
                }
            };
            let offer = event["jsep"]["sdp"]
                .as_str()
                .with_context(|| format!("no offer for subscriber {sub_id}: {event}"))?;
            let mut endpoint =
                Endpoint::new(sub_id + 10_000, false, self.bind, self.layers, None).await?;
            let answer = endpoint.answer(offer.to_owned())?;
            subscriber
                .message(
                    json!({"request": "start", "room": room_id}),
                    Some(json!({"type": "answer", "sdp": answer})),
                )
                .await?;
            subscriber.trickle_done().await?;
            spawned
                .endpoints
                .push(spawn_endpoint(endpoint, schedule.clone()));
        }
        Ok(spawned)
    }
}

fn spawn_endpoint(endpoint: Endpoint, schedule: Schedule) -> tokio::task::JoinHandle<Outcome> {
    // No renegotiation with Janus: the channels stay empty.
    let (_keep, remote) = mpsc::unbounded_channel();
    let (replies, _answers) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let _keep = _keep;
        let _answers = _answers;
        endpoint.run(schedule, remote, replies).await
    })
}

impl Handle {
    /// Sends a plugin message and returns its result: the synchronous answer, or for
    /// an asynchronous request the plugin's event (read from the session's long poll).
    async fn message(&self, body: Value, jsep: Option<Value>) -> Result<Value> {
        let mut msg = json!({"janus": "message", "body": body});
        if let Some(jsep) = jsep {
            msg["jsep"] = jsep;
        }
        let reply = post(&self.http, &self.handle_url(), msg).await?;
        match reply["janus"].as_str() {
            Some("success") => Ok(reply),
            Some("ack") => {
                self.event(reply["transaction"].as_str().unwrap_or_default())
                    .await
            }
            _ => bail!("janus: {reply}"),
        }
    }

    async fn trickle_done(&self) -> Result<()> {
        post(
            &self.http,
            &self.handle_url(),
            json!({"janus": "trickle", "candidate": {"completed": true}}),
        )
        .await?;
        Ok(())
    }

    fn handle_url(&self) -> String {
        format!("{}/{}", self.session, self.handle)
    }

    async fn event(&self, transaction: &str) -> Result<Value> {
        for _ in 0..20 {
            let events: Value = self
                .http
                .get(format!("{}?maxev=10", self.session))
                .timeout(Duration::from_secs(35))
                .send()
                .await?
                .json()
                .await?;
            let list = match events {
                Value::Array(list) => list,
                other => vec![other],
            };
            for e in list {
                if e["janus"] == "event" && e["transaction"] == transaction {
                    if let Some(error) = e["plugindata"]["data"].get("error") {
                        bail!("janus: {error}");
                    }
                    return Ok(e);
                }
            }
        }
        bail!("janus: no event for transaction {transaction}")
    }
}

async fn post(http: &reqwest::Client, url: &str, mut msg: Value) -> Result<Value> {
    msg["transaction"] = json!(format!("{:016x}", rand::random::<u64>()));
    let reply: Value = http
        .post(url)
        .json(&msg)
        .send()
        .await
        .with_context(|| format!("janus at {url}"))?
        .json()
        .await?;
    if reply["janus"] == "error" {
        bail!("janus: {}", reply["error"]);
    }
    Ok(reply)
}

fn id_of(reply: &Value) -> Result<String> {
    Ok(reply["data"]["id"]
        .as_u64()
        .with_context(|| format!("no id in {reply}"))?
        .to_string())
}
