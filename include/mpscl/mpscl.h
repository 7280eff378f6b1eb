/** @defgroup mpscl MPS matrix batch normalization for every OpenCL device
 * @details mpscl implements Apple's Metal Performance Shaders MPSMatrixBatchNormalization and
 * MPSMatrixBatchNormalizationGradient as a C11 library for OpenCL 1.2 devices. This header,
 * `<mpscl/mpscl.h>`, is the one header users include; it brings in every object's header.
 * Build and link with `pkg-config --cflags --libs mpscl`, or in CMake with
 * `find_package(mpscl CONFIG REQUIRED)` and `target_link_libraries(app mpscl::mpscl)`.
 *
 * Objects are opaque and reference counted (`_retain` returns its argument, `_release` accepts
 * NULL). Every property becomes a getter `<object>_<property>()` and a setter
 * `<object>_set_<property>()`, MPS's camel case spelt in snake case. Every call that can fail
 * returns an ::mpscl_status; mpscl_last_error_message() says why, and a refused call writes
 * nothing. Creation functions write their object to `*out`, which is NULL after any failure.
 *
 * Names, MPS and Metal on the left, mpscl on the right (man page in parentheses):
 * - MTLDevice: ::mpscl_device (mpscl_device(3)); MTLCreateSystemDefaultDevice():
 *   mpscl_device_create_default(), mpscl_device_create_with_selector(),
 *   mpscl_device_create_by_index(), mpscl_device_create_from_cl().
 * - MTLCommandBuffer: ::mpscl_command_buffer (mpscl_command_buffer(3)); commit,
 *   waitUntilCompleted, status, GPUStartTime, GPUEndTime: mpscl_command_buffer_commit(),
 *   mpscl_command_buffer_wait_until_completed(), mpscl_command_buffer_status(),
 *   mpscl_command_buffer_gpu_start_time(), mpscl_command_buffer_gpu_end_time();
 *   MTLCommandBufferStatus: ::mpscl_command_buffer_state.
 * - MTLBuffer: `cl_mem`. MTLOrigin: ::mpscl_origin. MPSDataType: ::mpscl_data_type.
 *   MPSCNNNeuronType: ::mpscl_neuron_type (same numbering).
 * - MPSMatrixDescriptor, MPSMatrix: ::mpscl_matrix_descriptor, ::mpscl_matrix
 *   (mpscl_matrix(3)); matrixDescriptorWithRows:columns:rowBytes:dataType:
 *   mpscl_matrix_descriptor_make(); rowBytesFromColumns:dataType:
 *   mpscl_matrix_descriptor_row_bytes_from_columns(); initWithBuffer:descriptor:
 *   mpscl_matrix_create_with_buffer().
 * - MPSVectorDescriptor, MPSVector: ::mpscl_vector_descriptor, ::mpscl_vector
 *   (mpscl_matrix(3)).
 * - MPSMatrixBatchNormalization: ::mpscl_matrix_batch_normalization
 *   (mpscl_matrix_batch_normalization(3)).
 * - MPSMatrixBatchNormalizationGradient: ::mpscl_matrix_batch_normalization_gradient
 *   (mpscl_matrix_batch_normalization_gradient(3)).
 * - Kernel methods: encodeToCommandBuffer:... is `_encode()`, with the operands in MPS's order;
 *   setNeuronType:parameterA:parameterB:parameterC: is `_set_neuron_type(k, type, a, b, c)`;
 *   copyWithZone:device: is `_copy(k, device, &out)`; encodeWithCoder: and
 *   initWithCoder:device: are `_serialize()` and `_create_from_bytes()`.
 * - Properties: epsilon, sourceNumberOfFeatureVectors, sourceInputFeatureChannels,
 *   sourceMatrixOrigin, resultMatrixOrigin, primarySourceMatrixOrigin,
 *   secondarySourceMatrixOrigin, batchStart, batchSize, computeStatistics, label:
 *   `_epsilon()` and `_set_epsilon()`, `_source_number_of_feature_vectors()`, and so on.
 *
 * This page also documents the vocabulary every header uses: status codes, data types, neuron
 * types, origins, the version and the error queries.
 *
 * @par Thread safety
 * Every function of this page may be called from any thread. Each object's page states its own
 * rules: retain and release are safe from any thread everywhere; a command buffer is used by
 * one thread at a time; a kernel object may be encoded from several threads at once, but its
 * setters must not run while another thread encodes with it.
 *
 * @par Environment
 * `MPSCL_DEVICE` chooses the default device (mpscl_device(3)); `MPSCL_CACHE_DIR` moves the
 * program cache (`off` disables it, as does `MPSCL_DISABLE_CACHE=1`); `MPSCL_TUNE` forces launch
 * parameters; `MPSCL_DEBUG=1` prints each encode's launch plan to stderr.
 *
 * @par See also
 * mpscl_device(3), mpscl_command_buffer(3), mpscl_matrix(3),
 * mpscl_matrix_batch_normalization(3), mpscl_matrix_batch_normalization_gradient(3); the tools
 * mpscl-info(1), mpscl-demo(1), mpscl-bench(1) and mpscl-train(1). */
#ifndef MPSCL_H
#define MPSCL_H

#include <mpscl/version.h>
#include <mpscl/types.h>
#include <mpscl/device.h>
#include <mpscl/command_buffer.h>
#include <mpscl/matrix.h>
#include <mpscl/matrix_batch_normalization.h>
#include <mpscl/matrix_batch_normalization_gradient.h>

#endif
