/* libFuzzer harness for the two kernel decoders (docs/FORMAT.md). Every input goes to both
 * create_from_bytes functions; whatever one accepts must re-serialize to exactly the input bytes
 * (the format's canonical form) when it is of the current version, and, when of an older one, to
 * a current archive that itself decodes and re-serializes to the same bytes; else abort(). Objects and bytes are released each time, so
 * LeakSanitizer sees any leak on a refusal path. Random mutations almost never keep the CRC-32
 * valid, so each input is also decoded with its last 4 bytes replaced by the CRC-32 of the bytes
 * before them: that copy reaches the per-field validation behind the checksum.
 *
 * Built by 'make fuzz' with clang -fsanitize=fuzzer,address,undefined from the library's sources.
 * With MPSCL_FUZZ_SEEDS=DIR in the environment it writes a seed corpus of valid archives with
 * varied properties into DIR and exits instead of fuzzing. */
#include <float.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpscl/mpscl.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Created once: device creation is slow and the decoders only need it to attach objects. */
static mpscl_device *device;

static void
check(mpscl_status s, const char *what)
{
    if (s != MPSCL_SUCCESS) {
        fprintf(stderr, "fuzz_decode: %s: %s: %s\n", what, mpscl_status_string(s),
                mpscl_last_error_message());
        abort();
    }
}

static void
same_bytes(const void *bytes, size_t size, const uint8_t *data, size_t n, const char *kind)
{
    if (size != n || memcmp(bytes, data, n) != 0) {
        fprintf(stderr, "fuzz_decode: a %s archive of %zu bytes re-serialized to %zu other bytes\n",
                kind, n, size);
        abort();
    }
}

/* The format version the library writes (docs/FORMAT.md); older ones are read, and written
 * back as this one. */
enum { CURRENT_VERSION = 3 };

static int
is_current(const uint8_t *data, size_t size)
{
    return size >= 8 &&
           (data[4] | data[5] << 8 | data[6] << 16 | (uint32_t)data[7] << 24) == CURRENT_VERSION;
}

/* The archive's checksum (docs/FORMAT.md), written again here so the harness does not depend
 * on the code under test to forge valid inputs. */
static uint32_t
crc32_ieee(const uint8_t *p, size_t n)
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
write_seed(const char *dir, const char *name, int idx, const void *bytes, size_t size)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof path, "%s/seed-%s-%02d", dir, name, idx);
    if ((f = fopen(path, "wb")) == NULL || fwrite(bytes, 1, size, f) != size || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* The version 1 or 2 form of a current (version 3) archive of `size` bytes (docs/FORMAT.md:
 * version 2 added the 4-byte kind field at payload offset 130, version 3 the 4-byte reproducible
 * field at 134, both before the label) into out; returns its size. */
static size_t
older_version_of(const unsigned char *v3, size_t size, unsigned version, unsigned char *out)
{
    enum { HEADER = 16 };
    size_t field = HEADER + (version == 1 ? 130 : 134), cut = version == 1 ? 8 : 4;
    size_t n = size - cut;
    uint32_t payload = (uint32_t)(n - HEADER - 4), crc;

    memcpy(out, v3, field);
    memcpy(out + field, v3 + field + cut, size - field - cut);
    for (int i = 0; i < 4; i++) {
        out[4 + i] = (unsigned char)(i == 0 ? version : 0u);
        out[12 + i] = (unsigned char)(payload >> (8 * i));
    }
    crc = crc32_ieee(out, n - 4);
    for (int i = 0; i < 4; i++)
        out[n - 4 + i] = (unsigned char)(crc >> (8 * i));
    return n;
}

static void
write_both_versions(const char *dir, const char *name, int idx, const void *bytes, size_t size)
{
    unsigned char *old = malloc(size);
    char oldname[32];

    if (old == NULL)
        exit(1);
    write_seed(dir, name, idx, bytes, size);
    for (unsigned v = 1; v <= 2; v++) {
        snprintf(oldname, sizeof oldname, "%s-v%u", name, v);
        write_seed(dir, oldname, idx, old, older_version_of(bytes, size, v, old));
    }
    free(old);
}

/* Valid archives of both kinds: defaults, every neuron type, extreme sizes, labels, the
 * reproducible property; each in the current version and in versions 1 and 2. */
static void
write_seeds(const char *dir)
{
    static const char *const labels[] = {NULL, "", "bn", "a longer label \xc3\xa9 with UTF-8"};
    const size_t sizes[] = {0, 1, 37, SIZE_MAX, (size_t)1 << 40};

    for (int i = 0; i < 16; i++) {
        mpscl_neuron_type t = (mpscl_neuron_type)(i == MPSCL_NEURON_PRELU ? 0 : i);
        mpscl_matrix_batch_normalization *f;
        mpscl_matrix_batch_normalization_gradient *g;
        mpscl_origin o = {sizes[i % 5], sizes[(i + 1) % 5], 0};
        void *bytes;
        size_t size;

        check(mpscl_matrix_batch_normalization_create(device, &f), "create forward");
        check(mpscl_matrix_batch_normalization_gradient_create(device, &g), "create gradient");
        if (i > 0) {
            float eps = i % 3 == 0 ? 0.0f : 1e-5f * (float)i;
            check(mpscl_matrix_batch_normalization_set_epsilon(f, eps), "epsilon");
            check(mpscl_matrix_batch_normalization_gradient_set_epsilon(g, eps), "epsilon");
            check(mpscl_matrix_batch_normalization_set_neuron_type(f, t, 0.5f, -2.0f, 3.0f),
                  "neuron");
            check(mpscl_matrix_batch_normalization_gradient_set_neuron_type(g, t, 1.0f, 6.0f,
                                                                             -1.0f), "neuron");
            check(mpscl_matrix_batch_normalization_set_source_number_of_feature_vectors(
                      f, sizes[i % 5]), "vectors");
            check(mpscl_matrix_batch_normalization_gradient_set_source_input_feature_channels(
                      g, sizes[(i + 2) % 5]), "channels");
            check(mpscl_matrix_batch_normalization_set_source_matrix_origin(f, o), "origin");
            check(mpscl_matrix_batch_normalization_gradient_set_secondary_source_matrix_origin(
                      g, o), "origin");
            check(mpscl_matrix_batch_normalization_set_batch_start(f, sizes[(i + 3) % 5]),
                  "batch_start");
            check(mpscl_matrix_batch_normalization_gradient_set_batch_size(g, sizes[i % 5]),
                  "batch_size");
            check(mpscl_matrix_batch_normalization_set_compute_statistics(f, i % 2), "stats");
            check(mpscl_matrix_batch_normalization_set_momentum(f, (float)(i % 5) * 0.25f),
                  "momentum");
            check(mpscl_matrix_batch_normalization_set_label(f, labels[i % 4]), "label");
            check(mpscl_matrix_batch_normalization_gradient_set_label(g, labels[(i + 1) % 4]),
                  "label");
            check(mpscl_matrix_batch_normalization_set_reproducible(f, i % 2), "reproducible");
            check(mpscl_matrix_batch_normalization_gradient_set_reproducible(g, i / 2 % 2),
                  "reproducible");
        }
        check(mpscl_matrix_batch_normalization_serialize(f, &bytes, &size), "serialize");
        write_both_versions(dir, "forward", i, bytes, size);
        mpscl_free(bytes);
        check(mpscl_matrix_batch_normalization_gradient_serialize(g, &bytes, &size), "serialize");
        write_both_versions(dir, "gradient", i, bytes, size);
        mpscl_free(bytes);
        mpscl_matrix_batch_normalization_release(f);
        mpscl_matrix_batch_normalization_gradient_release(g);
    }
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *seeds = getenv("MPSCL_FUZZ_SEEDS");

    (void)argc;
    (void)argv;
    check(mpscl_device_create_default(&device), "mpscl_device_create_default");
    if (seeds != NULL) {
        write_seeds(seeds);
        mpscl_device_release(device);
        exit(0);
    }
    return 0;
}

/* bytes (n) re-serialized by a decoder: the input itself if current, else a current archive
 * that is its own re-serialization. */
static void
check_canonical(int gradient, const void *bytes, size_t n, const uint8_t *data, size_t size)
{
    const char *kind = gradient ? "gradient" : "forward";
    void *again, *obj = NULL;
    size_t m;

    if (is_current(data, size)) {
        same_bytes(bytes, n, data, size, kind);
        return;
    }
    if (gradient) {
        check(mpscl_matrix_batch_normalization_gradient_create_from_bytes(
                  device, bytes, n, (mpscl_matrix_batch_normalization_gradient **)&obj),
              "decode the re-serialization");
        check(mpscl_matrix_batch_normalization_gradient_serialize(obj, &again, &m),
              "re-serialize");
        mpscl_matrix_batch_normalization_gradient_release(obj);
    } else {
        check(mpscl_matrix_batch_normalization_create_from_bytes(
                  device, bytes, n, (mpscl_matrix_batch_normalization **)&obj),
              "decode the re-serialization");
        check(mpscl_matrix_batch_normalization_serialize(obj, &again, &m), "re-serialize");
        mpscl_matrix_batch_normalization_release(obj);
    }
    if (!is_current(bytes, n))
        abort();
    same_bytes(again, m, bytes, n, kind);
    mpscl_free(again);
}

static void
decode_both(const uint8_t *data, size_t size)
{
    mpscl_matrix_batch_normalization *f = NULL;
    mpscl_matrix_batch_normalization_gradient *g = NULL;
    void *bytes;
    size_t n;

    if (mpscl_matrix_batch_normalization_create_from_bytes(device, data, size, &f) ==
        MPSCL_SUCCESS) {
        check(mpscl_matrix_batch_normalization_serialize(f, &bytes, &n), "re-serialize");
        check_canonical(0, bytes, n, data, size);
        mpscl_free(bytes);
        mpscl_matrix_batch_normalization_release(f);
    } else if (f != NULL) {
        abort();   /* a refusal must leave *out NULL */
    }
    if (mpscl_matrix_batch_normalization_gradient_create_from_bytes(device, data, size, &g) ==
        MPSCL_SUCCESS) {
        check(mpscl_matrix_batch_normalization_gradient_serialize(g, &bytes, &n), "re-serialize");
        check_canonical(1, bytes, n, data, size);
        mpscl_free(bytes);
        mpscl_matrix_batch_normalization_gradient_release(g);
    } else if (g != NULL) {
        abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *fixed;
    uint32_t crc;

    decode_both(data, size);
    if (size < 4 || (fixed = malloc(size)) == NULL)
        return 0;
    memcpy(fixed, data, size);
    crc = crc32_ieee(fixed, size - 4);
    for (int i = 0; i < 4; i++)
        fixed[size - 4 + i] = (uint8_t)(crc >> (8 * i));
    decode_both(fixed, size);
    free(fixed);
    return 0;
}
