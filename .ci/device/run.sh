#!/usr/bin/env bash
# On the lent GPU machine (see prepare.sh): the GPU suite against the CPU
# kernels on the real device, the GPU benches (each beside its copy probe,
# the CPU spreader on all cores in the same run), and the main job with
# --gpu. Everything it prints is also in $OUT/device.log.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
exec > >(tee "$OUT/device.log") 2>&1
for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
nvidia-smi --query-gpu=name,memory.total,clocks.max.memory --format=csv || true
lscpu | grep -E 'Model name|^CPU\(s\)|NUMA node\(s\)'
echo "== tests/gpu on the device"
timeout 120 .dev-bin/gpu-test --test-threads 1
echo "== benches"
timeout 300 .dev-bin/gpu-bench --bench --warm-up-time 1 --measurement-time 4
echo "== recall --gpu"
timeout 60 .dev-bin/recall --gpu --queries 500 || true
timeout 60 .dev-bin/recall --gpu --workload rmat20_query_wide --queries 200 || true
