/* mpscl-bench's shared types, and the measurements of whole training steps and of the split
 * phases (bench_phases.c) beside the per-op ones (mpscl-bench.c). */
#ifndef MPSCL_TOOLS_BENCH_H
#define MPSCL_TOOLS_BENCH_H

#include <stddef.h>

#include <mpscl/mpscl.h>

#define PROG "mpscl-bench"

typedef enum { OUT_TABLE, OUT_CSV, OUT_JSON } output_kind;

typedef struct options {
    const char *device, *shapes, *neuron_text, *dtype_text;
    mpscl_data_type dtype;
    int forward, gradient, step, split, iterations, stats;
    output_kind out;
    mpscl_neuron_type neuron;
    float na, nb, nc;
} options;

typedef struct result {
    const char *op;
    size_t n, c, layers;
    double dev_med, dev_min, e2e_med, e2e_min, timed_med, bytes;
} result;

typedef struct operands {
    mpscl_matrix *x, *dy, *out;
    mpscl_vector *mean, *var, *gamma, *beta, *dgamma, *dbeta;
    mpscl_vector *part, *gpart;   /* one share's partials, for either mode */
} operands;

/* What a measured command buffer encodes. */
enum { OP_FORWARD, OP_GRADIENT, OP_FORWARD_SPLIT, OP_GRADIENT_SPLIT };

typedef struct kernels {
    mpscl_matrix_batch_normalization *fwd;
    mpscl_matrix_batch_normalization *fwd_stats;   /* the training step's: statistics on */
    mpscl_matrix_batch_normalization_gradient *grad;
} kernels;

/* Encodes op (OP_*) on o into cb. */
mpscl_status bench_encode(const kernels *k, int op, mpscl_command_buffer *cb, const operands *o);
/* Device and end-to-end times of op (OP_*) over `iterations` runs after 3 warm-ups, into r. */
int bench_measure(mpscl_device *d, const kernels *k, int op, const operands *o, int iterations,
                  result *r);
/* One row of results in the chosen format; `first` prints the header (or opens the list). */
void bench_print_result(const options *opt, const result *r, double copy_bw, int first);
/* A training step end to end, transfers encoded (index 0) and blocking (1): medians and bests. */
int bench_measure_step(mpscl_device *d, const kernels *k, const operands *o, int iterations,
                       double med[2], double best[2]);
void bench_print_step(const options *opt, size_t n, size_t c, const double med[2],
                      const double best[2], int first);
/* --op split on one shape: per mode, the one-encode ops, then their split phases. */
int bench_measure_split(mpscl_device *d, const options *opt, const operands *o, size_t n,
                        size_t c, double bw, int *first);

#endif
