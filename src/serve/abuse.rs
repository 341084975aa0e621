//! Hostile clients against a running `linkcast serve` (`linkcast bench abuse`),
//! loopback only, every loop bounded in count and time.
//!
//! Classes: slow headers (a byte at a time), idle connections (hundreds, silent),
//! a slow body, bodies over the limit, oversized headers, malformed UTF-8, deeply
//! nested JSON, huge ids, NaN and infinite times, out-of-order event batches. For
//! each case the report keeps what the server answered (`"400"`, `"413"`, or
//! `"closed after 2.0s"` where it hung up without a reply). Throughout, one
//! normal client asks `GET /recommend` in a loop; its p50/p99 during each class
//! are reported beside its p50/p99 with no abuse, with the server's resident
//! memory (from `/metrics`) before and after each class.
//!
//! Setup posts one batch introducing two ids of its own (`abuse-0`, `abuse-1`)
//! just after the watermark, so the run changes the server's state: point it at a
//! scratch copy.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::serve::load::{Client, LoadError};

/// What to run.
#[derive(Debug, Clone)]
pub struct AbuseSpec {
    pub addr: SocketAddr,
    /// Seconds of normal traffic alone (the baseline), and at least this per class.
    pub baseline_seconds: f64,
    /// Idle connections to open at once.
    pub idle_connections: usize,
    /// Concurrent slow-header clients.
    pub slow_clients: usize,
    /// Give up on a connection the server has not closed after this.
    pub give_up: Duration,
    /// The server's body limit (for the over-limit case).
    pub max_body_bytes: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseReport {
    pub case: String,
    pub sent: usize,
    /// Answer -> count.
    pub answers: BTreeMap<String, usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClassReport {
    pub class: String,
    pub cases: Vec<CaseReport>,
    pub seconds: f64,
    pub normal_requests: usize,
    pub normal_errors: usize,
    pub normal_p50_ms: f64,
    pub normal_p99_ms: f64,
    pub rss_before_bytes: u64,
    pub rss_after_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct AbuseReport {
    pub addr: String,
    pub baseline: ClassReport,
    pub classes: Vec<ClassReport>,
}

fn quantile_ms(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize] * 1e3
}

/// The server's resident memory, from its `/metrics`.
fn rss(addr: SocketAddr) -> u64 {
    let Ok(mut c) = Client::new(addr) else { return 0 };
    let Ok(r) = c.get("/metrics") else { return 0 };
    String::from_utf8_lossy(&r.body)
        .lines()
        .find_map(|l| l.strip_prefix("linkcast_resident_memory_bytes "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// Send raw bytes on a fresh connection while reading its reply (a server that
/// refuses early answers before the client has finished writing), until the
/// server closes it or `give_up`: the answer is the status code, or how long
/// until it hung up without one. The client never half-closes: hyper would take
/// that for a client gone away.
fn raw(addr: SocketAddr, bytes: &[u8], give_up: Duration) -> String {
    let t = Instant::now();
    let Ok(mut s) = TcpStream::connect_timeout(&addr, give_up) else { return "connect failed".into() };
    let _ = s.set_read_timeout(Some(give_up));
    let Ok(mut reader) = s.try_clone() else { return "socket clone failed".into() };
    std::thread::scope(|sc| {
        let h = sc.spawn(move || answer(&mut reader, t, give_up));
        for part in bytes.chunks(64 << 10) {
            if s.write_all(part).is_err() {
                break;
            }
        }
        h.join().unwrap_or_else(|_| "reader panicked".into())
    })
}

fn answer(s: &mut TcpStream, t: Instant, give_up: Duration) -> String {
    use std::io::ErrorKind::{TimedOut, WouldBlock};
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut reset = false;
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > 1 << 20 {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), WouldBlock | TimedOut) => {
                if t.elapsed() >= give_up {
                    return format!("still open after {:.0}s", give_up.as_secs_f64());
                }
            }
            Err(_) => {
                reset = true;
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&buf);
    match text.strip_prefix("HTTP/1.1 ").and_then(|r| r.get(..3)) {
        Some(code) => code.to_string(),
        None if reset => format!("reset after {:.1}s", t.elapsed().as_secs_f64()),
        None => format!("closed after {:.1}s", t.elapsed().as_secs_f64()),
    }
}

fn post(path: &str, body: &[u8]) -> Vec<u8> {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    [head.as_bytes(), body].concat()
}

fn get(path_and_query: &str) -> Vec<u8> {
    format!("GET {path_and_query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").into_bytes()
}

fn case(name: &str, answers: Vec<String>) -> CaseReport {
    let mut m = BTreeMap::new();
    for a in &answers {
        *m.entry(a.clone()).or_insert(0) += 1;
    }
    CaseReport { case: name.to_string(), sent: answers.len(), answers: m }
}

/// `n` clients at once, each sending `prefix` at once, then `bytes` with `gap`
/// between bytes.
fn trickle(
    addr: SocketAddr,
    prefix: &[u8],
    bytes: &[u8],
    n: usize,
    gap: Duration,
    give_up: Duration,
) -> Vec<String> {
    std::thread::scope(|sc| {
        let hs: Vec<_> = (0..n)
            .map(|_| {
                sc.spawn(move || {
                    let t = Instant::now();
                    let Ok(mut s) = TcpStream::connect_timeout(&addr, give_up) else {
                        return "connect failed".to_string();
                    };
                    let _ = s.write_all(prefix);
                    for b in bytes {
                        if t.elapsed() >= give_up || s.write_all(std::slice::from_ref(b)).is_err() {
                            break;
                        }
                        std::thread::sleep(gap);
                    }
                    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
                    answer(&mut s, t, give_up)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap_or_else(|_| "client panicked".into())).collect()
    })
}

/// `n` silent connections; each answer is when (whether) the server closed it.
fn idle(addr: SocketAddr, n: usize, give_up: Duration) -> Vec<String> {
    let t = Instant::now();
    let mut conns: Vec<_> = (0..n).filter_map(|_| TcpStream::connect_timeout(&addr, give_up).ok()).collect();
    let mut out = vec!["connect failed".to_string(); n - conns.len()];
    std::thread::scope(|sc| {
        let hs: Vec<_> = conns
            .chunks_mut(32)
            .map(|chunk| {
                sc.spawn(move || {
                    let each = |s: &mut TcpStream| {
                        let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
                        answer(s, t, give_up)
                    };
                    chunk.iter_mut().map(each).collect::<Vec<_>>()
                })
            })
            .collect();
        for h in hs {
            out.extend(h.join().unwrap_or_default());
        }
    });
    out
}

/// The normal client's loop until `stop`: latencies (s) and errors. It holds one
/// kept-alive connection, opened (and used once) before `ready` is signalled,
/// as a pooled client would: the connection cap refuses newcomers, not clients
/// already served.
fn normal(
    addr: SocketAddr,
    path: &str,
    stop: &AtomicBool,
    ready: std::sync::mpsc::Sender<()>,
) -> (Vec<f64>, usize) {
    let mut c = match Client::new(addr) {
        Ok(c) => c,
        Err(_) => return (Vec::new(), 1),
    };
    c.timeout = Duration::from_secs(30);
    let warm = c.get(path);
    let _ = ready.send(());
    if !warm.is_ok_and(|r| r.status == 200) {
        return (Vec::new(), 1);
    }
    let (mut lat, mut errors) = (Vec::new(), 0);
    while !stop.load(Relaxed) {
        let t = Instant::now();
        match c.get(path) {
            Ok(r) if r.status == 200 => lat.push(t.elapsed().as_secs_f64()),
            _ => errors += 1,
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    (lat, errors)
}

/// Run `abuse` while the normal client runs, for at least `min_seconds`.
fn under(spec: &AbuseSpec, class: &str, path: &str, abuse: impl FnOnce() -> Vec<CaseReport>) -> ClassReport {
    let rss_before = rss(spec.addr);
    let stop = AtomicBool::new(false);
    let t = Instant::now();
    let (cases, (mut lat, errors)) = std::thread::scope(|sc| {
        let (tx, rx) = std::sync::mpsc::channel();
        let h = sc.spawn(|| normal(spec.addr, path, &stop, tx));
        let _ = rx.recv();
        let cases = abuse();
        let rest = Duration::from_secs_f64(spec.baseline_seconds).saturating_sub(t.elapsed());
        std::thread::sleep(rest);
        stop.store(true, Relaxed);
        (cases, h.join().unwrap_or_default())
    });
    ClassReport {
        class: class.to_string(),
        cases,
        seconds: t.elapsed().as_secs_f64(),
        normal_requests: lat.len() + errors,
        normal_errors: errors,
        normal_p50_ms: quantile_ms(&mut lat, 0.5),
        normal_p99_ms: quantile_ms(&mut lat, 0.99),
        rss_before_bytes: rss_before,
        rss_after_bytes: rss(spec.addr),
    }
}

pub fn run_abuse(spec: &AbuseSpec) -> Result<AbuseReport, LoadError> {
    let a = spec.addr;
    let g = spec.give_up;
    let mut c = Client::new(a)?;
    let health = c.get("/health")?.json()?;
    let w = health["watermark_time"].as_f64().unwrap_or(0.0);
    let setup = format!(r#"[{{"src":"abuse-0","dst":"abuse-1","t":{}}}]"#, w + 1.0);
    let r = c.post("/events", setup.as_bytes())?;
    if r.status != 200 {
        return Err(LoadError::Http(format!(
            "setup batch refused: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        )));
    }
    let at = w + 1e6;
    let path = format!("/recommend?src=abuse-0&at={at}&k=10");
    let baseline = under(spec, "none", &path, Vec::new);
    let ev = |t: f64| format!(r#"{{"src":"abuse-0","dst":"abuse-1","t":{t}}}"#);
    let mut classes = Vec::new();
    classes.push(under(spec, "slow headers", &path, || {
        let head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
        vec![case(
            &format!("{} clients, 1 byte / 100 ms", spec.slow_clients),
            trickle(a, b"", head, spec.slow_clients, Duration::from_millis(100), g),
        )]
    }));
    classes.push(under(spec, "idle connections", &path, || {
        vec![case(
            &format!("{} silent connections", spec.idle_connections),
            idle(a, spec.idle_connections, g),
        )]
    }));
    classes.push(under(spec, "slow body", &path, || {
        let body = format!("[{}]", ev(w + 2.0));
        let head = format!(
            "POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len() + 4096
        );
        let case_name = "4 clients: head at once, then the body 1 byte / 100 ms, never complete";
        vec![case(case_name, trickle(a, head.as_bytes(), body.as_bytes(), 4, Duration::from_millis(100), g))]
    }));
    classes.push(under(spec, "bodies over the limit", &path, || {
        let big = vec![b' '; spec.max_body_bytes + 1];
        let chunked_head =
            "POST /score HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
        let mut chunked = chunked_head.as_bytes().to_vec();
        for _ in 0..(spec.max_body_bytes / 65536 + 2) {
            chunked.extend_from_slice(b"10000\r\n");
            chunked.extend_from_slice(&[b' '; 65536]);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        let lying = format!(
            "POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n[",
            u64::MAX
        );
        vec![
            case("Content-Length one over --max-body-bytes", vec![raw(a, &post("/events", &big), g)]),
            case("chunked past the limit", vec![raw(a, &chunked, g)]),
            case("Content-Length 2^64-1", vec![raw(a, lying.as_bytes(), g)]),
        ]
    }));
    classes.push(under(spec, "oversized headers", &path, || {
        let h = format!(
            "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
            "a".repeat(64 << 10)
        );
        let many: String = (0..2000).map(|i| format!("X-H{i}: v\r\n")).collect();
        let m = format!("GET /health HTTP/1.1\r\nHost: x\r\n{many}Connection: close\r\n\r\n");
        let long_uri = get(&format!("/recommend?src={}&at=1", "9".repeat(100_000)));
        vec![
            case("one 64 KiB header", vec![raw(a, h.as_bytes(), g)]),
            case("2,000 headers", vec![raw(a, m.as_bytes(), g)]),
            case("100 KB request line", vec![raw(a, &long_uri, g)]),
        ]
    }));
    classes.push(under(spec, "malformed UTF-8", &path, || {
        let bad = b"[{\"src\":\"\xff\xfe\",\"dst\":\"abuse-1\",\"t\":1e12}]".to_vec();
        let lone = b"[{\"src\":\"\xed\xa0\x80\",\"dst\":\"abuse-1\",\"t\":1e12}]".to_vec();
        vec![
            case("invalid bytes in a /events id", vec![raw(a, &post("/events", &bad), g)]),
            case("a surrogate in a /score id", vec![raw(a, &post("/score", &lone), g)]),
            case("%FF in a /recommend query", vec![raw(a, &get("/recommend?src=%FF&at=1e12"), g)]),
            case(
                "raw 0xFF in the request line",
                vec![raw(a, b"GET /recommend?src=\xff&at=1 HTTP/1.1\r\nHost: x\r\n\r\n", g)],
            ),
        ]
    }));
    classes.push(under(spec, "deeply nested JSON", &path, || {
        let deep = |n: usize| [vec![b'['; n], vec![b']'; n]].concat();
        let objs: String = "{\"a\":".repeat(100_000) + "1" + &"}".repeat(100_000);
        vec![
            case("[ x 200", vec![raw(a, &post("/events", &deep(200)), g)]),
            case("[ x 1,000,000", vec![raw(a, &post("/score", &deep(1_000_000)), g)]),
            case("{\"a\": x 100,000", vec![raw(a, &post("/events", objs.as_bytes()), g)]),
        ]
    }));
    classes.push(under(spec, "huge ids", &path, || {
        let long = "7".repeat(1 << 20);
        let score = format!(r#"[{{"src":"{long}","dst":"abuse-1","t":{at}}}]"#);
        let num = format!(r#"[{{"src":{},"dst":"abuse-1","t":{at}}}]"#, "9".repeat(400));
        let rec = get(&format!("/recommend?src={}&at={at}&k=18446744073709551615", "8".repeat(4000)));
        let k = get(&format!("/recommend?src=abuse-0&at={at}&k=18446744073709551615"));
        vec![
            case("1 MiB id in /score", vec![raw(a, &post("/score", score.as_bytes()), g)]),
            case("400-digit number as an id", vec![raw(a, &post("/score", num.as_bytes()), g)]),
            case("4,000-digit id in /recommend", vec![raw(a, &rec, g)]),
            case("k = 2^64-1", vec![raw(a, &k, g)]),
        ]
    }));
    classes.push(under(spec, "NaN and infinite times", &path, || {
        let nan = |v: &str| format!(r#"[{{"src":"abuse-0","dst":"abuse-1","t":{v}}}]"#);
        vec![
            case("t: NaN in /events", vec![raw(a, &post("/events", nan("NaN").as_bytes()), g)]),
            case("t: 1e999 in /events", vec![raw(a, &post("/events", nan("1e999").as_bytes()), g)]),
            case("t: \"inf\" in /score", vec![raw(a, &post("/score", nan("\"inf\"").as_bytes()), g)]),
            case("t: -1e308 in /events", vec![raw(a, &post("/events", nan("-1e308").as_bytes()), g)]),
            case("at=NaN", vec![raw(a, &get("/recommend?src=abuse-0&at=NaN"), g)]),
            case("at=inf", vec![raw(a, &get("/recommend?src=abuse-0&at=inf"), g)]),
            case("at=-inf", vec![raw(a, &get("/recommend?src=abuse-0&at=-inf"), g)]),
        ]
    }));
    classes.push(under(spec, "out-of-order event batches", &path, || {
        let desc = format!("[{},{}]", ev(w + 5.0), ev(w + 3.0));
        let old = format!("[{}]", ev(w - 1.0));
        vec![
            case("times decreasing inside a batch", vec![raw(a, &post("/events", desc.as_bytes()), g)]),
            case("a batch older than the watermark", vec![raw(a, &post("/events", old.as_bytes()), g)]),
        ]
    }));
    Ok(AbuseReport { addr: a.to_string(), baseline, classes })
}
