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
 * Data types: every matrix of an encode has one mpscl_data_type (else
 * MPSCL_ERROR_INVALID_DATA_TYPE); fp64 needs mpscl_device_supports_data_type (else
 * MPSCL_ERROR_UNSUPPORTED). Each vector, chosen one by one, is fp32 or the matrices' type (else
 * MPSCL_ERROR_INVALID_DATA_TYPE): fp16 or bf16 data with fp32 statistics and parameters works,
 * fp32 data with fp16, bf16 or fp64 vectors does not. The same rule holds for the gradient.
 *
 * Precision: fp16 and bf16 are storage formats. Loads widen to fp32, and all arithmetic, the
 * statistics and every sum over rows are fp32, or fp64 for fp64 data (fp32 vectors beside fp64
 * data are widened, not the reverse); each stored value is rounded once to its operand's type,
 * to nearest even. Computed statistics are rounded to their vectors' types before they
 * normalise, so the result matches the mean and variance stored (and a later gradient reads
 * them). Sums are fixed-order trees: the same inputs, device and launch plan give bitwise the
 * same outputs.
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
 * batch_size SIZE_MAX, label NULL, compute_statistics 0, momentum 0.1, reproducible 0. */
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
/* The fused neuron, shared with mpscl_matrix_batch_normalization_gradient. The forward writes
 * y = f(z) with z = gamma * xhat + beta; the gradient evaluates f' at the same z, rebuilt bit for
 * bit (no contraction), multiplies the incoming gradient by it, and only then sums, so a kink
 * takes the same side in both. a, b, c are this call's parameters; a type ignores those it does
 * not use. They all start at 0, which is not the identity of most types (see the warning below).
 * sigma(t) = 1 / (1 + e^-t); Phi, phi: the standard normal distribution and density; u = a z + b.
 *
 *   type          f(z)                                  f'(z); value at the kinks
 *   NONE          z                                     1
 *   RELU          z >= 0 ? z : a z   (a: leaky slope)   z > 0 ? 1 : a; a at z = 0
 *   LINEAR        u                                     a
 *   SIGMOID       sigma(z)                              sigma(z) (1 - sigma(z))
 *   HARD_SIGMOID  clamp(u, 0, 1)                        0 < u < 1 ? a : 0; 0 where u = 0 or 1
 *   TANH          a tanh(b z)                           a b / cosh^2(b z); 0 where cosh overflows
 *   ABSOLUTE      |z|                                   -1 for z < 0, 1 for z > 0; 0 at z = 0
 *   SOFT_PLUS     a ln(1 + e^(b z))                     a b sigma(b z)
 *   SOFT_SIGN     z / (1 + |z|)                         1 / (1 + |z|)^2
 *   ELU           z >= 0 ? z : a (e^z - 1)              z > 0 ? 1 : a e^z; a at z = 0
 *   PRELU         refused: MPSCL_ERROR_UNSUPPORTED (its parameters are per channel)
 *   RELUN         min(v, b), v = z >= 0 ? z : a z       v >= b ? 0 : z > 0 ? 1 : a; 0 where v = b,
 *                 (b: the ceiling; a = 0, b = 6: ReLU6)   a at z = 0 (when b > 0)
 *   POWER         u^c                                   a c u^(c - 1)
 *   EXPONENTIAL   c^u; e^u when c == -1                 a ln(c) c^u; a e^u when c == -1
 *   LOGARITHM     ln(u) / ln(c); ln(u) when c == -1     a / (u ln(c)); a / u when c == -1
 *   GELU          z Phi(z)                              Phi(z) + z phi(z)
 *
 * Usual parameters (none is applied for you): LINEAR 1, 0; HARD_SIGMOID 0.2, 0.5; TANH 1, 1;
 * SOFT_PLUS 1, 1; ELU a = 1; RELUN 0, 6; POWER 1, 0, 1; EXPONENTIAL and LOGARITHM 1, 0, -1.
 * c == -1 is an exact comparison. f and f' use the device's math built-ins, so their last bits
 * vary between devices (GELU on fp32, fp16 and bf16 data uses an erfc approximation with
 * relative error below 1.2e-7).
 *
 * Outside the domain nothing is clamped or refused: POWER, EXPONENTIAL and LOGARITHM give what
 * pow and log give. A negative u to a non-integer power and the log of a negative u are NaN. At
 * u = 0: LOGARITHM is infinite (-inf for base e) with an infinite slope; POWER has an infinite
 * slope for c < 1 and an infinite value for c < 0. Where u < 0, LOGARITHM's f is NaN but its
 * f' = a / (u ln c) is finite (base e, or c > 0), so the gradient is not NaN there. LOGARITHM
 * with c = 1 divides by ln 1 = 0; EXPONENTIAL with c = 0 or c < 0 (other than -1) has ln c = -inf
 * or NaN in f'. A NaN z gives NaN f and, except for NONE and LINEAR, NaN f'.
 *
 * Warning: parameters that silence the neuron are accepted without notice. y = 0 and a zero
 * gradient for every z: TANH with a = 0 or b = 0; SOFT_PLUS with a = 0; LINEAR with a = b = 0;
 * HARD_SIGMOID with a = 0 and b <= 0; RELUN with a = b = 0. Each of these is the default
 * (0, 0, 0). A constant y with f' = 0: LINEAR, HARD_SIGMOID, POWER (u = b > 0) and EXPONENTIAL
 * (c > 0) with a = 0; SOFT_PLUS with b = 0 (a ln 2); EXPONENTIAL with c = 1; POWER with c = 0
 * (1, but NaN f' where u = 0); RELUN with a = 0 and b < 0 (y = b). With (0, 0, 0), POWER and
 * EXPONENTIAL give y = 1 and a NaN gradient (0 * inf), and LOGARITHM NaN for both.
 *
 * Errors: an unknown type or a non-finite parameter: MPSCL_ERROR_INVALID_ARGUMENT; PRELU and
 * types this build cannot run yet: MPSCL_ERROR_UNSUPPORTED. A refused call keeps the previous
 * neuron. */
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

/* An mpscl extension: the reproducible mode (docs/DISTRIBUTED.md). Off (0, the default): sums
 * are fixed-order trees, bitwise the same run to run for one launch plan. On (stored as 1): the
 * statistics are two exact (binned) sums, sum x, then sum (x - mean)^2 with the mean as stored in the
 * mean vector, each rounded once to float32 on the device: mean, variance, result and the
 * running statistics are bitwise the same for any launch plan and for any split of the rows
 * into shares (the split phases below), on one device type. _encode with compute_statistics
 * then runs the split phases' kernels with one share; without compute_statistics nothing
 * changes. float64 data is refused there (MPSCL_ERROR_UNSUPPORTED): the sums take float32 terms.
 * In this mode the running mean takes the mean as rounded to the mean vector's type. */
MPSCL_API int mpscl_matrix_batch_normalization_reproducible(
    const mpscl_matrix_batch_normalization *k);
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_set_reproducible(
    mpscl_matrix_batch_normalization *k, int on);

/* ---- split phases: one batch's rows over several shares (devices, processes) ----
 *
 * Each share's rows give a partial (encode_partial_statistics); the partials of every share,
 * gathered in a fixed order into one vector (by the caller: host memory, MPI, ...), give the
 * global statistics (encode_combine_statistics) on every share; _encode with compute_statistics
 * off then normalises each share's rows with them. In the default mode one round does it, and
 * partials hold each share's (count, mean, M2), combined with Chan's formula in partial order:
 * bitwise the same run to run for a fixed split, within rounding of the one-device result. In
 * the reproducible mode two rounds (sum x, then sum (x - mean)^2 once the mean is known) give the
 * one-device reproducible result bit for bit, for any split. docs/DISTRIBUTED.md has the steps
 * and the partials' layout.
 *
 * Partials are float32 vectors whose words are opaque: partials_length words per partial; a
 * vector may hold several back to back (partial r at element r * length), and vector b of a
 * batch holds matrix b's, as for every vector operand. Row counts travel inside the partials.
 * The split phases take float32, float16 and bfloat16 data (float64: MPSCL_ERROR_UNSUPPORTED).
 * Every call validates everything before it enqueues anything (a refused call writes nothing);
 * thread rules as for _encode. */

/* Rounds of partial statistics: 1 in the default mode, 2 in the reproducible mode; 0 for NULL. */
MPSCL_API size_t mpscl_matrix_batch_normalization_statistics_rounds(
    const mpscl_matrix_batch_normalization *k);
/* *length: the float32 elements one partial of `columns` columns takes in k's mode (the same in
 * every round). NULL k or length, or 0 columns: MPSCL_ERROR_INVALID_ARGUMENT (*length 0). */
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_partials_length(
    const mpscl_matrix_batch_normalization *k, size_t columns, size_t *length);
/* This share's partial statistics of round `round` (< statistics_rounds) into partials (one
 * partial, at element 0 of each vector). The region follows the properties as _encode's does
 * (source origin, both counts, batch); a share may have no rows (source_number_of_feature_vectors
 * 0), which gives a partial of count 0. mean: NULL in round 0; in round 1 the global mean that
 * combine wrote (required). partials: float32, partials_length(C) elements per vector, and may
 * not overlap the other operands. Errors: as _encode's (NULL operands, devices, types, shapes),
 * a round out of range or a mean in round 0 (MPSCL_ERROR_INVALID_ARGUMENT). */
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_encode_partial_statistics(
    mpscl_matrix_batch_normalization *k, mpscl_command_buffer *cb, size_t round,
    const mpscl_matrix *input, const mpscl_vector *mean, mpscl_vector *partials);
/* Combines the `count` partials of round `round` held back to back in partials (in partial
 * order) into the global statistics. The region: C = min(source_input_feature_channels, mean's
 * length), the batch from batch_start over mean's vectors (partials were made with C columns).
 * Round 0 writes mean and, in the default mode, variance (the biased 1/N variance; in the
 * reproducible mode variance is ignored in round 0); round 1 (reproducible) reads mean and
 * writes variance. In the final round, running_mean and running_variance (both NULL, or both
 * given) are updated as _encode_with_running_statistics updates them, with the global N (N = 1
 * leaves the running variance; N = 0, every partial empty, leaves both and gives NaN
 * statistics). A partial of another layout (mode, family, round or C) gives NaN statistics.
 * Errors: as _encode's, count 0, a round out of range, one running vector without the other, or
 * running vectors before the final round (MPSCL_ERROR_INVALID_ARGUMENT); partials shorter than
 * count partials (MPSCL_ERROR_INVALID_SHAPE). */
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_encode_combine_statistics(
    mpscl_matrix_batch_normalization *k, mpscl_command_buffer *cb, size_t round,
    const mpscl_vector *partials, size_t count, mpscl_vector *mean, mpscl_vector *variance,
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
 * version 1 archives, which predate momentum, are read with momentum 0.1; versions 1 and 2,
 * which predate reproducible, with it off). Nothing in
 * the bytes is trusted: a wrong magic, a gradient kernel's archive, format version 0, truncation,
 * trailing bytes, a bad checksum or any value a setter would refuse (non-finite or negative
 * epsilon, unknown neuron type, PRELU, non-finite neuron parameter, origin z != 0, momentum
 * outside [0, 1], a NUL in the label, ...) is MPSCL_ERROR_CORRUPT_DATA, with the field in
 * mpscl_last_error_message(); a newer format version is MPSCL_ERROR_UNSUPPORTED; NULL d, bytes or
 * out is MPSCL_ERROR_INVALID_ARGUMENT.
 * *out is NULL after every failure and nothing is left allocated. Thread-safe. */
MPSCL_API mpscl_status mpscl_matrix_batch_normalization_create_from_bytes(
    mpscl_device *d, const void *bytes, size_t size,
    mpscl_matrix_batch_normalization **out);

#ifdef __cplusplus
}
#endif

#endif
