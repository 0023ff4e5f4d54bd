/* gemm_dnnl.c: the bf16 and int8 GEMMs through oneDNN's matmul (Debian's libdnnl 2.6, OpenMP
 * build): weight reorders at load, a cache of primitives per row-block shape, per-thread streams
 * and scratch. */
#include "core/gemm_dnnl.h"

#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* oneDNN 2.6's brgemm matmul (the one with AMX kernels) takes only dense row-major activations and
 * outputs of a fixed row count; other layouts fall to its older gemm. So a GEMM runs as row blocks
 * of at most GL_DNNL_ROWS rows, one oneDNN call per block on one pool thread, each block's
 * primitive created once per shape and cached; an output with padded rows is written to a dense
 * per-thread buffer and copied. Each call runs with one OpenMP thread, so libgomp never starts a
 * team whose spinning threads would compete with our pool for the cores. */

struct gl_dnnl_weight {
    dnnl_memory_desc_t md; /* [Kp, N] bf16 or s8 in oneDNN's blocked layout */
    dnnl_memory_t mem;
    void *data; /* owned, 64-byte aligned */
    int N, Kp, int8;
};

typedef struct {
    /* key */
    int m, N, Kp, int8, has_bias, sum, act;
    dnnl_memory_desc_t wmd;
    /* value; prim NULL: oneDNN offers nothing but a reference kernel here (rows fall back) */
    dnnl_primitive_t prim;
    dnnl_memory_t *mem; /* per thread: src, dst, bias, scratchpad */
} entry;

struct gl_dnnl {
    dnnl_engine_t eng;
    pthread_mutex_t mu;
    entry **cache;
    size_t n_cache, cap_cache;
    int threads, max_n;
    dnnl_stream_t *streams; /* per thread */
    float *out;             /* per thread: GL_DNNL_ROWS x max_n dense output rows (f32 or s32) */
    void *pad;              /* per thread: PAD_BYTES of oneDNN scratchpad */
    char impl[64];
    /* weight layouts already shown to run at every block height (pack-time check), few a model */
    dnnl_memory_desc_t checked[32];
    int n_checked;
};

#define PAD_BYTES ((size_t)1 << 20) /* brgemm bf16 asks ~1 KB, int8 ~100 KB */

/* oneDNN picks its thread count from OpenMP's at primitive creation and at execution: one. */
static int omp_one(void) {
    int nt = omp_get_max_threads();
    if (nt != 1) omp_set_num_threads(1);
    return nt;
}

static void omp_restore(int nt) {
    if (nt != 1) omp_set_num_threads(nt);
}

static void *alloc64(size_t bytes) {
    void *p = NULL;
    return posix_memalign(&p, 64, bytes ? (bytes + 63) & ~(size_t)63 : 64) ? NULL : p;
}

gl_status gl_dnnl_wanted(gl_isa isa, int *use, gl_error *err) {
    const char *v = getenv("GEOLABEL_GEMM");
    if (!v || !*v)
        *use = isa >= GL_ISA_AMX;
    else if (!strcmp(v, "dnnl"))
        *use = 2; /* forced: a weight oneDNN cannot take is an error, not our kernels' */
    else if (!strcmp(v, "own"))
        *use = 0;
    else
        return gl_fail(err, GL_ERR_ARG, "GEOLABEL_GEMM: '%s' is not one of dnnl, own", v);
    return GL_OK;
}

gl_dnnl *gl_dnnl_create(gl_isa isa, gl_error *err) {
    gl_dnnl *d = calloc(1, sizeof *d);
    if (!d) {
        gl_fail(err, GL_ERR_NOMEM, "oneDNN: out of memory");
        return NULL;
    }
    /* GEOLABEL_ISA=avx512 on an AMX machine must not run AMX inside oneDNN either; oneDNN takes
     * the cap only before its first primitive, so a later, higher cap in this process is moot */
    if (isa < GL_ISA_AMX) dnnl_set_max_cpu_isa(dnnl_cpu_isa_avx512_core_bf16);
    pthread_mutex_init(&d->mu, NULL);
    if (dnnl_engine_create(&d->eng, dnnl_cpu, 0) != dnnl_success) {
        pthread_mutex_destroy(&d->mu);
        free(d);
        gl_fail(err, GL_ERR_INTERNAL, "oneDNN: cannot create a CPU engine");
        return NULL;
    }
    return d;
}

static void entry_free(entry *e, int threads) {
    if (!e) return;
    if (e->mem)
        for (int i = 0; i < 4 * threads; i++)
            if (e->mem[i]) dnnl_memory_destroy(e->mem[i]);
    free(e->mem);
    if (e->prim) dnnl_primitive_destroy(e->prim);
    free(e);
}

static void per_thread_free(gl_dnnl *d) {
    for (size_t i = 0; i < d->n_cache; i++)
        entry_free(d->cache[i], d->threads);
    d->n_cache = 0;
    for (int t = 0; t < d->threads && d->streams; t++)
        if (d->streams[t]) dnnl_stream_destroy(d->streams[t]);
    free(d->streams);
    free(d->out);
    free(d->pad);
    d->streams = NULL;
    d->out = NULL;
    d->pad = NULL;
    d->threads = 0;
}

void gl_dnnl_free(gl_dnnl *d) {
    if (!d) return;
    per_thread_free(d);
    free(d->cache);
    dnnl_engine_destroy(d->eng);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

const char *gl_dnnl_impl(const gl_dnnl *d) {
    return d && d->impl[0] ? d->impl : NULL;
}

int gl_dnnl_worth(const char *impl) {
    return impl && strstr(impl, "amx") != NULL;
}

gl_status gl_dnnl_reserve(gl_dnnl *d, int threads, int max_n, gl_error *err) {
    if (threads < 1) threads = 1;
    if (d->threads == threads && d->max_n >= max_n) return GL_OK;
    per_thread_free(d);
    d->streams = calloc((size_t)threads, sizeof *d->streams);
    d->out = alloc64((size_t)threads * GL_DNNL_ROWS * (size_t)max_n * sizeof(float));
    d->pad = alloc64((size_t)threads * PAD_BYTES);
    if (!d->streams || !d->out || !d->pad) {
        free(d->streams), free(d->out), free(d->pad);
        d->streams = NULL, d->out = NULL, d->pad = NULL;
        return gl_fail(err, GL_ERR_NOMEM, "oneDNN: cannot allocate the per-thread buffers");
    }
    d->threads = threads;
    d->max_n = max_n;
    for (int t = 0; t < threads; t++)
        if (dnnl_stream_create(&d->streams[t], d->eng, dnnl_stream_default_flags) != dnnl_success)
            return gl_fail(err, GL_ERR_INTERNAL, "oneDNN: cannot create a stream");
    return GL_OK;
}

int gl_dnnl_blocks(int M, int threads, int *rows) {
    if (M < 1) {
        *rows = 1;
        return 0;
    }
    int nb = (M + GL_DNNL_ROWS - 1) / GL_DNNL_ROWS, t = threads < 1 ? 1 : threads;
    nb = (nb + t - 1) / t * t; /* every thread gets as many blocks */
    *rows = (M + nb - 1) / nb;
    return (M + *rows - 1) / *rows;
}

/* A matmul primitive descriptor: m rows of src [m, Kp] dense (bf16, or u8 for int8 into s32 with
 * nothing after), weights wmd (NULL: any), optional bias, act as a post-op, and sum (C +=) when
 * asked; the scratchpad is ours. int8 has no zero point or scales here: oneDNN 2.6 runs those only
 * in its gemm:jit (no AMX); the caller applies them to the s32 sums, as our VNNI kernel does. */
static dnnl_status_t make_pd(gl_dnnl *d, int int8, int m, int N, int Kp,
                             const dnnl_memory_desc_t *wmd, int has_bias, int sum, gl_act act,
                             dnnl_primitive_desc_t *pd) {
    dnnl_memory_desc_t a, w, b, c;
    dnnl_dims_t ad = {m, Kp}, wd = {Kp, N}, bd = {1, N}, cd = {m, N};
    dnnl_status_t s = dnnl_memory_desc_init_by_tag(&a, 2, ad, int8 ? dnnl_u8 : dnnl_bf16, dnnl_ab);
    if (!s && wmd)
        w = *wmd;
    else if (!s)
        s = dnnl_memory_desc_init_by_tag(&w, 2, wd, int8 ? dnnl_s8 : dnnl_bf16,
                                         dnnl_format_tag_any);
    if (!s) s = dnnl_memory_desc_init_by_tag(&b, 2, bd, dnnl_f32, dnnl_ab);
    if (!s) s = dnnl_memory_desc_init_by_tag(&c, 2, cd, int8 ? dnnl_s32 : dnnl_f32, dnnl_ab);
    if (int8) has_bias = sum = 0, act = GL_ACT_NONE;
    dnnl_matmul_desc_t md;
    if (!s) s = dnnl_matmul_desc_init(&md, &a, &w, has_bias ? &b : NULL, &c);
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    if (!s) s = dnnl_primitive_attr_create(&attr);
    if (!s) s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (!s) s = dnnl_post_ops_create(&po);
    if (!s && sum) s = dnnl_post_ops_append_sum(po, 1.0f);
    if (!s && act == GL_ACT_QUICK_GELU) /* x sigmoid(1.702 x) is oneDNN's swish, alpha 1.702 */
        s = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_swish, 1.702f, 0.0f);
    if (!s && act == GL_ACT_GELU)
        s = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_gelu_erf, 0.0f, 0.0f);
    if (!s && act == GL_ACT_GELU_TANH)
        s = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_gelu_tanh, 0.0f, 0.0f);
    if (!s) s = dnnl_primitive_attr_set_post_ops(attr, po);
    if (!s) s = dnnl_primitive_desc_create(pd, &md, attr, d->eng, NULL);
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return s;
}

static const char *pd_impl(const_dnnl_primitive_desc_t pd) {
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success)
        return "";
    return impl ? impl : "";
}

gl_status gl_dnnl_pack(gl_dnnl *d, gl_dtype dtype, const void *W, int N, int K, int Kp,
                       gl_dnnl_weight **out, gl_error *err) {
    *out = NULL;
    int nt = omp_one();
    gl_dnnl_weight *w = calloc(1, sizeof *w);
    dnnl_primitive_desc_t pd = NULL, rpd = NULL;
    dnnl_primitive_t reorder = NULL;
    dnnl_memory_t src = NULL;
    dnnl_stream_t stream = NULL;
    void *padded = NULL;
    gl_status st = GL_OK;
    int int8 = dtype == GL_DTYPE_INT8;
    size_t esize = int8 ? 1 : sizeof(float);
    const char *dt = int8 ? "int8" : "bf16";
    if (!w) {
        st = gl_fail(err, GL_ERR_NOMEM, "oneDNN: out of memory");
        goto done;
    }
    w->N = N;
    w->Kp = Kp;
    w->int8 = int8;
    /* the layout oneDNN wants for this weight, from a full row block's primitive */
    if (make_pd(d, int8, GL_DNNL_ROWS, N, Kp, NULL, 1, 0, GL_ACT_NONE, &pd) != dnnl_success) {
        st = gl_fail(err, GL_ERR_UNSUPPORTED, "oneDNN: no %s matmul for %d x %d weights", dt, N, K);
        goto done;
    }
    const char *impl = pd_impl(pd);
    if (!strncmp(impl, "ref", 3)) {
        st = gl_fail(err, GL_ERR_UNSUPPORTED,
                     "oneDNN: only its reference matmul runs %d x %d %s weights here (%s)", N, K,
                     dt, impl);
        goto done;
    }
    if (!d->impl[0]) snprintf(d->impl, sizeof d->impl, "%s", impl);
    w->md = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    /* a forward meets every block height up to GL_DNNL_ROWS: each must run with this layout, as
     * the weight cannot be repacked later (its float data is gone after load) */
    int seen = 0;
    for (int i = 0; i < d->n_checked && !seen; i++)
        seen = dnnl_memory_desc_equal(&d->checked[i], &w->md);
    for (int m = 1; m < GL_DNNL_ROWS && !seen; m++) {
        dnnl_primitive_desc_t mpd = NULL;
        int ok = make_pd(d, int8, m, N, Kp, &w->md, 1, 0, GL_ACT_NONE, &mpd) == dnnl_success &&
                 strncmp(pd_impl(mpd), "ref", 3) != 0;
        if (mpd) dnnl_primitive_desc_destroy(mpd);
        if (!ok) {
            st = gl_fail(err, GL_ERR_UNSUPPORTED,
                         "oneDNN: no %s matmul of %d rows for %d x %d weights in its layout", dt, m,
                         N, K);
            goto done;
        }
    }
    if (!seen && d->n_checked < 32) d->checked[d->n_checked++] = w->md;
    size_t bytes = dnnl_memory_desc_get_size(&w->md);
    w->data = alloc64(bytes);
    if (!w->data) {
        st = gl_fail(err, GL_ERR_NOMEM, "oneDNN: cannot allocate %zu bytes of weights", bytes);
        goto done;
    }
    /* W [N, K] row-major is the [K, N] matrix with strides (1, K); K short of Kp gets zero rows */
    const void *from = W;
    if (Kp != K) {
        padded = calloc((size_t)N * Kp, esize);
        if (!padded) {
            st = gl_fail(err, GL_ERR_NOMEM, "oneDNN: out of memory");
            goto done;
        }
        for (int n = 0; n < N; n++)
            memcpy((char *)padded + (size_t)n * Kp * esize, (const char *)W + (size_t)n * K * esize,
                   esize * (size_t)K);
        from = padded;
    }
    dnnl_memory_desc_t smd;
    dnnl_dims_t sd = {Kp, N}, ss = {1, Kp};
    dnnl_exec_arg_t args[2];
    if (dnnl_memory_desc_init_by_strides(&smd, 2, sd, int8 ? dnnl_s8 : dnnl_f32, ss) ||
        dnnl_memory_create(&src, &smd, d->eng, (void *)from) ||
        dnnl_memory_create(&w->mem, &w->md, d->eng, w->data) ||
        dnnl_reorder_primitive_desc_create(&rpd, &smd, d->eng, &w->md, d->eng, NULL) ||
        dnnl_primitive_create(&reorder, rpd) ||
        dnnl_stream_create(&stream, d->eng, dnnl_stream_default_flags) ||
        (args[0] = (dnnl_exec_arg_t){DNNL_ARG_FROM, src},
         args[1] = (dnnl_exec_arg_t){DNNL_ARG_TO, w->mem},
         dnnl_primitive_execute(reorder, stream, 2, args)) ||
        dnnl_stream_wait(stream))
        st = gl_fail(err, GL_ERR_INTERNAL, "oneDNN: cannot reorder %d x %d %s weights", N, K, dt);
done:
    if (stream) dnnl_stream_destroy(stream);
    if (reorder) dnnl_primitive_destroy(reorder);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (src) dnnl_memory_destroy(src);
    free(padded);
    omp_restore(nt);
    if (st) {
        gl_dnnl_weight_free(w);
        return st;
    }
    *out = w;
    return GL_OK;
}

void gl_dnnl_weight_free(gl_dnnl_weight *w) {
    if (!w) return;
    if (w->mem) dnnl_memory_destroy(w->mem);
    free(w->data);
    free(w);
}

/* The cached primitive for this block shape, created on first use (under the lock; a forward
 * meets each of its few block heights once). NULL when there is none to use. */
static entry *get_entry(gl_dnnl *d, const gl_dnnl_weight *w, int m, int has_bias, int sum,
                        gl_act act) {
    pthread_mutex_lock(&d->mu);
    entry *e = NULL;
    for (size_t i = 0; i < d->n_cache; i++) {
        entry *c = d->cache[i];
        if (c->m == m && c->N == w->N && c->Kp == w->Kp && c->int8 == w->int8 &&
            c->has_bias == has_bias && c->sum == sum && c->act == (int)act &&
            dnnl_memory_desc_equal(&c->wmd, &w->md)) {
            e = c;
            break;
        }
    }
    if (!e && d->threads > 0 && (d->n_cache < d->cap_cache || d->n_cache < 4096)) {
        if (d->n_cache == d->cap_cache) {
            size_t cap = d->cap_cache ? 2 * d->cap_cache : 64;
            entry **grown = realloc(d->cache, cap * sizeof *grown);
            if (grown) d->cache = grown, d->cap_cache = cap;
        }
        e = d->n_cache < d->cap_cache ? calloc(1, sizeof *e) : NULL;
        if (e) {
            *e = (entry){m, w->N, w->Kp, w->int8, has_bias, sum, (int)act, w->md, NULL, NULL};
            d->cache[d->n_cache++] = e;
            int nt = omp_one();
            dnnl_primitive_desc_t pd = NULL;
            int ok = make_pd(d, w->int8, m, w->N, w->Kp, &w->md, has_bias, sum, act, &pd) ==
                         dnnl_success &&
                     strncmp(pd_impl(pd), "ref", 3) != 0;
            const dnnl_memory_desc_t *pmd =
                ok ? dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0) : NULL;
            ok = ok && (!pmd || dnnl_memory_desc_get_size(pmd) <= PAD_BYTES) &&
                 (e->mem = calloc(4 * (size_t)d->threads, sizeof *e->mem));
            const dnnl_memory_desc_t *mds[4] = {
                ok ? dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0) : NULL,
                ok ? dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0) : NULL,
                ok && has_bias ? dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 1) : NULL,
                pmd};
            for (int t = 0; ok && t < d->threads; t++)
                for (int i = 0; ok && i < 4; i++)
                    if (mds[i])
                        ok = dnnl_memory_create(&e->mem[4 * t + i], mds[i], d->eng,
                                                DNNL_MEMORY_NONE) == dnnl_success;
            ok = ok && dnnl_primitive_create(&e->prim, pd) == dnnl_success;
            if (!ok && e->prim) dnnl_primitive_destroy(e->prim);
            if (!ok) e->prim = NULL;
            if (pd) dnnl_primitive_desc_destroy(pd);
            omp_restore(nt);
        }
    }
    pthread_mutex_unlock(&d->mu);
    return e && e->prim ? e : NULL;
}

int gl_dnnl_gemm(gl_dnnl *d, const gl_dnnl_weight *w, const void *A, int r0, int r1,
                 const float *bias, float *C, int ldc, int accumulate, gl_act act, int thread,
                 const int32_t **acc) {
    int m = r1 - r0, N = w->N;
    if (m <= 0) return 0;
    if (thread < 0 || thread >= d->threads || m > GL_DNNL_ROWS || N > d->max_n) return -1;
    if (w->int8) bias = NULL, accumulate = 0, act = GL_ACT_NONE, ldc = -1; /* s32 to the buffer */
    int dense = ldc == N;
    entry *e = get_entry(d, w, m, bias != NULL, accumulate && dense, act);
    if (!e) return -1;
    float *out = dense ? C + (size_t)r0 * ldc : d->out + (size_t)thread * GL_DNNL_ROWS * d->max_n;
    dnnl_memory_t *mem = e->mem + 4 * thread;
    dnnl_exec_arg_t args[5];
    int n = 0;
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, mem[0]};
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, w->mem};
    if (bias) args[n++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, mem[2]};
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DST, mem[1]};
    if (mem[3]) args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, mem[3]};
    int nt = omp_one();
    const char *a = (const char *)A + (size_t)r0 * w->Kp * (w->int8 ? 1 : 2);
    int bad = dnnl_memory_set_data_handle(mem[0], (void *)a) ||
              dnnl_memory_set_data_handle(mem[1], out) ||
              (bias && dnnl_memory_set_data_handle(mem[2], (void *)bias)) ||
              (mem[3] &&
               dnnl_memory_set_data_handle(mem[3], (char *)d->pad + (size_t)thread * PAD_BYTES)) ||
              dnnl_primitive_execute(e->prim, d->streams[thread], n, args) ||
              dnnl_stream_wait(d->streams[thread]);
    omp_restore(nt);
    if (bad) return -1;
    if (w->int8) {
        *acc = (const int32_t *)out;
        return 0;
    }
    if (!dense)
        for (int r = 0; r < m; r++) {
            float *c = C + (size_t)(r0 + r) * ldc;
            const float *o = out + (size_t)r * N;
            if (accumulate)
                for (int i = 0; i < N; i++)
                    c[i] += o[i];
            else
                memcpy(c, o, sizeof(float) * (size_t)N);
        }
    return 0;
}
