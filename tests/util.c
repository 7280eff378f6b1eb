/* Shared test helpers: device fixture, deterministic random numbers, raw buffers, host
 * conversions of the storage types. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- host conversions, independent of the kernels' ---- */

static uint16_t
f16_from_float(float f)
{
    uint32_t x, absx, sign, mant, rem, h;
    int32_t e;

    memcpy(&x, &f, sizeof x);
    sign = (x >> 16) & 0x8000u;
    absx = x & 0x7fffffffu;
    if (absx > 0x7f800000u)
        return (uint16_t)(sign | 0x7e00u);
    if (absx >= 0x477ff000u)            /* 65520 and up round to infinity */
        return (uint16_t)(sign | 0x7c00u);
    if (absx < 0x38800000u) {           /* below 2^-14: a subnormal, counted in 2^-24 */
        float v;
        memcpy(&v, &absx, sizeof v);
        return (uint16_t)(sign | (uint32_t)nearbyintf(v * 16777216.0f));
    }
    e = (int32_t)(absx >> 23) - 127 + 15;
    mant = absx & 0x7fffffu;
    h = ((uint32_t)e << 10) | (mant >> 13);
    rem = mant & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
        h++;
    return (uint16_t)(sign | h);
}

static float
f16_to_float(uint16_t h)
{
    uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    float v = e == 0 ? ldexpf((float)m, -24)
            : e == 31 ? (m ? NAN : INFINITY) : ldexpf((float)(m | 0x400u), (int)e - 25);
    return (h & 0x8000u) ? -v : v;
}

static uint16_t
bf16_from_float(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

static float
bf16_to_float(uint16_t b)
{
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

void
test_store(mpscl_data_type t, void *base, size_t i, double v)
{
    switch (t) {
    case MPSCL_DATA_TYPE_FLOAT32: ((float *)base)[i] = (float)v; break;
    case MPSCL_DATA_TYPE_FLOAT16: ((uint16_t *)base)[i] = f16_from_float((float)v); break;
    case MPSCL_DATA_TYPE_BFLOAT16: ((uint16_t *)base)[i] = bf16_from_float((float)v); break;
    case MPSCL_DATA_TYPE_FLOAT64: ((double *)base)[i] = v; break;
    }
}

double
test_load(mpscl_data_type t, const void *base, size_t i)
{
    switch (t) {
    case MPSCL_DATA_TYPE_FLOAT32: return ((const float *)base)[i];
    case MPSCL_DATA_TYPE_FLOAT16: return f16_to_float(((const uint16_t *)base)[i]);
    case MPSCL_DATA_TYPE_BFLOAT16: return bf16_to_float(((const uint16_t *)base)[i]);
    case MPSCL_DATA_TYPE_FLOAT64: return ((const double *)base)[i];
    }
    return NAN;
}
