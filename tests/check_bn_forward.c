/* MPSMatrixBatchNormalization in fp32: every shape and layout of bn_cases, with statistics given
 * and computed on the device, against the fp64 reference; bitwise reruns; in-place use. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "bn_cases.h"
#include "tools/ref.h"
#include "util.h"

START_TEST(test_shapes_given_statistics)
{
    bn_check_forward(&bn_cases[_i], 0, &(bn_run){NULL, 0, 1, 0});
}
END_TEST

START_TEST(test_shapes_computed_statistics)
{
    bn_check_forward(&bn_cases[_i], 1, &(bn_run){NULL, 0, 1, 0});
}
END_TEST

START_TEST(test_bitwise_reruns)
{
    static const char *const names[] = {"C=1000", "batch 4, origins", "N=100000 C=3"};
    for (size_t i = 0; i < bn_case_count; i++)
        if (strcmp(bn_cases[i].name, names[_i]) == 0) {
            bn_check_forward(&bn_cases[i], 1, &(bn_run){NULL, 0, 10, 0});
            return;
        }
    ck_abort_msg("no case named %s", names[_i]);
}
END_TEST

/* y written over x: each element is read before it is written, by the same work-item. */
START_TEST(test_in_place)
{
    enum { N = 300, W = 7 };
    float x[N * W], got[N * W], mean[W], var[W];
    double want_y[N * W], m[W], v[W];
    uint64_t rng = 3;
    mpscl_matrix_descriptor d = mpscl_matrix_descriptor_make(N, W, W * 4, MPSCL_DATA_TYPE_FLOAT32);
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make(W, MPSCL_DATA_TYPE_FLOAT32);
    mpscl_matrix *xm;
    mpscl_vector *mv, *vv;
    mpscl_matrix_batch_normalization *k;
    mpscl_command_buffer *cb;

    for (size_t i = 0; i < N * W; i++)
        x[i] = test_rng_uniform(&rng, -3, 5);
    ref_bn_statistics(N, W, (ref_view){x, W}, m, v);
    ASSERT_OK(mpscl_matrix_create(test_device, &d, &xm));
    ASSERT_OK(mpscl_matrix_write(xm, x, W * 4));
    ASSERT_OK(mpscl_vector_create(test_device, &vd, &mv));
    ASSERT_OK(mpscl_vector_create(test_device, &vd, &vv));
    ASSERT_OK(mpscl_matrix_batch_normalization_create(test_device, &k));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_compute_statistics(k, 1));
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    ASSERT_OK(mpscl_matrix_batch_normalization_encode(k, cb, xm, mv, vv, NULL, NULL, xm));
    ASSERT_OK(mpscl_command_buffer_commit(cb));
    ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb));
    ASSERT_OK(mpscl_matrix_read(xm, got, W * 4));
    ASSERT_OK(mpscl_vector_read(mv, mean));
    ASSERT_OK(mpscl_vector_read(vv, var));
    ck_assert_double_le(ref_rel_l2_vec(W, mean, m), 1e-6);
    ck_assert_double_le(ref_rel_l2_vec(W, var, v), 1e-6);
    for (size_t j = 0; j < W; j++) {
        mean[j] = (float)m[j];
        var[j] = (float)v[j];
    }
    ref_bn_forward(N, W, (ref_view){x, W}, mean, var, NULL, NULL, FLT_MIN, NULL, want_y);
    ck_assert_double_le(ref_rel_l2(N, W, (ref_view){got, W}, want_y), 1e-6);
    mpscl_command_buffer_release(cb);
    mpscl_matrix_batch_normalization_release(k);
    mpscl_matrix_release(xm);
    mpscl_vector_release(mv);
    mpscl_vector_release(vv);
}
END_TEST

/* With compute_statistics, mean and variance are outputs: they may not overlap the input or each
 * other, and a refused call writes neither. */
START_TEST(test_statistics_alias_refused)
{
    float x[8 * 4], init[4] = {-1, -2, -3, -4}, got[4];
    mpscl_matrix_descriptor d = mpscl_matrix_descriptor_make(8, 4, 16, MPSCL_DATA_TYPE_FLOAT32);
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make(4, MPSCL_DATA_TYPE_FLOAT32);
    mpscl_matrix *xm, *ym;
    mpscl_vector *mv;
    mpscl_matrix_batch_normalization *k;
    mpscl_command_buffer *cb;

    for (size_t i = 0; i < 32; i++)
        x[i] = (float)i;
    ASSERT_OK(mpscl_matrix_create(test_device, &d, &xm));
    ASSERT_OK(mpscl_matrix_create(test_device, &d, &ym));
    ASSERT_OK(mpscl_matrix_write(xm, x, 16));
    ASSERT_OK(mpscl_vector_create(test_device, &vd, &mv));
    ASSERT_OK(mpscl_vector_write(mv, init));
    ASSERT_OK(mpscl_matrix_batch_normalization_create(test_device, &k));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_compute_statistics(k, 1));
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    ASSERT_STATUS(mpscl_matrix_batch_normalization_encode(k, cb, xm, mv, mv, NULL, NULL, ym),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mpscl_last_error_message(), "mean"));
    ASSERT_STATUS(mpscl_matrix_batch_normalization_encode(k, cb, xm, mv, NULL, NULL, NULL, ym),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mpscl_last_error_message(), "variance"));
    /* Without compute_statistics mean and variance are inputs: the same vector twice is fine. */
    ASSERT_OK(mpscl_matrix_batch_normalization_set_compute_statistics(k, 0));
    ASSERT_OK(mpscl_command_buffer_commit(cb));
    ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb));
    ASSERT_OK(mpscl_vector_read(mv, got));
    ck_assert(memcmp(got, init, sizeof got) == 0);
    mpscl_command_buffer_release(cb);
    mpscl_matrix_batch_normalization_release(k);
    mpscl_matrix_release(xm);
    mpscl_matrix_release(ym);
    mpscl_vector_release(mv);
}
END_TEST

START_TEST(test_properties)
{
    mpscl_matrix_batch_normalization *k, *copy;
    mpscl_origin o;

    ASSERT_OK(mpscl_matrix_batch_normalization_create(test_device, &k));
    ck_assert_float_eq(mpscl_matrix_batch_normalization_epsilon(k), FLT_MIN);
    ck_assert_int_eq(mpscl_matrix_batch_normalization_compute_statistics(k), 0);
    ck_assert_uint_eq(mpscl_matrix_batch_normalization_source_number_of_feature_vectors(k), SIZE_MAX);
    ASSERT_OK(mpscl_matrix_batch_normalization_set_compute_statistics(k, 5));
    ck_assert_int_eq(mpscl_matrix_batch_normalization_compute_statistics(k), 1);
    ASSERT_OK(mpscl_matrix_batch_normalization_set_source_matrix_origin(k, (mpscl_origin){4, 2, 0}));
    ASSERT_STATUS(mpscl_matrix_batch_normalization_set_source_matrix_origin(k, (mpscl_origin){0, 0, 3}),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_OK(mpscl_matrix_batch_normalization_set_label(k, "fwd"));
    ASSERT_OK(mpscl_matrix_batch_normalization_copy(k, NULL, &copy));
    mpscl_matrix_batch_normalization_release(k);
    o = mpscl_matrix_batch_normalization_source_matrix_origin(copy);
    ck_assert(o.x == 4 && o.y == 2 && o.z == 0);
    ck_assert_int_eq(mpscl_matrix_batch_normalization_compute_statistics(copy), 1);
    ck_assert_str_eq(mpscl_matrix_batch_normalization_label(copy), "fwd");
    ASSERT_OK(mpscl_matrix_batch_normalization_set_label(copy, NULL));
    ck_assert_ptr_null(mpscl_matrix_batch_normalization_label(copy));
    mpscl_matrix_batch_normalization_release(copy);
}
END_TEST

static Suite *
forward_suite(void)
{
    Suite *s = suite_create("bn_forward");
    TCase *given = tcase_create("shapes, given statistics");
    TCase *computed = tcase_create("shapes, computed statistics");
    TCase *other = tcase_create("semantics");

    tcase_add_checked_fixture(given, test_device_setup, test_device_teardown);
    tcase_set_timeout(given, 300);
    tcase_add_loop_test(given, test_shapes_given_statistics, 0, (int)bn_case_count);
    suite_add_tcase(s, given);
    tcase_add_checked_fixture(computed, test_device_setup, test_device_teardown);
    tcase_set_timeout(computed, 300);
    tcase_add_loop_test(computed, test_shapes_computed_statistics, 0, (int)bn_case_count);
    tcase_add_loop_test(computed, test_bitwise_reruns, 0, 3);
    suite_add_tcase(s, computed);
    tcase_add_checked_fixture(other, test_device_setup, test_device_teardown);
    tcase_set_timeout(other, 120);
    tcase_add_test(other, test_in_place);
    tcase_add_test(other, test_statistics_alias_refused);
    tcase_add_test(other, test_properties);
    suite_add_tcase(s, other);
    return s;
}

int
main(void)
{
    return test_run_suite(forward_suite());
}
