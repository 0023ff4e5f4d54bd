/* dataset.c: the Geograph data set (JSONL, optionally gzipped) read as a stream of rows, one line
 * in memory at a time; bad rows are counted, reported with their line and skipped (or zeroed). */
#include "heads/heads.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define LINE_MAX_BYTES (256u << 20) /* a longer line is a bad row, never an allocation */
#define WARN_ROWS 5

struct gl_hreader {
    char *path;
    gzFile gz;
    int clip_dim, keep_bad;
    char *line;
    size_t cap;
    long line_no, bad_rows;
    float *emb;         /* [clip_dim] */
    unsigned char *raw; /* decoded base64 */
    size_t raw_cap;
    cJSON *json; /* the current row's object */
    char id[HEADS_ID_MAX], distance[64];
    char *first_bad;
};

const char *gl_split_name(gl_split s) {
    static const char *const names[] = {"tra", "val", "tes", "other"};
    return (unsigned)s < 4 ? names[s] : "other";
}

gl_hreader *gl_hreader_open(const char *path, int clip_dim, int keep_bad_rows, gl_error *err) {
    gl_hreader *r = calloc(1, sizeof *r);
    if (!r) {
        gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    r->clip_dim = clip_dim;
    r->keep_bad = keep_bad_rows;
    r->cap = 1 << 16;
    r->raw_cap = (size_t)clip_dim * 4 + 16;
    r->path = strdup(path);
    r->line = malloc(r->cap);
    r->emb = calloc((size_t)clip_dim + 1, sizeof *r->emb);
    r->raw = malloc(r->raw_cap);
    if (!r->path || !r->line || !r->emb || !r->raw) {
        gl_hreader_free(r);
        gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    r->gz = gzopen(path, "rb"); /* reads plain files as they are, .gz through zlib */
    if (!r->gz) {
        gl_hreader_free(r);
        gl_fail(err, GL_ERR_IO, "%s: cannot open", path);
        return NULL;
    }
    gzbuffer(r->gz, 1 << 18);
    return r;
}

void gl_hreader_free(gl_hreader *r) {
    if (!r) return;
    if (r->gz) gzclose(r->gz);
    cJSON_Delete(r->json);
    free(r->path);
    free(r->line);
    free(r->emb);
    free(r->raw);
    free(r->first_bad);
    free(r);
}

long gl_hreader_bad_rows(const gl_hreader *r) {
    return r->bad_rows;
}
const char *gl_hreader_first_bad(const gl_hreader *r) {
    return r->first_bad;
}

/* Reads one line of any length into r->line. Returns its length, -1 at end of file, -2 on a read
 * error, -3 for a line over the limit (its remainder is consumed). */
static long read_line(gl_hreader *r) {
    size_t len = 0;
    int too_long = 0;
    for (;;) {
        if (r->cap - len < 2) {
            if (r->cap >= LINE_MAX_BYTES) {
                too_long = 1;
                len = 0;
            } else {
                char *l = realloc(r->line, r->cap * 2);
                if (!l) return -2;
                r->line = l;
                r->cap *= 2;
            }
        }
        int code = Z_OK;
        if (!gzgets(r->gz, r->line + len,
                    (int)(r->cap - len > INT32_MAX ? INT32_MAX : r->cap - len))) {
            gzerror(r->gz, &code); /* Z_BUF_ERROR: the gzip stream ends early (truncated) */
            if (code != Z_OK) return -2;
            if (len == 0 && !too_long) return -1;
            break;
        }
        len += strlen(r->line + len);
        if (len && r->line[len - 1] == '\n') break;
        if (gzeof(r->gz)) {
            gzerror(r->gz, &code);
            if (code != Z_OK) return -2;
        }
    }
    if (too_long) return -3;
    while (len && (r->line[len - 1] == '\n' || r->line[len - 1] == '\r'))
        r->line[--len] = 0;
    return (long)len;
}

/* str() of a JSON scalar as Python would print the value json.loads made of it. */
static void py_str(const cJSON *v, char *out, size_t cap, const char *missing) {
    if (!v)
        snprintf(out, cap, "%s", missing);
    else if (cJSON_IsString(v))
        snprintf(out, cap, "%s", v->valuestring);
    else if (cJSON_IsNull(v))
        snprintf(out, cap, "None");
    else if (cJSON_IsTrue(v))
        snprintf(out, cap, "True");
    else if (cJSON_IsFalse(v))
        snprintf(out, cap, "False");
    else if (cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) &&
             fabs(v->valuedouble) < 9e15)
        snprintf(out, cap, "%.0f", v->valuedouble);
    else if (cJSON_IsNumber(v))
        snprintf(out, cap, "%.17g", v->valuedouble);
    else
        snprintf(out, cap, "?");
}

static void note_bad(gl_hreader *r, const char *why) {
    r->bad_rows++;
    char msg[512];
    snprintf(msg, sizeof msg, "%s:%ld: %s", r->path, r->line_no, why);
    if (!r->first_bad) r->first_bad = strdup(msg);
    if (r->bad_rows <= WARN_ROWS)
        gl_log(GL_LOG_WARN, "%s (%s)", msg, r->keep_bad ? "kept as a zero vector" : "row skipped");
    else if (r->bad_rows == WARN_ROWS + 1)
        gl_log(GL_LOG_WARN, "%s: more bad rows; only the count is reported from here", r->path);
}

/* Decodes the embedding; returns NULL when fine, else why the row is bad. */
static const char *decode_embedding(gl_hreader *r, const cJSON *e, char *why, size_t cap) {
    if (!cJSON_IsString(e)) return "no \"embeddings\" string";
    size_t tlen = strlen(e->valuestring), n = 0, want = (size_t)r->clip_dim * 4;
    if (tlen / 4 * 3 > want + 3) {
        snprintf(why, cap, "embedding holds about %zu bytes, expected %zu (%d float32)",
                 tlen / 4 * 3, want, r->clip_dim);
        return why;
    }
    gl_error err = {0};
    if (gl_base64_decode(e->valuestring, tlen, r->raw, r->raw_cap, &n, &err))
        return "bad base64 in \"embeddings\"";
    if (n != want) {
        snprintf(why, cap, "embedding has %zu bytes, expected %zu (%d float32)", n, want,
                 r->clip_dim);
        return why;
    }
    memcpy(r->emb, r->raw, want); /* little-endian float32, as the data set stores them */
    for (int i = 0; i < r->clip_dim; i++)
        if (!isfinite(r->emb[i])) return "embedding holds NaN or Inf";
    return NULL;
}

static gl_split parse_split(const cJSON *s) {
    if (!cJSON_IsString(s)) return GL_SPLIT_OTHER;
    for (int i = 0; i < 3; i++)
        if (!strcmp(s->valuestring, gl_split_name((gl_split)i))) return (gl_split)i;
    return GL_SPLIT_OTHER;
}

/* Fills row from the parsed object; returns NULL or why the row is bad. */
static const char *fill_row(gl_hreader *r, gl_hrow *row, char *why, size_t cap) {
    const cJSON *j = r->json;
    if (!cJSON_IsObject(j)) return "line is not a JSON object";
    py_str(cJSON_GetObjectItemCaseSensitive(j, "gridimage_id"), r->id, sizeof r->id, "");
    const cJSON *dv = cJSON_GetObjectItemCaseSensitive(j, "distance");
    py_str(dv, r->distance, sizeof r->distance, "Unknown");
    if (cJSON_IsString(dv) && strlen(dv->valuestring) >= sizeof r->distance)
        snprintf(r->distance, sizeof r->distance,
                 "(too long)"); /* in no bucket: Unknown, as the reference */
    const cJSON *types = cJSON_GetObjectItemCaseSensitive(j, "types");
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(j, "weight");
    row->id = r->id;
    row->distance = r->distance;
    row->types = cJSON_IsString(types) ? types->valuestring : "";
    row->split = parse_split(cJSON_GetObjectItemCaseSensitive(j, "split"));
    row->weight = 1.0f;
    row->embedding = r->clip_dim ? r->emb : NULL;
    if (w && !cJSON_IsNumber(w)) return "\"weight\" is not a number";
    if (w) row->weight = (float)w->valuedouble;
    if (types && !cJSON_IsString(types)) return "\"types\" is not a string";
    return r->clip_dim
               ? decode_embedding(r, cJSON_GetObjectItemCaseSensitive(j, "embeddings"), why, cap)
               : NULL;
}

int gl_hreader_next(gl_hreader *r, gl_hrow *row, gl_error *err) {
    for (;;) {
        long len = read_line(r);
        if (len == -1) return 0;
        if (len == -2) {
            gl_fail(err, GL_ERR_IO, "%s:%ld: read error (truncated or corrupt gzip?)", r->path,
                    r->line_no + 1);
            return -1;
        }
        r->line_no++;
        memset(row, 0, sizeof *row);
        row->line = r->line_no;
        if (len == -3) {
            note_bad(r, "line longer than 256 MB");
            continue;
        }
        if (len == 0) continue; /* blank lines, e.g. a trailing newline, are not rows */
        cJSON_Delete(r->json);
        r->json = cJSON_ParseWithLength(r->line, (size_t)len);
        if (!r->json) {
            note_bad(r, "malformed JSON");
            continue;
        }
        char why[160];
        const char *bad = fill_row(r, row, why, sizeof why);
        if (!bad) return 1;
        note_bad(r, bad);
        if (r->keep_bad && cJSON_IsObject(r->json)) {
            memset(r->emb, 0, (size_t)r->clip_dim * sizeof *r->emb);
            row->bad = 1;
            return 1;
        }
    }
}

/* ------------------------------------------------------------------ stats and targets */

static void count_tags(gl_hstats *s, const char *types) {
    for (const char *t = types;;) {
        const char *comma = strchr(t, ',');
        size_t len = comma ? (size_t)(comma - t) : strlen(t);
        while (len && (*t == ' ' || *t == '\t'))
            t++, len--;
        while (len && (t[len - 1] == ' ' || t[len - 1] == '\t'))
            len--;
        int k = 0;
        while (k < s->n_tags && (strlen(s->tag_names[k]) != len || memcmp(s->tag_names[k], t, len)))
            k++;
        if (k == s->n_tags && k < GL_HSTATS_MAX_TAGS && len < sizeof s->tag_names[0]) {
            snprintf(s->tag_names[k], sizeof s->tag_names[0], "%.*s", (int)len, t);
            s->n_tags++;
        }
        if (k < s->n_tags) s->tag_count[k]++;
        if (!comma) break;
        t = comma + 1;
    }
}

gl_status gl_hdata_stats(const char *path, int clip_dim, gl_hstats *out, gl_error *err) {
    memset(out, 0, sizeof *out);
    gl_hreader *r = gl_hreader_open(path, clip_dim, 0, err);
    if (!r) return err->code;
    gl_hrow row;
    int rc;
    float t[GL_GEOGRAPH_N_CLASSES];
    while ((rc = gl_hreader_next(r, &row, err)) == 1) {
        out->rows++;
        out->split_rows[row.split]++;
        gl_geograph_targets(row.types, row.distance, gl_geograph_classes, GL_GEOGRAPH_N_CLASSES, t);
        for (int c = 0; c < GL_GEOGRAPH_N_CLASSES; c++)
            out->target_count[c] += t[c] > 0;
        out->dist_hist[gl_geograph_dist_index(row.distance)]++;
        count_tags(out, row.types);
    }
    out->bad_rows = gl_hreader_bad_rows(r);
    gl_hreader_free(r);
    return rc < 0 ? err->code : GL_OK;
}

gl_status gl_hdata_write_targets(const char *data_path, const char *out_csv, long *n_rows,
                                 long *n_bad, gl_error *err) {
    *n_rows = *n_bad = 0;
    gl_hreader *r = gl_hreader_open(data_path, 0, 0, err);
    if (!r) return err->code;
    gl_atomic_file f;
    gl_status s = gl_atomic_open(&f, out_csv, err);
    if (s) {
        gl_hreader_free(r);
        return s;
    }
    fputs("gridimage_id", f.fp);
    for (int c = 0; c < GL_GEOGRAPH_N_CLASSES; c++) {
        fputc(',', f.fp);
        gl_csv_write_field(f.fp, gl_geograph_classes[c]);
    }
    fputc('\n', f.fp);
    gl_hrow row;
    int rc;
    float t[GL_GEOGRAPH_N_CLASSES];
    while ((rc = gl_hreader_next(r, &row, err)) == 1) {
        gl_geograph_targets(row.types, row.distance, gl_geograph_classes, GL_GEOGRAPH_N_CLASSES, t);
        gl_csv_write_field(f.fp, row.id);
        for (int c = 0; c < GL_GEOGRAPH_N_CLASSES; c++)
            fprintf(f.fp, ",%d", t[c] > 0);
        fputc('\n', f.fp);
        (*n_rows)++;
    }
    *n_bad = gl_hreader_bad_rows(r);
    gl_hreader_free(r);
    if (rc < 0) {
        gl_atomic_abort(&f);
        return err->code;
    }
    return gl_atomic_commit(&f, err);
}
