/* MPSMatrixBatchNormalizationGradient, training mode, as a two-pass tree reduction.
 *
 * Math per column j (s = 1/sqrt(var + eps), xhat = (x - mean) s, z = gamma xhat + beta,
 * dz = dy f'(z)):  dbeta = sum dz,  dgamma = sum dz xhat,
 *                  dx = gamma s (dz - dbeta/N - xhat dgamma/N).
 * With -DFROZEN=1 (frozen statistics: mean and variance are constants, not functions of the
 * rows) dx = gamma s dz. dgamma and dbeta still need both passes, so every layout below is kept
 * as it is and only the line that combines dx changes (DX_OF): one more program per specialisation
 * where it is used, no argument and no branch in the training-mode kernels.
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
 *   read and written by the same work-item.
 *
 * One launch (bn_gradient_fused), where the library's tuning allows it: the same two passes as
 * work-groups of one NDRange that take tickets in launch order from an atomic counter, so work
 * is ordered by ticket, not by group id. Columns go in tiles of lx VW columns (one group wide) per
 * matrix, tiles in slabs of `slab` adjacent tiles; a slab's pass-1 groups (one per chunk and
 * tile, adjacent tiles of a chunk on consecutive tickets) come before its pass-2 groups, and the
 * ticket order interleaves slabs: pass 1 of slabs 0 .. lag-1, then pass 1 of slab s + lag beside
 * pass 2 of slab s, so the rows pass 2 re-reads were read a moment before and come from the cache
 * (column-slab scheduling), not from DRAM. A slab is about as many groups as the device runs at
 * once, and lag slabs of rows fit in its cache (the library's plan; on the H100 the interleave
 * did not beat two launches on large shapes, so the planner uses this kernel for small ones,
 * where one launch saves a launch's latency: docs/PERFORMANCE.md). The last pass-1 group of a
 * tile to finish (the tile's counter tells it) sums the tile's partials in the fixed order,
 * writes dgamma, dbeta and the tile's totals, and releases the tile's pass-2 groups, which wait
 * on the counter.
 *   No occupancy assumption: a group waits only for groups with smaller tickets, which have
 * started (they took their tickets) and never wait for pass 2; but see forward progress below.
 *   Deterministic: the ticket decides which rows a group reads, never how sums are ordered.
 *   The OpenCL 1.2 memory model leaves communication between groups of one launch to the
 * device: stores, a global fence, then the atomic; the reader spins on the atomic, then fences.
 * The library picks this kernel only on devices known to honour it; elsewhere the two launches.
 *   Counters (sync): [0] ticket, [1] groups finished, [2] gave up, [3 + tile] pass-1 groups done
 * (+1 once the totals are written). The last group to finish zeroes them for the next launch,
 * the ticket last; the library zeroes them when it makes the buffer, and makes a new one after
 * a launch that gave up. A launch that finds the ticket not at zero (an earlier one ended without
 * its reset) gives up instead of trusting the other counters.
 *   Forward progress, exactly what is assumed: (1) a group that has started (taken its ticket)
 * keeps being scheduled while other groups spin, so the groups a waiter waits for finish; (2) a
 * group's global stores, followed by mem_fence(CLK_GLOBAL_MEM_FENCE) and an atomic on a counter,
 * are visible to a group that saw that atomic's result through its own atomic and then fenced.
 * OpenCL 1.2 guarantees neither, so every wait is bounded (spin_limit looks at the counter): a
 * group that gives up writes the launch's number into the gave-up word, skips its work and ends;
 * a ticket past the launch's groups, or a last group that finds a ticket count other than the
 * launch's, does the same. Every give-up first spins through the limit, so the library reads the
 * word back at wait only after a launch slow enough to have given up, and then reports an error
 * status instead of returning wrong results or hanging. Partials of the fused path are per tile,
 * [tile][chunk][slot][pw] with pw = lx VW rounded up to 32 reals (128 bytes or more), so no cache
 * line holds two tiles' values (a cache that kept one could serve a stale copy), and the totals
 * follow them, [tile][slot][pw]. */

#ifndef FROZEN
#define FROZEN 0
#endif

/* dx of one element from its dz, xhat and the column's mean terms (sum / N). */
#if FROZEN
#define DX_OF(scale, dz, xh, mean_dz, mean_dz_xh) ((scale) * (dz))
#else
#define DX_OF(scale, dz, xh, mean_dz, mean_dz_xh)                                            \
    ((scale) * ((dz) - (mean_dz) - (xh) * (mean_dz_xh)))
#endif

#define GRADIENT_INPUT_ARGS                                                                   \
    __global const data_t *dy, ulong dy_off, ulong dy_rs, ulong dy_ms,                        \
    __global const data_t *x, ulong x_off, ulong x_rs, ulong x_ms,                            \
    __global const mean_t *mean, ulong mean_off, ulong mean_vs,                               \
    __global const var_t *var, ulong var_off, ulong var_vs,                                   \
    __global const gamma_t *gamma, ulong gamma_off, ulong gamma_vs,                           \
    __global const beta_t *beta, ulong beta_off, ulong beta_vs,                               \
    float eps, uint n, uint c, uint chunk_rows, uint batch_first,                             \
    __global real *partials, __local realv *lds, float na, float nb, float nc

#define GRADIENT_INPUTS                                                                       \
    dy, dy_off, dy_rs, dy_ms, x, x_off, x_rs, x_ms, mean, mean_off, mean_vs, var, var_off,    \
    var_vs, gamma, gamma_off, gamma_vs, beta, beta_off, beta_vs, eps, n, c, chunk_rows,       \
    batch_first, partials, lds, na, nb, nc

#define GRADIENT_OUTPUT_ARGS                                                                  \
    __global data_t *dx, ulong dx_off, ulong dx_rs, ulong dx_ms,                              \
    __global dgamma_t *dgamma, ulong dgamma_off, ulong dgamma_vs,                             \
    __global dbeta_t *dbeta, ulong dbeta_off, ulong dbeta_vs

#define GRADIENT_OUTPUTS                                                                      \
    dx, dx_off, dx_rs, dx_ms, dgamma, dgamma_off, dgamma_vs, dbeta, dbeta_off, dbeta_vs

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

/* Pass 1 of rows [r0, r1) of columns j .. j+VW-1 of matrix b: sum dz and sum dz xhat over the
 * group's rows (fixed tree over local rows), on every item. Items past C give zeros. */
HELPER void
chunk_sums(GRADIENT_INPUT_ARGS, uint j, uint b, ulong r0, ulong r1, realv *sum_dz,
           realv *sum_dz_xh)
{
    ulong vb = (ulong)batch_first + b;
    realv s1 = R(0.0), s2 = R(0.0);

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
    *sum_dz = s1;
    *sum_dz_xh = s2;
}

/* dgamma and dbeta of columns j .. j+VW-1 (j < C) of matrix b. */
HELPER void
write_parameter_gradients(GRADIENT_OUTPUT_ARGS, uint batch_first, uint j, uint b, realv sum_dz,
                          realv sum_dz_xh)
{
    ulong vb = (ulong)batch_first + b;

    if (dbeta)
        STOREV_KIND(DBETA_KIND, dbeta, dbeta_off + vb * dbeta_vs + j, sum_dz);
    if (dgamma)
        STOREV_KIND(DGAMMA_KIND, dgamma, dgamma_off + vb * dgamma_vs + j, sum_dz_xh);
}

/* Pass 2: dx of rows [r0, r1), columns j .. j+VW-1 (j < C) of matrix b, from the totals over
 * `total` rows (N; the split phases' global N). */
HELPER void
write_dx(GRADIENT_INPUT_ARGS, GRADIENT_OUTPUT_ARGS, uint j, uint b, ulong r0, ulong r1,
         realv sum_dz, realv sum_dz_xh, real total)
{
    ulong vb = (ulong)batch_first + b;
    COLUMN_CONSTANTS(vb, j);
    realv scale = g * is;
#if !FROZEN
    realv mean_dz = sum_dz / total, mean_dz_xh = sum_dz_xh / total;
#endif
    __global const data_t *dyb = dy + dy_off + vb * dy_ms + j;
    __global const data_t *xb = x + x_off + vb * x_ms + j;
    __global data_t *dxb = dx + dx_off + vb * dx_ms + j;

    for (ulong i = r0 + get_local_id(1); i < r1; i += get_local_size(1)) {
        ROW_TERMS(i, xh, dz);
        STOREV(dxb, i * dx_rs, DX_OF(scale, dz, xh, mean_dz, mean_dz_xh));
    }
}

__kernel void
bn_gradient_partials(GRADIENT_INPUT_ARGS)
{
    uint j = get_global_id(0) * VW, b = get_global_id(2), chunk = get_group_id(1);
    ulong r0, r1;
    realv s1, s2;

    chunk_rows_of(chunk, n, chunk_rows, &r0, &r1);
    chunk_sums(GRADIENT_INPUTS, j, b, r0, r1, &s1, &s2);
    if (get_local_id(1) == 0 && j < c) {
        STORE_PARTIALS(partials, partial_index(b, chunk, get_num_groups(1), 0, c, j), s1);
        STORE_PARTIALS(partials, partial_index(b, chunk, get_num_groups(1), 1, c, j), s2);
    }
}

__kernel void
bn_gradient_apply(GRADIENT_INPUT_ARGS, GRADIENT_OUTPUT_ARGS)
{
    uint j = get_global_id(0) * VW, b = get_global_id(2), chunk = apply_chunk();
    ulong r0, r1;
    realv sum_dz, sum_dz_xh;

    column_totals(partials, b, get_num_groups(1), c, j, j < c, 2, lds, &sum_dz, &sum_dz_xh);
    if (j >= c)
        return;
    if (chunk == 0 && get_local_id(1) == 0)
        write_parameter_gradients(GRADIENT_OUTPUTS, batch_first, j, b, sum_dz, sum_dz_xh);
    chunk_rows_of(chunk, n, chunk_rows, &r0, &r1);
    write_dx(GRADIENT_INPUTS, GRADIENT_OUTPUTS, j, b, r0, r1, sum_dz, sum_dz_xh, (real)n);
}

/* ---- one group per column tile ----
 *
 * For short columns (the library's plan: few rows, a device that gains from one launch): a
 * group holds all N rows of its columns, so both passes run in one group, one launch, and no group
 * waits for another. Pass 2 re-reads what pass 1 just read, from the cache. Each item sums at most
 * 128 rows (two accumulators of 64), as the two launches' plan guarantees; the same tree. Global
 * size as the two launches' with one chunk. */
__kernel void
bn_gradient_tile(GRADIENT_INPUT_ARGS, GRADIENT_OUTPUT_ARGS)
{
    uint j = get_global_id(0) * VW, b = get_global_id(2);
    realv sum_dz, sum_dz_xh;

    chunk_sums(GRADIENT_INPUTS, j, b, 0, n, &sum_dz, &sum_dz_xh);
    if (j >= c)
        return;
    if (get_local_id(1) == 0)
        write_parameter_gradients(GRADIENT_OUTPUTS, batch_first, j, b, sum_dz, sum_dz_xh);
    write_dx(GRADIENT_INPUTS, GRADIENT_OUTPUTS, j, b, 0, n, sum_dz, sum_dz_xh, (real)n);
}

/* ---- one launch ---- */

/* Which slab a block of consecutive tickets serves, and in which pass: see the top. */
HELPER void
decode_block(uint block, uint slabs, uint lag, uint *slab, bool *pass2)
{
    uint rest;

    if (block < lag) {
        *slab = block;
        *pass2 = false;
    } else if ((rest = block - lag) < 2 * (slabs - lag)) {
        *slab = rest % 2 ? rest / 2 : lag + rest / 2;
        *pass2 = rest % 2 != 0;
    } else {
        *slab = slabs - lag + (rest - 2 * (slabs - lag));
        *pass2 = true;
    }
}

/* Global size (lx * 2 * tiles * chunks, ly), where tiles = col_tiles * batches, a multiple of
 * slab. Every barrier is reached by every group in the same straight line, whatever its pass:
 * work a group does not have is an empty row range or a flag, never a branch around a barrier
 * (which some compilers, PoCL 3's among them, mishandle). A group whose ticket is out of range,
 * or that gave up waiting, does no work and writes nothing of the caller's. */
__kernel void
bn_gradient_fused(GRADIENT_INPUT_ARGS, GRADIENT_OUTPUT_ARGS, volatile __global uint *sync,
                  uint col_tiles, uint tiles, uint chunks, uint spin_limit, uint launch,
                  uint slab, uint lag)
{
    __local uint word;
    uint tw = get_local_size(0) * VW, pw = (tw + 31) / 32 * 32, pj = get_local_id(0) * VW;
    uint groups = 2 * tiles * chunks;
    uint ticket = group_ticket(sync, groups, spin_limit, launch, &word);
    bool live = ticket < groups;
    uint within, block = div_rem(live ? ticket : 0, slab * chunks, &within), in_slab;
    uint chunk = div_rem(within, slab, &in_slab), tile, col_tile, b, j, done;
    bool pass1, pass2, last;
    __global real *totals = partials + (ulong)tiles * chunks * 2 * pw;
    ulong r0, r1;
    realv s1, s2;

    decode_block(block, tiles / slab, lag, &tile, &pass2);
    pass1 = live && !pass2;
    pass2 = live && pass2;
    tile = tile * slab + in_slab;
    b = div_rem(tile, col_tiles, &col_tile);
    j = col_tile * tw + pj;
    /* Pass 2 goes through a tile's chunks backwards: the rows pass 1 read last come first. */
    chunk_rows_of(pass2 ? chunks - 1 - chunk : chunk, n, chunk_rows, &r0, &r1);

    /* Pass 1: the chunk's partials, published before the tile's count. */
    chunk_sums(GRADIENT_INPUTS, j, b, r0, pass1 ? r1 : r0, &s1, &s2);
    if (pass1 && get_local_id(1) == 0) {
        STORE_PARTIALS(partials, partial_index(tile, chunk, chunks, 0, pw, pj), s1);
        STORE_PARTIALS(partials, partial_index(tile, chunk, chunks, 1, pw, pj), s2);
    }
    mem_fence(CLK_GLOBAL_MEM_FENCE);
    done = group_atomic_add(&sync[SYNC_TILES + tile], pass1 ? 1 : 0, &word);

    /* The tile's last pass-1 group: totals, dgamma, dbeta, then the count past chunks. */
    last = pass1 && done == chunks - 1;
    mem_fence(CLK_GLOBAL_MEM_FENCE);
    column_totals(partials, tile, chunks, pw, pj, last, last ? 2 : 0, lds, &s1, &s2);
    if (last && get_local_id(1) == 0) {
        STORE_PARTIALS(totals, ((ulong)tile * 2 + 0) * pw + pj, s1);
        STORE_PARTIALS(totals, ((ulong)tile * 2 + 1) * pw + pj, s2);
        if (j < c)
            write_parameter_gradients(GRADIENT_OUTPUTS, batch_first, j, b, s1, s2);
    }
    mem_fence(CLK_GLOBAL_MEM_FENCE);
    group_atomic_add(&sync[SYNC_TILES + tile], last ? 1 : 0, &word);

    /* Pass 2: once the tile's totals are out, dx of the chunk. */
    if (group_wait_past(sync, &sync[SYNC_TILES + tile], chunks, pass2, spin_limit, launch,
                        &word) &&
        pass2 && j < c)
        write_dx(GRADIENT_INPUTS, GRADIENT_OUTPUTS, j, b, r0, r1,
                 LOAD_PARTIALS(totals, ((ulong)tile * 2 + 0) * pw + pj),
                 LOAD_PARTIALS(totals, ((ulong)tile * 2 + 1) * pw + pj), (real)n);
    group_finish(sync, groups, tiles, spin_limit, launch, &word);
}

/* ---- row streaming, for CPUs ----
 *
 * A CPU core runs a work-group's items one after another, so the layout above (an item per VW
 * columns, walking down rows) reads memory in strips of a group's width, a row stride apart. Here
 * a group is one item that streams whole rows of a column tile: global (column tiles, chunks,
 * matrices), local 1 x 1 x 1, tile_items VW-columns per tile. The per-column constants and sums
 * live in local memory (ROWS_ARRAYS arrays of tile_items realv in lds, common.clh), which a CPU
 * keeps in its cache. Sums go in blocks of ROW_BLOCK rows, fresh accumulators per block added into
 * the chunk's, so no sequence of additions is longer than ROW_BLOCK + chunk_rows / ROW_BLOCK.
 * Partials and totals are those of the two launches above, in the same layout. */
HELPER void
load_tile_constants(GRADIENT_INPUT_ARGS, ulong vb, uint j0, uint count, __local realv *lmu,
                    __local realv *lis, __local realv *lg, __local realv *lbt)
{
    for (uint q = 0; q < count; q++) {
        COLUMN_CONSTANTS(vb, j0 + q * VW);
        lmu[q] = mu;
        lis[q] = is;
        lg[q] = g;
        lbt[q] = bt;
    }
}

/* sum[q] += rows r0 .. r1-1's dz (and dz xhat) of the tile, in blocks of ROW_BLOCK rows. */
HELPER void
tile_rows_sums(GRADIENT_INPUT_ARGS, ulong vb, uint j0, uint count, ulong r0, ulong r1,
               __local realv *const *k, __local realv *s1, __local realv *s2, __local realv *b1,
               __local realv *b2)
{
    __global const data_t *dyb = dy + dy_off + vb * dy_ms + j0;
    __global const data_t *xb = x + x_off + vb * x_ms + j0;
    __local realv *lmu = k[0], *lis = k[1], *lg = k[2], *lbt = k[3];

    for (ulong r = r0; r < r1; r += ROW_BLOCK) {
        for (uint q = 0; q < count; q++)
            b1[q] = b2[q] = R(0.0);
        for (ulong i = r; i < min(r + ROW_BLOCK, r1); i++) {
            __global const data_t *xr = xb + i * x_rs, *dyr = dyb + i * dy_rs;
            for (uint q = 0; q < count; q++) {
                realv xh = (LOADV(xr, q * VW) - lmu[q]) * lis[q];
                realv dz = LOADV(dyr, q * VW) * MAPV(neuron_df, lg[q] * xh + lbt[q], na, nb, nc);
                b1[q] += dz;
                b2[q] += dz * xh;
            }
        }
        for (uint q = 0; q < count; q++) {
            s1[q] += b1[q];
            s2[q] += b2[q];
        }
    }
}

HELPER void
rows_partials(GRADIENT_INPUT_ARGS, uint tile_items)
{
    uint b = get_global_id(2), chunk = get_group_id(1), chunks = get_num_groups(1), count;
    uint j0 = tile_columns(c, tile_items, &count);
    ulong vb = (ulong)batch_first + b, r0, r1;
    __local realv *a[ROWS_ARRAYS];

    tile_arrays(lds, tile_items, a);
    load_tile_constants(GRADIENT_INPUTS, vb, j0, count, a[0], a[1], a[2], a[3]);
    for (uint q = 0; q < count; q++)
        a[4][q] = a[5][q] = R(0.0);
    chunk_rows_of(chunk, n, chunk_rows, &r0, &r1);
    tile_rows_sums(GRADIENT_INPUTS, vb, j0, count, r0, r1, a, a[4], a[5], a[6], a[7]);
    for (uint q = 0; q < count; q++) {
        STORE_PARTIALS(partials, partial_index(b, chunk, chunks, 0, c, j0 + q * VW), a[4][q]);
        STORE_PARTIALS(partials, partial_index(b, chunk, chunks, 1, c, j0 + q * VW), a[5][q]);
    }
}

/* dgamma and dbeta (chunk 0) and dx of the chunk's rows, from the tile's constants (a[0..3]),
 * its column sums (a[4], a[5]) and the row count they cover. Chunks in reverse order
 * (apply_chunk: the rows pass 1 read last are the likeliest in the cache), each chunk's rows
 * first to last (a CPU prefetches forward streams best). */
HELPER void
rows_apply_sums(GRADIENT_INPUT_ARGS, GRADIENT_OUTPUT_ARGS, uint j0, uint count,
                __local realv *const *a, real total)
{
    uint b = get_global_id(2), chunk = apply_chunk();
    ulong vb = (ulong)batch_first + b, r0, r1;
    __local realv *lmu = a[0], *lis = a[1], *lg = a[2], *lbt = a[3], *mdz = a[4], *mdzxh = a[5];
    __local realv *scale = a[6];
    __global const data_t *dyb = dy + dy_off + vb * dy_ms + j0;
    __global const data_t *xb = x + x_off + vb * x_ms + j0;
    __global data_t *dxb = dx + dx_off + vb * dx_ms + j0;

    for (uint q = 0; q < count; q++) {
        if (chunk == 0)
            write_parameter_gradients(GRADIENT_OUTPUTS, batch_first, j0 + q * VW, b, mdz[q],
                                      mdzxh[q]);
#if !FROZEN
        mdz[q] /= total;
        mdzxh[q] /= total;
#endif
        scale[q] = lg[q] * lis[q];
    }
    chunk_rows_of(chunk, n, chunk_rows, &r0, &r1);
    for (ulong i = r0; i < r1; i++) {
        __global const data_t *xr = xb + i * x_rs, *dyr = dyb + i * dy_rs;
        __global data_t *dxr = dxb + i * dx_rs;
        for (uint q = 0; q < count; q++) {
            realv xh = (LOADV(xr, q * VW) - lmu[q]) * lis[q];
            realv dz = LOADV(dyr, q * VW) * MAPV(neuron_df, lg[q] * xh + lbt[q], na, nb, nc);
            STOREV(dxr, q * VW, DX_OF(scale[q], dz, xh, mdz[q], mdzxh[q]));
        }
    }
}

HELPER void
rows_apply(GRADIENT_INPUT_ARGS, GRADIENT_OUTPUT_ARGS, uint tile_items)
{
    uint b = get_global_id(2), chunks = get_num_groups(1), count;
    uint j0 = tile_columns(c, tile_items, &count);
    ulong vb = (ulong)batch_first + b;
    __local realv *a[ROWS_ARRAYS];

    tile_arrays(lds, tile_items, a);
    load_tile_constants(GRADIENT_INPUTS, vb, j0, count, a[0], a[1], a[2], a[3]);
    tile_totals(partials, b, chunks, c, j0, count, 2, a[4], a[5], a[6], a[7]);
    rows_apply_sums(GRADIENT_INPUTS, GRADIENT_OUTPUTS, j0, count, a, (real)n);
}

__kernel void
bn_gradient_rows_partials(GRADIENT_INPUT_ARGS, uint tile_items)
{
    rows_partials(GRADIENT_INPUTS, tile_items);
}

__kernel void
bn_gradient_rows_apply(GRADIENT_INPUT_ARGS, GRADIENT_OUTPUT_ARGS, uint tile_items)
{
    rows_apply(GRADIENT_INPUTS, GRADIENT_OUTPUTS, tile_items);
}

/* Both passes in one launch where every group holds all rows of its tile (one chunk), as
 * bn_forward_rows_whole does the forward's: the item reads back the partials it wrote. */
__kernel void
bn_gradient_rows_whole(GRADIENT_INPUT_ARGS, GRADIENT_OUTPUT_ARGS, uint tile_items)
{
    rows_partials(GRADIENT_INPUTS, tile_items);
    rows_apply(GRADIENT_INPUTS, GRADIENT_OUTPUTS, tile_items);
}
