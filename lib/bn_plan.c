/* The launch planner (bn_plan.h): layouts and their geometry. */
#include "config.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "bn_plan.h"

static size_t
pow2_floor(size_t v)
{
    size_t p = 1;
    while (p * 2 <= v)
        p *= 2;
    return p;
}

static size_t
pow2_ceil(size_t v)
{
    size_t p = 1;
    while (p < v)
        p *= 2;
    return p;
}

static size_t
isqrt(size_t v)
{
    size_t r = 0;
    while ((r + 1) * (r + 1) <= v)
        r++;
    return r;
}

/* First match wins: vendor, then type and name. The figures behind each row are in
 * docs/PERFORMANCE.md: the one launch up to 8 MB and one group per column tile up to N = 512 on
 * the H100 and H200; row streaming on CPUs, where a group's items run one after another (one
 * row per group in the work-group layout there, where MPSCL_TUNE=rows=0 asks for it: a tree over
 * rows would cost a pass through local memory per level and buy nothing). */
static const mpscl__bn_tuning tuning_table[] = {
    {.vendor_id = 0x10de, .type = CL_DEVICE_TYPE_GPU, .name = "H100",
     .one_launch_bytes = 8u << 20, .cache_bytes = 50u << 20, .threads = 2048, .tile_rows = 512},
    {.vendor_id = 0x10de, .type = CL_DEVICE_TYPE_GPU, .name = "H200",
     .one_launch_bytes = 8u << 20, .cache_bytes = 50u << 20, .threads = 2048, .tile_rows = 512},
    {.vendor_id = 0x10de, .type = CL_DEVICE_TYPE_GPU, .name = "A100",
     .one_launch_bytes = 8u << 20, .cache_bytes = 40u << 20, .threads = 2048},
    {.vendor_id = 0x10de, .type = CL_DEVICE_TYPE_GPU, .name = "",
     .one_launch_bytes = 4u << 20, .threads = 1536},
    {.vendor_id = 0, .type = CL_DEVICE_TYPE_CPU, .name = "", .group_rows = 1, .row_streaming = 1},
};

const mpscl__bn_tuning *
mpscl__bn_tuning_of(const mpscl__device_caps *d)
{
    for (size_t i = 0; i < sizeof tuning_table / sizeof tuning_table[0]; i++) {
        const mpscl__bn_tuning *t = &tuning_table[i];
        if ((t->vendor_id == 0 || d->vendor_id == t->vendor_id) && (d->type & t->type) != 0 &&
            strstr(d->name, t->name) != NULL)
            return t;
    }
    return NULL;
}
static int
uses_one_launch(const mpscl__bn_plan_input *in, const mpscl__bn_tuning *t, const mpscl__bn_plan *p)
{
    if ((!in->is_gradient && !in->compute_statistics) || in->split ||
        in->tune->fused == MPSCL__OFF)
        return 0;   /* the forward without statistics is one launch anyway */
    return in->tune->fused == MPSCL__ON ||
           (t != NULL && p->n * p->c * p->batches * mpscl_data_type_size(p->type) <=
                             t->one_launch_bytes);
}

size_t
mpscl__bn_one_launch_passes(const mpscl__bn_plan_input *in)
{
    return in->is_gradient ? 2 : 3;
}

/* Row chunks: the planner's count, or MPSCL_TUNE's, within [1, min(most, 1024)]; then rows per
 * chunk, and the chunks those make (none empty). */
static void
set_chunks(const mpscl__bn_plan_input *in, mpscl__bn_plan *p, size_t chunks, size_t most)
{
    if (in->tune->chunks != 0)
        chunks = in->tune->chunks;
    if (chunks > most)
        chunks = most;
    if (chunks > 1024)
        chunks = 1024;
    if (chunks == 0)
        chunks = 1;
    p->chunk_rows = (p->n + chunks - 1) / chunks;
    p->chunks = (p->n + p->chunk_rows - 1) / p->chunk_rows;
}

static size_t
largest_divisor_at_most(size_t v, size_t most)
{
    size_t d = most < v ? most : v;

    while (d > 1 && v % d != 0)
        d--;
    return d;
}

/* The one-launch gradient: column tiles of one group's width (lx VW columns) per matrix. A slab of
 * tiles and chunks is about the groups the device runs at once (resident): fewer, and several
 * slabs' rows compete for the cache; chunks of at least 4 rows per item (and at most 128: the
 * two launches' precision bound). Slabs of rows in a third of the cache, and as many slabs of
 * pass 1 ahead of pass 2 (lag) as fit there too: a third for pass 1's slab, a third for the
 * slab pass 2 re-reads, a third for what else is about. */
static void
plan_one_launch(const mpscl__bn_plan_input *in, const mpscl__bn_tuning *t, mpscl__bn_plan *plan)
{
    /* Planned on a copy: a bail-out leaves the two launches' plan exactly as it was. */
    mpscl__bn_plan one = *plan, *p = &one;
    size_t items = (p->c + p->vw - 1) / p->vw, tw = p->lx * p->vw, wg = p->lx * p->ly;
    size_t threads = t != NULL ? t->threads : 1024;
    size_t resident = in->device->compute_units * (threads / wg > 0 ? threads / wg : 1);
    size_t cache = t != NULL && t->cache_bytes != 0 ? t->cache_bytes
                   : in->device->cache_bytes != 0    ? (size_t)in->device->cache_bytes
                                                    : (4u << 20);
    size_t tile_bytes = p->n * tw * mpscl_data_type_size(p->type) * 2;
    size_t chunks = p->n / (p->ly * 4), precise = (p->n + p->ly * 128 - 1) / (p->ly * 128);
    size_t most = (p->n + p->ly - 1) / p->ly, slab, lag;

    if (chunks > resident)
        chunks = resident;
    if (chunks < precise)
        chunks = precise;
    set_chunks(in, p, chunks, most);
    p->col_tiles = (items + p->lx - 1) / p->lx;
    p->tiles = p->col_tiles * p->batches;
    if (mpscl__bn_one_launch_passes(in) * p->tiles * p->chunks >= (1u << 24))
        return;     /* tickets past 2^24 (common.clh's div_rem): the two launches */
    slab = (resident + p->chunks - 1) / p->chunks;
    if (slab * tile_bytes > cache / 3)
        slab = cache / 3 / tile_bytes;
    if (in->tune->slab != 0)
        slab = in->tune->slab;
    p->slab = largest_divisor_at_most(p->tiles, slab > 0 ? slab : 1);
    lag = in->tune->lag != 0 ? in->tune->lag : cache / 3 / (p->slab * tile_bytes);
    if (lag < 1)
        lag = 1;
    p->lag = lag < p->tiles / p->slab ? lag : p->tiles / p->slab;
    p->fused = 1;
    *plan = one;
}

/* Row streaming: arrays of a tile's columns the kernels keep in local memory (ROWS_ARRAYS). */
enum { ROWS_ARRAYS = 8 };

/* The split phases stream rows in the default mode, whose kernels have a row-streaming form
 * (the binned sums have one layout). */
static int
uses_rows(const mpscl__bn_plan_input *in, const mpscl__bn_tuning *t)
{
    if ((in->split && in->repro) || in->tune->rows == MPSCL__OFF ||
        in->tune->fused == MPSCL__ON)
        return 0;
    return in->tune->rows == MPSCL__ON || (t != NULL && t->row_streaming);
}

/* One chunk per tile for short matrices: up to WHOLE_ROWS rows, two of the kernels' blocks of
 * 64 (ROW_BLOCK), so no sum runs longer than 66 additions, as short as the tile layout's on GPUs
 * (a taller chunk loses accuracy the tests notice); and a tile's rows, up to WHOLE_TILE_BYTES of
 * x (and dy for the gradient), stay in a core's cache between the passes. */
enum { WHOLE_ROWS = 128, WHOLE_TILE_BYTES = 256u << 10 };

/* Tile width (items) for one chunk per tile: two groups per compute unit where the rows of such a
 * tile fit the bounds above; 0 where they do not, or where MPSCL_TUNE fixes the tile or chunks. */
static size_t
whole_tile_items(const mpscl__bn_plan_input *in, const mpscl__bn_plan *p, size_t items,
                 size_t tile)
{
    size_t want = 2 * (size_t)in->device->compute_units;
    size_t per_matrix = (want + p->batches - 1) / p->batches, narrow;

    if (in->tune->lx != 0 || in->tune->chunks != 0 || p->n > WHOLE_ROWS)
        return 0;
    narrow = (items + per_matrix - 1) / per_matrix;
    if (narrow > tile)
        narrow = tile;
    if (narrow == 0)
        narrow = 1;
    if (p->n * narrow * p->vw * mpscl__bn_real_size(p) * (in->is_gradient ? 2 : 1) >
        WHOLE_TILE_BYTES)
        return 0;
    return narrow;
}

/* Row streaming: tiles of as many VW columns as the kernels' arrays fit in a quarter of local
 * memory, at most 64 KB (a core's L2 keeps them beside the rows passing through); about 4 groups
 * per compute unit, so uneven progress of the cores evens out; no more chunks than sqrt(N), which
 * keeps pass 2's sum over every chunk's partials well below the rows it streams. Short matrices
 * instead take one chunk per (narrower) tile, and then every pass runs in one launch: on a CPU a
 * launch costs more than the passes over a tile its cache holds. */
static void
plan_rows(const mpscl__bn_plan_input *in, mpscl__bn_plan *p)
{
    size_t items = (p->c + p->vw - 1) / p->vw;
    size_t per_item = ROWS_ARRAYS * p->vw * mpscl__bn_real_size(p);
    size_t budget = (size_t)(in->device->local_mem_size / 4), tile, groups, chunks, cheap, whole;

    if (budget > (64u << 10))
        budget = 64u << 10;
    tile = in->tune->lx != 0 ? in->tune->lx : budget / per_item;
    if (tile > in->device->local_mem_size / per_item)
        tile = (size_t)(in->device->local_mem_size / per_item);   /* MPSCL_TUNE never fails */
    if (tile > items)
        tile = items;
    if (tile == 0)
        tile = 1;
    groups = ((items + tile - 1) / tile) * p->batches;
    chunks = (4 * (size_t)in->device->compute_units + groups - 1) / groups;
    cheap = isqrt(p->n);
    if (chunks > cheap)
        chunks = cheap;
    if (chunks > 1 && (whole = whole_tile_items(in, p, items, tile)) != 0) {
        tile = whole;
        chunks = 1;
    }
    p->lx = tile;
    p->ly = 1;
    p->col_tiles = (items + tile - 1) / tile;
    set_chunks(in, p, chunks, p->n);
    p->rows = 1;
}

/* One group per column tile (bn_gradient_tile, bn_forward_tile with statistics): where the
 * columns are short (the table's tile_rows), and each item sums at most 128 rows, the precision
 * bound of the two launches' plan. */
static int
uses_tile(const mpscl__bn_plan_input *in, const mpscl__bn_tuning *t, const mpscl__bn_plan *p)
{
    if ((!in->is_gradient && !in->compute_statistics) || in->split || in->tune->tile == MPSCL__OFF ||
        in->tune->fused == MPSCL__ON || p->n > 128 * p->ly)
        return 0;
    return in->tune->tile == MPSCL__ON || (t != NULL && p->n <= t->tile_rows);
}

/* Tiles of 8 items (32 columns of 4: 128-byte rows, whole cache lines), twice the groups of the
 * two launches' 16, and 256 items: the fastest on the H100 of the sizes tried (docs/PERFORMANCE.md;
 * 128x512 9.8 us against 11.4 with 16 items, 256x16384 29 against 30 and 42 with 4). */
static void
plan_tile(const mpscl__bn_plan_input *in, mpscl__bn_plan *p)
{
    size_t wg = p->lx * p->ly;

    if (in->tune->lx == 0 && p->lx > 8) {
        p->lx = 8;
        p->ly = wg / 8;
        if (p->ly > pow2_ceil(p->n))
            p->ly = pow2_ceil(p->n);
    }
    p->chunks = 1;
    p->chunk_rows = p->n;
    p->tile = 1;
}

/* Reals of scratch the plan needs: [batch][chunk][slot][c] partials for the two launches, then
 * the forward's [batch][c] shifts;
 * [tile][chunk][slot][pw] partials and two [tile][slot][pw] rows of totals for the one launch
 * (pw: the tile width rounded up to 32, as the fused kernels lay them out). */
static size_t
scratch_reals(const mpscl__bn_plan *p)
{
    size_t pw = (p->lx * p->vw + 31) / 32 * 32;

    if (p->fused)
        return p->tiles * (p->chunks + 2) * 2 * pw;
    return p->batches * (p->chunks * 2 + 1) * p->c;
}

/* Work-group of up to 256 items: 256 bytes of a row across (16 items of 4 columns, 8 of 8, or 32
 * of 1 when C is not a multiple of 4: whole cache lines, coalesced), the rest rows.
 * Row chunks, in order of precedence:
 *  - enough that no accumulator sums more than 64 rows in sequence (a work-item keeps two, for
 *    alternate rows, so 128 rows per item): a sequential fp32 sum's error grows with its length,
 *    the trees above it only with the logarithm;
 *  - few enough that pass 2 stays cheap: each pass-2 group re-reads every chunk's partials of
 *    its columns, chunks x width against its own chunk_rows x width of data, so chunks^2 / N is
 *    the overhead: at most sqrt(N / 4) chunks keeps it under a quarter;
 *  - otherwise about 8 groups per compute unit (a full wave on GPUs), at most 1024. */
static void
plan_work_groups(const mpscl__bn_plan_input *in, const mpscl__bn_tuning *t, mpscl__bn_plan *p)
{
    size_t want = in->tune->wg != 0 ? in->tune->wg : 256;
    size_t wg = pow2_floor(in->kernel_wg_max < want ? in->kernel_wg_max : want);
    size_t items = (p->c + p->vw - 1) / p->vw;
    size_t lx = pow2_ceil(items), ly, col_groups, chunks, precise, cheap;

    if (lx > (p->vw == 1 ? 32u : 64u / p->vw))
        lx = p->vw == 1 ? 32u : 64u / p->vw;
    if (in->tune->lx != 0)
        lx = in->tune->lx;
    if (lx > wg)
        lx = wg;
    ly = pow2_floor(wg / lx);   /* lx is a power of two from MPSCL_TUNE; the tests try others */
    if (in->tune->wg == 0 && t != NULL && t->group_rows != 0 && ly > t->group_rows) {
        size_t most_ly = ly;
        /* ... but no more than 32 rows per item in the 1024 chunks at most. */
        ly = t->group_rows;
        while (ly < most_ly && p->n > ly * 32 * 1024)
            ly *= 2;
    }
    if (ly > pow2_ceil(p->n))
        ly = pow2_ceil(p->n);
    col_groups = (items + lx - 1) / lx;
    chunks = (8 * (size_t)in->device->compute_units + col_groups - 1) / col_groups;
    cheap = isqrt(p->n / 4);
    if (chunks > cheap)
        chunks = cheap;
    precise = (p->n + ly * 128 - 1) / (ly * 128);
    if (chunks < precise)
        chunks = precise;
    p->lx = lx;
    p->ly = ly;
    set_chunks(in, p, chunks, (p->n + ly - 1) / ly);
}

/* The layout, then its geometry: row streaming (CPUs), or work-groups of items across columns,
 * as two launches or, from there, one group per column tile or the one launch. */
static void
plan_launch(const mpscl__bn_plan_input *in, const mpscl__bn_tuning *t, mpscl__bn_plan *p)
{
    if (uses_rows(in, t)) {
        plan_rows(in, p);
    } else {
        plan_work_groups(in, t, p);
        if (uses_tile(in, t, p))
            plan_tile(in, p);
        else if (uses_one_launch(in, t, p))
            plan_one_launch(in, t, p);
    }
}


size_t
mpscl__bn_partial_words(int is_gradient, int reproducible, size_t c)
{
    size_t planes = reproducible ? MPSCL__BINS_PLANES * (is_gradient ? 2 : 1)
                                 : is_gradient ? 2 : 3;

    return MPSCL__PARTIAL_HEADER + planes * c;
}

/* The binned sums: items of 32 columns (128-byte rows of fp32) by the rest of up to 256 items in
 * rows, as the two launches' groups (one row on CPUs, the table's group_rows); chunks for about 8
 * groups per compute unit, no precision bound on their length (the sums are exact), at most
 * 1024. Two accumulators per item in local memory, fewer rows where that does not fit. */
static void
plan_bins(const mpscl__bn_plan_input *in, const mpscl__bn_tuning *t, mpscl__bn_plan *p)
{
    size_t want = in->tune->wg != 0 ? in->tune->wg : 256;
    size_t wg = pow2_floor(in->kernel_wg_max < want ? in->kernel_wg_max : want);
    size_t lx = pow2_ceil(p->c), ly, groups, chunks;

    if (lx > 32)
        lx = 32;
    if (in->tune->lx != 0)
        lx = in->tune->lx;
    if (lx > wg)
        lx = wg;
    ly = pow2_floor(wg / lx);   /* lx is a power of two from MPSCL_TUNE; the tests try others */
    if (in->tune->wg == 0 && t != NULL && t->group_rows != 0 && ly > t->group_rows)
        ly = t->group_rows;
    if (ly > pow2_ceil(p->n))
        ly = pow2_ceil(p->n);
    while (ly > 1 && 2 * lx * ly * MPSCL__BINS_BYTES > in->device->local_mem_size)
        ly /= 2;
    groups = (p->c + lx - 1) / lx * p->batches;
    chunks = (8 * (size_t)in->device->compute_units + groups - 1) / groups;
    if (in->tune->chunks != 0)
        chunks = in->tune->chunks;
    if (chunks > (p->n + ly - 1) / ly)
        chunks = (p->n + ly - 1) / ly;
    if (chunks > 1024)
        chunks = 1024;
    if (chunks == 0)
        chunks = 1;
    p->rlx = lx;
    p->rly = ly;
    p->rchunk_rows = (p->n + chunks - 1) / chunks;
    p->rchunks = (p->n + p->rchunk_rows - 1) / p->rchunk_rows;
    p->naccs = in->is_gradient ? 2 : 1;
    p->sums_words = p->batches * p->rchunks * p->naccs * MPSCL__BINS_PLANES * p->c;
    p->partial_words = mpscl__bn_partial_words(in->is_gradient, 1, p->c);
    p->bins_local_bytes = 2 * lx * ly * MPSCL__BINS_BYTES;
}

size_t
mpscl__bn_real_size(const mpscl__bn_plan *p)
{
    return p->type == MPSCL_DATA_TYPE_FLOAT64 ? sizeof(double) : sizeof(float);
}

/* Vector loads of VW columns need C to be a multiple of VW (vloadn itself asks only for element
 * alignment, so origins and strides are free). 8 where a CPU streams rows: twice the columns per
 * instruction (AVX), 20 % more bandwidth on PoCL; 4 on GPUs, 16 bytes, an item's widest load. */
size_t
mpscl__bn_plan_vector_width(const mpscl__bn_plan_input *in, size_t c)
{
    size_t widest = in->tune->vw != 0 ? in->tune->vw : uses_rows(in, in->tuning) ? 8 : 4;

    return widest >= 8 && c % 8 == 0 ? 8 : widest >= 4 && c % 4 == 0 ? 4 : 1;
}

static int
is_pow2(size_t v)
{
    return v != 0 && (v & (v - 1)) == 0;
}

/* What the kernels rely on, whatever the tuning or the overrides asked for. */
static void
assert_invariants(const mpscl__bn_plan_input *in, const mpscl__bn_plan *p)
{
    assert(p->vw == 1 || p->vw == 4 || p->vw == 8);
    assert(p->c % p->vw == 0 || p->vw == 1);
    assert(p->lx >= 1 && is_pow2(p->ly));
    assert(p->rows ? p->ly == 1 : p->lx * p->ly <= in->kernel_wg_max);
    assert(p->local_bytes <= in->device->local_mem_size);
    /* Chunks cover the rows, none empty, within the 1024 the scratch layout allows. */
    assert(p->chunks >= 1 && p->chunks <= 1024);
    assert(p->chunks * p->chunk_rows >= p->n && (p->chunks - 1) * p->chunk_rows < p->n);
    assert(!p->tile || (p->chunks == 1 && p->n <= 128 * p->ly));
    assert(p->rows + p->tile + p->fused <= 1);
    assert(!in->split || p->tile + p->fused == 0);
    assert(!in->split || !p->rows || !in->repro);
    assert(!in->repro || (p->rchunks >= 1 && p->rchunks <= 1024 && is_pow2(p->rly) &&
                          p->rlx * p->rly <= in->kernel_wg_max &&
                          p->rchunks * p->rchunk_rows >= p->n &&
                          p->bins_local_bytes <= in->device->local_mem_size));
    if (p->fused) {
        assert(p->tiles == p->col_tiles * p->batches && p->slab >= 1 && p->tiles % p->slab == 0);
        assert(p->lag >= 1 && p->lag <= p->tiles / p->slab);
        assert(mpscl__bn_one_launch_passes(in) * p->tiles * p->chunks < (1u << 24));
        assert(p->sync_words == MPSCL__SYNC_TILE_WORDS + p->tiles);
    } else {
        assert(p->sync_words == 0);
    }
}

void
mpscl__bn_plan_launch(const mpscl__bn_plan_input *in, mpscl__bn_plan *p)
{
    mpscl__bn_plan plan = {0};

    assert(p->n > 0 && p->c > 0 && p->batches > 0);
    plan.n = p->n;
    plan.c = p->c;
    plan.batch_first = p->batch_first;
    plan.batches = p->batches;
    plan.type = p->type;
    memcpy(plan.vector_types, p->vector_types, sizeof plan.vector_types);
    plan.split = p->split;
    plan.repro = p->repro;
    plan.empty = p->empty;
    plan.round = p->round;
    plan.count = p->count;
    plan.vw = mpscl__bn_plan_vector_width(in, p->c);
    plan_launch(in, in->tuning, &plan);
    plan.scratch_bytes = scratch_reals(&plan) * mpscl__bn_real_size(&plan);
    plan.column_lx = in->kernel_wg_max < 64 ? pow2_floor(in->kernel_wg_max) : 64;
    if (in->repro) {
        size_t words;
        plan_bins(in, in->tuning, &plan);
        words = plan.sums_words + plan.batches * plan.partial_words;
        if (words * sizeof(cl_uint) > plan.scratch_bytes)
            plan.scratch_bytes = words * sizeof(cl_uint);
    }
    plan.sync_words = plan.fused ? MPSCL__SYNC_TILE_WORDS + plan.tiles : 0;
    plan.local_bytes = (plan.rows ? ROWS_ARRAYS : 2) * plan.lx * plan.ly * plan.vw *
                       mpscl__bn_real_size(&plan);
    assert_invariants(in, &plan);
    *p = plan;
}

void
mpscl__bn_plan_print(const mpscl__bn_plan_input *in, const mpscl__bn_plan *p)
{
    fprintf(stderr, "mpscl: %s %zux%zu (x%zu): vw %zu, group %zux%zu, %zu chunks of %zu rows; "
            "%s (tiles %zu, slab %zu, lag %zu)\n", in->is_gradient ? "gradient" : "forward",
            p->n, p->c, p->batches, p->vw, p->lx, p->ly, p->chunks, p->chunk_rows,
            p->fused  ? "one launch"
            : p->tile ? "one group per tile"
            : mpscl__bn_plan_whole(p) ? "row streaming, one launch"
            : p->rows ? "row streaming"
                      : "two launches",
            p->tiles, p->slab, p->lag);
}
