/* The strided layout behind matrices and vectors: validation, buffer checks and host copies. */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "internal.h"

mpscl_status
mpscl__layout_validate(const mpscl__layout *l, const char *fn, const char *what)
{
    size_t es = mpscl_data_type_size(l->type), row, need;

    if (es == 0)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS,
                           "%s: %s has unknown data type %d", fn, what, (int)l->type);
    if (l->rows == 0 || l->columns == 0 || l->mats == 0)
        return mpscl__fail(MPSCL_ERROR_INVALID_SHAPE, CL_SUCCESS,
                           "%s: %s has a zero size (%zu rows, %zu columns, %zu in the batch)",
                           fn, what, l->rows, l->columns, l->mats);
    if (!mpscl__mul_add(l->columns, es, 0, &row))
        return mpscl__fail(MPSCL_ERROR_OUT_OF_RANGE, CL_SUCCESS, "%s: %s: %zu columns overflow",
                           fn, what, l->columns);
    if (l->row_bytes % es != 0 || l->mat_bytes % es != 0)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS,
                           "%s: %s: strides (%zu, %zu bytes) must be multiples of the element size %zu",
                           fn, what, l->row_bytes, l->mat_bytes, es);
    if (l->row_bytes < row)
        return mpscl__fail(MPSCL_ERROR_INVALID_SHAPE, CL_SUCCESS,
                           "%s: %s: stride of %zu bytes is smaller than a row of %zu bytes",
                           fn, what, l->row_bytes, row);
    if (!mpscl__mul_add(l->rows - 1, l->row_bytes, row, &need))
        return mpscl__fail(MPSCL_ERROR_OUT_OF_RANGE, CL_SUCCESS, "%s: %s: size overflows", fn, what);
    if (l->mats > 1 && l->mat_bytes < need)
        return mpscl__fail(MPSCL_ERROR_INVALID_SHAPE, CL_SUCCESS,
                           "%s: %s: batch stride of %zu bytes is smaller than one matrix of %zu bytes",
                           fn, what, l->mat_bytes, need);
    if (!mpscl__mul_add(l->mats - 1, l->mat_bytes, need, &need) ||
        !mpscl__mul_add(l->mats, l->mat_bytes > need ? l->mat_bytes : need, 0, &need))
        return mpscl__fail(MPSCL_ERROR_OUT_OF_RANGE, CL_SUCCESS, "%s: %s: size overflows", fn, what);
    return MPSCL_SUCCESS;
}

size_t
mpscl__layout_extent(const mpscl__layout *l)
{
    return (l->mats - 1) * l->mat_bytes + (l->rows - 1) * l->row_bytes +
           l->columns * mpscl_data_type_size(l->type);
}

mpscl_status
mpscl__layout_buffer(mpscl_device *d, const mpscl__layout *l, cl_mem user, size_t offset,
                     const char *fn, cl_mem *out)
{
    size_t es = mpscl_data_type_size(l->type), extent = mpscl__layout_extent(l), size = 0;
    cl_context ctx = NULL;
    cl_int err;

    if (user == NULL) {
        /* Whole batch strides, so a library matrix can be viewed with any origin it allows. */
        size = l->mats == 1 ? extent : l->mats * l->mat_bytes;
        *out = clCreateBuffer(d->context, CL_MEM_READ_WRITE, size, NULL, &err);
        if (err != CL_SUCCESS) {
            *out = NULL;
            return mpscl__fail_cl(err, "clCreateBuffer");
        }
        return MPSCL_SUCCESS;
    }
    if (offset % es != 0)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS,
                           "%s: offset %zu is not a multiple of the element size %zu", fn, offset, es);
    err = clGetMemObjectInfo(user, CL_MEM_CONTEXT, sizeof ctx, &ctx, NULL);
    if (err == CL_SUCCESS)
        err = clGetMemObjectInfo(user, CL_MEM_SIZE, sizeof size, &size, NULL);
    if (err != CL_SUCCESS)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, err, "%s: buffer is not a valid cl_mem (%s)",
                           fn, mpscl__cl_error_name(err));
    if (ctx != d->context)
        return mpscl__fail(MPSCL_ERROR_DEVICE_MISMATCH, CL_SUCCESS,
                           "%s: buffer belongs to another OpenCL context than the device", fn);
    if (offset > size || size - offset < extent)
        return mpscl__fail(MPSCL_ERROR_OUT_OF_RANGE, CL_SUCCESS,
                           "%s: buffer of %zu bytes is too small for offset %zu + extent %zu",
                           fn, size, offset, extent);
    err = clRetainMemObject(user);
    if (err != CL_SUCCESS)
        return mpscl__fail_cl(err, "clRetainMemObject");
    *out = user;
    return MPSCL_SUCCESS;
}

mpscl_status
mpscl__layout_check_host(const mpscl__layout *l, const void *host, size_t host_row_bytes,
                         const char *fn)
{
    size_t row = l->columns * mpscl_data_type_size(l->type);

    if (host == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, "%s: host pointer is NULL", fn);
    if (host_row_bytes < row)
        return mpscl__fail(MPSCL_ERROR_INVALID_SHAPE, CL_SUCCESS,
                           "%s: host stride of %zu bytes is smaller than a row of %zu bytes",
                           fn, host_row_bytes, row);
    if (l->rows > SIZE_MAX / host_row_bytes / l->mats)
        return mpscl__fail(MPSCL_ERROR_OUT_OF_RANGE, CL_SUCCESS, "%s: host size overflows", fn);
    return MPSCL_SUCCESS;
}

/* One copy's fixed parts. */
typedef struct copy_job {
    cl_command_queue q;
    mpscl_command_buffer *cb;
    cl_mem buf;
    size_t host_row_bytes, buf_row_bytes;
    int to_device;
} copy_job;

/* `rows` rows of `bytes` each, from byte buf_at of the buffer and h of the host: a rectangle, or
 * a plain copy for one row. A blocking copy blocks on its last command alone: the queue is in
 * order, so that one completes after all the others. */
static mpscl_status
copy_rows(const copy_job *j, size_t buf_at, char *h, size_t rows, size_t bytes, int last)
{
    cl_bool block = j->cb == NULL && last ? CL_TRUE : CL_FALSE;
    cl_event ev = NULL, *evp = j->cb != NULL ? &ev : NULL;
    const char *what;
    cl_int err;

    if (rows == 1) {
        what = j->to_device ? "clEnqueueWriteBuffer" : "clEnqueueReadBuffer";
        err = j->to_device ? clEnqueueWriteBuffer(j->q, j->buf, block, buf_at, bytes, h, 0, NULL, evp)
                           : clEnqueueReadBuffer(j->q, j->buf, block, buf_at, bytes, h, 0, NULL, evp);
    } else {
        size_t buf_origin[3] = {buf_at, 0, 0}, host_origin[3] = {0, 0, 0};
        size_t region[3] = {bytes, rows, 1};
        what = j->to_device ? "clEnqueueWriteBufferRect" : "clEnqueueReadBufferRect";
        err = j->to_device
            ? clEnqueueWriteBufferRect(j->q, j->buf, block, buf_origin, host_origin, region,
                                       j->buf_row_bytes, 0, j->host_row_bytes, 0, h, 0, NULL, evp)
            : clEnqueueReadBufferRect(j->q, j->buf, block, buf_origin, host_origin, region,
                                      j->buf_row_bytes, 0, j->host_row_bytes, 0, h, 0, NULL, evp);
    }
    if (err != CL_SUCCESS)
        return mpscl__fail_cl(err, what);
    if (ev != NULL)
        mpscl__command_buffer_track(j->cb, ev);
    return MPSCL_SUCCESS;
}

/* One matrix of the batch. Rectangular copies touch the elements only, never the padding between
 * rows. NVIDIA refuses a rectangle whose last row's pitch runs past the buffer, which a buffer
 * sized to the exact extent has: the last row goes as a plain copy. */
static mpscl_status
copy_matrix(const copy_job *j, const mpscl__layout *l, size_t base, char *h, int last)
{
    size_t row = l->columns * mpscl_data_type_size(l->type);
    mpscl_status s;

    if (l->row_bytes == row && j->host_row_bytes == row)
        return copy_rows(j, base, h, 1, l->rows * row, last);
    if (l->rows > 1 && (s = copy_rows(j, base, h, l->rows - 1, row, 0)) != MPSCL_SUCCESS)
        return s;
    return copy_rows(j, base + (l->rows - 1) * l->row_bytes, h + (l->rows - 1) * j->host_row_bytes,
                     1, row, last);
}

mpscl_status
mpscl__layout_enqueue_copy(cl_command_queue q, mpscl_command_buffer *cb, cl_mem buf, size_t offset,
                           const mpscl__layout *l, void *host, size_t host_row_bytes, int to_device)
{
    size_t row = l->columns * mpscl_data_type_size(l->type);
    copy_job j = {q, cb, buf, host_row_bytes, l->row_bytes, to_device};
    mpscl_status s = MPSCL_SUCCESS;

    /* Rows and matrices packed on both sides: the batch is one run of bytes, one command. */
    if (l->row_bytes == row && host_row_bytes == row && (l->mats == 1 || l->mat_bytes == l->rows * row))
        return copy_rows(&j, offset, host, 1, l->mats * l->rows * row, 1);
    /* The batch stride need not be a multiple of row_bytes, so each matrix is its own copy. */
    for (size_t b = 0; b < l->mats && s == MPSCL_SUCCESS; b++)
        s = copy_matrix(&j, l, offset + b * l->mat_bytes,
                        (char *)host + b * l->rows * host_row_bytes, b + 1 == l->mats);
    return s;
}
