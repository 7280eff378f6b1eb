/* The split phases' test harness (split_harness.h). */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "split_harness.h"
#include "tools/ref.h"
#include "util.h"

const char *const split_names[] = {"equal", "unequal", "with an empty share"};

size_t
split_rows(size_t n, size_t p, int kind, size_t *rows)
{
    size_t used = 0;

    for (size_t r = 0; r < p; r++) {
        if (kind == SPLIT_EQUAL)
            rows[r] = n * (r + 1) / p - n * r / p;
        else if (kind == SPLIT_UNEQUAL)
            rows[r] = r == 0 ? 1 : r + 1 < p ? (n - 1) / (2 * r + 1) : 0;
        else
            rows[r] = r == 1 ? 0 : r + 1 < p ? n / 3 : 0;
        used += rows[r];
    }
    rows[p - 1] += n - used;
    return p;
}

double
bound_for(mpscl_data_type t)
{
    return t == F16 ? ldexp(1, -10) : t == BF16 ? ldexp(1, -7) : 1e-6;
}

/* ---- host images ---- */


image
image_new(mpscl_data_type t, size_t count)
{
    image im = {t, count, calloc(count ? count : 1, mpscl_data_type_size(t))};

    ck_assert_ptr_nonnull(im.bytes);
    return im;
}

double
image_at(const image *im, size_t i)
{
    return test_load(im->t, im->bytes, i);
}

mpscl_matrix *
matrix_of(mpscl_device *d, const image *im, size_t rows, size_t cols, size_t mats)
{
    size_t es = mpscl_data_type_size(im->t);
    mpscl_matrix_descriptor desc =
        mpscl_matrix_descriptor_make_batch(rows, cols, mats, cols * es, rows * cols * es, im->t);
    mpscl_matrix *m;

    ASSERT_OK(mpscl_matrix_create(d, &desc, &m));
    ASSERT_OK(mpscl_matrix_write(m, im->bytes, cols * es));
    return m;
}

mpscl_vector *
vector_of(mpscl_device *d, const image *im, size_t length, size_t vectors)
{
    mpscl_vector_descriptor desc = mpscl_vector_descriptor_make_batch(
        length, vectors, length * mpscl_data_type_size(im->t), im->t);
    mpscl_vector *v;

    ASSERT_OK(mpscl_vector_create(d, &desc, &v));
    ASSERT_OK(mpscl_vector_write(v, im->bytes));
    return v;
}

/* ---- one problem: inputs, and every output of a run ---- */


void
problem_make(problem *pb, const split_case *sc)
{
    uint64_t rng = 0x5911u + sc->n * 131u + sc->c;
    size_t n = sc->n, c = sc->c, mats = sc->mats;
    double *m = malloc(c * sizeof(double)), *v = malloc(c * sizeof(double));
    float *xf = malloc(n * c * sizeof(float));

    ck_assert(m && v && xf);
    pb->sc = sc;
    pb->n = n;
    pb->c = c;
    pb->mats = mats;
    pb->x = image_new(sc->t, mats * n * c);
    pb->dy = image_new(sc->t, mats * n * c);
    pb->mean = image_new(sc->vt, mats * c);
    pb->var = image_new(sc->vt, mats * c);
    pb->gamma = image_new(F32, mats * c);
    pb->beta = image_new(F32, mats * c);
    pb->rm = image_new(sc->rt, mats * c);
    pb->rv = image_new(sc->rt, mats * c);
    for (size_t b = 0; b < mats; b++) {
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < c; j++) {
                /* A different scale and offset per column; dy leans on x, as real gradients
                 * do, so that the sums do not cancel to their rounding errors. */
                float u = test_rng_uniform(&rng, -1, 1), scale = (float)(1 << (j % 5)) * 0.25f;
                size_t k = (b * n + i) * c + j;
                test_store(sc->t, pb->x.bytes, k, scale * (3.0f * (float)((int)(j % 3) - 1) + u));
                test_store(sc->t, pb->dy.bytes, k, test_rng_uniform(&rng, 0, 1) + 0.2f + 0.5f * u);
                xf[i * c + j] = (float)image_at(&pb->x, k);
            }
        ref_bn_statistics(n, c, (ref_view){xf, c}, m, v);
        for (size_t j = 0; j < c; j++) {
            test_store(sc->vt, pb->mean.bytes, b * c + j, m[j]);
            test_store(sc->vt, pb->var.bytes, b * c + j, v[j]);
            test_store(F32, pb->gamma.bytes, b * c + j, test_rng_uniform(&rng, 0.5f, 2));
            test_store(F32, pb->beta.bytes, b * c + j, test_rng_uniform(&rng, -1, 1));
            test_store(sc->rt, pb->rm.bytes, b * c + j, test_rng_uniform(&rng, -1, 1));
            test_store(sc->rt, pb->rv.bytes, b * c + j, test_rng_uniform(&rng, 0.5f, 2));
        }
    }
    free(m);
    free(v);
    free(xf);
}

void
outputs_new(outputs *o, const problem *pb)
{
    size_t vc = pb->mats * pb->c, mc = pb->mats * pb->n * pb->c;

    o->mean = image_new(pb->sc->vt, vc);
    o->var = image_new(pb->sc->vt, vc);
    o->rm = image_new(pb->sc->rt, vc);
    o->rv = image_new(pb->sc->rt, vc);
    o->y = image_new(pb->sc->t, mc);
    o->dx = image_new(pb->sc->t, mc);
    o->dgamma = image_new(F32, vc);
    o->dbeta = image_new(F32, vc);
}

void
outputs_free(outputs *o)
{
    image *all[] = {&o->mean, &o->var, &o->rm, &o->rv, &o->y, &o->dx, &o->dgamma, &o->dbeta};

    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]->bytes);
}

void
problem_free(problem *pb)
{
    image *all[] = {&pb->x, &pb->dy, &pb->mean, &pb->var, &pb->gamma, &pb->beta, &pb->rm,
                    &pb->rv};

    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]->bytes);
}

/* The region's matrices only: the others are never written. */
static int
in_region(const problem *pb, size_t b)
{
    return b >= pb->sc->batch_start;
}

static void
setup_forward(mpscl_matrix_batch_normalization *k, const problem *pb, int repro)
{
    ASSERT_OK(mpscl_matrix_batch_normalization_set_epsilon(k, 1e-5f));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_neuron_type(k, pb->sc->neuron, pb->sc->na,
                                                               pb->sc->nb, 0));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_batch_start(k, pb->sc->batch_start));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_momentum(k, 0.3f));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_reproducible(k, repro));
}

static void
setup_gradient(mpscl_matrix_batch_normalization_gradient *g, const problem *pb, int repro)
{
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_epsilon(g, 1e-5f));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_neuron_type(g, pb->sc->neuron,
                                                                        pb->sc->na, pb->sc->nb, 0));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_batch_start(g, pb->sc->batch_start));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_reproducible(g, repro));
}

void
finish(mpscl_command_buffer *cb)
{
    ASSERT_OK(mpscl_command_buffer_commit(cb));
    ASSERT_OK(mpscl_command_buffer_wait_until_completed(cb));
    mpscl_command_buffer_release(cb);
}

/* ---- one device, whole region ---- */

void
run_whole(const problem *pb, int repro, outputs *o)
{
    size_t n = pb->n, c = pb->c, mats = pb->mats;
    mpscl_matrix *x = matrix_of(test_device, &pb->x, n, c, mats);
    mpscl_matrix *dy = matrix_of(test_device, &pb->dy, n, c, mats);
    mpscl_matrix *y = matrix_of(test_device, &o->y, n, c, mats);
    mpscl_matrix *dx = matrix_of(test_device, &o->dx, n, c, mats);
    mpscl_vector *mean = vector_of(test_device, &o->mean, c, mats);
    mpscl_vector *var = vector_of(test_device, &o->var, c, mats);
    mpscl_vector *rm = vector_of(test_device, &pb->rm, c, mats);
    mpscl_vector *rv = vector_of(test_device, &pb->rv, c, mats);
    mpscl_vector *gm = vector_of(test_device, &pb->mean, c, mats);
    mpscl_vector *gv = vector_of(test_device, &pb->var, c, mats);
    mpscl_vector *gamma = vector_of(test_device, &pb->gamma, c, mats);
    mpscl_vector *beta = vector_of(test_device, &pb->beta, c, mats);
    mpscl_vector *dgamma = vector_of(test_device, &o->dgamma, c, mats);
    mpscl_vector *dbeta = vector_of(test_device, &o->dbeta, c, mats);
    mpscl_matrix_batch_normalization *k;
    mpscl_matrix_batch_normalization_gradient *g;
    mpscl_command_buffer *cb;

    ASSERT_OK(mpscl_matrix_batch_normalization_create(test_device, &k));
    setup_forward(k, pb, repro);
    ASSERT_OK(mpscl_matrix_batch_normalization_set_compute_statistics(k, 1));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_create(test_device, &g));
    setup_gradient(g, pb, repro);
    ASSERT_OK(mpscl_command_buffer_create(test_device, &cb));
    ASSERT_OK(mpscl_matrix_batch_normalization_encode_with_running_statistics(
        k, cb, x, mean, var, gamma, beta, y, rm, rv));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_encode(g, cb, dy, x, gm, gv, gamma, beta,
                                                               dx, dgamma, dbeta));
    finish(cb);
    ASSERT_OK(mpscl_matrix_read(y, o->y.bytes, c * mpscl_data_type_size(o->y.t)));
    ASSERT_OK(mpscl_matrix_read(dx, o->dx.bytes, c * mpscl_data_type_size(o->dx.t)));
    ASSERT_OK(mpscl_vector_read(mean, o->mean.bytes));
    ASSERT_OK(mpscl_vector_read(var, o->var.bytes));
    ASSERT_OK(mpscl_vector_read(rm, o->rm.bytes));
    ASSERT_OK(mpscl_vector_read(rv, o->rv.bytes));
    ASSERT_OK(mpscl_vector_read(dgamma, o->dgamma.bytes));
    ASSERT_OK(mpscl_vector_read(dbeta, o->dbeta.bytes));
    mpscl_matrix_batch_normalization_release(k);
    mpscl_matrix_batch_normalization_gradient_release(g);
    mpscl_matrix_release(x);
    mpscl_matrix_release(dy);
    mpscl_matrix_release(y);
    mpscl_matrix_release(dx);
    mpscl_vector *vs[] = {mean, var, rm, rv, gm, gv, gamma, beta, dgamma, dbeta};
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++)
        mpscl_vector_release(vs[i]);
}

/* ---- split over shares ---- */

typedef struct share {
    size_t row0, rows;
    int side;                          /* its device's index in sides[] */
    mpscl_matrix *x, *dy, *y, *dx;     /* its own matrices, or the whole ones (views) */
    mpscl_origin at;                   /* where its rows start in them */
    mpscl_matrix_batch_normalization *k;
    mpscl_matrix_batch_normalization_gradient *g;
    mpscl_vector *part, *gpart, *dgamma, *dbeta;
} share;

/* What each device holds of the whole: the gathered partials and the global statistics. */
typedef struct side {
    mpscl_device *d;
    mpscl_vector *all, *gall, *mean, *var, *rm, *rv, *gm, *gv, *gamma, *beta;
} side;

/* The rows of share s of every matrix, from a whole image, as an image of its own. */
static image
rows_of(const problem *pb, const image *whole, const share *s)
{
    size_t rows = s->rows ? s->rows : 1, c = pb->c, es = mpscl_data_type_size(whole->t);
    image im = image_new(whole->t, pb->mats * rows * c);

    for (size_t b = 0; b < pb->mats; b++)
        memcpy(im.bytes + b * rows * c * es, whole->bytes + (b * pb->n + s->row0) * c * es,
               s->rows * c * es);
    return im;
}

/* Share s's rows of every matrix from its result matrix into a whole image. */
static void
rows_back(const problem *pb, image *whole, const share *s, mpscl_matrix *m, int views)
{
    size_t rows = views ? pb->n : s->rows ? s->rows : 1, c = pb->c;
    size_t es = mpscl_data_type_size(whole->t), r0 = views ? s->row0 : 0;
    unsigned char *all = malloc(pb->mats * rows * c * es);

    ck_assert_ptr_nonnull(all);
    ASSERT_OK(mpscl_matrix_read(m, all, c * es));
    for (size_t b = 0; b < pb->mats; b++)
        if (in_region(pb, b))
            memcpy(whole->bytes + (b * pb->n + s->row0) * c * es,
                   all + (b * rows + r0) * c * es, s->rows * c * es);
    free(all);
}

/* Every share's partial (partials_r) through host memory into each device's gathered vector,
 * with the encoded transfers, partial r at element r * length of every vector. */
static void
gather(share *sh, size_t p, side *sides, size_t nsides, size_t mats, size_t length, int grad)
{
    float *host = malloc(mats * p * length * sizeof(float));
    float *one = malloc(mats * length * sizeof(float));

    ck_assert(host && one);
    for (size_t r = 0; r < p; r++) {
        mpscl_command_buffer *cb;
        ASSERT_OK(mpscl_command_buffer_create(sides[sh[r].side].d, &cb));
        ASSERT_OK(mpscl_vector_encode_read(grad ? sh[r].gpart : sh[r].part, cb, one));
        finish(cb);
        for (size_t b = 0; b < mats; b++)
            memcpy(host + (b * p + r) * length, one + b * length, length * sizeof(float));
    }
    for (size_t i = 0; i < nsides; i++) {
        mpscl_command_buffer *cb;
        ASSERT_OK(mpscl_command_buffer_create(sides[i].d, &cb));
        ASSERT_OK(mpscl_vector_encode_write(grad ? sides[i].gall : sides[i].all, cb, host));
        finish(cb);
    }
    free(host);
    free(one);
}

/* The first share on side i (its kernel objects combine there). */
static share *
first_on(share *sh, size_t p, size_t i)
{
    for (size_t r = 0; r < p; r++)
        if ((size_t)sh[r].side == i)
            return &sh[r];
    return NULL;
}

static void
split_forward(const problem *pb, share *sh, size_t p, side *sides, size_t nsides, int repro)
{
    size_t rounds = mpscl_matrix_batch_normalization_statistics_rounds(sh[0].k), length;

    ck_assert_uint_eq(rounds, repro ? 2 : 1);
    ASSERT_OK(mpscl_matrix_batch_normalization_partials_length(sh[0].k, pb->c, &length));
    for (size_t round = 0; round < rounds; round++) {
        for (size_t r = 0; r < p; r++) {
            mpscl_command_buffer *cb;
            ASSERT_OK(mpscl_command_buffer_create(sides[sh[r].side].d, &cb));
            ASSERT_OK(mpscl_matrix_batch_normalization_encode_partial_statistics(
                sh[r].k, cb, round, sh[r].x, round ? sides[sh[r].side].mean : NULL,
                sh[r].part));
            finish(cb);
        }
        gather(sh, p, sides, nsides, pb->mats, length, 0);
        for (size_t i = 0; i < nsides; i++) {
            side *sd = &sides[i];
            int last = round + 1 == rounds;
            mpscl_command_buffer *cb;
            ASSERT_OK(mpscl_command_buffer_create(sd->d, &cb));
            ASSERT_OK(mpscl_matrix_batch_normalization_encode_combine_statistics(
                first_on(sh, p, i)->k, cb, round, sd->all, p, sd->mean, sd->var,
                last ? sd->rm : NULL, last ? sd->rv : NULL));
            finish(cb);
        }
    }
    for (size_t r = 0; r < p; r++) {
        side *sd = &sides[sh[r].side];
        mpscl_command_buffer *cb;
        if (sh[r].rows == 0)
            continue;   /* nothing to normalise (encode refuses an empty region) */
        ASSERT_OK(mpscl_command_buffer_create(sd->d, &cb));
        ASSERT_OK(mpscl_matrix_batch_normalization_encode(sh[r].k, cb, sh[r].x, sd->mean,
                                                          sd->var, sd->gamma, sd->beta, sh[r].y));
        finish(cb);
    }
}

static void
split_gradient(const problem *pb, share *sh, size_t p, side *sides, size_t nsides)
{
    size_t length;

    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_partials_length(sh[0].g, pb->c, &length));
    for (size_t r = 0; r < p; r++) {
        side *sd = &sides[sh[r].side];
        mpscl_command_buffer *cb;
        ASSERT_OK(mpscl_command_buffer_create(sd->d, &cb));
        ASSERT_OK(mpscl_matrix_batch_normalization_gradient_encode_partial_sums(
            sh[r].g, cb, sh[r].dy, sh[r].x, sd->gm, sd->gv, sd->gamma, sd->beta, sh[r].gpart));
        finish(cb);
    }
    gather(sh, p, sides, nsides, pb->mats, length, 1);
    for (size_t r = 0; r < p; r++) {
        side *sd = &sides[sh[r].side];
        mpscl_command_buffer *cb;
        ASSERT_OK(mpscl_command_buffer_create(sd->d, &cb));
        ASSERT_OK(mpscl_matrix_batch_normalization_gradient_encode_apply(
            sh[r].g, cb, sh[r].dy, sh[r].x, sd->gm, sd->gv, sd->gamma, sd->beta, sd->gall, p,
            sh[r].dx, sh[r].dgamma, sh[r].dbeta));
        finish(cb);
    }
}

static void
side_make(side *sd, mpscl_device *d, const problem *pb, const outputs *o, size_t p, int repro)
{
    mpscl_matrix_batch_normalization *k;
    mpscl_matrix_batch_normalization_gradient *g;
    size_t c = pb->c, mats = pb->mats, fl, gl;
    image fa, ga;

    ASSERT_OK(mpscl_matrix_batch_normalization_create(d, &k));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_reproducible(k, repro));
    ASSERT_OK(mpscl_matrix_batch_normalization_partials_length(k, c, &fl));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_create(d, &g));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_reproducible(g, repro));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_partials_length(g, c, &gl));
    mpscl_matrix_batch_normalization_release(k);
    mpscl_matrix_batch_normalization_gradient_release(g);
    fa = image_new(F32, mats * p * fl);
    ga = image_new(F32, mats * p * gl);
    sd->d = d;
    sd->all = vector_of(d, &fa, p * fl, mats);
    sd->gall = vector_of(d, &ga, p * gl, mats);
    sd->mean = vector_of(d, &o->mean, c, mats);
    sd->var = vector_of(d, &o->var, c, mats);
    sd->rm = vector_of(d, &pb->rm, c, mats);
    sd->rv = vector_of(d, &pb->rv, c, mats);
    sd->gm = vector_of(d, &pb->mean, c, mats);
    sd->gv = vector_of(d, &pb->var, c, mats);
    sd->gamma = vector_of(d, &pb->gamma, c, mats);
    sd->beta = vector_of(d, &pb->beta, c, mats);
    free(fa.bytes);
    free(ga.bytes);
}

static void
side_free(side *sd)
{
    mpscl_vector *vs[] = {sd->all, sd->gall, sd->mean, sd->var, sd->rm, sd->rv, sd->gm, sd->gv,
                          sd->gamma, sd->beta};

    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++)
        mpscl_vector_release(vs[i]);
}

/* Share r's objects: its matrices (views of the whole ones, or its own), kernel objects with
 * its region, and its partials and parameter gradients. */
static void
share_make(share *s, const problem *pb, const outputs *o, mpscl_matrix *const *whole,
           mpscl_device *d, int repro, size_t fl, size_t gl)
{
    size_t c = pb->c, mats = pb->mats, rows = s->rows ? s->rows : 1;
    image pa = image_new(F32, mats * fl), ga = image_new(F32, mats * gl);
    image dg = image_new(F32, mats * c);

    if (whole != NULL) {
        s->x = mpscl_matrix_retain(whole[0]);
        s->dy = mpscl_matrix_retain(whole[1]);
        s->y = mpscl_matrix_retain(whole[2]);
        s->dx = mpscl_matrix_retain(whole[3]);
        s->at = (mpscl_origin){s->row0 < pb->n ? s->row0 : pb->n - 1, 0, 0};
    } else {
        image xi = rows_of(pb, &pb->x, s), di = rows_of(pb, &pb->dy, s);
        image yi = rows_of(pb, &o->y, s), dxi = rows_of(pb, &o->dx, s);
        s->x = matrix_of(d, &xi, rows, c, mats);
        s->dy = matrix_of(d, &di, rows, c, mats);
        s->y = matrix_of(d, &yi, rows, c, mats);
        s->dx = matrix_of(d, &dxi, rows, c, mats);
        s->at = (mpscl_origin){0, 0, 0};
        free(xi.bytes);
        free(di.bytes);
        free(yi.bytes);
        free(dxi.bytes);
    }
    ASSERT_OK(mpscl_matrix_batch_normalization_create(d, &s->k));
    setup_forward(s->k, pb, repro);
    ASSERT_OK(mpscl_matrix_batch_normalization_set_source_matrix_origin(s->k, s->at));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_result_matrix_origin(s->k, s->at));
    ASSERT_OK(mpscl_matrix_batch_normalization_set_source_number_of_feature_vectors(s->k, s->rows));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_create(d, &s->g));
    setup_gradient(s->g, pb, repro);
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_primary_source_matrix_origin(s->g, s->at));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_secondary_source_matrix_origin(s->g,
                                                                                       s->at));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_result_matrix_origin(s->g, s->at));
    ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_source_number_of_feature_vectors(
        s->g, s->rows));
    s->part = vector_of(d, &pa, fl, mats);
    s->gpart = vector_of(d, &ga, gl, mats);
    s->dgamma = vector_of(d, &dg, c, mats);
    s->dbeta = vector_of(d, &dg, c, mats);
    free(pa.bytes);
    free(ga.bytes);
    free(dg.bytes);
}

static void
share_free(share *s)
{
    mpscl_matrix_release(s->x);
    mpscl_matrix_release(s->dy);
    mpscl_matrix_release(s->y);
    mpscl_matrix_release(s->dx);
    mpscl_matrix_batch_normalization_release(s->k);
    mpscl_matrix_batch_normalization_gradient_release(s->g);
    mpscl_vector_release(s->part);
    mpscl_vector_release(s->gpart);
    mpscl_vector_release(s->dgamma);
    mpscl_vector_release(s->dbeta);
}

/* The whole split run: rows[] per share, shares alternating over devs (views: one device, one
 * matrix), every output read back into o (from device 0's side; every other side's statistics
 * and every share's dgamma and dbeta must equal those bitwise). */
void
run_split(const problem *pb, const size_t *rows, size_t p, int views, mpscl_device *const *devs,
          size_t ndevs, int repro, outputs *o)
{
    size_t c = pb->c, mats = pb->mats, fl, gl, row0 = 0;
    share sh[MAXP];
    side sides[2];
    mpscl_matrix *whole[4] = {NULL};
    image extra;

    memset(sh, 0, sizeof sh);
    for (size_t i = 0; i < ndevs; i++)
        side_make(&sides[i], devs[i], pb, o, p, repro);
    {
        mpscl_matrix_batch_normalization *k;
        mpscl_matrix_batch_normalization_gradient *g;
        ASSERT_OK(mpscl_matrix_batch_normalization_create(devs[0], &k));
        ASSERT_OK(mpscl_matrix_batch_normalization_set_reproducible(k, repro));
        ASSERT_OK(mpscl_matrix_batch_normalization_partials_length(k, c, &fl));
        ASSERT_OK(mpscl_matrix_batch_normalization_gradient_create(devs[0], &g));
        ASSERT_OK(mpscl_matrix_batch_normalization_gradient_set_reproducible(g, repro));
        ASSERT_OK(mpscl_matrix_batch_normalization_gradient_partials_length(g, c, &gl));
        mpscl_matrix_batch_normalization_release(k);
        mpscl_matrix_batch_normalization_gradient_release(g);
    }
    if (views) {
        whole[0] = matrix_of(devs[0], &pb->x, pb->n, c, mats);
        whole[1] = matrix_of(devs[0], &pb->dy, pb->n, c, mats);
        whole[2] = matrix_of(devs[0], &o->y, pb->n, c, mats);
        whole[3] = matrix_of(devs[0], &o->dx, pb->n, c, mats);
    }
    for (size_t r = 0; r < p; r++) {
        sh[r].row0 = row0;
        sh[r].rows = rows[r];
        sh[r].side = (int)(r % ndevs);
        row0 += rows[r];
        share_make(&sh[r], pb, o, views ? whole : NULL, devs[sh[r].side], repro, fl, gl);
    }
    split_forward(pb, sh, p, sides, ndevs, repro);
    split_gradient(pb, sh, p, sides, ndevs);

    for (size_t r = 0; r < p; r++) {
        if (sh[r].rows > 0)
            rows_back(pb, &o->y, &sh[r], sh[r].y, views);
        rows_back(pb, &o->dx, &sh[r], sh[r].dx, views);
    }
    ASSERT_OK(mpscl_vector_read(sides[0].mean, o->mean.bytes));
    ASSERT_OK(mpscl_vector_read(sides[0].var, o->var.bytes));
    ASSERT_OK(mpscl_vector_read(sides[0].rm, o->rm.bytes));
    ASSERT_OK(mpscl_vector_read(sides[0].rv, o->rv.bytes));
    ASSERT_OK(mpscl_vector_read(sh[0].dgamma, o->dgamma.bytes));
    ASSERT_OK(mpscl_vector_read(sh[0].dbeta, o->dbeta.bytes));
    /* Every side's statistics and every share's parameter gradients: the same bits. */
    extra = image_new(F32, mats * c);
    for (size_t i = 1; i < ndevs; i++) {
        mpscl_vector *vs[] = {sides[i].mean, sides[i].var, sides[i].rm, sides[i].rv};
        const image *want[] = {&o->mean, &o->var, &o->rm, &o->rv};
        for (size_t v = 0; v < 4; v++) {
            ASSERT_OK(mpscl_vector_read(vs[v], extra.bytes));
            ck_assert_msg(memcmp(extra.bytes, want[v]->bytes,
                                 mats * c * mpscl_data_type_size(want[v]->t)) == 0,
                          "device %zu's statistics %zu differ from device 0's", i, v);
        }
    }
    for (size_t r = 1; r < p; r++) {
        ASSERT_OK(mpscl_vector_read(sh[r].dgamma, extra.bytes));
        for (size_t b = pb->sc->batch_start; b < mats; b++)
            ck_assert_msg(memcmp(extra.bytes + b * c * 4, o->dgamma.bytes + b * c * 4, c * 4) == 0,
                          "share %zu's dgamma differs from share 0's", r);
        ASSERT_OK(mpscl_vector_read(sh[r].dbeta, extra.bytes));
        for (size_t b = pb->sc->batch_start; b < mats; b++)
            ck_assert_msg(memcmp(extra.bytes + b * c * 4, o->dbeta.bytes + b * c * 4, c * 4) == 0,
                          "share %zu's dbeta differs from share 0's", r);
    }
    free(extra.bytes);
    for (size_t r = 0; r < p; r++)
        share_free(&sh[r]);
    for (size_t i = 0; i < 4; i++)
        mpscl_matrix_release(whole[i]);
    for (size_t i = 0; i < ndevs; i++)
        side_free(&sides[i]);
}

/* ---- comparisons ---- */

/* Relative L2 of got against want over matrix b's `per` elements (want 0: absolute). */
static double
rel_err(const image *got, size_t b, size_t per, const double *want)
{
    double d = 0, w = 0;

    for (size_t k = 0; k < per; k++) {
        double g = image_at(got, b * per + k);
        if (isnan(g))
            return INFINITY;
        d += (g - want[k]) * (g - want[k]);
        w += want[k] * want[k];
    }
    return w == 0 ? sqrt(d) : sqrt(d / w);
}

static double
image_err(const image *got, const image *want, size_t b, size_t per)
{
    double *w = malloc(per * sizeof(double)), e;

    ck_assert_ptr_nonnull(w);
    for (size_t k = 0; k < per; k++)
        w[k] = image_at(want, b * per + k);
    e = rel_err(got, b, per, w);
    free(w);
    return e;
}

static float *
floats_of(const image *im, size_t from, size_t count)
{
    float *f = malloc(count * sizeof(float));

    ck_assert_ptr_nonnull(f);
    for (size_t k = 0; k < count; k++)
        f[k] = (float)image_at(im, from + k);
    return f;
}

/* Every output of o against the fp64 reference (statistics from x; y from the statistics o
 * holds; the gradient from the problem's mean and variance). */
void
check_reference(const problem *pb, const outputs *o, int repro, const char *where)
{
    size_t n = pb->n, c = pb->c;
    ref_neuron nr = {(int)pb->sc->neuron, pb->sc->na, pb->sc->nb, 0};
    double *m = malloc(c * sizeof(double)), *v = malloc(c * sizeof(double));
    double *rm = malloc(c * sizeof(double)), *rv = malloc(c * sizeof(double));
    double *y = malloc(n * c * sizeof(double)), *dx = malloc(n * c * sizeof(double));
    double *dg = malloc(c * sizeof(double)), *db = malloc(c * sizeof(double));
    double bt = bound_for(pb->sc->t), bv = bound_for(pb->sc->vt);
    /* The reproducible mode's running mean takes the mean as stored (docs/DISTRIBUTED.md). */
    double br = repro ? fmax(bv, bound_for(pb->sc->rt)) : bound_for(pb->sc->rt);

    ck_assert(m && v && rm && rv && y && dx && dg && db);
    for (size_t b = pb->sc->batch_start; b < pb->mats; b++) {
        float *xf = floats_of(&pb->x, b * n * c, n * c), *dyf = floats_of(&pb->dy, b * n * c, n * c);
        float *mf = floats_of(&o->mean, b * c, c), *vf = floats_of(&o->var, b * c, c);
        float *gmf = floats_of(&pb->mean, b * c, c), *gvf = floats_of(&pb->var, b * c, c);
        float *gf = floats_of(&pb->gamma, b * c, c), *bf = floats_of(&pb->beta, b * c, c);
        double e;

        ref_bn_statistics(n, c, (ref_view){xf, c}, m, v);
        ck_assert_msg((e = rel_err(&o->mean, b, c, m)) <= bv, "%s: mean %zu: %.3g", where, b, e);
        ck_assert_msg((e = rel_err(&o->var, b, c, v)) <= bv, "%s: variance %zu: %.3g", where, b, e);
        for (size_t j = 0; j < c; j++) {
            rm[j] = image_at(&pb->rm, b * c + j);
            rv[j] = image_at(&pb->rv, b * c + j);
        }
        ref_bn_running_statistics(n, c, (ref_view){xf, c}, 0.3, rm, rv);
        ck_assert_msg((e = rel_err(&o->rm, b, c, rm)) <= br, "%s: running mean %zu: %.3g", where,
                      b, e);
        ck_assert_msg((e = rel_err(&o->rv, b, c, rv)) <= br, "%s: running variance %zu: %.3g",
                      where, b, e);
        ref_bn_forward(n, c, (ref_view){xf, c}, mf, vf, gf, bf, 1e-5f, &nr, y);
        ck_assert_msg((e = rel_err(&o->y, b, n * c, y)) <= bt, "%s: y %zu: %.3g", where, b, e);
        ref_bn_gradient(n, c, (ref_view){dyf, c}, (ref_view){xf, c}, gmf, gvf, gf, bf, 1e-5f, &nr,
                        dx, dg, db);
        ck_assert_msg((e = rel_err(&o->dx, b, n * c, dx)) <= bt, "%s: dx %zu: %.3g", where, b, e);
        ck_assert_msg((e = rel_err(&o->dgamma, b, c, dg)) <= bound_for(F32),
                      "%s: dgamma %zu: %.3g", where, b, e);
        ck_assert_msg((e = rel_err(&o->dbeta, b, c, db)) <= bound_for(F32),
                      "%s: dbeta %zu: %.3g", where, b, e);
        free(xf);
        free(dyf);
        free(mf);
        free(vf);
        free(gmf);
        free(gvf);
        free(gf);
        free(bf);
    }
    free(m);
    free(v);
    free(rm);
    free(rv);
    free(y);
    free(dx);
    free(dg);
    free(db);
}

static const char *const output_names[] = {"mean", "variance", "running mean",
                                           "running variance", "y", "dx", "dgamma", "dbeta"};

static const image *
output_at(const outputs *o, size_t i)
{
    const image *all[] = {&o->mean, &o->var, &o->rm, &o->rv, &o->y, &o->dx, &o->dgamma, &o->dbeta};
    return all[i];
}

/* Every output of got within its type's bound of want's (the default mode against one device). */
void
check_close(const problem *pb, const outputs *got, const outputs *want, const char *where)
{
    for (size_t i = 0; i < 8; i++) {
        const image *g = output_at(got, i), *w = output_at(want, i);
        size_t per = g->count / pb->mats;
        for (size_t b = pb->sc->batch_start; b < pb->mats; b++) {
            double e = image_err(g, w, b, per);
            ck_assert_msg(e <= bound_for(g->t), "%s: %s %zu: %.3g from one device's (bound %.3g)",
                          where, output_names[i], b, e, bound_for(g->t));
        }
    }
}

/* Every output of got bitwise equal to want's. */
void
check_same(const outputs *got, const outputs *want, const char *where)
{
    for (size_t i = 0; i < 8; i++) {
        const image *g = output_at(got, i), *w = output_at(want, i);
        size_t bytes = g->count * mpscl_data_type_size(g->t);
        for (size_t k = 0; k < bytes; k++)
            ck_assert_msg(g->bytes[k] == w->bytes[k], "%s: %s differs at byte %zu of %zu", where,
                          output_names[i], k, bytes);
    }
}

