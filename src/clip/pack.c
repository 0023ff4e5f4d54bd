/* pack.c: the model's weights packed once at load for the kernels the CPU runs (clip/forward's
 * linear layers look them up): encoder layers and the patch embedding in the chosen dtype,
 * projections in f32, int8 weights stored by `model convert --dtype int8`, and the kernels'
 * scratch sized for the workspace. */
#include "clip/clip_internal.h"
#include "clip/sources.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The image tower's int8 weights in HF names: 6 per layer, then the patch embedding. */
int clip_int8_count(const clip_config *cfg) {
    return 6 * cfg->vision.layers + 1;
}

void clip_int8_name(const clip_config *cfg, int i, char *buf, size_t n) {
    static const char *const which[] = {"self_attn.q_proj", "self_attn.k_proj",
                                        "self_attn.v_proj", "self_attn.out_proj",
                                        "mlp.fc1",          "mlp.fc2"};
    if (i < 6 * cfg->vision.layers)
        snprintf(buf, n, "vision_model.encoder.layers.%d.%s.weight", i / 6, which[i % 6]);
    else
        snprintf(buf, n, "vision_model.embeddings.patch_embedding.weight");
}

/* Weight i of clip_int8_name's list: its float view and shape [N, K]. */
static const float *int8_weight(const gl_clip *c, int i, int *N, int *K) {
    const clip_tower_config *v = &c->cfg.vision;
    if (i == 6 * v->layers) {
        *N = v->hidden;
        *K = v->channels * v->patch_size * v->patch_size;
        return c->vis.patch_w;
    }
    const clip_layer *l = &c->vis.layers[i / 6];
    *N = i % 6 == 5 ? v->hidden : i % 6 == 4 ? v->intermediate : v->hidden;
    *K = i % 6 == 5 ? v->intermediate : v->hidden;
    const float *w[] = {l->q_w, l->k_w, l->v_w, l->o_w, l->fc1_w, l->fc2_w};
    return w[i % 6];
}

/* Packs weight W (clip_bind's key) [N,K] in dtype: read once (widened into scratch if stored
 * F16/BF16, checked finite), packed, and its mapped pages given back, so the stored weights do
 * not stay resident beside the packed copy. One packed earlier (stored int8) is left as is. */
static gl_status pack_one(gl_clip *c, const float *W, int N, int K, gl_dtype dtype, float *scratch,
                          gl_error *err) {
    clip_packed_src *w = clip_packed_find(c, W);
    if (!w) return gl_fail(err, GL_ERR_INTERNAL, "%s: a packed weight was not bound", c->dir);
    if (w->packed) return GL_OK;
    const float *data;
    gl_status s = clip_weight_read(c, w, scratch, &data, err);
    if (!s) s = gl_kernels_pack_from(c->kernels, W, data, N, K, dtype, err);
    if (!s) w->packed = 1;
    clip_source_release(c->src, w->t->data, w->t->nbytes);
    return s;
}

/* Packs the image tower's int8 weights from DIR/int8.safetensors: q "NAME" (I8 [N, K]) and
 * "NAME.scale" (F32 [N]) for every name. A file that does not belong to these weights (shapes,
 * or a sampled row of q * scale farther than half a step from the float weight) is an error. */
static gl_status pack_stored_int8(gl_clip *c, const char *path, float *scratch, gl_error *err) {
    gl_safetensors st;
    gl_status s = gl_st_open(path, &st, err);
    for (int i = 0; i < clip_int8_count(&c->cfg) && !s; i++) {
        char name[128], sname[140];
        clip_int8_name(&c->cfg, i, name, sizeof name);
        snprintf(sname, sizeof sname, "%s.scale", name);
        int N, K;
        const float *key = int8_weight(c, i, &N, &K), *W = NULL;
        clip_packed_src *w = clip_packed_find(c, key);
        if (!w) {
            s = gl_fail(err, GL_ERR_INTERNAL, "%s: a packed weight was not bound", c->dir);
            break;
        }
        const gl_st_tensor *q = gl_st_find(&st, name), *sc = gl_st_find(&st, sname);
        if (!q || !sc || strcmp(q->dtype_name, "I8") || q->ndim != 2 || q->shape[0] != N ||
            q->shape[1] != K || sc->dtype != GL_ST_F32 || sc->ndim != 1 || sc->shape[0] != N) {
            s = gl_fail(err, GL_ERR_FORMAT,
                        "%s: '%s' is missing or not I8 [%d, %d] with an F32 [%d] '.scale'", path,
                        name, N, K, N);
            break;
        }
        s = clip_weight_read(c, w, scratch, &W, err);
        const int8_t *qd = q->data;
        float scale[2];
        for (int r = 0; r < 2 && !s; r++) { /* the first and last rows */
            int n = r ? N - 1 : 0;
            memcpy(&scale[r], (const char *)sc->data + 4 * (size_t)n, 4);
            for (int k = 0; k < K && !s; k++)
                if (!(fabsf(W[(size_t)n * K + k] - qd[(size_t)n * K + k] * scale[r]) <=
                      0.5f * scale[r] * 1.0001f))
                    s = gl_fail(err, GL_ERR_FORMAT,
                                "%s: '%s' row %d does not quantise this model's weights (a "
                                "stale file? convert again)",
                                path, name, n);
        }
        if (!s) {
            /* the scales may be unaligned in the mapping: copied out */
            float *sv = malloc(sizeof(float) * (size_t)N);
            if (!sv) s = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
            if (!s) memcpy(sv, sc->data, sizeof(float) * (size_t)N);
            if (!s) s = gl_kernels_pack_int8(c->kernels, key, N, K, qd, sv, err);
            if (!s) w->packed = 1;
            free(sv);
        }
        clip_source_release(c->src, w->t->data, w->t->nbytes);
        gl_st_release(&st, q->data, q->nbytes);
    }
    gl_st_close(&st);
    return s;
}

static gl_status pack_tower(gl_clip *c, const clip_tower_config *tc, const clip_layer *L,
                            gl_dtype dtype, float *scratch, gl_error *err) {
    int d = tc->hidden, in = tc->intermediate;
    gl_status s = GL_OK;
    for (int i = 0; i < tc->layers && !s; i++) {
        const float *sq[] = {L[i].q_w, L[i].k_w, L[i].v_w, L[i].o_w};
        for (int j = 0; j < 4 && !s; j++)
            s = pack_one(c, sq[j], d, d, dtype, scratch, err);
        if (!s) s = pack_one(c, L[i].fc1_w, in, d, dtype, scratch, err);
        if (!s) s = pack_one(c, L[i].fc2_w, d, in, dtype, scratch, err);
    }
    return s;
}

gl_dtype clip_tower_dtype(gl_dtype dtype, int image_tower) {
    return dtype == GL_DTYPE_INT8 && !image_tower ? GL_DTYPE_F32 : dtype;
}

static int imax(int a, int b) {
    return a > b ? a : b;
}

gl_status clip_pack(gl_clip *c, gl_dtype dtype, gl_error *err) {
    const clip_tower_config *v = &c->cfg.vision, *t = &c->cfg.text;
    if (!(c->kernels = gl_kernels_create(err)))
        return err && err->code ? err->code : GL_ERR_INTERNAL;
    gl_status s = gl_kernels_supports(c->kernels, dtype, err);
    if (s) return gl_error_prefix(err, "%s: ", c->dir);
    /* room to widen the largest weight stored F16/BF16, one at a time, never the whole model
     * (untouched, and so not resident, when all are F32) */
    size_t widest = 1;
    for (int i = 0; i < c->n_packed_src; i++)
        widest = c->packed_src[i].t->count > widest ? c->packed_src[i].t->count : widest;
    float *scratch = malloc(widest * sizeof(float));
    if (!scratch)
        return gl_fail(err, GL_ERR_NOMEM, "%s: cannot allocate %zu bytes to widen weights", c->dir,
                       widest * sizeof(float));
    int pp = v->channels * v->patch_size * v->patch_size;
    /* int8 weights quantised once by `model convert --dtype int8` are packed as stored (the
     * same packed weights as quantising here gives); whatever they do not cover is quantised */
    char stored[4200];
    snprintf(stored, sizeof stored, "%s/int8.safetensors", c->dir);
    if (dtype == GL_DTYPE_INT8 && access(stored, F_OK) == 0)
        s = pack_stored_int8(c, stored, scratch, err);
    if (!s) s = pack_tower(c, v, c->vis.layers, dtype, scratch, err);
    /* int8 is for the image tower: text embeddings are computed once per class list and cached,
     * and the small text widths lose most to 8-bit rounding (a fixture's text fell to cosine
     * 0.9987), so the text tower stays f32 there. */
    if (!s) s = pack_tower(c, t, c->txt.layers, clip_tower_dtype(dtype, 0), scratch, err);
    /* the patch embedding is the image tower's largest single GEMM (pp = 3072 inputs): it runs
     * in the tower's dtype; an 8-bit row of pixels loses little, as pixels were 8-bit to begin */
    if (!s)
        s = pack_one(c, c->vis.patch_w, v->hidden, pp, clip_tower_dtype(dtype, 1), scratch, err);
    if (!s)
        s = pack_one(c, c->vis.proj, c->cfg.projection_dim, v->hidden, GL_DTYPE_F32, scratch, err);
    if (!s)
        s = pack_one(c, c->txt.proj, c->cfg.projection_dim, t->hidden, GL_DTYPE_F32, scratch, err);
    free(scratch);
    /* the forward reads these only through their packed copies: one left unpacked would be read
     * as floats where it may be F16 bytes */
    for (int i = 0; i < c->n_packed_src && !s; i++)
        if (!c->packed_src[i].packed)
            s = gl_fail(err, GL_ERR_INTERNAL,
                        "%s: weight '%s' was bound for packing but not packed", c->dir,
                        c->packed_src[i].t->name);
    int side = v->image_size / v->patch_size;
    int max_k = imax(imax(v->intermediate, t->intermediate), imax(imax(v->hidden, t->hidden), pp));
    int max_tokens = imax(side * side + 1, GL_CLIP_CONTEXT);
    int max_hd = imax(v->hidden / v->heads, t->hidden / t->heads);
    if (!s)
        s = gl_kernels_reserve(c->kernels, c->ws.rows, max_k, max_tokens, max_hd,
                               gl_pool_threads(c->pool), err);
    if (!s) gl_pool_set_kernels(c->pool, c->kernels);
    return s;
}
