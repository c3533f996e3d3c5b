//! Recording benchmark: what recording costs per track, and how fast post-production
//! runs. Prints figures; asserts nothing (timing goals are reported, never tested).
//!
//! `cargo bench -p media --bench recording` (add `-- --quick` for a short run).
//!
//! 1. Recorder CPU per track: real VP8 (640×360, 30 fps, ≈1 Mbit/s) and Opus RTP,
//!    encoded once up front, are offered to the recorder for N tracks; the process's
//!    CPU time is compared with an identical run that offers the same packets to a
//!    recorder-less loop (the baseline). Runs alternate A-B-B-A; medians are printed.
//!    Packets are offered at 4× real time (the recorder's pipelines have no clock, so
//!    this measures the same work per packet in a quarter of the time).
//! 2. Post-production of a 10-minute 720p session (camera 1280×720 30 fps, a static
//!    screen share, two microphones, in 5-minute parts): wall time and speed as a
//!    multiple of real time.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use media::ids::UpTrackId;
use media::production::{Chapter, InputPart, ProductionRequest, produce};
use media::recorder::{Captured, Codec, Recorder, RecorderConfig, RtpPacket, TrackInfo};

fn cpu_seconds() -> f64 {
    // utime + stime of the whole process, in clock ticks (100 per second on Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn rtp(description: &str) -> Vec<(Duration, Vec<u8>)> {
    let pipeline = gst::parse::launch(description)
        .expect("pipeline")
        .downcast::<gst::Pipeline>()
        .expect("a pipeline");
    let sink = pipeline
        .by_name("out")
        .expect("appsink")
        .downcast::<gst_app::AppSink>()
        .expect("appsink");
    pipeline.set_state(gst::State::Playing).expect("play");
    let mut packets = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        let buffer = sample.buffer().expect("buffer");
        let pts = buffer.pts().map_or(0, |t| t.nseconds());
        let map = buffer.map_readable().expect("readable");
        packets.push((Duration::from_nanos(pts), map.to_vec()));
    }
    pipeline.set_state(gst::State::Null).expect("stop");
    packets
}

struct Stream {
    codec: Codec,
    packets: Vec<(Duration, RtpPacket, bool)>,
}

fn stream(codec: Codec, seconds: u32) -> Stream {
    let description = match codec {
        Codec::Vp8 => format!(
            "videotestsrc num-buffers={} pattern=ball ! video/x-raw,width=640,height=360,framerate=30/1 ! \
             vp8enc deadline=1 cpu-used=8 target-bitrate=1000000 keyframe-max-dist=90 ! \
             rtpvp8pay pt=96 mtu=1200 ! appsink name=out sync=false",
            seconds * 30
        ),
        _ => format!(
            "audiotestsrc num-buffers={} samplesperbuffer=960 ! audio/x-raw,rate=48000,channels=2 ! \
             opusenc frame-size=20 ! rtpopuspay pt=111 ! appsink name=out sync=false",
            seconds * 50
        ),
    };
    let packets = rtp(&description)
        .into_iter()
        .filter_map(|(at, d)| {
            let p = RtpPacket::parse(&d)?;
            let key = codec == Codec::Vp8 && media::codec::is_vp8_keyframe_start(&p.payload);
            Some((at, p, key))
        })
        .collect();
    Stream { codec, packets }
}

/// Offers every stream's packets `tracks` times (each copy its own track); with
/// `record` false the same loop runs without a recorder. Returns CPU seconds.
fn offer(streams: &[Stream], tracks: usize, record: bool, dir: &Path) -> f64 {
    let recorder = record.then(|| {
        Recorder::start(RecorderConfig::new(dir), Box::new(|_| {}), Box::new(|_| {}))
            .expect("recorder")
    });
    let tap = recorder.as_ref().map(Recorder::tap);
    let infos: Vec<Vec<Arc<TrackInfo>>> = streams
        .iter()
        .map(|s| {
            (0..tracks)
                .map(|i| {
                    Arc::new(TrackInfo {
                        up_track: UpTrackId((i * 10 + s.codec as usize) as u64),
                        label: format!("p{i}"),
                        source: if s.codec.is_video() {
                            "camera"
                        } else {
                            "microphone"
                        }
                        .into(),
                        codec: s.codec,
                        payload_type: if s.codec.is_video() { 96 } else { 111 },
                    })
                })
                .collect()
        })
        .collect();
    let t0 = Instant::now();
    let before = cpu_seconds();
    let mut sink = 0usize;
    // Every stream's packets in capture order, offered at SPEEDUP × real time: fast
    // enough to be quick, paced so that the queue never overflows.
    let mut all: Vec<(&Duration, &RtpPacket, &bool, &Vec<Arc<TrackInfo>>)> = streams
        .iter()
        .zip(&infos)
        .flat_map(|(stream, infos)| stream.packets.iter().map(move |(a, p, k)| (a, p, k, infos)))
        .collect();
    all.sort_by_key(|(at, ..)| **at);
    {
        for (at, packet, key, infos) in all {
            if let Some(wait) = (t0 + *at / SPEEDUP).checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            for info in infos {
                let captured = Captured {
                    track: info.clone(),
                    packet: packet.clone(),
                    arrival: t0 + *at,
                    keyframe_start: *key,
                };
                match &tap {
                    Some(tap) => tap.offer(captured),
                    None => sink += std::hint::black_box(captured).packet.payload.len(),
                }
            }
        }
    }
    if let Some(recorder) = recorder {
        let dropped = recorder.dropped();
        recorder.stop();
        assert_eq!(dropped, 0, "the benchmark overran the recorder's queue");
    }
    std::hint::black_box(sink);
    cpu_seconds() - before
}

/// How much faster than real time packets are offered.
const SPEEDUP: u32 = 4;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn recorder_cost(quick: bool) {
    let seconds = if quick { 10 } else { 30 };
    let tracks = 4;
    eprintln!("encoding {seconds} s of VP8 640×360 and Opus once…");
    let streams = [stream(Codec::Vp8, seconds), stream(Codec::Opus, seconds)];
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut with, mut without) = (Vec::new(), Vec::new());
    // A-B-B-A, twice.
    for (i, record) in [true, false, false, true, true, false, false, true]
        .iter()
        .enumerate()
    {
        let cpu = offer(&streams, tracks, *record, &dir.path().join(i.to_string()));
        if *record {
            with.push(cpu)
        } else {
            without.push(cpu)
        }
    }
    let (with, without) = (median(with), median(without));
    let media_seconds = f64::from(seconds) * (tracks * streams.len()) as f64;
    let per_track = (with - without) / media_seconds;
    println!(
        "## Recorder CPU per track ({tracks} × VP8 640×360 ≈1 Mbit/s + {tracks} × Opus, {seconds} s each, A-B-B-A ×2)"
    );
    println!("| run | CPU s (median) |");
    println!("|---|---|");
    println!("| offering packets, no recorder | {without:.3} |");
    println!("| offering packets, recording | {with:.3} |");
    println!(
        "| **recording cost per track** | **{:.2}% of a core** ({:.4} CPU s per media s) |",
        per_track * 100.0,
        per_track
    );
}

fn part(path: &Path, description: &str) {
    let pipeline = gst::parse::launch(description)
        .expect("pipeline")
        .downcast::<gst::Pipeline>()
        .expect("a pipeline");
    pipeline
        .by_name("out")
        .expect("sink")
        .set_property("location", path.to_string_lossy().as_ref());
    pipeline.set_state(gst::State::Playing).expect("play");
    let bus = pipeline.bus().expect("bus");
    let message = bus.timed_pop_filtered(
        gst::ClockTime::from_seconds(3600),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    pipeline.set_state(gst::State::Null).expect("stop");
    assert!(matches!(
        message.as_ref().map(|m| m.view()),
        Some(gst::MessageView::Eos(_))
    ));
}

/// Parts of a recorded session, cached under `target/` (encoding them takes minutes).
fn session_parts(minutes: u32) -> Vec<InputPart> {
    let cache = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/bench-cache")
        .join(format!("session-{minutes}min"));
    std::fs::create_dir_all(&cache).expect("cache dir");
    let part_seconds = 300.min(minutes * 60);
    let parts_per_track = (minutes * 60).div_ceil(part_seconds);
    let tracks: [(&str, &str, String); 4] = [
        (
            "applicant",
            "camera",
            format!(
                "videotestsrc pattern=ball num-buffers={} ! video/x-raw,width=1280,height=720,framerate=30/1 ! \
             vp8enc deadline=1 cpu-used=16 target-bitrate=1500000 keyframe-max-dist=90 threads=2 ! matroskamux ! filesink name=out",
                part_seconds * 30
            ),
        ),
        (
            "applicant",
            "screen",
            format!(
                "videotestsrc pattern=smpte num-buffers={} ! video/x-raw,width=1280,height=720,framerate=5/1 ! \
             vp8enc deadline=1 cpu-used=16 target-bitrate=300000 keyframe-max-dist=50 ! matroskamux ! filesink name=out",
                part_seconds * 5
            ),
        ),
        (
            "applicant",
            "microphone",
            format!(
                "audiotestsrc num-buffers={} samplesperbuffer=960 ! audio/x-raw,rate=48000,channels=2 ! opusenc ! matroskamux ! filesink name=out",
                part_seconds * 50
            ),
        ),
        (
            "expert",
            "microphone",
            format!(
                "audiotestsrc wave=pink-noise volume=0.2 num-buffers={} samplesperbuffer=960 ! audio/x-raw,rate=48000,channels=2 ! opusenc ! matroskamux ! filesink name=out",
                part_seconds * 50
            ),
        ),
    ];
    let mut parts = Vec::new();
    for (participant, source, description) in &tracks {
        let path = cache.join(format!("{participant}-{source}.mkv"));
        if !path.exists() {
            eprintln!(
                "encoding {} ({part_seconds} s, cached for later runs)…",
                path.display()
            );
            part(&path, description);
        }
        // Every part of a track is the same file, placed at successive offsets.
        for i in 0..parts_per_track {
            parts.push(InputPart {
                path: path.clone(),
                participant: (*participant).into(),
                source: (*source).into(),
                offset: Duration::from_secs(u64::from(i * part_seconds)),
            });
        }
    }
    parts
}

fn production_speed(quick: bool) {
    let minutes = if quick { 1 } else { 10 };
    let parts = session_parts(minutes);
    let out = tempfile::tempdir().expect("tempdir");
    let duration = Duration::from_secs(u64::from(minutes) * 60);
    let request = ProductionRequest {
        parts,
        duration,
        chapters: vec![Chapter {
            start: Duration::ZERO,
            title: "陈述".into(),
        }],
        out_dir: out.path().to_owned(),
    };
    let cpu = cpu_seconds();
    let started = Instant::now();
    let produced = produce(&request, &|_| {}).expect("produced");
    let wall = started.elapsed();
    let cpu = cpu_seconds() - cpu;
    println!();
    println!(
        "## Post-production of a {minutes}-minute 720p session (camera 720p30, screen 720p5, 2 microphones, 5-minute parts)"
    );
    println!("| figure | value |");
    println!("|---|---|");
    println!("| wall time | {:.1} s |", wall.as_secs_f64());
    println!(
        "| speed | **{:.2}× real time** |",
        duration.as_secs_f64() / wall.as_secs_f64()
    );
    println!(
        "| CPU | {cpu:.1} s ({:.2} cores busy) |",
        cpu / wall.as_secs_f64()
    );
    println!(
        "| MP4 | {:.1} MB, {:.1} s |",
        produced.bytes as f64 / 1e6,
        produced.duration_ms as f64 / 1000.0
    );
}

fn main() {
    gst::init().expect("gstreamer");
    let quick = std::env::args().any(|a| a == "--quick");
    println!(
        "machine: {} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        gst::version_string()
    );
    recorder_cost(quick);
    production_speed(quick);
}
