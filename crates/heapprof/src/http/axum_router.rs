//! The same routes as an axum router, for services that already run axum.

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response as AxumResponse};
use axum::routing::get;

use super::routes::{Response, respond};

/// A router serving `/debug/pprof/...`; merge it into the service's router.
/// Requests run on tokio's blocking pool (`?seconds=N` sleeps there).
///
/// ```no_run
/// # async fn run() {
/// let app = axum::Router::new().merge(heapprof::http::router(300));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:6060").await.unwrap();
/// axum::serve(listener, app).await.unwrap();
/// # }
/// ```
pub fn router(max_seconds: u64) -> Router {
    let handler = move |uri: Uri| async move {
        let path = uri.path().to_owned();
        let query = uri.query().unwrap_or("").to_owned();
        let answer = tokio::task::spawn_blocking(move || respond(&path, &query, max_seconds, &sleep)).await;
        match answer {
            Ok(r) => into_axum(r),
            Err(e) => {
                (StatusCode::INTERNAL_SERVER_ERROR, format!("profile request failed: {e}\n")).into_response()
            }
        }
    };
    Router::new().route("/debug/pprof/", get(handler)).route("/debug/pprof/{*name}", get(handler))
}

fn sleep(d: Duration) {
    std::thread::sleep(d);
}

fn into_axum(r: Response) -> AxumResponse {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, r.body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(r.content_type));
    for (name, value) in r.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name_lowercase(name)), value);
        }
    }
    response
}

/// axum wants lowercase static header names.
fn name_lowercase(name: &'static str) -> &'static str {
    match name {
        "Content-Disposition" => "content-disposition",
        "Retry-After" => "retry-after",
        "WWW-Authenticate" => "www-authenticate",
        "Allow" => "allow",
        _ => "x-heapprof",
    }
}
