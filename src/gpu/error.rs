//! What the GPU layer can fail with.

use core::fmt;

use ash::vk;

use crate::layout::EmbeddingError;
use crate::spread::SpreadError;

/// Why a GPU operation failed. Nothing is half done after one: buffers
/// already uploaded stay valid, and the crate's CPU paths never depend on
/// the GPU.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum GpuError {
    /// No Vulkan loader (`libvulkan.so.1` on Linux) could be opened.
    Loader(String),
    /// The loader works but offers no Vulkan 1.2 device with a compute queue
    /// (or not the one asked for).
    NoDevice(String),
    /// The device lacks a feature a kernel needs.
    MissingFeature {
        /// The device's name.
        device: String,
        /// The Vulkan feature, as the specification names it.
        feature: &'static str,
    },
    /// A Vulkan call failed.
    Vulkan {
        /// The call.
        call: &'static str,
        /// Its result code (`VkResult`).
        code: i32,
    },
    /// A buffer would exceed what the device can bind or allocate.
    TooLarge {
        /// What the buffer holds.
        what: &'static str,
        /// Bytes it needs.
        bytes: u64,
        /// The device's limit.
        limit: u64,
    },
    /// A graph or matrix was uploaded to another [`Gpu`](super::Gpu).
    OtherDevice,
    /// Bad spreading input (seeds, parameters, a graph of another size).
    Spread(SpreadError),
    /// Bad similarity input (dimension, non-finite values).
    Embedding(EmbeddingError),
    /// A batch of more queries than a scan takes at once.
    TooManyQueries {
        /// Queries given.
        queries: usize,
        /// The most a batch takes.
        max: usize,
    },
}

impl GpuError {
    pub(crate) fn vulkan(call: &'static str) -> impl Fn(vk::Result) -> GpuError {
        move |r| GpuError::Vulkan {
            call,
            code: r.as_raw(),
        }
    }
}

impl fmt::Display for GpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GpuError::Loader(why) => write!(f, "no Vulkan loader: {why}"),
            GpuError::NoDevice(why) => write!(f, "no usable Vulkan device: {why}"),
            GpuError::MissingFeature { device, feature } => {
                write!(f, "device `{device}` lacks the Vulkan feature `{feature}`")
            }
            GpuError::Vulkan { call, code } => {
                write!(f, "{call} failed: {:?}", vk::Result::from_raw(*code))
            }
            GpuError::TooLarge { what, bytes, limit } => write!(
                f,
                "{what} needs a buffer of {bytes} bytes, over the device's limit of {limit}"
            ),
            GpuError::OtherDevice => write!(f, "the data was uploaded to another device"),
            GpuError::Spread(e) => write!(f, "{e}"),
            GpuError::Embedding(e) => write!(f, "{e}"),
            GpuError::TooManyQueries { queries, max } => {
                write!(
                    f,
                    "a batch of {queries} queries, over the {max} one scan takes"
                )
            }
        }
    }
}

impl std::error::Error for GpuError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GpuError::Spread(e) => Some(e),
            GpuError::Embedding(e) => Some(e),
            _ => None,
        }
    }
}

impl From<SpreadError> for GpuError {
    fn from(e: SpreadError) -> GpuError {
        GpuError::Spread(e)
    }
}

impl From<EmbeddingError> for GpuError {
    fn from(e: EmbeddingError) -> GpuError {
        GpuError::Embedding(e)
    }
}
