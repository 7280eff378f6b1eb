/* mpscl_command_buffer: an in-order queue plus the objects its work uses, held until it completes. */
#define _POSIX_C_SOURCE 200809L   /* clock_gettime */
#include "config.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "internal.h"

typedef struct held_object {
    void *obj;
    void (*release)(void *);
} held_object;

/* A device word that tells whether a command could do its work (a one-launch kernel whose
 * groups gave up waiting for each other), read at wait only when the work took long enough for
 * a failure to be possible. */
typedef struct word_check {
    struct word_check *next;
    cl_mem buffer;              /* retained */
    size_t offset;
    cl_uint failed_value;       /* what the word holds when the command failed */
    double enqueued_at, min_seconds;
    atomic_int *on_failure;     /* set to 1 when it did */
    const char *what;
} word_check;

/* An object over host memory that the buffer's commands use: pushed before the first of them;
 * pulled back at commit when one of them writes it. */
typedef struct host_use {
    cl_mem buffer;              /* held by the buffer through its object */
    size_t bytes;
    int written;
} host_use;

struct mpscl_command_buffer {
    atomic_size_t refs;
    mpscl_device *device;
    cl_command_queue queue;
    mpscl_command_buffer_state state;
    int pool;                   /* the device's pool the queue goes back to (timed 0, untimed 1),
                                 * or -1: the caller's queue */
    cl_event done;              /* complete when all work is: the last command's, or a marker */
    mpscl_status result;        /* of the finished work, once waited on */
    cl_int result_cl;
    held_object *held;
    size_t nheld, capheld;
    cl_event first, last;       /* first and last command enqueued: GPU start and end times */
    word_check *checks;         /* newest first */
    const char *failed;         /* the check that failed, once waited on */
    int queue_shared;           /* the caller has the queue (theirs, or asked for it) and may have
                                 * enqueued work of its own: commit ends with a marker */
    host_use *hosts;
    size_t nhosts, caphosts, hosts_pulled;
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
        mpscl__check_cl(clReleaseMemObject(cb->checks->buffer), "clReleaseMemObject");
        free(cb->checks);
        cb->checks = next;
    }
}

static double
seconds_now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* The word holds the largest number of a launch that failed (it only grows, and a command's
 * number is larger than every earlier one's): the command failed when that is its own or a
 * later one's, compared modulo 2^32. A later failure may so mark a command that did not fail,
 * never the other way round. */
static int
check_failed(const word_check *c, cl_uint word)
{
    return word != 0 && (int32_t)(word - c->failed_value) >= 0;
}

/* After the work finished: the first check whose command failed (NULL if none), its owner told;
 * a word that cannot be read fails the wait as an OpenCL error (*err). A check whose work ended
 * sooner than any failure could take needs no read: the fast path costs nothing. */
static const char *
run_checks(mpscl_command_buffer *cb, cl_int *err)
{
    const char *failed = NULL;
    double now = seconds_now();
    cl_command_queue q = NULL;

    for (word_check *c = cb->checks; c != NULL && *err == CL_SUCCESS; c = c->next) {
        cl_uint word = 0;
        if (now - c->enqueued_at < c->min_seconds)
            continue;
        if (q == NULL && mpscl__device_transfer_queue(cb->device, &q) != MPSCL_SUCCESS) {
            *err = mpscl_last_cl_error() != CL_SUCCESS ? mpscl_last_cl_error() : CL_OUT_OF_HOST_MEMORY;
            break;
        }
        *err = clEnqueueReadBuffer(q, c->buffer, CL_TRUE, c->offset, sizeof word, &word, 0, NULL,
                                   NULL);
        if (*err == CL_SUCCESS && check_failed(c, word)) {
            atomic_store(c->on_failure, 1);
            failed = c->what;   /* the list runs newest first: keep the earliest */
        }
    }
    return failed;
}

/* Work that failed may have stopped a command midway: its owners start afresh. */
static void
suspect_checks(const mpscl_command_buffer *cb)
{
    for (const word_check *c = cb->checks; c != NULL; c = c->next)
        atomic_store(c->on_failure, 1);
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

/* The pulls of the host-memory objects the buffer's commands wrote, after those commands. One
 * that fails stops the commit; a commit tried again goes on from it. */
static mpscl_status
pull_hosts(mpscl_command_buffer *cb)
{
    for (; cb->hosts_pulled < cb->nhosts; cb->hosts_pulled++) {
        const host_use *h = &cb->hosts[cb->hosts_pulled];
        mpscl_status s;
        if (h->written &&
            (s = mpscl__host_memory_pull(cb->queue, cb, h->buffer, h->bytes)) != MPSCL_SUCCESS)
            return s;
    }
    return MPSCL_SUCCESS;
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
    if ((s = pull_hosts(cb)) != MPSCL_SUCCESS)
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
            cb->failed = run_checks(cb, &err);
        if (err != CL_SUCCESS)
            suspect_checks(cb);
        cb->result_cl = err;
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

mpscl_status
mpscl__command_buffer_check_word(mpscl_command_buffer *cb, cl_mem buffer, size_t offset,
                                 cl_uint failed_value, double min_seconds, atomic_int *on_failure,
                                 const char *what)
{
    word_check *c = malloc(sizeof *c);
    cl_int err;

    if (c == NULL)
        return mpscl__fail(MPSCL_ERROR_OUT_OF_HOST_MEMORY, CL_SUCCESS, "command_buffer: out of memory");
    if ((err = clRetainMemObject(buffer)) != CL_SUCCESS) {
        free(c);
        return mpscl__fail_cl(err, "clRetainMemObject");
    }
    c->buffer = buffer;
    c->offset = offset;
    c->failed_value = failed_value;
    c->enqueued_at = seconds_now();
    c->min_seconds = min_seconds;
    c->on_failure = on_failure;
    c->what = what;
    c->next = cb->checks;
    cb->checks = c;
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
    /* Work that runs without a commit still leaves host memory as a commit would. */
    if (cb->state == MPSCL_COMMAND_BUFFER_NOT_COMMITTED && pull_hosts(cb) != MPSCL_SUCCESS)
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
    release_held(cb);
    free(cb->held);
    free(cb->hosts);
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
    assert(cb->nheld < cb->capheld);   /* reserved first, so holding cannot fail */
    cb->held[cb->nheld].obj = obj;
    cb->held[cb->nheld].release = release;
    cb->nheld++;
}

/* The host-memory object at buffer, or NULL when the buffer has not used it yet. */
static host_use *
find_host(const mpscl_command_buffer *cb, cl_mem buffer)
{
    for (size_t i = 0; i < cb->nhosts; i++)
        if (cb->hosts[i].buffer == buffer)
            return &cb->hosts[i];
    return NULL;
}

static mpscl_status
grow_hosts(mpscl_command_buffer *cb)
{
    size_t cap = cb->caphosts == 0 ? 4 : 2 * cb->caphosts;
    host_use *grown;

    if (cb->nhosts < cb->caphosts)
        return MPSCL_SUCCESS;
    if ((grown = realloc(cb->hosts, cap * sizeof *grown)) == NULL)
        return mpscl__fail(MPSCL_ERROR_OUT_OF_HOST_MEMORY, CL_SUCCESS, "command_buffer: out of memory");
    cb->hosts = grown;
    cb->caphosts = cap;
    return MPSCL_SUCCESS;
}

mpscl_status
mpscl__command_buffer_use(mpscl_command_buffer *cb, const mpscl__storage *s, int written)
{
    size_t bytes;
    host_use *h;
    mpscl_status st;

    if (s->host == NULL)
        return MPSCL_SUCCESS;
    /* Pushed once: a second push would put the host's bytes over what this buffer's own earlier
     * commands wrote. */
    if ((h = find_host(cb, s->buffer)) != NULL) {
        h->written |= written;
        return MPSCL_SUCCESS;
    }
    bytes = mpscl__layout_extent(s->layout);
    if ((st = grow_hosts(cb)) != MPSCL_SUCCESS ||
        (st = mpscl__host_memory_push(cb->queue, cb, s->buffer, bytes)) != MPSCL_SUCCESS)
        return st;
    cb->hosts[cb->nhosts++] = (host_use){s->buffer, bytes, written};
    return MPSCL_SUCCESS;
}
