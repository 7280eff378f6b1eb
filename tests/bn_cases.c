/* Shapes and layouts that break naive batch-normalization code, and the runners that hold the
 * device to the fp64 reference. Every operand lives in a user buffer with a leading offset, row
 * padding, batch padding and a tail, all filled with known bytes: after a run, every byte outside
 * the written region must be unchanged. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bn_cases.h"
#include "tools/ref.h"
#include "util.h"

#define D SIZE_MAX
/* name, rows, cols, mats, pad, nfv, nch, src, in, res, batch start/size, fill, optional */
const bn_case bn_cases[] = {
    {"1x1", 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, BN_FILL_RANDOM, BN_ALL_OPTIONAL},
    {"one row", 1, 7, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, BN_FILL_RANDOM, BN_ALL_OPTIONAL},
    {"two rows", 2, 5, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, BN_FILL_RANDOM, BN_ALL_OPTIONAL},
    {"one column", 37, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, BN_FILL_RANDOM, BN_ALL_OPTIONAL},
    {"C=3", 33, 3, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, BN_FILL_RANDOM, BN_ALL_OPTIONAL},
    {"C=65, 3 rows", 3, 65, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, BN_FILL_RANDOM, BN_ALL_OPTIONAL},
    {"C=65", 129, 65, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, BN_FILL_RANDOM, BN_ALL_OPTIONAL},
    {"C=1000", 100, 1000, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, BN_FILL_RANDOM, BN_ALL_OPTIONAL},
    {"C=1023", 64, 1023, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, BN_FILL_RANDOM, BN_ALL_OPTIONAL},
    {"C=4", 513, 4, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, BN_FILL_RANDOM, BN_ALL_OPTIONAL},
    {"N=100000 C=3", 100000, 3, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, BN_FILL_RANDOM, BN_ALL_OPTIONAL},
    {"4096x1024", 4096, 1024, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, BN_FILL_RANDOM, BN_ALL_OPTIONAL},
    {"70000x5 padded", 70000, 5, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, BN_FILL_RANDOM, BN_ALL_OPTIONAL},
    {"padded 300x64", 300, 64, 1, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, BN_FILL_RANDOM, BN_ALL_OPTIONAL},
    {"padded 257x130", 257, 130, 1, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, BN_FILL_RANDOM, BN_ALL_OPTIONAL},
    {"origins", 50, 40, 1, 2, 0, 0, 3, 5, 7, 2, 3, 5, 0, 0, BN_FILL_RANDOM, BN_ALL_OPTIONAL},
    {"origins, one row left", 9, 12, 1, 0, 0, 0, 8, 1, 8, 0, 0, 1, 0, 0, BN_FILL_RANDOM, BN_ALL_OPTIONAL},
    {"clipped by properties", 60, 30, 1, 1, 17, 11, 2, 3, 5, 1, 0, 0, 0, 0, BN_FILL_RANDOM, BN_ALL_OPTIONAL},
    {"properties past the matrix", 60, 30, 1, 0, 1000, 1000, 0, 0, 0, 0, 0, 0, 0, 0, BN_FILL_RANDOM, BN_ALL_OPTIONAL},
    {"one channel by property", 40, 20, 1, 0, 0, 1, 0, 4, 0, 4, 0, 0, 0, 0, BN_FILL_RANDOM, BN_ALL_OPTIONAL},
    {"batch 3 from 1", 40, 9, 3, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, BN_FILL_RANDOM, BN_ALL_OPTIONAL},
    {"batch 3 from 1, size 1", 40, 9, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, BN_FILL_RANDOM, BN_ALL_OPTIONAL},
    {"batch 4, origins", 31, 17, 4, 1, 0, 0, 1, 2, 2, 1, 0, 0, 0, 3, BN_FILL_RANDOM, BN_ALL_OPTIONAL},
    {"exact 64x16", 64, 16, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, BN_FILL_EXACT, BN_ALL_OPTIONAL},
    {"exact odd 1001x33", 1001, 33, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, BN_FILL_EXACT, BN_ALL_OPTIONAL},
    {"exact 100000x3", 100000, 3, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, BN_FILL_EXACT, BN_ALL_OPTIONAL},
#define OPT(o) {"optional operands " #o, 45, 13, 1, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, BN_FILL_RANDOM, o}
    OPT(0), OPT(1), OPT(2), OPT(3), OPT(4), OPT(5), OPT(6), OPT(7),
    OPT(8), OPT(9), OPT(10), OPT(11), OPT(12), OPT(13), OPT(14),
#undef OPT
};
#undef D
const size_t bn_case_count = sizeof bn_cases / sizeof bn_cases[0];

/* Bound on the norm-wise relative error of an fp32 result (u = 2^-24). Each column sum is a
 * sequential run of at most k = chunk_rows / ly terms per work-item, a tree of log2(ly) levels
 * and a sequential sum over at most 1024 chunks; with the worst-case rounding model that gives
 * (k + log2 ly + chunks) u relative to sum |terms|, but rounding errors of random sign grow like
 * the square root of the count: sqrt(n) u <= 1.9e-5 at n = 100000. On top of the sums, each
 * element costs about 10 roundings (subtract, scale, neuron, combine) and sqrt's 3 ulp.
 * The target of 1e-6 holds for our data (no column whose sum cancels by more than
 * ~8x), which these tests enforce; bn_bound keeps it and does not grow with n, so a change
 * that makes the reduction less accurate fails here. */
double
bn_bound(size_t n)
{
    (void)n;
    return 1e-6;
}

/* ---- operands in user buffers with guard bytes everywhere ---- */

#define LEAD 3     /* elements before the first one, at the matrix's offset */
#define TAIL 16    /* elements after the last */

typedef struct operand {
    float *init, *got;
    size_t total, ld, ms;   /* image size, row and batch strides in elements */
    cl_mem buf;
    mpscl_matrix *m;
    mpscl_vector *v;
} operand;

static uint32_t
bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float
sentinel(void)
{
    uint32_t u = 0x7fc0beefu;   /* a quiet NaN no computation produces */
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* A value in [-1, 1) that depends only on the element and the operand. */
static float
element_uniform(size_t b, size_t i, size_t j, int what)
{
    uint64_t state = ((uint64_t)b << 48) ^ ((uint64_t)i << 20) ^ (uint64_t)j ^
                     ((uint64_t)what << 62);
    return test_rng_uniform(&state, -1.0f, 1.0f);
}

/* Element (b, i, j) of x (what 0) or dy (what 1). dy leans on x, as real gradients do, so that
 * dgamma = sum dy xhat and dbeta = sum dy do not cancel down to their rounding errors: the 1e-6
 * bound is for well-conditioned sums (see bn_bound). */
static float
fill_value(const bn_case *c, int what, size_t b, size_t i, size_t j)
{
    float ux = element_uniform(b, i, j, 0);

    if (c->fill == BN_FILL_EXACT) {
        /* benchdnn's idea: x in pairs m (1 +- k/16) around the column mean m, so sums are exact
         * in any order; dy small integers with the sign of x's side, often zero. */
        float m = 0.25f * (float)(1 << (j % 7)), t = (float)((i / 2) % 7 + 1) / 16.0f;
        int last = c->rows % 2 == 1 && i == c->rows - 1;
        float k = (float)((int)((element_uniform(b, i, j, 1) + 1.0f) * 1.5f));
        if (what == 0)
            return last ? m : i % 2 == 0 ? m * (1.0f + t) : m * (1.0f - t);
        return last ? k : i % 2 == 0 ? k : -k;
    }
    if (what == 0) {
        /* A different scale and offset per column, offsets a few scales away from 0. */
        float scale = (float)(1 << (j % 5)) * 0.25f;
        return scale * (3.0f * (float)((int)(j % 3) - 1) + ux);
    }
    return element_uniform(b, i, j, 1) + 0.2f + 0.5f * ux;
}

static void
operand_matrix(operand *o, const bn_case *c, int what, uint64_t *rng)
{
    mpscl_matrix_descriptor d;

    o->ld = c->cols + c->pad;
    o->ms = c->rows * o->ld + (c->mats > 1 ? 5 : 0);   /* batch stride not a multiple of a row */
    o->total = LEAD + c->mats * o->ms + TAIL;
    o->init = malloc(o->total * sizeof(float));
    o->got = malloc(o->total * sizeof(float));
    ck_assert(o->init != NULL && o->got != NULL);
    for (size_t k = 0; k < o->total; k++)
        o->init[k] = what < 0 ? sentinel() : test_rng_uniform(rng, -9.0f, 9.0f);
    if (what >= 0)
        for (size_t b = 0; b < c->mats; b++)
            for (size_t i = 0; i < c->rows; i++)
                for (size_t j = 0; j < c->cols; j++)
                    o->init[LEAD + b * o->ms + i * o->ld + j] = fill_value(c, what, b, i, j);
    o->buf = test_buffer_create(o->init, o->total * sizeof(float));
    d = mpscl_matrix_descriptor_make_batch(c->rows, c->cols, c->mats, o->ld * sizeof(float),
                                           o->ms * sizeof(float), MPSCL_DATA_TYPE_FLOAT32);
    ASSERT_OK(mpscl_matrix_create_with_buffer(test_device, o->buf, LEAD * sizeof(float), &d, &o->m));
    o->v = NULL;
}

/* Vectors of cols + 2 elements, one per matrix, stride cols + 5, with the given content or the
 * sentinel (values NULL). values[b * cols + j]. */
static void
operand_vector(operand *o, const bn_case *c, const float *values)
{
    size_t len = c->cols + 2;
    mpscl_vector_descriptor d;

    o->ld = len;
    o->ms = c->cols + 5;
    o->total = LEAD + c->mats * o->ms + TAIL;
    o->init = malloc(o->total * sizeof(float));
    o->got = malloc(o->total * sizeof(float));
    ck_assert(o->init != NULL && o->got != NULL);
    for (size_t k = 0; k < o->total; k++)
        o->init[k] = sentinel();
    if (values != NULL)
        for (size_t b = 0; b < c->mats; b++)
            for (size_t j = 0; j < c->cols; j++)
                o->init[LEAD + b * o->ms + j] = values[b * c->cols + j];
    o->buf = test_buffer_create(o->init, o->total * sizeof(float));
    d = mpscl_vector_descriptor_make_batch(len, c->mats, o->ms * sizeof(float),
                                           MPSCL_DATA_TYPE_FLOAT32);
    ASSERT_OK(mpscl_vector_create_with_buffer(test_device, o->buf, LEAD * sizeof(float), &d, &o->v));
    o->m = NULL;
}

static void
operand_free(operand *o)
{
    mpscl_matrix_release(o->m);
    mpscl_vector_release(o->v);
    if (o->buf != NULL)
        clReleaseMemObject(o->buf);
    free(o->init);
    free(o->got);
    memset(o, 0, sizeof *o);
}

static void
operand_read(operand *o)
{
    test_buffer_read(o->buf, o->got, o->total * sizeof(float));
}

static ref_view
view_at(const operand *o, size_t b, size_t x, size_t y)
{
    ref_view v = {o->init + LEAD + b * o->ms + x * o->ld + y, o->ld};
    return v;
}

/* The processed region of a case. */
typedef struct region {
    size_t n, c, b0, nb;
} region;

static size_t
min3(size_t a, size_t b, size_t c)
{
    size_t m = a < b ? a : b;
    return m < c ? m : c;
}

static region
region_of(const bn_case *c, int gradient)
{
    region r;
    size_t nfv = c->nfv ? c->nfv : SIZE_MAX, nch = c->nch ? c->nch : SIZE_MAX;

    r.n = min3(nfv, c->rows - c->src_x, gradient ? c->rows - c->in_x : SIZE_MAX);
    r.c = min3(nch, c->cols - c->src_y, gradient ? c->cols - c->in_y : SIZE_MAX);
    r.b0 = c->batch_start;
    r.nb = c->batch_size ? c->batch_size : c->mats - c->batch_start;
    return r;
}

/* Compares the written region of an output with `want` (per batch, packed n x c) by relative
 * L2, and every other element bit for bit with its initial value. rows = 1 for vectors. */
static double
check_output(operand *o, const region *r, size_t rows, size_t x0, size_t y0, double *const *want,
             const char *what, const bn_case *c, int check_values, double bound)
{
    double worst = 0.0;

    for (size_t b = r->b0; b < r->b0 + r->nb; b++) {
        ref_view got = {o->got + LEAD + b * o->ms + x0 * o->ld + y0, o->ld};
        double e = check_values ? ref_rel_l2(rows, r->c, got, want[b - r->b0]) : 0.0;
        ck_assert_msg(e <= bound, "%s: %s of matrix %zu: relative L2 error %.3g > %.3g",
                      c->name, what, b, e, bound);
        if (e > worst)
            worst = e;
        for (size_t i = 0; i < rows; i++)
            for (size_t j = 0; j < r->c; j++) {
                size_t k = LEAD + b * o->ms + (x0 + i) * o->ld + y0 + j;
                o->got[k] = o->init[k];
            }
    }
    for (size_t k = 0; k < o->total; k++)
        ck_assert_msg(bits(o->got[k]) == bits(o->init[k]),
                      "%s: %s element %zu outside the region changed (%08x -> %08x)", c->name,
                      what, k, bits(o->init[k]), bits(o->got[k]));
    return worst;
}

/* dx = gamma s (dz - dbeta/N - xhat dgamma/N) cancels: with two rows it is 0 up to epsilon,
 * whatever the data. fp32 can only promise an error small against the terms it combines, so dx
 * is measured by ||got - want|| / ||gamma s (|dz| + |dbeta/N| + |xhat dgamma/N|)||, which is
 * the plain relative error wherever the terms do not cancel. Frozen statistics have only the
 * first term (dx = gamma s dz, nothing cancels): the plain relative error. */
static double
dx_error(size_t n, size_t c, ref_view got, const double *want, ref_view dy, ref_view x,
         const float *mean, const float *var, const float *gamma, const float *beta, float eps,
         const ref_neuron *nr, int frozen, const double *dg, const double *db)
{
    double diff = 0.0, scale = 0.0;

    for (size_t j = 0; j < c; j++) {
        double s = 1.0 / sqrt((double)var[j] + (double)eps), g = gamma ? gamma[j] : 1.0;
        double bt = beta ? beta[j] : 0.0;
        for (size_t i = 0; i < n; i++) {
            double xh = ((double)x.p[i * x.ld + j] - mean[j]) * s;
            double dz = (double)dy.p[i * dy.ld + j] * ref_neuron_df(nr, g * xh + bt);
            double t = fabs(g * s) * (frozen ? fabs(dz)
                                             : fabs(dz) + fabs(db[j] / (double)n) +
                                                   fabs(xh * dg[j] / (double)n));
            double d = (double)got.p[i * got.ld + j] - want[i * c + j];
            if (isnan(d))
                return INFINITY;
            diff += d * d;
            scale += t * t;
        }
    }
    return scale == 0.0 ? sqrt(diff) : sqrt(diff / scale);
}

/* ---- statistics and parameters ---- */

/* Per matrix b: float mean and variance of the region of x (what a forward would hand the
 * gradient), gamma and beta. Arrays are mats x cols; columns past the region are unused. */
typedef struct params {
    float *mean, *var, *gamma, *beta;
} params;

static void
params_make(params *p, const bn_case *c, const operand *x, size_t ox, size_t oy, const region *r,
            uint64_t *rng)
{
    size_t count = c->mats * c->cols;
    double *m = malloc(r->c * sizeof(double)), *v = malloc(r->c * sizeof(double));

    p->mean = calloc(count, sizeof(float));
    p->var = calloc(count, sizeof(float));
    p->gamma = calloc(count, sizeof(float));
    p->beta = calloc(count, sizeof(float));
    ck_assert(m && v && p->mean && p->var && p->gamma && p->beta);
    for (size_t b = 0; b < c->mats; b++) {
        ref_bn_statistics(r->n, r->c, view_at(x, b, ox, oy), m, v);
        for (size_t j = 0; j < c->cols; j++) {
            p->mean[b * c->cols + j] = j < r->c ? (float)m[j] : 0.0f;
            p->var[b * c->cols + j] = j < r->c ? (float)v[j] : 1.0f;
            p->gamma[b * c->cols + j] = test_rng_uniform(rng, 0.5f, 1.5f);
            p->beta[b * c->cols + j] = test_rng_uniform(rng, -0.5f, 0.5f);
        }
    }
    free(m);
    free(v);
}

static void
params_free(params *p)
{
    free(p->mean);
    free(p->var);
    free(p->gamma);
    free(p->beta);
}

/* The case's kernel properties, common to both kernels' setters. */
#define APPLY_PROPERTIES(prefix, k, c)                                                          \
    do {                                                                                        \
        if ((c)->nfv)                                                                           \
            ASSERT_OK(prefix##_set_source_number_of_feature_vectors(k, (c)->nfv));              \
        if ((c)->nch)                                                                           \
            ASSERT_OK(prefix##_set_source_input_feature_channels(k, (c)->nch));                 \
        ASSERT_OK(prefix##_set_batch_start(k, (c)->batch_start));                               \
        if ((c)->batch_size)                                                                    \
            ASSERT_OK(prefix##_set_batch_size(k, (c)->batch_size));                             \
        ASSERT_OK(prefix##_set_epsilon(k, 1e-5f));                                              \
        ASSERT_OK(prefix##_set_result_matrix_origin(k, (mpscl_origin){(c)->res_x, (c)->res_y, 0})); \
    } while (0)

static void
commit_and_wait(mpscl_command_buffer *cb)
{
    ASSERT_OK(mpscl_command_buffer_commit(cb));
    ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb));
    mpscl_command_buffer_release(cb);
}

/* Saves the raw output images of the first run and requires later runs to match them. */
static void
check_same_bits(operand *outs, size_t nouts, float **first, int run, const char *name)
{
    for (size_t o = 0; o < nouts; o++) {
        if (outs[o].buf == NULL)
            continue;
        if (run == 0) {
            first[o] = malloc(outs[o].total * sizeof(float));
            ck_assert_ptr_nonnull(first[o]);
            memcpy(first[o], outs[o].got, outs[o].total * sizeof(float));
        } else {
            ck_assert_msg(memcmp(first[o], outs[o].got, outs[o].total * sizeof(float)) == 0,
                          "%s: run %d differs from run 0 in output %zu", name, run, o);
        }
    }
}

static double **
alloc_per_batch(size_t nb, size_t count)
{
    double **a = calloc(nb, sizeof *a);
    ck_assert_ptr_nonnull(a);
    for (size_t b = 0; b < nb; b++) {
        a[b] = malloc((count ? count : 1) * sizeof(double));
        ck_assert_ptr_nonnull(a[b]);
    }
    return a;
}

static void
free_per_batch(double **a, size_t nb)
{
    for (size_t b = 0; b < nb; b++)
        free(a[b]);
    free(a);
}

/* The kernel property for a reference neuron (parameters are floats on the device). */
#define APPLY_NEURON(prefix, k, nr)                                                             \
    do {                                                                                        \
        if ((nr) != NULL)                                                                       \
            ASSERT_OK(prefix##_set_neuron_type(k, (mpscl_neuron_type)(nr)->type,                \
                                               (float)(nr)->a, (float)(nr)->b, (float)(nr)->c)); \
    } while (0)

double
bn_check_gradient(const bn_case *c, const bn_run *run)
{
    int reruns = run->reruns > 0 ? run->reruns : 1;
    double bound = run->bound > 0 ? run->bound : bn_bound(0);
    const ref_neuron *nr = run->neuron;
    uint64_t rng = 0x5eed0000u + (uint64_t)c->rows * 131u + c->cols;
    region r = region_of(c, 1);
    operand dy, x, mean, var, gamma, beta, dx, dgamma, dbeta;
    operand *outs[3] = {&dx, &dgamma, &dbeta};
    operand out_copy[3];
    float *first[3] = {NULL, NULL, NULL};
    params p;
    double **want_dx, **want_dg, **want_db, worst = 0.0;
    mpscl_matrix_batch_normalization_gradient *k;
    int has_g = (c->optional & BN_GAMMA) != 0, has_b = (c->optional & BN_BETA) != 0;
    int has_dg = (c->optional & BN_DGAMMA) != 0, has_db = (c->optional & BN_DBETA) != 0;

    if (test_skip_large(c->name, c->rows * (c->cols + c->pad) * c->mats))
        return 0.0;
    operand_matrix(&dy, c, 1, &rng);
    operand_matrix(&x, c, 0, &rng);
    operand_matrix(&dx, c, -1, &rng);
    params_make(&p, c, &x, c->in_x, c->in_y, &r, &rng);
    operand_vector(&mean, c, p.mean);
    operand_vector(&var, c, p.var);
    operand_vector(&gamma, c, p.gamma);
    operand_vector(&beta, c, p.beta);
    operand_vector(&dgamma, c, NULL);
    operand_vector(&dbeta, c, NULL);

    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_create(test_device, &k));
    APPLY_PROPERTIES(mpscl_matrix_batch_normalization_gradient, k, c);
    APPLY_NEURON(mpscl_matrix_batch_normalization_gradient, k, nr);
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_frozen_statistics(k, run->frozen));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_primary_source_matrix_origin(
        k, (mpscl_origin){c->src_x, c->src_y, 0}));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_secondary_source_matrix_origin(
        k, (mpscl_origin){c->in_x, c->in_y, 0}));
    for (int pass = 0; pass < reruns; pass++) {
        mpscl_command_buffer *cb;
        ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
        ASSERT_OK(mpscl_matrix_batch_normalization_gradient_encode(
            k, cb, dy.m, x.m, mean.v, var.v, has_g ? gamma.v : NULL, has_b ? beta.v : NULL, dx.m,
            has_dg ? dgamma.v : NULL, has_db ? dbeta.v : NULL));
        commit_and_wait(cb);
        for (size_t o = 0; o < 3; o++) {
            operand_read(outs[o]);
            out_copy[o] = *outs[o];
        }
        check_same_bits(out_copy, 3, first, pass, c->name);
    }
    mpscl_matrix_batch_normalization_gradient_release(k);

    want_dx = alloc_per_batch(r.nb, r.n * r.c);
    want_dg = alloc_per_batch(r.nb, r.c);
    want_db = alloc_per_batch(r.nb, r.c);
    for (size_t b = r.b0; b < r.b0 + r.nb; b++) {
        size_t vb = b * c->cols;
        (run->frozen ? ref_bn_gradient_frozen : ref_bn_gradient)(
            r.n, r.c, view_at(&dy, b, c->src_x, c->src_y), view_at(&x, b, c->in_x, c->in_y),
            p.mean + vb, p.var + vb, has_g ? p.gamma + vb : NULL, has_b ? p.beta + vb : NULL,
            1e-5f, nr, want_dx[b - r.b0], want_dg[b - r.b0], want_db[b - r.b0]);
    }
    for (size_t b = r.b0; b < r.b0 + r.nb; b++) {
        size_t vb = b * c->cols;
        ref_view got = {dx.got + LEAD + b * dx.ms + c->res_x * dx.ld + c->res_y, dx.ld};
        double e = dx_error(r.n, r.c, got, want_dx[b - r.b0], view_at(&dy, b, c->src_x, c->src_y),
                            view_at(&x, b, c->in_x, c->in_y), p.mean + vb, p.var + vb,
                            has_g ? p.gamma + vb : NULL, has_b ? p.beta + vb : NULL, 1e-5f, nr,
                            run->frozen, want_dg[b - r.b0], want_db[b - r.b0]);
        ck_assert_msg(e <= bound, "%s: dx of matrix %zu: error %.3g > %.3g", c->name, b, e, bound);
        worst = fmax(worst, e);
    }
    check_output(&dx, &r, r.n, c->res_x, c->res_y, want_dx, "dx (region bits)", c, 0, bound);
    if (has_dg)
        worst = fmax(worst, check_output(&dgamma, &r, 1, 0, 0, want_dg, "dgamma", c, 1, bound));
    else
        check_output(&dgamma, &(region){0, 0, 0, 0}, 0, 0, 0, NULL, "dgamma", c, 1, bound);
    if (has_db)
        worst = fmax(worst, check_output(&dbeta, &r, 1, 0, 0, want_db, "dbeta", c, 1, bound));
    else
        check_output(&dbeta, &(region){0, 0, 0, 0}, 0, 0, 0, NULL, "dbeta", c, 1, bound);

    free_per_batch(want_dx, r.nb);
    free_per_batch(want_dg, r.nb);
    free_per_batch(want_db, r.nb);
    for (size_t o = 0; o < 3; o++)
        free(first[o]);
    if (getenv("MPSCL_TEST_VERBOSE") != NULL)
        fprintf(stderr, "gradient%s %-28s N=%-6zu C=%-5zu worst error %.3g\n",
                run->frozen ? "+frozen" : "", c->name, r.n, r.c, worst);
    params_free(&p);
    operand_free(&dy);
    operand_free(&x);
    operand_free(&dx);
    operand_free(&mean);
    operand_free(&var);
    operand_free(&gamma);
    operand_free(&beta);
    operand_free(&dgamma);
    operand_free(&dbeta);
    return worst;
}

double
bn_check_forward(const bn_case *c, int compute_statistics, const bn_run *run)
{
    int reruns = run->reruns > 0 ? run->reruns : 1;
    double bound = run->bound > 0 ? run->bound : bn_bound(0);
    const ref_neuron *nr = run->neuron;
    uint64_t rng = 0xf0d0000u + (uint64_t)c->rows * 131u + c->cols;
    region r = region_of(c, 0);
    operand x, mean, var, gamma, beta, y;
    operand *outs[3] = {&y, &mean, &var};
    operand out_copy[3];
    float *first[3] = {NULL, NULL, NULL};
    params p;
    double **want_y, **want_m, **want_v, worst = 0.0;
    mpscl_matrix_batch_normalization *k;
    int has_g = (c->optional & BN_GAMMA) != 0, has_b = (c->optional & BN_BETA) != 0;

    if (test_skip_large(c->name, c->rows * (c->cols + c->pad) * c->mats))
        return 0.0;
    operand_matrix(&x, c, 0, &rng);
    operand_matrix(&y, c, -1, &rng);
    params_make(&p, c, &x, c->src_x, c->src_y, &r, &rng);
    operand_vector(&mean, c, compute_statistics ? NULL : p.mean);
    operand_vector(&var, c, compute_statistics ? NULL : p.var);
    operand_vector(&gamma, c, p.gamma);
    operand_vector(&beta, c, p.beta);

    ASSERT_OK(mpscl_matrix_batch_normalization_create(test_device, &k));
    APPLY_PROPERTIES(mpscl_matrix_batch_normalization, k, c);
    APPLY_NEURON(mpscl_matrix_batch_normalization, k, nr);
    ASSERT_OK(mpscl_matrix_batch_normalization_set_source_matrix_origin(
        k, (mpscl_origin){c->src_x, c->src_y, 0}));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_compute_statistics(k, compute_statistics));
    for (int pass = 0; pass < reruns; pass++) {
        mpscl_command_buffer *cb;
        ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
        ASSERT_OK(mpscl_matrix_batch_normalization_encode(k, cb, x.m, mean.v, var.v,
                                                          has_g ? gamma.v : NULL,
                                                          has_b ? beta.v : NULL, y.m));
        commit_and_wait(cb);
        for (size_t o = 0; o < 3; o++) {
            operand_read(outs[o]);
            out_copy[o] = *outs[o];
        }
        check_same_bits(out_copy, 3, first, pass, c->name);
    }
    mpscl_matrix_batch_normalization_release(k);

    want_y = alloc_per_batch(r.nb, r.n * r.c);
    want_m = alloc_per_batch(r.nb, r.c);
    want_v = alloc_per_batch(r.nb, r.c);
    for (size_t b = r.b0; b < r.b0 + r.nb; b++) {
        size_t vb = b * c->cols;
        ref_view xv = view_at(&x, b, c->src_x, c->src_y);
        ref_bn_statistics(r.n, r.c, xv, want_m[b - r.b0], want_v[b - r.b0]);
        ref_bn_forward(r.n, r.c, xv, p.mean + vb, p.var + vb, has_g ? p.gamma + vb : NULL,
                       has_b ? p.beta + vb : NULL, 1e-5f, nr, want_y[b - r.b0]);
    }
    worst = fmax(worst, check_output(&y, &r, r.n, c->res_x, c->res_y, want_y, "y", c, 1, bound));
    if (compute_statistics) {
        worst = fmax(worst, check_output(&mean, &r, 1, 0, 0, want_m, "mean", c, 1, bound));
        worst = fmax(worst, check_output(&var, &r, 1, 0, 0, want_v, "variance", c, 1, bound));
    } else {
        check_output(&mean, &(region){0, 0, 0, 0}, 0, 0, 0, NULL, "mean", c, 1, bound);
        check_output(&var, &(region){0, 0, 0, 0}, 0, 0, 0, NULL, "variance", c, 1, bound);
    }

    free_per_batch(want_y, r.nb);
    free_per_batch(want_m, r.nb);
    free_per_batch(want_v, r.nb);
    for (size_t o = 0; o < 3; o++)
        free(first[o]);
    if (getenv("MPSCL_TEST_VERBOSE") != NULL)
        fprintf(stderr, "forward%s %-28s N=%-6zu C=%-5zu worst error %.3g\n",
                compute_statistics ? "+stats" : "", c->name, r.n, r.c, worst);
    params_free(&p);
    operand_free(&x);
    operand_free(&y);
    operand_free(&mean);
    operand_free(&var);
    operand_free(&gamma);
    operand_free(&beta);
    return worst;
}
