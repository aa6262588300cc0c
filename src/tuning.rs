//! The hardware tuning profile: what `cargo bench --bench tune` measured on
//! this machine, read back at start-up.
//!
//! The kernels' defaults are good on most machines; the best SIMD backend,
//! the frontier share at which pulling beats pushing, and the batch size that
//! gives the most queries per second are properties of one machine, so the
//! `tune` bench measures them (with the memory bandwidth and the cache sizes
//! in effect, which size batches) and writes them here:
//!
//! 1. `$AXONAL_TUNING` if it is set,
//! 2. else `$XDG_CONFIG_HOME/axonal/tuning.json`,
//! 3. else `$HOME/.config/axonal/tuning.json`.
//!
//! [`Tuning::load_or_default`] reads it. The profile is versioned JSON that
//! names the machine it was measured on ([`MachineId`]); a missing, corrupt,
//! newer-format or other-machine profile is **reported and ignored** (the
//! returned [`ProfileStatus`] says why) and the defaults are used: a profile
//! can make the kernels faster, never wrong and never crash them. Profiles
//! are written to a temporary file and renamed into place, so a crash while
//! saving leaves the previous profile intact.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::batch::BatchSizing;
use crate::machine::topology::Topology;
use crate::simd::{Backend, Kernels, Platform};
use crate::spread::SpreaderConfig;

/// The profile format's name, the value of its `format` field.
pub const FORMAT: &str = "axonal-tuning";

/// The profile format's version; profiles of other versions are ignored.
pub const VERSION: u64 = 1;

/// The environment variable that overrides the profile's path.
pub const PATH_VAR: &str = "AXONAL_TUNING";

/// What identifies a machine: a profile measured on a machine with another
/// identity is not applied.
///
/// Later versions may add fields (`#[non_exhaustive]`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MachineId {
    /// The CPU's model name (`/proc/cpuinfo`), or `"unknown"`.
    pub cpu_model: String,
    /// Logical CPUs.
    pub cpus: u32,
    /// L2 and last-level cache sizes, bytes, where known.
    pub l2_bytes: Option<u64>,
    /// Last-level cache (L3 if there is one, else L2) size, bytes.
    pub llc_bytes: Option<u64>,
}

impl MachineId {
    /// This machine, from `/proc/cpuinfo` ([`Platform`]) and [`Topology::detect`].
    pub fn detect() -> MachineId {
        MachineId::from_topology(&Topology::detect(), &Platform::detect().cpu_model)
    }

    /// The identity of a machine with this topology and CPU model.
    pub fn from_topology(topology: &Topology, cpu_model: &str) -> MachineId {
        MachineId {
            cpu_model: cpu_model.to_owned(),
            cpus: topology.cpus().len() as u32,
            l2_bytes: topology.cache_size(2),
            llc_bytes: topology.cache_size(3).or(topology.cache_size(2)),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "cpu_model": self.cpu_model,
            "cpus": self.cpus,
            "l2_bytes": self.l2_bytes,
            "llc_bytes": self.llc_bytes,
        })
    }

    fn from_json(value: &Value) -> Result<MachineId, TuningError> {
        let object = value
            .as_object()
            .ok_or(TuningError::Invalid { field: "machine" })?;
        Ok(MachineId {
            cpu_model: object
                .get("cpu_model")
                .and_then(Value::as_str)
                .ok_or(TuningError::Invalid {
                    field: "machine.cpu_model",
                })?
                .to_owned(),
            cpus: optional_u64(object, "cpus")?
                .and_then(|n| u32::try_from(n).ok())
                .ok_or(TuningError::Invalid {
                    field: "machine.cpus",
                })?,
            l2_bytes: optional_u64(object, "l2_bytes")?,
            llc_bytes: optional_u64(object, "llc_bytes")?,
        })
    }
}

impl fmt::Display for MachineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kib = |b: Option<u64>| b.map_or("?".to_owned(), |b| format!("{} KiB", b >> 10));
        write!(
            f,
            "{} ({} CPUs, L2 {}, LLC {})",
            self.cpu_model,
            self.cpus,
            kib(self.l2_bytes),
            kib(self.llc_bytes)
        )
    }
}

/// What was measured. `None` (the [`Default`]) means "not measured: use the
/// built-in default".
///
/// Later versions may add measurements (`#[non_exhaustive]`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub struct Tuning {
    /// The fastest SIMD backend for the similarity scan.
    pub simd: Option<Backend>,
    /// The frontier share of all edges above which a hop pulls, on large
    /// graphs ([`SpreaderConfig::pull_fraction`]), in `(0, 1]`.
    pub pull_fraction: Option<f32>,
    /// The batch size with the most queries per second on the tuning
    /// workload (`rmat20`, `query_wide`), 1 to 32.
    pub batch_size: Option<u32>,
    /// Memory read bandwidth of one core, bytes per second.
    pub bandwidth: Option<f64>,
    /// Bytes per second one spreading query reads when it runs alone.
    pub query_bandwidth: Option<f64>,
    /// The largest working set that still reads at L2 speed, bytes.
    pub l2_effective_bytes: Option<u64>,
    /// The largest working set that still reads well faster than memory,
    /// bytes: the last-level cache in effect.
    pub llc_effective_bytes: Option<u64>,
}

/// Where the tuning in use came from, for the caller to report.
#[derive(Debug)]
#[non_exhaustive]
pub enum ProfileStatus {
    /// The profile at this path was applied.
    Loaded(PathBuf),
    /// There is no profile at this path (or no path could be formed):
    /// defaults.
    Missing(Option<PathBuf>),
    /// The profile at this path was ignored for this reason: defaults.
    Ignored(PathBuf, TuningError),
}

impl fmt::Display for ProfileStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProfileStatus::Loaded(path) => write!(f, "tuning profile {}", path.display()),
            ProfileStatus::Missing(Some(path)) => {
                write!(f, "no tuning profile at {}: defaults", path.display())
            }
            ProfileStatus::Missing(None) => {
                write!(f, "no tuning profile path (set {PATH_VAR}): defaults")
            }
            ProfileStatus::Ignored(path, why) => write!(
                f,
                "tuning profile {} ignored ({why}): defaults",
                path.display()
            ),
        }
    }
}

/// Why a profile could not be read, written or applied.
#[derive(Debug)]
#[non_exhaustive]
pub enum TuningError {
    /// Reading or writing the file failed.
    Io(std::io::Error),
    /// Not JSON.
    Json(serde_json::Error),
    /// JSON, but not a tuning profile (no `format: "axonal-tuning"`).
    NotAProfile,
    /// A profile of another format version.
    Version {
        /// Its version.
        found: u64,
    },
    /// Measured on another machine.
    OtherMachine {
        /// The machine it names.
        profile: Box<MachineId>,
        /// This machine.
        here: Box<MachineId>,
    },
    /// A field that is missing where required, of the wrong type, or out of
    /// range (a backend this CPU lacks counts).
    Invalid {
        /// The field.
        field: &'static str,
    },
}

impl fmt::Display for TuningError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TuningError::Io(e) => write!(f, "i/o error: {e}"),
            TuningError::Json(e) => write!(f, "not JSON: {e}"),
            TuningError::NotAProfile => write!(f, "not an {FORMAT} profile"),
            TuningError::Version { found } => {
                write!(f, "format version {found}, this build reads {VERSION}")
            }
            TuningError::OtherMachine { profile, here } => {
                write!(f, "measured on {profile}, this is {here}")
            }
            TuningError::Invalid { field } => write!(f, "field `{field}` missing or out of range"),
        }
    }
}

impl std::error::Error for TuningError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TuningError::Io(e) => Some(e),
            TuningError::Json(e) => Some(e),
            _ => None,
        }
    }
}

impl Tuning {
    /// The profile's path: `$AXONAL_TUNING`, `$XDG_CONFIG_HOME/axonal/tuning.json`
    /// or `$HOME/.config/axonal/tuning.json` (`None` if none of them is set).
    pub fn path() -> Option<PathBuf> {
        path_from(|name| std::env::var_os(name))
    }

    /// The profile at [`Tuning::path`] if it applies to this machine, else
    /// the defaults; the status says which, and why (never an error).
    pub fn load_or_default() -> (Tuning, ProfileStatus) {
        Tuning::load_or_default_at(Tuning::path(), &MachineId::detect())
    }

    /// [`load_or_default`](Tuning::load_or_default) from a given path and
    /// machine.
    pub fn load_or_default_at(path: Option<PathBuf>, here: &MachineId) -> (Tuning, ProfileStatus) {
        let Some(path) = path else {
            return (Tuning::default(), ProfileStatus::Missing(None));
        };
        match Tuning::load(&path, here) {
            Ok(tuning) => (tuning, ProfileStatus::Loaded(path)),
            Err(TuningError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                (Tuning::default(), ProfileStatus::Missing(Some(path)))
            }
            Err(why) => (Tuning::default(), ProfileStatus::Ignored(path, why)),
        }
    }

    /// Reads the profile at `path`, if it was measured on `here`.
    pub fn load(path: &Path, here: &MachineId) -> Result<Tuning, TuningError> {
        let text = std::fs::read_to_string(path).map_err(TuningError::Io)?;
        Tuning::from_json(&text, here)
    }

    /// Writes the profile to `path` (creating its folder) for machine
    /// `here`: to a temporary file beside it, then renamed over it, so the
    /// previous profile survives a failed write.
    pub fn save(&self, path: &Path, here: &MachineId) -> Result<(), TuningError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(TuningError::Io)?;
        }
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        std::fs::write(&temporary, self.to_json(here)).map_err(TuningError::Io)?;
        std::fs::rename(&temporary, path).map_err(|e| {
            let _ = std::fs::remove_file(&temporary);
            TuningError::Io(e)
        })
    }

    /// The profile as JSON text, naming machine `here`.
    pub fn to_json(&self, here: &MachineId) -> String {
        let mut profile = json!({
            "format": FORMAT,
            "version": VERSION,
            "written_by": concat!("axonal ", env!("CARGO_PKG_VERSION")),
            "machine": here.to_json(),
        });
        let fields = profile.as_object_mut().expect("an object");
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                fields.insert(key.to_owned(), value);
            }
        };
        put("simd", self.simd.map(|b| b.name().into()));
        // The f32's shortest decimal (0.3, not 0.30000001192092896).
        let decimal = |f: f32| f.to_string().parse::<f64>().map(Value::from).ok();
        put("pull_fraction", self.pull_fraction.and_then(decimal));
        put("batch_size", self.batch_size.map(Value::from));
        put("bandwidth", self.bandwidth.map(Value::from));
        put("query_bandwidth", self.query_bandwidth.map(Value::from));
        put(
            "l2_effective_bytes",
            self.l2_effective_bytes.map(Value::from),
        );
        put(
            "llc_effective_bytes",
            self.llc_effective_bytes.map(Value::from),
        );
        let mut text = serde_json::to_string_pretty(&profile).expect("plain JSON values");
        text.push('\n');
        text
    }

    /// Parses a profile and checks it applies to machine `here`: the format,
    /// the version, the machine, then every field's type and range. Fields
    /// this version does not know are ignored.
    pub fn from_json(text: &str, here: &MachineId) -> Result<Tuning, TuningError> {
        let value: Value = serde_json::from_str(text).map_err(TuningError::Json)?;
        let object = value.as_object().ok_or(TuningError::NotAProfile)?;
        if object.get("format").and_then(Value::as_str) != Some(FORMAT) {
            return Err(TuningError::NotAProfile);
        }
        let version = object
            .get("version")
            .and_then(Value::as_u64)
            .ok_or(TuningError::Invalid { field: "version" })?;
        if version != VERSION {
            return Err(TuningError::Version { found: version });
        }
        let machine = MachineId::from_json(object.get("machine").unwrap_or(&Value::Null))?;
        if &machine != here {
            return Err(TuningError::OtherMachine {
                profile: Box::new(machine),
                here: Box::new(here.clone()),
            });
        }
        let simd = match object.get("simd") {
            None => None,
            Some(name) => Some(
                name.as_str()
                    .and_then(|name| Backend::ALL.into_iter().find(|b| b.name() == name))
                    .filter(|b| b.is_available())
                    .ok_or(TuningError::Invalid { field: "simd" })?,
            ),
        };
        let positive = |field: &'static str| -> Result<Option<f64>, TuningError> {
            match object.get(field) {
                None => Ok(None),
                Some(v) => v
                    .as_f64()
                    .filter(|x| x.is_finite() && *x > 0.0)
                    .map(Some)
                    .ok_or(TuningError::Invalid { field }),
            }
        };
        let pull_fraction = positive("pull_fraction")?;
        if pull_fraction.is_some_and(|f| f > 1.0) {
            return Err(TuningError::Invalid {
                field: "pull_fraction",
            });
        }
        let batch_size = optional_u64(object, "batch_size")?
            .map(|n| {
                u32::try_from(n)
                    .ok()
                    .filter(|n| (1..=crate::spread::MAX_BATCH as u32).contains(n))
                    .ok_or(TuningError::Invalid {
                        field: "batch_size",
                    })
            })
            .transpose()?;
        Ok(Tuning {
            simd,
            pull_fraction: pull_fraction.map(|f| f as f32),
            batch_size,
            bandwidth: positive("bandwidth")?,
            query_bandwidth: positive("query_bandwidth")?,
            l2_effective_bytes: optional_u64(object, "l2_effective_bytes")?,
            llc_effective_bytes: optional_u64(object, "llc_effective_bytes")?,
        })
    }

    /// The SIMD kernels to use: the measured backend, else [`Kernels::best`].
    pub fn kernels(&self) -> Kernels {
        self.simd
            .and_then(Kernels::for_backend)
            .unwrap_or_else(Kernels::best)
    }

    /// The spreader configuration for graphs of `nodes` nodes: the measured
    /// switch point on large graphs, [`SpreaderConfig::for_nodes`] otherwise.
    pub fn spreader_config(&self, nodes: usize) -> SpreaderConfig {
        let mut config = SpreaderConfig::for_nodes(nodes);
        if nodes > SpreaderConfig::SMALL_GRAPH_NODES
            && let Some(fraction) = self.pull_fraction
        {
            config.pull_fraction = fraction;
        }
        config
    }

    /// The facts an [`AdaptiveBatcher`](crate::batch::AdaptiveBatcher)
    /// starts from: this topology's cores and last-level cache (the measured
    /// one in effect if there is one), the measured bandwidths, and
    /// `query_bytes` of hot state per query.
    pub fn batch_sizing(&self, topology: &Topology, query_bytes: u64) -> BatchSizing {
        BatchSizing {
            cores: topology.cpus().len() as u32,
            cache_bytes: self
                .llc_effective_bytes
                .or(topology.cache_size(3))
                .or(topology.cache_size(2))
                .unwrap_or(0),
            query_bytes,
            bandwidth: self.bandwidth.unwrap_or(0.0),
            query_bandwidth: self.query_bandwidth.unwrap_or(0.0),
        }
    }
}

/// The profile path given the environment `var`.
fn path_from(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> Option<PathBuf> {
    let var = |name| var(name).filter(|v| !v.is_empty());
    if let Some(path) = var(PATH_VAR) {
        return Some(PathBuf::from(path));
    }
    let config = var("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|home| Path::new(&home).join(".config")))?;
    Some(config.join("axonal").join("tuning.json"))
}

/// An optional non-negative integer field.
fn optional_u64(
    object: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<u64>, TuningError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or(TuningError::Invalid { field }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::topology::{CacheKind, TopologyBuilder};
    use std::ffi::OsString;

    fn machine(model: &str) -> MachineId {
        MachineId {
            cpu_model: model.to_owned(),
            cpus: 16,
            l2_bytes: Some(1 << 20),
            llc_bytes: Some(32 << 20),
        }
    }

    fn measured() -> Tuning {
        Tuning {
            simd: Some(Backend::Scalar),
            pull_fraction: Some(0.3),
            batch_size: Some(16),
            bandwidth: Some(17.5e9),
            query_bandwidth: Some(3.8e9),
            l2_effective_bytes: Some(512 << 10),
            llc_effective_bytes: Some(8 << 20),
        }
    }

    /// A fresh, empty folder for one test.
    fn folder(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("axonal-tuning-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn round_trips_through_json_and_a_file() {
        let here = machine("Test CPU");
        let text = measured().to_json(&here);
        assert!(text.contains("\"pull_fraction\": 0.3,"), "{text}");
        assert_eq!(Tuning::from_json(&text, &here).unwrap(), measured());
        let empty = Tuning::default();
        assert_eq!(
            Tuning::from_json(&empty.to_json(&here), &here).unwrap(),
            empty
        );

        let path = folder("round-trip").join("nested").join("tuning.json");
        measured().save(&path, &here).unwrap();
        assert_eq!(Tuning::load(&path, &here).unwrap(), measured());
        let (tuning, status) = Tuning::load_or_default_at(Some(path.clone()), &here);
        assert_eq!(tuning, measured());
        assert!(matches!(status, ProfileStatus::Loaded(p) if p == path));
    }

    #[test]
    fn missing_corrupt_and_foreign_profiles_are_reported_and_ignored() {
        let here = machine("Test CPU");
        let dir = folder("ignored");
        let (tuning, status) = Tuning::load_or_default_at(Some(dir.join("absent.json")), &here);
        assert_eq!(tuning, Tuning::default());
        assert!(matches!(status, ProfileStatus::Missing(Some(_))));
        let (_, status) = Tuning::load_or_default_at(None, &here);
        assert!(matches!(status, ProfileStatus::Missing(None)));

        let good = measured().to_json(&here);
        type Expect = fn(&TuningError) -> bool;
        let cases: Vec<(String, Expect)> = vec![
            (good[..good.len() / 2].to_owned(), |e| {
                matches!(e, TuningError::Json(_))
            }),
            ("\u{0}\u{1}binary".to_owned(), |e| {
                matches!(e, TuningError::Json(_))
            }),
            ("[1, 2]".to_owned(), |e| {
                matches!(e, TuningError::NotAProfile)
            }),
            ("{\"format\": \"other\"}".to_owned(), |e| {
                matches!(e, TuningError::NotAProfile)
            }),
            (good.replace("\"version\": 1", "\"version\": 2"), |e| {
                matches!(e, TuningError::Version { found: 2 })
            }),
            (measured().to_json(&machine("Other CPU")), |e| {
                matches!(e, TuningError::OtherMachine { .. })
            }),
            (good.replace("\"scalar\"", "\"sse9\""), |e| {
                matches!(e, TuningError::Invalid { field: "simd" })
            }),
            (
                good.replace("\"pull_fraction\": 0.3", "\"pull_fraction\": 1.5"),
                |e| {
                    matches!(
                        e,
                        TuningError::Invalid {
                            field: "pull_fraction"
                        }
                    )
                },
            ),
            (
                good.replace("\"pull_fraction\": 0.3", "\"pull_fraction\": -0.3"),
                |e| {
                    matches!(
                        e,
                        TuningError::Invalid {
                            field: "pull_fraction"
                        }
                    )
                },
            ),
            (
                good.replace("\"batch_size\": 16", "\"batch_size\": 0"),
                |e| {
                    matches!(
                        e,
                        TuningError::Invalid {
                            field: "batch_size"
                        }
                    )
                },
            ),
            (
                good.replace("\"batch_size\": 16", "\"batch_size\": 33"),
                |e| {
                    matches!(
                        e,
                        TuningError::Invalid {
                            field: "batch_size"
                        }
                    )
                },
            ),
            (
                good.replace("\"batch_size\": 16", "\"batch_size\": \"16\""),
                |e| {
                    matches!(
                        e,
                        TuningError::Invalid {
                            field: "batch_size"
                        }
                    )
                },
            ),
            (
                good.replace("\"bandwidth\": 17500000000.0", "\"bandwidth\": 0"),
                |e| matches!(e, TuningError::Invalid { field: "bandwidth" }),
            ),
            (good.replace("\"cpus\": 16", "\"cpus\": -1"), |e| {
                matches!(e, TuningError::Invalid { .. })
            }),
        ];
        for (i, (text, expected)) in cases.iter().enumerate() {
            assert_ne!(text, &good, "case {i} changed nothing");
            let err = Tuning::from_json(text, &here).unwrap_err();
            assert!(expected(&err), "case {i}: {err}");
            let path = dir.join(format!("case{i}.json"));
            std::fs::write(&path, text).unwrap();
            let (tuning, status) = Tuning::load_or_default_at(Some(path), &here);
            assert_eq!(tuning, Tuning::default(), "case {i}");
            assert!(matches!(status, ProfileStatus::Ignored(..)), "case {i}");
            assert!(status.to_string().contains("ignored"), "{status}");
        }
        // Fields a later version adds are ignored, not refused.
        let extended = good.replacen('{', "{\n  \"numa_policy\": \"interleave\",", 1);
        assert_eq!(Tuning::from_json(&extended, &here).unwrap(), measured());
    }

    #[test]
    fn a_failed_save_keeps_the_previous_profile() {
        let here = machine("Test CPU");
        let dir = folder("save");
        let path = dir.join("tuning.json");
        measured().save(&path, &here).unwrap();
        // Replaced whole by a later save.
        let later = Tuning {
            batch_size: Some(8),
            ..Tuning::default()
        };
        later.save(&path, &here).unwrap();
        assert_eq!(Tuning::load(&path, &here).unwrap(), later);
        // The temporary file's name is taken by a folder: the write fails,
        // the profile is as it was.
        std::fs::create_dir(dir.join("tuning.json.tmp")).unwrap();
        assert!(matches!(
            measured().save(&path, &here),
            Err(TuningError::Io(_))
        ));
        assert_eq!(Tuning::load(&path, &here).unwrap(), later);
    }

    #[test]
    fn the_path_follows_the_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        assert_eq!(
            path_from(env(&[("AXONAL_TUNING", "/x/t.json"), ("HOME", "/home/u")])),
            Some(PathBuf::from("/x/t.json"))
        );
        assert_eq!(
            path_from(env(&[("XDG_CONFIG_HOME", "/cfg"), ("HOME", "/home/u")])),
            Some(PathBuf::from("/cfg/axonal/tuning.json"))
        );
        assert_eq!(
            path_from(env(&[("AXONAL_TUNING", ""), ("HOME", "/home/u")])),
            Some(PathBuf::from("/home/u/.config/axonal/tuning.json"))
        );
        assert_eq!(path_from(env(&[])), None);
    }

    #[test]
    fn applies_what_was_measured_and_defaults_the_rest() {
        let topology = TopologyBuilder::new(1, 1, 4, 2)
            .cache(2, CacheKind::Unified, 1 << 20, 1)
            .cache(3, CacheKind::Unified, 32 << 20, 8)
            .build();
        let tuned = measured();
        assert_eq!(tuned.kernels().backend(), Backend::Scalar);
        assert_eq!(
            Tuning::default().kernels().backend(),
            Kernels::best().backend()
        );
        let large = 1 << 20;
        assert_eq!(tuned.spreader_config(large).pull_fraction, 0.3);
        assert_eq!(
            tuned.spreader_config(1_000),
            SpreaderConfig::for_nodes(1_000)
        );
        assert_eq!(
            Tuning::default().spreader_config(large),
            SpreaderConfig::for_nodes(large)
        );
        let sizing = tuned.batch_sizing(&topology, 1 << 20);
        assert_eq!(sizing.cores, 8);
        assert_eq!(sizing.cache_bytes, 8 << 20); // the measured one in effect
        assert_eq!(sizing.estimates(), [8.0, 8.0, 17.5 / 3.8]);
        let untuned = Tuning::default().batch_sizing(&topology, 1 << 20);
        assert_eq!(untuned.cache_bytes, 32 << 20);
        assert_eq!(untuned.estimates()[2], 1.0);
    }

    #[test]
    fn machine_id_names_the_cpu() {
        let id = MachineId::from_topology(&TopologyBuilder::new(1, 1, 2, 1).build(), "X");
        assert_eq!(id.cpus, 2);
        assert!(id.to_string().starts_with("X (2 CPUs"));
    }
}
