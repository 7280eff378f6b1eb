/*
 * tools/ref.h: the double-precision CPU reference for matrix batch normalization that the
 * library's tests compare the OpenCL kernels against, and mpscl-demo checks its run with;
 * docs/SEMANTICS.md states the math.
 *
 * Everything is computed in double with plain loops in a fixed order, so results depend only on
 * the inputs. Nothing here allocates, prints or touches OpenCL; every function is reentrant.
 */
#ifndef MPSCL_TESTS_REF_H
#define MPSCL_TESTS_REF_H

#include <stddef.h>

/* Neuron types: same numbering as the public enum mpscl_neuron_type:
   0 NONE, 1 RELU, 2 LINEAR, 3 SIGMOID, 4 HARD_SIGMOID, 5 TANH, 6 ABSOLUTE, 7 SOFT_PLUS,
   8 SOFT_SIGN, 9 ELU, 10 PRELU (not supported: treated as invalid), 11 RELUN, 12 POWER,
   13 EXPONENTIAL, 14 LOGARITHM, 15 GELU. */
typedef struct ref_neuron { int type; double a, b, c; } ref_neuron;

/* f(z) per the neuron table of docs/SEMANTICS.md. An invalid type (PReLU, < 0, > 15) gives NaN,
   so a test that reaches it fails loudly. Where the math is undefined (log of a negative,
   negative base to a non-integer power) the result is whatever pow/log give: NaN or an
   infinity. */
double ref_neuron_f(const ref_neuron *nr, double z);

/* f'(z), with the kink conventions (PyTorch's) of docs/SEMANTICS.md: ReLU and ELU at 0 → a,
   HardSigmoid where a·z+b is 0 or 1 → 0, ReLUN at 0 → a and where the value reaches b → 0,
   Absolute at 0 → 0. Invalid type → NaN. */
double ref_neuron_df(const ref_neuron *nr, double z);

/* A strided float view: element (i, j) is p[i * ld + j]. */
typedef struct ref_view { const float *p; size_t ld; } ref_view;

/* mean[j] = (1/N) sum_i x_ij; var[j] = (1/N) sum_i (x_ij - mean_j)^2, two-pass, in double. */
void ref_bn_statistics(size_t n, size_t c, ref_view x, double *mean, double *var);

/* One training step of the running statistics, in place: running_mean_j = (1 - m) running_mean_j
   + m mean_j and running_var_j = (1 - m) running_var_j + m var_j N / (N - 1), mean and (biased)
   var as ref_bn_statistics computes them; with N = 1 running_var is left as it is. */
void ref_bn_running_statistics(size_t n, size_t c, ref_view x, double momentum,
                               double *running_mean, double *running_var);

/* y_ij = f(gamma_j * (x_ij - mean_j) / sqrt(var_j + eps) + beta_j); gamma/beta NULL = 1/0;
   nr NULL = NONE. mean/var are float inputs (what the device used); all math in double;
   y is n*c packed doubles. */
void ref_bn_forward(size_t n, size_t c, ref_view x, const float *mean, const float *var,
                    const float *gamma, const float *beta, float eps, const ref_neuron *nr,
                    double *y);

/* Training-mode gradient (docs/SEMANTICS.md, "Gradient"): s_j = 1/sqrt(var_j+eps),
   xhat = (x-mean)s, z = gamma*xhat+beta, delta = dy * f'(z), dbeta_j = sum_i delta,
   dgamma_j = sum_i delta*xhat, dx = gamma*s*(delta - dbeta/N - xhat*dgamma/N).
   dx is n*c packed; dgamma, dbeta length c. Any output pointer may be NULL (not computed). */
void ref_bn_gradient(size_t n, size_t c, ref_view dy, ref_view x, const float *mean,
                     const float *var, const float *gamma, const float *beta, float eps,
                     const ref_neuron *nr, double *dx, double *dgamma, double *dbeta);

/* Frozen-statistics gradient (docs/SEMANTICS.md, "Frozen statistics"): mean and var are
   constants, so dx = gamma*s*delta; dgamma and dbeta as ref_bn_gradient. Same conventions. */
void ref_bn_gradient_frozen(size_t n, size_t c, ref_view dy, ref_view x, const float *mean,
                            const float *var, const float *gamma, const float *beta, float eps,
                            const ref_neuron *nr, double *dx, double *dgamma, double *dbeta);

/* Norm-wise relative error ||got - want||_2 / ||want||_2 over n*c elements (got strided, want
   packed); if ||want|| == 0 returns ||got - want||_2. NaN in got where want is finite → INFINITY.
   A NaN in want matched by a NaN in got counts as equal (0); matched by a non-NaN counts as
   INFINITY. Same for infinities of equal sign. Norms are scaled, so no square overflows. */
double ref_rel_l2(size_t n, size_t c, ref_view got, const double *want);
double ref_rel_l2_vec(size_t c, const float *got, const double *want);   /* vectors */

/*
 * The double-precision core behind the float API above (which passes its float operands into
 * the same code, so float and double calls on equal values agree bit for bit). It exists for the
 * finite-difference tests: statistics rounded to float would move with a 1e-6 step only in
 * 6e-8 increments and swamp the derivative. Same conventions as the float functions.
 */
typedef struct ref_dview { const double *p; size_t ld; } ref_dview;

void ref_bn_statistics_d(size_t n, size_t c, ref_dview x, double *mean, double *var);
void ref_bn_forward_d(size_t n, size_t c, ref_dview x, const double *mean, const double *var,
                      const double *gamma, const double *beta, double eps, const ref_neuron *nr,
                      double *y);
void ref_bn_gradient_d(size_t n, size_t c, ref_dview dy, ref_dview x, const double *mean,
                       const double *var, const double *gamma, const double *beta, double eps,
                       const ref_neuron *nr, double *dx, double *dgamma, double *dbeta);
void ref_bn_gradient_frozen_d(size_t n, size_t c, ref_dview dy, ref_dview x, const double *mean,
                              const double *var, const double *gamma, const double *beta,
                              double eps, const ref_neuron *nr, double *dx, double *dgamma,
                              double *dbeta);

#endif /* MPSCL_TESTS_REF_H */
