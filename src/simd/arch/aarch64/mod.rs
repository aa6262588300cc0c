//! aarch64 backend: NEON, four `f32` lanes (always present on aarch64).

pub(crate) mod neon;
