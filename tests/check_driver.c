/* tests/check_driver.c: driver behaviour the library must cope with, made up through the OpenCL
 * interposer (tests/cl_fault.h): a device name longer than any fixed buffer. */
#define _POSIX_C_SOURCE 200809L   /* setenv */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "cl_fault.h"
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
    cl_fault_device_string(CL_DEVICE_NAME, NULL);
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

static Suite *
driver_suite(void)
{
    Suite *s = suite_create("driver");
    TCase *names = tcase_create("names");

    tcase_add_checked_fixture(names, setup, teardown);
    tcase_set_timeout(names, 60);
    tcase_add_loop_test(names, long_device_name, 0,
                        (int)(sizeof name_lengths / sizeof name_lengths[0]));
    suite_add_tcase(s, names);
    return s;
}

int
main(void)
{
    return test_run_suite(driver_suite());
}
