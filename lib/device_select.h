/* The device selector: parsing a selector string and matching it against a list of device
 * descriptions. No OpenCL call and no global state, so that every form and every malformed
 * string can be unit-tested without devices (tests/check_device.c); lib/device.c supplies the
 * descriptions. The syntax is documented at mpscl_device_create_with_selector. Internal. */
#ifndef MPSCL_DEVICE_SELECT_H
#define MPSCL_DEVICE_SELECT_H

#include <stddef.h>

#include <mpscl/mpscl.h>

typedef enum mpscl__selector_kind {
    MPSCL__SELECT_DEFAULT,      /* empty or blank: the first GPU, else the first device */
    MPSCL__SELECT_TYPE,         /* "gpu" or "cpu" */
    MPSCL__SELECT_INDEX,        /* "<platform>:<device>" */
    MPSCL__SELECT_NAME          /* a substring of the device name */
} mpscl__selector_kind;

/* A parsed selector. name points into the parsed string (its blanks trimmed, so not
 * NUL-terminated there): the string must outlive the selector. */
typedef struct mpscl__selector {
    mpscl__selector_kind kind;
    cl_device_type type;
    cl_uint platform, device;
    const char *name;
    size_t name_len;
} mpscl__selector;

/* What matching needs of one device. type 0 and name NULL stand for a query that failed: such a
 * device matches no type and no name, but another may. platform and device are the ordinals of
 * the "<platform>:<device>" form. */
typedef struct mpscl__device_desc {
    cl_uint platform, device;
    cl_device_type type;
    const char *name;
} mpscl__device_desc;

/* MPSCL_SUCCESS, or MPSCL_ERROR_INVALID_ARGUMENT with what is wrong written to why (never more
 * than why_size bytes, NUL included; the selector itself is not quoted there). */
mpscl_status mpscl__selector_parse(const char *text, mpscl__selector *out, char *why,
                                   size_t why_size);
/* Whether matching needs the devices' types, or their names: the enumeration asks the driver
 * only for what the selector reads. */
int mpscl__selector_needs_type(const mpscl__selector *sel);
int mpscl__selector_needs_name(const mpscl__selector *sel);
/* Index of the first device in list (enumeration order) that sel chooses, or count when none
 * does. */
size_t mpscl__selector_match(const mpscl__selector *sel, const mpscl__device_desc *list,
                             size_t count);

#endif
