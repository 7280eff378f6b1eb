/* Shared by the two halves of the misuse suite: check_misuse.c (encode and creation tables) and
 * misuse_calls.c (every other public function). */
#ifndef MPSCL_TEST_MISUSE_H
#define MPSCL_TEST_MISUSE_H

#include <string.h>

#include "util.h"

enum { R = 6, C = 5 };

/* A pointer no call may leave in *out after a failure. */
extern int misuse_poison;
#define POISON ((void *)&misuse_poison)

/* Adds misuse_calls.c's tests to tc (which has the device fixture). */
void misuse_add_calls(TCase *tc);

#endif
