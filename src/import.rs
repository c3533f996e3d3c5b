//! Importing CSV files of organisations, experts and projects: the one path shared by
//! `viva import` and the admin upload (`POST /api/v1/import/{kind}`). Parsing and
//! validation are `scheduler::import`'s; this decodes, validates against the database's
//! current contents, and applies the batch in one transaction.

use scheduler::Store;
use scheduler::import::{self, ImportBatch, ImportKind, RowError};
use serde::Serialize;

/// What an import added.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    /// Organisations created.
    pub organisations: usize,
    /// People created (experts, or applicants of imported projects).
    pub people: usize,
    /// Projects created.
    pub projects: usize,
}

/// Why an import did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Rows are wrong; nothing was imported.
    #[error("{} row(s) cannot be imported; nothing was imported", .0.len())]
    InvalidRows(Vec<RowError>),
    /// The database refused or failed; nothing was imported.
    #[error(transparent)]
    Store(#[from] scheduler::StoreError),
}

/// Validates `bytes` as a file of `kind` and, unless `dry_run`, imports it.
/// `progress` receives the number of rows read so far.
pub async fn run(
    store: &dyn Store,
    kind: ImportKind,
    bytes: &[u8],
    dry_run: bool,
    progress: impl FnMut(usize),
) -> Result<ImportSummary, ImportError> {
    let text = import::decode(bytes).map_err(|e| ImportError::InvalidRows(vec![e]))?;
    let existing = store.import_snapshot().await?;
    let batch: ImportBatch =
        import::parse(kind, &text, &existing, progress).map_err(ImportError::InvalidRows)?;
    let summary = ImportSummary {
        organisations: batch.organisations.len(),
        people: batch.people.len(),
        projects: batch.projects.len(),
    };
    if !dry_run {
        store.apply_import(&batch).await?;
    }
    Ok(summary)
}
