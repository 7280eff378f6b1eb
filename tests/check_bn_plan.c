/* The launch planner alone (lib/bn_plan.c, compiled into this test; no OpenCL): every plan over
 * device profiles x shapes x data types x overrides keeps the invariants the kernels rely on, and
 * a few plans whose figures are measured (docs/PERFORMANCE.md) are pinned. */
#include <stdio.h>
#include <string.h>

#include "lib/bn_plan.h"
#include "util.h"

/* Device profiles: the tuning table's NVIDIA rows, a CPU, an unknown vendor, Apple-like limits. */
static const mpscl__device_caps devices[] = {
    {0x10de, CL_DEVICE_TYPE_GPU, "NVIDIA H100 80GB HBM3", 132, 1024, 48 << 10, 4u << 20},
    {0x10de, CL_DEVICE_TYPE_GPU, "NVIDIA H200", 132, 1024, 48 << 10, 4u << 20},
    {0x10de, CL_DEVICE_TYPE_GPU, "NVIDIA GeForce RTX 4090", 128, 1024, 48 << 10, 0},
    {0x1006, CL_DEVICE_TYPE_CPU, "cpu-haswell-AMD EPYC", 16, 4096, 4u << 20, 1u << 20},
    {0x1002, CL_DEVICE_TYPE_GPU, "gfx90a:sramecc+:xnack-", 104, 256, 64 << 10, 8u << 20},
    {0x1027f00, CL_DEVICE_TYPE_GPU, "Apple M2 Max", 38, 256, 32 << 10, 0},
};
enum { DEVICES = sizeof devices / sizeof devices[0] };

static const size_t shapes[][3] = {
    {1, 1, 1}, {1, 3, 1}, {7, 5, 2}, {3, 4097, 1}, {128, 512, 1}, {512, 4096, 1},
    {1024, 1024, 1}, {4096, 512, 3}, {2048, 1024, 1}, {32768, 256, 1}, {100003, 3, 1},
    {65536, 1024, 1}, {1048576, 64, 1}, {256, 16384, 1}, {4096, 4096, 2}, {16777216, 8, 1},
};
enum { SHAPES = sizeof shapes / sizeof shapes[0] };

static const mpscl_data_type types[] = {MPSCL_DATA_TYPE_FLOAT32, MPSCL_DATA_TYPE_FLOAT16,
                                        MPSCL_DATA_TYPE_BFLOAT16, MPSCL_DATA_TYPE_FLOAT64};
enum { TYPES = sizeof types / sizeof types[0] };

/* Overrides as MPSCL_TUNE sets them: none, each layout forced or forbidden, and odd geometry. */
static const mpscl__bn_tune tunes[] = {
    {0},
    {.fused = MPSCL__ON},
    {.fused = MPSCL__OFF, .tile = MPSCL__OFF, .rows = MPSCL__OFF},
    {.rows = MPSCL__ON},
    {.tile = MPSCL__ON},
    {.vw = 1, .wg = 64, .chunks = 7},
    {.vw = 8, .lx = 4, .fused = MPSCL__ON, .slab = 3, .lag = 2},
    {.chunks = 5000, .rows = MPSCL__ON, .lx = 3},
};
enum { TUNES = sizeof tunes / sizeof tunes[0] };

static int
pow2(size_t v)
{
    return v != 0 && (v & (v - 1)) == 0;
}

static mpscl__bn_plan
plan_of(const mpscl__bn_plan_input *in, size_t n, size_t c, size_t batches, mpscl_data_type t)
{
    mpscl__bn_plan p = {0};

    p.n = n;
    p.c = c;
    p.batches = batches;
    p.type = t;
    mpscl__bn_plan_launch(in, &p);
    return p;
}

/* What the kernels rely on, checked here too so that a build with NDEBUG still tests it. */
static void
check_invariants(const mpscl__bn_plan_input *in, const mpscl__bn_plan *p, const char *what)
{
    size_t passes = in->is_gradient ? 2 : 3, real = p->type == MPSCL_DATA_TYPE_FLOAT64 ? 8 : 4;

    ck_assert_msg(p->vw == 1 || ((p->vw == 4 || p->vw == 8) && p->c % p->vw == 0), "%s: vw %zu",
                  what, p->vw);
    ck_assert_msg(pow2(p->ly) && p->lx >= 1, "%s: group %zux%zu", what, p->lx, p->ly);
    if (p->rows)
        ck_assert_msg(p->ly == 1 && p->lx <= (p->c + p->vw - 1) / p->vw, "%s: tile %zu", what,
                      p->lx);
    else
        ck_assert_msg(p->lx * p->ly <= in->kernel_wg_max, "%s: group %zux%zu past %zu", what,
                      p->lx, p->ly, in->kernel_wg_max);
    ck_assert_msg(p->local_bytes == (p->rows ? 8 : 2) * p->lx * p->ly * p->vw * real &&
                      p->local_bytes <= in->device->local_mem_size,
                  "%s: %zu bytes of local memory", what, p->local_bytes);
    ck_assert_msg(p->chunks >= 1 && p->chunks <= 1024 && p->chunks * p->chunk_rows >= p->n &&
                      (p->chunks - 1) * p->chunk_rows < p->n,
                  "%s: %zu chunks of %zu rows for %zu", what, p->chunks, p->chunk_rows, p->n);
    ck_assert_msg(p->rows + p->tile + p->fused <= 1, "%s: two layouts", what);
    ck_assert_msg(mpscl__bn_plan_whole(p) == (p->rows && p->chunks == 1),
                  "%s: whole %d with %zu chunks", what, mpscl__bn_plan_whole(p), p->chunks);
    if (p->tile)
        ck_assert_msg(p->chunks == 1 && p->n <= 128 * p->ly, "%s: tile of %zu rows", what, p->n);
    if (p->fused) {
        ck_assert_msg(p->tiles == p->col_tiles * p->batches && p->tiles % p->slab == 0 &&
                          p->lag >= 1 && p->lag <= p->tiles / p->slab,
                      "%s: tiles %zu, slab %zu, lag %zu", what, p->tiles, p->slab, p->lag);
        ck_assert_msg(passes * p->tiles * p->chunks < (1u << 24), "%s: tickets", what);
        ck_assert_uint_eq(p->sync_words, MPSCL__SYNC_TILE_WORDS + p->tiles);
        ck_assert_uint_ge(p->scratch_bytes, p->tiles * (p->chunks + 2) * 2 * p->lx * p->vw * real);
    } else {
        ck_assert_uint_eq(p->sync_words, 0);
        ck_assert_uint_ge(p->scratch_bytes, p->batches * (p->chunks * 2 + 1) * p->c * real);
    }
}

START_TEST(test_invariants_everywhere)
{
    const mpscl__device_caps *d = &devices[_i];
    size_t plans = 0;

    /* phase 0: the one-device encodes; 1: a split phase; 2: one with the binned sums. */
    for (int phase = 0; phase < 3; phase++)
    for (int grad = 0; grad < 2; grad++)
        for (size_t tu = 0; tu < TUNES; tu++)
            for (size_t ty = 0; ty < TYPES; ty++)
                for (size_t s = 0; s < SHAPES; s++) {
                    mpscl__bn_plan_input in = {d, mpscl__bn_tuning_of(d), &tunes[tu],
                                               d->max_work_group_size, grad, 1, phase > 0,
                                               phase == 2};
                    char what[160];
                    mpscl__bn_plan p;
                    /* A kernel may allow less than the device (registers): half of it too. */
                    for (int half = 0; half < 2; half++) {
                        in.kernel_wg_max = d->max_work_group_size >> half;
                        snprintf(what, sizeof what, "%s, %s, phase %d, tune %zu, type %d, "
                                 "%zux%zu (x%zu), group limit %zu", d->name,
                                 grad ? "gradient" : "forward", phase, tu, (int)types[ty],
                                 shapes[s][0], shapes[s][1], shapes[s][2], in.kernel_wg_max);
                        p = plan_of(&in, shapes[s][0], shapes[s][1], shapes[s][2], types[ty]);
                        check_invariants(&in, &p, what);
                        /* The split phases' kernels exist in the two launches' layout, and
                         * the default mode's also in row streaming. */
                        ck_assert_msg(phase == 0 || p.tile + p.fused == 0,
                                      "%s: a split phase planned a one-launch layout", what);
                        ck_assert_msg(phase == 0 || !p.rows || phase == 1,
                                      "%s: a split phase without a row-streaming form planned it",
                                      what);
                        if (phase == 2) {
                            ck_assert_msg(p.rchunks * p.rchunk_rows >= p.n &&
                                              (p.rchunks - 1) * p.rchunk_rows < p.n,
                                          "%s: binned chunks do not cover the rows", what);
                            ck_assert_msg(p.scratch_bytes >=
                                              4 * (p.sums_words + p.batches * p.partial_words),
                                          "%s: scratch misses the binned sums", what);
                        }
                        plans++;
                    }
                }
    ck_assert_uint_eq(plans, 3 * 2 * TUNES * TYPES * SHAPES * 2);
}
END_TEST

/* The layout each kind of device gets by default, as docs/PERFORMANCE.md measured. */
START_TEST(test_default_layouts)
{
    static const mpscl__bn_tune none = {0};
    mpscl__bn_plan_input h200 = {&devices[1], mpscl__bn_tuning_of(&devices[1]), &none, 1024, 1, 1,
                                 0, 0};
    mpscl__bn_plan_input cpu = {&devices[3], mpscl__bn_tuning_of(&devices[3]), &none, 4096, 1, 1,
                                0, 0};
    mpscl__bn_plan_input amd = {&devices[4], mpscl__bn_tuning_of(&devices[4]), &none, 256, 1, 1,
                                0, 0};
    mpscl__bn_plan p;

    ck_assert_ptr_nonnull(h200.tuning);
    ck_assert_str_eq(h200.tuning->name, "H200");
    ck_assert_ptr_null(amd.tuning);
    /* H200: one group per tile up to N = 512, one launch up to 8 MB a matrix, then two. */
    p = plan_of(&h200, 128, 512, 1, MPSCL_DATA_TYPE_FLOAT32);
    ck_assert(p.tile && !p.fused && !p.rows);
    p = plan_of(&h200, 1024, 1024, 1, MPSCL_DATA_TYPE_FLOAT32);
    ck_assert(p.fused && !p.tile);
    p = plan_of(&h200, 2048, 1024, 1, MPSCL_DATA_TYPE_FLOAT32);
    ck_assert(p.fused);
    p = plan_of(&h200, 4096, 1024, 1, MPSCL_DATA_TYPE_FLOAT32);
    ck_assert(!p.fused && !p.tile && !p.rows);
    /* The two launches of 65536 x 1024: 16 items of 4 columns by 16 rows; 66 chunks (8 groups
     * per compute unit over 16 column groups), of 993 rows. */
    p = plan_of(&h200, 65536, 1024, 1, MPSCL_DATA_TYPE_FLOAT32);
    ck_assert_uint_eq(p.vw, 4);
    ck_assert_uint_eq(p.lx, 16);
    ck_assert_uint_eq(p.ly, 16);
    ck_assert_uint_eq(p.chunks, 66);
    ck_assert_uint_eq(p.chunk_rows, 993);
    /* The forward without statistics is one pass, never the one launch or a tile. */
    h200.compute_statistics = 0;
    h200.is_gradient = 0;
    p = plan_of(&h200, 1024, 1024, 1, MPSCL_DATA_TYPE_FLOAT32);
    ck_assert(!p.fused && !p.tile);
    /* CPUs stream rows, 8 columns at once where C allows. */
    p = plan_of(&cpu, 4096, 1024, 1, MPSCL_DATA_TYPE_FLOAT32);
    ck_assert(p.rows && p.vw == 8);
    p = plan_of(&cpu, 4096, 1020, 1, MPSCL_DATA_TYPE_FLOAT32);
    ck_assert(p.rows && p.vw == 4);
    ck_assert(!mpscl__bn_plan_whole(&p) && p.chunks > 1);
    /* The split phases in the default mode stream rows as the one-device encodes do; the binned
     * sums keep the two launches' layout. */
    cpu.split = 1;
    cpu.is_gradient = 1;
    p = plan_of(&cpu, 32768, 256, 1, MPSCL_DATA_TYPE_FLOAT32);
    ck_assert(p.rows && p.vw == 8 && p.chunks > 1);
    cpu.repro = 1;
    p = plan_of(&cpu, 32768, 256, 1, MPSCL_DATA_TYPE_FLOAT32);
    ck_assert(!p.rows);
    cpu.repro = 0;
    cpu.is_gradient = 0;
    p = plan_of(&cpu, 32768, 256, 1, MPSCL_DATA_TYPE_FLOAT32);
    ck_assert(p.rows && p.chunks > 1);
    cpu.split = 0;
    /* A short matrix: one chunk per tile of 2 items (16 columns), 32 groups for 16 cores, every
     * pass in one launch; the gradient's tile (x and dy) is within a core's cache. */
    cpu.is_gradient = 1;
    p = plan_of(&cpu, 128, 512, 1, MPSCL_DATA_TYPE_FLOAT32);
    ck_assert(p.rows && mpscl__bn_plan_whole(&p) && p.chunks == 1 && p.lx == 2 &&
              p.col_tiles == 32);
    /* A batch of them needs narrower tiles less. */
    p = plan_of(&cpu, 128, 512, 8, MPSCL_DATA_TYPE_FLOAT32);
    ck_assert(mpscl__bn_plan_whole(&p) && p.lx == 16 && p.col_tiles == 4);
    /* Tiles too tall for the cache stay chunked, as does anything MPSCL_TUNE shapes. */
    p = plan_of(&cpu, 65536, 64, 1, MPSCL_DATA_TYPE_FLOAT32);
    ck_assert(p.rows && !mpscl__bn_plan_whole(&p) && p.chunks > 1);
    cpu.tune = &(mpscl__bn_tune){.lx = 4};
    p = plan_of(&cpu, 128, 512, 1, MPSCL_DATA_TYPE_FLOAT32);
    ck_assert(p.rows && !mpscl__bn_plan_whole(&p) && p.lx == 4 && p.chunks > 1);
    /* An unknown vendor gets the portable two launches. */
    p = plan_of(&amd, 1024, 1024, 1, MPSCL_DATA_TYPE_FLOAT32);
    ck_assert(!p.fused && !p.tile && !p.rows && p.lx * p.ly <= 256);
}
END_TEST

/* Every launch field (a struct's padding is not compared). */
static int
same_launch(const mpscl__bn_plan *a, const mpscl__bn_plan *b)
{
    return a->vw == b->vw && a->lx == b->lx && a->ly == b->ly && a->chunks == b->chunks &&
           a->chunk_rows == b->chunk_rows && a->rows == b->rows && a->tile == b->tile &&
           a->fused == b->fused && a->col_tiles == b->col_tiles && a->tiles == b->tiles &&
           a->slab == b->slab && a->lag == b->lag && a->scratch_bytes == b->scratch_bytes &&
           a->sync_words == b->sync_words && a->local_bytes == b->local_bytes;
}

/* A one launch whose tickets would pass 2^24 falls back to the two launches' plan unchanged. */
START_TEST(test_one_launch_bail_out_keeps_the_plan)
{
    mpscl__bn_tune off = {.fused = MPSCL__OFF, .chunks = 1024}, on = off;
    mpscl__bn_plan_input in = {&devices[4], NULL, &off, 256, 1, 1, 0, 0};
    mpscl__bn_plan two, one;

    on.fused = MPSCL__ON;
    /* 1024 chunks x 8193 column tiles x 2 passes > 2^24. */
    two = plan_of(&in, 1u << 20, 4 * 16 * 8193, 1, MPSCL_DATA_TYPE_FLOAT32);
    in.tune = &on;
    one = plan_of(&in, 1u << 20, 4 * 16 * 8193, 1, MPSCL_DATA_TYPE_FLOAT32);
    ck_assert(!one.fused);
    ck_assert(same_launch(&one, &two));
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("bn_plan");
    TCase *tc = tcase_create("planner");

    tcase_add_loop_test(tc, test_invariants_everywhere, 0, DEVICES);
    tcase_add_test(tc, test_default_layouts);
    tcase_add_test(tc, test_one_launch_bail_out_keeps_the_plan);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
