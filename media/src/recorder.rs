//! The recorder: writes the RTP the SFU forwards to crash-safe files, without
//! transcoding, one file per track per part.
//!
//! Each track of a recorded session gets its own GStreamer pipeline per part:
//! `appsrc → rtpjitterbuffer → depayloader → matroskamux → filesink`. Matroska is
//! written cluster by cluster and the file sink is unbuffered, so a process killed
//! mid-recording leaves every part playable up to its last written cluster (the jitter
//! buffer's latency, 200 ms, plus at most one cluster, 500 ms). Parts rotate per
//! [`PartClock`] (at most 5 minutes each).
//!
//! Timing: every packet is stamped with its arrival time at the SFU relative to the
//! part's first packet, and each part's start relative to the recording's start is
//! reported ([`RecorderEvent::PartOpened`]), so post-production lines all tracks up on
//! one timeline. Arrival time is the SFU's single clock for every track, which is what
//! keeps audio and video of one person together (a browser sends both in real time).
//!
//! Threads: the SFU's media thread only offers packets to a bounded queue
//! ([`RecordingTap::offer`], never blocks; a full queue counts a drop). One recorder
//! thread per recording moves them into the pipelines; closing a part (waiting for the
//! muxer to finish the file) happens on a short-lived thread of its own.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use tracing::{debug, warn};

use crate::ids::UpTrackId;
use crate::parts::{PartClock, PartStep};

/// Elements used to write forwarded RTP to crash-safe files without transcoding.
pub const CAPTURE_ELEMENTS: &[&str] = &[
    "appsrc",
    "rtpjitterbuffer",
    "rtpvp8depay",
    "rtpvp9depay",
    "rtph264depay",
    "h264parse",
    "rtpopusdepay",
    "matroskamux",
    "filesink",
];

/// A recorded track's codec, as negotiated in its RTP session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// Opus audio (48 kHz).
    Opus,
    /// VP8 video.
    Vp8,
    /// VP9 video.
    Vp9,
    /// H.264 video.
    H264,
}

impl Codec {
    /// The RTP encoding name.
    pub fn encoding_name(self) -> &'static str {
        match self {
            Codec::Opus => "OPUS",
            Codec::Vp8 => "VP8",
            Codec::Vp9 => "VP9",
            Codec::H264 => "H264",
        }
    }

    /// Whether it is a video codec.
    pub fn is_video(self) -> bool {
        !matches!(self, Codec::Opus)
    }

    /// The codec of an SDP MIME type (`audio/opus`, `video/VP8`…), if recordable.
    pub fn from_mime(mime: &str) -> Option<Self> {
        match mime.to_ascii_lowercase().as_str() {
            "audio/opus" => Some(Codec::Opus),
            "video/vp8" => Some(Codec::Vp8),
            "video/vp9" => Some(Codec::Vp9),
            "video/h264" => Some(Codec::H264),
            _ => None,
        }
    }

    fn clock_rate(self) -> i32 {
        if self.is_video() { 90_000 } else { 48_000 }
    }

    /// Depayloader (and parser) between the jitter buffer and the muxer.
    fn depayload_chain(self) -> &'static str {
        match self {
            Codec::Opus => "rtpopusdepay",
            Codec::Vp8 => "rtpvp8depay wait-for-keyframe=true",
            Codec::Vp9 => "rtpvp9depay",
            Codec::H264 => "rtph264depay ! h264parse",
        }
    }
}

/// A recorded track: whose it is and what it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackInfo {
    /// The SFU's id of the track (keyframe requests go back to it).
    pub up_track: UpTrackId,
    /// The publisher's stable label (the signaling layer's participant key).
    pub label: String,
    /// Which of their sources it is (`microphone`, `camera`, `screen`).
    pub source: String,
    /// Its codec.
    pub codec: Codec,
    /// Its RTP payload type.
    pub payload_type: u8,
}

impl TrackInfo {
    /// The file-name stem of this track's parts: label and source reduced to
    /// characters that are safe in any file system.
    pub fn file_stem(&self) -> String {
        let clean = |s: &str| -> String {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .take(64)
                .collect()
        };
        format!("{}-{}", clean(&self.label), clean(&self.source))
    }
}

/// The parts of an RTP packet the recorder writes (no header extensions or CSRCs: the
/// SFU strips them before forwarding too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket {
    /// Payload type.
    pub payload_type: u8,
    /// Sequence number.
    pub sequence_number: u16,
    /// Media timestamp.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Marker bit (end of a video frame).
    pub marker: bool,
    pub payload: Bytes,
}

impl RtpPacket {
    /// Parses a datagram (header extensions and CSRCs are skipped, padding removed).
    pub fn parse(datagram: &[u8]) -> Option<Self> {
        if datagram.len() < 12 || datagram[0] >> 6 != 2 {
            return None;
        }
        let csrc_count = usize::from(datagram[0] & 0x0f);
        let mut at = 12 + 4 * csrc_count;
        if datagram[0] & 0x10 != 0 {
            let words = u16::from_be_bytes([*datagram.get(at + 2)?, *datagram.get(at + 3)?]);
            at += 4 + 4 * usize::from(words);
        }
        let mut end = datagram.len();
        if datagram[0] & 0x20 != 0 {
            end = end.checked_sub(usize::from(*datagram.last()?))?;
        }
        if at > end {
            return None;
        }
        Some(Self {
            payload_type: datagram[1] & 0x7f,
            sequence_number: u16::from_be_bytes([datagram[2], datagram[3]]),
            timestamp: u32::from_be_bytes([datagram[4], datagram[5], datagram[6], datagram[7]]),
            ssrc: u32::from_be_bytes([datagram[8], datagram[9], datagram[10], datagram[11]]),
            marker: datagram[1] & 0x80 != 0,
            payload: Bytes::copy_from_slice(&datagram[at..end]),
        })
    }

    fn write_to(&self, out: &mut [u8]) {
        out[0] = 0x80;
        out[1] = (u8::from(self.marker) << 7) | (self.payload_type & 0x7f);
        out[2..4].copy_from_slice(&self.sequence_number.to_be_bytes());
        out[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        out[12..].copy_from_slice(&self.payload);
    }
}

/// One packet offered to the recorder.
#[derive(Debug, Clone)]
pub struct Captured {
    /// The track it belongs to (shared, so the SFU allocates nothing per packet for it).
    pub track: Arc<TrackInfo>,
    /// The packet.
    pub packet: RtpPacket,
    /// When it arrived at the SFU.
    pub arrival: Instant,
    /// Whether it is the first packet of a keyframe.
    pub keyframe_start: bool,
}

/// What the recorder reports (in order, from its own threads).
#[derive(Debug, Clone, PartialEq)]
pub enum RecorderEvent {
    /// A part file was created and media is being written into it.
    PartOpened {
        /// The track.
        track: Arc<TrackInfo>,
        /// 0-based index of the part within the track.
        index: u32,
        /// The file.
        path: PathBuf,
        /// Where the part starts on the recording's timeline.
        offset: Duration,
        /// Wall-clock time of its first packet.
        opened_at: SystemTime,
    },
    /// A part was finished (muxer finalised, or given up on after a timeout).
    PartClosed {
        /// The file.
        path: PathBuf,
        /// Its size.
        bytes: u64,
        /// Whether the muxer finished the file cleanly (`false`: it is still playable,
        /// as after a crash, but has no index).
        clean: bool,
    },
    /// A track's writer failed; the next packet opens a new part.
    TrackFailed {
        /// The track.
        track: Arc<TrackInfo>,
        /// Why.
        reason: String,
    },
    /// The recording stopped and every part is closed.
    Stopped,
}

/// How the recorder writes.
#[derive(Debug, Clone)]
pub struct RecorderConfig {
    /// The directory of this recording's parts (created if missing).
    pub dir: PathBuf,
    /// Longest part.
    pub max_part: Duration,
    /// How long before the end of a video part a keyframe is asked for.
    pub keyframe_lead: Duration,
    /// The jitter buffer's latency.
    pub jitter_latency: Duration,
    /// Packets queued between the SFU and the recorder before drops are counted.
    pub queue: usize,
}

impl RecorderConfig {
    /// Five-minute parts, 200 ms jitter buffer.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            max_part: Duration::from_secs(300),
            keyframe_lead: Duration::from_secs(20),
            jitter_latency: Duration::from_millis(200),
            queue: 8192,
        }
    }
}

/// Why a recording could not start.
#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    /// GStreamer is missing or broken.
    #[error("GStreamer is unavailable: {0}")]
    Unavailable(String),
    /// The directory could not be created.
    #[error("cannot write recordings to {dir}: {error}")]
    Directory {
        /// The directory.
        dir: PathBuf,
        /// Why.
        error: std::io::Error,
    },
}

/// Receives the recorder's events.
pub type EventSink = Box<dyn Fn(RecorderEvent) + Send + Sync>;
/// Asks the SFU for a keyframe on a track.
pub type KeyframeRequester = Box<dyn Fn(UpTrackId) + Send>;

enum Input {
    Packet(Box<Captured>),
    Stop,
}

/// Where the SFU offers packets of a recorded room. Cloneable; never blocks.
#[derive(Clone)]
pub struct RecordingTap {
    input: std_mpsc::SyncSender<Input>,
    dropped: Arc<AtomicU64>,
}

impl fmt::Debug for RecordingTap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordingTap")
            .field("dropped", &self.dropped.load(Ordering::Relaxed))
            .finish()
    }
}

impl RecordingTap {
    /// Offers a packet. If the recorder is behind (queue full) the packet is counted as
    /// dropped rather than stalling the media thread.
    pub fn offer(&self, captured: Captured) {
        match self.input.try_send(Input::Packet(Box::new(captured))) {
            Ok(()) | Err(std_mpsc::TrySendError::Disconnected(_)) => {}
            Err(std_mpsc::TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// A running recording.
pub struct Recorder {
    tap: RecordingTap,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder").field("tap", &self.tap).finish()
    }
}

impl Recorder {
    /// Starts a recording: creates the directory and the recorder thread. Its
    /// timeline's zero is now.
    pub fn start(
        config: RecorderConfig,
        events: EventSink,
        keyframes: KeyframeRequester,
    ) -> Result<Self, RecorderError> {
        let capability = probe().map_err(RecorderError::Unavailable)?;
        if !capability.can_record() {
            return Err(RecorderError::Unavailable(format!(
                "missing elements: {}",
                capability.missing_elements.join(", ")
            )));
        }
        std::fs::create_dir_all(&config.dir).map_err(|error| RecorderError::Directory {
            dir: config.dir.clone(),
            error,
        })?;
        let (input, rx) = std_mpsc::sync_channel(config.queue);
        let started = Instant::now();
        let thread = std::thread::Builder::new()
            .name("viva-recorder".into())
            .spawn(move || {
                RecordingLoop {
                    config,
                    started,
                    events: Arc::new(events),
                    keyframes,
                    tracks: HashMap::new(),
                    closing: Vec::new(),
                }
                .run(rx);
            })
            .map_err(|e| RecorderError::Unavailable(format!("no recorder thread: {e}")))?;
        Ok(Self {
            tap: RecordingTap {
                input,
                dropped: Arc::new(AtomicU64::new(0)),
            },
            thread: Some(thread),
        })
    }

    /// The tap to hand to the SFU.
    pub fn tap(&self) -> RecordingTap {
        self.tap.clone()
    }

    /// Packets dropped because the recorder fell behind.
    pub fn dropped(&self) -> u64 {
        self.tap.dropped.load(Ordering::Relaxed)
    }

    /// Stops: closes every part (waits for the muxers) and then reports
    /// [`RecorderEvent::Stopped`]. Blocks; call from a blocking context.
    pub fn stop(mut self) {
        // Stop must get through even when the queue is full.
        let _ = self.tap.input.send(Input::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = self.tap.input.send(Input::Stop);
            let _ = thread.join();
        }
    }
}

struct TrackState {
    info: Arc<TrackInfo>,
    clock: PartClock,
    writer: Option<PartWriter>,
    next_index: u32,
    failures: u32,
}

/// A track whose writer failed this many times is no longer recorded (and reported).
const MAX_FAILURES: u32 = 3;

struct RecordingLoop {
    config: RecorderConfig,
    started: Instant,
    events: Arc<EventSink>,
    keyframes: KeyframeRequester,
    tracks: HashMap<UpTrackId, TrackState>,
    closing: Vec<std::thread::JoinHandle<()>>,
}

impl RecordingLoop {
    fn run(mut self, rx: std_mpsc::Receiver<Input>) {
        while let Ok(input) = rx.recv() {
            match input {
                Input::Packet(captured) => self.on_packet(*captured),
                Input::Stop => break,
            }
        }
        let writers: Vec<PartWriter> = self
            .tracks
            .values_mut()
            .filter_map(|t| t.writer.take())
            .collect();
        for writer in writers {
            self.close_in_background(writer);
        }
        for closing in self.closing.drain(..) {
            let _ = closing.join();
        }
        (self.events)(RecorderEvent::Stopped);
    }

    fn on_packet(&mut self, captured: Captured) {
        let config = &self.config;
        let track = self
            .tracks
            .entry(captured.track.up_track)
            .or_insert_with(|| TrackState {
                info: captured.track.clone(),
                clock: PartClock::new(
                    config.max_part,
                    config.keyframe_lead,
                    captured.track.codec.is_video(),
                ),
                writer: None,
                next_index: 0,
                failures: 0,
            });
        if track.failures >= MAX_FAILURES {
            return;
        }
        let step = track
            .clock
            .on_packet(captured.arrival, captured.keyframe_start);
        let mut to_close = None;
        match step {
            PartStep::Write => {}
            PartStep::WriteAndAskKeyframe => (self.keyframes)(track.info.up_track),
            PartStep::Open | PartStep::Rotate => {
                to_close = track.writer.take();
                let index = track.next_index;
                track.next_index += 1;
                let path = self
                    .config
                    .dir
                    .join(format!("{}-{index:03}.mkv", track.info.file_stem()));
                match PartWriter::open(&path, &track.info, captured.arrival, &self.config) {
                    Ok(writer) => {
                        (self.events)(RecorderEvent::PartOpened {
                            track: track.info.clone(),
                            index,
                            path,
                            offset: captured.arrival.saturating_duration_since(self.started),
                            opened_at: SystemTime::now(),
                        });
                        track.writer = Some(writer);
                        if track.info.codec.is_video() && !captured.keyframe_start {
                            (self.keyframes)(track.info.up_track);
                        }
                    }
                    Err(reason) => {
                        track.failures += 1;
                        track.clock.reset();
                        (self.events)(RecorderEvent::TrackFailed {
                            track: track.info.clone(),
                            reason,
                        });
                    }
                }
            }
        }
        let mut failed = None;
        if let Some(writer) = track.writer.as_mut()
            && let Err(reason) = writer.push(&captured.packet, captured.arrival)
        {
            failed = Some(reason);
        }
        if let Some(reason) = failed {
            warn!(track = %track.info.file_stem(), %reason, "recorder track failed");
            track.failures += 1;
            track.clock.reset();
            let info = track.info.clone();
            if let Some(writer) = track.writer.take() {
                self.close_in_background(writer);
            }
            (self.events)(RecorderEvent::TrackFailed {
                track: info,
                reason,
            });
        }
        if let Some(writer) = to_close {
            self.close_in_background(writer);
        }
    }

    fn close_in_background(&mut self, writer: PartWriter) {
        let events = self.events.clone();
        self.closing.retain(|h| !h.is_finished());
        let spawned = std::thread::Builder::new()
            .name("viva-part-close".into())
            .spawn(move || {
                let closed = writer.finish();
                events(closed);
            });
        match spawned {
            Ok(handle) => self.closing.push(handle),
            Err(e) => warn!(error = %e, "no thread to close a part; it stays as written"),
        }
    }
}

/// One part being written.
struct PartWriter {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    path: PathBuf,
    base: Instant,
    scratch: Vec<u8>,
    pushed: u64,
}

impl PartWriter {
    fn open(
        path: &Path,
        track: &TrackInfo,
        base: Instant,
        config: &RecorderConfig,
    ) -> Result<Self, String> {
        let codec = track.codec;
        let description = format!(
            "appsrc name=src format=time is-live=true ! \
             rtpjitterbuffer latency={latency} ! {depay} ! \
             matroskamux name=mux ! filesink name=sink sync=false async=false buffer-mode=unbuffered",
            latency = config.jitter_latency.as_millis(),
            depay = codec.depayload_chain(),
        );
        let pipeline = gst::parse::launch(&description)
            .map_err(|e| format!("pipeline: {e}"))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| "pipeline: not a pipeline".to_owned())?;
        let sink = pipeline
            .by_name("sink")
            .ok_or_else(|| "pipeline: no sink".to_owned())?;
        sink.set_property("location", path.to_string_lossy().as_ref());
        let src = pipeline
            .by_name("src")
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
            .ok_or_else(|| "pipeline: no appsrc".to_owned())?;
        let media = if codec.is_video() { "video" } else { "audio" };
        src.set_caps(Some(
            &gst::Caps::builder("application/x-rtp")
                .field("media", media)
                .field("clock-rate", codec.clock_rate())
                .field("encoding-name", codec.encoding_name())
                .field("payload", i32::from(track.payload_type))
                .build(),
        ));
        // No clock: packets carry their arrival time and nothing waits on a clock, so a
        // recorder that fell behind (a busy machine) writes late packets instead of the
        // jitter buffer dropping them as too late. Reordering still happens by sequence.
        pipeline.use_clock(None::<&gst::Clock>);
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| format!("cannot start writing {}: {e}", path.display()))?;
        debug!(path = %path.display(), "part opened");
        Ok(Self {
            pipeline,
            src,
            path: path.to_owned(),
            base,
            scratch: Vec::with_capacity(1500),
            pushed: 0,
        })
    }

    fn push(&mut self, packet: &RtpPacket, arrival: Instant) -> Result<(), String> {
        self.scratch.resize(12 + packet.payload.len(), 0);
        packet.write_to(&mut self.scratch);
        let mut buffer = gst::Buffer::from_slice(self.scratch.clone());
        {
            let buffer = buffer.get_mut().ok_or("buffer not writable")?;
            let pts = arrival.saturating_duration_since(self.base);
            buffer.set_pts(gst::ClockTime::from_nseconds(pts.as_nanos() as u64));
        }
        self.src
            .push_buffer(buffer)
            .map_err(|e| format!("writing {}: {e:?}", self.path.display()))?;
        self.pushed += 1;
        // Errors surface on the bus; look every so often rather than per packet.
        if self.pushed.is_multiple_of(64)
            && let Some(bus) = self.pipeline.bus()
            && let Some(message) = bus.pop_filtered(&[gst::MessageType::Error])
            && let gst::MessageView::Error(error) = message.view()
        {
            return Err(format!(
                "writing {}: {}",
                self.path.display(),
                error.error()
            ));
        }
        Ok(())
    }

    /// Ends the stream, waits (bounded) for the muxer to finish the file, and reports.
    fn finish(self) -> RecorderEvent {
        let _ = self.src.end_of_stream();
        let clean = await_end(&self.pipeline, gst::ClockTime::from_seconds(10)).is_ok();
        let bytes = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        RecorderEvent::PartClosed {
            path: self.path,
            bytes,
            clean,
        }
    }
}

/// What the GStreamer installation can do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecorderCapability {
    /// GStreamer's version string.
    pub gstreamer_version: String,
    /// Elements from [`CAPTURE_ELEMENTS`] that are missing.
    pub missing_elements: Vec<String>,
}

impl RecorderCapability {
    /// Whether every capture element is present.
    pub fn can_record(&self) -> bool {
        self.missing_elements.is_empty()
    }
}

/// Initialises GStreamer (idempotent) and checks the capture elements.
pub fn probe() -> Result<RecorderCapability, String> {
    gstreamer::init().map_err(|e| format!("GStreamer could not be initialised: {e}"))?;
    let missing_elements = CAPTURE_ELEMENTS
        .iter()
        .filter(|name| gstreamer::ElementFactory::find(name).is_none())
        .map(|name| (*name).to_owned())
        .collect();
    Ok(RecorderCapability {
        gstreamer_version: gstreamer::version_string().to_string(),
        missing_elements,
    })
}

/// Waits (bounded) until a running pipeline reaches its end of stream or fails, then
/// stops it. The error says which (`timed out` when neither came in time).
pub(crate) fn await_end(pipeline: &gst::Pipeline, timeout: gst::ClockTime) -> Result<(), String> {
    let message = pipeline.bus().and_then(|bus| {
        bus.timed_pop_filtered(timeout, &[gst::MessageType::Eos, gst::MessageType::Error])
    });
    let _ = pipeline.set_state(gst::State::Null);
    match message.as_ref().map(|m| m.view()) {
        Some(gst::MessageView::Eos(_)) => Ok(()),
        Some(gst::MessageView::Error(e)) => Err(e.error().to_string()),
        _ => Err("timed out".into()),
    }
}

/// What a media file holds, read by GStreamer's Discoverer.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaInfo {
    /// Its duration (zero when the container does not say and it cannot be estimated).
    pub duration: std::time::Duration,
    /// Each stream's caps name (`video/x-vp8`, `audio/mpeg`…), in container order.
    pub streams: Vec<String>,
}

/// Reads a media file's streams and duration with the Discoverer.
pub fn discover(path: &Path) -> Result<MediaInfo, String> {
    use gstreamer_pbutils::prelude::DiscovererStreamInfoExt;
    gst::init().map_err(|e| e.to_string())?;
    let discoverer = gstreamer_pbutils::Discoverer::new(gst::ClockTime::from_seconds(20))
        .map_err(|e| e.to_string())?;
    let absolute = std::fs::canonicalize(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let uri = gst::glib::filename_to_uri(&absolute, None).map_err(|e| e.to_string())?;
    let info = discoverer
        .discover_uri(&uri)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(MediaInfo {
        duration: std::time::Duration::from_nanos(info.duration().map_or(0, |d| d.nseconds())),
        streams: info
            .stream_list()
            .iter()
            .filter_map(|s| s.caps())
            .filter_map(|c| c.structure(0).map(|s| s.name().to_string()))
            .collect(),
    })
}

/// One stream of a Matroska file as its demuxer sees it, without decoding.
#[derive(Debug, Clone, PartialEq)]
pub struct DemuxedStream {
    /// Caps name (`video/x-vp8`, `audio/x-opus`…).
    pub caps: String,
    /// Frames (blocks) in it.
    pub frames: usize,
    /// From its first to its last timestamp.
    pub span: std::time::Duration,
}

/// Reads a Matroska part's streams by demuxing it (no decoder involved: works for any
/// payload, and shows what a file holds even when its frames would not decode).
pub fn demux(path: &Path) -> Result<Vec<DemuxedStream>, String> {
    use std::sync::Mutex;
    gst::init().map_err(|e| e.to_string())?;
    let pipeline = gst::Pipeline::new();
    let make = |name: &str| {
        gst::ElementFactory::make(name)
            .build()
            .map_err(|e| format!("{name}: {e}"))
    };
    let (src, demux) = (make("filesrc")?, make("matroskademux")?);
    src.set_property("location", path.to_string_lossy().as_ref());
    pipeline
        .add_many([&src, &demux])
        .map_err(|e| e.to_string())?;
    src.link(&demux).map_err(|e| e.to_string())?;
    type Seen = Arc<Mutex<Vec<(String, usize, Option<u64>, u64)>>>;
    let seen: Seen = Arc::default();
    let weak = pipeline.downgrade();
    let on_pad = seen.clone();
    demux.connect_pad_added(move |_, pad| {
        let Some(pipeline) = weak.upgrade() else {
            return;
        };
        let caps = pad
            .current_caps()
            .and_then(|c| c.structure(0).map(|s| s.name().to_string()))
            .unwrap_or_default();
        let index = {
            let mut seen = on_pad.lock().unwrap_or_else(|e| e.into_inner());
            seen.push((caps, 0, None, 0));
            seen.len() - 1
        };
        let Ok(sink) = gst::ElementFactory::make("fakesink")
            .property("sync", false)
            .build()
        else {
            return;
        };
        let _ = pipeline.add(&sink);
        let _ = sink.sync_state_with_parent();
        if let Some(sink_pad) = sink.static_pad("sink") {
            let _ = pad.link(&sink_pad);
        }
        let counts = on_pad.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(buffer) = info.buffer() {
                let mut seen = counts.lock().unwrap_or_else(|e| e.into_inner());
                let entry = &mut seen[index];
                entry.1 += 1;
                if let Some(pts) = buffer.pts() {
                    entry.2.get_or_insert(pts.nseconds());
                    entry.3 = entry.3.max(pts.nseconds());
                }
            }
            gst::PadProbeReturn::Ok
        });
    });
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| e.to_string())?;
    await_end(&pipeline, gst::ClockTime::from_seconds(30))
        .map_err(|e| format!("{}: demuxing: {e}", path.display()))?;
    let seen = seen.lock().unwrap_or_else(|e| e.into_inner());
    Ok(seen
        .iter()
        .map(|(caps, frames, first, last)| DemuxedStream {
            caps: caps.clone(),
            frames: *frames,
            span: std::time::Duration::from_nanos(last - first.unwrap_or(*last)),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_elements_are_installed() {
        let capability = probe().expect("gstreamer initialises");
        assert!(
            capability.can_record(),
            "missing GStreamer elements: {:?}",
            capability.missing_elements
        );
        assert!(capability.gstreamer_version.starts_with("GStreamer 1."));
    }
}
