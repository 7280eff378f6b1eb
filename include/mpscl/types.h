/** @addtogroup mpscl
 * @{ */
#ifndef MPSCL_TYPES_H
#define MPSCL_TYPES_H

#include <stddef.h>
#include <stdint.h>

#ifndef CL_TARGET_OPENCL_VERSION
/** The OpenCL API version the headers ask of `<CL/cl.h>` (1.2), unless the includer chose one
 * first. */
#define CL_TARGET_OPENCL_VERSION 120
#endif
#ifdef __APPLE__
#include <OpenCL/opencl.h>
#else
#include <CL/cl.h>
#endif

#include <mpscl/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/** What every call that can fail returns. Status codes, data types, neuron types and origins
 * are the vocabulary every other header uses. */
typedef enum mpscl_status {
    MPSCL_SUCCESS = 0,              /**< the call did what it says */
    MPSCL_ERROR_INVALID_ARGUMENT,   /**< NULL where not allowed, unknown enum value, bad number */
    MPSCL_ERROR_INVALID_SHAPE,      /**< sizes of the operands disagree, or a region is empty */
    MPSCL_ERROR_OUT_OF_RANGE,       /**< origin/batch/offset beyond the object, buffer too small */
    MPSCL_ERROR_INVALID_DATA_TYPE,  /**< data type not allowed for this operand */
    /** valid request the device cannot do (fp64, pReLU on matrices) */
    MPSCL_ERROR_UNSUPPORTED,
    MPSCL_ERROR_DEVICE_MISMATCH,    /**< operands belong to different devices/contexts */
    /** for example encoding into a command buffer already committed */
    MPSCL_ERROR_INVALID_STATE,
    MPSCL_ERROR_OUT_OF_HOST_MEMORY, /**< a host allocation failed */
    /** an OpenCL call failed; mpscl_last_cl_error() has the code */
    MPSCL_ERROR_OPENCL,
    /** kernel program failed to build; the message holds the head of the log */
    MPSCL_ERROR_BUILD_FAILED,
    MPSCL_ERROR_NO_DEVICE,          /**< no OpenCL device exists, or none matches the selector */
    MPSCL_ERROR_CORRUPT_DATA,       /**< deserialization input is malformed */
    /** MPI layer: an MPI call failed, or another rank did */
    MPSCL_ERROR_COMMUNICATION
} mpscl_status;

/** Static English text for a status; "unknown status" for a value outside the enum. Never NULL. */
MPSCL_API const char *mpscl_status_string(mpscl_status s);
/** This thread's detail of its last failure ("" if none). Valid until this thread's next mpscl
 * call. */
MPSCL_API const char *mpscl_last_error_message(void);
/** The OpenCL code behind this thread's last MPSCL_ERROR_OPENCL (or build failure); CL_SUCCESS if
 * none. */
MPSCL_API cl_int mpscl_last_cl_error(void);
/** Version of the library actually linked; any pointer may be NULL. */
MPSCL_API void mpscl_version(int *major, int *minor, int *patch);
/** Frees memory the library handed out (serialized bytes). NULL is a no-op. */
MPSCL_API void mpscl_free(void *p);

/** Element types of matrices and vectors (MPSDataType, with its own numbering). */
typedef enum mpscl_data_type {
    MPSCL_DATA_TYPE_FLOAT32,  /**< IEEE binary32 */
    MPSCL_DATA_TYPE_FLOAT16,  /**< IEEE binary16: a storage format, arithmetic in fp32 */
    MPSCL_DATA_TYPE_BFLOAT16, /**< bfloat16 (a binary32's top half): storage, fp32 arithmetic */
    /** IEEE binary64, where the device has cl_khr_fp64 (an mpscl extension) */
    MPSCL_DATA_TYPE_FLOAT64
} mpscl_data_type;

/** Bytes per element; 0 for a value outside the enum. */
MPSCL_API size_t mpscl_data_type_size(mpscl_data_type t);

/** The fused neuron of the kernels (MPSCNNNeuronType, same numbering). Its formulas,
 * derivatives, kink values, domains and usual parameters are at
 * mpscl_matrix_batch_normalization_set_neuron_type(). */
typedef enum mpscl_neuron_type {
    MPSCL_NEURON_NONE,         /**< f(z) = z */
    MPSCL_NEURON_RELU,         /**< f(z) = z >= 0 ? z : a z */
    MPSCL_NEURON_LINEAR,       /**< f(z) = a z + b */
    MPSCL_NEURON_SIGMOID,      /**< f(z) = 1 / (1 + e^-z) */
    MPSCL_NEURON_HARD_SIGMOID, /**< f(z) = clamp(a z + b, 0, 1) */
    MPSCL_NEURON_TANH,         /**< f(z) = a tanh(b z) */
    MPSCL_NEURON_ABSOLUTE,     /**< f(z) = |z| */
    MPSCL_NEURON_SOFT_PLUS,    /**< f(z) = a ln(1 + e^(b z)) */
    MPSCL_NEURON_SOFT_SIGN,    /**< f(z) = z / (1 + |z|) */
    MPSCL_NEURON_ELU,          /**< f(z) = z >= 0 ? z : a (e^z - 1) */
    MPSCL_NEURON_PRELU,        /**< per-channel parameters: refused (MPSCL_ERROR_UNSUPPORTED) */
    MPSCL_NEURON_RELUN,        /**< f(z) = min(z >= 0 ? z : a z, b) */
    MPSCL_NEURON_POWER,        /**< f(z) = (a z + b)^c */
    MPSCL_NEURON_EXPONENTIAL,  /**< f(z) = c^(a z + b); e^(a z + b) when c == -1 */
    MPSCL_NEURON_LOGARITHM,    /**< f(z) = ln(a z + b) / ln(c); ln(a z + b) when c == -1 */
    MPSCL_NEURON_GELU          /**< f(z) = z Phi(z), Phi the standard normal distribution */
} mpscl_neuron_type;

/** MTLOrigin of the matrix kernels. */
typedef struct mpscl_origin {
    size_t x; /**< the row */
    size_t y; /**< the column */
    size_t z; /**< must be 0 */
} mpscl_origin;

#ifdef __cplusplus
}
#endif

/** @} */
#endif
