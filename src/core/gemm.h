/* gemm.h: weights packed once, at load, into column panels for the run-time chosen ISA and dtype,
 * and the per-ISA GEMM kernels over them (C = act(A W^T + bias) [+ C]). */
#ifndef GEOLABEL_GEMM_H
#define GEOLABEL_GEMM_H

#include "core/cpu.h"
#include "core/kernels.h"

#include <math.h>
#include <string.h>

#define GL_NR 32 /* columns per panel: two AVX-512 registers, four AVX2 ones */

/* W [N,K] (out,in) in panels of GL_NR columns, zero-padded to a whole panel:
 *   f32:  panel p is [K][32] floats;
 *   bf16: [K2/2][32][2] bf16, K2 = K rounded up to 2 (one dword holds rows k and k+1);
 *   int8: [K4/4][32][4] int8, K4 = K rounded up to 4, w ~ scale[n] * q (per output channel),
 *         colsum[n] = sum_k q[n,k] to undo the activations' zero point. */
typedef struct {
    const float *src; /* the weight this packs (the lookup key) */
    int N, K, Kp, panels;
    gl_dtype dtype;
    gl_isa isa;
    void *data; /* 64-byte aligned, owned */
    float *scale;
    int32_t *colsum;
    struct gl_dnnl_weight *dnnl; /* oneDNN's reordered copy instead of data (gemm_dnnl.h) */
} gl_packed;

/* Activations of one GEMM in the dtype the kernel multiplies: bf16 rows, or uint8 rows with a
 * per-row scale and zero point (a ~ scale * (q - zp)). Lives in gl_kernels' scratch. */
typedef struct {
    const void *data;
    int ld; /* elements per row */
    const float *scale;
    const int32_t *zp;
} gl_qact;

/* One thread's share of C for panels [p0, p1). A is float for f32; qa for bf16/int8. */
typedef struct {
    const gl_packed *w;
    int M;
    const float *A;
    int lda;
    const gl_qact *qa;
    const float *bias;
    float *C;
    int ldc, accumulate;
    gl_act act;
} gl_gemm_args;

/* One activation in scalar code (BLAS epilogues, the AVX2 kernel's store). */
static inline float gl_act_scalar(gl_act act, float x) {
    switch (act) {
    case GL_ACT_QUICK_GELU:
        return x / (1.0f + expf(-1.702f * x));
    case GL_ACT_GELU:
        return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case GL_ACT_GELU_TANH:
        return 0.5f * x * (1.0f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
    default:
        return x;
    }
}

/* float -> bf16 rounding to nearest even, as VCVTNEPS2BF16 does (NaN kept quiet). */
static inline uint16_t gl_bf16_of(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

void gl_gemm_avx2_f32(const gl_gemm_args *g, int p0, int p1);
void gl_gemm_avx512_f32(const gl_gemm_args *g, int p0, int p1);
void gl_gemm_avx512_bf16(const gl_gemm_args *g, int p0, int p1);
void gl_gemm_avx512_int8(const gl_gemm_args *g, int p0, int p1);
/* Rows [r0, r1) of A converted for bf16 / int8 kernels into qa's buffers (writable casts). */
void gl_quant_avx512_bf16(const float *A, int lda, int K, int Kp, int r0, int r1, uint16_t *out);
void gl_quant_avx512_int8(const float *A, int lda, int K, int Kp, int r0, int r1, uint8_t *out,
                          float *scale, int32_t *zp);
/* row[i] = act(row[i] + bias[i]), AVX-512. */
void gl_bias_act_avx512(float *row, const float *bias, int n, gl_act act);
/* Query rows per group in the attention kernel, and the floats of scratch it needs for head width
 * hd and np keys (np a multiple of 16): K^T, then ATT_ROWS rows of scores. */
#define ATT_ROWS 8
#define GL_ATT_SCRATCH(hd, np) ((size_t)(hd) * (np) + (size_t)ATT_ROWS * (np))
/* One (sequence, head) of attention in one pass, AVX-512: scores stay in scratch (64-byte
 * aligned, GL_ATT_SCRATCH floats). */
void gl_attention_avx512(const gl_attention_args *a, int seq, int head, float *scratch);

#endif
