//! Recordings, their parts and post-production jobs.

use super::*;

async fn recordings_parts_and_production_jobs_are_kept(b: Backend) {
    use scheduler::record::{ProductionJob, RecordingPart, RecordingRecord};
    let w = world(b.store).await;
    let (s, _) = w
        .store
        .create_session(&w.defense(0, &[0, 1, 2], at(9, 0), 45, 0))
        .await
        .unwrap();
    assert_eq!(w.store.recording_policy(s.id).await.unwrap(), None);
    w.store.set_recording_policy(s.id, false).await.unwrap();
    w.store.set_recording_policy(s.id, true).await.unwrap();
    assert_eq!(w.store.recording_policy(s.id).await.unwrap(), Some(true));
    let mut recording = RecordingRecord {
        id: Uuid::new_v4(),
        session_id: s.id,
        started_at: at(9, 1),
        stopped_at: None,
        state: "recording".into(),
        error: None,
    };
    w.store.create_recording(&recording).await.unwrap();
    let part = |source: &str, index: i64, offset_ms: i64| RecordingPart {
        id: Uuid::new_v4(),
        recording_id: recording.id,
        participant: "p".into(),
        source: source.into(),
        codec: "VP8".into(),
        index,
        path: format!("{}/p-{source}-{index:03}.mkv", recording.id),
        offset_ms,
        opened_at: at(9, 1),
        closed: false,
        clean: false,
        bytes: 0,
    };
    let second = part("camera", 1, 300_000);
    w.store.add_recording_part(&second).await.unwrap();
    w.store
        .add_recording_part(&part("camera", 0, 40))
        .await
        .unwrap();
    assert!(
        w.store.add_recording_part(&second).await.is_err(),
        "one row per file"
    );
    w.store
        .close_recording_part(&second.path, 4096, true)
        .await
        .unwrap();
    let parts = w.store.recording_parts(recording.id).await.unwrap();
    assert_eq!(
        parts.iter().map(|p| p.offset_ms).collect::<Vec<_>>(),
        vec![40, 300_000]
    );
    assert!(!parts[0].closed);
    assert_eq!(
        (parts[1].closed, parts[1].clean, parts[1].bytes),
        (true, true, 4096)
    );
    assert_eq!(
        w.store.recordings_in_state("recording").await.unwrap(),
        vec![recording.clone()]
    );
    recording.state = "stopped".into();
    recording.stopped_at = Some(at(9, 40));
    w.store.update_recording(&recording).await.unwrap();
    assert_eq!(
        w.store.recording(recording.id).await.unwrap(),
        Some(recording.clone())
    );
    assert_eq!(
        w.store.recordings_of_session(s.id).await.unwrap(),
        vec![recording.clone()]
    );
    let mut job = ProductionJob::queued(recording.id, at(9, 41));
    w.store.save_production_job(&job).await.unwrap();
    job.state = "running".into();
    job.attempts = 1;
    job.progress = 0.5;
    w.store.save_production_job(&job).await.unwrap();
    assert_eq!(w.store.production_jobs("queued").await.unwrap(), vec![]);
    assert_eq!(
        w.store.production_jobs("running").await.unwrap(),
        vec![job.clone()]
    );
    assert_eq!(
        w.store.production_job_of(recording.id).await.unwrap(),
        Some(job)
    );
    assert_eq!(w.store.recording_expired(recording.id).await.unwrap(), None);
    w.store
        .expire_recording(recording.id, at(12, 0))
        .await
        .unwrap();
    w.store
        .expire_recording(recording.id, at(13, 0))
        .await
        .unwrap();
    assert_eq!(
        w.store.recording_expired(recording.id).await.unwrap(),
        Some(at(12, 0)),
        "the first expiry stands"
    );
}

conformance!(recordings_parts_and_production_jobs_are_kept,);
