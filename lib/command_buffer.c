/* mpscl_command_buffer: an in-order queue plus the objects its work uses, held until it completes. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "command_buffer_impl.h"


static mpscl_status
command_buffer_new(mpscl_device *d, cl_command_queue q, mpscl_command_buffer **out)
{
    mpscl_command_buffer *cb = calloc(1, sizeof *cb);

    if (cb == NULL)
        return mpscl__fail(MPSCL_ERROR_OUT_OF_HOST_MEMORY, CL_SUCCESS, "command_buffer: out of memory");
    atomic_init(&cb->refs, 1);
    cb->device = mpscl_device_retain(d);
    cb->queue = q;
    cb->state = MPSCL_COMMAND_BUFFER_NOT_COMMITTED;
    cb->pool = -1;
    *out = cb;
    return MPSCL_SUCCESS;
}

mpscl_status
mpscl_command_buffer_create_with_options(mpscl_device *d, unsigned options,
                                         mpscl_command_buffer **out)
{
    int untimed = (options & MPSCL_COMMAND_BUFFER_OPTION_NO_GPU_TIMES) != 0;
    cl_command_queue q;
    mpscl_status s;

    if (out == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, "command_buffer_create: out is NULL");
    *out = NULL;
    mpscl__clear_error();
    if (d == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, "command_buffer_create: device is NULL");
    if ((options & ~(unsigned)MPSCL_COMMAND_BUFFER_OPTION_NO_GPU_TIMES) != 0)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS,
                           "command_buffer_create: unknown options 0x%x",
                           options & ~(unsigned)MPSCL_COMMAND_BUFFER_OPTION_NO_GPU_TIMES);
    if ((s = mpscl__device_take_queue(d, untimed, &q)) != MPSCL_SUCCESS)
        return s;
    if ((s = command_buffer_new(d, q, out)) != MPSCL_SUCCESS) {
        mpscl__device_return_queue(d, untimed, q);
        return s;
    }
    (*out)->pool = untimed;
    return MPSCL_SUCCESS;
}

mpscl_status
mpscl_command_buffer_create(mpscl_device *d, mpscl_command_buffer **out)
{
    return mpscl_command_buffer_create_with_options(d, MPSCL_COMMAND_BUFFER_OPTION_NONE, out);
}

mpscl_status
mpscl_command_buffer_create_with_queue(mpscl_device *d, cl_command_queue q, mpscl_command_buffer **out)
{
    cl_context ctx;
    cl_device_id dev;
    cl_command_queue_properties props;
    cl_int err;
    mpscl_status s;

    if (out == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS,
                           "command_buffer_create_with_queue: out is NULL");
    *out = NULL;
    mpscl__clear_error();
    if (d == NULL || q == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS,
                           "command_buffer_create_with_queue: %s is NULL", d == NULL ? "device" : "queue");
    if ((err = clGetCommandQueueInfo(q, CL_QUEUE_CONTEXT, sizeof ctx, &ctx, NULL)) != CL_SUCCESS ||
        (err = clGetCommandQueueInfo(q, CL_QUEUE_DEVICE, sizeof dev, &dev, NULL)) != CL_SUCCESS ||
        (err = clGetCommandQueueInfo(q, CL_QUEUE_PROPERTIES, sizeof props, &props, NULL)) != CL_SUCCESS)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, err,
                           "command_buffer_create_with_queue: queue is not a valid cl_command_queue (%s)",
                           mpscl__cl_error_name(err));
    if (ctx != d->context || dev != d->device)
        return mpscl__fail(MPSCL_ERROR_DEVICE_MISMATCH, CL_SUCCESS,
                           "command_buffer_create_with_queue: queue belongs to another %s",
                           ctx != d->context ? "context" : "device");
    if (props & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS,
                           "command_buffer_create_with_queue: queue is out of order; passes need order");
    if ((err = clRetainCommandQueue(q)) != CL_SUCCESS)
        return mpscl__fail_cl(err, "clRetainCommandQueue");
    if ((s = command_buffer_new(d, q, out)) != MPSCL_SUCCESS)
        mpscl__check_cl(clReleaseCommandQueue(q), "clReleaseCommandQueue");
    else
        (*out)->queue_shared = 1;
    return s;
}

mpscl_status
mpscl_command_buffer_commit(mpscl_command_buffer *cb)
{
    cl_int err;
    mpscl_status s;
    int marker;

    mpscl__clear_error();
    if (cb == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, "command_buffer_commit: NULL");
    if (cb->state != MPSCL_COMMAND_BUFFER_NOT_COMMITTED)
        return mpscl__fail(MPSCL_ERROR_INVALID_STATE, CL_SUCCESS,
                           "command_buffer_commit: already committed");
    if ((s = mpscl__command_buffer_pull_hosts(cb)) != MPSCL_SUCCESS)
        return s;
    /* The queue is in order, so the last command completes after all the others: its event is
     * the buffer's. A marker (a command more, 8 us on NVIDIA) ends a buffer without commands, and
     * one whose queue may hold the caller's own commands, which are part of its work. */
    marker = cb->first == NULL || cb->queue_shared;
    if (marker) {
        err = clEnqueueMarkerWithWaitList(cb->queue, 0, NULL, &cb->done);
    } else {
        cb->done = cb->last != NULL ? cb->last : cb->first;
        err = clRetainEvent(cb->done);
    }
    if (err != CL_SUCCESS) {
        cb->done = NULL;
        return mpscl__fail_cl(err, marker ? "clEnqueueMarkerWithWaitList" : "clRetainEvent");
    }
    err = clFlush(cb->queue);
    if (err != CL_SUCCESS) {
        /* The marker stays: wait still waits for whatever was enqueued. */
        cb->state = MPSCL_COMMAND_BUFFER_COMMITTED;
        return mpscl__fail_cl(err, "clFlush");
    }
    cb->state = MPSCL_COMMAND_BUFFER_COMMITTED;
    return MPSCL_SUCCESS;
}

mpscl_status
mpscl_command_buffer_wait_until_completed(mpscl_command_buffer *cb)
{
    cl_int err, exec = CL_COMPLETE;

    mpscl__clear_error();
    if (cb == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, "command_buffer_wait: NULL");
    if (cb->state == MPSCL_COMMAND_BUFFER_NOT_COMMITTED)
        return mpscl__fail(MPSCL_ERROR_INVALID_STATE, CL_SUCCESS,
                           "command_buffer_wait: the buffer was not committed");
    if (cb->state == MPSCL_COMMAND_BUFFER_COMMITTED) {
        /* done completes after all the buffer's work (commit); a failed command makes the wait,
         * or the status of done or the first kernel, negative. Work enqueued after the commit is
         * not the buffer's and is not waited for (no clFinish), as in Metal. */
        err = clWaitForEvents(1, &cb->done);
        for (size_t i = 0; i < 2 && err == CL_SUCCESS; i++) {
            cl_event ev = i == 0 ? cb->done : cb->first;
            if (ev != NULL)
                err = clGetEventInfo(ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof exec, &exec,
                                     NULL);
            if (err == CL_SUCCESS && exec < 0)
                err = exec;
        }
        if (err == CL_SUCCESS)
            cb->failed = mpscl__command_buffer_run_checks(cb, &err);
        if (err != CL_SUCCESS)
            mpscl__command_buffer_suspect_checks(cb);
        cb->result_cl = err;
        cb->state = err == CL_SUCCESS && cb->failed == NULL ? MPSCL_COMMAND_BUFFER_COMPLETED
                                                            : MPSCL_COMMAND_BUFFER_ERROR;
        mpscl__check_cl(clReleaseEvent(cb->done), "clReleaseEvent");
        cb->done = NULL;
        mpscl__command_buffer_release_held(cb);
    }
    if (cb->state == MPSCL_COMMAND_BUFFER_ERROR && cb->failed != NULL)
        return mpscl__fail(MPSCL_ERROR_UNSUPPORTED, CL_SUCCESS,
                           "command_buffer_wait: %s gave up waiting for its other work-groups: "
                           "this device does not run them as that layout assumes, and the "
                           "results are not valid (MPSCL_TUNE=fused=0 selects two launches)",
                           cb->failed);
    if (cb->state == MPSCL_COMMAND_BUFFER_ERROR)
        return mpscl__fail(MPSCL_ERROR_OPENCL, cb->result_cl,
                           "command_buffer_wait: enqueued work failed: %s (%d)",
                           mpscl__cl_error_name(cb->result_cl), (int)cb->result_cl);
    return MPSCL_SUCCESS;
}

mpscl_command_buffer_state
mpscl_command_buffer_status(const mpscl_command_buffer *cb)
{
    cl_int exec;

    if (cb == NULL)
        return MPSCL_COMMAND_BUFFER_ERROR;
    if (cb->state != MPSCL_COMMAND_BUFFER_COMMITTED)
        return cb->state;
    if (clGetEventInfo(cb->done, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof exec, &exec, NULL) !=
        CL_SUCCESS || exec < 0)
        return MPSCL_COMMAND_BUFFER_ERROR;
    return exec == CL_COMPLETE ? MPSCL_COMMAND_BUFFER_COMPLETED : MPSCL_COMMAND_BUFFER_COMMITTED;
}

/* Profiling time of an event in seconds, or 0 when the queue does not profile. */
static double
event_seconds(cl_event ev, cl_profiling_info what)
{
    cl_ulong ns = 0;

    if (ev == NULL || clGetEventProfilingInfo(ev, what, sizeof ns, &ns, NULL) != CL_SUCCESS)
        return 0.0;
    return (double)ns * 1e-9;
}

double
mpscl_command_buffer_gpu_start_time(const mpscl_command_buffer *cb)
{
    if (cb == NULL || cb->state != MPSCL_COMMAND_BUFFER_COMPLETED)
        return 0.0;
    return event_seconds(cb->first, CL_PROFILING_COMMAND_START);
}

double
mpscl_command_buffer_gpu_end_time(const mpscl_command_buffer *cb)
{
    if (cb == NULL || cb->state != MPSCL_COMMAND_BUFFER_COMPLETED)
        return 0.0;
    return event_seconds(cb->last != NULL ? cb->last : cb->first, CL_PROFILING_COMMAND_END);
}

void
mpscl__command_buffer_track(mpscl_command_buffer *cb, cl_event ev)
{
    if (cb->first == NULL) {
        cb->first = ev;
        return;
    }
    if (cb->last != NULL)
        mpscl__check_cl(clReleaseEvent(cb->last), "clReleaseEvent");
    cb->last = ev;
}

cl_command_queue
mpscl_command_buffer_cl_queue(const mpscl_command_buffer *cb)
{
    if (cb == NULL)
        return NULL;
    /* The caller may now enqueue on it (the buffer was allocated mutable; const is the API's). */
    ((mpscl_command_buffer *)cb)->queue_shared = 1;
    return cb->queue;
}

cl_command_queue
mpscl__command_buffer_queue(const mpscl_command_buffer *cb)
{
    return cb->queue;
}

mpscl_device *
mpscl_command_buffer_device(const mpscl_command_buffer *cb)
{
    return cb == NULL ? NULL : cb->device;
}

mpscl_command_buffer *
mpscl_command_buffer_retain(mpscl_command_buffer *cb)
{
    if (cb != NULL)
        atomic_fetch_add_explicit(&cb->refs, 1, memory_order_relaxed);
    return cb;
}

void
mpscl_command_buffer_release(mpscl_command_buffer *cb)
{
    if (cb == NULL || atomic_fetch_sub_explicit(&cb->refs, 1, memory_order_acq_rel) != 1)
        return;
    /* Work that runs without a commit still leaves host memory as a commit would. */
    if (cb->state == MPSCL_COMMAND_BUFFER_NOT_COMMITTED && mpscl__command_buffer_pull_hosts(cb) != MPSCL_SUCCESS)
        mpscl__check_cl(mpscl_last_cl_error() != CL_SUCCESS ? mpscl_last_cl_error()
                                                            : CL_OUT_OF_HOST_MEMORY,
                        "command_buffer_release: pulling host memory");
    /* Work still in flight keeps using the held objects: finish it before letting them go. */
    mpscl__check_cl(clFinish(cb->queue), "clFinish");
    if (cb->done != NULL)
        mpscl__check_cl(clReleaseEvent(cb->done), "clReleaseEvent");
    if (cb->first != NULL)
        mpscl__check_cl(clReleaseEvent(cb->first), "clReleaseEvent");
    if (cb->last != NULL)
        mpscl__check_cl(clReleaseEvent(cb->last), "clReleaseEvent");
    mpscl__command_buffer_release_held(cb);
    free(cb->held);
    free(cb->hosts);
    mpscl__command_buffer_free_checks(cb);
    if (cb->pool >= 0)
        mpscl__device_return_queue(cb->device, cb->pool, cb->queue);
    else
        mpscl__check_cl(clReleaseCommandQueue(cb->queue), "clReleaseCommandQueue");
    mpscl_device_release(cb->device);
    free(cb);
}

mpscl_status
mpscl__command_buffer_check_encode(const mpscl_command_buffer *cb, const mpscl_device *d,
                                   const char *fn)
{
    if (cb == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, "%s: command buffer is NULL", fn);
    if (cb->state != MPSCL_COMMAND_BUFFER_NOT_COMMITTED)
        return mpscl__fail(MPSCL_ERROR_INVALID_STATE, CL_SUCCESS,
                           "%s: the command buffer was already committed", fn);
    if (cb->device->context != d->context || cb->device->device != d->device)
        return mpscl__fail(MPSCL_ERROR_DEVICE_MISMATCH, CL_SUCCESS,
                           "%s: the command buffer belongs to another device or context", fn);
    return MPSCL_SUCCESS;
}
