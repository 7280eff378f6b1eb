/* Copies between matrices or vectors and host memory: blocking ones on the device's transfer
 * queue, and ones encoded into a command buffer, ordered with its other commands. Both are the
 * same checks and the same commands (lib/layout.c); they differ in the queue and in who waits. */
#include "config.h"

#include "internal.h"

mpscl_status
mpscl__storage_copy(const mpscl__storage *s, void *host, size_t host_row_bytes, int to_device,
                    const char *fn)
{
    size_t bytes = mpscl__layout_extent(s->layout);
    cl_command_queue q;
    mpscl_status st;

    mpscl__clear_error();
    if ((st = mpscl__layout_check_host(s->layout, host, host_row_bytes, fn)) != MPSCL_SUCCESS ||
        (st = mpscl__device_transfer_queue(s->device, &q)) != MPSCL_SUCCESS)
        return st;
    /* Over host memory, the copy goes through the buffer: it must first hold what the host
     * wrote, and a write must end up in the host's memory too. */
    if (s->host != NULL && (st = mpscl__host_memory_push(q, NULL, s->buffer, bytes)) != MPSCL_SUCCESS)
        return st;
    if ((st = mpscl__layout_enqueue_copy(q, NULL, s->buffer, s->offset, s->layout, host,
                                         host_row_bytes, to_device)) != MPSCL_SUCCESS)
        return st;
    if (s->host != NULL && to_device)
        st = mpscl__host_memory_pull(q, NULL, s->buffer, bytes);
    return st;
}

typedef struct held_kind {
    void *(*retain)(void *);
    void (*release)(void *);
} held_kind;

static void *retain_matrix(void *m) { return mpscl_matrix_retain(m); }
static void release_matrix(void *m) { mpscl_matrix_release(m); }
static void *retain_vector(void *v) { return mpscl_vector_retain(v); }
static void release_vector(void *v) { mpscl_vector_release(v); }

static const held_kind matrix_kind = {retain_matrix, release_matrix};
static const held_kind vector_kind = {retain_vector, release_vector};

/* Every check comes before the first command, so a refused call enqueues nothing; the object is
 * held before its commands go in, so it outlives them whatever happens next. */
static mpscl_status
encode_copy(const mpscl__storage *s, mpscl_command_buffer *cb, void *host, size_t host_row_bytes,
            int to_device, void *obj, const held_kind *kind, const char *fn)
{
    mpscl_status st;

    if ((st = mpscl__command_buffer_check_encode(cb, s->device, fn)) != MPSCL_SUCCESS ||
        (st = mpscl__layout_check_host(s->layout, host, host_row_bytes, fn)) != MPSCL_SUCCESS ||
        (st = mpscl__command_buffer_reserve(cb, 1)) != MPSCL_SUCCESS)
        return st;
    mpscl__command_buffer_hold(cb, kind->retain(obj), kind->release);
    if ((st = mpscl__command_buffer_use(cb, s, to_device)) != MPSCL_SUCCESS)
        return st;
    return mpscl__layout_enqueue_copy(mpscl__command_buffer_queue(cb), cb, s->buffer, s->offset,
                                      s->layout, host, host_row_bytes, to_device);
}

mpscl_status
mpscl_matrix_encode_write(mpscl_matrix *m, mpscl_command_buffer *cb, const void *host,
                          size_t host_row_bytes)
{
    mpscl__storage s;

    mpscl__clear_error();
    if (m == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS,
                           "matrix_encode_write: matrix is NULL");
    s = mpscl__matrix_storage(m);
    /* The copy only reads host: the cast is OpenCL's one signature for both directions. */
    return encode_copy(&s, cb, (void *)host, host_row_bytes, 1, m, &matrix_kind,
                       "matrix_encode_write");
}

mpscl_status
mpscl_matrix_encode_read(const mpscl_matrix *m, mpscl_command_buffer *cb, void *host,
                         size_t host_row_bytes)
{
    mpscl__storage s;

    mpscl__clear_error();
    if (m == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS,
                           "matrix_encode_read: matrix is NULL");
    s = mpscl__matrix_storage(m);
    /* Held objects are released through a mutable pointer; the read changes nothing of m. */
    return encode_copy(&s, cb, host, host_row_bytes, 0, (mpscl_matrix *)m, &matrix_kind,
                       "matrix_encode_read");
}

mpscl_status
mpscl_vector_encode_write(mpscl_vector *v, mpscl_command_buffer *cb, const void *host)
{
    mpscl__storage s;

    mpscl__clear_error();
    if (v == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS,
                           "vector_encode_write: vector is NULL");
    s = mpscl__vector_storage(v);
    return encode_copy(&s, cb, (void *)host, v->layout.row_bytes, 1, v, &vector_kind,
                       "vector_encode_write");
}

mpscl_status
mpscl_vector_encode_read(const mpscl_vector *v, mpscl_command_buffer *cb, void *host)
{
    mpscl__storage s;

    mpscl__clear_error();
    if (v == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS,
                           "vector_encode_read: vector is NULL");
    s = mpscl__vector_storage(v);
    return encode_copy(&s, cb, host, v->layout.row_bytes, 0, (mpscl_vector *)v, &vector_kind,
                       "vector_encode_read");
}
