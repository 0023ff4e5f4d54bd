/* shard_set.c: whether outputs are the n shards of one run, from their manifests: the same model
 * (and hash), classes, options and input list; every shard 0..n-1 once; every input in exactly
 * one shard. What `geolabel merge` checks before joining rows, for any kind of output. */
#include "core/hashmap.h"
#include "run/run.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *name; /* the shard's output, for messages */
    gl_manifest *m;   /* owned */
    int index, count, by_tile;
    cJSON *inputs; /* its "inputs" parsed, or NULL */
} shard;

struct gl_shard_set {
    shard *sh; /* [n], in shard order */
    int n;
    int listed;    /* the manifests list their inputs */
    gl_strmap ord; /* input -> its place in the run's order */
};

void gl_shard_set_free(gl_shard_set *s) {
    if (!s) return;
    for (int k = 0; k < s->n; k++) {
        gl_manifest_free(s->sh[k].m);
        cJSON_Delete(s->sh[k].inputs);
    }
    free(s->sh);
    gl_strmap_free(&s->ord);
    free(s);
}

int gl_shard_set_count(const gl_shard_set *s) {
    return s->n;
}

const char *gl_shard_set_name(const gl_shard_set *s, int k) {
    return s->sh[k].name;
}

long gl_shard_set_inputs(const gl_shard_set *s) {
    return (long)s->ord.count;
}

long gl_shard_set_ordinal(const gl_shard_set *s, const char *input) {
    if (!s->listed) return -1;
    int32_t v;
    return gl_strmap_get(&s->ord, input, strlen(input), &v) ? v : -2;
}

/* "shard": {"index", "count", "by"} of one manifest. */
static gl_status read_shard(shard *h, gl_error *err) {
    const char *text = gl_manifest_get(h->m, "shard");
    cJSON *o = text ? cJSON_Parse(text) : NULL;
    const cJSON *i = cJSON_GetObjectItemCaseSensitive(o, "index");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "count");
    const cJSON *by = cJSON_GetObjectItemCaseSensitive(o, "by");
    int ok = cJSON_IsNumber(i) && cJSON_IsNumber(c) && c->valuedouble >= 1 &&
             c->valuedouble <= GL_SHARD_MAX && i->valuedouble >= 0 &&
             i->valuedouble < c->valuedouble && i->valuedouble == (int)i->valuedouble &&
             c->valuedouble == (int)c->valuedouble;
    if (ok) {
        h->index = (int)i->valuedouble;
        h->count = (int)c->valuedouble;
        h->by_tile = cJSON_IsString(by) && !strcmp(by->valuestring, "tile");
    }
    cJSON_Delete(o);
    return ok ? GL_OK
              : gl_fail(err, GL_ERR_FORMAT,
                        "%s: its run manifest names no shard i/n (was it written by a sharded "
                        "run, --shard i/n?)",
                        h->name);
}

/* A value for a message: at most 60 characters. */
static void clip_text(const char *v, char *out, size_t cap) {
    size_t n = strlen(v);
    if (n < 60)
        snprintf(out, cap, "%s", v);
    else
        snprintf(out, cap, "%.28s...%s", v, v + n - 28);
}

/* The first member (neither the shard nor a record) in which b differs from a. */
static gl_status same_run(const shard *a, const shard *b, gl_error *err) {
    const gl_manifest *x = a->m, *y = b->m;
    for (int pass = 0; pass < 2; pass++) {
        const gl_manifest *p = pass ? y : x, *q = pass ? x : y;
        for (int i = 0; i < p->n; i++) {
            const char *key = p->keys[i];
            if (!strcmp(key, "shard") || gl_manifest_recorded_only(key)) continue;
            const char *v = gl_manifest_get(q, key);
            if (!v) v = gl_manifest_absent_means(key);
            if (v && !strcmp(v, p->values[i])) continue;
            char va[80], vb[80];
            clip_text(pass ? (v ? v : "(none)") : p->values[i], va, sizeof va);
            clip_text(pass ? p->values[i] : (v ? v : "(none)"), vb, sizeof vb);
            return gl_fail(err, GL_ERR_ARG,
                           "%s and %s come from different runs: their manifests differ in '%s' "
                           "('%s' and '%s')",
                           a->name, b->name, key, va, vb);
        }
    }
    return GL_OK;
}

/* The given shards' names, for a message about the set. */
static void names_text(const gl_shard_set *s, char *out, size_t cap) {
    size_t used = 0;
    out[0] = 0;
    for (int k = 0; k < s->n && used + 8 < cap; k++) {
        int w = snprintf(out + used, cap - used, "%s%s", k ? ", " : "", s->sh[k].name);
        used += w > 0 ? (size_t)w : 0;
    }
    if (used >= cap && cap > 4) snprintf(out + cap - 4, 4, "...");
}

static gl_status check_set(gl_shard_set *s, gl_error *err) {
    shard *sh = s->sh;
    const int n = s->n, count = sh[0].count;
    for (int k = 0; k < n; k++) {
        if (sh[k].count != count)
            return gl_fail(err, GL_ERR_ARG, "%s is shard %d/%d but %s is shard %d/%d", sh[k].name,
                           sh[k].index, sh[k].count, sh[0].name, sh[0].index, count);
        if (sh[k].by_tile != sh[0].by_tile)
            return gl_fail(err, GL_ERR_ARG, "%s is sharded by %s but %s by %s", sh[k].name,
                           sh[k].by_tile ? "tile" : "input", sh[0].name,
                           sh[0].by_tile ? "tile" : "input");
    }
    for (int k = 0; k < n; k++)
        for (int j = 0; j < k; j++)
            if (sh[j].index == sh[k].index)
                return gl_fail(err, GL_ERR_ARG, "%s and %s are both shard %d/%d", sh[j].name,
                               sh[k].name, sh[k].index, count);
    for (int k = 1; k < n; k++) {
        gl_status st = same_run(&sh[0], &sh[k], err);
        if (st) return st;
    }
    if (n != count) {
        char missing[128] = "", given[512];
        size_t used = 0;
        for (int i = 0; i < count && used < sizeof missing - 16; i++) {
            int seen = 0;
            for (int k = 0; k < n && !seen; k++)
                seen = sh[k].index == i;
            if (!seen)
                used += (size_t)snprintf(missing + used, sizeof missing - used, "%s%d",
                                         used ? ", " : "", i);
        }
        names_text(s, given, sizeof given);
        return gl_fail(err, GL_ERR_ARG, "merge: %d of %d shards given (%s); missing shard %s", n,
                       count, given, missing);
    }
    return GL_OK;
}

/* Every input listed once (by tile: by every shard, at the same place), the lists one run's. */
static gl_status check_inputs(gl_shard_set *s, gl_error *err) {
    shard *sh = s->sh;
    double total = -1;
    const char *digest = NULL;
    long listed = 0;
    for (int k = 0; k < s->n; k++) {
        const char *text = gl_manifest_get(sh[k].m, "inputs");
        if (!text != !gl_manifest_get(sh[0].m, "inputs"))
            return gl_fail(err, GL_ERR_ARG, "%s lists its inputs but %s does not",
                           text ? sh[k].name : sh[0].name, text ? sh[0].name : sh[k].name);
        if (!text) continue;
        sh[k].inputs = cJSON_Parse(text);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(sh[k].inputs, "total");
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(sh[k].inputs, "sha256");
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(sh[k].inputs, "list");
        if (!cJSON_IsNumber(t) || t->valuedouble < 0 || t->valuedouble > 1e9 || !cJSON_IsArray(l))
            return gl_fail(err, GL_ERR_FORMAT, "%s: a bad \"inputs\" in its run manifest",
                           sh[k].name);
        if (k == 0) total = t->valuedouble, digest = cJSON_IsString(d) ? d->valuestring : NULL;
        if (t->valuedouble != total ||
            (digest && (!cJSON_IsString(d) || strcmp(d->valuestring, digest))))
            return gl_fail(err, GL_ERR_ARG,
                           "%s and %s were run over different input lists (%.0f and %.0f inputs%s)",
                           sh[0].name, sh[k].name, total, t->valuedouble,
                           t->valuedouble == total ? ", another order or other paths" : "");
        long len = (long)cJSON_GetArraySize(l);
        if (sh[k].by_tile && len != (long)total)
            return gl_fail(err, GL_ERR_FORMAT,
                           "%s: a shard by tile lists %ld of the run's %.0f inputs", sh[k].name,
                           len, total);
        listed += sh[k].by_tile ? 0 : len;
    }
    if (total < 0) return GL_OK; /* rows of data files (predict --data): no input list */
    s->listed = 1;
    if (!sh[0].by_tile && listed != (long)total)
        return gl_fail(err, GL_ERR_ARG,
                       "merge: the shards list %ld inputs, the run had %.0f; a shard ran over a "
                       "different input list",
                       listed, total);
    int *owner = malloc(((size_t)total + 1) * sizeof *owner);
    if (!owner || !gl_strmap_init(&s->ord, (size_t)total)) {
        free(owner);
        return gl_fail(err, GL_ERR_NOMEM, "merge: out of memory");
    }
    for (long i = 0; i < (long)total; i++)
        owner[i] = -1;
    gl_status st = GL_OK;
    for (int k = 0; !st && k < s->n; k++) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(sh[k].inputs, "list")) {
            const cJSON *o = cJSON_GetArrayItem(e, 0), *key = cJSON_GetArrayItem(e, 1);
            double v = cJSON_IsNumber(o) ? o->valuedouble : -1;
            if (v < 0 || v >= total || v != (long)v || !cJSON_IsString(key)) {
                st = gl_fail(err, GL_ERR_FORMAT, "%s: a bad entry in its manifest's inputs",
                             sh[k].name);
                break;
            }
            size_t len = strlen(key->valuestring);
            int32_t was;
            int known = gl_strmap_get(&s->ord, key->valuestring, len, &was);
            if (known && was != (int32_t)v) {
                st = gl_fail(err, GL_ERR_ARG, "input %s is input %d in %s and %ld in %s",
                             key->valuestring, was, sh[owner[was]].name, (long)v, sh[k].name);
            } else if (owner[(long)v] >= 0 && (!sh[k].by_tile || owner[(long)v] == k || !known)) {
                st = gl_fail(err, GL_ERR_ARG, "input %s is in %s and in %s: not one run's shards",
                             key->valuestring, sh[owner[(long)v]].name, sh[k].name);
            } else if (!known && !gl_strmap_put(&s->ord, key->valuestring, len, (int32_t)v)) {
                st = gl_fail(err, GL_ERR_NOMEM, "merge: out of memory");
            } else if (owner[(long)v] < 0) {
                owner[(long)v] = k;
            }
            if (st) break;
        }
    }
    free(owner);
    return st;
}

gl_shard_set *gl_shard_set_check(const char *const *names, gl_manifest **manifests, int n,
                                 gl_error *err) {
    gl_shard_set *s = calloc(1, sizeof *s);
    if (s && n > 0) s->sh = calloc((size_t)n, sizeof *s->sh);
    gl_status st = !s || (n > 0 && !s->sh) ? gl_fail(err, GL_ERR_NOMEM, "merge: out of memory")
                   : n < 1 ? gl_fail(err, GL_ERR_ARG, "merge: no shard outputs given")
                           : GL_OK;
    if (st) {
        for (int k = 0; k < n; k++)
            gl_manifest_free(manifests[k]);
        gl_shard_set_free(s);
        return NULL;
    }
    s->n = n;
    for (int k = 0; k < n; k++)
        s->sh[k].name = names[k], s->sh[k].m = manifests[k];
    for (int k = 0; !st && k < n; k++)
        st = read_shard(&s->sh[k], err);
    if (!st) st = check_set(s, err);
    /* Shard order, whatever order they were given in. */
    for (int k = 1; !st && k < n; k++)
        for (int j = k; j > 0 && s->sh[j - 1].index > s->sh[j].index; j--) {
            shard t = s->sh[j];
            s->sh[j] = s->sh[j - 1], s->sh[j - 1] = t;
        }
    if (!st) st = check_inputs(s, err);
    if (st) {
        gl_shard_set_free(s);
        return NULL;
    }
    return s;
}

gl_shard_set *gl_shard_set_load(const char *const *outputs, int n, gl_error *err) {
    gl_manifest **m = calloc((size_t)(n > 0 ? n : 1), sizeof *m);
    gl_status st = m ? GL_OK : gl_fail(err, GL_ERR_NOMEM, "merge: out of memory");
    for (int k = 0; !st && k < n; k++) {
        char *path = gl_run_manifest_path(outputs[k]);
        if (!path)
            st = gl_fail(err, GL_ERR_NOMEM, "merge: out of memory");
        else if (access(path, F_OK) != 0)
            st = gl_fail(err, GL_ERR_IO,
                         "%s: no run manifest beside it (%s); was it written by a sharded run "
                         "(--shard i/n)?",
                         outputs[k], path);
        else if (!(m[k] = gl_manifest_load(path, err)))
            st = err->code;
        free(path);
    }
    gl_shard_set *s = NULL;
    if (!st)
        s = gl_shard_set_check(outputs, m, n, err);
    else
        for (int k = 0; m && k < n; k++)
            gl_manifest_free(m[k]);
    free(m);
    return s;
}

gl_manifest *gl_shard_set_manifest(const gl_shard_set *s, gl_error *err) {
    gl_manifest *m = gl_manifest_new(err);
    const gl_manifest *first = s->sh[0].m;
    gl_status st = m ? GL_OK : err->code;
    for (int i = 0; !st && i < first->n; i++)
        if (strcmp(first->keys[i], "shard") && strcmp(first->keys[i], "inputs"))
            st = first->json[i] ? gl_manifest_set_json(m, first->keys[i], first->values[i], err)
                                : gl_manifest_set(m, first->keys[i], first->values[i], err);
    if (!st && s->listed) {
        /* Every input once, in the run's order (by tile, every shard lists them all). */
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(s->sh[0].inputs, "total");
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(s->sh[0].inputs, "sha256");
        long total = (long)t->valuedouble;
        const char **keys = calloc((size_t)total + 1, sizeof *keys);
        if (!keys) st = gl_fail(err, GL_ERR_NOMEM, "merge: out of memory");
        for (int k = 0; !st && k < s->n; k++) {
            const cJSON *e;
            cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(s->sh[k].inputs, "list"))
                keys[(long)cJSON_GetArrayItem(e, 0)->valuedouble] =
                    cJSON_GetArrayItem(e, 1)->valuestring;
        }
        if (!st)
            st = gl_manifest_set_inputs(m, keys, NULL, (int)total, total,
                                        cJSON_IsString(d) ? d->valuestring : NULL, err);
        free(keys);
    }
    char n[32];
    snprintf(n, sizeof n, "%d", s->n);
    if (!st) st = gl_manifest_set_json(m, "merged_shards", n, err);
    if (st) {
        gl_manifest_free(m);
        return NULL;
    }
    return m;
}
