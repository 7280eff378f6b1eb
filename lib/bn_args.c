/* Kernel arguments of the batch-normalization kernels, in the order their argument lists take
 * them: scalars set only when they change, buffers on every encode. */
#include "config.h"

#include <string.h>

#include "bn_kernel.h"

static cl_int
set_arg(mpscl__bn_args *a, size_t size, const void *value)
{
    cl_int e = clSetKernelArg(a->k->kernels[a->kernel], a->idx, size, value);

    if (*a->err == CL_SUCCESS)
        *a->err = e;
    return e;
}

void
mpscl__bn_arg(mpscl__bn_args *a, size_t size, const void *value)
{
    mpscl__bn_arg_value *held = a->idx < MPSCL__BN_MAX_ARGS ? &a->k->args[a->kernel][a->idx] : NULL;

    if (held == NULL || size > sizeof held->value) {
        set_arg(a, size, value);
    } else if (held->size != size || held->local != (value == NULL) ||
               (value != NULL && memcmp(held->value, value, size) != 0)) {
        /* Only what the kernel surely holds is remembered. */
        held->size = set_arg(a, size, value) == CL_SUCCESS ? size : 0;
        held->local = value == NULL;
        if (value != NULL)
            memcpy(held->value, value, size);
    }
    a->idx++;
}

void
mpscl__bn_arg_buffer(mpscl__bn_args *a, cl_mem buffer)
{
    set_arg(a, sizeof buffer, buffer != NULL ? (const void *)&buffer : NULL);
    if (a->idx < MPSCL__BN_MAX_ARGS)
        a->k->args[a->kernel][a->idx].size = 0;
    a->idx++;
}

void
mpscl__bn_arg_geometry(mpscl__bn_args *a, const mpscl__bn_plan *p)
{
    cl_uint n = p->empty ? 0 : (cl_uint)p->n, c = (cl_uint)p->c, rows = (cl_uint)p->chunk_rows;
    cl_uint first = (cl_uint)p->batch_first;

    mpscl__bn_arg(a, sizeof n, &n);
    mpscl__bn_arg(a, sizeof c, &c);
    mpscl__bn_arg(a, sizeof rows, &rows);
    mpscl__bn_arg(a, sizeof first, &first);
    mpscl__bn_arg_buffer(a, a->k->scratch);
    mpscl__bn_arg(a, p->local_bytes, NULL);
}

void
mpscl__bn_arg_one_launch(mpscl__bn_args *a, const mpscl__bn_plan *p)
{
    cl_uint col_tiles = (cl_uint)p->col_tiles, tiles = (cl_uint)p->tiles;
    cl_uint chunks = (cl_uint)p->chunks, limit = mpscl__bn_spin_limit(a->k);

    mpscl__bn_arg_buffer(a, a->k->sync);
    mpscl__bn_arg(a, sizeof col_tiles, &col_tiles);
    mpscl__bn_arg(a, sizeof tiles, &tiles);
    mpscl__bn_arg(a, sizeof chunks, &chunks);
    mpscl__bn_arg(a, sizeof limit, &limit);
    mpscl__bn_arg(a, sizeof a->k->launch, &a->k->launch);
}

void
mpscl__bn_arg_tile_items(mpscl__bn_args *a, const mpscl__bn_plan *p)
{
    cl_uint tile_items = (cl_uint)p->lx;

    mpscl__bn_arg(a, sizeof tile_items, &tile_items);
}

void
mpscl__bn_arg_operand(mpscl__bn_args *a, const mpscl__bn_operand *op)
{
    mpscl__bn_arg_buffer(a, op->m != NULL ? op->m->buffer : op->v != NULL ? op->v->buffer : NULL);
    mpscl__bn_arg(a, sizeof op->off, &op->off);
    if (op->m != NULL)
        mpscl__bn_arg(a, sizeof op->rs, &op->rs);
    mpscl__bn_arg(a, sizeof op->ms, &op->ms);
}


void
mpscl__bn_arg_uint(mpscl__bn_args *a, size_t v)
{
    cl_uint u = (cl_uint)v;

    mpscl__bn_arg(a, sizeof u, &u);
}

/* The workspace's partials follow the binned sums, one per matrix of the batch; kernels address
 * matrix b's at off + (batch_first + b) vs, so off is taken back by batch_first strides (modulo
 * 2^64, as the kernels' ulong arithmetic is: the sum lands in the workspace). */
void
mpscl__bn_arg_partials(mpscl__bn_args *a, const mpscl__bn_operand *op, const mpscl__bn_plan *p,
                       const mpscl__bn_launch *l)
{
    cl_ulong off, vs;

    if (!l->own_partials) {
        mpscl__bn_arg_operand(a, op);
        return;
    }
    vs = (cl_ulong)p->partial_words;
    off = (cl_ulong)p->sums_words - (cl_ulong)p->batch_first * vs;
    mpscl__bn_arg_buffer(a, a->k->scratch);
    mpscl__bn_arg(a, sizeof off, &off);
    mpscl__bn_arg(a, sizeof vs, &vs);
}
