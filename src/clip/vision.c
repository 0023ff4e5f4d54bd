/* vision.c: the CLIP vision tower (HF CLIPVisionTransformer + visual_projection) over a batch:
 * patch conv as one GEMM, class token and positions, pre-LN, encoder, post-LN on token 0. */
#include "clip/clip_internal.h"

#include <string.h>

typedef struct {
    const float *pixels;
    float *patches;
    int size, patch, side, channels;
} im2col_job;

/* Rows follow the conv's output order (patch row, patch column); columns the kernel's [c][ky][kx].
 */
static void im2col_task(void *ctx, int image, int thread) {
    (void)thread;
    const im2col_job *j = ctx;
    int P = j->patch, S = j->size, pp = j->channels * P * P;
    const float *img = j->pixels + (size_t)image * j->channels * S * S;
    float *out = j->patches + (size_t)image * j->side * j->side * pp;
    for (int py = 0; py < j->side; py++)
        for (int px = 0; px < j->side; px++) {
            float *row = out + ((size_t)py * j->side + px) * pp;
            for (int ch = 0; ch < j->channels; ch++)
                for (int ky = 0; ky < P; ky++)
                    memcpy(row + ((size_t)ch * P + ky) * P,
                           img + ((size_t)ch * S + (size_t)py * P + ky) * S + (size_t)px * P,
                           sizeof(float) * P);
        }
}

gl_status clip_vision_forward(gl_clip *c, const float *pixels, int n, float *out, gl_error *err) {
    (void)err;
    const clip_tower_config *v = &c->cfg.vision;
    const clip_vision_weights *w = &c->vis;
    clip_workspace *ws = &c->ws;
    int d = v->hidden, side = v->image_size / v->patch_size, np = side * side, T = np + 1;
    int pp = v->channels * v->patch_size * v->patch_size;
    im2col_job ij = {pixels, ws->patches, v->image_size, v->patch_size, side, v->channels};
    gl_pool_run(c->pool, n, im2col_task, &ij);
    gl_linear(c->pool, n * np, d, pp, ws->patches, pp, w->patch_w, NULL, ws->h, d, 0, GL_ACT_NONE);
    for (int b = 0; b < n; b++) {
        float *x = ws->x + (size_t)b * T * d;
        for (int i = 0; i < d; i++)
            x[i] = w->class_emb[i] + w->pos_emb[i];
        for (int t = 1; t < T; t++) {
            const float *e = ws->h + ((size_t)b * np + t - 1) * d,
                        *pos = w->pos_emb + (size_t)t * d;
            float *xr = x + (size_t)t * d;
            for (int i = 0; i < d; i++)
                xr[i] = e[i] + pos[i];
        }
        ws->offset[b] = b * T;
        ws->len[b] = T;
    }
    gl_layer_norm(c->pool, ws->x, ws->x, n * T, d, w->pre_ln_w, w->pre_ln_b, v->eps);
    clip_seqs seqs = {n, ws->offset, ws->len, 0};
    clip_encoder(c, v, w->layers, &seqs, n * T);
    for (int b = 0; b < n; b++)
        memcpy(ws->h + (size_t)b * d, ws->x + (size_t)b * T * d, sizeof(float) * d);
    gl_layer_norm(c->pool, ws->h, ws->pooled, n, d, w->post_ln_w, w->post_ln_b, v->eps);
    gl_linear(c->pool, n, c->cfg.projection_dim, d, ws->pooled, d, w->proj, NULL, out,
              c->cfg.projection_dim, 0, GL_ACT_NONE);
    return GL_OK;
}
