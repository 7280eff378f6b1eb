/* Fused neurons: every MPS matrix neuron type, with two parameter sets, in the forward and the
 * gradient (training mode and frozen statistics), against the fp64 reference (whose own
 * derivatives check_reference proves by finite differences); ReLU-family kinks hit exactly; every
 * value the documented neuron table states (kinks, silencing parameters, domain edges) pinned at
 * its z; the neuron properties. */
#include <math.h>
#include <string.h>

#include "bn_cases.h"
#include "tools/ref.h"
#include "util.h"

/* Transcendental neurons go through exp/log/pow/tanh/erfc, a few ulp each in OpenCL's full
 * profile: 1e-5. The rest are a handful of exactly rounded operations: the fp32 bound, 1e-6. */
#define BOUND_ALGEBRAIC 1e-6
#define BOUND_TRANSCENDENTAL 1e-5

typedef struct neuron_row {
    ref_neuron n;
    double bound;
} neuron_row;

/* Parameters keep the pre-activation z (|z| < ~3.5 on the test data) inside each domain. */
static const neuron_row rows[] = {
    {{MPSCL_NEURON_NONE, 0, 0, 0}, BOUND_ALGEBRAIC},
    {{MPSCL_NEURON_NONE, 1, 2, 3}, BOUND_ALGEBRAIC},
    {{MPSCL_NEURON_RELU, 0, 0, 0}, BOUND_ALGEBRAIC},
    {{MPSCL_NEURON_RELU, 0.125, 0, 0}, BOUND_ALGEBRAIC},
    {{MPSCL_NEURON_LINEAR, 1, 0, 0}, BOUND_ALGEBRAIC},
    {{MPSCL_NEURON_LINEAR, -0.5, 0.25, 0}, BOUND_ALGEBRAIC},
    {{MPSCL_NEURON_SIGMOID, 0, 0, 0}, BOUND_TRANSCENDENTAL},
    {{MPSCL_NEURON_SIGMOID, 1, 1, 1}, BOUND_TRANSCENDENTAL},
    {{MPSCL_NEURON_HARD_SIGMOID, 0.2, 0.5, 0}, BOUND_ALGEBRAIC},
    {{MPSCL_NEURON_HARD_SIGMOID, 0.5, 0.125, 0}, BOUND_ALGEBRAIC},
    {{MPSCL_NEURON_TANH, 1, 1, 0}, BOUND_TRANSCENDENTAL},
    {{MPSCL_NEURON_TANH, 1.75, 0.625, 0}, BOUND_TRANSCENDENTAL},
    {{MPSCL_NEURON_ABSOLUTE, 0, 0, 0}, BOUND_ALGEBRAIC},
    {{MPSCL_NEURON_ABSOLUTE, 3, 3, 3}, BOUND_ALGEBRAIC},
    {{MPSCL_NEURON_SOFT_PLUS, 1, 1, 0}, BOUND_TRANSCENDENTAL},
    {{MPSCL_NEURON_SOFT_PLUS, 0.5, 2, 0}, BOUND_TRANSCENDENTAL},
    {{MPSCL_NEURON_SOFT_SIGN, 0, 0, 0}, BOUND_ALGEBRAIC},
    {{MPSCL_NEURON_SOFT_SIGN, 1, 1, 1}, BOUND_ALGEBRAIC},
    {{MPSCL_NEURON_ELU, 1, 0, 0}, BOUND_TRANSCENDENTAL},
    {{MPSCL_NEURON_ELU, 0.5, 0, 0}, BOUND_TRANSCENDENTAL},
    {{MPSCL_NEURON_RELUN, 0.125, 1, 0}, BOUND_ALGEBRAIC},
    {{MPSCL_NEURON_RELUN, 0, 0.5, 0}, BOUND_ALGEBRAIC},
    {{MPSCL_NEURON_POWER, 0.5, 3, 2}, BOUND_TRANSCENDENTAL},
    {{MPSCL_NEURON_POWER, 0.25, 2, 1.5}, BOUND_TRANSCENDENTAL},
    {{MPSCL_NEURON_EXPONENTIAL, 0.5, 0, -1}, BOUND_TRANSCENDENTAL},
    {{MPSCL_NEURON_EXPONENTIAL, 1, -1, 2}, BOUND_TRANSCENDENTAL},
    {{MPSCL_NEURON_LOGARITHM, 1, 4, -1}, BOUND_TRANSCENDENTAL},
    {{MPSCL_NEURON_LOGARITHM, 0.5, 3, 10}, BOUND_TRANSCENDENTAL},
    {{MPSCL_NEURON_GELU, 0, 0, 0}, BOUND_TRANSCENDENTAL},
    {{MPSCL_NEURON_GELU, 1, 1, 1}, BOUND_TRANSCENDENTAL},
};
#define NROWS ((int)(sizeof rows / sizeof rows[0]))

static const bn_case *
case_named(const char *name)
{
    for (size_t i = 0; i < bn_case_count; i++)
        if (strcmp(bn_cases[i].name, name) == 0)
            return &bn_cases[i];
    ck_abort_msg("no case named %s", name);
    return NULL;
}

START_TEST(test_gradient)
{
    bn_run run = {&rows[_i].n, rows[_i].bound, 1, 0};
    bn_check_gradient(case_named("origins"), &run);
    bn_check_gradient(case_named("batch 4, origins"), &run);
}
END_TEST

START_TEST(test_gradient_frozen)
{
    bn_run run = {&rows[_i].n, rows[_i].bound, 1, 1};
    bn_check_gradient(case_named("origins"), &run);
    bn_check_gradient(case_named("batch 4, origins"), &run);
}
END_TEST

START_TEST(test_forward)
{
    bn_run run = {&rows[_i].n, rows[_i].bound, 1, 0};
    bn_check_forward(case_named("origins"), 0, &run);
    bn_check_forward(case_named("C=65"), 1, &run);
}
END_TEST

/* Kinks hit exactly: with paired data and no beta the odd last row has x == mean, so xhat and z
 * are exactly 0 on the device and in the reference, and f' must take the documented side there
 * (ReLU, ELU: a; Absolute: 0; HardSigmoid with b = 0 and ReLUN with b = 0: 0). */
static const ref_neuron kinks[] = {
    {MPSCL_NEURON_RELU, 0.125, 0, 0},
    {MPSCL_NEURON_ELU, 0.5, 0, 0},
    {MPSCL_NEURON_ABSOLUTE, 0, 0, 0},
    {MPSCL_NEURON_HARD_SIGMOID, 0.25, 0, 0},
    {MPSCL_NEURON_RELUN, 0.125, 0, 0},
};

START_TEST(test_kinks)
{
    bn_case c = *case_named("exact odd 1001x33");
    bn_run run = {&kinks[_i], kinks[_i].type == MPSCL_NEURON_ELU ? BOUND_TRANSCENDENTAL
                                                                   : BOUND_ALGEBRAIC, 2, 0};
    c.optional = BN_GAMMA | BN_DGAMMA | BN_DBETA;
    bn_check_gradient(&c, &run);
    bn_check_forward(&c, 1, &run);
    run.frozen = 1;
    bn_check_gradient(&c, &run);
}
END_TEST

/* The values the headers' neuron table documents, pinned one z at a time: a 1-row region with
 * x = mean = 0 gives xhat = 0 exactly, so column j's pre-activation is z = beta[j] with no
 * rounding, the forward writes f(z) there, and with gradient 1 the gradient's dbeta[j] is
 * f'(z) itself (dgamma and dx are 0). Each value is checked against the literal the
 * documentation states and against the fp64 reference; NaN must stay NaN. */
typedef struct pinned {
    ref_neuron n;
    float z[4];
    double f[4], df[4];
    int count;
} pinned;

static const pinned pins[] = {
    /* Kinks: ReLU and ELU take a at 0; Absolute 0 at 0. */
    {{MPSCL_NEURON_RELU, 0.125, 0, 0}, {0, -2, 1}, {0, -0.25, 1}, {0.125, 0.125, 1}, 3},
    {{MPSCL_NEURON_RELU, 0, 0, 0}, {0, -2}, {0, 0}, {0, 0}, 2},
    {{MPSCL_NEURON_ELU, 0.5, 0, 0}, {0}, {0}, {0.5}, 1},
    {{MPSCL_NEURON_ABSOLUTE, 0, 0, 0}, {0, -3, 3}, {0, 3, 3}, {0, -1, 1}, 3},
    /* HardSigmoid: 0 at both edges of the ramp (a z + b = 0 and = 1), a inside. */
    {{MPSCL_NEURON_HARD_SIGMOID, 0.25, 0.5, 0}, {-2, 2, 0, 3}, {0, 1, 0.5, 1}, {0, 0, 0.25, 0}, 4},
    /* ReLUN: a at z = 0 below the ceiling, 0 where the value reaches b (from either side). */
    {{MPSCL_NEURON_RELUN, 0.125, 0.5, 0}, {0, 0.5, 0.25, 1}, {0, 0.5, 0.25, 0.5},
     {0.125, 0, 1, 0}, 4},
    {{MPSCL_NEURON_RELUN, 0.125, 0, 0}, {0, -1}, {0, -0.125}, {0, 0.125}, 2},
    {{MPSCL_NEURON_RELUN, 1, -1, 0}, {-1, -0.5, -2}, {-1, -1, -2}, {0, 0, 1}, 3},
    /* Parameters that silence the neuron: the default (0, 0, 0) of LINEAR, HARD_SIGMOID, TANH,
     * SOFT_PLUS and RELUN gives y = 0 and f' = 0 everywhere; SOFT_PLUS with b = 0 a constant. */
    {{MPSCL_NEURON_LINEAR, 0, 0, 0}, {0, 1.5}, {0, 0}, {0, 0}, 2},
    {{MPSCL_NEURON_TANH, 0, 0, 0}, {0, 1.5}, {0, 0}, {0, 0}, 2},
    {{MPSCL_NEURON_TANH, 0, 1, 0}, {1.5}, {0}, {0}, 1},
    {{MPSCL_NEURON_SOFT_PLUS, 2, 0, 0}, {1.5}, {1.3862943611198906}, {0}, 1},
    {{MPSCL_NEURON_RELUN, 0, 0, 0}, {-1, 1.5}, {0, 0}, {0, 0}, 2},
    {{MPSCL_NEURON_HARD_SIGMOID, 0, 0, 0}, {-1, 1.5}, {0, 0}, {0, 0}, 2},
    {{MPSCL_NEURON_SOFT_PLUS, 0, 0, 0}, {-1, 1.5}, {0, 0}, {0, 0}, 2},
    /* Default parameters of the pow/log family: a constant 1 with a NaN slope (0 * inf), and
     * NaN throughout for LOGARITHM. */
    {{MPSCL_NEURON_POWER, 0, 0, 0}, {1.5}, {1}, {NAN}, 1},
    {{MPSCL_NEURON_EXPONENTIAL, 0, 0, 0}, {1.5}, {1}, {NAN}, 1},
    {{MPSCL_NEURON_LOGARITHM, 0, 0, 0}, {1.5}, {NAN}, {NAN}, 1},
    /* Outside the domain: ln of a negative is NaN while its slope a / u stays finite; the pole
     * at u = 0. */
    {{MPSCL_NEURON_LOGARITHM, 1, 0, -1}, {-2, 0}, {NAN, -INFINITY}, {-0.5, INFINITY}, 2},
    {{MPSCL_NEURON_POWER, 1, 0, 0.5}, {-4, 0}, {NAN, 0}, {NAN, INFINITY}, 2},
    {{MPSCL_NEURON_GELU, 0, 0, 0}, {0}, {0}, {0.5}, 1},
};

static int
pinned_equal(double got, double want, double tol)
{
    if (isnan(want))
        return isnan(got);
    if (isinf(want))
        return got == want;
    return fabs(got - want) <= tol * fmax(1.0, fabs(want));
}

START_TEST(test_pinned_values)
{
    const pinned *pn = &pins[_i];
    const size_t C = (size_t)pn->count;
    mpscl_matrix_descriptor md = mpscl_matrix_descriptor_make(1, C, 4 * C, MPSCL_DATA_TYPE_FLOAT32);
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make(C, MPSCL_DATA_TYPE_FLOAT32);
    mpscl_matrix *x, *y, *dy, *dx;
    mpscl_vector *mean, *var, *gamma, *beta, *dgamma, *dbeta;
    mpscl_matrix_batch_normalization *fwd;
    mpscl_matrix_batch_normalization_gradient *grad;
    mpscl_command_buffer *cb;
    float zeros[4] = {0}, ones[4] = {1, 1, 1, 1}, out[4], dg[4], db[4], dxs[4];
    float a = (float)pn->n.a, b = (float)pn->n.b, c = (float)pn->n.c;

    ASSERT_OK(mpscl_matrix_create(test_device, &md, &x));
    ASSERT_OK(mpscl_matrix_create(test_device, &md, &y));
    ASSERT_OK(mpscl_matrix_create(test_device, &md, &dy));
    ASSERT_OK(mpscl_matrix_create(test_device, &md, &dx));
    ASSERT_OK(mpscl_vector_create(test_device, &vd, &mean));
    ASSERT_OK(mpscl_vector_create(test_device, &vd, &var));
    ASSERT_OK(mpscl_vector_create(test_device, &vd, &gamma));
    ASSERT_OK(mpscl_vector_create(test_device, &vd, &beta));
    ASSERT_OK(mpscl_vector_create(test_device, &vd, &dgamma));
    ASSERT_OK(mpscl_vector_create(test_device, &vd, &dbeta));
    ASSERT_OK(mpscl_matrix_write(x, zeros, 4 * C));
    ASSERT_OK(mpscl_matrix_write(dy, ones, 4 * C));
    ASSERT_OK(mpscl_vector_write(mean, zeros));
    ASSERT_OK(mpscl_vector_write(var, ones));
    ASSERT_OK(mpscl_vector_write(gamma, ones));
    ASSERT_OK(mpscl_vector_write(beta, pn->z));

    ASSERT_OK(mpscl_matrix_batch_normalization_create(test_device, &fwd));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_neuron_type(fwd, (mpscl_neuron_type)pn->n.type,
                                                               a, b, c));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_create(test_device, &grad));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_neuron_type(
        grad, (mpscl_neuron_type)pn->n.type, a, b, c));
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    ASSERT_OK(mpscl_matrix_batch_normalization_encode(fwd, cb, x, mean, var, gamma, beta, y));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_encode(grad, cb, dy, x, mean, var, gamma,
                                                               beta, dx, dgamma, dbeta));
    ASSERT_OK(mpscl_command_buffer_commit(cb));
    ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb));
    ASSERT_OK(mpscl_matrix_read(y, out, 4 * C));
    ASSERT_OK(mpscl_matrix_read(dx, dxs, 4 * C));
    ASSERT_OK(mpscl_vector_read(dgamma, dg));
    ASSERT_OK(mpscl_vector_read(dbeta, db));

    for (size_t j = 0; j < C; j++) {
        double z = pn->z[j];
        double rf = ref_neuron_f(&pn->n, z), rdf = ref_neuron_df(&pn->n, z);

        ck_assert_msg(pinned_equal(out[j], pn->f[j], 1e-6) && pinned_equal(rf, pn->f[j], 1e-12),
                      "type %d (%g, %g, %g) f(%g): device %.9g, reference %.17g, documented %.17g",
                      pn->n.type, pn->n.a, pn->n.b, pn->n.c, z, out[j], rf, pn->f[j]);
        ck_assert_msg(pinned_equal(db[j], pn->df[j], 1e-6) &&
                      pinned_equal(rdf, pn->df[j], 1e-12),
                      "type %d (%g, %g, %g) f'(%g): device %.9g, reference %.17g, documented %.17g",
                      pn->n.type, pn->n.a, pn->n.b, pn->n.c, z, db[j], rdf, pn->df[j]);
        /* dgamma = f' * xhat and dx = gamma * s * (dz - dbeta - xhat * dgamma): 0 unless
         * f' is not finite (0 * inf). */
        if (isfinite(pn->df[j])) {
            ck_assert_msg(dg[j] == 0 && dxs[j] == 0, "type %d z %g: dgamma %g, dx %g",
                          pn->n.type, z, dg[j], dxs[j]);
        }
    }
    mpscl_command_buffer_release(cb);
    mpscl_matrix_batch_normalization_gradient_release(grad);
    mpscl_matrix_batch_normalization_release(fwd);
    mpscl_vector_release(dbeta);
    mpscl_vector_release(dgamma);
    mpscl_vector_release(beta);
    mpscl_vector_release(gamma);
    mpscl_vector_release(var);
    mpscl_vector_release(mean);
    mpscl_matrix_release(dx);
    mpscl_matrix_release(dy);
    mpscl_matrix_release(y);
    mpscl_matrix_release(x);
}
END_TEST

START_TEST(test_properties)
{
    mpscl_matrix_batch_normalization_gradient *g, *copy;
    mpscl_matrix_batch_normalization *f;

    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_create(test_device, &g));
    ASSERT_OK(mpscl_matrix_batch_normalization_create(test_device, &f));
    for (int t = 0; t <= MPSCL_NEURON_GELU; t++) {
        mpscl_status want = t == MPSCL_NEURON_PRELU ? MPSCL_ERROR_UNSUPPORTED : MPSCL_SUCCESS;
        ASSERT_STATUS(mpscl_matrix_batch_normalization_gradient_set_neuron_type(
                          g, (mpscl_neuron_type)t, 0.5f * (float)t, 2.0f, -1.0f), want);
        ASSERT_STATUS(mpscl_matrix_batch_normalization_set_neuron_type(
                          f, (mpscl_neuron_type)t, 0.5f * (float)t, 2.0f, -1.0f), want);
    }
    ck_assert_int_eq(mpscl_matrix_batch_normalization_gradient_neuron_type(g), MPSCL_NEURON_GELU);
    ck_assert_float_eq(mpscl_matrix_batch_normalization_gradient_neuron_parameter_a(g), 7.5f);
    ck_assert_float_eq(mpscl_matrix_batch_normalization_neuron_parameter_b(f), 2.0f);
    ck_assert_float_eq(mpscl_matrix_batch_normalization_neuron_parameter_c(f), -1.0f);
    /* Refused calls leave the previous neuron in place. */
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_neuron_type(g, MPSCL_NEURON_ELU, 0.5f, 0, 0));
    ASSERT_STATUS(mpscl_matrix_batch_normalization_gradient_set_neuron_type(
                      g, MPSCL_NEURON_PRELU, 1, 1, 1), MPSCL_ERROR_UNSUPPORTED);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_gradient_set_neuron_type(
                      g, (mpscl_neuron_type)16, 1, 1, 1), MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_gradient_set_neuron_type(
                      g, (mpscl_neuron_type)-1, 1, 1, 1), MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_gradient_set_neuron_type(
                      g, MPSCL_NEURON_RELU, INFINITY, 1, 1), MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_gradient_set_neuron_type(
                      g, MPSCL_NEURON_RELU, 1, 1, NAN), MPSCL_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(mpscl_matrix_batch_normalization_gradient_neuron_type(g), MPSCL_NEURON_ELU);
    ck_assert_float_eq(mpscl_matrix_batch_normalization_gradient_neuron_parameter_a(g), 0.5f);
    /* A copy keeps the neuron, and builds and runs it: check by running a case with the copy. */
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_copy(g, NULL, &copy));
    ck_assert_int_eq(mpscl_matrix_batch_normalization_gradient_neuron_type(copy), MPSCL_NEURON_ELU);
    ck_assert_float_eq(mpscl_matrix_batch_normalization_gradient_neuron_parameter_a(copy), 0.5f);
    mpscl_matrix_batch_normalization_gradient_release(copy);
    mpscl_matrix_batch_normalization_gradient_release(g);
    mpscl_matrix_batch_normalization_release(f);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("bn_neuron");
    TCase *tc = tcase_create("neurons");
    TCase *k = tcase_create("kinks");
    TCase *p = tcase_create("properties");

    tcase_add_checked_fixture(tc, test_device_setup, test_device_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_gradient, 0, NROWS);
    tcase_add_loop_test(tc, test_gradient_frozen, 0, NROWS);
    tcase_add_loop_test(tc, test_forward, 0, NROWS);
    suite_add_tcase(s, tc);
    tcase_add_checked_fixture(k, test_device_setup, test_device_teardown);
    tcase_set_timeout(k, 300);
    tcase_add_loop_test(k, test_kinks, 0, (int)(sizeof kinks / sizeof kinks[0]));
    tcase_add_loop_test(k, test_pinned_values, 0, (int)(sizeof pins / sizeof pins[0]));
    suite_add_tcase(s, k);
    tcase_add_checked_fixture(p, test_device_setup, test_device_teardown);
    tcase_add_test(p, test_properties);
    suite_add_tcase(s, p);
    return test_run_suite(s);
}
