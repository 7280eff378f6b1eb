/* MPSMatrixBatchNormalization: y = f(gamma (x - mean) / sqrt(var + eps) + beta) per column.
 *
 * Index mapping as in bn_gradient.cl: dim 0 = columns, dim 1 = row chunks x local rows (power of
 * two), dim 2 = matrix of the batch.
 *
 * With compute_statistics the statistics are a two-pass tree reduction, never E[x^2] - E[x]^2:
 *   bn_forward_sum:    [chunk][slot 0] = sum of x over the chunk (fixed tree over local rows);
 *   bn_forward_sqdev:  mean = (chunk-ordered sum of slot 0) / N; [chunk][slot 1] = sum (x - mean)^2;
 *   bn_forward_apply:  mean and var = slot totals / N (biased), written by the chunk-0 group;
 *                      then y. Without compute_statistics only bn_forward_apply runs and reads
 *                      mean and var from their vectors.
 * Only apply writes user memory, so y may alias x exactly (same item reads, then writes). */

#define FORWARD_INPUT_ARGS                                                                    \
    __global const data_t *x, ulong x_off, ulong x_rs, ulong x_ms,                            \
    uint n, uint c, uint chunk_rows, uint batch_first,                                        \
    __global real *partials, __local real *lds

__kernel void
bn_forward_sum(FORWARD_INPUT_ARGS)
{
    uint j = get_global_id(0), b = get_global_id(2);
    ulong vb = (ulong)batch_first + b, r0, r1;
    real s = R(0.0), unused = R(0.0);

    chunk_rows_of_group(n, chunk_rows, &r0, &r1);
    if (j < c) {
        __global const data_t *xb = x + x_off + vb * x_ms + j;
        for (ulong i = r0 + get_local_id(1); i < r1; i += get_local_size(1))
            s += LOAD(xb, i * x_rs);
    }
    reduce2_rows(lds, &s, &unused);
    if (get_local_id(1) == 0 && j < c)
        partials[partial_index(b, get_group_id(1), get_num_groups(1), 0, c, j)] = s;
}

__kernel void
bn_forward_sqdev(FORWARD_INPUT_ARGS)
{
    uint j = get_global_id(0), b = get_global_id(2);
    ulong vb = (ulong)batch_first + b, r0, r1;
    real total, unused, s = R(0.0), zero = R(0.0);

    /* Slot 1 is this kernel's output: read slot 0 only. */
    column_totals(partials, b, get_num_groups(1), c, j, 1, lds, &total, &unused);
    chunk_rows_of_group(n, chunk_rows, &r0, &r1);
    if (j < c) {
        real mu = total / (real)n;
        __global const data_t *xb = x + x_off + vb * x_ms + j;
        for (ulong i = r0 + get_local_id(1); i < r1; i += get_local_size(1)) {
            real d = LOAD(xb, i * x_rs) - mu;
            s += d * d;
        }
    }
    reduce2_rows(lds, &s, &zero);
    if (get_local_id(1) == 0 && j < c)
        partials[partial_index(b, get_group_id(1), get_num_groups(1), 1, c, j)] = s;
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
    uint j = get_global_id(0), b = get_global_id(2);
    ulong vb = (ulong)batch_first + b, r0, r1;
    real sum, sqdev;

    /* Every item reaches the barrier inside, whatever the branch: no early return before it
     * (some compilers mishandle barriers in conditional code). */
    column_totals(partials, b, get_num_groups(1), c, j, compute_statistics ? 2 : 0, lds, &sum,
                  &sqdev);
    if (j >= c)
        return;
    real mu, v;
    if (compute_statistics) {
        mu = ROUND_KIND(MEAN_KIND, sum / (real)n);
        v = ROUND_KIND(VAR_KIND, sqdev / (real)n);
        if (get_group_id(1) == 0 && get_local_id(1) == 0) {
            STORE_KIND(MEAN_KIND, mean, mean_off + vb * mean_vs + j, mu);
            STORE_KIND(VAR_KIND, var, var_off + vb * var_vs + j, v);
        }
    } else {
        mu = LOAD_KIND(MEAN_KIND, mean, mean_off + vb * mean_vs + j);
        v = LOAD_KIND(VAR_KIND, var, var_off + vb * var_vs + j);
    }
    real is = R(1.0) / sqrt(v + eps);
    real g = gamma ? LOAD_KIND(GAMMA_KIND, gamma, gamma_off + vb * gamma_vs + j) : R(1.0);
    real bt = beta ? LOAD_KIND(BETA_KIND, beta, beta_off + vb * beta_vs + j) : R(0.0);
    __global const data_t *xb = x + x_off + vb * x_ms + j;
    __global data_t *yb = y + y_off + vb * y_ms + j;

    chunk_rows_of_group(n, chunk_rows, &r0, &r1);
    for (ulong i = r0 + get_local_id(1); i < r1; i += get_local_size(1)) {
        real xh = (LOAD(xb, i * x_rs) - mu) * is;
        STORE(yb, i * y_rs, neuron_f(g * xh + bt, na, nb, nc));
    }
}
