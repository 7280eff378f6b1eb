/* Numerics under stress, fp32, against the fp64 reference (tools/ref.h).
 *
 * Tolerances. Where an output's inputs are well conditioned the bound is bn_cases.c's 1e-6
 * (norm-wise relative): sums of random-sign rounding errors over the tree reduction grow like
 * sqrt(count) u, far below it, plus about 10 roundings per element. Two things are not
 * conditioned that way, and are checked against what fp32 can promise instead:
 *   - statistics of a column whose |mean| >> std: the forward sums x - p (p the column's first
 *     element) and takes deviations about the mean as that pair, so the mean is good to its
 *     own rounding (an ulp of a large number, which can be a good part of std) and the
 *     variance to 1e-5 of the true one, never E[x^2] - E[x]^2 (which would cancel to noise).
 *   - subnormal outputs carry fewer than 24 bits: an absolute floor of a few subnormal ulps
 *     (FLT_TRUE_MIN) is added to the bound there; on a device without CL_FP_DENORM the floor is
 *     FLT_MIN (flushed to zero).
 *
 * NaN and infinity behaviour (the kernels follow IEEE 754 with no special cases, per column):
 *   - forward with compute_statistics: a NaN or infinity anywhere in a column of x makes that
 *     column's mean and variance NaN or infinite (inf - inf in the squared deviations is NaN),
 *     so the whole column of y is NaN; other columns are unaffected, bit for bit.
 *   - forward with given statistics: only the elements of y whose x is NaN/inf are NaN/inf.
 *   - gradient: a NaN in dy of column j, or in x or the statistics of column j, makes dgamma_j
 *     NaN, hence all of column j of dx; an infinity in dy makes dbeta_j and dgamma_j infinite
 *     and column j of dx NaN or infinite as IEEE arithmetic of the formula gives. dbeta_j is
 *     sum dy f'(z): with a constant f' (NONE, LINEAR) the kernel never evaluates f', so a NaN in
 *     x alone leaves dbeta_j finite (tools/ref.c's f'(NaN) = NaN convention would not; that
 *     test compares dbeta with sum dy directly). Other columns are unaffected, bit for bit.
 *   The reference computes the same formulas in double, and the tests require: finite where it
 *   is finite (within the bound), NaN where it is NaN, the same infinity where it is infinite
 *   (on PoCL no infinity turns into NaN through a different order of operations; a device
 *   where one does would fail here and should be looked at).
 *   - epsilon 0 with a zero variance gives 0/0 = NaN per element (not tested: the reference in
 *     double may see a non-zero variance that fp32 rounds to 0).
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/ref.h"
#include "util.h"

static const double bound = 1e-6;   /* bn_cases.c's bn_bound */

/* One problem on the host and its device results. */
typedef struct bn {
    size_t n, c;
    float eps;
    int dbeta_from_dy;            /* see test_nan_inf */
    float *x, *dy, *gamma, *beta;
    float *mean, *var;            /* in: given statistics; out: computed ones */
    float *y, *dx, *dg, *db;      /* device results */
} bn;

static float *
floats(size_t n)
{
    float *p = calloc(n, sizeof *p);
    ck_assert_ptr_nonnull(p);
    return p;
}

static double *
doubles(size_t n)
{
    double *p = calloc(n, sizeof *p);
    ck_assert_ptr_nonnull(p);
    return p;
}

static void
bn_alloc(bn *b, size_t n, size_t c, float eps)
{
    memset(b, 0, sizeof *b);
    b->n = n, b->c = c, b->eps = eps;
    b->x = floats(n * c), b->dy = floats(n * c), b->y = floats(n * c), b->dx = floats(n * c);
    b->gamma = floats(c), b->beta = floats(c), b->mean = floats(c), b->var = floats(c);
    b->dg = floats(c), b->db = floats(c);
    for (size_t j = 0; j < c; j++) {
        b->gamma[j] = 0.75f + 0.125f * (float)j;
        b->beta[j] = 0.5f - 0.25f * (float)j;
    }
}

static void
bn_free(bn *b)
{
    free(b->x), free(b->dy), free(b->y), free(b->dx), free(b->gamma), free(b->beta);
    free(b->mean), free(b->var), free(b->dg), free(b->db);
}

static mpscl_matrix *
matrix(size_t n, size_t c, const float *host)
{
    mpscl_matrix_descriptor md = mpscl_matrix_descriptor_make(n, c, c * sizeof(float),
                                                              MPSCL_DATA_TYPE_FLOAT32);
    mpscl_matrix *m;

    ASSERT_OK(mpscl_matrix_create(test_device, &md, &m));
    if (host != NULL)
        ASSERT_OK(mpscl_matrix_write(m, host, c * sizeof(float)));
    return m;
}

static mpscl_vector *
vector(size_t c, const float *host)
{
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make(c, MPSCL_DATA_TYPE_FLOAT32);
    mpscl_vector *v;

    ASSERT_OK(mpscl_vector_create(test_device, &vd, &v));
    if (host != NULL)
        ASSERT_OK(mpscl_vector_write(v, host));
    return v;
}

/* The forward (statistics computed into b->mean, b->var when stats, else read from them), then
 * the gradient with b->mean and b->var as they are after the forward. */
static void
bn_run(bn *b, int stats)
{
    mpscl_matrix *x = matrix(b->n, b->c, b->x), *dy = matrix(b->n, b->c, b->dy);
    mpscl_matrix *y = matrix(b->n, b->c, NULL), *dx = matrix(b->n, b->c, NULL);
    mpscl_vector *mean = vector(b->c, b->mean), *var = vector(b->c, b->var);
    mpscl_vector *gamma = vector(b->c, b->gamma), *beta = vector(b->c, b->beta);
    mpscl_vector *dg = vector(b->c, NULL), *db = vector(b->c, NULL);
    mpscl_matrix_batch_normalization *f;
    mpscl_matrix_batch_normalization_gradient *g;
    mpscl_command_buffer *cb;

    ASSERT_OK(mpscl_matrix_batch_normalization_create(test_device, &f));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_compute_statistics(f, stats));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_epsilon(f, b->eps));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_create(test_device, &g));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_epsilon(g, b->eps));
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    ASSERT_OK(mpscl_matrix_batch_normalization_encode(f, cb, x, mean, var, gamma, beta, y));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_encode(g, cb, dy, x, mean, var, gamma,
                                                               beta, dx, dg, db));
    ASSERT_OK(mpscl_command_buffer_commit(cb));
    ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb));
    ASSERT_OK(mpscl_matrix_read(y, b->y, b->c * sizeof(float)));
    ASSERT_OK(mpscl_matrix_read(dx, b->dx, b->c * sizeof(float)));
    ASSERT_OK(mpscl_vector_read(mean, b->mean));
    ASSERT_OK(mpscl_vector_read(var, b->var));
    ASSERT_OK(mpscl_vector_read(dg, b->dg));
    ASSERT_OK(mpscl_vector_read(db, b->db));
    mpscl_command_buffer_release(cb);
    mpscl_matrix_batch_normalization_release(f);
    mpscl_matrix_batch_normalization_gradient_release(g);
    mpscl_matrix_release(x), mpscl_matrix_release(dy), mpscl_matrix_release(y);
    mpscl_matrix_release(dx);
    mpscl_vector_release(mean), mpscl_vector_release(var), mpscl_vector_release(gamma);
    mpscl_vector_release(beta), mpscl_vector_release(dg), mpscl_vector_release(db);
}

/* got (count floats) against want: relative L2 over the elements where want is finite at most
 * bound, plus floor * sqrt(count) absolute; NaN where want is NaN; the same infinity where want
 * is an infinity. */
static void
expect_close(const char *what, size_t count, const float *got, const double *want, double floor)
{
    double err = 0.0, norm = 0.0;
    size_t finite = 0;

    for (size_t i = 0; i < count; i++) {
        double g = got[i], w = want[i];
        if (isnan(w)) {
            ck_assert_msg(isnan(g), "%s[%zu]: %g where the reference is NaN", what, i, g);
        } else if (isinf(w)) {
            ck_assert_msg(g == w, "%s[%zu]: %g where the reference is %g", what, i, g, w);
        } else {
            ck_assert_msg(isfinite(g), "%s[%zu]: %g where the reference is %g", what, i, g, w);
            err += (g - w) * (g - w);
            norm += w * w;
            finite++;
        }
    }
    err = sqrt(err);
    norm = sqrt(norm);
    ck_assert_msg(err <= bound * norm + floor * sqrt((double)finite),
                  "%s: error %g, bound %g (relative %g of norm %g + floor %g)", what, err,
                  bound * norm + floor * sqrt((double)finite), bound, norm, floor);
}

/* Statistics, forward and gradient of b against the reference, with absolute floors for
 * elements and for sums (0 but for subnormals). The forward and gradient
 * references take the statistics the device used (b->mean, b->var); the computed statistics
 * are checked on their own, against the true ones. */
static void
bn_check(const bn *b, int stats, double floor, double floor_sum)
{
    size_t n = b->n, c = b->c;
    double *m = doubles(c), *v = doubles(c), *y = doubles(n * c), *dx = doubles(n * c);
    double *dg = doubles(c), *db = doubles(c);
    ref_view xv = {b->x, c};

    if (stats) {
        ref_bn_statistics(n, c, xv, m, v);
        expect_close("mean", c, b->mean, m, floor_sum);
        expect_close("variance", c, b->var, v, floor_sum);
    }
    ref_bn_forward(n, c, xv, b->mean, b->var, b->gamma, b->beta, b->eps, NULL, y);
    expect_close("y", n * c, b->y, y, floor);
    ref_bn_gradient(n, c, (ref_view){b->dy, c}, xv, b->mean, b->var, b->gamma, b->beta, b->eps,
                    NULL, dx, dg, db);
    expect_close("dx", n * c, b->dx, dx, floor);
    if (b->dbeta_from_dy)
        for (size_t j = 0; j < c; j++) {
            db[j] = 0.0;
            for (size_t i = 0; i < n; i++)
                db[j] += b->dy[i * c + j];
        }
    expect_close("dgamma", c, b->dg, dg, floor_sum);
    expect_close("dbeta", c, b->db, db, floor_sum);
    free(m), free(v), free(y), free(dx), free(dg), free(db);
}

/* Given statistics: the reference's, rounded to float. */
static void
given_statistics(bn *b)
{
    double *m = doubles(b->c), *v = doubles(b->c);

    ref_bn_statistics(b->n, b->c, (ref_view){b->x, b->c}, m, v);
    for (size_t j = 0; j < b->c; j++) {
        b->mean[j] = (float)m[j];
        b->var[j] = (float)v[j];
    }
    free(m), free(v);
}

/* dy leaning on x: dy = 1/2 + 3/10 xhat + noise in [-1, 1) with the reference's statistics, so
 * dgamma and dbeta are well-conditioned sums, and dx (the noise left after removing dy's mean
 * and xhat parts) does not cancel either. Call before putting NaN or infinity into x. */
static void
fill_dy(bn *b, uint64_t seed)
{
    double *m = doubles(b->c), *v = doubles(b->c);

    ref_bn_statistics(b->n, b->c, (ref_view){b->x, b->c}, m, v);
    for (size_t i = 0; i < b->n * b->c; i++) {
        size_t j = i % b->c;
        double xh = v[j] > 0.0 ? ((double)b->x[i] - m[j]) / sqrt(v[j]) : 0.0;
        b->dy[i] = (float)(0.5 + 0.3 * xh) + test_rng_uniform(&seed, -1.0f, 1.0f);
    }
    free(m), free(v);
}

/* |mean| >> std: x = 1e4 (j + 1) + 1e-2 u, with computed and with given statistics. */
START_TEST(test_large_offset)
{
    bn b;
    uint64_t rng = 1;
    double *m, *v;

    bn_alloc(&b, 4096, 6, 1e-5f);
    for (size_t i = 0; i < b.n * b.c; i++)
        b.x[i] = 1e4f * (float)(i % b.c + 1) + test_rng_uniform(&rng, -1e-2f, 1e-2f);
    fill_dy(&b, 2);
    bn_run(&b, 1);
    bn_check(&b, 1, 0, 0);
    /* The shifted sums (bn_forward.cl) against the true statistics: the mean within an ulp (its
     * own rounding; an unshifted fp32 sum is off by a good part of std here), the variance, about
     * the unrounded mean, to 1e-5. */
    m = doubles(b.c), v = doubles(b.c);
    ref_bn_statistics(b.n, b.c, (ref_view){b.x, b.c}, m, v);
    for (size_t j = 0; j < b.c; j++) {
        double ulp = nextafterf((float)m[j], INFINITY) - (float)m[j];
        ck_assert_msg(fabs(b.mean[j] - m[j]) <= ulp, "column %zu: mean %.9g, true %.9g", j,
                      b.mean[j], m[j]);
        ck_assert_msg(fabs(b.var[j] - v[j]) <= 1e-5 * v[j], "column %zu: variance %g, true %g",
                      j, b.var[j], v[j]);
    }
    free(m), free(v);
    given_statistics(&b);
    bn_run(&b, 0);
    bn_check(&b, 0, 0, 0);
    bn_free(&b);
}
END_TEST

/* Constant columns (variance 0): 3.25 and -7.5e3 sum exactly in fp32, 0.1 does not; a random
 * column beside them. _i: epsilon FLT_MIN (the default) or 1e-5. */
START_TEST(test_constant_columns)
{
    static const float constants[] = {3.25f, 0.1f, -7.5e3f};
    bn b;
    uint64_t rng = 3;

    bn_alloc(&b, 1000, 4, _i == 0 ? FLT_MIN : 1e-5f);
    for (size_t i = 0; i < b.n; i++) {
        for (size_t j = 0; j < 3; j++)
            b.x[i * b.c + j] = constants[j];
        b.x[i * b.c + 3] = test_rng_uniform(&rng, -2.0f, 1.0f);
    }
    fill_dy(&b, 4);
    bn_run(&b, 1);
    bn_check(&b, 1, 0, 0);
    /* Exactly summable constants: the mean is the constant, the variance 0, and y = beta. */
    for (size_t j = 0; j < 3; j += 2) {
        ck_assert_msg(b.mean[j] == constants[j] && b.var[j] == 0.0f,
                      "column %zu: mean %a, variance %a", j, b.mean[j], b.var[j]);
        for (size_t i = 0; i < b.n; i++)
            ck_assert_float_eq(b.y[i * b.c + j], b.beta[j]);
    }
    given_statistics(&b);
    for (size_t j = 0; j < 3; j++)
        ck_assert_float_eq(b.var[j], 0.0f);
    bn_run(&b, 0);
    bn_check(&b, 0, 0, 0);
    for (size_t j = 0; j < 3; j++)
        for (size_t i = 0; i < b.n; i++)
            ck_assert_float_eq(b.y[i * b.c + j], b.beta[j]);
    bn_free(&b);
}
END_TEST

/* 1M rows: the longest reductions, all row chunks in use. */
START_TEST(test_million_rows)
{
    bn b;
    uint64_t rng = 5;

    if (test_skip_large("a million rows", 2 * 1048576))
        return;
    bn_alloc(&b, 1048576, 2, 1e-5f);
    for (size_t i = 0; i < b.n; i++) {
        b.x[2 * i] = 3.0f + test_rng_uniform(&rng, -2.0f, 2.0f);
        b.x[2 * i + 1] = -1.0f + test_rng_uniform(&rng, -0.5f, 0.5f);
    }
    fill_dy(&b, 6);
    bn_run(&b, 1);
    bn_check(&b, 1, 0, 0);
    given_statistics(&b);
    bn_run(&b, 0);
    bn_check(&b, 0, 0, 0);
    bn_free(&b);
}
END_TEST

/* Subnormal x in columns 0 and 3, subnormal dy in column 2. */
START_TEST(test_subnormals)
{
    cl_device_fp_config cfg = 0;
    double floor, floor_sum;
    bn b;
    uint64_t rng = 7;

    ck_assert_int_eq(clGetDeviceInfo(mpscl_device_cl_device_id(test_device),
                                     CL_DEVICE_SINGLE_FP_CONFIG, sizeof cfg, &cfg, NULL),
                     CL_SUCCESS);
    bn_alloc(&b, 512, 4, FLT_MIN);
    /* A few ulps of the smallest spacing per element; a sum rounds once per term. Without
     * CL_FP_DENORM the device may flush subnormals to zero: the spacing is then FLT_MIN. */
    floor = 16.0 * (cfg & CL_FP_DENORM ? FLT_TRUE_MIN : FLT_MIN);
    floor_sum = floor * (double)b.n;
    for (size_t i = 0; i < b.n; i++) {
        b.x[i * b.c + 0] = ldexpf((float)(test_rng_next(&rng) % 100), -140);
        b.x[i * b.c + 1] = test_rng_uniform(&rng, -1.0f, 1.0f);
        b.x[i * b.c + 2] = test_rng_uniform(&rng, 0.0f, 4.0f);
        b.x[i * b.c + 3] = -ldexpf((float)(test_rng_next(&rng) % 1000 + 1), -149);
    }
    fill_dy(&b, 8);
    for (size_t i = 0; i < b.n; i++)
        b.dy[i * b.c + 2] = ldexpf((float)(test_rng_next(&rng) % 50) - 10.0f, -145);
    bn_run(&b, 1);
    bn_check(&b, 1, floor, floor_sum);
    given_statistics(&b);
    bn_run(&b, 0);
    bn_check(&b, 0, floor, floor_sum);
    bn_free(&b);
}
END_TEST

/* NaN and infinities in x and dy (see the top of the file for what must come out). _i: 0
 * computed statistics, 1 the reference's statistics of the same data (NaN where it is), 2 the
 * statistics of the data without the NaNs and infinities (finite). */
START_TEST(test_nan_inf)
{
    bn b;
    uint64_t rng = 9;

    bn_alloc(&b, 300, 6, 1e-5f);
    /* With neuron NONE, f' = 1 and dbeta_j = sum_i dy_ij whatever x is: a NaN in x alone does
     * not reach dbeta (the kernel never evaluates f' for NONE or LINEAR), while the reference's
     * f'(NaN) = NaN convention would make it NaN. dbeta is checked against that sum. */
    b.dbeta_from_dy = 1;
    for (size_t i = 0; i < b.n * b.c; i++)
        b.x[i] = (float)(i % b.c) - 2.0f + test_rng_uniform(&rng, -1.0f, 1.0f);
    fill_dy(&b, 10);
    if (_i == 2)
        given_statistics(&b);
    b.x[5 * b.c + 0] = NAN;
    b.x[7 * b.c + 1] = INFINITY;
    b.x[11 * b.c + 4] = -INFINITY;
    b.dy[3 * b.c + 2] = NAN;
    b.dy[9 * b.c + 3] = -INFINITY;
    if (_i == 1)
        given_statistics(&b);
    bn_run(&b, _i == 0);
    bn_check(&b, _i == 0, 0, 0);
    /* column 5 is untouched by the others' NaNs */
    for (size_t i = 0; i < b.n; i++)
        ck_assert(isfinite(b.y[i * b.c + 5]) && isfinite(b.dx[i * b.c + 5]));
    bn_free(&b);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("stress");
    TCase *tc = tcase_create("fp32");

    tcase_add_checked_fixture(tc, test_device_setup, test_device_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_large_offset);
    tcase_add_loop_test(tc, test_constant_columns, 0, 2);
    tcase_add_test(tc, test_million_rows);
    tcase_add_test(tc, test_subnormals);
    tcase_add_loop_test(tc, test_nan_inf, 0, 3);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
