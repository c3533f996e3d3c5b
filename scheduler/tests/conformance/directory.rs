//! The directory: a bulk import is applied whole or not at all.

use super::*;

async fn an_import_is_applied_whole_or_not_at_all(b: Backend) {
    use scheduler::import::{self, ImportKind};
    let store = b.store;
    store.create_organisation("甲农业大学").await.unwrap();
    store.create_programme("重点研发", 3, 7).await.unwrap();
    let text = "项目编号,项目名称,计划类别,申请人,申请人邮箱,申请单位,领域\n\
                P-1,智慧灌溉,重点研发,王五,wang@example.org,甲农业大学,农业\n\
                P-2,土壤监测,重点研发,王五,wang@example.org,甲农业大学,农业\n";
    let existing = store.import_snapshot().await.unwrap();
    let batch = import::parse(ImportKind::Projects, text, &existing, |_| {}).unwrap();
    store.apply_import(&batch).await.unwrap();
    let after = store.import_snapshot().await.unwrap();
    assert_eq!(after.project_codes.len(), 2);
    assert_eq!(after.emails.len(), 1);

    // A batch validated against a stale snapshot collides in the database on its last
    // row: the database refuses it, and none of its rows remain.
    let text2 = "项目编号,项目名称,计划类别,申请人,申请人邮箱,申请单位,领域\n\
                 P-3,新项目,重点研发,赵六,zhao@example.org,甲农业大学,\n\
                 P-1,重复,重点研发,钱七,qian@example.org,甲农业大学,\n";
    let stale = import::parse(ImportKind::Projects, text2, &existing, |_| {}).unwrap();
    assert!(matches!(
        store.apply_import(&stale).await,
        Err(StoreError::Conflict(_))
    ));
    let unchanged = store.import_snapshot().await.unwrap();
    assert_eq!(
        unchanged.project_codes.len(),
        2,
        "P-3 was rolled back with the batch"
    );
    assert_eq!(unchanged.emails.len(), 1);
}

conformance!(an_import_is_applied_whole_or_not_at_all,);
