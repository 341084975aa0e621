//! One suite, every implementation: a scenario generic over [`TemporalStore`]
//! (check, append, check, compact, check) plus property tests that run it on
//! `MemStore` and `MmapStore` over random graphs with many equal timestamps.

use proptest::prelude::*;

use super::oracle::{Oracle, check_store, feat_of};
use crate::store::{
    MemStore, MmapStore, NodeId, StoreError, TemporalStore, Time, WriteOptions, read_ids, verify, write_graph,
};

/// A random graph: events with times drawn from a handful of values (ties
/// everywhere), self-loops allowed, plus events to append later (some with new
/// nodes, some at the newest time).
#[derive(Debug, Clone)]
pub struct Case {
    pub oracle: Oracle,
    pub shard_nodes: u32,
    /// (src, dst, time step >= 0 added to the newest time).
    pub appends: Vec<(NodeId, NodeId, u8)>,
}

pub fn case_strategy(max_events: usize) -> impl Strategy<Value = Case> {
    (1u32..10, 0usize..3, any::<bool>(), 1u32..5).prop_flat_map(move |(n, d, directed, shard_nodes)| {
        let events = prop::collection::vec((0..n, 0..n, 0u8..4), 0..max_events);
        let appends =
            prop::collection::vec((0..n + 3, 0..n + 3, prop_oneof![Just(0u8), Just(0u8), 0u8..3]), 0..12);
        (events, appends).prop_map(move |(events, appends)| {
            // Times: running sum of small steps (0 = a tie with the previous event).
            let mut t = 0.0;
            let evs = events
                .into_iter()
                .map(|(s, dd, step)| {
                    t += (step / 2) as Time;
                    (s, dd, t)
                })
                .collect();
            Case { oracle: Oracle::new(evs, d, directed, n), shard_nodes, appends }
        })
    })
}

/// Check, append every event of the case (checking as we go), then compact and
/// check again; returns the oracle after the appends.
pub fn scenario<S: TemporalStore>(store: &mut S, case: &Case, what: &str) -> Oracle {
    let mut o = case.oracle.clone();
    check_store(store, &o, &format!("{what} (fresh)"));
    for (k, &(s, d, step)) in case.appends.iter().enumerate() {
        let t = o.events.last().map_or(0.0, |e| e.2) + step as Time;
        let eid = store.append(s, d, t, &feat_of(o.events.len(), o.feat_dim)).expect("in-order append");
        assert_eq!(eid as usize, o.events.len(), "{what}: id of append {k}");
        o.push(s, d, t);
        assert_eq!(store.tail_len(), k + 1);
        // Visible at once.
        assert!(store.neighbors(s).iter().any(|x| x.2 == eid), "{what}: append {k} not visible");
    }
    check_store(store, &o, &format!("{what} (after {} appends)", case.appends.len()));
    store.compact().expect("compact");
    assert_eq!(store.tail_len(), 0);
    check_store(store, &o, &format!("{what} (compacted)"));
    // A second compaction with an empty tail changes nothing.
    store.compact().expect("compact again");
    check_store(store, &o, &format!("{what} (compacted twice)"));
    o
}

fn opts(case: &Case) -> WriteOptions {
    WriteOptions { shard_nodes: case.shard_nodes, replace: false }
}

fn mem_store(case: &Case) -> MemStore {
    MemStore::from_data_with(&case.oracle.data(), &opts(case)).expect("MemStore")
}

fn mmap_store(case: &Case, dir: &std::path::Path) -> MmapStore {
    write_graph(dir, &case.oracle.data(), &opts(case)).expect("write_graph");
    MmapStore::open(dir).expect("open")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn prop_mem_store_matches_oracle(case in case_strategy(40)) {
        let mut s = mem_store(&case);
        scenario(&mut s, &case, "MemStore");
    }

    #[test]
    fn prop_mmap_store_matches_oracle(case in case_strategy(40)) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("g");
        let mut s = mmap_store(&case, &dir);
        let o = scenario(&mut s, &case, "MmapStore");
        // The compacted directory reopens to the same answers and verifies clean.
        drop(s);
        let reopened = MmapStore::open(&dir).expect("reopen after compaction");
        check_store(&reopened, &o, "MmapStore (reopened)");
        let report = verify(&dir).expect("verify");
        prop_assert!(report.ok, "verify after compaction: {report:?}");
        prop_assert!(report.unreferenced.is_empty(), "stale files: {:?}", report.unreferenced);
    }

    #[test]
    fn prop_mmap_round_trip_equals_mem_store(case in case_strategy(60)) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("g");
        let m = mmap_store(&case, &dir);
        let r = mem_store(&case);
        check_store(&m, &case.oracle, "MmapStore round trip");
        check_store(&r, &case.oracle, "MemStore");
        prop_assert_eq!(m.meta().num_shards, r.num_shards());
        let ids = read_ids(&dir).expect("read_ids");
        prop_assert_eq!(ids, case.oracle.data().ids);
    }

    #[test]
    fn prop_out_of_order_append_rejected(case in case_strategy(20), back in 1u8..5) {
        let mut s = mem_store(&case);
        if let Some(&(_, _, newest)) = case.oracle.events.last() {
            let t = newest - back as Time;
            let feat = feat_of(0, case.oracle.feat_dim);
            let err = s.append(0, 0, t, &feat).unwrap_err();
            let is_out_of_order = matches!(err, StoreError::OutOfOrder { .. });
            prop_assert!(is_out_of_order, "{err}");
            prop_assert_eq!(s.num_events(), case.oracle.events.len());
            prop_assert_eq!(s.tail_len(), 0);
        }
    }
}
