/* Shared machinery of the batch-normalization kernel objects (forward and gradient): properties,
 * operand validation, aliasing rules, launch planning, scratch and programs. */
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
            else if (strcmp(key, "spin") == 0 && v <= UINT32_MAX) {
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
mpscl__bn_set_epsilon(mpscl__bn_kernel *k, float e)
{
    if (!isfinite(e) || e < 0.0f)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS,
                           "set_epsilon: epsilon must be finite and >= 0, got %g", (double)e);
    k->epsilon = e;
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

/* ---- operand validation ---- */

mpscl_status
mpscl__bn_check_types(const mpscl__bn_kernel *k, const mpscl_matrix *const *mats,
                      const char *const *mnames, size_t nm, const mpscl_vector *const *vecs,
                      const char *const *vnames, size_t nv, const char *fn)
{
    mpscl_data_type t = mats[0]->layout.type;

    if (t == MPSCL_DATA_TYPE_FLOAT64 && !mpscl_device_supports_data_type(k->device, t))
        return mpscl__fail(MPSCL_ERROR_UNSUPPORTED, CL_SUCCESS,
                           "%s: %s is float64, which %s does not support (no cl_khr_fp64)", fn,
                           mnames[0], k->device->name);
    for (size_t i = 1; i < nm; i++)
        if (mats[i]->layout.type != t)
            return mpscl__fail(MPSCL_ERROR_INVALID_DATA_TYPE, CL_SUCCESS,
                               "%s: %s has data type %d, %s has %d: matrices must share one", fn,
                               mnames[i], (int)mats[i]->layout.type, mnames[0], (int)t);
    for (size_t i = 0; i < nv; i++)
        if (vecs[i] != NULL && vecs[i]->layout.type != t &&
            vecs[i]->layout.type != MPSCL_DATA_TYPE_FLOAT32)
            return mpscl__fail(MPSCL_ERROR_INVALID_DATA_TYPE, CL_SUCCESS,
                               "%s: %s has data type %d: vectors are float32 or the matrices' "
                               "type %d", fn, vnames[i], (int)vecs[i]->layout.type, (int)t);
    return MPSCL_SUCCESS;
}

mpscl_status
mpscl__bn_check_matrix(const mpscl__bn_kernel *k, const mpscl_matrix *m, const char *fn,
                       const char *name)
{
    if (m == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, "%s: %s is NULL", fn, name);
    if (m->device->context != k->device->context)
        return mpscl__fail(MPSCL_ERROR_DEVICE_MISMATCH, CL_SUCCESS,
                           "%s: %s belongs to another OpenCL context than the kernel", fn, name);
    return MPSCL_SUCCESS;
}

mpscl_status
mpscl__bn_check_vector(const mpscl__bn_kernel *k, const mpscl_vector *v, int required,
                       const char *fn, const char *name)
{
    if (v == NULL)
        return required ? mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, "%s: %s is NULL",
                                      fn, name)
                        : MPSCL_SUCCESS;
    if (v->device->context != k->device->context)
        return mpscl__fail(MPSCL_ERROR_DEVICE_MISMATCH, CL_SUCCESS,
                           "%s: %s belongs to another OpenCL context than the kernel", fn, name);
    return MPSCL_SUCCESS;
}

static size_t
min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

mpscl_status
mpscl__bn_clip_source(const mpscl__bn_kernel *k, const mpscl_matrix *m, mpscl_origin o,
                      const char *fn, const char *name, size_t *n, size_t *c, size_t *batches)
{
    const mpscl__layout *l = &m->layout;

    if (o.x >= l->rows || o.y >= l->columns)
        return mpscl__fail(MPSCL_ERROR_OUT_OF_RANGE, CL_SUCCESS,
                           "%s: origin (%zu, %zu) is outside %s of %zu x %zu", fn, o.x, o.y, name,
                           l->rows, l->columns);
    if (k->batch_start >= l->mats)
        return mpscl__fail(MPSCL_ERROR_OUT_OF_RANGE, CL_SUCCESS,
                           "%s: batch_start %zu is past the %zu matrices of %s", fn,
                           k->batch_start, l->mats, name);
    *n = min_size(*n, l->rows - o.x);
    *c = min_size(*c, l->columns - o.y);
    *batches = min_size(*batches, l->mats - k->batch_start);
    return MPSCL_SUCCESS;
}

mpscl_status
mpscl__bn_check_result(const mpscl__bn_kernel *k, const mpscl_matrix *m, mpscl_origin o,
                       const mpscl__bn_plan *p, const char *fn, const char *name)
{
    const mpscl__layout *l = &m->layout;

    (void)k;
    if (o.x >= l->rows || o.y >= l->columns)
        return mpscl__fail(MPSCL_ERROR_OUT_OF_RANGE, CL_SUCCESS,
                           "%s: result origin (%zu, %zu) is outside %s of %zu x %zu", fn, o.x, o.y,
                           name, l->rows, l->columns);
    if (l->rows - o.x < p->n || l->columns - o.y < p->c)
        return mpscl__fail(MPSCL_ERROR_INVALID_SHAPE, CL_SUCCESS,
                           "%s: %s has %zu x %zu past its origin, the region is %zu x %zu", fn,
                           name, l->rows - o.x, l->columns - o.y, p->n, p->c);
    if (l->mats < p->batch_first + p->batches)
        return mpscl__fail(MPSCL_ERROR_INVALID_SHAPE, CL_SUCCESS,
                           "%s: %s has %zu matrices, the batch needs %zu", fn, name, l->mats,
                           p->batch_first + p->batches);
    return MPSCL_SUCCESS;
}

mpscl_status
mpscl__bn_check_vector_covers(const mpscl_vector *v, const mpscl__bn_plan *p, const char *fn,
                              const char *name)
{
    if (v == NULL)
        return MPSCL_SUCCESS;
    if (v->layout.columns < p->c)
        return mpscl__fail(MPSCL_ERROR_INVALID_SHAPE, CL_SUCCESS,
                           "%s: %s has %zu elements, the region has %zu columns", fn, name,
                           v->layout.columns, p->c);
    if (v->layout.mats < p->batch_first + p->batches)
        return mpscl__fail(MPSCL_ERROR_INVALID_SHAPE, CL_SUCCESS,
                           "%s: %s has %zu vectors, the batch needs %zu", fn, name,
                           v->layout.mats, p->batch_first + p->batches);
    return MPSCL_SUCCESS;
}

mpscl__bn_operand
mpscl__bn_operand_matrix(const char *name, const mpscl_matrix *m, mpscl_origin o, int is_output)
{
    size_t es = mpscl_data_type_size(m->layout.type);
    mpscl__bn_operand a = {name, m, NULL, is_output, 0, 0, 0};

    a.rs = m->layout.row_bytes / es;
    a.ms = m->layout.mat_bytes / es;
    a.off = m->offset / es + o.x * a.rs + o.y;
    return a;
}

mpscl__bn_operand
mpscl__bn_operand_vector(const char *name, const mpscl_vector *v, int is_output)
{
    mpscl__bn_operand a = {name, NULL, v, is_output, 0, 0, 0};

    if (v != NULL) {
        size_t es = mpscl_data_type_size(v->layout.type);
        a.off = v->offset / es;
        a.ms = v->layout.mat_bytes / es;
    }
    return a;
}
