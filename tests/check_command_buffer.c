/* tests/check_command_buffer.c: the command buffer's states (create, commit, wait), wrapping a
 * user's queue, refusals, and the rule that encoded objects live until the work completes. */
#define _POSIX_C_SOURCE 200809L
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/ref.h"
#include "util.h"

#define ROWS 4
#define COLS 3
/* A quiet NaN with a payload, the fill of every output before the library writes it. */
#define CANARY_WORD 0x7FC0DEADu

/* The operands of one small forward (compute_statistics off): x, mean, variance, gamma and beta
 * written from the host, the result over a buffer of the test's own so it can be read after
 * every mpscl reference is gone. */
typedef struct forward {
    mpscl_matrix_batch_normalization *k;
    mpscl_matrix *x, *y;
    mpscl_vector *mean, *var, *gamma, *beta;
    cl_mem ybuf;
    float xs[ROWS * COLS], means[COLS], vars[COLS], gammas[COLS], betas[COLS];
} forward;

static mpscl_vector *
vector_from(const float *values)
{
    mpscl_vector_descriptor d = mpscl_vector_descriptor_make(COLS, MPSCL_DATA_TYPE_FLOAT32);
    mpscl_vector *v = NULL;

    ASSERT_OK(mpscl_vector_create(test_device, &d, &v));
    ASSERT_OK(mpscl_vector_write(v, values));
    return v;
}

static void
forward_setup(forward *f)
{
    mpscl_matrix_descriptor d = mpscl_matrix_descriptor_make(ROWS, COLS, COLS * sizeof(float),
                                                             MPSCL_DATA_TYPE_FLOAT32);
    uint32_t canary[ROWS * COLS];
    uint64_t rng = 42;

    /* Non-zero means and a different scale per column, so a swapped operand shows. */
    for (size_t j = 0; j < COLS; j++) {
        f->means[j] = test_rng_uniform(&rng, -2, 2);
        f->vars[j] = test_rng_uniform(&rng, 0.5f, 4);
        f->gammas[j] = test_rng_uniform(&rng, 0.5f, 2);
        f->betas[j] = test_rng_uniform(&rng, -1, 1);
    }
    for (size_t i = 0; i < ROWS * COLS; i++)
        f->xs[i] = test_rng_uniform(&rng, -3, 3) * (float)(1 + i % COLS);
    for (size_t i = 0; i < ROWS * COLS; i++)
        canary[i] = CANARY_WORD;
    ASSERT_OK(mpscl_matrix_batch_normalization_create(test_device, &f->k));
    ASSERT_OK(mpscl_matrix_create(test_device, &d, &f->x));
    ASSERT_OK(mpscl_matrix_write(f->x, f->xs, COLS * sizeof(float)));
    f->ybuf = test_buffer_create(canary, sizeof canary);
    ASSERT_OK(mpscl_matrix_create_with_buffer(test_device, f->ybuf, 0, &d, &f->y));
    f->mean = vector_from(f->means);
    f->var = vector_from(f->vars);
    f->gamma = vector_from(f->gammas);
    f->beta = vector_from(f->betas);
}

static mpscl_status
forward_encode(forward *f, mpscl_command_buffer *cb)
{
    return mpscl_matrix_batch_normalization_encode(f->k, cb, f->x, f->mean, f->var, f->gamma,
                                                   f->beta, f->y);
}

/* Drops the test's references to everything except ybuf. */
static void
forward_release(forward *f)
{
    mpscl_matrix_batch_normalization_release(f->k);
    mpscl_matrix_release(f->x);
    mpscl_matrix_release(f->y);
    mpscl_vector_release(f->mean);
    mpscl_vector_release(f->var);
    mpscl_vector_release(f->gamma);
    mpscl_vector_release(f->beta);
}

static void
assert_result_untouched(cl_mem ybuf)
{
    uint32_t got[ROWS * COLS];

    test_buffer_read(ybuf, got, sizeof got);
    for (size_t i = 0; i < ROWS * COLS; i++)
        ck_assert_msg(got[i] == CANARY_WORD, "result element %zu was written: 0x%08x", i,
                      (unsigned)got[i]);
}

static void
assert_result_correct(const forward *f)
{
    float got[ROWS * COLS];
    double want[ROWS * COLS], err;
    ref_view xv = {f->xs, COLS}, gv = {got, COLS};
    /* A handful of roundings per element (subtract, rsqrt, multiply, add); 16 eps leaves room
     * for rsqrt's few-ulp error on devices without a correctly rounded one. */
    double bound = 16 * FLT_EPSILON;

    test_buffer_read(f->ybuf, got, sizeof got);
    ref_bn_forward(ROWS, COLS, xv, f->means, f->vars, f->gammas, f->betas, FLT_MIN, NULL, want);
    err = ref_rel_l2(ROWS, COLS, gv, want);
    ck_assert_msg(err <= bound, "%dx%d forward: relative error %g > bound %g", ROWS, COLS, err,
                  bound);
}

static cl_uint
mem_refs(cl_mem m)
{
    cl_uint refs = 0;

    ck_assert_int_eq(clGetMemObjectInfo(m, CL_MEM_REFERENCE_COUNT, sizeof refs, &refs, NULL),
                     CL_SUCCESS);
    return refs;
}

static cl_uint
queue_refs(cl_command_queue q)
{
    cl_uint refs = 0;

    ck_assert_int_eq(clGetCommandQueueInfo(q, CL_QUEUE_REFERENCE_COUNT, sizeof refs, &refs, NULL),
                     CL_SUCCESS);
    return refs;
}

START_TEST(empty_buffer)
{
    mpscl_command_buffer *cb = NULL;
    mpscl_command_buffer_state st;

    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    ck_assert_int_eq(mpscl_command_buffer_status(cb), MPSCL_COMMAND_BUFFER_NOT_COMMITTED);
    ASSERT_OK(mpscl_command_buffer_commit(cb));
    st = mpscl_command_buffer_status(cb);
    ck_assert_msg(st == MPSCL_COMMAND_BUFFER_COMMITTED || st == MPSCL_COMMAND_BUFFER_COMPLETED,
                  "status after commit: %d", (int)st);
    ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb));
    ck_assert_int_eq(mpscl_command_buffer_status(cb), MPSCL_COMMAND_BUFFER_COMPLETED);
    /* Nothing was encoded: no GPU times. */
    ck_assert_double_eq(mpscl_command_buffer_gpu_start_time(cb), 0.0);
    ck_assert_double_eq(mpscl_command_buffer_gpu_end_time(cb), 0.0);
    /* Waiting again reports the same result without waiting for anything. */
    ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb));
    ck_assert_int_eq(mpscl_command_buffer_status(cb), MPSCL_COMMAND_BUFFER_COMPLETED);
    mpscl_command_buffer_release(cb);
}
END_TEST

START_TEST(commit_twice)
{
    mpscl_command_buffer *cb = NULL;

    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    ASSERT_OK(mpscl_command_buffer_commit(cb));
    ASSERT_STATUS(mpscl_command_buffer_commit(cb), MPSCL_ERROR_INVALID_STATE);
    ck_assert_str_ne(mpscl_last_error_message(), "");
    ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb));
    ASSERT_STATUS(mpscl_command_buffer_commit(cb), MPSCL_ERROR_INVALID_STATE);
    ck_assert_int_eq(mpscl_command_buffer_status(cb), MPSCL_COMMAND_BUFFER_COMPLETED);
    mpscl_command_buffer_release(cb);
}
END_TEST

START_TEST(wait_uncommitted)
{
    mpscl_command_buffer *cb = NULL;

    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    ASSERT_STATUS(mpscl_command_buffer_wait_until_completed(cb), MPSCL_ERROR_INVALID_STATE);
    ck_assert_msg(strstr(mpscl_last_error_message(), "commit") != NULL, "message: %s",
                  mpscl_last_error_message());
    /* The refusal changed nothing: the buffer still commits and completes. */
    ck_assert_int_eq(mpscl_command_buffer_status(cb), MPSCL_COMMAND_BUFFER_NOT_COMMITTED);
    ASSERT_OK(mpscl_command_buffer_commit(cb));
    ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb));
    mpscl_command_buffer_release(cb);
}
END_TEST

START_TEST(own_queue_getters)
{
    mpscl_command_buffer *cb = NULL;
    cl_command_queue q;
    cl_context ctx = NULL;
    cl_device_id dev = NULL;
    cl_command_queue_properties props = 0;

    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    ck_assert_ptr_eq(mpscl_command_buffer_device(cb), test_device);
    q = mpscl_command_buffer_cl_queue(cb);
    ck_assert_ptr_nonnull(q);
    ck_assert_int_eq(clGetCommandQueueInfo(q, CL_QUEUE_CONTEXT, sizeof ctx, &ctx, NULL),
                     CL_SUCCESS);
    ck_assert_int_eq(clGetCommandQueueInfo(q, CL_QUEUE_DEVICE, sizeof dev, &dev, NULL),
                     CL_SUCCESS);
    ck_assert_int_eq(clGetCommandQueueInfo(q, CL_QUEUE_PROPERTIES, sizeof props, &props, NULL),
                     CL_SUCCESS);
    ck_assert_ptr_eq(ctx, mpscl_device_cl_context(test_device));
    ck_assert_ptr_eq(dev, mpscl_device_cl_device_id(test_device));
    ck_assert_msg(!(props & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE), "own queue is out of order");

    /* retain hands back the same object; one release leaves it usable. */
    ck_assert_ptr_eq(mpscl_command_buffer_retain(cb), cb);
    mpscl_command_buffer_release(cb);
    ASSERT_OK(mpscl_command_buffer_commit(cb));
    ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb));
    mpscl_command_buffer_release(cb);
}
END_TEST

START_TEST(user_queue)
{
    cl_int err;
    cl_command_queue q = clCreateCommandQueue(mpscl_device_cl_context(test_device),
                                              mpscl_device_cl_device_id(test_device), 0, &err);
    mpscl_command_buffer *cb = NULL;
    forward f;

    ck_assert_int_eq(err, CL_SUCCESS);
    ck_assert_uint_eq(queue_refs(q), 1);
    ASSERT_OK(mpscl_command_buffer_create_with_queue(test_device, q, &cb));
    ck_assert_ptr_eq(mpscl_command_buffer_cl_queue(cb), q);
    ck_assert_ptr_eq(mpscl_command_buffer_device(cb), test_device);
    ck_assert_uint_eq(queue_refs(q), 2);
    /* Ours goes first; the buffer's reference keeps the queue for real work. */
    ck_assert_int_eq(clReleaseCommandQueue(q), CL_SUCCESS);
    ck_assert_uint_eq(queue_refs(q), 1);
    forward_setup(&f);
    ASSERT_OK(forward_encode(&f, cb));
    ASSERT_OK(mpscl_command_buffer_commit(cb));
    ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb));
    assert_result_correct(&f);
    forward_release(&f);
    mpscl_command_buffer_release(cb);
    ck_assert_int_eq(clReleaseMemObject(f.ybuf), CL_SUCCESS);
}
END_TEST

static void *
complete_later(void *user_event)
{
    struct timespec t = {0, 100 * 1000 * 1000};

    nanosleep(&t, NULL);
    clSetUserEventStatus((cl_event)user_event, CL_COMPLETE);
    return NULL;
}

/* Commands the caller puts on the buffer's queue before the commit are the buffer's work: a
 * non-blocking read of the result, enqueued after the kernels and held back by a user event that
 * another thread completes 100 ms later, is complete when wait returns. */
START_TEST(callers_commands_waited_for)
{
    for (int own_queue = 0; own_queue < 2; own_queue++) {
        cl_int err = CL_SUCCESS, status = CL_QUEUED;
        cl_command_queue q = NULL;
        mpscl_command_buffer *cb = NULL;
        float got[ROWS * COLS];
        cl_event read, gate;
        pthread_t thread;
        forward f;

        if (!own_queue) {
            q = clCreateCommandQueue(mpscl_device_cl_context(test_device),
                                     mpscl_device_cl_device_id(test_device), 0, &err);
            ck_assert_int_eq(err, CL_SUCCESS);
            ASSERT_OK(mpscl_command_buffer_create_with_queue(test_device, q, &cb));
            ck_assert_int_eq(clReleaseCommandQueue(q), CL_SUCCESS);
        } else {
            ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
        }
        forward_setup(&f);
        ASSERT_OK(forward_encode(&f, cb));
        q = mpscl_command_buffer_cl_queue(cb);
        gate = clCreateUserEvent(mpscl_device_cl_context(test_device), &err);
        ck_assert_int_eq(err, CL_SUCCESS);
        ck_assert_int_eq(clEnqueueReadBuffer(q, f.ybuf, CL_FALSE, 0, sizeof got, got, 1, &gate,
                                             &read),
                         CL_SUCCESS);
        ASSERT_OK(mpscl_command_buffer_commit(cb));
        ck_assert_int_eq(pthread_create(&thread, NULL, complete_later, gate), 0);
        ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb));
        /* Before the join: a wait that returned early would find the read still held back. */
        ck_assert_int_eq(clGetEventInfo(read, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status,
                                        &status, NULL),
                         CL_SUCCESS);
        ck_assert_int_eq(pthread_join(thread, NULL), 0);
        ck_assert_int_eq(clReleaseEvent(gate), CL_SUCCESS);
        ck_assert_int_eq(status, CL_COMPLETE);
        ck_assert_int_eq(clReleaseEvent(read), CL_SUCCESS);
        assert_result_correct(&f);
        forward_release(&f);
        mpscl_command_buffer_release(cb);
        ck_assert_int_eq(clReleaseMemObject(f.ybuf), CL_SUCCESS);
    }
}
END_TEST

START_TEST(user_queue_refused)
{
    cl_device_id id = mpscl_device_cl_device_id(test_device);
    cl_context ctx = mpscl_device_cl_context(test_device), other;
    mpscl_command_buffer *cb = (mpscl_command_buffer *)&cb;
    cl_command_queue q;
    cl_int err;

    /* Out of order: the passes of one encode depend on queue order. Not every device can
     * make one; then there is nothing to refuse. */
    q = clCreateCommandQueue(ctx, id, CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE, &err);
    if (err == CL_SUCCESS) {
        ASSERT_STATUS(mpscl_command_buffer_create_with_queue(test_device, q, &cb),
                      MPSCL_ERROR_INVALID_ARGUMENT);
        ck_assert_ptr_null(cb);
        ck_assert_msg(strstr(mpscl_last_error_message(), "order") != NULL, "message: %s",
                      mpscl_last_error_message());
        ck_assert_uint_eq(queue_refs(q), 1);
        ck_assert_int_eq(clReleaseCommandQueue(q), CL_SUCCESS);
    } else {
        ck_assert_int_eq(err, CL_INVALID_QUEUE_PROPERTIES);
    }

    /* Same device, another context. */
    other = clCreateContext(NULL, 1, &id, NULL, NULL, &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    q = clCreateCommandQueue(other, id, 0, &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    cb = (mpscl_command_buffer *)&cb;
    ASSERT_STATUS(mpscl_command_buffer_create_with_queue(test_device, q, &cb),
                  MPSCL_ERROR_DEVICE_MISMATCH);
    ck_assert_ptr_null(cb);
    ck_assert_msg(strstr(mpscl_last_error_message(), "context") != NULL, "message: %s",
                  mpscl_last_error_message());
    ck_assert_uint_eq(queue_refs(q), 1);
    ck_assert_int_eq(clReleaseCommandQueue(q), CL_SUCCESS);
    ck_assert_int_eq(clReleaseContext(other), CL_SUCCESS);
}
END_TEST

START_TEST(null_arguments)
{
    cl_int err;
    cl_command_queue q = clCreateCommandQueue(mpscl_device_cl_context(test_device),
                                              mpscl_device_cl_device_id(test_device), 0, &err);
    mpscl_command_buffer *cb = (mpscl_command_buffer *)&cb;

    ck_assert_int_eq(err, CL_SUCCESS);
    ASSERT_STATUS(mpscl_command_buffer_create(NULL, &cb), MPSCL_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_null(cb);
    ASSERT_STATUS(mpscl_command_buffer_create(test_device, NULL), MPSCL_ERROR_INVALID_ARGUMENT);
    cb = (mpscl_command_buffer *)&cb;
    ASSERT_STATUS(mpscl_command_buffer_create_with_queue(NULL, q, &cb),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_null(cb);
    cb = (mpscl_command_buffer *)&cb;
    ASSERT_STATUS(mpscl_command_buffer_create_with_queue(test_device, NULL, &cb),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_null(cb);
    ck_assert_msg(strstr(mpscl_last_error_message(), "queue") != NULL, "message: %s",
                  mpscl_last_error_message());
    ASSERT_STATUS(mpscl_command_buffer_create_with_queue(test_device, q, NULL),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ck_assert_uint_eq(queue_refs(q), 1);
    ASSERT_STATUS(mpscl_command_buffer_commit(NULL), MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_command_buffer_wait_until_completed(NULL), MPSCL_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_null(mpscl_command_buffer_cl_queue(NULL));
    ck_assert_ptr_null(mpscl_command_buffer_device(NULL));
    ck_assert_ptr_null(mpscl_command_buffer_retain(NULL));
    mpscl_command_buffer_release(NULL);
    ck_assert_int_eq(clReleaseCommandQueue(q), CL_SUCCESS);
}
END_TEST

START_TEST(encode_after_commit)
{
    mpscl_command_buffer *cb = NULL;
    forward f;

    forward_setup(&f);
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    ASSERT_OK(mpscl_command_buffer_commit(cb));
    ASSERT_STATUS(forward_encode(&f, cb), MPSCL_ERROR_INVALID_STATE);
    ck_assert_msg(strstr(mpscl_last_error_message(), "commit") != NULL, "message: %s",
                  mpscl_last_error_message());
    ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb));
    ASSERT_STATUS(forward_encode(&f, cb), MPSCL_ERROR_INVALID_STATE);
    /* Refused encodes hold nothing and write nothing. */
    ck_assert_uint_eq(mem_refs(f.ybuf), 2);
    assert_result_untouched(f.ybuf);
    mpscl_command_buffer_release(cb);
    forward_release(&f);
    ck_assert_int_eq(clReleaseMemObject(f.ybuf), CL_SUCCESS);
}
END_TEST

START_TEST(encoded_objects_kept_alive)
{
    mpscl_command_buffer *cb = NULL;
    mpscl_command_buffer_state st;
    forward f;

    forward_setup(&f);
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    ASSERT_OK(forward_encode(&f, cb));
    ck_assert_int_eq(mpscl_command_buffer_status(cb), MPSCL_COMMAND_BUFFER_NOT_COMMITTED);
    /* Every mpscl reference of ours goes before the work is even flushed: the buffer's own
     * references must carry the kernel, matrices and vectors to completion (valgrind or ASan
     * turns a missing one into a use after free). */
    forward_release(&f);
    ck_assert_uint_ge(mem_refs(f.ybuf), 2);
    ASSERT_OK(mpscl_command_buffer_commit(cb));
    st = mpscl_command_buffer_status(cb);
    ck_assert_msg(st == MPSCL_COMMAND_BUFFER_COMMITTED || st == MPSCL_COMMAND_BUFFER_COMPLETED,
                  "status after commit: %d", (int)st);
    ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb));
    ck_assert_int_eq(mpscl_command_buffer_status(cb), MPSCL_COMMAND_BUFFER_COMPLETED);
    /* Our own queue profiles: the GPU times bracket the work. */
    ck_assert_double_gt(mpscl_command_buffer_gpu_start_time(cb), 0.0);
    ck_assert_double_ge(mpscl_command_buffer_gpu_end_time(cb),
                        mpscl_command_buffer_gpu_start_time(cb));
    /* Completion lets them go: only our cl_mem reference is left on the result's buffer. */
    ck_assert_uint_eq(mem_refs(f.ybuf), 1);
    assert_result_correct(&f);
    ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb));
    mpscl_command_buffer_release(cb);
    ck_assert_int_eq(clReleaseMemObject(f.ybuf), CL_SUCCESS);
}
END_TEST

/* Released without a commit: the encoded work is not discarded (OpenCL cannot withdraw it), it
 * runs to completion before the release returns, writes its result, and lets go of every object
 * it held (command_buffer.h). */
START_TEST(release_uncommitted_runs_the_work)
{
    mpscl_command_buffer *cb = NULL;
    forward f;

    forward_setup(&f);
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    ASSERT_OK(forward_encode(&f, cb));
    forward_release(&f);
    mpscl_command_buffer_release(cb);
    ck_assert_uint_eq(mem_refs(f.ybuf), 1);
    assert_result_correct(&f);
    ck_assert_int_eq(clReleaseMemObject(f.ybuf), CL_SUCCESS);
}
END_TEST

/* An untimed buffer gives the same answer and no GPU times; its queue goes back to its own pool,
 * so the next default buffer still times its work. */
START_TEST(untimed_buffer)
{
    mpscl_command_buffer *cb = NULL;
    forward f;

    forward_setup(&f);
    ASSERT_OK(mpscl_command_buffer_create_with_options(
        test_device, MPSCL_COMMAND_BUFFER_OPTION_NO_GPU_TIMES, &cb));
    ASSERT_OK(forward_encode(&f, cb));
    ASSERT_OK(mpscl_command_buffer_commit(cb));
    ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb));
    ck_assert_int_eq(mpscl_command_buffer_status(cb), MPSCL_COMMAND_BUFFER_COMPLETED);
    ck_assert_double_eq(mpscl_command_buffer_gpu_start_time(cb), 0.0);
    ck_assert_double_eq(mpscl_command_buffer_gpu_end_time(cb), 0.0);
    assert_result_correct(&f);
    mpscl_command_buffer_release(cb);

    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    ASSERT_OK(forward_encode(&f, cb));
    ASSERT_OK(mpscl_command_buffer_commit(cb));
    ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb));
    ck_assert_double_gt(mpscl_command_buffer_gpu_start_time(cb), 0.0);
    mpscl_command_buffer_release(cb);
    forward_release(&f);
    ck_assert_int_eq(clReleaseMemObject(f.ybuf), CL_SUCCESS);
}
END_TEST

START_TEST(unknown_option)
{
    mpscl_command_buffer *cb = (mpscl_command_buffer *)&cb;

    ASSERT_STATUS(mpscl_command_buffer_create_with_options(test_device, 2, &cb),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_null(cb);
    ck_assert_ptr_nonnull(strstr(mpscl_last_error_message(), "unknown options 0x2"));
    ASSERT_STATUS(mpscl_command_buffer_create_with_options(NULL, 0, &cb),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_command_buffer_create_with_options(test_device, 0, NULL),
                  MPSCL_ERROR_INVALID_ARGUMENT);
}
END_TEST

static Suite *
command_buffer_suite(void)
{
    Suite *s = suite_create("command_buffer");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, test_device_setup, test_device_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, empty_buffer);
    tcase_add_test(tc, commit_twice);
    tcase_add_test(tc, wait_uncommitted);
    tcase_add_test(tc, own_queue_getters);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, test_device_setup, test_device_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, user_queue_refused);
    tcase_add_test(tc, null_arguments);
    tcase_add_test(tc, unknown_option);
    suite_add_tcase(s, tc);

    /* These build the forward program: allow for a cold compiler cache. */
    tc = tcase_create("encode");
    tcase_add_checked_fixture(tc, test_device_setup, test_device_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, user_queue);
    tcase_add_test(tc, encode_after_commit);
    tcase_add_test(tc, release_uncommitted_runs_the_work);
    tcase_add_test(tc, encoded_objects_kept_alive);
    tcase_add_test(tc, untimed_buffer);
    tcase_add_test(tc, callers_commands_waited_for);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return test_run_suite(command_buffer_suite());
}
