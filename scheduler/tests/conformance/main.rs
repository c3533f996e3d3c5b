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

macro_rules! conformance {
    ($($test:ident),* $(,)?) => {
        mod sqlite_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(crate::sqlite().await).await;
                }
            )*
        }
        mod postgres_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    if let Some(backend) = crate::postgres().await {
                        super::$test(backend).await;
                    }
                }
            )*
        }
    };
}

mod audit;
mod booking;
mod directory;
mod help_videos;
mod live;
mod recordings;
mod records;
mod samples;
