/* locate.c: zero-shot geolocation in StreetCLIP's manner: country prompts, then city prompts of
 * the chosen countries, scored P(country) * P(city | country); prompt embeddings are cached. */
#include "geo/geo.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TEXT_BATCH 32
#define MAX_TOP_COUNTRIES 64 /* --top-countries beyond this adds nothing but time */

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
    /* Scratch for one image's ranking: every candidate guess, its score, and top-k indices. */
    gl_geo_guess *cand; /* [MAX_TOP_COUNTRIES * GL_GEO_MAX_CITIES] */
    float *cand_score;  /* [MAX_TOP_COUNTRIES * GL_GEO_MAX_CITIES] */
    int *idx;           /* [max(top_k, n_countries)] */
};

gl_locate_params gl_locate_default_params(void) {
    return (gl_locate_params){.country_template = "A Street View photo in {country}.",
                              .city_template = "A Street View photo from {city}.",
                              .top_countries = 1,
                              .level = GL_GEO_LEVEL_CITY,
                              .top_k = 1};
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
        if (!(texts[k] = gl_prompt_fill(tmpl, slot, names[i]))) {
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
    /* A bf16 text tower gives other embeddings than f32's (int8 keeps it f32): its own entries,
     * and f32's keys stay as they were so existing caches still serve. */
    gl_dtype text = gl_clip_dtype(loc->clip, 0);
    char tag[16] = "";
    if (text != GL_DTYPE_F32) snprintf(tag, sizeof tag, "|%s", gl_dtype_name(text));
    size_t n = strlen(hash) + strlen(loc->p.country_template) + strlen(loc->p.city_template) + 80;
    char *key = malloc(n);
    if (!key) return gl_fail(err, GL_ERR_NOMEM, "locate: out of memory");
    snprintf(key, n, "country|%s%s|%s|%s", hash, tag, loc->p.country_template, loc->gz->hash);
    gl_status s = gl_geo_embcache_open(&loc->countries, loc->p.cache_dir, "country", key,
                                       loc->gz->n_countries, loc->dim, err);
    snprintf(key, n, "city|%s%s|%s|%s", hash, tag, loc->p.city_template, loc->gz->hash);
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
    size_t n_cand = (size_t)MAX_TOP_COUNTRIES * GL_GEO_MAX_CITIES;
    if (s == GL_OK) {
        loc->city_ready = calloc((size_t)gz->n_countries, 1);
        loc->cand = malloc(n_cand * sizeof *loc->cand);
        loc->cand_score = malloc(n_cand * sizeof *loc->cand_score);
        loc->idx = malloc((size_t)(p->top_k > gz->n_countries ? p->top_k : gz->n_countries) *
                          sizeof *loc->idx);
        if (!loc->city_ready || !loc->cand || !loc->cand_score || !loc->idx)
            s = gl_fail(err, GL_ERR_NOMEM, "locate: out of memory");
    }
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
    free(loc->cand);
    free(loc->cand_score);
    free(loc->idx);
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

/* P(row | img) over rows[0..n) of emb: the scoring stage's softmax of scale * cos (img and
 * emb are unit rows; logits is n floats of scratch). */
static void softmax_cos(const gl_locator *loc, const float *img, const float *emb, int n,
                        float *prob) {
    /* One image against at most every country: the sizes are valid, so this cannot fail. */
    gl_scores_from_embeddings(img, 1, emb, n, loc->dim, loc->scale, 0, prob, prob, NULL, NULL);
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

/* The guesses for one image from its country probabilities (over loc->allowed): the top_k of
 * the countries, or of the cities of the top_countries best countries scored P(country) *
 * P(city | country) (a country without cities stands for itself). */
static gl_status locate_one(gl_locator *loc, const float *img, const float *cprob,
                            gl_geo_guess *out, int *n_out, gl_error *err) {
    const gl_gazetteer *gz = loc->gz;
    int top = loc->p.top_k, *idx = loc->idx, n = 0;
    if (loc->p.level == GL_GEO_LEVEL_COUNTRY) {
        int k = gl_top_k(cprob, loc->n_allowed, top, idx);
        for (int i = 0; i < k; i++)
            out[i] = country_guess(gz, loc->allowed[idx[i]], cprob[idx[i]]);
        *n_out = k;
        return GL_OK;
    }
    int kc = loc->p.top_countries < MAX_TOP_COUNTRIES ? loc->p.top_countries : MAX_TOP_COUNTRIES;
    int best_c[MAX_TOP_COUNTRIES];
    kc = gl_top_k(cprob, loc->n_allowed, kc, best_c);
    for (int j = 0; j < kc; j++) {
        int c = loc->allowed[best_c[j]];
        const gl_geo_country *k = &gz->countries[c];
        gl_geo_guess qc = country_guess(gz, c, cprob[best_c[j]]);
        if (k->n_cities == 0) {
            loc->cand_score[n] = qc.score;
            loc->cand[n++] = qc;
            continue;
        }
        gl_status s = ensure_cities(loc, c, err);
        if (s != GL_OK) return s;
        float p[GL_GEO_MAX_CITIES];
        softmax_cos(loc, img, loc->cities.data + (size_t)k->first_city * loc->dim, k->n_cities, p);
        for (int i = 0; i < k->n_cities; i++) {
            const gl_geo_city *city = &gz->cities[k->first_city + i];
            gl_geo_guess q = qc;
            q.city = k->first_city + i, q.lat = city->lat, q.lon = city->lon;
            q.city_prob = p[i], q.score = q.country_prob * p[i];
            loc->cand_score[n] = q.score;
            loc->cand[n++] = q;
        }
    }
    int k = gl_top_k(loc->cand_score, n, top, idx);
    for (int i = 0; i < k; i++)
        out[i] = loc->cand[idx[i]];
    *n_out = k;
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
        softmax_cos(loc, img, loc->allowed_emb, loc->n_allowed, cprob);
        s = locate_one(loc, img, cprob, out + (size_t)i * loc->p.top_k, &n_out[i], err);
    }
    free(img);
    free(cprob);
    if (s == GL_OK) s = gl_geo_embcache_save(&loc->cities, err);
    return s;
}
