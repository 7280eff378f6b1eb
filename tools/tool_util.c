/* Helpers shared by mpscl-demo and mpscl-bench. */
#include "config.h"

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
