/* tests/check_transfer.c: copies encoded into command buffers. A training step (writes, forward
 * with statistics, gradient, reads) on one buffer gives bitwise what blocking copies around two
 * waited buffers give, through packed, padded and batched layouts; copies run in encode order;
 * a copy as the last command is covered by the wait and the GPU times; several buffers in flight
 * at once; refused calls enqueue nothing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define F32 MPSCL_DATA_TYPE_FLOAT32
/* What no output may leave in host memory it does not own: a quiet NaN with a payload. */
#define CANARY_WORD 0x7FC0DEADu

/* Device layout of the matrices and host stride of their copies; vectors are vbytes apart. */
typedef struct layout {
    size_t n, c, mats, rb, mb, hrb, vbytes;
} layout;

static const layout layouts[] = {
    {37, 19, 1, 19 * 4, 37 * 19 * 4, 19 * 4, 19 * 4},   /* packed: one command per copy */
    {37, 19, 1, 128, 37 * 128, 96, 19 * 4},             /* padded rows on both sides */
    {20, 7, 3, 32, 20 * 32 + 64, 36, 48},               /* a batch, padded between matrices */
};

enum { MX, MDY, MY, MDX, NMAT };
enum { VMEAN, VVAR, VGAMMA, VBETA, VDGAMMA, VDBETA, NVEC };

/* One step's objects and host memory: x, dy, gamma and beta in; the rest out. */
typedef struct step {
    layout l;
    mpscl_matrix *m[NMAT];
    mpscl_vector *v[NVEC];
    float *hm[NMAT], *hv[NVEC];
    size_t mfloats, vfloats;
} step;

static float *
canary_floats(size_t count)
{
    float *p = malloc(count * sizeof *p);
    uint32_t w = CANARY_WORD;

    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < count; i++)
        memcpy(&p[i], &w, sizeof w);
    return p;
}

static void
step_init(step *s, const layout *l, uint64_t seed)
{
    mpscl_matrix_descriptor md = mpscl_matrix_descriptor_make_batch(l->n, l->c, l->mats, l->rb,
                                                                    l->mb, F32);
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make_batch(l->c, l->mats, l->vbytes, F32);

    memset(s, 0, sizeof *s);
    s->l = *l;
    s->mfloats = l->mats * l->n * l->hrb / 4;
    s->vfloats = l->mats * l->c;
    for (size_t i = 0; i < NMAT; i++) {
        ASSERT_OK(mpscl_matrix_create(test_device, &md, &s->m[i]));
        s->hm[i] = canary_floats(s->mfloats);
    }
    for (size_t i = 0; i < NVEC; i++) {
        ASSERT_OK(mpscl_vector_create(test_device, &vd, &s->v[i]));
        s->hv[i] = canary_floats(s->vfloats);
    }
    for (size_t i = 0; i < s->mfloats; i++) {
        s->hm[MX][i] = test_rng_uniform(&seed, -2, 3) * (float)(1 + i % 5);
        s->hm[MDY][i] = 0.5f * s->hm[MX][i] + test_rng_uniform(&seed, -1, 1);
    }
    for (size_t i = 0; i < s->vfloats; i++) {
        s->hv[VGAMMA][i] = test_rng_uniform(&seed, 0.5f, 2);
        s->hv[VBETA][i] = test_rng_uniform(&seed, -1, 1);
    }
}

static void
step_free(step *s)
{
    for (size_t i = 0; i < NMAT; i++) {
        mpscl_matrix_release(s->m[i]);
        free(s->hm[i]);
    }
    for (size_t i = 0; i < NVEC; i++) {
        mpscl_vector_release(s->v[i]);
        free(s->hv[i]);
    }
}

typedef struct kernels {
    mpscl_matrix_batch_normalization *fwd;
    mpscl_matrix_batch_normalization_gradient *grad;
} kernels;

static void
kernels_create(kernels *k)
{
    ASSERT_OK(mpscl_matrix_batch_normalization_create(test_device, &k->fwd));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_compute_statistics(k->fwd, 1));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_epsilon(k->fwd, 1e-3f));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_create(test_device, &k->grad));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_epsilon(k->grad, 1e-3f));
}

static void
kernels_release(kernels *k)
{
    mpscl_matrix_batch_normalization_release(k->fwd);
    mpscl_matrix_batch_normalization_gradient_release(k->grad);
}

static void
encode_forward(const kernels *k, step *s, mpscl_command_buffer *cb)
{
    ASSERT_OK(mpscl_matrix_batch_normalization_encode(k->fwd, cb, s->m[MX], s->v[VMEAN],
                                                      s->v[VVAR], s->v[VGAMMA], s->v[VBETA],
                                                      s->m[MY]));
}

static void
encode_gradient(const kernels *k, step *s, mpscl_command_buffer *cb)
{
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_encode(
        k->grad, cb, s->m[MDY], s->m[MX], s->v[VMEAN], s->v[VVAR], s->v[VGAMMA], s->v[VBETA],
        s->m[MDX], s->v[VDGAMMA], s->v[VDBETA]));
}

static void
commit_wait(mpscl_command_buffer *cb)
{
    ASSERT_OK(mpscl_command_buffer_commit(cb));
    ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb));
}

/* The reference path: blocking copies, and one waited buffer per kernel. */
static void
step_blocking(const kernels *k, step *s)
{
    mpscl_command_buffer *cb;
    static const int outs_m[] = {MY, MDX};
    static const int outs_v[] = {VMEAN, VVAR, VDGAMMA, VDBETA};

    ASSERT_OK(mpscl_matrix_write(s->m[MX], s->hm[MX], s->l.hrb));
    ASSERT_OK(mpscl_matrix_write(s->m[MDY], s->hm[MDY], s->l.hrb));
    ASSERT_OK(mpscl_vector_write(s->v[VGAMMA], s->hv[VGAMMA]));
    ASSERT_OK(mpscl_vector_write(s->v[VBETA], s->hv[VBETA]));
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    encode_forward(k, s, cb);
    commit_wait(cb);
    mpscl_command_buffer_release(cb);
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    encode_gradient(k, s, cb);
    commit_wait(cb);
    mpscl_command_buffer_release(cb);
    for (size_t i = 0; i < 2; i++)
        ASSERT_OK(mpscl_matrix_read(s->m[outs_m[i]], s->hm[outs_m[i]], s->l.hrb));
    for (size_t i = 0; i < 4; i++)
        ASSERT_OK(mpscl_vector_read(s->v[outs_v[i]], s->hv[outs_v[i]]));
}

/* The whole step as commands of cb: writes, forward, gradient, reads. */
static void
step_encode(const kernels *k, step *s, mpscl_command_buffer *cb)
{
    static const int outs_m[] = {MY, MDX};
    static const int outs_v[] = {VMEAN, VVAR, VDGAMMA, VDBETA};

    ASSERT_OK(mpscl_matrix_encode_write(s->m[MX], cb, s->hm[MX], s->l.hrb));
    ASSERT_OK(mpscl_matrix_encode_write(s->m[MDY], cb, s->hm[MDY], s->l.hrb));
    ASSERT_OK(mpscl_vector_encode_write(s->v[VGAMMA], cb, s->hv[VGAMMA]));
    ASSERT_OK(mpscl_vector_encode_write(s->v[VBETA], cb, s->hv[VBETA]));
    encode_forward(k, s, cb);
    encode_gradient(k, s, cb);
    for (size_t i = 0; i < 2; i++)
        ASSERT_OK(mpscl_matrix_encode_read(s->m[outs_m[i]], cb, s->hm[outs_m[i]], s->l.hrb));
    for (size_t i = 0; i < 4; i++)
        ASSERT_OK(mpscl_vector_encode_read(s->v[outs_v[i]], cb, s->hv[outs_v[i]]));
}

/* Every host array, padding included (reads leave the canary there on both paths). */
static void
assert_steps_equal(const step *a, const step *b, const char *what)
{
    for (size_t i = 0; i < NMAT; i++)
        ck_assert_msg(memcmp(a->hm[i], b->hm[i], a->mfloats * 4) == 0, "%s: matrix %zu differs",
                      what, i);
    for (size_t i = 0; i < NVEC; i++)
        ck_assert_msg(memcmp(a->hv[i], b->hv[i], a->vfloats * 4) == 0, "%s: vector %zu differs",
                      what, i);
}

/* The outputs hold numbers, not the canary: the work did run. */
static void
assert_outputs_written(const step *s)
{
    for (size_t b = 0; b < s->l.mats; b++)
        for (size_t r = 0; r < s->l.n; r++)
            for (size_t j = 0; j < s->l.c; j++) {
                size_t at = (b * s->l.n + r) * (s->l.hrb / 4) + j;
                ck_assert_msg(s->hm[MY][at] == s->hm[MY][at] && s->hm[MDX][at] == s->hm[MDX][at],
                              "output element (%zu, %zu, %zu) is not a number", b, r, j);
            }
}

START_TEST(step_matches_blocking)
{
    kernels k;
    step blocking, encoded;
    mpscl_command_buffer *cb;

    kernels_create(&k);
    step_init(&blocking, &layouts[_i], 11 + (uint64_t)_i);
    step_init(&encoded, &layouts[_i], 11 + (uint64_t)_i);
    step_blocking(&k, &blocking);
    assert_outputs_written(&blocking);
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    step_encode(&k, &encoded, cb);
    commit_wait(cb);
    ck_assert_int_eq(mpscl_command_buffer_status(cb), MPSCL_COMMAND_BUFFER_COMPLETED);
    mpscl_command_buffer_release(cb);
    assert_steps_equal(&blocking, &encoded, "one buffer vs blocking copies");
    step_free(&blocking);
    step_free(&encoded);
    kernels_release(&k);
}
END_TEST

/* A read right after a write of the same matrix sees that write, and a second write replaces
 * the first for a read after it: commands run in encode order. */
START_TEST(copies_in_encode_order)
{
    enum { N = 64, C = 33 };
    mpscl_matrix_descriptor d = mpscl_matrix_descriptor_make(N, C, 160, F32);
    float *a = canary_floats(N * C), *b = canary_floats(N * C), *got1 = canary_floats(N * C),
          *got2 = canary_floats(N * C);
    uint64_t rng = 5;
    mpscl_matrix *m;
    mpscl_command_buffer *cb;

    for (size_t i = 0; i < N * C; i++) {
        a[i] = test_rng_uniform(&rng, -1, 1);
        b[i] = test_rng_uniform(&rng, -1, 1);
    }
    ASSERT_OK(mpscl_matrix_create(test_device, &d, &m));
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    ASSERT_OK(mpscl_matrix_encode_write(m, cb, a, C * 4));
    ASSERT_OK(mpscl_matrix_encode_read(m, cb, got1, C * 4));
    ASSERT_OK(mpscl_matrix_encode_write(m, cb, b, C * 4));
    ASSERT_OK(mpscl_matrix_encode_read(m, cb, got2, C * 4));
    commit_wait(cb);
    ck_assert(memcmp(got1, a, N * C * 4) == 0);
    ck_assert(memcmp(got2, b, N * C * 4) == 0);
    mpscl_command_buffer_release(cb);
    mpscl_matrix_release(m);
    free(a);
    free(b);
    free(got1);
    free(got2);
}
END_TEST

/* A large read encoded after a small kernel is the buffer's last command: the wait covers it
 * (a wait on the kernel alone would let it be unfinished), and so do the GPU times. */
START_TEST(copy_as_last_command)
{
    enum { N = 2048, C = 512 };
    mpscl_matrix_descriptor big = mpscl_matrix_descriptor_make(N, C, C * 4, F32);
    float *data = canary_floats((size_t)N * C), *got = canary_floats((size_t)N * C);
    uint64_t rng = 9;
    mpscl_matrix *m;
    mpscl_command_buffer *cb;
    kernels k;
    step s;
    double t0, t1;

    for (size_t i = 0; i < (size_t)N * C; i++)
        data[i] = test_rng_uniform(&rng, -1, 1);
    kernels_create(&k);
    step_init(&s, &layouts[0], 3);
    ASSERT_OK(mpscl_matrix_create(test_device, &big, &m));
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    ASSERT_OK(mpscl_matrix_encode_write(m, cb, data, C * 4));
    ASSERT_OK(mpscl_matrix_encode_write(s.m[MX], cb, s.hm[MX], s.l.hrb));
    ASSERT_OK(mpscl_vector_encode_write(s.v[VGAMMA], cb, s.hv[VGAMMA]));
    ASSERT_OK(mpscl_vector_encode_write(s.v[VBETA], cb, s.hv[VBETA]));
    encode_forward(&k, &s, cb);
    ASSERT_OK(mpscl_matrix_encode_read(m, cb, got, C * 4));
    commit_wait(cb);
    ck_assert(memcmp(got, data, (size_t)N * C * 4) == 0);
    t0 = mpscl_command_buffer_gpu_start_time(cb);
    t1 = mpscl_command_buffer_gpu_end_time(cb);
    ck_assert_double_gt(t0, 0.0);
    ck_assert_double_ge(t1, t0);
    mpscl_command_buffer_release(cb);

    /* Copies alone are work too: timed, where before there was nothing to time. */
    memset(got, 0, (size_t)N * C * 4);
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    ASSERT_OK(mpscl_matrix_encode_read(m, cb, got, C * 4));
    commit_wait(cb);
    ck_assert(memcmp(got, data, (size_t)N * C * 4) == 0);
    ck_assert_double_gt(mpscl_command_buffer_gpu_start_time(cb), 0.0);
    ck_assert_double_ge(mpscl_command_buffer_gpu_end_time(cb),
                        mpscl_command_buffer_gpu_start_time(cb));
    mpscl_command_buffer_release(cb);
    mpscl_matrix_release(m);
    step_free(&s);
    kernels_release(&k);
    free(data);
    free(got);
}
END_TEST

/* Four buffers committed before any is waited on, each with its own chain, sharing the kernel
 * objects: each gives what the blocking path gives for its data. */
START_TEST(buffers_in_flight)
{
    enum { B = 4 };
    kernels k;
    step want[B], got[B];
    mpscl_command_buffer *cb[B];

    kernels_create(&k);
    for (size_t i = 0; i < B; i++) {
        step_init(&want[i], &layouts[i % 3], 100 + i);
        step_init(&got[i], &layouts[i % 3], 100 + i);
        step_blocking(&k, &want[i]);
    }
    for (size_t i = 0; i < B; i++) {
        ASSERT_OK(mpscl_command_buffer_create(test_device, &cb[i]));
        step_encode(&k, &got[i], cb[i]);
        ASSERT_OK(mpscl_command_buffer_commit(cb[i]));
    }
    for (size_t i = B; i-- > 0;)
        ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb[i]));
    for (size_t i = 0; i < B; i++) {
        assert_steps_equal(&want[i], &got[i], "buffer in flight");
        mpscl_command_buffer_release(cb[i]);
        step_free(&want[i]);
        step_free(&got[i]);
    }
    kernels_release(&k);
}
END_TEST

/* Batches of vectors with padding between them: only elements move. */
START_TEST(vectors)
{
    enum { L = 9, V = 4, VB = 64 };
    mpscl_vector_descriptor d = mpscl_vector_descriptor_make_batch(L, V, VB, F32);
    float *raw = canary_floats(V * VB / 4), in[L * V], out[L * V], image[V * VB / 4];
    cl_mem buf = test_buffer_create(raw, V * VB);
    uint64_t rng = 21;
    mpscl_vector *v;
    mpscl_command_buffer *cb;

    for (size_t i = 0; i < L * V; i++)
        in[i] = test_rng_uniform(&rng, -4, 4);
    ASSERT_OK(mpscl_vector_create_with_buffer(test_device, buf, 0, &d, &v));
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    ASSERT_OK(mpscl_vector_encode_write(v, cb, in));
    ASSERT_OK(mpscl_vector_encode_read(v, cb, out));
    commit_wait(cb);
    ck_assert(memcmp(in, out, sizeof in) == 0);
    test_buffer_read(buf, image, sizeof image);
    for (size_t b = 0; b < V; b++)
        for (size_t i = 0; i < VB / 4; i++) {
            uint32_t w;
            memcpy(&w, &image[b * VB / 4 + i], 4);
            if (i < L)
                ck_assert(memcmp(&w, &in[b * L + i], 4) == 0);
            else
                ck_assert_msg(w == CANARY_WORD, "padding of vector %zu written", b);
        }
    mpscl_command_buffer_release(cb);
    mpscl_vector_release(v);
    ck_assert_int_eq(clReleaseMemObject(buf), CL_SUCCESS);
    free(raw);
}
END_TEST

/* Each refusal names its cause and enqueues nothing: the buffer stays without commands (no GPU
 * times), the matrix keeps its contents and host memory is untouched. */
START_TEST(refused_calls_enqueue_nothing)
{
    enum { N = 6, C = 5 };
    mpscl_matrix_descriptor d = mpscl_matrix_descriptor_make(N, C, 32, F32);
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make(C, F32);
    float data[N * C], host[N * C], got[N * C];
    uint64_t rng = 4;
    mpscl_device *other;
    mpscl_matrix *m, *foreign;
    mpscl_vector *v;
    mpscl_command_buffer *cb, *done;

    for (size_t i = 0; i < N * C; i++) {
        data[i] = test_rng_uniform(&rng, -1, 1);
        host[i] = -5.0f;
    }
    ASSERT_OK(mpscl_matrix_create(test_device, &d, &m));
    ASSERT_OK(mpscl_vector_create(test_device, &vd, &v));
    ASSERT_OK(mpscl_matrix_write(m, data, C * 4));
    ASSERT_OK(mpscl_device_create_default(&other));
    ASSERT_OK(mpscl_matrix_create(other, &d, &foreign));
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    ASSERT_OK(mpscl_command_buffer_create(test_device, &done));
    commit_wait(done);

    ASSERT_STATUS(mpscl_matrix_encode_write(NULL, cb, host, C * 4), MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_encode_read(NULL, cb, host, C * 4), MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_vector_encode_write(NULL, cb, host), MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_vector_encode_read(NULL, cb, host), MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_encode_write(m, NULL, host, C * 4), MPSCL_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mpscl_last_error_message(), "command buffer"));
    ASSERT_STATUS(mpscl_vector_encode_read(v, NULL, host), MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_encode_write(m, done, host, C * 4), MPSCL_ERROR_INVALID_STATE);
    ASSERT_STATUS(mpscl_matrix_encode_read(m, done, host, C * 4), MPSCL_ERROR_INVALID_STATE);
    ASSERT_STATUS(mpscl_vector_encode_write(v, done, host), MPSCL_ERROR_INVALID_STATE);
    ASSERT_STATUS(mpscl_matrix_encode_write(m, cb, NULL, C * 4), MPSCL_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mpscl_last_error_message(), "host"));
    ASSERT_STATUS(mpscl_vector_encode_read(v, cb, NULL), MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_encode_write(m, cb, host, C * 4 - 4), MPSCL_ERROR_INVALID_SHAPE);
    ASSERT_STATUS(mpscl_matrix_encode_read(m, cb, host, C * 4 - 4), MPSCL_ERROR_INVALID_SHAPE);
    ASSERT_STATUS(mpscl_matrix_encode_read(m, cb, host, SIZE_MAX), MPSCL_ERROR_OUT_OF_RANGE);
    ASSERT_STATUS(mpscl_matrix_encode_write(foreign, cb, host, C * 4), MPSCL_ERROR_DEVICE_MISMATCH);
    ASSERT_STATUS(mpscl_matrix_encode_read(foreign, cb, host, C * 4), MPSCL_ERROR_DEVICE_MISMATCH);

    commit_wait(cb);
    ck_assert_double_eq(mpscl_command_buffer_gpu_start_time(cb), 0.0);
    for (size_t i = 0; i < N * C; i++)
        ck_assert_float_eq(host[i], -5.0f);
    ASSERT_OK(mpscl_matrix_read(m, got, C * 4));
    ck_assert(memcmp(got, data, sizeof got) == 0);
    mpscl_command_buffer_release(cb);
    mpscl_command_buffer_release(done);
    mpscl_matrix_release(foreign);
    mpscl_device_release(other);
    mpscl_vector_release(v);
    mpscl_matrix_release(m);
}
END_TEST

/* The buffer holds what it copies: the matrix and vector outlive the caller's last reference. */
START_TEST(copied_objects_kept_alive)
{
    enum { N = 8, C = 3 };
    mpscl_matrix_descriptor d = mpscl_matrix_descriptor_make(N, C, C * 4, F32);
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make(C, F32);
    float data[N * C], got[N * C], vdata[C] = {1, 2, 3}, vgot[C] = {0};
    mpscl_matrix *m;
    mpscl_vector *v;
    mpscl_command_buffer *cb;

    for (size_t i = 0; i < N * C; i++)
        data[i] = (float)i - 3.5f;
    ASSERT_OK(mpscl_matrix_create(test_device, &d, &m));
    ASSERT_OK(mpscl_vector_create(test_device, &vd, &v));
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    ASSERT_OK(mpscl_matrix_encode_write(m, cb, data, C * 4));
    ASSERT_OK(mpscl_matrix_encode_read(m, cb, got, C * 4));
    ASSERT_OK(mpscl_vector_encode_write(v, cb, vdata));
    ASSERT_OK(mpscl_vector_encode_read(v, cb, vgot));
    mpscl_matrix_release(m);
    mpscl_vector_release(v);
    commit_wait(cb);
    ck_assert(memcmp(got, data, sizeof got) == 0);
    ck_assert(memcmp(vgot, vdata, sizeof vgot) == 0);
    mpscl_command_buffer_release(cb);
}
END_TEST

static Suite *
transfer_suite(void)
{
    Suite *s = suite_create("transfer");
    TCase *tc = tcase_create("encoded copies");

    tcase_add_checked_fixture(tc, test_device_setup, test_device_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, step_matches_blocking, 0, (int)(sizeof layouts / sizeof layouts[0]));
    tcase_add_test(tc, copies_in_encode_order);
    tcase_add_test(tc, copy_as_last_command);
    tcase_add_test(tc, buffers_in_flight);
    tcase_add_test(tc, vectors);
    tcase_add_test(tc, refused_calls_enqueue_nothing);
    tcase_add_test(tc, copied_objects_kept_alive);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return test_run_suite(transfer_suite());
}
