//! The booking API and administrator sign-in.

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use viva::auth::{AdminClaims, Signer};

use crate::helpers::{TestApp, spawn_app};

async fn post_session(app: &TestApp, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut req = app.http.post(format!("{}/api/v1/sessions", app.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.json(body).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn valid_body() -> Value {
    json!({
        "title": "2026 年度科技项目答辩",
        "start": "2026-12-01T09:00:00+08:00",
        "durationMinutes": 40,
        "timeZone": "Asia/Shanghai",
        "participants": [
            {"name": "王秘书", "role": "host"},
            {"name": "李申请", "role": "applicant"},
            {"name": "张专家", "role": "expert"},
            {"name": "旁听", "role": "observer"}
        ]
    })
}

#[tokio::test]
async fn health_reports_database_media_and_recorder() {
    let app = spawn_app().await;
    let body: Value = app
        .http
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"], true);
    assert_eq!(body["media"]["running"], true);
    assert_eq!(body["recorder"]["canRecord"], true);
    // Nothing more for anonymous callers; the operators' listener has the details.
    assert!(
        body["recorder"]["gstreamer"].is_null() && body["media"]["participants"].is_null(),
        "{body}"
    );
    assert!(
        body["version"].is_null() && body["media"]["udp"].is_null(),
        "{body}"
    );
    let detailed: Value = app
        .http
        .get(format!("{}/healthz", app.admin_base.clone().unwrap()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(detailed["recorder"]["gstreamer"].is_string(), "{detailed}");
    assert_eq!(detailed["media"]["participants"], 0);
}

#[tokio::test]
async fn sign_in_refuses_wrong_passwords_and_unknown_users_alike() {
    let app = spawn_app().await;
    for (user, password) in [("admin", "wrong"), ("nobody", "test-admin-password")] {
        let res = app
            .http
            .post(format!("{}/api/v1/auth/login", app.base))
            .json(&json!({"username": user, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["code"], "bad_credentials");
    }
}

#[tokio::test]
async fn booking_returns_one_personal_link_per_participant() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let (status, body) = post_session(&app, Some(&token), &valid_body()).await;
    assert_eq!(status, 201, "{body}");
    let links = body["joinLinks"].as_array().unwrap();
    assert_eq!(links.len(), 4);
    assert_eq!(
        body["session"]["startsAt"], "2026-12-01T01:00:00Z",
        "stored in UTC"
    );
    assert_eq!(body["session"]["timeZone"], "Asia/Shanghai");
    let urls: std::collections::HashSet<&str> =
        links.iter().map(|l| l["url"].as_str().unwrap()).collect();
    assert_eq!(urls.len(), 4, "every link is personal");
    // Each link's grant names its participant and role; observers may not publish.
    let now = Utc::now();
    for link in links {
        let token = link["url"].as_str().unwrap().rsplit('/').next().unwrap();
        let from: chrono::DateTime<Utc> = link["validFrom"].as_str().unwrap().parse().unwrap();
        let grant = app
            .state
            .signer
            .verify_join(token, from + Duration::minutes(1))
            .unwrap();
        assert_eq!(
            grant.pid.to_string(),
            link["participantId"].as_str().unwrap()
        );
        assert_eq!(grant.role.as_str(), link["role"].as_str().unwrap());
        assert_eq!(grant.may_publish, grant.role != scheduler::Role::Observer);
        let _ = now;
    }
    // Reading the session back gives the same participants.
    let id = body["session"]["id"].as_str().unwrap();
    let shown: Value = app
        .http
        .get(format!("{}/api/v1/sessions/{id}", app.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["session"], body["session"]);
    assert_eq!(shown["joinLinks"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn booking_requires_an_administrator() {
    let app = spawn_app().await;
    let (status, body) = post_session(&app, None, &valid_body()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("missing_credentials"))
    );

    let foreign =
        Signer::new(b"another-deployment-key-0123456789abcdef").sign_admin(&AdminClaims {
            uid: uuid::Uuid::new_v4(),
            nbf: 0,
            exp: (Utc::now() + Duration::hours(1)).timestamp(),
        });
    let (status, body) = post_session(&app, Some(&foreign), &valid_body()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_token"))
    );

    // A participant's join token is not an administrator sign-in.
    let join = app.book_now(&[("专家", "expert")]).await.remove(0);
    let (status, _) = post_session(&app, Some(&join), &valid_body()).await;
    assert_eq!(status, 401);

    let expired = app.state.signer.sign_admin(&AdminClaims {
        uid: uuid::Uuid::new_v4(),
        nbf: 0,
        exp: (Utc::now() - Duration::minutes(1)).timestamp(),
    });
    let (status, body) = post_session(&app, Some(&expired), &valid_body()).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("expired")));
}

#[tokio::test]
async fn malformed_and_invalid_bookings_get_clear_errors_and_store_nothing() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let raw = app
        .http
        .post(format!("{}/api/v1/sessions", app.base))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"title\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let body: Value = raw.json().await.unwrap();
    assert_eq!(body["code"], "malformed_body");

    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"participants": [{"name": "x", "role": "judge"}]}),
            "judge",
        ),
        (json!({"timeZone": "Mars/Olympus"}), "timeZone"),
        (json!({"durationMinutes": 0}), "durationMinutes"),
        (json!({"start": "tomorrow at nine"}), "start"),
        (json!({"title": "   "}), "title"),
        (json!({"participants": []}), "participants"),
    ];
    for (patch, mentions) in cases {
        let mut body = valid_body();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, err) = post_session(&app, Some(&token), &body).await;
        assert_eq!(status, 422, "{patch}: {err}");
        assert_eq!(err["code"], "invalid_field");
        assert!(
            err["message"].as_str().unwrap().contains(mentions),
            "{patch}: {err}"
        );
    }
    let mut unknown_field = valid_body();
    unknown_field["roomPassword"] = json!("x");
    let (status, _) = post_session(&app, Some(&token), &unknown_field).await;
    assert_eq!(status, 400);

    let stored = app
        .state
        .store
        .sessions_between(
            Utc::now() - Duration::days(3650),
            Utc::now() + Duration::days(3650),
        )
        .await
        .unwrap();
    assert!(stored.is_empty(), "nothing was partially stored");
}

/// Every route the server registers is described in the OpenAPI document, with the
/// same methods. Routes are read from the source, so a new route without
/// documentation fails here.
#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let app = spawn_app().await;
    let doc: Value = app
        .http
        .get(format!("{}/api/v1/openapi.json", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let root = crate::helpers::repo_root();
    let mut routes = Vec::new();
    for dir in ["src/http", "src/signaling"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            // The operators' listener (`/metrics`, the detailed `/healthz`, fault
            // hooks) is not the public API; docs/deploy.md describes it.
            if path.ends_with("http/admin.rs") {
                continue;
            }
            let source = std::fs::read_to_string(&path).unwrap();
            for chunk in source.split(".route(\"").skip(1) {
                let path = chunk.split('"').next().unwrap().to_owned();
                let rest = &chunk[..chunk.find(".route(").unwrap_or(chunk.len()).min(200)];
                for method in ["get", "post"] {
                    if rest.contains(&format!("{method}(")) {
                        routes.push((path.clone(), method));
                    }
                }
            }
        }
    }
    assert!(routes.len() >= 20, "found {routes:?}");
    for (path, method) in routes {
        let described = paths.get(&path).and_then(|p| p.get(method));
        assert!(
            described.is_some(),
            "{method} {path} is not in docs/openapi.json"
        );
    }
}
