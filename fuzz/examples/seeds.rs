//! Write the seed inputs (`linkcast::fuzz::seeds`) into `fuzz/corpus/<target>/`
//! as `seed-<n>`. Run by `scripts/fuzz.sh` before fuzzing; rewriting a seed that
//! is already there changes nothing.
fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut n = std::collections::HashMap::new();
    for (target, bytes) in linkcast::fuzz::seeds() {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).expect("corpus folder");
        let i = n.entry(target).or_insert(0);
        std::fs::write(dir.join(format!("seed-{i}")), bytes).expect("seed file");
        *i += 1;
    }
    for (t, k) in &n {
        println!("{t}: {k} seeds");
    }
}
