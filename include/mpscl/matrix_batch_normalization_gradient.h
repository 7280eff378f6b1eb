/* mpscl_matrix_batch_normalization_gradient (MPSMatrixBatchNormalizationGradient): the
 * training-mode backward of mpscl_matrix_batch_normalization (or, with frozen_statistics, the
 * backward with mean and variance held constant), with the same properties (minus
 * compute_statistics) and an optional fused neuron whose derivative is taken at the
 * pre-activation z rebuilt from input, mean, variance, gamma and beta.
 *
 * Vectors are not offset by origins: element j belongs to the j-th processed column. In a batch,
 * matrix b uses vector b of every vector operand.
 *
 * Thread safety: as for mpscl_matrix_batch_normalization (encode from several threads at once is
 * safe; setters while another thread encodes are not). */
#ifndef MPSCL_MATRIX_BATCH_NORMALIZATION_GRADIENT_H
#define MPSCL_MATRIX_BATCH_NORMALIZATION_GRADIENT_H

#include <mpscl/command_buffer.h>
#include <mpscl/matrix.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mpscl_matrix_batch_normalization_gradient mpscl_matrix_batch_normalization_gradient;

/* Defaults: epsilon FLT_MIN, both counts SIZE_MAX, neuron NONE (0, 0, 0), origins 0, batch_start 0,
 * batch_size SIZE_MAX, label NULL, frozen_statistics 0, reproducible 0. */
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_gradient_create(mpscl_device *d,
    mpscl_matrix_batch_normalization_gradient **out);
/* Every property copied to a new object on d (NULL: the same device); nothing mutable shared. */
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_gradient_copy(
    const mpscl_matrix_batch_normalization_gradient *k, mpscl_device *d,
    mpscl_matrix_batch_normalization_gradient **out);
MPSCL_API mpscl_matrix_batch_normalization_gradient *mpscl_matrix_batch_normalization_gradient_retain(
    mpscl_matrix_batch_normalization_gradient *k);
MPSCL_API void mpscl_matrix_batch_normalization_gradient_release(mpscl_matrix_batch_normalization_gradient *k);
MPSCL_API mpscl_device *mpscl_matrix_batch_normalization_gradient_device(
    const mpscl_matrix_batch_normalization_gradient *k);

/* Getters return the property (0 / NULL for a NULL object); setters validate and return a status,
 * leaving the property unchanged on failure. */
MPSCL_API float mpscl_matrix_batch_normalization_gradient_epsilon(const mpscl_matrix_batch_normalization_gradient *k);
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_gradient_set_epsilon(
    mpscl_matrix_batch_normalization_gradient *k, float epsilon);   /* finite and >= 0 */
MPSCL_API size_t mpscl_matrix_batch_normalization_gradient_source_number_of_feature_vectors(
    const mpscl_matrix_batch_normalization_gradient *k);
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_gradient_set_source_number_of_feature_vectors(
    mpscl_matrix_batch_normalization_gradient *k, size_t n);
MPSCL_API size_t mpscl_matrix_batch_normalization_gradient_source_input_feature_channels(
    const mpscl_matrix_batch_normalization_gradient *k);
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_gradient_set_source_input_feature_channels(
    mpscl_matrix_batch_normalization_gradient *k, size_t c);
/* The neuron whose derivative f'(z) multiplies the incoming gradient, at z = gamma * xhat + beta
 * rebuilt exactly as the forward computed it: the table of formulas, kink values, domains and
 * the parameters that silence a neuron is at mpscl_matrix_batch_normalization_set_neuron_type
 * (matrix_batch_normalization.h). Set the same type and parameters as the forward's. An unknown
 * type or a non-finite parameter: MPSCL_ERROR_INVALID_ARGUMENT; PRELU (per-channel parameters)
 * and types this build cannot run yet: MPSCL_ERROR_UNSUPPORTED. */
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_gradient_set_neuron_type(
    mpscl_matrix_batch_normalization_gradient *k, mpscl_neuron_type t, float a, float b, float c);
MPSCL_API mpscl_neuron_type mpscl_matrix_batch_normalization_gradient_neuron_type(
    const mpscl_matrix_batch_normalization_gradient *k);
MPSCL_API float mpscl_matrix_batch_normalization_gradient_neuron_parameter_a(
    const mpscl_matrix_batch_normalization_gradient *k);
MPSCL_API float mpscl_matrix_batch_normalization_gradient_neuron_parameter_b(
    const mpscl_matrix_batch_normalization_gradient *k);
MPSCL_API float mpscl_matrix_batch_normalization_gradient_neuron_parameter_c(
    const mpscl_matrix_batch_normalization_gradient *k);
/* Origins: z != 0 is MPSCL_ERROR_INVALID_ARGUMENT. */
MPSCL_API mpscl_origin mpscl_matrix_batch_normalization_gradient_primary_source_matrix_origin(
    const mpscl_matrix_batch_normalization_gradient *k);
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_gradient_set_primary_source_matrix_origin(
    mpscl_matrix_batch_normalization_gradient *k, mpscl_origin o);   /* gradient matrix */
MPSCL_API mpscl_origin mpscl_matrix_batch_normalization_gradient_secondary_source_matrix_origin(
    const mpscl_matrix_batch_normalization_gradient *k);
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_gradient_set_secondary_source_matrix_origin(
    mpscl_matrix_batch_normalization_gradient *k, mpscl_origin o);   /* input matrix */
MPSCL_API mpscl_origin mpscl_matrix_batch_normalization_gradient_result_matrix_origin(
    const mpscl_matrix_batch_normalization_gradient *k);
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_gradient_set_result_matrix_origin(
    mpscl_matrix_batch_normalization_gradient *k, mpscl_origin o);
MPSCL_API size_t mpscl_matrix_batch_normalization_gradient_batch_start(
    const mpscl_matrix_batch_normalization_gradient *k);
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_gradient_set_batch_start(
    mpscl_matrix_batch_normalization_gradient *k, size_t start);
MPSCL_API size_t mpscl_matrix_batch_normalization_gradient_batch_size(
    const mpscl_matrix_batch_normalization_gradient *k);
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_gradient_set_batch_size(
    mpscl_matrix_batch_normalization_gradient *k, size_t size);
MPSCL_API const char *mpscl_matrix_batch_normalization_gradient_label(
    const mpscl_matrix_batch_normalization_gradient *k);
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_gradient_set_label(
    mpscl_matrix_batch_normalization_gradient *k, const char *label);   /* copied; NULL clears */
/* Frozen statistics (PyTorch's eval-mode backward, oneDNN's use_global_stats): mean and variance
 * are constants rather than functions of the N rows, as when fine-tuning with running
 * statistics, so result_gradient_for_data loses its mean terms:
 *   result_gradient_for_data = gamma * s * dz,
 * with s and dz as in _encode below; dgamma and dbeta are the same sums as in training mode.
 * Applies to every neuron type and data type. Nonzero: frozen (stored as 1); default 0 (training
 * mode). The getter returns 0 for a NULL object. */
MPSCL_API int mpscl_matrix_batch_normalization_gradient_frozen_statistics(
    const mpscl_matrix_batch_normalization_gradient *k);
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_gradient_set_frozen_statistics(
    mpscl_matrix_batch_normalization_gradient *k, int frozen);
/* Enqueues the gradient into cb; in training mode (frozen_statistics 0, the default), with
 * s = 1/sqrt(variance + epsilon), xhat = (input - mean) * s, z = gamma * xhat + beta and
 * dz = gradient * f'(z),
 *   result_gradient_for_beta[j]  = sum_i dz_ij,
 *   result_gradient_for_gamma[j] = sum_i dz_ij * xhat_ij,
 *   result_gradient_for_data     = gamma * s * (dz - dbeta / N - xhat * dgamma / N).
 * gradient, input, mean, variance and result_gradient_for_data are required; gamma (NULL: ones),
 * beta (NULL: zeros) and both parameter gradients (NULL: not computed) are optional.
 * Region: N = min(source_number_of_feature_vectors, gradient rows - primary origin.x,
 * input rows - secondary origin.x), C likewise over columns. result_gradient_for_data may be
 * exactly the gradient region or the input region (in place); other overlaps are refused.
 * Two passes: per-column partial sums over row chunks into scratch kept by this object, then a
 * fixed-order reduction that writes dx, dgamma and dbeta; results are bitwise reproducible.
 * Data types and precision as for the forward (matrix_batch_normalization.h): one type for the
 * matrices, each vector fp32 or that type; dgamma and dbeta are summed in fp32 (fp64 for fp64
 * data) and rounded once to their vectors' types.
 * Everything is validated before anything is enqueued: a refused call writes nothing. */
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_gradient_encode(
    mpscl_matrix_batch_normalization_gradient *k, mpscl_command_buffer *cb,
    const mpscl_matrix *gradient, const mpscl_matrix *input,
    const mpscl_vector *mean, const mpscl_vector *variance,
    const mpscl_vector *gamma, const mpscl_vector *beta,
    mpscl_matrix *result_gradient_for_data,
    mpscl_vector *result_gradient_for_gamma,
    mpscl_vector *result_gradient_for_beta);

/* An mpscl extension: the reproducible mode (docs/DISTRIBUTED.md), as
 * mpscl_matrix_batch_normalization_set_reproducible. On (stored as 1): sum dz and sum dz xhat are
 * exact (binned) sums rounded once to float32 on the device, so dx, dgamma and dbeta are bitwise
 * the same for any launch plan and any split of the rows (the split phases below), on one device
 * type; _encode then runs the split phases' kernels with one share. float64 data is refused in
 * this mode (MPSCL_ERROR_UNSUPPORTED). Default 0: fixed-order trees, as documented at _encode. */
MPSCL_API int mpscl_matrix_batch_normalization_gradient_reproducible(
    const mpscl_matrix_batch_normalization_gradient *k);
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_gradient_set_reproducible(
    mpscl_matrix_batch_normalization_gradient *k, int on);

/* ---- split phases: one batch's rows over several shares (devices, processes) ----
 * Each share's partial sums (encode_partial_sums, with the global mean and variance), gathered
 * in a fixed order into one vector by the caller, give every share its dx and the global
 * dgamma and dbeta (encode_apply). Partials as for the forward's split phases
 * (matrix_batch_normalization.h; docs/DISTRIBUTED.md, "Partials layout"): opaque float32 words,
 * partials_length per partial, several back to back, vector b for matrix b. float32, float16
 * and bfloat16 data (float64: MPSCL_ERROR_UNSUPPORTED). Default mode: each share's sums are
 * fixed-order trees, added in partial order: bitwise the same run to run for a fixed split,
 * within rounding of the one-device result. Reproducible mode: bitwise the one-device result for
 * any split. A refused call writes nothing; thread rules as for _encode. */

/* *length: the float32 elements one partial of `columns` columns takes in k's mode. NULL k or
 * length, or 0 columns: MPSCL_ERROR_INVALID_ARGUMENT (*length 0). */
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_gradient_partials_length(
    const mpscl_matrix_batch_normalization_gradient *k, size_t columns, size_t *length);
/* This share's sum dz and sum dz xhat per column (dz and xhat with the global mean and variance,
 * as _encode computes them) into partials (one partial, at element 0 of each vector). Operands
 * and region as _encode's, without the outputs; a share may have no rows
 * (source_number_of_feature_vectors 0: a partial of count 0). partials: float32,
 * partials_length(C) elements per vector, no overlap with the other operands. */
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_gradient_encode_partial_sums(
    mpscl_matrix_batch_normalization_gradient *k, mpscl_command_buffer *cb,
    const mpscl_matrix *gradient, const mpscl_matrix *input,
    const mpscl_vector *mean, const mpscl_vector *variance,
    const mpscl_vector *gamma, const mpscl_vector *beta, mpscl_vector *partials);
/* This share's result_gradient_for_data from the `count` partials of every share, held back to
 * back in partials in partial order (combined in that order, or binned and rounded once), with
 * the global N their counts add up to; result_gradient_for_gamma and result_gradient_for_beta
 * (each optional, as in _encode) get the global sums. Operands, region and aliasing as
 * _encode's; this share may have no rows (then only dgamma and dbeta are written). With
 * frozen_statistics dx needs no sums, but the partials are still read for dgamma and dbeta. A
 * partial of another layout (mode, family or C) gives NaN. Errors: as _encode's, count 0
 * (MPSCL_ERROR_INVALID_ARGUMENT), partials shorter than count partials
 * (MPSCL_ERROR_INVALID_SHAPE). */
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_gradient_encode_apply(
    mpscl_matrix_batch_normalization_gradient *k, mpscl_command_buffer *cb,
    const mpscl_matrix *gradient, const mpscl_matrix *input,
    const mpscl_vector *mean, const mpscl_vector *variance,
    const mpscl_vector *gamma, const mpscl_vector *beta,
    const mpscl_vector *partials, size_t count,
    mpscl_matrix *result_gradient_for_data, mpscl_vector *result_gradient_for_gamma,
    mpscl_vector *result_gradient_for_beta);

/* Serializes every property (not the device) into a new buffer in the versioned little-endian
 * format of docs/FORMAT.md: *bytes (free it with mpscl_free) and *size. Fails with
 * MPSCL_ERROR_INVALID_ARGUMENT for a NULL argument, MPSCL_ERROR_OUT_OF_HOST_MEMORY, or
 * MPSCL_ERROR_UNSUPPORTED for a label the format cannot hold (about 4 GiB); on failure *bytes is
 * NULL and *size 0. A read of the properties: safe with concurrent encodes and serializes of the
 * same object, not with its setters. */
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_gradient_serialize(
    const mpscl_matrix_batch_normalization_gradient *k, void **bytes, size_t *size);
/* A new object on d with the properties of an archive written by _serialize above (format
 * version 1 archives, which predate frozen_statistics, are read with it off; versions 1 and 2,
 * which predate reproducible, with it off). Nothing in the
 * bytes is trusted: a wrong magic, a forward kernel's archive, format version 0, truncation,
 * trailing bytes, a bad checksum or any value a setter would refuse (non-finite or negative
 * epsilon, unknown neuron type, PRELU, non-finite neuron parameter, origin z != 0, a frozen flag
 * other than 0 or 1, a NUL in the label, ...) is MPSCL_ERROR_CORRUPT_DATA, with the field in mpscl_last_error_message(); a newer
 * format version is MPSCL_ERROR_UNSUPPORTED; NULL d, bytes or out is MPSCL_ERROR_INVALID_ARGUMENT.
 * *out is NULL after every failure and nothing is left allocated. Thread-safe. */
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_gradient_create_from_bytes(
    mpscl_device *d, const void *bytes, size_t size,
    mpscl_matrix_batch_normalization_gradient **out);

#ifdef __cplusplus
}
#endif

#endif
