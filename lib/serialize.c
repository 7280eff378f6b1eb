/* Serialization of the two batch-normalization kernel objects: the versioned little-endian
 * archive of docs/FORMAT.md (archive_format.h), written with explicit byte shifts, so the same
 * bytes on every host. deserialize.c reads it back.
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

#include "archive_format.h"
#include "bn_kernel.h"

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

/* ---- public entry points ---- */

/* ---- public entry points ---- */

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
