//! Building the id map: external ids (as parsed, [`RawId`]) -> dense `u32`, in order
//! of first appearance.
//!
//! Integer-looking ids in `0..2^24` (most datasets: ids are small row numbers)
//! index a direct table, grown on demand; other integers go through a
//! `HashMap<i64, u32>`; neither allocates per row. Other ids go through a map keyed
//! by their bytes, which allocates once per new id.
//! An id is "integer-looking" when the whole field is an optional sign and digits
//! fitting `i64`, so `007` and `7` are the same node in every mode. If any id is not
//! integer-looking the final map is `ExternalIds::Str`, integers rendered in
//! decimal; otherwise it stays `ExternalIds::Int`.

use std::collections::HashMap;

use foldhash::fast::RandomState;

use crate::ingest::IngestError;
use crate::ingest::num::parse_i64;
use crate::store::{ExternalIds, NodeId};

/// An id as parsed from one row: an integer, or a byte range of the chunk's
/// string arena (so parsing never allocates per row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawId {
    Int(i64),
    Str { start: u32, len: u32 },
}

impl RawId {
    /// Classify a field: integer, or a string appended to `arena`.
    #[inline]
    pub(crate) fn from_field(field: &[u8], arena: &mut Vec<u8>) -> RawId {
        match parse_i64(field) {
            Some(v) => RawId::Int(v),
            None => {
                let start = arena.len() as u32;
                arena.extend_from_slice(field);
                RawId::Str { start, len: field.len() as u32 }
            }
        }
    }
}

/// Integer ids below this use the direct table (at most 64 MiB of it).
const DIRECT_LIMIT: i64 = 1 << 24;
const ABSENT: NodeId = NodeId::MAX;

/// One id space (a whole graph, or one side of a bipartite graph).
#[derive(Debug, Default)]
pub(crate) struct Interner {
    /// `direct[v]` = dense id of integer id `v` (`ABSENT` if unseen), for small `v`:
    /// one cache-friendly load instead of a hash probe.
    direct: Vec<NodeId>,
    n_direct: usize,
    ints: HashMap<i64, NodeId, RandomState>,
    strs: HashMap<Box<[u8]>, NodeId, RandomState>,
    /// Bytes of the string ids' heap copies (for [`Interner::approx_bytes`]).
    str_bytes: usize,
}

impl Interner {
    pub(crate) fn len(&self) -> usize {
        self.n_direct + self.ints.len() + self.strs.len()
    }

    /// All integer ids with their dense ids.
    fn int_pairs(&self) -> impl Iterator<Item = (i64, NodeId)> + '_ {
        let direct =
            self.direct.iter().enumerate().filter(|(_, d)| **d != ABSENT).map(|(v, &d)| (v as i64, d));
        direct.chain(self.ints.iter().map(|(&k, &d)| (k, d)))
    }

    /// Approximate heap bytes held (tables at capacity plus string copies); the
    /// out-of-core ingest counts it against its memory limit.
    pub(crate) fn approx_bytes(&self) -> u64 {
        // hashbrown: a slot per 7/8 of capacity, plus one control byte per slot.
        let slots = |cap: usize| (cap * 8 / 7 + 1) as u64;
        (self.direct.capacity() * 4) as u64
            + slots(self.ints.capacity()) * (16 + 1)
            + slots(self.strs.capacity()) * (24 + 1)
            + self.str_bytes as u64
    }

    pub(crate) fn has_strings(&self) -> bool {
        !self.strs.is_empty()
    }

    fn next_id(&self) -> Result<NodeId, IngestError> {
        let n = self.len();
        // u32::MAX itself stays free so that `num_nodes` fits a u32.
        if n >= u32::MAX as usize {
            return Err(IngestError::TooMany { what: "nodes", max: u32::MAX as u64 });
        }
        Ok(n as NodeId)
    }

    /// Dense id of `raw`, assigning the next one on first sight. `arena` is the
    /// string arena `raw` points into.
    #[inline]
    pub(crate) fn intern(&mut self, raw: RawId, arena: &[u8]) -> Result<NodeId, IngestError> {
        match raw {
            RawId::Int(v) if (0..DIRECT_LIMIT).contains(&v) => {
                let i = v as usize;
                if let Some(&d) = self.direct.get(i)
                    && d != ABSENT
                {
                    return Ok(d);
                }
                let d = self.next_id()?;
                if i >= self.direct.len() {
                    // Doubling keeps growth amortised; the cap bounds the table.
                    let len = (i + 1).next_power_of_two().max(1024).min(DIRECT_LIMIT as usize);
                    self.direct.resize(len, ABSENT);
                }
                self.direct[i] = d;
                self.n_direct += 1;
                Ok(d)
            }
            RawId::Int(v) => {
                if let Some(&d) = self.ints.get(&v) {
                    return Ok(d);
                }
                let d = self.next_id()?;
                self.ints.insert(v, d);
                Ok(d)
            }
            RawId::Str { start, len } => {
                let key = &arena[start as usize..start as usize + len as usize];
                if let Some(&d) = self.strs.get(key) {
                    return Ok(d);
                }
                let d = self.next_id()?;
                self.strs.insert(key.into(), d);
                // malloc rounds small blocks up and keeps a header; 16 B is its usual cost.
                self.str_bytes += key.len().next_multiple_of(16) + 16;
                Ok(d)
            }
        }
    }

    /// Dense id of an external id given as text, if known.
    pub(crate) fn get(&self, field: &[u8]) -> Option<NodeId> {
        match parse_i64(field) {
            Some(v) if (0..DIRECT_LIMIT).contains(&v) => {
                self.direct.get(v as usize).copied().filter(|&d| d != ABSENT)
            }
            Some(v) => self.ints.get(&v).copied(),
            None => self.strs.get(field).copied(),
        }
    }

    /// External ids in dense order, appended to `ints` (while every id so far is an
    /// integer) or to `strs`. Callers start with `Int` and switch to `Str` when any
    /// interner has strings.
    pub(crate) fn append_names(&self, out: &mut ExternalIds) {
        let base = out.len();
        match out {
            ExternalIds::Int(v) => {
                v.resize(base + self.len(), 0);
                for (k, d) in self.int_pairs() {
                    v[base + d as usize] = k;
                }
            }
            ExternalIds::Str(v) => {
                v.resize(base + self.len(), String::new());
                for (k, d) in self.int_pairs() {
                    v[base + d as usize] = k.to_string();
                }
                for (k, &d) in &self.strs {
                    // Ids were checked to be UTF-8 when parsed; lossy is only a fallback.
                    v[base + d as usize] = String::from_utf8_lossy(k).into_owned();
                }
            }
        }
    }
}

/// The external-id list for one or two interners (two: bipartite, sources first).
pub(crate) fn external_ids(spaces: &[&Interner]) -> ExternalIds {
    let mut names = if spaces.iter().any(|s| s.has_strings()) {
        ExternalIds::Str(Vec::new())
    } else {
        ExternalIds::Int(Vec::new())
    };
    for s in spaces {
        s.append_names(&mut names);
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_appearance_order_and_modes() {
        let mut arena = Vec::new();
        let ids: Vec<RawId> = ["10", "3", "10", "007", "7"]
            .iter()
            .map(|s| RawId::from_field(s.as_bytes(), &mut arena))
            .collect();
        let mut it = Interner::default();
        let dense: Vec<u32> = ids.iter().map(|&r| it.intern(r, &arena).unwrap()).collect();
        assert_eq!(dense, vec![0, 1, 0, 2, 2]);
        assert_eq!(external_ids(&[&it]), ExternalIds::Int(vec![10, 3, 7]));

        let r = RawId::from_field(b"alice", &mut arena);
        assert_eq!(it.intern(r, &arena).unwrap(), 3);
        assert_eq!(it.intern(r, &arena).unwrap(), 3);
        assert_eq!(
            external_ids(&[&it]),
            ExternalIds::Str(vec!["10".into(), "3".into(), "7".into(), "alice".into()])
        );
        assert_eq!(it.get(b"alice"), Some(3));
        assert_eq!(it.get(b"+10"), Some(0));
        assert_eq!(it.get(b"bob"), None);
    }
}
