/* Small helpers the command-line tools share. */
#ifndef MPSCL_TOOL_UTIL_H
#define MPSCL_TOOL_UTIL_H

#include <getopt.h>
#include <stdio.h>

#include <mpscl/mpscl.h>

/* Command-line conventions every tool follows (getopt_long): --help (-h) prints the usage to
 * stdout and exits 0; --version (-V) prints the tool's and the library's version and exits 0;
 * an unknown option, a missing or malformed value, or an argument that is not an option prints
 * a message and the usage to stderr and exits 2 (TOOL_EXIT_USAGE). */
#define TOOL_EXIT_USAGE 2
/* Entries every tool's long option table starts with. */
#define TOOL_COMMON_OPTIONS {"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, 'V'}
/* What tool_next_option returns when the tool should exit with *rc (help, version, an error). */
#define TOOL_OPTION_EXIT (-2)

/* One tool's name and its usage text, printed by the helpers below. */
typedef struct tool_info {
    const char *prog;
    void (*usage)(FILE *f);
} tool_info;

/* getopt_long over argv with "hV" added to shortopts: returns the next option's value, -1 when
 * the options end (and then refuses any argument left over), or TOOL_OPTION_EXIT with *rc set
 * after --help, --version or a usage error, each printed as the conventions say. */
int tool_next_option(int argc, char **argv, const char *shortopts,
                     const struct option *longopts, const tool_info *t, int *rc);
/* Prints "prog: <message>" and the usage to stderr; returns TOOL_EXIT_USAGE. */
int tool_usage_error(const tool_info *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* For option c of longopts whose value optarg was refused: "prog: bad value 'V' for --name"
 * and the usage to stderr; returns TOOL_EXIT_USAGE. */
int tool_bad_value(const tool_info *t, const struct option *longopts, int c);
/* A decimal integer in [lo, hi], the whole text; 0 on success. */
int tool_parse_long(const char *text, long lo, long hi, long *out);
/* A finite float in [lo, hi], the whole text; 0 on success. */
int tool_parse_float(const char *text, float lo, float hi, float *out);

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
