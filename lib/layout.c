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
mpscl__layout_copy(mpscl_device *d, cl_mem buf, size_t offset, const mpscl__layout *l,
                   void *host, size_t host_row_bytes, int to_device, const char *fn)
{
    size_t row = l->columns * mpscl_data_type_size(l->type);
    cl_command_queue q;
    mpscl_status s;

    mpscl__clear_error();
    if (host == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, "%s: host pointer is NULL", fn);
    if (host_row_bytes < row)
        return mpscl__fail(MPSCL_ERROR_INVALID_SHAPE, CL_SUCCESS,
                           "%s: host stride of %zu bytes is smaller than a row of %zu bytes",
                           fn, host_row_bytes, row);
    if (l->rows > SIZE_MAX / host_row_bytes / l->mats)
        return mpscl__fail(MPSCL_ERROR_OUT_OF_RANGE, CL_SUCCESS, "%s: host size overflows", fn);
    if ((s = mpscl__device_transfer_queue(d, &q)) != MPSCL_SUCCESS)
        return s;
    for (size_t b = 0; b < l->mats; b++) {
        size_t base = offset + b * l->mat_bytes;
        char *h = (char *)host + b * l->rows * host_row_bytes;
        cl_int err = CL_SUCCESS;
        /* Rectangular copies touch the elements only, never the padding between rows. The batch
         * stride need not be a multiple of row_bytes, so each matrix is its own 2-D copy. NVIDIA
         * refuses a rectangle whose last row's pitch runs past the buffer, which a buffer sized
         * to the exact extent has: the last row goes as a plain copy. */
        if (l->rows > 1) {
            size_t buf_origin[3] = {base, 0, 0}, host_origin[3] = {0, 0, 0};
            size_t region[3] = {row, l->rows - 1, 1};
            err = to_device
                ? clEnqueueWriteBufferRect(q, buf, CL_TRUE, buf_origin, host_origin, region,
                                           l->row_bytes, 0, host_row_bytes, 0, h, 0, NULL, NULL)
                : clEnqueueReadBufferRect(q, buf, CL_TRUE, buf_origin, host_origin, region,
                                          l->row_bytes, 0, host_row_bytes, 0, h, 0, NULL, NULL);
            if (err != CL_SUCCESS)
                return mpscl__fail_cl(err, to_device ? "clEnqueueWriteBufferRect"
                                                     : "clEnqueueReadBufferRect");
        }
        base += (l->rows - 1) * l->row_bytes;
        h += (l->rows - 1) * host_row_bytes;
        err = to_device ? clEnqueueWriteBuffer(q, buf, CL_TRUE, base, row, h, 0, NULL, NULL)
                        : clEnqueueReadBuffer(q, buf, CL_TRUE, base, row, h, 0, NULL, NULL);
        if (err != CL_SUCCESS)
            return mpscl__fail_cl(err, to_device ? "clEnqueueWriteBuffer" : "clEnqueueReadBuffer");
    }
    return MPSCL_SUCCESS;
}
