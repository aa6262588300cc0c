//! Buffers, uploads and command streams.
//!
//! Kernels read device-local buffers; data reaches them through a
//! host-visible staging buffer and a copy on the device (a graph or a
//! matrix once, then reused by every query), and results come back through
//! a small host-visible buffer. A [`Stream`] records a batch of launches,
//! submits it and waits: every launch is followed by a full memory barrier,
//! so a kernel always sees what the previous one wrote.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use ash::vk;
use bytemuck::Pod;

use super::GpuError;
use super::device::Context;
use super::kernel::{BINDINGS, Binding, Kernel, Launch};

/// The largest staging buffer an upload uses.
const STAGING: usize = 16 << 20;

/// Where a buffer lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// Device memory: what kernels read and write.
    Device,
    /// Host-visible memory, mapped: staging and read-back.
    Host,
}

/// One buffer and its own memory.
pub(crate) struct Buffer {
    ctx: Arc<Context>,
    pub(crate) buffer: vk::Buffer,
    memory: vk::DeviceMemory,
    pub(crate) bytes: u64,
    /// Bytes of device memory allocated for it (counted in the device's
    /// total).
    allocation: u64,
    /// The mapping of a host buffer (null for device buffers).
    mapped: *mut u8,
}

// SAFETY: the handles are plain ids usable from any thread; `mapped` points
// into memory that lives as long as the buffer, and is accessed only
// through `&mut self` (writes) or `&self` (reads) like any owned memory.
unsafe impl Send for Buffer {}
// SAFETY: as above; `&self` methods only read the mapping.
unsafe impl Sync for Buffer {}

impl Buffer {
    /// A buffer of at least `bytes` (at least 16) for `what`.
    pub(crate) fn new(
        ctx: &Arc<Context>,
        what: &'static str,
        bytes: u64,
        place: Place,
    ) -> Result<Buffer, GpuError> {
        let bytes = bytes.max(16).next_multiple_of(4);
        let limit = ctx.info.max_buffer;
        if bytes > limit {
            return Err(GpuError::TooLarge { what, bytes, limit });
        }
        let d = &ctx.device;
        let usage = vk::BufferUsageFlags::STORAGE_BUFFER
            | vk::BufferUsageFlags::TRANSFER_SRC
            | vk::BufferUsageFlags::TRANSFER_DST;
        let info = vk::BufferCreateInfo::default()
            .size(bytes)
            .usage(usage)
            .sharing_mode(vk::SharingMode::EXCLUSIVE);
        // SAFETY: a live device; the create info lives across the call.
        let buffer =
            unsafe { d.create_buffer(&info, None) }.map_err(GpuError::vulkan("vkCreateBuffer"))?;
        let made = Buffer::bind(ctx, buffer, place);
        let (memory, mapped, size) = match made {
            Ok(m) => m,
            Err(e) => {
                // SAFETY: the buffer was made above and is used by nothing.
                unsafe { d.destroy_buffer(buffer, None) };
                return Err(e);
            }
        };
        ctx.allocated.fetch_add(size, Ordering::Relaxed);
        Ok(Buffer {
            ctx: ctx.clone(),
            buffer,
            memory,
            bytes,
            allocation: size,
            mapped,
        })
    }

    /// Allocates and binds memory for `buffer` (mapped if on the host).
    fn bind(
        ctx: &Context,
        buffer: vk::Buffer,
        place: Place,
    ) -> Result<(vk::DeviceMemory, *mut u8, u64), GpuError> {
        let d = &ctx.device;
        // SAFETY: `buffer` was made from this device.
        let needs = unsafe { d.get_buffer_memory_requirements(buffer) };
        use vk::MemoryPropertyFlags as M;
        let (wanted, needed) = match place {
            Place::Device => (M::DEVICE_LOCAL, M::empty()),
            Place::Host => (
                M::HOST_VISIBLE | M::HOST_COHERENT | M::HOST_CACHED,
                M::HOST_VISIBLE | M::HOST_COHERENT,
            ),
        };
        let kind = ctx
            .memory_type(needs.memory_type_bits, wanted, needed)
            .ok_or(GpuError::NoDevice("no suitable memory type".into()))?;
        let info = vk::MemoryAllocateInfo::default()
            .allocation_size(needs.size)
            .memory_type_index(kind);
        // SAFETY: a live device; the memory is bound to `buffer` once and
        // freed on error here or in `Drop`.
        unsafe {
            let memory = d
                .allocate_memory(&info, None)
                .map_err(GpuError::vulkan("vkAllocateMemory"))?;
            let mapped = d
                .bind_buffer_memory(buffer, memory, 0)
                .and_then(|()| match place {
                    Place::Device => Ok(core::ptr::null_mut()),
                    Place::Host => d
                        .map_memory(memory, 0, vk::WHOLE_SIZE, vk::MemoryMapFlags::empty())
                        .map(|p| p.cast::<u8>()),
                });
            match mapped {
                Ok(p) => Ok((memory, p, needs.size)),
                Err(r) => {
                    d.free_memory(memory, None);
                    Err(GpuError::vulkan("vkBindBufferMemory / vkMapMemory")(r))
                }
            }
        }
    }

    /// Writes `data` at byte `offset` of a host buffer.
    ///
    /// # Panics
    /// If the buffer is not a host buffer or `data` does not fit.
    pub(crate) fn write<T: Pod>(&mut self, offset: u64, data: &[T]) {
        let bytes: &[u8] = bytemuck::cast_slice(data);
        assert!(!self.mapped.is_null(), "a host buffer");
        assert!(offset + bytes.len() as u64 <= self.bytes, "fits");
        // SAFETY: the mapping covers `self.bytes` bytes (checked above), no
        // kernel runs on this buffer while the host holds `&mut self`
        // (streams wait for their work), and `u8` has no alignment.
        unsafe {
            core::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.mapped.add(offset as usize),
                bytes.len(),
            );
        }
    }

    /// Reads `out.len()` values from byte `offset` of a host buffer.
    ///
    /// # Panics
    /// If the buffer is not a host buffer or the range does not fit.
    pub(crate) fn read<T: Pod>(&self, offset: u64, out: &mut [T]) {
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(out);
        assert!(!self.mapped.is_null(), "a host buffer");
        assert!(offset + bytes.len() as u64 <= self.bytes, "fits");
        // SAFETY: as in `write`; the device finished writing (streams wait
        // for their submissions, and coherent memory needs no flush).
        unsafe {
            core::ptr::copy_nonoverlapping(
                self.mapped.add(offset as usize),
                bytes.as_mut_ptr(),
                bytes.len(),
            );
        }
    }

    /// A device buffer holding `data`, copied through a staging buffer of
    /// at most [`STAGING`] bytes (a large upload holds no second copy of
    /// itself in host memory).
    pub(crate) fn upload<T: Pod>(
        ctx: &Arc<Context>,
        what: &'static str,
        data: &[T],
    ) -> Result<Buffer, GpuError> {
        let bytes: &[u8] = bytemuck::cast_slice(data);
        let target = Buffer::new(ctx, what, bytes.len() as u64, Place::Device)?;
        if bytes.is_empty() {
            return Ok(target);
        }
        let mut staging = Buffer::new(ctx, what, bytes.len().min(STAGING) as u64, Place::Host)?;
        let mut stream = Stream::new(ctx)?;
        for (i, chunk) in bytes.chunks(STAGING).enumerate() {
            staging.write(0, chunk);
            let (at, len) = ((i * STAGING) as u64, chunk.len() as u64);
            stream.run(None, |r| r.copy(&staging, 0, &target, at, len))?;
        }
        Ok(target)
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        let d = &self.ctx.device;
        // SAFETY: made here; no submission using it is pending (streams
        // wait for theirs before returning).
        unsafe {
            d.destroy_buffer(self.buffer, None);
            d.free_memory(self.memory, None);
        }
        self.ctx
            .allocated
            .fetch_sub(self.allocation, Ordering::Relaxed);
    }
}

/// One descriptor set of the shared layout, with its own pool.
pub(crate) struct DescriptorSet {
    ctx: Arc<Context>,
    pool: vk::DescriptorPool,
    pub(crate) set: vk::DescriptorSet,
}

impl DescriptorSet {
    pub(crate) fn new(ctx: &Arc<Context>) -> Result<DescriptorSet, GpuError> {
        let d = &ctx.device;
        let sizes = [vk::DescriptorPoolSize::default()
            .ty(vk::DescriptorType::STORAGE_BUFFER)
            .descriptor_count(BINDINGS)];
        let info = vk::DescriptorPoolCreateInfo::default()
            .max_sets(1)
            .pool_sizes(&sizes);
        // SAFETY: a live device; infos live across the calls; the pool is
        // destroyed on error and in `Drop`.
        unsafe {
            let pool = d
                .create_descriptor_pool(&info, None)
                .map_err(GpuError::vulkan("vkCreateDescriptorPool"))?;
            let layouts = [ctx.pipelines.set_layout];
            let alloc = vk::DescriptorSetAllocateInfo::default()
                .descriptor_pool(pool)
                .set_layouts(&layouts);
            match d.allocate_descriptor_sets(&alloc) {
                Ok(sets) => Ok(DescriptorSet {
                    ctx: ctx.clone(),
                    pool,
                    set: sets[0],
                }),
                Err(r) => {
                    d.destroy_descriptor_pool(pool, None);
                    Err(GpuError::vulkan("vkAllocateDescriptorSets")(r))
                }
            }
        }
    }

    /// Points every binding of `bindings` at its buffer ([`bind`](Self::bind)).
    pub(crate) fn bind_all(&mut self, bindings: &[(Binding, &Buffer)]) {
        for &(binding, buffer) in bindings {
            self.bind(binding, buffer);
        }
    }

    /// Points `binding` at the whole of `buffer`.
    ///
    /// The set must not be in use by a pending submission (streams wait
    /// for theirs).
    pub(crate) fn bind(&mut self, binding: Binding, buffer: &Buffer) {
        let info = [vk::DescriptorBufferInfo::default()
            .buffer(buffer.buffer)
            .offset(0)
            .range(vk::WHOLE_SIZE)];
        let write = [vk::WriteDescriptorSet::default()
            .dst_set(self.set)
            .dst_binding(binding as u32)
            .descriptor_type(vk::DescriptorType::STORAGE_BUFFER)
            .buffer_info(&info)];
        // SAFETY: the set and buffer belong to this device; no pending
        // submission uses the set (`&mut self`, and streams wait).
        unsafe { self.ctx.device.update_descriptor_sets(&write, &[]) };
    }
}

impl Drop for DescriptorSet {
    fn drop(&mut self) {
        // SAFETY: made here; no pending submission uses it.
        unsafe { self.ctx.device.destroy_descriptor_pool(self.pool, None) };
    }
}

/// A command buffer and its fence: records a batch, submits it, waits;
/// with [`profile`](Stream::profile) on, also times every launch on the
/// device (timestamps) into [`KernelTimes`].
pub(crate) struct Stream {
    ctx: Arc<Context>,
    pool: vk::CommandPool,
    cmd: vk::CommandBuffer,
    fence: vk::Fence,
    /// Timestamp queries, when profiling.
    timestamps: Option<vk::QueryPool>,
    pub(crate) times: KernelTimes,
}

/// Timestamps a profiled submission can take (launches + 1; a query's
/// ranking, the longest, takes about 30; launches past this go untimed).
const TIMESTAMPS: u32 = 256;

/// Device time spent per kernel, summed over the launches profiled (see
/// [`GpuSpreader::profile`](super::GpuSpreader::profile)).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KernelTimes {
    entries: Vec<KernelTime>,
}

/// One kernel's share of [`KernelTimes`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KernelTime {
    /// The kernel: its file and entry point (`"pull.light"`,
    /// `"compact.scatter"`), the file alone for `main` (`"settle"`), or
    /// `"copy"` / `"fill"` for transfers.
    pub kernel: &'static str,
    /// Launches timed.
    pub launches: u64,
    /// Device time, in nanoseconds, including the barrier after each launch.
    pub nanos: f64,
}

impl KernelTimes {
    /// Every kernel timed, in the order first seen.
    pub fn iter(&self) -> impl Iterator<Item = &KernelTime> {
        self.entries.iter()
    }

    /// The time of `kernel` (see [`KernelTime::kernel`]).
    pub fn get(&self, kernel: &str) -> Option<KernelTime> {
        self.entries.iter().find(|e| e.kernel == kernel).copied()
    }

    /// Device time of every kernel, in nanoseconds.
    pub fn total_nanos(&self) -> f64 {
        self.entries.iter().map(|e| e.nanos).sum()
    }

    /// Forgets every time.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    fn add(&mut self, kernel: &'static str, nanos: f64) {
        match self.entries.iter_mut().find(|e| e.kernel == kernel) {
            Some(e) => {
                e.launches += 1;
                e.nanos += nanos;
            }
            None => self.entries.push(KernelTime {
                kernel,
                launches: 1,
                nanos,
            }),
        }
    }
}

impl Stream {
    pub(crate) fn new(ctx: &Arc<Context>) -> Result<Stream, GpuError> {
        let d = &ctx.device;
        let info = vk::CommandPoolCreateInfo::default()
            .queue_family_index(ctx.family)
            .flags(vk::CommandPoolCreateFlags::RESET_COMMAND_BUFFER);
        // SAFETY: a live device; each object is destroyed on error and in
        // `Drop`.
        unsafe {
            let pool = d
                .create_command_pool(&info, None)
                .map_err(GpuError::vulkan("vkCreateCommandPool"))?;
            let alloc = vk::CommandBufferAllocateInfo::default()
                .command_pool(pool)
                .level(vk::CommandBufferLevel::PRIMARY)
                .command_buffer_count(1);
            let cmd = match d.allocate_command_buffers(&alloc) {
                Ok(c) => c[0],
                Err(r) => {
                    d.destroy_command_pool(pool, None);
                    return Err(GpuError::vulkan("vkAllocateCommandBuffers")(r));
                }
            };
            let fence = match d.create_fence(&vk::FenceCreateInfo::default(), None) {
                Ok(f) => f,
                Err(r) => {
                    d.destroy_command_pool(pool, None);
                    return Err(GpuError::vulkan("vkCreateFence")(r));
                }
            };
            Ok(Stream {
                ctx: ctx.clone(),
                pool,
                cmd,
                fence,
                timestamps: None,
                times: KernelTimes::default(),
            })
        }
    }

    /// Turns per-launch timing on or off. Errors on a device whose compute
    /// queue has no timestamps.
    pub(crate) fn profile(&mut self, on: bool) -> Result<(), GpuError> {
        let d = &self.ctx.device;
        if !on {
            if let Some(pool) = self.timestamps.take() {
                // SAFETY: made here; the last submission was waited for.
                unsafe { d.destroy_query_pool(pool, None) };
            }
            return Ok(());
        }
        if !self.ctx.info.timestamps {
            return Err(GpuError::MissingFeature {
                device: self.ctx.info.name.clone(),
                feature: "timestampValidBits",
            });
        }
        if self.timestamps.is_none() {
            let info = vk::QueryPoolCreateInfo::default()
                .query_type(vk::QueryType::TIMESTAMP)
                .query_count(TIMESTAMPS);
            // SAFETY: a live device; destroyed in `profile(false)` or `Drop`.
            let pool = unsafe { d.create_query_pool(&info, None) }
                .map_err(GpuError::vulkan("vkCreateQueryPool"))?;
            self.timestamps = Some(pool);
        }
        Ok(())
    }

    /// Records `work` against `set`, submits it and waits for it.
    pub(crate) fn run(
        &mut self,
        set: Option<&DescriptorSet>,
        work: impl FnOnce(&Recorder<'_>),
    ) -> Result<(), GpuError> {
        let d = &self.ctx.device;
        let begin = vk::CommandBufferBeginInfo::default()
            .flags(vk::CommandBufferUsageFlags::ONE_TIME_SUBMIT);
        // SAFETY: the command buffer is not pending (the last run waited);
        // everything recorded refers to objects of this device that outlive
        // the wait below.
        unsafe {
            d.reset_command_buffer(self.cmd, vk::CommandBufferResetFlags::empty())
                .map_err(GpuError::vulkan("vkResetCommandBuffer"))?;
            d.begin_command_buffer(self.cmd, &begin)
                .map_err(GpuError::vulkan("vkBeginCommandBuffer"))?;
            let p = &self.ctx.pipelines;
            if let Some(set) = set {
                d.cmd_bind_descriptor_sets(
                    self.cmd,
                    vk::PipelineBindPoint::COMPUTE,
                    p.layout,
                    0,
                    &[set.set],
                    &[],
                );
            }
            if let Some(pool) = self.timestamps {
                d.cmd_reset_query_pool(self.cmd, pool, 0, TIMESTAMPS);
                d.cmd_write_timestamp(self.cmd, vk::PipelineStageFlags::BOTTOM_OF_PIPE, pool, 0);
            }
            let recorder = Recorder {
                ctx: &self.ctx,
                cmd: self.cmd,
                timestamps: self.timestamps,
                launches: RefCell::new(Vec::new()),
            };
            work(&recorder);
            d.end_command_buffer(self.cmd)
                .map_err(GpuError::vulkan("vkEndCommandBuffer"))?;
            self.ctx.submit_and_wait(self.cmd, self.fence)?;
            if let Some(pool) = self.timestamps {
                let launches = recorder.launches.into_inner();
                let mut stamps = vec![0u64; launches.len() + 1];
                d.get_query_pool_results(pool, 0, &mut stamps, vk::QueryResultFlags::TYPE_64)
                    .map_err(GpuError::vulkan("vkGetQueryPoolResults"))?;
                let period = f64::from(self.ctx.timestamp_period);
                for (kernel, pair) in launches.into_iter().zip(stamps.windows(2)) {
                    let mask = self.ctx.timestamp_mask;
                    let ticks = (pair[1] & mask).wrapping_sub(pair[0] & mask) & mask;
                    self.times.add(kernel, ticks as f64 * period);
                }
            }
        }
        Ok(())
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let d = &self.ctx.device;
        // SAFETY: made here; the last submission was waited for.
        unsafe {
            if let Some(pool) = self.timestamps {
                d.destroy_query_pool(pool, None);
            }
            d.destroy_fence(self.fence, None);
            d.destroy_command_pool(self.pool, None);
        }
    }
}

/// Records launches and transfers into a stream's command buffer.
pub(crate) struct Recorder<'a> {
    ctx: &'a Context,
    cmd: vk::CommandBuffer,
    timestamps: Option<vk::QueryPool>,
    /// What each timestamp after the first ends, when profiling.
    launches: RefCell<Vec<&'static str>>,
}

impl Recorder<'_> {
    /// Everything before is visible to everything after (kernels,
    /// transfers and the host).
    fn barrier(&self) {
        let all = vk::AccessFlags::SHADER_READ
            | vk::AccessFlags::SHADER_WRITE
            | vk::AccessFlags::TRANSFER_READ
            | vk::AccessFlags::TRANSFER_WRITE;
        let barrier = [vk::MemoryBarrier::default()
            .src_access_mask(all)
            .dst_access_mask(all | vk::AccessFlags::HOST_READ)];
        let stages = vk::PipelineStageFlags::COMPUTE_SHADER | vk::PipelineStageFlags::TRANSFER;
        // SAFETY: recording into a command buffer in the recording state.
        unsafe {
            self.ctx.device.cmd_pipeline_barrier(
                self.cmd,
                stages,
                stages | vk::PipelineStageFlags::HOST,
                vk::DependencyFlags::empty(),
                &barrier,
                &[],
                &[],
            );
        }
    }

    /// Ends the timing of `what` (the launch or copy just recorded).
    fn stamp(&self, what: &'static str) {
        let Some(pool) = self.timestamps else { return };
        let mut launches = self.launches.borrow_mut();
        // Past the pool's size, the rest of the submission goes untimed.
        if launches.len() + 1 >= TIMESTAMPS as usize {
            return;
        }
        launches.push(what);
        // SAFETY: recording; the query index is below the pool's size and
        // was reset at the start of this command buffer.
        unsafe {
            self.ctx.device.cmd_write_timestamp(
                self.cmd,
                vk::PipelineStageFlags::BOTTOM_OF_PIPE,
                pool,
                launches.len() as u32,
            );
        }
    }

    /// Launches `kernel` on `groups` workgroups for each of `launch.lanes`
    /// lanes.
    ///
    /// # Panics
    /// If the device cannot run `kernel` (callers check what they use when
    /// they are made).
    pub(crate) fn dispatch(&self, kernel: Kernel, launch: &Launch, groups: u32) {
        self.launch(kernel, launch, groups, launch.lanes.max(1));
    }

    /// [`dispatch`](Self::dispatch) with no barrier after: the next launch
    /// may run alongside this one. Only for launches that write disjoint
    /// memory (or commute, as atomic adds do) and read nothing the other
    /// writes. (The validation layer's optional synchronization checks
    /// report two launches' atomic adds to one buffer as a hazard; the
    /// default checks, which CI runs, do not.)
    pub(crate) fn dispatch_alongside(&self, kernel: Kernel, launch: &Launch, groups: u32) {
        self.record(kernel, launch, groups, launch.lanes.max(1));
        self.stamp(kernel.name());
    }

    /// Launches `kernel` on `groups` workgroups once, whatever the lanes
    /// (a kernel that finds each item's lane itself).
    pub(crate) fn dispatch_flat(&self, kernel: Kernel, launch: &Launch, groups: u32) {
        self.launch(kernel, launch, groups, 1);
    }

    fn launch(&self, kernel: Kernel, launch: &Launch, groups: u32, lanes: u32) {
        self.record(kernel, launch, groups, lanes);
        self.barrier();
        self.stamp(kernel.name());
    }

    fn record(&self, kernel: Kernel, launch: &Launch, groups: u32, lanes: u32) {
        let p = &self.ctx.pipelines;
        let pipeline = p.get(kernel).expect("a kernel the device runs");
        let d = &self.ctx.device;
        // SAFETY: recording; the pipeline uses the layout the descriptor
        // set was bound with; the push constants are the layout's range.
        unsafe {
            d.cmd_bind_pipeline(self.cmd, vk::PipelineBindPoint::COMPUTE, pipeline);
            d.cmd_push_constants(
                self.cmd,
                p.layout,
                vk::ShaderStageFlags::COMPUTE,
                0,
                bytemuck::bytes_of(launch),
            );
            d.cmd_dispatch(self.cmd, groups.max(1), lanes, 1);
        }
    }

    /// Fills `buffer` with the 32-bit `value`.
    pub(crate) fn fill(&self, buffer: &Buffer, value: u32) {
        self.fill_range(buffer, 0, vk::WHOLE_SIZE, value);
    }

    /// Fills `bytes` of `buffer` from `offset` (multiples of 4, or
    /// `WHOLE_SIZE`) with the 32-bit `value`.
    pub(crate) fn fill_range(&self, buffer: &Buffer, offset: u64, bytes: u64, value: u32) {
        debug_assert!(
            offset.is_multiple_of(4) && (bytes == vk::WHOLE_SIZE || bytes.is_multiple_of(4))
        );
        // SAFETY: recording; the buffer belongs to this device and the
        // range lies inside it (callers size it).
        unsafe {
            self.ctx
                .device
                .cmd_fill_buffer(self.cmd, buffer.buffer, offset, bytes, value);
        }
        self.barrier();
        self.stamp("fill");
    }

    /// Copies `bytes` from `src` at `from` to `dst` at `to`.
    pub(crate) fn copy(&self, src: &Buffer, from: u64, dst: &Buffer, to: u64, bytes: u64) {
        if bytes == 0 {
            return;
        }
        let region = [vk::BufferCopy::default()
            .src_offset(from)
            .dst_offset(to)
            .size(bytes)];
        // SAFETY: recording; both buffers belong to this device and the
        // ranges lie inside them (callers size them).
        unsafe {
            self.ctx
                .device
                .cmd_copy_buffer(self.cmd, src.buffer, dst.buffer, &region);
        }
        self.barrier();
        self.stamp("copy");
    }
}
