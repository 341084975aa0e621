//! One writer per live state and per write-ahead log, through the real binary: a
//! second `serve` (on the same state, or only the same log) and an
//! `ingest-events` beside a running server are refused at once with who holds
//! the lock; `score` (a reader) is unaffected; a server killed with SIGKILL
//! releases its locks, so the next one starts.

use serde_json::json;

use crate::cli::linkcast;
use crate::serve::{Server, model};

fn refused(mut cmd: std::process::Command) -> String {
    let out = cmd.output().unwrap();
    let e = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{cmd:?} should be refused");
    assert!(e.contains("in use by another writer") && !e.contains("panicked"), "{e}");
    e
}

#[test]
fn one_writer_per_live_state_and_log_and_a_crash_releases_the_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut first = Server::start(dir, &[]);
    assert_eq!(first.post("/events", &json!([{"src": "1", "dst": "2", "t": 1.2e9}])).status, 200);
    let m = model();
    let (state, wal, other) = (dir.join("state"), dir.join("wal"), dir.join("other"));
    let serve = |state: &std::path::Path| {
        let mut c = linkcast();
        c.arg("serve").arg(&m).args(["--addr", "127.0.0.1:0", "--device", "cpu", "--state"]);
        c.arg(state).arg("--wal").arg(&wal);
        c
    };
    let holder = format!("pid {}, linkcast serve", first.child.id());
    let e = refused(serve(&state));
    assert!(e.contains("live state") && e.contains(&holder), "{e}");
    let e = refused(serve(&other));
    assert!(e.contains("write-ahead log") && e.contains(&holder), "{e}");
    let events = dir.join("new.txt");
    std::fs::write(&events, "1 2 1300000000\n").unwrap();
    let mut ie = linkcast();
    ie.arg("ingest-events").arg(&m).arg(&events).arg("--state").arg(&state);
    let e = refused(ie);
    assert!(e.contains(&holder), "{e}");

    // A reader needs no lock.
    let q = dir.join("q.csv");
    std::fs::write(&q, "src,dst,time\n1,2,1300000000\n").unwrap();
    let out =
        linkcast().arg("score").arg(&m).arg("--state").arg(&state).arg("--queries").arg(&q).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // SIGKILL: the kernel drops the locks; the next server starts and recovers.
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let second = Server::start(dir, &[]);
    assert_eq!(second.health()["batches"], 1);
    second.stop();
}
