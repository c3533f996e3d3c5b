//! Stream statistics: set-up checks per participant.

use super::*;

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

conformance!(setup_checks_are_kept_per_participant_in_order,);
