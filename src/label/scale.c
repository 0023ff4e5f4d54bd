/* scale.c: label's side of scale-out runs: STAC items as inputs, and the shard's share of the
 * inputs (with their places in the whole run and the whole list's digest, for the manifest). */
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
    int kept = gl_shard_pick_inputs(s, (const char *const *)l->paths, l->n, l->ordinal, l->digest);
    for (int i = 0, k = 0; i < l->n; i++) { /* the owned move down in order, the others go */
        if (k < kept && l->ordinal[k] == i) {
            l->paths[k] = l->paths[i];
            if (l->open) l->open[k] = l->open[i];
            k++;
            continue;
        }
        free(l->paths[i]);
        if (l->open) free(l->open[i]);
    }
    l->n = kept;
    return GL_OK;
}
