/* The split phases of the forward (lib/bn_forward.c, docs/DISTRIBUTED.md), built only with -DSPLIT=1
 * (lib/bn_launch.c adds it for the split phases and the reproducible mode), so the one-device
 * programs of the default mode stay as they were. Helpers: split.clh; the rest: bn_forward.cl. */
#if SPLIT

/* ---- split phases (split.clh; lib/bn_forward.c's partial statistics and combine) ----
 *
 * Default mode, one round: bn_forward_chunk_stats reads each chunk's rows once from memory and
 * again from the cache: [chunk][slot 0] = sum (x - p), [chunk][slot 1] = sum ((x - p) - m_c)^2 about
 * the chunk's own mean m_c = slot 0 / rows (the shift p as bn_forward_sum keeps it); then
 * bn_forward_partial_out combines the chunks (the formula bn_forward_combine uses for shares,
 * with one shift) into the share's partial: planes p, m (shifted mean), M2, fp32.
 * Reproducible mode, two rounds: bn_forward_repro_sums bins x (round 0) or (x - mean)^2 with the
 * global mean as stored in its vector (round 1), one item per column; bn_forward_repro_partial
 * merges the chunks into the partial (one accumulator). bn_forward_combine turns `count`
 * partials into the statistics, one item per column: global (columns, 1, matrices). */

__kernel void
bn_forward_chunk_stats(FORWARD_INPUT_ARGS)
{
    uint j = get_global_id(0) * VW, b = get_global_id(2), chunk = get_group_id(1);
    ulong vb = (ulong)batch_first + b, r0, r1;
    realv p = R(0.0), s, q;

    if (j < c)
        p = FINITE_OR_ZERO(LOADV(x + x_off + vb * x_ms + j, 0));
    chunk_rows_of(chunk, n, chunk_rows, &r0, &r1);
    s = chunk_shifted_sum(FORWARD_INPUTS, j, b, r0, r1);
    q = chunk_sqdev(FORWARD_INPUTS, j, b, r0, r1, p, s / (real)(r1 - r0));
    if (get_local_id(1) == 0 && j < c) {
        STORE_PARTIALS(partials, partial_index(b, chunk, get_num_groups(1), 0, c, j), s);
        STORE_PARTIALS(partials, partial_index(b, chunk, get_num_groups(1), 1, c, j), q);
        if (chunk == 0)
            STORE_PARTIALS(partials, shift_index(b, get_num_groups(1), c, j), p);
    }
}

/* The same from row streaming's geometry (bn_forward.cl: one item a group streams the rows of a
 * column tile). */
__kernel void
bn_forward_rows_chunk_stats(FORWARD_INPUT_ARGS, uint tile_items)
{
    rows_statistics_pass(FORWARD_INPUTS, tile_items, 2);
}

/* Chan's formula for sets of rows with one shift p: mean offset m = sum S_k / N, and
 * M2 = sum (M2_k + n_k (S_k / n_k - m)^2), each sum in blocks of 32 in set order. */
__kernel void
bn_forward_partial_out(__global const real *partials, uint n, uint c, uint chunks,
                       uint chunk_rows, uint batch_first, __global uint *part, ulong part_off,
                       ulong part_vs)
{
    uint j = get_global_id(0), b = get_global_id(2);
    __global uint *pt = part + part_off + ((ulong)batch_first + b) * part_vs;
    real p = R(0.0), m = R(0.0), m2 = R(0.0);

    if (j >= c)
        return;
    if (n > 0) {
        p = partials[shift_index(b, chunks, c, j)];
        for (uint k0 = 0; k0 < chunks; k0 += 32) {
            real s = R(0.0);
            for (uint k = k0; k < min(k0 + 32, chunks); k++)
                s += partials[partial_index(b, k, chunks, 0, c, j)];
            m += s;
        }
        m /= (real)n;
        for (uint k0 = 0; k0 < chunks; k0 += 32) {
            real s = R(0.0);
            for (uint k = k0; k < min(k0 + 32, chunks); k++) {
                ulong r0, r1;
                chunk_rows_of(k, n, chunk_rows, &r0, &r1);
                real rows = (real)(r1 - r0);
                real d = partials[partial_index(b, k, chunks, 0, c, j)] / rows - m;
                s += partials[partial_index(b, k, chunks, 1, c, j)] + rows * d * d;
            }
            m2 += s;
        }
    }
    pt[PARTIAL_HEADER + j] = as_uint((float)p);
    pt[PARTIAL_HEADER + c + j] = as_uint((float)m);
    pt[PARTIAL_HEADER + 2 * c + j] = as_uint((float)m2);
    if (j == 0) {
        pt[PARTIAL_COUNT] = n;
        pt[PARTIAL_COLUMNS] = c;
        pt[PARTIAL_TAG] = PARTIAL_TAG_OF(0, 0, 0);
        pt[PARTIAL_RESERVED] = 0;
    }
}

__kernel void
bn_forward_repro_sums(__global const data_t *x, ulong x_off, ulong x_rs, ulong x_ms,
                      __global const mean_t *mean, ulong mean_off, ulong mean_vs, uint n, uint c,
                      uint chunk_rows, uint batch_first, uint round, __global uint *sums,
                      __local bins *lds)
{
    uint j = get_global_id(0), b = get_global_id(2), chunk = get_group_id(1);
    ulong vb = (ulong)batch_first + b, r0, r1;
    bins a, unused;

    bins_clear(&a);
    bins_clear(&unused);
    if (j < c) {
        __global const data_t *xb = x + x_off + vb * x_ms + j;
        float mu = round != 0 ? (float)LOAD_KIND(MEAN_KIND, mean, mean_off + vb * mean_vs + j)
                              : 0.0f;
        chunk_rows_of(chunk, n, chunk_rows, &r0, &r1);
        if (round == 0)
            for (ulong i = r0 + get_local_id(1); i < r1; i += get_local_size(1))
                bins_add(&a, (float)LOAD(xb, i * x_rs));
        else
            for (ulong i = r0 + get_local_id(1); i < r1; i += get_local_size(1)) {
                float d = (float)LOAD(xb, i * x_rs) - mu;
                bins_add(&a, d * d);
            }
    }
    bins_reduce_rows(lds, &a, &unused);
    if (get_local_id(1) == 0 && j < c)
        bins_store(sums + bins_chunk_index(b, chunk, get_num_groups(1), 0, 1, c, j), c, &a);
}

__kernel void
bn_forward_repro_partial(__global const uint *sums, uint n, uint c, uint chunks, uint batch_first,
                         uint round, __global uint *part, ulong part_off, ulong part_vs)
{
    uint j = get_global_id(0), b = get_global_id(2);

    if (j < c)
        bins_write_partial(sums, b, chunks, 1, n, c, j,
                           part + part_off + ((ulong)batch_first + b) * part_vs,
                           PARTIAL_TAG_OF(1, 0, round));
}

/* The running statistics from the global mean bm and sum of squared deviations sqdev over total
 * rows, as update_running does for one device (nothing for zero rows). */
HELPER void
combine_running(__global running_mean_t *running_mean, ulong running_mean_off,
                ulong running_mean_vs, __global running_var_t *running_var, ulong running_var_off,
                ulong running_var_vs, float momentum, ulong vb, uint j, real bm, real sqdev,
                ulong total)
{
    real m = (real)momentum, keep = R(1.0) - m;

    if (!running_mean || total == 0)
        return;
    ulong rm = running_mean_off + vb * running_mean_vs + j;
    real r = LOAD_KIND(RUNNING_MEAN_KIND, running_mean, rm);
    STORE_KIND(RUNNING_MEAN_KIND, running_mean, rm, keep * r + m * bm);
    if (total > 1) {
        ulong rv = running_var_off + vb * running_var_vs + j;
        real v = LOAD_KIND(RUNNING_VAR_KIND, running_var, rv);
        STORE_KIND(RUNNING_VAR_KIND, running_var, rv, keep * v + m * (sqdev / (real)(total - 1)));
    }
}

__kernel void
bn_forward_combine(__global const uint *part, ulong part_off, ulong part_vs, uint count, uint c,
                   uint batch_first, uint round, __global mean_t *mean, ulong mean_off,
                   ulong mean_vs, __global var_t *var, ulong var_off, ulong var_vs,
                   __global running_mean_t *running_mean, ulong running_mean_off,
                   ulong running_mean_vs, __global running_var_t *running_var,
                   ulong running_var_off, ulong running_var_vs, float momentum)
{
    uint j = get_global_id(0), b = get_global_id(2);
    ulong vb = (ulong)batch_first + b, total = 0;
    __global const uint *pb = part + part_off + vb * part_vs;
    bool ok = true;

    if (j >= c)
        return;
#if REPRO
    /* Round 0: mean = sum x / N; round 1: variance = sum (x - mean)^2 / N, the running statistics
     * from the mean as stored. */
    ulong length = PARTIAL_HEADER + (ulong)BINS_PLANES * c;
    bins a;
    real sum, v;

    bins_clear(&a);
    for (uint r = 0; r < count; r++) {
        __global const uint *pr = pb + r * length;
        ok = ok && partial_matches(pr, c, PARTIAL_TAG_OF(1, 0, round));
        total += pr[PARTIAL_COUNT];
        bins_merge_stored(&a, pr + PARTIAL_HEADER + j, c);
    }
    sum = ok ? (real)bins_round(&a) : (real)NAN;
    v = sum / (real)total;
    if (round == 0) {
        STORE_KIND(MEAN_KIND, mean, mean_off + vb * mean_vs + j, v);
        return;
    }
    STORE_KIND(VAR_KIND, var, var_off + vb * var_vs + j, v);
    combine_running(running_mean, running_mean_off, running_mean_vs, running_var,
                    running_var_off, running_var_vs, momentum, vb, j,
                    LOAD_KIND(MEAN_KIND, mean, mean_off + vb * mean_vs + j), sum, total);
#else
    /* Chan's formula over the shares in partial order, about the first non-empty share's
     * shift p0: d_r = (p_r - p0) + m_r, m = sum n_r d_r / N, M2 = sum (M2_r + n_r (d_r - m)^2). */
    ulong length = PARTIAL_HEADER + 3 * (ulong)c;
    real p0 = R(0.0), s = R(0.0), m, m2 = R(0.0);
    bool have = false;

    for (uint r = 0; r < count; r++) {
        __global const uint *pr = pb + r * length;
        ok = ok && partial_matches(pr, c, PARTIAL_TAG_OF(0, 0, 0));
        total += pr[PARTIAL_COUNT];
        if (pr[PARTIAL_COUNT] > 0 && !have) {
            p0 = as_float(pr[PARTIAL_HEADER + j]);
            have = true;
        }
    }
    for (uint r = 0; r < count; r++) {
        __global const uint *pr = pb + r * length;
        if (pr[PARTIAL_COUNT] > 0)
            s += (real)pr[PARTIAL_COUNT] *
                 ((as_float(pr[PARTIAL_HEADER + j]) - p0) + as_float(pr[PARTIAL_HEADER + c + j]));
    }
    m = s / (real)total;
    for (uint r = 0; r < count; r++) {
        __global const uint *pr = pb + r * length;
        if (pr[PARTIAL_COUNT] > 0) {
            real d = ((as_float(pr[PARTIAL_HEADER + j]) - p0) +
                      as_float(pr[PARTIAL_HEADER + c + j])) - m;
            m2 += as_float(pr[PARTIAL_HEADER + 2 * c + j]) + (real)pr[PARTIAL_COUNT] * d * d;
        }
    }
    if (!ok)
        m = m2 = (real)NAN;
    STORE_KIND(MEAN_KIND, mean, mean_off + vb * mean_vs + j, p0 + m);
    STORE_KIND(VAR_KIND, var, var_off + vb * var_vs + j, m2 / (real)total);
    combine_running(running_mean, running_mean_off, running_mean_vs, running_var,
                    running_var_off, running_var_vs, momentum, vb, j, p0 + m, m2, total);
    (void)round;
#endif
}

#endif /* SPLIT */
