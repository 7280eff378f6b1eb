/* The test-side archive encoder and property-set helpers of tests/archive.h. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "archive.h"
#include "util.h"

/* ---- a test-side encoder, written from docs/FORMAT.md alone ---- */

uint32_t
crc32_ref(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int b = 0; b < 8; b++)
            c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
    }
    return ~c;
}

static void
le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

uint32_t
bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

uint64_t
u64_of_size(size_t v)
{
    return v == SIZE_MAX ? UINT64_MAX : (uint64_t)v;
}

/* Writes the archive into buf (HEADER + FIXED + LABEL_MAX + CHECKSUM bytes); returns its size. */
size_t
raw_encode(const raw *r, unsigned char *buf)
{
    unsigned char *p = buf + HEADER;
    size_t fixed = r->version == 1 ? FIXED_V1 : r->version == 2 ? FIXED_V2 : FIXED;
    size_t payload = fixed + r->label_bytes;

    memcpy(buf, "MPBN", 4);
    le(buf + 4, r->version, 4);
    le(buf + 8, r->kind, 4);
    le(p + 0, r->epsilon, 4);
    le(p + 4, r->vectors, 8);
    le(p + 12, r->channels, 8);
    le(p + 20, r->neuron, 4);
    le(p + 24, r->a, 4);
    le(p + 28, r->b, 4);
    le(p + 32, r->c, 4);
    for (int i = 0; i < 9; i++)
        le(p + 36 + 8 * i, r->origins[i], 8);
    le(p + 108, r->batch_start, 8);
    le(p + 116, r->batch_size, 8);
    p[124] = r->stats;
    p[125] = r->label_present;
    le(p + 126, r->label_length, 4);
    if (r->version != 1)
        le(p + 130, r->kind_field, 4);
    if (r->version != 1 && r->version != 2)
        le(p + 134, r->repro, 4);
    memcpy(p + fixed, r->label, r->label_bytes);
    if (r->cut_payload != 0)
        payload = r->cut_payload;
    le(buf + 12, payload, 4);
    le(buf + HEADER + payload, crc32_ref(buf, HEADER + payload), 4);
    return HEADER + payload + CHECKSUM;
}

/* ---- property sets ---- */

void
props_default(props *p)
{
    memset(p, 0, sizeof *p);
    p->epsilon = FLT_MIN;
    p->vectors = p->channels = p->batch_size = SIZE_MAX;
    p->momentum = 0.1f;
}

raw
props_raw(const props *p, int gradient)
{
    raw r = {VERSION, gradient ? KIND_GRADIENT : KIND_FORWARD, bits(p->epsilon),
             (uint32_t)p->neuron, bits(p->a), bits(p->b), bits(p->c), u64_of_size(p->vectors),
             u64_of_size(p->channels), {0}, u64_of_size(p->batch_start),
             u64_of_size(p->batch_size), (uint8_t)(gradient ? 0 : p->stats),
             (uint8_t)p->has_label, 0, gradient ? (uint32_t)p->frozen : bits(p->momentum),
             (uint32_t)p->repro, p->label, 0, 0};

    for (int s = 0; s < 3; s++) {
        r.origins[3 * s] = u64_of_size(p->origins[s].x);
        r.origins[3 * s + 1] = u64_of_size(p->origins[s].y);
        r.origins[3 * s + 2] = u64_of_size(p->origins[s].z);
    }
    if (p->has_label)
        r.label_length = (uint32_t)(r.label_bytes = strlen(p->label));
    return r;
}

static size_t
rng_size(uint64_t *rng)
{
    switch (test_rng_next(rng) % 4) {
    case 0: return SIZE_MAX;
    case 1: return (size_t)(test_rng_next(rng) % 100);
    case 2: return (size_t)test_rng_next(rng);
    default: return (size_t)(test_rng_next(rng) % 100000);
    }
}

/* A finite float from random bits (any sign, subnormals and -0 included). */
static float
rng_finite(uint64_t *rng)
{
    for (;;) {
        uint32_t u = (uint32_t)test_rng_next(rng);
        float f;
        memcpy(&f, &u, 4);
        if (isfinite(f))
            return test_rng_next(rng) % 2 ? f : test_rng_uniform(rng, -4, 4);
    }
}

void
props_random(props *p, uint64_t *rng, int gradient)
{
    props_default(p);
    switch (test_rng_next(rng) % 4) {
    case 0: p->epsilon = FLT_MIN; break;
    case 1: p->epsilon = test_rng_next(rng) % 2 ? 0.0f : -0.0f; break;
    case 2: p->epsilon = test_rng_uniform(rng, 0, 1); break;
    default: p->epsilon = fabsf(rng_finite(rng)); break;
    }
    p->vectors = rng_size(rng);
    p->channels = rng_size(rng);
    do
        p->neuron = (mpscl_neuron_type)(test_rng_next(rng) % (MPSCL_NEURON_GELU + 1));
    while (p->neuron == MPSCL_NEURON_PRELU);
    p->a = rng_finite(rng);
    p->b = rng_finite(rng);
    p->c = rng_finite(rng);
    for (int s = 0; s < 3; s++) {
        if (!gradient && s == 1)
            continue;
        p->origins[s].x = rng_size(rng);
        p->origins[s].y = rng_size(rng);
    }
    p->batch_start = rng_size(rng);
    p->batch_size = rng_size(rng);
    p->stats = gradient ? 0 : (int)(test_rng_next(rng) % 2);
    if (!gradient)
        switch (test_rng_next(rng) % 4) {
        case 0: p->momentum = 0.1f; break;
        case 1: p->momentum = (float)(test_rng_next(rng) % 2); break;    /* 0 or 1 */
        case 2: p->momentum = -0.0f; break;
        default: p->momentum = test_rng_uniform(rng, 0, 1); break;
        }
    p->repro = (int)(test_rng_next(rng) % 2);
    switch (test_rng_next(rng) % 3) {
    case 0: break;                               /* NULL */
    case 1: p->has_label = 1; break;             /* "" */
    default: {
        size_t n = 1 + test_rng_next(rng) % LABEL_MAX;
        p->has_label = 1;
        for (size_t i = 0; i < n; i++)
            p->label[i] = (char)(1 + test_rng_next(rng) % 255);
        p->label[n] = '\0';
    }
    }
}

/* ---- both kinds behind one interface ---- */

void *
kernel_create(int gradient)
{
    void *k = NULL;
    if (gradient)
        ASSERT_OK(mpscl_matrix_batch_normalization_gradient_create(test_device, (grad_k **)&k));
    else
        ASSERT_OK(mpscl_matrix_batch_normalization_create(test_device, (fwd_k **)&k));
    return k;
}

void
kernel_release(int gradient, void *k)
{
    if (gradient)
        mpscl_matrix_batch_normalization_gradient_release(k);
    else
        mpscl_matrix_batch_normalization_release(k);
}

mpscl_status
kernel_serialize(int gradient, const void *k, void **bytes, size_t *size)
{
    return gradient ? mpscl_matrix_batch_normalization_gradient_serialize(k, bytes, size)
                    : mpscl_matrix_batch_normalization_serialize(k, bytes, size);
}

mpscl_status
kernel_decode(int gradient, const void *bytes, size_t size, void **out)
{
    return gradient ? mpscl_matrix_batch_normalization_gradient_create_from_bytes(
                          test_device, bytes, size, (grad_k **)out)
                    : mpscl_matrix_batch_normalization_create_from_bytes(test_device, bytes,
                                                                         size, (fwd_k **)out);
}

mpscl_status
kernel_copy(int gradient, const void *k, void **out)
{
    return gradient ? mpscl_matrix_batch_normalization_gradient_copy(k, NULL, (grad_k **)out)
                    : mpscl_matrix_batch_normalization_copy(k, NULL, (fwd_k **)out);
}

void
props_set(int gradient, void *k, const props *p)
{
    const char *label = p->has_label ? p->label : NULL;
    if (gradient) {
        ASSERT_OK(G(set_epsilon)(k, p->epsilon));
        ASSERT_OK(G(set_source_number_of_feature_vectors)(k, p->vectors));
        ASSERT_OK(G(set_source_input_feature_channels)(k, p->channels));
        ASSERT_OK(G(set_neuron_type)(k, p->neuron, p->a, p->b, p->c));
        ASSERT_OK(G(set_primary_source_matrix_origin)(k, p->origins[0]));
        ASSERT_OK(G(set_secondary_source_matrix_origin)(k, p->origins[1]));
        ASSERT_OK(G(set_result_matrix_origin)(k, p->origins[2]));
        ASSERT_OK(G(set_batch_start)(k, p->batch_start));
        ASSERT_OK(G(set_batch_size)(k, p->batch_size));
        ASSERT_OK(G(set_label)(k, label));
        ASSERT_OK(G(set_reproducible)(k, p->repro));
    } else {
        ASSERT_OK(F(set_epsilon)(k, p->epsilon));
        ASSERT_OK(F(set_source_number_of_feature_vectors)(k, p->vectors));
        ASSERT_OK(F(set_source_input_feature_channels)(k, p->channels));
        ASSERT_OK(F(set_neuron_type)(k, p->neuron, p->a, p->b, p->c));
        ASSERT_OK(F(set_source_matrix_origin)(k, p->origins[0]));
        ASSERT_OK(F(set_result_matrix_origin)(k, p->origins[2]));
        ASSERT_OK(F(set_batch_start)(k, p->batch_start));
        ASSERT_OK(F(set_batch_size)(k, p->batch_size));
        ASSERT_OK(F(set_compute_statistics)(k, p->stats));
        ASSERT_OK(F(set_momentum)(k, p->momentum));
        ASSERT_OK(F(set_label)(k, label));
        ASSERT_OK(F(set_reproducible)(k, p->repro));
    }
}

void
props_get(int gradient, const void *k, props *p)
{
    const char *label;

    memset(p, 0, sizeof *p);
    if (gradient) {
        p->epsilon = G(epsilon)(k);
        p->vectors = G(source_number_of_feature_vectors)(k);
        p->channels = G(source_input_feature_channels)(k);
        p->neuron = G(neuron_type)(k);
        p->a = G(neuron_parameter_a)(k);
        p->b = G(neuron_parameter_b)(k);
        p->c = G(neuron_parameter_c)(k);
        p->origins[0] = G(primary_source_matrix_origin)(k);
        p->origins[1] = G(secondary_source_matrix_origin)(k);
        p->origins[2] = G(result_matrix_origin)(k);
        p->batch_start = G(batch_start)(k);
        p->batch_size = G(batch_size)(k);
        p->momentum = 0.1f;      /* no such property on the gradient: props_default's */
        p->repro = G(reproducible)(k);
        label = G(label)(k);
    } else {
        p->epsilon = F(epsilon)(k);
        p->vectors = F(source_number_of_feature_vectors)(k);
        p->channels = F(source_input_feature_channels)(k);
        p->neuron = F(neuron_type)(k);
        p->a = F(neuron_parameter_a)(k);
        p->b = F(neuron_parameter_b)(k);
        p->c = F(neuron_parameter_c)(k);
        p->origins[0] = F(source_matrix_origin)(k);
        p->origins[2] = F(result_matrix_origin)(k);
        p->batch_start = F(batch_start)(k);
        p->batch_size = F(batch_size)(k);
        p->stats = F(compute_statistics)(k);
        p->momentum = F(momentum)(k);
        p->repro = F(reproducible)(k);
        label = F(label)(k);
    }
    if (label != NULL) {
        ck_assert_uint_le(strlen(label), LABEL_MAX);
        p->has_label = 1;
        strcpy(p->label, label);
    }
}

/* Field by field, floats by their bits; `where` names the set on failure. */
void
props_assert_equal(const props *x, const props *y, const char *where)
{
    ck_assert_msg(bits(x->epsilon) == bits(y->epsilon), "%s: epsilon %a != %a", where,
                  (double)x->epsilon, (double)y->epsilon);
    ck_assert_msg(x->vectors == y->vectors && x->channels == y->channels,
                  "%s: feature counts differ", where);
    ck_assert_msg(x->neuron == y->neuron && bits(x->a) == bits(y->a) && bits(x->b) == bits(y->b) &&
                      bits(x->c) == bits(y->c),
                  "%s: neuron differs (%d vs %d)", where, (int)x->neuron, (int)y->neuron);
    for (int s = 0; s < 3; s++)
        ck_assert_msg(x->origins[s].x == y->origins[s].x && x->origins[s].y == y->origins[s].y &&
                          x->origins[s].z == y->origins[s].z,
                      "%s: origin slot %d differs", where, s);
    ck_assert_msg(x->batch_start == y->batch_start && x->batch_size == y->batch_size,
                  "%s: batch differs", where);
    ck_assert_msg(x->stats == y->stats, "%s: compute_statistics differs", where);
    ck_assert_msg(bits(x->momentum) == bits(y->momentum), "%s: momentum %a != %a", where,
                  (double)x->momentum, (double)y->momentum);
    ck_assert_msg(x->repro == y->repro, "%s: reproducible %d != %d", where, x->repro, y->repro);
    ck_assert_msg(x->has_label == y->has_label && strcmp(x->label, y->label) == 0,
                  "%s: label differs", where);
}
