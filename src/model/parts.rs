//! The building blocks shared by the models. Shapes: `R` roots, `K` neighbour
//! slots per root, `dt` time differences in the time unit of the data (`f32`).

use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// `cos(w * dt + b)`, `w` initialised to `10^-linspace(0, 9, d)` (TGN / TGAT), so
/// the encoding resolves differences from one unit to a billion; trainable.
#[derive(Debug)]
pub struct TimeEncoder {
    pub w: Tensor,
    pub b: Tensor,
    /// Clamp differences to this before encoding (see `ModelConfig::dt_max`).
    pub max: Option<f64>,
}

impl TimeEncoder {
    pub fn new(p: nn::Path<'_>, dim: usize, trainable: bool) -> TimeEncoder {
        let d = dim as i64;
        let mut w = if trainable { p.zeros("w", &[d]) } else { p.zeros_no_train("w", &[d]) };
        let mut b = if trainable { p.zeros("b", &[d]) } else { p.zeros_no_train("b", &[d]) };
        tch::no_grad(|| {
            let init = frequencies(dim).to_device(w.device());
            w.copy_(&init);
            let _ = b.zero_();
        });
        TimeEncoder { w, b, max: None }
    }

    /// `dt`: any shape `[..]` -> `[.., d]`.
    pub fn forward(&self, dt: &Tensor) -> Tensor {
        let dt = match self.max {
            Some(m) => dt.clamp_max(m),
            None => dt.shallow_clone(),
        };
        (dt.unsqueeze(-1) * &self.w + &self.b).cos()
    }
}

/// `10^-(9 i / (d-1))`, the TGN initialisation; GraphMixer's fixed encoding uses
/// `alpha^-(i / beta)` with `alpha = beta = sqrt(d)`, which for `d = 100` is the
/// same geometric ladder over ten decades.
fn frequencies(dim: usize) -> Tensor {
    let v: Vec<f32> = (0..dim)
        .map(|i| {
            let x = if dim > 1 { 9.0 * i as f64 / (dim - 1) as f64 } else { 0.0 };
            10f64.powf(-x) as f32
        })
        .collect();
    Tensor::from_slice(&v)
}

/// Two linear layers with a ReLU between them.
#[derive(Debug)]
pub struct Mlp {
    pub fc1: nn::Linear,
    pub fc2: nn::Linear,
}

impl Mlp {
    pub fn new(p: nn::Path<'_>, input: usize, hidden: usize, out: usize) -> Mlp {
        Mlp {
            fc1: nn::linear(&p / "fc1", input as i64, hidden as i64, Default::default()),
            fc2: nn::linear(&p / "fc2", hidden as i64, out as i64, Default::default()),
        }
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        self.fc2.forward(&self.fc1.forward(x).relu())
    }
}

/// One temporal graph-attention layer (TGAT / TGN): the query is the root's input;
/// keys and values are each neighbour's input, the edge's features and
/// `time_enc(t_root - t_neighbour)`. Multi-head attention of width `out_dim`, then a
/// merge MLP over `[attention output, root input]`. Rows without any valid
/// neighbour get a zero attention output (not NaN).
///
/// The key/value projection of `[node, edge, time]` is split into one projection
/// per part (the same linear map): the node part is computed once per distinct
/// neighbour and gathered, so only the time and edge parts cost a matrix product
/// per slot. TGAT's query `[h, time_enc(0)]` is the same as a query bias, which
/// `q` carries.
#[derive(Debug)]
pub struct TemporalAttention {
    heads: i64,
    dim: i64,
    q: nn::Linear,
    kv_node: nn::Linear,
    kv_time: nn::Linear,
    kv_edge: Option<nn::Linear>,
    o: nn::Linear,
    merge: Mlp,
}

/// Neighbour inputs of one attention call: `nodes [M, n]` with `index [R * K]`
/// selecting each slot's row (or `None` when the rows are the slots themselves),
/// `time [R * K, t]` (encoded), `edge [R * K, e]` (or `None`) and `mask [R, K]` (bool).
pub struct KeyInputs<'a> {
    pub nodes: &'a Tensor,
    pub index: Option<&'a Tensor>,
    pub time: &'a Tensor,
    pub edge: Option<&'a Tensor>,
    pub mask: &'a Tensor,
}

impl TemporalAttention {
    /// `node_dim`: width of node inputs; `edge_dim`, `time_dim`; output `out_dim`.
    pub fn new(
        p: nn::Path<'_>,
        node_dim: usize,
        edge_dim: usize,
        time_dim: usize,
        heads: usize,
        out_dim: usize,
    ) -> TemporalAttention {
        let a = out_dim as i64;
        let nb = || nn::LinearConfig { bias: false, ..Default::default() };
        TemporalAttention {
            heads: heads as i64,
            dim: a,
            q: nn::linear(&p / "q", node_dim as i64, a, Default::default()),
            kv_node: nn::linear(&p / "kv_node", node_dim as i64, 2 * a, nb()),
            kv_time: nn::linear(&p / "kv_time", time_dim as i64, 2 * a, Default::default()),
            kv_edge: (edge_dim > 0).then(|| nn::linear(&p / "kv_edge", edge_dim as i64, 2 * a, nb())),
            o: nn::linear(&p / "o", a, a, Default::default()),
            merge: Mlp::new(&p / "merge", out_dim + node_dim, out_dim, out_dim),
        }
    }

    /// `root [R, n]` and the neighbours (see [`KeyInputs`]) -> `[R, out]`.
    pub fn forward(&self, root: &Tensor, kin: &KeyInputs<'_>) -> Tensor {
        let (r, k) = (kin.mask.size()[0], kin.mask.size()[1]);
        let (h, a) = (self.heads, self.dim);
        let dh = a / h;
        // Keys and values `[R * K, 2a]`: the node part (with the time part's bias)
        // per distinct row, gathered per slot, then the time and edge products
        // accumulated into it by `addmm`, with no separate sum or bias broadcast.
        let mut node = self.kv_node.forward(kin.nodes);
        if let Some(b) = &self.kv_time.bs {
            node = node + b;
        }
        let node = match kin.index {
            Some(ix) => node.index_select(0, ix),
            None => node,
        };
        let mut kv = node.addmm(kin.time, &self.kv_time.ws.tr());
        if let (Some(lin), Some(e)) = (&self.kv_edge, kin.edge) {
            kv = kv.addmm(e, &lin.ws.tr());
        }
        // Scores and the weighted sum as broadcast products over `[R, K, H, dh]`
        // views (with K = 10 these beat R x H tiny batched matrix products), and
        // keys and values split without copies (their gradients are joined by one
        // `cat`, where two `select`s would each zero-fill a full-size gradient).
        let kv = kv.view([r, k, 2 * a]);
        let kv = kv.split(a, -1);
        let key = kv[0].view([r, k, h, dh]);
        let val = kv[1].view([r, k, h, dh]);
        let q = self.q.forward(root).view([r, 1, h, dh]);
        let scores = (q * key).sum_dim_intlist(-1, false, Kind::Float) / (dh as f64).sqrt(); // [R, K, H]
        let m = kin.mask.view([r, k, 1]);
        let scores = scores.masked_fill(&m.logical_not(), -1e30);
        let attn = scores.softmax(1, Kind::Float) * m.to_kind(Kind::Float);
        let out = (attn.unsqueeze(-1) * val).sum_dim_intlist(1, false, Kind::Float).view([r, a]);
        // Rows with no neighbour: attention output exactly zero.
        let any = kin.mask.any_dim(1, true).to_kind(Kind::Float);
        let out = self.o.forward(&out) * any;
        self.merge.forward(&Tensor::cat(&[&out, root], 1))
    }
}

/// The link decoder: `w . relu(W_s z_src + W_d z_dst + b)`. `project` is
/// computed once per root, so scoring many candidates per source reuses it.
#[derive(Debug)]
pub struct LinkDecoder {
    src: nn::Linear,
    dst: nn::Linear,
    out: nn::Linear,
}

impl LinkDecoder {
    pub fn new(p: nn::Path<'_>, emb: usize) -> LinkDecoder {
        let e = emb as i64;
        LinkDecoder {
            src: nn::linear(&p / "src", e, e, Default::default()),
            dst: nn::linear(&p / "dst", e, e, nn::LinearConfig { bias: false, ..Default::default() }),
            out: nn::linear(&p / "out", e, 1, Default::default()),
        }
    }

    /// `emb [R, e]` -> (`[R, e]` as sources, `[R, e]` as destinations).
    pub fn project(&self, emb: &Tensor) -> (Tensor, Tensor) {
        (self.src.forward(emb), self.dst.forward(emb))
    }

    /// Logits for pairs `(a[i], b[i])` of projected rows (`i64` indices) -> `[Q]`.
    pub fn logits(&self, ps: &Tensor, pd: &Tensor, a: &Tensor, b: &Tensor) -> Tensor {
        let h = (ps.index_select(0, a) + pd.index_select(0, b)).relu();
        self.out.forward(&h).squeeze_dim(-1)
    }
}

/// The memory updater: a GRU or a tanh-RNN cell, `(message [n, m], memory [n, d]) -> [n, d]`.
#[derive(Debug)]
pub struct MemoryCell {
    gru: bool,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor,
    b_hh: Tensor,
}

impl MemoryCell {
    pub fn new(p: nn::Path<'_>, input: usize, hidden: usize, gru: bool) -> MemoryCell {
        let g = if gru { 3 } else { 1 } * hidden as i64;
        let bound = 1.0 / (hidden as f64).sqrt();
        let u = || nn::Init::Uniform { lo: -bound, up: bound };
        MemoryCell {
            gru,
            w_ih: p.var("w_ih", &[g, input as i64], u()),
            w_hh: p.var("w_hh", &[g, hidden as i64], u()),
            b_ih: p.var("b_ih", &[g], u()),
            b_hh: p.var("b_hh", &[g], u()),
        }
    }

    pub fn forward(&self, msg: &Tensor, mem: &Tensor) -> Tensor {
        if self.gru {
            msg.gru_cell(mem, &self.w_ih, &self.w_hh, Some(&self.b_ih), Some(&self.b_hh))
        } else {
            msg.rnn_tanh_cell(mem, &self.w_ih, &self.w_hh, Some(&self.b_ih), Some(&self.b_hh))
        }
    }
}

/// One MLP-mixer block over `[R, K, C]`: token mixing across the `K` slots, then
/// channel mixing, each a layer-normed residual MLP (GraphMixer).
#[derive(Debug)]
pub struct MixerBlock {
    token_norm: nn::LayerNorm,
    token: Mlp,
    channel_norm: nn::LayerNorm,
    channel: Mlp,
}

impl MixerBlock {
    pub fn new(p: nn::Path<'_>, tokens: usize, channels: usize, token_exp: f64, channel_exp: f64) -> Self {
        let th = ((tokens as f64 * token_exp).round() as usize).max(1);
        let ch = ((channels as f64 * channel_exp).round() as usize).max(1);
        let c = channels as i64;
        MixerBlock {
            token_norm: nn::layer_norm(&p / "token_norm", vec![c], Default::default()),
            token: Mlp::new(&p / "token", tokens, th, tokens),
            channel_norm: nn::layer_norm(&p / "channel_norm", vec![c], Default::default()),
            channel: Mlp::new(&p / "channel", channels, ch, channels),
        }
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        let y = self.token_norm.forward(x).transpose(1, 2);
        let x = x + self.token.forward_gelu(&y).transpose(1, 2);
        let y = self.channel_norm.forward(&x);
        &x + self.channel.forward_gelu(&y)
    }
}

impl Mlp {
    /// Like [`Mlp::forward`] with GELU (the mixer's activation).
    pub fn forward_gelu(&self, x: &Tensor) -> Tensor {
        self.fc2.forward(&self.fc1.forward(x).gelu("none"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_encoder_clamps_long_gaps_to_dt_max() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let mut enc = TimeEncoder::new(vs.root() / "t", 16, false);
        let dt = Tensor::from_slice(&[5.0f32, 10.0, 1e6]);
        let free = enc.forward(&dt);
        enc.max = Some(10.0);
        let clamped = enc.forward(&dt);
        let row = |t: &Tensor, i: i64| Vec::<f32>::try_from(t.get(i)).unwrap();
        assert_eq!(row(&clamped, 2), row(&clamped, 1), "a gap beyond dt_max encodes as dt_max");
        assert_eq!(row(&clamped, 0), row(&free, 0), "shorter gaps are untouched");
        assert_ne!(row(&free, 2), row(&free, 1), "without the clamp the long gap differs");
    }
}
