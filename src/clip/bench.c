/* bench.c: gl_clip_bench, the towers timed alone on fixed synthetic inputs (no decoding or
 * preprocessing) so `geolabel bench` and bench/peers.sh compare engines on the same work. */
#include "clip/clip_internal.h"

#include <stdlib.h>

const char *gl_clip_isa(const gl_clip *c) {
    return gl_kernels_isa(c->kernels);
}

gl_dtype gl_clip_dtype(const gl_clip *c, int image_tower) {
    return clip_tower_dtype(c->dtype, image_tower);
}

int gl_clip_threads(const gl_clip *c) {
    return gl_pool_threads(c->pool);
}

gl_status gl_clip_bench(gl_clip *c, int image_tower, int batch, int tokens, int runs,
                        double *ms_per_item, gl_error *err) {
    if (batch < 1 || batch > c->max_batch)
        return gl_fail(err, GL_ERR_ARG,
                       "bench: batch %d is outside 1..%d (the context's max_batch)", batch,
                       c->max_batch);
    if (tokens < 2 || tokens > GL_CLIP_CONTEXT || runs < 1 || runs > 100000)
        return gl_fail(err, GL_ERR_ARG, "bench: tokens must be 2..%d and runs 1..100000",
                       GL_CLIP_CONTEXT);
    size_t S = (size_t)c->cfg.vision.image_size, P = (size_t)c->cfg.projection_dim;
    size_t npix = image_tower ? 3 * S * S * (size_t)batch : 0;
    float *pixels = malloc(sizeof(float) * (npix ? npix : 1)),
          *out = malloc(sizeof(float) * P * batch);
    int32_t *ids = calloc((size_t)batch * GL_CLIP_CONTEXT, sizeof(int32_t));
    if (!pixels || !out || !ids) {
        free(pixels), free(out), free(ids);
        return gl_fail(err, GL_ERR_NOMEM, "bench: out of memory");
    }
    uint32_t x = 12345; /* xorshift: the same noise on every machine */
    for (size_t i = 0; i < npix; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        pixels[i] = (float)(x >> 8) / (float)(1 << 24) * 4.0f - 2.0f;
    }
    int vocab = c->cfg.text.vocab_size;
    for (int b = 0; b < batch; b++) {
        int32_t *r = ids + (size_t)b * GL_CLIP_CONTEXT;
        r[0] = GL_CLIP_SOT < vocab ? GL_CLIP_SOT : vocab - 2;
        for (int t = 1; t < tokens - 1; t++)
            r[t] = (320 + (b * 7 + t) % 1000) % (vocab - 2);
        r[tokens - 1] = GL_CLIP_EOT < vocab ? GL_CLIP_EOT : vocab - 1;
    }
    gl_status s = GL_OK;
    for (int r = -1; r < runs && !s; r++) {
        double t0 = gl_now_seconds();
        s = image_tower ? gl_clip_encode_images(c, pixels, batch, out, err)
                        : gl_clip_encode_tokens(c, ids, batch, out, err);
        if (r >= 0) ms_per_item[r] = (gl_now_seconds() - t0) * 1000.0 / batch;
    }
    free(pixels);
    free(out);
    free(ids);
    return s;
}
