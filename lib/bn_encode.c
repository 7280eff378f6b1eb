/* The encode path the forward and the gradient share, driven by each one's table of operands
 * (bn_kernel.h, mpscl__bn_encoder): validation in the order a user would fix things, operands
 * resolved to element units, aliasing, then under the kernel object's lock the plan, the held
 * references, the arguments and the launches. A new kernel or phase is a new table. */
#include "config.h"

#include <math.h>
#include <stdint.h>

#include "bn_kernel.h"

enum { MAX_OPERANDS = 16 };

/* ---- one operand ---- */

/* The matrices' type (with none, the vectors' type other than float32, else float32), then every
 * vector float32 or that type. Partials are checked apart (check_partials). */
static mpscl_status
mpscl__bn_check_types(const mpscl__bn_kernel *k, const mpscl_matrix *const *mats,
                      const char *const *mnames, size_t nm, const mpscl_vector *const *vecs,
                      const char *const *vnames, size_t nv, const char *fn, mpscl_data_type *type)
{
    mpscl_data_type t = MPSCL_DATA_TYPE_FLOAT32;
    const char *tname = NULL;

    if (nm > 0) {
        t = mats[0]->layout.type;
        tname = mnames[0];
    }
    for (size_t i = 0; i < nv && nm == 0; i++)
        if (vecs[i] != NULL && vecs[i]->layout.type != MPSCL_DATA_TYPE_FLOAT32) {
            t = vecs[i]->layout.type;
            tname = vnames[i];
            break;
        }
    if (t == MPSCL_DATA_TYPE_FLOAT64 && !mpscl_device_supports_data_type(k->device, t))
        return mpscl__fail(MPSCL_ERROR_UNSUPPORTED, CL_SUCCESS,
                           "%s: %s is float64, which %s does not support (no cl_khr_fp64)", fn,
                           tname, k->device->name);
    for (size_t i = 1; i < nm; i++)
        if (mats[i]->layout.type != t)
            return mpscl__fail(MPSCL_ERROR_INVALID_DATA_TYPE, CL_SUCCESS,
                               "%s: %s has data type %d, %s has %d: matrices must share one", fn,
                               mnames[i], (int)mats[i]->layout.type, mnames[0], (int)t);
    for (size_t i = 0; i < nv; i++)
        if (vecs[i] != NULL && vecs[i]->layout.type != t &&
            vecs[i]->layout.type != MPSCL_DATA_TYPE_FLOAT32)
            return mpscl__fail(MPSCL_ERROR_INVALID_DATA_TYPE, CL_SUCCESS,
                               "%s: %s has data type %d: vectors are float32 or the %s type %d",
                               fn, vnames[i], (int)vecs[i]->layout.type,
                               nm > 0 ? "matrices'" : "other vectors'", (int)t);
    *type = t;
    return MPSCL_SUCCESS;
}

/* A partials vector: float32, count partials of `words` words in each vector of the batch. */
static mpscl_status
check_partials(const mpscl_vector *v, const mpscl__bn_plan *p, size_t words, const char *fn,
               const char *name)
{
    if (v->layout.type != MPSCL_DATA_TYPE_FLOAT32)
        return mpscl__fail(MPSCL_ERROR_INVALID_DATA_TYPE, CL_SUCCESS,
                           "%s: %s has data type %d: partials are float32 vectors", fn, name,
                           (int)v->layout.type);
    if (v->layout.columns / words < p->count)
        return mpscl__fail(MPSCL_ERROR_INVALID_SHAPE, CL_SUCCESS,
                           "%s: %s has %zu elements, %zu partials of %zu columns need %zu", fn,
                           name, v->layout.columns, p->count, p->c, p->count * words);
    if (v->layout.mats < p->batch_first + p->batches)
        return mpscl__fail(MPSCL_ERROR_INVALID_SHAPE, CL_SUCCESS,
                           "%s: %s has %zu vectors, the batch needs %zu", fn, name,
                           v->layout.mats, p->batch_first + p->batches);
    return MPSCL_SUCCESS;
}

static mpscl_status
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

static mpscl_status
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

static mpscl_status
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

static mpscl_status
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

static mpscl_status
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

static mpscl__bn_operand
mpscl__bn_operand_matrix(const char *name, const mpscl_matrix *m, mpscl_origin o, int is_output)
{
    size_t es = mpscl_data_type_size(m->layout.type);
    mpscl__bn_operand a = {name, m, NULL, is_output, 0, 0, 0, 0};

    a.rs = m->layout.row_bytes / es;
    a.ms = m->layout.mat_bytes / es;
    a.off = m->offset / es + o.x * a.rs + o.y;
    return a;
}

static mpscl__bn_operand
mpscl__bn_operand_vector(const char *name, const mpscl_vector *v, int is_output)
{
    mpscl__bn_operand a = {name, NULL, v, is_output, 0, 0, 0, 0};

    if (v != NULL) {
        size_t es = mpscl_data_type_size(v->layout.type);
        a.off = v->offset / es;
        a.ms = v->layout.mat_bytes / es;
    }
    return a;
}

/* ---- the encode ---- */

/* A spec without a name is an operand this phase does not take (its object is NULL); it keeps
 * its slot, so every vector keeps its position (bn_plan.h, vector_types). */
static int
is_matrix_operand(const mpscl__bn_operand_spec *o)
{
    return o->is_matrix && o->name != NULL;
}

static int
is_output(const mpscl__bn_kernel *k, const mpscl__bn_operand_spec *o)
{
    return o->direction == MPSCL__BN_OUT || o->direction == MPSCL__BN_UPDATE_WITH_STATISTICS ||
           (o->direction == MPSCL__BN_OUT_WITH_STATISTICS && k->compute_statistics);
}

/* The region every source matrix holds past its origin, clipped by the kernel's properties;
 * refuses an empty one and one the kernels' 32-bit indices cannot address. */
static mpscl_status
clip_region(const mpscl__bn_kernel *k, const mpscl__bn_encoder *e, const void *const *objects,
            size_t nm, mpscl__bn_plan *p)
{
    size_t n = k->feature_vectors, c = k->feature_channels, batches = k->batch_size;
    mpscl_status s;

    for (size_t i = 0; i < e->count; i++) {
        const mpscl__bn_operand_spec *o = &e->operands[i];
        if (is_matrix_operand(o) && o->direction == MPSCL__BN_IN &&
            (s = mpscl__bn_clip_source(k, objects[i], k->origins[o->origin], e->fn, o->name, &n,
                                       &c, &batches)) != MPSCL_SUCCESS)
            return s;
    }
    if (nm == 0) {
        /* No rows: the columns and matrices of the region vector. */
        const mpscl_vector *v = objects[e->region_vector];
        if (k->batch_start >= v->layout.mats)
            return mpscl__fail(MPSCL_ERROR_OUT_OF_RANGE, CL_SUCCESS,
                               "%s: batch_start %zu is past the %zu vectors of %s", e->fn,
                               k->batch_start, v->layout.mats,
                               e->operands[e->region_vector].name);
        n = 0;
        c = min_size(c, v->layout.columns);
        batches = min_size(batches, v->layout.mats - k->batch_start);
    }
    if ((n == 0 && !e->empty_ok) || c == 0 || batches == 0)
        return mpscl__fail(MPSCL_ERROR_INVALID_SHAPE, CL_SUCCESS,
                           "%s: the region is empty (%zu rows, %zu columns, %zu matrices)", e->fn,
                           n, c, batches);
    if (n > UINT32_MAX || c > UINT32_MAX || k->batch_start + batches > UINT32_MAX)
        return mpscl__fail(MPSCL_ERROR_UNSUPPORTED, CL_SUCCESS,
                           "%s: region of %zu x %zu (batch to %zu) passes 2^32 in a dimension",
                           e->fn, n, c, k->batch_start + batches);
    /* An empty region is planned as one row; its kernels get n = 0. */
    p->empty = n == 0;
    p->n = n == 0 ? 1 : n;
    p->c = c;
    p->batch_first = k->batch_start;
    p->batches = batches;
    return MPSCL_SUCCESS;
}

int
mpscl__bn_uses_bins(const mpscl__bn_kernel *k, const mpscl__bn_encoder *e)
{
    return k->reproducible && e->bins && (e->split || k->is_gradient || k->compute_statistics);
}

/* The split phases and the reproducible mode's one-device path sum in fp32 (binned, or as
 * partials of fp32 words): fp64 data is refused there, not silently narrowed. */
static mpscl_status
check_split_type(const mpscl__bn_kernel *k, const mpscl__bn_encoder *e, mpscl_data_type t)
{
    int whole_repro = mpscl__bn_uses_bins(k, e) && !e->split;

    if (t == MPSCL_DATA_TYPE_FLOAT64 && (e->split || whole_repro))
        return mpscl__fail(MPSCL_ERROR_UNSUPPORTED, CL_SUCCESS,
                           "%s: float64 data: %s sum in float32 and take float32, float16 and "
                           "bfloat16 data only", e->fn,
                           e->split ? "the split phases" : "the reproducible statistics and sums");
    return MPSCL_SUCCESS;
}

/* Every check that can refuse the call, in the order a user would fix them: the buffer, each
 * operand's presence and device, whether the kernel's state allows the operands, the data
 * types, the region, then whether the outputs and partials hold it. */
static mpscl_status
validate(const mpscl__bn_kernel *k, const mpscl_command_buffer *cb, const mpscl__bn_encoder *e,
         const void *const *objects, mpscl__bn_plan *p)
{
    const mpscl_matrix *mats[MAX_OPERANDS] = {NULL};
    const mpscl_vector *vecs[MAX_OPERANDS] = {NULL};
    const char *mnames[MAX_OPERANDS], *vnames[MAX_OPERANDS];
    size_t nm = 0, nv = 0;
    mpscl_status s;

    if ((s = mpscl__command_buffer_check_encode(cb, k->device, e->fn)) != MPSCL_SUCCESS)
        return s;
    for (size_t i = 0; i < e->count; i++)
        if (is_matrix_operand(&e->operands[i])) {
            mnames[nm] = e->operands[i].name;
            mats[nm] = objects[i];
            if ((s = mpscl__bn_check_matrix(k, mats[nm++], e->fn, e->operands[i].name)) !=
                MPSCL_SUCCESS)
                return s;
        }
    for (size_t i = 0; i < e->count; i++)
        if (!e->operands[i].is_matrix &&
            (s = mpscl__bn_check_vector(k, objects[i], e->operands[i].required, e->fn,
                                        e->operands[i].name)) != MPSCL_SUCCESS)
            return s;
    for (size_t i = 0; i < e->count; i++)
        if (!e->operands[i].is_matrix && !e->operands[i].partials) {
            vnames[nv] = e->operands[i].name;
            vecs[nv++] = objects[i];
        }
    for (size_t i = 0; i < e->count; i++)
        if (e->operands[i].direction == MPSCL__BN_UPDATE_WITH_STATISTICS &&
            objects[i] != NULL && !k->compute_statistics)
            return mpscl__fail(MPSCL_ERROR_INVALID_STATE, CL_SUCCESS,
                               "%s: %s is updated from the batch statistics, which "
                               "compute_statistics off does not compute: turn it on", e->fn,
                               e->operands[i].name);
    if ((s = mpscl__bn_check_types(k, mats, mnames, nm, vecs, vnames, nv, e->fn, &p->type)) !=
            MPSCL_SUCCESS ||
        (s = check_split_type(k, e, p->type)) != MPSCL_SUCCESS)
        return s;
    /* The kernels' vector kinds in operand order, partials aside (bn_plan.h, vector_types). */
    for (size_t i = 0; i < sizeof p->vector_types / sizeof p->vector_types[0]; i++)
        p->vector_types[i] = MPSCL_DATA_TYPE_FLOAT32;
    for (size_t i = 0; i < nv; i++)
        if (i < sizeof p->vector_types / sizeof p->vector_types[0] && vecs[i] != NULL)
            p->vector_types[i] = vecs[i]->layout.type;
    if ((s = clip_region(k, e, objects, nm, p)) != MPSCL_SUCCESS)
        return s;
    for (size_t i = 0; i < e->count; i++) {
        const mpscl__bn_operand_spec *o = &e->operands[i];
        if (is_matrix_operand(o) && o->direction != MPSCL__BN_IN &&
            (s = mpscl__bn_check_result(k, objects[i], k->origins[o->origin], p, e->fn,
                                        o->name)) != MPSCL_SUCCESS)
            return s;
    }
    for (size_t i = 0; i < nv; i++)
        if ((s = mpscl__bn_check_vector_covers(vecs[i], p, e->fn, vnames[i])) != MPSCL_SUCCESS)
            return s;
    for (size_t i = 0; i < e->count; i++)
        if (e->operands[i].partials && objects[i] != NULL &&
            (s = check_partials(objects[i], p,
                                mpscl__bn_partial_words(k->is_gradient, k->reproducible, p->c),
                                e->fn, e->operands[i].name)) != MPSCL_SUCCESS)
            return s;
    return MPSCL_SUCCESS;
}

/* With k->lock held: everything that touches the kernel object's device state. Each launch's
 * arguments are set just before it is enqueued (OpenCL takes them at enqueue). */
static mpscl_status
enqueue_locked(mpscl__bn_kernel *k, mpscl_command_buffer *cb, const mpscl__bn_encoder *e,
               const mpscl__bn_operand *ops, mpscl__bn_plan *p)
{
    mpscl__bn_launch ls[MPSCL__BN_MAX_LAUNCHES];
    size_t count;
    cl_event wait = NULL;
    cl_int err;
    mpscl_status s;

    if ((s = mpscl__bn_prepare(k, cb, e, p, &wait)) ==
            MPSCL_SUCCESS &&
        (s = mpscl__bn_hold(k, cb, ops, e->count)) == MPSCL_SUCCESS) {
        count = e->kernels(k, p, ls);
        for (size_t i = 0; i < count && s == MPSCL_SUCCESS; i++) {
            if ((err = e->set_args(k, ops, p, &ls[i])) != CL_SUCCESS)
                s = mpscl__fail_cl(err, "clSetKernelArg");
            else
                s = mpscl__bn_enqueue(k, cb, &ls[i], p, &wait);
        }
    }
    if (wait != NULL)
        mpscl__check_cl(clReleaseEvent(wait), "clReleaseEvent");
    return s;
}

mpscl_status
mpscl__bn_encode_phase(mpscl__bn_kernel *k, mpscl_command_buffer *cb, const mpscl__bn_encoder *e,
                       const void *const *objects, size_t round, size_t count)
{
    mpscl__bn_operand ops[MAX_OPERANDS];
    mpscl__bn_plan p = {0};
    mpscl_status s;

    mpscl__clear_error();
    if (k == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, "%s: kernel is NULL", e->fn);
    p.round = round;
    p.count = count;
    /* The gradient's reproducible path ends in the split apply, which has the two launches'
     * layout only. */
    p.split = e->split || (k->reproducible && k->is_gradient);
    p.repro = mpscl__bn_uses_bins(k, e);
    if ((s = validate(k, cb, e, objects, &p)) != MPSCL_SUCCESS)
        return s;
    for (size_t i = 0; i < e->count; i++) {
        const mpscl__bn_operand_spec *o = &e->operands[i];
        ops[i] = is_matrix_operand(o)
                     ? mpscl__bn_operand_matrix(o->name, objects[i], k->origins[o->origin],
                                                is_output(k, o))
                     : mpscl__bn_operand_vector(o->name, objects[i], is_output(k, o));
        if (o->partials)
            ops[i].width = count * mpscl__bn_partial_words(k->is_gradient, k->reproducible, p.c);
    }
    if ((s = mpscl__bn_check_aliasing(ops, e->count, &p, e->fn)) != MPSCL_SUCCESS)
        return s;
    pthread_mutex_lock(&k->lock);
    s = enqueue_locked(k, cb, e, ops, &p);
    pthread_mutex_unlock(&k->lock);
    return s;
}

mpscl_status
mpscl__bn_encode(mpscl__bn_kernel *k, mpscl_command_buffer *cb, const mpscl__bn_encoder *e,
                 const void *const *objects)
{
    return mpscl__bn_encode_phase(k, cb, e, objects, 0, 1);
}
