//! TPNet's state: random projections `H^(l) = A^(l) P` of the temporal walk
//! matrices `A^(0) = I, A^(1), ..., A^(k)` (Lu et al., NeurIPS 2024).
//!
//! `A^(l)_{u,v}(t)` sums, over the walks of `l` edges from `u` to `v` that run
//! backwards in time over events before `t`, the product of `exp(-lambda (t - t_i))`
//! over the walk's edges. `P` is `N x d` with i.i.d. `N(0, 1/d)` entries; row `v` is
//! a function of `(seed, v)` alone, so a node added while serving gets the row a
//! replay would give it. Inner products of projected rows estimate inner products
//! of walk-matrix rows (Johnson-Lindenstrauss), which count and weigh the walks
//! between two nodes: pair features no node embedding carries.
//!
//! Shapes: `layers[l]` is `[N, d]` (f32, on the model's device), valid at `time`
//! (the last absorbed event's time). Absorbing a batch whose last time is `T`:
//! (1) layer `l` is scaled by `exp(-lambda (T - time))^l`; (2) for `l = k..1`, each
//! event `(u, v, t_e)` adds `exp(-lambda (T - t_e)) H^(l-1)[v]` into `H^(l)[u]` and
//! the reverse, reading the pre-batch `H^(l-1)` (descending `l` makes that so).
//! Only differences of times are exponentiated: `exp(lambda t)` of an absolute time
//! would overflow. A query at `t >= time` decays the stored layers to `t` exactly.
//!
//! A node without any absorbed event has `A^(l)_{u,v} = 0` for `l >= 1` and
//! `A^(0)_{u,v} = 0` for `u != v`: its projected row would only add noise to pair
//! features, so it is replaced by zeros there (`seen`). That is exact, and it makes
//! an unknown node scored cold while serving answer as the same node does in
//! evaluation before its first event, whatever dense id either gives it.

use std::path::Path;

use tch::{Device, Kind, Tensor};

use crate::model::ModelError;
use crate::model::inputs::{f32s, i64s};

#[derive(Debug)]
pub struct Projections {
    /// `k`: the longest walks kept.
    pub hops: usize,
    /// `d`: width of the projections.
    pub dim: usize,
    /// `lambda` per time unit of the data (0: no decay, walks are counted).
    pub decay: f64,
    seed: u64,
    device: Device,
    /// `H^(0..=k)`, each `[N, d]`; `layers[0] = P`.
    pub layers: Vec<Tensor>,
    /// Time the layers are valid at (`-inf` before any event).
    pub time: f64,
    /// Events `0..absorbed` are folded in.
    pub absorbed: usize,
    /// Per node: 1 once it took part in an absorbed event.
    seen: Vec<u8>,
}

/// Row `v` of `P`: `d` draws of `N(0, 1/d)` from a SplitMix64 stream keyed by
/// `(seed, v)` (Box-Muller on pairs of uniforms).
pub fn projection_row(seed: u64, v: u64, d: usize, out: &mut [f32]) {
    let mut s = mix(mix(seed ^ 0x7470_6e65_745f_7072) ^ v.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut next = || {
        s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        // Uniform in (0, 1]: never 0, so the logarithm is finite.
        ((mix(s) >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    };
    let sd = (1.0 / d as f64).sqrt();
    let mut i = 0;
    while i < d {
        let (u1, u2) = (next(), next());
        let r = (-2.0 * u1.ln()).sqrt();
        let a = std::f64::consts::TAU * u2;
        out[i] = (r * a.cos() * sd) as f32;
        if i + 1 < d {
            out[i + 1] = (r * a.sin() * sd) as f32;
        }
        i += 2;
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Rows `from..to` of `P`, `[(to - from) * d]`.
fn projection_rows(seed: u64, from: usize, to: usize, d: usize) -> Vec<f32> {
    use rayon::prelude::*;
    let mut out = vec![0f32; (to - from) * d];
    out.par_chunks_mut(d).enumerate().for_each(|(i, row)| projection_row(seed, (from + i) as u64, d, row));
    out
}

impl Projections {
    pub fn new(nodes: usize, hops: usize, dim: usize, decay: f64, seed: u64, device: Device) -> Projections {
        let p = f32s(&projection_rows(seed, 0, nodes, dim), &[nodes as i64, dim as i64], device);
        let mut layers = vec![p];
        for _ in 0..hops {
            layers.push(Tensor::zeros([nodes as i64, dim as i64], (Kind::Float, device)));
        }
        let seen = vec![0; nodes];
        Projections { hops, dim, decay, seed, device, layers, time: f64::NEG_INFINITY, absorbed: 0, seen }
    }

    pub fn num_nodes(&self) -> usize {
        self.layers[0].size()[0] as usize
    }

    /// Bytes of the `k + 1` layers.
    pub fn bytes(&self) -> u64 {
        ((self.hops + 1) * self.num_nodes() * self.dim * 4) as u64
    }

    /// No event absorbed: walk layers zero, `P` kept.
    pub fn reset(&mut self) {
        tch::no_grad(|| {
            for l in &mut self.layers[1..] {
                let _ = l.zero_();
            }
        });
        self.time = f64::NEG_INFINITY;
        self.absorbed = 0;
        self.seen.fill(0);
    }

    /// Rows for nodes `num_nodes()..nodes`: `P`'s rows for those ids, no walks.
    pub fn grow(&mut self, nodes: usize) {
        let old = self.num_nodes();
        if nodes <= old {
            return;
        }
        let (extra, d) = ((nodes - old) as i64, self.dim as i64);
        let p = f32s(&projection_rows(self.seed, old, nodes, self.dim), &[extra, d], self.device);
        let zeros = Tensor::zeros([extra, d], (Kind::Float, self.device));
        for (l, layer) in self.layers.iter_mut().enumerate() {
            let add = if l == 0 { &p } else { &zeros };
            *layer = Tensor::cat(&[layer.shallow_clone(), add.shallow_clone()], 0);
        }
        self.seen.resize(nodes, 0);
    }

    /// `exp(-lambda (t - time))`: how much one edge's weight shrinks from the
    /// layers' time to `t` (1 before any event).
    pub fn decay_to(&self, t: f64) -> f64 {
        if self.time.is_finite() { (-self.decay * (t - self.time).max(0.0)).exp() } else { 1.0 }
    }

    /// Fold the batch `src[i] -> dst[i]` at `t[i]` (time-sorted; events
    /// `absorbed..end` of the store) into the layers.
    pub fn absorb(&mut self, src: &[u32], dst: &[u32], t: &[f64], end: usize) {
        let Some(&last) = t.last() else { return };
        let g = self.decay_to(last);
        let w: Vec<f32> = t.iter().map(|&te| (-self.decay * (last - te)).exp() as f32).collect();
        let n = src.len() as i64;
        let w = f32s(&w, &[n, 1], self.device);
        let to: Vec<i64> = src.iter().chain(dst).map(|&x| x as i64).collect();
        let from: Vec<i64> = dst.iter().chain(src).map(|&x| x as i64).collect();
        let (to, from) = (i64s(&to, self.device), i64s(&from, self.device));
        let w2 = Tensor::cat(&[&w, &w], 0);
        tch::no_grad(|| {
            if g != 1.0 {
                for (l, layer) in self.layers.iter_mut().enumerate().skip(1) {
                    let _ = layer.g_mul_scalar_(g.powi(l as i32));
                }
            }
            for l in (1..=self.hops).rev() {
                let msg = self.layers[l - 1].index_select(0, &from) * &w2;
                let _ = self.layers[l].index_add_(0, &to, &msg);
            }
        });
        for &x in src.iter().chain(dst) {
            self.seen[x as usize] = 1;
        }
        self.time = last;
        self.absorbed = end;
    }

    /// Raw pair features of `(a[i], b[i])` at times `t[i]`: every inner product of
    /// the stacked rows `[H^(0..k)_a; H^(0..k)_b]` decayed to `t[i]`, negatives
    /// clamped to 0, then `log(1 + x)`: `[n, (2k + 2)^2]`. Rows of nodes never seen
    /// are zeros (module docs).
    pub fn pair_features(&self, a: &[i64], b: &[i64], t: &[f64]) -> Tensor {
        let k1 = self.hops + 1;
        let n = t.len() as i64;
        // Decay of layer l from `time` to t: g^l per row; 0 for a node never seen.
        let mut s = Vec::with_capacity(t.len() * 2 * k1);
        for (i, &tt) in t.iter().enumerate() {
            let g = self.decay_to(tt);
            for x in [a[i], b[i]] {
                let seen = self.seen.get(x as usize).is_some_and(|&v| v != 0);
                let mut p = if seen { 1.0f64 } else { 0.0 };
                for _ in 0..k1 {
                    s.push(p as f32);
                    p *= g;
                }
            }
        }
        let (a, b) = (&i64s(a, self.device), &i64s(b, self.device));
        let s = f32s(&s, &[n, 2 * k1 as i64, 1], self.device);
        let rows: Vec<Tensor> =
            [a, b].iter().flat_map(|ix| self.layers.iter().map(move |l| l.index_select(0, ix))).collect();
        let x = Tensor::stack(&rows, 1) * s; // [n, 2k+2, d]
        x.bmm(&x.transpose(1, 2)).view([n, -1]).clamp_min(0.0).log1p()
    }

    /// Save the walk layers (not `P`, which the seed gives) and the watermark.
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        let mut named: Vec<(String, Tensor)> =
            (1..=self.hops).map(|l| (format!("walk{l}"), self.layers[l].to_device(Device::Cpu))).collect();
        named.push(("watermark".into(), Tensor::from_slice(&[self.absorbed as f64, self.time])));
        named.push(("seen".into(), Tensor::from_slice(&self.seen)));
        Tensor::write_safetensors(&named, path)?;
        Ok(())
    }

    /// Restore what [`Projections::save`] wrote; shapes must match.
    pub fn load(&mut self, path: &Path) -> Result<(), ModelError> {
        let named = Tensor::read_safetensors(path)?;
        let get = |k: &str| {
            named
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, t)| t.shallow_clone())
                .ok_or_else(|| ModelError::Mismatch(format!("{}: no tensor {k:?}", path.display())))
        };
        let mut layers = vec![self.layers[0].shallow_clone()];
        for l in 1..=self.hops {
            let t = get(&format!("walk{l}"))?;
            if t.size() != self.layers[l].size() {
                return Err(ModelError::Mismatch(format!(
                    "{}: walk{l} has shape {:?}, the model expects {:?}",
                    path.display(),
                    t.size(),
                    self.layers[l].size()
                )));
            }
            layers.push(t.to_device(self.device));
        }
        let wm = Vec::<f64>::try_from(get("watermark")?)?;
        let seen = Vec::<u8>::try_from(get("seen")?)?;
        if wm.len() != 2 || seen.len() != self.num_nodes() {
            return Err(ModelError::Mismatch(format!(
                "{}: watermark or seen flags of the wrong length",
                path.display()
            )));
        }
        self.seen = seen;
        self.layers = layers;
        self.absorbed = wm[0] as usize;
        self.time = wm[1];
        Ok(())
    }
}
