/* model.c: gl_clip contexts: load any model source (clip/sources.c: weights bound and
 * shape-checked by their HF names, tokenizer, preprocessing) and size the workspace; the forward
 * is forward.c's. */
#include "clip/clip_internal.h"
#include "clip/sources.h"
#include "core/vecmath.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

gl_clip_params gl_clip_default_params(void) {
    return (gl_clip_params){.threads = 0, .max_batch = 8, .arch = NULL};
}

/* ------------------------------------------------------------------ weights */

static int needs_widening(const gl_st_tensor *t) {
    return t->dtype == GL_ST_F16 || t->dtype == GL_ST_BF16 ||
           (t->dtype == GL_ST_F32 && ((uintptr_t)t->data & 3));
}

/* The weights clip_pack packs, by HF name (pack.c: pack_tower, the patch embedding and both
 * projections); clip_pack fails if one of them was not packed. */
static int is_packed(const char *name) {
    static const char *const layer[] = {".self_attn.q_proj.weight", ".self_attn.k_proj.weight",
                                        ".self_attn.v_proj.weight", ".self_attn.out_proj.weight",
                                        ".mlp.fc1.weight",          ".mlp.fc2.weight"};
    static const char *const whole[] = {"vision_model.embeddings.patch_embedding.weight",
                                        "visual_projection.weight", "text_projection.weight"};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof layer / sizeof *layer; i++) {
        size_t k = strlen(layer[i]);
        if (n > k && !strcmp(name + n - k, layer[i]) && strstr(name, ".encoder.layers.")) return 1;
    }
    for (size_t i = 0; i < sizeof whole / sizeof *whole; i++)
        if (!strcmp(name, whole[i])) return 1;
    return 0;
}

clip_packed_src *clip_packed_find(gl_clip *c, const float *key) {
    for (int i = 0; i < c->n_packed_src; i++)
        if (c->packed_src[i].key == key) return &c->packed_src[i];
    return NULL;
}

gl_status clip_weight_read(gl_clip *c, const clip_packed_src *w, float *scratch, const float **data,
                           gl_error *err) {
    const gl_st_tensor *t = w->t;
    if (!needs_widening(t)) {
        *data = t->data;
    } else {
        if (t->dtype == GL_ST_F32)
            memcpy(scratch, t->data, t->nbytes);
        else
            gl_st_widen(t->dtype, t->data, t->count, scratch);
        *data = scratch;
    }
    return gl_check_finite_tensor(clip_source_tensor_file(c->src, t), t->name, *data,
                                  (size_t)t->count, err);
}

/* The tensor bound to name, checked against the shape config.json implies (want[nd]) and for a
 * float dtype. */
static gl_status bind_find(gl_clip *c, const char *name, const int64_t *want, int nd,
                           const gl_st_tensor **out, gl_error *err) {
    const gl_st_tensor *t = clip_source_find(c->src, name);
    const char *file = c->src->weights;
    if (!t) return gl_fail(err, GL_ERR_FORMAT, "%s: required tensor '%s' is missing", file, name);
    file = clip_source_tensor_file(c->src, t);
    int same = t->ndim == nd;
    for (int i = 0; same && i < nd; i++)
        same = t->shape[i] == want[i];
    if (!same) {
        char got[96] = "", exp[96] = "";
        for (int i = 0; i < t->ndim; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? "," : "",
                     (long long)t->shape[i]);
        for (int i = 0; i < nd; i++)
            snprintf(exp + strlen(exp), sizeof exp - strlen(exp), "%s%lld", i ? "," : "",
                     (long long)want[i]);
        return gl_fail(err, GL_ERR_SHAPE,
                       "%s: tensor '%s' has shape [%s], config.json implies [%s]", file, name, got,
                       exp);
    }
    if (t->dtype == GL_ST_OTHER)
        return gl_fail(err, GL_ERR_UNSUPPORTED,
                       "%s: tensor '%s' has dtype %s; F32, F16 or BF16 expected", file, name,
                       t->dtype_name);
    *out = t;
    return GL_OK;
}

/* The one tensor read in the file's format by the forward (bind_token_table), never widened. */
static const char TOKEN_TABLE[] = "text_model.embeddings.token_embedding.weight";

/* The token embedding stays in the file's format (F32, F16 or BF16, the mapping itself): a
 * forward reads only its texts' rows, widened as it reads them (clip_token_row), so an F16 file
 * keeps no widened copy of the whole table (49408 x 512 floats, 97 MB, for ViT-B/32). Checked
 * finite once here, a block at a time, then its mapped pages are given back. */
static gl_status bind_token_table(gl_clip *c, const char *name, int vocab, int d,
                                  clip_text_weights *tw, gl_error *err) {
    int64_t want[2] = {vocab, d};
    const gl_st_tensor *t;
    gl_status s = bind_find(c, name, want, 2, &t, err);
    if (s) return s;
    enum { BLOCK = 16384 };
    float *buf = malloc(BLOCK * sizeof(float));
    if (!buf) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", c->dir);
    size_t esize = t->dtype == GL_ST_F32 ? 4 : 2;
    for (size_t at = 0; at < (size_t)t->count && !s; at += BLOCK) {
        size_t n = (size_t)t->count - at < BLOCK ? (size_t)t->count - at : BLOCK;
        const char *from = (const char *)t->data + at * esize;
        if (t->dtype == GL_ST_F32)
            memcpy(buf, from, n * 4);
        else
            gl_st_widen(t->dtype, from, n, buf);
        s = gl_check_finite_block(clip_source_tensor_file(c->src, t), name, buf, n, at, err);
    }
    free(buf);
    clip_source_release(c->src, t->data, t->nbytes);
    tw->tok_emb = t->data;
    tw->tok_dtype = t->dtype;
    return s;
}

void clip_token_row(const clip_text_weights *w, int id, int d, float *out) {
    if (w->tok_dtype == GL_ST_F32)
        memcpy(out, (const char *)w->tok_emb + (size_t)id * d * 4, sizeof(float) * (size_t)d);
    else
        gl_st_widen(w->tok_dtype, (const char *)w->tok_emb + (size_t)id * d * 2, (size_t)d, out);
}

gl_status clip_bind(gl_clip *c, const char *name, float const **out, size_t *widened_used,
                    gl_error *err, ...) {
    int64_t want[GL_ST_MAX_DIMS];
    int nd = 0;
    va_list ap;
    va_start(ap, err);
    for (int v; nd < GL_ST_MAX_DIMS && (v = va_arg(ap, int)) >= 0;)
        want[nd++] = v;
    va_end(ap);
    const gl_st_tensor *t;
    gl_status bs = bind_find(c, name, want, nd, &t, err);
    if (bs) return bs;
    const char *file = clip_source_tensor_file(c->src, t);
    if (is_packed(name)) {
        /* checked and read once, when packed; the view is the key the forward passes */
        clip_packed_src *w = &c->packed_src[c->n_packed_src++];
        w->key = (const float *)t->data;
        w->t = t;
        w->packed = 0;
        *out = w->key;
        return GL_OK;
    }
    if (!needs_widening(t)) {
        *out = t->data;
    } else {
        float *dst = c->widened + *widened_used;
        if (t->dtype == GL_ST_F32)
            memcpy(dst, t->data, t->nbytes);
        else
            gl_st_widen(t->dtype, t->data, t->count, dst);
        *widened_used += t->count;
        *out = dst;
    }
    /* a NaN or infinite weight would only show as NaN scores much later */
    gl_status s = gl_check_finite_tensor(file, name, *out, (size_t)t->count, err);
    /* checked once; an F32 view is the mapping, whose pages the file gives back when read */
    clip_source_release(c->src, t->data, t->nbytes);
    return s;
}

typedef struct {
    gl_clip *c;
    size_t *used;
    gl_error *err;
    gl_status s;
} binder;

/* Binds prefix+suffix with the given dims (-1 terminated); keeps the first failure. */
#define BIND(bd, dst, fmt_prefix, suffix, ...)                                                     \
    do {                                                                                           \
        if ((bd)->s) break;                                                                        \
        char name_[256];                                                                           \
        snprintf(name_, sizeof name_, "%s%s", fmt_prefix, suffix);                                 \
        (bd)->s = clip_bind((bd)->c, name_, &(dst), (bd)->used, (bd)->err, __VA_ARGS__, -1);       \
    } while (0)

/* Every encoder layer's tensors: name suffix, field, and shape in units of d and i (0: none). */
typedef enum { DIM_NONE = 0, DIM_D, DIM_I } layer_dim;
static const struct {
    const char *suffix;
    size_t field;
    layer_dim rows, cols;
} layer_tensors[] = {
    {"layer_norm1.weight", offsetof(clip_layer, ln1_w), DIM_D, DIM_NONE},
    {"layer_norm1.bias", offsetof(clip_layer, ln1_b), DIM_D, DIM_NONE},
    {"layer_norm2.weight", offsetof(clip_layer, ln2_w), DIM_D, DIM_NONE},
    {"layer_norm2.bias", offsetof(clip_layer, ln2_b), DIM_D, DIM_NONE},
    {"self_attn.q_proj.weight", offsetof(clip_layer, q_w), DIM_D, DIM_D},
    {"self_attn.q_proj.bias", offsetof(clip_layer, q_b), DIM_D, DIM_NONE},
    {"self_attn.k_proj.weight", offsetof(clip_layer, k_w), DIM_D, DIM_D},
    {"self_attn.k_proj.bias", offsetof(clip_layer, k_b), DIM_D, DIM_NONE},
    {"self_attn.v_proj.weight", offsetof(clip_layer, v_w), DIM_D, DIM_D},
    {"self_attn.v_proj.bias", offsetof(clip_layer, v_b), DIM_D, DIM_NONE},
    {"self_attn.out_proj.weight", offsetof(clip_layer, o_w), DIM_D, DIM_D},
    {"self_attn.out_proj.bias", offsetof(clip_layer, o_b), DIM_D, DIM_NONE},
    {"mlp.fc1.weight", offsetof(clip_layer, fc1_w), DIM_I, DIM_D},
    {"mlp.fc1.bias", offsetof(clip_layer, fc1_b), DIM_I, DIM_NONE},
    {"mlp.fc2.weight", offsetof(clip_layer, fc2_w), DIM_D, DIM_I},
    {"mlp.fc2.bias", offsetof(clip_layer, fc2_b), DIM_D, DIM_NONE},
};

static void bind_layers(binder *bd, const char *tower, const clip_tower_config *tc, clip_layer *L) {
    int size[] = {-1, tc->hidden, tc->intermediate}; /* -1 ends clip_bind's dimension list */
    for (int i = 0; i < tc->layers && !bd->s; i++) {
        char p[128];
        snprintf(p, sizeof p, "%s.encoder.layers.%d.", tower, i);
        for (size_t k = 0; k < sizeof layer_tensors / sizeof layer_tensors[0]; k++) {
            const float **dst = (const float **)((char *)&L[i] + layer_tensors[k].field);
            BIND(bd, *dst, p, layer_tensors[k].suffix, size[layer_tensors[k].rows],
                 size[layer_tensors[k].cols]);
        }
    }
}

static int vision_tokens(const clip_tower_config *v) {
    int side = v->image_size / v->patch_size;
    return side * side + 1;
}

static gl_status bind_weights(gl_clip *c, gl_error *err) {
    const clip_config *cfg = &c->cfg;
    const clip_tower_config *v = &cfg->vision, *t = &cfg->text;
    size_t used = 0;
    binder bd = {c, &used, err, GL_OK};
    c->vis.layers = calloc((size_t)v->layers, sizeof(clip_layer));
    c->txt.layers = calloc((size_t)t->layers, sizeof(clip_layer));
    if (!c->vis.layers || !c->txt.layers)
        return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", c->dir);
    clip_vision_weights *vw = &c->vis;
    const char *ve = "vision_model.embeddings.";
    BIND(&bd, vw->class_emb, ve, "class_embedding", v->hidden);
    BIND(&bd, vw->patch_w, ve, "patch_embedding.weight", v->hidden, v->channels, v->patch_size,
         v->patch_size);
    BIND(&bd, vw->pos_emb, ve, "position_embedding.weight", vision_tokens(v), v->hidden);
    BIND(&bd, vw->pre_ln_w, "vision_model.", "pre_layrnorm.weight", v->hidden);
    BIND(&bd, vw->pre_ln_b, "vision_model.", "pre_layrnorm.bias", v->hidden);
    BIND(&bd, vw->post_ln_w, "vision_model.", "post_layernorm.weight", v->hidden);
    BIND(&bd, vw->post_ln_b, "vision_model.", "post_layernorm.bias", v->hidden);
    BIND(&bd, vw->proj, "", "visual_projection.weight", cfg->projection_dim, v->hidden);
    bind_layers(&bd, "vision_model", v, vw->layers);
    clip_text_weights *tw = &c->txt;
    const char *te = "text_model.embeddings.";
    if (!bd.s) bd.s = bind_token_table(c, TOKEN_TABLE, t->vocab_size, t->hidden, tw, err);
    BIND(&bd, tw->pos_emb, te, "position_embedding.weight", t->max_positions, t->hidden);
    BIND(&bd, tw->final_ln_w, "text_model.", "final_layer_norm.weight", t->hidden);
    BIND(&bd, tw->final_ln_b, "text_model.", "final_layer_norm.bias", t->hidden);
    BIND(&bd, tw->proj, "", "text_projection.weight", cfg->projection_dim, t->hidden);
    bind_layers(&bd, "text_model", t, tw->layers);
    if (bd.s) return bd.s;
    const gl_st_tensor *ls = clip_source_find(c->src, "logit_scale");
    if (!ls)
        return gl_fail(err, GL_ERR_FORMAT, "%s: required tensor 'logit_scale' is missing",
                       c->src->weights);
    if (ls->count != 1 || ls->ndim > 1 || ls->dtype == GL_ST_OTHER)
        return gl_fail(err, GL_ERR_SHAPE, "%s: tensor 'logit_scale' must be one float",
                       clip_source_tensor_file(c->src, ls));
    float scale;
    if (ls->dtype == GL_ST_F32)
        memcpy(&scale, ls->data, 4);
    else
        gl_st_widen(ls->dtype, ls->data, 1, &scale);
    c->logit_scale = expf(scale);
    if (!isfinite(scale) || !isfinite(c->logit_scale))
        return gl_fail(
            err, GL_ERR_FORMAT,
            "%s: tensor 'logit_scale' is %g, so its exp() (the logit scale) is not finite",
            clip_source_tensor_file(c->src, ls), (double)scale);
    return GL_OK;
}

static gl_status open_weights(gl_clip *c, gl_error *err) {
    size_t total = 0;
    for (int i = 0; i < c->src->n_tensors; i++)
        if (needs_widening(&c->src->tensors[i]) && !is_packed(c->src->tensors[i].name) &&
            strcmp(c->src->tensors[i].name, TOKEN_TABLE))
            total += c->src->tensors[i].count;
    c->packed_src = calloc((size_t)c->src->n_tensors + 1, sizeof *c->packed_src);
    if (!c->packed_src) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", c->src->weights);
    /* total is bounded by the mapped file sizes, which were checked tensor by tensor */
    if (total && !(c->widened = malloc(total * sizeof(float))))
        return gl_fail(err, GL_ERR_NOMEM, "%s: cannot allocate %zu bytes for widened weights",
                       c->src->weights, total * 4);
    return bind_weights(c, err);
}

/* ------------------------------------------------------------------ workspace */

static gl_status alloc_workspace(gl_clip *c, gl_error *err) {
    const clip_tower_config *v = &c->cfg.vision, *t = &c->cfg.text;
    size_t B = (size_t)c->max_batch;
    size_t tok = (size_t)(vision_tokens(v) > GL_CLIP_CONTEXT ? vision_tokens(v) : GL_CLIP_CONTEXT);
    size_t d = (size_t)(v->hidden > t->hidden ? v->hidden : t->hidden);
    size_t in_v = clip_ld((size_t)v->intermediate), in_t = clip_ld((size_t)t->intermediate);
    size_t in = in_v > in_t ? in_v : in_t; /* mlp's row stride at most */
    size_t side = (size_t)(v->image_size / v->patch_size),
           pp = (size_t)(v->channels * v->patch_size * v->patch_size);
    clip_workspace *w = &c->ws;
    w->rows = B * tok;
    size_t nthreads = (size_t)gl_pool_threads(c->pool);
    float **bufs[] = {&w->x, &w->h, &w->q, &w->k, &w->v, &w->attn};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        *bufs[i] = malloc(w->rows * d * sizeof(float));
    w->mlp = malloc(w->rows * in * sizeof(float));
    w->patches = malloc(B * side * side * clip_ld(pp) * sizeof(float));
    w->scores = malloc(nthreads * tok * tok * sizeof(float));
    w->pooled = malloc(B * d * sizeof(float));
    w->ids = malloc(B * GL_CLIP_CONTEXT * sizeof(int32_t));
    w->offset = malloc(B * sizeof(int));
    w->len = malloc(B * sizeof(int));
    w->pooled_row = malloc(B * sizeof(int));
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (!*bufs[i])
            return gl_fail(err, GL_ERR_NOMEM, "%s: cannot allocate the workspace", c->dir);
    if (!w->mlp || !w->patches || !w->scores || !w->pooled || !w->ids || !w->offset || !w->len ||
        !w->pooled_row)
        return gl_fail(err, GL_ERR_NOMEM, "%s: cannot allocate the workspace", c->dir);
    return GL_OK;
}

static void free_workspace(clip_workspace *w) {
    float *bufs[] = {w->x,    w->h,   w->q,       w->k,      w->v,
                     w->attn, w->mlp, w->patches, w->scores, w->pooled};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    free(w->ids);
    free(w->offset);
    free(w->len);
    free(w->pooled_row);
}

/* ------------------------------------------------------------------ load and free */

static gl_status load_preprocessing(gl_clip *c, gl_error *err) {
    int size = c->cfg.vision.image_size;
    c->preproc = c->src->preproc;
    const gl_preproc_config *p = &c->preproc;
    if (p->do_center_crop && (p->crop_width != size || p->crop_height != size))
        return gl_fail(err, GL_ERR_SHAPE,
                       "%s/preprocessor_config.json: crop size %dx%d differs from the model's "
                       "image_size %d",
                       c->dir, p->crop_width, p->crop_height, size);
    return GL_OK;
}

static gl_status load_tokenizer(gl_clip *c, gl_error *err) {
    c->tok = gl_tokenizer_load(c->src->vocab, c->src->merges, err);
    return c->tok ? GL_OK : (err && err->code ? err->code : GL_ERR_IO);
}

gl_clip *gl_clip_load(const char *dir_or_id, const gl_clip_params *params, gl_error *err) {
    gl_clip_params p = params ? *params : gl_clip_default_params();
    if (p.max_batch < 1 || p.max_batch > 4096 || p.threads < 0 || p.threads > 1024 ||
        p.dtype < GL_DTYPE_F32 || p.dtype > GL_DTYPE_INT8) {
        gl_fail(err, GL_ERR_ARG, "%s: max_batch must be 1..4096, threads 0..1024, dtype known",
                dir_or_id);
        return NULL;
    }
    gl_clip *c = calloc(1, sizeof *c);
    if (!c) {
        gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", dir_or_id);
        return NULL;
    }
    c->max_batch = p.max_batch;
    c->on_layer = p.on_layer;
    c->ctx = p.ctx;
    gl_status s = (c->src = calloc(1, sizeof *c->src))
                      ? GL_OK
                      : gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", dir_or_id);
    if (!s) s = clip_source_open(dir_or_id, p.arch, 1, c->src, err);
    if (!s && !(c->dir = strdup(c->src->dir)))
        s = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", dir_or_id);
    if (!s) c->cfg = c->src->cfg;
    if (!s) s = open_weights(c, err);
    if (!s) s = load_preprocessing(c, err);
    if (!s) s = load_tokenizer(c, err);
    if (!s) {
        c->pool = gl_pool_create(p.threads ? p.threads : gl_cpu_count(), err);
        s = c->pool ? GL_OK : GL_ERR_INTERNAL;
    }
    if (!s) s = alloc_workspace(c, err);
    if (!s) s = clip_pack(c, p.dtype, err);
    c->dtype = p.dtype;
    if (s) {
        gl_clip_free(c);
        return NULL;
    }
    return c;
}

void gl_clip_free(gl_clip *c) {
    if (!c) return;
    free_workspace(&c->ws);
    gl_pool_free(c->pool);
    gl_kernels_free(c->kernels);
    gl_tokenizer_free(c->tok);
    free(c->vis.layers);
    free(c->txt.layers);
    free(c->widened);
    free(c->packed_src);
    clip_source_close(c->src);
    free(c->src);
    free(c->dir);
    free(c);
}

/* ------------------------------------------------------------------ accessors */

int gl_clip_image_size(const gl_clip *c) {
    return c->cfg.vision.image_size;
}
int gl_clip_projection_dim(const gl_clip *c) {
    return c->cfg.projection_dim;
}
float gl_clip_logit_scale(const gl_clip *c) {
    return c->logit_scale;
}
const gl_preproc_config *gl_clip_preproc_config(const gl_clip *c) {
    return &c->preproc;
}
gl_tokenizer *gl_clip_tokenizer(gl_clip *c) {
    return c->tok;
}

/* Digesting every weight byte costs a pass over the files, so it waits for the first caller. */
const char *gl_clip_model_hash(gl_clip *c) {
    if (!c->hash[0]) {
        uint64_t d[2];
        clip_source_digest(c->src, d);
        snprintf(c->hash, sizeof c->hash, "%016llx%016llx", (unsigned long long)d[0],
                 (unsigned long long)d[1]);
    }
    return c->hash;
}
