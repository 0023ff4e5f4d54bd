/* embed.c: inputs to embeddings for a loaded model: image files decoded and preprocessed in
 * parallel, and texts tokenized, then both through the towers max_batch at a time. */
#include "clip/clip_internal.h"

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
        if (!s)
            s = clip_encode_images_named(c, d.pixels, b, embeds + (size_t)P * i, paths + i, err);
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
