/* test_gemm_dnnl.c: the bf16 and int8 GEMMs through oneDNN (GEOLABEL_GEMM=dnnl) against doubles
 * and against our own kernels, which round alike; the dispatch knob, the ISA string bench reports.
 */
#include "core/gemm.h"
#include "core/gemm_dnnl.h"
#include "gemm_ref.h"
#include "harness.h"

#include <string.h>

static int cpu_has_bf16(void) {
    gl_cpu cpu;
    gl_error err = {0};
    return gl_cpu_detect(&cpu, &err) == GL_OK && cpu.bf16 && cpu.vnni;
}

/* C (row stride ldc >= N, padding left alone) from a pool of threads, with GEOLABEL_GEMM=gemm. */
static int run(const char *gemm, gl_dtype dt, int threads, int M, int N, int K, const float *A,
               const float *W, const float *bias, float *C, int ldc, int acc, gl_act act, char *isa,
               size_t isa_n) {
    setenv("GEOLABEL_GEMM", gemm, 1);
    gl_error err = {0};
    gl_kernels *k = gl_kernels_create(&err);
    gl_pool *pool = gl_pool_create(threads, &err);
    int ok = k && pool && !gl_kernels_pack(k, W, N, K, dt, &err) &&
             !gl_kernels_reserve(k, (size_t)M, K, 8, 8, threads, &err);
    CHECK(ok, "%s: %s", gemm, err.msg);
    if (ok) {
        gl_pool_set_kernels(pool, k);
        gl_linear(pool, M, N, K, A, K, W, bias, C, ldc, acc, act);
        snprintf(isa, isa_n, "%s", gl_kernels_isa(k));
    }
    gl_pool_free(pool);
    gl_kernels_free(k);
    unsetenv("GEOLABEL_GEMM");
    return ok;
}

/* One shape: oneDNN within bf16's (int8's) error of doubles, and within f32 summation noise of our
 * own kernel (both round A and W to bf16 alike, or quantise them alike and sum the same integers,
 * so a block that silently fell back to the f32 path would stand out by the rounding, ~1e-3,
 * against ~1e-6). */
static void check(gl_dtype dt, int M, int N, int K, int ldc, int acc, gl_act act, int with_bias,
                  int threads) {
    unsigned seed = (unsigned)(M * 977 + N * 31 + K * 7 + ldc + acc * 3 + (int)act);
    size_t cn = (size_t)M * ldc;
    float *A = malloc(sizeof(float) * M * K), *W = malloc(sizeof(float) * N * K),
          *bias = malloc(sizeof(float) * N), *C0 = malloc(sizeof(float) * cn),
          *Cd = malloc(sizeof(float) * cn), *Co = malloc(sizeof(float) * cn),
          *ref = malloc(sizeof(float) * cn);
    fill_gemm(&seed, M, N, K, A, W, bias);
    for (size_t i = 0; i < cn; i++)
        C0[i] = (float)(i % 13) * 0.25f - 1.0f;
    double scale = 1;
    for (int m = 0; m < M; m++)
        for (int n = 0; n < ldc; n++) {
            size_t at = (size_t)m * ldc + n;
            if (n >= N) { /* padding: must come back untouched */
                ref[at] = C0[at];
                continue;
            }
            double s = with_bias ? bias[n] : 0;
            for (int k = 0; k < K; k++)
                s += (double)A[m * K + k] * W[n * K + k];
            ref[at] = (float)(acc ? C0[at] + s : act_ref(act, s));
            scale = fmax(scale, fabs(ref[at]));
        }
    memcpy(Cd, C0, sizeof(float) * cn);
    memcpy(Co, C0, sizeof(float) * cn);
    char isa_d[128] = "", isa_o[128] = "", what[256];
    const float *b = with_bias ? bias : NULL;
    if (run("dnnl", dt, threads, M, N, K, A, W, b, Cd, ldc, acc, act, isa_d, sizeof isa_d) &&
        run("own", dt, threads, M, N, K, A, W, b, Co, ldc, acc, act, isa_o, sizeof isa_o)) {
        snprintf(what, sizeof what, "%s %s M%d N%d K%d ldc%d acc%d act%d bias%d t%d", isa_d,
                 gl_dtype_name(dt), M, N, K, ldc, acc, (int)act, with_bias, threads);
        CHECK(strstr(isa_d, "(oneDNN ") && !strstr(isa_o, "oneDNN"), "isa strings '%s' / '%s'",
              isa_d, isa_o);
        CHECK_CLOSE(what, Cd, ref, cn, (dt == GL_DTYPE_INT8 ? 2.5e-2 : 1.5e-2) * scale, 0);
        /* 2e-5 of the scale: K-long f32 sums in another order; bf16 rounding would be ~1e-3 */
        double worst = 0;
        for (size_t i = 0; i < cn; i++)
            worst = fmax(worst, fabs((double)Cd[i] - Co[i]));
        CHECK(worst <= 2e-5 * scale * (K > 256 ? 4 : 1), "%s: oneDNN vs own bf16 differ by %g",
              what, worst);
    }
    free(A), free(W), free(bias), free(C0), free(Cd), free(Co), free(ref);
}

static void test_dnnl_gemm_shapes(void) {
    if (!cpu_has_bf16()) SKIP("this CPU lacks AVX512-BF16/VNNI: neither GEMM can run");
    /* single and many row blocks, odd K (a zero row added), N not a multiple of 16, ViT shapes */
    static const int shapes[][3] = {{1, 1, 1},      {13, 33, 7},    {50, 70, 64},
                                    {97, 100, 129}, {200, 96, 768}, {400, 768, 64}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int t = 1; t <= 3; t += 2) {
            int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            for (gl_dtype dt = GL_DTYPE_BF16; dt <= GL_DTYPE_INT8; dt++) {
                check(dt, M, N, K, N, 0, GL_ACT_NONE, 1, t);
                check(dt, M, N, K, N, 1, GL_ACT_NONE, 1, t);      /* the residual */
                check(dt, M, N, K, N + 16, 0, GL_ACT_GELU, 1, t); /* padded rows */
                check(dt, M, N, K, N + 5, 1, GL_ACT_NONE, 1, t);  /* padded, accumulated */
            }
        }
    for (gl_dtype dt = GL_DTYPE_BF16; dt <= GL_DTYPE_INT8; dt++) {
        check(dt, 77, 2048, 512, 2048, 0, GL_ACT_QUICK_GELU, 1, 2); /* text fc1 */
        check(dt, 33, 64, 48, 64, 0, GL_ACT_GELU_TANH, 1, 2);
        check(dt, 20, 48, 32, 48, 0, GL_ACT_NONE, 0, 2); /* no bias */
    }
}

/* GEOLABEL_GEMM: dnnl and own choose, unset means oneDNN exactly where the kernels run at amx,
 * GEOLABEL_ISA=avx512 caps an AMX machine back to our own, anything else is an error. */
static void test_dnnl_knob(void) {
    gl_error err = {0};
    setenv("GEOLABEL_GEMM", "mkl", 1);
    gl_kernels *k = gl_kernels_create(&err);
    CHECK(!k && strstr(err.msg, "GEOLABEL_GEMM: 'mkl' is not one of dnnl, own"), "%s", err.msg);
    gl_kernels_free(k);
    unsetenv("GEOLABEL_GEMM");
    if (!cpu_has_bf16()) SKIP("this CPU lacks AVX512-BF16");
    float W[4 * 6], A[2 * 6], C[8];
    for (int i = 0; i < 24; i++)
        W[i] = (float)(i % 5) - 2.0f;
    for (int i = 0; i < 12; i++)
        A[i] = (float)(i % 3);
    gl_cpu cpu;
    CHECK_OK(gl_cpu_detect(&cpu, &err), &err);
    for (int cap = 0; cap < 2; cap++) {
        if (cap) setenv("GEOLABEL_ISA", "avx512", 1);
        char isa[128] = "";
        err = (gl_error){0};
        k = gl_kernels_create(&err);
        gl_pool *pool = gl_pool_create(2, &err);
        CHECK(k && pool && !gl_kernels_pack(k, W, 4, 6, GL_DTYPE_BF16, &err) &&
                  !gl_kernels_reserve(k, 2, 6, 8, 8, 2, &err),
              "%s", err.msg);
        if (k && pool) {
            gl_pool_set_kernels(pool, k);
            gl_linear(pool, 2, 4, 6, A, 6, W, NULL, C, 4, 0, GL_ACT_NONE);
            snprintf(isa, sizeof isa, "%s", gl_kernels_isa(k));
        }
        int amx = !cap && cpu.isa == GL_ISA_AMX;
        printf("  default GEMM%s: isa '%s'\n", cap ? " under GEOLABEL_ISA=avx512" : "", isa);
        if (amx)
            CHECK(!strncmp(isa, "amx (oneDNN ", 12), "AMX machine, default bf16: '%s'", isa);
        else
            CHECK(!strstr(isa, "oneDNN") && !strcmp(isa, cap ? "avx512" : gl_isa_name(cpu.isa)),
                  "no AMX (or capped): our own kernels, '%s'", isa);
        /* exactly representable: both paths give the exact sums */
        for (int m = 0; m < 2; m++)
            for (int n = 0; n < 4; n++) {
                float s = 0;
                for (int kk = 0; kk < 6; kk++)
                    s += A[m * 6 + kk] * W[n * 6 + kk];
                CHECK(C[m * 4 + n] == s, "C[%d,%d] = %g, want %g", m, n, C[m * 4 + n], s);
            }
        gl_pool_free(pool);
        gl_kernels_free(k);
    }
    unsetenv("GEOLABEL_ISA");
}

/* By default (an AMX machine) oneDNN is kept only when it runs AMX: an OS that denies the tiles
 * gets oneDNN's AVX512-BF16 brgemm, slower than ours. The decision on oneDNN's names, then on
 * this CPU through the test hook that makes kernels offer weights to oneDNN as on AMX: here
 * (no AMX) oneDNN picks brg:avx512_core_bf16/vnni, so our own kernels must run, with the same
 * exact sums. */
static void test_dnnl_default_needs_amx(void) {
    CHECK(gl_dnnl_worth("brg:avx512_core_amx_bf16"), "AMX bf16 not kept");
    CHECK(gl_dnnl_worth("brg:avx512_core_amx_int8"), "AMX int8 not kept");
    CHECK(gl_dnnl_worth("brg:avx512_core_amx"), "AMX not kept");
    CHECK(!gl_dnnl_worth("brg:avx512_core_bf16"), "AVX512-BF16 brgemm kept");
    CHECK(!gl_dnnl_worth("brg:avx512_core_vnni"), "VNNI brgemm kept");
    CHECK(!gl_dnnl_worth("gemm:jit"), "gemm:jit kept");
    CHECK(!gl_dnnl_worth(NULL) && !gl_dnnl_worth(""), "nothing kept");
    if (!cpu_has_bf16()) SKIP("this CPU lacks AVX512-BF16/VNNI: the hook offers nothing");
    unsetenv("GEOLABEL_GEMM");
    gl_cpu cpu;
    gl_error err = {0};
    CHECK_OK(gl_cpu_detect(&cpu, &err), &err);
    float W[4 * 6], A[2 * 6], C[8];
    for (int i = 0; i < 24; i++)
        W[i] = (float)(i % 5) - 2.0f;
    for (int i = 0; i < 12; i++)
        A[i] = (float)(i % 3);
    for (gl_dtype dt = GL_DTYPE_BF16; dt <= GL_DTYPE_INT8; dt++) {
        gl_kernels *k = gl_kernels_create(&err);
        gl_pool *pool = gl_pool_create(2, &err);
        CHECK(k && pool, "%s", err.msg);
        if (!k || !pool) break;
        gl_kernels_test_hooks(k, 1, 0);
        CHECK_OK(gl_kernels_pack(k, W, 4, 6, dt, &err), &err);
        CHECK_OK(gl_kernels_reserve(k, 2, 6, 8, 8, 2, &err), &err);
        gl_pool_set_kernels(pool, k);
        gl_linear(pool, 2, 4, 6, A, 6, W, NULL, C, 4, 0, GL_ACT_NONE);
        const char *isa = gl_kernels_isa(k);
        printf("  default GEMM as on AMX, %s: isa '%s'\n", gl_dtype_name(dt), isa);
        if (cpu.native == GL_ISA_AMX)
            CHECK(!strncmp(isa, "amx (oneDNN brg:avx512_core_amx", 31), "AMX: '%s'", isa);
        else
            CHECK(!strcmp(isa, "avx512"), "no AMX: our own kernels expected, '%s'", isa);
        for (int m = 0; m < 2; m++) /* exact in bf16; int8: the weights are exact in q */
            for (int n = 0; n < 4; n++) {
                float s = 0;
                for (int kk = 0; kk < 6; kk++)
                    s += A[m * 6 + kk] * W[n * 6 + kk];
                double tol = dt == GL_DTYPE_INT8 ? 0.02 * (fabs(s) + 1) : 0;
                CHECK(fabs(C[m * 4 + n] - s) <= tol, "%s C[%d,%d] = %g, want %g", gl_dtype_name(dt),
                      m, n, C[m * 4 + n], s);
            }
        gl_pool_free(pool);
        gl_kernels_free(k);
    }
}

int main(void) {
    unsetenv("GEOLABEL_ISA");
    RUN(test_dnnl_default_needs_amx);
    RUN(test_dnnl_gemm_shapes);
    RUN(test_dnnl_knob);
    T_SUMMARY();
}
