// Radix select: the `k` smallest of a lane's RANK_COUNT unique 64-bit keys
// (`keys[lane * nodes ..]`), in eight passes of one byte each from the top.
// `histogram` counts the keys that match the bytes chosen so far by their
// next byte; `pick` (one workgroup per lane) finds the byte holding the
// k-th smallest key; once all eight are chosen, BOUND is the k-th smallest
// key itself, and `emit` writes every key not above it (exactly k of them,
// in any order: the host sorts them). A lane with at most k keys is done at
// once with BOUND = u64::MAX.

@group(0) @binding(15) var<storage, read_write> counters: array<atomic<u32>>;
@group(0) @binding(16) var<storage, read> keys: array<u64>;
@group(0) @binding(17) var<storage, read_write> histogram: array<atomic<u32>>;
@group(0) @binding(18) var<storage, read_write> out_keys: array<u64>;

var<workgroup> local_histogram: array<atomic<u32>, 256>;
var<workgroup> lane_done: u32;

// Whether the lane's select is over, as a value uniform over the workgroup.
fn is_done(local: u32, c: u32) -> bool {
    if local == 0u {
        lane_done = atomicLoad(&counters[c + DONE]);
    }
    return workgroupUniformLoad(&lane_done) != 0u;
}

fn bound(c: u32) -> u64 {
    return (u64(atomicLoad(&counters[c + BOUND_HI])) << 32u) | u64(atomicLoad(&counters[c + BOUND_LO]));
}

@compute @workgroup_size(256)
fn histogram_of(
    @builtin(local_invocation_index) local: u32,
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let lane = group.y;
    let c = lane * COUNTERS;
    if is_done(local, c) {
        return;
    }
    atomicStore(&local_histogram[local], 0u);
    workgroupBarrier();
    let count = atomicLoad(&counters[c + RANK_COUNT]);
    let prefix = bound(c);
    let shift = 56u - 8u * launch.pass_;
    for (var i = group.x * WORKGROUP + local; i < count; i += groups.x * WORKGROUP) {
        let key = keys[lane * launch.nodes + i];
        // Keys whose bytes above this pass's equal the prefix chosen so far.
        if launch.pass_ == 0u || (key >> (shift + 8u)) == prefix {
            atomicAdd(&local_histogram[u32((key >> shift) & 0xfflu)], 1u);
        }
    }
    workgroupBarrier();
    let h = atomicLoad(&local_histogram[local]);
    if h != 0u {
        atomicAdd(&histogram[lane * WORKGROUP + local], h);
    }
}

@compute @workgroup_size(256)
fn pick(@builtin(local_invocation_index) local: u32, @builtin(workgroup_id) group: vec3<u32>) {
    let lane = group.y;
    let c = lane * COUNTERS;
    let count = atomicLoad(&counters[c + RANK_COUNT]);
    if launch.pass_ == 0u && local == 0u {
        atomicStore(&counters[c + REMAINING], launch.k);
        atomicStore(&counters[c + BOUND_LO], 0u);
        atomicStore(&counters[c + BOUND_HI], 0u);
        atomicStore(&counters[c + DONE], u32(count <= launch.k));
        if count <= launch.k {
            atomicStore(&counters[c + BOUND_LO], 0xffffffffu);
            atomicStore(&counters[c + BOUND_HI], 0xffffffffu);
        }
    }
    storageBarrier();
    if is_done(local, c) {
        return;
    }
    // Read before the scan: its barriers order these loads before the one
    // store below (an invocation reading REMAINING after the winner wrote
    // it could match a second bin).
    let remaining = atomicLoad(&counters[c + REMAINING]);
    let chosen = bound(c);
    storageBarrier();
    let h = atomicExchange(&histogram[lane * WORKGROUP + local], 0u);
    let sum = inclusive_scan(local, h);
    let below = sum - h;
    // The one bin whose range of ranks holds `remaining`.
    if below < remaining && remaining <= sum {
        atomicStore(&counters[c + REMAINING], remaining - below);
        let prefix = (chosen << 8u) | u64(local);
        atomicStore(&counters[c + BOUND_LO], u32(prefix & 0xfffffffflu));
        atomicStore(&counters[c + BOUND_HI], u32(prefix >> 32u));
        if launch.pass_ == 7u {
            atomicStore(&counters[c + DONE], 1u);
        }
    }
}

@compute @workgroup_size(256)
fn emit(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let lane = gid.y;
    let c = lane * COUNTERS;
    let count = atomicLoad(&counters[c + RANK_COUNT]);
    let limit = bound(c);
    for (var i = gid.x; i < count; i += groups.x * WORKGROUP) {
        let key = keys[lane * launch.nodes + i];
        if key <= limit {
            let slot = atomicAdd(&counters[c + OUT_COUNT], 1u);
            out_keys[lane * launch.capacity + slot] = key;
        }
    }
}
