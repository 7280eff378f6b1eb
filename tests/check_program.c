/* tests/check_program.c: the device's program table under concurrency. Eight threads encode a
 * gradient at the same moment, each with its own kernel object and command buffer, on a device
 * that has built nothing yet: exactly one program must be built and every result must be right.
 * A forward then adds exactly one program, and a second forward none. */
#define _POSIX_C_SOURCE 200809L

#include <float.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/ref.h"
#include "util.h"

#define THREADS 8
#define MAX_N 12
#define MAX_C 7

typedef struct job {
    size_t id, n, c;
    pthread_barrier_t *start;
    float dy[MAX_N * MAX_C], x[MAX_N * MAX_C];
    float mean[MAX_C], var[MAX_C], gamma[MAX_C], beta[MAX_C];
    /* Filled by the thread: the first failure (call, status, message) or the results. */
    const char *failed_call;
    mpscl_status status;
    char message[256];
    float dx[MAX_N * MAX_C], dgamma[MAX_C], dbeta[MAX_C];
} job;

/* Shapes differ per thread (N = 5..12, C in 2..7) so that a result computed with another
 * thread's operands or sizes cannot pass. Per-column offsets and scales, and statistics of the
 * data itself, as training would use. */
static void
job_init(job *j, size_t id, pthread_barrier_t *start)
{
    uint64_t rng = 7000 + id;
    double mean[MAX_C], var[MAX_C];
    ref_view xv;

    memset(j, 0, sizeof *j);
    j->id = id;
    j->n = 5 + id;
    /* 2, 3, 5, 6, 7: never a multiple of 4, which would select the vector-load program. */
    j->c = (size_t[]){2, 3, 5, 6, 7}[id % 5];
    j->start = start;
    for (size_t i = 0; i < j->n; i++)
        for (size_t k = 0; k < j->c; k++) {
            j->x[i * j->c + k] = (float)(k + 1) * test_rng_uniform(&rng, -1, 1) + (float)k - 1;
            j->dy[i * j->c + k] = test_rng_uniform(&rng, -1, 1);
        }
    xv.p = j->x;
    xv.ld = j->c;
    ref_bn_statistics(j->n, j->c, xv, mean, var);
    for (size_t k = 0; k < j->c; k++) {
        j->mean[k] = (float)mean[k];
        j->var[k] = (float)var[k];
        j->gamma[k] = test_rng_uniform(&rng, 0.5f, 2);
        j->beta[k] = test_rng_uniform(&rng, -1, 1);
    }
}

/* Records the first failure only; later calls are skipped once one failed. */
#define TRY(j, call)                                                                          \
    do {                                                                                      \
        if ((j)->failed_call == NULL) {                                                       \
            mpscl_status s_ = (call);                                                         \
            if (s_ != MPSCL_SUCCESS) {                                                        \
                (j)->failed_call = #call;                                                     \
                (j)->status = s_;                                                             \
                snprintf((j)->message, sizeof (j)->message, "%s", mpscl_last_error_message()); \
            }                                                                                 \
        }                                                                                     \
    } while (0)

static void *
run_job(void *arg)
{
    job *j = arg;
    size_t rb = j->c * sizeof(float);
    mpscl_matrix_descriptor md = mpscl_matrix_descriptor_make(j->n, j->c, rb,
                                                              MPSCL_DATA_TYPE_FLOAT32);
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make(j->c, MPSCL_DATA_TYPE_FLOAT32);
    mpscl_matrix_batch_normalization_gradient *k = NULL;
    mpscl_command_buffer *cb = NULL;
    mpscl_matrix *dy = NULL, *x = NULL, *dx = NULL;
    mpscl_vector *mean = NULL, *var = NULL, *gamma = NULL, *beta = NULL, *dg = NULL, *db = NULL;

    TRY(j, mpscl_matrix_batch_normalization_gradient_create(test_device, &k));
    TRY(j, mpscl_command_buffer_create(test_device, &cb));
    TRY(j, mpscl_matrix_create(test_device, &md, &dy));
    TRY(j, mpscl_matrix_create(test_device, &md, &x));
    TRY(j, mpscl_matrix_create(test_device, &md, &dx));
    TRY(j, mpscl_vector_create(test_device, &vd, &mean));
    TRY(j, mpscl_vector_create(test_device, &vd, &var));
    TRY(j, mpscl_vector_create(test_device, &vd, &gamma));
    TRY(j, mpscl_vector_create(test_device, &vd, &beta));
    TRY(j, mpscl_vector_create(test_device, &vd, &dg));
    TRY(j, mpscl_vector_create(test_device, &vd, &db));
    TRY(j, mpscl_matrix_write(dy, j->dy, rb));
    TRY(j, mpscl_matrix_write(x, j->x, rb));
    TRY(j, mpscl_vector_write(mean, j->mean));
    TRY(j, mpscl_vector_write(var, j->var));
    TRY(j, mpscl_vector_write(gamma, j->gamma));
    TRY(j, mpscl_vector_write(beta, j->beta));
    /* Every thread reaches the barrier, failed or not, or the others would wait forever. */
    pthread_barrier_wait(j->start);
    TRY(j, mpscl_matrix_batch_normalization_gradient_encode(k, cb, dy, x, mean, var, gamma, beta,
                                                            dx, dg, db));
    TRY(j, mpscl_command_buffer_commit(cb));
    TRY(j, mpscl_command_buffer_wait_until_completed(cb));
    TRY(j, mpscl_matrix_read(dx, j->dx, rb));
    TRY(j, mpscl_vector_read(dg, j->dgamma));
    TRY(j, mpscl_vector_read(db, j->dbeta));
    mpscl_command_buffer_release(cb);
    mpscl_matrix_batch_normalization_gradient_release(k);
    mpscl_matrix_release(dy);
    mpscl_matrix_release(x);
    mpscl_matrix_release(dx);
    mpscl_vector_release(mean);
    mpscl_vector_release(var);
    mpscl_vector_release(gamma);
    mpscl_vector_release(beta);
    mpscl_vector_release(dg);
    mpscl_vector_release(db);
    return NULL;
}

static void
check_job(const job *j)
{
    double dx[MAX_N * MAX_C], dgamma[MAX_C], dbeta[MAX_C], e;
    ref_view dyv = {j->dy, j->c}, xv = {j->x, j->c}, got = {j->dx, j->c};
    /* Each output is a sum over N rows (error up to N eps) followed by a few roundings and an
     * rsqrt that OpenCL 1.2 allows 2 ulp: 2 (N + 8) eps. PoCL lands near 1 eps. */
    double bound = 2.0 * (double)(j->n + 8) * FLT_EPSILON;

    ck_assert_msg(j->failed_call == NULL, "thread %zu: %s returned %s: %s", j->id,
                  j->failed_call != NULL ? j->failed_call : "", mpscl_status_string(j->status),
                  j->message);
    ref_bn_gradient(j->n, j->c, dyv, xv, j->mean, j->var, j->gamma, j->beta, FLT_MIN, NULL, dx,
                    dgamma, dbeta);
    e = ref_rel_l2(j->n, j->c, got, dx);
    ck_assert_msg(e <= bound, "thread %zu (%zux%zu): dx error %g > %g", j->id, j->n, j->c, e,
                  bound);
    e = ref_rel_l2_vec(j->c, j->dgamma, dgamma);
    ck_assert_msg(e <= bound, "thread %zu (%zux%zu): dgamma error %g > %g", j->id, j->n, j->c, e,
                  bound);
    e = ref_rel_l2_vec(j->c, j->dbeta, dbeta);
    ck_assert_msg(e <= bound, "thread %zu (%zux%zu): dbeta error %g > %g", j->id, j->n, j->c, e,
                  bound);
}

/* One forward (compute_statistics on) through a kernel object of its own. */
static void
forward_once(void)
{
    mpscl_matrix_descriptor md = mpscl_matrix_descriptor_make(4, 3, 12, MPSCL_DATA_TYPE_FLOAT32);
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make(3, MPSCL_DATA_TYPE_FLOAT32);
    float xs[12] = {1, 2, 3, -4, 5, 6, 7, -8, 9, 10, 11, -12};
    mpscl_matrix_batch_normalization *k = NULL;
    mpscl_command_buffer *cb = NULL;
    mpscl_matrix *x = NULL, *y = NULL;
    mpscl_vector *mean = NULL, *var = NULL;

    ASSERT_OK(mpscl_matrix_batch_normalization_create(test_device, &k));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_compute_statistics(k, 1));
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    ASSERT_OK(mpscl_matrix_create(test_device, &md, &x));
    ASSERT_OK(mpscl_matrix_create(test_device, &md, &y));
    ASSERT_OK(mpscl_vector_create(test_device, &vd, &mean));
    ASSERT_OK(mpscl_vector_create(test_device, &vd, &var));
    ASSERT_OK(mpscl_matrix_write(x, xs, 12));
    ASSERT_OK(mpscl_matrix_batch_normalization_encode(k, cb, x, mean, var, NULL, NULL, y));
    ASSERT_OK(mpscl_command_buffer_commit(cb));
    ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb));
    mpscl_command_buffer_release(cb);
    mpscl_matrix_batch_normalization_release(k);
    mpscl_matrix_release(x);
    mpscl_matrix_release(y);
    mpscl_vector_release(mean);
    mpscl_vector_release(var);
}

START_TEST(concurrent_first_use)
{
    static job jobs[THREADS];
    pthread_t threads[THREADS];
    pthread_barrier_t start;

    /* The fixture's device is new: nothing built yet, so every thread's encode asks for the
     * gradient program while it is missing. */
    ck_assert_uint_eq(mpscl_device_programs_built(test_device), 0);
    ck_assert_int_eq(pthread_barrier_init(&start, NULL, THREADS), 0);
    for (size_t i = 0; i < THREADS; i++) {
        job_init(&jobs[i], i, &start);
        ck_assert_int_eq(pthread_create(&threads[i], NULL, run_job, &jobs[i]), 0);
    }
    for (size_t i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_join(threads[i], NULL), 0);
    ck_assert_int_eq(pthread_barrier_destroy(&start), 0);
    for (size_t i = 0; i < THREADS; i++)
        check_job(&jobs[i]);
    ck_assert_uint_eq(mpscl_device_programs_built(test_device), 1);

    /* Another family is another program, built once, then found by the next kernel object. */
    forward_once();
    ck_assert_uint_eq(mpscl_device_programs_built(test_device), 2);
    forward_once();
    ck_assert_uint_eq(mpscl_device_programs_built(test_device), 2);
    ck_assert_uint_eq(mpscl_device_programs_loaded(test_device), 0);
}
END_TEST

/* The counts above are of source builds: with the disk cache on, a warm cache would turn them
 * into loads (tests/check_program_cache.c covers those). Set before the device exists. */
static void
uncached_device_setup(void)
{
    ck_assert_int_eq(setenv("MPSCL_CACHE_DIR", "off", 1), 0);
    test_device_setup();
}

static Suite *
program_suite(void)
{
    Suite *s = suite_create("program");
    TCase *tc = tcase_create("concurrency");

    tcase_add_checked_fixture(tc, uncached_device_setup, test_device_teardown);
    /* Two cold program builds on a slow compiler (PoCL on a small CPU, or under valgrind). */
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, concurrent_first_use);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return test_run_suite(program_suite());
}
