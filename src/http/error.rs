//! The API's error type. Clients get a stable JSON body `{code, message}`; internal
//! details are logged with the request's span and never returned.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use scheduler::{BookingConflict, DomainError, StoreError};
use serde::Serialize;

use crate::auth::TokenError;

/// Errors the HTTP API returns.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Missing, forged, expired or not-yet-valid credentials.
    #[error("{message}")]
    Unauthorized {
        /// Stable code.
        code: &'static str,
        /// Explanation.
        message: String,
    },
    /// The thing does not exist (or the caller may not know it does).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The caller is known but has no right to this.
    #[error("{0}")]
    Forbidden(String),
    /// Well-formed, but asks for something this server does not do (e.g. a simulcast
    /// WHIP offer with simulcast turned off).
    #[error("{0}")]
    Unsupported(String),
    /// A field breaks a domain rule.
    #[error(transparent)]
    Validation(#[from] DomainError),
    /// The body is not what the endpoint takes.
    #[error("{0}")]
    MalformedBody(String),
    /// The query string is not what the endpoint takes.
    #[error("{0}")]
    MalformedQuery(String),
    /// The method is not one this route takes.
    #[error("this method is not allowed here")]
    MethodNotAllowed,
    /// The change conflicts with stored data.
    #[error("{0}")]
    Conflict(String),
    /// A booking rule refused the change (double booking, conflict of interest, panel
    /// size); the message names the conflict.
    #[error(transparent)]
    Booking(BookingConflict),
    /// Rows of an uploaded file are wrong; each is listed with its line.
    #[error("{} row(s) cannot be imported; nothing was imported", .0.len())]
    InvalidRows(Vec<scheduler::import::RowError>),
    /// The client is over its budget (`crate::budget`); try again after the wait.
    #[error("too many requests; try again in {} s", .0.as_secs().max(1))]
    TooMany(std::time::Duration),
    /// The server is saturated for this kind of request; try again in a moment.
    #[error("{0}")]
    Busy(String),
    /// Anything else; the cause goes to the log only.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    rows: Option<&'a [scheduler::import::RowError]>,
}

impl ApiError {
    /// A 422 for one field.
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        ApiError::Validation(DomainError::Invalid {
            field,
            reason: reason.into(),
        })
    }

    /// A 401 from a token error.
    pub fn from_token(e: &TokenError) -> Self {
        ApiError::Unauthorized {
            code: e.code(),
            message: e.to_string(),
        }
    }

    /// A 401 for a request with no credentials at all.
    pub fn missing_credentials() -> Self {
        ApiError::Unauthorized {
            code: "missing_credentials",
            message: "sign in first".into(),
        }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthorized { code, .. } => (StatusCode::UNAUTHORIZED, code),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::Validation(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
            ApiError::MalformedBody(_) => (StatusCode::BAD_REQUEST, "malformed_body"),
            ApiError::MalformedQuery(_) => (StatusCode::BAD_REQUEST, "malformed_query"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::Unsupported(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unsupported"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Booking(c @ BookingConflict::PanelSize { .. }) => {
                (StatusCode::UNPROCESSABLE_ENTITY, c.code())
            }
            ApiError::Booking(c) => (StatusCode::CONFLICT, c.code()),
            ApiError::InvalidRows(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_rows"),
            ApiError::TooMany(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    /// A 429 telling the client how long to wait.
    pub fn too_many(wait: std::time::Duration) -> Self {
        ApiError::TooMany(wait)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let ApiError::Internal(cause) = &self {
            tracing::error!(error = ?cause, "request failed");
        }
        let rows = match &self {
            ApiError::InvalidRows(rows) => Some(rows.as_slice()),
            _ => None,
        };
        let retry_after = match &self {
            ApiError::TooMany(wait) => Some(wait.as_secs().max(1)),
            ApiError::Busy(_) => Some(1),
            _ => None,
        };
        let mut response = (
            status,
            Json(ErrorBody {
                code,
                message: self.to_string(),
                rows,
            }),
        )
            .into_response();
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(seconds),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound("record"),
            StoreError::Conflict(message) => ApiError::Conflict(message),
            StoreError::Booking(conflict) => ApiError::Booking(conflict),
            StoreError::UnknownReference(what) => ApiError::Validation(DomainError::Invalid {
                field: "id",
                reason: what,
            }),
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<crate::access::AccessError> for ApiError {
    fn from(e: crate::access::AccessError) -> Self {
        use crate::access::AccessError;
        match e {
            AccessError::Token(t) => ApiError::from_token(&t),
            AccessError::Store(s) => s.into(),
            other => ApiError::Unauthorized {
                code: other.code(),
                message: other.to_string(),
            },
        }
    }
}

impl From<crate::planning::PlanningError> for ApiError {
    fn from(e: crate::planning::PlanningError) -> Self {
        match e {
            crate::planning::PlanningError::Invalid(e) => ApiError::Validation(e),
            crate::planning::PlanningError::Store(e) => e.into(),
        }
    }
}

impl From<crate::limits::Limited> for ApiError {
    fn from(e: crate::limits::Limited) -> Self {
        match e {
            crate::limits::Limited::TooMany(wait) => ApiError::TooMany(wait),
            crate::limits::Limited::Busy(message) => ApiError::Busy(message),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        ApiError::MalformedBody(rejection.body_text())
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::QueryRejection) -> Self {
        ApiError::MalformedQuery(rejection.body_text())
    }
}

/// `Query` whose rejection is an [`ApiError`] (a missing or malformed query field
/// gets the JSON error shape, not axum's plain text).
#[derive(Debug, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// Unknown routes answer the JSON error shape too.
pub async fn no_route() -> ApiError {
    ApiError::NotFound("route")
}

/// `Json` whose rejection is an [`ApiError`] (so malformed bodies get the same JSON
/// error shape as everything else).
#[derive(Debug, axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);
