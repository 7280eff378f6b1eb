/* tests/check_device.c: choosing a device (the selector's parser on made-up device lists, then
 * mpscl_device_create_with_selector and MPSCL_DEVICE on the real ones, by index), wrapping a
 * user's context, data-type support, getters and reference counting. */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/device_select.h"
#include "util.h"

/* The first device of the given type over all platforms in the library's enumeration order
 * (platforms, then devices), or NULL when there is none. */
static cl_device_id
first_device_of_type(cl_device_type type)
{
    cl_platform_id plats[16];
    cl_uint nplat = 0;

    if (clGetPlatformIDs(16, plats, &nplat) != CL_SUCCESS)
        return NULL;
    for (cl_uint p = 0; p < nplat && p < 16; p++) {
        cl_device_id ids[64];
        cl_uint n = 0;

        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 64, ids, &n) != CL_SUCCESS)
            continue;
        for (cl_uint i = 0; i < n && i < 64; i++) {
            cl_device_type t = 0;
            ck_assert_int_eq(clGetDeviceInfo(ids[i], CL_DEVICE_TYPE, sizeof t, &t, NULL),
                             CL_SUCCESS);
            if (t & type)
                return ids[i];
        }
    }
    return NULL;
}

/* Tests set MPSCL_DEVICE; with CK_FORK=no they share one process, so each test gets back the
 * value the run started with (which may name the device under test). */
static char *saved_env;
static int had_env;

static void
env_save(void)
{
    const char *v = getenv("MPSCL_DEVICE");

    had_env = v != NULL;
    saved_env = v != NULL ? strdup(v) : NULL;
    ck_assert(!had_env || saved_env != NULL);
}

static void
env_restore(void)
{
    if (had_env)
        ck_assert_int_eq(setenv("MPSCL_DEVICE", saved_env, 1), 0);
    else
        ck_assert_int_eq(unsetenv("MPSCL_DEVICE"), 0);
    free(saved_env);
    saved_env = NULL;
}

static cl_uint
context_refs(cl_context ctx)
{
    cl_uint refs = 0;

    ck_assert_int_eq(clGetContextInfo(ctx, CL_CONTEXT_REFERENCE_COUNT, sizeof refs, &refs, NULL),
                     CL_SUCCESS);
    return refs;
}

/* MPSCL_DEVICE=value must pick `want`, or fail with NO_DEVICE when want is NULL. */
static void
check_env_choice(const char *value, cl_device_id want)
{
    mpscl_device *d = (mpscl_device *)&d;

    ck_assert_int_eq(setenv("MPSCL_DEVICE", value, 1), 0);
    if (want == NULL) {
        ASSERT_STATUS(mpscl_device_create_default(&d), MPSCL_ERROR_NO_DEVICE);
        ck_assert_ptr_null(d);
        ck_assert_msg(strstr(mpscl_last_error_message(), value) != NULL,
                      "message does not quote MPSCL_DEVICE=%s: \"%s\"", value,
                      mpscl_last_error_message());
        return;
    }
    ASSERT_OK(mpscl_device_create_default(&d));
    ck_assert_ptr_nonnull(d);
    ck_assert_msg(mpscl_device_cl_device_id(d) == want, "MPSCL_DEVICE=%s picked %s", value,
                  mpscl_device_name(d));
    mpscl_device_release(d);
}

/* ---- the selector's parser and matcher, without devices ---- */

static mpscl__selector
parse_ok(const char *text)
{
    mpscl__selector sel;
    char why[160] = "untouched";

    ck_assert_msg(mpscl__selector_parse(text, &sel, why, sizeof why) == MPSCL_SUCCESS,
                  "\"%s\" refused: %s", text, why);
    return sel;
}

START_TEST(parse_forms)
{
    mpscl__selector sel;

    /* Empty and blank: the default choice. */
    static const char *const blank[] = {"", " ", "\t", " \t\r\n\v\f "};
    for (size_t i = 0; i < sizeof blank / sizeof blank[0]; i++)
        ck_assert_int_eq(parse_ok(blank[i]).kind, MPSCL__SELECT_DEFAULT);

    /* Types, in any case and with blanks around. */
    static const struct { const char *text; cl_device_type type; } types[] = {
        {"gpu", CL_DEVICE_TYPE_GPU}, {"GPU", CL_DEVICE_TYPE_GPU}, {" Gpu\n", CL_DEVICE_TYPE_GPU},
        {"cpu", CL_DEVICE_TYPE_CPU}, {"CPU", CL_DEVICE_TYPE_CPU}, {"\tcPu ", CL_DEVICE_TYPE_CPU},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        sel = parse_ok(types[i].text);
        ck_assert_int_eq(sel.kind, MPSCL__SELECT_TYPE);
        ck_assert_uint_eq(sel.type, types[i].type);
    }

    /* Index pairs. */
    static const struct { const char *text; cl_uint p, d; } pairs[] = {
        {"0:0", 0, 0}, {"1:2", 1, 2}, {" 3:4 ", 3, 4}, {"007:010", 7, 10},
        {"4294967295:4294967295", 4294967295u, 4294967295u}, {"12:0\n", 12, 0},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        sel = parse_ok(pairs[i].text);
        ck_assert_msg(sel.kind == MPSCL__SELECT_INDEX, "\"%s\": kind %d", pairs[i].text,
                      (int)sel.kind);
        ck_assert_uint_eq(sel.platform, pairs[i].p);
        ck_assert_uint_eq(sel.device, pairs[i].d);
    }

    /* Names: everything else, trimmed, inner blanks and colons kept. */
    static const struct { const char *text, *name; } names[] = {
        {"Xeon", "Xeon"}, {"  h100 80gb ", "h100 80gb"}, {"gfx90a:sramecc+", "gfx90a:sramecc+"},
        {"4090", "4090"}, {"gpus", "gpus"}, {"cpu0", "cpu0"}, {"x1:2", "x1:2"}, {"-haswell", "-haswell"},
        {"g pu", "g pu"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        sel = parse_ok(names[i].text);
        ck_assert_msg(sel.kind == MPSCL__SELECT_NAME, "\"%s\": kind %d", names[i].text,
                      (int)sel.kind);
        ck_assert_uint_eq(sel.name_len, strlen(names[i].name));
        ck_assert_int_eq(strncmp(sel.name, names[i].name, sel.name_len), 0);
    }
}
END_TEST

START_TEST(parse_malformed)
{
    /* Each malformed index pair with a fragment the message must hold. */
    static const struct { const char *text, *says; } bad[] = {
        {"1:", "device index after ':' is missing"},
        {" 1: ", "device index after ':' is missing"},
        {":2", "platform index before ':' is missing"},
        {":", "platform index before ':' is missing"},
        {"1:x", "device index must be a decimal number, found 'x'"},
        {"1: 2", "device index must be a decimal number, found ' '"},
        {"1 :2", "expected ':' after the platform index, found ' '"},
        {"1x:2", "expected ':' after the platform index, found 'x'"},
        {"1:2:3", "unexpected ':' after the device index"},
        {"1:2x", "unexpected 'x' after the device index"},
        {"1:2 3", "unexpected ' ' after the device index"},
        {"-1:0", "platform index must be a decimal number, found '-'"},
        {"+1:0", "platform index must be a decimal number, found '+'"},
        {"0:-1", "device index must be a decimal number, found '-'"},
        {"1:\x01", "found 0x01"},
        {"99999999999999999999:0", "platform index 99999999999999999999 is larger than 4294967295"},
        {"4294967296:0", "platform index 4294967296 is larger than 4294967295"},
        {"0:4294967296", "device index 4294967296 is larger than 4294967295"},
    };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mpscl__selector sel;
        char why[160] = "";

        ck_assert_msg(mpscl__selector_parse(bad[i].text, &sel, why, sizeof why) ==
                      MPSCL_ERROR_INVALID_ARGUMENT, "\"%s\" accepted", bad[i].text);
        ck_assert_msg(strstr(why, bad[i].says) != NULL, "\"%s\": message \"%s\" lacks \"%s\"",
                      bad[i].text, why, bad[i].says);
    }
    /* A short buffer truncates the message, never overruns it. */
    {
        mpscl__selector sel;
        char why[8];

        memset(why, 'z', sizeof why);
        ck_assert_int_eq(mpscl__selector_parse("1:x", &sel, why, 4), MPSCL_ERROR_INVALID_ARGUMENT);
        ck_assert_uint_eq(strlen(why), 3);
        ck_assert_int_eq(why[4], 'z');
    }
}
END_TEST

/* Two platforms: a CPU and an accelerator, then two GPUs; and a third platform whose device
 * answered no query. */
static const mpscl__device_desc made_up[] = {
    {0, 0, CL_DEVICE_TYPE_CPU, "pthread-Intel(R) Xeon(R) Platinum 8480+"},
    {0, 1, CL_DEVICE_TYPE_ACCELERATOR, "Fancy Accelerator"},
    {1, 0, CL_DEVICE_TYPE_GPU | CL_DEVICE_TYPE_DEFAULT, "NVIDIA H100 80GB HBM3"},
    {1, 1, CL_DEVICE_TYPE_GPU, "gfx90a:sramecc+:xnack-"},
    {2, 0, 0, NULL},
};
enum { MADE_UP = sizeof made_up / sizeof made_up[0] };

static size_t
pick(const char *text, const mpscl__device_desc *list, size_t count)
{
    mpscl__selector sel = parse_ok(text);

    return mpscl__selector_match(&sel, list, count);
}

START_TEST(match_made_up_devices)
{
    static const struct { const char *text; size_t want; } cases[] = {
        {"", 2}, {"  ", 2}, {"gpu", 2}, {"GPU", 2}, {"cpu", 0},
        {"0:0", 0}, {"0:1", 1}, {"1:0", 2}, {"1:1", 3}, {"2:0", 4},
        {"0:2", MADE_UP}, {"3:0", MADE_UP}, {"4294967295:0", MADE_UP},
        {"xeon", 0}, {"XEON(r) platinum", 0}, {"8480+", 0}, {"accel", 1}, {"h100", 2},
        {"hbm3", 2}, {"nvidia h100 80gb hbm3", 2}, {"GFX90A:SRAMECC", 3}, {"xnack-", 3},
        {"HBM3 ", 2}, {"e", 0},
        {"no such device", MADE_UP}, {"h100  80gb", MADE_UP}, {"gpus", MADE_UP},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t got = pick(cases[i].text, made_up, MADE_UP);
        ck_assert_msg(got == cases[i].want, "\"%s\" picked %zu, not %zu", cases[i].text, got,
                      cases[i].want);
    }
    /* No GPU: the default is the first device, "gpu" is no match. */
    ck_assert_uint_eq(pick("", made_up, 2), 0);
    ck_assert_uint_eq(pick("gpu", made_up, 2), 2);
    /* A device whose queries failed is skipped, not fatal: the default then takes device 0. */
    ck_assert_uint_eq(pick("", made_up + 4, 1), 0);
    ck_assert_uint_eq(pick("cpu", made_up + 4, 1), 1);
    ck_assert_uint_eq(pick("x", made_up + 4, 1), 1);
    /* An empty list matches nothing, the default included. */
    ck_assert_uint_eq(pick("", made_up, 0), 0);
    ck_assert_uint_eq(pick("0:0", made_up, 0), 0);
}
END_TEST

/* What the matcher reads of the devices: the enumeration asks the driver for nothing more. */
START_TEST(selector_needs)
{
    mpscl__selector sel = parse_ok("");

    ck_assert(mpscl__selector_needs_type(&sel) && !mpscl__selector_needs_name(&sel));
    sel = parse_ok("cpu");
    ck_assert(mpscl__selector_needs_type(&sel) && !mpscl__selector_needs_name(&sel));
    sel = parse_ok("0:1");
    ck_assert(!mpscl__selector_needs_type(&sel) && !mpscl__selector_needs_name(&sel));
    sel = parse_ok("Xeon");
    ck_assert(!mpscl__selector_needs_type(&sel) && mpscl__selector_needs_name(&sel));
}
END_TEST

/* ---- real devices ---- */

/* mpscl_device_create_with_selector(text) must pick `want`, or fail with NO_DEVICE when want is
 * NULL. */
static void
check_selector(const char *text, cl_device_id want)
{
    mpscl_device *d = (mpscl_device *)&d;

    if (want == NULL) {
        ASSERT_STATUS(mpscl_device_create_with_selector(text, &d), MPSCL_ERROR_NO_DEVICE);
        ck_assert_ptr_null(d);
        ck_assert_msg(strstr(mpscl_last_error_message(), "matches no device") != NULL &&
                      strstr(mpscl_last_error_message(), "MPSCL_DEVICE") == NULL,
                      "\"%s\": message \"%s\"", text, mpscl_last_error_message());
        return;
    }
    ASSERT_OK(mpscl_device_create_with_selector(text, &d));
    ck_assert_ptr_nonnull(d);
    ck_assert_msg(mpscl_device_cl_device_id(d) == want, "selector \"%s\" picked %s", text,
                  mpscl_device_name(d));
    mpscl_device_release(d);
}

START_TEST(selector_real_devices)
{
    cl_device_id cpu = first_device_of_type(CL_DEVICE_TYPE_CPU);
    cl_device_id gpu = first_device_of_type(CL_DEVICE_TYPE_GPU);
    cl_device_id first = first_device_of_type(CL_DEVICE_TYPE_ALL);
    cl_device_id mine = mpscl_device_cl_device_id(test_device);
    cl_platform_id plats[16];
    cl_uint nplat = 0;
    char name[256] = "", upper[256], pair[32];

    /* The environment must not steer the API call. */
    ck_assert_int_eq(setenv("MPSCL_DEVICE", "no device has this name", 1), 0);
    check_selector("", gpu != NULL ? gpu : first);
    check_selector(" \t", gpu != NULL ? gpu : first);
    check_selector("cpu", cpu);
    check_selector(" CPU\n", cpu);
    check_selector("gpu", gpu);

    /* Every device by its pair, and device 0 of platform 0 with leading zeros. */
    ck_assert_int_eq(clGetPlatformIDs(16, plats, &nplat), CL_SUCCESS);
    for (cl_uint p = 0; p < nplat && p < 16; p++) {
        cl_device_id ids[64];
        cl_uint n = 0;

        ck_assert_int_eq(clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 64, ids, &n), CL_SUCCESS);
        for (cl_uint i = 0; i < n && i < 64; i++) {
            snprintf(pair, sizeof pair, "%u:%u", p, i);
            check_selector(pair, ids[i]);
        }
        snprintf(pair, sizeof pair, "%u:%u", p, n);
        check_selector(pair, NULL);
    }
    check_selector("00:000", first);
    snprintf(pair, sizeof pair, "%u:0", nplat);
    check_selector(pair, NULL);

    /* The device under test by its whole name in upper case: the first device with that name. */
    ck_assert_int_eq(clGetDeviceInfo(mine, CL_DEVICE_NAME, sizeof name - 1, name, NULL),
                     CL_SUCCESS);
    for (size_t i = 0; i <= strlen(name); i++)
        upper[i] = (char)toupper((unsigned char)name[i]);
    {
        mpscl_device *d = NULL;

        ASSERT_OK(mpscl_device_create_with_selector(upper, &d));
        ck_assert_str_eq(mpscl_device_name(d), name);
        mpscl_device_release(d);
    }
    check_selector("no such device, surely 7f3a", NULL);
}
END_TEST

START_TEST(selector_errors)
{
    static const char *const bad[] = {"1:", ":2", "1:x", "99999999999999999999:0", "0:0:0",
                                      " -1:0 "};
    mpscl_device *d = (mpscl_device *)&d;

    ASSERT_STATUS(mpscl_device_create_with_selector(NULL, &d), MPSCL_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_null(d);
    ck_assert_msg(strstr(mpscl_last_error_message(), "selector is NULL") != NULL, "message: %s",
                  mpscl_last_error_message());
    ASSERT_STATUS(mpscl_device_create_with_selector("cpu", NULL), MPSCL_ERROR_INVALID_ARGUMENT);
    ck_assert_msg(strstr(mpscl_last_error_message(), "out is NULL") != NULL, "message: %s",
                  mpscl_last_error_message());
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char quoted[64];

        snprintf(quoted, sizeof quoted, "\"%s\" is not a valid selector: ", bad[i]);
        d = (mpscl_device *)&d;
        ASSERT_STATUS(mpscl_device_create_with_selector(bad[i], &d),
                      MPSCL_ERROR_INVALID_ARGUMENT);
        ck_assert_ptr_null(d);
        ck_assert_msg(strstr(mpscl_last_error_message(), quoted) != NULL, "message: %s",
                      mpscl_last_error_message());
        /* MPSCL_DEVICE goes through the same parser, and its message says where the string
         * came from. */
        ck_assert_int_eq(setenv("MPSCL_DEVICE", bad[i], 1), 0);
        d = (mpscl_device *)&d;
        ASSERT_STATUS(mpscl_device_create_default(&d), MPSCL_ERROR_INVALID_ARGUMENT);
        ck_assert_ptr_null(d);
        ck_assert_msg(strstr(mpscl_last_error_message(), "MPSCL_DEVICE=") != NULL &&
                      strstr(mpscl_last_error_message(), quoted) != NULL, "message: %s",
                      mpscl_last_error_message());
    }
    /* A success clears the message a failure left. */
    ASSERT_OK(mpscl_device_create_with_selector("0:0", &d));
    ck_assert_str_eq(mpscl_last_error_message(), "");
    mpscl_device_release(d);
}
END_TEST

START_TEST(default_device)
{
    cl_device_id gpu = first_device_of_type(CL_DEVICE_TYPE_GPU);
    cl_device_id first = first_device_of_type(CL_DEVICE_TYPE_ALL);
    mpscl_device *d = NULL;
    cl_device_id ids[4];
    cl_uint n = 0;

    ck_assert_int_eq(unsetenv("MPSCL_DEVICE"), 0);
    ASSERT_OK(mpscl_device_create_default(&d));
    ck_assert_ptr_nonnull(d);
    /* No MPSCL_DEVICE: the first GPU, else the first device. */
    ck_assert_ptr_eq(mpscl_device_cl_device_id(d), gpu != NULL ? gpu : first);
    ck_assert_ptr_nonnull(mpscl_device_name(d));
    ck_assert_str_ne(mpscl_device_name(d), "");
    ck_assert_ptr_nonnull(mpscl_device_cl_platform_id(d));
    /* The context is a real one holding exactly that device. */
    ck_assert_int_eq(clGetContextInfo(mpscl_device_cl_context(d), CL_CONTEXT_DEVICES, sizeof ids,
                                      ids, NULL), CL_SUCCESS);
    ck_assert_int_eq(clGetContextInfo(mpscl_device_cl_context(d), CL_CONTEXT_NUM_DEVICES,
                                      sizeof n, &n, NULL), CL_SUCCESS);
    ck_assert_uint_eq(n, 1);
    ck_assert_ptr_eq(ids[0], mpscl_device_cl_device_id(d));
    /* An empty MPSCL_DEVICE counts as unset. */
    mpscl_device_release(d);
    check_env_choice("", gpu != NULL ? gpu : first);
    check_env_choice(" \t ", gpu != NULL ? gpu : first);
    ASSERT_STATUS(mpscl_device_create_default(NULL), MPSCL_ERROR_INVALID_ARGUMENT);
}
END_TEST

START_TEST(env_cpu_gpu)
{
    /* Asserted against what OpenCL itself reports, so this holds with or without a GPU. */
    check_env_choice("cpu", first_device_of_type(CL_DEVICE_TYPE_CPU));
    check_env_choice("gpu", first_device_of_type(CL_DEVICE_TYPE_GPU));
    check_env_choice(" CPU ", first_device_of_type(CL_DEVICE_TYPE_CPU));
}
END_TEST

START_TEST(env_indices)
{
    cl_platform_id plat;
    cl_device_id dev;

    ck_assert_int_eq(clGetPlatformIDs(1, &plat, NULL), CL_SUCCESS);
    ck_assert_int_eq(clGetDeviceIDs(plat, CL_DEVICE_TYPE_ALL, 1, &dev, NULL), CL_SUCCESS);
    check_env_choice("0:0", dev);
    check_env_choice("999:0", NULL);
    check_env_choice("0:999", NULL);
}
END_TEST

START_TEST(env_name_substring)
{
    char name[256] = "", part[256];
    size_t len, from, n;

    ck_assert_int_eq(clGetDeviceInfo(mpscl_device_cl_device_id(test_device), CL_DEVICE_NAME,
                                     sizeof name - 1, name, NULL), CL_SUCCESS);
    len = strlen(name);
    ck_assert_uint_gt(len, 0);
    /* The middle of the name with every letter's case flipped: matching must ignore case and
     * must not anchor at either end. */
    from = len >= 4 ? len / 4 : 0;
    n = len >= 4 ? len / 2 : len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[from + i];
        part[i] = (char)(isupper(c) ? tolower(c) : toupper(c));
    }
    part[n] = '\0';
    ck_assert_int_eq(setenv("MPSCL_DEVICE", part, 1), 0);
    {
        mpscl_device *d = NULL;
        char got[256] = "";

        ASSERT_OK(mpscl_device_create_default(&d));
        /* Several devices may share the substring; the one picked must contain it. */
        strncpy(got, mpscl_device_name(d), sizeof got - 1);
        for (size_t i = 0; got[i] != '\0'; i++)
            got[i] = (char)tolower((unsigned char)got[i]);
        for (size_t i = 0; part[i] != '\0'; i++)
            part[i] = (char)tolower((unsigned char)part[i]);
        ck_assert_msg(strstr(got, part) != NULL, "picked %s for \"%s\"", got, part);
        mpscl_device_release(d);
    }
    check_env_choice("no such device, surely 7f3a", NULL);
}
END_TEST

START_TEST(count_and_index)
{
    size_t count = 0;
    mpscl_device *d = (mpscl_device *)&d;
    cl_device_id first = first_device_of_type(CL_DEVICE_TYPE_ALL);

    ASSERT_OK(mpscl_device_count(&count));
    ck_assert_uint_ge(count, 1);
    ASSERT_STATUS(mpscl_device_count(NULL), MPSCL_ERROR_INVALID_ARGUMENT);

    ASSERT_OK(mpscl_device_create_by_index(0, &d));
    ck_assert_ptr_eq(mpscl_device_cl_device_id(d), first);
    mpscl_device_release(d);
    ASSERT_OK(mpscl_device_create_by_index(count - 1, &d));
    mpscl_device_release(d);

    d = (mpscl_device *)&d;
    ASSERT_STATUS(mpscl_device_create_by_index(count, &d), MPSCL_ERROR_OUT_OF_RANGE);
    ck_assert_ptr_null(d);
    ck_assert_str_ne(mpscl_last_error_message(), "");
    ASSERT_STATUS(mpscl_device_create_by_index(0, NULL), MPSCL_ERROR_INVALID_ARGUMENT);
}
END_TEST

START_TEST(from_cl_wraps_user_context)
{
    cl_device_id id = mpscl_device_cl_device_id(test_device);
    cl_int err;
    cl_context ctx = clCreateContext(NULL, 1, &id, NULL, NULL, &err);
    mpscl_device *d = NULL;
    mpscl_matrix *m = NULL;
    mpscl_matrix_descriptor desc = mpscl_matrix_descriptor_make(2, 3, 16, MPSCL_DATA_TYPE_FLOAT32);
    float in[6] = {1.5f, -2, 3, 4, 5.25f, -6}, out[6] = {0};
    cl_uint before;

    ck_assert_int_eq(err, CL_SUCCESS);
    before = context_refs(ctx);
    ASSERT_OK(mpscl_device_create_from_cl(ctx, id, &d));
    ck_assert_ptr_eq(mpscl_device_cl_context(d), ctx);
    ck_assert_ptr_eq(mpscl_device_cl_device_id(d), id);
    ck_assert_ptr_eq(mpscl_device_cl_platform_id(d), mpscl_device_cl_platform_id(test_device));
    ck_assert_str_eq(mpscl_device_name(d), mpscl_device_name(test_device));
    ck_assert_uint_eq(context_refs(ctx), before + 1);

    /* Our reference goes first: the device's own must keep the context usable. */
    ck_assert_int_eq(clReleaseContext(ctx), CL_SUCCESS);
    ck_assert_uint_eq(context_refs(ctx), before);
    ASSERT_OK(mpscl_matrix_create(d, &desc, &m));
    ASSERT_OK(mpscl_matrix_write(m, in, sizeof in / 2));
    ASSERT_OK(mpscl_matrix_read(m, out, sizeof out / 2));
    ck_assert_mem_eq(in, out, sizeof in);
    mpscl_matrix_release(m);
    mpscl_device_release(d);
}
END_TEST

START_TEST(from_cl_errors)
{
    cl_device_id id = mpscl_device_cl_device_id(test_device), other = NULL, subs[2] = {0};
    cl_context ctx = mpscl_device_cl_context(test_device);
    mpscl_device *d = (mpscl_device *)&d;
    size_t count = 0;
    cl_uint nsub = 0;

    ASSERT_STATUS(mpscl_device_create_from_cl(NULL, id, &d), MPSCL_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_null(d);
    ck_assert_msg(strstr(mpscl_last_error_message(), "context") != NULL, "message: %s",
                  mpscl_last_error_message());
    d = (mpscl_device *)&d;
    ASSERT_STATUS(mpscl_device_create_from_cl(ctx, NULL, &d), MPSCL_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_null(d);
    ck_assert_msg(strstr(mpscl_last_error_message(), "device") != NULL, "message: %s",
                  mpscl_last_error_message());
    ASSERT_STATUS(mpscl_device_create_from_cl(ctx, id, NULL), MPSCL_ERROR_INVALID_ARGUMENT);

    /* A device outside the context: another root device if there is one, else a sub-device of
     * ours (a distinct cl_device_id the context was not created with). */
    ASSERT_OK(mpscl_device_count(&count));
    if (count >= 2) {
        mpscl_device *second = NULL;
        ASSERT_OK(mpscl_device_create_by_index(mpscl_device_cl_device_id(test_device) ==
                                               first_device_of_type(CL_DEVICE_TYPE_ALL) ? 1 : 0,
                                               &second));
        other = mpscl_device_cl_device_id(second);
        mpscl_device_release(second);   /* root device ids outlive every context */
    } else {
        cl_device_partition_property props[] = {CL_DEVICE_PARTITION_EQUALLY, 1, 0};
        if (clCreateSubDevices(id, props, 2, subs, &nsub) == CL_SUCCESS && nsub > 0)
            other = subs[0];
    }
    if (other != NULL && other != id) {
        d = (mpscl_device *)&d;
        ASSERT_STATUS(mpscl_device_create_from_cl(ctx, other, &d), MPSCL_ERROR_DEVICE_MISMATCH);
        ck_assert_ptr_null(d);
        ck_assert_str_ne(mpscl_last_error_message(), "");
    }
    for (cl_uint i = 0; i < nsub && i < 2; i++)
        ck_assert_int_eq(clReleaseDevice(subs[i]), CL_SUCCESS);
}
END_TEST

START_TEST(data_type_support)
{
    char ext[16384] = "";
    int fp64;

    ck_assert_int_eq(mpscl_device_supports_data_type(test_device, MPSCL_DATA_TYPE_FLOAT32), 1);
    ck_assert_int_eq(mpscl_device_supports_data_type(NULL, MPSCL_DATA_TYPE_FLOAT32), 0);
    ck_assert_int_eq(mpscl_device_supports_data_type(test_device, (mpscl_data_type)99), 0);
    ck_assert_int_eq(mpscl_device_supports_data_type(test_device, (mpscl_data_type)-1), 0);
    /* fp64 may be claimed only where the device has cl_khr_fp64, the extension the kernels
     * enable (tests/check_driver: a device with cl_amd_fp64 alone). */
    ck_assert_int_eq(clGetDeviceInfo(mpscl_device_cl_device_id(test_device), CL_DEVICE_EXTENSIONS,
                                     sizeof ext - 1, ext, NULL), CL_SUCCESS);
    fp64 = strstr(ext, "cl_khr_fp64") != NULL;
    if (!fp64)
        ck_assert_int_eq(mpscl_device_supports_data_type(test_device, MPSCL_DATA_TYPE_FLOAT64),
                         0);
}
END_TEST

START_TEST(null_getters)
{
    ck_assert_ptr_null(mpscl_device_name(NULL));
    ck_assert_ptr_null(mpscl_device_cl_context(NULL));
    ck_assert_ptr_null(mpscl_device_cl_device_id(NULL));
    ck_assert_ptr_null(mpscl_device_cl_platform_id(NULL));
    ck_assert_uint_eq(mpscl_device_programs_built(NULL), 0);
    ck_assert_ptr_null(mpscl_device_retain(NULL));
    mpscl_device_release(NULL);
}
END_TEST

START_TEST(retain_release)
{
    cl_device_id id = mpscl_device_cl_device_id(test_device);
    cl_int err;
    cl_context ctx = clCreateContext(NULL, 1, &id, NULL, NULL, &err);
    mpscl_device *d = NULL;
    cl_uint base;

    /* The wrapped context's reference count shows when the device is really freed. */
    ck_assert_int_eq(err, CL_SUCCESS);
    base = context_refs(ctx);
    ASSERT_OK(mpscl_device_create_from_cl(ctx, id, &d));
    ck_assert_uint_eq(context_refs(ctx), base + 1);
    ck_assert_ptr_eq(mpscl_device_retain(d), d);
    ck_assert_ptr_eq(mpscl_device_retain(d), d);
    mpscl_device_release(d);
    mpscl_device_release(d);
    /* Still alive: usable, and still holding the context. */
    ck_assert_uint_eq(context_refs(ctx), base + 1);
    ck_assert_str_eq(mpscl_device_name(d), mpscl_device_name(test_device));
    ck_assert_uint_eq(mpscl_device_programs_built(d), 0);
    mpscl_device_release(d);
    ck_assert_uint_eq(context_refs(ctx), base);
    ck_assert_int_eq(clReleaseContext(ctx), CL_SUCCESS);
}
END_TEST

static Suite *
device_suite(void)
{
    Suite *s = suite_create("device");
    TCase *tc = tcase_create("core");
    TCase *env = tcase_create("choice");
    TCase *err = tcase_create("errors");
    TCase *parse = tcase_create("selector");

    /* Each test may create several contexts; PoCL makes that slow only under valgrind. */
    tcase_add_test(parse, parse_forms);
    tcase_add_test(parse, parse_malformed);
    tcase_add_test(parse, match_made_up_devices);
    tcase_add_test(parse, selector_needs);
    suite_add_tcase(s, parse);

    tcase_add_checked_fixture(env, env_save, env_restore);
    tcase_add_checked_fixture(env, test_device_setup, test_device_teardown);
    tcase_set_timeout(env, 60);
    tcase_add_test(env, default_device);
    tcase_add_test(env, env_cpu_gpu);
    tcase_add_test(env, env_indices);
    tcase_add_test(env, env_name_substring);
    tcase_add_test(env, count_and_index);
    tcase_add_test(env, selector_real_devices);
    tcase_add_test(env, selector_errors);
    suite_add_tcase(s, env);

    tcase_add_checked_fixture(tc, test_device_setup, test_device_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, from_cl_wraps_user_context);
    tcase_add_test(tc, data_type_support);
    tcase_add_test(tc, retain_release);
    suite_add_tcase(s, tc);

    tcase_add_checked_fixture(err, test_device_setup, test_device_teardown);
    tcase_set_timeout(err, 60);
    tcase_add_test(err, from_cl_errors);
    tcase_add_test(err, null_getters);
    suite_add_tcase(s, err);
    return s;
}

int
main(void)
{
    return test_run_suite(device_suite());
}
