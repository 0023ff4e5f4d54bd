/* zeroshot.c: CLIP zero-shot classification of tiles: GVL's prompt or a template ensemble, text
 * embeddings computed once per run, the softmax at each level of a class tree, TTA averaging. */
#include "label.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TEMPLATES 1000
#define MAX_TEXTS 200000

/* One inner node: its children's embeddings are rows [row0, row0 + n_children) of text. */
typedef struct {
    const gl_class_node *node;
    int row0;
} zs_group;

struct gl_zeroshot {
    gl_clip *clip;
    int dim;
    float logit_scale;
    zs_group *groups;
    int n_groups, n_rows, max_children;
    float *text;            /* [n_rows, dim], unit rows */
    const char **leaves;    /* unique leaf names, depth first (borrowed from the tree) */
    int n_leaves, *leaf_of; /* leaf_of[row]: the leaf index of that row's class, or -1 */
    float *scratch; /* [GL_TTA_OP_COUNT + 1, max_children]: per-view, then mean probabilities */
};

static const char *skip_space(const char *s) {
    while (*s && isspace((unsigned char)*s))
        s++;
    return s;
}

/* Python's str.strip() length over ASCII whitespace, from an already left-stripped s. */
static size_t stripped_len(const char *s) {
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    return n;
}

char *gl_zs_prompt(const char *tmpl, const char *context, const char *label) {
    if (!tmpl) {
        size_t ll = strlen(label);
        const char *c = skip_space(context ? context : "");
        size_t cl = stripped_len(c), n = cl + ll + 16;
        char *out = malloc(n);
        if (!out) return NULL;
        /* With an empty context the leading space is stripped away, as in Python. */
        snprintf(out, n, "%.*s%sLabel '%s'.", (int)cl, c, cl ? " " : "", label);
        return out;
    }
    return gl_prompt_fill(tmpl, "{}", label);
}

gl_status gl_zs_templates_read(const char *path, char ***templates, int *count, gl_error *err) {
    char **lines;
    int n;
    /* The class-list reader has the rules we want (trim, comments, no blanks, no duplicates). */
    gl_status st = gl_class_list_read(path, &lines, &n, err);
    if (st) return st;
    if (n > MAX_TEMPLATES) {
        gl_strings_free(lines, n);
        return gl_fail(err, GL_ERR_LIMIT, "%s: more than %d templates", path, MAX_TEMPLATES);
    }
    for (int i = 0; i < n; i++) {
        if (!strstr(lines[i], "{}")) {
            st = gl_fail(err, GL_ERR_FORMAT, "%s: template '%s' has no {} for the class name", path,
                         lines[i]);
            gl_strings_free(lines, n);
            return st;
        }
    }
    *templates = lines;
    *count = n;
    return GL_OK;
}

void gl_zeroshot_free(gl_zeroshot *zs) {
    if (!zs) return;
    free(zs->groups);
    free(zs->text);
    free(zs->leaves);
    free(zs->leaf_of);
    free(zs->scratch);
    free(zs);
}

/* Gives every inner node a block of rows for its children, depth first. */
static gl_status assign_rows(gl_zeroshot *zs, const gl_class_node *n, int depth, gl_error *err) {
    if (depth >= GL_ZS_MAX_DEPTH)
        return gl_fail(err, GL_ERR_LIMIT, "classes: hierarchy deeper than %d levels",
                       GL_ZS_MAX_DEPTH - 1);
    zs_group *grown = realloc(zs->groups, (size_t)(zs->n_groups + 1) * sizeof *grown);
    if (!grown) return gl_fail(err, GL_ERR_NOMEM, "classes: out of memory");
    zs->groups = grown;
    grown[zs->n_groups++] = (zs_group){n, zs->n_rows};
    zs->n_rows += n->n_children;
    if (n->n_children > zs->max_children) zs->max_children = n->n_children;
    if (zs->n_rows > MAX_TEXTS) return gl_fail(err, GL_ERR_LIMIT, "classes: too many classes");
    for (int i = 0; i < n->n_children; i++) {
        if (!n->children[i].n_children) continue;
        gl_status st = assign_rows(zs, &n->children[i], depth + 1, err);
        if (st) return st;
    }
    return GL_OK;
}

/* texts[(row * n_t) + t]: every class name in every template, in row order. */
static gl_status build_prompts(const gl_zeroshot *zs, const char *context, char *const *tmpl,
                               int n_t, char **texts, gl_error *err) {
    for (int g = 0; g < zs->n_groups; g++) {
        const gl_class_node *n = zs->groups[g].node;
        for (int c = 0; c < n->n_children; c++) {
            for (int t = 0; t < n_t; t++) {
                int k = (zs->groups[g].row0 + c) * n_t + t;
                texts[k] = gl_zs_prompt(tmpl ? tmpl[t] : NULL, context, n->children[c].name);
                if (!texts[k]) return gl_fail(err, GL_ERR_NOMEM, "prompts: out of memory");
            }
        }
    }
    return GL_OK;
}

/* The CLIP paper's ensemble: mean of the unit embeddings of each template, renormalised. */
static void average_templates(gl_zeroshot *zs, float *emb, int n_t) {
    int d = zs->dim;
    gl_l2_normalize_rows(emb, zs->n_rows * n_t, d);
    for (int r = 0; r < zs->n_rows; r++) {
        float *dst = zs->text + (size_t)r * d;
        memset(dst, 0, (size_t)d * sizeof *dst);
        for (int t = 0; t < n_t; t++) {
            const float *src = emb + ((size_t)r * n_t + t) * d;
            for (int j = 0; j < d; j++)
                dst[j] += src[j];
        }
    }
    gl_l2_normalize_rows(zs->text, zs->n_rows, d);
}

static gl_status embed_prompts(gl_zeroshot *zs, const char *context, char *const *tmpl, int n_t,
                               gl_error *err) {
    size_t n_texts = (size_t)zs->n_rows * n_t;
    if (n_texts > MAX_TEXTS)
        return gl_fail(err, GL_ERR_LIMIT, "prompts: %zu classes x templates is too many", n_texts);
    char **texts = calloc(n_texts, sizeof *texts);
    float *emb = malloc(n_texts * zs->dim * sizeof *emb);
    zs->text = malloc((size_t)zs->n_rows * zs->dim * sizeof *zs->text);
    gl_status st =
        texts && emb && zs->text ? GL_OK : gl_fail(err, GL_ERR_NOMEM, "prompts: out of memory");
    if (!st) st = build_prompts(zs, context, tmpl, n_t, texts, err);
    if (!st)
        st = gl_clip_encode_texts(zs->clip, (const char *const *)texts, (int)n_texts, emb, err);
    if (!st) average_templates(zs, emb, n_t);
    if (texts)
        for (size_t i = 0; i < n_texts; i++)
            free(texts[i]);
    free(texts);
    free(emb);
    return st;
}

/* Each row's leaf among the unique leaf names (a name under two parents is one leaf). */
static gl_status index_leaves(gl_zeroshot *zs, gl_error *err) {
    zs->leaves = malloc((size_t)(zs->n_rows + 1) * sizeof *zs->leaves);
    zs->leaf_of = malloc((size_t)(zs->n_rows + 1) * sizeof *zs->leaf_of);
    if (!zs->leaves || !zs->leaf_of) return gl_fail(err, GL_ERR_NOMEM, "classes: out of memory");
    for (int g = 0; g < zs->n_groups; g++) {
        const gl_class_node *n = zs->groups[g].node;
        for (int c = 0; c < n->n_children; c++) {
            int row = zs->groups[g].row0 + c, k = -1;
            if (!n->children[c].n_children) {
                for (k = 0; k < zs->n_leaves && strcmp(zs->leaves[k], n->children[c].name); k++)
                    ;
                if (k == zs->n_leaves) zs->leaves[zs->n_leaves++] = n->children[c].name;
            }
            zs->leaf_of[row] = k;
        }
    }
    return GL_OK;
}

gl_zeroshot *gl_zeroshot_new(gl_clip *clip, const gl_class_node *tree, const char *context,
                             char *const *templates, int n_templates, gl_error *err) {
    gl_zeroshot *zs = calloc(1, sizeof *zs);
    if (!zs) {
        gl_fail(err, GL_ERR_NOMEM, "zero-shot: out of memory");
        return NULL;
    }
    zs->clip = clip;
    zs->dim = gl_clip_projection_dim(clip);
    zs->logit_scale = gl_clip_logit_scale(clip);
    if (!context) context = "This is a satellite image.";
    if (n_templates <= 0) templates = NULL, n_templates = 1;
    gl_status st = assign_rows(zs, tree, 0, err);
    if (!st) st = index_leaves(zs, err);
    if (!st &&
        !(zs->scratch = malloc((size_t)(GL_TTA_OP_COUNT + 1) * zs->max_children * sizeof(float))))
        st = gl_fail(err, GL_ERR_NOMEM, "zero-shot: out of memory");
    if (!st) st = embed_prompts(zs, context, templates, n_templates, err);
    if (st) {
        gl_zeroshot_free(zs);
        return NULL;
    }
    return zs;
}

static const zs_group *find_group(const gl_zeroshot *zs, const gl_class_node *n) {
    for (int g = 0; g < zs->n_groups; g++)
        if (zs->groups[g].node == n) return &zs->groups[g];
    return NULL;
}

/* Mean over views of softmax(logit_scale * cos) among the group's children, into probs. */
static int choose_child(gl_zeroshot *zs, const zs_group *g, const float *emb, int n_views,
                        float *probs) {
    int n = g->node->n_children, d = zs->dim;
    float *p = zs->scratch;
    const float *text = zs->text + (size_t)g->row0 * d;
    /* emb and text rows are unit length and the sizes were checked, so this cannot fail. */
    gl_scores_from_embeddings(emb, n_views, text, n, d, zs->logit_scale, 0, p, p, NULL, NULL);
    int best = 0;
    for (int c = 0; c < n; c++) {
        double sum = 0;
        for (int v = 0; v < n_views; v++)
            sum += p[(size_t)v * n + c];
        probs[c] = (float)(sum / n_views);
        if (probs[c] > probs[best]) best = c;
    }
    return best;
}

gl_status gl_zeroshot_classify(gl_zeroshot *zs, float *emb, int n_views, gl_zs_choice *out,
                               gl_error *err) {
    if (n_views < 1 || n_views > GL_TTA_OP_COUNT)
        return gl_fail(err, GL_ERR_ARG, "zero-shot: %d views per tile", n_views);
    gl_l2_normalize_rows(emb, n_views, zs->dim);
    float *probs = zs->scratch + (size_t)GL_TTA_OP_COUNT * zs->max_children;
    const gl_class_node *node = zs->groups[0].node;
    out->depth = 0;
    out->score = 0;
    for (const zs_group *g = zs->groups; g; g = find_group(zs, node)) {
        int c = choose_child(zs, g, emb, n_views, probs);
        node = &g->node->children[c];
        out->path[out->depth++] = node;
        out->score = probs[c];
        if (!node->n_children) break;
    }
    return GL_OK;
}

gl_status gl_zeroshot_level(gl_zeroshot *zs, const gl_class_node *node, float *emb, int n_views,
                            float *probs, int *best, gl_error *err) {
    const zs_group *g = find_group(zs, node);
    if (!g || n_views < 1 || n_views > GL_TTA_OP_COUNT)
        return gl_fail(err, GL_ERR_ARG, "zero-shot: not a class node of this run");
    gl_l2_normalize_rows(emb, n_views, zs->dim);
    *best = choose_child(zs, g, emb, n_views, probs);
    return GL_OK;
}

int gl_zeroshot_leaves(const gl_zeroshot *zs, const char *const **names) {
    *names = zs->leaves;
    return zs->n_leaves;
}

/* Adds mass * P(child) for every leaf under group g, recursing into inner children. */
static void leaf_mass(gl_zeroshot *zs, const zs_group *g, const float *emb, int n_views,
                      double mass, float *out, float *probs) {
    int n = g->node->n_children;
    choose_child(zs, g, emb, n_views, probs);
    float *mine = probs + zs->max_children; /* deeper levels use the space after ours */
    memcpy(mine, probs, (size_t)n * sizeof *mine);
    for (int c = 0; c < n; c++) {
        const gl_class_node *ch = &g->node->children[c];
        if (!ch->n_children)
            out[zs->leaf_of[g->row0 + c]] += (float)(mass * mine[c]);
        else
            leaf_mass(zs, find_group(zs, ch), emb, n_views, mass * mine[c], out, mine + n);
    }
}

gl_status gl_zeroshot_leaf_probs(gl_zeroshot *zs, const float *emb, int n_views, float *out,
                                 gl_error *err) {
    memset(out, 0, (size_t)zs->n_leaves * sizeof *out);
    size_t need = (size_t)(GL_ZS_MAX_DEPTH + 1) * 2 * zs->max_children;
    float *work = malloc(need * sizeof *work);
    if (!work) return gl_fail(err, GL_ERR_NOMEM, "zero-shot: out of memory");
    leaf_mass(zs, &zs->groups[0], emb, n_views, 1.0, out, work);
    free(work);
    return GL_OK;
}

gl_status gl_tta_parse(const char *list, unsigned *bits, gl_error *err) {
    static const char *const names[] = {"x", "y", "xy", "rot90", "rot270"};
    *bits = 0;
    const char *p = list ? list : "";
    while (*p) {
        size_t n = strcspn(p, ",");
        size_t k = 0;
        while (k < sizeof names / sizeof names[0] &&
               (strlen(names[k]) != n || strncmp(names[k], p, n)))
            k++;
        if (k == sizeof names / sizeof names[0])
            return gl_fail(err, GL_ERR_ARG,
                           "--tta: unknown augmentation '%.*s' (x, y, xy, rot90, "
                           "rot270)",
                           (int)n, p);
        *bits |= 1u << k;
        p += n + (p[n] == ',');
    }
    return GL_OK;
}
