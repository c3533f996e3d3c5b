//! Reaching participants whose networks block UDP (issue "Reach every participant"):
//! real Chromium in a network namespace of the test's own, its firewall set with
//! nftables, against a server listening on the host end of the namespace's veth.

use serde_json::Value;

use crate::browser::{require_browser_tooling, run_scenario};
use crate::helpers::{TestApp, join_urls, spawn_app_with};
use crate::netns::Namespace;

/// A server on the namespace's host address (HTTP, UDP and ICE-TCP), and a session
/// with a host and an expert running now.
async fn server_for(
    ns: &Namespace,
    tweak: impl FnOnce(&mut viva::config::Config),
) -> (TestApp, Value) {
    let host_ip: std::net::IpAddr = ns.host_ip.parse().unwrap();
    let app = spawn_app_with(|config| {
        config.http.listen = std::net::SocketAddr::new(host_ip, 0);
        config.media.udp_listen = std::net::SocketAddr::new(host_ip, 0);
        config.media.tcp_listen = std::net::SocketAddr::new(host_ip, 0).to_string();
        config.media.announce_ip = host_ip;
        tweak(config);
    })
    .await;
    let body = app
        .book(
            chrono::Utc::now() - chrono::Duration::minutes(1),
            60,
            &[("秘书", "host"), ("专家", "expert")],
        )
        .await;
    (app, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_all_udp_dropped_a_participant_joins_over_ice_tcp() {
    require_browser_tooling();
    let _quiet = crate::helpers::CPU_HEAVY.write().await;
    let Some(ns) = Namespace::for_test(5) else {
        return;
    };
    let (app, body) = server_for(&ns, |_| {}).await;
    assert!(ns.block_udp(), "nftables rules");
    let urls = join_urls(&body);
    let chromium = ns.chromium_wrapper();
    let result = run_scenario(
        "reach.mjs",
        &[
            urls[0].clone(),
            urls[1].clone(),
            chromium.to_string_lossy().into_owned(),
            app.base.clone(),
        ],
    )
    .await;
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(result["path"]["protocol"], "tcp", "{result}");
    assert_eq!(
        result["openPath"]["protocol"], "udp",
        "a participant who can use UDP keeps it: {result}"
    );
}
