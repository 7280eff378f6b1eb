/* tests/consumer.c: built by 'make installcheck' against the installed library with nothing but
 * `pkg-config --cflags --libs mpscl`, proving the headers, the .pc file and the shared library
 * work outside the source tree. Prints the linked library's version and the default device. */
#include <stdio.h>

#include <mpscl/mpscl.h>

int
main(void)
{
    mpscl_device *d = NULL;
    int major, minor, patch;
    mpscl_status s;

    /* The run-time version, not MPSCL_VERSION_STRING: this proves the library itself linked. */
    mpscl_version(&major, &minor, &patch);
    s = mpscl_device_create_default(&d);
    if (s != MPSCL_SUCCESS) {
        fprintf(stderr, "mpscl %d.%d.%d: no default device: %s: %s\n", major, minor, patch,
                mpscl_status_string(s), mpscl_last_error_message());
        return 1;
    }
    printf("mpscl %d.%d.%d: default device: %s\n", major, minor, patch, mpscl_device_name(d));
    mpscl_device_release(d);
    return 0;
}
