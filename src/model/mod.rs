//! Temporal GNN models on libtorch (`tch`), device-agnostic (CPU or CUDA).
//!
//! Every model family implements one interface, [`TemporalModel`] ([`api`]): its
//! weights, the state it keeps between batches (node memory, projections or none),
//! scoring `(src, dst, t)` pairs, the loss of a training batch, and absorbing a
//! batch after it is scored. [`registry::build`] turns a [`ModelConfig`] into a
//! `Box<dyn TemporalModel>`; nothing outside a family's folder names its type.
//!
//! Families, a folder each: [`tgn`] (TGN, JODIE, DyRep, TGAT: [`ModelKind`]
//! presets over shared parts, with per-node memory), [`graphmixer`], and [`tpnet`]
//! (TPNet and TPNet-lite: pair models over walk-matrix projections). Shared:
//! [`parts`] (time encoding, temporal attention, decoder, memory cell, mixer block,
//! with fused CPU kernels in [`slot_attn`], [`gru_gates`], [`time_enc`]),
//! [`inputs`] (host buffers to tensors, feature gathers) and [`embedded`] (scoring
//! for families that embed each endpoint once).
//!
//! Inputs come from the sampler as host buffers ([`Roots`]: `R` root nodes and
//! times plus the padded neighbour layers). Times never reach the device as
//! absolute values: the host computes `dt = t_root - t_neighbour` in `f64` and
//! ships it as `f32`, so Unix-second timestamps lose no precision.

pub mod api;
pub mod config;
pub mod dygformer;
pub mod embedded;
pub mod graphmixer;
pub mod gru_gates;
pub mod inputs;
pub mod parts;
pub mod registry;
pub mod slot_attn;
pub mod tgn;
pub mod time_enc;
pub mod tpnet;

#[cfg(test)]
mod tests_scaling;

pub use api::{Carry, PairBatch, Pairs, Roots, TemporalModel};
pub use config::{ModelConfig, ModelKind};
pub use registry::build;

/// Errors of the model layer.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    #[error("invalid model configuration: {0}")]
    Config(String),
    #[error("model state does not fit the graph: {0}")]
    Mismatch(String),
    #[error("neighbour sampling")]
    Sample(#[from] crate::sample::neighbors::SampleError),
    #[error("time goes back: the model absorbed events up to t={watermark}, asked about t={t}")]
    Watermark { watermark: f64, t: f64 },
    #[error("io on {path}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Move a host tensor built for one batch to `device`. On a GPU the copy goes
/// through pinned memory and does not block: a plain copy from pageable memory
/// waits for every kernel queued before it, and a batch makes a dozen of them, so
/// the GPU would drain its queue a dozen times per batch. `_pin_memory` is called
/// directly: tch's `pin_memory` always passes a device, which torch 2.11 deprecates
/// with a warning printed on every call (tens of MB of stderr per epoch).
pub fn upload(t: tch::Tensor, device: tch::Device) -> tch::Tensor {
    match device {
        tch::Device::Cpu => t,
        d => {
            let kind = t.kind();
            t.internal_pin_memory(d).to_device_(d, kind, true, false)
        }
    }
}

/// `auto` = CUDA 0 when available, else CPU; `cuda` = `cuda:0`.
pub fn parse_device(s: &str) -> Result<tch::Device, ModelError> {
    let s = s.trim().to_ascii_lowercase();
    let cuda = |i: usize| {
        if !tch::Cuda::is_available() {
            return Err(ModelError::Config(format!(
                "--device {s}: CUDA is not available (no GPU, or libtorch without CUDA; see `linkcast doctor`)"
            )));
        }
        let n = tch::Cuda::device_count() as usize;
        if i >= n {
            return Err(ModelError::Config(format!("--device {s}: only {n} CUDA device(s)")));
        }
        Ok(tch::Device::Cuda(i))
    };
    match s.as_str() {
        "auto" => Ok(tch::Device::cuda_if_available()),
        "cpu" => Ok(tch::Device::Cpu),
        "cuda" => cuda(0),
        _ => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(i)) => cuda(i),
            _ => Err(ModelError::Config(format!("--device {s}: expected auto, cpu, cuda or cuda:N"))),
        },
    }
}

/// What a C++ kernel entry point returned (`kernel_abi.h`): `rc == 0` and the new
/// tensor it wrote to `out`, or its NUL-terminated message in `err`.
///
/// # Safety
/// `out` is null or a heap-allocated `at::Tensor*` the entry point just created and
/// nobody else owns; ownership passes to the returned `Tensor`.
pub(crate) unsafe fn kernel_result(
    rc: i32,
    out: *mut torch_sys::C_tensor,
    err: &[u8],
) -> Result<tch::Tensor, ModelError> {
    if rc != 0 || out.is_null() {
        let end = err.iter().position(|&b| b == 0).unwrap_or(err.len());
        return Err(ModelError::Config(String::from_utf8_lossy(&err[..end]).into_owned()));
    }
    // SAFETY: the caller's contract.
    Ok(unsafe { tch::Tensor::from_ptr(out) })
}
