/* gemm_avx512.c: the AVX-512 kernels: f32, bf16 (AVX512-BF16) and int8 (VNNI) GEMMs over packed
 * weight panels with bias/activation/residual fused into the store, and one-pass attention.
 * Built with AVX-512 flags for this file only (Makefile); called only after cpuid said so. */
#include "core/gemm.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#define MR 12 /* rows per register tile: 24 accumulators + 2 weight vectors + 1 broadcast */

/* ------------------------------------------------------------------ activations */

/* exp(x) by 2^n * P(r), r = x - n ln2 in [-ln2/2, ln2/2], P the degree-6 Taylor polynomial:
 * relative error about 1.2e-7, near float rounding; inputs clamped to [-87, 88]. */
static inline __m512 exp512(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187e-06f), r);
    __m512 p = _mm512_set1_ps(1.0f / 720);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* erf by Abramowitz & Stegun 7.1.26 (absolute error <= 1.5e-7). */
static inline __m512 erf512(__m512 x) {
    __m512 ax = _mm512_abs_ps(x);
    __m512 t = _mm512_div_ps(_mm512_set1_ps(1.0f),
                             _mm512_fmadd_ps(ax, _mm512_set1_ps(0.3275911f), _mm512_set1_ps(1.0f)));
    __m512 p = _mm512_set1_ps(1.061405429f);
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.453152027f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.421413741f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.284496736f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.254829592f));
    p = _mm512_mul_ps(p, t);
    __m512 e = exp512(_mm512_mul_ps(_mm512_mul_ps(ax, ax), _mm512_set1_ps(-1.0f)));
    __m512 y = _mm512_fnmadd_ps(p, e, _mm512_set1_ps(1.0f));
    __m512i sign = _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32((int)0x80000000u));
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(y), sign));
}

static inline __m512 act512(gl_act act, __m512 x) {
    switch (act) {
    case GL_ACT_QUICK_GELU: {
        __m512 e = exp512(_mm512_mul_ps(x, _mm512_set1_ps(-1.702f)));
        return _mm512_div_ps(x, _mm512_add_ps(e, _mm512_set1_ps(1.0f)));
    }
    case GL_ACT_GELU: {
        __m512 e = erf512(_mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f)));
        return _mm512_mul_ps(_mm512_mul_ps(x, _mm512_set1_ps(0.5f)),
                             _mm512_add_ps(e, _mm512_set1_ps(1.0f)));
    }
    case GL_ACT_GELU_TANH: { /* tanh(u) = 1 - 2 / (exp(2u) + 1) */
        __m512 u = _mm512_mul_ps(
            _mm512_set1_ps(0.79788456080286536f),
            _mm512_fmadd_ps(_mm512_mul_ps(_mm512_mul_ps(x, x), x), _mm512_set1_ps(0.044715f), x));
        __m512 e = exp512(_mm512_add_ps(u, u));
        __m512 th = _mm512_sub_ps(
            _mm512_set1_ps(1.0f),
            _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, _mm512_set1_ps(1.0f))));
        return _mm512_mul_ps(_mm512_mul_ps(x, _mm512_set1_ps(0.5f)),
                             _mm512_add_ps(th, _mm512_set1_ps(1.0f)));
    }
    default:
        return x;
    }
}

static inline __mmask16 tail_mask(int n) {
    return n >= 16 ? (__mmask16)0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
}

void gl_bias_act_avx512(float *row, const float *bias, int n, gl_act act) {
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 v = _mm512_maskz_loadu_ps(m, row + i);
        if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bias + i));
        _mm512_mask_storeu_ps(row + i, m, act512(act, v));
    }
}

/* ------------------------------------------------------------------ the shared epilogue */

/* Stores one row's 32 results: + bias, + C when accumulating, then the activation. */
static inline void store_row(float *c, __m512 v0, __m512 v1, __mmask16 m0, __mmask16 m1,
                             const gl_gemm_args *g, __m512 b0, __m512 b1) {
    v0 = _mm512_add_ps(v0, b0);
    v1 = _mm512_add_ps(v1, b1);
    if (g->accumulate) {
        v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, c));
        v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, c + 16));
    } else if (g->act != GL_ACT_NONE) {
        v0 = act512(g->act, v0);
        v1 = act512(g->act, v1);
    }
    _mm512_mask_storeu_ps(c, m0, v0);
    _mm512_mask_storeu_ps(c + 16, m1, v1);
}

typedef struct {
    __mmask16 m0, m1;
    __m512 b0, b1;
    float *C;
} panel_out;

static inline panel_out panel_setup(const gl_gemm_args *g, int p) {
    int n0 = p * GL_NR, nc = g->w->N - n0;
    panel_out o;
    o.m0 = tail_mask(nc);
    o.m1 = tail_mask(nc - 16);
    o.b0 = g->bias ? _mm512_maskz_loadu_ps(o.m0, g->bias + n0) : _mm512_setzero_ps();
    o.b1 = g->bias ? _mm512_maskz_loadu_ps(o.m1, g->bias + n0 + 16) : _mm512_setzero_ps();
    o.C = g->C + n0;
    return o;
}

/* ------------------------------------------------------------------ f32 */

static inline __attribute__((always_inline)) void tile_f32(const int mr, const gl_gemm_args *g,
                                                           const float *A, const float *B,
                                                           const panel_out *o, int m) {
    __m512 c0[MR], c1[MR];
    const size_t lda = (size_t)g->lda;
    const int K = g->w->K;
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++)
        if (r < mr) c0[r] = c1[r] = _mm512_setzero_ps();
    for (int k = 0; k < K; k++) {
        __m512 b0 = _mm512_load_ps(B + (size_t)k * GL_NR),
               b1 = _mm512_load_ps(B + (size_t)k * GL_NR + 16);
#pragma GCC unroll 12
        for (int r = 0; r < MR; r++)
            if (r < mr) {
                __m512 a = _mm512_set1_ps(A[r * lda + k]);
                c0[r] = _mm512_fmadd_ps(a, b0, c0[r]);
                c1[r] = _mm512_fmadd_ps(a, b1, c1[r]);
            }
    }
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++)
        if (r < mr)
            store_row(o->C + (size_t)(m + r) * g->ldc, c0[r], c1[r], o->m0, o->m1, g, o->b0, o->b1);
}

/* fn(R, ...) with R a constant for each row count 1..8 (1 for anything else), so the tile's
 * accumulators are registers; TILE_SWITCH adds 9..12. */
#define CASES_8_TO_1(fn, ...)                                                                      \
    case 8:                                                                                        \
        fn(8, __VA_ARGS__);                                                                        \
        break;                                                                                     \
    case 7:                                                                                        \
        fn(7, __VA_ARGS__);                                                                        \
        break;                                                                                     \
    case 6:                                                                                        \
        fn(6, __VA_ARGS__);                                                                        \
        break;                                                                                     \
    case 5:                                                                                        \
        fn(5, __VA_ARGS__);                                                                        \
        break;                                                                                     \
    case 4:                                                                                        \
        fn(4, __VA_ARGS__);                                                                        \
        break;                                                                                     \
    case 3:                                                                                        \
        fn(3, __VA_ARGS__);                                                                        \
        break;                                                                                     \
    case 2:                                                                                        \
        fn(2, __VA_ARGS__);                                                                        \
        break;                                                                                     \
    default:                                                                                       \
        fn(1, __VA_ARGS__);                                                                        \
        break;

#define TILE_SWITCH(fn, mr, ...)                                                                   \
    switch (mr) {                                                                                  \
    case 12:                                                                                       \
        fn(12, __VA_ARGS__);                                                                       \
        break;                                                                                     \
    case 11:                                                                                       \
        fn(11, __VA_ARGS__);                                                                       \
        break;                                                                                     \
    case 10:                                                                                       \
        fn(10, __VA_ARGS__);                                                                       \
        break;                                                                                     \
    case 9:                                                                                        \
        fn(9, __VA_ARGS__);                                                                        \
        break;                                                                                     \
        CASES_8_TO_1(fn, __VA_ARGS__)                                                              \
    }

/* Rows are taken in blocks of 96 so a block of A mostly stays in L2 while the thread's panels
 * stream past it; each panel (K x 32) is read once per block. 96 measured as well as 192 or no
 * blocking at K = 768 and 3072, and better than blocks sized to 320 KB of A (bench/gemm_shapes.c).
 */
#define MB 96

void gl_gemm_avx512_f32(const gl_gemm_args *g, int p0, int p1) {
    const gl_packed *w = g->w;
    for (int mb = 0; mb < g->M; mb += MB) {
        int me = mb + MB < g->M ? mb + MB : g->M;
        for (int p = p0; p < p1; p++) {
            panel_out o = panel_setup(g, p);
            const float *B = (const float *)w->data + (size_t)p * w->Kp * GL_NR;
            for (int m = mb; m < me; m += MR) {
                int mr = me - m < MR ? me - m : MR;
                const float *A = g->A + (size_t)m * g->lda;
                TILE_SWITCH(tile_f32, mr, g, A, B, &o, m);
            }
        }
    }
}

/* ------------------------------------------------------------------ bf16 */

static inline __attribute__((always_inline)) void tile_bf16(const int mr, const gl_gemm_args *g,
                                                            const uint16_t *A, const uint16_t *B,
                                                            const panel_out *o, int m) {
    __m512 c0[MR], c1[MR];
    const size_t lda = (size_t)g->qa->ld;
    const int K2 = g->w->Kp / 2;
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++)
        if (r < mr) c0[r] = c1[r] = _mm512_setzero_ps();
    for (int k = 0; k < K2; k++) {
        __m512bh b0 = (__m512bh)_mm512_load_si512(B + (size_t)k * 2 * GL_NR),
                 b1 = (__m512bh)_mm512_load_si512(B + (size_t)k * 2 * GL_NR + 32);
#pragma GCC unroll 12
        for (int r = 0; r < MR; r++)
            if (r < mr) {
                int32_t pair;
                memcpy(&pair, A + r * lda + 2 * k, 4);
                __m512bh a = (__m512bh)_mm512_set1_epi32(pair);
                c0[r] = _mm512_dpbf16_ps(c0[r], a, b0);
                c1[r] = _mm512_dpbf16_ps(c1[r], a, b1);
            }
    }
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++)
        if (r < mr)
            store_row(o->C + (size_t)(m + r) * g->ldc, c0[r], c1[r], o->m0, o->m1, g, o->b0, o->b1);
}

void gl_gemm_avx512_bf16(const gl_gemm_args *g, int p0, int p1) {
    const gl_packed *w = g->w;
    for (int mb = 0; mb < g->M; mb += MB) {
        int me = mb + MB < g->M ? mb + MB : g->M;
        for (int p = p0; p < p1; p++) {
            panel_out o = panel_setup(g, p);
            const uint16_t *B = (const uint16_t *)w->data + (size_t)p * w->Kp * GL_NR;
            for (int m = mb; m < me; m += MR) {
                int mr = me - m < MR ? me - m : MR;
                const uint16_t *A = (const uint16_t *)g->qa->data + (size_t)m * g->qa->ld;
                TILE_SWITCH(tile_bf16, mr, g, A, B, &o, m);
            }
        }
    }
}

void gl_quant_avx512_bf16(const float *A, int lda, int K, int Kp, int r0, int r1, uint16_t *out) {
    for (int r = r0; r < r1; r++) {
        const float *a = A + (size_t)r * lda;
        uint16_t *o = out + (size_t)r * Kp;
        int k = 0;
        for (; k + 32 <= K; k += 32) {
            __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(a + k + 16), _mm512_loadu_ps(a + k));
            _mm512_storeu_si512(o + k, (__m512i)v);
        }
        for (; k < K; k++)
            o[k] = gl_bf16_of(a[k]);
        for (; k < Kp; k++)
            o[k] = 0;
    }
}

/* ------------------------------------------------------------------ int8 */

/* acc += u8 a . s8 b per dword lane. Written in asm because GCC 12 copies the intrinsic's
 * accumulator through a spare register, which spilled 24 accumulators to the stack (2x slower). */
static inline __m512i dpbusd(__m512i acc, __m512i a, __m512i b) {
    __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
    return acc;
}

static inline __attribute__((always_inline)) void tile_int8(const int mr, const gl_gemm_args *g,
                                                            const uint8_t *A, const int8_t *B,
                                                            const panel_out *o, int m, int p) {
    __m512i c0[MR], c1[MR];
    const size_t lda = (size_t)g->qa->ld;
    const int K4 = g->w->Kp / 4;
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++)
        if (r < mr) c0[r] = c1[r] = _mm512_setzero_si512();
    for (int k = 0; k < K4; k++) {
        __m512i b0 = _mm512_load_si512(B + (size_t)k * 4 * GL_NR),
                b1 = _mm512_load_si512(B + (size_t)k * 4 * GL_NR + 64);
#pragma GCC unroll 12
        for (int r = 0; r < MR; r++)
            if (r < mr) {
                int32_t quad;
                memcpy(&quad, A + r * lda + 4 * k, 4);
                __m512i a = _mm512_set1_epi32(quad);
                c0[r] = dpbusd(c0[r], a, b0);
                c1[r] = dpbusd(c1[r], a, b1);
            }
    }
    const gl_packed *w = g->w;
    int n0 = p * GL_NR;
    __m512i s0 = _mm512_load_si512(w->colsum + n0), s1 = _mm512_load_si512(w->colsum + n0 + 16);
    __m512 w0 = _mm512_load_ps(w->scale + n0), w1 = _mm512_load_ps(w->scale + n0 + 16);
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++)
        if (r < mr) {
            __m512i zp = _mm512_set1_epi32(g->qa->zp[m + r]);
            __m512 sa = _mm512_set1_ps(g->qa->scale[m + r]);
            __m512 v0 = _mm512_cvtepi32_ps(_mm512_sub_epi32(c0[r], _mm512_mullo_epi32(zp, s0)));
            __m512 v1 = _mm512_cvtepi32_ps(_mm512_sub_epi32(c1[r], _mm512_mullo_epi32(zp, s1)));
            v0 = _mm512_mul_ps(v0, _mm512_mul_ps(sa, w0));
            v1 = _mm512_mul_ps(v1, _mm512_mul_ps(sa, w1));
            store_row(o->C + (size_t)(m + r) * g->ldc, v0, v1, o->m0, o->m1, g, o->b0, o->b1);
        }
}

void gl_gemm_avx512_int8(const gl_gemm_args *g, int p0, int p1) {
    const gl_packed *w = g->w;
    for (int mb = 0; mb < g->M; mb += MB) {
        int me = mb + MB < g->M ? mb + MB : g->M;
        for (int p = p0; p < p1; p++) {
            panel_out o = panel_setup(g, p);
            const int8_t *B = (const int8_t *)w->data + (size_t)p * w->Kp * GL_NR;
            for (int m = mb; m < me; m += MR) {
                int mr = me - m < MR ? me - m : MR;
                const uint8_t *A = (const uint8_t *)g->qa->data + (size_t)m * g->qa->ld;
                TILE_SWITCH(tile_int8, mr, g, A, B, &o, m, p);
            }
        }
    }
}

/* Asymmetric uint8 per row: the row's range (widened to hold 0) maps onto 0..255, so GELU's
 * one-sided outputs use the whole code range; a ~ scale * (q - zp). */
void gl_quant_avx512_int8(const float *A, int lda, int K, int Kp, int r0, int r1, uint8_t *out,
                          float *scale, int32_t *zp) {
    for (int r = r0; r < r1; r++) {
        const float *a = A + (size_t)r * lda;
        uint8_t *o = out + (size_t)r * Kp;
        __m512 lo = _mm512_setzero_ps(), hi = _mm512_setzero_ps();
        for (int k = 0; k < K; k += 16) {
            __mmask16 m = tail_mask(K - k);
            __m512 v = _mm512_maskz_loadu_ps(m, a + k);
            lo = _mm512_min_ps(lo, v);
            hi = _mm512_max_ps(hi, v);
        }
        float mn = _mm512_reduce_min_ps(lo), mx = _mm512_reduce_max_ps(hi);
        float s = (mx - mn) / 255.0f;
        if (!(s > 0)) s = 1.0f;
        int z = (int)lrintf(-mn / s);
        z = z < 0 ? 0 : z > 255 ? 255 : z;
        scale[r] = s;
        zp[r] = z;
        __m512 inv = _mm512_set1_ps(1.0f / s), zf = _mm512_set1_ps((float)z);
        __m512 c0 = _mm512_setzero_ps(), c255 = _mm512_set1_ps(255.0f);
        int k = 0;
        for (; k < K; k += 16) {
            __mmask16 m = tail_mask(K - k);
            __m512 v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + k), inv, zf);
            v = _mm512_min_ps(
                _mm512_max_ps(
                    _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), c0),
                c255);
            _mm512_mask_cvtepi32_storeu_epi8(o + k, m, _mm512_cvtps_epi32(v));
        }
        for (k = K; k < Kp; k++)
            o[k] = (uint8_t)z; /* padding multiplies zero weights; zp keeps the row sum exact */
    }
}

/* ------------------------------------------------------------------ attention */

static float hsum_row_max(const float *s, int n) {
    __m512 m = _mm512_set1_ps(-INFINITY);
    for (int j = 0; j < n; j += 16)
        m = _mm512_max_ps(m,
                          _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), tail_mask(n - j), s + j));
    return _mm512_reduce_max_ps(m);
}

/* softmax over s[0..n), zeros from n to the padded width np. */
static void softmax512(float *s, int n, int np) {
    __m512 mv = _mm512_set1_ps(hsum_row_max(s, n)), acc = _mm512_setzero_ps();
    for (int j = 0; j < n; j += 16) {
        __mmask16 m = tail_mask(n - j);
        __m512 e =
            _mm512_maskz_mov_ps(m, exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, s + j), mv)));
        _mm512_storeu_ps(s + j, e);
        acc = _mm512_add_ps(acc, e);
    }
    __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(acc));
    int j = 0;
    for (; j < n; j += 16)
        _mm512_storeu_ps(s + j, _mm512_mul_ps(_mm512_loadu_ps(s + j), inv));
    for (; j < np; j += 16)
        _mm512_storeu_ps(s + j, _mm512_setzero_ps());
}

/* The 16 x 16 block r transposed in registers (rows become columns). */
static inline void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xDD);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xDD);
    }
    for (int i = 0; i < 8; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
    }
}

/* kt [hd][np] = K^T of the head's n keys (columns n..np zero), 16 x 16 blocks at a time. */
static void transpose_keys(const float *k, size_t ld, int n, int np, int hd, float *kt) {
    for (int j0 = 0; j0 < np; j0 += 16)
        for (int c0 = 0; c0 < hd; c0 += 16) {
            __mmask16 m = tail_mask(hd - c0);
            __m512 r[16];
            for (int i = 0; i < 16; i++)
                r[i] = j0 + i < n ? _mm512_maskz_loadu_ps(m, k + (size_t)(j0 + i) * ld + c0)
                                  : _mm512_setzero_ps();
            transpose16(r);
            for (int i = 0; i < 16 && c0 + i < hd; i++)
                _mm512_store_ps(kt + (size_t)(c0 + i) * np + j0, r[i]);
        }
}

/* Scores of R query rows against keys [j, j + 16 * W) (W = 1 or 2 blocks), scaled, into S. */
static inline __attribute__((always_inline)) void scores_tile(const int R, const int W,
                                                              const float *q, size_t ld,
                                                              const float *kt, int np, int hd,
                                                              int j, float scale, float *S) {
    __m512 s0[ATT_ROWS], s1[ATT_ROWS];
#pragma GCC unroll 8
    for (int r = 0; r < ATT_ROWS; r++)
        if (r < R) s0[r] = s1[r] = _mm512_setzero_ps();
    for (int c = 0; c < hd; c++) {
        __m512 k0 = _mm512_load_ps(kt + (size_t)c * np + j);
        __m512 k1 = W == 2 ? _mm512_load_ps(kt + (size_t)c * np + j + 16) : k0;
#pragma GCC unroll 8
        for (int r = 0; r < ATT_ROWS; r++)
            if (r < R) {
                __m512 qv = _mm512_set1_ps(q[r * ld + c]);
                s0[r] = _mm512_fmadd_ps(qv, k0, s0[r]);
                if (W == 2) s1[r] = _mm512_fmadd_ps(qv, k1, s1[r]);
            }
    }
    __m512 sc = _mm512_set1_ps(scale);
#pragma GCC unroll 8
    for (int r = 0; r < ATT_ROWS; r++)
        if (r < R) {
            _mm512_store_ps(S + (size_t)r * np + j, _mm512_mul_ps(s0[r], sc));
            if (W == 2) _mm512_store_ps(S + (size_t)r * np + j + 16, _mm512_mul_ps(s1[r], sc));
        }
}

/* out rows = P V for R rows of probabilities S over keys [0, seen), 32 value columns at a time. */
static inline __attribute__((always_inline)) void pv_tile(const int R, const float *S, int np,
                                                          const float *v, size_t ld, int seen,
                                                          int hd, float *out) {
    for (int c = 0; c < hd; c += 32) {
        __mmask16 m0 = tail_mask(hd - c), m1 = tail_mask(hd - c - 16);
        __m512 o0[ATT_ROWS], o1[ATT_ROWS];
#pragma GCC unroll 8
        for (int r = 0; r < ATT_ROWS; r++)
            if (r < R) o0[r] = o1[r] = _mm512_setzero_ps();
        for (int j = 0; j < seen; j++) {
            __m512 v0 = _mm512_maskz_loadu_ps(m0, v + (size_t)j * ld + c),
                   v1 = _mm512_maskz_loadu_ps(m1, v + (size_t)j * ld + c + 16);
#pragma GCC unroll 8
            for (int r = 0; r < ATT_ROWS; r++)
                if (r < R) {
                    __m512 p = _mm512_set1_ps(S[(size_t)r * np + j]);
                    o0[r] = _mm512_fmadd_ps(p, v0, o0[r]);
                    o1[r] = _mm512_fmadd_ps(p, v1, o1[r]);
                }
        }
#pragma GCC unroll 8
        for (int r = 0; r < ATT_ROWS; r++)
            if (r < R) {
                _mm512_mask_storeu_ps(out + (size_t)r * ld + c, m0, o0[r]);
                _mm512_mask_storeu_ps(out + (size_t)r * ld + c + 16, m1, o1[r]);
            }
    }
}

/* One group of R query rows from i0: scores (cache-resident in S), softmax, P V. q and out point
 * at the group's first row (row stride d); base is the head's first key/value element. */
static inline __attribute__((always_inline)) void
attention_rows(const int R, const gl_attention_args *a, size_t base, const float *q, float *out,
               int i0, int n, int np, int hd, const float *kt, float *S) {
    size_t ld = (size_t)a->d;
    int last_seen = a->causal ? i0 + R : n; /* columns any row of the group needs */
    int j = 0;
    for (; j + 16 < last_seen; j += 32)
        scores_tile(R, 2, q, ld, kt, np, hd, j, a->scale, S);
    if (j < last_seen) scores_tile(R, 1, q, ld, kt, np, hd, j, a->scale, S);
    for (int r = 0; r < R; r++)
        softmax512(S + (size_t)r * np, a->causal ? i0 + r + 1 : n, np);
    pv_tile(R, S, np, a->v + base, ld, last_seen, hd, out);
}

_Static_assert(ATT_ROWS == 8, "the attention switch covers groups of 1..8 rows");

/* For one (sequence, head): K^T is made once in scratch [hd][np]; then each group of ATT_ROWS
 * query rows gets its scores (kept in scratch), softmax, and P V, before the next group; with
 * query_row, only that row (q and out compact). scratch holds GL_ATT_SCRATCH(hd, np) floats,
 * np = len rounded up to 16. */
void gl_attention_avx512(const gl_attention_args *a, int seq, int head, float *scratch) {
    int hd = a->d / a->heads, n = a->len[seq], np = (n + 15) & ~15;
    size_t base = (size_t)a->offset[seq] * a->d + (size_t)head * hd;
    float *kt = scratch, *S = scratch + (size_t)hd * np;
    transpose_keys(a->k + base, (size_t)a->d, n, np, hd, kt);
    if (a->query_row) {
        size_t at = (size_t)seq * a->d + (size_t)head * hd;
        attention_rows(1, a, base, a->q + at, a->out + at, a->query_row[seq], n, np, hd, kt, S);
        return;
    }
    for (int i0 = 0; i0 < n; i0 += ATT_ROWS) {
        const float *q = a->q + base + (size_t)i0 * a->d;
        float *out = a->out + base + (size_t)i0 * a->d;
        switch (n - i0 < ATT_ROWS ? n - i0 : ATT_ROWS) {
            CASES_8_TO_1(attention_rows, a, base, q, out, i0, n, np, hd, kt, S)
        }
    }
}
