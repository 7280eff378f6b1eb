/** @defgroup mpscl_device one OpenCL device and its context (MTLDevice)
 * @ingroup mpscl
 * @details mpscl_device (MTLDevice): one OpenCL context and device, plus the programs built for
 * it. Kernel programs are built on the first encode that needs them, and kept on disk (see
 * `MPSCL_CACHE_DIR` in mpscl(3)) so that a new process skips the OpenCL compiler.
 *
 * @par Thread safety
 * Every function here may be called from any thread on a shared device. A program build (on the
 * first encode that needs it) does not hold up other threads' calls on the device; threads whose
 * first encodes need the same program at once may each compile it, and the device keeps one,
 * which they all use.
 * @{ */
#ifndef MPSCL_DEVICE_H
#define MPSCL_DEVICE_H

#include <mpscl/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/** An OpenCL context and device (opaque, reference counted). */
typedef struct mpscl_device mpscl_device;

/** A device chosen by a selector string, in a new context of its own. The forms, tried in this
 * order on the selector with leading and trailing blanks (space, `\t`, `\n`, `\v`, `\f`, `\r`)
 * removed:
 *
 *     ""            empty, or blanks only: the default choice, the first device whose
 *                   CL_DEVICE_TYPE includes GPU, else the first device.
 *     "gpu", "cpu"  the first device whose CL_DEVICE_TYPE includes GPU (resp. CPU); the words
 *                   match in any case ("GPU", "Cpu"). Unlike "", "gpu" never falls back.
 *     "<p>:<d>"     device d of platform p, both decimal indices from 0 in clGetPlatformIDs and
 *                   clGetDeviceIDs(CL_DEVICE_TYPE_ALL) order (tools/mpscl-info lists them). This
 *                   form is recognised when the selector contains ':' and starts with a digit,
 *                   ':', '+' or '-'; it must then be exactly digits, ':', digits, each index at
 *                   most 4294967295 (leading zeros allowed, no sign, no inner blanks).
 *     anything else a substring of CL_DEVICE_NAME, compared without regard to ASCII case and at
 *                   any position; inner blanks are part of it. The first device in the order
 *                   above whose name contains it. A name fragment that starts with a digit and
 *                   holds a ':' reads as indices, and "gpu"/"cpu" as types: use more of the name.
 *
 * "First" is always in platform order, then device order. Errors (*out NULL on every failure):
 * MPSCL_ERROR_INVALID_ARGUMENT for a NULL selector or out, and for a malformed `"<p>:<d>"` ("1:",
 * ":2", "1:x", "1:2:3", "-1:0", an index above 4294967295), with a message quoting the selector
 * and saying what is wrong; these are refused before any OpenCL call. MPSCL_ERROR_NO_DEVICE when
 * no OpenCL device exists, or a well-formed selector matches none (indices past the end, no
 * device of that type, no name containing the fragment): never a silent fallback. */
MPSCL_API mpscl_status mpscl_device_create_with_selector(const char *selector,
                                                         mpscl_device **out);
/** The default device: mpscl_device_create_with_selector with the value of the MPSCL_DEVICE
 * environment variable, or "" (the first GPU, else the first device) when it is unset. A set
 * MPSCL_DEVICE that is malformed or matches nothing is an error with the same statuses, its
 * message naming MPSCL_DEVICE, not a fallback to the default choice. */
MPSCL_API mpscl_status mpscl_device_create_default(mpscl_device **out);
/** Wraps the caller's context and device; both are retained and released with the device. */
MPSCL_API mpscl_status mpscl_device_create_from_cl(cl_context context, cl_device_id device,
                                                   mpscl_device **out);
/** Number of devices over all platforms (0 is a success when no platform exists). */
MPSCL_API mpscl_status mpscl_device_count(size_t *count);
/** Device `index` in platform order, then device order, in a new context of its own. */
MPSCL_API mpscl_status mpscl_device_create_by_index(size_t index, mpscl_device **out);

/** Adds a reference to d; returns d. */
MPSCL_API mpscl_device *mpscl_device_retain(mpscl_device *d);
MPSCL_API void mpscl_device_release(mpscl_device *d);       /**< NULL is a no-op */

/** @{ */
/** The device's name (CL_DEVICE_NAME, whole), OpenCL context, device and platform. Getters never
 * fail: NULL object gives NULL / 0. */
MPSCL_API const char *mpscl_device_name(const mpscl_device *d);
MPSCL_API cl_context mpscl_device_cl_context(const mpscl_device *d);
MPSCL_API cl_device_id mpscl_device_cl_device_id(const mpscl_device *d);
MPSCL_API cl_platform_id mpscl_device_cl_platform_id(const mpscl_device *d);
/** @} */
/** 1 when the kernels can use type t on this device: float32, float16 and bfloat16 (storage
 * formats with fp32 arithmetic, core OpenCL 1.2) everywhere; float64 (fp64 arithmetic) where the
 * device reports cl_khr_fp64 (cl_amd_fp64 alone is not enough: the kernels use the Khronos
 * extension) and MPSCL_DISABLE_FP64=1 was not set when the device object was created (a switch
 * for testing the refusal). 0 for NULL or an unknown type. */
MPSCL_API int mpscl_device_supports_data_type(const mpscl_device *d, mpscl_data_type t);
/** How many OpenCL programs this device object has compiled from source and kept so far (a
 * diagnostic: the device keeps one program per (kernel family, build options) pair; a copy that
 * another thread compiled at the same moment is dropped and not counted). */
MPSCL_API size_t mpscl_device_programs_built(const mpscl_device *d);
/** How many programs this device object has loaded from the persistent program cache instead of
 * compiling them (a diagnostic; see README, "Program cache"). built + loaded is the number of
 * programs the device holds. */
MPSCL_API size_t mpscl_device_programs_loaded(const mpscl_device *d);

#ifdef __cplusplus
}
#endif

/** @} */
#endif
