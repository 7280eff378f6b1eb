/* mpscl: Apple's MPSMatrixBatchNormalization and MPSMatrixBatchNormalizationGradient for every
 * OpenCL device. The one header users include. */
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
