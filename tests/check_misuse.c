/* Misuse of every public function: each refused call returns its specific status, leaves a
 * message naming the argument, sets *out to NULL where there is one, and writes nothing (every
 * operand is read back and compared byte for byte). Leaks on these paths are found by the
 * sanitizer build in CI and by valgrind (README). Encodes and object creation are tables; the
 * rest are small tests, one per function family. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "misuse.h"
#include "util.h"

/* ---- objects with known contents ---- */

static mpscl_device *second_device;   /* another context, made on demand */

static void
fill_bytes(void *p, size_t n, mpscl_data_type t, uint64_t seed)
{
    for (size_t i = 0; i < n / mpscl_data_type_size(t); i++) {
        if (t == MPSCL_DATA_TYPE_FLOAT32) {
            ((float *)p)[i] = test_rng_uniform(&seed, 0.5f, 2.0f);
        } else {
            uint16_t h = (uint16_t)(0x3c00u + (test_rng_next(&seed) & 0xffu));  /* 1..2 */
            memcpy((char *)p + 2 * i, &h, 2);
        }
    }
}

static mpscl_matrix *
matrix_on(mpscl_device *d, size_t rows, size_t mats, mpscl_data_type t)
{
    size_t es = mpscl_data_type_size(t);
    mpscl_matrix_descriptor md =
        mpscl_matrix_descriptor_make_batch(rows, C, mats, C * es, rows * C * es, t);
    unsigned char host[R * C * 3 * 4];
    mpscl_matrix *m;

    ck_assert_uint_le(rows * mats * C * es, sizeof host);
    ASSERT_OK(mpscl_matrix_create(d, &md, &m));
    fill_bytes(host, rows * mats * C * es, t, (uint64_t)rows * 31 + mats);
    ASSERT_OK(mpscl_matrix_write(m, host, C * es));
    return m;
}

static mpscl_vector *
vector_on(mpscl_device *d, size_t len, size_t vectors, mpscl_data_type t)
{
    size_t es = mpscl_data_type_size(t);
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make_batch(len, vectors, len * es, t);
    unsigned char host[C * 3 * 4];
    mpscl_vector *v;

    ck_assert_uint_le(len * vectors * es, sizeof host);
    ASSERT_OK(mpscl_vector_create(d, &vd, &v));
    fill_bytes(host, len * vectors * es, t, len * 7 + vectors);
    ASSERT_OK(mpscl_vector_write(v, host));
    return v;
}

static mpscl_device *
other_device(void)
{
    if (second_device == NULL)
        ASSERT_OK(mpscl_device_create_default(&second_device));   /* a second context */
    return second_device;
}

/* ---- encodes: a valid call, varied one argument at a time ---- */

typedef struct args {
    mpscl_matrix_batch_normalization *fwd;
    mpscl_matrix_batch_normalization_gradient *grad;
    mpscl_command_buffer *cb;
    mpscl_matrix *x, *dy, *y, *dx;
    mpscl_vector *mean, *var, *gamma, *beta, *dgamma, *dbeta;
} args;

#define NOPS 10
/* Every matrix and vector of a, in one order; the objects are owned by the world. */
static void
operands(const args *a, mpscl_matrix *m[4], mpscl_vector *v[6])
{
    m[0] = a->x, m[1] = a->dy, m[2] = a->y, m[3] = a->dx;
    v[0] = a->mean, v[1] = a->var, v[2] = a->gamma, v[3] = a->beta, v[4] = a->dgamma;
    v[5] = a->dbeta;
}

typedef struct world {
    args a;               /* the valid call, owned */
    void *extra[8];       /* objects a case made, released with the world */
    void (*extra_release[8])(void *);
    size_t nextra;
    unsigned char before[NOPS][R * C * 3 * 8];
} world;

static void
release_matrix(void *p)
{
    mpscl_matrix_release(p);
}

static void
release_vector(void *p)
{
    mpscl_vector_release(p);
}

static void
release_cb(void *p)
{
    mpscl_command_buffer_release(p);
}

static void *
keep(world *w, void *obj, void (*release)(void *))
{
    w->extra[w->nextra] = obj;
    w->extra_release[w->nextra++] = release;
    return obj;
}

static void
world_make(world *w)
{
    mpscl_data_type f = MPSCL_DATA_TYPE_FLOAT32;

    memset(w, 0, sizeof *w);
    w->a.x = matrix_on(test_device, R, 1, f);
    w->a.dy = matrix_on(test_device, R, 1, f);
    w->a.y = matrix_on(test_device, R, 1, f);
    w->a.dx = matrix_on(test_device, R, 1, f);
    w->a.mean = vector_on(test_device, C, 1, f);
    w->a.var = vector_on(test_device, C, 1, f);
    w->a.gamma = vector_on(test_device, C, 1, f);
    w->a.beta = vector_on(test_device, C, 1, f);
    w->a.dgamma = vector_on(test_device, C, 1, f);
    w->a.dbeta = vector_on(test_device, C, 1, f);
    ASSERT_OK(mpscl_matrix_batch_normalization_create(test_device, &w->a.fwd));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_create(test_device, &w->a.grad));
    ASSERT_OK(mpscl_command_buffer_create(test_device, &w->a.cb));
}

/* Reads every operand of a (which may differ from the world's) into out[]. */
static void
read_all(const args *a, unsigned char out[NOPS][R * C * 3 * 8])
{
    mpscl_matrix *m[4];
    mpscl_vector *v[6];

    operands(a, m, v);
    for (size_t i = 0; i < 4; i++)
        if (m[i] != NULL)
            ASSERT_OK(mpscl_matrix_read(m[i], out[i], mpscl_matrix_columns(m[i]) *
                                        mpscl_data_type_size(mpscl_matrix_data_type(m[i]))));
    for (size_t i = 0; i < 6; i++)
        if (v[i] != NULL)
            ASSERT_OK(mpscl_vector_read(v[i], out[4 + i]));
}

/* Nothing reached the device: any work enqueued into the world's buffer is finished first. */
static void
check_untouched(world *w, const args *a)
{
    static unsigned char after[NOPS][R * C * 3 * 8];

    if (mpscl_command_buffer_status(w->a.cb) == MPSCL_COMMAND_BUFFER_NOT_COMMITTED)
        ASSERT_OK(mpscl_command_buffer_commit(w->a.cb));
    ASSERT_OK(mpscl_command_buffer_wait_until_completed(w->a.cb));
    memset(after, 0, sizeof after);
    read_all(a, after);
    for (size_t i = 0; i < NOPS; i++)
        ck_assert_msg(memcmp(w->before[i], after[i], sizeof after[i]) == 0,
                      "operand %zu changed after a refused encode", i);
}

static void
world_free(world *w)
{
    mpscl_matrix *m[4];
    mpscl_vector *v[6];

    operands(&w->a, m, v);
    for (size_t i = 0; i < 4; i++)
        mpscl_matrix_release(m[i]);
    for (size_t i = 0; i < 6; i++)
        mpscl_vector_release(v[i]);
    mpscl_matrix_batch_normalization_release(w->a.fwd);
    mpscl_matrix_batch_normalization_gradient_release(w->a.grad);
    mpscl_command_buffer_release(w->a.cb);
    for (size_t i = 0; i < w->nextra; i++)
        w->extra_release[i](w->extra[i]);
    mpscl_device_release(second_device);
    second_device = NULL;
}

enum { FWD, GRAD };
typedef struct encode_case {
    const char *name;
    int kernel;
    mpscl_status want;
    const char *word;
} encode_case;

/* Rows of encode_cases, in the order of mutate()'s switch. */
static const encode_case encode_cases[] = {
    {"forward: NULL kernel", FWD, MPSCL_ERROR_INVALID_ARGUMENT, "kernel"},
    {"gradient: NULL kernel", GRAD, MPSCL_ERROR_INVALID_ARGUMENT, "kernel"},
    {"forward: NULL command buffer", FWD, MPSCL_ERROR_INVALID_ARGUMENT, "command buffer"},
    {"gradient: NULL command buffer", GRAD, MPSCL_ERROR_INVALID_ARGUMENT, "command buffer"},
    {"forward: NULL input", FWD, MPSCL_ERROR_INVALID_ARGUMENT, "input"},
    {"forward: NULL mean", FWD, MPSCL_ERROR_INVALID_ARGUMENT, "mean"},
    {"forward: NULL variance", FWD, MPSCL_ERROR_INVALID_ARGUMENT, "variance"},
    {"forward: NULL result", FWD, MPSCL_ERROR_INVALID_ARGUMENT, "result"},
    {"gradient: NULL gradient", GRAD, MPSCL_ERROR_INVALID_ARGUMENT, "gradient"},
    {"gradient: NULL result", GRAD, MPSCL_ERROR_INVALID_ARGUMENT, "result_gradient_for_data"},
    {"forward: f16 result, f32 input", FWD, MPSCL_ERROR_INVALID_DATA_TYPE, "result"},
    {"gradient: f16 input, f32 gradient", GRAD, MPSCL_ERROR_INVALID_DATA_TYPE, "input"},
    {"gradient: f16 gamma, f32 matrices", GRAD, MPSCL_ERROR_INVALID_DATA_TYPE, "gamma"},
    {"forward: input on another device", FWD, MPSCL_ERROR_DEVICE_MISMATCH, "input"},
    {"gradient: mean on another device", GRAD, MPSCL_ERROR_DEVICE_MISMATCH, "mean"},
    {"forward: command buffer of another device", FWD, MPSCL_ERROR_DEVICE_MISMATCH,
     "command buffer"},
    {"forward: source origin past the rows", FWD, MPSCL_ERROR_OUT_OF_RANGE, "input"},
    {"forward: result origin past the columns", FWD, MPSCL_ERROR_OUT_OF_RANGE, "result"},
    {"gradient: primary origin at SIZE_MAX", GRAD, MPSCL_ERROR_OUT_OF_RANGE, "gradient"},
    {"gradient: batch_start past one matrix", GRAD, MPSCL_ERROR_OUT_OF_RANGE, "batch_start"},
    {"forward: batch_start SIZE_MAX", FWD, MPSCL_ERROR_OUT_OF_RANGE, "batch_start"},
    {"forward: result with fewer rows", FWD, MPSCL_ERROR_INVALID_SHAPE, "result"},
    {"gradient: result with one matrix of three", GRAD, MPSCL_ERROR_INVALID_SHAPE,
     "result_gradient_for_data"},
    {"forward: short mean", FWD, MPSCL_ERROR_INVALID_SHAPE, "mean"},
    {"gradient: short gamma", GRAD, MPSCL_ERROR_INVALID_SHAPE, "gamma"},
    {"gradient: short dbeta", GRAD, MPSCL_ERROR_INVALID_SHAPE, "result_gradient_for_beta"},
    {"gradient: one variance vector for three matrices", GRAD, MPSCL_ERROR_INVALID_SHAPE,
     "variance"},
    {"forward: zero feature vectors", FWD, MPSCL_ERROR_INVALID_SHAPE, "empty"},
    {"gradient: zero channels", GRAD, MPSCL_ERROR_INVALID_SHAPE, "empty"},
    {"forward: after commit", FWD, MPSCL_ERROR_INVALID_STATE, "committed"},
    {"gradient: after commit", GRAD, MPSCL_ERROR_INVALID_STATE, "committed"},
    {"forward: result one row below the input", FWD, MPSCL_ERROR_INVALID_ARGUMENT, "overlaps"},
    {"forward: statistics into one vector", FWD, MPSCL_ERROR_INVALID_ARGUMENT, "overlaps"},
    {"gradient: dgamma and dbeta one vector", GRAD, MPSCL_ERROR_INVALID_ARGUMENT, "overlaps"},
};

static void
mutate(world *w, args *a, int id)
{
    mpscl_matrix_batch_normalization *f = a->fwd;
    mpscl_matrix_batch_normalization_gradient *g = a->grad;
    mpscl_data_type f32 = MPSCL_DATA_TYPE_FLOAT32, f16 = MPSCL_DATA_TYPE_FLOAT16;

    switch (id) {
    case 0: a->fwd = NULL; break;
    case 1: a->grad = NULL; break;
    case 2: case 3: a->cb = NULL; break;
    case 4: a->x = NULL; break;
    case 5: a->mean = NULL; break;
    case 6: a->var = NULL; break;
    case 7: a->y = NULL; break;
    case 8: a->dy = NULL; break;
    case 9: a->dx = NULL; break;
    case 10: a->y = keep(w, matrix_on(test_device, R, 1, f16), release_matrix); break;
    case 11: a->x = keep(w, matrix_on(test_device, R, 1, f16), release_matrix); break;
    case 12: a->gamma = keep(w, vector_on(test_device, C, 1, f16), release_vector); break;
    case 13: a->x = keep(w, matrix_on(other_device(), R, 1, f32), release_matrix); break;
    case 14: a->mean = keep(w, vector_on(other_device(), C, 1, f32), release_vector); break;
    case 15:
        ASSERT_OK(mpscl_command_buffer_create(other_device(), &a->cb));
        keep(w, a->cb, release_cb);
        break;
    case 16:
        ASSERT_OK(mpscl_matrix_batch_normalization_set_source_matrix_origin(
            f, (mpscl_origin){R, 0, 0}));
        break;
    case 17:
        ASSERT_OK(mpscl_matrix_batch_normalization_set_result_matrix_origin(
            f, (mpscl_origin){0, C, 0}));
        break;
    case 18:
        ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_primary_source_matrix_origin(
            g, (mpscl_origin){SIZE_MAX, 0, 0}));
        break;
    case 19: ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_batch_start(g, 1)); break;
    case 20: ASSERT_OK(mpscl_matrix_batch_normalization_set_batch_start(f, SIZE_MAX)); break;
    case 21: a->y = keep(w, matrix_on(test_device, R - 1, 1, f32), release_matrix); break;
    case 22:
        a->dy = keep(w, matrix_on(test_device, R, 3, f32), release_matrix);
        a->x = keep(w, matrix_on(test_device, R, 3, f32), release_matrix);
        a->mean = keep(w, vector_on(test_device, C, 3, f32), release_vector);
        a->var = keep(w, vector_on(test_device, C, 3, f32), release_vector);
        a->gamma = a->beta = a->dgamma = a->dbeta = NULL;
        break;
    case 23: a->mean = keep(w, vector_on(test_device, C - 1, 1, f32), release_vector); break;
    case 24: a->gamma = keep(w, vector_on(test_device, C - 1, 1, f32), release_vector); break;
    case 25: a->dbeta = keep(w, vector_on(test_device, C - 1, 1, f32), release_vector); break;
    case 26:
        a->dy = keep(w, matrix_on(test_device, R, 3, f32), release_matrix);
        a->x = keep(w, matrix_on(test_device, R, 3, f32), release_matrix);
        a->dx = keep(w, matrix_on(test_device, R, 3, f32), release_matrix);
        a->mean = keep(w, vector_on(test_device, C, 3, f32), release_vector);
        a->gamma = a->beta = a->dgamma = a->dbeta = NULL;
        break;
    case 27:
        ASSERT_OK(mpscl_matrix_batch_normalization_set_source_number_of_feature_vectors(f, 0));
        break;
    case 28:
        ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_source_input_feature_channels(g,
                                                                                          0));
        break;
    case 29: case 30: ASSERT_OK(mpscl_command_buffer_commit(a->cb)); break;
    case 31:
        /* y over x one row down: work-items would read rows others already wrote */
        ASSERT_OK(mpscl_matrix_batch_normalization_set_source_number_of_feature_vectors(f, R - 1));
        ASSERT_OK(mpscl_matrix_batch_normalization_set_result_matrix_origin(
            f, (mpscl_origin){1, 0, 0}));
        a->y = a->x;
        break;
    case 32:
        ASSERT_OK(mpscl_matrix_batch_normalization_set_compute_statistics(f, 1));
        a->var = a->mean;
        break;
    case 33: a->dbeta = a->dgamma; break;
    default: ck_abort_msg("no mutation %d", id);
    }
}

START_TEST(test_encode_refused)
{
    const encode_case *ec = &encode_cases[_i];
    world w;
    args a;
    mpscl_status s;

    world_make(&w);
    a = w.a;
    mutate(&w, &a, _i);
    read_all(&a, w.before);
    if (ec->kernel == FWD)
        s = mpscl_matrix_batch_normalization_encode(a.fwd, a.cb, a.x, a.mean, a.var, a.gamma,
                                                    a.beta, a.y);
    else
        s = mpscl_matrix_batch_normalization_gradient_encode(a.grad, a.cb, a.dy, a.x, a.mean,
                                                             a.var, a.gamma, a.beta, a.dx,
                                                             a.dgamma, a.dbeta);
    ck_assert_msg(s == ec->want, "%s: %s, expected %s: %s", ec->name, mpscl_status_string(s),
                  mpscl_status_string(ec->want), mpscl_last_error_message());
    ck_assert_msg(strstr(mpscl_last_error_message(), ec->word) != NULL,
                  "%s: message \"%s\" does not name \"%s\"", ec->name,
                  mpscl_last_error_message(), ec->word);
    check_untouched(&w, &a);
    world_free(&w);
}
END_TEST

/* ---- object creation: descriptors and buffers ---- */

typedef struct create_case {
    const char *name;
    int vector;                       /* 0: matrix, 1: vector */
    size_t rows_or_len, cols_or_vectors, mats, row_bytes, mat_bytes;
    mpscl_data_type type;
    mpscl_status want;
    const char *word;
} create_case;

#define F32 MPSCL_DATA_TYPE_FLOAT32
static const create_case create_cases[] = {
    {"zero rows", 0, 0, C, 1, 4 * C, 0, F32, MPSCL_ERROR_INVALID_SHAPE, "zero"},
    {"zero columns", 0, R, 0, 1, 64, 64 * R, F32, MPSCL_ERROR_INVALID_SHAPE, "zero"},
    {"zero matrices", 0, R, C, 0, 4 * C, 4 * C * R, F32, MPSCL_ERROR_INVALID_SHAPE, "zero"},
    {"SIZE_MAX columns", 0, R, SIZE_MAX, 1, SIZE_MAX, SIZE_MAX, F32, MPSCL_ERROR_OUT_OF_RANGE,
     "overflow"},
    {"SIZE_MAX rows", 0, SIZE_MAX, C, 1, 4 * C, 0, F32, MPSCL_ERROR_OUT_OF_RANGE, "overflow"},
    {"SIZE_MAX matrices", 0, R, C, SIZE_MAX, 4 * C, 4 * C * R, F32, MPSCL_ERROR_OUT_OF_RANGE,
     "overflow"},
    {"row stride below a row", 0, R, C, 1, 4 * C - 4, 0, F32, MPSCL_ERROR_INVALID_SHAPE,
     "smaller than a row"},
    {"row stride not a multiple of 4", 0, R, C, 1, 4 * C + 2, 0, F32,
     MPSCL_ERROR_INVALID_ARGUMENT, "multiple"},
    {"batch stride below a matrix", 0, R, C, 2, 4 * C, 4 * C * R - 4, F32,
     MPSCL_ERROR_INVALID_SHAPE, "batch stride"},
    {"unknown data type 99", 0, R, C, 1, 4 * C, 0, (mpscl_data_type)99,
     MPSCL_ERROR_INVALID_ARGUMENT, "data type"},
    {"negative data type", 0, R, C, 1, 4 * C, 0, (mpscl_data_type)-1,
     MPSCL_ERROR_INVALID_ARGUMENT, "data type"},
    {"vector of length 0", 1, 0, 1, 0, 0, 0, F32, MPSCL_ERROR_INVALID_SHAPE, "zero"},
    {"zero vectors", 1, C, 0, 0, 0, 4 * C, F32, MPSCL_ERROR_INVALID_SHAPE, "zero"},
    {"vector stride below a vector", 1, C, 2, 0, 0, 4 * C - 4, F32, MPSCL_ERROR_INVALID_SHAPE,
     "batch stride"},
    {"SIZE_MAX vector length", 1, SIZE_MAX, 1, 0, 0, 0, F32, MPSCL_ERROR_OUT_OF_RANGE,
     "overflow"},
    {"vector stride not a multiple of 4", 1, C, 2, 0, 0, 4 * C + 1, F32,
     MPSCL_ERROR_INVALID_ARGUMENT, "multiple"},
};
#undef F32

START_TEST(test_create_refused)
{
    const create_case *cc = &create_cases[_i];
    mpscl_status s;

    if (!cc->vector) {
        mpscl_matrix_descriptor md = mpscl_matrix_descriptor_make_batch(
            cc->rows_or_len, cc->cols_or_vectors, cc->mats, cc->row_bytes, cc->mat_bytes,
            cc->type);
        mpscl_matrix *m = POISON;
        s = mpscl_matrix_create(test_device, &md, &m);
        ck_assert_ptr_null(m);
    } else {
        mpscl_vector_descriptor vd = mpscl_vector_descriptor_make_batch(
            cc->rows_or_len, cc->cols_or_vectors, cc->mat_bytes, cc->type);
        mpscl_vector *v = POISON;
        s = mpscl_vector_create(test_device, &vd, &v);
        ck_assert_ptr_null(v);
    }
    ck_assert_msg(s == cc->want, "%s: %s, expected %s: %s", cc->name, mpscl_status_string(s),
                  mpscl_status_string(cc->want), mpscl_last_error_message());
    ck_assert_msg(strstr(mpscl_last_error_message(), cc->word) != NULL,
                  "%s: message \"%s\" does not name \"%s\"", cc->name,
                  mpscl_last_error_message(), cc->word);
}
END_TEST

static Suite *
misuse_suite(void)
{
    Suite *s = suite_create("misuse");
    TCase *enc = tcase_create("encode");
    TCase *obj = tcase_create("objects");

    tcase_add_checked_fixture(enc, test_device_setup, test_device_teardown);
    tcase_set_timeout(enc, 60);
    tcase_add_loop_test(enc, test_encode_refused, 0,
                        (int)(sizeof encode_cases / sizeof encode_cases[0]));
    suite_add_tcase(s, enc);
    tcase_add_checked_fixture(obj, test_device_setup, test_device_teardown);
    tcase_set_timeout(obj, 60);
    tcase_add_loop_test(obj, test_create_refused, 0,
                        (int)(sizeof create_cases / sizeof create_cases[0]));
    misuse_add_calls(obj);
    suite_add_tcase(s, obj);
    return s;
}

int
main(void)
{
    return test_run_suite(misuse_suite());
}
