/* Programs: built lazily per device, one kept per (kernel family, build options), from the
 * sources embedded in lib/cl_sources.c, or loaded from the disk cache (program_cache.c) that an
 * earlier build stored. The device keeps them until it is released. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct mpscl__program_entry {
    mpscl__program_entry *next;
    mpscl__family family;
    char *options;
    cl_program program;
};

/* Sources of each family, in the order they are concatenated: helpers first, since embedded
 * source has no file system to #include from. */
static const char *const family_files[][6] = {
    [MPSCL__FAMILY_BN_FORWARD] = {"common.clh", "neuron.clh", "split.clh", "bn_forward.cl",
                                  "bn_forward_split.cl", NULL},
    [MPSCL__FAMILY_BN_GRADIENT] = {"common.clh", "neuron.clh", "split.clh", "bn_gradient.cl",
                                   "bn_gradient_split.cl", NULL},
};

static const char *const family_names[] = {
    [MPSCL__FAMILY_BN_FORWARD] = "bn_forward",
    [MPSCL__FAMILY_BN_GRADIENT] = "bn_gradient",
};

static const mpscl__cl_source *
find_source(const char *name)
{
    for (size_t i = 0; i < mpscl__cl_source_count; i++)
        if (strcmp(mpscl__cl_sources[i].name, name) == 0)
            return &mpscl__cl_sources[i];
    return NULL;
}

/* The head of the build log, for the error message. */
static mpscl_status
build_failure(mpscl_device *d, cl_program prog, cl_int err, mpscl__family family,
              const char *options)
{
    char log[384] = "";
    size_t len = 0;

    clGetProgramBuildInfo(prog, d->device, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log, &len);
    if (len >= sizeof log) {
        /* Too long for the buffer: fetch all and keep the head. */
        char *big = malloc(len + 1);
        if (big != NULL && clGetProgramBuildInfo(prog, d->device, CL_PROGRAM_BUILD_LOG, len + 1,
                                                 big, NULL) == CL_SUCCESS) {
            memcpy(log, big, sizeof log - 1);
            log[sizeof log - 1] = '\0';
        }
        free(big);
    }
    return mpscl__fail(MPSCL_ERROR_BUILD_FAILED, err, "building %s with \"%s\" on %s: %s",
                       family_names[family], options, d->name, log);
}

static mpscl_status
build(mpscl_device *d, mpscl__family family, cl_uint n, const char **texts,
      const size_t *lengths, const char *options, cl_program *out)
{
    cl_int err;
    cl_program prog;
    mpscl_status s;

    prog = clCreateProgramWithSource(d->context, n, texts, lengths, &err);
    if (err != CL_SUCCESS)
        return mpscl__fail_cl(err, "clCreateProgramWithSource");
    err = clBuildProgram(prog, 1, &d->device, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        s = err == CL_OUT_OF_HOST_MEMORY ? mpscl__fail_cl(err, "clBuildProgram")
                                         : build_failure(d, prog, err, family, options);
        mpscl__check_cl(clReleaseProgram(prog), "clReleaseProgram");
        return s;
    }
    *out = prog;
    return MPSCL_SUCCESS;
}

/* The program from the disk cache, else from source (then stored for the next process).
 * *loaded says which. */
static mpscl_status
obtain(mpscl_device *d, mpscl__family family, const char *options, cl_program *out, int *loaded)
{
    const char *texts[5];
    size_t lengths[5];
    cl_uint n = 0;
    mpscl__cache_entry *entry;
    mpscl_status s = MPSCL_SUCCESS;

    for (; family_files[family][n] != NULL; n++) {
        const mpscl__cl_source *src = find_source(family_files[family][n]);
        if (src == NULL)
            return mpscl__fail(MPSCL_ERROR_BUILD_FAILED, CL_SUCCESS,
                               "kernel source %s is missing from the library",
                               family_files[family][n]);
        texts[n] = src->text;
        lengths[n] = src->length;
    }
    entry = mpscl__cache_open(d, n, texts, lengths, options);
    *out = mpscl__cache_load(d, entry);
    *loaded = *out != NULL;
    if (*out == NULL && (s = build(d, family, n, texts, lengths, options, out)) == MPSCL_SUCCESS)
        mpscl__cache_store(d, entry, *out);
    mpscl__cache_close(entry);
    return s;
}

/* The entry of (family, options) in d's table, or NULL. Called with d->lock held. */
static mpscl__program_entry *
find_entry(mpscl_device *d, mpscl__family family, const char *options)
{
    mpscl__program_entry *e = d->programs;

    while (e != NULL && (e->family != family || strcmp(e->options, options) != 0))
        e = e->next;
    return e;
}

static void
entry_free(mpscl__program_entry *e)
{
    mpscl__check_cl(clReleaseProgram(e->program), "clReleaseProgram");
    free(e->options);
    free(e);
}

/* The lock covers the table only, never a build or the disk cache: a build takes seconds, and
 * the same lock guards the queues every new command buffer takes. Two threads may then build one
 * program at once; the first to finish adds it, the other releases its own and returns the first
 * one's, so the table holds one program per key and every caller gets the same. */
mpscl_status
mpscl__device_program(mpscl_device *d, mpscl__family family, const char *options, cl_program *out)
{
    mpscl__program_entry *e, *made;
    mpscl_status s;
    int loaded = 0;

    pthread_mutex_lock(&d->lock);
    if ((e = find_entry(d, family, options)) != NULL)
        *out = e->program;
    pthread_mutex_unlock(&d->lock);
    if (e != NULL)
        return MPSCL_SUCCESS;
    made = calloc(1, sizeof *made);
    if (made == NULL || (made->options = strdup(options)) == NULL) {
        free(made);
        return mpscl__fail(MPSCL_ERROR_OUT_OF_HOST_MEMORY, CL_SUCCESS, "program: out of memory");
    }
    if ((s = obtain(d, family, options, &made->program, &loaded)) != MPSCL_SUCCESS) {
        free(made->options);
        free(made);
        return s;
    }
    made->family = family;
    pthread_mutex_lock(&d->lock);
    if ((e = find_entry(d, family, options)) == NULL) {
        e = made;
        made = NULL;
        e->next = d->programs;
        d->programs = e;
        if (loaded)
            d->programs_loaded++;
        else
            d->programs_built++;
    }
    *out = e->program;
    pthread_mutex_unlock(&d->lock);
    if (made != NULL)
        entry_free(made);   /* another thread's build came first */
    return MPSCL_SUCCESS;
}

void
mpscl__device_release_programs(mpscl_device *d)
{
    mpscl__program_entry *e = d->programs, *next;

    for (; e != NULL; e = next) {
        next = e->next;
        entry_free(e);
    }
    d->programs = NULL;
}
