/* cluster_llm.c: GVL's cluster.py with an LLM: the LLM names the clusters, then puts each class in
 * one; a class it cannot place after one re-ask goes to the cluster CLIP finds nearest. */
#include "label.h"
#include "llm/llm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    gl_llm *llm;
    const char *model;
    gl_clip *clip;
    const char *tmpl;
    const char *const *classes;
    const int *k;
    int steps;
    gl_error *err;
} ctx;

/* The turns of one class's question: GVL's prompt; for the re-ask, its answer and our reminder. */
static char *assign_body(ctx *C, char **names, int n_names, const char *cls, const char *previous) {
    char *ask = gl_gvl_cluster_assign_prompt((const char *const *)names, n_names, cls);
    if (!ask) return NULL;
    if (!previous) {
        const char *roles[] = {"user"}, *texts[] = {ask};
        char *body = gl_llm_chat_turns(C->model, roles, texts, 1, 0, NAN);
        free(ask);
        return body;
    }
    char *again = NULL;
    char *list = gl_gvl_cluster_assign_prompt((const char *const *)names, n_names, "");
    /* The categories as the prompt lists them, between its fixed words. */
    const char *from = list ? strstr(list, "categories: ") : NULL,
               *to = from ? strstr(from, ". Here") : NULL;
    if (from && to &&
        asprintf(&again,
                 "That is not one of the categories. Answer with exactly one of: %.*s. Output the "
                 "result in the following format:\nCat: [Category name]",
                 (int)(to - from - 12), from + 12) < 0)
        again = NULL;
    free(list);
    const char *roles[] = {"user", "assistant", "user"}, *texts[] = {ask, previous, again};
    char *body = again ? gl_llm_chat_turns(C->model, roles, texts, 3, 0, NAN) : NULL;
    free(ask);
    free(again);
    return body;
}

/* The cluster whose name's CLIP text embedding is nearest (cosine) the class's. */
static gl_status nearest_name(ctx *C, const char *cls, char **names, int n_names, int *out) {
    float *ce = NULL, *ne = NULL;
    const char *one[1] = {cls};
    gl_status st = gl_cluster_embed_texts(C->clip, C->tmpl, one, 1, &ce, C->err);
    if (!st)
        st = gl_cluster_embed_texts(C->clip, C->tmpl, (const char *const *)names, n_names, &ne,
                                    C->err);
    if (!st) {
        int d = gl_clip_projection_dim(C->clip);
        gl_l2_normalize_rows(ce, 1, d);
        gl_l2_normalize_rows(ne, n_names, d);
        double best = -INFINITY;
        for (int j = 0; j < n_names; j++) {
            double s = 0;
            for (int t = 0; t < d; t++)
                s += (double)ce[t] * ne[(size_t)j * d + t];
            if (s > best) best = s, *out = j;
        }
    }
    free(ce);
    free(ne);
    return st;
}

/* One cluster per class (assign[i] indexes names): asked, re-asked once, else CLIP. */
static gl_status assign_classes(ctx *C, const int *members, int m, char **names, int n_names,
                                int *assign) {
    gl_llm_call *calls = calloc((size_t)m, sizeof *calls);
    char **first = calloc((size_t)m, sizeof *first);
    if (!calls || !first) {
        free(calls), free(first);
        return gl_fail(C->err, GL_ERR_NOMEM, "cluster: out of memory");
    }
    gl_status st = GL_OK;
    for (int round = 0; round < 2 && !st; round++) {
        int n = 0;
        int *which = malloc((size_t)m * sizeof *which);
        if (!which) {
            st = gl_fail(C->err, GL_ERR_NOMEM, "cluster: out of memory");
            break;
        }
        for (int i = 0; i < m; i++) {
            if (round == 0) assign[i] = -1;
            if (assign[i] >= 0) continue;
            calls[n].model = C->model;
            calls[n].body = assign_body(C, names, n_names, C->classes[members[i]],
                                        round ? (first[i] ? first[i] : "") : NULL);
            which[n++] = i;
        }
        if (n) st = gl_llm_run(C->llm, calls, n, C->err);
        for (int j = 0; !st && j < n; j++) {
            int i = which[j];
            const char *a = calls[j].content;
            assign[i] =
                a ? gl_gvl_parse_cluster_choice(a, (const char *const *)names, n_names) : -1;
            if (assign[i] < 0 && round == 0 && a) first[i] = strdup(a);
            if (assign[i] < 0 && round == 1)
                gl_log(GL_LOG_WARN, "cluster: the LLM placed '%s' in no cluster (%s); CLIP decides",
                       C->classes[members[i]], a ? a : calls[j].err.msg);
        }
        for (int j = 0; j < n; j++)
            gl_llm_call_clear(&calls[j]);
        free(which);
    }
    for (int i = 0; !st && i < m; i++)
        if (assign[i] < 0) st = nearest_name(C, C->classes[members[i]], names, n_names, &assign[i]);
    for (int i = 0; i < m; i++)
        free(first[i]);
    free(first);
    free(calls);
    return st;
}

/* The LLM's cluster names for these classes: asked once, re-asked once when it gave none. */
static gl_status ask_names(ctx *C, const int *members, int m, int k, char ***names, int *n_names) {
    const char **list = malloc((size_t)m * sizeof *list);
    if (!list) return gl_fail(C->err, GL_ERR_NOMEM, "cluster: out of memory");
    for (int i = 0; i < m; i++)
        list[i] = C->classes[members[i]];
    char *prompt = gl_gvl_cluster_names_prompt(list, m, k);
    free(list);
    gl_llm_call call = {.model = C->model};
    const char *roles[] = {"user", "assistant", "user"};
    const char *texts[] = {prompt, NULL,
                           "Give exactly one line per cluster, Cluster_1: [Suggested "
                           "name] and so on, and nothing else."};
    gl_status st = prompt ? GL_OK : gl_fail(C->err, GL_ERR_NOMEM, "cluster: out of memory");
    char *previous = NULL;
    for (int round = 0; round < 2 && !st && !*n_names; round++) {
        texts[1] = previous ? previous : "";
        call.body = gl_llm_chat_turns(C->model, roles, texts, round ? 3 : 1, 0, NAN);
        st = gl_llm_run(C->llm, &call, 1, C->err);
        if (!st && !call.content) st = gl_fail(C->err, call.err.code, "cluster: %s", call.err.msg);
        if (!st) st = gl_gvl_parse_cluster_names(call.content, names, n_names, C->err);
        free(previous);
        previous = call.content;
        call.content = NULL;
        gl_llm_call_clear(&call);
    }
    if (!st && !*n_names)
        st = gl_fail(C->err, GL_ERR_FORMAT,
                     "cluster: the LLM gave no 'Cluster_1: name' lines for %d classes (twice); its "
                     "answer began '%.80s'",
                     m, previous ? previous : "");
    if (!st && *n_names != k)
        gl_log(GL_LOG_WARN, "cluster: asked for %d clusters, the LLM named %d", k, *n_names);
    free(previous);
    free(prompt);
    return st;
}

/* cluster.py's recursion: name k clusters, place each class, drop empty clusters, recurse. A
 * group no larger than its step's count stays a list, as in the CLIP clustering. */
static gl_status split(ctx *C, gl_class_node *node, const int *members, int m, int level) {
    int k = level < C->steps ? C->k[level] : 0;
    if (level >= C->steps || m <= k)
        return gl_cluster_add_leaves(node, C->classes, members, m, C->err);
    char **names = NULL;
    int n_names = 0;
    gl_status st = ask_names(C, members, m, k, &names, &n_names);
    int *assign = st ? NULL : malloc((size_t)m * sizeof *assign);
    int *group = st ? NULL : malloc((size_t)m * sizeof *group);
    if (!st && (!assign || !group)) st = gl_fail(C->err, GL_ERR_NOMEM, "cluster: out of memory");
    if (!st) st = assign_classes(C, members, m, names, n_names, assign);
    if (!st && !(node->children = calloc((size_t)n_names, sizeof *node->children)))
        st = gl_fail(C->err, GL_ERR_NOMEM, "cluster: out of memory");
    for (int g = 0; !st && g < n_names; g++) {
        int gm = 0;
        for (int i = 0; i < m; i++)
            if (assign[i] == g) group[gm++] = members[i];
        if (!gm) {
            gl_log(GL_LOG_WARN, "cluster: '%s' got no class; dropped", names[g]);
            continue;
        }
        gl_class_node *child = &node->children[node->n_children++];
        child->name = names[g];
        names[g] = NULL; /* the tree takes the name */
        st = split(C, child, group, gm, level + 1);
    }
    free(assign);
    free(group);
    gl_strings_free(names, n_names);
    return st;
}

gl_class_node *gl_cluster_classes_llm(gl_llm *llm, const char *model, gl_clip *clip,
                                      const char *const *classes, int n, const char *tmpl,
                                      const int *num_clusters, int steps, gl_error *err) {
    if (steps <= 0 || steps > 16) {
        gl_fail(err, GL_ERR_ARG, "cluster: --steps must be 1..16, not %d", steps);
        return NULL;
    }
    if (n < 1 || n > 100000) {
        gl_fail(err, GL_ERR_ARG, "cluster: %d classes", n);
        return NULL;
    }
    ctx C = {llm,     model,        clip,  tmpl ? tmpl : GL_CLUSTER_TEMPLATE,
             classes, num_clusters, steps, err};
    int *all = malloc((size_t)n * sizeof *all);
    gl_class_node *root = calloc(1, sizeof *root);
    gl_status st = all && root ? GL_OK : gl_fail(err, GL_ERR_NOMEM, "cluster: out of memory");
    for (int i = 0; !st && i < n; i++)
        all[i] = i;
    if (!st) st = split(&C, root, all, n, 0);
    free(all);
    if (st) {
        gl_class_tree_free(root);
        root = NULL;
    }
    return root;
}
