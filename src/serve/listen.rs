//! Accepting connections with the limits a server facing untrusted clients needs,
//! which `axum::serve` does not set: a deadline for a request's head (a client
//! sending headers a byte at a time), one for the whole request (a body a byte at
//! a time, or a handler that runs away), an idle timeout for kept-alive
//! connections, a cap on open connections, and a cap on header bytes.
//!
//! Each connection is one hyper HTTP/1.1 connection over the axum router. Over
//! the cap, a connection is answered `503` with `Connection: close` and closed
//! at once, so hundreds of idle sockets cost a file descriptor each for at most
//! the idle timeout and never starve the clients already connected. A request
//! past its deadline gets `408` (JSON, like every error) and its connection is
//! closed. Time is measured on tokio's clock.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::serve::http::{App, HttpError, router};

/// Connection and request limits (flags of `linkcast serve`).
#[derive(Debug, Clone)]
pub struct Limits {
    /// A request's method, path and headers must arrive within this.
    pub header_timeout: Duration,
    /// A request (its body included) must be answered within this, or gets 408.
    pub request_timeout: Duration,
    /// A kept-alive connection with no request in flight is closed after this.
    pub idle_timeout: Duration,
    /// Open connections beyond this get 503 and are closed.
    pub max_connections: usize,
    /// Bytes of request line and headers (larger heads get 431).
    pub max_header_bytes: usize,
    /// After shutdown starts, requests in flight get this long to finish.
    pub drain_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(30),
            max_connections: 512,
            max_header_bytes: 16 << 10,
            drain_timeout: Duration::from_secs(30),
        }
    }
}

impl Limits {
    pub fn validate(&self) -> Result<(), String> {
        for (name, d) in [
            ("--header-timeout", self.header_timeout),
            ("--request-timeout", self.request_timeout),
            ("--idle-timeout", self.idle_timeout),
        ] {
            if d.is_zero() {
                return Err(format!("{name} must be positive"));
            }
        }
        if self.max_connections == 0 {
            return Err("--max-connections must be at least 1".into());
        }
        if self.max_header_bytes < 8192 {
            return Err("--max-header-bytes must be at least 8192".into());
        }
        Ok(())
    }
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct ConnStats {
    pub open: AtomicUsize,
    pub accepted: AtomicU64,
    pub refused: AtomicU64,
    pub idle_closed: AtomicU64,
    pub timed_out: AtomicU64,
}

fn json_response(status: StatusCode, kind: &str, error: &str) -> Response<Body> {
    let body = serde_json::json!({ "error": error, "kind": kind }).to_string();
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// Milliseconds since `epoch`, for the idle clock shared by a connection's tasks.
fn ms_since(epoch: Instant) -> u64 {
    epoch.elapsed().as_millis() as u64
}

/// Serve `app` on `listener` with `limits` until `shutdown` resolves; then stop
/// accepting, let requests in flight finish (up to the drain timeout) and take a
/// final snapshot.
pub async fn serve_limited(
    listener: TcpListener,
    app: Arc<App>,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), HttpError> {
    let router = router(app.clone());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let limits = Arc::new(limits);
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(s) => s,
                Err(e) => {
                    // Out of descriptors or a reset before accept: keep serving.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let stats = &app.metrics.conn;
        if stats.open.load(Relaxed) >= limits.max_connections {
            stats.refused.fetch_add(1, Relaxed);
            tokio::spawn(refuse(stream));
            continue;
        }
        stats.open.fetch_add(1, Relaxed);
        stats.accepted.fetch_add(1, Relaxed);
        let conn = connection(stream, router.clone(), limits.clone(), app.clone(), &graceful);
        tokio::spawn(conn);
    }
    drop(listener);
    let drain = limits.drain_timeout;
    if tokio::time::timeout(drain, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still in flight after {:.0}s; closing them", drain.as_secs_f64());
    }
    let app2 = app.clone();
    tokio::task::spawn_blocking(move || app2.final_snapshot())
        .await
        .map_err(|e| HttpError::Io { what: "final snapshot".into(), source: std::io::Error::other(e) })?
        .map(|_| ())
}

/// Over the connection cap: one short answer, then close.
async fn refuse(mut stream: tokio::net::TcpStream) {
    let body = r#"{"error":"too many open connections; retry later","kind":"busy"}"#;
    let msg = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\nretry-after: 1\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(msg.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// One connection: hyper with the head deadline and header cap, each request
/// under the request deadline, and a watchdog closing it once idle.
fn connection(
    stream: tokio::net::TcpStream,
    router: axum::Router,
    limits: Arc<Limits>,
    app: Arc<App>,
    graceful: &hyper_util::server::graceful::GracefulShutdown,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let epoch = Instant::now();
    let last = Arc::new(AtomicU64::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let service = {
        let (last, in_flight, app, limits) = (last.clone(), in_flight.clone(), app.clone(), limits.clone());
        hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
            let (router, last, in_flight, app) =
                (router.clone(), last.clone(), in_flight.clone(), app.clone());
            let deadline = limits.request_timeout;
            async move {
                in_flight.fetch_add(1, Relaxed);
                let req = req.map(Body::new);
                let resp = match tokio::time::timeout(deadline, router.oneshot(req)).await {
                    Ok(Ok(r)) => r,
                    Ok(Err(never)) => match never {},
                    Err(_) => {
                        app.metrics.conn.timed_out.fetch_add(1, Relaxed);
                        let why = format!("request not completed within {:.0}s", deadline.as_secs_f64());
                        json_response(StatusCode::REQUEST_TIMEOUT, "timeout", &why)
                    }
                };
                in_flight.fetch_sub(1, Relaxed);
                last.store(ms_since(epoch), Relaxed);
                Ok::<_, Infallible>(resp)
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_header_bytes)
        .keep_alive(true);
    let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
    let idle = limits.idle_timeout;
    async move {
        let watchdog = async {
            loop {
                let since = ms_since(epoch).saturating_sub(last.load(Relaxed));
                let left = (idle.as_millis() as u64).saturating_sub(since);
                if left == 0 && in_flight.load(Relaxed) == 0 {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(left.max(100))).await;
            }
        };
        tokio::select! {
            r = conn => {
                if let Err(e) = r {
                    tracing::debug!("connection ended: {e}");
                }
            }
            _ = watchdog => {
                app.metrics.conn.idle_closed.fetch_add(1, Relaxed);
            }
        }
        app.metrics.conn.open.fetch_sub(1, Relaxed);
    }
}
