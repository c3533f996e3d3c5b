//! Backups round-trip: a database with bookings, scores, chat, ratings, samples and an
//! audit log is backed up while open, then damaged, then restored; everything reads
//! back the same and the audit chain verifies. SQLite through the `viva` binary,
//! PostgreSQL (pg_dump / pg_restore) through the same functions.

use std::process::Command;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use scheduler::record::{
    ChatMessage, NewAuditEntry, Rating, ScoreSheetRecord, StreamSampleRecord, verify_chain,
};
use scheduler::{NewParticipant, NewSession, PersonName, Role, SessionKind, Store, Title};

/// Writes a bit of everything; returns the booked session ids.
async fn seed(store: &Arc<dyn Store>, label: &str) -> Vec<uuid::Uuid> {
    let mut ids = Vec::new();
    for i in 0..3 {
        let start: DateTime<Utc> =
            "2026-05-01T01:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::days(i);
        let people = [
            ("秘书", Role::Host),
            ("专家", Role::Expert),
            ("申请人", Role::Applicant),
        ]
        .iter()
        .map(|(n, r)| NewParticipant {
            name: PersonName::parse(n).unwrap(),
            role: *r,
            person: None,
        })
        .collect();
        let new = NewSession::parse(
            Title::parse(&format!("{label}{i}")).unwrap(),
            SessionKind::Defense,
            start,
            60,
            chrono_tz::Asia::Shanghai,
            people,
        )
        .unwrap();
        let (s, p) = store.create_session(&new).await.unwrap();
        store
            .save_score_sheet(&ScoreSheetRecord {
                session_id: s.id,
                expert_id: p[1].id,
                scores: vec![9, 8, 7, 6],
                comment: "好".into(),
                submitted_at: start,
                locked: true,
                reopen_reason: None,
            })
            .await
            .unwrap();
        store
            .save_rating(&Rating {
                session_id: s.id,
                participant_id: p[2].id,
                role: Role::Applicant,
                stars: 5,
                comment: "顺利".into(),
                at: start,
            })
            .await
            .unwrap();
        store
            .post_chat(&ChatMessage {
                id: uuid::Uuid::new_v4(),
                session_id: s.id,
                author_id: p[0].id,
                author_name: "秘书".into(),
                text: "开始".into(),
                at: start,
                removed: false,
            })
            .await
            .unwrap();
        store
            .record_samples(&[StreamSampleRecord {
                session_id: s.id,
                participant_id: p[2].id,
                at: start,
                seconds: 2.0,
                direction: "up".into(),
                track: "camera".into(),
                packets: 250,
                lost: 3,
                kbps: 900.0,
                jitter_ms: 3.5,
                rtt_ms: Some(12.0),
                keyframes: 1,
                freezes: 0,
                frames: 30,
                nacks: 0,
                plis: 0,
            }])
            .await
            .unwrap();
        store
            .append_audit(&NewAuditEntry {
                at: start,
                session_id: Some(s.id),
                actor: "system".into(),
                action: "seed".into(),
                detail: serde_json::json!({"i": i}),
            })
            .await
            .unwrap();
        ids.push(s.id);
    }
    ids
}

/// Everything the seed wrote, as comparable text.
async fn fingerprint(store: &Arc<dyn Store>, sessions: &[uuid::Uuid]) -> String {
    let mut out = String::new();
    for id in sessions {
        let s = store.session(*id).await.unwrap();
        out += &format!("{s:?}\n{:?}\n", store.participants(*id).await.unwrap());
        out += &format!(
            "{:?}\n{:?}\n",
            store.score_sheets(*id).await.unwrap(),
            store.ratings(*id).await.unwrap()
        );
        out += &format!(
            "{:?}\n{:?}\n",
            store.chat(*id).await.unwrap(),
            store.samples(*id).await.unwrap()
        );
    }
    let audit = store.audit_log(0, 1000).await.unwrap();
    assert_eq!(
        verify_chain(&audit),
        Ok(audit.len()),
        "the audit chain verifies"
    );
    out + &format!("{audit:?}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_backup_restores_everything_and_lists_the_recordings() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("data/viva.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let url = format!("sqlite://{}", db.display());
    let recordings = dir.path().join("data/recordings/2026");
    std::fs::create_dir_all(&recordings).unwrap();
    std::fs::write(recordings.join("part-0001.webm"), b"not really a video").unwrap();
    let store: Arc<dyn Store> = Arc::new(scheduler::SqliteStore::open(&url).await.unwrap());
    let sessions = seed(&store, "答辩").await;
    let before = fingerprint(&store, &sessions).await;

    let viva = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_viva"))
            .args(args)
            .current_dir(dir.path())
            .env("VIVA_DATABASE__URL", &url)
            .env("VIVA_STORAGE__DATA_DIR", dir.path().join("data"))
            .env("VIVA_BACKUP__DIR", dir.path().join("backups"))
            .output()
            .unwrap()
    };
    // Online: the store above stays open while the backup runs.
    let out = viva(&["backup"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(printed.contains("1 recorded assets"), "{printed}");
    let mut files: Vec<_> = std::fs::read_dir(dir.path().join("backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    // Password hashes and everything behind the join links: the owner's only.
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("backups")), 0o700);
        for file in &files {
            assert_eq!(mode(file), 0o600, "{}", file.display());
        }
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
    assert_eq!(
        manifest["assets"][0]["path"],
        "recordings/2026/part-0001.webm"
    );
    assert_eq!(manifest["assets"][0]["bytes"], 18);
    assert_eq!(manifest["assets"][0]["sha256"].as_str().unwrap().len(), 64);
    let snapshot = files[1].clone();
    let recorded = store
        .backups(
            Utc::now() - Duration::hours(1),
            Utc::now() + Duration::hours(1),
        )
        .await
        .unwrap();
    assert!(
        recorded.len() == 1 && recorded[0].ok && recorded[0].bytes > 0,
        "{recorded:?}"
    );

    // After the backup: a session booked, then the database lost.
    seed(&store, "之后").await;
    drop(store);
    std::fs::write(&db, b"garbage").unwrap();
    let out = viva(&["restore", snapshot.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store: Arc<dyn Store> = Arc::new(scheduler::SqliteStore::open(&url).await.unwrap());
    assert_eq!(fingerprint(&store, &sessions).await, before, "nothing lost");
    let all = store
        .sessions_between(
            Utc::now() - Duration::days(3650),
            Utc::now() + Duration::days(3650),
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 3, "what came after the backup is not in it");

    // A file that is not a Viva database is refused and changes nothing.
    std::fs::write(dir.path().join("bogus.sqlite"), b"no").unwrap();
    let out = viva(&["restore", dir.path().join("bogus.sqlite").to_str().unwrap()]);
    assert!(!out.status.success());
    assert_eq!(fingerprint(&store, &sessions).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_backup_restores_everything() {
    let Some(url) = crate::helpers::fresh_postgres_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut config = viva::config::Config::default();
    config.database.url = url.clone();
    config.storage.data_dir = dir.path().join("data");
    config.backup.dir = dir.path().join("backups");
    let store: Arc<dyn Store> = Arc::new(scheduler::PgStore::open(&url).await.unwrap());
    let sessions = seed(&store, "答辩").await;
    let before = fingerprint(&store, &sessions).await;
    let outcome = viva::backup::backup(store.as_ref(), &config).await.unwrap();
    assert!(outcome.bytes > 0);
    seed(&store, "之后").await;
    viva::backup::restore(&config, &outcome.snapshot)
        .await
        .unwrap();
    let store: Arc<dyn Store> = Arc::new(scheduler::PgStore::open(&url).await.unwrap());
    assert_eq!(fingerprint(&store, &sessions).await, before, "nothing lost");
    let all = store
        .sessions_between(
            Utc::now() - Duration::days(3650),
            Utc::now() + Duration::days(3650),
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 3, "what came after the backup is not in it");
}
