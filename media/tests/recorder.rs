//! The recorder on real GStreamer: synthetic RTP from real encoders and payloaders goes
//! through it, and the parts are checked with the Discoverer and by decoding them.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_pbutils as pbutils;
use gstreamer_pbutils::prelude::DiscovererStreamInfoExt;
use media::codec::is_vp8_keyframe_start;
use media::ids::UpTrackId;
use media::recorder::{
    Captured, Codec, Recorder, RecorderConfig, RecorderEvent, RtpPacket, TrackInfo,
};

/// Encodes `seconds` of a test source and payloads it: (capture time, RTP datagram).
fn synthetic_rtp(codec: Codec, seconds: u32) -> Vec<(Duration, Vec<u8>)> {
    gst::init().expect("gstreamer");
    let description = match codec {
        Codec::Opus => format!(
            "audiotestsrc num-buffers={} samplesperbuffer=960 ! audio/x-raw,rate=48000,channels=2 ! \
             opusenc frame-size=20 ! rtpopuspay pt=111 ! appsink name=out sync=false",
            seconds * 50
        ),
        Codec::Vp8 => format!(
            "videotestsrc num-buffers={} ! video/x-raw,width=320,height=240,framerate=30/1 ! \
             vp8enc deadline=1 keyframe-max-dist=60 ! rtpvp8pay pt=96 mtu=1200 ! \
             appsink name=out sync=false",
            seconds * 30
        ),
        Codec::H264 => format!(
            "videotestsrc num-buffers={} ! video/x-raw,width=320,height=240,framerate=30/1 ! \
             x264enc tune=zerolatency key-int-max=60 ! rtph264pay pt=102 config-interval=-1 ! \
             appsink name=out sync=false",
            seconds * 30
        ),
        Codec::Vp9 => unreachable!("not used"),
    };
    let pipeline = gst::parse::launch(&description)
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
        let pts = buffer.pts().map(|t| t.nseconds()).unwrap_or(0);
        let map = buffer.map_readable().expect("readable");
        packets.push((Duration::from_nanos(pts), map.to_vec()));
    }
    pipeline.set_state(gst::State::Null).expect("stop");
    assert!(!packets.is_empty(), "the encoder produced packets");
    packets
}

fn track(id: u64, source: &str, codec: Codec, payload_type: u8) -> Arc<TrackInfo> {
    Arc::new(TrackInfo {
        up_track: UpTrackId(id),
        label: "p-1".into(),
        source: source.into(),
        codec,
        payload_type,
    })
}

fn captured(track: &Arc<TrackInfo>, datagram: &[u8], arrival: Instant) -> Captured {
    let packet = RtpPacket::parse(datagram).expect("valid RTP");
    let keyframe_start = track.codec == Codec::Vp8 && is_vp8_keyframe_start(&packet.payload);
    Captured {
        track: track.clone(),
        packet,
        arrival,
        keyframe_start,
    }
}

type Events = Arc<Mutex<Vec<RecorderEvent>>>;

fn start(config: RecorderConfig) -> (Recorder, Events, Arc<Mutex<Vec<UpTrackId>>>) {
    let events: Events = Arc::default();
    let keyframes: Arc<Mutex<Vec<UpTrackId>>> = Arc::default();
    let (e, k) = (events.clone(), keyframes.clone());
    let recorder = Recorder::start(
        config,
        Box::new(move |event| e.lock().expect("lock").push(event)),
        Box::new(move |id| k.lock().expect("lock").push(id)),
    )
    .expect("recorder starts");
    (recorder, events, keyframes)
}

struct Discovered {
    duration: Duration,
    caps: Vec<String>,
}

fn discover(path: &Path) -> Discovered {
    let discoverer =
        pbutils::Discoverer::new(gst::ClockTime::from_seconds(10)).expect("discoverer");
    let uri = gst::glib::filename_to_uri(path, None).expect("uri");
    let info = discoverer.discover_uri(&uri).expect("discoverable");
    let caps = info
        .stream_list()
        .iter()
        .filter_map(|s| s.caps())
        .map(|c| {
            c.structure(0)
                .map(|s| s.name().to_string())
                .unwrap_or_default()
        })
        .collect();
    Discovered {
        duration: Duration::from_nanos(info.duration().map(|d| d.nseconds()).unwrap_or(0)),
        caps,
    }
}

/// Decodes a part to the end and returns the span of decoded timestamps: proof that it
/// plays, and how much of it does.
fn decoded_span(path: &Path) -> Duration {
    gst::init().expect("gstreamer");
    let description = format!(
        "filesrc location=\"{}\" ! matroskademux ! decodebin ! appsink name=out sync=false",
        path.display()
    );
    let pipeline = gst::parse::launch(&description)
        .expect("pipeline")
        .downcast::<gst::Pipeline>()
        .expect("a pipeline");
    let sink = pipeline
        .by_name("out")
        .expect("appsink")
        .downcast::<gst_app::AppSink>()
        .expect("appsink");
    pipeline.set_state(gst::State::Playing).expect("play");
    let (mut first, mut last) = (None, 0u64);
    while let Ok(sample) = sink.pull_sample() {
        if let Some(pts) = sample.buffer().and_then(|b| b.pts()) {
            first.get_or_insert(pts.nseconds());
            last = last.max(pts.nseconds());
        }
    }
    pipeline.set_state(gst::State::Null).expect("stop");
    Duration::from_nanos(last - first.expect("decoded at least one frame"))
}

fn parts(events: &Events) -> Vec<(Arc<TrackInfo>, PathBuf, Duration)> {
    events
        .lock()
        .expect("lock")
        .iter()
        .filter_map(|e| match e {
            RecorderEvent::PartOpened {
                track,
                path,
                offset,
                ..
            } => Some((track.clone(), path.clone(), *offset)),
            _ => None,
        })
        .collect()
}

#[test]
fn opus_vp8_and_h264_tracks_are_recorded_without_transcoding() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (recorder, events, _) = start(RecorderConfig::new(dir.path()));
    let tap = recorder.tap();
    let tracks = [
        (
            track(1, "microphone", Codec::Opus, 111),
            synthetic_rtp(Codec::Opus, 4),
        ),
        (
            track(2, "camera", Codec::Vp8, 96),
            synthetic_rtp(Codec::Vp8, 4),
        ),
        (
            track(3, "screen", Codec::H264, 102),
            synthetic_rtp(Codec::H264, 4),
        ),
    ];
    let t0 = Instant::now();
    let mut all: Vec<_> = tracks
        .iter()
        .flat_map(|(t, packets)| packets.iter().map(move |(at, p)| (*at, t, p)))
        .collect();
    all.sort_by_key(|(at, _, _)| *at);
    // Arrival times are the capture times: the recorder's timeline follows them, and
    // the jitter buffer drains at the end of the stream, so no real-time wait.
    for (at, t, p) in all {
        tap.offer(captured(t, p, t0 + at));
    }
    recorder.stop();
    assert_eq!(recorder_dropped(&events), 0);
    let opened = parts(&events);
    assert_eq!(opened.len(), 3, "one part per track: {opened:?}");
    let expectations = [
        ("microphone", "audio/x-opus"),
        ("camera", "video/x-vp8"),
        ("screen", "video/x-h264"),
    ];
    for (source, caps) in expectations {
        let (_, path, _) = opened
            .iter()
            .find(|(t, _, _)| t.source == source)
            .expect("part of the track");
        let found = discover(path);
        assert_eq!(
            found.caps,
            vec![caps.to_owned()],
            "{source}: not transcoded"
        );
        let error = found.duration.abs_diff(Duration::from_secs(4));
        assert!(
            error <= Duration::from_millis(200),
            "{source}: duration {:?}, expected 4 s ± 0.2",
            found.duration
        );
    }
    let closed: Vec<bool> = events
        .lock()
        .expect("lock")
        .iter()
        .filter_map(|e| match e {
            RecorderEvent::PartClosed { clean, bytes, .. } => Some(*clean && *bytes > 0),
            _ => None,
        })
        .collect();
    assert_eq!(closed, vec![true; 3], "every part finished cleanly");
    assert_eq!(
        events.lock().expect("lock").last(),
        Some(&RecorderEvent::Stopped)
    );
}

fn recorder_dropped(events: &Events) -> usize {
    events
        .lock()
        .expect("lock")
        .iter()
        .filter(|e| matches!(e, RecorderEvent::TrackFailed { .. }))
        .count()
}

#[test]
fn parts_rotate_at_the_limit_on_a_keyframe_and_together_cover_the_track() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = RecorderConfig::new(dir.path());
    config.max_part = Duration::from_secs(3);
    // Keyframes come every 2 s: each part asks 1.5 s before its limit and is cut on the
    // keyframe that follows, as when a publisher answers the request.
    config.keyframe_lead = Duration::from_millis(1500);
    let (recorder, events, keyframes) = start(config);
    let tap = recorder.tap();
    let camera = track(7, "camera", Codec::Vp8, 96);
    let t0 = Instant::now();
    for (at, p) in synthetic_rtp(Codec::Vp8, 8) {
        tap.offer(captured(&camera, &p, t0 + at));
    }
    recorder.stop();
    let opened = parts(&events);
    assert_eq!(
        opened.len(),
        4,
        "8 s cut on the keyframes at 2, 4 and 6 s: {opened:?}"
    );
    assert!(
        keyframes.lock().expect("lock").contains(&UpTrackId(7)),
        "a keyframe was asked for before the cut"
    );
    let mut covered = Duration::ZERO;
    for (i, (_, path, offset)) in opened.iter().enumerate() {
        let found = discover(path);
        assert_eq!(found.caps, vec!["video/x-vp8".to_owned()]);
        assert!(
            found.duration <= Duration::from_secs(3),
            "part {i}: {:?}",
            found.duration
        );
        if i > 0 {
            // Cut on keyframes: each part starts where the previous one ended.
            assert!(
                offset.abs_diff(covered) <= Duration::from_millis(100),
                "part {i} starts at {offset:?}, the previous ended at {covered:?}"
            );
        }
        covered = *offset + found.duration;
    }
    assert!(
        covered.abs_diff(Duration::from_secs(8)) <= Duration::from_millis(200),
        "the parts end where the track ended: {covered:?}"
    );
}

#[test]
fn hostile_datagrams_are_not_rtp() {
    assert!(RtpPacket::parse(&[]).is_none());
    assert!(RtpPacket::parse(&[0x80; 11]).is_none());
    // Version 1.
    assert!(RtpPacket::parse(&[0x40; 20]).is_none());
    // An extension longer than the datagram.
    let mut long_extension = vec![0x90, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1];
    long_extension.extend_from_slice(&[0xbe, 0xde, 0xff, 0xff]);
    assert!(RtpPacket::parse(&long_extension).is_none());
    // Padding longer than the payload.
    let mut padded = vec![0xa0, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 2];
    padded.push(200);
    assert!(RtpPacket::parse(&padded).is_none());
    let plain = [0x80, 0xe0, 0, 7, 0, 0, 0, 9, 0, 0, 0, 5, 1, 2, 3];
    let packet = RtpPacket::parse(&plain).expect("valid");
    assert_eq!(packet.payload_type, 96);
    assert!(packet.marker);
    assert_eq!(packet.sequence_number, 7);
    assert_eq!(&packet.payload[..], &[1, 2, 3]);
}

const CHILD_DIR: &str = "VIVA_RECORDER_CHILD_DIR";

/// The process the SIGKILL test kills: records microphone and camera in real time and
/// says how much it has handed to the recorder. Run only by that test.
#[test]
#[ignore = "helper process of recording_survives_sigkill_with_at_most_a_second_lost"]
fn sigkill_child() {
    let dir = std::env::var(CHILD_DIR).expect("run by the SIGKILL test");
    let (recorder, _, _) = start(RecorderConfig::new(dir));
    let tap = recorder.tap();
    let microphone = track(1, "microphone", Codec::Opus, 111);
    let camera = track(2, "camera", Codec::Vp8, 96);
    let mut all: Vec<_> = synthetic_rtp(Codec::Opus, 30)
        .into_iter()
        .map(|(at, p)| (at, &microphone, p))
        .chain(
            synthetic_rtp(Codec::Vp8, 30)
                .into_iter()
                .map(|(at, p)| (at, &camera, p)),
        )
        .collect();
    all.sort_by_key(|(at, _, _)| *at);
    let t0 = Instant::now();
    let mut reported = Duration::ZERO;
    for (at, t, p) in all {
        if let Some(wait) = (t0 + at).checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        tap.offer(captured(t, &p, Instant::now()));
        if at >= reported + Duration::from_millis(100) {
            reported = at;
            println!("pushed_ms={}", at.as_millis());
        }
    }
    recorder.stop();
}

#[test]
fn recording_survives_sigkill_with_at_most_a_second_lost() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "sigkill_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("child starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut pushed = Duration::ZERO;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.expect("child output");
        if let Some(ms) = line.strip_prefix("pushed_ms=") {
            pushed = Duration::from_millis(ms.parse().expect("a number"));
            if pushed >= Duration::from_secs(5) {
                break;
            }
        }
    }
    assert!(
        pushed >= Duration::from_secs(5),
        "the child recorded for 5 s"
    );
    // Child::kill is SIGKILL: no destructor, no EOS, no muxer finalisation.
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "a part per track: {files:?}");
    for file in files {
        let span = decoded_span(&file);
        let lost = pushed.saturating_sub(span);
        eprintln!("{}: {span:?} playable of {pushed:?} pushed", file.display());
        assert!(
            lost <= Duration::from_secs(1),
            "{}: {span:?} playable after SIGKILL, {pushed:?} pushed",
            file.display()
        );
    }
}
