/* Test side of docs/FORMAT.md for tests/check_serialize.c: an encoder written from the format
 * document alone (so the library's bytes can be compared with it, and invalid archives built with
 * a valid checksum), random property sets, and the two kernel kinds behind one interface
 * (gradient = 0: forward, 1: gradient). */
#ifndef MPSCL_TEST_ARCHIVE_H
#define MPSCL_TEST_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>

#include <mpscl/mpscl.h>

/* FIXED: the fixed payload of the current format version (3); FIXED_V2: of version 2, which has
 * no reproducible field before the label; FIXED_V1: of version 1, which has no kind field
 * (momentum / frozen_statistics) either. */
enum { HEADER = 16, FIXED = 138, FIXED_V2 = 134, FIXED_V1 = 130, CHECKSUM = 4, LABEL_MAX = 300 };
enum { VERSION = 3 };

enum { KIND_FORWARD = 1, KIND_GRADIENT = 2 };

/* Raw field values, so that invalid archives can be written with a valid checksum. */
typedef struct raw {
    uint32_t version, kind;
    uint32_t epsilon, neuron, a, b, c;
    uint64_t vectors, channels, origins[9], batch_start, batch_size;
    uint8_t stats, label_present;
    uint32_t label_length;        /* the length field */
    uint32_t kind_field;          /* version 2: forward momentum bits, gradient frozen flag */
    uint32_t repro;               /* version 3: reproducible */
    const char *label;            /* label_bytes bytes written after the fixed part */
    size_t label_bytes;
    size_t cut_payload;           /* non-zero: the payload is cut to this many bytes */
} raw;

typedef struct props {
    float epsilon;
    size_t vectors, channels;
    mpscl_neuron_type neuron;
    float a, b, c;
    mpscl_origin origins[3];      /* source/primary, secondary (gradient only), result */
    size_t batch_start, batch_size;
    int stats;                    /* forward only */
    float momentum;               /* forward only */
    int frozen;                   /* gradient only; no public setter here: archives only */
    int repro;                    /* reproducible (both kinds) */
    int has_label;
    char label[LABEL_MAX + 1];
} props;

typedef mpscl_matrix_batch_normalization fwd_k;
typedef mpscl_matrix_batch_normalization_gradient grad_k;

#define G(name) mpscl_matrix_batch_normalization_gradient_##name
#define F(name) mpscl_matrix_batch_normalization_##name

/* CRC-32 (IEEE), bitwise; crc32_ref("123456789") must be 0xCBF43926. */
uint32_t crc32_ref(const unsigned char *p, size_t n);
uint32_t bits(float f);
/* SIZE_MAX as UINT64_MAX, other sizes unchanged. */
uint64_t u64_of_size(size_t v);
/* Writes r into buf (HEADER + FIXED + LABEL_MAX + CHECKSUM bytes) in the layout of r->version
 * (1: without the kind and reproducible fields, which are then ignored; 2: without the
 * reproducible field; else version 3's); returns the archive's size. */
size_t raw_encode(const raw *r, unsigned char *buf);

void props_default(props *p);
raw props_raw(const props *p, int gradient);
/* Valid random properties: -0 and subnormal floats, SIZE_MAX and huge sizes, NULL, "" and
 * labels of up to LABEL_MAX bytes 1..255. */
void props_random(props *p, uint64_t *rng, int gradient);

void *kernel_create(int gradient);
void kernel_release(int gradient, void *k);
mpscl_status kernel_serialize(int gradient, const void *k, void **bytes, size_t *size);
mpscl_status kernel_decode(int gradient, const void *bytes, size_t size, void **out);
mpscl_status kernel_copy(int gradient, const void *k, void **out);
/* Through the public setters / getters. */
void props_set(int gradient, void *k, const props *p);
void props_get(int gradient, const void *k, props *p);
/* Field by field, floats by their bits; `where` names the set on failure. */
void props_assert_equal(const props *x, const props *y, const char *where);

#endif
