//! A real full disk: a small tmpfs mounted by the test (it runs as root here, and
//! fails rather than skips when the mount is refused). `ingest`, `train` (first run
//! and `--resume`), `ingest-events` and `serve` (its WAL and its snapshots) each meet
//! a disk with no room: each fails cleanly, naming the file and the cause, and
//! leaves what was there byte for byte; once room is made, the same command (or the
//! same server, without a restart) succeeds. What the server serves after the
//! failures equals what a restart rebuilds.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};

use crate::cli::linkcast;
use crate::serve::Server;

const BUNDLED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/collegemsg/CollegeMsg.txt.gz");
const LAST: f64 = 1098777142.0;
const TINY: &[&str] = &[
    "--max-batches",
    "3",
    "--memory-dim",
    "8",
    "--time-dim",
    "8",
    "--emb-dim",
    "8",
    "--threads",
    "1",
    "--device",
    "cpu",
];

/// A tmpfs of `mib` MiB at a fresh directory, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(mib: u64) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("running mount");
        assert!(
            out.status.success(),
            "this test needs to mount a tmpfs (run as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fill the disk to the last byte with a filler file.
    fn fill(&self) {
        let mut f = std::fs::File::create(self.path().join("filler")).unwrap();
        let chunk = vec![0xa5u8; 64 << 10];
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => panic!("filling the tmpfs: {e}"),
            }
        }
        let mut byte = 0;
        while f.write(&[0]).is_ok_and(|n| n == 1) {
            byte += 1;
            assert!(byte < 1 << 20, "the tmpfs never filled");
        }
    }

    fn unfill(&self) {
        std::fs::remove_file(self.path().join("filler")).unwrap();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// The paths whose bytes differ between two trees, or that only one has.
fn changed(a: &BTreeMap<PathBuf, Vec<u8>>, b: &BTreeMap<PathBuf, Vec<u8>>) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        a.iter().filter(|(k, x)| b.get(*k) != Some(*x)).map(|(k, _)| k.clone()).collect();
    v.extend(b.keys().filter(|k| !a.contains_key(*k)).cloned());
    v
}

/// Every file under `root` with its bytes: not the filler, servers' logs, or lock
/// files (they name their holder's pid: they are not outputs).
fn tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, d: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.insert(p.strip_prefix(root).unwrap().to_path_buf(), Vec::new());
                walk(root, &p, out);
            } else if p.file_name().unwrap() != "filler"
                && !p.to_string_lossy().contains("stderr-")
                && p.extension().is_none_or(|e| e != "lock")
            {
                out.insert(p.strip_prefix(root).unwrap().to_path_buf(), std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn run(args: &[&str], paths: &[&Path]) -> Output {
    let mut c = linkcast();
    c.args(args);
    for p in paths {
        c.arg(p);
    }
    c.output().unwrap()
}

fn ok(out: &Output) {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Fails, says the disk is full, names a path on the tmpfs, and does not panic.
fn full(out: &Output, disk: &Path) {
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "succeeded on a full disk");
    assert!(e.contains("No space left on device"), "{e}");
    assert!(e.contains(&*disk.to_string_lossy()), "names no file: {e}");
    assert!(!e.contains("panicked"), "{e}");
}

#[test]
fn a_real_full_disk_loses_nothing() {
    let disk = Tmpfs::mount(24);
    let d = disk.path();
    let (g, m) = (d.join("g"), d.join("m"));
    ok(&run(&["-q", "ingest", BUNDLED, "-o"], &[&g]));
    let before = tree(d);

    // ingest --force over the graph: refused by the disk, the old graph intact.
    disk.fill();
    full(&run(&["-q", "ingest", "--force", BUNDLED, "-o"], &[&g]), d);
    let now = tree(d);
    assert!(now == before, "a failed ingest changed the disk: {:?}", changed(&before, &now));
    disk.unfill();

    // train into the empty rest of the disk; nothing is left behind.
    disk.fill();
    let mut args = vec!["-q", "train", "--epochs", "1"];
    args.extend(TINY);
    full(&run(&args, &[&g, Path::new("-o"), &m]), d);
    let now = tree(d);
    assert!(now == before, "a failed first checkpoint left files: {:?}", changed(&before, &now));
    disk.unfill();
    ok(&run(&args, &[&g, Path::new("-o"), &m]));

    // --resume for a second epoch: the first checkpoint survives the failure.
    let before = tree(d);
    let mut resume = vec!["-q", "train", "--resume", "--epochs", "2"];
    resume.extend(TINY);
    disk.fill();
    full(&run(&resume, &[&g, Path::new("-o"), &m]), d);
    let now = tree(d);
    assert!(now == before, "a failed checkpoint changed the model directory: {:?}", changed(&before, &now));
    disk.unfill();
    ok(&run(&resume, &[&g, Path::new("-o"), &m]));
    let state: Value = serde_json::from_slice(&std::fs::read(m.join("state.json")).unwrap()).unwrap();
    assert_eq!(state["epochs_done"], 2);

    // ingest-events: the live state is not half-written.
    let ev = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ev.path(), format!("1 2 {}\n3 4 {}\n", LAST + 10.0, LAST + 20.0)).unwrap();
    ok(&run(&["-q", "ingest-events"], &[&m, ev.path()]));
    let before = tree(d);
    std::fs::write(ev.path(), format!("5 6 {}\n", LAST + 30.0)).unwrap();
    disk.fill();
    full(&run(&["-q", "ingest-events"], &[&m, ev.path()]), d);
    let now = tree(d);
    assert!(now == before, "a failed ingest-events changed the live state: {:?}", changed(&before, &now));
    disk.unfill();
    ok(&run(&["-q", "ingest-events"], &[&m, ev.path()]));
}

/// A batch of 200 events: its log record (about 9 KB) needs new pages of the tmpfs,
/// so a full disk refuses it (a small record could still fit in the page the log's
/// last record left partly empty).
fn events(i: usize) -> Value {
    let t = LAST + 100.0 + i as f64;
    let ev: Vec<Value> = (0..200)
        .map(|j| json!({"src": format!("{}", 1 + (i + j) % 40), "dst": format!("{}", 2 + (i * 7 + j) % 50), "t": t}))
        .collect();
    Value::Array(ev)
}

fn scores(s: &Server) -> Vec<u8> {
    let q: Vec<Value> =
        (0..30).map(|i| json!({"src": format!("{}", 1 + i % 40), "dst": "5", "t": LAST + 1e4})).collect();
    let r = s.post("/score", &Value::Array(q));
    assert_eq!(r.status, 200);
    r.body
}

fn metric(s: &Server, name: &str) -> f64 {
    let text = String::from_utf8(s.client().get("/metrics").unwrap().body).unwrap();
    let line = text.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn a_server_on_a_full_disk_acknowledges_only_what_it_logged_and_recovers_in_place() {
    let disk = Tmpfs::mount(8);
    let dir = disk.path().join("srv");
    let s = Server::start(&dir, &["--snapshot-every", "1"]);
    assert_eq!(s.post("/events", &events(0)).status, 200);
    // No room for the log: refused (503 `wal`), not applied.
    disk.fill();
    let served = scores(&s);
    for i in 1..3 {
        let r = s.post("/events", &events(i));
        assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json().unwrap()["kind"], "wal");
        assert_eq!(s.health()["batches"], 1);
        assert_eq!(scores(&s), served, "a refused batch changed the scores");
    }
    assert_eq!(metric(&s, "linkcast_wal_failures_total"), 2.0);
    // Room for the log but not for a snapshot: acknowledged (the log has it), the
    // snapshot failure counted.
    disk.unfill();
    // Room for the two batches' records (about 20 KB), not for a snapshot (the
    // memory alone is 1,899 nodes x 8 floats plus their times, over 70 KB).
    let keep = 40 << 10;
    std::fs::write(disk.path().join("filler"), vec![0u8; 0]).unwrap();
    let free = {
        let c = std::ffi::CString::new(disk.path().to_str().unwrap()).unwrap();
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut st) }, 0);
        st.f_bavail * st.f_frsize
    };
    std::fs::write(disk.path().join("filler"), vec![0u8; (free - keep) as usize]).unwrap();
    for i in 1..3 {
        let r = s.post("/events", &events(i));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json().unwrap()["batch"], i + 1);
    }
    assert!(metric(&s, "linkcast_snapshot_failures_total") >= 1.0, "the snapshot fit in {keep} bytes");
    // Room again: the same server takes writes and snapshots, no restart.
    disk.unfill();
    assert_eq!(s.post("/events", &events(3)).status, 200);
    let snaps = metric(&s, "linkcast_snapshots_total");
    assert_eq!(s.post("/events", &events(4)).status, 200);
    assert_eq!(metric(&s, "linkcast_snapshots_total"), snaps + 1.0);
    let served = scores(&s);
    assert_eq!(s.health()["batches"], 5);
    let mut s = s;
    s.child.kill().unwrap();
    s.child.wait().unwrap();
    drop(s);
    let r = Server::start(&dir, &["--snapshot-every", "1"]);
    assert_eq!(r.health()["batches"], 5);
    assert_eq!(scores(&r), served, "served after the failures = after a restart");
    r.stop();
}
