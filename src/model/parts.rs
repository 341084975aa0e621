//! The building blocks shared by the models. Shapes: `R` roots, `K` neighbour
//! slots per root, `dt` time differences in the time unit of the data (`f32`).

use tch::nn::{self, Module};
use tch::{Kind, Tensor};

use crate::model::{gru_gates, slot_attn, time_enc};

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

    /// `dt`: any shape `[..]` -> `[.., d]`. On the CPU, when the encoding is fixed,
    /// as one fused pass ([`time_enc`]).
    pub fn forward(&self, dt: &Tensor) -> Tensor {
        self.forward_with(dt, time_enc::supported(dt, &self.w, &self.b))
    }

    /// `fused`: the fused CPU pass, else libtorch operators (any device, with
    /// gradients; the reference the fused one is tested against).
    pub fn forward_with(&self, dt: &Tensor, fused: bool) -> Tensor {
        let dt = match self.max {
            Some(m) => dt.clamp_max(m),
            None => dt.shallow_clone(),
        };
        if fused {
            time_enc::time_encode(&dt, &self.w, &self.b).unwrap_or_else(|e| panic!("{e}"))
        } else {
            (dt.unsqueeze(-1) * &self.w + &self.b).cos()
        }
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
/// The key/value projection `W [2a, in]` of `x = [node, time, edge]` is kept as one
/// projection per part (the same linear map), and keys and values are never
/// formed per slot: with `q_h` the scaled query of head `h` and `Wk_h`, `Wv_h` its
/// rows of `W`, the score is `q_h . (Wk_h x + bk_h) = (Wk_h^T q_h) . x + const`
/// (the key bias shifts every score of a row equally, so softmax drops it) and the
/// output is `sum_k a_k (Wv_h x_k + bv_h) = Wv_h (sum_k a_k x_k) + bv_h`. So the
/// query moves into input space once per root (`[R, H, in]`), scores and the
/// attention-weighted input sums are batched products over the `K` slots, and the
/// value projection runs once per root and head: `K a / (a + K H)` times fewer
/// multiply-adds than projecting all `R x K` slots to `2a` (8x for TGN's K = 10,
/// a = 100, H = 2; that projection was the largest cost of a CPU training step),
/// and no `[R, K, H, dh]` temporaries. TGAT's query `[h, time_enc(0)]` is the same
/// as a query bias, which `q` carries.
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

    /// `root [R, n]` and the neighbours (see [`KeyInputs`]) -> `[R, out]`. On the
    /// CPU the slot-level core runs as one fused operator ([`slot_attn`]).
    pub fn forward(&self, root: &Tensor, kin: &KeyInputs<'_>) -> Tensor {
        self.forward_with(root, kin, slot_attn::supported(root))
    }

    /// `fused`: the slot core as the fused CPU operator, else as libtorch operators
    /// (any device; the reference the fused one is tested against).
    pub fn forward_with(&self, root: &Tensor, kin: &KeyInputs<'_>, fused: bool) -> Tensor {
        let (r, k) = (kin.mask.size()[0], kin.mask.size()[1]);
        let (h, a) = (self.heads, self.dim);
        let dh = a / h;
        // One projection for all parts: `W = [W_node | W_time | W_edge]` along inputs
        // (key rows, then value rows). Keys and values are never formed: see the
        // type's doc. Splits rather than narrows: their gradients are joined by one
        // `cat`, where each narrow would zero-fill a full-size gradient.
        let mut ws = vec![&self.kv_node.ws, &self.kv_time.ws];
        if let (Some(lin), Some(_)) = (&self.kv_edge, kin.edge) {
            ws.push(&lin.ws);
        }
        let w = Tensor::cat(&ws, 1);
        let width = w.size()[1];
        let wkv = w.split(a, 0);
        let q = (self.q.forward(root) / (dh as f64).sqrt()).view([r, h, dh]).transpose(0, 1); // [H, R, dh]
        let qx = q.bmm(&wkv[0].view([h, dh, width])); // [H, R, in]: the query in input space
        let edge = if ws.len() > 2 { kin.edge } else { None };
        // Attention-weighted inputs `[H, R, in]`.
        let xbar = if fused {
            slot_attn::slot_attention(kin.nodes, kin.index, kin.time, edge, &qx, kin.mask)
                .unwrap_or_else(|e| panic!("{e}"))
        } else {
            self.slot_core_ops(&qx, kin, edge, r, k)
        };
        // The value projection per head.
        let wv = wkv[1].view([h, dh, width]).transpose(1, 2); // [H, in, dh]
        let out = xbar.bmm(&wv).transpose(0, 1).reshape([r, a]);
        // Rows with no neighbour: attention weights all zero, so the value bias
        // (weights summing to one elsewhere) and the output are exactly zero.
        let any = kin.mask.any_dim(1, true).to_kind(Kind::Float);
        let out = match &self.kv_time.bs {
            Some(b) => out + b.narrow(0, a, a) * &any,
            None => out,
        };
        let out = self.o.forward(&out) * any;
        self.merge.forward(&Tensor::cat(&[&out, root], 1))
    }

    /// The slot core in libtorch operators: `qx [H, R, in]` -> `xbar [H, R, in]`.
    fn slot_core_ops(
        &self,
        qx: &Tensor,
        kin: &KeyInputs<'_>,
        edge: Option<&Tensor>,
        r: i64,
        k: i64,
    ) -> Tensor {
        let node = match kin.index {
            Some(ix) => kin.nodes.index_select(0, ix),
            None => kin.nodes.shallow_clone(),
        };
        let mut parts = vec![node.view([r, k, -1]), kin.time.view([r, k, -1])];
        if let Some(e) = edge {
            parts.push(e.view([r, k, -1]));
        }
        let widths: Vec<i64> = parts.iter().map(|x| x.size()[2]).collect();
        let qx = qx.split_with_sizes(&widths, 2);
        let mut scores: Option<Tensor> = None; // [R, K, H]
        for (x, qx) in parts.iter().zip(&qx) {
            let s = x.bmm(&qx.permute([1, 2, 0]));
            scores = Some(match scores {
                Some(acc) => acc + s,
                None => s,
            });
        }
        let scores = scores.expect("node and time parts");
        let m = kin.mask.view([r, k, 1]);
        let scores = scores.masked_fill(&m.logical_not(), -1e30);
        let attn = (scores.softmax(1, Kind::Float) * m.to_kind(Kind::Float)).transpose(1, 2); // [R, H, K]
        Tensor::cat(&parts.iter().map(|x| attn.bmm(x)).collect::<Vec<_>>(), 2).transpose(0, 1)
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

    /// `emb [R, e]` projected as sources only (with the hidden layer's bias).
    pub fn project_src(&self, emb: &Tensor) -> Tensor {
        self.src.forward(emb)
    }

    /// `emb [R, e]` projected as destinations only.
    pub fn project_dst(&self, emb: &Tensor) -> Tensor {
        self.dst.forward(emb)
    }

    /// Width of the hidden layer (and of the embeddings).
    pub fn width(&self) -> usize {
        self.dst.ws.size()[0] as usize
    }

    /// The last layer as host values, for [`crate::eval::sides::SideDecoder`];
    /// `None` if it cannot be read as `f32`.
    pub fn side_decoder(&self) -> Option<crate::eval::sides::SideDecoder> {
        let w =
            Vec::<f32>::try_from(self.out.ws.detach().to_device(tch::Device::Cpu).contiguous().view([-1]))
                .ok()?;
        let b = self.out.bs.as_ref().map_or(0.0, |b| b.double_value(&[0]) as f32);
        Some(crate::eval::sides::SideDecoder { w, b })
    }

    /// Logits of the `m` positive pairs `(emb[i], emb[m + i])` and the `m` negative
    /// pairs `(emb[i], emb[2m + i])` of `emb [3m, e]` -> `[2, m]` (positives, then
    /// negatives): each row projected only in the role it plays, and no gathers.
    pub fn pair_logits(&self, emb: &Tensor, m: i64) -> Tensor {
        let ps = self.src.forward(&emb.narrow(0, 0, m)); // [m, e]
        let pd = self.dst.forward(&emb.narrow(0, m, 2 * m)).view([2, m, -1]); // [2, m, e]
        self.out.forward(&(pd + ps).relu()).squeeze_dim(-1)
    }

    /// Logits of every pair of projected sources `ps [S, e]` and destinations
    /// `pd [C, e]` -> `[S, C]`, a few sources at a time so the `[s, C, e]` hidden
    /// layer stays near 64 MB.
    pub fn grid_logits(&self, ps: &Tensor, pd: &Tensor) -> Tensor {
        if ps.device() == tch::Device::Cpu && ps.kind() == Kind::Float && pd.kind() == Kind::Float {
            if let Some(t) = self.grid_logits_cpu(ps, pd) {
                return t;
            }
        }
        let (s, c, e) = (ps.size()[0], pd.size()[0], pd.size()[1]);
        let step = ((1i64 << 24) / (c * e).max(1)).clamp(1, s.max(1));
        let pd = pd.unsqueeze(0);
        let parts: Vec<Tensor> = (0..s)
            .step_by(step as usize)
            .map(|lo| {
                let n = step.min(s - lo);
                let h = (ps.narrow(0, lo, n).unsqueeze(1) + &pd).relu();
                self.out.forward(&h).squeeze_dim(-1)
            })
            .collect();
        if parts.is_empty() {
            Tensor::zeros([0, c], (ps.kind(), ps.device()))
        } else {
            Tensor::cat(&parts, 0)
        }
    }

    /// [`LinkDecoder::grid_logits`] on the CPU in one fused pass: `w . relu(a + d) + b`
    /// per pair without materialising the `[S, C, e]` hidden layer (which makes the
    /// broadcast form memory-bound). Blocks of 8 sources sweep tiles of 256
    /// candidates, so a tile's rows stay in cache across the block; blocks run on
    /// rayon. Sums in 8 lanes, so it differs from libtorch's `Linear` only by float
    /// rounding. `None` if a tensor cannot be read as `f32` (the caller falls back).
    fn grid_logits_cpu(&self, ps: &Tensor, pd: &Tensor) -> Option<Tensor> {
        use rayon::prelude::*;
        let (s, c, e) = (ps.size()[0] as usize, pd.size()[0] as usize, pd.size()[1] as usize);
        let a = Vec::<f32>::try_from(ps.contiguous().view([-1])).ok()?;
        let d = Vec::<f32>::try_from(pd.contiguous().view([-1])).ok()?;
        let w = Vec::<f32>::try_from(self.out.ws.detach().contiguous().view([-1])).ok()?;
        let b = self.out.bs.as_ref().map_or(0.0, |b| b.double_value(&[0]) as f32);
        if w.len() != e || a.len() != s * e || d.len() != c * e {
            return None;
        }
        const ROWS: usize = 8;
        const TILE: usize = 256;
        let mut out = vec![0f32; s * c];
        out.par_chunks_mut(ROWS * c.max(1)).enumerate().for_each(|(blk, rows)| {
            for lo in (0..c).step_by(TILE) {
                let hi = (lo + TILE).min(c);
                for (r, row) in rows.chunks_mut(c).enumerate() {
                    let src = &a[(blk * ROWS + r) * e..][..e];
                    for j in lo..hi {
                        row[j] = crate::eval::sides::hidden_dot(src, &d[j * e..][..e], &w) + b;
                    }
                }
            }
        });
        Some(Tensor::from_slice(&out).view([s as i64, c as i64]))
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

    /// On the CPU the GRU's gates run as one fused operator ([`gru_gates`]).
    pub fn forward(&self, msg: &Tensor, mem: &Tensor) -> Tensor {
        self.forward_with(msg, mem, gru_gates::supported(mem))
    }

    /// `fused`: the GRU's two products, then the fused gates; else libtorch's
    /// `gru_cell` (any device; the reference the fused form is tested against).
    pub fn forward_with(&self, msg: &Tensor, mem: &Tensor, fused: bool) -> Tensor {
        if self.gru && fused {
            let gi = msg.linear(&self.w_ih, Some(&self.b_ih));
            let gh = mem.linear(&self.w_hh, Some(&self.b_hh));
            gru_gates::gru_gates(&gi, &gh, mem).unwrap_or_else(|e| panic!("{e}"))
        } else if self.gru {
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

    /// Slow oracle for the factored attention: per root and head, form every key
    /// and value from the concatenated slot input `[node, edge, time]` with the
    /// full projection (biases included), softmax over the valid slots, project.
    fn attention_oracle(att: &TemporalAttention, root: &Tensor, kin: &KeyInputs<'_>) -> Tensor {
        let (r, k) = (kin.mask.size()[0], kin.mask.size()[1]);
        let (h, a) = (att.heads, att.dim);
        let dh = a / h;
        let node = kin.index.map_or(kin.nodes.shallow_clone(), |ix| kin.nodes.index_select(0, ix));
        let mut w = vec![&att.kv_node.ws];
        let mut x = vec![node];
        if let (Some(lin), Some(e)) = (&att.kv_edge, kin.edge) {
            w.push(&lin.ws);
            x.push(e.shallow_clone());
        }
        w.push(&att.kv_time.ws);
        x.push(kin.time.shallow_clone());
        let w = Tensor::cat(&w, 1);
        let x = Tensor::cat(&x, 1);
        let kv = x.matmul(&w.tr()) + att.kv_time.bs.as_ref().unwrap(); // [R*K, 2a]
        let q = att.q.forward(root);
        let mut rows = Vec::new();
        for i in 0..r {
            let mut heads = Vec::new();
            for j in 0..h {
                let qi = q.get(i).narrow(0, j * dh, dh);
                let mut scores = Vec::new();
                let mut vals = Vec::new();
                for s in 0..k {
                    if bool::try_from(kin.mask.get(i).get(s)).unwrap() {
                        let row = kv.get(i * k + s);
                        let key = row.narrow(0, j * dh, dh);
                        scores.push((qi.dot(&key) / (dh as f64).sqrt()).unsqueeze(0));
                        vals.push(row.narrow(0, a + j * dh, dh).unsqueeze(0));
                    }
                }
                heads.push(if scores.is_empty() {
                    Tensor::zeros([dh], (Kind::Float, tch::Device::Cpu))
                } else {
                    let p = Tensor::cat(&scores, 0).softmax(0, Kind::Float);
                    p.unsqueeze(0).matmul(&Tensor::cat(&vals, 0)).squeeze_dim(0)
                });
            }
            let any = f64::from(bool::try_from(kin.mask.get(i).any()).unwrap());
            let out = Tensor::cat(&heads, 0);
            rows.push((att.o.forward(&out) * any).unsqueeze(0));
        }
        att.merge.forward(&Tensor::cat(&[&Tensor::cat(&rows, 0), root], 1))
    }

    #[test]
    fn factored_attention_equals_per_slot_keys_and_values() {
        tch::manual_seed(7);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let (r, k, n, e, t) = (6i64, 4i64, 8usize, 3usize, 5usize);
        let att = TemporalAttention::new(vs.root() / "a", n, e, t, 2, 12);
        // Give the key bias a value: the factored form drops it (softmax-invariant).
        tch::no_grad(|| {
            let _ = att.kv_time.bs.as_ref().unwrap().shallow_clone().uniform_(-1.0, 1.0);
        });
        let f = (Kind::Float, tch::Device::Cpu);
        let root = Tensor::randn([r, n as i64], f).set_requires_grad(true);
        // 9 node rows for 24 slots: repeated rows, whose gradients must add up.
        let nodes = Tensor::randn([9, n as i64], f).set_requires_grad(true);
        let index = Tensor::randint(9, [r * k], (Kind::Int64, tch::Device::Cpu));
        let time = Tensor::randn([r * k, t as i64], f).set_requires_grad(true);
        let edge = Tensor::randn([r * k, e as i64], f).set_requires_grad(true);
        // Row 2 has no valid slot, row 4 only one.
        let m: Vec<bool> =
            (0..r * k).map(|i| (i / k != 2) && (i / k != 4 || i % k == 1) && i % 3 != 0).collect();
        let mask = Tensor::from_slice(&m).view([r, k]);
        let kin =
            KeyInputs { nodes: &nodes, index: Some(&index), time: &time, edge: Some(&edge), mask: &mask };
        let slow = attention_oracle(&att, &root, &kin);
        // Both forms of the slot core: libtorch operators and the fused CPU operator.
        for fused in [false, true] {
            let fast = att.forward_with(&root, &kin, fused);
            let diff = (&fast - &slow).abs().max().double_value(&[]);
            assert!(diff < 1e-5, "factored attention (fused {fused}) differs from the oracle by {diff}");
            // Same gradients into the slot inputs and the projections (the key bias
            // aside: it gets none, as the exact gradient through softmax is zero).
            let grads = |out: &Tensor| {
                let w = [
                    &nodes,
                    &time,
                    &edge,
                    &root,
                    &att.kv_node.ws,
                    &att.kv_time.ws,
                    &att.q.ws,
                    att.q.bs.as_ref().unwrap(),
                    &att.kv_edge.as_ref().unwrap().ws,
                ];
                Tensor::run_backward(&[(out * out).sum(Kind::Float)], &w, true, false)
            };
            for (i, (gf, gs)) in grads(&fast).iter().zip(grads(&slow).iter()).enumerate() {
                assert!(gf.defined(), "fused {fused}: gradient {i} missing");
                let d = (gf - gs).abs().max().double_value(&[]);
                let scale = gs.abs().max().double_value(&[]);
                assert!(scale > 0.0, "gradient {i} of the oracle is zero: the check would be empty");
                assert!(
                    d <= 1e-5 * scale.max(1.0),
                    "fused {fused}: gradient {i} differs by {d} (largest {scale})"
                );
            }
            // The comparison is sensitive: leaving a part out is caught.
            let kin_no_edge = KeyInputs { edge: None, ..kin };
            let diff_edge =
                (&att.forward_with(&root, &kin_no_edge, fused) - &slow).abs().max().double_value(&[]);
            assert!(diff_edge > 1e-3, "the edge part must matter to the comparison");
        }
    }

    /// Deeper layers pass one row per slot (no index), and graphs without edge
    /// features have no edge part: the fused operator equals the operator form
    /// there too, in values and gradients.
    #[test]
    fn fused_slot_core_equals_operators_without_index_or_edges() {
        tch::manual_seed(11);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let (r, k, n, t) = (7i64, 5i64, 6usize, 4usize);
        let att = TemporalAttention::new(vs.root() / "a", n, 0, t, 2, 8);
        let f = (Kind::Float, tch::Device::Cpu);
        let root = Tensor::randn([r, n as i64], f).set_requires_grad(true);
        let nodes = Tensor::randn([r * k, n as i64], f).set_requires_grad(true);
        let time = Tensor::randn([r * k, t as i64], f).set_requires_grad(true);
        let mask = Tensor::from_slice(&(0..r * k).map(|i| i / k != 3 && i % 4 != 1).collect::<Vec<_>>())
            .view([r, k]);
        let kin = KeyInputs { nodes: &nodes, index: None, time: &time, edge: None, mask: &mask };
        let run = |fused: bool| {
            let out = att.forward_with(&root, &kin, fused);
            let w = [&nodes, &time, &root, &att.kv_node.ws, &att.kv_time.ws, &att.q.ws];
            let g = Tensor::run_backward(&[(&out * &out).sum(Kind::Float)], &w, true, false);
            (out, g)
        };
        let (a, ga) = run(false);
        let (b, gb) = run(true);
        assert!((&a - &b).abs().max().double_value(&[]) < 1e-5);
        for (i, (x, y)) in ga.iter().zip(&gb).enumerate() {
            let d = (x - y).abs().max().double_value(&[]);
            assert!(d <= 1e-5 * x.abs().max().double_value(&[]).max(1.0), "gradient {i} differs by {d}");
        }
        // Root 3 has no valid slot: its attention output is zero, so its row is the
        // merge MLP of [0, root] alone, and its slots get no gradient.
        let g_time = &gb[1];
        assert_eq!(g_time.narrow(0, 3 * k, k).abs().max().double_value(&[]), 0.0);
        // Bad inputs are errors, not stray reads.
        let bad = Tensor::from_slice(&vec![r * k; (r * k) as usize]);
        let q = Tensor::zeros([2, r, (n + t) as i64], f);
        let err = slot_attn::slot_attention(&nodes, Some(&bad), &time, None, &q, &mask).unwrap_err();
        assert!(err.to_string().contains("index out of range"), "{err}");
    }

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

    #[test]
    fn pair_logits_equal_gathered_pairs() {
        tch::manual_seed(5);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let dec = LinkDecoder::new(vs.root() / "d", 8);
        let m = 7;
        let emb = Tensor::randn([3 * m, 8], (Kind::Float, tch::Device::Cpu)).set_requires_grad(true);
        let both = dec.pair_logits(&emb, m);
        let (ps, pd) = dec.project(&emb);
        let a = Tensor::arange(m, (Kind::Int64, tch::Device::Cpu));
        let pos = dec.logits(&ps, &pd, &a, &(&a + m));
        let neg = dec.logits(&ps, &pd, &a, &(&a + 2 * m));
        let reference = Tensor::stack(&[pos, neg], 0);
        assert_eq!(both.size(), vec![2, m]);
        assert!(both.allclose(&reference, 1e-6, 1e-6, false), "{both} vs {reference}");
        let w = Tensor::randn([2, m], (Kind::Float, tch::Device::Cpu));
        let g1 = Tensor::run_backward(&[(&both * &w).sum(Kind::Float)], &[&emb], false, false);
        let g2 = Tensor::run_backward(&[(&reference * &w).sum(Kind::Float)], &[&emb], false, false);
        assert!(g1[0].allclose(&g2[0], 1e-6, 1e-6, false));
        // The negative pairs read rows 2m.., not the positives' destinations.
        assert!(!both.get(1).allclose(&both.get(0), 1e-3, 1e-3, false));
    }

    /// The fused time encoding against the operator form (libtorch's cos): every
    /// frequency, gaps from 0 (padding) through fractions of a unit to 3e9 (past
    /// the fused pass's reduction range), negative gaps, and a clamp.
    #[test]
    fn fused_time_encoding_equals_operators() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let mut enc = TimeEncoder::new(vs.root() / "t", 100, false);
        tch::no_grad(|| enc.b.copy_(&(Tensor::randn([100], (Kind::Float, tch::Device::Cpu)) * 3.0)));
        let mut gaps: Vec<f32> = vec![0.0, -0.0, 1e-3, 0.5, 1.0, 3.0, 7.5, 60.0, 3600.0, 86_400.0, -42.0];
        gaps.extend((0..2000).map(|i| 1.37f32.powi(i % 70) * (1.0 + i as f32 * 1e-3)));
        gaps.extend([9.99e8, 1.2e9, 3e9, -2.5e9, 1.6e7 + 0.5]);
        let dt = Tensor::from_slice(&gaps).view([-1, 4]);
        let check = |enc: &TimeEncoder| {
            let fused = enc.forward_with(&dt, true);
            let ops = enc.forward_with(&dt, false);
            assert_eq!(fused.size(), vec![dt.size()[0], 4, 100]);
            let worst = (&fused - &ops).abs().max().double_value(&[]);
            // Two float ulps at 1 (both sides are within about one of the true cos).
            assert!(worst <= 1.2e-7, "fused and operator time encodings differ by {worst:e}");
        };
        assert!(time_enc::supported(&dt, &enc.w, &enc.b));
        check(&enc);
        enc.max = Some(1e5);
        check(&enc);
        // A trainable encoding needs gradients: the operator form runs.
        let train = TimeEncoder::new(vs.root() / "tt", 8, true);
        assert!(!time_enc::supported(&dt, &train.w, &train.b));
        // A wrong polynomial would not pass: the reference itself is not constant.
        assert!(enc.forward_with(&dt, false).std(true).double_value(&[]) > 0.1);
    }

    /// The fused GRU gates against libtorch's `gru_cell`: the new state and the
    /// gradients to both weights, both biases, the message and the state, with
    /// pre-activations from small to saturating.
    #[test]
    fn fused_gru_gates_equal_gru_cell() {
        tch::manual_seed(11);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let cell = MemoryCell::new(vs.root() / "gru", 12, 16, true);
        let f = (Kind::Float, tch::Device::Cpu);
        // Rows scaled from 0.01 to 30: gates from linear to saturated.
        let scale = Tensor::logspace(-2.0, 1.5, 37, 10.0, f).unsqueeze(1);
        let msg = (Tensor::randn([37, 12], f) * &scale).set_requires_grad(true);
        let mem = (Tensor::randn([37, 16], f) * &scale).tanh().set_requires_grad(true);
        let w = Tensor::randn([37, 16], f);
        let mut inputs: Vec<Tensor> = vs.trainable_variables();
        inputs.extend([msg.shallow_clone(), mem.shallow_clone()]);
        let run = |fused: bool| {
            let out = cell.forward_with(&msg, &mem, fused);
            let grads = Tensor::run_backward(&[(&out * &w).sum(Kind::Float)], &inputs, false, false);
            (out, grads)
        };
        let (fo, fg) = run(true);
        let (ro, rg) = run(false);
        let diff = (&fo - &ro).abs().max().double_value(&[]);
        assert!(diff < 1e-6, "new state differs by {diff:e}");
        for (i, (a, b)) in fg.iter().zip(&rg).enumerate() {
            let d = (a - b).abs().max().double_value(&[]);
            let size = b.abs().max().double_value(&[]);
            assert!(d <= 1e-5 * size.max(1.0), "gradient {i} differs by {d:e} (largest {size:e})");
        }
        // Not a vacuous comparison: the state moved and the gradients are not zero.
        assert!((&fo - &mem).abs().max().double_value(&[]) > 0.1);
        assert!(rg.iter().all(|g| g.abs().max().double_value(&[]) > 1e-3));
    }
}
