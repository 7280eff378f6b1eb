/* Serialization of both kernel kinds (docs/FORMAT.md): round trips of random property sets,
 * byte-for-byte agreement with a test-side encoder written from the format document, bitwise
 * equal gradient results after decoding, copies, and every way a decoder must refuse its input. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive.h"
#include "util.h"

/* ---- round trips ---- */

START_TEST(test_crc_reference)
{
    /* The test-side CRC is the standard one: its published check value. */
    ck_assert_uint_eq(crc32_ref((const unsigned char *)"123456789", 9), 0xCBF43926u);
}
END_TEST

START_TEST(test_defaults_round_trip)
{
    int gradient = _i;
    void *k = kernel_create(gradient), *back = NULL, *bytes = NULL, *again = NULL;
    size_t size = 0, again_size = 0;
    props want, got;
    unsigned char ref[HEADER + FIXED + LABEL_MAX + CHECKSUM];
    raw r;

    props_default(&want);
    ASSERT_OK(kernel_serialize(gradient, k, &bytes, &size));
    ck_assert_uint_eq(size, HEADER + FIXED + CHECKSUM);
    r = props_raw(&want, gradient);
    ck_assert_uint_eq(raw_encode(&r, ref), size);
    ck_assert_msg(memcmp(ref, bytes, size) == 0, "defaults differ from the documented bytes");
    ASSERT_OK(kernel_decode(gradient, bytes, size, &back));
    ck_assert_ptr_nonnull(back);
    props_get(gradient, back, &got);
    props_assert_equal(&want, &got, "defaults");
    ASSERT_OK(kernel_serialize(gradient, back, &again, &again_size));
    ck_assert(again_size == size && memcmp(again, bytes, size) == 0);
    mpscl_free(bytes);
    mpscl_free(again);
    kernel_release(gradient, k);
    kernel_release(gradient, back);
}
END_TEST

/* 250 random sets per kind: the library's bytes equal the test encoder's, decode restores every
 * property, and re-serializing the decoded object gives the same bytes (canonical form). */
START_TEST(test_random_round_trips)
{
    int gradient = _i;
    uint64_t rng = 0x5E1A1u + (uint64_t)gradient;
    unsigned char ref[HEADER + FIXED + LABEL_MAX + CHECKSUM];

    for (int set = 0; set < 250; set++) {
        props want, got;
        void *k = kernel_create(gradient), *back = NULL, *bytes = NULL, *again = NULL;
        size_t size = 0, again_size = 0;
        char where[64];
        raw r;

        snprintf(where, sizeof where, "%s set %d", gradient ? "gradient" : "forward", set);
        props_random(&want, &rng, gradient);
        props_set(gradient, k, &want);
        ASSERT_OK(kernel_serialize(gradient, k, &bytes, &size));
        r = props_raw(&want, gradient);
        ck_assert_msg(raw_encode(&r, ref) == size && memcmp(ref, bytes, size) == 0,
                      "%s: bytes differ from docs/FORMAT.md", where);
        ASSERT_OK(kernel_decode(gradient, bytes, size, &back));
        props_get(gradient, back, &got);
        props_assert_equal(&want, &got, where);
        ASSERT_OK(kernel_serialize(gradient, back, &again, &again_size));
        ck_assert_msg(again_size == size && memcmp(again, bytes, size) == 0,
                      "%s: not canonical", where);
        mpscl_free(bytes);
        mpscl_free(again);
        kernel_release(gradient, k);
        kernel_release(gradient, back);
    }
}
END_TEST

/* ---- format version 1 (no momentum, no frozen_statistics) ---- */

static void expect_refused(int gradient, const unsigned char *bytes, size_t n, mpscl_status want,
                           const char *word, const char *where);

/* Version 1 and 2 archives, written by the test encoder in their layouts (version 1: the kind
 * field absent, the label right after byte 130 of the payload; version 2: the reproducible field
 * absent, the label after byte 134), are read with the newer properties' defaults (momentum 0.1,
 * frozen_statistics 0, reproducible 0), and written back as version 3. */
START_TEST(test_version1_read)
{
    int gradient = _i;
    uint64_t rng = 0x7E51u + (uint64_t)gradient;
    unsigned char v1[HEADER + FIXED + LABEL_MAX + CHECKSUM], v2[sizeof v1];

    for (int set = 0; set < 50; set++) {
        props want, got;
        void *back = NULL, *bytes = NULL;
        size_t size = 0, n1, n2;
        char where[64];
        raw r;

        uint32_t version = 1 + (uint32_t)(set % 2);
        snprintf(where, sizeof where, "%s v%u set %d", gradient ? "gradient" : "forward",
                 (unsigned)version, set);
        props_random(&want, &rng, gradient);
        if (version == 1)
            want.momentum = 0.1f;
        want.repro = 0;
        r = props_raw(&want, gradient);
        r.version = version;
        if (version == 1)
            r.kind_field = 0xFFFFFFFFu;    /* version 1 has no such field: never written */
        r.repro = 0xFFFFFFFFu;             /* nor version 2 this one */
        n1 = raw_encode(&r, v1);
        ck_assert_uint_eq(n1, HEADER + (version == 1 ? FIXED_V1 : FIXED_V2) + r.label_bytes +
                                  CHECKSUM);
        ASSERT_OK(kernel_decode(gradient, v1, n1, &back));
        props_get(gradient, back, &got);
        props_assert_equal(&want, &got, where);
        ASSERT_OK(kernel_serialize(gradient, back, &bytes, &size));
        r = props_raw(&want, gradient);
        n2 = raw_encode(&r, v2);
        ck_assert_msg(size == n2 && memcmp(bytes, v2, n2) == 0,
                      "%s: not written back as the version 3 archive of its properties", where);
        mpscl_free(bytes);
        kernel_release(gradient, back);
    }
}
END_TEST

/* A version 1 archive is held to version 1's layout: one carrying version 2's kind field (4
 * bytes more than its label) has a label length that does not fill the payload. */
START_TEST(test_version1_layout)
{
    int gradient = _i;
    unsigned char buf[HEADER + FIXED + LABEL_MAX + CHECKSUM];
    props p;
    raw r;

    props_default(&p);
    p.has_label = 1;
    strcpy(p.label, "v1");
    r = props_raw(&p, gradient);
    r.version = 1;
    r.label = "\0\0\0\0v1";        /* version 2's field written where version 1's label is */
    r.label_bytes = 6;
    expect_refused(gradient, buf, raw_encode(&r, buf), MPSCL_ERROR_CORRUPT_DATA, "label length",
                   "v1 with a kind field");
    /* and a version 1 payload shorter than its 130 fixed bytes */
    r = props_raw(&p, gradient);
    r.version = 1;
    r.cut_payload = FIXED_V1 - 1;
    expect_refused(gradient, buf, raw_encode(&r, buf), MPSCL_ERROR_CORRUPT_DATA, "payload",
                   "v1 short payload");
}
END_TEST

/* The gradient's frozen_statistics (no public setter here): a version 2 archive with the flag
 * set decodes, and writes back the same bytes, so the object kept it. */
START_TEST(test_frozen_statistics_round_trip)
{
    unsigned char buf[HEADER + FIXED + LABEL_MAX + CHECKSUM];
    uint64_t rng = 0xF0F0u;
    void *back = NULL, *bytes = NULL, *copy = NULL, *again = NULL;
    size_t size = 0, n, again_size = 0;
    props p;
    raw r;

    props_random(&p, &rng, 1);
    p.frozen = 1;
    r = props_raw(&p, 1);
    ck_assert_uint_eq(r.kind_field, 1);
    n = raw_encode(&r, buf);
    ASSERT_OK(kernel_decode(1, buf, n, &back));
    ASSERT_OK(kernel_serialize(1, back, &bytes, &size));
    ck_assert_msg(size == n && memcmp(bytes, buf, n) == 0, "frozen_statistics not kept");
    /* and a copy keeps it */
    ASSERT_OK(kernel_copy(1, back, &copy));
    ASSERT_OK(kernel_serialize(1, copy, &again, &again_size));
    ck_assert(again_size == n && memcmp(again, buf, n) == 0);
    mpscl_free(bytes);
    mpscl_free(again);
    kernel_release(1, back);
    kernel_release(1, copy);
}
END_TEST

/* ---- a decoded gradient computes bitwise what the original computes ---- */

enum { GR = 37, GC = 5 };

static mpscl_matrix *
matrix_with(size_t rows, size_t cols, const float *values)
{
    mpscl_matrix_descriptor d =
        mpscl_matrix_descriptor_make(rows, cols, cols * sizeof(float), MPSCL_DATA_TYPE_FLOAT32);
    mpscl_matrix *m;

    ASSERT_OK(mpscl_matrix_create(test_device, &d, &m));
    ASSERT_OK(mpscl_matrix_write(m, values, cols * sizeof(float)));
    return m;
}

static mpscl_vector *
vector_with(size_t len, const float *values)
{
    mpscl_vector_descriptor d = mpscl_vector_descriptor_make(len, MPSCL_DATA_TYPE_FLOAT32);
    mpscl_vector *v;

    ASSERT_OK(mpscl_vector_create(test_device, &d, &v));
    ASSERT_OK(mpscl_vector_write(v, values));
    return v;
}

/* Runs k on the operands into fresh outputs filled with a NaN pattern; returns them in out. */
static void
run_gradient(grad_k *k, mpscl_matrix *dy, mpscl_matrix *x, mpscl_vector *const vec[4],
             float dx[GR * GC], float dg[GC], float db[GC])
{
    float init[GR * GC];
    mpscl_matrix *mdx;
    mpscl_vector *vdg, *vdb;
    mpscl_command_buffer *cb;

    for (size_t i = 0; i < GR * GC; i++)
        init[i] = NAN;
    mdx = matrix_with(GR, GC, init);
    vdg = vector_with(GC, init);
    vdb = vector_with(GC, init);
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    ASSERT_OK(G(encode)(k, cb, dy, x, vec[0], vec[1], vec[2], vec[3], mdx, vdg, vdb));
    ASSERT_OK(mpscl_command_buffer_commit(cb));
    ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb));
    ASSERT_OK(mpscl_matrix_read(mdx, dx, GC * sizeof(float)));
    ASSERT_OK(mpscl_vector_read(vdg, dg));
    ASSERT_OK(mpscl_vector_read(vdb, db));
    mpscl_command_buffer_release(cb);
    mpscl_matrix_release(mdx);
    mpscl_vector_release(vdg);
    mpscl_vector_release(vdb);
}

START_TEST(test_decoded_gradient_bitwise)
{
    /* gradient 38 x 5 at primary origin (1, 0), input 39 x 6 at secondary origin (2, 1): the
     * region is 37 x 5, and every property the encode reads is off its default. */
    float dyv[38 * 5], xv[39 * 6], mean[GC], var[GC], gamma[GC], beta[GC];
    float dx1[GR * GC], dg1[GC], db1[GC], dx2[GR * GC], dg2[GC], db2[GC];
    uint64_t rng = 37;
    grad_k *k, *back = NULL;
    mpscl_matrix *dy, *x;
    mpscl_vector *vec[4];
    void *bytes;
    size_t size;

    for (size_t i = 0; i < 38 * 5; i++)
        dyv[i] = test_rng_uniform(&rng, -1, 1);
    for (size_t i = 0; i < 39 * 6; i++)
        xv[i] = test_rng_uniform(&rng, -3, 5);
    for (size_t j = 0; j < GC; j++) {
        mean[j] = test_rng_uniform(&rng, 0, 2);
        var[j] = test_rng_uniform(&rng, 0.5f, 4);
        gamma[j] = test_rng_uniform(&rng, 0.5f, 2);
        beta[j] = test_rng_uniform(&rng, -1, 1);
    }
    dy = matrix_with(38, 5, dyv);
    x = matrix_with(39, 6, xv);
    vec[0] = vector_with(GC, mean);
    vec[1] = vector_with(GC, var);
    vec[2] = vector_with(GC, gamma);
    vec[3] = vector_with(GC, beta);

    ASSERT_OK(G(create)(test_device, &k));
    ASSERT_OK(G(set_epsilon)(k, 1e-3f));
    ASSERT_OK(G(set_neuron_type)(k, MPSCL_NEURON_TANH, 1.5f, 0.75f, 0.0f));
    ASSERT_OK(G(set_primary_source_matrix_origin)(k, (mpscl_origin){1, 0, 0}));
    ASSERT_OK(G(set_secondary_source_matrix_origin)(k, (mpscl_origin){2, 1, 0}));
    ASSERT_OK(G(set_source_number_of_feature_vectors)(k, 1000));
    ASSERT_OK(G(set_label)(k, "serialized gradient"));
    ASSERT_OK(G(serialize)(k, &bytes, &size));
    ASSERT_OK(G(create_from_bytes)(test_device, bytes, size, &back));
    mpscl_free(bytes);

    run_gradient(k, dy, x, vec, dx1, dg1, db1);
    run_gradient(back, dy, x, vec, dx2, dg2, db2);
    for (size_t i = 0; i < GR * GC; i++)
        ck_assert_msg(isfinite(dx1[i]), "dx[%zu] was not written", i);
    for (size_t j = 0; j < GC; j++)
        ck_assert(isfinite(dg1[j]) && isfinite(db1[j]));
    ck_assert_msg(memcmp(dx1, dx2, sizeof dx1) == 0, "dx differs after decoding");
    ck_assert_msg(memcmp(dg1, dg2, sizeof dg1) == 0, "dgamma differs after decoding");
    ck_assert_msg(memcmp(db1, db2, sizeof db1) == 0, "dbeta differs after decoding");

    G(release)(k);
    G(release)(back);
    mpscl_matrix_release(dy);
    mpscl_matrix_release(x);
    for (int i = 0; i < 4; i++)
        mpscl_vector_release(vec[i]);
}
END_TEST

/* ---- copies ---- */

START_TEST(test_copy_keeps_properties_shares_nothing)
{
    int gradient = _i;
    uint64_t rng = 0xC0FFEEu + (uint64_t)gradient;

    for (int set = 0; set < 50; set++) {
        props want, got, other;
        void *k = kernel_create(gradient), *copy = NULL;
        char where[64];

        snprintf(where, sizeof where, "%s copy %d", gradient ? "gradient" : "forward", set);
        props_random(&want, &rng, gradient);
        props_set(gradient, k, &want);
        ASSERT_OK(kernel_copy(gradient, k, &copy));
        props_get(gradient, copy, &got);
        props_assert_equal(&want, &got, where);
        if (want.has_label)
            ck_assert_ptr_ne(gradient ? G(label)(k) : F(label)(k),
                             gradient ? G(label)(copy) : F(label)(copy));
        /* Every property of the copy changed: the original keeps its own. */
        props_random(&other, &rng, gradient);
        other.epsilon = want.epsilon + 1.0f;
        props_set(gradient, copy, &other);
        props_get(gradient, k, &got);
        props_assert_equal(&want, &got, where);
        kernel_release(gradient, copy);
        props_get(gradient, k, &got);
        props_assert_equal(&want, &got, where);
        kernel_release(gradient, k);
    }
}
END_TEST

/* ---- refusals ---- */

/* A valid archive of kind `gradient` with every field off its default and a label. */
static size_t
sample_archive(int gradient, unsigned char *buf)
{
    props p;
    raw r;
    uint64_t rng = 99;

    props_random(&p, &rng, gradient);
    p.has_label = 1;
    strcpy(p.label, "sample label");
    r = props_raw(&p, gradient);
    return raw_encode(&r, buf);
}

/* Decodes a heap copy of exactly n bytes (so ASan sees any overread) and expects `want`, *out
 * NULL, and a message naming `word` (NULL: any). */
static void
expect_refused(int gradient, const unsigned char *bytes, size_t n, mpscl_status want,
               const char *word, const char *where)
{
    unsigned char *copy = malloc(n > 0 ? n : 1);
    void *out = (void *)&out;    /* not NULL: the decoder must clear it */
    mpscl_status s;

    ck_assert_ptr_nonnull(copy);
    memcpy(copy, bytes, n);
    s = kernel_decode(gradient, copy, n, &out);
    free(copy);
    ck_assert_msg(s == want, "%s: got %s, want %s: %s", where, mpscl_status_string(s),
                  mpscl_status_string(want), mpscl_last_error_message());
    ck_assert_msg(out == NULL, "%s: *out not NULL after a failure", where);
    if (word != NULL)
        ck_assert_msg(strstr(mpscl_last_error_message(), word) != NULL,
                      "%s: message \"%s\" does not name \"%s\"", where,
                      mpscl_last_error_message(), word);
}

START_TEST(test_cross_kind)
{
    int gradient = _i;
    unsigned char buf[HEADER + FIXED + LABEL_MAX + CHECKSUM];
    void *k = kernel_create(gradient), *bytes;
    size_t size;

    ASSERT_OK(kernel_serialize(gradient, k, &bytes, &size));
    expect_refused(!gradient, bytes, size, MPSCL_ERROR_CORRUPT_DATA, "kind", "default archive");
    size = sample_archive(gradient, buf);
    expect_refused(!gradient, buf, size, MPSCL_ERROR_CORRUPT_DATA, "kind", "sample archive");
    mpscl_free(bytes);
    kernel_release(gradient, k);
}
END_TEST

START_TEST(test_truncation_at_every_length)
{
    int gradient = _i;
    unsigned char buf[HEADER + FIXED + LABEL_MAX + CHECKSUM];
    size_t size = sample_archive(gradient, buf);
    char where[64];

    for (size_t n = 0; n < size; n++) {
        snprintf(where, sizeof where, "truncated to %zu of %zu", n, size);
        expect_refused(gradient, buf, n, MPSCL_ERROR_CORRUPT_DATA, NULL, where);
    }
}
END_TEST

START_TEST(test_every_bit_flip)
{
    int gradient = _i;
    unsigned char buf[HEADER + FIXED + LABEL_MAX + CHECKSUM];
    size_t size = sample_archive(gradient, buf);
    char where[64];

    for (size_t bit = 0; bit < 8 * size; bit++) {
        mpscl_status want = MPSCL_ERROR_CORRUPT_DATA;
        buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        /* A flip that raises the version field reads as a newer format. */
        if (bit / 8 >= 4 && bit / 8 < 8 &&
            (buf[4] | buf[5] << 8 | buf[6] << 16 | (uint32_t)buf[7] << 24) > VERSION)
            want = MPSCL_ERROR_UNSUPPORTED;
        snprintf(where, sizeof where, "bit %zu flipped", bit);
        expect_refused(gradient, buf, size, want, NULL, where);
        buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
}
END_TEST

START_TEST(test_envelope)
{
    int gradient = _i;
    unsigned char buf[HEADER + FIXED + LABEL_MAX + CHECKSUM + 1];
    size_t size = sample_archive(gradient, buf);
    props p;
    raw r;

    /* trailing byte, even one that a lax decoder would ignore */
    buf[size] = 0;
    expect_refused(gradient, buf, size + 1, MPSCL_ERROR_CORRUPT_DATA, "trailing", "trailing");
    /* bad magic */
    buf[0] = 'X';
    expect_refused(gradient, buf, size, MPSCL_ERROR_CORRUPT_DATA, "magic", "magic");
    buf[0] = 'M';
    /* bad checksum */
    buf[size - 1] ^= 0x80;
    expect_refused(gradient, buf, size, MPSCL_ERROR_CORRUPT_DATA, "checksum", "checksum");
    buf[size - 1] ^= 0x80;
    /* versions: 4 and the largest are newer; 0 never existed (checksums valid throughout) */
    props_default(&p);
    r = props_raw(&p, gradient);
    r.version = VERSION + 1;
    expect_refused(gradient, buf, raw_encode(&r, buf), MPSCL_ERROR_UNSUPPORTED, "version", "v4");
    r.version = UINT32_MAX;
    expect_refused(gradient, buf, raw_encode(&r, buf), MPSCL_ERROR_UNSUPPORTED, "version",
                   "v max");
    r.version = 0;
    expect_refused(gradient, buf, raw_encode(&r, buf), MPSCL_ERROR_CORRUPT_DATA, "version", "v0");
    /* a version-4 archive of any shape is refused as newer, even a bare header */
    expect_refused(gradient, (const unsigned char *)"MPBN\4\0\0\0", 8, MPSCL_ERROR_UNSUPPORTED,
                   "version", "v4 header only");
    r.version = VERSION;
    /* unknown kinds */
    r.kind = 0;
    expect_refused(gradient, buf, raw_encode(&r, buf), MPSCL_ERROR_CORRUPT_DATA, "kind", "kind 0");
    r.kind = 3;
    expect_refused(gradient, buf, raw_encode(&r, buf), MPSCL_ERROR_CORRUPT_DATA, "kind", "kind 3");
    r.kind = gradient ? KIND_GRADIENT : KIND_FORWARD;
    /* a payload shorter than its fixed part, consistently sized and checksummed */
    r.cut_payload = 10;
    expect_refused(gradient, buf, raw_encode(&r, buf), MPSCL_ERROR_CORRUPT_DATA, "payload",
                   "short payload");
    r.cut_payload = 0;
    expect_refused(gradient, buf, raw_encode(&r, buf) - 4, MPSCL_ERROR_CORRUPT_DATA, "truncated",
                   "no checksum");
}
END_TEST

/* One field made invalid in a default archive whose checksum is then valid again. */
typedef struct semantic_case {
    const char *name;
    int kinds;                    /* 1 forward, 2 gradient, 3 both */
    void (*patch)(raw *r);
    const char *word;             /* the message must name the field */
} semantic_case;

#define PATCH(fname, body)                                                                     \
    static void fname(raw *r) { body; }
PATCH(eps_negative, r->epsilon = bits(-1.0f))
PATCH(eps_tiny_negative, r->epsilon = 0x80000001u)
PATCH(eps_nan, r->epsilon = 0x7FC00000u)
PATCH(eps_inf, r->epsilon = bits(INFINITY))
PATCH(neuron_16, r->neuron = 16)
PATCH(neuron_huge, r->neuron = 0x80000000u)
PATCH(neuron_prelu, r->neuron = MPSCL_NEURON_PRELU)
PATCH(param_a_inf, r->a = bits(INFINITY))
PATCH(param_b_nan, r->b = 0xFFC00001u)
PATCH(param_c_ninf, r->c = bits(-INFINITY))
PATCH(origin0_z, r->origins[2] = 1)
PATCH(origin1_z, r->origins[5] = UINT64_MAX)
PATCH(origin2_z, r->origins[8] = 1ull << 40)
PATCH(fwd_secondary, r->origins[3] = 1)
PATCH(stats_2, r->stats = 2)
PATCH(stats_1, r->stats = 1)
PATCH(stats_255, r->stats = 255)
PATCH(label_flag_2, (r->label_present = 2, r->label = "ab", r->label_bytes = r->label_length = 2))
PATCH(label_past_end, (r->label_present = 1, r->label = "abc", r->label_bytes = 3,
                       r->label_length = 4))
PATCH(label_past_end_huge, (r->label_present = 1, r->label_length = UINT32_MAX))
PATCH(label_short, (r->label_present = 1, r->label = "abc", r->label_bytes = 3,
                    r->label_length = 2))
PATCH(label_nul, (r->label_present = 1, r->label = "a\0c", r->label_bytes = r->label_length = 3))
PATCH(label_nul_last, (r->label_present = 1, r->label = "ab\0", r->label_bytes = 3,
                       r->label_length = 3))
PATCH(label_absent_len, (r->label_present = 0, r->label = "abc", r->label_bytes = 3,
                         r->label_length = 3))
PATCH(label_absent_len_only, (r->label_present = 0, r->label_length = 1))
PATCH(momentum_nan, r->kind_field = 0x7FC00000u)
PATCH(momentum_inf, r->kind_field = bits(INFINITY))
PATCH(momentum_negative, r->kind_field = bits(-0.5f))
PATCH(momentum_tiny_negative, r->kind_field = 0x80000001u)
PATCH(momentum_above_1, r->kind_field = 0x3F800001u)
PATCH(momentum_2, r->kind_field = bits(2.0f))
PATCH(frozen_2, r->kind_field = 2)
PATCH(frozen_max, r->kind_field = UINT32_MAX)
PATCH(repro_2, r->repro = 2)
PATCH(repro_max, r->repro = UINT32_MAX)

static const semantic_case semantic_cases[] = {
    {"negative epsilon", 3, eps_negative, "epsilon"},
    {"epsilon -denormal", 3, eps_tiny_negative, "epsilon"},
    {"NaN epsilon", 3, eps_nan, "epsilon"},
    {"infinite epsilon", 3, eps_inf, "epsilon"},
    {"neuron 16", 3, neuron_16, "neuron type"},
    {"neuron 2^31", 3, neuron_huge, "neuron type"},
    {"PRELU", 3, neuron_prelu, "PRELU"},
    {"infinite a", 3, param_a_inf, "neuron parameters"},
    {"NaN b", 3, param_b_nan, "neuron parameters"},
    {"-inf c", 3, param_c_ninf, "neuron parameters"},
    {"source origin z", 3, origin0_z, "origin"},
    {"secondary origin z", 3, origin1_z, "origin"},
    {"result origin z", 3, origin2_z, "result origin"},
    {"forward secondary origin", 1, fwd_secondary, "secondary"},
    {"compute_statistics 2", 1, stats_2, "compute_statistics"},
    {"compute_statistics 255", 1, stats_255, "compute_statistics"},
    {"gradient compute_statistics 1", 2, stats_1, "compute_statistics"},
    {"label flag 2", 3, label_flag_2, "label"},
    {"label length past the end", 3, label_past_end, "label length"},
    {"label length 2^32-1", 3, label_past_end_huge, "label length"},
    {"label length short", 3, label_short, "label length"},
    {"label with NUL", 3, label_nul, "NUL"},
    {"label ending in NUL", 3, label_nul_last, "NUL"},
    {"absent label with bytes", 3, label_absent_len, "label"},
    {"absent label with a length", 3, label_absent_len_only, "label"},
    {"NaN momentum", 1, momentum_nan, "momentum"},
    {"infinite momentum", 1, momentum_inf, "momentum"},
    {"negative momentum", 1, momentum_negative, "momentum"},
    {"momentum -denormal", 1, momentum_tiny_negative, "momentum"},
    {"momentum just above 1", 1, momentum_above_1, "momentum"},
    {"momentum 2", 1, momentum_2, "momentum"},
    {"frozen_statistics 2", 2, frozen_2, "frozen_statistics"},
    {"frozen_statistics 2^32-1", 2, frozen_max, "frozen_statistics"},
    {"reproducible 2", 3, repro_2, "reproducible"},
    {"reproducible 2^32-1", 3, repro_max, "reproducible"},
};

START_TEST(test_semantic_failures)
{
    const semantic_case *c = &semantic_cases[_i / 2];
    int gradient = _i % 2;
    unsigned char buf[HEADER + FIXED + LABEL_MAX + CHECKSUM];
    char where[96];
    props p;
    raw r;

    if (!(c->kinds & (gradient ? 2 : 1)))
        return;
    props_default(&p);
    r = props_raw(&p, gradient);
    c->patch(&r);
    snprintf(where, sizeof where, "%s (%s)", c->name, gradient ? "gradient" : "forward");
    expect_refused(gradient, buf, raw_encode(&r, buf), MPSCL_ERROR_CORRUPT_DATA, c->word, where);
}
END_TEST

START_TEST(test_null_arguments)
{
    int gradient = _i;
    void *k = kernel_create(gradient), *bytes = (void *)&bytes, *out = (void *)&out;
    size_t size = 7;
    unsigned char buf[HEADER + FIXED + LABEL_MAX + CHECKSUM];
    size_t n = sample_archive(gradient, buf);

    ASSERT_STATUS(kernel_serialize(gradient, NULL, &bytes, &size), MPSCL_ERROR_INVALID_ARGUMENT);
    ck_assert(bytes == NULL && size == 0);
    ASSERT_STATUS(kernel_serialize(gradient, k, NULL, &size), MPSCL_ERROR_INVALID_ARGUMENT);
    ck_assert_uint_eq(size, 0);
    ASSERT_STATUS(kernel_serialize(gradient, k, &bytes, NULL), MPSCL_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_null(bytes);
    ASSERT_STATUS(kernel_decode(gradient, NULL, n, &out), MPSCL_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_null(out);
    ASSERT_STATUS(kernel_decode(gradient, buf, n, NULL), MPSCL_ERROR_INVALID_ARGUMENT);
    out = (void *)&out;
    ASSERT_STATUS(gradient ? G(create_from_bytes)(NULL, buf, n, (grad_k **)&out)
                           : F(create_from_bytes)(NULL, buf, n, (fwd_k **)&out),
                  MPSCL_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_null(out);
    /* A successful call clears the previous failure's message. */
    ASSERT_OK(kernel_decode(gradient, buf, n, &out));
    ck_assert_str_eq(mpscl_last_error_message(), "");
    kernel_release(gradient, out);
    kernel_release(gradient, k);
}
END_TEST

static Suite *
serialize_suite(void)
{
    Suite *s = suite_create("serialize");
    TCase *core = tcase_create("core");
    TCase *err = tcase_create("errors");
    int nsem = (int)(sizeof semantic_cases / sizeof semantic_cases[0]);

    tcase_add_checked_fixture(core, test_device_setup, test_device_teardown);
    tcase_set_timeout(core, 120);
    tcase_add_test(core, test_crc_reference);
    tcase_add_loop_test(core, test_defaults_round_trip, 0, 2);
    tcase_add_loop_test(core, test_random_round_trips, 0, 2);
    tcase_add_test(core, test_decoded_gradient_bitwise);
    tcase_add_loop_test(core, test_copy_keeps_properties_shares_nothing, 0, 2);
    tcase_add_loop_test(core, test_version1_read, 0, 2);
    tcase_add_test(core, test_frozen_statistics_round_trip);
    suite_add_tcase(s, core);

    tcase_add_checked_fixture(err, test_device_setup, test_device_teardown);
    tcase_set_timeout(err, 60);
    tcase_add_loop_test(err, test_cross_kind, 0, 2);
    tcase_add_loop_test(err, test_truncation_at_every_length, 0, 2);
    tcase_add_loop_test(err, test_every_bit_flip, 0, 2);
    tcase_add_loop_test(err, test_envelope, 0, 2);
    tcase_add_loop_test(err, test_version1_layout, 0, 2);
    tcase_add_loop_test(err, test_semantic_failures, 0, 2 * nsem);
    tcase_add_loop_test(err, test_null_arguments, 0, 2);
    suite_add_tcase(s, err);
    return s;
}

int
main(void)
{
    return test_run_suite(serialize_suite());
}
