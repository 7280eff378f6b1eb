/* Batch-normalization test cases: a shape/layout table and runners that check the device's
 * forward and gradient against the fp64 reference (tools/ref.h). */
#ifndef MPSCL_TEST_BN_CASES_H
#define MPSCL_TEST_BN_CASES_H

#include <stddef.h>

#include "tools/ref.h"

enum { BN_FILL_RANDOM, BN_FILL_EXACT };
enum { BN_GAMMA = 1, BN_BETA = 2, BN_DGAMMA = 4, BN_DBETA = 8, BN_ALL_OPTIONAL = 15 };

typedef struct bn_case {
    const char *name;
    size_t rows, cols, mats;      /* every matrix operand has this size */
    size_t pad;                   /* elements of padding per row */
    size_t nfv, nch;              /* properties; 0 = default (SIZE_MAX) */
    size_t src_x, src_y;          /* source (forward) / primary = gradient origin */
    size_t in_x, in_y;            /* secondary = input origin (gradient only) */
    size_t res_x, res_y;          /* result origin */
    size_t batch_start, batch_size;   /* batch_size 0 = default (all) */
    int fill;
    unsigned optional;            /* which optional operands are given */
} bn_case;

extern const bn_case bn_cases[];
extern const size_t bn_case_count;

/* Relative L2 bound for fp32 results: see bn_cases.c for the derivation. */
double bn_bound(size_t n);

/* How to run a case: the fused neuron (NULL: none), the error bound (0: bn_bound), how many
 * times to run it (each run must give bitwise the same outputs), and (gradient) whether with
 * frozen statistics. */
typedef struct bn_run {
    const ref_neuron *neuron;
    double bound;
    int reruns;
    int frozen;
} bn_run;

/* Runs the case, checks every output against the reference and the bound, every byte outside
 * the written region against its initial value, and (reruns > 1) that every run gives bitwise
 * the same outputs. Returns the worst relative error seen. */
double bn_check_gradient(const bn_case *c, const bn_run *run);
double bn_check_forward(const bn_case *c, int compute_statistics, const bn_run *run);

#endif
