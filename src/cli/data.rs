//! DATA arguments shared by `train`, `eval` and `score`: a graph directory written by
//! `linkcast ingest` (memory-mapped), or any edge-list file `ingest` accepts (parsed
//! into memory with the same flags). `train` and `eval` refuse data whose time
//! column runs backwards at many rows unless the user confirms it
//! ([`linkcast::ingest::time_order`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use linkcast::ingest::{TimeOrder, ingest_files};
use linkcast::store::{IdMap, MemStore, MmapStore, TemporalStore, read_ids};

use crate::cli::ingest::ReadFlags;

pub struct Data {
    pub store: Arc<dyn TemporalStore>,
    pub ids: IdMap,
    pub path: PathBuf,
    /// "graph directory" or "edge-list file".
    pub kind: &'static str,
}

/// An opened DATA argument and the verdict on its time column (`None`: not known,
/// a graph directory not written by `linkcast ingest`).
type Opened = (Box<dyn TemporalStore>, IdMap, Option<TimeOrder>);

fn open_any(path: &Path, read: &ReadFlags) -> anyhow::Result<Opened> {
    if path.is_dir() {
        let store =
            MmapStore::open(path).with_context(|| format!("opening graph directory {}", path.display()))?;
        let ids = read_ids(path).with_context(|| format!("reading the id map of {}", path.display()))?;
        let order = crate::cli::ingest::graph_time_order(path)?;
        return Ok((Box::new(store), ids, order));
    }
    if !path.exists() {
        anyhow::bail!("{}: no such file or graph directory", path.display());
    }
    let ingested = ingest_files(&[path.to_path_buf()], &read.options())
        .with_context(|| format!("reading {}", path.display()))?;
    let store =
        MemStore::from_data(&ingested.data).with_context(|| format!("indexing {}", path.display()))?;
    Ok((Box::new(store), ingested.data.ids, ingested.report.time_order))
}

/// Open DATA as an owned, appendable store plus its id map (for live serving: the
/// data a model was trained on, so its time column was judged then).
pub fn open_owned(path: &Path, read: &ReadFlags) -> anyhow::Result<(Box<dyn TemporalStore>, IdMap)> {
    let (store, ids, _) = open_any(path, read)?;
    Ok((store, ids))
}

/// Open DATA for training, refusing a time column that runs backwards at many rows
/// unless `--time` named it or `--allow-unsorted-time` accepts it.
pub fn open(path: &Path, read: &ReadFlags) -> anyhow::Result<Data> {
    let (store, ids, order) = open_any(path, read)?;
    crate::cli::ingest::check_time_order(path, order.as_ref(), read.allow_unsorted_time)?;
    let kind = if path.is_dir() { "graph directory" } else { "edge-list file" };
    Ok(Data { store: Arc::from(store), ids, path: path.to_path_buf(), kind })
}

impl Data {
    /// One external id per line; line `i` (0-based) names dense node `i`.
    pub fn ids_tsv(&self) -> String {
        let n = self.store.num_nodes() as usize;
        let mut s = String::with_capacity(n * 8);
        for i in 0..n {
            if i < self.ids.num_nodes() as usize {
                s.push_str(&self.ids.external(i as u32));
            }
            s.push('\n');
        }
        s
    }
}
