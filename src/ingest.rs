//! Live WHIP feeds (`http::whip` is their HTTP edge): the registry of feeds per
//! session with its cap, and what a WHIP body must be before it reaches the media
//! thread.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;
use uuid::Uuid;

/// Why a WHIP body is not an offer the media thread takes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadOffer(pub String);

/// Largest SDP offer taken. An encoder's offer with three simulcast layers, audio and
/// every codec Chromium lists is about 6 KB; anything near this is not an encoder.
pub const MAX_OFFER_BYTES: usize = 32 * 1024;
/// Most lines in an offer (same reasoning: real offers have about 100).
const MAX_OFFER_LINES: usize = 1000;
/// Live feeds per session at once: the trainer's studio and one spare (an encoder
/// reconnecting before its old feed timed out).
pub const MAX_FEEDS_PER_SESSION: usize = 2;

/// What a WHIP body must be before it goes to the media thread: an SDP offer of
/// bounded size and line count, in UTF-8.
pub fn parse_offer(body: &[u8]) -> Result<String, BadOffer> {
    if body.len() > MAX_OFFER_BYTES {
        return Err(BadOffer(format!(
            "an SDP offer has at most {MAX_OFFER_BYTES} bytes"
        )));
    }
    if body.iter().filter(|b| **b == b'\n').count() > MAX_OFFER_LINES {
        return Err(BadOffer(format!(
            "an SDP offer has at most {MAX_OFFER_LINES} lines"
        )));
    }
    std::str::from_utf8(body)
        .ok()
        .filter(|sdp| sdp.starts_with("v=0"))
        .map(str::to_owned)
        .ok_or_else(|| BadOffer("the body is not an SDP offer".into()))
}

/// A feed's entry: its session, and what stops it once it is live (`None` while its
/// offer is being answered: the place is taken, so the per-session cap holds even
/// for offers arriving at once).
type Feed = (Uuid, Option<oneshot::Sender<()>>);

/// Live WHIP feeds: resource → feed.
#[derive(Debug, Default)]
pub struct Ingests {
    live: Mutex<HashMap<Uuid, Feed>>,
}

impl Ingests {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Feed>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many feeds are live.
    pub fn count(&self) -> usize {
        self.lock().len()
    }

    /// How many feeds of one session are live (or being answered).
    pub fn count_of(&self, session: Uuid) -> usize {
        self.lock().values().filter(|(s, _)| *s == session).count()
    }

    /// Takes one of the session's [`MAX_FEEDS_PER_SESSION`] places for a new feed, or
    /// `None` when they are all taken. The place is given back when the returned
    /// reservation is dropped without [`Reservation::go_live`].
    pub fn reserve(self: &Arc<Self>, session: Uuid) -> Option<Reservation> {
        let mut live = self.lock();
        if live.values().filter(|(s, _)| *s == session).count() >= MAX_FEEDS_PER_SESSION {
            return None;
        }
        let resource = Uuid::new_v4();
        live.insert(resource, (session, None));
        Some(Reservation {
            ingests: self.clone(),
            resource,
            live: false,
        })
    }

    /// A feed ended by itself (its connection closed): its place is free.
    pub fn ended(&self, resource: Uuid) {
        self.lock().remove(&resource);
    }

    /// Ends every live feed of a session (it was cancelled).
    pub fn end_all_of(&self, session: Uuid) {
        let resources: Vec<Uuid> = self
            .lock()
            .iter()
            .filter(|(_, (s, _))| *s == session)
            .map(|(r, _)| *r)
            .collect();
        for resource in resources {
            self.end(session, resource);
        }
    }

    /// Ends one feed; returns whether it existed in `session`.
    pub fn end(&self, session: Uuid, resource: Uuid) -> bool {
        let mut live = self.lock();
        match live.get(&resource) {
            Some((owner, _)) if *owner == session => {
                if let Some((_, Some(stop))) = live.remove(&resource) {
                    let _ = stop.send(());
                }
                true
            }
            _ => false,
        }
    }
}

/// A feed's place, held while its offer is answered.
#[derive(Debug)]
pub struct Reservation {
    ingests: Arc<Ingests>,
    resource: Uuid,
    live: bool,
}

impl Reservation {
    /// The feed is live: `stop` ends it.
    pub fn go_live(mut self, stop: oneshot::Sender<()>) -> Uuid {
        if let Some(feed) = self.ingests.lock().get_mut(&self.resource) {
            feed.1 = Some(stop);
        }
        self.live = true;
        self.resource
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.live {
            self.ingests.lock().remove(&self.resource);
        }
    }
}
