/* The split phases' test harness (tests/check_bn_split.c): problems and their host images, the
 * one-device run, the split run over shares on one or two devices with partials gathered
 * through host memory, and the comparisons against the fp64 reference and between runs. */
#ifndef MPSCL_TEST_SPLIT_HARNESS_H
#define MPSCL_TEST_SPLIT_HARNESS_H

#include <stddef.h>

#include <mpscl/mpscl.h>

#define F32 MPSCL_DATA_TYPE_FLOAT32
#define F16 MPSCL_DATA_TYPE_FLOAT16
#define BF16 MPSCL_DATA_TYPE_BFLOAT16

typedef struct split_case {
    const char *name;
    size_t n, c, mats, batch_start;   /* mats matrices of n x c; the region from batch_start */
    mpscl_data_type t, vt, rt;        /* data; mean and variance vectors; running vectors */
    mpscl_neuron_type neuron;
    float na, nb;
} split_case;

enum { MAXP = 4 };

/* Splits: equal shares, unequal ones (a one-row share first), one of no rows second. */
enum { SPLIT_EQUAL, SPLIT_UNEQUAL, SPLIT_EMPTY, NSPLITS };
extern const char *const split_names[];

/* A typed host image of `count` values. */
typedef struct image {
    mpscl_data_type t;
    size_t count;
    unsigned char *bytes;
} image;

typedef struct problem {
    const split_case *sc;
    size_t n, c, mats;
    image x, dy, mean, var, gamma, beta, rm, rv;   /* inputs (mean, var: the gradient's) */
} problem;

typedef struct outputs {
    image mean, var, rm, rv, y, dx, dgamma, dbeta;
} outputs;

/* rows[r] of n for p shares of a kind of split; returns p. */
size_t split_rows(size_t n, size_t p, int kind, size_t *rows);
/* The relative L2 bound of a storage type (fp32 1e-6, fp16 2^-10, bf16 2^-7). */
double bound_for(mpscl_data_type t);
image image_new(mpscl_data_type t, size_t count);
double image_at(const image *im, size_t i);
mpscl_matrix *matrix_of(mpscl_device *d, const image *im, size_t rows, size_t cols, size_t mats);
mpscl_vector *vector_of(mpscl_device *d, const image *im, size_t length, size_t vectors);
void problem_make(problem *pb, const split_case *sc);
void problem_free(problem *pb);
void outputs_new(outputs *o, const problem *pb);
void outputs_free(outputs *o);
/* Commits cb, waits, releases it. */
void finish(mpscl_command_buffer *cb);
/* The one-device forward (statistics, running statistics) and gradient of the whole region. */
void run_whole(const problem *pb, int repro, outputs *o);
/* The split run: rows[] per share, shares alternating over devs (views: sub-matrices of one
 * matrix on devs[0]), every output read back into o. */
void run_split(const problem *pb, const size_t *rows, size_t p, int views,
               mpscl_device *const *devs, size_t ndevs, int repro, outputs *o);
/* Every output against the fp64 reference; within the bounds of another run's; bitwise. */
void check_reference(const problem *pb, const outputs *o, int repro, const char *where);
void check_close(const problem *pb, const outputs *got, const outputs *want, const char *where);
void check_same(const outputs *got, const outputs *want, const char *where);

#endif
