//! `linkcast doctor`: what this build links and what the machine offers.
//!
//! The libtorch folder is read from `/proc/self/maps` (the library actually loaded,
//! not the one we were built against), and its version from the `version.py` that
//! the PyPI wheel ships beside `lib/`.

use serde_json::json;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  linkcast doctor\n  linkcast doctor --json")]
pub struct Args {
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let report = report();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if let Some(obj) = report.as_object() {
        for (k, v) in obj {
            let v = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            println!("{k:<22} {v}");
        }
    }
    Ok(())
}

#[cfg(not(feature = "torch"))]
fn report() -> serde_json::Value {
    json!({
        "linkcast": env!("CARGO_PKG_VERSION"),
        "torch_feature": false,
        "note": "built without the `torch` feature: models, training and CUDA are unavailable",
        "rayon_threads": rayon::current_num_threads(),
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    })
}

#[cfg(feature = "torch")]
fn report() -> serde_json::Value {
    // Touch libtorch first so its libraries are mapped before we read /proc/self/maps.
    let cuda = tch::Cuda::is_available();
    let count = tch::Cuda::device_count();
    let lib_dir = loaded_libtorch_dir();
    let version = lib_dir.as_deref().and_then(torch_version_near);
    let names: Vec<String> = if cuda { (0..count as i32).map(cuda_device_name).collect() } else { vec![] };
    json!({
        "linkcast": env!("CARGO_PKG_VERSION"),
        "torch_feature": true,
        "libtorch_version": version.unwrap_or_else(|| "unknown".into()),
        "libtorch_expected": "2.11.0 (tch 0.24.0)",
        "libtorch_loaded_from": lib_dir.unwrap_or_else(|| "unknown".into()),
        "libtorch_built_against": option_env!("LINKCAST_LIBTORCH_LIB").unwrap_or("unknown"),
        "cuda_available": cuda,
        "cudnn_available": tch::Cuda::cudnn_is_available(),
        "cuda_device_count": count,
        "cuda_devices": names,
        "torch_threads": tch::get_num_threads(),
        "rayon_threads": rayon::current_num_threads(),
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "openmp": tch::utils::has_openmp(),
        "mkl": tch::utils::has_mkl(),
    })
}

/// Folder of the `libtorch_cpu.so` mapped into this process.
#[cfg(feature = "torch")]
fn loaded_libtorch_dir() -> Option<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.ends_with("/libtorch_cpu.so") || p.contains("/libtorch_cpu.so."))
        .and_then(|p| std::path::Path::new(p).parent().map(|d| d.display().to_string()))
}

/// `__version__` from `<torch>/version.py`, where `<torch>` is the lib folder's parent.
#[cfg(feature = "torch")]
fn torch_version_near(lib_dir: &str) -> Option<String> {
    let py = std::path::Path::new(lib_dir).parent()?.join("version.py");
    let text = std::fs::read_to_string(py).ok()?;
    text.lines()
        .find(|l| l.starts_with("__version__"))
        .and_then(|l| l.split(['\'', '"']).nth(1))
        .map(str::to_string)
}

/// Device name through the CUDA driver API (tch does not expose it).
#[cfg(feature = "torch")]
fn cuda_device_name(ordinal: i32) -> String {
    type CuInit = unsafe extern "C" fn(u32) -> i32;
    type CuDeviceGet = unsafe extern "C" fn(*mut i32, i32) -> i32;
    type CuDeviceGetName = unsafe extern "C" fn(*mut std::ffi::c_char, i32, i32) -> i32;
    // SAFETY: libcuda.so.1 is the NVIDIA driver library; the three symbols have the
    // documented C signatures above, and the name buffer is larger than `len`.
    unsafe {
        let Ok(lib) = libloading::Library::new("libcuda.so.1") else {
            return format!("cuda:{ordinal}");
        };
        let (Ok(init), Ok(get), Ok(name)) = (
            lib.get::<CuInit>(b"cuInit\0"),
            lib.get::<CuDeviceGet>(b"cuDeviceGet\0"),
            lib.get::<CuDeviceGetName>(b"cuDeviceGetName\0"),
        ) else {
            return format!("cuda:{ordinal}");
        };
        let mut dev = 0i32;
        let mut buf = [0 as std::ffi::c_char; 256];
        if init(0) != 0 || get(&mut dev, ordinal) != 0 || name(buf.as_mut_ptr(), 255, dev) != 0 {
            return format!("cuda:{ordinal}");
        }
        std::ffi::CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned()
    }
}
