//! What several examples share.
#![allow(dead_code)]

/// The process's peak resident memory in MiB (`VmHWM`), where Linux says.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// [`peak_rss_mib`] for a report.
pub fn peak_rss() -> String {
    peak_rss_mib().map_or_else(
        || "unknown (no /proc/self/status)".into(),
        |mib| format!("{mib:.1} MiB"),
    )
}

/// A size in bytes: a plain number, or one with a unit (`KiB`, `MiB`,
/// `GiB`, `KB`, `MB`, `GB`; case ignored).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size (e.g. 256MiB, 4GiB)"))?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kib" => 1024.0,
        "m" | "mib" => 1024.0 * 1024.0,
        "g" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        _ => {
            return Err(format!(
                "`{text}`: unknown unit (KiB, MiB, GiB, KB, MB, GB)"
            ));
        }
    };
    Ok((number * scale) as u64)
}

/// The `p` quantile (0 to 1) of `sorted` values (nearest rank).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}
