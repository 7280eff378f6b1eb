/* libmpscl-mpi: the data-parallel forward and gradient steps of include/mpscl/mpi.h, built only
 * on the core's public API (split phases, encoded transfers) and MPI. A step is: local checks and
 * allocation, one agreement collective (properties and statuses of every rank), then per round
 * the share's partials on the device, read back, and MPI_Allgather'ed with this rank's status in
 * front; then the partials of every rank written to the device in rank order, combined there and
 * applied; then one outcome collective so every rank returns the same verdict. Every rank runs
 * the same sequence of collectives whatever fails, so no failure leaves a rank waiting. */
#include "config.h"

#include <string.h>

#include "step.h"

static uint64_t
float_bits(float f)
{
    uint32_t u;

    memcpy(&u, &f, sizeof u);
    return u;
}

/* ---- one step of either operation ---- */

/* What the forward's step and the gradient's do differently; args is the operation's own
 * argument struct (forward_args, gradient_args). */
typedef struct step_ops {
    mpscl_status (*check)(step *st, const void *args);       /* local checks, sizes */
    void (*fields)(step *st, const void *args);             /* what every rank must share */
    void (*pin)(const step *st, const void *args, size_t saved[2]);
    void (*unpin)(const void *args, const size_t saved[2]);
    /* A round's local phase (partials read back to st->host_local), and the apply (every
     * rank's partials from st->host_all), each encoded into one command buffer. */
    mpscl_status (*encode_local)(step *st, const void *args, mpscl_command_buffer *cb,
                                 size_t round);
    mpscl_status (*encode_apply)(step *st, const void *args, mpscl_command_buffer *cb);
    const char *local_name, *apply_name;    /* for messages */
} step_ops;

/* A device phase: a command buffer with the local phase of `round` (apply 0) or the apply,
 * committed and waited for; its time joins the step's timings. */
static mpscl_status
device_phase(step *st, const step_ops *ops, const void *args, size_t round, int apply)
{
    mpscl_command_buffer *cb = NULL;
    struct timespec t0;
    mpscl_status s;

    mpscl_mpi__mark(&t0);
    if ((s = mpscl_mpi__new_buffer(st, &cb)) != MPSCL_SUCCESS)
        return s;
    s = apply ? ops->encode_apply(st, args, cb) : ops->encode_local(st, args, cb, round);
    s = mpscl_mpi__finish(st, cb, s, apply ? ops->apply_name : ops->local_name);
    *(apply ? &st->t.apply_us : &st->t.local_us) += mpscl_mpi__us_since(&t0);
    return s;
}

/* The step the file's head describes. has_kernel: the args' kernel object is not NULL. */
static mpscl_status
run(step *st, MPI_Comm comm, const step_ops *ops, const void *args, int has_kernel,
    mpscl_device *device, mpscl_mpi_timings *timings)
{
    mpscl_status s;

    if ((s = mpscl_mpi__begin(st, comm)) != MPSCL_SUCCESS) {
        mpscl_mpi__end(st, s, timings);
        return s;
    }
    st->device = device;
    if (!has_kernel)
        s = mpscl_mpi__fail(MPSCL_ERROR_INVALID_ARGUMENT, "%s (rank %d): kernel is NULL", st->fn,
                            st->rank);
    else if ((s = ops->check(st, args)) == MPSCL_SUCCESS)
        s = mpscl_mpi__allocate(st);
    if (has_kernel)
        ops->fields(st, args);
    s = mpscl_mpi__agree(st, s);
    if (s == MPSCL_SUCCESS) {
        size_t saved[2];
        ops->pin(st, args, saved);
        for (size_t round = 0; s == MPSCL_SUCCESS && round < st->rounds; round++)
            s = mpscl_mpi__exchange(st, device_phase(st, ops, args, round, 0), round);
        if (s == MPSCL_SUCCESS)
            s = mpscl_mpi__settle(st, device_phase(st, ops, args, 0, 1));
        ops->unpin(args, saved);
    }
    mpscl_mpi__end(st, s, timings);
    return s;
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
forward_check(step *st, const void *args)
{
    const forward_args *a = args;
    mpscl_matrix_batch_normalization *k = a->k;
    mpscl_origin o = mpscl_matrix_batch_normalization_source_matrix_origin(k);
    mpscl_data_type type;
    mpscl_status s;

    st->batch_first = mpscl_matrix_batch_normalization_batch_start(k);
    st->rows = mpscl_matrix_batch_normalization_source_number_of_feature_vectors(k);
    st->columns = mpscl_matrix_batch_normalization_source_input_feature_channels(k);
    st->batches = mpscl_matrix_batch_normalization_batch_size(k);
    if ((s = mpscl_mpi__clip_source(st, a->input, o, st->batch_first, "input")) != MPSCL_SUCCESS)
        return s;
    type = mpscl_matrix_data_type(a->input);
    st->fields[F_TYPE] = (uint64_t)type;
    if ((a->running_mean == NULL) != (a->running_variance == NULL))
        return mpscl_mpi__fail(MPSCL_ERROR_INVALID_ARGUMENT, "%s (rank %d): running_mean and "
                    "running_variance are both NULL or both given", st->fn, st->rank);
    if ((s = mpscl_mpi__check_vector(st, a->mean, 1, type, "mean")) != MPSCL_SUCCESS ||
        (s = mpscl_mpi__check_vector(st, a->variance, 1, type, "variance")) != MPSCL_SUCCESS ||
        (s = mpscl_mpi__check_vector(st, a->gamma, 0, type, "gamma")) != MPSCL_SUCCESS ||
        (s = mpscl_mpi__check_vector(st, a->beta, 0, type, "beta")) != MPSCL_SUCCESS ||
        (s = mpscl_mpi__check_vector(st, a->running_mean, 0, type, "running_mean")) != MPSCL_SUCCESS ||
        (s = mpscl_mpi__check_vector(st, a->running_variance, 0, type, "running_variance")) !=
            MPSCL_SUCCESS ||
        (s = mpscl_mpi__check_result(st, a->result,
                          mpscl_matrix_batch_normalization_result_matrix_origin(k), type,
                          "result")) != MPSCL_SUCCESS)
        return s;
    if (st->columns == 0 || st->batches == 0)
        return mpscl_mpi__check_sizes(st);
    if ((s = mpscl_matrix_batch_normalization_partials_length(k, st->columns, &st->length)) !=
        MPSCL_SUCCESS)
        return mpscl_mpi__fail_core(st, s, "mpscl_matrix_batch_normalization_partials_length");
    st->rounds = mpscl_matrix_batch_normalization_statistics_rounds(k);
    return mpscl_mpi__check_sizes(st);
}

static void
forward_fields(step *st, const void *args)
{
    const mpscl_matrix_batch_normalization *k = ((const forward_args *)args)->k;

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
        return mpscl_mpi__fail_core(st, s, "mpscl_matrix_batch_normalization_encode_partial_statistics");
    if ((s = mpscl_vector_encode_read(st->local, cb, st->host_local)) != MPSCL_SUCCESS)
        return mpscl_mpi__fail_core(st, s, "reading the share's partials back");
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
        return mpscl_mpi__fail_core(st, s, "writing every rank's partials");
    if ((s = mpscl_matrix_batch_normalization_encode_combine_statistics(
             a->k, cb, round, st->all, (size_t)st->size, a->mean, a->variance,
             last ? a->running_mean : NULL, last ? a->running_variance : NULL)) != MPSCL_SUCCESS)
        return mpscl_mpi__fail_core(st, s, "mpscl_matrix_batch_normalization_encode_combine_statistics");
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
        return mpscl_mpi__fail_core(st, s, "mpscl_matrix_batch_normalization_set_compute_statistics");
    s = mpscl_matrix_batch_normalization_encode(a->k, cb, a->input, a->mean, a->variance,
                                                a->gamma, a->beta, a->result);
    if (s != MPSCL_SUCCESS)
        s = mpscl_mpi__fail_core(st, s, "mpscl_matrix_batch_normalization_encode");
    if (was)
        (void)mpscl_matrix_batch_normalization_set_compute_statistics(a->k, 1);
    return s;
}

/* Round r's local phase: round 0 alone, later rounds behind the previous round's combine (which
 * wrote the mean they need), in one command buffer. */
static mpscl_status
forward_encode_local(step *st, const void *args, mpscl_command_buffer *cb, size_t round)
{
    const forward_args *a = args;
    mpscl_status s = MPSCL_SUCCESS;

    if (round > 0)
        s = forward_combine(st, a, cb, round - 1);
    return s == MPSCL_SUCCESS ? forward_partials(st, a, cb, round) : s;
}

static mpscl_status
forward_encode_apply(step *st, const void *args, mpscl_command_buffer *cb)
{
    const forward_args *a = args;
    mpscl_status s = forward_combine(st, a, cb, st->rounds - 1);

    return s == MPSCL_SUCCESS ? forward_normalize(st, a, cb) : s;
}

/* The combine finds C and the batch from its vectors' lengths where the properties leave them
 * open (SIZE_MAX): pinned to the share's own for the call, they mean the same to every phase
 * however long the caller's vectors are. Put back by unpin. */
static void
forward_pin(const step *st, const void *args, size_t saved[2])
{
    mpscl_matrix_batch_normalization *k = ((const forward_args *)args)->k;

    saved[0] = mpscl_matrix_batch_normalization_source_input_feature_channels(k);
    saved[1] = mpscl_matrix_batch_normalization_batch_size(k);
    (void)mpscl_matrix_batch_normalization_set_source_input_feature_channels(k, st->columns);
    (void)mpscl_matrix_batch_normalization_set_batch_size(k, st->batches);
}

static void
forward_unpin(const void *args, const size_t saved[2])
{
    mpscl_matrix_batch_normalization *k = ((const forward_args *)args)->k;

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
    static const step_ops ops = {forward_check, forward_fields, forward_pin, forward_unpin,
                                 forward_encode_local, forward_encode_apply,
                                 "the share's partial statistics",
                                 "the combine and the normalisation"};
    forward_args a = {k, input, mean, variance, gamma, beta, result, running_mean,
                      running_variance};
    step st = {.fn = "mpi_matrix_batch_normalization_run", .mode_name = "momentum"};

    return run(&st, comm, &ops, &a, k != NULL, mpscl_matrix_batch_normalization_device(k),
               timings);
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
gradient_check(step *st, const void *args)
{
    const gradient_args *a = args;
    mpscl_matrix_batch_normalization_gradient *k = a->k;
    mpscl_data_type type;
    mpscl_status s;

    st->batch_first = mpscl_matrix_batch_normalization_gradient_batch_start(k);
    st->rows = mpscl_matrix_batch_normalization_gradient_source_number_of_feature_vectors(k);
    st->columns = mpscl_matrix_batch_normalization_gradient_source_input_feature_channels(k);
    st->batches = mpscl_matrix_batch_normalization_gradient_batch_size(k);
    if ((s = mpscl_mpi__clip_source(st, a->gradient,
                         mpscl_matrix_batch_normalization_gradient_primary_source_matrix_origin(k),
                         st->batch_first, "gradient")) != MPSCL_SUCCESS ||
        (s = mpscl_mpi__clip_source(st, a->input,
                         mpscl_matrix_batch_normalization_gradient_secondary_source_matrix_origin(
                             k),
                         st->batch_first, "input")) != MPSCL_SUCCESS)
        return s;
    type = mpscl_matrix_data_type(a->gradient);
    st->fields[F_TYPE] = (uint64_t)type;
    if ((s = mpscl_mpi__check_vector(st, a->mean, 1, type, "mean")) != MPSCL_SUCCESS ||
        (s = mpscl_mpi__check_vector(st, a->variance, 1, type, "variance")) != MPSCL_SUCCESS ||
        (s = mpscl_mpi__check_vector(st, a->gamma, 0, type, "gamma")) != MPSCL_SUCCESS ||
        (s = mpscl_mpi__check_vector(st, a->beta, 0, type, "beta")) != MPSCL_SUCCESS ||
        (s = mpscl_mpi__check_vector(st, a->dgamma, 0, type, "result_gradient_for_gamma")) !=
            MPSCL_SUCCESS ||
        (s = mpscl_mpi__check_vector(st, a->dbeta, 0, type, "result_gradient_for_beta")) != MPSCL_SUCCESS ||
        (s = mpscl_mpi__check_result(st, a->dx,
                          mpscl_matrix_batch_normalization_gradient_result_matrix_origin(k), type,
                          "result_gradient_for_data")) != MPSCL_SUCCESS)
        return s;
    if (st->columns == 0 || st->batches == 0)
        return mpscl_mpi__check_sizes(st);
    if ((s = mpscl_matrix_batch_normalization_gradient_partials_length(k, st->columns,
                                                                        &st->length)) !=
        MPSCL_SUCCESS)
        return mpscl_mpi__fail_core(st, s, "mpscl_matrix_batch_normalization_gradient_partials_length");
    st->rounds = 1;
    return mpscl_mpi__check_sizes(st);
}

static void
gradient_fields(step *st, const void *args)
{
    const mpscl_matrix_batch_normalization_gradient *k = ((const gradient_args *)args)->k;

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

/* The gradient has one round. */
static mpscl_status
gradient_encode_local(step *st, const void *args, mpscl_command_buffer *cb, size_t round)
{
    const gradient_args *a = args;
    mpscl_status s;

    (void)round;
    if ((s = mpscl_matrix_batch_normalization_gradient_encode_partial_sums(
             a->k, cb, a->gradient, a->input, a->mean, a->variance, a->gamma, a->beta,
             st->local)) != MPSCL_SUCCESS)
        return mpscl_mpi__fail_core(st, s, "mpscl_matrix_batch_normalization_gradient_encode_partial_sums");
    if ((s = mpscl_vector_encode_read(st->local, cb, st->host_local)) != MPSCL_SUCCESS)
        return mpscl_mpi__fail_core(st, s, "reading the share's partials back");
    return MPSCL_SUCCESS;
}

static mpscl_status
gradient_encode_apply(step *st, const void *args, mpscl_command_buffer *cb)
{
    const gradient_args *a = args;
    mpscl_status s;

    if ((s = mpscl_vector_encode_write(st->all, cb, st->host_all)) != MPSCL_SUCCESS)
        return mpscl_mpi__fail_core(st, s, "writing every rank's partials");
    if ((s = mpscl_matrix_batch_normalization_gradient_encode_apply(
             a->k, cb, a->gradient, a->input, a->mean, a->variance, a->gamma, a->beta, st->all,
             (size_t)st->size, a->dx, a->dgamma, a->dbeta)) != MPSCL_SUCCESS)
        return mpscl_mpi__fail_core(st, s, "mpscl_matrix_batch_normalization_gradient_encode_apply");
    return MPSCL_SUCCESS;
}

/* As forward_pin: C and the batch of the share, for every phase. */
static void
gradient_pin(const step *st, const void *args, size_t saved[2])
{
    mpscl_matrix_batch_normalization_gradient *k = ((const gradient_args *)args)->k;

    saved[0] = mpscl_matrix_batch_normalization_gradient_source_input_feature_channels(k);
    saved[1] = mpscl_matrix_batch_normalization_gradient_batch_size(k);
    (void)mpscl_matrix_batch_normalization_gradient_set_source_input_feature_channels(k,
                                                                                   st->columns);
    (void)mpscl_matrix_batch_normalization_gradient_set_batch_size(k, st->batches);
}

static void
gradient_unpin(const void *args, const size_t saved[2])
{
    mpscl_matrix_batch_normalization_gradient *k = ((const gradient_args *)args)->k;

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
    static const step_ops ops = {gradient_check, gradient_fields, gradient_pin, gradient_unpin,
                                 gradient_encode_local, gradient_encode_apply,
                                 "the share's partial sums", "the apply"};
    gradient_args a = {k, gradient, input, mean, variance, gamma, beta,
                       result_gradient_for_data, result_gradient_for_gamma,
                       result_gradient_for_beta};
    step st = {.fn = "mpi_matrix_batch_normalization_gradient_run",
               .mode_name = "frozen_statistics"};

    return run(&st, comm, &ops, &a, k != NULL,
               mpscl_matrix_batch_normalization_gradient_device(k), timings);
}
