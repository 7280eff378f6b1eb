/* Finding an OpenCL device for mpscl_device: every device of every platform, in order, matched
 * by a selector (device_select.c parses it; MPSCL_DEVICE goes the same way) or by index, then
 * opened in a context of its own and wrapped (device.c). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device_select.h"
#include "internal.h"

/* cl_khr_icd's "no platform" code, returned by loaders that find no ICD. */
#define CL_PLATFORM_NOT_FOUND_KHR_VALUE (-1001)

/* One enumerated device: its platform and id, in platform order then device order. */
typedef struct found_device {
    cl_platform_id platform;
    cl_device_id device;
} found_device;

/* Every device of every platform. *count is 0 (and *out NULL) when no platform exists. */
static mpscl_status
enumerate(found_device **out, size_t *count)
{
    cl_uint nplat = 0;
    cl_platform_id *plats = NULL;
    found_device *all = NULL;
    size_t n = 0;
    mpscl_status s = MPSCL_SUCCESS;
    cl_int err;

    *out = NULL;
    *count = 0;
    err = clGetPlatformIDs(0, NULL, &nplat);
    /* Only "no platform" means none: any other error leaves nplat 0 and must be reported. */
    if (err == CL_PLATFORM_NOT_FOUND_KHR_VALUE || (err == CL_SUCCESS && nplat == 0))
        return MPSCL_SUCCESS;
    if (err != CL_SUCCESS)
        return mpscl__fail_cl(err, "clGetPlatformIDs");
    plats = calloc(nplat, sizeof *plats);
    if (plats == NULL)
        return mpscl__fail(MPSCL_ERROR_OUT_OF_HOST_MEMORY, CL_SUCCESS, "device: out of memory");
    err = clGetPlatformIDs(nplat, plats, NULL);
    if (err != CL_SUCCESS) {
        s = mpscl__fail_cl(err, "clGetPlatformIDs");
        goto done;
    }
    for (cl_uint p = 0; p < nplat; p++) {
        cl_uint ndev = 0;
        found_device *grown;

        err = clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &ndev);
        if (err == CL_DEVICE_NOT_FOUND || (err == CL_SUCCESS && ndev == 0))
            continue;
        if (err != CL_SUCCESS) {
            s = mpscl__fail_cl(err, "clGetDeviceIDs");
            goto done;
        }
        grown = realloc(all, (n + ndev) * sizeof *all);
        cl_device_id *ids = calloc(ndev, sizeof *ids);
        if (grown == NULL || ids == NULL) {
            free(ids);
            if (grown != NULL)
                all = grown;
            s = mpscl__fail(MPSCL_ERROR_OUT_OF_HOST_MEMORY, CL_SUCCESS, "device: out of memory");
            goto done;
        }
        all = grown;
        err = clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, ndev, ids, NULL);
        if (err != CL_SUCCESS) {
            free(ids);
            s = mpscl__fail_cl(err, "clGetDeviceIDs");
            goto done;
        }
        for (cl_uint i = 0; i < ndev; i++) {
            all[n].platform = plats[p];
            all[n].device = ids[i];
            n++;
        }
        free(ids);
    }
done:
    free(plats);
    if (s != MPSCL_SUCCESS) {
        free(all);
        return s;
    }
    *out = all;
    *count = n;
    return MPSCL_SUCCESS;
}

/* The selector's view of every enumerated device, asking the driver only for what the selector
 * reads. A failed type or name query (or no memory for the name) leaves that field empty: the
 * device then matches no type or name, but another device may, so it is not an error. The names
 * are malloc'd, freed by descs_free. */
static mpscl__device_desc *
describe(const found_device *all, size_t count, const mpscl__selector *sel)
{
    mpscl__device_desc *descs = calloc(count, sizeof *descs);
    cl_platform_id prev = NULL;
    cl_uint p = 0, d = 0;

    if (descs == NULL)
        return NULL;
    for (size_t i = 0; i < count; i++) {
        if (i == 0 || all[i].platform != prev) {
            p = i == 0 ? 0 : p + 1;
            d = 0;
            prev = all[i].platform;
        }
        descs[i].platform = p;
        descs[i].device = d++;
        if (mpscl__selector_needs_type(sel) &&
            clGetDeviceInfo(all[i].device, CL_DEVICE_TYPE, sizeof descs[i].type, &descs[i].type,
                            NULL) != CL_SUCCESS)
            descs[i].type = 0;
        if (mpscl__selector_needs_name(sel)) {
            cl_int err;
            descs[i].name = mpscl__device_string(all[i].device, CL_DEVICE_NAME, &err);
        }
    }
    return descs;
}

static void
descs_free(mpscl__device_desc *descs, size_t count)
{
    for (size_t i = 0; descs != NULL && i < count; i++)
        free((char *)descs[i].name);
    free(descs);
}

/* A new context over one enumerated device, wrapped. */
static mpscl_status
device_open(const found_device *f, mpscl_device **out)
{
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)f->platform, 0};
    cl_int err;
    cl_context ctx = clCreateContext(props, 1, &f->device, NULL, NULL, &err);
    mpscl_status s;

    if (err != CL_SUCCESS)
        return mpscl__fail_cl(err, "clCreateContext");
    s = mpscl__device_new(f->platform, ctx, f->device, out);
    if (s != MPSCL_SUCCESS)
        mpscl__check_cl(clReleaseContext(ctx), "clReleaseContext");
    return s;
}

/* The one path from a selector to a device, for the API call and MPSCL_DEVICE alike. what names
 * the caller and the selector's origin in messages, e.g. "device_create_default: MPSCL_DEVICE=". */
static mpscl_status
create_selected(const char *text, const char *what, mpscl_device **out)
{
    mpscl__selector sel;
    mpscl__device_desc *descs;
    found_device *all;
    size_t count, pick;
    char why[160];
    mpscl_status s;

    /* A malformed selector is refused before any OpenCL call, so the answer does not depend
     * on the machine. */
    if (mpscl__selector_parse(text, &sel, why, sizeof why) != MPSCL_SUCCESS)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, "%s\"%s\" is not a valid selector: %s",
                           what, text, why);
    if ((s = enumerate(&all, &count)) != MPSCL_SUCCESS)
        return s;
    if (count == 0)
        return mpscl__fail(MPSCL_ERROR_NO_DEVICE, CL_SUCCESS,
                           "%.*s: no OpenCL platform or device (install an ICD, e.g. pocl-opencl-icd)",
                           (int)strcspn(what, ":"), what);
    if ((descs = describe(all, count, &sel)) == NULL) {
        free(all);
        return mpscl__fail(MPSCL_ERROR_OUT_OF_HOST_MEMORY, CL_SUCCESS, "device: out of memory");
    }
    pick = mpscl__selector_match(&sel, descs, count);
    descs_free(descs, count);
    if (pick == count) {
        free(all);
        return mpscl__fail(MPSCL_ERROR_NO_DEVICE, CL_SUCCESS, "%s\"%s\" matches no device", what,
                           text);
    }
    s = device_open(&all[pick], out);
    free(all);
    return s;
}

mpscl_status
mpscl_device_create_with_selector(const char *selector, mpscl_device **out)
{
    if (out == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS,
                           "device_create_with_selector: out is NULL");
    *out = NULL;
    mpscl__clear_error();
    if (selector == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS,
                           "device_create_with_selector: selector is NULL");
    return create_selected(selector, "device_create_with_selector: selector ", out);
}

mpscl_status
mpscl_device_create_default(mpscl_device **out)
{
    const char *want = getenv("MPSCL_DEVICE");

    if (out == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, "device_create_default: out is NULL");
    *out = NULL;
    mpscl__clear_error();
    return create_selected(want != NULL ? want : "", "device_create_default: MPSCL_DEVICE=", out);
}

mpscl_status
mpscl_device_count(size_t *count)
{
    found_device *all;
    mpscl_status s;

    if (count == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, "device_count: count is NULL");
    mpscl__clear_error();
    if ((s = enumerate(&all, count)) != MPSCL_SUCCESS)
        return s;
    free(all);
    return MPSCL_SUCCESS;
}

mpscl_status
mpscl_device_create_by_index(size_t index, mpscl_device **out)
{
    found_device *all;
    size_t count;
    mpscl_status s;

    if (out == NULL)
        return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, "device_create_by_index: out is NULL");
    *out = NULL;
    mpscl__clear_error();
    if ((s = enumerate(&all, &count)) != MPSCL_SUCCESS)
        return s;
    if (index >= count) {
        free(all);
        return mpscl__fail(count == 0 ? MPSCL_ERROR_NO_DEVICE : MPSCL_ERROR_OUT_OF_RANGE, CL_SUCCESS,
                           "device_create_by_index: index %zu, but there are %zu devices", index, count);
    }
    s = device_open(&all[index], out);
    free(all);
    return s;
}

