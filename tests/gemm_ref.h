/* gemm_ref.h: what the GEMM tests share: seeded uniform noise, a GEMM's inputs from it, and each
 * activation in double precision, the reference the kernels are held to. */
#ifndef GEOLABEL_TEST_GEMM_REF_H
#define GEOLABEL_TEST_GEMM_REF_H

#include "core/kernels.h"

#include <math.h>

static inline float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 65536.0f - 0.5f;
}

static inline double act_ref(gl_act act, double x) {
    switch (act) {
    case GL_ACT_QUICK_GELU:
        return x / (1.0 + exp(-1.702 * x));
    case GL_ACT_GELU:
        return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case GL_ACT_GELU_TANH:
        return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    default:
        return x;
    }
}

/* A GEMM's inputs from seed: A [M,K] in [-1, 1), W [N,K] and bias [N] in [-0.5, 0.5). */
static inline void fill_gemm(unsigned *seed, int M, int N, int K, float *A, float *W, float *bias) {
    for (int i = 0; i < M * K; i++)
        A[i] = frand(seed) * 2;
    for (int i = 0; i < N * K; i++)
        W[i] = frand(seed);
    for (int i = 0; i < N; i++)
        bias[i] = frand(seed);
}

#endif
