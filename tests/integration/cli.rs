//! Whole-binary checks: help texts, doctor, exit codes.

use std::process::Command;

pub fn linkcast() -> Command {
    Command::new(env!("CARGO_BIN_EXE_linkcast"))
}

#[test]
fn every_subcommand_has_help_with_examples() {
    for sub in ["ingest", "stats", "verify", "generate", "bench", "doctor"] {
        let out = linkcast().args([sub, "--help"]).output().unwrap();
        assert!(out.status.success(), "{sub} --help failed");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Examples:"), "{sub} --help has no examples:\n{text}");
    }
}

#[test]
fn unknown_subcommand_fails_cleanly() {
    let out = linkcast().arg("frobnicate").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unrecognized subcommand"));
}

#[test]
fn doctor_reports_the_loaded_libtorch() {
    let out = linkcast().args(["doctor", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["torch_feature"], true);
    // The build links the venv's torch 2.11.0 through an rpath: no LD_LIBRARY_PATH needed.
    let version = v["libtorch_version"].as_str().unwrap();
    assert!(version.starts_with("2.11.0"), "libtorch {version}");
    let dir = v["libtorch_loaded_from"].as_str().unwrap();
    assert!(std::path::Path::new(dir).join("libtorch_cpu.so").exists(), "{dir}");
    assert!(v["cuda_available"].is_boolean());
    assert!(v["torch_threads"].as_i64().unwrap() >= 1);
}

/// The main job of `scripts/demo.sh` on the bundled dataset: ingest, verify, then a
/// corrupted array is caught by `verify` (file named) and by opening (`stats`).
#[test]
fn ingest_verify_and_detect_corruption() {
    let tmp = tempfile::tempdir().unwrap();
    let g = tmp.path().join("g");
    let bundled = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/collegemsg/CollegeMsg.txt.gz");
    let out = linkcast().args(["ingest", bundled, "-o"]).arg(&g).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let out = linkcast().arg("verify").arg(&g).args(["--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], true);

    // Flip one byte in the middle of the destination column: same length, bad checksum.
    let dst = g.join("events/dst.u32");
    let mut bytes = std::fs::read(&dst).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&dst, &bytes).unwrap();
    let out = linkcast().arg("verify").arg(&g).output().unwrap();
    assert!(!out.status.success());
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("dst.u32"), "verify output does not name the file:\n{text}");

    // Truncate it: opening the graph (stats) refuses instead of reading garbage.
    std::fs::write(&dst, &bytes[..bytes.len() - 4]).unwrap();
    let out = linkcast().arg("stats").arg(&g).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dst.u32"), "stats error does not name the file:\n{err}");
}
