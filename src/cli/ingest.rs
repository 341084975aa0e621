//! `linkcast ingest FILE... -o GRAPH_DIR`: parse edge lists into a graph directory.
//!
//! Flags become an [`IngestOptions`] and an [`OutOfCoreOptions`];
//! [`linkcast::ingest::ingest_to_dir`] parses, validates, maps ids, sorts by time,
//! builds the adjacency and writes the directory atomically (it appears only when
//! complete, so a failed run leaves nothing behind), in memory while the input fits
//! `--memory-limit` and out of core (sorted runs, k-way merge, windowed adjacency)
//! otherwise or with `--external`. Then a summary on stdout: human text, or with
//! `--json` `{"ingest": IngestReport (with "memory"), "write": WriteReport}`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use linkcast::ingest::TimeOrder;
use linkcast::ingest::external::default_memory_limit;
use linkcast::ingest::{
    BadRowPolicy, ColumnRef, ExternalMode, FeatureSpec, Format, IngestOptions, IngestReport,
    OutOfCoreOptions, Progress, ingest_to_dir,
};
use linkcast::store::{WriteOptions, WriteReport, read_meta};

const EXAMPLES: &str = "\
Examples:
  # SNAP CollegeMsg: whitespace `src dst unixtime`, gzip (detected from the bytes)
  linkcast ingest datasets/collegemsg/CollegeMsg.txt.gz -o runs/collegemsg

  # SNAP Bitcoin OTC: `SRC,DST,RATING,TIME`, no header; the rating becomes a 1-dim edge feature
  linkcast ingest soc-sign-bitcoinotc.csv.gz -o runs/bitcoin --no-header --src 0 --dst 1 --time 3 --features 2

  # JODIE Wikipedia as `user item time`: users and pages are separate id spaces
  linkcast ingest ml_wikipedia.txt -o runs/wikipedia --bipartite

  # DGB Enron (`,u,i,ts,label,idx`, recognised from its header)
  linkcast ingest ml_enron.csv -o runs/enron

  # CSV with a header, columns by name, a feature range and a weight; keep going past bad rows
  linkcast ingest a.csv b.csv.gz -o runs/ab --src from --dst to --time ts --features f1..f8 --weight amount --on-bad-row skip

  # From a pipe
  linkcast generate -o - --nodes 1000 --events 50000 | linkcast ingest - -o runs/synthetic

  # Larger than RAM: stream the generator in, anonymous memory under 2 GiB, scratch on another disk
  linkcast generate -o - --nodes 1000000 --events 100000000 | linkcast ingest - -o runs/big --memory-limit 2G --tmp-dir /scratch

Memory: --memory-limit bounds anonymous memory (RssAnon; page cache and mapped files do not count):
`512M`, `2G`, `1.5GiB`, plain bytes, or `N%` of MemTotal (default 50%). The program itself takes about
180 MB of it. While the rows fit the limit the graph is built in RAM; past it, chunks are sorted and
written to disk as runs, merged, and the adjacency is built a node window at a time (--external
forces this). Scratch space: up to (16 + 4 x features) bytes per event for runs, 20 bytes per
adjacency entry for buckets, beside the output (or in --tmp-dir), deleted as it is consumed.

Time order: a log is written as things happen, so its time column runs forwards. Ingest counts
the adjacent rows where the time steps back; past 1% of them (the public datasets show 0, or 2 in
332,333 for email-Eu) the column is probably not a time (a rating or an id read as time). Ingest then
prints a WARNING naming a numeric column that does run forwards and the flag that selects it (e.g.
`--time 3`); the verdict is kept in meta.json, and `train` and `eval` refuse the file or the graph
directory unless --time named the column or --allow-unsorted-time accepts it. Rows are always sorted
stably by time, and the out-of-order count is reported.

Feature scaling: edge features (a --weight column included) and node features are stored as read.
`linkcast train` standardises each column with the mean and standard deviation of the training
period (node features: of the nodes active in it), three standard deviations mapping to +-1
(`--feature-sigmas`), saves the statistics with the model and applies them in eval, score,
recommend, ingest-events and serve; `train --feature-scaling none` turns it off.

Formats: auto (default) recognises Parquet and gzip by their magic bytes, JODIE and DGB by their
headers, then CSV (a comma in the first line), TSV (a tab) or whitespace SNAP. A header is assumed
when a column is named or the first line has no number in it. Column flags take a header name or a
0-based index; ranges (`3..7`, `f1..f9`, `4..`) include both ends.";

// The possible-values parsers list the choices in --help; the mapping cannot fail
// on a value they accepted, so the fallback default is never used.
fn format_parser() -> impl TypedValueParser<Value = Format> {
    PossibleValuesParser::new(Format::NAMES).map(|s| s.parse::<Format>().unwrap_or_default())
}

fn policy_parser() -> impl TypedValueParser<Value = BadRowPolicy> {
    PossibleValuesParser::new(["error", "skip"]).map(|s| s.parse::<BadRowPolicy>().unwrap_or_default())
}

fn parse_delimiter(s: &str) -> Result<u8, String> {
    match s {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        "space" | "whitespace" | " " => Ok(b' '),
        "comma" => Ok(b','),
        "semicolon" => Ok(b';'),
        "pipe" => Ok(b'|'),
        _ if s.len() == 1 && s.is_ascii() => Ok(s.as_bytes()[0]),
        _ => Err(format!("expected one ASCII character, `tab` or `space`, not {s:?}")),
    }
}

#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Edge-list files, read in this order (`-` = stdin); gzip is detected from the bytes.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Output graph directory (created atomically).
    #[arg(short = 'o', long = "output", value_name = "GRAPH_DIR")]
    pub output: PathBuf,
    #[command(flatten)]
    pub read: ReadFlags,
    /// Nodes per adjacency shard.
    #[arg(long, default_value_t = WriteOptions::default().shard_nodes, value_name = "N")]
    pub shard_nodes: u32,
    /// Replace GRAPH_DIR if it exists.
    #[arg(long)]
    pub force: bool,
    /// Print the ingest and write reports as JSON.
    #[arg(long)]
    pub json: bool,
    /// Bound on anonymous memory: `512M`, `2G`, `1.5GiB`, bytes, or `N%` of RAM [default: 50%].
    #[arg(long, value_name = "SIZE", value_parser = linkcast::util::mem::parse_size)]
    pub memory_limit: Option<u64>,
    /// Go out of core (sorted runs on disk) even if the input would fit in memory.
    #[arg(long)]
    pub external: bool,
    /// Directory for scratch files (runs, buckets) [default: beside the output].
    #[arg(long, value_name = "DIR")]
    pub tmp_dir: Option<PathBuf>,
}

/// The flags that decide what is parsed; shared with `linkcast bench ingest`.
#[derive(Debug, clap::Args)]
pub struct ReadFlags {
    /// Input format.
    #[arg(long, default_value = "auto", value_parser = format_parser())]
    pub format: Format,
    /// Source id column: header name or 0-based index [default: 0; `u` for DGB].
    #[arg(long, value_name = "COL")]
    pub src: Option<ColumnRef>,
    /// Destination id column [default: 1; `i` for DGB].
    #[arg(long, value_name = "COL")]
    pub dst: Option<ColumnRef>,
    /// Time column (integer or float, any unit) [default: 2; `ts` for DGB].
    #[arg(long, value_name = "COL")]
    pub time: Option<ColumnRef>,
    /// Edge-feature columns: `a,b,c`, `3..7`, `f1..f9`, `4..` or `none` [default: SNAP's extra
    /// columns, JODIE's columns after state_label, else none].
    #[arg(long, value_name = "COLS")]
    pub features: Option<FeatureSpec>,
    /// A weight column, stored as the last edge feature.
    #[arg(long, value_name = "COL")]
    pub weight: Option<ColumnRef>,
    /// The first row is data: no header detection.
    #[arg(long, conflicts_with = "header")]
    pub no_header: bool,
    /// The first non-comment row is a header.
    #[arg(long)]
    pub header: bool,
    /// Field delimiter: one character, `tab`, or `space` (runs of blanks).
    #[arg(long, value_name = "CHAR", value_parser = parse_delimiter)]
    pub delimiter: Option<u8>,
    /// Separate id spaces for sources and destinations (users/items); implied by JODIE.
    #[arg(long)]
    pub bipartite: bool,
    /// Store only the source's adjacency (default: both directions).
    #[arg(long)]
    pub directed: bool,
    /// Node features: `id,f1..fn` rows (CSV, TSV or whitespace; header optional).
    #[arg(long, value_name = "FILE")]
    pub node_features: Option<PathBuf>,
    /// What to do with a bad row: stop (`error`) or skip, count and report it (`skip`).
    #[arg(long, default_value = "error", value_name = "POLICY", value_parser = policy_parser())]
    pub on_bad_row: BadRowPolicy,
    /// Accept a time column that steps back in time at more than 1% of adjacent rows
    /// (by default `train` and `eval` refuse it unless --time names it).
    #[arg(long)]
    pub allow_unsorted_time: bool,
}

impl ReadFlags {
    pub fn options(&self) -> IngestOptions {
        IngestOptions {
            format: self.format,
            src: self.src.clone(),
            dst: self.dst.clone(),
            time: self.time.clone(),
            features: self.features.clone(),
            weight: self.weight.clone(),
            no_header: self.no_header,
            header: self.header,
            delimiter: self.delimiter,
            bipartite: self.bipartite,
            directed: self.directed,
            node_features: self.node_features.clone(),
            on_bad_row: self.on_bad_row,
            allow_unsorted_time: self.allow_unsorted_time,
        }
    }
}

/// The time-column verdict kept in a graph directory's meta.json.
pub fn graph_time_order(dir: &Path) -> anyhow::Result<Option<TimeOrder>> {
    let meta = read_meta(dir).with_context(|| format!("reading {}/meta.json", dir.display()))?;
    TimeOrder::of_provenance(&meta.provenance)
        .with_context(|| format!("{}/meta.json: the ingest report's time_order", dir.display()))
}

/// Refuse DATA whose time column is out of order (see `linkcast::ingest::time_order`).
pub fn check_time_order(path: &Path, order: Option<&TimeOrder>, allow: bool) -> anyhow::Result<()> {
    match order {
        Some(o) if o.refused(allow) => {
            anyhow::bail!("{}", o.refusal(&path.display().to_string(), path.is_dir()))
        }
        Some(o) if o.out_of_order && !crate::cli::quiet() => {
            eprintln!("note: {}: {}; used as the time, as asked", path.display(), o.problem());
            Ok(())
        }
        _ => Ok(()),
    }
}

/// A progress bar that appears only once a run has taken a second, on a terminal.
struct Bar {
    enabled: bool,
    start: Instant,
    bar: Option<ProgressBar>,
    file: usize,
}

impl Bar {
    fn update(&mut self, p: &Progress<'_>) {
        if !self.enabled || (self.bar.is_none() && self.start.elapsed() < Duration::from_secs(1)) {
            return;
        }
        let bar = self.bar.get_or_insert_with(|| {
            let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}) {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            b.set_style(style);
            b
        });
        if self.file != p.file || bar.length().is_none() {
            self.file = p.file;
            bar.set_length(p.size.unwrap_or(0));
        }
        bar.set_position(p.bytes);
        bar.set_message(format!("file {}/{} {}: {} rows", p.file + 1, p.files, p.path, p.rows));
    }

    fn clear(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

fn nonempty(dir: &Path) -> bool {
    match std::fs::read_dir(dir) {
        Ok(mut it) => it.next().is_some(),
        Err(_) => dir.exists(),
    }
}

pub fn run(a: Args) -> anyhow::Result<()> {
    if a.shard_nodes == 0 {
        anyhow::bail!("--shard-nodes must be at least 1");
    }
    // Fail before parsing, not after: the store checks again when it renames.
    if !a.force && nonempty(&a.output) {
        anyhow::bail!("{} already exists (pass --force to replace it)", a.output.display());
    }
    let opts = a.read.options();
    let ooc = OutOfCoreOptions {
        mode: if a.external { ExternalMode::Always } else { ExternalMode::Auto },
        tmp_dir: a.tmp_dir.clone(),
        ..OutOfCoreOptions::new(a.memory_limit.unwrap_or_else(default_memory_limit))
    };
    let wopts = WriteOptions { shard_nodes: a.shard_nodes, replace: a.force };
    let mut bar = Bar { enabled: crate::cli::show_progress(), start: Instant::now(), bar: None, file: 0 };
    let res = ingest_to_dir(&a.files, &opts, &ooc, &a.output, &wopts, &mut |p| bar.update(p));
    bar.clear();
    let (report, written) = res.with_context(|| format!("ingest into {} failed", a.output.display()))?;

    if a.json {
        if let Some(o) = report.time_order.as_ref().filter(|o| o.out_of_order && !o.confirmed)
            && !crate::cli::quiet()
        {
            eprintln!("warning: {}", o.problem());
        }
        let v = serde_json::json!({ "ingest": report, "write": written });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", summary(&report, &written, &a.output));
    }
    Ok(())
}

/// 1234567 -> "1,234,567".
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn summary(r: &IngestReport, w: &WriteReport, out: &Path) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    for f in &r.files {
        let _ = writeln!(
            s,
            "read {}: {}{}, {}; {} rows ({} kept, {} skipped); columns src={} dst={} time={}{}",
            f.path,
            f.format,
            if f.gzip { " (gzip)" } else { "" },
            if f.header { "header" } else { "no header" },
            thousands(f.rows_read),
            thousands(f.rows_kept),
            thousands(f.rows_skipped),
            f.columns.src,
            f.columns.dst,
            f.columns.time,
            if f.columns.features.is_empty() {
                String::new()
            } else {
                format!(" features={}", f.columns.features.join(","))
            },
        );
    }
    let nodes = match (r.n_src, r.n_dst) {
        (Some(a), Some(b)) => format!(
            "{} ({} sources + {} destinations)",
            thousands(r.nodes as u64),
            thousands(a as u64),
            thousands(b as u64)
        ),
        _ => thousands(r.nodes as u64),
    };
    let _ = writeln!(
        s,
        "events {}, nodes {}, edge features {}, ids {}{}",
        thousands(r.events),
        nodes,
        r.feature_dim,
        r.id_kind,
        if r.directed { ", directed" } else { "" }
    );
    if let (Some(lo), Some(hi)) = (r.time_min, r.time_max) {
        let _ = writeln!(s, "time {lo} .. {hi}");
    }
    let _ = writeln!(
        s,
        "out-of-order rows: {} (the fewest that had to move; time runs backwards at {} place(s)); \
         stable-sorted by time",
        thousands(r.out_of_order_rows),
        thousands(r.time_descents)
    );
    if let Some(o) = r.time_order.as_ref().filter(|o| o.out_of_order) {
        let what = if o.confirmed {
            "kept as the time, as --time or --allow-unsorted-time asked"
        } else {
            "train and eval refuse this graph unless it is ingested again with --time, or given \
             --allow-unsorted-time"
        };
        let _ = writeln!(s, "WARNING: {}. {what}", o.problem());
    }
    if r.rows_skipped > 0 {
        let _ =
            writeln!(s, "skipped rows: {}; first {}:", thousands(r.rows_skipped), r.skipped_examples.len());
        for e in &r.skipped_examples {
            let _ = writeln!(s, "  {e}");
        }
    }
    if let Some(nf) = &r.node_features {
        let _ = writeln!(
            s,
            "node features: {} dims from {} ({} rows, {} skipped); {} nodes without a row (zeros)",
            nf.dim,
            nf.path,
            thousands(nf.rows_kept),
            thousands(nf.rows_skipped),
            thousands(nf.nodes_without_row as u64)
        );
    }
    let total = r.total_seconds + w.build_seconds + w.write_seconds;
    let _ = writeln!(
        s,
        "parse {:.3} s, sort {:.3} s, build {:.3} s, write {:.3} s; {} rows/s parsing, {} rows/s end to end",
        r.parse_seconds,
        r.sort_seconds,
        w.build_seconds,
        w.write_seconds,
        thousands(r.rows_per_second as u64),
        thousands(if total > 0.0 { (r.rows_read as f64 / total) as u64 } else { 0 }),
    );
    let _ =
        writeln!(s, "wrote {}: {} shard(s), {:.1} MB", out.display(), w.shards, w.bytes_on_disk as f64 / 1e6);
    if let Some(m) = &r.memory {
        let mb = |b: u64| b as f64 / 1e6;
        let _ = writeln!(
            s,
            "memory: {}, peak RssAnon {:.1} MB of a {:.1} MB limit (program {:.1} MB, id map ~{:.1} MB for {} nodes)",
            m.mode,
            mb(m.peak_rss_anon),
            mb(m.memory_limit),
            mb(m.base_rss_anon),
            mb(m.id_map_bytes),
            thousands(r.nodes as u64),
        );
        if m.mode == "external" {
            let _ = writeln!(
                s,
                "out of core: {} run(s) of up to {} rows, {} merge pass(es); {} adjacency window(s) ({} hub), \
                 {} bucket pass(es)",
                m.runs,
                thousands(m.run_rows),
                m.merge_passes,
                m.windows,
                m.hub_windows,
                m.partition_passes
            );
        }
        let d = &m.disk;
        let _ = writeln!(
            s,
            "disk: log {:.1} MB, features {:.1} MB, adjacency {:.1} MB, ids {:.1} MB, node features {:.1} MB; \
             {:.1} B/event",
            mb(d.log),
            mb(d.features),
            mb(d.adjacency),
            mb(d.ids),
            mb(d.node_features),
            d.bytes_per_event
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(parse_delimiter("tab"), Ok(b'\t'));
        assert_eq!(parse_delimiter(";"), Ok(b';'));
        assert!(parse_delimiter("ab").is_err());
    }
}
