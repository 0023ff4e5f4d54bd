/* test_kernels.c: the packed GEMMs on every ISA path this CPU has (GEOLABEL_ISA) against a
 * double-precision reference, one-pass attention, the fixtures' parity per ISA path, and the
 * bf16/int8 accuracy gates (cosine to f32, zero-shot agreement) on the fixture models. */
#include "clip/clip_internal.h"
#include "core/gemm.h"
#include "gemm_ref.h"
#include "harness.h"
#include "io/safetensors.h"

static const char *models[] = {"clip-tiny-b32", "clip-tiny-l14-336"};
static const char *isas[] = {"avx2", "avx512"};

/* The ISA levels this machine offers, lowest first; returns how many. */
static int available_isas(void) {
    gl_cpu cpu;
    gl_error err = {0};
    unsetenv("GEOLABEL_ISA");
    if (gl_cpu_detect(&cpu, &err)) return 0;
    return cpu.native >= GL_ISA_AVX512 ? 2 : 1;
}

/* C = act(A W^T + bias) (+ C0) for one shape, on a pool of `threads`, against doubles. */
static void check_gemm(gl_dtype dt, int M, int N, int K, gl_act act, int accumulate, int threads,
                       double tol) {
    unsigned seed = (unsigned)(M * 131 + N * 7 + K);
    float *A = malloc(sizeof(float) * M * K), *W = malloc(sizeof(float) * N * K),
          *bias = malloc(sizeof(float) * N), *C = malloc(sizeof(float) * M * N),
          *ref = malloc(sizeof(float) * M * N);
    fill_gemm(&seed, M, N, K, A, W, bias);
    double scale = 0;
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s = bias[n];
            for (int k = 0; k < K; k++)
                s += (double)A[m * K + k] * W[n * K + k];
            C[m * N + n] = accumulate ? (float)(m - n) * 0.25f : 7.0f;
            ref[m * N + n] = (float)(accumulate ? C[m * N + n] + s : act_ref(act, s));
            scale = fmax(scale, fabs(ref[m * N + n]));
        }
    gl_error err = {0};
    gl_kernels *k = gl_kernels_create(&err);
    gl_pool *pool = gl_pool_create(threads, &err);
    CHECK(k && pool, "%s", err.msg);
    if (k && pool) {
        CHECK_OK(gl_kernels_pack(k, W, N, K, dt, &err), &err);
        CHECK_OK(gl_kernels_reserve(k, (size_t)M, K, 8, 8, threads, &err), &err);
        gl_pool_set_kernels(pool, k);
        gl_linear(pool, M, N, K, A, K, W, bias, C, N, accumulate, act);
        char what[128];
        snprintf(what, sizeof what, "%s %s M%d N%d K%d act%d acc%d t%d", gl_kernels_isa(k),
                 gl_dtype_name(dt), M, N, K, (int)act, accumulate, threads);
        CHECK_CLOSE(what, C, ref, (size_t)M * N, tol * (scale > 1 ? scale : 1), 0);
    }
    gl_pool_free(pool);
    gl_kernels_free(k);
    free(A), free(W), free(bias), free(C), free(ref);
}

static const int shapes[][3] = {{1, 1, 1},     {13, 33, 7}, {50, 70, 64},  {97, 100, 129},
                                {12, 32, 768}, {25, 64, 3}, {20, 33, 1024}};

static void test_gemm_f32_every_isa(void) {
    int n = available_isas();
    CHECK(n >= 1, "no usable ISA");
    for (int i = 0; i < n; i++) {
        setenv("GEOLABEL_ISA", isas[i], 1);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int t = 1; t <= 2; t++) {
                check_gemm(GL_DTYPE_F32, shapes[s][0], shapes[s][1], shapes[s][2], GL_ACT_NONE, 0,
                           t, 2e-6);
                check_gemm(GL_DTYPE_F32, shapes[s][0], shapes[s][1], shapes[s][2],
                           GL_ACT_QUICK_GELU, 0, t, 2e-6);
                check_gemm(GL_DTYPE_F32, shapes[s][0], shapes[s][1], shapes[s][2], GL_ACT_GELU, 0,
                           t, 2e-6);
                check_gemm(GL_DTYPE_F32, shapes[s][0], shapes[s][1], shapes[s][2], GL_ACT_NONE, 1,
                           t, 2e-6);
            }
    }
    if (n < 2) printf("note: this CPU has no AVX-512; only the avx2 path was tested\n");
    unsetenv("GEOLABEL_ISA");
}

static int supported(gl_dtype dt) {
    gl_error err = {0};
    gl_kernels *k = gl_kernels_create(&err);
    int ok = k && gl_kernels_supports(k, dt, &err) == GL_OK;
    gl_kernels_free(k);
    return ok;
}

static void test_gemm_bf16_int8(void) {
    unsetenv("GEOLABEL_ISA");
    if (!supported(GL_DTYPE_BF16) || !supported(GL_DTYPE_INT8))
        SKIP("this CPU lacks AVX512-BF16 or AVX512-VNNI");
    /* bf16 keeps 8 bits of mantissa, int8 about 7: errors of a few 1e-3 of the output scale */
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int t = 1; t <= 2; t++) {
            check_gemm(GL_DTYPE_BF16, shapes[s][0], shapes[s][1], shapes[s][2], GL_ACT_NONE, 0, t,
                       1.5e-2);
            check_gemm(GL_DTYPE_BF16, shapes[s][0], shapes[s][1], shapes[s][2], GL_ACT_NONE, 1, t,
                       1.5e-2);
            check_gemm(GL_DTYPE_INT8, shapes[s][0], shapes[s][1], shapes[s][2], GL_ACT_NONE, 0, t,
                       2.5e-2);
            check_gemm(GL_DTYPE_INT8, shapes[s][0], shapes[s][1], shapes[s][2], GL_ACT_QUICK_GELU,
                       0, t, 2.5e-2);
        }
    /* a bf16 GEMM on an exactly representable input is exact */
    float A[4] = {1.0f, 2.0f, -0.5f, 0.25f}, W[8] = {1, 1, 1, 1, 2, 0, 0, -4}, C[2],
          ref[2] = {2.75f, 1.0f};
    gl_error err = {0};
    gl_kernels *k = gl_kernels_create(&err);
    gl_pool *pool = gl_pool_create(1, &err);
    CHECK_OK(gl_kernels_pack(k, W, 2, 4, GL_DTYPE_BF16, &err), &err);
    CHECK_OK(gl_kernels_reserve(k, 1, 4, 8, 8, 1, &err), &err);
    gl_pool_set_kernels(pool, k);
    gl_linear(pool, 1, 2, 4, A, 4, W, NULL, C, 2, 0, GL_ACT_NONE);
    CHECK_CLOSE("bf16 exact", C, ref, 2, 0, 0);
    gl_pool_free(pool);
    gl_kernels_free(k);
}

/* out [M,N] = A [M,K] W [N,K]^T + bias in doubles, rounded to float; returns max(1, max |out|). */
static double ref_linear(const float *A, const float *W, const float *bias, int M, int N, int K,
                         float *out) {
    double scale = 1;
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s = bias[n];
            for (int kk = 0; kk < K; kk++)
                s += (double)A[(size_t)m * K + kk] * W[(size_t)n * K + kk];
            out[(size_t)m * N + n] = (float)s;
            scale = fmax(scale, fabs(s));
        }
    return scale;
}

/* A weight stored BF16 is packed from its widened floats under its stored address, which is then
 * only a key (clip_bind): the bytes there are half-precision, not floats. A call with more rows
 * than the reserved scratch (M 37 > 5), or a weight wider than the reserve's max_k (K 1024 > 64),
 * must still run the packed kernel, never BLAS on the key; a call of another shape gets NaN, not
 * numbers read from the key. Every dtype, reserve before and after packing, 1 and 2 threads,
 * directly and through gl_layer_norm_linear, against doubles from the widened weights. */
static void test_packed_key_only(void) {
    unsetenv("GEOLABEL_ISA");
    int M = 37, N = 48, K = 1024, rows = 5;
    unsigned seed = 4242;
    float *A = malloc(sizeof(float) * M * K), *Wf = malloc(sizeof(float) * N * K),
          *widened = malloc(sizeof(float) * N * K), *bias = malloc(sizeof(float) * N),
          *C = malloc(sizeof(float) * M * N), *ref = malloc(sizeof(float) * M * N),
          *h = malloc(sizeof(float) * M * K), *lw = malloc(sizeof(float) * K),
          *lb = calloc((size_t)K, sizeof(float));
    uint16_t *stored = malloc(sizeof(uint16_t) * N * K); /* the file's BF16 bytes: the key */
    fill_gemm(&seed, M, N, K, A, Wf, bias);
    for (int i = 0; i < N * K; i++) {
        stored[i] = gl_bf16_of(Wf[i]);
        uint32_t u = (uint32_t)stored[i] << 16;
        memcpy(&widened[i], &u, 4);
    }
    for (int i = 0; i < K; i++)
        lw[i] = 1.0f;
    double scale = ref_linear(A, widened, bias, M, N, K, ref);
    const float *key = (const float *)(const void *)stored;
    for (gl_dtype dt = GL_DTYPE_F32; dt <= GL_DTYPE_INT8; dt++) {
        if (!supported(dt)) {
            printf("note: %s not run here (CPU lacks it)\n", gl_dtype_name(dt));
            continue;
        }
        double tol = dt == GL_DTYPE_F32 ? 2e-6 : dt == GL_DTYPE_BF16 ? 1.5e-2 : 2.5e-2;
        for (int order = 0; order < 2; order++)
            for (int t = 1; t <= 2; t++) {
                gl_error err = {0};
                gl_kernels *k = gl_kernels_create(&err);
                gl_pool *pool = gl_pool_create(t, &err);
                float *W = malloc(sizeof(float) * N * K);
                memcpy(W, widened, sizeof(float) * N * K);
                if (order) CHECK_OK(gl_kernels_reserve(k, (size_t)rows, 64, 8, 8, t, &err), &err);
                CHECK_OK(gl_kernels_pack_from(k, key, W, N, K, dt, &err), &err);
                if (!order) CHECK_OK(gl_kernels_reserve(k, (size_t)rows, 64, 8, 8, t, &err), &err);
                for (int i = 0; i < N * K; i++) /* read only during the pack */
                    W[i] = NAN;
                gl_pool_set_kernels(pool, k);
                char what[96];
                snprintf(what, sizeof what, "%s %s key-only M%d > %d rows, order %d, t%d",
                         gl_kernels_isa(k), gl_dtype_name(dt), M, rows, order, t);
                for (int i = 0; i < M * N; i++)
                    C[i] = 7.0f;
                gl_linear(pool, M, N, K, A, K, key, bias, C, N, 0, GL_ACT_NONE);
                CHECK_CLOSE(what, C, ref, (size_t)M * N, tol * scale, 0);
                /* through the LayerNorm's fused preparation (h = LN(A), then h W^T + bias) */
                gl_linear_op op = {M, N, K, h, K, key, bias, C, N, 0, GL_ACT_NONE};
                for (int i = 0; i < M * N; i++)
                    C[i] = 7.0f;
                gl_layer_norm_linear(pool, A, h, M, K, lw, lb, 1e-5f, &op, 1);
                float *ref_ln = malloc(sizeof(float) * M * N);
                double ln_scale = ref_linear(h, widened, bias, M, N, K, ref_ln);
                snprintf(what, sizeof what, "%s %s layer_norm_linear key-only M%d, order %d, t%d",
                         gl_kernels_isa(k), gl_dtype_name(dt), M, order, t);
                CHECK_CLOSE(what, C, ref_ln, (size_t)M * N, tol * ln_scale, 0);
                free(ref_ln);
                /* another shape than the packed one: NaN, never floats read from the key */
                for (int i = 0; i < M * N; i++)
                    C[i] = 7.0f;
                gl_linear(pool, M, N - 1, K, A, K, key, bias, C, N - 1, 0, GL_ACT_NONE);
                int nan = 0;
                for (int i = 0; i < M * (N - 1); i++)
                    nan += isnan(C[i]) != 0;
                CHECK(nan == M * (N - 1), "%s %s: %d of %d outputs NaN for a wrong shape",
                      gl_kernels_isa(k), gl_dtype_name(dt), nan, M * (N - 1));
                /* and it is kept as a failure the forward reports, once */
                err = (gl_error){0};
                CHECK(gl_kernels_take_failure(k, &err) != GL_OK &&
                          strstr(err.msg, "packed as 48 x 1024 was called as 47 x 1024") &&
                          !strchr(err.msg, '\n'),
                      "failure: '%s'", err.msg);
                CHECK(gl_kernels_take_failure(k, &err) == GL_OK, "the failure was not cleared");
                free(W);
                gl_pool_free(pool);
                gl_kernels_free(k);
            }
    }
    free(A), free(Wf), free(widened), free(bias), free(C), free(ref), free(stored), free(h);
    free(lw), free(lb);
}

/* gl_layer_norm_linear (the next GEMM's A prepared in the LayerNorm's pass) gives exactly what
 * LayerNorm then gl_linear_many gives, for every dtype and ISA here: d = 1024 (rows 4 KB apart:
 * the padded f32 copy) and 96, one op and three sharing A, 1 and 2 threads. */
static void test_layer_norm_linear(void) {
    int n_isa = available_isas();
    for (int i = 0; i < n_isa; i++)
        for (gl_dtype dt = GL_DTYPE_F32; dt <= GL_DTYPE_INT8; dt++) {
            setenv("GEOLABEL_ISA", isas[i], 1);
            if (!supported(dt)) continue;
            for (int d = 96; d <= 1024; d += 928)
                for (int t = 1; t <= 2; t++) {
                    int rows = 37, N = 80;
                    unsigned seed = (unsigned)(d + t);
                    float *x = malloc(sizeof(float) * rows * d),
                          *h = malloc(sizeof(float) * rows * d), *lw = malloc(sizeof(float) * d),
                          *lb = malloc(sizeof(float) * d), *W = malloc(sizeof(float) * 3 * N * d),
                          *bias = malloc(sizeof(float) * N),
                          *C1 = malloc(sizeof(float) * 3 * rows * N),
                          *C2 = malloc(sizeof(float) * 3 * rows * N);
                    for (int j = 0; j < rows * d; j++)
                        x[j] = frand(&seed) * 3 + 0.5f;
                    for (int j = 0; j < d; j++)
                        lw[j] = 1 + frand(&seed), lb[j] = frand(&seed);
                    for (int j = 0; j < 3 * N * d; j++)
                        W[j] = frand(&seed);
                    for (int j = 0; j < N; j++)
                        bias[j] = frand(&seed);
                    gl_error err = {0};
                    gl_kernels *k = gl_kernels_create(&err);
                    gl_pool *pool = gl_pool_create(t, &err);
                    for (int w = 0; w < 3; w++)
                        CHECK_OK(gl_kernels_pack(k, W + (size_t)w * N * d, N, d, dt, &err), &err);
                    CHECK_OK(gl_kernels_reserve(k, (size_t)rows, d, 8, 8, t, &err), &err);
                    gl_pool_set_kernels(pool, k);
                    for (int n_ops = 1; n_ops <= 3; n_ops += 2) {
                        gl_linear_op ops[3];
                        for (int w = 0; w < 3; w++)
                            ops[w] = (gl_linear_op){rows,
                                                    N,
                                                    d,
                                                    h,
                                                    d,
                                                    W + (size_t)w * N * d,
                                                    bias,
                                                    C1 + (size_t)w * rows * N,
                                                    N,
                                                    0,
                                                    GL_ACT_QUICK_GELU};
                        gl_layer_norm(pool, x, h, rows, d, lw, lb, 1e-5f);
                        gl_linear_many(pool, ops, n_ops);
                        for (int w = 0; w < 3; w++)
                            ops[w].C = C2 + (size_t)w * rows * N;
                        memset(h, 0, sizeof(float) * rows * d);
                        gl_layer_norm_linear(pool, x, h, rows, d, lw, lb, 1e-5f, ops, n_ops);
                        CHECK(!memcmp(C1, C2, sizeof(float) * (size_t)n_ops * rows * N),
                              "%s %s d %d t %d ops %d: fused LayerNorm differs", isas[i],
                              gl_dtype_name(dt), d, t, n_ops);
                    }
                    gl_pool_free(pool);
                    gl_kernels_free(k);
                    free(x), free(h), free(lw), free(lb), free(W), free(bias), free(C1), free(C2);
                }
        }
    unsetenv("GEOLABEL_ISA");
}

/* Attention against doubles: causal and not, several lengths, head widths 16, 24, 64 and 80
 * (24 and 80 leave part of a 16- or 32-column block), every row, then one query row per sequence
 * (the pooled last layer's form: q and out compact [n_seqs, d]) at the first, last and middle
 * positions. Every buffer is a heap block of exactly its size, so that under ASan a vector load
 * or store past a row, a head or the last sequence is reported. */
static void test_attention_paths(void) {
    int n_isa = available_isas();
    static const int hds[] = {16, 24, 64, 80};
    static const int qrows[][3] = {{0, 0, 0}, {0, 18, 49}, {0, 7, 31}};
    for (int i = 0; i < n_isa; i++) {
        setenv("GEOLABEL_ISA", isas[i], 1);
        for (int causal = 0; causal < 2; causal++)
            for (size_t hi = 0; hi < sizeof hds / sizeof hds[0]; hi++) {
                int hd = hds[hi], heads = 3, d = heads * hd, lens[3] = {1, 19, 50},
                    offs[3] = {0, 1, 20};
                int rows = 70;
                unsigned seed = 99;
                float *q = malloc(sizeof(float) * rows * d), *kk = malloc(sizeof(float) * rows * d),
                      *v = malloc(sizeof(float) * rows * d),
                      *out = malloc(sizeof(float) * rows * d),
                      *ref = malloc(sizeof(float) * rows * d),
                      *scratch = malloc(sizeof(float) * 2 * 50 * 50);
                for (int j = 0; j < rows * d; j++)
                    q[j] = frand(&seed) * 4, kk[j] = frand(&seed) * 4, v[j] = frand(&seed);
                float scale = 1.0f / sqrtf((float)hd);
                for (int s = 0; s < 3; s++)
                    for (int h = 0; h < heads; h++)
                        for (int r = 0; r < lens[s]; r++) {
                            int seen = causal ? r + 1 : lens[s];
                            double p[50], mx = -1e30, sum = 0;
                            for (int c = 0; c < seen; c++) {
                                double dot = 0;
                                for (int e = 0; e < hd; e++)
                                    dot += (double)q[(offs[s] + r) * d + h * hd + e] *
                                           kk[(offs[s] + c) * d + h * hd + e];
                                p[c] = dot * scale;
                                mx = fmax(mx, p[c]);
                            }
                            for (int c = 0; c < seen; c++)
                                sum += p[c] = exp(p[c] - mx);
                            for (int e = 0; e < hd; e++) {
                                double o = 0;
                                for (int c = 0; c < seen; c++)
                                    o += p[c] / sum * v[(offs[s] + c) * d + h * hd + e];
                                ref[(offs[s] + r) * d + h * hd + e] = (float)o;
                            }
                        }
                gl_error err = {0};
                gl_kernels *k = gl_kernels_create(&err);
                gl_pool *pool = gl_pool_create(2, &err);
                CHECK_OK(gl_kernels_reserve(k, 8, 8, 50, hd, 2, &err), &err);
                gl_pool_set_kernels(pool, k);
                gl_attention_args a = {q,    kk,   v,      out,   d,       heads,   3,
                                       offs, lens, causal, scale, scratch, 50 * 50, NULL};
                gl_attention(pool, &a);
                char what[96];
                snprintf(what, sizeof what, "%s attention causal %d hd %d", isas[i], causal, hd);
                CHECK_CLOSE(what, out, ref, (size_t)rows * d, 2e-6, 1e-5);
                for (size_t qi = 0; qi < sizeof qrows / sizeof qrows[0]; qi++) {
                    float *qc = malloc(sizeof(float) * 3 * d), *oc = malloc(sizeof(float) * 3 * d),
                          *rc = malloc(sizeof(float) * 3 * d);
                    for (int s = 0; s < 3; s++) {
                        size_t at = (size_t)(offs[s] + qrows[qi][s]) * d;
                        memcpy(qc + s * d, q + at, sizeof(float) * d);
                        memcpy(rc + s * d, ref + at, sizeof(float) * d);
                    }
                    a.q = qc;
                    a.out = oc;
                    a.query_row = qrows[qi];
                    gl_attention(pool, &a);
                    snprintf(what, sizeof what, "%s attention causal %d hd %d, query rows %d %d %d",
                             isas[i], causal, hd, qrows[qi][0], qrows[qi][1], qrows[qi][2]);
                    CHECK_CLOSE(what, oc, rc, (size_t)3 * d, 2e-6, 1e-5);
                    free(qc), free(oc), free(rc);
                }
                gl_pool_free(pool);
                gl_kernels_free(k);
                free(q), free(kk), free(v), free(out), free(ref), free(scratch);
            }
    }
    unsetenv("GEOLABEL_ISA");
}

static void test_isa_variable(void) {
    gl_cpu cpu;
    gl_error err = {0};
    setenv("GEOLABEL_ISA", "sse9", 1);
    CHECK(gl_cpu_detect(&cpu, &err) == GL_ERR_ARG && strstr(err.msg, "GEOLABEL_ISA"), "%s",
          err.msg);
    unsetenv("GEOLABEL_ISA");
    CHECK_OK(gl_cpu_detect(&cpu, &err), &err);
    /* a cap above the CPU (amx here, where there is no AMX) falls back to the CPU's best level,
     * and a model loads and runs there */
    gl_isa native = cpu.native;
    setenv("GEOLABEL_ISA", "amx", 1);
    CHECK_OK(gl_cpu_detect(&cpu, &err), &err);
    CHECK(cpu.isa == native, "GEOLABEL_ISA=amx gave %s on a CPU offering %s", gl_isa_name(cpu.isa),
          gl_isa_name(native));
    gl_clip *any = gl_clip_load(t_path("fixtures/clip-tiny-b32"), NULL, &err);
    CHECK(any && !strcmp(gl_clip_isa(any), gl_isa_name(native)), "%s", err.msg);
    gl_clip_free(any);
    setenv("GEOLABEL_ISA", "avx2", 1);
    CHECK_OK(gl_cpu_detect(&cpu, &err), &err);
    CHECK(cpu.isa == GL_ISA_AVX2 && !cpu.bf16 && !cpu.vnni, "avx2 cap");
    /* at avx2, low-precision dtypes are refused with a message, not emulated inexactly */
    gl_clip_params p = gl_clip_default_params();
    p.dtype = GL_DTYPE_INT8;
    gl_clip *c = gl_clip_load(t_path("fixtures/clip-tiny-b32"), &p, &err);
    CHECK(!c && err.code == GL_ERR_UNSUPPORTED && strstr(err.msg, "int8"), "%s", err.msg);
    gl_clip_free(c);
    unsetenv("GEOLABEL_ISA");
}

static gl_clip *load(const char *model, int threads, int batch, gl_dtype dt, gl_error *err) {
    gl_clip_params p = gl_clip_default_params();
    p.threads = threads;
    p.max_batch = batch;
    p.dtype = dt;
    return gl_clip_load(t_path("fixtures/%s", model), &p, err);
}

/* Embeddings of the fixture images and texts; caller frees *img, *txt. */
static int embed_all(gl_clip *c, float **img, int *n, float **txt, int *m, gl_error *err) {
    gl_npy *px =
        gl_npy_load(t_path("fixtures/expected/%s/pixel_values.npy",
                           c->cfg.vision.image_size == 336 ? "clip-tiny-l14-336" : "clip-tiny-b32"),
                    err);
    gl_npy *ids = px ? gl_npy_load(t_path("fixtures/expected/input_ids.npy"), err) : NULL;
    int ok = px && ids;
    if (ok) {
        int P = gl_clip_projection_dim(c);
        *n = (int)px->shape[0];
        *m = (int)ids->shape[0];
        *img = calloc((size_t)*n * P, sizeof(float));
        *txt = calloc((size_t)*m * P, sizeof(float));
        ok = !gl_clip_encode_images(c, px->data, *n, *img, err) &&
             !gl_clip_encode_tokens(c, ids->data, *m, *txt, err);
    }
    gl_npy_free(px);
    gl_npy_free(ids);
    return ok;
}

/* A oneDNN block that fails at run time (gl_kernels_test_hooks; in the product an allocation or a
 * post-op oneDNN rejects) makes the forward fail with oneDNN's one line naming the model, not NaN
 * embeddings or the NaN check's message; the next forward, without the failure, is whole again. */
static void test_dnnl_failure_is_an_error(void) {
    unsetenv("GEOLABEL_ISA");
    if (!supported(GL_DTYPE_BF16) || !supported(GL_DTYPE_INT8))
        SKIP("this CPU lacks AVX512-BF16 or AVX512-VNNI: no oneDNN path to fail");
    setenv("GEOLABEL_GEMM", "dnnl", 1);
    for (gl_dtype dt = GL_DTYPE_BF16; dt <= GL_DTYPE_INT8; dt++) {
        gl_error err = {0};
        gl_clip *c = load("clip-tiny-b32", 2, 4, dt, &err);
        CHECK(c, "%s", err.msg);
        if (!c) continue;
        CHECK(strstr(gl_kernels_isa(c->kernels), "oneDNN"), "not oneDNN: %s",
              gl_kernels_isa(c->kernels));
        float *img = NULL, *txt = NULL;
        int n = 0, m = 0;
        gl_kernels_test_hooks(c->kernels, 0, 1);
        int ok = embed_all(c, &img, &n, &txt, &m, &err);
        CHECK(!ok && strstr(err.msg, "clip-tiny-b32: oneDNN: its ") &&
                  strstr(err.msg, " did not run") && !strchr(err.msg, '\n'),
              "%s: failing blocks gave '%s'", gl_dtype_name(dt), ok ? "success" : err.msg);
        free(img), free(txt);
        img = txt = NULL;
        gl_kernels_test_hooks(c->kernels, 0, 0);
        err = (gl_error){0};
        ok = embed_all(c, &img, &n, &txt, &m, &err);
        CHECK(ok, "%s: after the failure: %s", gl_dtype_name(dt), err.msg);
        free(img), free(txt);
        gl_clip_free(c);
    }
    unsetenv("GEOLABEL_GEMM");
}

/* Every ISA path, several batch sizes and thread counts, against transformers' embeddings. */
static void test_fixture_parity_every_isa(void) {
    int n_isa = available_isas();
    static const int runs[][2] = {{1, 1}, {2, 3}, {2, 8}, {1, 4}};
    for (int i = 0; i < n_isa; i++) {
        setenv("GEOLABEL_ISA", isas[i], 1);
        for (int mi = 0; mi < 2; mi++)
            for (int r = 0; r < 4; r++) {
                gl_error err = {0};
                gl_clip *c = load(models[mi], runs[r][0], runs[r][1], GL_DTYPE_F32, &err);
                CHECK(c != NULL, "%s", err.msg);
                if (!c) continue;
                CHECK(!strcmp(gl_clip_isa(c), isas[i]), "isa %s", gl_clip_isa(c));
                float *img = NULL, *txt = NULL;
                int n = 0, m = 0;
                CHECK(embed_all(c, &img, &n, &txt, &m, &err), "%s", err.msg);
                gl_npy *ie =
                    gl_npy_load(t_path("fixtures/expected/%s/image_embeds.npy", models[mi]), &err);
                gl_npy *te =
                    gl_npy_load(t_path("fixtures/expected/%s/text_embeds.npy", models[mi]), &err);
                CHECK(ie && te, "%s", err.msg);
                char what[128];
                snprintf(what, sizeof what, "%s %s t%d b%d image", isas[i], models[mi], runs[r][0],
                         runs[r][1]);
                if (ie && img) CHECK_CLOSE(what, img, ie->data, ie->count, 5e-5, 5e-5);
                snprintf(what, sizeof what, "%s %s t%d b%d text", isas[i], models[mi], runs[r][0],
                         runs[r][1]);
                if (te && txt) CHECK_CLOSE(what, txt, te->data, te->count, 5e-5, 5e-5);
                gl_npy_free(ie);
                gl_npy_free(te);
                free(img);
                free(txt);
                gl_clip_free(c);
            }
    }
    unsetenv("GEOLABEL_ISA");
}

static void watch_layers(void *ctx, const gl_clip_layer_state *state) {
    (void)state;
    ++*(int *)ctx;
}

/* Every fixture model as a user loads it: HF folders (safetensors, pytorch_model.bin), an
 * open_clip Hub folder and an open_clip training checkpoint with --arch; the pixels and token ids
 * that model's reference was computed on. */
typedef struct {
    const char *model, *arch, *pixels, *ids;
} fixture_model;
static const fixture_model fixture_models[] = {
    {"clip-tiny-b32", NULL, "expected/clip-tiny-b32/pixel_values.npy", "expected/input_ids.npy"},
    {"clip-tiny-b32-torchbin", NULL, "expected/clip-tiny-b32/pixel_values.npy",
     "expected/input_ids.npy"},
    {"clip-tiny-l14-336", NULL, "expected/clip-tiny-l14-336/pixel_values.npy",
     "expected/input_ids.npy"},
    {"openclip/openclip-tiny-quickgelu", NULL,
     "openclip/openclip-tiny-quickgelu/expected/pixel_values.npy",
     "openclip/openclip-tiny-quickgelu/expected/input_ids.npy"},
    {"openclip/openclip-tiny-gelu/epoch_3.pt",
     "openclip/openclip-tiny-gelu/openclip-tiny-gelu.json",
     "openclip/openclip-tiny-gelu/expected/pixel_values.npy",
     "openclip/openclip-tiny-gelu/expected/input_ids.npy"},
};
#define N_FIXTURE_MODELS (int)(sizeof fixture_models / sizeof fixture_models[0])

/* The fixture's texts (int32 or int64 ids) and three that move the pooled position to its ends:
 * 77 tokens with EOT last, no EOT at all (HF pools position 0, open_clip's argmax the largest
 * id), and padding with EOT instead of 0 (the first EOT is the pooled one). Caller frees. */
static int32_t *pooling_texts(const fixture_model *f, int *m, gl_error *err) {
    gl_npy *ids = gl_npy_load(t_path("fixtures/%s", f->ids), err);
    if (!ids) return NULL;
    int n = (int)ids->shape[0];
    *m = n + 3;
    int32_t *t = calloc((size_t)*m * GL_CLIP_CONTEXT, sizeof *t);
    for (size_t i = 0; i < (size_t)n * GL_CLIP_CONTEXT; i++)
        t[i] = ids->item_size == 8 ? (int32_t)((int64_t *)ids->data)[i] : ((int32_t *)ids->data)[i];
    int32_t *full = t + (size_t)n * GL_CLIP_CONTEXT, *none = full + GL_CLIP_CONTEXT,
            *pad = none + GL_CLIP_CONTEXT;
    full[0] = none[0] = pad[0] = 49406;
    for (int k = 1; k < GL_CLIP_CONTEXT; k++)
        full[k] = 320 + 7 * k;
    full[GL_CLIP_CONTEXT - 1] = 49407;
    none[1] = 320, none[2] = 1125, none[3] = 539;
    pad[1] = 320, pad[2] = 2368;
    for (int k = 3; k < GL_CLIP_CONTEXT; k++)
        pad[k] = 49407;
    gl_npy_free(ids);
    return t;
}

static gl_clip *load_fixture(const fixture_model *f, int threads, int batch, gl_dtype dt,
                             int *calls, gl_error *err) {
    gl_clip_params p = gl_clip_default_params();
    char arch[1024];
    p.threads = threads;
    p.max_batch = batch;
    p.dtype = dt;
    if (f->arch) p.arch = strcpy(arch, t_path("fixtures/%s", f->arch));
    if (calls) p.on_layer = watch_layers, p.ctx = calls;
    return gl_clip_load(t_path("fixtures/%s", f->model), &p, err);
}

/* Embeddings of every image and text of f with c; caller frees. */
static int embed_fixture(gl_clip *c, const fixture_model *f, float **img, int *n, float **txt,
                         int *m, gl_error *err) {
    gl_npy *px = gl_npy_load(t_path("fixtures/%s", f->pixels), err);
    int32_t *ids = px ? pooling_texts(f, m, err) : NULL;
    int ok = px && ids, P = gl_clip_projection_dim(c);
    if (ok) {
        *n = (int)px->shape[0];
        *img = calloc((size_t)*n * P, sizeof(float));
        *txt = calloc((size_t)*m * P, sizeof(float));
        ok = !gl_clip_encode_images(c, px->data, *n, *img, err) &&
             !gl_clip_encode_tokens(c, ids, *m, *txt, err);
    }
    gl_npy_free(px);
    free(ids);
    return ok;
}

/* fast (the last layer for the pooled rows only) against full (an eval callback forces every
 * row of every layer): bit for bit where our own kernels run (avx512, any dtype); within 1e-6 on
 * avx2, whose attention is BLAS (its sums depend on the number of query rows). */
static void compare_pooled(const char *what, int isa, const float *fast, const float *full,
                           size_t count) {
    if (!fast || !full) return;
    if (isa == 0)
        CHECK_CLOSE(what, fast, full, count, 1e-6, 1e-5);
    else
        CHECK(!memcmp(fast, full, sizeof(float) * count), "%s: not bit for bit", what);
}

/* The last layer computed for the pooled rows only gives the embeddings of the full last layer:
 * every fixture model, images and texts (pooled at every position the rules allow), batch 1, 3
 * and 8, 1 and 2 threads, every ISA path, and bf16/int8 where the CPU has them. */
static void test_pooled_last_layer(void) {
    int n_isa = available_isas();
    static const int runs[][3] = {/* threads, batch, all dtypes */
                                  {1, 1, 1}, {2, 1, 0}, {1, 3, 0}, {2, 3, 1}, {1, 8, 0}, {2, 8, 1}};
    for (int i = 0; i < n_isa; i++)
        for (int mi = 0; mi < N_FIXTURE_MODELS; mi++)
            for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++)
                for (gl_dtype dt = GL_DTYPE_F32; dt <= (runs[r][2] ? GL_DTYPE_INT8 : GL_DTYPE_F32);
                     dt++) {
                    setenv("GEOLABEL_ISA", isas[i], 1);
                    if (!supported(dt)) continue;
                    const fixture_model *f = &fixture_models[mi];
                    gl_error err = {0};
                    int calls = 0;
                    gl_clip *fast = load_fixture(f, runs[r][0], runs[r][1], dt, NULL, &err);
                    gl_clip *full =
                        fast ? load_fixture(f, runs[r][0], runs[r][1], dt, &calls, &err) : NULL;
                    CHECK(fast && full, "%s: %s", f->model, err.msg);
                    float *ai = NULL, *at = NULL, *bi = NULL, *bt = NULL;
                    int n = 0, m = 0, n2 = 0, m2 = 0;
                    CHECK(full && embed_fixture(fast, f, &ai, &n, &at, &m, &err) &&
                              embed_fixture(full, f, &bi, &n2, &bt, &m2, &err),
                          "%s: %s", f->model, err.msg);
                    CHECK(!full || calls > 0, "the eval callback was not called");
                    int P = full ? gl_clip_projection_dim(full) : 0;
                    char what[256];
                    snprintf(what, sizeof what, "%s %s %s t%d b%d: pooled last layer, images",
                             isas[i], gl_dtype_name(dt), f->model, runs[r][0], runs[r][1]);
                    compare_pooled(what, i, ai, bi, (size_t)n * P);
                    snprintf(what, sizeof what, "%s %s %s t%d b%d: pooled last layer, texts",
                             isas[i], gl_dtype_name(dt), f->model, runs[r][0], runs[r][1]);
                    compare_pooled(what, i, at, bt, (size_t)m * P);
                    gl_clip_free(fast);
                    gl_clip_free(full);
                    free(ai), free(at), free(bi), free(bt);
                }
    unsetenv("GEOLABEL_ISA");
}

static double cosine(const float *a, const float *b, int n) {
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < n; i++)
        ab += (double)a[i] * b[i], aa += (double)a[i] * a[i], bb += (double)b[i] * b[i];
    return ab / sqrt(aa * bb);
}

static int argmax_text(const float *img, const float *txt, int m, int P) {
    int best = 0;
    double bs = -2;
    for (int j = 0; j < m; j++) {
        double s = cosine(img, txt + (size_t)j * P, P);
        if (s > bs) bs = s, best = j;
    }
    return best;
}

/* The gates: cosine >= 0.999 to f32 on every image and text embedding, and zero-shot
 * top-1 (each image's best text) agreeing with f32 on >= 99% of the images. */
static void test_low_precision_gates(void) {
    unsetenv("GEOLABEL_ISA");
    if (!supported(GL_DTYPE_BF16) || !supported(GL_DTYPE_INT8))
        SKIP("this CPU lacks AVX512-BF16 or AVX512-VNNI");
    for (int mi = 0; mi < 2; mi++) {
        gl_error err = {0};
        gl_clip *ref = load(models[mi], 2, 4, GL_DTYPE_F32, &err);
        float *ri = NULL, *rt = NULL;
        int n = 0, m = 0;
        CHECK(ref && embed_all(ref, &ri, &n, &rt, &m, &err), "%s", err.msg);
        int P = ref ? gl_clip_projection_dim(ref) : 0;
        for (gl_dtype dt = GL_DTYPE_BF16; ref && dt <= GL_DTYPE_INT8; dt++) {
            gl_clip *c = load(models[mi], 2, 4, dt, &err);
            float *ci = NULL, *ct = NULL;
            int n2 = 0, m2 = 0;
            CHECK(c && embed_all(c, &ci, &n2, &ct, &m2, &err), "%s", err.msg);
            if (!c) continue;
            CHECK(gl_clip_dtype(c, 1) == dt, "dtype");
            double worst = 1, worst_img = 1;
            int agree = 0;
            for (int i = 0; i < n; i++) {
                worst = fmin(worst, cosine(ci + (size_t)i * P, ri + (size_t)i * P, P));
                worst_img = worst;
                agree += argmax_text(ci + (size_t)i * P, ct, m, P) ==
                         argmax_text(ri + (size_t)i * P, rt, m, P);
            }
            for (int j = 0; j < m; j++)
                worst = fmin(worst, cosine(ct + (size_t)j * P, rt + (size_t)j * P, P));
            printf("  %s %s: worst cosine to f32 %.6f (images %.6f), zero-shot top-1 agreement "
                   "%d/%d\n",
                   models[mi], gl_dtype_name(dt), worst, worst_img, agree, n);
            CHECK(worst >= 0.999, "%s %s worst cosine %.6f", models[mi], gl_dtype_name(dt), worst);
            CHECK(agree >= 0.99 * n, "%s %s top-1 agreement %d/%d", models[mi], gl_dtype_name(dt),
                  agree, n);
            free(ci);
            free(ct);
            gl_clip_free(c);
        }
        free(ri);
        free(rt);
        gl_clip_free(ref);
    }
}

/* model convert --dtype int8: the stored weights load into the same packed weights as quantising
 * at load (embeddings equal bit for bit), and they are what is used (one stored weight nudged in a
 * row the load does not sample changes the embeddings). Runs in the test's own temp folder. */
static void test_stored_int8(void) {
    unsetenv("GEOLABEL_ISA");
    if (!supported(GL_DTYPE_INT8)) SKIP("this CPU lacks AVX512-VNNI");
    gl_error err = {0};
    const char *dir = "conv8";
    CHECK_OK(gl_model_convert(t_path("fixtures/clip-tiny-b32"), NULL, dir, &err), &err);
    CHECK_OK(gl_model_quantize_int8(dir, &err), &err);
    gl_clip_params p = gl_clip_default_params();
    p.threads = 2;
    p.max_batch = 4;
    p.dtype = GL_DTYPE_INT8;
    gl_clip *at_load = gl_clip_load(t_path("fixtures/clip-tiny-b32"), &p, &err);
    gl_clip *stored = at_load ? gl_clip_load(dir, &p, &err) : NULL;
    CHECK(at_load && stored, "%s", err.msg);
    float *ai = NULL, *at = NULL, *si = NULL, *st = NULL, *ni = NULL, *nt = NULL;
    int n = 0, m = 0, n2 = 0, m2 = 0;
    CHECK(stored && embed_all(at_load, &ai, &n, &at, &m, &err) &&
              embed_all(stored, &si, &n2, &st, &m2, &err),
          "%s", err.msg);
    int P = stored ? gl_clip_projection_dim(stored) : 0;
    CHECK(ai && si && n == n2 && !memcmp(ai, si, sizeof(float) * (size_t)n * P),
          "stored int8 image embeddings differ from load-time quantisation");
    CHECK(at && st && m == m2 && !memcmp(at, st, sizeof(float) * (size_t)m * P),
          "text embeddings differ");
    gl_clip_free(stored);
    /* nudge one stored weight of the middle row of layer 0's fc1 */
    gl_safetensors sf;
    char path[256];
    snprintf(path, sizeof path, "%s/int8.safetensors", dir);
    CHECK_OK(gl_st_open(path, &sf, &err), &err);
    const gl_st_tensor *t = gl_st_find(&sf, "vision_model.encoder.layers.0.mlp.fc1.weight");
    CHECK(t && t->ndim == 2, "fc1 int8 tensor");
    long off = t ? (long)((const char *)t->data - (const char *)sf.maps[t->file]) +
                       (long)(t->shape[0] / 2 * t->shape[1])
                 : 0;
    gl_st_close(&sf);
    FILE *fp = fopen(path, "r+b");
    CHECK(fp != NULL, "open %s", path);
    if (fp && t) {
        signed char b = 0;
        CHECK(fseek(fp, off, SEEK_SET) == 0 && fread(&b, 1, 1, fp) == 1, "read");
        b = (signed char)(b > 0 ? b - 1 : b + 1);
        CHECK(fseek(fp, off, SEEK_SET) == 0 && fwrite(&b, 1, 1, fp) == 1, "write");
    }
    if (fp) fclose(fp);
    stored = gl_clip_load(dir, &p, &err);
    CHECK(stored && embed_all(stored, &ni, &n2, &nt, &m2, &err), "%s", err.msg);
    CHECK(ai && ni && memcmp(ai, ni, sizeof(float) * (size_t)n * P),
          "a changed stored weight did not change the embeddings: the file was not used");
    gl_clip_free(stored);
    gl_clip_free(at_load);
    free(ai), free(at), free(si), free(st), free(ni), free(nt);
}

int main(void) {
    RUN(test_gemm_f32_every_isa);
    RUN(test_gemm_bf16_int8);
    RUN(test_packed_key_only);
    RUN(test_dnnl_failure_is_an_error);
    RUN(test_attention_paths);
    RUN(test_layer_norm_linear);
    RUN(test_isa_variable);
    RUN(test_fixture_parity_every_isa);
    RUN(test_pooled_last_layer);
    RUN(test_low_precision_gates);
    RUN(test_stored_int8);
    /* bf16 and int8 again through oneDNN (gemm_dnnl.c, what AMX machines run by default), and on
     * those through our own kernels too; test_gemm_dnnl.c checks which one ran */
    gl_cpu cpu;
    gl_error err = {0};
    int amx = gl_cpu_detect(&cpu, &err) == GL_OK && cpu.native == GL_ISA_AMX;
    for (int g = 0; g < 1 + amx; g++) {
        setenv("GEOLABEL_GEMM", g ? "own" : "dnnl", 1);
        RUN(test_gemm_bf16_int8);
        RUN(test_packed_key_only);
        RUN(test_layer_norm_linear);
        RUN(test_low_precision_gates);
        RUN(test_stored_int8);
    }
    unsetenv("GEOLABEL_GEMM");
    T_SUMMARY();
}
