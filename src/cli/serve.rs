//! `linkcast serve`: a model (or baseline) as a local HTTP server that scores,
//! recommends and ingests new events durably (write-ahead log + snapshots), and
//! `linkcast bench http`, the load generator to point at it. Routes, bodies and
//! error codes are documented in `linkcast::serve::http`.

use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use anyhow::{Context, bail};

use linkcast::serve::http::{self, App, Options};
use linkcast::serve::listen::{Limits, serve_limited};
use linkcast::serve::load::{self, Kind, LoadSpec};

use crate::cli::live::{LiveArgs, open_scorer};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  linkcast serve runs/collegemsg-tgn
  linkcast serve runs/collegemsg-tgn --addr 127.0.0.1:0 --snapshot-every 100
  linkcast serve popularity --data runs/collegemsg --state runs/pop-live
  curl -s localhost:7878/health
  curl -s -XPOST localhost:7878/events -d '[{\"src\":\"1\",\"dst\":\"2\",\"t\":1e9}]'
  curl -s -XPOST localhost:7878/score -d '[{\"src\":\"1\",\"dst\":\"2\",\"t\":2e9}]'
  curl -s 'localhost:7878/recommend?src=1&at=2e9&k=5&exclude_seen=true'

The first line on stdout is `listening on ADDR` (useful with port 0). Every batch
of POST /events is in the write-ahead log (fsynced) before it is acknowledged; on
start the snapshot in the state directory is loaded and the log replayed past it.
Ctrl-C or SIGTERM: finish requests in flight, snapshot, exit. A slow or idle
client cannot hold the server: request heads and whole requests have deadlines,
kept-alive connections an idle timeout, and connections over the cap get 503.")]
pub struct Args {
    #[command(flatten)]
    pub live: LiveArgs,
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:7878")]
    pub addr: String,
    /// Listen on a non-loopback address (there is no authentication).
    #[arg(long)]
    pub public: bool,
    /// Larger request bodies are refused with 413.
    #[arg(long, default_value_t = 16 << 20)]
    pub max_body_bytes: usize,
    /// Save a snapshot of the live state every N ingest batches (0: only at shutdown).
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub snapshot_every: u64,
    /// Write-ahead log directory [default: the state directory's path + ".wal"].
    #[arg(long, value_name = "DIR")]
    pub wal: Option<PathBuf>,
    /// Seconds a client has to send a request's line and headers (then the connection is closed).
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    pub header_timeout: f64,
    /// Seconds to answer a request, body upload included (then 408 and close).
    #[arg(long, default_value_t = 60.0, value_name = "SECS")]
    pub request_timeout: f64,
    /// Seconds a kept-alive connection may sit without a request before it is closed.
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    pub idle_timeout: f64,
    /// Open connections beyond this are answered 503 and closed.
    #[arg(long, default_value_t = 512, value_name = "N")]
    pub max_connections: usize,
    /// glibc malloc arenas (0: glibc's default, 8 per core); few arenas keep a long-running server's
    /// memory flat.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub malloc_arenas: i32,
    /// Largest request line plus headers, in bytes (larger: 431); at least 8192.
    #[arg(long, default_value_t = 16 << 10, value_name = "BYTES")]
    pub max_header_bytes: usize,
    /// Cap of the top-k cache, in MiB: candidate rows at the last query time that
    /// `/recommend` asked about, so later queries at that time decode instead of
    /// embedding every candidate (TGN family, GraphMixer; docs/SERVING.md). 0: off.
    #[arg(long, default_value_t = 1024, value_name = "MIB")]
    pub topk_cache_mb: u64,
}

fn seconds(flag: &str, v: f64) -> anyhow::Result<std::time::Duration> {
    if !(v.is_finite() && v > 0.0 && v < 1e9) {
        bail!("{flag} {v}: expected a positive number of seconds");
    }
    Ok(std::time::Duration::from_secs_f64(v))
}

fn resolve(addr: &str) -> anyhow::Result<SocketAddr> {
    addr.to_socket_addrs()
        .with_context(|| format!("--addr {addr}: not an address"))?
        .next()
        .with_context(|| format!("--addr {addr}: resolves to nothing"))
}

pub fn run(a: Args) -> anyhow::Result<()> {
    if a.malloc_arenas > 0 {
        linkcast::util::mem::limit_malloc_arenas(a.malloc_arenas);
    }
    let addr = resolve(&a.addr)?;
    let limits = Limits {
        header_timeout: seconds("--header-timeout", a.header_timeout)?,
        request_timeout: seconds("--request-timeout", a.request_timeout)?,
        idle_timeout: seconds("--idle-timeout", a.idle_timeout)?,
        max_connections: a.max_connections,
        max_header_bytes: a.max_header_bytes,
        ..Limits::default()
    };
    limits.validate().map_err(anyhow::Error::msg)?;
    if !addr.ip().is_loopback() && !a.public {
        bail!(
            "--addr {addr} is not a loopback address; the server has no authentication (add --public to allow it)"
        );
    }
    let state_dir = a.live.state_dir();
    let wal_dir = match (&a.wal, &state_dir) {
        (Some(w), _) => w.clone(),
        (None, Some(s)) => {
            let mut p = s.clone().into_os_string();
            p.push(".wal");
            PathBuf::from(p)
        }
        (None, None) => bail!("serving a baseline needs --state DIR (snapshots) or --wal DIR (the log)"),
    };
    // One writer per live state and log; a second server (or ingest-events) is
    // refused here, before any work. The locks are held until the process ends.
    let _locks = writer_locks(state_dir.as_deref(), Some(&wal_dir), "linkcast serve")?;
    let mut scorer = open_scorer(&a.live)?;
    scorer.set_topk_cache(a.topk_cache_mb << 20);
    let (wal, rec) = http::recover(&mut scorer, &wal_dir)
        .with_context(|| format!("recovering from the write-ahead log {}", wal_dir.display()))?;
    if !crate::cli::quiet() {
        eprintln!(
            "{}: snapshot through batch {}, replayed {} batches ({} events) from {}{}",
            scorer.name(),
            rec.snapshot_batches,
            rec.replayed_batches,
            rec.replayed_events,
            wal_dir.display(),
            if rec.truncated_tail_bytes > 0 {
                format!(", truncated a torn tail of {} bytes", rec.truncated_tail_bytes)
            } else {
                String::new()
            }
        );
    }
    // For crash tests only: widen the window between the WAL fsync and the reply.
    let pause_before_ack = std::env::var("LINKCAST_TEST_PAUSE_BEFORE_ACK_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map(std::time::Duration::from_millis);
    let opts = Options {
        max_body_bytes: a.max_body_bytes,
        snapshot_every: a.snapshot_every,
        state_dir,
        pause_before_ack,
    };
    let app = App::new(scorer, wal, opts);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting tokio")?;
    rt.block_on(async move {
        let listener =
            tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
        let local = listener.local_addr().context("bound address")?;
        let shutdown = http::shutdown_signal().context("installing the SIGTERM/Ctrl-C handlers")?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {local}").and_then(|_| out.flush()).context("stdout")?;
        drop(out);
        serve_limited(listener, app, limits, shutdown).await.context("serving")
    })
}

/// Exclusive locks on the live state directory (if any) and the write-ahead log.
pub fn writer_locks(
    state: Option<&std::path::Path>,
    wal: Option<&std::path::Path>,
    role: &str,
) -> anyhow::Result<Vec<linkcast::util::lock::Lock>> {
    use linkcast::util::lock::{Lock, beside};
    let mut locks = Vec::new();
    if let Some(s) = state {
        locks.push(Lock::exclusive(&beside(s), &format!("live state {}", s.display()), role)?);
    }
    if let Some(w) = wal {
        locks.push(Lock::exclusive(&beside(w), &format!("write-ahead log {}", w.display()), role)?);
    }
    Ok(locks)
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  linkcast bench http --addr 127.0.0.1:7878 --seconds 30 --connections 8
  linkcast bench http --mix score --queries 1000 --max-requests 2000
  linkcast bench http --mix score,recommend,events --batch 50

The run posts events (ids load-0, load-1, ...): point it at a scratch copy of a model.")]
pub struct LoadArgs {
    /// The server (loopback only).
    #[arg(long, default_value = "127.0.0.1:7878")]
    pub addr: String,
    /// Stop after this long.
    #[arg(long, default_value_t = 60.0)]
    pub seconds: f64,
    /// Concurrent keep-alive connections (one thread each).
    #[arg(long, default_value_t = 8)]
    pub connections: usize,
    /// Stop after this many requests in all.
    #[arg(long, default_value_t = 100_000)]
    pub max_requests: u64,
    /// Request kinds, drawn uniformly.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "score,recommend,events")]
    pub mix: Vec<Kind>,
    /// Node ids the generator introduces and queries.
    #[arg(long, default_value_t = 100)]
    pub nodes: usize,
    /// Pairs per /score request.
    #[arg(long, default_value_t = 100)]
    pub queries: usize,
    /// Events per /events request.
    #[arg(long, default_value_t = 10)]
    pub batch: usize,
    /// k of /recommend.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

pub fn run_load(a: LoadArgs) -> anyhow::Result<()> {
    if !(a.seconds > 0.0 && a.seconds.is_finite()) {
        bail!("--seconds must be a positive number");
    }
    let addr = load::loopback(&a.addr)?;
    let spec = LoadSpec {
        addr,
        seconds: a.seconds,
        connections: a.connections,
        max_requests: a.max_requests,
        mix: a.mix,
        nodes: a.nodes,
        queries: a.queries,
        batch: a.batch,
        k: a.k,
        seed: a.seed,
    };
    let report = load::run_load(&spec).with_context(|| format!("load on {addr}"))?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  linkcast serve popularity --data runs/collegemsg --state /tmp/pop --header-timeout 2 --idle-timeout 3 &
  linkcast bench abuse --addr 127.0.0.1:7878 --give-up 10

Loopback only. Posts one setup batch (ids abuse-0, abuse-1): point it at a scratch copy.
Prints JSON: per abuse class, each case's answers (status codes, or when the server
hung up) and a normal client's p50/p99 during the class beside its p50/p99 alone.")]
pub struct AbuseArgs {
    #[arg(long, default_value = "127.0.0.1:7878")]
    pub addr: String,
    /// Seconds of normal traffic alone, and at least this long per class.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Silent connections opened at once.
    #[arg(long, default_value_t = 300)]
    pub idle_connections: usize,
    /// Clients sending their headers a byte at a time.
    #[arg(long, default_value_t = 20)]
    pub slow_clients: usize,
    /// Seconds after which a connection the server has not closed counts as "still open".
    #[arg(long, default_value_t = 30.0)]
    pub give_up: f64,
    /// The server's --max-body-bytes.
    #[arg(long, default_value_t = 16 << 20)]
    pub max_body_bytes: usize,
}

pub fn run_abuse(a: AbuseArgs) -> anyhow::Result<()> {
    let spec = linkcast::serve::abuse::AbuseSpec {
        addr: load::loopback(&a.addr)?,
        baseline_seconds: seconds("--seconds", a.seconds)?.as_secs_f64(),
        idle_connections: a.idle_connections,
        slow_clients: a.slow_clients,
        give_up: seconds("--give-up", a.give_up)?,
        max_body_bytes: a.max_body_bytes,
    };
    let report =
        linkcast::serve::abuse::run_abuse(&spec).with_context(|| format!("abuse of {}", spec.addr))?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
