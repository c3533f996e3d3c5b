//! A signaling-only test participant: joins over a real WebSocket, sends crafted
//! messages, and waits (bounded) for the server's replies. It never answers offers, so
//! it exercises the session protocol without media.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use viva::signaling::protocol::ClientMessage;

use crate::helpers::TestApp;

/// How long a test waits for an expected message.
pub const WAIT: Duration = Duration::from_secs(5);

pub struct WsClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Everything received so far, in order.
    pub seen: Vec<Value>,
    /// The `welcome` the server answered `join` with.
    pub welcome: Value,
}

impl WsClient {
    /// Connects and joins; returns once `welcome` arrived.
    pub async fn join(app: &TestApp, token: &str) -> Self {
        Self::join_url(&app.ws_url(token)).await
    }

    /// [`WsClient::join`] on a signaling URL (a server in another process).
    pub async fn join_url(url: &str) -> Self {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut client = Self {
            ws,
            seen: Vec::new(),
            welcome: Value::Null,
        };
        client.send(json!({"type": "join", "protocol": 1})).await;
        client.welcome = client.wait_type("welcome").await;
        client
    }

    /// Sends a message as the browser does: typed, serialized as on the wire.
    pub async fn say(&mut self, message: ClientMessage) {
        self.send(serde_json::to_value(message).unwrap()).await;
    }

    /// Sends raw JSON (for the wire-format and hostile-input tests).
    pub async fn send(&mut self, message: Value) {
        self.ws
            .send(Message::Text(message.to_string().into()))
            .await
            .unwrap();
    }

    /// Sends without failing when the server has closed the connection; returns
    /// whether it was sent.
    pub async fn try_send(&mut self, message: &Value) -> bool {
        self.ws
            .send(Message::Text(message.to_string().into()))
            .await
            .is_ok()
    }

    /// Reads until the server closes the connection (bounded by [`WAIT`]); returns
    /// the fatal error it sent before closing, if any.
    pub async fn closed_with(&mut self) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut fatal = None;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    if v["type"] == "error" && v["fatal"] == true {
                        fatal = Some(v.clone());
                    }
                    self.seen.push(v);
                }
                Ok(Some(Ok(Message::Close(_))) | Some(Err(_)) | None) => return fatal,
                Ok(Some(Ok(_))) => {}
                Err(_) => panic!("the server did not close the connection within {WAIT:?}"),
            }
        }
    }

    /// Returns the first message (already received or arriving within [`WAIT`]) that
    /// satisfies `pred`, and consumes it so that the next wait needs a new one. Panics
    /// listing what came instead.
    pub async fn wait_for(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.seen.iter().position(&pred) {
            return self.seen.remove(i);
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next()).await;
            match next {
                Ok(Some(Ok(Message::Text(t)))) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    if pred(&v) {
                        return v;
                    }
                    self.seen.push(v);
                }
                Ok(Some(Ok(_))) => {}
                _ => panic!(
                    "no {what}; received: {:?}",
                    self.seen
                        .iter()
                        .map(|m| m["type"].clone())
                        .collect::<Vec<_>>()
                ),
            }
        }
    }

    /// Waits for a message of this type that has not been consumed yet.
    pub async fn wait_type(&mut self, kind: &str) -> Value {
        self.wait_for(kind, |m| m["type"] == kind).await
    }

    /// Sends a command and waits for the error it must provoke; returns its code.
    pub async fn refused(&mut self, command: Value) -> String {
        self.send(command.clone()).await;
        let e = self.wait_type("error").await;
        assert_eq!(e["fatal"], false, "{command}: {e}");
        e["code"].as_str().unwrap().to_owned()
    }

    /// [`WsClient::refused`] for a typed message.
    pub async fn refuses(&mut self, message: ClientMessage) -> String {
        self.refused(serde_json::to_value(message).unwrap()).await
    }

    /// Reads whatever arrives within `quiet` (for asserting something did not come).
    pub async fn drain(&mut self, quiet: Duration) {
        while let Ok(Some(Ok(msg))) = tokio::time::timeout(quiet, self.ws.next()).await {
            if let Message::Text(t) = msg {
                self.seen.push(serde_json::from_str(&t).unwrap());
            }
        }
    }

    /// Whether any received message matches.
    pub fn saw(&self, pred: impl Fn(&Value) -> bool) -> bool {
        self.seen.iter().any(pred)
    }

    /// Whether any message of this type was received.
    pub fn has_seen(&self, kind: &str) -> bool {
        self.seen.iter().any(|m| m["type"] == kind)
    }
}
