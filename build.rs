//! Link libtorch's CUDA library when the torch wheel ships it, and set an rpath
//! to the torch lib folder so the binary runs without `LD_LIBRARY_PATH`.
//!
//! Why `--no-as-needed`: nothing in our code references a `torch_cuda` symbol
//! directly (CUDA kernels register themselves from static initialisers), so the
//! linker's default `--as-needed` would drop the library and
//! `tch::Cuda::is_available()` would be false even on a GPU machine.
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_TORCH").is_none() {
        return;
    }
    // Set by torch-sys (links = "tch") for its direct dependents.
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        println!("cargo:warning=DEP_TCH_LIBTORCH_LIB not set; no rpath to libtorch");
        return;
    };
    println!("cargo:rustc-link-search=native={lib}");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    println!("cargo:rustc-env=LINKCAST_LIBTORCH_LIB={lib}");
    let has_cuda = Path::new(&lib).join("libtorch_cuda.so").exists();
    if has_cuda {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
    build_c10d_shim(&lib);
    build_op_profiler(&lib);
    build_kernels(&lib);
}

/// Compile `src/model/slot_attn.cpp`, the fused CPU attention core (a libtorch
/// autograd function), `src/model/gru_gates.cpp`, the GRU cell's gates (another),
/// and `src/model/time_enc.cpp`, the fused fixed time encoding. `-O3` whatever the
/// profile: they are hot loops of a training step.
fn build_kernels(lib: &str) {
    // `-fopenmp`: ATen's `at::parallel_for` is a header template whose OpenMP
    // backend is a `#pragma omp parallel`; without the flag it compiles to a serial
    // loop. The runtime is the torch wheel's own libgomp (libtorch_cpu links it;
    // the rpath finds it first), so there is one OpenMP thread pool, sized by
    // `--threads` like every libtorch operator's.
    println!("cargo:rustc-link-arg=-l:libgomp.so.1");
    println!("cargo:rerun-if-changed=src/model/kernel_abi.h");
    let src = "src/model/slot_attn.cpp";
    println!("cargo:rerun-if-changed={src}");
    torch_cpp(lib).file(src).opt_level(3).flag("-fopenmp").compile("linkcast_slot_attn");
    let src = "src/model/gru_gates.cpp";
    println!("cargo:rerun-if-changed={src}");
    // `-fno-trapping-math`: lets the clamps in its exp become vector selects (no
    // floating-point exception flags are read anywhere).
    torch_cpp(lib)
        .file(src)
        .opt_level(3)
        .flag("-fopenmp")
        .flag("-fno-trapping-math")
        .compile("linkcast_gru_gates");
    // Its rounding must match the operator form's (a float multiply, then an
    // add): no fused multiply-add contraction.
    let src = "src/model/time_enc.cpp";
    println!("cargo:rerun-if-changed={src}");
    torch_cpp(lib)
        .file(src)
        .opt_level(3)
        .flag("-fopenmp")
        .flag("-ffp-contract=off")
        .compile("linkcast_time_enc");
}

/// Compile `src/bench/op_profile.cpp`, the per-operator timer behind
/// `linkcast bench train --op-profile` (a libtorch RecordFunction callback).
fn build_op_profiler(lib: &str) {
    let src = "src/bench/op_profile.cpp";
    println!("cargo:rerun-if-changed={src}");
    torch_cpp(lib).file(src).compile("linkcast_opprof");
}

/// A C++17 build against the torch wheel's headers (`lib` is its `lib` folder).
fn torch_cpp(lib: &str) -> cc::Build {
    let include = Path::new(lib).parent().map(|p| p.join("include")).unwrap_or_default();
    let mut b = cc::Build::new();
    b.cpp(true)
        .std("c++17")
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        // The PyPI wheels (and libtorch's cxx11 builds) use the new string ABI.
        .define("_GLIBCXX_USE_CXX11_ABI", "1")
        .warnings(false);
    b
}

/// Compile `src/dist/c10d_shim.cpp`, the C interface to c10d's TCPStore and Gloo
/// process group (`linkcast train --distributed`), against the torch wheel's headers.
/// The wheel lacks Gloo's own headers; `src/dist/gloo_stub` stands in for them
/// (declarations only; see its README). Gloo itself is compiled into libtorch_cpu.
fn build_c10d_shim(lib: &str) {
    let shim = "src/dist/c10d_shim.cpp";
    println!("cargo:rerun-if-changed={shim}");
    println!("cargo:rerun-if-changed=src/dist/gloo_stub");
    torch_cpp(lib)
        .file(shim)
        .include("src/dist/gloo_stub")
        .define("USE_C10D_GLOO", None)
        .compile("linkcast_c10d");
}
