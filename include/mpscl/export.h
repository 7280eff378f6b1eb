/** @addtogroup mpscl
 * @{ */
#ifndef MPSCL_EXPORT_H
#define MPSCL_EXPORT_H

/** @def MPSCL_API
 * Marks the symbols that leave the shared library; everything else is hidden. */
#if defined(_WIN32) && defined(MPSCL_BUILDING)
#define MPSCL_API __declspec(dllexport)
#elif defined(__GNUC__) || defined(__clang__)
#define MPSCL_API __attribute__((visibility("default")))
#else
#define MPSCL_API
#endif

/** @} */
#endif
