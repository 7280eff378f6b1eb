/* tests/cl_fault.c: the OpenCL interposer behind tests/cl_fault.h. It defines every cl* function
 * libmpscl calls (grep lib/ for 'cl[A-Z][A-Za-z]*(') plus a few it may call soon, each a thin
 * wrapper: count the call if libmpscl made it, fail it if it is the armed one, else forward to
 * the real function found with dlsym(RTLD_NEXT). A cl* call the library makes that is missing
 * here is not counted: keep the list in step with lib/ (check_faults prints the call log). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cl_fault.h"

static atomic_long counted;         /* calls since the last arm */
static atomic_long fail_at;         /* 0: fail nothing */
static atomic_int fail_err;
static atomic_long live;
static _Atomic(const char *) failed_call;
static _Atomic(const char *) call_log[CL_FAULT_LOG];

/* ---- which calls are the library's ---- */

static uintptr_t lib_lo, lib_hi;    /* address range of libmpscl's code and data */
static atomic_int lib_found;        /* 0 unknown, 1 range set, 2 no libmpscl: the executable's */

static int
find_lib(struct dl_phdr_info *info, size_t size, void *data)
{
    int want_exe = *(int *)data;

    (void)size;
    if (want_exe ? info->dlpi_name[0] != '\0' : strstr(info->dlpi_name, "libmpscl") == NULL)
        return 0;
    lib_lo = UINTPTR_MAX;
    lib_hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        if (info->dlpi_addr + ph->p_vaddr < lib_lo)
            lib_lo = info->dlpi_addr + ph->p_vaddr;
        if (info->dlpi_addr + ph->p_vaddr + ph->p_memsz > lib_hi)
            lib_hi = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
    }
    return 1;
}

/* A statically linked libmpscl (--disable-shared) lives in the executable: then every call from
 * the executable counts, and the tests keep their own OpenCL calls out of counted regions. */
static int
from_library(const void *caller)
{
    if (atomic_load(&lib_found) == 0) {
        int want_exe = 0;
        if (dl_iterate_phdr(find_lib, &want_exe) == 0) {
            want_exe = 1;
            dl_iterate_phdr(find_lib, &want_exe);
        }
        atomic_store(&lib_found, 1);
    }
    return (uintptr_t)caller >= lib_lo && (uintptr_t)caller < lib_hi;
}

/* ---- bookkeeping ---- */

/* Counts a call of the library; returns the error to inject, or CL_SUCCESS to forward.
 * *mine tells whether the call was the library's (and so is tracked for leaks). */
static cl_int
enter(const char *name, const void *caller, int *mine)
{
    long n;

    *mine = from_library(caller);
    if (!*mine)
        return CL_SUCCESS;
    n = atomic_fetch_add(&counted, 1) + 1;
    if (n <= CL_FAULT_LOG)
        atomic_store(&call_log[n - 1], name);
    if (n != atomic_load(&fail_at))
        return CL_SUCCESS;
    atomic_store(&failed_call, name);
    return (cl_int)atomic_load(&fail_err);
}

static void
track(int mine, int ok, long delta)
{
    if (mine && ok)
        atomic_fetch_add(&live, delta);
}

static void *
real(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);

    if (p == NULL) {
        fprintf(stderr, "cl_fault: %s not found after the executable: %s\n", name, dlerror());
        abort();
    }
    return p;
}

/* NEXT(f, params): declares fn_, the next definition of f (signature params), looked up once. */
#define NEXT(f, ret, params)                                                                  \
    static _Atomic(void *) next_;                                                             \
    ret (CL_API_CALL *fn_) params = next(#f, &next_)

static void *
next(const char *name, _Atomic(void *) *cache)
{
    void *p = atomic_load(cache);

    if (p == NULL) {
        p = real(name);
        atomic_store(cache, p);
    }
    return p;
}

#define CALLER __builtin_return_address(0)

void
cl_fault_arm(long k, cl_int err)
{
    atomic_store(&fail_at, 0);
    atomic_store(&failed_call, NULL);
    for (size_t i = 0; i < CL_FAULT_LOG; i++)
        atomic_store(&call_log[i], NULL);
    atomic_store(&counted, 0);
    atomic_store(&fail_err, err);
    atomic_store(&fail_at, k);
}

void
cl_fault_disarm(void)
{
    atomic_store(&fail_at, 0);
}

long
cl_fault_calls(void)
{
    return atomic_load(&counted);
}

const char *
cl_fault_call_name(long i)
{
    return i < 1 || i > CL_FAULT_LOG || i > atomic_load(&counted) ? NULL
                                                                  : atomic_load(&call_log[i - 1]);
}

const char *
cl_fault_failed_call(void)
{
    return atomic_load(&failed_call);
}

long
cl_fault_live(void)
{
    return atomic_load(&live);
}

/* ---- the wrappers ---- */

/* Plain calls: fail, or forward. */
#define PLAIN(name, params, args)                                                             \
    cl_int CL_API_CALL name params                                                            \
    {                                                                                         \
        NEXT(name, cl_int, params);                                                           \
        int mine_;                                                                            \
        cl_int e_ = enter(#name, CALLER, &mine_);                                             \
        return e_ != CL_SUCCESS ? e_ : fn_ args;                                              \
    }
/* Retains: a failed one retains nothing. */
#define RETAIN(name, type)                                                                    \
    cl_int CL_API_CALL name(type o)                                                           \
    {                                                                                         \
        NEXT(name, cl_int, (type));                                                           \
        int mine_;                                                                            \
        cl_int e_ = enter(#name, CALLER, &mine_);                                             \
        if (e_ != CL_SUCCESS)                                                                 \
            return e_;                                                                        \
        e_ = fn_(o);                                                                          \
        track(mine_, e_ == CL_SUCCESS, 1);                                                    \
        return e_;                                                                            \
    }
/* Releases: always forwarded (see cl_fault.h), the injected error returned. */
#define RELEASE(name, type)                                                                   \
    cl_int CL_API_CALL name(type o)                                                           \
    {                                                                                         \
        NEXT(name, cl_int, (type));                                                           \
        int mine_;                                                                            \
        cl_int e_ = enter(#name, CALLER, &mine_), r_ = fn_(o);                                \
        track(mine_, r_ == CL_SUCCESS, -1);                                                   \
        return e_ != CL_SUCCESS ? e_ : r_;                                                    \
    }
/* Creations: NULL and *errcode_ret on failure. */
#define CREATE(type, name, params, args)                                                      \
    type CL_API_CALL name params                                                              \
    {                                                                                         \
        NEXT(name, type, params);                                                             \
        int mine_;                                                                            \
        cl_int e_ = enter(#name, CALLER, &mine_);                                             \
        type o_;                                                                              \
        if (e_ != CL_SUCCESS) {                                                               \
            if (errcode_ret != NULL)                                                          \
                *errcode_ret = e_;                                                            \
            return NULL;                                                                      \
        }                                                                                     \
        o_ = fn_ args;                                                                        \
        track(mine_, o_ != NULL, 1);                                                          \
        return o_;                                                                            \
    }
/* Enqueues: an event handed out is an object the library must release. */
#define ENQUEUE(name, params, args)                                                           \
    cl_int CL_API_CALL name params                                                            \
    {                                                                                         \
        NEXT(name, cl_int, params);                                                           \
        int mine_;                                                                            \
        cl_int e_ = enter(#name, CALLER, &mine_);                                             \
        if (e_ != CL_SUCCESS)                                                                 \
            return e_;                                                                        \
        e_ = fn_ args;                                                                        \
        track(mine_, e_ == CL_SUCCESS && event != NULL, 1);                                   \
        return e_;                                                                            \
    }

/* Device queries are logged with the parameter: a few of them only steer a choice. */
static const char *
device_info_name(cl_device_info p)
{
    switch (p) {
    case CL_DEVICE_TYPE: return "clGetDeviceInfo(CL_DEVICE_TYPE)";
    case CL_DEVICE_NAME: return "clGetDeviceInfo(CL_DEVICE_NAME)";
    case CL_DEVICE_EXTENSIONS: return "clGetDeviceInfo(CL_DEVICE_EXTENSIONS)";
    case CL_DEVICE_PLATFORM: return "clGetDeviceInfo(CL_DEVICE_PLATFORM)";
    case CL_DEVICE_MAX_COMPUTE_UNITS: return "clGetDeviceInfo(CL_DEVICE_MAX_COMPUTE_UNITS)";
    case CL_DEVICE_MAX_WORK_GROUP_SIZE: return "clGetDeviceInfo(CL_DEVICE_MAX_WORK_GROUP_SIZE)";
    case CL_DEVICE_LOCAL_MEM_SIZE: return "clGetDeviceInfo(CL_DEVICE_LOCAL_MEM_SIZE)";
    case CL_DEVICE_VENDOR: return "clGetDeviceInfo(CL_DEVICE_VENDOR)";
    case CL_DRIVER_VERSION: return "clGetDeviceInfo(CL_DRIVER_VERSION)";
    case CL_DEVICE_SINGLE_FP_CONFIG: return "clGetDeviceInfo(CL_DEVICE_SINGLE_FP_CONFIG)";
    default: return "clGetDeviceInfo(other)";
    }
}

/* ---- device strings replaced by the test ---- */

static pthread_mutex_t strings_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    cl_device_info param;
    char *value;        /* NULL: a free slot */
} strings[4];

void
cl_fault_device_string(cl_device_info param, const char *value)
{
    char *copy = value != NULL ? strdup(value) : NULL;
    size_t i, slot = sizeof strings / sizeof strings[0];

    if (value != NULL && copy == NULL)
        abort();
    pthread_mutex_lock(&strings_lock);
    for (i = 0; i < sizeof strings / sizeof strings[0]; i++) {
        if (strings[i].value != NULL && strings[i].param == param) {
            free(strings[i].value);
            strings[i].value = NULL;
        }
        if (strings[i].value == NULL && slot == sizeof strings / sizeof strings[0])
            slot = i;
    }
    if (copy != NULL) {
        if (slot == sizeof strings / sizeof strings[0])
            abort();   /* more properties replaced at once than the table holds */
        strings[slot].param = param;
        strings[slot].value = copy;
    }
    pthread_mutex_unlock(&strings_lock);
}

/* Answers a query of a replaced property as clGetDeviceInfo does; 0 when p is not replaced. */
static int
replaced_string(cl_device_info p, size_t size, void *value, size_t *ret, cl_int *err)
{
    int found = 0;

    pthread_mutex_lock(&strings_lock);
    for (size_t i = 0; i < sizeof strings / sizeof strings[0] && !found; i++) {
        size_t n;
        if (strings[i].value == NULL || strings[i].param != p)
            continue;
        found = 1;
        n = strlen(strings[i].value) + 1;
        *err = value != NULL && size < n ? CL_INVALID_VALUE : CL_SUCCESS;
        if (*err == CL_SUCCESS && value != NULL)
            memcpy(value, strings[i].value, n);
        if (*err == CL_SUCCESS && ret != NULL)
            *ret = n;
    }
    pthread_mutex_unlock(&strings_lock);
    return found;
}

cl_int CL_API_CALL
clGetDeviceInfo(cl_device_id d, cl_device_info p, size_t size, void *value, size_t *ret)
{
    NEXT(clGetDeviceInfo, cl_int, (cl_device_id, cl_device_info, size_t, void *, size_t *));
    int mine;
    cl_int e = enter(device_info_name(p), CALLER, &mine);

    if (e != CL_SUCCESS)
        return e;
    if (mine && replaced_string(p, size, value, ret, &e))
        return e;
    return fn_(d, p, size, value, ret);
}

PLAIN(clGetPlatformIDs, (cl_uint n, cl_platform_id *p, cl_uint *np), (n, p, np))
PLAIN(clGetPlatformInfo, (cl_platform_id p, cl_platform_info i, size_t s, void *v, size_t *r),
      (p, i, s, v, r))
PLAIN(clGetDeviceIDs, (cl_platform_id p, cl_device_type t, cl_uint n, cl_device_id *d,
                       cl_uint *nd), (p, t, n, d, nd))
PLAIN(clGetContextInfo, (cl_context c, cl_context_info i, size_t s, void *v, size_t *r),
      (c, i, s, v, r))
PLAIN(clGetCommandQueueInfo, (cl_command_queue q, cl_command_queue_info i, size_t s, void *v,
                              size_t *r), (q, i, s, v, r))
PLAIN(clGetMemObjectInfo, (cl_mem m, cl_mem_info i, size_t s, void *v, size_t *r),
      (m, i, s, v, r))
PLAIN(clGetProgramInfo, (cl_program p, cl_program_info i, size_t s, void *v, size_t *r),
      (p, i, s, v, r))
PLAIN(clGetProgramBuildInfo, (cl_program p, cl_device_id d, cl_program_build_info i, size_t s,
                              void *v, size_t *r), (p, d, i, s, v, r))
PLAIN(clGetKernelWorkGroupInfo, (cl_kernel k, cl_device_id d, cl_kernel_work_group_info i,
                                 size_t s, void *v, size_t *r), (k, d, i, s, v, r))
PLAIN(clGetEventInfo, (cl_event e, cl_event_info i, size_t s, void *v, size_t *r),
      (e, i, s, v, r))
PLAIN(clGetEventProfilingInfo, (cl_event e, cl_profiling_info i, size_t s, void *v, size_t *r),
      (e, i, s, v, r))
PLAIN(clSetKernelArg, (cl_kernel k, cl_uint i, size_t s, const void *v), (k, i, s, v))
PLAIN(clFlush, (cl_command_queue q), (q))
PLAIN(clFinish, (cl_command_queue q), (q))
PLAIN(clWaitForEvents, (cl_uint n, const cl_event *e), (n, e))

RETAIN(clRetainContext, cl_context)
RETAIN(clRetainDevice, cl_device_id)
RETAIN(clRetainCommandQueue, cl_command_queue)
RETAIN(clRetainMemObject, cl_mem)
RETAIN(clRetainProgram, cl_program)
RETAIN(clRetainKernel, cl_kernel)
RETAIN(clRetainEvent, cl_event)
RELEASE(clReleaseContext, cl_context)
RELEASE(clReleaseDevice, cl_device_id)
RELEASE(clReleaseCommandQueue, cl_command_queue)
RELEASE(clReleaseMemObject, cl_mem)
RELEASE(clReleaseKernel, cl_kernel)
RELEASE(clReleaseEvent, cl_event)

CREATE(cl_context, clCreateContext,
       (const cl_context_properties *p, cl_uint n, const cl_device_id *d,
        void (CL_CALLBACK *f)(const char *, const void *, size_t, void *), void *u,
        cl_int *errcode_ret), (p, n, d, f, u, errcode_ret))
CREATE(cl_command_queue, clCreateCommandQueue,
       (cl_context c, cl_device_id d, cl_command_queue_properties p, cl_int *errcode_ret),
       (c, d, p, errcode_ret))
/* The library's buffers made from a host copy, made from words of the corrupting pattern
 * instead while that is set. */
static atomic_int corrupt_copies;
static atomic_uint corrupt_pattern;

void
cl_fault_corrupt_copies(int on, cl_uint pattern)
{
    atomic_store(&corrupt_pattern, pattern);
    atomic_store(&corrupt_copies, on);
}

/* ---- a device with memory of its own ---- */

/* The library's buffers over host memory, made as buffers of their own with a copy of it. */
static atomic_int separate_memory;
static pthread_mutex_t separate_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    cl_mem m;               /* NULL: a free slot */
    char *host;
    cl_map_flags flags;     /* of the mapping in force */
    size_t offset, size;
} separate[64];

void
cl_fault_separate_memory(int on)
{
    atomic_store(&separate_memory, on);
}

/* The slot of m, or of a free one (m NULL). Called with separate_lock held. */
static int
separate_slot(cl_mem m)
{
    for (int i = 0; i < (int)(sizeof separate / sizeof separate[0]); i++)
        if (separate[i].m == m)
            return i;
    return -1;
}

/* A new buffer: it takes the place of any old one at its address. */
static void
separate_note(cl_mem m, void *host)
{
    int i;

    pthread_mutex_lock(&separate_lock);
    if ((i = separate_slot(m)) >= 0)
        separate[i].m = NULL;
    if (host != NULL && (i = separate_slot(NULL)) >= 0) {
        separate[i].m = m;
        separate[i].host = host;
    }
    pthread_mutex_unlock(&separate_lock);
}

/* m's host memory, or NULL; with set, records (or, on unmap, returns) the mapping in force. */
static char *
separate_host(cl_mem m, cl_map_flags *flags, size_t *offset, size_t *size, int set)
{
    char *host = NULL;
    int i;

    pthread_mutex_lock(&separate_lock);
    if (m != NULL && (i = separate_slot(m)) >= 0) {
        host = separate[i].host;
        if (set) {
            separate[i].flags = *flags;
            separate[i].offset = *offset;
            separate[i].size = *size;
        } else {
            *flags = separate[i].flags;
            *offset = separate[i].offset;
            *size = separate[i].size;
        }
    }
    pthread_mutex_unlock(&separate_lock);
    return host;
}

cl_mem CL_API_CALL
clCreateBuffer(cl_context c, cl_mem_flags f, size_t s, void *h, cl_int *errcode_ret)
{
    NEXT(clCreateBuffer, cl_mem, (cl_context, cl_mem_flags, size_t, void *, cl_int *));
    int mine_;
    cl_int e_ = enter("clCreateBuffer", CALLER, &mine_);
    cl_uint *bad = NULL;
    cl_mem o_;
    int use_host;

    if (e_ != CL_SUCCESS) {
        if (errcode_ret != NULL)
            *errcode_ret = e_;
        return NULL;
    }
    if (mine_ && atomic_load(&corrupt_copies) && (f & CL_MEM_COPY_HOST_PTR) && s % 4 == 0 &&
        (bad = malloc(s)) != NULL) {
        for (size_t i = 0; i < s / 4; i++)
            bad[i] = atomic_load(&corrupt_pattern);
        h = bad;
    }
    use_host = mine_ && atomic_load(&separate_memory) && (f & CL_MEM_USE_HOST_PTR);
    if (use_host)
        f = (f & ~(cl_mem_flags)CL_MEM_USE_HOST_PTR) | CL_MEM_COPY_HOST_PTR;
    o_ = fn_(c, f, s, h, errcode_ret);
    free(bad);
    if (o_ != NULL)
        separate_note(o_, use_host ? h : NULL);
    track(mine_, o_ != NULL, 1);
    return o_;
}

/* Over a buffer of separate memory: a map copies the buffer to host memory (unless it discards
 * the region), an unmap of a mapping for writing copies host memory back. */
void *CL_API_CALL
clEnqueueMapBuffer(cl_command_queue q, cl_mem m, cl_bool b, cl_map_flags fl, size_t o, size_t s,
                   cl_uint nw, const cl_event *w, cl_event *event, cl_int *errcode_ret)
{
    NEXT(clEnqueueMapBuffer, void *, (cl_command_queue, cl_mem, cl_bool, cl_map_flags, size_t,
                                      size_t, cl_uint, const cl_event *, cl_event *, cl_int *));
    int mine;
    cl_int e = enter("clEnqueueMapBuffer", CALLER, &mine);
    char *host;
    void *p;

    if (e != CL_SUCCESS) {
        if (errcode_ret != NULL)
            *errcode_ret = e;
        return NULL;
    }
    if (!mine || (host = separate_host(m, &fl, &o, &s, 1)) == NULL) {
        p = fn_(q, m, b, fl, o, s, nw, w, event, &e);
    } else {
        /* These calls come from here, not from the library: counted once, as the map. */
        p = host + o;
        e = (fl & CL_MAP_WRITE_INVALIDATE_REGION)
            ? clEnqueueMarkerWithWaitList(q, nw, w, event)
            : clEnqueueReadBuffer(q, m, b, o, s, p, nw, w, event);
    }
    if (errcode_ret != NULL)
        *errcode_ret = e;
    track(mine, e == CL_SUCCESS && event != NULL, 1);
    return e == CL_SUCCESS ? p : NULL;
}

cl_int CL_API_CALL
clEnqueueUnmapMemObject(cl_command_queue q, cl_mem m, void *p, cl_uint nw, const cl_event *w,
                        cl_event *event)
{
    NEXT(clEnqueueUnmapMemObject, cl_int, (cl_command_queue, cl_mem, void *, cl_uint,
                                           const cl_event *, cl_event *));
    int mine;
    cl_int e = enter("clEnqueueUnmapMemObject", CALLER, &mine);
    cl_map_flags fl = 0;
    size_t o = 0, s = 0;

    if (e != CL_SUCCESS)
        return e;
    if (!mine || separate_host(m, &fl, &o, &s, 0) == NULL)
        e = fn_(q, m, p, nw, w, event);
    else if (fl & (CL_MAP_WRITE | CL_MAP_WRITE_INVALIDATE_REGION))
        e = clEnqueueWriteBuffer(q, m, CL_FALSE, o, s, p, nw, w, event);
    else
        e = clEnqueueMarkerWithWaitList(q, nw, w, event);
    track(mine, e == CL_SUCCESS && event != NULL, 1);
    return e;
}
CREATE(cl_program, clCreateProgramWithSource,
       (cl_context c, cl_uint n, const char **s, const size_t *l, cl_int *errcode_ret),
       (c, n, s, l, errcode_ret))
/* Kernels: the program of each is remembered per thread (cl_fault_kernel_program). */
static _Thread_local cl_program kernel_program;

cl_program
cl_fault_kernel_program(void)
{
    return kernel_program;
}

cl_kernel CL_API_CALL
clCreateKernel(cl_program p, const char *name, cl_int *errcode_ret)
{
    NEXT(clCreateKernel, cl_kernel, (cl_program, const char *, cl_int *));
    int mine;
    cl_int e = enter("clCreateKernel", CALLER, &mine);
    cl_kernel k;

    if (e != CL_SUCCESS) {
        if (errcode_ret != NULL)
            *errcode_ret = e;
        return NULL;
    }
    k = fn_(p, name, errcode_ret);
    track(mine, k != NULL, 1);
    if (mine && k != NULL)
        kernel_program = p;
    return k;
}

ENQUEUE(clEnqueueNDRangeKernel,
        (cl_command_queue q, cl_kernel k, cl_uint dim, const size_t *off, const size_t *g,
         const size_t *l, cl_uint nw, const cl_event *w, cl_event *event),
        (q, k, dim, off, g, l, nw, w, event))
ENQUEUE(clEnqueueMarkerWithWaitList, (cl_command_queue q, cl_uint nw, const cl_event *w,
                                      cl_event *event), (q, nw, w, event))
ENQUEUE(clEnqueueBarrierWithWaitList, (cl_command_queue q, cl_uint nw, const cl_event *w,
                                       cl_event *event), (q, nw, w, event))
ENQUEUE(clEnqueueReadBuffer,
        (cl_command_queue q, cl_mem m, cl_bool b, size_t o, size_t s, void *h, cl_uint nw,
         const cl_event *w, cl_event *event), (q, m, b, o, s, h, nw, w, event))
ENQUEUE(clEnqueueWriteBuffer,
        (cl_command_queue q, cl_mem m, cl_bool b, size_t o, size_t s, const void *h, cl_uint nw,
         const cl_event *w, cl_event *event), (q, m, b, o, s, h, nw, w, event))
ENQUEUE(clEnqueueReadBufferRect,
        (cl_command_queue q, cl_mem m, cl_bool b, const size_t *bo, const size_t *ho,
         const size_t *r, size_t brp, size_t bsp, size_t hrp, size_t hsp, void *h, cl_uint nw,
         const cl_event *w, cl_event *event), (q, m, b, bo, ho, r, brp, bsp, hrp, hsp, h, nw, w,
                                               event))
ENQUEUE(clEnqueueWriteBufferRect,
        (cl_command_queue q, cl_mem m, cl_bool b, const size_t *bo, const size_t *ho,
         const size_t *r, size_t brp, size_t bsp, size_t hrp, size_t hsp, const void *h,
         cl_uint nw, const cl_event *w, cl_event *event), (q, m, b, bo, ho, r, brp, bsp, hrp,
                                                           hsp, h, nw, w, event))
ENQUEUE(clEnqueueFillBuffer,
        (cl_command_queue q, cl_mem m, const void *p, size_t ps, size_t o, size_t s, cl_uint nw,
         const cl_event *w, cl_event *event), (q, m, p, ps, o, s, nw, w, event))

/* Programs made from a binary (the library's disk cache): their builds are logged as
 * "clBuildProgram(binary)", since a failed one only costs a build from source. */
static _Atomic(cl_program) from_binary[64];

static void
binary_mark(cl_program p, int on)
{
    for (size_t i = 0; i < sizeof from_binary / sizeof from_binary[0]; i++) {
        cl_program want = on ? NULL : p;
        if (atomic_compare_exchange_strong(&from_binary[i], &want, on ? p : NULL))
            return;
    }
}

static int
binary_made(cl_program p)
{
    for (size_t i = 0; i < sizeof from_binary / sizeof from_binary[0]; i++)
        if (atomic_load(&from_binary[i]) == p)
            return 1;
    return 0;
}

cl_program CL_API_CALL
clCreateProgramWithBinary(cl_context c, cl_uint n, const cl_device_id *d, const size_t *l,
                          const unsigned char **b, cl_int *st, cl_int *errcode_ret)
{
    NEXT(clCreateProgramWithBinary, cl_program,
         (cl_context, cl_uint, const cl_device_id *, const size_t *, const unsigned char **,
          cl_int *, cl_int *));
    int mine;
    cl_int e = enter("clCreateProgramWithBinary", CALLER, &mine);
    cl_program p;

    if (e != CL_SUCCESS) {
        if (errcode_ret != NULL)
            *errcode_ret = e;
        return NULL;
    }
    p = fn_(c, n, d, l, b, st, errcode_ret);
    track(mine, p != NULL, 1);
    if (p != NULL)
        binary_mark(p, 1);
    return p;
}

/* ---- the build gate (cl_fault_hold_builds) ---- */

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_moved = PTHREAD_COND_INITIALIZER;
static int gate_on, gate_quorum, gate_held, gate_timed_out;
static long gate_timeout_ms;
static unsigned long gate_round;    /* bumped when the gate opens: its waiters go */

/* Opens the gate for the builds held now. Called with gate_lock held. */
static void
gate_open(void)
{
    gate_on = 0;
    gate_round++;
    pthread_cond_broadcast(&gate_moved);
}

void
cl_fault_hold_builds(int quorum, long timeout_ms)
{
    pthread_mutex_lock(&gate_lock);
    gate_on = 1;
    gate_quorum = quorum;
    gate_timeout_ms = timeout_ms;
    gate_timed_out = 0;
    pthread_mutex_unlock(&gate_lock);
}

void
cl_fault_release_builds(void)
{
    pthread_mutex_lock(&gate_lock);
    gate_open();
    pthread_mutex_unlock(&gate_lock);
}

int
cl_fault_builds_held(void)
{
    int n;

    pthread_mutex_lock(&gate_lock);
    n = gate_held;
    pthread_mutex_unlock(&gate_lock);
    return n;
}

int
cl_fault_builds_timed_out(void)
{
    int n;

    pthread_mutex_lock(&gate_lock);
    n = gate_timed_out;
    pthread_mutex_unlock(&gate_lock);
    return n;
}

/* Waits at the gate while it is on: until this round opens or this build's timeout passes. */
static void
gate_pass(void)
{
    struct timespec until;
    unsigned long round;

    pthread_mutex_lock(&gate_lock);
    if (!gate_on) {
        pthread_mutex_unlock(&gate_lock);
        return;
    }
    round = gate_round;
    gate_held++;
    if (gate_quorum > 0 && gate_held >= gate_quorum)
        gate_open();
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += gate_timeout_ms / 1000;
    until.tv_nsec += gate_timeout_ms % 1000 * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (gate_round == round)
        if (pthread_cond_timedwait(&gate_moved, &gate_lock, &until) == ETIMEDOUT) {
            if (gate_round == round)
                gate_timed_out++;
            break;
        }
    gate_held--;
    pthread_mutex_unlock(&gate_lock);
}

cl_int CL_API_CALL
clBuildProgram(cl_program p, cl_uint n, const cl_device_id *d, const char *o,
               void (CL_CALLBACK *f)(cl_program, void *), void *u)
{
    NEXT(clBuildProgram, cl_int,
         (cl_program, cl_uint, const cl_device_id *, const char *,
          void (CL_CALLBACK *)(cl_program, void *), void *));
    int mine, binary = binary_made(p);
    cl_int e = enter(binary ? "clBuildProgram(binary)" : "clBuildProgram", CALLER, &mine);

    if (e != CL_SUCCESS)
        return e;
    if (mine && !binary)
        gate_pass();
    return fn_(p, n, d, o, f, u);
}

cl_int CL_API_CALL
clReleaseProgram(cl_program p)
{
    NEXT(clReleaseProgram, cl_int, (cl_program));
    static _Atomic(void *) info_;
    /* the real query: a call of ours must not count as the library's */
    cl_int (CL_API_CALL *info)(cl_program, cl_program_info, size_t, void *, size_t *) =
        next("clGetProgramInfo", &info_);
    int mine;
    cl_int e = enter("clReleaseProgram", CALLER, &mine), r;
    cl_uint refs = 0;

    /* The last release forgets the handle, which a later program may reuse. */
    if (info(p, CL_PROGRAM_REFERENCE_COUNT, sizeof refs, &refs, NULL) == CL_SUCCESS && refs == 1)
        binary_mark(p, 0);
    r = fn_(p);
    track(mine, r == CL_SUCCESS, -1);
    return e != CL_SUCCESS ? e : r;
}
