/* kernels.h: the parallel float kernels of a transformer forward pass: tiled linear layers with a
 * fused bias/activation epilogue, LayerNorm over rows, and multi-head attention over packed rows.
 */
#ifndef GEOLABEL_KERNELS_H
#define GEOLABEL_KERNELS_H

#include "core/pool.h"

typedef enum { GL_ACT_NONE = 0, GL_ACT_QUICK_GELU, GL_ACT_GELU, GL_ACT_GELU_TANH } gl_act;

/* C[M,N] (row stride ldc) = act(A[M,K] W[N,K]^T + bias[N]), or with accumulate
 * C += A W^T + bias (act must then be NONE). bias may be NULL. Each GEMM is cut into one block
 * per thread along its larger side; every C element still sums K in BLAS's own order, so the
 * thread count changes no more than float rounding. */
void gl_linear(gl_pool *pool, int M, int N, int K, const float *A, int lda, const float *W,
               const float *bias, float *C, int ldc, int accumulate, gl_act act);

/* Several independent linear layers in one pool job (e.g. q, k and v from the same input). */
typedef struct {
    int M, N, K;
    const float *A;
    int lda;
    const float *W, *bias;
    float *C;
    int ldc, accumulate;
    gl_act act;
} gl_linear_op;
void gl_linear_many(gl_pool *pool, const gl_linear_op *ops, int n_ops);

/* y = (x - mean) / sqrt(var + eps) * w + b per row of width d (biased variance); y may be x. */
void gl_layer_norm(gl_pool *pool, const float *x, float *y, int rows, int d, const float *w,
                   const float *b, float eps);

/* Multi-head attention over packed sequences. q, k, v and out are [rows, d] (d = heads*hd);
 * sequence s covers rows [offset[s], offset[s]+len[s]). Scores use scale (head_dim^-0.5); with
 * causal, row i sees rows <= i only. scratch holds threads * max_len * max_len floats. */
typedef struct {
    const float *q, *k, *v;
    float *out;
    int d, heads;
    int n_seqs;
    const int *offset, *len;
    int causal;
    float scale;
    float *scratch;
    size_t scratch_per_thread;
} gl_attention_args;
void gl_attention(gl_pool *pool, const gl_attention_args *a);

#endif
