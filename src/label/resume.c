/* resume.c: --resume's plan: which inputs an existing output already holds in full (exactly the
 * tiles this run would cut, each once) and which must be labelled again. */
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
                         char *done, const char **redo, int *n_redo, gl_error *err) {
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
        if (!done[i]) redo[(*n_redo)++] = name;
    }
    gl_label_done_free(rows, n);
    return st;
}
