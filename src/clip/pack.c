/* pack.c: the model's weights packed once at load for the kernels the CPU runs (clip/forward's
 * linear layers look them up): encoder layers in the chosen dtype, patch embedding and
 * projections in f32, plus the kernels' scratch sized for the workspace. */
#include "clip/clip_internal.h"

static gl_status pack_tower(gl_kernels *k, const clip_tower_config *tc, const clip_layer *L,
                            gl_dtype dtype, gl_error *err) {
    int d = tc->hidden, in = tc->intermediate;
    gl_status s = GL_OK;
    for (int i = 0; i < tc->layers && !s; i++) {
        const float *sq[] = {L[i].q_w, L[i].k_w, L[i].v_w, L[i].o_w};
        for (int j = 0; j < 4 && !s; j++)
            s = gl_kernels_pack(k, sq[j], d, d, dtype, err);
        if (!s) s = gl_kernels_pack(k, L[i].fc1_w, in, d, dtype, err);
        if (!s) s = gl_kernels_pack(k, L[i].fc2_w, d, in, dtype, err);
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
    int pp = v->channels * v->patch_size * v->patch_size;
    if (!s) s = pack_tower(c->kernels, v, c->vis.layers, dtype, err);
    /* int8 is for the image tower: text embeddings are computed once per class list and cached,
     * and the small text widths lose most to 8-bit rounding (a fixture's text fell to cosine
     * 0.9987), so the text tower stays f32 there. */
    if (!s) s = pack_tower(c->kernels, t, c->txt.layers, clip_tower_dtype(dtype, 0), err);
    if (!s) s = gl_kernels_pack(c->kernels, c->vis.patch_w, v->hidden, pp, GL_DTYPE_F32, err);
    if (!s)
        s = gl_kernels_pack(c->kernels, c->vis.proj, c->cfg.projection_dim, v->hidden, GL_DTYPE_F32,
                            err);
    if (!s)
        s = gl_kernels_pack(c->kernels, c->txt.proj, c->cfg.projection_dim, t->hidden, GL_DTYPE_F32,
                            err);
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
