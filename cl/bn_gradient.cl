/* MPSMatrixBatchNormalizationGradient, training mode, as a two-pass tree reduction.
 *
 * Math per column j (s = 1/sqrt(var + eps), xhat = (x - mean) s, z = gamma xhat + beta,
 * dz = dy f'(z)):  dbeta = sum dz,  dgamma = sum dz xhat,
 *                  dx = gamma s (dz - dbeta/N - xhat dgamma/N).
 *
 * Index mapping (both passes): global dim 0 = column groups of VW adjacent columns (consecutive
 * items on consecutive columns, so a row's loads coalesce), dim 1 = row chunks x local rows
 * (group y = chunk of chunk_rows rows; local row ly walks rows ly, ly + ny, ..., two rows per
 * step with separate accumulators for more loads in flight), dim 2 = matrix of the batch. Local
 * dim 1 is a power of two.
 *
 * Pass 1 (bn_gradient_partials): each group reduces its chunk with a fixed tree over local rows
 *   and writes [chunk][sum dz, sum dz xhat] for its columns into scratch.
 * Pass 2 (bn_gradient_apply): each group sums the chunk partials of its columns in a fixed order
 *   (identical bits in every group), then writes dx for its chunk, chunks in reverse order so
 *   the rows pass 1 read last come from the cache; the chunk-0 group also writes dgamma and
 *   dbeta. Only this pass writes user memory, so dx may alias dy or x exactly: every element is
 *   read and written by the same work-item. */

#define GRADIENT_INPUT_ARGS                                                                   \
    __global const data_t *dy, ulong dy_off, ulong dy_rs, ulong dy_ms,                        \
    __global const data_t *x, ulong x_off, ulong x_rs, ulong x_ms,                            \
    __global const mean_t *mean, ulong mean_off, ulong mean_vs,                               \
    __global const var_t *var, ulong var_off, ulong var_vs,                                   \
    __global const gamma_t *gamma, ulong gamma_off, ulong gamma_vs,                           \
    __global const beta_t *beta, ulong beta_off, ulong beta_vs,                               \
    float eps, uint n, uint c, uint chunk_rows, uint batch_first,                             \
    __global real *partials, __local realv *lds, float na, float nb, float nc

/* Per-column constants of columns j .. j+VW-1 of matrix vb. */
#define COLUMN_CONSTANTS(vb, j)                                                               \
    realv mu = LOADV_KIND(MEAN_KIND, mean, mean_off + (vb) * mean_vs + (j));                  \
    realv is = R(1.0) / sqrt(LOADV_KIND(VAR_KIND, var, var_off + (vb) * var_vs + (j)) + eps); \
    realv g = gamma ? LOADV_KIND(GAMMA_KIND, gamma, gamma_off + (vb) * gamma_vs + (j))        \
                    : (realv)R(1.0);                                                          \
    realv bt = beta ? LOADV_KIND(BETA_KIND, beta, beta_off + (vb) * beta_vs + (j))            \
                    : (realv)R(0.0)

/* xhat and dz of row i; z is rebuilt exactly as the forward builds it. */
#define ROW_TERMS(i, xh, dz)                                                                  \
    realv xh = (LOADV(xb, (i) * x_rs) - mu) * is;                                             \
    realv dz = LOADV(dyb, (i) * dy_rs) * MAPV(neuron_df, g * xh + bt, na, nb, nc)

__kernel void
bn_gradient_partials(GRADIENT_INPUT_ARGS)
{
    uint j = get_global_id(0) * VW, b = get_global_id(2);
    ulong vb = (ulong)batch_first + b, r0, r1;
    realv s1 = R(0.0), s2 = R(0.0);

    chunk_rows_of(get_group_id(1), n, chunk_rows, &r0, &r1);
    if (j < c) {
        COLUMN_CONSTANTS(vb, j);
        __global const data_t *dyb = dy + dy_off + vb * dy_ms + j;
        __global const data_t *xb = x + x_off + vb * x_ms + j;
        ulong step = get_local_size(1), i = r0 + get_local_id(1);
        realv t1 = R(0.0), t2 = R(0.0);
        for (; i + step < r1; i += 2 * step) {
            ROW_TERMS(i, xh0, dz0);
            ROW_TERMS(i + step, xh1, dz1);
            s1 += dz0;
            s2 += dz0 * xh0;
            t1 += dz1;
            t2 += dz1 * xh1;
        }
        if (i < r1) {
            ROW_TERMS(i, xh, dz);
            s1 += dz;
            s2 += dz * xh;
        }
        s1 += t1;
        s2 += t2;
    }
    reduce2_rows(lds, &s1, &s2);
    if (get_local_id(1) == 0 && j < c) {
        STORE_PARTIALS(partials, partial_index(b, get_group_id(1), get_num_groups(1), 0, c, j), s1);
        STORE_PARTIALS(partials, partial_index(b, get_group_id(1), get_num_groups(1), 1, c, j), s2);
    }
}

__kernel void
bn_gradient_apply(GRADIENT_INPUT_ARGS,
                  __global data_t *dx, ulong dx_off, ulong dx_rs, ulong dx_ms,
                  __global dgamma_t *dgamma, ulong dgamma_off, ulong dgamma_vs,
                  __global dbeta_t *dbeta, ulong dbeta_off, ulong dbeta_vs)
{
    uint j = get_global_id(0) * VW, b = get_global_id(2), chunk = apply_chunk();
    ulong vb = (ulong)batch_first + b, r0, r1;
    realv sum_dz, sum_dz_xh;

    column_totals(partials, b, get_num_groups(1), c, j, 2, lds, &sum_dz, &sum_dz_xh);
    if (j >= c)
        return;
    if (chunk == 0 && get_local_id(1) == 0) {
        if (dbeta)
            STOREV_KIND(DBETA_KIND, dbeta, dbeta_off + vb * dbeta_vs + j, sum_dz);
        if (dgamma)
            STOREV_KIND(DGAMMA_KIND, dgamma, dgamma_off + vb * dgamma_vs + j, sum_dz_xh);
    }
    COLUMN_CONSTANTS(vb, j);
    realv mean_dz = sum_dz / (real)n, mean_dz_xh = sum_dz_xh / (real)n, scale = g * is;
    __global const data_t *dyb = dy + dy_off + vb * dy_ms + j;
    __global const data_t *xb = x + x_off + vb * x_ms + j;
    __global data_t *dxb = dx + dx_off + vb * dx_ms + j;

    chunk_rows_of(chunk, n, chunk_rows, &r0, &r1);
    for (ulong i = r0 + get_local_id(1); i < r1; i += get_local_size(1)) {
        ROW_TERMS(i, xh, dz);
        STOREV(dxb, i * dx_rs, scale * (dz - mean_dz - xh * mean_dz_xh));
    }
}
