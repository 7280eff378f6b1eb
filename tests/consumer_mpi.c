/* tests/consumer_mpi.c: built by 'make installcheck' against the installed libraries with nothing
 * but `pkg-config --cflags --libs mpscl-mpi`, proving that header, .pc file and library work
 * outside the source tree. Runs as a singleton MPI process: a call with MPI_COMM_NULL must be
 * refused with MPSCL_ERROR_INVALID_ARGUMENT and a message. */
#include <stdio.h>

#include <mpscl/mpi.h>

int
main(int argc, char **argv)
{
    mpscl_status s;
    int rc = 0;

    if (MPI_Init(&argc, &argv) != MPI_SUCCESS)
        return 1;
    s = mpscl_mpi_matrix_batch_normalization_run(NULL, MPI_COMM_NULL, NULL, NULL, NULL, NULL,
                                                 NULL, NULL, NULL, NULL, NULL);
    if (s != MPSCL_ERROR_INVALID_ARGUMENT || mpscl_mpi_last_error_message()[0] == '\0') {
        fprintf(stderr, "mpscl-mpi: expected a refusal, got %s\n", mpscl_status_string(s));
        rc = 1;
    } else {
        printf("mpscl-mpi: %s\n", mpscl_mpi_last_error_message());
    }
    MPI_Finalize();
    return rc;
}
