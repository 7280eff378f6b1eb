/* mpscl-bench's measurements of a whole training step (transfers encoded into the step's command
 * buffer against blocking ones) and of the split phases against the one-encode ops. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/bench.h"
#include "tools/tool_util.h"

/* ---- a training step end to end ---- */

/* What a step moves between host and device, beside the operands of operands_make. */
typedef struct step_io {
    mpscl_matrix *y;
    mpscl_vector *run_mean, *run_var;
    unsigned char *x, *dy, *dx;
    float *dgamma, *dbeta;
    size_t row_bytes;
} step_io;

static void
step_io_release(step_io *io)
{
    mpscl_matrix_release(io->y);
    mpscl_vector_release(io->run_mean);
    mpscl_vector_release(io->run_var);
    free(io->x);
    free(io->dy);
    free(io->dx);
    free(io->dgamma);
    free(io->dbeta);
    memset(io, 0, sizeof *io);
}

static int
step_io_make(mpscl_device *d, const operands *o, step_io *io)
{
    mpscl_data_type t = mpscl_matrix_data_type(o->x);
    size_t n = mpscl_matrix_rows(o->x), c = mpscl_matrix_columns(o->x);
    size_t es = mpscl_data_type_size(t);
    mpscl_matrix_descriptor md = mpscl_matrix_descriptor_make(n, c, mpscl_matrix_row_bytes(o->x), t);
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make(c, MPSCL_DATA_TYPE_FLOAT32);
    int ok;

    memset(io, 0, sizeof *io);
    io->row_bytes = c * es;
    io->x = malloc(n * c * es);
    io->dy = malloc(n * c * es);
    io->dx = malloc(n * c * es);
    io->dgamma = calloc(c, sizeof(float));
    io->dbeta = calloc(c, sizeof(float));
    ok = io->x != NULL && io->dy != NULL && io->dx != NULL && io->dgamma != NULL &&
         io->dbeta != NULL;
    ok = ok && !tool_check(mpscl_matrix_create(d, &md, &io->y), "matrix", PROG) &&
         !tool_check(mpscl_vector_create(d, &vd, &io->run_mean), "vector", PROG) &&
         !tool_check(mpscl_vector_create(d, &vd, &io->run_var), "vector", PROG) &&
         !tool_check(mpscl_matrix_read(o->x, io->x, io->row_bytes), "read", PROG) &&
         !tool_check(mpscl_matrix_read(o->dy, io->dy, io->row_bytes), "read", PROG) &&
         !tool_check(mpscl_vector_read(o->gamma, io->dgamma), "read", PROG) &&
         !tool_check(mpscl_vector_write(io->run_mean, io->dgamma), "write", PROG) &&
         !tool_check(mpscl_vector_write(io->run_var, io->dgamma), "write", PROG);
    if (!ok)
        step_io_release(io);
    return ok ? 0 : 1;
}

/* The step's kernels into cb: forward with batch and running statistics, then the gradient. */
static mpscl_status
encode_step_kernels(const kernels *k, mpscl_command_buffer *cb, const operands *o,
                    const step_io *io)
{
    mpscl_status s = mpscl_matrix_batch_normalization_encode_with_running_statistics(
        k->fwd_stats, cb, o->x, o->mean, o->var, o->gamma, o->beta, io->y, io->run_mean,
        io->run_var);
    return s != MPSCL_SUCCESS ? s : bench_encode(k, OP_GRADIENT, cb, o);
}

/* One step, wall clock: transfers encoded into the step's command buffer (one wait), or blocking
 * transfers before and after it. */
static int
step_once(mpscl_device *d, const kernels *k, const operands *o, step_io *io, int encoded,
          double *wall)
{
    mpscl_command_buffer *cb = NULL;
    double t0 = tool_now();
    int rc;

    if (encoded)
        rc = tool_check(mpscl_command_buffer_create_with_options(
                            d, MPSCL_COMMAND_BUFFER_OPTION_NO_GPU_TIMES, &cb), "command buffer", PROG) ||
             tool_check(mpscl_matrix_encode_write(o->x, cb, io->x, io->row_bytes), "write", PROG) ||
             tool_check(mpscl_matrix_encode_write(o->dy, cb, io->dy, io->row_bytes), "write", PROG) ||
             tool_check(encode_step_kernels(k, cb, o, io), "encode", PROG) ||
             tool_check(mpscl_matrix_encode_read(o->out, cb, io->dx, io->row_bytes), "read", PROG) ||
             tool_check(mpscl_vector_encode_read(o->dgamma, cb, io->dgamma), "read", PROG) ||
             tool_check(mpscl_vector_encode_read(o->dbeta, cb, io->dbeta), "read", PROG) ||
             tool_check(mpscl_command_buffer_commit(cb), "commit", PROG) ||
             tool_check(mpscl_command_buffer_wait_until_completed(cb), "run", PROG);
    else
        rc = tool_check(mpscl_matrix_write(o->x, io->x, io->row_bytes), "write", PROG) ||
             tool_check(mpscl_matrix_write(o->dy, io->dy, io->row_bytes), "write", PROG) ||
             tool_check(mpscl_command_buffer_create_with_options(
                            d, MPSCL_COMMAND_BUFFER_OPTION_NO_GPU_TIMES, &cb), "command buffer", PROG) ||
             tool_check(encode_step_kernels(k, cb, o, io), "encode", PROG) ||
             tool_check(mpscl_command_buffer_commit(cb), "commit", PROG) ||
             tool_check(mpscl_command_buffer_wait_until_completed(cb), "run", PROG) ||
             tool_check(mpscl_matrix_read(o->out, io->dx, io->row_bytes), "read", PROG) ||
             tool_check(mpscl_vector_read(o->dgamma, io->dgamma), "read", PROG) ||
             tool_check(mpscl_vector_read(o->dbeta, io->dbeta), "read", PROG);
    *wall = tool_now() - t0;
    mpscl_command_buffer_release(cb);
    return rc;
}

/* Median and best step times, encoded and blocking, run in alternating blocks of ten so that a
 * change in machine load falls on both. */
int
bench_measure_step(mpscl_device *d, const kernels *k, const operands *o, int iterations,
                   double med[2], double best[2])
{
    double *t[2] = {calloc((size_t)iterations, sizeof(double)),
                    calloc((size_t)iterations, sizeof(double))};
    step_io io;
    int rc = t[0] == NULL || t[1] == NULL || step_io_make(d, o, &io);

    for (int i = 0; i < 3 && rc == 0; i++)
        for (int e = 0; e < 2 && rc == 0; e++)
            rc = step_once(d, k, o, &io, e, &(double){0});
    for (int block = 0; block < iterations && rc == 0; block += 10)
        for (int e = 0; e < 2 && rc == 0; e++)
            for (int i = block; i < iterations && i < block + 10 && rc == 0; i++)
                rc = step_once(d, k, o, &io, e, &t[e][i]);
    for (int e = 0; e < 2 && rc == 0; e++) {
        tool_sort(t[e], iterations);
        med[e] = t[e][iterations / 2];
        best[e] = t[e][0];
    }
    if (t[0] != NULL && t[1] != NULL)
        step_io_release(&io);
    free(t[0]);
    free(t[1]);
    return rc;
}

void
bench_print_step(const options *opt, size_t n, size_t c, const double med[2],
                 const double best[2], int first)
{
    /* [0] blocking, [1] encoded */
    if (opt->out == OUT_CSV) {
        if (first)
            printf("op,rows,columns,dtype,encoded_median_us,encoded_min_us,blocking_median_us,"
                   "blocking_min_us,speedup\n");
        printf("step,%zu,%zu,%s,%.2f,%.2f,%.2f,%.2f,%.2f\n", n, c, opt->dtype_text, med[1] * 1e6,
               best[1] * 1e6, med[0] * 1e6, best[0] * 1e6, med[0] / med[1]);
    } else if (opt->out == OUT_JSON) {
        printf("%s  {\"op\": \"step\", \"rows\": %zu, \"columns\": %zu, \"dtype\": \"%s\", "
               "\"encoded_median_us\": %.2f, \"encoded_min_us\": %.2f, "
               "\"blocking_median_us\": %.2f, \"blocking_min_us\": %.2f, \"speedup\": %.2f}",
               first ? "" : ",\n", n, c, opt->dtype_text, med[1] * 1e6, best[1] * 1e6,
               med[0] * 1e6, best[0] * 1e6, med[0] / med[1]);
    } else {
        if (first)
            printf("%-9s %-14s %-6s %14s %14s %14s %14s %8s\n", "op", "shape", "dtype",
                   "encoded med", "encoded min", "blocking med", "blocking min", "speedup");
        printf("%-9s %7zux%-6zu %-6s %11.1f us %11.1f us %11.1f us %11.1f us %7.2fx\n", "step", n,
               c, opt->dtype_text, med[1] * 1e6, best[1] * 1e6, med[0] * 1e6, best[0] * 1e6,
               med[0] / med[1]);
    }
}

/* --op split on one shape: per mode, the one-encode forward (statistics on) and gradient, then
 * their split phases with one share. */
int
bench_measure_split(mpscl_device *d, const options *opt, const operands *o, size_t n,
                    size_t c, double bw, int *first)
{
    static const char *const names[2][4] = {
        {"forward", "gradient", "fwd-split", "grad-split"},
        {"fwd-repro", "grad-repro", "fwd-split-repro", "grad-split-repro"},
    };
    double unit = (double)n * (double)c * (double)mpscl_data_type_size(opt->dtype);
    int rc = 0;

    if (opt->dtype == MPSCL_DATA_TYPE_FLOAT64) {
        fprintf(stderr, PROG ": --op split: the split phases take f32, f16 and bf16 data\n");
        return 2;
    }
    for (int mode = 0; mode < 2 && rc == 0; mode++) {
        kernels whole = {NULL, NULL, NULL}, split = {NULL, NULL, NULL};
        rc = tool_check(mpscl_matrix_batch_normalization_create(d, &split.fwd), "kernel", PROG) ||
             tool_check(mpscl_matrix_batch_normalization_set_reproducible(split.fwd, mode),
                        "property", PROG) ||
             tool_check(mpscl_matrix_batch_normalization_set_neuron_type(split.fwd, opt->neuron,
                                                                         opt->na, opt->nb,
                                                                         opt->nc), "neuron", PROG) ||
             tool_check(mpscl_matrix_batch_normalization_copy(split.fwd, NULL, &whole.fwd),
                        "kernel", PROG) ||
             tool_check(mpscl_matrix_batch_normalization_set_compute_statistics(whole.fwd, 1),
                        "property", PROG) ||
             tool_check(mpscl_matrix_batch_normalization_gradient_create(d, &split.grad),
                        "kernel", PROG) ||
             tool_check(mpscl_matrix_batch_normalization_gradient_set_reproducible(split.grad,
                                                                                  mode),
                        "property", PROG) ||
             tool_check(mpscl_matrix_batch_normalization_gradient_set_neuron_type(
                            split.grad, opt->neuron, opt->na, opt->nb, opt->nc), "neuron", PROG);
        whole.grad = split.grad;
        for (int op = 0; op < 4 && rc == 0; op++) {
            result r = {.op = names[mode][op], .n = n, .c = c, .layers = 1};
            r.bytes = unit * (op % 2 ? 5.0 : 4.0);
            if ((rc = bench_measure(d, op < 2 ? &whole : &split, op, o, opt->iterations, &r)) == 0)
                bench_print_result(opt, &r, bw, *first);
            *first = 0;
        }
        mpscl_matrix_batch_normalization_release(split.fwd);
        mpscl_matrix_batch_normalization_release(whole.fwd);
        mpscl_matrix_batch_normalization_gradient_release(split.grad);
    }
    return rc;
}
