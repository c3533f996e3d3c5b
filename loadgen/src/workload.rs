//! The shapes of load the issue asks for, as rooms of publishers and listeners, and
//! one run of a shape against one SFU: start every room, wait (bounded) until every
//! endpoint is connected, let it settle, count for the measuring window while reading
//! the SFU process's CPU and memory, stop, and add everything up.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde::Serialize;

use crate::endpoint::{self, Clock, Outcome};
use crate::histogram::Histogram;
use crate::procfs;

/// One room: `publishers` send audio and video (and, when `publishers_subscribe`,
/// receive everyone else's); `listeners` only receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Room {
    /// Endpoints that publish.
    pub publishers: usize,
    /// Endpoints that only receive.
    pub listeners: usize,
    /// Whether publishers receive the other publishers.
    pub publishers_subscribe: bool,
}

impl Room {
    /// Tracks subscribed in this room (two per publisher per receiver).
    pub fn subscribed_tracks(&self) -> usize {
        let others = if self.publishers_subscribe {
            self.publishers * self.publishers.saturating_sub(1)
        } else {
            0
        };
        2 * (others + self.listeners * self.publishers)
    }
}

/// A named workload at one size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "workload")]
pub enum Workload {
    /// `rooms` defense rooms: an applicant and 7 experts publishing, 2 observers.
    Defense {
        /// Rooms side by side.
        rooms: usize,
    },
    /// One trainer to `trainees` trainees.
    Broadcast {
        /// Receivers.
        trainees: usize,
    },
    /// `publishers` people each publishing and receiving everyone else.
    Meeting {
        /// Publishers (each also a subscriber).
        publishers: usize,
    },
}

impl Workload {
    /// Parses `defense`, `broadcast` or `meeting` with its size.
    pub fn parse(name: &str, size: usize) -> Result<Self> {
        Ok(match name {
            "defense" => Self::Defense { rooms: size },
            "broadcast" => Self::Broadcast { trainees: size },
            "meeting" => Self::Meeting { publishers: size },
            other => bail!("unknown workload {other:?} (defense, broadcast, meeting)"),
        })
    }

    /// The rooms it consists of.
    pub fn rooms(&self) -> Vec<Room> {
        match *self {
            Self::Defense { rooms } => vec![
                Room {
                    publishers: 8,
                    listeners: 2,
                    publishers_subscribe: true,
                };
                rooms
            ],
            Self::Broadcast { trainees } => vec![Room {
                publishers: 1,
                listeners: trainees,
                publishers_subscribe: false,
            }],
            Self::Meeting { publishers } => vec![Room {
                publishers,
                listeners: 0,
                publishers_subscribe: true,
            }],
        }
    }
}

/// What one room's driver started.
#[derive(Debug, Default)]
pub struct Spawned {
    /// Media endpoints.
    pub endpoints: Vec<tokio::task::JoinHandle<Outcome>>,
    /// Signaling-only helpers (Viva's silent host).
    pub helpers: Vec<tokio::task::JoinHandle<()>>,
}

/// The SFU under test.
#[derive(Debug, Clone)]
pub enum Target {
    /// Viva.
    Viva(crate::viva::Viva),
    /// Janus.
    Janus(crate::janus::Janus),
}

impl Target {
    fn name(&self) -> &'static str {
        match self {
            Self::Viva(v) if v.tcp.is_some() => "viva-tcp",
            Self::Viva(_) => "viva",
            Self::Janus(_) => "janus",
        }
    }
}

/// How long to settle and count.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Longest wait for every endpoint to connect.
    pub connect_within: Duration,
    /// Settling time after the last connection (keyframes, bitrate).
    pub warmup: Duration,
    /// The measuring window.
    pub window: Duration,
}

/// The figures of one run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    /// `viva` or `janus`.
    pub target: &'static str,
    /// The workload and its size.
    #[serde(flatten)]
    pub workload: Workload,
    /// Media endpoints started.
    pub endpoints: usize,
    /// Of those, connected by the start of the window.
    pub connected: usize,
    /// Tracks subscribed in total.
    pub subscribed_tracks: usize,
    /// Of those, tracks that delivered packets in the window (a shortfall means some
    /// receiver missed some publisher: the other figures are then not comparable).
    pub received_tracks: usize,
    /// Measuring window, seconds.
    pub seconds: f64,
    /// Packets the publishers sent per second.
    pub ingress_pps: f64,
    /// Packets the subscribers received per second (the SFU's egress that arrived).
    pub egress_pps: f64,
    /// Sequence numbers never received, % of expected (after NACK repair).
    pub loss_percent: f64,
    /// First arrivals whose latency was measured.
    pub latency_samples: u64,
    /// One-way latency publisher → SFU → subscriber, milliseconds.
    pub latency_p50_ms: Option<f64>,
    /// 99th percentile.
    pub latency_p99_ms: Option<f64>,
    /// 99.9th percentile.
    pub latency_p999_ms: Option<f64>,
    /// Viva only (with `--viva-metrics`): the SFU's own forwarding delay, from a
    /// packet's arrival in its socket to its forwards leaving; the upper bound of the
    /// bucket holding the median, milliseconds.
    pub sfu_delay_p50_ms: Option<f64>,
    /// The same at the 99th percentile.
    pub sfu_delay_p99_ms: Option<f64>,
    /// SFU CPU in the window, cores (1.0 = one core busy).
    pub sfu_cores: f64,
    /// Egress packets per second per busy SFU core.
    pub egress_pps_per_core: f64,
    /// SFU resident memory before the rooms were started, MB.
    pub sfu_rss_idle_mb: f64,
    /// SFU resident memory at the end of the window, MB.
    pub sfu_rss_mb: f64,
    /// Memory growth per subscribed track, KB.
    pub rss_per_track_kb: f64,
    /// The generator's own CPU in the window, cores (saturated near 1.0: its figures
    /// then describe the generator, not the SFU).
    pub generator_cores: f64,
}

/// Runs one workload against one SFU whose process is `sfu_pid`.
pub async fn run(
    target: &Target,
    workload: Workload,
    sfu_pid: u32,
    timing: Timing,
) -> Result<RunReport> {
    let hz = procfs::ticks_per_second();
    let me = std::process::id();
    if let Target::Viva(v) = target {
        v.warm_up().await?;
    }
    let idle = procfs::usage(sfu_pid, hz)?;
    let clock = Clock(Instant::now());
    let (schedule, control) = endpoint::schedule(clock);
    let rooms = workload.rooms();
    let mut spawned = Vec::new();
    let mut next_id = 0u32;
    for (index, room) in rooms.iter().enumerate() {
        let s = match target {
            Target::Viva(v) => v.spawn_room(room, index, next_id, schedule.clone()).await?,
            Target::Janus(j) => j.spawn_room(room, index, next_id, schedule.clone()).await?,
        };
        next_id += 100_000;
        spawned.push(s);
    }
    let endpoints: usize = spawned.iter().map(|s| s.endpoints.len()).sum();
    let deadline = Instant::now() + timing.connect_within;
    while control.connected() < endpoints && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let connected = control.connected();
    tokio::time::sleep(timing.warmup).await;
    let from = Instant::now();
    let until = from + timing.window;
    control.measure(from, until);
    let delay_before = match target {
        Target::Viva(v) => v.forward_delay().await?,
        Target::Janus(_) => None,
    };
    let sfu_before = procfs::usage(sfu_pid, hz)?;
    let gen_before = procfs::usage(me, hz)?;
    tokio::time::sleep_until(tokio::time::Instant::from_std(until)).await;
    let sfu_after = procfs::usage(sfu_pid, hz)?;
    let gen_after = procfs::usage(me, hz)?;
    let delay_after = match target {
        Target::Viva(v) => v.forward_delay().await?,
        Target::Janus(_) => None,
    };
    let sfu_delay_ms = |q| {
        delay_before
            .as_ref()
            .zip(delay_after.as_ref())
            .and_then(|(b, a)| crate::viva::delay_quantile_ms(b, a, q))
    };
    let elapsed = from
        .elapsed()
        .as_secs_f64()
        .max(timing.window.as_secs_f64());
    control.stop();
    let mut latency = Histogram::new();
    let (mut packets, mut published, mut expected, mut lost) = (0u64, 0u64, 0u64, 0u64);
    let mut received_tracks = 0;
    for s in spawned {
        for h in s.helpers {
            let _ = h.await;
        }
        for e in s.endpoints {
            let o = e.await?;
            if std::env::var_os("LOADGEN_DEBUG").is_some() {
                eprintln!(
                    "endpoint: {} streams, {} packets, {} published",
                    o.streams, o.packets, o.published
                );
            }
            received_tracks += o.streams;
            packets += o.packets;
            published += o.published;
            expected += o.expected;
            lost += o.lost;
            latency.merge(&o.latency);
        }
    }
    let seconds = timing.window.as_secs_f64();
    let sfu_cores = (sfu_after.cpu_seconds - sfu_before.cpu_seconds) / elapsed;
    let egress_pps = packets as f64 / seconds;
    let subscribed_tracks: usize = rooms.iter().map(Room::subscribed_tracks).sum();
    let ms = |q| latency.quantile(q).map(|us| us as f64 / 1000.0);
    let mb = |b: u64| b as f64 / 1_048_576.0;
    Ok(RunReport {
        target: target.name(),
        workload,
        endpoints,
        connected,
        subscribed_tracks,
        received_tracks,
        seconds,
        ingress_pps: published as f64 / seconds,
        egress_pps,
        loss_percent: if expected == 0 {
            0.0
        } else {
            100.0 * lost as f64 / expected as f64
        },
        latency_samples: latency.count(),
        latency_p50_ms: ms(0.5),
        latency_p99_ms: ms(0.99),
        latency_p999_ms: ms(0.999),
        sfu_delay_p50_ms: sfu_delay_ms(0.5),
        sfu_delay_p99_ms: sfu_delay_ms(0.99),
        sfu_cores,
        egress_pps_per_core: if sfu_cores > 0.0 {
            egress_pps / sfu_cores
        } else {
            0.0
        },
        sfu_rss_idle_mb: mb(idle.rss_bytes),
        sfu_rss_mb: mb(sfu_after.rss_bytes),
        rss_per_track_kb: sfu_after.rss_bytes.saturating_sub(idle.rss_bytes) as f64
            / 1024.0
            / subscribed_tracks.max(1) as f64,
        generator_cores: (gen_after.cpu_seconds - gen_before.cpu_seconds) / elapsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_have_the_shapes_of_the_issue() {
        let d = Workload::parse("defense", 3).unwrap().rooms();
        assert_eq!(d.len(), 3);
        // 8 publishers each see 7 others, 2 observers see 8: (56 + 16) × 2 tracks.
        assert_eq!(d[0].subscribed_tracks(), 144);
        let b = Workload::parse("broadcast", 200).unwrap().rooms();
        assert_eq!(b[0].subscribed_tracks(), 400);
        let m = Workload::parse("meeting", 25).unwrap().rooms();
        assert_eq!(m[0].subscribed_tracks(), 2 * 25 * 24);
        assert!(Workload::parse("party", 1).is_err());
    }
}
