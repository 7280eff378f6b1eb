/* Running statistics (mpscl_matrix_batch_normalization_encode_with_running_statistics, an mpscl
 * extension): consecutive training steps with different batches and momenta against the fp64
 * reference (tools/ref.h), in every data type the device supports with the vector types the
 * library accepts, and in every layout the planner can pick (forced through MPSCL_TUNE) with four
 * of those type mixes; N = 1;
 * bitwise reruns; every byte outside the updated elements unchanged; refusals that write
 * nothing; the momentum property.
 *
 * Each step is held to the reference continuing from what the device held before it, so a
 * step's error is its own. Bounds (relative L2 per vector and batch entry) are the storage
 * type's, as in check_bn_types.c: fp32 1e-6, fp16 2^-10, bf16 2^-7, fp64 1e-12; like bn_bound,
 * they do not grow with N. A biased variance in the update is off by N / (N - 1) on its momentum
 * term: with N <= 130 and momentum >= 0.1 more than 7e-4 of the value, far past the fp32 bound,
 * which the fp32 rows meet in every case and layout. */
#include "config.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/ref.h"
#include "util.h"

#define F32 MPSCL_DATA_TYPE_FLOAT32
#define F16 MPSCL_DATA_TYPE_FLOAT16
#define BF16 MPSCL_DATA_TYPE_BFLOAT16
#define F64 MPSCL_DATA_TYPE_FLOAT64

typedef struct run_case {
    const char *name;
    size_t rows, cols, mats, pad;     /* every matrix; pad: elements of padding per row */
    size_t src_x, src_y;              /* source origin */
    size_t batch_start, batch_size;   /* batch_size 0: the rest */
} run_case;

static const run_case cases[] = {
    {"C=7", 41, 7, 1, 0, 0, 0, 0, 0},
    {"C=16, vector loads", 64, 16, 1, 0, 0, 0, 0, 0},
    {"one row", 1, 9, 1, 0, 0, 0, 0, 0},
    {"origin, padded rows", 52, 13, 1, 3, 3, 2, 0, 0},
    {"C=67, two column tiles", 130, 67, 1, 1, 0, 0, 0, 0},
    {"batch 3 of 4 from 1", 23, 6, 4, 2, 1, 1, 1, 3},
    {"origin leaves one row", 9, 5, 1, 0, 8, 1, 0, 0},
};

/* The matrices' type, the mean and variance vectors' type, and each running vector's: float32
 * or the matrices' type, in mixes too. */
typedef struct type_row {
    mpscl_data_type data, stats, running_mean, running_var;
} type_row;

static const type_row types[] = {
    {F32, F32, F32, F32},  {F16, F32, F32, F32},  {F16, F16, F16, F16},
    {F16, F16, F32, F16},  {F16, F32, F16, F32},  {BF16, F32, F32, F32},
    {BF16, BF16, BF16, BF16}, {F64, F64, F64, F64}, {F64, F32, F32, F32},
    {F64, F64, F32, F64},
};
enum { NTYPES = sizeof types / sizeof types[0] };

static const char *const layouts[] = {
    "",                                     /* the planner's choice for this device */
    "rows=0,tile=0,fused=0",                /* work-groups: sum, sqdev, apply */
    "rows=0,tile=0,fused=0,chunks=7,vw=1",  /* ragged chunks, scalar loads */
    "fused=1",                              /* one launch */
    "fused=1,chunks=7,lag=1,wg=32,lx=2",    /* one launch, narrow tiles, ragged chunks */
    "rows=1",                               /* row streaming */
    "rows=1,chunks=7,lx=2",                 /* row streaming, ragged chunks and tiles */
    "rows=0,tile=1",                        /* one group per column tile */
};
enum { NLAYOUTS = sizeof layouts / sizeof layouts[0] };

/* The steps: a new batch each, and the momenta the task names (0 keeps, 1 replaces). */
static const float momenta[] = {0.1f, 0.5f, 0.0f, 1.0f};
enum { STEPS = sizeof momenta / sizeof momenta[0] };

static double
bound_for(mpscl_data_type t)
{
    return t == F16 ? ldexp(1, -10) : t == BF16 ? ldexp(1, -7) : t == F32 ? 1e-6 : 1e-12;
}

/* v as stored in type t, back as a float (exact: values start as floats). */
static float
quantise(mpscl_data_type t, float v)
{
    unsigned char b[8];
    test_store(t, b, 0, v);
    return (float)test_load(t, b, 0);
}

/* ---- operands in user buffers, with guard elements around and between everything ---- */

enum { LEAD = 3, TAIL = 9 };

typedef struct operand {
    mpscl_data_type t;
    size_t total, ld, ms;         /* elements; row and batch strides */
    unsigned char *image;         /* what the buffer holds (host side) */
    cl_mem buf;
    mpscl_matrix *m;
    mpscl_vector *v;
} operand;

static void
operand_alloc(operand *o, mpscl_data_type t, size_t total, uint64_t *rng)
{
    size_t es = mpscl_data_type_size(t);

    o->t = t;
    o->total = total;
    o->image = malloc(total * es);
    ck_assert_ptr_nonnull(o->image);
    for (size_t k = 0; k < total; k++)
        test_store(t, o->image, k, test_rng_uniform(rng, -9, 9));
}

/* x's values (packed in xf with the matrix's strides) or a guard-filled output. */
static void
operand_matrix(operand *o, const run_case *rc, mpscl_data_type t, const float *xf, uint64_t *rng)
{
    size_t es = mpscl_data_type_size(t);
    mpscl_matrix_descriptor d;

    memset(o, 0, sizeof *o);
    o->ld = rc->cols + rc->pad;
    o->ms = rc->rows * o->ld + (rc->mats > 1 ? 5 : 0);
    operand_alloc(o, t, LEAD + rc->mats * o->ms + TAIL, rng);
    if (xf != NULL)
        for (size_t k = 0; k < rc->mats * o->ms; k++)
            test_store(t, o->image, LEAD + k, xf[k]);
    o->buf = test_buffer_create(o->image, o->total * es);
    d = mpscl_matrix_descriptor_make_batch(rc->rows, rc->cols, rc->mats, o->ld * es, o->ms * es, t);
    ASSERT_OK(mpscl_matrix_create_with_buffer(test_device, o->buf, LEAD * es, &d, &o->m));
}

/* cols + 1 elements per vector, stride cols + 3; every element random (running vectors keep
 * theirs outside the region; variances positive where the kernels read them). */
static void
operand_vector(operand *o, const run_case *rc, mpscl_data_type t, int positive, uint64_t *rng)
{
    size_t es = mpscl_data_type_size(t);
    mpscl_vector_descriptor d;

    memset(o, 0, sizeof *o);
    o->ld = rc->cols + 1;
    o->ms = rc->cols + 3;
    operand_alloc(o, t, LEAD + rc->mats * o->ms + TAIL, rng);
    if (positive)
        for (size_t k = 0; k < o->total; k++)
            test_store(t, o->image, k, test_rng_uniform(rng, 0.25f, 4));
    o->buf = test_buffer_create(o->image, o->total * es);
    d = mpscl_vector_descriptor_make_batch(o->ld, rc->mats, o->ms * es, t);
    ASSERT_OK(mpscl_vector_create_with_buffer(test_device, o->buf, LEAD * es, &d, &o->v));
}

static void
operand_free(operand *o)
{
    mpscl_matrix_release(o->m);
    mpscl_vector_release(o->v);
    if (o->buf != NULL)
        clReleaseMemObject(o->buf);
    free(o->image);
    memset(o, 0, sizeof *o);
}

/* The device's bytes into o->image. */
static void
operand_read(operand *o)
{
    test_buffer_read(o->buf, o->image, o->total * mpscl_data_type_size(o->t));
}

static double
element(const operand *o, size_t k)
{
    return test_load(o->t, o->image, k);
}

/* Vector b's element j. */
static size_t
vindex(const operand *o, size_t b, size_t j)
{
    return LEAD + b * o->ms + j;
}

/* ||got - want|| / ||want|| over vector b's first c elements (||got - want|| if want is 0). */
static double
vector_error(const operand *o, size_t b, const double *want, size_t c)
{
    double d = 0, w = 0;

    for (size_t j = 0; j < c; j++) {
        double g = element(o, vindex(o, b, j));
        if (isnan(g))
            return INFINITY;
        d += (g - want[j]) * (g - want[j]);
        w += want[j] * want[j];
    }
    return w == 0 ? sqrt(d) : sqrt(d / w);
}

/* Every element of o outside vectors b0 .. b0 + nb - 1's first c elements is bitwise as in
 * `before`. */
static void
check_outside(const operand *o, const unsigned char *before, size_t b0, size_t nb, size_t c,
              const char *what, const char *where)
{
    size_t es = mpscl_data_type_size(o->t);

    for (size_t k = 0; k < o->total; k++) {
        size_t b = k >= LEAD ? (k - LEAD) / o->ms : 0, j = k >= LEAD ? (k - LEAD) % o->ms : 0;
        if (k >= LEAD && b >= b0 && b < b0 + nb && j < c)
            continue;
        ck_assert_msg(memcmp(o->image + k * es, before + k * es, es) == 0,
                      "%s: %s element %zu outside the updated ones changed", where, what, k);
    }
}

/* ---- the steps ---- */

/* Batch `step` of x: a different scale and offset per column, and per step. */
static float *
batch_values(const run_case *rc, size_t ld, size_t ms, mpscl_data_type t, int step, uint64_t *rng)
{
    float *xf = calloc(rc->mats * ms, sizeof(float));

    ck_assert_ptr_nonnull(xf);
    for (size_t b = 0; b < rc->mats; b++)
        for (size_t i = 0; i < rc->rows; i++)
            for (size_t j = 0; j < rc->cols; j++) {
                float scale = (float)(1 << (j % 4)) * 0.25f * (float)(1 + step);
                float offset = 3.0f * (float)((int)((j + (size_t)step) % 3) - 1) + 0.5f * step;
                xf[b * ms + i * ld + j] =
                    quantise(t, scale * (offset + test_rng_uniform(rng, -1, 1)));
            }
    return xf;
}

/* Runs the case's steps with the type row in the current MPSCL_TUNE layout, checking each step
 * against the reference; appends every output's bytes after every step to *log (for bitwise
 * comparisons of whole runs). Returns the worst relative error of the running vectors. */
static double
run_steps(const run_case *rc, const type_row *tr, unsigned char **log, size_t *log_len)
{
    uint64_t rng = 0x5ea1u + rc->rows * 977u + rc->cols * 31u + (uint64_t)tr->data * 7u;
    size_t n = rc->rows - rc->src_x, c = rc->cols - rc->src_y, b0 = rc->batch_start;
    size_t nb = rc->batch_size ? rc->batch_size : rc->mats - b0;
    operand y, mean, var, rmean, rvar;
    operand *outs[] = {&y, &mean, &var, &rmean, &rvar};
    double worst = 0, *want_m = malloc(c * sizeof(double)), *want_v = malloc(c * sizeof(double));
    double *want_rm = malloc(c * sizeof(double)), *want_rv = malloc(c * sizeof(double));
    mpscl_matrix_batch_normalization *k;
    char where[160];

    ck_assert(want_m && want_v && want_rm && want_rv);
    operand_matrix(&y, rc, tr->data, NULL, &rng);
    operand_vector(&mean, rc, tr->stats, 0, &rng);
    operand_vector(&var, rc, tr->stats, 0, &rng);
    operand_vector(&rmean, rc, tr->running_mean, 0, &rng);
    operand_vector(&rvar, rc, tr->running_var, 1, &rng);
    ASSERT_OK(mpscl_matrix_batch_normalization_create(test_device, &k));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_compute_statistics(k, 1));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_epsilon(k, 1e-5f));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_source_matrix_origin(
        k, (mpscl_origin){rc->src_x, rc->src_y, 0}));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_batch_start(k, rc->batch_start));
    if (rc->batch_size)
        ASSERT_OK(mpscl_matrix_batch_normalization_set_batch_size(k, rc->batch_size));

    for (int step = 0; step < STEPS; step++) {
        size_t rm_bytes = rmean.total * mpscl_data_type_size(rmean.t);
        size_t rv_bytes = rvar.total * mpscl_data_type_size(rvar.t);
        unsigned char *rm_before = malloc(rm_bytes), *rv_before = malloc(rv_bytes);
        mpscl_command_buffer *cb;
        operand x = {0};
        float *xf;

        snprintf(where, sizeof where, "%s, types %d/%d/%d/%d, step %d (momentum %g), tune \"%s\"",
                 rc->name, (int)tr->data, (int)tr->stats, (int)tr->running_mean,
                 (int)tr->running_var, step, (double)momenta[step],
                 getenv("MPSCL_TUNE") ? getenv("MPSCL_TUNE") : "");
        ck_assert(rm_before && rv_before);
        xf = batch_values(rc, rc->cols + rc->pad, rc->rows * (rc->cols + rc->pad) +
                          (rc->mats > 1 ? 5 : 0), tr->data, step, &rng);
        operand_matrix(&x, rc, tr->data, xf, &rng);
        memcpy(rm_before, rmean.image, rm_bytes);
        memcpy(rv_before, rvar.image, rv_bytes);
        ASSERT_OK(mpscl_matrix_batch_normalization_set_momentum(k, momenta[step]));
        ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
        ASSERT_OK(mpscl_matrix_batch_normalization_encode_with_running_statistics(
            k, cb, x.m, mean.v, var.v, NULL, NULL, y.m, rmean.v, rvar.v));
        ASSERT_OK(mpscl_command_buffer_commit(cb));
        ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb));
        mpscl_command_buffer_release(cb);
        for (size_t o = 0; o < sizeof outs / sizeof outs[0]; o++) {
            size_t bytes = outs[o]->total * mpscl_data_type_size(outs[o]->t);
            operand_read(outs[o]);
            if (log != NULL) {
                *log = realloc(*log, *log_len + bytes);
                ck_assert_ptr_nonnull(*log);
                memcpy(*log + *log_len, outs[o]->image, bytes);
                *log_len += bytes;
            }
        }

        for (size_t b = b0; b < b0 + nb; b++) {
            ref_view xv = {xf + b * x.ms + rc->src_x * x.ld + rc->src_y, x.ld};
            double e;
            for (size_t j = 0; j < c; j++) {
                want_rm[j] = test_load(rmean.t, rm_before, vindex(&rmean, b, j));
                want_rv[j] = test_load(rvar.t, rv_before, vindex(&rvar, b, j));
            }
            ref_bn_statistics(n, c, xv, want_m, want_v);
            ref_bn_running_statistics(n, c, xv, (double)momenta[step], want_rm, want_rv);
            e = vector_error(&mean, b, want_m, c);
            ck_assert_msg(e <= bound_for(mean.t), "%s: mean %zu: error %.3g", where, b, e);
            e = vector_error(&var, b, want_v, c);
            ck_assert_msg(e <= bound_for(var.t), "%s: variance %zu: error %.3g", where, b, e);
            e = vector_error(&rmean, b, want_rm, c);
            ck_assert_msg(e <= bound_for(rmean.t), "%s: running mean %zu: error %.3g", where, b, e);
            worst = fmax(worst, e);
            e = vector_error(&rvar, b, want_rv, c);
            ck_assert_msg(e <= bound_for(rvar.t), "%s: running variance %zu: error %.3g", where,
                          b, e);
            worst = fmax(worst, e);
            /* N = 1 and momentum 0: the running variance's bits stay (and the running mean's
             * with momentum 0), not merely their values. */
            for (size_t j = 0; j < c; j++) {
                size_t es = mpscl_data_type_size(rvar.t), kk = vindex(&rvar, b, j);
                if (n == 1 || momenta[step] == 0.0f)
                    ck_assert_msg(memcmp(rvar.image + kk * es, rv_before + kk * es, es) == 0,
                                  "%s: running variance %zu[%zu] changed", where, b, j);
                es = mpscl_data_type_size(rmean.t);
                kk = vindex(&rmean, b, j);
                if (momenta[step] == 0.0f)
                    ck_assert_msg(memcmp(rmean.image + kk * es, rm_before + kk * es, es) == 0,
                                  "%s: running mean %zu[%zu] changed", where, b, j);
            }
        }
        check_outside(&rmean, rm_before, b0, nb, c, "running mean", where);
        check_outside(&rvar, rv_before, b0, nb, c, "running variance", where);
        free(rm_before);
        free(rv_before);
        free(xf);
        operand_free(&x);
    }
    mpscl_matrix_batch_normalization_release(k);
    for (size_t o = 0; o < sizeof outs / sizeof outs[0]; o++)
        operand_free(outs[o]);
    free(want_m);
    free(want_v);
    free(want_rm);
    free(want_rv);
    return worst;
}

static int
type_supported(const type_row *tr)
{
    return mpscl_device_supports_data_type(test_device, tr->data);
}

/* A kernel object reads MPSCL_TUNE when it is created; fork mode isolates the setting, and it
 * is put back for a run without fork. */
static char *
tune_set(const char *tune)
{
    const char *old = getenv("MPSCL_TUNE");
    char *saved = old != NULL ? strdup(old) : NULL;

    ck_assert_int_eq(setenv("MPSCL_TUNE", tune, 1), 0);
    return saved;
}

static void
tune_restore(char *saved)
{
    if (saved != NULL)
        setenv("MPSCL_TUNE", saved, 1);
    else
        unsetenv("MPSCL_TUNE");
    free(saved);
}

/* Every type row in the planner's layout, then every forced layout in the rows that differ in
 * what a layout touches (float32; fp16 data with mixed vectors; bf16 throughout; fp64 data with
 * float32 running vectors): the loads and stores are the types', the control flow the
 * layouts', and each pair of the two is a program of its own to compile. */
static const size_t layout_types[] = {0, 3, 6, 9};
enum { NLAYOUT_TYPES = sizeof layout_types / sizeof layout_types[0],
       NSTEP_RUNS = NTYPES + (NLAYOUTS - 1) * NLAYOUT_TYPES };

START_TEST(test_steps)
{
    int planner = _i < NTYPES, forced = _i - NTYPES;
    const char *tune = planner ? layouts[0] : layouts[1 + forced / NLAYOUT_TYPES];
    const type_row *tr = &types[planner ? (size_t)_i : layout_types[forced % NLAYOUT_TYPES]];
    char *saved;
    double worst = 0;

    if (!type_supported(tr))
        return;
    saved = tune_set(tune);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        worst = fmax(worst, run_steps(&cases[c], tr, NULL, NULL));
    if (getenv("MPSCL_TEST_VERBOSE") != NULL)
        fprintf(stderr, "running statistics, types %d/%d/%d/%d, tune \"%s\": worst error %.3g\n",
                (int)tr->data, (int)tr->stats, (int)tr->running_mean, (int)tr->running_var, tune,
                worst);
    tune_restore(saved);
}
END_TEST

/* Two whole runs of every case, in each layout, give the same bits in every output after every
 * step. */
START_TEST(test_bitwise_reruns)
{
    static const type_row rows[] = {{F32, F32, F32, F32}, {F16, F16, F32, F16}};
    char *saved = tune_set(layouts[_i]);

    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++)
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            unsigned char *first = NULL, *second = NULL;
            size_t n1 = 0, n2 = 0;
            run_steps(&cases[c], &rows[r], &first, &n1);
            run_steps(&cases[c], &rows[r], &second, &n2);
            ck_assert_msg(n1 == n2 && memcmp(first, second, n1) == 0,
                          "%s, tune \"%s\": a rerun gave other bits", cases[c].name, layouts[_i]);
            free(first);
            free(second);
        }
    tune_restore(saved);
}
END_TEST

/* The running encode's y, mean and variance are bitwise the plain encode's. */
START_TEST(test_same_as_plain_encode)
{
    enum { N = 57, W = 11 };
    float x[N * W], out[2][N * W], stats[2][2][W], rinit[W];
    uint64_t rng = 11;
    mpscl_matrix_descriptor d = mpscl_matrix_descriptor_make(N, W, W * 4, F32);
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make(W, F32);
    mpscl_matrix *xm, *ym;
    mpscl_vector *mv, *vv, *rm, *rv;
    mpscl_matrix_batch_normalization *k;
    char *saved = tune_set(layouts[_i]);

    for (size_t i = 0; i < N * W; i++)
        x[i] = test_rng_uniform(&rng, -2, 6);
    for (size_t j = 0; j < W; j++)
        rinit[j] = 1.0f;
    ASSERT_OK(mpscl_matrix_create(test_device, &d, &xm));
    ASSERT_OK(mpscl_matrix_create(test_device, &d, &ym));
    ASSERT_OK(mpscl_matrix_write(xm, x, W * 4));
    ASSERT_OK(mpscl_vector_create(test_device, &vd, &mv));
    ASSERT_OK(mpscl_vector_create(test_device, &vd, &vv));
    ASSERT_OK(mpscl_vector_create(test_device, &vd, &rm));
    ASSERT_OK(mpscl_vector_create(test_device, &vd, &rv));
    ASSERT_OK(mpscl_vector_write(rm, rinit));
    ASSERT_OK(mpscl_vector_write(rv, rinit));
    ASSERT_OK(mpscl_matrix_batch_normalization_create(test_device, &k));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_compute_statistics(k, 1));
    for (int running = 0; running < 2; running++) {
        mpscl_command_buffer *cb;
        ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
        if (running)
            ASSERT_OK(mpscl_matrix_batch_normalization_encode_with_running_statistics(
                k, cb, xm, mv, vv, NULL, NULL, ym, rm, rv));
        else
            ASSERT_OK(mpscl_matrix_batch_normalization_encode(k, cb, xm, mv, vv, NULL, NULL, ym));
        ASSERT_OK(mpscl_command_buffer_commit(cb));
        ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb));
        mpscl_command_buffer_release(cb);
        ASSERT_OK(mpscl_matrix_read(ym, out[running], W * 4));
        ASSERT_OK(mpscl_vector_read(mv, stats[running][0]));
        ASSERT_OK(mpscl_vector_read(vv, stats[running][1]));
    }
    ck_assert_msg(memcmp(out[0], out[1], sizeof out[0]) == 0, "y differs");
    ck_assert_msg(memcmp(stats[0], stats[1], sizeof stats[0]) == 0, "statistics differ");
    mpscl_matrix_batch_normalization_release(k);
    mpscl_matrix_release(xm);
    mpscl_matrix_release(ym);
    mpscl_vector_release(mv);
    mpscl_vector_release(vv);
    mpscl_vector_release(rm);
    mpscl_vector_release(rv);
    tune_restore(saved);
}
END_TEST

/* ---- refusals: each writes nothing ---- */

START_TEST(test_refusals)
{
    enum { N = 8, W = 4 };
    float x[N * W], init[3 * W], got[3 * W];
    mpscl_matrix_descriptor d = mpscl_matrix_descriptor_make(N, W, W * 4, F32);
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make(W, F32);
    mpscl_vector_descriptor wide = mpscl_vector_descriptor_make(3 * W, F32);
    mpscl_vector_descriptor shortd = mpscl_vector_descriptor_make(W - 1, F32);
    mpscl_vector_descriptor halfd = mpscl_vector_descriptor_make(W, F16);
    mpscl_matrix *xm, *ym;
    mpscl_vector *mv, *vv, *gv, *rm, *rv, *big, *inside, *shortv, *halfv;
    mpscl_matrix_batch_normalization *k;
    mpscl_command_buffer *cb;

    for (size_t i = 0; i < N * W; i++)
        x[i] = (float)i;
    for (size_t j = 0; j < 3 * W; j++)
        init[j] = -1.0f - (float)j;
    ASSERT_OK(mpscl_matrix_create(test_device, &d, &xm));
    ASSERT_OK(mpscl_matrix_create(test_device, &d, &ym));
    ASSERT_OK(mpscl_matrix_write(xm, x, W * 4));
    ASSERT_OK(mpscl_vector_create(test_device, &vd, &mv));
    ASSERT_OK(mpscl_vector_create(test_device, &vd, &vv));
    ASSERT_OK(mpscl_vector_create(test_device, &vd, &gv));
    ASSERT_OK(mpscl_vector_create(test_device, &vd, &rm));
    ASSERT_OK(mpscl_vector_create(test_device, &vd, &rv));
    ASSERT_OK(mpscl_vector_create(test_device, &wide, &big));
    ASSERT_OK(mpscl_vector_create(test_device, &shortd, &shortv));
    ASSERT_OK(mpscl_vector_create(test_device, &halfd, &halfv));
    ASSERT_OK(mpscl_vector_write(rm, init));
    ASSERT_OK(mpscl_vector_write(rv, init));
    ASSERT_OK(mpscl_vector_write(big, init));
    /* A vector over elements W/2 .. 3W/2 - 1 of big's buffer. */
    ASSERT_OK(mpscl_vector_create_with_buffer(test_device, mpscl_vector_buffer(big),
                                              W / 2 * sizeof(float), &vd, &inside));
    ASSERT_OK(mpscl_matrix_batch_normalization_create(test_device, &k));
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));

#define RUNNING(rmean, rvar) \
    mpscl_matrix_batch_normalization_encode_with_running_statistics(k, cb, xm, mv, vv, gv, NULL, \
                                                                    ym, rmean, rvar)
    /* No batch statistics to update from. */
    EXPECT(RUNNING(rm, rv), MPSCL_ERROR_INVALID_STATE, "compute_statistics");
    ASSERT_OK(mpscl_matrix_batch_normalization_set_compute_statistics(k, 1));
    EXPECT(RUNNING(NULL, rv), MPSCL_ERROR_INVALID_ARGUMENT, "running_mean");
    EXPECT(RUNNING(rm, NULL), MPSCL_ERROR_INVALID_ARGUMENT, "running_variance");
    /* Aliasing: each other, the statistics outputs, an input vector, a partial overlap. */
    EXPECT(RUNNING(rm, rm), MPSCL_ERROR_INVALID_ARGUMENT, "running_");
    EXPECT(RUNNING(mv, rv), MPSCL_ERROR_INVALID_ARGUMENT, "running_mean");
    EXPECT(RUNNING(rm, vv), MPSCL_ERROR_INVALID_ARGUMENT, "running_variance");
    EXPECT(RUNNING(gv, rv), MPSCL_ERROR_INVALID_ARGUMENT, "running_mean");
    EXPECT(RUNNING(big, inside), MPSCL_ERROR_INVALID_ARGUMENT, "running_");
    EXPECT(RUNNING(rm, shortv), MPSCL_ERROR_INVALID_SHAPE, "running_variance");
    EXPECT(RUNNING(halfv, rv), MPSCL_ERROR_INVALID_DATA_TYPE, "running_mean");
    /* Nothing was enqueued: the running vectors keep their values. */
    ASSERT_OK(mpscl_command_buffer_commit(cb));
    ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb));
    ASSERT_OK(mpscl_vector_read(rm, got));
    ck_assert(memcmp(got, init, W * sizeof(float)) == 0);
    ASSERT_OK(mpscl_vector_read(rv, got));
    ck_assert(memcmp(got, init, W * sizeof(float)) == 0);
    ASSERT_OK(mpscl_vector_read(big, got));
    ck_assert(memcmp(got, init, 3 * W * sizeof(float)) == 0);
#undef RUNNING
    mpscl_command_buffer_release(cb);
    mpscl_matrix_batch_normalization_release(k);
    mpscl_matrix_release(xm);
    mpscl_matrix_release(ym);
    mpscl_vector_release(mv);
    mpscl_vector_release(vv);
    mpscl_vector_release(gv);
    mpscl_vector_release(rm);
    mpscl_vector_release(rv);
    mpscl_vector_release(big);
    mpscl_vector_release(inside);
    mpscl_vector_release(shortv);
    mpscl_vector_release(halfv);
}
END_TEST

START_TEST(test_momentum_property)
{
    mpscl_matrix_batch_normalization *k, *copy;
    const float bad[] = {-0.001f, 1.0001f, -1.0f, 2.0f, NAN, INFINITY, -INFINITY};

    ASSERT_OK(mpscl_matrix_batch_normalization_create(test_device, &k));
    ck_assert_float_eq(mpscl_matrix_batch_normalization_momentum(k), 0.1f);
    ck_assert_float_eq(mpscl_matrix_batch_normalization_momentum(NULL), 0.0f);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_set_momentum(NULL, 0.5f),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_OK(mpscl_matrix_batch_normalization_set_momentum(k, 0.0f));
    ck_assert_float_eq(mpscl_matrix_batch_normalization_momentum(k), 0.0f);
    ASSERT_OK(mpscl_matrix_batch_normalization_set_momentum(k, 1.0f));
    ck_assert_float_eq(mpscl_matrix_batch_normalization_momentum(k), 1.0f);
    ASSERT_OK(mpscl_matrix_batch_normalization_set_momentum(k, 0.375f));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ASSERT_STATUS(mpscl_matrix_batch_normalization_set_momentum(k, bad[i]),
                      MPSCL_ERROR_INVALID_ARGUMENT);
        ck_assert_ptr_nonnull(strstr(mpscl_last_error_message(), "momentum"));
        ck_assert_float_eq(mpscl_matrix_batch_normalization_momentum(k), 0.375f);
    }
    ASSERT_OK(mpscl_matrix_batch_normalization_copy(k, NULL, &copy));
    ck_assert_float_eq(mpscl_matrix_batch_normalization_momentum(copy), 0.375f);
    ASSERT_OK(mpscl_matrix_batch_normalization_set_momentum(copy, 0.5f));
    ck_assert_float_eq(mpscl_matrix_batch_normalization_momentum(k), 0.375f);
    mpscl_matrix_batch_normalization_release(copy);
    mpscl_matrix_batch_normalization_release(k);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("bn_running");
    TCase *steps = tcase_create("steps");
    TCase *other = tcase_create("semantics");

    tcase_add_checked_fixture(steps, test_device_setup, test_device_teardown);
    tcase_set_timeout(steps, 300);
    tcase_add_loop_test(steps, test_steps, 0, NSTEP_RUNS);
    tcase_add_loop_test(steps, test_bitwise_reruns, 0, NLAYOUTS);
    tcase_add_loop_test(steps, test_same_as_plain_encode, 0, NLAYOUTS);
    suite_add_tcase(s, steps);
    tcase_add_checked_fixture(other, test_device_setup, test_device_teardown);
    tcase_set_timeout(other, 120);
    tcase_add_test(other, test_refusals);
    tcase_add_test(other, test_momentum_property);
    suite_add_tcase(s, other);
    return test_run_suite(s);
}
