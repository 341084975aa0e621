//! What `score`, `recommend`, `ingest-events` and `serve` share: the flags that name
//! a model directory (or a baseline over a graph) and open it as a live
//! [`linkcast::serve::Scorer`], with the saved live state (default `MODEL_DIR/live`).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use linkcast::eval::baselines::{BaselineConfig, BaselineKind, BaselineName, make_baseline};
use linkcast::eval::scorer::StreamScorer;
use linkcast::serve::{Scorer, Unknown};
use linkcast::train::trainer::CheckpointConfig;

use crate::cli::ingest::ReadFlags;

#[derive(Debug, clap::Args)]
pub struct LiveArgs {
    /// A model directory written by `linkcast train`, or a baseline name with --data
    /// (as in `linkcast eval --baseline`, e.g. recency, lr-gp, edgebank-undirected).
    pub target: String,
    /// Graph directory or edge-list file [default: the one the model was trained on].
    #[arg(long, value_name = "PATH")]
    pub data: Option<PathBuf>,
    /// Live state directory (events ingested after training, model memory)
    /// [default: MODEL_DIR/live; for a baseline: none].
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Unknown node ids in queries: refuse (error) or score with fresh state (cold).
    #[arg(long, value_enum, default_value = "error")]
    pub unknown: Unknown,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Threads for libtorch and rayon [default: all cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Baselines: time window (edgebank-tw, common-neighbours, adamic-adar).
    #[arg(long)]
    pub window: Option<f64>,
    /// Baselines: half-life of the popularity keys (popularity, local-popularity, lr-gp, ...).
    #[arg(long)]
    pub half_life: Option<f64>,
}

impl LiveArgs {
    /// The state directory in use, if any.
    pub fn state_dir(&self) -> Option<PathBuf> {
        match &self.state {
            Some(p) => Some(p.clone()),
            None => {
                let p = Path::new(&self.target);
                p.is_dir().then(|| p.join("live"))
            }
        }
    }
}

/// Read flags with every default, for reopening training data given as a file.
fn default_read_flags(bipartite: bool) -> ReadFlags {
    #[derive(clap::Parser)]
    struct Wrap {
        #[command(flatten)]
        read: ReadFlags,
    }
    let mut r = <Wrap as clap::Parser>::parse_from(["linkcast"]).read;
    r.bipartite |= bipartite;
    r
}

/// The target of `a` (model or baseline), its graph and the graph's ids, before any
/// live state: what a replay (`bench recall`) drives directly.
pub type Parts = (Box<dyn StreamScorer>, Box<dyn linkcast::store::TemporalStore>, linkcast::store::IdMap);

/// Open the target and its graph, restore the live state, and return the scorer.
pub fn open_scorer(a: &LiveArgs) -> anyhow::Result<Scorer> {
    let (target, store, ids) = open_parts(a)?;
    let state = a.state_dir();
    let scorer =
        Scorer::open(target, store, ids, a.unknown, state.as_deref()).with_context(|| match &state {
            Some(s) => format!("restoring the live state {}", s.display()),
            None => "replaying the graph".to_string(),
        })?;
    tracing::info!(
        "{}: {} events ({} live batches), {} nodes, watermark {:?}",
        scorer.name(),
        scorer.num_events(),
        scorer.batches(),
        scorer.num_nodes(),
        scorer.watermark_time()
    );
    Ok(scorer)
}

/// The target, its graph and ids (see [`Parts`]).
pub fn open_parts(a: &LiveArgs) -> anyhow::Result<Parts> {
    linkcast::util::mem::keep_freed_memory();
    crate::cli::train::set_threads(a.threads);
    let model_dir = Path::new(&a.target);
    let config: Option<CheckpointConfig> = if model_dir.is_dir() {
        let dir = linkcast::train::checkpoint::locate(model_dir)
            .with_context(|| format!("{}: not a model directory", model_dir.display()))?;
        Some(
            linkcast::train::checkpoint::read_json(&dir, "config.json")
                .with_context(|| format!("reading {}/config.json", dir.display()))?,
        )
    } else {
        None
    };
    let data_path = match (&a.data, &config) {
        (Some(p), _) => p.clone(),
        (None, Some(c)) => {
            c.data.get("path").and_then(|p| p.as_str()).map(PathBuf::from).with_context(|| {
                format!("{}/config.json names no training data; give --data", model_dir.display())
            })?
        }
        (None, None) => bail!("a baseline needs --data GRAPH"),
    };
    let bipartite =
        config.as_ref().and_then(|c| c.data.get("bipartite")).and_then(|b| b.as_bool()).unwrap_or(false);
    let (store, ids) = crate::cli::data::open_owned(&data_path, &default_read_flags(bipartite))
        .with_context(|| format!("opening the graph {}", data_path.display()))?;
    if store.num_events() == 0 {
        bail!("{}: the graph has no events", data_path.display());
    }
    let target: Box<dyn StreamScorer> = if config.is_some() {
        let device = linkcast::model::parse_device(&a.device)?;
        let scorer = linkcast::train::scorer::ModelScorer::open(model_dir, device)
            .with_context(|| format!("loading model {}", model_dir.display()))?;
        scorer
            .check_store(store.as_ref())
            .with_context(|| format!("model {} on {}", model_dir.display(), data_path.display()))?;
        Box::new(scorer)
    } else {
        let name: BaselineName = a
            .target
            .parse()
            .with_context(|| format!("{}: neither a model directory nor a baseline name", a.target))?;
        if name.kind == BaselineKind::EdgeBankTw && a.window.is_none() {
            bail!("edgebank-tw needs --window when serving (no validation period to derive it from)");
        }
        make_baseline(&BaselineConfig {
            window: a.window,
            half_life: a.half_life,
            ..BaselineConfig::named(name)
        })?
    };
    Ok((target, store, ids))
}

/// Parse a time given on the command line (`--at`).
pub fn parse_time(s: &str) -> anyhow::Result<f64> {
    let t: f64 = s.trim().parse().with_context(|| format!("--at {s:?}: not a number"))?;
    if !t.is_finite() {
        bail!("--at {s:?}: not a finite time");
    }
    Ok(t)
}

/// How a file-driven command names its rows in errors: `score` ("query",
/// "queries", "score", "scoring") or `recommend --sources`.
pub struct Rows {
    pub one: &'static str,
    pub many: &'static str,
    pub verb: &'static str,
    pub doing: &'static str,
}

/// A serving error for row `index` of the chunk starting at row `offset` of `path`
/// (one row per line after the header), worded for the CLI: a time before the
/// watermark names the row and its line; other client errors name the chunk.
pub fn file_error(
    e: linkcast::serve::ServeError,
    path: &std::path::Path,
    offset: usize,
    rows: &Rows,
) -> anyhow::Error {
    match e {
        linkcast::serve::ServeError::TooOld { index, t, watermark } => anyhow::anyhow!(
            "{}: {} {} (line {}): time {t} is not later than the model's watermark {watermark}; \
             a model can only {} the future of what it absorbed",
            path.display(),
            rows.one,
            offset + index + 1,
            offset + index + 2,
            rows.verb
        ),
        e if e.is_client_error() => {
            anyhow::Error::new(e).context(format!("{}: {} {}..", path.display(), rows.many, offset + 1))
        }
        e => anyhow::Error::new(e).context(rows.doing),
    }
}
