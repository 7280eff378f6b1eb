/* tests/oclgrind_run: every kernel variant once, on shapes small enough for a simulator, for
 * `make oclgrind-check`, which runs it under
 *     oclgrind --data-races --uninitialized --check-api --log FILE
 * and fails on any line in FILE (an out-of-bounds access, a race, an uninitialised read or an API
 * misuse). Not a Check suite: it only has to drive the kernels; correctness is the other suites'.
 *
 * Coverage: forward without and with compute_statistics (with running statistics: the running
 * vectors are read and written by the pass that writes the statistics) and the gradient, for
 *   - every data type the device supports (vectors fp32, and vectors of the matrices' type), and
 *     every neuron but PReLU (fp32);
 *   - the gradient with frozen statistics too (its own program), on every shape and data type
 *     with fp32 vectors, and on every shape in the one launch;
 *   - shapes with several row chunks and a ragged last chunk, C a multiple of 4 (vector loads)
 *     and not, two column groups, one row, a batch of 2 from a batch_start of 1;
 *   - padded rows, and buffers of exactly the operands' extent (an over-read is out of bounds);
 *     outputs are never written before the kernels run (a read of one is uninitialised).
 *   - the split phases in both modes (fp32, fp16, bf16, every shape): two shares as sub-matrices
 *     (the second empty for one row), partials written into views of one gathered buffer,
 *     combine, normalise, partial sums, apply; and the reproducible one-device encodes.
 *   - with --one-launch, instead: the one-launch kernels (bn_forward_fused with statistics,
 *     bn_gradient_fused; forced with MPSCL_TUNE=fused=1) on every shape, fp32 and fp16 with
 *     GELU. `make oclgrind-check` runs that without --data-races: their work-groups hand sums
 *     to each other through global memory, ordered by fences and atomics, which is exactly what
 *     oclgrind's race checker reports (it knows no synchronisation between groups; the kernels
 *     rely on it where the library picks them, see bn_gradient.cl). Out-of-bounds accesses,
 *     uninitialised reads and races inside a group are still checked.
 * `make oclgrind-check` asks oclgrind for 4 compute units so the plans use several row chunks,
 * and runs the variants three times, with `--tune rows=0`, `--tune rows=1` and `--tune
 * rows=0,tile=1,wg=64,lx=8` (MPSCL_TUNE): the gradient's work-group layout, its row streaming one
 * (oclgrind's device calls itself a CPU too, so the planner alone would pick only that), and one
 * group per column tile.
 * Arguments: [--one-launch | --tune MPSCL_TUNE] [N: run only configuration N]. Exit status 0 when
 * every call succeeded; prints the first failure otherwise. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpscl/mpscl.h>

typedef struct shape {
    size_t n, c, mats, batch_start, padded;
} shape;

static const shape shapes[] = {
    {101, 5, 3, 1, 1},   /* chunks of 26 rows, the last 23; C = 5; batch of 2 from 1; padded */
    {70, 12, 1, 0, 0},   /* C multiple of 4: vector loads, unpadded exact buffers */
    {37, 67, 1, 0, 1},   /* two column groups, the second ragged */
    {1, 3, 1, 0, 0},     /* one row */
};

static mpscl_device *dev;
static long only = -1, config;   /* run only configuration `only` (argument), when given */

#define TRY(call)                                                                            \
    do {                                                                                     \
        mpscl_status s_ = (call);                                                            \
        if (s_ != MPSCL_SUCCESS) {                                                           \
            fprintf(stderr, "oclgrind_run: %s:%d: %s: %s: %s\n", __FILE__, __LINE__, #call,  \
                    mpscl_status_string(s_), mpscl_last_error_message());                    \
            exit(1);                                                                         \
        }                                                                                    \
    } while (0)

/* Deterministic values in about [lo, hi) as element type t (lo > 0 keeps variances positive). */
static void
fill(void *p, size_t count, mpscl_data_type t, float lo, float hi, uint64_t *state)
{
    for (size_t i = 0; i < count; i++) {
        float f;
        uint32_t u;
        *state = *state * 6364136223846793005ull + 1442695040888963407ull;
        f = lo + (hi - lo) * (float)(*state >> 40) / 16777216.0f;
        memcpy(&u, &f, 4);
        switch (t) {
        case MPSCL_DATA_TYPE_FLOAT32: ((float *)p)[i] = f; break;
        case MPSCL_DATA_TYPE_FLOAT64: ((double *)p)[i] = f; break;
        case MPSCL_DATA_TYPE_BFLOAT16: ((uint16_t *)p)[i] = (uint16_t)(u >> 16); break;
        case MPSCL_DATA_TYPE_FLOAT16: {
            /* |f| < 8 with 10 mantissa bits kept: exponent rebias 127 -> 15, truncated */
            uint32_t e = (u >> 23) & 0xffu;
            uint16_t h = (uint16_t)((u >> 16) & 0x8000u);
            if (e >= 127 - 14)
                h |= (uint16_t)(((e - 127 + 15) << 10) | ((u >> 13) & 0x3ffu));
            ((uint16_t *)p)[i] = h;
            break;
        }
        }
    }
}

/* A buffer of exactly `size` bytes holding `image` (NULL: never written, so a kernel that reads
 * it before writing it is reported). Written with one clEnqueueWriteBuffer of the whole buffer:
 * oclgrind 21.10's uninitialised-memory plugin loses track of data written at a non-zero offset
 * (and through clEnqueueWriteBufferRect), which mpscl_matrix_write and mpscl_vector_write do,
 * and would flag every read of it. */
static cl_mem
buffer_with(const void *image, size_t size)
{
    cl_context ctx = mpscl_device_cl_context(dev);
    cl_int err;
    cl_mem buf = clCreateBuffer(ctx, CL_MEM_READ_WRITE, size, NULL, &err);
    cl_command_queue q = clCreateCommandQueue(ctx, mpscl_device_cl_device_id(dev), 0, &err);

    if (buf == NULL || q == NULL ||
        (image != NULL &&
         clEnqueueWriteBuffer(q, buf, CL_TRUE, 0, size, image, 0, NULL, NULL) != CL_SUCCESS))
        exit(1);
    clReleaseCommandQueue(q);
    return buf;
}

/* A matrix in a buffer of exactly its extent, so an over-read is out of bounds. The padding of
 * padded rows holds values too (see buffer_with); the other suites check it is never written. */
static mpscl_matrix *
matrix(const shape *sh, mpscl_data_type t, int input, uint64_t *state)
{
    size_t es = mpscl_data_type_size(t);
    size_t rb = sh->padded ? mpscl_matrix_descriptor_row_bytes_from_columns(sh->c, t) : sh->c * es;
    size_t extent = (sh->mats * sh->n - 1) * rb + sh->c * es;
    mpscl_matrix_descriptor md = mpscl_matrix_descriptor_make_batch(sh->n, sh->c, sh->mats, rb,
                                                                    sh->n * rb, t);
    unsigned char *image = malloc(extent + rb);
    mpscl_matrix *m;
    cl_mem buf;

    if (image == NULL)
        exit(1);
    fill(image, (extent + rb) / es, t, -2.0f, 3.0f, state);
    buf = buffer_with(input ? image : NULL, extent);
    TRY(mpscl_matrix_create_with_buffer(dev, buf, 0, &md, &m));
    clReleaseMemObject(buf);
    free(image);
    return m;
}

/* A batch of vectors, filled when lo < hi (an input), else unwritten (an output). */
static mpscl_vector *
vector(const shape *sh, mpscl_data_type t, float lo, float hi, uint64_t *state)
{
    size_t es = mpscl_data_type_size(t);
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make_batch(sh->c, sh->mats, sh->c * es, t);
    void *image = malloc(sh->c * sh->mats * es);
    mpscl_vector *v;
    cl_mem buf;

    if (image == NULL)
        exit(1);
    fill(image, sh->c * sh->mats, t, lo, hi, state);
    buf = buffer_with(lo < hi ? image : NULL, sh->c * sh->mats * es);
    TRY(mpscl_vector_create_with_buffer(dev, buf, 0, &vd, &v));
    clReleaseMemObject(buf);
    free(image);
    return v;
}

/* Every object lives until the end of the program. oclgrind 21.10 reuses a released buffer's
 * address for the next allocation, and its uninitialised-memory plugin then treats the part of a
 * larger new buffer beyond the old size as never written, whatever kernels write there: with
 * releases in between, every later configuration would report false uninitialised reads. */
static struct {
    void *obj;
    void (*release)(void *);
} kept[64 * 64];
static size_t nkept;

static void
keep(void *obj, void (*release)(void *))
{
    if (nkept == sizeof kept / sizeof kept[0])
        exit(1);
    kept[nkept].obj = obj;
    kept[nkept++].release = release;
}

static void
release_cb(void *p)
{
    mpscl_command_buffer_release(p);
}

static void
release_forward(void *p)
{
    mpscl_matrix_batch_normalization_release(p);
}

static void
release_gradient(void *p)
{
    mpscl_matrix_batch_normalization_gradient_release(p);
}

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

/* Forward (without and with statistics) and gradient on one shape, data type and neuron; with
 * frozen, then the frozen-statistics gradient into outputs of its own. */
static void
run_one(const shape *sh, mpscl_data_type t, mpscl_data_type vt, mpscl_neuron_type nt, float a,
        float b, float c, int frozen, uint64_t state)
{
    mpscl_matrix *x = matrix(sh, t, 1, &state), *dy = matrix(sh, t, 1, &state);
    mpscl_matrix *y = matrix(sh, t, 0, &state), *dx = matrix(sh, t, 0, &state);
    mpscl_vector *mean = vector(sh, vt, -0.5f, 0.5f, &state);
    mpscl_vector *var = vector(sh, vt, 0.5f, 2.0f, &state);
    mpscl_vector *gamma = vector(sh, vt, 0.5f, 1.5f, &state);
    mpscl_vector *beta = vector(sh, vt, -0.5f, 0.5f, &state);
    mpscl_vector *dg = vector(sh, vt, 0, 0, &state), *db = vector(sh, vt, 0, 0, &state);
    mpscl_vector *rm = vector(sh, vt, -0.5f, 0.5f, &state), *rv = vector(sh, vt, 0.5f, 2.0f, &state);
    mpscl_matrix_batch_normalization *f;
    mpscl_matrix_batch_normalization_gradient *g;
    mpscl_command_buffer *cb;

    TRY(mpscl_matrix_batch_normalization_create(dev, &f));
    TRY(mpscl_matrix_batch_normalization_set_neuron_type(f, nt, a, b, c));
    TRY(mpscl_matrix_batch_normalization_set_batch_start(f, sh->batch_start));
    TRY(mpscl_matrix_batch_normalization_set_epsilon(f, 1e-3f));
    TRY(mpscl_matrix_batch_normalization_gradient_create(dev, &g));
    TRY(mpscl_matrix_batch_normalization_gradient_set_neuron_type(g, nt, a, b, c));
    TRY(mpscl_matrix_batch_normalization_gradient_set_batch_start(g, sh->batch_start));
    TRY(mpscl_matrix_batch_normalization_gradient_set_epsilon(g, 1e-3f));
    TRY(mpscl_command_buffer_create(dev, &cb));
    /* given statistics, then computed ones (overwriting mean and var, updating the running
     * ones), then the gradient */
    TRY(mpscl_matrix_batch_normalization_encode(f, cb, x, mean, var, gamma, beta, y));
    TRY(mpscl_matrix_batch_normalization_set_compute_statistics(f, 1));
    TRY(mpscl_matrix_batch_normalization_encode_with_running_statistics(f, cb, x, mean, var,
                                                                        gamma, beta, y, rm, rv));
    TRY(mpscl_matrix_batch_normalization_gradient_encode(g, cb, dy, x, mean, var, gamma, beta,
                                                         dx, dg, db));
    if (frozen) {
        mpscl_matrix *fdx = matrix(sh, t, 0, &state);
        mpscl_vector *fdg = vector(sh, vt, 0, 0, &state), *fdb = vector(sh, vt, 0, 0, &state);
        TRY(mpscl_matrix_batch_normalization_gradient_set_frozen_statistics(g, 1));
        TRY(mpscl_matrix_batch_normalization_gradient_encode(g, cb, dy, x, mean, var, gamma, beta,
                                                             fdx, fdg, fdb));
        keep(fdx, release_matrix);
        keep(fdg, release_vector), keep(fdb, release_vector);
    }
    TRY(mpscl_command_buffer_commit(cb));
    TRY(mpscl_command_buffer_wait_until_completed(cb));
    keep(cb, release_cb);
    keep(f, release_forward);
    keep(g, release_gradient);
    keep(x, release_matrix), keep(dy, release_matrix), keep(y, release_matrix);
    keep(dx, release_matrix);
    keep(mean, release_vector), keep(var, release_vector), keep(gamma, release_vector);
    keep(beta, release_vector), keep(dg, release_vector), keep(db, release_vector);
    keep(rm, release_vector), keep(rv, release_vector);
}

/* Float32 vectors over buf: `parts` partials of `length` words per matrix, partial r's view at
 * words r * length of each (what a gather would fill), or all of them (r = parts). */
static mpscl_vector *
partials_view(const shape *sh, cl_mem buf, size_t length, size_t parts, size_t r)
{
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make_batch(
        r == parts ? parts * length : length, sh->mats, parts * length * 4,
        MPSCL_DATA_TYPE_FLOAT32);
    mpscl_vector *v;

    TRY(mpscl_vector_create_with_buffer(dev, buf, r == parts ? 0 : r * length * 4, &vd, &v));
    keep(v, release_vector);
    return v;
}

/* The split phases on one shape: two shares of the rows as sub-matrices (the second empty for
 * one row), each share's partials written straight into its place in the gathered vectors
 * (views of one buffer, never written otherwise), combined, then normalise, partial sums and
 * apply; then, reproducible, the one-device encodes that run the same kernels. */
static void
run_split_one(const shape *sh, mpscl_data_type t, int repro, uint64_t state)
{
    mpscl_matrix *x = matrix(sh, t, 1, &state), *dy = matrix(sh, t, 1, &state);
    mpscl_matrix *y = matrix(sh, t, 0, &state), *dx = matrix(sh, t, 0, &state);
    mpscl_matrix *y1 = matrix(sh, t, 0, &state), *dx1 = matrix(sh, t, 0, &state);
    mpscl_vector *mean = vector(sh, MPSCL_DATA_TYPE_FLOAT32, 0, 0, &state);
    mpscl_vector *var = vector(sh, MPSCL_DATA_TYPE_FLOAT32, 0, 0, &state);
    mpscl_vector *rm = vector(sh, MPSCL_DATA_TYPE_FLOAT32, -0.5f, 0.5f, &state);
    mpscl_vector *rv = vector(sh, MPSCL_DATA_TYPE_FLOAT32, 0.5f, 2.0f, &state);
    mpscl_vector *m1 = vector(sh, MPSCL_DATA_TYPE_FLOAT32, 0, 0, &state);
    mpscl_vector *v1 = vector(sh, MPSCL_DATA_TYPE_FLOAT32, 0, 0, &state);
    mpscl_vector *dg = vector(sh, MPSCL_DATA_TYPE_FLOAT32, 0, 0, &state);
    mpscl_vector *db = vector(sh, MPSCL_DATA_TYPE_FLOAT32, 0, 0, &state);
    mpscl_vector *dg1 = vector(sh, MPSCL_DATA_TYPE_FLOAT32, 0, 0, &state);
    mpscl_vector *db1 = vector(sh, MPSCL_DATA_TYPE_FLOAT32, 0, 0, &state);
    size_t rows[2] = {(sh->n + 1) / 2, sh->n / 2}, fl, gl;
    mpscl_matrix_batch_normalization *f[2];
    mpscl_matrix_batch_normalization_gradient *g[2];
    mpscl_vector *fpart[2][2], *gpart[2], *fall[2], *gall;
    mpscl_command_buffer *cb;

    for (int r = 0; r < 2; r++) {
        mpscl_origin o = {r == 0 ? 0 : rows[0] < sh->n ? rows[0] : sh->n - 1, 0, 0};
        TRY(mpscl_matrix_batch_normalization_create(dev, &f[r]));
        TRY(mpscl_matrix_batch_normalization_set_reproducible(f[r], repro));
        TRY(mpscl_matrix_batch_normalization_set_batch_start(f[r], sh->batch_start));
        TRY(mpscl_matrix_batch_normalization_set_source_matrix_origin(f[r], o));
        TRY(mpscl_matrix_batch_normalization_set_result_matrix_origin(f[r], o));
        TRY(mpscl_matrix_batch_normalization_set_source_number_of_feature_vectors(f[r], rows[r]));
        TRY(mpscl_matrix_batch_normalization_gradient_create(dev, &g[r]));
        TRY(mpscl_matrix_batch_normalization_gradient_set_reproducible(g[r], repro));
        TRY(mpscl_matrix_batch_normalization_gradient_set_batch_start(g[r], sh->batch_start));
        TRY(mpscl_matrix_batch_normalization_gradient_set_primary_source_matrix_origin(g[r], o));
        TRY(mpscl_matrix_batch_normalization_gradient_set_secondary_source_matrix_origin(g[r], o));
        TRY(mpscl_matrix_batch_normalization_gradient_set_result_matrix_origin(g[r], o));
        TRY(mpscl_matrix_batch_normalization_gradient_set_source_number_of_feature_vectors(
            g[r], rows[r]));
        keep(f[r], release_forward);
        keep(g[r], release_gradient);
    }
    TRY(mpscl_matrix_batch_normalization_partials_length(f[0], sh->c, &fl));
    TRY(mpscl_matrix_batch_normalization_gradient_partials_length(g[0], sh->c, &gl));
    for (int round = 0; round < 2; round++) {
        cl_mem buf = buffer_with(NULL, sh->mats * 2 * fl * 4);
        fpart[round][0] = partials_view(sh, buf, fl, 2, 0);
        fpart[round][1] = partials_view(sh, buf, fl, 2, 1);
        fall[round] = partials_view(sh, buf, fl, 2, 2);
        clReleaseMemObject(buf);
    }
    {
        cl_mem buf = buffer_with(NULL, sh->mats * 2 * gl * 4);
        gpart[0] = partials_view(sh, buf, gl, 2, 0);
        gpart[1] = partials_view(sh, buf, gl, 2, 1);
        gall = partials_view(sh, buf, gl, 2, 2);
        clReleaseMemObject(buf);
    }
    TRY(mpscl_command_buffer_create(dev, &cb));
    for (size_t round = 0; round < mpscl_matrix_batch_normalization_statistics_rounds(f[0]);
         round++) {
        int last = round + 1 == mpscl_matrix_batch_normalization_statistics_rounds(f[0]);
        for (int r = 0; r < 2; r++)
            TRY(mpscl_matrix_batch_normalization_encode_partial_statistics(
                f[r], cb, round, x, round ? mean : NULL, fpart[round][r]));
        TRY(mpscl_matrix_batch_normalization_encode_combine_statistics(
            f[0], cb, round, fall[round], 2, mean, var, last ? rm : NULL, last ? rv : NULL));
    }
    for (int r = 0; r < 2; r++)
        if (rows[r] > 0)
            TRY(mpscl_matrix_batch_normalization_encode(f[r], cb, x, mean, var, NULL, NULL, y));
    for (int r = 0; r < 2; r++)
        TRY(mpscl_matrix_batch_normalization_gradient_encode_partial_sums(
            g[r], cb, dy, x, mean, var, NULL, NULL, gpart[r]));
    for (int r = 0; r < 2; r++)
        TRY(mpscl_matrix_batch_normalization_gradient_encode_apply(
            g[r], cb, dy, x, mean, var, NULL, NULL, gall, 2, dx, r == 0 ? dg : dg1,
            r == 0 ? db : db1));
    if (repro) {
        /* The one-device encodes, whole region, through the same kernels. */
        TRY(mpscl_matrix_batch_normalization_set_source_number_of_feature_vectors(f[1], SIZE_MAX));
        TRY(mpscl_matrix_batch_normalization_set_source_matrix_origin(f[1], (mpscl_origin){0}));
        TRY(mpscl_matrix_batch_normalization_set_result_matrix_origin(f[1], (mpscl_origin){0}));
        TRY(mpscl_matrix_batch_normalization_set_compute_statistics(f[1], 1));
        TRY(mpscl_matrix_batch_normalization_encode_with_running_statistics(
            f[1], cb, x, m1, v1, NULL, NULL, y1, rm, rv));
        TRY(mpscl_matrix_batch_normalization_gradient_set_source_number_of_feature_vectors(
            g[1], SIZE_MAX));
        TRY(mpscl_matrix_batch_normalization_gradient_set_primary_source_matrix_origin(
            g[1], (mpscl_origin){0}));
        TRY(mpscl_matrix_batch_normalization_gradient_set_secondary_source_matrix_origin(
            g[1], (mpscl_origin){0}));
        TRY(mpscl_matrix_batch_normalization_gradient_set_result_matrix_origin(g[1],
                                                                            (mpscl_origin){0}));
        TRY(mpscl_matrix_batch_normalization_gradient_encode(g[1], cb, dy, x, m1, v1, NULL, NULL,
                                                             dx1, dg1, db1));
    }
    TRY(mpscl_command_buffer_commit(cb));
    TRY(mpscl_command_buffer_wait_until_completed(cb));
    keep(cb, release_cb);
    keep(x, release_matrix), keep(dy, release_matrix), keep(y, release_matrix);
    keep(dx, release_matrix), keep(y1, release_matrix), keep(dx1, release_matrix);
    keep(mean, release_vector), keep(var, release_vector), keep(rm, release_vector);
    keep(rv, release_vector), keep(m1, release_vector), keep(v1, release_vector);
    keep(dg, release_vector), keep(db, release_vector), keep(dg1, release_vector);
    keep(db1, release_vector);
}

static void
run_split(const shape *sh, mpscl_data_type t, int repro)
{
    if (only >= 0 && config++ != only)
        return;
    if (only >= 0)
        printf("oclgrind_run: split, %zu x %zu x %zu from %zu, type %d, %s\n", sh->n, sh->c,
               sh->mats, sh->batch_start, (int)t, repro ? "reproducible" : "default");
    run_split_one(sh, t, repro, sh->n * 71 + sh->c);
}

/* run_one, or only counts the configuration when another was asked for. */
static void
run(const shape *sh, mpscl_data_type t, mpscl_data_type vt, mpscl_neuron_type nt, float a,
    float b, float c, int frozen)
{
    if (only >= 0 && config++ != only)
        return;
    if (only >= 0)
        printf("oclgrind_run: %zu x %zu x %zu from %zu%s, type %d, vectors %d, neuron %d\n",
               sh->n, sh->c, sh->mats, sh->batch_start, sh->padded ? " padded" : "", (int)t,
               (int)vt, (int)nt);
    run_one(sh, t, vt, nt, a, b, c, frozen, sh->n * 131 + sh->c);
}

/* Parameters that keep every neuron's derivative finite on these inputs. */
static const struct {
    mpscl_neuron_type t;
    float a, b, c;
} neurons[] = {
    {MPSCL_NEURON_RELU, 0.1f, 0, 0},        {MPSCL_NEURON_LINEAR, 2.0f, 0.5f, 0},
    {MPSCL_NEURON_SIGMOID, 0, 0, 0},        {MPSCL_NEURON_HARD_SIGMOID, 0.2f, 0.5f, 0},
    {MPSCL_NEURON_TANH, 1.0f, 1.0f, 0},     {MPSCL_NEURON_ABSOLUTE, 0, 0, 0},
    {MPSCL_NEURON_SOFT_PLUS, 1.0f, 1.0f, 0}, {MPSCL_NEURON_SOFT_SIGN, 0, 0, 0},
    {MPSCL_NEURON_ELU, 1.0f, 0, 0},         {MPSCL_NEURON_RELUN, 0.1f, 2.0f, 0},
    {MPSCL_NEURON_POWER, 1.0f, 4.0f, 2.0f}, {MPSCL_NEURON_EXPONENTIAL, 1.0f, 0, 2.0f},
    {MPSCL_NEURON_LOGARITHM, 1.0f, 8.0f, 2.0f}, {MPSCL_NEURON_GELU, 0, 0, 0},
};
static const mpscl_data_type types[] = {MPSCL_DATA_TYPE_FLOAT32, MPSCL_DATA_TYPE_FLOAT16,
                                        MPSCL_DATA_TYPE_BFLOAT16, MPSCL_DATA_TYPE_FLOAT64};

static void
run_all_variants(size_t nshapes)
{
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (!mpscl_device_supports_data_type(dev, types[i])) {
            printf("oclgrind_run: %s lacks data type %d: skipped\n", mpscl_device_name(dev),
                   (int)types[i]);
            continue;
        }
        for (size_t s = 0; s < nshapes; s++) {
            run(&shapes[s], types[i], MPSCL_DATA_TYPE_FLOAT32, MPSCL_NEURON_NONE, 0, 0, 0, 1);
            if (types[i] != MPSCL_DATA_TYPE_FLOAT32)
                run(&shapes[s], types[i], types[i], MPSCL_NEURON_NONE, 0, 0, 0, 0);
        }
    }
    for (size_t i = 0; i < sizeof neurons / sizeof neurons[0]; i++)
        run(&shapes[0], MPSCL_DATA_TYPE_FLOAT32, MPSCL_DATA_TYPE_FLOAT32, neurons[i].t,
            neurons[i].a, neurons[i].b, neurons[i].c, 0);
    /* The split phases (fp64 is refused there), both modes. */
    for (size_t i = 0; i < 3; i++)
        for (size_t s = 0; s < nshapes && mpscl_device_supports_data_type(dev, types[i]); s++)
            for (int repro = 0; repro <= 1; repro++)
                run_split(&shapes[s], types[i], repro);
    printf("oclgrind_run: %s: %zu shapes x data types, %zu neurons: done\n",
           mpscl_device_name(dev), nshapes, sizeof neurons / sizeof neurons[0]);
}

static void
run_one_launch(size_t nshapes)
{
    /* Kernel objects read MPSCL_TUNE when they are created: run_one creates its own. */
    setenv("MPSCL_TUNE", "fused=1", 1);
    for (size_t s = 0; s < nshapes; s++) {
        run(&shapes[s], MPSCL_DATA_TYPE_FLOAT32, MPSCL_DATA_TYPE_FLOAT32, MPSCL_NEURON_NONE, 0, 0, 0,
            1);
        if (mpscl_device_supports_data_type(dev, MPSCL_DATA_TYPE_FLOAT16))
            run(&shapes[s], MPSCL_DATA_TYPE_FLOAT16, MPSCL_DATA_TYPE_FLOAT16, MPSCL_NEURON_GELU, 0,
                0, 0, 0);
    }
    printf("oclgrind_run: %s: %zu shapes, one-launch forward and gradient: done\n",
           mpscl_device_name(dev), nshapes);
}

int
main(int argc, char **argv)
{
    size_t nshapes = sizeof shapes / sizeof shapes[0];
    int one_launch = argc > 1 && strcmp(argv[1], "--one-launch") == 0;
    int tune = argc > 2 && strcmp(argv[1], "--tune") == 0, next = 1 + one_launch + 2 * tune;

    /* Before any kernel object exists, as in run_one_launch. */
    if (tune)
        setenv("MPSCL_TUNE", argv[2], 1);
    if (argc > next)
        only = strtol(argv[next], NULL, 10);
    TRY(mpscl_device_create_default(&dev));
    if (one_launch)
        run_one_launch(nshapes);
    else
        run_all_variants(nshapes);
    while (nkept > 0) {
        nkept--;
        kept[nkept].release(kept[nkept].obj);
    }
    mpscl_device_release(dev);
    return 0;
}
