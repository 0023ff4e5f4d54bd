/* scale.c: label's side of scale-out runs: STAC items as inputs, the shard's share of the inputs
 * (with their places in the whole run), and the manifest `geolabel merge` checks. */
#include "label.h"

#include "run/run.h"
#include <stdlib.h>
#include <string.h>

const char *gl_input_open_path(const gl_input_list *l, int i) {
    return l->open && l->open[i] ? l->open[i] : l->paths[i];
}

/* Room for one more input in paths and open alike. */
static gl_status reserve(gl_input_list *l, gl_error *err) {
    if (l->n < l->cap && l->open) return GL_OK;
    int c = l->n < l->cap ? l->cap : (l->cap ? l->cap * 2 : 32);
    char **p = realloc(l->paths, (size_t)c * sizeof *p);
    if (p) l->paths = p;
    char **o = p ? realloc(l->open, (size_t)c * sizeof *o) : NULL;
    if (!o) return gl_fail(err, GL_ERR_NOMEM, "inputs: out of memory");
    if (!l->open)
        memset(o, 0, (size_t)c * sizeof *o);
    else if (c > l->cap)
        memset(o + l->cap, 0, (size_t)(c - l->cap) * sizeof *o);
    l->open = o;
    l->cap = c;
    return GL_OK;
}

gl_status gl_inputs_add_stac(gl_input_list *l, const char *src, const char *assets, gl_error *err) {
    gl_stac_scene *sc;
    int n;
    gl_status st = gl_stac_read(src, assets ? assets : "visual", &sc, &n, err);
    for (int i = 0; !st && i < n; i++) {
        if ((st = reserve(l, err))) break;
        l->paths[l->n] = sc[i].id; /* the list takes both strings */
        l->open[l->n] = sc[i].path;
        sc[i].id = sc[i].path = NULL;
        l->n++;
    }
    gl_stac_scenes_free(sc, n);
    return st;
}

gl_status gl_inputs_shard(gl_input_list *l, const gl_shard *s, gl_error *err) {
    l->total = l->n;
    free(l->ordinal);
    if (!(l->ordinal = malloc(((size_t)l->n + 1) * sizeof *l->ordinal)))
        return gl_fail(err, GL_ERR_NOMEM, "inputs: out of memory");
    int kept = 0;
    for (int i = 0; i < l->n; i++) {
        if (!gl_shard_owns_input(s, l->paths[i])) {
            free(l->paths[i]);
            if (l->open) free(l->open[i]);
            continue;
        }
        l->paths[kept] = l->paths[i];
        if (l->open) l->open[kept] = l->open[i];
        l->ordinal[kept++] = i;
    }
    l->n = kept;
    return GL_OK;
}

char *gl_run_manifest_path(const char *output) {
    size_t n = strlen(output) + 16;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s.manifest.json", output);
    return p;
}

/* Until the run manifest proper exists, the options that decide a row's label. */
static cJSON *options_of(const gl_label_params *p) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "classes_path", p->classes_path ? p->classes_path : "");
    cJSON_AddNumberToObject(o, "mode", p->mode);
    cJSON_AddStringToObject(o, "context", p->context ? p->context : "");
    cJSON_AddStringToObject(o, "templates", p->templates_path ? p->templates_path : "");
    const gl_tiling *t = &p->tiling;
    int tiling[] = {t->mode, t->rows, t->cols, t->tile, t->overlap, t->drop_remainder};
    cJSON_AddItemToObject(o, "tiling", cJSON_CreateIntArray(tiling, 6));
    const gl_raster_params *r = &p->raster;
    cJSON_AddItemToObject(o, "bands", cJSON_CreateIntArray(r->bands, 3));
    cJSON_AddNumberToObject(o, "stretch", r->stretch);
    cJSON_AddNumberToObject(o, "percentile_low", r->percentile_low);
    cJSON_AddNumberToObject(o, "percentile_high", r->percentile_high);
    cJSON_AddNumberToObject(o, "tta", p->tta);
    cJSON_AddStringToObject(o, "stac_assets",
                            p->stac ? (p->stac_assets ? p->stac_assets : "visual") : "");
    /* The LLM pipeline's choices (never a key or a server address: those stay in the client). */
    const gl_label_llm *l = &p->llm;
    cJSON_AddNumberToObject(o, "classifier", l->type);
    if (l->type != GL_CLASSIFIER_CLIP) {
        cJSON_AddStringToObject(o, "vlm_model", l->vlm_model ? l->vlm_model : "");
        cJSON_AddStringToObject(o, "llm_model", l->llm_model ? l->llm_model : "");
        cJSON_AddStringToObject(o, "prompt", l->prompt ? l->prompt : "");
        int flags[] = {l->include_filename, l->include_classes, l->apply_template,
                       l->vlm_size,         l->vlm_max_tokens,  l->llm_max_tokens};
        cJSON_AddItemToObject(o, "llm_flags", cJSON_CreateIntArray(flags, 6));
        double temps[] = {l->vlm_temperature, l->llm_temperature};
        cJSON_AddItemToObject(o, "llm_temperatures", cJSON_CreateDoubleArray(temps, 2));
        cJSON_AddStringToObject(o, "descriptions",
                                l->descriptions_path ? l->descriptions_path : "");
    }
    return o;
}

gl_status gl_label_shard_manifest(const gl_label_params *p, const gl_input_list *in,
                                  const char *output, gl_error *err) {
    cJSON *m = cJSON_CreateObject(), *sh = cJSON_CreateObject(), *list = cJSON_CreateArray();
    if (m && sh && list) {
        cJSON_AddStringToObject(m, "command", "label");
        cJSON_AddItemToObject(m, "options", options_of(p));
        cJSON_AddNumberToObject(sh, "index", p->shard.index);
        cJSON_AddNumberToObject(sh, "count", p->shard.count);
        cJSON_AddStringToObject(sh, "by", p->shard.by == GL_SHARD_BY_TILE ? "tile" : "input");
        cJSON_AddItemToObject(m, "shard", sh);
        sh = NULL;
        cJSON_AddNumberToObject(m, "inputs_total", (double)in->total);
        for (int i = 0; i < in->n; i++) {
            cJSON *e = cJSON_CreateArray();
            cJSON_AddItemToArray(e, cJSON_CreateNumber((double)in->ordinal[i]));
            cJSON_AddItemToArray(e, cJSON_CreateString(in->paths[i]));
            cJSON_AddItemToArray(list, e);
        }
        cJSON_AddItemToObject(m, "inputs", list);
        list = NULL;
    }
    gl_status st = m ? gl_run_manifest_save(output, m, err)
                     : gl_fail(err, GL_ERR_NOMEM, "label: out of memory");
    cJSON_Delete(sh);
    cJSON_Delete(list);
    cJSON_Delete(m);
    return st;
}
