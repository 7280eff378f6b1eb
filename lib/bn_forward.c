/* mpscl_matrix_batch_normalization: MPSMatrixBatchNormalization. Validation, then either the
 * apply kernel alone, or the statistics passes (sum, squared deviations) followed by apply, of
 * cl/bn_forward.cl. */
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

/* Operand order in ops[] and in bn_forward_apply's argument list. */
enum { OP_X, OP_MEAN, OP_VAR, OP_GAMMA, OP_BETA, OP_Y, OP_COUNT };
enum { K_SUM, K_SQDEV, K_APPLY, K_FUSED, K_TILE, K_ROWS_SUM, K_ROWS_SQDEV, K_ROWS_APPLY, K_COUNT };

static const char *const kernel_names[] = {"bn_forward_sum", "bn_forward_sqdev", "bn_forward_apply",
                                           "bn_forward_fused", "bn_forward_tile",
                                           "bn_forward_rows_sum", "bn_forward_rows_sqdev",
                                           "bn_forward_rows_apply"};
_Static_assert(K_COUNT <= MPSCL__BN_MAX_KERNELS, "kernels[] holds every forward kernel");

/* The kernels an encode runs, in index order: the three passes (row streaming or not), apply
 * alone (given statistics), or one launch (the one-launch kernel, or one group per column
 * tile). */
static void
kernel_range(const mpscl__bn_kernel *k, const mpscl__bn_plan *p, size_t *from, size_t *to)
{
    size_t sum = p->rows ? K_ROWS_SUM : K_SUM, apply = p->rows ? K_ROWS_APPLY : K_APPLY;

    *from = p->fused ? K_FUSED : p->tile ? K_TILE : k->compute_statistics ? sum : apply;
    *to = p->fused ? K_FUSED : p->tile ? K_TILE : apply;
}

static cl_int
set_args(mpscl__bn_kernel *k, const mpscl__bn_operand *ops, const mpscl__bn_plan *p)
{
    cl_uint stats = (cl_uint)k->compute_statistics;
    cl_int err = CL_SUCCESS;
    size_t from, to;

    kernel_range(k, p, &from, &to);
    for (size_t kr = from; kr <= to; kr++) {
        mpscl__bn_args a = {k, kr, 0, &err};
        /* FORWARD_INPUT_ARGS */
        mpscl__bn_arg_operand(&a, &ops[OP_X]);
        mpscl__bn_arg_geometry(&a, p);
        if (kr != K_SUM && kr != K_SQDEV && kr != K_ROWS_SUM && kr != K_ROWS_SQDEV) {
            /* FORWARD_OUTPUT_ARGS */
            for (size_t i = OP_MEAN; i <= OP_Y; i++)
                mpscl__bn_arg_operand(&a, &ops[i]);
            mpscl__bn_arg(&a, sizeof k->epsilon, &k->epsilon);
            mpscl__bn_arg(&a, sizeof stats, &stats);
            mpscl__bn_arg(&a, sizeof k->neuron_a, &k->neuron_a);
            mpscl__bn_arg(&a, sizeof k->neuron_b, &k->neuron_b);
            mpscl__bn_arg(&a, sizeof k->neuron_c, &k->neuron_c);
        }
        if (kr == K_FUSED) {
            mpscl__bn_arg_one_launch(&a, p);
            mpscl__bn_arg_give_up(&a);
        }
        if (p->rows)
            mpscl__bn_arg_tile_items(&a, p);
    }
    return err;
}

static mpscl_status
validate(mpscl__bn_kernel *k, mpscl_command_buffer *cb, const mpscl_matrix *x,
         const mpscl_vector *const vecs[4], const mpscl_matrix *y, mpscl__bn_plan *p,
         const char *fn)
{
    static const char *const vnames[4] = {"mean", "variance", "gamma", "beta"};
    static const char *const mnames[2] = {"input", "result"};
    mpscl_status s;
    size_t n = k->feature_vectors, c = k->feature_channels, batches = k->batch_size;

    if ((s = mpscl__command_buffer_check_encode(cb, k->device, fn)) != MPSCL_SUCCESS ||
        (s = mpscl__bn_check_matrix(k, x, fn, "input")) != MPSCL_SUCCESS ||
        (s = mpscl__bn_check_matrix(k, y, fn, "result")) != MPSCL_SUCCESS)
        return s;
    for (size_t i = 0; i < 4; i++)
        if ((s = mpscl__bn_check_vector(k, vecs[i], i < 2, fn, vnames[i])) != MPSCL_SUCCESS)
            return s;
    if ((s = mpscl__bn_check_types(k, (const mpscl_matrix *const[]){x, y}, mnames, 2, vecs, vnames,
                                   4, fn)) != MPSCL_SUCCESS)
        return s;
    p->type = x->layout.type;
    for (size_t i = 0; i < 6; i++)
        p->vector_types[i] = i < 4 && vecs[i] != NULL ? vecs[i]->layout.type
                                                      : MPSCL_DATA_TYPE_FLOAT32;
    if ((s = mpscl__bn_clip_source(k, x, k->origins[MPSCL__ORIGIN_SOURCE], fn, "input", &n, &c,
                                   &batches)) != MPSCL_SUCCESS)
        return s;
    if (n == 0 || c == 0 || batches == 0)
        return mpscl__fail(MPSCL_ERROR_INVALID_SHAPE, CL_SUCCESS,
                           "%s: the region is empty (%zu rows, %zu columns, %zu matrices)", fn, n,
                           c, batches);
    if (n > UINT32_MAX || c > UINT32_MAX || k->batch_start + batches > UINT32_MAX)
        return mpscl__fail(MPSCL_ERROR_UNSUPPORTED, CL_SUCCESS,
                           "%s: region of %zu x %zu (batch to %zu) passes 2^32 in a dimension", fn,
                           n, c, k->batch_start + batches);
    p->n = n;
    p->c = c;
    p->batch_first = k->batch_start;
    p->batches = batches;
    if ((s = mpscl__bn_check_result(k, y, k->origins[MPSCL__ORIGIN_RESULT], p, fn, "result")) !=
        MPSCL_SUCCESS)
        return s;
    for (size_t i = 0; i < 4; i++)
        if ((s = mpscl__bn_check_vector_covers(vecs[i], p, fn, vnames[i])) != MPSCL_SUCCESS)
            return s;
    return MPSCL_SUCCESS;
}

mpscl_status
mpscl_matrix_batch_normalization_encode(mpscl_matrix_batch_normalization *kernel,
                                        mpscl_command_buffer *cb, const mpscl_matrix *input,
                                        mpscl_vector *mean, mpscl_vector *variance,
                                        const mpscl_vector *gamma, const mpscl_vector *beta,
                                        mpscl_matrix *result)
{
    static const char fn[] = "matrix_batch_normalization_encode";
    const mpscl_vector *vecs[4] = {mean, variance, gamma, beta};
    mpscl__bn_operand ops[OP_COUNT];
    mpscl__bn_plan p = {0};
    mpscl__bn_kernel *k;
    cl_event wait = NULL;
    cl_int err;
    mpscl_status s;
    size_t from, to;
    int stats;

    mpscl__clear_error();
    if (kernel == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, "%s: kernel is NULL", fn);
    k = &kernel->base;
    stats = k->compute_statistics;
    if ((s = validate(k, cb, input, vecs, result, &p, fn)) != MPSCL_SUCCESS)
        return s;
    ops[OP_X] = mpscl__bn_operand_matrix("input", input, k->origins[MPSCL__ORIGIN_SOURCE], 0);
    ops[OP_MEAN] = mpscl__bn_operand_vector("mean", mean, stats);
    ops[OP_VAR] = mpscl__bn_operand_vector("variance", variance, stats);
    ops[OP_GAMMA] = mpscl__bn_operand_vector("gamma", gamma, 0);
    ops[OP_BETA] = mpscl__bn_operand_vector("beta", beta, 0);
    ops[OP_Y] = mpscl__bn_operand_matrix("result", result, k->origins[MPSCL__ORIGIN_RESULT], 1);
    if ((s = mpscl__bn_check_aliasing(ops, OP_COUNT, &p, fn)) != MPSCL_SUCCESS)
        return s;

    pthread_mutex_lock(&k->lock);
    if ((s = mpscl__bn_prepare(k, cb, kernel_names, K_COUNT, &p, &wait, fn)) != MPSCL_SUCCESS)
        goto done;
    if ((s = mpscl__bn_hold(k, cb, ops, OP_COUNT)) != MPSCL_SUCCESS)
        goto done;
    if ((err = set_args(k, ops, &p)) != CL_SUCCESS) {
        s = mpscl__fail_cl(err, "clSetKernelArg");
        goto done;
    }
    kernel_range(k, &p, &from, &to);
    for (size_t kr = from; kr <= to && s == MPSCL_SUCCESS; kr++)
        s = mpscl__bn_enqueue(k, cb, kr, &p, &wait);
done:
    if (wait != NULL)
        mpscl__check_cl(clReleaseEvent(wait), "clReleaseEvent");
    pthread_mutex_unlock(&k->lock);
    return s;
}
