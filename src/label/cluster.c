/* cluster.c: GVL's meta-class generation without an LLM: average-linkage clustering of class-name
 * embeddings, recursively top-down as GVL's cluster.py, each group named by its nearest candidate.
 */
#include "label.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The class count beyond which the O(n^2) distance matrix stops being a sane thing to build. */
#define MAX_CLUSTER_ITEMS 4096

gl_status gl_cluster_average_linkage(const double *dist, int n, int k, int *assign, gl_error *err) {
    if (n <= 0 || k <= 0 || k > n || n > MAX_CLUSTER_ITEMS)
        return gl_fail(err, GL_ERR_ARG, "cluster: cannot make %d clusters of %d items", k, n);
    /* d holds the current clusters' average distances, updated by Lance-Williams; rep[i] is the
     * cluster item i belongs to (a cluster is named by its lowest surviving index). */
    double *d = malloc((size_t)n * n * sizeof *d);
    int *size = malloc((size_t)n * sizeof *size), *rep = malloc((size_t)n * sizeof *rep);
    if (!d || !size || !rep) {
        free(d), free(size), free(rep);
        return gl_fail(err, GL_ERR_NOMEM, "cluster: out of memory for %d items", n);
    }
    memcpy(d, dist, (size_t)n * n * sizeof *d);
    for (int i = 0; i < n; i++)
        size[i] = 1, rep[i] = i;
    for (int alive = n; alive > k; alive--) {
        int bi = -1, bj = -1;
        double best = INFINITY;
        for (int i = 0; i < n; i++) {
            if (!size[i]) continue;
            for (int j = i + 1; j < n; j++)
                if (size[j] && d[(size_t)i * n + j] < best)
                    best = d[(size_t)i * n + j], bi = i, bj = j;
        }
        if (bi < 0) { /* only NaN distances left: nothing comparable to merge */
            free(d), free(size), free(rep);
            return gl_fail(err, GL_ERR_FORMAT, "cluster: distances are not numbers");
        }
        for (int m = 0; m < n; m++) {
            if (!size[m] || m == bi || m == bj) continue;
            double v = (size[bi] * d[(size_t)bi * n + m] + size[bj] * d[(size_t)bj * n + m]) /
                       (size[bi] + size[bj]);
            d[(size_t)bi * n + m] = d[(size_t)m * n + bi] = v;
        }
        size[bi] += size[bj];
        size[bj] = 0;
        for (int m = 0; m < n; m++)
            if (rep[m] == bj) rep[m] = bi;
    }
    /* Number clusters by first appearance so the result does not depend on merge bookkeeping. */
    int next = 0;
    for (int i = 0; i < n; i++)
        size[i] = -1;
    for (int i = 0; i < n; i++) {
        if (size[rep[i]] < 0) size[rep[i]] = next++;
        assign[i] = size[rep[i]];
    }
    free(d), free(size), free(rep);
    return GL_OK;
}

static double dot(const float *a, const float *b, int dim) {
    double s = 0;
    for (int i = 0; i < dim; i++)
        s += (double)a[i] * b[i];
    return s;
}

/* A meta-class waiting for its name: its node, tree level and member classes. */
typedef struct {
    gl_class_node *node;
    int level, order; /* order: creation order, to keep the sort by level stable */
    int *members, n_members;
} pending;

typedef struct {
    const char *const *classes;
    const float *emb; /* [n, dim] normalised */
    int dim;
    const int *k;
    int steps;
    pending *todo;
    int n_todo, cap_todo;
    gl_error *err;
} builder;

gl_status gl_cluster_add_leaves(gl_class_node *node, const char *const *classes, const int *members,
                                int m, gl_error *err) {
    node->children = calloc((size_t)m, sizeof *node->children);
    if (!node->children) return gl_fail(err, GL_ERR_NOMEM, "cluster: out of memory");
    node->n_children = m;
    for (int i = 0; i < m; i++)
        if (!(node->children[i].name = strdup(classes[members[i]])))
            return gl_fail(err, GL_ERR_NOMEM, "cluster: out of memory");
    return GL_OK;
}

static gl_status push_pending(builder *B, gl_class_node *node, int level, int *members, int m) {
    if (B->n_todo == B->cap_todo) {
        int cap = B->cap_todo ? B->cap_todo * 2 : 16;
        pending *grown = realloc(B->todo, (size_t)cap * sizeof *grown);
        if (!grown) {
            free(members);
            return gl_fail(B->err, GL_ERR_NOMEM, "cluster: out of memory");
        }
        B->todo = grown;
        B->cap_todo = cap;
    }
    B->todo[B->n_todo] = (pending){node, level, B->n_todo, members, m};
    B->n_todo++;
    return GL_OK;
}

static gl_status cosine_distances(builder *B, const int *members, int m, double **out) {
    double *d = malloc((size_t)m * m * sizeof *d);
    if (!d) return gl_fail(B->err, GL_ERR_NOMEM, "cluster: out of memory for %d classes", m);
    for (int i = 0; i < m; i++) {
        d[(size_t)i * m + i] = 0;
        for (int j = i + 1; j < m; j++)
            d[(size_t)i * m + j] = d[(size_t)j * m + i] =
                1.0 - dot(B->emb + (size_t)members[i] * B->dim,
                          B->emb + (size_t)members[j] * B->dim, B->dim);
    }
    *out = d;
    return GL_OK;
}

/* GVL's recursion: split these classes into k[level] groups, then split each group with the next
 * step's count, until the steps run out. A group no larger than its step's count stays a list. */
static gl_status split(builder *B, gl_class_node *node, const int *members, int m, int level) {
    int k = level < B->steps ? B->k[level] : 0;
    if (level >= B->steps || m <= k)
        return gl_cluster_add_leaves(node, B->classes, members, m, B->err);
    double *d = NULL;
    int *assign = malloc((size_t)m * sizeof *assign);
    if (!assign) return gl_fail(B->err, GL_ERR_NOMEM, "cluster: out of memory");
    gl_status st = cosine_distances(B, members, m, &d);
    if (!st) {
        st = gl_cluster_average_linkage(d, m, k, assign, B->err);
        free(d);
    }
    if (!st && !(node->children = calloc((size_t)k, sizeof *node->children)))
        st = gl_fail(B->err, GL_ERR_NOMEM, "cluster: out of memory");
    if (!st) node->n_children = k;
    for (int g = 0; !st && g < k; g++) {
        int *group = malloc((size_t)m * sizeof *group), gm = 0;
        if (!group) {
            st = gl_fail(B->err, GL_ERR_NOMEM, "cluster: out of memory");
            break;
        }
        for (int i = 0; i < m; i++)
            if (assign[i] == g) group[gm++] = members[i];
        st = push_pending(B, &node->children[g], level + 1, group, gm);
        if (!st) st = split(B, &node->children[g], group, gm, level + 1);
    }
    free(assign);
    return st;
}

/* ------------------------------------------------------------------ naming */

static int name_is_class(const builder *B, int n_classes, const char *name) {
    for (int i = 0; i < n_classes; i++)
        if (!strcasecmp(B->classes[i], name)) return 1;
    return 0;
}

/* Names one level's groups: repeatedly the (group, candidate) pair of highest cosine similarity
 * between the group's centroid and the candidate's embedding, so no group's name depends on the
 * order groups were made in. used[] marks names already taken anywhere in the tree. */
static gl_status name_level(builder *B, pending *groups, int ng, const char *const *names,
                            const float *name_emb, int n_names, char *used) {
    double *sim = malloc((size_t)ng * (n_names ? n_names : 1) * sizeof *sim);
    float *c = malloc((size_t)B->dim * sizeof *c);
    if (!sim || !c) {
        free(sim), free(c);
        return gl_fail(B->err, GL_ERR_NOMEM, "cluster: out of memory");
    }
    for (int g = 0; g < ng; g++) {
        memset(c, 0, (size_t)B->dim * sizeof *c);
        for (int i = 0; i < groups[g].n_members; i++)
            for (int t = 0; t < B->dim; t++)
                c[t] += B->emb[(size_t)groups[g].members[i] * B->dim + t];
        gl_l2_normalize_rows(c, 1, B->dim);
        for (int j = 0; j < n_names; j++)
            sim[(size_t)g * n_names + j] = dot(c, name_emb + (size_t)j * B->dim, B->dim);
    }
    gl_status st = GL_OK;
    for (int round = 0; round < ng && !st; round++) {
        int bg = -1, bj = -1;
        double best = -INFINITY;
        for (int g = 0; g < ng; g++) {
            if (groups[g].node->name) continue;
            for (int j = 0; j < n_names; j++)
                if (!used[j] && sim[(size_t)g * n_names + j] > best)
                    best = sim[(size_t)g * n_names + j], bg = g, bj = j;
        }
        if (bg < 0) {
            st = gl_fail(B->err, GL_ERR_ARG,
                         "cluster: %d candidate names are too few to name every meta-class "
                         "uniquely",
                         n_names);
            break;
        }
        used[bj] = 1;
        if (!(groups[bg].node->name = strdup(names[bj])))
            st = gl_fail(B->err, GL_ERR_NOMEM, "cluster: out of memory");
    }
    free(sim), free(c);
    return st;
}

static int cmp_level(const void *a, const void *b) {
    const pending *x = a, *y = b;
    return x->level != y->level ? x->level - y->level : x->order - y->order;
}

static gl_status name_groups(builder *B, int n_classes, const char *const *names,
                             const float *name_emb, int n_names) {
    char *used = calloc((size_t)n_names + 1, 1);
    if (!used) return gl_fail(B->err, GL_ERR_NOMEM, "cluster: out of memory");
    for (int j = 0; j < n_names; j++)
        used[j] = (char)name_is_class(B, n_classes, names[j]);
    qsort(B->todo, (size_t)B->n_todo, sizeof *B->todo, cmp_level);
    gl_status st = GL_OK;
    for (int i = 0; i < B->n_todo && !st;) {
        int j = i;
        while (j < B->n_todo && B->todo[j].level == B->todo[i].level)
            j++;
        st = name_level(B, B->todo + i, j - i, names, name_emb, n_names, used);
        i = j;
    }
    free(used);
    return st;
}

/* Checks the steps and the class count against the first step's groups. */
static gl_status check_steps(int n, const int *num_clusters, int steps, gl_error *err) {
    if (steps <= 0 || steps > 16)
        return gl_fail(err, GL_ERR_ARG, "cluster: --steps must be 1..16, not %d", steps);
    for (int s = 0; s < steps; s++)
        if (num_clusters[s] < 1)
            return gl_fail(err, GL_ERR_ARG, "cluster: step %d asks for %d clusters", s + 1,
                           num_clusters[s]);
    if (n <= num_clusters[0] || n > MAX_CLUSTER_ITEMS)
        return gl_fail(err, GL_ERR_ARG,
                       "cluster: %d classes cannot be grouped into %d meta-classes (need more "
                       "classes than meta-classes, at most %d)",
                       n, num_clusters[0], MAX_CLUSTER_ITEMS);
    return GL_OK;
}

gl_class_node *gl_cluster_build_tree(const char *const *classes, const float *class_emb, int n,
                                     const char *const *names, const float *name_emb, int n_names,
                                     int dim, const int *num_clusters, int steps, gl_error *err) {
    if (check_steps(n, num_clusters, steps, err)) return NULL;
    gl_class_node *root = calloc(1, sizeof *root);
    float *emb = malloc((size_t)n * dim * sizeof *emb);
    float *nemb = malloc(((size_t)n_names * dim + 1) * sizeof *nemb);
    int *all = malloc((size_t)n * sizeof *all);
    builder B = {classes, emb, dim, num_clusters, steps, NULL, 0, 0, err};
    gl_status st = GL_OK;
    if (!root || !emb || !nemb || !all) st = gl_fail(err, GL_ERR_NOMEM, "cluster: out of memory");
    if (!st) {
        memcpy(emb, class_emb, (size_t)n * dim * sizeof *emb);
        memcpy(nemb, name_emb, (size_t)n_names * dim * sizeof *nemb);
        gl_l2_normalize_rows(emb, n, dim);
        gl_l2_normalize_rows(nemb, n_names, dim);
        for (int i = 0; i < n; i++)
            all[i] = i;
        st = split(&B, root, all, n, 0);
    }
    if (!st) st = name_groups(&B, n, names, nemb, n_names);
    for (int i = 0; i < B.n_todo; i++)
        free(B.todo[i].members);
    free(B.todo), free(emb), free(nemb), free(all);
    if (!st) return root;
    gl_class_tree_free(root);
    return NULL;
}

/* ------------------------------------------------------------------ with a CLIP model */

/* Fills template's "{}" with each text (a template without "{}" is a prefix, then a space). */
static gl_status fill_template(const char *tmpl, const char *const *texts, int n, char ***out,
                               gl_error *err) {
    char *prefix = NULL;
    if (!strstr(tmpl, "{}")) {
        size_t len = strlen(tmpl) + 4;
        if (!(prefix = malloc(len))) return gl_fail(err, GL_ERR_NOMEM, "cluster: out of memory");
        snprintf(prefix, len, "%s {}", tmpl);
        tmpl = prefix;
    }
    char **p = calloc((size_t)n, sizeof *p);
    gl_status st = p ? GL_OK : gl_fail(err, GL_ERR_NOMEM, "cluster: out of memory");
    for (int i = 0; i < n && !st; i++)
        if (!(p[i] = gl_prompt_fill(tmpl, "{}", texts[i])))
            st = gl_fail(err, GL_ERR_NOMEM, "cluster: out of memory");
    free(prefix);
    if (st) {
        if (p) gl_strings_free(p, n);
        return st;
    }
    *out = p;
    return GL_OK;
}

gl_status gl_cluster_embed_texts(gl_clip *clip, const char *tmpl, const char *const *texts, int n,
                                 float **out, gl_error *err) {
    char **prompts = NULL;
    gl_status st = fill_template(tmpl, texts, n, &prompts, err);
    if (st) return st;
    int dim = gl_clip_projection_dim(clip);
    float *e = malloc((size_t)n * dim * sizeof *e);
    if (!e) st = gl_fail(err, GL_ERR_NOMEM, "cluster: out of memory");
    if (!st) st = gl_clip_encode_texts(clip, (const char *const *)prompts, n, e, err);
    gl_strings_free(prompts, n);
    if (st) {
        free(e);
        return st;
    }
    *out = e;
    return GL_OK;
}

gl_class_node *gl_cluster_classes(gl_clip *clip, const char *const *classes, int n,
                                  const char *const *names, int n_names, const char *tmpl,
                                  const int *num_clusters, int steps, gl_error *err) {
    if (!tmpl) tmpl = GL_CLUSTER_TEMPLATE;
    if (n > MAX_CLUSTER_ITEMS || n_names > 100000) {
        gl_fail(err, GL_ERR_LIMIT, "cluster: %d classes and %d names are too many", n, n_names);
        return NULL;
    }
    float *ce = NULL, *ne = NULL;
    gl_class_node *root = NULL;
    gl_status st = gl_cluster_embed_texts(clip, tmpl, classes, n, &ce, err);
    if (!st) st = gl_cluster_embed_texts(clip, tmpl, names, n_names, &ne, err);
    if (!st)
        root = gl_cluster_build_tree(classes, ce, n, names, ne, n_names,
                                     gl_clip_projection_dim(clip), num_clusters, steps, err);
    free(ce), free(ne);
    return root;
}
