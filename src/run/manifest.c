/* manifest.c: what produced a run's output (model and its hash, classes, prompts, tiling, bands,
 * stretch, version, shard and inputs) as ordered members, stored as JSON, compared before resuming
 * or merging. */
#include "io/json.h"
#include "run/run.h"

#include <stdlib.h>
#include <string.h>

#define MANIFEST_MAX_BYTES (1L << 30) /* a shard of millions of inputs lists them all */
#define MANIFEST_MAX_KEYS 256

int gl_manifest_recorded_only(const char *key) {
    return !strcmp(key, "inputs") || !strcmp(key, "merged_shards");
}

gl_manifest *gl_manifest_new(gl_error *err) {
    gl_manifest *m = calloc(1, sizeof *m);
    if (m) m->keys = calloc(MANIFEST_MAX_KEYS, sizeof *m->keys);
    if (m && m->keys) m->values = calloc(MANIFEST_MAX_KEYS, sizeof *m->values);
    if (m && m->values) m->json = calloc(MANIFEST_MAX_KEYS, 1);
    if (!m || !m->json) {
        gl_manifest_free(m);
        gl_fail(err, GL_ERR_NOMEM, "manifest: out of memory");
        return NULL;
    }
    return m;
}

void gl_manifest_free(gl_manifest *m) {
    if (!m) return;
    for (int i = 0; i < m->n; i++)
        free(m->keys[i]), free(m->values[i]);
    free(m->keys);
    free(m->values);
    free(m->json);
    free(m);
}

/* Sets key to value (copied); json says whether value is JSON text. */
static gl_status set(gl_manifest *m, const char *key, const char *value, int json, gl_error *err) {
    int i = 0;
    while (i < m->n && strcmp(m->keys[i], key))
        i++;
    if (i == MANIFEST_MAX_KEYS)
        return gl_fail(err, GL_ERR_LIMIT, "manifest: more than %d keys", MANIFEST_MAX_KEYS);
    char *v = strdup(value ? value : "");
    if (!v) return gl_fail(err, GL_ERR_NOMEM, "manifest: out of memory");
    if (i == m->n) {
        if (!(m->keys[i] = strdup(key))) {
            free(v);
            return gl_fail(err, GL_ERR_NOMEM, "manifest: out of memory");
        }
        m->n++;
    }
    free(m->values[i]);
    m->values[i] = v;
    m->json[i] = (char)json;
    return GL_OK;
}

gl_status gl_manifest_set(gl_manifest *m, const char *key, const char *value, gl_error *err) {
    return set(m, key, value, 0, err);
}

gl_status gl_manifest_set_json(gl_manifest *m, const char *key, const char *json, gl_error *err) {
    cJSON *v = cJSON_Parse(json);
    if (!v || cJSON_IsString(v)) {
        cJSON_Delete(v);
        return gl_fail(err, GL_ERR_ARG, "manifest: %s is not a JSON object, array or number", key);
    }
    char *text = cJSON_PrintUnformatted(v); /* one spelling, so equal values compare equal */
    cJSON_Delete(v);
    gl_status st =
        text ? set(m, key, text, 1, err) : gl_fail(err, GL_ERR_NOMEM, "manifest: out of memory");
    free(text);
    return st;
}

void gl_manifest_remove(gl_manifest *m, const char *key) {
    for (int i = 0; m && i < m->n; i++) {
        if (strcmp(m->keys[i], key)) continue;
        free(m->keys[i]), free(m->values[i]);
        memmove(m->keys + i, m->keys + i + 1, (size_t)(m->n - i - 1) * sizeof *m->keys);
        memmove(m->values + i, m->values + i + 1, (size_t)(m->n - i - 1) * sizeof *m->values);
        memmove(m->json + i, m->json + i + 1, (size_t)(m->n - i - 1));
        m->n--;
        m->keys[m->n] = m->values[m->n] = NULL; /* set() frees what a new slot held */
        return;
    }
}

const char *gl_manifest_get(const gl_manifest *m, const char *key) {
    for (int i = 0; m && i < m->n; i++)
        if (!strcmp(m->keys[i], key)) return m->values[i];
    return NULL;
}

char *gl_manifest_to_json(const gl_manifest *m, gl_error *err) {
    cJSON *o = cJSON_CreateObject();
    int ok = o != NULL;
    for (int i = 0; ok && i < m->n; i++)
        ok = (m->json[i] ? cJSON_AddRawToObject(o, m->keys[i], m->values[i])
                         : cJSON_AddStringToObject(o, m->keys[i], m->values[i])) != NULL;
    char *text = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!text) gl_fail(err, GL_ERR_NOMEM, "manifest: out of memory");
    return text;
}

/* From a parsed object; what names the source in errors. Members that are not strings (a shard's
 * "shard" and "inputs", a command's "options") are kept as JSON text and written back as they
 * were. */
static gl_manifest *from_object(const cJSON *o, const char *what, gl_error *err) {
    if (!cJSON_IsObject(o)) {
        gl_fail(err, GL_ERR_FORMAT, "%s: a manifest must be a JSON object", what);
        return NULL;
    }
    gl_manifest *m = gl_manifest_new(err);
    const cJSON *it;
    cJSON_ArrayForEach(it, o) {
        if (!m) break;
        if (!it->string) {
            gl_fail(err, GL_ERR_FORMAT, "%s: a manifest entry without a name", what);
        } else if (cJSON_IsString(it)) {
            if (!gl_manifest_set(m, it->string, it->valuestring, err)) continue;
        } else {
            char *text = cJSON_PrintUnformatted(it);
            gl_status st = text ? set(m, it->string, text, 1, err)
                                : gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", what);
            free(text);
            if (!st) continue;
        }
        gl_manifest_free(m);
        m = NULL;
    }
    return m;
}

gl_manifest *gl_manifest_from_json(const char *text, const char *what, gl_error *err) {
    cJSON *o = cJSON_Parse(text);
    if (!o) {
        gl_fail(err, GL_ERR_FORMAT, "%s: the manifest is not valid JSON", what);
        return NULL;
    }
    gl_manifest *m = from_object(o, what, err);
    cJSON_Delete(o);
    return m;
}

gl_manifest *gl_manifest_load(const char *path, gl_error *err) {
    cJSON *o;
    if (gl_json_load_object(path, MANIFEST_MAX_BYTES, &o, err)) return NULL;
    gl_manifest *m = from_object(o, path, err);
    cJSON_Delete(o);
    return m;
}

gl_status gl_manifest_write(const gl_manifest *m, const char *path, gl_error *err) {
    char *text = gl_manifest_to_json(m, err);
    if (!text) return err->code;
    gl_atomic_file f;
    gl_status st = gl_atomic_open(&f, path, err);
    if (!st) {
        fputs(text, f.fp);
        fputc('\n', f.fp);
        st = gl_atomic_commit(&f, err);
    }
    free(text);
    return st;
}

const char *gl_manifest_absent_means(const char *key) {
    return !strcmp(key, "compute_dtype") ? "f32" : NULL;
}

gl_status gl_manifest_compare(const gl_manifest *want, const gl_manifest *have, const char *what,
                              gl_error *err) {
    for (int i = 0; i < want->n; i++) {
        if (gl_manifest_recorded_only(want->keys[i])) continue;
        const char *h = gl_manifest_get(have, want->keys[i]);
        if (!h) h = gl_manifest_absent_means(want->keys[i]);
        if (!h || strcmp(h, want->values[i]))
            return gl_fail(err, GL_ERR_ARG, "%s was made with %s '%s', this run has '%s'", what,
                           want->keys[i], h ? h : "(none)", want->values[i]);
    }
    for (int i = 0; i < have->n; i++) {
        const char *k = have->keys[i], *same = gl_manifest_absent_means(k);
        if (gl_manifest_recorded_only(k) || gl_manifest_get(want, k)) continue;
        if (same && !strcmp(same, have->values[i])) continue;
        return gl_fail(err, GL_ERR_ARG, "%s was made with %s '%s', this run has none", what, k,
                       have->values[i]);
    }
    return GL_OK;
}

gl_status gl_manifest_require(const gl_manifest *want, const gl_manifest *have, const char *what,
                              const char *hint, gl_error *err) {
    gl_status st = gl_manifest_compare(want, have, what, err);
    if (st && hint) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        st = gl_fail(err, st, "%s (%s)", msg, hint);
    }
    return st;
}
