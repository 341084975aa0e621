//! `linkcast verify GRAPH_DIR [--json]`: recompute every array's checksum and check
//! the graph's contents (see `linkcast::store::verify`). Prints one line per file
//! and a summary (or the whole report as JSON); exits non-zero on any problem.

use std::path::PathBuf;

use anyhow::Context;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  linkcast verify runs/collegemsg\n  linkcast verify runs/collegemsg --json"
)]
pub struct Args {
    /// Graph directory written by `linkcast ingest`.
    pub graph_dir: PathBuf,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let dir = &a.graph_dir;
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
            anyhow::bail!("{}: contents are inconsistent: {}", dir.display(), report.structure.join("; "));
        }
        anyhow::bail!(
            "{}: {} file(s) failed verification: {}",
            dir.display(),
            failed.len(),
            failed.join(", ")
        );
    }
    Ok(())
}
