/* llm_step.c: GVL's LLM pipeline inside a label batch: each patch described by the vision LLM (or
 * taken from a descriptions CSV), classified by the LLM level by level, with CLIP falling back. */
#include "label.h"
#include "llm/llm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DESCRIPTIONS 10000000

typedef struct {
    char *key; /* "filename\trow\tcol" */
    char *text;
} desc_entry;

typedef struct {
    char *input; /* the input's path */
    char tile_name[512];
    char *image_url, *description;
    const gl_class_node *node; /* where the walk stands */
    gl_zs_choice choice;
    const char *mode;
    char note[800]; /* a gl_error message and a prefix */
    int active;
} slot_state;

struct gl_llm_step {
    const gl_label_llm *p;
    const char *context;
    const gl_class_node *tree;
    char **top; /* the top level's names, for include_classes */
    int n_top;
    desc_entry *desc;
    int n_desc;
    slot_state *slots;
    int max_slots, n_slots;
    float *probs; /* scratch: one level's probabilities */
    int max_children;
    unsigned char *resized;
    gl_llm_call *calls;
    int *call_slot;
};

static int max_children(const gl_class_node *n) {
    int m = n->n_children;
    for (int i = 0; i < n->n_children; i++) {
        int k = max_children(&n->children[i]);
        if (k > m) m = k;
    }
    return m;
}

static int cmp_desc(const void *a, const void *b) {
    return strcmp(((const desc_entry *)a)->key, ((const desc_entry *)b)->key);
}

static char *desc_key(const char *file, const char *row, const char *col) {
    char *k = NULL;
    if (asprintf(&k, "%s\t%s\t%s", gl_path_base_name(file), row, col) < 0) k = NULL;
    return k;
}

/* The descriptions CSV: any file with filename, row, col and description columns (a GVL labels
 * file, or ours). */
static gl_status load_descriptions(gl_llm_step *s, const char *path, gl_error *err) {
    gl_csv *csv = gl_csv_open(path, 1, err);
    if (!csv) return err->code;
    int cf = gl_csv_column(csv, "filename"), cr = gl_csv_column(csv, "row"),
        cc = gl_csv_column(csv, "col"), cd = gl_csv_column(csv, "description");
    gl_status st = GL_OK;
    if (cf < 0 || cr < 0 || cc < 0 || cd < 0)
        st = gl_fail(err, GL_ERR_FORMAT,
                     "%s: needs filename, row, col and description columns for --descriptions",
                     path);
    int r, cap = 0;
    while (!st && (r = gl_csv_next(csv, err)) == 1) {
        if (s->n_desc >= MAX_DESCRIPTIONS) {
            st = gl_fail(err, GL_ERR_LIMIT, "%s: more than %d rows", path, MAX_DESCRIPTIONS);
            break;
        }
        if (s->n_desc == cap) {
            cap = cap ? cap * 2 : 256;
            desc_entry *g = realloc(s->desc, (size_t)cap * sizeof *g);
            if (!g) {
                st = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            s->desc = g;
        }
        desc_entry *e = &s->desc[s->n_desc];
        e->key = desc_key(gl_csv_field(csv, cf), gl_csv_field(csv, cr), gl_csv_field(csv, cc));
        e->text = strdup(gl_csv_field(csv, cd));
        if (e->key && e->text) {
            s->n_desc++;
        } else {
            free(e->key), free(e->text);
            st = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
        }
    }
    if (!st && r < 0) st = err->code;
    gl_csv_free(csv);
    if (!st) qsort(s->desc, (size_t)s->n_desc, sizeof *s->desc, cmp_desc);
    return st;
}

void gl_llm_step_free(gl_llm_step *s) {
    if (!s) return;
    for (int i = 0; i < s->n_desc; i++)
        free(s->desc[i].key), free(s->desc[i].text);
    free(s->desc);
    for (int i = 0; i < s->max_slots; i++) {
        free(s->slots[i].input);
        free(s->slots[i].image_url);
        free(s->slots[i].description);
    }
    for (int i = 0; s->calls && i < s->max_slots; i++)
        gl_llm_call_clear(&s->calls[i]);
    free(s->slots);
    free(s->calls);
    free(s->call_slot);
    free(s->probs);
    free(s->resized);
    free(s->top);
    free(s);
}

gl_llm_step *gl_llm_step_new(const gl_label_params *p, const gl_class_node *tree, int max_slots,
                             gl_error *err) {
    if (!p->llm.llm) {
        gl_fail(err, GL_ERR_ARG, "label: the LLM classifier needs an LLM client");
        return NULL;
    }
    gl_llm_step *s = calloc(1, sizeof *s);
    if (!s) {
        gl_fail(err, GL_ERR_NOMEM, "label: out of memory");
        return NULL;
    }
    s->p = &p->llm;
    s->context = p->context;
    s->tree = tree;
    s->max_slots = max_slots;
    s->max_children = max_children(tree);
    s->slots = calloc((size_t)max_slots, sizeof *s->slots);
    s->calls = calloc((size_t)max_slots, sizeof *s->calls);
    s->call_slot = calloc((size_t)max_slots, sizeof *s->call_slot);
    s->probs = calloc((size_t)s->max_children + 1, sizeof *s->probs);
    s->top = calloc((size_t)tree->n_children + 1, sizeof *s->top);
    size_t side = s->p->vlm_size > 0 ? (size_t)s->p->vlm_size : 1;
    s->resized = malloc(side * side * 3);
    gl_status st = s->slots && s->calls && s->call_slot && s->probs && s->top && s->resized
                       ? GL_OK
                       : gl_fail(err, GL_ERR_NOMEM, "label: out of memory");
    for (int i = 0; !st && i < tree->n_children; i++)
        s->top[s->n_top++] = tree->children[i].name;
    if (!st && p->llm.type == GL_CLASSIFIER_LLM) {
        if (!p->llm.descriptions_path)
            st = gl_fail(err, GL_ERR_ARG,
                         "label: --classifier-type llm needs --descriptions CSV (filename, row, "
                         "col, description)");
        else
            st = load_descriptions(s, p->llm.descriptions_path, err);
    }
    if (st) {
        gl_llm_step_free(s);
        return NULL;
    }
    return s;
}

void gl_llm_step_begin(gl_llm_step *s) {
    for (int i = 0; i < s->n_slots; i++) {
        slot_state *t = &s->slots[i];
        free(t->input), free(t->image_url), free(t->description);
        memset(t, 0, sizeof *t);
    }
    s->n_slots = 0;
}

/* The patch, its longer side scaled to vlm_size with PIL's bilinear resize, as a PNG data URL. */
static char *patch_url(gl_llm_step *s, const unsigned char *rgb, int w, int h, gl_error *err) {
    int S = s->p->vlm_size;
    if (S <= 0 || (w >= h ? w : h) == S) /* already its longer side S, portrait or not */
        return gl_llm_png_data_url(rgb, w, h, err);
    int ow = w >= h ? S : (int)fmax(1, floor((double)w * S / h + 0.5));
    int oh = w >= h ? (int)fmax(1, floor((double)h * S / w + 0.5)) : S;
    if (gl_gvl_resize(rgb, w, h, s->resized, ow, oh, err)) return NULL;
    return gl_llm_png_data_url(s->resized, ow, oh, err);
}

gl_status gl_llm_step_tile(gl_llm_step *s, const char *input, const gl_tile *tile,
                           const unsigned char *rgb, gl_error *err) {
    if (s->n_slots >= s->max_slots) return gl_fail(err, GL_ERR_INTERNAL, "label: batch overflow");
    slot_state *t = &s->slots[s->n_slots++];
    /* classifier.py's filename: the input's base name, then its row and column. */
    snprintf(t->tile_name, sizeof t->tile_name, "%s_r%d_c%d", gl_path_base_name(input), tile->row,
             tile->col);
    if (!(t->input = strdup(input))) return gl_fail(err, GL_ERR_NOMEM, "label: out of memory");
    if (s->p->type == GL_CLASSIFIER_VLM_LLM) {
        t->image_url = patch_url(s, rgb, tile->w, tile->h, err);
        return t->image_url ? GL_OK : err->code;
    }
    char row[16], col[16];
    snprintf(row, sizeof row, "%d", tile->row);
    snprintf(col, sizeof col, "%d", tile->col);
    desc_entry key = {desc_key(input, row, col), NULL};
    if (!key.key) return gl_fail(err, GL_ERR_NOMEM, "label: out of memory");
    desc_entry *hit =
        s->n_desc ? bsearch(&key, s->desc, (size_t)s->n_desc, sizeof *s->desc, cmp_desc) : NULL;
    free(key.key);
    if (hit && !(t->description = strdup(hit->text)))
        return gl_fail(err, GL_ERR_NOMEM, "label: out of memory");
    return GL_OK;
}

/* The vision step for every slot with a patch; a failed one keeps no description. */
static gl_status describe(gl_llm_step *s, gl_error *err) {
    int n = 0;
    for (int i = 0; i < s->n_slots; i++) {
        slot_state *t = &s->slots[i];
        char *parts[4];
        int k = gl_gvl_vision_parts(s->context, s->p->prompt, t->input, (const char *const *)s->top,
                                    s->n_top, s->p->include_filename, s->p->include_classes, parts);
        if (!k) return gl_fail(err, GL_ERR_NOMEM, "label: out of memory");
        char *joined = NULL;
        if (!s->p->apply_template) {
            /* Without the template GVL gives the model one string. */
            size_t len = 1;
            for (int j = 0; j < k; j++)
                len += strlen(parts[j]);
            if ((joined = malloc(len))) {
                joined[0] = 0;
                for (int j = 0; j < k; j++)
                    strcat(joined, parts[j]);
            }
        }
        const char *one[1] = {joined};
        gl_llm_call *c = &s->calls[n];
        c->model = s->p->vlm_model;
        c->body = s->p->apply_template
                      ? gl_llm_chat_body(s->p->vlm_model, NULL, (const char *const *)parts, k,
                                         t->image_url, s->p->vlm_max_tokens, s->p->vlm_temperature)
                  : joined ? gl_llm_chat_body(s->p->vlm_model, NULL, one, 1, t->image_url,
                                              s->p->vlm_max_tokens, s->p->vlm_temperature)
                           : NULL;
        free(joined);
        for (int j = 0; j < k; j++)
            free(parts[j]);
        s->call_slot[n++] = i;
    }
    gl_status st = gl_llm_run(s->p->vlm ? s->p->vlm : s->p->llm, s->calls, n, err);
    for (int j = 0; !st && j < n; j++) {
        slot_state *t = &s->slots[s->call_slot[j]];
        if (s->calls[j].content) {
            t->description = gl_gvl_clean_description(s->calls[j].content, s->p->prompt);
            if (!t->description) st = gl_fail(err, GL_ERR_NOMEM, "label: out of memory");
        } else {
            snprintf(t->note, sizeof t->note, "vision: %s", s->calls[j].err.msg);
        }
    }
    for (int j = 0; j < n; j++)
        gl_llm_call_clear(&s->calls[j]);
    return st;
}

/* CLIP's pick among the children of t->node, appended to the path. */
static gl_status clip_step(gl_llm_step *s, gl_zeroshot *zs, slot_state *t, float *emb, int n_views,
                           int pick, gl_error *err) {
    int best;
    gl_status st = gl_zeroshot_level(zs, t->node, emb, n_views, s->probs, &best, err);
    if (st) return st;
    if (pick < 0) pick = best;
    const gl_class_node *next = &t->node->children[pick];
    if (t->choice.depth >= GL_ZS_MAX_DEPTH)
        return gl_fail(err, GL_ERR_LIMIT, "label: a class tree deeper than %d", GL_ZS_MAX_DEPTH);
    t->choice.path[t->choice.depth++] = next;
    t->choice.score = s->probs[pick];
    t->node = next;
    t->active = next->n_children > 0;
    return GL_OK;
}

/* One level of the classifier for every slot still walking. */
static gl_status classify_level(gl_llm_step *s, gl_zeroshot *zs, float *embeds, int n_views,
                                int dim, gl_error *err) {
    int n = 0;
    const char *names[4096];
    for (int i = 0; i < s->n_slots; i++) {
        slot_state *t = &s->slots[i];
        if (!t->active) continue;
        int m = t->node->n_children < 4096 ? t->node->n_children : 4096;
        for (int k = 0; k < m; k++)
            names[k] = t->node->children[k].name;
        char *user = gl_gvl_classifier_prompt(t->description, names, m,
                                              s->p->include_filename ? t->tile_name : NULL);
        const char *texts[1] = {user};
        gl_llm_call *c = &s->calls[n];
        c->model = s->p->llm_model;
        c->body = user ? gl_llm_chat_body(s->p->llm_model, GL_GVL_CLASSIFIER_SYSTEM, texts, 1, NULL,
                                          s->p->llm_max_tokens, s->p->llm_temperature)
                       : NULL;
        free(user);
        s->call_slot[n++] = i;
    }
    gl_status st = gl_llm_run(s->p->llm, s->calls, n, err);
    for (int j = 0; !st && j < n; j++) {
        slot_state *t = &s->slots[s->call_slot[j]];
        float *emb = embeds + (size_t)s->call_slot[j] * n_views * dim;
        int m = t->node->n_children < 4096 ? t->node->n_children : 4096;
        for (int k = 0; k < m; k++)
            names[k] = t->node->children[k].name;
        const char *answer = s->calls[j].content;
        int pick = answer ? gl_gvl_match_class(answer, names, m) : -1;
        if (pick < 0) {
            t->mode = "clip-fallback";
            if (!t->note[0]) {
                if (answer)
                    snprintf(t->note, sizeof t->note, "'%.200s' is not one of the classes", answer);
                else
                    snprintf(t->note, sizeof t->note, "%s", s->calls[j].err.msg);
            }
        }
        st = clip_step(s, zs, t, emb, n_views, pick, err);
    }
    for (int j = 0; j < n; j++)
        gl_llm_call_clear(&s->calls[j]);
    return st;
}

gl_status gl_llm_step_decide(gl_llm_step *s, gl_zeroshot *zs, float *embeds, int n_views, int dim,
                             gl_error *err) {
    gl_status st = s->p->type == GL_CLASSIFIER_VLM_LLM ? describe(s, err) : GL_OK;
    for (int i = 0; !st && i < s->n_slots; i++) {
        slot_state *t = &s->slots[i];
        t->node = s->tree;
        t->choice.depth = 0;
        t->active = t->description != NULL && s->tree->n_children > 0;
        t->mode = "llm";
        if (t->active) continue;
        /* Nothing to ask the LLM about: CLIP decides the whole walk. */
        t->mode = s->p->type == GL_CLASSIFIER_VLM_LLM ? "clip-fallback" : "clip";
        if (!t->note[0]) snprintf(t->note, sizeof t->note, "no description for this tile");
        st = gl_zeroshot_classify(zs, embeds + (size_t)i * n_views * dim, n_views, &t->choice, err);
    }
    for (int level = 0; !st; level++) {
        int any = 0;
        for (int i = 0; i < s->n_slots; i++)
            any |= s->slots[i].active;
        if (!any) break;
        st = classify_level(s, zs, embeds, n_views, dim, err);
    }
    return st;
}

void gl_llm_step_result(const gl_llm_step *s, int slot, const gl_zs_choice **choice,
                        const char **description, const char **mode, const char **note) {
    const slot_state *t = &s->slots[slot];
    *choice = &t->choice;
    *description = t->description ? t->description : "";
    *mode = t->mode;
    *note = t->note;
}

gl_label_llm gl_label_llm_default_params(void) {
    gl_label_llm p;
    memset(&p, 0, sizeof p);
    p.type = GL_CLASSIFIER_CLIP;
    p.vlm_size = 448;
    p.vlm_max_tokens = 128;
    return p;
}
