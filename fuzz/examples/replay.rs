//! Run every committed input (corpus and regressions) through its harness, like
//! the stable test `committed_fuzz_inputs_replay_cleanly`, without libtorch or a
//! fuzzer: `cargo run --manifest-path fuzz/Cargo.toml --example replay [TARGET]`.
fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let only = std::env::args().nth(1);
    for (name, run) in linkcast::fuzz::TARGETS {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let mut n = 0;
        let t = std::time::Instant::now();
        for sub in ["corpus", "regressions"] {
            let Ok(rd) = std::fs::read_dir(root.join(sub).join(name)) else { continue };
            let mut paths: Vec<_> = rd.map(|e| e.expect("dir entry").path()).collect();
            paths.sort();
            for p in paths {
                eprintln!("{name}: {}", p.display());
                run(&std::fs::read(&p).expect("input"));
                n += 1;
            }
        }
        println!("{name}: {n} inputs in {:.2}s", t.elapsed().as_secs_f64());
    }
}
