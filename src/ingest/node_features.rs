//! Node features from a second file (`--node-features FILE`): rows `id,f1..fn`.
//!
//! Output shape: `num_nodes x dim` `f32`, row = dense node id; nodes without a
//! row get zeros (the report counts them). The delimiter comes from the first data
//! line (comma, tab, else whitespace), gzip is sniffed as for edges, and a first
//! line whose feature fields are not all numbers is a header. Ids go through the
//! edges' id map: an id not in the graph, a second row for the same node, and the
//! usual field errors are bad rows (`--on-bad-row skip` skips them). In a bipartite
//! graph a row applies to the source node and the destination node with that id.

use std::path::Path;

use crate::ingest::IngestError;
use crate::ingest::builder::Builder;
use crate::ingest::error::{ColumnDesc, Location, Role, excerpt};
use crate::ingest::layout::Split;
use crate::ingest::num::{non_finite_kind, parse_f32, parse_f64};
use crate::ingest::options::BadRowPolicy;
use crate::ingest::report::{MAX_EXAMPLES, NodeFeaturesReport};
use crate::ingest::rows::{Splitter, is_skippable, strip_eol};
use crate::ingest::source::{Input, io_error, open};
use crate::store::{NodeFeatures, NodeId};

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

struct Reader<'a> {
    name: &'a str,
    b: &'a Builder,
    num_nodes: usize,
    split: Split,
    names: Option<Vec<String>>,
    /// Width and the line that fixed it.
    dim: Option<(usize, u64)>,
    values: Vec<f32>,
    /// Line that gave each node its features (0 = none yet).
    seen: Vec<u64>,
    nodes: Vec<NodeId>,
    row: Vec<f32>,
}

impl Reader<'_> {
    fn column(&self, i: usize, role: Role) -> ColumnDesc {
        ColumnDesc { role, name: self.names.as_ref().and_then(|n| n.get(i)).cloned() }
    }

    fn lookup(&mut self, id: &[u8]) {
        self.nodes.clear();
        if let Some(d) = self.b.src_ids.get(id) {
            self.nodes.push(d);
        }
        if let Some(dst) = &self.b.dst_ids
            && let Some(d) = dst.get(id)
        {
            self.nodes.push(self.b.n_src() + d);
        }
    }

    fn row(&mut self, line: &[u8], ln: u64, sp: &mut Splitter) -> Result<(), IngestError> {
        let name = self.name;
        let at = |c: usize| Location::new(name, ln, Some(c + 1));
        if let Err(c) = sp.split(line, self.split) {
            return Err(IngestError::Unparsable {
                at: at(c),
                column: self.column(c, Role::NodeFeature),
                text: excerpt(line, 120),
                expected: "a quoted field (no closing quote)",
            });
        }
        let n = sp.len();
        if n < 2 {
            return Err(IngestError::FieldCount {
                at: at(n),
                expected: "at least 2 (an id and a feature)".into(),
                found: n,
                text: excerpt(line, 120),
            });
        }
        let (dim, first) = match self.dim {
            Some(d) => d,
            None => {
                self.values = vec![0.0; self.num_nodes * (n - 1)];
                *self.dim.insert((n - 1, ln))
            }
        };
        if n - 1 != dim {
            return Err(IngestError::FeatureWidth {
                at: at(1),
                expected: dim,
                found: n - 1,
                reference: format!("line {first}"),
                text: excerpt(line, 120),
            });
        }
        let id = sp.field(line, 0);
        self.lookup(id);
        if self.nodes.is_empty() {
            return Err(IngestError::UnknownNode { at: at(0), id: excerpt(id, 120) });
        }
        if let Some(&d) = self.nodes.iter().find(|&&d| self.seen[d as usize] != 0) {
            return Err(IngestError::DuplicateNode {
                at: at(0),
                id: excerpt(id, 120),
                first: self.seen[d as usize],
            });
        }
        self.row.clear();
        for i in 1..n {
            let f = sp.field(line, i);
            match parse_f32(f) {
                Some(v) if v.is_finite() => self.row.push(v),
                other => {
                    let column = self.column(i, Role::NodeFeature);
                    let text = excerpt(f, 120);
                    return Err(match other {
                        Some(v) => IngestError::NotFinite {
                            at: at(i),
                            column,
                            text,
                            kind: non_finite_kind(v as f64),
                        },
                        None => IngestError::Unparsable { at: at(i), column, text, expected: "a number" },
                    });
                }
            }
        }
        for &d in &self.nodes {
            let d = d as usize;
            self.seen[d] = ln;
            self.values[d * dim..(d + 1) * dim].copy_from_slice(&self.row);
        }
        Ok(())
    }
}

/// Read `path` against the ids in `b` (call before `Builder::finish_ids`; a
/// bipartite destination's dense id is `n_src + local id` either way).
pub(crate) fn read_node_features(
    path: &Path,
    b: &Builder,
    policy: BadRowPolicy,
) -> Result<(NodeFeatures, NodeFeaturesReport), IngestError> {
    let opened = open(path)?;
    let name = opened.name.clone();
    let mut r = match opened.input {
        Input::Text(r) => r,
        Input::Parquet(_) => {
            return Err(IngestError::Options(format!(
                "{name}: node features must be text (CSV, TSV or whitespace), not Parquet"
            )));
        }
    };
    let mut rd = Reader {
        name: &name,
        b,
        num_nodes: b.num_nodes() as usize,
        split: Split::Whitespace,
        names: None,
        dim: None,
        values: Vec::new(),
        seen: vec![0; b.num_nodes() as usize],
        nodes: Vec::new(),
        row: Vec::new(),
    };
    let mut report = NodeFeaturesReport { path: name.clone(), ..Default::default() };
    let mut sp = Splitter::default();
    let mut buf = Vec::new();
    let (mut ln, mut first) = (0u64, true);
    loop {
        buf.clear();
        let k = r.read_until(b'\n', &mut buf).map_err(|e| io_error(&name, opened.gzip, e, 0, ln + 1))?;
        if k == 0 {
            break;
        }
        ln += 1;
        if ln == 1 && buf.starts_with(UTF8_BOM) {
            buf.drain(..UTF8_BOM.len());
        }
        let line = strip_eol(&buf);
        if is_skippable(line) {
            continue;
        }
        if first {
            first = false;
            rd.split = if line.contains(&b',') {
                Split::Delim(b',')
            } else if line.contains(&b'\t') {
                Split::Delim(b'\t')
            } else {
                Split::Whitespace
            };
            if sp.split(line, rd.split).is_ok()
                && (1..sp.len()).any(|i| parse_f64(sp.field(line, i)).is_none())
            {
                rd.names = Some(
                    (0..sp.len())
                        .map(|i| String::from_utf8_lossy(sp.field(line, i)).trim().to_string())
                        .collect(),
                );
                continue;
            }
        }
        report.rows_read += 1;
        match rd.row(line, ln, &mut sp) {
            Ok(()) => report.rows_kept += 1,
            Err(e) if policy == BadRowPolicy::Skip => {
                report.rows_skipped += 1;
                if report.skipped_examples.len() < MAX_EXAMPLES {
                    report.skipped_examples.push(e.to_string());
                }
            }
            Err(e) => return Err(e),
        }
    }
    let Some((dim, _)) = rd.dim else {
        return Err(IngestError::Empty { at: Location::new(&name, ln + 1, Some(1)), detail: String::new() });
    };
    report.dim = dim;
    report.nodes_without_row = rd.seen.iter().filter(|&&s| s == 0).count() as u32;
    Ok((NodeFeatures { dim, values: rd.values }, report))
}
