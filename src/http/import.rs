//! `POST /api/v1/import/{kind}`: an administrator uploads a CSV file (the raw bytes as
//! the body). 200 with what was added, or 422 listing every bad row; nothing is
//! imported unless every row is good.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use scheduler::import::ImportKind;
use tower_http::limit::RequestBodyLimitLayer;

use super::admin_auth::Admin;
use super::error::ApiError;
use crate::import::{ImportError, ImportSummary};
use crate::state::AppState;

/// Largest CSV accepted (tens of thousands of rows).
pub const MAX_IMPORT_BYTES: usize = 20 * 1024 * 1024;

/// Routes of this area (with their own, larger body limit).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/import/{kind}", post(upload))
        .layer(RequestBodyLimitLayer::new(MAX_IMPORT_BYTES))
}

async fn upload(
    admin: Admin,
    State(state): State<AppState>,
    Path(kind): Path<String>,
    body: Bytes,
) -> Result<Json<ImportSummary>, ApiError> {
    let kind: ImportKind = kind
        .parse()
        .map_err(|_| ApiError::NotFound("import kind"))?;
    match crate::import::run(&*state.store, kind, &body, false, |_| {}).await {
        Ok(summary) => {
            tracing::info!(by = %admin.user_id, ?summary, "import applied");
            Ok(Json(summary))
        }
        Err(ImportError::InvalidRows(rows)) => Err(ApiError::InvalidRows(rows)),
        Err(ImportError::Store(e)) => Err(e.into()),
    }
}
