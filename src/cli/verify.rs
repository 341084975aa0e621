//! `linkcast verify DIR [--json] [--write-manifest]`: check a graph directory
//! (every array's checksum, then the graph's contents; `linkcast::store::verify`),
//! or a model directory or live state directory (every file against its
//! `manifest.xxh3`, then each file's contents; `linkcast::util::dir_check`; a model
//! directory's live state `DIR/live` too). Prints one line per file and a summary
//! (or the whole report as JSON); exits non-zero on any problem.
//! `--write-manifest` adds a manifest to a directory written before manifests,
//! after checking the contents it is about to vouch for.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use linkcast::util::dir_check::{DirReport, check_dir};
use linkcast::util::manifest::{self, LIVE_FILES, MANIFEST, MODEL_FILES};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  linkcast verify runs/collegemsg
  linkcast verify runs/collegemsg-tgn --json
  linkcast verify runs/old-model --write-manifest")]
pub struct Args {
    /// Graph directory (`linkcast ingest`), model directory (`linkcast train`) or
    /// live state directory (`ingest-events`, `serve`).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Add a manifest to a model or live state directory that has none (written
    /// before manifests); its files' contents are checked first.
    #[arg(long)]
    pub write_manifest: bool,
}

/// What a directory is, by the file that names its kind.
fn kind(dir: &Path) -> Option<&'static [&'static str]> {
    if dir.join("config.json").is_file() {
        Some(MODEL_FILES)
    } else if dir.join("live.json").is_file() {
        Some(LIVE_FILES)
    } else {
        None
    }
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let dir = &a.dir;
    if dir.join("meta.json").is_file() {
        if a.write_manifest {
            bail!(
                "{}: a graph directory keeps its checksums in meta.json; no manifest to write",
                dir.display()
            );
        }
        return graph(&a);
    }
    let Some(known) = kind(dir) else {
        bail!(
            "{}: not a graph, model or live state directory (no meta.json, config.json or live.json)",
            dir.display()
        );
    };
    // A model directory's live state is checked with it.
    let mut dirs = vec![(dir.clone(), known)];
    let live = dir.join("live");
    if known == MODEL_FILES && live.join("live.json").is_file() {
        dirs.push((live, LIVE_FILES));
    }
    let mut reports = Vec::new();
    for (d, known) in &dirs {
        reports.push(check_dir(d, known).with_context(|| format!("cannot verify {}", d.display()))?);
    }
    if a.write_manifest {
        return write_manifests(&reports, &dirs);
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        for r in &reports {
            print_report(r);
        }
    }
    let mut problems = Vec::new();
    for r in &reports {
        let failed: Vec<&str> = r.failed_files().map(|f| f.file.as_str()).collect();
        if !failed.is_empty() {
            problems.push(format!(
                "{}: {} file(s) failed: {}",
                r.dir.display(),
                failed.len(),
                failed.join(", ")
            ));
        }
        if !r.contents.is_empty() {
            problems.push(format!("{}: {}", r.dir.display(), r.contents.join("; ")));
        }
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("; "));
    }
    Ok(())
}

fn print_report(r: &DirReport) {
    if !r.manifest {
        println!(
            "WARN  {}: no {MANIFEST} (written before manifests; add one with --write-manifest)",
            r.dir.display()
        );
    }
    for f in &r.files {
        match (&f.error, r.manifest) {
            (None, true) => println!("OK    {}  ({} bytes, xxh3 {})", f.file, f.bytes, f.xxh3),
            (None, false) => println!("----  {}  ({} bytes, no checksum)", f.file, f.bytes),
            (Some(e), _) => println!("FAIL  {}  {e}", f.file),
        }
    }
    if r.contents.is_empty() {
        println!("OK    contents (JSON parses, safetensors headers tile their data)");
    }
    for p in &r.contents {
        println!("FAIL  contents: {p}");
    }
    for f in &r.unreferenced {
        println!("note  {f} is not listed in {MANIFEST}");
    }
    let failed = r.failed_files().count();
    println!(
        "{}: {} files, {} bytes, {} failed{}",
        r.dir.display(),
        r.files.len(),
        r.bytes,
        failed,
        if r.ok && r.manifest { "; all checksums and contents match" } else { "" }
    );
}

fn write_manifests(reports: &[DirReport], dirs: &[(PathBuf, &'static [&'static str])]) -> anyhow::Result<()> {
    for (r, (d, known)) in reports.iter().zip(dirs) {
        if r.manifest {
            if !r.ok {
                bail!(
                    "{}: has a {MANIFEST} and fails it; refusing to overwrite it (see `linkcast verify`)",
                    d.display()
                );
            }
            println!("{}: already has a {MANIFEST}, and every file matches", d.display());
            continue;
        }
        if !r.contents.is_empty() {
            bail!("{}: refusing to vouch for damaged files: {}", d.display(), r.contents.join("; "));
        }
        let m =
            manifest::seal_known(d, known).with_context(|| format!("writing {}/{MANIFEST}", d.display()))?;
        println!("{}: wrote {MANIFEST} over {} files", d.display(), m.entries.len());
    }
    Ok(())
}

fn graph(a: &Args) -> anyhow::Result<()> {
    let dir = &a.dir;
    let report = linkcast::store::verify(dir).with_context(|| format!("cannot verify {}", dir.display()))?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for f in &report.files {
            match &f.error {
                None => println!("OK    {}  ({} bytes, xxh3 {})", f.file, f.bytes, f.expected_xxh3),
                Some(e) => println!("FAIL  {}  {e}", f.file),
            }
        }
        if report.structure_checked {
            if report.structure.is_empty() {
                println!("OK    contents (times sorted, ids in range, adjacency matches events)");
            } else {
                for p in &report.structure {
                    println!("FAIL  contents: {p}");
                }
            }
        }
        for f in &report.unreferenced {
            println!("note  {f} is not referenced by meta.json (left over; safe to delete)");
        }
        let failed = report.failed_files().count();
        println!(
            "{}: {} files, {} bytes, {} failed{}",
            dir.display(),
            report.files.len(),
            report.bytes,
            failed,
            if report.ok { "; all checksums and contents match" } else { "" }
        );
    }
    if !report.ok {
        let failed: Vec<&str> = report.failed_files().map(|f| f.file.as_str()).collect();
        if failed.is_empty() {
            bail!("{}: contents are inconsistent: {}", dir.display(), report.structure.join("; "));
        }
        bail!("{}: {} file(s) failed verification: {}", dir.display(), failed.len(), failed.join(", "));
    }
    Ok(())
}
