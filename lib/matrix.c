/* mpscl_matrix (MPSMatrix) and its descriptor: a typed, strided view of a cl_mem buffer. */
#include "config.h"

#include <stdlib.h>

#include "internal.h"

mpscl_matrix_descriptor
mpscl_matrix_descriptor_make(size_t rows, size_t columns, size_t row_bytes, mpscl_data_type t)
{
    mpscl_matrix_descriptor d = {rows, columns, 1, row_bytes, rows * row_bytes, t};
    return d;
}

mpscl_matrix_descriptor
mpscl_matrix_descriptor_make_batch(size_t rows, size_t columns, size_t matrices, size_t row_bytes,
                                   size_t matrix_bytes, mpscl_data_type t)
{
    mpscl_matrix_descriptor d = {rows, columns, matrices, row_bytes, matrix_bytes, t};
    return d;
}

size_t
mpscl_matrix_descriptor_row_bytes_from_columns(size_t columns, mpscl_data_type t)
{
    size_t es = mpscl_data_type_size(t), bytes;

    /* 64 bytes: a cache line on every GPU and CPU we target, and a multiple of every vector
     * load width the kernels use. */
    if (es == 0 || !mpscl__mul_add(columns, es, 63, &bytes))
        return 0;
    return bytes / 64 * 64;
}

/* The caller's memory a new object lies over (a struct, so that NULL memory stays an error). */
typedef struct host_memory {
    void *host;
} host_memory;

static mpscl_status
matrix_new(mpscl_device *d, cl_mem user, size_t offset, const host_memory *hm,
           const mpscl_matrix_descriptor *desc,
           mpscl_matrix **out, const char *fn)
{
    mpscl_matrix *m;
    mpscl__layout l;
    mpscl_status s;

    if (out == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, "%s: out is NULL", fn);
    *out = NULL;
    mpscl__clear_error();
    if (d == NULL || desc == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, "%s: %s is NULL", fn,
                           d == NULL ? "device" : "descriptor");
    l = (mpscl__layout){desc->rows, desc->columns, desc->matrices, desc->row_bytes,
                        desc->matrix_bytes, desc->data_type};
    if ((s = mpscl__layout_validate(&l, fn, "descriptor")) != MPSCL_SUCCESS)
        return s;
    if ((m = calloc(1, sizeof *m)) == NULL)
        return mpscl__fail(MPSCL_ERROR_OUT_OF_HOST_MEMORY, CL_SUCCESS, "%s: out of memory", fn);
    s = hm != NULL ? mpscl__host_memory_buffer(d, hm->host, &l, fn, &m->buffer)
                   : mpscl__layout_buffer(d, &l, user, offset, fn, &m->buffer);
    if (s != MPSCL_SUCCESS) {
        free(m);
        return s;
    }
    atomic_init(&m->refs, 1);
    m->device = mpscl_device_retain(d);
    m->offset = user == NULL ? 0 : offset;
    m->layout = l;
    m->host = hm != NULL ? hm->host : NULL;
    *out = m;
    return MPSCL_SUCCESS;
}

mpscl_status
mpscl_matrix_create(mpscl_device *d, const mpscl_matrix_descriptor *desc, mpscl_matrix **out)
{
    return matrix_new(d, NULL, 0, NULL, desc, out, "matrix_create");
}

mpscl_status
mpscl_matrix_create_with_buffer(mpscl_device *d, cl_mem buffer, size_t offset,
                                const mpscl_matrix_descriptor *desc, mpscl_matrix **out)
{
    if (buffer == NULL) {
        if (out != NULL)
            *out = NULL;
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS,
                           "matrix_create_with_buffer: buffer is NULL");
    }
    return matrix_new(d, buffer, offset, NULL, desc, out, "matrix_create_with_buffer");
}

mpscl_status
mpscl_matrix_create_with_host_memory(mpscl_device *d, void *host,
                                     const mpscl_matrix_descriptor *desc, mpscl_matrix **out)
{
    host_memory hm = {host};

    return matrix_new(d, NULL, 0, &hm, desc, out, "matrix_create_with_host_memory");
}

mpscl__storage
mpscl__matrix_storage(const mpscl_matrix *m)
{
    mpscl__storage s = {m->device, m->buffer, m->offset, &m->layout, m->host};
    return s;
}

mpscl_status
mpscl_matrix_write(mpscl_matrix *m, const void *host, size_t host_row_bytes)
{
    mpscl__storage s;

    if (m == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, "matrix_write: matrix is NULL");
    s = mpscl__matrix_storage(m);
    /* The copy only reads host: the cast is OpenCL's one signature for both directions. */
    return mpscl__storage_copy(&s, (void *)host, host_row_bytes, 1, "matrix_write");
}

mpscl_status
mpscl_matrix_read(const mpscl_matrix *m, void *host, size_t host_row_bytes)
{
    mpscl__storage s;

    if (m == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, "matrix_read: matrix is NULL");
    s = mpscl__matrix_storage(m);
    return mpscl__storage_copy(&s, host, host_row_bytes, 0, "matrix_read");
}

size_t mpscl_matrix_rows(const mpscl_matrix *m) { return m ? m->layout.rows : 0; }
size_t mpscl_matrix_columns(const mpscl_matrix *m) { return m ? m->layout.columns : 0; }
size_t mpscl_matrix_matrices(const mpscl_matrix *m) { return m ? m->layout.mats : 0; }
size_t mpscl_matrix_row_bytes(const mpscl_matrix *m) { return m ? m->layout.row_bytes : 0; }
size_t mpscl_matrix_matrix_bytes(const mpscl_matrix *m) { return m ? m->layout.mat_bytes : 0; }
size_t mpscl_matrix_offset(const mpscl_matrix *m) { return m ? m->offset : 0; }
cl_mem mpscl_matrix_buffer(const mpscl_matrix *m) { return m ? m->buffer : NULL; }
mpscl_device *mpscl_matrix_device(const mpscl_matrix *m) { return m ? m->device : NULL; }

mpscl_data_type
mpscl_matrix_data_type(const mpscl_matrix *m)
{
    return m ? m->layout.type : MPSCL_DATA_TYPE_FLOAT32;
}

mpscl_matrix *
mpscl_matrix_retain(mpscl_matrix *m)
{
    if (m != NULL)
        atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return m;
}

void
mpscl_matrix_release(mpscl_matrix *m)
{
    if (m == NULL || atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
        return;
    mpscl__check_cl(clReleaseMemObject(m->buffer), "clReleaseMemObject");
    mpscl_device_release(m->device);
    free(m);
}
