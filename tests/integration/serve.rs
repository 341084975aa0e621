//! `linkcast serve` through the real binary: bad input gets the right 4xx with a
//! JSON error and the server stays up; a server killed with SIGKILL while batches
//! are in flight restarts with every acknowledged event exactly once and scores
//! bit-identical to a twin that never crashed; a graceful stop snapshots.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use linkcast::serve::load::{Client, Reply, loopback};
use serde_json::{Value, json};

use crate::cli::linkcast;

const BUNDLED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/collegemsg/CollegeMsg.txt.gz");

/// A tiny TGN trained once per test run (seconds) and shared read-only: servers
/// keep their live state in their own --state/--wal directories.
pub(crate) fn model() -> PathBuf {
    static MODEL: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut m = MODEL.lock().unwrap();
    if let Some(p) = &*m {
        return p.clone();
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-model");
    let _ = std::fs::remove_dir_all(&dir);
    let out = linkcast()
        .args(["train", BUNDLED, "-o"])
        .arg(&dir)
        .args(["--epochs", "1", "--max-batches", "3", "--memory-dim", "8", "--time-dim", "8"])
        .args(["--emb-dim", "8", "--threads", "1", "--device", "cpu", "--quiet"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    *m = Some(dir.clone());
    dir
}

pub(crate) struct Server {
    pub(crate) child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Server {
    /// Start `linkcast serve` on a free port with its state in `dir` and wait for
    /// its `listening on ADDR` line.
    pub(crate) fn start(dir: &Path, extra: &[&str]) -> Server {
        Self::start_env(dir, extra, &[])
    }

    fn start_env(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        std::fs::create_dir_all(dir).unwrap();
        let log = dir.join(format!("stderr-{}.txt", std::time::UNIX_EPOCH.elapsed().unwrap().as_nanos()));
        let mut child = linkcast()
            .arg("serve")
            .arg(model())
            .args(["--addr", "127.0.0.1:0", "--threads", "1", "--device", "cpu", "--state"])
            .arg(dir.join("state"))
            .arg("--wal")
            .arg(dir.join("wal"))
            .args(extra)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line.strip_prefix("listening on ").unwrap_or_else(|| {
            panic!("first line {line:?}; stderr: {}", std::fs::read_to_string(&log).unwrap())
        });
        Server { child, addr: loopback(addr.trim()).unwrap(), log }
    }

    pub(crate) fn client(&self) -> Client {
        Client::new(self.addr).unwrap()
    }

    pub(crate) fn health(&self) -> Value {
        let r = self.client().get("/health").unwrap();
        assert_eq!(r.status, 200);
        r.json().unwrap()
    }

    pub(crate) fn post(&self, path: &str, body: &Value) -> Reply {
        self.client().post(path, &serde_json::to_vec(body).unwrap()).unwrap()
    }

    /// SIGTERM, then wait for a clean exit.
    pub(crate) fn stop(mut self) {
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) }, 0);
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status}; stderr: {}", std::fs::read_to_string(&self.log).unwrap());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Status and parsed JSON error of a reply, asserting it is a JSON object with `error`.
fn err(r: &Reply) -> (u16, Value) {
    let v: Value = r.json().unwrap_or_else(|e| panic!("{}: {e}", r.status));
    assert!(v["error"].is_string(), "{v}");
    (r.status, v)
}

#[test]
fn bad_input_gets_json_4xx_and_the_server_stays_up() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start(tmp.path(), &["--max-body-bytes", "4096"]);
    let h = s.health();
    let (base, w) = (h["events"].as_u64().unwrap(), h["watermark_time"].as_f64().unwrap());
    assert_eq!(h["ok"], true);
    assert_eq!(h["model"], "tgn");
    let mut c = s.client();
    // A fresh connection per case: a server may close one after refusing a body.
    let raw = |path: &str, body: &str| s.client().post(path, body.as_bytes()).unwrap();

    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("/events", "[{\"src\":\"1\",".into(), 400, "malformed_json"),
        ("/events", "not json".into(), 400, "malformed_json"),
        ("/events", format!("[{{\"src\":\"1\",\"dst\":\"2\",\"t\":{},\"x\":1}}]", w + 1.0), 422, "bad_shape"),
        ("/events", "[{\"src\":\"1\",\"dst\":\"2\",\"t\":\"NaN\"}]".into(), 422, "bad_shape"),
        ("/events", "[{\"src\":1,\"dst\":\"2\",\"t\":5}]".into(), 422, "bad_shape"),
        ("/events", "[{\"src\":\"1\",\"dst\":\"2\",\"t\":1e999}]".into(), 400, "malformed_json"),
        (
            "/events",
            format!("{{\"events\":[{{\"src\":\"1\",\"dst\":\"2\",\"t\":{}}}]}}", w + 1.0),
            422,
            "bad_shape",
        ),
        ("/events", "[]".into(), 400, "empty"),
        ("/events", format!("[{{\"src\":\"1\",\"dst\":\"\",\"t\":{}}}]", w + 1.0), 400, "invalid"),
        (
            "/events",
            format!("[{{\"src\":\"1\",\"dst\":\"2\",\"t\":{},\"feat\":[1]}}]", w + 1.0),
            400,
            "invalid",
        ),
        (
            "/events",
            format!("[{}]", vec!["{\"src\":\"1\",\"dst\":\"2\",\"t\":1}"; 200].join(",")),
            413,
            "too_large",
        ),
        ("/score", "[{\"src\":\"1\",\"dst\":\"2\"}]".into(), 422, "bad_shape"),
        (
            "/score",
            format!("[{{\"src\":\"1\",\"dst\":\"no-such-node\",\"t\":{}}}]", w + 1.0),
            404,
            "unknown_node",
        ),
        ("/score", format!("[{{\"src\":\"1\",\"dst\":\"2\",\"t\":{w}}}]"), 409, "too_old"),
    ];
    for (path, body, status, kind) in &cases {
        let (got, v) = err(&raw(path, body));
        assert_eq!((got, v["kind"].as_str().unwrap()), (*status, *kind), "{path} {body:.80}: {v}");
    }
    // An event older than the watermark names index, time and watermark.
    let old = json!([{"src": "1", "dst": "2", "t": w + 1.0}, {"src": "1", "dst": "3", "t": w - 5.0}]);
    let (st, v) = err(&s.post("/events", &old));
    assert_eq!((st, v["kind"].as_str(), v["index"].as_u64()), (409, Some("too_old"), Some(1)));
    assert_eq!((v["t"].as_f64(), v["watermark"].as_f64()), (Some(w - 5.0), Some(w)));
    // Out of order inside one batch: never reordered silently.
    let ooo = json!([{"src": "1", "dst": "2", "t": w + 2.0}, {"src": "1", "dst": "3", "t": w + 1.0}]);
    let (st, v) = err(&s.post("/events", &ooo));
    assert_eq!(
        (st, v["kind"].as_str(), v["index"].as_u64(), v["previous"].as_f64()),
        (409, Some("out_of_order"), Some(1), Some(w + 2.0))
    );
    for (q, status) in [
        (format!("/recommend?src=1&at={}&k=0", w + 1.0), 400),
        ("/recommend?src=1&at=NaN".to_string(), 400),
        ("/recommend?src=1&at=soon".to_string(), 400),
        ("/recommend?at=5".to_string(), 400),
        (format!("/recommend?src=nobody&at={}", w + 1.0), 404),
        (format!("/recommend?src=1&at={w}"), 409),
        ("/nowhere".to_string(), 404),
    ] {
        let (got, v) = err(&c.get(&q).unwrap());
        assert_eq!(got, status, "{q}: {v}");
    }
    let (got, _) = err(&c.request("DELETE", "/events", None).unwrap());
    assert_eq!(got, 405);

    // Nothing was absorbed; the server is up and a good batch goes through.
    let h = s.health();
    assert_eq!((h["events"].as_u64(), h["batches"].as_u64()), (Some(base), Some(0)));
    let good = json!([{"src": "1", "dst": "2", "t": w + 1.0}, {"src": "new-a", "dst": "1", "t": w + 1.0}]);
    let r = s.post("/events", &good);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json().unwrap();
    assert_eq!(
        (v["batch"].as_u64(), v["events"].as_u64(), v["new_nodes"].as_u64()),
        (Some(1), Some(2), Some(1))
    );
    let r = s.post("/score", &json!([{"src": "new-a", "dst": "2", "t": w + 2.0}]));
    assert_eq!(r.status, 200);
    let p = r.json().unwrap()["scores"][0]["score"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&p));
    let r = c.get(&format!("/recommend?src=1&at={}&k=3&exclude_seen=true", w + 2.0)).unwrap();
    assert_eq!(r.json().unwrap()["results"].as_array().unwrap().len(), 3);
    // POST /recommend: many sources, each answered as its own GET; bad bodies and
    // a source too early are refused with the query's index.
    let asks = json!({"queries": [{"src": "1", "at": w + 2.0}, {"src": "new-a", "at": w + 3.0},
                                  {"src": "2", "at": w + 2.0}], "k": 3, "exclude_seen": true});
    let r = s.post("/recommend", &asks);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let many = r.json().unwrap();
    for (i, q) in asks["queries"].as_array().unwrap().iter().enumerate() {
        let one = c
            .get(&format!(
                "/recommend?src={}&at={}&k=3&exclude_seen=true",
                q["src"].as_str().unwrap(),
                q["at"]
            ))
            .unwrap()
            .json()
            .unwrap();
        let got = &many["results"][i];
        assert_eq!((&got["src"], &got["cold_src"]), (&one["src"], &one["cold_src"]), "query {i}");
        let dsts =
            |v: &Value| v["results"].as_array().unwrap().iter().map(|r| r["dst"].clone()).collect::<Vec<_>>();
        assert_eq!(dsts(got), dsts(&one), "query {i}");
    }
    for (body, status) in [
        (json!({"queries": []}), 400),
        (json!({"queries": [{"src": "1", "at": w + 2.0}], "k": 0}), 400),
        (json!({"queries": [{"src": "1"}]}), 422),
        (json!([{"src": "1", "at": w + 2.0}]), 422),
        (json!({"queries": [{"src": "1", "at": w + 2.0}, {"src": "1", "at": w}]}), 409),
        (json!({"queries": [{"src": "nobody", "at": w + 2.0}]}), 404),
    ] {
        let (got, v) = err(&s.post("/recommend", &body));
        assert_eq!(got, status, "{body}: {v}");
        if status == 409 {
            assert_eq!(v["index"], 1, "{v}");
        }
    }
    let metrics = String::from_utf8(c.get("/metrics").unwrap().body).unwrap();
    for line in [
        "linkcast_http_requests_total{route=\"events\",status=\"409\"} 2",
        "linkcast_http_requests_total{route=\"events\",status=\"413\"} 1",
        "linkcast_events_absorbed_total 2",
        "linkcast_batches_total 1",
        "linkcast_http_request_duration_seconds_count{route=\"score\"}",
        "linkcast_resident_memory_bytes ",
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
    s.stop();
}

/// A batch of 1 to 3 events at time `t` among existing and new nodes.
fn batch(i: usize, t: f64) -> Vec<Value> {
    (0..1 + i % 3)
        .map(|j| {
            let src = if j == 2 { format!("new-{i}") } else { format!("{}", 1 + (i * 7 + j) % 40) };
            json!({"src": src, "dst": format!("{}", 1 + (i * 13 + j * 5) % 60), "t": t})
        })
        .collect()
}

/// Pairs among base nodes, and from the new nodes the first `batches` batches made.
fn queries(t: f64, batches: usize) -> Value {
    let q: Vec<Value> = (0..40)
        .map(|i| json!({"src": format!("{}", 1 + i % 40), "dst": format!("{}", 1 + (i * 3) % 60), "t": t}))
        .chain((2..batches).step_by(3).map(|i| json!({"src": format!("new-{i}"), "dst": "5", "t": t})))
        .collect();
    Value::Array(q)
}

/// Scores and a top-k as the raw JSON the server sends, for bit-identical comparison.
fn answers(s: &Server, t: f64, batches: usize) -> (Vec<u8>, Vec<u8>) {
    let r = s.post("/score", &queries(t, batches));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let top = s.client().get(&format!("/recommend?src=3&at={t}&k=20")).unwrap();
    assert_eq!(top.status, 200);
    (r.body, top.body)
}

/// A SIGTERM sent the moment the address is announced (before any request) is a
/// graceful stop, never the default disposition: the handlers are installed
/// before the `listening on` line. CI once caught the window this closes.
#[test]
fn sigterm_right_after_listening_is_a_graceful_stop() {
    let tmp = tempfile::tempdir().unwrap();
    for _ in 0..5 {
        // `stop` asserts a zero exit status; death by the signal fails it.
        Server::start(tmp.path(), &[]).stop();
    }
}

#[test]
fn sigkill_with_writes_in_flight_loses_no_acknowledged_event() {
    crash_and_restart(11, "4", None);
}

/// The window the other test rarely hits: the batch in flight is in the log
/// (fsynced) but its reply never left. It must come back, once, as the next batch.
#[test]
fn sigkill_after_fsync_before_the_reply_keeps_that_batch() {
    assert!(crash_and_restart(3, "0", Some(1000)), "the in-flight batch was not recovered");
}

/// Post batches until `kill_after` are acknowledged, SIGKILL the server (after
/// `pause_ms / 2.5` more when the server pauses `pause_ms` before each reply), restart
/// it and compare it with a twin fed the batches it holds. Returns whether the
/// batch in flight at the kill was recovered.
fn crash_and_restart(kill_after: usize, snapshot_every: &str, pause_ms: Option<u64>) -> bool {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a");
    let snapshot = ["--snapshot-every", snapshot_every];
    let pause = pause_ms.map(|ms| ms.to_string()).unwrap_or_default();
    let env: &[(&str, &str)] =
        if pause_ms.is_some() { &[("LINKCAST_TEST_PAUSE_BEFORE_ACK_MS", &pause)] } else { &[] };
    let mut a = Server::start_env(&dir, &snapshot, env);
    let h = a.health();
    let (base, w) = (h["events"].as_u64().unwrap() as usize, h["watermark_time"].as_f64().unwrap());

    // One writer posts batches back to back and keeps the ledger of acknowledged
    // ones; `in_flight` is the batch sent and not yet answered (at most one).
    let acked = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (addr, acked) = (a.addr, acked.clone());
        std::thread::spawn(move || {
            let mut ledger: Vec<Vec<Value>> = Vec::new();
            for i in 0.. {
                let b = batch(i, w + 1.0 + i as f64);
                let mut c = Client::new(addr).unwrap();
                match c.post("/events", &serde_json::to_vec(&b).unwrap()) {
                    Ok(r) if r.status == 200 => {
                        assert_eq!(r.json().unwrap()["batch"].as_u64(), Some(i as u64 + 1));
                        ledger.push(b);
                        acked.store(ledger.len(), Ordering::SeqCst);
                    }
                    Ok(r) => panic!("batch {i}: {} {}", r.status, String::from_utf8_lossy(&r.body)),
                    Err(_) => return (ledger, b),
                }
            }
            unreachable!()
        })
    };
    while acked.load(Ordering::SeqCst) < kill_after {
        std::thread::yield_now();
    }
    if let Some(ms) = pause_ms {
        // The next batch is posted at once, logged within milliseconds, then the
        // server waits `ms` before replying: kill it in that wait.
        std::thread::sleep(std::time::Duration::from_millis(ms * 2 / 5));
    }
    a.child.kill().unwrap(); // SIGKILL, mid-stream
    a.child.wait().unwrap();
    let (ledger, in_flight) = writer.join().unwrap();
    drop(a);
    // Also leave the torn half of a record at the log's end, as a write cut by the
    // crash would: recovery truncates it (it was never acknowledged).
    let mut segs: Vec<PathBuf> =
        std::fs::read_dir(dir.join("wal")).unwrap().map(|e| e.unwrap().path()).collect();
    segs.sort();
    let torn = linkcast::serve::wal::encode(99, &serde_json::to_vec(&in_flight).unwrap());
    let mut f = std::fs::OpenOptions::new().append(true).open(segs.last().unwrap()).unwrap();
    std::io::Write::write_all(&mut f, &torn[..torn.len() / 2]).unwrap();
    drop(f);

    let a = Server::start(&dir, &snapshot);
    let h = a.health();
    let acked_events: usize = ledger.iter().map(Vec::len).sum();
    let events = h["events"].as_u64().unwrap() as usize;
    let batches = h["batches"].as_u64().unwrap() as usize;
    // The unanswered batch may have been logged before the kill (then it is there,
    // whole, as the next batch) or not (then it is absent): nothing in between.
    let mut held = ledger.clone();
    if events == base + acked_events + in_flight.len() && batches == ledger.len() + 1 {
        held.push(in_flight);
    } else {
        assert_eq!((events, batches), (base + acked_events, ledger.len()), "acked {} batches", ledger.len());
    }
    let recovered = held.len() > ledger.len();
    let log = std::fs::read_to_string(&a.log).unwrap();
    assert!(log.contains("replayed") && log.contains("truncated a torn tail"), "{log}");
    eprintln!(
        "killed after {} acknowledged batches; the in-flight one {}; restart: {}",
        ledger.len(),
        if recovered { "was logged" } else { "was not" },
        log.trim()
    );

    // The twin receives exactly the held batches, same boundaries, never killed.
    let twin = Server::start(&tmp.path().join("twin"), &["--snapshot-every", "0"]);
    for b in &held {
        assert_eq!(twin.post("/events", &Value::Array(b.clone())).status, 200);
    }
    assert_eq!(twin.health()["events"], h["events"]);
    let t = w + 1.0 + held.len() as f64 + 10.0;
    let restarted = answers(&a, t, held.len());
    assert_eq!(restarted, answers(&twin, t, held.len()), "restarted and twin servers disagree");

    // Writes continue with the next batch number; a graceful stop snapshots and a
    // third start (snapshot only, nothing to replay) answers the same again.
    let next = Value::Array(batch(1000, w + 1.0 + held.len() as f64));
    let r = a.post("/events", &next);
    assert_eq!(r.json().unwrap()["batch"].as_u64(), Some(held.len() as u64 + 1));
    assert_eq!(twin.post("/events", &next).status, 200);
    let expected = answers(&twin, t, held.len());
    a.stop();
    let a = Server::start(&dir, &snapshot);
    assert!(std::fs::read_to_string(&a.log).unwrap().contains("replayed 0 batches"));
    assert_eq!(answers(&a, t, held.len()), expected);
    a.stop();
    twin.stop();
    recovered
}

#[test]
fn load_generator_reports_per_kind_and_refuses_remote_addresses() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start(tmp.path(), &[]);
    let out = linkcast()
        .args(["bench", "http", "--addr", &s.addr.to_string(), "--seconds", "20", "--connections", "3"])
        .args(["--max-requests", "30", "--nodes", "20", "--queries", "10", "--batch", "3"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["requests"], 30);
    assert_eq!(v["errors"], 0, "{v}");
    for k in ["score", "recommend", "events"] {
        assert!(
            v["kinds"][k]["p99_ms"].as_f64().unwrap() >= v["kinds"][k]["p50_ms"].as_f64().unwrap(),
            "{v}"
        );
    }
    let h = s.health();
    assert_eq!(h["batches"].as_u64().unwrap(), 1 + v["kinds"]["events"]["requests"].as_u64().unwrap());
    let out = linkcast().args(["bench", "http", "--addr", "8.8.8.8:80", "--seconds", "1"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
    let out = linkcast().arg("serve").arg(model()).args(["--addr", "0.0.0.0:0"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
    s.stop();
}

/// Hostile clients (`linkcast bench abuse`, short limits so it takes seconds):
/// every case is refused with a 4xx or cut off by a deadline, connections over
/// the cap get 503, nothing is left open, the normal client never fails, and the
/// server stops cleanly afterwards.
#[test]
fn abused_server_refuses_or_times_out_every_hostile_client_and_keeps_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let limits = ["--header-timeout", "1", "--idle-timeout", "2", "--request-timeout", "2"];
    let s = Server::start(
        tmp.path(),
        &[&limits[..], &["--max-connections", "48", "--max-body-bytes", "100000"]].concat(),
    );
    let out = linkcast()
        .args(["bench", "abuse", "--addr", &s.addr.to_string(), "--seconds", "1", "--idle-connections", "64"])
        .args(["--slow-clients", "4", "--give-up", "8", "--max-body-bytes", "100000"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let classes = v["classes"].as_array().unwrap();
    assert_eq!(classes.len(), 10, "{v}");
    for c in classes {
        let class = c["class"].as_str().unwrap();
        assert_eq!(c["normal_errors"], 0, "{class}: the normal client failed: {c}");
        assert!(c["normal_requests"].as_u64().unwrap() > 0, "{c}");
        for case in c["cases"].as_array().unwrap() {
            for (answer, n) in case["answers"].as_object().unwrap() {
                let code: Option<u16> = answer.parse().ok();
                let ok = match code {
                    Some(503) => class == "idle connections",
                    // k beyond the catalogue ranks the whole catalogue.
                    Some(200) => case["case"] == "k = 2^64-1",
                    Some(c) => (400..500).contains(&c),
                    // Cut off by a deadline: only the slow and the silent.
                    None => {
                        answer.starts_with("closed after")
                            && matches!(class, "slow headers" | "idle connections" | "slow body")
                    }
                };
                assert!(ok, "{class} / {}: {n} x {answer:?}", case["case"]);
            }
        }
    }
    let by = |name: &str| classes.iter().find(|c| c["class"] == name).unwrap()["cases"][0]["answers"].clone();
    assert_eq!(by("slow body"), json!({"408": 4}), "the request deadline answers a stalled body");
    assert!(by("idle connections")["503"].as_u64().unwrap() >= 64 - 48, "{v}");
    let m = String::from_utf8(s.client().get("/metrics").unwrap().body).unwrap();
    assert!(m.contains("linkcast_http_connections_refused_total"), "{m}");
    s.stop();
}
