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

/* Operand order in ops[] and in the kernels' argument lists. */
enum { OP_DY, OP_X, OP_MEAN, OP_VAR, OP_GAMMA, OP_BETA, OP_DX, OP_DGAMMA, OP_DBETA, OP_COUNT };

enum { KERNEL_PARTIALS, KERNEL_APPLY, KERNEL_FUSED, KERNEL_ROWS_PARTIALS, KERNEL_ROWS_APPLY,
       KERNEL_TILE, KERNEL_COUNT };
static const char *const kernel_names[] = {"bn_gradient_partials", "bn_gradient_apply",
                                           "bn_gradient_fused", "bn_gradient_rows_partials",
                                           "bn_gradient_rows_apply", "bn_gradient_tile"};
_Static_assert(KERNEL_COUNT <= MPSCL__BN_MAX_KERNELS, "kernels[] holds every gradient kernel");

/* The one launch's own arguments, after the outputs: the shared ones, then its interleave. */
static void
set_fused_args(mpscl__bn_args *a, const mpscl__bn_plan *p)
{
    cl_uint slab = (cl_uint)p->slab, lag = (cl_uint)p->lag;

    mpscl__bn_arg_one_launch(a, p);
    mpscl__bn_arg(a, sizeof slab, &slab);
    mpscl__bn_arg(a, sizeof lag, &lag);
    mpscl__bn_arg_give_up(a);
}

/* The plan's kernels in launch order, ks[0 .. count-1]: pass 1 and pass 2, or the one launch. */
static size_t
plan_kernels(const mpscl__bn_plan *p, size_t ks[2])
{
    if (p->fused || p->tile) {
        ks[0] = p->fused ? KERNEL_FUSED : KERNEL_TILE;
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
    size_t ks[2], count = plan_kernels(p, ks);

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

/* Every check that can refuse the call, in the order a user would fix them. */
static mpscl_status
validate(mpscl__bn_kernel *k, mpscl_command_buffer *cb, const mpscl_matrix *dy,
         const mpscl_matrix *x, const mpscl_vector *const vecs[6], const mpscl_matrix *dx,
         mpscl__bn_plan *p, const char *fn)
{
    static const char *const vnames[6] = {"mean", "variance", "gamma", "beta",
                                          "result_gradient_for_gamma", "result_gradient_for_beta"};
    static const char *const mnames[3] = {"gradient", "input", "result_gradient_for_data"};
    mpscl_status s;
    size_t n = k->feature_vectors, c = k->feature_channels, batches = k->batch_size;

    if ((s = mpscl__command_buffer_check_encode(cb, k->device, fn)) != MPSCL_SUCCESS ||
        (s = mpscl__bn_check_matrix(k, dy, fn, "gradient")) != MPSCL_SUCCESS ||
        (s = mpscl__bn_check_matrix(k, x, fn, "input")) != MPSCL_SUCCESS ||
        (s = mpscl__bn_check_matrix(k, dx, fn, "result_gradient_for_data")) != MPSCL_SUCCESS)
        return s;
    for (size_t i = 0; i < 6; i++)
        if ((s = mpscl__bn_check_vector(k, vecs[i], i < 2, fn, vnames[i])) != MPSCL_SUCCESS)
            return s;
    if ((s = mpscl__bn_check_types(k, (const mpscl_matrix *const[]){dy, x, dx}, mnames, 3, vecs,
                                   vnames, 6, fn)) != MPSCL_SUCCESS)
        return s;
    p->type = dy->layout.type;
    for (size_t i = 0; i < 6; i++)
        p->vector_types[i] = vecs[i] != NULL ? vecs[i]->layout.type : MPSCL_DATA_TYPE_FLOAT32;
    if ((s = mpscl__bn_clip_source(k, dy, k->origins[MPSCL__ORIGIN_SOURCE], fn, "gradient", &n, &c,
                                   &batches)) != MPSCL_SUCCESS ||
        (s = mpscl__bn_clip_source(k, x, k->origins[MPSCL__ORIGIN_SECONDARY], fn, "input", &n, &c,
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
    if ((s = mpscl__bn_check_result(k, dx, k->origins[MPSCL__ORIGIN_RESULT], p, fn,
                                    "result_gradient_for_data")) != MPSCL_SUCCESS)
        return s;
    for (size_t i = 0; i < 6; i++)
        if ((s = mpscl__bn_check_vector_covers(vecs[i], p, fn, vnames[i])) != MPSCL_SUCCESS)
            return s;
    return MPSCL_SUCCESS;
}

mpscl_status
mpscl_matrix_batch_normalization_gradient_encode(
    mpscl_matrix_batch_normalization_gradient *kernel, mpscl_command_buffer *cb,
    const mpscl_matrix *gradient, const mpscl_matrix *input, const mpscl_vector *mean,
    const mpscl_vector *variance, const mpscl_vector *gamma, const mpscl_vector *beta,
    mpscl_matrix *result_gradient_for_data, mpscl_vector *result_gradient_for_gamma,
    mpscl_vector *result_gradient_for_beta)
{
    static const char fn[] = "matrix_batch_normalization_gradient_encode";
    const mpscl_vector *vecs[6] = {mean, variance, gamma, beta, result_gradient_for_gamma,
                                   result_gradient_for_beta};
    mpscl__bn_operand ops[OP_COUNT];
    mpscl__bn_plan p = {0};
    mpscl__bn_kernel *k;
    size_t ks[2], count;
    cl_event wait = NULL;
    cl_int err;
    mpscl_status s;

    mpscl__clear_error();
    if (kernel == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, "%s: kernel is NULL", fn);
    k = &kernel->base;
    if ((s = validate(k, cb, gradient, input, vecs, result_gradient_for_data, &p, fn)) !=
        MPSCL_SUCCESS)
        return s;
    ops[OP_DY] = mpscl__bn_operand_matrix("gradient", gradient, k->origins[MPSCL__ORIGIN_SOURCE], 0);
    ops[OP_X] = mpscl__bn_operand_matrix("input", input, k->origins[MPSCL__ORIGIN_SECONDARY], 0);
    ops[OP_MEAN] = mpscl__bn_operand_vector("mean", mean, 0);
    ops[OP_VAR] = mpscl__bn_operand_vector("variance", variance, 0);
    ops[OP_GAMMA] = mpscl__bn_operand_vector("gamma", gamma, 0);
    ops[OP_BETA] = mpscl__bn_operand_vector("beta", beta, 0);
    ops[OP_DX] = mpscl__bn_operand_matrix("result_gradient_for_data", result_gradient_for_data,
                                          k->origins[MPSCL__ORIGIN_RESULT], 1);
    ops[OP_DGAMMA] = mpscl__bn_operand_vector("result_gradient_for_gamma",
                                              result_gradient_for_gamma, 1);
    ops[OP_DBETA] = mpscl__bn_operand_vector("result_gradient_for_beta", result_gradient_for_beta, 1);
    if ((s = mpscl__bn_check_aliasing(ops, OP_COUNT, &p, fn)) != MPSCL_SUCCESS)
        return s;

    pthread_mutex_lock(&k->lock);
    if ((s = mpscl__bn_prepare(k, cb, kernel_names, KERNEL_COUNT, &p, &wait, fn)) !=
        MPSCL_SUCCESS)
        goto done;
    if ((s = mpscl__bn_hold(k, cb, ops, OP_COUNT)) != MPSCL_SUCCESS)
        goto done;
    if ((err = set_args(k, ops, &p)) != CL_SUCCESS) {
        s = mpscl__fail_cl(err, "clSetKernelArg");
        goto done;
    }
    count = plan_kernels(&p, ks);
    for (size_t i = 0; i < count && s == MPSCL_SUCCESS; i++)
        s = mpscl__bn_enqueue(k, cb, ks[i], &p, &wait);
done:
    if (wait != NULL)
        mpscl__check_cl(clReleaseEvent(wait), "clReleaseEvent");
    pthread_mutex_unlock(&k->lock);
    return s;
}
