/** @defgroup mpscl_matrix typed, strided views of a cl_mem buffer (MPSMatrix, MPSVector)
 * @ingroup mpscl
 * @details mpscl_matrix and mpscl_vector (MPSMatrix, MPSVector): typed, strided views of a
 * `cl_mem` buffer. Matrix layout is MPS's: element (b, row, col) lives at
 *
 *     offset + b * matrix_bytes + row * row_bytes + col * element size.
 *
 * Vector layout: element (v, i) at
 *
 *     offset + v * vector_bytes + i * element size.
 *
 * Host layout of write/read: matrices packed one after another, each rows * host_row_bytes bytes
 * (vectors: packed, length elements each).
 *
 * @par Thread safety
 * retain/release and getters from any thread. mpscl_matrix_write() and mpscl_matrix_read() (and
 * the vector ones) are blocking and use the device's transfer queue: they are ordered after work
 * of a command buffer only once that buffer has been waited on. The encode copies
 * (mpscl_matrix_encode_write(), mpscl_matrix_encode_read() and the vector ones) are commands of
 * a command buffer, ordered with its other commands.
 * @{ */
#ifndef MPSCL_MATRIX_H
#define MPSCL_MATRIX_H

#include <mpscl/command_buffer.h>
#include <mpscl/device.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The shape and layout of a matrix (MPSMatrixDescriptor); see mpscl_matrix_create() for the
 * rules it must meet. */
typedef struct mpscl_matrix_descriptor {
    size_t rows;             /**< rows of each matrix */
    size_t columns;          /**< elements of each row */
    size_t matrices;         /**< matrices in the batch */
    size_t row_bytes;        /**< bytes from a row to the next */
    size_t matrix_bytes;     /**< bytes from a matrix to the next */
    mpscl_data_type data_type; /**< element type */
} mpscl_matrix_descriptor;

/** A descriptor of one matrix: matrices = 1, matrix_bytes = rows * row_bytes. */
MPSCL_API mpscl_matrix_descriptor mpscl_matrix_descriptor_make(size_t rows, size_t columns,
                                                               size_t row_bytes, mpscl_data_type t);
/** A descriptor of a batch of `matrices` matrices, matrix_bytes apart. */
MPSCL_API mpscl_matrix_descriptor mpscl_matrix_descriptor_make_batch(size_t rows, size_t columns,
    size_t matrices, size_t row_bytes, size_t matrix_bytes, mpscl_data_type t);
/** A row stride for `columns` elements, padded to 64 bytes so rows start on cache lines and vector
 * loads stay aligned; 0 for an unknown type or an overflow. */
MPSCL_API size_t mpscl_matrix_descriptor_row_bytes_from_columns(size_t columns, mpscl_data_type t);

/** A matrix (opaque, reference counted). */
typedef struct mpscl_matrix mpscl_matrix;

/** A matrix over a new buffer of matrices * matrix_bytes bytes (contents undefined).
 * Descriptor rules: rows, columns, matrices > 0 (else MPSCL_ERROR_INVALID_SHAPE); row_bytes and
 * matrix_bytes multiples of the element size (MPSCL_ERROR_INVALID_ARGUMENT); row_bytes at least a
 * row and, when matrices > 1, matrix_bytes at least (rows - 1) * row_bytes + one row
 * (MPSCL_ERROR_INVALID_SHAPE). With one matrix, matrix_bytes is never used to address. */
MPSCL_API mpscl_status mpscl_matrix_create(mpscl_device *d, const mpscl_matrix_descriptor *desc,
                                           mpscl_matrix **out);
/** A matrix over the caller's buffer (retained) at byte `offset` (a multiple of the element size).
 * The buffer must hold offset + (matrices-1)*matrix_bytes + (rows-1)*row_bytes + columns*size
 * bytes (MPSCL_ERROR_OUT_OF_RANGE) and belong to d's context (MPSCL_ERROR_DEVICE_MISMATCH). */
MPSCL_API mpscl_status mpscl_matrix_create_with_buffer(mpscl_device *d, cl_mem buffer, size_t offset,
                                                       const mpscl_matrix_descriptor *desc,
                                                       mpscl_matrix **out);
/** @{ */
/** Blocking copies of the whole matrix (every batch) from/to host memory; host_row_bytes >= one
 * row. Only the elements are touched, never the padding between rows or matrices. */
MPSCL_API mpscl_status mpscl_matrix_write(mpscl_matrix *m, const void *host, size_t host_row_bytes);
MPSCL_API mpscl_status mpscl_matrix_read(const mpscl_matrix *m, void *host, size_t host_row_bytes);
/** @} */

/** @{ */
/** The same copies as commands of cb (the same host layout and refusals), enqueued at once without
 * waiting, and run in encode order with cb's other commands: a write encoded before a kernel is
 * what the kernel reads, a read encoded after it returns what it wrote. They complete, and their
 * errors are reported, at mpscl_command_buffer_wait_until_completed; m is retained until then.
 * host must stay valid and must not be written by the host (encode_write) or read or written by
 * it (encode_read) until that wait returns. A NULL m is MPSCL_ERROR_INVALID_ARGUMENT; cb NULL,
 * committed, or of another device is refused as a kernel encode refuses it
 * (MPSCL_ERROR_INVALID_ARGUMENT, _INVALID_STATE, _DEVICE_MISMATCH). A refused call enqueues
 * nothing. Speed: on a discrete GPU the copy is fastest from pinned host memory (a mapped
 * `CL_MEM_ALLOC_HOST_PTR` buffer); NVIDIA's OpenCL runs non-blocking copies of ordinary pageable
 * memory slower than blocking ones (docs/PERFORMANCE.md). */
MPSCL_API mpscl_status mpscl_matrix_encode_write(mpscl_matrix *m, mpscl_command_buffer *cb,
                                                 const void *host, size_t host_row_bytes);
MPSCL_API mpscl_status mpscl_matrix_encode_read(const mpscl_matrix *m, mpscl_command_buffer *cb,
                                                void *host, size_t host_row_bytes);
/** @} */

/** A matrix over the caller's memory `host`, laid out as the descriptor says (element (b, row, col)
 * at host + b * matrix_bytes + row * row_bytes + col * element size; the same descriptor rules as
 * mpscl_matrix_create), instead of a buffer of the library's. host must hold
 * (matrices-1)*matrix_bytes + (rows-1)*row_bytes + columns*size bytes and be aligned to the
 * element size (else, or NULL, MPSCL_ERROR_INVALID_ARGUMENT; nothing is kept).
 * - Zero copy: on a device that shares the host's memory (CL_DEVICE_HOST_UNIFIED_MEMORY: CPUs,
 *   integrated GPUs) the driver works in place; most need host aligned to
 *   CL_DEVICE_MEM_BASE_ADDR_ALIGN (128 bytes on PoCL), some a page (4096) and a size that is a
 *   multiple of 64 bytes. Otherwise, and on a device with memory of its own, the driver keeps a
 *   copy, which the library keeps in step at the points below: the same results, with copies.
 * - Lifetime: host must stay valid until the matrix is released and every command buffer that
 *   used it has completed (its wait returned, or its last release).
 * - Host access: what the host wrote before an encode (of a kernel or a copy) is what that
 *   encode's commands see. From the first encode into a command buffer until that buffer's
 *   mpscl_command_buffer_wait_until_completed returns, the host must neither read nor write the
 *   memory. When the wait returns, what the buffer's commands wrote is in host memory. A buffer
 *   released without a commit leaves it there too, once its release returns.
 * - Sharing: several command buffers in flight may use the matrix only if none of them writes
 *   it, as with any matrix; objects over host memory must not overlap each other.
 * mpscl_matrix_buffer returns a buffer over the memory (offset 0); the blocking
 * mpscl_matrix_write/read work too and leave host memory current when they return. */
MPSCL_API mpscl_status mpscl_matrix_create_with_host_memory(mpscl_device *d, void *host,
                                                            const mpscl_matrix_descriptor *desc,
                                                            mpscl_matrix **out);

/** @{ */
/** The matrix's descriptor values, byte offset in its buffer, buffer and device (neither
 * retained for the caller). Getters never fail: a NULL matrix gives 0 / NULL. */
MPSCL_API size_t mpscl_matrix_rows(const mpscl_matrix *m);
MPSCL_API size_t mpscl_matrix_columns(const mpscl_matrix *m);
MPSCL_API size_t mpscl_matrix_matrices(const mpscl_matrix *m);
MPSCL_API size_t mpscl_matrix_row_bytes(const mpscl_matrix *m);
MPSCL_API size_t mpscl_matrix_matrix_bytes(const mpscl_matrix *m);
MPSCL_API mpscl_data_type mpscl_matrix_data_type(const mpscl_matrix *m);
MPSCL_API size_t mpscl_matrix_offset(const mpscl_matrix *m);
MPSCL_API cl_mem mpscl_matrix_buffer(const mpscl_matrix *m);
MPSCL_API mpscl_device *mpscl_matrix_device(const mpscl_matrix *m);
/** @} */

/** Adds a reference to m; returns m. */
MPSCL_API mpscl_matrix *mpscl_matrix_retain(mpscl_matrix *m);
MPSCL_API void mpscl_matrix_release(mpscl_matrix *m);   /**< NULL is a no-op */

/** The shape and layout of a vector (MPSVectorDescriptor). */
typedef struct mpscl_vector_descriptor {
    size_t length;           /**< elements of each vector */
    size_t vectors;          /**< vectors in the batch */
    size_t vector_bytes;     /**< bytes from a vector to the next */
    mpscl_data_type data_type; /**< element type */
} mpscl_vector_descriptor;

/** A descriptor of one vector: vectors = 1, vector_bytes = length * element size. */
MPSCL_API mpscl_vector_descriptor mpscl_vector_descriptor_make(size_t length, mpscl_data_type t);
/** A descriptor of a batch of `vectors` vectors, vector_bytes apart. */
MPSCL_API mpscl_vector_descriptor mpscl_vector_descriptor_make_batch(size_t length, size_t vectors,
                                                                     size_t vector_bytes,
                                                                     mpscl_data_type t);

/** A vector (opaque, reference counted). */
typedef struct mpscl_vector mpscl_vector;

/** @{ */
/** The matrix functions for vectors: the same rules and statuses, with length for columns, one
 * row per vector, and packed host memory (length elements per vector). */
MPSCL_API mpscl_status mpscl_vector_create(mpscl_device *d, const mpscl_vector_descriptor *desc,
                                           mpscl_vector **out);
MPSCL_API mpscl_status mpscl_vector_create_with_buffer(mpscl_device *d, cl_mem buffer, size_t offset,
                                                       const mpscl_vector_descriptor *desc,
                                                       mpscl_vector **out);
MPSCL_API mpscl_status mpscl_vector_write(mpscl_vector *v, const void *host);
MPSCL_API mpscl_status mpscl_vector_read(const mpscl_vector *v, void *host);
MPSCL_API mpscl_status mpscl_vector_encode_write(mpscl_vector *v, mpscl_command_buffer *cb,
                                                 const void *host);
MPSCL_API mpscl_status mpscl_vector_encode_read(const mpscl_vector *v, mpscl_command_buffer *cb,
                                                void *host);
/** @} */
/** A vector over the caller's memory, as mpscl_matrix_create_with_host_memory() says; host holds
 * (vectors-1)*vector_bytes + length*size bytes. */
MPSCL_API mpscl_status mpscl_vector_create_with_host_memory(mpscl_device *d, void *host,
                                                            const mpscl_vector_descriptor *desc,
                                                            mpscl_vector **out);

/** @{ */
/** The vector's descriptor values, byte offset in its buffer, buffer and device (neither
 * retained for the caller). Getters never fail: a NULL vector gives 0 / NULL. */
MPSCL_API size_t mpscl_vector_length(const mpscl_vector *v);
MPSCL_API size_t mpscl_vector_vectors(const mpscl_vector *v);
MPSCL_API size_t mpscl_vector_vector_bytes(const mpscl_vector *v);
MPSCL_API mpscl_data_type mpscl_vector_data_type(const mpscl_vector *v);
MPSCL_API size_t mpscl_vector_offset(const mpscl_vector *v);
MPSCL_API cl_mem mpscl_vector_buffer(const mpscl_vector *v);
MPSCL_API mpscl_device *mpscl_vector_device(const mpscl_vector *v);
/** @} */

/** Adds a reference to v; returns v. */
MPSCL_API mpscl_vector *mpscl_vector_retain(mpscl_vector *v);
MPSCL_API void mpscl_vector_release(mpscl_vector *v);   /**< NULL is a no-op */

#ifdef __cplusplus
}
#endif

/** @} */
#endif
