//! Adam (Kingma & Ba) over the model's trainable tensors, with its state in plain
//! tensors so a checkpoint can save and restore it exactly (`--resume` must equal
//! an uninterrupted run, which libtorch's optimiser wrapper cannot promise).
//!
//! The moments of all parameters live in two flat buffers (`m[i]`, `v[i]` are views
//! into them). On the CPU a step is one plain loop per parameter, from its gradient
//! into its values and moments; elsewhere it is one concatenation of the
//! gradients, a handful of whole-buffer operations and one subtraction per
//! parameter. Either way, not a dozen small operations per parameter: at TGN's
//! sizes (19 tensors, 0.2M values) the per-operation overhead, not the arithmetic,
//! was the cost of a step.

use std::path::Path;

use tch::{Device, Kind, Tensor};

use crate::model::ModelError;

pub struct Adam {
    pub lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    step: i64,
    params: Vec<(String, Tensor)>,
    /// Offset and length of each parameter in the flat buffers.
    spans: Vec<(i64, i64)>,
    m_flat: Tensor,
    v_flat: Tensor,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
}

impl Adam {
    /// `params` in a fixed order (the model's named trainables).
    pub fn new(params: Vec<(String, Tensor)>, lr: f64) -> Adam {
        let mut spans = Vec::with_capacity(params.len());
        let mut total = 0i64;
        for (_, p) in &params {
            spans.push((total, p.numel() as i64));
            total += p.numel() as i64;
        }
        let device = params.first().map_or(Device::Cpu, |(_, p)| p.device());
        let m_flat = Tensor::zeros([total], (Kind::Float, device));
        let v_flat = Tensor::zeros([total], (Kind::Float, device));
        let views = |flat: &Tensor| -> Vec<Tensor> {
            params
                .iter()
                .zip(&spans)
                .map(|((_, p), &(o, n))| flat.narrow(0, o, n).view(p.size().as_slice()))
                .collect()
        };
        let (m, v) = (views(&m_flat), views(&v_flat));
        Adam { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, step: 0, params, spans, m_flat, v_flat, m, v }
    }

    /// The gradient of `loss` for each parameter, in order; undefined where the loss
    /// does not reach the parameter (e.g. the memory updater when no node had
    /// pending messages), and [`Adam::step_with`] then leaves it alone, as PyTorch's
    /// Adam skips parameters whose gradient is `None`. Gradients are returned by the
    /// autograd engine rather than accumulated in `.grad`, so no stale zero gradient
    /// can move a parameter through its momentum, and a resumed run takes exactly
    /// the steps of an uninterrupted one.
    pub fn gradients(&self, loss: &Tensor) -> Vec<Tensor> {
        let params: Vec<&Tensor> = self.params.iter().map(|(_, p)| p).collect();
        Tensor::run_backward(&[loss], &params, false, false)
    }

    /// The parameters, in the order of [`Adam::gradients`].
    pub fn params(&self) -> Vec<Tensor> {
        self.params.iter().map(|(_, p)| p.shallow_clone()).collect()
    }

    /// One step with given gradients (data-parallel training sums them over
    /// replicas first); an undefined gradient leaves its parameter and moments alone.
    pub fn step_with(&mut self, grads: &[Tensor]) {
        self.step += 1;
        let bc1 = 1.0 - self.beta1.powi(self.step as i32);
        let bc2 = 1.0 - self.beta2.powi(self.step as i32);
        let step_size = self.lr / bc1;
        tch::no_grad(|| {
            if grads.len() == self.params.len() && grads.iter().all(|g| g.defined()) {
                // Every parameter moves: whole-buffer updates.
                let c = AdamConsts {
                    b1: self.beta1 as f32,
                    b2: self.beta2 as f32,
                    inv_bc2: (1.0 / bc2) as f32,
                    eps: self.eps as f32,
                    step_size: step_size as f32,
                };
                let cpu_f32 = |t: &Tensor| t.device() == Device::Cpu && t.kind() == Kind::Float;
                if cpu_f32(&self.m_flat)
                    && self.params.iter().zip(grads).all(|((_, p), g)| {
                        cpu_f32(p) && p.is_contiguous() && cpu_f32(g) && g.size() == p.size()
                    })
                {
                    // One pass per parameter straight from its gradient into its
                    // values and its span of the moment buffers.
                    for (((_, p), g), &(o, n)) in self.params.iter().zip(grads).zip(&self.spans) {
                        let (o, n) = (o as usize, n as usize);
                        let g = g.contiguous(); // a transposed weight's gradient may not be
                        // SAFETY: contiguous f32 CPU tensors of `n` values (checked
                        // above), the moments `o..o + n` of the flat buffers owned
                        // here; a parameter, its gradient and the moment buffers are
                        // distinct allocations, and nothing else runs on them during
                        // the step (no gradient mode, no other thread).
                        let (ps, gs, ms, vs) = unsafe {
                            (
                                std::slice::from_raw_parts_mut(p.data_ptr() as *mut f32, n),
                                std::slice::from_raw_parts(g.data_ptr() as *const f32, n),
                                std::slice::from_raw_parts_mut(
                                    (self.m_flat.data_ptr() as *mut f32).add(o),
                                    n,
                                ),
                                std::slice::from_raw_parts_mut(
                                    (self.v_flat.data_ptr() as *mut f32).add(o),
                                    n,
                                ),
                            )
                        };
                        adam_in_place(ps, gs, ms, vs, &c);
                    }
                    return;
                }
                let flat: Vec<Tensor> = grads.iter().map(|g| g.reshape([-1])).collect();
                let g = Tensor::cat(&flat, 0);
                let _ = self.m_flat.g_mul_scalar_(self.beta1).g_add_(&(&g * (1.0 - self.beta1)));
                let _ = self.v_flat.g_mul_scalar_(self.beta2).addcmul_(&g, &(&g * (1.0 - self.beta2)));
                let denom = (&self.v_flat / bc2).sqrt() + self.eps;
                let update = &self.m_flat / denom * step_size;
                for ((_, p), &(o, n)) in self.params.iter_mut().zip(&self.spans) {
                    let _ = p.g_sub_(&update.narrow(0, o, n).view(p.size().as_slice()));
                }
                return;
            }
            for (i, g) in grads.iter().enumerate() {
                if !g.defined() {
                    continue;
                }
                let p = &mut self.params[i].1;
                let _ = self.m[i].g_mul_scalar_(self.beta1).g_add_(&(g * (1.0 - self.beta1)));
                let _ = self.v[i].g_mul_scalar_(self.beta2).g_add_(&(g * g * (1.0 - self.beta2)));
                let denom = (&self.v[i] / bc2).sqrt() + self.eps;
                let _ = p.g_sub_(&(&self.m[i] / denom * step_size));
            }
        });
    }

    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        let mut named: Vec<(String, Tensor)> = Vec::with_capacity(2 * self.params.len() + 1);
        for (i, (n, _)) in self.params.iter().enumerate() {
            named.push((format!("m.{n}"), self.m[i].to_device(Device::Cpu)));
            named.push((format!("v.{n}"), self.v[i].to_device(Device::Cpu)));
        }
        named.push(("step".into(), Tensor::from_slice(&[self.step])));
        Tensor::write_safetensors(&named, path)?;
        Ok(())
    }

    pub fn load(&mut self, path: &Path) -> Result<(), ModelError> {
        let named = Tensor::read_safetensors(path)?;
        let find = |k: &str| {
            named
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, t)| t.shallow_clone())
                .ok_or_else(|| ModelError::Mismatch(format!("{}: no tensor {k:?}", path.display())))
        };
        for (i, (n, p)) in self.params.iter().enumerate() {
            let (m, v) = (find(&format!("m.{n}"))?, find(&format!("v.{n}"))?);
            if m.size() != p.size() || v.size() != p.size() {
                return Err(ModelError::Mismatch(format!(
                    "{}: optimiser state of {n} has the wrong shape",
                    path.display()
                )));
            }
            tch::no_grad(|| {
                self.m[i].copy_(&m);
                self.v[i].copy_(&v);
            });
        }
        self.step = Vec::<i64>::try_from(find("step")?)?.first().copied().unwrap_or(0);
        Ok(())
    }
}

struct AdamConsts {
    b1: f32,
    b2: f32,
    inv_bc2: f32,
    eps: f32,
    step_size: f32,
}

/// The Adam update over CPU buffers: moments in place, and `p` moved by the step
/// `lr / bc1 * m / (sqrt(v / bc2) + eps)` (the same formula and f32 rounding as the
/// tensor path). A plain loop the compiler vectorises: one pass per parameter where
/// the tensor path makes eight over the whole model and allocates temporaries.
fn adam_in_place(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], c: &AdamConsts) {
    let (a1, a2) = (1.0 - c.b1, 1.0 - c.b2);
    for (((p, &gi), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        *m = c.b1 * *m + a1 * gi;
        *v = c.b2 * *v + a2 * gi * gi;
        *p -= *m / ((*v * c.inv_bc2).sqrt() + c.eps) * c.step_size;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Textbook Adam in f64, per value: the oracle for both paths.
    fn oracle(p0: &[f64], grads: &[Vec<f64>], lr: f64) -> Vec<f64> {
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8f64);
        let mut p = p0.to_vec();
        let (mut m, mut v) = (vec![0.0; p.len()], vec![0.0; p.len()]);
        for (t, g) in grads.iter().enumerate() {
            let t = t as i32 + 1;
            for i in 0..p.len() {
                m[i] = b1 * m[i] + (1.0 - b1) * g[i];
                v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
                let mh = m[i] / (1.0 - b1.powi(t));
                let vh = v[i] / (1.0 - b2.powi(t));
                p[i] -= lr * mh / (vh.sqrt() + eps);
            }
        }
        p
    }

    #[test]
    fn flat_cpu_step_and_skipping_step_match_textbook_adam() {
        let lr = 0.01;
        let values: Vec<f32> = (0..10).map(|i| (i as f32 * 0.37).sin()).collect();
        let grads: Vec<Vec<f32>> = (0..4)
            .map(|s| (0..10).map(|i| ((i * 7 + s * 3) as f32 * 0.21).cos() * (1.0 + s as f32)).collect())
            .collect();
        let want = oracle(
            &values.iter().map(|&x| f64::from(x)).collect::<Vec<_>>(),
            &grads.iter().map(|g| g.iter().map(|&x| f64::from(x)).collect()).collect::<Vec<_>>(),
            lr,
        );
        // Two parameters (4 and 6 values) over the flat buffers.
        let make = || {
            let a = Tensor::from_slice(&values[..4]).view([2, 2]);
            let b = Tensor::from_slice(&values[4..]);
            Adam::new(vec![("a".into(), a), ("b".into(), b)], lr)
        };
        // `a`'s gradient as a transposed (non-contiguous) view, as a linear
        // layer's weight gradient can come.
        let split = |g: &[f32]| {
            let at = Tensor::from_slice(&[g[0], g[2], g[1], g[3]]).view([2, 2]).t_();
            assert!(!at.is_contiguous());
            vec![at, Tensor::from_slice(&g[4..])]
        };
        let read = |adam: &Adam| -> Vec<f64> {
            adam.params()
                .iter()
                .flat_map(|p| Vec::<f32>::try_from(p.reshape([-1])).unwrap())
                .map(f64::from)
                .collect()
        };
        // All gradients defined: the flat one-pass path.
        let mut flat = make();
        for g in &grads {
            flat.step_with(&split(g));
        }
        for (x, y) in read(&flat).iter().zip(want.iter()) {
            assert!((x - y).abs() < 1e-5, "{x} vs textbook {y}");
        }
        // An undefined gradient: the per-parameter path, which leaves `a` alone and
        // moves `b` as Adam's first step.
        let mut skip = make();
        skip.step_with(&[Tensor::new(), Tensor::from_slice(&grads[0][4..])]);
        let got = read(&skip);
        assert_eq!(&got[..4], &values[..4].iter().map(|&x| f64::from(x)).collect::<Vec<_>>()[..]);
        let one = oracle(
            &values[4..].iter().map(|&x| f64::from(x)).collect::<Vec<_>>(),
            &[grads[0][4..].iter().map(|&x| f64::from(x)).collect()],
            lr,
        );
        for (x, y) in got[4..].iter().zip(&one) {
            assert!((x - y).abs() < 1e-5, "{x} vs textbook {y}");
        }
    }
}
