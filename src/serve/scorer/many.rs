//! Many sources at once ([`Scorer::top_k_many`]): `recommend --sources FILE` and
//! `POST /recommend`. Each query is `(src, t)`; the answer per query is what
//! [`Scorer::top_k`] gives it (same candidates and order, ties by lower dense id;
//! scores equal up to float rounding of differently shaped batches, tested to 1e-6).
//!
//! **Grid targets** (TGN and GraphMixer, through `StreamScorer::score_grid`):
//! queries at the same `t` are answered in blocks of up to `B = 181` sources, the
//! candidates visited in pieces of `CHUNK`, with a running top-k per source. One
//! call per piece embeds each distinct node of the block's sources and the piece
//! once at `t`, projects them once, and decodes every `source x candidate` pair
//! from the two projections, so a block costs about one exhaustive query plus `B`
//! decoder passes.
//!
//! **Everything else** (pair models, baselines, retrieval) shares nothing across
//! sources and is answered one `top_k` at a time: measured, a shared pass only
//! added bookkeeping for the baselines (docs/SERVING.md).
//!
//! With the top-k cache on (`crate::serve::scorer::cache`), the candidates' rows
//! at `t` are computed once for every block (and kept for later calls), and a
//! block costs its sources' embeddings plus the decoder passes.
//!
//! Memory: one piece's scores (`B x CHUNK` at most, 47 MB), plus each source's
//! running top-k (pruned to `k` whenever it passes `4 k + piece`), never a score
//! per candidate and source.

use std::collections::HashSet;

use rayon::prelude::*;

use super::{CHUNK, Scorer, best_k};
use crate::serve::{Ranked, ServeError, TopK};
use crate::store::{NodeId, Side, Time};

/// Sources per block (module docs).
const BLOCK: usize = 181;

/// One query of [`Scorer::top_k_many`].
#[derive(Debug, Clone, PartialEq)]
pub struct SourceQuery {
    pub src: String,
    pub t: f64,
}

/// A source's best candidates so far: `(dense id, score)` pairs, pruned to the
/// `k` best by the order of [`best_k`].
struct Running {
    cand: Vec<NodeId>,
    score: Vec<f64>,
    /// The k-th best score after the last prune (`-inf` before one kept `k`):
    /// anything scoring less cannot make the top-k.
    floor: f64,
}

impl Running {
    fn prune(&mut self, k: usize) {
        let keep = best_k(&self.cand, &self.score, k);
        self.cand = keep.iter().map(|&i| self.cand[i]).collect();
        self.score = keep.iter().map(|&i| self.score[i]).collect();
        if k > 0 && self.score.len() == k {
            self.floor = self.score[k - 1];
        }
    }
}

impl Scorer {
    /// [`Scorer::top_k`] for every query, in order; errors name the query's index.
    /// With `opts.retrieve`, each query retrieves its own candidates and is ranked
    /// alone. Otherwise the candidates (`opts.candidates`, or every destination)
    /// are shared by the queries at one time (module docs).
    pub fn top_k_many(
        &self,
        queries: &[SourceQuery],
        opts: &TopK,
    ) -> Result<Vec<(Vec<Ranked>, bool)>, ServeError> {
        self.top_k_many_in(queries, opts, BLOCK, CHUNK)
    }

    /// [`Scorer::top_k_many`] with `block` sources per block and `chunk` candidates
    /// per call (tests force many blocks, pieces and prunes on small graphs).
    pub(crate) fn top_k_many_in(
        &self,
        queries: &[SourceQuery],
        opts: &TopK,
        block: usize,
        chunk: usize,
    ) -> Result<Vec<(Vec<Ranked>, bool)>, ServeError> {
        let at = |i: usize, e: ServeError| e.at_index(i);
        let Some(t0) = queries.first().map(|q| q.t) else { return Ok(Vec::new()) };
        // Retrieval picks candidates per source, and pair targets share nothing
        // across sources: both are answered one query at a time.
        if opts.retrieve.is_some() || !self.grid_ready(t0)? {
            return queries
                .iter()
                .enumerate()
                .map(|(i, q)| self.top_k(&q.src, q.t, opts).map_err(|e| at(i, e)))
                .collect();
        }
        let mut src = Vec::with_capacity(queries.len());
        for (i, q) in queries.iter().enumerate() {
            self.check_time(i, q.t)?;
            src.push(self.resolve(i, "src", Side::Src, &q.src)?);
        }
        let (base, exhaustive) = match &opts.candidates {
            Some(list) => {
                let mut v = Vec::with_capacity(list.len());
                for (i, c) in list.iter().enumerate() {
                    v.push(self.resolve(i, "candidates", Side::Dst, c)?.0);
                }
                (v, false)
            }
            None => ((0..self.store.num_nodes()).filter(|&d| self.ids.is_destination(d)).collect(), true),
        };
        // Queries grouped by time (in first-seen order), each group in blocks.
        let mut order: Vec<usize> = (0..queries.len()).collect();
        let first: std::collections::HashMap<u64, usize> =
            queries.iter().enumerate().rev().map(|(i, q)| (q.t.to_bits(), i)).collect();
        order.sort_by_key(|&i| first[&queries[i].t.to_bits()]);
        let mut out: Vec<Option<(Vec<Ranked>, bool)>> = vec![None; queries.len()];
        let mut lo = 0;
        while lo < order.len() {
            let t = queries[order[lo]].t;
            let mut hi = lo + 1;
            while hi < order.len() && hi - lo < block.max(1) && queries[order[hi]].t.to_bits() == t.to_bits()
            {
                hi += 1;
            }
            let part = &order[lo..hi];
            let ranked =
                self.rank_block(part.iter().map(|&i| src[i]).collect(), t, &base, exhaustive, opts, chunk)?;
            for (&i, r) in part.iter().zip(ranked) {
                out[i] = Some((r, src[i].1));
            }
            lo = hi;
        }
        Ok(out.into_iter().map(|r| r.expect("every query is in one block")).collect())
    }

    /// Whether the target scores `source x candidate` grids now (the node-embedding
    /// models with their state current): an empty grid asks without scoring.
    fn grid_ready(&self, t: Time) -> Result<bool, ServeError> {
        Ok(self.target().score_grid(self.store.as_ref(), &[], &[], t, &mut Vec::new())?)
    }

    /// The top-k of `base` for each `(source, cold)` of one block at `t`.
    fn rank_block(
        &self,
        srcs: Vec<(NodeId, bool)>,
        t: Time,
        base: &[NodeId],
        exhaustive: bool,
        opts: &TopK,
        chunk: usize,
    ) -> Result<Vec<Vec<Ranked>>, ServeError> {
        let b = srcs.len();
        let k = opts.k;
        let src_ids: Vec<NodeId> = srcs.iter().map(|&(s, _)| s).collect();
        let piece = chunk.max(1);
        let seen: Vec<Option<HashSet<NodeId>>> = srcs
            .iter()
            .map(|&(s, cold)| {
                (opts.exclude_seen && !cold)
                    .then(|| self.store.neighbors(s).iter().map(|(v, _, _)| v).collect())
            })
            .collect();
        let keep = |j: usize, d: NodeId| {
            let s = srcs[j].0;
            !(exhaustive && d == s) && seen[j].as_ref().is_none_or(|h| !h.contains(&d))
        };
        let mut run: Vec<Running> = (0..b)
            .map(|_| Running { cand: Vec::new(), score: Vec::new(), floor: f64::NEG_INFINITY })
            .collect();
        let mut scores = Vec::new();
        let side = self.cache.sources(&**self.target(), self.store.as_ref(), &src_ids, t)?;
        for cands in base.chunks(piece) {
            // `&self` excludes ingestion for the whole call, so a target that was
            // ready in `grid_ready` stays ready.
            // Through the top-k cache when it can (rows computed once per time, not
            // once per block), else the target's own grid.
            let cached = match &side {
                Some(side) => {
                    self.cache.grid_of(&**self.target(), self.store.as_ref(), side, cands, &mut scores)?
                }
                None => false,
            };
            if !cached && !self.target().score_grid(self.store.as_ref(), &src_ids, cands, t, &mut scores)? {
                return Err(ServeError::State {
                    path: "scorer".into(),
                    why: "the target stopped scoring grids in the middle of a call".into(),
                });
            }
            // Source-major: `scores[j * cands.len() + ci]` scores `(src j, cands[ci])`,
            // so each source reads its own row. A candidate below a source's floor
            // (its k-th best after a prune) can never enter its top-k: skipped.
            let c = cands.len();
            run.par_iter_mut().enumerate().for_each(|(j, r)| {
                let row = &scores[j * c..(j + 1) * c];
                for (&d, &sc) in cands.iter().zip(row) {
                    // `!(<)`: a NaN stays, ranked as `best_k` ranks it.
                    if !(sc < r.floor) && keep(j, d) {
                        r.cand.push(d);
                        r.score.push(sc);
                    }
                }
                if r.cand.len() > 4 * k + piece {
                    r.prune(k);
                }
            });
        }
        Ok(run
            .into_iter()
            .map(|mut r| {
                r.prune(k);
                r.cand.iter().zip(&r.score).map(|(&d, &score)| Ranked { dst: self.label(d), score }).collect()
            })
            .collect())
    }
}
