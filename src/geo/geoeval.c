/* geoeval.c: `eval --geo`: great-circle errors of located images against a truth file, the share
 * within GeoCLIP's 1/25/200/750/2500 km rings, the median, and country accuracy. */
#include "geo/geo.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *name;
    const char *base; /* points into name */
    char country[8];
    double lat, lon;
    long line;
} pred_row;

typedef struct {
    pred_row *rows;
    int n, cap;
} pred_set;

static void preds_free(pred_set *p) {
    for (int i = 0; i < p->n; i++)
        free(p->rows[i].name);
    free(p->rows);
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const pred_row *)a)->name, ((const pred_row *)b)->name);
}

static gl_status preds_push(pred_set *p, const gl_csv *csv, const int *idx, double lat, double lon,
                            gl_error *err) {
    if (gl_geo_grow((void **)&p->rows, &p->cap, p->n, sizeof *p->rows))
        return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", gl_csv_path(csv));
    pred_row *r = &p->rows[p->n];
    memset(r, 0, sizeof *r);
    r->name = strdup(gl_csv_field(csv, idx[0]));
    if (!r->name) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", gl_csv_path(csv));
    r->base = gl_path_base_name(r->name);
    if (idx[3] >= 0) snprintf(r->country, sizeof r->country, "%s", gl_csv_field(csv, idx[3]));
    r->lat = lat, r->lon = lon, r->line = gl_csv_line(csv);
    p->n++;
    return GL_OK;
}

static gl_status read_preds(const char *path, pred_set *p, gl_error *err) {
    static const char *const cols[] = {"filename", "lat", "lon", "country"};
    static const int req[] = {1, 1, 1, 0};
    int idx[4];
    gl_csv *csv = gl_geo_csv_open(path, cols, req, 4, idx, err);
    if (!csv) return err->code;
    gl_status s = GL_OK;
    int r;
    while (s == GL_OK && (r = gl_csv_next(csv, err)) == 1) {
        double lat, lon;
        s = gl_geo_csv_latlon(csv, idx[1], idx[2], &lat, &lon, err);
        if (s == GL_OK) s = preds_push(p, csv, idx, lat, lon, err);
    }
    if (s == GL_OK && r < 0) s = err->code;
    gl_csv_free(csv);
    if (s != GL_OK) return s;
    qsort(p->rows, (size_t)p->n, sizeof *p->rows, cmp_name);
    for (int i = 1; i < p->n; i++)
        if (!strcmp(p->rows[i].name, p->rows[i - 1].name))
            return gl_fail(err, GL_ERR_FORMAT, "%s: line %ld: '%s' is predicted twice", path,
                           p->rows[i].line, p->rows[i].name);
    return GL_OK;
}

/* Exact filename first; otherwise a unique prediction with the same base name. */
static const pred_row *find_pred(const pred_set *p, const char *name) {
    pred_row key = {.name = (char *)name};
    const pred_row *hit = bsearch(&key, p->rows, (size_t)p->n, sizeof *p->rows, cmp_name);
    if (hit) return hit;
    const char *base = gl_path_base_name(name);
    for (int i = 0; i < p->n; i++) {
        if (strcmp(p->rows[i].base, base)) continue;
        if (hit) return NULL;
        hit = &p->rows[i];
    }
    return hit;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void summarise(gl_geo_eval *out, double *dist, int country_hits) {
    static const double rings[GL_GEO_N_THRESHOLDS] = GL_GEO_THRESHOLDS_KM;
    for (int t = 0; t < GL_GEO_N_THRESHOLDS; t++) {
        int within = 0;
        for (int i = 0; i < out->n_matched; i++)
            within += dist[i] <= rings[t];
        out->within_pct[t] = out->n_truth ? 100.0 * within / out->n_truth : NAN;
    }
    out->median_km = out->mean_km = NAN;
    if (out->n_matched) {
        int m = out->n_matched;
        double sum = 0;
        for (int i = 0; i < m; i++)
            sum += dist[i];
        qsort(dist, (size_t)m, sizeof *dist, cmp_double);
        out->median_km = m % 2 ? dist[m / 2] : 0.5 * (dist[m / 2 - 1] + dist[m / 2]);
        out->mean_km = sum / m;
    }
    out->country_acc_pct = out->n_country ? 100.0 * country_hits / out->n_country : NAN;
}

static gl_status score_truth(const char *path, const pred_set *p, gl_geo_eval *out, gl_error *err) {
    static const char *const cols[] = {"filename", "lat", "lon", "iso2"};
    static const int req[] = {1, 1, 1, 0};
    int idx[4];
    gl_csv *csv = gl_geo_csv_open(path, cols, req, 4, idx, err);
    if (!csv) return err->code;
    double *dist = NULL;
    int cap = 0, country_hits = 0, r;
    gl_status s = GL_OK;
    while (s == GL_OK && (r = gl_csv_next(csv, err)) == 1) {
        double lat, lon;
        if ((s = gl_geo_csv_latlon(csv, idx[1], idx[2], &lat, &lon, err)) != GL_OK) break;
        out->n_truth++;
        const pred_row *pr = find_pred(p, gl_csv_field(csv, idx[0]));
        const char *iso = idx[3] >= 0 ? gl_csv_field(csv, idx[3]) : "";
        if (*iso) out->n_country++;
        if (!pr) continue;
        if (*iso && !strcasecmp(iso, pr->country)) country_hits++;
        if (gl_geo_grow((void **)&dist, &cap, out->n_matched, sizeof *dist)) {
            s = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        dist[out->n_matched++] = gl_haversine_km(lat, lon, pr->lat, pr->lon);
    }
    if (s == GL_OK && r < 0) s = err->code;
    if (s == GL_OK && out->n_truth == 0) s = gl_fail(err, GL_ERR_FORMAT, "%s: no truth rows", path);
    gl_csv_free(csv);
    if (s == GL_OK) summarise(out, dist, country_hits);
    free(dist);
    return s;
}

gl_status gl_geo_eval_files(const char *pred_csv, const char *truth_csv, gl_geo_eval *out,
                            gl_error *err) {
    memset(out, 0, sizeof *out);
    pred_set p = {0};
    gl_status s = read_preds(pred_csv, &p, err);
    if (s == GL_OK) s = score_truth(truth_csv, &p, out, err);
    preds_free(&p);
    return s;
}
