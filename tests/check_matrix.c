/* tests/check_matrix.c: matrix and vector descriptors, bit-exact write/read through every strided
 * layout (padding, batches, offsets, host strides) with a canary around each element, the
 * validation of every descriptor field, getters and lifetimes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define F32 MPSCL_DATA_TYPE_FLOAT32
#define F16 MPSCL_DATA_TYPE_FLOAT16
#define F64 MPSCL_DATA_TYPE_FLOAT64

/* A quiet NaN with a payload: if it shows up as data, something copied padding. */
#define CANARY_WORD 0x7FC0DEADu
/* What read must leave in host padding. */
#define HOST_FILL 0xCD

/* The device-side shape of a matrix or vector (a vector is one row per batch entry). */
typedef struct shape {
    size_t rows, cols, mats, rb, mb, es, offset;
} shape;

/* The failure message of the last call must contain `word`. */
#define ASSERT_MESSAGE_HAS(word)                                                              \
    ck_assert_msg(strstr(mpscl_last_error_message(), word) != NULL,                           \
                  "message \"%s\" does not name \"%s\"", mpscl_last_error_message(), word)

/* A write through a queue of the test's own, not the library's transfer queue. */
static void
raw_write(cl_mem m, const void *bytes, size_t size)
{
    cl_int err;
    cl_command_queue q = clCreateCommandQueue(mpscl_device_cl_context(test_device),
                                              mpscl_device_cl_device_id(test_device), 0, &err);

    ck_assert_int_eq(err, CL_SUCCESS);
    ck_assert_int_eq(clEnqueueWriteBuffer(q, m, CL_TRUE, 0, size, bytes, 0, NULL, NULL),
                     CL_SUCCESS);
    ck_assert_int_eq(clReleaseCommandQueue(q), CL_SUCCESS);
}

static size_t
mem_size(cl_mem m)
{
    size_t size = 0;

    ck_assert_int_eq(clGetMemObjectInfo(m, CL_MEM_SIZE, sizeof size, &size, NULL), CL_SUCCESS);
    return size;
}

static cl_uint
mem_refs(cl_mem m)
{
    cl_uint refs = 0;

    ck_assert_int_eq(clGetMemObjectInfo(m, CL_MEM_REFERENCE_COUNT, sizeof refs, &refs, NULL),
                     CL_SUCCESS);
    return refs;
}

static unsigned char *
canary_image(size_t size)
{
    unsigned char *p = malloc(size);
    uint32_t w = CANARY_WORD;

    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < size; i++)
        p[i] = ((const unsigned char *)&w)[i % 4];
    return p;
}

/* Random words biased towards the values a conversion would change: NaNs with payloads,
 * infinities, subnormals and -0, so that only a raw byte copy survives bit-exactly. */
static void
random_bits(uint64_t *rng, unsigned char *p, size_t size)
{
    for (size_t i = 0; i < size; i += 4) {
        uint64_t r = test_rng_next(rng);
        uint32_t w = (uint32_t)r, sign = (uint32_t)(r >> 63) << 31;
        size_t n = size - i < 4 ? size - i : 4;

        switch ((r >> 32) & 7) {
        case 0: w = sign | 0x7F800000u | (w & 0x3FFFFFu) | 1u; break;   /* signalling NaN */
        case 1: w = sign | 0x7FC00000u | (w & 0x3FFFFFu); break;        /* quiet NaN */
        case 2: w = sign | 0x7F800000u; break;                          /* infinity */
        case 3: w = sign | (w & 0x7FFFFFu); break;                      /* subnormal or 0 */
        default: break;
        }
        memcpy(p + i, &w, n);
    }
}

/* `image` (the buffer as it was) with host's elements placed at their strided positions. */
static void
place_elements(unsigned char *image, const shape *s, const unsigned char *host, size_t hrb)
{
    for (size_t b = 0; b < s->mats; b++)
        for (size_t r = 0; r < s->rows; r++)
            memcpy(image + s->offset + b * s->mb + r * s->rb,
                   host + (b * s->rows + r) * hrb, s->cols * s->es);
}

static void
assert_bytes_eq(const unsigned char *got, const unsigned char *want, size_t size,
                const char *what)
{
    for (size_t i = 0; i < size; i++)
        ck_assert_msg(got[i] == want[i], "%s: byte %zu is 0x%02x, expected 0x%02x", what, i,
                      got[i], want[i]);
}

/* The whole cycle on a matrix m or a vector v: canary its buffer, write random bits, compare
 * the raw buffer against the expected image (elements placed, everything else canary), then read
 * back into a host image pre-filled with HOST_FILL and compare elements and padding. */
static void
round_trip(mpscl_matrix *m, mpscl_vector *v, const shape *s, size_t hrb, uint64_t seed)
{
    cl_mem buf = m != NULL ? mpscl_matrix_buffer(m) : mpscl_vector_buffer(v);
    size_t size = mem_size(buf), host_size = s->mats * s->rows * hrb;
    unsigned char *want = canary_image(size), *got = malloc(size);
    unsigned char *host = malloc(host_size), *back = malloc(host_size);
    uint64_t rng = seed;

    ck_assert(got != NULL && host != NULL && back != NULL);
    raw_write(buf, want, size);
    random_bits(&rng, host, host_size);
    ASSERT_OK(m != NULL ? mpscl_matrix_write(m, host, hrb) : mpscl_vector_write(v, host));
    place_elements(want, s, host, hrb);
    test_buffer_read(buf, got, size);
    assert_bytes_eq(got, want, size, "buffer after write");

    memset(back, HOST_FILL, host_size);
    ASSERT_OK(m != NULL ? mpscl_matrix_read(m, back, hrb) : mpscl_vector_read(v, back));
    for (size_t i = 0; i < host_size; i++) {
        int element = i % hrb < s->cols * s->es;
        ck_assert_msg(back[i] == (element ? host[i] : HOST_FILL),
                      "read: host byte %zu (%s) is 0x%02x", i, element ? "element" : "padding",
                      back[i]);
    }
    free(back);
    free(host);
    free(got);
    free(want);
}

/* ---- descriptors ---- */

static void
assert_mdesc(mpscl_matrix_descriptor d, size_t rows, size_t cols, size_t mats, size_t rb,
             size_t mb, mpscl_data_type t)
{
    ck_assert_msg(d.rows == rows && d.columns == cols && d.matrices == mats && d.row_bytes == rb &&
                  d.matrix_bytes == mb && d.data_type == t,
                  "descriptor {%zu, %zu, %zu, %zu, %zu, %d}, "
                  "expected {%zu, %zu, %zu, %zu, %zu, %d}",
                  d.rows, d.columns, d.matrices, d.row_bytes, d.matrix_bytes, (int)d.data_type,
                  rows, cols, mats, rb, mb, (int)t);
}

static void
assert_vdesc(mpscl_vector_descriptor d, size_t length, size_t vectors, size_t vb,
             mpscl_data_type t)
{
    ck_assert_msg(d.length == length && d.vectors == vectors && d.vector_bytes == vb &&
                  d.data_type == t, "descriptor {%zu, %zu, %zu, %d}, expected {%zu, %zu, %zu, %d}",
                  d.length, d.vectors, d.vector_bytes, (int)d.data_type, length, vectors, vb,
                  (int)t);
}

START_TEST(descriptor_helpers)
{
    assert_mdesc(mpscl_matrix_descriptor_make(5, 3, 64, F32), 5, 3, 1, 64, 5 * 64, F32);
    assert_mdesc(mpscl_matrix_descriptor_make_batch(4, 7, 3, 32, 148, F64), 4, 7, 3, 32, 148, F64);
    assert_vdesc(mpscl_vector_descriptor_make(7, F16), 7, 1, 14, F16);
    assert_vdesc(mpscl_vector_descriptor_make(7, F32), 7, 1, 28, F32);
    assert_vdesc(mpscl_vector_descriptor_make_batch(5, 3, 32, F32), 5, 3, 32, F32);
}
END_TEST

START_TEST(row_bytes_from_columns)
{
    static const mpscl_data_type types[] = {F32, F16, MPSCL_DATA_TYPE_BFLOAT16, F64};

    for (size_t t = 0; t < 4; t++) {
        size_t es = mpscl_data_type_size(types[t]);
        for (size_t c = 1; c <= 300; c++) {
            size_t rb = mpscl_matrix_descriptor_row_bytes_from_columns(c, types[t]);
            ck_assert_msg(rb % 64 == 0 && rb >= c * es && rb < c * es + 64,
                          "type %d, %zu columns: row_bytes %zu", (int)types[t], c, rb);
        }
    }
    ck_assert_uint_eq(mpscl_matrix_descriptor_row_bytes_from_columns(3, (mpscl_data_type)99), 0);
    /* A row whose rounded size is not representable. */
    ck_assert_uint_eq(mpscl_matrix_descriptor_row_bytes_from_columns(SIZE_MAX / 4, F32), 0);
    ck_assert_uint_eq(mpscl_matrix_descriptor_row_bytes_from_columns(SIZE_MAX / 4 + 1, F32), 0);
    ck_assert_uint_eq(mpscl_matrix_descriptor_row_bytes_from_columns(SIZE_MAX, F16), 0);
}
END_TEST

/* ---- round trips ---- */

/* vec: a vector of `cols` elements per each of `mats` vectors, vector_bytes mb (rows 1, rb and hrb
 * unused). rb 0: row_bytes_from_columns; mb 0: rows * rb; hrb 0: one packed row. user: the
 * caller's buffer at `offset` with 64 canary bytes past the extent, else a library buffer. */
static const struct copy_case {
    int vec;
    size_t rows, cols, mats, rb, mb, offset, hrb;
    int user;
    mpscl_data_type type;
} copy_cases[] = {
    {0, 1, 1, 1, 4, 0, 0, 0, 0, F32},
    {0, 5, 3, 1, 64, 0, 0, 0, 0, F32},          /* padded rows */
    {0, 4, 7, 3, 32, 148, 0, 40, 0, F32},       /* batch stride not a multiple of the row's */
    {0, 4, 7, 3, 32, 148, 12, 40, 1, F32},      /* same, in a user buffer at an offset */
    {0, 3, 5, 2, 20, 60, 100, 0, 1, F32},       /* tight rows and batches */
    {0, 2, 16, 4, 0, 192, 4, 72, 1, F32},
    {0, 3, 2, 2, 16, 40, 0, 8, 1, F32},         /* matrix 1 lies in matrix 0's row padding */
    {0, 6, 9, 2, 40, 244, 8, 36, 1, F32},
    {0, 3, 5, 2, 12, 38, 2, 10, 1, F16},
    {0, 2, 3, 3, 32, 72, 8, 24, 1, F64},
    {1, 1, 1, 1, 0, 0, 0, 0, 0, F32},
    {1, 1, 7, 1, 0, 0, 12, 0, 1, F32},
    {1, 1, 5, 3, 0, 32, 8, 0, 1, F32},          /* gaps between vectors */
    {1, 1, 6, 4, 0, 0, 0, 0, 0, F32},           /* packed batch */
    {1, 1, 5, 3, 0, 36, 0, 0, 0, F32},          /* library buffer with gaps */
    {1, 1, 3, 2, 0, 10, 4, 0, 1, F16},
    {1, 1, 3, 2, 0, 40, 16, 0, 1, F64},
};

START_TEST(round_trips)
{
    const struct copy_case *c = &copy_cases[_i];
    size_t es = mpscl_data_type_size(c->type), row = c->cols * es, rb, mb, hrb, extent;
    mpscl_matrix_descriptor d;
    mpscl_vector_descriptor vd;
    shape s;
    mpscl_matrix *m = NULL;
    mpscl_vector *v = NULL;
    cl_mem user = NULL, buf;

    rb = c->vec ? row : c->rb;
    if (rb == 0)
        rb = mpscl_matrix_descriptor_row_bytes_from_columns(c->cols, c->type);
    mb = c->mb != 0 ? c->mb : c->rows * rb;
    hrb = c->hrb != 0 ? c->hrb : row;
    extent = (c->mats - 1) * mb + (c->rows - 1) * rb + row;
    d = mpscl_matrix_descriptor_make_batch(c->rows, c->cols, c->mats, rb, mb, c->type);
    vd = mpscl_vector_descriptor_make_batch(c->cols, c->mats, mb, c->type);
    s = (shape){c->rows, c->cols, c->mats, rb, mb, es, c->offset};
    if (c->user)
        user = test_buffer_create(NULL, c->offset + extent + 64);
    if (c->vec)
        ASSERT_OK(user ? mpscl_vector_create_with_buffer(test_device, user, c->offset, &vd, &v)
                       : mpscl_vector_create(test_device, &vd, &v));
    else
        ASSERT_OK(user ? mpscl_matrix_create_with_buffer(test_device, user, c->offset, &d, &m)
                       : mpscl_matrix_create(test_device, &d, &m));
    buf = c->vec ? mpscl_vector_buffer(v) : mpscl_matrix_buffer(m);
    if (user != NULL)
        ck_assert_ptr_eq(buf, user);
    ck_assert_uint_ge(mem_size(buf), c->offset + extent);
    /* The host side of a vector is packed: one row of `length` elements per vector. */
    round_trip(m, v, &s, hrb, 1000 + (uint64_t)_i);
    mpscl_matrix_release(m);
    mpscl_vector_release(v);
    if (user != NULL)
        ck_assert_int_eq(clReleaseMemObject(user), CL_SUCCESS);
}
END_TEST

/* ---- validation ---- */

/* user 0: mpscl_*_create; else create_with_buffer over a buffer of bufsize bytes at offset. For
 * vectors rows is unused and cols, mats, mb are length, vectors, vector_bytes. */
static const struct bad_case {
    size_t rows, cols, mats, rb, mb;
    int type, user;
    size_t bufsize, offset;
    mpscl_status want;
    const char *word;   /* the message must name this */
} matrix_bad[] = {
    {0, 4, 1, 16, 16, F32, 0, 0, 0, MPSCL_ERROR_INVALID_SHAPE, "rows"},
    {2, 0, 1, 16, 32, F32, 0, 0, 0, MPSCL_ERROR_INVALID_SHAPE, "columns"},
    {2, 4, 0, 16, 32, F32, 0, 0, 0, MPSCL_ERROR_INVALID_SHAPE, "batch"},
    {2, 4, 1, 12, 24, F32, 0, 0, 0, MPSCL_ERROR_INVALID_SHAPE, "12"},
    {2, 4, 1, 18, 36, F32, 0, 0, 0, MPSCL_ERROR_INVALID_ARGUMENT, "18"},
    {2, 4, 2, 64, 130, F32, 0, 0, 0, MPSCL_ERROR_INVALID_ARGUMENT, "130"},
    {3, 4, 2, 20, 44, F32, 0, 0, 0, MPSCL_ERROR_INVALID_SHAPE, "44"},
    {2, 4, 1, 16, 32, 99, 0, 0, 0, MPSCL_ERROR_INVALID_ARGUMENT, "99"},
    {0, 4, 1, 16, 16, F32, 1, 256, 0, MPSCL_ERROR_INVALID_SHAPE, "rows"},
    {2, 4, 1, 16, 32, F32, 1, 256, 42, MPSCL_ERROR_INVALID_ARGUMENT, "42"},
    {2, 4, 1, 16, 32, F32, 1, 100, 72, MPSCL_ERROR_OUT_OF_RANGE, "100"},
    {2, 4, 1, 16, 32, F32, 1, 100, 200, MPSCL_ERROR_OUT_OF_RANGE, "200"},
    {2, 4, 3, 16, 32, F32, 1, 90, 0, MPSCL_ERROR_OUT_OF_RANGE, "90"},
    {2, 4, 1, 16, 32, 99, 1, 256, 0, MPSCL_ERROR_INVALID_ARGUMENT, "99"},
}, vector_bad[] = {
    {1, 0, 1, 0, 0, F32, 0, 0, 0, MPSCL_ERROR_INVALID_SHAPE, "columns"},
    {1, 4, 0, 0, 16, F32, 0, 0, 0, MPSCL_ERROR_INVALID_SHAPE, "batch"},
    {1, 4, 2, 0, 18, F32, 0, 0, 0, MPSCL_ERROR_INVALID_ARGUMENT, "18"},
    {1, 4, 2, 0, 12, F32, 0, 0, 0, MPSCL_ERROR_INVALID_SHAPE, "12"},
    {1, 4, 1, 0, 16, 99, 0, 0, 0, MPSCL_ERROR_INVALID_ARGUMENT, "99"},
    {1, 4, 1, 0, 16, F32, 1, 64, 6, MPSCL_ERROR_INVALID_ARGUMENT, "6"},
    {1, 4, 2, 0, 16, F32, 1, 28, 0, MPSCL_ERROR_OUT_OF_RANGE, "28"},
    {1, 4, 1, 0, 16, F32, 1, 64, 52, MPSCL_ERROR_OUT_OF_RANGE, "52"},
};

/* Every refused create: the status, *out NULL, a message naming the culprit, and a user buffer
 * neither retained nor written. */
static void
check_refused(const struct bad_case *c, int is_vector)
{
    mpscl_matrix *m = (mpscl_matrix *)&m;   /* non-NULL: a refusal must clear it */
    mpscl_vector *v = (mpscl_vector *)&v;
    cl_mem user = NULL;
    unsigned char *before = NULL, *after = NULL;
    mpscl_status s;

    if (c->user) {
        before = canary_image(c->bufsize);
        after = malloc(c->bufsize);
        ck_assert_ptr_nonnull(after);
        user = test_buffer_create(before, c->bufsize);
    }
    if (is_vector) {
        mpscl_vector_descriptor d = mpscl_vector_descriptor_make_batch(c->cols, c->mats, c->mb,
                                                                       (mpscl_data_type)c->type);
        s = c->user ? mpscl_vector_create_with_buffer(test_device, user, c->offset, &d, &v)
                    : mpscl_vector_create(test_device, &d, &v);
        m = NULL;
    } else {
        mpscl_matrix_descriptor d = mpscl_matrix_descriptor_make_batch(c->rows, c->cols, c->mats,
                                                                       c->rb, c->mb,
                                                                       (mpscl_data_type)c->type);
        s = c->user ? mpscl_matrix_create_with_buffer(test_device, user, c->offset, &d, &m)
                    : mpscl_matrix_create(test_device, &d, &m);
        v = NULL;
    }
    ASSERT_STATUS(s, c->want);
    ck_assert_ptr_null(m);
    ck_assert_ptr_null(v);
    ASSERT_MESSAGE_HAS(c->word);
    if (user != NULL) {
        ck_assert_uint_eq(mem_refs(user), 1);
        test_buffer_read(user, after, c->bufsize);
        assert_bytes_eq(after, before, c->bufsize, "buffer of a refused create");
        ck_assert_int_eq(clReleaseMemObject(user), CL_SUCCESS);
    }
    free(after);
    free(before);
}

START_TEST(matrix_refused)
{
    check_refused(&matrix_bad[_i], 0);
}
END_TEST

START_TEST(vector_refused)
{
    check_refused(&vector_bad[_i], 1);
}
END_TEST

START_TEST(null_arguments)
{
    mpscl_matrix_descriptor d = mpscl_matrix_descriptor_make(2, 4, 16, F32);
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make(4, F32);
    mpscl_matrix *m = (mpscl_matrix *)&m;
    mpscl_vector *v = (mpscl_vector *)&v;
    cl_mem buf = test_buffer_create(NULL, 64);

#define REFUSED(call, obj, word)                                                              \
    do {                                                                                      \
        ASSERT_STATUS(call, MPSCL_ERROR_INVALID_ARGUMENT);                                    \
        ck_assert_ptr_null(obj);                                                              \
        ASSERT_MESSAGE_HAS(word);                                                             \
        obj = (void *)&obj;                                                                   \
    } while (0)
    REFUSED(mpscl_matrix_create(NULL, &d, &m), m, "device");
    REFUSED(mpscl_matrix_create(test_device, NULL, &m), m, "descriptor");
    REFUSED(mpscl_matrix_create_with_buffer(NULL, buf, 0, &d, &m), m, "device");
    REFUSED(mpscl_matrix_create_with_buffer(test_device, NULL, 0, &d, &m), m, "buffer");
    REFUSED(mpscl_matrix_create_with_buffer(test_device, buf, 0, NULL, &m), m, "descriptor");
    REFUSED(mpscl_vector_create(NULL, &vd, &v), v, "device");
    REFUSED(mpscl_vector_create(test_device, NULL, &v), v, "descriptor");
    REFUSED(mpscl_vector_create_with_buffer(NULL, buf, 0, &vd, &v), v, "device");
    REFUSED(mpscl_vector_create_with_buffer(test_device, NULL, 0, &vd, &v), v, "buffer");
#undef REFUSED
    ASSERT_STATUS(mpscl_matrix_create(test_device, &d, NULL), MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_create_with_buffer(test_device, buf, 0, &d, NULL),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_vector_create(test_device, &vd, NULL), MPSCL_ERROR_INVALID_ARGUMENT);
    ck_assert_uint_eq(mem_refs(buf), 1);
    ck_assert_int_eq(clReleaseMemObject(buf), CL_SUCCESS);
}
END_TEST

START_TEST(buffer_of_another_context)
{
    cl_device_id id = mpscl_device_cl_device_id(test_device);
    cl_int err;
    cl_context other = clCreateContext(NULL, 1, &id, NULL, NULL, &err);
    cl_mem buf;
    mpscl_matrix_descriptor d = mpscl_matrix_descriptor_make(2, 4, 16, F32);
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make(4, F32);
    mpscl_matrix *m = (mpscl_matrix *)&m;
    mpscl_vector *v = (mpscl_vector *)&v;

    ck_assert_int_eq(err, CL_SUCCESS);
    buf = clCreateBuffer(other, CL_MEM_READ_WRITE, 256, NULL, &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    ASSERT_STATUS(mpscl_matrix_create_with_buffer(test_device, buf, 0, &d, &m),
                  MPSCL_ERROR_DEVICE_MISMATCH);
    ck_assert_ptr_null(m);
    ASSERT_MESSAGE_HAS("context");
    ASSERT_STATUS(mpscl_vector_create_with_buffer(test_device, buf, 0, &vd, &v),
                  MPSCL_ERROR_DEVICE_MISMATCH);
    ck_assert_ptr_null(v);
    ck_assert_uint_eq(mem_refs(buf), 1);
    ck_assert_int_eq(clReleaseMemObject(buf), CL_SUCCESS);
    ck_assert_int_eq(clReleaseContext(other), CL_SUCCESS);
}
END_TEST

START_TEST(copy_refused)
{
    /* 2 x 5 floats (rows of 20 bytes) in rows of 32: a refused copy touches neither side. */
    mpscl_matrix_descriptor d = mpscl_matrix_descriptor_make(2, 5, 32, F32);
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make(4, F32);
    unsigned char *image = canary_image(64), got[64], host[64];
    cl_mem buf = test_buffer_create(image, 64);
    mpscl_matrix *m = NULL;
    mpscl_vector *v = NULL;

    ASSERT_OK(mpscl_matrix_create_with_buffer(test_device, buf, 0, &d, &m));
    ASSERT_OK(mpscl_vector_create_with_buffer(test_device, buf, 0, &vd, &v));
    memset(host, HOST_FILL, sizeof host);
    ASSERT_STATUS(mpscl_matrix_write(m, NULL, 20), MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_MESSAGE_HAS("host");
    ASSERT_STATUS(mpscl_matrix_read(m, NULL, 20), MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_write(m, host, 12), MPSCL_ERROR_INVALID_SHAPE);
    ASSERT_MESSAGE_HAS("12");
    ASSERT_STATUS(mpscl_matrix_read(m, host, 16), MPSCL_ERROR_INVALID_SHAPE);
    ASSERT_MESSAGE_HAS("16");
    ASSERT_STATUS(mpscl_matrix_write(NULL, host, 20), MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_matrix_read(NULL, host, 20), MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_vector_write(v, NULL), MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_vector_read(v, NULL), MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_vector_write(NULL, host), MPSCL_ERROR_INVALID_ARGUMENT);
    ASSERT_STATUS(mpscl_vector_read(NULL, host), MPSCL_ERROR_INVALID_ARGUMENT);
    for (size_t i = 0; i < sizeof host; i++)
        ck_assert_uint_eq(host[i], HOST_FILL);
    test_buffer_read(buf, got, sizeof got);
    assert_bytes_eq(got, image, sizeof got, "buffer after refused writes");
    mpscl_vector_release(v);
    mpscl_matrix_release(m);
    ck_assert_int_eq(clReleaseMemObject(buf), CL_SUCCESS);
    free(image);
}
END_TEST

/* ---- getters and lifetimes ---- */

START_TEST(getters)
{
    mpscl_matrix_descriptor d = mpscl_matrix_descriptor_make_batch(3, 5, 2, 24, 80, F16);
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make_batch(5, 3, 48, F64);
    /* 168 bytes: both objects end exactly at the end of the buffer (offset + extent = size),
     * the boundary next to the OUT_OF_RANGE rows of the validation tables. */
    cl_mem buf = test_buffer_create(NULL, 168);
    mpscl_matrix *m = NULL, *own = NULL;
    mpscl_vector *v = NULL;

    ASSERT_OK(mpscl_matrix_create_with_buffer(test_device, buf, 30, &d, &m));
    ck_assert_uint_eq(mpscl_matrix_rows(m), 3);
    ck_assert_uint_eq(mpscl_matrix_columns(m), 5);
    ck_assert_uint_eq(mpscl_matrix_matrices(m), 2);
    ck_assert_uint_eq(mpscl_matrix_row_bytes(m), 24);
    ck_assert_uint_eq(mpscl_matrix_matrix_bytes(m), 80);
    ck_assert_int_eq(mpscl_matrix_data_type(m), F16);
    ck_assert_uint_eq(mpscl_matrix_offset(m), 30);
    ck_assert_ptr_eq(mpscl_matrix_buffer(m), buf);
    ck_assert_ptr_eq(mpscl_matrix_device(m), test_device);

    ASSERT_OK(mpscl_vector_create_with_buffer(test_device, buf, 32, &vd, &v));
    ck_assert_uint_eq(mpscl_vector_length(v), 5);
    ck_assert_uint_eq(mpscl_vector_vectors(v), 3);
    ck_assert_uint_eq(mpscl_vector_vector_bytes(v), 48);
    ck_assert_int_eq(mpscl_vector_data_type(v), F64);
    ck_assert_uint_eq(mpscl_vector_offset(v), 32);
    ck_assert_ptr_eq(mpscl_vector_buffer(v), buf);
    ck_assert_ptr_eq(mpscl_vector_device(v), test_device);

    /* A library buffer starts at offset 0 in the device's context. */
    d = mpscl_matrix_descriptor_make(2, 3, 64, F32);
    ASSERT_OK(mpscl_matrix_create(test_device, &d, &own));
    ck_assert_uint_eq(mpscl_matrix_offset(own), 0);
    ck_assert_uint_eq(mpscl_matrix_matrix_bytes(own), 128);
    {
        cl_context ctx = NULL;
        ck_assert_int_eq(clGetMemObjectInfo(mpscl_matrix_buffer(own), CL_MEM_CONTEXT, sizeof ctx,
                                            &ctx, NULL), CL_SUCCESS);
        ck_assert_ptr_eq(ctx, mpscl_device_cl_context(test_device));
    }
    mpscl_matrix_release(own);
    mpscl_vector_release(v);
    mpscl_matrix_release(m);
    ck_assert_int_eq(clReleaseMemObject(buf), CL_SUCCESS);
}
END_TEST

START_TEST(null_getters)
{
    /* Getters never fail: a NULL object reads as 0 / NULL. */
    ck_assert(mpscl_matrix_rows(NULL) == 0 && mpscl_matrix_columns(NULL) == 0 &&
              mpscl_matrix_matrices(NULL) == 0 && mpscl_matrix_row_bytes(NULL) == 0 &&
              mpscl_matrix_matrix_bytes(NULL) == 0 && mpscl_matrix_data_type(NULL) == 0 &&
              mpscl_matrix_offset(NULL) == 0 && mpscl_matrix_buffer(NULL) == NULL &&
              mpscl_matrix_device(NULL) == NULL && mpscl_matrix_retain(NULL) == NULL);
    ck_assert(mpscl_vector_length(NULL) == 0 && mpscl_vector_vectors(NULL) == 0 &&
              mpscl_vector_vector_bytes(NULL) == 0 && mpscl_vector_data_type(NULL) == 0 &&
              mpscl_vector_offset(NULL) == 0 && mpscl_vector_buffer(NULL) == NULL &&
              mpscl_vector_device(NULL) == NULL && mpscl_vector_retain(NULL) == NULL);
    mpscl_matrix_release(NULL);
    mpscl_vector_release(NULL);
}
END_TEST

START_TEST(matrix_keeps_device)
{
    mpscl_device *d = NULL;
    mpscl_matrix_descriptor md = mpscl_matrix_descriptor_make(3, 2, 64, F32);
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make(3, F32);
    mpscl_matrix *m = NULL;
    mpscl_vector *v = NULL;
    float in[6] = {1, -2, 3.5f, 4, -5, 6}, out[6] = {0};

    ASSERT_OK(mpscl_device_create_default(&d));
    ASSERT_OK(mpscl_matrix_create(d, &md, &m));
    ASSERT_OK(mpscl_vector_create(d, &vd, &v));
    /* Our reference goes; the objects' references must keep the device (and its context and
     * transfer queue) working. Under valgrind a missing retain is a use after free here. */
    mpscl_device_release(d);
    ck_assert_str_ne(mpscl_device_name(mpscl_matrix_device(m)), "");
    ASSERT_OK(mpscl_matrix_write(m, in, 2 * sizeof(float)));
    ASSERT_OK(mpscl_matrix_read(m, out, 2 * sizeof(float)));
    ck_assert_mem_eq(in, out, sizeof in);
    mpscl_matrix_release(m);
    memset(out, 0, sizeof out);
    ASSERT_OK(mpscl_vector_write(v, in));
    ASSERT_OK(mpscl_vector_read(v, out));
    ck_assert_mem_eq(in, out, 3 * sizeof(float));
    mpscl_vector_release(v);
}
END_TEST

START_TEST(refcounts)
{
    mpscl_matrix_descriptor md = mpscl_matrix_descriptor_make(2, 2, 8, F32);
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make(4, F32);
    cl_mem buf = test_buffer_create(NULL, 64);
    mpscl_matrix *m = NULL;
    mpscl_vector *v = NULL;

    /* The user buffer's count shows when each object really lets go. */
    ASSERT_OK(mpscl_matrix_create_with_buffer(test_device, buf, 0, &md, &m));
    ck_assert_uint_eq(mem_refs(buf), 2);
    ck_assert_ptr_eq(mpscl_matrix_retain(m), m);
    mpscl_matrix_release(m);
    ck_assert_uint_eq(mem_refs(buf), 2);
    ck_assert_uint_eq(mpscl_matrix_rows(m), 2);
    ASSERT_OK(mpscl_vector_create_with_buffer(test_device, buf, 32, &vd, &v));
    ck_assert_uint_eq(mem_refs(buf), 3);
    ck_assert_ptr_eq(mpscl_vector_retain(v), v);
    mpscl_vector_release(v);
    ck_assert_uint_eq(mem_refs(buf), 3);
    mpscl_vector_release(v);
    ck_assert_uint_eq(mem_refs(buf), 2);
    mpscl_matrix_release(m);
    ck_assert_uint_eq(mem_refs(buf), 1);
    ck_assert_int_eq(clReleaseMemObject(buf), CL_SUCCESS);
}
END_TEST

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *
matrix_suite(void)
{
    Suite *s = suite_create("matrix");
    TCase *tc = tcase_create("descriptors");

    tcase_add_test(tc, descriptor_helpers);
    tcase_add_test(tc, row_bytes_from_columns);
    tcase_add_test(tc, null_getters);
    suite_add_tcase(s, tc);

    tc = tcase_create("copies");
    tcase_add_checked_fixture(tc, test_device_setup, test_device_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, round_trips, 0, COUNT(copy_cases));
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, test_device_setup, test_device_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, matrix_refused, 0, COUNT(matrix_bad));
    tcase_add_loop_test(tc, vector_refused, 0, COUNT(vector_bad));
    tcase_add_test(tc, null_arguments);
    tcase_add_test(tc, buffer_of_another_context);
    tcase_add_test(tc, copy_refused);
    suite_add_tcase(s, tc);

    tc = tcase_create("core");
    tcase_add_checked_fixture(tc, test_device_setup, test_device_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, getters);
    tcase_add_test(tc, matrix_keeps_device);
    tcase_add_test(tc, refcounts);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return test_run_suite(matrix_suite());
}
