//! `dense_hop` (one dense pull hop) against an `f64` matrix-vector product.

mod common;

use axonal::graph::Ordering;
use axonal::graph::generate::SplitMix64;
use axonal::spread::{SpreadError, dense_hop};

#[test]
fn matches_the_f64_product_and_is_order_free() {
    for (seed, n, m) in [(1u64, 1u32, 0u32), (2, 50, 400), (3, 2000, 30_000)] {
        let g = common::random_graph(seed, n, m, seed % 2 == 0);
        let mut rng = SplitMix64::new(seed);
        let x: Vec<f32> = (0..n).map(|_| rng.next_f32()).collect();
        let mut want = vec![0f64; n as usize];
        let mut terms = vec![0u64; n as usize];
        for (u, v, w) in g.edges() {
            want[v as usize] += f64::from(x[u as usize]) * f64::from(w);
            terms[v as usize] += 1;
        }
        let mut y = vec![0f32; n as usize];
        dense_hop(&g, &x, &mut y).unwrap();
        for v in 0..n as usize {
            let tol = (1e-7 * terms[v] as f64).max(1e-6) * want[v].max(1.0);
            assert!(
                (f64::from(y[v]) - want[v]).abs() <= tol,
                "node {v}: {} vs {}",
                y[v],
                want[v]
            );
        }
        // The same product on a renumbered graph meets the edges in another
        // order, yet gives the same bits (fixed-point sums are order-free).
        let (h, perm) = g.reorder(Ordering::BreadthFirst);
        let xh: Vec<f32> = (0..n).map(|new| x[perm.to_old(new) as usize]).collect();
        let mut yh = vec![0f32; n as usize];
        dense_hop(&h, &xh, &mut yh).unwrap();
        for v in 0..n {
            assert_eq!(
                yh[perm.to_new(v) as usize].to_bits(),
                y[v as usize].to_bits()
            );
        }
    }
}

#[test]
fn bad_inputs_are_typed_errors() {
    let g = common::random_graph(9, 10, 30, false);
    let mut y = vec![0f32; 10];
    assert_eq!(
        dense_hop(&g, &[0.5; 9], &mut y),
        Err(SpreadError::LengthMismatch {
            expected: 10,
            found: 9
        })
    );
    assert_eq!(
        dense_hop(&g, &[0.5; 10], &mut y[..3]),
        Err(SpreadError::LengthMismatch {
            expected: 10,
            found: 3
        })
    );
    let mut x = vec![0.5f32; 10];
    x[4] = 1.5;
    assert_eq!(
        dense_hop(&g, &x, &mut y),
        Err(SpreadError::InvalidValue {
            index: 4,
            value: 1.5
        })
    );
    x[4] = f32::NAN;
    assert!(matches!(
        dense_hop(&g, &x, &mut y),
        Err(SpreadError::InvalidValue { index: 4, .. })
    ));
}
