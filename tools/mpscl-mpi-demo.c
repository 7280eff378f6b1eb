/* mpscl-mpi-demo: data-parallel batch normalization over MPI. Run as
 *   mpirun -np 4 mpscl-mpi-demo [--rows N] [--columns C] [--type f32|f16] [--reproducible]
 *                               [--device D] [--iterations I]
 * Rank 0 makes a rows x columns batch and scatters its rows over the ranks (as evenly as they
 * divide; with fewer rows than ranks, some ranks hold none); every rank runs the data-parallel
 * forward (statistics of the whole batch, running statistics) and gradient on its share with
 * libmpscl-mpi, I times. Rank 0 gathers y and dx, runs the same step on the whole batch on its own
 * device, and prints the worst relative error and which outputs are bitwise equal, whether every
 * rank got the same vectors, and the median time of each phase on the slowest rank. Exits
 * non-zero when the ranks disagree, when reproducible results are not bitwise those of one
 * device, or when default-mode errors pass 1e-6 (fp32) or 2^-10 (fp16 outputs). */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpscl/mpi.h>

#include "tools/ref.h"
#include "tools/tool_util.h"

#define PROG "mpscl-mpi-demo"

typedef struct options {
    size_t rows, cols;
    mpscl_data_type type;
    int reproducible, iterations;
    const char *device;
} options;

enum { V_MEAN, V_VAR, V_RMEAN, V_RVAR, V_DGAMMA, V_DBETA, V_COUNT };
static const char *const vector_names[V_COUNT] = {"mean", "variance", "running_mean",
                                                  "running_variance", "dgamma", "dbeta"};

/* One process's operands: a share of the batch, or (rank 0's single-device run) all of it. */
typedef struct operands {
    size_t rows;                  /* 0: an empty share, held in matrices of one row */
    mpscl_matrix *x, *dy, *y, *dx;
    mpscl_vector *v[V_COUNT], *gamma, *beta;
    mpscl_matrix_batch_normalization *fwd;
    mpscl_matrix_batch_normalization_gradient *grad;
} operands;

static int rank, ranks;

static int
check(mpscl_status s, const char *what)
{
    return tool_check(s, what, PROG);
}

static int
check_mpi(mpscl_status s, const char *what)
{
    if (s == MPSCL_SUCCESS)
        return 0;
    fprintf(stderr, PROG ": %s: %s: %s\n", what, mpscl_status_string(s),
            mpscl_mpi_last_error_message());
    return 1;
}

static void
usage(FILE *f)
{
    /* Every rank parses; one prints. */
    if (rank == 0)
        fputs("usage: mpirun -np P " PROG " [--rows N] [--columns C] [--type f32|f16]\n"
              "           [--reproducible] [--device D] [--iterations I] [--help] [--version]\n"
              "  Default 65536 x 256, f32, 10 iterations. D: a device index (mpscl-info) or any\n"
              "  MPSCL_DEVICE value (gpu, cpu, P:D, a name substring), the same on every rank.\n",
              f);
}

static const tool_info info = {PROG, usage};

/* The options into o; -1 to go on, or the exit status to leave with. */
static int
parse(int argc, char **argv, options *o)
{
    static const struct option opts[] = {
        TOOL_COMMON_OPTIONS,
        {"rows", required_argument, NULL, 'r'},
        {"columns", required_argument, NULL, 'c'},
        {"type", required_argument, NULL, 't'},
        {"reproducible", no_argument, NULL, 'R'},
        {"device", required_argument, NULL, 'd'},
        {"iterations", required_argument, NULL, 'i'},
        {NULL, 0, NULL, 0},
    };
    long v;
    int c, rc = 0;

    *o = (options){65536, 256, MPSCL_DATA_TYPE_FLOAT32, 0, 10, NULL};
    while ((c = tool_next_option(argc, argv, "", opts, &info, &rc)) != -1) {
        switch (c) {
        case 'R': o->reproducible = 1; break;
        case 'd': o->device = optarg; break;
        case 'r':
        case 'c':
            if (tool_parse_long(optarg, 1, INT32_MAX, &v))
                return tool_bad_value(&info, opts, c);
            *(c == 'r' ? &o->rows : &o->cols) = (size_t)v;
            break;
        case 'i':
            if (tool_parse_long(optarg, 1, INT32_MAX, &v))
                return tool_bad_value(&info, opts, c);
            o->iterations = (int)v;
            break;
        case 't':
            if (strcmp(optarg, "f32") == 0)
                o->type = MPSCL_DATA_TYPE_FLOAT32;
            else if (strcmp(optarg, "f16") == 0)
                o->type = MPSCL_DATA_TYPE_FLOAT16;
            else
                return tool_bad_value(&info, opts, c);
            break;
        default:
            return rc;
        }
    }
    return -1;
}

/* ---- data: values exact in fp16 (k / 256, |k| <= 2048), so both types hold the same batch ---- */

static uint64_t rng = 0x2545F4914F6CDD1Dull;

static int
next_int(int span)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (int)(rng >> 33) % (2 * span + 1) - span;
}

/* Exact for the values above: normal fp16 numbers and zero. */
static uint16_t
half_of(float f)
{
    uint32_t u;

    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) == 0)
        return (uint16_t)(u >> 16);
    return (uint16_t)(((u >> 16) & 0x8000u) | ((((u >> 23) & 0xffu) - 112u) << 10) |
                      ((u >> 13) & 0x3ffu));
}

static float
float_of_half(uint16_t h)
{
    uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    float v = e == 0 ? ldexpf((float)m, -24)
            : e == 31 ? (m ? NAN : INFINITY) : ldexpf((float)(m | 0x400u), (int)e - 25);

    return (h & 0x8000u) ? -v : v;
}

static void
store(mpscl_data_type t, unsigned char *base, size_t i, float v)
{
    if (t == MPSCL_DATA_TYPE_FLOAT16) {
        uint16_t h = half_of(v);
        memcpy(base + 2 * i, &h, 2);
    } else {
        memcpy(base + 4 * i, &v, 4);
    }
}

static float
load(mpscl_data_type t, const unsigned char *base, size_t i)
{
    if (t == MPSCL_DATA_TYPE_FLOAT16) {
        uint16_t h;
        memcpy(&h, base + 2 * i, 2);
        return float_of_half(h);
    }
    float f;
    memcpy(&f, base + 4 * i, 4);
    return f;
}

/* x with a different mean and spread per column, dy, gamma and beta. */
static void
make_batch(const options *o, unsigned char *x, unsigned char *dy, float *gamma, float *beta)
{
    for (size_t i = 0; i < o->rows * o->cols; i++) {
        size_t j = i % o->cols;
        int spread = 64 << (j % 4);
        store(o->type, x, i, (float)((int)(j % 9) * 32 - 128 + next_int(spread)) / 256.0f);
        store(o->type, dy, i, (float)next_int(256) / 256.0f);
    }
    for (size_t j = 0; j < o->cols; j++) {
        gamma[j] = (float)(256 + next_int(128)) / 256.0f;
        beta[j] = (float)next_int(128) / 256.0f;
    }
}

/* ---- operands ---- */

static int
make_matrix(mpscl_device *d, const options *o, size_t rows, const unsigned char *host,
            mpscl_matrix **m)
{
    size_t es = mpscl_data_type_size(o->type), n = rows > 0 ? rows : 1;
    mpscl_matrix_descriptor md = mpscl_matrix_descriptor_make(
        n, o->cols, mpscl_matrix_descriptor_row_bytes_from_columns(o->cols, o->type), o->type);

    if (check(mpscl_matrix_create(d, &md, m), "matrix"))
        return 1;
    return host != NULL && rows > 0 && check(mpscl_matrix_write(*m, host, o->cols * es), "write");
}

static int
make_operands(mpscl_device *d, const options *o, size_t rows, const unsigned char *x,
              const unsigned char *dy, const float *gamma, const float *beta, operands *p)
{
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make(o->cols, MPSCL_DATA_TYPE_FLOAT32);
    float *init = calloc(o->cols, sizeof *init);
    int failed = init == NULL;

    memset(p, 0, sizeof *p);
    p->rows = rows;
    for (int i = 0; i < V_COUNT && !failed; i++) {
        /* Running statistics start where PyTorch's do: mean 0, variance 1. */
        for (size_t j = 0; j < o->cols; j++)
            init[j] = i == V_RVAR ? 1.0f : 0.0f;
        failed = check(mpscl_vector_create(d, &vd, &p->v[i]), "vector") ||
                 check(mpscl_vector_write(p->v[i], init), "write");
    }
    free(init);
    failed = failed || make_matrix(d, o, rows, x, &p->x) || make_matrix(d, o, rows, dy, &p->dy) ||
             make_matrix(d, o, rows, NULL, &p->y) || make_matrix(d, o, rows, NULL, &p->dx) ||
             check(mpscl_vector_create(d, &vd, &p->gamma), "vector") ||
             check(mpscl_vector_create(d, &vd, &p->beta), "vector") ||
             check(mpscl_vector_write(p->gamma, gamma), "write") ||
             check(mpscl_vector_write(p->beta, beta), "write") ||
             check(mpscl_matrix_batch_normalization_create(d, &p->fwd), "forward kernel") ||
             check(mpscl_matrix_batch_normalization_set_epsilon(p->fwd, 1e-5f), "epsilon") ||
             check(mpscl_matrix_batch_normalization_set_reproducible(p->fwd, o->reproducible),
                   "reproducible") ||
             check(mpscl_matrix_batch_normalization_gradient_create(d, &p->grad),
                   "gradient kernel") ||
             check(mpscl_matrix_batch_normalization_gradient_set_epsilon(p->grad, 1e-5f),
                   "epsilon") ||
             check(mpscl_matrix_batch_normalization_gradient_set_reproducible(p->grad,
                                                                              o->reproducible),
                   "reproducible");
    if (!failed && rows == 0)
        failed =
            check(mpscl_matrix_batch_normalization_set_source_number_of_feature_vectors(p->fwd, 0),
                  "rows") ||
            check(mpscl_matrix_batch_normalization_gradient_set_source_number_of_feature_vectors(
                      p->grad, 0),
                  "rows");
    return failed;
}

static void
free_operands(operands *p)
{
    mpscl_matrix_release(p->x);
    mpscl_matrix_release(p->dy);
    mpscl_matrix_release(p->y);
    mpscl_matrix_release(p->dx);
    for (int i = 0; i < V_COUNT; i++)
        mpscl_vector_release(p->v[i]);
    mpscl_vector_release(p->gamma);
    mpscl_vector_release(p->beta);
    mpscl_matrix_batch_normalization_release(p->fwd);
    mpscl_matrix_batch_normalization_gradient_release(p->grad);
}

/* ---- the steps ---- */

static int
step_mpi(operands *p, mpscl_mpi_timings *tf, mpscl_mpi_timings *tg)
{
    return check_mpi(mpscl_mpi_matrix_batch_normalization_run(
                         p->fwd, MPI_COMM_WORLD, p->x, p->v[V_MEAN], p->v[V_VAR], p->gamma,
                         p->beta, p->y, p->v[V_RMEAN], p->v[V_RVAR], tf),
                     "data-parallel forward") ||
           check_mpi(mpscl_mpi_matrix_batch_normalization_gradient_run(
                         p->grad, MPI_COMM_WORLD, p->dy, p->x, p->v[V_MEAN], p->v[V_VAR],
                         p->gamma, p->beta, p->dx, p->v[V_DGAMMA], p->v[V_DBETA], tg),
                     "data-parallel gradient");
}

/* The same step on one device over the whole batch; its forward and gradient times in us. */
static int
step_single(mpscl_device *d, operands *p, double *fwd_us, double *grad_us)
{
    mpscl_command_buffer *cb = NULL;
    double t0 = tool_now(), t1;
    int failed;

    failed = check(mpscl_matrix_batch_normalization_set_compute_statistics(p->fwd, 1), "property") ||
             check(mpscl_command_buffer_create(d, &cb), "command buffer") ||
             check(mpscl_matrix_batch_normalization_encode_with_running_statistics(
                       p->fwd, cb, p->x, p->v[V_MEAN], p->v[V_VAR], p->gamma, p->beta, p->y,
                       p->v[V_RMEAN], p->v[V_RVAR]),
                   "forward") ||
             check(mpscl_command_buffer_commit(cb), "commit") ||
             check(mpscl_command_buffer_wait_until_completed(cb), "forward");
    mpscl_command_buffer_release(cb);
    cb = NULL;
    t1 = tool_now();
    failed = failed || check(mpscl_command_buffer_create(d, &cb), "command buffer") ||
             check(mpscl_matrix_batch_normalization_gradient_encode(
                       p->grad, cb, p->dy, p->x, p->v[V_MEAN], p->v[V_VAR], p->gamma, p->beta,
                       p->dx, p->v[V_DGAMMA], p->v[V_DBETA]),
                   "gradient") ||
             check(mpscl_command_buffer_commit(cb), "commit") ||
             check(mpscl_command_buffer_wait_until_completed(cb), "gradient");
    mpscl_command_buffer_release(cb);
    *fwd_us = (t1 - t0) * 1e6;
    *grad_us = (tool_now() - t1) * 1e6;
    return failed;
}

/* ---- gathering and comparing ---- */

/* The rows of every rank's matrix m into whole (rank 0). */
static int
gather_rows(const options *o, const operands *p, const mpscl_matrix *m, const int *counts,
            const int *displs, unsigned char *whole)
{
    size_t row = o->cols * mpscl_data_type_size(o->type);
    unsigned char *mine = malloc((p->rows > 0 ? p->rows : 1) * row);
    int failed = mine == NULL || check(mpscl_matrix_read(m, mine, row), "read");

    MPI_Gatherv(mine, failed ? 0 : (int)(p->rows * row), MPI_BYTE, whole, counts, displs,
                MPI_BYTE, 0, MPI_COMM_WORLD);
    free(mine);
    return failed;
}

/* Vector i of every rank to rank 0, which keeps rank 0's copy in dst; 1 when every rank's copy
 * is bitwise rank 0's. */
static int
gather_vector(const options *o, const mpscl_vector *v, float *dst, int *agree)
{
    float *mine = malloc(o->cols * sizeof *mine), *all = NULL;
    int failed = mine == NULL || check(mpscl_vector_read(v, mine), "read");

    if (rank == 0)
        all = malloc((size_t)ranks * o->cols * sizeof *all);
    MPI_Gather(mine, (int)o->cols, MPI_FLOAT, all, (int)o->cols, MPI_FLOAT, 0, MPI_COMM_WORLD);
    if (rank == 0 && all != NULL) {
        memcpy(dst, all, o->cols * sizeof *dst);
        for (int r = 1; r < ranks; r++)
            *agree &= memcmp(all + (size_t)r * o->cols, all, o->cols * sizeof *all) == 0;
    }
    free(mine);
    free(all);
    return failed;
}

/* Norm-wise relative error of got against want, n values of type t. */
static double
rel_error(mpscl_data_type t, const unsigned char *got, const unsigned char *want, size_t n)
{
    double num = 0.0, den = 0.0;

    for (size_t i = 0; i < n; i++) {
        double g = load(t, got, i), w = load(t, want, i);
        num += (g - w) * (g - w);
        den += w * w;
    }
    return den > 0.0 ? sqrt(num / den) : sqrt(num);
}

/* ---- timing report ---- */

static double
median(double *v, int n)
{
    tool_sort(v, n);
    return v[n / 2];
}

/* Per iteration, the slowest rank's time of each phase; then the median over iterations. */
static void
report(const char *what, const mpscl_mpi_timings *t, int n)
{
    static const char *const phase[4] = {"local", "exchange", "apply", "whole"};
    double *mine = malloc((size_t)n * 4 * sizeof *mine);
    double *worst = malloc((size_t)n * 4 * sizeof *worst), *col = malloc((size_t)n * sizeof *col);
    int failed = mine == NULL || worst == NULL || col == NULL;

    for (int i = 0; !failed && i < n; i++) {
        mine[4 * i] = t[i].local_us;
        mine[4 * i + 1] = t[i].exchange_us;
        mine[4 * i + 2] = t[i].apply_us;
        mine[4 * i + 3] = t[i].whole_us;
    }
    /* Collective whatever happened here: zeros from a rank without memory. */
    if (failed && mine != NULL)
        memset(mine, 0, (size_t)n * 4 * sizeof *mine);
    MPI_Reduce(mine, worst, 4 * n, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    if (rank == 0 && !failed) {
        printf("%-9s", what);
        for (int p = 0; p < 4; p++) {
            for (int i = 0; i < n; i++)
                col[i] = worst[4 * i + p];
            printf(" %s %.1f us", phase[p], median(col, n));
        }
        printf("  (slowest rank, median of %d; %zu collectives, %zu bytes sent per rank)\n", n,
               t[0].collectives, t[0].bytes_sent);
    }
    free(mine);
    free(worst);
    free(col);
}

/* ---- main ---- */

typedef struct batch {
    unsigned char *x, *dy, *y, *dx;       /* whole batch (rank 0); y, dx: gathered */
    float *gamma, *beta, *v[V_COUNT];
    float *single[V_COUNT];               /* rank 0's one-device vectors */
    double *fwd_us, *grad_us;             /* rank 0's one-device times */
    int *counts, *displs;                 /* bytes of each rank's rows */
} batch;

static void
share_rows(const options *o, int r, size_t *first, size_t *count)
{
    size_t a = o->rows * (size_t)r / (size_t)ranks, b = o->rows * (size_t)(r + 1) / (size_t)ranks;

    *first = a;
    *count = b - a;
}

static int
alloc_batch(const options *o, batch *b)
{
    size_t whole = (rank == 0 ? o->rows : 1) * o->cols * mpscl_data_type_size(o->type);

    memset(b, 0, sizeof *b);
    b->x = malloc(whole);
    b->dy = malloc(whole);
    b->y = malloc(whole);
    b->dx = malloc(whole);
    b->gamma = malloc(o->cols * sizeof(float));
    b->beta = malloc(o->cols * sizeof(float));
    b->counts = malloc((size_t)ranks * sizeof(int));
    b->displs = malloc((size_t)ranks * sizeof(int));
    b->fwd_us = malloc((size_t)o->iterations * sizeof(double));
    b->grad_us = malloc((size_t)o->iterations * sizeof(double));
    for (int i = 0; i < V_COUNT; i++) {
        b->v[i] = malloc(o->cols * sizeof(float));
        b->single[i] = malloc(o->cols * sizeof(float));
    }
    if (!b->x || !b->dy || !b->y || !b->dx || !b->gamma || !b->beta || !b->counts || !b->displs ||
        !b->fwd_us || !b->grad_us)
        return 1;
    for (int i = 0; i < V_COUNT; i++)
        if (b->v[i] == NULL || b->single[i] == NULL)
            return 1;
    for (int r = 0; r < ranks; r++) {
        size_t first, count, row = o->cols * mpscl_data_type_size(o->type);
        share_rows(o, r, &first, &count);
        b->counts[r] = (int)(count * row);
        b->displs[r] = (int)(first * row);
    }
    return 0;
}

static void
free_batch(batch *b)
{
    free(b->x);
    free(b->dy);
    free(b->y);
    free(b->dx);
    free(b->gamma);
    free(b->beta);
    free(b->counts);
    free(b->displs);
    free(b->fwd_us);
    free(b->grad_us);
    for (int i = 0; i < V_COUNT; i++) {
        free(b->v[i]);
        free(b->single[i]);
    }
}

/* Rank 0: the whole batch on one device against the gathered results. Returns 1 on a mismatch. */
static int
verify(mpscl_device *d, const options *o, batch *b, int agree)
{
    size_t n = o->rows * o->cols, es = mpscl_data_type_size(o->type);
    unsigned char *y = malloc(n * es), *dx = malloc(n * es);
    float *v = malloc(o->cols * sizeof *v);
    double fwd_us, grad_us, err, worst = 0.0, bound;
    const char *worst_name = "y";
    int bitwise[2 + V_COUNT], all_bitwise = 1, failed;
    operands one;

    if (y == NULL || dx == NULL || v == NULL ||
        make_operands(d, o, o->rows, b->x, b->dy, b->gamma, b->beta, &one)) {
        free(y);
        free(dx);
        free(v);
        return 1;
    }
    failed = step_single(d, &one, &fwd_us, &grad_us) ||
             check(mpscl_matrix_read(one.y, y, o->cols * es), "read") ||
             check(mpscl_matrix_read(one.dx, dx, o->cols * es), "read");
    for (int i = 0; i < V_COUNT && !failed; i++)
        failed = check(mpscl_vector_read(one.v[i], b->single[i]), "read");
    /* More runs for the times only: they move the running statistics, read above. */
    for (int i = 1; i < o->iterations && !failed; i++)
        failed = step_single(d, &one, &b->fwd_us[i], &b->grad_us[i]);
    b->fwd_us[0] = fwd_us;
    b->grad_us[0] = grad_us;
    if (!failed)
        printf("one device, whole batch: forward %.1f us, gradient %.1f us (median of %d)\n",
               median(b->fwd_us, o->iterations), median(b->grad_us, o->iterations),
               o->iterations);
    if (!failed) {
        bitwise[0] = memcmp(y, b->y, n * es) == 0;
        bitwise[1] = memcmp(dx, b->dx, n * es) == 0;
        err = rel_error(o->type, b->y, y, n);
        worst = err;
        if ((err = rel_error(o->type, b->dx, dx, n)) > worst) {
            worst = err;
            worst_name = "dx";
        }
        for (int i = 0; i < V_COUNT; i++) {
            memcpy(v, b->single[i], o->cols * sizeof *v);
            bitwise[2 + i] = memcmp(v, b->v[i], o->cols * sizeof *v) == 0;
            err = rel_error(MPSCL_DATA_TYPE_FLOAT32, (const unsigned char *)b->v[i],
                            (const unsigned char *)v, o->cols);
            if (err > worst) {
                worst = err;
                worst_name = vector_names[i];
            }
        }
    }
    if (!failed) {
        printf("against one device: worst relative error %.3g (%s); bitwise equal:", worst,
               worst_name);
        for (int i = 0; i < 2 + V_COUNT; i++) {
            printf(" %s %s", i == 0 ? "y" : i == 1 ? "dx" : vector_names[i - 2],
                   bitwise[i] ? "yes" : "no");
            all_bitwise &= bitwise[i];
        }
        printf("\nevery rank got the same mean, variance, running statistics, dgamma, dbeta: %s\n",
               agree ? "yes" : "NO");
        bound = o->type == MPSCL_DATA_TYPE_FLOAT16 ? ldexp(1, -10) : 1e-6;
        if (!agree || (o->reproducible && !all_bitwise) || (!o->reproducible && worst > bound)) {
            printf("MISMATCH: %s\n", !agree ? "the ranks disagree"
                                     : o->reproducible ? "reproducible mode is not bitwise"
                                                       : "error above the bound");
            failed = 1;
        } else {
            printf("OK (%s)\n", o->reproducible ? "reproducible: bitwise equal to one device"
                                                : "within the bound of one device");
        }
    }
    free_operands(&one);
    free(y);
    free(dx);
    free(v);
    return failed;
}

static int
run(mpscl_device *d, const options *o)
{
    size_t first, rows, row = o->cols * mpscl_data_type_size(o->type);
    mpscl_mpi_timings *tf = calloc((size_t)o->iterations, sizeof *tf);
    mpscl_mpi_timings *tg = calloc((size_t)o->iterations, sizeof *tg);
    unsigned char *x = NULL, *dy = NULL;
    int failed = 0, any = 0, agree = 1;
    operands p;
    batch b;

    share_rows(o, rank, &first, &rows);
    if (tf == NULL || tg == NULL || alloc_batch(o, &b) ||
        (x = malloc((rows > 0 ? rows : 1) * row)) == NULL ||
        (dy = malloc((rows > 0 ? rows : 1) * row)) == NULL) {
        fprintf(stderr, PROG ": out of host memory\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (rank == 0)
        make_batch(o, b.x, b.dy, b.gamma, b.beta);
    MPI_Bcast(b.gamma, (int)o->cols, MPI_FLOAT, 0, MPI_COMM_WORLD);
    MPI_Bcast(b.beta, (int)o->cols, MPI_FLOAT, 0, MPI_COMM_WORLD);
    MPI_Scatterv(b.x, b.counts, b.displs, MPI_BYTE, x, (int)(rows * row), MPI_BYTE, 0,
                 MPI_COMM_WORLD);
    MPI_Scatterv(b.dy, b.counts, b.displs, MPI_BYTE, dy, (int)(rows * row), MPI_BYTE, 0,
                 MPI_COMM_WORLD);
    failed = make_operands(d, o, rows, x, dy, b.gamma, b.beta, &p);
    /* Every rank must take part in the steps, so a rank that failed to set up stops them all. */
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    for (int i = 0; !any && i < o->iterations; i++) {
        failed = step_mpi(&p, &tf[i], &tg[i]);
        MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        if (i == 0 && !any) {
            /* The first step's outputs, before more steps move the running statistics. */
            failed = gather_rows(o, &p, p.y, b.counts, b.displs, b.y) |
                     gather_rows(o, &p, p.dx, b.counts, b.displs, b.dx);
            for (int v = 0; v < V_COUNT; v++)
                failed |= gather_vector(o, p.v[v], b.v[v], &agree);
            MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        }
    }
    if (!any) {
        report("forward", tf, o->iterations);
        report("gradient", tg, o->iterations);
        if (rank == 0)
            failed = verify(d, o, &b, agree);
        MPI_Bcast(&failed, 1, MPI_INT, 0, MPI_COMM_WORLD);
        any = failed;
    }
    free_operands(&p);
    free_batch(&b);
    free(x);
    free(dy);
    free(tf);
    free(tg);
    return any;
}

int
main(int argc, char **argv)
{
    mpscl_device *d = NULL;
    options o;
    int rc, failed, any = 0;

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    if ((rc = parse(argc, argv, &o)) != -1) {
        MPI_Finalize();
        return rc;
    }
    if ((size_t)ranks * o.cols * 4 > (size_t)1 << 30 || o.rows * o.cols * 4 > (size_t)1 << 31) {
        if (rank == 0)
            fprintf(stderr, PROG ": --rows x --columns too large for this demo's int counts\n");
        MPI_Finalize();
        return 2;
    }
    failed = tool_open_device(o.device, &d, PROG);
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (!any) {
        if (rank == 0)
            printf(PROG ": %d rank(s), %zu x %zu %s, reproducible %s, %d iteration(s); rank 0's "
                   "device: %s\n", ranks, o.rows, o.cols,
                   o.type == MPSCL_DATA_TYPE_FLOAT16 ? "f16" : "f32",
                   o.reproducible ? "on" : "off", o.iterations, mpscl_device_name(d));
        any = run(d, &o);
    }
    mpscl_device_release(d);
    MPI_Finalize();
    return any ? 1 : 0;
}
