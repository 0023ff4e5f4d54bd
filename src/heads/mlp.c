/* mlp.c: the head in memory: construction, the Geograph distance and label rules, the forward
 * pass (batched GEMMs), PyTorch's default initialisation and a seeded generator. */
#include "core/blas.h"
#include "heads/heads.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const gl_geograph_classes[GL_GEOGRAPH_N_CLASSES] = {
    "Aerial", "Close Look", "Cross Far", "Extra", "Geograph", "Inside", "From Drone"};

/* ------------------------------------------------------------------ distance and labels */

static const char *const dist_powers[21] = {
    "1",     "2",     "4",     "8",      "16",     "32",     "64",
    "128",   "256",   "512",   "1024",   "2048",   "4096",   "8192",
    "16384", "32768", "65536", "131072", "262144", "524288", "1048576"};

void heads_geograph_dist_map(const char **keys, int *vals, int *n) {
    int k = 0;
    for (int i = 0; i < 21; i++) {
        keys[k] = dist_powers[i];
        vals[k++] = i + 1;
    }
    keys[k] = "0", vals[k++] = 0;
    keys[k] = "Unknown", vals[k++] = GL_GEOGRAPH_DIST_UNKNOWN;
    keys[k] = "", vals[k++] = 0;
    *n = k;
}

/* Python's str.strip() for ASCII whitespace: the bounds of the stripped text. */
static void strip_bounds(const char *s, size_t *b, size_t *e) {
    size_t n = strlen(s), i = 0;
    while (i < n && isspace((unsigned char)s[i]))
        i++;
    while (n > i && isspace((unsigned char)s[n - 1]))
        n--;
    *b = i;
    *e = n;
}

static int dist_lookup(const char *const *keys, const int *vals, int n, const char *distance,
                       int unknown) {
    size_t b, e;
    strip_bounds(distance, &b, &e);
    for (int i = 0; i < n; i++)
        if (strlen(keys[i]) == e - b && !memcmp(keys[i], distance + b, e - b)) return vals[i];
    return unknown;
}

int gl_geograph_dist_index(const char *distance) {
    const char *keys[24];
    int vals[24], n;
    heads_geograph_dist_map(keys, vals, &n);
    return dist_lookup(keys, vals, n, distance, GL_GEOGRAPH_DIST_UNKNOWN);
}

int gl_head_dist_index(const gl_head *h, const char *distance) {
    int unknown = dist_lookup((const char *const *)h->dist_keys, h->dist_vals, h->n_dist_keys,
                              "Unknown", GL_GEOGRAPH_DIST_UNKNOWN);
    return dist_lookup((const char *const *)h->dist_keys, h->dist_vals, h->n_dist_keys, distance,
                       unknown);
}

void gl_geograph_distance(double e1, double n1, double e2, double n2, char *out, size_t cap) {
    if (!(n1 > 0 && e2 > 0)) {
        snprintf(out, cap, "Unknown");
        return;
    }
    double d = sqrt((e1 - e2) * (e1 - e2) + (n1 - n2) * (n1 - n2));
    if (d == 0)
        snprintf(out, cap, "0");
    else
        snprintf(out, cap, "%.0f", ldexp(1.0, (int)floor(log2(d))));
}

/* str.isdigit() and int(s) > 256 for ASCII digit strings of any length. */
static int digits_over_256(const char *s) {
    size_t n = strlen(s);
    if (!n) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i])) return 0;
    while (n > 1 && *s == '0')
        s++, n--;
    return n > 3 || (n == 3 && strcmp(s, "256") > 0);
}

void gl_geograph_targets(const char *types, const char *distance, const char *const *classes,
                         int n_classes, float *out) {
    memset(out, 0, (size_t)n_classes * sizeof *out);
    int pieces = 1;
    for (const char *c = types; *c; c++)
        pieces += *c == ',';
    for (const char *t = types;;) {
        const char *comma = strchr(t, ',');
        size_t len = comma ? (size_t)(comma - t) : strlen(t), b = 0, e = len;
        while (b < e && isspace((unsigned char)t[b]))
            b++;
        while (e > b && isspace((unsigned char)t[e - 1]))
            e--;
        char tag[128];
        snprintf(tag, sizeof tag, "%.*s", (int)(e - b), t + b);
        const char *mapped = tag;
        if (!strcmp(tag, "Cross Grid"))
            mapped = digits_over_256(distance) ? "Cross Far" : pieces == 1 ? "Geograph" : NULL;
        if (mapped && !strcmp(mapped, "From Above")) mapped = "From Drone";
        for (int i = 0; mapped && i < n_classes; i++)
            if (!strcmp(classes[i], mapped)) out[i] = 1;
        if (!comma) break;
        t = comma + 1;
    }
}

void heads_row_targets(const gl_head *h, const gl_hrow *row, float *out) {
    gl_geograph_targets(row->types, row->distance, (const char *const *)h->classes, h->a.n_classes,
                        out);
}

/* ------------------------------------------------------------------ the head */

static char *dup_or_null(const char *s, int *failed) {
    char *d = strdup(s ? s : "");
    if (!d) *failed = 1;
    return d;
}

gl_head *heads_new(const gl_head_arch *a, const char *const *classes, const char *const *dist_keys,
                   const int *dist_vals, int n_dist_keys, gl_error *err) {
    if (a->clip_dim < 1 || a->clip_dim > 65536 || a->dist_dim < 0 || a->dist_dim > 4096 ||
        a->hidden < 1 || a->hidden > 65536 || a->n_classes < 1 || a->n_classes > GL_HEAD_EVAL_MAX ||
        a->n_dist < 1 || a->n_dist > 4096 || n_dist_keys < 0 || n_dist_keys > 4096) {
        gl_fail(err, GL_ERR_SHAPE,
                "head: implausible architecture (clip %d, dist %dx%d, hidden %d, classes %d)",
                a->clip_dim, a->n_dist, a->dist_dim, a->hidden, a->n_classes);
        return NULL;
    }
    for (int i = 0; i < n_dist_keys; i++)
        if (dist_vals[i] < 0 || dist_vals[i] >= a->n_dist) {
            gl_fail(err, GL_ERR_SHAPE,
                    "head: distance '%s' maps to %d, outside the %d embedding rows", dist_keys[i],
                    dist_vals[i], a->n_dist);
            return NULL;
        }
    gl_head *h = calloc(1, sizeof *h);
    if (!h) goto oom;
    h->a = *a;
    size_t d = (size_t)a->clip_dim + (size_t)a->dist_dim;
    h->n_params = (size_t)a->n_dist * a->dist_dim + (size_t)a->hidden * d + a->hidden +
                  (size_t)a->n_classes * a->hidden + a->n_classes;
    h->params = calloc(h->n_params, sizeof *h->params);
    h->classes = calloc((size_t)a->n_classes, sizeof *h->classes);
    h->dist_keys = calloc((size_t)n_dist_keys + 1, sizeof *h->dist_keys);
    h->dist_vals = calloc((size_t)n_dist_keys + 1, sizeof *h->dist_vals);
    if (!h->params || !h->classes || !h->dist_keys || !h->dist_vals) goto oom;
    int failed = 0;
    for (int i = 0; i < a->n_classes; i++)
        h->classes[i] = dup_or_null(classes[i], &failed);
    for (int i = 0; i < n_dist_keys; i++) {
        h->dist_keys[i] = dup_or_null(dist_keys[i], &failed);
        h->dist_vals[i] = dist_vals[i];
    }
    h->n_dist_keys = n_dist_keys;
    if (failed) goto oom;
    h->emb = h->params;
    h->w1 = h->emb + (size_t)a->n_dist * a->dist_dim;
    h->b1 = h->w1 + (size_t)a->hidden * d;
    h->w2 = h->b1 + a->hidden;
    h->b2 = h->w2 + (size_t)a->n_classes * a->hidden;
    return h;
oom:
    gl_head_free(h);
    gl_fail(err, GL_ERR_NOMEM, "head: out of memory");
    return NULL;
}

void gl_head_free(gl_head *h) {
    if (!h) return;
    for (int i = 0; h->classes && i < h->a.n_classes; i++)
        free(h->classes[i]);
    for (int i = 0; h->dist_keys && i < h->n_dist_keys; i++)
        free(h->dist_keys[i]);
    free(h->classes);
    free(h->dist_keys);
    free(h->dist_vals);
    free(h->params);
    free(h->path);
    free(h);
}

gl_head_arch gl_head_get_arch(const gl_head *h) {
    return h->a;
}
const char *gl_head_class_name(const gl_head *h, int i) {
    return i >= 0 && i < h->a.n_classes ? h->classes[i] : "";
}

void gl_sigmoid_inplace(float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        x[i] = 1.0f / (1.0f + expf(-x[i]));
}

void heads_assemble(const gl_head *h, const float *clip, const int *dist_idx, int n, float *x) {
    size_t c = (size_t)h->a.clip_dim, dd = (size_t)h->a.dist_dim, d = c + dd;
    for (int i = 0; i < n; i++) {
        memcpy(x + i * d, clip + i * c, c * sizeof *x);
        memcpy(x + i * d + c, h->emb + (size_t)dist_idx[i] * dd, dd * sizeof *x);
    }
}

#define FORWARD_CHUNK 1024

gl_status gl_head_forward(const gl_head *h, const float *clip, const int *dist_idx, int n,
                          float *logits, gl_error *err) {
    const gl_head_arch *a = &h->a;
    int d = a->clip_dim + a->dist_dim, chunk = n < FORWARD_CHUNK ? n : FORWARD_CHUNK;
    for (int i = 0; i < n; i++)
        if (dist_idx[i] < 0 || dist_idx[i] >= a->n_dist)
            return gl_fail(err, GL_ERR_ARG, "head: distance index %d outside [0, %d)", dist_idx[i],
                           a->n_dist);
    if (n <= 0) return GL_OK;
    float *x = malloc((size_t)chunk * d * sizeof *x),
          *hid = malloc((size_t)chunk * a->hidden * sizeof *hid);
    if (!x || !hid) {
        free(x);
        free(hid);
        return gl_fail(err, GL_ERR_NOMEM, "head: out of memory");
    }
    for (int r0 = 0; r0 < n; r0 += chunk) {
        int m = n - r0 < chunk ? n - r0 : chunk;
        heads_assemble(h, clip + (size_t)r0 * a->clip_dim, dist_idx + r0, m, x);
        for (int i = 0; i < m; i++)
            memcpy(hid + (size_t)i * a->hidden, h->b1, a->hidden * sizeof *hid);
        gl_sgemm_nt(m, a->hidden, d, 1.0f, x, d, h->w1, d, 1.0f, hid, a->hidden);
        for (size_t k = 0; k < (size_t)m * a->hidden; k++)
            hid[k] = hid[k] > 0 ? hid[k] : 0;
        float *out = logits + (size_t)r0 * a->n_classes;
        for (int i = 0; i < m; i++)
            memcpy(out + (size_t)i * a->n_classes, h->b2, a->n_classes * sizeof *out);
        gl_sgemm_nt(m, a->n_classes, a->hidden, 1.0f, hid, a->hidden, h->w2, a->hidden, 1.0f, out,
                    a->n_classes);
    }
    free(x);
    free(hid);
    return GL_OK;
}

/* ------------------------------------------------------------------ initialisation */

static void fill_uniform(float *p, size_t n, double bound, gl_rng *r) {
    for (size_t i = 0; i < n; i++)
        p[i] = (float)((2.0 * gl_rng_uniform(r) - 1.0) * bound);
}

void heads_init_params(gl_head *h, gl_rng *r) {
    const gl_head_arch *a = &h->a;
    for (size_t i = 0; i < (size_t)a->n_dist * a->dist_dim; i++)
        h->emb[i] = (float)gl_rng_normal(r);
    double b1 = 1.0 / sqrt((double)(a->clip_dim + a->dist_dim)), b2 = 1.0 / sqrt((double)a->hidden);
    fill_uniform(h->w1, (size_t)a->hidden * (a->clip_dim + a->dist_dim), b1, r);
    fill_uniform(h->b1, (size_t)a->hidden, b1, r);
    fill_uniform(h->w2, (size_t)a->n_classes * a->hidden, b2, r);
    fill_uniform(h->b2, (size_t)a->n_classes, b2, r);
}
