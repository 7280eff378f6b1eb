/* The kernel archive's format (docs/FORMAT.md), shared by the writer (serialize.c) and the
 * reader (deserialize.c): header and payload layout, little-endian primitives, the CRC-32. */
#ifndef MPSCL_ARCHIVE_FORMAT_H
#define MPSCL_ARCHIVE_FORMAT_H

#include <stdint.h>
#include <string.h>

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

static inline void
put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline void
put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint32_t
get_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static inline uint64_t
get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Floats travel as their binary32 bit pattern: memcpy between same-size scalars is the
 * defined way to reinterpret them (the struct layout is never copied). */
static inline uint32_t
float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float
bits_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* SIZE_MAX ("all", the default of the counts and batch_size) is written as UINT64_MAX, so an
 * archive means the same on hosts with a narrower size_t; elsewhere the value is unchanged. */
static inline uint64_t
size_to_u64(size_t v)
{
    return v == SIZE_MAX ? UINT64_MAX : (uint64_t)v;
}

/* CRC-32 of IEEE 802.3 / zlib / PNG: reflected polynomial 0xEDB88320, initial value and final
 * XOR 0xFFFFFFFF; CRC-32("123456789") = 0xCBF43926. Bitwise: archives are ~150 bytes, and no
 * table means no global state. */
static inline uint32_t
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

#define FWD "matrix_batch_normalization"
#define GRAD "matrix_batch_normalization_gradient"

#endif
