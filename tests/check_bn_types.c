/* Data types: fp16 and bf16 storage (fp32 arithmetic) and fp64, in the forward and the gradient
 * (training mode and frozen statistics), against the fp64 reference on the same quantised inputs; stores that round to even at exact
 * ties; fp16 overflow; NaN propagation; mixed vector types; refused combinations.
 *
 * Bounds (relative L2): fp16 2^-10 and bf16 2^-7 (an fp32 computation whose result is rounded
 * once to a 11- or 8-bit significand: half an ulp, 2^-11 or 2^-8, per element, with the fp32
 * error far below); fp64 1e-12 (the fp32 derivation of bn_cases.c with u = 2^-53). */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/ref.h"
#include "util.h"

/* v as stored in type t, back as a float (exact for every type here: inputs start as floats). */
static float
quantise(mpscl_data_type t, float v)
{
    unsigned char b[8];
    test_store(t, b, 0, v);
    return (float)test_load(t, b, 0);
}

/* ---- typed operands ---- */

static mpscl_matrix *
matrix_from(mpscl_data_type t, size_t rows, size_t cols, const float *values)
{
    size_t es = mpscl_data_type_size(t);
    mpscl_matrix_descriptor d = mpscl_matrix_descriptor_make(rows, cols, (cols + 3) * es, t);
    unsigned char *host = calloc(rows * cols, es);
    mpscl_matrix *m;

    ck_assert_ptr_nonnull(host);
    for (size_t i = 0; i < rows * cols; i++)
        test_store(t, host, i, values != NULL ? values[i] : NAN);
    ASSERT_OK(mpscl_matrix_create(test_device, &d, &m));
    ASSERT_OK(mpscl_matrix_write(m, host, cols * es));
    free(host);
    return m;
}

static mpscl_vector *
vector_from(mpscl_data_type t, size_t len, const float *values)
{
    mpscl_vector_descriptor d = mpscl_vector_descriptor_make(len, t);
    unsigned char *host = calloc(len, mpscl_data_type_size(t));
    mpscl_vector *v;

    ck_assert_ptr_nonnull(host);
    for (size_t i = 0; i < len; i++)
        test_store(t, host, i, values != NULL ? values[i] : NAN);
    ASSERT_OK(mpscl_vector_create(test_device, &d, &v));
    ASSERT_OK(mpscl_vector_write(v, host));
    free(host);
    return v;
}

/* Reads a matrix or vector back as doubles (rows x cols packed). */
static double *
read_matrix(const mpscl_matrix *m)
{
    mpscl_data_type t = mpscl_matrix_data_type(m);
    size_t rows = mpscl_matrix_rows(m), cols = mpscl_matrix_columns(m);
    size_t es = mpscl_data_type_size(t);
    unsigned char *host = malloc(rows * cols * es);
    double *out = malloc(rows * cols * sizeof(double));

    ck_assert(host != NULL && out != NULL);
    ASSERT_OK(mpscl_matrix_read(m, host, cols * es));
    for (size_t i = 0; i < rows * cols; i++)
        out[i] = test_load(t, host, i);
    free(host);
    return out;
}

static double *
read_vector(const mpscl_vector *v)
{
    mpscl_data_type t = mpscl_vector_data_type(v);
    size_t len = mpscl_vector_length(v);
    unsigned char *host = malloc(len * mpscl_data_type_size(t));
    double *out = malloc(len * sizeof(double));

    ck_assert(host != NULL && out != NULL);
    ASSERT_OK(mpscl_vector_read(v, host));
    for (size_t i = 0; i < len; i++)
        out[i] = test_load(t, host, i);
    free(host);
    return out;
}

/* ||got - want|| / ||want|| over a region of a packed rows x ld array (got) and a packed n x c
 * array (want). */
static double
rel_l2(const double *got, size_t ld, size_t x0, size_t y0, const double *want, size_t n, size_t c)
{
    double d = 0, w = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < c; j++) {
            double g = got[(x0 + i) * ld + y0 + j], e = want[i * c + j];
            d += (g - e) * (g - e);
            w += e * e;
        }
    return w == 0 ? sqrt(d) : sqrt(d / w);
}

static void
commit_wait(mpscl_command_buffer *cb)
{
    ASSERT_OK(mpscl_command_buffer_commit(cb));
    ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb));
    mpscl_command_buffer_release(cb);
}

/* ---- every type against the reference ---- */

typedef struct type_row {
    mpscl_data_type t;
    int vectors;    /* 0: all fp32, 1: all of type t, 2: mixed */
} type_row;

static const type_row rows[] = {
    {MPSCL_DATA_TYPE_FLOAT16, 0}, {MPSCL_DATA_TYPE_FLOAT16, 1}, {MPSCL_DATA_TYPE_FLOAT16, 2},
    {MPSCL_DATA_TYPE_BFLOAT16, 0}, {MPSCL_DATA_TYPE_BFLOAT16, 1}, {MPSCL_DATA_TYPE_BFLOAT16, 2},
    {MPSCL_DATA_TYPE_FLOAT64, 0}, {MPSCL_DATA_TYPE_FLOAT64, 1}, {MPSCL_DATA_TYPE_FLOAT64, 2},
};
#define NROWS ((int)(sizeof rows / sizeof rows[0]))

/* By the type an output is stored in: an fp32 vector beside fp16 data is held to fp32's 1e-6
 * (all arithmetic is fp32), beside fp64 data likewise (its store rounds to fp32). */
static double
bound_for(mpscl_data_type t)
{
    return t == MPSCL_DATA_TYPE_FLOAT16 ? ldexp(1, -10)
         : t == MPSCL_DATA_TYPE_BFLOAT16 ? ldexp(1, -7)
         : t == MPSCL_DATA_TYPE_FLOAT32 ? 1e-6 : 1e-12;
}

/* Vector i (mean, variance, gamma, beta, dgamma, dbeta) of a row: mixed alternates. */
static mpscl_data_type
vector_type(const type_row *r, int i)
{
    if (r->vectors == 0 || (r->vectors == 2 && i % 2 == 0))
        return MPSCL_DATA_TYPE_FLOAT32;
    return r->t;
}

enum { R = 77, C = 29 };

typedef struct typed_case {
    float x[R * C], dy[R * C], mean[C], var[C], gamma[C], beta[C];
    size_t n, c;
} typed_case;

/* Quantised data with a different offset and scale per column; dy leaning on x (see bn_cases.c);
 * statistics of the gradient's region, rounded to float, then to each vector's type. */
static void
typed_case_make(typed_case *tc, const type_row *r)
{
    uint64_t rng = 42 + (uint64_t)r->t;
    double m[C], v[C];

    for (size_t i = 0; i < R * C; i++) {
        float u = test_rng_uniform(&rng, -1, 1), scale = (float)(1 + i % C % 4);
        tc->x[i] = quantise(r->t, scale * ((float)(i % C % 3) - 1.0f + u));
        tc->dy[i] = quantise(r->t, test_rng_uniform(&rng, -1, 1) + 0.2f + 0.5f * u);
    }
    tc->n = R - 2;
    tc->c = C - 3;
    ref_bn_statistics(tc->n, tc->c, (ref_view){tc->x + 1 * C + 2, C}, m, v);
    for (size_t j = 0; j < C; j++) {
        tc->mean[j] = quantise(vector_type(r, 0), j < tc->c ? (float)m[j] : 0.0f);
        tc->var[j] = quantise(vector_type(r, 1), j < tc->c ? (float)v[j] : 1.0f);
        tc->gamma[j] = quantise(vector_type(r, 2), test_rng_uniform(&rng, 0.5f, 1.5f));
        tc->beta[j] = quantise(vector_type(r, 3), test_rng_uniform(&rng, -0.5f, 0.5f));
    }
}

/* _i past the rows: the same row with frozen statistics. */
START_TEST(test_gradient_types)
{
    const type_row *r = &rows[_i % NROWS];
    int frozen = _i >= NROWS;
    typed_case *tc = malloc(sizeof *tc);
    double want_dx[R * C], want_dg[C], want_db[C], *dx, *dg, *db, e;
    mpscl_matrix *mdy, *mx, *mdx;
    mpscl_vector *vm, *vv, *vg, *vb, *vdg, *vdb;
    mpscl_matrix_batch_normalization_gradient *k;
    mpscl_command_buffer *cb;

    if (!mpscl_device_supports_data_type(test_device, r->t))
        return;   /* fp64 on a device without it: test_refusals covers the status */
    ck_assert_ptr_nonnull(tc);
    typed_case_make(tc, r);
    mdy = matrix_from(r->t, R, C, tc->dy);
    mx = matrix_from(r->t, R, C, tc->x);
    mdx = matrix_from(r->t, R, C, NULL);
    vm = vector_from(vector_type(r, 0), C, tc->mean);
    vv = vector_from(vector_type(r, 1), C, tc->var);
    vg = vector_from(vector_type(r, 2), C, tc->gamma);
    vb = vector_from(vector_type(r, 3), C, tc->beta);
    vdg = vector_from(vector_type(r, 4), C, NULL);
    vdb = vector_from(vector_type(r, 5), C, NULL);
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_create(test_device, &k));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_epsilon(k, 1e-5f));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_primary_source_matrix_origin(k, (mpscl_origin){2, 3, 0}));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_secondary_source_matrix_origin(k, (mpscl_origin){1, 2, 0}));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_result_matrix_origin(k, (mpscl_origin){0, 1, 0}));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_frozen_statistics(k, frozen));
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_encode(k, cb, mdy, mx, vm, vv, vg, vb, mdx,
                                                               vdg, vdb));
    commit_wait(cb);
    (frozen ? ref_bn_gradient_frozen : ref_bn_gradient)(
        tc->n, tc->c, (ref_view){tc->dy + 2 * C + 3, C}, (ref_view){tc->x + 1 * C + 2, C},
        tc->mean, tc->var, tc->gamma, tc->beta, 1e-5f, NULL, want_dx, want_dg, want_db);
    dx = read_matrix(mdx);
    dg = read_vector(vdg);
    db = read_vector(vdb);
    e = rel_l2(dx, C, 0, 1, want_dx, tc->n, tc->c);
    ck_assert_msg(e <= bound_for(r->t), "type %d/%d%s: dx error %g", r->t, r->vectors,
                  frozen ? " frozen" : "", e);
    if (getenv("MPSCL_TEST_VERBOSE") != NULL)
        fprintf(stderr, "gradient%s type %d vectors %d: dx error %.3g\n", frozen ? "+frozen" : "",
                (int)r->t, r->vectors, e);
    e = rel_l2(dg, C, 0, 0, want_dg, 1, tc->c);
    ck_assert_msg(e <= bound_for(vector_type(r, 4)), "type %d/%d: dgamma error %g", r->t,
                  r->vectors, e);
    e = rel_l2(db, C, 0, 0, want_db, 1, tc->c);
    ck_assert_msg(e <= bound_for(vector_type(r, 5)), "type %d/%d: dbeta error %g", r->t,
                  r->vectors, e);
    /* Outside the region nothing was written: the NaN fill survives. */
    ck_assert(isnan(dx[0]) && isnan(dx[(R - 1) * C + C - 1]) && isnan(dg[C - 1]));
    free(dx);
    free(dg);
    free(db);
    mpscl_matrix_batch_normalization_gradient_release(k);
    mpscl_matrix_release(mdy);
    mpscl_matrix_release(mx);
    mpscl_matrix_release(mdx);
    mpscl_vector_release(vm);
    mpscl_vector_release(vv);
    mpscl_vector_release(vg);
    mpscl_vector_release(vb);
    mpscl_vector_release(vdg);
    mpscl_vector_release(vdb);
    free(tc);
}
END_TEST

START_TEST(test_forward_types)
{
    const type_row *r = &rows[_i];
    typed_case *tc = malloc(sizeof *tc);
    double want_y[R * C], m[C], v[C], *y, *gm, *gv, e;
    mpscl_matrix *mx, *my;
    mpscl_vector *vm, *vv, *vg, *vb;
    mpscl_matrix_batch_normalization *k;
    mpscl_command_buffer *cb;
    double xd[R * C], gd[C], bd[C];

    if (!mpscl_device_supports_data_type(test_device, r->t))
        return;
    ck_assert_ptr_nonnull(tc);
    typed_case_make(tc, r);
    mx = matrix_from(r->t, R, C, tc->x);
    my = matrix_from(r->t, R, C, NULL);
    vm = vector_from(vector_type(r, 0), C, NULL);
    vv = vector_from(vector_type(r, 1), C, NULL);
    vg = vector_from(vector_type(r, 2), C, tc->gamma);
    vb = vector_from(vector_type(r, 3), C, tc->beta);
    ASSERT_OK(mpscl_matrix_batch_normalization_create(test_device, &k));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_epsilon(k, 1e-5f));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_compute_statistics(k, 1));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_source_matrix_origin(k, (mpscl_origin){1, 2, 0}));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_source_number_of_feature_vectors(k, tc->n));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_source_input_feature_channels(k, tc->c));
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    ASSERT_OK(mpscl_matrix_batch_normalization_encode(k, cb, mx, vm, vv, vg, vb, my));
    commit_wait(cb);
    ref_bn_statistics(tc->n, tc->c, (ref_view){tc->x + 1 * C + 2, C}, m, v);
    gm = read_vector(vm);
    gv = read_vector(vv);
    e = rel_l2(gm, C, 0, 0, m, 1, tc->c);
    ck_assert_msg(e <= bound_for(vector_type(r, 0)), "type %d/%d: mean error %g", r->t,
                  r->vectors, e);
    e = rel_l2(gv, C, 0, 0, v, 1, tc->c);
    ck_assert_msg(e <= bound_for(vector_type(r, 1)), "type %d/%d: variance error %g", r->t,
                  r->vectors, e);
    /* y against the statistics the device stored, as the gradient would read them (in double:
     * fp64 statistics are not floats) */
    for (size_t i = 0; i < R * C; i++)
        xd[i] = tc->x[i];
    for (size_t j = 0; j < C; j++) {
        gd[j] = tc->gamma[j];
        bd[j] = tc->beta[j];
    }
    ref_bn_forward_d(tc->n, tc->c, (ref_dview){xd + 1 * C + 2, C}, gm, gv, gd, bd, (double)1e-5f,
                     NULL, want_y);
    y = read_matrix(my);
    e = rel_l2(y, C, 0, 0, want_y, tc->n, tc->c);
    ck_assert_msg(e <= bound_for(r->t), "type %d/%d: y error %g", r->t, r->vectors, e);
    free(y);
    free(gm);
    free(gv);
    mpscl_matrix_batch_normalization_release(k);
    mpscl_matrix_release(mx);
    mpscl_matrix_release(my);
    mpscl_vector_release(vm);
    mpscl_vector_release(vv);
    mpscl_vector_release(vg);
    mpscl_vector_release(vb);
    free(tc);
}
END_TEST

/* ---- rounding, overflow, NaN ---- */

/* y = x + beta exactly in fp32 (mean 0, variance 1, epsilon 0, no gamma): x and beta chosen so
 * that y is an exact tie in the storage type, which must round to the even neighbour. */
START_TEST(test_ties_round_to_even)
{
    static const mpscl_data_type types[] = {MPSCL_DATA_TYPE_FLOAT16, MPSCL_DATA_TYPE_BFLOAT16};
    mpscl_data_type t = types[_i];
    int bits = t == MPSCL_DATA_TYPE_FLOAT16 ? 10 : 7;     /* stored fraction bits */
    float half_ulp = ldexpf(1, -bits - 1), ulp = ldexpf(1, -bits);
    /* column 0: 1 + half_ulp, between 1 (even) and 1 + ulp (odd): down to 1;
     * column 1: 1 + 3 half_ulp, between 1 + ulp (odd) and 1 + 2 ulp (even): up;
     * column 2: -(1 + half_ulp): to -1; column 3: 2 - ulp + half_ulp, between 2 - ulp (odd)
     * and 2 (even): up to 2. */
    float x[4 * 4], beta[4] = {half_ulp, half_ulp, -half_ulp, half_ulp};
    float want[4] = {1.0f, 1.0f + 2 * ulp, -1.0f, 2.0f};
    float zero[4] = {0, 0, 0, 0}, one[4] = {1, 1, 1, 1};
    double *y;
    mpscl_matrix *mx, *my;
    mpscl_vector *vm, *vv, *vb;
    mpscl_matrix_batch_normalization *k;
    mpscl_command_buffer *cb;

    for (int i = 0; i < 4; i++) {
        x[i * 4 + 0] = 1.0f;
        x[i * 4 + 1] = 1.0f + ulp;
        x[i * 4 + 2] = -1.0f;
        x[i * 4 + 3] = 2.0f - ulp;
    }
    for (int j = 0; j < 4; j++)
        ck_assert_float_eq(quantise(t, x[j]), x[j]);
    mx = matrix_from(t, 4, 4, x);
    my = matrix_from(t, 4, 4, NULL);
    vm = vector_from(MPSCL_DATA_TYPE_FLOAT32, 4, zero);
    vv = vector_from(MPSCL_DATA_TYPE_FLOAT32, 4, one);
    vb = vector_from(MPSCL_DATA_TYPE_FLOAT32, 4, beta);
    ASSERT_OK(mpscl_matrix_batch_normalization_create(test_device, &k));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_epsilon(k, 0.0f));
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    ASSERT_OK(mpscl_matrix_batch_normalization_encode(k, cb, mx, vm, vv, NULL, vb, my));
    commit_wait(cb);
    y = read_matrix(my);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            ck_assert_msg(y[i * 4 + j] == want[j], "type %d column %d: %.9g, expected %.9g", t, j,
                          y[i * 4 + j], (double)want[j]);
    free(y);
    mpscl_matrix_batch_normalization_release(k);
    mpscl_matrix_release(mx);
    mpscl_matrix_release(my);
    mpscl_vector_release(vm);
    mpscl_vector_release(vv);
    mpscl_vector_release(vb);
}
END_TEST

/* fp16 tops out at 65504: a result past 65520 is stored as infinity, with its sign; bf16 has
 * fp32's range and keeps it. NaN in x makes y NaN in that element only (statistics given), and
 * in the gradient the column's sums, dgamma, dbeta and the whole dx column NaN, as the fp64
 * reference does; other columns stay finite. bf16 keeps NaN a NaN when storing. */
START_TEST(test_overflow_and_nan)
{
    static const mpscl_data_type types[] = {MPSCL_DATA_TYPE_FLOAT16, MPSCL_DATA_TYPE_BFLOAT16};
    mpscl_data_type t = types[_i];
    float x[3 * 2] = {60000.0f, 1.0f, -40000.0f, NAN, 0.0f, 2.0f};
    float zero[2] = {0, 0}, one[2] = {1, 1}, beta[2] = {10000.0f, 0.0f};
    double *y, *dx, *dg;
    mpscl_matrix *mx, *my, *mdy, *mdx;
    mpscl_vector *vm, *vv, *vb, *vdg;
    mpscl_matrix_batch_normalization *k;
    mpscl_matrix_batch_normalization_gradient *g;
    mpscl_command_buffer *cb;

    mx = matrix_from(t, 3, 2, x);
    my = matrix_from(t, 3, 2, NULL);
    {
        float dyv[6] = {1, -1, 0.5f, 1, -2, 1};
        mdy = matrix_from(t, 3, 2, dyv);
    }
    mdx = matrix_from(t, 3, 2, NULL);
    vm = vector_from(MPSCL_DATA_TYPE_FLOAT32, 2, zero);
    vv = vector_from(MPSCL_DATA_TYPE_FLOAT32, 2, one);
    vb = vector_from(MPSCL_DATA_TYPE_FLOAT32, 2, beta);
    vdg = vector_from(MPSCL_DATA_TYPE_FLOAT32, 2, NULL);
    ASSERT_OK(mpscl_matrix_batch_normalization_create(test_device, &k));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_epsilon(k, 0.0f));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_create(test_device, &g));
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    ASSERT_OK(mpscl_matrix_batch_normalization_encode(k, cb, mx, vm, vv, NULL, vb, my));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_encode(g, cb, mdy, mx, vm, vv, NULL, NULL,
                                                               mdx, vdg, NULL));
    commit_wait(cb);
    y = read_matrix(my);
    dx = read_matrix(mdx);
    dg = read_vector(vdg);
    if (t == MPSCL_DATA_TYPE_FLOAT16) {
        ck_assert(isinf(y[0]) && y[0] > 0);              /* 70000 */
        ck_assert_double_eq(y[2], -30000.0);             /* -40000 + 10000 */
    } else {
        ck_assert_double_eq(y[0], (double)quantise(MPSCL_DATA_TYPE_BFLOAT16, 70000.0f));
    }
    ck_assert(isnan(y[3]));                              /* the NaN element */
    ck_assert_double_eq(y[1], 1.0);
    ck_assert_double_eq(y[5], 2.0);
    ck_assert(isnan(dg[1]) && isnan(dx[1]) && isnan(dx[3]) && isnan(dx[5]));
    ck_assert(!isnan(dg[0]) && !isnan(dx[0]) && !isnan(dx[2]) && !isnan(dx[4]));
    free(y);
    free(dx);
    free(dg);
    mpscl_matrix_batch_normalization_release(k);
    mpscl_matrix_batch_normalization_gradient_release(g);
    mpscl_matrix_release(mx);
    mpscl_matrix_release(my);
    mpscl_matrix_release(mdy);
    mpscl_matrix_release(mdx);
    mpscl_vector_release(vm);
    mpscl_vector_release(vv);
    mpscl_vector_release(vb);
    mpscl_vector_release(vdg);
}
END_TEST

/* ---- refusals ---- */

START_TEST(test_refusals)
{
    float v[16] = {0};
    mpscl_matrix *h = matrix_from(MPSCL_DATA_TYPE_FLOAT16, 4, 4, v);
    mpscl_matrix *h2 = matrix_from(MPSCL_DATA_TYPE_FLOAT16, 4, 4, v);
    mpscl_matrix *f = matrix_from(MPSCL_DATA_TYPE_FLOAT32, 4, 4, v);
    mpscl_vector *vf = vector_from(MPSCL_DATA_TYPE_FLOAT32, 4, v);
    mpscl_vector *vbf = vector_from(MPSCL_DATA_TYPE_BFLOAT16, 4, v);
    mpscl_matrix_batch_normalization_gradient *g;
    mpscl_matrix_batch_normalization *k;
    mpscl_command_buffer *cb;
    mpscl_device *no64;
    mpscl_matrix *d64;
    mpscl_matrix_descriptor dd = mpscl_matrix_descriptor_make(4, 4, 32, MPSCL_DATA_TYPE_FLOAT64);

    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_create(test_device, &g));
    ASSERT_OK(mpscl_matrix_batch_normalization_create(test_device, &k));
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    /* matrices of two types */
    ASSERT_STATUS(mpscl_matrix_batch_normalization_gradient_encode(g, cb, h, f, vf, vf, NULL, NULL,
                  h2, NULL, NULL), MPSCL_ERROR_INVALID_DATA_TYPE);
    ck_assert_ptr_nonnull(strstr(mpscl_last_error_message(), "input"));
    ASSERT_STATUS(mpscl_matrix_batch_normalization_encode(k, cb, h, vf, vf, NULL, NULL, f),
                  MPSCL_ERROR_INVALID_DATA_TYPE);
    ck_assert_ptr_nonnull(strstr(mpscl_last_error_message(), "result"));
    /* a vector neither fp32 nor the matrices' type */
    ASSERT_STATUS(mpscl_matrix_batch_normalization_gradient_encode(g, cb, h, h2, vf, vf, vbf, NULL,
                  h, NULL, NULL), MPSCL_ERROR_INVALID_DATA_TYPE);
    ck_assert_ptr_nonnull(strstr(mpscl_last_error_message(), "gamma"));
    ASSERT_STATUS(mpscl_matrix_batch_normalization_gradient_encode(g, cb, h, h2, vf, vf, NULL, NULL,
                  f, NULL, vbf), MPSCL_ERROR_INVALID_DATA_TYPE);
    /* fp64 on a device that hides it */
    setenv("MPSCL_DISABLE_FP64", "1", 1);
    ASSERT_OK(mpscl_device_create_default(&no64));
    unsetenv("MPSCL_DISABLE_FP64");
    ck_assert_int_eq(mpscl_device_supports_data_type(no64, MPSCL_DATA_TYPE_FLOAT64), 0);
    ck_assert_int_eq(mpscl_device_supports_data_type(no64, MPSCL_DATA_TYPE_FLOAT16), 1);
    ck_assert_int_eq(mpscl_device_supports_data_type(no64, MPSCL_DATA_TYPE_BFLOAT16), 1);
    {
        mpscl_matrix_batch_normalization_gradient *g64;
        mpscl_command_buffer *cb64;
        mpscl_vector_descriptor vd = mpscl_vector_descriptor_make(4, MPSCL_DATA_TYPE_FLOAT32);
        mpscl_vector *v64;
        ASSERT_OK(mpscl_matrix_create(no64, &dd, &d64));
        ASSERT_OK(mpscl_vector_create(no64, &vd, &v64));
        ASSERT_OK(mpscl_matrix_batch_normalization_gradient_create(no64, &g64));
        ASSERT_OK(mpscl_command_buffer_create(no64, &cb64));
        ASSERT_STATUS(mpscl_matrix_batch_normalization_gradient_encode(g64, cb64, d64, d64, v64,
                      v64, NULL, NULL, d64, NULL, NULL), MPSCL_ERROR_UNSUPPORTED);
        ck_assert_ptr_nonnull(strstr(mpscl_last_error_message(), "float64"));
        ASSERT_OK(mpscl_command_buffer_commit(cb64));
        ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb64));
        mpscl_command_buffer_release(cb64);
        mpscl_matrix_batch_normalization_gradient_release(g64);
        mpscl_vector_release(v64);
        mpscl_matrix_release(d64);
    }
    mpscl_device_release(no64);
    commit_wait(cb);
    mpscl_matrix_batch_normalization_gradient_release(g);
    mpscl_matrix_batch_normalization_release(k);
    mpscl_matrix_release(h);
    mpscl_matrix_release(h2);
    mpscl_matrix_release(f);
    mpscl_vector_release(vf);
    mpscl_vector_release(vbf);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("bn_types");
    TCase *tc = tcase_create("types");
    TCase *ed = tcase_create("edges");

    tcase_add_checked_fixture(tc, test_device_setup, test_device_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_gradient_types, 0, 2 * NROWS);
    tcase_add_loop_test(tc, test_forward_types, 0, (int)(sizeof rows / sizeof rows[0]));
    suite_add_tcase(s, tc);
    tcase_add_checked_fixture(ed, test_device_setup, test_device_teardown);
    tcase_set_timeout(ed, 300);
    tcase_add_loop_test(ed, test_ties_round_to_even, 0, 2);
    tcase_add_loop_test(ed, test_overflow_and_nan, 0, 2);
    tcase_add_test(ed, test_refusals);
    suite_add_tcase(s, ed);
    return test_run_suite(s);
}
