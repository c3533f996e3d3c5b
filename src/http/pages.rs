//! Web pages: the admin page at `/`, personal join links at `/j/{token}`, the public
//! help-video library at `/help`, and the
//! built client's static assets. A join link that cannot be used gets an error page
//! (zh-CN first, then English) with status 401 and never reaches the media plane.

use std::path::PathBuf;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use tower_http::services::ServeDir;

use crate::access::AccessError;
use crate::auth::TokenError;
use crate::state::AppState;

/// Routes of this area.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(admin_page))
        .route("/j/{token}", get(join_page))
        .route("/help", get(help_page))
        .nest_service(
            "/assets",
            ServeDir::new(state.settings.web_dir.join("assets")),
        )
}

pub(crate) async fn serve_page(dir: PathBuf, file: &str) -> Response {
    match tokio::fs::read_to_string(dir.join(file)).await {
        Ok(html) => ([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Html(error_html(
                "unavailable",
                "网页客户端尚未构建",
                "The web client has not been built (run: npm --prefix web run build).",
            )),
        )
            .into_response(),
    }
}

async fn admin_page(State(state): State<AppState>) -> Response {
    serve_page(state.settings.web_dir.clone(), "index.html").await
}

/// The public help-video library (list, search, player).
async fn help_page(State(state): State<AppState>) -> Response {
    serve_page(state.settings.web_dir.clone(), "help.html").await
}

async fn join_page(
    State(state): State<AppState>,
    client: super::limits::ClientAddr,
    Path(token): Path<String>,
) -> Response {
    if let Err(e) = state
        .limits
        .charge(crate::budget::HttpClass::PublicRead, client)
    {
        return super::error::ApiError::from(e).into_response();
    }
    match crate::access::admit(&state, &token, Utc::now()).await {
        Ok(_) => serve_page(state.settings.web_dir.clone(), "join.html").await,
        Err(e) => {
            tracing::info!(code = e.code(), "join link refused");
            let (zh, en) = explain(&e);
            let status = match e {
                AccessError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::UNAUTHORIZED,
            };
            (
                status,
                [(header::CACHE_CONTROL, "no-store")],
                Html(error_html(e.code(), &zh, &en)),
            )
                .into_response()
        }
    }
}

pub(crate) fn explain(e: &AccessError) -> (String, String) {
    let local = |t: chrono::DateTime<Utc>| {
        t.with_timezone(&chrono_tz::Asia::Shanghai)
            .format("%Y-%m-%d %H:%M (Asia/Shanghai)")
            .to_string()
    };
    match e {
        AccessError::Token(TokenError::NotYetValid(at)) => (
            format!("会议尚未开放，请于 {} 之后再打开此链接。", local(*at)),
            format!("This session is not open yet. Please open the link again after {}.", local(*at)),
        ),
        AccessError::Token(TokenError::Expired(at)) => (
            format!("此链接已于 {} 过期。", local(*at)),
            format!("This link expired at {}.", local(*at)),
        ),
        AccessError::Cancelled => (
            "此会议已取消。如有疑问，请联系会议秘书。".into(),
            "This session was cancelled. If in doubt, contact the session's secretary.".into(),
        ),
        AccessError::Revoked => (
            "此邀请已失效（您已不在本次会议的名单中，或此链接已被撤销）。请向会议秘书索取新的链接。".into(),
            "This invitation is no longer valid (you are no longer on this session's list, or this link was revoked). Ask the session's secretary for a new link.".into(),
        ),
        AccessError::Store(_) => (
            "服务器暂时无法核对此链接，请稍后再试。".into(),
            "The server cannot check this link right now; please try again in a moment.".into(),
        ),
        AccessError::Token(_) => (
            "此链接无效。请使用邀请邮件中的完整链接，或联系会议秘书。".into(),
            "This link is not valid. Use the complete link from your invitation, or contact the session's secretary.".into(),
        ),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(crate) fn error_html(code: &str, zh: &str, en: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="zh-CN">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Viva · 无法进入会议</title>
<style>body{{font-family:system-ui,"Noto Sans CJK SC",sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#1d2733}}
h1{{font-size:1.4rem}}p.en{{color:#555}}</style></head>
<body><main id="join-error" data-error-code="{code}">
<h1>无法进入会议 · Cannot join</h1>
<p class="zh">{zh}</p>
<p class="en" lang="en">{en}</p>
</main></body></html>"#,
        code = escape(code),
        zh = escape(zh),
        en = escape(en),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_pages_escape_their_text() {
        let html = error_html("x\"y", "<b>", "&");
        assert!(html.contains("x&quot;y"));
        assert!(html.contains("&lt;b&gt;"));
        assert!(!html.contains("<b>"));
    }
}
