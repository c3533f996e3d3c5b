//! What a session leaves behind: the agenda, score sheets, ratings and chat.

use super::*;

async fn the_agenda_is_kept_with_the_session(b: Backend) {
    use scheduler::domain::Agenda;
    let w = world(b.store).await;
    let agenda = Agenda::parse(20, 15, 10).unwrap();
    let new = w
        .defense(0, &[0, 1, 2], at(14, 0), 45, 5)
        .with_agenda(agenda)
        .unwrap();
    let (s, _) = w.store.create_session(&new).await.unwrap();
    assert_eq!(w.store.session(s.id).await.unwrap().agenda, Some(agenda));
    let too_long = w
        .defense(1, &[3, 4, 5], at(15, 0), 30, 0)
        .with_agenda(agenda);
    assert!(too_long.is_err(), "45 minutes of phases do not fit in 30");
    let (plain, _) = w
        .store
        .create_session(&w.defense(1, &[3, 4, 5], at(15, 0), 30, 0))
        .await
        .unwrap();
    assert_eq!(w.store.session(plain.id).await.unwrap().agenda, None);
}

async fn score_sheets_ratings_and_chat_are_kept(b: Backend) {
    use scheduler::record::{ChatMessage, Criterion, Rating, ScoreSheetRecord};
    let w = world(b.store).await;
    let (s, people) = w
        .store
        .create_session(&w.defense(0, &[0, 1, 2], at(9, 0), 45, 0))
        .await
        .unwrap();
    assert_eq!(
        w.store.session_criteria(s.id).await.unwrap(),
        Criterion::defaults(),
        "a programme without criteria scores on the defaults"
    );
    let programme = w.store.programmes().await.unwrap()[0].id;
    let criteria = vec![
        Criterion {
            name: "创新性".into(),
            weight: 0.6,
            max: 10,
        },
        Criterion {
            name: "可行性".into(),
            weight: 0.4,
            max: 5,
        },
    ];
    w.store
        .set_programme_criteria(programme, &criteria)
        .await
        .unwrap();
    assert_eq!(w.store.session_criteria(s.id).await.unwrap(), criteria);
    assert!(matches!(
        w.store
            .set_programme_criteria(Uuid::new_v4(), &criteria)
            .await,
        Err(StoreError::NotFound)
    ));

    let experts: Vec<_> = people.iter().filter(|p| p.role == Role::Expert).collect();
    let now = Utc::now();
    for (i, e) in experts.iter().enumerate().rev() {
        w.store
            .save_score_sheet(&ScoreSheetRecord {
                session_id: s.id,
                expert_id: e.id,
                scores: vec![8, u32::try_from(i).unwrap()],
                comment: format!("意见{i}"),
                submitted_at: now,
                locked: true,
                reopen_reason: None,
            })
            .await
            .unwrap();
    }
    w.store
        .reopen_score_sheet(s.id, experts[1].id, "录入错误")
        .await
        .unwrap();
    assert!(matches!(
        w.store.reopen_score_sheet(s.id, people[0].id, "x").await,
        Err(StoreError::NotFound)
    ));
    let sheets = w.store.score_sheets(s.id).await.unwrap();
    assert_eq!(
        sheets.iter().map(|s| s.expert_id).collect::<Vec<_>>(),
        experts.iter().map(|e| e.id).collect::<Vec<_>>(),
        "in invitation order"
    );
    assert!(!sheets[1].locked);
    assert_eq!(sheets[1].reopen_reason.as_deref(), Some("录入错误"));
    assert!(sheets[0].locked && sheets[2].locked);
    assert_eq!(sheets[2].scores, vec![8, 2]);
    // Resubmitting locks it again and keeps the reason on record.
    let mut again = sheets[1].clone();
    again.scores = vec![9, 4];
    again.locked = true;
    again.reopen_reason = None;
    w.store.save_score_sheet(&again).await.unwrap();
    let sheets = w.store.score_sheets(s.id).await.unwrap();
    assert!(sheets[1].locked);
    assert_eq!(sheets[1].scores, vec![9, 4]);
    assert_eq!(sheets[1].reopen_reason.as_deref(), Some("录入错误"));

    let rating = |stars: u8, comment: &str| Rating {
        session_id: s.id,
        participant_id: experts[0].id,
        role: Role::Expert,
        stars,
        comment: comment.into(),
        at: Utc::now(),
    };
    w.store.save_rating(&rating(3, "一般")).await.unwrap();
    w.store.save_rating(&rating(5, "很好")).await.unwrap();
    let ratings = w.store.ratings(s.id).await.unwrap();
    assert_eq!(ratings.len(), 1, "one rating per participant, the latest");
    assert_eq!((ratings[0].stars, ratings[0].comment.as_str()), (5, "很好"));
    assert!(matches!(
        w.store.save_rating(&rating(6, "")).await,
        Err(StoreError::Conflict(_))
    ));

    let message = |text: &str| ChatMessage {
        id: Uuid::new_v4(),
        session_id: s.id,
        author_id: experts[0].id,
        author_name: "专家0".into(),
        text: text.into(),
        at: Utc::now(),
        removed: false,
    };
    let (first, second) = (message("你好"), message("广告"));
    w.store.post_chat(&first).await.unwrap();
    w.store.post_chat(&second).await.unwrap();
    w.store
        .remove_chat(s.id, second.id, Utc::now())
        .await
        .unwrap();
    assert!(matches!(
        w.store
            .remove_chat(Uuid::new_v4(), first.id, Utc::now())
            .await,
        Err(StoreError::NotFound)
    ));
    let chat = w.store.chat(s.id).await.unwrap();
    assert_eq!(chat.len(), 2, "removed messages stay on record");
    assert_eq!((chat[0].text.as_str(), chat[0].removed), ("你好", false));
    assert!(chat[1].removed);
}

conformance!(
    the_agenda_is_kept_with_the_session,
    score_sheets_ratings_and_chat_are_kept,
);
