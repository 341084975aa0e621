//! A load generator for `linkcast serve` (`linkcast bench http`), and the small
//! blocking HTTP/1.1 client it and the tests use (keep-alive, `Content-Length` or
//! chunked replies; no TLS, loopback addresses only).
//!
//! `N` connections, one thread each, send a mix of `score` (`POST /score`, `queries`
//! pairs each), `recommend` (`GET /recommend`, top `k`) and `events` (`POST /events`,
//! `batch` events each) requests until `seconds` pass or `max_requests` were sent,
//! and report requests/s, errors and latency percentiles per kind. Setup posts one
//! batch that introduces the generator's own node ids (`load-0`, `load-1`, ...) at
//! the watermark + 1; event batches then advance time by 1 per batch (posted one at
//! a time, since the server serialises ingestion anyway, so none is ever too old);
//! queries ask about a time after every event the run can post. The run changes the
//! server's state: point it at a scratch copy of a model.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{addr}: not a loopback address; the load generator only targets this machine")]
    NotLoopback { addr: String },
    #[error("{addr}: cannot resolve")]
    Resolve {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Http(String),
    #[error("setup: {0}")]
    Setup(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> LoadError {
    move |source| LoadError::Io { what: what.into(), source }
}

/// `addr` (host:port) resolved, refused unless every address it names is loopback.
pub fn loopback(addr: &str) -> Result<SocketAddr, LoadError> {
    let all: Vec<SocketAddr> =
        addr.to_socket_addrs().map_err(|source| LoadError::Resolve { addr: addr.into(), source })?.collect();
    match all.first() {
        Some(first) if all.iter().all(|a| a.ip().is_loopback()) => Ok(*first),
        _ => Err(LoadError::NotLoopback { addr: addr.into() }),
    }
}

/// A reply: status and body bytes.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Result<Value, LoadError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            LoadError::Http(format!("reply is not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
        })
    }
}

/// One keep-alive connection to a loopback server.
pub struct Client {
    addr: SocketAddr,
    conn: Option<BufReader<TcpStream>>,
    pub timeout: Duration,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Result<Client, LoadError> {
        if !addr.ip().is_loopback() {
            return Err(LoadError::NotLoopback { addr: addr.to_string() });
        }
        Ok(Client { addr, conn: None, timeout: Duration::from_secs(60) })
    }

    /// Send one request; `body` is sent as JSON. A GET on a kept-alive connection the
    /// server closed is retried once on a new connection; a POST never is.
    pub fn request(&mut self, method: &str, path: &str, body: Option<&[u8]>) -> Result<Reply, LoadError> {
        let reused = self.conn.is_some();
        match self.try_request(method, path, body) {
            Err(_) if reused && method == "GET" => {
                self.conn = None;
                self.try_request(method, path, body)
            }
            r => r,
        }
    }

    pub fn get(&mut self, path: &str) -> Result<Reply, LoadError> {
        self.request("GET", path, None)
    }

    pub fn post(&mut self, path: &str, body: &[u8]) -> Result<Reply, LoadError> {
        self.request("POST", path, Some(body))
    }

    fn try_request(&mut self, method: &str, path: &str, body: Option<&[u8]>) -> Result<Reply, LoadError> {
        if self.conn.is_none() {
            let s = TcpStream::connect_timeout(&self.addr, self.timeout)
                .map_err(io(format!("connecting to {}", self.addr)))?;
            s.set_nodelay(true).map_err(io("socket"))?;
            s.set_read_timeout(Some(self.timeout)).map_err(io("socket"))?;
            self.conn = Some(BufReader::new(s));
        }
        let res = self.exchange(method, path, body);
        if res.as_ref().map_or(true, |(_, close)| *close) {
            self.conn = None;
        }
        res.map(|(r, _)| r)
    }

    fn exchange(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<(Reply, bool), LoadError> {
        let conn = self.conn.as_mut().expect("connected");
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        if let Some(b) = body {
            head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", b.len()));
        }
        head.push_str("\r\n");
        let s = conn.get_mut();
        s.write_all(head.as_bytes()).map_err(io("sending"))?;
        if let Some(b) = body {
            // A server refusing a huge body may close early: still read its reply.
            if let Err(e) = s.write_all(b) {
                tracing::debug!("body write stopped: {e}");
            }
        }
        let mut line = String::new();
        conn.read_line(&mut line).map_err(io("reading the status line"))?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| LoadError::Http(format!("bad status line {line:?}")))?;
        let (mut len, mut chunked, mut close) = (None, false, false);
        loop {
            line.clear();
            conn.read_line(&mut line).map_err(io("reading headers"))?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let Some((k, v)) = l.split_once(':') else { continue };
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_ascii_lowercase());
            match k.as_str() {
                "content-length" => len = v.parse::<usize>().ok(),
                "transfer-encoding" => chunked = v.contains("chunked"),
                "connection" => close = v == "close",
                _ => {}
            }
        }
        let mut out = Vec::new();
        if chunked {
            loop {
                line.clear();
                conn.read_line(&mut line).map_err(io("reading a chunk"))?;
                let n = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                    .map_err(|_| LoadError::Http(format!("bad chunk size {line:?}")))?;
                let mut chunk = vec![0; n + 2];
                conn.read_exact(&mut chunk).map_err(io("reading a chunk"))?;
                out.extend_from_slice(&chunk[..n]);
                if n == 0 {
                    break;
                }
            }
        } else if let Some(n) = len {
            out.resize(n, 0);
            conn.read_exact(&mut out).map_err(io("reading the body"))?;
        } else {
            conn.read_to_end(&mut out).map_err(io("reading the body"))?;
            close = true;
        }
        Ok((Reply { status, body: out }, close))
    }
}

/// Request kinds of the mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Score,
    Recommend,
    Events,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadSpec {
    pub addr: SocketAddr,
    pub seconds: f64,
    pub connections: usize,
    pub max_requests: u64,
    pub mix: Vec<Kind>,
    /// Node ids the generator introduces and asks about.
    pub nodes: usize,
    /// Pairs per `/score` request.
    pub queries: usize,
    /// Events per `/events` request.
    pub batch: usize,
    pub k: usize,
    pub seed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct KindReport {
    pub requests: u64,
    pub errors: u64,
    pub requests_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub spec: LoadSpec,
    pub seconds: f64,
    pub requests: u64,
    pub errors: u64,
    pub requests_per_s: f64,
    pub kinds: std::collections::BTreeMap<String, KindReport>,
    /// The first few error replies, for diagnosis.
    pub error_samples: Vec<String>,
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Run the load described by `spec` against a server on a loopback address.
pub fn run_load(spec: &LoadSpec) -> Result<LoadReport, LoadError> {
    if spec.mix.is_empty() || spec.connections == 0 || spec.nodes < 2 {
        return Err(LoadError::Setup("need a non-empty mix, at least 1 connection and 2 nodes".into()));
    }
    let mut c = Client::new(spec.addr)?;
    let health = c.get("/health")?.json()?;
    let start_t = health["watermark_time"].as_f64().unwrap_or(0.0) + 1.0;
    let feat = vec![0.0f32; health["feat_dim"].as_u64().unwrap_or(0) as usize];
    let id = |i: usize| format!("load-{}", i % spec.nodes);
    let intro: Vec<Value> = (0..spec.nodes)
        .map(|i| json!({"src": id(i), "dst": id(i + 1), "t": start_t, "feat": feat}))
        .collect();
    let r = c.post("/events", &serde_json::to_vec(&intro).expect("json"))?;
    if r.status != 200 {
        return Err(LoadError::Setup(format!(
            "POST /events: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        )));
    }
    // Event batches advance time by 1 each; queries ask after the last possible one.
    let clock = Mutex::new(start_t);
    let query_t = start_t + spec.max_requests as f64 + 2.0;
    let sent = AtomicU64::new(0);
    let deadline = Instant::now() + Duration::from_secs_f64(spec.seconds);
    let started = Instant::now();
    type Samples = Vec<(Kind, f64, bool)>;
    let worker = |w: usize| -> (Samples, Vec<String>) {
        let mut rng =
            rand_chacha::ChaCha8Rng::seed_from_u64(spec.seed ^ (w as u64).wrapping_mul(0x9e37_79b9));
        let mut client = match Client::new(spec.addr) {
            Ok(c) => c,
            Err(e) => return (Vec::new(), vec![e.to_string()]),
        };
        let (mut samples, mut errors) = (Vec::new(), Vec::new());
        while Instant::now() < deadline && sent.fetch_add(1, Relaxed) < spec.max_requests {
            let kind = spec.mix[rng.random_range(0..spec.mix.len())];
            let t0 = Instant::now();
            let reply = match kind {
                Kind::Score => {
                    let q: Vec<Value> = (0..spec.queries)
                        .map(|_| {
                            let (s, d) = (rng.random_range(0..spec.nodes), rng.random_range(0..spec.nodes));
                            json!({"src": id(s), "dst": id(d), "t": query_t})
                        })
                        .collect();
                    client.post("/score", &serde_json::to_vec(&q).expect("json"))
                }
                Kind::Recommend => {
                    let s = id(rng.random_range(0..spec.nodes));
                    client.get(&format!("/recommend?src={s}&at={query_t}&k={}", spec.k))
                }
                Kind::Events => {
                    let mut t = clock.lock().unwrap_or_else(|p| p.into_inner());
                    *t += 1.0;
                    let ev: Vec<Value> = (0..spec.batch)
                        .map(|_| {
                            let (s, d) = (rng.random_range(0..spec.nodes), rng.random_range(0..spec.nodes));
                            json!({"src": id(s), "dst": id(d), "t": *t, "feat": feat})
                        })
                        .collect();
                    client.post("/events", &serde_json::to_vec(&ev).expect("json"))
                }
            };
            let ms = t0.elapsed().as_secs_f64() * 1e3;
            let ok = matches!(&reply, Ok(r) if r.status == 200);
            if !ok && errors.len() < 5 {
                errors.push(match reply {
                    Ok(r) => format!("{kind:?}: {} {}", r.status, String::from_utf8_lossy(&r.body)),
                    Err(e) => format!("{kind:?}: {e}"),
                });
            }
            samples.push((kind, ms, ok));
        }
        (samples, errors)
    };
    let results: Vec<(Samples, Vec<String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..spec.connections).map(|w| s.spawn(move || worker(w))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    let seconds = started.elapsed().as_secs_f64();
    let mut kinds = std::collections::BTreeMap::new();
    let (mut requests, mut errors) = (0, 0);
    for kind in [Kind::Score, Kind::Recommend, Kind::Events] {
        let mut ms: Vec<f64> =
            results.iter().flat_map(|r| &r.0).filter(|x| x.0 == kind).map(|x| x.1).collect();
        let errs = results.iter().flat_map(|r| &r.0).filter(|x| x.0 == kind && !x.2).count() as u64;
        if ms.is_empty() {
            continue;
        }
        ms.sort_by(f64::total_cmp);
        requests += ms.len() as u64;
        errors += errs;
        let name = serde_json::to_value(kind).expect("json").as_str().unwrap_or("?").to_string();
        kinds.insert(
            name,
            KindReport {
                requests: ms.len() as u64,
                errors: errs,
                requests_per_s: ms.len() as f64 / seconds,
                p50_ms: quantile(&ms, 0.5),
                p99_ms: quantile(&ms, 0.99),
                max_ms: *ms.last().unwrap_or(&0.0),
            },
        );
    }
    let error_samples = results.into_iter().flat_map(|r| r.1).take(5).collect();
    Ok(LoadReport {
        spec: spec.clone(),
        seconds,
        requests,
        errors,
        requests_per_s: requests as f64 / seconds,
        kinds,
        error_samples,
    })
}
