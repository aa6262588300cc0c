// Prepended by build.rs to every kernel in kernels/: the launch parameters
// every kernel reads and the layout of the per-lane counters. The Rust
// side's mirror is `src/gpu/kernel.rs` (`Launch`, `Counter`): change both.

// One launch's parameters (push constants). Every dispatch is
// (groups, lanes, 1) workgroups of 256 invocations: `workgroup_id.y` is the
// lane (query) and x strides over the lane's items.
struct Launch {
    nodes: u32,         // nodes of the graph (or rows of a matrix)
    lanes: u32,         // queries in flight
    parity: u32,        // which half of a lane's list holds the frontier
    hop: u32,           // the hop's index
    decay_scaled: f32,  // decay(hop) * 2^30
    threshold: f32,     // the hop's spreading threshold
    spreads_on: u32,    // 1 if nodes settled this hop spread next hop
    fan_mode: u32,      // 0: none, 1: divide, 2: sqrt
    fan_len: u32,       // entries per fan table (max out-degree + 1)
    min_activation: f32,
    k: u32,             // results wanted per lane
    pass_: u32,         // radix select pass (0..8)
    blocks: u32,        // compaction tiles per lane
    count_slot: u32,    // the counter a compaction writes its total to
    capacity: u32,      // results a lane's output can hold
    dim: u32,           // embedding dimension (similarity)
    items: u32,         // entries of an input list (seeds)
    stride: u32,        // floats per embedding row (similarity)
    metric: u32,        // 0: dot, 1: cosine (similarity)
    team: u32,          // invocations per row of a pull hop's light rows
    hubs: u32,          // rows pulled in chunks (pull.wgsl's `finish`)
    heavy_capacity: u32, // entries of each half of a lane's heavy frontier list (0: none kept)
}
var<immediate> launch: Launch;

const WORKGROUP: u32 = 256u;
// Items per compaction tile: four per invocation.
const TILE: u32 = 1024u;

// Per-lane counters: `counters[lane * COUNTERS + slot]`.
const COUNTERS: u32 = 16u;
const CUR_LEN: u32 = 0u;      // frontier nodes
const CUR_EDGES: u32 = 1u;    // their out-edges
const NEXT_LEN: u32 = 2u;     // next frontier (compaction total)
const NEXT_EDGES: u32 = 3u;
const REACHED: u32 = 4u;      // nodes with activation > 0
const RANK_COUNT: u32 = 5u;   // candidates for ranking
const OUT_COUNT: u32 = 6u;    // results written
const REMAINING: u32 = 7u;    // radix select: rank still to find in the bin
const DONE: u32 = 8u;         // radix select: threshold known
const BOUND_LO: u32 = 9u;     // radix select: the k-th smallest key so far
const BOUND_HI: u32 = 10u;
const CUR_HEAVY: u32 = 11u;   // frontier nodes of more than PUSH_HEAVY out-edges
const NEXT_HEAVY: u32 = 12u;

// Out-edges above which a frontier node is pushed by every workgroup
// together rather than by one team (`push.wgsl`), listed apart.
const PUSH_HEAVY: u32 = 1024u;

// Workgroup memory for `inclusive_scan` (compaction, radix select).
var<workgroup> scratch: array<u32, 256>;

// The inclusive prefix sum of `x` over the workgroup (Hillis-Steele); the
// workgroup's total is scratch[255] afterwards.
fn inclusive_scan(local: u32, x: u32) -> u32 {
    var sum = x;
    scratch[local] = sum;
    workgroupBarrier();
    for (var step = 1u; step < WORKGROUP; step <<= 1u) {
        var add = 0u;
        if local >= step {
            add = scratch[local - step];
        }
        workgroupBarrier();
        sum += add;
        scratch[local] = sum;
        workgroupBarrier();
    }
    return sum;
}
