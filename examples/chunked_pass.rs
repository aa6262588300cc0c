//! A dense hop over an `.axg` file larger than the memory it may use: a
//! chunked pass ([`axonal::store::Chunks`]) with a 32 MiB budget, run in a
//! child process that prints its peak resident memory (`VmHWM`), with the
//! file's size and the pass's throughput.
//!
//! ```sh
//! cargo run --release --example chunked_pass                 # a generated file of >= 1 GiB
//! cargo run --release --example chunked_pass -- FILE.axg [BUDGET_MIB]
//! ```
//!
//! Without a file it writes, once, R-MAT scale 20 with edge factor 96
//! (1 Mi nodes, about 80 M edges after duplicates merge: a file of about
//! 1.3 GB) to the temporary directory and keeps it for later runs. Few
//! nodes and many edges keep the caller's arrays small: the hop reads `x`
//! and writes `out`, 4 bytes per node each (8 MiB here), on top of the
//! budget. The child never loads the graph: it reads the file chunk by
//! chunk, in-edges only (a pull: `out[v] = sum of x[u] * w(u, v)`, the bits
//! of `axonal::spread::dense_hop`), checking every block checksum.

mod common;

use common::peak_rss;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use axonal::graph::generate::{Rmat, Weights};
use axonal::store::{AxgBuilder, Carry, Chunks, Verify};

/// Set in the child's environment: run the pass, not the parent.
const CHILD: &str = "AXONAL_CHUNKED_PASS_CHILD";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let budget_mib: usize = args.get(1).map_or(Ok(32), |b| b.parse())?;
    if std::env::var_os(CHILD).is_some() {
        return child(Path::new(&args[0]), budget_mib << 20);
    }
    let path = match args.first() {
        Some(path) => PathBuf::from(path),
        None => generated_file()?,
    };
    let len = std::fs::metadata(&path)?.len();
    println!(
        "file {}: {:.2} GiB ({len} bytes)",
        path.display(),
        len as f64 / f64::from(1 << 30)
    );
    let status = Command::new(std::env::current_exe()?)
        .arg(&path)
        .arg(budget_mib.to_string())
        .env(CHILD, "1")
        .status()?;
    if !status.success() {
        return Err(format!("the pass failed: {status}").into());
    }
    Ok(())
}

/// R-MAT scale 20, edge factor 96, written once to the temporary directory.
fn generated_file() -> Result<PathBuf, Box<dyn std::error::Error>> {
    let path = std::env::temp_dir().join("axonal-chunked-pass-rmat20x96.axg");
    if Chunks::open(&path, 1 << 20, Carry::new(), Verify::Structure).is_ok() {
        return Ok(path);
    }
    println!(
        "generating R-MAT scale 20, edge factor 96 (once, with the bounded-memory builder: 256 MiB)..."
    );
    let started = Instant::now();
    let rmat = Rmat {
        scale: 20,
        edge_factor: 96,
        abc: [0.57, 0.19, 0.19],
        weights: Weights::Uniform { lo: 0.05, hi: 1.0 },
        seed: 42,
    };
    let mut builder = AxgBuilder::new(256 << 20)
        .node_count(1 << 20)
        .temp_dir(std::env::temp_dir());
    for e in rmat.edges() {
        builder.add_edge(u64::from(e.src), u64::from(e.dst), e.weight)?;
    }
    let summary = builder.finish(&path, &mut ())?;
    println!(
        "wrote {} nodes, {} edges in {:.1} s",
        summary.nodes,
        summary.edges,
        started.elapsed().as_secs_f64()
    );
    Ok(path)
}

/// The pass: one dense hop, in-edge chunks, within `budget` bytes.
fn child(path: &Path, budget: usize) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let mut chunks = Chunks::open(path, budget, Carry::new().in_edges(), Verify::Full)?;
    let n = chunks.node_count();
    let x: Vec<f32> = (0..n).map(|v| (v % 1000) as f32 / 999.0).collect();
    let mut out = vec![0.0f32; n];
    let (mut count, mut bytes) = (0usize, 0u64);
    while let Some(chunk) = chunks.next_chunk(&mut ()) {
        let rows = chunk?.in_edges().expect("carried");
        let range = rows.nodes().start as usize..rows.nodes().end as usize;
        rows.dense_hop(&x, &mut out[range])?;
        bytes += (rows.offsets().len() * 8 + rows.targets().len() * 8) as u64;
        count += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    let checksum: f64 = out.iter().map(|&v| f64::from(v)).sum();
    println!(
        "chunked dense hop: {n} nodes, {} edges, {count} chunks, budget {} MiB, Verify::Full",
        chunks.edge_count(),
        budget >> 20
    );
    println!(
        "  {:.2} GiB of in-edge sections in {seconds:.2} s: {:.2} GiB/s (sum of out: {checksum:.3})",
        bytes as f64 / f64::from(1 << 30),
        bytes as f64 / f64::from(1 << 30) / seconds
    );
    println!(
        "  peak resident memory (VmHWM): {} (arrays x and out: {:.1} MiB)",
        peak_rss(),
        (2 * 4 * n) as f64 / f64::from(1 << 20)
    );
    Ok(())
}
