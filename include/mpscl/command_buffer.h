/** @defgroup mpscl_command_buffer work encoded into an in-order OpenCL queue (MTLCommandBuffer)
 * @ingroup mpscl
 * @details mpscl_command_buffer (MTLCommandBuffer): work encoded into an in-order OpenCL queue.
 * Encoding enqueues at once; commit flushes; wait blocks until the device finished and reports
 * the first error of the enqueued work. Objects encoded into a buffer are retained until it
 * completes.
 *
 * @par Thread safety
 * One command buffer is used by one thread at a time; retain/release anywhere.
 * @{ */
#ifndef MPSCL_COMMAND_BUFFER_H
#define MPSCL_COMMAND_BUFFER_H

#include <mpscl/device.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A command buffer (opaque, reference counted). */
typedef struct mpscl_command_buffer mpscl_command_buffer;

/** MTLCommandBufferStatus. Its natural name, mpscl_command_buffer_status, is also the natural name
 * of the status function below, and C cannot have both in one scope: the enum keeps the tag
 * `enum mpscl_command_buffer_status`, the function keeps its name, and the typedef is
 * mpscl_command_buffer_state. */
typedef enum mpscl_command_buffer_status {
    MPSCL_COMMAND_BUFFER_NOT_COMMITTED, /**< encoding is allowed */
    MPSCL_COMMAND_BUFFER_COMMITTED,     /**< committed, work not finished */
    MPSCL_COMMAND_BUFFER_COMPLETED,     /**< work finished without error */
    MPSCL_COMMAND_BUFFER_ERROR          /**< work failed (or a NULL buffer) */
} mpscl_command_buffer_state;

/** A command buffer over an in-order queue of its own (one of the device's idle ones). */
MPSCL_API mpscl_status mpscl_command_buffer_create(mpscl_device *d, mpscl_command_buffer **out);

/** Options of mpscl_command_buffer_create_with_options, or-ed together. */
typedef enum mpscl_command_buffer_option {
    MPSCL_COMMAND_BUFFER_OPTION_NONE = 0, /**< the default queue */
    /** A queue that records no GPU times (gpu_start_time and gpu_end_time return 0): less latency
     * per kernel where the driver charges for timestamps (about 6 us a launch on NVIDIA's
     * OpenCL), for latency-bound callers. Results are the same bits. */
    MPSCL_COMMAND_BUFFER_OPTION_NO_GPU_TIMES = 1
} mpscl_command_buffer_option;

/** mpscl_command_buffer_create with options; an unknown option bit is
 * MPSCL_ERROR_INVALID_ARGUMENT. create(d, out) is create_with_options(d, 0, out). */
MPSCL_API mpscl_status mpscl_command_buffer_create_with_options(mpscl_device *d, unsigned options,
                                                               mpscl_command_buffer **out);
/** A command buffer over the caller's queue (retained), which must belong to d's context and
 * device and be in order: MPSCL_ERROR_DEVICE_MISMATCH / MPSCL_ERROR_INVALID_ARGUMENT otherwise. */
MPSCL_API mpscl_status mpscl_command_buffer_create_with_queue(mpscl_device *d, cl_command_queue q,
                                                             mpscl_command_buffer **out);
/** Flushes the queue; afterwards encoding is MPSCL_ERROR_INVALID_STATE, and so is a second
 * commit. */
MPSCL_API mpscl_status mpscl_command_buffer_commit(mpscl_command_buffer *cb);
/** Blocks until the committed work finished: MPSCL_SUCCESS, or the first error of the work
 * (MPSCL_ERROR_OPENCL; MPSCL_ERROR_UNSUPPORTED when a one-launch kernel's work-groups gave up
 * waiting for each other, on a device that does not schedule them as that layout needs: the
 * library picks that layout only on NVIDIA GPUs, where it was verified, or where MPSCL_TUNE forces
 * it. Its outputs are then not valid, and the same kernel object works normally for its next
 * encode). The work is what was encoded, and, on a
 * caller's queue or one taken with mpscl_command_buffer_cl_queue, the caller's own commands
 * enqueued there before the commit. Waiting on an uncommitted buffer is
 * MPSCL_ERROR_INVALID_STATE. Waiting again returns the same result. */
MPSCL_API mpscl_status mpscl_command_buffer_wait_until_completed(mpscl_command_buffer *cb);
/** Does not block; a committed buffer whose work finished reports COMPLETED or ERROR as OpenCL
 * reports the work's execution. A one-launch kernel that gave up (above) is found only by
 * mpscl_command_buffer_wait_until_completed, which is the authority on the result. A NULL buffer
 * reports ERROR. */
MPSCL_API mpscl_command_buffer_state mpscl_command_buffer_status(const mpscl_command_buffer *cb);
/** @{ */
/** MTLCommandBuffer's GPUStartTime / GPUEndTime: device timestamps in seconds of the start of the
 * first command and the end of the last command encoded, once the buffer COMPLETED. As in Metal,
 * where they span the whole buffer, commands are kernels and encoded copies alike, and the
 * hand-over of memory of objects over host memory (matrix.h). 0 before, on error, with nothing
 * encoded, with MPSCL_COMMAND_BUFFER_OPTION_NO_GPU_TIMES, or on a caller's queue without
 * CL_QUEUE_PROFILING_ENABLE.
 * Only the difference of the two is meaningful. */
MPSCL_API double mpscl_command_buffer_gpu_start_time(const mpscl_command_buffer *cb);
MPSCL_API double mpscl_command_buffer_gpu_end_time(const mpscl_command_buffer *cb);
/** @} */
/** The OpenCL queue the buffer's commands go to (not retained for the caller); NULL for a NULL
 * buffer. Commands the caller enqueues there before the commit are part of the buffer's work. */
MPSCL_API cl_command_queue mpscl_command_buffer_cl_queue(const mpscl_command_buffer *cb);
/** The device of the buffer (not retained for the caller); NULL for a NULL buffer. */
MPSCL_API mpscl_device *mpscl_command_buffer_device(const mpscl_command_buffer *cb);

/** Adds a reference to cb; returns cb. */
MPSCL_API mpscl_command_buffer *mpscl_command_buffer_retain(mpscl_command_buffer *cb);
/** NULL is a no-op. The last release waits for the buffer's work to finish before it lets go of
 * the objects that work uses. A buffer released without a commit does NOT discard its work, as
 * Metal does: encoding already handed the commands to OpenCL, which cannot withdraw them. They
 * run to completion, and write their outputs, before the release returns; nothing reports
 * whether they succeeded, so commit and wait for work whose result matters, and do not encode
 * work that must not run. */
MPSCL_API void mpscl_command_buffer_release(mpscl_command_buffer *cb);

#ifdef __cplusplus
}
#endif

/** @} */
#endif
