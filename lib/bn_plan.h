/* The launch planner of the batch-normalization kernels: a pure function from what is known of
 * the device (its queries and the tuning table's row), the MPSCL_TUNE overrides and the problem
 * to a complete launch plan. No OpenCL call, no global state: unit-tested on its own
 * (tests/check_bn_plan.c). Internal. */
#ifndef MPSCL_BN_PLAN_H
#define MPSCL_BN_PLAN_H

#include <stddef.h>

#include <mpscl/mpscl.h>

/* An override that is either left to the planner or forced off or on. */
typedef enum mpscl__tristate { MPSCL__AUTO = 0, MPSCL__OFF, MPSCL__ON } mpscl__tristate;

/* Launch parameters forced through MPSCL_TUNE (lib/bn_kernel.c reads it); a size of 0 is the
 * planner's. fused: the one-launch kernels; rows: the row streaming (CPU) layout; tile: one
 * group per column tile (the gradient, the forward with statistics). */
typedef struct mpscl__bn_tune {
    size_t vw, wg, lx, chunks, slab, lag;
    mpscl__tristate fused, rows, tile;
    int spin_set;               /* spin: looks at a counter before a one-launch group gives up */
    cl_uint spin;
    int print_plan;             /* MPSCL_DEBUG set: each encode's plan goes to stderr */
} mpscl__bn_tune;

/* What the planner needs of a device: its queries. */
typedef struct mpscl__device_caps {
    cl_uint vendor_id;          /* PCI vendor */
    cl_device_type type;
    const char *name;
    cl_uint compute_units;
    size_t max_work_group_size;
    cl_ulong local_mem_size;
    cl_ulong cache_bytes;       /* CL_DEVICE_GLOBAL_MEM_CACHE_SIZE (0: not reported) */
} mpscl__device_caps;

/* What the planner knows of a device beyond its queries: a row of the tuning table, found by
 * vendor, then device type and name (docs/PERFORMANCE.md has the measurements behind each). */
typedef struct mpscl__bn_tuning {
    cl_uint vendor_id;          /* 0: any vendor */
    cl_device_type type;
    const char *name;           /* a substring of the device's name; "": any */
    /* Up to this many bytes of each input matrix region, one launch (the one-launch kernels)
     * rather than two: the device was verified to run them as they assume (PERFORMANCE.md), and
     * they are faster there. 0: never. */
    size_t one_launch_bytes;
    size_t cache_bytes;         /* the last-level cache where the query reports another; 0: the
                                 * query's */
    size_t threads;             /* resident work-items per compute unit; 0: 1024 */
    size_t group_rows;          /* rows of a work-group; 0: as many as its items allow */
    int row_streaming;          /* the row streaming layout (CPUs) */
    size_t tile_rows;           /* up to this N, one group per column tile */
} mpscl__bn_tuning;

/* The table's row for the device, or NULL. */
const mpscl__bn_tuning *mpscl__bn_tuning_of(const mpscl__device_caps *d);

/* Everything but the problem's region that the plan depends on. */
typedef struct mpscl__bn_plan_input {
    const mpscl__device_caps *device;
    const mpscl__bn_tuning *tuning;   /* NULL: no row */
    const mpscl__bn_tune *tune;
    size_t kernel_wg_max;             /* smallest CL_KERNEL_WORK_GROUP_SIZE of the kernels */
    int is_gradient, compute_statistics;
    /* The split phases' kernels exist in the two launches' layout, and the default mode's also
     * in row streaming: no tile or one launch. repro: the binned sums' geometry and scratch are
     * planned too. */
    int split, repro;
} mpscl__bn_plan_input;

/* One encode's work: its region (filled in by the caller), then the launch (by the planner). */
typedef struct mpscl__bn_plan {
    /* region */
    size_t n, c;                  /* rows and columns of the region */
    size_t batch_first, batches;  /* matrices batch_first .. + batches - 1 */
    mpscl_data_type type;         /* of the matrices */
    /* The vectors' types in operand order (f32 if absent): mean, variance, gamma, beta, then
     * the gradient's dgamma and dbeta or the forward's running mean and running variance. */
    mpscl_data_type vector_types[6];
    /* launch */
    size_t vw;                    /* columns per work-item: 8, 4 (C a multiple of it) or 1 */
    size_t lx, ly;                /* work-group: column items x rows, ly a power of two */
    size_t chunks, chunk_rows;    /* row chunks per matrix, rows per chunk */
    int rows;                     /* the row streaming kernels (lx: VW items per tile) */
    int tile;                     /* one group per column tile (bn_{gradient,forward}_tile) */
    int fused;                    /* the one-launch kernels: */
    size_t col_tiles, tiles;      /*   column tiles per matrix, in all */
    size_t slab, lag;             /*   tiles per slab, slabs of pass 1 ahead of pass 2 */
    size_t scratch_bytes;         /* partial sums in global memory */
    size_t sync_words;            /* the one launch's counters (0 for other layouts) */
    size_t local_bytes;           /* the kernels' __local buffer */
    /* The encode's phase (set by the caller, copied through by the planner). */
    int split, repro;             /* the plan input's (set from the encoder and the kernel) */
    int empty;                    /* the region has no rows: planned for one, kernels get n = 0 */
    size_t round, count;          /* statistics round; partials combined */
    /* The binned sums (in->repro): one item per column, rlx x rly items, rchunks chunks of
     * rchunk_rows rows, naccs accumulators per column; scratch words: the chunks' accumulators
     * (sums_words), then one partial per matrix of partial_words (the one-device path). */
    size_t rlx, rly, rchunks, rchunk_rows, naccs, sums_words, partial_words;
    size_t bins_local_bytes;      /* their __local buffer: two accumulators per item */
    size_t column_lx;             /* items of the one-item-per-column kernels' groups */
} mpscl__bn_plan;

/* Words of a split phase's partial of c columns (docs/DISTRIBUTED.md, "Partials layout"). */
enum { MPSCL__PARTIAL_HEADER = 4, MPSCL__BINS_PLANES = 9, MPSCL__BINS_BYTES = 40 };
size_t mpscl__bn_partial_words(int is_gradient, int reproducible, size_t c);

/* Counter words of the one-launch kernels before the tiles' (cl/common.clh): ticket, finished,
 * gave up. */
enum { MPSCL__SYNC_GAVE_UP_WORD = 2, MPSCL__SYNC_TILE_WORDS = 3 };

/* Row streaming with one chunk: every pass in one launch (bn_{forward,gradient}_rows_whole). */
static inline int
mpscl__bn_plan_whole(const mpscl__bn_plan *p)
{
    return p->rows && p->chunks == 1;
}

/* Columns per work-item for C columns: a build option of the kernels, so known before them. */
size_t mpscl__bn_plan_vector_width(const mpscl__bn_plan_input *in, size_t c);
/* Plans p's region (n, c, batch_first, batches, type set; n, c, batches > 0): every launch field
 * of p. The plan's invariants are asserted. */
void mpscl__bn_plan_launch(const mpscl__bn_plan_input *in, mpscl__bn_plan *p);
/* The plan as MPSCL_DEBUG prints it: one line to stderr. */
void mpscl__bn_plan_print(const mpscl__bn_plan_input *in, const mpscl__bn_plan *p);
/* Bytes of the kernels' arithmetic type: fp64 for fp64 data, fp32 otherwise. */
size_t mpscl__bn_real_size(const mpscl__bn_plan *p);
/* Passes of the one-launch kernel: a group per chunk and tile in each. */
size_t mpscl__bn_one_launch_passes(const mpscl__bn_plan_input *in);

#endif
