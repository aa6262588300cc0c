//! Each similarity kernel, written once over [`Vector`].
//!
//! The kernels keep several independent accumulators so that consecutive
//! fused multiply-adds do not wait on each other (an FMA has a latency of
//! about four cycles and two of them issue per cycle), and finish the last
//! `len % LANES` elements with scalar code. Lengths are checked by the safe
//! callers in [`super::Kernels`].

use super::vector::Vector;

/// `sum(term(a[i], b[i]))` with four independent accumulators: `step(x, y,
/// acc)` folds a vector of lanes into an accumulator, `term` does the same for
/// one scalar of the tail.
///
/// # Safety
/// `V` must be supported by the CPU; `a.len() == b.len()`.
#[inline(always)]
unsafe fn reduce4<V: Vector>(
    a: &[f32],
    b: &[f32],
    step: impl Fn(V, V, V) -> V,
    term: impl Fn(f32, f32) -> f32,
) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let (n, pa, pb) = (a.len(), a.as_ptr(), b.as_ptr());
    let unroll = 4 * V::LANES;
    let mut i = 0;
    // SAFETY: every load reads `LANES` floats starting below `n - LANES + 1`,
    // inside both slices; the CPU supports `V` (caller's contract).
    unsafe {
        let mut acc = [V::zero(); 4];
        while i + unroll <= n {
            for (k, acc) in acc.iter_mut().enumerate() {
                let off = i + k * V::LANES;
                *acc = step(V::load(pa.add(off)), V::load(pb.add(off)), *acc);
            }
            i += unroll;
        }
        while i + V::LANES <= n {
            acc[0] = step(V::load(pa.add(i)), V::load(pb.add(i)), acc[0]);
            i += V::LANES;
        }
        let mut sum = acc[0].add(acc[1]).add(acc[2].add(acc[3])).sum();
        for j in i..n {
            sum += term(a[j], b[j]);
        }
        sum
    }
}

/// `sum(a[i] * b[i])`.
///
/// # Safety
/// `V` must be supported by the CPU; `a.len() == b.len()`.
#[inline(always)]
pub(crate) unsafe fn dot<V: Vector>(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: forwarded contract; the step only does lane arithmetic.
    unsafe { reduce4::<V>(a, b, |x, y, acc| x.mul_add(y, acc), |x, y| x * y) }
}

/// `(a.b, a.a, b.b)` in one pass, two accumulators per sum.
///
/// # Safety
/// As for [`dot`].
#[inline(always)]
pub(crate) unsafe fn dot_norms<V: Vector>(a: &[f32], b: &[f32]) -> [f32; 3] {
    debug_assert_eq!(a.len(), b.len());
    let (n, pa, pb) = (a.len(), a.as_ptr(), b.as_ptr());
    let step = 2 * V::LANES;
    let mut i = 0;
    // SAFETY: as in `dot`: loads stay inside both slices.
    unsafe {
        let z = V::zero();
        let (mut ab, mut aa, mut bb) = ([z; 2], [z; 2], [z; 2]);
        while i + step <= n {
            for k in 0..2 {
                let off = i + k * V::LANES;
                let (x, y) = (V::load(pa.add(off)), V::load(pb.add(off)));
                ab[k] = x.mul_add(y, ab[k]);
                aa[k] = x.mul_add(x, aa[k]);
                bb[k] = y.mul_add(y, bb[k]);
            }
            i += step;
        }
        if i + V::LANES <= n {
            let (x, y) = (V::load(pa.add(i)), V::load(pb.add(i)));
            ab[0] = x.mul_add(y, ab[0]);
            aa[0] = x.mul_add(x, aa[0]);
            bb[0] = y.mul_add(y, bb[0]);
            i += V::LANES;
        }
        let mut out = [
            ab[0].add(ab[1]).sum(),
            aa[0].add(aa[1]).sum(),
            bb[0].add(bb[1]).sum(),
        ];
        for j in i..n {
            out[0] += a[j] * b[j];
            out[1] += a[j] * a[j];
            out[2] += b[j] * b[j];
        }
        out
    }
}

/// `sum((a[i] - b[i])^2)`.
///
/// # Safety
/// As for [`dot`].
#[inline(always)]
pub(crate) unsafe fn l2_squared<V: Vector>(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: forwarded contract; the step only does lane arithmetic.
    unsafe {
        reduce4::<V>(
            a,
            b,
            |x, y, acc| {
                let d = x.sub(y);
                d.mul_add(d, acc)
            },
            |x, y| (x - y) * (x - y),
        )
    }
}

/// `out[r] = dot(query, rows[r * stride ..][..query.len()])` for each `r < out.len()`.
///
/// # Safety
/// As for [`dot`]; `rows` holds at least `out.len()` rows of `stride >= query.len()` floats
/// (the last row may end right after its `query.len()` floats).
#[inline(always)]
pub(crate) unsafe fn dot_rows<V: Vector>(
    query: &[f32],
    rows: &[f32],
    stride: usize,
    out: &mut [f32],
) {
    let dim = query.len();
    for (r, score) in out.iter_mut().enumerate() {
        let row = &rows[r * stride..r * stride + dim];
        // SAFETY: equal lengths; the CPU supports `V` (caller's contract).
        *score = unsafe { dot::<V>(query, row) };
    }
}
