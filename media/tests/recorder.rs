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

/// A pipeline from a description ending in `appsink name=out`, and that sink.
fn appsink_pipeline(description: &str) -> (gst::Pipeline, gst_app::AppSink) {
    let pipeline = gst::parse::launch(description)
        .expect("pipeline")
        .downcast::<gst::Pipeline>()
        .expect("a pipeline");
    let sink = pipeline
        .by_name("out")
        .expect("appsink")
        .downcast::<gst_app::AppSink>()
        .expect("appsink");
    (pipeline, sink)
}

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
    rtp_from(&description)
}

/// Runs a pipeline ending in `appsink name=out` and collects its RTP packets with
/// their capture times.
fn rtp_from(description: &str) -> Vec<(Duration, Vec<u8>)> {
    gst::init().expect("gstreamer");
    let (pipeline, sink) = appsink_pipeline(description);
    pipeline.set_state(gst::State::Playing).expect("play");
    let mut packets = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        let buffer = sample.buffer().expect("buffer");
        // Running time, not the raw timestamp: `concat` restarts each input's
        // timestamps and moves its segment instead.
        let pts = sample
            .segment()
            .and_then(|s| s.downcast_ref::<gst::ClockTime>())
            .and_then(|s| buffer.pts().and_then(|p| s.to_running_time(p)))
            .map_or(0, |t| t.nseconds());
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
    let (pipeline, sink) = appsink_pipeline(&description);
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

/// Records a camera that turns from black to white and a microphone that turns from
/// silence to a tone at the same instant (2 s), 5 s in all, through the recorder.
fn record_flash_and_beep(dir: &Path) -> (Vec<(Arc<TrackInfo>, PathBuf, Duration)>, Duration) {
    let (recorder, events, _) = start(RecorderConfig::new(dir));
    let tap = recorder.tap();
    let camera = track(2, "camera", Codec::Vp8, 96);
    let microphone = track(1, "microphone", Codec::Opus, 111);
    let video = rtp_from(
        "concat name=c ! video/x-raw,width=320,height=240,framerate=25/1 ! \
         vp8enc deadline=1 keyframe-max-dist=50 ! rtpvp8pay pt=96 mtu=1200 ! \
         appsink name=out sync=false \
         videotestsrc pattern=black num-buffers=50 ! video/x-raw,width=320,height=240,framerate=25/1 ! c. \
         videotestsrc pattern=white num-buffers=75 ! video/x-raw,width=320,height=240,framerate=25/1 ! c.",
    );
    let audio = rtp_from(
        "concat name=c ! audio/x-raw,rate=48000,channels=2 ! opusenc frame-size=20 ! \
         rtpopuspay pt=111 ! appsink name=out sync=false \
         audiotestsrc wave=silence num-buffers=100 samplesperbuffer=960 ! audio/x-raw,rate=48000,channels=2 ! c. \
         audiotestsrc wave=sine volume=0.8 num-buffers=150 samplesperbuffer=960 ! audio/x-raw,rate=48000,channels=2 ! c.",
    );
    let mut all: Vec<_> = video
        .iter()
        .map(|(at, p)| (*at, &camera, p))
        .chain(audio.iter().map(|(at, p)| (*at, &microphone, p)))
        .collect();
    all.sort_by_key(|(at, _, _)| *at);
    // The microphone's first packet arrives a little after the camera's, as in life:
    // the parts' offsets must carry that.
    let t0 = Instant::now();
    for (at, t, p) in all {
        let late = if t.source == "microphone" {
            Duration::from_millis(300)
        } else {
            Duration::ZERO
        };
        if at < late && t.source == "microphone" {
            continue;
        }
        tap.offer(captured(t, p, t0 + at));
    }
    recorder.stop();
    (parts(&events), Duration::from_secs(5))
}

/// When (on the file's timeline) a condition first holds, decoding one stream.
/// `hit` says where in a decoded buffer the condition first holds (from its start).
fn first_time(
    mp4: &Path,
    branch: &str,
    caps: &str,
    hit: &dyn Fn(&[u8]) -> Option<Duration>,
) -> Duration {
    gst::init().expect("gstreamer");
    let description = format!(
        "filesrc location=\"{}\" ! qtdemux name=d d.{branch} ! decodebin ! {caps} ! appsink name=out sync=false",
        mp4.display()
    );
    let (pipeline, sink) = appsink_pipeline(&description);
    pipeline.set_state(gst::State::Playing).expect("play");
    let mut found = None;
    while let Ok(sample) = sink.pull_sample() {
        let buffer = sample.buffer().expect("buffer");
        let map = buffer.map_readable().expect("readable");
        if let Some(within) = hit(map.as_slice()) {
            found = buffer
                .pts()
                .map(|p| Duration::from_nanos(p.nseconds()) + within);
            break;
        }
    }
    pipeline.set_state(gst::State::Null).expect("stop");
    found.expect("the condition held somewhere")
}

#[test]
fn post_production_makes_a_synced_h264_aac_mp4_with_hls_thumbnail_and_chapters() {
    use media::production::{Chapter, InputPart, ProductionRequest, produce};
    let dir = tempfile::tempdir().expect("tempdir");
    let (opened, duration) = record_flash_and_beep(&dir.path().join("parts"));
    let request = ProductionRequest {
        parts: opened
            .iter()
            .map(|(t, path, offset)| InputPart {
                path: path.clone(),
                participant: t.label.clone(),
                source: t.source.clone(),
                offset: *offset,
            })
            .collect(),
        duration,
        chapters: vec![
            Chapter {
                start: Duration::ZERO,
                title: "陈述".into(),
            },
            Chapter {
                start: Duration::from_secs(3),
                title: "问答".into(),
            },
        ],
        out_dir: dir.path().join("out"),
    };
    let progress = Mutex::new(Vec::new());
    let produced =
        produce(&request, &|p| progress.lock().expect("lock").push(p)).expect("produced");
    let info = media::recorder::discover(&produced.mp4).expect("discoverable");
    assert_eq!(info.streams.len(), 2, "{info:?}");
    assert!(
        info.streams.contains(&"video/x-h264".to_owned()),
        "{info:?}"
    );
    assert!(info.streams.contains(&"audio/mpeg".to_owned()), "{info:?}");
    assert!(
        info.duration.abs_diff(duration) <= Duration::from_millis(200),
        "{:?}",
        info.duration
    );
    // Fast start: the index (moov) comes before the media (mdat).
    let bytes = std::fs::read(&produced.mp4).expect("mp4");
    let find = |tag: &[u8]| bytes.windows(4).position(|w| w == tag).expect("box");
    assert!(find(b"moov") < find(b"mdat"), "moov before mdat");
    // Audio and video together: the flash and the beep were simultaneous.
    let flash = first_time(
        &produced.mp4,
        "video_0",
        "videoconvert ! video/x-raw,format=GRAY8",
        &|y| {
            (y.iter().map(|&v| u64::from(v)).sum::<u64>() / y.len() as u64 > 128)
                .then_some(Duration::ZERO)
        },
    );
    let beep = first_time(
        &produced.mp4,
        "audio_0",
        "audioconvert ! audio/x-raw,format=S16LE,channels=1",
        // To the sample, not to the decoded buffer (an AAC frame is 21 ms).
        &|pcm| {
            pcm.chunks_exact(2)
                .position(|s| i16::from_le_bytes([s[0], s[1]]).unsigned_abs() > 8000)
                .map(|i| Duration::from_secs_f64(i as f64 / 48_000.0))
        },
    );
    eprintln!("flash at {flash:?}, beep at {beep:?}");
    // The camera's part starts where its first packet arrived on the recording's
    // timeline; the flash is 2 s into it (give or take one 40 ms output frame).
    let camera_offset = opened
        .iter()
        .find(|(t, _, _)| t.source == "camera")
        .map(|(_, _, o)| *o)
        .expect("camera part");
    let expected = camera_offset + Duration::from_secs(2);
    assert!(
        flash.abs_diff(expected) <= Duration::from_millis(40),
        "the flash is where it was recorded: {flash:?}, expected {expected:?}"
    );
    assert!(
        flash.abs_diff(beep) <= Duration::from_millis(40),
        "audio and video within 40 ms: flash {flash:?}, beep {beep:?}"
    );
    // HLS (VOD) segments, a JPEG, chapters.
    let playlist = std::fs::read_to_string(&produced.hls).expect("playlist");
    assert!(
        playlist.contains("#EXT-X-PLAYLIST-TYPE:VOD") && playlist.contains("#EXT-X-ENDLIST"),
        "{playlist}"
    );
    let segments: Vec<&str> = playlist.lines().filter(|l| l.ends_with(".ts")).collect();
    assert!(
        !segments.is_empty() && segments.iter().all(|s| !s.contains('/')),
        "{playlist}"
    );
    for segment in segments {
        assert!(produced.hls.with_file_name(segment).exists(), "{segment}");
    }
    let jpeg = std::fs::read(&produced.thumbnail).expect("thumbnail");
    assert_eq!(&jpeg[..2], &[0xff, 0xd8], "a JPEG");
    let vtt = std::fs::read_to_string(&produced.chapters).expect("chapters");
    assert!(vtt.contains("00:00:03.000 --> 00:00:05.000\n问答"), "{vtt}");
    let progress = progress.lock().expect("lock");
    assert_eq!(progress.last(), Some(&1.0));
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "progress only rises"
    );
}
