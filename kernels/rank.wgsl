// Ranking a lane's reached nodes: `flag` marks the nodes a query returns
// (activation positive and at least `min_activation`), compaction lists
// them, `keys` writes their rank keys (the activation's bits inverted, then
// the id: ascending keys are the CPU's ranking order, and unique), radix
// select (select.wgsl) keeps the `k` smallest, `hops` gathers their hops.

@group(0) @binding(7) var<storage, read> activation: array<f32>;
@group(0) @binding(8) var<storage, read> hop: array<u32>;
@group(0) @binding(12) var<storage, read_write> flags: array<u32>;
@group(0) @binding(13) var<storage, read> lists: array<u32>;
@group(0) @binding(15) var<storage, read> counters: array<u32>;
@group(0) @binding(16) var<storage, read_write> keys: array<u64>;
@group(0) @binding(18) var<storage, read> out_keys: array<u64>;
@group(0) @binding(19) var<storage, read_write> out_hops: array<u32>;

@compute @workgroup_size(256)
fn flag(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let lane = gid.y;
    let n = launch.nodes;
    for (var v = gid.x; v < n; v += groups.x * WORKGROUP) {
        // Compared as bits (non-negative floats order as their bits): a
        // device may flush denormals to zero in float comparisons, the CPU
        // does not.
        let a = bitcast<u32>(activation[lane * n + v]);
        // (`& 0x7fffffff`: a minimum of -0.0 is 0.)
        let floor = bitcast<u32>(launch.min_activation) & 0x7fffffffu;
        flags[lane * n + v] = u32(a != 0u && a >= floor);
    }
}

@compute @workgroup_size(256)
fn keys_of(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let lane = gid.y;
    let n = launch.nodes;
    // Compaction wrote the list to the half `1 - parity`.
    let list = lane * 2u * n + (1u - launch.parity) * n;
    for (var i = gid.x; i < counters[lane * COUNTERS + RANK_COUNT]; i += groups.x * WORKGROUP) {
        let v = lists[list + i];
        let bits = ~bitcast<u32>(activation[lane * n + v]);
        keys[lane * n + i] = (u64(bits) << 32u) | u64(v);
    }
}

@compute @workgroup_size(256)
fn hops(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let lane = gid.y;
    let out = lane * launch.capacity;
    for (var i = gid.x; i < counters[lane * COUNTERS + OUT_COUNT]; i += groups.x * WORKGROUP) {
        let v = u32(out_keys[out + i] & 0xfffffffflu);
        out_hops[out + i] = hop[lane * launch.nodes + v];
    }
}
