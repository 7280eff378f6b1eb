/* Aliasing of a batch-normalization encode's operands: which output may share memory with which
 * other operand (only a result matrix exactly over an input matrix's region, read then written
 * by one work-item). */
#include "config.h"

#include "bn_kernel.h"

/* The bytes an operand touches in its buffer: `batches` blocks of `rows` runs of `width` bytes. */
typedef struct byte_region {
    cl_mem buffer;
    long long start, width, rows, row_stride, batches, batch_stride;
} byte_region;

static byte_region
region_of(const mpscl__bn_operand *a, const mpscl__bn_plan *p)
{
    const mpscl__layout *l = a->m != NULL ? &a->m->layout : &a->v->layout;
    long long es = (long long)mpscl_data_type_size(l->type);
    byte_region r;

    r.buffer = a->m != NULL ? a->m->buffer : a->v->buffer;
    r.start = ((long long)a->off + (long long)p->batch_first * (long long)a->ms) * es;
    r.width = (long long)(a->m == NULL && a->width != 0 ? a->width : p->c) * es;
    r.rows = a->m != NULL ? (long long)p->n : 1;
    r.row_stride = a->m != NULL ? (long long)a->rs * es : r.width;
    r.batches = (long long)p->batches;
    r.batch_stride = (long long)a->ms * es;
    return r;
}

static long long
floor_div(long long a, long long b)
{
    long long q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* 0: disjoint, 1: overlapping, 2: the very same elements in the same order. */
static int
regions_overlap(const byte_region *a, const byte_region *b)
{
    long long enda, endb;

    if (a->buffer != b->buffer)
        return 0;
    if (a->start == b->start && a->width == b->width && a->rows == b->rows &&
        a->row_stride == b->row_stride && (a->batches == 1 || a->batch_stride == b->batch_stride))
        return 2;
    enda = a->start + (a->batches - 1) * a->batch_stride + (a->rows - 1) * a->row_stride + a->width;
    endb = b->start + (b->batches - 1) * b->batch_stride + (b->rows - 1) * b->row_stride + b->width;
    if (enda <= b->start || endb <= a->start)
        return 0;
    /* Same row and batch strides (e.g. column blocks of one matrix): exact test. Row i of a and
     * row i + m of b intersect when -width_b < d + m * row_stride < width_a. */
    if (a->row_stride == b->row_stride && a->batch_stride == b->batch_stride) {
        long long rs = a->row_stride;
        for (long long db = -(a->batches - 1); db <= b->batches - 1; db++) {
            long long d = b->start - a->start + db * a->batch_stride;
            long long lo = floor_div(-b->width - d, rs) + 1, hi = -floor_div(d - a->width, rs) - 1;
            if (lo < -(a->rows - 1))
                lo = -(a->rows - 1);
            if (hi > b->rows - 1)
                hi = b->rows - 1;
            if (lo <= hi)
                return 1;
        }
        return 0;
    }
    return 1;   /* different strides: assume the worst */
}

mpscl_status
mpscl__bn_check_aliasing(const mpscl__bn_operand *ops, size_t nops, const mpscl__bn_plan *p,
                         const char *fn)
{
    for (size_t i = 0; i < nops; i++) {
        byte_region ri;
        if (!ops[i].is_output || (ops[i].m == NULL && ops[i].v == NULL))
            continue;
        ri = region_of(&ops[i], p);
        for (size_t j = 0; j < nops; j++) {
            byte_region rj;
            int ov;
            if (j == i || (ops[j].m == NULL && ops[j].v == NULL))
                continue;
            rj = region_of(&ops[j], p);
            ov = regions_overlap(&ri, &rj);
            if (ov == 2 && ops[i].m != NULL && ops[j].m != NULL && !ops[j].is_output)
                continue;   /* in place: each element is read, then written, by one work-item */
            if (ov != 0)
                return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS,
                                   "%s: %s overlaps %s; only a result matrix exactly over an input "
                                   "matrix region is allowed", fn, ops[i].name, ops[j].name);
        }
    }
    return MPSCL_SUCCESS;
}

