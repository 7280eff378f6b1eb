/* Shared test helpers: device fixture, deterministic random numbers, raw buffers. */
#include <stdio.h>
#include <stdlib.h>

#include "util.h"

mpscl_device *test_device;

void
test_device_setup(void)
{
    mpscl_status s = mpscl_device_create_default(&test_device);
    ck_assert_msg(s == MPSCL_SUCCESS, "no default device: %s: %s", mpscl_status_string(s),
                  mpscl_last_error_message());
}

void
test_device_teardown(void)
{
    mpscl_device_release(test_device);
    test_device = NULL;
}

uint64_t
test_rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

float
test_rng_uniform(uint64_t *state, float lo, float hi)
{
    /* 24 random bits: every value is an exact float in [0, 1). */
    float u = (float)(test_rng_next(state) >> 40) / 16777216.0f;
    return lo + (hi - lo) * u;
}

cl_mem
test_buffer_create(const void *bytes, size_t size)
{
    cl_int err;
    cl_mem m = clCreateBuffer(mpscl_device_cl_context(test_device), CL_MEM_READ_WRITE, size, NULL,
                              &err);
    cl_command_queue q;

    ck_assert_msg(err == CL_SUCCESS, "clCreateBuffer(%zu) = %d", size, (int)err);
    q = clCreateCommandQueue(mpscl_device_cl_context(test_device),
                             mpscl_device_cl_device_id(test_device), 0, &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    if (bytes != NULL) {
        err = clEnqueueWriteBuffer(q, m, CL_TRUE, 0, size, bytes, 0, NULL, NULL);
    } else {
        void *zero = calloc(1, size);
        ck_assert_ptr_nonnull(zero);
        err = clEnqueueWriteBuffer(q, m, CL_TRUE, 0, size, zero, 0, NULL, NULL);
        free(zero);
    }
    ck_assert_int_eq(err, CL_SUCCESS);
    clReleaseCommandQueue(q);
    return m;
}

void
test_buffer_read(cl_mem m, void *bytes, size_t size)
{
    cl_int err;
    cl_command_queue q = clCreateCommandQueue(mpscl_device_cl_context(test_device),
                                              mpscl_device_cl_device_id(test_device), 0, &err);

    ck_assert_int_eq(err, CL_SUCCESS);
    err = clEnqueueReadBuffer(q, m, CL_TRUE, 0, size, bytes, 0, NULL, NULL);
    ck_assert_int_eq(err, CL_SUCCESS);
    clReleaseCommandQueue(q);
}

int
test_skip_large(const char *what, size_t elements)
{
    const char *limit = getenv("MPSCL_TEST_MAX_ELEMENTS");
    char *end;
    unsigned long long most;

    if (limit == NULL || *limit == '\0')
        return 0;
    most = strtoull(limit, &end, 10);
    ck_assert_msg(*end == '\0', "MPSCL_TEST_MAX_ELEMENTS=%s is not a number", limit);
    if (elements <= most)
        return 0;
    printf("skipped (MPSCL_TEST_MAX_ELEMENTS=%s): %s, %zu elements\n", limit, what, elements);
    return 1;
}

int
test_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
