//! A graph on the device: both directions' CSR, uploaded once and read by
//! every query.

use std::sync::Arc;

use super::GpuError;
use super::device::{Context, Gpu};
use super::kernel::{CHUNK, HEAVY, PUSH_HEAVY};
use super::memory::Buffer;
use crate::graph::{CsrView, GraphView};
use crate::spread::Fan;
use crate::spread::driver::GraphShape;
use crate::spread::fixed::fan_factor;

/// A graph uploaded to a [`Gpu`]: out- and in-edges (offsets as `u32`, so
/// at most `u32::MAX` edges), and the fan-out factor of every out-degree
/// for each [`Fan`] (computed on the host, as the CPU kernels compute it).
pub struct GpuGraph {
    pub(crate) ctx: Arc<Context>,
    nodes: usize,
    edges: usize,
    pub(crate) out: [Buffer; 3],
    pub(crate) inc: [Buffer; 3],
    pub(crate) fan: Buffer,
    /// Entries of each fan table (the largest out-degree + 1).
    pub(crate) fan_len: u32,
    /// The rows with more than [`HEAVY`] in-edges (hubs): each as (row,
    /// first chunk, end chunk, 0), and how many.
    pub(crate) heavy_rows: Buffer,
    pub(crate) heavy_count: u32,
    /// Their chunks of at most [`CHUNK`] edges: (first edge, end edge, 0,
    /// 0), and how many.
    pub(crate) heavy_chunks: Buffer,
    pub(crate) chunk_count: u32,
    /// Nodes of more than [`PUSH_HEAVY`] out-edges.
    pub(crate) push_heavy_count: u32,
    /// Invocations per row for the other rows' pulls: the largest power of
    /// two up to their average in-degree, at most 32.
    pub(crate) pull_team: u32,
}

impl GpuGraph {
    /// Uploads `graph` to `gpu`.
    ///
    /// Errors: [`GpuError::TooLarge`] for more than `u32::MAX` edges or
    /// arrays over the device's buffer limit; Vulkan errors (out of device
    /// memory).
    pub fn upload<'g>(gpu: &Gpu, graph: impl Into<GraphView<'g>>) -> Result<GpuGraph, GpuError> {
        let graph = graph.into();
        let (nodes, edges) = (graph.node_count(), graph.edge_count());
        if u32::try_from(edges).is_err() || u32::try_from(nodes).is_err() {
            return Err(GpuError::TooLarge {
                what: "edge offsets (u32 on the device)",
                bytes: edges as u64 * 4,
                limit: u64::from(u32::MAX) * 4,
            });
        }
        let ctx = &gpu.ctx;
        let inc = graph.in_edges();
        let heavy: Vec<u32> = (0..nodes as u32)
            .filter(|&v| inc.degree(v) > HEAVY)
            .collect();
        let heavy_edges: u64 = heavy.iter().map(|&v| u64::from(inc.degree(v))).sum();
        let (mut hubs, mut chunks) = (Vec::new(), Vec::new());
        for &v in &heavy {
            let (lo, hi) = (
                inc.offsets()[v as usize] as u32,
                inc.offsets()[v as usize + 1] as u32,
            );
            let first = chunks.len() as u32;
            chunks.extend(
                (lo..hi)
                    .step_by(CHUNK as usize)
                    .map(|c| [c, c.saturating_add(CHUNK).min(hi), 0, 0]),
            );
            hubs.push([v, first, chunks.len() as u32, 0]);
        }
        let out_edges = graph.out_edges();
        let push_heavy_count = (0..nodes as u32)
            .filter(|&v| out_edges.degree(v) > PUSH_HEAVY)
            .count() as u32;
        let light_rows = (nodes - heavy.len()).max(1) as u64;
        let average = (edges as u64 - heavy_edges) / light_rows;
        let out = upload_csr(ctx, graph.out_edges(), "out-edges")?;
        let inc = upload_csr(ctx, graph.in_edges(), "in-edges")?;
        let degrees = graph.out_edges();
        let max_degree = (0..nodes as u32)
            .map(|v| degrees.degree(v))
            .max()
            .unwrap_or(0);
        let fan_len = max_degree + 1;
        let fan: Vec<f32> = [Fan::Divide, Fan::Sqrt]
            .into_iter()
            .flat_map(|fan| (0..fan_len).map(move |d| fan_factor(fan, d)))
            .collect();
        Ok(GpuGraph {
            ctx: ctx.clone(),
            nodes,
            edges,
            out,
            inc,
            fan: Buffer::upload(ctx, "fan-out factors", &fan)?,
            fan_len,
            heavy_rows: Buffer::upload(ctx, "heavy rows", &hubs)?,
            heavy_count: hubs.len() as u32,
            heavy_chunks: Buffer::upload(ctx, "hub chunks", &chunks)?,
            chunk_count: chunks.len() as u32,
            push_heavy_count,
            pull_team: 1 << average.clamp(1, 32).ilog2(),
        })
    }

    /// Nodes.
    pub fn node_count(&self) -> usize {
        self.nodes
    }

    /// Edges.
    pub fn edge_count(&self) -> usize {
        self.edges
    }

    /// Bytes of device memory the graph holds.
    pub fn memory_bytes(&self) -> u64 {
        self.out
            .iter()
            .chain(&self.inc)
            .map(|b| b.bytes)
            .sum::<u64>()
            + self.fan.bytes
    }

    /// The fan table's mode for `fan` (`prelude.wgsl`'s `fan_mode`).
    pub(crate) fn fan_mode(fan: Fan) -> u32 {
        match fan {
            Fan::None => 0,
            Fan::Divide => 1,
            Fan::Sqrt => 2,
        }
    }

    /// Whether this graph lives on the device of `ctx`.
    pub(crate) fn on(&self, ctx: &Arc<Context>) -> bool {
        Arc::ptr_eq(&self.ctx, ctx)
    }
}

impl core::fmt::Debug for GpuGraph {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GpuGraph")
            .field("nodes", &self.nodes)
            .field("edges", &self.edges)
            .field("device", &self.ctx.info.name)
            .finish()
    }
}

/// Offsets (as `u32`), ids and weights of one direction.
fn upload_csr(
    ctx: &Arc<Context>,
    csr: CsrView<'_>,
    what: &'static str,
) -> Result<[Buffer; 3], GpuError> {
    // Checked by the caller: every offset fits.
    let offsets: Vec<u32> = csr.offsets().iter().map(|&o| o as u32).collect();
    Ok([
        Buffer::upload(ctx, what, &offsets)?,
        Buffer::upload(ctx, what, csr.targets())?,
        Buffer::upload(ctx, what, csr.weights())?,
    ])
}

impl GraphShape for &GpuGraph {
    fn node_count(&self) -> usize {
        self.nodes
    }

    fn edge_count(&self) -> usize {
        self.edges
    }
}
