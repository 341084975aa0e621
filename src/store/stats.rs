//! Graph statistics (`linkcast stats`): sizes, time span, pairs, degrees,
//! weakly connected components and the "surprise" index of the default split.
//!
//! Input: any [`TemporalStore`] (read through `event_segments()`, so a
//! memory-mapped graph is streamed, not copied), optionally restricted to a time
//! window. Time convention: the window is half-open, `[from, to)`; every figure
//! except `nodes` (and the bipartite sizes) is computed over the events in it.
//!
//! Definitions:
//! - degree of a node = in-degree + out-degree counted in events (a self-loop
//!   adds 2); the distribution is over nodes with at least one event (the rest
//!   are `isolated_nodes`); quantiles are nearest-rank (`sorted[ceil(p n) - 1]`).
//! - a repeated event is one whose `(src, dst)` pair occurred at an earlier
//!   event id, so `repeated_events = events - distinct_pairs`; both are given
//!   for directed pairs and for undirected ones (`{u, v}`).
//! - components are weakly connected (edge direction ignored), over the nodes
//!   with an event in the window, found with petgraph's union-find;
//!   [`window_graph`] builds the same view as a petgraph `UnGraph`.
//! - surprise (Poursafaei et al., NeurIPS 2022) of the split (default 70/15/15
//!   by timestamp quantile, never cutting a tie group): the fraction of test
//!   events whose pair never occurs in training, and the same over distinct
//!   test pairs; each for directed pairs and for undirected ones.
//!
//! Memory: 8 bytes per event for the pair keys (sorted in parallel) plus 12 per
//! node, so it runs on graphs far larger than the machine's RAM would allow a
//! hash set of pairs.

use std::fmt;

use petgraph::graph::{NodeIndex, UnGraph};
use petgraph::unionfind::UnionFind;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::store::split::{Split, SplitError, SplitSpec};
use crate::store::{EventCols, NodeId, TemporalStore, Time};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    #[error("time window must satisfy from < to (half-open [from, to)); got [{from}, {to})")]
    BadWindow { from: Time, to: Time },
    #[error("time window bounds must not be NaN")]
    NanWindow,
    #[error(transparent)]
    Split(#[from] SplitError),
}

/// Half-open time window `[from, to)`; a missing bound is unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub from: Option<Time>,
    pub to: Option<Time>,
}

impl Window {
    pub fn is_all(&self) -> bool {
        self.from.is_none() && self.to.is_none()
    }

    fn validate(&self) -> Result<(), StatsError> {
        if self.from.is_some_and(f64::is_nan) || self.to.is_some_and(f64::is_nan) {
            return Err(StatsError::NanWindow);
        }
        if let (Some(from), Some(to)) = (self.from, self.to)
            && from >= to
        {
            return Err(StatsError::BadWindow { from, to });
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatsOptions {
    pub split: SplitSpec,
    pub window: Window,
    /// Sources are dense ids `0..n_src` in a bipartite graph (from meta.json).
    pub n_src: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeSpan {
    pub min: Time,
    pub max: Time,
    pub span: Time,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bipartite {
    pub n_src: u32,
    pub n_dst: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairStats {
    pub distinct_pairs: u64,
    /// Events whose pair occurred at an earlier event.
    pub repeated_events: u64,
}

/// Total degree (in + out, in events) over nodes with at least one event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DegreeStats {
    pub min: u64,
    pub median: u64,
    pub p99: u64,
    pub max: u64,
    pub mean: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentStats {
    /// Weakly connected components among nodes with an event.
    pub count: u64,
    /// Nodes in the largest one.
    pub largest: u64,
    /// `largest` / nodes with an event.
    pub largest_fraction: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Surprise {
    /// Fraction of test events whose pair is not in training (`None`: no test events).
    pub events: Option<f64>,
    /// Fraction of distinct test pairs not in training.
    pub pairs: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitStats {
    pub spec: SplitSpec,
    pub train_events: u64,
    pub val_events: u64,
    pub test_events: u64,
    pub val_start: Option<Time>,
    pub test_start: Option<Time>,
    pub surprise_directed: Surprise,
    pub surprise_undirected: Surprise,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphStats {
    pub window: Window,
    /// All nodes of the graph (dense ids), whatever the window.
    pub nodes: u32,
    /// Nodes with at least one event (in the window).
    pub active_nodes: u64,
    pub isolated_nodes: u64,
    pub events: u64,
    pub distinct_timestamps: u64,
    pub time: Option<TimeSpan>,
    pub feat_dim: usize,
    pub node_feat_dim: usize,
    /// Adjacency stored for the source only (`--directed` at ingest).
    pub directed_storage: bool,
    pub bipartite: Option<Bipartite>,
    pub self_loops: u64,
    pub pairs_directed: PairStats,
    pub pairs_undirected: PairStats,
    /// `None` when there are no events.
    pub degree: Option<DegreeStats>,
    pub components: ComponentStats,
    pub split: SplitStats,
}

/// `(src, dst)` as one sortable key.
fn key(s: NodeId, d: NodeId) -> u64 {
    (u64::from(s) << 32) | u64::from(d)
}

/// The undirected key of a directed one: `{u, v}` with the smaller id first.
fn undirected(k: u64) -> u64 {
    let (s, d) = ((k >> 32) as u32, k as u32);
    key(s.min(d), s.max(d))
}

/// Restrict consecutive segments to the events with time in `w` (a prefix of a
/// sorted column per bound, so per-segment partition points add up).
fn window_segments<'a>(segs: &[EventCols<'a>], w: &Window) -> Vec<EventCols<'a>> {
    segs.iter()
        .filter_map(|s| {
            let lo = w.from.map_or(0, |f| s.t.partition_point(|&x| x < f));
            let hi = w.to.map_or(s.t.len(), |to| s.t.partition_point(|&x| x < to)).max(lo);
            let d = s.feats.len().checked_div(s.t.len()).unwrap_or(0);
            (lo < hi).then(|| EventCols {
                first: s.first + lo as u32,
                src: &s.src[lo..hi],
                dst: &s.dst[lo..hi],
                t: &s.t[lo..hi],
                feats: &s.feats[lo * d..hi * d],
            })
        })
        .collect()
}

/// Nearest-rank quantile of a sorted, non-empty slice.
fn quantile(sorted: &[u64], p: f64) -> u64 {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Sort and deduplicate in place; returns the number of distinct keys.
fn sort_dedup(v: &mut Vec<u64>) -> u64 {
    v.par_sort_unstable();
    v.dedup();
    v.len() as u64
}

fn surprise(test: &[u64], train_sorted: &[u64]) -> Surprise {
    if test.is_empty() {
        return Surprise { events: None, pairs: None };
    }
    let unseen = |k: &u64| train_sorted.binary_search(k).is_err();
    let events = test.par_iter().filter(|k| unseen(k)).count() as f64 / test.len() as f64;
    let mut distinct = test.to_vec();
    sort_dedup(&mut distinct);
    let pairs = distinct.par_iter().filter(|k| unseen(k)).count() as f64 / distinct.len() as f64;
    Surprise { events: Some(events), pairs: Some(pairs) }
}

/// Compute every statistic of `store` (see the module docs for definitions).
pub fn compute_stats<S: TemporalStore + ?Sized>(
    store: &S,
    opts: &StatsOptions,
) -> Result<GraphStats, StatsError> {
    opts.window.validate()?;
    let all = store.event_segments();
    let segs = window_segments(&all, &opts.window);
    let num_nodes = store.num_nodes();
    let n: usize = segs.iter().map(|s| s.t.len()).sum();

    // One pass: self-loops, distinct timestamps, degrees, pair keys in event order.
    let mut self_loops = 0u64;
    let mut distinct_timestamps = 0u64;
    let mut prev_t: Option<Time> = None;
    let mut degree = vec![0u64; num_nodes as usize];
    let mut keys: Vec<u64> = Vec::with_capacity(n);
    for s in &segs {
        for i in 0..s.t.len() {
            let (u, v, t) = (s.src[i], s.dst[i], s.t[i]);
            self_loops += u64::from(u == v);
            if prev_t != Some(t) {
                distinct_timestamps += 1;
                prev_t = Some(t);
            }
            degree[u as usize] += 1;
            degree[v as usize] += 1;
            keys.push(key(u, v));
        }
    }
    let time = match (segs.first(), segs.last()) {
        (Some(a), Some(b)) => {
            let (min, max) = (a.t[0], b.t[b.t.len() - 1]);
            Some(TimeSpan { min, max, span: max - min })
        }
        _ => None,
    };

    // Components over the window's events (union-find: O(nodes) memory).
    let mut uf = UnionFind::<u32>::new(num_nodes as usize);
    for s in &segs {
        for (&u, &v) in s.src.iter().zip(s.dst) {
            uf.union(u, v);
        }
    }
    let labels = uf.into_labeling();
    let mut size = vec![0u64; num_nodes as usize];
    for (node, &root) in labels.iter().enumerate() {
        if degree[node] > 0 {
            size[root as usize] += 1;
        }
    }
    drop(labels);
    let active_nodes = degree.iter().filter(|&&d| d > 0).count() as u64;
    let components = ComponentStats {
        count: size.iter().filter(|&&c| c > 0).count() as u64,
        largest: size.iter().copied().max().unwrap_or(0),
        largest_fraction: if active_nodes == 0 {
            0.0
        } else {
            size.iter().copied().max().unwrap_or(0) as f64 / active_nodes as f64
        },
    };
    drop(size);

    let mut active: Vec<u64> = degree.into_iter().filter(|&d| d > 0).collect();
    active.par_sort_unstable();
    let degree = (!active.is_empty()).then(|| DegreeStats {
        min: active[0],
        median: quantile(&active, 0.5),
        p99: quantile(&active, 0.99),
        max: active[active.len() - 1],
        mean: active.iter().sum::<u64>() as f64 / active.len() as f64,
    });
    drop(active);

    // Split and surprise: train keys sorted, test keys looked up.
    let times: Vec<&[Time]> = segs.iter().map(|s| s.t).collect();
    let split = Split::compute_segmented(&times, opts.split)?;
    let (train, test) = (&keys[split.train.clone()], &keys[split.test.clone()]);
    let mut train_sorted = train.to_vec();
    sort_dedup(&mut train_sorted);
    let surprise_directed = surprise(test, &train_sorted);
    train_sorted.clear();
    train_sorted.extend(train.iter().map(|&k| undirected(k)));
    sort_dedup(&mut train_sorted);
    let test_und: Vec<u64> = test.iter().map(|&k| undirected(k)).collect();
    let surprise_undirected = surprise(&test_und, &train_sorted);
    drop((train_sorted, test_und));
    let split_stats = SplitStats {
        spec: opts.split,
        train_events: split.train.len() as u64,
        val_events: split.val.len() as u64,
        test_events: split.test.len() as u64,
        val_start: split.val_start,
        test_start: split.test_start,
        surprise_directed,
        surprise_undirected,
    };

    // Distinct pairs last, sorting the key vector in place (no second copy).
    let distinct_dir = sort_dedup(&mut keys);
    keys.par_iter_mut().for_each(|k| *k = undirected(*k));
    let distinct_und = sort_dedup(&mut keys);
    drop(keys);

    let bipartite = opts.n_src.map(|n_src| Bipartite { n_src, n_dst: num_nodes.saturating_sub(n_src) });
    Ok(GraphStats {
        window: opts.window,
        nodes: num_nodes,
        active_nodes,
        isolated_nodes: u64::from(num_nodes) - active_nodes,
        events: n as u64,
        distinct_timestamps,
        time,
        feat_dim: store.feat_dim(),
        node_feat_dim: store.node_feat_dim(),
        directed_storage: store.directed(),
        bipartite,
        self_loops,
        pairs_directed: PairStats { distinct_pairs: distinct_dir, repeated_events: n as u64 - distinct_dir },
        pairs_undirected: PairStats {
            distinct_pairs: distinct_und,
            repeated_events: n as u64 - distinct_und,
        },
        degree,
        components,
        split: split_stats,
    })
}

/// The window's graph as a petgraph `UnGraph`: node index = dense node id (all
/// `num_nodes` nodes), one edge per distinct undirected pair, weighted by its
/// number of events. Holds every distinct pair in memory: meant for small graphs,
/// windows and tests (`compute_stats` uses a union-find instead).
pub fn window_graph<S: TemporalStore + ?Sized>(
    store: &S,
    window: &Window,
) -> Result<UnGraph<(), u32, u32>, StatsError> {
    window.validate()?;
    let all = store.event_segments();
    let segs = window_segments(&all, window);
    let mut keys: Vec<u64> =
        segs.iter().flat_map(|s| s.src.iter().zip(s.dst).map(|(&u, &v)| undirected(key(u, v)))).collect();
    keys.par_sort_unstable();
    let mut g = UnGraph::with_capacity(store.num_nodes() as usize, 0);
    for _ in 0..store.num_nodes() {
        g.add_node(());
    }
    for run in keys.chunk_by(|a, b| a == b) {
        let (u, v) = ((run[0] >> 32) as u32, run[0] as u32);
        g.add_edge(NodeIndex::new(u as usize), NodeIndex::new(v as usize), run.len() as u32);
    }
    Ok(g)
}

fn opt_f(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_string(), |v| format!("{v:.4}"))
}

fn opt_t(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_string(), |v| v.to_string())
}

impl GraphStats {
    /// (label, value) rows of the human table, in display order.
    pub fn rows(&self) -> Vec<(String, String)> {
        let mut r: Vec<(String, String)> = Vec::new();
        let mut add = |k: &str, v: String| r.push((k.to_string(), v));
        if !self.window.is_all() {
            add("window [from, to)", format!("[{}, {})", opt_t(self.window.from), opt_t(self.window.to)));
        }
        add("nodes", self.nodes.to_string());
        add("  with events", self.active_nodes.to_string());
        add("  isolated", self.isolated_nodes.to_string());
        add("events", self.events.to_string());
        add("distinct timestamps", self.distinct_timestamps.to_string());
        match &self.time {
            Some(t) => {
                add("time min", t.min.to_string());
                add("time max", t.max.to_string());
                add("time span", t.span.to_string());
            }
            None => add("time span", "-".into()),
        }
        add("edge feature dim", self.feat_dim.to_string());
        add("node feature dim", self.node_feat_dim.to_string());
        add("adjacency", if self.directed_storage { "source only" } else { "both directions" }.into());
        add(
            "bipartite",
            match &self.bipartite {
                Some(b) => format!("yes ({} sources, {} destinations)", b.n_src, b.n_dst),
                None => "no".into(),
            },
        );
        add("self-loops", self.self_loops.to_string());
        add("distinct pairs (directed)", self.pairs_directed.distinct_pairs.to_string());
        add("repeated events (directed)", self.pairs_directed.repeated_events.to_string());
        add("distinct pairs (undirected)", self.pairs_undirected.distinct_pairs.to_string());
        add("repeated events (undirected)", self.pairs_undirected.repeated_events.to_string());
        match &self.degree {
            Some(d) => add(
                "degree (in+out) min/median/p99/max",
                format!("{} / {} / {} / {} (mean {:.2})", d.min, d.median, d.p99, d.max, d.mean),
            ),
            None => add("degree (in+out)", "-".into()),
        }
        add("weak components", self.components.count.to_string());
        add(
            "largest component",
            format!(
                "{} nodes ({:.2}% of nodes with events)",
                self.components.largest,
                100.0 * self.components.largest_fraction
            ),
        );
        let s = &self.split;
        add("split", s.spec.to_string());
        add("  train/val/test events", format!("{} / {} / {}", s.train_events, s.val_events, s.test_events));
        add("  val starts at t", opt_t(s.val_start));
        add("  test starts at t", opt_t(s.test_start));
        add(
            "surprise, directed (events/pairs)",
            format!("{} / {}", opt_f(s.surprise_directed.events), opt_f(s.surprise_directed.pairs)),
        );
        add(
            "surprise, undirected (events/pairs)",
            format!("{} / {}", opt_f(s.surprise_undirected.events), opt_f(s.surprise_undirected.pairs)),
        );
        r
    }
}

impl fmt::Display for GraphStats {
    /// An aligned two-column table.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows = self.rows();
        let w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (k, v) in rows {
            writeln!(f, "{k:<w$}  {v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{EventLog, MemStore};

    fn store(events: &[(u32, u32, f64)]) -> MemStore {
        let mut log = EventLog::with_feat_dim(0);
        for &(s, d, t) in events {
            log.push(s, d, t, &[]);
        }
        MemStore::from_log(log, false).unwrap()
    }

    /// 10 events over nodes 0..=7, hand-computed below.
    ///
    /// ```text
    /// id  src dst t     (split 70/15/15: train 0..7, val 7..9 -> 8.5 rounds to 9, test 9..10)
    /// 0   0   1   1
    /// 1   1   0   2     undirected repeat of {0,1}
    /// 2   0   1   2     directed repeat of 0->1
    /// 3   2   3   3
    /// 4   3   3   4     self-loop
    /// 5   4   5   5
    /// 6   0   1   6     directed repeat
    /// 7   5   4   7     val
    /// 8   6   7   8     val
    /// 9   1   0   9     test: 1->0 seen in train (event 1)
    /// ```
    fn example() -> MemStore {
        store(&[
            (0, 1, 1.0),
            (1, 0, 2.0),
            (0, 1, 2.0),
            (2, 3, 3.0),
            (3, 3, 4.0),
            (4, 5, 5.0),
            (0, 1, 6.0),
            (5, 4, 7.0),
            (6, 7, 8.0),
            (1, 0, 9.0),
        ])
    }

    #[test]
    fn hand_computed_example() {
        let s = compute_stats(&example(), &StatsOptions::default()).unwrap();
        assert_eq!(s.nodes, 8);
        assert_eq!((s.active_nodes, s.isolated_nodes), (8, 0));
        assert_eq!(s.events, 10);
        assert_eq!(s.distinct_timestamps, 9);
        assert_eq!(s.time, Some(TimeSpan { min: 1.0, max: 9.0, span: 8.0 }));
        assert_eq!(s.self_loops, 1);
        // Directed pairs: 0->1, 1->0, 2->3, 3->3, 4->5, 5->4, 6->7.
        assert_eq!(s.pairs_directed, PairStats { distinct_pairs: 7, repeated_events: 3 });
        // Undirected: {0,1}, {2,3}, {3,3}, {4,5}, {6,7}.
        assert_eq!(s.pairs_undirected, PairStats { distinct_pairs: 5, repeated_events: 5 });
        // Degrees: 0:5 1:5 2:1 3:3 4:2 5:2 6:1 7:1 -> sorted 1 1 1 2 2 3 5 5.
        let d = s.degree.unwrap();
        assert_eq!((d.min, d.median, d.p99, d.max), (1, 2, 5, 5));
        assert_eq!(d.mean, 20.0 / 8.0);
        // Components: {0,1}, {2,3}, {4,5}, {6,7}.
        assert_eq!(s.components, ComponentStats { count: 4, largest: 2, largest_fraction: 0.25 });
        let sp = &s.split;
        assert_eq!((sp.train_events, sp.val_events, sp.test_events), (7, 2, 1));
        assert_eq!((sp.val_start, sp.test_start), (Some(7.0), Some(9.0)));
        assert_eq!(sp.surprise_directed, Surprise { events: Some(0.0), pairs: Some(0.0) });
        assert_eq!(sp.surprise_undirected, Surprise { events: Some(0.0), pairs: Some(0.0) });
        assert_eq!(s.bipartite, None);
        assert!(!s.directed_storage);
    }

    #[test]
    fn surprise_directed_differs_from_undirected() {
        // Train 0..7: 0->1 x7 (ties at t=1 do not matter: a=7 is a clean boundary).
        // Test (by times): 1->0 (reverse only: new directed, seen undirected),
        // 2->3 twice (new both ways), 0->1 (seen).
        let mut ev: Vec<(u32, u32, f64)> = (0..7).map(|i| (0, 1, f64::from(i))).collect();
        ev.extend([(1, 0, 10.0), (2, 3, 11.0), (2, 3, 12.0), (0, 1, 13.0)]);
        let opts = StatsOptions { split: SplitSpec::times(8.0, 10.0).unwrap(), ..Default::default() };
        let s = compute_stats(&store(&ev), &opts).unwrap();
        assert_eq!(s.split.test_events, 4);
        assert_eq!(s.split.val_events, 0);
        // Directed: 1->0, 2->3, 2->3 unseen = 3/4 events; pairs {1->0, 2->3, 0->1}: 2/3.
        assert_eq!(s.split.surprise_directed.events, Some(0.75));
        assert_eq!(s.split.surprise_directed.pairs, Some(2.0 / 3.0));
        // Undirected: only the two 2-3 events; pairs {0,1}, {2,3}: 1/2.
        assert_eq!(s.split.surprise_undirected.events, Some(0.5));
        assert_eq!(s.split.surprise_undirected.pairs, Some(0.5));
    }

    #[test]
    fn window_is_half_open_and_components_follow_it() {
        let st = example();
        // [2, 7): events 1..=6 (t = 2,2,3,4,5,6): 1-0, 0-1, 2-3, 3-3, 4-5, 0-1.
        let w = Window { from: Some(2.0), to: Some(7.0) };
        let s = compute_stats(&st, &StatsOptions { window: w, ..Default::default() }).unwrap();
        assert_eq!(s.events, 6);
        assert_eq!(s.nodes, 8);
        assert_eq!((s.active_nodes, s.isolated_nodes), (6, 2));
        assert_eq!(s.time, Some(TimeSpan { min: 2.0, max: 6.0, span: 4.0 }));
        assert_eq!(s.components.count, 3);
        assert_eq!(s.components.largest, 2);
        assert_eq!(s.pairs_directed.distinct_pairs, 5);
        // Only `to`: [-inf, 2) is the single event at t=1.
        let w = Window { from: None, to: Some(2.0) };
        let s = compute_stats(&st, &StatsOptions { window: w, ..Default::default() }).unwrap();
        assert_eq!(s.events, 1);
        // An empty window is fine, just empty.
        let w = Window { from: Some(100.0), to: None };
        let s = compute_stats(&st, &StatsOptions { window: w, ..Default::default() }).unwrap();
        assert_eq!((s.events, s.active_nodes, s.components.count), (0, 0, 0));
        assert_eq!(s.degree, None);
        assert_eq!(s.split.surprise_directed, Surprise { events: None, pairs: None });
        // Bad windows are errors.
        let bad = Window { from: Some(5.0), to: Some(5.0) };
        assert!(compute_stats(&st, &StatsOptions { window: bad, ..Default::default() }).is_err());
        let nan = Window { from: Some(f64::NAN), to: None };
        assert!(compute_stats(&st, &StatsOptions { window: nan, ..Default::default() }).is_err());
    }

    #[test]
    fn union_find_agrees_with_petgraph_graph() {
        use crate::bench::generate::{GenSpec, generate_log};
        let spec = GenSpec { nodes: 3000, events: 2500, seed: 3, zipf: 0.3, ..Default::default() };
        let st = MemStore::from_log(generate_log(&spec).unwrap(), false).unwrap();
        for w in [Window::default(), Window { from: Some(1.6e9 + 5000.0), to: Some(1.6e9 + 15000.0) }] {
            let s = compute_stats(&st, &StatsOptions { window: w, ..Default::default() }).unwrap();
            let g = window_graph(&st, &w).unwrap();
            assert_eq!(g.edge_count() as u64, s.pairs_undirected.distinct_pairs);
            let isolated = g.node_indices().filter(|&n| g.neighbors(n).next().is_none()).count();
            // Self-loop-only nodes have an edge to themselves, so they are not isolated here either.
            assert_eq!(isolated as u64, s.isolated_nodes);
            let all = petgraph::algo::connected_components(&g) as u64;
            assert_eq!(all - s.isolated_nodes, s.components.count);
            assert!(s.components.count > 1);
        }
    }

    #[test]
    fn bipartite_sizes_and_table() {
        let st = example();
        let opts = StatsOptions { n_src: Some(3), ..Default::default() };
        let s = compute_stats(&st, &opts).unwrap();
        assert_eq!(s.bipartite, Some(Bipartite { n_src: 3, n_dst: 5 }));
        let table = s.to_string();
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines.iter().any(|l| l.starts_with("events ") && l.ends_with(" 10")), "{table}");
        // Aligned: every value starts at the same column.
        let rows = s.rows();
        let w = rows.iter().map(|(k, _)| k.len()).max().unwrap();
        assert_eq!(lines.len(), rows.len());
        for (line, (k, v)) in lines.iter().zip(&rows) {
            assert!(line.starts_with(k.as_str()) && &line[w + 2..] == v, "{table}");
        }
        let j = serde_json::to_value(&s).unwrap();
        assert_eq!(j["events"], 10);
        assert_eq!(j["split"]["surprise_undirected"]["events"], 0.0);
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.5), 50);
        assert_eq!(quantile(&v, 0.99), 99);
        assert_eq!(quantile(&[7], 0.99), 7);
        assert_eq!(quantile(&[1, 2], 0.5), 1);
    }
}
