/* Encode-time device work of the batch-normalization kernels: programs and kernels, the plan,
 * enqueueing, and the references a command buffer holds. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bn_kernel.h"

/* ---- programs and kernels ---- */

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

mpscl_status
mpscl__bn_prepare(mpscl__bn_kernel *k, mpscl_command_buffer *cb, const mpscl__bn_encoder *e,
                  mpscl__bn_plan *p, cl_event *wait)
{
    /* The split phases' kernels and helpers are compiled only where they can run, so the
     * default mode's one-device programs are what they were (and build as fast). */
    int split = p->split || k->reproducible;
    const mpscl_data_type *v = p->vector_types;
    mpscl__bn_plan_input in = {&k->caps, k->tuning, &k->tune, 0, k->is_gradient,
                               k->compute_statistics && !k->reproducible, p->split, p->repro};
    char options[sizeof k->program_options];
    cl_program prog;
    mpscl_status s;

    *wait = NULL;
    /* Every specialisation is a -D, so the program key (family, options) names it exactly. The
     * fifth and sixth vectors are each family's own (bn_plan.h, vector_types). */
    snprintf(options, sizeof options,
             "-cl-std=CL1.2 -DNEURON=%d -DDATA_KIND=%d -DMEAN_KIND=%d -DVAR_KIND=%d "
             "-DGAMMA_KIND=%d -DBETA_KIND=%d -D%s=%d -D%s=%d -DVW=%d",
             (int)k->neuron, (int)p->type, (int)v[0], (int)v[1], (int)v[2], (int)v[3],
             k->is_gradient ? "DGAMMA_KIND" : "RUNNING_MEAN_KIND", (int)v[4],
             k->is_gradient ? "DBETA_KIND" : "RUNNING_VAR_KIND", (int)v[5],
             (int)mpscl__bn_plan_vector_width(&in, p->c));
    /* Only where set, so the training-mode programs (and their cached binaries) keep their key. */
    if (k->frozen_statistics)
        strncat(options, " -DFROZEN=1", sizeof options - strlen(options) - 1);
    if (split)
        strncat(options, " -DSPLIT=1", sizeof options - strlen(options) - 1);
    /* Bits independent of the plan need every operation correctly rounded, 1/sqrt(var + eps)
     * included: without the option a compiler may approximate it one way in scalar code and
     * another in vector code. */
    if (k->reproducible)
        strncat(options,
                k->device->rounds_divide_sqrt ? " -DREPRO=1 -cl-fp32-correctly-rounded-divide-sqrt"
                                              : " -DREPRO=1",
                sizeof options - strlen(options) - 1);
    /* The same specialisation as the last encode (the usual case): its kernels are at hand, and
     * the device's program table (a lock and a search) is not consulted. */
    if (k->program == NULL || strcmp(options, k->program_options) != 0) {
        if ((s = mpscl__device_program(k->device, k->is_gradient ? MPSCL__FAMILY_BN_GRADIENT
                                                                 : MPSCL__FAMILY_BN_FORWARD,
                                       options, &prog)) != MPSCL_SUCCESS)
            return s;
        if (prog != k->program &&
            (s = make_kernels(k, prog, e->kernel_names, split ? e->nkernels : e->nbase, e->fn)) !=
                MPSCL_SUCCESS)
            return s;
        memcpy(k->program_options, options, sizeof options);
    }
    in.kernel_wg_max = k->kernel_wg_max;
    mpscl__bn_plan_launch(&in, p);
    if (k->tune.print_plan)
        mpscl__bn_plan_print(&in, p);
    /* A new number for each one launch, never 0 (what the gave-up word holds until a group gives
     * up). */
    if (p->fused && ++k->launch == 0)
        k->launch = 1;
    return mpscl__bn_prepare_workspace(k, cb, p, wait);
}


/* ---- enqueueing ---- */

/* Looks at a counter before a one-launch group gives up: far beyond any wait on a device that
 * runs the groups as the kernels assume (microseconds), short of a hang where it does not (some
 * seconds on a GPU, less on a CPU). */
enum { DEFAULT_SPIN_LIMIT = 1u << 24 };

cl_uint
mpscl__bn_spin_limit(const mpscl__bn_kernel *k)
{
    return k->tune.spin_set ? k->tune.spin : DEFAULT_SPIN_LIMIT;
}

/* The least time a give-up takes: every one spins through the limit first (common.clh), and no
 * device looks at a global counter with an atomic in less than half a nanosecond. A launch that
 * ended sooner after its encode cannot have given up, so the wait reads nothing back: the
 * default limit makes that 8 ms, far beyond the launches the planner makes one. */
static double
give_up_seconds(const mpscl__bn_kernel *k)
{
    return (double)mpscl__bn_spin_limit(k) * 0.5e-9;
}

mpscl_status
mpscl__bn_enqueue(mpscl__bn_kernel *k, mpscl_command_buffer *cb, const mpscl__bn_launch *l,
                  const mpscl__bn_plan *p, cl_event *wait)
{
    size_t items = (p->c + p->vw - 1) / p->vw, i = l->kernel;
    size_t global[3] = {(items + p->lx - 1) / p->lx * p->lx, p->chunks * p->ly, p->batches};
    size_t local[3] = {p->lx, p->ly, 1};
    cl_event ev = NULL;
    cl_int err;
    mpscl_status s;

    if (l->grid == MPSCL__GRID_COLUMNS) {
        global[0] = (p->c + p->column_lx - 1) / p->column_lx * p->column_lx;
        global[1] = 1;
        local[0] = p->column_lx;
        local[1] = 1;
    } else if (l->grid == MPSCL__GRID_BINS) {
        global[0] = (p->c + p->rlx - 1) / p->rlx * p->rlx;
        global[1] = p->rchunks * p->rly;
        local[0] = p->rlx;
        local[1] = p->rly;
    } else if (p->fused) {
        global[0] = p->lx * (k->is_gradient ? 2 : 3) * p->tiles * p->chunks;
        global[1] = p->ly;
        global[2] = 1;
        if ((s = mpscl__command_buffer_check_word(
                 cb, k->sync, MPSCL__SYNC_GAVE_UP_WORD * sizeof(cl_uint), k->launch,
                 give_up_seconds(k), &k->counters_suspect,
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
    /* Operands over host memory hand it to the device before the kernels run. */
    for (size_t i = 0; i < nops && s == MPSCL_SUCCESS; i++) {
        mpscl__storage st;
        if (ops[i].m == NULL && ops[i].v == NULL)
            continue;
        st = ops[i].m != NULL ? mpscl__matrix_storage(ops[i].m) : mpscl__vector_storage(ops[i].v);
        s = mpscl__command_buffer_use(cb, &st, ops[i].is_output);
    }
    return s;
}
