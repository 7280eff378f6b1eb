/* tests/check_program_cache.c: the persistent program cache (lib/program_cache.c). Each test
 * points MPSCL_CACHE_DIR at a fresh directory of its own and creates device objects one after
 * another, as separate processes would: the first compiles and stores, the next loads. A
 * damaged or foreign entry must be rebuilt and replaced, never used, and a cache that cannot be
 * written must change nothing but speed.
 *
 * The corruption cases know the entry layout of program_cache.c: a 32-byte header ("MPSCLPC1",
 * key length, binary length, checksum, host order), the key text, the binary; and the checksum
 * function, to forge an entry that only the driver can refuse. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define N 13
#define C 5   /* not a multiple of 4: the scalar program, one entry */

/* The directory the harness gave MPSCL_CACHE_DIR, read in main before any test changes it. */
static char harness_cache[4096];

/* This test's directory, made by fresh_dir. */
static char dir[4096 + 64];
/* The loop row under test, for failure messages. */
static const char *row = "";

/* A new empty directory next to the harness's cache (inside the build tree), else in $TMPDIR,
 * else in the working directory; MPSCL_CACHE_DIR points at it unless `point` is 0. */
static void
fresh_dir(int point)
{
    const char *tmp = getenv("TMPDIR");
    char parent[4096];

    if (harness_cache[0] == '/') {
        char *slash;
        snprintf(parent, sizeof parent, "%s", harness_cache);
        slash = strrchr(parent, '/');
        *slash = '\0';
        if (parent[0] == '\0')
            snprintf(parent, sizeof parent, "/");
        /* Its own parent (tests/.cache) may not exist yet in a fresh build tree. */
        ck_assert_msg(mkdir(parent, 0700) == 0 || errno == EEXIST, "mkdir %s: %s", parent,
                      strerror(errno));
    } else if (tmp != NULL && tmp[0] != '\0') {
        snprintf(parent, sizeof parent, "%s", tmp);
    } else {
        /* Absolute, since a relative $XDG_CACHE_HOME is ignored by design. */
        ck_assert_ptr_nonnull(getcwd(parent, sizeof parent));
    }
    snprintf(dir, sizeof dir, "%s/program-cache-test.XXXXXX", parent);
    ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp %s: %s", dir, strerror(errno));
    unsetenv("MPSCL_DISABLE_CACHE");
    if (point)
        ck_assert_int_eq(setenv("MPSCL_CACHE_DIR", dir, 1), 0);
}

/* Removes what the test made: a tree of plain files and directories, two levels at most. */
static void
remove_tree(const char *path, int depth)
{
    DIR *dp = opendir(path);
    struct dirent *de;
    char sub[4096 + 256];

    if (dp == NULL) {
        unlink(path);
        return;
    }
    chmod(path, 0700);
    while ((de = readdir(dp)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
        if (depth < 4)
            remove_tree(sub, depth + 1);
    }
    closedir(dp);
    rmdir(path);
}

static void
teardown(void)
{
    if (dir[0] != '\0')
        remove_tree(dir, 0);
    dir[0] = '\0';
}

/* Entries in path (".", ".." excluded); with `name`, the last one's name. Missing: 0. */
static size_t
count_entries(const char *path, char *name, size_t name_size)
{
    DIR *dp = opendir(path);
    struct dirent *de;
    size_t n = 0;

    if (dp == NULL)
        return 0;
    while ((de = readdir(dp)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        n++;
        if (name != NULL)
            snprintf(name, name_size, "%s", de->d_name);
    }
    closedir(dp);
    return n;
}

/* The single entry of dir (no temporary file left beside it), its full path in out. */
static void
only_entry(const char *path, char *out, size_t out_size)
{
    char name[256] = "";
    size_t n = count_entries(path, name, sizeof name);

    ck_assert_msg(n == 1, "%s holds %zu entries, expected 1", path, n);
    ck_assert_msg(strlen(name) == 20 && strcmp(name + 16, ".bin") == 0,
                  "entry name %s is not <16 hex digits>.bin", name);
    snprintf(out, out_size, "%s/%s", path, name);
}

static unsigned char *
slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long len;

    ck_assert_msg(f != NULL, "open %s: %s", path, strerror(errno));
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    len = ftell(f);
    ck_assert_int_ge(len, 0);
    ck_assert_int_eq(fseek(f, 0, SEEK_SET), 0);
    buf = malloc((size_t)len + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *size = (size_t)len;
    return buf;
}

static void
spill(const char *path, const void *bytes, size_t size)
{
    FILE *f = fopen(path, "wb");

    ck_assert_msg(f != NULL, "open %s: %s", path, strerror(errno));
    ck_assert_uint_eq(fwrite(bytes, 1, size, f), size);
    ck_assert_int_eq(fclose(f), 0);
}

typedef struct result {
    float dx[N * C], dgamma[C], dbeta[C];
} result;

/* One gradient of a fixed N x C problem on d: the results, byte for byte comparable. */
static void
gradient(mpscl_device *d, result *r)
{
    size_t rb = C * sizeof(float);
    mpscl_matrix_descriptor md = mpscl_matrix_descriptor_make(N, C, rb, MPSCL_DATA_TYPE_FLOAT32);
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make(C, MPSCL_DATA_TYPE_FLOAT32);
    mpscl_matrix_batch_normalization_gradient *k = NULL;
    mpscl_command_buffer *cb = NULL;
    mpscl_matrix *dy = NULL, *x = NULL, *dx = NULL;
    mpscl_vector *mean = NULL, *var = NULL, *gamma = NULL, *beta = NULL, *dg = NULL, *db = NULL;
    float hx[N * C], hdy[N * C], hmean[C], hvar[C], hgamma[C], hbeta[C];
    uint64_t rng = 4242;

    /* Non-zero means and a different scale per column. */
    for (size_t i = 0; i < N * C; i++) {
        hx[i] = (float)(i % C + 1) * test_rng_uniform(&rng, -1, 1) + (float)(i % C);
        hdy[i] = test_rng_uniform(&rng, -1, 1);
    }
    for (size_t k2 = 0; k2 < C; k2++) {
        hmean[k2] = (float)k2 + test_rng_uniform(&rng, -0.1f, 0.1f);
        hvar[k2] = (float)((k2 + 1) * (k2 + 1)) / 3.0f;
        hgamma[k2] = test_rng_uniform(&rng, 0.5f, 2);
        hbeta[k2] = test_rng_uniform(&rng, -1, 1);
    }
    memset(r, 0, sizeof *r);
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_create(d, &k));
    ASSERT_OK(mpscl_command_buffer_create(d, &cb));
    ASSERT_OK(mpscl_matrix_create(d, &md, &dy));
    ASSERT_OK(mpscl_matrix_create(d, &md, &x));
    ASSERT_OK(mpscl_matrix_create(d, &md, &dx));
    ASSERT_OK(mpscl_vector_create(d, &vd, &mean));
    ASSERT_OK(mpscl_vector_create(d, &vd, &var));
    ASSERT_OK(mpscl_vector_create(d, &vd, &gamma));
    ASSERT_OK(mpscl_vector_create(d, &vd, &beta));
    ASSERT_OK(mpscl_vector_create(d, &vd, &dg));
    ASSERT_OK(mpscl_vector_create(d, &vd, &db));
    ASSERT_OK(mpscl_matrix_write(dy, hdy, rb));
    ASSERT_OK(mpscl_matrix_write(x, hx, rb));
    ASSERT_OK(mpscl_vector_write(mean, hmean));
    ASSERT_OK(mpscl_vector_write(var, hvar));
    ASSERT_OK(mpscl_vector_write(gamma, hgamma));
    ASSERT_OK(mpscl_vector_write(beta, hbeta));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_encode(k, cb, dy, x, mean, var, gamma,
                                                               beta, dx, dg, db));
    ASSERT_OK(mpscl_command_buffer_commit(cb));
    ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb));
    ASSERT_OK(mpscl_matrix_read(dx, r->dx, rb));
    ASSERT_OK(mpscl_vector_read(dg, r->dgamma));
    ASSERT_OK(mpscl_vector_read(db, r->dbeta));
    mpscl_command_buffer_release(cb);
    mpscl_matrix_batch_normalization_gradient_release(k);
    mpscl_matrix_release(dy);
    mpscl_matrix_release(x);
    mpscl_matrix_release(dx);
    mpscl_vector_release(mean);
    mpscl_vector_release(var);
    mpscl_vector_release(gamma);
    mpscl_vector_release(beta);
    mpscl_vector_release(dg);
    mpscl_vector_release(db);
}

/* One forward with compute_statistics: another program, so another entry. */
static void
forward(mpscl_device *d, float y[12])
{
    mpscl_matrix_descriptor md = mpscl_matrix_descriptor_make(4, 3, 12, MPSCL_DATA_TYPE_FLOAT32);
    mpscl_vector_descriptor vd = mpscl_vector_descriptor_make(3, MPSCL_DATA_TYPE_FLOAT32);
    float xs[12] = {1, 2, 3, -4, 5, 6, 7, -8, 9, 10, 11, -12};
    mpscl_matrix_batch_normalization *k = NULL;
    mpscl_command_buffer *cb = NULL;
    mpscl_matrix *x = NULL, *ym = NULL;
    mpscl_vector *mean = NULL, *var = NULL;

    ASSERT_OK(mpscl_matrix_batch_normalization_create(d, &k));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_compute_statistics(k, 1));
    ASSERT_OK(mpscl_command_buffer_create(d, &cb));
    ASSERT_OK(mpscl_matrix_create(d, &md, &x));
    ASSERT_OK(mpscl_matrix_create(d, &md, &ym));
    ASSERT_OK(mpscl_vector_create(d, &vd, &mean));
    ASSERT_OK(mpscl_vector_create(d, &vd, &var));
    ASSERT_OK(mpscl_matrix_write(x, xs, 12));
    ASSERT_OK(mpscl_matrix_batch_normalization_encode(k, cb, x, mean, var, NULL, NULL, ym));
    ASSERT_OK(mpscl_command_buffer_commit(cb));
    ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb));
    ASSERT_OK(mpscl_matrix_read(ym, y, 12));
    mpscl_command_buffer_release(cb);
    mpscl_matrix_batch_normalization_release(k);
    mpscl_matrix_release(x);
    mpscl_matrix_release(ym);
    mpscl_vector_release(mean);
    mpscl_vector_release(var);
}

static mpscl_device *
new_device(void)
{
    mpscl_device *d = NULL;

    ASSERT_OK(mpscl_device_create_default(&d));
    return d;
}

/* A new device object runs the gradient; its counts must be (built, loaded) and its results
 * bitwise those of `want` (when given). The results are written to `got` (when given). */
static void
gradient_on_new_device(size_t built, size_t loaded, const result *want, result *got)
{
    mpscl_device *d = new_device();
    result r;

    gradient(d, &r);
    ck_assert_msg(mpscl_device_programs_built(d) == built &&
                      mpscl_device_programs_loaded(d) == loaded,
                  "%s: built %zu, loaded %zu; expected %zu, %zu", row,
                  mpscl_device_programs_built(d), mpscl_device_programs_loaded(d), built, loaded);
    mpscl_device_release(d);
    if (want != NULL)
        ck_assert_msg(memcmp(&r, want, sizeof r) == 0,
                      "%s: results differ from the source-built program's", row);
    if (got != NULL)
        *got = r;
}

START_TEST(cold_then_warm)
{
    mpscl_device *d;
    result cold, warm;
    float y_cold[12], y_warm[12];
    char first[4096 + 400];

    ck_assert_uint_eq(mpscl_device_programs_loaded(NULL), 0);
    fresh_dir(1);
    d = new_device();
    ck_assert_uint_eq(mpscl_device_programs_built(d), 0);
    ck_assert_uint_eq(mpscl_device_programs_loaded(d), 0);
    gradient(d, &cold);
    /* One source build, stored as one entry and nothing else (no temporary file left). */
    ck_assert_uint_eq(mpscl_device_programs_built(d), 1);
    ck_assert_uint_eq(mpscl_device_programs_loaded(d), 0);
    only_entry(dir, first, sizeof first);
    forward(d, y_cold);
    ck_assert_uint_eq(mpscl_device_programs_built(d), 2);
    ck_assert_uint_eq(count_entries(dir, NULL, 0), 2);
    mpscl_device_release(d);

    /* A new device object, as a new process would make: both programs from disk, same bits. */
    d = new_device();
    gradient(d, &warm);
    forward(d, y_warm);
    ck_assert_uint_eq(mpscl_device_programs_built(d), 0);
    ck_assert_uint_eq(mpscl_device_programs_loaded(d), 2);
    /* Found in the device's table now: neither count moves. */
    gradient(d, &warm);
    ck_assert_uint_eq(mpscl_device_programs_loaded(d), 2);
    mpscl_device_release(d);
    ck_assert_msg(memcmp(&cold, &warm, sizeof cold) == 0, "gradient: loaded program differs");
    ck_assert_msg(memcmp(y_cold, y_warm, sizeof y_cold) == 0, "forward: loaded program differs");
    ck_assert_uint_eq(count_entries(dir, NULL, 0), 2);
}
END_TEST

/* Ways an entry goes bad. */
enum damage {
    FLIP_BINARY,      /* one byte of the binary: checksum */
    FLIP_KEY,         /* one byte of the key text: key comparison */
    TRUNCATE,         /* the last half gone: lengths */
    EXTEND,           /* bytes appended: lengths */
    EMPTY,            /* zero bytes */
    GARBAGE_HEADER,   /* header overwritten: magic */
    HUGE_LENGTH,      /* a binary length that would wrap the size sum */
    DRIVER_REFUSES,   /* a valid entry around a binary the driver must refuse */
    FOREIGN,          /* another program's entry renamed into place */
    DAMAGE_COUNT
};

static const char *const damage_names[] = {
    "flip a binary byte", "flip a key byte", "truncate", "extend", "empty", "garbage header",
    "huge length", "driver refuses", "foreign entry"};

/* program_cache.c's checksum (FNV-1a by 64-bit words, folded), to forge a consistent entry. */
static uint64_t
hash64(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull, w;
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0x100000001b3ull;
    }
    for (; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h ^ (h >> 32);
}

START_TEST(damaged_entry)
{
    char path[4096 + 400];
    unsigned char *bytes;
    size_t size;
    uint64_t key_len, bin_len;
    result source, again;

    row = damage_names[_i];
    fresh_dir(1);
    gradient_on_new_device(1, 0, NULL, &source);
    only_entry(dir, path, sizeof path);
    bytes = slurp(path, &size);
    ck_assert_uint_gt(size, 32);
    ck_assert_int_eq(memcmp(bytes, "MPSCLPC1", 8), 0);
    memcpy(&key_len, bytes + 8, 8);
    memcpy(&bin_len, bytes + 16, 8);
    ck_assert_uint_eq(32 + key_len + bin_len, size);

    switch ((enum damage)_i) {
    case FLIP_BINARY:
        bytes[32 + key_len + bin_len / 2] ^= 0x40;
        spill(path, bytes, size);
        break;
    case FLIP_KEY:
        bytes[32 + key_len - 2] ^= 0x01;   /* inside the last source text */
        spill(path, bytes, size);
        break;
    case TRUNCATE:
        spill(path, bytes, size / 2);
        break;
    case EXTEND: {
        unsigned char *more = calloc(1, size + 64);
        ck_assert_ptr_nonnull(more);
        memcpy(more, bytes, size);
        spill(path, more, size + 64);
        free(more);
        break;
    }
    case EMPTY:
        spill(path, bytes, 0);
        break;
    case GARBAGE_HEADER:
        memset(bytes, 0xA5, 32);
        spill(path, bytes, size);
        break;
    case HUGE_LENGTH:
        bin_len = UINT64_MAX - 16;
        memcpy(bytes + 16, &bin_len, 8);
        spill(path, bytes, size);
        break;
    case DRIVER_REFUSES: {
        /* Right key, right lengths, a checksum that matches: only the driver can tell. */
        uint64_t sum;
        for (size_t i = 0; i < bin_len; i++)
            bytes[32 + key_len + i] = (unsigned char)(i * 131u + 7u);
        sum = hash64(bytes + 32 + key_len, (size_t)bin_len);
        memcpy(bytes + 24, &sum, 8);
        spill(path, bytes, size);
        break;
    }
    case FOREIGN: {
        /* The forward's entry, a valid file of another key, under the gradient's name. */
        mpscl_device *d = new_device();
        float y[12];
        char other[4096 + 64 + 300] = "", name[256];
        DIR *dp;
        struct dirent *de;

        forward(d, y);
        mpscl_device_release(d);
        ck_assert_uint_eq(count_entries(dir, name, sizeof name), 2);
        dp = opendir(dir);
        ck_assert_ptr_nonnull(dp);
        while ((de = readdir(dp)) != NULL)
            if (de->d_name[0] != '.' && strcmp(path + strlen(dir) + 1, de->d_name) != 0)
                snprintf(other, sizeof other, "%s/%s", dir, de->d_name);
        closedir(dp);
        ck_assert_msg(other[0] != '\0', "the forward's entry is missing");
        ck_assert_int_eq(rename(other, path), 0);
        break;
    }
    case DAMAGE_COUNT:
        break;
    }
    free(bytes);

    /* Detected and rebuilt from source, with the same results... */
    gradient_on_new_device(1, 0, &source, NULL);
    /* ...and replaced: the next device object loads it cleanly. */
    gradient_on_new_device(0, 1, &source, &again);
    ck_assert_uint_eq(count_entries(dir, NULL, 0), 1);
}
END_TEST

/* Turned off: MPSCL_CACHE_DIR=off, or MPSCL_DISABLE_CACHE=1 beside a cache directory. The
 * default locations point into the test directory too, so that a write anywhere shows. */
START_TEST(disabled)
{
    char home[4096 + 96], sub[4096 + 128];

    fresh_dir(_i == 1);
    snprintf(home, sizeof home, "%s/home", dir);
    ck_assert_int_eq(mkdir(home, 0700), 0);
    ck_assert_int_eq(setenv("HOME", home, 1), 0);
    ck_assert_int_eq(setenv("XDG_CACHE_HOME", home, 1), 0);
    if (_i == 0)
        ck_assert_int_eq(setenv("MPSCL_CACHE_DIR", "off", 1), 0);
    else
        ck_assert_int_eq(setenv("MPSCL_DISABLE_CACHE", "1", 1), 0);
    gradient_on_new_device(1, 0, NULL, NULL);
    gradient_on_new_device(1, 0, NULL, NULL);
    /* Only mpscl's places are looked at: PoCL keeps its own cache under $XDG_CACHE_HOME too
     * when POCL_CACHE_DIR is unset (a run outside the harness). */
    snprintf(sub, sizeof sub, "%s/mpscl", home);
    ck_assert_uint_eq(count_entries(sub, NULL, 0), 0);
    snprintf(sub, sizeof sub, "%s/.cache/mpscl", home);
    ck_assert_uint_eq(count_entries(sub, NULL, 0), 0);
    ck_assert_uint_eq(count_entries(dir, NULL, 0), 1);   /* home itself */
}
END_TEST

/* Without MPSCL_CACHE_DIR: $XDG_CACHE_HOME/mpscl, else $HOME/.cache/mpscl, made with mode 0700
 * (mkdir -p: neither .cache nor mpscl exists yet). A relative $XDG_CACHE_HOME is ignored, as
 * the XDG spec says. */
START_TEST(default_location)
{
    char base[4096 + 96], where[4096 + 128], entry[4096 + 400];
    struct stat st;

    fresh_dir(0);
    unsetenv("MPSCL_CACHE_DIR");
    snprintf(base, sizeof base, "%s/base", dir);
    ck_assert_int_eq(mkdir(base, 0700), 0);
    if (_i == 0) {
        ck_assert_int_eq(setenv("XDG_CACHE_HOME", base, 1), 0);
        ck_assert_int_eq(setenv("HOME", "/nonexistent/home", 1), 0);
        snprintf(where, sizeof where, "%s/mpscl", base);
    } else {
        if (_i == 1)
            unsetenv("XDG_CACHE_HOME");
        else
            ck_assert_int_eq(setenv("XDG_CACHE_HOME", "relative/dir", 1), 0);
        ck_assert_int_eq(setenv("HOME", base, 1), 0);
        snprintf(where, sizeof where, "%s/.cache/mpscl", base);
    }
    gradient_on_new_device(1, 0, NULL, NULL);
    ck_assert_int_eq(stat(where, &st), 0);
    ck_assert_msg((st.st_mode & 0777) == 0700, "%s has mode %o", where,
                  (unsigned)(st.st_mode & 0777));
    only_entry(where, entry, sizeof entry);
    gradient_on_new_device(0, 1, NULL, NULL);
}
END_TEST

/* A cache that cannot be written: the directory itself read-only, or a missing one under a
 * read-only parent. Results are right and no error is recorded; only the speed is lost. Root
 * ignores permissions, so the case says so and passes there. */
START_TEST(unwritable)
{
    char target[4096 + 96];
    result first;

    if (geteuid() == 0) {
        fprintf(stderr, "check_program_cache: unwritable: running as root, not tested\n");
        return;
    }
    fresh_dir(0);
    if (_i == 0)
        snprintf(target, sizeof target, "%s", dir);
    else
        snprintf(target, sizeof target, "%s/a/b", dir);
    ck_assert_int_eq(setenv("MPSCL_CACHE_DIR", target, 1), 0);
    ck_assert_int_eq(chmod(dir, 0500), 0);
    gradient_on_new_device(1, 0, NULL, &first);
    ck_assert_str_eq(mpscl_last_error_message(), "");
    gradient_on_new_device(1, 0, &first, NULL);
    ck_assert_int_eq(chmod(dir, 0700), 0);
    ck_assert_uint_eq(count_entries(dir, NULL, 0), 0);
    /* Writable again: the cache works. */
    gradient_on_new_device(1, 0, &first, NULL);
    gradient_on_new_device(0, 1, &first, NULL);
}
END_TEST

static Suite *
program_cache_suite(void)
{
    Suite *s = suite_create("program_cache");
    TCase *tc = tcase_create("core");
    TCase *bad = tcase_create("damage");
    TCase *env = tcase_create("environment");

    /* Checked teardown: runs in the test's own process, after a passing test. */
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_checked_fixture(bad, NULL, teardown);
    tcase_add_checked_fixture(env, NULL, teardown);
    /* Several device objects and cold builds each (PoCL's compiler, or valgrind). */
    tcase_set_timeout(tc, 120);
    tcase_set_timeout(bad, 120);
    tcase_set_timeout(env, 120);
    tcase_add_test(tc, cold_then_warm);
    tcase_add_loop_test(bad, damaged_entry, 0, DAMAGE_COUNT);
    tcase_add_loop_test(env, disabled, 0, 2);
    tcase_add_loop_test(env, default_location, 0, 3);
    tcase_add_loop_test(env, unwritable, 0, 2);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, bad);
    suite_add_tcase(s, env);
    return s;
}

int
main(void)
{
    const char *h = getenv("MPSCL_CACHE_DIR");

    if (h != NULL)
        snprintf(harness_cache, sizeof harness_cache, "%s", h);
    return test_run_suite(program_cache_suite());
}
