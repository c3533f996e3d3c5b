//! Post-production: turns a recording's parts into one video people can watch.
//!
//! One GStreamer pass composes every video part into a 1280×720 picture (screen shares
//! large, cameras in a column beside them or in a grid) and mixes every audio part,
//! each placed on the recording's timeline by its offset, and encodes H.264/AAC into an
//! MP4 with its index at the front (fast start). Black video and silence underneath fix
//! the output's length to the recording's. Audio and video of one person stay together
//! because both are placed by the same clock (the SFU's arrival time). A second pass
//! cuts the MP4 into HLS (VOD) without re-encoding; a third takes a thumbnail. Chapters
//! are written as WebVTT from the agenda's phases.
//!
//! Everything here is blocking; callers run it on a blocking thread.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

/// Output picture size and frame rate.
pub const WIDTH: i32 = 1280;
/// Output picture height.
pub const HEIGHT: i32 = 720;
const FPS: i32 = 25;
/// The AAC encoder's priming: one frame of 1024 samples at 48 kHz.
const AAC_PRIMING_NS: i64 = 1024 * 1_000_000_000 / 48_000;

/// One input file on the recording's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct InputPart {
    /// The part file (Matroska).
    pub path: PathBuf,
    /// Whose track (parts of one track share a place in the picture).
    pub participant: String,
    /// `microphone`, `camera`, `screen`.
    pub source: String,
    /// Where it starts on the recording's timeline.
    pub offset: Duration,
}

impl InputPart {
    fn is_video(&self) -> bool {
        self.source != "microphone"
    }
}

/// A chapter: where it starts and its title.
#[derive(Debug, Clone, PartialEq)]
pub struct Chapter {
    /// Start on the recording's timeline.
    pub start: Duration,
    pub title: String,
}

/// What to produce.
#[derive(Debug, Clone)]
pub struct ProductionRequest {
    /// The parts.
    pub parts: Vec<InputPart>,
    /// The recording's length.
    pub duration: Duration,
    /// Chapters (may be empty).
    pub chapters: Vec<Chapter>,
    /// Where the outputs go (created).
    pub out_dir: PathBuf,
}

/// What was produced.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Produced {
    /// The MP4 (H.264/AAC, fast start).
    pub mp4: PathBuf,
    /// The HLS playlist (VOD); its segments are beside it.
    pub hls: PathBuf,
    /// A JPEG thumbnail.
    pub thumbnail: PathBuf,
    /// The chapters (WebVTT).
    pub chapters: PathBuf,
    /// The MP4's duration in milliseconds.
    pub duration_ms: u64,
    /// The MP4's size in bytes.
    pub bytes: u64,
}

/// A rectangle of the output picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    /// Left.
    pub x: i32,
    /// Top.
    pub y: i32,
    /// Width.
    pub w: i32,
    /// Height.
    pub h: i32,
}

/// Places video tracks (participant, source) in the picture: with a screen share, the
/// first screen takes the left three quarters and everything else stacks in the right
/// column; otherwise a near-square grid. Pure.
pub fn layout(tracks: &[(String, String)]) -> Vec<Rect> {
    let n = tracks.len() as i32;
    if n == 0 {
        return Vec::new();
    }
    if let Some(screen) = tracks.iter().position(|(_, s)| s == "screen") {
        let main_w = WIDTH * 3 / 4;
        let side = (n - 1).max(1);
        let side_h = HEIGHT / side;
        let mut next = 0;
        return (0..tracks.len())
            .map(|i| {
                if i == screen {
                    Rect {
                        x: 0,
                        y: 0,
                        w: main_w,
                        h: HEIGHT,
                    }
                } else {
                    let r = Rect {
                        x: main_w,
                        y: next * side_h,
                        w: WIDTH - main_w,
                        h: side_h,
                    };
                    next += 1;
                    r
                }
            })
            .collect();
    }
    let cols = (1..=n).find(|c| c * c >= n).unwrap_or(1);
    let rows = (n + cols - 1) / cols;
    let (w, h) = (WIDTH / cols, HEIGHT / rows);
    (0..n)
        .map(|i| Rect {
            x: (i % cols) * w,
            y: (i / cols) * h,
            w,
            h,
        })
        .collect()
}

/// WebVTT chapters: each runs to the next one's start (the last to the end). Pure.
pub fn webvtt(chapters: &[Chapter], duration: Duration) -> String {
    fn stamp(d: Duration) -> String {
        let ms = d.as_millis();
        format!(
            "{:02}:{:02}:{:02}.{:03}",
            ms / 3_600_000,
            ms / 60_000 % 60,
            ms / 1000 % 60,
            ms % 1000
        )
    }
    let mut out = String::from("WEBVTT\n");
    let mut sorted: Vec<&Chapter> = chapters.iter().filter(|c| c.start < duration).collect();
    sorted.sort_by_key(|c| c.start);
    for (i, chapter) in sorted.iter().enumerate() {
        let end = sorted.get(i + 1).map_or(duration, |n| n.start);
        if end <= chapter.start {
            continue;
        }
        let title = chapter.title.replace("-->", "→").replace('\n', " ");
        let _ = write!(
            out,
            "\n{}\n{} --> {}\n{}\n",
            i + 1,
            stamp(chapter.start),
            stamp(end),
            title
        );
    }
    out
}

/// Why production failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProductionError(pub String);

fn err(e: impl std::fmt::Display) -> ProductionError {
    ProductionError(e.to_string())
}

fn make(name: &str) -> Result<gst::Element, ProductionError> {
    gst::ElementFactory::make(name)
        .build()
        .map_err(|e| ProductionError(format!("{name}: {e}")))
}

/// Produces MP4, HLS, thumbnail and chapters. `progress` gets 0.0–1.0.
pub fn produce(
    request: &ProductionRequest,
    progress: &dyn Fn(f64),
) -> Result<Produced, ProductionError> {
    gst::init().map_err(err)?;
    std::fs::create_dir_all(&request.out_dir).map_err(err)?;
    let mp4 = request.out_dir.join("video.mp4");
    compose(request, &mp4, &|p| progress(p * 0.85))?;
    let hls_dir = request.out_dir.join("hls");
    std::fs::create_dir_all(&hls_dir).map_err(err)?;
    let hls = hls_dir.join("index.m3u8");
    segment(&mp4, &hls_dir, &hls)?;
    progress(0.95);
    let thumbnail = request.out_dir.join("thumbnail.jpg");
    take_thumbnail(&mp4, request.duration / 3, &thumbnail)?;
    let chapters = request.out_dir.join("chapters.vtt");
    std::fs::write(&chapters, webvtt(&request.chapters, request.duration)).map_err(err)?;
    let info = crate::recorder::discover(&mp4).map_err(ProductionError)?;
    progress(1.0);
    Ok(Produced {
        bytes: std::fs::metadata(&mp4).map_err(err)?.len(),
        duration_ms: info.duration.as_millis() as u64,
        mp4,
        hls,
        thumbnail,
        chapters,
    })
}

fn compose(
    request: &ProductionRequest,
    mp4: &Path,
    progress: &dyn Fn(f64),
) -> Result<(), ProductionError> {
    let frames = (request.duration.as_millis() as u64 * FPS as u64).div_ceil(1000);
    let audio_buffers = (request.duration.as_millis() as u64 * 48).div_ceil(1024);
    let description = format!(
        "compositor name=vmix background=black ! \
         video/x-raw,width={WIDTH},height={HEIGHT},framerate={FPS}/1,format=I420 ! \
         x264enc speed-preset=veryfast bframes=0 key-int-max={key} bitrate=2000 ! \
         video/x-h264,profile=high ! h264parse ! queue ! mux. \
         audiomixer name=amix ! audioconvert ! audioresample ! \
         audio/x-raw,rate=48000,channels=2 ! avenc_aac bitrate=128000 ! aacparse ! queue ! mux. \
         mp4mux name=mux faststart=true ! filesink name=out \
         videotestsrc pattern=black num-buffers={frames} ! \
         video/x-raw,width={WIDTH},height={HEIGHT},framerate={FPS}/1 ! vmix. \
         audiotestsrc wave=silence num-buffers={audio_buffers} samplesperbuffer=1024 ! \
         audio/x-raw,rate=48000,channels=2 ! amix.",
        key = FPS * 2,
    );
    let pipeline = gst::parse::launch(&description)
        .map_err(err)?
        .downcast::<gst::Pipeline>()
        .map_err(|_| ProductionError("not a pipeline".into()))?;
    pipeline
        .by_name("out")
        .ok_or_else(|| ProductionError("no sink".into()))?
        .set_property("location", mp4.to_string_lossy().as_ref());
    let vmix = pipeline
        .by_name("vmix")
        .ok_or_else(|| ProductionError("no compositor".into()))?;
    let amix = pipeline
        .by_name("amix")
        .ok_or_else(|| ProductionError("no mixer".into()))?;

    let mut tracks: Vec<(String, String)> = Vec::new();
    for part in request.parts.iter().filter(|p| p.is_video()) {
        let key = (part.participant.clone(), part.source.clone());
        if !tracks.contains(&key) {
            tracks.push(key);
        }
    }
    let rects = layout(&tracks);
    for part in &request.parts {
        let rect = tracks
            .iter()
            .position(|t| t.0 == part.participant && t.1 == part.source)
            .map(|i| rects[i]);
        add_input(&pipeline, part, rect, &vmix, &amix)?;
    }

    pipeline.set_state(gst::State::Playing).map_err(err)?;
    let bus = pipeline
        .bus()
        .ok_or_else(|| ProductionError("no bus".into()))?;
    let total = request.duration.as_nanos().max(1) as f64;
    let result = loop {
        let message = bus.timed_pop_filtered(
            gst::ClockTime::from_mseconds(500),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        );
        match message.as_ref().map(|m| m.view()) {
            Some(gst::MessageView::Eos(_)) => break Ok(()),
            Some(gst::MessageView::Error(e)) => {
                break Err(ProductionError(format!(
                    "composing: {} ({})",
                    e.error(),
                    e.debug().unwrap_or_default()
                )));
            }
            _ => {
                if let Some(position) = pipeline.query_position::<gst::ClockTime>() {
                    progress((position.nseconds() as f64 / total).min(1.0));
                }
            }
        }
    };
    let _ = pipeline.set_state(gst::State::Null);
    result
}

/// Adds one part: file → demux/decode → scale into its rectangle (video) or into the
/// mixer (audio), placed on the timeline by a pad offset.
fn add_input(
    pipeline: &gst::Pipeline,
    part: &InputPart,
    rect: Option<Rect>,
    vmix: &gst::Element,
    amix: &gst::Element,
) -> Result<(), ProductionError> {
    let src = make("filesrc")?;
    src.set_property("location", part.path.to_string_lossy().as_ref());
    let decode = make("decodebin")?;
    pipeline.add_many([&src, &decode]).map_err(err)?;
    src.link(&decode).map_err(err)?;
    let offset = part.offset.as_nanos() as i64;
    let (pipeline_weak, vmix, amix) = (pipeline.downgrade(), vmix.clone(), amix.clone());
    decode.connect_pad_added(move |_, pad| {
        let Some(pipeline) = pipeline_weak.upgrade() else {
            return;
        };
        let caps = pad.current_caps();
        let name = caps
            .as_ref()
            .and_then(|c| c.structure(0).map(|s| s.name().to_string()))
            .unwrap_or_default();
        let (chain, mixer): (&[&str], _) = if name.starts_with("video/") {
            (&["queue", "videoconvert", "videoscale"], &vmix)
        } else if name.starts_with("audio/") {
            (&["queue", "audioconvert", "audioresample"], &amix)
        } else {
            return;
        };
        let elements: Vec<gst::Element> = chain
            .iter()
            .filter_map(|n| gst::ElementFactory::make(n).build().ok())
            .collect();
        if elements.len() != chain.len() || pipeline.add_many(&elements).is_err() {
            return;
        }
        if gst::Element::link_many(&elements).is_err() {
            return;
        }
        let Some(mixer_pad) = mixer.request_pad_simple("sink_%u") else {
            return;
        };
        if let Some(r) = rect.filter(|_| name.starts_with("video/")) {
            mixer_pad.set_property("xpos", r.x);
            mixer_pad.set_property("ypos", r.y);
            mixer_pad.set_property("width", r.w);
            mixer_pad.set_property("height", r.h);
            mixer_pad.set_property("zorder", 1u32);
        }
        // The compositor shows, at each output frame, the latest input frame that starts
        // before the *next* output frame: video would run up to a whole frame early.
        // Half a frame later makes it the nearest frame instead, so a moment on screen
        // is within half a frame of its sound.
        //
        // The AAC encoder delays its output by one frame of priming (1024 samples) and
        // nothing downstream removes it, so audio goes in that much earlier.
        let shift = if name.starts_with("video/") {
            1_000_000_000 / (2 * i64::from(FPS))
        } else {
            -AAC_PRIMING_NS
        };
        mixer_pad.set_offset(offset + shift);
        let (Some(first), Some(last)) = (elements.first(), elements.last()) else {
            return;
        };
        let (Some(first_sink), Some(last_src)) = (first.static_pad("sink"), last.static_pad("src"))
        else {
            return;
        };
        let _ = last_src.link(&mixer_pad);
        for e in &elements {
            let _ = e.sync_state_with_parent();
        }
        let _ = pad.link(&first_sink);
    });
    Ok(())
}

/// Cuts the MP4 into HLS segments without re-encoding, and marks the playlist VOD.
fn segment(mp4: &Path, dir: &Path, playlist: &Path) -> Result<(), ProductionError> {
    let description = "filesrc name=in ! qtdemux name=d \
         d.video_0 ! queue ! h264parse ! hls.video \
         d.audio_0 ! queue ! aacparse ! hls.audio \
         hlssink2 name=hls target-duration=6 playlist-length=0 max-files=0";
    let pipeline = gst::parse::launch(description)
        .map_err(err)?
        .downcast::<gst::Pipeline>()
        .map_err(|_| ProductionError("not a pipeline".into()))?;
    let by = |n: &str| {
        pipeline
            .by_name(n)
            .ok_or_else(|| ProductionError(format!("no {n}")))
    };
    by("in")?.set_property("location", mp4.to_string_lossy().as_ref());
    let hls = by("hls")?;
    hls.set_property(
        "location",
        dir.join("segment%05d.ts").to_string_lossy().as_ref(),
    );
    hls.set_property("playlist-location", playlist.to_string_lossy().as_ref());
    // Segment URIs relative to the playlist, so the directory can be served anywhere.
    hls.set_property("playlist-root", None::<&str>);
    run_to_end(&pipeline, "segmenting")?;
    let text = std::fs::read_to_string(playlist).map_err(err)?;
    let text = text.replace(&format!("{}/", dir.display()), "");
    let mut vod = String::new();
    for line in text.lines() {
        vod.push_str(line);
        vod.push('\n');
        if line == "#EXTM3U" {
            vod.push_str("#EXT-X-PLAYLIST-TYPE:VOD\n");
        }
    }
    if !vod.contains("#EXT-X-ENDLIST") {
        vod.push_str("#EXT-X-ENDLIST\n");
    }
    std::fs::write(playlist, vod).map_err(err)?;
    Ok(())
}

fn take_thumbnail(mp4: &Path, at: Duration, out: &Path) -> Result<(), ProductionError> {
    let description = "filesrc name=in ! qtdemux ! h264parse ! avdec_h264 ! videoconvert ! \
         videoscale ! video/x-raw,width=480,height=270 ! jpegenc ! appsink name=out";
    let pipeline = gst::parse::launch(description)
        .map_err(err)?
        .downcast::<gst::Pipeline>()
        .map_err(|_| ProductionError("not a pipeline".into()))?;
    pipeline
        .by_name("in")
        .ok_or_else(|| ProductionError("no source".into()))?
        .set_property("location", mp4.to_string_lossy().as_ref());
    let sink = pipeline
        .by_name("out")
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .ok_or_else(|| ProductionError("no appsink".into()))?;
    pipeline.set_state(gst::State::Paused).map_err(err)?;
    let _ = pipeline.state(gst::ClockTime::from_seconds(10));
    let _ = pipeline.seek_simple(
        gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT,
        gst::ClockTime::from_nseconds(at.as_nanos() as u64),
    );
    let _ = pipeline.state(gst::ClockTime::from_seconds(10));
    let sample = sink.pull_preroll();
    let _ = pipeline.set_state(gst::State::Null);
    let sample = sample.map_err(|_| ProductionError("no frame for the thumbnail".into()))?;
    let buffer = sample
        .buffer()
        .ok_or_else(|| ProductionError("empty thumbnail".into()))?;
    let map = buffer.map_readable().map_err(err)?;
    std::fs::write(out, map.as_slice()).map_err(err)?;
    Ok(())
}

fn run_to_end(pipeline: &gst::Pipeline, what: &str) -> Result<(), ProductionError> {
    pipeline.set_state(gst::State::Playing).map_err(err)?;
    crate::recorder::await_end(pipeline, gst::ClockTime::from_seconds(3600))
        .map_err(|e| ProductionError(format!("{what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(p: &str, s: &str) -> (String, String) {
        (p.to_owned(), s.to_owned())
    }

    #[test]
    fn a_screen_share_is_large_and_cameras_stack_beside_it() {
        let rects = layout(&[
            track("a", "camera"),
            track("a", "screen"),
            track("b", "camera"),
        ]);
        assert_eq!(
            rects[1],
            Rect {
                x: 0,
                y: 0,
                w: 960,
                h: 720
            }
        );
        assert_eq!(
            rects[0],
            Rect {
                x: 960,
                y: 0,
                w: 320,
                h: 360
            }
        );
        assert_eq!(
            rects[2],
            Rect {
                x: 960,
                y: 360,
                w: 320,
                h: 360
            }
        );
    }

    #[test]
    fn cameras_share_a_near_square_grid() {
        assert_eq!(
            layout(&[track("a", "camera")]),
            vec![Rect {
                x: 0,
                y: 0,
                w: 1280,
                h: 720
            }]
        );
        let five = layout(
            &(0..5)
                .map(|i| track(&i.to_string(), "camera"))
                .collect::<Vec<_>>(),
        );
        assert_eq!(five.len(), 5);
        assert_eq!(
            five[4],
            Rect {
                x: 426,
                y: 360,
                w: 426,
                h: 360
            }
        );
        assert!(
            five.iter()
                .all(|r| r.x + r.w <= WIDTH && r.y + r.h <= HEIGHT)
        );
    }

    #[test]
    fn chapters_run_to_the_next_and_the_last_to_the_end() {
        let vtt = webvtt(
            &[
                Chapter {
                    start: Duration::from_secs(65),
                    title: "问答 Q&A".into(),
                },
                Chapter {
                    start: Duration::ZERO,
                    title: "陈述 --> x".into(),
                },
                Chapter {
                    start: Duration::from_secs(9999),
                    title: "after the end".into(),
                },
            ],
            Duration::from_millis(3_723_004),
        );
        assert_eq!(
            vtt,
            "WEBVTT\n\n1\n00:00:00.000 --> 00:01:05.000\n陈述 → x\n\n2\n00:01:05.000 --> 01:02:03.004\n问答 Q&A\n"
        );
    }
}
