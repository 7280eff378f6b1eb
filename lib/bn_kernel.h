/* What the forward and the gradient kernel objects share: the object and its properties
 * (bn_kernel.c), the shared encode (bn_encode.c), aliasing (bn_aliasing.c), programs and
 * enqueueing (bn_launch.c), the workspace (bn_workspace.c) and kernel arguments (bn_args.c); the
 * planner is bn_plan.h. Internal. */
#ifndef MPSCL_BN_KERNEL_H
#define MPSCL_BN_KERNEL_H

#include "bn_plan.h"
#include "internal.h"

/* origins[] slots: the forward uses SOURCE and RESULT; the gradient PRIMARY (= SOURCE, the
 * gradient matrix), SECONDARY (the input matrix) and RESULT. */
enum { MPSCL__ORIGIN_SOURCE = 0, MPSCL__ORIGIN_SECONDARY = 1, MPSCL__ORIGIN_RESULT = 2 };

#define MPSCL__BN_MAX_KERNELS 16
#define MPSCL__BN_MAX_ARGS 64

/* A scalar kernel argument as last set (clSetKernelArg costs about half a microsecond on some
 * drivers, and most arguments repeat from one encode to the next). */
typedef struct mpscl__bn_arg_value {
    size_t size;              /* 0: not known to be set */
    int local;                /* a __local size, no value */
    unsigned char value[8];
} mpscl__bn_arg_value;

typedef struct mpscl__bn_kernel {
    atomic_size_t refs;
    mpscl_device *device;
    int is_gradient;
    /* properties: written by setters only (never concurrently with encode) */
    float epsilon;
    size_t feature_vectors, feature_channels;
    mpscl_neuron_type neuron;
    float neuron_a, neuron_b, neuron_c;
    mpscl_origin origins[3];
    size_t batch_start, batch_size;
    char *label;
    int compute_statistics;
    float momentum;                           /* forward: running-statistics update weight */
    int frozen_statistics;                    /* gradient: mean and variance are constants */
    int reproducible;                         /* binned sums (docs/DISTRIBUTED.md) */
    mpscl__bn_tune tune;                      /* read from MPSCL_TUNE at creation */
    mpscl__device_caps caps;                  /* of device, for the planner */
    const mpscl__bn_tuning *tuning;           /* the tuning table's row for it, or NULL */
    /* device state, guarded by lock: encode may run from several threads */
    pthread_mutex_t lock;
    cl_program program;                       /* the program kernels[] were created from */
    char program_options[320];                /* its build options (mpscl__bn_prepare) */
    cl_kernel kernels[MPSCL__BN_MAX_KERNELS];
    mpscl__bn_arg_value args[MPSCL__BN_MAX_KERNELS][MPSCL__BN_MAX_ARGS];  /* of kernels[] */
    size_t kernel_wg_max;                     /* smallest CL_KERNEL_WORK_GROUP_SIZE of kernels[] */
    /* The workspace: partial sums and the one-launch kernels' counters, reused across encodes.
     * Both parts are replaced together when either must grow or a one launch gave up in them
     * (counters_suspect), so a launch shares a part only with launches it is ordered after (the
     * previous user, on workspace_queue). */
    cl_mem scratch;
    size_t scratch_bytes;
    cl_mem sync;
    size_t sync_words;
    cl_command_queue workspace_queue;         /* queue of the last encode that used it */
    cl_uint launch;                           /* number of the last one launch, never 0 */
    atomic_int counters_suspect;              /* a one launch gave up: replace the workspace */
} mpscl__bn_kernel;

/* One operand of an encode, resolved to element units. A vector is one row per batch entry. */
typedef struct mpscl__bn_operand {
    const char *name;
    const mpscl_matrix *m;    /* exactly one of m, v; both NULL: optional operand not given */
    const mpscl_vector *v;
    int is_output;
    cl_ulong off, rs, ms;     /* first region element, row stride, batch stride (elements) */
    cl_ulong width;           /* elements a vector's region spans; 0: the region's columns */
} mpscl__bn_operand;

mpscl_status mpscl__bn_kernel_init(mpscl__bn_kernel *k, mpscl_device *d, int is_gradient,
                                   const char *fn);
mpscl_status mpscl__bn_kernel_copy_properties(mpscl__bn_kernel *dst, const mpscl__bn_kernel *src);
/* Drops a reference; returns 1 when it was the last (the caller frees its struct). */
int mpscl__bn_kernel_unref(mpscl__bn_kernel *k);

/* *length: the float32 elements one partial of `columns` columns takes in k's mode. */
mpscl_status mpscl__bn_partials_length(const mpscl__bn_kernel *k, size_t columns, size_t *length,
                                       const char *fn);
mpscl_status mpscl__bn_set_epsilon(mpscl__bn_kernel *k, float e);
mpscl_status mpscl__bn_set_momentum(mpscl__bn_kernel *k, float m);
mpscl_status mpscl__bn_set_neuron(mpscl__bn_kernel *k, mpscl_neuron_type t, float a, float b,
                                  float c);
mpscl_status mpscl__bn_set_origin(mpscl__bn_kernel *k, int slot, mpscl_origin o);
mpscl_status mpscl__bn_set_label(mpscl__bn_kernel *k, const char *label);

/* Refuses an output that overlaps any other operand, except a matrix output over exactly the
 * region of a matrix input (in place). */
mpscl_status mpscl__bn_check_aliasing(const mpscl__bn_operand *ops, size_t nops,
                                      const mpscl__bn_plan *p, const char *fn);

/* ---- the shared encode path (bn_encode.c) ---- */

/* Whether an operand is read, written, written only with compute_statistics (the forward's
 * mean and variance), or read and written from the batch statistics, so given only with
 * compute_statistics (the forward's running mean and variance: an output for aliasing). */
typedef enum mpscl__bn_direction {
    MPSCL__BN_IN,
    MPSCL__BN_OUT,
    MPSCL__BN_OUT_WITH_STATISTICS,
    MPSCL__BN_UPDATE_WITH_STATISTICS
} mpscl__bn_direction;

/* One operand of an encode, described once: its name in messages, matrix or vector, whether it
 * may be NULL (vectors only), its direction and (matrices) the slot of its origin. Input
 * matrices clip the region; output matrices must hold it. */
typedef struct mpscl__bn_operand_spec {
    const char *name;
    int is_matrix, required;
    mpscl__bn_direction direction;
    int origin;
    /* A split phase's partials (vectors): float32, each vector holding count partials of the
     * kernel's layout for the region's columns (bn_plan.h, mpscl__bn_partial_words). */
    int partials;
} mpscl__bn_operand_spec;

enum { MPSCL__BN_MAX_LAUNCHES = 8 };

/* A launch's NDRange: the plan's (mpscl__bn_enqueue), one item per column (column_lx wide, a
 * row, the matrices), or the binned sums' (rlx x rly groups, rchunks of them down the rows). */
typedef enum mpscl__bn_grid { MPSCL__GRID_PLAN, MPSCL__GRID_COLUMNS, MPSCL__GRID_BINS } mpscl__bn_grid;

/* One launch of an encode: the kernel (index in kernels[]), its grid, the statistics round its
 * arguments name, and whether the partials it reads or writes are the workspace's (the one-device
 * path of the reproducible mode) rather than the caller's vector. */
typedef struct mpscl__bn_launch {
    size_t kernel;
    mpscl__bn_grid grid;
    cl_uint round;
    int own_partials;
} mpscl__bn_launch;

/* A kernel's encode: its operands in the kernels' argument order, its kernels, which of them a
 * plan launches (in order, into ls), and how each launch's arguments are set (just before it is
 * enqueued: one kernel may run twice with other arguments). split: a split phase (its own layout
 * and data types, bn_plan.h); bins: with the reproducible property, the binned sums' geometry
 * and scratch; empty_ok: a region of no rows is valid (a partial of count 0); region_vector:
 * with no matrix operand, the operand whose length and vectors make the region. */
typedef struct mpscl__bn_encoder {
    const char *fn;
    const mpscl__bn_operand_spec *operands;
    size_t count;
    const char *const *kernel_names;
    size_t nkernels;
    size_t (*kernels)(const mpscl__bn_kernel *k, const mpscl__bn_plan *p,
                      mpscl__bn_launch ls[MPSCL__BN_MAX_LAUNCHES]);
    cl_int (*set_args)(mpscl__bn_kernel *k, const mpscl__bn_operand *ops, const mpscl__bn_plan *p,
                       const mpscl__bn_launch *l);
    int split, bins, empty_ok;
    size_t region_vector;
    size_t nbase;     /* kernel_names[0 .. nbase) are in every program; the rest need -DSPLIT=1 */
} mpscl__bn_encoder;

/* Validates and encodes: objects[i] is the matrix or vector of operand i (NULL: not given); a
 * NULL k is refused like any other bad argument. round and count are the split phases' (0 and
 * 1 elsewhere). */
mpscl_status mpscl__bn_encode(mpscl__bn_kernel *k, mpscl_command_buffer *cb,
                              const mpscl__bn_encoder *e, const void *const *objects);
mpscl_status mpscl__bn_encode_phase(mpscl__bn_kernel *k, mpscl_command_buffer *cb,
                                    const mpscl__bn_encoder *e, const void *const *objects,
                                    size_t round, size_t count);
/* Whether an encode of k by e runs the binned sums (reproducible, and a phase that sums). */
int mpscl__bn_uses_bins(const mpscl__bn_kernel *k, const mpscl__bn_encoder *e);

/* With k->lock held: the program's kernels (created when a build option changed; the split
 * phases' only in programs built with them), the launch plan, and the workspace for it; *wait is
 * an event the first kernel must wait for (the previous user of the workspace on another queue)
 * or NULL. */
mpscl_status mpscl__bn_prepare(mpscl__bn_kernel *k, mpscl_command_buffer *cb,
                               const mpscl__bn_encoder *e, mpscl__bn_plan *p, cl_event *wait);

/* With k->lock held (bn_workspace.c): the workspace for the plan, usable on cb's queue once *wait
 * (if set) completes. */
mpscl_status mpscl__bn_prepare_workspace(mpscl__bn_kernel *k, mpscl_command_buffer *cb,
                                         const mpscl__bn_plan *p, cl_event *wait);
/* Kernel argument setting, argument by argument in order: {k, index in kernels[], 0, &err}; the
 * first failure sticks in *err. Scalars (and __local sizes: value NULL) are set only when they
 * differ from what the kernel holds; buffers always are, since a released buffer's handle may
 * come back as another buffer's, and the kernel object holds no reference to keep it. */
typedef struct mpscl__bn_args {
    mpscl__bn_kernel *k;
    size_t kernel;
    cl_uint idx;
    cl_int *err;
} mpscl__bn_args;
void mpscl__bn_arg(mpscl__bn_args *a, size_t size, const void *value);
void mpscl__bn_arg_buffer(mpscl__bn_args *a, cl_mem buffer);
/* n, c, chunk_rows, batch_first, the scratch and the local buffer, as the kernels take them. */
void mpscl__bn_arg_geometry(mpscl__bn_args *a, const mpscl__bn_plan *p);
/* The arguments both one-launch kernels take: the counters, col_tiles, tiles, chunks, how many
 * looks a group waiting for others takes before it gives up, and the launch's number, which a
 * group that gives up leaves in the counters. */
void mpscl__bn_arg_one_launch(mpscl__bn_args *a, const mpscl__bn_plan *p);
/* Looks at a counter before a one-launch group gives up (MPSCL_TUNE's spin, or the default). */
cl_uint mpscl__bn_spin_limit(const mpscl__bn_kernel *k);
/* The row streaming kernels' tile width (their last argument). */
void mpscl__bn_arg_tile_items(mpscl__bn_args *a, const mpscl__bn_plan *p);
/* A matrix (buffer, offset, row stride, batch stride) or vector (buffer, offset, stride); NULL
 * buffer for an operand not given. */
void mpscl__bn_arg_operand(mpscl__bn_args *a, const mpscl__bn_operand *op);
/* Enqueues launch l of k (waiting on *wait if non-NULL, then clearing it): its grid, for the
 * plan's the two-launch grid, or the one launch's when p->fused, whose gave-up word cb checks at
 * wait. */
mpscl_status mpscl__bn_enqueue(mpscl__bn_kernel *k, mpscl_command_buffer *cb,
                               const mpscl__bn_launch *l, const mpscl__bn_plan *p, cl_event *wait);
/* The split phases' partials operand of launch l: the caller's vector op, or the workspace's
 * partial per matrix after the binned sums (buffer, offset, stride in words). */
void mpscl__bn_arg_partials(mpscl__bn_args *a, const mpscl__bn_operand *op,
                            const mpscl__bn_plan *p, const mpscl__bn_launch *l);
/* A uint scalar argument. */
void mpscl__bn_arg_uint(mpscl__bn_args *a, size_t v);
/* Retains k and every given operand into cb until it completes. */
mpscl_status mpscl__bn_hold(mpscl__bn_kernel *k, mpscl_command_buffer *cb,
                            const mpscl__bn_operand *ops, size_t nops);

#endif

/* The property accessors the two public kernel types share, defined once for each type T whose
 * struct starts with `mpscl__bn_kernel base`. Getters tolerate NULL; setters validate. */
#define MPSCL__BN_NULL_CHECK(k, fn)                                                            \
    do {                                                                                       \
        mpscl__clear_error();                                                                  \
        if ((k) == NULL)                                                                       \
            return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, "%s: kernel is NULL", \
                               fn);                                                            \
    } while (0)

#define MPSCL__BN_SIZE_PROPERTY(T, prop, field)                                                \
    size_t T##_##prop(const T *k) { return k ? k->base.field : 0; }                            \
    mpscl_status T##_set_##prop(T *k, size_t v)                                                \
    {                                                                                          \
        MPSCL__BN_NULL_CHECK(k, #T "_set_" #prop);                                            \
        k->base.field = v;                                                                     \
        return MPSCL_SUCCESS;                                                                  \
    }

#define MPSCL__BN_ORIGIN_PROPERTY(T, prop, slot)                                               \
    mpscl_origin T##_##prop(const T *k)                                                        \
    {                                                                                          \
        mpscl_origin zero = {0, 0, 0};                                                         \
        return k ? k->base.origins[slot] : zero;                                               \
    }                                                                                          \
    mpscl_status T##_set_##prop(T *k, mpscl_origin o)                                          \
    {                                                                                          \
        MPSCL__BN_NULL_CHECK(k, #T "_set_" #prop);                                            \
        return mpscl__bn_set_origin(&k->base, slot, o);                                        \
    }

#define MPSCL__BN_DEFINE_PROPERTIES(T)                                                         \
    T *T##_retain(T *k)                                                                        \
    {                                                                                          \
        if (k != NULL)                                                                         \
            atomic_fetch_add_explicit(&k->base.refs, 1, memory_order_relaxed);                 \
        return k;                                                                              \
    }                                                                                          \
    void T##_release(T *k)                                                                     \
    {                                                                                          \
        if (k != NULL && mpscl__bn_kernel_unref(&k->base))                                     \
            free(k);                                                                           \
    }                                                                                          \
    mpscl_device *T##_device(const T *k) { return k ? k->base.device : NULL; }                 \
    float T##_epsilon(const T *k) { return k ? k->base.epsilon : 0.0f; }                       \
    mpscl_status T##_set_epsilon(T *k, float e)                                                \
    {                                                                                          \
        MPSCL__BN_NULL_CHECK(k, #T "_set_epsilon");                                           \
        return mpscl__bn_set_epsilon(&k->base, e);                                             \
    }                                                                                          \
    MPSCL__BN_SIZE_PROPERTY(T, source_number_of_feature_vectors, feature_vectors)              \
    MPSCL__BN_SIZE_PROPERTY(T, source_input_feature_channels, feature_channels)                \
    MPSCL__BN_SIZE_PROPERTY(T, batch_start, batch_start)                                       \
    MPSCL__BN_SIZE_PROPERTY(T, batch_size, batch_size)                                         \
    MPSCL__BN_ORIGIN_PROPERTY(T, result_matrix_origin, MPSCL__ORIGIN_RESULT)                   \
    mpscl_status T##_set_neuron_type(T *k, mpscl_neuron_type t, float a, float b, float c)     \
    {                                                                                          \
        MPSCL__BN_NULL_CHECK(k, #T "_set_neuron_type");                                       \
        return mpscl__bn_set_neuron(&k->base, t, a, b, c);                                     \
    }                                                                                          \
    mpscl_neuron_type T##_neuron_type(const T *k) { return k ? k->base.neuron : 0; }           \
    float T##_neuron_parameter_a(const T *k) { return k ? k->base.neuron_a : 0.0f; }           \
    float T##_neuron_parameter_b(const T *k) { return k ? k->base.neuron_b : 0.0f; }           \
    float T##_neuron_parameter_c(const T *k) { return k ? k->base.neuron_c : 0.0f; }           \
    const char *T##_label(const T *k) { return k ? k->base.label : NULL; }                     \
    mpscl_status T##_set_label(T *k, const char *label)                                        \
    {                                                                                          \
        MPSCL__BN_NULL_CHECK(k, #T "_set_label");                                             \
        return mpscl__bn_set_label(&k->base, label);                                           \
    }                                                                                          \
    static mpscl_status T##__new(mpscl_device *d, int is_gradient, T **out, const char *fn)    \
    {                                                                                          \
        T *k;                                                                                  \
        mpscl_status s;                                                                        \
        if (out == NULL)                                                                       \
            return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, "%s: out is NULL", fn); \
        *out = NULL;                                                                           \
        mpscl__clear_error();                                                                  \
        if (d == NULL)                                                                         \
            return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, "%s: device is NULL", fn); \
        if ((k = calloc(1, sizeof *k)) == NULL)                                                \
            return mpscl__fail(MPSCL_ERROR_OUT_OF_HOST_MEMORY, CL_SUCCESS, "%s: out of memory", fn); \
        if ((s = mpscl__bn_kernel_init(&k->base, d, is_gradient, fn)) != MPSCL_SUCCESS) {      \
            free(k);                                                                           \
            return s;                                                                          \
        }                                                                                      \
        *out = k;                                                                              \
        return MPSCL_SUCCESS;                                                                  \
    }                                                                                          \
    mpscl_status T##_copy(const T *k, mpscl_device *d, T **out)                                \
    {                                                                                          \
        mpscl_status s;                                                                        \
        if (k == NULL) {                                                                       \
            if (out != NULL)                                                                   \
                *out = NULL;                                                                   \
            return mpscl__fail(MPSCL_ERROR_INVALID_ARGUMENT, CL_SUCCESS, #T "_copy: kernel is NULL"); \
        }                                                                                      \
        if ((s = T##__new(d != NULL ? d : k->base.device, k->base.is_gradient, out,            \
                          #T "_copy")) != MPSCL_SUCCESS)                                       \
            return s;                                                                          \
        if ((s = mpscl__bn_kernel_copy_properties(&(*out)->base, &k->base)) != MPSCL_SUCCESS) { \
            T##_release(*out);                                                                 \
            *out = NULL;                                                                       \
        }                                                                                      \
        return s;                                                                              \
    }
