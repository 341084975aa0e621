//! The element-wise part of a GRU cell as one CPU operator with its own backward
//! (`gru_gates.cpp`, a libtorch autograd function): `gi [P, 3d]` (`x W_ih^T + b_ih`),
//! `gh [P, 3d]` (`h W_hh^T + b_hh`) and `h [P, d]` -> the new state `[P, d]`, gate
//! order (r, z, n), the formula of libtorch's `gru_cell`. CPU `f32` only; elsewhere
//! [`crate::model::parts::MemoryCell`] calls `gru_cell`.

use tch::Tensor;
use torch_sys::C_tensor;

use crate::model::ModelError;

unsafe extern "C" {
    fn lc_gru_gates(
        gi: *const C_tensor,
        gh: *const C_tensor,
        h: *const C_tensor,
        out: *mut *mut C_tensor,
        err: *mut u8,
        cap: usize,
    ) -> i32;
}

/// Whether the fused gates can take this state tensor (CPU `f32`).
pub fn supported(h: &Tensor) -> bool {
    h.device() == tch::Device::Cpu && h.kind() == tch::Kind::Float
}

/// The new state `[P, d]`, with gradients to `gi`, `gh` and `h`.
pub fn gru_gates(gi: &Tensor, gh: &Tensor, h: &Tensor) -> Result<Tensor, ModelError> {
    let mut out: *mut C_tensor = std::ptr::null_mut();
    let mut err = [0u8; 512];
    // SAFETY: the three pointers are live tch tensors (`at::Tensor*`) borrowed for
    // the call; on success `out` is a new heap-allocated tensor whose ownership
    // passes to the returned `Tensor`.
    let rc =
        unsafe { lc_gru_gates(gi.as_ptr(), gh.as_ptr(), h.as_ptr(), &mut out, err.as_mut_ptr(), err.len()) };
    // SAFETY: see above.
    unsafe { crate::model::kernel_result(rc, out, &err) }
}
