/* Misuse of the device, command buffer, matrix and vector functions, the descriptor helpers and
 * the kernels' constructors and setters; and objects kept alive only by retained handles. */
#define _POSIX_C_SOURCE 200809L   /* setenv */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "misuse.h"
#include "tools/ref.h"

int misuse_poison;

START_TEST(test_device_calls)
{
    mpscl_device *d = POISON;
    cl_context ctx = mpscl_device_cl_context(test_device);
    cl_device_id id = mpscl_device_cl_device_id(test_device);
    size_t n;

    EXPECT(mpscl_device_create_default(NULL), MPSCL_ERROR_INVALID_ARGUMENT, "out");
    EXPECT(mpscl_device_count(NULL), MPSCL_ERROR_INVALID_ARGUMENT, "count");
    EXPECT(mpscl_device_create_by_index(0, NULL), MPSCL_ERROR_INVALID_ARGUMENT, "out");
    EXPECT(mpscl_device_create_with_selector("cpu", NULL), MPSCL_ERROR_INVALID_ARGUMENT, "out");
    EXPECT(mpscl_device_create_with_selector(NULL, &d), MPSCL_ERROR_INVALID_ARGUMENT, "selector");
    ck_assert_ptr_null(d);
    d = POISON;
    EXPECT(mpscl_device_create_with_selector("1:x", &d), MPSCL_ERROR_INVALID_ARGUMENT, "1:x");
    ck_assert_ptr_null(d);
    d = POISON;
    EXPECT(mpscl_device_create_with_selector("no device has this name", &d),
           MPSCL_ERROR_NO_DEVICE, "matches no device");
    ck_assert_ptr_null(d);
    d = POISON;
    ASSERT_OK(mpscl_device_count(&n));
    EXPECT(mpscl_device_create_by_index(n, &d), MPSCL_ERROR_OUT_OF_RANGE, "index");
    ck_assert_ptr_null(d);
    d = POISON;
    EXPECT(mpscl_device_create_by_index(SIZE_MAX, &d), MPSCL_ERROR_OUT_OF_RANGE, "index");
    ck_assert_ptr_null(d);
    d = POISON;
    EXPECT(mpscl_device_create_from_cl(NULL, id, &d), MPSCL_ERROR_INVALID_ARGUMENT, "context");
    ck_assert_ptr_null(d);
    d = POISON;
    EXPECT(mpscl_device_create_from_cl(ctx, NULL, &d), MPSCL_ERROR_INVALID_ARGUMENT, "device");
    ck_assert_ptr_null(d);
    EXPECT(mpscl_device_create_from_cl(ctx, id, NULL), MPSCL_ERROR_INVALID_ARGUMENT, "out");
    /* A set MPSCL_DEVICE that matches nothing is an error, never a silent fallback. The
     * variable is this forked test's own. */
    setenv("MPSCL_DEVICE", "no device has this name", 1);
    d = POISON;
    EXPECT(mpscl_device_create_default(&d), MPSCL_ERROR_NO_DEVICE, "MPSCL_DEVICE");
    ck_assert_ptr_null(d);
    unsetenv("MPSCL_DEVICE");
    /* Getters of a NULL device never fail. */
    ck_assert_ptr_null(mpscl_device_name(NULL));
    ck_assert_ptr_null(mpscl_device_cl_context(NULL));
    ck_assert_int_eq(mpscl_device_supports_data_type(test_device, (mpscl_data_type)99), 0);
    ck_assert_int_eq(mpscl_device_supports_data_type(NULL, MPSCL_DATA_TYPE_FLOAT32), 0);
    mpscl_device_release(NULL);
}
END_TEST

/* Queues the library must refuse: another context's, and an out-of-order one. */
START_TEST(test_command_buffer_calls)
{
    mpscl_command_buffer *cb = POISON;
    mpscl_device *other;
    cl_command_queue q;
    cl_int err;

    EXPECT(mpscl_command_buffer_create(NULL, &cb), MPSCL_ERROR_INVALID_ARGUMENT, "device");
    ck_assert_ptr_null(cb);
    EXPECT(mpscl_command_buffer_create(test_device, NULL), MPSCL_ERROR_INVALID_ARGUMENT, "out");
    cb = POISON;
    EXPECT(mpscl_command_buffer_create_with_queue(test_device, NULL, &cb),
           MPSCL_ERROR_INVALID_ARGUMENT, "queue");
    ck_assert_ptr_null(cb);
    ASSERT_OK(mpscl_device_create_default(&other));
    q = clCreateCommandQueue(mpscl_device_cl_context(other), mpscl_device_cl_device_id(other), 0,
                             &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    cb = POISON;
    EXPECT(mpscl_command_buffer_create_with_queue(test_device, q, &cb),
           MPSCL_ERROR_DEVICE_MISMATCH, "context");
    ck_assert_ptr_null(cb);
    clReleaseCommandQueue(q);
    mpscl_device_release(other);
    q = clCreateCommandQueue(mpscl_device_cl_context(test_device),
                             mpscl_device_cl_device_id(test_device),
                             CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE, &err);
    if (err == CL_SUCCESS) {   /* out-of-order queues are optional in OpenCL 1.2 */
        cb = POISON;
        EXPECT(mpscl_command_buffer_create_with_queue(test_device, q, &cb),
               MPSCL_ERROR_INVALID_ARGUMENT, "order");
        ck_assert_ptr_null(cb);
        clReleaseCommandQueue(q);
    }
    EXPECT(mpscl_command_buffer_commit(NULL), MPSCL_ERROR_INVALID_ARGUMENT, "commit");
    EXPECT(mpscl_command_buffer_wait_until_completed(NULL), MPSCL_ERROR_INVALID_ARGUMENT, "wait");
    ck_assert_int_eq(mpscl_command_buffer_status(NULL), MPSCL_COMMAND_BUFFER_ERROR);
    ck_assert(mpscl_command_buffer_gpu_start_time(NULL) == 0.0);
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    EXPECT(mpscl_command_buffer_wait_until_completed(cb), MPSCL_ERROR_INVALID_STATE,
           "not committed");
    ck_assert_int_eq(mpscl_command_buffer_status(cb), MPSCL_COMMAND_BUFFER_NOT_COMMITTED);
    ASSERT_OK(mpscl_command_buffer_commit(cb));
    EXPECT(mpscl_command_buffer_commit(cb), MPSCL_ERROR_INVALID_STATE, "already committed");
    ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb));
    ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb));   /* waiting again: same result */
    EXPECT(mpscl_command_buffer_commit(cb), MPSCL_ERROR_INVALID_STATE, "already committed");
    mpscl_command_buffer_release(cb);
}
END_TEST

static cl_uint
refcount(cl_mem m)
{
    cl_uint n = 0;

    ck_assert_int_eq(clGetMemObjectInfo(m, CL_MEM_REFERENCE_COUNT, sizeof n, &n, NULL),
                     CL_SUCCESS);
    return n;
}

/* create_with_buffer: every refusal leaves the user's buffer as it was, unretained. */
START_TEST(test_matrix_with_buffer)
{
    mpscl_matrix_descriptor md = mpscl_matrix_descriptor_make(R, C, 4 * C,
                                                              MPSCL_DATA_TYPE_FLOAT32);
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make(C, MPSCL_DATA_TYPE_FLOAT32);
    size_t extent = 4 * R * C;
    cl_mem buf = test_buffer_create(NULL, extent), small = test_buffer_create(NULL, extent - 4);
    mpscl_device *other;
    mpscl_matrix *m = POISON;
    mpscl_vector *v = POISON;

    EXPECT(mpscl_matrix_create_with_buffer(test_device, NULL, 0, &md, &m),
           MPSCL_ERROR_INVALID_ARGUMENT, "buffer");
    ck_assert_ptr_null(m);
    m = POISON;
    EXPECT(mpscl_matrix_create_with_buffer(test_device, small, 0, &md, &m),
           MPSCL_ERROR_OUT_OF_RANGE, "too small");
    ck_assert_ptr_null(m);
    m = POISON;
    EXPECT(mpscl_matrix_create_with_buffer(test_device, buf, 4, &md, &m),
           MPSCL_ERROR_OUT_OF_RANGE, "too small");
    ck_assert_ptr_null(m);
    m = POISON;
    EXPECT(mpscl_matrix_create_with_buffer(test_device, buf, extent + 64, &md, &m),
           MPSCL_ERROR_OUT_OF_RANGE, "offset");
    ck_assert_ptr_null(m);
    m = POISON;
    EXPECT(mpscl_matrix_create_with_buffer(test_device, buf, 2, &md, &m),
           MPSCL_ERROR_INVALID_ARGUMENT, "offset");
    ck_assert_ptr_null(m);
    v = POISON;
    EXPECT(mpscl_vector_create_with_buffer(test_device, buf, SIZE_MAX - 3, &vd, &v),
           MPSCL_ERROR_OUT_OF_RANGE, "too small");
    ck_assert_ptr_null(v);
    v = POISON;
    EXPECT(mpscl_vector_create_with_buffer(test_device, NULL, 0, &vd, &v),
           MPSCL_ERROR_INVALID_ARGUMENT, "buffer");
    ck_assert_ptr_null(v);
    ASSERT_OK(mpscl_device_create_default(&other));
    m = POISON;
    EXPECT(mpscl_matrix_create_with_buffer(other, buf, 0, &md, &m), MPSCL_ERROR_DEVICE_MISMATCH,
           "context");
    ck_assert_ptr_null(m);
    mpscl_device_release(other);
    ck_assert_uint_eq(refcount(buf), 1);
    ck_assert_uint_eq(refcount(small), 1);
    clReleaseMemObject(buf);
    clReleaseMemObject(small);
}
END_TEST

/* NULL arguments and bad host strides of create, write and read: the device copy and the host
 * memory stay as they were. */
START_TEST(test_matrix_vector_calls)
{
    mpscl_matrix_descriptor md = mpscl_matrix_descriptor_make(R, C, 4 * C,
                                                              MPSCL_DATA_TYPE_FLOAT32);
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make(C, MPSCL_DATA_TYPE_FLOAT32);
    float host[R * C], got[R * C], fill[R * C], vhost[C], vgot[C];
    mpscl_matrix *m = POISON;
    mpscl_vector *v = POISON;
    uint64_t rng = 5;

    for (size_t i = 0; i < R * C; i++)
        host[i] = test_rng_uniform(&rng, -1, 1);
    memcpy(vhost, host, sizeof vhost);
    EXPECT(mpscl_matrix_create(NULL, &md, &m), MPSCL_ERROR_INVALID_ARGUMENT, "device");
    ck_assert_ptr_null(m);
    m = POISON;
    EXPECT(mpscl_matrix_create(test_device, NULL, &m), MPSCL_ERROR_INVALID_ARGUMENT,
           "descriptor");
    ck_assert_ptr_null(m);
    EXPECT(mpscl_matrix_create(test_device, &md, NULL), MPSCL_ERROR_INVALID_ARGUMENT, "out");
    EXPECT(mpscl_vector_create(NULL, &vd, &v), MPSCL_ERROR_INVALID_ARGUMENT, "device");
    ck_assert_ptr_null(v);
    EXPECT(mpscl_vector_create(test_device, &vd, NULL), MPSCL_ERROR_INVALID_ARGUMENT, "out");

    ASSERT_OK(mpscl_matrix_create(test_device, &md, &m));
    ASSERT_OK(mpscl_matrix_write(m, host, 4 * C));
    EXPECT(mpscl_matrix_write(NULL, host, 4 * C), MPSCL_ERROR_INVALID_ARGUMENT, "matrix");
    EXPECT(mpscl_matrix_write(m, NULL, 4 * C), MPSCL_ERROR_INVALID_ARGUMENT, "host");
    for (size_t i = 0; i < R * C; i++)
        fill[i] = -7.0f;
    EXPECT(mpscl_matrix_write(m, fill, 4 * C - 4), MPSCL_ERROR_INVALID_SHAPE, "host stride");
    EXPECT(mpscl_matrix_write(m, fill, SIZE_MAX), MPSCL_ERROR_OUT_OF_RANGE, "host size");
    memcpy(got, fill, sizeof got);
    EXPECT(mpscl_matrix_read(m, got, 4 * C - 4), MPSCL_ERROR_INVALID_SHAPE, "host stride");
    ck_assert(memcmp(got, fill, sizeof got) == 0);
    EXPECT(mpscl_matrix_read(m, got, SIZE_MAX), MPSCL_ERROR_OUT_OF_RANGE, "host size");
    ck_assert(memcmp(got, fill, sizeof got) == 0);
    EXPECT(mpscl_matrix_read(NULL, got, 4 * C), MPSCL_ERROR_INVALID_ARGUMENT, "matrix");
    EXPECT(mpscl_matrix_read(m, NULL, 4 * C), MPSCL_ERROR_INVALID_ARGUMENT, "host");
    ASSERT_OK(mpscl_matrix_read(m, got, 4 * C));
    ck_assert(memcmp(got, host, sizeof got) == 0);

    ASSERT_OK(mpscl_vector_create(test_device, &vd, &v));
    ASSERT_OK(mpscl_vector_write(v, vhost));
    EXPECT(mpscl_vector_write(NULL, vhost), MPSCL_ERROR_INVALID_ARGUMENT, "vector");
    EXPECT(mpscl_vector_write(v, NULL), MPSCL_ERROR_INVALID_ARGUMENT, "host");
    EXPECT(mpscl_vector_read(NULL, vgot), MPSCL_ERROR_INVALID_ARGUMENT, "vector");
    EXPECT(mpscl_vector_read(v, NULL), MPSCL_ERROR_INVALID_ARGUMENT, "host");
    ASSERT_OK(mpscl_vector_read(v, vgot));
    ck_assert(memcmp(vgot, vhost, sizeof vgot) == 0);
    mpscl_matrix_release(m);
    mpscl_vector_release(v);
}
END_TEST

/* The encoded copies refuse what the blocking ones refuse, and a buffer as kernel encodes do;
 * nothing refused reaches the buffer or host memory. */
START_TEST(test_encoded_copy_calls)
{
    mpscl_matrix_descriptor md = mpscl_matrix_descriptor_make(R, C, 4 * C,
                                                              MPSCL_DATA_TYPE_FLOAT32);
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make(C, MPSCL_DATA_TYPE_FLOAT32);
    float host[R * C], fill[R * C], got[R * C];
    mpscl_matrix *m;
    mpscl_vector *v;
    mpscl_command_buffer *cb, *committed;

    for (size_t i = 0; i < R * C; i++) {
        host[i] = (float)i;
        fill[i] = -7.0f;
    }
    ASSERT_OK(mpscl_matrix_create(test_device, &md, &m));
    ASSERT_OK(mpscl_vector_create(test_device, &vd, &v));
    ASSERT_OK(mpscl_matrix_write(m, host, 4 * C));
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    ASSERT_OK(mpscl_command_buffer_create(test_device, &committed));
    ASSERT_OK(mpscl_command_buffer_commit(committed));
    EXPECT(mpscl_matrix_encode_write(NULL, cb, host, 4 * C), MPSCL_ERROR_INVALID_ARGUMENT,
           "matrix");
    EXPECT(mpscl_matrix_encode_read(NULL, cb, got, 4 * C), MPSCL_ERROR_INVALID_ARGUMENT,
           "matrix");
    EXPECT(mpscl_vector_encode_write(NULL, cb, host), MPSCL_ERROR_INVALID_ARGUMENT, "vector");
    EXPECT(mpscl_vector_encode_read(NULL, cb, got), MPSCL_ERROR_INVALID_ARGUMENT, "vector");
    EXPECT(mpscl_matrix_encode_write(m, NULL, host, 4 * C), MPSCL_ERROR_INVALID_ARGUMENT,
           "command buffer");
    EXPECT(mpscl_vector_encode_read(v, NULL, got), MPSCL_ERROR_INVALID_ARGUMENT,
           "command buffer");
    EXPECT(mpscl_matrix_encode_read(m, committed, got, 4 * C), MPSCL_ERROR_INVALID_STATE,
           "committed");
    EXPECT(mpscl_vector_encode_write(v, committed, host), MPSCL_ERROR_INVALID_STATE,
           "committed");
    EXPECT(mpscl_matrix_encode_write(m, cb, NULL, 4 * C), MPSCL_ERROR_INVALID_ARGUMENT, "host");
    EXPECT(mpscl_vector_encode_read(v, cb, NULL), MPSCL_ERROR_INVALID_ARGUMENT, "host");
    EXPECT(mpscl_matrix_encode_write(m, cb, fill, 4 * C - 4), MPSCL_ERROR_INVALID_SHAPE,
           "host stride");
    memcpy(got, fill, sizeof got);
    EXPECT(mpscl_matrix_encode_read(m, cb, got, SIZE_MAX), MPSCL_ERROR_OUT_OF_RANGE, "host size");
    ASSERT_OK(mpscl_command_buffer_commit(cb));
    ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb));
    ck_assert(memcmp(got, fill, sizeof got) == 0);
    ASSERT_OK(mpscl_matrix_read(m, got, 4 * C));
    ck_assert(memcmp(got, host, sizeof got) == 0);
    mpscl_command_buffer_release(cb);
    mpscl_command_buffer_release(committed);
    mpscl_matrix_release(m);
    mpscl_vector_release(v);
}
END_TEST

START_TEST(test_host_memory_calls)
{
    mpscl_matrix_descriptor md = mpscl_matrix_descriptor_make(R, C, 4 * C,
                                                              MPSCL_DATA_TYPE_FLOAT32);
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make(C, MPSCL_DATA_TYPE_FLOAT32);
    float mem[R * C + 1];
    mpscl_matrix *m = POISON;
    mpscl_vector *v = POISON;

    EXPECT(mpscl_matrix_create_with_host_memory(NULL, mem, &md, &m),
           MPSCL_ERROR_INVALID_ARGUMENT, "device");
    ck_assert_ptr_null(m);
    m = POISON;
    EXPECT(mpscl_matrix_create_with_host_memory(test_device, NULL, &md, &m),
           MPSCL_ERROR_INVALID_ARGUMENT, "host memory");
    ck_assert_ptr_null(m);
    m = POISON;
    EXPECT(mpscl_matrix_create_with_host_memory(test_device, (char *)mem + 1, &md, &m),
           MPSCL_ERROR_INVALID_ARGUMENT, "aligned");
    ck_assert_ptr_null(m);
    EXPECT(mpscl_matrix_create_with_host_memory(test_device, mem, NULL, &m),
           MPSCL_ERROR_INVALID_ARGUMENT, "descriptor");
    EXPECT(mpscl_matrix_create_with_host_memory(test_device, mem, &md, NULL),
           MPSCL_ERROR_INVALID_ARGUMENT, "out");
    EXPECT(mpscl_vector_create_with_host_memory(test_device, NULL, &vd, &v),
           MPSCL_ERROR_INVALID_ARGUMENT, "host memory");
    ck_assert_ptr_null(v);
    v = POISON;
    EXPECT(mpscl_vector_create_with_host_memory(test_device, (char *)mem + 2, &vd, &v),
           MPSCL_ERROR_INVALID_ARGUMENT, "aligned");
    ck_assert_ptr_null(v);
}
END_TEST

START_TEST(test_descriptor_helpers)
{
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make(C, (mpscl_data_type)99);
    mpscl_vector *v = POISON;

    ck_assert_uint_eq(mpscl_matrix_descriptor_row_bytes_from_columns(SIZE_MAX,
                                                                     MPSCL_DATA_TYPE_FLOAT32), 0);
    ck_assert_uint_eq(mpscl_matrix_descriptor_row_bytes_from_columns(SIZE_MAX / 4 - 7,
                                                                     MPSCL_DATA_TYPE_FLOAT32), 0);
    ck_assert_uint_eq(mpscl_matrix_descriptor_row_bytes_from_columns(C, (mpscl_data_type)99), 0);
    ck_assert_uint_eq(mpscl_matrix_descriptor_row_bytes_from_columns(C, MPSCL_DATA_TYPE_FLOAT32),
                      64);
    ck_assert_uint_eq(mpscl_data_type_size((mpscl_data_type)99), 0);
    ck_assert_str_eq(mpscl_status_string((mpscl_status)99), "unknown status");
    ck_assert_str_eq(mpscl_status_string((mpscl_status)-1), "unknown status");
    EXPECT(mpscl_vector_create(test_device, &vd, &v), MPSCL_ERROR_INVALID_ARGUMENT, "data type");
    ck_assert_ptr_null(v);
}
END_TEST

/* Each setter refuses its bad values and keeps the property; NULL kernels are refused. T is a
 * kernel type, O an origin setter of it. */
#define CHECK_SETTERS(T, k)                                                                  \
    do {                                                                                     \
        static const float bad_eps[] = {NAN, -1.0f, INFINITY, -INFINITY, -FLT_MIN};          \
        for (size_t i_ = 0; i_ < sizeof bad_eps / sizeof bad_eps[0]; i_++)                   \
            EXPECT(T##_set_epsilon(k, bad_eps[i_]), MPSCL_ERROR_INVALID_ARGUMENT, "epsilon");\
        ck_assert_float_eq(T##_epsilon(k), FLT_MIN);                                         \
        EXPECT(T##_set_neuron_type(k, (mpscl_neuron_type)16, 0, 0, 0),                       \
               MPSCL_ERROR_INVALID_ARGUMENT, "neuron");                                      \
        EXPECT(T##_set_neuron_type(k, (mpscl_neuron_type)-1, 0, 0, 0),                       \
               MPSCL_ERROR_INVALID_ARGUMENT, "neuron");                                      \
        EXPECT(T##_set_neuron_type(k, MPSCL_NEURON_PRELU, 1, 0, 0), MPSCL_ERROR_UNSUPPORTED, \
               "PRELU");                                                                     \
        EXPECT(T##_set_neuron_type(k, MPSCL_NEURON_RELU, INFINITY, 0, 0),                    \
               MPSCL_ERROR_INVALID_ARGUMENT, "finite");                                      \
        EXPECT(T##_set_neuron_type(k, MPSCL_NEURON_LINEAR, 1, NAN, 0),                       \
               MPSCL_ERROR_INVALID_ARGUMENT, "finite");                                      \
        ck_assert_int_eq(T##_neuron_type(k), MPSCL_NEURON_NONE);                             \
        EXPECT(T##_set_result_matrix_origin(k, (mpscl_origin){1, 2, 1}),                     \
               MPSCL_ERROR_INVALID_ARGUMENT, "z");                                           \
        ck_assert_uint_eq(T##_result_matrix_origin(k).x, 0);                                 \
        EXPECT(T##_set_epsilon(NULL, 1.0f), MPSCL_ERROR_INVALID_ARGUMENT, "kernel");         \
        EXPECT(T##_set_neuron_type(NULL, MPSCL_NEURON_NONE, 0, 0, 0),                        \
               MPSCL_ERROR_INVALID_ARGUMENT, "kernel");                                      \
        EXPECT(T##_set_batch_start(NULL, 0), MPSCL_ERROR_INVALID_ARGUMENT, "kernel");        \
        EXPECT(T##_set_batch_size(NULL, 0), MPSCL_ERROR_INVALID_ARGUMENT, "kernel");         \
        EXPECT(T##_set_label(NULL, "x"), MPSCL_ERROR_INVALID_ARGUMENT, "kernel");            \
        EXPECT(T##_set_source_number_of_feature_vectors(NULL, 1), MPSCL_ERROR_INVALID_ARGUMENT, \
               "kernel");                                                                    \
        EXPECT(T##_set_result_matrix_origin(NULL, (mpscl_origin){0, 0, 0}),                  \
               MPSCL_ERROR_INVALID_ARGUMENT, "kernel");                                      \
    } while (0)

START_TEST(test_forward_kernel_calls)
{
    mpscl_matrix_batch_normalization *k = POISON, *copy = POISON;
    size_t n;

    EXPECT(mpscl_matrix_batch_normalization_create(NULL, &k), MPSCL_ERROR_INVALID_ARGUMENT,
           "device");
    ck_assert_ptr_null(k);
    EXPECT(mpscl_matrix_batch_normalization_create(test_device, NULL),
           MPSCL_ERROR_INVALID_ARGUMENT, "out");
    EXPECT(mpscl_matrix_batch_normalization_copy(NULL, test_device, &copy),
           MPSCL_ERROR_INVALID_ARGUMENT, "kernel");
    ck_assert_ptr_null(copy);
    ASSERT_OK(mpscl_matrix_batch_normalization_create(test_device, &k));
    CHECK_SETTERS(mpscl_matrix_batch_normalization, k);
    EXPECT(mpscl_matrix_batch_normalization_set_source_matrix_origin(k, (mpscl_origin){0, 0, 2}),
           MPSCL_ERROR_INVALID_ARGUMENT, "z");
    EXPECT(mpscl_matrix_batch_normalization_set_compute_statistics(NULL, 1),
           MPSCL_ERROR_INVALID_ARGUMENT, "kernel");
    ck_assert_uint_eq(mpscl_matrix_batch_normalization_source_matrix_origin(k).z, 0);
    /* The split phases: NULL kernels, NULL outputs, bad rounds and counts, before any work. */
    EXPECT(mpscl_matrix_batch_normalization_set_reproducible(NULL, 1),
           MPSCL_ERROR_INVALID_ARGUMENT, "kernel");
    ck_assert_int_eq(mpscl_matrix_batch_normalization_reproducible(NULL), 0);
    ck_assert_uint_eq(mpscl_matrix_batch_normalization_statistics_rounds(NULL), 0);
    n = 5;
    EXPECT(mpscl_matrix_batch_normalization_partials_length(NULL, 3, &n),
           MPSCL_ERROR_INVALID_ARGUMENT, "kernel");
    ck_assert_uint_eq(n, 0);
    EXPECT(mpscl_matrix_batch_normalization_partials_length(k, 3, NULL),
           MPSCL_ERROR_INVALID_ARGUMENT, "length");
    EXPECT(mpscl_matrix_batch_normalization_partials_length(k, 0, &n),
           MPSCL_ERROR_INVALID_ARGUMENT, "columns");
    EXPECT(mpscl_matrix_batch_normalization_encode_partial_statistics(NULL, NULL, 0, NULL, NULL,
                                                                      NULL),
           MPSCL_ERROR_INVALID_ARGUMENT, "kernel");
    EXPECT(mpscl_matrix_batch_normalization_encode_partial_statistics(k, NULL, 1, NULL, NULL,
                                                                      NULL),
           MPSCL_ERROR_INVALID_ARGUMENT, "round");
    EXPECT(mpscl_matrix_batch_normalization_encode_partial_statistics(k, NULL, 0, NULL, NULL,
                                                                      NULL),
           MPSCL_ERROR_INVALID_ARGUMENT, "command buffer");
    EXPECT(mpscl_matrix_batch_normalization_encode_combine_statistics(NULL, NULL, 0, NULL, 1, NULL,
                                                                      NULL, NULL, NULL),
           MPSCL_ERROR_INVALID_ARGUMENT, "kernel");
    EXPECT(mpscl_matrix_batch_normalization_encode_combine_statistics(k, NULL, 0, NULL, 0, NULL,
                                                                      NULL, NULL, NULL),
           MPSCL_ERROR_INVALID_ARGUMENT, "count");
    EXPECT(mpscl_matrix_batch_normalization_encode_combine_statistics(k, NULL, 2, NULL, 1, NULL,
                                                                      NULL, NULL, NULL),
           MPSCL_ERROR_INVALID_ARGUMENT, "round");
    mpscl_matrix_batch_normalization_release(k);
}
END_TEST

START_TEST(test_gradient_kernel_calls)
{
    mpscl_matrix_batch_normalization_gradient *k = POISON, *copy = POISON;
    size_t n;

    EXPECT(mpscl_matrix_batch_normalization_gradient_create(NULL, &k),
           MPSCL_ERROR_INVALID_ARGUMENT, "device");
    ck_assert_ptr_null(k);
    EXPECT(mpscl_matrix_batch_normalization_gradient_create(test_device, NULL),
           MPSCL_ERROR_INVALID_ARGUMENT, "out");
    EXPECT(mpscl_matrix_batch_normalization_gradient_copy(NULL, NULL, &copy),
           MPSCL_ERROR_INVALID_ARGUMENT, "kernel");
    ck_assert_ptr_null(copy);
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_create(test_device, &k));
    CHECK_SETTERS(mpscl_matrix_batch_normalization_gradient, k);
    EXPECT(mpscl_matrix_batch_normalization_gradient_set_primary_source_matrix_origin(
               k, (mpscl_origin){0, 0, SIZE_MAX}), MPSCL_ERROR_INVALID_ARGUMENT, "z");
    EXPECT(mpscl_matrix_batch_normalization_gradient_set_secondary_source_matrix_origin(
               k, (mpscl_origin){0, 0, 1}), MPSCL_ERROR_INVALID_ARGUMENT, "z");
    EXPECT(mpscl_matrix_batch_normalization_gradient_set_frozen_statistics(NULL, 1),
           MPSCL_ERROR_INVALID_ARGUMENT, "kernel");
    ck_assert_int_eq(mpscl_matrix_batch_normalization_gradient_frozen_statistics(NULL), 0);
    EXPECT(mpscl_matrix_batch_normalization_gradient_set_reproducible(NULL, 1),
           MPSCL_ERROR_INVALID_ARGUMENT, "kernel");
    ck_assert_int_eq(mpscl_matrix_batch_normalization_gradient_reproducible(NULL), 0);
    EXPECT(mpscl_matrix_batch_normalization_gradient_partials_length(NULL, 3, &n),
           MPSCL_ERROR_INVALID_ARGUMENT, "kernel");
    EXPECT(mpscl_matrix_batch_normalization_gradient_partials_length(k, 0, &n),
           MPSCL_ERROR_INVALID_ARGUMENT, "columns");
    EXPECT(mpscl_matrix_batch_normalization_gradient_encode_partial_sums(
               NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
           MPSCL_ERROR_INVALID_ARGUMENT, "kernel");
    EXPECT(mpscl_matrix_batch_normalization_gradient_encode_partial_sums(
               k, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
           MPSCL_ERROR_INVALID_ARGUMENT, "command buffer");
    EXPECT(mpscl_matrix_batch_normalization_gradient_encode_apply(
               NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 1, NULL, NULL, NULL),
           MPSCL_ERROR_INVALID_ARGUMENT, "kernel");
    EXPECT(mpscl_matrix_batch_normalization_gradient_encode_apply(
               k, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL),
           MPSCL_ERROR_INVALID_ARGUMENT, "count");
    mpscl_matrix_batch_normalization_gradient_release(k);
}
END_TEST

/* The creator drops its own references right after use: the device lives on in the matrices,
 * kernel and command buffer, and everything encoded lives on in the command buffer until it
 * completes. The results must be those of the fp64 reference. */
START_TEST(test_retained_handles)
{
    mpscl_matrix_descriptor md = mpscl_matrix_descriptor_make(R, C, 4 * C,
                                                              MPSCL_DATA_TYPE_FLOAT32);
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make(C, MPSCL_DATA_TYPE_FLOAT32);
    float host[R * C], y[R * C], mean[C], var[C];
    double want_mean[C], want_var[C], want_y[R * C];
    mpscl_device *d;
    mpscl_matrix *x, *x2, *ym;
    mpscl_vector *mv, *vv;
    mpscl_matrix_batch_normalization *k;
    mpscl_command_buffer *cb;
    uint64_t rng = 11;

    for (size_t i = 0; i < R * C; i++)
        host[i] = test_rng_uniform(&rng, -1, 3);
    ASSERT_OK(mpscl_device_create_default(&d));
    ASSERT_OK(mpscl_matrix_create(d, &md, &x));
    ASSERT_OK(mpscl_matrix_write(x, host, 4 * C));
    x2 = mpscl_matrix_retain(x);
    mpscl_matrix_release(x);                       /* x2 is now the only handle */
    mpscl_device_release(d);                       /* alive through x2 */
    d = mpscl_matrix_device(x2);
    ASSERT_OK(mpscl_matrix_create(d, &md, &ym));
    ASSERT_OK(mpscl_vector_create(d, &vd, &mv));
    ASSERT_OK(mpscl_vector_create(d, &vd, &vv));
    ASSERT_OK(mpscl_matrix_batch_normalization_create(d, &k));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_compute_statistics(k, 1));
    ASSERT_OK(mpscl_command_buffer_create(d, &cb));
    ASSERT_OK(mpscl_matrix_batch_normalization_encode(k, cb, x2, mv, vv, NULL, NULL, ym));
    mpscl_matrix_batch_normalization_release(k);   /* held by cb until it completes */
    mpscl_matrix_release(x2);
    ASSERT_OK(mpscl_command_buffer_commit(cb));
    ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb));
    mpscl_command_buffer_release(cb);
    ASSERT_OK(mpscl_matrix_read(ym, y, 4 * C));
    ASSERT_OK(mpscl_vector_read(mv, mean));
    ASSERT_OK(mpscl_vector_read(vv, var));
    ref_bn_statistics(R, C, (ref_view){host, C}, want_mean, want_var);
    ref_bn_forward(R, C, (ref_view){host, C}, mean, var, NULL, NULL, FLT_MIN, NULL, want_y);
    ck_assert_double_le(ref_rel_l2_vec(C, mean, want_mean), 1e-6);
    ck_assert_double_le(ref_rel_l2_vec(C, var, want_var), 1e-6);
    ck_assert_double_le(ref_rel_l2(R, C, (ref_view){y, C}, want_y), 1e-6);
    mpscl_matrix_release(ym);
    mpscl_vector_release(mv);
    mpscl_vector_release(vv);                      /* the last handle: the device goes too */
}
END_TEST

void
misuse_add_calls(TCase *tc)
{
    tcase_add_test(tc, test_device_calls);
    tcase_add_test(tc, test_command_buffer_calls);
    tcase_add_test(tc, test_matrix_with_buffer);
    tcase_add_test(tc, test_matrix_vector_calls);
    tcase_add_test(tc, test_encoded_copy_calls);
    tcase_add_test(tc, test_host_memory_calls);
    tcase_add_test(tc, test_descriptor_helpers);
    tcase_add_test(tc, test_forward_kernel_calls);
    tcase_add_test(tc, test_gradient_kernel_calls);
    tcase_add_test(tc, test_retained_handles);
}
