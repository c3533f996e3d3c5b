//! The audit log: an unbroken append-only chain under concurrency.

use super::*;

async fn the_audit_log_is_an_unbroken_append_only_chain_under_concurrency(b: Backend) {
    use scheduler::record::{NewAuditEntry, verify_chain};
    let store = b.store;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .append_audit(&NewAuditEntry {
                    at: Utc::now(),
                    session_id: (i % 2 == 0).then(Uuid::new_v4),
                    actor: format!("participant:{i}"),
                    action: "join".into(),
                    detail: serde_json::json!({"n": i, "名": "张三"}),
                })
                .await
                .unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let log = store.audit_log(0, 1000).await.unwrap();
    assert_eq!(log.len(), 40);
    assert_eq!(verify_chain(&log), Ok(40), "stored entries hash as written");
    assert_eq!(store.audit_log(38, 10).await.unwrap().len(), 2);

    // Batches (the audit writer's way) interleave with single appends: each batch is
    // contiguous and in order, and the chain stays whole.
    let mut tasks = Vec::new();
    for b in 0..4 {
        let batch_store = store.clone();
        tasks.push(tokio::spawn(async move {
            let batch: Vec<NewAuditEntry> = (0..25)
                .map(|i| NewAuditEntry {
                    at: Utc::now(),
                    session_id: None,
                    actor: format!("batch:{b}"),
                    action: format!("step{i}"),
                    detail: serde_json::json!({"i": i}),
                })
                .collect();
            batch_store.append_audit_batch(&batch).await.unwrap()
        }));
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            vec![
                store
                    .append_audit(&NewAuditEntry {
                        at: Utc::now(),
                        session_id: None,
                        actor: "single".into(),
                        action: "join".into(),
                        detail: serde_json::json!({}),
                    })
                    .await
                    .unwrap(),
            ]
        }));
    }
    for t in tasks {
        let written = t.await.unwrap();
        let seqs: Vec<i64> = written.iter().map(|e| e.seq).collect();
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0] + 1),
            "a batch is contiguous: {seqs:?}"
        );
    }
    let log = store.audit_log(0, 1000).await.unwrap();
    assert_eq!(log.len(), 40 + 4 * 26);
    assert_eq!(verify_chain(&log), Ok(log.len()));
    assert!(store.append_audit_batch(&[]).await.unwrap().is_empty());
}

conformance!(the_audit_log_is_an_unbroken_append_only_chain_under_concurrency,);
