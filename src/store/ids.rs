//! `IdMap`: external node ids (integers or strings) <-> dense `u32` ids.
//!
//! Dense ids are assigned in order of first appearance in the input (file order,
//! before the time sort), so the same file always yields the same ids. With
//! `bipartite`, sources and destinations live in separate id spaces: external
//! "1" as a source and "1" as a destination are two nodes; sources get dense ids
//! `0..n_src` and destinations `n_src..n_src + n_dst`.

use std::collections::HashMap;

use crate::store::NodeId;

/// External ids of one kind: all integers when every id in the input parses as one,
/// otherwise strings (integers are then kept in their textual form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExternalIds {
    Int(Vec<i64>),
    Str(Vec<String>),
}

impl ExternalIds {
    pub fn len(&self) -> usize {
        match self {
            ExternalIds::Int(v) => v.len(),
            ExternalIds::Str(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Textual form of the external id at dense position `i`.
    pub fn display(&self, i: usize) -> String {
        match self {
            ExternalIds::Int(v) => v[i].to_string(),
            ExternalIds::Str(v) => v[i].clone(),
        }
    }
}

/// Which id space a lookup refers to (only matters for bipartite graphs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Src,
    Dst,
}

/// Dense id `d` has external id `names.display(d)`. For bipartite graphs,
/// `n_src` splits the dense range into sources `[0, n_src)` and destinations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdMap {
    pub names: ExternalIds,
    /// `Some(n_src)` for bipartite graphs.
    pub n_src: Option<u32>,
    index: Option<HashMap<(u8, String), NodeId>>,
    /// Nodes added after the map was built (live appends), in id order from
    /// `names.len() - added.len()`: 1 for a destination-side node of a bipartite
    /// graph, else 0. Appended nodes cannot keep the source-first layout.
    added: Vec<u8>,
}

impl IdMap {
    pub fn new(names: ExternalIds, n_src: Option<u32>) -> Self {
        Self { names, n_src, index: None, added: Vec::new() }
    }

    pub fn num_nodes(&self) -> u32 {
        self.names.len() as u32
    }

    pub fn is_bipartite(&self) -> bool {
        self.n_src.is_some()
    }

    pub fn external(&self, id: NodeId) -> String {
        self.names.display(id as usize)
    }

    fn side_key(&self, side: Side, d: usize) -> u8 {
        let base = self.names.len() - self.added.len();
        if d >= base {
            return self.added[d - base];
        }
        match self.n_src {
            Some(n) => u8::from(d >= n as usize),
            None => {
                let _ = side;
                0
            }
        }
    }

    /// Build the reverse index (external -> dense); needed before `lookup`.
    pub fn build_index(&mut self) {
        let mut idx = HashMap::with_capacity(self.names.len());
        for d in 0..self.names.len() {
            idx.insert((self.side_key(Side::Src, d), self.names.display(d)), d as NodeId);
        }
        self.index = Some(idx);
    }

    /// Whether dense node `d` is on the destination side of a bipartite graph
    /// (always true for a graph that is not bipartite).
    pub fn is_destination(&self, d: NodeId) -> bool {
        self.n_src.is_none() || self.side_key(Side::Dst, d as usize) == 1
    }

    /// Add a node first seen after the map was built; returns its dense id
    /// (`num_nodes()` before the call). The caller checks it is not known yet.
    pub fn push(&mut self, side: Side, external: &str) -> NodeId {
        let d = self.names.len();
        let key = match self.n_src {
            Some(_) => u8::from(side == Side::Dst),
            None => 0,
        };
        let as_int = external.parse::<i64>().ok().filter(|v| v.to_string() == external);
        match (&mut self.names, as_int) {
            (ExternalIds::Int(v), Some(i)) => v.push(i),
            (ExternalIds::Int(v), None) => {
                let mut s: Vec<String> = v.iter().map(|i| i.to_string()).collect();
                s.push(external.to_string());
                self.names = ExternalIds::Str(s);
            }
            (ExternalIds::Str(v), _) => v.push(external.to_string()),
        }
        self.added.push(key);
        if let Some(idx) = self.index.as_mut() {
            idx.insert((key, external.to_string()), d as NodeId);
        }
        d as NodeId
    }

    /// Dense id of an external id on the given side; `None` when unknown.
    /// Call `build_index` first.
    pub fn lookup(&self, side: Side, external: &str) -> Option<NodeId> {
        let idx = self.index.as_ref().expect("IdMap::build_index not called");
        let key = match self.n_src {
            Some(_) => u8::from(side == Side::Dst),
            None => 0,
        };
        idx.get(&(key, external.to_string())).copied()
    }
}
