//! Each similarity kernel, written once over [`Vector`].
//!
//! The kernels keep several independent accumulators (for the one-query
//! scan: one per row, several rows at a time, except where it reads rows
//! one after another from DRAM) so that consecutive
//! fused multiply-adds do not wait on each other (an FMA has a latency of
//! about four cycles and two of them issue per cycle), and finish the last
//! `len % LANES` elements with scalar code. Lengths are checked by the safe
//! callers in [`super::Kernels`].

use super::RowWalk;
use super::vector::{IntVector, Vector};

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

/// The scan's dot products of `M` queries with `R` rows at once:
/// `out[r][m] = sum(queries[m][i] * rows[r][i])`, one accumulator per pair
/// (fused multiply-adds over `LANES`-wide chunks in order, then the lanes'
/// sum, then the scalar tail). Each pair goes through the same operations
/// whatever `R` and `M`, so a score does not depend on how rows and queries
/// were blocked: one query alone and the same query in a batch get the
/// same bits. Blocking is where the speed is: each step loads `R + M`
/// vectors for `R * M` multiply-adds, and the `R * M` accumulators hide the
/// multiply-add latency.
///
/// # Safety
/// `V` must be supported by the CPU; every query and row has the same length.
#[inline(always)]
unsafe fn dot_block<V: Vector, const R: usize, const M: usize>(
    queries: [&[f32]; M],
    rows: [&[f32]; R],
) -> [[f32; M]; R] {
    let n = queries[0].len();
    debug_assert!(queries.iter().chain(&rows).all(|x| x.len() == n));
    let (pq, pr) = (queries.map(<[f32]>::as_ptr), rows.map(<[f32]>::as_ptr));
    let mut i = 0;
    // SAFETY: every load reads `LANES` floats starting below `n - LANES + 1`,
    // inside every slice; the CPU supports `V` (caller's contract).
    unsafe {
        let mut acc = [[V::zero(); M]; R];
        while i + V::LANES <= n {
            let mut q = [V::zero(); M];
            for (q, p) in q.iter_mut().zip(pq) {
                *q = V::load(p.add(i));
            }
            for (acc, p) in acc.iter_mut().zip(pr) {
                let row = V::load(p.add(i));
                for (acc, q) in acc.iter_mut().zip(q) {
                    *acc = q.mul_add(row, *acc);
                }
            }
            i += V::LANES;
        }
        // Plain loops, not `array::from_fn`: a closure does not inherit the
        // entry point's target features, was not inlined, and turned every
        // lane sum into a call (and every accumulator into a stack slot
        // written each step): the batch scan ran at a seventh of the FMA peak.
        let mut out = [[0f32; M]; R];
        for ((out, acc), row) in out.iter_mut().zip(&acc).zip(rows) {
            for ((out, acc), query) in out.iter_mut().zip(acc).zip(queries) {
                let mut sum = acc.sum();
                for j in i..n {
                    sum += query[j] * row[j];
                }
                *out = sum;
            }
        }
        out
    }
}

/// `out[r] = query . rows[r * stride ..][..query.len()]` for each `r <
/// out.len()`, in the scan's order ([`dot_block`]): four rows at a time
/// ([`RowWalk::Blocked`]) or one after another ([`RowWalk::Streamed`]),
/// the same bits either way.
///
/// # Safety
/// As for [`dot`]; `rows` holds at least `out.len()` rows of `stride >= query.len()` floats
/// (the last row may end right after its `query.len()` floats).
#[inline(always)]
pub(crate) unsafe fn dot_rows<V: Vector>(
    query: &[f32],
    rows: &[f32],
    stride: usize,
    walk: RowWalk,
    out: &mut [f32],
) {
    let dim = query.len();
    let row = |r: usize| &rows[r * stride..r * stride + dim];
    let done = match walk {
        RowWalk::Blocked => out.len() - out.len() % 4,
        RowWalk::Streamed => 0,
    };
    for (b, scores) in out[..done].chunks_exact_mut(4).enumerate() {
        let r = 4 * b;
        // SAFETY: equal lengths; the CPU supports `V` (caller's contract).
        let block =
            unsafe { dot_block::<V, 4, 1>([query], [row(r), row(r + 1), row(r + 2), row(r + 3)]) };
        for (score, s) in scores.iter_mut().zip(block) {
            *score = s[0];
        }
    }
    for (r, score) in out.iter_mut().enumerate().skip(done) {
        // SAFETY: as above.
        *score = unsafe { dot_block::<V, 1, 1>([query], [row(r)])[0][0] };
    }
}

/// `out[r][m] = queries[m] . row r` for four queries at once (as
/// [`dot_rows`] scores each of them, bit for bit), `R` rows at a time: an
/// `R x 4` block keeps `4 * R` accumulators and `R + 4` loaded vectors in
/// registers, `R + 4` loads per `4 * R` multiply-adds. AVX2's sixteen
/// registers take `R = 2` (measured on the 384 x 100,000 scan: 3 x 3 as
/// fast, 3 x 4 spills and is 1.6x slower); AVX-512's thirty-two take
/// `R = 4`, whose sixteen independent chains keep both FMA pipes busy where
/// eight left them waiting on the multiply-add latency.
///
/// # Safety
/// As for [`dot_rows`], for every query (all of one length).
#[inline(always)]
pub(crate) unsafe fn dot_rows4<V: Vector, const R: usize>(
    queries: [&[f32]; 4],
    rows: &[f32],
    stride: usize,
    out: &mut [[f32; 4]],
) {
    const { assert!(R > 0, "a block holds at least one row") };
    let dim = queries[0].len();
    let row = |r: usize| &rows[r * stride..r * stride + dim];
    let done = out.len() - out.len() % R;
    for (b, scores) in out[..done].chunks_exact_mut(R).enumerate() {
        let mut block_rows: [&[f32]; R] = [&[]; R];
        for (k, slot) in block_rows.iter_mut().enumerate() {
            *slot = row(R * b + k);
        }
        // SAFETY: equal lengths; the CPU supports `V` (caller's contract).
        let block = unsafe { dot_block::<V, R, 4>(queries, block_rows) };
        scores.copy_from_slice(&block);
    }
    for (r, scores) in out.iter_mut().enumerate().skip(done) {
        // SAFETY: as above.
        *scores = unsafe { dot_block::<V, 1, 4>(queries, [row(r)])[0] };
    }
}

/// How far ahead the quantized scans ask for rows: their rows are short
/// (384 to 768 bytes at 384 values), and the hardware prefetcher alone
/// leaves them well below the memory bandwidth (measured on Zen 4:
/// `simd/scan_384x100000/i8_exact` 1.75 ms without, 1.32 ms with).
const PREFETCH_ROWS: usize = 32;

/// Asks for the cache lines of `values[start..start + len]`.
#[inline(always)]
fn prefetch_rows<T>(values: &[T], start: usize, len: usize) {
    let per_line = 64 / core::mem::size_of::<T>();
    for at in (start..start + len).step_by(per_line) {
        crate::hint::prefetch(values, at);
    }
}

/// `out[r] = query . rows[r]` for `R` rows of half-precision values
/// (widened exactly to `f32`), one accumulator per row: the quantized
/// scan's first pass over an f16 [`QuantizedMatrix`].
///
/// [`QuantizedMatrix`]: crate::layout::QuantizedMatrix
///
/// # Safety
/// `V` must be supported by the CPU; the query and every row hold
/// `query.len()` values, a multiple of `LANES`, none of them an f16
/// subnormal, infinity or NaN.
#[inline(always)]
unsafe fn dot_block_f16<V: Vector, const R: usize>(query: &[f32], rows: [&[u16]; R]) -> [f32; R] {
    let n = query.len();
    debug_assert!(n.is_multiple_of(V::LANES) && rows.iter().all(|r| r.len() == n));
    let (pq, pr) = (query.as_ptr(), rows.map(<[u16]>::as_ptr));
    // SAFETY: every load reads `LANES` values starting below `n`, a multiple
    // of `LANES`, inside every slice; the CPU supports `V` (caller's contract).
    unsafe {
        let mut acc = [V::zero(); R];
        for i in (0..n).step_by(V::LANES) {
            let q = V::load(pq.add(i));
            for (acc, row) in acc.iter_mut().zip(pr) {
                *acc = q.mul_add(V::load_f16(row.add(i)), *acc);
            }
        }
        // A loop, not `acc.map`: see `dot_block`'s lane sums.
        let mut sums = [0f32; R];
        for (sum, acc) in sums.iter_mut().zip(acc) {
            *sum = acc.sum();
        }
        sums
    }
}

/// `out[r] = query . rows[r * stride..][..stride]` over f16 rows, four rows
/// at a time ([`dot_block_f16`]).
///
/// # Safety
/// As for [`dot_block_f16`], with `query.len() == stride` and at least
/// `out.len() * stride` values in `rows`.
#[inline(always)]
pub(crate) unsafe fn dot_rows_f16<V: Vector>(
    query: &[f32],
    rows: &[u16],
    stride: usize,
    out: &mut [f32],
) {
    let row = |r: usize| &rows[r * stride..(r + 1) * stride];
    let done = out.len() - out.len() % 4;
    for (b, scores) in out.chunks_exact_mut(4).enumerate() {
        let r = 4 * b;
        prefetch_rows(rows, (r + PREFETCH_ROWS) * stride, 4 * stride);
        // SAFETY: equal lengths; the rest is the caller's contract.
        let block =
            unsafe { dot_block_f16::<V, 4>(query, [row(r), row(r + 1), row(r + 2), row(r + 3)]) };
        scores.copy_from_slice(&block);
    }
    for (r, score) in out.iter_mut().enumerate().skip(done) {
        // SAFETY: as above.
        *score = unsafe { dot_block_f16::<V, 1>(query, [row(r)])[0] };
    }
}

/// `out[r] = query . rows[r]` exactly, in integers, for `R` rows of `i8`
/// values against an `i8` query: the quantized scan's first pass over an
/// i8 [`QuantizedMatrix`]. Integer sums do not depend on their order, so
/// every backend gives the same values.
///
/// [`QuantizedMatrix`]: crate::layout::QuantizedMatrix
///
/// # Safety
/// The CPU supports `I`; the query and every row hold `query.len()`
/// values, a multiple of `STEP`, all in `-127..=127`; `query.len() * 127 *
/// 127` fits in `i32`.
#[inline(always)]
unsafe fn dot_block_i8<I: IntVector, const R: usize>(query: &[i8], rows: [&[i8]; R]) -> [i32; R] {
    let n = query.len();
    let step = I::STEP;
    debug_assert!(n.is_multiple_of(step) && rows.iter().all(|r| r.len() == n));
    let (pq, pr) = (query.as_ptr(), rows.map(<[i8]>::as_ptr));
    // SAFETY: every load reads `STEP` values starting below `n`, a multiple
    // of `STEP`, inside every slice; the CPU supports `I` and the sums
    // stay within `i32` (caller's contract).
    unsafe {
        let mut acc = [I::zero(); R];
        for i in (0..n).step_by(step) {
            let q = I::load_query(pq.add(i));
            for (acc, row) in acc.iter_mut().zip(pr) {
                *acc = acc.madd(row.add(i), q);
            }
        }
        // A loop, not `acc.map`: see `dot_block`'s lane sums.
        let mut sums = [0i32; R];
        for (sum, acc) in sums.iter_mut().zip(acc) {
            *sum = acc.sum();
        }
        sums
    }
}

/// `out[r] = query . rows[r * stride..][..stride]` over `i8` rows, four
/// rows at a time ([`dot_block_i8`]).
///
/// # Safety
/// As for [`dot_block_i8`], with `query.len() == stride` and at least
/// `out.len() * stride` values in `rows`.
#[inline(always)]
pub(crate) unsafe fn dot_rows_i8<I: IntVector>(
    query: &[i8],
    rows: &[i8],
    stride: usize,
    out: &mut [i32],
) {
    let row = |r: usize| &rows[r * stride..(r + 1) * stride];
    let done = out.len() - out.len() % 4;
    for (b, scores) in out.chunks_exact_mut(4).enumerate() {
        let r = 4 * b;
        prefetch_rows(rows, (r + PREFETCH_ROWS) * stride, 4 * stride);
        // SAFETY: equal lengths; the rest is the caller's contract.
        let block =
            unsafe { dot_block_i8::<I, 4>(query, [row(r), row(r + 1), row(r + 2), row(r + 3)]) };
        scores.copy_from_slice(&block);
    }
    for (r, score) in out.iter_mut().enumerate().skip(done) {
        // SAFETY: as above.
        *score = unsafe { dot_block_i8::<I, 1>(query, [row(r)])[0] };
    }
}
