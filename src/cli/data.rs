//! DATA arguments shared by `train`, `eval` and `score`: a graph directory written by
//! `linkcast ingest` (memory-mapped), or any edge-list file `ingest` accepts (parsed
//! into memory with the same flags).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use linkcast::ingest::ingest_files;
use linkcast::store::{IdMap, MemStore, MmapStore, TemporalStore, read_ids};

use crate::cli::ingest::ReadFlags;

pub struct Data {
    pub store: Arc<dyn TemporalStore>,
    pub ids: IdMap,
    pub path: PathBuf,
    /// "graph directory" or "edge-list file".
    pub kind: &'static str,
}

/// Open DATA as an owned, appendable store plus its id map (for live serving).
pub fn open_owned(path: &Path, read: &ReadFlags) -> anyhow::Result<(Box<dyn TemporalStore>, IdMap)> {
    if path.is_dir() {
        let store =
            MmapStore::open(path).with_context(|| format!("opening graph directory {}", path.display()))?;
        let ids = read_ids(path).with_context(|| format!("reading the id map of {}", path.display()))?;
        return Ok((Box::new(store), ids));
    }
    if !path.exists() {
        anyhow::bail!("{}: no such file or graph directory", path.display());
    }
    let ingested = ingest_files(&[path.to_path_buf()], &read.options())
        .with_context(|| format!("reading {}", path.display()))?;
    let store =
        MemStore::from_data(&ingested.data).with_context(|| format!("indexing {}", path.display()))?;
    Ok((Box::new(store), ingested.data.ids))
}

pub fn open(path: &Path, read: &ReadFlags) -> anyhow::Result<Data> {
    let (store, ids) = open_owned(path, read)?;
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
