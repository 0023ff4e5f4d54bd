/* build.c: `dataset build`: images embedded with the CLIP engine and appended as data set rows,
 * resumable (ids already written are skipped) and append-safe (a torn last line is cut off). */
#include "core/progress.h"
#include "heads/heads.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUILD_BATCH 16

typedef struct {
    char **ids;
    size_t n, cap;
} id_set;

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void id_set_free(id_set *s) {
    for (size_t i = 0; i < s->n; i++)
        free(s->ids[i]);
    free(s->ids);
}

static int id_set_add(id_set *s, const char *id) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        char **ids = realloc(s->ids, cap * sizeof *ids);
        if (!ids) return -1;
        s->ids = ids;
        s->cap = cap;
    }
    if (!(s->ids[s->n] = strdup(id))) return -1;
    s->n++;
    return 0;
}

static int id_set_has(const id_set *s, const char *id) {
    return s->n && bsearch(&id, s->ids, s->n, sizeof *s->ids, cmp_str) != NULL;
}

/* Cuts a partial last line (no newline: the write in flight when a run died). */
static gl_status cut_torn_tail(const char *path, gl_error *err) {
    FILE *fp = fopen(path, "r+b");
    if (!fp)
        return errno == ENOENT
                   ? GL_OK
                   : gl_fail(err, GL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    long keep = 0;
    if (fstat(fileno(fp), &st) == 0 && st.st_size > 0) {
        long pos = st.st_size;
        int ch = 0;
        while (pos > 0) {
            fseek(fp, pos - 1, SEEK_SET);
            if ((ch = fgetc(fp)) == '\n') break;
            pos--;
        }
        keep = pos;
        if (keep != st.st_size)
            gl_log(GL_LOG_WARN, "%s: cutting a partial last line (%lld bytes)", path,
                   (long long)(st.st_size - keep));
    }
    int bad = fstat(fileno(fp), &st) == 0 && keep != st.st_size && ftruncate(fileno(fp), keep) != 0;
    fclose(fp);
    return bad ? gl_fail(err, GL_ERR_IO, "%s: cannot truncate: %s", path, strerror(errno)) : GL_OK;
}

static gl_status load_existing(const char *path, id_set *ids, gl_error *err) {
    if (access(path, F_OK) != 0) return GL_OK;
    gl_status s = cut_torn_tail(path, err);
    gl_hreader *r = s ? NULL : gl_hreader_open(path, 0, 0, err);
    if (!r) return err->code;
    gl_hrow row;
    int rc;
    while ((rc = gl_hreader_next(r, &row, err)) == 1)
        if (id_set_add(ids, row.id)) {
            rc = -1;
            gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
    gl_hreader_free(r);
    if (ids->n) qsort(ids->ids, ids->n, sizeof *ids->ids, cmp_str);
    return rc < 0 ? err->code : GL_OK;
}

typedef struct {
    char *id[BUILD_BATCH], *path[BUILD_BATCH], *types[BUILD_BATCH], *split[BUILD_BATCH];
    char dist[BUILD_BATCH][32];
    double weight[BUILD_BATCH];
    int n;
} pending;

static void pending_clear(pending *p) {
    for (int i = 0; i < p->n; i++)
        free(p->id[i]), free(p->path[i]), free(p->types[i]), free(p->split[i]);
    p->n = 0;
}

static int all_digits(const char *s) {
    if (!*s || strlen(s) > 15) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

static gl_status flush(gl_clip *clip, FILE *out, const char *out_path, pending *p, float *emb,
                       gl_error *err) {
    gl_status s = gl_clip_encode_image_files(clip, (const char *const *)p->path, p->n, emb, err);
    int dim = gl_clip_projection_dim(clip);
    for (int i = 0; !s && i < p->n; i++) {
        cJSON *o = cJSON_CreateObject();
        if (all_digits(p->id[i]))
            cJSON_AddNumberToObject(o, "gridimage_id", strtod(p->id[i], NULL));
        else
            cJSON_AddStringToObject(o, "gridimage_id", p->id[i]);
        cJSON_AddStringToObject(o, "types", p->types[i]);
        cJSON_AddStringToObject(o, "distance", p->dist[i]);
        char *b64 = gl_base64_encode(emb + (size_t)i * dim, (size_t)dim * sizeof(float));
        cJSON_AddStringToObject(o, "embeddings", b64 ? b64 : "");
        cJSON_AddStringToObject(o, "split", p->split[i]);
        cJSON_AddNumberToObject(o, "weight", p->weight[i]);
        char *line = cJSON_PrintUnformatted(o);
        if (!b64 || !line || fprintf(out, "%s\n", line) < 0)
            s = gl_fail(err, GL_ERR_IO, "%s: write failed", out_path);
        free(line);
        free(b64);
        cJSON_Delete(o);
    }
    if (!s && (fflush(out) != 0 || fsync(fileno(out)) != 0))
        s = gl_fail(err, GL_ERR_IO, "%s: write failed: %s", out_path, strerror(errno));
    pending_clear(p);
    return s;
}

static const char *field_or(const gl_csv *csv, int col, const char *fallback) {
    return col >= 0 ? gl_csv_field(csv, col) : fallback;
}

/* Reads one meta row into the pending batch; returns GL_OK or a format error naming the line. */
static gl_status take_row(const gl_csv *csv, const int *col, const char *meta, pending *p,
                          gl_error *err) {
    double v[4];
    for (int k = 0; k < 4; k++) {
        const char *f = gl_csv_field(csv, col[2 + k]);
        char *end;
        v[k] = strtod(f, &end);
        if (end == f || *end)
            return gl_fail(err, GL_ERR_FORMAT, "%s:%ld: coordinate '%s' is not a number", meta,
                           gl_csv_line(csv), f);
    }
    int i = p->n;
    gl_geograph_distance(v[0], v[1], v[2], v[3], p->dist[i], sizeof p->dist[i]);
    const char *w = field_or(csv, col[8], "");
    p->weight[i] = *w ? strtod(w, NULL) : 1.0;
    p->id[i] = strdup(gl_csv_field(csv, col[0]));
    p->path[i] = strdup(gl_csv_field(csv, col[1]));
    p->types[i] = strdup(field_or(csv, col[6], ""));
    p->split[i] = strdup(field_or(csv, col[7], ""));
    p->n++;
    if (!p->id[i] || !p->path[i] || !p->types[i] || !p->split[i])
        return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", meta);
    return GL_OK;
}

static long count_rows(const char *meta) {
    gl_error e = {0};
    gl_csv *csv = gl_csv_open(meta, 1, &e);
    long n = 0;
    while (csv && gl_csv_next(csv, &e) == 1)
        n++;
    gl_csv_free(csv);
    return n;
}

/* The model (and compute dtype) that wrote out_jsonl's rows, from its manifest, must be this one.
 * An output without that record gets it now, before a row is appended, so a run killed part way
 * is checked on resume like a finished one; rows (n_rows) that predate the record are taken as
 * this model's, with a warning. The manifest is the one a shard's run completes
 * (gl_shard_manifest_write): command, model_hash, compute_dtype, shard. */
static gl_status same_model(gl_clip *clip, const char *out_jsonl, const gl_shard *shard,
                            size_t n_rows, char model_hash[40], gl_error *err) {
    char *mpath = gl_run_manifest_path(out_jsonl);
    if (!mpath) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", out_jsonl);
    gl_manifest *m = n_rows && access(mpath, F_OK) == 0 ? gl_manifest_load(mpath, err) : NULL;
    gl_status st = m || !n_rows || access(mpath, F_OK) != 0 ? GL_OK : err->code;
    const char *had = m ? gl_manifest_get(m, "model_hash") : NULL;
    const char *had_dtype = m ? gl_manifest_get(m, "compute_dtype") : NULL;
    const char *have = st ? NULL : gl_clip_model_hash(clip);
    const char *dtype = gl_dtype_name(gl_clip_dtype(clip, 1));
    if (!st && had && strcmp(had, have))
        st = gl_fail(err, GL_ERR_ARG,
                     "%s: its rows were embedded by another model (hash %s in %s, this one %s)",
                     out_jsonl, had, mpath, have);
    /* a record without compute_dtype predates --dtype: f32 */
    if (!st && had && strcmp(had_dtype ? had_dtype : "f32", dtype))
        st = gl_fail(err, GL_ERR_ARG,
                     "%s: its rows were embedded in compute dtype %s (%s), this run computes %s",
                     out_jsonl, had_dtype ? had_dtype : "f32", mpath, dtype);
    if (!st && !had) {
        if (n_rows)
            gl_log(GL_LOG_WARN,
                   "%s: no record of the model that embedded its %zu rows (%s): taken as this "
                   "one's, %s",
                   out_jsonl, n_rows, mpath, have);
        gl_shard_record rec = {.command = "dataset build",
                               .model_hash = have,
                               .compute_dtype = dtype,
                               .shard = shard ? *shard : (gl_shard){0}};
        st = gl_shard_manifest_write(out_jsonl, &rec, err);
    }
    if (!st && model_hash) snprintf(model_hash, 40, "%s", have);
    gl_manifest_free(m);
    free(mpath);
    return st;
}

gl_status gl_hdata_build(const char *model, const gl_clip_params *clip_params, const char *meta_csv,
                         const char *out_jsonl, const gl_shard *shard, long *n_new, long *n_skipped,
                         char model_hash[40], gl_error *err) {
    *n_new = *n_skipped = 0;
    id_set ids = {0};
    pending p = {0};
    gl_clip *clip = NULL;
    FILE *out = NULL;
    float *emb = NULL;
    gl_csv *csv = gl_csv_open(meta_csv, 1, err);
    gl_status s = csv ? load_existing(out_jsonl, &ids, err) : err->code;
    const char *names[9] = {"id", "path", "e1", "n1", "e2", "n2", "types", "split", "weight"};
    int col[9];
    for (int k = 0; !s && k < 9; k++)
        if ((col[k] = gl_csv_column(csv, names[k])) < 0 && k < 6)
            s = gl_fail(err, GL_ERR_FORMAT, "%s: no '%s' column (need id,path,e1,n1,e2,n2)",
                        meta_csv, names[k]);
    if (!s && !(clip = gl_clip_load(model, clip_params, err))) s = err->code;
    if (!s) s = same_model(clip, out_jsonl, shard, ids.n, model_hash, err);
    if (!s && !(emb = malloc(sizeof(float) * BUILD_BATCH * (size_t)gl_clip_projection_dim(clip))))
        s = gl_fail(err, GL_ERR_NOMEM, "dataset build: out of memory");
    if (!s && !(out = fopen(out_jsonl, "ab")))
        s = gl_fail(err, GL_ERR_IO, "%s: cannot write: %s", out_jsonl, strerror(errno));
    gl_progress prog;
    gl_progress_begin(&prog, "images", s ? 0 : count_rows(meta_csv));
    int rc = 1;
    while (!s && (rc = gl_csv_next(csv, err)) == 1) {
        gl_progress_add(&prog, 1);
        if (!gl_shard_owns_input(shard, gl_csv_field(csv, col[1]))) continue; /* another shard's */
        if (id_set_has(&ids, gl_csv_field(csv, col[0]))) {
            (*n_skipped)++;
            continue;
        }
        s = take_row(csv, col, meta_csv, &p, err);
        if (!s && p.n == BUILD_BATCH) {
            *n_new += p.n;
            s = flush(clip, out, out_jsonl, &p, emb, err);
        }
    }
    if (!s && rc < 0) s = err->code;
    if (!s && p.n) {
        *n_new += p.n;
        s = flush(clip, out, out_jsonl, &p, emb, err);
    }
    gl_progress_end(&prog);
    pending_clear(&p);
    if (out && fclose(out) != 0 && !s) s = gl_fail(err, GL_ERR_IO, "%s: write failed", out_jsonl);
    free(emb);
    gl_clip_free(clip);
    gl_csv_free(csv);
    id_set_free(&ids);
    return s;
}
