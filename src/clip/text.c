/* text.c: the CLIP text tower (HF CLIPTextTransformer + text_projection). Thanks to the causal
 * mask, rows after the pooled position never influence it, so each text runs only that far. */
#include "clip/clip_internal.h"

#include <string.h>

/* HF's pooling rule: eos_token_id 2 (old configs) takes the largest id's position, otherwise the
 * first position holding eos_token_id (0 when there is none, as argmax over all-false gives). */
static int pooled_position(const int32_t *ids, int eos) {
    int at = 0;
    for (int t = 1; t < GL_CLIP_CONTEXT; t++) {
        if (eos == 2 ? ids[t] > ids[at] : ids[at] != eos && ids[t] == eos) at = t;
    }
    return at;
}

gl_status clip_text_forward(gl_clip *c, const int32_t *ids, int n, float *out, gl_error *err) {
    const clip_tower_config *tc = &c->cfg.text;
    const clip_text_weights *w = &c->txt;
    clip_workspace *ws = &c->ws;
    int d = tc->hidden, rows = 0;
    for (int b = 0; b < n; b++) {
        const int32_t *row = ids + (size_t)b * GL_CLIP_CONTEXT;
        for (int t = 0; t < GL_CLIP_CONTEXT; t++)
            if (row[t] < 0 || row[t] >= tc->vocab_size)
                return gl_fail(
                    err, GL_ERR_ARG,
                    "text %d: token id %d at position %d is outside the %d-entry vocabulary", b,
                    row[t], t, tc->vocab_size);
        int len = pooled_position(row, tc->eos_token_id) + 1;
        if (len > tc->max_positions)
            return gl_fail(err, GL_ERR_ARG, "text %d: %d tokens exceed max_position_embeddings %d",
                           b, len, tc->max_positions);
        ws->offset[b] = rows;
        ws->len[b] = len;
        for (int t = 0; t < len; t++) {
            const float *tok = w->tok_emb + (size_t)row[t] * d, *pos = w->pos_emb + (size_t)t * d;
            float *x = ws->x + (size_t)(rows + t) * d;
            for (int i = 0; i < d; i++)
                x[i] = tok[i] + pos[i];
        }
        rows += len;
    }
    clip_seqs seqs = {n, ws->offset, ws->len, 1};
    clip_encoder(c, tc, w->layers, &seqs, rows);
    for (int b = 0; b < n; b++)
        memcpy(ws->h + (size_t)b * d, ws->x + (size_t)(ws->offset[b] + ws->len[b] - 1) * d,
               sizeof(float) * d);
    gl_layer_norm(c->pool, ws->h, ws->pooled, n, d, w->final_ln_w, w->final_ln_b, tc->eps);
    gl_linear(c->pool, n, c->cfg.projection_dim, d, ws->pooled, d, w->proj, NULL, out,
              c->cfg.projection_dim, 0, GL_ACT_NONE);
    return GL_OK;
}
