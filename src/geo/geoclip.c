/* geoclip.c: GeoCLIP's model in C: the scaled Equal Earth projection, the three random-Fourier-
 * feature capsules of the location encoder, the image MLP, and the logit scale, from .pth files.
 *
 * The reference's two float32 quirks (fixture README), and what we do:
 *  - sqrt(3) in the projection is torch.sqrt(torch.tensor(3.0)), a float32 constant even in
 *    float64; we use that same constant, (double)sqrtf(3), so projections match the reference.
 *  - forward() sums the capsules into float32 zeros; our capsules run in float32 (BLAS) and are
 *    summed in float32 too, as the reference's float32 model does. The projection and the Fourier
 *    phases (up to ~4,300 rad for sigma 256) are computed in double, which is where float32
 *    rounding would cost accuracy. */
#include "core/blas.h"
#include "geo/geo.h"
#include "geo/weights.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define N_CAPSULES 3
#define RFF_FREQS 256 /* B is [256, 2]; [cos, sin] gives 512 */
#define CAPSULE_HIDDEN 1024
#define ENCODE_CHUNK 512 /* locations per pass: bounds the workspace */

typedef struct {
    float *b;       /* [256, 2]: row j = frequency over (x, y) */
    float *w1, *b1; /* [1024, 512], [1024] */
    float *w3, *b3; /* [1024, 1024], [1024] */
    float *w5, *b5; /* [1024, 1024], [1024] */
    float *wh, *bh; /* [512, 1024], [512] */
} capsule;

struct gl_geoclip {
    float *arena; /* every weight below points into this one allocation */
    capsule caps[N_CAPSULES];
    float *mlp_w0, *mlp_b0; /* [768, 768], [768] */
    float *mlp_w2, *mlp_b2; /* [512, 768], [512] */
    float logit_scale;      /* raw; exp() is the multiplier */
    char hash[17];
};

typedef struct {
    const char *suffix;
    int64_t shape[2];
    int ndim;
} tensor_spec;

/* The state-dict layout of one capsule, in LocationEncoder's order. */
static const tensor_spec capsule_specs[] = {
    {"capsule.0.b", {RFF_FREQS, 2}, 2},
    {"capsule.1.weight", {CAPSULE_HIDDEN, 2 * RFF_FREQS}, 2},
    {"capsule.1.bias", {CAPSULE_HIDDEN}, 1},
    {"capsule.3.weight", {CAPSULE_HIDDEN, CAPSULE_HIDDEN}, 2},
    {"capsule.3.bias", {CAPSULE_HIDDEN}, 1},
    {"capsule.5.weight", {CAPSULE_HIDDEN, CAPSULE_HIDDEN}, 2},
    {"capsule.5.bias", {CAPSULE_HIDDEN}, 1},
    {"head.0.weight", {GL_GEOCLIP_DIM, CAPSULE_HIDDEN}, 2},
    {"head.0.bias", {GL_GEOCLIP_DIM}, 1},
};
#define N_CAPSULE_TENSORS (int)(sizeof capsule_specs / sizeof capsule_specs[0])

static const tensor_spec mlp_specs[] = {
    {"0.weight", {GL_GEOCLIP_CLIP_DIM, GL_GEOCLIP_CLIP_DIM}, 2},
    {"0.bias", {GL_GEOCLIP_CLIP_DIM}, 1},
    {"2.weight", {GL_GEOCLIP_DIM, GL_GEOCLIP_CLIP_DIM}, 2},
    {"2.bias", {GL_GEOCLIP_DIM}, 1},
};

static size_t spec_count(const tensor_spec *s) {
    size_t n = 1;
    for (int i = 0; i < s->ndim; i++)
        n *= (size_t)s->shape[i];
    return n;
}

static size_t arena_floats(void) {
    size_t n = 0;
    for (int i = 0; i < N_CAPSULE_TENSORS; i++)
        n += N_CAPSULES * spec_count(&capsule_specs[i]);
    for (int i = 0; i < 4; i++)
        n += spec_count(&mlp_specs[i]);
    return n;
}

/* Reads specs[0..n) (names prefixed) into consecutive arena slots, storing each start in dst[i]. */
static gl_status read_specs(gl_geo_weights *w, const char *prefix, const tensor_spec *specs, int n,
                            float **cursor, float **dst, gl_error *err) {
    for (int i = 0; i < n; i++) {
        char key[96];
        snprintf(key, sizeof key, "%s%s", prefix, specs[i].suffix);
        gl_status s = gl_geo_weights_read(w, key, specs[i].shape, specs[i].ndim, *cursor, err);
        if (s != GL_OK) return s;
        dst[i] = *cursor;
        *cursor += spec_count(&specs[i]);
    }
    return GL_OK;
}

static gl_status load_location(gl_geoclip *g, const char *path, float **cursor, gl_error *err) {
    gl_geo_weights w;
    gl_status s = gl_geo_weights_open(&w, path, err);
    for (int c = 0; s == GL_OK && c < N_CAPSULES; c++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "LocEnc%d.", c);
        float *dst[N_CAPSULE_TENSORS];
        s = read_specs(&w, prefix, capsule_specs, N_CAPSULE_TENSORS, cursor, dst, err);
        if (s != GL_OK) break;
        capsule *k = &g->caps[c];
        k->b = dst[0], k->w1 = dst[1], k->b1 = dst[2], k->w3 = dst[3], k->b3 = dst[4];
        k->w5 = dst[5], k->b5 = dst[6], k->wh = dst[7], k->bh = dst[8];
    }
    gl_geo_weights_close(&w);
    return s;
}

static gl_status load_mlp_and_scale(gl_geoclip *g, const char *mlp, const char *scale,
                                    float **cursor, gl_error *err) {
    gl_geo_weights w;
    float *dst[4];
    gl_status s = gl_geo_weights_open(&w, mlp, err);
    if (s == GL_OK) s = read_specs(&w, "", mlp_specs, 4, cursor, dst, err);
    gl_geo_weights_close(&w);
    if (s != GL_OK) return s;
    g->mlp_w0 = dst[0], g->mlp_b0 = dst[1], g->mlp_w2 = dst[2], g->mlp_b2 = dst[3];
    if ((s = gl_geo_weights_open(&w, scale, err)) != GL_OK) return s;
    s = gl_geo_weights_read(&w, NULL, NULL, 0, &g->logit_scale, err);
    gl_geo_weights_close(&w);
    if (s == GL_OK && !(isfinite(g->logit_scale) && fabsf(g->logit_scale) < 80))
        s = gl_fail(err, GL_ERR_FORMAT, "%s: logit scale %g is not a usable number", scale,
                    g->logit_scale);
    return s;
}

gl_geoclip *gl_geoclip_load_files(const char *location_encoder, const char *image_mlp,
                                  const char *logit_scale, gl_error *err) {
    gl_geoclip *g = calloc(1, sizeof *g);
    size_t n = arena_floats();
    if (!g || !(g->arena = malloc(n * sizeof(float)))) {
        free(g);
        gl_fail(err, GL_ERR_NOMEM, "%s: cannot allocate GeoCLIP weights", location_encoder);
        return NULL;
    }
    float *cursor = g->arena;
    gl_status s = load_location(g, location_encoder, &cursor, err);
    if (s == GL_OK) s = load_mlp_and_scale(g, image_mlp, logit_scale, &cursor, err);
    if (s != GL_OK) {
        gl_geoclip_free(g);
        return NULL;
    }
    uint64_t h = gl_geo_fnv1a(GL_GEO_FNV_INIT, g->arena, n * sizeof(float));
    gl_geo_hex64(gl_geo_fnv1a(h, &g->logit_scale, sizeof g->logit_scale), g->hash);
    return g;
}

/* dir/base.safetensors when present, else dir/base.pth. */
static void pick_file(const char *dir, const char *base, char *out, size_t cap) {
    snprintf(out, cap, "%s/%s.safetensors", dir, base);
    FILE *fp = fopen(out, "rb");
    if (fp)
        fclose(fp);
    else
        snprintf(out, cap, "%s/%s.pth", dir, base);
}

gl_geoclip *gl_geoclip_load(const char *dir, gl_error *err) {
    if (!dir) dir = getenv("GEOLABEL_GEOCLIP_DIR");
    if (!dir || !*dir) {
        gl_fail(err, GL_ERR_ARG,
                "GeoCLIP weights: give --geoclip-dir or set $GEOLABEL_GEOCLIP_DIR");
        return NULL;
    }
    char loc[PATH_MAX], mlp[PATH_MAX], scale[PATH_MAX];
    pick_file(dir, "location_encoder_weights", loc, sizeof loc);
    pick_file(dir, "image_encoder_mlp_weights", mlp, sizeof mlp);
    pick_file(dir, "logit_scale_weights", scale, sizeof scale);
    return gl_geoclip_load_files(loc, mlp, scale, err);
}

void gl_geoclip_free(gl_geoclip *g) {
    if (!g) return;
    free(g->arena);
    free(g);
}

const char *gl_geoclip_hash(const gl_geoclip *g) {
    return g->hash;
}
float gl_geoclip_logit_scale(const gl_geoclip *g) {
    return expf(g->logit_scale);
}

void gl_geoclip_equal_earth(const float *latlon, int n, double *xy) {
    const double A1 = 1.340264, A2 = -0.081106, A3 = 0.000893, A4 = 0.003796, SF = 66.50336;
    const double sqrt3 = (double)sqrtf(3.0f); /* the reference's float32 constant, see above */
    for (int i = 0; i < n; i++) {
        double phi = latlon[2 * i] * (M_PI / 180.0), lam = latlon[2 * i + 1] * (M_PI / 180.0);
        double t = asin(sqrt3 / 2 * sin(phi));
        double t2 = t * t, t6 = t2 * t2 * t2;
        double x =
            2 * sqrt3 * lam * cos(t) / (3 * (9 * A4 * t6 * t2 + 7 * A3 * t6 + 3 * A2 * t2 + A1));
        double y = A4 * t6 * t2 * t + A3 * t6 * t + A2 * t2 * t + A1 * t;
        xy[2 * i] = x * SF / 180.0;
        xy[2 * i + 1] = y * SF / 180.0;
    }
}

/* out[m, n_out] = act(in[m, n_in] @ w^T + b), w [n_out, n_in]. */
static void linear(const float *in, int m, int n_in, const float *w, const float *b, int n_out,
                   float *out, int relu) {
    for (int i = 0; i < m; i++)
        memcpy(out + (size_t)i * n_out, b, (size_t)n_out * sizeof(float));
    gl_sgemm_nt(m, n_out, n_in, 1.0f, in, n_in, w, n_in, 1.0f, out, n_out);
    if (!relu) return;
    for (size_t i = 0; i < (size_t)m * n_out; i++)
        out[i] = out[i] > 0 ? out[i] : 0;
}

/* One capsule on m projected points, added into acc [m, 512]. ws: 2 * m * 1024 floats. */
static void run_capsule(const capsule *k, const double *xy, int m, float *ws, float *acc) {
    float *h0 = ws, *h1 = ws + (size_t)m * CAPSULE_HIDDEN;
    for (int i = 0; i < m; i++) {
        float *row = h0 + (size_t)i * 2 * RFF_FREQS;
        for (int j = 0; j < RFF_FREQS; j++) {
            double p = 2 * M_PI * (xy[2 * i] * k->b[2 * j] + xy[2 * i + 1] * k->b[2 * j + 1]), c,
                   sn;
            sincos(p, &sn, &c);
            row[j] = (float)c;
            row[RFF_FREQS + j] = (float)sn;
        }
    }
    linear(h0, m, 2 * RFF_FREQS, k->w1, k->b1, CAPSULE_HIDDEN, h1, 1);
    linear(h1, m, CAPSULE_HIDDEN, k->w3, k->b3, CAPSULE_HIDDEN, h0, 1);
    linear(h0, m, CAPSULE_HIDDEN, k->w5, k->b5, CAPSULE_HIDDEN, h1, 1);
    linear(h1, m, CAPSULE_HIDDEN, k->wh, k->bh, GL_GEOCLIP_DIM, h0, 0);
    for (size_t i = 0; i < (size_t)m * GL_GEOCLIP_DIM; i++)
        acc[i] += h0[i];
}

gl_status gl_geoclip_encode_locations(gl_geoclip *g, const float *latlon, int n, float *features,
                                      gl_error *err) {
    int chunk = n < ENCODE_CHUNK ? n : ENCODE_CHUNK;
    if (n <= 0) return gl_fail(err, GL_ERR_ARG, "GeoCLIP: no locations to encode");
    float *ws = malloc((size_t)chunk * 2 * CAPSULE_HIDDEN * sizeof(float));
    double *xy = malloc((size_t)chunk * 2 * sizeof(double));
    if (!ws || !xy) {
        free(ws);
        free(xy);
        return gl_fail(err, GL_ERR_NOMEM, "GeoCLIP: cannot allocate a %d-location workspace",
                       chunk);
    }
    for (int at = 0; at < n; at += chunk) {
        int m = n - at < chunk ? n - at : chunk;
        float *acc = features + (size_t)at * GL_GEOCLIP_DIM;
        memset(acc, 0, (size_t)m * GL_GEOCLIP_DIM * sizeof(float));
        gl_geoclip_equal_earth(latlon + 2 * (size_t)at, m, xy);
        for (int c = 0; c < N_CAPSULES; c++)
            run_capsule(&g->caps[c], xy, m, ws, acc);
    }
    free(ws);
    free(xy);
    return GL_OK;
}

gl_status gl_geoclip_encode_images(gl_geoclip *g, const float *clip_features, int n, float *out,
                                   gl_error *err) {
    float *hidden = malloc((size_t)(n > 0 ? n : 1) * GL_GEOCLIP_CLIP_DIM * sizeof(float));
    if (!hidden) return gl_fail(err, GL_ERR_NOMEM, "GeoCLIP: cannot allocate %d image rows", n);
    linear(clip_features, n, GL_GEOCLIP_CLIP_DIM, g->mlp_w0, g->mlp_b0, GL_GEOCLIP_CLIP_DIM, hidden,
           1);
    linear(hidden, n, GL_GEOCLIP_CLIP_DIM, g->mlp_w2, g->mlp_b2, GL_GEOCLIP_DIM, out, 0);
    free(hidden);
    return GL_OK;
}
