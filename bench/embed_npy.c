/* embed_npy.c: geolabel's embeddings of raw tower inputs (pixels [N,3,S,S] float32, or token ids
 * [N,77] int32) from .npy to .npy, so bench/peers.sh can check ONNX Runtime's outputs against
 * ours on the same input. Not a test.
 * Usage: embed_npy MODEL image|text IN.npy OUT.npy THREADS [f32|bf16|int8] */
#include "geolabel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc != 6 && argc != 7) {
        fprintf(stderr, "usage: embed_npy MODEL image|text IN.npy OUT.npy THREADS [DTYPE]\n");
        return 2;
    }
    gl_error err = {0};
    gl_npy *in = gl_npy_load(argv[3], &err);
    if (!in) return fprintf(stderr, "embed_npy: %s\n", err.msg), 1;
    int n = (int)in->shape[0], image = !strcmp(argv[2], "image");
    gl_clip_params p = gl_clip_default_params();
    p.threads = atoi(argv[5]);
    p.max_batch = n;
    if (argc == 7) p.dtype = !strcmp(argv[6], "int8") ? GL_DTYPE_INT8 : !strcmp(argv[6], "bf16") ? GL_DTYPE_BF16 : GL_DTYPE_F32;
    gl_clip *c = gl_clip_load(argv[1], &p, &err);
    if (!c) return fprintf(stderr, "embed_npy: %s\n", err.msg), 1;
    int P = gl_clip_projection_dim(c);
    float *out = malloc(sizeof(float) * (size_t)n * P);
    gl_status s = image ? gl_clip_encode_images(c, in->data, n, out, &err)
                        : gl_clip_encode_tokens(c, in->data, n, out, &err);
    int64_t shape[2] = {n, P};
    if (!s) s = gl_npy_write_f32(argv[4], out, shape, 2, &err);
    if (s) fprintf(stderr, "embed_npy: %s\n", err.msg);
    free(out);
    gl_npy_free(in);
    gl_clip_free(c);
    return s ? 1 : 0;
}
