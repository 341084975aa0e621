//! A dead rank in distributed training: one rank of two is killed (SIGKILL) or
//! stopped (SIGSTOP) mid-epoch by the planned failure of `LINKCAST_DIST_FAULT`. The
//! other rank must stop with an error that names the cause within a bounded time,
//! and `--resume` must then end with the weights of a run that was never interrupted.
//!
//! The ranks are started by hand (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT; rank 0
//! serves the rendezvous store), as torchrun's static launch does, because the
//! `--nproc` launcher would stop the survivor itself. With root and `ip`, the same
//! runs once more across two network namespaces joined by a veth pair, so the ranks
//! do not share an address (LINKCAST_TEST_NETNS=0 skips it, =1 makes a refused
//! namespace a failure rather than a skip).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cli::linkcast;

const BUNDLED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/collegemsg/CollegeMsg.txt.gz");
const BIN: &str = env!("CARGO_BIN_EXE_linkcast");

/// 3 epochs of 4 batches: exchange 6 (0-based) is the third batch of epoch 2, after
/// epoch 1's checkpoint and before epoch 2's.
fn small_run(out: &Path, log: &Path) -> Vec<String> {
    let mut v: Vec<String> = [
        "train",
        BUNDLED,
        "--epochs",
        "3",
        "--patience",
        "5",
        "--max-batches",
        "4",
        "--batch-size",
        "200",
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
        "--quiet",
        "--distributed",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(["-o".into(), out.display().to_string(), "--step-log".into(), log.display().to_string()]);
    v
}

/// A loopback port that was free a moment ago (bound by the kernel, then released
/// for rank 0's store to bind). In a fresh network namespace every port is free, so
/// the loopback's choice serves there too.
fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap().local_addr().unwrap().port()
}

/// Where a rank runs: this namespace, or `ip netns exec NS` with its own address.
#[derive(Clone)]
struct Place {
    netns: Option<String>,
    iface: Option<String>,
}

impl Place {
    fn here() -> Place {
        Place { netns: None, iface: None }
    }
}

struct Rank {
    child: Child,
    stderr: PathBuf,
}

impl Rank {
    fn err(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

fn start_rank(
    rank: usize,
    master: (&str, u16),
    place: &Place,
    args: &[String],
    env: &[(&str, &str)],
    dir: &Path,
) -> Rank {
    let mut c = match &place.netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, BIN]);
            c
        }
        None => Command::new(BIN),
    };
    c.args(args)
        .env("RANK", rank.to_string())
        .env("WORLD_SIZE", "2")
        .env("MASTER_ADDR", master.0)
        .env("MASTER_PORT", master.1.to_string())
        .env_remove("LINKCAST_LAUNCHER_STORE")
        .env_remove("LINKCAST_DIST_FAULT")
        .env("LINKCAST_DIST_TIMEOUT", "120");
    if let Some(i) = &place.iface {
        c.env("GLOO_SOCKET_IFNAME", i);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    let stderr = dir.join(format!("rank{rank}.stderr"));
    c.stdout(Stdio::null()).stderr(std::fs::File::create(&stderr).unwrap());
    Rank { child: c.spawn().unwrap(), stderr }
}

/// Process state letter from /proc (R, S, T for stopped, ...).
fn proc_state(pid: u32) -> Option<char> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s.rsplit_once(')')?.1.trim_start().chars().next()
}

/// One interrupted two-rank run: `victim` gets `signal` (KILL or STOP) before its
/// exchange 6; returns how long the survivor took to exit after the victim died or
/// stopped, and the survivor's stderr.
fn interrupted(
    victim: usize,
    signal: &str,
    op_timeout: u64,
    places: [&Place; 2],
    master: &str,
    out: &Path,
    tmp: &Path,
) -> (Duration, String) {
    let log = tmp.join(format!("log-{victim}-{signal}"));
    let mut args = small_run(out, &log);
    args.extend(["--force".into(), "--dist-op-timeout".into(), op_timeout.to_string()]);
    let port = free_port();
    let fault = format!("{victim}:6:{signal}");
    let env = [("LINKCAST_DIST_FAULT", fault.as_str())];
    let mut ranks: Vec<Rank> =
        (0..2).map(|r| start_rank(r, (master, port), places[r], &args, &env, tmp)).collect();
    let survivor = 1 - victim;
    let started = Instant::now();
    let mut hit: Option<Instant> = None;
    let mut survivor_status = None;
    while survivor_status.is_none() {
        assert!(started.elapsed() < Duration::from_secs(300), "the run did not end within 300 s");
        if hit.is_none() {
            let v = &mut ranks[victim].child;
            let gone = match v.try_wait().unwrap() {
                Some(st) => {
                    use std::os::unix::process::ExitStatusExt;
                    assert_eq!(st.signal(), Some(9), "rank {victim} should have been killed: {st}");
                    true
                }
                // Under `ip netns exec` the child is the rank itself (ip execs it).
                None => signal == "STOP" && proc_state(v.id()) == Some('T'),
            };
            if gone {
                hit = Some(Instant::now());
            }
        }
        if let Some(st) = ranks[survivor].child.try_wait().unwrap() {
            survivor_status = Some(st);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let st = survivor_status.unwrap();
    let err = ranks[survivor].err();
    let hit =
        hit.unwrap_or_else(|| panic!("rank {survivor} ended ({st}) before rank {victim} failed:\n{err}"));
    let after = hit.elapsed();
    assert!(!st.success(), "rank {survivor} succeeded although rank {victim} died:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    let _ = ranks[victim].child.kill();
    let _ = ranks[victim].child.wait();
    (after, err)
}

/// Rank 0 and rank 1 each die (SIGKILL) or stall (SIGSTOP) in epoch 2; the other
/// rank names the cause within the bound, and `--resume` then equals a run never
/// interrupted, bit for bit.
fn dead_rank_in(places: [&Place; 2], master: &str, what: &str) {
    let tmp = tempfile::tempdir().unwrap();
    // The uninterrupted reference, the same way the ranks are started below.
    let reference = tmp.path().join("ref");
    let ref_log = tmp.path().join("ref-log");
    let port = free_port();
    let args = small_run(&reference, &ref_log);
    let mut r: Vec<Rank> =
        (0..2).map(|i| start_rank(i, (master, port), places[i], &args, &[], tmp.path())).collect();
    for (i, rank) in r.iter_mut().enumerate() {
        let st = rank.child.wait().unwrap();
        assert!(st.success(), "{what}: reference rank {i} failed:\n{}", rank.err());
    }
    let want = std::fs::read(ref_log.join("rank0.safetensors")).unwrap();
    assert_eq!(want, std::fs::read(ref_log.join("rank1.safetensors")).unwrap());

    for victim in [1, 0] {
        let out = tmp.path().join(format!("m{victim}"));
        // A dead rank: its sockets close, so the survivor needs no timeout at all.
        let (after, err) = interrupted(victim, "KILL", 300, places, master, &out, tmp.path());
        assert!(
            after < Duration::from_secs(20),
            "{what}: rank {} took {after:?} after the kill:\n{err}",
            1 - victim
        );
        assert!(err.contains("closed its connection") || err.contains("no answer"), "{what}: {err}");
        assert!(err.contains("--resume"), "{what}: {err}");
        eprintln!("{what}: rank {victim} killed; the other rank stopped {:.2} s later", after.as_secs_f64());
        if victim == 1 {
            // Epoch 1 was saved by rank 0 before the kill; resuming ends where the
            // uninterrupted run ended.
            let log = tmp.path().join("resume-log");
            let mut args = small_run(&out, &log);
            args.push("--resume".into());
            let port = free_port();
            let mut r: Vec<Rank> =
                (0..2).map(|i| start_rank(i, (master, port), places[i], &args, &[], tmp.path())).collect();
            for (i, rank) in r.iter_mut().enumerate() {
                let st = rank.child.wait().unwrap();
                assert!(st.success(), "{what}: resumed rank {i} failed:\n{}", rank.err());
            }
            let got = std::fs::read(log.join("rank0.safetensors")).unwrap();
            assert!(got == want, "{what}: resumed weights and memory differ from the uninterrupted run");
            assert_eq!(
                std::fs::read(out.join("model.safetensors")).unwrap(),
                std::fs::read(reference.join("model.safetensors")).unwrap(),
                "{what}: the resumed run chose different best weights"
            );
        }
    }
    // A stalled rank keeps its sockets open: the survivor waits the op timeout, no more.
    let out = tmp.path().join("stalled");
    let (after, err) = interrupted(1, "STOP", 5, places, master, &out, tmp.path());
    assert!(
        after >= Duration::from_secs(4),
        "{what}: gave up after {after:?}, before the 5 s timeout:\n{err}"
    );
    assert!(after < Duration::from_secs(35), "{what}: took {after:?} with a 5 s op timeout:\n{err}");
    assert!(err.contains("no answer from another rank within 5 s"), "{what}: {err}");
    eprintln!("{what}: rank 1 stopped; rank 0 gave up {:.2} s later (op timeout 5 s)", after.as_secs_f64());
}

#[test]
fn a_dead_rank_stops_the_other_and_resume_equals_uninterrupted() {
    dead_rank_in([&Place::here(), &Place::here()], "127.0.0.1", "loopback");
}

/// The `--nproc` launcher stops the other ranks itself and says which rank failed.
#[test]
fn the_launcher_reports_a_killed_rank() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("m");
    let args = small_run(&out, &tmp.path().join("log"));
    let started = Instant::now();
    let o = linkcast()
        .args(&args)
        .args(["--nproc", "2"])
        .env("LINKCAST_DIST_FAULT", "1:6:KILL")
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("rank 1 of 2 failed") && err.contains("SIGKILL"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(120), "{:?}", started.elapsed());
    // A malformed plan is refused before any work.
    let o = linkcast()
        .args(&args)
        .args(["--nproc", "1", "--force"])
        .env("LINKCAST_DIST_FAULT", "1:x")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("LINKCAST_DIST_FAULT"));
}

/// Two network namespaces joined by a veth pair, removed on drop.
struct Netns {
    names: [String; 2],
}

impl Netns {
    fn create() -> Result<Netns, String> {
        let tag = std::process::id() % 10_000;
        let names = [format!("lc{tag}a"), format!("lc{tag}b")];
        let (va, vb) = (format!("lcv{tag}a"), format!("lcv{tag}b"));
        let ns = Netns { names: names.clone() };
        let run = |args: &[&str]| -> Result<(), String> {
            let o = Command::new("ip").args(args).output().map_err(|e| format!("ip: {e}"))?;
            if o.status.success() {
                Ok(())
            } else {
                Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&o.stderr).trim()))
            }
        };
        run(&["netns", "add", &names[0]])?;
        run(&["netns", "add", &names[1]])?;
        run(&["link", "add", &va, "type", "veth", "peer", "name", &vb])?;
        run(&["link", "set", &va, "netns", &names[0]])?;
        run(&["link", "set", &vb, "netns", &names[1]])?;
        run(&["-n", &names[0], "addr", "add", "10.231.0.1/24", "dev", &va])?;
        run(&["-n", &names[1], "addr", "add", "10.231.0.2/24", "dev", &vb])?;
        for (n, v) in [(&names[0], &va), (&names[1], &vb)] {
            run(&["-n", n, "link", "set", v, "up"])?;
            run(&["-n", n, "link", "set", "lo", "up"])?;
        }
        Ok(ns)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
        }
    }
}

#[test]
fn a_dead_rank_across_two_network_namespaces() {
    let want = std::env::var("LINKCAST_TEST_NETNS").ok();
    if want.as_deref() == Some("0") {
        eprintln!("skipped: LINKCAST_TEST_NETNS=0");
        return;
    }
    let ns = match Netns::create() {
        Ok(ns) => ns,
        Err(e) if want.as_deref() == Some("1") => panic!("LINKCAST_TEST_NETNS=1 but: {e}"),
        Err(e) => {
            eprintln!(
                "skipped: cannot create network namespaces here ({e}); LINKCAST_TEST_NETNS=1 makes this fail"
            );
            return;
        }
    };
    let tag = std::process::id() % 10_000;
    let a = Place { netns: Some(ns.names[0].clone()), iface: Some(format!("lcv{tag}a")) };
    let b = Place { netns: Some(ns.names[1].clone()), iface: Some(format!("lcv{tag}b")) };
    dead_rank_in([&a, &b], "10.231.0.1", "two namespaces");
    drop(ns);
}
