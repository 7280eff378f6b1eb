/* The encode path the forward and the gradient share, driven by each one's table of operands
 * (bn_kernel.h, mpscl__bn_encoder): validation in the order a user would fix things, operands
 * resolved to element units, aliasing, then under the kernel object's lock the plan, the held
 * references, the arguments and the launches. A new kernel or phase is a new table. */
#include "config.h"

#include <stdint.h>

#include "bn_kernel.h"

enum { MAX_OPERANDS = 16 };

static int
is_output(const mpscl__bn_kernel *k, const mpscl__bn_operand_spec *o)
{
    return o->direction == MPSCL__BN_OUT ||
           (o->direction == MPSCL__BN_OUT_WITH_STATISTICS && k->compute_statistics);
}

/* The region every source matrix holds past its origin, clipped by the kernel's properties;
 * refuses an empty one and one the kernels' 32-bit indices cannot address. */
static mpscl_status
clip_region(const mpscl__bn_kernel *k, const mpscl__bn_encoder *e, const void *const *objects,
            mpscl__bn_plan *p)
{
    size_t n = k->feature_vectors, c = k->feature_channels, batches = k->batch_size;
    mpscl_status s;

    for (size_t i = 0; i < e->count; i++) {
        const mpscl__bn_operand_spec *o = &e->operands[i];
        if (o->is_matrix && o->direction == MPSCL__BN_IN &&
            (s = mpscl__bn_clip_source(k, objects[i], k->origins[o->origin], e->fn, o->name, &n,
                                       &c, &batches)) != MPSCL_SUCCESS)
            return s;
    }
    if (n == 0 || c == 0 || batches == 0)
        return mpscl__fail(MPSCL_ERROR_INVALID_SHAPE, CL_SUCCESS,
                           "%s: the region is empty (%zu rows, %zu columns, %zu matrices)", e->fn,
                           n, c, batches);
    if (n > UINT32_MAX || c > UINT32_MAX || k->batch_start + batches > UINT32_MAX)
        return mpscl__fail(MPSCL_ERROR_UNSUPPORTED, CL_SUCCESS,
                           "%s: region of %zu x %zu (batch to %zu) passes 2^32 in a dimension",
                           e->fn, n, c, k->batch_start + batches);
    p->n = n;
    p->c = c;
    p->batch_first = k->batch_start;
    p->batches = batches;
    return MPSCL_SUCCESS;
}

/* Every check that can refuse the call, in the order a user would fix them: the buffer, each
 * operand's presence and device, the data types, the region, then whether the outputs hold it. */
static mpscl_status
validate(const mpscl__bn_kernel *k, const mpscl_command_buffer *cb, const mpscl__bn_encoder *e,
         const void *const *objects, mpscl__bn_plan *p)
{
    const mpscl_matrix *mats[MAX_OPERANDS];
    const mpscl_vector *vecs[MAX_OPERANDS];
    const char *mnames[MAX_OPERANDS], *vnames[MAX_OPERANDS];
    size_t nm = 0, nv = 0;
    mpscl_status s;

    if ((s = mpscl__command_buffer_check_encode(cb, k->device, e->fn)) != MPSCL_SUCCESS)
        return s;
    for (size_t i = 0; i < e->count; i++)
        if (e->operands[i].is_matrix) {
            mnames[nm] = e->operands[i].name;
            mats[nm] = objects[i];
            if ((s = mpscl__bn_check_matrix(k, mats[nm++], e->fn, e->operands[i].name)) !=
                MPSCL_SUCCESS)
                return s;
        }
    for (size_t i = 0; i < e->count; i++)
        if (!e->operands[i].is_matrix) {
            vnames[nv] = e->operands[i].name;
            vecs[nv] = objects[i];
            if ((s = mpscl__bn_check_vector(k, vecs[nv++], e->operands[i].required, e->fn,
                                            e->operands[i].name)) != MPSCL_SUCCESS)
                return s;
        }
    if ((s = mpscl__bn_check_types(k, mats, mnames, nm, vecs, vnames, nv, e->fn)) !=
        MPSCL_SUCCESS)
        return s;
    p->type = mats[0]->layout.type;
    for (size_t i = 0; i < sizeof p->vector_types / sizeof p->vector_types[0]; i++)
        p->vector_types[i] = i < nv && vecs[i] != NULL ? vecs[i]->layout.type
                                                       : MPSCL_DATA_TYPE_FLOAT32;
    if ((s = clip_region(k, e, objects, p)) != MPSCL_SUCCESS)
        return s;
    for (size_t i = 0; i < e->count; i++) {
        const mpscl__bn_operand_spec *o = &e->operands[i];
        if (o->is_matrix && o->direction != MPSCL__BN_IN &&
            (s = mpscl__bn_check_result(k, objects[i], k->origins[o->origin], p, e->fn,
                                        o->name)) != MPSCL_SUCCESS)
            return s;
    }
    for (size_t i = 0; i < nv; i++)
        if ((s = mpscl__bn_check_vector_covers(vecs[i], p, e->fn, vnames[i])) != MPSCL_SUCCESS)
            return s;
    return MPSCL_SUCCESS;
}

/* With k->lock held: everything that touches the kernel object's device state. */
static mpscl_status
enqueue_locked(mpscl__bn_kernel *k, mpscl_command_buffer *cb, const mpscl__bn_encoder *e,
               const mpscl__bn_operand *ops, mpscl__bn_plan *p)
{
    size_t ks[MPSCL__BN_MAX_LAUNCHES], count;
    cl_event wait = NULL;
    cl_int err;
    mpscl_status s;

    if ((s = mpscl__bn_prepare(k, cb, e->kernel_names, e->nkernels, p, &wait, e->fn)) ==
            MPSCL_SUCCESS &&
        (s = mpscl__bn_hold(k, cb, ops, e->count)) == MPSCL_SUCCESS) {
        if ((err = e->set_args(k, ops, p)) != CL_SUCCESS) {
            s = mpscl__fail_cl(err, "clSetKernelArg");
        } else {
            count = e->kernels(k, p, ks);
            for (size_t i = 0; i < count && s == MPSCL_SUCCESS; i++)
                s = mpscl__bn_enqueue(k, cb, ks[i], p, &wait);
        }
    }
    if (wait != NULL)
        mpscl__check_cl(clReleaseEvent(wait), "clReleaseEvent");
    return s;
}

mpscl_status
mpscl__bn_encode(mpscl__bn_kernel *k, mpscl_command_buffer *cb, const mpscl__bn_encoder *e,
                 const void *const *objects)
{
    mpscl__bn_operand ops[MAX_OPERANDS];
    mpscl__bn_plan p = {0};
    mpscl_status s;

    if ((s = validate(k, cb, e, objects, &p)) != MPSCL_SUCCESS)
        return s;
    for (size_t i = 0; i < e->count; i++) {
        const mpscl__bn_operand_spec *o = &e->operands[i];
        ops[i] = o->is_matrix
                     ? mpscl__bn_operand_matrix(o->name, objects[i], k->origins[o->origin],
                                                is_output(k, o))
                     : mpscl__bn_operand_vector(o->name, objects[i], is_output(k, o));
    }
    if ((s = mpscl__bn_check_aliasing(ops, e->count, &p, e->fn)) != MPSCL_SUCCESS)
        return s;
    pthread_mutex_lock(&k->lock);
    s = enqueue_locked(k, cb, e, ops, &p);
    pthread_mutex_unlock(&k->lock);
    return s;
}
