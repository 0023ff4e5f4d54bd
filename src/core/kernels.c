/* kernels.c: transformer forward kernels on the pool: tiled GEMMs through gl_sgemm_nt with the
 * bias and activation applied while the tile is hot, LayerNorm rows, and per-head attention. */
#include "core/kernels.h"

#include <math.h>
#include <string.h>

/* Tile sizes: large enough for BLAS to run at speed, small enough to spread over the threads. */
#define TILE_M 256
#define TILE_N 256
#define LN_ROWS 16

typedef struct {
    int M, N, K, lda, ldc, accumulate;
    const float *A, *W, *bias;
    float *C;
    gl_act act;
    int row_tiles, col_tiles;
} linear_job;

static float activate(gl_act act, float x) {
    switch (act) {
    case GL_ACT_QUICK_GELU: return x / (1.0f + expf(-1.702f * x));
    case GL_ACT_GELU: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case GL_ACT_GELU_TANH:
        return 0.5f * x * (1.0f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
    default: return x;
    }
}

/* Splits n into parts of at most tile, as evenly as possible: part i is [lo, hi). */
static void split(int n, int parts, int i, int *lo, int *hi) {
    *lo = (int)((long)n * i / parts);
    *hi = (int)((long)n * (i + 1) / parts);
}

static void linear_task(void *ctx, int task, int thread) {
    (void)thread;
    const linear_job *j = ctx;
    int r0, r1, c0, c1;
    split(j->M, j->row_tiles, task / j->col_tiles, &r0, &r1);
    split(j->N, j->col_tiles, task % j->col_tiles, &c0, &c1);
    if (r1 <= r0 || c1 <= c0) return;
    float *C = j->C + (size_t)r0 * j->ldc + c0;
    gl_sgemm_nt(r1 - r0, c1 - c0, j->K, 1.0f, j->A + (size_t)r0 * j->lda, j->lda,
                j->W + (size_t)c0 * j->K, j->K, j->accumulate ? 1.0f : 0.0f, C, j->ldc);
    if (!j->bias && j->act == GL_ACT_NONE) return;
    for (int r = 0; r < r1 - r0; r++) {
        float *row = C + (size_t)r * j->ldc;
        for (int c = 0; c < c1 - c0; c++) {
            float v = row[c] + (j->bias ? j->bias[c0 + c] : 0.0f);
            row[c] = activate(j->act, v);
        }
    }
}

void gl_linear(gl_pool *pool, int M, int N, int K, const float *A, int lda, const float *W,
               const float *bias, float *C, int ldc, int accumulate, gl_act act) {
    if (M <= 0 || N <= 0) return;
    linear_job j = {M, N, K, lda, ldc, accumulate, A, W, bias, C, act,
                    (M + TILE_M - 1) / TILE_M, (N + TILE_N - 1) / TILE_N};
    gl_pool_run(pool, j.row_tiles * j.col_tiles, linear_task, &j);
}

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
        for (int i = 0; i < j->d; i++) s += x[i];
        double mean = s / j->d;
        for (int i = 0; i < j->d; i++) ss += (x[i] - mean) * (x[i] - mean);
        float m = (float)mean, inv = (float)(1.0 / sqrt(ss / j->d + j->eps));
        for (int i = 0; i < j->d; i++) y[i] = (x[i] - m) * inv * j->w[i] + j->b[i];
    }
}

void gl_layer_norm(gl_pool *pool, const float *x, float *y, int rows, int d, const float *w,
                   const float *b, float eps) {
    ln_job j = {x, w, b, y, rows, d, eps};
    gl_pool_run(pool, (rows + LN_ROWS - 1) / LN_ROWS, ln_task, &j);
}

static void softmax_row(float *s, int n) {
    float m = s[0];
    for (int i = 1; i < n; i++) m = s[i] > m ? s[i] : m;
    float sum = 0;
    for (int i = 0; i < n; i++) {
        s[i] = expf(s[i] - m);
        sum += s[i];
    }
    float inv = 1.0f / sum;
    for (int i = 0; i < n; i++) s[i] *= inv;
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
