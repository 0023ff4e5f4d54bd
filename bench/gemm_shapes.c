/* gemm_shapes.c: times one linear layer of each ViT-B/32 shape on one thread, packed kernels vs
 * OpenBLAS on the unpacked weight (min of N, GFLOP/s), for choosing the GEMM per shape. Not a test.
 * Usage: gemm_shapes [f32|bf16|int8] [REPS] */
#include "core/kernels.h"
#include "core/pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    gl_dtype dt = argc > 1 && !strcmp(argv[1], "bf16")   ? GL_DTYPE_BF16
                  : argc > 1 && !strcmp(argv[1], "int8") ? GL_DTYPE_INT8
                                                         : GL_DTYPE_F32;
    int reps = argc > 2 ? atoi(argv[2]) : 5;
    static const int shapes[][3] = {{400, 768, 768},  {400, 3072, 768}, {400, 768, 3072},
                                    {50, 768, 768},   {50, 3072, 768},  {50, 768, 3072},
                                    {8, 2048, 512},   {77, 2048, 512},  {392, 768, 3072}};
    gl_error err = {0};
    gl_pool *pool = gl_pool_create(1, &err);
    gl_blas_set_threads(1);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *A = malloc(sizeof(float) * M * K), *W = malloc(sizeof(float) * N * K),
              *C = malloc(sizeof(float) * M * N), *bias = calloc(N, sizeof(float));
        for (long i = 0; i < (long)M * K; i++) A[i] = (float)rand() / RAND_MAX - 0.5f;
        for (long i = 0; i < (long)N * K; i++) W[i] = (float)rand() / RAND_MAX - 0.5f;
        gl_kernels *k = gl_kernels_create(&err);
        if (!k || gl_kernels_pack(k, W, N, K, dt, &err) ||
            gl_kernels_reserve(k, M, K, 77, 64, 1, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        double best[2] = {1e9, 1e9};
        for (int r = 0; r < reps; r++)
            for (int which = 0; which < 2; which++) {
                gl_pool_set_kernels(pool, which ? NULL : k);
                double t0 = now();
                gl_linear(pool, M, N, K, A, K, W, bias, C, N, 0, GL_ACT_NONE);
                double t = now() - t0;
                if (t < best[which]) best[which] = t;
            }
        double gf = 2.0 * M * N * K * 1e-9;
        printf("M=%4d N=%4d K=%4d  packed %s %6.1f GFLOP/s   openblas %6.1f GFLOP/s\n", M, N, K,
               gl_dtype_name(dt), gf / best[0], gf / best[1]);
        gl_kernels_free(k);
        free(A), free(W), free(C), free(bias);
    }
    gl_pool_free(pool);
    return 0;
}
