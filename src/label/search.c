/* search.c: `geolabel search`: exact top-k cosine search over an index's tile embeddings, threads
 * streaming disjoint id ranges through their own SQLite cursors; hits written as CSV or GeoJSON. */
#include "label/index.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_TOP_K 100000
#define MAX_THREADS 64

gl_search_params gl_search_default_params(void) {
    gl_search_params p;
    memset(&p, 0, sizeof p);
    p.top_k = 10;
    p.min_score = -2;
    return p;
}

typedef struct {
    float score;
    long id;
} hit;

/* Worse first: a lower score, or the same score with a higher id (ties go to the lower id). */
static int worse(const hit *a, const hit *b) {
    return a->score < b->score || (a->score == b->score && a->id > b->id);
}

/* A bounded min-heap of the best k hits: the root is the worst kept. */
typedef struct {
    hit *h;
    int n, k;
} top_heap;

static void heap_push(top_heap *t, hit x) {
    if (t->n < t->k) {
        int i = t->n++;
        while (i && worse(&x, &t->h[(i - 1) / 2])) {
            t->h[i] = t->h[(i - 1) / 2];
            i = (i - 1) / 2;
        }
        t->h[i] = x;
        return;
    }
    if (!worse(&t->h[0], &x)) return;
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        const hit *cur = m == i ? &x : &t->h[m];
        if (l < t->n && worse(&t->h[l], cur)) m = l, cur = &t->h[l];
        if (r < t->n && worse(&t->h[r], cur)) m = r;
        if (m == i) break;
        t->h[i] = t->h[m];
        i = m;
    }
    t->h[i] = x;
}

typedef struct {
    const gl_index *ix;
    const gl_search_params *p;
    const float *q;
    long lo, hi, scanned;
    top_heap top;
    gl_error err;
    gl_status st;
} scan_job;

static int in_bbox(const gl_search_params *p, const double b[4]) {
    if (!p->has_bbox) return 1;
    if (isnan(b[0])) return 0;
    return b[0] <= p->bbox[2] && b[2] >= p->bbox[0] && b[1] <= p->bbox[3] && b[3] >= p->bbox[1];
}

static void *scan(void *arg) {
    scan_job *j = arg;
    int dim = gl_index_dim(j->ix);
    float *emb = malloc((size_t)gl_index_views(j->ix) * dim * sizeof *emb);
    gl_index_cursor *c = emb ? gl_index_cursor_new(j->ix, j->lo, j->hi, 0, &j->err) : NULL;
    if (!emb) gl_fail(&j->err, GL_ERR_NOMEM, "search: out of memory");
    gl_index_tile t;
    int r = 0;
    while (c && (r = gl_index_cursor_next(c, &t, emb, &j->err)) == 1) {
        if (t.nodata || !in_bbox(j->p, t.bbox)) continue;
        j->scanned++;
        float s = 0; /* view 0 is the tile itself; stored views are unit vectors */
        for (int k = 0; k < dim; k++)
            s += j->q[k] * emb[k];
        if (s >= j->p->min_score) heap_push(&j->top, (hit){s, t.id});
    }
    j->st = !c || r < 0 ? (j->err.code ? j->err.code : GL_ERR_INTERNAL) : GL_OK;
    gl_index_cursor_free(c);
    free(emb);
    return NULL;
}

static int cmp_hits(const void *a, const void *b) {
    const hit *x = a, *y = b;
    return worse(x, y) ? 1 : worse(y, x) ? -1 : 0;
}

/* The best k of the whole index, best first, into *out (malloc'ed). */
static gl_status scan_all(const gl_index *ix, const gl_search_params *p, const float *q, hit **out,
                          int *n_out, long *scanned, gl_error *err) {
    int T = p->threads > 0 ? p->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    long max_id = gl_index_max_id(ix);
    if (T < 1) T = 1;
    if (T > MAX_THREADS) T = MAX_THREADS;
    if (T > max_id) T = max_id > 0 ? (int)max_id : 1;
    int k = p->top_k > 0 ? p->top_k : 10;
    scan_job jobs[MAX_THREADS];
    pthread_t th[MAX_THREADS];
    memset(jobs, 0, sizeof jobs);
    gl_status st = GL_OK;
    int started = 0;
    for (int i = 0; i < T && !st; i++) {
        scan_job *j = &jobs[i];
        j->ix = ix, j->p = p, j->q = q;
        j->lo = 1 + max_id * i / T;
        j->hi = max_id * (i + 1) / T;
        j->top = (top_heap){malloc((size_t)k * sizeof(hit)), 0, k};
        if (!j->top.h)
            st = gl_fail(err, GL_ERR_NOMEM, "search: out of memory");
        else if (pthread_create(&th[i], NULL, scan, j) == 0)
            started++;
        else
            st = gl_fail(err, GL_ERR_INTERNAL, "search: cannot start a thread");
    }
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    top_heap all = {st ? NULL : malloc((size_t)k * sizeof(hit)), 0, k};
    if (!st && !all.h) st = gl_fail(err, GL_ERR_NOMEM, "search: out of memory");
    *scanned = 0;
    for (int i = 0; i < started; i++) {
        if (!st && jobs[i].st) {
            *err = jobs[i].err;
            st = jobs[i].st;
        }
        for (int m = 0; !st && m < jobs[i].top.n; m++)
            heap_push(&all, jobs[i].top.h[m]);
        *scanned += jobs[i].scanned;
    }
    for (int i = 0; i < T; i++)
        free(jobs[i].top.h);
    if (st) {
        free(all.h);
        return st;
    }
    qsort(all.h, (size_t)all.n, sizeof *all.h, cmp_hits);
    *out = all.h;
    *n_out = all.n;
    return GL_OK;
}

/* ---------------------------------------------------------------- the query */

static gl_status query_vector(gl_clip *clip, const gl_index *ix, const gl_search_params *p,
                              float *q, gl_error *err) {
    int dim = gl_index_dim(ix), kinds = (p->n_texts > 0) + (p->image != NULL) + (p->tile_id > 0);
    if (kinds != 1)
        return gl_fail(err, GL_ERR_ARG, "search: give exactly one of --text, --image or --tile");
    if (p->tile_id > 0) {
        float *emb = malloc((size_t)gl_index_views(ix) * dim * sizeof *emb);
        gl_index_tile t;
        int r = emb ? gl_index_get(ix, p->tile_id, &t, emb, err)
                    : (gl_fail(err, GL_ERR_NOMEM, "search: out of memory"), -1);
        if (r == 1 && !t.nodata) memcpy(q, emb, (size_t)dim * sizeof *q);
        free(emb);
        if (r < 0) return err->code;
        if (r == 0 || t.nodata)
            return gl_fail(err, GL_ERR_ARG, "%s: tile %ld %s", gl_index_path(ix), p->tile_id,
                           r == 0 ? "does not exist" : "is nodata and has no embedding");
        return GL_OK;
    }
    if (!clip) return gl_fail(err, GL_ERR_ARG, "search: --text and --image need --model");
    gl_status st = gl_index_check_model(ix, gl_clip_model_hash(clip), err);
    if (st) return st;
    if (gl_clip_projection_dim(clip) != dim)
        return gl_fail(err, GL_ERR_SHAPE, "%s: %d-dimensional embeddings, the model gives %d",
                       gl_index_path(ix), dim, gl_clip_projection_dim(clip));
    int n = p->image ? 1 : p->n_texts;
    float *e = malloc((size_t)n * dim * sizeof *e);
    if (!e) return gl_fail(err, GL_ERR_NOMEM, "search: out of memory");
    st = p->image ? gl_clip_encode_image_files(clip, &p->image, 1, e, err)
                  : gl_clip_encode_texts(clip, p->texts, n, e, err);
    if (!st) {
        /* Several prompts: the mean of their unit embeddings, as a prompt ensemble. */
        gl_l2_normalize_rows(e, n, dim);
        memset(q, 0, (size_t)dim * sizeof *q);
        for (int i = 0; i < n; i++)
            for (int k = 0; k < dim; k++)
                q[k] += e[(size_t)i * dim + k];
    }
    free(e);
    return st;
}

/* ---------------------------------------------------------------- output */

static void csv_num(FILE *fp, double v, const char *fmt) {
    fputc(',', fp);
    if (isfinite(v)) fprintf(fp, fmt, v);
}

static gl_status write_hits(const gl_index *ix, const hit *h, int n, const char *output,
                            gl_error *err) {
    int geojson = gl_path_has_suffix(output, ".geojson") || gl_path_has_suffix(output, ".json");
    if (!geojson && !gl_path_has_suffix(output, ".csv"))
        return gl_fail(err, GL_ERR_ARG, "%s: the output must end in .csv or .geojson", output);
    gl_atomic_file f;
    gl_status st = gl_atomic_open(&f, output, err);
    if (st) return st;
    static const char *const cols[] = {"rank",  "tile_id", "score", "input", "filename",
                                       "row",   "col",     "left",  "upper", "right",
                                       "lower", "lon",     "lat"};
    if (!geojson) {
        for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++)
            fprintf(f.fp, "%s%s", k ? "," : "", cols[k]);
        fputs("\r\n", f.fp);
    } else {
        fputs("{\"type\":\"FeatureCollection\",\"features\":[", f.fp);
    }
    for (int i = 0; !st && i < n; i++) {
        gl_index_cursor *c = gl_index_cursor_new(ix, h[i].id, h[i].id, 1, err);
        gl_index_tile t;
        int r = c ? gl_index_cursor_next(c, &t, NULL, err) : -1;
        if (r == 0) st = gl_fail(err, GL_ERR_FORMAT, "%s: tile %ld vanished", output, h[i].id);
        if (r < 0) st = err->code;
        const gl_label_row *w = &t.row;
        if (!st && !geojson) {
            fprintf(f.fp, "%d,%ld,%.6f,", i + 1, h[i].id, h[i].score);
            gl_csv_write_field(f.fp, t.input ? t.input : "");
            fputc(',', f.fp);
            gl_csv_write_field(f.fp, w->filename ? w->filename : "");
            fprintf(f.fp, ",%d,%d,%d,%d,%d,%d", w->row, w->col, w->left, w->upper, w->right,
                    w->lower);
            csv_num(f.fp, w->has_geo ? w->lon : NAN, "%.8f");
            csv_num(f.fp, w->has_geo ? w->lat : NAN, "%.8f");
            fputs("\r\n", f.fp);
        } else if (!st) {
            cJSON *o = cJSON_CreateObject(), *pr = cJSON_AddObjectToObject(o, "properties");
            cJSON_AddStringToObject(o, "type", "Feature");
            cJSON_AddNumberToObject(pr, "rank", i + 1);
            cJSON_AddNumberToObject(pr, "tile_id", (double)h[i].id);
            cJSON_AddNumberToObject(pr, "score", round(h[i].score * 1e6) / 1e6);
            cJSON_AddStringToObject(pr, "input", t.input ? t.input : "");
            cJSON_AddStringToObject(pr, "filename", w->filename ? w->filename : "");
            const int v[] = {w->row, w->col, w->left, w->upper, w->right, w->lower};
            for (int k = 0; k < 6; k++)
                cJSON_AddNumberToObject(pr, cols[5 + k], v[k]);
            if (w->has_geo) {
                cJSON_AddNumberToObject(pr, "lon", w->lon);
                cJSON_AddNumberToObject(pr, "lat", w->lat);
                cJSON *g = cJSON_AddObjectToObject(o, "geometry"), *rings = cJSON_CreateArray(),
                      *ring = cJSON_CreateArray();
                cJSON_AddStringToObject(g, "type", "Polygon");
                cJSON_AddItemToObject(g, "coordinates", rings);
                cJSON_AddItemToArray(rings, ring);
                /* TL, BL, BR, TR, TL: counter-clockwise for north-up scenes (RFC 7946). */
                static const int order[5] = {0, 3, 2, 1, 0};
                for (int k = 0; k < 5; k++) {
                    const double *pt = w->ring_lonlat[order[k]];
                    cJSON_AddItemToArray(ring, cJSON_CreateDoubleArray(pt, 2));
                }
            } else {
                cJSON_AddNullToObject(o, "geometry");
            }
            char *s = cJSON_PrintUnformatted(o);
            if (!s)
                st = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", output);
            else
                fprintf(f.fp, "%s%s", i ? ",\n" : "\n", s);
            free(s);
            cJSON_Delete(o);
        }
        gl_index_cursor_free(c);
    }
    if (geojson) fputs("\n]}\n", f.fp);
    if (st) {
        gl_atomic_abort(&f);
        return st;
    }
    return gl_atomic_commit(&f, err);
}

gl_status gl_search_run(gl_clip *clip, const char *index, const gl_search_params *p,
                        const char *output, gl_search_summary *summary, gl_error *err) {
    if (p->top_k < 0 || p->top_k > MAX_TOP_K)
        return gl_fail(err, GL_ERR_ARG, "search: --top %d is outside 1..%d", p->top_k, MAX_TOP_K);
    gl_index *ix = gl_index_open(index, err);
    if (!ix) return err->code;
    float *q = malloc((size_t)gl_index_dim(ix) * sizeof *q);
    gl_status st =
        q ? query_vector(clip, ix, p, q, err) : gl_fail(err, GL_ERR_NOMEM, "search: out of memory");
    if (!st) gl_l2_normalize_rows(q, 1, gl_index_dim(ix));
    hit *hits = NULL;
    int n = 0;
    long scanned = 0;
    double t0 = gl_now_seconds();
    if (!st) st = scan_all(ix, p, q, &hits, &n, &scanned, err);
    double secs = gl_now_seconds() - t0;
    if (!st && output) st = write_hits(ix, hits, n, output, err);
    if (summary) {
        *summary = (gl_search_summary){scanned, n, secs, ""};
        snprintf(summary->index_compute_dtype, sizeof summary->index_compute_dtype, "%s",
                 gl_index_compute_dtype(ix));
    }
    free(hits);
    free(q);
    gl_index_close(ix);
    return st;
}
