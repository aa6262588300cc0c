//! Top-k selection and one-query-vs-matrix scoring.

use alloc::collections::BinaryHeap;
use alloc::vec::Vec;
use core::cmp::Ordering;

use super::{Kernels, RowWalk};
use crate::layout::{EmbeddingError, EmbeddingView};

/// One scored row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// Row (node) id.
    pub id: u32,
    /// Similarity score.
    pub score: f32,
}

impl Hit {
    /// Ranking order: higher score first, then lower id (a total order, so
    /// results are deterministic even with ties).
    #[inline]
    pub fn rank(&self, other: &Hit) -> Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then(self.id.cmp(&other.id))
    }
}

/// Heap entry whose `Ord` puts the *worst* hit on top.
#[derive(Clone, Copy)]
struct Worst(Hit);

impl PartialEq for Worst {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Worst {}
impl PartialOrd for Worst {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Worst {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.rank(&other.0)
    }
}

/// Keeps the `k` best hits seen; reusable without reallocating.
#[derive(Clone)]
pub struct TopK {
    k: usize,
    heap: BinaryHeap<Worst>,
    /// Once `k` hits are kept: the worst kept score. A hit scoring below it
    /// is turned away with one comparison (a scan offers every row, and
    /// almost all of them are turned away).
    floor: f32,
}

impl TopK {
    /// A selector for the best `k` hits (`k = 0` keeps nothing).
    pub fn new(k: usize) -> TopK {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k),
            floor: f32::NEG_INFINITY,
        }
    }

    /// How many hits are kept.
    pub fn k(&self) -> usize {
        self.k
    }

    /// The worst kept score once `k` hits are kept (a hit below it is
    /// turned away), else negative infinity.
    #[inline]
    pub(crate) fn floor(&self) -> f32 {
        self.floor
    }

    /// Forgets all hits (keeps the memory).
    pub fn clear(&mut self) {
        self.heap.clear();
        self.floor = f32::NEG_INFINITY;
    }

    /// Offers a hit.
    #[inline]
    pub fn push(&mut self, id: u32, score: f32) {
        if score < self.floor {
            return;
        }
        let hit = Worst(Hit { id, score });
        if self.heap.len() < self.k {
            self.heap.push(hit);
        } else if let Some(mut worst) = self.heap.peek_mut()
            && hit < *worst
        {
            *worst = hit;
        } else {
            return;
        }
        if self.heap.len() == self.k {
            self.floor = self.heap.peek().map_or(f32::NEG_INFINITY, |w| w.0.score);
        }
    }

    /// Moves the kept hits, best first, into `out` (cleared first), and
    /// clears the selector.
    pub fn drain_sorted(&mut self, out: &mut Vec<Hit>) {
        out.clear();
        out.extend(self.heap.drain().map(|w| w.0));
        out.sort_unstable_by(Hit::rank);
        self.floor = f32::NEG_INFINITY;
    }
}

/// Rows scored per call into the backend: the scores stay in L1.
pub(crate) const BLOCK: usize = 256;

/// `AXONAL_SCAN_WALK=blocked|streamed`: the walk of every one-query scan
/// beyond [`STREAM_ABOVE_BYTES`], on every backend (read once), to measure
/// both walks on a machine (`simd/scan_384x100000/f32` under each); unset
/// or anything else, each backend's own.
#[cfg(feature = "std")]
fn forced_walk() -> Option<RowWalk> {
    static FORCED: std::sync::OnceLock<Option<RowWalk>> = std::sync::OnceLock::new();
    *FORCED.get_or_init(|| match std::env::var("AXONAL_SCAN_WALK").as_deref() {
        Ok("blocked") => Some(RowWalk::Blocked),
        Ok("streamed") => Some(RowWalk::Streamed),
        _ => None,
    })
}

/// Without `std`, each backend's own walk.
#[cfg(not(feature = "std"))]
fn forced_walk() -> Option<RowWalk> {
    None
}

/// Matrices of more bytes than this come from DRAM: larger than the
/// last-level caches of the machines measured (32 MiB). On backends whose
/// four interleaved row streams read DRAM slower than one sequential
/// stream (`RawKernels::streams_large`), such a matrix is scanned one row
/// after another ([`RowWalk::Streamed`]); smaller ones, and every matrix on
/// the other SIMD backends, four rows side by side. A matrix scanned view by
/// view (a stored file's chunks, blocks out of core) is judged by each
/// view's size.
pub(crate) const STREAM_ABOVE_BYTES: usize = 64 << 20;

impl Kernels {
    /// Offers every row of `matrix` to `top`, scored by cosine similarity
    /// with `query` (rows and query of zero norm score 0).
    ///
    /// `matrix` is an [`EmbeddingView`]: `&EmbeddingMatrix` or the rows of
    /// a stored file (`AxgFile::embeddings`) alike.
    ///
    /// `top` is not cleared first, so several matrices can be scanned into one
    /// selection.
    pub fn top_k_cosine<'m>(
        self,
        query: &[f32],
        matrix: impl Into<EmbeddingView<'m>>,
        top: &mut TopK,
    ) -> Result<(), EmbeddingError> {
        self.top_k_cosine_from(0, query, matrix.into(), top)
    }

    /// [`top_k_cosine`](Self::top_k_cosine) over rows that are nodes
    /// `first_id..` of a larger matrix (a chunk of a file's rows): hits
    /// carry the larger matrix's ids.
    pub(crate) fn top_k_cosine_from(
        self,
        first_id: u32,
        query: &[f32],
        matrix: EmbeddingView<'_>,
        top: &mut TopK,
    ) -> Result<(), EmbeddingError> {
        check_query(query, matrix)?;
        let inv_q = self.inv_norm(query);
        self.scan(first_id, query, matrix, top, |score, row| {
            score * inv_q * matrix.inv_norms()[row]
        });
        Ok(())
    }

    /// Like [`top_k_cosine`](Self::top_k_cosine), scored by the plain dot product.
    pub fn top_k_dot<'m>(
        self,
        query: &[f32],
        matrix: impl Into<EmbeddingView<'m>>,
        top: &mut TopK,
    ) -> Result<(), EmbeddingError> {
        let matrix = matrix.into();
        check_query(query, matrix)?;
        self.scan(0, query, matrix, top, |score, _| score);
        Ok(())
    }

    /// How the one-query scan walks a matrix of `rows` rows of `stride`
    /// floats (see [`STREAM_ABOVE_BYTES`] and [`forced_walk`]).
    fn row_walk(self, rows: usize, stride: usize) -> RowWalk {
        let bytes = rows.saturating_mul(stride).saturating_mul(4);
        if bytes <= STREAM_ABOVE_BYTES {
            RowWalk::Blocked
        } else if let Some(walk) = forced_walk() {
            walk
        } else if self.0.streams_large {
            RowWalk::Streamed
        } else {
            RowWalk::Blocked
        }
    }

    /// Offers every row to `top` as id `first_id + row`.
    fn scan(
        self,
        first_id: u32,
        query: &[f32],
        matrix: EmbeddingView<'_>,
        top: &mut TopK,
        score: impl Fn(f32, usize) -> f32,
    ) {
        if top.k() == 0 {
            return;
        }
        let (data, stride) = (matrix.as_padded_slice(), matrix.stride());
        let walk = self.row_walk(matrix.rows(), stride);
        let mut scores = [0f32; BLOCK];
        for first in (0..matrix.rows()).step_by(BLOCK) {
            let n = BLOCK.min(matrix.rows() - first);
            self.dot_rows(
                query,
                &data[first * stride..],
                stride,
                walk,
                &mut scores[..n],
            );
            for (i, &s) in scores[..n].iter().enumerate() {
                top.push(first_id + (first + i) as u32, score(s, first + i));
            }
        }
    }
}

/// Queries one pass of the batch scan serves: more are scanned in passes of
/// this many.
pub const SCAN_BATCH: usize = 32;

/// Rows per block of the batch scan: a block (64 rows of 384 floats, 96 KiB)
/// stays in L2 while every query of the pass goes over it.
const BATCH_BLOCK: usize = 64;

impl Kernels {
    /// [`top_k_cosine`](Self::top_k_cosine) for many queries at once:
    /// query `m`'s hits go to `tops[m]`, with exactly the scores (bits) the
    /// one-query scan gives. The matrix is read once per [`SCAN_BATCH`]
    /// queries instead of once per query, so a batch costs little more
    /// than one query: the scan turns from memory-bound into compute-bound.
    ///
    /// Errors (a query of the wrong length or with a non-finite value,
    /// `row` naming the query; as many selectors as queries) are reported
    /// before any selector changes.
    pub fn top_k_cosine_batch<'m, Q: AsRef<[f32]>>(
        self,
        queries: &[Q],
        matrix: impl Into<EmbeddingView<'m>>,
        tops: &mut [TopK],
    ) -> Result<(), EmbeddingError> {
        let matrix = matrix.into();
        check_batch(queries, matrix, tops)?;
        for (queries, tops) in queries.chunks(SCAN_BATCH).zip(tops.chunks_mut(SCAN_BATCH)) {
            let mut inv_q = [0.0f32; SCAN_BATCH];
            for (inv, q) in inv_q.iter_mut().zip(queries) {
                *inv = self.inv_norm(q.as_ref());
            }
            self.scan_batch(queries, matrix, tops, |score, m, row| {
                score * inv_q[m] * matrix.inv_norms()[row]
            });
        }
        Ok(())
    }

    /// Like [`top_k_cosine_batch`](Self::top_k_cosine_batch), scored by the
    /// plain dot product (as [`top_k_dot`](Self::top_k_dot)).
    pub fn top_k_dot_batch<'m, Q: AsRef<[f32]>>(
        self,
        queries: &[Q],
        matrix: impl Into<EmbeddingView<'m>>,
        tops: &mut [TopK],
    ) -> Result<(), EmbeddingError> {
        let matrix = matrix.into();
        check_batch(queries, matrix, tops)?;
        for (queries, tops) in queries.chunks(SCAN_BATCH).zip(tops.chunks_mut(SCAN_BATCH)) {
            self.scan_batch(queries, matrix, tops, |score, _, _| score);
        }
        Ok(())
    }

    /// `1 / |query|`, or 0 for a query of zero norm (which then scores 0).
    pub(crate) fn inv_norm(self, query: &[f32]) -> f32 {
        let norm_sq = self.dot(query, query).expect("same slice");
        if norm_sq > 0.0 {
            1.0 / crate::math::sqrtf(norm_sq)
        } else {
            0.0
        }
    }

    /// One pass over `matrix` for up to [`SCAN_BATCH`] queries: block by
    /// block of rows, four queries at a time (`generic::dot_rows4`).
    fn scan_batch<Q: AsRef<[f32]>>(
        self,
        queries: &[Q],
        matrix: EmbeddingView<'_>,
        tops: &mut [TopK],
        score: impl Fn(f32, usize, usize) -> f32,
    ) {
        let (data, stride) = (matrix.as_padded_slice(), matrix.stride());
        let mut scores = [[0f32; 4]; BATCH_BLOCK];
        for first in (0..matrix.rows()).step_by(BATCH_BLOCK) {
            let n = BATCH_BLOCK.min(matrix.rows() - first);
            for (t, group) in queries.chunks(4).enumerate() {
                // A short last group repeats its first query (scores unused).
                let q = |m: usize| group.get(m).unwrap_or(&group[0]).as_ref();
                self.dot_rows4(
                    [q(0), q(1), q(2), q(3)],
                    &data[first * stride..],
                    stride,
                    &mut scores[..n],
                );
                for (m, top) in tops[4 * t..].iter_mut().take(group.len()).enumerate() {
                    if top.k() == 0 {
                        continue;
                    }
                    for (i, s) in scores[..n].iter().enumerate() {
                        top.push((first + i) as u32, score(s[m], 4 * t + m, first + i));
                    }
                }
            }
        }
    }
}

fn check_batch<Q: AsRef<[f32]>>(
    queries: &[Q],
    matrix: EmbeddingView<'_>,
    tops: &[TopK],
) -> Result<(), EmbeddingError> {
    if queries.len() != tops.len() {
        return Err(EmbeddingError::BatchMismatch {
            queries: queries.len(),
            selectors: tops.len(),
        });
    }
    for (index, q) in queries.iter().enumerate() {
        check_query(q.as_ref(), matrix).map_err(|e| match e {
            EmbeddingError::NonFinite { col, .. } => EmbeddingError::NonFinite { row: index, col },
            other => other,
        })?;
    }
    Ok(())
}

pub(crate) fn check_query(query: &[f32], matrix: EmbeddingView<'_>) -> Result<(), EmbeddingError> {
    check_query_dim(query, matrix.dim())
}

/// Checks that `query` has `dim` finite values.
pub(crate) fn check_query_dim(query: &[f32], dim: usize) -> Result<(), EmbeddingError> {
    if query.len() != dim {
        return Err(EmbeddingError::DimensionMismatch {
            expected: dim,
            found: query.len(),
        });
    }
    match query.iter().position(|x| !x.is_finite()) {
        Some(col) => Err(EmbeddingError::NonFinite { row: 0, col }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::EmbeddingMatrix;

    #[test]
    fn keeps_the_best_k_with_deterministic_ties() {
        let mut top = TopK::new(3);
        for (id, s) in [(5, 0.5), (1, 0.9), (2, 0.5), (7, 0.1), (3, 0.9), (4, 0.5)] {
            top.push(id, s);
        }
        let mut out = Vec::new();
        top.drain_sorted(&mut out);
        assert_eq!(
            out,
            [
                Hit { id: 1, score: 0.9 },
                Hit { id: 3, score: 0.9 },
                Hit { id: 2, score: 0.5 }
            ]
        );
        let mut none = TopK::new(0);
        none.push(1, 1.0);
        none.drain_sorted(&mut out);
        assert!(out.is_empty());
    }

    /// Both walks give every row the same bits, as the batch kernel does,
    /// on every backend: row counts around the block of four, a vector
    /// tail and padded rows.
    #[test]
    fn row_walks_give_the_same_bits() {
        use super::super::RowWalk;
        let mut rng = crate::graph::generate::SplitMix64::new(7);
        // Within a few orders of magnitude: sums that round differently
        // when summed in another order.
        let mut value = || (rng.next_f32() * 2.0 - 1.0) * [0.01, 1.0, 100.0][rng.below(3) as usize];
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        // No vector loop on any backend, no scalar tail, and both.
        for dim in [3, 32, 101] {
            let stride = dim + 3;
            let data: Vec<f32> = (0..11 * stride).map(|_| value()).collect();
            let queries: Vec<Vec<f32>> = (0..4)
                .map(|_| (0..dim).map(|_| value()).collect())
                .collect();
            for kernels in super::super::Backend::ALL
                .into_iter()
                .filter_map(Kernels::for_backend)
            {
                for rows in [0, 1, 3, 4, 5, 8, 11] {
                    let mut batch = vec![[0f32; 4]; rows];
                    let four = [0, 1, 2, 3].map(|m| queries[m].as_slice());
                    kernels.dot_rows4(four, &data, stride, &mut batch);
                    for (m, query) in queries.iter().enumerate() {
                        let mut blocked = vec![0f32; rows];
                        let mut streamed = vec![1f32; rows];
                        kernels.dot_rows(query, &data, stride, RowWalk::Blocked, &mut blocked);
                        kernels.dot_rows(query, &data, stride, RowWalk::Streamed, &mut streamed);
                        let batch: Vec<f32> = batch.iter().map(|s| s[m]).collect();
                        let what =
                            format!("{:?} dim {dim}, {rows} rows, query {m}", kernels.backend());
                        assert_eq!(bits(&blocked), bits(&streamed), "{what}");
                        assert_eq!(bits(&blocked), bits(&batch), "{what}");
                    }
                }
            }
        }
    }

    #[test]
    fn matrices_beyond_the_caches_are_streamed_where_that_is_faster() {
        use super::super::RowWalk::{Blocked, Streamed};
        let limit_rows = STREAM_ABOVE_BYTES / (4 * 1024);
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        let tables = [
            &crate::simd::arch::x86_64::avx2::KERNELS,
            &crate::simd::arch::x86_64::avx512::KERNELS,
            &crate::simd::arch::x86_64::avx512::KERNELS_VNNI,
        ];
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        for table in tables {
            // Measured: only AVX2 reads DRAM faster one row at a time.
            let avx2 = table.backend == super::super::Backend::Avx2Fma;
            assert_eq!(table.streams_large, avx2, "{:?}", table.backend);
        }
        for kernels in super::super::Backend::ALL
            .into_iter()
            .filter_map(Kernels::for_backend)
        {
            assert!(
                !kernels.0.streams_large || kernels.backend() == super::super::Backend::Avx2Fma,
                "{:?} streams without a measurement",
                kernels.backend()
            );
            let large = match forced_walk() {
                Some(walk) => walk,
                None if kernels.0.streams_large => Streamed,
                None => Blocked,
            };
            assert_eq!(kernels.row_walk(limit_rows, 1024), Blocked);
            assert_eq!(kernels.row_walk(limit_rows + 1, 1024), large);
            assert_eq!(kernels.row_walk(131_072, 384), large);
            assert_eq!(kernels.row_walk(10_000, 384), Blocked);
            assert_eq!(kernels.row_walk(usize::MAX, usize::MAX), large);
            assert_eq!(kernels.row_walk(0, 384), Blocked);
        }
    }

    #[test]
    fn scan_finds_the_nearest_rows() {
        let dim = 37;
        let flat: Vec<f32> = (0..300 * dim)
            .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
            .collect();
        let m = EmbeddingMatrix::from_rows(dim, &flat).unwrap();
        let query = m.row(123).unwrap().to_vec();
        let mut top = TopK::new(5);
        let mut out = Vec::new();
        for kernels in super::super::Backend::ALL
            .into_iter()
            .filter_map(Kernels::for_backend)
        {
            kernels.top_k_cosine(&query, &m, &mut top).unwrap();
            top.drain_sorted(&mut out);
            assert_eq!(out[0].id, 123, "{:?}", kernels.backend());
            assert!((out[0].score - 1.0).abs() < 1e-5);
            let mut brute: Vec<Hit> = (0..300)
                .map(|r| Hit {
                    id: r,
                    score: Kernels::scalar()
                        .cosine(&query, m.row(r as usize).unwrap())
                        .unwrap(),
                })
                .collect();
            brute.sort_unstable_by(Hit::rank);
            for (a, b) in out.iter().zip(&brute) {
                assert!((a.score - b.score).abs() < 1e-5);
            }
        }
        assert_eq!(
            Kernels::best().top_k_dot(&query[1..], &m, &mut top),
            Err(EmbeddingError::DimensionMismatch {
                expected: dim,
                found: dim - 1
            })
        );
        let mut bad = query.clone();
        bad[4] = f32::INFINITY;
        assert_eq!(
            Kernels::best().top_k_dot(&bad, &m, &mut top),
            Err(EmbeddingError::NonFinite { row: 0, col: 4 })
        );
    }
}
