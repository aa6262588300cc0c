// A pull hop: every node sums its in-edges' contributions from the
// sources' strengths (0 outside the frontier) in 64-bit fixed point, the
// CPU's `contribution` per edge: `u32(strength * weight + 0.5)`, the
// multiply and the add each rounded (NoContraction, see build.rs).
//
// Rows of at most HEAVY in-edges take a team of 1 to 32 invocations each
// (`light`; the team's size from the graph's average in-degree, or set).
// The longer ones (the hubs of a power-law graph) were cut into chunks of
// at most 4096 edges at upload (`CHUNK` in src/gpu/kernel.rs): a workgroup sums each chunk (`heavy`,
// launched alongside `light`: they write different memory), then one
// invocation per hub adds its chunks' sums (`finish`). No invocation walks
// a hub's hundred thousand edges while the rest of the device waits, and
// no atomics are needed (a device without 64-bit atomics pulls too).

@group(0) @binding(3) var<storage, read> in_offsets: array<u32>;
@group(0) @binding(4) var<storage, read> in_sources: array<u32>;
@group(0) @binding(5) var<storage, read> in_weights: array<f32>;
@group(0) @binding(9) var<storage, read_write> pending: array<u64>;
@group(0) @binding(10) var<storage, read> strength: array<f32>;
// The hubs: (row, first chunk, end chunk, unused).
@group(0) @binding(24) var<storage, read> heavy_rows: array<vec4<u32>>;
// Their chunks' sums, `launch.items` a lane.
@group(0) @binding(25) var<storage, read_write> chunk_sums: array<u64>;
// The chunks: (first edge, end edge, unused, unused).
@group(0) @binding(26) var<storage, read> heavy_chunks: array<vec4<u32>>;

const HEAVY: u32 = 256u;

var<workgroup> partial: array<u64, 256>;

fn contribution(base: u32, e: u32) -> u64 {
    return u64(u32(strength[base + in_sources[e]] * in_weights[e] + 0.5));
}

// The sum of every `step`-th edge of `lo..hi` from `lo`, four edges a
// round (their loads issued before their gathers).
fn strided_sum(base: u32, lo: u32, hi: u32, step: u32) -> u64 {
    var sum = 0lu;
    var e = lo;
    for (; e + 3u * step < hi; e += 4u * step) {
        let s = vec4<u32>(in_sources[e], in_sources[e + step], in_sources[e + 2u * step], in_sources[e + 3u * step]);
        let w = vec4<f32>(in_weights[e], in_weights[e + step], in_weights[e + 2u * step], in_weights[e + 3u * step]);
        let x = vec4<f32>(strength[base + s.x], strength[base + s.y], strength[base + s.z], strength[base + s.w]);
        let units = vec4<u32>(x * w + vec4<f32>(0.5));
        sum += u64(units.x) + u64(units.y) + u64(units.z) + u64(units.w);
    }
    for (; e < hi; e += step) {
        sum += contribution(base, e);
    }
    return sum;
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
                sum = strided_sum(base, lo + member, hi, team);
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
    for (var c = group.x; c < launch.items; c += groups.x) {
        let chunk = heavy_chunks[c];
        partial[local] = strided_sum(base, chunk.x + local, chunk.y, WORKGROUP);
        workgroupBarrier();
        for (var step = WORKGROUP / 2u; step > 0u; step >>= 1u) {
            if local < step {
                partial[local] += partial[local + step];
            }
            workgroupBarrier();
        }
        if local == 0u {
            chunk_sums[lane * launch.items + c] = partial[0];
        }
        workgroupBarrier();
    }
}

@compute @workgroup_size(256)
fn finish(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let lane = gid.y;
    // `launch.items`: chunks a lane.
    for (var i = gid.x; i < launch.hubs; i += groups.x * WORKGROUP) {
        let hub = heavy_rows[i];
        var sum = 0lu;
        for (var c = hub.y; c < hub.z; c++) {
            sum += chunk_sums[lane * launch.items + c];
        }
        pending[lane * launch.nodes + hub.x] = sum;
    }
}
