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
}
