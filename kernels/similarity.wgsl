// Similarity scores of every row of an embedding matrix against each lane's
// query, as rank keys for radix select (select.wgsl): the score's order
// inverted, then the row, so the smallest keys are the best hits, ties by
// lower row (the CPU's `Hit::rank`). Cosine scales the dot product by the
// query's and the row's inverse norms, in the CPU's order.
//
// `scores` (few queries; one lane per query): a team of 32 invocations
// reads one row at a time (consecutive floats: coalesced) and sums its
// products in workgroup memory. `scores_batch` (many queries, all in one
// launch): the 32 invocations of a team take one query each and the same
// four rows, so each row element is one load shared by the team and the
// matrix is read once for every query of the batch.

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

fn store(query: u32, row: u32, dot: f32) {
    var score = dot;
    if launch.metric == 1u {
        score = score * queries[launch.lanes * launch.dim + query] * inv_norms[row];
    }
    keys[query * launch.nodes + row] = key(score, row);
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
            store(lane, row, partial[local]);
        }
        workgroupBarrier();
    }
}

// Rows each invocation of `scores_batch` scores.
const ROWS: u32 = 4u;

@compute @workgroup_size(256)
fn scores_batch(
    @builtin(local_invocation_index) local: u32,
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let q = local % TEAM;
    if q >= launch.lanes {
        return;
    }
    let rows = launch.nodes;
    let dim = launch.dim;
    let stride = launch.stride;
    let query = q * dim;
    let per_group = TEAMS * ROWS;
    for (var first = group.x * per_group + (local / TEAM) * ROWS; first < rows; first += groups.x * per_group) {
        // Rows past the end repeat the last one (scores not stored).
        let r0 = first;
        let r1 = min(first + 1u, rows - 1u);
        let r2 = min(first + 2u, rows - 1u);
        let r3 = min(first + 3u, rows - 1u);
        var d = vec4<f32>(0.0);
        for (var i = 0u; i < dim; i++) {
            let x = queries[query + i];
            d += vec4<f32>(matrix[r0 * stride + i], matrix[r1 * stride + i], matrix[r2 * stride + i], matrix[r3 * stride + i]) * x;
        }
        store(q, r0, d.x);
        if first + 1u < rows {
            store(q, r1, d.y);
        }
        if first + 2u < rows {
            store(q, r2, d.z);
        }
        if first + 3u < rows {
            store(q, r3, d.w);
        }
    }
}
