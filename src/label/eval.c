/* eval.c: label CSVs (predictions against truth) matched by filename,row,col: accuracy, per-class
 * precision/recall/F1, macro-F1, Cohen's kappa, the confusion matrix and per-level accuracy. */
#include "geolabel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Rows beyond this are a corrupt or hostile file, not a tile list. */
#define MAX_EVAL_ROWS 50000000L

typedef struct {
    char *key;   /* basename(filename) \x1f row \x1f col */
    char *label; /* classification */
    char *tree;  /* classification_tree, may be "" */
    long line;
} eval_row;

typedef struct {
    eval_row *rows;
    long n, cap;
} eval_table;

static void table_free(eval_table *t) {
    for (long i = 0; i < t->n; i++)
        free(t->rows[i].key), free(t->rows[i].label), free(t->rows[i].tree);
    free(t->rows);
}

static int cmp_row(const void *a, const void *b) {
    return strcmp(((const eval_row *)a)->key, ((const eval_row *)b)->key);
}

static gl_status table_push(eval_table *t, gl_csv *csv, const int col[5], gl_error *err) {
    if (t->n == t->cap) {
        long cap = t->cap ? t->cap * 2 : 256;
        eval_row *grown =
            cap <= MAX_EVAL_ROWS ? realloc(t->rows, (size_t)cap * sizeof *grown) : NULL;
        if (!grown) return gl_fail(err, GL_ERR_LIMIT, "%s: too many rows", gl_csv_path(csv));
        t->rows = grown;
        t->cap = cap;
    }
    const char *file = gl_path_base_name(gl_csv_field(csv, col[0]));
    size_t len =
        strlen(file) + strlen(gl_csv_field(csv, col[1])) + strlen(gl_csv_field(csv, col[2])) + 3;
    eval_row *r = &t->rows[t->n];
    r->key = malloc(len);
    r->label = strdup(gl_csv_field(csv, col[3]));
    r->tree = strdup(col[4] >= 0 ? gl_csv_field(csv, col[4]) : "");
    r->line = gl_csv_line(csv);
    t->n++;
    if (!r->key || !r->label || !r->tree)
        return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", gl_csv_path(csv));
    snprintf(r->key, len, "%s\x1f%s\x1f%s", file, gl_csv_field(csv, col[1]),
             gl_csv_field(csv, col[2]));
    return GL_OK;
}

/* Reads filename,row,col,classification[,classification_tree] rows, sorted by key; a repeated
 * tile is an error naming both lines. */
static gl_status table_read(const char *path, eval_table *t, gl_error *err) {
    memset(t, 0, sizeof *t);
    gl_csv *csv = gl_csv_open(path, 1, err);
    if (!csv) return err->code;
    static const char *const names[] = {"filename", "row", "col", "classification"};
    int col[5];
    gl_status st = GL_OK;
    for (int i = 0; i < 4 && !st; i++)
        if ((col[i] = gl_csv_column(csv, names[i])) < 0 &&
            (i < 3 || (col[i] = gl_csv_column(csv, "label")) < 0)) /* truth files often say label */
            st = gl_fail(err, GL_ERR_FORMAT, "%s: no '%s' (or 'label') column", path, names[i]);
    col[4] = gl_csv_column(csv, "classification_tree");
    int r;
    while (!st && (r = gl_csv_next(csv, err)) == 1)
        st = table_push(t, csv, col, err);
    if (!st && r < 0) st = err->code;
    gl_csv_free(csv);
    if (!st) {
        if (t->n > 1) /* a header-only file has no row array: qsort(NULL, 0) is undefined */
            qsort(t->rows, (size_t)t->n, sizeof *t->rows, cmp_row);
        for (long i = 1; i < t->n && !st; i++)
            if (!strcmp(t->rows[i].key, t->rows[i - 1].key))
                st = gl_fail(
                    err, GL_ERR_FORMAT, "%s: lines %ld and %ld label the same tile", path,
                    t->rows[i - 1].line < t->rows[i].line ? t->rows[i - 1].line : t->rows[i].line,
                    t->rows[i - 1].line < t->rows[i].line ? t->rows[i].line : t->rows[i - 1].line);
    }
    if (st) table_free(t);
    return st;
}

static int cmp_str_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int class_index(const gl_label_eval *e, const char *label) {
    int lo = 0, hi = e->n_classes - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(e->classes[mid], label);
        if (!c) return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

/* Sorted, distinct labels of both sides of the matched pairs. */
static gl_status make_classes(const eval_row *const *pairs, long n, gl_label_eval *e,
                              gl_error *err) {
    const char **all = malloc((size_t)(2 * n + 1) * sizeof *all);
    if (!all) return gl_fail(err, GL_ERR_NOMEM, "eval: out of memory");
    for (long i = 0; i < 2 * n; i++)
        all[i] = pairs[i]->label;
    qsort(all, (size_t)(2 * n), sizeof *all, cmp_str_ptr);
    long k = 0;
    for (long i = 0; i < 2 * n; i++)
        if (!k || strcmp(all[k - 1], all[i])) all[k++] = all[i];
    if (k > 100000) {
        free(all);
        return gl_fail(err, GL_ERR_LIMIT, "eval: %ld distinct labels is too many", k);
    }
    e->n_classes = (int)k;
    e->classes = calloc((size_t)k + 1, sizeof *e->classes);
    gl_status st = e->classes ? GL_OK : gl_fail(err, GL_ERR_NOMEM, "eval: out of memory");
    for (long i = 0; i < k && !st; i++)
        if (!(e->classes[i] = strdup(all[i])))
            st = gl_fail(err, GL_ERR_NOMEM, "eval: out of memory");
    free(all);
    return st;
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
static gl_status trees_from_hierarchy(eval_table *t, const gl_class_node *h, gl_error *err) {
    char path[4096];
    for (long i = 0; i < t->n; i++) {
        if (tree_depth(t->rows[i].tree) >= 2) continue;
        path[0] = 0;
        if (!path_of(h, t->rows[i].label, path, sizeof path, 0)) continue;
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

/* Pairs truth/prediction rows with equal keys: pairs[2i] truth, pairs[2i+1] prediction. */
static long match_rows(const eval_table *truth, const eval_table *pred, const eval_row **pairs) {
    long n = 0;
    for (long i = 0, j = 0; i < truth->n && j < pred->n;) {
        int c = strcmp(truth->rows[i].key, pred->rows[j].key);
        if (c < 0)
            i++;
        else if (c > 0)
            j++;
        else
            pairs[2 * n] = &truth->rows[i++], pairs[2 * n + 1] = &pred->rows[j++], n++;
    }
    return n;
}

gl_label_eval *gl_label_eval_files(const char *pred_csv, const char *truth_csv,
                                   const gl_class_node *hierarchy, gl_error *err) {
    eval_table pred, truth;
    if (table_read(pred_csv, &pred, err)) return NULL;
    gl_status st = table_read(truth_csv, &truth, err);
    if (st) {
        table_free(&pred);
        return NULL;
    }
    gl_label_eval *out = calloc(1, sizeof *out);
    if (!out) {
        table_free(&pred);
        table_free(&truth);
        gl_fail(err, GL_ERR_NOMEM, "eval: out of memory");
        return NULL;
    }
    if (hierarchy && !(st = trees_from_hierarchy(&pred, hierarchy, err)))
        st = trees_from_hierarchy(&truth, hierarchy, err);
    out->n_pred = pred.n;
    out->n_truth = truth.n;
    long cap = truth.n < pred.n ? truth.n : pred.n;
    const eval_row **pairs = malloc((size_t)(2 * cap + 1) * sizeof *pairs);
    if (!pairs) st = gl_fail(err, GL_ERR_NOMEM, "eval: out of memory");
    long n = pairs ? match_rows(&truth, &pred, pairs) : 0;
    if (!st && n == 0)
        st = gl_fail(err, GL_ERR_FORMAT, "%s: no tile (filename,row,col) in common with %s",
                     pred_csv, truth_csv);
    out->n_matched = n;
    if (!st) st = make_classes(pairs, n, out, err);
    if (!st) st = alloc_metrics(out, err);
    if (!st) {
        int K = out->n_classes;
        for (long i = 0; i < n; i++)
            out->confusion[(size_t)class_index(out, pairs[2 * i]->label) * K +
                           class_index(out, pairs[2 * i + 1]->label)]++;
        compute_scores(out);
        level_scores(pairs, n, out);
    }
    free(pairs);
    table_free(&pred);
    table_free(&truth);
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
