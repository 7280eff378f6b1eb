/* What the batch-normalization kernel objects (forward and gradient) share as objects: creation
 * with the MPSCL_TUNE overrides, properties and their checks, copies and release. */
#include "config.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bn_kernel.h"

/* MPSCL_TUNE="vw=4,wg=128,lx=16,chunks=64,fused=1,slab=4,lag=2,rows=0,tile=0,spin=1000" forces
 * launch parameters, for experiments and for the tests that run every variant the planner can
 * pick (spin: how long a one-launch group waits for others before it gives up). Unknown keys and
 * bad values are ignored: tuning never changes results beyond the order of summation, and never
 * fails (a slab that does not divide the tiles is the largest divisor below it). */
static void
read_tune(mpscl__bn_tune *t)
{
    const char *s = getenv("MPSCL_TUNE");

    memset(t, 0, sizeof *t);
    t->print_plan = getenv("MPSCL_DEBUG") != NULL;
    while (s != NULL && *s != '\0') {
        char key[16];
        unsigned long v;
        int used = 0;
        if (sscanf(s, "%15[a-z]=%lu%n", key, &v, &used) == 2) {
            if (strcmp(key, "vw") == 0 && (v == 1 || v == 4 || v == 8))
                t->vw = v;
            else if (strcmp(key, "wg") == 0 && v > 0 && (v & (v - 1)) == 0)
                t->wg = v;
            else if (strcmp(key, "lx") == 0 && v > 0 && (v & (v - 1)) == 0)
                t->lx = v;
            else if (strcmp(key, "chunks") == 0 && v > 0)
                t->chunks = v;
            else if (strcmp(key, "fused") == 0 && v <= 1)
                t->fused = v ? MPSCL__ON : MPSCL__OFF;
            else if (strcmp(key, "slab") == 0 && v > 0)
                t->slab = v;
            else if (strcmp(key, "lag") == 0 && v > 0)
                t->lag = v;
            else if (strcmp(key, "rows") == 0 && v <= 1)
                t->rows = v ? MPSCL__ON : MPSCL__OFF;
            else if (strcmp(key, "tile") == 0 && v <= 1)
                t->tile = v ? MPSCL__ON : MPSCL__OFF;
            else if (strcmp(key, "spin") == 0 && v < UINT32_MAX) {
                t->spin_set = 1;
                t->spin = (cl_uint)v;
            }
            s += used;
        }
        s = strchr(s, ',');
        s = s != NULL ? s + 1 : NULL;
    }
}

mpscl_status
mpscl__bn_kernel_init(mpscl__bn_kernel *k, mpscl_device *d, int is_gradient, const char *fn)
{
    if (pthread_mutex_init(&k->lock, NULL) != 0)
        return mpscl__fail(MPSCL_ERROR_OUT_OF_HOST_MEMORY, CL_SUCCESS, "%s: mutex init failed", fn);
    atomic_init(&k->refs, 1);
    atomic_init(&k->counters_suspect, 0);
    k->device = mpscl_device_retain(d);
    k->is_gradient = is_gradient;
    k->epsilon = FLT_MIN;
    k->feature_vectors = SIZE_MAX;
    k->feature_channels = SIZE_MAX;
    k->neuron = MPSCL_NEURON_NONE;
    k->batch_size = SIZE_MAX;
    k->momentum = 0.1f;
    read_tune(&k->tune);
    k->caps = (mpscl__device_caps){d->vendor_id, d->type, d->name, d->compute_units,
                                   d->max_work_group_size, d->local_mem_size, d->cache_bytes};
    k->tuning = mpscl__bn_tuning_of(&k->caps);
    return MPSCL_SUCCESS;
}

mpscl_status
mpscl__bn_kernel_copy_properties(mpscl__bn_kernel *dst, const mpscl__bn_kernel *src)
{
    dst->epsilon = src->epsilon;
    dst->feature_vectors = src->feature_vectors;
    dst->feature_channels = src->feature_channels;
    dst->neuron = src->neuron;
    dst->neuron_a = src->neuron_a;
    dst->neuron_b = src->neuron_b;
    dst->neuron_c = src->neuron_c;
    memcpy(dst->origins, src->origins, sizeof dst->origins);
    dst->batch_start = src->batch_start;
    dst->batch_size = src->batch_size;
    dst->compute_statistics = src->compute_statistics;
    dst->momentum = src->momentum;
    dst->frozen_statistics = src->frozen_statistics;
    dst->reproducible = src->reproducible;
    dst->tune = src->tune;
    return mpscl__bn_set_label(dst, src->label);
}

int
mpscl__bn_kernel_unref(mpscl__bn_kernel *k)
{
    if (atomic_fetch_sub_explicit(&k->refs, 1, memory_order_acq_rel) != 1)
        return 0;
    for (size_t i = 0; i < MPSCL__BN_MAX_KERNELS; i++)
        if (k->kernels[i] != NULL)
            mpscl__check_cl(clReleaseKernel(k->kernels[i]), "clReleaseKernel");
    if (k->scratch != NULL)
        mpscl__check_cl(clReleaseMemObject(k->scratch), "clReleaseMemObject");
    if (k->sync != NULL)
        mpscl__check_cl(clReleaseMemObject(k->sync), "clReleaseMemObject");
    if (k->workspace_queue != NULL)
        mpscl__check_cl(clReleaseCommandQueue(k->workspace_queue), "clReleaseCommandQueue");
    free(k->label);
    pthread_mutex_destroy(&k->lock);
    mpscl_device_release(k->device);
    return 1;
}

mpscl_status
mpscl__bn_partials_length(const mpscl__bn_kernel *k, size_t columns, size_t *length,
                          const char *fn)
{
    mpscl__clear_error();
    if (length != NULL)
        *length = 0;
    if (k == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, "%s: kernel is NULL", fn);
    if (length == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, "%s: length is NULL", fn);
    if (columns == 0)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS,
                           "%s: columns is 0: a region has at least one", fn);
    /* The kernels' column indices are 32-bit, as for every encode. */
    if (columns > UINT32_MAX)
        return mpscl__fail(MPSCL_ERROR_UNSUPPORTED, CL_SUCCESS,
                           "%s: %zu columns pass 2^32", fn, columns);
    *length = mpscl__bn_partial_words(k->is_gradient, k->reproducible, columns);
    return MPSCL_SUCCESS;
}

mpscl_status
mpscl__bn_set_epsilon(mpscl__bn_kernel *k, float e)
{
    if (!isfinite(e) || e < 0.0f)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS,
                           "set_epsilon: epsilon must be finite and >= 0, got %g", (double)e);
    k->epsilon = e;
    return MPSCL_SUCCESS;
}

mpscl_status
mpscl__bn_set_momentum(mpscl__bn_kernel *k, float m)
{
    /* !(m >= 0) also catches NaN. */
    if (!isfinite(m) || !(m >= 0.0f) || m > 1.0f)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS,
                           "set_momentum: momentum must be finite and in [0, 1], got %g",
                           (double)m);
    k->momentum = m;
    return MPSCL_SUCCESS;
}

mpscl_status
mpscl__bn_set_neuron(mpscl__bn_kernel *k, mpscl_neuron_type t, float a, float b, float c)
{
    if ((unsigned)t > MPSCL_NEURON_GELU)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS,
                           "set_neuron_type: unknown neuron type %d", (int)t);
    if (!isfinite(a) || !isfinite(b) || !isfinite(c))
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS,
                           "set_neuron_type: parameters must be finite (a=%g, b=%g, c=%g)",
                           (double)a, (double)b, (double)c);
    if (t == MPSCL_NEURON_PRELU)
        return mpscl__fail(MPSCL_ERROR_UNSUPPORTED, CL_SUCCESS,
                           "set_neuron_type: PRELU needs per-channel parameters, which the matrix "
                           "kernels do not take");
    k->neuron = t;
    k->neuron_a = a;
    k->neuron_b = b;
    k->neuron_c = c;
    return MPSCL_SUCCESS;
}

mpscl_status
mpscl__bn_set_origin(mpscl__bn_kernel *k, int slot, mpscl_origin o)
{
    if (o.z != 0)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS,
                           "set origin: z must be 0 for matrix kernels, got %zu", o.z);
    k->origins[slot] = o;
    return MPSCL_SUCCESS;
}

mpscl_status
mpscl__bn_set_label(mpscl__bn_kernel *k, const char *label)
{
    char *copy = NULL;

    if (label != NULL && (copy = strdup(label)) == NULL)
        return mpscl__fail(MPSCL_ERROR_OUT_OF_HOST_MEMORY, CL_SUCCESS, "set_label: out of memory");
    free(k->label);
    k->label = copy;
    return MPSCL_SUCCESS;
}
