/* mpscl_command_buffer: an in-order queue plus the objects its work uses, held until it completes. */
#include "config.h"

#include <stdlib.h>

#include "internal.h"

typedef struct held_object {
    void *obj;
    void (*release)(void *);
} held_object;

/* A device word read back after a command, non-zero when the command could not do its work
 * (a one-launch kernel whose groups gave up waiting for each other). */
typedef struct word_check {
    struct word_check *next;
    cl_uint word;               /* the read's destination: stays put until the buffer is freed */
    cl_uint failed_value;       /* what the word holds when the command failed */
    atomic_int *on_failure;     /* set to 1 when it did */
    const char *what;
} word_check;

struct mpscl_command_buffer {
    atomic_size_t refs;
    mpscl_device *device;
    cl_command_queue queue;
    mpscl_command_buffer_state state;
    int pool;                   /* the device's pool the queue goes back to (timed 0, untimed 1),
                                 * or -1: the caller's queue */
    cl_event done;              /* complete when all work is: the last kernel's, or a marker */
    mpscl_status result;        /* of the finished work, once waited on */
    cl_int result_cl;
    held_object *held;
    size_t nheld, capheld;
    cl_event first, last;       /* first and last kernel enqueued: GPU start and end times */
    cl_event read;              /* the last check's read */
    int read_is_last;           /* enqueued after the last kernel */
    word_check *checks, *spare; /* words read back, checked at wait; one made ahead */
    const char *failed;         /* the check that failed, once waited on */
    int queue_shared;           /* the caller has the queue (theirs, or asked for it) and may have
                                 * enqueued work of its own: commit ends with a marker */
};

static void
release_held(mpscl_command_buffer *cb)
{
    for (size_t i = 0; i < cb->nheld; i++)
        cb->held[i].release(cb->held[i].obj);
    cb->nheld = 0;
}

static void
free_checks(mpscl_command_buffer *cb)
{
    while (cb->checks != NULL) {
        word_check *next = cb->checks->next;
        free(cb->checks);
        cb->checks = next;
    }
    free(cb->spare);
    cb->spare = NULL;
}

/* The first check whose word came back as its failed value, or NULL. Only after the reads
 * completed. */
static const char *
failed_check(const mpscl_command_buffer *cb)
{
    const char *failed = NULL;

    for (const word_check *c = cb->checks; c != NULL; c = c->next)
        if (c->word == c->failed_value)
            failed = c->what;   /* the list runs newest first: keep the earliest */
    return failed;
}

/* Tells the owners of the failed checks (once: the buffer's work is waited on once). */
static void
report_failed_checks(const mpscl_command_buffer *cb)
{
    for (const word_check *c = cb->checks; c != NULL; c = c->next)
        if (c->word == c->failed_value)
            atomic_store(c->on_failure, 1);
}

static void
set_read(mpscl_command_buffer *cb, cl_event ev)
{
    if (cb->read != NULL)
        mpscl__check_cl(clReleaseEvent(cb->read), "clReleaseEvent");
    cb->read = ev;
    cb->read_is_last = ev != NULL;
}

/* The library's last command: a check's read, or the last kernel. */
static cl_event
tail_event(const mpscl_command_buffer *cb)
{
    return cb->read_is_last ? cb->read : cb->last != NULL ? cb->last : cb->first;
}

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
    int marker;

    mpscl__clear_error();
    if (cb == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, "command_buffer_commit: NULL");
    if (cb->state != MPSCL_COMMAND_BUFFER_NOT_COMMITTED)
        return mpscl__fail(MPSCL_ERROR_INVALID_STATE, CL_SUCCESS,
                           "command_buffer_commit: already committed");
    /* The queue is in order, so the library's last command completes after all the others: its
     * event is the buffer's. A marker (a command more, 8 us on NVIDIA) ends a buffer without
     * kernels, and one whose queue may hold the caller's own commands, which are part of its
     * work. */
    marker = cb->first == NULL || cb->queue_shared;
    if (marker) {
        err = clEnqueueMarkerWithWaitList(cb->queue, 0, NULL, &cb->done);
    } else {
        cb->done = tail_event(cb);
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
        cb->result_cl = err;
        if (err == CL_SUCCESS && (cb->failed = failed_check(cb)) != NULL)
            report_failed_checks(cb);
        cb->state = err == CL_SUCCESS && cb->failed == NULL ? MPSCL_COMMAND_BUFFER_COMPLETED
                                                            : MPSCL_COMMAND_BUFFER_ERROR;
        mpscl__check_cl(clReleaseEvent(cb->done), "clReleaseEvent");
        cb->done = NULL;
        release_held(cb);
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
    if (exec != CL_COMPLETE)
        return MPSCL_COMMAND_BUFFER_COMMITTED;
    return failed_check(cb) == NULL ? MPSCL_COMMAND_BUFFER_COMPLETED : MPSCL_COMMAND_BUFFER_ERROR;
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
    cb->read_is_last = 0;
    if (cb->first == NULL) {
        cb->first = ev;
        return;
    }
    if (cb->last != NULL)
        mpscl__check_cl(clReleaseEvent(cb->last), "clReleaseEvent");
    cb->last = ev;
}

mpscl_status
mpscl__command_buffer_reserve_check(mpscl_command_buffer *cb)
{
    if (cb->spare == NULL && (cb->spare = calloc(1, sizeof *cb->spare)) == NULL)
        return mpscl__fail(MPSCL_ERROR_OUT_OF_HOST_MEMORY, CL_SUCCESS, "command_buffer: out of memory");
    return MPSCL_SUCCESS;
}

mpscl_status
mpscl__command_buffer_check_word(mpscl_command_buffer *cb, cl_mem buffer, size_t offset,
                                 cl_uint failed_value, atomic_int *on_failure, const char *what)
{
    word_check *c = cb->spare;
    cl_event ev = NULL;
    cl_int err = clEnqueueReadBuffer(cb->queue, buffer, CL_FALSE, offset, sizeof c->word, &c->word,
                                     0, NULL, &ev);

    if (err != CL_SUCCESS)
        return mpscl__fail_cl(err, "clEnqueueReadBuffer(gave-up word)");
    cb->spare = NULL;
    c->failed_value = failed_value;
    c->on_failure = on_failure;
    c->what = what;
    c->next = cb->checks;
    cb->checks = c;
    set_read(cb, ev);
    return MPSCL_SUCCESS;
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
    /* Work still in flight keeps using the held objects: finish it before letting them go. */
    mpscl__check_cl(clFinish(cb->queue), "clFinish");
    if (cb->done != NULL)
        mpscl__check_cl(clReleaseEvent(cb->done), "clReleaseEvent");
    if (cb->first != NULL)
        mpscl__check_cl(clReleaseEvent(cb->first), "clReleaseEvent");
    if (cb->last != NULL)
        mpscl__check_cl(clReleaseEvent(cb->last), "clReleaseEvent");
    set_read(cb, NULL);
    release_held(cb);
    free(cb->held);
    free_checks(cb);
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

mpscl_status
mpscl__command_buffer_reserve(mpscl_command_buffer *cb, size_t count)
{
    held_object *grown;
    size_t cap;

    if (cb->nheld + count <= cb->capheld)
        return MPSCL_SUCCESS;
    cap = cb->capheld == 0 ? 16 : cb->capheld;
    while (cap < cb->nheld + count)
        cap *= 2;
    grown = realloc(cb->held, cap * sizeof *grown);
    if (grown == NULL)
        return mpscl__fail(MPSCL_ERROR_OUT_OF_HOST_MEMORY, CL_SUCCESS, "command_buffer: out of memory");
    cb->held = grown;
    cb->capheld = cap;
    return MPSCL_SUCCESS;
}

void
mpscl__command_buffer_hold(mpscl_command_buffer *cb, void *obj, void (*release)(void *))
{
    cb->held[cb->nheld].obj = obj;
    cb->held[cb->nheld].release = release;
    cb->nheld++;
}
