//! The session runtime over real WebSockets: every forbidden command is refused and
//! audited; a defense runs from admission to scores, ratings and exports; a training
//! session's hands, chat and promotion; the audit log verifies.

use std::time::Duration;
use viva::signaling::protocol::ClientMessage;

use serde_json::{Value, json};

use crate::helpers::{TestApp, book_now_as, spawn_app};
use crate::ws_client::WsClient;

/// A participant id as the tests hold it (the API's string) for a typed message.
fn id(text: impl AsRef<str>) -> uuid::Uuid {
    text.as_ref().parse().unwrap()
}

/// A rating with no comment, of the current session.
fn rate(stars: u8) -> ClientMessage {
    ClientMessage::Rate {
        stars,
        comment: String::new(),
        session_id: None,
    }
}

async fn audit(app: &TestApp, session: &str) -> Vec<Value> {
    app.admin_get("/api/v1/audit?limit=5000")
        .await
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["sessionId"] == session)
        .cloned()
        .collect()
}

/// Waits until the audit log holds `n` entries of `action` for the session: the
/// audit writer is flushed before each read, so what was recorded is what is read.
async fn await_audit(app: &TestApp, session: &str, action: &str, n: usize) -> Vec<Value> {
    crate::helpers::eventually(
        &format!("{n} `{action}` audit entries"),
        Duration::from_secs(5),
        || async {
            app.state.audit.flush().await;
            let entries: Vec<Value> = audit(app, session)
                .await
                .into_iter()
                .filter(|e| e["action"] == action)
                .collect();
            (entries.len() >= n).then_some(entries)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_forbidden_command_is_refused_audited_and_changes_nothing() {
    let app = spawn_app().await;
    let d = book_now_as(
        &app,
        "defense",
        &[
            ("秘书", "host"),
            ("专家", "expert"),
            ("申请人", "applicant"),
            ("旁听", "observer"),
        ],
    )
    .await;
    let (host_id, expert_id, applicant_id) = (&d.ids[0], &d.ids[1], &d.ids[2]);
    let host = WsClient::join(&app, &d.tokens[0]).await;
    let mut expert = WsClient::join(&app, &d.tokens[1]).await;
    let mut applicant = WsClient::join(&app, &d.tokens[2]).await;
    let mut observer = WsClient::join(&app, &d.tokens[3]).await;

    let host_only = |target: &str| {
        let target = id(target);
        vec![
            ClientMessage::Admit {
                participant_id: target,
            },
            ClientMessage::ReturnToLobby {
                participant_id: target,
            },
            ClientMessage::Advance,
            ClientMessage::Back,
            ClientMessage::Extend { minutes: 5 },
            ClientMessage::ReopenScores {
                expert_id: target,
                reason: "x".into(),
            },
            ClientMessage::Mute {
                participant_id: target,
            },
            ClientMessage::AskUnmute {
                participant_id: target,
            },
            ClientMessage::AllowScreen {
                participant_id: target,
                allowed: true,
            },
            ClientMessage::Remove {
                participant_id: target,
            },
            ClientMessage::Recording { on: true },
            ClientMessage::RemoveChat { id: target },
            ClientMessage::Close,
        ]
    };
    let mut refusals = 0;
    for (who, client, target) in [
        ("applicant", &mut applicant, expert_id),
        ("expert", &mut expert, applicant_id),
        ("observer", &mut observer, applicant_id),
    ] {
        for command in host_only(target) {
            let code = client.refuses(command.clone()).await;
            assert_eq!(code, "forbidden", "{who}: {command:?}");
            refusals += 1;
        }
    }
    // Scores are for experts, during scoring only; chat is not part of defenses;
    // observers stay hidden; ratings wait for the close.
    let (h, e, a, o) = (0, 1, 2, 3);
    let mut clients = [host, expert, applicant, observer];
    let sheet = ClientMessage::SubmitScores {
        scores: vec![9, 9, 9, 9],
        comment: String::new(),
    };
    for (who, command, want) in [
        (a, sheet.clone(), "forbidden"),
        (h, sheet.clone(), "forbidden"),
        (e, sheet, "refused"),
        (e, ClientMessage::Chat { text: "hi".into() }, "forbidden"),
        (o, ClientMessage::RaiseHand { raised: true }, "forbidden"),
        (o, rate(5), "forbidden"),
        (e, rate(5), "not_closed"),
        (
            h,
            ClientMessage::Promote {
                participant_id: id(applicant_id),
                promoted: true,
            },
            "refused",
        ),
        (
            h,
            ClientMessage::Mute {
                participant_id: uuid::Uuid::nil(),
            },
            "unknown_participant",
        ),
        (
            h,
            ClientMessage::Remove {
                participant_id: id(host_id),
            },
            "refused",
        ),
    ] {
        assert_eq!(
            clients[who].refuses(command.clone()).await,
            want,
            "{command:?}"
        );
        if want == "forbidden" {
            refusals += 1;
        }
    }
    let [mut host, _expert, mut applicant, _observer] = clients;

    // Nothing changed: the applicant still waits, the agenda has not started, nobody
    // was muted or removed, recording is off.
    applicant.drain(Duration::from_millis(300)).await;
    for kind in [
        "participantState",
        "unmuteRequested",
        "scores",
        "scoreSheet",
    ] {
        assert!(!applicant.has_seen(kind), "applicant got {kind}");
    }
    assert!(
        !applicant
            .seen
            .iter()
            .any(|m| m["type"] == "lobby" && m["inLobby"] == false)
    );
    host.drain(Duration::from_millis(100)).await;
    assert!(
        !host
            .seen
            .iter()
            .any(|m| m["type"] == "phase" && m["phase"] != "lobby")
    );
    assert!(
        !host
            .seen
            .iter()
            .any(|m| m["type"] == "recording" && m["on"] == true)
    );

    let refused = await_audit(&app, &d.session, "refused", refusals).await;
    assert_eq!(refused.len(), refusals);
    assert_eq!(
        refused
            .iter()
            .filter(|e| e["actor"] == format!("participant:{host_id}"))
            .count(),
        1,
        "the host's only refusal: submitting scores"
    );
    let verify = app.admin_get("/api/v1/audit/verify").await;
    assert_eq!(verify["intact"], true, "{verify}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_defense_runs_to_locked_scores_ratings_and_exports() {
    let app = spawn_app().await;
    let d = book_now_as(
        &app,
        "defense",
        &[
            ("秘书", "host"),
            ("王专家", "expert"),
            ("李专家", "expert"),
            ("申请人", "applicant"),
        ],
    )
    .await;
    let (e1, e2, applicant_id) = (&d.ids[1], &d.ids[2], &d.ids[3]);
    let mut host = WsClient::join(&app, &d.tokens[0]).await;
    let mut expert1 = WsClient::join(&app, &d.tokens[1]).await;
    let mut expert2 = WsClient::join(&app, &d.tokens[2]).await;
    let mut applicant = WsClient::join(&app, &d.tokens[3]).await;

    // Experts get the sheet (default criteria) on join; the host the empty scores.
    let sheet = expert1.wait_type("scoreSheet").await;
    assert_eq!(sheet["criteria"].as_array().unwrap().len(), 4);
    assert_eq!(sheet["locked"], false);
    let scores = host.wait_type("scores").await;
    assert_eq!(scores["sheets"].as_array().unwrap().len(), 2);
    assert!(scores["mean"].is_null());
    applicant
        .wait_for("lobby", |m| m["type"] == "lobby" && m["inLobby"] == true)
        .await;

    host.say(ClientMessage::Advance).await;
    host.wait_for("presentation", |m| {
        m["type"] == "phase" && m["phase"] == "presentation"
    })
    .await;
    host.say(ClientMessage::Admit {
        participant_id: id(applicant_id),
    })
    .await;
    applicant
        .wait_for("admitted", |m| {
            m["type"] == "lobby" && m["inLobby"] == false
        })
        .await;
    host.say(ClientMessage::Advance).await; // Q&A
    host.say(ClientMessage::Advance).await; // deliberation
    applicant
        .wait_for("deliberation", |m| {
            m["type"] == "phase" && m["phase"] == "deliberation"
        })
        .await;
    applicant
        .wait_for("deliberation returns the applicant to the lobby", |m| {
            m["type"] == "lobby" && m["inLobby"] == true
        })
        .await;
    host.say(ClientMessage::Advance).await; // scoring
    expert1
        .wait_for("scoring", |m| {
            m["type"] == "phase" && m["phase"] == "scoring"
        })
        .await;

    // A sheet that does not fit is refused; a good one is locked.
    assert_eq!(
        expert1
            .refuses(ClientMessage::SubmitScores {
                scores: vec![11, 0, 0, 0],
                comment: "".into()
            })
            .await,
        "refused"
    );
    assert_eq!(
        expert1
            .refuses(ClientMessage::SubmitScores {
                scores: vec![1, 2],
                comment: "".into()
            })
            .await,
        "refused"
    );
    expert1
        .say(ClientMessage::SubmitScores {
            scores: vec![10, 10, 10, 10],
            comment: "很好 <b>".into(),
        })
        .await;
    let locked = expert1
        .wait_for("locked sheet", |m| {
            m["type"] == "scoreSheet" && m["locked"] == true
        })
        .await;
    assert_eq!(locked["scores"], json!([10, 10, 10, 10]));
    assert_eq!(
        expert1
            .refuses(ClientMessage::SubmitScores {
                scores: vec![1, 1, 1, 1],
                comment: "".into()
            })
            .await,
        "refused",
        "a submitted sheet is locked"
    );
    expert2
        .say(ClientMessage::SubmitScores {
            scores: vec![5, 5, 5, 5],
            comment: "一般".into(),
        })
        .await;
    let agg = host
        .wait_for("both sheets", |m| {
            m["type"] == "scores"
                && m["sheets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|s| s["submitted"] == true)
        })
        .await;
    assert!((agg["mean"].as_f64().unwrap() - 75.0).abs() < 1e-6, "{agg}");

    // Reopening needs a reason; it unlocks the sheet and is recorded.
    assert_eq!(
        host.refuses(ClientMessage::ReopenScores {
            expert_id: id(e2),
            reason: "  ".into()
        })
        .await,
        "refused"
    );
    host.say(ClientMessage::ReopenScores {
        expert_id: id(e2),
        reason: "打分录入错误".into(),
    })
    .await;
    expert2
        .wait_for("unlocked", |m| {
            m["type"] == "scoreSheet" && m["locked"] == false && m["scores"].is_array()
        })
        .await;
    expert2
        .say(ClientMessage::SubmitScores {
            scores: vec![10, 10, 10, 0],
            comment: "修正".into(),
        })
        .await;
    expert2
        .wait_for("relocked", |m| {
            m["type"] == "scoreSheet"
                && m["locked"] == true
                && m["scores"] == json!([10, 10, 10, 0])
        })
        .await;

    host.say(ClientMessage::Advance).await; // closed
    expert1.wait_type("rateRequest").await;
    applicant.wait_type("rateRequest").await;
    expert1
        .say(ClientMessage::Rate {
            stars: 5,
            comment: "流畅".into(),
            session_id: None,
        })
        .await;
    expert1.wait_type("rated").await;
    applicant
        .say(ClientMessage::Rate {
            stars: 4,
            comment: String::new(),
            session_id: None,
        })
        .await;
    applicant.wait_type("rated").await;
    assert_eq!(
        applicant
            .refuses(ClientMessage::Rate {
                stars: 9,
                comment: String::new(),
                session_id: None
            })
            .await,
        "invalid_rating"
    );
    assert_eq!(
        host.refuses(ClientMessage::Rate {
            stars: 5,
            comment: String::new(),
            session_id: None
        })
        .await,
        "forbidden"
    );

    // The applicant never saw a score.
    applicant.drain(Duration::from_millis(300)).await;
    assert!(!applicant.has_seen("scores") && !applicant.has_seen("scoreSheet"));

    // Exports.
    let report = app
        .admin_get(&format!("/api/v1/sessions/{}/scores", d.session))
        .await;
    let sheets = report["sheets"].as_array().unwrap();
    assert_eq!(sheets[0]["expertId"], e1.as_str());
    assert_eq!(sheets[1]["reopenReason"], "打分录入错误");
    assert!((sheets[1]["total"].as_f64().unwrap() - 80.0).abs() < 1e-6);
    assert!((report["mean"].as_f64().unwrap() - 90.0).abs() < 1e-6);
    let token = app.admin_token().await;
    let csv = app
        .http
        .get(format!(
            "{}/api/v1/sessions/{}/scores.csv",
            app.base, d.session
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = csv.text().await.unwrap();
    assert!(csv.starts_with('\u{feff}'));
    assert!(
        csv.contains("王专家,10,10,10,10,100.00,yes,很好 <b>"),
        "{csv}"
    );
    assert!(csv.contains("李专家,10,10,10,0,80.00,yes,修正"), "{csv}");
    assert!(csv.contains("90.00"));
    let page = app
        .http
        .get(format!(
            "{}/api/v1/sessions/{}/scores/print",
            app.base, d.session
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("很好 &lt;b&gt;"), "comments are escaped");
    assert!(page.contains("90.00"));
    let anonymous = app
        .http
        .get(format!(
            "{}/api/v1/sessions/{}/scores.csv",
            app.base, d.session
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    let ratings = app
        .admin_get(&format!("/api/v1/sessions/{}/ratings", d.session))
        .await;
    let stars: Vec<i64> = ratings
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["stars"].as_i64().unwrap())
        .collect();
    assert_eq!(stars.len(), 2);
    assert!(stars.contains(&5) && stars.contains(&4));

    // The audit trail holds the story, and it verifies.
    await_audit(&app, &d.session, "scoreReopened", 1).await;
    await_audit(&app, &d.session, "scoreSubmitted", 3).await;
    await_audit(&app, &d.session, "phase", 5).await;
    await_audit(&app, &d.session, "admit", 1).await;
    await_audit(&app, &d.session, "toLobby", 1).await;
    await_audit(&app, &d.session, "join", 4).await;
    await_audit(&app, &d.session, "linksIssued", 1).await;
    assert_eq!(app.admin_get("/api/v1/audit/verify").await["intact"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn training_hands_chat_promotion_and_close() {
    let app = spawn_app().await;
    let t = book_now_as(
        &app,
        "training",
        &[
            ("讲师", "trainer"),
            ("秘书", "host"),
            ("农户甲", "trainee"),
            ("农户乙", "trainee"),
        ],
    )
    .await;
    let trainee_id = &t.ids[2];
    let mut trainer = WsClient::join(&app, &t.tokens[0]).await;
    let mut host = WsClient::join(&app, &t.tokens[1]).await;
    let mut trainee = WsClient::join(&app, &t.tokens[2]).await;

    let sources = trainee.wait_type("sources").await;
    assert_eq!(
        sources,
        json!({"type":"sources","microphone":false,"camera":false,"screen":false})
    );
    let trainer_sources = trainer.wait_type("sources").await;
    assert_eq!(
        trainer_sources["screen"], true,
        "the trainer may share the screen"
    );

    trainee.say(ClientMessage::RaiseHand { raised: true }).await;
    trainer
        .wait_for("hand", |m| {
            m["type"] == "participantState"
                && m["participantId"] == trainee_id.as_str()
                && m["handRaised"] == true
        })
        .await;

    trainee
        .say(ClientMessage::Chat {
            text: "请问施肥量？".into(),
        })
        .await;
    let line = host.wait_type("chat").await;
    assert_eq!(line["message"]["text"], "请问施肥量？");
    trainee
        .say(ClientMessage::Chat {
            text: "广告广告".into(),
        })
        .await;
    let spam = trainer
        .wait_for("spam", |m| {
            m["type"] == "chat" && m["message"]["text"] == "广告广告"
        })
        .await;
    assert_eq!(
        trainee
            .refuses(ClientMessage::Chat { text: "  ".into() })
            .await,
        "invalid_chat"
    );
    assert_eq!(
        trainee
            .refuses(ClientMessage::RemoveChat {
                id: id(spam["message"]["id"].as_str().unwrap())
            })
            .await,
        "forbidden"
    );
    host.say(ClientMessage::RemoveChat {
        id: id(spam["message"]["id"].as_str().unwrap()),
    })
    .await;
    trainee.wait_type("chatRemoved").await;

    // A late joiner gets the history without the removed message.
    let mut late = WsClient::join(&app, &t.tokens[3]).await;
    late.wait_type("chat").await;
    late.drain(Duration::from_millis(300)).await;
    let history: Vec<&Value> = late.seen.iter().filter(|m| m["type"] == "chat").collect();
    assert!(
        history.iter().all(|m| m["message"]["text"] != "广告广告"),
        "{history:?}"
    );
    let stored = app
        .admin_get(&format!("/api/v1/sessions/{}/chat", t.session))
        .await;
    assert_eq!(
        stored.as_array().unwrap().len(),
        2,
        "removed messages stay on record"
    );

    trainer
        .say(ClientMessage::Promote {
            participant_id: id(trainee_id),
            promoted: true,
        })
        .await;
    trainee
        .wait_for("promoted", |m| {
            m["type"] == "sources" && m["microphone"] == true && m["camera"] == true
        })
        .await;
    trainer
        .say(ClientMessage::Promote {
            participant_id: id(trainee_id),
            promoted: false,
        })
        .await;
    trainee
        .wait_for("demoted", |m| {
            m["type"] == "sources" && m["microphone"] == false
        })
        .await;

    trainer.say(ClientMessage::Recording { on: true }).await;
    trainee
        .wait_for("recording", |m| m["type"] == "recording" && m["on"] == true)
        .await;

    assert_eq!(
        trainee
            .refuses(ClientMessage::Rate {
                stars: 5,
                comment: String::new(),
                session_id: None
            })
            .await,
        "not_closed"
    );
    trainer.say(ClientMessage::Close).await;
    trainee.wait_type("rateRequest").await;
    trainee
        .say(ClientMessage::Rate {
            stars: 5,
            comment: "实用".into(),
            session_id: None,
        })
        .await;
    trainee.wait_type("rated").await;
    let ratings = app
        .admin_get(&format!("/api/v1/sessions/{}/ratings", t.session))
        .await;
    assert_eq!(ratings[0]["role"], "trainee");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_participant_is_disconnected_and_cannot_rejoin() {
    let app = spawn_app().await;
    let d = book_now_as(
        &app,
        "defense",
        &[
            ("秘书", "host"),
            ("专家", "expert"),
            ("申请人", "applicant"),
        ],
    )
    .await;
    let mut host = WsClient::join(&app, &d.tokens[0]).await;
    let mut expert = WsClient::join(&app, &d.tokens[1]).await;
    host.say(ClientMessage::Remove {
        participant_id: id(&d.ids[1]),
    })
    .await;
    let e = expert.wait_type("error").await;
    assert_eq!(
        (e["code"].as_str(), e["fatal"].as_bool()),
        (Some("removed"), Some(true))
    );

    let (mut ws, _) = tokio_tungstenite::connect_async(app.ws_url(&d.tokens[1]))
        .await
        .unwrap();
    use futures_util::{SinkExt, StreamExt};
    ws.send(tokio_tungstenite::tungstenite::Message::Text(
        r#"{"type":"join","protocol":1}"#.into(),
    ))
    .await
    .unwrap();
    let Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t))) = ws.next().await else {
        panic!("no reply");
    };
    let reply: Value = serde_json::from_str(&t).unwrap();
    assert_eq!(reply["code"], "removed", "{reply}");
    await_audit(&app, &d.session, "remove", 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn programme_criteria_are_validated_and_stored() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let programme = app
        .admin_post(
            "/api/v1/programmes",
            json!({"name": "星火计划", "minPanelSize": 3, "maxPanelSize": 5}),
        )
        .await;
    let put = |id: String, body: Value| {
        let (http, url, token) = (
            app.http.clone(),
            format!("{}/api/v1/programmes/{id}/criteria", app.base),
            token.clone(),
        );
        async move {
            http.put(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let id = programme["id"].as_str().unwrap().to_owned();
    let good = json!({"criteria": [{"name": "创新性", "weight": 0.7, "max": 10}, {"name": "效益", "weight": 0.3, "max": 5}]});
    let res = put(id.clone(), good.clone()).await;
    assert_eq!(res.status(), 200);
    for bad in [
        json!({"criteria": []}),
        json!({"criteria": [{"name": "x", "weight": -1, "max": 10}]}),
        json!({"criteria": [{"name": "x", "weight": 1, "max": 0}]}),
        json!({"criteria": [{"name": "", "weight": 1, "max": 10}]}),
    ] {
        let res = put(id.clone(), bad.clone()).await;
        assert_eq!(res.status(), 422, "{bad}");
        let body: Value = res.json().await.unwrap();
        assert!(body["code"].is_string());
    }
    assert_eq!(
        put(uuid::Uuid::new_v4().to_string(), good.clone())
            .await
            .status(),
        404
    );
    assert_eq!(put("../etc".into(), good).await.status(), 404);
    await_audit_global(&app, "criteriaChanged").await;
}

async fn await_audit_global(app: &TestApp, action: &str) {
    crate::helpers::eventually(
        &format!("`{action}` in the audit log"),
        Duration::from_secs(5),
        || async {
            app.state.audit.flush().await;
            let log = app.admin_get("/api/v1/audit?limit=5000").await;
            log.as_array()
                .unwrap()
                .iter()
                .any(|e| e["action"] == action)
                .then_some(())
        },
    )
    .await;
}

/// The SFU, not the page, enforces host controls: a muted expert's audio reaches
/// nobody while their video flows; an unpromoted trainee's media reaches nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mute_and_promotion_are_enforced_in_the_media_plane() {
    use crate::rtc_client::run_participant;
    let app = spawn_app().await;
    let d = book_now_as(
        &app,
        "defense",
        &[("秘书", "host"), ("专家一", "expert"), ("专家二", "expert")],
    )
    .await;
    let mut host = WsClient::join(&app, &d.tokens[0]).await;
    host.say(ClientMessage::Mute {
        participant_id: id(&d.ids[1]),
    })
    .await;
    host.wait_for("muted", |m| {
        m["type"] == "participantState" && m["muted"] == true
    })
    .await;
    let limit = Duration::from_secs(8);
    let urls: Vec<String> = d.tokens.iter().map(|t| app.ws_url(t)).collect();
    let (muted, other) = tokio::join!(
        run_participant(&urls[1], 1, &[2], 30, limit),
        run_participant(&urls[2], 2, &[1], 30, limit),
    );
    assert!(muted.connected && other.connected);
    assert!(
        other.video_from.get(&1).copied().unwrap_or(0) >= 30,
        "video flows: {other:?}"
    );
    assert_eq!(
        other.audio_from.get(&1),
        None,
        "a muted microphone reaches nobody: {other:?}"
    );
    assert!(
        muted.audio_from.get(&2).copied().unwrap_or(0) >= 30,
        "the muted still hear: {muted:?}"
    );

    let t = book_now_as(
        &app,
        "training",
        &[("讲师", "trainer"), ("农户", "trainee")],
    )
    .await;
    let urls: Vec<String> = t.tokens.iter().map(|t| app.ws_url(t)).collect();
    let (trainer, trainee) = tokio::join!(
        run_participant(&urls[0], 1, &[2], 30, Duration::from_secs(6)),
        run_participant(&urls[1], 2, &[1], 30, Duration::from_secs(6)),
    );
    assert!(
        trainee.video_from.get(&1).copied().unwrap_or(0) >= 30,
        "trainees watch: {trainee:?}"
    );
    assert!(
        trainer.video_from.is_empty() && trainer.audio_from.is_empty(),
        "an unpromoted trainee reaches nobody: {trainer:?}"
    );
}

/// The host takes the current defense from its start to scoring; the expert submits
/// the same score on every criterion and sees the sheet locked.
async fn score_the_current_defense(
    host: &mut WsClient,
    expert: &mut WsClient,
    score: u32,
    comment: &str,
) {
    for _ in 0..4 {
        host.say(ClientMessage::Advance).await;
    }
    expert
        .wait_for("scoring", |m| {
            m["type"] == "phase" && m["phase"] == "scoring"
        })
        .await;
    expert
        .say(ClientMessage::SubmitScores {
            scores: vec![score; 4],
            comment: comment.to_string(),
        })
        .await;
    expert
        .wait_for("locked", |m| {
            m["type"] == "scoreSheet" && m["locked"] == true
        })
        .await;
}

/// A panel day: one room for the panel's defenses; the second applicant queues in the
/// lobby and is admitted when the first defense closes; each defense keeps its own
/// scores; a panel member is one person in the room whichever link they use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panel_day_queues_applicants_and_moves_on_after_scoring() {
    use crate::helpers::{book_panel_day, id_of, token_of};
    let app = spawn_app().await;
    let day = book_panel_day(&app, 2).await;
    let (first, second) = (&day[0], &day[1]);
    let (s1, s2) = (
        first["session"]["id"].as_str().unwrap(),
        second["session"]["id"].as_str().unwrap(),
    );
    let mut host = WsClient::join(&app, &token_of(first, "秘书")).await;
    // The expert uses the second defense's link: still one seat in the room.
    let mut expert = WsClient::join(&app, &token_of(second, "专家0")).await;
    let mut a1 = WsClient::join(&app, &token_of(first, "申请人0")).await;
    let mut a2 = WsClient::join(&app, &token_of(second, "申请人1")).await;
    assert_eq!(a1.wait_type("queue").await["ahead"], 0);
    assert_eq!(a2.wait_type("queue").await["ahead"], 1);
    a2.wait_for("lobby", |m| m["type"] == "lobby" && m["inLobby"] == true)
        .await;
    let roster = host
        .wait_for("joined", |m| {
            m["type"] == "participantJoined" && m["participant"]["name"] == "申请人1"
        })
        .await;
    assert_eq!(
        roster["participant"]["role"], "applicant",
        "everyone of the day shares the room"
    );

    // The expert scores the current (first) defense, whose sheet they got on joining.
    let sheet = expert.wait_type("scoreSheet").await;
    assert_eq!(sheet["locked"], false);
    let a1_id = id_of(first, "申请人0");
    host.say(ClientMessage::Admit {
        participant_id: id(&a1_id),
    })
    .await;
    a1.wait_for("admitted", |m| {
        m["type"] == "lobby" && m["inLobby"] == false
    })
    .await;
    let a2_id = id_of(second, "申请人1");
    assert_eq!(
        host.refuses(ClientMessage::Admit {
            participant_id: id(&a2_id)
        })
        .await,
        "refused",
        "the next applicant waits for their turn"
    );
    score_the_current_defense(&mut host, &mut expert, 8, "一").await;
    host.say(ClientMessage::Advance).await; // closed → the next defense

    let request = a1.wait_type("rateRequest").await;
    assert_eq!(request["sessionId"], s1);
    a2.wait_for("admitted by the queue", |m| {
        m["type"] == "lobby" && m["inLobby"] == false
    })
    .await;
    assert_eq!(
        a2.wait_for("queue", |m| m["type"] == "queue" && m["ahead"] == 0)
            .await["ahead"],
        0
    );
    host.wait_for("next defense's lobby phase", |m| {
        m["type"] == "phase" && m["phase"] == "lobby"
    })
    .await;
    let fresh = expert
        .wait_for("a fresh sheet", |m| {
            m["type"] == "scoreSheet" && m["locked"] == false
        })
        .await;
    assert!(fresh["scores"].is_null());
    let rate = expert.wait_type("rateRequest").await;
    expert
        .say(ClientMessage::Rate {
            stars: 4,
            comment: String::new(),
            session_id: Some(id(rate["sessionId"].as_str().unwrap())),
        })
        .await;
    expert.wait_type("rated").await;

    score_the_current_defense(&mut host, &mut expert, 2, "二").await;

    // Each defense has its own record.
    let r1 = app
        .admin_get(&format!("/api/v1/sessions/{s1}/scores"))
        .await;
    let r2 = app
        .admin_get(&format!("/api/v1/sessions/{s2}/scores"))
        .await;
    let submitted = |r: &Value| -> Vec<(String, String)> {
        r["sheets"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["locked"] == true)
            .map(|s| {
                (
                    s["name"].as_str().unwrap().to_owned(),
                    s["comment"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(submitted(&r1), vec![("专家0".to_owned(), "一".to_owned())]);
    assert_eq!(submitted(&r2), vec![("专家0".to_owned(), "二".to_owned())]);
    let stored_as = r2["sheets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "专家0")
        .unwrap()["expertId"]
        .clone();
    assert_eq!(
        stored_as,
        id_of(second, "专家0"),
        "stored under the second defense's seat"
    );
    let ratings = app
        .admin_get(&format!("/api/v1/sessions/{s1}/ratings"))
        .await;
    assert_eq!(ratings[0]["participantId"], id_of(first, "专家0"));
    await_audit(&app, s2, "defenseStarted", 1).await;
    await_audit(&app, s2, "phase", 4).await;
}

/// Screen sharing is a source of its own in the SFU: an applicant's screen reaches the
/// panel only once the host allows it (their camera flows regardless); a trainer's
/// screen always reaches the trainees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screen_sharing_reaches_the_room_only_when_allowed() {
    use crate::rtc_client::{run_participant, run_participant_sharing, screen_tag};
    let app = spawn_app().await;
    let d = book_now_as(
        &app,
        "defense",
        &[
            ("秘书", "host"),
            ("专家", "expert"),
            ("申请人", "applicant"),
        ],
    )
    .await;
    let urls: Vec<String> = d.tokens.iter().map(|t| app.ws_url(t)).collect();
    let mut host = WsClient::join(&app, &d.tokens[0]).await;
    host.say(ClientMessage::Admit {
        participant_id: id(&d.ids[2]),
    })
    .await;
    let limit = Duration::from_secs(6);
    let (expert, _) = tokio::join!(
        run_participant(&urls[1], 1, &[2], 30, limit),
        run_participant_sharing(&urls[2], 2, &[1], 30, limit),
    );
    assert!(
        expert.video_from.get(&2).copied().unwrap_or(0) >= 30,
        "the camera flows: {expert:?}"
    );
    assert_eq!(
        expert.video_from.get(&screen_tag(2)),
        None,
        "no screen before it is allowed"
    );

    host.say(ClientMessage::AllowScreen {
        participant_id: id(&d.ids[2]),
        allowed: true,
    })
    .await;
    host.wait_for("allowed", |m| {
        m["type"] == "participantState" && m["screenAllowed"] == true
    })
    .await;
    let both = [2, screen_tag(2)];
    let (expert, _) = tokio::join!(
        run_participant(&urls[1], 1, &both, 30, limit),
        run_participant_sharing(&urls[2], 2, &[1], 30, limit),
    );
    assert!(
        expert.video_from.get(&screen_tag(2)).copied().unwrap_or(0) >= 30,
        "the slides reach the panel once allowed: {expert:?}"
    );

    let t = book_now_as(
        &app,
        "training",
        &[("讲师", "trainer"), ("农户", "trainee")],
    )
    .await;
    let urls: Vec<String> = t.tokens.iter().map(|t| app.ws_url(t)).collect();
    let trainer_both = [1, screen_tag(1)];
    let (_, trainee) = tokio::join!(
        // Expects the (silent) trainee, so it keeps publishing for the whole limit.
        run_participant_sharing(&urls[0], 1, &[2], 1, limit),
        run_participant(&urls[1], 2, &trainer_both, 30, limit),
    );
    assert!(
        trainee.video_from.get(&screen_tag(1)).copied().unwrap_or(0) >= 30
            && trainee.video_from.get(&1).copied().unwrap_or(0) >= 30,
        "trainees see the trainer's camera and screen: {trainee:?}"
    );
}

/// A page that floods the chat is slowed down: a burst passes, the rest is refused
/// with `rate_limited` and never stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_flood_is_rate_limited_and_not_stored() {
    let app = spawn_app().await;
    let t = book_now_as(
        &app,
        "training",
        &[("讲师", "trainer"), ("农户", "trainee")],
    )
    .await;
    let mut trainee = WsClient::join(&app, &t.tokens[1]).await;
    for i in 0..30 {
        trainee
            .say(ClientMessage::Chat {
                text: format!("刷屏{i}"),
            })
            .await;
    }
    let refusal = trainee
        .wait_for("rate_limited", |m| {
            m["type"] == "error" && m["code"] == "rate_limited"
        })
        .await;
    assert_eq!(refusal["fatal"], false);
    let stored = app
        .admin_get(&format!("/api/v1/sessions/{}/chat", t.session))
        .await;
    let n = stored.as_array().unwrap().len();
    assert!(
        (10..30).contains(&n),
        "a burst of about ten is kept, not 30: {n}"
    );
}
