/* The split phases (docs/DISTRIBUTED.md): a batch's rows split into P = 1 .. 4 shares (equal,
 * unequal, one share of no rows), as sub-matrices of one matrix (origins and counts) or as
 * matrices of their own, each share on its own kernel object, partials gathered through host
 * memory with the encoded transfers, as a multi-process caller would.
 *
 * Default mode: mean, variance, result and running statistics, dx, dgamma and dbeta against the
 * fp64 reference (tools/ref.h) and against the one-device encode, at the storage type's bound
 * (relative L2 per vector or matrix: fp32 1e-6, fp16 2^-10, bf16 2^-7, as check_bn_running.c);
 * bitwise the same over two runs of one split. Reproducible mode: every output bitwise equal to
 * the one-device encode with the property on, for every P, split and layout, and within the
 * bound of the reference. Then two mpscl devices in one process, refusals, and the property. */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "split_harness.h"
#include "tools/ref.h"
#include "util.h"

/* Each case's types, neuron and vector width make programs of their own (compiled once per
 * mode and phase), so the cases are few and each covers something the others do not: 4-wide
 * loads with a batch and origins; fp16 data with fp16 vectors; bf16 with a batch; a neuron with
 * 4-wide loads; scalar loads with several row chunks and a transcendental neuron. */
static const split_case cases[] = {
    {"fp32, C=16, batch 2 of 3", 50, 16, 3, 1, F32, F32, F32, MPSCL_NEURON_NONE, 0, 0},
    {"fp16, fp16 statistics and running, C=9", 30, 9, 1, 0, F16, F16, F16, MPSCL_NEURON_NONE, 0,
     0},
    {"bf16, C=5, batch 2, bf16 running", 33, 5, 2, 0, BF16, F32, BF16, MPSCL_NEURON_NONE, 0, 0},
    {"fp32, leaky ReLU, C=12", 45, 12, 1, 0, F32, F32, F32, MPSCL_NEURON_RELU, 0.1f, 0},
    {"fp32, tanh, N=300, C=33", 300, 33, 1, 0, F32, F32, F32, MPSCL_NEURON_TANH, 1, 0.5f},
};
enum { NCASES = sizeof cases / sizeof cases[0] };

/* ---- the tests ---- */

/* Splits run per case: P = 1 .. 4, each kind of split somewhere. */
static const struct { size_t p; int kind; } splits[] = {
    {1, SPLIT_EQUAL}, {2, SPLIT_EQUAL}, {2, SPLIT_UNEQUAL}, {3, SPLIT_UNEQUAL},
    {3, SPLIT_EMPTY}, {4, SPLIT_EQUAL}, {4, SPLIT_EMPTY},
};

static void
run_case(const split_case *sc, int repro)
{
    problem pb;
    outputs whole, got, again;
    mpscl_device *devs[1] = {test_device};
    char where[200];

    problem_make(&pb, sc);
    outputs_new(&whole, &pb);
    run_whole(&pb, repro, &whole);
    snprintf(where, sizeof where, "%s, %s, one device", sc->name, repro ? "reproducible" : "default");
    check_reference(&pb, &whole, repro, where);
    for (size_t s = 0; s < sizeof splits / sizeof splits[0]; s++)
        for (int views = 0; views <= 1; views++) {
            size_t rows[MAXP];
            split_rows(pb.n, splits[s].p, splits[s].kind, rows);
            snprintf(where, sizeof where, "%s, %s, P=%zu %s, %s", sc->name,
                     repro ? "reproducible" : "default", splits[s].p,
                     split_names[splits[s].kind], views ? "sub-matrices" : "own matrices");
            outputs_new(&got, &pb);
            run_split(&pb, rows, splits[s].p, views, devs, 1, repro, &got);
            check_reference(&pb, &got, repro, where);
            if (repro) {
                check_same(&got, &whole, where);
            } else {
                check_close(&pb, &got, &whole, where);
                if (splits[s].p == 3) {
                    /* A fixed split: the same bits run to run. */
                    outputs_new(&again, &pb);
                    run_split(&pb, rows, splits[s].p, views, devs, 1, repro, &again);
                    check_same(&again, &got, where);
                    outputs_free(&again);
                }
            }
            outputs_free(&got);
        }
    outputs_free(&whole);
    problem_free(&pb);
}

START_TEST(default_mode)
{
    run_case(&cases[_i], 0);
}
END_TEST

START_TEST(reproducible_mode)
{
    run_case(&cases[_i], 1);
}
END_TEST

/* The default mode in the two launches' layout, which GPUs use, where this device streams rows
 * (a vector-width case with a batch, and several chunks of scalar columns). */
START_TEST(default_two_launches)
{
    static const size_t which[] = {0, 4};

    setenv("MPSCL_TUNE", "rows=0", 1);
    run_case(&cases[which[_i]], 0);
    unsetenv("MPSCL_TUNE");
}
END_TEST

/* The reproducible results do not depend on the launch plan either: shares planned with other
 * chunks and groups (MPSCL_TUNE, read when an object is made) give the one-device bits. */
START_TEST(reproducible_any_plan)
{
    const split_case *sc = &cases[_i];
    problem pb;
    outputs whole, got;
    mpscl_device *devs[1] = {test_device};
    size_t rows[MAXP];

    problem_make(&pb, sc);
    outputs_new(&whole, &pb);
    run_whole(&pb, 1, &whole);
    setenv("MPSCL_TUNE", "chunks=3,wg=32,lx=4,vw=1", 1);
    split_rows(pb.n, 3, SPLIT_UNEQUAL, rows);
    outputs_new(&got, &pb);
    run_split(&pb, rows, 3, 0, devs, 1, 1, &got);
    check_same(&got, &whole, sc->name);
    unsetenv("MPSCL_TUNE");
    outputs_free(&got);
    outputs_free(&whole);
    problem_free(&pb);
}
END_TEST

/* Two mpscl devices in one process (a context each), shares alternating between them, partials
 * through host memory: the one-device result (bitwise in the reproducible mode). */
START_TEST(two_devices)
{
    const split_case *sc = &cases[0];
    int repro = _i;
    mpscl_device *devs[2] = {test_device, NULL};
    problem pb;
    outputs whole, got;
    size_t rows[MAXP];

    ASSERT_OK(mpscl_device_create_default(&devs[1]));
    ck_assert_ptr_ne(mpscl_device_cl_context(devs[0]), mpscl_device_cl_context(devs[1]));
    problem_make(&pb, sc);
    outputs_new(&whole, &pb);
    run_whole(&pb, repro, &whole);
    split_rows(pb.n, 4, SPLIT_UNEQUAL, rows);
    outputs_new(&got, &pb);
    run_split(&pb, rows, 4, 0, devs, 2, repro, &got);
    check_reference(&pb, &got, repro, "two devices");
    if (repro)
        check_same(&got, &whole, "two devices, reproducible");
    else
        check_close(&pb, &got, &whole, "two devices, default");
    outputs_free(&got);
    outputs_free(&whole);
    problem_free(&pb);
    mpscl_device_release(devs[1]);
}
END_TEST

/* ---- refusals ---- */

static mpscl_vector *
filled_vector(mpscl_device *d, mpscl_data_type t, size_t length, size_t vectors)
{
    image im = image_new(t, length * vectors);
    mpscl_vector *v;

    for (size_t k = 0; k < im.count; k++)
        test_store(t, im.bytes, k, (double)k * 0.5 - 3);
    v = vector_of(d, &im, length, vectors);
    free(im.bytes);
    return v;
}

static mpscl_matrix *
filled_matrix(mpscl_device *d, mpscl_data_type t, size_t rows, size_t cols)
{
    image im = image_new(t, rows * cols);
    mpscl_matrix *m;

    for (size_t k = 0; k < im.count; k++)
        test_store(t, im.bytes, k, (double)(k % 7) - 2.5);
    m = matrix_of(d, &im, rows, cols, 1);
    free(im.bytes);
    return m;
}

/* v's bytes equal `before` (a refused call wrote nothing). */
static void
check_untouched(const mpscl_vector *v, size_t length)
{
    float *now = malloc(length * sizeof(float));

    ck_assert_ptr_nonnull(now);
    ASSERT_OK(mpscl_vector_read(v, now));
    for (size_t k = 0; k < length; k++)
        ck_assert_msg(now[k] == (float)((double)k * 0.5 - 3), "element %zu written", k);
    free(now);
}

START_TEST(refusals)
{
    enum { N = 8, C = 5 };
    mpscl_matrix_batch_normalization *k, *kr;
    mpscl_matrix_batch_normalization_gradient *g;
    mpscl_command_buffer *cb;
    mpscl_device *other;
    size_t fl, rl, gl, len;
    mpscl_matrix *x = filled_matrix(test_device, F32, N, C), *dy = filled_matrix(test_device, F32, N, C);
    mpscl_matrix *dx = filled_matrix(test_device, F32, N, C), *x16 = filled_matrix(test_device, F16, N, C);
    mpscl_vector *mean = filled_vector(test_device, F32, C, 1), *var = filled_vector(test_device, F32, C, 1);
    mpscl_vector *rm = filled_vector(test_device, F32, C, 1), *rv = filled_vector(test_device, F32, C, 1);
    mpscl_vector *part, *short_part, *part16, *rpart, *two, *gpart, *gshort, *elsewhere;

    ASSERT_OK(mpscl_matrix_batch_normalization_create(test_device, &k));
    ASSERT_OK(mpscl_matrix_batch_normalization_copy(k, NULL, &kr));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_reproducible(kr, 1));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_create(test_device, &g));
    ASSERT_OK(mpscl_matrix_batch_normalization_partials_length(k, C, &fl));
    ASSERT_OK(mpscl_matrix_batch_normalization_partials_length(kr, C, &rl));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_partials_length(g, C, &gl));
    part = filled_vector(test_device, F32, fl, 1);
    short_part = filled_vector(test_device, F32, fl - 1, 1);
    part16 = filled_vector(test_device, F16, fl, 1);
    rpart = filled_vector(test_device, F32, rl, 1);
    two = filled_vector(test_device, F32, 2 * fl - 1, 1);
    gpart = filled_vector(test_device, F32, gl, 1);
    gshort = filled_vector(test_device, F32, gl - 1, 1);
    ASSERT_OK(mpscl_device_create_default(&other));
    elsewhere = filled_vector(other, F32, fl, 1);
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));

    /* partials_length */
    len = 7;
    ASSERT_STATUS(mpscl_matrix_batch_normalization_partials_length(NULL, C, &len),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ck_assert_uint_eq(len, 0);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_partials_length(k, C, NULL),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_partials_length(k, 0, &len),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_gradient_partials_length(NULL, C, &len),
                  MPSCL_ERROR_INVALID_ARGUMENT);

    /* partial statistics */
    ASSERT_STATUS(mpscl_matrix_batch_normalization_encode_partial_statistics(NULL, cb, 0, x, NULL,
                                                                             part),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_encode_partial_statistics(k, NULL, 0, x, NULL,
                                                                             part),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_encode_partial_statistics(k, cb, 0, NULL, NULL,
                                                                             part),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_encode_partial_statistics(k, cb, 0, x, NULL,
                                                                             NULL),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_encode_partial_statistics(k, cb, 1, x, mean,
                                                                             part),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_encode_partial_statistics(kr, cb, 2, x, mean,
                                                                             rpart),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_encode_partial_statistics(k, cb, 0, x, mean,
                                                                             part),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_encode_partial_statistics(kr, cb, 1, x, NULL,
                                                                             rpart),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_encode_partial_statistics(k, cb, 0, x, NULL,
                                                                             short_part),
                  MPSCL_ERROR_INVALID_SHAPE);
    /* A default-mode partial is too short for the reproducible layout. */
    ASSERT_STATUS(mpscl_matrix_batch_normalization_encode_partial_statistics(kr, cb, 0, x, NULL,
                                                                             part),
                  MPSCL_ERROR_INVALID_SHAPE);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_encode_partial_statistics(k, cb, 0, x16, NULL,
                                                                             part16),
                  MPSCL_ERROR_INVALID_DATA_TYPE);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_encode_partial_statistics(k, cb, 0, x, NULL,
                                                                             elsewhere),
                  MPSCL_ERROR_DEVICE_MISMATCH);
    if (mpscl_device_supports_data_type(test_device, MPSCL_DATA_TYPE_FLOAT64)) {
        mpscl_matrix *x64 = filled_matrix(test_device, MPSCL_DATA_TYPE_FLOAT64, N, C);
        ASSERT_STATUS(mpscl_matrix_batch_normalization_encode_partial_statistics(k, cb, 0, x64,
                                                                                 NULL, part),
                      MPSCL_ERROR_UNSUPPORTED);
        mpscl_matrix_release(x64);
    }
    check_untouched(part, fl);
    check_untouched(short_part, fl - 1);

    /* combine */
    ASSERT_STATUS(mpscl_matrix_batch_normalization_encode_combine_statistics(NULL, cb, 0, part, 1,
                                                                             mean, var, NULL, NULL),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_encode_combine_statistics(k, cb, 0, part, 0,
                                                                             mean, var, NULL, NULL),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_encode_combine_statistics(k, cb, 1, part, 1,
                                                                             mean, var, NULL, NULL),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_encode_combine_statistics(k, cb, 0, NULL, 1,
                                                                             mean, var, NULL, NULL),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_encode_combine_statistics(k, cb, 0, part, 1,
                                                                             NULL, var, NULL, NULL),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_encode_combine_statistics(k, cb, 0, part, 1,
                                                                             mean, NULL, NULL, NULL),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_encode_combine_statistics(k, cb, 0, part, 1,
                                                                             mean, var, rm, NULL),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_encode_combine_statistics(kr, cb, 0, rpart, 1,
                                                                             mean, var, rm, rv),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_encode_combine_statistics(k, cb, 0, two, 2,
                                                                             mean, var, NULL, NULL),
                  MPSCL_ERROR_INVALID_SHAPE);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_encode_combine_statistics(k, cb, 0, elsewhere, 1,
                                                                             mean, var, NULL, NULL),
                  MPSCL_ERROR_DEVICE_MISMATCH);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_encode_combine_statistics(k, cb, 0, part, 1,
                                                                             mean, mean, NULL, NULL),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    check_untouched(mean, C);
    check_untouched(var, C);
    check_untouched(rm, C);

    /* gradient */
    ASSERT_STATUS(mpscl_matrix_batch_normalization_gradient_encode_partial_sums(
                      g, cb, dy, x, mean, var, NULL, NULL, NULL),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_gradient_encode_partial_sums(
                      g, cb, dy, x, mean, var, NULL, NULL, gshort),
                  MPSCL_ERROR_INVALID_SHAPE);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_gradient_encode_partial_sums(
                      g, cb, dy, x, NULL, var, NULL, NULL, gpart),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_gradient_encode_apply(
                      g, cb, dy, x, mean, var, NULL, NULL, gpart, 0, dx, NULL, NULL),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_gradient_encode_apply(
                      g, cb, dy, x, mean, var, NULL, NULL, gpart, 2, dx, NULL, NULL),
                  MPSCL_ERROR_INVALID_SHAPE);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_gradient_encode_apply(
                      g, cb, dy, x, mean, var, NULL, NULL, gpart, 1, NULL, NULL, NULL),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_gradient_encode_apply(
                      NULL, cb, dy, x, mean, var, NULL, NULL, gpart, 1, dx, NULL, NULL),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_gradient_encode_apply(
                      g, cb, dy, x, mean, var, NULL, NULL, gpart, 1, dx, mean, NULL),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    check_untouched(gpart, gl);

    finish(cb);
    mpscl_vector *vs[] = {mean,  var, rm,    rv,     part,     short_part,
                          part16, rpart, two, gpart, gshort, elsewhere};
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++)
        mpscl_vector_release(vs[i]);
    mpscl_matrix_release(x);
    mpscl_matrix_release(dy);
    mpscl_matrix_release(dx);
    mpscl_matrix_release(x16);
    mpscl_matrix_batch_normalization_release(k);
    mpscl_matrix_batch_normalization_release(kr);
    mpscl_matrix_batch_normalization_gradient_release(g);
    mpscl_device_release(other);
}
END_TEST

/* A partial of another layout (here a default-mode one given to the reproducible combine, after
 * the length check passes) gives NaN statistics, never a mix of layouts. */
START_TEST(layout_mismatch)
{
    enum { N = 6, C = 3 };
    mpscl_matrix_batch_normalization *k, *kr;
    mpscl_matrix *x = filled_matrix(test_device, F32, N, C);
    mpscl_vector *mean = filled_vector(test_device, F32, C, 1), *part;
    mpscl_command_buffer *cb;
    size_t rl;
    float got[C];

    ASSERT_OK(mpscl_matrix_batch_normalization_create(test_device, &k));
    ASSERT_OK(mpscl_matrix_batch_normalization_copy(k, NULL, &kr));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_reproducible(kr, 1));
    ASSERT_OK(mpscl_matrix_batch_normalization_partials_length(kr, C, &rl));
    part = filled_vector(test_device, F32, rl, 1);
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    ASSERT_OK(mpscl_matrix_batch_normalization_encode_partial_statistics(k, cb, 0, x, NULL, part));
    ASSERT_OK(mpscl_matrix_batch_normalization_encode_combine_statistics(kr, cb, 0, part, 1, mean,
                                                                         NULL, NULL, NULL));
    finish(cb);
    ASSERT_OK(mpscl_vector_read(mean, got));
    for (size_t j = 0; j < C; j++)
        ck_assert_msg(isnan(got[j]), "column %zu: %g, expected NaN", j, (double)got[j]);
    mpscl_vector_release(part);
    mpscl_vector_release(mean);
    mpscl_matrix_release(x);
    mpscl_matrix_batch_normalization_release(k);
    mpscl_matrix_batch_normalization_release(kr);
}
END_TEST

/* The property: getters, setters, copies, archives; rounds and lengths per mode. */
START_TEST(property)
{
    mpscl_matrix_batch_normalization *k, *copy, *back;
    mpscl_matrix_batch_normalization_gradient *g, *gback;
    void *bytes;
    size_t size, len;

    ck_assert_int_eq(mpscl_matrix_batch_normalization_reproducible(NULL), 0);
    ck_assert_uint_eq(mpscl_matrix_batch_normalization_statistics_rounds(NULL), 0);
    ck_assert_int_eq(mpscl_matrix_batch_normalization_gradient_reproducible(NULL), 0);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_set_reproducible(NULL, 1),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_batch_normalization_gradient_set_reproducible(NULL, 1),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_OK(mpscl_matrix_batch_normalization_create(test_device, &k));
    ck_assert_int_eq(mpscl_matrix_batch_normalization_reproducible(k), 0);
    ck_assert_uint_eq(mpscl_matrix_batch_normalization_statistics_rounds(k), 1);
    ASSERT_OK(mpscl_matrix_batch_normalization_partials_length(k, 10, &len));
    ck_assert_uint_eq(len, 4 + 3 * 10);
    ASSERT_OK(mpscl_matrix_batch_normalization_set_reproducible(k, 7));
    ck_assert_int_eq(mpscl_matrix_batch_normalization_reproducible(k), 1);
    ck_assert_uint_eq(mpscl_matrix_batch_normalization_statistics_rounds(k), 2);
    ASSERT_OK(mpscl_matrix_batch_normalization_partials_length(k, 10, &len));
    ck_assert_uint_eq(len, 4 + 9 * 10);
    ASSERT_OK(mpscl_matrix_batch_normalization_copy(k, NULL, &copy));
    ck_assert_int_eq(mpscl_matrix_batch_normalization_reproducible(copy), 1);
    ASSERT_OK(mpscl_matrix_batch_normalization_serialize(k, &bytes, &size));
    ASSERT_OK(mpscl_matrix_batch_normalization_create_from_bytes(test_device, bytes, size, &back));
    ck_assert_int_eq(mpscl_matrix_batch_normalization_reproducible(back), 1);
    mpscl_free(bytes);

    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_create(test_device, &g));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_partials_length(g, 10, &len));
    ck_assert_uint_eq(len, 4 + 2 * 10);
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_reproducible(g, 1));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_partials_length(g, 10, &len));
    ck_assert_uint_eq(len, 4 + 18 * 10);
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_serialize(g, &bytes, &size));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_create_from_bytes(test_device, bytes, size,
                                                                          &gback));
    ck_assert_int_eq(mpscl_matrix_batch_normalization_gradient_reproducible(gback), 1);
    mpscl_free(bytes);
    mpscl_matrix_batch_normalization_release(k);
    mpscl_matrix_batch_normalization_release(copy);
    mpscl_matrix_batch_normalization_release(back);
    mpscl_matrix_batch_normalization_gradient_release(g);
    mpscl_matrix_batch_normalization_gradient_release(gback);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("bn_split");
    TCase *modes = tcase_create("modes"), *other = tcase_create("other");

    tcase_add_checked_fixture(modes, test_device_setup, test_device_teardown);
    tcase_set_timeout(modes, 600);
    tcase_add_loop_test(modes, default_mode, 0, NCASES);
    tcase_add_loop_test(modes, default_two_launches, 0, 2);
    tcase_add_loop_test(modes, reproducible_mode, 0, NCASES);
    tcase_add_loop_test(modes, reproducible_any_plan, 0, NCASES);
    tcase_add_loop_test(modes, two_devices, 0, 2);
    suite_add_tcase(s, modes);
    tcase_add_checked_fixture(other, test_device_setup, test_device_teardown);
    tcase_set_timeout(other, 120);
    tcase_add_test(other, refusals);
    tcase_add_test(other, layout_mismatch);
    tcase_add_test(other, property);
    suite_add_tcase(s, other);
    return test_run_suite(s);
}
