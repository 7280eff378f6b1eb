/* mpscl-bench: device and end-to-end times of the forward and the gradient over a shape suite,
 * the bytes each moves, and the fraction of the device's own copy bandwidth it reaches, measured
 * in the same run. Speed is measured here, never in tests.
 *
 * Device time: MTLCommandBuffer-style GPU start/end of the command buffer (event profiling).
 * End to end: create command buffer + encode + commit + wait, wall clock, on a command buffer
 * without GPU times (MPSCL_COMMAND_BUFFER_OPTION_NO_GPU_TIMES: what a latency-bound caller
 * uses); "e2e timed" is the same on the default, timed command buffer the device time comes from.
 * Bytes: gradient = x and dy read twice + dx written = 5 N C size (the two-pass model);
 *        forward = x read and y written (+ x read twice more with compute_statistics).
 * --op split: on one device, each mode (default, reproducible), the forward with statistics and
 * the gradient as one encode, then as the split phases with one share (forward: partial
 * statistics, combine, normalise, every round; gradient: partial sums, apply), each in one
 * command buffer; bytes as the one-encode op's, so GB/s compare directly. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpscl/mpscl.h>

#include "tools/bench.h"
#include "tools/tool_util.h"

#define DEFAULT_SHAPES "65536x1024,4096x4096,1048576x64,256x16384,32768x256,1024x1024,128x512"
/* ResNet-50's 53 batch-norm layers at batch 32, channels last (N = 32 H W rows, C channels), as
 * 12 shapes, each with its number of layers. */
#define RESNET50_SHAPES \
    "401408x64*1,100352x64*6,100352x256*4,100352x128*1,25088x128*7,25088x512*5,25088x256*1," \
    "6272x256*11,6272x1024*7,6272x512*1,1568x512*5,1568x2048*4"

static void
usage(FILE *f)
{
    fputs("usage: " PROG " [--device D] [--shapes NxC,...] [--dtype f32|f16|bf16|f64]\n"
          "                   [--neuron NAME[:a:b:c]]\n"
          "                   [--op gradient|forward|both|step|split] [--no-statistics]\n"
          "                   [--iterations K] [--suite resnet50]\n"
          "                   [--csv|--json] [--help] [--version]\n"
          "  shapes may carry a count, NxC*L: L layers of that shape, weighting the totals\n"
          "  printed after the rows (device median x L, summed per op); --suite resnet50 is\n"
          "  ResNet-50's 53 batch-norm layers at batch 32 as 12 such shapes.\n"
          "  defaults: the standard shape suite (" DEFAULT_SHAPES "),\n"
          "  --op gradient, 20 iterations after 3 warm-ups; the forward computes statistics\n"
          "  unless --no-statistics. --op step times a training step end to end: write x and\n"
          "  dy, forward with batch and running statistics, gradient, read dx, dgamma and\n"
          "  dbeta; once with transfers encoded into the step's command buffer, once with\n"
          "  blocking transfers around it. --op split times, in the default and the\n"
          "  reproducible mode, the forward with statistics and the gradient as one encode\n"
          "  and as the split phases with one share (partials, combine, normalise / apply).\n", f);
}

static const tool_info info = {PROG, usage};

/* Copy bandwidth of the device, bytes read + written per second: best of 5 copies of a buffer
 * of up to 1 GiB (at most a quarter of the largest allocation, so two fit). */
static double
copy_bandwidth(mpscl_device *d)
{
    cl_context ctx = mpscl_device_cl_context(d);
    cl_device_id dev = mpscl_device_cl_device_id(d);
    cl_ulong max_alloc = 0;
    size_t size = (size_t)1 << 30;
    double best = 0.0;
    cl_int err;
    cl_command_queue q;
    cl_mem a, b;

    clGetDeviceInfo(dev, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof max_alloc, &max_alloc, NULL);
    if (max_alloc / 4 < size)
        size = (size_t)(max_alloc / 4);
    q = clCreateCommandQueue(ctx, dev, CL_QUEUE_PROFILING_ENABLE, &err);
    if (err != CL_SUCCESS)
        return 0.0;
    a = clCreateBuffer(ctx, CL_MEM_READ_WRITE, size, NULL, &err);
    b = clCreateBuffer(ctx, CL_MEM_READ_WRITE, size, NULL, &err);
    if (a != NULL && b != NULL) {
        cl_uint zero = 0;
        clEnqueueFillBuffer(q, a, &zero, sizeof zero, 0, size, 0, NULL, NULL);
        for (int i = 0; i < 6; i++) {
            cl_event ev;
            cl_ulong t0 = 0, t1 = 0;
            if (clEnqueueCopyBuffer(q, a, b, 0, 0, size, 0, NULL, &ev) != CL_SUCCESS)
                break;
            clWaitForEvents(1, &ev);
            clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL);
            clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL);
            clReleaseEvent(ev);
            if (i > 0 && t1 > t0 && 2.0 * (double)size / ((double)(t1 - t0) * 1e-9) > best)
                best = 2.0 * (double)size / ((double)(t1 - t0) * 1e-9);
        }
    }
    if (a != NULL)
        clReleaseMemObject(a);
    if (b != NULL)
        clReleaseMemObject(b);
    clReleaseCommandQueue(q);
    return best;
}

static void
operands_release(operands *o)
{
    mpscl_matrix_release(o->x);
    mpscl_matrix_release(o->dy);
    mpscl_matrix_release(o->out);
    mpscl_vector_release(o->mean);
    mpscl_vector_release(o->var);
    mpscl_vector_release(o->gamma);
    mpscl_vector_release(o->beta);
    mpscl_vector_release(o->dgamma);
    mpscl_vector_release(o->dbeta);
    mpscl_vector_release(o->part);
    mpscl_vector_release(o->gpart);
    memset(o, 0, sizeof *o);
}

/* v in storage type t at dst (truncating conversions: values only need to be plausible). */
static void
store_value(mpscl_data_type t, unsigned char *dst, float v)
{
    uint32_t u;
    uint16_t h;
    double dv = v;

    memcpy(&u, &v, sizeof u);
    switch (t) {
    case MPSCL_DATA_TYPE_FLOAT16:
        h = (uint16_t)(((u >> 16) & 0x8000u) | ((((u >> 23) & 0xffu) - 112u) << 10) |
                       ((u >> 13) & 0x3ffu));
        memcpy(dst, &h, 2);
        break;
    case MPSCL_DATA_TYPE_BFLOAT16:
        h = (uint16_t)(u >> 16);
        memcpy(dst, &h, 2);
        break;
    case MPSCL_DATA_TYPE_FLOAT64:
        memcpy(dst, &dv, 8);
        break;
    default:
        memcpy(dst, &v, 4);
    }
}

/* Operands with realistic values: x about 1 +- 0.5 (normal numbers in every type); fp32
 * vectors, the common training setup for every data type. */
static int
operands_make(mpscl_device *d, mpscl_data_type t, size_t n, size_t c, operands *o)
{
    size_t es = mpscl_data_type_size(t);
    mpscl_matrix_descriptor md = mpscl_matrix_descriptor_make(
        n, c, mpscl_matrix_descriptor_row_bytes_from_columns(c, t), t);
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make(c, MPSCL_DATA_TYPE_FLOAT32);
    float *row = malloc(c * sizeof(float) * 2);
    unsigned char *host = NULL;
    int ok = 1;

    memset(o, 0, sizeof *o);
    ok = row != NULL;
    ok = ok && !tool_check(mpscl_matrix_create(d, &md, &o->x), "matrix", PROG) &&
         !tool_check(mpscl_matrix_create(d, &md, &o->dy), "matrix", PROG) &&
         !tool_check(mpscl_matrix_create(d, &md, &o->out), "matrix", PROG);
    mpscl_vector **vs[6] = {&o->mean, &o->var, &o->gamma, &o->beta, &o->dgamma, &o->dbeta};
    /* Partials of the largest layout (the reproducible gradient's, docs/DISTRIBUTED.md). */
    mpscl_vector_descriptor pd = mpscl_vector_descriptor_make(4 + 18 * c, MPSCL_DATA_TYPE_FLOAT32);
    for (int i = 0; i < 6 && ok; i++)
        ok = !tool_check(mpscl_vector_create(d, &vd, vs[i]), "vector", PROG);
    ok = ok && !tool_check(mpscl_vector_create(d, &pd, &o->part), "vector", PROG) &&
         !tool_check(mpscl_vector_create(d, &pd, &o->gpart), "vector", PROG);
    /* One host matrix written whole: a pattern is enough, speed does not depend on values. */
    if (ok && (host = malloc(n * c * es)) != NULL) {
        for (size_t i = 0; i < n * c; i++)
            store_value(t, host + i * es,
                        1.0f + (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f);
        ok = !tool_check(mpscl_matrix_write(o->x, host, c * es), "write", PROG) &&
             !tool_check(mpscl_matrix_write(o->dy, host, c * es), "write", PROG);
        for (size_t j = 0; j < c; j++) {
            row[j] = 1.0f;
            row[c + j] = 1.0f / 12.0f;
        }
        ok = ok && !tool_check(mpscl_vector_write(o->mean, row), "write", PROG) &&
             !tool_check(mpscl_vector_write(o->var, row + c), "write", PROG) &&
             !tool_check(mpscl_vector_write(o->gamma, row), "write", PROG) &&
             !tool_check(mpscl_vector_write(o->beta, row + c), "write", PROG);
    } else {
        ok = 0;
    }
    free(host);
    free(row);
    if (!ok)
        operands_release(o);
    return ok ? 0 : 1;
}


/* The forward's split phases with one share: every round's partial and combine, then the
 * normalisation (fwd: statistics off). */
static mpscl_status
encode_forward_split(const kernels *k, mpscl_command_buffer *cb, const operands *o)
{
    size_t rounds = mpscl_matrix_batch_normalization_statistics_rounds(k->fwd);
    mpscl_status s = MPSCL_SUCCESS;

    for (size_t r = 0; r < rounds && s == MPSCL_SUCCESS; r++)
        if ((s = mpscl_matrix_batch_normalization_encode_partial_statistics(
                 k->fwd, cb, r, o->x, r ? o->mean : NULL, o->part)) == MPSCL_SUCCESS)
            s = mpscl_matrix_batch_normalization_encode_combine_statistics(
                k->fwd, cb, r, o->part, 1, o->mean, o->var, NULL, NULL);
    return s != MPSCL_SUCCESS ? s
                              : mpscl_matrix_batch_normalization_encode(k->fwd, cb, o->x, o->mean,
                                                                        o->var, o->gamma, o->beta,
                                                                        o->out);
}

mpscl_status
bench_encode(const kernels *k, int op, mpscl_command_buffer *cb, const operands *o)
{
    mpscl_status s;

    switch (op) {
    case OP_GRADIENT:
        return mpscl_matrix_batch_normalization_gradient_encode(k->grad, cb, o->dy, o->x, o->mean,
                                                                o->var, o->gamma, o->beta, o->out,
                                                                o->dgamma, o->dbeta);
    case OP_FORWARD_SPLIT:
        return encode_forward_split(k, cb, o);
    case OP_GRADIENT_SPLIT:
        s = mpscl_matrix_batch_normalization_gradient_encode_partial_sums(
            k->grad, cb, o->dy, o->x, o->mean, o->var, o->gamma, o->beta, o->gpart);
        return s != MPSCL_SUCCESS
                   ? s
                   : mpscl_matrix_batch_normalization_gradient_encode_apply(
                         k->grad, cb, o->dy, o->x, o->mean, o->var, o->gamma, o->beta, o->gpart,
                         1, o->out, o->dgamma, o->dbeta);
    default:
        return mpscl_matrix_batch_normalization_encode(k->fwd, cb, o->x, o->mean, o->var,
                                                       o->gamma, o->beta, o->out);
    }
}

/* One command buffer with cb_options, created, encoded, committed and waited for: its wall time,
 * and its device time (0 without GPU times). */
static int
run_once(mpscl_device *d, unsigned cb_options, const kernels *k, int op,
         const operands *o, double *wall, double *device)
{
    mpscl_command_buffer *cb = NULL;
    double t0 = tool_now();
    int rc = tool_check(mpscl_command_buffer_create_with_options(d, cb_options, &cb),
                        "command buffer", PROG) ||
             tool_check(bench_encode(k, op, cb, o), "encode", PROG) ||
             tool_check(mpscl_command_buffer_commit(cb), "commit", PROG) ||
             tool_check(mpscl_command_buffer_wait_until_completed(cb), "run", PROG);

    *wall = tool_now() - t0;
    *device = mpscl_command_buffer_gpu_end_time(cb) - mpscl_command_buffer_gpu_start_time(cb);
    mpscl_command_buffer_release(cb);
    return rc;
}

int
bench_measure(mpscl_device *d, const kernels *k, int op, const operands *o, int iterations,
              result *r)
{
    double *dev = calloc((size_t)iterations, sizeof(double));
    double *e2e = calloc((size_t)iterations, sizeof(double));
    double *timed = calloc((size_t)iterations, sizeof(double));
    int rc = 0;

    /* Timed runs, then untimed ones: alternating would switch queues every run, and each switch
     * orders the kernel's scratch across the two queues (an event more), which no caller that
     * sticks to one kind of command buffer pays. */
    for (int i = -3; i < iterations && rc == 0 && dev != NULL && timed != NULL; i++) {
        double wall, device;
        rc = run_once(d, MPSCL_COMMAND_BUFFER_OPTION_NONE, k, op, o, &wall, &device);
        if (i >= 0) {
            dev[i] = device;
            timed[i] = wall;
        }
    }
    for (int i = -3; i < iterations && rc == 0 && e2e != NULL; i++) {
        double wall, none;
        rc = run_once(d, MPSCL_COMMAND_BUFFER_OPTION_NO_GPU_TIMES, k, op, o, &wall, &none);
        if (i >= 0)
            e2e[i] = wall;
    }
    if (dev == NULL || e2e == NULL || timed == NULL) {
        fprintf(stderr, "%s: out of memory for %d timings\n", PROG, iterations);
        rc = 1;
    }
    if (rc == 0) {
        tool_sort(dev, iterations);
        tool_sort(e2e, iterations);
        tool_sort(timed, iterations);
        r->dev_med = dev[iterations / 2];
        r->dev_min = dev[0];
        r->e2e_med = e2e[iterations / 2];
        r->e2e_min = e2e[0];
        r->timed_med = timed[iterations / 2];
    }
    free(dev);
    free(e2e);
    free(timed);
    return rc;
}

void
bench_print_result(const options *opt, const result *r, double copy_bw, int first)
{
    double gbs = r->bytes / r->dev_med * 1e-9;

    if (opt->out == OUT_CSV) {
        if (first)
            printf("op,rows,columns,layers,dtype,neuron,device_median_us,device_min_us,"
                   "e2e_median_us,e2e_min_us,e2e_timed_median_us,bytes,gb_per_s,copy_gb_per_s,"
                   "fraction_of_copy\n");
        printf("%s,%zu,%zu,%zu,%s,%s,%.2f,%.2f,%.2f,%.2f,%.2f,%.0f,%.1f,%.1f,%.3f\n", r->op, r->n,
               r->c, r->layers, opt->dtype_text, opt->neuron_text, r->dev_med * 1e6, r->dev_min * 1e6,
               r->e2e_med * 1e6, r->e2e_min * 1e6, r->timed_med * 1e6, r->bytes, gbs,
               copy_bw * 1e-9, gbs / (copy_bw * 1e-9));
    } else if (opt->out == OUT_JSON) {
        printf("%s  {\"op\": \"%s\", \"rows\": %zu, \"columns\": %zu, \"layers\": %zu, "
               "\"dtype\": \"%s\", "
               "\"neuron\": \"%s\", \"device_median_us\": %.2f, \"device_min_us\": %.2f, "
               "\"e2e_median_us\": %.2f, \"e2e_min_us\": %.2f, \"e2e_timed_median_us\": %.2f, "
               "\"bytes\": %.0f, \"gb_per_s\": %.1f, \"copy_gb_per_s\": %.1f, "
               "\"fraction_of_copy\": %.3f}",
               first ? "" : ",\n", r->op, r->n, r->c, r->layers, opt->dtype_text, opt->neuron_text,
               r->dev_med * 1e6, r->dev_min * 1e6, r->e2e_med * 1e6, r->e2e_min * 1e6,
               r->timed_med * 1e6, r->bytes, gbs, copy_bw * 1e-9, gbs / (copy_bw * 1e-9));
    } else {
        if (first)
            printf("%-16s %-14s %-6s %-10s %12s %12s %12s %12s %12s %9s %7s\n", "op", "shape",
                   "dtype", "neuron", "device med", "device min", "e2e med", "e2e min",
                   "e2e timed", "GB/s", "%copy");
        printf("%-16s %7zux%-6zu %-6s %-10s %9.1f us %9.1f us %9.1f us %9.1f us %9.1f us %9.1f "
               "%6.1f%%\n", r->op, r->n, r->c, opt->dtype_text, opt->neuron_text,
               r->dev_med * 1e6, r->dev_min * 1e6, r->e2e_med * 1e6, r->e2e_min * 1e6,
               r->timed_med * 1e6, gbs, 100.0 * gbs / (copy_bw * 1e-9));
    }
}

/* The weighted totals of the forward and the gradient, where measured, after the rows; in JSON
 * they close the document. CSV has no place for them: a reader sums device_median_us x layers. */
static void
print_totals(const options *opt, const double total[2], size_t layers)
{
    static const char *const names[2] = {"forward", "gradient"};
    const int measured[2] = {opt->forward, opt->gradient};

    if (opt->out == OUT_JSON) {
        printf("\n], \"layers\": %zu", layers);
        for (int g = 0; g < 2; g++)
            if (measured[g])
                printf(", \"%s_total_us\": %.2f", names[g], total[g] * 1e6);
        printf("}\n");
        return;
    }
    if (opt->out == OUT_CSV)
        return;
    for (int g = 0; g < 2; g++)
        if (measured[g])
            printf("%s total over %zu layers (device median x layers): %.1f us\n", names[g],
                   layers, total[g] * 1e6);
}

static int
parse_dtype(const char *text, mpscl_data_type *t)
{
    static const char *const names[] = {"f32", "f16", "bf16", "f64"};
    for (int i = 0; i < 4; i++)
        if (strcmp(text, names[i]) == 0) {
            *t = (mpscl_data_type)i;
            return 0;
        }
    return 1;
}

/* --op's value into o; 0, or 1 for an unknown one. */
static int
parse_op(const char *text, options *o)
{
    if (strcmp(text, "gradient") == 0)
        o->gradient = 1, o->forward = 0;
    else if (strcmp(text, "forward") == 0)
        o->gradient = 0, o->forward = 1;
    else if (strcmp(text, "both") == 0)
        o->gradient = 1, o->forward = 1;
    else if (strcmp(text, "step") == 0)
        o->gradient = 0, o->forward = 0, o->step = 1;
    else if (strcmp(text, "split") == 0)
        o->gradient = 0, o->forward = 0, o->split = 1;
    else
        return 1;
    return 0;
}

/* The options into o; -1 to go on, or the exit status to leave with. */
static int
parse(int argc, char **argv, options *o)
{
    static const struct option opts[] = {
        TOOL_COMMON_OPTIONS,
        {"device", required_argument, NULL, 'd'},
        {"shapes", required_argument, NULL, 's'},
        {"iterations", required_argument, NULL, 'i'},
        {"dtype", required_argument, NULL, 't'},
        {"neuron", required_argument, NULL, 'n'},
        {"op", required_argument, NULL, 'o'},
        {"no-statistics", no_argument, NULL, 'S'},
        {"csv", no_argument, NULL, 'C'},
        {"json", no_argument, NULL, 'J'},
        {"suite", required_argument, NULL, 'u'},
        {NULL, 0, NULL, 0}};
    long v;
    int c, rc;

    memset(o, 0, sizeof *o);
    o->shapes = DEFAULT_SHAPES;
    o->neuron_text = "none";
    o->dtype_text = "f32";
    o->dtype = MPSCL_DATA_TYPE_FLOAT32;
    o->gradient = 1;
    o->iterations = 20;
    o->stats = 1;
    while ((c = tool_next_option(argc, argv, "", opts, &info, &rc)) != -1) {
        switch (c) {
        case 'd': o->device = optarg; break;
        case 's': o->shapes = optarg; break;
        case 'u':
            if (strcmp(optarg, "resnet50") != 0)
                return tool_bad_value(&info, opts, c);
            o->shapes = RESNET50_SHAPES;
            break;
        case 'S': o->stats = 0; break;
        case 'C': o->out = OUT_CSV; break;
        case 'J': o->out = OUT_JSON; break;
        case 'i':
            if (tool_parse_long(optarg, 1, INT32_MAX, &v))
                return tool_bad_value(&info, opts, c);
            o->iterations = (int)v;
            break;
        case 't':
            if (parse_dtype(optarg, &o->dtype))
                return tool_bad_value(&info, opts, c);
            o->dtype_text = optarg;
            break;
        case 'n':
            if (tool_parse_neuron(optarg, &o->neuron, &o->na, &o->nb, &o->nc))
                return tool_bad_value(&info, opts, c);
            o->neuron_text = optarg;
            break;
        case 'o':
            if (parse_op(optarg, o))
                return tool_bad_value(&info, opts, c);
            break;
        default:
            return rc;
        }
    }
    return -1;
}

int
main(int argc, char **argv)
{
    options opt;
    mpscl_device *d;
    kernels k = {NULL, NULL, NULL};
    double bw;
    int rc, first = 1;
    const char *p;
    /* Device medians times layers, per op (forward, gradient), and the layers counted. */
    double total[2] = {0, 0};
    size_t layers_total = 0;

    if ((rc = parse(argc, argv, &opt)) >= 0)
        return rc;
    if (tool_open_device(opt.device, &d, PROG))
        return 1;
    rc = tool_check(mpscl_matrix_batch_normalization_create(d, &k.fwd), "kernel", PROG) ||
         tool_check(mpscl_matrix_batch_normalization_gradient_create(d, &k.grad), "kernel", PROG) ||
         tool_check(mpscl_matrix_batch_normalization_set_compute_statistics(k.fwd, opt.stats), "property", PROG) ||
         tool_check(mpscl_matrix_batch_normalization_copy(k.fwd, NULL, &k.fwd_stats), "kernel", PROG) ||
         tool_check(mpscl_matrix_batch_normalization_set_compute_statistics(k.fwd_stats, 1), "property", PROG) ||
         tool_check(mpscl_matrix_batch_normalization_set_neuron_type(k.fwd, opt.neuron, opt.na, opt.nb, opt.nc), "neuron", PROG) ||
         tool_check(mpscl_matrix_batch_normalization_gradient_set_neuron_type(k.grad, opt.neuron, opt.na, opt.nb, opt.nc), "neuron", PROG);
    bw = copy_bandwidth(d);
    if (opt.out == OUT_TABLE)
        printf("device: %s\ncopy bandwidth: %.1f GB/s (bytes read + written, best of 5 copies)\n",
               mpscl_device_name(d), bw * 1e-9);
    else if (opt.out == OUT_JSON)
        printf("{\"device\": \"%s\", \"copy_gb_per_s\": %.1f, \"results\": [\n",
               mpscl_device_name(d), bw * 1e-9);
    for (p = opt.shapes; rc == 0 && *p != '\0';) {
        size_t n = 0, c = 0, layers = 1;
        operands o;
        int used = 0, more = 0;
        if (sscanf(p, "%zux%zu%n", &n, &c, &used) != 2 || n == 0 || c == 0 ||
            (p[used] == '*' && (sscanf(p + used, "*%zu%n", &layers, &more) != 1 || layers == 0))) {
            fprintf(stderr, PROG ": bad shape list at \"%s\"\n", p);
            rc = 2;
            break;
        }
        p += used + more;
        p += *p == ',';
        layers_total += layers;
        if ((rc = operands_make(d, opt.dtype, n, c, &o)) != 0)
            break;
        for (int g = 0; g < 2 && rc == 0; g++) {
            result r = {.op = g ? "gradient" : "forward", .n = n, .c = c, .layers = layers};
            if ((g && !opt.gradient) || (!g && !opt.forward))
                continue;
            r.bytes = (double)n * (double)c * (double)mpscl_data_type_size(opt.dtype) *
                      (g ? 5.0 : opt.stats ? 4.0 : 2.0);
            if ((rc = bench_measure(d, &k, g, &o, opt.iterations, &r)) == 0) {
                bench_print_result(&opt, &r, bw, first);
                total[g] += r.dev_med * (double)layers;
            }
            first = 0;
        }
        if (rc == 0 && opt.split)
            rc = bench_measure_split(d, &opt, &o, n, c, bw, &first);
        if (rc == 0 && opt.step) {
            double med[2], best[2];
            if ((rc = bench_measure_step(d, &k, &o, opt.iterations, med, best)) == 0)
                bench_print_step(&opt, n, c, med, best, first);
            first = 0;
        }
        operands_release(&o);
    }
    if (rc == 0)
        print_totals(&opt, total, layers_total);
    else if (opt.out == OUT_JSON)
        printf("\n]}\n");
    mpscl_matrix_batch_normalization_release(k.fwd);
    mpscl_matrix_batch_normalization_release(k.fwd_stats);
    mpscl_matrix_batch_normalization_gradient_release(k.grad);
    mpscl_device_release(d);
    return rc;
}
