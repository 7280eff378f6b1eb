/* mpscl_vector (MPSVector) and its descriptor: a matrix layout of one row per vector. */
#include "config.h"

#include <stdlib.h>

#include "internal.h"

mpscl_vector_descriptor
mpscl_vector_descriptor_make(size_t length, mpscl_data_type t)
{
    mpscl_vector_descriptor d = {length, 1, length * mpscl_data_type_size(t), t};
    return d;
}

mpscl_vector_descriptor
mpscl_vector_descriptor_make_batch(size_t length, size_t vectors, size_t vector_bytes,
                                   mpscl_data_type t)
{
    mpscl_vector_descriptor d = {length, vectors, vector_bytes, t};
    return d;
}

/* The caller's memory a new object lies over (a struct, so that NULL memory stays an error). */
typedef struct host_memory {
    void *host;
} host_memory;

static mpscl_status
vector_new(mpscl_device *d, cl_mem user, size_t offset, const host_memory *hm,
           const mpscl_vector_descriptor *desc,
           mpscl_vector **out, const char *fn)
{
    mpscl_vector *v;
    mpscl__layout l;
    mpscl_status s;

    if (out == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, "%s: out is NULL", fn);
    *out = NULL;
    mpscl__clear_error();
    if (d == NULL || desc == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, "%s: %s is NULL", fn,
                           d == NULL ? "device" : "descriptor");
    /* One row per vector: row_bytes = the vector itself, so only vector_bytes is checked. */
    l = (mpscl__layout){1, desc->length, desc->vectors,
                        desc->length * mpscl_data_type_size(desc->data_type), desc->vector_bytes,
                        desc->data_type};
    if ((s = mpscl__layout_validate(&l, fn, "descriptor")) != MPSCL_SUCCESS)
        return s;
    if ((v = calloc(1, sizeof *v)) == NULL)
        return mpscl__fail(MPSCL_ERROR_OUT_OF_HOST_MEMORY, CL_SUCCESS, "%s: out of memory", fn);
    s = hm != NULL ? mpscl__host_memory_buffer(d, hm->host, &l, fn, &v->buffer)
                   : mpscl__layout_buffer(d, &l, user, offset, fn, &v->buffer);
    if (s != MPSCL_SUCCESS) {
        free(v);
        return s;
    }
    atomic_init(&v->refs, 1);
    v->device = mpscl_device_retain(d);
    v->offset = user == NULL ? 0 : offset;
    v->layout = l;
    v->host = hm != NULL ? hm->host : NULL;
    *out = v;
    return MPSCL_SUCCESS;
}

mpscl_status
mpscl_vector_create(mpscl_device *d, const mpscl_vector_descriptor *desc, mpscl_vector **out)
{
    return vector_new(d, NULL, 0, NULL, desc, out, "vector_create");
}

mpscl_status
mpscl_vector_create_with_buffer(mpscl_device *d, cl_mem buffer, size_t offset,
                                const mpscl_vector_descriptor *desc, mpscl_vector **out)
{
    if (buffer == NULL) {
        if (out != NULL)
            *out = NULL;
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS,
                           "vector_create_with_buffer: buffer is NULL");
    }
    return vector_new(d, buffer, offset, NULL, desc, out, "vector_create_with_buffer");
}

mpscl_status
mpscl_vector_create_with_host_memory(mpscl_device *d, void *host,
                                     const mpscl_vector_descriptor *desc, mpscl_vector **out)
{
    host_memory hm = {host};

    return vector_new(d, NULL, 0, &hm, desc, out, "vector_create_with_host_memory");
}

mpscl__storage
mpscl__vector_storage(const mpscl_vector *v)
{
    mpscl__storage s = {v->device, v->buffer, v->offset, &v->layout, v->host};
    return s;
}

mpscl_status
mpscl_vector_write(mpscl_vector *v, const void *host)
{
    mpscl__storage s;

    if (v == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, "vector_write: vector is NULL");
    s = mpscl__vector_storage(v);
    return mpscl__storage_copy(&s, (void *)host, v->layout.row_bytes, 1, "vector_write");
}

mpscl_status
mpscl_vector_read(const mpscl_vector *v, void *host)
{
    mpscl__storage s;

    if (v == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, "vector_read: vector is NULL");
    s = mpscl__vector_storage(v);
    return mpscl__storage_copy(&s, host, v->layout.row_bytes, 0, "vector_read");
}

size_t mpscl_vector_length(const mpscl_vector *v) { return v ? v->layout.columns : 0; }
size_t mpscl_vector_vectors(const mpscl_vector *v) { return v ? v->layout.mats : 0; }
size_t mpscl_vector_vector_bytes(const mpscl_vector *v) { return v ? v->layout.mat_bytes : 0; }
size_t mpscl_vector_offset(const mpscl_vector *v) { return v ? v->offset : 0; }
cl_mem mpscl_vector_buffer(const mpscl_vector *v) { return v ? v->buffer : NULL; }
mpscl_device *mpscl_vector_device(const mpscl_vector *v) { return v ? v->device : NULL; }

mpscl_data_type
mpscl_vector_data_type(const mpscl_vector *v)
{
    return v ? v->layout.type : MPSCL_DATA_TYPE_FLOAT32;
}

mpscl_vector *
mpscl_vector_retain(mpscl_vector *v)
{
    if (v != NULL)
        atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
    return v;
}

void
mpscl_vector_release(mpscl_vector *v)
{
    if (v == NULL || atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) != 1)
        return;
    mpscl__check_cl(clReleaseMemObject(v->buffer), "clReleaseMemObject");
    mpscl_device_release(v->device);
    free(v);
}
