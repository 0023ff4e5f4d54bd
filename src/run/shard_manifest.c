/* shard_manifest.c: a sharded run's members of its manifest ("shard", and "inputs" with the
 * shard's inputs, their places in the whole run and the whole list's digest), and the manifest of
 * the commands that have no run journal (embed, locate, predict, dataset build). */
#include "run/run.h"

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

char *gl_run_manifest_path(const char *output) {
    size_t n = strlen(output) + 16;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s.manifest.json", output);
    return p;
}

void gl_inputs_digest(const char *const *inputs, int n, char hex[65]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    /* Each path with its NUL: ["ab", "c"] and ["a", "bc"] differ. */
    for (int i = 0; ok && i < n; i++)
        ok = EVP_DigestUpdate(c, inputs[i], strlen(inputs[i]) + 1);
    ok = ok && EVP_DigestFinal_ex(c, md, &len);
    EVP_MD_CTX_free(c);
    hex[0] = 0;
    for (unsigned i = 0; ok && i < len && i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

int gl_shard_pick_inputs(const gl_shard *s, const char *const *inputs, int n, long *ordinals,
                         char hex[65]) {
    gl_inputs_digest(inputs, n, hex);
    int kept = 0;
    for (int i = 0; i < n; i++)
        if (gl_shard_owns_input(s, inputs[i])) ordinals[kept++] = i;
    return kept;
}

/* Sets key to the JSON of v, which it frees; v NULL is out of memory. */
static gl_status set_cjson(gl_manifest *m, const char *key, cJSON *v, gl_error *err) {
    char *text = v ? cJSON_PrintUnformatted(v) : NULL;
    cJSON_Delete(v);
    gl_status st = text ? gl_manifest_set_json(m, key, text, err)
                        : gl_fail(err, GL_ERR_NOMEM, "manifest: out of memory");
    free(text);
    return st;
}

gl_status gl_manifest_set_shard(gl_manifest *m, const gl_shard *s, gl_error *err) {
    cJSON *o = cJSON_CreateObject();
    if (o && (!cJSON_AddNumberToObject(o, "index", s->index) ||
              !cJSON_AddNumberToObject(o, "count", s->count) ||
              !cJSON_AddStringToObject(o, "by", s->by == GL_SHARD_BY_TILE ? "tile" : "input"))) {
        cJSON_Delete(o);
        o = NULL;
    }
    return set_cjson(m, "shard", o, err);
}

gl_status gl_manifest_set_inputs(gl_manifest *m, const char *const *inputs, const long *ordinals,
                                 int n, long total, const char *digest, gl_error *err) {
    cJSON *o = cJSON_CreateObject(), *list = cJSON_CreateArray();
    int ok = o && list && cJSON_AddNumberToObject(o, "total", (double)total) &&
             (!digest || !*digest || cJSON_AddStringToObject(o, "sha256", digest));
    for (int i = 0; ok && i < n; i++) {
        cJSON *e = cJSON_CreateArray();
        ok = e && cJSON_AddItemToArray(list, e) &&
             cJSON_AddItemToArray(e, cJSON_CreateNumber((double)(ordinals ? ordinals[i] : i))) &&
             cJSON_AddItemToArray(e, cJSON_CreateString(inputs[i]));
    }
    if (ok && cJSON_AddItemToObject(o, "list", list)) list = NULL;
    cJSON_Delete(list);
    if (!ok) {
        cJSON_Delete(o);
        o = NULL;
    }
    return set_cjson(m, "inputs", o, err);
}

gl_status gl_shard_manifest_write(const char *output, const gl_shard_record *r, gl_error *err) {
    gl_manifest *m = gl_manifest_new(err);
    if (!m) return err->code;
    cJSON *opts = cJSON_CreateObject();
    for (int i = 0; opts && i < r->n_options; i++) {
        const char *eq = strchr(r->options[i], '=');
        char name[128];
        size_t k = eq ? (size_t)(eq - r->options[i]) : strlen(r->options[i]);
        snprintf(name, sizeof name, "%.*s", (int)(k < sizeof name ? k : sizeof name - 1),
                 r->options[i]);
        if (!cJSON_AddStringToObject(opts, name, eq ? eq + 1 : "")) {
            cJSON_Delete(opts);
            opts = NULL;
        }
    }
    gl_status st = gl_manifest_set(m, "version", GL_VERSION, err);
    if (!st) st = gl_manifest_set(m, "command", r->command, err);
    if (!st && r->model_hash) st = gl_manifest_set(m, "model_hash", r->model_hash, err);
    if (!st && r->compute_dtype) st = gl_manifest_set(m, "compute_dtype", r->compute_dtype, err);
    if (!st && r->head_sha256) st = gl_manifest_set(m, "head_sha256", r->head_sha256, err);
    if (!st)
        st = set_cjson(m, "options", opts, err);
    else
        cJSON_Delete(opts);
    if (!st && r->shard.count > 0) st = gl_manifest_set_shard(m, &r->shard, err);
    if (!st && r->inputs)
        st = gl_manifest_set_inputs(m, r->inputs, r->ordinals, r->n_inputs, r->total, r->digest,
                                    err);
    char *path = st ? NULL : gl_run_manifest_path(output);
    if (!st)
        st = path ? gl_manifest_write(m, path, err)
                  : gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", output);
    free(path);
    gl_manifest_free(m);
    return st;
}
