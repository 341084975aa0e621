//! DyGFormer's co-occurrence counts against a hand-counted case; scores that do not
//! depend on how pairs are chunked or grouped into rows (beyond float rounding); a node without history
//! scores (its own patch is never masked); dropout acts in training only.

use std::sync::Arc;

use super::*;
use crate::model::config::{ModelConfig, ModelKind};
use crate::train::tests::{store_of, tiny, torch_lock};

fn model(neighbors: usize, dropout: f64) -> Box<dyn TemporalModel> {
    let mut c: ModelConfig = tiny(ModelKind::Dygformer, 2000);
    c.neighbors = neighbors;
    c.dropout = dropout;
    crate::model::build(c, Device::Cpu, 3).unwrap()
}

#[test]
fn co_occurrence_counts_are_counted_in_both_sequences() {
    let _g = torch_lock();
    let mut c = tiny(ModelKind::Dygformer, 20);
    c.neighbors = 3;
    let m = DyGFormer::new(c, Device::Cpu).unwrap();
    // Row 0: node 5 after 7, 8, 7; row 1: node 7 after 5, 9 and one padded slot.
    let layer = Sampled {
        k: 3,
        nbr: vec![7, 8, 7, 5, 9, 0],
        eid: vec![0, 1, 2, 0, 3, 0],
        t: vec![1.0, 2.0, 3.0, 1.0, 4.0, 0.0],
        mask: vec![1, 1, 1, 1, 1, 0],
    };
    let ends = Ends { nodes: &[5, 7], t: &[10.0, 10.0], layer: &layer };
    let got = m.counts(&ends, &[0], &[1]);
    // u = [5, 7, 8, 7], v = [7, 5, 9, pad]: (count in u, count in v) per position.
    let want = [(1, 1), (2, 1), (1, 0), (2, 1), (2, 1), (1, 1), (0, 1), (0, 0)];
    let want: Vec<f32> = want.iter().flat_map(|&(a, b)| [a as f32, b as f32]).collect();
    assert_eq!(got, want);
    // Swapped, the roles swap.
    let got = m.counts(&ends, &[1], &[0]);
    let swapped = [(1, 2), (1, 1), (1, 0), (0, 0), (1, 1), (1, 2), (0, 1), (1, 2)];
    let swapped: Vec<f32> = swapped.iter().flat_map(|&(a, b)| [a as f32, b as f32]).collect();
    assert_eq!(got, swapped);
    // Endpoints without history are nodes of their own, even with one id (serving's
    // placeholder for unknown nodes): (1, 0) and (0, 1), never (1, 1).
    let empty = Sampled { k: 3, nbr: vec![0; 6], eid: vec![0; 6], t: vec![0.0; 6], mask: vec![0; 6] };
    let ends = Ends { nodes: &[20, 20], t: &[10.0, 10.0], layer: &empty };
    let got = m.counts(&ends, &[0], &[1]);
    assert_eq!(&got[..2], &[1.0, 0.0]);
    assert_eq!(&got[8..10], &[0.0, 1.0]);
}

#[test]
fn scores_do_not_depend_on_grouping_and_dropout_only_trains() {
    let _g = torch_lock();
    let store = Arc::new(store_of(800, &[]));
    let m = model(5, 0.3);
    let cutoff = 600;
    let t = store.event(cutoff - 1).2 + 1.0;
    // Pairs sharing sources (one row for many candidates) and a node never seen.
    let src: Vec<NodeId> = (0..700).map(|i| (i % 9) as NodeId).collect();
    let dst: Vec<NodeId> = (0..700).map(|i| ((i * 7) % 50) as NodeId).collect();
    let mut dst = dst;
    dst[3] = 1999;
    let ts = vec![t; src.len()];
    let all = m.score_pairs(&*store, cutoff, Pairs { src: &src, dst: &dst, t: &ts }, 0).unwrap();
    assert!(all.iter().all(|p| p.is_finite() && (0.0..=1.0).contains(p)), "{:?}", &all[..8]);
    for i in [0, 3, 511, 512, 699] {
        let one =
            m.score_pairs(&*store, cutoff, Pairs { src: &src[i..=i], dst: &dst[i..=i], t: &ts[i..=i] }, 0);
        // Equal up to the float rounding of other matrix shapes (a few ulps).
        let one = one.unwrap()[0];
        assert!((one - all[i]).abs() <= 1e-6, "pair {i}: {one} alone, {} in the batch", all[i]);
    }
    let again = m.score_pairs(&*store, cutoff, Pairs { src: &src, dst: &dst, t: &ts }, 0).unwrap();
    assert_eq!(all, again, "scoring is deterministic (no dropout)");

    // With gradients (training), dropout changes the logits from call to call.
    let sampler = NeighborSampler::new(&*store, m.sampler_config(0)).unwrap();
    let nodes: Vec<NodeId> = vec![0, 1, 2, 3, 4, 5];
    let times = vec![t; 6];
    let layers = sampler.sample_layers(&nodes, &times, cutoff).unwrap();
    let roots = crate::model::api::Roots { nodes: &nodes, t: &times, layers: &layers };
    let batch = PairBatch { roots, m: 2, cutoff };
    let a = m.batch_logits(&*store, &batch).unwrap().0;
    let b = m.batch_logits(&*store, &batch).unwrap().0;
    assert!(a.requires_grad());
    assert!(!a.allclose(&b, 0.0, 0.0, false), "dropout is off in training");
    let (a, b) = tch::no_grad(|| {
        (m.batch_logits(&*store, &batch).unwrap().0, m.batch_logits(&*store, &batch).unwrap().0)
    });
    assert!(a.equal(&b), "dropout is on under no_grad");
}
