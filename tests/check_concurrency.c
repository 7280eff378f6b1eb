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
 *
 * Run by hand under ThreadSanitizer or helgrind: see README ("Tests and checks by hand"). */
#define _POSIX_C_SOURCE 200809L
#include <float.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
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

int
main(int argc, char **argv)
{
    Suite *s;
    TCase *tc;

    if (argc == 2 && strcmp(argv[1], "--emit") == 0)
        return emit();
    s = suite_create("concurrency");
    tc = tcase_create("core");
    tcase_add_checked_fixture(tc, test_device_setup, test_device_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_threads_share_one_kernel);
    tcase_add_test(tc, test_bitwise_reruns);
    tcase_add_test(tc, test_across_processes);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
