/* resume.c: --resume's plan: which inputs an existing output already holds in full (exactly the
 * tiles this run would cut, each once); and the manifest a run's output is checked against. */
#include "label.h"

#include <stdlib.h>
#include <string.h>

static int cmp_done(const void *a, const void *b) {
    const gl_label_done *x = a, *y = b;
    int c = strcmp(x->input, y->input);
    if (c) return c;
    return x->row != y->row ? (x->row > y->row) - (x->row < y->row)
                            : (x->col > y->col) - (x->col < y->col);
}

/* Complete: exactly the tiles this run would make, each once, with the same pixel windows. d holds
 * the input's n rows of the existing output, sorted by (row, col). */
static int input_complete(const gl_label_params *p, const char *path, const char *open,
                          const gl_label_done *d, int n) {
    gl_error e = {0};
    gl_raster *r = gl_raster_open(open, &p->raster, &e);
    if (!r) return 0;
    int w, h, count, k = 0;
    gl_label_cut_size(&p->tiling, gl_raster_get_info(r), &w, &h);
    int ok = gl_tiling_count(&p->tiling, w, h, &count, &e) == GL_OK;
    for (int i = 0; ok && i < count; i++) {
        gl_tile t;
        gl_tiling_get(&p->tiling, w, h, i, &t);
        if (!gl_shard_owns_tile(&p->shard, path, t.row, t.col)) continue; /* another shard's */
        ok = k < n && d[k].row == t.row && d[k].col == t.col && d[k].left == t.x &&
             d[k].right == t.x + t.w && d[k].lower == t.y && d[k].upper == t.y + t.h;
        k++;
    }
    gl_raster_free(r);
    return ok && k == n;
}

gl_status gl_resume_plan(const gl_label_params *p, const char *output, const gl_input_list *in,
                         char *done, gl_error *err) {
    gl_label_done *rows;
    int n;
    gl_status st = gl_label_done_load(output, &rows, &n, err);
    if (st) return st;
    if (n) qsort(rows, (size_t)n, sizeof *rows, cmp_done);
    for (int i = 0; i < in->n; i++) {
        const char *name = in->paths[i];
        int lo = 0;
        while (lo < n && strcmp(rows[lo].input, name) < 0)
            lo++;
        int hi = lo;
        while (hi < n && !strcmp(rows[hi].input, name))
            hi++;
        int seen = 0; /* an input given twice is labelled again the second time */
        for (int k = 0; k < i && !seen; k++)
            seen = !strcmp(in->paths[k], name);
        done[i] = !seen && hi > lo &&
                  input_complete(p, in->paths[i], gl_input_open_path(in, i), rows + lo, hi - lo);
    }
    gl_label_done_free(rows, n);
    return st;
}

/* ---------------------------------------------------------------- the run's manifest */

/* "Water(sea;lake);Land(fields)": the tree in its order, which the labels depend on. */
static void tree_text(const gl_class_node *n, char **buf, size_t *len, size_t *cap) {
    for (int i = 0; *buf && i < n->n_children; i++) {
        const gl_class_node *c = &n->children[i];
        size_t need = *len + strlen(c->name) + 4;
        if (need > *cap) {
            char *g = realloc(*buf, need * 2);
            if (!g) {
                free(*buf);
                *buf = NULL;
                return;
            }
            *buf = g, *cap = need * 2;
        }
        *len += (size_t)sprintf(*buf + *len, "%s%s", i ? ";" : "", c->name);
        if (!c->n_children) continue;
        (*buf)[(*len)++] = '(';
        tree_text(c, buf, len, cap);
        if (!*buf) return;
        (*buf)[(*len)++] = ')';
        (*buf)[*len] = 0;
    }
}

static char *join_lines(char **lines, int n) {
    size_t len = 1;
    for (int i = 0; i < n; i++)
        len += strlen(lines[i]) + 1;
    char *s = malloc(len), *o = s;
    for (int i = 0; s && i < n; i++)
        o += sprintf(o, "%s%s", i ? "\n" : "", lines[i]);
    if (s) *o = 0;
    return s;
}

void gl_label_run_text(const gl_label_params *p, gl_run_text *rt) {
    const gl_tiling *t = &p->tiling;
    if (t->mode == GL_TILING_SPLIT)
        snprintf(rt->tiling, sizeof rt->tiling, "split %dx%d %s", t->rows, t->cols,
                 t->drop_remainder ? "drop" : "cover");
    else
        snprintf(rt->tiling, sizeof rt->tiling, "tile %d overlap %d", t->tile, t->overlap);
    const int *b = p->raster.bands;
    snprintf(rt->bands, sizeof rt->bands, "auto");
    if (b[0] || b[1] || b[2]) snprintf(rt->bands, sizeof rt->bands, "%d,%d,%d", b[0], b[1], b[2]);
    snprintf(rt->stretch, sizeof rt->stretch, "minmax");
    if (p->raster.stretch == GL_STRETCH_NONE)
        snprintf(rt->stretch, sizeof rt->stretch, "none");
    else if (p->raster.stretch == GL_STRETCH_PERCENTILE)
        snprintf(rt->stretch, sizeof rt->stretch, "percentile:%g,%g", p->raster.percentile_low,
                 p->raster.percentile_high);
    snprintf(rt->tta, sizeof rt->tta, "%u", p->tta);
}

gl_status gl_label_tiling_parse(const char *text, gl_tiling *t) {
    char rem[8] = "";
    memset(t, 0, sizeof *t);
    if (text && sscanf(text, "split %dx%d %7s", &t->rows, &t->cols, rem) == 3 &&
        (!strcmp(rem, "drop") || !strcmp(rem, "cover"))) {
        t->mode = GL_TILING_SPLIT;
        t->drop_remainder = !strcmp(rem, "drop");
        return GL_OK;
    }
    if (text && sscanf(text, "tile %d overlap %d", &t->tile, &t->overlap) == 2) {
        t->mode = GL_TILING_WINDOW;
        return GL_OK;
    }
    return GL_ERR_FORMAT;
}

gl_manifest *gl_label_manifest(gl_clip *clip, const gl_label_params *p, gl_error *err) {
    int hier;
    gl_class_node *tree = gl_label_classes_load(p, &hier, err);
    if (!tree) return NULL;
    char **tmpl = NULL, *classes = NULL, *templates = NULL;
    int n_tmpl = 0;
    size_t len = 0, cap = 64;
    gl_status st =
        p->templates_path ? gl_zs_templates_read(p->templates_path, &tmpl, &n_tmpl, err) : GL_OK;
    if (!st && (classes = calloc(cap, 1))) tree_text(tree, &classes, &len, &cap);
    if (!st)
        templates = p->templates_path ? join_lines(tmpl, n_tmpl)
                                      : strdup(p->template_text ? p->template_text : "");
    if (!st && (!classes || !templates)) st = gl_fail(err, GL_ERR_NOMEM, "manifest: out of memory");
    gl_run_text rt;
    gl_label_run_text(p, &rt);
    /* The LLM pipeline's choices (never a key or a server address: those stay in the client). */
    const gl_label_llm *l = &p->llm;
    char llm[2048];
    snprintf(llm, sizeof llm, "%d %s|%s|%s|%d %d %d %d %d %d|%g %g|%s", (int)l->type,
             l->vlm_model ? l->vlm_model : "", l->llm_model ? l->llm_model : "",
             l->prompt ? l->prompt : "", l->include_filename, l->include_classes, l->apply_template,
             l->vlm_size, l->vlm_max_tokens, l->llm_max_tokens, l->vlm_temperature,
             l->llm_temperature, l->descriptions_path ? l->descriptions_path : "");
    gl_manifest *m = st ? NULL : gl_manifest_new(err);
    const char *kv[][2] = {
        {"version", GL_VERSION},
        {"model", p->model_name ? p->model_name : ""},
        {"model_hash", gl_clip_model_hash(clip)},
        {"compute_dtype", gl_dtype_name(gl_clip_dtype(clip, 1))}, /* --dtype */
        {"classes", classes},
        {"mode", hier ? "hierarchical" : "flat"},
        {"context", p->context ? p->context : ""},
        {"templates", templates},
        {"tiling", rt.tiling},
        {"bands", rt.bands},
        {"stretch", rt.stretch},
        {"tta", rt.tta},
        {"stac_assets", p->stac ? (p->stac_assets ? p->stac_assets : "visual") : ""},
        {"llm", llm},
        {"command", "label"}};
    for (size_t i = 0; m && i < sizeof kv / sizeof kv[0]; i++)
        if (gl_manifest_set(m, kv[i][0], kv[i][1], err)) {
            gl_manifest_free(m);
            m = NULL;
        }
    /* A shard resumes only as itself; its inputs are added when its output is published. */
    if (m && p->shard.count > 0 && gl_manifest_set_shard(m, &p->shard, err)) {
        gl_manifest_free(m);
        m = NULL;
    }
    /* Only when asked for: outputs made before --crs existed resume as they were. */
    if (m && (p->crs || p->layer_per_crs) &&
        gl_manifest_set(m, "crs", p->crs ? p->crs : "a layer per CRS", err)) {
        gl_manifest_free(m);
        m = NULL;
    }
    gl_strings_free(tmpl, n_tmpl);
    free(classes);
    free(templates);
    gl_class_tree_free(tree);
    return m;
}
