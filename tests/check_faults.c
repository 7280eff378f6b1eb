/* Injected OpenCL failures (tests/cl_fault.h): a scene of device creation, matrix and vector
 * creation and upload, a forward with compute_statistics and a gradient (encode, commit, wait)
 * is run cleanly to count its OpenCL calls, then again with call k failing, for every k and
 * every error code, with the disk program cache off and on. Each faulted run must
 *   - return the status the failed call maps to (below), with mpscl_last_cl_error() = the code,
 *     or succeed only when the failed call is one the library may ignore (tolerated(), below),
 *   - not crash (fork mode turns a crash into a failed test),
 * and then the same objects, disarmed, must finish the scene with outputs bitwise equal to the
 * clean run's (which is checked against the fp64 reference), and releasing everything must
 * release every OpenCL object the library made (cl_fault_live). A second scene walks the copies
 * encoded into a command buffer and a matrix over host memory the same way. Host memory leaks on these paths
 * are found by the sanitizer build in CI and by valgrind (README). */
#define _POSIX_C_SOURCE 200809L   /* setenv */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_fault.h"
#include "tools/ref.h"
#include "util.h"

/* 70 rows: three row chunks on PoCL, so pass 2 of both kernels sums several partials. */
enum { N = 70, C = 5, NM = 4, NV = 6 };
enum { X, DY, Y, DX };
enum { MEAN, VAR, GAMMA, BETA, DGAMMA, DBETA };
static const float eps = 1e-3f;

typedef struct scene {
    mpscl_device *d;
    mpscl_matrix *m[NM];
    mpscl_vector *v[NV];
    int m_written[NM], v_written[NV];
    mpscl_matrix_batch_normalization *fwd;
    mpscl_matrix_batch_normalization_gradient *grad;
    int fwd_done, grad_done;
} scene;

/* Everything the scene writes, read back. */
typedef struct outputs {
    float y[N * C], dx[N * C], mean[C], var[C], dgamma[C], dbeta[C];
} outputs;

static float host_x[N * C], host_dy[N * C], host_gamma[C], host_beta[C];

/* x has a different mean and scale per column; dy leans on x so that dgamma and dbeta do not
 * cancel (the 1e-6 bound of bn_cases.c is for well-conditioned sums). */
static void
make_data(void)
{
    uint64_t rng = 2024;

    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < C; j++) {
            float x = (float)j + (1.0f + (float)j) * test_rng_uniform(&rng, -1, 1);
            host_x[i * C + j] = x;
            host_dy[i * C + j] = 0.5f * x + 0.25f * test_rng_uniform(&rng, -1, 1);
        }
    for (size_t j = 0; j < C; j++) {
        host_gamma[j] = 0.5f + 0.25f * (float)j;
        host_beta[j] = -0.125f * (float)j;
    }
}

static mpscl_status
run_forward(scene *s)
{
    mpscl_command_buffer *cb;
    mpscl_status st;

    if (s->fwd == NULL) {
        if ((st = mpscl_matrix_batch_normalization_create(s->d, &s->fwd)) != MPSCL_SUCCESS)
            return st;
        ASSERT_OK(mpscl_matrix_batch_normalization_set_compute_statistics(s->fwd, 1));
        ASSERT_OK(mpscl_matrix_batch_normalization_set_epsilon(s->fwd, eps));
    }
    if ((st = mpscl_command_buffer_create(s->d, &cb)) != MPSCL_SUCCESS)
        return st;
    if ((st = mpscl_matrix_batch_normalization_encode(s->fwd, cb, s->m[X], s->v[MEAN], s->v[VAR],
                                                      s->v[GAMMA], s->v[BETA], s->m[Y])) ==
            MPSCL_SUCCESS &&
        (st = mpscl_command_buffer_commit(cb)) == MPSCL_SUCCESS)
        st = mpscl_command_buffer_wait_until_completed(cb);
    mpscl_command_buffer_release(cb);
    return st;
}

static mpscl_status
run_gradient(scene *s)
{
    mpscl_command_buffer *cb;
    mpscl_status st;

    if (s->grad == NULL) {
        if ((st = mpscl_matrix_batch_normalization_gradient_create(s->d, &s->grad)) !=
            MPSCL_SUCCESS)
            return st;
        ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_epsilon(s->grad, eps));
    }
    if ((st = mpscl_command_buffer_create(s->d, &cb)) != MPSCL_SUCCESS)
        return st;
    if ((st = mpscl_matrix_batch_normalization_gradient_encode(
             s->grad, cb, s->m[DY], s->m[X], s->v[MEAN], s->v[VAR], s->v[GAMMA], s->v[BETA],
             s->m[DX], s->v[DGAMMA], s->v[DBETA])) == MPSCL_SUCCESS &&
        (st = mpscl_command_buffer_commit(cb)) == MPSCL_SUCCESS)
        st = mpscl_command_buffer_wait_until_completed(cb);
    mpscl_command_buffer_release(cb);
    return st;
}

/* Runs what is left of the scene, keeping whatever an earlier (failed) run made: a retry with
 * the same objects must work. Stops at the first failure. */
static mpscl_status
scene_run(scene *s)
{
    mpscl_matrix_descriptor md = mpscl_matrix_descriptor_make(N, C, C * sizeof(float),
                                                              MPSCL_DATA_TYPE_FLOAT32);
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make(C, MPSCL_DATA_TYPE_FLOAT32);
    const float *mdata[NM] = {host_x, host_dy, NULL, NULL};
    const float *vdata[NV] = {NULL, NULL, host_gamma, host_beta, NULL, NULL};
    mpscl_status st;

    if (s->d == NULL && (st = mpscl_device_create_default(&s->d)) != MPSCL_SUCCESS)
        return st;
    for (size_t i = 0; i < NM; i++) {
        if (s->m[i] == NULL && (st = mpscl_matrix_create(s->d, &md, &s->m[i])) != MPSCL_SUCCESS)
            return st;
        if (mdata[i] != NULL && !s->m_written[i]) {
            if ((st = mpscl_matrix_write(s->m[i], mdata[i], C * sizeof(float))) != MPSCL_SUCCESS)
                return st;
            s->m_written[i] = 1;
        }
    }
    for (size_t i = 0; i < NV; i++) {
        if (s->v[i] == NULL && (st = mpscl_vector_create(s->d, &vd, &s->v[i])) != MPSCL_SUCCESS)
            return st;
        if (vdata[i] != NULL && !s->v_written[i]) {
            if ((st = mpscl_vector_write(s->v[i], vdata[i])) != MPSCL_SUCCESS)
                return st;
            s->v_written[i] = 1;
        }
    }
    if (!s->fwd_done) {
        if ((st = run_forward(s)) != MPSCL_SUCCESS)
            return st;
        s->fwd_done = 1;
    }
    if (!s->grad_done) {
        if ((st = run_gradient(s)) != MPSCL_SUCCESS)
            return st;
        s->grad_done = 1;
    }
    return MPSCL_SUCCESS;
}

static void
scene_read(const scene *s, outputs *o)
{
    memset(o, 0, sizeof *o);
    ASSERT_OK(mpscl_matrix_read(s->m[Y], o->y, C * sizeof(float)));
    ASSERT_OK(mpscl_matrix_read(s->m[DX], o->dx, C * sizeof(float)));
    ASSERT_OK(mpscl_vector_read(s->v[MEAN], o->mean));
    ASSERT_OK(mpscl_vector_read(s->v[VAR], o->var));
    ASSERT_OK(mpscl_vector_read(s->v[DGAMMA], o->dgamma));
    ASSERT_OK(mpscl_vector_read(s->v[DBETA], o->dbeta));
}

static void
scene_free(scene *s)
{
    for (size_t i = 0; i < NM; i++)
        mpscl_matrix_release(s->m[i]);
    for (size_t i = 0; i < NV; i++)
        mpscl_vector_release(s->v[i]);
    mpscl_matrix_batch_normalization_release(s->fwd);
    mpscl_matrix_batch_normalization_gradient_release(s->grad);
    mpscl_device_release(s->d);
    memset(s, 0, sizeof *s);
}

/* The clean run's outputs against the fp64 reference: statistics from x, then the forward and
 * the gradient from the statistics the device computed. */
static void
check_reference(const outputs *o)
{
    double mean[C], var[C], y[N * C], dx[N * C], dg[C], db[C];
    ref_view xv = {host_x, C}, dyv = {host_dy, C};

    ref_bn_statistics(N, C, xv, mean, var);
    ck_assert_double_le(ref_rel_l2_vec(C, o->mean, mean), 1e-6);
    ck_assert_double_le(ref_rel_l2_vec(C, o->var, var), 1e-6);
    ref_bn_forward(N, C, xv, o->mean, o->var, host_gamma, host_beta, eps, NULL, y);
    ck_assert_double_le(ref_rel_l2(N, C, (ref_view){o->y, C}, y), 1e-6);
    ref_bn_gradient(N, C, dyv, xv, o->mean, o->var, host_gamma, host_beta, eps, NULL, dx, dg, db);
    ck_assert_double_le(ref_rel_l2(N, C, (ref_view){o->dx, C}, dx), 1e-6);
    ck_assert_double_le(ref_rel_l2_vec(C, o->dgamma, dg), 1e-6);
    ck_assert_double_le(ref_rel_l2_vec(C, o->dbeta, db), 1e-6);
}

/* Calls whose failure the library may absorb and still succeed: releases (its release functions
 * return void; the failure is logged under MPSCL_DEBUG), clFinish (only in a release), the build
 * log (only read to word a message), profiling times (read as 0), device queries that only steer
 * a choice: the type while picking the default device
 * (treated as "not a GPU"), the name while matching MPSCL_DEVICE, the extension string (fp64
 * treated as absent), the float capabilities (correctly rounded division and sqrt treated as
 * absent); and everything of the disk program cache (lib/program_cache.c), whose
 * every failure is a miss or a skipped store: the platform and device strings of its key, the
 * binary read back for a store, a program made from a cached binary and its build. Success
 * after any other failed call is a bug. */
static int
tolerated(const char *call)
{
    static const char *const ok[] = {"clRelease", "clFinish", "clGetProgramBuildInfo",
                                     "clGetEventProfilingInfo", "clGetDeviceInfo(CL_DEVICE_TYPE)",
                                     "clGetDeviceInfo(CL_DEVICE_NAME)",
                                     "clGetDeviceInfo(CL_DEVICE_EXTENSIONS)",
                                     "clGetDeviceInfo(CL_DEVICE_SINGLE_FP_CONFIG)",
                                     "clGetDeviceInfo(CL_DEVICE_VENDOR)",
                                     "clGetDeviceInfo(CL_DRIVER_VERSION)", "clGetPlatformInfo",
                                     "clGetProgramInfo", "clCreateProgramWithBinary",
                                     "clBuildProgram(binary)"};

    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strncmp(call, ok[i], strlen(ok[i])) == 0)
            return 1;
    return 0;
}

/* The status a failed call must surface as: a build from source is BUILD_FAILED (its log
 * explains), the
 * wait reports MPSCL_ERROR_OPENCL for whatever stopped the work (command_buffer.h), and
 * elsewhere CL_OUT_OF_HOST_MEMORY is MPSCL_ERROR_OUT_OF_HOST_MEMORY, any other code
 * MPSCL_ERROR_OPENCL. */
static mpscl_status
expected_status(const char *call, cl_int err)
{
    if (strcmp(call, "clBuildProgram") == 0)
        return err == CL_OUT_OF_HOST_MEMORY ? MPSCL_ERROR_OUT_OF_HOST_MEMORY
                                            : MPSCL_ERROR_BUILD_FAILED;
    if (strcmp(call, "clWaitForEvents") == 0 || strcmp(call, "clGetEventInfo") == 0)
        return MPSCL_ERROR_OPENCL;
    return err == CL_OUT_OF_HOST_MEMORY ? MPSCL_ERROR_OUT_OF_HOST_MEMORY : MPSCL_ERROR_OPENCL;
}

/* One clean run: its outputs (checked against the reference) and its call count. With the disk
 * cache on, the first run may store programs; the runs after it load them. */
static long
clean_run(outputs *o)
{
    scene s = {0};
    long calls;

    ck_assert_int_eq(cl_fault_live(), 0);
    cl_fault_arm(0, CL_SUCCESS);
    ASSERT_OK(scene_run(&s));
    calls = cl_fault_calls();
    scene_read(&s, o);
    scene_free(&s);
    ck_assert_msg(cl_fault_live() == 0, "a clean run left %ld OpenCL objects", cl_fault_live());
    check_reference(o);
    return calls;
}

/* The interposer sees the library's calls, all of them known to it (names are prefixes: a
 * build may be "clBuildProgram(binary)"). */
START_TEST(test_clean_run_is_counted)
{
    static const char *const needed[] = {
        "clGetPlatformIDs", "clCreateContext", "clCreateBuffer", "clEnqueueWriteBuffer",
        "clBuildProgram", "clCreateKernel", "clSetKernelArg", "clEnqueueNDRangeKernel",
        "clRetainEvent", "clWaitForEvents", "clReleaseEvent"};
    outputs o;
    long calls;

    make_data();
    calls = clean_run(&o);
    for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++) {
        int seen = 0;
        for (long k = 1; k <= calls && !seen; k++)
            seen = strncmp(cl_fault_call_name(k), needed[i], strlen(needed[i])) == 0;
        ck_assert_msg(seen, "%s is not among the %ld calls seen: is libmpscl bound to the "
                      "interposer (-export-dynamic)?", needed[i], calls);
    }
    if (getenv("CL_FAULT_VERBOSE") != NULL)
        for (long k = 1; k <= calls; k++)
            fprintf(stderr, "%4ld %s\n", k, cl_fault_call_name(k));
}
END_TEST

static const cl_int codes[] = {CL_OUT_OF_RESOURCES, CL_MEM_OBJECT_ALLOCATION_FAILURE,
                               CL_OUT_OF_HOST_MEMORY, CL_BUILD_PROGRAM_FAILURE};

/* Walks k over every call of the clean run for code codes[_i % 4], with the disk program cache
 * off (_i < 4: every program is built from source) and on (warm: programs come from binaries);
 * CL_BUILD_PROGRAM_FAILURE only where the call is a build, the one place a driver returns it. */
START_TEST(test_fail_each_call)
{
    cl_int err = codes[_i % 4];
    outputs clean, got;
    long calls, walked = 0, absorbed = 0;
    char names[1024][48];

    if (_i < 4)
        setenv("MPSCL_DISABLE_CACHE", "1", 1);   /* this forked test's own environment */
    make_data();
    clean_run(&clean);
    calls = clean_run(&clean);
    ck_assert_int_le(calls, 1024);
    for (long k = 1; k <= calls; k++)
        snprintf(names[k - 1], sizeof names[0], "%s", cl_fault_call_name(k));
    for (long k = 1; k <= calls; k++) {
        scene s = {0};
        const char *failed;
        mpscl_status st;

        if (err == CL_BUILD_PROGRAM_FAILURE && strncmp(names[k - 1], "clBuildProgram", 14) != 0)
            continue;
        if (getenv("CL_FAULT_VERBOSE") != NULL)
            fprintf(stderr, "cache %s, code %d, call %ld: %s\n", _i < 4 ? "off" : "on", (int)err,
                    k, names[k - 1]);
        walked++;
        cl_fault_arm(k, err);
        st = scene_run(&s);
        cl_fault_disarm();
        failed = cl_fault_failed_call();
        ck_assert_msg(failed != NULL && strcmp(failed, names[k - 1]) == 0,
                      "call %ld: the clean run made %s, this run %s", k, names[k - 1],
                      failed != NULL ? failed : "fewer calls");
        if (st == MPSCL_SUCCESS) {
            ck_assert_msg(tolerated(failed), "call %ld (%s) failed with %d, yet the scene "
                          "succeeded", k, failed, (int)err);
            if (getenv("CL_FAULT_VERBOSE") != NULL)
                fprintf(stderr, "  absorbed: %s\n", failed);
            absorbed++;
        } else {
            mpscl_status want = expected_status(failed, err);
            ck_assert_msg(st == want, "call %ld (%s) failed with %d: got %s, expected %s: %s", k,
                          failed, (int)err, mpscl_status_string(st), mpscl_status_string(want),
                          mpscl_last_error_message());
            ck_assert_msg(mpscl_last_cl_error() == err, "call %ld (%s): last_cl_error %d, not %d",
                          k, failed, (int)mpscl_last_cl_error(), (int)err);
            ck_assert_msg(mpscl_last_error_message()[0] != '\0', "call %ld: no message", k);
            /* The next normal run, with the objects the failed one left, completes the scene. */
            ASSERT_OK(scene_run(&s));
        }
        scene_read(&s, &got);
        /* A failed query of the device's type makes it "not a GPU" for the device's lifetime,
         * so the planner may pick another layout (another order of summation): right, but not
         * the same bits. Every other failure leaves the plan alone. */
        if (strcmp(failed, "clGetDeviceInfo(CL_DEVICE_TYPE)") == 0)
            check_reference(&got);
        else
            ck_assert_msg(memcmp(&got, &clean, sizeof got) == 0,
                          "call %ld (%s): outputs differ from the clean run's", k, failed);
        scene_free(&s);
        ck_assert_msg(cl_fault_live() == 0, "call %ld (%s) failed: %ld OpenCL objects leaked", k,
                      failed, cl_fault_live());
    }
    ck_assert_int_gt(walked, 0);
    if (getenv("CL_FAULT_VERBOSE") != NULL)
        fprintf(stderr, "code %d: %ld calls walked, %ld absorbed\n", (int)err, walked, absorbed);
}
END_TEST

/* ---- encoded copies and an object over host memory ---- */

/* What the copies scene reads back. */
typedef struct copied {
    float y[N * C], mean[C], var[C];
} copied;

/* x over host memory, written blocking and then again by an encoded copy; one buffer: the
 * forward, and encoded reads of everything it wrote. Everything is released on every path. */
static mpscl_status
copies_run(copied *o)
{
    mpscl_matrix_descriptor md = mpscl_matrix_descriptor_make(N, C, C * sizeof(float),
                                                              MPSCL_DATA_TYPE_FLOAT32);
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make(C, MPSCL_DATA_TYPE_FLOAT32);
    static float xmem[N * C];
    mpscl_device *d = NULL;
    mpscl_matrix *x = NULL, *y = NULL;
    mpscl_vector *mean = NULL, *var = NULL;
    mpscl_matrix_batch_normalization *k = NULL;
    mpscl_command_buffer *cb = NULL;
    mpscl_status st;

    memset(o, 0, sizeof *o);
    if ((st = mpscl_device_create_default(&d)) == MPSCL_SUCCESS &&
        (st = mpscl_matrix_create_with_host_memory(d, xmem, &md, &x)) == MPSCL_SUCCESS &&
        (st = mpscl_matrix_create(d, &md, &y)) == MPSCL_SUCCESS &&
        (st = mpscl_vector_create(d, &vd, &mean)) == MPSCL_SUCCESS &&
        (st = mpscl_vector_create(d, &vd, &var)) == MPSCL_SUCCESS &&
        (st = mpscl_matrix_batch_normalization_create(d, &k)) == MPSCL_SUCCESS &&
        (st = mpscl_matrix_batch_normalization_set_compute_statistics(k, 1)) == MPSCL_SUCCESS &&
        (st = mpscl_matrix_write(x, host_dy, C * sizeof(float))) == MPSCL_SUCCESS &&
        (st = mpscl_command_buffer_create(d, &cb)) == MPSCL_SUCCESS &&
        (st = mpscl_matrix_encode_write(x, cb, host_x, C * sizeof(float))) == MPSCL_SUCCESS &&
        (st = mpscl_matrix_batch_normalization_encode(k, cb, x, mean, var, NULL, NULL, y)) ==
            MPSCL_SUCCESS &&
        (st = mpscl_matrix_encode_read(y, cb, o->y, C * sizeof(float))) == MPSCL_SUCCESS &&
        (st = mpscl_vector_encode_read(mean, cb, o->mean)) == MPSCL_SUCCESS &&
        (st = mpscl_vector_encode_read(var, cb, o->var)) == MPSCL_SUCCESS &&
        (st = mpscl_command_buffer_commit(cb)) == MPSCL_SUCCESS)
        st = mpscl_command_buffer_wait_until_completed(cb);
    mpscl_command_buffer_release(cb);
    mpscl_matrix_batch_normalization_release(k);
    mpscl_vector_release(var);
    mpscl_vector_release(mean);
    mpscl_matrix_release(y);
    mpscl_matrix_release(x);
    mpscl_device_release(d);
    if (st == MPSCL_SUCCESS)
        ck_assert_msg(memcmp(xmem, host_x, sizeof xmem) == 0, "host memory does not hold x");
    return st;
}

/* Each call of the copies scene failing in turn: the status it maps to (or a tolerated
 * success with the clean run's outputs), and no OpenCL object left behind: not an event of a
 * copy, a map or an unmap, not a buffer over host memory. */
START_TEST(test_fail_each_copy_call)
{
    cl_int err = codes[_i];
    copied clean, got;
    long calls;
    double mean[C], var[C];

    make_data();
    cl_fault_arm(0, CL_SUCCESS);
    ASSERT_OK(copies_run(&clean));
    calls = cl_fault_calls();
    ck_assert_int_eq(cl_fault_live(), 0);
    ref_bn_statistics(N, C, (ref_view){host_x, C}, mean, var);
    ck_assert_double_le(ref_rel_l2_vec(C, clean.mean, mean), 1e-6);
    ck_assert_double_le(ref_rel_l2_vec(C, clean.var, var), 1e-6);
    for (long k = 1; k <= calls; k++) {
        const char *failed;
        mpscl_status st;

        cl_fault_arm(k, err);
        st = copies_run(&got);
        cl_fault_disarm();
        failed = cl_fault_failed_call();
        ck_assert_ptr_nonnull(failed);
        if (st == MPSCL_SUCCESS) {
            ck_assert_msg(tolerated(failed), "call %ld (%s) failed, yet all succeeded", k, failed);
            if (strcmp(failed, "clGetDeviceInfo(CL_DEVICE_TYPE)") != 0)
                ck_assert_msg(memcmp(&got, &clean, sizeof got) == 0,
                              "call %ld (%s): outputs differ from the clean run's", k, failed);
        } else {
            mpscl_status want = expected_status(failed, err);
            ck_assert_msg(st == want, "call %ld (%s) failed with %d: got %s, expected %s: %s", k,
                          failed, (int)err, mpscl_status_string(st), mpscl_status_string(want),
                          mpscl_last_error_message());
            ck_assert_int_eq(mpscl_last_cl_error(), err);
        }
        ck_assert_msg(cl_fault_live() == 0, "call %ld (%s) failed: %ld OpenCL objects leaked", k,
                      failed, cl_fault_live());
    }
}
END_TEST

/* ---- objects over the caller's OpenCL objects ---- */

/* The caller's context, queue and buffers: made by the test (its calls are not counted), and
 * wrapped by the library, which must retain and release each exactly as often. Their reference
 * counts themselves are no measure (PoCL's events hold the queue and context until it frees
 * them, lazily), so the balance is the interposer's: cl_fault_live() counts the library's
 * retains and releases of them too, and a release of a failed retain shows as -1. */
typedef struct user_objects {
    cl_context ctx;
    cl_device_id dev;
    cl_command_queue q;
    cl_mem mbuf, vbuf;
} user_objects;

/* Wraps everything, uploads x, then releases it all; the first failure stops it. */
static mpscl_status
wrapped_run(const user_objects *u)
{
    mpscl_matrix_descriptor md = mpscl_matrix_descriptor_make(N, C, C * sizeof(float),
                                                              MPSCL_DATA_TYPE_FLOAT32);
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make(C, MPSCL_DATA_TYPE_FLOAT32);
    mpscl_device *d = NULL;
    mpscl_command_buffer *cb = NULL;
    mpscl_matrix *m = NULL;
    mpscl_vector *v = NULL;
    mpscl_status st;

    if ((st = mpscl_device_create_from_cl(u->ctx, u->dev, &d)) == MPSCL_SUCCESS &&
        (st = mpscl_command_buffer_create_with_queue(d, u->q, &cb)) == MPSCL_SUCCESS &&
        (st = mpscl_matrix_create_with_buffer(d, u->mbuf, 0, &md, &m)) == MPSCL_SUCCESS &&
        (st = mpscl_vector_create_with_buffer(d, u->vbuf, 0, &vd, &v)) == MPSCL_SUCCESS &&
        (st = mpscl_matrix_write(m, host_x, C * sizeof(float))) == MPSCL_SUCCESS &&
        (st = mpscl_command_buffer_commit(cb)) == MPSCL_SUCCESS)
        st = mpscl_command_buffer_wait_until_completed(cb);
    mpscl_vector_release(v);
    mpscl_matrix_release(m);
    mpscl_command_buffer_release(cb);
    mpscl_device_release(d);
    return st;
}

/* The validity queries of the wrapping calls report any failure as MPSCL_ERROR_INVALID_ARGUMENT
 * ("not a valid cl_context" ...), with the code in mpscl_last_cl_error(). */
static mpscl_status
expected_wrapped(const char *call, cl_int err)
{
    if (strcmp(call, "clGetContextInfo") == 0 || strcmp(call, "clGetCommandQueueInfo") == 0 ||
        strcmp(call, "clGetMemObjectInfo") == 0)
        return MPSCL_ERROR_INVALID_ARGUMENT;
    return expected_status(call, err);
}

START_TEST(test_fail_wrapped)
{
    user_objects u;
    cl_platform_id platform;
    cl_int e;
    long calls;

    ck_assert_int_eq(clGetPlatformIDs(1, &platform, NULL), CL_SUCCESS);
    ck_assert_int_eq(clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 1, &u.dev, NULL), CL_SUCCESS);
    u.ctx = clCreateContext(NULL, 1, &u.dev, NULL, NULL, &e);
    ck_assert_int_eq(e, CL_SUCCESS);
    u.q = clCreateCommandQueue(u.ctx, u.dev, 0, &e);
    ck_assert_int_eq(e, CL_SUCCESS);
    u.mbuf = clCreateBuffer(u.ctx, CL_MEM_READ_WRITE, N * C * sizeof(float), NULL, &e);
    ck_assert_int_eq(e, CL_SUCCESS);
    u.vbuf = clCreateBuffer(u.ctx, CL_MEM_READ_WRITE, C * sizeof(float), NULL, &e);
    ck_assert_int_eq(e, CL_SUCCESS);
    make_data();
    cl_fault_arm(0, CL_SUCCESS);
    ASSERT_OK(wrapped_run(&u));
    calls = cl_fault_calls();
    ck_assert_int_eq(cl_fault_live(), 0);
    for (size_t c = 0; c < 3; c++)
        for (long k = 1; k <= calls; k++) {
            const char *failed;
            mpscl_status st;

            cl_fault_arm(k, codes[c]);
            st = wrapped_run(&u);
            cl_fault_disarm();
            failed = cl_fault_failed_call();
            ck_assert_ptr_nonnull(failed);
            if (st == MPSCL_SUCCESS) {
                ck_assert_msg(tolerated(failed), "call %ld (%s) failed, yet all succeeded", k,
                              failed);
            } else {
                ck_assert_msg(st == expected_wrapped(failed, codes[c]),
                              "call %ld (%s) failed with %d: got %s: %s", k, failed,
                              (int)codes[c], mpscl_status_string(st), mpscl_last_error_message());
                ck_assert_int_eq(mpscl_last_cl_error(), codes[c]);
            }
            ck_assert_msg(cl_fault_live() == 0, "call %ld (%s) failed: the library holds %ld "
                          "OpenCL objects or references too many", k, failed, cl_fault_live());
        }
    /* Each still holds the test's reference: an over-release by the library fails here. */
    ck_assert_int_eq(clReleaseMemObject(u.vbuf), CL_SUCCESS);
    ck_assert_int_eq(clReleaseMemObject(u.mbuf), CL_SUCCESS);
    ck_assert_int_eq(clReleaseCommandQueue(u.q), CL_SUCCESS);
    ck_assert_int_eq(clReleaseContext(u.ctx), CL_SUCCESS);
}
END_TEST

/* The one-launch kernels (forced on any device) with counters that do not start at zero (their
 * buffer made while the interposer corrupts host copies): the wait reports that groups gave up,
 * nothing hangs, and the same kernel object then computes what a clean run computes. */
static void
expect_gave_up(scene *s, int *done)
{
    mpscl_status st;

    cl_fault_corrupt_copies(1, 0x40000000u);
    *done = 0;
    st = scene_run(s);
    cl_fault_corrupt_copies(0, 0);
    ck_assert_msg(st == MPSCL_ERROR_UNSUPPORTED, "corrupted counters: got %s: %s",
                  mpscl_status_string(st), mpscl_last_error_message());
    ck_assert_ptr_nonnull(strstr(mpscl_last_error_message(), "gave up"));
    ck_assert_int_eq(*done, 0);
}

START_TEST(test_one_launch_gives_up)
{
    scene s = {0};
    outputs clean, again;

    ck_assert_int_eq(setenv("MPSCL_TUNE", "fused=1", 1), 0);
    make_data();
    clean_run(&clean);
    /* The forward's first launch makes its counters: corrupted, it gives up; run again, it and
     * the gradient match the clean run. */
    expect_gave_up(&s, &s.fwd_done);
    ASSERT_OK(scene_run(&s));
    scene_read(&s, &again);
    ck_assert(memcmp(&clean, &again, sizeof clean) == 0);
    /* A new gradient object likewise. */
    mpscl_matrix_batch_normalization_gradient_release(s.grad);
    s.grad = NULL;
    expect_gave_up(&s, &s.grad_done);
    ASSERT_OK(scene_run(&s));
    scene_read(&s, &again);
    ck_assert(memcmp(&clean, &again, sizeof clean) == 0);
    scene_free(&s);
    unsetenv("MPSCL_TUNE");
}
END_TEST

/* A group that may wait not at all: each run either matches the clean run or reports that groups
 * gave up, and never hangs. */
START_TEST(test_one_launch_without_patience)
{
    outputs clean, again;

    ck_assert_int_eq(setenv("MPSCL_TUNE", "fused=1", 1), 0);
    make_data();
    clean_run(&clean);
    ck_assert_int_eq(setenv("MPSCL_TUNE", "fused=1,spin=0", 1), 0);
    for (int r = 0; r < 20; r++) {
        scene s = {0};
        mpscl_status st = scene_run(&s);
        if (st == MPSCL_SUCCESS) {
            scene_read(&s, &again);
            ck_assert_msg(memcmp(&clean, &again, sizeof clean) == 0, "run %d differs", r);
        } else {
            ck_assert_msg(st == MPSCL_ERROR_UNSUPPORTED, "run %d: %s: %s", r,
                          mpscl_status_string(st), mpscl_last_error_message());
        }
        scene_free(&s);
    }
    unsetenv("MPSCL_TUNE");
}
END_TEST

static Suite *
faults_suite(void)
{
    Suite *s = suite_create("faults");
    TCase *tc = tcase_create("opencl");

    /* No fixture: the scene creates its own device, since device creation is walked too. */
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_clean_run_is_counted);
    tcase_add_loop_test(tc, test_fail_each_call, 0, 8);
    tcase_add_test(tc, test_fail_wrapped);
    tcase_add_loop_test(tc, test_fail_each_copy_call, 0, 3);
    tcase_add_test(tc, test_one_launch_gives_up);
    tcase_add_test(tc, test_one_launch_without_patience);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return test_run_suite(faults_suite());
}
