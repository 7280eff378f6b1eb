/* Helpers shared by the Check suites: the device fixture, status assertions, a deterministic
 * random generator and raw buffer access. */
#ifndef MPSCL_TEST_UTIL_H
#define MPSCL_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <check.h>

#include <mpscl/mpscl.h>

/* The default device (MPSCL_DEVICE or the library's choice), created by test_device_setup, a
 * checked fixture: OpenCL must never be touched before Check forks. */
extern mpscl_device *test_device;
void test_device_setup(void);
void test_device_teardown(void);

#define ASSERT_STATUS(call, want)                                                           \
    do {                                                                                    \
        mpscl_status got_ = (call), want_ = (want);                                         \
        ck_assert_msg(got_ == want_, "%s returned %s (%d), expected %s (%d): %s", #call,    \
                      mpscl_status_string(got_), (int)got_, mpscl_status_string(want_),     \
                      (int)want_, mpscl_last_error_message());                              \
    } while (0)
#define ASSERT_OK(call) ASSERT_STATUS(call, MPSCL_SUCCESS)
/* Status, and a message that contains word (the argument or property at fault). */
#define EXPECT(call, want, word)                                                             \
    do {                                                                                     \
        ASSERT_STATUS(call, want);                                                           \
        ck_assert_msg(strstr(mpscl_last_error_message(), word) != NULL,                      \
                      "%s: message \"%s\" does not name \"%s\"", #call,                     \
                      mpscl_last_error_message(), word);                                     \
    } while (0)

/* splitmix64: the same sequence on every machine. */
uint64_t test_rng_next(uint64_t *state);
/* Uniform in [lo, hi). */
float test_rng_uniform(uint64_t *state, float lo, float hi);

/* A buffer of `size` bytes in test_device's context holding `bytes` (NULL: zeros). */
cl_mem test_buffer_create(const void *bytes, size_t size);
/* Blocking raw read of a whole buffer. */
void test_buffer_read(cl_mem m, void *bytes, size_t size);

/* Whether a problem of `elements` matrix elements is past MPSCL_TEST_MAX_ELEMENTS (unset: no
 * limit); it prints a note when it is. The sanitizer run sets it: instrumented host code (fills,
 * the fp64 reference) makes large shapes slow there, and they take no host path small ones
 * don't. */
int test_skip_large(const char *what, size_t elements);

/* Element i of an array of type t at base: stored from a double (fp16 and bf16 rounded to
 * nearest even from the value rounded to float, NaN kept a NaN), or read back as a double. Host
 * conversions written independently of the kernels'. */
void test_store(mpscl_data_type t, void *base, size_t i, double v);
double test_load(mpscl_data_type t, const void *base, size_t i);

/* Runs a suite (fork mode as configured by CK_FORK), returns the process exit status. */
int test_run_suite(Suite *s);

#endif
