/* kernels.c: transformer forward kernels on the pool: the packed-weight registry and dispatch to
 * the per-ISA GEMMs (BLAS for unpacked weights), LayerNorm rows, per-head attention. */
#include "core/blas.h"
#include "core/kernels.h"

#include "core/gemm.h"
#include "core/gemm_dnnl.h"

#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LN_ROWS 16
#define SPLIT_ALIGN 16 /* BLAS path: column/row blocks in multiples of a vector width */
/* Rows of A whose stride is a multiple of 4 KB (fc2's 3072 floats; ViT-L's 1024) fall into the
 * same L1 sets, and the micro-kernel reads 12 of them at once: such an A is first copied with
 * this many floats of padding per row (fc2 at K = 3072: 92 -> 107 GFLOP/s per core). */
#define F32_PAD 16

struct gl_kernels {
    gl_cpu cpu;
    gl_packed **slots; /* open addressing on the weight's address; cap is a power of two */
    size_t cap, count;
    void *act;        /* quantised activations: rows x max_k bytes (bf16: twice) */
    float *act_scale; /* [rows] */
    int32_t *act_zp;  /* [rows] */
    float *att;       /* per-thread attention scratch */
    size_t att_per_thread, rows, max_k;
    int threads; /* the reserve's thread count (0: not reserved yet) */
    /* A run-time failure (a oneDNN block that did not run, a call its packed weight cannot
     * run): its rows are NaN, and failure holds the one line gl_kernels_take_failure hands on,
     * written by the thread that set failed first (read after the pool job has joined). */
    atomic_int failed;
    char failure[192];
    atomic_int said_dnnl; /* a weight oneDNN could not take (it runs on ours), said once */
    int test_fail_dnnl;   /* gl_kernels_test_hooks: every oneDNN block fails */
    int use_dnnl;  /* bf16/int8 weights go to oneDNN (gemm_dnnl.c): AMX, or GEOLABEL_GEMM=dnnl */
    gl_dnnl *dnnl; /* created with the first such weight */
    char isa[96];  /* gl_kernels_isa's answer once oneDNN runs: "amx (oneDNN brg:...)" */
};

const char *gl_dtype_name(gl_dtype dtype) {
    return dtype == GL_DTYPE_BF16 ? "bf16" : dtype == GL_DTYPE_INT8 ? "int8" : "f32";
}

/* ------------------------------------------------------------------ registry */

gl_kernels *gl_kernels_create(gl_error *err) {
    gl_kernels *k = calloc(1, sizeof *k);
    if (!k) {
        gl_fail(err, GL_ERR_NOMEM, "kernels: out of memory");
        return NULL;
    }
    if (gl_cpu_detect(&k->cpu, err) || gl_dnnl_wanted(k->cpu.isa, &k->use_dnnl, err)) {
        free(k);
        return NULL;
    }
    return k;
}

static void packed_free(gl_packed *p) {
    if (!p) return;
    free(p->data);
    free(p->scale);
    free(p->colsum);
    gl_dnnl_weight_free(p->dnnl);
    free(p);
}

void gl_kernels_free(gl_kernels *k) {
    if (!k) return;
    for (size_t i = 0; i < k->cap; i++)
        packed_free(k->slots[i]);
    free(k->slots);
    free(k->act);
    free(k->act_scale);
    free(k->act_zp);
    free(k->att);
    gl_dnnl_free(k->dnnl);
    free(k);
}

const char *gl_kernels_isa(const gl_kernels *k) {
    return k->isa[0] ? k->isa : gl_isa_name(k->cpu.isa);
}

/* The first failure of a job wins; later ones only add NaN rows. */
static void kernels_fail(gl_kernels *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void kernels_fail(gl_kernels *k, const char *fmt, ...) {
    if (atomic_exchange(&k->failed, 1)) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k->failure, sizeof k->failure, fmt, ap);
    va_end(ap);
}

gl_status gl_kernels_take_failure(gl_kernels *k, gl_error *err) {
    if (!k || !atomic_load(&k->failed)) return GL_OK;
    gl_status s = gl_fail(err, GL_ERR_INTERNAL, "%s", k->failure);
    atomic_store(&k->failed, 0);
    return s;
}

void gl_kernels_test_hooks(gl_kernels *k, int default_dnnl, int fail_dnnl) {
    if (default_dnnl && !k->use_dnnl && k->cpu.bf16 && k->cpu.vnni) k->use_dnnl = 1;
    k->test_fail_dnnl = fail_dnnl;
}

gl_status gl_kernels_supports(const gl_kernels *k, gl_dtype dtype, gl_error *err) {
    if (dtype == GL_DTYPE_BF16 && !k->cpu.bf16)
        return gl_fail(err, GL_ERR_UNSUPPORTED,
                       "dtype bf16: needs AVX512-BF16 or AMX-BF16; the kernels here run at %s "
                       "without them (use f32)",
                       gl_isa_name(k->cpu.isa));
    if (dtype == GL_DTYPE_INT8 && !k->cpu.vnni)
        return gl_fail(err, GL_ERR_UNSUPPORTED,
                       "dtype int8: needs AVX512-VNNI or AMX-INT8; the kernels here run at %s "
                       "without them (use f32)",
                       gl_isa_name(k->cpu.isa));
    return GL_OK;
}

static size_t slot_of(const gl_kernels *k, const float *W) {
    uintptr_t h = (uintptr_t)W >> 4;
    h ^= h >> 17;
    h *= 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 20) & (k->cap - 1);
}

static const gl_packed *lookup(const gl_kernels *k, const float *W) {
    if (!k || !k->cap) return NULL;
    for (size_t i = slot_of(k, W);; i = (i + 1) & (k->cap - 1)) {
        if (!k->slots[i]) return NULL;
        if (k->slots[i]->src == W) return k->slots[i];
    }
}

static gl_status insert(gl_kernels *k, gl_packed *p, gl_error *err) {
    if (2 * (k->count + 1) > k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 256;
        gl_packed **old = k->slots, **slots = calloc(cap, sizeof *slots);
        if (!slots) return gl_fail(err, GL_ERR_NOMEM, "kernels: out of memory");
        size_t old_cap = k->cap;
        k->slots = slots;
        k->cap = cap;
        for (size_t i = 0; i < old_cap; i++)
            if (old[i]) {
                size_t j = slot_of(k, old[i]->src);
                while (k->slots[j])
                    j = (j + 1) & (cap - 1);
                k->slots[j] = old[i];
            }
        free(old);
    }
    size_t j = slot_of(k, p->src);
    while (k->slots[j])
        j = (j + 1) & (k->cap - 1);
    k->slots[j] = p;
    k->count++;
    return GL_OK;
}

static void *alloc64(size_t bytes) {
    void *p = NULL;
    return posix_memalign(&p, 64, bytes ? (bytes + 63) & ~(size_t)63 : 64) ? NULL : p;
}

static void pack_f32(gl_packed *p, const float *W) {
    float *d = p->data;
    for (int pn = 0; pn < p->panels; pn++)
        for (int kk = 0; kk < p->Kp; kk++)
            for (int j = 0; j < GL_NR; j++) {
                int n = pn * GL_NR + j;
                *d++ = n < p->N && kk < p->K ? W[(size_t)n * p->K + kk] : 0.0f;
            }
}

static void pack_bf16(gl_packed *p, const float *W) {
    uint16_t *d = p->data;
    for (int pn = 0; pn < p->panels; pn++)
        for (int kk = 0; kk < p->Kp; kk += 2)
            for (int j = 0; j < GL_NR; j++)
                for (int t = 0; t < 2; t++) {
                    int n = pn * GL_NR + j, kx = kk + t;
                    *d++ = n < p->N && kx < p->K ? gl_bf16_of(W[(size_t)n * p->K + kx]) : 0;
                }
}

void gl_quantize_int8(const float *W, int N, int K, int8_t *q, float *scale) {
    for (int n = 0; n < N; n++) {
        const float *w = W + (size_t)n * K;
        float mx = 0;
        for (int kk = 0; kk < K; kk++) /* not fmaxf: a libm call per weight at -O2 */
            mx = fabsf(w[kk]) > mx ? fabsf(w[kk]) : mx;
        float s = mx > 0 ? mx / 127.0f : 1.0f;
        scale[n] = s;
        for (int kk = 0; kk < K; kk++) {
            int v = (int)lrintf(w[kk] / s);
            q[(size_t)n * K + kk] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
        }
    }
}

/* q [N,K] and scale [N] (gl_quantize_int8's) into panels, with the column sums. */
static void pack_int8(gl_packed *p, const int8_t *q, const float *scale) {
    int8_t *d = p->data;
    for (int n = 0; n < p->panels * GL_NR; n++)
        p->scale[n] = n < p->N ? scale[n] : 1.0f;
    memset(p->colsum, 0, sizeof(int32_t) * p->panels * GL_NR);
    for (int pn = 0; pn < p->panels; pn++)
        for (int kk = 0; kk < p->Kp; kk += 4)
            for (int j = 0; j < GL_NR; j++)
                for (int t = 0; t < 4; t++) {
                    int n = pn * GL_NR + j, kx = kk + t;
                    int v = n < p->N && kx < p->K ? q[(size_t)n * p->K + kx] : 0;
                    *d++ = (int8_t)v;
                    p->colsum[n] += v;
                }
}

/* int8 for oneDNN: p->data = q [N,K] (stored, or W quantised here) for its reorder, and the
 * scale and column sums our epilogue applies to its s32 sums (as pack_int8 gives our kernel). */
static gl_status dnnl_int8_scales(gl_packed *p, const float *W, const int8_t *q,
                                  const float *qscale, gl_error *err) {
    size_t cols = (size_t)p->panels * GL_NR;
    p->scale = alloc64(sizeof(float) * cols);
    p->colsum = alloc64(sizeof(int32_t) * cols);
    p->data = malloc((size_t)p->N * p->K);
    if (!p->scale || !p->colsum || !p->data)
        return gl_fail(err, GL_ERR_NOMEM, "kernels: out of memory");
    int8_t *qd = p->data;
    if (q)
        memcpy(qd, q, (size_t)p->N * p->K);
    else
        gl_quantize_int8(W, p->N, p->K, qd, p->scale);
    for (size_t n = 0; n < cols; n++) {
        p->scale[n] = n >= (size_t)p->N ? 1.0f : q ? qscale[n] : p->scale[n];
        p->colsum[n] = 0;
        for (int kk = 0; n < (size_t)p->N && kk < p->K; kk++)
            p->colsum[n] += qd[n * p->K + kk];
    }
    return GL_OK;
}

static gl_status grow_scratch(gl_kernels *k, gl_error *err);

/* Packs W under key, or for int8 the stored q/scale when given (else W quantised here). */
static gl_status pack_weight(gl_kernels *k, const float *key, const float *W, int N, int K,
                             gl_dtype dtype, const int8_t *q, const float *qscale, gl_error *err) {
    if (lookup(k, key)) return GL_OK;
    gl_status s = gl_kernels_supports(k, dtype, err);
    if (s) return s;
    gl_packed *p = calloc(1, sizeof *p);
    if (!p) return gl_fail(err, GL_ERR_NOMEM, "kernels: out of memory");
    p->src = key;
    p->N = N;
    p->K = K;
    p->dtype = dtype;
    p->isa = k->cpu.isa;
    p->panels = (N + GL_NR - 1) / GL_NR;
    p->Kp = dtype == GL_DTYPE_INT8 ? (K + 3) & ~3 : dtype == GL_DTYPE_BF16 ? (K + 1) & ~1 : K;
    size_t elems = (size_t)p->panels * GL_NR * p->Kp;
    size_t esize = dtype == GL_DTYPE_F32 ? 4 : dtype == GL_DTYPE_BF16 ? 2 : 1;
    if (dtype != GL_DTYPE_F32 && k->use_dnnl) { /* oneDNN's reordered copy only */
        s = k->dnnl || (k->dnnl = gl_dnnl_create(k->cpu.isa, err)) ? GL_OK : GL_ERR_INTERNAL;
        if (!s && dtype == GL_DTYPE_INT8) s = dnnl_int8_scales(p, W, q, qscale, err);
        if (!s)
            s = gl_dnnl_pack(k->dnnl, dtype, dtype == GL_DTYPE_INT8 ? (const void *)p->data : W, N,
                             K, p->Kp, &p->dnnl, err);
        if (dtype == GL_DTYPE_INT8) {
            free(p->data); /* the quantised weights live on in oneDNN's copy only */
            p->data = NULL;
        }
        /* by default (AMX), oneDNN stays only if it runs AMX: see gl_dnnl_worth */
        const char *impl = gl_dnnl_impl(k->dnnl);
        int keep = s || k->use_dnnl > 1 || gl_dnnl_worth(impl);
        if (keep) {
            if (!s) s = insert(k, p, err);
            if (!s) s = grow_scratch(k, err);
            if (!s && !k->isa[0])
                snprintf(k->isa, sizeof k->isa, "%s (oneDNN %s)", gl_isa_name(k->cpu.isa), impl);
            if (!s || k->use_dnnl > 1) {
                if (s) packed_free(p);
                return s;
            }
            /* by default, a weight oneDNN cannot take runs on our kernels, said once */
            if (!atomic_exchange(&k->said_dnnl, 1))
                gl_log(GL_LOG_WARN, "%s; using geolabel's own kernels for it",
                       err ? err->msg : "oneDNN");
            if (err) *err = (gl_error){0};
        } else {
            gl_log(GL_LOG_WARN,
                   "oneDNN runs %s here, not AMX (does the OS deny the AMX tiles to this "
                   "process?); using geolabel's own AVX-512 kernels, which are faster then",
                   impl);
        }
        gl_dnnl_weight_free(p->dnnl);
        free(p->scale), free(p->colsum);
        p->dnnl = NULL, p->scale = NULL, p->colsum = NULL;
        if (!keep) { /* the first weight decided: every weight runs on ours, at avx512 */
            gl_dnnl_free(k->dnnl);
            k->dnnl = NULL;
            k->use_dnnl = 0;
            k->cpu.isa = p->isa = GL_ISA_AVX512;
            k->cpu.amx = 0;
        }
    }
    p->data = alloc64(elems * esize);
    int8_t *tmp_q = NULL;
    float *tmp_s = NULL;
    if (dtype == GL_DTYPE_INT8) {
        p->scale = alloc64(sizeof(float) * p->panels * GL_NR);
        p->colsum = alloc64(sizeof(int32_t) * p->panels * GL_NR);
        if (!q) {
            tmp_q = malloc((size_t)N * K);
            tmp_s = malloc(sizeof(float) * (size_t)N);
        }
    }
    if (!p->data ||
        (dtype == GL_DTYPE_INT8 && (!p->scale || !p->colsum || (!q && (!tmp_q || !tmp_s))))) {
        packed_free(p);
        free(tmp_q);
        free(tmp_s);
        return gl_fail(err, GL_ERR_NOMEM, "kernels: cannot allocate %zu bytes of packed weights",
                       elems * esize);
    }
    if (dtype == GL_DTYPE_INT8) {
        if (!q) gl_quantize_int8(W, N, K, tmp_q, tmp_s);
        pack_int8(p, q ? q : tmp_q, q ? qscale : tmp_s);
        free(tmp_q);
        free(tmp_s);
    } else if (dtype == GL_DTYPE_BF16)
        pack_bf16(p, W);
    else
        pack_f32(p, W);
    s = insert(k, p, err);
    if (s) packed_free(p);
    return s ? s : grow_scratch(k, err);
}

gl_status gl_kernels_pack(gl_kernels *k, const float *W, int N, int K, gl_dtype dtype,
                          gl_error *err) {
    return pack_weight(k, W, W, N, K, dtype, NULL, NULL, err);
}

gl_status gl_kernels_pack_from(gl_kernels *k, const float *key, const float *W, int N, int K,
                               gl_dtype dtype, gl_error *err) {
    return pack_weight(k, key, W, N, K, dtype, NULL, NULL, err);
}

gl_status gl_kernels_pack_int8(gl_kernels *k, const float *W, int N, int K, const int8_t *q,
                               const float *scale, gl_error *err) {
    return pack_weight(k, W, W, N, K, GL_DTYPE_INT8, q, scale, err);
}

/* The prepared-activation scratch for rows x kp (f32 rows padded, or bf16/int8), with the
 * per-row scales and zero points. */
static gl_status reserve_act(gl_kernels *k, size_t rows, size_t kp, gl_error *err) {
    free(k->act);
    free(k->act_scale);
    free(k->act_zp);
    k->rows = rows;
    k->max_k = kp;
    k->act = alloc64(rows * (kp + F32_PAD) * 4); /* f32 copies with padded rows, or bf16/int8 */
    k->act_scale = alloc64(rows * sizeof(float));
    k->act_zp = alloc64(rows * sizeof(int32_t));
    if (!k->act || !k->act_scale || !k->act_zp) {
        k->rows = 0; /* nothing prepared runs on a scratch that is not there */
        return gl_fail(err, GL_ERR_NOMEM, "kernels: cannot allocate %zu bytes of scratch",
                       rows * (kp + F32_PAD) * 4);
    }
    return GL_OK;
}

/* The widest packed weight's prepared row and output, which the scratch must hold. */
static void packed_widths(const gl_kernels *k, size_t *max_kp, int *max_dnnl_n) {
    *max_kp = 0;
    *max_dnnl_n = 0;
    for (size_t i = 0; i < k->cap; i++) {
        const gl_packed *p = k->slots[i];
        if (!p) continue;
        if ((size_t)p->Kp > *max_kp) *max_kp = (size_t)p->Kp;
        if (p->dnnl && p->N > *max_dnnl_n) *max_dnnl_n = p->N;
    }
}

/* A weight packed after the reserve, wider than what it was sized for, grows the scratch now,
 * so no call ever meets a packed weight its scratch cannot prepare. */
static gl_status grow_scratch(gl_kernels *k, gl_error *err) {
    if (!k->threads) return GL_OK;
    size_t kp;
    int max_n;
    packed_widths(k, &kp, &max_n);
    gl_status s = kp > k->max_k ? reserve_act(k, k->rows, (kp + 3) & ~(size_t)3, err) : GL_OK;
    return !s && k->dnnl ? gl_dnnl_reserve(k->dnnl, k->threads, max_n, err) : s;
}

gl_status gl_kernels_reserve(gl_kernels *k, size_t rows, int max_k, int max_tokens,
                             int max_head_dim, int threads, gl_error *err) {
    size_t packed_kp;
    int max_n;
    packed_widths(k, &packed_kp, &max_n);
    size_t kp = ((size_t)max_k > packed_kp ? (size_t)max_k : packed_kp);
    kp = (kp + 3) & ~(size_t)3;
    size_t np = ((size_t)max_tokens + 15) & ~(size_t)15;
    free(k->att);
    k->threads = 0;
    k->att_per_thread = (GL_ATT_SCRATCH(max_head_dim, np) + 15) & ~(size_t)15;
    k->att = alloc64(k->att_per_thread * (size_t)(threads > 0 ? threads : 1) * sizeof(float));
    gl_status s = reserve_act(k, rows, kp, err);
    if (!s && !k->att)
        s = gl_fail(err, GL_ERR_NOMEM, "kernels: cannot allocate the attention scratch");
    if (s) return s;
    k->threads = threads > 0 ? threads : 1;
    return k->dnnl ? gl_dnnl_reserve(k->dnnl, threads, max_n, err) : GL_OK;
}

/* ------------------------------------------------------------------ activations */

/* row[i] = act(row[i] + bias[i]) for i < n; bias may be NULL. */
static void bias_act_row(const gl_kernels *k, float *row, const float *bias, int n, gl_act act) {
    if (k && k->cpu.isa >= GL_ISA_AVX512) {
        gl_bias_act_avx512(row, bias, n, act);
        return;
    }
    for (int i = 0; i < n; i++)
        row[i] = gl_act_scalar(act, row[i] + (bias ? bias[i] : 0.0f));
}

/* ------------------------------------------------------------------ linear layers */

/* Splits n into parts blocks of whole multiples of align (the last takes the rest). */
static void split(int n, int parts, int i, int align, int *lo, int *hi) {
    int blocks = (n + align - 1) / align;
    *lo = (int)((long)blocks * i / parts) * align;
    *hi = (int)((long)blocks * (i + 1) / parts) * align;
    if (*lo > n) *lo = n;
    if (*hi > n || i == parts - 1) *hi = n;
}

typedef struct {
    const gl_linear_op *ops;
    const gl_packed **packed; /* per op, NULL for BLAS */
    gl_qact qa;               /* the shared prepared A (all prepared ops share one A) */
    const gl_linear_op *qop;  /* an op whose A was prepared (quantised or padded) */
    gl_kernels *k;
    int n_ops, parts, threads;
} linear_job;

static void dnnl_rows(const linear_job *j, const gl_linear_op *o, const gl_packed *w, int part,
                      int thread);

static void packed_gemm(const linear_job *j, const gl_linear_op *o, const gl_packed *w, int part,
                        int thread) {
    if (w->dnnl) {
        dnnl_rows(j, o, w, part, thread);
        return;
    }
    int p0, p1;
    split(w->panels, j->parts, part, 1, &p0, &p1);
    if (p1 <= p0) return;
    gl_gemm_args g = {w, o->M, o->A, o->lda, &j->qa, o->bias, o->C, o->ldc, o->accumulate, o->act};
    if (w->dtype == GL_DTYPE_F32 && j->qop && j->qop->A == o->A && j->qop->lda == o->lda &&
        j->qa.data) { /* the padded copy */
        g.A = j->qa.data;
        g.lda = j->qa.ld;
    }
    if (w->dtype == GL_DTYPE_INT8)
        gl_gemm_avx512_int8(&g, p0, p1);
    else if (w->dtype == GL_DTYPE_BF16)
        gl_gemm_avx512_bf16(&g, p0, p1);
    else if (w->isa >= GL_ISA_AVX512)
        gl_gemm_avx512_f32(&g, p0, p1);
    else
        gl_gemm_avx2_f32(&g, p0, p1);
}

/* BLAS path: one GEMM call per thread and op, the larger operand split, since BLAS packs each
 * operand once per call. */
static void blas_gemm(const linear_job *j, const gl_linear_op *o, int part) {
    int r0 = 0, r1 = o->M, c0 = 0, c1 = o->N;
    if (o->N >= o->M)
        split(o->N, j->parts, part, SPLIT_ALIGN, &c0, &c1);
    else
        split(o->M, j->parts, part, SPLIT_ALIGN, &r0, &r1);
    if (r1 <= r0 || c1 <= c0) return;
    float *C = o->C + (size_t)r0 * o->ldc + c0;
    gl_sgemm_nt(r1 - r0, c1 - c0, o->K, 1.0f, o->A + (size_t)r0 * o->lda, o->lda,
                o->W + (size_t)c0 * o->K, o->K, o->accumulate ? 1.0f : 0.0f, C, o->ldc);
    if (!o->bias && o->act == GL_ACT_NONE) return;
    for (int r = 0; r < r1 - r0; r++)
        bias_act_row(j->k, C + (size_t)r * o->ldc, o->bias ? o->bias + c0 : NULL, c1 - c0, o->act);
}

/* int8 rows [r0, r1) from oneDNN's s32 sums s, as our VNNI kernel's epilogue: undo each row's
 * zero point with the column sums, scale by row and channel, then bias, act or the residual. */
static void int8_rows(const linear_job *j, const gl_linear_op *o, const gl_packed *w, int r0,
                      int r1, const int32_t *s) {
    for (int r = r0; r < r1; r++, s += o->N) {
        float *c = o->C + (size_t)r * o->ldc, sa = j->qa.scale[r];
        int32_t zp = j->qa.zp[r];
        if (o->accumulate) {
            for (int n = 0; n < o->N; n++)
                c[n] += (float)(s[n] - zp * w->colsum[n]) * (sa * w->scale[n]) +
                        (o->bias ? o->bias[n] : 0.0f);
            continue;
        }
        for (int n = 0; n < o->N; n++)
            c[n] = (float)(s[n] - zp * w->colsum[n]) * (sa * w->scale[n]);
        if (o->bias || o->act != GL_ACT_NONE) bias_act_row(j->k, c, o->bias, o->N, o->act);
    }
}

/* oneDNN's share: whole row blocks (gl_dnnl_blocks) per part. A block oneDNN cannot run (every
 * block height was tried when the weight was packed, so only a failed allocation or a post-op it
 * rejects) has nothing else to run on, since the float weight is gone: its rows become NaN and
 * the failure is kept for gl_kernels_take_failure, which the towers turn into an error. */
static void dnnl_rows(const linear_job *j, const gl_linear_op *o, const gl_packed *w, int part,
                      int thread) {
    int rows, nb = gl_dnnl_blocks(o->M, j->threads, &rows);
    int b0 = (int)((long)nb * part / j->parts), b1 = (int)((long)nb * (part + 1) / j->parts);
    for (int b = b0; b < b1; b++) {
        int r0 = b * rows, r1 = r0 + rows < o->M ? r0 + rows : o->M;
        const int32_t *s32 = NULL;
        if (!j->k->test_fail_dnnl &&
            !gl_dnnl_gemm(j->k->dnnl, w->dnnl, j->qa.data, r0, r1, o->bias, o->C, o->ldc,
                          o->accumulate, o->act, thread, &s32)) {
            if (s32) int8_rows(j, o, w, r0, r1, s32);
            continue;
        }
        kernels_fail(j->k, "oneDNN: its %s matmul of %d rows for a %d x %d weight did not run",
                     gl_dtype_name(w->dtype), r1 - r0, o->N, o->K);
        for (int r = r0; r < r1; r++)
            for (int n = 0; n < o->N; n++)
                o->C[(size_t)r * o->ldc + n] = NAN;
    }
}

static void linear_task(void *ctx, int task, int thread) {
    const linear_job *j = ctx;
    int op = task / j->parts, part = task % j->parts;
    if (j->packed[op])
        packed_gemm(j, &j->ops[op], j->packed[op], part, thread);
    else
        blas_gemm(j, &j->ops[op], part);
}

typedef struct {
    const gl_linear_op *op;
    const gl_packed *w;
    gl_qact *qa;
    int parts;
} quant_job;

/* Rows [r0, r1) of the op's A in the form its kernel reads (padded f32 copy, bf16, uint8). */
static void prep_rows(const quant_job *q, int r0, int r1) {
    if (q->w->dtype == GL_DTYPE_F32) {
        for (int r = r0; r < r1; r++)
            memcpy((float *)q->qa->data + (size_t)r * q->qa->ld, q->op->A + (size_t)r * q->op->lda,
                   sizeof(float) * (size_t)q->op->K);
    } else if (q->w->dtype == GL_DTYPE_BF16)
        gl_quant_avx512_bf16(q->op->A, q->op->lda, q->w->K, q->w->Kp, r0, r1,
                             (uint16_t *)q->qa->data);
    else
        gl_quant_avx512_int8(q->op->A, q->op->lda, q->w->K, q->w->Kp, r0, r1,
                             (uint8_t *)q->qa->data, (float *)q->qa->scale, (int32_t *)q->qa->zp);
}

static void quant_task(void *ctx, int task, int thread) {
    (void)thread;
    const quant_job *q = ctx;
    int r0, r1;
    split(q->op->M, q->parts, task, 1, &r0, &r1);
    if (r1 > r0) prep_rows(q, r0, r1);
}

#define MAX_OPS 8

/* Where the prepared A of weight w lives: the kernels' scratch, in w's dtype and row stride. */
static gl_qact prepared_act(const gl_kernels *k, const gl_packed *w) {
    return (gl_qact){k->act, w->dtype == GL_DTYPE_F32 ? w->K + F32_PAD : w->Kp, k->act_scale,
                     k->act_zp};
}

/* How a call meets its weight. A packed weight is only ever run by the packed kernels: for
 * F16/BF16 files its address is a lookup key, not floats (clip_bind), so BLAS on it would read
 * half-precision bytes as floats. */
typedef enum {
    OP_BLAS,   /* no packed weight: W is floats, BLAS runs it */
    OP_PACKED, /* the packed kernel runs it as it is */
    OP_CHUNK,  /* prepared A taller than the scratch: run in chunks of the reserved rows */
    OP_WRONG   /* a shape other than the packed one, or no scratch: a programming error */
} op_kind;

static op_kind classify(const gl_kernels *k, const gl_linear_op *o, const gl_packed **out) {
    const gl_packed *w = lookup(k, o->W);
    *out = w;
    if (!w) return OP_BLAS;
    if (w->N != o->N || w->K != o->K) return OP_WRONG;
    if (w->dtype == GL_DTYPE_F32) return OP_PACKED; /* reads A itself when it cannot pad it */
    if (!k->rows || (size_t)w->Kp > k->max_k) return OP_WRONG; /* no scratch (never reserved) */
    return (size_t)o->M > k->rows ? OP_CHUNK : OP_PACKED;
}

/* Whether packed weight w's kernel reads op o's A prepared in the scratch: bf16/int8 always
 * (classify saw that it fits); f32 only as the padded copy of rows 4 KB apart, and only when
 * the scratch holds it (else the kernel reads A as it is, a little slower). */
static int prepared(const gl_kernels *k, const gl_packed *w, const gl_linear_op *o) {
    if (w->dtype != GL_DTYPE_F32) return 1;
    return o->lda % 1024 == 0 && o->M > 1 && (size_t)o->M <= k->rows && (size_t)w->Kp <= k->max_k;
}

/* A job's plan: each op's packed weight (NULL: BLAS) and the one op whose A must be prepared
 * (quantised, or padded f32), if any. Returns 0 when the ops cannot share one job (prepared ops
 * with different A, or an op to run in chunks or refuse: gl_linear_many's); at most MAX_OPS. */
static int linear_plan(const gl_kernels *k, const gl_linear_op *ops, int n_ops,
                       const gl_packed **packed, const gl_linear_op **qop_out) {
    const gl_linear_op *qop = NULL;
    for (int i = 0; i < n_ops; i++) {
        const gl_packed *w;
        op_kind kind = classify(k, &ops[i], &w);
        if (kind == OP_CHUNK || kind == OP_WRONG) return 0;
        packed[i] = w;
        if (w && prepared(k, w, &ops[i])) {
            if (qop && (qop->A != ops[i].A || qop->lda != ops[i].lda || qop->M != ops[i].M ||
                        qop->K != ops[i].K || lookup(k, qop->W)->dtype != w->dtype))
                return 0;
            qop = &ops[i];
        }
    }
    *qop_out = qop;
    return 1;
}

/* The GEMM job of planned ops; prepare: A still has to be prepared (0: the LayerNorm did it). */
static void linear_run(gl_pool *pool, const gl_linear_op *ops, int n_ops, const gl_packed **packed,
                       const gl_linear_op *qop, int prepare) {
    gl_kernels *k = gl_pool_kernels(pool);
    linear_job j = {ops, packed, {0}, qop, k, n_ops, gl_pool_threads(pool), gl_pool_threads(pool)};
    /* Packed GEMMs are cut into 4 parts per thread, claimed dynamically, so a thread that the OS
     * delays (another process, the label reader) does not hold the whole job back; each C
     * element is still computed by one task, so results do not change. BLAS keeps one call per
     * thread (it packs per call). */
    int all_packed = 1;
    for (int i = 0; i < n_ops; i++)
        all_packed = all_packed && packed[i] && packed[i]->panels >= 8 * j.parts;
    if (all_packed && j.parts > 1) j.parts *= 4;
    if (qop) {
        j.qa = prepared_act(k, lookup(k, qop->W));
        quant_job q = {qop, lookup(k, qop->W), &j.qa, j.parts};
        if (prepare) gl_pool_run(pool, j.parts, quant_task, &q);
    }
    gl_pool_run(pool, n_ops * j.parts, linear_task, &j);
}

/* An op whose shape is not its packed weight's (or with no scratch reserved) has nothing
 * correct to run on: its output rows become NaN and the failure is kept for
 * gl_kernels_take_failure, which the towers turn into an error. */
static void linear_refuse(gl_kernels *k, const gl_linear_op *o, const gl_packed *w) {
    kernels_fail(k,
                 "kernels: the %s weight packed as %d x %d was called as %d x %d with %d rows%s "
                 "(a programming error); nothing was computed",
                 gl_dtype_name(w->dtype), w->N, w->K, o->N, o->K, o->M,
                 k->rows ? "" : " before any scratch was reserved");
    for (int r = 0; r < o->M; r++)
        for (int n = 0; n < o->N; n++)
            o->C[(size_t)r * o->ldc + n] = NAN;
}

void gl_linear_many(gl_pool *pool, const gl_linear_op *ops, int n_ops) {
    if (n_ops > MAX_OPS) {
        gl_linear_many(pool, ops, MAX_OPS);
        gl_linear_many(pool, ops + MAX_OPS, n_ops - MAX_OPS);
        return;
    }
    gl_kernels *k = gl_pool_kernels(pool);
    const gl_packed *packed[MAX_OPS];
    const gl_linear_op *qop = NULL;
    if (linear_plan(k, ops, n_ops, packed, &qop)) {
        linear_run(pool, ops, n_ops, packed, qop, 1);
        return;
    }
    for (int t = 0; t < n_ops; t++) { /* one by one: prepared ops without a shared A, or ... */
        const gl_packed *w;
        op_kind kind = classify(k, &ops[t], &w);
        if (kind == OP_WRONG) { /* ... a call its packed weight cannot run */
            linear_refuse(k, &ops[t], w);
        } else if (kind == OP_CHUNK) { /* ... or more rows than the scratch: rows are apart */
            for (int r0 = 0; r0 < ops[t].M; r0 += (int)k->rows) {
                gl_linear_op c = ops[t];
                c.M = ops[t].M - r0 < (int)k->rows ? ops[t].M - r0 : (int)k->rows;
                c.A += (size_t)r0 * c.lda;
                c.C += (size_t)r0 * c.ldc;
                gl_linear_many(pool, &c, 1);
            }
        } else {
            gl_linear_many(pool, &ops[t], 1);
        }
    }
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
    const quant_job *prep; /* NULL, or the next GEMM's A to prepare from each row while hot */
} ln_job;

/* Sums in 8 float lanes (vectorised by the compiler), two passes: mean, then centred squares. */
static void ln_task(void *ctx, int task, int thread) {
    (void)thread;
    const ln_job *j = ctx;
    int end = (task + 1) * LN_ROWS < j->rows ? (task + 1) * LN_ROWS : j->rows, d = j->d;
    for (int r = task * LN_ROWS; r < end; r++) {
        const float *x = j->x + (size_t)r * d;
        float *y = j->y + (size_t)r * d;
        float s8[8] = {0}, q8[8] = {0};
        int i = 0;
        for (; i + 8 <= d; i += 8)
            for (int l = 0; l < 8; l++)
                s8[l] += x[i + l];
        double s = 0;
        for (int l = 0; l < 8; l++)
            s += s8[l];
        for (; i < d; i++)
            s += x[i];
        float m = (float)(s / d);
        for (i = 0; i + 8 <= d; i += 8)
            for (int l = 0; l < 8; l++)
                q8[l] += (x[i + l] - m) * (x[i + l] - m);
        double ss = 0;
        for (int l = 0; l < 8; l++)
            ss += q8[l];
        for (; i < d; i++)
            ss += (double)(x[i] - m) * (x[i] - m);
        float inv = (float)(1.0 / sqrt(ss / d + j->eps));
        for (i = 0; i < d; i++)
            y[i] = (x[i] - m) * inv * j->w[i] + j->b[i];
        if (j->prep) prep_rows(j->prep, r, r + 1);
    }
}

void gl_layer_norm(gl_pool *pool, const float *x, float *y, int rows, int d, const float *w,
                   const float *b, float eps) {
    ln_job j = {x, w, b, y, rows, d, eps, NULL};
    gl_pool_run(pool, (rows + LN_ROWS - 1) / LN_ROWS, ln_task, &j);
}

void gl_layer_norm_linear(gl_pool *pool, const float *x, float *h, int rows, int d, const float *w,
                          const float *b, float eps, const gl_linear_op *ops, int n_ops) {
    const gl_packed *packed[MAX_OPS];
    const gl_linear_op *qop = NULL;
    gl_kernels *k = gl_pool_kernels(pool);
    int fused = n_ops <= MAX_OPS && linear_plan(k, ops, n_ops, packed, &qop) && qop &&
                qop->A == h && qop->lda == d && qop->M == rows && qop->K == d;
    if (!fused) {
        gl_layer_norm(pool, x, h, rows, d, w, b, eps);
        gl_linear_many(pool, ops, n_ops);
        return;
    }
    const gl_packed *pw = lookup(k, qop->W);
    gl_qact qa = prepared_act(k, pw);
    quant_job q = {qop, pw, &qa, 1};
    ln_job j = {x, w, b, h, rows, d, eps, &q};
    gl_pool_run(pool, (rows + LN_ROWS - 1) / LN_ROWS, ln_task, &j);
    linear_run(pool, ops, n_ops, packed, qop, 0);
}

/* ------------------------------------------------------------------ attention */

static void softmax_row(float *s, int n) {
    float m = s[0];
    for (int i = 1; i < n; i++)
        m = s[i] > m ? s[i] : m;
    float sum = 0;
    for (int i = 0; i < n; i++) {
        s[i] = expf(s[i] - m);
        sum += s[i];
    }
    float inv = 1.0f / sum;
    for (int i = 0; i < n; i++)
        s[i] *= inv;
}

typedef struct {
    const gl_attention_args *a;
    const gl_kernels *k;
} attention_job;

static void attention_task(void *ctx, int task, int thread) {
    const attention_job *j = ctx;
    const gl_attention_args *a = j->a;
    int seq = task / a->heads, head = task % a->heads;
    int hd = a->d / a->heads, n = a->len[seq];
    if (j->k && j->k->cpu.isa >= GL_ISA_AVX512 && j->k->att &&
        GL_ATT_SCRATCH(hd, (n + 15) & ~15) <= j->k->att_per_thread) {
        gl_attention_avx512(a, seq, head, j->k->att + j->k->att_per_thread * thread);
        return;
    }
    size_t base = (size_t)a->offset[seq] * a->d + (size_t)head * hd;
    float *S = a->scratch + a->scratch_per_thread * thread;
    /* query rows [i0, i0 + m), at q/out with the same row stride d */
    int i0 = a->query_row ? a->query_row[seq] : 0, m = a->query_row ? 1 : n;
    size_t at = a->query_row ? (size_t)seq * a->d + (size_t)head * hd : base;
    gl_sgemm_nt(m, n, hd, a->scale, a->q + at, a->d, a->k + base, a->d, 0.0f, S, n);
    for (int i = 0; i < m; i++) {
        float *row = S + (size_t)i * n;
        int seen = a->causal ? i0 + i + 1 : n;
        softmax_row(row, seen);
        if (seen < n) memset(row + seen, 0, sizeof(float) * (size_t)(n - seen));
    }
    gl_sgemm_nn(m, hd, n, 1.0f, S, n, a->v + base, a->d, 0.0f, a->out + at, a->d);
}

void gl_attention(gl_pool *pool, const gl_attention_args *a) {
    attention_job j = {a, gl_pool_kernels(pool)};
    gl_pool_run(pool, a->n_seqs * a->heads, attention_task, &j);
}
