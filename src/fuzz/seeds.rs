//! Seed inputs per target: small valid files of every kind a target reads, so the
//! fuzzer starts past the first checks. `fuzz/examples/seeds.rs` writes them into
//! `fuzz/corpus/<target>/`; they are also committed there.

use std::io::Read;
use std::path::Path;

use crate::fuzz::files::{neg_store, template_graph};
use crate::fuzz::{fresh_dir, scratch};
use crate::sample::negatives::DstRange;
use crate::sample::negatives::NegativeSet;
use crate::sample::negatives::tgb::parse_rows;
use crate::serve::queries::write_scores;
use crate::serve::wal::{self, MAGIC};
use crate::serve::{Query, Scored};
use crate::store::TemporalStore;
use crate::util::manifest::Manifest;

/// The first `lines` lines of the bundled CollegeMsg, when the crate's
/// `datasets/` is there (it is, in a checkout).
fn collegemsg(lines: usize) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/collegemsg/CollegeMsg.txt.gz");
    let Ok(f) = std::fs::File::open(path) else { return b"1 2 1082040961\n2 3 1082155839\n".to_vec() };
    let mut text = String::new();
    let _ = flate2::read::GzDecoder::new(f).read_to_string(&mut text);
    text.lines().take(lines).flat_map(|l| format!("{l}\n").into_bytes()).collect()
}

fn with(sel: u8, body: &[u8]) -> Vec<u8> {
    [&[sel][..], body].concat()
}

/// `(target, seed)` pairs for every target.
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut out: Vec<(&'static str, Vec<u8>)> = Vec::new();
    let snap = collegemsg(40);
    // 1. Text ingest: each format (selector bits 0-2) and header mode.
    out.push(("ingest_text", with(0, &snap)));
    out.push(("ingest_text", with(1, &[b"# SNAP comment\n".as_slice(), &snap].concat())));
    out.push(("ingest_text", with(2 | 0x08, b"src,dst,time,w\n1,2,10,0.5\n2,3,11,1.5\nalice,bob,12,2\n")));
    out.push(("ingest_text", with(2 | 0x10, b"1,2,10\n2,3,11\n3,1,9\n")));
    out.push(("ingest_text", with(3, b"src\tdst\tts\n1\t2\t10\n2\t3\t11.5\n")));
    out.push((
        "ingest_text",
        with(4, b"user_id,item_id,timestamp,state_label,f1,f2\n0,0,0.0,0,0.1,0.2\n1,0,3.5,1,0.3,0.4\n"),
    ));
    out.push(("ingest_text", with(5, b",u,i,ts,label,idx\n0,1,2,3.0,0,1\n1,2,3,4.0,0,2\n")));
    out.push(("ingest_text", with(0x40 | 1, b"1 2 10\nbad row\n3 4 1e400\n5 6 nan\n7 8 12\n")));
    out.push(("ingest_text", with(0x20 | 2, b"a,b,1\nb,a,2\n")));
    // 2 and 7. Query files and Parquet input: the CSV and Parquet `score` writes.
    let queries: Vec<Query> = (0..6)
        .map(|i| Query { src: format!("{i}"), dst: format!("{}", i + 1), t: 100.0 + f64::from(i) })
        .collect();
    let scored = vec![Scored { score: 0.5, cold_src: false, cold_dst: false }; queries.len()];
    for (sel, name) in [(0u8, "seed-queries.csv"), (1, "seed-queries.parquet")] {
        let p = scratch().join(name);
        write_scores(&p, &queries, &scored).expect("seed query file");
        let bytes = std::fs::read(&p).expect("seed query file");
        out.push(("score_queries", with(sel, &bytes)));
        if sel == 1 {
            out.push(("parquet", with(0, &bytes)));
            out.push(("parquet", with(0x20, &bytes)));
        }
    }
    out.push(("score_queries", with(0, b"src\tdst\tts\n1\t2\t3.5\n")));
    // 3. HTTP: a session of requests (route byte, then the body), 0-separated.
    let parts: [&[u8]; 8] = [
        b"\x00[{\"src\":\"1\",\"dst\":\"2\",\"t\":40.0}]",
        b"\x00[{\"src\":\"11\",\"dst\":\"3\",\"t\":41}]",
        b"\x01[{\"src\":\"1\",\"dst\":\"2\",\"t\":50},{\"src\":\"new\",\"dst\":\"3\",\"t\":50}]",
        b"\x02src=1&at=60&k=3",
        b"\x02src=1&at=60&k=3&exclude_seen=true&candidates=2,3,4",
        b"\x03health",
        b"\x03metrics",
        b"\x00[{\"src\":\"2\",\"dst\":\"1\",\"t\":39}]",
    ];
    for sel in [0u8, 1, 2 | 8, 3 | 4] {
        out.push(("http", with(sel, &parts.join(&0u8))));
    }
    // 4. WAL: well-formed records through the harness (mode 1) and a raw segment.
    let p1 = br#"[{"src":"1","dst":"2","t":40.0}]"#;
    let p2 = br#"[{"src":"3","dst":"11","t":41.0,"feat":[]}]"#;
    let mut recs = vec![p1.len() as u8, 1];
    recs.extend_from_slice(p1);
    recs.extend_from_slice(&[p2.len() as u8, 2]);
    recs.extend_from_slice(p2);
    out.push(("wal", with(1, &recs)));
    out.push(("wal", with(1 | 0x10, &recs)));
    let raw = [MAGIC.as_slice(), &wal::encode(1, p1), &wal::encode(2, p2)].concat();
    out.push(("wal", with(0, &raw)));
    out.push(("wal", with(0, &[&raw[..], &wal::encode(3, p1)[..9]].concat())));
    // 5. Graph directories: each file untouched, and meta.json replaced by itself.
    let (dir, files) = template_graph();
    for (i, f) in files.iter().enumerate() {
        out.push(("graph_dir", vec![i as u8, 0, 0, 0]));
        if f.extension().is_some_and(|e| e == "json") {
            let meta = std::fs::read(dir.join(f)).expect("template meta");
            out.push(("graph_dir", [&[i as u8, 2, 0, 0][..], &meta].concat()));
        }
    }
    // 6. A manifest like `train` writes (without its end line: the harness adds it).
    let mdir = fresh_dir("seed-model");
    std::fs::write(mdir.join("config.json"), b"{}").expect("seed");
    let m = Manifest::build(&mdir, &["config.json".to_string()]).expect("seed manifest");
    let text = m.render();
    let body = &text[..text.rfind("# end ").expect("an end line")];
    out.push(("model_manifest", with(1, body.as_bytes())));
    out.push(("model_manifest", with(0, text.as_bytes())));
    // 8. Node features, with and without a header.
    out.push(("node_features", with(0, b"id,f1,f2\n1,0.5,1\n2,0.25,-1\n6,1e3,0\n")));
    out.push(("node_features", with(0x40, b"1 0.5\n2 x\n3 0.75\n")));
    // 9. Negative sets: import rows for the fixed graph, and that set's bytes.
    let store = neg_store();
    let rows: String = (5..10u32)
        .map(|e| {
            let (s, d, t) = store.event(e);
            format!("{s} {d} {t} {} {}\n", (d + 1) % 6, (d + 2) % 6)
        })
        .collect();
    out.push(("negatives", with(1, rows.as_bytes())));
    let parsed = parse_rows(&rows, Path::new("seed")).expect("seed rows");
    let set = NegativeSet::import_rows(
        store,
        5..10,
        DstRange::all(store.num_nodes()),
        &parsed,
        Path::new("seed"),
        0,
    )
    .expect("seed set");
    out.push(("negatives", with(0, &set.to_bytes())));
    out.push(("negatives", with(2, &set.to_bytes())));
    out
}
