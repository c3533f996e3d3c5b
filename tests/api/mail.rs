//! Invitations by e-mail: with an SMTP relay configured, a booked participant with an
//! address receives a message carrying their `.ics`, and the notification is recorded
//! as e-mailed; without an address (or when the relay is down) it is logged instead and
//! the booking still succeeds.

use std::sync::{Arc, Mutex};

use chrono::{Duration, Utc};
use scheduler::Role;
use scheduler::domain::PersonName;
use scheduler::model::NewPerson;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::helpers::spawn_app_with;

/// A minimal SMTP receiver (RFC 5321 happy path) that keeps each message's DATA.
async fn smtp_sink() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let messages = Arc::new(Mutex::new(Vec::new()));
    let store = messages.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let store = store.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 sink ESMTP\r\n").await.unwrap();
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(body) = data.as_mut() {
                        if line == "." {
                            store.lock().unwrap().push(data.take().unwrap());
                            write.write_all(b"250 queued\r\n").await.unwrap();
                        } else {
                            body.push_str(&line);
                            body.push('\n');
                        }
                        continue;
                    }
                    let reply: &[u8] = match line.get(..4).map(str::to_ascii_uppercase).as_deref() {
                        Some("EHLO") => b"250-sink\r\n250 8BITMIME\r\n",
                        Some("DATA") => {
                            data = Some(String::new());
                            b"354 go ahead\r\n"
                        }
                        Some("QUIT") => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            break;
                        }
                        _ => b"250 ok\r\n",
                    };
                    write.write_all(reply).await.unwrap();
                }
            });
        }
    });
    (port, messages)
}

/// Creates an expert with an e-mail address and books them (with `extra`
/// participants) for tomorrow; returns the booking response.
async fn book_expert(
    app: &crate::helpers::TestApp,
    name: &str,
    email: &str,
    extra: &[Value],
) -> Value {
    let expert = app
        .state
        .store
        .create_person(&NewPerson {
            name: PersonName::parse(name).unwrap(),
            email: Some(email.into()),
            organisation: None,
            roles: vec![Role::Expert],
            fields: vec![],
            time_zone: chrono_tz::Asia::Shanghai,
        })
        .await
        .unwrap();
    let mut participants = vec![json!({"name": name, "role": "expert", "personId": expert.id})];
    participants.extend_from_slice(extra);
    let token = app.admin_token().await;
    let res = app
        .http
        .post(format!("{}/api/v1/sessions", app.base))
        .bearer_auth(&token)
        .json(&json!({
            "title": "邮件测试答辩",
            "start": (Utc::now() + Duration::days(1)).to_rfc3339(),
            "durationMinutes": 30,
            "participants": participants,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        201,
        "the booking never depends on the mail relay"
    );
    res.json().await.unwrap()
}

#[tokio::test]
async fn invitations_are_emailed_with_the_calendar_attached() {
    let (port, messages) = smtp_sink().await;
    let app = spawn_app_with(|c| {
        c.smtp.host = "127.0.0.1".into();
        c.smtp.port = port;
        c.smtp.from = "Viva <viva@institute.example>".into();
    })
    .await;
    let body = book_expert(
        &app,
        "张专家",
        "zhang@example.org",
        &[json!({"name": "无邮箱秘书", "role": "host"})],
    )
    .await;
    let token = app.admin_token().await;
    let id = body["session"]["id"].as_str().unwrap();

    let sent = messages.lock().unwrap().clone();
    assert_eq!(
        sent.len(),
        1,
        "only the participant with an address is mailed"
    );
    let mail = &sent[0];
    assert!(mail.contains("zhang@example.org"), "{mail}");
    assert!(mail.contains("text/calendar"), "{mail}");
    assert!(mail.contains("method=REQUEST"), "{mail}");

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
    let channels: Vec<&str> = notes
        .iter()
        .map(|n| n["channel"].as_str().unwrap())
        .collect();
    assert_eq!(channels, vec!["email", "log"]);
}

#[tokio::test]
async fn a_dead_relay_does_not_fail_the_booking() {
    // A port with nothing listening.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = spawn_app_with(|c| {
        c.smtp.host = "127.0.0.1".into();
        c.smtp.port = port;
    })
    .await;
    book_expert(&app, "李专家", "li@example.org", &[]).await;
}
