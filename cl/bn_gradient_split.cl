/* The split phases of the gradient (lib/bn_gradient.c, docs/DISTRIBUTED.md), built only with -DSPLIT=1
 * (lib/bn_launch.c adds it for the split phases and the reproducible mode), so the one-device
 * programs of the default mode stay as they were. Helpers: split.clh; the rest: bn_gradient.cl. */
#if SPLIT

/* ---- split phases (split.clh; lib/bn_gradient.c's partial sums and apply) ----
 *
 * Default mode: bn_gradient_partials over the share's rows, then bn_gradient_partial_out sums
 * each column's chunk partials in the fixed order of column_totals (blocks of 32) into the
 * share's partial: planes sum dz, sum dz xhat (fp32). Reproducible mode: bn_gradient_repro_sums
 * bins each chunk's dz and dz xhat (one item per column), bn_gradient_repro_partial merges the
 * chunks into the partial: two accumulators of BINS_PLANES planes. bn_gradient_apply_split
 * combines the partials of every share (in partial order, or binned and rounded once) and
 * writes dgamma, dbeta and this share's dx with the global N, in the two launches' apply
 * layout. One item per column in the partial kernels: global (columns, chunks x rows, matrices). */

HELPER real
chunk_slot_total(__global const real *partials, uint b, uint chunks, uint slot, uint c, uint j)
{
    real t = R(0.0);

    for (uint k0 = 0; k0 < chunks; k0 += 32) {
        real s = R(0.0);
        for (uint k = k0; k < min(k0 + 32, chunks); k++)
            s += partials[partial_index(b, k, chunks, slot, c, j)];
        t += s;
    }
    return t;
}

__kernel void
bn_gradient_partial_out(__global const real *partials, uint n, uint c, uint chunks,
                        uint batch_first, __global uint *part, ulong part_off, ulong part_vs)
{
    uint j = get_global_id(0), b = get_global_id(2);
    __global uint *pt = part + part_off + ((ulong)batch_first + b) * part_vs;

    if (j >= c)
        return;
    pt[PARTIAL_HEADER + j] = as_uint((float)chunk_slot_total(partials, b, chunks, 0, c, j));
    pt[PARTIAL_HEADER + c + j] = as_uint((float)chunk_slot_total(partials, b, chunks, 1, c, j));
    if (j == 0) {
        pt[PARTIAL_COUNT] = n;
        pt[PARTIAL_COLUMNS] = c;
        pt[PARTIAL_TAG] = PARTIAL_TAG_OF(0, 1, 0);
        pt[PARTIAL_RESERVED] = 0;
    }
}

/* dz and xhat as the two launches compute them (COLUMN_CONSTANTS, ROW_TERMS), one column. */
__kernel void
bn_gradient_repro_sums(__global const data_t *dy, ulong dy_off, ulong dy_rs, ulong dy_ms,
                       __global const data_t *x, ulong x_off, ulong x_rs, ulong x_ms,
                       __global const mean_t *mean, ulong mean_off, ulong mean_vs,
                       __global const var_t *var, ulong var_off, ulong var_vs,
                       __global const gamma_t *gamma, ulong gamma_off, ulong gamma_vs,
                       __global const beta_t *beta, ulong beta_off, ulong beta_vs,
                       float eps, uint n, uint c, uint chunk_rows, uint batch_first, float na,
                       float nb, float nc, __global uint *sums, __local bins *lds)
{
    uint j = get_global_id(0), b = get_global_id(2), chunk = get_group_id(1);
    ulong vb = (ulong)batch_first + b, r0, r1;
    bins s1, s2;

    bins_clear(&s1);
    bins_clear(&s2);
    if (j < c) {
        real mu = LOAD_KIND(MEAN_KIND, mean, mean_off + vb * mean_vs + j);
        real is = R(1.0) / sqrt(LOAD_KIND(VAR_KIND, var, var_off + vb * var_vs + j) + eps);
        real g = gamma ? LOAD_KIND(GAMMA_KIND, gamma, gamma_off + vb * gamma_vs + j) : R(1.0);
        real bt = beta ? LOAD_KIND(BETA_KIND, beta, beta_off + vb * beta_vs + j) : R(0.0);
        __global const data_t *dyb = dy + dy_off + vb * dy_ms + j;
        __global const data_t *xb = x + x_off + vb * x_ms + j;
        chunk_rows_of(chunk, n, chunk_rows, &r0, &r1);
        for (ulong i = r0 + get_local_id(1); i < r1; i += get_local_size(1)) {
            real xh = (LOAD(xb, i * x_rs) - mu) * is;
            real dz = LOAD(dyb, i * dy_rs) * neuron_df(g * xh + bt, na, nb, nc);
            bins_add(&s1, (float)dz);
            bins_add(&s2, (float)(dz * xh));
        }
    }
    bins_reduce_rows(lds, &s1, &s2);
    if (get_local_id(1) == 0 && j < c) {
        bins_store(sums + bins_chunk_index(b, chunk, get_num_groups(1), 0, 2, c, j), c, &s1);
        bins_store(sums + bins_chunk_index(b, chunk, get_num_groups(1), 1, 2, c, j), c, &s2);
    }
}

__kernel void
bn_gradient_repro_partial(__global const uint *sums, uint n, uint c, uint chunks,
                          uint batch_first, __global uint *part, ulong part_off, ulong part_vs)
{
    uint j = get_global_id(0), b = get_global_id(2);

    if (j < c)
        bins_write_partial(sums, b, chunks, 2, n, c, j,
                           part + part_off + ((ulong)batch_first + b) * part_vs,
                           PARTIAL_TAG_OF(1, 1, 0));
}

/* Column j's global sums from `count` partials at pb, and the global N; NaN for a partial of
 * another layout. */
HELPER void
split_sums(__global const uint *pb, uint count, uint c, uint j, real *s1, real *s2,
           ulong *total)
{
    bool ok = true;
#if REPRO
    ulong length = PARTIAL_HEADER + 2 * (ulong)BINS_PLANES * c;
    bins a, d;

    bins_clear(&a);
    bins_clear(&d);
    for (uint r = 0; r < count; r++) {
        __global const uint *pr = pb + r * length;
        ok = ok && partial_matches(pr, c, PARTIAL_TAG_OF(1, 1, 0));
        *total += pr[PARTIAL_COUNT];
        bins_merge_stored(&a, pr + PARTIAL_HEADER + j, c);
        bins_merge_stored(&d, pr + PARTIAL_HEADER + (ulong)BINS_PLANES * c + j, c);
    }
    *s1 = bins_round(&a);
    *s2 = bins_round(&d);
#else
    ulong length = PARTIAL_HEADER + 2 * (ulong)c;

    *s1 = *s2 = R(0.0);
    for (uint r = 0; r < count; r++) {
        __global const uint *pr = pb + r * length;
        ok = ok && partial_matches(pr, c, PARTIAL_TAG_OF(0, 1, 0));
        *total += pr[PARTIAL_COUNT];
        *s1 += as_float(pr[PARTIAL_HEADER + j]);
        *s2 += as_float(pr[PARTIAL_HEADER + c + j]);
    }
#endif
    if (!ok)
        *s1 = *s2 = (real)NAN;
}

/* Global size as bn_gradient_apply's; n (this share's rows) may be 0: dgamma and dbeta only. */
__kernel void
bn_gradient_apply_split(GRADIENT_INPUT_ARGS, GRADIENT_OUTPUT_ARGS, __global const uint *part,
                        ulong part_off, ulong part_vs, uint count)
{
    uint j = get_global_id(0) * VW, b = get_global_id(2), chunk = apply_chunk();
    ulong vb = (ulong)batch_first + b, r0, r1, total = 0;
    real t1[VW], t2[VW];
    realv sum_dz, sum_dz_xh;

    if (j >= c)
        return;
    for (uint q = 0; q < VW; q++) {
        total = 0;
        split_sums(part + part_off + vb * part_vs, count, c, j + q, &t1[q], &t2[q], &total);
    }
    sum_dz = LOAD_PARTIALS(t1, 0);
    sum_dz_xh = LOAD_PARTIALS(t2, 0);
    if (chunk == 0 && get_local_id(1) == 0)
        write_parameter_gradients(GRADIENT_OUTPUTS, batch_first, j, b, sum_dz, sum_dz_xh);
    chunk_rows_of(chunk, n, chunk_rows, &r0, &r1);
    write_dx(GRADIENT_INPUTS, GRADIENT_OUTPUTS, j, b, r0, r1, sum_dz, sum_dz_xh, (real)total);
}

/* The same from row streaming's geometry (global: column tiles, chunks, matrices; one item a
 * group): the tile's global sums from the partials, then rows_apply_sums with the global N. */
__kernel void
bn_gradient_rows_apply_split(GRADIENT_INPUT_ARGS, GRADIENT_OUTPUT_ARGS, uint tile_items,
                             __global const uint *part, ulong part_off, ulong part_vs,
                             uint shares)
{
    uint b = get_global_id(2), count;
    uint j0 = tile_columns(c, tile_items, &count);
    ulong vb = (ulong)batch_first + b, total = 0;
    __local realv *a[ROWS_ARRAYS];

    tile_arrays(lds, tile_items, a);
    load_tile_constants(GRADIENT_INPUTS, vb, j0, count, a[0], a[1], a[2], a[3]);
    for (uint q = 0; q < count; q++) {
        real t1[VW], t2[VW];
        for (uint v = 0; v < VW; v++) {
            total = 0;
            split_sums(part + part_off + vb * part_vs, shares, c, j0 + q * VW + v, &t1[v], &t2[v],
                       &total);
        }
        a[4][q] = LOAD_PARTIALS(t1, 0);
        a[5][q] = LOAD_PARTIALS(t2, 0);
    }
    rows_apply_sums(GRADIENT_INPUTS, GRADIENT_OUTPUTS, j0, count, a, (real)total);
}

#endif /* SPLIT */
