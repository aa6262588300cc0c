//! The kernels: the SPIR-V `build.rs` compiled from `kernels/`, and one
//! compute pipeline per entry point, built once per device.
//!
//! Every kernel shares one pipeline layout: one descriptor set of
//! [`BINDINGS`] storage buffers (a kernel reads the bindings it declares;
//! [`Binding`] names them) and the [`Launch`] push constants. So a program
//! (a spreader, a similarity index) writes one descriptor set with its
//! buffers and dispatches any kernel against it.

use std::ffi::CStr;

use ash::vk;
use bytemuck::{Pod, Zeroable};

use super::GpuError;
use super::device::DeviceInfo;

/// The storage buffers of the shared descriptor set; the numbers are the
/// kernels' `@binding`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Binding {
    OutOffsets = 0,
    OutTargets = 1,
    OutWeights = 2,
    InOffsets = 3,
    InSources = 4,
    InWeights = 5,
    Fan = 6,
    Activation = 7,
    Hop = 8,
    Pending = 9,
    Strength = 10,
    Gain = 11,
    Flags = 12,
    Lists = 13,
    Blocks = 14,
    Counters = 15,
    Keys = 16,
    Histogram = 17,
    OutKeys = 18,
    OutHops = 19,
    Seeds = 20,
    Matrix = 21,
    InvNorms = 22,
    Queries = 23,
    HeavyRows = 24,
    ChunkSums = 25,
    HeavyChunks = 26,
    HeavyFrontier = 27,
}

/// Bindings in the shared descriptor set.
pub(crate) const BINDINGS: u32 = 28;

/// Invocations per workgroup of every kernel but `advance`.
pub(crate) const WORKGROUP: u32 = 256;

/// Nodes per compaction tile (`compact.wgsl`'s `TILE`).
pub(crate) const TILE: u32 = 1024;

/// In-edges above which a row is pulled in chunks (`pull.wgsl`'s `HEAVY`).
pub(crate) const HEAVY: u32 = 256;

/// Edges a chunk of a heavy row holds at most.
pub(crate) const CHUNK: u32 = 4096;

/// Out-edges above which a frontier node is pushed by every workgroup
/// together (`prelude.wgsl`'s `PUSH_HEAVY`).
pub(crate) const PUSH_HEAVY: u32 = 1024;

/// Invocations sharing one frontier node's out-edges in a push hop
/// (`push.wgsl`'s `TEAM`).
pub(crate) const PUSH_TEAM: u32 = 32;

/// A launch's parameters: `kernels/common/prelude.wgsl`'s `Launch`, field
/// for field.
#[derive(Debug, Clone, Copy, Default, Pod, Zeroable)]
#[repr(C)]
pub(crate) struct Launch {
    pub(crate) nodes: u32,
    pub(crate) lanes: u32,
    pub(crate) parity: u32,
    pub(crate) hop: u32,
    pub(crate) decay_scaled: f32,
    pub(crate) threshold: f32,
    pub(crate) spreads_on: u32,
    pub(crate) fan_mode: u32,
    pub(crate) fan_len: u32,
    pub(crate) min_activation: f32,
    pub(crate) k: u32,
    pub(crate) pass: u32,
    pub(crate) blocks: u32,
    pub(crate) count_slot: u32,
    pub(crate) capacity: u32,
    pub(crate) dim: u32,
    pub(crate) items: u32,
    pub(crate) stride: u32,
    pub(crate) metric: u32,
    pub(crate) team: u32,
    pub(crate) hubs: u32,
    pub(crate) heavy_capacity: u32,
}

/// The per-lane counters (`prelude.wgsl`'s slots).
pub(crate) mod counter {
    /// Counters per lane.
    pub(crate) const PER_LANE: usize = 16;
    pub(crate) const CUR_LEN: usize = 0;
    pub(crate) const CUR_EDGES: usize = 1;
    pub(crate) const NEXT_LEN: usize = 2;
    pub(crate) const REACHED: usize = 4;
    pub(crate) const RANK_COUNT: usize = 5;
    pub(crate) const OUT_COUNT: usize = 6;
    pub(crate) const CUR_HEAVY: usize = 11;
}

// `DECLARED`: what each kernel file's SPIR-V declares.
include!(concat!(env!("OUT_DIR"), "/kernels/declared.rs"));

macro_rules! kernels {
    ($($name:ident = $file:literal $entry:literal $label:literal,)*) => {
        /// Every entry point of `kernels/`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Kernel { $($name,)* }

        impl Kernel {
            pub(crate) const ALL: &[Kernel] = &[$(Kernel::$name,)*];

            /// The SPIR-V of the kernel's file.
            fn spirv(self) -> &'static [u8] {
                match self {
                    $(Kernel::$name => include_bytes!(concat!(env!("OUT_DIR"), "/kernels/", $file, ".spv")),)*
                }
            }

            fn entry(self) -> &'static CStr {
                match self { $(Kernel::$name => $entry,)* }
            }

            /// `file.entry` (or `file` for `main`), as [`KernelTimes`](super::KernelTimes) names it.
            pub(crate) fn name(self) -> &'static str {
                match self { $(Kernel::$name => $label,)* }
            }

            fn file(self) -> &'static str {
                match self { $(Kernel::$name => $file,)* }
            }
        }
    };
}

kernels! {
    Seed = "seed" c"main" "seed",
    StrengthAssign = "strength" c"assign" "strength.assign",
    StrengthReset = "strength" c"reset" "strength.reset",
    PullLight = "pull" c"light" "pull.light",
    PullHeavy = "pull" c"heavy" "pull.heavy",
    PullFinish = "pull" c"finish" "pull.finish",
    PushHeavy = "push" c"heavy" "push.heavy",
    Push = "push" c"main" "push",
    Settle = "settle" c"main" "settle",
    CompactCount = "compact" c"count" "compact.count",
    CompactOffsets = "compact" c"offsets" "compact.offsets",
    CompactScatter = "compact" c"scatter" "compact.scatter",
    Advance = "compact" c"advance" "compact.advance",
    RankFlag = "rank" c"flag" "rank.flag",
    RankKeys = "rank" c"keys_of" "rank.keys_of",
    RankHops = "rank" c"hops" "rank.hops",
    SelectHistogram = "select" c"histogram_of" "select.histogram_of",
    SelectPick = "select" c"pick" "select.pick",
    SelectEmit = "select" c"emit" "select.emit",
    Scores = "similarity" c"scores" "similarity.scores",
    ScoresBatch = "similarity" c"scores_batch" "similarity.scores_batch",
}

impl Kernel {
    /// The first device feature `kernel` needs that `info` lacks (from the
    /// capabilities its SPIR-V declares).
    pub(crate) fn missing(self, info: &DeviceInfo) -> Option<&'static str> {
        let declared = DECLARED
            .iter()
            .find(|(file, _)| *file == self.file())
            .map_or(0, |&(_, bits)| bits);
        [
            (1, info.int64, "shaderInt64"),
            (2, info.float64, "shaderFloat64"),
            (4, info.atomic64, "shaderBufferInt64Atomics"),
        ]
        .into_iter()
        .find(|&(bit, has, _)| declared & bit != 0 && !has)
        .map(|(_, _, feature)| feature)
    }
}

/// The shared layout and a pipeline for every kernel the device can run.
pub(crate) struct Pipelines {
    pub(crate) set_layout: vk::DescriptorSetLayout,
    pub(crate) layout: vk::PipelineLayout,
    pipelines: Vec<Option<vk::Pipeline>>,
}

impl Pipelines {
    pub(crate) fn new(device: &ash::Device, info: &DeviceInfo) -> Result<Pipelines, GpuError> {
        let bindings: Vec<_> = (0..BINDINGS)
            .map(|b| {
                vk::DescriptorSetLayoutBinding::default()
                    .binding(b)
                    .descriptor_type(vk::DescriptorType::STORAGE_BUFFER)
                    .descriptor_count(1)
                    .stage_flags(vk::ShaderStageFlags::COMPUTE)
            })
            .collect();
        let mut this = Pipelines {
            set_layout: vk::DescriptorSetLayout::null(),
            layout: vk::PipelineLayout::null(),
            pipelines: Vec::new(),
        };
        let built = this.build(device, info, &bindings);
        if built.is_err() {
            // SAFETY: what was made is destroyed once, nothing uses it yet.
            unsafe { this.destroy(device) };
        }
        built.map(|()| this)
    }

    fn build(
        &mut self,
        device: &ash::Device,
        info: &DeviceInfo,
        bindings: &[vk::DescriptorSetLayoutBinding<'_>],
    ) -> Result<(), GpuError> {
        let set_info = vk::DescriptorSetLayoutCreateInfo::default().bindings(bindings);
        // SAFETY: a live device; the create infos live across each call.
        unsafe {
            self.set_layout = device
                .create_descriptor_set_layout(&set_info, None)
                .map_err(GpuError::vulkan("vkCreateDescriptorSetLayout"))?;
            let ranges = [vk::PushConstantRange::default()
                .stage_flags(vk::ShaderStageFlags::COMPUTE)
                .size(size_of::<Launch>() as u32)];
            let sets = [self.set_layout];
            let layout_info = vk::PipelineLayoutCreateInfo::default()
                .set_layouts(&sets)
                .push_constant_ranges(&ranges);
            self.layout = device
                .create_pipeline_layout(&layout_info, None)
                .map_err(GpuError::vulkan("vkCreatePipelineLayout"))?;
        }
        for &kernel in Kernel::ALL {
            let pipeline = if kernel.missing(info).is_none() {
                Some(self.pipeline(device, kernel)?)
            } else {
                None
            };
            self.pipelines.push(pipeline);
        }
        Ok(())
    }

    fn pipeline(&self, device: &ash::Device, kernel: Kernel) -> Result<vk::Pipeline, GpuError> {
        let words = ash::util::read_spv(&mut std::io::Cursor::new(kernel.spirv()))
            .expect("build.rs wrote whole SPIR-V words");
        let module_info = vk::ShaderModuleCreateInfo::default().code(&words);
        // SAFETY: a live device; `words` is SPIR-V naga validated at build
        // time, declaring only capabilities whose features this device has
        // and enabled (`Kernel::missing`), with workgroups of 256 (devices
        // with less are never opened).
        unsafe {
            let module = device
                .create_shader_module(&module_info, None)
                .map_err(GpuError::vulkan("vkCreateShaderModule"))?;
            let stage = vk::PipelineShaderStageCreateInfo::default()
                .stage(vk::ShaderStageFlags::COMPUTE)
                .module(module)
                .name(kernel.entry());
            let info = [vk::ComputePipelineCreateInfo::default()
                .stage(stage)
                .layout(self.layout)];
            let made = device.create_compute_pipelines(vk::PipelineCache::null(), &info, None);
            device.destroy_shader_module(module, None);
            made.map(|p| p[0])
                .map_err(|(_, r)| GpuError::vulkan("vkCreateComputePipelines")(r))
        }
    }

    /// The pipeline of `kernel`, if the device can run it (see
    /// [`Kernel::missing`]).
    pub(crate) fn get(&self, kernel: Kernel) -> Option<vk::Pipeline> {
        self.pipelines[kernel as usize]
    }

    /// Destroys every object made.
    ///
    /// # Safety
    /// Made from `device`; nothing may use them afterwards.
    pub(crate) unsafe fn destroy(&mut self, device: &ash::Device) {
        // SAFETY: the caller's contract; null handles are ignored by Vulkan.
        unsafe {
            for p in self.pipelines.drain(..).flatten() {
                device.destroy_pipeline(p, None);
            }
            device.destroy_pipeline_layout(self.layout, None);
            device.destroy_descriptor_set_layout(self.set_layout, None);
        }
    }
}

/// Workgroups for `items` items, one per invocation (kernels stride over
/// the rest beyond the dispatch limit every device has).
pub(crate) fn groups(items: usize) -> u32 {
    items.div_ceil(WORKGROUP as usize).clamp(1, 65_535) as u32
}
