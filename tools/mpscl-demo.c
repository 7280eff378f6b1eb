/* mpscl-demo: the main job. On the default device (or --device), a forward with
 * compute_statistics and then the gradient on a rows x columns fp32 matrix, each checked against
 * the fp64 CPU reference; prints times, GB/s and the worst relative error, and exits non-zero on
 * a mismatch. */
#include "config.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpscl/mpscl.h>

#include "tools/ref.h"
#include "tools/tool_util.h"

#define RUNS 5

/* Norm-wise relative error allowed: 1e-6 (tests/bn_cases.c derives it) up to 256k rows. Past
 * that, dgamma = sum dz xhat of the demo's random data is a sum of sqrt(N)-sized result from
 * N-sized terms: its rounding error relative to the result grows like sqrt(N) (2M rows: 1.1e-6
 * observed with every launch plan), so the allowance grows with it. */
static double
tolerance(size_t rows)
{
    return 1e-6 * (rows > 262144 ? sqrt((double)rows / 262144.0) : 1.0);
}

typedef struct demo {
    size_t rows, cols;
    float *x, *dy, *y, *dx, *mean, *var, *gamma, *beta, *dgamma, *dbeta;
    mpscl_device *dev;
    mpscl_matrix *mx, *mdy, *my, *mdx;
    mpscl_vector *vmean, *vvar, *vgamma, *vbeta, *vdgamma, *vdbeta;
    mpscl_matrix_batch_normalization *fwd;
    mpscl_matrix_batch_normalization_gradient *grad;
} demo;

static int
check(mpscl_status s, const char *what)
{
    return tool_check(s, what, "mpscl-demo");
}

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

static float
uniform(float lo, float hi)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return lo + (hi - lo) * (float)(rng_state >> 40) / 16777216.0f;
}

static void
usage(FILE *f)
{
    fputs("usage: mpscl-demo [--device D] [--rows N] [--columns C] [--help] [--version]\n"
          "  D: a device index (see mpscl-info), or any MPSCL_DEVICE value\n"
          "     (gpu, cpu, P:D, a name substring). Default 4096 x 1024.\n", f);
}

static const tool_info info = {"mpscl-demo", usage};

/* The options into d's shape and *want; -1 to go on, or the exit status to leave with. */
static int
parse(int argc, char **argv, demo *d, const char **want)
{
    static const struct option options[] = {
        TOOL_COMMON_OPTIONS,
        {"device", required_argument, NULL, 'd'},
        {"rows", required_argument, NULL, 'r'},
        {"columns", required_argument, NULL, 'c'},
        {NULL, 0, NULL, 0}};
    long v;
    int c, rc;

    while ((c = tool_next_option(argc, argv, "", options, &info, &rc)) != -1) {
        switch (c) {
        case 'd':
            *want = optarg;
            break;
        case 'r':
        case 'c':
            if (tool_parse_long(optarg, 1, LONG_MAX, &v))
                return tool_bad_value(&info, options, c);
            *(c == 'r' ? &d->rows : &d->cols) = (size_t)v;
            break;
        default:
            return rc;
        }
    }
    return -1;
}

static mpscl_status
encode_forward(demo *d, mpscl_command_buffer *cb)
{
    return mpscl_matrix_batch_normalization_encode(d->fwd, cb, d->mx, d->vmean, d->vvar, d->vgamma,
                                                   d->vbeta, d->my);
}

static mpscl_status
encode_gradient(demo *d, mpscl_command_buffer *cb)
{
    return mpscl_matrix_batch_normalization_gradient_encode(d->grad, cb, d->mdy, d->mx, d->vmean,
                                                            d->vvar, d->vgamma, d->vbeta, d->mdx,
                                                            d->vdgamma, d->vdbeta);
}

/* Median wall time of RUNS encode + commit + wait, after one untimed run that builds programs. */
static int
time_step(demo *d, mpscl_status (*encode)(demo *, mpscl_command_buffer *), const char *what,
          double *seconds)
{
    double t[RUNS];

    for (int r = -1; r < RUNS; r++) {
        mpscl_command_buffer *cb = NULL;
        double t0 = tool_now();
        int failed = check(mpscl_command_buffer_create(d->dev, &cb), "command buffer") ||
                     check(encode(d, cb), what) || check(mpscl_command_buffer_commit(cb), "commit") ||
                     check(mpscl_command_buffer_wait_until_completed(cb), what);
        mpscl_command_buffer_release(cb);
        if (failed)
            return 1;
        if (r >= 0)
            t[r] = tool_now() - t0;
    }
    tool_sort(t, RUNS);
    *seconds = t[RUNS / 2];
    return 0;
}

static int
setup(demo *d)
{
    size_t n = d->rows, c = d->cols, rb = c * sizeof(float);
    mpscl_matrix_descriptor md = mpscl_matrix_descriptor_make(n, c, rb, MPSCL_DATA_TYPE_FLOAT32);
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make(c, MPSCL_DATA_TYPE_FLOAT32);

    d->x = malloc(n * rb);
    d->dy = malloc(n * rb);
    d->y = malloc(n * rb);
    d->dx = malloc(n * rb);
    d->mean = malloc(rb);
    d->var = malloc(rb);
    d->gamma = malloc(rb);
    d->beta = malloc(rb);
    d->dgamma = malloc(rb);
    d->dbeta = malloc(rb);
    if (!d->x || !d->dy || !d->y || !d->dx || !d->mean || !d->var || !d->gamma || !d->beta ||
        !d->dgamma || !d->dbeta) {
        fprintf(stderr, "mpscl-demo: out of host memory\n");
        return 1;
    }
    for (size_t j = 0; j < c; j++) {
        d->gamma[j] = uniform(0.5f, 1.5f);
        d->beta[j] = uniform(-0.5f, 0.5f);
    }
    for (size_t i = 0; i < n * c; i++) {
        size_t j = i % c;
        d->x[i] = (float)(j % 5) - 2.0f + uniform(-1.0f, 1.0f) * (float)(1 + j % 3);
        d->dy[i] = uniform(-1.0f, 1.0f) + 0.1f;
    }
    return check(mpscl_matrix_create(d->dev, &md, &d->mx), "matrix") ||
           check(mpscl_matrix_create(d->dev, &md, &d->mdy), "matrix") ||
           check(mpscl_matrix_create(d->dev, &md, &d->my), "matrix") ||
           check(mpscl_matrix_create(d->dev, &md, &d->mdx), "matrix") ||
           check(mpscl_vector_create(d->dev, &vd, &d->vmean), "vector") ||
           check(mpscl_vector_create(d->dev, &vd, &d->vvar), "vector") ||
           check(mpscl_vector_create(d->dev, &vd, &d->vgamma), "vector") ||
           check(mpscl_vector_create(d->dev, &vd, &d->vbeta), "vector") ||
           check(mpscl_vector_create(d->dev, &vd, &d->vdgamma), "vector") ||
           check(mpscl_vector_create(d->dev, &vd, &d->vdbeta), "vector") ||
           check(mpscl_matrix_write(d->mx, d->x, rb), "write x") ||
           check(mpscl_matrix_write(d->mdy, d->dy, rb), "write dy") ||
           check(mpscl_vector_write(d->vgamma, d->gamma), "write gamma") ||
           check(mpscl_vector_write(d->vbeta, d->beta), "write beta") ||
           check(mpscl_matrix_batch_normalization_create(d->dev, &d->fwd), "forward kernel") ||
           check(mpscl_matrix_batch_normalization_set_compute_statistics(d->fwd, 1), "property") ||
           check(mpscl_matrix_batch_normalization_set_epsilon(d->fwd, 1e-5f), "property") ||
           check(mpscl_matrix_batch_normalization_gradient_create(d->dev, &d->grad), "gradient kernel") ||
           check(mpscl_matrix_batch_normalization_gradient_set_epsilon(d->grad, 1e-5f), "property");
}

static void
teardown(demo *d)
{
    mpscl_matrix_batch_normalization_release(d->fwd);
    mpscl_matrix_batch_normalization_gradient_release(d->grad);
    mpscl_matrix_release(d->mx);
    mpscl_matrix_release(d->mdy);
    mpscl_matrix_release(d->my);
    mpscl_matrix_release(d->mdx);
    mpscl_vector_release(d->vmean);
    mpscl_vector_release(d->vvar);
    mpscl_vector_release(d->vgamma);
    mpscl_vector_release(d->vbeta);
    mpscl_vector_release(d->vdgamma);
    mpscl_vector_release(d->vdbeta);
    mpscl_device_release(d->dev);
    free(d->x);
    free(d->dy);
    free(d->y);
    free(d->dx);
    free(d->mean);
    free(d->var);
    free(d->gamma);
    free(d->beta);
    free(d->dgamma);
    free(d->dbeta);
}

/* Reference results and the worst relative L2 error over mean, var, y, dx, dgamma, dbeta. */
static double
compare(demo *d)
{
    size_t n = d->rows, c = d->cols;
    double *m = malloc(c * sizeof(double)), *v = malloc(c * sizeof(double));
    double *wy = malloc(n * c * sizeof(double)), *wdx = malloc(n * c * sizeof(double));
    double *wg = malloc(c * sizeof(double)), *wb = malloc(c * sizeof(double)), worst = 0.0, e;
    ref_view xv = {d->x, c};

    if (!m || !v || !wy || !wdx || !wg || !wb) {
        worst = INFINITY;
        goto done;
    }
    ref_bn_statistics(n, c, xv, m, v);
    worst = fmax(worst, e = ref_rel_l2_vec(c, d->mean, m));
    printf("  mean      relative L2 error %.3g\n", e);
    worst = fmax(worst, e = ref_rel_l2_vec(c, d->var, v));
    printf("  variance  relative L2 error %.3g\n", e);
    /* The device's own statistics feed both references, as they fed both device steps. */
    ref_bn_forward(n, c, xv, d->mean, d->var, d->gamma, d->beta, 1e-5f, NULL, wy);
    worst = fmax(worst, e = ref_rel_l2(n, c, (ref_view){d->y, c}, wy));
    printf("  y         relative L2 error %.3g\n", e);
    ref_bn_gradient(n, c, (ref_view){d->dy, c}, xv, d->mean, d->var, d->gamma, d->beta, 1e-5f,
                    NULL, wdx, wg, wb);
    worst = fmax(worst, e = ref_rel_l2(n, c, (ref_view){d->dx, c}, wdx));
    printf("  dx        relative L2 error %.3g\n", e);
    worst = fmax(worst, e = ref_rel_l2_vec(c, d->dgamma, wg));
    printf("  dgamma    relative L2 error %.3g\n", e);
    worst = fmax(worst, e = ref_rel_l2_vec(c, d->dbeta, wb));
    printf("  dbeta     relative L2 error %.3g\n", e);
done:
    free(m);
    free(v);
    free(wy);
    free(wdx);
    free(wg);
    free(wb);
    return worst;
}

int
main(int argc, char **argv)
{
    demo d;
    const char *want = NULL;
    double tf, tg, worst, mb;
    int rc = 1;

    memset(&d, 0, sizeof d);
    d.rows = 4096;
    d.cols = 1024;
    if ((rc = parse(argc, argv, &d, &want)) >= 0)
        return rc;
    rc = 1;
    if (tool_open_device(want, &d.dev, "mpscl-demo"))
        return 1;
    printf("mpscl-demo on %s: %zu x %zu fp32\n", mpscl_device_name(d.dev), d.rows, d.cols);
    if (setup(&d) || time_step(&d, encode_forward, "forward", &tf) ||
        time_step(&d, encode_gradient, "gradient", &tg) ||
        check(mpscl_matrix_read(d.my, d.y, d.cols * 4), "read y") ||
        check(mpscl_vector_read(d.vmean, d.mean), "read mean") ||
        check(mpscl_vector_read(d.vvar, d.var), "read variance") ||
        check(mpscl_matrix_read(d.mdx, d.dx, d.cols * 4), "read dx") ||
        check(mpscl_vector_read(d.vdgamma, d.dgamma), "read dgamma") ||
        check(mpscl_vector_read(d.vdbeta, d.dbeta), "read dbeta"))
        goto done;
    mb = (double)d.rows * (double)d.cols * 4.0;
    /* Bytes of the passes: forward reads x three times and writes y; gradient reads x and dy
     * twice and writes dx. End-to-end times include encode, commit and wait. */
    printf("forward (compute_statistics): %9.3f ms  %7.1f GB/s  (median of %d, end to end)\n",
           tf * 1e3, 4.0 * mb / tf * 1e-9, RUNS);
    printf("gradient:                     %9.3f ms  %7.1f GB/s  (median of %d, end to end)\n",
           tg * 1e3, 5.0 * mb / tg * 1e-9, RUNS);
    worst = compare(&d);
    printf("worst relative error %.3g (tolerance %.1e): %s\n", worst, tolerance(d.rows),
           worst <= tolerance(d.rows) ? "OK" : "MISMATCH");
    rc = worst <= tolerance(d.rows) ? 0 : 1;
done:
    teardown(&d);
    return rc;
}
