// axonal: contraction allowed
// (Similarity scores are equal to the CPU scans' within f32 tolerance, not
// bit for bit, so build.rs leaves this file's multiply-adds fusable.)
//
// Similarity scores of every row of an embedding matrix against each lane's
// query, as rank keys for radix select (select.wgsl): the score's order
// inverted, then the row, so the smallest keys are the best hits, ties by
// lower row (the CPU's `Hit::rank`). Cosine scales the dot product by the
// query's and the row's inverse norms, in the CPU's order.
//
// Rows are read as vec4 over their padded length (`stride` floats, a
// multiple of 16, zero past `dim`); queries are padded alike and stored
// transposed, vec4 `j` of every lane side by side (`queries[j * lanes +
// lane]`), so that the invocations of a team read consecutive memory.
// `scores` (few queries; one lane per query): a team of 32 invocations
// reads one row at a time and sums its products in workgroup memory.
// `scores_batch` (many queries, all in one launch): the 32 invocations of a
// team take one query each and the same four rows, so each row element is
// one load shared by the team and the matrix is read once for the batch.

@group(0) @binding(16) var<storage, read_write> keys: array<u64>;
@group(0) @binding(21) var<storage, read> matrix: array<vec4<f32>>;
@group(0) @binding(22) var<storage, read> inv_norms: array<f32>;
// The queries (see above), then every lane's inverse norm: lane `l`'s is
// component `l % 4` of vec4 `stride / 4 * lanes + l / 4`.
@group(0) @binding(23) var<storage, read> queries: array<vec4<f32>>;

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
        let at = launch.stride / 4u * launch.lanes + query / 4u;
        score = score * queries[at][query % 4u] * inv_norms[row];
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
    let width = launch.stride / 4u;
    let team = local / TEAM;
    let member = local % TEAM;
    for (var first = group.x * TEAMS; first < rows; first += groups.x * TEAMS) {
        let row = first + team;
        var sum = 0.0;
        if row < rows {
            let at = row * width;
            for (var j = member; j < width; j += TEAM) {
                sum += dot(matrix[at + j], queries[j * launch.lanes + lane]);
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
    let width = launch.stride / 4u;
    let per_group = TEAMS * ROWS;
    for (var first = group.x * per_group + (local / TEAM) * ROWS; first < rows; first += groups.x * per_group) {
        // Rows past the end repeat the last one (scores not stored).
        let r0 = first * width;
        let r1 = min(first + 1u, rows - 1u) * width;
        let r2 = min(first + 2u, rows - 1u) * width;
        let r3 = min(first + 3u, rows - 1u) * width;
        var d = vec4<f32>(0.0);
        for (var j = 0u; j < width; j++) {
            let x = queries[j * launch.lanes + q];
            d += vec4<f32>(dot(matrix[r0 + j], x), dot(matrix[r1 + j], x), dot(matrix[r2 + j], x), dot(matrix[r3 + j], x));
        }
        store(q, first, d.x);
        if first + 1u < rows {
            store(q, first + 1u, d.y);
        }
        if first + 2u < rows {
            store(q, first + 2u, d.z);
        }
        if first + 3u < rows {
            store(q, first + 3u, d.w);
        }
    }
}
