//! The slot-level core of [`crate::model::parts::TemporalAttention`] as one CPU
//! operator with its own backward (`slot_attn.cpp`, a libtorch autograd function):
//! per root and head, scores of the `K` neighbour slots against the query moved
//! into input space, masked softmax, and the attention-weighted slot inputs.
//!
//! Shapes: `nodes [M, n]` with `index [R*K]` (or `None`: `M = R*K`, one row per
//! slot), `time [R*K, t]`, `edge [R*K, e]` (or `None`), `q [H, R, n+t+e]`,
//! `mask [R, K]` (bool) -> `xbar [H, R, n+t+e]`. CPU `f32` only; other devices use
//! the libtorch-operator form, which computes the same function.

use tch::Tensor;
use torch_sys::C_tensor;

use crate::model::ModelError;

unsafe extern "C" {
    fn lc_slot_attn(
        nodes: *const C_tensor,
        index: *const C_tensor,
        time: *const C_tensor,
        edge: *const C_tensor,
        q: *const C_tensor,
        mask: *const C_tensor,
        out: *mut *mut C_tensor,
        err: *mut u8,
        cap: usize,
    ) -> i32;
}

/// Whether the fused operator can take these inputs (CPU `f32`).
pub fn supported(q: &Tensor) -> bool {
    q.device() == tch::Device::Cpu && q.kind() == tch::Kind::Float
}

/// `xbar [H, R, W]` with gradients to `nodes`, `time`, `edge` and `q` (see the
/// module doc for the shapes).
pub fn slot_attention(
    nodes: &Tensor,
    index: Option<&Tensor>,
    time: &Tensor,
    edge: Option<&Tensor>,
    q: &Tensor,
    mask: &Tensor,
) -> Result<Tensor, ModelError> {
    let mut out: *mut C_tensor = std::ptr::null_mut();
    let mut err = [0u8; 512];
    let null = std::ptr::null::<C_tensor>();
    // SAFETY: every pointer is a live tch tensor (an `at::Tensor*`) borrowed for the
    // call, or null where the C side accepts it; on success `out` is a new
    // heap-allocated tensor whose ownership passes to the returned `Tensor`.
    let rc = unsafe {
        lc_slot_attn(
            nodes.as_ptr(),
            index.map_or(null, |t| t.as_ptr()),
            time.as_ptr(),
            edge.map_or(null, |t| t.as_ptr()),
            q.as_ptr(),
            mask.as_ptr(),
            &mut out,
            err.as_mut_ptr(),
            err.len(),
        )
    };
    // SAFETY: see above.
    unsafe { crate::model::kernel_result(rc, out, &err) }
}
