/* MPSMatrixBatchNormalizationGradient in fp32: every shape and layout of bn_cases against the
 * fp64 reference, in training mode and with frozen statistics, bitwise reruns, in-place use, and
 * every way an encode can be refused. */
#include "config.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bn_cases.h"
#include "tools/ref.h"
#include "util.h"

START_TEST(test_shapes)
{
    bn_check_gradient(&bn_cases[_i], &(bn_run){NULL, 0, 1, 0});
}
END_TEST

START_TEST(test_frozen_shapes)
{
    bn_check_gradient(&bn_cases[_i], &(bn_run){NULL, 0, 1, 1});
}
END_TEST

/* 10 reruns over the layouts most likely to expose an order that varies; _i >= 5: the same with
 * frozen statistics. */
static const char *const rerun_names[] = {"C=1000", "origins", "batch 3 from 1",
                                          "exact odd 1001x33", "70000x5 padded"};
enum { RERUN_CASES = sizeof rerun_names / sizeof rerun_names[0] };

START_TEST(test_bitwise_reruns)
{
    const char *name = rerun_names[_i % RERUN_CASES];

    for (size_t i = 0; i < bn_case_count; i++)
        if (strcmp(bn_cases[i].name, name) == 0) {
            bn_check_gradient(&bn_cases[i], &(bn_run){NULL, 0, 10, _i >= RERUN_CASES});
            return;
        }
    ck_abort_msg("no case named %s", name);
}
END_TEST

/* ---- a small valid encode, varied one operand at a time ---- */

enum { R = 6, C = 5 };

typedef struct fixture {
    mpscl_matrix *dy, *x, *dx;
    mpscl_vector *mean, *var, *gamma, *beta, *dgamma, *dbeta;
    mpscl_matrix_batch_normalization_gradient *k;
    mpscl_command_buffer *cb;
    float dx_init[R * C], dg_init[C];
} fixture;

static mpscl_matrix *
matrix_with(size_t rows, size_t cols, mpscl_data_type t, const float *values)
{
    mpscl_matrix_descriptor d =
        mpscl_matrix_descriptor_make(rows, cols, cols * mpscl_data_type_size(t), t);
    mpscl_matrix *m;

    ASSERT_OK(mpscl_matrix_create(test_device, &d, &m));
    if (values != NULL)
        ASSERT_OK(mpscl_matrix_write(m, values, cols * sizeof(float)));
    return m;
}

static mpscl_vector *
vector_with(size_t len, const float *values)
{
    mpscl_vector_descriptor d = mpscl_vector_descriptor_make(len, MPSCL_DATA_TYPE_FLOAT32);
    mpscl_vector *v;

    ASSERT_OK(mpscl_vector_create(test_device, &d, &v));
    if (values != NULL)
        ASSERT_OK(mpscl_vector_write(v, values));
    return v;
}

static void
fixture_make(fixture *f)
{
    float a[R * C], b[R * C], ones[C], zeros[C];
    uint64_t rng = 7;

    for (size_t i = 0; i < R * C; i++) {
        a[i] = test_rng_uniform(&rng, -1, 1);
        b[i] = test_rng_uniform(&rng, -1, 1);
        f->dx_init[i] = -12345.0f;
    }
    for (size_t j = 0; j < C; j++) {
        ones[j] = 1.0f;
        zeros[j] = 0.0f;
        f->dg_init[j] = -777.0f;
    }
    f->dy = matrix_with(R, C, MPSCL_DATA_TYPE_FLOAT32, a);
    f->x = matrix_with(R, C, MPSCL_DATA_TYPE_FLOAT32, b);
    f->dx = matrix_with(R, C, MPSCL_DATA_TYPE_FLOAT32, f->dx_init);
    f->mean = vector_with(C, zeros);
    f->var = vector_with(C, ones);
    f->gamma = vector_with(C, ones);
    f->beta = vector_with(C, zeros);
    f->dgamma = vector_with(C, f->dg_init);
    f->dbeta = vector_with(C, f->dg_init);
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_create(test_device, &f->k));
    ASSERT_OK(mpscl_command_buffer_create(test_device, &f->cb));
}

static mpscl_status
fixture_encode(fixture *f)
{
    return mpscl_matrix_batch_normalization_gradient_encode(f->k, f->cb, f->dy, f->x, f->mean,
                                                            f->var, f->gamma, f->beta, f->dx,
                                                            f->dgamma, f->dbeta);
}

/* After a refused encode: nothing reached the device, so the outputs hold their first bytes. */
static void
fixture_check_untouched(fixture *f)
{
    float dx[R * C], dg[C], db[C];

    ASSERT_OK(mpscl_command_buffer_commit(f->cb));
    ASSERT_OK(mpscl_command_buffer_wait_until_completed(f->cb));
    ASSERT_OK(mpscl_matrix_read(f->dx, dx, C * sizeof(float)));
    ASSERT_OK(mpscl_vector_read(f->dgamma, dg));
    ASSERT_OK(mpscl_vector_read(f->dbeta, db));
    ck_assert(memcmp(dx, f->dx_init, sizeof dx) == 0);
    ck_assert(memcmp(dg, f->dg_init, sizeof dg) == 0);
    ck_assert(memcmp(db, f->dg_init, sizeof db) == 0);
    ck_assert_msg(strlen(mpscl_last_error_message()) == 0, "success left a message");
}

static void
fixture_free(fixture *f)
{
    mpscl_matrix_release(f->dy);
    mpscl_matrix_release(f->x);
    mpscl_matrix_release(f->dx);
    mpscl_vector_release(f->mean);
    mpscl_vector_release(f->var);
    mpscl_vector_release(f->gamma);
    mpscl_vector_release(f->beta);
    mpscl_vector_release(f->dgamma);
    mpscl_vector_release(f->dbeta);
    mpscl_matrix_batch_normalization_gradient_release(f->k);
    mpscl_command_buffer_release(f->cb);
}

/* Expects status `want` with a message containing `word`, and no write. */
static void
expect_refused(fixture *f, mpscl_status got, mpscl_status want, const char *word)
{
    ASSERT_STATUS(got, want);
    ck_assert_msg(strstr(mpscl_last_error_message(), word) != NULL,
                  "message \"%s\" does not name \"%s\"", mpscl_last_error_message(), word);
    fixture_check_untouched(f);
}

#define NULL_OPERAND_TEST(name, field, word)                                                  \
    START_TEST(name)                                                                          \
    {                                                                                         \
        fixture f;                                                                            \
        void *saved;                                                                          \
        mpscl_status s;                                                                       \
        fixture_make(&f);                                                                     \
        saved = f.field;                                                                      \
        f.field = NULL;                                                                       \
        s = fixture_encode(&f);                                                               \
        f.field = saved;                                                                      \
        expect_refused(&f, s, MPSCL_ERROR_INVALID_ARGUMENT, word);                            \
        fixture_free(&f);                                                                     \
    }                                                                                         \
    END_TEST
NULL_OPERAND_TEST(test_null_gradient, dy, "gradient")
NULL_OPERAND_TEST(test_null_input, x, "input")
NULL_OPERAND_TEST(test_null_mean, mean, "mean")
NULL_OPERAND_TEST(test_null_variance, var, "variance")
NULL_OPERAND_TEST(test_null_result, dx, "result_gradient_for_data")

START_TEST(test_null_kernel_and_buffer)
{
    fixture f;
    fixture_make(&f);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_gradient_encode(NULL, f.cb, f.dy, f.x, f.mean,
                  f.var, NULL, NULL, f.dx, NULL, NULL), MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_gradient_encode(f.k, NULL, f.dy, f.x, f.mean,
                  f.var, NULL, NULL, f.dx, NULL, NULL), MPSCL_ERROR_INVALID_ARGUMENT);
    fixture_check_untouched(&f);
    fixture_free(&f);
}
END_TEST

START_TEST(test_wrong_data_type)
{
    fixture f;
    mpscl_matrix *half;
    fixture_make(&f);
    half = matrix_with(R, C, MPSCL_DATA_TYPE_FLOAT16, NULL);
    mpscl_matrix_release(f.x);
    f.x = half;
    expect_refused(&f, fixture_encode(&f), MPSCL_ERROR_INVALID_DATA_TYPE, "input");
    fixture_free(&f);
}
END_TEST

START_TEST(test_other_device)
{
    fixture f;
    mpscl_device *other;
    mpscl_matrix_descriptor d = mpscl_matrix_descriptor_make(R, C, C * 4, MPSCL_DATA_TYPE_FLOAT32);
    mpscl_matrix *foreign;

    fixture_make(&f);
    ASSERT_OK(mpscl_device_create_default(&other));      /* a second context */
    ASSERT_OK(mpscl_matrix_create(other, &d, &foreign));
    ASSERT_STATUS(mpscl_matrix_batch_normalization_gradient_encode(f.k, f.cb, foreign, f.x,
                  f.mean, f.var, NULL, NULL, f.dx, NULL, NULL), MPSCL_ERROR_DEVICE_MISMATCH);
    ck_assert_ptr_nonnull(strstr(mpscl_last_error_message(), "gradient"));
    mpscl_matrix_release(foreign);
    mpscl_device_release(other);
    fixture_check_untouched(&f);
    fixture_free(&f);
}
END_TEST

START_TEST(test_origin_outside)
{
    fixture f;
    fixture_make(&f);
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_secondary_source_matrix_origin(
        f.k, (mpscl_origin){R, 0, 0}));
    expect_refused(&f, fixture_encode(&f), MPSCL_ERROR_OUT_OF_RANGE, "input");
    fixture_free(&f);
}
END_TEST

START_TEST(test_origin_z)
{
    fixture f;
    fixture_make(&f);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_gradient_set_result_matrix_origin(
        f.k, (mpscl_origin){0, 0, 1}), MPSCL_ERROR_INVALID_ARGUMENT);
    ck_assert_uint_eq(mpscl_matrix_batch_normalization_gradient_result_matrix_origin(f.k).z, 0);
    fixture_free(&f);
}
END_TEST

START_TEST(test_empty_region)
{
    fixture f;
    fixture_make(&f);
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_source_number_of_feature_vectors(f.k, 0));
    expect_refused(&f, fixture_encode(&f), MPSCL_ERROR_INVALID_SHAPE, "empty");
    fixture_free(&f);
}
END_TEST

START_TEST(test_short_vector)
{
    fixture f;
    fixture_make(&f);
    mpscl_vector_release(f.gamma);
    f.gamma = vector_with(C - 1, NULL);
    expect_refused(&f, fixture_encode(&f), MPSCL_ERROR_INVALID_SHAPE, "gamma");
    fixture_free(&f);
}
END_TEST

START_TEST(test_small_result)
{
    fixture f;
    fixture_make(&f);
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_result_matrix_origin(
        f.k, (mpscl_origin){1, 0, 0}));
    expect_refused(&f, fixture_encode(&f), MPSCL_ERROR_INVALID_SHAPE, "result_gradient_for_data");
    fixture_free(&f);
}
END_TEST

START_TEST(test_batch_past_end)
{
    fixture f;
    fixture_make(&f);
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_batch_start(f.k, 1));
    expect_refused(&f, fixture_encode(&f), MPSCL_ERROR_OUT_OF_RANGE, "batch_start");
    fixture_free(&f);
}
END_TEST

START_TEST(test_partial_overlap)
{
    fixture f;
    fixture_make(&f);
    /* dx over dy shifted by one row: pass 2 would read rows another item already wrote. */
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_source_number_of_feature_vectors(f.k, R - 1));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_result_matrix_origin(
        f.k, (mpscl_origin){1, 0, 0}));
    mpscl_matrix_release(f.dx);
    f.dx = mpscl_matrix_retain(f.dy);
    ASSERT_STATUS(fixture_encode(&f), MPSCL_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mpscl_last_error_message(), "overlaps"));
    /* dgamma and dbeta on one vector */
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_result_matrix_origin(
        f.k, (mpscl_origin){0, 0, 0}));
    mpscl_matrix_release(f.dx);
    f.dx = matrix_with(R, C, MPSCL_DATA_TYPE_FLOAT32, f.dx_init);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_gradient_encode(f.k, f.cb, f.dy, f.x, f.mean,
                  f.var, NULL, NULL, f.dx, f.dgamma, f.dgamma), MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_gradient_encode(f.k, f.cb, f.dy, f.x, f.mean,
                  f.var, f.dgamma, NULL, f.dx, f.dgamma, NULL), MPSCL_ERROR_INVALID_ARGUMENT);
    fixture_check_untouched(&f);
    fixture_free(&f);
}
END_TEST

/* Column blocks of one buffer do not overlap: dx in columns 3..5 of a matrix whose columns
 * 0..2 hold dy is accepted and correct. */
START_TEST(test_in_place_and_side_by_side)
{
    enum { N = 40, W = 3 };
    float both[N * 2 * W], dy[N * W], x[N * W], mean[W], var[W], got[N * 2 * W];
    double want[N * W], m[W], v[W];
    uint64_t rng = 99;
    mpscl_matrix *buf, *xm;
    mpscl_vector *mv, *vv;
    mpscl_matrix_batch_normalization_gradient *k;
    mpscl_command_buffer *cb;

    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < W; j++) {
            dy[i * W + j] = both[i * 2 * W + j] = test_rng_uniform(&rng, -1, 1);
            x[i * W + j] = test_rng_uniform(&rng, -2, 3);
            both[i * 2 * W + W + j] = 5.0f;
        }
    ref_bn_statistics(N, W, (ref_view){x, W}, m, v);
    for (size_t j = 0; j < W; j++) {
        mean[j] = (float)m[j];
        var[j] = (float)v[j];
    }
    ref_bn_gradient(N, W, (ref_view){dy, W}, (ref_view){x, W}, mean, var, NULL, NULL, FLT_MIN,
                    NULL, want, NULL, NULL);
    buf = matrix_with(N, 2 * W, MPSCL_DATA_TYPE_FLOAT32, both);
    xm = matrix_with(N, W, MPSCL_DATA_TYPE_FLOAT32, x);
    mv = vector_with(W, mean);
    vv = vector_with(W, var);
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_create(test_device, &k));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_source_input_feature_channels(k, W));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_result_matrix_origin(
        k, (mpscl_origin){0, W, 0}));
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_encode(k, cb, buf, xm, mv, vv, NULL, NULL,
                                                               buf, NULL, NULL));
    /* in place: dx exactly over dy, in the same command buffer after the first */
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_result_matrix_origin(
        k, (mpscl_origin){0, 0, 0}));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_encode(k, cb, buf, xm, mv, vv, NULL, NULL,
                                                               buf, NULL, NULL));
    ASSERT_OK(mpscl_command_buffer_commit(cb));
    ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb));
    ASSERT_OK(mpscl_matrix_read(buf, got, 2 * W * sizeof(float)));
    ck_assert_double_le(ref_rel_l2(N, W, (ref_view){got + W, 2 * W}, want), 1e-6);
    ck_assert_double_le(ref_rel_l2(N, W, (ref_view){got, 2 * W}, want), 1e-6);
    mpscl_command_buffer_release(cb);
    mpscl_matrix_batch_normalization_gradient_release(k);
    mpscl_matrix_release(buf);
    mpscl_matrix_release(xm);
    mpscl_vector_release(mv);
    mpscl_vector_release(vv);
}
END_TEST

/* ||got - want|| / ||want|| of two packed n x c arrays. */
static double
rel_diff(size_t count, const double *got, const double *want)
{
    double d = 0.0, w = 0.0;

    for (size_t k = 0; k < count; k++) {
        d += (got[k] - want[k]) * (got[k] - want[k]);
        w += want[k] * want[k];
    }
    return sqrt(d / w);
}

/* Layouts the frozen test runs in (MPSCL_TUNE, read when a kernel object is created): the plan's,
 * two launches, one launch, row streaming, one group per column tile. */
static const char *const frozen_tunings[] = {
    "", "rows=0,tile=0,fused=0", "fused=1", "rows=1", "rows=0,tile=1",
};

/* Frozen statistics drop dx's mean terms. The data make those terms large (dy leans on x and has
 * a non-zero mean, so dbeta/N and xhat dgamma/N are of the order of dz): the device must match
 * gamma s dz and be far from the training form, into a separate result, in place over the
 * gradient and in place over the input; dgamma and dbeta are the training-mode sums. Setting 0
 * back gives training mode again, in the same command buffer. */
START_TEST(test_frozen_drops_mean_terms)
{
    enum { N = 40, W = 3 };
    static const float gamma[W] = {0.75f, 1.25f, -0.5f}, beta[W] = {0.125f, -0.25f, 0.5f};
    static const ref_neuron leaky = {MPSCL_NEURON_RELU, 0.125, 0, 0};
    float dy[N * W], x[N * W], mean[W], var[W], got[N * W], dgot[W], bgot[W];
    double frozen[N * W], train[N * W], got_d[N * W], m[W], v[W], dg[W], db[W], tdg[W], tdb[W];
    uint64_t rng = 1234;
    mpscl_matrix *dym, *xm, *dx, *dx_train, *dy_in_place, *x_in_place;
    mpscl_vector *mv, *vv, *gv, *bv, *dgv, *dbv;
    mpscl_matrix_batch_normalization_gradient *k;
    mpscl_command_buffer *cb;
    mpscl_matrix *results[3];

    ck_assert_int_eq(setenv("MPSCL_TUNE", frozen_tunings[_i], 1), 0);
    for (size_t i = 0; i < N * W; i++) {
        x[i] = test_rng_uniform(&rng, -2, 3);
        dy[i] = 0.5f + 0.5f * x[i] + test_rng_uniform(&rng, -0.25f, 0.25f);
    }
    ref_bn_statistics(N, W, (ref_view){x, W}, m, v);
    for (size_t j = 0; j < W; j++) {
        mean[j] = (float)m[j];
        var[j] = (float)v[j];
    }
    ref_bn_gradient_frozen(N, W, (ref_view){dy, W}, (ref_view){x, W}, mean, var, gamma, beta,
                           1e-5f, &leaky, frozen, dg, db);
    ref_bn_gradient(N, W, (ref_view){dy, W}, (ref_view){x, W}, mean, var, gamma, beta, 1e-5f,
                    &leaky, train, tdg, tdb);
    /* The data are what the test needs: the training terms are no rounding error. */
    ck_assert_double_gt(rel_diff(N * W, train, frozen), 0.2);
    for (size_t j = 0; j < W; j++)
        ck_assert(dg[j] == tdg[j] && db[j] == tdb[j]);

    dym = matrix_with(N, W, MPSCL_DATA_TYPE_FLOAT32, dy);
    xm = matrix_with(N, W, MPSCL_DATA_TYPE_FLOAT32, x);
    dy_in_place = matrix_with(N, W, MPSCL_DATA_TYPE_FLOAT32, dy);
    x_in_place = matrix_with(N, W, MPSCL_DATA_TYPE_FLOAT32, x);
    dx = matrix_with(N, W, MPSCL_DATA_TYPE_FLOAT32, NULL);
    dx_train = matrix_with(N, W, MPSCL_DATA_TYPE_FLOAT32, NULL);
    mv = vector_with(W, mean);
    vv = vector_with(W, var);
    gv = vector_with(W, gamma);
    bv = vector_with(W, beta);
    dgv = vector_with(W, NULL);
    dbv = vector_with(W, NULL);
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_create(test_device, &k));
    ck_assert_int_eq(mpscl_matrix_batch_normalization_gradient_frozen_statistics(k), 0);
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_epsilon(k, 1e-5f));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_neuron_type(k, MPSCL_NEURON_RELU,
                                                                        0.125f, 0, 0));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_frozen_statistics(k, 1));
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_encode(k, cb, dym, xm, mv, vv, gv, bv, dx,
                                                               dgv, dbv));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_encode(k, cb, dy_in_place, xm, mv, vv, gv,
                                                               bv, dy_in_place, NULL, NULL));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_encode(k, cb, dym, x_in_place, mv, vv, gv,
                                                               bv, x_in_place, NULL, NULL));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_frozen_statistics(k, 0));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_encode(k, cb, dym, xm, mv, vv, gv, bv,
                                                               dx_train, NULL, NULL));
    ASSERT_OK(mpscl_command_buffer_commit(cb));
    ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb));

    results[0] = dx;
    results[1] = dy_in_place;
    results[2] = x_in_place;
    for (size_t r = 0; r < 3; r++) {
        ASSERT_OK(mpscl_matrix_read(results[r], got, W * sizeof(float)));
        for (size_t i = 0; i < N * W; i++)
            got_d[i] = got[i];
        ck_assert_msg(rel_diff(N * W, got_d, frozen) <= 1e-6, "%s: frozen dx %zu: error %g",
                      frozen_tunings[_i], r, rel_diff(N * W, got_d, frozen));
        ck_assert_double_gt(rel_diff(N * W, got_d, train), 0.2);
    }
    ASSERT_OK(mpscl_vector_read(dgv, dgot));
    ASSERT_OK(mpscl_vector_read(dbv, bgot));
    ck_assert_double_le(ref_rel_l2_vec(W, dgot, dg), 1e-6);
    ck_assert_double_le(ref_rel_l2_vec(W, bgot, db), 1e-6);
    ASSERT_OK(mpscl_matrix_read(dx_train, got, W * sizeof(float)));
    for (size_t i = 0; i < N * W; i++)
        got_d[i] = got[i];
    ck_assert_double_le(rel_diff(N * W, got_d, train), 1e-6);

    mpscl_command_buffer_release(cb);
    mpscl_matrix_batch_normalization_gradient_release(k);
    mpscl_matrix_release(dym);
    mpscl_matrix_release(xm);
    mpscl_matrix_release(dy_in_place);
    mpscl_matrix_release(x_in_place);
    mpscl_matrix_release(dx);
    mpscl_matrix_release(dx_train);
    mpscl_vector_release(mv);
    mpscl_vector_release(vv);
    mpscl_vector_release(gv);
    mpscl_vector_release(bv);
    mpscl_vector_release(dgv);
    mpscl_vector_release(dbv);
    unsetenv("MPSCL_TUNE");
}
END_TEST

START_TEST(test_committed_buffer)
{
    fixture f;
    fixture_make(&f);
    ASSERT_OK(mpscl_command_buffer_commit(f.cb));
    ASSERT_STATUS(fixture_encode(&f), MPSCL_ERROR_INVALID_STATE);
    ASSERT_OK(mpscl_command_buffer_wait_until_completed(f.cb));
    mpscl_command_buffer_release(f.cb);
    ASSERT_OK(mpscl_command_buffer_create(test_device, &f.cb));
    fixture_check_untouched(&f);
    fixture_free(&f);
}
END_TEST

START_TEST(test_properties)
{
    mpscl_matrix_batch_normalization_gradient *k, *copy;
    mpscl_origin o;

    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_create(test_device, &k));
    ck_assert_float_eq(mpscl_matrix_batch_normalization_gradient_epsilon(k), FLT_MIN);
    ck_assert_uint_eq(mpscl_matrix_batch_normalization_gradient_source_number_of_feature_vectors(k), SIZE_MAX);
    ck_assert_uint_eq(mpscl_matrix_batch_normalization_gradient_source_input_feature_channels(k), SIZE_MAX);
    ck_assert_uint_eq(mpscl_matrix_batch_normalization_gradient_batch_size(k), SIZE_MAX);
    ck_assert_uint_eq(mpscl_matrix_batch_normalization_gradient_batch_start(k), 0);
    ck_assert_int_eq(mpscl_matrix_batch_normalization_gradient_neuron_type(k), MPSCL_NEURON_NONE);
    ck_assert_ptr_null(mpscl_matrix_batch_normalization_gradient_label(k));
    ck_assert_int_eq(mpscl_matrix_batch_normalization_gradient_frozen_statistics(k), 0);
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_frozen_statistics(k, 0));
    ck_assert_int_eq(mpscl_matrix_batch_normalization_gradient_frozen_statistics(k), 0);
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_frozen_statistics(k, -7));
    ck_assert_int_eq(mpscl_matrix_batch_normalization_gradient_frozen_statistics(k), 1);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_gradient_set_epsilon(k, NAN), MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_gradient_set_epsilon(k, -1.0f), MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_gradient_set_epsilon(k, INFINITY), MPSCL_ERROR_INVALID_ARGUMENT);
    ck_assert_float_eq(mpscl_matrix_batch_normalization_gradient_epsilon(k), FLT_MIN);
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_epsilon(k, 0.0f));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_epsilon(k, 1e-3f));
    ASSERT_STATUS(mpscl_matrix_batch_normalization_gradient_set_neuron_type(k, MPSCL_NEURON_PRELU, 0, 0, 0),
                  MPSCL_ERROR_UNSUPPORTED);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_gradient_set_neuron_type(k, (mpscl_neuron_type)99, 0, 0, 0),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_gradient_set_neuron_type(k, MPSCL_NEURON_NONE, NAN, 0, 0),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_neuron_type(k, MPSCL_NEURON_NONE, 1, 2, 3));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_primary_source_matrix_origin(k, (mpscl_origin){1, 2, 0}));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_secondary_source_matrix_origin(k, (mpscl_origin){3, 4, 0}));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_result_matrix_origin(k, (mpscl_origin){5, 6, 0}));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_batch_start(k, 2));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_batch_size(k, 3));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_source_number_of_feature_vectors(k, 7));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_source_input_feature_channels(k, 8));
    {
        char label[] = "bn-grad";
        ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_label(k, label));
        label[0] = 'X';   /* the kernel keeps its own copy */
    }
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_copy(k, NULL, &copy));
    mpscl_matrix_batch_normalization_gradient_release(k);
    ck_assert_str_eq(mpscl_matrix_batch_normalization_gradient_label(copy), "bn-grad");
    ck_assert_float_eq(mpscl_matrix_batch_normalization_gradient_epsilon(copy), 1e-3f);
    ck_assert_float_eq(mpscl_matrix_batch_normalization_gradient_neuron_parameter_a(copy), 1);
    ck_assert_float_eq(mpscl_matrix_batch_normalization_gradient_neuron_parameter_b(copy), 2);
    ck_assert_float_eq(mpscl_matrix_batch_normalization_gradient_neuron_parameter_c(copy), 3);
    o = mpscl_matrix_batch_normalization_gradient_primary_source_matrix_origin(copy);
    ck_assert(o.x == 1 && o.y == 2 && o.z == 0);
    o = mpscl_matrix_batch_normalization_gradient_secondary_source_matrix_origin(copy);
    ck_assert(o.x == 3 && o.y == 4);
    o = mpscl_matrix_batch_normalization_gradient_result_matrix_origin(copy);
    ck_assert(o.x == 5 && o.y == 6);
    ck_assert_uint_eq(mpscl_matrix_batch_normalization_gradient_batch_start(copy), 2);
    ck_assert_uint_eq(mpscl_matrix_batch_normalization_gradient_batch_size(copy), 3);
    ck_assert_uint_eq(mpscl_matrix_batch_normalization_gradient_source_number_of_feature_vectors(copy), 7);
    ck_assert_uint_eq(mpscl_matrix_batch_normalization_gradient_source_input_feature_channels(copy), 8);
    ck_assert_ptr_eq(mpscl_matrix_batch_normalization_gradient_device(copy), test_device);
    ck_assert_int_eq(mpscl_matrix_batch_normalization_gradient_frozen_statistics(copy), 1);
    /* The copy's flag is its own. */
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_copy(copy, NULL, &k));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_frozen_statistics(copy, 0));
    ck_assert_int_eq(mpscl_matrix_batch_normalization_gradient_frozen_statistics(k), 1);
    ck_assert_int_eq(mpscl_matrix_batch_normalization_gradient_frozen_statistics(copy), 0);
    mpscl_matrix_batch_normalization_gradient_release(k);
    mpscl_matrix_batch_normalization_gradient_release(copy);
    ck_assert_int_eq(mpscl_matrix_batch_normalization_gradient_frozen_statistics(NULL), 0);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_gradient_set_frozen_statistics(NULL, 1),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ck_assert_float_eq(mpscl_matrix_batch_normalization_gradient_epsilon(NULL), 0.0f);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_gradient_set_epsilon(NULL, 1.0f),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    mpscl_matrix_batch_normalization_gradient_release(NULL);
}
END_TEST

static Suite *
gradient_suite(void)
{
    Suite *s = suite_create("bn_gradient");
    TCase *tc = tcase_create("shapes");
    TCase *det = tcase_create("determinism");
    TCase *err = tcase_create("errors");

    tcase_add_checked_fixture(tc, test_device_setup, test_device_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_shapes, 0, (int)bn_case_count);
    tcase_add_loop_test(tc, test_frozen_shapes, 0, (int)bn_case_count);
    tcase_add_loop_test(tc, test_frozen_drops_mean_terms, 0,
                        (int)(sizeof frozen_tunings / sizeof frozen_tunings[0]));
    suite_add_tcase(s, tc);
    tcase_add_checked_fixture(det, test_device_setup, test_device_teardown);
    tcase_set_timeout(det, 300);
    tcase_add_loop_test(det, test_bitwise_reruns, 0, 2 * RERUN_CASES);
    suite_add_tcase(s, det);
    tcase_add_checked_fixture(err, test_device_setup, test_device_teardown);
    tcase_set_timeout(err, 120);
    tcase_add_test(err, test_null_gradient);
    tcase_add_test(err, test_null_input);
    tcase_add_test(err, test_null_mean);
    tcase_add_test(err, test_null_variance);
    tcase_add_test(err, test_null_result);
    tcase_add_test(err, test_null_kernel_and_buffer);
    tcase_add_test(err, test_wrong_data_type);
    tcase_add_test(err, test_other_device);
    tcase_add_test(err, test_origin_outside);
    tcase_add_test(err, test_origin_z);
    tcase_add_test(err, test_empty_region);
    tcase_add_test(err, test_short_vector);
    tcase_add_test(err, test_small_result);
    tcase_add_test(err, test_batch_past_end);
    tcase_add_test(err, test_partial_overlap);
    tcase_add_test(err, test_in_place_and_side_by_side);
    tcase_add_test(err, test_committed_buffer);
    tcase_add_test(err, test_properties);
    suite_add_tcase(s, err);
    return s;
}

int
main(void)
{
    return test_run_suite(gradient_suite());
}
