//! Post-production jobs: persisted in the store, run by a worker inside `viva serve`
//! with bounded concurrency, resumed after a restart, retried, and failed with a reason.
//!
//! A job is queued when a recording stops (or is recovered after a crash). The worker
//! takes queued jobs, marks them running (one more attempt), runs
//! [`media::production::produce`] on a blocking thread and stores progress as it goes
//! (at most every 5 points). Success stores the outputs; failure queues the job again
//! until [`MAX_ATTEMPTS`], then marks it failed with the reason. Raw parts are never
//! touched by any of this. At start, jobs left `running` by a dead process go back to
//! the queue.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use media::production::{Chapter, InputPart, ProductionRequest};
use scheduler::record::ProductionJob;
use tokio::sync::{Semaphore, mpsc};
use uuid::Uuid;

use crate::state::AppState;

/// Attempts before a job is failed for good.
pub const MAX_ATTEMPTS: i64 = 3;

/// The directory of a recording's produced files.
pub fn produced_dir(data_dir: &Path, session: Uuid, recording: Uuid) -> PathBuf {
    crate::recording::recordings_dir(data_dir)
        .join(session.to_string())
        .join(recording.to_string())
        .join("produced")
}

/// Starts the worker: re-queues interrupted jobs, then runs queued ones, at most
/// `concurrency` at a time, whenever one is announced and every 30 s.
pub fn spawn_worker(state: AppState, concurrency: usize) -> tokio::task::JoinHandle<()> {
    let (tx, mut announced) = mpsc::unbounded_channel();
    state.recordings.announce_jobs_to(tx);
    tokio::spawn(async move {
        match state.store.production_jobs("running").await {
            Ok(interrupted) => {
                for mut job in interrupted {
                    tracing::warn!(job = %job.id, "post-production interrupted by a stop; resuming");
                    job.state = "queued".into();
                    job.updated_at = Utc::now();
                    let _ = state.store.save_production_job(&job).await;
                }
            }
            Err(e) => tracing::error!(error = %e, "post-production jobs unreadable"),
        }
        let slots = Arc::new(Semaphore::new(concurrency.max(1)));
        // Jobs handed to a runner and not finished yet: never taken twice.
        let in_flight = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
        loop {
            let queued = state
                .store
                .production_jobs("queued")
                .await
                .unwrap_or_default();
            for job in queued {
                if !in_flight
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(job.id)
                {
                    continue;
                }
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    return;
                };
                let (state, in_flight) = (state.clone(), in_flight.clone());
                tokio::spawn(async move {
                    let id = job.id;
                    run(&state, job).await;
                    in_flight
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&id);
                    drop(permit);
                });
            }
            tokio::select! {
                _ = announced.recv() => {}
                () = tokio::time::sleep(Duration::from_secs(30)) => {}
            }
        }
    })
}

async fn save(state: &AppState, job: &ProductionJob) {
    if let Err(e) = state.store.save_production_job(job).await {
        tracing::error!(job = %job.id, error = %e, "post-production job not saved");
    }
}

async fn run(state: &AppState, mut job: ProductionJob) {
    job.state = "running".into();
    job.attempts += 1;
    job.progress = 0.0;
    job.updated_at = Utc::now();
    save(state, &job).await;
    let outcome = match request(state, job.recording_id).await {
        Ok(request) => produce(state, &job, request).await,
        Err(e) => Err(e),
    };
    job.updated_at = Utc::now();
    match outcome {
        Ok(outputs) => {
            job.state = "done".into();
            job.progress = 1.0;
            job.error = None;
            job.outputs = Some(outputs);
            tracing::info!(job = %job.id, "post-production done");
        }
        Err(reason) => {
            job.error = Some(reason.clone());
            job.state = if job.attempts >= MAX_ATTEMPTS {
                "failed".into()
            } else {
                "queued".into()
            };
            tracing::warn!(job = %job.id, attempts = job.attempts, %reason, "post-production failed");
            if job.state == "failed" {
                state.alerts.send(crate::alerts::Alert {
                    kind: "productionFailed",
                    message: format!(
                        "post-production failed after {} attempts: {reason}",
                        job.attempts
                    ),
                    session_id: None,
                    participant_id: None,
                    at: Utc::now(),
                });
            }
        }
    }
    save(state, &job).await;
    if job.state == "queued" {
        // Retried after a pause, not in a tight loop.
        let state = state.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            state.recordings.announce(job.id);
        });
    }
}

/// Builds the request from the store: the parts on the timeline, the recording's
/// length, and the agenda's phases as chapters.
async fn request(state: &AppState, recording_id: Uuid) -> Result<ProductionRequest, String> {
    let recording = state
        .store
        .recording(recording_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the recording is gone")?;
    let parts = state
        .store
        .recording_parts(recording_id)
        .await
        .map_err(|e| e.to_string())?;
    if parts.is_empty() {
        return Err("nothing was recorded (no media reached the room)".into());
    }
    let base = crate::recording::recordings_dir(&state.settings.data_dir);
    let inputs: Vec<InputPart> = parts
        .iter()
        .map(|p| InputPart {
            path: base.join(&p.path),
            participant: p.participant.clone(),
            source: p.source.clone(),
            offset: Duration::from_millis(p.offset_ms.max(0) as u64),
        })
        .collect();
    // The length: to the end of the last part. A cleanly closed part states its
    // duration in its index; parts of a crash have none and are measured by demuxing.
    let ends = {
        let measured: Vec<(InputPart, bool)> = inputs
            .iter()
            .cloned()
            .zip(parts.iter().map(|p| p.clean))
            .collect();
        tokio::task::spawn_blocking(move || {
            measured
                .iter()
                .map(|(p, clean)| {
                    let length = if *clean {
                        media::recorder::discover(&p.path).map(|info| info.duration)
                    } else {
                        media::recorder::demux(&p.path)
                            .map(|streams| streams.iter().map(|s| s.span).max().unwrap_or_default())
                    };
                    length.map(|l| p.offset + l)
                })
                .collect::<Result<Vec<_>, String>>()
        })
        .await
        .map_err(|e| e.to_string())??
    };
    let duration = ends.into_iter().max().unwrap_or_default();
    let started = recording.started_at;
    let chapters = state
        .store
        .phases(recording.session_id)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|(_, at)| *at >= started)
        .map(|(phase, at)| Chapter {
            start: (at - started).to_std().unwrap_or_default(),
            title: chapter_title(&phase),
        })
        .collect();
    Ok(ProductionRequest {
        parts: inputs,
        duration,
        chapters,
        out_dir: produced_dir(&state.settings.data_dir, recording.session_id, recording.id),
    })
}

/// Chapter titles in both languages the institute reads.
fn chapter_title(phase: &str) -> String {
    match phase {
        "presentation" => "陈述 Presentation".into(),
        "qa" => "问答 Questions".into(),
        "deliberation" => "评议 Deliberation".into(),
        "scoring" => "评分 Scoring".into(),
        "closed" => "结束 Closed".into(),
        other => other.to_owned(),
    }
}

async fn produce(
    state: &AppState,
    job: &ProductionJob,
    request: ProductionRequest,
) -> Result<String, String> {
    let (progress_tx, mut progress_rx) = mpsc::unbounded_channel::<f64>();
    let work = tokio::task::spawn_blocking(move || {
        media::production::produce(&request, &|p| {
            let _ = progress_tx.send(p);
        })
    });
    let mut stored = 0.0;
    let mut job = job.clone();
    while let Some(p) = progress_rx.recv().await {
        if p - stored >= 0.05 {
            stored = p;
            job.progress = p;
            job.updated_at = Utc::now();
            save(state, &job).await;
        }
    }
    let produced = work
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let base = crate::recording::recordings_dir(&state.settings.data_dir);
    let relative = |p: &Path| {
        p.strip_prefix(&base)
            .unwrap_or(p)
            .to_string_lossy()
            .into_owned()
    };
    Ok(serde_json::json!({
        "mp4": relative(&produced.mp4),
        "hls": relative(&produced.hls),
        "thumbnail": relative(&produced.thumbnail),
        "chapters": relative(&produced.chapters),
        "durationMs": produced.duration_ms,
        "bytes": produced.bytes,
    })
    .to_string())
}
