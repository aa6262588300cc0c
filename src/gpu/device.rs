//! The device: finding one, opening it, its queue and what it can do.
//!
//! [`Gpu`] is a cheap handle (an `Arc`) to one opened device; every buffer,
//! graph and spreader made from it keeps the device alive. Opening loads the
//! system's Vulkan loader at run time, so a machine without one gets
//! [`GpuError::Loader`] and nothing else changes: the crate links no
//! Vulkan library.

use std::ffi::{CStr, c_void};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ash::vk;

use super::GpuError;
use super::kernel::Pipelines;
use super::memory::{Buffer, Place, Stream};

/// The kind of a Vulkan device, best first: [`Gpu::new`] takes the best
/// kind among the devices that can spread (64-bit integers and floats in
/// shaders), else the best kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeviceKind {
    /// A GPU of its own (its own memory).
    Discrete,
    /// A GPU sharing the CPU's memory.
    Integrated,
    /// A device virtualised by a hypervisor.
    Virtual,
    /// An implementation on the CPU (Mesa's lavapipe, SwiftShader).
    Cpu,
    /// Anything else.
    Other,
}

impl DeviceKind {
    fn of(t: vk::PhysicalDeviceType) -> DeviceKind {
        match t {
            vk::PhysicalDeviceType::DISCRETE_GPU => DeviceKind::Discrete,
            vk::PhysicalDeviceType::INTEGRATED_GPU => DeviceKind::Integrated,
            vk::PhysicalDeviceType::VIRTUAL_GPU => DeviceKind::Virtual,
            vk::PhysicalDeviceType::CPU => DeviceKind::Cpu,
            _ => DeviceKind::Other,
        }
    }
}

/// What a device offers the kernels.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceInfo {
    /// Its index in [`Gpu::devices`] (what [`GpuOptions::device`] takes).
    pub index: usize,
    /// The driver's name for it.
    pub name: String,
    /// Its kind.
    pub kind: DeviceKind,
    /// 64-bit integers in shaders (`shaderInt64`): spreading needs them.
    pub int64: bool,
    /// 64-bit floats in shaders (`shaderFloat64`): spreading settles in
    /// `f64`, as the CPU does.
    pub float64: bool,
    /// 64-bit atomic adds on buffers (`shaderBufferInt64Atomics`): push
    /// hops need them; without, every hop pulls.
    pub atomic64: bool,
    /// Timestamps on its compute queue (per-kernel times).
    pub timestamps: bool,
    /// The largest storage buffer a kernel can bind, in bytes.
    pub max_buffer: u64,
}

/// How to open a device: `GpuOptions::default().with_validation(true)`.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct GpuOptions {
    /// The device to open (an index of [`Gpu::devices`]); `None` takes the
    /// best: one that can spread, then the best kind ([`DeviceKind`]'s
    /// order), then the first listed.
    pub device: Option<usize>,
    /// Turns the Khronos validation layer on when it is installed, with
    /// every message it reports counted ([`Gpu::validation_errors`]) and
    /// printed to stderr. For tests: it slows every call.
    pub validation: bool,
    /// Leaves 64-bit buffer atomics off even where the device has them, so
    /// that every spreading hop pulls (what a device without them runs; to
    /// test or compare that path).
    pub no_atomic64: bool,
}

impl GpuOptions {
    /// Opens device `index` of [`Gpu::devices`] instead of the best one.
    pub fn with_device(mut self, index: usize) -> GpuOptions {
        self.device = Some(index);
        self
    }

    /// Turns the validation layer on or off ([`GpuOptions::validation`]).
    pub fn with_validation(mut self, on: bool) -> GpuOptions {
        self.validation = on;
        self
    }

    /// Leaves 64-bit atomics off ([`GpuOptions::no_atomic64`]).
    pub fn without_atomic64(mut self) -> GpuOptions {
        self.no_atomic64 = true;
        self
    }
}

/// One opened Vulkan device with a compute queue and the kernels built for
/// it.
///
/// ```no_run
/// use axonal::gpu::Gpu;
///
/// match Gpu::new() {
///     Ok(gpu) => println!("spreading on {}", gpu.info().name),
///     Err(e) => println!("no GPU, spreading on the CPU ({e})"),
/// }
/// ```
#[derive(Clone)]
pub struct Gpu {
    pub(crate) ctx: Arc<Context>,
}

impl core::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Gpu").field("info", &self.ctx.info).finish()
    }
}

impl Gpu {
    /// Opens the best device ([`GpuOptions::default`]).
    pub fn new() -> Result<Gpu, GpuError> {
        Gpu::with_options(&GpuOptions::default())
    }

    /// Opens the device `options` names.
    pub fn with_options(options: &GpuOptions) -> Result<Gpu, GpuError> {
        Ok(Gpu {
            ctx: Arc::new(Context::open(options)?),
        })
    }

    /// Every Vulkan 1.2 device with a compute queue and 256-invocation
    /// workgroups, in the loader's order.
    pub fn devices() -> Result<Vec<DeviceInfo>, GpuError> {
        let instance = Instance::open(false)?;
        Ok(instance.candidates()?.into_iter().map(|c| c.info).collect())
    }

    /// What the opened device offers.
    pub fn info(&self) -> &DeviceInfo {
        &self.ctx.info
    }

    /// Messages the validation layer reported so far (0 without
    /// [`GpuOptions::validation`]).
    pub fn validation_errors(&self) -> u64 {
        self.ctx.instance.messages.load(Ordering::Relaxed)
    }

    /// Whether the validation layer is on.
    pub fn validating(&self) -> bool {
        self.ctx.instance.messenger.is_some()
    }

    /// Bytes of device memory held by buffers made from this device.
    pub fn memory_bytes(&self) -> u64 {
        self.ctx.allocated.load(Ordering::Relaxed)
    }

    /// The mean device time of copying `bytes` from one device buffer to
    /// another, over `repeats` copies (timestamps): the bandwidth probe the
    /// kernels' figures are fractions of (a copy reads and writes each
    /// byte once). Errors on a device without timestamps.
    pub fn copy_time(&self, bytes: u64, repeats: u64) -> Result<Duration, GpuError> {
        let from = Buffer::new(&self.ctx, "copy probe", bytes, Place::Device)?;
        let to = Buffer::new(&self.ctx, "copy probe", bytes, Place::Device)?;
        let mut stream = Stream::new(&self.ctx)?;
        stream.profile(true)?;
        let repeats = repeats.max(1);
        for _ in 0..repeats {
            stream.run(None, |r| r.copy(&from, 0, &to, 0, bytes))?;
        }
        Ok(Duration::from_nanos(
            (stream.times.total_nanos() / repeats as f64) as u64,
        ))
    }
}

/// The instance, and the validation layer's messenger when it is on.
pub(crate) struct Instance {
    pub(crate) entry: ash::Entry,
    pub(crate) instance: ash::Instance,
    messenger: Option<(ash::ext::debug_utils::Instance, vk::DebugUtilsMessengerEXT)>,
    /// Validation messages seen (boxed: the messenger holds its address).
    messages: Box<AtomicU64>,
}

const VALIDATION_LAYER: &CStr = c"VK_LAYER_KHRONOS_validation";

/// Counts and prints what the validation layer reports.
unsafe extern "system" fn on_message(
    severity: vk::DebugUtilsMessageSeverityFlagsEXT,
    _types: vk::DebugUtilsMessageTypeFlagsEXT,
    data: *const vk::DebugUtilsMessengerCallbackDataEXT<'_>,
    user: *mut c_void,
) -> vk::Bool32 {
    // SAFETY: the layer passes the callback data of this call (valid for
    // its duration) and the user pointer given at creation: the instance's
    // boxed counter, which outlives the messenger (destroyed first).
    unsafe {
        let message = (*data)
            .message_as_c_str()
            .map_or("(no message)".into(), CStr::to_string_lossy);
        let level = if severity.contains(vk::DebugUtilsMessageSeverityFlagsEXT::ERROR) {
            "error"
        } else {
            "warning"
        };
        eprintln!("vulkan validation {level}: {message}");
        (*user.cast::<AtomicU64>()).fetch_add(1, Ordering::Relaxed);
    }
    vk::FALSE
}

impl Instance {
    fn open(validation: bool) -> Result<Instance, GpuError> {
        // SAFETY: loading the system's Vulkan loader runs its initialisers;
        // it is the library the Vulkan specification defines for this.
        let entry = unsafe { ash::Entry::load() }.map_err(|e| GpuError::Loader(e.to_string()))?;
        // SAFETY: `entry` is a loaded loader.
        let layers = unsafe { entry.enumerate_instance_layer_properties() }
            .map_err(GpuError::vulkan("vkEnumerateInstanceLayerProperties"))?;
        let validation = validation
            && layers
                .iter()
                .any(|l| l.layer_name_as_c_str() == Ok(VALIDATION_LAYER));
        let app = vk::ApplicationInfo::default()
            .application_name(c"axonal")
            .api_version(vk::API_VERSION_1_2);
        let layer_names = [VALIDATION_LAYER.as_ptr()];
        let extension_names = [ash::ext::debug_utils::NAME.as_ptr()];
        let mut info = vk::InstanceCreateInfo::default().application_info(&app);
        if validation {
            info = info
                .enabled_layer_names(&layer_names)
                .enabled_extension_names(&extension_names);
        }
        // SAFETY: `info` and what it points to live across the call.
        let instance = unsafe { entry.create_instance(&info, None) }
            .map_err(GpuError::vulkan("vkCreateInstance"))?;
        let mut this = Instance {
            entry,
            instance,
            messenger: None,
            messages: Box::new(AtomicU64::new(0)),
        };
        if validation {
            let loader = ash::ext::debug_utils::Instance::new(&this.entry, &this.instance);
            let info = vk::DebugUtilsMessengerCreateInfoEXT::default()
                .message_severity(
                    vk::DebugUtilsMessageSeverityFlagsEXT::ERROR
                        | vk::DebugUtilsMessageSeverityFlagsEXT::WARNING,
                )
                .message_type(
                    vk::DebugUtilsMessageTypeFlagsEXT::VALIDATION
                        | vk::DebugUtilsMessageTypeFlagsEXT::GENERAL,
                )
                .pfn_user_callback(Some(on_message))
                .user_data((&raw const *this.messages).cast_mut().cast());
            // SAFETY: the callback's user pointer is the boxed counter,
            // which lives until after the messenger is destroyed (Drop).
            let messenger = unsafe { loader.create_debug_utils_messenger(&info, None) }
                .map_err(GpuError::vulkan("vkCreateDebugUtilsMessengerEXT"))?;
            this.messenger = Some((loader, messenger));
        }
        Ok(this)
    }

    /// Vulkan 1.2 devices with a compute queue.
    fn candidates(&self) -> Result<Vec<Candidate>, GpuError> {
        // SAFETY: a live instance.
        let physical = unsafe { self.instance.enumerate_physical_devices() }
            .map_err(GpuError::vulkan("vkEnumeratePhysicalDevices"))?;
        let mut out = Vec::new();
        for (index, pd) in physical.into_iter().enumerate() {
            if let Some(c) = self.candidate(index, pd) {
                out.push(c);
            }
        }
        Ok(out)
    }

    fn candidate(&self, index: usize, pd: vk::PhysicalDevice) -> Option<Candidate> {
        let i = &self.instance;
        // SAFETY: `pd` was enumerated from this live instance.
        let props = unsafe { i.get_physical_device_properties(pd) };
        // Every kernel runs 256 invocations a workgroup (Vulkan promises
        // only 128) and needs a few KiB of workgroup memory.
        let limits = &props.limits;
        if props.api_version < vk::API_VERSION_1_2
            || limits.max_compute_work_group_invocations < 256
            || limits.max_compute_work_group_size[0] < 256
            || limits.max_compute_shared_memory_size < 4096
        {
            return None;
        }
        // SAFETY: as above.
        let families = unsafe { i.get_physical_device_queue_family_properties(pd) };
        let (family, props_family) = families
            .iter()
            .enumerate()
            .find(|(_, f)| f.queue_flags.contains(vk::QueueFlags::COMPUTE))?;
        let mut v12 = vk::PhysicalDeviceVulkan12Features::default();
        let mut features = vk::PhysicalDeviceFeatures2::default().push_next(&mut v12);
        // SAFETY: as above; the chain is valid for the call.
        unsafe { i.get_physical_device_features2(pd, &mut features) };
        let core = features.features;
        let name = props
            .device_name_as_c_str()
            .map_or("(unnamed)".into(), |n| n.to_string_lossy().into_owned());
        Some(Candidate {
            pd,
            family: family as u32,
            timestamp_period: props.limits.timestamp_period,
            timestamp_bits: props_family.timestamp_valid_bits,
            info: DeviceInfo {
                index,
                name,
                kind: DeviceKind::of(props.device_type),
                int64: core.shader_int64 == vk::TRUE,
                float64: core.shader_float64 == vk::TRUE,
                atomic64: v12.shader_buffer_int64_atomics == vk::TRUE,
                timestamps: props_family.timestamp_valid_bits > 0,
                max_buffer: u64::from(props.limits.max_storage_buffer_range),
            },
        })
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        // SAFETY: the messenger and instance were made here and nothing
        // made from them outlives this (every device is destroyed first:
        // `Context` drops its device before its instance).
        unsafe {
            if let Some((loader, messenger)) = self.messenger.take() {
                loader.destroy_debug_utils_messenger(messenger, None);
            }
            self.instance.destroy_instance(None);
        }
    }
}

/// A device that could be opened.
struct Candidate {
    pd: vk::PhysicalDevice,
    family: u32,
    timestamp_period: f32,
    timestamp_bits: u32,
    info: DeviceInfo,
}

/// Everything an opened device holds; shared by all that is made from it.
pub(crate) struct Context {
    pub(crate) device: ash::Device,
    pub(crate) info: DeviceInfo,
    pub(crate) family: u32,
    /// Nanoseconds per timestamp tick.
    pub(crate) timestamp_period: f32,
    /// The bits of a timestamp that count (the rest are undefined).
    pub(crate) timestamp_mask: u64,
    pub(crate) memory: vk::PhysicalDeviceMemoryProperties,
    /// The compute queue; submissions take the lock (Vulkan requires
    /// queue access to be externally synchronised).
    queue: Mutex<vk::Queue>,
    pub(crate) pipelines: Pipelines,
    pub(crate) allocated: AtomicU64,
    // Dropped last: the device is destroyed in `Drop` before this.
    instance: Instance,
}

impl Context {
    fn open(options: &GpuOptions) -> Result<Context, GpuError> {
        let instance = Instance::open(options.validation)?;
        let candidates = instance.candidates()?;
        let chosen = match options.device {
            Some(index) => candidates.into_iter().find(|c| c.info.index == index),
            // Devices that can spread (64-bit integers and floats) first.
            None => candidates
                .into_iter()
                .min_by_key(|c| (!(c.info.int64 && c.info.float64), c.info.kind, c.info.index)),
        };
        let Some(mut c) = chosen else {
            return Err(GpuError::NoDevice(match options.device {
                Some(i) => format!("device #{i} is not a Vulkan 1.2 device with a compute queue"),
                None => "no Vulkan 1.2 device with a compute queue".into(),
            }));
        };
        c.info.atomic64 &= !options.no_atomic64;
        let priorities = [1.0f32];
        let queues = [vk::DeviceQueueCreateInfo::default()
            .queue_family_index(c.family)
            .queue_priorities(&priorities)];
        let core = vk::PhysicalDeviceFeatures::default()
            .shader_int64(c.info.int64)
            .shader_float64(c.info.float64);
        let mut v12 = vk::PhysicalDeviceVulkan12Features::default()
            .shader_buffer_int64_atomics(c.info.atomic64);
        let info = vk::DeviceCreateInfo::default()
            .queue_create_infos(&queues)
            .enabled_features(&core)
            .push_next(&mut v12);
        // SAFETY: `c.pd` belongs to this instance; the create info and its
        // chain live across the call; only supported features are enabled.
        let device = unsafe { instance.instance.create_device(c.pd, &info, None) }
            .map_err(GpuError::vulkan("vkCreateDevice"))?;
        // SAFETY: one queue of `c.family` was created with the device.
        let queue = unsafe { device.get_device_queue(c.family, 0) };
        // SAFETY: as above.
        let memory = unsafe {
            instance
                .instance
                .get_physical_device_memory_properties(c.pd)
        };
        let pipelines = match Pipelines::new(&device, &c.info) {
            Ok(p) => p,
            Err(e) => {
                // SAFETY: nothing was made from the device yet (pipelines
                // clean up after themselves on error).
                unsafe { device.destroy_device(None) };
                return Err(e);
            }
        };
        Ok(Context {
            device,
            info: c.info,
            family: c.family,
            timestamp_period: c.timestamp_period,
            timestamp_mask: u64::MAX >> (64 - c.timestamp_bits.clamp(1, 64)),
            memory,
            queue: Mutex::new(queue),
            pipelines,
            allocated: AtomicU64::new(0),
            instance,
        })
    }

    /// Submits `cmd` and waits for `fence` (reset first).
    pub(crate) fn submit_and_wait(
        &self,
        cmd: vk::CommandBuffer,
        fence: vk::Fence,
    ) -> Result<(), GpuError> {
        let cmds = [cmd];
        let submit = [vk::SubmitInfo::default().command_buffers(&cmds)];
        let d = &self.device;
        // SAFETY: `fence` and `cmd` belong to this device; `cmd` is
        // recorded and not pending (the caller waited for its last
        // submission); the queue is used under its lock.
        unsafe {
            d.reset_fences(&[fence])
                .map_err(GpuError::vulkan("vkResetFences"))?;
            let queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            d.queue_submit(*queue, &submit, fence)
                .map_err(GpuError::vulkan("vkQueueSubmit"))?;
            drop(queue);
            d.wait_for_fences(&[fence], true, u64::MAX).map_err(|r| {
                // The submission may still be pending (a lost device):
                // wait for the whole device so that nothing it uses is
                // reset or freed under it.
                let _ = d.device_wait_idle();
                GpuError::vulkan("vkWaitForFences")(r)
            })
        }
    }

    /// A memory type among `allowed` with `wanted`, else one with `needed`.
    pub(crate) fn memory_type(
        &self,
        allowed: u32,
        wanted: vk::MemoryPropertyFlags,
        needed: vk::MemoryPropertyFlags,
    ) -> Option<u32> {
        let types = &self.memory.memory_types[..self.memory.memory_type_count as usize];
        let find = |flags: vk::MemoryPropertyFlags| {
            (0..types.len() as u32).find(|&i| {
                allowed & (1 << i) != 0 && types[i as usize].property_flags.contains(flags)
            })
        };
        find(wanted).or_else(|| find(needed))
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: every object made from the device holds an `Arc` of this
        // context, so none is left; the device is idle once waited for.
        unsafe {
            let _ = self.device.device_wait_idle();
            self.pipelines.destroy(&self.device);
            self.device.destroy_device(None);
        }
    }
}
