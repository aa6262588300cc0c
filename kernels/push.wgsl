// A push hop: every frontier node adds its contribution to each
// out-neighbour's 64-bit fixed-point sum with an atomic add (order-free:
// the sums are integers). Needs 64-bit buffer atomics; a device without
// them spreads with pull hops only.
//
// `main`: a team of TEAM invocations shares each frontier node's
// out-edges (consecutive edges: coalesced reads). `heavy`: the frontier
// nodes of more than PUSH_HEAVY out-edges, listed apart by compaction, are
// pushed by every invocation of the launch together, one after the other,
// so that a hub's edges do not queue behind one team. The two run side by
// side (atomic adds commute).

@group(0) @binding(0) var<storage, read> out_offsets: array<u32>;
@group(0) @binding(1) var<storage, read> out_targets: array<u32>;
@group(0) @binding(2) var<storage, read> out_weights: array<f32>;
@group(0) @binding(6) var<storage, read> fan: array<f32>;
@group(0) @binding(9) var<storage, read_write> pending: array<atomic<u64>>;
@group(0) @binding(11) var<storage, read> gain: array<f32>;
@group(0) @binding(13) var<storage, read> lists: array<u32>;
@group(0) @binding(15) var<storage, read> counters: array<u32>;
// Each lane's heavy frontier nodes: two halves of `launch.heavy_capacity`
// (parity).
@group(0) @binding(27) var<storage, read> heavy_frontier: array<u32>;

const TEAM: u32 = 32u;

fn fan_factor(degree: u32) -> f32 {
    if launch.fan_mode == 0u {
        return 1.0;
    }
    return fan[(launch.fan_mode - 1u) * launch.fan_len + degree];
}

// Pushes edges `e, e + step, ...` below `end` of node `u` with strength `s`.
fn push_edges(lane: u32, s: f32, first: u32, end: u32, step: u32) {
    for (var e = first; e < end; e += step) {
        let units = u32(s * out_weights[e] + 0.5);
        atomicAdd(&pending[lane * launch.nodes + out_targets[e]], u64(units));
    }
}

fn strength_of(lane: u32, u: u32, degree: u32) -> f32 {
    return gain[lane * launch.nodes + u] * (launch.decay_scaled * fan_factor(degree));
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
        if end - first <= PUSH_HEAVY {
            push_edges(lane, strength_of(lane, u, end - first), first + member, end, TEAM);
        }
    }
}

@compute @workgroup_size(256)
fn heavy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let lane = gid.y;
    let list = lane * 2u * launch.heavy_capacity + launch.parity * launch.heavy_capacity;
    for (var i = 0u; i < counters[lane * COUNTERS + CUR_HEAVY]; i++) {
        let u = heavy_frontier[list + i];
        let first = out_offsets[u];
        let end = out_offsets[u + 1u];
        push_edges(lane, strength_of(lane, u, end - first), first + gid.x, end, groups.x * WORKGROUP);
    }
}
