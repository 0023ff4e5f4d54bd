/* kernels.h: the parallel kernels of a transformer forward pass: linear layers over weights packed
 * at load (fused bias/activation/residual), LayerNorm over rows, one-pass multi-head attention.
 */
#ifndef GEOLABEL_KERNELS_H
#define GEOLABEL_KERNELS_H

#include "core/pool.h"

typedef enum { GL_ACT_NONE = 0, GL_ACT_QUICK_GELU, GL_ACT_GELU, GL_ACT_GELU_TANH } gl_act;

/* A context's kernel state: the CPU level chosen at run time, the weights packed for it (looked
 * up by the float weight's address, so callers keep passing float views), and the scratch the
 * kernels use (quantised activations, attention tiles), sized once so a forward never allocates.
 * Attached to the context's pool; gl_kernels_free releases everything packed. */
typedef struct gl_kernels gl_kernels;
gl_kernels *gl_kernels_create(gl_error *err);
void gl_kernels_free(gl_kernels *k);
/* Whether this CPU level runs dtype's kernels; else an error naming what is missing. */
gl_status gl_kernels_supports(const gl_kernels *k, gl_dtype dtype, gl_error *err);
const char *gl_kernels_isa(const gl_kernels *k); /* "avx2", "avx512", "amx" */
/* A GEMM that could not run since the last call (a oneDNN block that failed, a call whose shape
 * is not its packed weight's) left NaN rows: GL_OK when there was none, else the first one's line
 * in err; clears it. The towers ask after every batch. */
gl_status gl_kernels_take_failure(gl_kernels *k, gl_error *err);
/* Tests only, never set by the product: default_dnnl makes an AVX512-BF16/VNNI CPU offer bf16 and
 * int8 weights to oneDNN as an AMX machine does by default (kept only if oneDNN runs AMX);
 * fail_dnnl makes every oneDNN block fail at run time. Before packing. */
void gl_kernels_test_hooks(gl_kernels *k, int default_dnnl, int fail_dnnl);
/* Packs W [N,K] (out,in) once for dtype. W must stay valid while k lives (it is the key). */
gl_status gl_kernels_pack(gl_kernels *k, const float *W, int N, int K, gl_dtype dtype,
                          gl_error *err);
/* The same with the key apart from the data: the forward passes key, W [N,K] is read only during
 * the call (a weight widened from F16 into scratch, or mapped bytes given back afterwards). key
 * must stay valid, and no other weight's, while k lives. */
gl_status gl_kernels_pack_from(gl_kernels *k, const float *key, const float *W, int N, int K,
                               gl_dtype dtype, gl_error *err);
/* int8 weights: per output channel (row of W [N,K]), symmetric: scale[n] = max|W[n,:]| / 127
 * (1 for a zero row), q = round(W / scale) in [-127, 127]. gl_kernels_pack(.., GL_DTYPE_INT8)
 * quantises this way; gl_kernels_pack_int8 packs q and scale stored earlier (model convert
 * --dtype int8) instead, giving the same packed weight without quantising. W stays the key. */
void gl_quantize_int8(const float *W, int N, int K, int8_t *q, float *scale);
gl_status gl_kernels_pack_int8(gl_kernels *k, const float *W, int N, int K, const int8_t *q,
                               const float *scale, gl_error *err);
/* Scratch for up to rows x max_k activations and attention over max_tokens x max_head_dim with
 * threads threads. The rows hold any weight packed before or after it, however wide (a wider
 * one packed later grows the scratch then). */
gl_status gl_kernels_reserve(gl_kernels *k, size_t rows, int max_k, int max_tokens,
                             int max_head_dim, int threads, gl_error *err);

/* C[M,N] (row stride ldc) = act(A[M,K] W[N,K]^T + bias[N]), or with accumulate
 * C += A W^T + bias (act must then be NONE). bias may be NULL. When W was packed into the pool's
 * kernels, the packed kernel runs (panels split across threads; each C element sums K in one
 * order whatever the thread count); otherwise BLAS, cut into one block per thread. A packed
 * weight never goes to BLAS (its address may be only a key to half-precision bytes): more rows
 * than the reserve run in chunks of the reserved rows (the same numbers), and a call whose N or
 * K is not the packed weight's, or a bf16/int8 call before any reserve, is a programming error
 * that fills C [M,N] with NaN and is kept for gl_kernels_take_failure. */
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

/* h = LayerNorm(x) as gl_layer_norm, then the ops as gl_linear_many; every op reads A = h [rows,
 * d]. When their kernels read a prepared A (int8/bf16 activations, or a padded f32 copy), each row
 * is prepared right after it is normalised, in the LayerNorm's job: one pass and one job fewer. */
void gl_layer_norm_linear(gl_pool *pool, const float *x, float *h, int rows, int d, const float *w,
                          const float *b, float eps, const gl_linear_op *ops, int n_ops);

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
    /* NULL: every row. Else only row query_row[s] (within sequence s) is computed, with q and out
     * compact [n_seqs, d]: a last layer whose only needed output is each sequence's pooled row. */
    const int *query_row;
} gl_attention_args;
void gl_attention(gl_pool *pool, const gl_attention_args *a);

#endif
