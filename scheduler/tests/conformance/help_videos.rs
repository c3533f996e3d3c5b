//! Help videos: search and views per day.

use super::*;

async fn help_videos_are_searched_and_their_views_counted_per_day(b: Backend) {
    use chrono::NaiveDate;
    use scheduler::record::{HelpVideo, RecordingRecord};
    let w = world(b.store).await;
    let (s, _) = w
        .store
        .create_session(&w.defense(0, &[0, 1, 2], at(9, 0), 45, 0))
        .await
        .unwrap();
    let mut videos = Vec::new();
    for (i, (title, category, tags)) in [
        ("苹果树修剪技术", "果树", vec!["修剪", "冬季"]),
        ("水稻病虫害防治", "水稻", vec!["植保"]),
        ("100%_有机 肥料", "土肥", vec![]),
    ]
    .into_iter()
    .enumerate()
    {
        let recording = RecordingRecord {
            id: Uuid::new_v4(),
            session_id: s.id,
            started_at: at(9, 0),
            stopped_at: Some(at(9, 30)),
            state: "stopped".into(),
            error: None,
        };
        w.store.create_recording(&recording).await.unwrap();
        let video = HelpVideo {
            id: Uuid::new_v4(),
            recording_id: recording.id,
            title: title.into(),
            description: "科技特派员讲解".into(),
            tags: tags.into_iter().map(String::from).collect(),
            category: category.into(),
            envoy: "张教授".into(),
            published_by: "admin".into(),
            published_at: at(10, i as u32),
            views: 0,
        };
        w.store.publish_help_video(&video).await.unwrap();
        videos.push(video);
    }
    let mut again = videos[0].clone();
    again.id = Uuid::new_v4();
    assert!(
        w.store.publish_help_video(&again).await.is_err(),
        "a recording is published once"
    );
    let titles = |v: Vec<HelpVideo>| v.into_iter().map(|v| v.title).collect::<Vec<_>>();
    assert_eq!(
        titles(w.store.help_videos("", None).await.unwrap()),
        vec!["100%_有机 肥料", "水稻病虫害防治", "苹果树修剪技术"],
        "newest first"
    );
    assert_eq!(
        titles(w.store.help_videos("修剪", None).await.unwrap()),
        vec!["苹果树修剪技术"]
    );
    assert_eq!(
        titles(w.store.help_videos("", Some("水稻")).await.unwrap()),
        vec!["水稻病虫害防治"]
    );
    assert_eq!(
        titles(w.store.help_videos("张教授", Some("果树")).await.unwrap()),
        vec!["苹果树修剪技术"]
    );
    // LIKE wildcards in the search are literal.
    assert_eq!(
        titles(w.store.help_videos("%_", None).await.unwrap()),
        vec!["100%_有机 肥料"]
    );
    assert_eq!(
        titles(w.store.help_videos("0_", None).await.unwrap()),
        Vec::<String>::new()
    );

    let (d1, d2) = (
        NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
        NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
    );
    let (ann, bo) = (Uuid::new_v4(), Uuid::new_v4());
    // (video, day, viewer, counted): a viewer counts once per video and day.
    for (video, day, viewer, counted) in [
        (0, d1, ann, true),
        (0, d1, ann, false),
        (0, d1, bo, true),
        (0, d2, ann, true),
        (0, d2, ann, false),
        (1, d2, ann, true),
    ] {
        assert_eq!(
            w.store
                .count_help_video_view(videos[video].id, day, viewer)
                .await
                .unwrap(),
            counted,
            "video {video} on {day}"
        );
    }
    assert!(matches!(
        w.store.count_help_video_view(Uuid::new_v4(), d1, ann).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        w.store
            .help_video(videos[0].id)
            .await
            .unwrap()
            .unwrap()
            .views,
        3
    );
    let mut per_day = w
        .store
        .help_video_views(d1, NaiveDate::from_ymd_opt(2026, 4, 1).unwrap())
        .await
        .unwrap();
    per_day.sort();
    let mut expected = vec![
        (videos[0].id, d1, 2),
        (videos[0].id, d2, 1),
        (videos[1].id, d2, 1),
    ];
    expected.sort();
    assert_eq!(per_day, expected);
    assert_eq!(w.store.help_video_views(d2, d2).await.unwrap(), vec![]);
}

conformance!(help_videos_are_searched_and_their_views_counted_per_day,);
