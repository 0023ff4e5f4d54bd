/* scale.c: label's side of scale-out runs: STAC items as inputs, the shard's share of the inputs
 * (with their places in the whole run), and the manifest `geolabel merge` checks. */
#include "label.h"

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
gl_status gl_label_shard_manifest(const gl_label_params *p, const gl_input_list *in,
                                  const char *output, gl_error *err) {
    const gl_tiling *t = &p->tiling;
    const gl_raster_params *r = &p->raster;
    char o[12][600];
    snprintf(o[0], sizeof o[0], "classes=%s", p->classes_path ? p->classes_path : "");
    snprintf(o[1], sizeof o[1], "mode=%d", (int)p->mode);
    snprintf(o[2], sizeof o[2], "context=%s", p->context ? p->context : "");
    snprintf(o[3], sizeof o[3], "templates=%s", p->templates_path ? p->templates_path : "");
    snprintf(o[4], sizeof o[4], "tiling=%d %d %d %d %d %d", t->mode, t->rows, t->cols, t->tile,
             t->overlap, t->drop_remainder);
    snprintf(o[5], sizeof o[5], "bands=%d,%d,%d", r->bands[0], r->bands[1], r->bands[2]);
    snprintf(o[6], sizeof o[6], "stretch=%d %g %g", (int)r->stretch, r->percentile_low,
             r->percentile_high);
    snprintf(o[7], sizeof o[7], "tta=%u", p->tta);
    snprintf(o[8], sizeof o[8], "stac_assets=%s",
             p->stac ? (p->stac_assets ? p->stac_assets : "visual") : "");
    snprintf(o[9], sizeof o[9], "template=%s", p->template_text ? p->template_text : "");
    /* The LLM pipeline's choices (never a key or a server address: those stay in the client). */
    const gl_label_llm *l = &p->llm;
    snprintf(o[10], sizeof o[10], "llm=%d %s|%s|%s|%d %d %d %d %d %d|%g %g|%s", (int)l->type,
             l->vlm_model ? l->vlm_model : "", l->llm_model ? l->llm_model : "",
             l->prompt ? l->prompt : "", l->include_filename, l->include_classes, l->apply_template,
             l->vlm_size, l->vlm_max_tokens, l->llm_max_tokens, l->vlm_temperature,
             l->llm_temperature, l->descriptions_path ? l->descriptions_path : "");
    const char *opts[11];
    for (int i = 0; i < 11; i++)
        opts[i] = o[i];
    gl_shard_record rec = {.command = "label",
                           .options = opts,
                           .n_options = 11,
                           .shard = p->shard,
                           .inputs = (const char *const *)in->paths,
                           .ordinals = in->ordinal,
                           .n_inputs = in->n,
                           .total = in->total};
    return gl_shard_manifest_write(output, &rec, err);
}
