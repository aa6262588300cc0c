#!/usr/bin/env bash
# Builds what a run on the lent GPU machine needs (it has no Rust toolchain
# to rely on) and puts it, stripped, in .dev-bin/ (git-ignored), next to the
# Vulkan loader packages in .gl/ (../shared/vulkan-loaders.sh fetches them).
# Then, with the `device` tool:
#   run(command="bash .ci/device/run.sh", carry=[".dev-bin", ".gl"], timeout_s=540)
set -euo pipefail
cd "$(dirname "$0")/../.."
grep -qx '/.dev-bin/' .git/info/exclude 2>/dev/null || echo '/.dev-bin/' >> .git/info/exclude
[ -d .gl ] || bash ../shared/vulkan-loaders.sh
rm -rf .dev-bin && mkdir -p .dev-bin
# The executable cargo built for target `gpu` of kind $1 (bench or test).
built() { jq -r "select(.target.name == \"gpu\" and .target.kind[0] == \"$1\" and .executable != null) | .executable" | head -1; }
cargo build --release --features vulkan --example recall
cp target/release/examples/recall .dev-bin/
cp "$(cargo bench --no-run --features vulkan --bench gpu --message-format=json 2>/dev/null | built bench)" .dev-bin/gpu-bench
cp "$(cargo test --release --no-run --features vulkan --test gpu --message-format=json 2>/dev/null | built test)" .dev-bin/gpu-test
strip .dev-bin/*
du -ch .dev-bin/* .gl/* | tail -n 20
