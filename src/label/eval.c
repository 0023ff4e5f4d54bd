/* eval.c: label tables (predictions against truth; CSV, GeoJSON or GPKG) matched by input and
 * tile, grids and bounds checked: accuracy, per-class precision/recall/F1, macro-F1, Cohen's
 * kappa, the confusion matrix and per-level accuracy, in memory bounded by rows and labels. */
#include "core/hashmap.h"
#include "label/rows.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Rows beyond this are a corrupt or hostile file, not a tile list. */
#define MAX_EVAL_ROWS 50000000L

typedef struct {
    char *input;     /* the `input` column, or NULL */
    char *base;      /* base name of filename (or of input) */
    const char *key; /* input or base: what matches across the two files */
    int row, col;
    int bounds[4]; /* left, upper, right, lower */
    int label;     /* id in the label table */
    char *tree;    /* classification_tree, may be "" */
    long line;
} eval_row;

typedef struct {
    const char *path;
    eval_row *rows;
    long n, cap;
    int has_input, has_bounds;
    const char *where; /* "line" or "feature" */
} eval_table;

/* Every distinct label of both files, interned: rows hold ids, so memory grows with the labels
 * (at most max) and not with label text per row. */
typedef struct {
    gl_strmap map;
    char **names;
    int n, max;
} label_table;

static void table_free(eval_table *t) {
    for (long i = 0; i < t->n; i++)
        free(t->rows[i].input), free(t->rows[i].base), free(t->rows[i].tree);
    free(t->rows);
}

static void labels_free(label_table *l) {
    gl_strmap_free(&l->map);
    if (l->names) gl_strings_free(l->names, l->n);
}

static int label_id(label_table *l, const char *s, const char *path, gl_error *err) {
    int32_t id;
    size_t len = strlen(s);
    if (gl_strmap_get(&l->map, s, len, &id)) return id;
    if (l->n >= l->max) {
        gl_fail(err, GL_ERR_LIMIT,
                "%s: more than %d distinct labels in the two files (eval --max-labels N allows "
                "more; memory grows with its square)",
                path, l->max);
        return -1;
    }
    if (!(l->names[l->n] = strdup(s)) || !gl_strmap_put(&l->map, s, len, l->n)) {
        gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
        return -1;
    }
    return l->n++;
}

static int parse_int(const char *s, int *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v > -2e9 && v < 2e9) || v != floor(v)) return 0;
    *out = (int)v;
    return 1;
}

typedef struct {
    int input, filename, row, col, label, tree, bounds[4];
} eval_cols;

static gl_status table_push(eval_table *t, label_rows *r, const eval_cols *c, label_table *labels,
                            gl_error *err) {
    char where[64];
    if (t->n == t->cap) {
        long cap = t->cap ? t->cap * 2 : 256;
        eval_row *grown =
            cap <= MAX_EVAL_ROWS ? realloc(t->rows, (size_t)cap * sizeof *grown) : NULL;
        if (!grown) return gl_fail(err, GL_ERR_LIMIT, "%s: too many rows", t->path);
        t->rows = grown;
        t->cap = cap;
    }
    eval_row *e = &t->rows[t->n];
    memset(e, 0, sizeof *e);
    e->line = label_rows_index(r);
    if (!parse_int(label_rows_field(r, c->row), &e->row) ||
        !parse_int(label_rows_field(r, c->col), &e->col) || e->row < 0 || e->col < 0)
        return gl_fail(err, GL_ERR_FORMAT, "%s: %s: row '%s' or col '%s' is not a tile position",
                       t->path, label_rows_where(r, where, sizeof where),
                       label_rows_field(r, c->row), label_rows_field(r, c->col));
    for (int k = 0; k < 4 && t->has_bounds; k++)
        if (!parse_int(label_rows_field(r, c->bounds[k]), &e->bounds[k]))
            return gl_fail(err, GL_ERR_FORMAT, "%s: %s: tile bounds are not whole numbers", t->path,
                           label_rows_where(r, where, sizeof where));
    const char *name = label_rows_field(r, c->filename >= 0 ? c->filename : c->input);
    e->input = c->input >= 0 ? strdup(label_rows_field(r, c->input)) : NULL;
    e->base = strdup(gl_path_base_name(name));
    e->tree = strdup(c->tree >= 0 ? label_rows_field(r, c->tree) : "");
    t->n++;
    if ((c->input >= 0 && !e->input) || !e->base || !e->tree)
        return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", t->path);
    e->label = label_id(labels, label_rows_field(r, c->label), t->path, err);
    return e->label < 0 ? err->code : GL_OK;
}

/* The label column: the one asked for, else classification, else label (truth files say so). */
static gl_status find_label_column(label_rows *r, const char *asked, int *col, gl_error *err) {
    const char *path = label_rows_path(r);
    if (asked) {
        if ((*col = label_rows_column(r, asked)) < 0)
            return gl_fail(err, GL_ERR_FORMAT, "%s: no '%s' column", path, asked);
        return GL_OK;
    }
    if ((*col = label_rows_column(r, "classification")) < 0 &&
        (*col = label_rows_column(r, "label")) < 0)
        return gl_fail(err, GL_ERR_FORMAT,
                       "%s: no 'classification' (or 'label') column; name it with "
                       "--truth-column/--pred-column",
                       path);
    return GL_OK;
}

static gl_status table_read(const char *path, const char *label_column, eval_table *t,
                            label_table *labels, gl_error *err) {
    memset(t, 0, sizeof *t);
    t->path = path;
    label_rows *r = label_rows_open(path, err);
    if (!r) return err->code;
    eval_cols c;
    c.input = label_rows_column(r, "input");
    c.filename = label_rows_column(r, "filename");
    c.row = label_rows_column(r, "row");
    c.col = label_rows_column(r, "col");
    c.tree = label_rows_column(r, "classification_tree");
    static const char *const bounds[4] = {"left", "upper", "right", "lower"};
    t->has_bounds = 1;
    for (int k = 0; k < 4; k++)
        t->has_bounds &= (c.bounds[k] = label_rows_column(r, bounds[k])) >= 0;
    t->has_input = c.input >= 0;
    gl_status st = GL_OK;
    if (c.filename < 0 && c.input < 0)
        st = gl_fail(err, GL_ERR_FORMAT, "%s: no 'filename' (or 'input') column", path);
    else if (c.row < 0 || c.col < 0)
        st = gl_fail(err, GL_ERR_FORMAT, "%s: no '%s' column", path, c.row < 0 ? "row" : "col");
    if (!st) st = find_label_column(r, label_column, &c.label, err);
    int k = 0;
    while (!st && (k = label_rows_next(r, err)) == 1)
        st = table_push(t, r, &c, labels, err);
    if (!st && k < 0) st = err->code;
    char where[64];
    t->where = strncmp(label_rows_where(r, where, sizeof where), "line", 4) ? "features" : "lines";
    label_rows_free(r);
    return st; /* the caller frees t, read or not */
}

static int cmp_key_pos(const void *a, const void *b) {
    const eval_row *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c) return c;
    if (x->row != y->row) return x->row < y->row ? -1 : 1;
    return x->col < y->col ? -1 : x->col > y->col;
}

/* Keys rows by input path or base name, sorts them, and refuses a tile labelled twice. */
static gl_status table_key(eval_table *t, int by_input, gl_error *err) {
    for (long i = 0; i < t->n; i++)
        t->rows[i].key = by_input ? t->rows[i].input : t->rows[i].base;
    if (t->n > 1) /* a header-only file has no row array: qsort(NULL, 0) is undefined */
        qsort(t->rows, (size_t)t->n, sizeof *t->rows, cmp_key_pos);
    for (long i = 1; i < t->n; i++) {
        const eval_row *a = &t->rows[i - 1], *b = &t->rows[i];
        if (cmp_key_pos(a, b)) continue;
        long l0 = a->line < b->line ? a->line : b->line, l1 = a->line < b->line ? b->line : a->line;
        return gl_fail(err, GL_ERR_FORMAT,
                       "%s: %s %ld and %ld label the same tile (%s, row %d, col %d)%s", t->path,
                       t->where, l0, l1, a->key, a->row, a->col,
                       by_input ? "" : "; inputs that share a base name need an input column");
    }
    return GL_OK;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Whether the two files have an input column and share at least one input path. */
static int share_an_input(const eval_table *a, const eval_table *b) {
    if (!a->has_input || !b->has_input || !a->n || !b->n) return 0;
    const char **in = malloc((size_t)a->n * sizeof *in);
    if (!in) return 0;
    for (long i = 0; i < a->n; i++)
        in[i] = a->rows[i].input;
    qsort(in, (size_t)a->n, sizeof *in, cmp_str);
    int found = 0;
    for (long i = 0; i < b->n && !found; i++)
        found = bsearch(&b->rows[i].input, in, (size_t)a->n, sizeof *in, cmp_str) != NULL;
    free(in);
    return found;
}

/* One input's rows in a sorted table: [at, end), and the grid they span. */
typedef struct {
    long at, end;
    int rows, cols;
} group;

static group group_at(const eval_table *t, long at) {
    group g = {at, at, 0, 0};
    while (g.end < t->n && !strcmp(t->rows[g.end].key, t->rows[at].key)) {
        const eval_row *r = &t->rows[g.end++];
        if (r->row + 1 > g.rows) g.rows = r->row + 1;
        if (r->col + 1 > g.cols) g.cols = r->col + 1;
    }
    return g;
}

static gl_status grid_refusal(const eval_table *pred, const eval_table *truth, const char *key,
                              group gp, group gt, gl_error *err) {
    return gl_fail(err, GL_ERR_SHAPE,
                   "eval: %s cuts %s into %dx%d tiles but %s into %dx%d: make both with the same "
                   "--split (or --tile)",
                   pred->path, key, gp.rows, gp.cols, truth->path, gt.rows, gt.cols);
}

/* Pairs the tiles of one input present in both files; checks grids and bounds. */
static gl_status match_group(const eval_table *pred, const eval_table *truth, group gp, group gt,
                             const eval_row **pairs, long *n, long *unmatched, gl_error *err) {
    int same_grid = gp.rows == gt.rows && gp.cols == gt.cols;
    int bounds = pred->has_bounds && truth->has_bounds;
    const char *key = truth->rows[gt.at].key;
    if (!same_grid && !bounds) return grid_refusal(pred, truth, key, gp, gt, err);
    long i = gt.at, j = gp.at, missing = 0;
    while (i < gt.end) {
        int c = j < gp.end ? cmp_key_pos(&truth->rows[i], &pred->rows[j]) : -1;
        if (c > 0) {
            j++;
            continue;
        }
        if (c < 0) {
            missing++, i++;
            continue;
        }
        const eval_row *t = &truth->rows[i++], *p = &pred->rows[j++];
        if (bounds && memcmp(t->bounds, p->bounds, sizeof t->bounds)) {
            if (!same_grid) return grid_refusal(pred, truth, key, gp, gt, err);
            return gl_fail(err, GL_ERR_SHAPE,
                           "eval: tile row %d col %d of %s spans x %d..%d, y %d..%d in %s but x "
                           "%d..%d, y %d..%d in %s: make both with the same tiling (--remainder)",
                           t->row, t->col, key, p->bounds[0], p->bounds[2], p->bounds[3],
                           p->bounds[1], pred->path, t->bounds[0], t->bounds[2], t->bounds[3],
                           t->bounds[1], truth->path);
        }
        pairs[2 * *n] = t, pairs[2 * *n + 1] = p, (*n)++;
    }
    /* Different grids pass only as a subset of reviewed tiles: every truth tile found. */
    if (!same_grid && missing) return grid_refusal(pred, truth, key, gp, gt, err);
    *unmatched += missing;
    return GL_OK;
}

/* Pairs truth/prediction rows of the same tile: pairs[2i] truth, pairs[2i+1] prediction. */
static gl_status match_rows(const eval_table *truth, const eval_table *pred, const eval_row **pairs,
                            long *n, long *unmatched, gl_error *err) {
    *n = *unmatched = 0;
    long i = 0, j = 0;
    while (i < truth->n) {
        group gt = group_at(truth, i);
        int c = 1;
        while (j < pred->n && (c = strcmp(truth->rows[i].key, pred->rows[j].key)) > 0)
            j = group_at(pred, j).end;
        if (j < pred->n && c == 0) {
            group gp = group_at(pred, j);
            gl_status st = match_group(pred, truth, gp, gt, pairs, n, unmatched, err);
            if (st) return st;
            j = gp.end;
        } else {
            *unmatched += gt.end - gt.at; /* an input the predictions lack */
        }
        i = gt.end;
    }
    return GL_OK;
}

/* The matched rows' labels, sorted, as the classes; remap[label id] = class index. */
static gl_status make_classes(const eval_row *const *pairs, long n, const label_table *labels,
                              gl_label_eval *e, int *remap, gl_error *err) {
    for (int k = 0; k < labels->n; k++)
        remap[k] = -1;
    for (long i = 0; i < 2 * n; i++)
        remap[pairs[i]->label] = 0;
    int K = 0;
    for (int k = 0; k < labels->n; k++)
        K += remap[k] == 0;
    e->classes = calloc((size_t)K + 1, sizeof *e->classes);
    if (!e->classes) return gl_fail(err, GL_ERR_NOMEM, "eval: out of memory");
    for (int k = 0, at = 0; k < labels->n; k++)
        if (remap[k] == 0 && !(e->classes[at++] = strdup(labels->names[k])))
            return e->n_classes = at - 1, gl_fail(err, GL_ERR_NOMEM, "eval: out of memory");
    e->n_classes = K;
    qsort(e->classes, (size_t)K, sizeof *e->classes, cmp_str);
    for (int k = 0; k < labels->n; k++)
        if (remap[k] == 0) {
            const char *name = labels->names[k];
            const char **hit = bsearch(&name, e->classes, (size_t)K, sizeof *e->classes, cmp_str);
            remap[k] = (int)(hit - (const char **)e->classes);
        }
    return GL_OK;
}

static void compute_scores(gl_label_eval *e) {
    int K = e->n_classes;
    long n = e->n_matched, diag = 0;
    double pe = 0, f1_sum = 0;
    for (int c = 0; c < K; c++) {
        long tp = e->confusion[(size_t)c * K + c], row = 0, column = 0;
        for (int j = 0; j < K; j++)
            row += e->confusion[(size_t)c * K + j], column += e->confusion[(size_t)j * K + c];
        diag += tp;
        e->support[c] = row;
        e->precision[c] = column ? (double)tp / column : 0;
        e->recall[c] = row ? (double)tp / row : 0;
        double pr = e->precision[c] + e->recall[c];
        e->f1[c] = pr > 0 ? 2 * e->precision[c] * e->recall[c] / pr : 0;
        f1_sum += e->f1[c];
        if (n) pe += ((double)row / n) * ((double)column / n);
    }
    e->accuracy = n ? (double)diag / n : NAN;
    e->macro_f1 = K ? f1_sum / K : NAN;
    double po = e->accuracy;
    e->kappa = n && pe < 1 ? (po - pe) / (1 - pe) : NAN;
}

/* The i-th ';'-separated part of s into out; 0 when s has fewer parts. */
static int tree_part(const char *s, int i, char *out, size_t cap) {
    for (; i > 0; i--) {
        s = strchr(s, ';');
        if (!s) return 0;
        s++;
    }
    size_t len = strcspn(s, ";");
    if (len >= cap) len = cap - 1;
    memcpy(out, s, len);
    out[len] = 0;
    return 1;
}

static int tree_depth(const char *s) {
    if (!*s) return 0;
    int d = 1;
    for (; *s; s++)
        d += *s == ';';
    return d;
}

#define MAX_LEVELS 32
/* Levels compare rows whose trees both have two or more levels: a flat row's single label is a
 * leaf, and comparing it with the other side's top meta-class would mix levels. */
static void level_scores(const eval_row *const *pairs, long n, gl_label_eval *e) {
    int levels = 0;
    for (long i = 0; i < n; i++) {
        int dt = tree_depth(pairs[2 * i]->tree), dp = tree_depth(pairs[2 * i + 1]->tree);
        int d = dt > dp ? dt : dp;
        if (dt >= 2 && dp >= 2 && d > levels) levels = d < MAX_LEVELS ? d : MAX_LEVELS;
    }
    if (levels < 2) return;
    e->level_accuracy = calloc((size_t)levels, sizeof *e->level_accuracy);
    e->level_n = calloc((size_t)levels, sizeof *e->level_n);
    if (!e->level_accuracy || !e->level_n) return; /* levels are an extra; the rest still holds */
    e->n_levels = levels;
    char a[512], b[512];
    for (int l = 0; l < levels; l++) {
        long hit = 0, seen = 0;
        for (long i = 0; i < n; i++) {
            const char *t = pairs[2 * i]->tree, *p = pairs[2 * i + 1]->tree;
            if (tree_depth(t) < 2 || tree_depth(p) < 2 || !tree_part(t, l, a, sizeof a) ||
                !tree_part(p, l, b, sizeof b))
                continue;
            seen++;
            hit += !strcmp(a, b);
        }
        e->level_n[l] = seen;
        e->level_accuracy[l] = seen ? (double)hit / seen : NAN;
    }
}

/* Writes the ';'-joined path from the top level to the leaf named label; 0 when absent. */
static int path_of(const gl_class_node *n, const char *label, char *out, size_t cap, size_t used) {
    for (int i = 0; i < n->n_children; i++) {
        const gl_class_node *c = &n->children[i];
        int k = snprintf(out + used, cap - used, "%s%s", used ? ";" : "", c->name);
        if (k < 0 || (size_t)k >= cap - used) continue;
        if (c->n_children ? path_of(c, label, out, cap, used + (size_t)k) : !strcmp(c->name, label))
            return 1;
        out[used] = 0;
    }
    return 0;
}

/* Rows without a tree of their own get their label's path in the hierarchy. */
static gl_status trees_from_hierarchy(eval_table *t, const gl_class_node *h,
                                      const label_table *labels, gl_error *err) {
    char path[4096];
    for (long i = 0; i < t->n; i++) {
        if (tree_depth(t->rows[i].tree) >= 2) continue;
        path[0] = 0;
        if (!path_of(h, labels->names[t->rows[i].label], path, sizeof path, 0)) continue;
        char *copy = strdup(path);
        if (!copy) return gl_fail(err, GL_ERR_NOMEM, "eval: out of memory");
        free(t->rows[i].tree);
        t->rows[i].tree = copy;
    }
    return GL_OK;
}

static gl_status alloc_metrics(gl_label_eval *e, gl_error *err) {
    size_t K = (size_t)e->n_classes;
    e->confusion = calloc(K * K + 1, sizeof *e->confusion);
    e->precision = calloc(K + 1, sizeof *e->precision);
    e->recall = calloc(K + 1, sizeof *e->recall);
    e->f1 = calloc(K + 1, sizeof *e->f1);
    e->support = calloc(K + 1, sizeof *e->support);
    if (!e->confusion || !e->precision || !e->recall || !e->f1 || !e->support)
        return gl_fail(err, GL_ERR_NOMEM, "eval: out of memory for %zu classes", K);
    return GL_OK;
}

gl_label_eval_params gl_label_eval_default_params(void) {
    return (gl_label_eval_params){.truth_column = NULL,
                                  .pred_column = NULL,
                                  .max_labels = GL_EVAL_MAX_LABELS,
                                  .hierarchy = NULL};
}

gl_label_eval *gl_label_eval_files(const char *pred_path, const char *truth_path,
                                   const gl_label_eval_params *params, gl_error *err) {
    gl_label_eval_params p = params ? *params : gl_label_eval_default_params();
    if (p.max_labels <= 0) p.max_labels = GL_EVAL_MAX_LABELS;
    if (p.max_labels > (1 << 20)) {
        gl_fail(err, GL_ERR_ARG, "eval: at most %d labels can be compared", 1 << 20);
        return NULL;
    }
    label_table labels = {.max = p.max_labels};
    eval_table pred = {0}, truth = {0};
    gl_label_eval *out = NULL;
    const eval_row **pairs = NULL;
    int *remap = NULL;
    labels.names = calloc((size_t)p.max_labels + 1, sizeof *labels.names);
    gl_status st = labels.names && gl_strmap_init(&labels.map, (size_t)p.max_labels + 1)
                       ? GL_OK
                       : gl_fail(err, GL_ERR_NOMEM, "eval: out of memory");
    if (!st) st = table_read(pred_path, p.pred_column, &pred, &labels, err);
    if (!st) st = table_read(truth_path, p.truth_column, &truth, &labels, err);
    if (!st && !(out = calloc(1, sizeof *out)))
        st = gl_fail(err, GL_ERR_NOMEM, "eval: out of memory");
    int by_input = !st && share_an_input(&pred, &truth);
    if (!st) st = table_key(&pred, by_input, err);
    if (!st) st = table_key(&truth, by_input, err);
    if (!st && p.hierarchy && !(st = trees_from_hierarchy(&pred, p.hierarchy, &labels, err)))
        st = trees_from_hierarchy(&truth, p.hierarchy, &labels, err);
    long n = 0;
    if (!st) {
        out->n_pred = pred.n;
        out->n_truth = truth.n;
        long cap = truth.n < pred.n ? truth.n : pred.n;
        pairs = malloc((size_t)(2 * cap + 1) * sizeof *pairs);
        remap = malloc(((size_t)labels.n + 1) * sizeof *remap);
        if (!pairs || !remap) st = gl_fail(err, GL_ERR_NOMEM, "eval: out of memory");
    }
    if (!st) st = match_rows(&truth, &pred, pairs, &n, &out->n_truth_unmatched, err);
    if (!st && n == 0)
        st = gl_fail(err, GL_ERR_FORMAT, "%s: no tile (%s, row, col) in common with %s", pred_path,
                     by_input ? "input" : "filename", truth_path);
    if (!st) {
        out->n_matched = n;
        st = make_classes(pairs, n, &labels, out, remap, err);
    }
    if (!st) st = alloc_metrics(out, err);
    if (!st) {
        int K = out->n_classes;
        for (long i = 0; i < n; i++)
            out->confusion[(size_t)remap[pairs[2 * i]->label] * K +
                           remap[pairs[2 * i + 1]->label]]++;
        compute_scores(out);
        level_scores(pairs, n, out);
    }
    free(pairs);
    free(remap);
    table_free(&pred);
    table_free(&truth);
    labels_free(&labels);
    if (!st) return out;
    gl_label_eval_free(out);
    return NULL;
}

void gl_label_eval_free(gl_label_eval *e) {
    if (!e) return;
    if (e->classes) gl_strings_free(e->classes, e->n_classes);
    free(e->confusion), free(e->precision), free(e->recall), free(e->f1), free(e->support);
    free(e->level_accuracy), free(e->level_n);
    free(e);
}
