/* Helpers the tools share: option parsing with one set of conventions, device choice, timing,
 * neuron names. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tool_util.h"

int
tool_check(mpscl_status s, const char *what, const char *prog)
{
    if (s == MPSCL_SUCCESS)
        return 0;
    fprintf(stderr, "%s: %s: %s: %s\n", prog, what, mpscl_status_string(s),
            mpscl_last_error_message());
    return 1;
}

int
tool_open_device(const char *want, mpscl_device **out, const char *prog)
{
    char *end;
    unsigned long idx;

    if (want == NULL)
        return tool_check(mpscl_device_create_default(out), "default device", prog);
    idx = strtoul(want, &end, 10);
    if (*want != '\0' && *end == '\0')
        return tool_check(mpscl_device_create_by_index(idx, out), "device by index", prog);
    return tool_check(mpscl_device_create_with_selector(want, out), "device", prog);
}

double
tool_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void
tool_sort(double *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double s = v[j];
            v[j] = v[j - 1];
            v[j - 1] = s;
        }
}

int
tool_parse_neuron(const char *text, mpscl_neuron_type *t, float *a, float *b, float *c)
{
    static const char *const names[] = {"none", "relu", "linear", "sigmoid", "hard_sigmoid",
                                        "tanh", "absolute", "soft_plus", "soft_sign", "elu",
                                        "prelu", "relun", "power", "exponential", "logarithm",
                                        "gelu"};
    /* Parameters that make each type its usual self when none are given. */
    static const float defaults[][3] = {{0, 0, 0}, {0, 0, 0}, {1, 0, 0}, {0, 0, 0}, {0.2f, 0.5f, 0},
                                        {1, 1, 0}, {0, 0, 0}, {1, 1, 0}, {0, 0, 0}, {1, 0, 0},
                                        {0, 0, 0}, {0, 6, 0}, {1, 0, 1}, {1, 0, -1}, {1, 0, -1},
                                        {0, 0, 0}};
    size_t len = strcspn(text, ":");
    float p[3];

    for (int i = 0; i < 16; i++) {
        if (strlen(names[i]) != len || strncmp(names[i], text, len) != 0)
            continue;
        memcpy(p, defaults[i], sizeof p);
        for (int k = 0; k < 3 && text[len] == ':'; k++) {
            char *end;
            text += len + 1;
            p[k] = strtof(text, &end);
            len = (size_t)(end - text);
        }
        *t = (mpscl_neuron_type)i;
        *a = p[0];
        *b = p[1];
        *c = p[2];
        return 0;
    }
    return 1;
}

int
tool_usage_error(const tool_info *t, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", t->prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    t->usage(stderr);
    return TOOL_EXIT_USAGE;
}

int
tool_bad_value(const tool_info *t, const struct option *longopts, int c)
{
    const char *name = "?";

    for (const struct option *o = longopts; o->name != NULL; o++)
        if (o->flag == NULL && o->val == c)
            name = o->name;
    return tool_usage_error(t, "bad value '%s' for --%s", optarg, name);
}

static void
print_version(const tool_info *t)
{
    int major, minor, patch;

    mpscl_version(&major, &minor, &patch);
    printf("%s (mpscl) %s\nlibmpscl %d.%d.%d\n", t->prog, PACKAGE_VERSION, major, minor, patch);
}

int
tool_next_option(int argc, char **argv, const char *shortopts, const struct option *longopts,
                 const tool_info *t, int *rc)
{
    char opts[64];
    int c;

    /* ':' first: a missing value is ':' rather than '?', and getopt prints nothing itself, so
     * every message names the tool the same way. */
    snprintf(opts, sizeof opts, ":hV%s", shortopts);
    opterr = 0;
    c = getopt_long(argc, argv, opts, longopts, NULL);
    switch (c) {
    case -1:
        if (optind < argc) {
            *rc = tool_usage_error(t, "unexpected argument '%s'", argv[optind]);
            return TOOL_OPTION_EXIT;
        }
        return -1;
    case 'h':
        t->usage(stdout);
        *rc = 0;
        return TOOL_OPTION_EXIT;
    case 'V':
        print_version(t);
        *rc = 0;
        return TOOL_OPTION_EXIT;
    case ':':
        *rc = tool_usage_error(t, "option '%s' needs a value", argv[optind - 1]);
        return TOOL_OPTION_EXIT;
    case '?':
        if (optopt != 0)
            *rc = tool_usage_error(t, "unknown option '-%c'", optopt);
        else
            *rc = tool_usage_error(t, "unknown option '%s'", argv[optind - 1]);
        return TOOL_OPTION_EXIT;
    default:
        return c;
    }
}

int
tool_parse_long(const char *text, long lo, long hi, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || errno != 0 || v < lo || v > hi)
        return 1;
    *out = v;
    return 0;
}

int
tool_parse_float(const char *text, float lo, float hi, float *out)
{
    char *end;
    float v;

    errno = 0;
    v = strtof(text, &end);
    if (*text == '\0' || *end != '\0' || errno != 0 || !isfinite(v) || v < lo || v > hi)
        return 1;
    *out = v;
    return 0;
}
