//! Counters behind `GET /health` and `GET /metrics` (Prometheus text format 0.0.4):
//! requests per route and status, a latency histogram per route (seconds), the
//! scorer's sizes as gauges, resident memory from `/proc/self/status`. Everything is
//! an atomic (or a short-held mutex for the status map), so reading never waits for
//! the scorer's lock.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::serve::Scorer;

/// Route labels; anything else is `other`.
pub const ROUTES: [&str; 6] = ["events", "score", "recommend", "health", "metrics", "other"];
/// Histogram upper bounds, seconds (+Inf implied).
pub const BUCKETS: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// `watermark` bits meaning "none yet".
const NO_WATERMARK: u64 = u64::MAX;

pub fn route_of(path: &str) -> usize {
    let name = path.trim_start_matches('/');
    ROUTES.iter().position(|r| *r == name).unwrap_or(ROUTES.len() - 1)
}

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

pub struct Metrics {
    requests: Mutex<BTreeMap<(usize, u16), u64>>,
    latency: [Histogram; ROUTES.len()],
    pub events: AtomicU64,
    pub live_events: AtomicU64,
    pub nodes: AtomicU64,
    pub batches: AtomicU64,
    pub feat_dim: AtomicU64,
    watermark_bits: AtomicU64,
    pub snapshots: AtomicU64,
    pub snapshot_failures: AtomicU64,
    pub wal_bytes: AtomicU64,
    pub wal_failures: AtomicU64,
    /// Connection counters, kept by `serve::listen`.
    pub conn: crate::serve::listen::ConnStats,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: Mutex::default(),
            latency: Default::default(),
            events: AtomicU64::new(0),
            live_events: AtomicU64::new(0),
            nodes: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            feat_dim: AtomicU64::new(0),
            watermark_bits: AtomicU64::new(NO_WATERMARK),
            conn: Default::default(),
            snapshots: AtomicU64::new(0),
            snapshot_failures: AtomicU64::new(0),
            wal_bytes: AtomicU64::new(0),
            wal_failures: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// Copy the scorer's sizes (called with the scorer's lock held).
    pub fn observe_scorer(&self, s: &Scorer) {
        self.events.store(s.num_events() as u64, Relaxed);
        self.live_events.store((s.num_events() - s.base_events()) as u64, Relaxed);
        self.nodes.store(s.num_nodes() as u64, Relaxed);
        self.batches.store(s.batches(), Relaxed);
        self.feat_dim.store(s.store().feat_dim() as u64, Relaxed);
        self.watermark_bits.store(s.watermark_time().map_or(NO_WATERMARK, f64::to_bits), Relaxed);
    }

    pub fn watermark(&self) -> Option<f64> {
        let b = self.watermark_bits.load(Relaxed);
        (b != NO_WATERMARK).then(|| f64::from_bits(b))
    }

    pub fn record(&self, route: usize, status: u16, took: Duration) {
        *self.requests.lock().unwrap_or_else(|p| p.into_inner()).entry((route, status)).or_default() += 1;
        let h = &self.latency[route];
        let secs = took.as_secs_f64();
        for (b, le) in h.buckets.iter().zip(BUCKETS) {
            if secs <= le {
                b.fetch_add(1, Relaxed);
            }
        }
        h.count.fetch_add(1, Relaxed);
        h.sum_micros.fetch_add(took.as_micros() as u64, Relaxed);
    }

    /// Requests answered with `status` on `route` so far.
    pub fn requests(&self, route: &str, status: u16) -> u64 {
        let r = route_of(&format!("/{route}"));
        self.requests.lock().unwrap_or_else(|p| p.into_inner()).get(&(r, status)).copied().unwrap_or(0)
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut o = String::new();
        let p = "linkcast_http";
        let _ = writeln!(o, "# HELP {p}_requests_total HTTP requests answered, by route and status.");
        let _ = writeln!(o, "# TYPE {p}_requests_total counter");
        for ((r, s), n) in self.requests.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(o, "{p}_requests_total{{route=\"{}\",status=\"{s}\"}} {n}", ROUTES[*r]);
        }
        let _ = writeln!(o, "# HELP {p}_request_duration_seconds Time to answer a request, by route.");
        let _ = writeln!(o, "# TYPE {p}_request_duration_seconds histogram");
        for (r, h) in ROUTES.iter().zip(&self.latency) {
            let count = h.count.load(Relaxed);
            if count == 0 {
                continue;
            }
            for (b, le) in h.buckets.iter().zip(BUCKETS) {
                let _ = writeln!(
                    o,
                    "{p}_request_duration_seconds_bucket{{route=\"{r}\",le=\"{le}\"}} {}",
                    b.load(Relaxed)
                );
            }
            let _ = writeln!(o, "{p}_request_duration_seconds_bucket{{route=\"{r}\",le=\"+Inf\"}} {count}");
            let sum = h.sum_micros.load(Relaxed) as f64 / 1e6;
            let _ = writeln!(o, "{p}_request_duration_seconds_sum{{route=\"{r}\"}} {sum}");
            let _ = writeln!(o, "{p}_request_duration_seconds_count{{route=\"{r}\"}} {count}");
        }
        let c = &self.conn;
        let gauges: [(&str, &str, &str, f64); 14] = [
            (
                "linkcast_http_connections_open",
                "gauge",
                "Open client connections.",
                c.open.load(Relaxed) as f64,
            ),
            (
                "linkcast_http_connections_total",
                "counter",
                "Connections accepted.",
                c.accepted.load(Relaxed) as f64,
            ),
            (
                "linkcast_http_connections_refused_total",
                "counter",
                "Connections over --max-connections, answered 503 and closed.",
                c.refused.load(Relaxed) as f64,
            ),
            (
                "linkcast_http_connections_idle_closed_total",
                "counter",
                "Kept-alive connections closed after --idle-timeout without a request.",
                c.idle_closed.load(Relaxed) as f64,
            ),
            (
                "linkcast_http_request_timeouts_total",
                "counter",
                "Requests answered 408 after --request-timeout.",
                c.timed_out.load(Relaxed) as f64,
            ),
            (
                "linkcast_events_absorbed_total",
                "counter",
                "Live events absorbed since the base graph.",
                self.live_events.load(Relaxed) as f64,
            ),
            (
                "linkcast_events",
                "gauge",
                "Events in the store (base graph + live).",
                self.events.load(Relaxed) as f64,
            ),
            (
                "linkcast_batches_total",
                "counter",
                "Live ingest batches applied.",
                self.batches.load(Relaxed) as f64,
            ),
            ("linkcast_nodes", "gauge", "Nodes known to the scorer.", self.nodes.load(Relaxed) as f64),
            (
                "linkcast_snapshots_total",
                "counter",
                "Snapshots written by this process.",
                self.snapshots.load(Relaxed) as f64,
            ),
            (
                "linkcast_snapshot_failures_total",
                "counter",
                "Snapshots that failed (a full disk); the WAL keeps every batch since the last good one.",
                self.snapshot_failures.load(Relaxed) as f64,
            ),
            (
                "linkcast_wal_segment_bytes",
                "gauge",
                "Bytes in the current WAL segment.",
                self.wal_bytes.load(Relaxed) as f64,
            ),
            (
                "linkcast_wal_failures_total",
                "counter",
                "Batches refused because the WAL could not make them durable (not applied).",
                self.wal_failures.load(Relaxed) as f64,
            ),
            (
                "linkcast_resident_memory_bytes",
                "gauge",
                "Resident memory (VmRSS).",
                crate::util::mem::rss_bytes().unwrap_or(0) as f64,
            ),
        ];
        for (name, kind, help, v) in gauges {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
        }
        if let Some(w) = self.watermark() {
            let _ = writeln!(o, "# HELP linkcast_watermark_time Time of the newest absorbed event.");
            let _ = writeln!(o, "# TYPE linkcast_watermark_time gauge\nlinkcast_watermark_time {w}");
        }
        o
    }
}
