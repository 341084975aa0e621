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
