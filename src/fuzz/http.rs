//! Target 3: the HTTP handlers, driven in process through the real router (body
//! limit, extractors, handlers, WAL) with a baseline scorer over a small graph.
//!
//! An input is a sequence of requests separated by `0x00` bytes; the first byte
//! of the whole input picks the scorer (bits 0-1: EdgeBank, recency, popularity,
//! common neighbours), unknown ids (bit 2: cold or refused) and snapshots (bit 3:
//! one per batch); the first byte of each request picks its route (`& 3`: POST
//! /events, POST /score, GET /recommend with the rest as the query string, or a
//! GET of the rest as a path), the rest is the body.
//!
//! Checks: no request gets a 5xx (a refusal is a 4xx), every JSON route answers
//! JSON, and a server recovered from the log the requests left holds exactly the
//! events the live one acknowledged.

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Method, Request};
use tower::ServiceExt;

use crate::eval::{BaselineConfig, BaselineKind, make_baseline};
use crate::fuzz::fresh_dir;
use crate::serve::http::{App, Options, recover, router};
use crate::serve::wal::Wal;
use crate::serve::{Scorer, Unknown};
use crate::store::{EventLog, ExternalIds, IdMap, MemStore};

/// The base graph: 30 events over ids 0..9, times 1..30.
fn base_store() -> MemStore {
    let mut log = EventLog::with_feat_dim(0);
    for i in 0..30u32 {
        log.push(i % 10, (i * 7 + 3) % 10, f64::from(i + 1), &[]);
    }
    MemStore::from_log(log, false).expect("a valid log")
}

/// A fresh scorer over [`base_store`], chosen by the input's first byte.
pub(crate) fn base_scorer(sel: u8) -> Scorer {
    open_scorer(sel, None)
}

/// [`base_scorer`], restoring the live state saved in `state` when it holds one.
fn open_scorer(sel: u8, state: Option<&std::path::Path>) -> Scorer {
    let kind = [
        BaselineKind::EdgeBank,
        BaselineKind::Recency,
        BaselineKind::Popularity,
        BaselineKind::CommonNeighbours,
    ][usize::from(sel & 3)];
    let target = make_baseline(&BaselineConfig::new(kind)).expect("a default baseline");
    let unknown = if sel & 4 != 0 { Unknown::Error } else { Unknown::Cold };
    let ids = IdMap::new(ExternalIds::Int((0..10).collect()), None);
    Scorer::open(target, Box::new(base_store()), ids, unknown, state).expect("the base scorer opens")
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime")
    })
}

/// The request for one part of the input, or `None` where no HTTP client could
/// send it (a URI that does not parse never reaches a handler).
fn request(part: &[u8]) -> Option<Request<Body>> {
    let (&route, rest) = part.split_first()?;
    let (method, uri, body) = match route & 3 {
        0 => (Method::POST, "/events".to_string(), rest.to_vec()),
        1 => (Method::POST, "/score".to_string(), rest.to_vec()),
        2 => (Method::GET, format!("/recommend?{}", std::str::from_utf8(rest).ok()?), Vec::new()),
        _ => (Method::GET, format!("/{}", std::str::from_utf8(rest).ok()?), Vec::new()),
    };
    let uri: axum::http::Uri = uri.parse().ok()?;
    Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .ok()
}

pub fn http(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else { return };
    let wal_dir = fresh_dir("http-wal");
    let state_dir = fresh_dir("http-state");
    let opened = Wal::open(&wal_dir, 0).expect("an empty log opens");
    let opts = Options {
        max_body_bytes: 1 << 16,
        snapshot_every: u64::from(sel >> 3 & 1),
        state_dir: (sel & 8 != 0).then(|| state_dir.clone()),
        pause_before_ack: None,
    };
    let app: Arc<App> = App::new(base_scorer(sel), opened.wal, opts);
    let mut acknowledged = 30usize;
    for part in rest.split(|&b| b == 0).take(16) {
        let Some(req) = request(part) else { continue };
        let is_events = req.uri().path() == "/events";
        let path = req.uri().path().to_string();
        let resp = runtime().block_on(router(app.clone()).oneshot(req)).expect("the router is infallible");
        let status = resp.status();
        let body = runtime().block_on(axum::body::to_bytes(resp.into_body(), 1 << 24)).expect("a body");
        assert!(
            !status.is_server_error(),
            "{path}: {status} for a client's request: {}",
            String::from_utf8_lossy(&body)
        );
        if path != "/metrics" {
            let v: serde_json::Value = serde_json::from_slice(&body)
                .unwrap_or_else(|e| panic!("{path}: {status} with a body that is not JSON ({e})"));
            if is_events && status.is_success() {
                acknowledged = v["events_total"].as_u64().expect("events_total") as usize;
            }
        }
    }
    drop(app);
    // A restart: the snapshot (if any) and the log hold every acknowledged event.
    let mut scorer = open_scorer(sel, Some(&state_dir));
    recover(&mut scorer, &wal_dir).expect("a log written by the server recovers");
    assert_eq!(scorer.num_events(), acknowledged, "recovered events differ from the acknowledged ones");
}
