/* Status codes, data types, neuron types and origins: the vocabulary every other header uses.
 * Thread safety: every function here may be called from any thread. */
#ifndef MPSCL_TYPES_H
#define MPSCL_TYPES_H

#include <stddef.h>
#include <stdint.h>

#ifndef CL_TARGET_OPENCL_VERSION
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

typedef enum mpscl_status {
    MPSCL_SUCCESS = 0,
    MPSCL_ERROR_INVALID_ARGUMENT,   /* NULL where not allowed, unknown enum value, bad number */
    MPSCL_ERROR_INVALID_SHAPE,      /* sizes of the operands disagree, or a region is empty */
    MPSCL_ERROR_OUT_OF_RANGE,       /* origin/batch/offset beyond the object, buffer too small */
    MPSCL_ERROR_INVALID_DATA_TYPE,  /* data type not allowed for this operand */
    MPSCL_ERROR_UNSUPPORTED,        /* valid request the device cannot do (fp64, pReLU on matrices) */
    MPSCL_ERROR_DEVICE_MISMATCH,    /* operands belong to different devices/contexts */
    MPSCL_ERROR_INVALID_STATE,      /* e.g. encoding into a command buffer already committed */
    MPSCL_ERROR_OUT_OF_HOST_MEMORY,
    MPSCL_ERROR_OPENCL,             /* an OpenCL call failed; mpscl_last_cl_error() has the code */
    MPSCL_ERROR_BUILD_FAILED,       /* kernel program failed to build; message holds the log head */
    MPSCL_ERROR_NO_DEVICE,
    MPSCL_ERROR_CORRUPT_DATA,       /* deserialization input is malformed */
    MPSCL_ERROR_COMMUNICATION       /* MPI layer: an MPI call failed, or another rank did */
} mpscl_status;

/* Static English text for a status; "unknown status" for a value outside the enum. Never NULL. */
MPSCL_API const char *mpscl_status_string(mpscl_status s);
/* This thread's detail of its last failure ("" if none). Valid until this thread's next mpscl call. */
MPSCL_API const char *mpscl_last_error_message(void);
/* The OpenCL code behind this thread's last MPSCL_ERROR_OPENCL (or build failure); CL_SUCCESS if none. */
MPSCL_API cl_int mpscl_last_cl_error(void);
/* Version of the library actually linked; any pointer may be NULL. */
MPSCL_API void mpscl_version(int *major, int *minor, int *patch);
/* Frees memory the library handed out (serialized bytes). NULL is a no-op. */
MPSCL_API void mpscl_free(void *p);

typedef enum mpscl_data_type {
    MPSCL_DATA_TYPE_FLOAT32,
    MPSCL_DATA_TYPE_FLOAT16,
    MPSCL_DATA_TYPE_BFLOAT16,
    MPSCL_DATA_TYPE_FLOAT64
} mpscl_data_type;

/* Bytes per element; 0 for a value outside the enum. */
MPSCL_API size_t mpscl_data_type_size(mpscl_data_type t);

typedef enum mpscl_neuron_type {
    MPSCL_NEURON_NONE, MPSCL_NEURON_RELU, MPSCL_NEURON_LINEAR, MPSCL_NEURON_SIGMOID,
    MPSCL_NEURON_HARD_SIGMOID, MPSCL_NEURON_TANH, MPSCL_NEURON_ABSOLUTE, MPSCL_NEURON_SOFT_PLUS,
    MPSCL_NEURON_SOFT_SIGN, MPSCL_NEURON_ELU, MPSCL_NEURON_PRELU, MPSCL_NEURON_RELUN,
    MPSCL_NEURON_POWER, MPSCL_NEURON_EXPONENTIAL, MPSCL_NEURON_LOGARITHM, MPSCL_NEURON_GELU
} mpscl_neuron_type;

/* MTLOrigin of the matrix kernels: x = row, y = column, z must be 0. */
typedef struct mpscl_origin {
    size_t x, y, z;
} mpscl_origin;

#ifdef __cplusplus
}
#endif

#endif
