/* Matrices and vectors over the caller's host memory: the buffer, and the map/unmap pairs that
 * hand the memory from the host to the device and back.
 *
 * OpenCL defines the contents of a CL_MEM_USE_HOST_PTR buffer's host memory only while it is
 * mapped, and lets the driver keep a device copy the rest of the time. The library keeps the
 * host's memory the authority between command buffers: a map for writing that does not read
 * back (CL_MAP_WRITE_INVALIDATE_REGION) and its unmap hand the host's bytes to the device before
 * the first command that uses them; a map for reading and its unmap, after the last command that
 * writes them, bring the device's bytes home. Where the device works in the host's memory (a CPU,
 * an integrated GPU) the pairs copy nothing. */
#include "config.h"

#include <stdint.h>

#include "internal.h"

mpscl_status
mpscl__host_memory_buffer(mpscl_device *d, void *host, const mpscl__layout *l, const char *fn,
                          cl_mem *out)
{
    size_t es = mpscl_data_type_size(l->type);
    cl_int err;

    *out = NULL;
    if (host == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, "%s: host memory is NULL", fn);
    /* Elements are loaded whole by the kernels and by the host: a pointer that splits one is
     * refused rather than copied behind the caller's back. */
    if ((uintptr_t)host % es != 0)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS,
                           "%s: host memory at %p is not aligned to the element size %zu", fn,
                           host, es);
    *out = clCreateBuffer(d->context, CL_MEM_READ_WRITE | CL_MEM_USE_HOST_PTR,
                          mpscl__layout_extent(l), host, &err);
    if (err != CL_SUCCESS) {
        *out = NULL;
        return mpscl__fail_cl(err, "clCreateBuffer(host memory)");
    }
    return MPSCL_SUCCESS;
}

/* A map of the whole buffer and its unmap, enqueued on q, cb tracking both. Without cb, a map for
 * reading blocks, so that host memory is current on return; its unmap copies nothing and is left
 * to run. A push needs no wait: what comes after it on the in-order queue waits for it. An unmap
 * that fails leaves the mapping to the buffer's release. */
static mpscl_status
map_unmap(cl_command_queue q, mpscl_command_buffer *cb, cl_mem buf, size_t bytes,
          cl_map_flags flags)
{
    cl_bool block = cb == NULL && flags == CL_MAP_READ ? CL_TRUE : CL_FALSE;
    cl_event ev = NULL, *evp = cb != NULL ? &ev : NULL;
    cl_int err;
    void *p = clEnqueueMapBuffer(q, buf, block, flags, 0, bytes, 0, NULL, evp, &err);

    if (err != CL_SUCCESS)
        return mpscl__fail_cl(err, "clEnqueueMapBuffer");
    if (ev != NULL)
        mpscl__command_buffer_track(cb, ev);
    ev = NULL;
    if ((err = clEnqueueUnmapMemObject(q, buf, p, 0, NULL, evp)) != CL_SUCCESS)
        return mpscl__fail_cl(err, "clEnqueueUnmapMemObject");
    if (ev != NULL)
        mpscl__command_buffer_track(cb, ev);
    return MPSCL_SUCCESS;
}

mpscl_status
mpscl__host_memory_push(cl_command_queue q, mpscl_command_buffer *cb, cl_mem buf, size_t bytes)
{
    return map_unmap(q, cb, buf, bytes, CL_MAP_WRITE_INVALIDATE_REGION);
}

mpscl_status
mpscl__host_memory_pull(cl_command_queue q, mpscl_command_buffer *cb, cl_mem buf, size_t bytes)
{
    return map_unmap(q, cb, buf, bytes, CL_MAP_READ);
}
