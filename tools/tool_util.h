/* Small helpers the command-line tools share. */
#ifndef MPSCL_TOOL_UTIL_H
#define MPSCL_TOOL_UTIL_H

#include <mpscl/mpscl.h>

/* The device a --device value names: an index of mpscl_device_create_by_index, or any
 * selector of mpscl_device_create_with_selector; NULL: the default device. Prints the library's
 * message on failure. */
int tool_open_device(const char *want, mpscl_device **out, const char *prog);
/* Monotonic wall time in seconds. */
double tool_now(void);
/* Prints "prog: what: status: message" and returns 1 on failure, 0 on success. */
int tool_check(mpscl_status s, const char *what, const char *prog);
/* Sorts n doubles ascending. */
void tool_sort(double *v, int n);
/* A neuron by name, optionally with parameters: "gelu", "relu:0.1", "power:0.5:3:2". */
int tool_parse_neuron(const char *text, mpscl_neuron_type *t, float *a, float *b, float *c);

#endif
