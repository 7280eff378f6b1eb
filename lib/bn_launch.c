/* Encode-time machinery of the batch-normalization kernels: aliasing rules, launch planning,
 * programs and kernels, scratch, kernel arguments and enqueueing. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bn_kernel.h"

/* ---- aliasing ---- */

/* The bytes an operand touches in its buffer: `batches` blocks of `rows` runs of `width` bytes. */
typedef struct byte_region {
    cl_mem buffer;
    long long start, width, rows, row_stride, batches, batch_stride;
} byte_region;

static byte_region
region_of(const mpscl__bn_operand *a, const mpscl__bn_plan *p)
{
    const mpscl__layout *l = a->m != NULL ? &a->m->layout : &a->v->layout;
    long long es = (long long)mpscl_data_type_size(l->type);
    byte_region r;

    r.buffer = a->m != NULL ? a->m->buffer : a->v->buffer;
    r.start = ((long long)a->off + (long long)p->batch_first * (long long)a->ms) * es;
    r.width = (long long)p->c * es;
    r.rows = a->m != NULL ? (long long)p->n : 1;
    r.row_stride = a->m != NULL ? (long long)a->rs * es : r.width;
    r.batches = (long long)p->batches;
    r.batch_stride = (long long)a->ms * es;
    return r;
}

static long long
floor_div(long long a, long long b)
{
    long long q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* 0: disjoint, 1: overlapping, 2: the very same elements in the same order. */
static int
regions_overlap(const byte_region *a, const byte_region *b)
{
    long long enda, endb;

    if (a->buffer != b->buffer)
        return 0;
    if (a->start == b->start && a->width == b->width && a->rows == b->rows &&
        a->row_stride == b->row_stride && (a->batches == 1 || a->batch_stride == b->batch_stride))
        return 2;
    enda = a->start + (a->batches - 1) * a->batch_stride + (a->rows - 1) * a->row_stride + a->width;
    endb = b->start + (b->batches - 1) * b->batch_stride + (b->rows - 1) * b->row_stride + b->width;
    if (enda <= b->start || endb <= a->start)
        return 0;
    /* Same row and batch strides (e.g. column blocks of one matrix): exact test. Row i of a and
     * row i + m of b intersect when -width_b < d + m * row_stride < width_a. */
    if (a->row_stride == b->row_stride && a->batch_stride == b->batch_stride) {
        long long rs = a->row_stride;
        for (long long db = -(a->batches - 1); db <= b->batches - 1; db++) {
            long long d = b->start - a->start + db * a->batch_stride;
            long long lo = floor_div(-b->width - d, rs) + 1, hi = -floor_div(d - a->width, rs) - 1;
            if (lo < -(a->rows - 1))
                lo = -(a->rows - 1);
            if (hi > b->rows - 1)
                hi = b->rows - 1;
            if (lo <= hi)
                return 1;
        }
        return 0;
    }
    return 1;   /* different strides: assume the worst */
}

mpscl_status
mpscl__bn_check_aliasing(const mpscl__bn_operand *ops, size_t nops, const mpscl__bn_plan *p,
                         const char *fn)
{
    for (size_t i = 0; i < nops; i++) {
        byte_region ri;
        if (!ops[i].is_output || (ops[i].m == NULL && ops[i].v == NULL))
            continue;
        ri = region_of(&ops[i], p);
        for (size_t j = 0; j < nops; j++) {
            byte_region rj;
            int ov;
            if (j == i || (ops[j].m == NULL && ops[j].v == NULL))
                continue;
            rj = region_of(&ops[j], p);
            ov = regions_overlap(&ri, &rj);
            if (ov == 2 && ops[i].m != NULL && ops[j].m != NULL && !ops[j].is_output)
                continue;   /* in place: each element is read, then written, by one work-item */
            if (ov != 0)
                return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS,
                                   "%s: %s overlaps %s; only a result matrix exactly over an input "
                                   "matrix region is allowed", fn, ops[i].name, ops[j].name);
        }
    }
    return MPSCL_SUCCESS;
}

/* ---- launch planning ---- */

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

/* What the planner knows of a device beyond its queries, by PCI vendor, device type and a name
 * substring (first match wins). one_launch_bytes: up to this many bytes of each input matrix
 * region the gradient runs as one launch (bn_gradient_fused) rather than two: the device orders
 * stores, global fences and atomics between the work-groups of one launch as that kernel needs,
 * and it was measured there, correct and faster (one launch's latency instead of two; above the
 * size the two launches' simpler grid streams better). 0: always two launches, the portable path
 * (MPSCL_TUNE=fused=1 forces the one launch anywhere, for the tests). cache_bytes: the last-level
 * cache where CL_DEVICE_GLOBAL_MEM_CACHE_SIZE reports another (NVIDIA reports L1: 4 MB on an
 * H100, whose L2 is 50 MB); 0 keeps the query's. threads: resident work-items per compute unit.
 * Measured on the H100 (docs/PERFORMANCE.md): 128x512 12 us in one launch against 20 in two,
 * 1024x1024 18 against 23, even at 256x16384, slower from 32768x256 up. tile_rows: there, one
 * group per column tile beats both up to N = 512 (128x512 10.7 against 13.1 us, 256x16384 30
 * against 45, 512x4096 16 against 26) and loses from 1024 (1024x1024 25 against 18). */
typedef struct device_tuning {
    cl_uint vendor_id;        /* 0: any */
    cl_device_type type;
    const char *name;
    size_t one_launch_bytes, cache_bytes, threads;
    size_t group_rows;        /* rows of a work-group; 0: as many as 256 items allow */
    int row_streaming;        /* the gradient streams whole rows, one item per group */
    size_t tile_rows;         /* up to this N, one group per column tile (bn_gradient_tile) */
} device_tuning;

/* CPUs (PoCL): the gradient streams rows (bn_gradient.cl, row streaming): a CPU runs a group's
 * items one after another, and one item per group reading whole rows of a tile reads memory in
 * order. 4096x1024 11.4 -> 3.8 ms, 32768x256 24.1 -> 8.5 ms on PoCL 3 here (2 cores); 1.07 ->
 * 0.59 and 3.1 -> 0.98 ms on PoCL 5 (16 cores); the forward likewise. group_rows (one row per
 * group) is for the work-group layout where MPSCL_TUNE=rows=0 asks for it on a CPU: the tree
 * over rows would cost a pass through local memory per level and buy nothing. */
static const device_tuning tuning_table[] = {
    {0x10de, CL_DEVICE_TYPE_GPU, "H100", 8u << 20, 50u << 20, 2048, 0, 0, 512},
    {0x10de, CL_DEVICE_TYPE_GPU, "H200", 8u << 20, 50u << 20, 2048, 0, 0, 512},
    {0x10de, CL_DEVICE_TYPE_GPU, "A100", 8u << 20, 40u << 20, 2048, 0, 0, 0},
    {0x10de, CL_DEVICE_TYPE_GPU, "", 4u << 20, 0, 1536, 0, 0, 0},
    {0, CL_DEVICE_TYPE_CPU, "", 0, 0, 0, 1, 1, 0},
};

static const device_tuning *
device_tuning_of(const mpscl_device *d)
{
    for (size_t i = 0; i < sizeof tuning_table / sizeof tuning_table[0]; i++)
        if ((tuning_table[i].vendor_id == 0 || d->vendor_id == tuning_table[i].vendor_id) &&
            (d->type & tuning_table[i].type) != 0 &&
            strstr(d->name, tuning_table[i].name) != NULL)
            return &tuning_table[i];
    return NULL;
}

static int
uses_one_launch(const mpscl__bn_kernel *k, const device_tuning *t, const mpscl__bn_plan *p)
{
    if ((!k->is_gradient && !k->compute_statistics) || k->tune.fused == 1)
        return 0;   /* the forward without statistics is one launch anyway */
    return k->tune.fused == 2 ||
           (t != NULL && p->n * p->c * p->batches * mpscl_data_type_size(p->type) <=
                             t->one_launch_bytes);
}

/* Passes of the one-launch kernel: a group per chunk and tile in each. */
static size_t
one_launch_passes(const mpscl__bn_kernel *k)
{
    return k->is_gradient ? 2 : 3;
}

/* Row chunks: the planner's count, or MPSCL_TUNE's, within [1, min(most, 1024)]; then rows per
 * chunk, and the chunks those make (none empty). */
static void
set_chunks(const mpscl__bn_kernel *k, mpscl__bn_plan *p, size_t chunks, size_t most)
{
    if (k->tune.chunks != 0)
        chunks = k->tune.chunks;
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
plan_one_launch(const mpscl__bn_kernel *k, const device_tuning *t, mpscl__bn_plan *plan)
{
    /* Planned on a copy: a bail-out leaves the two launches' plan exactly as it was. */
    mpscl__bn_plan one = *plan, *p = &one;
    size_t items = (p->c + p->vw - 1) / p->vw, tw = p->lx * p->vw, wg = p->lx * p->ly;
    size_t threads = t != NULL ? t->threads : 1024;
    size_t resident = k->device->compute_units * (threads / wg > 0 ? threads / wg : 1);
    size_t cache = t != NULL && t->cache_bytes != 0 ? t->cache_bytes
                   : k->device->cache_bytes != 0    ? (size_t)k->device->cache_bytes
                                                    : (4u << 20);
    size_t tile_bytes = p->n * tw * mpscl_data_type_size(p->type) * 2;
    size_t chunks = p->n / (p->ly * 4), precise = (p->n + p->ly * 128 - 1) / (p->ly * 128);
    size_t most = (p->n + p->ly - 1) / p->ly, slab, lag;

    if (chunks > resident)
        chunks = resident;
    if (chunks < precise)
        chunks = precise;
    set_chunks(k, p, chunks, most);
    p->col_tiles = (items + p->lx - 1) / p->lx;
    p->tiles = p->col_tiles * p->batches;
    if (one_launch_passes(k) * p->tiles * p->chunks >= (1u << 24))
        return;     /* tickets past 2^24 (common.clh's div_rem): the two launches */
    slab = (resident + p->chunks - 1) / p->chunks;
    if (slab * tile_bytes > cache / 3)
        slab = cache / 3 / tile_bytes;
    if (k->tune.slab != 0)
        slab = k->tune.slab;
    p->slab = largest_divisor_at_most(p->tiles, slab > 0 ? slab : 1);
    lag = k->tune.lag != 0 ? k->tune.lag : cache / 3 / (p->slab * tile_bytes);
    if (lag < 1)
        lag = 1;
    p->lag = lag < p->tiles / p->slab ? lag : p->tiles / p->slab;
    p->fused = 1;
    *plan = one;
}

/* Row streaming: arrays of a tile's columns the kernels keep in local memory (ROWS_ARRAYS). */
enum { ROWS_ARRAYS = 8 };

static int
uses_rows(const mpscl__bn_kernel *k, const device_tuning *t)
{
    if (k->tune.rows == 1 || k->tune.fused == 2)
        return 0;
    return k->tune.rows == 2 || (t != NULL && t->row_streaming);
}

/* Row streaming: tiles of as many VW columns as the kernels' arrays fit in a quarter of local
 * memory, at most 64 KB (a core's L2 keeps them beside the rows passing through); about 4 groups
 * per compute unit, so uneven progress of the cores evens out; no more chunks than sqrt(N), which
 * keeps pass 2's sum over every chunk's partials well below the rows it streams. */
static void
plan_rows(const mpscl__bn_kernel *k, mpscl__bn_plan *p)
{
    size_t items = (p->c + p->vw - 1) / p->vw;
    size_t per_item = ROWS_ARRAYS * p->vw * mpscl__bn_real_size(p);
    size_t budget = (size_t)(k->device->local_mem_size / 4), tile, groups, chunks, cheap;

    if (budget > (64u << 10))
        budget = 64u << 10;
    tile = k->tune.lx != 0 ? k->tune.lx : budget / per_item;
    if (tile > k->device->local_mem_size / per_item)
        tile = (size_t)(k->device->local_mem_size / per_item);   /* MPSCL_TUNE never fails */
    if (tile > items)
        tile = items;
    if (tile == 0)
        tile = 1;
    p->lx = tile;
    p->ly = 1;
    p->col_tiles = (items + tile - 1) / tile;
    groups = p->col_tiles * p->batches;
    chunks = (4 * (size_t)k->device->compute_units + groups - 1) / groups;
    cheap = isqrt(p->n);
    if (chunks > cheap)
        chunks = cheap;
    set_chunks(k, p, chunks, p->n);
    p->rows = 1;
}

/* One group per column tile (bn_gradient_tile, bn_forward_tile with statistics): where the
 * columns are short (the table's tile_rows), and each item sums at most 128 rows, the precision
 * bound of the two launches' plan. */
static int
uses_tile(const mpscl__bn_kernel *k, const device_tuning *t, const mpscl__bn_plan *p)
{
    if ((!k->is_gradient && !k->compute_statistics) || k->tune.tile == 1 || k->tune.fused == 2 ||
        p->n > 128 * p->ly)
        return 0;
    return k->tune.tile == 2 || (t != NULL && p->n <= t->tile_rows);
}

/* Tiles of 8 items (32 columns of 4: 128-byte rows, whole cache lines), twice the groups of the
 * two launches' 16, and 256 items: the fastest on the H100 of the sizes tried (docs/PERFORMANCE.md;
 * 128x512 9.8 us against 11.4 with 16 items, 256x16384 29 against 30 and 42 with 4). */
static void
plan_tile(const mpscl__bn_kernel *k, mpscl__bn_plan *p)
{
    size_t wg = p->lx * p->ly;

    if (k->tune.lx == 0 && p->lx > 8) {
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
plan_work_groups(const mpscl__bn_kernel *k, const device_tuning *t, mpscl__bn_plan *p)
{
    size_t want = k->tune.wg != 0 ? k->tune.wg : 256;
    size_t wg = pow2_floor(k->kernel_wg_max < want ? k->kernel_wg_max : want);
    size_t items = (p->c + p->vw - 1) / p->vw;
    size_t lx = pow2_ceil(items), ly, col_groups, chunks, precise, cheap;

    if (lx > (p->vw == 1 ? 32u : 64u / p->vw))
        lx = p->vw == 1 ? 32u : 64u / p->vw;
    if (k->tune.lx != 0)
        lx = k->tune.lx;
    if (lx > wg)
        lx = wg;
    ly = wg / lx;
    if (k->tune.wg == 0 && t != NULL && t->group_rows != 0 && ly > t->group_rows) {
        size_t most_ly = ly;
        /* ... but no more than 32 rows per item in the 1024 chunks at most. */
        ly = t->group_rows;
        while (ly < most_ly && p->n > ly * 32 * 1024)
            ly *= 2;
    }
    if (ly > pow2_ceil(p->n))
        ly = pow2_ceil(p->n);
    col_groups = (items + lx - 1) / lx;
    chunks = (8 * (size_t)k->device->compute_units + col_groups - 1) / col_groups;
    cheap = isqrt(p->n / 4);
    if (chunks > cheap)
        chunks = cheap;
    precise = (p->n + ly * 128 - 1) / (ly * 128);
    if (chunks < precise)
        chunks = precise;
    p->lx = lx;
    p->ly = ly;
    set_chunks(k, p, chunks, (p->n + ly - 1) / ly);
}

/* The layout, then its geometry: row streaming (CPUs), or work-groups of items across columns,
 * as two launches or, from there, one group per column tile or the one launch. */
static void
plan_launch(const mpscl__bn_kernel *k, const device_tuning *t, mpscl__bn_plan *p)
{
    if (uses_rows(k, t)) {
        plan_rows(k, p);
    } else {
        plan_work_groups(k, t, p);
        if (uses_tile(k, t, p))
            plan_tile(k, p);
        else if (uses_one_launch(k, t, p))
            plan_one_launch(k, t, p);
    }
    if (k->tune.print_plan)
        fprintf(stderr, "mpscl: %s %zux%zu (x%zu): vw %zu, group %zux%zu, %zu chunks of %zu rows; "
                "%s (tiles %zu, slab %zu, lag %zu)\n", k->is_gradient ? "gradient" : "forward",
                p->n, p->c, p->batches, p->vw, p->lx, p->ly, p->chunks, p->chunk_rows,
                p->fused  ? "one launch"
                : p->tile ? "one group per tile"
                : p->rows ? "row streaming"
                          : "two launches",
                p->tiles, p->slab, p->lag);
}

/* ---- programs, kernels, scratch ---- */

static mpscl_status
make_kernels(mpscl__bn_kernel *k, cl_program prog, const char *const *names, size_t nkernels,
             const char *fn)
{
    cl_kernel made[MPSCL__BN_MAX_KERNELS] = {NULL};
    size_t wg_min = k->device->max_work_group_size;
    cl_int err = CL_SUCCESS;

    for (size_t i = 0; i < nkernels && err == CL_SUCCESS; i++) {
        size_t wg = 0;
        made[i] = clCreateKernel(prog, names[i], &err);
        if (err == CL_SUCCESS)
            err = clGetKernelWorkGroupInfo(made[i], k->device->device, CL_KERNEL_WORK_GROUP_SIZE,
                                           sizeof wg, &wg, NULL);
        if (err == CL_SUCCESS && wg < wg_min)
            wg_min = wg;
    }
    if (err != CL_SUCCESS) {
        for (size_t i = 0; i < nkernels; i++)
            if (made[i] != NULL)
                mpscl__check_cl(clReleaseKernel(made[i]), "clReleaseKernel");
        return mpscl__fail_cl(err, "clCreateKernel");
    }
    for (size_t i = 0; i < MPSCL__BN_MAX_KERNELS; i++) {
        if (k->kernels[i] != NULL)
            mpscl__check_cl(clReleaseKernel(k->kernels[i]), "clReleaseKernel");
        k->kernels[i] = made[i];
    }
    memset(k->args, 0, sizeof k->args);
    k->program = prog;
    k->kernel_wg_max = wg_min;
    (void)fn;
    return MPSCL_SUCCESS;
}

/* Counter words of the one-launch kernels: ticket, finished, gave up, one per tile
 * (common.clh). */
enum { SYNC_GAVE_UP_WORD = 2, SYNC_TILE_WORDS = 3 };

static size_t
sync_words(const mpscl__bn_plan *p)
{
    return p->fused ? SYNC_TILE_WORDS + p->tiles : 0;
}

/* Counters at zero, from a zeroed host copy: no command, so nothing to order. */
static cl_mem
zeroed_counters(cl_context context, size_t words, cl_int *err)
{
    cl_uint *zeros = calloc(words, sizeof *zeros);
    cl_mem m;

    if (zeros == NULL) {
        *err = CL_OUT_OF_HOST_MEMORY;
        return NULL;
    }
    m = clCreateBuffer(context, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, words * sizeof *zeros,
                       zeros, err);
    free(zeros);
    return m;
}

static void
release_mem(cl_mem *m)
{
    if (*m != NULL)
        mpscl__check_cl(clReleaseMemObject(*m), "clReleaseMemObject");
    *m = NULL;
}

/* A new workspace of at least the old sizes and what the plan needs. The old buffers are freed by
 * OpenCL only after the commands using them finish; the new ones have no earlier user. */
static mpscl_status
replace_workspace(mpscl__bn_kernel *k, size_t bytes, size_t words)
{
    cl_mem scratch = NULL, sync = NULL;
    cl_int err = CL_SUCCESS;

    bytes = bytes > k->scratch_bytes ? bytes : k->scratch_bytes;
    words = words > k->sync_words ? words : k->sync_words;
    if (bytes > 0)
        scratch = clCreateBuffer(k->device->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err == CL_SUCCESS && words > 0)
        sync = zeroed_counters(k->device->context, words, &err);
    if (err != CL_SUCCESS) {
        release_mem(&scratch);
        return mpscl__fail_cl(err, "clCreateBuffer(workspace)");
    }
    release_mem(&k->scratch);
    release_mem(&k->sync);
    k->scratch = scratch;
    k->scratch_bytes = bytes;
    k->sync = sync;
    k->sync_words = words;
    return MPSCL_SUCCESS;
}

/* The workspace for the plan, usable on cb's queue once *wait (if set) completes: a new one when
 * the plan needs more of either part, or when a one-launch kernel gave up in it (its counters
 * may not be at zero), else the same one, after its last user on another queue (a marker there
 * completes when that work has; one queue runs in order and needs nothing). */
static mpscl_status
prepare_workspace(mpscl__bn_kernel *k, mpscl_command_buffer *cb, const mpscl__bn_plan *p,
                  cl_event *wait)
{
    cl_command_queue q = mpscl__command_buffer_queue(cb);
    size_t bytes = scratch_reals(p) * mpscl__bn_real_size(p), words = sync_words(p);
    cl_int err;
    mpscl_status s;

    *wait = NULL;
    if (bytes > k->scratch_bytes || words > k->sync_words ||
        atomic_exchange(&k->counters_suspect, 0) != 0) {
        if ((s = replace_workspace(k, bytes, words)) != MPSCL_SUCCESS)
            return s;
    } else if (k->workspace_queue != NULL && k->workspace_queue != q) {
        err = clEnqueueMarkerWithWaitList(k->workspace_queue, 0, NULL, wait);
        if (err == CL_SUCCESS)
            err = clFlush(k->workspace_queue);
        if (err != CL_SUCCESS) {
            if (*wait != NULL)
                mpscl__check_cl(clReleaseEvent(*wait), "clReleaseEvent");
            *wait = NULL;
            return mpscl__fail_cl(err, "clEnqueueMarkerWithWaitList(workspace order)");
        }
    }
    if (k->workspace_queue != q) {
        if ((err = clRetainCommandQueue(q)) != CL_SUCCESS) {
            if (*wait != NULL)
                mpscl__check_cl(clReleaseEvent(*wait), "clReleaseEvent");
            *wait = NULL;
            return mpscl__fail_cl(err, "clRetainCommandQueue");
        }
        if (k->workspace_queue != NULL)
            mpscl__check_cl(clReleaseCommandQueue(k->workspace_queue), "clReleaseCommandQueue");
        k->workspace_queue = q;
    }
    return MPSCL_SUCCESS;
}

mpscl_status
mpscl__bn_prepare(mpscl__bn_kernel *k, mpscl_command_buffer *cb, const char *const *kernel_names,
                  size_t nkernels, mpscl__bn_plan *p, cl_event *wait, const char *fn)
{
    const mpscl_data_type *v = p->vector_types;
    const device_tuning *t = device_tuning_of(k->device);
    char options[sizeof k->program_options];
    size_t widest;
    cl_program prog;
    mpscl_status s;

    *wait = NULL;
    /* Vector loads of VW columns need C to be a multiple of VW (vloadn itself asks only for
     * element alignment, so origins and strides are free). 8 where a CPU streams rows: twice the
     * columns per instruction (AVX), 20 % more bandwidth on PoCL here; 4 on GPUs, 16 bytes, an
     * item's widest load. */
    widest = k->tune.vw != 0 ? k->tune.vw : uses_rows(k, t) ? 8 : 4;
    p->vw = widest >= 8 && p->c % 8 == 0 ? 8 : widest >= 4 && p->c % 4 == 0 ? 4 : 1;
    /* Every specialisation is a -D, so the program key (family, options) names it exactly. */
    snprintf(options, sizeof options,
             "-cl-std=CL1.2 -DNEURON=%d -DDATA_KIND=%d -DMEAN_KIND=%d -DVAR_KIND=%d "
             "-DGAMMA_KIND=%d -DBETA_KIND=%d -DDGAMMA_KIND=%d -DDBETA_KIND=%d -DVW=%d",
             (int)k->neuron, (int)p->type, (int)v[0], (int)v[1], (int)v[2], (int)v[3], (int)v[4],
             (int)v[5], (int)p->vw);
    /* The same specialisation as the last encode (the usual case): its kernels are at hand, and
     * the device's program table (a lock and a search) is not consulted. */
    if (k->program == NULL || strcmp(options, k->program_options) != 0) {
        if ((s = mpscl__device_program(k->device, k->is_gradient ? MPSCL__FAMILY_BN_GRADIENT
                                                                 : MPSCL__FAMILY_BN_FORWARD,
                                       options, &prog)) != MPSCL_SUCCESS)
            return s;
        if (prog != k->program &&
            (s = make_kernels(k, prog, kernel_names, nkernels, fn)) != MPSCL_SUCCESS)
            return s;
        memcpy(k->program_options, options, sizeof options);
    }
    plan_launch(k, t, p);
    return prepare_workspace(k, cb, p, wait);
}

size_t
mpscl__bn_real_size(const mpscl__bn_plan *p)
{
    return p->type == MPSCL_DATA_TYPE_FLOAT64 ? sizeof(double) : sizeof(float);
}

size_t
mpscl__bn_local_bytes(const mpscl__bn_plan *p)
{
    return (p->rows ? ROWS_ARRAYS : 2) * p->lx * p->ly * p->vw * mpscl__bn_real_size(p);
}

/* ---- arguments and enqueueing ---- */

static cl_int
set_arg(mpscl__bn_args *a, size_t size, const void *value)
{
    cl_int e = clSetKernelArg(a->k->kernels[a->kernel], a->idx, size, value);

    if (*a->err == CL_SUCCESS)
        *a->err = e;
    return e;
}

void
mpscl__bn_arg(mpscl__bn_args *a, size_t size, const void *value)
{
    mpscl__bn_arg_value *held = a->idx < MPSCL__BN_MAX_ARGS ? &a->k->args[a->kernel][a->idx] : NULL;

    if (held == NULL || size > sizeof held->value) {
        set_arg(a, size, value);
    } else if (held->size != size || held->local != (value == NULL) ||
               (value != NULL && memcmp(held->value, value, size) != 0)) {
        /* Only what the kernel surely holds is remembered. */
        held->size = set_arg(a, size, value) == CL_SUCCESS ? size : 0;
        held->local = value == NULL;
        if (value != NULL)
            memcpy(held->value, value, size);
    }
    a->idx++;
}

void
mpscl__bn_arg_buffer(mpscl__bn_args *a, cl_mem buffer)
{
    set_arg(a, sizeof buffer, buffer != NULL ? (const void *)&buffer : NULL);
    if (a->idx < MPSCL__BN_MAX_ARGS)
        a->k->args[a->kernel][a->idx].size = 0;
    a->idx++;
}

void
mpscl__bn_arg_geometry(mpscl__bn_args *a, const mpscl__bn_plan *p)
{
    cl_uint n = (cl_uint)p->n, c = (cl_uint)p->c, rows = (cl_uint)p->chunk_rows;
    cl_uint first = (cl_uint)p->batch_first;

    mpscl__bn_arg(a, sizeof n, &n);
    mpscl__bn_arg(a, sizeof c, &c);
    mpscl__bn_arg(a, sizeof rows, &rows);
    mpscl__bn_arg(a, sizeof first, &first);
    mpscl__bn_arg_buffer(a, a->k->scratch);
    mpscl__bn_arg(a, mpscl__bn_local_bytes(p), NULL);
}

void
mpscl__bn_arg_one_launch(mpscl__bn_args *a, const mpscl__bn_plan *p)
{
    cl_uint col_tiles = (cl_uint)p->col_tiles, tiles = (cl_uint)p->tiles;
    cl_uint chunks = (cl_uint)p->chunks;

    mpscl__bn_arg_buffer(a, a->k->sync);
    mpscl__bn_arg(a, sizeof col_tiles, &col_tiles);
    mpscl__bn_arg(a, sizeof tiles, &tiles);
    mpscl__bn_arg(a, sizeof chunks, &chunks);
}

/* Looks at a counter before a one-launch group gives up: far beyond any wait on a device that
 * runs the groups as the kernels assume (microseconds), short of a hang where it does not (some
 * seconds on a GPU, less on a CPU). */
enum { DEFAULT_SPIN_LIMIT = 1u << 24 };

static cl_uint
spin_limit(const mpscl__bn_kernel *k)
{
    return k->tune.spin != 0 ? (cl_uint)(k->tune.spin - 1) : DEFAULT_SPIN_LIMIT;
}

/* The least time a give-up takes: every one spins through the limit first (common.clh), and no
 * device looks at a global counter with an atomic in less than half a nanosecond. A launch that
 * ended sooner after its encode cannot have given up, so the wait reads nothing back: the
 * default limit makes that 8 ms, far beyond the launches the planner makes one. */
static double
give_up_seconds(const mpscl__bn_kernel *k)
{
    return (double)spin_limit(k) * 0.5e-9;
}

void
mpscl__bn_arg_give_up(mpscl__bn_args *a)
{
    cl_uint limit = spin_limit(a->k);

    /* Never 0, which the gave-up word holds until a group gives up. */
    if (++a->k->launch == 0)
        a->k->launch = 1;
    mpscl__bn_arg(a, sizeof limit, &limit);
    mpscl__bn_arg(a, sizeof a->k->launch, &a->k->launch);
}

void
mpscl__bn_arg_tile_items(mpscl__bn_args *a, const mpscl__bn_plan *p)
{
    cl_uint tile_items = (cl_uint)p->lx;

    mpscl__bn_arg(a, sizeof tile_items, &tile_items);
}

void
mpscl__bn_arg_operand(mpscl__bn_args *a, const mpscl__bn_operand *op)
{
    mpscl__bn_arg_buffer(a, op->m != NULL ? op->m->buffer : op->v != NULL ? op->v->buffer : NULL);
    mpscl__bn_arg(a, sizeof op->off, &op->off);
    if (op->m != NULL)
        mpscl__bn_arg(a, sizeof op->rs, &op->rs);
    mpscl__bn_arg(a, sizeof op->ms, &op->ms);
}

mpscl_status
mpscl__bn_enqueue(mpscl__bn_kernel *k, mpscl_command_buffer *cb, size_t i, const mpscl__bn_plan *p,
                  cl_event *wait)
{
    size_t items = (p->c + p->vw - 1) / p->vw;
    size_t global[3] = {(items + p->lx - 1) / p->lx * p->lx, p->chunks * p->ly, p->batches};
    size_t local[3] = {p->lx, p->ly, 1};
    cl_event ev = NULL;
    cl_int err;
    mpscl_status s;

    if (p->fused) {
        global[0] = p->lx * one_launch_passes(k) * p->tiles * p->chunks;
        global[1] = p->ly;
        global[2] = 1;
        if ((s = mpscl__command_buffer_check_word(
                 cb, k->sync, SYNC_GAVE_UP_WORD * sizeof(cl_uint), k->launch, give_up_seconds(k),
                 &k->counters_suspect,
                 k->is_gradient ? "the one-launch gradient" : "the one-launch forward")) !=
            MPSCL_SUCCESS)
            return s;
    } else if (p->rows) {
        global[0] = p->col_tiles;
        global[1] = p->chunks;
        local[0] = 1;
    }
    err = clEnqueueNDRangeKernel(mpscl__command_buffer_queue(cb), k->kernels[i], 3, NULL, global,
                                 local, *wait != NULL ? 1 : 0, *wait != NULL ? wait : NULL, &ev);

    if (*wait != NULL) {
        mpscl__check_cl(clReleaseEvent(*wait), "clReleaseEvent");
        *wait = NULL;
    }
    if (err != CL_SUCCESS)
        return mpscl__fail_cl(err, "clEnqueueNDRangeKernel");
    mpscl__command_buffer_track(cb, ev);
    return MPSCL_SUCCESS;
}

static void
release_matrix(void *p)
{
    mpscl_matrix_release(p);
}

static void
release_vector(void *p)
{
    mpscl_vector_release(p);
}

static void
release_bn(void *p)
{
    mpscl__bn_kernel *k = p;
    if (mpscl__bn_kernel_unref(k))
        free(k);
}

mpscl_status
mpscl__bn_hold(mpscl__bn_kernel *k, mpscl_command_buffer *cb, const mpscl__bn_operand *ops,
               size_t nops)
{
    mpscl_status s = mpscl__command_buffer_reserve(cb, nops + 1);

    if (s != MPSCL_SUCCESS)
        return s;
    atomic_fetch_add_explicit(&k->refs, 1, memory_order_relaxed);
    mpscl__command_buffer_hold(cb, k, release_bn);
    for (size_t i = 0; i < nops; i++) {
        if (ops[i].m != NULL)
            mpscl__command_buffer_hold(cb, mpscl_matrix_retain((mpscl_matrix *)ops[i].m),
                                       release_matrix);
        else if (ops[i].v != NULL)
            mpscl__command_buffer_hold(cb, mpscl_vector_retain((mpscl_vector *)ops[i].v),
                                       release_vector);
    }
    return MPSCL_SUCCESS;
}
