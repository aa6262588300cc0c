// A push hop: every frontier node adds its contribution to each
// out-neighbour's 64-bit fixed-point sum with an atomic add (order-free:
// the sums are integers). A team of TEAM invocations shares each frontier
// node's out-edges (consecutive edges: coalesced reads; a hub's edges
// spread over the team). Needs 64-bit buffer atomics; a device without
// them spreads with pull hops only.

@group(0) @binding(0) var<storage, read> out_offsets: array<u32>;
@group(0) @binding(1) var<storage, read> out_targets: array<u32>;
@group(0) @binding(2) var<storage, read> out_weights: array<f32>;
@group(0) @binding(6) var<storage, read> fan: array<f32>;
@group(0) @binding(9) var<storage, read_write> pending: array<atomic<u64>>;
@group(0) @binding(11) var<storage, read> gain: array<f32>;
@group(0) @binding(13) var<storage, read> lists: array<u32>;
@group(0) @binding(15) var<storage, read> counters: array<u32>;

const TEAM: u32 = 32u;

fn fan_factor(degree: u32) -> f32 {
    if launch.fan_mode == 0u {
        return 1.0;
    }
    return fan[(launch.fan_mode - 1u) * launch.fan_len + degree];
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let lane = gid.y;
    let n = launch.nodes;
    let list = lane * 2u * n + launch.parity * n;
    let member = gid.x % TEAM;
    let teams = groups.x * (WORKGROUP / TEAM);
    for (var i = gid.x / TEAM; i < counters[lane * COUNTERS + CUR_LEN]; i += teams) {
        let u = lists[list + i];
        let first = out_offsets[u];
        let end = out_offsets[u + 1u];
        let s = gain[lane * n + u] * (launch.decay_scaled * fan_factor(end - first));
        for (var e = first + member; e < end; e += TEAM) {
            let units = u32(s * out_weights[e] + 0.5);
            atomicAdd(&pending[lane * n + out_targets[e]], u64(units));
        }
    }
}
