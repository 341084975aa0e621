//! `linkcast bench scale`: how cost grows with the graph, one generated graph per
//! size, every stage in its own child process of this same binary so that each
//! stage's peak RSS is its own (the kernel's `ru_maxrss` of that child, via `wait4`).
//!
//! Per size `E` (events), with `N = clamp(E / events_per_node, 2, max_nodes)` nodes:
//! 1. ingest: `linkcast generate --events E --nodes N -o - | linkcast ingest - -o DIR
//!    --memory-limit L --json` (the CSV never touches the disk); rows/s from the
//!    ingest's own report, wall time of the pipe, peak RSS of the ingest child;
//! 2. disk: bytes of the graph directory by part (event log, features, adjacency,
//!    ids, node features, meta.json) and per event, from the ingest's report;
//! 3. sampling: `linkcast bench sample DIR --max-batches B` (batches spread over the
//!    log, memory-mapped): roots/s and peak RSS;
//! 4. training and scoring (torch builds, up to `train_max_events`):
//!    `linkcast bench train DIR --batches T --score-pairs P`: TGN training events/s
//!    over the first `T` batches, scoring pairs/s after them, the model's node
//!    memory in bytes, peak RSS.
//!
//! The graph directory of a size is deleted after its stages unless `keep`, so the
//! largest size needs disk for itself only. Times are wall-clock seconds; sizes are
//! bytes. The report carries every parameter and the machine.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::bench::ingest::Machine;
use crate::store::write_external::DiskBytes;
use crate::util::plot::{Panel, PlotError, Series, plot_loglog};

#[derive(Debug, thiserror::Error)]
pub enum ScaleError {
    #[error("invalid scale setting: {0}")]
    Invalid(String),
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("stage {stage} at {events} events failed ({status}); its stderr ends with:\n{stderr}")]
    Stage { stage: &'static str, events: u64, status: String, stderr: String },
    #[error("stage {stage} at {events} events printed no JSON report: {why}")]
    Report { stage: &'static str, events: u64, why: String },
    #[error("plotting")]
    Plot(#[from] PlotError),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ScaleError {
    let what = what.into();
    move |source| ScaleError::Io { what, source }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScaleSpec {
    /// Events per generated graph, ascending.
    pub sizes: Vec<u64>,
    pub events_per_node: u64,
    pub max_nodes: u64,
    pub zipf: f64,
    pub seed: u64,
    /// f32 edge-feature columns of the generated events (4 B each per event on disk).
    #[serde(default)]
    pub features: usize,
    /// Store one adjacency direction (`ingest --directed`): 32 instead of 48 B/event.
    pub directed: bool,
    /// `--memory-limit` of the ingest (bytes); `None`: the ingest's default.
    pub memory_limit: Option<u64>,
    /// Graph directories go here (`DIR/g-E`).
    pub work_dir: PathBuf,
    pub keep: bool,
    /// Sampling: batches of `sample_batch` events, `sample_batches` of them.
    pub sample_batch: usize,
    pub sample_batches: u64,
    /// Training: the first `train_batches` batches of `train_batch` events; skipped
    /// above `train_max_events` (or without the torch feature).
    pub train_batch: usize,
    pub train_batches: usize,
    pub train_max_events: u64,
    pub score_pairs: usize,
    /// Threads for sampling (and libtorch).
    pub threads: usize,
}

impl ScaleSpec {
    pub fn nodes(&self, events: u64) -> u64 {
        (events / self.events_per_node.max(1)).clamp(2, self.max_nodes.min(u64::from(u32::MAX)))
    }
}

/// One stage's numbers: its wall time, its peak RSS, and the child's own report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageReport {
    pub seconds: f64,
    pub peak_rss_bytes: u64,
    pub report: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SizeReport {
    pub events: u64,
    /// The generator's node-id range.
    pub nodes: u64,
    /// Nodes that have events (the ingest's count).
    pub graph_nodes: Option<u64>,
    pub ingest: StageReport,
    /// Rows per second of the whole pipe (generation included).
    pub ingest_rows_per_s: f64,
    /// The ingest's own peak anonymous memory (what `--memory-limit` bounds).
    pub ingest_peak_rss_anon_bytes: Option<u64>,
    /// Bytes on disk by part, as the ingest reported them (from the written meta.json).
    pub disk: DiskBytes,
    pub sample: StageReport,
    pub sample_roots_per_s: f64,
    pub train: Option<StageReport>,
    pub train_events_per_s: Option<f64>,
    pub score_pairs_per_s: Option<f64>,
    /// Why a stage did not run at this size.
    pub skipped: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScaleReport {
    pub bench: String,
    pub spec: ScaleSpec,
    pub sizes: Vec<SizeReport>,
    pub machine: Machine,
    pub mem_total_bytes: Option<u64>,
    pub linkcast_version: String,
}

/// A finished child: exit status, stdout, stderr's tail and its peak RSS.
struct Finished {
    ok: bool,
    status: String,
    stdout: String,
    stderr: String,
    max_rss: u64,
}

/// Wait for `pid` and read its resource usage (peak RSS in bytes).
fn wait_rusage(pid: u32) -> std::io::Result<(bool, String, u64)> {
    let mut status = 0i32;
    // SAFETY: plain FFI call with valid out-pointers; `pid` is our own child, not yet reaped.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid as i32, &mut status, 0, &mut ru) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    let desc = if libc::WIFEXITED(status) {
        format!("exit code {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!("killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("status {status}")
    };
    // ru_maxrss is in KiB on Linux.
    Ok((ok, desc, ru.ru_maxrss.max(0) as u64 * 1024))
}

/// Run `cmd` (stdin given), capture stdout and stderr, reap it with its rusage.
fn run(mut cmd: Command, stdin: Stdio, what: &str) -> Result<Finished, ScaleError> {
    let mut child = cmd
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io(format!("starting {what}")))?;
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let mut stderr = String::new();
    let _ = err.read_to_string(&mut stderr);
    let stdout = reader.join().unwrap_or_default();
    let (ok, status, max_rss) = wait_rusage(child.id()).map_err(io(format!("waiting for {what}")))?;
    // Reaped by wait4: keep std from waiting on it again.
    std::mem::forget(child);
    let tail: String = {
        let lines: Vec<&str> = stderr.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    };
    Ok(Finished { ok, status, stdout, stderr: tail, max_rss })
}

fn parse_report(f: &Finished, stage: &'static str, events: u64) -> Result<Value, ScaleError> {
    if !f.ok {
        return Err(ScaleError::Stage { stage, events, status: f.status.clone(), stderr: f.stderr.clone() });
    }
    // The report is the last JSON object on stdout.
    let start = f.stdout.find('{').ok_or_else(|| ScaleError::Report {
        stage,
        events,
        why: format!("stdout was {:?}", f.stdout.chars().take(200).collect::<String>()),
    })?;
    serde_json::from_str(&f.stdout[start..]).map_err(|e| ScaleError::Report {
        stage,
        events,
        why: e.to_string(),
    })
}

fn num(v: &Value, path: &[&str]) -> Option<f64> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_f64()
}

/// Run every size; `on_size` sees each finished size (progress, partial results).
pub fn run_scale(
    exe: &Path,
    spec: &ScaleSpec,
    on_size: &mut dyn FnMut(&SizeReport),
) -> Result<ScaleReport, ScaleError> {
    if spec.sizes.is_empty() || spec.sizes.windows(2).any(|w| w[0] >= w[1]) {
        return Err(ScaleError::Invalid("sizes must be non-empty and strictly increasing".into()));
    }
    if spec.sizes[0] < 100 {
        return Err(ScaleError::Invalid("the smallest size is 100 events".into()));
    }
    std::fs::create_dir_all(&spec.work_dir).map_err(io(format!("creating {}", spec.work_dir.display())))?;
    let mut sizes = Vec::new();
    for &events in &spec.sizes {
        let r = run_size(exe, spec, events)?;
        on_size(&r);
        sizes.push(r);
    }
    Ok(ScaleReport {
        bench: "scale".into(),
        spec: spec.clone(),
        sizes,
        machine: Machine::current(),
        mem_total_bytes: crate::util::mem::mem_total_bytes(),
        linkcast_version: env!("CARGO_PKG_VERSION").into(),
    })
}

fn run_size(exe: &Path, spec: &ScaleSpec, events: u64) -> Result<SizeReport, ScaleError> {
    let nodes = spec.nodes(events);
    let dir = spec.work_dir.join(format!("g-{events}"));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(io(format!("removing the old {}", dir.display())))?;
    }
    // 1. generate | ingest.
    let t0 = Instant::now();
    let mut gen_cmd = Command::new(exe);
    gen_cmd.args(["-q", "generate", "-o", "-", "--format", "csv"]).args([
        "--events",
        &events.to_string(),
        "--nodes",
        &nodes.to_string(),
        "--seed",
        &spec.seed.to_string(),
        "--zipf",
        &spec.zipf.to_string(),
        "--features",
        &spec.features.to_string(),
    ]);
    let mut generator = gen_cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io("starting linkcast generate"))?;
    let pipe = generator.stdout.take().expect("piped");
    let mut ing = Command::new(exe);
    ing.args(["-q", "ingest", "-", "--json", "-o"]).arg(&dir);
    if let Some(m) = spec.memory_limit {
        ing.args(["--memory-limit", &m.to_string()]);
    }
    if spec.directed {
        ing.arg("--directed");
    }
    if spec.features > 0 {
        ing.args(["--features", &format!("f0..f{}", spec.features - 1)]);
    }
    let ingest = run(ing, Stdio::from(pipe), "linkcast ingest");
    let mut gen_err = String::new();
    if let Some(mut e) = generator.stderr.take() {
        let _ = e.read_to_string(&mut gen_err);
    }
    let (gen_ok, gen_status, _) = wait_rusage(generator.id()).map_err(io("waiting for linkcast generate"))?;
    std::mem::forget(generator);
    let ingest = ingest?;
    let ingest_seconds = t0.elapsed().as_secs_f64();
    if !gen_ok {
        return Err(ScaleError::Stage { stage: "generate", events, status: gen_status, stderr: gen_err });
    }
    let ingest_report = parse_report(&ingest, "ingest", events)?;
    let disk: DiskBytes = ingest_report
        .pointer("/ingest/memory/disk")
        .and_then(|d| serde_json::from_value(d.clone()).ok())
        .ok_or_else(|| ScaleError::Report { stage: "ingest", events, why: "no disk section".into() })?;

    // 2. sampling over the memory map.
    let mut s = Command::new(exe);
    s.args(["-q", "bench", "sample"]).arg(&dir).args([
        "--max-batches",
        &spec.sample_batches.to_string(),
        "--batch",
        &spec.sample_batch.to_string(),
        "--threads",
        &spec.threads.to_string(),
    ]);
    let t1 = Instant::now();
    let sample = run(s, Stdio::null(), "linkcast bench sample")?;
    let sample_seconds = t1.elapsed().as_secs_f64();
    let sample_report = parse_report(&sample, "sample", events)?;

    // 3. training and scoring.
    let mut skipped = Vec::new();
    let mut train = None;
    if !cfg!(feature = "torch") {
        skipped.push("train/score: built without the torch feature".into());
    } else if events > spec.train_max_events {
        skipped.push(format!("train/score: above --train-max-events {}", spec.train_max_events));
    } else {
        let mut c = Command::new(exe);
        c.args(["-q", "bench", "train"]).arg(&dir).args([
            "--batches",
            &spec.train_batches.to_string(),
            "--batch-size",
            &spec.train_batch.to_string(),
            "--score-pairs",
            &spec.score_pairs.to_string(),
            "--threads",
            &spec.threads.to_string(),
        ]);
        let t2 = Instant::now();
        let f = run(c, Stdio::null(), "linkcast bench train")?;
        let seconds = t2.elapsed().as_secs_f64();
        let report = parse_report(&f, "train", events)?;
        train = Some(StageReport { seconds, peak_rss_bytes: f.max_rss, report });
    }
    if !spec.keep {
        std::fs::remove_dir_all(&dir).map_err(io(format!("removing {}", dir.display())))?;
    }
    let ingest_rows_per_s = events as f64 / ingest_seconds.max(1e-9);
    Ok(SizeReport {
        events,
        nodes,
        graph_nodes: num(&ingest_report, &["ingest", "nodes"]).map(|v| v as u64),
        ingest_peak_rss_anon_bytes: num(&ingest_report, &["ingest", "memory", "peak_rss_anon"])
            .map(|v| v as u64),
        ingest: StageReport {
            seconds: ingest_seconds,
            peak_rss_bytes: ingest.max_rss,
            report: ingest_report,
        },
        ingest_rows_per_s,
        disk,
        sample_roots_per_s: num(&sample_report, &["roots_per_s"]).unwrap_or(f64::NAN),
        sample: StageReport {
            seconds: sample_seconds,
            peak_rss_bytes: sample.max_rss,
            report: sample_report,
        },
        train_events_per_s: train.as_ref().and_then(|t| num(&t.report, &["train_events_per_s"])),
        score_pairs_per_s: train.as_ref().and_then(|t| num(&t.report, &["score_pairs_per_s"])),
        train,
        skipped,
    })
}

/// Log-log curves: throughput per stage, and peak RSS / disk bytes, against events.
pub fn plot_scale(report: &ScaleReport, path: &Path) -> Result<(), ScaleError> {
    let series = |name: &str, f: &dyn Fn(&SizeReport) -> Option<f64>| Series {
        name: name.into(),
        points: report.sizes.iter().map(|s| (s.events as f64, f(s).unwrap_or(f64::NAN))).collect(),
    };
    let rates = Panel {
        title: "Throughput".into(),
        y_label: "per second".into(),
        series: vec![
            series("ingest rows/s (generate | ingest)", &|s| Some(s.ingest_rows_per_s)),
            series("sampling roots/s", &|s| Some(s.sample_roots_per_s)),
            series("TGN training events/s", &|s| s.train_events_per_s),
            series("scoring pairs/s", &|s| s.score_pairs_per_s),
        ],
    };
    let space = Panel {
        title: "Memory and disk".into(),
        y_label: "bytes".into(),
        series: vec![
            series("ingest peak RssAnon", &|s| s.ingest_peak_rss_anon_bytes.map(|b| b as f64)),
            series("sampling peak RSS", &|s| Some(s.sample.peak_rss_bytes as f64)),
            series("training peak RSS", &|s| s.train.as_ref().map(|t| t.peak_rss_bytes as f64)),
            series("bytes on disk", &|s| Some(s.disk.total as f64)),
        ],
    };
    let title = format!(
        "linkcast bench scale: {} cores, {:.0} GiB RAM",
        report.machine.cpus,
        report.mem_total_bytes.unwrap_or(0) as f64 / (1u64 << 30) as f64,
    );
    plot_loglog(path, &title, "events", &[rates, space])?;
    Ok(())
}

/// Join reports of separate runs (e.g. the largest size run alone with other
/// settings) into one, sizes in increasing order; the first report's spec and
/// machine stand for the whole (each size keeps its own stage reports).
pub fn merge_reports(paths: &[PathBuf]) -> Result<ScaleReport, ScaleError> {
    let mut merged: Option<ScaleReport> = None;
    for p in paths {
        let text = std::fs::read(p).map_err(io(format!("reading {}", p.display())))?;
        let r: ScaleReport = serde_json::from_slice(&text)
            .map_err(|e| ScaleError::Invalid(format!("{} is not a bench scale report: {e}", p.display())))?;
        match &mut merged {
            None => merged = Some(r),
            Some(m) => m.sizes.extend(r.sizes),
        }
    }
    let mut m = merged.ok_or_else(|| ScaleError::Invalid("no reports to merge".into()))?;
    m.sizes.sort_by_key(|s| s.events);
    if m.sizes.windows(2).any(|w| w[0].events == w[1].events) {
        return Err(ScaleError::Invalid("two reports measure the same size".into()));
    }
    Ok(m)
}

/// Write `value` as pretty JSON to `path`, atomically.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<(), ScaleError> {
    let text = serde_json::to_vec_pretty(value).expect("report serialises");
    crate::util::atomic::write_file(path, &text).map_err(io(format!("writing {}", path.display())))
}
