// Applies a batch's seeds. The host merged each lane's seeds exactly as the
// CPU does (in order, capped at 1) and numbered the ones on the first
// frontier; counters were written by the host (frontier length, reached).

struct SeedEntry {
    lane: u32,
    node: u32,
    activation: f32,
    slot: u32,          // place on the first frontier, or 0xffffffff
}

@group(0) @binding(0) var<storage, read> out_offsets: array<u32>;
@group(0) @binding(7) var<storage, read_write> activation: array<f32>;
@group(0) @binding(8) var<storage, read_write> hop: array<u32>;
@group(0) @binding(11) var<storage, read_write> gain: array<f32>;
@group(0) @binding(13) var<storage, read_write> lists: array<u32>;
@group(0) @binding(15) var<storage, read_write> counters: array<atomic<u32>>;
@group(0) @binding(20) var<storage, read> seeds: array<SeedEntry>;
// Each lane's frontier nodes of more than PUSH_HEAVY out-edges: two halves
// of `launch.heavy_capacity` (push.wgsl).
@group(0) @binding(27) var<storage, read_write> heavy_frontier: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let n = launch.nodes;
    for (var i = gid.x; i < launch.items; i += groups.x * WORKGROUP) {
        let s = seeds[i];
        let at = s.lane * n + s.node;
        activation[at] = s.activation;
        hop[at] = 0u;
        if s.slot != 0xffffffffu {
            lists[s.lane * 2u * n + s.slot] = s.node;
            gain[at] = s.activation;
            let degree = out_offsets[s.node + 1u] - out_offsets[s.node];
            atomicAdd(&counters[s.lane * COUNTERS + CUR_EDGES], degree);
            if degree > PUSH_HEAVY {
                // The first frontier is the half of parity 0.
                let slot = atomicAdd(&counters[s.lane * COUNTERS + CUR_HEAVY], 1u);
                heavy_frontier[s.lane * 2u * launch.heavy_capacity + slot] = s.node;
            }
        }
    }
}
