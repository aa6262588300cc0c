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
    /// The out- and in-edge views given do not describe one graph.
    MismatchedViews,
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
            SpreadError::MismatchedViews => {
                f.write_str("out- and in-edge views differ in node or edge count")
            }
        }
    }
}

impl core::error::Error for SpreadError {}
