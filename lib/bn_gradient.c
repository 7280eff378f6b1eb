/* mpscl_matrix_batch_normalization_gradient: MPSMatrixBatchNormalizationGradient. Validation of
 * the ten operands, then pass 1 (partial sums) and pass 2 (dx, dgamma, dbeta) of
 * cl/bn_gradient.cl: two launches, or both passes in one where the planner picks it. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "bn_kernel.h"

struct mpscl_matrix_batch_normalization_gradient {
    mpscl__bn_kernel base;
};

MPSCL__BN_DEFINE_PROPERTIES(mpscl_matrix_batch_normalization_gradient)
MPSCL__BN_ORIGIN_PROPERTY(mpscl_matrix_batch_normalization_gradient, primary_source_matrix_origin,
                          MPSCL__ORIGIN_SOURCE)
MPSCL__BN_ORIGIN_PROPERTY(mpscl_matrix_batch_normalization_gradient, secondary_source_matrix_origin,
                          MPSCL__ORIGIN_SECONDARY)

mpscl_status
mpscl_matrix_batch_normalization_gradient_create(mpscl_device *d,
                                                 mpscl_matrix_batch_normalization_gradient **out)
{
    return mpscl_matrix_batch_normalization_gradient__new(d, 1, out,
                                                          "matrix_batch_normalization_gradient_create");
}

int
mpscl_matrix_batch_normalization_gradient_frozen_statistics(
    const mpscl_matrix_batch_normalization_gradient *k)
{
    return k ? k->base.frozen_statistics : 0;
}

mpscl_status
mpscl_matrix_batch_normalization_gradient_set_frozen_statistics(
    mpscl_matrix_batch_normalization_gradient *k, int frozen)
{
    MPSCL__BN_NULL_CHECK(k, "matrix_batch_normalization_gradient_set_frozen_statistics");
    k->base.frozen_statistics = frozen != 0;
    return MPSCL_SUCCESS;
}

int
mpscl_matrix_batch_normalization_gradient_reproducible(
    const mpscl_matrix_batch_normalization_gradient *k)
{
    return k ? k->base.reproducible : 0;
}

mpscl_status
mpscl_matrix_batch_normalization_gradient_set_reproducible(
    mpscl_matrix_batch_normalization_gradient *k, int on)
{
    MPSCL__BN_NULL_CHECK(k, "matrix_batch_normalization_gradient_set_reproducible");
    k->base.reproducible = on != 0;
    return MPSCL_SUCCESS;
}

mpscl_status
mpscl_matrix_batch_normalization_gradient_partials_length(
    const mpscl_matrix_batch_normalization_gradient *k, size_t columns, size_t *length)
{
    return mpscl__bn_partials_length(k != NULL ? &k->base : NULL, columns, length,
                                     "matrix_batch_normalization_gradient_partials_length");
}

/* Operand order in ops[] and in the kernels' argument lists; the split phases' partials last. */
enum { OP_DY, OP_X, OP_MEAN, OP_VAR, OP_GAMMA, OP_BETA, OP_DX, OP_DGAMMA, OP_DBETA, OP_PARTIALS,
       OP_COUNT };

enum { KERNEL_PARTIALS, KERNEL_APPLY, KERNEL_FUSED, KERNEL_ROWS_PARTIALS, KERNEL_ROWS_APPLY,
       KERNEL_TILE, KERNEL_ROWS_WHOLE, KERNEL_PARTIAL_OUT, KERNEL_REPRO_SUMS, KERNEL_REPRO_PARTIAL,
       KERNEL_APPLY_SPLIT, KERNEL_ROWS_APPLY_SPLIT, KERNEL_COUNT };
static const char *const kernel_names[] = {"bn_gradient_partials", "bn_gradient_apply",
                                           "bn_gradient_fused", "bn_gradient_rows_partials",
                                           "bn_gradient_rows_apply", "bn_gradient_tile",
                                           "bn_gradient_rows_whole", "bn_gradient_partial_out",
                                           "bn_gradient_repro_sums", "bn_gradient_repro_partial",
                                           "bn_gradient_apply_split",
                                           "bn_gradient_rows_apply_split"};
_Static_assert(KERNEL_COUNT <= MPSCL__BN_MAX_KERNELS, "kernels[] holds every gradient kernel");
_Static_assert(sizeof kernel_names / sizeof kernel_names[0] == KERNEL_COUNT, "a name per kernel");

/* The one launch's own arguments, after the outputs: the shared ones, then its interleave. */
static void
set_fused_args(mpscl__bn_args *a, const mpscl__bn_plan *p)
{
    cl_uint slab = (cl_uint)p->slab, lag = (cl_uint)p->lag;

    mpscl__bn_arg_one_launch(a, p);
    mpscl__bn_arg(a, sizeof slab, &slab);
    mpscl__bn_arg(a, sizeof lag, &lag);
}

static size_t
add_launch(mpscl__bn_launch *ls, size_t count, size_t kernel, mpscl__bn_grid grid, int own)
{
    ls[count].kernel = kernel;
    ls[count].grid = grid;
    ls[count].round = 0;
    ls[count].own_partials = own;
    return count + 1;
}

/* A share's partial sums: pass 1 (either layout: both leave the chunks' sums alike) and the
 * chunks' totals, or the binned sums and their merge (none of the rows' kernels for a share of
 * no rows). */
static size_t
partial_kernels(const mpscl__bn_kernel *k, const mpscl__bn_plan *p,
                mpscl__bn_launch ls[MPSCL__BN_MAX_LAUNCHES])
{
    size_t count = 0;

    if (!p->empty)
        count = add_launch(ls, count,
                           k->reproducible ? KERNEL_REPRO_SUMS
                           : p->rows       ? KERNEL_ROWS_PARTIALS
                                           : KERNEL_PARTIALS,
                           k->reproducible ? MPSCL__GRID_BINS : MPSCL__GRID_PLAN, 0);
    return add_launch(ls, count, k->reproducible ? KERNEL_REPRO_PARTIAL : KERNEL_PARTIAL_OUT,
                      MPSCL__GRID_COLUMNS, 0);
}

/* The plan's kernels in launch order: pass 1 and pass 2, or one launch; in the reproducible
 * mode the split phases with one partial, kept in the workspace. */
static size_t
plan_kernels(const mpscl__bn_kernel *k, const mpscl__bn_plan *p,
             mpscl__bn_launch ls[MPSCL__BN_MAX_LAUNCHES])
{
    if (k->reproducible) {
        size_t count = add_launch(ls, 0, KERNEL_REPRO_SUMS, MPSCL__GRID_BINS, 1);
        count = add_launch(ls, count, KERNEL_REPRO_PARTIAL, MPSCL__GRID_COLUMNS, 1);
        return add_launch(ls, count, KERNEL_APPLY_SPLIT, MPSCL__GRID_PLAN, 1);
    }
    if (p->fused || p->tile || mpscl__bn_plan_whole(p))
        return add_launch(ls, 0, p->fused ? KERNEL_FUSED : p->tile ? KERNEL_TILE : KERNEL_ROWS_WHOLE,
                          MPSCL__GRID_PLAN, 0);
    add_launch(ls, 0, p->rows ? KERNEL_ROWS_PARTIALS : KERNEL_PARTIALS, MPSCL__GRID_PLAN, 0);
    return add_launch(ls, 1, p->rows ? KERNEL_ROWS_APPLY : KERNEL_APPLY, MPSCL__GRID_PLAN, 0);
}

static size_t
apply_kernels(const mpscl__bn_kernel *k, const mpscl__bn_plan *p,
              mpscl__bn_launch ls[MPSCL__BN_MAX_LAUNCHES])
{
    (void)k;
    return add_launch(ls, 0, p->rows ? KERNEL_ROWS_APPLY_SPLIT : KERNEL_APPLY_SPLIT,
                      MPSCL__GRID_PLAN, 0);
}

/* Arguments of the partials' kernels (bn_gradient.cl, "split phases"). */
static void
set_split_args(mpscl__bn_kernel *k, const mpscl__bn_operand *ops, const mpscl__bn_plan *p,
               const mpscl__bn_launch *l, mpscl__bn_args *a)
{
    size_t n = p->empty ? 0 : p->n;

    if (l->kernel == KERNEL_REPRO_SUMS) {
        for (size_t i = OP_DY; i <= OP_BETA; i++)
            mpscl__bn_arg_operand(a, &ops[i]);
        mpscl__bn_arg(a, sizeof k->epsilon, &k->epsilon);
        mpscl__bn_arg_uint(a, n);
        mpscl__bn_arg_uint(a, p->c);
        mpscl__bn_arg_uint(a, p->rchunk_rows);
        mpscl__bn_arg_uint(a, p->batch_first);
        mpscl__bn_arg(a, sizeof k->neuron_a, &k->neuron_a);
        mpscl__bn_arg(a, sizeof k->neuron_b, &k->neuron_b);
        mpscl__bn_arg(a, sizeof k->neuron_c, &k->neuron_c);
        mpscl__bn_arg_buffer(a, k->scratch);
        mpscl__bn_arg(a, p->bins_local_bytes, NULL);
        return;
    }
    /* KERNEL_PARTIAL_OUT, KERNEL_REPRO_PARTIAL */
    mpscl__bn_arg_buffer(a, k->scratch);
    mpscl__bn_arg_uint(a, n);
    mpscl__bn_arg_uint(a, p->c);
    mpscl__bn_arg_uint(a, p->empty ? 0 : l->kernel == KERNEL_PARTIAL_OUT ? p->chunks : p->rchunks);
    mpscl__bn_arg_uint(a, p->batch_first);
    mpscl__bn_arg_partials(a, &ops[OP_PARTIALS], p, l);
}

/* Arguments every pass shares (GRADIENT_INPUT_ARGS), then the outputs of the kernels that write
 * them (pass 2, or the one launch), then each layout's own. */
static cl_int
set_args(mpscl__bn_kernel *k, const mpscl__bn_operand *ops, const mpscl__bn_plan *p,
         const mpscl__bn_launch *l)
{
    cl_int err = CL_SUCCESS;
    size_t kr = l->kernel;
    mpscl__bn_args a = {k, kr, 0, &err};

    if (kr == KERNEL_PARTIAL_OUT || kr == KERNEL_REPRO_SUMS || kr == KERNEL_REPRO_PARTIAL) {
        set_split_args(k, ops, p, l, &a);
        return err;
    }
    for (size_t i = OP_DY; i <= OP_BETA; i++)
        mpscl__bn_arg_operand(&a, &ops[i]);
    mpscl__bn_arg(&a, sizeof k->epsilon, &k->epsilon);
    mpscl__bn_arg_geometry(&a, p);
    mpscl__bn_arg(&a, sizeof k->neuron_a, &k->neuron_a);
    mpscl__bn_arg(&a, sizeof k->neuron_b, &k->neuron_b);
    mpscl__bn_arg(&a, sizeof k->neuron_c, &k->neuron_c);
    if (kr != KERNEL_PARTIALS && kr != KERNEL_ROWS_PARTIALS)
        for (size_t i = OP_DX; i <= OP_DBETA; i++)
            mpscl__bn_arg_operand(&a, &ops[i]);
    if (kr == KERNEL_FUSED)
        set_fused_args(&a, p);
    if (p->rows)
        mpscl__bn_arg_tile_items(&a, p);
    if (kr == KERNEL_APPLY_SPLIT || kr == KERNEL_ROWS_APPLY_SPLIT) {
        mpscl__bn_arg_partials(&a, &ops[OP_PARTIALS], p, l);
        mpscl__bn_arg_uint(&a, l->own_partials ? 1 : p->count);
    }
    return err;
}

#define GRADIENT_INPUT_OPERANDS                                                                \
    [OP_DY] = {"gradient", 1, 1, MPSCL__BN_IN, MPSCL__ORIGIN_SOURCE, 0},                       \
    [OP_X] = {"input", 1, 1, MPSCL__BN_IN, MPSCL__ORIGIN_SECONDARY, 0},                        \
    [OP_MEAN] = {"mean", 0, 1, MPSCL__BN_IN, 0, 0},                                            \
    [OP_VAR] = {"variance", 0, 1, MPSCL__BN_IN, 0, 0},                                         \
    [OP_GAMMA] = {"gamma", 0, 0, MPSCL__BN_IN, 0, 0},                                          \
    [OP_BETA] = {"beta", 0, 0, MPSCL__BN_IN, 0, 0}
#define GRADIENT_OUTPUT_OPERANDS                                                               \
    [OP_DX] = {"result_gradient_for_data", 1, 1, MPSCL__BN_OUT, MPSCL__ORIGIN_RESULT, 0},      \
    [OP_DGAMMA] = {"result_gradient_for_gamma", 0, 0, MPSCL__BN_OUT, 0, 0},                    \
    [OP_DBETA] = {"result_gradient_for_beta", 0, 0, MPSCL__BN_OUT, 0, 0}

static const mpscl__bn_operand_spec operands[OP_COUNT] = {
    GRADIENT_INPUT_OPERANDS, GRADIENT_OUTPUT_OPERANDS,
    [OP_PARTIALS] = {NULL, 0, 0, MPSCL__BN_IN, 0, 1},
};

static const mpscl__bn_encoder encoder = {
    "matrix_batch_normalization_gradient_encode", operands, OP_COUNT, kernel_names,
    KERNEL_COUNT, plan_kernels, set_args, 0, 1, 0, 0, KERNEL_PARTIAL_OUT,
};

mpscl_status
mpscl_matrix_batch_normalization_gradient_encode(
    mpscl_matrix_batch_normalization_gradient *kernel, mpscl_command_buffer *cb,
    const mpscl_matrix *gradient, const mpscl_matrix *input, const mpscl_vector *mean,
    const mpscl_vector *variance, const mpscl_vector *gamma, const mpscl_vector *beta,
    mpscl_matrix *result_gradient_for_data, mpscl_vector *result_gradient_for_gamma,
    mpscl_vector *result_gradient_for_beta)
{
    const void *objects[OP_COUNT] = {
        [OP_DY] = gradient, [OP_X] = input, [OP_MEAN] = mean, [OP_VAR] = variance,
        [OP_GAMMA] = gamma, [OP_BETA] = beta, [OP_DX] = result_gradient_for_data,
        [OP_DGAMMA] = result_gradient_for_gamma, [OP_DBETA] = result_gradient_for_beta,
    };

    return mpscl__bn_encode(kernel != NULL ? &kernel->base : NULL, cb, &encoder, objects);
}

/* ---- split phases (docs/DISTRIBUTED.md) ---- */

/* The outputs' slots are absent; the parameter gradients' stay as absent vectors, so every
 * vector keeps its position (bn_plan.h, vector_types). */
static const mpscl__bn_operand_spec partial_operands[OP_COUNT] = {
    GRADIENT_INPUT_OPERANDS,
    [OP_DX] = {NULL, 1, 0, MPSCL__BN_IN, 0, 0},
    [OP_PARTIALS] = {"partials", 0, 1, MPSCL__BN_OUT, 0, 1},
};

static const mpscl__bn_encoder partial_encoder = {
    "matrix_batch_normalization_gradient_encode_partial_sums", partial_operands, OP_COUNT,
    kernel_names, KERNEL_COUNT, partial_kernels, set_args, 1, 1, 1, 0, KERNEL_PARTIAL_OUT,
};

mpscl_status
mpscl_matrix_batch_normalization_gradient_encode_partial_sums(
    mpscl_matrix_batch_normalization_gradient *kernel, mpscl_command_buffer *cb,
    const mpscl_matrix *gradient, const mpscl_matrix *input, const mpscl_vector *mean,
    const mpscl_vector *variance, const mpscl_vector *gamma, const mpscl_vector *beta,
    mpscl_vector *partials)
{
    const void *objects[OP_COUNT] = {
        [OP_DY] = gradient, [OP_X] = input, [OP_MEAN] = mean, [OP_VAR] = variance,
        [OP_GAMMA] = gamma, [OP_BETA] = beta, [OP_PARTIALS] = partials,
    };

    return mpscl__bn_encode_phase(kernel != NULL ? &kernel->base : NULL, cb, &partial_encoder,
                                  objects, 0, 1);
}

static const mpscl__bn_operand_spec apply_operands[OP_COUNT] = {
    GRADIENT_INPUT_OPERANDS, GRADIENT_OUTPUT_OPERANDS,
    [OP_PARTIALS] = {"partials", 0, 1, MPSCL__BN_IN, 0, 1},
};

#define APPLY_FN "matrix_batch_normalization_gradient_encode_apply"
static const mpscl__bn_encoder apply_encoder = {
    APPLY_FN, apply_operands, OP_COUNT, kernel_names, KERNEL_COUNT, apply_kernels, set_args,
    1, 0, 1, 0, KERNEL_PARTIAL_OUT,
};

mpscl_status
mpscl_matrix_batch_normalization_gradient_encode_apply(
    mpscl_matrix_batch_normalization_gradient *kernel, mpscl_command_buffer *cb,
    const mpscl_matrix *gradient, const mpscl_matrix *input, const mpscl_vector *mean,
    const mpscl_vector *variance, const mpscl_vector *gamma, const mpscl_vector *beta,
    const mpscl_vector *partials, size_t count, mpscl_matrix *result_gradient_for_data,
    mpscl_vector *result_gradient_for_gamma, mpscl_vector *result_gradient_for_beta)
{
    const void *objects[OP_COUNT] = {
        [OP_DY] = gradient, [OP_X] = input, [OP_MEAN] = mean, [OP_VAR] = variance,
        [OP_GAMMA] = gamma, [OP_BETA] = beta, [OP_DX] = result_gradient_for_data,
        [OP_DGAMMA] = result_gradient_for_gamma, [OP_DBETA] = result_gradient_for_beta,
        [OP_PARTIALS] = partials,
    };

    mpscl__clear_error();
    if (kernel == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, APPLY_FN ": kernel is NULL");
    if (count == 0)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS,
                           APPLY_FN ": count is 0: at least one partial is combined");
    if (count > UINT32_MAX)
        return mpscl__fail(MPSCL_ERROR_UNSUPPORTED, CL_SUCCESS,
                           APPLY_FN ": %zu partials pass 2^32", count);
    return mpscl__bn_encode_phase(&kernel->base, cb, &apply_encoder, objects, 0, count);
}
