//! The `viva` binary itself: `viva serve` starts with only environment configuration,
//! applies migrations, prints how to sign in, and stops cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn serve_prints_the_admin_password_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let http_port = free_tcp_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_viva"))
        .arg("serve")
        .current_dir(dir.path())
        .env("VIVA_HTTP__LISTEN", format!("127.0.0.1:{http_port}"))
        .env(
            "VIVA_HTTP__PUBLIC_URL",
            format!("http://127.0.0.1:{http_port}"),
        )
        .env("VIVA_MEDIA__UDP_LISTEN", "127.0.0.1:0")
        .env("VIVA_MEDIA__TCP_LISTEN", "127.0.0.1:0")
        .env_remove("VIVA_AUTH__ADMIN_PASSWORD")
        .env_remove("VIVA_AUTH__SIGNING_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !printed.contains("password:") && Instant::now() < deadline {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            break;
        }
        printed.push_str(&line);
    }
    let password = printed
        .split("password: ")
        .nth(1)
        .map(|rest| rest.split_whitespace().next().unwrap_or("").to_owned())
        .unwrap_or_else(|| panic!("no password printed: {printed}"));
    assert_eq!(password.len(), 20, "{printed}");
    assert!(
        dir.path().join("data/viva.db").exists(),
        "database created under ./data"
    );
    assert!(dir.path().join("data/signing.key").exists());

    // Every thread but the media thread runs 10 nice steps below it (capped at 19).
    let threads = thread_niceness(child.id());
    let media = threads
        .iter()
        .find(|(name, _)| name == "viva-media")
        .map(|(_, nice)| *nice)
        .unwrap_or_else(|| panic!("no media thread: {threads:?}"));
    assert!(threads.len() > 2, "{threads:?}");
    for (name, nice) in &threads {
        if name != "viva-media" {
            assert_eq!(*nice, (media + 10).min(19), "{name}: {threads:?}");
        }
    }

    // The printed password signs in.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let status = rt.block_on(async {
        reqwest::Client::new()
            .post(format!("http://127.0.0.1:{http_port}/api/v1/auth/login"))
            .json(&serde_json::json!({"username": "admin", "password": password}))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 200);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "viva did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "exit status {exit:?}");
}

#[test]
fn a_bad_setting_is_reported_in_one_line_and_nothing_starts() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_viva"))
        .arg("serve")
        .current_dir(dir.path())
        .env("VIVA_AUTH__SIGNING_KEY", "too-short")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("signing_key"), "{stderr}");
    assert!(
        !stderr.contains("too-short"),
        "the secret's value is never echoed: {stderr}"
    );
    assert!(!dir.path().join("data").exists(), "nothing was created");
}

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn viva_import(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_viva"))
        .arg("import")
        .args(args)
        .current_dir(dir)
        .env(
            "VIVA_DATABASE__URL",
            format!("sqlite://{}", dir.join("viva.db").display()),
        )
        .output()
        .unwrap()
}

#[test]
fn viva_import_reads_gbk_and_refuses_a_file_with_any_bad_row() {
    let dir = tempfile::tempdir().unwrap();
    let (gbk, _, _) = encoding_rs::GBK.encode("单位名称\n甲农业大学\n乙科学院\n");
    std::fs::write(dir.path().join("orgs.csv"), &gbk).unwrap();
    let out = viva_import(dir.path(), &["organisations", "orgs.csv"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 organisation(s)"));

    let experts = "\u{feff}姓名,邮箱,工作单位,专业领域\n张三,zhang@example.org,甲农业大学,作物\n李四,not-an-email,丙大学,果树\n";
    std::fs::write(dir.path().join("experts.csv"), experts).unwrap();
    let out = viva_import(dir.path(), &["experts", "experts.csv"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 3:") && stderr.contains("not-an-email"),
        "{stderr}"
    );
    assert!(
        stderr.contains("unknown organisation \"丙大学\""),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was imported"), "{stderr}");

    // The good row was not imported either: fixing the file imports both rows.
    let fixed = experts.replace("not-an-email,丙大学", "li@example.org,乙科学院");
    std::fs::write(dir.path().join("experts.csv"), fixed).unwrap();
    let out = viva_import(dir.path(), &["experts", "experts.csv", "--dry-run"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("2 people"),
        "{out:?}"
    );
    let out = viva_import(dir.path(), &["experts", "experts.csv"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Imported: 0 organisation(s), 2 people"),
        "{out:?}"
    );
    // Importing the same file again finds the e-mails registered.
    let out = viva_import(dir.path(), &["experts", "experts.csv"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("already registered"));
}

/// `viva report --year` on a seeded year: sessions held count only defenses in which
/// media flowed; the stability rate follows the verdicts of the stored samples;
/// satisfaction counts 4–5 stars; indicators not collected yet are null, not zero.
#[test]
fn report_prints_the_years_indicators_from_a_seeded_year() {
    use chrono::{DateTime, Duration as Span, Utc};
    use scheduler::record::{Rating, StreamSampleRecord};
    use scheduler::store::prelude::*;
    use scheduler::{
        NewParticipant, NewSession, PersonName, Role, SessionKind, SqliteStore, Title,
    };
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("year.db").display());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(&url).await.unwrap();
        let book = async |i: i64, kind: SessionKind, people: &[(&str, Role)]| {
            let start: DateTime<Utc> =
                "2025-03-01T01:00:00Z".parse::<DateTime<Utc>>().unwrap() + Span::days(i);
            let participants = people
                .iter()
                .map(|(n, r)| NewParticipant {
                    name: PersonName::parse(n).unwrap(),
                    role: *r,
                    person: None,
                })
                .collect();
            let new = NewSession::parse(
                Title::parse(&format!("答辩{i}")).unwrap(),
                kind,
                start,
                60,
                chrono_tz::Asia::Shanghai,
                participants,
            )
            .unwrap();
            store.create_session(&new).await.unwrap()
        };
        let samples =
            |session: uuid::Uuid, who: uuid::Uuid, start: DateTime<Utc>, lost_per_mille: i64| {
                (1..=30)
                    .flat_map(|i| {
                        ["up", "down"].map(|d| StreamSampleRecord {
                            session_id: session,
                            participant_id: who,
                            at: start + Span::seconds(2 * i),
                            seconds: 2.0,
                            direction: d.into(),
                            track: if d == "up" { "camera" } else { "other/camera" }.into(),
                            packets: 1000,
                            lost: if d == "up" { lost_per_mille } else { 0 },
                            kbps: 800.0,
                            jitter_ms: 4.0,
                            rtt_ms: Some(20.0),
                            keyframes: 0,
                            freezes: 0,
                            frames: 0,
                            nacks: 0,
                            plis: 0,
                        })
                    })
                    .collect::<Vec<_>>()
            };
        let panel = [
            ("秘书", Role::Host),
            ("专家甲", Role::Expert),
            ("申请人", Role::Applicant),
        ];
        for (i, loss) in [(0, Some(0)), (1, Some(0)), (2, Some(300)), (3, None)] {
            let (s, people) = book(i, SessionKind::Defense, &panel).await;
            if let Some(loss) = loss {
                store
                    .record_samples(&samples(s.id, people[2].id, s.starts_at, loss))
                    .await
                    .unwrap();
            }
            let stars = [5, 4, 2, 5][i as usize];
            for (who, role) in [(&people[1], Role::Expert), (&people[2], Role::Applicant)] {
                let stars = if role == Role::Expert { stars } else { 5 };
                store
                    .save_rating(&Rating {
                        session_id: s.id,
                        participant_id: who.id,
                        role,
                        stars,
                        comment: String::new(),
                        at: s.starts_at,
                    })
                    .await
                    .unwrap();
            }
        }
        let (cancelled, people) = book(5, SessionKind::Defense, &panel).await;
        store
            .record_samples(&samples(cancelled.id, people[2].id, cancelled.starts_at, 0))
            .await
            .unwrap();
        store.cancel_session(cancelled.id).await.unwrap();
        let (training, people) = book(
            6,
            SessionKind::Training,
            &[("讲师", Role::Trainer), ("农户", Role::Trainee)],
        )
        .await;
        store
            .save_rating(&Rating {
                session_id: training.id,
                participant_id: people[1].id,
                role: Role::Trainee,
                stars: 3,
                comment: String::new(),
                at: training.starts_at,
            })
            .await
            .unwrap();
        // One help video published in 2025 (viewed twice that year and once in 2026)
        // and one published in 2026.
        for (published, views) in [
            (
                "2025-06-01T00:00:00Z",
                &["2025-06-02", "2025-12-31", "2025-12-31", "2026-01-01"][..],
            ),
            ("2026-02-01T00:00:00Z", &["2026-02-02"][..]),
        ] {
            use scheduler::record::{HelpVideo, RecordingRecord};
            let at: DateTime<Utc> = published.parse().unwrap();
            let recording = RecordingRecord {
                id: uuid::Uuid::new_v4(),
                session_id: training.id,
                started_at: at,
                stopped_at: Some(at),
                state: "stopped".into(),
                error: None,
            };
            store.create_recording(&recording).await.unwrap();
            let video = HelpVideo {
                id: uuid::Uuid::new_v4(),
                recording_id: recording.id,
                title: "嫁接".into(),
                description: String::new(),
                tags: vec![],
                category: "果树".into(),
                envoy: "李".into(),
                published_by: "admin".into(),
                published_at: at,
                views: 0,
            };
            store.publish_help_video(&video).await.unwrap();
            for day in views {
                store
                    .count_help_video_view(video.id, day.parse().unwrap(), uuid::Uuid::new_v4())
                    .await
                    .unwrap();
            }
        }
    });
    let run = |format: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_viva"))
            .args(["report", "--year", "2025", "--format", format])
            .current_dir(dir.path())
            .env("VIVA_DATABASE__URL", &url)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let json: serde_json::Value = serde_json::from_str(&run("json")).unwrap();
    let value = |key: &str| {
        json["indicators"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["key"] == key)
            .unwrap()
            .clone()
    };
    assert_eq!(json["stabilityDefinition"], "v1");
    assert_eq!(value("sessionsHeld")["value"], 3.0, "{json:#}");
    assert_eq!(value("sessionsHeld")["met"], false, "target 80");
    let rate = value("stabilityRate")["value"].as_f64().unwrap();
    assert!(
        (rate - 200.0 / 3.0).abs() < 1e-9,
        "2 of 3 held were stable: {rate}"
    );
    let experts = value("expertSatisfaction")["value"].as_f64().unwrap();
    assert!(
        (experts - 75.0).abs() < 1e-9,
        "3 of 4 expert ratings at 4-5 stars: {experts}"
    );
    let users = value("userSatisfaction")["value"].as_f64().unwrap();
    assert!(
        (users - 80.0).abs() < 1e-9,
        "4 applicants at 5, one trainee at 3: {users}"
    );
    assert_eq!(value("helpVideosPublished")["value"], 1.0, "{json:#}");
    assert_eq!(value("helpVideoViews")["value"], 3.0, "views of 2025 only");
    assert!(value("backupsOnTime")["met"].is_null());

    let table = run("table");
    assert!(
        table.contains("66.7%") && table.contains("≥95.0%"),
        "{table}"
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_viva"))
        .args(["report", "--year", "2025", "--format", "xml"])
        .current_dir(dir.path())
        .env("VIVA_DATABASE__URL", &url)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--format must be table or json"));
}

/// `(thread name, nice value)` of every thread of process `pid`, from `/proc`.
fn thread_niceness(pid: u32) -> Vec<(String, i32)> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let path = task.unwrap().path();
        let (Ok(comm), Ok(stat)) = (
            std::fs::read_to_string(path.join("comm")),
            std::fs::read_to_string(path.join("stat")),
        ) else {
            continue; // the thread ended meanwhile
        };
        // After "pid (comm) ", the 17th field is the nice value (proc(5)).
        let after_comm = stat.rsplit_once(") ").map(|(_, rest)| rest).unwrap();
        let nice = after_comm.split(' ').nth(16).unwrap().parse().unwrap();
        out.push((comm.trim_end().to_owned(), nice));
    }
    out
}

/// Run where there is no database, `viva report` says where it looked, creates
/// nothing, and fails (it used to print SQLite's raw "unable to open database file").
#[test]
fn report_without_a_database_says_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_viva"))
        .args(["report", "--year", "2026"])
        .current_dir(dir.path())
        .env_remove("VIVA_DATABASE__URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = dir.path().join("data/viva.db");
    assert!(
        stderr.contains("no Viva database at") && stderr.contains(&expected.display().to_string()),
        "{stderr}"
    );
    assert!(!stderr.contains("code: 14"), "{stderr}");
    assert!(
        !dir.path().join("data").exists(),
        "a report creates nothing"
    );
}
