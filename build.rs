//! Compiles the GPU kernels in `kernels/` to SPIR-V when the `vulkan`
//! feature is on; does nothing otherwise (the default and `no_std` builds
//! never see naga).
//!
//! Each `kernels/NAME.wgsl` is parsed and validated by naga, written as
//! SPIR-V 1.3, and every floating-point instruction decorated
//! `NoContraction` (a driver may otherwise fuse a multiply and an add into
//! one rounding, and spreading's results must be the same bits as on the
//! CPU, which never fuses them). The words land in
//! `$OUT_DIR/kernels/NAME.spv`, which `src/gpu/kernel.rs` embeds.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    #[cfg(feature = "vulkan")]
    kernels::compile();
}

#[cfg(feature = "vulkan")]
mod kernels {
    use std::path::Path;

    use naga::back::spv;
    use naga::valid::{Capabilities, ValidationFlags, Validator};

    pub(crate) fn compile() {
        println!("cargo::rerun-if-changed=kernels");
        println!("cargo::rerun-if-changed=kernels/common/prelude.wgsl");
        let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("kernels");
        std::fs::create_dir_all(&out).unwrap();
        let mut names: Vec<_> = std::fs::read_dir("kernels")
            .expect("the kernels/ folder")
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "wgsl"))
            .collect();
        names.sort();
        for path in names {
            println!("cargo::rerun-if-changed={}", path.display());
            let words = compile_one(&path);
            let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            let name = path.file_stem().unwrap().to_str().unwrap();
            std::fs::write(out.join(format!("{name}.spv")), bytes).unwrap();
        }
    }

    fn compile_one(path: &Path) -> Vec<u32> {
        // Every kernel starts with the shared launch parameters and counters.
        let prelude = std::fs::read_to_string("kernels/common/prelude.wgsl").unwrap();
        let lines = prelude.lines().count();
        let source = prelude + &std::fs::read_to_string(path).unwrap();
        let at = format!(
            "{} (line numbers count the {lines} lines of the prelude)",
            path.display()
        );
        let module = naga::front::wgsl::parse_str(&source)
            .unwrap_or_else(|e| panic!("{}", e.emit_to_string_with_path(&source, &at)));
        // What the kernels may use; the device layer checks that a device
        // has the features a kernel's SPIR-V declares before building it.
        let capabilities = Capabilities::IMMEDIATES
            | Capabilities::FLOAT64
            | Capabilities::SHADER_INT64
            | Capabilities::SHADER_INT64_ATOMIC_ALL_OPS;
        let info = Validator::new(ValidationFlags::all(), capabilities)
            .validate(&module)
            .unwrap_or_else(|e| panic!("{}", e.emit_to_string_with_path(&source, &at)));
        let options = spv::Options {
            lang_version: (1, 3),
            flags: spv::WriterFlags::empty(),
            ..spv::Options::default()
        };
        let words = spv::write_vec(&module, &info, &options, None)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        no_contraction(&words)
    }

    /// `words` with every `OpFAdd`, `OpFSub`, `OpFMul` and `OpFDiv` result
    /// decorated `NoContraction`, the decorations put where SPIR-V wants
    /// annotations: before the first type, constant or global.
    fn no_contraction(words: &[u32]) -> Vec<u32> {
        const OP_DECORATE: u32 = 71;
        const NO_CONTRACTION: u32 = 42;
        // Opcodes that may precede the annotations' end (the module's
        // header sections and annotations themselves).
        const PREAMBLE: &[u32] = &[
            2, 3, 4, 5, 6, 7, 8, 10, 11, 14, 15, 16, 17, 71, 72, 73, 74, 75, 317, 330, 331, 332,
            5632, 5633,
        ];
        // OpFAdd, OpFSub, OpFMul, OpFDiv: result type, result id, operands.
        const FLOAT_ARITHMETIC: &[u32] = &[129, 131, 133, 136];
        let (header, body) = words.split_at(5);
        let mut insert_at = None;
        let mut targets = Vec::new();
        let mut i = 0;
        while i < body.len() {
            let count = (body[i] >> 16) as usize;
            let opcode = body[i] & 0xffff;
            assert!(count > 0, "malformed SPIR-V");
            if insert_at.is_none() && !PREAMBLE.contains(&opcode) {
                insert_at = Some(i);
            }
            if FLOAT_ARITHMETIC.contains(&opcode) {
                targets.push(body[i + 2]);
            }
            i += count;
        }
        let at = insert_at.expect("a module with types");
        let mut out = Vec::with_capacity(words.len() + 3 * targets.len());
        out.extend_from_slice(header);
        out.extend_from_slice(&body[..at]);
        for id in targets {
            out.extend_from_slice(&[(3 << 16) | OP_DECORATE, id, NO_CONTRACTION]);
        }
        out.extend_from_slice(&body[at..]);
        out
    }
}
