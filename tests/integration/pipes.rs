//! A reader that goes away (`linkcast stats G --json | head -c 600`) ends every
//! printing subcommand quietly: killed by SIGPIPE at its first write (the shell's
//! status 141), or exit status 0 when it had nothing left to print, and nothing on
//! stderr, never a panic. Each command runs with its stdout a pipe whose read end
//! was closed before the command started, so its first write meets no reader.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::cli::linkcast;

const BUNDLED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/collegemsg/CollegeMsg.txt.gz");

/// Run `cmd` (quiet: `-q` is the first argument) with a closed stdout; status and stderr.
fn with_closed_stdout(mut cmd: Command) -> (std::process::ExitStatus, String) {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    (out.status, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn check(name: &str, args: &[&str]) {
    let mut cmd = linkcast();
    cmd.arg("-q").args(args);
    let (status, stderr) = with_closed_stdout(cmd);
    let quiet = status.success() || status.signal() == Some(libc::SIGPIPE);
    assert!(quiet, "{name}: status {status:?}, stderr:\n{stderr}");
    assert!(stderr.is_empty(), "{name}: wrote to stderr after its reader left:\n{stderr}");
}

fn ok(args: &[&str], paths: &[&Path]) {
    let out = linkcast().arg("-q").args(args).args(paths).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn every_printing_subcommand_ends_quietly_when_its_reader_leaves() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (g, m, neg) = (d.join("g"), d.join("m"), d.join("test.neg"));
    let (gs, ms, negs) = (g.to_str().unwrap(), m.to_str().unwrap(), neg.to_str().unwrap());
    ok(&["ingest", BUNDLED, "-o"], &[&g]);
    ok(&["negatives", gs, "--k", "5", "-o"], &[&neg]);
    let tiny =
        ["--epochs", "1", "--max-batches", "2", "--memory-dim", "8", "--time-dim", "8", "--emb-dim", "8"];
    let mut train = vec!["train", gs, "--threads", "1", "--device", "cpu"];
    train.extend(tiny);
    ok(&train, &[Path::new("-o"), &m]);
    let q = d.join("q.csv");
    std::fs::write(&q, "src,dst,time\n1,2,1098777150\n2,3,1098777150\n").unwrap();
    let new_events = d.join("new.csv");
    std::fs::write(&new_events, "src,dst,time\n1,2,1098777200\n").unwrap();
    let (qs, ns) = (q.to_str().unwrap(), new_events.to_str().unwrap());
    let synth = d.join("gen.csv");
    let gens = synth.to_str().unwrap();
    let m2 = d.join("m2");
    let m2s = m2.to_str().unwrap();

    check("--help", &["--help"]);
    check("ingest --json", &["ingest", BUNDLED, "-o", d.join("g2").to_str().unwrap(), "--json"]);
    check("stats", &["stats", gs]);
    check("stats --json", &["stats", gs, "--json"]);
    check("verify", &["verify", gs]);
    check("generate -o -", &["generate", "--nodes", "50", "--events", "100000", "-o", "-"]);
    check("generate", &["generate", "--nodes", "50", "--events", "500", "-o", gens]);
    check("negatives", &["negatives", gs, "--k", "5", "-o", d.join("n2.neg").to_str().unwrap()]);
    check("eval baseline", &["eval", "--baseline", "recency", gs]);
    check("eval baseline --json", &["eval", "--baseline", "recency", gs, "--json"]);
    check("eval rank", &["eval", ms, gs, "--protocol", "rank", "--negatives-file", negs, "--threads", "1"]);
    check("doctor", &["doctor"]);
    check("doctor --json", &["doctor", "--json"]);
    check("bench sample", &["bench", "sample", gs, "--max-batches", "5"]);
    let mut t = vec!["train", gs, "-o", m2s, "--threads", "1", "--json", "--device", "cpu"];
    t.extend(tiny);
    check("train --json", &t);
    check("score", &["score", ms, "--queries", qs, "--threads", "1"]);
    check(
        "recommend",
        &["recommend", ms, "--src", "1", "--at", "1098777150", "--top-k", "5", "--threads", "1"],
    );
    check(
        "recommend --json",
        &["recommend", ms, "--src", "1", "--at", "1098777150", "--top-k", "5", "--threads", "1", "--json"],
    );
    check("ingest-events", &["ingest-events", ms, ns, "--threads", "1"]);
}
