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

/* Operand order in ops[] and in the kernels' argument lists. */
enum { OP_DY, OP_X, OP_MEAN, OP_VAR, OP_GAMMA, OP_BETA, OP_DX, OP_DGAMMA, OP_DBETA, OP_COUNT };

enum { KERNEL_PARTIALS, KERNEL_APPLY, KERNEL_FUSED, KERNEL_ROWS_PARTIALS, KERNEL_ROWS_APPLY,
       KERNEL_TILE, KERNEL_ROWS_WHOLE, KERNEL_COUNT };
static const char *const kernel_names[] = {"bn_gradient_partials", "bn_gradient_apply",
                                           "bn_gradient_fused", "bn_gradient_rows_partials",
                                           "bn_gradient_rows_apply", "bn_gradient_tile",
                                           "bn_gradient_rows_whole"};
_Static_assert(KERNEL_COUNT <= MPSCL__BN_MAX_KERNELS, "kernels[] holds every gradient kernel");

/* The one launch's own arguments, after the outputs: the shared ones, then its interleave. */
static void
set_fused_args(mpscl__bn_args *a, const mpscl__bn_plan *p)
{
    cl_uint slab = (cl_uint)p->slab, lag = (cl_uint)p->lag;

    mpscl__bn_arg_one_launch(a, p);
    mpscl__bn_arg(a, sizeof slab, &slab);
    mpscl__bn_arg(a, sizeof lag, &lag);
}

/* The plan's kernels in launch order, ks[0 .. count-1]: pass 1 and pass 2, or one launch. */
static size_t
plan_kernels(const mpscl__bn_kernel *k, const mpscl__bn_plan *p,
             size_t ks[MPSCL__BN_MAX_LAUNCHES])
{
    (void)k;
    if (p->fused || p->tile || p->whole) {
        ks[0] = p->fused ? KERNEL_FUSED : p->tile ? KERNEL_TILE : KERNEL_ROWS_WHOLE;
        return 1;
    }
    ks[0] = p->rows ? KERNEL_ROWS_PARTIALS : KERNEL_PARTIALS;
    ks[1] = p->rows ? KERNEL_ROWS_APPLY : KERNEL_APPLY;
    return 2;
}

/* Arguments every pass shares (GRADIENT_INPUT_ARGS), then the outputs of the kernels that write
 * them (pass 2, or the one launch), then each layout's own. */
static cl_int
set_args(mpscl__bn_kernel *k, const mpscl__bn_operand *ops, const mpscl__bn_plan *p)
{
    cl_int err = CL_SUCCESS;
    size_t ks[MPSCL__BN_MAX_LAUNCHES], count = plan_kernels(k, p, ks);

    for (size_t ki = 0; ki < count; ki++) {
        size_t kr = ks[ki];
        mpscl__bn_args a = {k, kr, 0, &err};
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
    }
    return err;
}

static const mpscl__bn_operand_spec operands[OP_COUNT] = {
    [OP_DY] = {"gradient", 1, 1, MPSCL__BN_IN, MPSCL__ORIGIN_SOURCE},
    [OP_X] = {"input", 1, 1, MPSCL__BN_IN, MPSCL__ORIGIN_SECONDARY},
    [OP_MEAN] = {"mean", 0, 1, MPSCL__BN_IN, 0},
    [OP_VAR] = {"variance", 0, 1, MPSCL__BN_IN, 0},
    [OP_GAMMA] = {"gamma", 0, 0, MPSCL__BN_IN, 0},
    [OP_BETA] = {"beta", 0, 0, MPSCL__BN_IN, 0},
    [OP_DX] = {"result_gradient_for_data", 1, 1, MPSCL__BN_OUT, MPSCL__ORIGIN_RESULT},
    [OP_DGAMMA] = {"result_gradient_for_gamma", 0, 0, MPSCL__BN_OUT, 0},
    [OP_DBETA] = {"result_gradient_for_beta", 0, 0, MPSCL__BN_OUT, 0},
};

static const mpscl__bn_encoder encoder = {
    "matrix_batch_normalization_gradient_encode", operands, OP_COUNT, kernel_names,
    KERNEL_COUNT, plan_kernels, set_args,
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
