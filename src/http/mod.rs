//! The HTTP surface: one router per area, merged in [`router`]. Handlers parse input
//! into domain types, call the domain, and map the result; they hold no rules.

pub mod admin;
pub mod admin_auth;
pub mod credentials;
pub mod directory;
pub mod error;
pub mod headers;
pub mod health;
pub mod help_videos;
pub mod import;
pub mod limits;
pub mod pages;
pub mod planning;
pub mod recordings;
pub mod records;
pub mod rtc;
pub mod sessions;
pub mod setup;
pub mod whip;

use axum::Router;
use axum::extract::MatchedPath;
use axum::http::Request;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::state::AppState;

/// Largest request body accepted (CSV imports will get their own, larger limit).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The whole application's routes.
pub fn router(state: AppState) -> Router {
    let hsts = state.settings.public_url.starts_with("https://");
    Router::new()
        .merge(health::router())
        .merge(admin_auth::router())
        .merge(sessions::router())
        .merge(setup::router())
        .merge(directory::router())
        .merge(planning::router())
        .merge(records::router())
        .merge(recordings::router())
        .merge(help_videos::router())
        .merge(whip::router())
        .merge(rtc::router())
        .merge(pages::router(&state))
        .fallback(error::no_route)
        .method_not_allowed_fallback(|| async { error::ApiError::MethodNotAllowed })
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        // Added after the 1 MiB limit so uploads get their own, larger one.
        .merge(import::router())
        .layer(axum::middleware::from_fn(move |request, next| {
            headers::add(hsts, request, next)
        }))
        .layer(
            // Spans name the route pattern, never the concrete URI: join tokens live
            // in paths and query strings and must not reach the logs.
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let route = request
                    .extensions()
                    .get::<MatchedPath>()
                    .map(MatchedPath::as_str)
                    .unwrap_or("unmatched");
                tracing::info_span!("http", method = %request.method(), route)
            }),
        )
        .with_state(state)
}
