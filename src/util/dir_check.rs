//! `verify` of a model directory or a live state directory: every file against the
//! manifest (`util::manifest`), then each file's contents by kind, without libtorch:
//! JSON files parse, JSON-lines files parse line by line, safetensors files have a
//! well-formed header whose tensors exactly tile the data (dtype size x shape =
//! byte range, ranges in bounds and covering every data byte), text files are UTF-8.
//! Files the manifest does not list are reported (harmless: the live state and its
//! write-ahead log sit inside a model directory by default).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::util::manifest::{self, MANIFEST, Manifest, ManifestError};

/// Outcome for one listed file.
#[derive(Debug, Clone, Serialize)]
pub struct FileCheck {
    pub file: String,
    pub bytes: u64,
    pub xxh3: String,
    pub ok: bool,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DirReport {
    pub dir: PathBuf,
    /// Whether the directory has a manifest (directories from before have none).
    pub manifest: bool,
    pub files: Vec<FileCheck>,
    /// Content problems of files whose checksum matched (or, without a manifest,
    /// of every known file present).
    pub contents: Vec<String>,
    /// Files present but not listed.
    pub unreferenced: Vec<String>,
    pub bytes: u64,
    pub ok: bool,
}

impl DirReport {
    pub fn failed_files(&self) -> impl Iterator<Item = &FileCheck> {
        self.files.iter().filter(|f| !f.ok)
    }
}

/// Check `dir` whole. `known` lists the files such a directory holds (checked for
/// contents when there is no manifest). `Err` only when the manifest itself cannot
/// be read or is damaged.
pub fn check_dir(dir: &Path, known: &[&str]) -> Result<DirReport, ManifestError> {
    let m = Manifest::read(dir)?;
    let has_manifest = m.is_some();
    let m = m.unwrap_or_else(|| Manifest {
        entries: known
            .iter()
            .filter(|f| dir.join(f).is_file())
            .map(|f| manifest::Entry { file: f.to_string(), bytes: 0, xxh3: String::new() })
            .collect(),
    });
    let results: Vec<Result<(), ManifestError>> =
        if has_manifest { manifest::check_all(dir, &m) } else { m.entries.iter().map(|_| Ok(())).collect() };
    let mut files = Vec::new();
    let mut contents = Vec::new();
    for (e, r) in m.entries.iter().zip(results) {
        let bytes = std::fs::metadata(dir.join(&e.file)).map_or(0, |md| md.len());
        if r.is_ok()
            && let Err(why) = check_contents(&dir.join(&e.file))
        {
            contents.push(format!("{}: {why}", e.file));
        }
        files.push(FileCheck {
            file: e.file.clone(),
            bytes,
            xxh3: e.xxh3.clone(),
            ok: r.is_ok(),
            error: r.err().map(|x| x.to_string()),
        });
    }
    let mut all = Vec::new();
    manifest::list_files(dir, "", &mut all)?;
    let mut unreferenced: Vec<String> =
        all.into_iter().filter(|f| f != MANIFEST && m.get(f).is_none()).collect();
    unreferenced.sort();
    let ok = files.iter().all(|f| f.ok) && contents.is_empty();
    Ok(DirReport {
        dir: dir.to_path_buf(),
        manifest: has_manifest,
        bytes: files.iter().map(|f| f.bytes).sum(),
        files,
        contents,
        unreferenced,
        ok,
    })
}

/// Check one file's contents by its kind (extension); unknown kinds pass.
pub fn check_contents(path: &Path) -> Result<(), String> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let ext = name.rsplit('.').next().unwrap_or("");
    if !matches!(ext, "json" | "jsonl" | "safetensors" | "tsv") {
        return Ok(());
    }
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    match ext {
        "json" => serde_json::from_slice::<serde_json::Value>(&bytes).map(|_| ()).map_err(|e| e.to_string()),
        "jsonl" => {
            for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
                if !line.is_empty() {
                    serde_json::from_slice::<serde_json::Value>(line)
                        .map_err(|e| format!("line {}: {e}", i + 1))?;
                }
            }
            Ok(())
        }
        "safetensors" => check_safetensors(&bytes),
        _ => std::str::from_utf8(&bytes).map(|_| ()).map_err(|e| format!("not UTF-8: {e}")),
    }
}

fn dtype_bytes(dtype: &str) -> Option<u64> {
    Some(match dtype {
        "BOOL" | "U8" | "I8" | "F8_E4M3" | "F8_E5M2" => 1,
        "I16" | "U16" | "F16" | "BF16" => 2,
        "I32" | "U32" | "F32" => 4,
        "I64" | "U64" | "F64" => 8,
        _ => return None,
    })
}

/// A safetensors file: `u64 LE header length | JSON header | data`, every tensor
/// `{dtype, shape, data_offsets: [begin, end]}` relative to the data, the ranges
/// tiling the data exactly.
pub fn check_safetensors(bytes: &[u8]) -> Result<(), String> {
    if bytes.len() < 8 {
        return Err(format!("{} bytes: too short for a safetensors header", bytes.len()));
    }
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap());
    if n > bytes.len() as u64 - 8 {
        return Err(format!("header length {n} but the file has {} bytes", bytes.len()));
    }
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + n as usize]).map_err(|e| format!("header: {e}"))?;
    let data = bytes.len() as u64 - 8 - n;
    let mut ranges = Vec::new();
    for (name, v) in &header {
        if name == "__metadata__" {
            continue;
        }
        let bad = |why: &str| format!("tensor {name:?}: {why}");
        let dtype = v.get("dtype").and_then(|d| d.as_str()).ok_or_else(|| bad("no dtype"))?;
        let size = dtype_bytes(dtype).ok_or_else(|| bad(&format!("unknown dtype {dtype}")))?;
        let shape = v.get("shape").and_then(|s| s.as_array()).ok_or_else(|| bad("no shape"))?;
        let mut count = 1u64;
        for d in shape {
            let d = d.as_u64().ok_or_else(|| bad("shape is not a list of sizes"))?;
            count = count.checked_mul(d).ok_or_else(|| bad("shape overflows"))?;
        }
        let off = v.get("data_offsets").and_then(|o| o.as_array()).ok_or_else(|| bad("no data_offsets"))?;
        let (Some(a), Some(b)) = (off.first().and_then(|x| x.as_u64()), off.get(1).and_then(|x| x.as_u64()))
        else {
            return Err(bad("data_offsets is not [begin, end]"));
        };
        if a > b || b > data || count.checked_mul(size) != Some(b - a) {
            return Err(bad(&format!("bytes {a}..{b} for {count} x {size} bytes in {data} data bytes")));
        }
        ranges.push((a, b));
    }
    ranges.sort();
    let mut at = 0;
    for (a, b) in ranges {
        if a != at {
            return Err(format!("data bytes {at}..{a} belong to no tensor, or tensors overlap"));
        }
        at = b;
    }
    if at != data {
        return Err(format!("tensors cover {at} of {data} data bytes"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(tensors: &[(&str, &str, &[u64], [u64; 2])], data: usize) -> Vec<u8> {
        let mut h = serde_json::Map::new();
        for (n, d, s, o) in tensors {
            h.insert(n.to_string(), serde_json::json!({"dtype": d, "shape": s, "data_offsets": o}));
        }
        let hb = serde_json::to_vec(&h).unwrap();
        let mut out = (hb.len() as u64).to_le_bytes().to_vec();
        out.extend(hb);
        out.extend(vec![0u8; data]);
        out
    }

    #[test]
    fn safetensors_headers_are_checked() {
        let good = st(&[("a", "F32", &[2, 3], [0, 24]), ("b", "I64", &[1], [24, 32])], 32);
        check_safetensors(&good).unwrap();
        assert!(check_safetensors(&good[..good.len() - 1]).is_err(), "short data");
        assert!(check_safetensors(&[good.as_slice(), &[0]].concat()).is_err(), "extra data");
        assert!(check_safetensors(&good[..5]).is_err());
        assert!(check_safetensors(&st(&[("a", "F32", &[2, 3], [0, 20])], 20)).is_err(), "size");
        assert!(check_safetensors(&st(&[("a", "F32", &[1], [4, 8])], 8)).is_err(), "gap");
        assert!(check_safetensors(&st(&[("a", "Q4", &[1], [0, 4])], 4)).is_err(), "dtype");
        let mut bad = good.clone();
        bad[0] ^= 0x40;
        assert!(check_safetensors(&bad).is_err(), "header length");
    }
}
