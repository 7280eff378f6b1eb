/* tests/check_host_memory.c: matrices and vectors over the caller's memory. A forward and a
 * gradient with origins and padded strides, every operand in host memory, leave in host memory
 * bitwise what the same work on the library's buffers gives; host writes between buffers are
 * seen by the next; objects released before the wait; the blocking and encoded copies on such
 * objects; memory that is refused. Each runs on the device as it is (on PoCL, in place) and as a
 * device with memory of its own, played by the OpenCL interposer (tests/cl_fault.h). */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cl_fault.h"
#include "util.h"

#define F32 MPSCL_DATA_TYPE_FLOAT32
#define CANARY_WORD 0x7FC0DEADu

/* Matrices of rows x cols with rows rb bytes apart, mats of them mb apart (mb = rows * rb, so
 * that a blocking copy with host stride rb moves the whole image); vectors vb bytes apart. The
 * region, at source origin (2, 1) and result origin (1, 2), is n x c. */
typedef struct layout {
    size_t n, c, mats, rb, vb;
} layout;

static const layout layouts[] = {
    {40, 17, 1, 128, 17 * 4},
    {13, 6, 3, 48, 32},
};

enum { MX, MDY, MY, MDX, NMAT };
enum { VMEAN, VVAR, VGAMMA, VBETA, VDGAMMA, VDBETA, NVEC };

static size_t rows_of(const layout *l) { return l->n + 3; }
static size_t cols_of(const layout *l) { return l->c + 3; }
static size_t matrix_bytes(const layout *l) { return l->mats * rows_of(l) * l->rb; }
static size_t vector_bytes(const layout *l) { return l->mats * l->vb; }

/* Host images of every operand, each at `skew` bytes past a 128-byte boundary. */
typedef struct images {
    layout l;
    size_t skew;
    unsigned char *mem[NMAT + NVEC];
    float *m[NMAT], *v[NVEC];
} images;

static void
images_init(images *im, const layout *l, size_t skew, uint64_t seed)
{
    memset(im, 0, sizeof *im);
    im->l = *l;
    im->skew = skew;
    for (size_t i = 0; i < NMAT + NVEC; i++) {
        size_t bytes = i < NMAT ? matrix_bytes(l) : vector_bytes(l);
        uint32_t w = CANARY_WORD;
        im->mem[i] = aligned_alloc(128, (bytes + skew + 127) / 128 * 128);
        ck_assert_ptr_nonnull(im->mem[i]);
        for (size_t b = 0; b < bytes; b += 4)
            memcpy(im->mem[i] + skew + b, &w, 4);
        if (i < NMAT)
            im->m[i] = (float *)(im->mem[i] + skew);
        else
            im->v[i - NMAT] = (float *)(im->mem[i] + skew);
    }
    for (size_t i = 0; i < matrix_bytes(l) / 4; i++) {
        im->m[MX][i] = test_rng_uniform(&seed, -2, 3) * (float)(1 + i % 7);
        im->m[MDY][i] = 0.5f * im->m[MX][i] + test_rng_uniform(&seed, -1, 1);
    }
    for (size_t i = 0; i < vector_bytes(l) / 4; i++) {
        im->v[VGAMMA][i] = test_rng_uniform(&seed, 0.5f, 2);
        im->v[VBETA][i] = test_rng_uniform(&seed, -1, 1);
    }
}

static void
images_free(images *im)
{
    for (size_t i = 0; i < NMAT + NVEC; i++)
        free(im->mem[i]);
}

static void
assert_images_equal(const images *a, const images *b, const char *what)
{
    for (size_t i = 0; i < NMAT; i++)
        ck_assert_msg(memcmp(a->m[i], b->m[i], matrix_bytes(&a->l)) == 0,
                      "%s: matrix %zu differs", what, i);
    for (size_t i = 0; i < NVEC; i++)
        ck_assert_msg(memcmp(a->v[i], b->v[i], vector_bytes(&a->l)) == 0,
                      "%s: vector %zu differs", what, i);
}

typedef struct objects {
    mpscl_matrix *m[NMAT];
    mpscl_vector *v[NVEC];
} objects;

static mpscl_matrix_descriptor
matrix_descriptor(const layout *l)
{
    return mpscl_matrix_descriptor_make_batch(rows_of(l), cols_of(l), l->mats, l->rb,
                                              rows_of(l) * l->rb, F32);
}

static mpscl_vector_descriptor
vector_descriptor(const layout *l)
{
    return mpscl_vector_descriptor_make_batch(l->c, l->mats, l->vb, F32);
}

/* Objects over the images themselves. */
static void
objects_over(objects *o, images *im)
{
    mpscl_matrix_descriptor md = matrix_descriptor(&im->l);
    mpscl_vector_descriptor vd = vector_descriptor(&im->l);

    for (size_t i = 0; i < NMAT; i++)
        ASSERT_OK(mpscl_matrix_create_with_host_memory(test_device, im->m[i], &md, &o->m[i]));
    for (size_t i = 0; i < NVEC; i++)
        ASSERT_OK(mpscl_vector_create_with_host_memory(test_device, im->v[i], &vd, &o->v[i]));
}

static void
objects_release(objects *o)
{
    for (size_t i = 0; i < NMAT; i++)
        mpscl_matrix_release(o->m[i]);
    for (size_t i = 0; i < NVEC; i++)
        mpscl_vector_release(o->v[i]);
}

typedef struct kernels {
    mpscl_matrix_batch_normalization *fwd;
    mpscl_matrix_batch_normalization_gradient *grad;
} kernels;

static void
kernels_create(kernels *k, const layout *l)
{
    ASSERT_OK(mpscl_matrix_batch_normalization_create(test_device, &k->fwd));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_compute_statistics(k->fwd, 1));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_epsilon(k->fwd, 1e-3f));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_source_matrix_origin(k->fwd,
                                                                        (mpscl_origin){2, 1, 0}));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_result_matrix_origin(k->fwd,
                                                                        (mpscl_origin){1, 2, 0}));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_source_number_of_feature_vectors(k->fwd, l->n));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_source_input_feature_channels(k->fwd, l->c));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_create(test_device, &k->grad));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_epsilon(k->grad, 1e-3f));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_primary_source_matrix_origin(
        k->grad, (mpscl_origin){2, 1, 0}));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_secondary_source_matrix_origin(
        k->grad, (mpscl_origin){2, 1, 0}));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_result_matrix_origin(
        k->grad, (mpscl_origin){1, 2, 0}));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_source_number_of_feature_vectors(
        k->grad, l->n));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_source_input_feature_channels(
        k->grad, l->c));
}

static void
kernels_release(kernels *k)
{
    mpscl_matrix_batch_normalization_release(k->fwd);
    mpscl_matrix_batch_normalization_gradient_release(k->grad);
}

static void
encode_step(const kernels *k, const objects *o, mpscl_command_buffer *cb)
{
    ASSERT_OK(mpscl_matrix_batch_normalization_encode(k->fwd, cb, o->m[MX], o->v[VMEAN],
                                                      o->v[VVAR], o->v[VGAMMA], o->v[VBETA],
                                                      o->m[MY]));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_encode(
        k->grad, cb, o->m[MDY], o->m[MX], o->v[VMEAN], o->v[VVAR], o->v[VGAMMA], o->v[VBETA],
        o->m[MDX], o->v[VDGAMMA], o->v[VDBETA]));
}

static void
commit_wait(mpscl_command_buffer *cb)
{
    ASSERT_OK(mpscl_command_buffer_commit(cb));
    ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb));
}

/* The same step on the library's own buffers: every image written, one buffer, every image read
 * back (host padding is never touched by a read, so it keeps its canary as host memory does). */
static void
step_on_device(const kernels *k, images *im)
{
    mpscl_matrix_descriptor md = matrix_descriptor(&im->l);
    mpscl_vector_descriptor vd = vector_descriptor(&im->l);
    mpscl_command_buffer *cb;
    objects o;

    for (size_t i = 0; i < NMAT; i++) {
        ASSERT_OK(mpscl_matrix_create(test_device, &md, &o.m[i]));
        ASSERT_OK(mpscl_matrix_write(o.m[i], im->m[i], im->l.rb));
    }
    for (size_t i = 0; i < NVEC; i++) {
        /* A vector's host side is packed: go through a packed copy of the image. */
        float packed[64];
        ck_assert_uint_le(im->l.mats * im->l.c, 64);
        ASSERT_OK(mpscl_vector_create(test_device, &vd, &o.v[i]));
        for (size_t b = 0; b < im->l.mats; b++)
            memcpy(packed + b * im->l.c, (char *)im->v[i] + b * im->l.vb, im->l.c * 4);
        ASSERT_OK(mpscl_vector_write(o.v[i], packed));
    }
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    encode_step(k, &o, cb);
    commit_wait(cb);
    mpscl_command_buffer_release(cb);
    for (size_t i = 0; i < NMAT; i++)
        ASSERT_OK(mpscl_matrix_read(o.m[i], im->m[i], im->l.rb));
    for (size_t i = 0; i < NVEC; i++) {
        float packed[64];
        ASSERT_OK(mpscl_vector_read(o.v[i], packed));
        for (size_t b = 0; b < im->l.mats; b++)
            memcpy((char *)im->v[i] + b * im->l.vb, packed + b * im->l.c, im->l.c * 4);
    }
    objects_release(&o);
}

static void
step_in_host_memory(const kernels *k, images *im)
{
    mpscl_command_buffer *cb;
    objects o;

    objects_over(&o, im);
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    encode_step(k, &o, cb);
    commit_wait(cb);
    mpscl_command_buffer_release(cb);
    objects_release(&o);
}

/* Every operand in host memory, 128-byte aligned (zero copy on PoCL) and 4 bytes past it (the
 * driver may copy): host memory ends up as the library's buffers do. */
START_TEST(step_matches_device_buffers)
{
    const layout *l = &layouts[_i / 2];
    size_t skew = _i % 2 == 0 ? 0 : 4;
    images want, got;
    kernels k;

    kernels_create(&k, l);
    images_init(&want, l, skew, 7 + (uint64_t)_i);
    images_init(&got, l, skew, 7 + (uint64_t)_i);
    step_on_device(&k, &want);
    step_in_host_memory(&k, &got);
    assert_images_equal(&want, &got, "host memory vs device buffers");
    /* The outputs were written: y's first region element, at (1, 2), is a number now. */
    ck_assert(!isnan(got.m[MY][l->rb / 4 + 2]));
    images_free(&want);
    images_free(&got);
    kernels_release(&k);
}
END_TEST

/* One set of objects, three buffers: the host changes x and dy in place between them, and each
 * buffer computes from what the host wrote last. */
START_TEST(host_writes_between_buffers)
{
    const layout *l = &layouts[0];
    images want, got;
    kernels k;
    objects o;
    uint64_t rng = 77;

    kernels_create(&k, l);
    images_init(&got, l, 0, 1);
    objects_over(&o, &got);
    for (int round = 0; round < 3; round++) {
        mpscl_command_buffer *cb;
        if (round > 0)
            for (size_t i = 0; i < matrix_bytes(l) / 4; i++) {
                got.m[MX][i] = test_rng_uniform(&rng, -5, 5);
                got.m[MDY][i] = test_rng_uniform(&rng, -1, 1);
            }
        images_init(&want, l, 0, 1);
        for (size_t i = 0; i < NMAT; i++)
            memcpy(want.m[i], got.m[i], matrix_bytes(l));
        for (size_t i = 0; i < NVEC; i++)
            memcpy(want.v[i], got.v[i], vector_bytes(l));
        step_on_device(&k, &want);
        ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
        encode_step(&k, &o, cb);
        commit_wait(cb);
        mpscl_command_buffer_release(cb);
        assert_images_equal(&want, &got, "after a host write");
        images_free(&want);
    }
    objects_release(&o);
    images_free(&got);
    kernels_release(&k);
}
END_TEST

/* The buffer holds the objects: released before the commit, their results still reach host
 * memory; and a buffer released without a commit leaves them there too. */
START_TEST(released_before_wait)
{
    const layout *l = &layouts[1];
    images want, got;
    kernels k;
    objects o;
    mpscl_command_buffer *cb;

    kernels_create(&k, l);
    images_init(&want, l, 0, 3);
    images_init(&got, l, 0, 3);
    step_on_device(&k, &want);
    objects_over(&o, &got);
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    encode_step(&k, &o, cb);
    objects_release(&o);
    commit_wait(cb);
    mpscl_command_buffer_release(cb);
    assert_images_equal(&want, &got, "objects released before the wait");
    images_free(&got);

    images_init(&got, l, 0, 3);
    objects_over(&o, &got);
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    encode_step(&k, &o, cb);
    objects_release(&o);
    mpscl_command_buffer_release(cb);
    assert_images_equal(&want, &got, "buffer released without a commit");
    images_free(&got);
    images_free(&want);
    kernels_release(&k);
}
END_TEST

/* Blocking and encoded copies on a matrix over host memory: a write lands in host memory at the
 * strided places (padding untouched), a read returns what the host wrote there directly, and
 * encoded copies order with a kernel that reads the matrix. */
START_TEST(copies_on_host_memory)
{
    enum { N = 5, C = 3, RB = 20 };
    mpscl_matrix_descriptor d = mpscl_matrix_descriptor_make(N, C, RB, F32);
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make(C, F32);
    float *mem = aligned_alloc(128, 128), data[N * C], got[N * C], mean[C], var[C], vmem[32];
    uint32_t w = CANARY_WORD, pad;
    mpscl_matrix *m, *y;
    mpscl_vector *mv, *vv;
    mpscl_matrix_batch_normalization *k;
    mpscl_command_buffer *cb;

    ck_assert_ptr_nonnull(mem);
    for (size_t i = 0; i < 32; i++)
        memcpy(&mem[i], &w, 4);
    for (size_t i = 0; i < N * C; i++)
        data[i] = (float)(i * i % 11) - 4.0f;
    ASSERT_OK(mpscl_matrix_create_with_host_memory(test_device, mem, &d, &m));
    ASSERT_OK(mpscl_matrix_write(m, data, C * 4));
    for (size_t r = 0; r < N; r++) {
        ck_assert(memcmp(&mem[r * RB / 4], &data[r * C], C * 4) == 0);
        if (r + 1 < N) {
            memcpy(&pad, &mem[r * RB / 4 + C], 4);
            ck_assert_uint_eq(pad, CANARY_WORD);
        }
    }
    mem[2 * RB / 4 + 1] = 42.0f;
    ASSERT_OK(mpscl_matrix_read(m, got, C * 4));
    data[2 * C + 1] = 42.0f;
    ck_assert(memcmp(got, data, sizeof got) == 0);

    /* Encoded: the write replaces x before the forward reads it; y over host memory too. */
    for (size_t i = 0; i < N * C; i++)
        data[i] = (float)(i % 4) * 1.5f - (float)i;
    ASSERT_OK(mpscl_matrix_create_with_host_memory(test_device, vmem, &d, &y));
    ASSERT_OK(mpscl_vector_create(test_device, &vd, &mv));
    ASSERT_OK(mpscl_vector_create(test_device, &vd, &vv));
    ASSERT_OK(mpscl_matrix_batch_normalization_create(test_device, &k));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_compute_statistics(k, 1));
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    ASSERT_OK(mpscl_matrix_encode_write(m, cb, data, C * 4));
    ASSERT_OK(mpscl_matrix_batch_normalization_encode(k, cb, m, mv, vv, NULL, NULL, y));
    ASSERT_OK(mpscl_vector_encode_read(mv, cb, mean));
    ASSERT_OK(mpscl_vector_encode_read(vv, cb, var));
    ASSERT_OK(mpscl_matrix_encode_read(m, cb, got, C * 4));
    commit_wait(cb);
    ck_assert(memcmp(got, data, sizeof got) == 0);
    for (size_t r = 0; r < N; r++)
        ck_assert(memcmp(&mem[r * RB / 4], &data[r * C], C * 4) == 0);
    for (size_t j = 0; j < C; j++) {
        double s = 0;
        for (size_t r = 0; r < N; r++)
            s += data[r * C + j];
        ck_assert_double_eq_tol(mean[j], s / N, 1e-5);
        /* y is normalized: the first element matches its formula from the statistics. */
        ck_assert_double_eq_tol(vmem[j], (data[j] - mean[j]) / sqrt(var[j] + FLT_MIN),
                                1e-4);
    }
    mpscl_command_buffer_release(cb);
    mpscl_matrix_batch_normalization_release(k);
    mpscl_vector_release(mv);
    mpscl_vector_release(vv);
    mpscl_matrix_release(y);
    mpscl_matrix_release(m);
    free(mem);
}
END_TEST

START_TEST(refused)
{
    mpscl_matrix_descriptor d = mpscl_matrix_descriptor_make(4, 3, 12, F32);
    mpscl_matrix_descriptor bad = mpscl_matrix_descriptor_make(4, 0, 12, F32);
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make(3, MPSCL_DATA_TYPE_FLOAT64);
    double mem[8];
    mpscl_matrix *m = (mpscl_matrix *)&m;
    mpscl_vector *v = (mpscl_vector *)&v;

    ASSERT_STATUS(mpscl_matrix_create_with_host_memory(test_device, NULL, &d, &m),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mpscl_last_error_message(), "NULL"));
    ck_assert_ptr_null(m);
    m = (mpscl_matrix *)&m;
    ASSERT_STATUS(mpscl_matrix_create_with_host_memory(test_device, (char *)mem + 2, &d, &m),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mpscl_last_error_message(), "aligned"));
    ck_assert_ptr_null(m);
    ASSERT_STATUS(mpscl_vector_create_with_host_memory(test_device, (char *)mem + 4, &vd, &v),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mpscl_last_error_message(), "element size 8"));
    ck_assert_ptr_null(v);
    ASSERT_STATUS(mpscl_matrix_create_with_host_memory(test_device, mem, &bad, &m),
                  MPSCL_ERROR_INVALID_SHAPE);
    ASSERT_STATUS(mpscl_matrix_create_with_host_memory(NULL, mem, &d, &m),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_create_with_host_memory(test_device, mem, NULL, &m),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_create_with_host_memory(test_device, mem, &d, NULL),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    /* Element-aligned is enough. */
    ASSERT_OK(mpscl_matrix_create_with_host_memory(test_device, (char *)mem + 4, &d, &m));
    ck_assert_ptr_nonnull(mpscl_matrix_buffer(m));
    ck_assert_uint_eq(mpscl_matrix_offset(m), 0);
    mpscl_matrix_release(m);
}
END_TEST

static void
separate_setup(void)
{
    cl_fault_separate_memory(1);
    test_device_setup();
}

static void
separate_teardown(void)
{
    test_device_teardown();
    cl_fault_separate_memory(0);
}

static Suite *
host_memory_suite(void)
{
    Suite *s = suite_create("host_memory");

    for (int separate = 0; separate < 2; separate++) {
        TCase *tc = tcase_create(separate ? "memory of its own" : "device as it is");
        if (separate)
            tcase_add_checked_fixture(tc, separate_setup, separate_teardown);
        else
            tcase_add_checked_fixture(tc, test_device_setup, test_device_teardown);
        tcase_set_timeout(tc, 300);
        tcase_add_loop_test(tc, step_matches_device_buffers, 0,
                            2 * (int)(sizeof layouts / sizeof layouts[0]));
        tcase_add_test(tc, host_writes_between_buffers);
        tcase_add_test(tc, released_before_wait);
        tcase_add_test(tc, copies_on_host_memory);
        tcase_add_test(tc, refused);
        suite_add_tcase(s, tc);
    }
    return s;
}

int
main(void)
{
    return test_run_suite(host_memory_suite());
}
