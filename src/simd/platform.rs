//! [`Platform`]: which CPU and which SIMD backend a run used.
//!
//! A performance figure means little without the machine it came from, and
//! the same binary picks a different backend on another CPU (or under
//! `AXONAL_SIMD`). Benches and examples print this line before anything
//! else, so that every figure they print names its CPU and backend.

use std::fmt;

use super::{Backend, Kernels};

/// The CPU this process runs on and the SIMD backend [`Kernels::best`]
/// chose.
///
/// ```
/// let here = axonal::simd::Platform::detect();
/// println!("{here}"); // e.g. "cpu: AMD EPYC 9R14 | simd: avx512 (this CPU has avx512 avx2 scalar)"
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// The CPU's model name (the first `model name`, `Model` or `Hardware`
    /// line of `/proc/cpuinfo`), or `"unknown"`.
    pub cpu_model: String,
    /// The backend the kernels run on: [`Kernels::best`], after any
    /// `AXONAL_SIMD` override.
    pub backend: Backend,
}

impl Platform {
    /// This machine and this process's backend.
    pub fn detect() -> Platform {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        Platform {
            cpu_model: cpu_model(&cpuinfo).into(),
            backend: Kernels::best().backend(),
        }
    }
}

impl fmt::Display for Platform {
    /// `cpu: <model> | simd: <backend> (this CPU has <every available backend>)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cpu: {} | simd: {} (this CPU has",
            self.cpu_model, self.backend
        )?;
        for b in Backend::ALL.into_iter().filter(|b| b.is_available()) {
            write!(f, " {b}")?;
        }
        f.write_str(")")
    }
}

/// The first `model name` (x86) or `Model` / `Hardware` line of a
/// `/proc/cpuinfo` text, or `"unknown"`.
pub(crate) fn cpu_model(cpuinfo: &str) -> &str {
    ["model name", "Model", "Hardware"]
        .iter()
        .find_map(|key| {
            cpuinfo.lines().find_map(|line| {
                let (k, v) = line.split_once(':')?;
                (k.trim() == *key).then(|| v.trim())
            })
        })
        .filter(|v| !v.is_empty())
        .unwrap_or("unknown")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_cpu_model() {
        let x86 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n";
        assert_eq!(cpu_model(x86), "AMD EPYC 7B13");
        assert_eq!(cpu_model("Hardware\t: BCM2835\n"), "BCM2835");
        assert_eq!(cpu_model("processor : 0\n"), "unknown");
        assert_eq!(cpu_model("model name :   \n"), "unknown");
    }

    #[test]
    fn names_the_backend_in_use_and_every_available_one() {
        let p = Platform {
            cpu_model: "Test CPU".into(),
            backend: Backend::Scalar,
        };
        let line = p.to_string();
        assert!(line.starts_with("cpu: Test CPU | simd: scalar (this CPU has"));
        for b in Backend::ALL {
            assert_eq!(line.contains(&format!(" {b}")), b.is_available(), "{line}");
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "reads /proc/cpuinfo, which Miri's isolation forbids")]
    fn detects_the_backend_the_kernels_use() {
        assert_eq!(Platform::detect().backend, Kernels::best().backend());
    }
}
