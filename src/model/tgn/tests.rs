//! Tests of the TGN family's memory path that need its concrete type: absorbing a
//! batch stores the rows its forward pass folded (TGN's training order), and a
//! stale or partial fold is not used. Family-independent tests (causality,
//! determinism, resume, serving) run through the model interface in
//! `src/train/tests.rs` and `src/serve/tests.rs`.

use super::TgnNet;
use crate::model::api::{Roots, TemporalModel};
use crate::model::config::ModelKind;
use crate::sample::batch::batch_ranges;
use crate::sample::neighbors::NeighborSampler;
use crate::store::{NodeId, TemporalStore, Time};
use crate::train::tests::{store_of, times, tiny, torch_lock};

fn tgn(seed: u64) -> TgnNet {
    tch::manual_seed(seed as i64);
    TgnNet::new(tiny(ModelKind::Tgn, 2000), tch::Device::Cpu).unwrap()
}

/// Absorbing a batch with the rows its forward pass folded stores the memory of the
/// weights of that pass, even after the weights move (the optimizer step); a fold
/// from another memory state, or one missing an endpoint, is not used.
#[test]
fn absorb_stores_the_forward_pass_folded_rows() {
    let _g = torch_lock();
    let store = store_of(1500, &[]);
    let t = times(&store);
    let ranges = batch_ranges(&t, 0..store.num_events(), 100);
    let ends = |r: &std::ops::Range<usize>| -> Vec<NodeId> {
        let ev: Vec<_> = r.clone().map(|e| store.event(e as u32)).collect();
        ev.iter().map(|e| e.0).chain(ev.iter().map(|e| e.1)).collect()
    };
    // A batch `j` whose endpoints with pending messages all had pending messages
    // before batch `j - 1` was absorbed, so that a fold from then covers them (and
    // only the memory state tells it is stale).
    let mut probe = tgn(3);
    let pending = |net: &TgnNet, n: NodeId| net.memory.as_ref().unwrap().pending(n as usize);
    let mut j = 0;
    for (i, r) in ranges.iter().enumerate().take(ranges.len() - 1) {
        let was: Vec<bool> = (0..2000).map(|n| pending(&probe, n)).collect();
        probe.absorb_folded(&store, r.clone(), None).unwrap();
        let next = ends(&ranges[i + 1]);
        let covered = next.iter().all(|&n| !pending(&probe, n) || was[n as usize]);
        if i >= 5 && covered {
            j = i + 1;
            break;
        }
    }
    assert!(j > 0, "no batch fits the stale-fold case");
    let (prev, batch) = (ranges[j - 1].clone(), ranges[j].clone());
    let fresh = || {
        let mut net = tgn(3);
        for r in &ranges[..j - 1] {
            net.absorb_folded(&store, r.clone(), None).unwrap();
        }
        net
    };
    // The optimizer step, as far as the memory can tell.
    let step = |net: &TgnNet| {
        tch::no_grad(|| {
            for (_, mut w) in net.trainables() {
                let _ = w.g_add_scalar_(0.05);
            }
        })
    };
    let mem = |net: &TgnNet| net.memory.as_ref().unwrap().mem.copy();
    let close = |a: &tch::Tensor, b: &tch::Tensor| (a - b).abs().max().double_value(&[]) < 1e-6;
    let ev: Vec<_> = batch.clone().map(|e| store.event(e as u32)).collect();
    let nodes: Vec<NodeId> = ev.iter().map(|e| e.0).chain(ev.iter().map(|e| e.1)).collect();
    let tt: Vec<Time> = ev.iter().map(|e| e.2).chain(ev.iter().map(|e| e.2)).collect();
    let absorb_after = |net: &mut TgnNet| {
        net.absorb_folded(&store, prev.clone(), None).unwrap();
    };

    // Reference: absorbed with the weights before the step.
    let mut before = fresh();
    absorb_after(&mut before);
    before.absorb_folded(&store, batch.clone(), None).unwrap();
    // Without a fold, the step's weights are used: a different memory.
    let mut after = fresh();
    absorb_after(&mut after);
    step(&after);
    after.absorb_folded(&store, batch.clone(), None).unwrap();
    assert!(!close(&mem(&before), &mem(&after)), "the step must change the absorbed memory");

    // The forward pass's fold (the trainer's path), then the step.
    let mut net = fresh();
    absorb_after(&mut net);
    let sampler = NeighborSampler::new(&store, net.sampler_config(0)).unwrap();
    let layers = sampler.sample_layers(&nodes, &tt, batch.start as u32).unwrap();
    let (_, folded) = net.embed_folded(&store, Roots { nodes: &nodes, t: &tt, layers: &layers }).unwrap();
    step(&net);
    net.absorb_folded(&store, batch.clone(), folded).unwrap();
    assert!(close(&mem(&net), &mem(&before)), "the forward pass's rows were not stored");
    // The distributed path: every endpoint folded without a forward pass.
    let mut net = fresh();
    absorb_after(&mut net);
    let folded = net.fold_pending(&nodes).unwrap();
    step(&net);
    net.absorb_folded(&store, batch.clone(), folded).unwrap();
    assert!(close(&mem(&net), &mem(&before)));

    // A fold missing the destinations is not used.
    let mut net = fresh();
    absorb_after(&mut net);
    let folded = net.fold_pending(&nodes[..ev.len()]).unwrap();
    step(&net);
    net.absorb_folded(&store, batch.clone(), folded).unwrap();
    assert!(close(&mem(&net), &mem(&after)), "a partial fold was used");
    // A fold from before the previous batch was absorbed is stale.
    let mut net = fresh();
    let all: Vec<NodeId> = (0..2000).collect();
    let folded = net.fold_pending(&all).unwrap();
    absorb_after(&mut net);
    step(&net);
    net.absorb_folded(&store, batch.clone(), folded).unwrap();
    assert!(close(&mem(&net), &mem(&after)), "a stale fold was used");
}
