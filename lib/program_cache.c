/* The persistent program cache: compiled program binaries on disk, so that a new process skips
 * the OpenCL compiler (seconds on PoCL when its own cache is cold, ~45 ms when warm; ~5 ms from
 * here, most of it PoCL reading the bitcode back in clBuildProgram). The price is paid once per
 * program: asked for its binary, PoCL compiles every kernel in it, about three times the CPU time
 * of the build itself.
 *
 * Where: $MPSCL_CACHE_DIR, else $XDG_CACHE_HOME/mpscl, else $HOME/.cache/mpscl, created with
 * mode 0700 when missing. MPSCL_CACHE_DIR=off or MPSCL_DISABLE_CACHE=1 turns the cache off.
 *
 * Key: the text of everything that can change the binary: the entry format, the mpscl version,
 * the host's pointer width, CL_PLATFORM_VERSION, CL_DEVICE_VENDOR, CL_DEVICE_NAME,
 * CL_DRIVER_VERSION, the build options and the source bytes themselves, each field with its
 * length so that no two keys read alike. The file name is a 64-bit hash of that text (hash64
 * below: FNV-1a by words) in hex; the file repeats the whole text, and a load compares it byte
 * for byte, so a hash collision or a file renamed into place is a miss, never a wrong program.
 * Entries of old versions or drivers are never read again and never removed: deleting the
 * directory is always safe.
 *
 * File: a 32-byte header, the key text, the binary.
 *   0  "MPSCLPC1"  magic and format version
 *   8  uint64      key text length
 *  16  uint64      binary length
 *  24  uint64      hash64 of the binary
 * Integers are in host byte order (a file from a host of the other order fails the length
 * checks). The file size must be exactly 32 + key + binary: a truncated or extended file fails.
 *
 * Every problem (no directory, unreadable or corrupt entry, a binary the driver refuses, a full
 * disk) is a miss or a skipped store: the caller builds from source and the store replaces the
 * bad entry. Nothing here records an error for mpscl_last_error_message: the cache may make us
 * fast, never fail us. MPSCL_DEBUG=1 prints why an entry was refused. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define MAGIC "MPSCLPC1"
#define HEADER_BYTES 32
/* Larger than any program binary we know of (PoCL's are 0.2 to 2 MB), small enough that a
 * garbage length cannot make us allocate the machine. */
#define MAX_FILE_BYTES ((uint64_t)1 << 30)

struct mpscl__cache_entry {
    char *key;          /* the key text */
    size_t key_len;
    char *dir;          /* the cache directory */
    char *path;         /* dir/<hash>.bin */
    const char *options;
};

static void debug(const char *fmt, ...) MPSCL__PRINTF(1, 2);

static void
debug(const char *fmt, ...)
{
    va_list ap;

    if (getenv("MPSCL_DEBUG") == NULL)
        return;
    va_start(ap, fmt);
    fputs("mpscl: program cache: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* FNV-1a, 64 bits, taken a 64-bit word at a time (host order; the tail byte by byte), then
 * folded so the high bits reach the low ones. Byte-wise FNV-1a cost 0.25 ms on a 180 kB PoCL
 * binary, 5% of a warm first encode; a word at a time costs an eighth of that. It names files
 * and catches corruption: each step is a bijection of the state, so a change confined to one
 * word always changes the result. Not a defence against an attacker who can write the cache
 * directory, who could as well replace the library. */
static uint64_t
hash64(const void *bytes, size_t n)
{
    const unsigned char *p = bytes;
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

/* A growing byte string; `failed` sticks after the first allocation failure. */
typedef struct text {
    char *p;
    size_t len, cap;
    int failed;
} text;

static void
text_put(text *t, const void *bytes, size_t n)
{
    if (t->failed)
        return;
    if (t->cap - t->len < n + 1) {
        size_t cap = t->cap * 2 > t->len + n + 1 ? t->cap * 2 : t->len + n + 1024;
        char *p = realloc(t->p, cap);
        if (p == NULL) {
            t->failed = 1;
            return;
        }
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->len, bytes, n);
    t->len += n;
    t->p[t->len] = '\0';
}

/* "name <length>:<value>\n": the length makes the text unambiguous whatever the value holds. */
static void
text_field(text *t, const char *name, const void *value, size_t n)
{
    char head[96];
    int k = snprintf(head, sizeof head, "%s %zu:", name, n);

    text_put(t, head, (size_t)k);
    text_put(t, value, n);
    text_put(t, "\n", 1);
}

/* A string property of the device or platform, of any length; NULL on failure. */
static char *
info_string(mpscl_device *d, int platform, cl_uint param, size_t *len)
{
    size_t n = 0;
    char *s;
    cl_int err = platform ? clGetPlatformInfo(d->platform, param, 0, NULL, &n)
                          : clGetDeviceInfo(d->device, param, 0, NULL, &n);

    if (err != CL_SUCCESS || (s = calloc(1, n + 1)) == NULL)
        return NULL;
    err = platform ? clGetPlatformInfo(d->platform, param, n, s, NULL)
                   : clGetDeviceInfo(d->device, param, n, s, NULL);
    if (err != CL_SUCCESS) {
        free(s);
        return NULL;
    }
    *len = strlen(s);   /* the reported size counts the terminating NUL */
    return s;
}

/* The cache directory the environment asks for, malloc'd; NULL when the cache is off. */
static char *
cache_dir(void)
{
    const char *env = getenv("MPSCL_DISABLE_CACHE"), *base;
    char *dir;

    if (env != NULL && strcmp(env, "1") == 0)
        return NULL;
    env = getenv("MPSCL_CACHE_DIR");
    if (env != NULL && *env != '\0')
        return strcmp(env, "off") == 0 ? NULL : strdup(env);
    /* The XDG base directory spec ignores an empty or relative $XDG_CACHE_HOME. */
    base = getenv("XDG_CACHE_HOME");
    if (base != NULL && base[0] == '/') {
        if ((dir = malloc(strlen(base) + sizeof "/mpscl")) != NULL)
            sprintf(dir, "%s/mpscl", base);
        return dir;
    }
    base = getenv("HOME");
    if (base == NULL || *base == '\0')
        return NULL;
    if ((dir = malloc(strlen(base) + sizeof "/.cache/mpscl")) != NULL)
        sprintf(dir, "%s/.cache/mpscl", base);
    return dir;
}

mpscl__cache_entry *
mpscl__cache_open(mpscl_device *d, cl_uint count, const char *const *texts, const size_t *lengths,
                  const char *options)
{
    static const struct { int platform; cl_uint param; const char *name; } props[] = {
        {1, CL_PLATFORM_VERSION, "platform"},
        {0, CL_DEVICE_VENDOR, "vendor"},
        {0, CL_DEVICE_NAME, "device"},
        {0, CL_DRIVER_VERSION, "driver"},
    };
    mpscl__cache_entry *e;
    text key = {0};
    char num[32];
    char *dir = cache_dir();

    if (dir == NULL)
        return NULL;
    text_field(&key, "format", MAGIC, strlen(MAGIC));
    text_field(&key, "mpscl", PACKAGE_VERSION, strlen(PACKAGE_VERSION));
    /* A 32-bit and a 64-bit process may share a home directory and get different binaries. */
    snprintf(num, sizeof num, "%zu", sizeof(void *) * 8);
    text_field(&key, "host-bits", num, strlen(num));
    for (size_t i = 0; i < sizeof props / sizeof props[0]; i++) {
        size_t n = 0;
        char *v = info_string(d, props[i].platform, props[i].param, &n);
        if (v == NULL) {
            /* Without every key field a match could be wrong: no cache for this program. */
            debug("cannot query the %s for the key", props[i].name);
            free(key.p);
            free(dir);
            return NULL;
        }
        text_field(&key, props[i].name, v, n);
        free(v);
    }
    text_field(&key, "options", options, strlen(options));
    for (cl_uint i = 0; i < count; i++)
        text_field(&key, "source", texts[i], lengths[i]);
    e = calloc(1, sizeof *e);
    if (key.failed || e == NULL || (e->path = malloc(strlen(dir) + 32)) == NULL) {
        free(e);
        free(key.p);
        free(dir);
        return NULL;
    }
    sprintf(e->path, "%s/%016llx.bin", dir,
            (unsigned long long)hash64(key.p, key.len));
    e->key = key.p;
    e->key_len = key.len;
    e->dir = dir;
    e->options = options;
    return e;
}

void
mpscl__cache_close(mpscl__cache_entry *e)
{
    if (e == NULL)
        return;
    free(e->key);
    free(e->dir);
    free(e->path);
    free(e);
}

/* The whole file, malloc'd, or NULL (missing, unreadable, absurdly large). */
static unsigned char *
read_file(const char *path, size_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    unsigned char *buf = NULL;
    size_t got = 0;

    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > MAX_FILE_BYTES ||
        (buf = malloc((size_t)st.st_size + 1)) == NULL)
        goto fail;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            goto fail;
        got += (size_t)r;
    }
    close(fd);
    *size = got;
    return buf;
fail:
    free(buf);
    close(fd);
    return NULL;
}

cl_program
mpscl__cache_load(mpscl_device *d, const mpscl__cache_entry *e)
{
    size_t size = 0;
    unsigned char *file;
    uint64_t key_len, bin_len, sum;
    const unsigned char *bin;
    size_t bin_size;
    cl_int err, bin_status = CL_SUCCESS;
    cl_program prog;

    if (e == NULL || (file = read_file(e->path, &size)) == NULL)
        return NULL;
    if (size < HEADER_BYTES || memcmp(file, MAGIC, 8) != 0) {
        debug("%s: not a cache entry", e->path);
        goto fail;
    }
    memcpy(&key_len, file + 8, 8);
    memcpy(&bin_len, file + 16, 8);
    memcpy(&sum, file + 24, 8);
    /* Each length alone is checked first, so that the sum cannot wrap. */
    if (key_len != e->key_len || bin_len == 0 || bin_len > MAX_FILE_BYTES ||
        HEADER_BYTES + key_len + bin_len != size) {
        debug("%s: lengths do not match the file (%zu bytes)", e->path, size);
        goto fail;
    }
    if (memcmp(file + HEADER_BYTES, e->key, e->key_len) != 0) {
        debug("%s: written for another key", e->path);
        goto fail;
    }
    bin = file + HEADER_BYTES + key_len;
    bin_size = (size_t)bin_len;
    if (hash64(bin, bin_size) != sum) {
        debug("%s: binary checksum mismatch", e->path);
        goto fail;
    }
    prog = clCreateProgramWithBinary(d->context, 1, &d->device, &bin_size, &bin, &bin_status,
                                     &err);
    if (err != CL_SUCCESS || bin_status != CL_SUCCESS) {
        debug("%s: clCreateProgramWithBinary: %s / %s", e->path, mpscl__cl_error_name(err),
              mpscl__cl_error_name(bin_status));
        if (err == CL_SUCCESS)
            mpscl__check_cl(clReleaseProgram(prog), "clReleaseProgram");
        goto fail;
    }
    /* A binary still needs clBuildProgram (it may be an intermediate form): with the same
     * options, so that a driver that compiles again compiles the same program. */
    err = clBuildProgram(prog, 1, &d->device, e->options, NULL, NULL);
    if (err != CL_SUCCESS) {
        debug("%s: clBuildProgram on the binary: %s", e->path, mpscl__cl_error_name(err));
        mpscl__check_cl(clReleaseProgram(prog), "clReleaseProgram");
        goto fail;
    }
    free(file);
    return prog;
fail:
    free(file);
    return NULL;
}

/* mkdir -p with mode 0700 for what it creates; 0 when dir exists afterwards. */
static int
make_dirs(char *dir)
{
    struct stat st;

    for (char *p = dir + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        int ok = mkdir(dir, 0700) == 0 || errno == EEXIST;
        *p = c;
        if (!ok)
            return -1;
        if (c == '\0')
            break;
    }
    return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

static int
write_all(int fd, const void *bytes, size_t n)
{
    const unsigned char *p = bytes;

    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* This device's binary of prog, malloc'd; NULL on failure. The program may belong to a context
 * of several devices (a wrapped user context): the query returns one binary per device. */
static unsigned char *
program_binary(mpscl_device *d, cl_program prog, size_t *size)
{
    cl_uint ndev = 0, mine;
    cl_device_id *devs = NULL;
    size_t *sizes = NULL;
    unsigned char **bins = NULL, *out = NULL;

    if (clGetProgramInfo(prog, CL_PROGRAM_NUM_DEVICES, sizeof ndev, &ndev, NULL) != CL_SUCCESS ||
        ndev == 0 || (devs = calloc(ndev, sizeof *devs)) == NULL ||
        (sizes = calloc(ndev, sizeof *sizes)) == NULL ||
        (bins = calloc(ndev, sizeof *bins)) == NULL ||
        clGetProgramInfo(prog, CL_PROGRAM_DEVICES, ndev * sizeof *devs, devs, NULL) != CL_SUCCESS ||
        clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, ndev * sizeof *sizes, sizes, NULL) !=
            CL_SUCCESS)
        goto done;
    for (mine = 0; mine < ndev && devs[mine] != d->device; mine++)
        ;
    if (mine == ndev || sizes[mine] == 0)
        goto done;
    /* A buffer for every device, not NULL for the others: not every driver skips NULL ones. */
    for (cl_uint i = 0; i < ndev; i++)
        if ((bins[i] = malloc(sizes[i] > 0 ? sizes[i] : 1)) == NULL)
            goto done;
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARIES, ndev * sizeof *bins, bins, NULL) != CL_SUCCESS)
        goto done;
    out = bins[mine];
    bins[mine] = NULL;
    *size = sizes[mine];
done:
    for (cl_uint i = 0; bins != NULL && i < ndev; i++)
        free(bins[i]);
    free(bins);
    free(sizes);
    free(devs);
    return out;
}

void
mpscl__cache_store(mpscl_device *d, const mpscl__cache_entry *e, cl_program prog)
{
    unsigned char header[HEADER_BYTES], *bin;
    uint64_t key_len, bin_len, sum;
    size_t size = 0;
    char *tmp;
    int fd;

    if (e == NULL || (bin = program_binary(d, prog, &size)) == NULL)
        return;
    if (make_dirs(e->dir) != 0 || (tmp = malloc(strlen(e->path) + 16)) == NULL) {
        debug("cannot create %s", e->dir);
        free(bin);
        return;
    }
    /* A temporary name in the same directory, then rename: a reader sees the old entry or the
     * whole new one, never a part, even with several processes storing at once. */
    sprintf(tmp, "%s.tmp.XXXXXX", e->path);
    if ((fd = mkstemp(tmp)) < 0) {
        debug("cannot create a file in %s", e->dir);
        free(tmp);
        free(bin);
        return;
    }
    key_len = e->key_len;
    bin_len = size;
    sum = hash64(bin, size);
    memcpy(header, MAGIC, 8);
    memcpy(header + 8, &key_len, 8);
    memcpy(header + 16, &bin_len, 8);
    memcpy(header + 24, &sum, 8);
    /* fsync before rename: after a crash the name points to the whole file or the old one. */
    if (write_all(fd, header, sizeof header) != 0 || write_all(fd, e->key, e->key_len) != 0 ||
        write_all(fd, bin, size) != 0 || fsync(fd) != 0) {
        debug("cannot write %s", tmp);
        close(fd);
        unlink(tmp);
    } else if (close(fd) != 0 || rename(tmp, e->path) != 0) {
        debug("cannot rename %s", tmp);
        unlink(tmp);
    }
    free(tmp);
    free(bin);
}
