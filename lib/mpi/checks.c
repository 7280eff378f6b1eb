/* libmpscl-mpi: what a rank checks of its operands before the agreement, so that a refusal
 * writes nothing anywhere: sources clipped as the core clips them, outputs and vectors that fit
 * the share, and sizes the step's messages can carry. */
#include "config.h"

#include <limits.h>

#include "step.h"

static int
same_context(const step *st, mpscl_device *d)
{
    return mpscl_device_cl_context(d) == mpscl_device_cl_context(st->device);
}

static size_t
min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* Narrows rows, columns and batches to what m holds past origin o, as the core clips a source. */
mpscl_status
mpscl_mpi__clip_source(step *st, const mpscl_matrix *m, mpscl_origin o, size_t batch_start,
            const char *name)
{
    size_t rows, cols, mats;

    if (m == NULL)
        return mpscl_mpi__fail(MPSCL_ERROR_INVALID_ARGUMENT, "%s (rank %d): %s is NULL", st->fn, st->rank,
                    name);
    rows = mpscl_matrix_rows(m);
    cols = mpscl_matrix_columns(m);
    mats = mpscl_matrix_matrices(m);
    if (!same_context(st, mpscl_matrix_device(m)))
        return mpscl_mpi__fail(MPSCL_ERROR_DEVICE_MISMATCH,
                    "%s (rank %d): %s belongs to another OpenCL context than the kernel", st->fn,
                    st->rank, name);
    if (o.x >= rows || o.y >= cols)
        return mpscl_mpi__fail(MPSCL_ERROR_OUT_OF_RANGE, "%s (rank %d): origin (%zu, %zu) is outside %s of "
                    "%zu x %zu", st->fn, st->rank, o.x, o.y, name, rows, cols);
    if (batch_start >= mats)
        return mpscl_mpi__fail(MPSCL_ERROR_OUT_OF_RANGE, "%s (rank %d): batch_start %zu is past the %zu "
                    "matrices of %s", st->fn, st->rank, batch_start, mats, name);
    st->rows = min_size(st->rows, rows - o.x);
    st->columns = min_size(st->columns, cols - o.y);
    st->batches = min_size(st->batches, mats - batch_start);
    return MPSCL_SUCCESS;
}

/* An output matrix must hold the share's region past its origin (nothing to hold when the share
 * is empty) and have the input's type. */
mpscl_status
mpscl_mpi__check_result(const step *st, const mpscl_matrix *m, mpscl_origin o, mpscl_data_type type,
             const char *name)
{
    if (m == NULL)
        return mpscl_mpi__fail(MPSCL_ERROR_INVALID_ARGUMENT, "%s (rank %d): %s is NULL", st->fn, st->rank,
                    name);
    if (!same_context(st, mpscl_matrix_device(m)))
        return mpscl_mpi__fail(MPSCL_ERROR_DEVICE_MISMATCH,
                    "%s (rank %d): %s belongs to another OpenCL context than the kernel", st->fn,
                    st->rank, name);
    if (mpscl_matrix_data_type(m) != type)
        return mpscl_mpi__fail(MPSCL_ERROR_INVALID_DATA_TYPE, "%s (rank %d): %s has data type %d, the input "
                    "has %d: matrices must share one", st->fn, st->rank, name,
                    (int)mpscl_matrix_data_type(m), (int)type);
    if (st->rows == 0)
        return MPSCL_SUCCESS;
    if (o.x >= mpscl_matrix_rows(m) || o.y >= mpscl_matrix_columns(m))
        return mpscl_mpi__fail(MPSCL_ERROR_OUT_OF_RANGE, "%s (rank %d): result origin (%zu, %zu) is outside "
                    "%s of %zu x %zu", st->fn, st->rank, o.x, o.y, name, mpscl_matrix_rows(m),
                    mpscl_matrix_columns(m));
    if (mpscl_matrix_rows(m) - o.x < st->rows || mpscl_matrix_columns(m) - o.y < st->columns)
        return mpscl_mpi__fail(MPSCL_ERROR_INVALID_SHAPE, "%s (rank %d): %s has %zu x %zu past its origin, "
                    "the share is %zu x %zu", st->fn, st->rank, name, mpscl_matrix_rows(m) - o.x,
                    mpscl_matrix_columns(m) - o.y, st->rows, st->columns);
    if (mpscl_matrix_matrices(m) < st->batch_first + st->batches)
        return mpscl_mpi__fail(MPSCL_ERROR_INVALID_SHAPE, "%s (rank %d): %s has %zu matrices, the batch needs "
                    "%zu", st->fn, st->rank, name, mpscl_matrix_matrices(m),
                    st->batch_first + st->batches);
    return MPSCL_SUCCESS;
}

/* A vector: present when required, on the kernel's context, float32 or the matrices' type, and
 * covering the columns of every matrix of the batch. */
mpscl_status
mpscl_mpi__check_vector(const step *st, const mpscl_vector *v, int required, mpscl_data_type type,
             const char *name)
{
    if (v == NULL)
        return required ? mpscl_mpi__fail(MPSCL_ERROR_INVALID_ARGUMENT, "%s (rank %d): %s is NULL", st->fn,
                               st->rank, name)
                        : MPSCL_SUCCESS;
    if (!same_context(st, mpscl_vector_device(v)))
        return mpscl_mpi__fail(MPSCL_ERROR_DEVICE_MISMATCH,
                    "%s (rank %d): %s belongs to another OpenCL context than the kernel", st->fn,
                    st->rank, name);
    if (mpscl_vector_data_type(v) != type && mpscl_vector_data_type(v) != MPSCL_DATA_TYPE_FLOAT32)
        return mpscl_mpi__fail(MPSCL_ERROR_INVALID_DATA_TYPE, "%s (rank %d): %s has data type %d: vectors "
                    "are float32 or the matrices' type %d", st->fn, st->rank, name,
                    (int)mpscl_vector_data_type(v), (int)type);
    if (mpscl_vector_length(v) < st->columns)
        return mpscl_mpi__fail(MPSCL_ERROR_INVALID_SHAPE, "%s (rank %d): %s has %zu elements, the region has "
                    "%zu columns", st->fn, st->rank, name, mpscl_vector_length(v), st->columns);
    if (mpscl_vector_vectors(v) < st->batch_first + st->batches)
        return mpscl_mpi__fail(MPSCL_ERROR_INVALID_SHAPE, "%s (rank %d): %s has %zu vectors, the batch needs "
                    "%zu", st->fn, st->rank, name, mpscl_vector_vectors(v),
                    st->batch_first + st->batches);
    return MPSCL_SUCCESS;
}

/* The columns and batches every rank must share, the partials' size, and whether the step's
 * messages fit MPI's int counts. */
mpscl_status
mpscl_mpi__check_sizes(step *st)
{
    if (st->columns == 0 || st->batches == 0)
        return mpscl_mpi__fail(MPSCL_ERROR_INVALID_SHAPE, "%s (rank %d): the region is empty (%zu columns, "
                    "%zu matrices)", st->fn, st->rank, st->columns, st->batches);
    if (st->length == 0 || st->batches > (size_t)INT_MAX / st->length ||
        st->batches * st->length + 1 > (size_t)INT_MAX / (size_t)st->size)
        return mpscl_mpi__fail(MPSCL_ERROR_UNSUPPORTED, "%s (rank %d): %zu matrices of %zu partial words "
                    "from %d ranks pass MPI's int counts", st->fn, st->rank, st->batches,
                    st->length, st->size);
    st->words = 1 + st->batches * st->length;
    return MPSCL_SUCCESS;
}
