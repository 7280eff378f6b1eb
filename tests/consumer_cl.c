/* tests/consumer_cl.c: an installed-library consumer that calls OpenCL itself, as a program that
 * wraps its own buffers does. Built by 'make installcheck' with nothing but
 * `pkg-config --cflags --libs mpscl`, then with CMake's find_package(mpscl CONFIG) and
 * mpscl::mpscl: either way OpenCL must come with mpscl, since mpscl's interface includes it.
 * It makes a cl_mem on mpscl's context (clCreateBuffer), wraps it in a matrix, writes through
 * mpscl, reads back through its own queue (clEnqueueReadBuffer), and compares. */
#include <stdio.h>
#include <string.h>

#include <mpscl/mpscl.h>

enum { ROWS = 3, COLUMNS = 5 };

static int
fail(const char *what, mpscl_status s)
{
    fprintf(stderr, "consumer_cl: %s: %s: %s\n", what, mpscl_status_string(s),
            mpscl_last_error_message());
    return 1;
}

/* The matrix's rows hold COLUMNS floats and are padded to the library's stride. */
static int
round_trip(mpscl_device *d)
{
    size_t row_bytes = mpscl_matrix_descriptor_row_bytes_from_columns(COLUMNS,
                                                                      MPSCL_DATA_TYPE_FLOAT32);
    mpscl_matrix_descriptor md = mpscl_matrix_descriptor_make(ROWS, COLUMNS, row_bytes,
                                                              MPSCL_DATA_TYPE_FLOAT32);
    float host[ROWS][COLUMNS], back[ROWS * 64];
    cl_int err;
    cl_mem buf;
    cl_command_queue q;
    mpscl_matrix *m = NULL;
    mpscl_status s;
    int rc = 1;

    for (int i = 0; i < ROWS; i++)
        for (int j = 0; j < COLUMNS; j++)
            host[i][j] = (float)(10 * i + j);
    buf = clCreateBuffer(mpscl_device_cl_context(d), CL_MEM_READ_WRITE, ROWS * row_bytes, NULL,
                         &err);
    if (err != CL_SUCCESS) {
        fprintf(stderr, "consumer_cl: clCreateBuffer: %d\n", (int)err);
        return 1;
    }
    q = clCreateCommandQueue(mpscl_device_cl_context(d), mpscl_device_cl_device_id(d), 0, &err);
    if (err != CL_SUCCESS) {
        fprintf(stderr, "consumer_cl: clCreateCommandQueue: %d\n", (int)err);
        clReleaseMemObject(buf);
        return 1;
    }
    if ((s = mpscl_matrix_create_with_buffer(d, buf, 0, &md, &m)) != MPSCL_SUCCESS)
        rc = fail("matrix over the program's buffer", s);
    else if ((s = mpscl_matrix_write(m, host, sizeof host[0])) != MPSCL_SUCCESS)
        rc = fail("write", s);
    else if ((err = clEnqueueReadBuffer(q, buf, CL_TRUE, 0, ROWS * row_bytes, back, 0, NULL,
                                        NULL)) != CL_SUCCESS)
        fprintf(stderr, "consumer_cl: clEnqueueReadBuffer: %d\n", (int)err);
    else {
        rc = 0;
        for (int i = 0; i < ROWS; i++)
            if (memcmp(&back[i * row_bytes / sizeof(float)], host[i], sizeof host[i]) != 0) {
                fprintf(stderr, "consumer_cl: row %d differs after the round trip\n", i);
                rc = 1;
            }
    }
    mpscl_matrix_release(m);
    clReleaseCommandQueue(q);
    clReleaseMemObject(buf);
    return rc;
}

int
main(void)
{
    mpscl_device *d = NULL;
    mpscl_status s;
    int rc;

    if ((s = mpscl_device_create_default(&d)) != MPSCL_SUCCESS)
        return fail("default device", s);
    if (ROWS * mpscl_matrix_descriptor_row_bytes_from_columns(COLUMNS, MPSCL_DATA_TYPE_FLOAT32) >
        ROWS * 64 * sizeof(float)) {
        fprintf(stderr, "consumer_cl: row stride larger than expected\n");
        mpscl_device_release(d);
        return 1;
    }
    rc = round_trip(d);
    if (rc == 0)
        printf("consumer_cl: %d x %d matrix over the program's own cl_mem on %s: ok\n", ROWS,
               COLUMNS, mpscl_device_name(d));
    mpscl_device_release(d);
    return rc;
}
