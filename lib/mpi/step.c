/* The data-parallel step's machinery (step.h): messages, entry and exit, collectives, device
 * phases. Every rank runs the same sequence of collectives whatever fails. */
#include "config.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "step.h"

/* ---- messages ---- */

/* The core's messages fit in 512 bytes; ours prefix them with the function and the rank. */
static _Thread_local char last_message[768];

const char *
mpscl_mpi_last_error_message(void)
{
    return last_message;
}



mpscl_status
mpscl_mpi__fail(mpscl_status s, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    return s;
}

/* ---- one step's state ---- */

static const char *const field_names[F_COUNT] = {
    "status", "rows", "columns", "batch size", "partials length", "statistics rounds",
    "data type", "epsilon", "neuron type", "neuron parameter a", "neuron parameter b",
    "neuron parameter c", NULL /* per kind */, "reproducible"};


double
mpscl_mpi__us_since(const struct timespec *a)
{
    struct timespec b;

    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a->tv_sec) * 1e6 + (double)(b.tv_nsec - a->tv_nsec) / 1e3;
}

void
mpscl_mpi__mark(struct timespec *t)
{
    clock_gettime(CLOCK_MONOTONIC, t);
}

/* A failed core call: its status, with its message behind ours. */
mpscl_status
mpscl_mpi__fail_core(const step *st, mpscl_status s, const char *what)
{
    return mpscl_mpi__fail(s, "%s (rank %d of %d): %s: %s", st->fn, st->rank, st->size, what,
                mpscl_last_error_message());
}

static mpscl_status
fail_mpi(const step *st, int rc, const char *what)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;

    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "MPI error %d", rc);
    return mpscl_mpi__fail(MPSCL_ERROR_COMMUNICATION, "%s (rank %d of %d): %s failed: %s", st->fn, st->rank,
                st->size, what, text);
}

/* ---- entry and exit: the communicator and its error handler ---- */

mpscl_status
mpscl_mpi__begin(step *st, MPI_Comm comm)
{
    int flag = 0;

    last_message[0] = '\0';
    mpscl_mpi__mark(&st->start);
    st->comm = comm;
    st->saved = MPI_ERRHANDLER_NULL;
    if (MPI_Initialized(&flag) != MPI_SUCCESS || !flag)
        return mpscl_mpi__fail(MPSCL_ERROR_INVALID_STATE, "%s: MPI is not initialised (call MPI_Init first)",
                    st->fn);
    if (MPI_Finalized(&flag) != MPI_SUCCESS || flag)
        return mpscl_mpi__fail(MPSCL_ERROR_INVALID_STATE, "%s: MPI is already finalised", st->fn);
    if (comm == MPI_COMM_NULL)
        return mpscl_mpi__fail(MPSCL_ERROR_INVALID_ARGUMENT, "%s: comm is MPI_COMM_NULL", st->fn);
    /* Before any call that could fail on comm: the caller's handler may abort. */
    if (MPI_Comm_get_errhandler(comm, &st->saved) != MPI_SUCCESS ||
        MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN) != MPI_SUCCESS) {
        st->saved = MPI_ERRHANDLER_NULL;
        return mpscl_mpi__fail(MPSCL_ERROR_INVALID_ARGUMENT, "%s: comm is not a valid communicator",
                    st->fn);
    }
    if (MPI_Comm_test_inter(comm, &flag) != MPI_SUCCESS || flag)
        return mpscl_mpi__fail(MPSCL_ERROR_INVALID_ARGUMENT,
                    "%s: comm is an inter-communicator; the step needs an intra-communicator",
                    st->fn);
    if (MPI_Comm_rank(comm, &st->rank) != MPI_SUCCESS ||
        MPI_Comm_size(comm, &st->size) != MPI_SUCCESS)
        return mpscl_mpi__fail(MPSCL_ERROR_INVALID_ARGUMENT, "%s: comm has no rank or size", st->fn);
    return MPSCL_SUCCESS;
}

void
mpscl_mpi__end(step *st, mpscl_status s, mpscl_mpi_timings *timings)
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
    st->t.whole_us = mpscl_mpi__us_since(&st->start);
    if (s == MPSCL_SUCCESS && timings != NULL)
        *timings = st->t;
}


/* ---- collectives ---- */

static mpscl_status
peer_failed(const step *st, int r, int status, const char *when)
{
    return mpscl_mpi__fail(MPSCL_ERROR_COMMUNICATION, "%s (rank %d of %d): rank %d failed %s: %s (%d)",
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
mpscl_status
mpscl_mpi__agree(step *st, mpscl_status local)
{
    uint64_t mine[2 * F_COUNT], all[2 * F_COUNT];
    struct timespec t0;
    int rc;

    mpscl_mpi__mark(&t0);
    st->fields[F_STATUS] = failure_word(st, local);
    for (int i = 0; i < F_COUNT; i++) {
        mine[i] = st->fields[i];
        mine[F_COUNT + i] = ~st->fields[i];
    }
    rc = MPI_Allreduce(mine, all, 2 * F_COUNT, MPI_UINT64_T, MPI_MAX, st->comm);
    st->t.collectives++;
    st->t.bytes_sent += sizeof mine;
    st->t.exchange_us += mpscl_mpi__us_since(&t0);
    if (rc != MPI_SUCCESS)
        return local != MPSCL_SUCCESS ? local
                                      : fail_mpi(st, rc, "MPI_Allreduce of the step's properties");
    if (local != MPSCL_SUCCESS)
        return local;
    if (all[F_STATUS] != 0)
        return peer_word_failed(st, all[F_STATUS], "its checks");
    for (int i = F_COLUMNS; i < F_COUNT; i++)
        if (all[i] != ~all[F_COUNT + i])
            return mpscl_mpi__fail(i == F_COLUMNS || i == F_BATCHES ? MPSCL_ERROR_INVALID_SHAPE
                                                         : MPSCL_ERROR_INVALID_ARGUMENT,
                        "%s (rank %d of %d): ranks disagree on %s: from %" PRIu64 " to %" PRIu64
                        " (every rank must call with the same properties; this rank has %" PRIu64
                        ")", st->fn, st->rank, st->size,
                        i == F_MODE ? st->mode_name : field_names[i], ~all[F_COUNT + i], all[i],
                        st->fields[i]);
    if (all[F_ROWS] == 0)
        return mpscl_mpi__fail(MPSCL_ERROR_INVALID_SHAPE, "%s (rank %d of %d): every rank's share is empty",
                    st->fn, st->rank, st->size);
    return MPSCL_SUCCESS;
}

/* One round's exchange: this rank's status and partials to every rank, then, when every rank
 * succeeded, the partials of vector b laid out in rank order as the combine reads them. */
mpscl_status
mpscl_mpi__exchange(step *st, mpscl_status local, size_t round)
{
    size_t p = (size_t)st->size, len = st->length;
    struct timespec t0;
    char when[48];
    int rc;

    mpscl_mpi__mark(&t0);
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
            st->t.exchange_us += mpscl_mpi__us_since(&t0);
            return local != MPSCL_SUCCESS ? local
                                          : peer_failed(st, (int)r, (int)st->recv[r * st->words],
                                                        when);
        }
    for (size_t b = 0; b < st->batches; b++)
        for (size_t r = 0; r < p; r++)
            memcpy(st->host_all + ((st->batch_first + b) * p + r) * len,
                   st->recv + r * st->words + 1 + b * len, len * sizeof(float));
    st->t.exchange_us += mpscl_mpi__us_since(&t0);
    return MPSCL_SUCCESS;
}

/* The last collective: every rank learns whether the last phase worked everywhere. */
mpscl_status
mpscl_mpi__settle(step *st, mpscl_status local)
{
    uint64_t mine = failure_word(st, local), any = 0;
    struct timespec t0;
    int rc;

    mpscl_mpi__mark(&t0);
    rc = MPI_Allreduce(&mine, &any, 1, MPI_UINT64_T, MPI_MAX, st->comm);
    st->t.collectives++;
    st->t.bytes_sent += sizeof mine;
    st->t.exchange_us += mpscl_mpi__us_since(&t0);
    if (local != MPSCL_SUCCESS)
        return local;
    if (rc != MPI_SUCCESS)
        return fail_mpi(st, rc, "MPI_Allreduce of the outcome");
    return any != 0 ? peer_word_failed(st, any, "in the last phase") : MPSCL_SUCCESS;
}

/* ---- device phases ---- */

/* Commits and waits cb, then releases it; the first failure wins. */
mpscl_status
mpscl_mpi__finish(const step *st, mpscl_command_buffer *cb, mpscl_status s, const char *what)
{
    if (s == MPSCL_SUCCESS && (s = mpscl_command_buffer_commit(cb)) != MPSCL_SUCCESS)
        s = mpscl_mpi__fail_core(st, s, "commit");
    if (s == MPSCL_SUCCESS &&
        (s = mpscl_command_buffer_wait_until_completed(cb)) != MPSCL_SUCCESS)
        s = mpscl_mpi__fail_core(st, s, what);
    mpscl_command_buffer_release(cb);
    return s;
}

mpscl_status
mpscl_mpi__new_buffer(const step *st, mpscl_command_buffer **cb)
{
    mpscl_status s = mpscl_command_buffer_create(st->device, cb);

    return s == MPSCL_SUCCESS ? s : mpscl_mpi__fail_core(st, s, "mpscl_command_buffer_create");
}

/* Host buffers and the two partials vectors, sized from this rank's view (the agreement then
 * confirms every rank's view is the same). */
mpscl_status
mpscl_mpi__allocate(step *st)
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
        return mpscl_mpi__fail(MPSCL_ERROR_OUT_OF_HOST_MEMORY, "%s (rank %d): no host memory for the "
                    "partials of %d ranks", st->fn, st->rank, st->size);
    dl = mpscl_vector_descriptor_make_batch(st->length, vectors, st->length * sizeof(float),
                                            MPSCL_DATA_TYPE_FLOAT32);
    da = mpscl_vector_descriptor_make_batch(p * st->length, vectors,
                                            p * st->length * sizeof(float),
                                            MPSCL_DATA_TYPE_FLOAT32);
    if ((s = mpscl_vector_create(st->device, &dl, &st->local)) != MPSCL_SUCCESS)
        return mpscl_mpi__fail_core(st, s, "the share's partials vector");
    if ((s = mpscl_vector_create(st->device, &da, &st->all)) != MPSCL_SUCCESS)
        return mpscl_mpi__fail_core(st, s, "the partials vector of every rank");
    return MPSCL_SUCCESS;
}
