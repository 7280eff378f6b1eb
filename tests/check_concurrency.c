/* Concurrency and determinism.
 *
 * - 8 threads share one device and ONE gradient kernel object; each has its own matrices (a
 *   different shape per thread, so the kernel's shared scratch grows while others use it) and
 *   makes 500 encodes, each into a new command buffer, committed, waited and read back: the
 *   first result of each thread matches the fp64 reference, every later one is bitwise equal to
 *   it. This is the contract of the kernel headers: encode from several threads at once on one
 *   kernel object is safe (the object's lock covers clSetKernelArg and the enqueues; the
 *   scratch is ordered across queues by markers).
 * - 50 reruns of a forward with compute_statistics and a gradient on a shape of many row
 *   chunks, bitwise equal.
 * - The same outputs from fresh processes: the test runs this program again (fork + exec of
 *   /proc/self/exe with --emit), which prints the raw output bytes to a pipe. In --emit mode
 *   main() touches OpenCL directly: it is a new program image, not a Check fork.
 * - One kernel object (the forward with compute_statistics, the gradient) encoded into several
 *   command buffers, each on its own queue, with two shapes whose second needs more scratch,
 *   more one-launch counters, both or neither, in every layout (two launches, one launch, one
 *   group per column tile, row streaming) and several interleavings of encode, commit and wait:
 *   every output bitwise equal to a sequential run of its problem on a fresh kernel object
 *   (test_shared_kernel_buffers); the planner still gives those shapes the layout and growth
 *   they are named for (test_growth_plans); the reported reproduction at its size
 *   (test_shared_kernel_repro, past MPSCL_TEST_MAX_ELEMENTS skipped). `check_concurrency
 *   --repro [N]` runs that reproduction N times outside Check and exits non-zero on a mismatch,
 *   a failed status or a hang: for running in many processes at once.
 *
 * Run by hand under ThreadSanitizer or helgrind: see README ("Tests and checks by hand"). */
#define _POSIX_C_SOURCE 200809L
#include <float.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tools/ref.h"
#include "util.h"

enum { THREADS = 8, ENCODES = 500 };

/* One gradient problem: host data, device objects, reference and first result. */
typedef struct problem {
    size_t n, c;
    float *x, *dy, *mean, *var, *gamma, *beta;
    mpscl_matrix *xm, *dym, *dxm;
    mpscl_vector *mv, *vv, *gv, *bv, *dgv, *dbv;
    float *dx, *dg, *db;          /* results of the current run */
    float *dx0, *dg0, *db0;       /* results of the first run */
} problem;

/* No Check assertions below this point until the tests: --emit mode runs the same helpers
 * outside Check, where an assertion cannot report. Failures are returned instead. */
static float *
alloc_floats(size_t n)
{
    return calloc(n, sizeof(float));
}

static mpscl_matrix *
upload_matrix(mpscl_device *d, size_t n, size_t c, const float *host)
{
    mpscl_matrix_descriptor md = mpscl_matrix_descriptor_make(
        n, c, mpscl_matrix_descriptor_row_bytes_from_columns(c, MPSCL_DATA_TYPE_FLOAT32),
        MPSCL_DATA_TYPE_FLOAT32);
    mpscl_matrix *m;

    if (mpscl_matrix_create(d, &md, &m) != MPSCL_SUCCESS)
        return NULL;
    if (host != NULL && mpscl_matrix_write(m, host, c * sizeof(float)) != MPSCL_SUCCESS) {
        mpscl_matrix_release(m);
        return NULL;
    }
    return m;
}

static mpscl_vector *
upload_vector(mpscl_device *d, size_t c, const float *host)
{
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make(c, MPSCL_DATA_TYPE_FLOAT32);
    mpscl_vector *v;

    if (mpscl_vector_create(d, &vd, &v) != MPSCL_SUCCESS)
        return NULL;
    if (host != NULL && mpscl_vector_write(v, host) != MPSCL_SUCCESS) {
        mpscl_vector_release(v);
        return NULL;
    }
    return v;
}

/* Data as in bn_cases.c: a mean and scale per column, dy leaning on x so the sums are
 * well conditioned, statistics from the reference rounded to float. 0 on success; on failure
 * the caller still calls problem_free. */
static int
problem_make(problem *p, mpscl_device *d, size_t n, size_t c, uint64_t seed)
{
    double *m = calloc(c, sizeof *m), *v = calloc(c, sizeof *v);

    memset(p, 0, sizeof *p);
    p->n = n;
    p->c = c;
    p->x = alloc_floats(n * c);
    p->dy = alloc_floats(n * c);
    p->mean = alloc_floats(c);
    p->var = alloc_floats(c);
    p->gamma = alloc_floats(c);
    p->beta = alloc_floats(c);
    p->dx = alloc_floats(n * c);
    p->dg = alloc_floats(c);
    p->db = alloc_floats(c);
    if (m == NULL || v == NULL || p->x == NULL || p->dy == NULL || p->mean == NULL ||
        p->var == NULL || p->gamma == NULL || p->beta == NULL || p->dx == NULL ||
        p->dg == NULL || p->db == NULL) {
        free(m);
        free(v);
        return -1;
    }
    for (size_t i = 0; i < n * c; i++) {
        size_t j = i % c;
        p->x[i] = (float)j - 2.0f + (1.0f + 0.5f * (float)j) * test_rng_uniform(&seed, -1, 1);
        p->dy[i] = 0.5f * p->x[i] + 0.25f * test_rng_uniform(&seed, -1, 1);
    }
    ref_bn_statistics(n, c, (ref_view){p->x, c}, m, v);
    for (size_t j = 0; j < c; j++) {
        p->mean[j] = (float)m[j];
        p->var[j] = (float)v[j];
        p->gamma[j] = 0.75f + 0.125f * (float)j;
        p->beta[j] = 0.25f - 0.0625f * (float)j;
    }
    free(m);
    free(v);
    p->xm = upload_matrix(d, n, c, p->x);
    p->dym = upload_matrix(d, n, c, p->dy);
    p->dxm = upload_matrix(d, n, c, NULL);
    p->mv = upload_vector(d, c, p->mean);
    p->vv = upload_vector(d, c, p->var);
    p->gv = upload_vector(d, c, p->gamma);
    p->bv = upload_vector(d, c, p->beta);
    p->dgv = upload_vector(d, c, NULL);
    p->dbv = upload_vector(d, c, NULL);
    return p->xm && p->dym && p->dxm && p->mv && p->vv && p->gv && p->bv && p->dgv && p->dbv
               ? 0 : -1;
}

static void
problem_free(problem *p)
{
    mpscl_matrix_release(p->xm);
    mpscl_matrix_release(p->dym);
    mpscl_matrix_release(p->dxm);
    mpscl_vector_release(p->mv);
    mpscl_vector_release(p->vv);
    mpscl_vector_release(p->gv);
    mpscl_vector_release(p->bv);
    mpscl_vector_release(p->dgv);
    mpscl_vector_release(p->dbv);
    free(p->x), free(p->dy), free(p->mean), free(p->var), free(p->gamma), free(p->beta);
    free(p->dx), free(p->dg), free(p->db), free(p->dx0), free(p->dg0), free(p->db0);
}

/* Encodes into a new command buffer, waits and reads the results into p->dx, dg, db. Returns
 * the first failure instead of asserting, so worker threads can use it. */
static mpscl_status
gradient_run(mpscl_matrix_batch_normalization_gradient *k, mpscl_device *d, problem *p)
{
    mpscl_command_buffer *cb;
    mpscl_status s;

    if ((s = mpscl_command_buffer_create(d, &cb)) != MPSCL_SUCCESS)
        return s;
    if ((s = mpscl_matrix_batch_normalization_gradient_encode(k, cb, p->dym, p->xm, p->mv, p->vv,
                                                              p->gv, p->bv, p->dxm, p->dgv,
                                                              p->dbv)) == MPSCL_SUCCESS &&
        (s = mpscl_command_buffer_commit(cb)) == MPSCL_SUCCESS)
        s = mpscl_command_buffer_wait_until_completed(cb);
    mpscl_command_buffer_release(cb);
    if (s == MPSCL_SUCCESS &&
        (s = mpscl_matrix_read(p->dxm, p->dx, p->c * sizeof(float))) == MPSCL_SUCCESS &&
        (s = mpscl_vector_read(p->dgv, p->dg)) == MPSCL_SUCCESS)
        s = mpscl_vector_read(p->dbv, p->db);
    return s;
}

/* The first results against the fp64 reference (bn_cases.c's bound), and kept. */
static void
check_first(problem *p, const char *who)
{
    double *dx = calloc(p->n * p->c, sizeof *dx), *dg = calloc(p->c, sizeof *dg);
    double *db = calloc(p->c, sizeof *db);
    double e1, e2, e3;

    ck_assert(dx != NULL && dg != NULL && db != NULL);
    ref_bn_gradient(p->n, p->c, (ref_view){p->dy, p->c}, (ref_view){p->x, p->c}, p->mean, p->var,
                    p->gamma, p->beta, FLT_MIN, NULL, dx, dg, db);
    e1 = ref_rel_l2(p->n, p->c, (ref_view){p->dx, p->c}, dx);
    e2 = ref_rel_l2_vec(p->c, p->dg, dg);
    e3 = ref_rel_l2_vec(p->c, p->db, db);
    ck_assert_msg(e1 <= 1e-6 && e2 <= 1e-6 && e3 <= 1e-6,
                  "%s (%zu x %zu): errors dx %g, dgamma %g, dbeta %g > 1e-6", who, p->n, p->c,
                  e1, e2, e3);
    free(dx), free(dg), free(db);
    p->dx0 = alloc_floats(p->n * p->c);
    p->dg0 = alloc_floats(p->c);
    p->db0 = alloc_floats(p->c);
    ck_assert(p->dx0 != NULL && p->dg0 != NULL && p->db0 != NULL);
    memcpy(p->dx0, p->dx, p->n * p->c * sizeof(float));
    memcpy(p->dg0, p->dg, p->c * sizeof(float));
    memcpy(p->db0, p->db, p->c * sizeof(float));
}

static int
same_as_first(const problem *p)
{
    return memcmp(p->dx, p->dx0, p->n * p->c * sizeof(float)) == 0 &&
           memcmp(p->dg, p->dg0, p->c * sizeof(float)) == 0 &&
           memcmp(p->db, p->db0, p->c * sizeof(float)) == 0;
}

/* ---- 8 threads, one kernel object ---- */

typedef struct worker {
    pthread_t thread;
    mpscl_matrix_batch_normalization_gradient *k;
    problem p;
    pthread_barrier_t *start;
    int done;
    char error[384];          /* empty: all runs good */
} worker;

static void *
work(void *arg)
{
    worker *w = arg;

    pthread_barrier_wait(w->start);   /* maximise overlap: all threads encode at once */
    for (w->done = 0; w->done < ENCODES; w->done++) {
        mpscl_status s = gradient_run(w->k, test_device, &w->p);
        if (s != MPSCL_SUCCESS) {
            snprintf(w->error, sizeof w->error, "run %d: %s: %s", w->done,
                     mpscl_status_string(s), mpscl_last_error_message());
            break;
        }
        if (!same_as_first(&w->p)) {
            snprintf(w->error, sizeof w->error, "run %d differs from the first", w->done);
            break;
        }
    }
    return NULL;
}

START_TEST(test_threads_share_one_kernel)
{
    static worker w[THREADS];
    pthread_barrier_t start;
    mpscl_matrix_batch_normalization_gradient *k;

    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_create(test_device, &k));
    ck_assert_int_eq(pthread_barrier_init(&start, NULL, THREADS), 0);
    for (int t = 0; t < THREADS; t++) {
        char who[32];
        /* 40..299 rows, 3..10 columns: one to several row chunks, scratch of different sizes */
        ck_assert_int_eq(problem_make(&w[t].p, test_device, 40 + 37 * (size_t)t, 3 + (size_t)t,
                                      100 + (uint64_t)t), 0);
        ASSERT_OK(gradient_run(k, test_device, &w[t].p));
        snprintf(who, sizeof who, "thread %d", t);
        check_first(&w[t].p, who);
        w[t].k = k;
        w[t].start = &start;
        w[t].error[0] = '\0';
    }
    for (int t = 0; t < THREADS; t++)
        ck_assert_int_eq(pthread_create(&w[t].thread, NULL, work, &w[t]), 0);
    for (int t = 0; t < THREADS; t++)
        ck_assert_int_eq(pthread_join(w[t].thread, NULL), 0);
    for (int t = 0; t < THREADS; t++) {
        ck_assert_msg(w[t].error[0] == '\0', "thread %d: %s", t, w[t].error);
        ck_assert_int_eq(w[t].done, ENCODES);
        problem_free(&w[t].p);
    }
    pthread_barrier_destroy(&start);
    mpscl_matrix_batch_normalization_gradient_release(k);
}
END_TEST

/* ---- the same bits, run after run and process after process ---- */

/* Many row chunks (several per compute unit), C not a multiple of 4, a fused neuron. */
enum { DN = 20011, DC = 37 };

/* Runs a forward with compute_statistics and the gradient on fixed data; out receives y, mean,
 * var, dx, dgamma, dbeta (DN*DC*2 + DC*4 floats). Returns a status instead of asserting, for
 * --emit mode. */
static mpscl_status
determinism_run(mpscl_device *d, float *out, int runs, int *differs)
{
    problem p;
    mpscl_matrix *ym;
    mpscl_matrix_batch_normalization *f;
    mpscl_matrix_batch_normalization_gradient *g;
    size_t size = (DN * DC * 2 + DC * 4) * sizeof(float);
    float *first = malloc(size);
    mpscl_status s = MPSCL_SUCCESS;

    if (first == NULL || problem_make(&p, d, DN, DC, 4242) != 0 ||
        (ym = upload_matrix(d, DN, DC, NULL)) == NULL ||
        mpscl_matrix_batch_normalization_create(d, &f) != MPSCL_SUCCESS ||
        mpscl_matrix_batch_normalization_gradient_create(d, &g) != MPSCL_SUCCESS)
        return MPSCL_ERROR_OUT_OF_HOST_MEMORY;   /* the test fails; its process ends */
    mpscl_matrix_batch_normalization_set_compute_statistics(f, 1);
    mpscl_matrix_batch_normalization_set_epsilon(f, 1e-5f);
    mpscl_matrix_batch_normalization_set_neuron_type(f, MPSCL_NEURON_SOFT_PLUS, 1.0f, 2.0f, 0);
    mpscl_matrix_batch_normalization_gradient_set_epsilon(g, 1e-5f);
    mpscl_matrix_batch_normalization_gradient_set_neuron_type(g, MPSCL_NEURON_SOFT_PLUS, 1.0f,
                                                              2.0f, 0);
    *differs = 0;
    for (int r = 0; r < runs && s == MPSCL_SUCCESS; r++) {
        mpscl_command_buffer *cb;
        if ((s = mpscl_command_buffer_create(d, &cb)) != MPSCL_SUCCESS)
            break;
        /* the forward's statistics feed the gradient, in one command buffer */
        if ((s = mpscl_matrix_batch_normalization_encode(f, cb, p.xm, p.mv, p.vv, p.gv, p.bv,
                                                         ym)) == MPSCL_SUCCESS &&
            (s = mpscl_matrix_batch_normalization_gradient_encode(
                 g, cb, p.dym, p.xm, p.mv, p.vv, p.gv, p.bv, p.dxm, p.dgv, p.dbv)) ==
                MPSCL_SUCCESS &&
            (s = mpscl_command_buffer_commit(cb)) == MPSCL_SUCCESS)
            s = mpscl_command_buffer_wait_until_completed(cb);
        mpscl_command_buffer_release(cb);
        if (s == MPSCL_SUCCESS &&
            (s = mpscl_matrix_read(ym, out, DC * sizeof(float))) == MPSCL_SUCCESS &&
            (s = mpscl_matrix_read(p.dxm, out + DN * DC, DC * sizeof(float))) == MPSCL_SUCCESS &&
            (s = mpscl_vector_read(p.mv, out + 2 * DN * DC)) == MPSCL_SUCCESS &&
            (s = mpscl_vector_read(p.vv, out + 2 * DN * DC + DC)) == MPSCL_SUCCESS &&
            (s = mpscl_vector_read(p.dgv, out + 2 * DN * DC + 2 * DC)) == MPSCL_SUCCESS)
            s = mpscl_vector_read(p.dbv, out + 2 * DN * DC + 3 * DC);
        if (r == 0)
            memcpy(first, out, size);
        else if (memcmp(first, out, size) != 0)
            *differs = *differs == 0 ? r : *differs;
    }
    mpscl_matrix_batch_normalization_release(f);
    mpscl_matrix_batch_normalization_gradient_release(g);
    mpscl_matrix_release(ym);
    problem_free(&p);
    free(first);
    return s;
}

START_TEST(test_bitwise_reruns)
{
    float *out = alloc_floats(DN * DC * 2 + DC * 4);
    int differs;

    ck_assert_ptr_nonnull(out);
    ASSERT_OK(determinism_run(test_device, out, 50, &differs));
    ck_assert_msg(differs == 0, "run %d of 50 differs from the first", differs);
    free(out);
}
END_TEST

/* Runs this program with --emit in a fresh process and reads what it prints. */
static void
run_child(float *out, size_t size)
{
    int fd[2], status;
    size_t got = 0;
    pid_t pid;

    ck_assert_int_eq(pipe(fd), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fd[1], STDOUT_FILENO);
        close(fd[0]);
        close(fd[1]);
        execl("/proc/self/exe", "check_concurrency", "--emit", (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    while (got < size) {
        ssize_t r = read(fd[0], (char *)out + got, size - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd[0]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    ck_assert_msg(got == size, "child printed %zu bytes of %zu", got, size);
}

START_TEST(test_across_processes)
{
    size_t count = DN * DC * 2 + DC * 4;
    float *mine = alloc_floats(count), *theirs = alloc_floats(count);
    int differs;

    ck_assert(mine != NULL && theirs != NULL);
    ASSERT_OK(determinism_run(test_device, mine, 1, &differs));
    for (int child = 0; child < 2; child++) {
        memset(theirs, 0, count * sizeof(float));
        run_child(theirs, count * sizeof(float));
        ck_assert_msg(memcmp(mine, theirs, count * sizeof(float)) == 0,
                      "process %d computed different bits", child + 1);
    }
    free(mine);
    free(theirs);
}
END_TEST

/* --emit: one run on a fresh device, raw floats on stdout. */
static int
emit(void)
{
    size_t count = DN * DC * 2 + DC * 4;
    float *out = calloc(count, sizeof *out);
    mpscl_device *d;
    int differs;

    if (out == NULL || mpscl_device_create_default(&d) != MPSCL_SUCCESS)
        return 1;
    if (determinism_run(d, out, 1, &differs) != MPSCL_SUCCESS ||
        fwrite(out, sizeof *out, count, stdout) != count || fflush(stdout) != 0)
        return 1;
    mpscl_device_release(d);
    free(out);
    return 0;
}

/* ---- one kernel object, several command buffers, shapes that grow its buffers ---- */

/* A kernel object keeps one scratch buffer (partial sums) and, for the one-launch kernels, one
 * buffer of ticket counters, and reuses both from encode to encode: a later encode on another
 * command buffer (another queue) must be ordered after every earlier user of what it reuses, or
 * get buffers of its own. Each case encodes two shapes A and B with ONE kernel object into
 * several command buffers in some interleaving, and every encode's outputs must be bitwise equal
 * to a sequential run of the same problem (alone in its own buffer, committed, waited) on a
 * fresh kernel object with the same layout. */

enum {
    CASE_REPEATS = 10,    /* fresh kernel objects per case (MPSCL_TEST_REPEATS overrides): growth
                             happens once per object, and a race is a matter of chance (on PoCL
                             a launch queued behind another starts as that one's last groups
                             run: they overlap briefly, and a missing order shows in a few runs
                             in a hundred for the small gradient, more for the forward) */
    HANG_SECONDS = 30,    /* a buffer not complete by then has hung (these shapes take ms) */
    MAX_BUFFERS = 4,
    MAX_ENCODES = 4
};

/* The layouts, forced through MPSCL_TUNE (read when a kernel object is created). The tile layout
 * needs N <= 128 x the group's rows; wg=1024 gives 64 rows at 64 columns and up (N <= 8192),
 * where a CPU's planner would pick one row per group (N <= 128). */
typedef struct layout {
    const char *name;     /* as MPSCL_DEBUG's plan line names it */
    const char *tune;
} layout;

static const layout layouts[] = {
    {"two launches", "fused=0,rows=0,tile=0"},
    {"one launch", "fused=1,rows=0,tile=0"},
    {"one group per tile", "fused=0,rows=0,tile=1,wg=1024"},
    {"row streaming", "fused=0,rows=1,tile=0"},
    {"row streaming, one launch", "fused=0,rows=1,tile=0,chunks=1"},
};
enum { LAYOUTS = sizeof layouts / sizeof layouts[0] };

/* Shape pairs named after what B needs beyond A in the one-launch layout, the only one with
 * counters (lib/bn_plan.c: scratch of tiles x (chunks + 2) x 2 x 64 reals, counters 3 + tiles;
 * tiles = ceil(C / 64), chunks = max(2, ceil(N / 128)) on a CPU): 2048x64 is 1 tile x 16
 * chunks, 4096x64 1 x 32, 1024x192 3 x 8, 2048x128 2 x 16, 1024x128 2 x 8. test_growth_plans
 * checks these against the planner. In the other layouts the scratch is (2 chunks + 1) x C
 * reals (3 C for one group per tile): the same pairs grow it in some kinds and not in others, so
 * each layout sees both. A launch of A lasts a few hundred microseconds on a CPU, long enough
 * for B's encode to start beside it; at most 256 K elements a problem, as the suite runs under
 * ThreadSanitizer on 2 cores. */
typedef struct growth {
    const char *name;
    size_t an, ac, bn, bc;
    int scratch, counters;    /* B needs more of it than A in the one-launch layout */
} growth;

static const growth growths[] = {
    {"scratch only", 2048, 64, 4096, 64, 1, 0},          /* 18 -> 34 scratch units, 1 -> 1 tile */
    {"counters only", 4096, 64, 1024, 192, 0, 1},        /* 34 -> 30, 1 -> 3 */
    {"scratch and counters", 2048, 64, 2048, 128, 1, 1}, /* 18 -> 36, 1 -> 2 */
    {"neither", 2048, 128, 1024, 128, 0, 0},             /* 36 -> 20, 2 -> 2 */
};
enum { GROWTHS = sizeof growths / sizeof growths[0] };

/* Scripts: "A0" / "B1" encodes problem A / B into buffer 0 / 1 (each encode with outputs of its
 * own, so a wrong result is never overwritten by a right one), "c1" commits buffer 1, "w1"
 * waits for it; "h1" holds buffer 1 back (a barrier on a user event, enqueued on its queue
 * before anything else) and "go" releases every held buffer at once. In each, B's first encode
 * is the one that may grow the buffers, on another queue than A's work before it.
 *   Whether A still runs when B starts otherwise depends on A's length against B's encode (a
 * CPU device starts a launch as it is enqueued); the held variants queue both at once, whatever
 * an encode costs. */
typedef struct interleaving {
    const char *name, *script;
} interleaving;

static const interleaving interleavings[] = {
    {"commit each, wait both", "A0 c0 B1 c1 w0 w1"},
    {"encode both, commit and wait in reverse", "A0 B1 c1 c0 w1 w0"},
    {"four buffers alternating A, B, A, B", "A0 c0 B1 c1 A2 c2 B3 c3 w0 w1 w2 w3"},
    {"A and B in one buffer, B and A in another", "A0 B1 A1 B0 c1 c0 w0 w1"},
    {"commit each, both held then released", "h0 h1 A0 c0 B1 c1 go w0 w1"},
    {"four buffers alternating, held then released",
     "h0 h1 h2 h3 A0 c0 B1 c1 A2 c2 B3 c3 go w3 w2 w1 w0"},
    {"A and B in one buffer, B and A in another, held then released",
     "h0 h1 A0 B1 A1 B0 c1 c0 go w1 w0"},
};
enum { INTERLEAVINGS = sizeof interleavings / sizeof interleavings[0] };

/* The forward (with compute_statistics) or the gradient: exactly one is set. */
typedef struct op_kernel {
    mpscl_matrix_batch_normalization *forward;
    mpscl_matrix_batch_normalization_gradient *gradient;
} op_kernel;

/* What one encode writes: y, mean and variance, or dx, dgamma and dbeta. */
typedef struct outputs {
    mpscl_matrix *m;
    mpscl_vector *v[2];
} outputs;

typedef struct results {
    float *m, *v[2];
} results;

static const char *const output_names[2][3] = {{"dx", "dgamma", "dbeta"},
                                               {"y", "mean", "variance"}};

/* CASE_REPEATS, or MPSCL_TEST_REPEATS where set: more to hunt a rare race, fewer where runs are
 * slow and host threads are the point (ThreadSanitizer: every encode here is the main thread's). */
static int
case_repeats(void)
{
    const char *s = getenv("MPSCL_TEST_REPEATS");
    int n = s != NULL ? atoi(s) : 0;

    return n > 0 ? n : CASE_REPEATS;
}

/* The first failure of a case, with what the case was. */
typedef struct report {
    char context[256];
    char msg[1024];
} report;

static void
note(report *r, const char *fmt, ...)
{
    char what[512];
    va_list ap;

    if (r->msg[0] != '\0')
        return;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(r->msg, sizeof r->msg, "%s: %s", r->context, what);
}

static void
note_status(report *r, const char *what, mpscl_status s)
{
    if (s != MPSCL_SUCCESS)
        note(r, "%s: %s: %s", what, mpscl_status_string(s), mpscl_last_error_message());
}

/* Sets an environment variable; returns the old value (malloc'd, NULL if it was unset) for
 * env_restore. */
static char *
env_swap(const char *name, const char *value)
{
    const char *old = getenv(name);
    char *saved = old != NULL ? strdup(old) : NULL;

    setenv(name, value, 1);
    return saved;
}

static void
env_restore(const char *name, char *saved)
{
    if (saved != NULL)
        setenv(name, saved, 1);
    else
        unsetenv(name);
    free(saved);
}

/* A kernel object in the layout, MPSCL_TUNE put back as it was afterwards: the rest of the suite
 * (one process under CK_FORK=no) sees the environment it started with. debug: with MPSCL_DEBUG
 * set, so each encode prints its plan. */
static mpscl_status
op_kernel_create(mpscl_device *d, int forward, const layout *l, int debug, op_kernel *k)
{
    char *tune = env_swap("MPSCL_TUNE", l->tune);
    char *dbg = debug ? env_swap("MPSCL_DEBUG", "1") : NULL;
    mpscl_status s;

    memset(k, 0, sizeof *k);
    if (forward) {
        s = mpscl_matrix_batch_normalization_create(d, &k->forward);
        if (s == MPSCL_SUCCESS)
            s = mpscl_matrix_batch_normalization_set_compute_statistics(k->forward, 1);
    } else {
        s = mpscl_matrix_batch_normalization_gradient_create(d, &k->gradient);
    }
    if (debug)
        env_restore("MPSCL_DEBUG", dbg);
    env_restore("MPSCL_TUNE", tune);
    return s;
}

static void
op_kernel_release(op_kernel *k)
{
    mpscl_matrix_batch_normalization_release(k->forward);
    mpscl_matrix_batch_normalization_gradient_release(k->gradient);
}

static mpscl_status
op_encode(const op_kernel *k, mpscl_command_buffer *cb, const problem *p, const outputs *o)
{
    if (k->forward != NULL)
        return mpscl_matrix_batch_normalization_encode(k->forward, cb, p->xm, o->v[0], o->v[1],
                                                       p->gv, p->bv, o->m);
    return mpscl_matrix_batch_normalization_gradient_encode(k->gradient, cb, p->dym, p->xm, p->mv,
                                                            p->vv, p->gv, p->bv, o->m, o->v[0],
                                                            o->v[1]);
}

/* Outputs for p filled with NaN bytes: an output an encode never wrote cannot match. */
static int
outputs_make(outputs *o, mpscl_device *d, const problem *p)
{
    float *poison = malloc(p->n * p->c * sizeof *poison);

    memset(o, 0, sizeof *o);
    if (poison == NULL)
        return -1;
    memset(poison, 0xff, p->n * p->c * sizeof *poison);
    o->m = upload_matrix(d, p->n, p->c, poison);
    o->v[0] = upload_vector(d, p->c, poison);
    o->v[1] = upload_vector(d, p->c, poison);
    free(poison);
    return o->m != NULL && o->v[0] != NULL && o->v[1] != NULL ? 0 : -1;
}

static void
outputs_free(outputs *o)
{
    mpscl_matrix_release(o->m);
    mpscl_vector_release(o->v[0]);
    mpscl_vector_release(o->v[1]);
    memset(o, 0, sizeof *o);
}

static int
results_make(results *r, const problem *p)
{
    r->m = alloc_floats(p->n * p->c);
    r->v[0] = alloc_floats(p->c);
    r->v[1] = alloc_floats(p->c);
    return r->m != NULL && r->v[0] != NULL && r->v[1] != NULL ? 0 : -1;
}

static void
results_free(results *r)
{
    free(r->m), free(r->v[0]), free(r->v[1]);
    memset(r, 0, sizeof *r);
}

static mpscl_status
outputs_read(const outputs *o, const problem *p, results *r)
{
    mpscl_status s = mpscl_matrix_read(o->m, r->m, p->c * sizeof(float));

    if (s == MPSCL_SUCCESS)
        s = mpscl_vector_read(o->v[0], r->v[0]);
    if (s == MPSCL_SUCCESS)
        s = mpscl_vector_read(o->v[1], r->v[1]);
    return s;
}

/* Waits for cb, but no longer than HANG_SECONDS: a hung launch fails the case by name rather
 * than the whole test by a timeout. *hung is set when it gave up (cb still runs). Polled every
 * 0.1 ms: the suite waits thousands of times, and a millisecond each tripled its run time. */
static mpscl_status
wait_bounded(mpscl_command_buffer *cb, int *hung)
{
    struct timespec start, now, tick = {0, 100000};

    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        mpscl_command_buffer_state st = mpscl_command_buffer_status(cb);
        if (st != MPSCL_COMMAND_BUFFER_COMMITTED)
            return mpscl_command_buffer_wait_until_completed(cb);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec >= HANG_SECONDS) {
            *hung = 1;
            return MPSCL_ERROR_OPENCL;
        }
        nanosleep(&tick, NULL);
    }
}

/* The first element where got and want differ in bits, reported with both values. */
static int
compare(report *r, const char *what, const float *got, const float *want, size_t count)
{
    size_t first = count, differ = 0;

    if (memcmp(got, want, count * sizeof *got) == 0)
        return 0;
    for (size_t i = 0; i < count; i++)
        if (memcmp(&got[i], &want[i], sizeof *got) != 0 && differ++ == 0)
            first = i;
    note(r, "%s differs from the sequential run in %zu of %zu elements, first [%zu]: %.9g "
         "instead of %.9g", what, differ, count, first, (double)got[first], (double)want[first]);
    return 1;
}

static int
compare_results(report *r, int forward, const char *who, const problem *p, const results *got,
                const results *want)
{
    const char *const *names = output_names[forward];
    char what[96];
    int bad = 0;

    snprintf(what, sizeof what, "%s: %s", who, names[0]);
    bad |= compare(r, what, got->m, want->m, p->n * p->c);
    for (int i = 0; i < 2; i++) {
        snprintf(what, sizeof what, "%s: %s", who, names[1 + i]);
        bad |= compare(r, what, got->v[i], want->v[i], p->c);
    }
    return bad;
}

/* The sequential run: p alone on a fresh kernel object of the layout, in a buffer of its own. */
static int
sequential_run(report *r, mpscl_device *d, int forward, const layout *l, const problem *p,
               results *want)
{
    op_kernel k;
    outputs o;
    mpscl_command_buffer *cb = NULL;
    mpscl_status s;
    int hung = 0;

    if ((s = op_kernel_create(d, forward, l, 0, &k)) != MPSCL_SUCCESS) {
        note_status(r, "sequential run: create", s);
        return -1;
    }
    if (outputs_make(&o, d, p) != 0 || results_make(want, p) != 0) {
        note(r, "sequential run: out of memory");
        s = MPSCL_ERROR_OUT_OF_HOST_MEMORY;
    } else if ((s = mpscl_command_buffer_create(d, &cb)) == MPSCL_SUCCESS &&
               (s = op_encode(&k, cb, p, &o)) == MPSCL_SUCCESS &&
               (s = mpscl_command_buffer_commit(cb)) == MPSCL_SUCCESS &&
               (s = wait_bounded(cb, &hung)) == MPSCL_SUCCESS) {
        s = outputs_read(&o, p, want);
    }
    if (hung) {
        note(r, "sequential run of %zux%zu did not complete in %d s", p->n, p->c, HANG_SECONDS);
        return -1;   /* its objects are still in use: leaked */
    }
    note_status(r, "sequential run", s);
    mpscl_command_buffer_release(cb);
    outputs_free(&o);
    op_kernel_release(&k);
    return s == MPSCL_SUCCESS ? 0 : -1;
}

/* One run of a script on one kernel object. Its buffers and every encode's outputs are made
 * before the first step: making them between steps (filling outputs of the larger shapes takes
 * long) would let earlier work finish before the next encode, and nothing would overlap. */
typedef struct script_run {
    mpscl_command_buffer *cb[MAX_BUFFERS];
    int committed[MAX_BUFFERS], waited[MAX_BUFFERS], hung;
    cl_event gate;            /* what held buffers wait for; NULL: none held */
    int released;
    outputs out[MAX_ENCODES];
    int problem_of[MAX_ENCODES], buffer_of[MAX_ENCODES];
    size_t encodes, encoded;
} script_run;

/* Steps are two characters, one space apart. */
static const char *
next_step(const char *step)
{
    return step[2] == ' ' ? step + 3 : step + 2;
}

static mpscl_status
script_prepare(script_run *sr, mpscl_device *d, const problem *ps, const char *script)
{
    mpscl_status s;

    for (const char *step = script; *step != '\0'; step = next_step(step)) {
        int b = step[1] - '0';
        cl_int err;
        if (strncmp(step, "go", 2) == 0)
            continue;
        if (b < 0 || b >= MAX_BUFFERS)
            return MPSCL_ERROR_INVALID_ARGUMENT;
        if (step[0] == 'h' && sr->gate == NULL &&
            (sr->gate = clCreateUserEvent(mpscl_device_cl_context(d), &err)) == NULL)
            return MPSCL_ERROR_OPENCL;
        if (sr->cb[b] == NULL && (s = mpscl_command_buffer_create(d, &sr->cb[b])) != MPSCL_SUCCESS)
            return s;
        if (step[0] != 'A' && step[0] != 'B')
            continue;
        if (sr->encodes == MAX_ENCODES)
            return MPSCL_ERROR_INVALID_ARGUMENT;
        sr->problem_of[sr->encodes] = step[0] - 'A';
        sr->buffer_of[sr->encodes] = b;
        if (outputs_make(&sr->out[sr->encodes++], d, &ps[step[0] - 'A']) != 0)
            return MPSCL_ERROR_OUT_OF_HOST_MEMORY;
    }
    return MPSCL_SUCCESS;
}

/* One step of a script ("A0", "c1", "w1"). */
static mpscl_status
script_step(script_run *sr, const op_kernel *k, const problem *ps, const char *step)
{
    int b = step[1] - '0';
    size_t e;

    if (strncmp(step, "go", 2) == 0) {
        sr->released = 1;
        return clSetUserEventStatus(sr->gate, CL_COMPLETE) == CL_SUCCESS ? MPSCL_SUCCESS
                                                                         : MPSCL_ERROR_OPENCL;
    }
    switch (step[0]) {
    case 'h':
        return clEnqueueBarrierWithWaitList(mpscl_command_buffer_cl_queue(sr->cb[b]), 1,
                                            &sr->gate, NULL) == CL_SUCCESS
                   ? MPSCL_SUCCESS : MPSCL_ERROR_OPENCL;
    case 'A':
    case 'B':
        e = sr->encoded++;
        return op_encode(k, sr->cb[b], &ps[sr->problem_of[e]], &sr->out[e]);
    case 'c':
        sr->committed[b] = 1;
        return mpscl_command_buffer_commit(sr->cb[b]);
    case 'w':
        sr->waited[b] = 1;
        return wait_bounded(sr->cb[b], &sr->hung);
    default:
        return MPSCL_ERROR_INVALID_ARGUMENT;
    }
}

/* After a failed step: held buffers released, every buffer committed and waited, so nothing is
 * released in use. */
static void
script_finish(script_run *sr)
{
    if (sr->gate != NULL && !sr->released) {
        sr->released = 1;
        clSetUserEventStatus(sr->gate, CL_COMPLETE);
    }
    for (int b = 0; b < MAX_BUFFERS && !sr->hung; b++) {
        if (sr->cb[b] == NULL)
            continue;
        if (!sr->committed[b])
            mpscl_command_buffer_commit(sr->cb[b]);
        if (!sr->waited[b])
            wait_bounded(sr->cb[b], &sr->hung);
    }
}

static void
script_free(script_run *sr)
{
    for (int b = 0; b < MAX_BUFFERS; b++)
        mpscl_command_buffer_release(sr->cb[b]);
    for (size_t e = 0; e < sr->encodes; e++)
        outputs_free(&sr->out[e]);
    if (sr->gate != NULL)
        clReleaseEvent(sr->gate);
}

/* Each encode's outputs against the sequential run of its problem. */
static int
script_compare(report *r, const script_run *sr, int forward, const problem *ps,
               const results *want)
{
    for (size_t e = 0; e < sr->encodes; e++) {
        const problem *p = &ps[sr->problem_of[e]];
        results got;
        char who[64];
        mpscl_status s;
        int bad;

        if (results_make(&got, p) != 0) {
            note(r, "out of memory");
            results_free(&got);
            return -1;
        }
        snprintf(who, sizeof who, "encode %zu (%c %zux%zu into buffer %d)", e + 1,
                 'A' + sr->problem_of[e], p->n, p->c, sr->buffer_of[e]);
        if ((s = outputs_read(&sr->out[e], p, &got)) != MPSCL_SUCCESS) {
            note_status(r, who, s);
            bad = 1;
        } else {
            bad = compare_results(r, forward, who, p, &got, &want[sr->problem_of[e]]);
        }
        results_free(&got);
        if (bad)
            return -1;
    }
    return 0;
}

/* The script once on a fresh kernel object; 0 when every output matched. */
static int
script_run_once(report *r, mpscl_device *d, int forward, const layout *l, const char *script,
                const problem *ps, const results *want)
{
    script_run sr;
    op_kernel k;
    mpscl_status s;
    int failed;

    memset(&sr, 0, sizeof sr);
    if ((s = op_kernel_create(d, forward, l, 0, &k)) != MPSCL_SUCCESS) {
        note_status(r, "create", s);
        return -1;
    }
    if ((s = script_prepare(&sr, d, ps, script)) != MPSCL_SUCCESS)
        note_status(r, "buffers and outputs", s);
    for (const char *step = script; s == MPSCL_SUCCESS && *step != '\0';
         step = next_step(step)) {
        if ((s = script_step(&sr, &k, ps, step)) != MPSCL_SUCCESS) {
            if (sr.hung)
                note(r, "step %.2s: buffer %c did not complete in %d s (a hung launch)", step,
                     step[1], HANG_SECONDS);
            else
                note(r, "step %.2s: %s: %s", step, mpscl_status_string(s),
                     mpscl_last_error_message());
        }
    }
    if (s != MPSCL_SUCCESS)
        script_finish(&sr);
    if (sr.hung)
        return -1;   /* buffers still running: their objects are leaked, not released in use */
    failed = s != MPSCL_SUCCESS || script_compare(r, &sr, forward, ps, want) != 0;
    script_free(&sr);
    op_kernel_release(&k);
    return failed ? -1 : 0;
}

/* A case: problems A and B, their sequential runs, then each interleaving `repeats` times on
 * fresh kernel objects. 0 when all matched; otherwise r says where first. */
static int
run_case(report *r, mpscl_device *d, int forward, const layout *l, const growth *g,
         const interleaving *const *ils, size_t nils, int repeats)
{
    problem ps[2];
    results want[2];
    int failed = 0, made;

    memset(want, 0, sizeof want);
    made = problem_make(&ps[0], d, g->an, g->ac, 11) == 0;
    made &= problem_make(&ps[1], d, g->bn, g->bc, 12) == 0;
    snprintf(r->context, sizeof r->context, "%s, %s layout, growth %s (A %zux%zu, B %zux%zu)",
             forward ? "forward" : "gradient", l->name, g->name, g->an, g->ac, g->bn, g->bc);
    if (!made) {
        note(r, "out of memory");
        failed = 1;
    }
    for (int i = 0; i < 2 && !failed; i++)
        failed = sequential_run(r, d, forward, l, &ps[i], &want[i]) != 0;
    for (size_t i = 0; i < nils && !failed; i++) {
        for (int rep = 0; rep < repeats && !failed; rep++) {
            snprintf(r->context, sizeof r->context,
                     "%s, %s layout, growth %s (A %zux%zu, B %zux%zu), interleaving %s "
                     "[%s], repeat %d", forward ? "forward" : "gradient", l->name, g->name,
                     g->an, g->ac, g->bn, g->bc, ils[i]->name, ils[i]->script, rep + 1);
            failed = script_run_once(r, d, forward, l, ils[i]->script, ps, want) != 0;
        }
    }
    for (int i = 0; i < 2; i++) {
        results_free(&want[i]);
        problem_free(&ps[i]);
    }
    return failed ? -1 : 0;
}

/* Every layout x growth kind x interleaving, the forward and the gradient: _i picks the
 * operation, layout and growth kind (i / 16, i / 4 % 4, i % 4); each test runs every
 * interleaving case_repeats() times. The whole product, not a subset: the shapes keep it cheap
 * (about 0.3 s a test on PoCL here; under ThreadSanitizer, 1 s with the 2 repeats .ci/tsan-check
 * asks for), and the layouts differ in what they reuse. A test per growth kind, so a hung launch (its test fails by name after
 * HANG_SECONDS) hides no other kind's result. */
START_TEST(test_shared_kernel_buffers)
{
    const interleaving *ils[INTERLEAVINGS];
    report r = {"", ""};
    int forward = _i / (LAYOUTS * GROWTHS);

    for (size_t i = 0; i < INTERLEAVINGS; i++)
        ils[i] = &interleavings[i];
    run_case(&r, test_device, forward, &layouts[_i / GROWTHS % LAYOUTS], &growths[_i % GROWTHS],
             ils, INTERLEAVINGS, case_repeats());
    ck_assert_msg(r.msg[0] == '\0', "%s", r.msg);
}
END_TEST

/* The reported reproduction at its size: one gradient object in the one-launch layout, 4096x1024
 * committed in one buffer, then 65536x256 (more scratch, no more counters) in another. The test
 * adds the held variant, which overlaps the two launches more often. */
static const growth repro_growth = {"scratch only, reported sizes", 4096, 1024, 65536, 256, 1, 0};

static int
run_repro(report *r, mpscl_device *d, int held, int repeats)
{
    /* commit each, wait both; the same, held then released */
    const interleaving *ils[2] = {&interleavings[0], &interleavings[4]};

    return run_case(r, d, 0, &layouts[1], &repro_growth, ils, held ? 2 : 1, repeats);
}

START_TEST(test_shared_kernel_repro)
{
    report r = {"", ""};

    if (test_skip_large("the reported reproduction", repro_growth.bn * repro_growth.bc))
        return;
    run_repro(&r, test_device, 1, 3);
    ck_assert_msg(r.msg[0] == '\0', "%s", r.msg);
}
END_TEST

/* ---- the shapes still grow what they are named for ---- */

/* chunks and tiles of the plan line of the n x c encode in text (0 when absent). */
static int
plan_of(const char *text, size_t n, size_t c, const char *layout_name, size_t *chunks,
        size_t *tiles)
{
    char shape[64];
    const char *line, *end, *at;

    snprintf(shape, sizeof shape, " %zux%zu ", n, c);
    if ((line = strstr(text, shape)) == NULL)
        return 0;
    end = strchr(line, '\n');
    at = strstr(line, layout_name);
    if (at == NULL || (end != NULL && at > end))
        return 0;
    if ((at = strstr(line, " chunks of ")) == NULL)
        return 0;
    while (at > line && at[-1] >= '0' && at[-1] <= '9')
        at--;
    *chunks = strtoul(at, NULL, 10);
    if ((at = strstr(line, "(tiles ")) == NULL)
        return 0;
    *tiles = strtoul(at + 7, NULL, 10);
    return 1;
}

/* The plan lines (MPSCL_DEBUG, on stderr) of A then B encoded with the layout, into text. */
static void
capture_plans(int forward, const layout *l, const growth *g, char *text, size_t size)
{
    problem ps[2];
    outputs o[2];
    op_kernel k;
    mpscl_command_buffer *cb;
    mpscl_status s[2];
    FILE *log = tmpfile();
    int saved;
    size_t got;

    ck_assert_ptr_nonnull(log);
    ck_assert_int_eq(problem_make(&ps[0], test_device, g->an, g->ac, 11), 0);
    ck_assert_int_eq(problem_make(&ps[1], test_device, g->bn, g->bc, 12), 0);
    ck_assert_int_eq(outputs_make(&o[0], test_device, &ps[0]), 0);
    ck_assert_int_eq(outputs_make(&o[1], test_device, &ps[1]), 0);
    ASSERT_OK(op_kernel_create(test_device, forward, l, 1, &k));
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    /* No assertion while stderr is redirected: without fork it would stay so. */
    fflush(stderr);
    saved = dup(STDERR_FILENO);
    ck_assert_int_ge(saved, 0);
    ck_assert_int_ge(dup2(fileno(log), STDERR_FILENO), 0);
    s[0] = op_encode(&k, cb, &ps[0], &o[0]);
    s[1] = op_encode(&k, cb, &ps[1], &o[1]);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    ASSERT_OK(s[0]);
    ASSERT_OK(s[1]);
    ASSERT_OK(mpscl_command_buffer_commit(cb));
    ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb));
    rewind(log);
    got = fread(text, 1, size - 1, log);
    text[got] = '\0';
    fclose(log);
    mpscl_command_buffer_release(cb);
    op_kernel_release(&k);
    for (int i = 0; i < 2; i++) {
        outputs_free(&o[i]);
        problem_free(&ps[i]);
    }
}

/* Every shape gets the layout it is tested in, and in the one-launch layout each pair needs what
 * its growth kind says beyond A (scratch of tiles x (chunks + 2), counters 3 + tiles; the
 * formulas of lib/bn_plan.c). A failure here means the planner changed under
 * test_shared_kernel_buffers: pick shapes that cover the kinds again. The shapes were chosen for
 * a CPU's plans (CI's PoCL); a GPU's work-group limits can keep the tallest ones from one group
 * per tile, which the buffer tests still run correctly, in another layout. */
START_TEST(test_growth_plans)
{
    const layout *l = &layouts[_i % LAYOUTS];
    int forward = _i / LAYOUTS;
    cl_device_type type = 0;

    ck_assert_int_eq(clGetDeviceInfo(mpscl_device_cl_device_id(test_device), CL_DEVICE_TYPE,
                                     sizeof type, &type, NULL), CL_SUCCESS);
    if ((type & CL_DEVICE_TYPE_CPU) == 0) {
        fprintf(stderr, "test_growth_plans: shapes chosen for CPU plans; %s is not a CPU\n",
                mpscl_device_name(test_device));
        return;
    }

    for (size_t gi = 0; gi < GROWTHS; gi++) {
        const growth *g = &growths[gi];
        char text[2048];
        size_t ca, ta, cb, tb;
        int more_scratch, more_counters;

        capture_plans(forward, l, g, text, sizeof text);
        ck_assert_msg(plan_of(text, g->an, g->ac, l->name, &ca, &ta) &&
                          plan_of(text, g->bn, g->bc, l->name, &cb, &tb),
                      "%s, %s: A %zux%zu and B %zux%zu are not both planned in this layout:\n%s",
                      forward ? "forward" : "gradient", l->name, g->an, g->ac, g->bn, g->bc,
                      text);
        if (strcmp(l->name, "one launch") != 0)
            continue;
        more_scratch = tb * (cb + 2) > ta * (ca + 2);
        more_counters = tb > ta;
        ck_assert_msg(more_scratch == g->scratch && more_counters == g->counters,
                      "%s, growth %s: A %zux%zu is %zu tiles x %zu chunks, B %zux%zu %zu x %zu",
                      forward ? "forward" : "gradient", g->name, g->an, g->ac, ta, ca, g->bn,
                      g->bc, tb, cb);
    }
}
END_TEST

/* --repro [N]: the reported reproduction N times (default 1, each on a fresh kernel object)
 * outside Check, for running in many processes at once. Exit status 0: every output matched the
 * sequential runs; 1: a mismatch, a failed status or a hang (printed). */
static int
repro(int runs)
{
    mpscl_device *d;
    report r = {"", ""};

    if (mpscl_device_create_default(&d) != MPSCL_SUCCESS) {
        fprintf(stderr, "no device: %s\n", mpscl_last_error_message());
        return 1;
    }
    if (run_repro(&r, d, 0, runs) != 0) {
        fprintf(stderr, "%s\n", r.msg);
        fflush(NULL);
        _exit(1);   /* a hung launch may still run: no OpenCL teardown */
    }
    printf("%d run%s matched the sequential runs\n", runs, runs == 1 ? "" : "s");
    mpscl_device_release(d);
    return 0;
}

int
main(int argc, char **argv)
{
    Suite *s;
    TCase *tc;

    if (argc == 2 && strcmp(argv[1], "--emit") == 0)
        return emit();
    if ((argc == 2 || argc == 3) && strcmp(argv[1], "--repro") == 0)
        return repro(argc == 3 && atoi(argv[2]) > 1 ? atoi(argv[2]) : 1);
    s = suite_create("concurrency");
    tc = tcase_create("core");
    tcase_add_checked_fixture(tc, test_device_setup, test_device_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_threads_share_one_kernel);
    tcase_add_test(tc, test_bitwise_reruns);
    tcase_add_test(tc, test_across_processes);
    suite_add_tcase(s, tc);
    tc = tcase_create("shared kernel buffers");
    tcase_add_checked_fixture(tc, test_device_setup, test_device_teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_loop_test(tc, test_growth_plans, 0, 2 * LAYOUTS);
    tcase_add_loop_test(tc, test_shared_kernel_buffers, 0, 2 * LAYOUTS * GROWTHS);
    tcase_add_test(tc, test_shared_kernel_repro);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
