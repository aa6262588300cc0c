//! [`GpuEmbeddings`]: an embedding matrix on the device and its top-k
//! scans, up to [`MAX_QUERIES`] queries a pass: the seeding step of recall
//! next to the graph it seeds.
//!
//! Scores are the CPU scans' (`Kernels::top_k_cosine_batch`) up to the
//! order of the dot product's sum (f32 rounding; the query's inverse norm
//! is the CPU's, computed on the host); the top-k is exact for those
//! scores (radix select over unique keys, ties by lower row).

use std::sync::Arc;

use super::GpuError;
use super::device::{Context, Gpu};
use super::kernel::{Binding, Kernel, Launch, counter};
use super::memory::{Buffer, DescriptorSet, KernelTimes, Place, Stream};
use super::select;
use crate::layout::{EmbeddingError, EmbeddingView};
use crate::simd::topk::check_query_dim;
use crate::simd::{Hit, Kernels};

/// Queries one scan takes at once.
pub const MAX_QUERIES: usize = 32;

/// Rows scored per workgroup per pass (`similarity.wgsl`'s `TEAMS`).
const ROWS_PER_GROUP: usize = 8;

/// Queries from which one launch scores them all (`scores_batch`: each row
/// read once for the batch) rather than one lane each.
const BATCH_FROM: usize = 4;

/// Rows `scores_batch` scores per workgroup per pass (`TEAMS * ROWS`).
const BATCH_ROWS_PER_GROUP: usize = 32;

/// An embedding matrix uploaded to a [`Gpu`], with what its scans need.
pub struct GpuEmbeddings {
    ctx: Arc<Context>,
    rows: usize,
    dim: usize,
    stride: usize,
    matrix: Buffer,
    inv_norms: Buffer,
    /// The queries as the kernels read them (see `scan`), written here
    /// and copied to `queries_on_device` by each scan.
    queries: Buffer,
    queries_on_device: Buffer,
    /// Queries the scratch below is sized for.
    lanes: usize,
    keys: Buffer,
    counters: Buffer,
    histogram: Buffer,
    /// Hits each lane's output holds.
    capacity: usize,
    out_keys: Buffer,
    readback: Buffer,
    set: DescriptorSet,
    stream: Stream,
    cpu: Kernels,
}

impl GpuEmbeddings {
    /// Uploads `matrix` to `gpu`.
    ///
    /// Errors: [`GpuError::MissingFeature`] without 64-bit integers and
    /// floats in shaders; [`GpuError::TooLarge`] for a matrix of `2^32`
    /// floats or more, or over the device's buffer limit.
    pub fn upload<'m>(
        gpu: &Gpu,
        matrix: impl Into<EmbeddingView<'m>>,
    ) -> Result<GpuEmbeddings, GpuError> {
        let matrix = matrix.into();
        let ctx = &gpu.ctx;
        let needed = [
            Kernel::Scores,
            Kernel::ScoresBatch,
            Kernel::SelectHistogram,
            Kernel::SelectPick,
            Kernel::SelectEmit,
        ];
        if let Some(feature) = needed.iter().filter_map(|k| k.missing(&ctx.info)).next() {
            return Err(GpuError::MissingFeature {
                device: ctx.info.name.clone(),
                feature,
            });
        }
        let data = matrix.as_padded_slice();
        if u32::try_from(data.len()).is_err() {
            return Err(GpuError::TooLarge {
                what: "embedding matrix (u32 indices)",
                bytes: size_of_val(data) as u64,
                limit: u64::from(u32::MAX),
            });
        }
        let host = |what, bytes| Buffer::new(ctx, what, bytes, Place::Host);
        let dev = |what, bytes| Buffer::new(ctx, what, bytes, Place::Device);
        let mut this = GpuEmbeddings {
            ctx: ctx.clone(),
            rows: matrix.rows(),
            dim: matrix.dim(),
            stride: matrix.stride(),
            matrix: Buffer::upload(ctx, "embedding matrix", data)?,
            inv_norms: Buffer::upload(ctx, "inverse norms", matrix.inv_norms())?,
            queries: host("queries", 16)?,
            queries_on_device: dev("queries", 16)?,
            lanes: 0,
            keys: dev("score keys", 16)?,
            counters: dev("counters", 16)?,
            histogram: dev("histograms", 16)?,
            capacity: 0,
            out_keys: dev("hits", 16)?,
            readback: host("read-back", 16)?,
            set: DescriptorSet::new(ctx)?,
            stream: Stream::new(ctx)?,
            cpu: Kernels::best(),
        };
        this.bind();
        Ok(this)
    }

    fn bind(&mut self) {
        self.set.bind_all(&[
            (Binding::Matrix, &self.matrix),
            (Binding::InvNorms, &self.inv_norms),
            (Binding::Queries, &self.queries_on_device),
            (Binding::Keys, &self.keys),
            (Binding::Counters, &self.counters),
            (Binding::Histogram, &self.histogram),
            (Binding::OutKeys, &self.out_keys),
        ]);
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Bytes of device memory held (the matrix and the scans' scratch).
    pub fn memory_bytes(&self) -> u64 {
        [
            &self.matrix,
            &self.inv_norms,
            &self.keys,
            &self.counters,
            &self.histogram,
            &self.out_keys,
        ]
        .iter()
        .map(|b| b.bytes)
        .sum()
    }

    /// The `k` rows most cosine-similar to each query, best first (ties by
    /// lower row): `hits[q]` for `queries[q]` (resized to the batch).
    ///
    /// Errors (nothing changes): a query of another dimension or with a
    /// non-finite value, more than [`MAX_QUERIES`] queries.
    pub fn top_k_cosine_batch<Q: AsRef<[f32]>>(
        &mut self,
        queries: &[Q],
        k: usize,
        hits: &mut Vec<Vec<Hit>>,
    ) -> Result<(), GpuError> {
        self.scan(queries, k, true, hits)
    }

    /// [`top_k_cosine_batch`](Self::top_k_cosine_batch) scored by the
    /// plain dot product.
    pub fn top_k_dot_batch<Q: AsRef<[f32]>>(
        &mut self,
        queries: &[Q],
        k: usize,
        hits: &mut Vec<Vec<Hit>>,
    ) -> Result<(), GpuError> {
        self.scan(queries, k, false, hits)
    }

    /// Turns per-kernel timing on the device on or off.
    pub fn profile(&mut self, on: bool) -> Result<(), GpuError> {
        self.stream.profile(on)
    }

    /// Device time per kernel over the scans run while profiling.
    pub fn kernel_times(&self) -> &KernelTimes {
        &self.stream.times
    }

    /// Forgets the kernel times.
    pub fn clear_kernel_times(&mut self) {
        self.stream.times.clear();
    }

    fn scan<Q: AsRef<[f32]>>(
        &mut self,
        queries: &[Q],
        k: usize,
        cosine: bool,
        hits: &mut Vec<Vec<Hit>>,
    ) -> Result<(), GpuError> {
        if queries.len() > MAX_QUERIES {
            return Err(GpuError::TooManyQueries {
                queries: queries.len(),
                max: MAX_QUERIES,
            });
        }
        for (index, q) in queries.iter().enumerate() {
            check_query_dim(q.as_ref(), self.dim).map_err(|e| match e {
                EmbeddingError::NonFinite { col, .. } => {
                    EmbeddingError::NonFinite { row: index, col }
                }
                other => other,
            })?;
        }
        let k = k.min(self.rows);
        let lanes = queries.len();
        if k == 0 || lanes == 0 {
            hits.clear();
            hits.resize_with(lanes, Vec::new);
            return Ok(());
        }
        self.reserve(lanes, k)?;
        // Transposed and padded (similarity.wgsl): vec4 `j` of every query
        // side by side, then the inverse norms.
        let width = self.stride / 4;
        let mut packed = vec![0f32; self.query_floats(lanes)];
        for (lane, q) in queries.iter().enumerate() {
            for (i, &x) in q.as_ref().iter().enumerate() {
                packed[4 * ((i / 4) * lanes + lane) + i % 4] = x;
            }
            packed[4 * width * lanes + lane] = self.cpu.inv_norm(q.as_ref());
        }
        self.queries.write(0, &packed);
        let mut init = vec![0u32; lanes * counter::PER_LANE];
        for c in init.chunks_mut(counter::PER_LANE) {
            c[counter::RANK_COUNT] = self.rows as u32;
        }
        self.readback.write(0, &init);
        let launch = Launch {
            nodes: self.rows as u32,
            lanes: lanes as u32,
            dim: self.dim as u32,
            stride: self.stride as u32,
            metric: u32::from(cosine),
            k: k as u32,
            capacity: self.capacity as u32,
            ..Launch::default()
        };
        let counter_bytes = (init.len() * 4) as u64;
        let out_bytes = (8 * self.capacity * lanes) as u64;
        let rows = self.rows;
        let query_bytes = 4 * packed.len() as u64;
        let (counters, histogram, out_keys, readback) = (
            &self.counters,
            &self.histogram,
            &self.out_keys,
            &self.readback,
        );
        let (queries, queries_on_device) = (&self.queries, &self.queries_on_device);
        self.stream.run(Some(&self.set), |r| {
            r.copy(queries, 0, queries_on_device, 0, query_bytes);
            r.copy(readback, 0, counters, 0, counter_bytes);
            if lanes >= BATCH_FROM {
                let score_groups = rows.div_ceil(BATCH_ROWS_PER_GROUP).clamp(1, 65_535) as u32;
                r.dispatch_flat(Kernel::ScoresBatch, &launch, score_groups);
            } else {
                let score_groups = rows.div_ceil(ROWS_PER_GROUP).clamp(1, 65_535) as u32;
                r.dispatch(Kernel::Scores, &launch, score_groups);
            }
            select::record(r, &launch, histogram, rows);
            r.copy(counters, 0, readback, 0, counter_bytes);
            r.copy(out_keys, 0, readback, counter_bytes, out_bytes);
        })?;
        let mut counts = vec![0u32; init.len()];
        self.readback.read(0, &mut counts);
        hits.resize_with(lanes, Vec::new);
        hits.truncate(lanes);
        let mut keys = Vec::with_capacity(k);
        for (lane, hits) in hits.iter_mut().enumerate() {
            let count = (counts[lane * counter::PER_LANE + counter::OUT_COUNT] as usize).min(k);
            keys.resize(count, 0u64);
            self.readback
                .read(counter_bytes + (8 * self.capacity * lane) as u64, &mut keys);
            keys.sort_unstable();
            hits.clear();
            hits.extend(keys.iter().map(|&key| Hit {
                id: key as u32,
                score: score_of(key),
            }));
        }
        Ok(())
    }

    /// Floats of `lanes` queries as the kernels read them: each padded to
    /// the row stride, then the inverse norms, four to a vec4.
    fn query_floats(&self, lanes: usize) -> usize {
        self.stride * lanes + lanes.next_multiple_of(4)
    }

    /// Sizes the scratch for `lanes` queries of `k` hits.
    fn reserve(&mut self, lanes: usize, k: usize) -> Result<(), GpuError> {
        if lanes <= self.lanes && k <= self.capacity {
            return Ok(());
        }
        let lanes = lanes.max(self.lanes);
        let k = k.max(self.capacity).next_power_of_two().min(self.rows);
        let cells = (lanes * self.rows) as u64;
        if cells > u64::from(u32::MAX) {
            return Err(GpuError::TooLarge {
                what: "score keys (u32 indices)",
                bytes: 8 * cells,
                limit: 8 * u64::from(u32::MAX),
            });
        }
        let ctx = &self.ctx;
        let counter_bytes = (lanes * counter::PER_LANE * 4) as u64;
        let query_bytes = 4 * self.query_floats(lanes) as u64;
        // Every buffer made before any is replaced: a failure leaves the
        // scratch (and the descriptor set pointing at it) as it was.
        let host = |what, bytes| Buffer::new(ctx, what, bytes, Place::Host);
        let dev = |what, bytes| Buffer::new(ctx, what, bytes, Place::Device);
        let made = (
            host("queries", query_bytes)?,
            dev("queries", query_bytes)?,
            dev("score keys", 8 * cells)?,
            dev("counters", counter_bytes)?,
            dev("histograms", (4 * 256 * lanes) as u64)?,
            dev("hits", (8 * k * lanes) as u64)?,
            host("read-back", counter_bytes + (8 * k * lanes) as u64)?,
        );
        (
            self.queries,
            self.queries_on_device,
            self.keys,
            self.counters,
            self.histogram,
            self.out_keys,
            self.readback,
        ) = made;
        self.lanes = lanes;
        self.capacity = k;
        self.bind();
        Ok(())
    }
}

/// The score a key (`similarity.wgsl`'s `key`) was made from.
fn score_of(key: u64) -> f32 {
    let ordered = !((key >> 32) as u32);
    f32::from_bits(if ordered & 0x8000_0000 != 0 {
        ordered ^ 0x8000_0000
    } else {
        !ordered
    })
}

impl core::fmt::Debug for GpuEmbeddings {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GpuEmbeddings")
            .field("rows", &self.rows)
            .field("dim", &self.dim)
            .field("device", &self.ctx.info.name)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_order_scores_best_first_and_decode() {
        let key = |score: f32, row: u32| {
            let bits = score.to_bits();
            let ordered = if bits & 0x8000_0000 != 0 {
                !bits
            } else {
                bits ^ 0x8000_0000
            };
            (u64::from(!ordered) << 32) | u64::from(row)
        };
        let scores = [1.0f32, 0.5, 0.0, -0.0, -0.25, -3.0];
        for pair in scores.windows(2) {
            assert!(key(pair[0], 9) < key(pair[1], 0), "{pair:?}");
        }
        assert!(key(0.5, 1) < key(0.5, 2), "ties by lower row");
        for s in scores {
            assert_eq!(score_of(key(s, 3)).to_bits(), s.to_bits());
        }
    }
}
