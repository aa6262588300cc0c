//! Spreading errors.

use core::fmt;

/// Why a spreading query was rejected. A rejected query changes nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum SpreadError {
    /// A seed names a node outside the graph, or its activation is not a
    /// finite value in `[0, 1]`.
    InvalidSeed {
        /// Index of the seed in the slice given.
        index: usize,
        /// The seed's node.
        node: u32,
        /// The seed's activation.
        activation: f32,
    },
    /// A parameter is out of its range.
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// Its allowed range, in words.
        expected: &'static str,
    },
    /// The spreader was sized for a graph of another node count.
    WorkspaceMismatch {
        /// Nodes the workspace holds.
        workspace: usize,
        /// Nodes the graph has.
        graph: usize,
    },
    /// A per-node slice has the wrong length.
    LengthMismatch {
        /// The graph's node count.
        expected: usize,
        /// The slice's length.
        found: usize,
    },
    /// A per-node input value is not a finite value in `[0, 1]`.
    InvalidValue {
        /// Index (node) of the value.
        index: usize,
        /// The value.
        value: f32,
    },
}

impl fmt::Display for SpreadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SpreadError::InvalidSeed {
                index,
                node,
                activation,
            } => write!(
                f,
                "seed #{index} (node {node}, activation {activation}) names no node of the graph or has an activation outside [0, 1]"
            ),
            SpreadError::InvalidParameter { name, expected } => {
                write!(f, "parameter `{name}` must be {expected}")
            }
            SpreadError::WorkspaceMismatch { workspace, graph } => {
                write!(
                    f,
                    "spreader sized for {workspace} nodes used on a graph of {graph}"
                )
            }
            SpreadError::LengthMismatch { expected, found } => {
                write!(f, "expected one value per node ({expected}), found {found}")
            }
            SpreadError::InvalidValue { index, value } => {
                write!(f, "value {value} at index {index} is not in [0, 1]")
            }
        }
    }
}

impl core::error::Error for SpreadError {}
