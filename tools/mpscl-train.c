/* mpscl-train: a small classifier trained on the device, one command buffer and one wait per
 * step. The network is x -> x W1 -> batch norm with a ReLU neuron -> W2 -> softmax; the batch
 * norm is mpscl's forward (batch statistics, running statistics updated) and gradient, the rest
 * are plain OpenCL kernels of this program enqueued on the command buffer's own queue, and the
 * batch goes in and the losses come out through transfers encoded into the same buffer. After
 * training, the held-out set is classified in inference mode: the forward with the running
 * statistics as its mean and variance.
 *
 * The data are synthetic: CLASSES clusters in FEATURES dimensions, drawn from a fixed seed. The
 * program fails (exit status 1) when the loss did not fall to a quarter of where it started or
 * the held-out accuracy is below 90 %: `make check` runs it. */
#include "config.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpscl/mpscl.h>

#include "tools/tool_util.h"

#define PROG "mpscl-train"

enum { FEATURES = 16, CLASSES = 4, TRAIN = 2048, TEST = 512 };

/* Naive kernels: this program shows the batch norm in a training loop, the multiplies only
 * have to be right. Matrices are row-major with a row stride in elements; ta/tb read A or B
 * transposed. */
static const char kernel_source[] =
    "__kernel void matmul(uint m, uint n, uint k, __global const float *a, uint lda, uint ta,\n"
    "                     __global const float *b, uint ldb, uint tb, __global float *c, uint ldc)\n"
    "{\n"
    "    uint i = get_global_id(0), j = get_global_id(1);\n"
    "    float s = 0.0f;\n"
    "    if (i >= m || j >= n) return;\n"
    "    for (uint p = 0; p < k; p++)\n"
    "        s += (ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? b[j * ldb + p] : b[p * ldb + j]);\n"
    "    c[i * ldc + j] = s;\n"
    "}\n"
    /* Per row: the loss -log p[label] and dlogits = (p - onehot) / rows. */
    "__kernel void softmax_xent(uint rows, uint classes, __global const float *logits, uint ld,\n"
    "                           __global const float *labels, __global float *dlogits,\n"
    "                           __global float *loss)\n"
    "{\n"
    "    uint i = get_global_id(0), label;\n"
    "    float mx, sum = 0.0f;\n"
    "    if (i >= rows) return;\n"
    "    label = (uint)labels[i];\n"
    "    mx = logits[i * ld];\n"
    "    for (uint j = 1; j < classes; j++) mx = fmax(mx, logits[i * ld + j]);\n"
    "    for (uint j = 0; j < classes; j++) sum += exp(logits[i * ld + j] - mx);\n"
    "    for (uint j = 0; j < classes; j++) {\n"
    "        float p = exp(logits[i * ld + j] - mx) / sum;\n"
    "        dlogits[i * ld + j] = (p - (j == label ? 1.0f : 0.0f)) / (float)rows;\n"
    "    }\n"
    "    loss[i] = log(sum) - (logits[i * ld + label] - mx);\n"
    "}\n"
    "__kernel void sgd(uint rows, uint cols, uint ld, __global float *w, __global const float *g,\n"
    "                  float rate)\n"
    "{\n"
    "    uint i = get_global_id(0), j = get_global_id(1);\n"
    "    if (i < rows && j < cols) w[i * ld + j] -= rate * g[i * ld + j];\n"
    "}\n";

typedef struct options {
    const char *device;
    int steps, batch, hidden, quiet;
    float rate, momentum;
} options;

/* A row-major fp32 matrix of mpscl, with its stride in elements for the naive kernels. */
typedef struct mat {
    mpscl_matrix *m;
    cl_mem buf;
    cl_uint rows, cols, ld;
} mat;

typedef struct net {
    mpscl_device *d;
    cl_program program;
    cl_kernel matmul, softmax_xent, sgd;
    mpscl_matrix_batch_normalization *bn;
    mpscl_matrix_batch_normalization_gradient *bn_grad;
    /* batch activations */
    mat x, h, y, logits, dlogits, dy, dh;
    mpscl_vector *labels, *loss;
    /* parameters and their gradients; a vector's buffer holds its elements packed */
    mat w1, w2, dw1, dw2;
    mpscl_vector *gamma, *beta, *dgamma, *dbeta, *mean, *var, *run_mean, *run_var;
} net;

static void
usage(FILE *f)
{
    fputs("usage: " PROG " [--device D] [--steps S] [--batch N] [--hidden H] [--rate R]\n"
          "                   [--momentum M] [--quiet] [--help] [--version]\n"
          "  defaults: 300 steps of 128 rows (at most 512), 64 hidden features, learning rate\n"
          "  0.5, running-statistics momentum 0.1.\n", f);
}

static const tool_info info = {PROG, usage};

/* The options into o; -1 to go on, or the exit status to leave with. */
static int
parse(int argc, char **argv, options *o)
{
    static const struct option opts[] = {
        TOOL_COMMON_OPTIONS,
        {"device", required_argument, NULL, 'd'},
        {"steps", required_argument, NULL, 's'},
        {"batch", required_argument, NULL, 'b'},
        {"hidden", required_argument, NULL, 'H'},
        {"rate", required_argument, NULL, 'r'},
        {"momentum", required_argument, NULL, 'm'},
        {"quiet", no_argument, NULL, 'q'},
        {NULL, 0, NULL, 0}};
    long v = 0;
    int c, rc, bad;

    *o = (options){NULL, 300, 128, 64, 0, 0.5f, 0.1f};
    while ((c = tool_next_option(argc, argv, "", opts, &info, &rc)) != -1) {
        switch (c) {
        case 'd': o->device = optarg; bad = 0; break;
        case 'q': o->quiet = 1; bad = 0; break;
        case 's': bad = tool_parse_long(optarg, 1, INT32_MAX, &v); o->steps = (int)v; break;
        case 'b': bad = tool_parse_long(optarg, 1, TEST, &v); o->batch = (int)v; break;
        case 'H': bad = tool_parse_long(optarg, 1, INT32_MAX, &v); o->hidden = (int)v; break;
        case 'r': bad = tool_parse_float(optarg, FLT_MIN, FLT_MAX, &o->rate); break;
        case 'm': bad = tool_parse_float(optarg, 0.0f, 1.0f, &o->momentum); break;
        default: return rc;
        }
        if (bad)
            return tool_bad_value(&info, opts, c);
    }
    return -1;
}

/* ---- data ---- */

static float
uniform(uint64_t *s)
{
    *s = *s * 6364136223846793005u + 1442695040888963407u;
    return (float)((*s >> 40) & 0xffffffu) / 16777216.0f;
}

static float
normal(uint64_t *s)
{
    float u = uniform(s) + 1e-7f, v = uniform(s);
    return sqrtf(-2.0f * logf(u)) * cosf(6.2831853f * v);
}

/* Clusters around random centres, features on different scales and offsets (what batch norm
 * is for); labels stored as floats, the data type the kernels share. */
static void
make_data(float *x, float *labels, int rows, uint64_t *seed, const float *centres)
{
    for (int i = 0; i < rows; i++) {
        int c = (int)(uniform(seed) * CLASSES) % CLASSES;
        labels[i] = (float)c;
        for (int j = 0; j < FEATURES; j++)
            x[i * FEATURES + j] = (float)(j + 1) * (centres[c * FEATURES + j] + 0.9f * normal(seed)) +
                                  3.0f * (float)j;
    }
}

/* ---- device objects ---- */

static int
mat_make(mpscl_device *d, cl_uint rows, cl_uint cols, mat *out)
{
    size_t rb = mpscl_matrix_descriptor_row_bytes_from_columns(cols, MPSCL_DATA_TYPE_FLOAT32);
    mpscl_matrix_descriptor md = mpscl_matrix_descriptor_make(rows, cols, rb,
                                                              MPSCL_DATA_TYPE_FLOAT32);

    out->rows = rows;
    out->cols = cols;
    out->ld = (cl_uint)(rb / sizeof(float));
    if (tool_check(mpscl_matrix_create(d, &md, &out->m), "matrix", PROG))
        return 1;
    out->buf = mpscl_matrix_buffer(out->m);
    return 0;
}

static int
vec_make(mpscl_device *d, size_t n, const float *init, mpscl_vector **out)
{
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make(n, MPSCL_DATA_TYPE_FLOAT32);

    return tool_check(mpscl_vector_create(d, &vd, out), "vector", PROG) ||
           (init != NULL && tool_check(mpscl_vector_write(*out, init), "vector write", PROG));
}

static cl_mem
vec_buf(const mpscl_vector *v)
{
    return mpscl_vector_buffer(v);
}

static int
build_kernels(net *n)
{
    const char *src = kernel_source;
    cl_device_id dev = mpscl_device_cl_device_id(n->d);
    cl_int err;

    n->program = clCreateProgramWithSource(mpscl_device_cl_context(n->d), 1, &src, NULL, &err);
    if (err == CL_SUCCESS)
        err = clBuildProgram(n->program, 1, &dev, "", NULL, NULL);
    if (err == CL_SUCCESS)
        n->matmul = clCreateKernel(n->program, "matmul", &err);
    if (err == CL_SUCCESS)
        n->softmax_xent = clCreateKernel(n->program, "softmax_xent", &err);
    if (err == CL_SUCCESS)
        n->sgd = clCreateKernel(n->program, "sgd", &err);
    if (err != CL_SUCCESS)
        fprintf(stderr, PROG ": building the network's kernels failed (OpenCL error %d)\n", (int)err);
    return err != CL_SUCCESS;
}

/* Small random weights (scaled by fan-in), gamma 1, beta 0, running mean 0, running variance 1
 * (what frameworks start from). */
static int
net_make(mpscl_device *d, const options *o, net *n)
{
    cl_uint rows = (cl_uint)o->batch, hid = (cl_uint)o->hidden;
    float *init = malloc(sizeof(float) * (size_t)hid * (FEATURES + CLASSES + 2));
    uint64_t seed = 7;
    int rc;

    memset(n, 0, sizeof *n);
    n->d = d;
    if (init == NULL)
        return 1;
    rc = build_kernels(n) ||
         mat_make(d, rows, FEATURES, &n->x) || vec_make(d, rows, NULL, &n->labels) ||
         mat_make(d, rows, hid, &n->h) || mat_make(d, rows, hid, &n->y) ||
         mat_make(d, rows, CLASSES, &n->logits) || mat_make(d, rows, CLASSES, &n->dlogits) ||
         mat_make(d, rows, hid, &n->dy) || mat_make(d, rows, hid, &n->dh) ||
         vec_make(d, rows, NULL, &n->loss) || mat_make(d, FEATURES, hid, &n->w1) ||
         mat_make(d, hid, CLASSES, &n->w2) || mat_make(d, FEATURES, hid, &n->dw1) ||
         mat_make(d, hid, CLASSES, &n->dw2);
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        mat *w = pass ? &n->w2 : &n->w1;
        float *host = init;
        for (cl_uint i = 0; i < w->rows * w->cols; i++)
            host[i] = (2.0f * uniform(&seed) - 1.0f) / sqrtf((float)w->rows);
        rc = tool_check(mpscl_matrix_write(w->m, host, w->cols * sizeof(float)), "write", PROG);
    }
    for (cl_uint j = 0; j < hid; j++) {
        init[j] = 1.0f;
        init[hid + j] = 0.0f;
    }
    rc = rc || vec_make(d, hid, init, &n->gamma) || vec_make(d, hid, init + hid, &n->beta) ||
         vec_make(d, hid, NULL, &n->dgamma) || vec_make(d, hid, NULL, &n->dbeta) ||
         vec_make(d, hid, NULL, &n->mean) || vec_make(d, hid, NULL, &n->var) ||
         vec_make(d, hid, init + hid, &n->run_mean) || vec_make(d, hid, init, &n->run_var);
    rc = rc ||
         tool_check(mpscl_matrix_batch_normalization_create(d, &n->bn), "kernel", PROG) ||
         tool_check(mpscl_matrix_batch_normalization_gradient_create(d, &n->bn_grad), "kernel", PROG) ||
         tool_check(mpscl_matrix_batch_normalization_set_epsilon(n->bn, 1e-5f), "epsilon", PROG) ||
         tool_check(mpscl_matrix_batch_normalization_gradient_set_epsilon(n->bn_grad, 1e-5f), "epsilon", PROG) ||
         tool_check(mpscl_matrix_batch_normalization_set_compute_statistics(n->bn, 1), "property", PROG) ||
         tool_check(mpscl_matrix_batch_normalization_set_momentum(n->bn, o->momentum), "momentum", PROG) ||
         tool_check(mpscl_matrix_batch_normalization_set_neuron_type(n->bn, MPSCL_NEURON_RELU, 0, 0, 0), "neuron", PROG) ||
         tool_check(mpscl_matrix_batch_normalization_gradient_set_neuron_type(n->bn_grad, MPSCL_NEURON_RELU, 0, 0, 0), "neuron", PROG);
    free(init);
    return rc;
}

static void
net_release(net *n)
{
    mat *mats[] = {&n->x, &n->h, &n->y, &n->logits, &n->dlogits, &n->dy, &n->dh, &n->w1,
                   &n->w2, &n->dw1, &n->dw2};
    mpscl_vector *vecs[] = {n->labels, n->loss, n->gamma, n->beta, n->dgamma, n->dbeta, n->mean,
                            n->var, n->run_mean, n->run_var};

    for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++)
        mpscl_matrix_release(mats[i]->m);
    for (size_t i = 0; i < sizeof vecs / sizeof vecs[0]; i++)
        mpscl_vector_release(vecs[i]);
    mpscl_matrix_batch_normalization_release(n->bn);
    mpscl_matrix_batch_normalization_gradient_release(n->bn_grad);
    if (n->matmul != NULL)
        clReleaseKernel(n->matmul);
    if (n->softmax_xent != NULL)
        clReleaseKernel(n->softmax_xent);
    if (n->sgd != NULL)
        clReleaseKernel(n->sgd);
    if (n->program != NULL)
        clReleaseProgram(n->program);
}

/* ---- enqueueing ---- */

/* c (m x n) = op(a) op(b), op transposing when t is set; k is the inner dimension. */
static cl_int
matmul(const net *n, cl_command_queue q, const mat *a, int ta, const mat *b, int tb, const mat *c,
       cl_uint k)
{
    cl_kernel kr = n->matmul;
    cl_uint uta = (cl_uint)ta, utb = (cl_uint)tb;
    size_t global[2] = {c->rows, c->cols};
    cl_int err = CL_SUCCESS;

    err |= clSetKernelArg(kr, 0, sizeof c->rows, &c->rows);
    err |= clSetKernelArg(kr, 1, sizeof c->cols, &c->cols);
    err |= clSetKernelArg(kr, 2, sizeof k, &k);
    err |= clSetKernelArg(kr, 3, sizeof a->buf, &a->buf);
    err |= clSetKernelArg(kr, 4, sizeof a->ld, &a->ld);
    err |= clSetKernelArg(kr, 5, sizeof uta, &uta);
    err |= clSetKernelArg(kr, 6, sizeof b->buf, &b->buf);
    err |= clSetKernelArg(kr, 7, sizeof b->ld, &b->ld);
    err |= clSetKernelArg(kr, 8, sizeof utb, &utb);
    err |= clSetKernelArg(kr, 9, sizeof c->buf, &c->buf);
    err |= clSetKernelArg(kr, 10, sizeof c->ld, &c->ld);
    return err != CL_SUCCESS ? err : clEnqueueNDRangeKernel(q, kr, 2, NULL, global, NULL, 0, NULL, NULL);
}

static cl_int
softmax_xent(const net *n, cl_command_queue q)
{
    cl_kernel k = n->softmax_xent;
    cl_uint classes = CLASSES;
    cl_mem labels = vec_buf(n->labels), loss = vec_buf(n->loss);
    size_t global = n->logits.rows;
    cl_int err = CL_SUCCESS;

    err |= clSetKernelArg(k, 0, sizeof n->logits.rows, &n->logits.rows);
    err |= clSetKernelArg(k, 1, sizeof classes, &classes);
    err |= clSetKernelArg(k, 2, sizeof n->logits.buf, &n->logits.buf);
    err |= clSetKernelArg(k, 3, sizeof n->logits.ld, &n->logits.ld);
    err |= clSetKernelArg(k, 4, sizeof labels, &labels);
    err |= clSetKernelArg(k, 5, sizeof n->dlogits.buf, &n->dlogits.buf);
    err |= clSetKernelArg(k, 6, sizeof loss, &loss);
    return err != CL_SUCCESS ? err : clEnqueueNDRangeKernel(q, k, 1, NULL, &global, NULL, 0, NULL, NULL);
}

/* w -= rate * g over rows x cols elements with row stride ld (a vector: one row). */
static cl_int
sgd(const net *n, cl_command_queue q, cl_mem w, cl_mem g, cl_uint rows, cl_uint cols, cl_uint ld,
    float rate)
{
    cl_kernel k = n->sgd;
    size_t global[2] = {rows, cols};
    cl_int err = CL_SUCCESS;

    err |= clSetKernelArg(k, 0, sizeof rows, &rows);
    err |= clSetKernelArg(k, 1, sizeof cols, &cols);
    err |= clSetKernelArg(k, 2, sizeof ld, &ld);
    err |= clSetKernelArg(k, 3, sizeof w, &w);
    err |= clSetKernelArg(k, 4, sizeof g, &g);
    err |= clSetKernelArg(k, 5, sizeof rate, &rate);
    return err != CL_SUCCESS ? err : clEnqueueNDRangeKernel(q, k, 2, NULL, global, NULL, 0, NULL, NULL);
}

/* A weight matrix's update from its gradient (same shape and stride). */
static cl_int
sgd_matrix(const net *n, cl_command_queue q, const mat *w, const mat *g, float rate)
{
    return sgd(n, q, w->buf, g->buf, w->rows, w->cols, w->ld, rate);
}

static int
cl_check(cl_int err, const char *what)
{
    if (err == CL_SUCCESS)
        return 0;
    fprintf(stderr, PROG ": %s failed (OpenCL error %d)\n", what, (int)err);
    return 1;
}

/* One step, one command buffer, one wait: the batch in, forward, loss and backward, updates, the
 * per-row losses out. */
static int
train_step(net *n, const options *o, const float *x, const float *labels, float *loss)
{
    cl_uint hid = (cl_uint)o->hidden;
    mpscl_command_buffer *cb = NULL;
    cl_command_queue q;
    int rc = tool_check(mpscl_command_buffer_create(n->d, &cb), "command buffer", PROG);

    /* The network's own kernels go on the buffer's queue, in order with mpscl's work. */
    q = rc ? NULL : mpscl_command_buffer_cl_queue(cb);
    rc = rc ||
         tool_check(mpscl_matrix_encode_write(n->x.m, cb, x, FEATURES * sizeof(float)), "write x", PROG) ||
         tool_check(mpscl_vector_encode_write(n->labels, cb, labels), "write labels", PROG) ||
         cl_check(matmul(n, q, &n->x, 0, &n->w1, 0, &n->h, FEATURES), "h = x W1") ||
         tool_check(mpscl_matrix_batch_normalization_encode_with_running_statistics(
                        n->bn, cb, n->h.m, n->mean, n->var, n->gamma, n->beta, n->y.m,
                        n->run_mean, n->run_var), "batch norm", PROG) ||
         cl_check(matmul(n, q, &n->y, 0, &n->w2, 0, &n->logits, hid), "logits = y W2") ||
         cl_check(softmax_xent(n, q), "softmax") ||
         cl_check(matmul(n, q, &n->y, 1, &n->dlogits, 0, &n->dw2, n->y.rows), "dW2") ||
         cl_check(matmul(n, q, &n->dlogits, 0, &n->w2, 1, &n->dy, CLASSES), "dy") ||
         tool_check(mpscl_matrix_batch_normalization_gradient_encode(
                        n->bn_grad, cb, n->dy.m, n->h.m, n->mean, n->var, n->gamma, n->beta,
                        n->dh.m, n->dgamma, n->dbeta), "batch norm gradient", PROG) ||
         cl_check(matmul(n, q, &n->x, 1, &n->dh, 0, &n->dw1, n->x.rows), "dW1") ||
         cl_check(sgd_matrix(n, q, &n->w1, &n->dw1, o->rate), "update W1") ||
         cl_check(sgd_matrix(n, q, &n->w2, &n->dw2, o->rate), "update W2") ||
         cl_check(sgd(n, q, vec_buf(n->gamma), vec_buf(n->dgamma), 1, hid, hid, o->rate), "update gamma") ||
         cl_check(sgd(n, q, vec_buf(n->beta), vec_buf(n->dbeta), 1, hid, hid, o->rate), "update beta") ||
         tool_check(mpscl_vector_encode_read(n->loss, cb, loss), "read loss", PROG) ||
         tool_check(mpscl_command_buffer_commit(cb), "commit", PROG) ||
         tool_check(mpscl_command_buffer_wait_until_completed(cb), "step", PROG);
    mpscl_command_buffer_release(cb);
    return rc;
}

/* Held-out accuracy in inference mode: the forward normalizes with the running statistics. */
static int
evaluate(net *n, const float *x, const float *labels, int rows, double *accuracy)
{
    mpscl_matrix_batch_normalization *infer = NULL;
    float *logits = malloc(sizeof(float) * n->x.rows * CLASSES);
    int correct = 0, rc = logits == NULL ||
        tool_check(mpscl_matrix_batch_normalization_copy(n->bn, NULL, &infer), "copy", PROG) ||
        tool_check(mpscl_matrix_batch_normalization_set_compute_statistics(infer, 0), "property", PROG);

    for (int first = 0; rc == 0 && first + (int)n->x.rows <= rows; first += (int)n->x.rows) {
        mpscl_command_buffer *cb = NULL;
        rc = tool_check(mpscl_command_buffer_create(n->d, &cb), "command buffer", PROG) ||
             tool_check(mpscl_matrix_encode_write(n->x.m, cb, x + (size_t)first * FEATURES,
                                                  FEATURES * sizeof(float)), "write x", PROG) ||
             cl_check(matmul(n, mpscl_command_buffer_cl_queue(cb), &n->x, 0, &n->w1, 0, &n->h,
                             FEATURES), "h = x W1") ||
             tool_check(mpscl_matrix_batch_normalization_encode(infer, cb, n->h.m, n->run_mean,
                                                                n->run_var, n->gamma, n->beta,
                                                                n->y.m), "batch norm", PROG) ||
             cl_check(matmul(n, mpscl_command_buffer_cl_queue(cb), &n->y, 0, &n->w2, 0,
                             &n->logits, (cl_uint)n->y.cols), "logits") ||
             tool_check(mpscl_matrix_encode_read(n->logits.m, cb, logits, CLASSES * sizeof(float)),
                        "read logits", PROG) ||
             tool_check(mpscl_command_buffer_commit(cb), "commit", PROG) ||
             tool_check(mpscl_command_buffer_wait_until_completed(cb), "evaluate", PROG);
        mpscl_command_buffer_release(cb);
        for (cl_uint i = 0; rc == 0 && i < n->x.rows; i++) {
            int best = 0;
            for (int c = 1; c < CLASSES; c++)
                if (logits[i * CLASSES + c] > logits[i * CLASSES + best])
                    best = c;
            correct += best == (int)labels[first + (int)i];
        }
    }
    *accuracy = (double)correct / (double)(rows / (int)n->x.rows * (int)n->x.rows);
    mpscl_matrix_batch_normalization_release(infer);
    free(logits);
    return rc;
}

static double
mean_of(const float *v, int count)
{
    double s = 0.0;
    for (int i = 0; i < count; i++)
        s += v[i];
    return s / count;
}

/* Trains on data already made; the caller owns the buffers. */
static int
train_and_evaluate(const options *o, const float *train_x, const float *train_y,
                   const float *test_x, const float *test_y, float *loss)
{
    mpscl_device *d = NULL;
    net n;
    double first_loss = 0.0, last_loss = 0.0, accuracy = 0.0, t0 = 0.0;
    int rc;

    if (tool_open_device(o->device, &d, PROG))
        return 1;
    if (!o->quiet)
        printf("device: %s\nnetwork: %d features -> %d (batch norm, ReLU) -> %d classes, batch "
               "%d, %d steps\n", mpscl_device_name(d), FEATURES, o->hidden, CLASSES, o->batch,
               o->steps);
    rc = net_make(d, o, &n);
    for (int step = 0; rc == 0 && step < o->steps; step++) {
        int first = (step * o->batch) % (TRAIN - o->batch + 1);
        /* The clock starts after the first step, which builds the kernels. */
        if (step == 1 || o->steps == 1)
            t0 = tool_now();
        rc = train_step(&n, o, train_x + (size_t)first * FEATURES, train_y + first, loss);
        double batch_loss = mean_of(loss, o->batch);
        if (step == 0)
            first_loss = batch_loss;
        /* One batch's loss is noisy: the result is the mean over the last ten steps. */
        if (step >= o->steps - 10)
            last_loss += batch_loss / (o->steps < 10 ? o->steps : 10);
        if (!o->quiet && rc == 0 && (step % 25 == 0 || step == o->steps - 1))
            printf("step %4d  loss %.4f\n", step, batch_loss);
    }
    if (rc == 0) {
        double per_step = (tool_now() - t0) / (o->steps > 1 ? o->steps - 1 : 1);
        rc = evaluate(&n, test_x, test_y, TEST, &accuracy);
        if (rc == 0)
            printf("loss %.4f -> %.4f (last ten steps), held-out accuracy %.1f %% (running statistics), "
                   "%.1f us per step\n", first_loss, last_loss, 100.0 * accuracy, per_step * 1e6);
    }
    if (rc == 0 && !(last_loss < 0.25 * first_loss && accuracy >= 0.9)) {
        fprintf(stderr, PROG ": training did not converge (loss %.4f -> %.4f, accuracy %.1f %%)\n",
                first_loss, last_loss, 100.0 * accuracy);
        rc = 1;
    }
    net_release(&n);
    mpscl_device_release(d);
    return rc;
}

int
main(int argc, char **argv)
{
    options o;
    uint64_t seed = 2026;
    float centres[CLASSES * FEATURES];
    int rc;

    /* Options first: --help and a bad option leave before anything is allocated. */
    if ((rc = parse(argc, argv, &o)) >= 0)
        return rc;
    float *train_x = malloc(sizeof(float) * TRAIN * FEATURES), *train_y = malloc(sizeof(float) * TRAIN);
    float *test_x = malloc(sizeof(float) * TEST * FEATURES), *test_y = malloc(sizeof(float) * TEST);
    float *loss = malloc(sizeof(float) * (size_t)o.batch);
    if (train_x == NULL || train_y == NULL || test_x == NULL || test_y == NULL || loss == NULL) {
        fprintf(stderr, PROG ": out of memory\n");
        rc = 1;
    } else {
        for (int i = 0; i < CLASSES * FEATURES; i++)
            centres[i] = 0.6f * normal(&seed);
        make_data(train_x, train_y, TRAIN, &seed, centres);
        make_data(test_x, test_y, TEST, &seed, centres);
        rc = train_and_evaluate(&o, train_x, train_y, test_x, test_y, loss);
    }
    free(train_x);
    free(train_y);
    free(test_x);
    free(test_y);
    free(loss);
    return rc;
}
