//! Feature scaling inside the models: a model with `feature_scaling` on raw
//! features answers bit for bit as the same model without it on features scaled
//! beforehand, through every gather (neighbour edges, node inputs, TGN's stored
//! messages); a config without the statistics is the config of before.

use crate::eval::scorer::StreamScorer;
use crate::model::config::{ModelConfig, ModelKind};
use crate::sample::batch::batch_ranges;
use crate::store::scaling::FeatureScaling;
use crate::store::{EventLog, MemStore, NodeFeatures, TemporalStore, Time};
use crate::train::scorer::ModelScorer;
use crate::train::tests::{store_of, tiny, torch_lock};

const N: usize = 1200;
const TRAIN: usize = 900;

/// CollegeMsg's first `N` events with two edge features at a user's scale (a
/// rating in -10..10, an amount around 5,000) and three node features; with
/// `scaling`, the features already passed through it.
fn featured(scaling: Option<&FeatureScaling>) -> MemStore {
    let base = store_of(N, &[]);
    let mut log = EventLog::with_feat_dim(2);
    let edge = scaling.and_then(|s| s.edge_affine());
    for e in 0..N {
        let (s, d, t) = base.event(e as u32);
        let mut f = [((e * 7) % 21) as f32 - 10.0, 5000.0 + ((e * 13) % 97) as f32 * 37.5];
        if let Some(a) = &edge {
            a.apply(&mut f);
        }
        log.push(s, d, t, &f);
    }
    let nodes = base.num_nodes();
    let node = scaling.and_then(|s| s.node_affine());
    let mut values = Vec::with_capacity(nodes as usize * 3);
    for v in 0..nodes {
        let mut f = [v as f32 * 3.0, 100.0 + (v % 5) as f32, -2.0];
        if let Some(a) = &node {
            a.apply(&mut f);
        }
        values.extend_from_slice(&f);
    }
    MemStore::build(log, nodes, false, 64, Some(NodeFeatures { dim: 3, values })).unwrap()
}

fn config(kind: ModelKind, scaling: Option<FeatureScaling>) -> ModelConfig {
    let mut c = tiny(kind, 2000);
    (c.edge_dim, c.node_dim) = (2, 3);
    c.feature_scaling = scaling;
    c
}

/// Scores of the batches after `TRAIN` (each scored, then absorbed), from a replay.
fn scores(cfg: ModelConfig, store: &dyn TemporalStore) -> Vec<u64> {
    let model = crate::model::build(cfg, tch::Device::Cpu, 11).unwrap();
    let mut sc = ModelScorer::from_model(model, 50, 0);
    sc.start(store, TRAIN).unwrap();
    let t: Vec<Time> = (0..N).map(|e| store.event(e as u32).2).collect();
    let mut out = Vec::new();
    for b in batch_ranges(&t, TRAIN..N, 50) {
        let (src, dst, tt): (Vec<u32>, Vec<u32>, Vec<f64>) = b
            .clone()
            .map(|e| {
                let (s, d, te) = store.event(e as u32);
                (s, (d * 7 + 3) % store.num_nodes(), te)
            })
            .fold((vec![], vec![], vec![]), |mut a, (s, d, t)| {
                a.0.push(s);
                a.1.push(d);
                a.2.push(t);
                a
            });
        let mut got = Vec::new();
        sc.score(store, b.clone(), &src, &dst, &tt, &mut got).unwrap();
        out.extend(got.iter().map(|x| x.to_bits()));
        sc.absorb(store, b).unwrap();
    }
    out
}

#[test]
fn scaling_in_the_model_equals_scaled_inputs() {
    let _g = torch_lock();
    let raw = featured(None);
    let stats = FeatureScaling::standard(&raw, 0..TRAIN).unwrap().unwrap();
    let e = stats.edge.as_ref().unwrap();
    assert!(e.std[1] > 100.0 && e.mean[1] > 4000.0, "{e:?}");
    let scaled = featured(Some(&stats));
    for kind in [ModelKind::Tgn, ModelKind::Jodie, ModelKind::Dyrep, ModelKind::Tgat, ModelKind::Graphmixer] {
        let inside = scores(config(kind, Some(stats.clone())), &raw);
        let before = scores(config(kind, None), &scaled);
        assert_eq!(inside, before, "{kind}: scaling in the model differs from scaled inputs");
        let unscaled = scores(config(kind, None), &raw);
        assert_ne!(inside, unscaled, "{kind}: the scaling changed nothing");
    }
}

#[test]
fn configs_without_statistics_are_unchanged() {
    let c = ModelConfig::preset(ModelKind::Tgn, 10, 0, 0);
    let v = serde_json::to_value(&c).unwrap();
    assert!(v.get("feature_scaling").is_none(), "a feature-less config gains no key");
    // A config.json written before scaling existed loads with none.
    let back: ModelConfig = serde_json::from_value(v).unwrap();
    assert_eq!(back.feature_scaling, None);
    assert_eq!(back, c);
    // Statistics round-trip exactly, and must fit the widths.
    let raw = featured(None);
    let mut f = config(ModelKind::Tgn, FeatureScaling::standard(&raw, 0..TRAIN).unwrap());
    let text = serde_json::to_string(&f).unwrap();
    assert_eq!(serde_json::from_str::<ModelConfig>(&text).unwrap(), f);
    assert!(f.validate().is_ok());
    f.edge_dim = 3;
    assert!(f.validate().is_err());
}
