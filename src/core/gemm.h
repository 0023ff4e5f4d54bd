/* gemm.h: weights packed once, at load, into column panels for the run-time chosen ISA and dtype,
 * and the per-ISA GEMM kernels over them (C = act(A W^T + bias) [+ C]). */
#ifndef GEOLABEL_GEMM_H
#define GEOLABEL_GEMM_H

#include "core/cpu.h"
#include "core/kernels.h"

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
/* One (sequence, head) of attention in one pass, AVX-512: scores stay in scratch. */
void gl_attention_avx512(const gl_attention_args *a, int seq, int head, float *scratch);

#endif
