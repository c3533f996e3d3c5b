//! Security headers on every response: a Content-Security-Policy that lets pages run
//! only this origin's scripts and never be framed, `nosniff`, no referrer (join links
//! and recording links carry tokens in their paths), and HSTS when the public URL is
//! https. Set on the way out, so a handler cannot forget them.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// What pages may load: scripts, styles, media and connections from this origin
/// (WebSocket signaling included); inline styles (the client sets a few); images and
/// media from `blob:` and `data:` (video tiles, thumbnails, the HLS player's buffers).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; media-src 'self' blob:; \
     connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// HSTS for a year, once the deployment is served over https.
const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000";

/// Adds the headers (`hsts`: whether the public URL is https).
pub async fn add(hsts: bool, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |headers: &mut axum::http::HeaderMap, name: HeaderName, value: &'static str| {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        CONTENT_SECURITY_POLICY,
    );
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(
        headers,
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    if hsts {
        set(
            headers,
            header::STRICT_TRANSPORT_SECURITY,
            STRICT_TRANSPORT_SECURITY,
        );
    }
    response
}
