//! Booking integrity: double bookings, rooms, applicants, trainers, conflicts of interest, panel sizes, cancelling, removing, rescheduling, the concurrent race, and the invitations sent.

use super::*;

async fn an_expert_in_two_overlapping_defenses_is_refused_by_name(b: Backend) {
    let w = world(b.store).await;
    let (first, _) = w
        .store
        .create_session(&w.defense(0, &[0, 1, 2], at(1, 0), 40, 0))
        .await
        .unwrap();
    let refused = double_booked(
        w.store
            .create_session(&w.defense(1, &[2, 3, 4], at(1, 30), 40, 0))
            .await,
    );
    let BookingConflict::DoubleBooked {
        resource,
        other_session,
        other_title,
        ..
    } = &refused
    else {
        unreachable!()
    };
    assert_eq!(resource, "专家2");
    assert_eq!(*other_session, first.id);
    assert_eq!(other_title, "项目0答辩");
    assert!(refused.to_string().contains("专家2"), "{refused}");
    // Nothing of the refused booking was stored.
    let stored = w.store.sessions_between(at(0, 0), at(23, 0)).await.unwrap();
    assert_eq!(stored.len(), 1);
}

async fn back_to_back_defenses_share_experts(b: Backend) {
    let w = world(b.store).await;
    w.store
        .create_session(&w.defense(0, &[0, 1, 2], at(1, 0), 40, 0))
        .await
        .unwrap();
    w.store
        .create_session(&w.defense(1, &[0, 1, 2], at(1, 40), 40, 0))
        .await
        .unwrap();
}

async fn the_buffer_counts_as_booked_time(b: Backend) {
    let w = world(b.store).await;
    w.store
        .create_session(&w.defense(0, &[0, 1, 2], at(1, 0), 40, 10))
        .await
        .unwrap();
    double_booked(
        w.store
            .create_session(&w.defense(1, &[0, 3, 4], at(1, 45), 40, 0))
            .await,
    );
    w.store
        .create_session(&w.defense(1, &[0, 3, 4], at(1, 50), 40, 0))
        .await
        .unwrap();
}

async fn a_room_cannot_host_two_sessions_at_once(b: Backend) {
    let w = world(b.store).await;
    let room = w.rooms[0];
    w.store
        .create_session(&World::in_room(
            w.defense(0, &[0, 1, 2], at(2, 0), 40, 0),
            room,
        ))
        .await
        .unwrap();
    let refused = double_booked(
        w.store
            .create_session(&World::in_room(
                w.defense(1, &[3, 4, 5], at(2, 20), 40, 0),
                room,
            ))
            .await,
    );
    assert!(refused.to_string().contains("第一会议室"), "{refused}");
    w.store
        .create_session(&World::in_room(
            w.defense(1, &[3, 4, 5], at(2, 20), 40, 0),
            w.rooms[1],
        ))
        .await
        .unwrap();
}

async fn an_applicant_cannot_defend_twice_at_once(b: Backend) {
    let w = world(b.store).await;
    w.store
        .create_session(&w.defense(0, &[0, 1, 2], at(3, 0), 40, 0))
        .await
        .unwrap();
    let mut again = w.defense(0, &[3, 4, 5], at(3, 10), 40, 0);
    again.project = Some(w.projects[0]);
    let refused = double_booked(w.store.create_session(&again).await);
    assert!(refused.to_string().contains("申请人0"), "{refused}");
}

async fn a_trainer_is_held_but_hosts_are_not(b: Backend) {
    let w = world(b.store).await;
    w.store
        .create_session(&w.training(at(4, 0), 60))
        .await
        .unwrap();
    let refused = double_booked(w.store.create_session(&w.training(at(4, 30), 60)).await);
    assert!(refused.to_string().contains("培训讲师"), "{refused}");
    // The same host runs an overlapping defense: allowed (secretaries are not held).
    w.store
        .create_session(&w.defense(0, &[0, 1, 2], at(4, 15), 40, 0))
        .await
        .unwrap();
}

async fn experts_with_a_conflict_of_interest_are_refused(b: Backend) {
    let w = world(b.store).await;
    // Same organisation as the applicant's project.
    let mut same_org = w.defense(0, &[0, 1], at(5, 0), 40, 0);
    same_org
        .participants
        .push(participant(&w.expert_same_org, Role::Expert));
    match w.store.create_session(&same_org).await {
        Err(StoreError::Booking(BookingConflict::ConflictOfInterest { expert, project })) => {
            assert_eq!(expert, "同单位专家");
            assert_eq!(project, "2026-NY-0000");
        }
        other => panic!("expected a conflict of interest, got {other:?}"),
    }
    // Declared conflict with one project.
    w.store
        .declare_conflict(
            w.experts[5].0,
            ConflictTarget::Project(w.projects[1]),
            "合作者",
        )
        .await
        .unwrap();
    assert!(matches!(
        w.store
            .create_session(&w.defense(1, &[0, 1, 5], at(6, 0), 40, 0))
            .await,
        Err(StoreError::Booking(
            BookingConflict::ConflictOfInterest { .. }
        ))
    ));
    // ... which does not extend to other projects.
    w.store
        .create_session(&w.defense(2, &[0, 1, 5], at(6, 0), 40, 0))
        .await
        .unwrap();
    // Declared conflict with a whole organisation.
    w.store
        .declare_conflict(
            w.experts[4].0,
            ConflictTarget::Organisation(w.org_a),
            "前雇主",
        )
        .await
        .unwrap();
    assert!(matches!(
        w.store
            .create_session(&w.defense(1, &[2, 3, 4], at(7, 0), 40, 0))
            .await,
        Err(StoreError::Booking(
            BookingConflict::ConflictOfInterest { .. }
        ))
    ));
    let _ = w.org_b;
    // Nothing of the refused bookings remains.
    assert_eq!(
        w.store
            .sessions_between(at(0, 0), at(23, 0))
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn panel_size_follows_the_programme(b: Backend) {
    let w = world(b.store).await;
    for (experts, ok) in [
        (&[0usize, 1][..], false),
        (&[0, 1, 2][..], true),
        (&[0, 1, 2, 3, 4, 5][..], false),
    ] {
        let result = w
            .store
            .create_session(&w.defense(0, experts, at(8, 0), 40, 0))
            .await;
        match (ok, result) {
            (true, Ok(_)) => {}
            (
                false,
                Err(StoreError::Booking(BookingConflict::PanelSize {
                    experts: n,
                    min,
                    max,
                    ..
                })),
            ) => {
                assert_eq!((n, min, max), (experts.len(), 3, 5));
            }
            (ok, other) => panic!("{} experts: expected ok={ok}, got {other:?}", experts.len()),
        }
    }
}

async fn cancelling_releases_everyone_and_raises_the_sequence(b: Backend) {
    let w = world(b.store).await;
    let (s, _) = w
        .store
        .create_session(&w.defense(0, &[0, 1, 2], at(9, 0), 40, 0))
        .await
        .unwrap();
    assert_eq!(s.sequence, 0);
    let cancelled = w.store.cancel_session(s.id).await.unwrap();
    assert!(cancelled.cancelled);
    assert_eq!(cancelled.sequence, 1);
    w.store
        .create_session(&w.defense(1, &[0, 1, 2], at(9, 0), 40, 0))
        .await
        .unwrap();
    assert!(matches!(
        w.store.cancel_session(s.id).await,
        Err(StoreError::NotFound)
    ));
}

async fn a_removed_participant_stays_on_record_and_their_time_is_released(b: Backend) {
    let w = world(b.store).await;
    let (s, people) = w
        .store
        .create_session(&w.defense(0, &[0, 1, 2], at(9, 0), 40, 0))
        .await
        .unwrap();
    let expert2 = people
        .iter()
        .find(|p| p.person_id == Some(w.experts[2].0))
        .unwrap()
        .clone();
    let removed = w.store.remove_participant(s.id, expert2.id).await.unwrap();
    assert!(removed.removed);
    assert_eq!(removed.link_generation, 1, "their links are void");
    let listed = w.store.participants(s.id).await.unwrap();
    assert_eq!(listed.len(), people.len() - 1);
    assert!(listed.iter().all(|p| p.id != expert2.id && !p.removed));
    assert_eq!(w.store.session(s.id).await.unwrap().sequence, 1);
    // Their time is free again: an overlapping defense may have them.
    w.store
        .create_session(&w.defense(1, &[2, 3, 4], at(9, 10), 40, 0))
        .await
        .unwrap();
    // The others still hold theirs.
    double_booked(
        w.store
            .create_session(&w.defense(2, &[0, 3, 4], at(9, 20), 40, 0))
            .await,
    );
    assert!(matches!(
        w.store.remove_participant(s.id, expert2.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        w.store
            .remove_participant(Uuid::new_v4(), listed[0].id)
            .await,
        Err(StoreError::NotFound)
    ));
    // Revoking voids a link without taking the seat.
    let host = &listed[0];
    assert_eq!(
        w.store
            .revoke_participant_links(host.id)
            .await
            .unwrap()
            .link_generation,
        1
    );
    assert_eq!(
        w.store
            .revoke_participant_links(host.id)
            .await
            .unwrap()
            .link_generation,
        2
    );
    assert!(matches!(
        w.store.revoke_participant_links(expert2.id).await,
        Err(StoreError::NotFound)
    ));
}

async fn rescheduling_is_checked_like_a_new_booking(b: Backend) {
    let w = world(b.store).await;
    let (a, _) = w
        .store
        .create_session(&w.defense(0, &[0, 1, 2], at(10, 0), 40, 0))
        .await
        .unwrap();
    let (b2, _) = w
        .store
        .create_session(&w.defense(1, &[0, 3, 4], at(11, 0), 40, 0))
        .await
        .unwrap();
    double_booked(w.store.reschedule_session(b2.id, at(10, 20), 40).await);
    let unchanged = w.store.session(b2.id).await.unwrap();
    assert_eq!(
        (unchanged.starts_at, unchanged.sequence),
        (at(11, 0), 0),
        "refused move changes nothing"
    );
    let moved = w
        .store
        .reschedule_session(b2.id, at(10, 40), 30)
        .await
        .unwrap();
    assert_eq!(
        (moved.starts_at, moved.duration_minutes, moved.sequence),
        (at(10, 40), 30, 1)
    );
    let _ = a;
}

async fn a_hundred_concurrent_requests_for_one_expert_slot_yield_exactly_one_booking(b: Backend) {
    let w = Arc::new(world(b.store).await);
    let mut tasks = Vec::new();
    for i in 0..100 {
        let w = w.clone();
        tasks.push(tokio::spawn(async move {
            // Every request wants expert 0 at overlapping times, with other experts.
            let others = [1 + (i % 5), 1 + ((i + 1) % 5)];
            let mut s = w.defense(
                i % 3,
                &[0, others[0], others[1]],
                at(12, (i % 20) as u32),
                40,
                0,
            );
            // Different applicants' projects must not be what collides: give each request
            // its own applicant-free booking by dropping the applicant.
            s.participants.retain(|p| p.role != Role::Applicant);
            w.store.create_session(&s).await
        }));
    }
    let (mut ok, mut conflicts, mut other) = (0, 0, Vec::new());
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(StoreError::Booking(BookingConflict::DoubleBooked { .. })) => conflicts += 1,
            Err(e) => other.push(e.to_string()),
        }
    }
    assert_eq!(
        (ok, conflicts, other.len()),
        (1, 99, 0),
        "unexpected errors: {other:?}"
    );
    assert_eq!(
        w.store
            .sessions_between(at(0, 0), at(23, 0))
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn notifications_are_stored_in_order(b: Backend) {
    use scheduler::model::{Notification, NotificationKind};
    let w = world(b.store).await;
    let (s, participants) = w
        .store
        .create_session(&w.defense(0, &[0, 1, 2], at(13, 0), 40, 0))
        .await
        .unwrap();
    let make = |kind, sequence| -> Vec<Notification> {
        participants
            .iter()
            .map(|p| Notification {
                id: Uuid::new_v4(),
                session_id: s.id,
                participant_id: p.id,
                kind,
                sequence,
                channel: "log".into(),
                ics: format!("BEGIN:VCALENDAR\r\nSEQUENCE:{sequence}\r\nEND:VCALENDAR\r\n"),
            })
            .collect()
    };
    w.store
        .record_notifications(&make(NotificationKind::Invite, 0))
        .await
        .unwrap();
    w.store
        .record_notifications(&make(NotificationKind::Update, 1))
        .await
        .unwrap();
    let stored = w.store.notifications(s.id).await.unwrap();
    assert_eq!(stored.len(), participants.len() * 2);
    assert!(
        stored[..participants.len()]
            .iter()
            .all(|n| n.kind == NotificationKind::Invite)
    );
    assert!(
        stored[participants.len()..]
            .iter()
            .all(|n| n.kind == NotificationKind::Update && n.sequence == 1)
    );
}

conformance!(
    an_expert_in_two_overlapping_defenses_is_refused_by_name,
    back_to_back_defenses_share_experts,
    the_buffer_counts_as_booked_time,
    a_room_cannot_host_two_sessions_at_once,
    an_applicant_cannot_defend_twice_at_once,
    a_trainer_is_held_but_hosts_are_not,
    experts_with_a_conflict_of_interest_are_refused,
    panel_size_follows_the_programme,
    cancelling_releases_everyone_and_raises_the_sequence,
    a_removed_participant_stays_on_record_and_their_time_is_released,
    rescheduling_is_checked_like_a_new_booking,
    a_hundred_concurrent_requests_for_one_expert_slot_yield_exactly_one_booking,
    notifications_are_stored_in_order,
);
