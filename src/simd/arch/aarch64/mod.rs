//! aarch64 backend: NEON, four `f32` lanes. Compiled only where the target
//! enables NEON (`target_feature = "neon"`: every hard-float aarch64 target).

pub(crate) mod neon;
