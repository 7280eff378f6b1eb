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

/* Operand order in ops[] and in bn_forward_apply's argument list. */
enum { OP_X, OP_MEAN, OP_VAR, OP_GAMMA, OP_BETA, OP_Y, OP_RUNNING_MEAN, OP_RUNNING_VAR, OP_COUNT };
enum { K_SUM, K_SQDEV, K_APPLY, K_FUSED, K_TILE, K_ROWS_SUM, K_ROWS_SQDEV, K_ROWS_APPLY,
       K_ROWS_WHOLE, K_COUNT };

static const char *const kernel_names[] = {"bn_forward_sum", "bn_forward_sqdev", "bn_forward_apply",
                                           "bn_forward_fused", "bn_forward_tile",
                                           "bn_forward_rows_sum", "bn_forward_rows_sqdev",
                                           "bn_forward_rows_apply", "bn_forward_rows_whole"};
_Static_assert(K_COUNT <= MPSCL__BN_MAX_KERNELS, "kernels[] holds every forward kernel");

/* The kernels an encode runs, in order: the three passes (row streaming or not), apply alone
 * (given statistics), or one launch (the one-launch kernel, one group per column tile, or row
 * streaming with one chunk, which also applies given statistics). */
static size_t
plan_kernels(const mpscl__bn_kernel *k, const mpscl__bn_plan *p, size_t ks[MPSCL__BN_MAX_LAUNCHES])
{
    size_t sum = p->rows ? K_ROWS_SUM : K_SUM, apply = p->rows ? K_ROWS_APPLY : K_APPLY;
    size_t one = p->fused ? K_FUSED : p->tile ? K_TILE : p->whole ? K_ROWS_WHOLE : K_COUNT;
    size_t from = one != K_COUNT ? one : k->compute_statistics ? sum : apply;
    size_t to = one != K_COUNT ? one : apply, count = 0;

    for (size_t kr = from; kr <= to; kr++)
        ks[count++] = kr;
    return count;
}

static cl_int
set_args(mpscl__bn_kernel *k, const mpscl__bn_operand *ops, const mpscl__bn_plan *p)
{
    cl_uint stats = (cl_uint)k->compute_statistics;
    cl_int err = CL_SUCCESS;
    size_t ks[MPSCL__BN_MAX_LAUNCHES], count = plan_kernels(k, p, ks);

    for (size_t ki = 0; ki < count; ki++) {
        size_t kr = ks[ki];
        mpscl__bn_args a = {k, kr, 0, &err};
        /* FORWARD_INPUT_ARGS */
        mpscl__bn_arg_operand(&a, &ops[OP_X]);
        mpscl__bn_arg_geometry(&a, p);
        if (kr != K_SUM && kr != K_SQDEV && kr != K_ROWS_SUM && kr != K_ROWS_SQDEV) {
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
    }
    return err;
}

/* The two encodes differ only in whether the running vectors are required: the plain encode is
 * the running one without them (the kernels skip the update for a NULL running mean). */
#define FORWARD_OPERANDS(running)                                                              \
    {                                                                                          \
        [OP_X] = {"input", 1, 1, MPSCL__BN_IN, MPSCL__ORIGIN_SOURCE},                          \
        [OP_MEAN] = {"mean", 0, 1, MPSCL__BN_OUT_WITH_STATISTICS, 0},                          \
        [OP_VAR] = {"variance", 0, 1, MPSCL__BN_OUT_WITH_STATISTICS, 0},                       \
        [OP_GAMMA] = {"gamma", 0, 0, MPSCL__BN_IN, 0},                                         \
        [OP_BETA] = {"beta", 0, 0, MPSCL__BN_IN, 0},                                           \
        [OP_Y] = {"result", 1, 1, MPSCL__BN_OUT, MPSCL__ORIGIN_RESULT},                        \
        [OP_RUNNING_MEAN] = {"running_mean", 0, running, MPSCL__BN_UPDATE_WITH_STATISTICS, 0}, \
        [OP_RUNNING_VAR] = {"running_variance", 0, running, MPSCL__BN_UPDATE_WITH_STATISTICS, 0}, \
    }

static const mpscl__bn_operand_spec operands[OP_COUNT] = FORWARD_OPERANDS(0);
static const mpscl__bn_operand_spec running_operands[OP_COUNT] = FORWARD_OPERANDS(1);

static const mpscl__bn_encoder encoder = {
    "matrix_batch_normalization_encode", operands, OP_COUNT, kernel_names, K_COUNT,
    plan_kernels, set_args,
};

static const mpscl__bn_encoder running_encoder = {
    "matrix_batch_normalization_encode_with_running_statistics", running_operands, OP_COUNT,
    kernel_names, K_COUNT, plan_kernels, set_args,
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
