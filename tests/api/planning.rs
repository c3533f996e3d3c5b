//! The directory API and defense-day planning end to end: the world is created through
//! the API, the planner respects conflicts of interest and applicants with two
//! projects, booking writes sessions, and planning the same day again is refused by
//! the database instead of double-booking.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

async fn create(app: &TestApp, token: &str, path: &str, body: Value) -> Value {
    let res = app
        .http
        .post(format!("{}{path}", app.base))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 201, "{path}: {body}");
    body
}

#[tokio::test]
async fn a_defense_day_is_planned_booked_and_never_double_booked() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let uni = create(
        &app,
        &token,
        "/api/v1/organisations",
        json!({"name": "甲农业大学"}),
    )
    .await["id"]
        .clone();
    let academy = create(
        &app,
        &token,
        "/api/v1/organisations",
        json!({"name": "乙科学院"}),
    )
    .await["id"]
        .clone();
    let programme = create(
        &app,
        &token,
        "/api/v1/programmes",
        json!({"name": "重点研发", "minPanelSize": 3, "maxPanelSize": 5}),
    )
    .await["id"]
        .clone();
    let mut experts = Vec::new();
    for (i, org) in [&academy, &academy, &academy, &academy, &academy, &uni]
        .iter()
        .enumerate()
    {
        let e = create(&app, &token, "/api/v1/people", json!({"name": format!("专家{i}"), "email": format!("e{i}@example.org"), "organisationId": org, "roles": ["expert"], "fields": ["农业"]})).await;
        experts.push(e["id"].clone());
    }
    // Panel A includes expert 5, who belongs to the applicants' university.
    let panel_a = create(&app, &token, "/api/v1/panels", json!({"name": "第一组", "chairId": experts[0], "memberIds": [experts[0], experts[1], experts[5]]})).await["id"].clone();
    let panel_b = create(
        &app,
        &token,
        "/api/v1/panels",
        json!({"name": "第二组", "memberIds": [experts[2], experts[3], experts[4]]}),
    )
    .await["id"]
        .clone();
    let applicant = create(&app, &token, "/api/v1/people", json!({"name": "王申请", "email": "wang@example.org", "organisationId": uni, "roles": ["applicant"], "timeZone": "Asia/Urumqi"})).await;
    assert_eq!(applicant["timeZone"], "Asia/Urumqi");
    let applicant = applicant["id"].clone();
    let mut projects = Vec::new();
    for i in 0..2 {
        let p = create(&app, &token, "/api/v1/projects", json!({"code": format!("NY-{i}"), "title": format!("项目{i}"), "programmeId": programme, "applicantId": applicant, "organisationId": uni, "field": "农业"})).await;
        projects.push(p["id"].clone());
    }
    let listed: Value = app
        .http
        .get(format!("{}/api/v1/panels", app.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);

    let request = json!({
        "date": "2026-12-01", "timeZone": "Asia/Shanghai", "dayStart": "09:00",
        "agenda": {"presentationMinutes": 15, "qaMinutes": 15, "deliberationMinutes": 10, "bufferMinutes": 5},
        "slots": 4, "panelIds": [panel_a, panel_b], "projectIds": projects,
        "book": true, "hostName": "秘书"
    });
    let res = app
        .http
        .post(format!("{}/api/v1/plan", app.base))
        .bearer_auth(&token)
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let plan: Value = res.json().await.unwrap();
    let placed = plan["placed"].as_array().unwrap();
    assert_eq!(placed.len(), 2, "{plan}");
    // Panel A has a conflict of interest with the university's projects.
    assert!(placed.iter().all(|p| p["panelId"] == panel_b), "{plan}");
    // One applicant, two projects: two different slots.
    assert_ne!(placed[0]["slot"], placed[1]["slot"]);
    assert_eq!(
        placed[0]["startsAt"].as_str().unwrap(),
        "2026-12-01T01:00:00Z",
        "09:00 Shanghai"
    );
    assert!(placed.iter().all(|p| p["sessionId"].is_string()), "{plan}");
    let booked: Value = app
        .http
        .get(format!(
            "{}/api/v1/sessions/{}",
            app.base,
            placed[0]["sessionId"].as_str().unwrap()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        booked["session"]["agenda"],
        json!({"presentationMinutes": 15, "qaMinutes": 15, "deliberationMinutes": 10}),
        "the day's agenda is kept with each booking"
    );
    assert_eq!(booked["session"]["bufferMinutes"], 5);
    assert_eq!(
        booked["session"]["panelId"], panel_b,
        "booked with its panel"
    );
    assert_eq!(
        booked["session"]["defenseDayId"], plan["defenseDayId"],
        "and its defense day"
    );
    assert!(plan["defenseDayId"].is_string(), "{plan}");

    // Planning the same day again cannot double-book: the database refuses each one.
    let again: Value = app
        .http
        .post(format!("{}/api/v1/plan", app.base))
        .bearer_auth(&token)
        .json(&request)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let again = again["placed"].as_array().unwrap();
    assert!(
        again.iter().all(|p| p["sessionId"].is_null()
            && p["refused"].as_str().unwrap().contains("already booked")),
        "{again:?}"
    );

    // Bad references and values are clear 422s, not server errors.
    let bad = app.http.post(format!("{}/api/v1/projects", app.base)).bearer_auth(&token)
        .json(&json!({"code": "NY-X", "title": "x", "programmeId": programme, "applicantId": applicant, "organisationId": "00000000-0000-0000-0000-000000000000"}))
        .send().await.unwrap();
    assert_eq!(bad.status(), 422);
    let bad = app
        .http
        .post(format!("{}/api/v1/panels", app.base))
        .bearer_auth(&token)
        .json(&json!({"name": "第三组", "chairId": experts[2], "memberIds": [experts[0]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    let dup = app
        .http
        .post(format!("{}/api/v1/organisations", app.base))
        .bearer_auth(&token)
        .json(&json!({"name": "甲农业大学"}))
        .send()
        .await
        .unwrap();
    assert_eq!(dup.status(), 409);
    let anonymous = app
        .http
        .get(format!("{}/api/v1/people", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn unavailable_and_preferred_windows_and_pool_formed_panels_are_honoured() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let uni = create(
        &app,
        &token,
        "/api/v1/organisations",
        json!({"name": "甲大学"}),
    )
    .await["id"]
        .clone();
    let programme = create(
        &app,
        &token,
        "/api/v1/programmes",
        json!({"name": "计划", "minPanelSize": 3, "maxPanelSize": 3}),
    )
    .await["id"]
        .clone();
    let mut experts = Vec::new();
    for i in 0..6 {
        let org = create(
            &app,
            &token,
            "/api/v1/organisations",
            json!({"name": format!("研究所{i}")}),
        )
        .await["id"]
            .clone();
        experts.push(create(&app, &token, "/api/v1/people", json!({"name": format!("专家{i}"), "organisationId": org, "roles": ["expert"], "fields": [if i < 3 { "农业" } else { "林业" }]})).await["id"].clone());
    }
    let mut projects = Vec::new();
    let mut applicants = Vec::new();
    for i in 0..2 {
        let a = create(
            &app,
            &token,
            "/api/v1/people",
            json!({"name": format!("申请人{i}"), "organisationId": uni, "roles": ["applicant"]}),
        )
        .await["id"]
            .clone();
        applicants.push(a.clone());
        projects.push(create(&app, &token, "/api/v1/projects", json!({"code": format!("W-{i}"), "title": "t", "programmeId": programme, "applicantId": a, "organisationId": uni, "field": "农业"})).await["id"].clone());
    }
    let window = |person: &Value, kind: &str, start: &str, end: &str| {
        let (app, token) = (&app, &token);
        let (person, kind, start, end) = (
            person.clone(),
            kind.to_owned(),
            start.to_owned(),
            end.to_owned(),
        );
        async move {
            let res = app
                .http
                .post(format!(
                    "{}/api/v1/people/{}/windows",
                    app.base,
                    person.as_str().unwrap()
                ))
                .bearer_auth(token)
                .json(&json!({"kind": kind, "start": start, "end": end}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        }
    };
    // Slots are 45 minutes from 09:00 Shanghai (01:00 UTC). Applicant 0 cannot come
    // before 10:30; applicant 1 prefers 11:15–12:00 (slot 3).
    window(
        &applicants[0],
        "unavailable",
        "2026-12-02T09:00:00+08:00",
        "2026-12-02T10:30:00+08:00",
    )
    .await;
    window(
        &applicants[1],
        "preferred",
        "2026-12-02T11:15:00+08:00",
        "2026-12-02T12:00:00+08:00",
    )
    .await;
    let plan: Value = app
        .http
        .post(format!("{}/api/v1/plan", app.base))
        .bearer_auth(&token)
        .json(&json!({
            "date": "2026-12-02", "timeZone": "Asia/Shanghai", "dayStart": "09:00",
            "agenda": {"presentationMinutes": 15, "qaMinutes": 20, "deliberationMinutes": 10},
            "slots": 6, "projectIds": projects,
            "pool": {"expertIds": experts, "panelCount": 2, "panelSize": 3}
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let formed = plan["formedPanels"].as_array().unwrap();
    assert_eq!(formed.len(), 2, "{plan}");
    let mut all: Vec<&Value> = formed
        .iter()
        .flat_map(|p| p["members"].as_array().unwrap())
        .collect();
    all.sort_by_key(|v| v.as_str().unwrap().to_owned());
    all.dedup();
    assert_eq!(all.len(), 6, "no expert on two panels: {plan}");
    let slot_of = |project: &Value| {
        plan["placed"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["projectId"] == *project)
            .map(|p| p["slot"].as_u64().unwrap())
    };
    assert!(
        slot_of(&projects[0]).unwrap() >= 2,
        "applicant 0 is unavailable before 10:30: {plan}"
    );
    assert_eq!(
        slot_of(&projects[1]),
        Some(3),
        "applicant 1's preferred slot: {plan}"
    );

    // Booking the pool plan saves the formed panels and ties each defense to one.
    let booked: Value = app
        .http
        .post(format!("{}/api/v1/plan", app.base))
        .bearer_auth(&token)
        .json(&json!({
            "date": "2026-12-02", "timeZone": "Asia/Shanghai", "dayStart": "09:00",
            "agenda": {"presentationMinutes": 15, "qaMinutes": 20, "deliberationMinutes": 10},
            "slots": 6, "projectIds": projects, "book": true,
            "pool": {"expertIds": experts, "panelCount": 2, "panelSize": 3}
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stored: Value = app
        .http
        .get(format!("{}/api/v1/panels", app.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stored_ids: Vec<&Value> = stored
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["id"])
        .collect();
    for formed in booked["formedPanels"].as_array().unwrap() {
        assert!(
            stored_ids.contains(&&formed["id"]),
            "formed panel saved: {booked}"
        );
    }
    assert!(
        booked["placed"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["sessionId"].is_string()),
        "{booked}"
    );

    let bad = app.http.post(format!("{}/api/v1/people/{}/windows", app.base, applicants[0].as_str().unwrap()))
        .bearer_auth(&token).json(&json!({"kind": "unavailable", "start": "2026-12-02T10:00:00+08:00", "end": "2026-12-02T09:00:00+08:00"})).send().await.unwrap();
    assert_eq!(bad.status(), 422);
}
