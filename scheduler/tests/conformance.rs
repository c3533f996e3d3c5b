//! One behaviour suite for every `Store` backend: each rule of booking integrity, its
//! allowed edge cases, and a 100-way concurrent booking race. Runs against SQLite
//! always and against PostgreSQL when `VIVA_TEST_POSTGRES_URL` names a server
//! (`scripts/test.sh` starts a throwaway one; under CI the variable is required).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use chrono::{DateTime, Utc};
use scheduler::domain::{NewParticipant, NewSession, PersonName, Role, SessionKind, Title};
use scheduler::model::{ConflictTarget, NewPerson, NewProject};
use scheduler::{BookingConflict, PgStore, SqliteStore, Store, StoreError};
use uuid::Uuid;

struct Backend {
    store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
}

async fn sqlite() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("conformance.db").display());
    Backend {
        store: Arc::new(SqliteStore::open(&url).await.unwrap()),
        _dir: Some(dir),
    }
}

async fn postgres() -> Option<Backend> {
    let Ok(url) = std::env::var("VIVA_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "VIVA_TEST_POSTGRES_URL must be set under CI (scripts/test.sh sets it)"
        );
        eprintln!("PostgreSQL conformance skipped: VIVA_TEST_POSTGRES_URL is not set");
        return None;
    };
    // A fresh database per test keeps tests independent.
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    let name = format!("viva_test_{}", Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .unwrap();
    let db_url = if let Some((base, query)) = url.split_once('?') {
        format!("{}/{name}?{query}", base.trim_end_matches("/postgres"))
    } else {
        format!("{}/{name}", url.trim_end_matches("/postgres"))
    };
    Some(Backend {
        store: Arc::new(PgStore::open(&db_url).await.unwrap()),
        _dir: None,
    })
}

/// A small institute: two organisations, a programme (panels of 3–5), experts,
/// applicants with projects, and two rooms.
struct World {
    store: Arc<dyn Store>,
    org_a: Uuid,
    org_b: Uuid,
    /// Experts of organisation B.
    experts: Vec<(Uuid, String)>,
    /// An expert of organisation A (the applicants' organisation).
    expert_same_org: (Uuid, String),
    applicants: Vec<(Uuid, String)>,
    projects: Vec<Uuid>,
    trainer: (Uuid, String),
    host: (Uuid, String),
    rooms: Vec<Uuid>,
}

async fn person(store: &Arc<dyn Store>, name: &str, org: Uuid, role: Role) -> (Uuid, String) {
    let p = store
        .create_person(&NewPerson {
            name: PersonName::parse(name).unwrap(),
            email: Some(format!("{}@example.org", Uuid::new_v4().simple())),
            organisation: Some(org),
            roles: vec![role],
            fields: vec!["农业".into()],
            time_zone: chrono_tz::Asia::Shanghai,
        })
        .await
        .unwrap();
    (p.id, p.name)
}

async fn world(store: Arc<dyn Store>) -> World {
    let org_a = store.create_organisation("甲农业大学").await.unwrap().id;
    let org_b = store.create_organisation("乙科学院").await.unwrap().id;
    let programme = store.create_programme("重点研发", 3, 5).await.unwrap().id;
    let mut experts = Vec::new();
    for i in 0..6 {
        experts.push(person(&store, &format!("专家{i}"), org_b, Role::Expert).await);
    }
    let expert_same_org = person(&store, "同单位专家", org_a, Role::Expert).await;
    let mut applicants = Vec::new();
    let mut projects = Vec::new();
    for i in 0..3 {
        let applicant = person(&store, &format!("申请人{i}"), org_a, Role::Applicant).await;
        let project = store
            .create_project(&NewProject {
                code: format!("2026-NY-{i:04}"),
                title: format!("项目{i}"),
                programme,
                applicant: applicant.0,
                organisation: org_a,
                field: "农业".into(),
            })
            .await
            .unwrap();
        applicants.push(applicant);
        projects.push(project.id);
    }
    let trainer = person(&store, "培训讲师", org_b, Role::Trainer).await;
    let host = person(&store, "秘书", org_b, Role::Host).await;
    let rooms = vec![
        store.create_room("第一会议室").await.unwrap(),
        store.create_room("第二会议室").await.unwrap(),
    ];
    World {
        store,
        org_a,
        org_b,
        experts,
        expert_same_org,
        applicants,
        projects,
        trainer,
        host,
        rooms,
    }
}

fn at(hour: u32, minute: u32) -> DateTime<Utc> {
    format!("2026-12-01T{hour:02}:{minute:02}:00Z")
        .parse()
        .unwrap()
}

fn participant(who: &(Uuid, String), role: Role) -> NewParticipant {
    NewParticipant {
        name: PersonName::parse(&who.1).unwrap(),
        role,
        person: Some(who.0),
    }
}

impl World {
    /// A defense of project `p` with experts `e` (indices into `experts`).
    fn defense(
        &self,
        p: usize,
        e: &[usize],
        start: DateTime<Utc>,
        minutes: i64,
        buffer: i64,
    ) -> NewSession {
        let mut participants = vec![
            participant(&self.host, Role::Host),
            participant(&self.applicants[p], Role::Applicant),
        ];
        participants.extend(
            e.iter()
                .map(|i| participant(&self.experts[*i], Role::Expert)),
        );
        NewSession::parse(
            Title::parse(&format!("项目{p}答辩")).unwrap(),
            SessionKind::Defense,
            start,
            minutes,
            chrono_tz::Asia::Shanghai,
            participants,
        )
        .unwrap()
        .with_booking(Some(self.projects[p]), None, buffer)
        .unwrap()
    }

    fn in_room(mut s: NewSession, room: Uuid) -> NewSession {
        s.room = Some(room);
        s
    }

    fn training(&self, start: DateTime<Utc>, minutes: i64) -> NewSession {
        NewSession::parse(
            Title::parse("种植技术培训").unwrap(),
            SessionKind::Training,
            start,
            minutes,
            chrono_tz::Asia::Shanghai,
            vec![
                participant(&self.trainer, Role::Trainer),
                participant(&self.host, Role::Host),
            ],
        )
        .unwrap()
    }
}

fn double_booked(result: Result<impl std::fmt::Debug, StoreError>) -> BookingConflict {
    match result {
        Err(StoreError::Booking(c @ BookingConflict::DoubleBooked { .. })) => c,
        other => panic!("expected a double booking refusal, got {other:?}"),
    }
}

async fn an_expert_in_two_overlapping_defenses_is_refused_by_name(b: Backend) {
    let w = world(b.store).await;
    let (first, _) = w
        .store
        .create_session(&w.defense(0, &[0, 1, 2], at(1, 0), 40, 0))
        .await
        .unwrap();
    let refused = double_booked(
        w.store
            .create_session(&w.defense(1, &[2, 3, 4], at(1, 30), 40, 0))
            .await,
    );
    let BookingConflict::DoubleBooked {
        resource,
        other_session,
        other_title,
        ..
    } = &refused
    else {
        unreachable!()
    };
    assert_eq!(resource, "专家2");
    assert_eq!(*other_session, first.id);
    assert_eq!(other_title, "项目0答辩");
    assert!(refused.to_string().contains("专家2"), "{refused}");
    // Nothing of the refused booking was stored.
    let stored = w.store.sessions_between(at(0, 0), at(23, 0)).await.unwrap();
    assert_eq!(stored.len(), 1);
}

async fn back_to_back_defenses_share_experts(b: Backend) {
    let w = world(b.store).await;
    w.store
        .create_session(&w.defense(0, &[0, 1, 2], at(1, 0), 40, 0))
        .await
        .unwrap();
    w.store
        .create_session(&w.defense(1, &[0, 1, 2], at(1, 40), 40, 0))
        .await
        .unwrap();
}

async fn the_buffer_counts_as_booked_time(b: Backend) {
    let w = world(b.store).await;
    w.store
        .create_session(&w.defense(0, &[0, 1, 2], at(1, 0), 40, 10))
        .await
        .unwrap();
    double_booked(
        w.store
            .create_session(&w.defense(1, &[0, 3, 4], at(1, 45), 40, 0))
            .await,
    );
    w.store
        .create_session(&w.defense(1, &[0, 3, 4], at(1, 50), 40, 0))
        .await
        .unwrap();
}

async fn a_room_cannot_host_two_sessions_at_once(b: Backend) {
    let w = world(b.store).await;
    let room = w.rooms[0];
    w.store
        .create_session(&World::in_room(
            w.defense(0, &[0, 1, 2], at(2, 0), 40, 0),
            room,
        ))
        .await
        .unwrap();
    let refused = double_booked(
        w.store
            .create_session(&World::in_room(
                w.defense(1, &[3, 4, 5], at(2, 20), 40, 0),
                room,
            ))
            .await,
    );
    assert!(refused.to_string().contains("第一会议室"), "{refused}");
    w.store
        .create_session(&World::in_room(
            w.defense(1, &[3, 4, 5], at(2, 20), 40, 0),
            w.rooms[1],
        ))
        .await
        .unwrap();
}

async fn an_applicant_cannot_defend_twice_at_once(b: Backend) {
    let w = world(b.store).await;
    w.store
        .create_session(&w.defense(0, &[0, 1, 2], at(3, 0), 40, 0))
        .await
        .unwrap();
    let mut again = w.defense(0, &[3, 4, 5], at(3, 10), 40, 0);
    again.project = Some(w.projects[0]);
    let refused = double_booked(w.store.create_session(&again).await);
    assert!(refused.to_string().contains("申请人0"), "{refused}");
}

async fn a_trainer_is_held_but_hosts_are_not(b: Backend) {
    let w = world(b.store).await;
    w.store
        .create_session(&w.training(at(4, 0), 60))
        .await
        .unwrap();
    let refused = double_booked(w.store.create_session(&w.training(at(4, 30), 60)).await);
    assert!(refused.to_string().contains("培训讲师"), "{refused}");
    // The same host runs an overlapping defense: allowed (secretaries are not held).
    w.store
        .create_session(&w.defense(0, &[0, 1, 2], at(4, 15), 40, 0))
        .await
        .unwrap();
}

async fn experts_with_a_conflict_of_interest_are_refused(b: Backend) {
    let w = world(b.store).await;
    // Same organisation as the applicant's project.
    let mut same_org = w.defense(0, &[0, 1], at(5, 0), 40, 0);
    same_org
        .participants
        .push(participant(&w.expert_same_org, Role::Expert));
    match w.store.create_session(&same_org).await {
        Err(StoreError::Booking(BookingConflict::ConflictOfInterest { expert, project })) => {
            assert_eq!(expert, "同单位专家");
            assert_eq!(project, "2026-NY-0000");
        }
        other => panic!("expected a conflict of interest, got {other:?}"),
    }
    // Declared conflict with one project.
    w.store
        .declare_conflict(
            w.experts[5].0,
            ConflictTarget::Project(w.projects[1]),
            "合作者",
        )
        .await
        .unwrap();
    assert!(matches!(
        w.store
            .create_session(&w.defense(1, &[0, 1, 5], at(6, 0), 40, 0))
            .await,
        Err(StoreError::Booking(
            BookingConflict::ConflictOfInterest { .. }
        ))
    ));
    // ... which does not extend to other projects.
    w.store
        .create_session(&w.defense(2, &[0, 1, 5], at(6, 0), 40, 0))
        .await
        .unwrap();
    // Declared conflict with a whole organisation.
    w.store
        .declare_conflict(
            w.experts[4].0,
            ConflictTarget::Organisation(w.org_a),
            "前雇主",
        )
        .await
        .unwrap();
    assert!(matches!(
        w.store
            .create_session(&w.defense(1, &[2, 3, 4], at(7, 0), 40, 0))
            .await,
        Err(StoreError::Booking(
            BookingConflict::ConflictOfInterest { .. }
        ))
    ));
    let _ = w.org_b;
    // Nothing of the refused bookings remains.
    assert_eq!(
        w.store
            .sessions_between(at(0, 0), at(23, 0))
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn panel_size_follows_the_programme(b: Backend) {
    let w = world(b.store).await;
    for (experts, ok) in [
        (&[0usize, 1][..], false),
        (&[0, 1, 2][..], true),
        (&[0, 1, 2, 3, 4, 5][..], false),
    ] {
        let result = w
            .store
            .create_session(&w.defense(0, experts, at(8, 0), 40, 0))
            .await;
        match (ok, result) {
            (true, Ok(_)) => {}
            (
                false,
                Err(StoreError::Booking(BookingConflict::PanelSize {
                    experts: n,
                    min,
                    max,
                    ..
                })),
            ) => {
                assert_eq!((n, min, max), (experts.len(), 3, 5));
            }
            (ok, other) => panic!("{} experts: expected ok={ok}, got {other:?}", experts.len()),
        }
    }
}

async fn cancelling_releases_everyone_and_raises_the_sequence(b: Backend) {
    let w = world(b.store).await;
    let (s, _) = w
        .store
        .create_session(&w.defense(0, &[0, 1, 2], at(9, 0), 40, 0))
        .await
        .unwrap();
    assert_eq!(s.sequence, 0);
    let cancelled = w.store.cancel_session(s.id).await.unwrap();
    assert!(cancelled.cancelled);
    assert_eq!(cancelled.sequence, 1);
    w.store
        .create_session(&w.defense(1, &[0, 1, 2], at(9, 0), 40, 0))
        .await
        .unwrap();
    assert!(matches!(
        w.store.cancel_session(s.id).await,
        Err(StoreError::NotFound)
    ));
}

async fn a_removed_participant_stays_on_record_and_their_time_is_released(b: Backend) {
    let w = world(b.store).await;
    let (s, people) = w
        .store
        .create_session(&w.defense(0, &[0, 1, 2], at(9, 0), 40, 0))
        .await
        .unwrap();
    let expert2 = people
        .iter()
        .find(|p| p.person_id == Some(w.experts[2].0))
        .unwrap()
        .clone();
    let removed = w.store.remove_participant(s.id, expert2.id).await.unwrap();
    assert!(removed.removed);
    assert_eq!(removed.link_generation, 1, "their links are void");
    let listed = w.store.participants(s.id).await.unwrap();
    assert_eq!(listed.len(), people.len() - 1);
    assert!(listed.iter().all(|p| p.id != expert2.id && !p.removed));
    assert_eq!(w.store.session(s.id).await.unwrap().sequence, 1);
    // Their time is free again: an overlapping defense may have them.
    w.store
        .create_session(&w.defense(1, &[2, 3, 4], at(9, 10), 40, 0))
        .await
        .unwrap();
    // The others still hold theirs.
    double_booked(
        w.store
            .create_session(&w.defense(2, &[0, 3, 4], at(9, 20), 40, 0))
            .await,
    );
    assert!(matches!(
        w.store.remove_participant(s.id, expert2.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        w.store
            .remove_participant(Uuid::new_v4(), listed[0].id)
            .await,
        Err(StoreError::NotFound)
    ));
    // Revoking voids a link without taking the seat.
    let host = &listed[0];
    assert_eq!(
        w.store
            .revoke_participant_links(host.id)
            .await
            .unwrap()
            .link_generation,
        1
    );
    assert_eq!(
        w.store
            .revoke_participant_links(host.id)
            .await
            .unwrap()
            .link_generation,
        2
    );
    assert!(matches!(
        w.store.revoke_participant_links(expert2.id).await,
        Err(StoreError::NotFound)
    ));
}

async fn setup_checks_are_kept_per_participant_in_order(b: Backend) {
    use scheduler::record::SetupCheck;
    let w = world(b.store).await;
    let (s, people) = w
        .store
        .create_session(&w.defense(0, &[0, 1, 2], at(9, 0), 40, 0))
        .await
        .unwrap();
    let check = |who: usize, path: Option<&str>, verdict: &str, minute: u32| SetupCheck {
        id: Uuid::new_v4(),
        session_id: s.id,
        participant_id: people[who].id,
        at: at(8, minute),
        user_agent: "Mozilla/5.0 (X11; Linux x86_64) Chrome/156".into(),
        path: path.map(str::to_owned),
        rtt_ms: path.map(|_| 12.5),
        loss_percent: path.map(|_| 0.0),
        kbps: path.map(|_| 1800.0),
        camera: true,
        microphone: who != 1,
        verdict: verdict.into(),
    };
    let blocked = check(1, None, "blocked", 10);
    let later = check(1, Some("relay"), "fair", 20);
    let host = check(0, Some("udp"), "good", 5);
    for c in [&later, &blocked, &host] {
        w.store.record_setup_check(c).await.unwrap();
    }
    let stored = w.store.setup_checks(s.id).await.unwrap();
    assert_eq!(
        stored,
        vec![host, blocked, later],
        "oldest first, figures as written"
    );
    assert!(
        w.store
            .setup_checks(Uuid::new_v4())
            .await
            .unwrap()
            .is_empty()
    );
}

async fn live_state_heartbeats_and_server_gaps_are_kept(b: Backend) {
    use scheduler::record::{Heartbeat, LiveRoomRecord, ServerGap};
    let w = world(b.store).await;
    assert_eq!(
        w.store.last_heartbeat().await.unwrap(),
        None,
        "a new database"
    );
    let (s, _) = w
        .store
        .create_session(&w.defense(0, &[0, 1, 2], at(9, 0), 40, 0))
        .await
        .unwrap();
    let (a, b_room) = (Uuid::new_v4(), Uuid::new_v4());
    let room = |id: Uuid, state: &str, minute: u32| LiveRoomRecord {
        room_id: id,
        state: state.into(),
        saved_at: at(9, minute),
    };
    let beat = |minute: u32, clean_stop: bool| Heartbeat {
        at: at(9, minute),
        clean_stop,
    };
    w.store
        .save_live_state(
            &[room(a, r#"{"v":1}"#, 1), room(b_room, "{}", 1)],
            &[],
            beat(1, false),
        )
        .await
        .unwrap();
    // A later save replaces a room's state; a forgotten room is gone.
    w.store
        .save_live_state(&[room(a, r#"{"v":2}"#, 2)], &[b_room], beat(2, false))
        .await
        .unwrap();
    assert_eq!(
        w.store.live_rooms().await.unwrap(),
        vec![room(a, r#"{"v":2}"#, 2)]
    );
    assert_eq!(
        w.store.last_heartbeat().await.unwrap(),
        Some(beat(2, false))
    );
    w.store
        .save_live_state(&[], &[], beat(3, true))
        .await
        .unwrap();
    assert_eq!(w.store.last_heartbeat().await.unwrap(), Some(beat(3, true)));

    let gap = |from: u32, to: u32, planned: bool| ServerGap {
        session_id: s.id,
        from: at(9, from),
        to: at(9, to),
        planned,
    };
    w.store
        .record_server_gaps(&[gap(20, 21, true), gap(5, 6, false)])
        .await
        .unwrap();
    // Recording the same gap again (a start that failed half-way) keeps one.
    w.store
        .record_server_gaps(&[gap(5, 6, false)])
        .await
        .unwrap();
    assert_eq!(
        w.store.server_gaps(s.id).await.unwrap(),
        vec![gap(5, 6, false), gap(20, 21, true)]
    );
    assert!(
        w.store
            .server_gaps(Uuid::new_v4())
            .await
            .unwrap()
            .is_empty()
    );
}

async fn rescheduling_is_checked_like_a_new_booking(b: Backend) {
    let w = world(b.store).await;
    let (a, _) = w
        .store
        .create_session(&w.defense(0, &[0, 1, 2], at(10, 0), 40, 0))
        .await
        .unwrap();
    let (b2, _) = w
        .store
        .create_session(&w.defense(1, &[0, 3, 4], at(11, 0), 40, 0))
        .await
        .unwrap();
    double_booked(w.store.reschedule_session(b2.id, at(10, 20), 40).await);
    let unchanged = w.store.session(b2.id).await.unwrap();
    assert_eq!(
        (unchanged.starts_at, unchanged.sequence),
        (at(11, 0), 0),
        "refused move changes nothing"
    );
    let moved = w
        .store
        .reschedule_session(b2.id, at(10, 40), 30)
        .await
        .unwrap();
    assert_eq!(
        (moved.starts_at, moved.duration_minutes, moved.sequence),
        (at(10, 40), 30, 1)
    );
    let _ = a;
}

async fn a_hundred_concurrent_requests_for_one_expert_slot_yield_exactly_one_booking(b: Backend) {
    let w = Arc::new(world(b.store).await);
    let mut tasks = Vec::new();
    for i in 0..100 {
        let w = w.clone();
        tasks.push(tokio::spawn(async move {
            // Every request wants expert 0 at overlapping times, with other experts.
            let others = [1 + (i % 5), 1 + ((i + 1) % 5)];
            let mut s = w.defense(
                i % 3,
                &[0, others[0], others[1]],
                at(12, (i % 20) as u32),
                40,
                0,
            );
            // Different applicants' projects must not be what collides: give each request
            // its own applicant-free booking by dropping the applicant.
            s.participants.retain(|p| p.role != Role::Applicant);
            w.store.create_session(&s).await
        }));
    }
    let (mut ok, mut conflicts, mut other) = (0, 0, Vec::new());
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(StoreError::Booking(BookingConflict::DoubleBooked { .. })) => conflicts += 1,
            Err(e) => other.push(e.to_string()),
        }
    }
    assert_eq!(
        (ok, conflicts, other.len()),
        (1, 99, 0),
        "unexpected errors: {other:?}"
    );
    assert_eq!(
        w.store
            .sessions_between(at(0, 0), at(23, 0))
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn an_import_is_applied_whole_or_not_at_all(b: Backend) {
    use scheduler::import::{self, ImportKind};
    let store = b.store;
    store.create_organisation("甲农业大学").await.unwrap();
    store.create_programme("重点研发", 3, 7).await.unwrap();
    let text = "项目编号,项目名称,计划类别,申请人,申请人邮箱,申请单位,领域\n\
                P-1,智慧灌溉,重点研发,王五,wang@example.org,甲农业大学,农业\n\
                P-2,土壤监测,重点研发,王五,wang@example.org,甲农业大学,农业\n";
    let existing = store.import_snapshot().await.unwrap();
    let batch = import::parse(ImportKind::Projects, text, &existing, |_| {}).unwrap();
    store.apply_import(&batch).await.unwrap();
    let after = store.import_snapshot().await.unwrap();
    assert_eq!(after.project_codes.len(), 2);
    assert_eq!(after.emails.len(), 1);

    // A batch validated against a stale snapshot collides in the database on its last
    // row: the database refuses it, and none of its rows remain.
    let text2 = "项目编号,项目名称,计划类别,申请人,申请人邮箱,申请单位,领域\n\
                 P-3,新项目,重点研发,赵六,zhao@example.org,甲农业大学,\n\
                 P-1,重复,重点研发,钱七,qian@example.org,甲农业大学,\n";
    let stale = import::parse(ImportKind::Projects, text2, &existing, |_| {}).unwrap();
    assert!(matches!(
        store.apply_import(&stale).await,
        Err(StoreError::Conflict(_))
    ));
    let unchanged = store.import_snapshot().await.unwrap();
    assert_eq!(
        unchanged.project_codes.len(),
        2,
        "P-3 was rolled back with the batch"
    );
    assert_eq!(unchanged.emails.len(), 1);
}

async fn notifications_are_stored_in_order(b: Backend) {
    use scheduler::model::{Notification, NotificationKind};
    let w = world(b.store).await;
    let (s, participants) = w
        .store
        .create_session(&w.defense(0, &[0, 1, 2], at(13, 0), 40, 0))
        .await
        .unwrap();
    let make = |kind, sequence| -> Vec<Notification> {
        participants
            .iter()
            .map(|p| Notification {
                id: Uuid::new_v4(),
                session_id: s.id,
                participant_id: p.id,
                kind,
                sequence,
                channel: "log".into(),
                ics: format!("BEGIN:VCALENDAR\r\nSEQUENCE:{sequence}\r\nEND:VCALENDAR\r\n"),
            })
            .collect()
    };
    w.store
        .record_notifications(&make(NotificationKind::Invite, 0))
        .await
        .unwrap();
    w.store
        .record_notifications(&make(NotificationKind::Update, 1))
        .await
        .unwrap();
    let stored = w.store.notifications(s.id).await.unwrap();
    assert_eq!(stored.len(), participants.len() * 2);
    assert!(
        stored[..participants.len()]
            .iter()
            .all(|n| n.kind == NotificationKind::Invite)
    );
    assert!(
        stored[participants.len()..]
            .iter()
            .all(|n| n.kind == NotificationKind::Update && n.sequence == 1)
    );
}

async fn the_agenda_is_kept_with_the_session(b: Backend) {
    use scheduler::domain::Agenda;
    let w = world(b.store).await;
    let agenda = Agenda::parse(20, 15, 10).unwrap();
    let new = w
        .defense(0, &[0, 1, 2], at(14, 0), 45, 5)
        .with_agenda(agenda)
        .unwrap();
    let (s, _) = w.store.create_session(&new).await.unwrap();
    assert_eq!(w.store.session(s.id).await.unwrap().agenda, Some(agenda));
    let too_long = w
        .defense(1, &[3, 4, 5], at(15, 0), 30, 0)
        .with_agenda(agenda);
    assert!(too_long.is_err(), "45 minutes of phases do not fit in 30");
    let (plain, _) = w
        .store
        .create_session(&w.defense(1, &[3, 4, 5], at(15, 0), 30, 0))
        .await
        .unwrap();
    assert_eq!(w.store.session(plain.id).await.unwrap().agenda, None);
}

async fn score_sheets_ratings_and_chat_are_kept(b: Backend) {
    use scheduler::record::{ChatMessage, Criterion, Rating, ScoreSheetRecord};
    let w = world(b.store).await;
    let (s, people) = w
        .store
        .create_session(&w.defense(0, &[0, 1, 2], at(9, 0), 45, 0))
        .await
        .unwrap();
    assert_eq!(
        w.store.session_criteria(s.id).await.unwrap(),
        Criterion::defaults(),
        "a programme without criteria scores on the defaults"
    );
    let programme = w.store.programmes().await.unwrap()[0].id;
    let criteria = vec![
        Criterion {
            name: "创新性".into(),
            weight: 0.6,
            max: 10,
        },
        Criterion {
            name: "可行性".into(),
            weight: 0.4,
            max: 5,
        },
    ];
    w.store
        .set_programme_criteria(programme, &criteria)
        .await
        .unwrap();
    assert_eq!(w.store.session_criteria(s.id).await.unwrap(), criteria);
    assert!(matches!(
        w.store
            .set_programme_criteria(Uuid::new_v4(), &criteria)
            .await,
        Err(StoreError::NotFound)
    ));

    let experts: Vec<_> = people.iter().filter(|p| p.role == Role::Expert).collect();
    let now = Utc::now();
    for (i, e) in experts.iter().enumerate().rev() {
        w.store
            .save_score_sheet(&ScoreSheetRecord {
                session_id: s.id,
                expert_id: e.id,
                scores: vec![8, u32::try_from(i).unwrap()],
                comment: format!("意见{i}"),
                submitted_at: now,
                locked: true,
                reopen_reason: None,
            })
            .await
            .unwrap();
    }
    w.store
        .reopen_score_sheet(s.id, experts[1].id, "录入错误")
        .await
        .unwrap();
    assert!(matches!(
        w.store.reopen_score_sheet(s.id, people[0].id, "x").await,
        Err(StoreError::NotFound)
    ));
    let sheets = w.store.score_sheets(s.id).await.unwrap();
    assert_eq!(
        sheets.iter().map(|s| s.expert_id).collect::<Vec<_>>(),
        experts.iter().map(|e| e.id).collect::<Vec<_>>(),
        "in invitation order"
    );
    assert!(!sheets[1].locked);
    assert_eq!(sheets[1].reopen_reason.as_deref(), Some("录入错误"));
    assert!(sheets[0].locked && sheets[2].locked);
    assert_eq!(sheets[2].scores, vec![8, 2]);
    // Resubmitting locks it again and keeps the reason on record.
    let mut again = sheets[1].clone();
    again.scores = vec![9, 4];
    again.locked = true;
    again.reopen_reason = None;
    w.store.save_score_sheet(&again).await.unwrap();
    let sheets = w.store.score_sheets(s.id).await.unwrap();
    assert!(sheets[1].locked);
    assert_eq!(sheets[1].scores, vec![9, 4]);
    assert_eq!(sheets[1].reopen_reason.as_deref(), Some("录入错误"));

    let rating = |stars: u8, comment: &str| Rating {
        session_id: s.id,
        participant_id: experts[0].id,
        role: Role::Expert,
        stars,
        comment: comment.into(),
        at: Utc::now(),
    };
    w.store.save_rating(&rating(3, "一般")).await.unwrap();
    w.store.save_rating(&rating(5, "很好")).await.unwrap();
    let ratings = w.store.ratings(s.id).await.unwrap();
    assert_eq!(ratings.len(), 1, "one rating per participant, the latest");
    assert_eq!((ratings[0].stars, ratings[0].comment.as_str()), (5, "很好"));
    assert!(matches!(
        w.store.save_rating(&rating(6, "")).await,
        Err(StoreError::Conflict(_))
    ));

    let message = |text: &str| ChatMessage {
        id: Uuid::new_v4(),
        session_id: s.id,
        author_id: experts[0].id,
        author_name: "专家0".into(),
        text: text.into(),
        at: Utc::now(),
        removed: false,
    };
    let (first, second) = (message("你好"), message("广告"));
    w.store.post_chat(&first).await.unwrap();
    w.store.post_chat(&second).await.unwrap();
    w.store
        .remove_chat(s.id, second.id, Utc::now())
        .await
        .unwrap();
    assert!(matches!(
        w.store
            .remove_chat(Uuid::new_v4(), first.id, Utc::now())
            .await,
        Err(StoreError::NotFound)
    ));
    let chat = w.store.chat(s.id).await.unwrap();
    assert_eq!(chat.len(), 2, "removed messages stay on record");
    assert_eq!((chat[0].text.as_str(), chat[0].removed), ("你好", false));
    assert!(chat[1].removed);
}

async fn the_audit_log_is_an_unbroken_append_only_chain_under_concurrency(b: Backend) {
    use scheduler::record::{NewAuditEntry, verify_chain};
    let store = b.store;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .append_audit(&NewAuditEntry {
                    at: Utc::now(),
                    session_id: (i % 2 == 0).then(Uuid::new_v4),
                    actor: format!("participant:{i}"),
                    action: "join".into(),
                    detail: serde_json::json!({"n": i, "名": "张三"}),
                })
                .await
                .unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let log = store.audit_log(0, 1000).await.unwrap();
    assert_eq!(log.len(), 40);
    assert_eq!(verify_chain(&log), Ok(40), "stored entries hash as written");
    assert_eq!(store.audit_log(38, 10).await.unwrap().len(), 2);

    // Batches (the audit writer's way) interleave with single appends: each batch is
    // contiguous and in order, and the chain stays whole.
    let mut tasks = Vec::new();
    for b in 0..4 {
        let batch_store = store.clone();
        tasks.push(tokio::spawn(async move {
            let batch: Vec<NewAuditEntry> = (0..25)
                .map(|i| NewAuditEntry {
                    at: Utc::now(),
                    session_id: None,
                    actor: format!("batch:{b}"),
                    action: format!("step{i}"),
                    detail: serde_json::json!({"i": i}),
                })
                .collect();
            batch_store.append_audit_batch(&batch).await.unwrap()
        }));
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            vec![
                store
                    .append_audit(&NewAuditEntry {
                        at: Utc::now(),
                        session_id: None,
                        actor: "single".into(),
                        action: "join".into(),
                        detail: serde_json::json!({}),
                    })
                    .await
                    .unwrap(),
            ]
        }));
    }
    for t in tasks {
        let written = t.await.unwrap();
        let seqs: Vec<i64> = written.iter().map(|e| e.seq).collect();
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0] + 1),
            "a batch is contiguous: {seqs:?}"
        );
    }
    let log = store.audit_log(0, 1000).await.unwrap();
    assert_eq!(log.len(), 40 + 4 * 26);
    assert_eq!(verify_chain(&log), Ok(log.len()));
    assert!(store.append_audit_batch(&[]).await.unwrap().is_empty());
}

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
    let mut job = ProductionJob {
        id: Uuid::new_v4(),
        recording_id: recording.id,
        state: "queued".into(),
        attempts: 0,
        progress: 0.0,
        error: None,
        outputs: None,
        updated_at: at(9, 41),
    };
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

async fn help_videos_are_searched_and_their_views_counted_per_day(b: Backend) {
    use chrono::NaiveDate;
    use scheduler::record::{HelpVideo, RecordingRecord};
    let w = world(b.store).await;
    let (s, _) = w
        .store
        .create_session(&w.defense(0, &[0, 1, 2], at(9, 0), 45, 0))
        .await
        .unwrap();
    let mut videos = Vec::new();
    for (i, (title, category, tags)) in [
        ("苹果树修剪技术", "果树", vec!["修剪", "冬季"]),
        ("水稻病虫害防治", "水稻", vec!["植保"]),
        ("100%_有机 肥料", "土肥", vec![]),
    ]
    .into_iter()
    .enumerate()
    {
        let recording = RecordingRecord {
            id: Uuid::new_v4(),
            session_id: s.id,
            started_at: at(9, 0),
            stopped_at: Some(at(9, 30)),
            state: "stopped".into(),
            error: None,
        };
        w.store.create_recording(&recording).await.unwrap();
        let video = HelpVideo {
            id: Uuid::new_v4(),
            recording_id: recording.id,
            title: title.into(),
            description: "科技特派员讲解".into(),
            tags: tags.into_iter().map(String::from).collect(),
            category: category.into(),
            envoy: "张教授".into(),
            published_by: "admin".into(),
            published_at: at(10, i as u32),
            views: 0,
        };
        w.store.publish_help_video(&video).await.unwrap();
        videos.push(video);
    }
    let mut again = videos[0].clone();
    again.id = Uuid::new_v4();
    assert!(
        w.store.publish_help_video(&again).await.is_err(),
        "a recording is published once"
    );
    let titles = |v: Vec<HelpVideo>| v.into_iter().map(|v| v.title).collect::<Vec<_>>();
    assert_eq!(
        titles(w.store.help_videos("", None).await.unwrap()),
        vec!["100%_有机 肥料", "水稻病虫害防治", "苹果树修剪技术"],
        "newest first"
    );
    assert_eq!(
        titles(w.store.help_videos("修剪", None).await.unwrap()),
        vec!["苹果树修剪技术"]
    );
    assert_eq!(
        titles(w.store.help_videos("", Some("水稻")).await.unwrap()),
        vec!["水稻病虫害防治"]
    );
    assert_eq!(
        titles(w.store.help_videos("张教授", Some("果树")).await.unwrap()),
        vec!["苹果树修剪技术"]
    );
    // LIKE wildcards in the search are literal.
    assert_eq!(
        titles(w.store.help_videos("%_", None).await.unwrap()),
        vec!["100%_有机 肥料"]
    );
    assert_eq!(
        titles(w.store.help_videos("0_", None).await.unwrap()),
        Vec::<String>::new()
    );

    let (d1, d2) = (
        NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
        NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
    );
    let (ann, bo) = (Uuid::new_v4(), Uuid::new_v4());
    // (video, day, viewer, counted): a viewer counts once per video and day.
    for (video, day, viewer, counted) in [
        (0, d1, ann, true),
        (0, d1, ann, false),
        (0, d1, bo, true),
        (0, d2, ann, true),
        (0, d2, ann, false),
        (1, d2, ann, true),
    ] {
        assert_eq!(
            w.store
                .count_help_video_view(videos[video].id, day, viewer)
                .await
                .unwrap(),
            counted,
            "video {video} on {day}"
        );
    }
    assert!(matches!(
        w.store.count_help_video_view(Uuid::new_v4(), d1, ann).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        w.store
            .help_video(videos[0].id)
            .await
            .unwrap()
            .unwrap()
            .views,
        3
    );
    let mut per_day = w
        .store
        .help_video_views(d1, NaiveDate::from_ymd_opt(2026, 4, 1).unwrap())
        .await
        .unwrap();
    per_day.sort();
    let mut expected = vec![
        (videos[0].id, d1, 2),
        (videos[0].id, d2, 1),
        (videos[1].id, d2, 1),
    ];
    expected.sort();
    assert_eq!(per_day, expected);
    assert_eq!(w.store.help_video_views(d2, d2).await.unwrap(), vec![]);
}

macro_rules! conformance {
    ($($test:ident),* $(,)?) => {
        mod sqlite_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::sqlite().await).await;
                }
            )*
        }
        mod postgres_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    if let Some(backend) = super::postgres().await {
                        super::$test(backend).await;
                    }
                }
            )*
        }
    };
}

conformance!(
    an_expert_in_two_overlapping_defenses_is_refused_by_name,
    back_to_back_defenses_share_experts,
    the_buffer_counts_as_booked_time,
    a_room_cannot_host_two_sessions_at_once,
    an_applicant_cannot_defend_twice_at_once,
    a_trainer_is_held_but_hosts_are_not,
    experts_with_a_conflict_of_interest_are_refused,
    panel_size_follows_the_programme,
    cancelling_releases_everyone_and_raises_the_sequence,
    a_removed_participant_stays_on_record_and_their_time_is_released,
    setup_checks_are_kept_per_participant_in_order,
    live_state_heartbeats_and_server_gaps_are_kept,
    rescheduling_is_checked_like_a_new_booking,
    a_hundred_concurrent_requests_for_one_expert_slot_yield_exactly_one_booking,
    an_import_is_applied_whole_or_not_at_all,
    notifications_are_stored_in_order,
    the_agenda_is_kept_with_the_session,
    score_sheets_ratings_and_chat_are_kept,
    the_audit_log_is_an_unbroken_append_only_chain_under_concurrency,
    recordings_parts_and_production_jobs_are_kept,
    help_videos_are_searched_and_their_views_counted_per_day,
);
