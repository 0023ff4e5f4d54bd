/* gemm_shapes.c: times one linear layer of each ViT-B/32 shape on one thread: our packed kernels,
 * OpenBLAS on the unpacked weight, and oneDNN 2.6's matmul with prepacked weights (min of REPS,
 * thread CPU time, GFLOP/s), for choosing the GEMM per shape. Not a test.
 * Usage: gemm_shapes [f32|bf16|int8] [REPS]. Build (after make):
 *   cc -O2 -Iinclude -Isrc bench/gemm_shapes.c build/libgeolabel.a $(LDLIBS of the Makefile)
 * Columns: packed (ours), openblas (f32), onednn (the raw matmul primitive for the whole shape in
 * the dtype: f32, bf16, or u8 x s8 with a runtime source zero point and per-channel scales, like
 * our int8, and without them), and for bf16 "ours via oneDNN" (gl_linear with GEOLABEL_GEMM=dnnl: row blocks). */
#include "core/kernels.h"
#include "core/pool.h"

#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

#define DN(call)                                                                                   \
    do {                                                                                           \
        if ((call) != dnnl_success) {                                                              \
            fprintf(stderr, "oneDNN: %s failed\n", #call);                                         \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* Best thread CPU seconds of reps runs of oneDNN's matmul [M,K] x [K,N] in dt; *impl its name.
 * int8 with zero_point: a runtime source zero point and per-channel scales (our int8's maths);
 * without: a plain u8 x s8 product, the zero point and scales left to a pass of our own. */
static double onednn_time(gl_dtype dt, int zero_point, int M, int N, int K, int reps,
                          const char **impl) {
    dnnl_engine_t eng;
    dnnl_stream_t str;
    DN(dnnl_engine_create(&eng, dnnl_cpu, 0));
    DN(dnnl_stream_create(&str, eng, dnnl_stream_default_flags));
    dnnl_data_type_t st = dt == GL_DTYPE_BF16 ? dnnl_bf16 : dt == GL_DTYPE_INT8 ? dnnl_u8 : dnnl_f32;
    dnnl_data_type_t wt = dt == GL_DTYPE_BF16 ? dnnl_bf16 : dt == GL_DTYPE_INT8 ? dnnl_s8 : dnnl_f32;
    dnnl_memory_desc_t a, w, b, c;
    dnnl_dims_t ad = {M, K}, wd = {K, N}, bd = {1, N}, cd = {M, N};
    DN(dnnl_memory_desc_init_by_tag(&a, 2, ad, st, dnnl_ab));
    DN(dnnl_memory_desc_init_by_tag(&w, 2, wd, wt, dnnl_format_tag_any));
    DN(dnnl_memory_desc_init_by_tag(&b, 2, bd, dnnl_f32, dnnl_ab));
    DN(dnnl_memory_desc_init_by_tag(&c, 2, cd, dnnl_f32, dnnl_ab));
    dnnl_matmul_desc_t md;
    DN(dnnl_matmul_desc_init(&md, &a, &w, &b, &c));
    dnnl_primitive_attr_t attr;
    DN(dnnl_primitive_attr_create(&attr));
    DN(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user));
    if (dt == GL_DTYPE_INT8 && zero_point) {
        float one = DNNL_RUNTIME_F32_VAL;
        int32_t zp = DNNL_RUNTIME_S32_VAL;
        DN(dnnl_primitive_attr_set_output_scales(attr, 1, 1 << 1, &one)); /* runtime: count 1 */
        DN(dnnl_primitive_attr_set_zero_points(attr, DNNL_ARG_SRC, 1, 0, &zp));
    }
    dnnl_primitive_desc_t pd;
    DN(dnnl_primitive_desc_create(&pd, &md, attr, eng, NULL));
    DN(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, impl));
    const dnnl_memory_desc_t *wq = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *sq = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    dnnl_primitive_t p;
    DN(dnnl_primitive_create(&p, pd));
    dnnl_memory_t mem[7] = {0};
    const dnnl_memory_desc_t *mds[5] = {&a, wq, &b, &c, sq};
    for (int i = 0; i < 5; i++) {
        DN(dnnl_memory_create(&mem[i], mds[i], eng, DNNL_MEMORY_ALLOCATE));
        void *h;
        DN(dnnl_memory_get_data_handle(mem[i], &h));
        memset(h, 1, dnnl_memory_desc_get_size(mds[i])); /* any finite values will do */
    }
    int na = 5;
    dnnl_exec_arg_t args[7] = {{DNNL_ARG_SRC, mem[0]},
                               {DNNL_ARG_WEIGHTS, mem[1]},
                               {DNNL_ARG_BIAS, mem[2]},
                               {DNNL_ARG_DST, mem[3]},
                               {DNNL_ARG_SCRATCHPAD, mem[4]}};
    float *scales = NULL;
    int32_t zp = 3;
    if (dt == GL_DTYPE_INT8 && zero_point) {
        scales = malloc(sizeof(float) * N);
        for (int n = 0; n < N; n++)
            scales[n] = 1e-3f;
        dnnl_memory_desc_t smd, zmd;
        dnnl_dims_t sd = {N}, zd = {1};
        DN(dnnl_memory_desc_init_by_tag(&smd, 1, sd, dnnl_f32, dnnl_a));
        DN(dnnl_memory_desc_init_by_tag(&zmd, 1, zd, dnnl_s32, dnnl_a));
        DN(dnnl_memory_create(&mem[5], &smd, eng, scales));
        DN(dnnl_memory_create(&mem[6], &zmd, eng, &zp));
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_ATTR_OUTPUT_SCALES, mem[5]};
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, mem[6]};
    }
    double best = 1e9;
    for (int r = 0; r <= reps; r++) {
        double t0 = now();
        DN(dnnl_primitive_execute(p, str, na, args));
        DN(dnnl_stream_wait(str));
        double t = now() - t0;
        if (r && t < best) best = t; /* run 0 warms up */
    }
    for (int i = 0; i < 7; i++)
        if (mem[i]) dnnl_memory_destroy(mem[i]);
    free(scales);
    dnnl_primitive_destroy(p);
    dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    dnnl_stream_destroy(str);
    dnnl_engine_destroy(eng);
    return best;
}

/* Best thread CPU seconds of gl_linear over k (NULL: OpenBLAS), with the packed weight. */
static double linear_time(gl_pool *pool, gl_kernels *k, int M, int N, int K, const float *A,
                          const float *W, const float *bias, float *C, int reps) {
    gl_pool_set_kernels(pool, k);
    double best = 1e9;
    for (int r = 0; r <= reps; r++) {
        double t0 = now();
        gl_linear(pool, M, N, K, A, K, W, bias, C, N, 0, GL_ACT_NONE);
        double t = now() - t0;
        if (r && t < best) best = t; /* run 0 warms up (oneDNN makes its primitives then) */
    }
    return best;
}

static gl_kernels *packed(const char *gemm, const float *W, int M, int N, int K, gl_dtype dt) {
    gl_error err = {0};
    setenv("GEOLABEL_GEMM", gemm, 1);
    gl_kernels *k = gl_kernels_create(&err);
    if (!k || gl_kernels_pack(k, W, N, K, dt, &err) ||
        gl_kernels_reserve(k, M, K, 77, 64, 1, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    return k;
}

int main(int argc, char **argv) {
    gl_dtype dt = argc > 1 && !strcmp(argv[1], "bf16")   ? GL_DTYPE_BF16
                  : argc > 1 && !strcmp(argv[1], "int8") ? GL_DTYPE_INT8
                                                         : GL_DTYPE_F32;
    int reps = argc > 2 ? atoi(argv[2]) : 5;
    static const int shapes[][3] = {{400, 768, 768},  {400, 3072, 768}, {400, 768, 3072},
                                    {50, 768, 768},   {50, 3072, 768},  {50, 768, 3072},
                                    {8, 2048, 512},   {77, 2048, 512},  {392, 768, 3072}};
    gl_error err = {0};
    gl_pool *pool = gl_pool_create(1, &err);
    gl_blas_set_threads(1);
    omp_set_num_threads(1); /* one core, like the other columns */
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *A = malloc(sizeof(float) * M * K), *W = malloc(sizeof(float) * N * K),
              *C = malloc(sizeof(float) * M * N), *bias = calloc(N, sizeof(float));
        for (long i = 0; i < (long)M * K; i++)
            A[i] = (float)rand() / RAND_MAX - 0.5f;
        for (long i = 0; i < (long)N * K; i++)
            W[i] = (float)rand() / RAND_MAX - 0.5f;
        double gf = 2.0 * M * N * K * 1e-9;
        gl_kernels *own = packed("own", W, M, N, K, dt);
        double t_own = linear_time(pool, own, M, N, K, A, W, bias, C, reps);
        double t_blas = linear_time(pool, NULL, M, N, K, A, W, bias, C, reps);
        const char *impl = "";
        double t_dnnl = onednn_time(dt, 1, M, N, K, reps, &impl);
        printf("M=%4d N=%4d K=%4d  packed %s %6.1f  openblas f32 %6.1f  onednn %s %6.1f (%s)", M,
               N, K, gl_dtype_name(dt), gf / t_own, gf / t_blas, gl_dtype_name(dt), gf / t_dnnl,
               impl);
        if (dt == GL_DTYPE_INT8) {
            double t = onednn_time(dt, 0, M, N, K, reps, &impl);
            printf("  onednn u8s8 no zero point %6.1f (%s)", gf / t, impl);
        }
        if (dt == GL_DTYPE_BF16) {
            gl_kernels *via = packed("dnnl", W, M, N, K, dt);
            printf("  ours via oneDNN %6.1f", gf / linear_time(pool, via, M, N, K, A, W, bias, C,
                                                              reps));
            gl_kernels_free(via);
        }
        printf("  GFLOP/s (int8: GOPS)\n");
        gl_kernels_free(own);
        free(A), free(W), free(C), free(bias);
    }
    unsetenv("GEOLABEL_GEMM");
    gl_pool_free(pool);
    return 0;
}
