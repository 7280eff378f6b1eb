/* One data-parallel step's machinery, shared by the forward and the gradient (bn_mpi.c): the
 * step's state, messages, entry and exit (the communicator's error handler), the collectives
 * (agreement, exchange of partials, outcome), its buffers and committing the device's work
 * (step.c); the checks of a rank's operands before the agreement (checks.c). */
#ifndef MPSCL_MPI_STEP_H
#define MPSCL_MPI_STEP_H

#include <stdint.h>
#include <time.h>

#include <mpscl/mpi.h>

#if defined(__GNUC__) || defined(__clang__)
#define MPI__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define MPI__PRINTF(f, a)
#endif

/* What every rank must agree on, exchanged as 64-bit words before any work. STATUS and ROWS are
 * per rank; every other field must equal rank 0's. */
enum {
    F_STATUS, F_ROWS, F_COLUMNS, F_BATCHES, F_LENGTH, F_ROUNDS, F_TYPE, F_EPSILON, F_NEURON,
    F_NEURON_A, F_NEURON_B, F_NEURON_C, F_MODE, F_REPRODUCIBLE, F_COUNT
};

/* One call's state on this rank: what it agrees on, the exchange buffers, the timings. */
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

/* s, with the formatted message kept for mpscl_mpi_last_error_message(). */
mpscl_status mpscl_mpi__fail(mpscl_status s, const char *fmt, ...) MPI__PRINTF(2, 3);
/* A failed core call: its status, with its message behind ours. */
mpscl_status mpscl_mpi__fail_core(const step *st, mpscl_status s, const char *what);
/* Microseconds since a, and a clock reading into t (CLOCK_MONOTONIC). */
double mpscl_mpi__us_since(const struct timespec *a);
void mpscl_mpi__mark(struct timespec *t);
/* Entry: the communicator checked, its error handler swapped for MPI_ERRORS_RETURN, the clock
 * started. */
mpscl_status mpscl_mpi__begin(step *st, MPI_Comm comm);
/* Exit: the caller's handler back, everything freed, the timings filled on success. */
void mpscl_mpi__end(step *st, mpscl_status s, mpscl_mpi_timings *timings);
/* Every rank's fields through one MPI_Allreduce(MAX) of each field and its complement, so each
 * field's maximum and minimum: a failure anywhere, then any field whose maximum and minimum differ,
 * then rows that are 0 everywhere. A fixed size whatever the number of ranks, and the same verdict
 * on every rank, since every rank judges the same table. */
mpscl_status mpscl_mpi__agree(step *st, mpscl_status local);
/* One round's exchange: this rank's status and partials to every rank, then, when every rank
 * succeeded, the partials of vector b laid out in rank order as the combine reads them. */
mpscl_status mpscl_mpi__exchange(step *st, mpscl_status local, size_t round);
/* The last collective: every rank learns whether the last phase worked everywhere. */
mpscl_status mpscl_mpi__settle(step *st, mpscl_status local);
/* Commits and waits cb, then releases it; the first failure wins. */
mpscl_status mpscl_mpi__finish(const step *st, mpscl_command_buffer *cb, mpscl_status s,
                               const char *what);
/* A command buffer on the step's device. */
mpscl_status mpscl_mpi__new_buffer(const step *st, mpscl_command_buffer **cb);
/* Host buffers and the two partials vectors, sized from this rank's view (the agreement then
 * confirms every rank's view is the same). */
mpscl_status mpscl_mpi__allocate(step *st);

/* ---- local checks (checks.c), before the agreement: a refusal writes nothing ---- */

/* Narrows st's rows, columns and batches to what m holds past origin o, as the core clips a
 * source. */
mpscl_status mpscl_mpi__clip_source(step *st, const mpscl_matrix *m, mpscl_origin o,
                                    size_t batch_start, const char *name);
/* An output matrix holds the share's region past its origin and has the input's type. */
mpscl_status mpscl_mpi__check_result(const step *st, const mpscl_matrix *m, mpscl_origin o,
                                     mpscl_data_type type, const char *name);
/* A vector: present when required, on the kernel's context, float32 or the matrices' type, and
 * covering the columns of every matrix of the batch. */
mpscl_status mpscl_mpi__check_vector(const step *st, const mpscl_vector *v, int required,
                                     mpscl_data_type type, const char *name);
/* The columns and batches every rank must share, the partials' size, and whether the step's
 * messages fit MPI's int counts (sets st->words). */
mpscl_status mpscl_mpi__check_sizes(step *st);

#endif
