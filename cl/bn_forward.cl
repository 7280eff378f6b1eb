/* MPSMatrixBatchNormalization: y = f(gamma (x - mean) / sqrt(var + eps) + beta) per column.
 *
 * Index mapping as in bn_gradient.cl: dim 0 = column groups of VW adjacent columns, dim 1 = row
 * chunks x local rows (power of two), dim 2 = matrix of the batch.
 *
 * With compute_statistics the statistics are a two-pass tree reduction, never E[x^2] - E[x]^2:
 *   bn_forward_sum:    [chunk][slot 0] = sum of (x - p) over the chunk (fixed tree over local
 *                      rows), p the column's first element where finite (else 0): a shifted sum,
 *                      whose terms are as small as the spread, not the offset, of the column;
 *                      the chunk-0 group keeps p in scratch (shift_index);
 *   bn_forward_sqdev:  [chunk][slot 1] = sum ((x - p) - m)^2, m = (fixed-order sum of slot 0) / N:
 *                      deviations about the mean p + m as the pair, never rounded to one number
 *                      (near a large offset a real is too coarse for the mean: its rounding
 *                      would add its square to the variance);
 *   bn_forward_apply:  mean = p + m and var = slot 1's total / N (biased), rounded to their
 *                      vectors' types and written by the chunk-0 group; then y, chunks in
 *                      reverse order (the cache holds the rows sqdev read last). Without
 *                      compute_statistics only bn_forward_apply runs and reads mean and var
 *                      from their vectors.
 * Only apply writes user memory, so y may alias x exactly (same item reads, then writes).
 *
 * One launch (bn_forward_fused, with compute_statistics, where the library's tuning picks it):
 * the three passes as work-groups taking tickets in launch order, as bn_gradient_fused does
 * (see there): tickets [0, T) sum, [T, 2T) squared deviations, [2T, 3T) apply, T = tiles x chunks,
 * adjacent tiles of a chunk on consecutive tickets. A tile's counter orders it: each pass-1
 * group adds 1 and the last finalises the shifted mean into the tile's stats (+1: chunks + 1);
 * pass 2 waits for that, adds 1 per group, and its last finalises the variance, writes mean and
 * variance, and leaves the rounded statistics apply uses in the stats (+1: 2 chunks + 2); apply
 * waits for that. Scratch: [tile][chunk][slot][pw] partials, then [tile][2][pw] stats of pass 1
 * and [tile][2][pw] of pass 2. Every
 * read of x happens before any write of y to the same columns, so in place still holds.
 *
 * Running statistics (running_mean given, only with compute_statistics): in every layout, the
 * one item that writes a column's mean and variance also updates its running mean and variance
 * (update_running), so each running element is read and written once, by one item. */

#define FORWARD_INPUT_ARGS                                                                    \
    __global const data_t *x, ulong x_off, ulong x_rs, ulong x_ms,                            \
    uint n, uint c, uint chunk_rows, uint batch_first,                                        \
    __global real *partials, __local realv *lds

#define FORWARD_INPUTS x, x_off, x_rs, x_ms, n, c, chunk_rows, batch_first, partials, lds

#define FORWARD_OUTPUT_ARGS                                                                   \
    __global mean_t *mean, ulong mean_off, ulong mean_vs,                                     \
    __global var_t *var, ulong var_off, ulong var_vs,                                         \
    __global const gamma_t *gamma, ulong gamma_off, ulong gamma_vs,                           \
    __global const beta_t *beta, ulong beta_off, ulong beta_vs,                               \
    __global data_t *y, ulong y_off, ulong y_rs, ulong y_ms,                                  \
    __global running_mean_t *running_mean, ulong running_mean_off, ulong running_mean_vs,     \
    __global running_var_t *running_var, ulong running_var_off, ulong running_var_vs,         \
    float eps, uint compute_statistics, float momentum, float na, float nb, float nc

#define FORWARD_OUTPUTS                                                                       \
    mean, mean_off, mean_vs, var, var_off, var_vs, gamma, gamma_off, gamma_vs, beta,          \
    beta_off, beta_vs, y, y_off, y_rs, y_ms, running_mean, running_mean_off, running_mean_vs, \
    running_var, running_var_off, running_var_vs, eps, compute_statistics, momentum, na, nb, nc

/* The shift of columns j .. j+VW-1 of matrix b: kept in scratch after the partials by
 * bn_forward_sum, for bn_forward_apply, which must not read x's first row: in place, other items
 * write it. */
HELPER ulong
shift_index(uint b, uint chunks, uint c, uint j)
{
    return (ulong)get_global_size(2) * chunks * 2 * c + (ulong)b * c + j;
}

/* Sum of (x - p) over rows [r0, r1) of columns j .. j+VW-1 of matrix b (fixed tree over local
 * rows), on every item; zeros past C. */
HELPER realv
chunk_shifted_sum(FORWARD_INPUT_ARGS, uint j, uint b, ulong r0, ulong r1)
{
    ulong vb = (ulong)batch_first + b;
    realv s = R(0.0), t = R(0.0);

    if (j < c) {
        __global const data_t *xb = x + x_off + vb * x_ms + j;
        realv p = FINITE_OR_ZERO(LOADV(xb, 0));
        ulong step = get_local_size(1), i = r0 + get_local_id(1);
        for (; i + step < r1; i += 2 * step) {
            s += LOADV(xb, i * x_rs) - p;
            t += LOADV(xb, (i + step) * x_rs) - p;
        }
        if (i < r1)
            s += LOADV(xb, i * x_rs) - p;
    }
    reduce2_rows(lds, &s, &t);
    return s + t;
}

/* Sum of ((x - p) - m)^2 over rows [r0, r1), likewise. */
HELPER realv
chunk_sqdev(FORWARD_INPUT_ARGS, uint j, uint b, ulong r0, ulong r1, realv p, realv m)
{
    ulong vb = (ulong)batch_first + b;
    realv s = R(0.0), t = R(0.0);

    if (j < c) {
        __global const data_t *xb = x + x_off + vb * x_ms + j;
        ulong step = get_local_size(1), i = r0 + get_local_id(1);
        for (; i + step < r1; i += 2 * step) {
            realv d0 = (LOADV(xb, i * x_rs) - p) - m;
            realv d1 = (LOADV(xb, (i + step) * x_rs) - p) - m;
            s += d0 * d0;
            t += d1 * d1;
        }
        if (i < r1) {
            realv d = (LOADV(xb, i * x_rs) - p) - m;
            s += d * d;
        }
    }
    reduce2_rows(lds, &s, &t);
    return s + t;
}

__kernel void
bn_forward_sum(FORWARD_INPUT_ARGS)
{
    uint j = get_global_id(0) * VW, b = get_global_id(2), chunk = get_group_id(1);
    ulong vb = (ulong)batch_first + b, r0, r1;
    realv s;

    chunk_rows_of(chunk, n, chunk_rows, &r0, &r1);
    s = chunk_shifted_sum(FORWARD_INPUTS, j, b, r0, r1);
    if (get_local_id(1) == 0 && j < c)
        STORE_PARTIALS(partials, partial_index(b, chunk, get_num_groups(1), 0, c, j), s);
    if (chunk == 0 && get_local_id(1) == 0 && j < c)
        STORE_PARTIALS(partials, shift_index(b, get_num_groups(1), c, j),
                       FINITE_OR_ZERO(LOADV(x + x_off + vb * x_ms + j, 0)));
}

__kernel void
bn_forward_sqdev(FORWARD_INPUT_ARGS)
{
    uint j = get_global_id(0) * VW, b = get_global_id(2), chunk = get_group_id(1);
    ulong vb = (ulong)batch_first + b, r0, r1;
    realv total, unused, p = R(0.0), s;

    /* Slot 1 is this kernel's output: read slot 0 only. */
    column_totals(partials, b, get_num_groups(1), c, j, j < c, 1, lds, &total, &unused);
    if (j < c)
        p = FINITE_OR_ZERO(LOADV(x + x_off + vb * x_ms + j, 0));
    chunk_rows_of(chunk, n, chunk_rows, &r0, &r1);
    s = chunk_sqdev(FORWARD_INPUTS, j, b, r0, r1, p, total / (real)n);
    if (get_local_id(1) == 0 && j < c)
        STORE_PARTIALS(partials, partial_index(b, chunk, get_num_groups(1), 1, c, j), s);
}

/* y of rows [r0, r1), columns j .. j+VW-1 (j < C) of matrix b, with the statistics mu, v. */
HELPER void
write_y(FORWARD_INPUT_ARGS, FORWARD_OUTPUT_ARGS, uint j, uint b, ulong r0, ulong r1, realv mu,
        realv v)
{
    ulong vb = (ulong)batch_first + b;
    realv is = R(1.0) / sqrt(v + eps);
    realv g = gamma ? LOADV_KIND(GAMMA_KIND, gamma, gamma_off + vb * gamma_vs + j) : (realv)R(1.0);
    realv bt = beta ? LOADV_KIND(BETA_KIND, beta, beta_off + vb * beta_vs + j) : (realv)R(0.0);
    __global const data_t *xb = x + x_off + vb * x_ms + j;
    __global data_t *yb = y + y_off + vb * y_ms + j;

    for (ulong i = r0 + get_local_id(1); i < r1; i += get_local_size(1)) {
        realv xh = (LOADV(xb, i * x_rs) - mu) * is;
        STOREV(yb, i * y_rs, MAPV(neuron_f, g * xh + bt, na, nb, nc));
    }
}

/* The running mean and variance of columns j .. j+VW-1 of matrix b, from the batch's mean bm and
 * sum of squared deviations sqdev as the statistics passes keep them (real: fp32 beside fp16 and
 * bf16 data), not as rounded to the mean and variance vectors: a running value averages many
 * batches, and would keep every batch's rounding. The variance is the unbiased sqdev / (N - 1),
 * as PyTorch and ONNX keep it; with one row it is undefined, and the running variance is left
 * as it is. No-op without running vectors. */
HELPER void
update_running(FORWARD_OUTPUT_ARGS, uint n, uint j, ulong vb, realv bm, realv sqdev)
{
    real m = (real)momentum, keep = R(1.0) - m;

    if (!running_mean)
        return;
    ulong rm = running_mean_off + vb * running_mean_vs + j;
    realv r = LOADV_KIND(RUNNING_MEAN_KIND, running_mean, rm);
    STOREV_KIND(RUNNING_MEAN_KIND, running_mean, rm, keep * r + m * bm);
    if (n > 1) {
        ulong rv = running_var_off + vb * running_var_vs + j;
        realv v = LOADV_KIND(RUNNING_VAR_KIND, running_var, rv);
        STOREV_KIND(RUNNING_VAR_KIND, running_var, rv, keep * v + m * (sqdev / (real)(n - 1)));
    }
}

__kernel void
bn_forward_apply(FORWARD_INPUT_ARGS, FORWARD_OUTPUT_ARGS)
{
    uint j = get_global_id(0) * VW, b = get_global_id(2), chunk = apply_chunk();
    ulong vb = (ulong)batch_first + b, r0, r1;
    realv sum, sqdev, mu, v;

    /* Every item reaches the barrier inside, whatever the branch: no early return before it
     * (some compilers mishandle barriers in conditional code). */
    column_totals(partials, b, get_num_groups(1), c, j, j < c, compute_statistics ? 2 : 0, lds,
                  &sum, &sqdev);
    if (j >= c)
        return;
    if (compute_statistics) {
        realv bm = LOAD_PARTIALS(partials, shift_index(b, get_num_groups(1), c, j)) +
                   sum / (real)n;
        mu = ROUNDV_KIND(MEAN_KIND, bm);
        v = ROUNDV_KIND(VAR_KIND, sqdev / (real)n);
        if (chunk == 0 && get_local_id(1) == 0) {
            STOREV_KIND(MEAN_KIND, mean, mean_off + vb * mean_vs + j, mu);
            STOREV_KIND(VAR_KIND, var, var_off + vb * var_vs + j, v);
            update_running(FORWARD_OUTPUTS, n, j, vb, bm, sqdev);
        }
    } else {
        mu = LOADV_KIND(MEAN_KIND, mean, mean_off + vb * mean_vs + j);
        v = LOADV_KIND(VAR_KIND, var, var_off + vb * var_vs + j);
    }
    chunk_rows_of(chunk, n, chunk_rows, &r0, &r1);
    write_y(FORWARD_INPUTS, FORWARD_OUTPUTS, j, b, r0, r1, mu, v);
}

/* One group per column tile, with compute_statistics, for short columns (the library's plan, as
 * bn_gradient_tile): all three passes over all N rows in one group, the same sums as with one
 * chunk. Every read of x's first row (the shift) comes before the group's first barrier, every
 * write of y after its last, so in place holds. */
__kernel void
bn_forward_tile(FORWARD_INPUT_ARGS, FORWARD_OUTPUT_ARGS)
{
    uint j = get_global_id(0) * VW, b = get_global_id(2);
    ulong vb = (ulong)batch_first + b;
    realv p = R(0.0), m, sqdev, mu, v;

    if (j < c)
        p = FINITE_OR_ZERO(LOADV(x + x_off + vb * x_ms + j, 0));
    m = chunk_shifted_sum(FORWARD_INPUTS, j, b, 0, n) / (real)n;
    sqdev = chunk_sqdev(FORWARD_INPUTS, j, b, 0, n, p, m);
    if (j >= c)
        return;
    mu = ROUNDV_KIND(MEAN_KIND, p + m);
    v = ROUNDV_KIND(VAR_KIND, sqdev / (real)n);
    if (get_local_id(1) == 0) {
        STOREV_KIND(MEAN_KIND, mean, mean_off + vb * mean_vs + j, mu);
        STOREV_KIND(VAR_KIND, var, var_off + vb * var_vs + j, v);
        update_running(FORWARD_OUTPUTS, n, j, vb, p + m, sqdev);
    }
    write_y(FORWARD_INPUTS, FORWARD_OUTPUTS, j, b, 0, n, mu, v);
}

/* Global size (lx * 3 * tiles * chunks, ly), tiles = col_tiles * batches. Straight-line
 * barriers, counters, forward progress and giving up as in bn_gradient_fused: a group with no
 * pass (PASS_NONE: its ticket was out of range, or it gave up waiting) runs the same line with
 * empty ranges and writes nothing of the caller's. */
enum { PASS_NONE = 3 };

__kernel void
bn_forward_fused(FORWARD_INPUT_ARGS, FORWARD_OUTPUT_ARGS, volatile __global uint *sync,
                 uint col_tiles, uint tiles, uint chunks, uint spin_limit, uint launch)
{
    __local uint word;
    uint tw = get_local_size(0) * VW, pw = (tw + 31) / 32 * 32, pj = get_local_id(0) * VW;
    uint groups = 3 * tiles * chunks;
    uint ticket = group_ticket(sync, groups, spin_limit, launch, &word);
    uint within, pass = div_rem(ticket < groups ? ticket : 0, tiles * chunks, &within), tile;
    uint chunk = div_rem(within, tiles, &tile), col_tile, b = div_rem(tile, col_tiles, &col_tile);
    uint j = col_tile * tw + pj, done;
    volatile __global uint *count = &sync[SYNC_TILES + tile];
    /* Pass 1's (shift, total), then pass 2's (mean, variance): never one address written twice,
     * since a cache that is not coherent (NVIDIA's L1) could keep the first value. */
    __global real *stats = partials + (ulong)tiles * chunks * 2 * pw + (ulong)tile * 2 * pw + pj;
    __global real *stats2 = stats + (ulong)tiles * 2 * pw;
    ulong vb = (ulong)batch_first + b, r0, r1;
    realv s, t, p = R(0.0), mu, v;
    bool last;

    if (ticket >= groups)
        pass = PASS_NONE;
    chunk_rows_of(pass == 2 ? chunks - 1 - chunk : chunk, n, chunk_rows, &r0, &r1);
    /* Not in pass 3: its other groups may have overwritten x's first row already. */
    if (j < c && pass < 2)
        p = FINITE_OR_ZERO(LOADV(x + x_off + vb * x_ms + j, 0));

    /* Pass 1: shifted sums; the tile's last group keeps the shift and the total. */
    s = chunk_shifted_sum(FORWARD_INPUTS, j, b, r0, pass == 0 ? r1 : r0);
    if (pass == 0 && get_local_id(1) == 0)
        STORE_PARTIALS(partials, partial_index(tile, chunk, chunks, 0, pw, pj), s);
    mem_fence(CLK_GLOBAL_MEM_FENCE);
    done = group_atomic_add(count, pass == 0, &word);
    last = pass == 0 && done == chunks - 1;
    mem_fence(CLK_GLOBAL_MEM_FENCE);
    column_totals(partials, tile, chunks, pw, pj, last, last, lds, &s, &t);
    if (last && get_local_id(1) == 0) {
        STORE_PARTIALS(stats, 0, p);
        STORE_PARTIALS(stats, pw, s);
    }
    mem_fence(CLK_GLOBAL_MEM_FENCE);
    group_atomic_add(count, last, &word);

    /* Pass 2: squared deviations about the pair (p, total / N); the last group finalises. */
    if (!group_wait_past(sync, count, chunks, pass == 1, spin_limit, launch, &word))
        pass = PASS_NONE;
    s = chunk_sqdev(FORWARD_INPUTS, j, b, r0, pass == 1 ? r1 : r0, p,
                    pass == 1 ? LOAD_PARTIALS(stats, pw) / (real)n : R(0.0));
    if (pass == 1 && get_local_id(1) == 0)
        STORE_PARTIALS(partials, partial_index(tile, chunk, chunks, 1, pw, pj), s);
    mem_fence(CLK_GLOBAL_MEM_FENCE);
    done = group_atomic_add(count, pass == 1, &word);
    last = pass == 1 && done == 2 * chunks;
    mem_fence(CLK_GLOBAL_MEM_FENCE);
    column_totals(partials, tile, chunks, pw, pj, last, last ? 2 : 0, lds, &s, &t);
    if (last && get_local_id(1) == 0) {
        mu = ROUNDV_KIND(MEAN_KIND, p + s / (real)n);
        v = ROUNDV_KIND(VAR_KIND, t / (real)n);
        if (j < c) {
            STOREV_KIND(MEAN_KIND, mean, mean_off + vb * mean_vs + j, mu);
            STOREV_KIND(VAR_KIND, var, var_off + vb * var_vs + j, v);
            update_running(FORWARD_OUTPUTS, n, j, vb, p + s / (real)n, t);
        }
        STORE_PARTIALS(stats2, 0, mu);
        STORE_PARTIALS(stats2, pw, v);
    }
    mem_fence(CLK_GLOBAL_MEM_FENCE);
    group_atomic_add(count, last, &word);

    /* Pass 3: y, once the statistics are out. */
    if (group_wait_past(sync, count, 2 * chunks + 1, pass == 2, spin_limit, launch, &word) &&
        pass == 2 && j < c)
        write_y(FORWARD_INPUTS, FORWARD_OUTPUTS, j, b, r0, r1, LOAD_PARTIALS(stats2, 0),
                LOAD_PARTIALS(stats2, pw));
    group_finish(sync, groups, tiles, spin_limit, launch, &word);
}

/* ---- row streaming, for CPUs ----
 *
 * The three passes as bn_gradient.cl's row streaming does the gradient's: a group is one item
 * that streams whole rows of a column tile (global (column tiles, chunks, matrices), local
 * 1 x 1 x 1, tile_items VW-columns per tile), per-column values in local memory, sums in blocks of
 * ROW_BLOCK rows. The same shifts, partials and shift slot in scratch as the passes above. */

/* s[q] = sum over rows [r0, r1) of the shifted values x - p[q] (square 0, m unused) or of their
 * squared deviations from m[q] (square 1), in blocks of ROW_BLOCK rows; bk: scratch array. */
HELPER void
tile_rows_sum(__global const data_t *xb, ulong x_rs, uint count, ulong r0, ulong r1, int square,
              __local const realv *p, __local const realv *m, __local realv *s, __local realv *bk)
{
    for (uint q = 0; q < count; q++)
        s[q] = R(0.0);
    for (ulong r = r0; r < r1; r += ROW_BLOCK) {
        for (uint q = 0; q < count; q++)
            bk[q] = R(0.0);
        for (ulong i = r; i < min(r + ROW_BLOCK, r1); i++) {
            __global const data_t *xr = xb + i * x_rs;
            if (square)
                for (uint q = 0; q < count; q++) {
                    realv d = (LOADV(xr, q * VW) - p[q]) - m[q];
                    bk[q] += d * d;
                }
            else
                for (uint q = 0; q < count; q++)
                    bk[q] += LOADV(xr, q * VW) - p[q];
        }
        for (uint q = 0; q < count; q++)
            s[q] += bk[q];
    }
}

/* The shifts of the tile's columns: their first elements where finite. */
HELPER void
tile_shifts(__global const data_t *xb, uint count, __local realv *p)
{
    for (uint q = 0; q < count; q++)
        p[q] = FINITE_OR_ZERO(LOADV(xb, q * VW));
}

/* The group's share of pass 1 (0: shifted sums, and the shifts from chunk 0, into slot 0), of
 * pass 2 (1: squared deviations about the shifted mean of all rows, into slot 1), or of the split
 * phases' chunk statistics (2: both, the deviations about the chunk's own mean, the second read
 * from the cache). */
HELPER void
rows_statistics_pass(FORWARD_INPUT_ARGS, uint tile_items, int pass)
{
    uint b = get_global_id(2), chunk = get_group_id(1), chunks = get_num_groups(1), count;
    uint j0 = tile_columns(c, tile_items, &count);
    __global const data_t *xb = x + x_off + ((ulong)batch_first + b) * x_ms + j0;
    __local realv *a[ROWS_ARRAYS];
    ulong r0, r1;

    tile_arrays(lds, tile_items, a);
    tile_shifts(xb, count, a[0]);
    chunk_rows_of(chunk, n, chunk_rows, &r0, &r1);
    if (pass != 1) {
        tile_rows_sum(xb, x_rs, count, r0, r1, 0, a[0], a[1], a[2], a[3]);
        for (uint q = 0; q < count; q++) {
            STORE_PARTIALS(partials, partial_index(b, chunk, chunks, 0, c, j0 + q * VW), a[2][q]);
            if (chunk == 0)
                STORE_PARTIALS(partials, shift_index(b, chunks, c, j0 + q * VW), a[0][q]);
        }
    }
    if (pass == 0)
        return;
    if (pass == 1) {
        /* Slot 1 is this pass's output: read slot 0 only. */
        tile_totals(partials, b, chunks, c, j0, count, 1, a[1], a[2], a[3], a[4]);
        for (uint q = 0; q < count; q++)
            a[1][q] /= (real)n;
    } else {
        for (uint q = 0; q < count; q++)
            a[1][q] = a[2][q] / (real)(r1 - r0);
    }
    tile_rows_sum(xb, x_rs, count, r0, r1, 1, a[0], a[1], a[2], a[3]);
    for (uint q = 0; q < count; q++)
        STORE_PARTIALS(partials, partial_index(b, chunk, chunks, 1, c, j0 + q * VW), a[2][q]);
}

__kernel void
bn_forward_rows_sum(FORWARD_INPUT_ARGS, uint tile_items)
{
    rows_statistics_pass(FORWARD_INPUTS, tile_items, 0);
}

__kernel void
bn_forward_rows_sqdev(FORWARD_INPUT_ARGS, uint tile_items)
{
    rows_statistics_pass(FORWARD_INPUTS, tile_items, 1);
}

/* Rows of the chunk in order (a CPU prefetches forward streams best). */
HELPER void
rows_apply(FORWARD_INPUT_ARGS, FORWARD_OUTPUT_ARGS, uint tile_items)
{
    uint b = get_global_id(2), chunk = apply_chunk(), chunks = get_num_groups(1), count;
    uint j0 = tile_columns(c, tile_items, &count);
    ulong vb = (ulong)batch_first + b, r0, r1;
    __global const data_t *xb = x + x_off + vb * x_ms + j0;
    __global data_t *yb = y + y_off + vb * y_ms + j0;
    __local realv *a[ROWS_ARRAYS];

    tile_arrays(lds, tile_items, a);
    __local realv *mu = a[0], *is = a[1], *g = a[2], *bt = a[3];
    if (compute_statistics)
        tile_totals(partials, b, chunks, c, j0, count, 2, a[4], a[5], a[6], a[7]);
    for (uint q = 0; q < count; q++) {
        uint j = j0 + q * VW;
        realv m, v;
        if (compute_statistics) {
            realv shift = LOAD_PARTIALS(partials, shift_index(b, chunks, c, j));
            realv sum = a[4][q], sqdev = a[5][q];
            m = ROUNDV_KIND(MEAN_KIND, shift + sum / (real)n);
            v = ROUNDV_KIND(VAR_KIND, sqdev / (real)n);
            if (chunk == 0) {
                STOREV_KIND(MEAN_KIND, mean, mean_off + vb * mean_vs + j, m);
                STOREV_KIND(VAR_KIND, var, var_off + vb * var_vs + j, v);
                update_running(FORWARD_OUTPUTS, n, j, vb, shift + sum / (real)n,
                               sqdev);
            }
        } else {
            m = LOADV_KIND(MEAN_KIND, mean, mean_off + vb * mean_vs + j);
            v = LOADV_KIND(VAR_KIND, var, var_off + vb * var_vs + j);
        }
        mu[q] = m;
        is[q] = R(1.0) / sqrt(v + eps);
        g[q] = gamma ? LOADV_KIND(GAMMA_KIND, gamma, gamma_off + vb * gamma_vs + j) : (realv)R(1.0);
        bt[q] = beta ? LOADV_KIND(BETA_KIND, beta, beta_off + vb * beta_vs + j) : (realv)R(0.0);
    }
    chunk_rows_of(chunk, n, chunk_rows, &r0, &r1);
    for (ulong i = r0; i < r1; i++) {
        __global const data_t *xr = xb + i * x_rs;
        __global data_t *yr = yb + i * y_rs;
        for (uint q = 0; q < count; q++) {
            realv xh = (LOADV(xr, q * VW) - mu[q]) * is[q];
            STOREV(yr, q * VW, MAPV(neuron_f, g[q] * xh + bt[q], na, nb, nc));
        }
    }
}

__kernel void
bn_forward_rows_apply(FORWARD_INPUT_ARGS, FORWARD_OUTPUT_ARGS, uint tile_items)
{
    rows_apply(FORWARD_INPUTS, FORWARD_OUTPUTS, tile_items);
}

/* The three passes in one launch where every group holds all rows of its tile (one chunk: the
 * library's plan for short columns, whose tile the cache keeps between passes). The item that
 * writes the partials reads them back, so no other group is waited for; on a CPU each launch
 * costs more than the passes of a small matrix. */
__kernel void
bn_forward_rows_whole(FORWARD_INPUT_ARGS, FORWARD_OUTPUT_ARGS, uint tile_items)
{
    if (compute_statistics) {
        rows_statistics_pass(FORWARD_INPUTS, tile_items, 0);
        rows_statistics_pass(FORWARD_INPUTS, tile_items, 1);
    }
    rows_apply(FORWARD_INPUTS, FORWARD_OUTPUTS, tile_items);
}
