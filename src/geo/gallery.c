/* gallery.c: GeoCLIP retrieval: the GPS gallery CSV, its normalised location features (computed
 * once, then read from the embedding cache), and top-k over one GEMM per batch of images. */
#include "core/blas.h"
#include "geo/geo.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GALLERY_MAX_ROWS (1 << 24)
#define RETRIEVE_CHUNK 32 /* images per GEMM: bounds the [chunk, gallery] logits buffer */

struct gl_geoclip_index {
    gl_geoclip *g;
    const gl_geo_gallery *gal;
    gl_geo_embcache cache; /* cache.data: [gal->n, 512] L2-normalised location features */
    gl_geo_cache_stats stats;
};

void gl_geo_gallery_free(gl_geo_gallery *gal) {
    if (!gal) return;
    free(gal->latlon);
    free(gal->coords);
    free(gal);
}

gl_geo_gallery *gl_geo_gallery_load(const char *path, gl_error *err) {
    static const char *const cols[] = {"lat", "lon"};
    static const int req[] = {1, 1};
    int idx[2], cap = 0, r;
    gl_csv *csv = gl_geo_csv_open(path, cols, req, 2, idx, err);
    if (!csv) return NULL;
    gl_geo_gallery *gal = calloc(1, sizeof *gal);
    if (!gal) {
        gl_csv_free(csv);
        gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    gl_status s = GL_OK;
    while (s == GL_OK && (r = gl_csv_next(csv, err)) == 1) {
        double lat, lon;
        if ((s = gl_geo_csv_latlon(csv, idx[0], idx[1], &lat, &lon, err)) != GL_OK) break;
        if (gal->n == cap) {
            cap = cap ? cap * 2 : 4096;
            float *p = cap <= GALLERY_MAX_ROWS
                           ? realloc(gal->latlon, (size_t)cap * 2 * sizeof(float))
                           : NULL;
            if (p) gal->latlon = p;
            double *d = p ? realloc(gal->coords, (size_t)cap * 2 * sizeof(double)) : NULL;
            if (!d) {
                s = gl_fail(err, GL_ERR_LIMIT, "%s: line %ld: too many gallery rows", path,
                            gl_csv_line(csv));
                break;
            }
            gal->coords = d;
        }
        gal->coords[2 * gal->n] = lat;
        gal->coords[2 * gal->n + 1] = lon;
        /* GeoCLIP reads the gallery as float32; so do we, so features match its own. */
        gal->latlon[2 * gal->n] = (float)lat;
        gal->latlon[2 * gal->n + 1] = (float)lon;
        gal->n++;
    }
    if (s == GL_OK && r < 0) s = err->code;
    if (s == GL_OK && gal->n == 0)
        s = gl_fail(err, GL_ERR_FORMAT, "%s: the gallery has no coordinates", path);
    gl_csv_free(csv);
    if (s != GL_OK) {
        gl_geo_gallery_free(gal);
        return NULL;
    }
    gl_geo_hex64(gl_geo_fnv1a(GL_GEO_FNV_INIT, gal->latlon, (size_t)gal->n * 2 * sizeof(float)),
                 gal->hash);
    return gal;
}

/* Encodes the gallery rows the cache lacks, in runs of consecutive missing rows. */
static gl_status fill_features(gl_geoclip_index *ix, gl_error *err) {
    gl_geo_embcache *c = &ix->cache;
    for (int at = 0; at < c->rows;) {
        if (c->present[at]) {
            ix->stats.cached++;
            at++;
            continue;
        }
        int end = at;
        while (end < c->rows && !c->present[end] && end - at < 8192)
            end++;
        float *rows = c->data + (size_t)at * GL_GEOCLIP_DIM;
        gl_status s = gl_geoclip_encode_locations(ix->g, ix->gal->latlon + 2 * (size_t)at, end - at,
                                                  rows, err);
        if (s != GL_OK) return s;
        gl_l2_normalize_rows(rows, end - at, GL_GEOCLIP_DIM);
        memset(c->present + at, 1, (size_t)(end - at));
        ix->stats.encoded += end - at;
        c->dirty = 1;
        at = end;
    }
    return gl_geo_embcache_save(c, err);
}

gl_geoclip_index *gl_geoclip_index_new(gl_geoclip *g, const gl_geo_gallery *gal,
                                       const char *cache_dir, gl_error *err) {
    if (!gal || gal->n <= 0) {
        gl_fail(err, GL_ERR_ARG, "GeoCLIP: the gallery is empty");
        return NULL;
    }
    gl_geoclip_index *ix = calloc(1, sizeof *ix);
    if (!ix) {
        gl_fail(err, GL_ERR_NOMEM, "GeoCLIP: out of memory");
        return NULL;
    }
    ix->g = g, ix->gal = gal;
    char key[128];
    snprintf(key, sizeof key, "geoclip-gallery|%s|%s|%d", gl_geoclip_hash(g), gal->hash, gal->n);
    gl_status s =
        gl_geo_embcache_open(&ix->cache, cache_dir, "geoclip", key, gal->n, GL_GEOCLIP_DIM, err);
    if (s == GL_OK) s = fill_features(ix, err);
    if (s != GL_OK) {
        gl_geoclip_index_free(ix);
        return NULL;
    }
    gl_log(GL_LOG_INFO, "geoclip gallery: %ld locations encoded, %ld from cache", ix->stats.encoded,
           ix->stats.cached);
    return ix;
}

void gl_geoclip_index_free(gl_geoclip_index *ix) {
    if (!ix) return;
    gl_geo_embcache_close(&ix->cache);
    free(ix);
}

gl_geo_cache_stats gl_geoclip_index_stats(const gl_geoclip_index *ix) {
    return ix->stats;
}

gl_status gl_geoclip_retrieve(gl_geoclip_index *ix, const float *clip_features, int n, int top,
                              gl_geo_guess *out, float *logits, gl_error *err) {
    int m = ix->gal->n, chunk = n < RETRIEVE_CHUNK ? n : RETRIEVE_CHUNK;
    if (top < 1 || top > m)
        return gl_fail(err, GL_ERR_ARG, "GeoCLIP: top-k %d is not in 1..%d", top, m);
    if (n <= 0) return GL_OK;
    float *img = malloc((size_t)chunk * GL_GEOCLIP_DIM * sizeof(float));
    float *scores = logits ? NULL : malloc((size_t)chunk * m * sizeof(float)); /* [chunk, m] */
    int *best = malloc((size_t)chunk * top * sizeof(int));                     /* [chunk, top] */
    float *prob = malloc((size_t)chunk * top * sizeof(float));                 /* [chunk, top] */
    gl_status s = img && (scores || logits) && best && prob
                      ? GL_OK
                      : gl_fail(err, GL_ERR_NOMEM, "GeoCLIP: out of memory");
    float scale = gl_geoclip_logit_scale(ix->g);
    for (int at = 0; s == GL_OK && at < n; at += chunk) {
        int b = n - at < chunk ? n - at : chunk;
        s = gl_geoclip_encode_images(ix->g, clip_features + (size_t)at * GL_GEOCLIP_CLIP_DIM, b,
                                     img, err);
        if (s != GL_OK) break;
        gl_l2_normalize_rows(img, b, GL_GEOCLIP_DIM);
        /* The scoring stage's top-k path: softmax probabilities for the top best rows only, in
         * float32 as GeoCLIP computes its logits. */
        s = gl_scores_from_embeddings(img, b, ix->cache.data, m, GL_GEOCLIP_DIM, scale, top,
                                      logits ? logits + (size_t)at * m : scores, prob, best, err);
        for (int i = 0; s == GL_OK && i < b * top; i++) {
            gl_geo_guess *q = &out[(size_t)at * top + i];
            int row = best[i];
            q->lat = ix->gal->coords[2 * row], q->lon = ix->gal->coords[2 * row + 1];
            q->country = q->city = -1;
            q->gallery_row = row;
            q->country_prob = q->city_prob = NAN;
            q->score = prob[i];
        }
    }
    free(img);
    free(scores);
    free(best);
    free(prob);
    return s;
}
