//! How much video one subscriber's link carries: a ceiling on the simulcast layer its
//! video down-tracks forward, lowered when the link loses packets and raised again
//! once it has been clean for a while. Pure (time and counters passed in); the media
//! loop reads the counters every sample interval and hands a changed ceiling to the
//! forwarder ([`crate::forward::Forwarder::set_layer_ceiling`]).
//!
//! The signal is loss before repair on this link alone: the distinct originals the
//! subscriber NACKed, of those the SFU sent (a publisher's gaps are not counted; see
//! [`crate::feedback::NackLedger`]). Subscribers send no congestion feedback for
//! what the SFU sends them, so loss is what there is; it is also what makes video
//! freeze. A link that loses a tenth of its packets over an interval steps down one
//! layer at once; it steps up one layer after [`CLEAN_BEFORE_STEP_UP`] of intervals
//! under [`CLEAN_LOSS`], so a link that is only just coping is not pushed back over
//! the edge every few seconds. What the viewer prefers (its tile size) still applies
//! below the ceiling.

use std::time::{Duration, Instant};

use crate::forward::{Layer, TOP_LAYER};

/// Loss over an interval at which the link steps down a layer.
pub const STEP_DOWN_LOSS: f64 = 0.10;
/// Loss under which an interval counts as clean.
pub const CLEAN_LOSS: f64 = 0.02;
/// How long a link stays clean before it steps up a layer.
pub const CLEAN_BEFORE_STEP_UP: Duration = Duration::from_secs(10);
/// Fewer video packets than this in an interval say nothing either way (nothing
/// watched, or video paused); the ceiling holds.
pub const MIN_PACKETS: u64 = 50;

/// Cumulative video counters of one subscriber's link, over all its down-tracks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkTotals {
    /// Original video packets the SFU sent on the link.
    pub sent: u64,
    /// Of those, how many the subscriber reported missing (NACKed).
    pub lost: u64,
}

/// One subscriber's layer ceiling.
#[derive(Debug, Clone)]
pub struct LinkGovernor {
    ceiling: Layer,
    previous: Option<LinkTotals>,
    clean_since: Option<Instant>,
}

impl Default for LinkGovernor {
    fn default() -> Self {
        Self::new()
    }
}

impl LinkGovernor {
    /// A link nothing is known about yet: no ceiling below the top layer.
    pub fn new() -> Self {
        Self {
            ceiling: TOP_LAYER,
            previous: None,
            clean_since: None,
        }
    }

    /// The highest layer the link carries now.
    pub fn ceiling(&self) -> Layer {
        self.ceiling
    }

    /// Takes the link's cumulative counters read at `now` (once per interval);
    /// returns the new ceiling if it changed.
    pub fn observe(&mut self, now: Instant, totals: LinkTotals) -> Option<Layer> {
        let previous = self.previous.replace(totals)?;
        let sent = totals.sent.saturating_sub(previous.sent);
        if sent < MIN_PACKETS {
            return None;
        }
        let lost = totals.lost.saturating_sub(previous.lost).min(sent);
        let loss = lost as f64 / sent as f64;
        if loss >= STEP_DOWN_LOSS {
            self.clean_since = None;
            return self.step(-1);
        }
        if loss >= CLEAN_LOSS {
            self.clean_since = None;
            return None;
        }
        let clean_since = *self.clean_since.get_or_insert(now);
        if now.saturating_duration_since(clean_since) < CLEAN_BEFORE_STEP_UP {
            return None;
        }
        // The next step up waits for another clean stretch.
        self.clean_since = Some(now);
        self.step(1)
    }

    fn step(&mut self, by: i8) -> Option<Layer> {
        let next = self.ceiling.checked_add_signed(by)?.min(TOP_LAYER);
        (next != self.ceiling).then(|| {
            self.ceiling = next;
            next
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL: Duration = Duration::from_secs(2);

    /// Feeds intervals of `sent` packets with `lost` of them lost; returns the
    /// ceiling after each.
    fn run(
        g: &mut LinkGovernor,
        now: &mut Instant,
        totals: &mut LinkTotals,
        intervals: &[(u64, u64)],
    ) -> Vec<Layer> {
        intervals
            .iter()
            .map(|(sent, lost)| {
                *now += INTERVAL;
                totals.sent += sent;
                totals.lost += lost;
                g.observe(*now, *totals);
                g.ceiling()
            })
            .collect()
    }

    #[test]
    fn a_lossy_link_steps_down_a_layer_per_interval_to_the_lowest() {
        let (mut g, mut now, mut totals) =
            (LinkGovernor::new(), Instant::now(), LinkTotals::default());
        g.observe(now, totals);
        let ceilings = run(
            &mut g,
            &mut now,
            &mut totals,
            &[(500, 0), (500, 60), (400, 50), (300, 40), (200, 30)],
        );
        assert_eq!(ceilings, vec![2, 1, 0, 0, 0]);
    }

    #[test]
    fn a_link_steps_up_one_layer_per_clean_stretch() {
        let (mut g, mut now, mut totals) =
            (LinkGovernor::new(), Instant::now(), LinkTotals::default());
        g.observe(now, totals);
        run(&mut g, &mut now, &mut totals, &[(500, 100), (500, 100)]);
        assert_eq!(g.ceiling(), 0);
        // Clean from the first interval after the loss: ten seconds later, one up;
        // another ten, the top.
        let clean = [(300, 1); 12];
        let ceilings = run(&mut g, &mut now, &mut totals, &clean);
        assert_eq!(ceilings, vec![0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2]);
    }

    #[test]
    fn moderate_loss_holds_the_ceiling_and_restarts_the_clean_stretch() {
        let (mut g, mut now, mut totals) =
            (LinkGovernor::new(), Instant::now(), LinkTotals::default());
        g.observe(now, totals);
        run(&mut g, &mut now, &mut totals, &[(500, 100)]);
        assert_eq!(g.ceiling(), 1);
        // 5% now and then: never clean for ten seconds in a row, never 10%.
        let mixed = [(300, 0), (300, 0), (300, 0), (300, 0), (300, 15)].repeat(3);
        let ceilings = run(&mut g, &mut now, &mut totals, &mixed);
        assert!(ceilings.iter().all(|c| *c == 1), "{ceilings:?}");
    }

    #[test]
    fn too_few_packets_say_nothing() {
        let (mut g, mut now, mut totals) =
            (LinkGovernor::new(), Instant::now(), LinkTotals::default());
        assert_eq!(
            g.observe(now, totals),
            None,
            "the first reading is the baseline"
        );
        // Half of 40 packets lost: too few to judge.
        assert_eq!(run(&mut g, &mut now, &mut totals, &[(40, 20)]), vec![2]);
        // Nothing sent for a minute: the ceiling neither falls nor rises.
        run(&mut g, &mut now, &mut totals, &[(500, 100)]);
        assert_eq!(
            run(&mut g, &mut now, &mut totals, &[(0, 0); 30]),
            vec![1; 30]
        );
    }

    #[test]
    fn counters_that_go_backwards_are_not_read_as_loss() {
        let (mut g, mut now) = (LinkGovernor::new(), Instant::now());
        g.observe(
            now,
            LinkTotals {
                sent: 1000,
                lost: 100,
            },
        );
        now += INTERVAL;
        // A down-track went away and its counters with it.
        assert_eq!(
            g.observe(
                now,
                LinkTotals {
                    sent: 200,
                    lost: 10
                }
            ),
            None
        );
        assert_eq!(g.ceiling(), TOP_LAYER);
    }
}
