/* Serialization of the two batch-normalization kernel objects: the versioned little-endian
 * archive of docs/FORMAT.md, written with explicit byte shifts (the same bytes on every host) and
 * decoded without trusting a single byte. Owns the format constants and the CRC-32.
 *
 * Both public structs (bn_forward.c, bn_gradient.c) are `struct { mpscl__bn_kernel base; }`.
 * C11 6.7.2.1p15: a pointer to a structure, suitably converted, points to its initial member, so
 * casting the public pointer to mpscl__bn_kernel * is valid without seeing the struct here. */
#include "config.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bn_kernel.h"

/* Header: magic, version, kind, payload length; then the payload; then the CRC-32 of both. */
#define MAGIC_0 'M'
#define MAGIC_1 'P'
#define MAGIC_2 'B'
#define MAGIC_3 'N'
#define FORMAT_VERSION 3u
#define KIND_FORWARD 1u
#define KIND_GRADIENT 2u
#define HEADER_BYTES 16u
#define CHECKSUM_BYTES 4u

/* Payload offsets (docs/FORMAT.md has the same table). Version 2 adds P_KIND_FIELD before the
 * label, version 3 P_REPRODUCIBLE after it; an older version has the label where its fields
 * begin, and their values are the defaults. */
enum {
    P_EPSILON = 0,            /* u32: IEEE-754 binary32 bits */
    P_FEATURE_VECTORS = 4,    /* u64 */
    P_FEATURE_CHANNELS = 12,  /* u64 */
    P_NEURON = 20,            /* u32 type, then a, b, c as binary32 bits */
    P_NEURON_A = 24,
    P_NEURON_B = 28,
    P_NEURON_C = 32,
    P_ORIGINS = 36,           /* 3 slots x (x, y, z) u64: source/primary, secondary, result */
    P_BATCH_START = 108,      /* u64 */
    P_BATCH_SIZE = 116,       /* u64 */
    P_COMPUTE_STATS = 124,    /* u8: 0 or 1; always 0 for the gradient */
    P_LABEL_PRESENT = 125,    /* u8: 0 = NULL label, 1 = label of P_LABEL_LENGTH bytes */
    P_LABEL_LENGTH = 126,     /* u32, 0 when absent */
    P_FIXED_BYTES_V1 = 130,   /* version 1: the label's bytes follow */
    P_KIND_FIELD = 130,       /* u32: forward: momentum (binary32 bits); gradient:
                               * frozen_statistics, 0 or 1 */
    P_FIXED_BYTES_V2 = 134,   /* version 2: the label's bytes follow */
    P_REPRODUCIBLE = 134,     /* u32: reproducible, 0 or 1 (both kinds) */
    P_LABEL = 138,            /* the label's bytes, no NUL; the payload ends with them */
    P_FIXED_BYTES = 138
};

/* ---- little-endian primitives ---- */

static void
put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void
put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t
get_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static uint64_t
get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Floats travel as their binary32 bit pattern: memcpy between same-size scalars is the
 * defined way to reinterpret them (the struct layout is never copied). */
static uint32_t
float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float
bits_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* SIZE_MAX ("all", the default of the counts and batch_size) is written as UINT64_MAX, so an
 * archive means the same on hosts with a narrower size_t; elsewhere the value is unchanged. */
static uint64_t
size_to_u64(size_t v)
{
    return v == SIZE_MAX ? UINT64_MAX : (uint64_t)v;
}

/* CRC-32 of IEEE 802.3 / zlib / PNG: reflected polynomial 0xEDB88320, initial value and final
 * XOR 0xFFFFFFFF; CRC-32("123456789") = 0xCBF43926. Bitwise: archives are ~150 bytes, and no
 * table means no global state. */
static uint32_t
crc32_ieee(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int b = 0; b < 8; b++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}

/* ---- writing ---- */

static mpscl_status
serialize_kernel(const mpscl__bn_kernel *k, uint32_t kind, const char *fn, void **bytes,
                 size_t *size)
{
    size_t label_len = k->label != NULL ? strlen(k->label) : 0;
    size_t payload, total;
    unsigned char *buf, *p;

    /* The payload length is a u32: a label that large is refused rather than truncated. */
    if (label_len > UINT32_MAX - P_FIXED_BYTES - HEADER_BYTES - CHECKSUM_BYTES)
        return mpscl__fail(MPSCL_ERROR_UNSUPPORTED, CL_SUCCESS,
                           "%s: label of %zu bytes is longer than the format allows", fn,
                           label_len);
    payload = P_FIXED_BYTES + label_len;
    total = HEADER_BYTES + payload + CHECKSUM_BYTES;
    if ((buf = malloc(total)) == NULL)
        return mpscl__fail(MPSCL_ERROR_OUT_OF_HOST_MEMORY, CL_SUCCESS,
                           "%s: out of memory for %zu bytes", fn, total);

    buf[0] = MAGIC_0;
    buf[1] = MAGIC_1;
    buf[2] = MAGIC_2;
    buf[3] = MAGIC_3;
    put_u32(buf + 4, FORMAT_VERSION);
    put_u32(buf + 8, kind);
    put_u32(buf + 12, (uint32_t)payload);

    p = buf + HEADER_BYTES;
    put_u32(p + P_EPSILON, float_bits(k->epsilon));
    put_u64(p + P_FEATURE_VECTORS, size_to_u64(k->feature_vectors));
    put_u64(p + P_FEATURE_CHANNELS, size_to_u64(k->feature_channels));
    put_u32(p + P_NEURON, (uint32_t)k->neuron);
    put_u32(p + P_NEURON_A, float_bits(k->neuron_a));
    put_u32(p + P_NEURON_B, float_bits(k->neuron_b));
    put_u32(p + P_NEURON_C, float_bits(k->neuron_c));
    for (size_t s = 0; s < 3; s++) {
        put_u64(p + P_ORIGINS + 24 * s, size_to_u64(k->origins[s].x));
        put_u64(p + P_ORIGINS + 24 * s + 8, size_to_u64(k->origins[s].y));
        put_u64(p + P_ORIGINS + 24 * s + 16, size_to_u64(k->origins[s].z));
    }
    put_u64(p + P_BATCH_START, size_to_u64(k->batch_start));
    put_u64(p + P_BATCH_SIZE, size_to_u64(k->batch_size));
    p[P_COMPUTE_STATS] = kind == KIND_FORWARD && k->compute_statistics ? 1 : 0;
    p[P_LABEL_PRESENT] = k->label != NULL ? 1 : 0;
    put_u32(p + P_LABEL_LENGTH, (uint32_t)label_len);
    put_u32(p + P_KIND_FIELD, kind == KIND_FORWARD ? float_bits(k->momentum)
                                                   : (uint32_t)(k->frozen_statistics != 0));
    put_u32(p + P_REPRODUCIBLE, (uint32_t)(k->reproducible != 0));
    if (label_len > 0)
        memcpy(p + P_LABEL, k->label, label_len);
    put_u32(p + payload, crc32_ieee(buf, HEADER_BYTES + payload));

    *bytes = buf;
    *size = total;
    return MPSCL_SUCCESS;
}

static mpscl_status
serialize_entry(const mpscl__bn_kernel *k, uint32_t kind, const char *fn, void **bytes,
                size_t *size)
{
    mpscl__clear_error();
    if (bytes != NULL)
        *bytes = NULL;
    if (size != NULL)
        *size = 0;
    if (k == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, "%s: kernel is NULL", fn);
    if (bytes == NULL || size == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, "%s: %s is NULL", fn,
                           bytes == NULL ? "bytes" : "size");
    return serialize_kernel(k, kind, fn, bytes, size);
}

/* ---- reading ---- */

/* Every property of an archive, decoded and validated before any object exists. */
typedef struct decoded {
    float epsilon;
    size_t feature_vectors, feature_channels;
    mpscl_neuron_type neuron;
    float neuron_a, neuron_b, neuron_c;
    mpscl_origin origins[3];
    size_t batch_start, batch_size;
    int compute_statistics;
    float momentum;           /* forward */
    int frozen_statistics;    /* gradient */
    int reproducible;
    char *label;              /* owned; NULL for a NULL label */
} decoded;

static mpscl_status
corrupt(const char *fn, const char *what)
{
    return mpscl__fail(MPSCL_ERROR_CORRUPT_DATA, CL_SUCCESS, "%s: %s", fn, what);
}

/* A u64 size field: UINT64_MAX is SIZE_MAX; anything else must fit in size_t. */
static mpscl_status
get_size(const unsigned char *p, const char *fn, const char *field, size_t *out)
{
    uint64_t v = get_u64(p);

    if (v == UINT64_MAX) {
        *out = SIZE_MAX;
        return MPSCL_SUCCESS;
    }
    if (v >= (uint64_t)SIZE_MAX)
        return mpscl__fail(MPSCL_ERROR_UNSUPPORTED, CL_SUCCESS,
                           "%s: %s is %llu, more than this host's size_t holds", fn, field,
                           (unsigned long long)v);
    *out = (size_t)v;
    return MPSCL_SUCCESS;
}

static const char *const origin_names[2][3] = {
    {"source origin", "secondary origin slot", "result origin"},
    {"primary source origin", "secondary source origin", "result origin"},
};

/* Checks the envelope (magic, version, kind, length, checksum), then decodes and validates every
 * field of the payload into *d. On failure d->label is NULL. */
static mpscl_status
decode(const unsigned char *b, size_t size, uint32_t want_kind, const char *fn, decoded *d)
{
    const unsigned char *p;
    uint32_t version, kind, payload, neuron, label_len, fixed;
    mpscl_status s;
    int is_gradient = want_kind == KIND_GRADIENT;

    d->label = NULL;
    /* Magic and version come first: a future version may change everything after them. */
    if (size < 4)
        return mpscl__fail(MPSCL_ERROR_CORRUPT_DATA, CL_SUCCESS,
                           "%s: truncated: %zu bytes, the header has %u", fn, size, HEADER_BYTES);
    if (b[0] != MAGIC_0 || b[1] != MAGIC_1 || b[2] != MAGIC_2 || b[3] != MAGIC_3)
        return corrupt(fn, "magic is not \"MPBN\": not an mpscl kernel archive");
    if (size < 8)
        return mpscl__fail(MPSCL_ERROR_CORRUPT_DATA, CL_SUCCESS,
                           "%s: truncated: %zu bytes, the header has %u", fn, size, HEADER_BYTES);
    version = get_u32(b + 4);
    if (version > FORMAT_VERSION)
        return mpscl__fail(MPSCL_ERROR_UNSUPPORTED, CL_SUCCESS,
                           "%s: format version %lu is newer than this library's %u", fn,
                           (unsigned long)version, FORMAT_VERSION);
    if (version == 0)
        return mpscl__fail(MPSCL_ERROR_CORRUPT_DATA, CL_SUCCESS,
                           "%s: format version %lu does not exist", fn, (unsigned long)version);
    fixed = version == 1 ? P_FIXED_BYTES_V1 : version == 2 ? P_FIXED_BYTES_V2 : P_FIXED_BYTES;
    if (size < HEADER_BYTES)
        return mpscl__fail(MPSCL_ERROR_CORRUPT_DATA, CL_SUCCESS,
                           "%s: truncated: %zu bytes, the header has %u", fn, size, HEADER_BYTES);
    kind = get_u32(b + 8);
    if (kind != KIND_FORWARD && kind != KIND_GRADIENT)
        return mpscl__fail(MPSCL_ERROR_CORRUPT_DATA, CL_SUCCESS, "%s: kernel kind %lu is unknown",
                           fn, (unsigned long)kind);
    if (kind != want_kind)
        return mpscl__fail(MPSCL_ERROR_CORRUPT_DATA, CL_SUCCESS,
                           "%s: kernel kind: the archive holds a %s kernel", fn,
                           kind == KIND_GRADIENT ? "gradient" : "forward");
    payload = get_u32(b + 12);
    /* Compared by subtraction: HEADER_BYTES + payload + CHECKSUM_BYTES may wrap a 32-bit size_t. */
    if (size - HEADER_BYTES < CHECKSUM_BYTES || size - HEADER_BYTES - CHECKSUM_BYTES < payload)
        return mpscl__fail(MPSCL_ERROR_CORRUPT_DATA, CL_SUCCESS,
                           "%s: truncated: %zu bytes, payload length %lu needs %llu", fn, size,
                           (unsigned long)payload,
                           (unsigned long long)payload + HEADER_BYTES + CHECKSUM_BYTES);
    if (size - HEADER_BYTES - CHECKSUM_BYTES > payload)
        return mpscl__fail(MPSCL_ERROR_CORRUPT_DATA, CL_SUCCESS,
                           "%s: trailing bytes: %zu bytes, payload length %lu needs %llu", fn,
                           size, (unsigned long)payload,
                           (unsigned long long)payload + HEADER_BYTES + CHECKSUM_BYTES);
    if (crc32_ieee(b, HEADER_BYTES + (size_t)payload) != get_u32(b + HEADER_BYTES + payload))
        return corrupt(fn, "checksum (CRC-32) does not match the contents");
    if (payload < fixed)
        return mpscl__fail(MPSCL_ERROR_CORRUPT_DATA, CL_SUCCESS,
                           "%s: payload length %lu is shorter than the %lu fixed bytes of "
                           "version %lu", fn, (unsigned long)payload, (unsigned long)fixed,
                           (unsigned long)version);

    p = b + HEADER_BYTES;
    d->epsilon = bits_float(get_u32(p + P_EPSILON));
    /* !(e >= 0) also catches NaN; -0.0 passes, as it does for set_epsilon. */
    if (!isfinite(d->epsilon) || !(d->epsilon >= 0.0f))
        return mpscl__fail(MPSCL_ERROR_CORRUPT_DATA, CL_SUCCESS,
                           "%s: epsilon is %g, must be finite and >= 0", fn, (double)d->epsilon);
    if ((s = get_size(p + P_FEATURE_VECTORS, fn, "source_number_of_feature_vectors",
                      &d->feature_vectors)) != MPSCL_SUCCESS ||
        (s = get_size(p + P_FEATURE_CHANNELS, fn, "source_input_feature_channels",
                      &d->feature_channels)) != MPSCL_SUCCESS)
        return s;
    neuron = get_u32(p + P_NEURON);
    if (neuron > MPSCL_NEURON_GELU)
        return mpscl__fail(MPSCL_ERROR_CORRUPT_DATA, CL_SUCCESS, "%s: neuron type %lu is unknown",
                           fn, (unsigned long)neuron);
    if (neuron == MPSCL_NEURON_PRELU)
        return corrupt(fn, "neuron type is PRELU, which matrix batch normalization refuses");
    d->neuron = (mpscl_neuron_type)neuron;
    d->neuron_a = bits_float(get_u32(p + P_NEURON_A));
    d->neuron_b = bits_float(get_u32(p + P_NEURON_B));
    d->neuron_c = bits_float(get_u32(p + P_NEURON_C));
    if (!isfinite(d->neuron_a) || !isfinite(d->neuron_b) || !isfinite(d->neuron_c))
        return mpscl__fail(MPSCL_ERROR_CORRUPT_DATA, CL_SUCCESS,
                           "%s: neuron parameters must be finite (a=%g, b=%g, c=%g)", fn,
                           (double)d->neuron_a, (double)d->neuron_b, (double)d->neuron_c);
    for (size_t i = 0; i < 3; i++) {
        const unsigned char *o = p + P_ORIGINS + 24 * i;
        const char *name = origin_names[is_gradient][i];
        if ((s = get_size(o, fn, name, &d->origins[i].x)) != MPSCL_SUCCESS ||
            (s = get_size(o + 8, fn, name, &d->origins[i].y)) != MPSCL_SUCCESS)
            return s;
        if (get_u64(o + 16) != 0)
            return mpscl__fail(MPSCL_ERROR_CORRUPT_DATA, CL_SUCCESS,
                               "%s: %s has z = %llu, must be 0", fn, name,
                               (unsigned long long)get_u64(o + 16));
        d->origins[i].z = 0;
        /* The forward has no secondary origin: a value there could never be read back. */
        if (!is_gradient && i == MPSCL__ORIGIN_SECONDARY &&
            (d->origins[i].x != 0 || d->origins[i].y != 0))
            return corrupt(fn, "secondary origin slot of a forward kernel must be 0");
    }
    if ((s = get_size(p + P_BATCH_START, fn, "batch_start", &d->batch_start)) != MPSCL_SUCCESS ||
        (s = get_size(p + P_BATCH_SIZE, fn, "batch_size", &d->batch_size)) != MPSCL_SUCCESS)
        return s;
    if (p[P_COMPUTE_STATS] > (is_gradient ? 0 : 1))
        return mpscl__fail(MPSCL_ERROR_CORRUPT_DATA, CL_SUCCESS,
                           "%s: compute_statistics is %u, must be %s", fn,
                           (unsigned)p[P_COMPUTE_STATS],
                           is_gradient ? "0 for a gradient" : "0 or 1");
    d->compute_statistics = p[P_COMPUTE_STATS];
    /* Version 1 predates these properties: an archive of it means their defaults. */
    d->momentum = 0.1f;
    d->frozen_statistics = 0;
    if (version >= 2 && !is_gradient) {
        d->momentum = bits_float(get_u32(p + P_KIND_FIELD));
        /* !(m >= 0) also catches NaN; -0.0 passes, as it does for set_momentum. */
        if (!isfinite(d->momentum) || !(d->momentum >= 0.0f) || d->momentum > 1.0f)
            return mpscl__fail(MPSCL_ERROR_CORRUPT_DATA, CL_SUCCESS,
                               "%s: momentum is %g, must be finite and in [0, 1]", fn,
                               (double)d->momentum);
    } else if (version >= 2) {
        uint32_t frozen = get_u32(p + P_KIND_FIELD);
        if (frozen > 1)
            return mpscl__fail(MPSCL_ERROR_CORRUPT_DATA, CL_SUCCESS,
                               "%s: frozen_statistics is %lu, must be 0 or 1", fn,
                               (unsigned long)frozen);
        d->frozen_statistics = (int)frozen;
    }
    d->reproducible = 0;
    if (version >= 3) {
        uint32_t repro = get_u32(p + P_REPRODUCIBLE);
        if (repro > 1)
            return mpscl__fail(MPSCL_ERROR_CORRUPT_DATA, CL_SUCCESS,
                               "%s: reproducible is %lu, must be 0 or 1", fn,
                               (unsigned long)repro);
        d->reproducible = (int)repro;
    }
    if (p[P_LABEL_PRESENT] > 1)
        return mpscl__fail(MPSCL_ERROR_CORRUPT_DATA, CL_SUCCESS,
                           "%s: label presence flag is %u, must be 0 or 1", fn,
                           (unsigned)p[P_LABEL_PRESENT]);
    label_len = get_u32(p + P_LABEL_LENGTH);
    if (label_len > payload - fixed)
        return mpscl__fail(MPSCL_ERROR_CORRUPT_DATA, CL_SUCCESS,
                           "%s: label length %lu runs past the payload's end (%lu bytes left)",
                           fn, (unsigned long)label_len, (unsigned long)(payload - fixed));
    if (label_len < payload - fixed)
        return mpscl__fail(MPSCL_ERROR_CORRUPT_DATA, CL_SUCCESS,
                           "%s: label length %lu leaves %lu unused payload bytes", fn,
                           (unsigned long)label_len,
                           (unsigned long)(payload - fixed - label_len));
    if (p[P_LABEL_PRESENT] == 0) {
        if (label_len != 0)
            return mpscl__fail(MPSCL_ERROR_CORRUPT_DATA, CL_SUCCESS,
                               "%s: label is absent but its length is %lu", fn,
                               (unsigned long)label_len);
        return MPSCL_SUCCESS;
    }
    if (memchr(p + fixed, '\0', label_len) != NULL)
        return corrupt(fn, "label contains a NUL byte");
    if ((d->label = malloc((size_t)label_len + 1)) == NULL)
        return mpscl__fail(MPSCL_ERROR_OUT_OF_HOST_MEMORY, CL_SUCCESS,
                           "%s: out of memory for a label of %lu bytes", fn,
                           (unsigned long)label_len);
    memcpy(d->label, p + fixed, label_len);
    d->label[label_len] = '\0';
    return MPSCL_SUCCESS;
}

/* Stores validated properties into a freshly created kernel; takes over d->label. The setters
 * repeat the checks decode made, so they fail only if this build refuses a valid value (a neuron
 * it cannot run): that status is returned as is. */
static mpscl_status
apply(mpscl__bn_kernel *k, decoded *d)
{
    mpscl_status s;

    if ((s = mpscl__bn_set_epsilon(k, d->epsilon)) != MPSCL_SUCCESS ||
        (s = mpscl__bn_set_momentum(k, d->momentum)) != MPSCL_SUCCESS ||
        (s = mpscl__bn_set_neuron(k, d->neuron, d->neuron_a, d->neuron_b, d->neuron_c)) !=
            MPSCL_SUCCESS)
        return s;
    for (int i = 0; i < 3; i++)
        if ((s = mpscl__bn_set_origin(k, i, d->origins[i])) != MPSCL_SUCCESS)
            return s;
    k->feature_vectors = d->feature_vectors;
    k->feature_channels = d->feature_channels;
    k->batch_start = d->batch_start;
    k->batch_size = d->batch_size;
    k->compute_statistics = d->compute_statistics;
    k->frozen_statistics = d->frozen_statistics;
    k->reproducible = d->reproducible;
    free(k->label);
    k->label = d->label;
    d->label = NULL;
    return MPSCL_SUCCESS;
}

/* Shared argument checks of both decoders; sets *out to NULL first when it can. */
static mpscl_status
decode_args(mpscl_device *dev, const void *bytes, void *out, const char *fn)
{
    mpscl__clear_error();
    if (out == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, "%s: out is NULL", fn);
    if (dev == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, "%s: device is NULL", fn);
    if (bytes == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, "%s: bytes is NULL", fn);
    return MPSCL_SUCCESS;
}

/* ---- public entry points ---- */

#define FWD "matrix_batch_normalization"
#define GRAD "matrix_batch_normalization_gradient"

mpscl_status
mpscl_matrix_batch_normalization_serialize(const mpscl_matrix_batch_normalization *k,
                                           void **bytes, size_t *size)
{
    return serialize_entry((const mpscl__bn_kernel *)k, KIND_FORWARD, FWD "_serialize", bytes,
                           size);
}

mpscl_status
mpscl_matrix_batch_normalization_gradient_serialize(
    const mpscl_matrix_batch_normalization_gradient *k, void **bytes, size_t *size)
{
    return serialize_entry((const mpscl__bn_kernel *)k, KIND_GRADIENT, GRAD "_serialize", bytes,
                           size);
}

mpscl_status
mpscl_matrix_batch_normalization_create_from_bytes(mpscl_device *dev, const void *bytes,
                                                   size_t size,
                                                   mpscl_matrix_batch_normalization **out)
{
    static const char fn[] = FWD "_create_from_bytes";
    mpscl_matrix_batch_normalization *k = NULL;
    decoded d;
    mpscl_status s;

    if (out != NULL)
        *out = NULL;
    if ((s = decode_args(dev, bytes, out, fn)) != MPSCL_SUCCESS ||
        (s = decode(bytes, size, KIND_FORWARD, fn, &d)) != MPSCL_SUCCESS)
        return s;
    if ((s = mpscl_matrix_batch_normalization_create(dev, &k)) != MPSCL_SUCCESS ||
        (s = apply((mpscl__bn_kernel *)k, &d)) != MPSCL_SUCCESS) {
        mpscl_matrix_batch_normalization_release(k);
        free(d.label);
        return s;
    }
    *out = k;
    return MPSCL_SUCCESS;
}

mpscl_status
mpscl_matrix_batch_normalization_gradient_create_from_bytes(
    mpscl_device *dev, const void *bytes, size_t size,
    mpscl_matrix_batch_normalization_gradient **out)
{
    static const char fn[] = GRAD "_create_from_bytes";
    mpscl_matrix_batch_normalization_gradient *k = NULL;
    decoded d;
    mpscl_status s;

    if (out != NULL)
        *out = NULL;
    if ((s = decode_args(dev, bytes, out, fn)) != MPSCL_SUCCESS ||
        (s = decode(bytes, size, KIND_GRADIENT, fn, &d)) != MPSCL_SUCCESS)
        return s;
    if ((s = mpscl_matrix_batch_normalization_gradient_create(dev, &k)) != MPSCL_SUCCESS ||
        (s = apply((mpscl__bn_kernel *)k, &d)) != MPSCL_SUCCESS) {
        mpscl_matrix_batch_normalization_gradient_release(k);
        free(d.label);
        return s;
    }
    *out = k;
    return MPSCL_SUCCESS;
}
