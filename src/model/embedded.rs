//! Scoring for the families that embed each endpoint once (the TGN family and
//! GraphMixer): a node's embedding at `t` does not depend on the candidate it is
//! paired with, so a batch of queries embeds every distinct `(node, t)` root once
//! (a rank query's source appears once for its K + 1 candidates), projects the
//! embeddings once per root, and the decoder scores every pair from two gathers.
//! Pair models (TPNet, DyGFormer) implement `score_pairs` themselves.
//!
//! The decoder `w . relu(P_s h_u + b_s + P_d h_v) + b` also splits at its sum:
//! [`candidate_rows`] gives `P_d h_v` per candidate at `t` and [`source_rows`]
//! `P_s h_u + b_s` per source, so a cache of the candidates' rows at one time
//! (`crate::serve::scorer::cache`) answers a later query at that time with one
//! fused pass ([`crate::eval::sides::SideDecoder`]). Rows are `f32`, row-major, `width` each.

use std::collections::HashMap;

use tch::{Device, Tensor};

use crate::eval::sides::{CandidateRows, NO_NODE};
use crate::model::ModelError;
use crate::model::api::{Carry, PairBatch, Pairs, Roots};
use crate::model::inputs::i64s;
use crate::model::parts::LinkDecoder;
use crate::sample::neighbors::{NeighborSampler, Sampled, SamplerConfig};
use crate::store::{EventId, NodeId, TemporalStore, Time};

/// A family whose embeddings are per node and time.
pub trait NodeEmbedder {
    /// Embeddings of `roots`, `[R, emb]` (with gradients), and what absorbing the
    /// batch may reuse.
    fn embed(&self, store: &dyn TemporalStore, roots: Roots<'_>) -> Result<(Tensor, Carry), ModelError>;
    fn decoder(&self) -> &LinkDecoder;
    fn embed_device(&self) -> Device;
    fn embed_sampler(&self, seed: u64) -> SamplerConfig;
}

/// [`crate::model::TemporalModel::score_pairs`] for a node-embedding family.
pub fn score_pairs<M: NodeEmbedder + ?Sized>(
    m: &M,
    store: &dyn TemporalStore,
    cutoff: EventId,
    pairs: Pairs<'_>,
    seed: u64,
) -> Result<Vec<f32>, ModelError> {
    let n = pairs.src.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut index: HashMap<(NodeId, u64), i64> = HashMap::with_capacity(n);
    let (mut nodes, mut times) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut root = |v: NodeId, tt: f64| -> i64 {
        *index.entry((v, tt.to_bits())).or_insert_with(|| {
            nodes.push(v);
            times.push(tt);
            nodes.len() as i64 - 1
        })
    };
    let a: Vec<i64> = pairs.src.iter().zip(pairs.t).map(|(&s, &tt)| root(s, tt)).collect();
    let b: Vec<i64> = pairs.dst.iter().zip(pairs.t).map(|(&d, &tt)| root(d, tt)).collect();
    probabilities(m, store, cutoff, &nodes, &times, seed, |ps, pd, dev| {
        m.decoder().logits(ps, pd, &i64s(&a, dev), &i64s(&b, dev))
    })
}

/// Sample `nodes`' neighbourhoods at `times` from events `< cutoff` and embed them
/// (no gradients): the part every scoring path shares. Also returns the sampled
/// layers (what each embedding read).
fn embed_at<M: NodeEmbedder + ?Sized>(
    m: &M,
    store: &dyn TemporalStore,
    cutoff: EventId,
    nodes: &[NodeId],
    times: &[Time],
    seed: u64,
) -> Result<(Tensor, Vec<Sampled>), ModelError> {
    let sampler = NeighborSampler::new(store, m.embed_sampler(seed))?;
    let layers = sampler.sample_layers(nodes, times, cutoff)?;
    let (emb, _) = tch::no_grad(|| m.embed(store, Roots { nodes, t: times, layers: &layers }))?;
    Ok((emb, layers))
}

/// `x` (any shape) as host `f32`s, row-major.
fn host(x: &Tensor) -> Result<Vec<f32>, ModelError> {
    Ok(Vec::<f32>::try_from(x.contiguous().view([-1]).to_device(Device::Cpu))?)
}

/// Embed `nodes` at `times` (no gradients), project them as sources and
/// destinations, and turn the logits `decode` makes of the two into probabilities
/// on the host: the part [`score_pairs`] and [`score_grid`] share.
fn probabilities<M: NodeEmbedder + ?Sized>(
    m: &M,
    store: &dyn TemporalStore,
    cutoff: EventId,
    nodes: &[NodeId],
    times: &[Time],
    seed: u64,
    decode: impl FnOnce(&Tensor, &Tensor, Device) -> Tensor,
) -> Result<Vec<f32>, ModelError> {
    let (emb, _) = embed_at(m, store, cutoff, nodes, times, seed)?;
    tch::no_grad(|| {
        let (ps, pd) = m.decoder().project(&emb);
        host(&decode(&ps, &pd, m.embed_device()).sigmoid())
    })
}

/// [`crate::model::TemporalModel::score_grid`] for a node-embedding family: the
/// distinct nodes of `src` and `cand` embedded once at `t`, then the decoder over
/// every pair (`[S x C]`, source-major).
pub fn score_grid<M: NodeEmbedder + ?Sized>(
    m: &M,
    store: &dyn TemporalStore,
    cutoff: EventId,
    src: &[NodeId],
    cand: &[NodeId],
    t: Time,
    seed: u64,
) -> Result<Vec<f32>, ModelError> {
    if src.is_empty() || cand.is_empty() {
        return Ok(Vec::new());
    }
    let mut index: HashMap<NodeId, i64> = HashMap::with_capacity(src.len() + cand.len());
    let mut nodes = Vec::with_capacity(src.len() + cand.len());
    let mut root = |v: NodeId| -> i64 {
        *index.entry(v).or_insert_with(|| {
            nodes.push(v);
            nodes.len() as i64 - 1
        })
    };
    let a: Vec<i64> = src.iter().map(|&s| root(s)).collect();
    let b: Vec<i64> = cand.iter().map(|&d| root(d)).collect();
    let times = vec![t; nodes.len()];
    probabilities(m, store, cutoff, &nodes, &times, seed, |ps, pd, dev| {
        m.decoder().grid_logits(&ps.index_select(0, &i64s(&a, dev)), &pd.index_select(0, &i64s(&b, dev)))
    })
}

/// [`crate::model::TemporalModel::candidate_rows`] for a node-embedding family:
/// `cand` embedded at `t` from events `< cutoff`, projected as destinations only.
/// `None` when the embedding reads more than one sampled layer: a row would then
/// depend on neighbours of neighbours, which `reads` does not list.
pub fn candidate_rows<M: NodeEmbedder + ?Sized>(
    m: &M,
    store: &dyn TemporalStore,
    cutoff: EventId,
    cand: &[NodeId],
    t: Time,
    seed: u64,
) -> Result<Option<CandidateRows>, ModelError> {
    let fanouts = m.embed_sampler(seed).fanouts;
    if fanouts.len() > 1 {
        return Ok(None);
    }
    let width = m.decoder().width();
    if cand.is_empty() {
        return Ok(Some(CandidateRows {
            width,
            k: fanouts.first().copied().unwrap_or(0),
            ..Default::default()
        }));
    }
    let (emb, layers) = embed_at(m, store, cutoff, cand, &vec![t; cand.len()], seed)?;
    let rows = host(&tch::no_grad(|| m.decoder().project_dst(&emb)))?;
    let (k, reads) = match layers.first() {
        Some(l) => {
            let reads =
                l.nbr.iter().zip(&l.mask).map(|(&v, &ok)| if ok != 0 { v } else { NO_NODE }).collect();
            (l.k, reads)
        }
        None => (0, Vec::new()),
    };
    Ok(Some(CandidateRows { width, rows, k, reads }))
}

/// [`crate::model::TemporalModel::source_rows`] for a node-embedding family:
/// `src` embedded at `t` and projected as sources (`P_s h_u + b_s`), `[S, width]`.
pub fn source_rows<M: NodeEmbedder + ?Sized>(
    m: &M,
    store: &dyn TemporalStore,
    cutoff: EventId,
    src: &[NodeId],
    t: Time,
    seed: u64,
) -> Result<Vec<f32>, ModelError> {
    if src.is_empty() {
        return Ok(Vec::new());
    }
    let (emb, _) = embed_at(m, store, cutoff, src, &vec![t; src.len()], seed)?;
    host(&tch::no_grad(|| m.decoder().project_src(&emb)))
}

/// [`crate::model::TemporalModel::batch_logits`] for a node-embedding family: every
/// root embedded once, each projected only in the role it plays.
pub fn batch_logits<M: NodeEmbedder + ?Sized>(
    m: &M,
    store: &dyn TemporalStore,
    batch: &PairBatch<'_>,
) -> Result<(Tensor, Carry), ModelError> {
    let (emb, carry) = m.embed(store, batch.roots)?;
    Ok((m.decoder().pair_logits(&emb, batch.m as i64), carry))
}
