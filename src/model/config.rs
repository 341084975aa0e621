//! Model configurations: a preset per [`ModelKind`], sizes overridable by flags,
//! saved as JSON in every checkpoint so a model directory rebuilds the same net.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::model::ModelError;
use crate::store::scaling::FeatureScaling;

/// The model kinds. TGN, JODIE, DyRep and TGAT are presets of one family (memory,
/// time encoding, attention, decoder); GraphMixer has its own encoder; TPNet and
/// TPNet-lite share walk-matrix projections (`src/model/tpnet/`); DyGFormer is a
/// transformer over both endpoints' interaction sequences (`src/model/dygformer/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    Tgn,
    Jodie,
    Dyrep,
    Tgat,
    Graphmixer,
    Tpnet,
    #[serde(rename = "tpnet-lite")]
    TpnetLite,
    Dygformer,
}

impl FromStr for ModelKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "tgn" => ModelKind::Tgn,
            "jodie" => ModelKind::Jodie,
            "dyrep" => ModelKind::Dyrep,
            "tgat" => ModelKind::Tgat,
            "graphmixer" | "graph-mixer" => ModelKind::Graphmixer,
            "tpnet" => ModelKind::Tpnet,
            "tpnet-lite" | "tpnet_lite" => ModelKind::TpnetLite,
            "dygformer" => ModelKind::Dygformer,
            _ => {
                return Err(format!(
                    "unknown model {s:?}: expected tgn, jodie, dyrep, tgat, graphmixer, tpnet, tpnet-lite \
                     or dygformer"
                ));
            }
        })
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            ModelKind::Tgn => "tgn",
            ModelKind::Jodie => "jodie",
            ModelKind::Dyrep => "dyrep",
            ModelKind::Tgat => "tgat",
            ModelKind::Graphmixer => "graphmixer",
            ModelKind::Tpnet => "tpnet",
            ModelKind::TpnetLite => "tpnet-lite",
            ModelKind::Dygformer => "dygformer",
        };
        f.write_str(s)
    }
}

/// How pending messages of one node are combined before the memory update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Aggregator {
    /// The most recent message (TGN's default).
    Last,
    /// The mean of the messages; the time encoding uses their mean time.
    Mean,
}

impl FromStr for Aggregator {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "last" => Ok(Aggregator::Last),
            "mean" => Ok(Aggregator::Mean),
            _ => Err(format!("unknown aggregator {s:?}: expected last or mean")),
        }
    }
}

/// The memory updater cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Updater {
    Gru,
    Rnn,
}

/// How a root's embedding is made from its (updated) memory / features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Embedding {
    /// Temporal graph attention over sampled neighbours (TGN, TGAT).
    Attention,
    /// The memory itself (DyRep).
    Identity,
    /// `memory * (1 + w * dt)`, `dt` = time since the node's last update (JODIE).
    TimeProjection,
}

/// Everything that decides the shape and behaviour of a model (see [`crate::model::registry`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub kind: ModelKind,
    /// Nodes of the graph the model was built for (memory rows).
    pub num_nodes: u32,
    /// Edge feature width of that graph.
    pub edge_dim: usize,
    /// Node feature width of that graph (0 = none).
    pub node_dim: usize,
    /// Memory width (0 = no memory: TGAT, GraphMixer).
    pub memory_dim: usize,
    pub time_dim: usize,
    pub emb_dim: usize,
    pub heads: usize,
    /// Neighbours per attention layer (TGN family) or links per node (GraphMixer).
    pub neighbors: usize,
    /// Attention layers (0 with `Identity`/`TimeProjection` embeddings).
    pub layers: usize,
    pub aggregator: Aggregator,
    pub updater: Updater,
    pub embedding: Embedding,
    /// DyRep: messages carry the destination's attention embedding.
    pub dst_embedding_in_message: bool,
    /// GraphMixer: mixer blocks, token and channel expansion factors.
    pub mixer_layers: usize,
    pub token_expansion: f64,
    pub channel_expansion: f64,
    /// JODIE: time differences are divided by this before the projection.
    pub time_scale: f64,
    /// The memory's "last update" before a node's first event: the graph's first
    /// timestamp, so a first message encodes the time since the data began rather
    /// than since the Unix epoch.
    #[serde(default)]
    pub time_origin: f64,
    /// Train the time encoder's frequencies (the original TGN). Off by default:
    /// with differences of 1e4..1e9 time units, each Adam step moves `w * dt` by
    /// many radians in the high-frequency dimensions, so the encoding turns into
    /// noise that changes every batch. Fixed frequencies (as GraphMixer argues) took
    /// TGN's validation AP on CollegeMsg after one epoch from 0.62 to 0.83.
    #[serde(default)]
    pub time_trainable: bool,
    /// Time differences fed to the time encoder are clamped to this (`None`: not
    /// clamped). `train` sets it to the training period's length: no difference seen
    /// in training is longer, so training is unchanged, while at evaluation and
    /// serving a node idle for longer than anything in training gets the encoding
    /// of the longest gap seen instead of extrapolated, never-trained values.
    #[serde(default)]
    pub dt_max: Option<f64>,
    /// TPNet: `k`, the longest temporal walks whose matrices are kept.
    #[serde(default)]
    pub walk_hops: usize,
    /// TPNet: width `d` of the random projections (`0`: `10 * floor(ln(2E))` for the
    /// `E` events of the training data, set by [`ModelConfig::fit_data`]).
    #[serde(default)]
    pub projection_dim: usize,
    /// TPNet: `lambda`, the walk weights' decay per time unit of the data (`0`: walks
    /// are counted, not decayed).
    #[serde(default)]
    pub decay: f64,
    /// Per-column standardisation of the edge and node features, with statistics of
    /// the training period (`train --feature-scaling standard`, the default), applied
    /// wherever the model reads features ([`crate::model::inputs`]). `None`: features
    /// as stored (no features, `--feature-scaling none`, or a model directory from
    /// before scaling existed, which therefore loads and scores as it did).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_scaling: Option<FeatureScaling>,
    /// TPNet-lite: also read each pair's exact local recency and popularity and each
    /// endpoint's decayed event count ([`crate::model::tpnet::clock`]). On by default
    /// for new models; absent (off) in configs written before it existed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub heuristic_inputs: bool,
    /// DyGFormer: positions per patch `P` (the sequence length `neighbors + 1` must
    /// be a multiple); 0 in configs of other models.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub patch_size: usize,
    /// DyGFormer: dropout of the transformer's attention and feed-forward outputs
    /// while training (never when scoring).
    #[serde(default, skip_serializing_if = "is_zero_f")]
    pub dropout: f64,
}

fn is_zero(v: &usize) -> bool {
    *v == 0
}

fn is_zero_f(v: &f64) -> bool {
    *v == 0.0
}

/// Facts about the training data that some presets size themselves from.
#[derive(Debug, Clone, Copy)]
pub struct DataFacts {
    pub nodes: u32,
    pub events: usize,
    /// First and last timestamp of the graph.
    pub time_range: (f64, f64),
    /// Length of the validation period in time units (0 if empty).
    pub val_period: f64,
}

impl ModelConfig {
    /// The preset of `kind` for a graph with these sizes.
    pub fn preset(kind: ModelKind, num_nodes: u32, edge_dim: usize, node_dim: usize) -> ModelConfig {
        let mut c = ModelConfig {
            kind,
            num_nodes,
            edge_dim,
            node_dim,
            memory_dim: 100,
            time_dim: 100,
            emb_dim: 100,
            heads: 2,
            neighbors: 10,
            layers: 1,
            aggregator: Aggregator::Last,
            updater: Updater::Gru,
            embedding: Embedding::Attention,
            dst_embedding_in_message: false,
            mixer_layers: 2,
            token_expansion: 0.5,
            channel_expansion: 4.0,
            time_scale: 1.0,
            time_origin: 0.0,
            time_trainable: false,
            dt_max: None,
            walk_hops: 0,
            projection_dim: 0,
            decay: 0.0,
            feature_scaling: None,
            heuristic_inputs: false,
            patch_size: 0,
            dropout: 0.0,
        };
        match kind {
            ModelKind::Tgn => {}
            ModelKind::Jodie => {
                c.updater = Updater::Rnn;
                c.embedding = Embedding::TimeProjection;
                c.layers = 0;
            }
            ModelKind::Dyrep => {
                c.updater = Updater::Rnn;
                c.embedding = Embedding::Identity;
                c.dst_embedding_in_message = true;
            }
            ModelKind::Tgat => {
                c.memory_dim = 0;
                c.layers = 2;
                c.neighbors = 20;
            }
            ModelKind::Graphmixer => {
                c.memory_dim = 0;
                c.layers = 0;
                c.neighbors = 20;
            }
            ModelKind::Tpnet | ModelKind::TpnetLite => {
                c.memory_dim = 0;
                c.layers = 0;
                c.walk_hops = 3;
                // The lite model reads each endpoint's latest event only.
                c.neighbors = if kind == ModelKind::Tpnet { 20 } else { 1 };
                c.heuristic_inputs = kind == ModelKind::TpnetLite;
            }
            ModelKind::Dygformer => {
                // The paper's defaults: sequences of L = 32 (the endpoint and its 31
                // latest interactions), patches of 1, channels of 50, 2 layers of 2
                // heads, dropout 0.1.
                c.memory_dim = 0;
                c.layers = 2;
                c.neighbors = 31;
                c.emb_dim = 50;
                c.patch_size = 1;
                c.dropout = 0.1;
            }
        }
        c
    }

    /// Data-dependent defaults of the presets, once the training data is known:
    /// JODIE's time scale (a node's typical gap between events), TPNet's projection
    /// width (`10 * floor(ln(2E))`, at most the node count) and decay (`ln 2` over the
    /// validation period: a walk edge as old as that period counts half, the rule
    /// that also fixes the heuristics' half-lives and windows).
    pub fn fit_data(&mut self, f: &DataFacts) {
        let (lo, hi) = f.time_range;
        match self.kind {
            ModelKind::Jodie => {
                let per_node = (hi - lo) * f.nodes as f64 / (2.0 * f.events.max(1) as f64);
                self.time_scale = if per_node > 0.0 { per_node } else { 1.0 };
            }
            ModelKind::Tpnet | ModelKind::TpnetLite => {
                if self.projection_dim == 0 {
                    let d = 10 * ((2.0 * f.events.max(1) as f64).ln().floor() as usize).max(1);
                    self.projection_dim = d.min(f.nodes.max(1) as usize);
                }
                if self.decay == 0.0 && f.val_period > 0.0 {
                    self.decay = std::f64::consts::LN_2 / f.val_period;
                }
            }
            _ => {}
        }
    }

    pub fn has_memory(&self) -> bool {
        self.memory_dim > 0
    }

    /// Fan-outs the sampler must produce for this model.
    pub fn fanouts(&self) -> Vec<usize> {
        vec![self.neighbors; self.sampled_layers().max(1)]
    }

    /// Sampled neighbour layers the forward pass reads.
    pub fn sampled_layers(&self) -> usize {
        match self.kind {
            ModelKind::Graphmixer | ModelKind::Tpnet | ModelKind::TpnetLite | ModelKind::Dygformer => 1,
            _ => self.layers,
        }
    }

    /// Width of the per-node input of the attention layers.
    pub fn node_input_dim(&self) -> usize {
        if self.has_memory() { self.memory_dim } else { self.emb_dim }
    }

    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |m: String| Err(ModelError::Config(m));
        if self.emb_dim == 0 || self.time_dim == 0 {
            return bad("emb_dim and time_dim must be at least 1".into());
        }
        if self.neighbors == 0 {
            return bad("neighbors must be at least 1".into());
        }
        if self.heads == 0 {
            return bad("heads must be at least 1".into());
        }
        let needs_memory = matches!(self.kind, ModelKind::Tgn | ModelKind::Jodie | ModelKind::Dyrep);
        if needs_memory && self.memory_dim == 0 {
            return bad(format!("{} needs memory_dim >= 1", self.kind));
        }
        let attention =
            matches!(self.kind, ModelKind::Tgn | ModelKind::Jodie | ModelKind::Dyrep | ModelKind::Tgat);
        if matches!(self.embedding, Embedding::Attention) && attention {
            if self.layers == 0 {
                return bad("attention embedding needs at least one layer".into());
            }
            if !self.emb_dim.is_multiple_of(self.heads) {
                return bad(format!("emb_dim {} must be divisible by heads {}", self.emb_dim, self.heads));
            }
        }
        if self.dst_embedding_in_message && self.layers == 0 {
            return bad("DyRep messages need an attention layer (layers >= 1)".into());
        }
        if self.kind == ModelKind::Graphmixer && self.mixer_layers == 0 {
            return bad("graphmixer needs mixer_layers >= 1".into());
        }
        if matches!(self.kind, ModelKind::Tpnet | ModelKind::TpnetLite) {
            if self.walk_hops == 0 || self.projection_dim == 0 {
                return bad(format!("{} needs walk_hops >= 1 and projection_dim >= 1", self.kind));
            }
            if self.kind == ModelKind::Tpnet && self.mixer_layers == 0 {
                return bad("tpnet needs mixer_layers >= 1".into());
            }
            if !(self.decay.is_finite() && self.decay >= 0.0) {
                return bad(format!("decay must be finite and >= 0, got {}", self.decay));
            }
        }
        if self.kind == ModelKind::Dygformer {
            if self.layers == 0 || self.patch_size == 0 {
                return bad("dygformer needs layers >= 1 and patch_size >= 1".into());
            }
            if !(self.neighbors + 1).is_multiple_of(self.patch_size) {
                return bad(format!(
                    "dygformer's sequence length (neighbors + 1 = {}) must be a multiple of patch_size {}",
                    self.neighbors + 1,
                    self.patch_size
                ));
            }
            let width = self.emb_dim * crate::model::dygformer::channels(self);
            if !width.is_multiple_of(self.heads) {
                return bad(format!("dygformer's width {width} must be divisible by heads {}", self.heads));
            }
            if !(0.0..1.0).contains(&self.dropout) {
                return bad(format!("dropout must be in [0, 1), got {}", self.dropout));
            }
        }
        if !(self.time_scale.is_finite() && self.time_scale > 0.0) {
            return bad(format!("time_scale must be positive, got {}", self.time_scale));
        }
        if let Some(s) = &self.feature_scaling {
            s.check(self.edge_dim, self.node_dim).map_err(ModelError::Config)?;
        }
        Ok(())
    }
}
