/* tests/check_driver.c: driver behaviour the library must cope with, made up through the OpenCL
 * interposer (tests/cl_fault.h): a device name longer than any fixed buffer; a compiler held
 * mid-build, so that other calls and other builds overlap it; fp64 extensions the kernels cannot
 * use. */
#define _POSIX_C_SOURCE 200809L   /* setenv, clock_gettime, nanosleep */
#include <ctype.h>
#include <float.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cl_fault.h"
#include "tools/ref.h"
#include "util.h"

/* MPSCL_DEVICE as the run started, given back after each test (CK_FORK=no shares a process). */
static char *saved_device;
static int had_device;

static void
setup(void)
{
    const char *v = getenv("MPSCL_DEVICE");

    had_device = v != NULL;
    saved_device = v != NULL ? strdup(v) : NULL;
    ck_assert(!had_device || saved_device != NULL);
    ck_assert_int_eq(unsetenv("MPSCL_DEVICE"), 0);
    /* Builds from source every time: a warm disk cache would skip what the tests watch. */
    ck_assert_int_eq(setenv("MPSCL_CACHE_DIR", "off", 1), 0);
    ck_assert_int_eq(cl_fault_live(), 0);
}

static void
teardown(void)
{
    cl_fault_release_builds();
    cl_fault_device_string(CL_DEVICE_NAME, NULL);
    cl_fault_device_string(CL_DEVICE_EXTENSIONS, NULL);
    if (had_device)
        ck_assert_int_eq(setenv("MPSCL_DEVICE", saved_device, 1), 0);
    else
        ck_assert_int_eq(unsetenv("MPSCL_DEVICE"), 0);
    free(saved_device);
    saved_device = NULL;
}

/* ---- a long device name ---- */

/* Only the whole name holds it: past the 255th character for every length tested. */
static const char name_tail[] = "Tail-Of-A-Long-Name 7f3a";

/* A name of len characters (len >= sizeof name_tail), malloc'd: letters, then name_tail. */
static char *
long_name(size_t len)
{
    char *s = malloc(len + 1);

    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < len; i++)
        s[i] = (char)('a' + i % 26);
    memcpy(s + len - (sizeof name_tail - 1), name_tail, sizeof name_tail - 1);
    s[len] = '\0';
    return s;
}

static const size_t name_lengths[] = {255, 256, 300, 5000};

/* Device creation keeps the whole name, however long; the default choice and MPSCL_DEVICE's
 * name matching both see all of it. */
START_TEST(long_device_name)
{
    size_t len = name_lengths[_i];
    char *name = long_name(len), want[sizeof name_tail];
    mpscl_device *d = NULL;

    cl_fault_device_string(CL_DEVICE_NAME, name);
    ASSERT_OK(mpscl_device_create_default(&d));
    ck_assert_uint_eq(strlen(mpscl_device_name(d)), len);
    ck_assert_str_eq(mpscl_device_name(d), name);
    mpscl_device_release(d);

    /* The tail alone, its case flipped: found only by reading the name to its end. */
    for (size_t i = 0; i < sizeof name_tail; i++) {
        unsigned char c = (unsigned char)name_tail[i];
        want[i] = (char)(isupper(c) ? tolower(c) : toupper(c));
    }
    ck_assert_int_eq(setenv("MPSCL_DEVICE", want, 1), 0);
    d = NULL;
    ASSERT_OK(mpscl_device_create_default(&d));
    ck_assert_str_eq(mpscl_device_name(d), name);
    mpscl_device_release(d);
    ck_assert_int_eq(cl_fault_live(), 0);
    free(name);
}
END_TEST

/* ---- builds that overlap other work ---- */

/* How long a held build waits at most: far longer than the calls a test makes meanwhile, so
 * that only a call waiting for the build itself sees the gate time out. */
#define HOLD_MS 5000L

enum { ROWS = 6, COLS = 3 };
static const float host_x[ROWS * COLS] = {1, -2, 3, 4, 5, -6, -7, 8, 9, 10, -11, 12,
                                          13, 14, -15, -16, 17, 18};

/* One forward with compute_statistics through a kernel object of its own, as a thread of the
 * caller's would run it; the program its kernels came from is kept for comparison. */
typedef struct forward_job {
    mpscl_device *d;
    mpscl_status status;
    char message[256];
    cl_program program;
    float y[ROWS * COLS], mean[COLS], var[COLS];
} forward_job;

static mpscl_status
forward_run(forward_job *j)
{
    mpscl_matrix_descriptor md = mpscl_matrix_descriptor_make(ROWS, COLS, COLS * sizeof(float),
                                                              MPSCL_DATA_TYPE_FLOAT32);
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make(COLS, MPSCL_DATA_TYPE_FLOAT32);
    mpscl_matrix_batch_normalization *k = NULL;
    mpscl_command_buffer *cb = NULL;
    mpscl_matrix *x = NULL, *y = NULL;
    mpscl_vector *mean = NULL, *var = NULL;
    mpscl_status s;

    if ((s = mpscl_matrix_batch_normalization_create(j->d, &k)) == MPSCL_SUCCESS &&
        (s = mpscl_matrix_batch_normalization_set_compute_statistics(k, 1)) == MPSCL_SUCCESS &&
        (s = mpscl_command_buffer_create(j->d, &cb)) == MPSCL_SUCCESS &&
        (s = mpscl_matrix_create(j->d, &md, &x)) == MPSCL_SUCCESS &&
        (s = mpscl_matrix_create(j->d, &md, &y)) == MPSCL_SUCCESS &&
        (s = mpscl_vector_create(j->d, &vd, &mean)) == MPSCL_SUCCESS &&
        (s = mpscl_vector_create(j->d, &vd, &var)) == MPSCL_SUCCESS &&
        (s = mpscl_matrix_write(x, host_x, COLS * sizeof(float))) == MPSCL_SUCCESS &&
        (s = mpscl_matrix_batch_normalization_encode(k, cb, x, mean, var, NULL, NULL, y)) ==
            MPSCL_SUCCESS &&
        (s = mpscl_command_buffer_commit(cb)) == MPSCL_SUCCESS &&
        (s = mpscl_command_buffer_wait_until_completed(cb)) == MPSCL_SUCCESS &&
        (s = mpscl_matrix_read(y, j->y, COLS * sizeof(float))) == MPSCL_SUCCESS &&
        (s = mpscl_vector_read(mean, j->mean)) == MPSCL_SUCCESS)
        s = mpscl_vector_read(var, j->var);
    mpscl_vector_release(var);
    mpscl_vector_release(mean);
    mpscl_matrix_release(y);
    mpscl_matrix_release(x);
    mpscl_command_buffer_release(cb);
    mpscl_matrix_batch_normalization_release(k);
    return s;
}

static void *
forward_thread(void *arg)
{
    forward_job *j = arg;

    j->status = forward_run(j);
    if (j->status != MPSCL_SUCCESS)
        snprintf(j->message, sizeof j->message, "%s", mpscl_last_error_message());
    j->program = cl_fault_kernel_program();
    return NULL;
}

/* The job succeeded and its results match the fp64 reference. */
static void
check_forward(const forward_job *j, const char *who)
{
    double mean[COLS], var[COLS], y[ROWS * COLS];
    ref_view xv = {host_x, COLS};

    ck_assert_msg(j->status == MPSCL_SUCCESS, "%s: %s: %s", who, mpscl_status_string(j->status),
                  j->message);
    ck_assert_ptr_nonnull(j->program);
    ref_bn_statistics(ROWS, COLS, xv, mean, var);
    ck_assert_double_le(ref_rel_l2_vec(COLS, j->mean, mean), 1e-6);
    ck_assert_double_le(ref_rel_l2_vec(COLS, j->var, var), 1e-6);
    ref_bn_forward(ROWS, COLS, xv, j->mean, j->var, NULL, NULL, FLT_MIN, NULL, y);
    ck_assert_double_le(ref_rel_l2(ROWS, COLS, (ref_view){j->y, COLS}, y), 1e-6);
}

static double
now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

/* Waits until n builds are held at the gate. */
static void
wait_held(int n)
{
    double start = now_ms();

    while (cl_fault_builds_held() < n) {
        ck_assert_msg(now_ms() - start < 30000, "no build reached the gate in 30 s");
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
}

/* While one thread's first encode compiles its program, another thread's calls that take the
 * device's lock (a command buffer from the queue pool, a blocking upload through the transfer
 * queue, the program count) finish at once: the build holds no lock they need. */
START_TEST(build_leaves_device_free)
{
    mpscl_matrix_descriptor md = mpscl_matrix_descriptor_make(ROWS, COLS, COLS * sizeof(float),
                                                              MPSCL_DATA_TYPE_FLOAT32);
    forward_job job = {0};
    pthread_t t;
    mpscl_command_buffer *cb = NULL;
    mpscl_matrix *m = NULL;
    mpscl_status cb_status, write_status = MPSCL_ERROR_INVALID_ARGUMENT;
    size_t built_meanwhile;
    int held;
    double start, took;

    ASSERT_OK(mpscl_device_create_default(&job.d));
    cl_fault_hold_builds(0, HOLD_MS);
    ck_assert_int_eq(pthread_create(&t, NULL, forward_thread, &job), 0);
    wait_held(1);
    /* Statuses are checked after the join: the thread must not outlive a failed assertion. */
    start = now_ms();
    cb_status = mpscl_command_buffer_create(job.d, &cb);
    if (mpscl_matrix_create(job.d, &md, &m) == MPSCL_SUCCESS)
        write_status = mpscl_matrix_write(m, host_x, COLS * sizeof(float));
    built_meanwhile = mpscl_device_programs_built(job.d);
    took = now_ms() - start;
    held = cl_fault_builds_held();
    cl_fault_release_builds();
    ck_assert_int_eq(pthread_join(t, NULL), 0);

    ck_assert_msg(held == 1 && cl_fault_builds_timed_out() == 0,
                  "the calls waited for the held build (%.0f ms, gate timeout %ld ms)", took,
                  HOLD_MS);
    ASSERT_OK(cb_status);
    ASSERT_OK(write_status);
    ck_assert_uint_eq(built_meanwhile, 0);
    check_forward(&job, "the building thread");
    ck_assert_uint_eq(mpscl_device_programs_built(job.d), 1);
    mpscl_matrix_release(m);
    mpscl_command_buffer_release(cb);
    mpscl_device_release(job.d);
    ck_assert_int_eq(cl_fault_live(), 0);
}
END_TEST

/* Two threads whose first encodes need the same program build it at the same moment (the gate
 * lets neither go on before both are compiling): the device keeps one program, both threads'
 * kernels come from it, the other copy is released, and a later kernel object builds nothing. */
START_TEST(concurrent_builds_keep_one)
{
    forward_job jobs[2] = {{0}}, later = {0};
    pthread_t t[2];
    mpscl_device *d = NULL;

    ASSERT_OK(mpscl_device_create_default(&d));
    cl_fault_hold_builds(2, HOLD_MS);
    for (size_t i = 0; i < 2; i++) {
        jobs[i].d = d;
        ck_assert_int_eq(pthread_create(&t[i], NULL, forward_thread, &jobs[i]), 0);
    }
    for (size_t i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
    ck_assert_msg(cl_fault_builds_timed_out() == 0,
                  "the two builds did not overlap: one waited for the other");
    check_forward(&jobs[0], "thread 0");
    check_forward(&jobs[1], "thread 1");
    ck_assert_ptr_eq(jobs[0].program, jobs[1].program);
    ck_assert_uint_eq(mpscl_device_programs_built(d), 1);
    ck_assert_uint_eq(mpscl_device_programs_loaded(d), 0);

    later.d = d;
    forward_thread(&later);
    check_forward(&later, "a later kernel object");
    ck_assert_ptr_eq(later.program, jobs[0].program);
    ck_assert_uint_eq(mpscl_device_programs_built(d), 1);
    mpscl_device_release(d);
    ck_assert_msg(cl_fault_live() == 0, "%ld OpenCL objects left: the dropped program leaked?",
                  cl_fault_live());
}
END_TEST

/* ---- fp64 extensions ---- */

/* The default device's real extension list with cl_khr_fp64 renamed cl_amd_fp64 (the same
 * length), or with cl_amd_fp64 added where it has no cl_khr_fp64; malloc'd. */
static char *
amd_fp64_extensions(void)
{
    mpscl_device *d = NULL;
    size_t n = 0;
    char *ext, *p;

    ASSERT_OK(mpscl_device_create_default(&d));
    /* The test's own queries reach the driver, not the replaced strings. */
    ck_assert_int_eq(clGetDeviceInfo(mpscl_device_cl_device_id(d), CL_DEVICE_EXTENSIONS, 0, NULL,
                                     &n), CL_SUCCESS);
    ext = calloc(1, n + sizeof " cl_amd_fp64");
    ck_assert_ptr_nonnull(ext);
    ck_assert_int_eq(clGetDeviceInfo(mpscl_device_cl_device_id(d), CL_DEVICE_EXTENSIONS, n, ext,
                                     NULL), CL_SUCCESS);
    mpscl_device_release(d);
    if ((p = strstr(ext, "cl_khr_fp64")) == NULL)
        strcat(ext, " cl_amd_fp64");
    for (; p != NULL; p = strstr(p, "cl_khr_fp64"))
        memcpy(p, "cl_amd", 6);
    return ext;
}

/* float64 encodes on d are refused before anything is built or enqueued. */
static void
check_float64_refused(mpscl_device *d)
{
    mpscl_matrix_descriptor md = mpscl_matrix_descriptor_make(4, 4, 4 * sizeof(double),
                                                              MPSCL_DATA_TYPE_FLOAT64);
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make(4, MPSCL_DATA_TYPE_FLOAT32);
    mpscl_matrix_batch_normalization *k = NULL;
    mpscl_matrix_batch_normalization_gradient *g = NULL;
    mpscl_command_buffer *cb = NULL;
    mpscl_matrix *x = NULL, *y = NULL;
    mpscl_vector *mean = NULL, *var = NULL;

    ASSERT_OK(mpscl_matrix_batch_normalization_create(d, &k));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_create(d, &g));
    ASSERT_OK(mpscl_command_buffer_create(d, &cb));
    ASSERT_OK(mpscl_matrix_create(d, &md, &x));
    ASSERT_OK(mpscl_matrix_create(d, &md, &y));
    ASSERT_OK(mpscl_vector_create(d, &vd, &mean));
    ASSERT_OK(mpscl_vector_create(d, &vd, &var));
    ASSERT_STATUS(mpscl_matrix_batch_normalization_encode(k, cb, x, mean, var, NULL, NULL, y),
                  MPSCL_ERROR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(mpscl_last_error_message(), "float64"));
    ASSERT_STATUS(mpscl_matrix_batch_normalization_gradient_encode(g, cb, x, x, mean, var, NULL,
                                                                   NULL, y, NULL, NULL),
                  MPSCL_ERROR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(mpscl_last_error_message(), "float64"));
    ASSERT_OK(mpscl_command_buffer_commit(cb));
    ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb));
    ck_assert_uint_eq(mpscl_device_programs_built(d), 0);
    mpscl_vector_release(var);
    mpscl_vector_release(mean);
    mpscl_matrix_release(y);
    mpscl_matrix_release(x);
    mpscl_command_buffer_release(cb);
    mpscl_matrix_batch_normalization_gradient_release(g);
    mpscl_matrix_batch_normalization_release(k);
}

/* fp64 support under a replaced extension list. */
static int
fp64_with(const char *extensions)
{
    mpscl_device *d = NULL;
    int yes;

    cl_fault_device_string(CL_DEVICE_EXTENSIONS, extensions);
    ASSERT_OK(mpscl_device_create_default(&d));
    yes = mpscl_device_supports_data_type(d, MPSCL_DATA_TYPE_FLOAT64);
    ck_assert_int_eq(mpscl_device_supports_data_type(d, MPSCL_DATA_TYPE_FLOAT32), 1);
    if (!yes)
        check_float64_refused(d);
    mpscl_device_release(d);
    return yes;
}

/* The kernels enable cl_khr_fp64 and nothing else: a device that reports only AMD's
 * cl_amd_fp64 has no float64, and its float64 encodes are refused; cl_khr_fp64 alone is enough;
 * a longer name that starts with it is another extension. */
START_TEST(amd_fp64_alone_is_no_fp64)
{
    char *ext = amd_fp64_extensions();

    ck_assert_int_eq(unsetenv("MPSCL_DISABLE_FP64"), 0);
    ck_assert_msg(!fp64_with(ext), "float64 claimed with \"%s\"", ext);
    ck_assert_int_eq(fp64_with("cl_amd_fp64"), 0);
    ck_assert_int_eq(fp64_with("cl_khr_fp64"), 1);
    ck_assert_int_eq(fp64_with("cl_khr_int64_base_atomics cl_khr_fp64 cl_khr_fp16"), 1);
    ck_assert_int_eq(fp64_with("cl_khr_fp64_extra cl_amd_fp64"), 0);
    ck_assert_int_eq(cl_fault_live(), 0);
    free(ext);
}
END_TEST

static Suite *
driver_suite(void)
{
    Suite *s = suite_create("driver");
    TCase *names = tcase_create("names");
    TCase *builds = tcase_create("builds");
    TCase *fp64 = tcase_create("fp64");

    tcase_add_checked_fixture(names, setup, teardown);
    tcase_set_timeout(names, 60);
    tcase_add_loop_test(names, long_device_name, 0,
                        (int)(sizeof name_lengths / sizeof name_lengths[0]));
    suite_add_tcase(s, names);

    tcase_add_checked_fixture(builds, setup, teardown);
    /* A cold compile on a slow compiler (PoCL on a small CPU, or under valgrind). */
    tcase_set_timeout(builds, 120);
    tcase_add_test(builds, build_leaves_device_free);
    tcase_add_test(builds, concurrent_builds_keep_one);
    suite_add_tcase(s, builds);

    tcase_add_checked_fixture(fp64, setup, teardown);
    tcase_set_timeout(fp64, 60);
    tcase_add_test(fp64, amd_fp64_alone_is_no_fp64);
    suite_add_tcase(s, fp64);
    return s;
}

int
main(void)
{
    return test_run_suite(driver_suite());
}
