//! `linkcast ingest-events`: bring a model's live state up to date with new events
//! (any file `linkcast ingest` reads), in batches with the training semantics, and
//! save it atomically (default `MODEL_DIR/live`).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::json;

use linkcast::ingest::ingest_files;
use linkcast::serve::LiveEvent;

use crate::cli::ingest::ReadFlags;
use crate::cli::live::{LiveArgs, open_scorer};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  linkcast ingest-events runs/collegemsg-tgn new-events.csv\n  \
    linkcast ingest-events runs/wikipedia-tgn more.csv --bipartite --batch-size 200")]
pub struct Args {
    #[command(flatten)]
    pub live: LiveArgs,
    /// New events: any file `linkcast ingest` reads, none older than the model's watermark.
    pub file: PathBuf,
    #[command(flatten)]
    pub read: ReadFlags,
    /// Events per batch (a batch ends only where the timestamp changes) [default: the
    /// model's training batch size, or 200].
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let Some(state) = a.live.state_dir() else {
        bail!("{}: a baseline keeps its live state only with --state DIR", a.live.target);
    };
    // One writer per live state: a server or another ingest-events on it is refused.
    let _lock = crate::cli::serve::writer_locks(Some(&state), None, "linkcast ingest-events")?;
    let ingested = ingest_files(std::slice::from_ref(&a.file), &a.read.options())
        .with_context(|| format!("reading {}", a.file.display()))?;
    let ev = &ingested.data.events;
    let ids = &ingested.data.ids;
    let d = ev.feat_dim;
    let events: Vec<LiveEvent> = (0..ev.src.len())
        .map(|i| LiveEvent {
            src: ids.external(ev.src[i]),
            dst: ids.external(ev.dst[i]),
            t: ev.t[i],
            feat: ev.feats[i * d..(i + 1) * d].to_vec(),
        })
        .collect();
    let mut scorer = open_scorer(&a.live)?;
    let batch_size = match a.batch_size {
        Some(b) => b.max(1),
        None => model_batch_size(&a.live.target).unwrap_or(200),
    };
    let started = Instant::now();
    let (events_before, nodes_before) = (scorer.num_events(), scorer.num_nodes());
    let bar = crate::cli::bar(events.len() as u64, "ingesting");
    let mut lo = 0;
    let mut batches = 0;
    while lo < events.len() {
        let mut hi = (lo + batch_size).min(events.len());
        while hi < events.len() && events[hi].t == events[hi - 1].t {
            hi += 1;
        }
        scorer.ingest(&events[lo..hi]).map_err(|e| {
            let detail = match &e {
                linkcast::serve::ServeError::TooOld { index, .. }
                | linkcast::serve::ServeError::Invalid { index, .. }
                | linkcast::serve::ServeError::OutOfOrder { index, .. } => {
                    let x = &events[lo + index];
                    format!("{}: event {} -> {} at {}", a.file.display(), x.src, x.dst, x.t)
                }
                _ => format!("{}: ingesting events {}..{}", a.file.display(), lo, hi),
            };
            anyhow::Error::new(e).context(detail)
        })?;
        batches += 1;
        bar.inc((hi - lo) as u64);
        lo = hi;
    }
    bar.finish_and_clear();
    scorer.save_state(&state).with_context(|| format!("saving the live state {}", state.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    let summary = json!({
        "target": scorer.name(), "events": events.len(), "batches": batches,
        "new_nodes": scorer.num_nodes() - nodes_before, "events_total": scorer.num_events(),
        "events_before": events_before, "watermark_time": scorer.watermark_time(),
        "seconds": seconds, "events_per_s": events.len() as f64 / seconds.max(1e-9), "state": state,
    });
    if a.json {
        println!("{summary}");
    } else if !crate::cli::quiet() {
        eprintln!(
            "absorbed {} events in {} batches ({} new nodes) in {:.2} s ({:.0} events/s); watermark {:?}; saved {}",
            events.len(),
            batches,
            scorer.num_nodes() - nodes_before,
            seconds,
            events.len() as f64 / seconds.max(1e-9),
            scorer.watermark_time(),
            state.display()
        );
    }
    Ok(())
}

pub(crate) fn model_batch_size(target: &str) -> Option<usize> {
    let dir = linkcast::train::checkpoint::locate(std::path::Path::new(target)).ok()?;
    let c: linkcast::train::trainer::CheckpointConfig =
        linkcast::train::checkpoint::read_json(&dir, "config.json").ok()?;
    Some(c.train.batch_size)
}
