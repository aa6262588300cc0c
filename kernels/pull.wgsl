// A pull hop: every node sums its in-edges' contributions from the
// sources' strengths (0 outside the frontier) in 64-bit fixed point, the
// CPU's `contribution` per edge: `u32(strength * weight + 0.5)`, the
// multiply and the add each rounded (NoContraction, see build.rs).
//
// Rows of at most HEAVY in-edges take a team of 1 to 32 invocations each
// (`light`; the team's size from the graph's average in-degree, or set);
// the few longer ones (the hubs of a power-law graph, listed at upload)
// take a whole workgroup each (`heavy`), so that no invocation walks a
// hub's hundred thousand edges alone while the rest of the device waits.

@group(0) @binding(3) var<storage, read> in_offsets: array<u32>;
@group(0) @binding(4) var<storage, read> in_sources: array<u32>;
@group(0) @binding(5) var<storage, read> in_weights: array<f32>;
@group(0) @binding(9) var<storage, read_write> pending: array<u64>;
@group(0) @binding(10) var<storage, read> strength: array<f32>;
// The rows of more than HEAVY in-edges (`launch.items` of them).
@group(0) @binding(24) var<storage, read> heavy_rows: array<u32>;

const HEAVY: u32 = 256u;

var<workgroup> partial: array<u64, 256>;

fn contribution(base: u32, e: u32) -> u64 {
    return u64(u32(strength[base + in_sources[e]] * in_weights[e] + 0.5));
}

@compute @workgroup_size(256)
fn light(
    @builtin(local_invocation_index) local: u32,
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let lane = group.y;
    let n = launch.nodes;
    let base = lane * n;
    // A team of `launch.team` invocations (a power of two up to 32) per
    // row: each sums every team-th edge, then the team adds its sums.
    let team = launch.team;
    let member = local % team;
    let rows = WORKGROUP / team;
    for (var first = group.x * rows; first < n; first += groups.x * rows) {
        let v = first + local / team;
        var sum = 0lu;
        var mine = false;
        if v < n {
            let lo = in_offsets[v];
            let hi = in_offsets[v + 1u];
            mine = hi - lo <= HEAVY;
            if mine {
                for (var e = lo + member; e < hi; e += team) {
                    sum += contribution(base, e);
                }
            }
        }
        if team > 1u {
            partial[local] = sum;
            workgroupBarrier();
            for (var step = team / 2u; step > 0u; step >>= 1u) {
                if member < step {
                    partial[local] += partial[local + step];
                }
                workgroupBarrier();
            }
            sum = partial[local];
            workgroupBarrier();
        }
        if mine && member == 0u {
            pending[base + v] = sum;
        }
    }
}

@compute @workgroup_size(256)
fn heavy(
    @builtin(local_invocation_index) local: u32,
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let lane = group.y;
    let base = lane * launch.nodes;
    for (var i = group.x; i < launch.items; i += groups.x) {
        let v = heavy_rows[i];
        var sum = 0lu;
        for (var e = in_offsets[v] + local; e < in_offsets[v + 1u]; e += WORKGROUP) {
            sum += contribution(base, e);
        }
        partial[local] = sum;
        workgroupBarrier();
        for (var step = WORKGROUP / 2u; step > 0u; step >>= 1u) {
            if local < step {
                partial[local] += partial[local + step];
            }
            workgroupBarrier();
        }
        if local == 0u {
            pending[base + v] = partial[0];
        }
        workgroupBarrier();
    }
}
