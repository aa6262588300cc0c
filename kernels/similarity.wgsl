// Similarity scores of every row of an embedding matrix against each lane's
// query, as rank keys for radix select (select.wgsl): the score's order
// inverted, then the row, so the smallest keys are the best hits, ties by
// lower row (the CPU's `Hit::rank`). A team of 32 invocations reads one
// row at a time (consecutive floats: coalesced) and sums its products in
// workgroup memory. Cosine scales the dot product by the query's and the
// row's inverse norms, in the CPU's order.

@group(0) @binding(16) var<storage, read_write> keys: array<u64>;
@group(0) @binding(21) var<storage, read> matrix: array<f32>;
@group(0) @binding(22) var<storage, read> inv_norms: array<f32>;
// Each lane's query (`dim` floats at `lane * dim`), then every lane's
// inverse norm (at `lanes * dim + lane`).
@group(0) @binding(23) var<storage, read> queries: array<f32>;

const TEAM: u32 = 32u;
const TEAMS: u32 = 8u;

var<workgroup> partial: array<f32, 256>;

// A key ascending as `score` descends: the order-preserving map of f32
// bits to u32, inverted.
fn key(score: f32, row: u32) -> u64 {
    let bits = bitcast<u32>(score);
    var ordered = bits ^ 0x80000000u;
    if (bits & 0x80000000u) != 0u {
        ordered = ~bits;
    }
    return (u64(~ordered) << 32u) | u64(row);
}

@compute @workgroup_size(256)
fn scores(
    @builtin(local_invocation_index) local: u32,
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let lane = group.y;
    let rows = launch.nodes;
    let dim = launch.dim;
    let team = local / TEAM;
    let member = local % TEAM;
    let query = lane * dim;
    for (var first = group.x * TEAMS; first < rows; first += groups.x * TEAMS) {
        let row = first + team;
        var sum = 0.0;
        if row < rows {
            let at = row * launch.stride;
            for (var i = member; i < dim; i += TEAM) {
                sum += matrix[at + i] * queries[query + i];
            }
        }
        partial[local] = sum;
        workgroupBarrier();
        for (var step = TEAM / 2u; step > 0u; step >>= 1u) {
            if member < step {
                partial[local] += partial[local + step];
            }
            workgroupBarrier();
        }
        if member == 0u && row < rows {
            var score = partial[local];
            if launch.metric == 1u {
                score = score * queries[launch.lanes * dim + lane] * inv_norms[row];
            }
            keys[lane * rows + row] = key(score, row);
        }
        workgroupBarrier();
    }
}
