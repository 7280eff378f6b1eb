/* Status strings, the thread-local last error, version and data-type queries. */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char *const status_text[] = {
    [MPSCL_SUCCESS] = "success",
    [MPSCL_ERROR_INVALID_ARGUMENT] = "invalid argument",
    [MPSCL_ERROR_INVALID_SHAPE] = "operand shapes disagree or the region is empty",
    [MPSCL_ERROR_OUT_OF_RANGE] = "origin, batch, offset or size out of range",
    [MPSCL_ERROR_INVALID_DATA_TYPE] = "data type not allowed for this operand",
    [MPSCL_ERROR_UNSUPPORTED] = "not supported on this device",
    [MPSCL_ERROR_DEVICE_MISMATCH] = "operands belong to different devices or contexts",
    [MPSCL_ERROR_INVALID_STATE] = "object is in the wrong state for this call",
    [MPSCL_ERROR_OUT_OF_HOST_MEMORY] = "out of host memory",
    [MPSCL_ERROR_OPENCL] = "an OpenCL call failed",
    [MPSCL_ERROR_BUILD_FAILED] = "kernel program failed to build",
    [MPSCL_ERROR_NO_DEVICE] = "no OpenCL device found",
    [MPSCL_ERROR_CORRUPT_DATA] = "serialized data is malformed",
    [MPSCL_ERROR_COMMUNICATION] = "an MPI operation failed, or another rank of the step did",
};

/* 512 bytes hold a message naming a function, an operand and two sizes, or a build log head. */
static _Thread_local char last_message[512];
static _Thread_local cl_int last_cl;

const char *
mpscl_status_string(mpscl_status s)
{
    if ((unsigned)s >= sizeof status_text / sizeof status_text[0] || status_text[s] == NULL)
        return "unknown status";
    return status_text[s];
}

const char *
mpscl_last_error_message(void)
{
    return last_message;
}

cl_int
mpscl_last_cl_error(void)
{
    return last_cl;
}

void
mpscl__clear_error(void)
{
    last_message[0] = '\0';
    last_cl = CL_SUCCESS;
}

mpscl_status
mpscl__fail(mpscl_status s, cl_int cl, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    last_cl = cl;
    return s;
}

mpscl_status
mpscl__fail_cl(cl_int err, const char *what)
{
    mpscl_status s = err == CL_OUT_OF_HOST_MEMORY ? MPSCL_ERROR_OUT_OF_HOST_MEMORY
                                                  : MPSCL_ERROR_OPENCL;
    return mpscl__fail(s, err, "%s failed: %s (%d)", what, mpscl__cl_error_name(err), (int)err);
}

void
mpscl__check_cl(cl_int err, const char *what)
{
    if (err != CL_SUCCESS && getenv("MPSCL_DEBUG") != NULL)
        fprintf(stderr, "mpscl: %s failed: %s (%d)\n", what, mpscl__cl_error_name(err), (int)err);
}

const char *
mpscl__cl_error_name(cl_int err)
{
    switch (err) {
#define NAME(c) case c: return #c;
    NAME(CL_SUCCESS) NAME(CL_DEVICE_NOT_FOUND) NAME(CL_DEVICE_NOT_AVAILABLE)
    NAME(CL_COMPILER_NOT_AVAILABLE) NAME(CL_MEM_OBJECT_ALLOCATION_FAILURE)
    NAME(CL_OUT_OF_RESOURCES) NAME(CL_OUT_OF_HOST_MEMORY) NAME(CL_PROFILING_INFO_NOT_AVAILABLE)
    NAME(CL_MEM_COPY_OVERLAP) NAME(CL_IMAGE_FORMAT_MISMATCH) NAME(CL_IMAGE_FORMAT_NOT_SUPPORTED)
    NAME(CL_BUILD_PROGRAM_FAILURE) NAME(CL_MAP_FAILURE) NAME(CL_MISALIGNED_SUB_BUFFER_OFFSET)
    NAME(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST) NAME(CL_COMPILE_PROGRAM_FAILURE)
    NAME(CL_LINKER_NOT_AVAILABLE) NAME(CL_LINK_PROGRAM_FAILURE) NAME(CL_DEVICE_PARTITION_FAILED)
    NAME(CL_KERNEL_ARG_INFO_NOT_AVAILABLE) NAME(CL_INVALID_VALUE) NAME(CL_INVALID_DEVICE_TYPE)
    NAME(CL_INVALID_PLATFORM) NAME(CL_INVALID_DEVICE) NAME(CL_INVALID_CONTEXT)
    NAME(CL_INVALID_QUEUE_PROPERTIES) NAME(CL_INVALID_COMMAND_QUEUE) NAME(CL_INVALID_HOST_PTR)
    NAME(CL_INVALID_MEM_OBJECT) NAME(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR)
    NAME(CL_INVALID_IMAGE_SIZE) NAME(CL_INVALID_SAMPLER) NAME(CL_INVALID_BINARY)
    NAME(CL_INVALID_BUILD_OPTIONS) NAME(CL_INVALID_PROGRAM) NAME(CL_INVALID_PROGRAM_EXECUTABLE)
    NAME(CL_INVALID_KERNEL_NAME) NAME(CL_INVALID_KERNEL_DEFINITION) NAME(CL_INVALID_KERNEL)
    NAME(CL_INVALID_ARG_INDEX) NAME(CL_INVALID_ARG_VALUE) NAME(CL_INVALID_ARG_SIZE)
    NAME(CL_INVALID_KERNEL_ARGS) NAME(CL_INVALID_WORK_DIMENSION)
    NAME(CL_INVALID_WORK_GROUP_SIZE) NAME(CL_INVALID_WORK_ITEM_SIZE)
    NAME(CL_INVALID_GLOBAL_OFFSET) NAME(CL_INVALID_EVENT_WAIT_LIST) NAME(CL_INVALID_EVENT)
    NAME(CL_INVALID_OPERATION) NAME(CL_INVALID_GL_OBJECT) NAME(CL_INVALID_BUFFER_SIZE)
    NAME(CL_INVALID_MIP_LEVEL) NAME(CL_INVALID_GLOBAL_WORK_SIZE) NAME(CL_INVALID_PROPERTY)
    NAME(CL_INVALID_IMAGE_DESCRIPTOR) NAME(CL_INVALID_COMPILER_OPTIONS)
    NAME(CL_INVALID_LINKER_OPTIONS) NAME(CL_INVALID_DEVICE_PARTITION_COUNT)
#undef NAME
    default:
        return "unknown OpenCL error";
    }
}

int
mpscl__mul_add(size_t a, size_t b, size_t c, size_t *out)
{
    if (b != 0 && a > (SIZE_MAX - c) / b)
        return 0;
    *out = a * b + c;
    return 1;
}

void
mpscl_version(int *major, int *minor, int *patch)
{
    if (major != NULL)
        *major = MPSCL_VERSION_MAJOR;
    if (minor != NULL)
        *minor = MPSCL_VERSION_MINOR;
    if (patch != NULL)
        *patch = MPSCL_VERSION_PATCH;
}

void
mpscl_free(void *p)
{
    free(p);
}

size_t
mpscl_data_type_size(mpscl_data_type t)
{
    switch (t) {
    case MPSCL_DATA_TYPE_FLOAT32: return 4;
    case MPSCL_DATA_TYPE_FLOAT16: return 2;
    case MPSCL_DATA_TYPE_BFLOAT16: return 2;
    case MPSCL_DATA_TYPE_FLOAT64: return 8;
    }
    return 0;
}
