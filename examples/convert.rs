//! Converts an edge list or Matrix Market file into an `.axg` file under a
//! memory budget (the bounded-memory builder), with a progress bar, and
//! prints the file's summary and the peak resident memory it took.
//!
//! ```text
//! cargo run --release --example convert -- edges.txt graph.axg              # SNAP-style edge list
//! cargo run --release --example convert -- matrix.mtx graph.axg --budget 512
//! cargo run --release --example convert -- web.txt web.axg --compact-ids --rescale
//! cargo run --release --example convert -- rmat:22 rmat22.axg --compare-memory
//! ```
//!
//! Input: a text edge list (`src dst [weight]`, `#` / `%` comment lines),
//! a Matrix Market file (`.mtx`), or `rmat:SCALE` (the Graph500 R-MAT edges
//! of that scale, generated as they are read). Flags:
//!
//! - `--budget MIB`: the builder's memory budget (default 256);
//! - `--compact-ids`: ids are any `u64`, numbered in order of appearance
//!   (the file keeps the originals in its id map);
//! - `--rescale`: weights above 1 are divided by the largest;
//! - `--default-weight W`: the weight of lines without one (default 1);
//! - `--symmetrize`: add every edge's reverse;
//! - `--temp DIR`: where sorted runs are spilled (default: the output's
//!   directory);
//! - `--compare-memory`: also build the same graph with the in-memory
//!   `GraphBuilder` in a child process and print its peak memory beside.
//!
//! The peak resident memory is the process's `VmHWM` (Linux): this process
//! does nothing but the streaming build, so it is the builder's.

mod common;

use common::peak_rss_mib;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use axonal::graph::generate::Rmat;
use axonal::graph::{GraphBuilder, io};
use axonal::store::{
    self, AxgBuilder, AxgStore, Contents, IdMapping, Phase, ProgressReport, Verify, WeightRule,
};
use indicatif::{ProgressBar, ProgressStyle};

struct Args {
    input: String,
    output: PathBuf,
    budget_mib: usize,
    compact: bool,
    rescale: bool,
    default_weight: f32,
    symmetrize: bool,
    temp: Option<PathBuf>,
    compare: bool,
    in_memory: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut positional = Vec::new();
    let mut args = Args {
        input: String::new(),
        output: PathBuf::new(),
        budget_mib: 256,
        compact: false,
        rescale: false,
        default_weight: 1.0,
        symmetrize: false,
        temp: None,
        compare: false,
        in_memory: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--budget" => {
                args.budget_mib = value()?
                    .parse()
                    .map_err(|_| "--budget takes MiB (an integer)")?
            }
            "--compact-ids" => args.compact = true,
            "--rescale" => args.rescale = true,
            "--default-weight" => {
                args.default_weight = value()?
                    .parse()
                    .map_err(|_| "--default-weight takes a number")?
            }
            "--symmetrize" => args.symmetrize = true,
            "--temp" => args.temp = Some(PathBuf::from(value()?)),
            "--compare-memory" => args.compare = true,
            "--in-memory" => args.in_memory = true,
            "--help" | "-h" => return Err(String::new()),
            f if f.starts_with("--") => return Err(format!("unknown flag {f}")),
            _ => positional.push(flag),
        }
    }
    let [input, output] =
        <[String; 2]>::try_from(positional).map_err(|_| "expected INPUT and OUTPUT".to_string())?;
    args.input = input;
    args.output = PathBuf::from(output);
    Ok(args)
}

/// `rmat:SCALE` as the R-MAT parameters.
fn rmat(input: &str) -> Result<Option<Rmat>, String> {
    let Some(scale) = input.strip_prefix("rmat:") else {
        return Ok(None);
    };
    let scale: u32 = scale
        .parse()
        .ok()
        .filter(|s| (1..=30).contains(s))
        .ok_or("rmat:SCALE takes a scale in 1..=30")?;
    Ok(Some(Rmat::graph500(scale)))
}

/// A progress bar that follows the builder's phases.
fn progress_bar() -> (ProgressBar, impl FnMut(&ProgressReport) -> ControlFlow<()>) {
    let bar = ProgressBar::new_spinner();
    let bytes = ProgressStyle::with_template(
        "{prefix:>6} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
    )
    .expect("a valid template")
    .progress_chars("=> ");
    let items = ProgressStyle::with_template("{prefix:>6} {spinner} {human_pos} edges ({per_sec})")
        .expect("a valid template");
    let counted = ProgressStyle::with_template(
        "{prefix:>6} [{bar:40}] {human_pos}/{human_len} edges ({per_sec}, {eta})",
    )
    .expect("a valid template")
    .progress_chars("=> ");
    let handle = bar.clone();
    let mut phase = None;
    let observer = move |r: &ProgressReport| {
        if phase != Some(r.phase) {
            phase = Some(r.phase);
            handle.reset();
            handle.set_prefix(r.phase.name());
            handle.set_style(match (r.bytes_total, r.items_total) {
                (Some(_), _) => bytes.clone(),
                (None, Some(_)) => counted.clone(),
                (None, None) => items.clone(),
            });
        }
        match (r.bytes_total, r.items_total) {
            (Some(total), _) => {
                handle.set_length(total);
                handle.set_position(r.bytes_done);
            }
            (None, Some(total)) => {
                handle.set_length(total);
                handle.set_position(r.items_done);
            }
            (None, None) => handle.set_position(r.items_done),
        }
        ControlFlow::Continue(())
    };
    (bar, observer)
}

/// The streaming build: the file and what it took.
fn convert(args: &Args) -> Result<(), String> {
    let started = Instant::now();
    let temp = args.temp.clone().unwrap_or_else(|| {
        args.output
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    });
    let mut builder = AxgBuilder::new(args.budget_mib << 20)
        .temp_dir(temp)
        .symmetrize(args.symmetrize)
        .default_weight(args.default_weight)
        .ids(if args.compact {
            IdMapping::Compact
        } else {
            IdMapping::Dense
        })
        .weights(if args.rescale {
            WeightRule::RescaleByMax
        } else {
            WeightRule::Refuse
        });
    let (bar, mut observer) = progress_bar();
    match rmat(&args.input)? {
        Some(rmat) => {
            let total = (1u64 << rmat.scale) * u64::from(rmat.edge_factor);
            for (i, e) in rmat.edges().enumerate() {
                builder
                    .add_edge(u64::from(e.src), u64::from(e.dst), e.weight)
                    .map_err(|e| e.to_string())?;
                if i % (1 << 16) == 0 {
                    let _ =
                        observer(&ProgressReport::new(Phase::Read).items(i as u64, Some(total)));
                }
            }
        }
        None => builder
            .read_path(&args.input, &mut observer)
            .map_err(|e| e.to_string())?,
    }
    let summary = builder
        .finish(&args.output, &mut observer)
        .map_err(|e| e.to_string())?;
    bar.finish_and_clear();
    let took = started.elapsed().as_secs_f64();
    // Before the verification below reads the whole file.
    let peak = peak_rss_mib();
    println!(
        "wrote {}: {} nodes, {} edges ({} read), {:.1} MiB",
        args.output.display(),
        summary.nodes,
        summary.edges,
        summary.edges_read,
        summary.file_bytes as f64 / (1 << 20) as f64
    );
    println!(
        "build: {took:.2} s ({:.2} M edges/s read), {} runs a direction, {:.1} MiB spilled",
        summary.edges_read as f64 / took / 1e6,
        summary.runs,
        summary.spilled_bytes as f64 / (1 << 20) as f64
    );
    let stored = AxgStore::read(&args.output, Verify::Full).map_err(|e| e.to_string())?;
    let file = stored.file().map_err(|e| e.to_string())?;
    println!(
        "verified: {} nodes, {} edges, id map {}",
        file.node_count(),
        file.edge_count(),
        if file.id_map().is_some() { "yes" } else { "no" }
    );
    drop(stored);
    let budget = args.budget_mib as f64;
    match peak {
        Some(peak) => println!(
            "peak resident memory (VmHWM): streaming builder {peak:.1} MiB; budget {budget:.0} MiB, bound budget + 10% + 32 MiB = {:.1} MiB",
            budget * 1.1 + 32.0
        ),
        None => println!("peak resident memory: not available on this system"),
    }
    if args.compare {
        compare_in_memory(args)?;
    }
    Ok(())
}

/// Runs this example again with `--in-memory` and reports its peak memory.
fn compare_in_memory(args: &Args) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe);
    child
        .arg(&args.input)
        .arg(args.output.with_extension("memory.axg"));
    child.arg("--in-memory");
    if args.symmetrize {
        child.arg("--symmetrize");
    }
    let out = child.output().map_err(|e| e.to_string())?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(())
}

/// The in-memory build (the comparison's child process).
fn in_memory(args: &Args) -> Result<(), String> {
    let started = Instant::now();
    let builder = GraphBuilder::new().symmetrize(args.symmetrize);
    let graph = match rmat(&args.input)? {
        Some(rmat) => {
            let mut b = builder;
            b.extend(rmat.edges()).map_err(|e| e.to_string())?;
            b.build().map_err(|e| e.to_string())?
        }
        None => io::read_path(&args.input, builder).map_err(|e| e.to_string())?,
    };
    store::write_file(&args.output, &Contents::new(&graph)).map_err(|e| e.to_string())?;
    let took = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&args.output);
    match peak_rss_mib() {
        Some(peak) => println!(
            "peak resident memory (VmHWM): in-memory GraphBuilder {peak:.1} MiB ({took:.2} s to build and write)"
        ),
        None => println!("in-memory GraphBuilder: {took:.2} s"),
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}");
            }
            eprintln!(
                "usage: convert INPUT OUTPUT [--budget MIB] [--compact-ids] [--rescale] [--default-weight W] [--symmetrize] [--temp DIR] [--compare-memory]\n       INPUT: an edge list, a .mtx file, or rmat:SCALE"
            );
            return ExitCode::from(2);
        }
    };
    let run = if args.in_memory {
        in_memory(&args)
    } else {
        convert(&args)
    };
    match run {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
