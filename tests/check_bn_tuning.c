/* Every launch variant the planner can pick, forced through MPSCL_TUNE, gives the reference's
 * answer and the same bits run after run: vector and scalar loads, small and large work-groups,
 * narrow column tiles, one chunk, many chunks (more than rows per item allow by default); the
 * gradient and the forward with statistics in several launches and in one (bn_gradient_fused:
 * slabs of one tile to all of them, interleaves from one slab at a time to all at once;
 * bn_forward_fused; both with tiles narrower than a cache line, one chunk per tile); the
 * gradient's work-group layout (rows=0, what GPUs get) and its row streaming layout (rows=1, what
 * CPUs get) on any device, whichever the planner would pick there, and its one group per column
 * tile (tile=1, short columns; the gradient and the forward with statistics). The gradient runs
 * in training mode and with frozen statistics. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "bn_cases.h"
#include "util.h"

static const char *const tunings[] = {
    "rows=0,tile=0,vw=1",           /* scalar loads where vector loads would be chosen */
    "rows=0,tile=0,vw=4",           /* the default where C % 4 == 0 */
    "rows=0,tile=0,vw=8",           /* 8 columns per item where C % 8 == 0 */
    "rows=0,tile=0,wg=32",          /* small groups: more column tiles and chunks */
    "rows=0,tile=0,wg=64,lx=4",     /* narrow tiles, many rows per group */
    "rows=0,tile=0,wg=256,lx=1",    /* one column item per group */
    "rows=0,tile=0,chunks=1",       /* the whole column in one group: long sequential sums */
    "rows=0,tile=0,chunks=7",       /* a ragged last chunk */
    "rows=0,tile=0,chunks=1000",    /* chunks capped by the rows: one row per item */
    "rows=0,tile=0,fused=0",        /* two launches, where the device would get one */
    "fused=1",              /* one launch, the planner's tiles, chunks and interleave */
    "fused=1,lag=1",        /* one tile's pass 1 ahead of its pass 2 */
    "fused=1,lag=1000",     /* every tile's pass 1 before any pass 2 */
    "fused=1,chunks=7,lag=3",   /* ragged chunks, an interleave that does not divide the tiles */
    "fused=1,slab=2,lag=2",     /* slabs of two tiles (one where the tiles are odd) */
    "fused=1,slab=1000",        /* every tile in one slab */
    "fused=1,wg=32,lx=2",   /* 8-column tiles: padded partials */
    "fused=1,vw=1,chunks=1",    /* scalar loads, one chunk per tile */
    "rows=1",               /* row streaming, the planner's tiles and chunks */
    "rows=1,vw=4",          /* 4 columns per load where 8 would be chosen */
    "rows=1,vw=1",          /* scalar loads */
    "rows=1,lx=2",          /* tiles of 2 items: many tiles, the last ragged */
    "rows=1,chunks=1",      /* one chunk, one launch: blocks of ROW_BLOCK rows carry the precision */
    "rows=1,chunks=7",      /* a ragged last chunk */
    "rows=1,chunks=1000",   /* chunks capped by the rows: one row each */
    "rows=0,tile=1",        /* one group per column tile, where N allows (else the plan's) */
    "rows=0,tile=1,wg=1024,lx=4",   /* 256 local rows: every case fits */
    "rows=0,tile=1,vw=1,wg=64,lx=8",    /* scalar loads, 8 local rows: N up to 1024 */
};

static const char *const cases[] = {"C=1000", "C=65", "origins", "batch 4, origins",
                                    "exact odd 1001x33", "two rows"};

static const bn_case *
case_named(const char *name)
{
    for (size_t i = 0; i < bn_case_count; i++)
        if (strcmp(bn_cases[i].name, name) == 0)
            return &bn_cases[i];
    ck_abort_msg("no case named %s", name);
    return NULL;
}

START_TEST(test_variant)
{
    /* A kernel object reads MPSCL_TUNE when it is created; fork mode isolates the setting. */
    ck_assert_int_eq(setenv("MPSCL_TUNE", tunings[_i], 1), 0);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        bn_run run = {NULL, 0, 2, 0}, frozen = {NULL, 0, 2, 1};
        bn_check_gradient(case_named(cases[c]), &run);
        bn_check_gradient(case_named(cases[c]), &frozen);
        bn_check_forward(case_named(cases[c]), 1, &run);
    }
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("bn_tuning");
    TCase *tc = tcase_create("variants");

    tcase_add_checked_fixture(tc, test_device_setup, test_device_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_variant, 0, (int)(sizeof tunings / sizeof tunings[0]));
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
