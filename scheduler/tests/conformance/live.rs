//! Live state across a restart: rooms, heartbeats and server gaps.

use super::*;

async fn live_state_heartbeats_and_server_gaps_are_kept(b: Backend) {
    use scheduler::record::{Heartbeat, LiveRoomRecord, ServerGap};
    let w = world(b.store).await;
    assert_eq!(
        w.store.last_heartbeat().await.unwrap(),
        None,
        "a new database"
    );
    let (s, _) = w
        .store
        .create_session(&w.defense(0, &[0, 1, 2], at(9, 0), 40, 0))
        .await
        .unwrap();
    let (a, b_room) = (Uuid::new_v4(), Uuid::new_v4());
    let room = |id: Uuid, state: &str, minute: u32| LiveRoomRecord {
        room_id: id,
        state: state.into(),
        saved_at: at(9, minute),
    };
    let beat = |minute: u32, clean_stop: bool| Heartbeat {
        at: at(9, minute),
        clean_stop,
    };
    w.store
        .save_live_state(
            &[room(a, r#"{"v":1}"#, 1), room(b_room, "{}", 1)],
            &[],
            beat(1, false),
        )
        .await
        .unwrap();
    // A later save replaces a room's state; a forgotten room is gone.
    w.store
        .save_live_state(&[room(a, r#"{"v":2}"#, 2)], &[b_room], beat(2, false))
        .await
        .unwrap();
    assert_eq!(
        w.store.live_rooms().await.unwrap(),
        vec![room(a, r#"{"v":2}"#, 2)]
    );
    assert_eq!(
        w.store.last_heartbeat().await.unwrap(),
        Some(beat(2, false))
    );
    w.store
        .save_live_state(&[], &[], beat(3, true))
        .await
        .unwrap();
    assert_eq!(w.store.last_heartbeat().await.unwrap(), Some(beat(3, true)));

    let gap = |from: u32, to: u32, planned: bool| ServerGap {
        session_id: s.id,
        from: at(9, from),
        to: at(9, to),
        planned,
    };
    w.store
        .record_server_gaps(&[gap(20, 21, true), gap(5, 6, false)])
        .await
        .unwrap();
    // Recording the same gap again (a start that failed half-way) keeps one.
    w.store
        .record_server_gaps(&[gap(5, 6, false)])
        .await
        .unwrap();
    assert_eq!(
        w.store.server_gaps(s.id).await.unwrap(),
        vec![gap(5, 6, false), gap(20, 21, true)]
    );
    assert!(
        w.store
            .server_gaps(Uuid::new_v4())
            .await
            .unwrap()
            .is_empty()
    );
}

conformance!(live_state_heartbeats_and_server_gaps_are_kept,);
