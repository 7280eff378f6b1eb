/* libmpscl-mpi: the data-parallel forward and gradient steps of include/mpscl/mpi.h, built only
 * on the core's public API (split phases, encoded transfers) and MPI. A step is: local checks and
 * allocation, one agreement collective (properties and statuses of every rank), then per round
 * the share's partials on the device, read back, and MPI_Allgather'ed with this rank's status in
 * front; then the partials of every rank written to the device in rank order, combined there and
 * applied; then one outcome collective so every rank returns the same verdict. Every rank runs
 * the same sequence of collectives whatever fails, so no failure leaves a rank waiting. */
#include "config.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mpscl/mpi.h>

/* ---- messages ---- */

/* The core's messages fit in 512 bytes; ours prefix them with the function and the rank. */
static _Thread_local char last_message[768];

const char *
mpscl_mpi_last_error_message(void)
{
    return last_message;
}

#if defined(__GNUC__) || defined(__clang__)
#define MPI__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define MPI__PRINTF(f, a)
#endif

static mpscl_status fail(mpscl_status s, const char *fmt, ...) MPI__PRINTF(2, 3);

static mpscl_status
fail(mpscl_status s, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    return s;
}

/* ---- one step's state ---- */

/* What every rank must agree on, exchanged as 64-bit words before any work. STATUS and ROWS are
 * per rank; every other field must equal rank 0's. */
enum {
    F_STATUS, F_ROWS, F_COLUMNS, F_BATCHES, F_LENGTH, F_ROUNDS, F_TYPE, F_EPSILON, F_NEURON,
    F_NEURON_A, F_NEURON_B, F_NEURON_C, F_MODE, F_REPRODUCIBLE, F_COUNT
};
static const char *const field_names[F_COUNT] = {
    "status", "rows", "columns", "batch size", "partials length", "statistics rounds",
    "data type", "epsilon", "neuron type", "neuron parameter a", "neuron parameter b",
    "neuron parameter c", NULL /* per kind */, "reproducible"};

typedef struct step {
    const char *fn;
    const char *mode_name;        /* F_MODE: "momentum" or "frozen_statistics" */
    MPI_Comm comm;
    MPI_Errhandler saved;         /* the caller's handler, put back at the end */
    int rank, size;
    mpscl_device *device;
    uint64_t fields[F_COUNT];
    size_t rows, columns, batch_first, batches, length, rounds;
    size_t words;                 /* one rank's block in an exchange: status + partials */
    uint32_t *send, *recv;
    float *host_local, *host_all; /* read back / written: vectors of batch_first + batches */
    mpscl_vector *local, *all;    /* this share's partials; every rank's, in rank order */
    mpscl_mpi_timings t;
    struct timespec start;
} step;

static double
us_since(const struct timespec *a)
{
    struct timespec b;

    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a->tv_sec) * 1e6 + (double)(b.tv_nsec - a->tv_nsec) / 1e3;
}

static void
mark(struct timespec *t)
{
    clock_gettime(CLOCK_MONOTONIC, t);
}

/* A failed core call: its status, with its message behind ours. */
static mpscl_status
fail_core(const step *st, mpscl_status s, const char *what)
{
    return fail(s, "%s (rank %d of %d): %s: %s", st->fn, st->rank, st->size, what,
                mpscl_last_error_message());
}

static mpscl_status
fail_mpi(const step *st, int rc, const char *what)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;

    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "MPI error %d", rc);
    return fail(MPSCL_ERROR_COMMUNICATION, "%s (rank %d of %d): %s failed: %s", st->fn, st->rank,
                st->size, what, text);
}

/* ---- entry and exit: the communicator and its error handler ---- */

static mpscl_status
begin(step *st, MPI_Comm comm)
{
    int flag = 0;

    last_message[0] = '\0';
    mark(&st->start);
    st->comm = comm;
    st->saved = MPI_ERRHANDLER_NULL;
    if (MPI_Initialized(&flag) != MPI_SUCCESS || !flag)
        return fail(MPSCL_ERROR_INVALID_STATE, "%s: MPI is not initialised (call MPI_Init first)",
                    st->fn);
    if (MPI_Finalized(&flag) != MPI_SUCCESS || flag)
        return fail(MPSCL_ERROR_INVALID_STATE, "%s: MPI is already finalised", st->fn);
    if (comm == MPI_COMM_NULL)
        return fail(MPSCL_ERROR_INVALID_ARGUMENT, "%s: comm is MPI_COMM_NULL", st->fn);
    /* Before any call that could fail on comm: the caller's handler may abort. */
    if (MPI_Comm_get_errhandler(comm, &st->saved) != MPI_SUCCESS ||
        MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN) != MPI_SUCCESS) {
        st->saved = MPI_ERRHANDLER_NULL;
        return fail(MPSCL_ERROR_INVALID_ARGUMENT, "%s: comm is not a valid communicator",
                    st->fn);
    }
    if (MPI_Comm_test_inter(comm, &flag) != MPI_SUCCESS || flag)
        return fail(MPSCL_ERROR_INVALID_ARGUMENT,
                    "%s: comm is an inter-communicator; the step needs an intra-communicator",
                    st->fn);
    if (MPI_Comm_rank(comm, &st->rank) != MPI_SUCCESS ||
        MPI_Comm_size(comm, &st->size) != MPI_SUCCESS)
        return fail(MPSCL_ERROR_INVALID_ARGUMENT, "%s: comm has no rank or size", st->fn);
    return MPSCL_SUCCESS;
}

static void
end(step *st, mpscl_status s, mpscl_mpi_timings *timings)
{
    mpscl_vector_release(st->local);
    mpscl_vector_release(st->all);
    free(st->send);
    free(st->recv);
    free(st->host_local);
    free(st->host_all);
    if (st->saved != MPI_ERRHANDLER_NULL) {
        MPI_Comm_set_errhandler(st->comm, st->saved);
        MPI_Errhandler_free(&st->saved);
    }
    st->t.whole_us = us_since(&st->start);
    if (s == MPSCL_SUCCESS && timings != NULL)
        *timings = st->t;
}

/* ---- local checks, made before the agreement so that a refusal writes nothing anywhere ---- */

static int
same_context(const step *st, mpscl_device *d)
{
    return mpscl_device_cl_context(d) == mpscl_device_cl_context(st->device);
}

static size_t
min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* Narrows rows, columns and batches to what m holds past origin o, as the core clips a source. */
static mpscl_status
clip_source(step *st, const mpscl_matrix *m, mpscl_origin o, size_t batch_start,
            const char *name)
{
    size_t rows, cols, mats;

    if (m == NULL)
        return fail(MPSCL_ERROR_INVALID_ARGUMENT, "%s (rank %d): %s is NULL", st->fn, st->rank,
                    name);
    rows = mpscl_matrix_rows(m);
    cols = mpscl_matrix_columns(m);
    mats = mpscl_matrix_matrices(m);
    if (!same_context(st, mpscl_matrix_device(m)))
        return fail(MPSCL_ERROR_DEVICE_MISMATCH,
                    "%s (rank %d): %s belongs to another OpenCL context than the kernel", st->fn,
                    st->rank, name);
    if (o.x >= rows || o.y >= cols)
        return fail(MPSCL_ERROR_OUT_OF_RANGE, "%s (rank %d): origin (%zu, %zu) is outside %s of "
                    "%zu x %zu", st->fn, st->rank, o.x, o.y, name, rows, cols);
    if (batch_start >= mats)
        return fail(MPSCL_ERROR_OUT_OF_RANGE, "%s (rank %d): batch_start %zu is past the %zu "
                    "matrices of %s", st->fn, st->rank, batch_start, mats, name);
    st->rows = min_size(st->rows, rows - o.x);
    st->columns = min_size(st->columns, cols - o.y);
    st->batches = min_size(st->batches, mats - batch_start);
    return MPSCL_SUCCESS;
}

/* An output matrix must hold the share's region past its origin (nothing to hold when the share
 * is empty) and have the input's type. */
static mpscl_status
check_result(const step *st, const mpscl_matrix *m, mpscl_origin o, mpscl_data_type type,
             const char *name)
{
    if (m == NULL)
        return fail(MPSCL_ERROR_INVALID_ARGUMENT, "%s (rank %d): %s is NULL", st->fn, st->rank,
                    name);
    if (!same_context(st, mpscl_matrix_device(m)))
        return fail(MPSCL_ERROR_DEVICE_MISMATCH,
                    "%s (rank %d): %s belongs to another OpenCL context than the kernel", st->fn,
                    st->rank, name);
    if (mpscl_matrix_data_type(m) != type)
        return fail(MPSCL_ERROR_INVALID_DATA_TYPE, "%s (rank %d): %s has data type %d, the input "
                    "has %d: matrices must share one", st->fn, st->rank, name,
                    (int)mpscl_matrix_data_type(m), (int)type);
    if (st->rows == 0)
        return MPSCL_SUCCESS;
    if (o.x >= mpscl_matrix_rows(m) || o.y >= mpscl_matrix_columns(m))
        return fail(MPSCL_ERROR_OUT_OF_RANGE, "%s (rank %d): result origin (%zu, %zu) is outside "
                    "%s of %zu x %zu", st->fn, st->rank, o.x, o.y, name, mpscl_matrix_rows(m),
                    mpscl_matrix_columns(m));
    if (mpscl_matrix_rows(m) - o.x < st->rows || mpscl_matrix_columns(m) - o.y < st->columns)
        return fail(MPSCL_ERROR_INVALID_SHAPE, "%s (rank %d): %s has %zu x %zu past its origin, "
                    "the share is %zu x %zu", st->fn, st->rank, name, mpscl_matrix_rows(m) - o.x,
                    mpscl_matrix_columns(m) - o.y, st->rows, st->columns);
    if (mpscl_matrix_matrices(m) < st->batch_first + st->batches)
        return fail(MPSCL_ERROR_INVALID_SHAPE, "%s (rank %d): %s has %zu matrices, the batch needs "
                    "%zu", st->fn, st->rank, name, mpscl_matrix_matrices(m),
                    st->batch_first + st->batches);
    return MPSCL_SUCCESS;
}

/* A vector: present when required, on the kernel's context, float32 or the matrices' type, and
 * covering the columns of every matrix of the batch. */
static mpscl_status
check_vector(const step *st, const mpscl_vector *v, int required, mpscl_data_type type,
             const char *name)
{
    if (v == NULL)
        return required ? fail(MPSCL_ERROR_INVALID_ARGUMENT, "%s (rank %d): %s is NULL", st->fn,
                               st->rank, name)
                        : MPSCL_SUCCESS;
    if (!same_context(st, mpscl_vector_device(v)))
        return fail(MPSCL_ERROR_DEVICE_MISMATCH,
                    "%s (rank %d): %s belongs to another OpenCL context than the kernel", st->fn,
                    st->rank, name);
    if (mpscl_vector_data_type(v) != type && mpscl_vector_data_type(v) != MPSCL_DATA_TYPE_FLOAT32)
        return fail(MPSCL_ERROR_INVALID_DATA_TYPE, "%s (rank %d): %s has data type %d: vectors "
                    "are float32 or the matrices' type %d", st->fn, st->rank, name,
                    (int)mpscl_vector_data_type(v), (int)type);
    if (mpscl_vector_length(v) < st->columns)
        return fail(MPSCL_ERROR_INVALID_SHAPE, "%s (rank %d): %s has %zu elements, the region has "
                    "%zu columns", st->fn, st->rank, name, mpscl_vector_length(v), st->columns);
    if (mpscl_vector_vectors(v) < st->batch_first + st->batches)
        return fail(MPSCL_ERROR_INVALID_SHAPE, "%s (rank %d): %s has %zu vectors, the batch needs "
                    "%zu", st->fn, st->rank, name, mpscl_vector_vectors(v),
                    st->batch_first + st->batches);
    return MPSCL_SUCCESS;
}

static uint64_t
float_bits(float f)
{
    uint32_t u;

    memcpy(&u, &f, sizeof u);
    return u;
}

/* The columns and batches every rank must share, the partials' size, and whether the step's
 * messages fit MPI's int counts. */
static mpscl_status
check_sizes(step *st)
{
    if (st->columns == 0 || st->batches == 0)
        return fail(MPSCL_ERROR_INVALID_SHAPE, "%s (rank %d): the region is empty (%zu columns, "
                    "%zu matrices)", st->fn, st->rank, st->columns, st->batches);
    if (st->length == 0 || st->batches > (size_t)INT_MAX / st->length ||
        st->batches * st->length + 1 > (size_t)INT_MAX / (size_t)st->size)
        return fail(MPSCL_ERROR_UNSUPPORTED, "%s (rank %d): %zu matrices of %zu partial words "
                    "from %d ranks pass MPI's int counts", st->fn, st->rank, st->batches,
                    st->length, st->size);
    st->words = 1 + st->batches * st->length;
    return MPSCL_SUCCESS;
}

/* Host buffers and the two partials vectors, sized from this rank's view (the agreement then
 * confirms every rank's view is the same). */
static mpscl_status
allocate(step *st)
{
    size_t vectors = st->batch_first + st->batches, p = (size_t)st->size;
    mpscl_vector_descriptor dl, da;
    mpscl_status s;

    st->send = malloc(st->words * sizeof *st->send);
    st->recv = malloc(p * st->words * sizeof *st->recv);
    st->host_local = calloc(vectors * st->length, sizeof *st->host_local);
    st->host_all = calloc(vectors * p * st->length, sizeof *st->host_all);
    if (st->send == NULL || st->recv == NULL || st->host_local == NULL ||
        st->host_all == NULL)
        return fail(MPSCL_ERROR_OUT_OF_HOST_MEMORY, "%s (rank %d): no host memory for the "
                    "partials of %d ranks", st->fn, st->rank, st->size);
    dl = mpscl_vector_descriptor_make_batch(st->length, vectors, st->length * sizeof(float),
                                            MPSCL_DATA_TYPE_FLOAT32);
    da = mpscl_vector_descriptor_make_batch(p * st->length, vectors,
                                            p * st->length * sizeof(float),
                                            MPSCL_DATA_TYPE_FLOAT32);
    if ((s = mpscl_vector_create(st->device, &dl, &st->local)) != MPSCL_SUCCESS)
        return fail_core(st, s, "the share's partials vector");
    if ((s = mpscl_vector_create(st->device, &da, &st->all)) != MPSCL_SUCCESS)
        return fail_core(st, s, "the partials vector of every rank");
    return MPSCL_SUCCESS;
}

/* ---- collectives ---- */

static mpscl_status
peer_failed(const step *st, int r, int status, const char *when)
{
    return fail(MPSCL_ERROR_COMMUNICATION, "%s (rank %d of %d): rank %d failed %s: %s (%d)",
                st->fn, st->rank, st->size, r, when, mpscl_status_string((mpscl_status)status),
                status);
}

/* A failure as one word whose maximum over the ranks names a failing rank and its status. */
static uint64_t
failure_word(const step *st, mpscl_status s)
{
    return s == MPSCL_SUCCESS ? 0 : (uint64_t)s << 32 | (uint64_t)(uint32_t)st->rank;
}

static mpscl_status
peer_word_failed(const step *st, uint64_t word, const char *when)
{
    return peer_failed(st, (int)(word & 0xffffffffu), (int)(word >> 32), when);
}

/* Every rank's fields through one MPI_Allreduce(MAX) of each field and its complement, so each
 * field's maximum and minimum: a failure anywhere, then any field whose maximum and minimum differ,
 * then rows that are 0 everywhere. A fixed size whatever the number of ranks, and the same verdict
 * on every rank, since every rank judges the same table. */
static mpscl_status
agree(step *st, mpscl_status local)
{
    uint64_t mine[2 * F_COUNT], all[2 * F_COUNT];
    struct timespec t0;
    int rc;

    mark(&t0);
    st->fields[F_STATUS] = failure_word(st, local);
    for (int i = 0; i < F_COUNT; i++) {
        mine[i] = st->fields[i];
        mine[F_COUNT + i] = ~st->fields[i];
    }
    rc = MPI_Allreduce(mine, all, 2 * F_COUNT, MPI_UINT64_T, MPI_MAX, st->comm);
    st->t.collectives++;
    st->t.bytes_sent += sizeof mine;
    st->t.exchange_us += us_since(&t0);
    if (rc != MPI_SUCCESS)
        return local != MPSCL_SUCCESS ? local
                                      : fail_mpi(st, rc, "MPI_Allreduce of the step's properties");
    if (local != MPSCL_SUCCESS)
        return local;
    if (all[F_STATUS] != 0)
        return peer_word_failed(st, all[F_STATUS], "its checks");
    for (int i = F_COLUMNS; i < F_COUNT; i++)
        if (all[i] != ~all[F_COUNT + i])
            return fail(i == F_COLUMNS || i == F_BATCHES ? MPSCL_ERROR_INVALID_SHAPE
                                                         : MPSCL_ERROR_INVALID_ARGUMENT,
                        "%s (rank %d of %d): ranks disagree on %s: from %" PRIu64 " to %" PRIu64
                        " (every rank must call with the same properties; this rank has %" PRIu64
                        ")", st->fn, st->rank, st->size,
                        i == F_MODE ? st->mode_name : field_names[i], ~all[F_COUNT + i], all[i],
                        st->fields[i]);
    if (all[F_ROWS] == 0)
        return fail(MPSCL_ERROR_INVALID_SHAPE, "%s (rank %d of %d): every rank's share is empty",
                    st->fn, st->rank, st->size);
    return MPSCL_SUCCESS;
}

/* One round's exchange: this rank's status and partials to every rank, then, when every rank
 * succeeded, the partials of vector b laid out in rank order as the combine reads them. */
static mpscl_status
exchange(step *st, mpscl_status local, size_t round)
{
    size_t p = (size_t)st->size, len = st->length;
    struct timespec t0;
    char when[48];
    int rc;

    mark(&t0);
    st->send[0] = (uint32_t)local;
    for (size_t b = 0; b < st->batches; b++) {
        float *dst = (float *)(st->send + 1 + b * len);
        if (local == MPSCL_SUCCESS)
            memcpy(dst, st->host_local + (st->batch_first + b) * len, len * sizeof(float));
        else
            memset(dst, 0, len * sizeof(float));
    }
    rc = MPI_Allgather(st->send, (int)st->words, MPI_UINT32_T, st->recv, (int)st->words,
                       MPI_UINT32_T, st->comm);
    st->t.collectives++;
    st->t.bytes_sent += st->words * sizeof *st->send;
    if (rc != MPI_SUCCESS)
        return fail_mpi(st, rc, "MPI_Allgather of the partials");
    snprintf(when, sizeof when, "before the exchange of round %zu", round);
    for (size_t r = 0; r < p; r++)
        if (st->recv[r * st->words] != MPSCL_SUCCESS) {
            st->t.exchange_us += us_since(&t0);
            return local != MPSCL_SUCCESS ? local
                                          : peer_failed(st, (int)r, (int)st->recv[r * st->words],
                                                        when);
        }
    for (size_t b = 0; b < st->batches; b++)
        for (size_t r = 0; r < p; r++)
            memcpy(st->host_all + ((st->batch_first + b) * p + r) * len,
                   st->recv + r * st->words + 1 + b * len, len * sizeof(float));
    st->t.exchange_us += us_since(&t0);
    return MPSCL_SUCCESS;
}

/* The last collective: every rank learns whether the last phase worked everywhere. */
static mpscl_status
settle(step *st, mpscl_status local)
{
    uint64_t mine = failure_word(st, local), any = 0;
    struct timespec t0;
    int rc;

    mark(&t0);
    rc = MPI_Allreduce(&mine, &any, 1, MPI_UINT64_T, MPI_MAX, st->comm);
    st->t.collectives++;
    st->t.bytes_sent += sizeof mine;
    st->t.exchange_us += us_since(&t0);
    if (local != MPSCL_SUCCESS)
        return local;
    if (rc != MPI_SUCCESS)
        return fail_mpi(st, rc, "MPI_Allreduce of the outcome");
    return any != 0 ? peer_word_failed(st, any, "in the last phase") : MPSCL_SUCCESS;
}

/* ---- device phases ---- */

/* Commits and waits cb, then releases it; the first failure wins. */
static mpscl_status
finish(const step *st, mpscl_command_buffer *cb, mpscl_status s, const char *what)
{
    if (s == MPSCL_SUCCESS && (s = mpscl_command_buffer_commit(cb)) != MPSCL_SUCCESS)
        s = fail_core(st, s, "commit");
    if (s == MPSCL_SUCCESS &&
        (s = mpscl_command_buffer_wait_until_completed(cb)) != MPSCL_SUCCESS)
        s = fail_core(st, s, what);
    mpscl_command_buffer_release(cb);
    return s;
}

static mpscl_status
new_buffer(const step *st, mpscl_command_buffer **cb)
{
    mpscl_status s = mpscl_command_buffer_create(st->device, cb);

    return s == MPSCL_SUCCESS ? s : fail_core(st, s, "mpscl_command_buffer_create");
}

/* ---- the forward ---- */

typedef struct forward_args {
    mpscl_matrix_batch_normalization *k;
    const mpscl_matrix *input;
    mpscl_vector *mean, *variance;
    const mpscl_vector *gamma, *beta;
    mpscl_matrix *result;
    mpscl_vector *running_mean, *running_variance;
} forward_args;

static mpscl_status
forward_check(step *st, const forward_args *a)
{
    mpscl_matrix_batch_normalization *k = a->k;
    mpscl_origin o = mpscl_matrix_batch_normalization_source_matrix_origin(k);
    mpscl_data_type type;
    mpscl_status s;

    st->batch_first = mpscl_matrix_batch_normalization_batch_start(k);
    st->rows = mpscl_matrix_batch_normalization_source_number_of_feature_vectors(k);
    st->columns = mpscl_matrix_batch_normalization_source_input_feature_channels(k);
    st->batches = mpscl_matrix_batch_normalization_batch_size(k);
    if ((s = clip_source(st, a->input, o, st->batch_first, "input")) != MPSCL_SUCCESS)
        return s;
    type = mpscl_matrix_data_type(a->input);
    st->fields[F_TYPE] = (uint64_t)type;
    if ((a->running_mean == NULL) != (a->running_variance == NULL))
        return fail(MPSCL_ERROR_INVALID_ARGUMENT, "%s (rank %d): running_mean and "
                    "running_variance are both NULL or both given", st->fn, st->rank);
    if ((s = check_vector(st, a->mean, 1, type, "mean")) != MPSCL_SUCCESS ||
        (s = check_vector(st, a->variance, 1, type, "variance")) != MPSCL_SUCCESS ||
        (s = check_vector(st, a->gamma, 0, type, "gamma")) != MPSCL_SUCCESS ||
        (s = check_vector(st, a->beta, 0, type, "beta")) != MPSCL_SUCCESS ||
        (s = check_vector(st, a->running_mean, 0, type, "running_mean")) != MPSCL_SUCCESS ||
        (s = check_vector(st, a->running_variance, 0, type, "running_variance")) !=
            MPSCL_SUCCESS ||
        (s = check_result(st, a->result,
                          mpscl_matrix_batch_normalization_result_matrix_origin(k), type,
                          "result")) != MPSCL_SUCCESS)
        return s;
    if (st->columns == 0 || st->batches == 0)
        return check_sizes(st);
    if ((s = mpscl_matrix_batch_normalization_partials_length(k, st->columns, &st->length)) !=
        MPSCL_SUCCESS)
        return fail_core(st, s, "mpscl_matrix_batch_normalization_partials_length");
    st->rounds = mpscl_matrix_batch_normalization_statistics_rounds(k);
    return check_sizes(st);
}

static void
forward_fields(step *st, const mpscl_matrix_batch_normalization *k)
{
    st->fields[F_ROWS] = st->rows;
    st->fields[F_COLUMNS] = st->columns;
    st->fields[F_BATCHES] = st->batches;
    st->fields[F_LENGTH] = st->length;
    st->fields[F_ROUNDS] = st->rounds;
    st->fields[F_EPSILON] = float_bits(mpscl_matrix_batch_normalization_epsilon(k));
    st->fields[F_NEURON] = (uint64_t)mpscl_matrix_batch_normalization_neuron_type(k);
    st->fields[F_NEURON_A] = float_bits(mpscl_matrix_batch_normalization_neuron_parameter_a(k));
    st->fields[F_NEURON_B] = float_bits(mpscl_matrix_batch_normalization_neuron_parameter_b(k));
    st->fields[F_NEURON_C] = float_bits(mpscl_matrix_batch_normalization_neuron_parameter_c(k));
    st->fields[F_MODE] = float_bits(mpscl_matrix_batch_normalization_momentum(k));
    st->fields[F_REPRODUCIBLE] = (uint64_t)mpscl_matrix_batch_normalization_reproducible(k);
}

/* Encodes round `round`'s partials of the share and their read back into cb. */
static mpscl_status
forward_partials(const step *st, const forward_args *a, mpscl_command_buffer *cb, size_t round)
{
    mpscl_status s;

    if ((s = mpscl_matrix_batch_normalization_encode_partial_statistics(
             a->k, cb, round, a->input, round == 0 ? NULL : a->mean, st->local)) !=
        MPSCL_SUCCESS)
        return fail_core(st, s, "mpscl_matrix_batch_normalization_encode_partial_statistics");
    if ((s = mpscl_vector_encode_read(st->local, cb, st->host_local)) != MPSCL_SUCCESS)
        return fail_core(st, s, "reading the share's partials back");
    return MPSCL_SUCCESS;
}

/* The received partials of round `round` onto the device and combined; in the last round the
 * running statistics follow. */
static mpscl_status
forward_combine(const step *st, const forward_args *a, mpscl_command_buffer *cb, size_t round)
{
    int last = round + 1 == st->rounds;
    mpscl_status s;

    if ((s = mpscl_vector_encode_write(st->all, cb, st->host_all)) != MPSCL_SUCCESS)
        return fail_core(st, s, "writing every rank's partials");
    if ((s = mpscl_matrix_batch_normalization_encode_combine_statistics(
             a->k, cb, round, st->all, (size_t)st->size, a->mean, a->variance,
             last ? a->running_mean : NULL, last ? a->running_variance : NULL)) != MPSCL_SUCCESS)
        return fail_core(st, s, "mpscl_matrix_batch_normalization_encode_combine_statistics");
    return MPSCL_SUCCESS;
}

/* The share normalised with the global statistics: the core's encode with compute_statistics
 * off, which the object may have on (put back whatever happens). */
static mpscl_status
forward_normalize(const step *st, const forward_args *a, mpscl_command_buffer *cb)
{
    int was = mpscl_matrix_batch_normalization_compute_statistics(a->k);
    mpscl_status s;

    if (st->rows == 0)
        return MPSCL_SUCCESS;
    if (was && (s = mpscl_matrix_batch_normalization_set_compute_statistics(a->k, 0)) !=
                   MPSCL_SUCCESS)
        return fail_core(st, s, "mpscl_matrix_batch_normalization_set_compute_statistics");
    s = mpscl_matrix_batch_normalization_encode(a->k, cb, a->input, a->mean, a->variance,
                                                a->gamma, a->beta, a->result);
    if (s != MPSCL_SUCCESS)
        s = fail_core(st, s, "mpscl_matrix_batch_normalization_encode");
    if (was)
        (void)mpscl_matrix_batch_normalization_set_compute_statistics(a->k, 1);
    return s;
}

/* Round r's local phase: round 0 alone, later rounds behind the previous round's combine (which
 * wrote the mean they need), in one command buffer and one wait. */
static mpscl_status
forward_local(step *st, const forward_args *a, size_t round)
{
    mpscl_command_buffer *cb = NULL;
    struct timespec t0;
    mpscl_status s;

    mark(&t0);
    if ((s = new_buffer(st, &cb)) != MPSCL_SUCCESS)
        return s;
    if (round > 0)
        s = forward_combine(st, a, cb, round - 1);
    if (s == MPSCL_SUCCESS)
        s = forward_partials(st, a, cb, round);
    s = finish(st, cb, s, "the share's partial statistics");
    st->t.local_us += us_since(&t0);
    return s;
}

static mpscl_status
forward_apply(step *st, const forward_args *a)
{
    mpscl_command_buffer *cb = NULL;
    struct timespec t0;
    mpscl_status s;

    mark(&t0);
    if ((s = new_buffer(st, &cb)) != MPSCL_SUCCESS)
        return s;
    if ((s = forward_combine(st, a, cb, st->rounds - 1)) == MPSCL_SUCCESS)
        s = forward_normalize(st, a, cb);
    s = finish(st, cb, s, "the combine and the normalisation");
    st->t.apply_us += us_since(&t0);
    return s;
}

/* The combine finds C and the batch from its vectors' lengths where the properties leave them
 * open (SIZE_MAX): pinned to the share's own for the call, they mean the same to every phase
 * however long the caller's vectors are. Put back by unpin. */
static void
forward_pin(const step *st, mpscl_matrix_batch_normalization *k, size_t saved[2])
{
    saved[0] = mpscl_matrix_batch_normalization_source_input_feature_channels(k);
    saved[1] = mpscl_matrix_batch_normalization_batch_size(k);
    (void)mpscl_matrix_batch_normalization_set_source_input_feature_channels(k, st->columns);
    (void)mpscl_matrix_batch_normalization_set_batch_size(k, st->batches);
}

static void
forward_unpin(mpscl_matrix_batch_normalization *k, const size_t saved[2])
{
    (void)mpscl_matrix_batch_normalization_set_source_input_feature_channels(k, saved[0]);
    (void)mpscl_matrix_batch_normalization_set_batch_size(k, saved[1]);
}

mpscl_status
mpscl_mpi_matrix_batch_normalization_run(
    mpscl_matrix_batch_normalization *k, MPI_Comm comm, const mpscl_matrix *input,
    mpscl_vector *mean, mpscl_vector *variance, const mpscl_vector *gamma,
    const mpscl_vector *beta, mpscl_matrix *result, mpscl_vector *running_mean,
    mpscl_vector *running_variance, mpscl_mpi_timings *timings)
{
    forward_args a = {k, input, mean, variance, gamma, beta, result, running_mean,
                      running_variance};
    step st = {.fn = "mpi_matrix_batch_normalization_run", .mode_name = "momentum"};
    mpscl_status s;

    if ((s = begin(&st, comm)) != MPSCL_SUCCESS) {
        end(&st, s, timings);
        return s;
    }
    st.device = mpscl_matrix_batch_normalization_device(k);
    if (k == NULL)
        s = fail(MPSCL_ERROR_INVALID_ARGUMENT, "%s (rank %d): kernel is NULL", st.fn, st.rank);
    else if ((s = forward_check(&st, &a)) == MPSCL_SUCCESS)
        s = allocate(&st);
    if (k != NULL)
        forward_fields(&st, k);
    s = agree(&st, s);
    if (s == MPSCL_SUCCESS) {
        size_t saved[2];
        forward_pin(&st, k, saved);
        for (size_t round = 0; s == MPSCL_SUCCESS && round < st.rounds; round++)
            s = exchange(&st, forward_local(&st, &a, round), round);
        if (s == MPSCL_SUCCESS)
            s = settle(&st, forward_apply(&st, &a));
        forward_unpin(k, saved);
    }
    end(&st, s, timings);
    return s;
}

/* ---- the gradient ---- */

typedef struct gradient_args {
    mpscl_matrix_batch_normalization_gradient *k;
    const mpscl_matrix *gradient, *input;
    const mpscl_vector *mean, *variance, *gamma, *beta;
    mpscl_matrix *dx;
    mpscl_vector *dgamma, *dbeta;
} gradient_args;

static mpscl_status
gradient_check(step *st, const gradient_args *a)
{
    mpscl_matrix_batch_normalization_gradient *k = a->k;
    mpscl_data_type type;
    mpscl_status s;

    st->batch_first = mpscl_matrix_batch_normalization_gradient_batch_start(k);
    st->rows = mpscl_matrix_batch_normalization_gradient_source_number_of_feature_vectors(k);
    st->columns = mpscl_matrix_batch_normalization_gradient_source_input_feature_channels(k);
    st->batches = mpscl_matrix_batch_normalization_gradient_batch_size(k);
    if ((s = clip_source(st, a->gradient,
                         mpscl_matrix_batch_normalization_gradient_primary_source_matrix_origin(k),
                         st->batch_first, "gradient")) != MPSCL_SUCCESS ||
        (s = clip_source(st, a->input,
                         mpscl_matrix_batch_normalization_gradient_secondary_source_matrix_origin(
                             k),
                         st->batch_first, "input")) != MPSCL_SUCCESS)
        return s;
    type = mpscl_matrix_data_type(a->gradient);
    st->fields[F_TYPE] = (uint64_t)type;
    if ((s = check_vector(st, a->mean, 1, type, "mean")) != MPSCL_SUCCESS ||
        (s = check_vector(st, a->variance, 1, type, "variance")) != MPSCL_SUCCESS ||
        (s = check_vector(st, a->gamma, 0, type, "gamma")) != MPSCL_SUCCESS ||
        (s = check_vector(st, a->beta, 0, type, "beta")) != MPSCL_SUCCESS ||
        (s = check_vector(st, a->dgamma, 0, type, "result_gradient_for_gamma")) !=
            MPSCL_SUCCESS ||
        (s = check_vector(st, a->dbeta, 0, type, "result_gradient_for_beta")) != MPSCL_SUCCESS ||
        (s = check_result(st, a->dx,
                          mpscl_matrix_batch_normalization_gradient_result_matrix_origin(k), type,
                          "result_gradient_for_data")) != MPSCL_SUCCESS)
        return s;
    if (st->columns == 0 || st->batches == 0)
        return check_sizes(st);
    if ((s = mpscl_matrix_batch_normalization_gradient_partials_length(k, st->columns,
                                                                        &st->length)) !=
        MPSCL_SUCCESS)
        return fail_core(st, s, "mpscl_matrix_batch_normalization_gradient_partials_length");
    st->rounds = 1;
    return check_sizes(st);
}

static void
gradient_fields(step *st, const mpscl_matrix_batch_normalization_gradient *k)
{
    st->fields[F_ROWS] = st->rows;
    st->fields[F_COLUMNS] = st->columns;
    st->fields[F_BATCHES] = st->batches;
    st->fields[F_LENGTH] = st->length;
    st->fields[F_ROUNDS] = st->rounds;
    st->fields[F_EPSILON] = float_bits(mpscl_matrix_batch_normalization_gradient_epsilon(k));
    st->fields[F_NEURON] = (uint64_t)mpscl_matrix_batch_normalization_gradient_neuron_type(k);
    st->fields[F_NEURON_A] =
        float_bits(mpscl_matrix_batch_normalization_gradient_neuron_parameter_a(k));
    st->fields[F_NEURON_B] =
        float_bits(mpscl_matrix_batch_normalization_gradient_neuron_parameter_b(k));
    st->fields[F_NEURON_C] =
        float_bits(mpscl_matrix_batch_normalization_gradient_neuron_parameter_c(k));
    st->fields[F_MODE] = (uint64_t)mpscl_matrix_batch_normalization_gradient_frozen_statistics(k);
    st->fields[F_REPRODUCIBLE] =
        (uint64_t)mpscl_matrix_batch_normalization_gradient_reproducible(k);
}

static mpscl_status
gradient_local(step *st, const gradient_args *a)
{
    mpscl_command_buffer *cb = NULL;
    struct timespec t0;
    mpscl_status s;

    mark(&t0);
    if ((s = new_buffer(st, &cb)) != MPSCL_SUCCESS)
        return s;
    if ((s = mpscl_matrix_batch_normalization_gradient_encode_partial_sums(
             a->k, cb, a->gradient, a->input, a->mean, a->variance, a->gamma, a->beta,
             st->local)) != MPSCL_SUCCESS)
        s = fail_core(st, s, "mpscl_matrix_batch_normalization_gradient_encode_partial_sums");
    else if ((s = mpscl_vector_encode_read(st->local, cb, st->host_local)) != MPSCL_SUCCESS)
        s = fail_core(st, s, "reading the share's partials back");
    s = finish(st, cb, s, "the share's partial sums");
    st->t.local_us += us_since(&t0);
    return s;
}

static mpscl_status
gradient_apply(step *st, const gradient_args *a)
{
    mpscl_command_buffer *cb = NULL;
    struct timespec t0;
    mpscl_status s;

    mark(&t0);
    if ((s = new_buffer(st, &cb)) != MPSCL_SUCCESS)
        return s;
    if ((s = mpscl_vector_encode_write(st->all, cb, st->host_all)) != MPSCL_SUCCESS)
        s = fail_core(st, s, "writing every rank's partials");
    else if ((s = mpscl_matrix_batch_normalization_gradient_encode_apply(
                  a->k, cb, a->gradient, a->input, a->mean, a->variance, a->gamma, a->beta,
                  st->all, (size_t)st->size, a->dx, a->dgamma, a->dbeta)) != MPSCL_SUCCESS)
        s = fail_core(st, s, "mpscl_matrix_batch_normalization_gradient_encode_apply");
    s = finish(st, cb, s, "the apply");
    st->t.apply_us += us_since(&t0);
    return s;
}

/* As forward_pin: C and the batch of the share, for every phase. */
static void
gradient_pin(const step *st, mpscl_matrix_batch_normalization_gradient *k, size_t saved[2])
{
    saved[0] = mpscl_matrix_batch_normalization_gradient_source_input_feature_channels(k);
    saved[1] = mpscl_matrix_batch_normalization_gradient_batch_size(k);
    (void)mpscl_matrix_batch_normalization_gradient_set_source_input_feature_channels(k,
                                                                                   st->columns);
    (void)mpscl_matrix_batch_normalization_gradient_set_batch_size(k, st->batches);
}

static void
gradient_unpin(mpscl_matrix_batch_normalization_gradient *k, const size_t saved[2])
{
    (void)mpscl_matrix_batch_normalization_gradient_set_source_input_feature_channels(k,
                                                                                   saved[0]);
    (void)mpscl_matrix_batch_normalization_gradient_set_batch_size(k, saved[1]);
}

mpscl_status
mpscl_mpi_matrix_batch_normalization_gradient_run(
    mpscl_matrix_batch_normalization_gradient *k, MPI_Comm comm, const mpscl_matrix *gradient,
    const mpscl_matrix *input, const mpscl_vector *mean, const mpscl_vector *variance,
    const mpscl_vector *gamma, const mpscl_vector *beta, mpscl_matrix *result_gradient_for_data,
    mpscl_vector *result_gradient_for_gamma, mpscl_vector *result_gradient_for_beta,
    mpscl_mpi_timings *timings)
{
    gradient_args a = {k, gradient, input, mean, variance, gamma, beta,
                       result_gradient_for_data, result_gradient_for_gamma,
                       result_gradient_for_beta};
    step st = {.fn = "mpi_matrix_batch_normalization_gradient_run",
               .mode_name = "frozen_statistics"};
    mpscl_status s;

    if ((s = begin(&st, comm)) != MPSCL_SUCCESS) {
        end(&st, s, timings);
        return s;
    }
    st.device = mpscl_matrix_batch_normalization_gradient_device(k);
    if (k == NULL)
        s = fail(MPSCL_ERROR_INVALID_ARGUMENT, "%s (rank %d): kernel is NULL", st.fn, st.rank);
    else if ((s = gradient_check(&st, &a)) == MPSCL_SUCCESS)
        s = allocate(&st);
    if (k != NULL)
        gradient_fields(&st, k);
    s = agree(&st, s);
    if (s == MPSCL_SUCCESS) {
        size_t saved[2];
        gradient_pin(&st, k, saved);
        s = exchange(&st, gradient_local(&st, &a), 0);
        if (s == MPSCL_SUCCESS)
            s = settle(&st, gradient_apply(&st, &a));
        gradient_unpin(k, saved);
    }
    end(&st, s, timings);
    return s;
}
