/* make check-large: a region whose byte extent passes 2^32, so any 32-bit product of a row index
 * and a stride would address the wrong element. Needs ~4.7 GB of device memory; not in 'check'.
 * dy, x and dx are column blocks of one buffer with a 4 MiB row stride: the elements are few,
 * the addresses are not. */
#include <float.h>
#include <stdint.h>
#include <stdlib.h>

#include "tools/ref.h"
#include "util.h"

enum { ROWS = 1100, W = 4 };
#define ROW_BYTES ((size_t)4 << 20)

START_TEST(test_extent_past_4gib)
{
    size_t bytes = (ROWS - 1) * ROW_BYTES + 3 * W * sizeof(float);
    float *dy = malloc(ROWS * W * sizeof(float)), *x = malloc(ROWS * W * sizeof(float));
    float *got = malloc(ROWS * W * sizeof(float)), mean[W], var[W], dg[W], db[W];
    double *want = malloc(ROWS * W * sizeof(double)), m[W], v[W], wg[W], wb[W];
    mpscl_matrix_descriptor d = mpscl_matrix_descriptor_make(ROWS, W, ROW_BYTES, MPSCL_DATA_TYPE_FLOAT32);
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make(W, MPSCL_DATA_TYPE_FLOAT32);
    mpscl_matrix *mdy, *mx, *mdx;
    mpscl_vector *mv, *vv, *gv, *bv;
    mpscl_matrix_batch_normalization_gradient *k;
    mpscl_command_buffer *cb;
    uint64_t rng = 11;
    cl_int err;
    cl_mem buf;

    ck_assert(dy && x && got && want);
    ck_assert_uint_gt(bytes, (size_t)1 << 32);
    buf = clCreateBuffer(mpscl_device_cl_context(test_device), CL_MEM_READ_WRITE, bytes, NULL, &err);
    ck_assert_msg(err == CL_SUCCESS, "the device cannot allocate %zu bytes (%d)", bytes, (int)err);
    for (size_t i = 0; i < ROWS * W; i++) {
        dy[i] = test_rng_uniform(&rng, -1, 1) + 0.1f;
        x[i] = test_rng_uniform(&rng, -2, 4);
    }
    ref_bn_statistics(ROWS, W, (ref_view){x, W}, m, v);
    for (size_t j = 0; j < W; j++) {
        mean[j] = (float)m[j];
        var[j] = (float)v[j];
    }
    ref_bn_gradient(ROWS, W, (ref_view){dy, W}, (ref_view){x, W}, mean, var, NULL, NULL, FLT_MIN,
                    NULL, want, wg, wb);
    ASSERT_OK(mpscl_matrix_create_with_buffer(test_device, buf, 0, &d, &mdy));
    ASSERT_OK(mpscl_matrix_create_with_buffer(test_device, buf, W * sizeof(float), &d, &mx));
    ASSERT_OK(mpscl_matrix_create_with_buffer(test_device, buf, 2 * W * sizeof(float), &d, &mdx));
    ASSERT_OK(mpscl_matrix_write(mdy, dy, W * sizeof(float)));
    ASSERT_OK(mpscl_matrix_write(mx, x, W * sizeof(float)));
    ASSERT_OK(mpscl_vector_create(test_device, &vd, &mv));
    ASSERT_OK(mpscl_vector_create(test_device, &vd, &vv));
    ASSERT_OK(mpscl_vector_create(test_device, &vd, &gv));
    ASSERT_OK(mpscl_vector_create(test_device, &vd, &bv));
    ASSERT_OK(mpscl_vector_write(mv, mean));
    ASSERT_OK(mpscl_vector_write(vv, var));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_create(test_device, &k));
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_encode(k, cb, mdy, mx, mv, vv, NULL, NULL,
                                                               mdx, gv, bv));
    ASSERT_OK(mpscl_command_buffer_commit(cb));
    ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb));
    ASSERT_OK(mpscl_matrix_read(mdx, got, W * sizeof(float)));
    ASSERT_OK(mpscl_vector_read(gv, dg));
    ASSERT_OK(mpscl_vector_read(bv, db));
    ck_assert_double_le(ref_rel_l2(ROWS, W, (ref_view){got, W}, want), 1e-6);
    ck_assert_double_le(ref_rel_l2_vec(W, dg, wg), 1e-6);
    ck_assert_double_le(ref_rel_l2_vec(W, db, wb), 1e-6);
    mpscl_command_buffer_release(cb);
    mpscl_matrix_batch_normalization_gradient_release(k);
    mpscl_matrix_release(mdy);
    mpscl_matrix_release(mx);
    mpscl_matrix_release(mdx);
    mpscl_vector_release(mv);
    mpscl_vector_release(vv);
    mpscl_vector_release(gv);
    mpscl_vector_release(bv);
    clReleaseMemObject(buf);
    free(dy);
    free(x);
    free(got);
    free(want);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("bn_large");
    TCase *tc = tcase_create("large");

    tcase_add_checked_fixture(tc, test_device_setup, test_device_teardown);
    tcase_set_timeout(tc, 3600);
    tcase_add_test(tc, test_extent_past_4gib);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
