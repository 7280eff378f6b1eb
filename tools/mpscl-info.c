/* tools/mpscl-info: what mpscl sees. Every OpenCL platform and device with the index that
 * mpscl_device_create_by_index takes and the "P:D" form MPSCL_DEVICE takes, the properties that
 * matter to the kernels, the data types mpscl supports there, and which device
 * mpscl_device_create_default picks and why. Uses the public API plus clGet*Info only. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpscl/mpscl.h>

#include "tools/tool_util.h"

/* cl_khr_icd's "no platform" code: a loader with no ICD installed, i.e. zero platforms. */
#define PLATFORM_NOT_FOUND_KHR (-1001)

/* One device in mpscl's order (platforms, then devices): its flat index is its position. */
typedef struct entry {
    cl_device_id id;
    unsigned platform, device;
} entry;

static void
usage(FILE *f)
{
    fputs("usage: mpscl-info [--help] [--version]\n"
          "Lists the OpenCL platforms and devices mpscl can use, with the index taken by\n"
          "mpscl_device_create_by_index and the MPSCL_DEVICE=P:D form of each, and tells which\n"
          "device mpscl_device_create_default picks. MPSCL_DEVICE may also be \"gpu\", \"cpu\"\n"
          "or part of a device name (any case).\n", f);
}

/* A string property; "?" when the query fails, cut to the buffer when it is longer. */
static const char *
platform_string(cl_platform_id p, cl_platform_info what, char *buf, size_t size)
{
    if (clGetPlatformInfo(p, what, size - 1, buf, NULL) != CL_SUCCESS)
        snprintf(buf, size, "?");
    buf[size - 1] = '\0';
    return buf;
}

static const char *
device_string(cl_device_id d, cl_device_info what, char *buf, size_t size)
{
    size_t need = 0;

    /* Too long for the buffer is an error in OpenCL, not a truncation: fetch and cut. */
    if (clGetDeviceInfo(d, what, size - 1, buf, NULL) == CL_SUCCESS) {
        buf[size - 1] = '\0';
        return buf;
    }
    snprintf(buf, size, "?");
    if (clGetDeviceInfo(d, what, 0, NULL, &need) == CL_SUCCESS && need > 0) {
        char *big = malloc(need);
        if (big != NULL && clGetDeviceInfo(d, what, need, big, NULL) == CL_SUCCESS)
            snprintf(buf, size, "%s", big);
        free(big);
    }
    return buf;
}

static cl_ulong
device_ulong(cl_device_id d, cl_device_info what)
{
    cl_ulong v = 0;

    return clGetDeviceInfo(d, what, sizeof v, &v, NULL) == CL_SUCCESS ? v : 0;
}

static cl_uint
device_uint(cl_device_id d, cl_device_info what)
{
    cl_uint v = 0;

    return clGetDeviceInfo(d, what, sizeof v, &v, NULL) == CL_SUCCESS ? v : 0;
}

static cl_device_type
device_type(cl_device_id d)
{
    cl_device_type t = 0;

    return clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof t, &t, NULL) == CL_SUCCESS ? t : 0;
}

static const char *
type_names(cl_device_type t, char *buf, size_t size)
{
    static const struct { cl_device_type bit; const char *name; } names[] = {
        {CL_DEVICE_TYPE_GPU, "GPU"}, {CL_DEVICE_TYPE_CPU, "CPU"},
        {CL_DEVICE_TYPE_ACCELERATOR, "accelerator"}, {CL_DEVICE_TYPE_CUSTOM, "custom"},
        {CL_DEVICE_TYPE_DEFAULT, "default"},
    };

    buf[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (t & names[i].bit)
            snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", buf[0] ? ", " : "",
                     names[i].name);
    if (buf[0] == '\0')
        snprintf(buf, size, "unknown");
    return buf;
}

/* mpscl's own answer, from a device opened by index exactly as a user would. */
static void
print_data_types(size_t index)
{
    static const struct { mpscl_data_type t; const char *name; } types[] = {
        {MPSCL_DATA_TYPE_FLOAT32, "float32"}, {MPSCL_DATA_TYPE_FLOAT16, "float16"},
        {MPSCL_DATA_TYPE_BFLOAT16, "bfloat16"}, {MPSCL_DATA_TYPE_FLOAT64, "float64"},
    };
    mpscl_device *d = NULL;
    mpscl_status s = mpscl_device_create_by_index(index, &d);
    int any = 0;

    printf("    mpscl data types:   ");
    if (s != MPSCL_SUCCESS) {
        printf("(cannot open: %s: %s)\n", mpscl_status_string(s), mpscl_last_error_message());
        return;
    }
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (mpscl_device_supports_data_type(d, types[i].t)) {
            printf("%s%s", any ? " " : "", types[i].name);
            any = 1;
        }
    printf("%s\n", any ? "" : "none");
    mpscl_device_release(d);
}

static void
print_device(const entry *e, size_t index)
{
    char buf[1024];
    cl_device_id d = e->id;

    printf("  Device %zu (MPSCL_DEVICE=%u:%u): %s\n", index, e->platform, e->device,
           device_string(d, CL_DEVICE_NAME, buf, sizeof buf));
    printf("    type:               %s\n", type_names(device_type(d), buf, sizeof buf));
    printf("    OpenCL version:     %s\n", device_string(d, CL_DEVICE_VERSION, buf, sizeof buf));
    printf("    OpenCL C version:   %s\n",
           device_string(d, CL_DEVICE_OPENCL_C_VERSION, buf, sizeof buf));
    printf("    driver version:     %s\n", device_string(d, CL_DRIVER_VERSION, buf, sizeof buf));
    printf("    compute units:      %u\n", device_uint(d, CL_DEVICE_MAX_COMPUTE_UNITS));
    printf("    global memory:      %llu MiB\n",
           (unsigned long long)(device_ulong(d, CL_DEVICE_GLOBAL_MEM_SIZE) >> 20));
    printf("    local memory:       %llu KiB\n",
           (unsigned long long)(device_ulong(d, CL_DEVICE_LOCAL_MEM_SIZE) >> 10));
    {
        size_t wg = 0;
        if (clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL) != CL_SUCCESS)
            wg = 0;
        printf("    max work-group:     %zu\n", wg);
    }
    print_data_types(index);
}

/* Lists every platform and device into *out (malloc'd, *count entries); 0 on an OpenCL error,
 * reported on stderr. No platform at all is a success with no entries. */
static int
list_devices(entry **out, size_t *count)
{
    cl_uint nplat = 0;
    cl_platform_id *plats;
    entry *all = NULL;
    size_t n = 0;
    cl_int err = clGetPlatformIDs(0, NULL, &nplat);

    *out = NULL;
    *count = 0;
    if (err == PLATFORM_NOT_FOUND_KHR || (err == CL_SUCCESS && nplat == 0)) {
        printf("No OpenCL platform (is an ICD installed, e.g. pocl-opencl-icd?)\n");
        return 1;
    }
    if (err != CL_SUCCESS || (plats = calloc(nplat, sizeof *plats)) == NULL ||
        clGetPlatformIDs(nplat, plats, NULL) != CL_SUCCESS) {
        fprintf(stderr, "mpscl-info: clGetPlatformIDs failed (%d)\n", (int)err);
        return 0;
    }
    for (cl_uint p = 0; p < nplat; p++) {
        char buf[1024];
        cl_uint ndev = 0;
        cl_device_id *ids;
        entry *grown;

        printf("Platform %u: %s\n", p,
               platform_string(plats[p], CL_PLATFORM_NAME, buf, sizeof buf));
        printf("  vendor:  %s\n", platform_string(plats[p], CL_PLATFORM_VENDOR, buf, sizeof buf));
        printf("  version: %s\n", platform_string(plats[p], CL_PLATFORM_VERSION, buf, sizeof buf));
        err = clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &ndev);
        if (err == CL_DEVICE_NOT_FOUND || (err == CL_SUCCESS && ndev == 0)) {
            printf("  (no devices)\n");
            continue;
        }
        ids = calloc(ndev, sizeof *ids);
        grown = realloc(all, (n + ndev) * sizeof *all);
        if (grown != NULL)
            all = grown;
        if (err != CL_SUCCESS || ids == NULL || grown == NULL ||
            (err = clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, ndev, ids, NULL)) != CL_SUCCESS) {
            fprintf(stderr, "mpscl-info: clGetDeviceIDs failed (%d)\n", (int)err);
            free(ids);
            free(all);
            free(plats);
            return 0;
        }
        for (cl_uint i = 0; i < ndev; i++) {
            all[n] = (entry){ids[i], p, i};
            print_device(&all[n], n);
            n++;
        }
        free(ids);
    }
    free(plats);
    *out = all;
    *count = n;
    return 1;
}

int
main(int argc, char **argv)
{
    entry *all;
    size_t count, pick;
    mpscl_device *d = NULL;
    mpscl_status s;
    const char *env = getenv("MPSCL_DEVICE");
    int major, minor, patch, gpu = 0, rc;
    static const struct option options[] = {TOOL_COMMON_OPTIONS, {NULL, 0, NULL, 0}};
    static const tool_info info = {"mpscl-info", usage};

    if (tool_next_option(argc, argv, "", options, &info, &rc) != -1)
        return rc;
    mpscl_version(&major, &minor, &patch);
    printf("mpscl %d.%d.%d\n\n", major, minor, patch);
    if (!list_devices(&all, &count))
        return 1;

    s = mpscl_device_create_default(&d);
    if (s != MPSCL_SUCCESS) {
        fprintf(stderr, "mpscl-info: no default device: %s: %s\n", mpscl_status_string(s),
                mpscl_last_error_message());
        free(all);
        return 1;
    }
    for (pick = 0; pick < count && all[pick].id != mpscl_device_cl_device_id(d); pick++)
        ;
    for (size_t i = 0; i < count; i++)
        gpu |= (device_type(all[i].id) & CL_DEVICE_TYPE_GPU) != 0;
    if (pick < count)
        printf("\nDefault device: %zu (MPSCL_DEVICE=%u:%u): %s\n", pick, all[pick].platform,
               all[pick].device, mpscl_device_name(d));
    else
        printf("\nDefault device: %s\n", mpscl_device_name(d));
    /* The library's rule, restated: the variable when set, else the first GPU, else device 0. */
    if (env != NULL && env[0] != '\0')
        printf("  chosen by: MPSCL_DEVICE=%s\n", env);
    else
        printf("  chosen by: %s\n", gpu ? "first GPU" : "no GPU: first device");
    mpscl_device_release(d);
    free(all);
    return 0;
}
