/* kernels.c: transformer forward kernels on the pool: GEMMs through gl_sgemm_nt split once per
 * thread, bias and activation applied while the tile is hot, LayerNorm rows, per-head attention. */
#include "core/blas.h"
#include "core/kernels.h"

#include <math.h>
#include <string.h>

#ifdef __AVX512F__
#include <immintrin.h>
#endif

#define LN_ROWS 16
#define SPLIT_ALIGN 16 /* column/row blocks in multiples of the AVX-512 kernel's width */

/* ------------------------------------------------------------------ activations */

#ifdef __AVX512F__
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
    /* copy x's sign onto y */
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
#endif

static float activate(gl_act act, float x) {
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

/* row[i] = act(row[i] + bias[i]) for i < n; bias may be NULL. */
static void bias_act_row(float *row, const float *bias, int n, gl_act act) {
    int i = 0;
#ifdef __AVX512F__
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(row + i);
        if (bias) v = _mm512_add_ps(v, _mm512_loadu_ps(bias + i));
        _mm512_storeu_ps(row + i, act512(act, v));
    }
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(m, row + i);
        if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bias + i));
        _mm512_mask_storeu_ps(row + i, m, act512(act, v));
        return;
    }
#endif
    for (; i < n; i++)
        row[i] = activate(act, row[i] + (bias ? bias[i] : 0.0f));
}

/* ------------------------------------------------------------------ linear layers */

/* Splits n into parts blocks of whole multiples of SPLIT_ALIGN (the last takes the rest). */
static void split(int n, int parts, int i, int *lo, int *hi) {
    int blocks = (n + SPLIT_ALIGN - 1) / SPLIT_ALIGN;
    *lo = (int)((long)blocks * i / parts) * SPLIT_ALIGN;
    *hi = (int)((long)blocks * (i + 1) / parts) * SPLIT_ALIGN;
    if (*lo > n) *lo = n;
    if (*hi > n || i == parts - 1) *hi = n;
}

typedef struct {
    const gl_linear_op *ops;
    int n_ops, parts;
} linear_job;

/* One GEMM call per thread and op: BLAS packs each operand once per call, so fewer, larger calls
 * beat fine tiles. The larger operand is the one split, so only the smaller is packed twice. */
static void linear_task(void *ctx, int task, int thread) {
    (void)thread;
    const linear_job *j = ctx;
    const gl_linear_op *o = &j->ops[task / j->parts];
    int part = task % j->parts, r0 = 0, r1 = o->M, c0 = 0, c1 = o->N;
    if (o->N >= o->M)
        split(o->N, j->parts, part, &c0, &c1);
    else
        split(o->M, j->parts, part, &r0, &r1);
    if (r1 <= r0 || c1 <= c0) return;
    float *C = o->C + (size_t)r0 * o->ldc + c0;
    gl_sgemm_nt(r1 - r0, c1 - c0, o->K, 1.0f, o->A + (size_t)r0 * o->lda, o->lda,
                o->W + (size_t)c0 * o->K, o->K, o->accumulate ? 1.0f : 0.0f, C, o->ldc);
    if (!o->bias && o->act == GL_ACT_NONE) return;
    for (int r = 0; r < r1 - r0; r++)
        bias_act_row(C + (size_t)r * o->ldc, o->bias ? o->bias + c0 : NULL, c1 - c0, o->act);
}

void gl_linear_many(gl_pool *pool, const gl_linear_op *ops, int n_ops) {
    linear_job j = {ops, n_ops, gl_pool_threads(pool)};
    gl_pool_run(pool, n_ops * j.parts, linear_task, &j);
}

void gl_linear(gl_pool *pool, int M, int N, int K, const float *A, int lda, const float *W,
               const float *bias, float *C, int ldc, int accumulate, gl_act act) {
    if (M <= 0 || N <= 0) return;
    gl_linear_op op = {M, N, K, A, lda, W, bias, C, ldc, accumulate, act};
    gl_linear_many(pool, &op, 1);
}

/* ------------------------------------------------------------------ LayerNorm */

typedef struct {
    const float *x, *w, *b;
    float *y;
    int rows, d;
    float eps;
} ln_job;

static void ln_task(void *ctx, int task, int thread) {
    (void)thread;
    const ln_job *j = ctx;
    int end = (task + 1) * LN_ROWS < j->rows ? (task + 1) * LN_ROWS : j->rows;
    for (int r = task * LN_ROWS; r < end; r++) {
        const float *x = j->x + (size_t)r * j->d;
        float *y = j->y + (size_t)r * j->d;
        double s = 0, ss = 0;
        for (int i = 0; i < j->d; i++)
            s += x[i];
        double mean = s / j->d;
        for (int i = 0; i < j->d; i++)
            ss += (x[i] - mean) * (x[i] - mean);
        float m = (float)mean, inv = (float)(1.0 / sqrt(ss / j->d + j->eps));
        for (int i = 0; i < j->d; i++)
            y[i] = (x[i] - m) * inv * j->w[i] + j->b[i];
    }
}

void gl_layer_norm(gl_pool *pool, const float *x, float *y, int rows, int d, const float *w,
                   const float *b, float eps) {
    ln_job j = {x, w, b, y, rows, d, eps};
    gl_pool_run(pool, (rows + LN_ROWS - 1) / LN_ROWS, ln_task, &j);
}

/* ------------------------------------------------------------------ attention */

static void softmax_row(float *s, int n) {
    float m = s[0];
    for (int i = 1; i < n; i++)
        m = s[i] > m ? s[i] : m;
    float sum = 0;
    int i = 0;
#ifdef __AVX512F__
    __m512 acc = _mm512_setzero_ps(), mv = _mm512_set1_ps(m);
    for (; i + 16 <= n; i += 16) {
        __m512 e = exp512(_mm512_sub_ps(_mm512_loadu_ps(s + i), mv));
        _mm512_storeu_ps(s + i, e);
        acc = _mm512_add_ps(acc, e);
    }
    sum = _mm512_reduce_add_ps(acc);
#endif
    for (; i < n; i++) {
        s[i] = expf(s[i] - m);
        sum += s[i];
    }
    float inv = 1.0f / sum;
    for (i = 0; i < n; i++)
        s[i] *= inv;
}

static void attention_task(void *ctx, int task, int thread) {
    const gl_attention_args *a = ctx;
    int seq = task / a->heads, head = task % a->heads;
    int hd = a->d / a->heads, n = a->len[seq];
    size_t base = (size_t)a->offset[seq] * a->d + (size_t)head * hd;
    float *S = a->scratch + a->scratch_per_thread * thread;
    gl_sgemm_nt(n, n, hd, a->scale, a->q + base, a->d, a->k + base, a->d, 0.0f, S, n);
    for (int i = 0; i < n; i++) {
        float *row = S + (size_t)i * n;
        int seen = a->causal ? i + 1 : n;
        softmax_row(row, seen);
        if (seen < n) memset(row + seen, 0, sizeof(float) * (size_t)(n - seen));
    }
    gl_sgemm_nn(n, hd, n, 1.0f, S, n, a->v + base, a->d, 0.0f, a->out + base, a->d);
}

void gl_attention(gl_pool *pool, const gl_attention_args *a) {
    gl_pool_run(pool, a->n_seqs * a->heads, attention_task, (void *)a);
}
