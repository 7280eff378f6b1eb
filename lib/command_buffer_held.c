/* What a command buffer's commands leave with it until it completes: the objects they use
 * (held), the host-memory objects handed to the device and back, and the words the one-launch
 * kernels raise when their groups gave up. */
#define _POSIX_C_SOURCE 200809L   /* clock_gettime */
#include "config.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "command_buffer_impl.h"

void
mpscl__command_buffer_release_held(mpscl_command_buffer *cb)
{
    for (size_t i = 0; i < cb->nheld; i++)
        cb->held[i].release(cb->held[i].obj);
    cb->nheld = 0;
}

void
mpscl__command_buffer_free_checks(mpscl_command_buffer *cb)
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
const char *
mpscl__command_buffer_run_checks(mpscl_command_buffer *cb, cl_int *err)
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
void
mpscl__command_buffer_suspect_checks(const mpscl_command_buffer *cb)
{
    for (const word_check *c = cb->checks; c != NULL; c = c->next)
        atomic_store(c->on_failure, 1);
}


/* The pulls of the host-memory objects the buffer's commands wrote, after those commands. One
 * that fails stops the commit; a commit tried again goes on from it. */
mpscl_status
mpscl__command_buffer_pull_hosts(mpscl_command_buffer *cb)
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

