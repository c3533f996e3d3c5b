//! Booking rules through the HTTP API: refusals are 409/422 naming the conflict, a
//! race of 100 requests books exactly once, and changes notify participants with
//! calendar updates that keep the UID and raise the SEQUENCE.

use chrono::{Duration, Utc};
use scheduler::Role;
use scheduler::domain::PersonName;
use scheduler::model::{NewPerson, NewProject};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, spawn_app};

struct Fixture {
    experts: Vec<(Uuid, String)>,
    same_org_expert: (Uuid, String),
    applicant: (Uuid, String),
    project: Uuid,
}

async fn fixture(app: &TestApp) -> Fixture {
    let store = &app.state.store;
    let home = store.create_organisation("甲大学").await.unwrap().id;
    let other = store.create_organisation("乙研究所").await.unwrap().id;
    let programme = store.create_programme("科技计划", 3, 7).await.unwrap().id;
    let person = async |name: &str, org: Uuid, role: Role| {
        let p = store
            .create_person(&NewPerson {
                name: PersonName::parse(name).unwrap(),
                email: Some(format!("{}@example.org", Uuid::new_v4().simple())),
                organisation: Some(org),
                roles: vec![role],
                fields: vec![],
                time_zone: chrono_tz::Asia::Shanghai,
            })
            .await
            .unwrap();
        (p.id, p.name)
    };
    let mut experts = Vec::new();
    for i in 0..6 {
        experts.push(person(&format!("专家{i}"), other, Role::Expert).await);
    }
    let same_org_expert = person("本单位专家", home, Role::Expert).await;
    let applicant = person("申请人", home, Role::Applicant).await;
    let project = store
        .create_project(&NewProject {
            code: "2026-A-001".into(),
            title: "智慧农业".into(),
            programme,
            applicant: applicant.0,
            organisation: home,
            field: "农业".into(),
        })
        .await
        .unwrap()
        .id;
    Fixture {
        experts,
        same_org_expert,
        applicant,
        project,
    }
}

fn body(f: &Fixture, experts: &[&(Uuid, String)], start: chrono::DateTime<Utc>) -> Value {
    let mut participants = vec![
        json!({"name": "秘书", "role": "host"}),
        json!({"name": f.applicant.1, "role": "applicant", "personId": f.applicant.0}),
    ];
    participants.extend(
        experts
            .iter()
            .map(|(id, name)| json!({"name": name, "role": "expert", "personId": id})),
    );
    json!({
        "title": "智慧农业答辩",
        "start": start.to_rfc3339(),
        "durationMinutes": 40,
        "bufferMinutes": 5,
        "projectId": f.project,
        "participants": participants,
    })
}

async fn post(app: &TestApp, token: &str, path: &str, body: &Value) -> (u16, Value) {
    let res = app
        .http
        .post(format!("{}{path}", app.base))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn refusals_name_the_conflict() {
    let app = spawn_app().await;
    let f = fixture(&app).await;
    let token = app.admin_token().await;
    let start = Utc::now() + Duration::days(1);
    let e = &f.experts;
    let (status, first) = post(
        &app,
        &token,
        "/api/v1/sessions",
        &body(&f, &[&e[0], &e[1], &e[2]], start),
    )
    .await;
    assert_eq!(status, 201, "{first}");

    // Same applicant with another panel, inside the first defense's 5-minute buffer.
    let (status, err) = post(
        &app,
        &token,
        "/api/v1/sessions",
        &body(&f, &[&e[3], &e[4], &e[5]], start + Duration::minutes(44)),
    )
    .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (409, Some("double_booked")),
        "{err}"
    );
    assert!(err["message"].as_str().unwrap().contains("申请人"), "{err}");

    // An expert from the applicant's organisation.
    let (status, err) = post(
        &app,
        &token,
        "/api/v1/sessions",
        &body(
            &f,
            &[&e[3], &f.same_org_expert, &e[0]],
            start + Duration::days(1),
        ),
    )
    .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (409, Some("conflict_of_interest")),
        "{err}"
    );
    assert!(
        err["message"].as_str().unwrap().contains("本单位专家"),
        "{err}"
    );

    // Too small a panel for the programme (3–7).
    let (status, err) = post(
        &app,
        &token,
        "/api/v1/sessions",
        &body(&f, &[&e[3]], start + Duration::days(2)),
    )
    .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (422, Some("panel_size")),
        "{err}"
    );

    // Back to back after the buffer is fine.
    let (status, _) = post(
        &app,
        &token,
        "/api/v1/sessions",
        &body(&f, &[&e[3], &e[1], &e[2]], start + Duration::minutes(45)),
    )
    .await;
    assert_eq!(status, 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_bookings_of_one_slot_succeed_once() {
    race_for_one_slot(spawn_app().await).await;
}

/// The same race with the server running on PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_bookings_of_one_slot_succeed_once_on_postgres() {
    let Some(url) = crate::helpers::fresh_postgres_database().await else {
        return;
    };
    race_for_one_slot(crate::helpers::spawn_app_with(|c| c.database.url = url).await).await;
}

async fn race_for_one_slot(app: TestApp) {
    let f = fixture(&app).await;
    let token = app.admin_token().await;
    let start = Utc::now() + Duration::days(3);
    let e = &f.experts;
    let request = body(&f, &[&e[0], &e[1], &e[2]], start);
    let url = format!("{}/api/v1/sessions", app.base);
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let (client, url, token, request) = (
            app.http.clone(),
            url.clone(),
            token.clone(),
            request.clone(),
        );
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&request)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut counts = std::collections::BTreeMap::new();
    for t in tasks {
        *counts.entry(t.await.unwrap()).or_insert(0) += 1;
    }
    assert_eq!(
        counts,
        std::collections::BTreeMap::from([(201, 1), (409, 99)])
    );
}

fn parse_ics(text: &str) -> ical::parser::ical::component::IcalCalendar {
    ical::IcalParser::new(std::io::BufReader::new(text.as_bytes()))
        .next()
        .expect("a calendar")
        .expect("valid iCalendar")
}

fn ics_prop(cal: &ical::parser::ical::component::IcalCalendar, name: &str) -> String {
    cal.events[0]
        .properties
        .iter()
        .find(|p| p.name == name)
        .and_then(|p| p.value.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn rescheduling_and_cancelling_notify_with_the_same_uid_and_a_higher_sequence() {
    let app = spawn_app().await;
    let f = fixture(&app).await;
    let token = app.admin_token().await;
    let start = Utc::now() + Duration::days(1);
    let e = &f.experts;
    let (_, booked) = post(
        &app,
        &token,
        "/api/v1/sessions",
        &body(&f, &[&e[0], &e[1], &e[2]], start),
    )
    .await;
    let id = booked["session"]["id"].as_str().unwrap().to_owned();
    let participants = booked["joinLinks"].as_array().unwrap().len();

    let (status, moved) = post(
        &app,
        &token,
        &format!("/api/v1/sessions/{id}/reschedule"),
        &json!({"start": (start + Duration::hours(2)).to_rfc3339(), "durationMinutes": 30}),
    )
    .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["sequence"], 1);
    let (status, _) = post(
        &app,
        &token,
        &format!("/api/v1/sessions/{id}/cancel"),
        &json!({}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, again) = post(
        &app,
        &token,
        &format!("/api/v1/sessions/{id}/cancel"),
        &json!({}),
    )
    .await;
    assert_eq!(status, 409, "{again}");

    let notes: Vec<Value> = app
        .http
        .get(format!("{}/api/v1/sessions/{id}/notifications", app.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = notes.iter().map(|n| n["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.len(), participants * 3);
    assert_eq!(
        kinds.iter().filter(|k| **k == "invite").count(),
        participants
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "update").count(),
        participants
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "cancel").count(),
        participants
    );
    let uids: std::collections::HashSet<String> = notes
        .iter()
        .map(|n| ics_prop(&parse_ics(n["ics"].as_str().unwrap()), "UID"))
        .collect();
    assert_eq!(uids.len(), 1, "one UID for the booking");
    let last = parse_ics(notes.last().unwrap()["ics"].as_str().unwrap());
    assert_eq!(ics_prop(&last, "SEQUENCE"), "2");
    assert_eq!(ics_prop(&last, "STATUS"), "CANCELLED");
    let update = notes.iter().find(|n| n["kind"] == "update").unwrap();
    let update = parse_ics(update["ics"].as_str().unwrap());
    assert_eq!(
        ics_prop(&update, "DTSTART"),
        (start + Duration::hours(2))
            .format("%Y%m%dT%H%M%SZ")
            .to_string()
    );
}

#[tokio::test]
async fn a_participant_downloads_their_own_invitation_with_their_link() {
    let app = spawn_app().await;
    let body = app
        .book(
            Utc::now() - Duration::minutes(1),
            30,
            &[("王专家", "expert")],
        )
        .await;
    let url = body["joinLinks"][0]["url"].as_str().unwrap();
    let res = app
        .http
        .get(format!("{url}/invitation.ics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/calendar")
    );
    let cal = parse_ics(&res.text().await.unwrap());
    assert!(ics_prop(&cal, "URL").starts_with(&app.base));
    assert!(
        ics_prop(&cal, "DESCRIPTION").contains("王专家")
            || ics_prop(&cal, "SUMMARY").contains("答辩")
    );
    let forged = format!("{}/j/v1.e30.AAAA/invitation.ics", app.base);
    assert_eq!(app.http.get(forged).send().await.unwrap().status(), 401);
}

#[tokio::test]
async fn uploads_are_all_or_nothing_and_list_bad_rows() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let url = format!("{}/api/v1/import/organisations", app.base);
    let unauthenticated = app
        .http
        .post(&url)
        .body("单位名称\n甲\n")
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);

    let res = app
        .http
        .post(&url)
        .bearer_auth(&token)
        .body("单位名称\n甲大学\n乙大学\n")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let summary: Value = res.json().await.unwrap();
    assert_eq!(summary["organisations"], 2);

    let res = app
        .http
        .post(format!("{}/api/v1/import/experts", app.base))
        .bearer_auth(&token)
        .body("姓名,邮箱,工作单位,专业领域\n张三,zhang@example.org,甲大学,作物\n,bad,丁大学,\n")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["code"], "invalid_rows");
    let rows = err["rows"].as_array().unwrap();
    assert!(rows.iter().all(|r| r["line"] == 3), "{err}");
    assert!(
        rows.len() >= 3,
        "name, e-mail and organisation are each reported: {err}"
    );
    let snapshot = app.state.store.import_snapshot().await.unwrap();
    assert!(snapshot.emails.is_empty(), "nothing imported");

    let missing = app
        .http
        .post(format!("{}/api/v1/import/experts", app.base))
        .bearer_auth(&token)
        .body(vec![0x80u8, 0xff, 0x81, 0xfe])
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 422);
    let unknown_kind = app
        .http
        .post(format!("{}/api/v1/import/spaceships", app.base))
        .bearer_auth(&token)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_kind.status(), 404);
}
