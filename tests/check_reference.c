/*
 * tests/check_reference.c: tests of the fp64 reference (tools/ref.c) that every kernel test
 * trusts. A hand-worked 2×3 case pins the formulas (root around var + eps, biased variance,
 * neuron before the reductions); finite differences of the forward, with the statistics as
 * functions of x, pin the training-mode gradient for every neuron; the neuron derivatives are
 * checked the same way plus the kink conventions of docs/SEMANTICS.md. No OpenCL here.
 */
#include "tools/ref.h"

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define E_      2.718281828459045235360   /* e, to more digits than a double holds */
#define LN2_    0.693147180559945309417   /* ln 2 */

/* Deterministic on every platform (no rand()): an LCG whose top 24 bits give [-1, 1). */
static double
uniform(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (double)(*s >> 8) / 8388608.0 - 1;
}

/* |got - want| within tol relative to max(1, |want|); NaN and infinities must match exactly. */
static int
close_to(double got, double want, double tol)
{
    if (isnan(want))
        return isnan(got);
    if (isinf(want))
        return got == want;
    return fabs(got - want) <= tol * fmax(1, fabs(want));
}

/* Norm-wise relative error between two packed double arrays (ref_rel_l2 takes float got). */
static double
rel_l2_d(size_t m, const double *got, const double *want)
{
    double d = 0, w = 0;

    for (size_t k = 0; k < m; k++) {
        d += (got[k] - want[k]) * (got[k] - want[k]);
        w += want[k] * want[k];
    }
    return sqrt(d) / sqrt(w);
}

/* Distance in z from the nearest point where f is not smooth: the kinks, and for Power
   and Logarithm the singularity a·z + b = 0. Finite differences must stay clear of these. */
static double
kink_distance(const ref_neuron *nr, double z)
{
    double a = nr->a, b = nr->b, d = INFINITY;

    switch (nr->type) {
    case 1: case 6: case 9:
        return fabs(z);
    case 4:
        return a == 0 ? INFINITY : fmin(fabs(z + b / a), fabs(z - (1 - b) / a));
    case 11:                        /* 0, and where the leaky value equals b on either side */
        d = fabs(z);
        if (b >= 0)
            d = fmin(d, fabs(z - b));
        if (a != 0 && b / a < 0)
            d = fmin(d, fabs(z - b / a));
        return d;
    case 12: case 14:
        return a == 0 ? INFINITY : fabs(z + b / a);
    default:
        return INFINITY;
    }
}

/* ---- hand-worked 2×3 case ----------------------------------------------------------------
 *
 * eps = 2.25 = 1.5^2, chosen so every sd = sqrt(var + eps) is exact (Pythagorean triples):
 *   col 0: x = {1, 5}        mean 3,       var 4,        sd 2.5,   xhat = {-0.8, 0.8}
 *   col 1: x = {-3, -0.75}   mean -1.875,  var 1.265625, sd 1.875, xhat = {-0.6, 0.6}
 *   col 2: x = {7, 7}        mean 7,       var 0,        sd 1.5,   xhat = {0, 0}
 * (N = 2, so var = (half the spread)^2: 2^2, 1.125^2, 0.) gamma = {2, -1, 0.5},
 * beta = {0.5, 1, -3}, so z = gamma*xhat + beta = col 0 {-1.1, 2.1}, col 1 {1.6, 0.4},
 * col 2 {-3, -3}. dy rows {1, -2, 3}, {0.5, 4, -1}.
 *
 * Neuron NONE: y = z, delta = dy.
 *   col 0: dbeta = 1.5, dgamma = -0.8 + 0.4 = -0.4; gamma/sd = 0.8;
 *          dx = 0.8 (delta - 0.75 + 0.2 xhat) = 0.8 {0.25 - 0.16, -0.25 + 0.16} = {0.072, -0.072}
 *   col 1: dbeta = 2, dgamma = 1.2 + 2.4 = 3.6; gamma/sd = -1/1.875;
 *          dx = -(delta - 1 - 1.8 xhat)/1.875 = -{-1.92, 1.92}/1.875 = {1.024, -1.024}
 *   col 2: dbeta = 2, dgamma = 0; gamma/sd = 1/3; dx = (delta - 1)/3 = {2/3, -2/3}
 * Neuron RELU, a = 0.25: y = z, or z/4 where z < 0; f'(z) = 0.25 at col 0 row 0 and col 2.
 *   col 0: delta = {0.25, 0.5}, dbeta = 0.75, dgamma = -0.2 + 0.4 = 0.2;
 *          dx = 0.8 (delta - 0.375 - 0.1 xhat) = 0.8 {-0.045, 0.045} = {-0.036, 0.036}
 *   col 1: every z > 0, as for NONE.
 *   col 2: delta = {0.75, -0.25}, dbeta = 0.5, dgamma = 0; dx = (delta - 0.25)/3 = {1/6, -1/6}
 * Both views are strided with NaN padding, which would poison any result that read it.
 */
#define P_ NAN
static const float hand_x[2 * 4] = { 1, -3, 7, P_, 5, -0.75f, 7, P_ };
static const float hand_dy[2 * 5] = { 1, -2, 3, P_, P_, 0.5f, 4, -1, P_, P_ };
static const float hand_mean[3] = { 3, -1.875f, 7 }, hand_var[3] = { 4, 1.265625f, 0 };
static const float hand_gamma[3] = { 2, -1, 0.5f }, hand_beta[3] = { 0.5f, 1, -3 };
static const float hand_eps = 2.25f;
#define HAND_X  ((ref_view){ hand_x, 4 })
#define HAND_DY ((ref_view){ hand_dy, 5 })

static const struct hand_row {
    ref_neuron nr;
    double y[6], dx[6], dgamma[3], dbeta[3];
} hand_rows[] = {
    { { 0, 0, 0, 0 },
      { -1.1, 1.6, -3, 2.1, 0.4, -3 },
      { 0.072, 1.024, 2.0 / 3, -0.072, -1.024, -2.0 / 3 },
      { -0.4, 3.6, 0 }, { 1.5, 2, 2 } },
    { { 1, 0.25, 0, 0 },
      { -0.275, 1.6, -0.75, 2.1, 0.4, -0.75 },
      { -0.036, 1.024, 1.0 / 6, 0.036, -1.024, -1.0 / 6 },
      { 0.2, 3.6, 0 }, { 0.75, 2, 0.5 } },
};

START_TEST(test_hand_statistics)
{
    double mean[3], var[3];

    ref_bn_statistics(2, 3, HAND_X, mean, var);
    for (int j = 0; j < 3; j++) {
        /* Exact: every value and partial sum is a short dyadic fraction. */
        ck_assert_msg(mean[j] == hand_mean[j] && var[j] == hand_var[j],
                      "column %d: mean %.17g var %.17g, want %.17g %.17g",
                      j, mean[j], var[j], (double)hand_mean[j], (double)hand_var[j]);
    }
}
END_TEST

START_TEST(test_hand_forward_gradient)
{
    const struct hand_row *r = &hand_rows[_i];
    double y[6], dx[6], dgamma[3], dbeta[3];

    ref_bn_forward(2, 3, HAND_X, hand_mean, hand_var, hand_gamma, hand_beta, hand_eps, &r->nr, y);
    ref_bn_gradient(2, 3, HAND_DY, HAND_X, hand_mean, hand_var, hand_gamma, hand_beta, hand_eps,
                    &r->nr, dx, dgamma, dbeta);
    for (int k = 0; k < 6; k++) {
        ck_assert_msg(close_to(y[k], r->y[k], 1e-15), "row %d y[%d] = %.17g, want %.17g",
                      _i, k, y[k], r->y[k]);
        ck_assert_msg(close_to(dx[k], r->dx[k], 1e-15), "row %d dx[%d] = %.17g, want %.17g",
                      _i, k, dx[k], r->dx[k]);
    }
    for (int j = 0; j < 3; j++) {
        ck_assert_msg(close_to(dgamma[j], r->dgamma[j], 1e-15) &&
                      close_to(dbeta[j], r->dbeta[j], 1e-15),
                      "row %d column %d: dgamma %.17g dbeta %.17g, want %.17g %.17g", _i, j,
                      dgamma[j], dbeta[j], r->dgamma[j], r->dbeta[j]);
    }
}
END_TEST

/* NULL gamma/beta/neuron mean 1/0/NONE, and NULL outputs only skip work: results must be
   bit-identical to the explicit forms. */
START_TEST(test_null_operands)
{
    static const float ones[3] = { 1, 1, 1 }, zeros[3] = { 0, 0, 0 };
    static const ref_neuron none = { 0, 0, 0, 0 };
    double y0[6], y1[6], dx0[6], dx1[6], dg0[3], dg1[3], db0[3], db1[3];

    ref_bn_forward(2, 3, HAND_X, hand_mean, hand_var, ones, zeros, hand_eps, &none, y0);
    ref_bn_forward(2, 3, HAND_X, hand_mean, hand_var, NULL, NULL, hand_eps, NULL, y1);
    ck_assert(memcmp(y0, y1, sizeof y0) == 0);

    ref_bn_gradient(2, 3, HAND_DY, HAND_X, hand_mean, hand_var, ones, zeros, hand_eps, &none,
                    dx0, dg0, db0);
    ref_bn_gradient(2, 3, HAND_DY, HAND_X, hand_mean, hand_var, NULL, NULL, hand_eps, NULL,
                    dx1, dg1, db1);
    ck_assert(memcmp(dx0, dx1, sizeof dx0) == 0 && memcmp(dg0, dg1, sizeof dg0) == 0 &&
              memcmp(db0, db1, sizeof db0) == 0);

    ref_bn_gradient(2, 3, HAND_DY, HAND_X, hand_mean, hand_var, hand_gamma, hand_beta, hand_eps,
                    &hand_rows[1].nr, dx0, dg0, db0);
    memset(dx1, 0, sizeof dx1);
    memset(dg1, 0, sizeof dg1);
    memset(db1, 0, sizeof db1);
    ref_bn_gradient(2, 3, HAND_DY, HAND_X, hand_mean, hand_var, hand_gamma, hand_beta, hand_eps,
                    &hand_rows[1].nr, dx1, NULL, NULL);
    ref_bn_gradient(2, 3, HAND_DY, HAND_X, hand_mean, hand_var, hand_gamma, hand_beta, hand_eps,
                    &hand_rows[1].nr, NULL, dg1, NULL);
    ref_bn_gradient(2, 3, HAND_DY, HAND_X, hand_mean, hand_var, hand_gamma, hand_beta, hand_eps,
                    &hand_rows[1].nr, NULL, NULL, db1);
    ck_assert(memcmp(dx0, dx1, sizeof dx0) == 0 && memcmp(dg0, dg1, sizeof dg0) == 0 &&
              memcmp(db0, db1, sizeof db0) == 0);
}
END_TEST

/* ---- statistics with |mean| >> std ------------------------------------------------------ */

/* Neumaier's compensated sum: the error does not grow with n, unlike the plain sum under test. */
static void
neumaier_add(double *sum, double *comp, double v)
{
    double t = *sum + v;

    *comp += fabs(*sum) >= fabs(v) ? (*sum - t) + v : (v - t) + *sum;
    *sum = t;
}

START_TEST(test_statistics_offset)
{
    enum { N = 1000, C = 3, LD = 5 };
    static const double off[C] = { 1e4, -3e4, 7.5e3 }, spread[C] = { 1e-2, 3e-2, 5e-3 };
    static float x[N * LD];
    double mean[C], var[C];
    uint32_t s = 2024;

    for (size_t i = 0; i < N; i++)
        for (size_t k = 0; k < LD; k++)
            x[i * LD + k] = k < C ? (float)(off[k] + spread[k] * uniform(&s)) : NAN;
    ref_bn_statistics(N, C, (ref_view){ x, LD }, mean, var);

    for (size_t j = 0; j < C; j++) {
        double s1 = 0, c1 = 0, s2 = 0, c2 = 0, sd = 0, cd = 0, m, v, sq = 0, naive;

        for (size_t i = 0; i < N; i++)
            neumaier_add(&s1, &c1, x[i * LD + j]);
        m = (s1 + c1) / N;
        for (size_t i = 0; i < N; i++) {
            double d = x[i * LD + j] - m;
            neumaier_add(&s2, &c2, d * d);
            neumaier_add(&sd, &cd, d);
            sq += (double)x[i * LD + j] * x[i * LD + j];
        }
        /* Corrected two-pass (Chan, Golub, LeVeque): subtract what the rounded mean left. */
        v = ((s2 + c2) - (sd + cd) * (sd + cd) / N) / N;
        ck_assert_msg(fabs(mean[j] - m) <= 1e-15 * fabs(m), "column %zu: mean %.17g, want %.17g",
                      j, mean[j], m);
        ck_assert_msg(fabs(var[j] - v) <= 1e-12 * v, "column %zu: var %.17g, want %.17g (rel %g)",
                      j, var[j], v, fabs(var[j] - v) / v);
        /* The data must be hard: one-pass E[x^2] - E[x]^2 in double has to miss by far more. */
        naive = sq / N - m * m;
        ck_assert_msg(fabs(naive - v) > 1e-6 * v, "column %zu: data too easy (naive %.17g)",
                      j, naive);
    }
}
END_TEST

/* ---- gradient against finite differences of the training-mode forward ------------------- */

enum { FD_N = 5, FD_C = 3, FD_LD = 4 };   /* N odd: 1/N and 1/(N-1) differ by 25% */

typedef struct fd_data {
    double x[FD_N * FD_LD], w[FD_N * FD_C], gamma[FD_C], beta[FD_C], eps;
    int frozen;                       /* mean and var below are constants, not recomputed */
    double mean[FD_C], var[FD_C];
} fd_data;

/* Non-zero means and a different scale per column; column 2's variance (~3e-5) is below eps,
   so eps visibly shapes its xhat. NaN padding in x. */
static void
fd_fill(fd_data *d)
{
    static const double off[FD_C] = { 3.0, -120.0, 0.25 }, spread[FD_C] = { 1.5, 40.0, 0.01 };
    static const double gamma[FD_C] = { 1.3, -0.7, 0.9 }, beta[FD_C] = { 0.2, -0.4, 0.6 };
    uint32_t s = 7;

    for (size_t i = 0; i < FD_N; i++)
        for (size_t k = 0; k < FD_LD; k++)
            d->x[i * FD_LD + k] = k < FD_C ? off[k] + spread[k] * uniform(&s) : NAN;
    for (size_t k = 0; k < FD_N * FD_C; k++)
        d->w[k] = uniform(&s);
    memcpy(d->gamma, gamma, sizeof gamma);
    memcpy(d->beta, beta, sizeof beta);
    d->eps = 1e-3;
    d->frozen = 0;
    ref_bn_statistics_d(FD_N, FD_C, (ref_dview){ d->x, FD_LD }, d->mean, d->var);
}

/* L = sum w_ij y_ij with mean and var recomputed from x (the training-mode forward), or held at
   d->mean and d->var (frozen). */
static double
fd_loss(const fd_data *d, const ref_neuron *nr)
{
    double mean[FD_C], var[FD_C], y[FD_N * FD_C], l = 0;
    ref_dview x = { d->x, FD_LD };

    if (d->frozen) {
        memcpy(mean, d->mean, sizeof mean);
        memcpy(var, d->var, sizeof var);
    } else {
        ref_bn_statistics_d(FD_N, FD_C, x, mean, var);
    }
    ref_bn_forward_d(FD_N, FD_C, x, mean, var, d->gamma, d->beta, d->eps, nr, y);
    for (size_t k = 0; k < FD_N * FD_C; k++)
        l += d->w[k] * y[k];
    return l;
}

/* Central difference in *v. h = 2^-20 max(1,|v|): truncation ~h^2 f''' ~ 1e-12, rounding
   ~1e-16 |L| / h ~ 1e-9 (observed worst 1.5e-9), so a 1e-7 bound has margin and still sees a
   1e-6 slip in a derivative. Dividing by the stored vp - vm removes the error of v ± h. */
static double
fd_partial(fd_data *d, double *v, const ref_neuron *nr)
{
    double v0 = *v, h = 0x1p-20 * fmax(1, fabs(v0)), vp = v0 + h, vm = v0 - h, lp, lm;

    *v = vp;
    lp = fd_loss(d, nr);
    *v = vm;
    lm = fd_loss(d, nr);
    *v = v0;
    return (lp - lm) / (vp - vm);
}

/* One row per neuron type (PReLU excluded), parameters keeping z of fd_fill clear of kinks and
   inside the domain, with points on both sides of each kink. */
static const ref_neuron fd_neurons[] = {
    { 0, 0, 0, 0 }, { 1, 0.1, 0, 0 }, { 2, 1.5, -0.5, 0 }, { 3, 0, 0, 0 }, { 4, 0.2, 0.5, 0 },
    { 5, 1.2, 0.8, 0 }, { 6, 0, 0, 0 }, { 7, 0.7, 1.5, 0 }, { 8, 0, 0, 0 }, { 9, 0.8, 0, 0 },
    { 11, 0.1, 1.0, 0 }, { 12, 0.5, 2.5, 1.7 }, { 13, 0.6, 0.1, -1 }, { 13, 0.5, -0.2, 2 },
    { 14, 0.7, 3, -1 }, { 14, 0.4, 2.5, 10 }, { 15, 0, 0, 0 },
};
#define N_FD_NEURONS ((int)(sizeof fd_neurons / sizeof fd_neurons[0]))

/* _i < N_FD_NEURONS: training mode; above: frozen statistics, whose finite differences hold
   mean and var while x moves. */
START_TEST(test_gradient_fd)
{
    const ref_neuron *nr = &fd_neurons[_i % N_FD_NEURONS];
    ref_dview x;
    fd_data d;
    double mean[FD_C], var[FD_C], dx[FD_N * FD_C], dg[FD_C], db[FD_C];
    double fdx[FD_N * FD_C], fdg[FD_C], fdb[FD_C], ex, eg, eb;

    fd_fill(&d);
    d.frozen = _i >= N_FD_NEURONS;
    x = (ref_dview){ d.x, FD_LD };
    ref_bn_statistics_d(FD_N, FD_C, x, mean, var);
    /* The steps move z by at most ~3e-5; 1e-3 of clearance keeps every evaluation on one side. */
    for (size_t i = 0; i < FD_N; i++) {
        for (size_t j = 0; j < FD_C; j++) {
            double z = d.gamma[j] * (d.x[i * FD_LD + j] - mean[j]) / sqrt(var[j] + d.eps) +
                       d.beta[j];
            ck_assert_msg(kink_distance(nr, z) > 1e-3, "row %d: z[%zu][%zu] = %g near a kink",
                          _i, i, j, z);
        }
    }
    (d.frozen ? ref_bn_gradient_frozen_d : ref_bn_gradient_d)(
        FD_N, FD_C, (ref_dview){ d.w, FD_C }, x, mean, var, d.gamma, d.beta, d.eps, nr, dx, dg, db);
    for (size_t i = 0; i < FD_N; i++)
        for (size_t j = 0; j < FD_C; j++)
            fdx[i * FD_C + j] = fd_partial(&d, &d.x[i * FD_LD + j], nr);
    for (size_t j = 0; j < FD_C; j++) {
        fdg[j] = fd_partial(&d, &d.gamma[j], nr);
        fdb[j] = fd_partial(&d, &d.beta[j], nr);
    }
    ex = rel_l2_d(FD_N * FD_C, dx, fdx);
    eg = rel_l2_d(FD_C, dg, fdg);
    eb = rel_l2_d(FD_C, db, fdb);
    ck_assert_msg(ex < 1e-7 && eg < 1e-7 && eb < 1e-7,
                  "row %d (type %d, frozen %d): relative error dx %g dgamma %g dbeta %g, "
                  "bound 1e-7", _i, nr->type, d.frozen, ex, eg, eb);
}
END_TEST

/* The float API must run the core's arithmetic unchanged: same values in, same bits out. */
START_TEST(test_float_matches_core)
{
    const ref_neuron *nr = &fd_neurons[_i];
    fd_data d;
    float xf[FD_N * FD_LD], dyf[FD_N * FD_C], mf[FD_C], vf[FD_C], gf[FD_C], bf[FD_C];
    float eps = 1e-3f;
    double xd[FD_N * FD_LD], dyd[FD_N * FD_C], md[FD_C], vd[FD_C], gd[FD_C], bd[FD_C];
    double m0[FD_C], v0[FD_C], y0[FD_N * FD_C], y1[FD_N * FD_C];
    double dx0[FD_N * FD_C], dx1[FD_N * FD_C], dg0[FD_C], dg1[FD_C], db0[FD_C], db1[FD_C];

    fd_fill(&d);
    for (size_t k = 0; k < FD_N * FD_LD; k++)
        xd[k] = xf[k] = (float)d.x[k];
    for (size_t k = 0; k < FD_N * FD_C; k++)
        dyd[k] = dyf[k] = (float)d.w[k];
    ref_bn_statistics(FD_N, FD_C, (ref_view){ xf, FD_LD }, m0, v0);
    ref_bn_statistics_d(FD_N, FD_C, (ref_dview){ xd, FD_LD }, md, vd);
    ck_assert(memcmp(m0, md, sizeof m0) == 0 && memcmp(v0, vd, sizeof v0) == 0);
    for (size_t j = 0; j < FD_C; j++) {
        md[j] = mf[j] = (float)m0[j];
        vd[j] = vf[j] = (float)v0[j];
        gd[j] = gf[j] = (float)d.gamma[j];
        bd[j] = bf[j] = (float)d.beta[j];
    }

    ref_bn_forward(FD_N, FD_C, (ref_view){ xf, FD_LD }, mf, vf, gf, bf, eps, nr, y0);
    ref_bn_forward_d(FD_N, FD_C, (ref_dview){ xd, FD_LD }, md, vd, gd, bd, eps, nr, y1);
    ck_assert_msg(memcmp(y0, y1, sizeof y0) == 0, "row %d: forward differs", _i);
    ref_bn_gradient(FD_N, FD_C, (ref_view){ dyf, FD_C }, (ref_view){ xf, FD_LD }, mf, vf, gf, bf,
                    eps, nr, dx0, dg0, db0);
    ref_bn_gradient_d(FD_N, FD_C, (ref_dview){ dyd, FD_C }, (ref_dview){ xd, FD_LD }, md, vd, gd,
                      bd, eps, nr, dx1, dg1, db1);
    ck_assert_msg(memcmp(dx0, dx1, sizeof dx0) == 0 && memcmp(dg0, dg1, sizeof dg0) == 0 &&
                  memcmp(db0, db1, sizeof db0) == 0, "row %d: gradient differs", _i);
}
END_TEST

/* ---- neurons ---------------------------------------------------------------------------- */

/* Two parameter sets per type; types without parameters get a junk set to show it is ignored. */
static const ref_neuron df_neurons[] = {
    { 0, 0, 0, 0 }, { 0, 2, 3, 4 }, { 1, 0, 0, 0 }, { 1, 0.3, 0, 0 },
    { 2, 1, 0, 0 }, { 2, -0.6, 2.5, 0 }, { 3, 0, 0, 0 }, { 3, 2, 3, 4 },
    { 4, 0.2, 0.5, 0 }, { 4, -1.5, 0.3, 0 }, { 5, 1, 1, 0 }, { 5, -0.5, 2.2, 0 },
    { 6, 0, 0, 0 }, { 6, 2, 3, 4 }, { 7, 1, 1, 0 }, { 7, 0.5, -3, 0 },
    { 8, 0, 0, 0 }, { 8, 2, 3, 4 }, { 9, 1, 0, 0 }, { 9, 0.25, 0, 0 },
    { 11, 0, 6, 0 }, { 11, 0.2, 1.2, 0 }, { 12, 1, 0, 1 }, { 12, 0.5, 3, 2.5 },
    { 13, 1, 0, -1 }, { 13, 0.7, 0.2, 3 }, { 14, 1, 4, -1 }, { 14, 0.5, 3, 2 },
    { 15, 0, 0, 0 }, { 15, 2, 3, 4 },
};
#define N_DF_NEURONS ((int)(sizeof df_neurons / sizeof df_neurons[0]))

/* h = 1e-5 max(1,|z|): truncation ~1e-10 |f'''|, rounding ~1e-11 |f|; bound 1e-7. */
START_TEST(test_neuron_df_fd)
{
    static const double zs[] = { -2.4, -1.3, -0.55, -0.05, 0.12, 0.7, 1.45, 2.3 };
    const ref_neuron *nr = &df_neurons[_i];

    for (size_t k = 0; k < sizeof zs / sizeof zs[0]; k++) {
        double z = zs[k], h = 1e-5 * fmax(1, fabs(z)), zp = z + h, zm = z - h, df, fd;

        ck_assert_msg(kink_distance(nr, z) > 1e-3, "row %d: z = %g too near a kink", _i, z);
        df = ref_neuron_df(nr, z);
        fd = (ref_neuron_f(nr, zp) - ref_neuron_f(nr, zm)) / (zp - zm);
        ck_assert_msg(isfinite(df) && fabs(df - fd) <= 1e-7 * fmax(1, fabs(fd)),
                      "row %d (type %d a %g b %g c %g) z %g: f' %.17g, difference quotient %.17g",
                      _i, nr->type, nr->a, nr->b, nr->c, z, df, fd);
    }
}
END_TEST

/* Hand values of f and f', kinks included (PyTorch's convention), plus the overflow-prone
   tails and the exact c == -1 test of Exponential. */
static const struct spot {
    ref_neuron nr;
    double z, f, df;
} spots[] = {
    { { 0, 0, 0, 0 }, -3, -3, 1 },
    { { 1, 0.1, 0, 0 }, 0, 0, 0.1 },                /* kink: a */
    { { 1, 0, 0, 0 }, 0, 0, 0 },
    { { 1, 0.1, 0, 0 }, -2, -0.2, 0.1 },
    { { 2, 2, 1, 0 }, 3, 7, 2 },
    { { 3, 0, 0, 0 }, 0, 0.5, 0.25 },
    { { 3, 0, 0, 0 }, -800, 0, 0 },                 /* no e^800 overflow */
    { { 4, 0.25, 0.5, 0 }, -2, 0, 0 },              /* kink a·z+b = 0: 0 */
    { { 4, 0.25, 0.5, 0 }, 2, 1, 0 },               /* kink a·z+b = 1: 0 */
    { { 4, 0.25, 0.5, 0 }, 1, 0.75, 0.25 },
    { { 4, 0.25, 0.5, 0 }, 3, 1, 0 },
    { { 5, 2, 0.5, 0 }, 0, 0, 1 },
    { { 5, 1, 1, 0 }, 400, 1, 0 },                  /* cosh overflow gives slope 0, not NaN */
    { { 6, 0, 0, 0 }, 0, 0, 0 },                    /* kink: 0 */
    { { 6, 0, 0, 0 }, -2, 2, -1 },
    { { 7, 1, 1, 0 }, 0, LN2_, 0.5 },
    { { 7, 2, 3, 0 }, 0, 2 * LN2_, 3 },
    { { 7, 1, 1, 0 }, 1000, 1000, 1 },              /* no e^1000 overflow */
    { { 7, 1, 1, 0 }, -1000, 0, 0 },
    { { 8, 0, 0, 0 }, 1, 0.5, 0.25 },
    { { 8, 0, 0, 0 }, -3, -0.75, 0.0625 },
    { { 9, 0.5, 0, 0 }, 0, 0, 0.5 },                /* kink: a e^0 */
    { { 9, 0.5, 0, 0 }, 2, 2, 1 },
    { { 11, 0.1, 6, 0 }, 0, 0, 0.1 },               /* kink at 0: a */
    { { 11, 0.1, 6, 0 }, 6, 6, 0 },                 /* value reaches b: 0 */
    { { 11, 0.1, 6, 0 }, 7, 6, 0 },
    { { 11, 0.1, 6, 0 }, 5, 5, 1 },
    { { 11, 0.1, 6, 0 }, -1, -0.1, 0.1 },
    { { 12, 1, 0, 2 }, -3, 9, -6 },                 /* integer power of a negative base */
    { { 12, 1, 0, 0.5 }, -4, NAN, NAN },            /* non-integer power of one: undefined */
    { { 12, 2, 1, 0.5 }, 4, 3, 1.0 / 3 },
    { { 13, 1, 0, -1 }, 1, E_, E_ },
    { { 13, 1, 0, 2 }, 3, 8, 8 * LN2_ },
    { { 13, 1, 0, -1.0000001 }, 0.5, NAN, NAN },    /* only exactly -1 means e */
    { { 14, 1, 0, -1 }, E_, 1, 1 / E_ },
    { { 14, 1, 0, 2 }, 8, 3, 1 / (8 * LN2_) },
    { { 14, 1, 0, 1 }, 2, INFINITY, INFINITY },     /* log base 1 */
    { { 15, 0, 0, 0 }, 0, 0, 0.5 },
    { { 15, 0, 0, 0 }, 40, 40, 1 },
    { { 15, 0, 0, 0 }, -40, 0, 0 },
};
#define N_SPOTS ((int)(sizeof spots / sizeof spots[0]))

START_TEST(test_neuron_spots)
{
    const struct spot *s = &spots[_i];
    double f = ref_neuron_f(&s->nr, s->z), df = ref_neuron_df(&s->nr, s->z);

    ck_assert_msg(close_to(f, s->f, 1e-15) && close_to(df, s->df, 1e-15),
                  "row %d (type %d) z %g: f %.17g f' %.17g, want %.17g %.17g",
                  _i, s->nr.type, s->z, f, df, s->f, s->df);
}
END_TEST

START_TEST(test_neuron_invalid)
{
    static const int types[] = { -1, 10, 16, 1000 };   /* PReLU is refused like out of range */

    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        ref_neuron nr = { types[k], 1, 1, 1 };
        ck_assert_msg(isnan(ref_neuron_f(&nr, 0.5)) && isnan(ref_neuron_df(&nr, 0.5)),
                      "type %d not rejected", types[k]);
    }
    ck_assert(ref_neuron_f(NULL, 3) == 3 && ref_neuron_df(NULL, 3) == 1);
}
END_TEST

/* ---- error norm ------------------------------------------------------------------------- */

static const struct l2_row {
    float got[2];
    double want[2], err;
} l2_rows[] = {
    { { 1, 2 }, { 1, 2 }, 0 },
    { { 3, 4 }, { 0, 0 }, 5 },                      /* zero want: absolute norm */
    { { 0, 0 }, { 0, 0 }, 0 },
    { { 0, 0 }, { 1e300, -1e300 }, 1 },             /* squares would overflow */
    { { 0, 0 }, { 1e-300, 1e-300 }, 1 },            /* squares would vanish */
    { { 1, NAN }, { 1, NAN }, 0 },
    { { NAN, 4 }, { NAN, 2 }, 1 },                  /* matched NaN adds nothing */
    { { 1, 2 }, { 1, NAN }, INFINITY },
    { { 1, NAN }, { 1, 2 }, INFINITY },
    { { INFINITY, 2 }, { INFINITY, 2 }, 0 },
    { { -INFINITY, 2 }, { -INFINITY, 2 }, 0 },
    { { -INFINITY, 2 }, { INFINITY, 2 }, INFINITY },
    { { 1, 2 }, { INFINITY, 2 }, INFINITY },
    { { NAN, 2 }, { INFINITY, 2 }, INFINITY },
    { { INFINITY, 2 }, { NAN, 2 }, INFINITY },
    { { INFINITY, 2 }, { 1, 2 }, INFINITY },
};
#define N_L2_ROWS ((int)(sizeof l2_rows / sizeof l2_rows[0]))

START_TEST(test_rel_l2_rows)
{
    const struct l2_row *r = &l2_rows[_i];
    double e = ref_rel_l2(1, 2, (ref_view){ r->got, 2 }, r->want);
    double ev = ref_rel_l2_vec(2, r->got, r->want);

    ck_assert_msg(close_to(e, r->err, 1e-15) && (ev == e || (isnan(ev) && isnan(e))),
                  "row %d: error %.17g (vector %.17g), want %.17g", _i, e, ev, r->err);
}
END_TEST

START_TEST(test_rel_l2_strided)
{
    static const float got[2 * 3] = { 3, 1, NAN, 4, 0, NAN };   /* padding must not be read */
    static const double want[4] = { 3, 0, 4, 0 };
    double e = ref_rel_l2(2, 2, (ref_view){ got, 3 }, want);

    /* ||(0, 1, 0, 0)|| / ||(3, 0, 4, 0)|| = 1/5 */
    ck_assert_msg(close_to(e, 0.2, 1e-15), "error %.17g, want 0.2", e);
    ck_assert(ref_rel_l2(0, 2, (ref_view){ got, 3 }, want) == 0);
    ck_assert(ref_rel_l2(2, 0, (ref_view){ got, 3 }, want) == 0);
    ck_assert(ref_rel_l2_vec(0, got, want) == 0);
}
END_TEST

static Suite *
reference_suite(void)
{
    Suite *s = suite_create("reference");
    TCase *tc;

    tc = tcase_create("hand");
    tcase_add_test(tc, test_hand_statistics);
    tcase_add_loop_test(tc, test_hand_forward_gradient, 0,
                        (int)(sizeof hand_rows / sizeof hand_rows[0]));
    tcase_add_test(tc, test_null_operands);
    suite_add_tcase(s, tc);

    tc = tcase_create("statistics");
    tcase_add_test(tc, test_statistics_offset);
    suite_add_tcase(s, tc);

    tc = tcase_create("finite_differences");
    tcase_add_loop_test(tc, test_gradient_fd, 0, 2 * N_FD_NEURONS);
    tcase_add_loop_test(tc, test_float_matches_core, 0, N_FD_NEURONS);
    suite_add_tcase(s, tc);

    tc = tcase_create("neurons");
    tcase_add_loop_test(tc, test_neuron_df_fd, 0, N_DF_NEURONS);
    tcase_add_loop_test(tc, test_neuron_spots, 0, N_SPOTS);
    tcase_add_test(tc, test_neuron_invalid);
    suite_add_tcase(s, tc);

    tc = tcase_create("error_norm");
    tcase_add_loop_test(tc, test_rel_l2_rows, 0, N_L2_ROWS);
    tcase_add_test(tc, test_rel_l2_strided);
    suite_add_tcase(s, tc);

    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(reference_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
