//! The fixed (non-trainable) time encoding `cos(dt * w + b)` as one CPU pass
//! (`time_enc.cpp`): `dt [..]` -> `[.., d]`, rounded like the operator form and
//! accurate to about one float ulp (see the C++ file for how). Used by
//! [`crate::model::parts::TimeEncoder`] on the CPU when no gradient is needed;
//! otherwise the operator form runs.

use tch::Tensor;
use torch_sys::C_tensor;

use crate::model::ModelError;

unsafe extern "C" {
    fn lc_time_encode(
        dt: *const C_tensor,
        w: *const C_tensor,
        b: *const C_tensor,
        out: *mut *mut C_tensor,
        err: *mut u8,
        cap: usize,
    ) -> i32;
}

/// Whether the fused encoding can take these inputs: CPU `f32`, and nothing that
/// needs a gradient.
pub fn supported(dt: &Tensor, w: &Tensor, b: &Tensor) -> bool {
    let cpu_f32 = |t: &Tensor| t.device() == tch::Device::Cpu && t.kind() == tch::Kind::Float;
    cpu_f32(dt) && cpu_f32(w) && cpu_f32(b) && !(dt.requires_grad() || w.requires_grad() || b.requires_grad())
}

/// `cos(dt * w + b)`, `dt [..]`, `w [d]`, `b [d]` -> `[.., d]`.
pub fn time_encode(dt: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor, ModelError> {
    let mut out: *mut C_tensor = std::ptr::null_mut();
    let mut err = [0u8; 512];
    // SAFETY: the three pointers are live tch tensors (`at::Tensor*`) borrowed for
    // the call; on success `out` is a new heap-allocated tensor whose ownership
    // passes to the returned `Tensor`.
    let rc =
        unsafe { lc_time_encode(dt.as_ptr(), w.as_ptr(), b.as_ptr(), &mut out, err.as_mut_ptr(), err.len()) };
    // SAFETY: see above.
    unsafe { crate::model::kernel_result(rc, out, &err) }
}
