/* Internal declarations shared by lib/ (never installed). Internal non-static names use the
 * mpscl__ prefix; only mpscl_* symbols are exported. */
#ifndef MPSCL_INTERNAL_H
#define MPSCL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include <mpscl/mpscl.h>

#if defined(__GNUC__) || defined(__clang__)
#define MPSCL__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define MPSCL__PRINTF(f, a)
#endif

/* ---- errors (status.c) ---- */

/* Records a thread-local message and OpenCL code, and returns s: every failure goes through it. */
mpscl_status mpscl__fail(mpscl_status s, cl_int cl, const char *fmt, ...) MPSCL__PRINTF(3, 4);
/* A failure of an OpenCL call `what`: MPSCL_ERROR_OUT_OF_HOST_MEMORY for CL_OUT_OF_HOST_MEMORY,
 * MPSCL_ERROR_OPENCL otherwise, with the code's name in the message. */
mpscl_status mpscl__fail_cl(cl_int err, const char *what);
const char *mpscl__cl_error_name(cl_int err);
/* Clears this thread's last error (called at the start of each public call that can fail). */
void mpscl__clear_error(void);
/* For release paths that cannot return a status: logs under MPSCL_DEBUG. */
void mpscl__check_cl(cl_int err, const char *what);

/* a * b + c without wrapping; 0 on overflow (callers treat 0 as "too large"). */
int mpscl__mul_add(size_t a, size_t b, size_t c, size_t *out);

/* ---- embedded kernel sources (generated lib/cl_sources.c) ---- */

typedef struct mpscl__cl_source {
    const char *name;
    const char *text;
    size_t length;
} mpscl__cl_source;
extern const mpscl__cl_source mpscl__cl_sources[];
extern const size_t mpscl__cl_source_count;

/* ---- device (device.c, program.c, queues.c) ---- */

typedef struct mpscl__program_entry mpscl__program_entry;

struct mpscl_device {
    atomic_size_t refs;
    cl_platform_id platform;
    cl_context context;
    cl_device_id device;
    char *name;                     /* CL_DEVICE_NAME, whole: no driver limits its length */
    cl_device_type type;
    cl_uint compute_units;
    size_t max_work_group_size;
    cl_ulong local_mem_size;
    cl_uint vendor_id;              /* PCI vendor: picks the tuning table's row */
    cl_ulong cache_bytes;           /* CL_DEVICE_GLOBAL_MEM_CACHE_SIZE (0: not reported) */
    int has_fp64;
    int rounds_divide_sqrt;         /* CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT for float */
    int retained_device;            /* wrapped user device: released with us */
    pthread_mutex_t lock;           /* guards programs, transfer_queue, the queue pool and the
                                     * counts below; never held through a build or a file write */
    mpscl__program_entry *programs;
    size_t programs_built;          /* compiled from source and kept */
    size_t programs_loaded;         /* taken from the disk cache (program_cache.c) and kept */
    cl_command_queue transfer_queue;  /* blocking reads and writes; created on first use */
    cl_command_queue queue_pool[2][8];  /* idle queues of released command buffers: [untimed] */
    size_t queues_pooled[2];
};

/* Kernel families: which sources make up a program. */
typedef enum mpscl__family {
    MPSCL__FAMILY_BN_FORWARD,
    MPSCL__FAMILY_BN_GRADIENT
} mpscl__family;

/* The program for (family, options) on d, built on first use and kept by d for its lifetime;
 * the caller does not release it. Thread-safe, and the build runs without d->lock: threads that
 * ask at once for a missing program may each build it, but d keeps one and all get that one. */
mpscl_status mpscl__device_program(mpscl_device *d, mpscl__family family, const char *options,
                                   cl_program *out);
void mpscl__device_release_programs(mpscl_device *d);
/* The persistent cache of program binaries (program_cache.c). No function here fails the
 * caller or records an error: a problem is a miss, and the program is built from source. */
typedef struct mpscl__cache_entry mpscl__cache_entry;
/* The cache entry of the program made of these sources with these options on d, or NULL when
 * the cache is off or the key cannot be made. options is borrowed until mpscl__cache_close. */
mpscl__cache_entry *mpscl__cache_open(mpscl_device *d, cl_uint count, const char *const *texts,
                                      const size_t *lengths, const char *options);
/* The program loaded from the entry and built for d, or NULL on a miss or an entry that is
 * corrupt, foreign or refused by the driver (never trusted: the caller rebuilds and stores). */
cl_program mpscl__cache_load(mpscl_device *d, const mpscl__cache_entry *e);
/* Writes prog's binary for d to the entry's file atomically, replacing what was there. */
void mpscl__cache_store(mpscl_device *d, const mpscl__cache_entry *e, cl_program prog);
void mpscl__cache_close(mpscl__cache_entry *e);   /* NULL is a no-op */
/* ---- the device's queues (queues.c) ---- */

/* A string property of a device, whole and NUL-terminated, malloc'd (NULL with *err set). */
char *mpscl__device_string(cl_device_id id, cl_device_info param, cl_int *err);
/* Wraps context and id (retained) in a new mpscl_device; platform NULL: asked of the device. */
mpscl_status mpscl__device_new(cl_platform_id platform, cl_context context, cl_device_id id,
                               mpscl_device **out);

/* An idle in-order queue for a new command buffer, profiling unless untimed: a pooled one, else
 * a new one. Creating a queue costs tens of microseconds on some drivers, more than a small
 * kernel. */
mpscl_status mpscl__device_take_queue(mpscl_device *d, int untimed, cl_command_queue *out);
/* Gives back the queue of a released command buffer, whose work has finished. */
void mpscl__device_return_queue(mpscl_device *d, int untimed, cl_command_queue q);
/* The device's own in-order queue for blocking transfers. */
mpscl_status mpscl__device_transfer_queue(mpscl_device *d, cl_command_queue *out);
/* Releases the pooled queues and the transfer queue (the device's last release). */
void mpscl__device_release_queues(mpscl_device *d);

/* ---- layout shared by matrices and vectors (layout.c) ---- */

/* A batch of `mats` row-major blocks of rows x columns elements. A vector is one row per block. */
typedef struct mpscl__layout {
    size_t rows, columns, mats, row_bytes, mat_bytes;
    mpscl_data_type type;
} mpscl__layout;

/* Checks the descriptor rules of matrix.h; `fn` and `what` name the call and operand. */
mpscl_status mpscl__layout_validate(const mpscl__layout *l, const char *fn, const char *what);
/* Bytes from the first to one past the last element. Valid layouts only. */
size_t mpscl__layout_extent(const mpscl__layout *l);
/* Wraps or allocates the buffer of an object: validates the layout, the offset and the buffer. */
mpscl_status mpscl__layout_buffer(mpscl_device *d, const mpscl__layout *l, cl_mem user,
                                  size_t offset, const char *fn, cl_mem *out);
/* The host side of a copy between the buffer and packed host memory (host rows of
 * host_row_bytes): a pointer, a stride of at least a row, a size that fits. */
mpscl_status mpscl__layout_check_host(const mpscl__layout *l, const void *host,
                                      size_t host_row_bytes, const char *fn);
/* Enqueues that copy (checked) on q. With cb NULL it blocks until the copy is done; else it
 * returns at once and cb tracks its commands as work of the buffer. */
mpscl_status mpscl__layout_enqueue_copy(cl_command_queue q, mpscl_command_buffer *cb, cl_mem buf,
                                        size_t offset, const mpscl__layout *l, void *host,
                                        size_t host_row_bytes, int to_device);

/* ---- objects over caller-owned host memory (host_memory.c) ---- */

/* A buffer over the caller's memory `host` laid out as l (validated): CL_MEM_USE_HOST_PTR, so
 * the driver works in place where the device shares the host's memory and keeps a copy where it
 * does not. Refuses NULL and memory not aligned to the element size. */
mpscl_status mpscl__host_memory_buffer(mpscl_device *d, void *host, const mpscl__layout *l,
                                       const char *fn, cl_mem *out);
/* Makes the host's writes to the memory under buf visible to commands enqueued on q after this
 * (map for writing without reading back, then unmap), cb tracking both as its work (or none). */
mpscl_status mpscl__host_memory_push(cl_command_queue q, mpscl_command_buffer *cb, cl_mem buf,
                                     size_t bytes);
/* Makes the device's writes to buf, by commands enqueued on q before this, reach the host memory
 * once these commands complete (map for reading, then unmap); without cb, before it returns. */
mpscl_status mpscl__host_memory_pull(cl_command_queue q, mpscl_command_buffer *cb, cl_mem buf,
                                     size_t bytes);

struct mpscl_matrix {
    atomic_size_t refs;
    mpscl_device *device;
    cl_mem buffer;
    size_t offset;
    mpscl__layout layout;
    void *host;               /* the caller's memory under buffer, or NULL */
};

struct mpscl_vector {
    atomic_size_t refs;
    mpscl_device *device;
    cl_mem buffer;
    size_t offset;
    mpscl__layout layout;     /* rows = 1, columns = length, mats = vectors */
    void *host;               /* the caller's memory under buffer, or NULL */
};

/* What the copies and the command buffer need of a matrix or a vector. */
typedef struct mpscl__storage {
    mpscl_device *device;
    cl_mem buffer;
    size_t offset;
    const mpscl__layout *layout;
    void *host;
} mpscl__storage;

mpscl__storage mpscl__matrix_storage(const mpscl_matrix *m);
mpscl__storage mpscl__vector_storage(const mpscl_vector *v);
/* A blocking copy between the object and packed host memory on the device's transfer queue.
 * Over host memory, the host's own writes are pushed first and, after a write, the result pulled
 * back, so host memory and the copy agree when it returns. */
mpscl_status mpscl__storage_copy(const mpscl__storage *s, void *host, size_t host_row_bytes,
                                 int to_device, const char *fn);

/* ---- command buffer (command_buffer.c) ---- */

/* Checks that cb can take work from an object of device d. */
mpscl_status mpscl__command_buffer_check_encode(const mpscl_command_buffer *cb,
                                                const mpscl_device *d, const char *fn);
/* Makes room to hold `count` more objects, so holding after an enqueue cannot fail. */
mpscl_status mpscl__command_buffer_reserve(mpscl_command_buffer *cb, size_t count);
/* Takes over the event of a command enqueued into cb (a kernel, a copy, ...): the first and the
 * last give the GPU start and end times, and the last is the buffer's completion. */
void mpscl__command_buffer_track(mpscl_command_buffer *cb, cl_event ev);
/* Before cb's next command uses s: when s lies over host memory and cb has not used it yet,
 * pushes the host's writes to the device; when the command writes s, commit will pull the
 * device's writes back. Nothing for other objects. s must be held by cb. */
mpscl_status mpscl__command_buffer_use(mpscl_command_buffer *cb, const mpscl__storage *s,
                                       int written);
/* Registers, before the command it checks is enqueued, the cl_uint at `offset` of buffer
 * (retained) that the command sets to failed_value when it could not do its work, which takes it
 * at least min_seconds. At wait, once the work finished, the word is read if that much time has
 * passed since this call (else the command cannot have failed); when it holds failed_value, wait
 * reports the buffer failed, naming `what`, and sets *on_failure (which must outlive the
 * buffer's work) to 1. Work that fails sets every *on_failure of the buffer. */
mpscl_status mpscl__command_buffer_check_word(mpscl_command_buffer *cb, cl_mem buffer,
                                              size_t offset, cl_uint failed_value,
                                              double min_seconds, atomic_int *on_failure,
                                              const char *what);
/* The buffer's queue, for the library's own commands (the public getter marks it shared). */
cl_command_queue mpscl__command_buffer_queue(const mpscl_command_buffer *cb);
/* Keeps obj alive until cb completes: takes over one reference (release called at completion). */
void mpscl__command_buffer_hold(mpscl_command_buffer *cb, void *obj, void (*release)(void *));

#endif
