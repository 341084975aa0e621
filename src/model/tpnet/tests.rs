//! TPNet's projections against a brute-force walk oracle: with `P = I` (`d = N`)
//! the layers are the temporal walk matrices themselves, which the oracle builds by
//! enumerating every walk; `P`'s rows depend on `(seed, v)` only; state round trips.

use tch::{Device, Kind, Tensor};

use super::projections::{Projections, projection_row};

/// Events `(u, v, t)` in batches (a walk may only continue into strictly earlier batches).
fn graph() -> Vec<Vec<(u32, u32, f64)>> {
    vec![
        vec![(0, 1, 10.0), (1, 2, 12.0)],
        vec![(2, 3, 20.0), (0, 2, 21.0), (3, 4, 25.0)],
        vec![(1, 4, 30.0)],
        vec![(4, 0, 41.0), (2, 1, 44.0), (3, 0, 45.0)],
    ]
}

/// `A^(l)_{u,v}(T)`: over walks `u = x0 -e1- x1 -e2- ... -el- xl = v` (either
/// direction of each event) whose events come from strictly decreasing batches,
/// the product of `exp(-lambda (T - t_ei))`.
fn oracle(batches: &[Vec<(u32, u32, f64)>], n: usize, hops: usize, decay: f64, big_t: f64) -> Vec<Vec<f64>> {
    let mut out = vec![vec![0.0; n * n]; hops + 1];
    for u in 0..n {
        out[0][u * n + u] = 1.0;
    }
    #[allow(clippy::too_many_arguments)]
    fn walk(
        b: &[Vec<(u32, u32, f64)>],
        at: usize,
        below: usize,
        len: usize,
        weight: f64,
        start: usize,
        n: usize,
        hops: usize,
        decay: f64,
        big_t: f64,
        out: &mut [Vec<f64>],
    ) {
        if len == hops {
            return;
        }
        for (bi, batch) in b.iter().enumerate().take(below) {
            for &(s, d, t) in batch {
                let w = weight * (-decay * (big_t - t)).exp();
                for (x, y) in [(s as usize, d as usize), (d as usize, s as usize)] {
                    if x == at {
                        out[len + 1][start * n + y] += w;
                        walk(b, y, bi, len + 1, w, start, n, hops, decay, big_t, out);
                    }
                }
            }
        }
    }
    for u in 0..n {
        walk(batches, u, batches.len(), 0, 1.0, u, n, hops, decay, big_t, &mut out);
    }
    out
}

fn identity_projections(n: usize, hops: usize, decay: f64) -> Projections {
    let mut p = Projections::new(n, hops, n, decay, 1, Device::Cpu);
    p.layers[0] = Tensor::eye(n as i64, (Kind::Float, Device::Cpu));
    p
}

#[test]
fn identity_projections_are_the_walk_matrices() {
    let (n, hops, decay) = (5, 3, 0.05);
    let batches = graph();
    let mut p = identity_projections(n, hops, decay);
    let mut end = 0;
    for b in &batches {
        let src: Vec<u32> = b.iter().map(|e| e.0).collect();
        let dst: Vec<u32> = b.iter().map(|e| e.1).collect();
        let t: Vec<f64> = b.iter().map(|e| e.2).collect();
        end += b.len();
        p.absorb(&src, &dst, &t, end);
    }
    let big_t = 45.0;
    let want = oracle(&batches, n, hops, decay, big_t);
    for (l, w) in want.iter().enumerate() {
        let got = Vec::<f32>::try_from(p.layers[l].flatten(0, -1)).unwrap();
        for (i, (&g, &x)) in got.iter().zip(w).enumerate() {
            assert!(
                (g as f64 - x).abs() <= 1e-5 * x.abs().max(1.0),
                "A^({l})[{},{}]: {g} vs {x}",
                i / n,
                i % n
            );
        }
    }
    assert!(want[3].iter().any(|&x| x > 0.0), "the graph has 3-walks");
    // Pair features decay to the query time: entry (layer 1 of u, layer 0 of v) is A^(1)_{u,v}(t).
    let t = 50.0;
    let f = Vec::<f32>::try_from(p.pair_features(&[0, 2], &[3, 1], &[t, t]).flatten(0, -1)).unwrap();
    let k1 = hops + 1;
    let w_at_t = oracle(&batches, n, hops, decay, t);
    for (q, (u, v)) in [(0usize, 3usize), (2, 1)].into_iter().enumerate() {
        let x = w_at_t[1][u * n + v];
        // Row 1 (layer 1 of u), column k + 1 (layer 0 of v) of the (2k + 2)^2 block.
        let (row, col) = (1, k1);
        let g = f[q * (2 * k1) * (2 * k1) + row * (2 * k1) + col] as f64;
        assert!((g - x.ln_1p()).abs() < 1e-5, "f({u},{v}) layer 1 x layer 0: {g} vs ln(1 + {x})");
    }
}

#[test]
fn projection_rows_depend_on_seed_and_node_only() {
    let mut a = Projections::new(10, 2, 8, 0.1, 7, Device::Cpu);
    let b = Projections::new(25, 2, 8, 0.1, 7, Device::Cpu);
    a.grow(25);
    assert!(a.layers[0].equal(&b.layers[0]), "grown rows equal a fresh build's");
    let mut row = [0f32; 8];
    projection_row(7, 3, 8, &mut row);
    assert_eq!(Vec::<f32>::try_from(b.layers[0].get(3)).unwrap(), row.to_vec());
    let c = Projections::new(10, 2, 8, 0.1, 8, Device::Cpu);
    assert!(!c.layers[0].equal(&a.layers[0].narrow(0, 0, 10)), "another seed, other rows");
    // Variance 1/d.
    let big = Projections::new(2000, 1, 64, 0.0, 3, Device::Cpu);
    let var = big.layers[0].square().mean(Kind::Double).double_value(&[]);
    assert!((var * 64.0 - 1.0).abs() < 0.02, "variance {var} vs 1/64");
}

#[test]
fn projections_save_and_load_round_trip() {
    let mut p = Projections::new(6, 2, 4, 0.01, 5, Device::Cpu);
    p.absorb(&[0, 1, 2], &[1, 2, 5], &[1.0, 2.0, 3.0], 3);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.safetensors");
    p.save(&path).unwrap();
    let mut q = Projections::new(6, 2, 4, 0.01, 5, Device::Cpu);
    q.load(&path).unwrap();
    assert_eq!((q.absorbed, q.time), (3, 3.0));
    for l in 0..3 {
        assert!(p.layers[l].equal(&q.layers[l]), "layer {l}");
    }
    let mut wrong = Projections::new(7, 2, 4, 0.01, 5, Device::Cpu);
    let e = wrong.load(&path).unwrap_err().to_string();
    assert!(e.contains("walk1") && e.contains("shape"), "{e}");
}

/// A node without events contributes zeros, not its random row: the pair features
/// of a never-seen node do not depend on which dense id it has.
#[test]
fn unseen_nodes_have_no_pair_signal() {
    let mut p = Projections::new(8, 2, 6, 0.01, 5, Device::Cpu);
    p.absorb(&[0, 1], &[1, 2], &[1.0, 2.0], 2);
    let f =
        |a: i64, b: i64| Vec::<f32>::try_from(p.pair_features(&[a], &[b], &[3.0]).flatten(0, -1)).unwrap();
    assert_eq!(f(0, 5), f(0, 6), "two unseen nodes give one answer");
    assert_ne!(f(0, 1), f(0, 5));
    assert!(f(5, 6).iter().all(|&x| x == 0.0));
}
