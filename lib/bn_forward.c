/* mpscl_matrix_batch_normalization: MPSMatrixBatchNormalization. Validation, then either the
 * apply kernel alone, or the statistics passes (sum, squared deviations) followed by apply, of
 * cl/bn_forward.cl; with running vectors, the pass that writes the statistics also updates
 * them. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "bn_kernel.h"

struct mpscl_matrix_batch_normalization {
    mpscl__bn_kernel base;
};

MPSCL__BN_DEFINE_PROPERTIES(mpscl_matrix_batch_normalization)
MPSCL__BN_ORIGIN_PROPERTY(mpscl_matrix_batch_normalization, source_matrix_origin,
                          MPSCL__ORIGIN_SOURCE)

mpscl_status
mpscl_matrix_batch_normalization_create(mpscl_device *d, mpscl_matrix_batch_normalization **out)
{
    return mpscl_matrix_batch_normalization__new(d, 0, out, "matrix_batch_normalization_create");
}

int
mpscl_matrix_batch_normalization_compute_statistics(const mpscl_matrix_batch_normalization *k)
{
    return k ? k->base.compute_statistics : 0;
}

mpscl_status
mpscl_matrix_batch_normalization_set_compute_statistics(mpscl_matrix_batch_normalization *k,
                                                        int compute)
{
    MPSCL__BN_NULL_CHECK(k, "matrix_batch_normalization_set_compute_statistics");
    k->base.compute_statistics = compute != 0;
    return MPSCL_SUCCESS;
}

float
mpscl_matrix_batch_normalization_momentum(const mpscl_matrix_batch_normalization *k)
{
    return k ? k->base.momentum : 0.0f;
}

mpscl_status
mpscl_matrix_batch_normalization_set_momentum(mpscl_matrix_batch_normalization *k, float momentum)
{
    MPSCL__BN_NULL_CHECK(k, "matrix_batch_normalization_set_momentum");
    return mpscl__bn_set_momentum(&k->base, momentum);
}

int
mpscl_matrix_batch_normalization_reproducible(const mpscl_matrix_batch_normalization *k)
{
    return k ? k->base.reproducible : 0;
}

mpscl_status
mpscl_matrix_batch_normalization_set_reproducible(mpscl_matrix_batch_normalization *k, int on)
{
    MPSCL__BN_NULL_CHECK(k, "matrix_batch_normalization_set_reproducible");
    k->base.reproducible = on != 0;
    return MPSCL_SUCCESS;
}

size_t
mpscl_matrix_batch_normalization_statistics_rounds(const mpscl_matrix_batch_normalization *k)
{
    return k == NULL ? 0 : k->base.reproducible ? 2 : 1;
}

mpscl_status
mpscl_matrix_batch_normalization_partials_length(const mpscl_matrix_batch_normalization *k,
                                                 size_t columns, size_t *length)
{
    return mpscl__bn_partials_length(k != NULL ? &k->base : NULL, columns, length,
                                     "matrix_batch_normalization_partials_length");
}

/* Operand order in ops[] and in bn_forward_apply's argument list; the split phases' partials
 * last. */
enum { OP_X, OP_MEAN, OP_VAR, OP_GAMMA, OP_BETA, OP_Y, OP_RUNNING_MEAN, OP_RUNNING_VAR,
       OP_PARTIALS, OP_COUNT };
enum { K_SUM, K_SQDEV, K_APPLY, K_FUSED, K_TILE, K_ROWS_SUM, K_ROWS_SQDEV, K_ROWS_APPLY,
       K_ROWS_WHOLE, K_CHUNK_STATS, K_ROWS_CHUNK_STATS, K_PARTIAL_OUT, K_REPRO_SUMS,
       K_REPRO_PARTIAL, K_COMBINE, K_COUNT };

static const char *const kernel_names[] = {"bn_forward_sum", "bn_forward_sqdev", "bn_forward_apply",
                                           "bn_forward_fused", "bn_forward_tile",
                                           "bn_forward_rows_sum", "bn_forward_rows_sqdev",
                                           "bn_forward_rows_apply", "bn_forward_rows_whole",
                                           "bn_forward_chunk_stats",
                                           "bn_forward_rows_chunk_stats",
                                           "bn_forward_partial_out", "bn_forward_repro_sums",
                                           "bn_forward_repro_partial", "bn_forward_combine"};
_Static_assert(K_COUNT <= MPSCL__BN_MAX_KERNELS, "kernels[] holds every forward kernel");
_Static_assert(sizeof kernel_names / sizeof kernel_names[0] == K_COUNT, "a name per kernel");

static size_t
add_launch(mpscl__bn_launch *ls, size_t count, size_t kernel, mpscl__bn_grid grid, size_t round,
           int own)
{
    ls[count].kernel = kernel;
    ls[count].grid = grid;
    ls[count].round = (cl_uint)round;
    ls[count].own_partials = own;
    return count + 1;
}

/* The reproducible statistics on one device: the split phases with one partial, kept in the
 * workspace (both rounds: bins, partial, combine), then apply with the statistics as stored. */
static size_t
repro_kernels(const mpscl__bn_plan *p, mpscl__bn_launch *ls)
{
    size_t count = 0;

    for (size_t round = 0; round < 2; round++) {
        count = add_launch(ls, count, K_REPRO_SUMS, MPSCL__GRID_BINS, round, 1);
        count = add_launch(ls, count, K_REPRO_PARTIAL, MPSCL__GRID_COLUMNS, round, 1);
        count = add_launch(ls, count, K_COMBINE, MPSCL__GRID_COLUMNS, round, 1);
    }
    return add_launch(ls, count, p->rows ? K_ROWS_APPLY : K_APPLY, MPSCL__GRID_PLAN, 0, 0);
}

/* The kernels an encode runs, in order: the three passes (row streaming or not), apply alone
 * (given statistics), one launch (the one-launch kernel, one group per column tile, or row
 * streaming with one chunk, which also applies given statistics), or the reproducible path. */
static size_t
plan_kernels(const mpscl__bn_kernel *k, const mpscl__bn_plan *p,
             mpscl__bn_launch ls[MPSCL__BN_MAX_LAUNCHES])
{
    size_t sum = p->rows ? K_ROWS_SUM : K_SUM, apply = p->rows ? K_ROWS_APPLY : K_APPLY;
    size_t one = p->fused                   ? K_FUSED
                 : p->tile                  ? K_TILE
                 : mpscl__bn_plan_whole(p)  ? K_ROWS_WHOLE
                                            : K_COUNT;
    size_t from = one != K_COUNT ? one : k->compute_statistics ? sum : apply;
    size_t to = one != K_COUNT ? one : apply, count = 0;

    if (k->compute_statistics && k->reproducible)
        return repro_kernels(p, ls);
    for (size_t kr = from; kr <= to; kr++)
        count = add_launch(ls, count, kr, MPSCL__GRID_PLAN, 0, 0);
    return count;
}

/* A share's partial: chunk statistics (either layout: both leave the chunks' sums alike) and
 * their combination, or the binned sums and their merge (none of the rows' kernels for a share
 * of no rows). */
static size_t
partial_kernels(const mpscl__bn_kernel *k, const mpscl__bn_plan *p,
                mpscl__bn_launch ls[MPSCL__BN_MAX_LAUNCHES])
{
    size_t count = 0;

    if (!p->empty)
        count = add_launch(ls, count,
                           k->reproducible ? K_REPRO_SUMS
                           : p->rows       ? K_ROWS_CHUNK_STATS
                                           : K_CHUNK_STATS,
                           k->reproducible ? MPSCL__GRID_BINS : MPSCL__GRID_PLAN, p->round, 0);
    return add_launch(ls, count, k->reproducible ? K_REPRO_PARTIAL : K_PARTIAL_OUT,
                      MPSCL__GRID_COLUMNS, p->round, 0);
}

static size_t
combine_kernels(const mpscl__bn_kernel *k, const mpscl__bn_plan *p,
                mpscl__bn_launch ls[MPSCL__BN_MAX_LAUNCHES])
{
    (void)k;
    return add_launch(ls, 0, K_COMBINE, MPSCL__GRID_COLUMNS, p->round, 0);
}

/* Arguments of the split phases' kernels (bn_forward.cl, "split phases"). */
static void
set_split_args(mpscl__bn_kernel *k, const mpscl__bn_operand *ops, const mpscl__bn_plan *p,
               const mpscl__bn_launch *l, mpscl__bn_args *a)
{
    size_t n = p->empty ? 0 : p->n;

    switch (l->kernel) {
    case K_PARTIAL_OUT:
        mpscl__bn_arg_buffer(a, k->scratch);
        mpscl__bn_arg_uint(a, n);
        mpscl__bn_arg_uint(a, p->c);
        mpscl__bn_arg_uint(a, p->chunks);
        mpscl__bn_arg_uint(a, p->chunk_rows);
        mpscl__bn_arg_uint(a, p->batch_first);
        mpscl__bn_arg_partials(a, &ops[OP_PARTIALS], p, l);
        break;
    case K_REPRO_SUMS:
        mpscl__bn_arg_operand(a, &ops[OP_X]);
        mpscl__bn_arg_operand(a, &ops[OP_MEAN]);
        mpscl__bn_arg_uint(a, n);
        mpscl__bn_arg_uint(a, p->c);
        mpscl__bn_arg_uint(a, p->rchunk_rows);
        mpscl__bn_arg_uint(a, p->batch_first);
        mpscl__bn_arg_uint(a, l->round);
        mpscl__bn_arg_buffer(a, k->scratch);
        mpscl__bn_arg(a, p->bins_local_bytes, NULL);
        break;
    case K_REPRO_PARTIAL:
        mpscl__bn_arg_buffer(a, k->scratch);
        mpscl__bn_arg_uint(a, n);
        mpscl__bn_arg_uint(a, p->c);
        mpscl__bn_arg_uint(a, p->empty ? 0 : p->rchunks);
        mpscl__bn_arg_uint(a, p->batch_first);
        mpscl__bn_arg_uint(a, l->round);
        mpscl__bn_arg_partials(a, &ops[OP_PARTIALS], p, l);
        break;
    default: /* K_COMBINE */
        mpscl__bn_arg_partials(a, &ops[OP_PARTIALS], p, l);
        mpscl__bn_arg_uint(a, l->own_partials ? 1 : p->count);
        mpscl__bn_arg_uint(a, p->c);
        mpscl__bn_arg_uint(a, p->batch_first);
        mpscl__bn_arg_uint(a, l->round);
        mpscl__bn_arg_operand(a, &ops[OP_MEAN]);
        mpscl__bn_arg_operand(a, &ops[OP_VAR]);
        mpscl__bn_arg_operand(a, &ops[OP_RUNNING_MEAN]);
        mpscl__bn_arg_operand(a, &ops[OP_RUNNING_VAR]);
        mpscl__bn_arg(a, sizeof k->momentum, &k->momentum);
        break;
    }
}

static cl_int
set_args(mpscl__bn_kernel *k, const mpscl__bn_operand *ops, const mpscl__bn_plan *p,
         const mpscl__bn_launch *l)
{
    /* The reproducible path's apply reads the statistics its combine stored. */
    cl_uint stats = (cl_uint)(k->compute_statistics && !k->reproducible);
    cl_int err = CL_SUCCESS;
    size_t kr = l->kernel;
    mpscl__bn_args a = {k, kr, 0, &err};

    if (kr >= K_PARTIAL_OUT) {
        set_split_args(k, ops, p, l, &a);
        return err;
    }
    /* FORWARD_INPUT_ARGS */
    mpscl__bn_arg_operand(&a, &ops[OP_X]);
    mpscl__bn_arg_geometry(&a, p);
    if (kr != K_SUM && kr != K_SQDEV && kr != K_ROWS_SUM && kr != K_ROWS_SQDEV &&
        kr != K_CHUNK_STATS && kr != K_ROWS_CHUNK_STATS) {
        /* FORWARD_OUTPUT_ARGS */
        for (size_t i = OP_MEAN; i <= OP_RUNNING_VAR; i++)
            mpscl__bn_arg_operand(&a, &ops[i]);
        mpscl__bn_arg(&a, sizeof k->epsilon, &k->epsilon);
        mpscl__bn_arg(&a, sizeof stats, &stats);
        mpscl__bn_arg(&a, sizeof k->momentum, &k->momentum);
        mpscl__bn_arg(&a, sizeof k->neuron_a, &k->neuron_a);
        mpscl__bn_arg(&a, sizeof k->neuron_b, &k->neuron_b);
        mpscl__bn_arg(&a, sizeof k->neuron_c, &k->neuron_c);
    }
    if (kr == K_FUSED)
        mpscl__bn_arg_one_launch(&a, p);
    if (p->rows)
        mpscl__bn_arg_tile_items(&a, p);
    return err;
}

/* The two encodes differ only in whether the running vectors are required: the plain encode is
 * the running one without them (the kernels skip the update for a NULL running mean). */
#define FORWARD_OPERANDS(running)                                                              \
    {                                                                                          \
        [OP_X] = {"input", 1, 1, MPSCL__BN_IN, MPSCL__ORIGIN_SOURCE, 0},                       \
        [OP_MEAN] = {"mean", 0, 1, MPSCL__BN_OUT_WITH_STATISTICS, 0, 0},                       \
        [OP_VAR] = {"variance", 0, 1, MPSCL__BN_OUT_WITH_STATISTICS, 0, 0},                    \
        [OP_GAMMA] = {"gamma", 0, 0, MPSCL__BN_IN, 0, 0},                                      \
        [OP_BETA] = {"beta", 0, 0, MPSCL__BN_IN, 0, 0},                                        \
        [OP_Y] = {"result", 1, 1, MPSCL__BN_OUT, MPSCL__ORIGIN_RESULT, 0},                     \
        [OP_RUNNING_MEAN] = {"running_mean", 0, running, MPSCL__BN_UPDATE_WITH_STATISTICS, 0, 0}, \
        [OP_RUNNING_VAR] = {"running_variance", 0, running, MPSCL__BN_UPDATE_WITH_STATISTICS, 0, \
                            0},                                                                \
        [OP_PARTIALS] = {"partials", 0, 0, MPSCL__BN_IN, 0, 1},                                \
    }

static const mpscl__bn_operand_spec operands[OP_COUNT] = FORWARD_OPERANDS(0);
static const mpscl__bn_operand_spec running_operands[OP_COUNT] = FORWARD_OPERANDS(1);

static const mpscl__bn_encoder encoder = {
    "matrix_batch_normalization_encode", operands, OP_COUNT, kernel_names, K_COUNT,
    plan_kernels, set_args, 0, 1, 0, 0, K_CHUNK_STATS,
};

static const mpscl__bn_encoder running_encoder = {
    "matrix_batch_normalization_encode_with_running_statistics", running_operands, OP_COUNT,
    kernel_names, K_COUNT, plan_kernels, set_args, 0, 1, 0, 0, K_CHUNK_STATS,
};

static mpscl_status
encode(const mpscl__bn_encoder *e, mpscl_matrix_batch_normalization *kernel,
       mpscl_command_buffer *cb, const mpscl_matrix *input, mpscl_vector *mean,
       mpscl_vector *variance, const mpscl_vector *gamma, const mpscl_vector *beta,
       mpscl_matrix *result, mpscl_vector *running_mean, mpscl_vector *running_variance)
{
    const void *objects[OP_COUNT] = {
        [OP_X] = input, [OP_MEAN] = mean, [OP_VAR] = variance,
        [OP_GAMMA] = gamma, [OP_BETA] = beta, [OP_Y] = result,
        [OP_RUNNING_MEAN] = running_mean, [OP_RUNNING_VAR] = running_variance,
        [OP_PARTIALS] = NULL,
    };

    return mpscl__bn_encode(kernel != NULL ? &kernel->base : NULL, cb, e, objects);
}

mpscl_status
mpscl_matrix_batch_normalization_encode(mpscl_matrix_batch_normalization *kernel,
                                        mpscl_command_buffer *cb, const mpscl_matrix *input,
                                        mpscl_vector *mean, mpscl_vector *variance,
                                        const mpscl_vector *gamma, const mpscl_vector *beta,
                                        mpscl_matrix *result)
{
    return encode(&encoder, kernel, cb, input, mean, variance, gamma, beta, result, NULL, NULL);
}

mpscl_status
mpscl_matrix_batch_normalization_encode_with_running_statistics(
    mpscl_matrix_batch_normalization *kernel, mpscl_command_buffer *cb,
    const mpscl_matrix *input, mpscl_vector *mean, mpscl_vector *variance,
    const mpscl_vector *gamma, const mpscl_vector *beta, mpscl_matrix *result,
    mpscl_vector *running_mean, mpscl_vector *running_variance)
{
    return encode(&running_encoder, kernel, cb, input, mean, variance, gamma, beta, result,
                  running_mean, running_variance);
}

/* ---- split phases (docs/DISTRIBUTED.md) ---- */

/* A slot this phase does not take: a matrix's, so the vectors keep their positions. */
#define ABSENT_MATRIX {NULL, 1, 0, MPSCL__BN_IN, 0, 0}

/* A share's partial statistics: the input and, in round 1, the global mean; nothing else. */
#define PARTIAL_OPERANDS(mean_spec)                                                            \
    {                                                                                          \
        [OP_X] = {"input", 1, 1, MPSCL__BN_IN, MPSCL__ORIGIN_SOURCE, 0},                       \
        [OP_MEAN] = mean_spec,                                                                 \
        [OP_Y] = ABSENT_MATRIX,                                                                \
        [OP_PARTIALS] = {"partials", 0, 1, MPSCL__BN_OUT, 0, 1},                               \
    }

static const mpscl__bn_operand_spec partial_operands[2][OP_COUNT] = {
    PARTIAL_OPERANDS(((mpscl__bn_operand_spec){NULL, 0, 0, MPSCL__BN_IN, 0, 0})),
    PARTIAL_OPERANDS(((mpscl__bn_operand_spec){"mean", 0, 1, MPSCL__BN_IN, 0, 0})),
};

#define PARTIAL_FN "matrix_batch_normalization_encode_partial_statistics"
static const mpscl__bn_encoder partial_encoders[2] = {
    {PARTIAL_FN, partial_operands[0], OP_COUNT, kernel_names, K_COUNT, partial_kernels, set_args,
     1, 1, 1, 0, K_CHUNK_STATS},
    {PARTIAL_FN, partial_operands[1], OP_COUNT, kernel_names, K_COUNT, partial_kernels, set_args,
     1, 1, 1, 0, K_CHUNK_STATS},
};

mpscl_status
mpscl_matrix_batch_normalization_encode_partial_statistics(
    mpscl_matrix_batch_normalization *kernel, mpscl_command_buffer *cb, size_t round,
    const mpscl_matrix *input, const mpscl_vector *mean, mpscl_vector *partials)
{
    const void *objects[OP_COUNT] = {[OP_X] = input, [OP_MEAN] = mean, [OP_PARTIALS] = partials};
    size_t rounds = mpscl_matrix_batch_normalization_statistics_rounds(kernel);

    mpscl__clear_error();
    if (kernel == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, PARTIAL_FN ": kernel is NULL");
    if (round >= rounds)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS,
                           PARTIAL_FN ": round %zu: the %s mode has %zu round%s", round,
                           kernel->base.reproducible ? "reproducible" : "default", rounds,
                           rounds > 1 ? "s" : "");
    if (round == 0 && mean != NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS,
                           PARTIAL_FN ": mean is given in round 0, which computes it: pass NULL");
    return mpscl__bn_encode_phase(&kernel->base, cb, &partial_encoders[round], objects, round, 1);
}

/* The combine's operands: no matrix (the mean vector makes the region); default round 0 writes
 * mean and variance, reproducible round 0 the mean, round 1 the variance from the stored mean;
 * the final round updates the running vectors. */
#define COMBINE_OPERANDS(mean_dir, var_spec, running_name_m, running_name_v)                   \
    {                                                                                          \
        [OP_X] = ABSENT_MATRIX,                                                                \
        [OP_MEAN] = {"mean", 0, 1, mean_dir, 0, 0},                                            \
        [OP_VAR] = var_spec,                                                                   \
        [OP_RUNNING_MEAN] = {running_name_m, 0, 0, MPSCL__BN_OUT, 0, 0},                       \
        [OP_Y] = ABSENT_MATRIX,                                                                \
        [OP_RUNNING_VAR] = {running_name_v, 0, 0, MPSCL__BN_OUT, 0, 0},                        \
        [OP_PARTIALS] = {"partials", 0, 1, MPSCL__BN_IN, 0, 1},                                \
    }

static const mpscl__bn_operand_spec combine_operands[3][OP_COUNT] = {
    /* default */
    COMBINE_OPERANDS(MPSCL__BN_OUT, ((mpscl__bn_operand_spec){"variance", 0, 1, MPSCL__BN_OUT, 0, 0}),
                     "running_mean", "running_variance"),
    /* reproducible, round 0 */
    COMBINE_OPERANDS(MPSCL__BN_OUT, ((mpscl__bn_operand_spec){NULL, 0, 0, MPSCL__BN_IN, 0, 0}),
                     NULL, NULL),
    /* reproducible, round 1 */
    COMBINE_OPERANDS(MPSCL__BN_IN, ((mpscl__bn_operand_spec){"variance", 0, 1, MPSCL__BN_OUT, 0, 0}),
                     "running_mean", "running_variance"),
};

#define COMBINE_FN "matrix_batch_normalization_encode_combine_statistics"
static const mpscl__bn_encoder combine_encoders[3] = {
    {COMBINE_FN, combine_operands[0], OP_COUNT, kernel_names, K_COUNT, combine_kernels, set_args,
     1, 0, 1, OP_MEAN, K_CHUNK_STATS},
    {COMBINE_FN, combine_operands[1], OP_COUNT, kernel_names, K_COUNT, combine_kernels, set_args,
     1, 0, 1, OP_MEAN, K_CHUNK_STATS},
    {COMBINE_FN, combine_operands[2], OP_COUNT, kernel_names, K_COUNT, combine_kernels, set_args,
     1, 0, 1, OP_MEAN, K_CHUNK_STATS},
};

mpscl_status
mpscl_matrix_batch_normalization_encode_combine_statistics(
    mpscl_matrix_batch_normalization *kernel, mpscl_command_buffer *cb, size_t round,
    const mpscl_vector *partials, size_t count, mpscl_vector *mean, mpscl_vector *variance,
    mpscl_vector *running_mean, mpscl_vector *running_variance)
{
    size_t rounds = mpscl_matrix_batch_normalization_statistics_rounds(kernel), table;
    const void *objects[OP_COUNT] = {
        [OP_MEAN] = mean, [OP_VAR] = variance, [OP_RUNNING_MEAN] = running_mean,
        [OP_RUNNING_VAR] = running_variance, [OP_PARTIALS] = partials,
    };

    mpscl__clear_error();
    if (kernel == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, COMBINE_FN ": kernel is NULL");
    if (round >= rounds)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS,
                           COMBINE_FN ": round %zu: the %s mode has %zu round%s", round,
                           kernel->base.reproducible ? "reproducible" : "default", rounds,
                           rounds > 1 ? "s" : "");
    if (count == 0)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS,
                           COMBINE_FN ": count is 0: at least one partial is combined");
    if (count > UINT32_MAX)
        return mpscl__fail(MPSCL_ERROR_UNSUPPORTED, CL_SUCCESS,
                           COMBINE_FN ": %zu partials pass 2^32", count);
    if ((running_mean == NULL) != (running_variance == NULL))
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS,
                           COMBINE_FN ": %s is NULL but %s is not: give both or neither",
                           running_mean == NULL ? "running_mean" : "running_variance",
                           running_mean == NULL ? "running_variance" : "running_mean");
    if (running_mean != NULL && round + 1 != rounds)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS,
                           COMBINE_FN ": running statistics are updated in the final round (%zu), "
                           "not in round %zu", rounds - 1, round);
    table = kernel->base.reproducible ? 1 + round : 0;
    if (table == 1)
        objects[OP_VAR] = NULL;   /* round 0 of two writes no variance: ignored */
    return mpscl__bn_encode_phase(&kernel->base, cb, &combine_encoders[table], objects, round,
                                  count);
}
