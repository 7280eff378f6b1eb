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
 * Only apply writes user memory, so y may alias x exactly (same item reads, then writes). */

#define FORWARD_INPUT_ARGS                                                                    \
    __global const data_t *x, ulong x_off, ulong x_rs, ulong x_ms,                            \
    uint n, uint c, uint chunk_rows, uint batch_first,                                        \
    __global real *partials, __local realv *lds

/* The shift of columns j .. j+VW-1 of matrix b: kept in scratch after the partials by
 * bn_forward_sum, for bn_forward_apply, which must not read x's first row: in place, other items
 * write it. */
inline ulong
shift_index(uint b, uint chunks, uint c, uint j)
{
    return (ulong)get_global_size(2) * chunks * 2 * c + (ulong)b * c + j;
}

__kernel void
bn_forward_sum(FORWARD_INPUT_ARGS)
{
    uint j = get_global_id(0) * VW, b = get_global_id(2);
    ulong vb = (ulong)batch_first + b, r0, r1;
    realv s = R(0.0), t = R(0.0);

    chunk_rows_of(get_group_id(1), n, chunk_rows, &r0, &r1);
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
    if (get_local_id(1) == 0 && j < c)
        STORE_PARTIALS(partials, partial_index(b, get_group_id(1), get_num_groups(1), 0, c, j),
                       s + t);
    if (get_group_id(1) == 0 && get_local_id(1) == 0 && j < c)
        STORE_PARTIALS(partials, shift_index(b, get_num_groups(1), c, j),
                       FINITE_OR_ZERO(LOADV(x + x_off + vb * x_ms + j, 0)));
}

__kernel void
bn_forward_sqdev(FORWARD_INPUT_ARGS)
{
    uint j = get_global_id(0) * VW, b = get_global_id(2);
    ulong vb = (ulong)batch_first + b, r0, r1;
    realv total, unused, s = R(0.0), t = R(0.0);

    /* Slot 1 is this kernel's output: read slot 0 only. */
    column_totals(partials, b, get_num_groups(1), c, j, j < c, 1, lds, &total, &unused);
    chunk_rows_of(get_group_id(1), n, chunk_rows, &r0, &r1);
    if (j < c) {
        __global const data_t *xb = x + x_off + vb * x_ms + j;
        realv p = FINITE_OR_ZERO(LOADV(xb, 0)), shifted_mu = total / (real)n;
        ulong step = get_local_size(1), i = r0 + get_local_id(1);
        for (; i + step < r1; i += 2 * step) {
            realv d0 = (LOADV(xb, i * x_rs) - p) - shifted_mu;
            realv d1 = (LOADV(xb, (i + step) * x_rs) - p) - shifted_mu;
            s += d0 * d0;
            t += d1 * d1;
        }
        if (i < r1) {
            realv d = (LOADV(xb, i * x_rs) - p) - shifted_mu;
            s += d * d;
        }
    }
    reduce2_rows(lds, &s, &t);
    if (get_local_id(1) == 0 && j < c)
        STORE_PARTIALS(partials, partial_index(b, get_group_id(1), get_num_groups(1), 1, c, j),
                       s + t);
}

__kernel void
bn_forward_apply(FORWARD_INPUT_ARGS,
                 __global mean_t *mean, ulong mean_off, ulong mean_vs,
                 __global var_t *var, ulong var_off, ulong var_vs,
                 __global const gamma_t *gamma, ulong gamma_off, ulong gamma_vs,
                 __global const beta_t *beta, ulong beta_off, ulong beta_vs,
                 __global data_t *y, ulong y_off, ulong y_rs, ulong y_ms,
                 float eps, uint compute_statistics, float na, float nb, float nc)
{
    uint j = get_global_id(0) * VW, b = get_global_id(2), chunk = apply_chunk();
    ulong vb = (ulong)batch_first + b, r0, r1;
    realv sum, sqdev;

    /* Every item reaches the barrier inside, whatever the branch: no early return before it
     * (some compilers mishandle barriers in conditional code). */
    column_totals(partials, b, get_num_groups(1), c, j, j < c, compute_statistics ? 2 : 0, lds,
                  &sum, &sqdev);
    if (j >= c)
        return;
    realv mu, v;
    if (compute_statistics) {
        mu = ROUNDV_KIND(MEAN_KIND, LOAD_PARTIALS(partials, shift_index(b, get_num_groups(1), c,
                                                                          j)) + sum / (real)n);
        v = ROUNDV_KIND(VAR_KIND, sqdev / (real)n);
        if (chunk == 0 && get_local_id(1) == 0) {
            STOREV_KIND(MEAN_KIND, mean, mean_off + vb * mean_vs + j, mu);
            STOREV_KIND(VAR_KIND, var, var_off + vb * var_vs + j, v);
        }
    } else {
        mu = LOADV_KIND(MEAN_KIND, mean, mean_off + vb * mean_vs + j);
        v = LOADV_KIND(VAR_KIND, var, var_off + vb * var_vs + j);
    }
    realv is = R(1.0) / sqrt(v + eps);
    realv g = gamma ? LOADV_KIND(GAMMA_KIND, gamma, gamma_off + vb * gamma_vs + j) : (realv)R(1.0);
    realv bt = beta ? LOADV_KIND(BETA_KIND, beta, beta_off + vb * beta_vs + j) : (realv)R(0.0);
    __global const data_t *xb = x + x_off + vb * x_ms + j;
    __global data_t *yb = y + y_off + vb * y_ms + j;

    chunk_rows_of(chunk, n, chunk_rows, &r0, &r1);
    for (ulong i = r0 + get_local_id(1); i < r1; i += get_local_size(1)) {
        realv xh = (LOADV(xb, i * x_rs) - mu) * is;
        STOREV(yb, i * y_rs, MAPV(neuron_f, g * xh + bt, na, nb, nc));
    }
}
