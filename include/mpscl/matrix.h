/* mpscl_matrix and mpscl_vector (MPSMatrix, MPSVector): typed, strided views of a cl_mem buffer.
 * Matrix layout is MPS's: element (b, row, col) lives at
 *   offset + b * matrix_bytes + row * row_bytes + col * element size.
 * Vector layout: element (v, i) at offset + v * vector_bytes + i * element size.
 * Host layout of write/read: matrices packed one after another, each rows * host_row_bytes bytes
 * (vectors: packed, length elements each).
 * Thread safety: retain/release and getters from any thread. Reads and writes are blocking and
 * use the device's transfer queue: they are ordered after work of a command buffer only once that
 * buffer has been waited on. */
#ifndef MPSCL_MATRIX_H
#define MPSCL_MATRIX_H

#include <mpscl/device.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mpscl_matrix_descriptor {
    size_t rows, columns, matrices, row_bytes, matrix_bytes;
    mpscl_data_type data_type;
} mpscl_matrix_descriptor;

/* matrices = 1, matrix_bytes = rows * row_bytes. */
MPSCL_API mpscl_matrix_descriptor mpscl_matrix_descriptor_make(size_t rows, size_t columns,
                                                               size_t row_bytes, mpscl_data_type t);
MPSCL_API mpscl_matrix_descriptor mpscl_matrix_descriptor_make_batch(size_t rows, size_t columns,
    size_t matrices, size_t row_bytes, size_t matrix_bytes, mpscl_data_type t);
/* A row stride for `columns` elements, padded to 64 bytes so rows start on cache lines and vector
 * loads stay aligned; 0 for an unknown type or an overflow. */
MPSCL_API size_t mpscl_matrix_descriptor_row_bytes_from_columns(size_t columns, mpscl_data_type t);

typedef struct mpscl_matrix mpscl_matrix;

/* A matrix over a new buffer of matrices * matrix_bytes bytes (contents undefined).
 * Descriptor rules: rows, columns, matrices > 0 (else MPSCL_ERROR_INVALID_SHAPE); row_bytes and
 * matrix_bytes multiples of the element size (MPSCL_ERROR_INVALID_ARGUMENT); row_bytes at least a
 * row and, when matrices > 1, matrix_bytes at least (rows - 1) * row_bytes + one row
 * (MPSCL_ERROR_INVALID_SHAPE). With one matrix, matrix_bytes is never used to address. */
MPSCL_API mpscl_status mpscl_matrix_create(mpscl_device *d, const mpscl_matrix_descriptor *desc,
                                           mpscl_matrix **out);
/* A matrix over the caller's buffer (retained) at byte `offset` (a multiple of the element size).
 * The buffer must hold offset + (matrices-1)*matrix_bytes + (rows-1)*row_bytes + columns*size
 * bytes (MPSCL_ERROR_OUT_OF_RANGE) and belong to d's context (MPSCL_ERROR_DEVICE_MISMATCH). */
MPSCL_API mpscl_status mpscl_matrix_create_with_buffer(mpscl_device *d, cl_mem buffer, size_t offset,
                                                       const mpscl_matrix_descriptor *desc,
                                                       mpscl_matrix **out);
/* Blocking copies of the whole matrix (every batch) from/to host memory; host_row_bytes >= one
 * row. Only the elements are touched, never the padding between rows or matrices. */
MPSCL_API mpscl_status mpscl_matrix_write(mpscl_matrix *m, const void *host, size_t host_row_bytes);
MPSCL_API mpscl_status mpscl_matrix_read(const mpscl_matrix *m, void *host, size_t host_row_bytes);

MPSCL_API size_t mpscl_matrix_rows(const mpscl_matrix *m);
MPSCL_API size_t mpscl_matrix_columns(const mpscl_matrix *m);
MPSCL_API size_t mpscl_matrix_matrices(const mpscl_matrix *m);
MPSCL_API size_t mpscl_matrix_row_bytes(const mpscl_matrix *m);
MPSCL_API size_t mpscl_matrix_matrix_bytes(const mpscl_matrix *m);
MPSCL_API mpscl_data_type mpscl_matrix_data_type(const mpscl_matrix *m);
MPSCL_API size_t mpscl_matrix_offset(const mpscl_matrix *m);
MPSCL_API cl_mem mpscl_matrix_buffer(const mpscl_matrix *m);
MPSCL_API mpscl_device *mpscl_matrix_device(const mpscl_matrix *m);

MPSCL_API mpscl_matrix *mpscl_matrix_retain(mpscl_matrix *m);
MPSCL_API void mpscl_matrix_release(mpscl_matrix *m);   /* NULL is a no-op */

typedef struct mpscl_vector_descriptor {
    size_t length, vectors, vector_bytes;
    mpscl_data_type data_type;
} mpscl_vector_descriptor;

/* vectors = 1, vector_bytes = length * element size. */
MPSCL_API mpscl_vector_descriptor mpscl_vector_descriptor_make(size_t length, mpscl_data_type t);
MPSCL_API mpscl_vector_descriptor mpscl_vector_descriptor_make_batch(size_t length, size_t vectors,
                                                                     size_t vector_bytes,
                                                                     mpscl_data_type t);

typedef struct mpscl_vector mpscl_vector;

/* Same rules as the matrix functions, with length for columns, one row per vector. */
MPSCL_API mpscl_status mpscl_vector_create(mpscl_device *d, const mpscl_vector_descriptor *desc,
                                           mpscl_vector **out);
MPSCL_API mpscl_status mpscl_vector_create_with_buffer(mpscl_device *d, cl_mem buffer, size_t offset,
                                                       const mpscl_vector_descriptor *desc,
                                                       mpscl_vector **out);
MPSCL_API mpscl_status mpscl_vector_write(mpscl_vector *v, const void *host);
MPSCL_API mpscl_status mpscl_vector_read(const mpscl_vector *v, void *host);

MPSCL_API size_t mpscl_vector_length(const mpscl_vector *v);
MPSCL_API size_t mpscl_vector_vectors(const mpscl_vector *v);
MPSCL_API size_t mpscl_vector_vector_bytes(const mpscl_vector *v);
MPSCL_API mpscl_data_type mpscl_vector_data_type(const mpscl_vector *v);
MPSCL_API size_t mpscl_vector_offset(const mpscl_vector *v);
MPSCL_API cl_mem mpscl_vector_buffer(const mpscl_vector *v);
MPSCL_API mpscl_device *mpscl_vector_device(const mpscl_vector *v);

MPSCL_API mpscl_vector *mpscl_vector_retain(mpscl_vector *v);
MPSCL_API void mpscl_vector_release(mpscl_vector *v);   /* NULL is a no-op */

#ifdef __cplusplus
}
#endif

#endif
