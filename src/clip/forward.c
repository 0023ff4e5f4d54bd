/* forward.c: the CLIP forward pass, top to bottom: the encoder block, the vision tower and the
 * text tower with their projections, and the batching of gl_clip_encode_images/_tokens. */
#include "clip/clip_internal.h"
#include "core/blas.h"
#include "core/vecmath.h"

#include <math.h>
#include <string.h>

/* Every step below names the reference operation: Hugging Face transformers' CLIPModel
 * (modeling_clip.py; open_clip's VisionTransformer/TextTransformer compute the same with other
 * tensor names). Shapes are in rows of the packed batch: a batch of n sequences is stored row
 * after row, sequence s in rows [offset[s], offset[s] + len[s]), so no row is padding. Every
 * buffer is the context's workspace, sized at load for max_batch inputs: nothing here allocates.
 *
 *   d   hidden size of the tower     i   intermediate (MLP) size      hd  d / heads
 *   T   vision tokens (patches + 1)  np  patches per image           pp  channels * patch^2
 *   P   projection_dim               rows  packed rows of the batch
 */

/* Tells the caller's eval callback (gl_clip_params.on_layer) what the residual stream holds. */
static void report_layer(gl_clip *c, const char *tower, int layer, const float *x, int rows, int d,
                         int n, const clip_workspace *ws) {
    if (!c->on_layer) return;
    gl_clip_layer_state st = {tower, layer, x, rows, d, n, ws->offset, ws->len};
    c->on_layer(c->ctx, &st);
}

/* out [n, d] = each sequence's pooled row of the residual stream: the only rows a tower reads
 * after its encoder, and the only rows its last layer computes (pooled_layer). */
static void gather_pooled(const clip_workspace *ws, int n, int d, float *out) {
    for (int s = 0; s < n; s++)
        memcpy(out + (size_t)s * d, ws->x + (size_t)(ws->offset[s] + ws->pooled_row[s]) * d,
               sizeof(float) * d);
}

/* The last CLIPEncoderLayer when nothing but each sequence's pooled row of its output is read
 * (ws->pooled_row, set by the tower: the class token, or the text's EOT): keys and values need
 * every row, but queries, out_proj and the MLP only the pooled rows, and rows never mix outside
 * attention, so computing those rows alone gives the same numbers (about 5/6 of the layer's work
 * saved). The pooled rows are gathered, updated, and written back into x. */
static void pooled_layer(gl_clip *c, const clip_tower_config *tc, const clip_layer *l, int n,
                         int rows, gl_attention_args att) {
    clip_workspace *ws = &c->ws;
    gl_pool *pool = c->pool;
    int d = tc->hidden, in = tc->intermediate, ldm = (int)clip_ld((size_t)in);
    float *x = ws->x, *h = ws->h;
    float *xs = ws->pooled; /* [n, d] the pooled rows of x */
    const int *prow = ws->pooled_row;
    /* layer_norm1 of every row, k_proj and v_proj of every row                    [rows, d] */
    gl_linear_op kv[2] = {{rows, d, d, h, d, l->k_w, l->k_b, ws->k, d, 0, GL_ACT_NONE},
                          {rows, d, d, h, d, l->v_w, l->v_b, ws->v, d, 0, GL_ACT_NONE}};
    gl_layer_norm_linear(pool, x, h, rows, d, l->ln1_w, l->ln1_b, tc->eps, kv, 2);
    /* the pooled rows of h (compacted in place: row offset + p is never below s) and x   [n, d] */
    for (int s = 0; s < n; s++)
        memmove(h + (size_t)s * d, h + (size_t)(ws->offset[s] + prow[s]) * d, sizeof(float) * d);
    gather_pooled(ws, n, d, xs);
    /* q_proj, attention, out_proj + residual, for the pooled rows                   [n, d] */
    gl_linear(pool, n, d, d, h, d, l->q_w, l->q_b, ws->q, d, 0, GL_ACT_NONE);
    att.query_row = prow;
    gl_attention(pool, &att);
    gl_linear(pool, n, d, d, ws->attn, d, l->o_w, l->o_b, xs, d, 1, GL_ACT_NONE);
    /* layer_norm2, fc1 + activation, fc2 + residual                                 [n, d] */
    gl_linear_op fc1 = {n, in, d, h, d, l->fc1_w, l->fc1_b, ws->mlp, ldm, 0, tc->act};
    gl_layer_norm_linear(pool, xs, h, n, d, l->ln2_w, l->ln2_b, tc->eps, &fc1, 1);
    gl_linear(pool, n, d, in, ws->mlp, ldm, l->fc2_w, l->fc2_b, xs, d, 1, GL_ACT_NONE);
    for (int s = 0; s < n; s++)
        memcpy(x + (size_t)(ws->offset[s] + prow[s]) * d, xs + (size_t)s * d, sizeof(float) * d);
}

/* HF CLIPEncoder: layers of CLIPEncoderLayer (pre-LN attention block, then pre-LN MLP block),
 * updating the residual stream ws->x [rows, d] in place. causal: the text tower's mask. Unless
 * the eval callback watches every layer, the last layer computes only the rows the tower reads
 * afterwards, ws->pooled_row (pooled_layer); the other rows of x then hold layer L-1's output. */
static void encoder(gl_clip *c, const char *tower, const clip_tower_config *tc,
                    const clip_layer *layers, int n, int rows, int causal) {
    clip_workspace *ws = &c->ws;
    gl_pool *pool = c->pool;
    int d = tc->hidden, in = tc->intermediate, hd = d / tc->heads;
    float *x = ws->x;       /* [rows, d] the residual stream */
    float *h = ws->h;       /* [rows, d] a LayerNorm's output */
    float *q = ws->q;       /* [rows, d] queries, heads side by side: head j is columns j*hd.. */
    float *k = ws->k;       /* [rows, d] keys */
    float *v = ws->v;       /* [rows, d] values */
    float *attn = ws->attn; /* [rows, d] attention output, heads concatenated */
    float *mlp = ws->mlp;   /* [rows, i] fc1 activations, row stride ldm */
    int ldm = (int)clip_ld((size_t)in);
    int max_len = 0;
    for (int s = 0; s < n; s++)
        max_len = ws->len[s] > max_len ? ws->len[s] : max_len;
    gl_attention_args att = {.q = q,
                             .k = k,
                             .v = v,
                             .out = attn,
                             .d = d,
                             .heads = tc->heads,
                             .n_seqs = n,
                             .offset = ws->offset,
                             .len = ws->len,
                             .causal = causal,
                             .scale = 1.0f / sqrtf((float)hd),
                             .scratch = ws->scores, /* [threads, max_len, max_len] */
                             .scratch_per_thread = (size_t)max_len * max_len};
    report_layer(c, tower, 0, x, rows, d, n, ws);
    int full_layers = c->on_layer || tc->layers < 1 ? tc->layers : tc->layers - 1;
    for (int li = 0; li < full_layers; li++) {
        const clip_layer *l = &layers[li];
        /* CLIPEncoderLayer.layer_norm1: h = LN(x)                                  [rows, d]
         * CLIPAttention.q_proj, k_proj, v_proj: q, k, v = h Wq^T + bq, ...        [rows, d] */
        gl_linear_op qkv[3] = {{rows, d, d, h, d, l->q_w, l->q_b, q, d, 0, GL_ACT_NONE},
                               {rows, d, d, h, d, l->k_w, l->k_b, k, d, 0, GL_ACT_NONE},
                               {rows, d, d, h, d, l->v_w, l->v_b, v, d, 0, GL_ACT_NONE}};
        gl_layer_norm_linear(pool, x, h, rows, d, l->ln1_w, l->ln1_b, tc->eps, qkv, 3);
        /* CLIPAttention: per sequence and head, softmax(q k^T * hd^-0.5 [+ causal mask]) v
         *                                                                          [rows, d] */
        gl_attention(pool, &att);
        /* CLIPAttention.out_proj, then the residual: x += attn Wo^T + bo          [rows, d] */
        gl_linear(pool, rows, d, d, attn, d, l->o_w, l->o_b, x, d, 1, GL_ACT_NONE);
        /* CLIPEncoderLayer.layer_norm2: h = LN(x)                                  [rows, d]
         * CLIPMLP.fc1 and activation_fn (quick_gelu for OpenAI's models)          [rows, i] */
        gl_linear_op fc1 = {rows, in, d, h, d, l->fc1_w, l->fc1_b, mlp, ldm, 0, tc->act};
        gl_layer_norm_linear(pool, x, h, rows, d, l->ln2_w, l->ln2_b, tc->eps, &fc1, 1);
        /* CLIPMLP.fc2, then the residual: x += mlp W2^T + b2                      [rows, d] */
        gl_linear(pool, rows, d, in, mlp, ldm, l->fc2_w, l->fc2_b, x, d, 1, GL_ACT_NONE);
        report_layer(c, tower, li + 1, x, rows, d, n, ws);
    }
    if (full_layers < tc->layers) pooled_layer(c, tc, &layers[full_layers], n, rows, att);
}

/* ------------------------------------------------------------------ vision tower */

typedef struct {
    const float *pixels; /* [n, c, S, S] */
    float *patches;      /* [n * np, pp], row stride ld */
    int size, patch, side, channels, ld;
} im2col_job;

/* One image's patches as rows, in the conv's output order (patch row, then patch column), each
 * row in the kernel's [channel][ky][kx] order, so the conv becomes one GEMM. */
static void im2col_task(void *ctx, int image, int thread) {
    (void)thread;
    const im2col_job *j = ctx;
    int P = j->patch, S = j->size;
    const float *img = j->pixels + (size_t)image * j->channels * S * S;
    float *out = j->patches + (size_t)image * j->side * j->side * j->ld;
    for (int py = 0; py < j->side; py++)
        for (int px = 0; px < j->side; px++) {
            float *row = out + ((size_t)py * j->side + px) * j->ld;
            for (int ch = 0; ch < j->channels; ch++)
                for (int ky = 0; ky < P; ky++)
                    memcpy(row + ((size_t)ch * P + ky) * P,
                           img + ((size_t)ch * S + (size_t)py * P + ky) * S + (size_t)px * P,
                           sizeof(float) * P);
        }
}

/* HF CLIPVisionTransformer + CLIPModel.visual_projection (get_image_features) for n <= max_batch
 * images. pixels: [n, c, S, S] from gl_preprocess; out: [n, P]. */
static void vision_forward(gl_clip *c, const float *pixels, int n, float *out) {
    const clip_tower_config *vc = &c->cfg.vision;
    const clip_vision_weights *w = &c->vis;
    clip_workspace *ws = &c->ws;
    gl_pool *pool = c->pool;
    int d = vc->hidden, side = vc->image_size / vc->patch_size, np = side * side, T = np + 1;
    int pp = vc->channels * vc->patch_size * vc->patch_size, P = c->cfg.projection_dim;
    float *patches = ws->patches; /* [n * np, pp], row stride ldp */
    int ldp = (int)clip_ld((size_t)pp);
    float *emb = ws->h;         /* [n * np, d] patch embeddings */
    float *x = ws->x;           /* [n * T, d] the residual stream, T rows per image */
    float *cls = ws->h;         /* [n, d] each image's class token (emb is consumed by then) */
    float *pooled = ws->pooled; /* [n, d] */

    /* CLIPVisionEmbeddings.patch_embedding, Conv2d(c, d, kernel=stride=patch, no bias): patches
     * as rows (im2col), then emb = patches Wpatch^T                         [n * np, d] */
    im2col_job ij = {pixels, patches, vc->image_size, vc->patch_size, side, vc->channels, ldp};
    gl_pool_run(pool, n, im2col_task, &ij);
    gl_linear(pool, n * np, d, pp, patches, ldp, w->patch_w, NULL, emb, d, 0, GL_ACT_NONE);
    /* CLIPVisionEmbeddings: [class_embedding; emb] + position_embedding       [n * T, d] */
    for (int b = 0; b < n; b++) {
        float *xb = x + (size_t)b * T * d;
        for (int e = 0; e < d; e++)
            xb[e] = w->class_emb[e] + w->pos_emb[e];
        for (int t = 1; t < T; t++) {
            const float *pe = emb + ((size_t)b * np + t - 1) * d, *pos = w->pos_emb + (size_t)t * d;
            for (int e = 0; e < d; e++)
                xb[(size_t)t * d + e] = pe[e] + pos[e];
        }
        ws->offset[b] = b * T;
        ws->len[b] = T;
        ws->pooled_row[b] = 0; /* the class token */
    }
    /* CLIPVisionTransformer.pre_layrnorm (sic), in place                        [n * T, d] */
    gl_layer_norm(pool, x, x, n * T, d, w->pre_ln_w, w->pre_ln_b, vc->eps);
    /* CLIPVisionTransformer.encoder: bidirectional attention within each image [n * T, d] */
    encoder(c, "vision", vc, w->layers, n, n * T, 0);
    /* pooler_output = post_layernorm(last_hidden_state[:, 0]): the class token      [n, d] */
    gather_pooled(ws, n, d, cls);
    gl_layer_norm(pool, cls, pooled, n, d, w->post_ln_w, w->post_ln_b, vc->eps);
    /* CLIPModel.visual_projection, no bias: out = pooled Wproj^T                      [n, P] */
    gl_linear(pool, n, P, d, pooled, d, w->proj, NULL, out, P, 0, GL_ACT_NONE);
}

/* ------------------------------------------------------------------ text tower */

/* HF CLIPTextTransformer's pooling rule: eos_token_id 2 (configs before transformers 4.31) takes
 * the position of the largest id (EOT is the vocabulary's last entry), otherwise the first
 * position holding eos_token_id (0 when there is none, as argmax over all-false gives). */
static int pooled_position(const int32_t *ids, int eos) {
    int at = 0;
    for (int t = 1; t < GL_CLIP_CONTEXT; t++) {
        if (eos == 2 ? ids[t] > ids[at] : ids[at] != eos && ids[t] == eos) at = t;
    }
    return at;
}

/* Every id inside the vocabulary and every pooled position inside the position table, checked
 * before any work; fills the packed layout: text b gets rows up to its pooled position only, as
 * the causal mask keeps later rows from influencing it. Returns the packed row count. */
static gl_status text_layout(gl_clip *c, const int32_t *ids, int n, int *rows, gl_error *err) {
    const clip_tower_config *tc = &c->cfg.text;
    clip_workspace *ws = &c->ws;
    *rows = 0;
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
        ws->offset[b] = *rows;
        ws->len[b] = len;
        ws->pooled_row[b] = len - 1;
        *rows += len;
    }
    return GL_OK;
}

/* HF CLIPTextTransformer + CLIPModel.text_projection (get_text_features) for n <= max_batch
 * texts. ids: [n, 77] from the tokenizer; out: [n, P]. */
static gl_status text_forward(gl_clip *c, const int32_t *ids, int n, float *out, gl_error *err) {
    const clip_tower_config *tc = &c->cfg.text;
    const clip_text_weights *w = &c->txt;
    clip_workspace *ws = &c->ws;
    int d = tc->hidden, P = c->cfg.projection_dim, rows;
    gl_status s = text_layout(c, ids, n, &rows, err);
    if (s) return s;
    float *x = ws->x;           /* [rows, d] the residual stream, len[b] rows per text */
    float *eot = ws->h;         /* [n, d] each text's pooled row */
    float *pooled = ws->pooled; /* [n, d] */

    /* CLIPTextEmbeddings: token_embedding[ids] + position_embedding             [rows, d] */
    for (int b = 0; b < n; b++) {
        const int32_t *row = ids + (size_t)b * GL_CLIP_CONTEXT;
        for (int t = 0; t < ws->len[b]; t++) {
            const float *pos = w->pos_emb + (size_t)t * d;
            float *xr = x + (size_t)(ws->offset[b] + t) * d;
            clip_token_row(w, row[t], d, xr); /* the stored row, widened exactly if half */
            for (int e = 0; e < d; e++)
                xr[e] += pos[e];
        }
    }
    /* CLIPTextTransformer.encoder with the causal mask                            [rows, d] */
    encoder(c, "text", tc, w->layers, n, rows, 1);
    /* final_layer_norm, then pooling at each text's EOT. LayerNorm works row by row, so taking
     * the pooled row first gives the same numbers for one row instead of rows     [n, d] */
    gather_pooled(ws, n, d, eot);
    gl_layer_norm(c->pool, eot, pooled, n, d, w->final_ln_w, w->final_ln_b, tc->eps);
    /* CLIPModel.text_projection, no bias: out = pooled Wproj^T                        [n, P] */
    gl_linear(c->pool, n, P, d, pooled, d, w->proj, NULL, out, P, 0, GL_ACT_NONE);
    return GL_OK;
}

/* ------------------------------------------------------------------ batching */

/* The numbers check: an embedding holding NaN or an infinity (from weights that slipped through,
 * or an overflow) would turn every score of its row into NaN; it is an error naming the input
 * (names[k], else its position in the call). */
static gl_status check_embeddings(const gl_clip *c, const float *e, int first, int n,
                                  const char *const *names, int image, gl_error *err) {
    size_t P = (size_t)c->cfg.projection_dim;
    for (int k = 0; k < n; k++)
        if (gl_first_nonfinite(e + P * k, P) >= 0) {
            if (names)
                return gl_fail(err, GL_ERR_FORMAT, "%s: its embedding holds NaN or an infinity",
                               names[first + k]);
            return gl_fail(err, GL_ERR_FORMAT, "%s %d: its embedding holds NaN or an infinity",
                           image ? "image" : "text", first + k);
        }
    return GL_OK;
}

/* One forward per max_batch chunk. Our pool splits every GEMM, so BLAS's own threads would only
 * compete with it: BLAS runs single-threaded for the call, and the caller's setting comes back. */
static gl_status encode_chunks(gl_clip *c, const float *pixels, const int32_t *ids, int n,
                               float *embeds, const char *const *names, gl_error *err) {
    size_t per_image = (size_t)3 * c->cfg.vision.image_size * c->cfg.vision.image_size;
    int blas_threads = gl_blas_get_threads();
    gl_blas_set_threads(1);
    gl_status s = GL_OK;
    for (int i = 0; i < n && !s; i += c->max_batch) {
        int b = n - i < c->max_batch ? n - i : c->max_batch;
        float *out = embeds + (size_t)c->cfg.projection_dim * i;
        if (pixels)
            vision_forward(c, pixels + per_image * i, b, out);
        else
            s = text_forward(c, ids + (size_t)GL_CLIP_CONTEXT * i, b, out, err);
        /* a GEMM that could not run left NaN rows: its own error, not the NaN check's */
        if (!s && gl_kernels_take_failure(c->kernels, err))
            s = gl_error_prefix(err, "%s: ", c->dir);
        if (!s) s = check_embeddings(c, out, i, b, names, pixels != NULL, err);
    }
    gl_blas_set_threads(blas_threads);
    return s;
}

gl_status gl_clip_encode_images(gl_clip *c, const float *pixels, int n, float *embeds,
                                gl_error *err) {
    return encode_chunks(c, pixels, NULL, n, embeds, NULL, err);
}

gl_status clip_encode_images_named(gl_clip *c, const float *pixels, int n, float *embeds,
                                   const char *const *names, gl_error *err) {
    return encode_chunks(c, pixels, NULL, n, embeds, names, err);
}

gl_status gl_clip_encode_tokens(gl_clip *c, const int32_t *ids, int n, float *embeds,
                                gl_error *err) {
    return encode_chunks(c, NULL, ids, n, embeds, NULL, err);
}
