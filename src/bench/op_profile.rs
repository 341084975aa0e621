//! Per-operator wall time of libtorch calls (`linkcast bench train --op-profile N`).
//!
//! [`OpProfile::start`] registers a global RecordFunction callback (the hook
//! PyTorch's profiler uses; C++ in `op_profile.cpp`) that times every ATen operator
//! and autograd node on the thread calling it; [`OpProfile::stop`] removes it and
//! returns one [`OpStat`] per operator name (or name and input shapes). Operators
//! nest (`linear` calls `addmm`, `AddmmBackward0` calls `mm`), so each stat has
//! `self_s` (its own time, children excluded) and `total_s`; self times add up to
//! the time spent inside libtorch without double counting, and the caller compares
//! that sum with the phase wall time to see what is left (Rust, sampling, waits).
//! Times are host seconds: on a GPU they are launch times, not kernel times.
//! The callback costs roughly a microsecond per operator, so a profiled pass runs
//! slower than an unprofiled one; use it for shares, not for throughput.

use serde::{Deserialize, Serialize};

unsafe extern "C" {
    fn lc_opprof_start(shapes: i32);
    fn lc_opprof_stop();
    fn lc_opprof_dump(buf: *mut u8, cap: usize) -> usize;
}

/// One operator's totals over the profiled span.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OpStat {
    /// The operator (`aten::addmm`) or autograd node (`AddmmBackward0`), with the
    /// input shapes appended when shapes were asked for.
    pub key: String,
    pub calls: u64,
    pub self_s: f64,
    pub total_s: f64,
}

/// Self time of a group of operators (see [`category`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CategoryStat {
    pub category: String,
    pub calls: u64,
    pub self_s: f64,
}

/// A running profile; only one at a time per process (the callback is global).
pub struct OpProfile {
    _private: (),
}

impl OpProfile {
    /// Start timing every libtorch operator; `shapes` keys each stat by input
    /// shapes as well (more overhead, finer answer).
    pub fn start(shapes: bool) -> OpProfile {
        // SAFETY: plain C calls without pointers; the C++ side guards its table.
        unsafe { lc_opprof_start(i32::from(shapes)) };
        OpProfile { _private: () }
    }

    /// Stop timing and return the stats, largest self time first.
    pub fn stop(self) -> Vec<OpStat> {
        // SAFETY: as above; the dump writes at most `cap` bytes into `buf`.
        unsafe { lc_opprof_stop() };
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let need = unsafe { lc_opprof_dump(buf.as_mut_ptr(), buf.len()) };
            if need <= buf.len() {
                buf.truncate(need);
                break;
            }
            buf.resize(need + 4096, 0);
        }
        let mut stats = parse_dump(&String::from_utf8_lossy(&buf));
        stats.sort_by(|a, b| b.self_s.total_cmp(&a.self_s).then_with(|| a.key.cmp(&b.key)));
        stats
    }
}

fn parse_dump(text: &str) -> Vec<OpStat> {
    text.lines()
        .filter_map(|line| {
            let mut it = line.rsplitn(4, '\t');
            let total: i64 = it.next()?.parse().ok()?;
            let own: i64 = it.next()?.parse().ok()?;
            let calls: u64 = it.next()?.parse().ok()?;
            let key = it.next()?.to_string();
            Some(OpStat { key, calls, self_s: own as f64 * 1e-9, total_s: total as f64 * 1e-9 })
        })
        .collect()
}

/// Group an operator name into what it spends time on.
pub fn category(key: &str) -> &'static str {
    let name = key.split(' ').next().unwrap_or(key);
    let op = name.strip_prefix("aten::").unwrap_or(name);
    if !name.starts_with("aten::") && op.contains("Backward") {
        return "autograd node (backward glue)";
    }
    let base = op.trim_end_matches('_');
    match base {
        "mm" | "addmm" | "bmm" | "baddbmm" | "matmul" | "linear" | "addmv" | "mv" | "dot" => "matmul",
        "copy"
        | "index_select"
        | "index"
        | "index_put"
        | "index_add"
        | "index_copy"
        | "cat"
        | "gather"
        | "scatter"
        | "scatter_add"
        | "embedding"
        | "embedding_dense_backward"
        | "_index_put_impl"
        | "index_select_backward"
        | "narrow_copy"
        | "clone"
        | "contiguous"
        | "stack"
        | "_to_copy"
        | "to"
        | "masked_fill"
        | "where"
        | "masked_select" => "copy / gather / scatter",
        "sum"
        | "mean"
        | "softmax"
        | "_softmax"
        | "_softmax_backward_data"
        | "log_softmax"
        | "_log_softmax"
        | "max"
        | "amax"
        | "norm"
        | "binary_cross_entropy_with_logits"
        | "binary_cross_entropy_with_logits_backward" => "reduction / softmax / loss",
        "empty" | "empty_strided" | "zeros" | "zeros_like" | "ones" | "ones_like" | "fill" | "zero"
        | "full" | "empty_like" | "resize" | "new_zeros" | "new_empty" | "new_empty_strided" => {
            "allocation / fill"
        }
        "view" | "reshape" | "_reshape_alias" | "t" | "transpose" | "permute" | "expand" | "select"
        | "slice" | "narrow" | "split" | "unsqueeze" | "squeeze" | "as_strided" | "alias" | "detach"
        | "unbind" | "split_with_sizes" | "unsafe_split" | "_unsafe_view" | "chunk" | "flatten"
        | "expand_as" | "numpy_T" | "lift_fresh" | "view_as" | "unflatten" => "view (metadata only)",
        "add"
        | "sub"
        | "mul"
        | "div"
        | "addcmul"
        | "addcdiv"
        | "sqrt"
        | "rsqrt"
        | "cos"
        | "sin"
        | "exp"
        | "relu"
        | "threshold_backward"
        | "sigmoid"
        | "sigmoid_backward"
        | "tanh"
        | "tanh_backward"
        | "neg"
        | "pow"
        | "lerp"
        | "sgn"
        | "abs"
        | "clamp"
        | "clamp_min"
        | "rsub"
        | "_fused_gru_cell"
        | "_thnn_fused_gru_cell"
        | "_thnn_fused_gru_cell_backward"
        | "gelu"
        | "gelu_backward"
        | "square"
        | "reciprocal"
        | "erf"
        | "log"
        | "log1p" => "elementwise",
        _ => "other",
    }
}

/// Self time per [`category`], largest first.
pub fn by_category(stats: &[OpStat]) -> Vec<CategoryStat> {
    let mut cats: Vec<CategoryStat> = Vec::new();
    for s in stats {
        let c = category(&s.key);
        match cats.iter_mut().find(|x| x.category == c) {
            Some(x) => {
                x.calls += s.calls;
                x.self_s += s.self_s;
            }
            None => cats.push(CategoryStat { category: c.to_string(), calls: s.calls, self_s: s.self_s }),
        }
    }
    cats.sort_by(|a, b| b.self_s.total_cmp(&a.self_s));
    cats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_keeps_tabs_out_of_keys_and_converts_ns() {
        let s = parse_dump("aten::addmm [6000,100]\t3\t1500000000\t2000000000\nbad line\n");
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].key, "aten::addmm [6000,100]");
        assert_eq!(s[0].calls, 3);
        assert!((s[0].self_s - 1.5).abs() < 1e-12 && (s[0].total_s - 2.0).abs() < 1e-12);
    }

    #[test]
    fn categories() {
        assert_eq!(category("aten::addmm"), "matmul");
        assert_eq!(category("aten::index_select [10,4]"), "copy / gather / scatter");
        assert_eq!(category("AddmmBackward0"), "autograd node (backward glue)");
        assert_eq!(category("aten::mul_"), "elementwise");
        assert_eq!(category("aten::view"), "view (metadata only)");
    }

    /// The callback sees real operators, with self time at most total time, and
    /// nested operators (linear -> addmm) are attributed to the inner one.
    #[test]
    fn profiles_real_operators() {
        let a = tch::Tensor::ones([64, 32], (tch::Kind::Float, tch::Device::Cpu));
        let w = tch::Tensor::ones([16, 32], (tch::Kind::Float, tch::Device::Cpu));
        let b = tch::Tensor::zeros([16], (tch::Kind::Float, tch::Device::Cpu));
        let p = OpProfile::start(false);
        for _ in 0..5 {
            let _ = a.linear(&w, Some(&b)).sum(tch::Kind::Float);
        }
        let stats = p.stop();
        let find = |k: &str| stats.iter().find(|s| s.key == k).cloned();
        let linear = find("aten::linear").expect("linear recorded");
        let addmm = find("aten::addmm").expect("addmm recorded");
        // At least: tests on other threads may run the same operators meanwhile.
        assert!(linear.calls >= 5 && addmm.calls >= 5);
        assert!(linear.total_s >= addmm.total_s);
        assert!(stats.iter().all(|s| s.self_s <= s.total_s + 1e-9 && s.self_s >= -1e-9));
    }
}
