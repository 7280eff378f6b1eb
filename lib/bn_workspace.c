/* The workspace of a batch-normalization kernel object: partial sums (scratch) and the one-launch
 * kernels' counters, reused across encodes, and ordered across the queues that share it. */
#include "config.h"

#include <assert.h>
#include <stdlib.h>

#include "bn_kernel.h"

/* Counters at zero, from a zeroed host copy: no command, so nothing to order. */
static cl_mem
zeroed_counters(cl_context context, size_t words, cl_int *err)
{
    cl_uint *zeros = calloc(words, sizeof *zeros);
    cl_mem m;

    if (zeros == NULL) {
        *err = CL_OUT_OF_HOST_MEMORY;
        return NULL;
    }
    m = clCreateBuffer(context, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, words * sizeof *zeros,
                       zeros, err);
    free(zeros);
    return m;
}

static void
release_mem(cl_mem *m)
{
    if (*m != NULL)
        mpscl__check_cl(clReleaseMemObject(*m), "clReleaseMemObject");
    *m = NULL;
}

/* A new workspace of at least the old sizes and what the plan needs. The old buffers are freed by
 * OpenCL only after the commands using them finish; the new ones have no earlier user. */
static mpscl_status
replace_workspace(mpscl__bn_kernel *k, size_t bytes, size_t words)
{
    cl_mem scratch = NULL, sync = NULL;
    cl_int err = CL_SUCCESS;

    bytes = bytes > k->scratch_bytes ? bytes : k->scratch_bytes;
    words = words > k->sync_words ? words : k->sync_words;
    if (bytes > 0)
        scratch = clCreateBuffer(k->device->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err == CL_SUCCESS && words > 0)
        sync = zeroed_counters(k->device->context, words, &err);
    if (err != CL_SUCCESS) {
        release_mem(&scratch);
        return mpscl__fail_cl(err, "clCreateBuffer(workspace)");
    }
    release_mem(&k->scratch);
    release_mem(&k->sync);
    k->scratch = scratch;
    k->scratch_bytes = bytes;
    k->sync = sync;
    k->sync_words = words;
    return MPSCL_SUCCESS;
}

/* The workspace for the plan, usable on cb's queue once *wait (if set) completes: a new one when
 * the plan needs more of either part, or when a one-launch kernel gave up in it (its counters
 * may not be at zero), else the same one, after its last user on another queue (a marker there
 * completes when that work has; one queue runs in order and needs nothing). */
mpscl_status
mpscl__bn_prepare_workspace(mpscl__bn_kernel *k, mpscl_command_buffer *cb, const mpscl__bn_plan *p,
                            cl_event *wait)
{
    cl_command_queue q = mpscl__command_buffer_queue(cb);
    size_t bytes = p->scratch_bytes, words = p->sync_words;
    cl_int err;
    mpscl_status s;
    int suspect;

    *wait = NULL;
    /* Taken whatever else asks for a new workspace: the new one answers it too. */
    suspect = atomic_exchange(&k->counters_suspect, 0) != 0;
    if (bytes > k->scratch_bytes || words > k->sync_words || suspect) {
        if ((s = replace_workspace(k, bytes, words)) != MPSCL_SUCCESS)
            return s;
    } else if (k->workspace_queue != NULL && k->workspace_queue != q) {
        err = clEnqueueMarkerWithWaitList(k->workspace_queue, 0, NULL, wait);
        if (err == CL_SUCCESS)
            err = clFlush(k->workspace_queue);
        if (err != CL_SUCCESS) {
            if (*wait != NULL)
                mpscl__check_cl(clReleaseEvent(*wait), "clReleaseEvent");
            *wait = NULL;
            return mpscl__fail_cl(err, "clEnqueueMarkerWithWaitList(workspace order)");
        }
    }
    if (k->workspace_queue != q) {
        if ((err = clRetainCommandQueue(q)) != CL_SUCCESS) {
            if (*wait != NULL)
                mpscl__check_cl(clReleaseEvent(*wait), "clReleaseEvent");
            *wait = NULL;
            return mpscl__fail_cl(err, "clRetainCommandQueue");
        }
        if (k->workspace_queue != NULL)
            mpscl__check_cl(clReleaseCommandQueue(k->workspace_queue), "clReleaseCommandQueue");
        k->workspace_queue = q;
    }
    assert(k->scratch_bytes >= bytes && k->sync_words >= words);
    return MPSCL_SUCCESS;
}
