/* tests/check_status.c: the status vocabulary (texts, data-type sizes, version) and the
 * thread-local last-error state that every failing call records. */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* The last enumerator: a new status must be added here too, or the walk below misses it. */
#define LAST_STATUS MPSCL_ERROR_COMMUNICATION

START_TEST(status_strings_distinct)
{
    for (int i = MPSCL_SUCCESS; i <= (int)LAST_STATUS; i++) {
        const char *a = mpscl_status_string((mpscl_status)i);

        ck_assert_ptr_nonnull(a);
        ck_assert_msg(a[0] != '\0', "status %d has empty text", i);
        ck_assert_msg(strcmp(a, "unknown status") != 0, "status %d is called unknown", i);
        for (int j = MPSCL_SUCCESS; j < i; j++)
            ck_assert_msg(strcmp(a, mpscl_status_string((mpscl_status)j)) != 0,
                          "statuses %d and %d share the text \"%s\"", j, i, a);
    }
}
END_TEST

START_TEST(status_string_out_of_range)
{
    /* Values a caller can produce by casting: just past the end, far past it, negative. */
    static const int bad[] = {(int)LAST_STATUS + 1, 1000, INT32_MAX, -1};

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_str_eq(mpscl_status_string((mpscl_status)bad[i]), "unknown status");
}
END_TEST

START_TEST(data_type_sizes)
{
    ck_assert_uint_eq(mpscl_data_type_size(MPSCL_DATA_TYPE_FLOAT32), 4);
    ck_assert_uint_eq(mpscl_data_type_size(MPSCL_DATA_TYPE_FLOAT16), 2);
    ck_assert_uint_eq(mpscl_data_type_size(MPSCL_DATA_TYPE_BFLOAT16), 2);
    ck_assert_uint_eq(mpscl_data_type_size(MPSCL_DATA_TYPE_FLOAT64), 8);
    ck_assert_uint_eq(mpscl_data_type_size((mpscl_data_type)(MPSCL_DATA_TYPE_FLOAT64 + 1)), 0);
    ck_assert_uint_eq(mpscl_data_type_size((mpscl_data_type)99), 0);
    ck_assert_uint_eq(mpscl_data_type_size((mpscl_data_type)-1), 0);
}
END_TEST

START_TEST(version_matches_headers)
{
    int major = -1, minor = -1, patch = -1;

    mpscl_version(&major, &minor, &patch);
    ck_assert_int_eq(major, MPSCL_VERSION_MAJOR);
    ck_assert_int_eq(minor, MPSCL_VERSION_MINOR);
    ck_assert_int_eq(patch, MPSCL_VERSION_PATCH);
    /* Any pointer may be NULL: the others are still written. */
    minor = -1;
    mpscl_version(NULL, &minor, NULL);
    ck_assert_int_eq(minor, MPSCL_VERSION_MINOR);
    mpscl_version(NULL, NULL, NULL);
}
END_TEST

START_TEST(free_null)
{
    mpscl_free(NULL);
}
END_TEST

/* A failing call with no OpenCL behind it: the device is NULL. */
static mpscl_status
fail_null_device(void)
{
    mpscl_matrix_descriptor desc = mpscl_matrix_descriptor_make(2, 2, 8, MPSCL_DATA_TYPE_FLOAT32);
    mpscl_matrix *m = (mpscl_matrix *)&desc;   /* any non-NULL value: must come back NULL */
    mpscl_status s = mpscl_matrix_create(NULL, &desc, &m);

    ck_assert_ptr_null(m);
    return s;
}

START_TEST(last_error_set_and_replaced)
{
    mpscl_matrix_descriptor desc = mpscl_matrix_descriptor_make(2, 2, 8, MPSCL_DATA_TYPE_FLOAT32);

    /* A fresh process has had no failure. */
    ck_assert_str_eq(mpscl_last_error_message(), "");
    ck_assert_int_eq(mpscl_last_cl_error(), CL_SUCCESS);

    ASSERT_STATUS(fail_null_device(), MPSCL_ERROR_INVALID_ARGUMENT);
    ck_assert_msg(strstr(mpscl_last_error_message(), "device") != NULL,
                  "message does not name the device: \"%s\"", mpscl_last_error_message());
    ck_assert_int_eq(mpscl_last_cl_error(), CL_SUCCESS);

    /* A second failure replaces the text instead of appending to it. */
    ASSERT_STATUS(mpscl_matrix_create(NULL, &desc, NULL), MPSCL_ERROR_INVALID_ARGUMENT);
    ck_assert_msg(strstr(mpscl_last_error_message(), "out") != NULL,
                  "message does not name out: \"%s\"", mpscl_last_error_message());
    ck_assert_msg(strstr(mpscl_last_error_message(), "device") == NULL,
                  "old message kept: \"%s\"", mpscl_last_error_message());
}
END_TEST

static void *
thread_view(void *arg)
{
    char *seen = arg;

    /* Record what this thread sees before and after its own failure. */
    strncpy(seen, mpscl_last_error_message(), 255);
    (void)mpscl_matrix_create(NULL, NULL, NULL);
    strncpy(seen + 256, mpscl_last_error_message(), 255);
    return NULL;
}

START_TEST(last_error_is_thread_local)
{
    char seen[512] = {0}, mine[512];
    pthread_t t;

    ASSERT_STATUS(fail_null_device(), MPSCL_ERROR_INVALID_ARGUMENT);
    strncpy(mine, mpscl_last_error_message(), sizeof mine - 1);
    mine[sizeof mine - 1] = '\0';
    ck_assert_int_eq(pthread_create(&t, NULL, thread_view, seen), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_msg(seen[0] == '\0', "new thread saw another thread's message \"%s\"", seen);
    ck_assert_msg(seen[256] != '\0', "the thread's own failure left no message");
    /* The other thread's failure did not touch this thread's message. */
    ck_assert_str_eq(mpscl_last_error_message(), mine);
}
END_TEST

START_TEST(last_cl_error_from_opencl)
{
    cl_ulong max_alloc = 0;
    mpscl_matrix_descriptor desc;
    mpscl_matrix *m = NULL;
    size_t columns;

    ck_assert_int_eq(clGetDeviceInfo(mpscl_device_cl_device_id(test_device),
                                     CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof max_alloc, &max_alloc,
                                     NULL), CL_SUCCESS);
    if (max_alloc >= SIZE_MAX / 2)
        return;   /* no buffer size both representable and refused */
    /* One row just past the device's allocation limit: valid for the library, refused by
     * clCreateBuffer with CL_INVALID_BUFFER_SIZE (OpenCL 1.2, clCreateBuffer errors). */
    columns = (size_t)max_alloc / 4 + 16;
    desc = mpscl_matrix_descriptor_make(1, columns, columns * 4, MPSCL_DATA_TYPE_FLOAT32);
    if (mpscl_matrix_create(test_device, &desc, &m) == MPSCL_SUCCESS) {
        /* NVIDIA's OpenCL accepts buffers past its stated limit and allocates on first use:
         * there is no creation failure to observe on such a driver. */
        mpscl_matrix_release(m);
        return;
    }
    ASSERT_STATUS(mpscl_matrix_create(test_device, &desc, &m), MPSCL_ERROR_OPENCL);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(mpscl_last_cl_error(), CL_INVALID_BUFFER_SIZE);
    ck_assert_msg(strstr(mpscl_last_error_message(), "clCreateBuffer") != NULL,
                  "message does not name the OpenCL call: \"%s\"", mpscl_last_error_message());

    /* A later failure without OpenCL behind it resets the code. */
    ASSERT_STATUS(fail_null_device(), MPSCL_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(mpscl_last_cl_error(), CL_SUCCESS);
}
END_TEST

START_TEST(last_error_cleared_by_success)
{
    mpscl_matrix_descriptor desc = mpscl_matrix_descriptor_make(2, 3, 12, MPSCL_DATA_TYPE_FLOAT32);
    mpscl_matrix *m = NULL;
    size_t count = 0;

    ASSERT_STATUS(fail_null_device(), MPSCL_ERROR_INVALID_ARGUMENT);
    ck_assert_str_ne(mpscl_last_error_message(), "");
    ASSERT_OK(mpscl_matrix_create(test_device, &desc, &m));
    ck_assert_str_eq(mpscl_last_error_message(), "");
    ck_assert_int_eq(mpscl_last_cl_error(), CL_SUCCESS);
    mpscl_matrix_release(m);

    ASSERT_STATUS(fail_null_device(), MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_OK(mpscl_device_count(&count));
    ck_assert_str_eq(mpscl_last_error_message(), "");
}
END_TEST

static Suite *
status_suite(void)
{
    Suite *s = suite_create("status");
    TCase *tc = tcase_create("core");
    TCase *err = tcase_create("errors");

    tcase_add_test(tc, status_strings_distinct);
    tcase_add_test(tc, status_string_out_of_range);
    tcase_add_test(tc, data_type_sizes);
    tcase_add_test(tc, version_matches_headers);
    tcase_add_test(tc, free_null);
    suite_add_tcase(s, tc);

    tcase_add_test(err, last_error_set_and_replaced);
    tcase_add_test(err, last_error_is_thread_local);
    suite_add_tcase(s, err);

    /* Only these touch OpenCL, so only they get the device fixture. */
    err = tcase_create("opencl");
    tcase_add_checked_fixture(err, test_device_setup, test_device_teardown);
    tcase_set_timeout(err, 30);
    tcase_add_test(err, last_cl_error_from_opencl);
    tcase_add_test(err, last_error_cleared_by_success);
    suite_add_tcase(s, err);
    return s;
}

int
main(void)
{
    return test_run_suite(status_suite());
}
