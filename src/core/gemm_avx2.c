/* gemm_avx2.c: the AVX2/FMA f32 GEMM over the same packed panels as the AVX-512 kernels, for
 * CPUs without AVX-512 (and GEOLABEL_ISA=avx2). Each 32-column panel is done as two halves. */
#include "core/gemm.h"

#include <immintrin.h>
#include <math.h>

#define MR2 6 /* 6 rows x 16 columns: 12 accumulators + 2 weight vectors + 1 broadcast */

static inline __attribute__((always_inline)) void
tile2(const int mr, const gl_gemm_args *g, const float *A, const float *B, int m, int n0, int nc) {
    __m256 c0[MR2], c1[MR2];
    const size_t lda = (size_t)g->lda;
    const int K = g->w->K;
#pragma GCC unroll 6
    for (int r = 0; r < MR2; r++)
        if (r < mr) c0[r] = c1[r] = _mm256_setzero_ps();
    for (int k = 0; k < K; k++) {
        __m256 b0 = _mm256_load_ps(B + (size_t)k * GL_NR),
               b1 = _mm256_load_ps(B + (size_t)k * GL_NR + 8);
#pragma GCC unroll 6
        for (int r = 0; r < MR2; r++)
            if (r < mr) {
                __m256 a = _mm256_broadcast_ss(A + r * lda + k);
                c0[r] = _mm256_fmadd_ps(a, b0, c0[r]);
                c1[r] = _mm256_fmadd_ps(a, b1, c1[r]);
            }
    }
    for (int r = 0; r < mr; r++) {
        float t[16];
        _mm256_storeu_ps(t, c0[r]);
        _mm256_storeu_ps(t + 8, c1[r]);
        float *c = g->C + (size_t)(m + r) * g->ldc + n0;
        for (int j = 0; j < nc; j++) {
            float v = t[j] + (g->bias ? g->bias[n0 + j] : 0.0f);
            c[j] = g->accumulate ? c[j] + v : gl_act_scalar(g->act, v);
        }
    }
}

void gl_gemm_avx2_f32(const gl_gemm_args *g, int p0, int p1) {
    const gl_packed *w = g->w;
    for (int p = p0; p < p1; p++)
        for (int half = 0; half < 2; half++) {
            int n0 = p * GL_NR + half * 16, nc = w->N - n0 < 16 ? w->N - n0 : 16;
            if (nc <= 0) break;
            const float *B = (const float *)w->data + (size_t)p * w->Kp * GL_NR + half * 16;
            for (int m = 0; m < g->M; m += MR2) {
                const float *A = g->A + (size_t)m * g->lda;
                switch (g->M - m < MR2 ? g->M - m : MR2) {
                case 6:
                    tile2(6, g, A, B, m, n0, nc);
                    break;
                case 5:
                    tile2(5, g, A, B, m, n0, nc);
                    break;
                case 4:
                    tile2(4, g, A, B, m, n0, nc);
                    break;
                case 3:
                    tile2(3, g, A, B, m, n0, nc);
                    break;
                case 2:
                    tile2(2, g, A, B, m, n0, nc);
                    break;
                default:
                    tile2(1, g, A, B, m, n0, nc);
                    break;
                }
            }
        }
}
