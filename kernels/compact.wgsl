// Stream compaction by prefix sum: the ids of a lane's flagged nodes, in
// ascending order, written to a list. Three launches, over tiles of TILE
// nodes: `count` sums each tile's flags, `offsets` scans the tile sums
// (one workgroup per lane) and writes the total to the counter
// `count_slot`, `scatter` writes each flagged id at its tile's offset plus
// its rank inside the tile, adds the nodes' out-degrees to NEXT_EDGES, and
// lists the nodes of more than PUSH_HEAVY out-edges apart (push.wgsl).
// The frontier goes to the half `1 - parity` of the lane's list.

@group(0) @binding(0) var<storage, read> out_offsets: array<u32>;
@group(0) @binding(12) var<storage, read> flags: array<u32>;
@group(0) @binding(13) var<storage, read_write> lists: array<u32>;
@group(0) @binding(14) var<storage, read_write> blocks: array<u32>;
@group(0) @binding(15) var<storage, read_write> counters: array<atomic<u32>>;
// Each lane's frontier nodes of more than PUSH_HEAVY out-edges (push.wgsl):
// two halves of `launch.heavy_capacity` (parity), in any order; not kept
// when that is 0 (ranking's compaction).
@group(0) @binding(27) var<storage, read_write> heavy_frontier: array<u32>;

fn flag(lane: u32, v: u32) -> u32 {
    if v < launch.nodes {
        return flags[lane * launch.nodes + v];
    }
    return 0u;
}

@compute @workgroup_size(256)
fn count(
    @builtin(local_invocation_index) local: u32,
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let lane = group.y;
    for (var tile = group.x; tile < launch.blocks; tile += groups.x) {
        let first = tile * TILE + local * 4u;
        let c = flag(lane, first) + flag(lane, first + 1u) + flag(lane, first + 2u) + flag(lane, first + 3u);
        let total = inclusive_scan(local, c);
        if local == WORKGROUP - 1u {
            blocks[lane * launch.blocks + tile] = total;
        }
        workgroupBarrier();
    }
}

@compute @workgroup_size(256)
fn offsets(@builtin(local_invocation_index) local: u32, @builtin(workgroup_id) group: vec3<u32>) {
    let lane = group.y;
    let base = lane * launch.blocks;
    var carry = 0u;
    for (var first = 0u; first < launch.blocks; first += WORKGROUP) {
        let i = first + local;
        var x = 0u;
        if i < launch.blocks {
            x = blocks[base + i];
        }
        let inclusive = inclusive_scan(local, x);
        if i < launch.blocks {
            blocks[base + i] = carry + inclusive - x;
        }
        carry += scratch[WORKGROUP - 1u];
        workgroupBarrier();
    }
    if local == 0u {
        atomicStore(&counters[lane * COUNTERS + launch.count_slot], carry);
    }
}

@compute @workgroup_size(256)
fn scatter(
    @builtin(local_invocation_index) local: u32,
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let lane = group.y;
    let n = launch.nodes;
    let list = lane * 2u * n + (1u - launch.parity) * n;
    for (var tile = group.x; tile < launch.blocks; tile += groups.x) {
        let first = tile * TILE + local * 4u;
        var f = vec4<u32>(flag(lane, first), flag(lane, first + 1u), flag(lane, first + 2u), flag(lane, first + 3u));
        let c = f.x + f.y + f.z + f.w;
        var at = blocks[lane * launch.blocks + tile] + inclusive_scan(local, c) - c;
        var degrees = 0u;
        for (var j = 0u; j < 4u; j++) {
            if f[j] != 0u {
                let v = first + j;
                lists[list + at] = v;
                at += 1u;
                let degree = out_offsets[v + 1u] - out_offsets[v];
                degrees += degree;
                if degree > PUSH_HEAVY && launch.heavy_capacity != 0u {
                    let slot = atomicAdd(&counters[lane * COUNTERS + NEXT_HEAVY], 1u);
                    let half = launch.heavy_capacity;
                    heavy_frontier[lane * 2u * half + (1u - launch.parity) * half + slot] = v;
                }
            }
        }
        if degrees != 0u {
            atomicAdd(&counters[lane * COUNTERS + NEXT_EDGES], degrees);
        }
        workgroupBarrier();
    }
}

// Makes the compacted frontier the current one (one invocation per lane).
@compute @workgroup_size(1)
fn advance(@builtin(workgroup_id) group: vec3<u32>) {
    let c = group.y * COUNTERS;
    atomicStore(&counters[c + CUR_LEN], atomicLoad(&counters[c + NEXT_LEN]));
    atomicStore(&counters[c + CUR_EDGES], atomicLoad(&counters[c + NEXT_EDGES]));
    atomicStore(&counters[c + CUR_HEAVY], atomicLoad(&counters[c + NEXT_HEAVY]));
    atomicStore(&counters[c + NEXT_LEN], 0u);
    atomicStore(&counters[c + NEXT_EDGES], 0u);
    atomicStore(&counters[c + NEXT_HEAVY], 0u);
}
