/* embed.c: what the embed and classify commands do with a loaded model: image files to
 * embeddings in batches, whole-image zero-shot probabilities, and the classify CSV. */
#include "core/blas.h"
#include "clip/clip_internal.h"
#include "label/label.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const gl_preproc_config *preproc;
    const char *const *paths;
    float *pixels; /* [b,3,S,S] */
    size_t per_image;
    gl_status *status;
    gl_error *errors;
} decode_job;

/* Decoding and PIL-exact resizing cost about as much as a forward pass, so the pool runs them one
 * image per task (GDAL handles separate datasets, and its error state, per thread). */
static void decode_task(void *ctx, int j, int thread) {
    (void)thread;
    const decode_job *d = ctx;
    gl_image *img = gl_image_load(d->paths[j], &d->errors[j]);
    d->status[j] = img ? GL_OK : d->errors[j].code;
    if (!d->status[j])
        d->status[j] = gl_preprocess(d->preproc, img, d->pixels + d->per_image * j, &d->errors[j]);
    gl_image_free(img);
}

gl_status gl_clip_encode_image_files(gl_clip *c, const char *const *paths, int n, float *embeds,
                                     gl_error *err) {
    int S = c->cfg.vision.image_size, P = c->cfg.projection_dim;
    decode_job d = {&c->preproc, NULL, NULL, (size_t)3 * S * S, NULL, NULL};
    d.pixels = malloc(d.per_image * (size_t)c->max_batch * sizeof(float));
    d.status = calloc((size_t)c->max_batch, sizeof *d.status);
    d.errors = calloc((size_t)c->max_batch, sizeof *d.errors);
    gl_status s = d.pixels && d.status && d.errors
                      ? GL_OK
                      : gl_fail(err, GL_ERR_NOMEM, "%s: cannot allocate image batch", c->dir);
    for (int i = 0; i < n && !s; i += c->max_batch) {
        int b = n - i < c->max_batch ? n - i : c->max_batch;
        d.paths = paths + i;
        gl_pool_run(c->pool, b, decode_task, &d);
        for (int j = 0; j < b && !s; j++) /* the first failure in input order */
            if ((s = d.status[j]) && err) *err = d.errors[j];
        if (!s) s = gl_clip_encode_images(c, d.pixels, b, embeds + (size_t)P * i, err);
    }
    free(d.pixels);
    free(d.status);
    free(d.errors);
    return s;
}

/* The tokenizer's output goes to the workspace's id rows, max_batch texts at a time. */
gl_status gl_clip_encode_texts(gl_clip *c, const char *const *texts, int n, float *embeds,
                               gl_error *err) {
    for (int i = 0; i < n; i += c->max_batch) {
        int b = n - i < c->max_batch ? n - i : c->max_batch;
        for (int j = 0; j < b; j++) {
            gl_status s = gl_tokenizer_encode(c->tok, texts[i + j],
                                              c->ws.ids + (size_t)GL_CLIP_CONTEXT * j, NULL, err);
            if (s) return s;
        }
        gl_status s =
            gl_clip_encode_tokens(c, c->ws.ids, b, embeds + (size_t)c->cfg.projection_dim * i, err);
        if (s) return s;
    }
    return GL_OK;
}

gl_status gl_classify_zeroshot(gl_clip *c, const float *image_embeds, int n,
                               const char *const *classes, int n_classes, const char *template,
                               float *probs, gl_error *err) {
    if (!template) template = "a photo of {}.";
    if (!strstr(template, "{}"))
        return gl_fail(err, GL_ERR_ARG, "template '%s' has no {} for the class name", template);
    int P = c->cfg.projection_dim;
    char **prompts = calloc((size_t)n_classes, sizeof *prompts);
    float *text = malloc(sizeof(float) * (size_t)n_classes * P),
          *img = malloc(sizeof(float) * (size_t)(n ? n : 1) * P);
    gl_status s =
        prompts && text && img ? GL_OK : gl_fail(err, GL_ERR_NOMEM, "zero-shot: out of memory");
    for (int k = 0; k < n_classes && !s; k++)
        if (!(prompts[k] = gl_zs_prompt(template, NULL, classes[k])))
            s = gl_fail(err, GL_ERR_NOMEM, "zero-shot: out of memory");
    if (!s) s = gl_clip_encode_texts(c, (const char *const *)prompts, n_classes, text, err);
    if (!s) {
        memcpy(img, image_embeds, sizeof(float) * (size_t)n * P);
        gl_l2_normalize_rows(img, n, P);
        gl_l2_normalize_rows(text, n_classes, P);
        gl_sgemm_nt(n, n_classes, P, c->logit_scale, img, P, text, P, 0.0f, probs, n_classes);
        gl_softmax_rows(probs, n, n_classes);
    }
    for (int k = 0; prompts && k < n_classes; k++)
        free(prompts[k]);
    free(prompts);
    free(text);
    free(img);
    return s;
}

/* Indices of the k largest of row, best first; ties keep class order. */
static void top_indices(const float *row, int n, int k, int *out) {
    for (int i = 0; i < k; i++) {
        int best = -1;
        for (int j = 0; j < n; j++) {
            int taken = 0;
            for (int t = 0; t < i && !taken; t++)
                taken = out[t] == j;
            if (!taken && (best < 0 || row[j] > row[best])) best = j;
        }
        out[i] = best;
    }
}

void gl_classify_write_csv(FILE *fp, const char *const *filenames, const float *probs, int n,
                           const char *const *classes, int n_classes, int top_k) {
    if (top_k > n_classes) top_k = n_classes;
    if (top_k < 1) top_k = 1;
    int *idx = malloc(sizeof(int) * (size_t)top_k);
    size_t cap = 64;
    for (int k = 0; k < n_classes; k++)
        cap += strlen(classes[k]) + 16;
    char *list = malloc(cap);
    fputs("filename,label,score,top_k\n", fp);
    for (int i = 0; idx && list && i < n; i++) {
        const float *row = probs + (size_t)i * n_classes;
        top_indices(row, n_classes, top_k, idx);
        size_t len = 0;
        list[0] = 0;
        for (int t = 0; t < top_k; t++)
            len += (size_t)snprintf(list + len, cap - len, "%s%s:%.6f", t ? ";" : "",
                                    classes[idx[t]], row[idx[t]]);
        char score[32];
        snprintf(score, sizeof score, "%.6f", row[idx[0]]);
        gl_csv_write_field(fp, filenames[i]);
        fputc(',', fp);
        gl_csv_write_field(fp, classes[idx[0]]);
        fputc(',', fp);
        gl_csv_write_field(fp, score);
        fputc(',', fp);
        gl_csv_write_field(fp, list);
        fputc('\n', fp);
    }
    free(idx);
    free(list);
}
