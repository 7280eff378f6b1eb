/* Reading the kernel archive of docs/FORMAT.md (archive_format.h) into a new kernel object:
 * every byte validated as the setters would, before any object exists. The public structs'
 * first member is their mpscl__bn_kernel (serialize.c says why the casts are valid). */
#include "config.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "archive_format.h"
#include "bn_kernel.h"

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
