/** @defgroup mpscl_mpi data-parallel batch normalization over MPI (libmpscl-mpi)
 * @ingroup mpscl
 * @details mpscl_mpi: data-parallel batch normalization over MPI (libmpscl-mpi, pkg-config
 * mpscl-mpi).
 * Each rank of a communicator holds some rows of one batch (its share, on its own device); one
 * call runs a whole training step's forward or gradient so that every rank gets the statistics,
 * and the dgamma, dbeta sums, of the whole batch, as PyTorch's SyncBatchNorm does. Not included by
 * mpscl.h: the core library has no MPI dependency.
 *
 * How a step runs (docs/DISTRIBUTED.md, "MPI layer"): each rank encodes the partials of its share
 * (mpscl_matrix_batch_normalization_encode_partial_statistics, `..._gradient_encode_partial_sums`),
 * reads them back, and MPI_Allgather gives every rank every partial in rank order; the device then
 * combines them in that order (`..._encode_combine_statistics`, `..._gradient_encode_apply`) and
 * finishes the local share. Floats are never summed by MPI (MPI_Allreduce's order of summation is
 * not fixed): every rank combines the same bytes in the same order, so every rank gets the same
 * bits of mean, variance, running statistics, dgamma and dbeta. With the kernel's reproducible
 * property on, every result is bitwise the same for any number of ranks and any split of the rows,
 * and the same as one device running the whole batch with the property on (same device type).
 *
 * Collective rules. Every rank of comm calls the same function, in the same order as its other
 * collectives on comm, with the same kernel properties that give the step its meaning: columns C
 * (the region's, as clipped by each rank's operands), batch size, data type, epsilon, neuron and
 * its parameters, momentum (forward) or frozen_statistics (gradient), and reproducible. The calls
 * first compare these over the communicator (one small MPI_Allgather) and all fail together when
 * they differ. Rows differ from rank to rank: a rank's share is the region its kernel's properties
 * give on its operands, and may be empty (source_number_of_feature_vectors 0; its matrices still
 * have at least one row, as every mpscl_matrix does), though not on every rank. Origins and
 * batch_start are each rank's own.
 *
 * Failures never leave a rank waiting for another. Each rank's status rides along with every
 * exchange, so when one rank fails (a refused operand, a device error, no memory) every rank
 * returns a failure at the same step: the failing rank its own status, the others
 * MPSCL_ERROR_COMMUNICATION with a message naming the rank and its status. A refusal before the
 * first exchange (every operand check the layer can make itself, and everything the partial
 * encodes check) writes nothing on any rank. mean is written between the two statistics rounds
 * of the reproducible forward; every other output only in the last phase. A failure of the last
 * phase (a device error, or an operand overlap only the core detects) is still reported on every
 * rank, after the outputs of the ranks where it ran are written.
 *
 * MPI. The library never calls MPI_Init or MPI_Finalize; MPI must be initialised (at a thread
 * level that lets the calling thread call MPI) and not finalised, else MPSCL_ERROR_INVALID_STATE.
 * comm must be an intra-communicator (MPI_COMM_NULL or an inter-communicator:
 * MPSCL_ERROR_INVALID_ARGUMENT, returned at once: such a rank cannot take part). For the length of
 * a call the communicator's error handler is MPI_ERRORS_RETURN, so a failed MPI call comes back as
 * MPSCL_ERROR_COMMUNICATION with MPI's error string instead of aborting; the caller's handler is
 * put back before the call returns. After an MPI failure the communicator may be unusable (the
 * MPI standard leaves its state undefined).
 *
 * Messages: after a failure, mpscl_mpi_last_error_message() holds the detail, starting with the
 * function and the rank; a failure inside a core call carries the core's message
 * (mpscl_last_error_message() of that call).
 *
 * @par Thread safety
 * The calls wait for their own work and use comm; MPI forbids two threads running
 * collectives on one communicator at once, and so do these. The kernel object must not be used by
 * another thread during the call (the forward turns its compute_statistics off for the
 * normalisation and back). Operands follow the core's rules (no other command buffer may write
 * them meanwhile).
 * @{ */
#ifndef MPSCL_MPI_H
#define MPSCL_MPI_H

#include <mpi.h>

#include <mpscl/mpscl.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Where a call's time went, on this rank's host clock (CLOCK_MONOTONIC), in microseconds.
 * local:    the share's partials: encodes, the device's work and the read back, each round (in
 *           the reproducible forward, round 0's combine is part of round 1's local phase).
 * exchange: in MPI: the agreement, the exchange of each round (waiting for slower ranks is spent
 *           here), the final outcome, and arranging the received partials.
 * apply:    the last phase: the partials written to the device, the combine and the
 *           normalisation (forward) or the apply (gradient), and the wait for them.
 * whole:    the call from entry to return (the above plus checks, allocation and release).
 * bytes_sent: what this rank gave to collectives (each received P times that, one block per
 *           rank); collectives: how many this call ran. */
typedef struct mpscl_mpi_timings {
    double local_us;    /**< the share's partials */
    double exchange_us; /**< in MPI */
    double apply_us;    /**< the last phase */
    double whole_us;    /**< the call from entry to return */
    size_t bytes_sent;  /**< what this rank gave to collectives */
    size_t collectives; /**< how many collectives the call ran */
} mpscl_mpi_timings;

/** The training forward over the ranks of comm: statistics of the whole batch (the union of every
 * rank's share), then y = f(gamma * xhat + beta) on this rank's share, as
 * mpscl_matrix_batch_normalization_encode with compute_statistics does on one device. The
 * statistics are computed whatever k's compute_statistics says. mean and variance (required,
 * outputs) receive the global mean and biased variance on every rank; running_mean and
 * running_variance (both NULL, or both given: read and updated) are updated as by
 * mpscl_matrix_batch_normalization_encode_with_running_statistics, with the global batch size N in
 * N / (N - 1). input and result are required; gamma (NULL: ones) and beta (NULL: zeros) are
 * optional; every operand follows the core's rules (types, lengths, origins, batches). A rank
 * with an empty share writes the statistics and leaves result untouched.
 * The call returns when this rank's work is complete: no command buffer is left behind.
 * timings: NULL, or filled on success (left as it was on failure).
 * Statuses: those of the core encodes (the operand checks are made before anything is written);
 * MPSCL_ERROR_INVALID_SHAPE when ranks disagree on C or the batch, or every share is empty;
 * MPSCL_ERROR_INVALID_ARGUMENT when they disagree on another property, or for a NULL k, comm
 * MPI_COMM_NULL or an inter-communicator; MPSCL_ERROR_INVALID_STATE when MPI is not initialised
 * or already finalised; MPSCL_ERROR_UNSUPPORTED when one rank's partials pass MPI's int counts;
 * MPSCL_ERROR_COMMUNICATION when another rank failed or an MPI call did. */
MPSCL_API mpscl_status mpscl_mpi_matrix_batch_normalization_run(
    mpscl_matrix_batch_normalization *k, MPI_Comm comm,
    const mpscl_matrix *input, mpscl_vector *mean, mpscl_vector *variance,
    const mpscl_vector *gamma, const mpscl_vector *beta, mpscl_matrix *result,
    mpscl_vector *running_mean, mpscl_vector *running_variance, mpscl_mpi_timings *timings);

/** The training gradient over the ranks of comm: dbeta = sum dz and dgamma = sum dz * xhat over
 * the whole batch, and this rank's share of result_gradient_for_data from them, as
 * mpscl_matrix_batch_normalization_gradient_encode does on one device (with frozen_statistics,
 * result_gradient_for_data needs no sums, but dgamma and dbeta are still those of the whole
 * batch). mean and variance are the global statistics (what the forward above wrote: the same
 * bits on every rank). gradient, input, mean, variance and result_gradient_for_data are required;
 * gamma, beta, result_gradient_for_gamma and result_gradient_for_beta are optional, as in the core
 * encode. Every rank receives the same dgamma and dbeta bits; a rank with an empty share writes
 * them and leaves result_gradient_for_data untouched. Statuses, timings and the rules as for the
 * forward above. */
MPSCL_API mpscl_status mpscl_mpi_matrix_batch_normalization_gradient_run(
    mpscl_matrix_batch_normalization_gradient *k, MPI_Comm comm,
    const mpscl_matrix *gradient, const mpscl_matrix *input,
    const mpscl_vector *mean, const mpscl_vector *variance,
    const mpscl_vector *gamma, const mpscl_vector *beta,
    mpscl_matrix *result_gradient_for_data, mpscl_vector *result_gradient_for_gamma,
    mpscl_vector *result_gradient_for_beta, mpscl_mpi_timings *timings);

/** This thread's detail of its last failed `mpscl_mpi_` call ("" after a success). Valid until this
 * thread's next `mpscl_mpi_` call. */
MPSCL_API const char *mpscl_mpi_last_error_message(void);

#ifdef __cplusplus
}
#endif

/** @} */
#endif
