/* locate.c: zero-shot geolocation in StreetCLIP's manner: country prompts, then city prompts of
 * the chosen countries, scored P(country) * P(city | country); prompt embeddings are cached. */
#include "geo/geo.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TEXT_BATCH 32

struct gl_locator {
    gl_clip *clip;
    const gl_gazetteer *gz;
    gl_locate_params p;
    char *country_template, *city_template;
    int dim;
    float scale;               /* exp(logit_scale) */
    int *allowed, n_allowed;   /* country indices searched */
    float *allowed_emb;        /* [n_allowed, dim] normalised country prompts */
    gl_geo_embcache countries; /* [n_countries, dim] */
    gl_geo_embcache cities;    /* [n_cities, dim] */
    unsigned char *city_ready; /* [n_countries]: its cities are embedded */
    gl_geo_cache_stats stats;
};

gl_locate_params gl_locate_default_params(void) {
    return (gl_locate_params){.country_template = "A Street View photo in {country}.",
                              .city_template = "A Street View photo from {city}.",
                              .top_countries = 1,
                              .level = GL_GEO_LEVEL_CITY,
                              .top_k = 1};
}

/* template with every "{slot}" replaced by name; malloc'ed. */
static char *render(const char *tmpl, const char *slot, const char *name) {
    size_t sl = strlen(slot), nl = strlen(name), n = 0;
    for (const char *s = strstr(tmpl, slot); s; s = strstr(s + sl, slot))
        n++;
    char *out = malloc(strlen(tmpl) + n * nl + 1), *o = out;
    if (!out) return NULL;
    for (const char *s = tmpl;;) {
        const char *hit = strstr(s, slot);
        size_t k = hit ? (size_t)(hit - s) : strlen(s);
        memcpy(o, s, k);
        o += k;
        if (!hit) break;
        memcpy(o, name, nl);
        o += nl;
        s = hit + sl;
    }
    *o = 0;
    return out;
}

/* Encodes k prompts, normalised, into rows which[0..k) of cache c, and frees the prompts. */
static gl_status encode_batch(gl_locator *loc, gl_geo_embcache *c, char **texts, const int *which,
                              int k, gl_error *err) {
    float *emb = malloc((size_t)k * loc->dim * sizeof(float));
    gl_status s = emb ? gl_clip_encode_texts(loc->clip, (const char *const *)texts, k, emb, err)
                      : gl_fail(err, GL_ERR_NOMEM, "locate: out of memory");
    if (s == GL_OK) {
        gl_l2_normalize_rows(emb, k, loc->dim);
        for (int j = 0; j < k; j++) {
            memcpy(c->data + (size_t)which[j] * loc->dim, emb + (size_t)j * loc->dim,
                   (size_t)loc->dim * sizeof(float));
            c->present[which[j]] = 1;
        }
        loc->stats.encoded += k;
        c->dirty = 1;
    }
    free(emb);
    for (int j = 0; j < k; j++)
        free(texts[j]);
    return s;
}

/* Makes rows[0..n) of cache c (the prompts tmpl gives names[i]) present, encoding only those the
 * cache lacks, TEXT_BATCH at a time. */
static gl_status embed_rows(gl_locator *loc, gl_geo_embcache *c, const char *tmpl, const char *slot,
                            const int *rows, const char *const *names, int n, gl_error *err) {
    char *texts[TEXT_BATCH];
    int which[TEXT_BATCH], k = 0;
    gl_status s = GL_OK;
    for (int i = 0; i < n && s == GL_OK; i++) {
        if (c->present[rows[i]]) {
            loc->stats.cached++;
            continue;
        }
        if (!(texts[k] = render(tmpl, slot, names[i]))) {
            s = gl_fail(err, GL_ERR_NOMEM, "locate: out of memory");
            break;
        }
        which[k++] = rows[i];
        if (k == TEXT_BATCH) s = encode_batch(loc, c, texts, which, k, err), k = 0;
    }
    if (s == GL_OK && k) s = encode_batch(loc, c, texts, which, k, err), k = 0;
    while (k)
        free(texts[--k]);
    return s;
}

static gl_status parse_countries(gl_locator *loc, gl_error *err) {
    const gl_gazetteer *gz = loc->gz;
    loc->allowed = malloc((size_t)gz->n_countries * sizeof(int));
    if (!loc->allowed) return gl_fail(err, GL_ERR_NOMEM, "locate: out of memory");
    if (!loc->p.countries || !*loc->p.countries) {
        for (int i = 0; i < gz->n_countries; i++)
            loc->allowed[loc->n_allowed++] = i;
        return GL_OK;
    }
    for (const char *s = loc->p.countries; *s;) {
        size_t n = strcspn(s, ",");
        char code[8] = "";
        snprintf(code, sizeof code, "%.*s", (int)(n < 7 ? n : 7), s);
        int c = gl_gazetteer_find_country(gz, code);
        if (c < 0)
            return gl_fail(err, GL_ERR_ARG, "--countries: '%s' is not a country of the gazetteer",
                           code);
        int dup = 0;
        for (int i = 0; i < loc->n_allowed; i++)
            dup |= loc->allowed[i] == c;
        if (!dup) loc->allowed[loc->n_allowed++] = c;
        s += n + (s[n] == ',');
    }
    if (!loc->n_allowed) return gl_fail(err, GL_ERR_ARG, "--countries: no country given");
    return GL_OK;
}

static gl_status check_params(const gl_locate_params *p, gl_error *err) {
    if (!p->country_template || !strstr(p->country_template, "{country}"))
        return gl_fail(err, GL_ERR_ARG, "the country template must contain {country}");
    if (!p->city_template || !strstr(p->city_template, "{city}"))
        return gl_fail(err, GL_ERR_ARG, "the city template must contain {city}");
    if (p->top_k < 1 || p->top_countries < 1)
        return gl_fail(err, GL_ERR_ARG, "--top-k and --top-countries must be at least 1");
    return GL_OK;
}

static gl_status open_caches(gl_locator *loc, gl_error *err) {
    const char *hash = gl_clip_model_hash(loc->clip);
    size_t n = strlen(hash) + strlen(loc->p.country_template) + strlen(loc->p.city_template) + 64;
    char *key = malloc(n);
    if (!key) return gl_fail(err, GL_ERR_NOMEM, "locate: out of memory");
    snprintf(key, n, "country|%s|%s|%s", hash, loc->p.country_template, loc->gz->hash);
    gl_status s = gl_geo_embcache_open(&loc->countries, loc->p.cache_dir, "country", key,
                                       loc->gz->n_countries, loc->dim, err);
    snprintf(key, n, "city|%s|%s|%s", hash, loc->p.city_template, loc->gz->hash);
    /* A gazetteer with no cities still gets a one-row cache so the code has one shape. */
    int rows = loc->gz->n_cities ? loc->gz->n_cities : 1;
    if (s == GL_OK)
        s = gl_geo_embcache_open(&loc->cities, loc->p.cache_dir, "city", key, rows, loc->dim, err);
    free(key);
    return s;
}

static gl_status embed_countries(gl_locator *loc, gl_error *err) {
    int n = loc->n_allowed;
    const char **names = calloc((size_t)n, sizeof *names);
    loc->allowed_emb = malloc((size_t)n * loc->dim * sizeof(float));
    if (!names || !loc->allowed_emb) {
        free(names);
        return gl_fail(err, GL_ERR_NOMEM, "locate: out of memory");
    }
    for (int i = 0; i < n; i++)
        names[i] = loc->gz->countries[loc->allowed[i]].name;
    gl_status s = embed_rows(loc, &loc->countries, loc->p.country_template, "{country}",
                             loc->allowed, names, n, err);
    free(names);
    if (s == GL_OK) s = gl_geo_embcache_save(&loc->countries, err);
    for (int i = 0; s == GL_OK && i < n; i++)
        memcpy(loc->allowed_emb + (size_t)i * loc->dim,
               loc->countries.data + (size_t)loc->allowed[i] * loc->dim,
               (size_t)loc->dim * sizeof(float));
    return s;
}

gl_locator *gl_locator_new(gl_clip *clip, const gl_gazetteer *gz, const gl_locate_params *p,
                           gl_error *err) {
    gl_locator *loc = calloc(1, sizeof *loc);
    if (!loc) {
        gl_fail(err, GL_ERR_NOMEM, "locate: out of memory");
        return NULL;
    }
    loc->clip = clip, loc->gz = gz, loc->p = *p;
    loc->dim = gl_clip_projection_dim(clip);
    loc->scale = gl_clip_logit_scale(clip);
    gl_status s = check_params(p, err);
    if (s == GL_OK) s = parse_countries(loc, err);
    if (s == GL_OK && !(loc->city_ready = calloc((size_t)gz->n_countries, 1)))
        s = gl_fail(err, GL_ERR_NOMEM, "locate: out of memory");
    if (s == GL_OK) s = open_caches(loc, err);
    if (s == GL_OK) s = embed_countries(loc, err);
    if (s != GL_OK) {
        gl_locator_free(loc);
        return NULL;
    }
    gl_log(GL_LOG_INFO, "locate: %d countries searched; %ld prompts encoded, %ld from cache",
           loc->n_allowed, loc->stats.encoded, loc->stats.cached);
    return loc;
}

void gl_locator_free(gl_locator *loc) {
    if (!loc) return;
    gl_geo_embcache_close(&loc->countries);
    gl_geo_embcache_close(&loc->cities);
    free(loc->allowed);
    free(loc->allowed_emb);
    free(loc->city_ready);
    free(loc);
}

gl_geo_cache_stats gl_locator_stats(const gl_locator *loc) {
    return loc->stats;
}

/* Makes sure country c's city prompts are embedded (from the cache or the text tower). */
static gl_status ensure_cities(gl_locator *loc, int c, gl_error *err) {
    const gl_geo_country *k = &loc->gz->countries[c];
    if (loc->city_ready[c] || k->n_cities == 0) return GL_OK;
    int rows[GL_GEO_MAX_CITIES];
    const char *names[GL_GEO_MAX_CITIES];
    for (int i = 0; i < k->n_cities; i++) {
        rows[i] = k->first_city + i;
        names[i] = loc->gz->cities[rows[i]].name;
    }
    gl_status s = embed_rows(loc, &loc->cities, loc->p.city_template, "{city}", rows, names,
                             k->n_cities, err);
    if (s == GL_OK) loc->city_ready[c] = 1;
    return s;
}

static double dot(const float *a, const float *b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

/* Softmax of scale * cos over rows[0..n) of emb against img (both normalised), into prob. */
static void softmax_cos(const float *img, const float *emb, int n, int dim, float scale,
                        float *prob) {
    for (int i = 0; i < n; i++)
        prob[i] = (float)(scale * dot(img, emb + (size_t)i * dim, dim));
    gl_softmax_rows(prob, 1, n);
}

/* Keeps out[0..*n) (capacity cap) sorted by score, best first, inserting q if it ranks. */
static void keep_best(gl_geo_guess *out, int *n, int cap, const gl_geo_guess *q) {
    if (*n == cap && out[cap - 1].score >= q->score) return;
    int at = *n < cap ? (*n)++ : cap - 1;
    while (at > 0 && out[at - 1].score < q->score) {
        out[at] = out[at - 1];
        at--;
    }
    out[at] = *q;
}

static gl_geo_guess country_guess(const gl_gazetteer *gz, int c, float p) {
    return (gl_geo_guess){.lat = gz->countries[c].lat,
                          .lon = gz->countries[c].lon,
                          .country = c,
                          .city = -1,
                          .gallery_row = -1,
                          .country_prob = p,
                          .city_prob = NAN,
                          .score = p};
}

/* The guesses for one image from its country probabilities (over loc->allowed). */
static gl_status locate_one(gl_locator *loc, const float *img, const float *cprob,
                            gl_geo_guess *out, int *n_out, gl_error *err) {
    const gl_gazetteer *gz = loc->gz;
    int top = loc->p.top_k, n = 0;
    if (loc->p.level == GL_GEO_LEVEL_COUNTRY) {
        for (int i = 0; i < loc->n_allowed; i++) {
            gl_geo_guess q = country_guess(gz, loc->allowed[i], cprob[i]);
            keep_best(out, &n, top, &q);
        }
        *n_out = n;
        return GL_OK;
    }
    /* The K most probable countries, then every city of each. */
    int kc = loc->p.top_countries < loc->n_allowed ? loc->p.top_countries : loc->n_allowed, nk = 0;
    gl_geo_guess best_c[64];
    if (kc > 64) kc = 64;
    for (int i = 0; i < loc->n_allowed; i++) {
        gl_geo_guess q = country_guess(gz, loc->allowed[i], cprob[i]);
        keep_best(best_c, &nk, kc, &q);
    }
    for (int j = 0; j < nk; j++) {
        const gl_geo_country *k = &gz->countries[best_c[j].country];
        if (k->n_cities == 0) {
            keep_best(out, &n, top, &best_c[j]);
            continue;
        }
        gl_status s = ensure_cities(loc, best_c[j].country, err);
        if (s != GL_OK) return s;
        float p[GL_GEO_MAX_CITIES];
        softmax_cos(img, loc->cities.data + (size_t)k->first_city * loc->dim, k->n_cities, loc->dim,
                    loc->scale, p);
        for (int i = 0; i < k->n_cities; i++) {
            const gl_geo_city *city = &gz->cities[k->first_city + i];
            gl_geo_guess q = best_c[j];
            q.city = k->first_city + i, q.lat = city->lat, q.lon = city->lon;
            q.city_prob = p[i], q.score = q.country_prob * p[i];
            keep_best(out, &n, top, &q);
        }
    }
    *n_out = n;
    return GL_OK;
}

gl_status gl_locator_run(gl_locator *loc, const float *image_embeds, int n, gl_geo_guess *out,
                         int *n_out, gl_error *err) {
    float *img = malloc((size_t)loc->dim * sizeof(float));
    float *cprob = malloc((size_t)loc->n_allowed * sizeof(float));
    gl_status s = img && cprob ? GL_OK : gl_fail(err, GL_ERR_NOMEM, "locate: out of memory");
    for (int i = 0; s == GL_OK && i < n; i++) {
        memcpy(img, image_embeds + (size_t)i * loc->dim, (size_t)loc->dim * sizeof(float));
        gl_l2_normalize_rows(img, 1, loc->dim);
        softmax_cos(img, loc->allowed_emb, loc->n_allowed, loc->dim, loc->scale, cprob);
        s = locate_one(loc, img, cprob, out + (size_t)i * loc->p.top_k, &n_out[i], err);
    }
    free(img);
    free(cprob);
    if (s == GL_OK) s = gl_geo_embcache_save(&loc->cities, err);
    return s;
}
