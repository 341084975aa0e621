//! The HTTP face of a [`Scorer`]: axum on tokio, JSON in and out, plus the
//! write-ahead log ([`super::wal`]) that makes every acknowledged event durable.
//!
//! Routes (bodies are JSON; times are graph time units, `f64`; ids are external):
//! - `POST /events`: a JSON array of `LiveEvent` `[{"src","dst","t","feat"?}, ...]`,
//!   time-ordered, none older than the watermark; applied as ONE `Scorer::ingest`
//!   batch: appended to the WAL and fsynced, then applied and answered with the
//!   `IngestSummary`.
//! - `POST /score`: a JSON array of `Query` `[{"src","dst","t"}, ...]` ->
//!   `{"scores": [{"score","cold_src","cold_dst"}, ...]}` in input order.
//! - `GET /recommend?src=ID&at=T&k=10&exclude_seen=false&candidates=a,b&retrieve=N` ->
//!   `{"src","at","cold_src","results":[{"dst","score"}, ...]}` best first.
//! - `POST /recommend`: `{"queries":[{"src","at"}, ...],"k"?,"exclude_seen"?,
//!   "candidates"?:[ids],"retrieve"?}` -> `{"results":[{"src","at","cold_src",
//!   "results":[...]}, ...]}` in query order, each as `GET /recommend` answers it
//!   (sources at one time share the candidates' work: `Scorer::top_k_many`).
//! - `GET /health` -> `{"ok","model","watermark_time","events","nodes","batches",...}`.
//! - `GET /metrics`: Prometheus text format.
//!
//! Errors are `{"error": message, "kind": ..., ...}` with the offending item's
//! `index` (and `t`, `watermark`, `field`, `id` where they apply): 400 malformed JSON
//! or invalid values, 422 well-formed JSON of the wrong shape (unknown field, wrong
//! type), 413 body over `max_body_bytes`, 404 unknown node (with `--unknown error`)
//! or route, 409 a time older than the watermark or events out of order, 503 when
//! the WAL could not take the batch (kind `wal`: not applied, send it again; reads
//! still work), 500 internal.
//!
//! Concurrency: connections are served concurrently, and so are reads: the scorer
//! sits behind a `std::sync::RwLock`; `/score` and `/recommend` take the read side
//! (`Scorer::score` and `top_k` are `&self`: the model reads its weights and state,
//! see the `Sync` note of `crate::model::TemporalModel`), each on tokio's blocking
//! pool (`spawn_blocking`: libtorch calls block). `/events` holds the log's mutex
//! for its whole course, so ingestion is serialised and log order = apply order =
//! batch number: it checks the batch (`Scorer::check_batch`, read side), appends
//! it to the log and flushes it (no scorer lock held: reads go on meanwhile), and
//! only then applies it (write side, so reads see a batch wholly or not at all)
//! and acknowledges it. A rejected batch is never logged; a batch the log could not
//! make durable is never applied, so what is served is always what a restart
//! rebuilds. `/health` and `/metrics` read atomics and never wait for a lock.
//!
//! Durability: a snapshot (`Scorer::save_state` into the state directory, then
//! `Wal::rotate`) every `snapshot_every` batches and at graceful shutdown; on start,
//! [`recover`] checks that log records the snapshot already holds are the same
//! batches and replays the later ones, one `ingest` each (same batch boundaries, so
//! the same memory as an uninterrupted run). If a log append fails (a full disk),
//! the record is cut off again, the batch is neither applied nor acknowledged (503,
//! kind `wal`: send it again), and the next batch tries the disk afresh, so writes
//! resume by themselves once there is room. If applying a logged batch fails (a
//! libtorch error, never a disk), its record is removed and writes stay disabled
//! until a restart (the scorer may be half-updated).

use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Query as QueryParams, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::serve::listen::Limits;
use crate::serve::wal::{Wal, WalError};
use crate::serve::{LiveEvent, Query, Scorer, ServeError, SourceQuery, TopK};

#[path = "http_metrics.rs"]
mod metrics;
pub use metrics::Metrics;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(transparent)]
    Wal(#[from] WalError),
    #[error("replaying write-ahead log batch {seq}")]
    Replay {
        seq: u64,
        #[source]
        source: ServeError,
    },
    #[error("write-ahead log batch {seq}: payload is not a JSON array of events")]
    Payload {
        seq: u64,
        #[source]
        source: serde_json::Error,
    },
    #[error("write-ahead log batch {seq} became scorer batch {got}")]
    Renumbered { seq: u64, got: u64 },
    #[error(
        "write-ahead log batch {seq} differs from the snapshot's batch {seq}: the live state was changed \
         by something else than this server; refusing to guess which history is right"
    )]
    Diverged { seq: u64 },
    #[error("snapshot")]
    Snapshot(#[source] ServeError),
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Larger request bodies get 413.
    pub max_body_bytes: usize,
    /// Snapshot (`Scorer::save_state`) every this many batches, then rotate the WAL.
    pub snapshot_every: u64,
    /// Where snapshots go (`None`: never; the WAL then holds every live batch).
    pub state_dir: Option<PathBuf>,
    /// Testing only: wait this long between the WAL fsync and the reply to
    /// `POST /events`, so a crash test can kill the server in exactly that window.
    pub pause_before_ack: Option<std::time::Duration>,
}

/// What recovery did before the server opened.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Recovery {
    pub snapshot_batches: u64,
    pub replayed_batches: u64,
    pub replayed_events: usize,
    pub truncated_tail_bytes: u64,
}

/// Open the WAL in `wal_dir` and replay the batches it holds past the scorer's
/// snapshot, one `ingest` each, so memory equals that of an uninterrupted run.
pub fn recover(scorer: &mut Scorer, wal_dir: &std::path::Path) -> Result<(Wal, Recovery), HttpError> {
    let snapshot_batches = scorer.batches();
    let opened = Wal::open(wal_dir, snapshot_batches)?;
    // Records the snapshot already holds must be the same batches.
    for rec in &opened.covered {
        let events: Vec<LiveEvent> = serde_json::from_slice(&rec.payload)
            .map_err(|source| HttpError::Payload { seq: rec.seq, source })?;
        let held = scorer.live_batch(rec.seq);
        if held.is_none_or(|b| b.seq != rec.seq || b.events != events) {
            return Err(HttpError::Diverged { seq: rec.seq });
        }
    }
    let mut replayed_events = 0;
    for rec in &opened.replay {
        let events: Vec<LiveEvent> = serde_json::from_slice(&rec.payload)
            .map_err(|source| HttpError::Payload { seq: rec.seq, source })?;
        let s = scorer.ingest(&events).map_err(|source| HttpError::Replay { seq: rec.seq, source })?;
        if s.batch != rec.seq {
            return Err(HttpError::Renumbered { seq: rec.seq, got: s.batch });
        }
        replayed_events += events.len();
    }
    let rec = Recovery {
        snapshot_batches,
        replayed_batches: opened.replay.len() as u64,
        replayed_events,
        truncated_tail_bytes: opened.truncated.map_or(0, |t| t.bytes),
    };
    Ok((opened.wal, rec))
}

/// What the read-write lock guards: the scorer.
struct Live {
    scorer: Scorer,
}

/// The log, and the batch number of the last snapshot (both change only while an
/// ingest holds this mutex; lock order: this, then the scorer's lock).
struct Log {
    wal: Wal,
    snapshot_batches: u64,
}

/// Shared by every handler.
pub struct App {
    live: RwLock<Live>,
    log: Mutex<Log>,
    opts: Options,
    name: String,
    /// Set when applying a logged batch failed: the scorer may be half-updated, so
    /// no more writes (or snapshots) are accepted until a restart.
    failed: std::sync::OnceLock<String>,
    pub metrics: Metrics,
}

impl App {
    pub fn new(scorer: Scorer, wal: Wal, opts: Options) -> Arc<App> {
        let name = scorer.name();
        let metrics = Metrics::default();
        metrics.observe_scorer(&scorer);
        metrics.wal_bytes.store(wal.segment_bytes(), Relaxed);
        let log = Mutex::new(Log { wal, snapshot_batches: scorer.batches() });
        let live = RwLock::new(Live { scorer });
        Arc::new(App { live, log, opts, name, failed: Default::default(), metrics })
    }

    /// Snapshot now if batches arrived since the last one (graceful shutdown).
    pub fn final_snapshot(&self) -> Result<bool, HttpError> {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let live = self.live.read().unwrap_or_else(|p| p.into_inner());
        if self.failed.get().is_some() || live.scorer.batches() == log.snapshot_batches {
            return Ok(false);
        }
        self.snapshot(&mut log, &live).map(|_| true)
    }

    /// Test hook: make the log's next operations fail (a full or failing disk).
    #[cfg(test)]
    pub(crate) fn inject_wal_faults(&self, faults: crate::serve::wal::Faults) {
        self.log.lock().unwrap().wal.faults = faults;
    }

    fn snapshot(&self, log: &mut Log, live: &Live) -> Result<(), HttpError> {
        let Some(dir) = &self.opts.state_dir else { return Ok(()) };
        let t = Instant::now();
        live.scorer.save_state(dir).map_err(HttpError::Snapshot)?;
        let through = live.scorer.batches();
        log.wal.rotate(through)?;
        log.snapshot_batches = through;
        self.metrics.snapshots.fetch_add(1, Relaxed);
        tracing::info!("snapshot through batch {through} in {:.3}s", t.elapsed().as_secs_f64());
        Ok(())
    }
}

/// An error response: status plus a JSON object with at least `error` and `kind`.
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub Value);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(self.1)).into_response()
    }
}

fn api(status: StatusCode, kind: &str, error: impl std::fmt::Display) -> ApiError {
    ApiError(status, json!({ "error": error.to_string(), "kind": kind }))
}

/// `e` and its sources, `a: b: c`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

impl From<ServeError> for ApiError {
    fn from(e: ServeError) -> ApiError {
        let error = chain(&e);
        let (status, body) = match &e {
            ServeError::TooOld { index, t, watermark } => (
                StatusCode::CONFLICT,
                json!({"kind": "too_old", "index": index, "t": t, "watermark": watermark}),
            ),
            ServeError::OutOfOrder { index, t, previous } => (
                StatusCode::CONFLICT,
                json!({"kind": "out_of_order", "index": index, "t": t, "previous": previous}),
            ),
            ServeError::UnknownNode { index, field, id } => (
                StatusCode::NOT_FOUND,
                json!({"kind": "unknown_node", "index": index, "field": field, "id": id}),
            ),
            ServeError::Invalid { index, field, .. } => {
                (StatusCode::BAD_REQUEST, json!({"kind": "invalid", "index": index, "field": field}))
            }
            _ => (StatusCode::INTERNAL_SERVER_ERROR, json!({"kind": "internal"})),
        };
        let mut body = body;
        body["error"] = Value::String(error);
        ApiError(status, body)
    }
}

/// Parse a JSON body into a non-empty array.
fn parse_array<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<Vec<T>, ApiError> {
    let items: Vec<T> = parse_json(body)?;
    if items.is_empty() {
        return Err(api(StatusCode::BAD_REQUEST, "empty", "empty batch: send at least one item"));
    }
    Ok(items)
}

/// A JSON body: 413/400 for the body itself, 400 malformed JSON, 422 wrong shape.
fn parse_json<T: serde::de::DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let bytes = body.map_err(|r| {
        let kind = if r.status() == StatusCode::PAYLOAD_TOO_LARGE { "too_large" } else { "body" };
        api(r.status(), kind, r.body_text())
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => api(StatusCode::UNPROCESSABLE_ENTITY, "bad_shape", e),
            _ => api(StatusCode::BAD_REQUEST, "malformed_json", e),
        }
    })
}

fn poisoned() -> ApiError {
    api(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "state poisoned by an earlier panic; restart the server",
    )
}

/// Run `f` on the blocking pool and turn a panic into a 500.
async fn blocking<T: Send + 'static>(
    app: &Arc<App>,
    f: impl FnOnce(&App) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let app = app.clone();
    let joined = tokio::task::spawn_blocking(move || f(&app)).await;
    joined.unwrap_or_else(|e| {
        Err(api(StatusCode::INTERNAL_SERVER_ERROR, "internal", format!("handler died: {e}")))
    })
}

/// Run `f` beside other readers (scoring).
async fn read_live<T: Send + 'static>(
    app: &Arc<App>,
    f: impl FnOnce(&Live) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    blocking(app, move |app| f(&*app.live.read().map_err(|_| poisoned())?)).await
}

async fn post_events(
    State(app): State<Arc<App>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let events: Vec<LiveEvent> = parse_array(body)?;
    let reply = blocking(&app, move |app| ingest(app, &events)).await;
    if let (Ok(_), Some(pause)) = (&reply, app.opts.pause_before_ack) {
        tokio::time::sleep(pause).await;
    }
    reply
}

/// One `POST /events` batch: check, log and flush, apply, answer (module docs).
fn ingest(app: &App, events: &[LiveEvent]) -> Result<Response, ApiError> {
    let mut log = app.log.lock().map_err(|_| poisoned())?;
    if let Some(why) = app.failed.get() {
        return Err(api(StatusCode::SERVICE_UNAVAILABLE, "read_only", format!("writes disabled: {why}")));
    }
    let seq = app.live.read().map_err(|_| poisoned())?.scorer.check_batch(events)?;
    let payload = serde_json::to_vec(events).expect("events serialise");
    let appended = log.wal.append(seq, &payload);
    app.metrics.wal_bytes.store(log.wal.segment_bytes(), Relaxed);
    if let Err(e) = appended {
        app.metrics.wal_failures.fetch_add(1, Relaxed);
        let why = format!("batch {seq} could not be logged, so it was not applied: {}", chain(&e));
        tracing::error!("{why}");
        let msg = format!("not acknowledged: {why}; send it again");
        return Err(api(StatusCode::SERVICE_UNAVAILABLE, "wal", msg));
    }
    let mut live = app.live.write().map_err(|_| poisoned())?;
    let summary = match live.scorer.ingest(events) {
        Ok(s) if s.batch == seq => s,
        other => {
            let what = match other {
                Ok(s) => format!("became batch {}", s.batch),
                Err(e) => chain(&e),
            };
            let removed = match log.wal.remove_last(seq, payload.len()) {
                Ok(()) => "its log record was removed".to_string(),
                Err(e) => format!("removing its log record failed too ({})", chain(&e)),
            };
            let why = format!("batch {seq} was logged but applying it failed: {what}; {removed}");
            tracing::error!("{why}; refusing further writes until a restart");
            let _ = app.failed.set(why.clone());
            app.metrics.observe_scorer(&live.scorer);
            let msg = format!("not acknowledged: {why}");
            return Err(api(StatusCode::INTERNAL_SERVER_ERROR, "internal", msg));
        }
    };
    app.metrics.observe_scorer(&live.scorer);
    let mut v = serde_json::to_value(&summary).expect("summary serialises");
    v["events_total"] = json!(live.scorer.num_events());
    drop(live);
    if app.opts.snapshot_every > 0 && summary.batch - log.snapshot_batches >= app.opts.snapshot_every {
        // The log holds this batch already: a failed snapshot is only logged.
        let live = app.live.read().map_err(|_| poisoned())?;
        if let Err(e) = app.snapshot(&mut log, &live) {
            app.metrics.snapshot_failures.fetch_add(1, Relaxed);
            tracing::warn!("snapshot failed (the WAL still holds every batch): {}", chain(&e));
        }
    }
    Ok(axum::Json(v).into_response())
}

async fn post_score(
    State(app): State<Arc<App>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let queries: Vec<Query> = parse_array(body)?;
    read_live(&app, move |live| {
        let scores = live.scorer.score(&queries)?;
        Ok(axum::Json(json!({ "scores": scores })).into_response())
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecommendParams {
    src: String,
    at: f64,
    #[serde(default = "default_k")]
    k: usize,
    #[serde(default)]
    exclude_seen: bool,
    /// Comma-separated external ids to rank instead of every destination.
    candidates: Option<String>,
    /// Retrieve then rerank: score only this many retrieved candidates.
    retrieve: Option<usize>,
}

fn default_k() -> usize {
    10
}

async fn get_recommend(
    State(app): State<Arc<App>>,
    params: Result<QueryParams<RecommendParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let QueryParams(p) = params.map_err(|r| api(StatusCode::BAD_REQUEST, "bad_query", r.body_text()))?;
    if !p.at.is_finite() {
        return Err(api(StatusCode::BAD_REQUEST, "invalid", format!("at={}: not a finite time", p.at)));
    }
    if p.k == 0 {
        return Err(api(StatusCode::BAD_REQUEST, "invalid", "k must be at least 1"));
    }
    let candidates = p.candidates.map(|c| c.split(',').map(str::to_string).collect::<Vec<_>>());
    let opts = TopK { k: p.k, exclude_seen: p.exclude_seen, candidates, retrieve: p.retrieve };
    read_live(&app, move |live| {
        let (results, cold_src) = live.scorer.top_k(&p.src, p.at, &opts)?;
        Ok(axum::Json(json!({"src": p.src, "at": p.at, "cold_src": cold_src, "results": results}))
            .into_response())
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManySource {
    src: String,
    at: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecommendBody {
    queries: Vec<ManySource>,
    #[serde(default = "default_k")]
    k: usize,
    #[serde(default)]
    exclude_seen: bool,
    candidates: Option<Vec<String>>,
    retrieve: Option<usize>,
}

/// Many sources in one request (`Scorer::top_k_many`): sources asking at one time
/// share the candidates' work; each answer equals its own `GET /recommend`.
async fn post_recommend(
    State(app): State<Arc<App>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let b: RecommendBody = parse_json(body)?;
    if b.queries.is_empty() {
        return Err(api(StatusCode::BAD_REQUEST, "empty", "no queries: send at least one {\"src\", \"at\"}"));
    }
    if b.k == 0 {
        return Err(api(StatusCode::BAD_REQUEST, "invalid", "k must be at least 1"));
    }
    let queries: Vec<SourceQuery> =
        b.queries.into_iter().map(|q| SourceQuery { src: q.src, t: q.at }).collect();
    let opts = TopK { k: b.k, exclude_seen: b.exclude_seen, candidates: b.candidates, retrieve: b.retrieve };
    read_live(&app, move |live| {
        let all = live.scorer.top_k_many(&queries, &opts)?;
        let results: Vec<Value> = queries
            .iter()
            .zip(all)
            .map(|(q, (r, cold))| json!({"src": q.src, "at": q.t, "cold_src": cold, "results": r}))
            .collect();
        Ok(axum::Json(json!({ "results": results })).into_response())
    })
    .await
}

async fn get_health(State(app): State<Arc<App>>) -> Response {
    let m = &app.metrics;
    let failed = app.failed.get();
    axum::Json(json!({
        "ok": failed.is_none(),
        "model": app.name,
        "watermark_time": m.watermark(),
        "events": m.events.load(Relaxed),
        "live_events": m.live_events.load(Relaxed),
        "nodes": m.nodes.load(Relaxed),
        "batches": m.batches.load(Relaxed),
        "feat_dim": m.feat_dim.load(Relaxed),
        "writes_disabled": failed,
    }))
    .into_response()
}

async fn get_metrics(State(app): State<Arc<App>>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], app.metrics.render()).into_response()
}

async fn not_found() -> ApiError {
    api(
        StatusCode::NOT_FOUND,
        "no_route",
        "no such route (POST /events, POST /score, GET or POST /recommend, /health, /metrics)",
    )
}

async fn not_allowed() -> ApiError {
    api(StatusCode::METHOD_NOT_ALLOWED, "method", "method not allowed on this route")
}

async fn count(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let route = metrics::route_of(req.uri().path());
    let t = Instant::now();
    let resp = next.run(req).await;
    app.metrics.record(route, resp.status().as_u16(), t.elapsed());
    resp
}

/// The router over `app`.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/events", post(post_events))
        .route("/score", post(post_score))
        .route("/recommend", get(get_recommend).post(post_recommend))
        .route("/health", get(get_health))
        .route("/metrics", get(get_metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(not_allowed)
        .layer(DefaultBodyLimit::max(app.opts.max_body_bytes))
        .layer(middleware::from_fn_with_state(app.clone(), count))
        .with_state(app)
}

/// Serve on `listener` with the default [`Limits`] until `shutdown` resolves, then
/// wait for requests in flight and take a final snapshot.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), HttpError> {
    crate::serve::listen::serve_limited(listener, app, Limits::default(), shutdown).await
}

/// A future that resolves on Ctrl-C or SIGTERM. The handlers are installed
/// here, before it returns, not on its first poll: a server that announces its
/// address only after this call cannot be killed by a SIGTERM that arrives
/// between the announcement and its accept loop's first poll (the default
/// disposition would end it without a snapshot). Call it inside a runtime.
pub fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    let (mut int, mut term) = {
        use tokio::signal::unix::{SignalKind, signal};
        (signal(SignalKind::interrupt())?, signal(SignalKind::terminate())?)
    };
    Ok(async move {
        #[cfg(unix)]
        tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: finishing requests in flight, then a final snapshot");
    })
}
