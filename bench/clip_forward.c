/* clip_forward.c: times the CLIP towers alone (no decoding or preprocessing) for bench_clip.sh:
 * median wall and process-CPU milliseconds per image or text over several runs, after a warm-up.
 * CPU time stays meaningful on a shared, loaded machine; wall time is what a user waits. */
#include "core/blas.h" /* gl_blas_reexec_if_needed, private since the API cleanup */
#include "geolabel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    gl_blas_reexec_if_needed(argv);
    if (argc != 7) {
        fprintf(stderr, "usage: clip_forward MODEL image|text BATCH THREADS TOKENS RUNS\n");
        return 2;
    }
    const char *model = argv[1], *mode = argv[2];
    int batch = atoi(argv[3]), threads = atoi(argv[4]), tokens = atoi(argv[5]), runs = atoi(argv[6]);
    gl_clip_params p = gl_clip_default_params();
    p.threads = threads;
    p.max_batch = batch;
    gl_error err = {0};
    gl_clip *c = gl_clip_load(model, &p, &err);
    if (!c) {
        fprintf(stderr, "clip_forward: %s\n", err.msg);
        return 1;
    }
    int S = gl_clip_image_size(c), P = gl_clip_projection_dim(c);
    float *pixels = malloc(sizeof(float) * 3 * S * S * (size_t)batch), *out = malloc(sizeof(float) * P * (size_t)batch);
    int32_t *ids = calloc((size_t)batch * GL_CLIP_CONTEXT, sizeof(int32_t));
    srand(1);
    for (size_t i = 0; i < (size_t)3 * S * S * batch; i++) pixels[i] = (float)rand() / RAND_MAX * 4 - 2;
    for (int b = 0; b < batch; b++) {
        int32_t *r = ids + (size_t)b * GL_CLIP_CONTEXT;
        r[0] = GL_CLIP_SOT;
        for (int t = 1; t < tokens - 1; t++) r[t] = 320 + (b * 7 + t) % 1000;
        r[tokens - 1] = GL_CLIP_EOT;
    }
    double *ms = malloc(sizeof(double) * (size_t)(runs + 1)), *cpu = malloc(sizeof(double) * (size_t)(runs + 1));
    for (int r = 0; r <= runs; r++) {
        double t0 = gl_now_seconds(), c0 = cpu_seconds();
        gl_status s = !strcmp(mode, "image") ? gl_clip_encode_images(c, pixels, batch, out, &err)
                                             : gl_clip_encode_tokens(c, ids, batch, out, &err);
        if (s) {
            fprintf(stderr, "clip_forward: %s\n", err.msg);
            return 1;
        }
        ms[r] = (gl_now_seconds() - t0) * 1000.0 / batch;
        cpu[r] = (cpu_seconds() - c0) * 1000.0 / batch;
    }
    qsort(ms + 1, (size_t)runs, sizeof(double), cmp_double); /* run 0 was the warm-up */
    qsort(cpu + 1, (size_t)runs, sizeof(double), cmp_double);
    printf("%.2f %.2f\n", ms[1 + runs / 2], cpu[1 + runs / 2]);
    /* the first embedding, for a cross-check against PyTorch on the same input */
    if (getenv("CLIP_FORWARD_DUMP")) {
        FILE *fp = fopen(getenv("CLIP_FORWARD_DUMP"), "wb");
        fwrite(out, sizeof(float), (size_t)P * batch, fp);
        fclose(fp);
    }
    free(ms);
    free(cpu);
    free(pixels);
    free(out);
    free(ids);
    gl_clip_free(c);
    return 0;
}
