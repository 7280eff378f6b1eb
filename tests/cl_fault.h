/* tests/cl_fault.h: a test-only OpenCL interposer (tests/cl_fault.c) that counts the OpenCL calls
 * libmpscl makes and makes the k-th one fail with a chosen error, libuv's loop-OOM idea applied
 * to OpenCL. Link cl_fault.c into the test executable with -export-dynamic: the executable's
 * cl* definitions then come first in the dynamic linker's search order, so libmpscl.so binds to
 * them, and they forward to the real loader through dlsym(RTLD_NEXT, ...).
 *
 * Only calls made from libmpscl's code are counted, failed and tracked (the caller's address is
 * checked), so the test's own OpenCL calls and any the driver makes through the loader pass
 * through untouched, and counts do not depend on the driver's threads.
 *
 * A failed call does what a failing driver call does: an error code, or NULL with the code in
 * *errcode_ret; nothing is created or retained. The exception is clRelease*: its error is
 * returned, but the object is released anyway, since the library cannot retry a release (its
 * release functions return void) and a real driver that fails one leaves the object's fate
 * undefined; forwarding keeps the leak accounting meaningful.
 *
 * Thread safety: every function is safe from any thread (atomics, and locks around the replaced
 * device strings and the build gate). */
#ifndef MPSCL_TEST_CL_FAULT_H
#define MPSCL_TEST_CL_FAULT_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>

/* Resets the call counter to 0 and makes the k-th counted call from now on fail with err
 * (k = 0: count only, fail nothing). Forgets the last failed call. */
void cl_fault_arm(long k, cl_int err);
/* Stops failing calls; the counter keeps counting. */
void cl_fault_disarm(void);
/* While on, the library's buffers made with CL_MEM_COPY_HOST_PTR hold words of `pattern`
 * instead of the library's data: counters that do not start where the library put them. */
void cl_fault_corrupt_copies(int on, cl_uint pattern);
/* While on, the library's buffers made over host memory (CL_MEM_USE_HOST_PTR) are made as a
 * device with memory of its own makes them: a copy, which host memory sees only through a map
 * (copied in unless it discards the region) and which sees host memory only through the unmap of
 * a mapping for writing. Tells whether the library keeps the two in step as OpenCL asks. */
void cl_fault_separate_memory(int on);
/* Calls counted since the last cl_fault_arm. */
long cl_fault_calls(void);
/* The i-th counted call (1-based) since the last arm, e.g. "clGetDeviceInfo(CL_DEVICE_TYPE)";
 * NULL past the calls made or past the first CL_FAULT_LOG calls. */
#define CL_FAULT_LOG 8192
const char *cl_fault_call_name(long i);
/* The call that was made to fail since the last arm, in the same form, or NULL. */
const char *cl_fault_failed_call(void);
/* OpenCL objects the library holds: creations (including events handed out by enqueues) and
 * retains minus releases, over the library's calls since the program started. 0 when every
 * object the library made or retained was released. */
long cl_fault_live(void);

/* Makes the library's clGetDeviceInfo(param) answer `value` for every device, as a driver would:
 * the size with the terminating NUL, CL_INVALID_VALUE for a buffer too small. For string
 * properties (CL_DEVICE_NAME, CL_DEVICE_EXTENSIONS); value is copied, NULL restores the
 * driver's answer. The test's own queries still reach the driver. */
void cl_fault_device_string(cl_device_info param, const char *value);

/* From now on, holds each of the library's clBuildProgram calls on a program made from source
 * (not those of cached binaries) before the driver sees it, until `quorum` builds are held at
 * once (0: no quorum), until cl_fault_release_builds, or for timeout_ms at most; builds go
 * through again once the quorum is met or the gate released. Lets a test run calls while a build
 * is under way, or make the builds of several threads overlap. */
void cl_fault_hold_builds(int quorum, long timeout_ms);
/* Lets every held build go on, and holds no later one. */
void cl_fault_release_builds(void);
/* Builds held right now. */
int cl_fault_builds_held(void);
/* Builds that left the gate by the timeout since the last cl_fault_hold_builds. */
int cl_fault_builds_timed_out(void);
/* The program of the last kernel the library created on the calling thread, or NULL. */
cl_program cl_fault_kernel_program(void);

#endif
