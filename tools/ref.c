/*
 * tools/ref.c: double-precision reference for matrix batch normalization (forward, gradient,
 * statistics, the neurons of docs/SEMANTICS.md) and the norm-wise error the tests compare with.
 *
 * One core per operation reads its operands through `mat`/`vec`, which hold either a float or a
 * double pointer: the float API (what the kernels are checked against) and the double API (what
 * the finite-difference tests differentiate) then run literally the same arithmetic. Loops are
 * column-outer, row-inner, in index order, so results are a pure function of the inputs.
 */
#include "ref.h"

#include <math.h>

/* Not in C11's <math.h> (M_SQRT1_2 and friends are POSIX); written to 21 digits, more than a
   double holds. */
#define REF_SQRT1_2      0.707106781186547524401   /* 1/sqrt(2) */
#define REF_1_SQRT_2PI   0.398942280401432677940   /* 1/sqrt(2*pi) */

/* Matrix operand: element (i, j) is f[i * ld + j] if f is set, else d[i * ld + j]. */
typedef struct mat { const float *f; const double *d; size_t ld; } mat;

/* Vector operand; both pointers NULL means "absent" (gamma → 1, beta → 0). */
typedef struct vec { const float *f; const double *d; } vec;

static double
mat_at(mat m, size_t i, size_t j)
{
    size_t k = i * m.ld + j;

    return m.f != NULL ? (double)m.f[k] : m.d[k];
}

static double
vec_at(vec v, size_t j, double absent)
{
    if (v.f != NULL)
        return v.f[j];
    return v.d != NULL ? v.d[j] : absent;
}

/* ---- neurons ---------------------------------------------------------------------------- */

/* Logistic function without overflow: exp is only ever taken of a non-positive argument. */
static double
sigmoid(double t)
{
    double e = exp(-fabs(t));

    return t >= 0 ? 1 / (1 + e) : e / (1 + e);
}

double
ref_neuron_f(const ref_neuron *nr, double z)
{
    static const ref_neuron none = { 0, 0, 0, 0 };
    double a, b, c, u, v;

    if (nr == NULL)
        nr = &none;
    a = nr->a;
    b = nr->b;
    c = nr->c;
    switch (nr->type) {
    case 0:                                         /* NONE */
        return z;
    case 1:                                         /* RELU (leaky with slope a) */
        return z >= 0 ? z : a * z;
    case 2:                                         /* LINEAR */
        return a * z + b;
    case 3:                                         /* SIGMOID */
        return sigmoid(z);
    case 4:                                         /* HARD_SIGMOID: clamp(a z + b, 0, 1) */
        u = a * z + b;
        /* Comparisons rather than fmin/fmax, which would turn a NaN into a bound. */
        return u < 0 ? 0 : u > 1 ? 1 : u;
    case 5:                                         /* TANH */
        return a * tanh(b * z);
    case 6:                                         /* ABSOLUTE */
        return fabs(z);
    case 7:                                         /* SOFT_PLUS: a ln(1 + e^(b z)), no overflow */
        u = b * z;
        return a * ((u > 0 ? u : 0) + log1p(exp(-fabs(u))));
    case 8:                                         /* SOFT_SIGN */
        return z / (1 + fabs(z));
    case 9:                                         /* ELU; expm1 keeps small negative z exact */
        return z >= 0 ? z : a * expm1(z);
    case 11:                                        /* RELUN: min(leaky relu, b) */
        v = z >= 0 ? z : a * z;
        return v > b ? b : v;
    case 12:                                        /* POWER */
        return pow(a * z + b, c);
    case 13:                                        /* EXPONENTIAL; c == -1 exactly means e */
        u = a * z + b;
        return c == -1 ? exp(u) : pow(c, u);
    case 14:                                        /* LOGARITHM; c == -1 exactly means ln */
        u = a * z + b;
        return c == -1 ? log(u) : log(u) / log(c);
    case 15:                                        /* GELU = z Phi(z); erfc avoids 1 + erf's
                                                       cancellation for negative z */
        return 0.5 * z * erfc(-z * REF_SQRT1_2);
    default:                                        /* 10 PRELU, out of range */
        return NAN;
    }
}

double
ref_neuron_df(const ref_neuron *nr, double z)
{
    static const ref_neuron none = { 0, 0, 0, 0 };
    double a, b, c, u, v, ch;

    if (nr == NULL)
        nr = &none;
    a = nr->a;
    b = nr->b;
    c = nr->c;
    if (nr->type < 0 || nr->type > 15 || nr->type == 10)
        return NAN;
    /* A NaN input would otherwise fall into whichever branch its failed comparison picks. */
    if (isnan(z))
        return z;
    switch (nr->type) {
    case 0:
        return 1;
    case 1:                                         /* kink at 0 takes the negative side: a */
        return z > 0 ? 1 : a;
    case 2:
        return a;
    case 3: {
        /* sigma(1 - sigma) = e^-|z| / (1 + e^-|z|)^2, with no 1 - sigma cancellation */
        double e = exp(-fabs(z));
        return e / ((1 + e) * (1 + e));
    }
    case 4:                                         /* both ends of the ramp take 0 */
        u = a * z + b;
        return u > 0 && u < 1 ? a : 0;
    case 5:                                         /* a b sech^2(b z); cosh overflow gives 0 */
        ch = cosh(b * z);
        return a * b / (ch * ch);
    case 6:                                         /* sign(z), 0 at 0 */
        return z > 0 ? 1 : z < 0 ? -1 : 0;
    case 7:
        return a * b * sigmoid(b * z);
    case 8:
        u = 1 + fabs(z);
        return 1 / (u * u);
    case 9:                                         /* kink at 0 takes the negative side: a e^0 */
        return z > 0 ? 1 : a * exp(z);
    case 11:
        /* Where the min takes b the slope is 0 (the value has reached b, kink included);
           otherwise the leaky slope, with a at 0. */
        v = z >= 0 ? z : a * z;
        if (v >= b)
            return 0;
        return z > 0 ? 1 : a;
    case 12:
        return a * c * pow(a * z + b, c - 1);
    case 13:
        u = a * z + b;
        return c == -1 ? a * exp(u) : a * log(c) * pow(c, u);
    case 14:
        u = a * z + b;
        return c == -1 ? a / u : a / (u * log(c));
    default:                                        /* 15: Phi(z) + z phi(z) */
        return 0.5 * erfc(-z * REF_SQRT1_2) + z * exp(-0.5 * z * z) * REF_1_SQRT_2PI;
    }
}

/* ---- batch normalization cores ---------------------------------------------------------- */

/* Two-pass: the second pass sums squared deviations from the already-rounded mean, so a large
   common offset never enters a square (the one-pass E[x^2] - E[x]^2 loses it all). n == 0
   gives NaN, the mean of nothing. */
static void
statistics(size_t n, size_t c, mat x, double *mean, double *var)
{
    for (size_t j = 0; j < c; j++) {
        double sum = 0, ssd = 0, mu;

        for (size_t i = 0; i < n; i++)
            sum += mat_at(x, i, j);
        mu = sum / (double)n;
        for (size_t i = 0; i < n; i++) {
            double d = mat_at(x, i, j) - mu;
            ssd += d * d;
        }
        if (mean != NULL)
            mean[j] = mu;
        if (var != NULL)
            var[j] = ssd / (double)n;
    }
}

/* One training step of the running statistics (docs/SEMANTICS.md, "Running statistics"), from
   the batch's two-pass statistics; the variance term is unbiased, and undefined for one row,
   where the running variance stays. */
static void
running(size_t n, size_t c, mat x, double momentum, double *running_mean, double *running_var)
{
    for (size_t j = 0; j < c; j++) {
        mat col = { x.f != NULL ? x.f + j : NULL, x.d != NULL ? x.d + j : NULL, x.ld };
        double mu, v;

        statistics(n, 1, col, &mu, &v);
        running_mean[j] = (1 - momentum) * running_mean[j] + momentum * mu;
        if (n > 1)
            running_var[j] = (1 - momentum) * running_var[j] +
                             momentum * (v * (double)n / (double)(n - 1));
    }
}

/* Forward and gradient both form xhat as (x - mean) / sd with the same sd, so the z at which
   the gradient evaluates f' is bit-identical to the forward's z (it decides kink sides). */
static void
forward(size_t n, size_t c, mat x, vec mean, vec var, vec gamma, vec beta, double eps,
        const ref_neuron *nr, double *y)
{
    for (size_t j = 0; j < c; j++) {
        double mu = vec_at(mean, j, 0), sd = sqrt(vec_at(var, j, 0) + eps);
        double g = vec_at(gamma, j, 1), be = vec_at(beta, j, 0);

        for (size_t i = 0; i < n; i++)
            y[i * c + j] = ref_neuron_f(nr, g * ((mat_at(x, i, j) - mu) / sd) + be);
    }
}

static void
gradient(size_t n, size_t c, mat dy, mat x, vec mean, vec var, vec gamma, vec beta, double eps,
         const ref_neuron *nr, int frozen, double *dx, double *dgamma, double *dbeta)
{
    for (size_t j = 0; j < c; j++) {
        double mu = vec_at(mean, j, 0), sd = sqrt(vec_at(var, j, 0) + eps);
        double g = vec_at(gamma, j, 1), be = vec_at(beta, j, 0);
        double sum_d = 0, sum_dx = 0;

        for (size_t i = 0; i < n; i++) {
            double xh = (mat_at(x, i, j) - mu) / sd;
            double delta = mat_at(dy, i, j) * ref_neuron_df(nr, g * xh + be);

            sum_d += delta;
            sum_dx += delta * xh;
        }
        if (dbeta != NULL)
            dbeta[j] = sum_d;
        if (dgamma != NULL)
            dgamma[j] = sum_dx;
        if (dx == NULL)
            continue;
        /* Second pass recomputes xhat and delta (same expressions, same values) rather than
           keeping a column of scratch: the reference never allocates. */
        for (size_t i = 0; i < n; i++) {
            double xh = (mat_at(x, i, j) - mu) / sd;
            double delta = mat_at(dy, i, j) * ref_neuron_df(nr, g * xh + be);

            dx[i * c + j] = frozen ? g / sd * delta
                                   : g / sd * (delta - sum_d / (double)n - xh * sum_dx / (double)n);
        }
    }
}

/* ---- public wrappers -------------------------------------------------------------------- */

static mat
fmat(ref_view v)
{
    return (mat){ v.p, NULL, v.ld };
}

static mat
dmat(ref_dview v)
{
    return (mat){ NULL, v.p, v.ld };
}

static vec
fvec(const float *p)
{
    return (vec){ p, NULL };
}

static vec
dvec(const double *p)
{
    return (vec){ NULL, p };
}

void
ref_bn_statistics(size_t n, size_t c, ref_view x, double *mean, double *var)
{
    statistics(n, c, fmat(x), mean, var);
}

void
ref_bn_statistics_d(size_t n, size_t c, ref_dview x, double *mean, double *var)
{
    statistics(n, c, dmat(x), mean, var);
}

void
ref_bn_running_statistics(size_t n, size_t c, ref_view x, double momentum, double *running_mean,
                          double *running_var)
{
    running(n, c, fmat(x), momentum, running_mean, running_var);
}

void
ref_bn_forward(size_t n, size_t c, ref_view x, const float *mean, const float *var,
               const float *gamma, const float *beta, float eps, const ref_neuron *nr, double *y)
{
    forward(n, c, fmat(x), fvec(mean), fvec(var), fvec(gamma), fvec(beta), eps, nr, y);
}

void
ref_bn_forward_d(size_t n, size_t c, ref_dview x, const double *mean, const double *var,
                 const double *gamma, const double *beta, double eps, const ref_neuron *nr,
                 double *y)
{
    forward(n, c, dmat(x), dvec(mean), dvec(var), dvec(gamma), dvec(beta), eps, nr, y);
}

void
ref_bn_gradient(size_t n, size_t c, ref_view dy, ref_view x, const float *mean, const float *var,
                const float *gamma, const float *beta, float eps, const ref_neuron *nr,
                double *dx, double *dgamma, double *dbeta)
{
    gradient(n, c, fmat(dy), fmat(x), fvec(mean), fvec(var), fvec(gamma), fvec(beta), eps, nr,
             0, dx, dgamma, dbeta);
}

void
ref_bn_gradient_frozen(size_t n, size_t c, ref_view dy, ref_view x, const float *mean,
                       const float *var, const float *gamma, const float *beta, float eps,
                       const ref_neuron *nr, double *dx, double *dgamma, double *dbeta)
{
    gradient(n, c, fmat(dy), fmat(x), fvec(mean), fvec(var), fvec(gamma), fvec(beta), eps, nr,
             1, dx, dgamma, dbeta);
}

void
ref_bn_gradient_d(size_t n, size_t c, ref_dview dy, ref_dview x, const double *mean,
                  const double *var, const double *gamma, const double *beta, double eps,
                  const ref_neuron *nr, double *dx, double *dgamma, double *dbeta)
{
    gradient(n, c, dmat(dy), dmat(x), dvec(mean), dvec(var), dvec(gamma), dvec(beta), eps, nr,
             0, dx, dgamma, dbeta);
}

void
ref_bn_gradient_frozen_d(size_t n, size_t c, ref_dview dy, ref_dview x, const double *mean,
                         const double *var, const double *gamma, const double *beta, double eps,
                         const ref_neuron *nr, double *dx, double *dgamma, double *dbeta)
{
    gradient(n, c, dmat(dy), dmat(x), dvec(mean), dvec(var), dvec(gamma), dvec(beta), eps, nr,
             1, dx, dgamma, dbeta);
}

/* ---- error norms ------------------------------------------------------------------------ */

/* Scaled sum of squares (LAPACK's dlassq): the norm is scale * sqrt(ssq), and no square is
   formed of anything larger than 1, so 1e300 or 1e-300 entries neither overflow nor vanish. */
typedef struct ssq { double scale, sum; } ssq;

static void
ssq_add(ssq *s, double v)
{
    double a = fabs(v);

    if (a == 0)
        return;
    if (s->scale < a) {
        s->sum = 1 + s->sum * (s->scale / a) * (s->scale / a);
        s->scale = a;
    } else {
        s->sum += (a / s->scale) * (a / s->scale);
    }
}

static double
ssq_norm(ssq s)
{
    return s.scale * sqrt(s.sum);
}

double
ref_rel_l2(size_t n, size_t c, ref_view got, const double *want)
{
    ssq diff = { 0, 0 }, ref = { 0, 0 };

    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < c; j++) {
            double g = got.p[i * got.ld + j], w = want[i * c + j];

            if (!isfinite(w)) {
                /* NaN matches NaN, an infinity the same infinity; both then add nothing. */
                if (isnan(w) ? isnan(g) : g == w)
                    continue;
                return INFINITY;
            }
            if (!isfinite(g))
                return INFINITY;
            ssq_add(&diff, g - w);
            ssq_add(&ref, w);
        }
    }
    if (ref.scale == 0)
        return ssq_norm(diff);
    return ssq_norm(diff) / ssq_norm(ref);
}

double
ref_rel_l2_vec(size_t c, const float *got, const double *want)
{
    return ref_rel_l2(1, c, (ref_view){ got, c }, want);
}
