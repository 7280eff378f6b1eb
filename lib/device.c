/* mpscl_device: wrapping and describing an OpenCL device. Finding one (enumeration, selectors,
 * indices) lives in device_find.c, programs in program.c. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* A string property of a device, whole and NUL-terminated, malloc'd. The size is asked first:
 * names and extension lists have no length limit. NULL on failure, with the OpenCL error in
 * *err, or CL_SUCCESS there when memory ran out. */
char *
mpscl__device_string(cl_device_id id, cl_device_info param, cl_int *err)
{
    size_t n = 0;
    char *s;

    if ((*err = clGetDeviceInfo(id, param, 0, NULL, &n)) != CL_SUCCESS)
        return NULL;
    if ((s = malloc(n + 1)) == NULL)
        return NULL;
    /* Some drivers refuse a value query of size 0 with a buffer: an empty string needs none. */
    if (n > 0 && (*err = clGetDeviceInfo(id, param, n, s, NULL)) != CL_SUCCESS) {
        free(s);
        return NULL;
    }
    s[n] = '\0';   /* the size counts the terminator; a driver that omits it still ends here */
    return s;
}

/* The properties the library plans with; the name is fatal like the others, since it names the
 * device in every message. */
static mpscl_status
query_properties(mpscl_device *d, cl_device_id id)
{
    cl_int err;

    if ((d->name = mpscl__device_string(id, CL_DEVICE_NAME, &err)) == NULL)
        return err == CL_SUCCESS ? mpscl__fail(MPSCL_ERROR_OUT_OF_HOST_MEMORY, CL_SUCCESS,
                                               "device: out of memory")
                                 : mpscl__fail_cl(err, "clGetDeviceInfo");
    if ((err = clGetDeviceInfo(id, CL_DEVICE_TYPE, sizeof d->type, &d->type, NULL)) != CL_SUCCESS ||
        (err = clGetDeviceInfo(id, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof d->compute_units,
                               &d->compute_units, NULL)) != CL_SUCCESS ||
        (err = clGetDeviceInfo(id, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof d->max_work_group_size,
                               &d->max_work_group_size, NULL)) != CL_SUCCESS ||
        (err = clGetDeviceInfo(id, CL_DEVICE_LOCAL_MEM_SIZE, sizeof d->local_mem_size,
                               &d->local_mem_size, NULL)) != CL_SUCCESS ||
        (err = clGetDeviceInfo(id, CL_DEVICE_VENDOR_ID, sizeof d->vendor_id, &d->vendor_id,
                               NULL)) != CL_SUCCESS ||
        (err = clGetDeviceInfo(id, CL_DEVICE_GLOBAL_MEM_CACHE_SIZE, sizeof d->cache_bytes,
                               &d->cache_bytes, NULL)) != CL_SUCCESS)
        return mpscl__fail_cl(err, "clGetDeviceInfo");
    return MPSCL_SUCCESS;
}

/* Whether the space-separated list names ext itself (not a longer name that starts with it). */
static int
has_extension(const char *list, const char *ext)
{
    size_t n = strlen(ext);

    for (const char *p = list; (p = strstr(p, ext)) != NULL; p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return 1;
    return 0;
}

/* Whether the kernels may use doubles: they enable cl_khr_fp64 and nothing else, so a device
 * with only AMD's older cl_amd_fp64 would fail to compile them. A failed query of the extensions
 * is no fp64, never a failure. */
static int
device_has_fp64(cl_device_id id)
{
    cl_int err;
    char *ext = mpscl__device_string(id, CL_DEVICE_EXTENSIONS, &err);
    int yes = ext != NULL && has_extension(ext, "cl_khr_fp64");

    free(ext);
    /* A test switch: behave as a device without fp64, to exercise the refusal everywhere. */
    if (getenv("MPSCL_DISABLE_FP64") != NULL && getenv("MPSCL_DISABLE_FP64")[0] == '1')
        yes = 0;
    return yes;
}

/* Whether float division and sqrt can be asked to round correctly: OpenCL otherwise allows
 * 2.5 and 3 ulp, and a compiler may pick another approximation for another code shape (a vector
 * width, 1/sqrt fused or not), which the reproducible mode's plan-independent bits cannot allow.
 * A failed query is no, never a failure. */
static int
device_rounds_divide_sqrt(cl_device_id id)
{
    cl_device_fp_config fp = 0;

    return clGetDeviceInfo(id, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL) == CL_SUCCESS &&
           (fp & CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT) != 0;
}

static void
device_free(mpscl_device *d)
{
    free(d->name);
    free(d);
}

mpscl_status
mpscl__device_new(cl_platform_id platform, cl_context context, cl_device_id id,
                  mpscl_device **out)
{
    mpscl_device *d = calloc(1, sizeof *d);
    cl_int err;
    mpscl_status s;

    if (d == NULL)
        return mpscl__fail(MPSCL_ERROR_OUT_OF_HOST_MEMORY, CL_SUCCESS, "device: out of memory");
    if ((s = query_properties(d, id)) != MPSCL_SUCCESS) {
        device_free(d);
        return s;
    }
    d->has_fp64 = device_has_fp64(id);
    d->rounds_divide_sqrt = device_rounds_divide_sqrt(id);
    if (platform == NULL &&
        (err = clGetDeviceInfo(id, CL_DEVICE_PLATFORM, sizeof platform, &platform, NULL)) != CL_SUCCESS) {
        device_free(d);
        return mpscl__fail_cl(err, "clGetDeviceInfo(CL_DEVICE_PLATFORM)");
    }
    if (pthread_mutex_init(&d->lock, NULL) != 0) {
        device_free(d);
        return mpscl__fail(MPSCL_ERROR_OUT_OF_HOST_MEMORY, CL_SUCCESS, "device: mutex init failed");
    }
    atomic_init(&d->refs, 1);
    d->platform = platform;
    d->device = id;
    d->context = context;
    *out = d;
    return MPSCL_SUCCESS;
}

mpscl_status
mpscl_device_create_from_cl(cl_context context, cl_device_id device, mpscl_device **out)
{
    cl_uint ndev = 0;
    cl_device_id *ids = NULL;
    int member = 0;
    cl_int err;
    mpscl_status s;

    if (out == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, "device_create_from_cl: out is NULL");
    *out = NULL;
    mpscl__clear_error();
    if (context == NULL || device == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS,
                           "device_create_from_cl: %s is NULL", context == NULL ? "context" : "device");
    err = clGetContextInfo(context, CL_CONTEXT_NUM_DEVICES, sizeof ndev, &ndev, NULL);
    if (err == CL_SUCCESS && (ids = calloc(ndev + 1, sizeof *ids)) == NULL)
        return mpscl__fail(MPSCL_ERROR_OUT_OF_HOST_MEMORY, CL_SUCCESS, "device: out of memory");
    if (err == CL_SUCCESS)
        err = clGetContextInfo(context, CL_CONTEXT_DEVICES, ndev * sizeof ids[0], ids, NULL);
    if (err != CL_SUCCESS) {
        free(ids);
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, err,
                           "device_create_from_cl: context is not a valid cl_context (%s)",
                           mpscl__cl_error_name(err));
    }
    for (cl_uint i = 0; i < ndev; i++)
        member |= ids[i] == device;
    free(ids);
    if (!member)
        return mpscl__fail(MPSCL_ERROR_DEVICE_MISMATCH, CL_SUCCESS,
                           "device_create_from_cl: device is not one of the context's devices");
    /* Retained before the device exists: a failed retain must not be released later. */
    if ((err = clRetainContext(context)) != CL_SUCCESS)
        return mpscl__fail_cl(err, "clRetainContext");
    if ((err = clRetainDevice(device)) != CL_SUCCESS) {
        mpscl__check_cl(clReleaseContext(context), "clReleaseContext");
        return mpscl__fail_cl(err, "clRetainDevice");
    }
    if ((s = mpscl__device_new(NULL, context, device, out)) != MPSCL_SUCCESS) {
        mpscl__check_cl(clReleaseDevice(device), "clReleaseDevice");
        mpscl__check_cl(clReleaseContext(context), "clReleaseContext");
        return s;
    }
    (*out)->retained_device = 1;
    return MPSCL_SUCCESS;
}

mpscl_device *
mpscl_device_retain(mpscl_device *d)
{
    if (d != NULL)
        atomic_fetch_add_explicit(&d->refs, 1, memory_order_relaxed);
    return d;
}

void
mpscl_device_release(mpscl_device *d)
{
    if (d == NULL || atomic_fetch_sub_explicit(&d->refs, 1, memory_order_acq_rel) != 1)
        return;
    mpscl__device_release_programs(d);
    mpscl__device_release_queues(d);
    mpscl__check_cl(clReleaseContext(d->context), "clReleaseContext");
    if (d->retained_device)
        mpscl__check_cl(clReleaseDevice(d->device), "clReleaseDevice");
    pthread_mutex_destroy(&d->lock);
    device_free(d);
}

const char *
mpscl_device_name(const mpscl_device *d)
{
    return d == NULL ? NULL : d->name;
}

cl_context
mpscl_device_cl_context(const mpscl_device *d)
{
    return d == NULL ? NULL : d->context;
}

cl_device_id
mpscl_device_cl_device_id(const mpscl_device *d)
{
    return d == NULL ? NULL : d->device;
}

cl_platform_id
mpscl_device_cl_platform_id(const mpscl_device *d)
{
    return d == NULL ? NULL : d->platform;
}

int
mpscl_device_supports_data_type(const mpscl_device *d, mpscl_data_type t)
{
    if (d == NULL)
        return 0;
    switch (t) {
    case MPSCL_DATA_TYPE_FLOAT32:
        return 1;
    case MPSCL_DATA_TYPE_FLOAT16:
    case MPSCL_DATA_TYPE_BFLOAT16:
        return 1;   /* storage only: vload_half / bit shifts, fp32 arithmetic, core OpenCL 1.2 */
    case MPSCL_DATA_TYPE_FLOAT64:
        return d->has_fp64;
    }
    return 0;
}

size_t
mpscl_device_programs_built(const mpscl_device *d)
{
    size_t n;

    if (d == NULL)
        return 0;
    pthread_mutex_lock((pthread_mutex_t *)&d->lock);
    n = d->programs_built;
    pthread_mutex_unlock((pthread_mutex_t *)&d->lock);
    return n;
}

size_t
mpscl_device_programs_loaded(const mpscl_device *d)
{
    size_t n;

    if (d == NULL)
        return 0;
    pthread_mutex_lock((pthread_mutex_t *)&d->lock);
    n = d->programs_loaded;
    pthread_mutex_unlock((pthread_mutex_t *)&d->lock);
    return n;
}
