//! The HTTP side of `heapprof web`: axum on a small tokio runtime, bound to
//! 127.0.0.1. Every request is answered by [`super::answer`] on a blocking
//! thread (reports can take a while on large profiles) while other requests go
//! on. (tiny_http was used first: its connection pool can leave a browser's
//! kept-alive connection waiting until another connection closes, which
//! stalled page loads in Chromium.)

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Result, anyhow};
use axum::body::Body;
use axum::http::{HeaderValue, Method, Response, Uri, header};

use super::{Profiles, Reply, answer};

/// Headers on every answer: no sniffing, no caching, only our own assets
/// (inferno's SVG carries its script and styles inline).
const SECURITY_HEADERS: [(&str, &str); 3] = [
    ("x-content-type-options", "nosniff"),
    ("cache-control", "no-store"),
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'",
    ),
];

/// Serves `profiles` on 127.0.0.1:`port` (0: any free port) until the process
/// ends; `ready` is called with the address once it listens.
pub(crate) fn serve(port: u16, profiles: Profiles, ready: impl FnOnce(SocketAddr)) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_io()
        .build()
        .map_err(|e| anyhow!("cannot start the server's runtime: {e}"))?;
    let profiles = Arc::new(profiles);
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|e| anyhow!("cannot listen on 127.0.0.1:{port}: {e}"))?;
        let addr = listener.local_addr().map_err(|e| anyhow!("the server has no address: {e}"))?;
        ready(addr);
        let app = axum::Router::new().fallback(move |method: Method, uri: Uri| {
            let profiles = Arc::clone(&profiles);
            async move {
                let url =
                    uri.path_and_query().map_or_else(|| uri.path().to_string(), |pq| pq.as_str().to_string());
                let reply = tokio::task::spawn_blocking(move || answer(method.as_str(), &url, &profiles))
                    .await
                    .unwrap_or_else(|_| super::text(500, "the report failed\n"));
                response(reply)
            }
        });
        axum::serve(listener, app).await.map_err(|e| anyhow!("the server stopped: {e}"))
    })
}

fn response(reply: Reply) -> Response<Body> {
    let mut r = Response::new(Body::from(reply.body));
    *r.status_mut() = axum::http::StatusCode::from_u16(reply.status).unwrap_or(axum::http::StatusCode::OK);
    let headers = r.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(reply.content_type));
    for (k, v) in SECURITY_HEADERS {
        headers.insert(k, HeaderValue::from_static(v));
    }
    r
}
