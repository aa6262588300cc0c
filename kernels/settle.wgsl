// Settles a hop: every node with a non-zero fixed-point sum takes it on,
// the CPU's `fixed::apply` and `NodeState::settle` step for step: the sum
// saturated to u32, added to the activation in f64 (both exact there),
// capped at 1 or rounded once to f32; the gain decides whether the node is
// newly reached and whether it spreads next hop (its flag for compaction).

@group(0) @binding(7) var<storage, read_write> activation: array<f32>;
@group(0) @binding(8) var<storage, read_write> hop: array<u32>;
@group(0) @binding(9) var<storage, read_write> pending: array<u64>;
@group(0) @binding(11) var<storage, read_write> gain: array<f32>;
@group(0) @binding(12) var<storage, read_write> flags: array<u32>;
@group(0) @binding(15) var<storage, read_write> counters: array<atomic<u32>>;

// 2^-30: one fixed-point unit (exact in f64).
const UNIT: f64 = 9.31322574615478515625e-10lf;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let lane = gid.y;
    let n = launch.nodes;
    var reached = 0u;
    for (var v = gid.x; v < n; v += groups.x * WORKGROUP) {
        let at = lane * n + v;
        let sum = pending[at];
        var spreads = 0u;
        if sum != 0lu {
            pending[at] = 0lu;
            let units = u32(min(sum, 4294967295lu));
            let current = activation[at];
            let total = f64(current) + f64(units) * UNIT;
            var after = 1.0;
            if total < 1.0lf {
                after = f32(total);
            }
            let gained = after - current;
            activation[at] = after;
            if bitcast<u32>(current) == 0u && gained > 0.0 {
                hop[at] = launch.hop;
                reached += 1u;
            }
            if launch.spreads_on != 0u && gained > 0.0 && gained >= launch.threshold {
                gain[at] = gained;
                spreads = 1u;
            }
        }
        flags[at] = spreads;
    }
    if reached != 0u {
        atomicAdd(&counters[lane * COUNTERS + REACHED], reached);
    }
}
