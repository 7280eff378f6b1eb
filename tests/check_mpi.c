/* tests/check_mpi.c: the MPI layer (include/mpscl/mpi.h), run by tests/mpi.sh under mpirun with
 * 1 to 4 ranks. Each case splits one batch over the ranks (equal shares, unequal shares, a rank
 * with none), runs the data-parallel forward and gradient twice, gathers every output on rank 0
 * and holds it to: the fp64 reference; the single-device run of the whole batch (within 1e-6
 * relative in fp32, 2^-10 for fp16 outputs in the default mode; bitwise with reproducible on);
 * itself (the two runs bitwise); and every rank's copy of the vectors (bitwise). With
 * MPSCL_MPI_TEST_OUT set, rank 0 writes each reproducible case's outputs to
 * $MPSCL_MPI_TEST_OUT/<case>-P<ranks>.bin, which the driver compares across world sizes.
 *
 * Check runs without fork (a forked child cannot use the parent's MPI), so every rank runs every
 * test in the same order; assertions that depend on gathered data are made on rank 0 after the
 * test's last collective, and statuses are the same on every rank by the layer's contract. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>
#include <mpscl/mpi.h>

#include "tools/ref.h"
#include "util.h"

static int rank, ranks;

#define ASSERT_MPI(call, want)                                                              \
    do {                                                                                    \
        mpscl_status got_ = (call), want_ = (want);                                         \
        ck_assert_msg(got_ == want_, "rank %d: %s returned %s (%d), expected %s (%d): %s",  \
                      rank, #call, mpscl_status_string(got_), (int)got_,                    \
                      mpscl_status_string(want_), (int)want_,                               \
                      mpscl_mpi_last_error_message());                                      \
    } while (0)

enum { EQUAL, UNEQUAL, EMPTY_LAST };

typedef struct mpi_case {
    const char *name;
    size_t rows, cols, mats;
    mpscl_data_type type;
    int split;
    mpscl_neuron_type neuron;
    float na, nb, nc;
    int frozen;
    size_t vpad;        /* vectors longer than the columns by this much */
} mpi_case;

/* Odd column counts (not multiples of 4 or of a tile), rows that no rank count divides evenly
 * except the first case's, a batch of two, vectors longer than the region's columns, fp16 with a
 * neuron that has a kink, and frozen statistics. Two (type, neuron) pairs only: each pair is four
 * programs to build (two families, two modes), which dominate a cold run. */
static const mpi_case cases[] = {
    {"f32-equal", 120, 37, 1, MPSCL_DATA_TYPE_FLOAT32, EQUAL, MPSCL_NEURON_NONE, 0, 0, 0, 0, 0},
    {"f32-unequal", 123, 37, 1, MPSCL_DATA_TYPE_FLOAT32, UNEQUAL, MPSCL_NEURON_NONE, 0, 0, 0, 0, 3},
    {"f32-empty-rank", 50, 19, 1, MPSCL_DATA_TYPE_FLOAT32, EMPTY_LAST, MPSCL_NEURON_NONE, 0, 0, 0,
     0, 0},
    {"f32-batch2", 41, 13, 2, MPSCL_DATA_TYPE_FLOAT32, UNEQUAL, MPSCL_NEURON_NONE, 0, 0, 0, 0, 1},
    {"f16-relu-unequal", 101, 29, 1, MPSCL_DATA_TYPE_FLOAT16, UNEQUAL, MPSCL_NEURON_RELU, 0.1f, 0,
     0, 0, 0},
    {"f16-relu-frozen", 66, 11, 1, MPSCL_DATA_TYPE_FLOAT16, EMPTY_LAST, MPSCL_NEURON_RELU, 0.1f, 0,
     0, 1, 0},
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

/* ---- the batch and its split ---- */

/* Rank r's first row and row count under a split of n rows over p ranks. */
static void
share_of(int split, size_t n, int p, int r, size_t *first, size_t *count)
{
    size_t a, b;

    if (split == EMPTY_LAST && p > 1) {
        if (r == p - 1) {
            *first = n;
            *count = 0;
            return;
        }
        p--;
    }
    if (split == UNEQUAL) {
        /* weights 1, 2, ..., p */
        size_t total = (size_t)p * (size_t)(p + 1) / 2;
        a = n * ((size_t)r * (size_t)(r + 1) / 2) / total;
        b = n * ((size_t)(r + 1) * (size_t)(r + 2) / 2) / total;
    } else {
        a = n * (size_t)r / (size_t)p;
        b = n * (size_t)(r + 1) / (size_t)p;
    }
    *first = a;
    *count = b - a;
}

/* The whole batch, identical on every rank: x with a different mean and scale per column, dy,
 * gamma, beta, and the running statistics before the step. Matrices are packed (b, row, col) in
 * the case's type; vectors float32 (mats x cols). */
typedef struct batch {
    const mpi_case *c;
    size_t es;
    unsigned char *x, *dy;
    float *gamma, *beta, *rmean0, *rvar0;
} batch;

static void
batch_make(batch *bt, const mpi_case *c)
{
    size_t n = c->mats * c->rows * c->cols, v = c->mats * c->cols;
    uint64_t seed = 0x5eed0000u + (uint64_t)c->rows * 131u + c->cols;

    bt->c = c;
    bt->es = mpscl_data_type_size(c->type);
    bt->x = malloc(n * bt->es);
    bt->dy = malloc(n * bt->es);
    bt->gamma = malloc(v * sizeof(float));
    bt->beta = malloc(v * sizeof(float));
    bt->rmean0 = malloc(v * sizeof(float));
    bt->rvar0 = malloc(v * sizeof(float));
    ck_assert(bt->x && bt->dy && bt->gamma && bt->beta && bt->rmean0 && bt->rvar0);
    for (size_t i = 0; i < n; i++) {
        size_t j = i % c->cols;
        double scale = 0.5 + (double)(j % 7), offset = (double)j - 9.5;
        test_store(c->type, bt->x, i, offset + scale * test_rng_uniform(&seed, -1.0f, 1.0f));
        test_store(c->type, bt->dy, i, test_rng_uniform(&seed, -1.0f, 1.0f));
    }
    for (size_t i = 0; i < v; i++) {
        bt->gamma[i] = test_rng_uniform(&seed, 0.5f, 1.5f);
        bt->beta[i] = test_rng_uniform(&seed, -0.5f, 0.5f);
        bt->rmean0[i] = 0.25f;
        bt->rvar0[i] = 2.0f;
    }
}

static void
batch_free(batch *bt)
{
    free(bt->x);
    free(bt->dy);
    free(bt->gamma);
    free(bt->beta);
    free(bt->rmean0);
    free(bt->rvar0);
}

/* ---- outputs ---- */

enum { V_MEAN, V_VAR, V_RMEAN, V_RVAR, V_DGAMMA, V_DBETA, V_COUNT };
static const char *const vector_names[V_COUNT] = {"mean", "variance", "running_mean",
                                                  "running_variance", "dgamma", "dbeta"};

/* Every output of a step over the whole batch: y and dx packed like x, vectors mats x cols. */
typedef struct outputs {
    unsigned char *y, *dx;
    float *v[V_COUNT];
} outputs;

static void
outputs_alloc(outputs *o, const batch *bt)
{
    size_t n = bt->c->mats * bt->c->rows * bt->c->cols;

    o->y = calloc(n, bt->es);
    o->dx = calloc(n, bt->es);
    ck_assert(o->y && o->dx);
    for (int i = 0; i < V_COUNT; i++) {
        o->v[i] = calloc(bt->c->mats * bt->c->cols, sizeof(float));
        ck_assert_ptr_nonnull(o->v[i]);
    }
}

static void
outputs_free(outputs *o)
{
    free(o->y);
    free(o->dx);
    for (int i = 0; i < V_COUNT; i++)
        free(o->v[i]);
}

static int
outputs_equal(const outputs *a, const outputs *b, const batch *bt, const char **which)
{
    size_t n = bt->c->mats * bt->c->rows * bt->c->cols * bt->es;
    size_t v = bt->c->mats * bt->c->cols * sizeof(float);

    *which = "y";
    if (memcmp(a->y, b->y, n) != 0)
        return 0;
    *which = "dx";
    if (memcmp(a->dx, b->dx, n) != 0)
        return 0;
    for (int i = 0; i < V_COUNT; i++) {
        *which = vector_names[i];
        if (memcmp(a->v[i], b->v[i], v) != 0)
            return 0;
    }
    return 1;
}

/* ---- one rank's share on the device ---- */

typedef struct share {
    size_t first, rows;           /* rows of the batch; rows 0: an empty share */
    mpscl_matrix *x, *dy, *y, *dx;
    mpscl_vector *v[V_COUNT], *gamma, *beta;
    mpscl_matrix_batch_normalization *fwd;
    mpscl_matrix_batch_normalization_gradient *grad;
} share;

/* A matrix of the share's rows (one row when empty: no matrix has none) with padded rows, holding
 * rows [first, first + rows) of each matrix of src when src is not NULL. */
static mpscl_matrix *
share_matrix(const batch *bt, const share *sh, const unsigned char *src)
{
    const mpi_case *c = bt->c;
    size_t rows = sh->rows > 0 ? sh->rows : 1, rb;
    mpscl_matrix_descriptor d;
    mpscl_matrix *m = NULL;
    unsigned char *host;

    rb = mpscl_matrix_descriptor_row_bytes_from_columns(c->cols, c->type);
    d = mpscl_matrix_descriptor_make_batch(rows, c->cols, c->mats, rb, rows * rb, c->type);
    ASSERT_OK(mpscl_matrix_create(test_device, &d, &m));
    host = calloc(c->mats * rows * c->cols, bt->es);
    ck_assert_ptr_nonnull(host);
    for (size_t b = 0; src != NULL && b < c->mats; b++)
        memcpy(host + b * rows * c->cols * bt->es,
               src + (b * c->rows + sh->first) * c->cols * bt->es, sh->rows * c->cols * bt->es);
    ASSERT_OK(mpscl_matrix_write(m, host, c->cols * bt->es));
    free(host);
    return m;
}

/* A float32 vector per matrix, cols + vpad long, holding init's cols values per matrix (NULL:
 * zeros) and a NaN canary in the padding. */
static mpscl_vector *
share_vector(const batch *bt, const float *init)
{
    size_t cols = bt->c->cols, len = cols + bt->c->vpad;
    mpscl_vector_descriptor d = mpscl_vector_descriptor_make_batch(len, bt->c->mats,
                                                                   len * sizeof(float),
                                                                   MPSCL_DATA_TYPE_FLOAT32);
    float *host = malloc(bt->c->mats * len * sizeof *host);
    mpscl_vector *v = NULL;

    ck_assert_ptr_nonnull(host);
    for (size_t b = 0; b < bt->c->mats; b++)
        for (size_t j = 0; j < len; j++)
            host[b * len + j] = j >= cols ? NAN : init != NULL ? init[b * cols + j] : 0.0f;
    ASSERT_OK(mpscl_vector_create(test_device, &d, &v));
    ASSERT_OK(mpscl_vector_write(v, host));
    free(host);
    return v;
}

/* The cols values of each matrix's vector into dst (mats x cols); the padding must still hold
 * its NaN canary. */
static void
read_vector(const batch *bt, const mpscl_vector *v, float *dst)
{
    size_t cols = bt->c->cols, len = cols + bt->c->vpad;
    float *host = malloc(bt->c->mats * len * sizeof *host);

    ck_assert_ptr_nonnull(host);
    ASSERT_OK(mpscl_vector_read(v, host));
    for (size_t b = 0; b < bt->c->mats; b++) {
        memcpy(dst + b * cols, host + b * len, cols * sizeof *dst);
        for (size_t j = cols; j < len; j++)
            ck_assert_msg(isnan(host[b * len + j]), "a vector was written past the columns");
    }
    free(host);
}

static void
share_kernels(share *sh, const mpi_case *c, int reproducible)
{
    ASSERT_OK(mpscl_matrix_batch_normalization_create(test_device, &sh->fwd));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_epsilon(sh->fwd, 1e-5f));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_neuron_type(sh->fwd, c->neuron, c->na, c->nb,
                                                               c->nc));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_reproducible(sh->fwd, reproducible));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_create(test_device, &sh->grad));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_epsilon(sh->grad, 1e-5f));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_neuron_type(sh->grad, c->neuron,
                                                                        c->na, c->nb, c->nc));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_reproducible(sh->grad, reproducible));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_frozen_statistics(sh->grad,
                                                                              c->frozen));
    if (sh->rows == 0) {
        ASSERT_OK(mpscl_matrix_batch_normalization_set_source_number_of_feature_vectors(sh->fwd,
                                                                                        0));
        ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_source_number_of_feature_vectors(
            sh->grad, 0));
    }
}

static void
share_make(share *sh, const batch *bt, size_t first, size_t rows, int reproducible)
{
    memset(sh, 0, sizeof *sh);
    sh->first = first;
    sh->rows = rows;
    sh->x = share_matrix(bt, sh, bt->x);
    sh->dy = share_matrix(bt, sh, bt->dy);
    sh->y = share_matrix(bt, sh, NULL);
    sh->dx = share_matrix(bt, sh, NULL);
    sh->gamma = share_vector(bt, bt->gamma);
    sh->beta = share_vector(bt, bt->beta);
    for (int i = 0; i < V_COUNT; i++)
        sh->v[i] = share_vector(bt, i == V_RMEAN ? bt->rmean0 : i == V_RVAR ? bt->rvar0 : NULL);
    share_kernels(sh, bt->c, reproducible);
}

static void
share_free(share *sh)
{
    mpscl_matrix_release(sh->x);
    mpscl_matrix_release(sh->dy);
    mpscl_matrix_release(sh->y);
    mpscl_matrix_release(sh->dx);
    mpscl_vector_release(sh->gamma);
    mpscl_vector_release(sh->beta);
    for (int i = 0; i < V_COUNT; i++)
        mpscl_vector_release(sh->v[i]);
    mpscl_matrix_batch_normalization_release(sh->fwd);
    mpscl_matrix_batch_normalization_gradient_release(sh->grad);
}

/* ---- gathering on rank 0 ---- */

/* The share's rows of m (a matrix of the share) into the whole-batch array dst on rank 0. */
static void
gather_matrix(const batch *bt, const share *sh, const mpscl_matrix *m, unsigned char *dst)
{
    const mpi_case *c = bt->c;
    size_t row = c->cols * bt->es, rows = sh->rows > 0 ? sh->rows : 1;
    unsigned char *mine = malloc(c->mats * rows * row), *all = NULL;
    int count = (int)(c->mats * sh->rows * row), *counts = NULL, *displs = NULL;

    ck_assert_ptr_nonnull(mine);
    ASSERT_OK(mpscl_matrix_read(m, mine, row));
    if (rank == 0) {
        counts = malloc((size_t)ranks * sizeof *counts);
        displs = malloc((size_t)ranks * sizeof *displs);
        all = malloc(c->mats * c->rows * row);
        ck_assert(counts && displs && all);
    }
    MPI_Gather(&count, 1, MPI_INT, counts, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (rank == 0)
        for (int r = 0, at = 0; r < ranks; r++) {
            displs[r] = at;
            at += counts[r];
        }
    MPI_Gatherv(mine, count, MPI_BYTE, all, counts, displs, MPI_BYTE, 0, MPI_COMM_WORLD);
    /* Rank r sent its matrices one after another; in dst, matrix b's rows follow each other. */
    for (int r = 0; rank == 0 && r < ranks; r++) {
        size_t first, n;
        share_of(c->split, c->rows, ranks, r, &first, &n);
        for (size_t b = 0; b < c->mats; b++)
            memcpy(dst + (b * c->rows + first) * row,
                   all + (size_t)displs[r] + b * n * row, n * row);
    }
    free(mine);
    free(all);
    free(counts);
    free(displs);
}

/* Vector i of every rank to rank 0, which keeps rank 0's copy in dst and returns the first rank
 * whose copy differs in any bit (-1: none). */
static int
gather_vector(const batch *bt, const mpscl_vector *v, float *dst)
{
    size_t n = bt->c->mats * bt->c->cols;
    float *mine = malloc(n * sizeof *mine), *all = NULL;
    int differs = -1;

    ck_assert_ptr_nonnull(mine);
    read_vector(bt, v, mine);
    if (rank == 0) {
        all = malloc((size_t)ranks * n * sizeof *all);
        ck_assert_ptr_nonnull(all);
    }
    MPI_Gather(mine, (int)n, MPI_FLOAT, all, (int)n, MPI_FLOAT, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        memcpy(dst, all, n * sizeof *dst);
        for (int r = 1; r < ranks && differs < 0; r++)
            if (memcmp(all + (size_t)r * n, all, n * sizeof *all) != 0)
                differs = r;
    }
    free(mine);
    free(all);
    return differs;
}

/* ---- the steps ---- */

/* One data-parallel forward and gradient over MPI_COMM_WORLD from fresh running statistics, its
 * outputs gathered into o on rank 0. */
static void
run_mpi(const batch *bt, int reproducible, outputs *o)
{
    const mpi_case *c = bt->c;
    mpscl_mpi_timings tf, tg;
    size_t first, rows;
    share sh;
    int differs;

    share_of(c->split, c->rows, ranks, rank, &first, &rows);
    share_make(&sh, bt, first, rows, reproducible);
    /* The step ignores compute_statistics, and must leave it as it found it. */
    ASSERT_OK(mpscl_matrix_batch_normalization_set_compute_statistics(sh.fwd, 1));
    ASSERT_MPI(mpscl_mpi_matrix_batch_normalization_run(
                   sh.fwd, MPI_COMM_WORLD, sh.x, sh.v[V_MEAN], sh.v[V_VAR], sh.gamma, sh.beta,
                   sh.y, sh.v[V_RMEAN], sh.v[V_RVAR], &tf),
               MPSCL_SUCCESS);
    ASSERT_MPI(mpscl_mpi_matrix_batch_normalization_gradient_run(
                   sh.grad, MPI_COMM_WORLD, sh.dy, sh.x, sh.v[V_MEAN], sh.v[V_VAR], sh.gamma,
                   sh.beta, sh.dx, sh.v[V_DGAMMA], sh.v[V_DBETA], &tg),
               MPSCL_SUCCESS);
    ck_assert_int_eq(mpscl_matrix_batch_normalization_compute_statistics(sh.fwd), 1);
    /* Collectives: the agreement, one exchange per round, the outcome. */
    ck_assert_uint_eq(tf.collectives,
                      mpscl_matrix_batch_normalization_statistics_rounds(sh.fwd) + 2);
    ck_assert_uint_eq(tg.collectives, 3);
    ck_assert(tf.local_us >= 0 && tf.exchange_us >= 0 && tf.apply_us >= 0);
    ck_assert(tf.whole_us + 1.0 >= tf.local_us + tf.exchange_us + tf.apply_us);
    ck_assert(tg.whole_us + 1.0 >= tg.local_us + tg.exchange_us + tg.apply_us);
    gather_matrix(bt, &sh, sh.y, o->y);
    gather_matrix(bt, &sh, sh.dx, o->dx);
    for (int i = 0; i < V_COUNT; i++) {
        differs = gather_vector(bt, sh.v[i], o->v[i]);
        if (rank == 0)
            ck_assert_msg(differs < 0, "%s: rank %d's %s differs from rank 0's", c->name, differs,
                          vector_names[i]);
    }
    share_free(&sh);
}

/* The same step on one device over the whole batch, with the core's encodes (rank 0 only). */
static void
run_single(const batch *bt, int reproducible, outputs *o)
{
    const mpi_case *c = bt->c;
    mpscl_command_buffer *cb = NULL;
    share sh;

    share_make(&sh, bt, 0, c->rows, reproducible);
    ASSERT_OK(mpscl_matrix_batch_normalization_set_compute_statistics(sh.fwd, 1));
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    ASSERT_OK(mpscl_matrix_batch_normalization_encode_with_running_statistics(
        sh.fwd, cb, sh.x, sh.v[V_MEAN], sh.v[V_VAR], sh.gamma, sh.beta, sh.y, sh.v[V_RMEAN],
        sh.v[V_RVAR]));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_encode(
        sh.grad, cb, sh.dy, sh.x, sh.v[V_MEAN], sh.v[V_VAR], sh.gamma, sh.beta, sh.dx,
        sh.v[V_DGAMMA], sh.v[V_DBETA]));
    ASSERT_OK(mpscl_command_buffer_commit(cb));
    ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb));
    mpscl_command_buffer_release(cb);
    ASSERT_OK(mpscl_matrix_read(sh.y, o->y, c->cols * bt->es));
    ASSERT_OK(mpscl_matrix_read(sh.dx, o->dx, c->cols * bt->es));
    for (int i = 0; i < V_COUNT; i++)
        read_vector(bt, sh.v[i], o->v[i]);
    share_free(&sh);
}

/* ---- comparisons (rank 0) ---- */

/* fp32 outputs within 1e-6 norm-wise (tests/bn_cases.c derives it for these sizes); fp16 ones
 * within 2^-10, two rounding steps of fp16's 2^-11 (check_bn_types uses the same bound). */
static double
bound_for(mpscl_data_type t)
{
    return t == MPSCL_DATA_TYPE_FLOAT16 ? ldexp(1, -10) : 1e-6;
}

/* Matrix b of an output array as floats. */
static float *
to_floats(const batch *bt, const unsigned char *a, size_t b)
{
    size_t n = bt->c->rows * bt->c->cols;
    float *f = malloc(n * sizeof *f);

    ck_assert_ptr_nonnull(f);
    for (size_t i = 0; i < n; i++)
        f[i] = (float)test_load(bt->c->type, a, b * n + i);
    return f;
}

static void
expect_close(const char *what, size_t b, double err, double bound)
{
    ck_assert_msg(err <= bound, "%s, matrix %zu: relative error %.3g above %.3g", what, b, err,
                  bound);
}

/* got against want (both outputs) within the bounds, as norm-wise relative errors. */
static void
compare_outputs(const batch *bt, const outputs *got, const outputs *want, const char *label)
{
    const mpi_case *c = bt->c;
    size_t n = c->rows, cols = c->cols;
    double *wd = malloc(n * cols * sizeof *wd);
    char what[96];

    ck_assert_ptr_nonnull(wd);
    for (size_t b = 0; b < c->mats; b++) {
        const unsigned char *g[2] = {got->y, got->dx}, *w[2] = {want->y, want->dx};
        for (int m = 0; m < 2; m++) {
            float *gf = to_floats(bt, g[m], b), *wf = to_floats(bt, w[m], b);
            for (size_t i = 0; i < n * cols; i++)
                wd[i] = wf[i];
            snprintf(what, sizeof what, "%s: %s %s", c->name, label, m == 0 ? "y" : "dx");
            expect_close(what, b, ref_rel_l2(n, cols, (ref_view){gf, cols}, wd),
                         bound_for(c->type));
            free(gf);
            free(wf);
        }
        for (int i = 0; i < V_COUNT; i++) {
            for (size_t j = 0; j < cols; j++)
                wd[j] = want->v[i][b * cols + j];
            snprintf(what, sizeof what, "%s: %s %s", c->name, label, vector_names[i]);
            expect_close(what, b, ref_rel_l2_vec(cols, got->v[i] + b * cols, wd), 1e-6);
        }
    }
    free(wd);
}

/* The data-parallel outputs against the fp64 reference on the whole batch (the normalisation and
 * the gradient with the statistics the step produced, as the device used them). */
static void
compare_reference(const batch *bt, const outputs *o)
{
    const mpi_case *c = bt->c;
    size_t n = c->rows, cols = c->cols;
    ref_neuron nr = {(int)c->neuron, c->na, c->nb, c->nc};
    double *y = malloc(n * cols * sizeof *y), *dx = malloc(n * cols * sizeof *dx);
    double mean[64], var[64], dg[64], db[64], rm[64], rv[64];
    char what[96];

    ck_assert(y && dx && cols <= 64);
    for (size_t b = 0; b < c->mats; b++) {
        float *x = to_floats(bt, bt->x, b), *dy = to_floats(bt, bt->dy, b);
        float *gy = to_floats(bt, o->y, b), *gdx = to_floats(bt, o->dx, b);
        const float *m = o->v[V_MEAN] + b * cols, *v = o->v[V_VAR] + b * cols;
        const float *gamma = bt->gamma + b * cols, *beta = bt->beta + b * cols;

        ref_bn_statistics(n, cols, (ref_view){x, cols}, mean, var);
        for (size_t j = 0; j < cols; j++) {
            rm[j] = bt->rmean0[b * cols + j];
            rv[j] = bt->rvar0[b * cols + j];
        }
        ref_bn_running_statistics(n, cols, (ref_view){x, cols}, 0.1, rm, rv);
        ref_bn_forward(n, cols, (ref_view){x, cols}, m, v, gamma, beta, 1e-5f, &nr, y);
        (c->frozen ? ref_bn_gradient_frozen : ref_bn_gradient)(
            n, cols, (ref_view){dy, cols}, (ref_view){x, cols}, m, v, gamma, beta, 1e-5f, &nr,
            dx, dg, db);
        snprintf(what, sizeof what, "%s: reference", c->name);
        expect_close(what, b, ref_rel_l2_vec(cols, m, mean), 1e-6);
        expect_close(what, b, ref_rel_l2_vec(cols, v, var), 1e-6);
        expect_close(what, b, ref_rel_l2_vec(cols, o->v[V_RMEAN] + b * cols, rm), 1e-6);
        expect_close(what, b, ref_rel_l2_vec(cols, o->v[V_RVAR] + b * cols, rv), 1e-6);
        expect_close(what, b, ref_rel_l2(n, cols, (ref_view){gy, cols}, y), bound_for(c->type));
        expect_close(what, b, ref_rel_l2(n, cols, (ref_view){gdx, cols}, dx),
                     bound_for(c->type));
        expect_close(what, b, ref_rel_l2_vec(cols, o->v[V_DGAMMA] + b * cols, dg), 1e-6);
        expect_close(what, b, ref_rel_l2_vec(cols, o->v[V_DBETA] + b * cols, db), 1e-6);
        free(x);
        free(dy);
        free(gy);
        free(gdx);
    }
    free(y);
    free(dx);
}

static void
write_outputs(const batch *bt, const outputs *o)
{
    const char *dir = getenv("MPSCL_MPI_TEST_OUT");
    size_t n = bt->c->mats * bt->c->rows * bt->c->cols, v = bt->c->mats * bt->c->cols;
    char path[512];
    FILE *f;

    if (dir == NULL || *dir == '\0')
        return;
    snprintf(path, sizeof path, "%s/%s-P%d.bin", dir, bt->c->name, ranks);
    f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    ck_assert_uint_eq(fwrite(o->y, bt->es, n, f), n);
    ck_assert_uint_eq(fwrite(o->dx, bt->es, n, f), n);
    for (int i = 0; i < V_COUNT; i++)
        ck_assert_uint_eq(fwrite(o->v[i], sizeof(float), v, f), v);
    ck_assert_int_eq(fclose(f), 0);
}

/* _i: case i / 2, reproducible when i is odd. */
START_TEST(data_parallel_step)
{
    const mpi_case *c = &cases[_i / 2];
    int reproducible = _i % 2;
    outputs first, second, single;
    const char *which = NULL;
    batch bt;

    batch_make(&bt, c);
    outputs_alloc(&first, &bt);
    outputs_alloc(&second, &bt);
    outputs_alloc(&single, &bt);
    run_mpi(&bt, reproducible, &first);
    run_mpi(&bt, reproducible, &second);
    if (rank == 0) {
        ck_assert_msg(outputs_equal(&first, &second, &bt, &which),
                      "%s (reproducible %d, %d ranks): two runs differ in %s", c->name,
                      reproducible, ranks, which);
        run_single(&bt, reproducible, &single);
        compare_reference(&bt, &first);
        if (reproducible) {
            ck_assert_msg(outputs_equal(&first, &single, &bt, &which),
                          "%s (%d ranks): reproducible mode differs from one device in %s",
                          c->name, ranks, which);
            write_outputs(&bt, &first);
        } else {
            compare_outputs(&bt, &first, &single, "against one device");
        }
    }
    outputs_free(&first);
    outputs_free(&second);
    outputs_free(&single);
    batch_free(&bt);
}
END_TEST

/* ---- failures: every rank returns together, nothing written ---- */

static const mpi_case small = {"small", 24, 7, 1, MPSCL_DATA_TYPE_FLOAT32, EQUAL,
                               MPSCL_NEURON_NONE, 0, 0, 0, 0, 0};

/* What a rank other than `culprit` must return when `culprit` alone failed with `own`. */
static mpscl_status
expected(int culprit, mpscl_status own)
{
    return rank == culprit ? own : MPSCL_ERROR_COMMUNICATION;
}

/* Every element of the share's outputs as the share was made: y and dx zero, mean, variance,
 * dgamma, dbeta zero, running statistics at their starting values. */
static void
expect_untouched(const batch *bt, const share *sh)
{
    size_t rows = sh->rows > 0 ? sh->rows : 1, n = bt->c->mats * rows * bt->c->cols;
    size_t v = bt->c->mats * bt->c->cols;
    unsigned char *m = malloc(n * bt->es), *zero = calloc(n, bt->es);
    float *f = malloc(v * sizeof *f);

    ck_assert(m && zero && f);
    ASSERT_OK(mpscl_matrix_read(sh->y, m, bt->c->cols * bt->es));
    ck_assert_msg(memcmp(m, zero, n * bt->es) == 0, "rank %d: y was written", rank);
    ASSERT_OK(mpscl_matrix_read(sh->dx, m, bt->c->cols * bt->es));
    ck_assert_msg(memcmp(m, zero, n * bt->es) == 0, "rank %d: dx was written", rank);
    for (int i = 0; i < V_COUNT; i++) {
        const float *want = i == V_RMEAN ? bt->rmean0 : i == V_RVAR ? bt->rvar0 : NULL;
        read_vector(bt, sh->v[i], f);
        for (size_t j = 0; j < v; j++)
            ck_assert_msg(f[j] == (want != NULL ? want[j] : 0.0f), "rank %d: %s[%zu] was written",
                          rank, vector_names[i], j);
    }
    free(m);
    free(zero);
    free(f);
}

static void
error_share(share *sh, batch *bt)
{
    size_t first, rows;

    batch_make(bt, &small);
    share_of(EQUAL, small.rows, ranks, rank, &first, &rows);
    share_make(sh, bt, first, rows, 0);
}

static mpscl_status
forward(share *sh, MPI_Comm comm)
{
    return mpscl_mpi_matrix_batch_normalization_run(sh->fwd, comm, sh->x, sh->v[V_MEAN],
                                                    sh->v[V_VAR], sh->gamma, sh->beta, sh->y,
                                                    sh->v[V_RMEAN], sh->v[V_RVAR], NULL);
}

static mpscl_status
gradient(share *sh, MPI_Comm comm)
{
    return mpscl_mpi_matrix_batch_normalization_gradient_run(
        sh->grad, comm, sh->dy, sh->x, sh->v[V_MEAN], sh->v[V_VAR], sh->gamma, sh->beta, sh->dx,
        sh->v[V_DGAMMA], sh->v[V_DBETA], NULL);
}

/* The last rank passes a NULL operand: it is refused there, every other rank hears of it, and
 * no rank writes anything; the communicator's error handler is the caller's again. */
START_TEST(one_rank_refuses)
{
    int culprit = ranks - 1;
    MPI_Errhandler h;
    mpscl_vector *keep;
    share sh;
    batch bt;

    error_share(&sh, &bt);
    keep = sh.v[V_MEAN];
    if (rank == culprit)
        sh.v[V_MEAN] = NULL;
    ASSERT_MPI(forward(&sh, MPI_COMM_WORLD), expected(culprit, MPSCL_ERROR_INVALID_ARGUMENT));
    ck_assert_ptr_nonnull(strstr(mpscl_mpi_last_error_message(),
                                 rank == culprit ? "mean is NULL" : "failed its checks"));
    sh.v[V_MEAN] = keep;
    /* A dx with half the columns on the culprit. */
    if (rank == culprit) {
        mpscl_matrix_descriptor d = mpscl_matrix_descriptor_make(1, small.cols / 2,
                                                                 small.cols * 4,
                                                                 MPSCL_DATA_TYPE_FLOAT32);
        mpscl_matrix_release(sh.dx);
        ASSERT_OK(mpscl_matrix_create(test_device, &d, &sh.dx));
    }
    ASSERT_MPI(gradient(&sh, MPI_COMM_WORLD), expected(culprit, MPSCL_ERROR_INVALID_SHAPE));
    if (rank == culprit) {
        mpscl_matrix_release(sh.dx);
        sh.dx = share_matrix(&bt, &sh, NULL);
    }
    expect_untouched(&bt, &sh);
    MPI_Comm_get_errhandler(MPI_COMM_WORLD, &h);
    ck_assert_msg(h == MPI_ERRORS_ARE_FATAL, "the communicator's error handler was not restored");
    MPI_Errhandler_free(&h);
    share_free(&sh);
    batch_free(&bt);
}
END_TEST

/* Ranks that disagree on the columns (INVALID_SHAPE) or on epsilon (INVALID_ARGUMENT) all fail
 * alike and write nothing; with one rank there is nothing to disagree with. */
START_TEST(ranks_disagree)
{
    share sh;
    batch bt;

    error_share(&sh, &bt);
    if (rank == ranks - 1) {
        ASSERT_OK(mpscl_matrix_batch_normalization_set_source_input_feature_channels(
            sh.fwd, small.cols - 1));
        ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_epsilon(sh.grad, 1e-3f));
    }
    ASSERT_MPI(forward(&sh, MPI_COMM_WORLD),
               ranks > 1 ? MPSCL_ERROR_INVALID_SHAPE : MPSCL_SUCCESS);
    if (ranks > 1) {
        ck_assert_ptr_nonnull(strstr(mpscl_mpi_last_error_message(), "disagree on columns"));
        ASSERT_MPI(gradient(&sh, MPI_COMM_WORLD), MPSCL_ERROR_INVALID_ARGUMENT);
        ck_assert_ptr_nonnull(strstr(mpscl_mpi_last_error_message(), "disagree on epsilon"));
        expect_untouched(&bt, &sh);
    }
    share_free(&sh);
    batch_free(&bt);
}
END_TEST

/* No rows anywhere: refused on every rank. */
START_TEST(every_share_empty)
{
    share sh;
    batch bt;

    batch_make(&bt, &small);
    share_make(&sh, &bt, 0, 0, 0);
    ASSERT_MPI(forward(&sh, MPI_COMM_WORLD), MPSCL_ERROR_INVALID_SHAPE);
    ck_assert_ptr_nonnull(strstr(mpscl_mpi_last_error_message(), "every rank's share is empty"));
    ASSERT_MPI(gradient(&sh, MPI_COMM_WORLD), MPSCL_ERROR_INVALID_SHAPE);
    expect_untouched(&bt, &sh);
    share_free(&sh);
    batch_free(&bt);
}
END_TEST

/* Arguments refused on the spot, before any collective: a NULL kernel is refused collectively
 * (the rank still takes part), MPI_COMM_NULL and inter-communicators locally on every rank. */
START_TEST(bad_communicators)
{
    mpscl_matrix_batch_normalization *keep;
    share sh;
    batch bt;

    error_share(&sh, &bt);
    ASSERT_MPI(forward(&sh, MPI_COMM_NULL), MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_MPI(gradient(&sh, MPI_COMM_NULL), MPSCL_ERROR_INVALID_ARGUMENT);
    keep = sh.fwd;
    if (rank == 0)
        sh.fwd = NULL;
    ASSERT_MPI(forward(&sh, MPI_COMM_WORLD), expected(0, MPSCL_ERROR_INVALID_ARGUMENT));
    sh.fwd = keep;
    if (ranks > 1) {
        MPI_Comm half, inter;
        int color = rank % 2;
        MPI_Comm_split(MPI_COMM_WORLD, color, rank, &half);
        MPI_Intercomm_create(half, 0, MPI_COMM_WORLD, 1 - color, 7, &inter);
        ASSERT_MPI(forward(&sh, inter), MPSCL_ERROR_INVALID_ARGUMENT);
        ck_assert_ptr_nonnull(strstr(mpscl_mpi_last_error_message(), "inter-communicator"));
        MPI_Comm_free(&inter);
        MPI_Comm_free(&half);
    }
    expect_untouched(&bt, &sh);
    share_free(&sh);
    batch_free(&bt);
}
END_TEST

/* A sub-communicator: each half of the world runs its own step on its own rows, and gets the
 * statistics of its half only. */
START_TEST(sub_communicator)
{
    MPI_Comm half;
    int color = ranks > 1 && rank >= ranks / 2, hr, hn;
    size_t first, rows;
    share sh;
    batch bt;
    float *mean;
    double want[8], var[8];

    MPI_Comm_split(MPI_COMM_WORLD, color, rank, &half);
    MPI_Comm_rank(half, &hr);
    MPI_Comm_size(half, &hn);
    batch_make(&bt, &small);
    share_of(EQUAL, small.rows, hn, hr, &first, &rows);
    share_make(&sh, &bt, first, rows, 0);
    ASSERT_MPI(forward(&sh, half), MPSCL_SUCCESS);
    mean = malloc(small.cols * sizeof *mean);
    ck_assert_ptr_nonnull(mean);
    read_vector(&bt, sh.v[V_MEAN], mean);
    {
        float *x = to_floats(&bt, bt.x, 0);
        ref_bn_statistics(small.rows, small.cols, (ref_view){x, small.cols}, want, var);
        free(x);
    }
    expect_close("sub-communicator mean", 0, ref_rel_l2_vec(small.cols, mean, want), 1e-6);
    free(mean);
    MPI_Comm_free(&half);
    share_free(&sh);
    batch_free(&bt);
}
END_TEST

/* A refusal only the core makes (the result overlapping the input one row down, on the last
 * rank) comes in the last phase: every rank fails, through the outcome collective. */
START_TEST(last_phase_failure)
{
    int culprit = ranks - 1;
    share sh;
    batch bt;

    error_share(&sh, &bt);
    if (rank == culprit) {
        mpscl_matrix_descriptor d = mpscl_matrix_descriptor_make(
            sh.rows, small.cols, mpscl_matrix_row_bytes(sh.x), MPSCL_DATA_TYPE_FLOAT32);
        mpscl_matrix *alias = NULL;
        d.rows = sh.rows - 1;
        ASSERT_OK(mpscl_matrix_create_with_buffer(test_device, mpscl_matrix_buffer(sh.x),
                                                  mpscl_matrix_row_bytes(sh.x), &d, &alias));
        mpscl_matrix_release(sh.y);
        sh.y = alias;
        ASSERT_OK(mpscl_matrix_batch_normalization_set_source_number_of_feature_vectors(
            sh.fwd, sh.rows - 1));
    }
    ASSERT_MPI(forward(&sh, MPI_COMM_WORLD), expected(culprit, MPSCL_ERROR_INVALID_ARGUMENT));
    if (rank != culprit)
        ck_assert_ptr_nonnull(strstr(mpscl_mpi_last_error_message(), "in the last phase"));
    share_free(&sh);
    batch_free(&bt);
}
END_TEST

static Suite *
mpi_suite(void)
{
    Suite *s = suite_create("mpi");
    TCase *steps = tcase_create("steps"), *errors = tcase_create("errors");

    tcase_add_loop_test(steps, data_parallel_step, 0, 2 * NCASES);
    suite_add_tcase(s, steps);
    tcase_add_test(errors, one_rank_refuses);
    tcase_add_test(errors, ranks_disagree);
    tcase_add_test(errors, every_share_empty);
    tcase_add_test(errors, bad_communicators);
    tcase_add_test(errors, sub_communicator);
    tcase_add_test(errors, last_phase_failure);
    suite_add_tcase(s, errors);
    return s;
}

int
main(int argc, char **argv)
{
    SRunner *sr;
    int failed, any = 0;

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    if (mpscl_device_create_default(&test_device) != MPSCL_SUCCESS) {
        fprintf(stderr, "rank %d: no default device: %s\n", rank, mpscl_last_error_message());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    sr = srunner_create(mpi_suite());
    /* Every rank must run every test: a forked child cannot use the parent's MPI. */
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, rank == 0 ? CK_NORMAL : CK_SILENT);
    failed = srunner_ntests_failed(sr);
    if (rank != 0 && failed > 0) {
        TestResult **r = srunner_failures(sr);
        for (int i = 0; i < failed; i++)
            fprintf(stderr, "rank %d: %s:%d: %s\n", rank, tr_lfile(r[i]), tr_lno(r[i]),
                    tr_msg(r[i]));
        free(r);
    }
    srunner_free(sr);
    /* The cold run's cost is program builds: how many this rank compiled or loaded from cache. */
    if (rank == 0)
        printf("rank 0: %zu programs built, %zu loaded from the program cache\n",
               mpscl_device_programs_built(test_device),
               mpscl_device_programs_loaded(test_device));
    mpscl_device_release(test_device);
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Finalize();
    return any == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
