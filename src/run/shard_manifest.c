/* shard_manifest.c: the record a shard leaves beside its output (OUT.manifest.json) so that
 * `geolabel merge` can check that shards belong to one run and together cover all its inputs. */
#include "geolabel.h"
#include "run/run.h"

#include <stdlib.h>
#include <string.h>

gl_status gl_shard_manifest_write(const char *output, const gl_shard_record *r, gl_error *err) {
    cJSON *m = cJSON_CreateObject(), *opts = cJSON_CreateObject(), *sh = cJSON_CreateObject();
    cJSON *list = r->inputs ? cJSON_CreateArray() : NULL;
    int ok = m && opts && sh && (list || !r->inputs);
    cJSON_AddStringToObject(m, "command", r->command);
    for (int i = 0; ok && i < r->n_options; i++) {
        const char *eq = strchr(r->options[i], '=');
        char name[128];
        size_t k = eq ? (size_t)(eq - r->options[i]) : strlen(r->options[i]);
        snprintf(name, sizeof name, "%.*s", (int)(k < sizeof name ? k : sizeof name - 1),
                 r->options[i]);
        ok = cJSON_AddStringToObject(opts, name, eq ? eq + 1 : "") != NULL;
    }
    cJSON_AddItemToObject(m, "options", opts);
    cJSON_AddNumberToObject(sh, "index", r->shard.index);
    cJSON_AddNumberToObject(sh, "count", r->shard.count);
    cJSON_AddStringToObject(sh, "by", r->shard.by == GL_SHARD_BY_TILE ? "tile" : "input");
    cJSON_AddItemToObject(m, "shard", sh);
    if (list) {
        cJSON_AddNumberToObject(m, "inputs_total", (double)r->total);
        for (int i = 0; ok && i < r->n_inputs; i++) {
            cJSON *e = cJSON_CreateArray();
            ok = e && cJSON_AddItemToArray(e, cJSON_CreateNumber((double)r->ordinals[i])) &&
                 cJSON_AddItemToArray(e, cJSON_CreateString(r->inputs[i])) &&
                 cJSON_AddItemToArray(list, e);
        }
        cJSON_AddItemToObject(m, "inputs", list);
    }
    gl_status st = ok ? gl_run_manifest_save(output, m, err)
                      : gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", output);
    cJSON_Delete(m);
    return st;
}
