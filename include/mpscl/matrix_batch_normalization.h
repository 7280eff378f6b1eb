/* mpscl_matrix_batch_normalization (MPSMatrixBatchNormalization): y = f(gamma * xhat + beta) per
 * column of an N x C region, xhat = (x - mean) / sqrt(variance + epsilon), with the batch
 * statistics optionally computed on the device (compute_statistics).
 *
 * Region: N = min(source_number_of_feature_vectors, input rows - source origin.x),
 *         C = min(source_input_feature_channels, input columns - source origin.y);
 * the result is written at rows result origin.x ... + N - 1, columns result origin.y ... + C - 1.
 * Vectors are not offset by origins: element j belongs to the j-th processed column. In a batch,
 * matrix b (batch_start <= b < batch_start + count) uses vector b of every vector operand.
 *
 * Aliasing: the result may be exactly the input region (same buffer, start, strides): each
 * element is read before it is written by the same work-item. Any other overlap between an
 * output and another operand is MPSCL_ERROR_INVALID_ARGUMENT. Overlap is detected between
 * objects over the same cl_mem, not between sub-buffers of one buffer.
 *
 * Thread safety: retain/release from any thread. encode may be called from several threads at
 * once on one kernel object (each with its own command buffer); setters must not run while
 * another thread encodes with the same object. */
#ifndef MPSCL_MATRIX_BATCH_NORMALIZATION_H
#define MPSCL_MATRIX_BATCH_NORMALIZATION_H

#include <mpscl/command_buffer.h>
#include <mpscl/matrix.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mpscl_matrix_batch_normalization mpscl_matrix_batch_normalization;

/* Defaults: epsilon FLT_MIN, both counts SIZE_MAX, neuron NONE (0, 0, 0), origins 0, batch_start 0,
 * batch_size SIZE_MAX, label NULL, compute_statistics 0, momentum 0.1. */
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_create(mpscl_device *d,
    mpscl_matrix_batch_normalization **out);
/* Every property copied to a new object on d (NULL: the same device); nothing mutable shared. */
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_copy(
    const mpscl_matrix_batch_normalization *k, mpscl_device *d,
    mpscl_matrix_batch_normalization **out);
MPSCL_API mpscl_matrix_batch_normalization *mpscl_matrix_batch_normalization_retain(
    mpscl_matrix_batch_normalization *k);
MPSCL_API void mpscl_matrix_batch_normalization_release(mpscl_matrix_batch_normalization *k);
MPSCL_API mpscl_device *mpscl_matrix_batch_normalization_device(
    const mpscl_matrix_batch_normalization *k);

/* Getters return the property (0 / NULL for a NULL object); setters validate and return a status,
 * leaving the property unchanged on failure. */
MPSCL_API float mpscl_matrix_batch_normalization_epsilon(const mpscl_matrix_batch_normalization *k);
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_set_epsilon(
    mpscl_matrix_batch_normalization *k, float epsilon);   /* finite and >= 0 */
MPSCL_API size_t mpscl_matrix_batch_normalization_source_number_of_feature_vectors(
    const mpscl_matrix_batch_normalization *k);
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_set_source_number_of_feature_vectors(
    mpscl_matrix_batch_normalization *k, size_t n);
MPSCL_API size_t mpscl_matrix_batch_normalization_source_input_feature_channels(
    const mpscl_matrix_batch_normalization *k);
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_set_source_input_feature_channels(
    mpscl_matrix_batch_normalization *k, size_t c);
/* An unknown type or a non-finite parameter: MPSCL_ERROR_INVALID_ARGUMENT; PRELU (per-channel
 * parameters) and types this build cannot run yet: MPSCL_ERROR_UNSUPPORTED. */
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_set_neuron_type(
    mpscl_matrix_batch_normalization *k, mpscl_neuron_type t, float a, float b, float c);
MPSCL_API mpscl_neuron_type mpscl_matrix_batch_normalization_neuron_type(
    const mpscl_matrix_batch_normalization *k);
MPSCL_API float mpscl_matrix_batch_normalization_neuron_parameter_a(
    const mpscl_matrix_batch_normalization *k);
MPSCL_API float mpscl_matrix_batch_normalization_neuron_parameter_b(
    const mpscl_matrix_batch_normalization *k);
MPSCL_API float mpscl_matrix_batch_normalization_neuron_parameter_c(
    const mpscl_matrix_batch_normalization *k);
MPSCL_API mpscl_origin mpscl_matrix_batch_normalization_source_matrix_origin(
    const mpscl_matrix_batch_normalization *k);
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_set_source_matrix_origin(
    mpscl_matrix_batch_normalization *k, mpscl_origin o);    /* z != 0: INVALID_ARGUMENT */
MPSCL_API mpscl_origin mpscl_matrix_batch_normalization_result_matrix_origin(
    const mpscl_matrix_batch_normalization *k);
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_set_result_matrix_origin(
    mpscl_matrix_batch_normalization *k, mpscl_origin o);
MPSCL_API size_t mpscl_matrix_batch_normalization_batch_start(
    const mpscl_matrix_batch_normalization *k);
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_set_batch_start(
    mpscl_matrix_batch_normalization *k, size_t start);
MPSCL_API size_t mpscl_matrix_batch_normalization_batch_size(
    const mpscl_matrix_batch_normalization *k);
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_set_batch_size(
    mpscl_matrix_batch_normalization *k, size_t size);
MPSCL_API const char *mpscl_matrix_batch_normalization_label(
    const mpscl_matrix_batch_normalization *k);
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_set_label(
    mpscl_matrix_batch_normalization *k, const char *label);   /* copied; NULL clears */
MPSCL_API int mpscl_matrix_batch_normalization_compute_statistics(
    const mpscl_matrix_batch_normalization *k);
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_set_compute_statistics(
    mpscl_matrix_batch_normalization *k, int compute);
/* An mpscl extension (MPS has none): the weight of the batch in the running statistics of
 * _encode_with_running_statistics. Default 0.1 (PyTorch's); finite and 0 <= momentum <= 1, else
 * MPSCL_ERROR_INVALID_ARGUMENT. 0 keeps the running values, 1 replaces them. */
MPSCL_API float mpscl_matrix_batch_normalization_momentum(const mpscl_matrix_batch_normalization *k);
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_set_momentum(
    mpscl_matrix_batch_normalization *k, float momentum);

/* Enqueues the forward into cb. input, mean, variance and result are required; gamma (NULL: ones)
 * and beta (NULL: zeros) are optional. With compute_statistics, mean and variance are outputs
 * (biased 1/N variance, two-pass); otherwise inputs. Everything is validated before anything is
 * enqueued: a refused call writes nothing. */
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_encode(
    mpscl_matrix_batch_normalization *k, mpscl_command_buffer *cb,
    const mpscl_matrix *input, mpscl_vector *mean, mpscl_vector *variance,
    const mpscl_vector *gamma, const mpscl_vector *beta, mpscl_matrix *result);

/* An mpscl extension: _encode, then, in the same kernels, the running statistics a training loop
 * keeps for inference, per processed column j (vector b for batch entry b, as the other vectors):
 *   running_mean[j]     = (1 - momentum) running_mean[j]     + momentum mean[j]
 *   running_variance[j] = (1 - momentum) running_variance[j] + momentum variance[j] N / (N - 1)
 * with the batch's mean and variance as computed, before rounding to the mean and variance
 * vectors' types, in their precision (fp32 beside fp16 and bf16 data, fp64 beside fp64); the
 * running variance takes the unbiased variance, as PyTorch and ONNX do (the variance output stays
 * the biased 1/N one). With N = 1 the running variance is left as it is; the running mean is
 * still updated. Both running vectors are required, read and written, float32 or the matrices'
 * type, and may not overlap any other operand (MPSCL_ERROR_INVALID_ARGUMENT). Without
 * compute_statistics there are no batch statistics to update from: MPSCL_ERROR_INVALID_STATE.
 * A refused call writes nothing; the same inputs give the same bits. */
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_encode_with_running_statistics(
    mpscl_matrix_batch_normalization *k, mpscl_command_buffer *cb,
    const mpscl_matrix *input, mpscl_vector *mean, mpscl_vector *variance,
    const mpscl_vector *gamma, const mpscl_vector *beta, mpscl_matrix *result,
    mpscl_vector *running_mean, mpscl_vector *running_variance);

/* Serializes every property (not the device) into a new buffer in the versioned little-endian
 * format of docs/FORMAT.md: *bytes (free it with mpscl_free) and *size. Fails with
 * MPSCL_ERROR_INVALID_ARGUMENT for a NULL argument, MPSCL_ERROR_OUT_OF_HOST_MEMORY, or
 * MPSCL_ERROR_UNSUPPORTED for a label the format cannot hold (about 4 GiB); on failure *bytes is
 * NULL and *size 0. A read of the properties: safe with concurrent encodes and serializes of the
 * same object, not with its setters. */
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_serialize(
    const mpscl_matrix_batch_normalization *k, void **bytes, size_t *size);
/* A new object on d with the properties of an archive written by _serialize above (format
 * version 1 archives, which predate momentum, are read with momentum 0.1). Nothing in
 * the bytes is trusted: a wrong magic, a gradient kernel's archive, format version 0, truncation,
 * trailing bytes, a bad checksum or any value a setter would refuse (non-finite or negative
 * epsilon, unknown neuron type, PRELU, non-finite neuron parameter, origin z != 0, momentum
 * outside [0, 1], a NUL in the label, ...) is MPSCL_ERROR_CORRUPT_DATA, with the field in mpscl_last_error_message(); a newer
 * format version is MPSCL_ERROR_UNSUPPORTED; NULL d, bytes or out is MPSCL_ERROR_INVALID_ARGUMENT.
 * *out is NULL after every failure and nothing is left allocated. Thread-safe. */
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_create_from_bytes(
    mpscl_device *d, const void *bytes, size_t size,
    mpscl_matrix_batch_normalization **out);

#ifdef __cplusplus
}
#endif

#endif
