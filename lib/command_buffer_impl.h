/* The command buffer's own state, shared by its lifecycle (command_buffer.c: create, commit,
 * wait, release) and what its commands leave with it (command_buffer_held.c: held objects,
 * host-memory hand-overs, the one-launch kernels' word checks). */
#ifndef MPSCL_COMMAND_BUFFER_IMPL_H
#define MPSCL_COMMAND_BUFFER_IMPL_H

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

/* Releases every held object (the work that used them is done, or never ran). */
void mpscl__command_buffer_release_held(mpscl_command_buffer *cb);
/* Frees the word checks, releasing their buffers. */
void mpscl__command_buffer_free_checks(mpscl_command_buffer *cb);
/* After the work finished: the first check whose command failed (NULL if none), its owner told;
 * a word that cannot be read is an OpenCL error in *err. */
const char *mpscl__command_buffer_run_checks(mpscl_command_buffer *cb, cl_int *err);
/* Work that failed may have stopped a command midway: every check's owner starts afresh. */
void mpscl__command_buffer_suspect_checks(const mpscl_command_buffer *cb);
/* The pulls of the host-memory objects the buffer's commands wrote, after those commands. One
 * that fails stops the commit; a commit tried again goes on from it. */
mpscl_status mpscl__command_buffer_pull_hosts(mpscl_command_buffer *cb);

#endif
