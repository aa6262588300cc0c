// A pull hop: every node sums its in-edges' contributions from the
// sources' strengths (0 outside the frontier) in 64-bit fixed point, the
// CPU's `contribution` per edge: `u32(strength * weight + 0.5)`, the
// multiply and the add each rounded (NoContraction, see build.rs).

@group(0) @binding(3) var<storage, read> in_offsets: array<u32>;
@group(0) @binding(4) var<storage, read> in_sources: array<u32>;
@group(0) @binding(5) var<storage, read> in_weights: array<f32>;
@group(0) @binding(9) var<storage, read_write> pending: array<u64>;
@group(0) @binding(10) var<storage, read> strength: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let lane = gid.y;
    let n = launch.nodes;
    let base = lane * n;
    for (var v = gid.x; v < n; v += groups.x * WORKGROUP) {
        var sum = 0lu;
        for (var e = in_offsets[v]; e < in_offsets[v + 1u]; e++) {
            let s = strength[base + in_sources[e]];
            sum += u64(u32(s * in_weights[e] + 0.5));
        }
        pending[base + v] = sum;
    }
}
