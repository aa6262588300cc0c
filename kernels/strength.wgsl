// Pull hops: each frontier node's strength in fixed-point units,
// `gain * (decay(h) * 2^30 * fan(degree))`, the CPU's `fixed::strength`
// operation for operation (the fan factor by degree comes from a table the
// host computed with the CPU's code; every float operation is
// NoContraction, see build.rs). `reset` puts the zeros back afterwards.

@group(0) @binding(0) var<storage, read> out_offsets: array<u32>;
@group(0) @binding(6) var<storage, read> fan: array<f32>;
@group(0) @binding(10) var<storage, read_write> strength: array<f32>;
@group(0) @binding(11) var<storage, read> gain: array<f32>;
@group(0) @binding(13) var<storage, read> lists: array<u32>;
@group(0) @binding(15) var<storage, read> counters: array<u32>;

fn fan_factor(degree: u32) -> f32 {
    if launch.fan_mode == 0u {
        return 1.0;
    }
    return fan[(launch.fan_mode - 1u) * launch.fan_len + degree];
}

@compute @workgroup_size(256)
fn assign(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let lane = gid.y;
    let n = launch.nodes;
    let list = lane * 2u * n + launch.parity * n;
    for (var i = gid.x; i < counters[lane * COUNTERS + CUR_LEN]; i += groups.x * WORKGROUP) {
        let v = lists[list + i];
        let degree = out_offsets[v + 1u] - out_offsets[v];
        if degree > 0u {
            strength[lane * n + v] = gain[lane * n + v] * (launch.decay_scaled * fan_factor(degree));
        }
    }
}

@compute @workgroup_size(256)
fn reset(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let lane = gid.y;
    let n = launch.nodes;
    let list = lane * 2u * n + launch.parity * n;
    for (var i = gid.x; i < counters[lane * COUNTERS + CUR_LEN]; i += groups.x * WORKGROUP) {
        strength[lane * n + lists[list + i]] = 0.0;
    }
}
