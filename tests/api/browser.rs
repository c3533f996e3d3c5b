//! Real browsers: two headless Chromium pages (fake camera and microphone) open two
//! join links of one session and must decode each other's media through Viva's SFU.
//! Needs `chromium` and `tests/browser/node_modules` (installed by `scripts/test.sh`).

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{join_urls, repo_root, spawn_app};

fn require_browser_tooling() {
    let chromium = std::env::var("VIVA_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "{chromium} is missing: run scripts/test.sh, which installs Debian's chromium"
    );
    assert!(
        repo_root()
            .join("tests/browser/node_modules/playwright-core")
            .exists(),
        "playwright-core is missing: run scripts/test.sh (npm ci in tests/browser)"
    );
    assert!(
        repo_root().join("web/dist/assets/join.js").exists(),
        "the web client is not built: run scripts/test.sh (npm run build in web)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_chromium_participants_see_and_hear_each_other() {
    require_browser_tooling();
    let app = spawn_app().await;
    let body = app
        .book(
            chrono::Utc::now() - chrono::Duration::minutes(1),
            30,
            &[("王秘书", "host"), ("张专家", "expert")],
        )
        .await;
    let urls = join_urls(&body);
    let child = tokio::process::Command::new("node")
        .arg(repo_root().join("tests/browser/two_party.mjs"))
        .args(&urls)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let output = tokio::time::timeout(Duration::from_secs(90), child.wait_with_output())
        .await
        .expect("browser scenario finishes within 90 s")
        .expect("browser scenario output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let result: Value = serde_json::from_str(stdout.lines().last().unwrap_or("{}"))
        .unwrap_or_else(|_| panic!("no result line; stdout: {stdout}\nstderr: {stderr}"));
    for page in ["a", "b"] {
        let stats = &result["media"][page];
        assert!(
            stats["video"]["framesDecoded"].as_u64().unwrap_or(0) > 30,
            "page {page} decoded too few frames: {result}"
        );
        assert!(
            stats["audio"]["packetsReceived"].as_u64().unwrap_or(0) > 0,
            "page {page} received no audio: {result}"
        );
    }
    assert_eq!(
        result["leave"]["ok"], true,
        "Leave must remove B for A: {result}"
    );
    assert_eq!(
        result["rejoin"]["ok"], true,
        "opening the link again must bring B back with video: {result}"
    );
    assert_eq!(
        result["departure"]["ok"], true,
        "the closed tab must disappear for the other: {result}"
    );
    // The remaining page shows its own preview only; the departed tile is gone.
    assert_eq!(
        result["captions"].as_array().map(Vec::len),
        Some(1),
        "{result}"
    );
    assert!(output.status.success(), "{result}\n{stderr}");
}
