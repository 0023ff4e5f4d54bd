/* train.c: training a head with the Geograph recipe (weighted BCE, Adam/AdamW, early stopping on
 * the weighted validation loss), forward/backward by GEMMs, resumable from "<out>.resume". */
#include "core/blas.h"
#include "core/pool.h"
#include "heads/heads.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

gl_train_params gl_train_default_params(void) {
    gl_train_params p = {.hidden = 256,
                         .dist_dim = 16,
                         .dropout = 0.2f,
                         .lr = 1e-3f,
                         .batch = 1024,
                         .epochs = 50,
                         .patience = 7,
                         .seed = 42,
                         .clip_dim = 512};
    return p;
}

/* ------------------------------------------------------------------ forward and backward */

gl_status heads_work_init(heads_work *w, const gl_head *h, int cap, gl_error *err) {
    const gl_head_arch *a = &h->a;
    size_t d = (size_t)a->clip_dim + a->dist_dim;
    memset(w, 0, sizeof *w);
    w->cap = cap;
    w->x = malloc((size_t)cap * d * sizeof(float));
    w->a1 = malloc((size_t)cap * a->hidden * sizeof(float));
    w->a1d = malloc((size_t)cap * a->hidden * sizeof(float));
    w->da = malloc((size_t)cap * a->hidden * sizeof(float));
    w->z2 = malloc((size_t)cap * a->n_classes * sizeof(float));
    w->dz2 = malloc((size_t)cap * a->n_classes * sizeof(float));
    w->dxd = malloc((size_t)cap * (a->dist_dim + 1) * sizeof(float));
    w->grad = malloc(h->n_params * sizeof(float));
    if (!w->x || !w->a1 || !w->a1d || !w->da || !w->z2 || !w->dz2 || !w->dxd || !w->grad) {
        heads_work_free(w);
        return gl_fail(err, GL_ERR_NOMEM, "train: out of memory for a %d-row batch", cap);
    }
    return GL_OK;
}

void heads_work_free(heads_work *w) {
    free(w->x);
    free(w->a1);
    free(w->a1d);
    free(w->da);
    free(w->z2);
    free(w->dz2);
    free(w->dxd);
    free(w->grad);
    memset(w, 0, sizeof *w);
}

static void rows_set_bias(float *y, int n, int m, const float *b) {
    for (int i = 0; i < n; i++)
        memcpy(y + (size_t)i * m, b, (size_t)m * sizeof *y);
}

/* GCC vector extensions: -O2's cheap cost model leaves these element loops scalar otherwise. */
typedef float v8f __attribute__((vector_size(32)));
typedef int v8i __attribute__((vector_size(32)));

/* A macro, not a function: returning a vector by value changes the ABI without AVX. */
#define LOAD8(v, p) memcpy(&(v), (p), sizeof(v))

/* a1 = max(a1, 0); a1d = a1 * mask (mask NULL: all ones). */
static void relu_dropout(float *restrict a1, float *restrict a1d, const float *restrict mask,
                         size_t n) {
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        v8f a, mk, zero = {0};
        LOAD8(a, a1 + k);
        a = (v8f)((v8i)a & (a > zero));
        memcpy(a1 + k, &a, sizeof a);
        if (mask) {
            LOAD8(mk, mask + k);
            a *= mk;
        }
        memcpy(a1d + k, &a, sizeof a);
    }
    for (; k < n; k++) {
        a1[k] = a1[k] > 0 ? a1[k] : 0.0f;
        a1d[k] = mask ? a1[k] * mask[k] : a1[k];
    }
}

/* da = da * mask where the ReLU was active, else 0. */
static void relu_dropout_backward(const float *restrict a1, float *restrict da,
                                  const float *restrict mask, size_t n) {
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        v8f d, mk, a, zero = {0};
        LOAD8(d, da + k);
        LOAD8(a, a1 + k);
        if (mask) {
            LOAD8(mk, mask + k);
            d *= mk;
        }
        d = (v8f)((v8i)d & (a > zero));
        memcpy(da + k, &d, sizeof d);
    }
    for (; k < n; k++)
        da[k] = a1[k] > 0 ? (mask ? da[k] * mask[k] : da[k]) : 0.0f;
}

static void col_sums(const float *restrict y, int n, int m, float *restrict out) {
    memset(out, 0, (size_t)m * sizeof *out);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++)
            out[j] += y[(size_t)i * m + j];
}

/* Loss and dLoss/dlogits (into w->dz2) for the current logits w->z2. */
static double bce_loss(const gl_head *h, heads_work *w, int n, const float *targets,
                       const float *weights) {
    int c = h->a.n_classes;
    double total = 0, scale = 1.0 / ((double)c * n);
    for (int i = 0; i < n; i++) {
        double row = 0;
        for (int k = 0; k < c; k++) {
            double z = w->z2[(size_t)i * c + k], y = targets[(size_t)i * c + k];
            row += (z > 0 ? z : 0) - z * y + log1p(exp(-fabs(z)));
            double sig = 1.0 / (1.0 + exp(-z));
            w->dz2[(size_t)i * c + k] = (float)((sig - y) * weights[i] * scale);
        }
        total += weights[i] * row / c;
    }
    return total / n;
}

double heads_loss_grad(const gl_head *h, heads_work *w, int n, const int *dist,
                       const float *targets, const float *weights, const float *mask,
                       int want_grad) {
    const gl_head_arch *a = &h->a;
    int d = a->clip_dim + a->dist_dim, H = a->hidden, C = a->n_classes, dd = a->dist_dim;
    rows_set_bias(w->a1, n, H, h->b1);
    gl_sgemm_nt(n, H, d, 1.0f, w->x, d, h->w1, d, 1.0f, w->a1, H);
    relu_dropout(w->a1, w->a1d, mask, (size_t)n * H);
    rows_set_bias(w->z2, n, C, h->b2);
    gl_sgemm_nt(n, C, H, 1.0f, w->a1d, H, h->w2, H, 1.0f, w->z2, C);
    double loss = bce_loss(h, w, n, targets, weights);
    if (!want_grad) return loss;
    float *g_emb = w->grad, *g_w1 = g_emb + (h->w1 - h->emb), *g_b1 = g_emb + (h->b1 - h->emb);
    float *g_w2 = g_emb + (h->w2 - h->emb), *g_b2 = g_emb + (h->b2 - h->emb);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C, H, n, 1.0f, w->dz2, C, w->a1d, H, 0.0f,
                g_w2, H);
    col_sums(w->dz2, n, C, g_b2);
    gl_sgemm_nn(n, H, C, 1.0f, w->dz2, C, h->w2, H, 0.0f, w->da, H);
    relu_dropout_backward(w->a1, w->da, mask, (size_t)n * H);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, H, d, n, 1.0f, w->da, H, w->x, d, 0.0f,
                g_w1, d);
    col_sums(w->da, n, H, g_b1);
    /* only the distance part of dLoss/dx is needed: the CLIP inputs are data */
    memset(g_emb, 0, (size_t)a->n_dist * dd * sizeof *g_emb);
    if (dd) {
        gl_sgemm_nn(n, dd, H, 1.0f, w->da, H, h->w1 + a->clip_dim, d, 0.0f, w->dxd, dd);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < dd; j++)
                g_emb[(size_t)dist[i] * dd + j] += w->dxd[(size_t)i * dd + j];
    }
    return loss;
}

/* ------------------------------------------------------------------ the data in memory */

/* Per row: clip_dim float32 (or float16 with half_rows) + 1 byte distance index + 1 byte target
 * bits + 4 bytes weight: 2054 bytes for 512-d embeddings (1030 with half_rows). */
typedef struct {
    void *clip; /* [cap, clip_dim] float or _Float16 */
    int half;
    unsigned char *dist, *bits;
    float *weight;
    long n, cap;
} row_store;

static void store_free(row_store *s) {
    free(s->clip);
    free(s->dist);
    free(s->bits);
    free(s->weight);
}

static int store_push(row_store *s, int cd, const float *clip, int dist, const float *t, int c,
                      float w) {
    if (s->n == s->cap) {
        long cap = s->cap ? s->cap * 2 : 4096;
        void *p;
        if (!(p = realloc(s->clip,
                          (size_t)cap * cd * (s->half ? sizeof(_Float16) : sizeof(float)))))
            return -1;
        s->clip = p;
        if (!(p = realloc(s->dist, (size_t)cap))) return -1;
        s->dist = p;
        if (!(p = realloc(s->bits, (size_t)cap))) return -1;
        s->bits = p;
        if (!(p = realloc(s->weight, (size_t)cap * sizeof(float)))) return -1;
        s->weight = p;
        s->cap = cap;
    }
    if (s->half)
        for (int k = 0; k < cd; k++)
            ((_Float16 *)s->clip)[(size_t)s->n * cd + k] = (_Float16)clip[k];
    else
        memcpy((float *)s->clip + (size_t)s->n * cd, clip, (size_t)cd * sizeof *clip);
    unsigned char bits = 0;
    for (int k = 0; k < c; k++)
        bits |= (unsigned char)((t[k] > 0.5f) << k);
    s->dist[s->n] = (unsigned char)dist;
    s->bits[s->n] = bits;
    s->weight[s->n] = w;
    s->n++;
    return 0;
}

static gl_status load_rows(const gl_head *h, const char *path, int keep_bad, row_store *tra,
                           row_store *val, gl_error *err) {
    gl_hreader *r = gl_hreader_open(path, h->a.clip_dim, keep_bad, err);
    if (!r) return err->code;
    gl_hrow row;
    int rc;
    float t[GL_GEOGRAPH_N_CLASSES];
    gl_status s = GL_OK;
    while (!s && (rc = gl_hreader_next(r, &row, err)) == 1) {
        if (row.split != GL_SPLIT_TRA && row.split != GL_SPLIT_VAL) continue;
        heads_row_targets(h, &row, t);
        if (store_push(row.split == GL_SPLIT_TRA ? tra : val, h->a.clip_dim, row.embedding,
                       gl_head_dist_index(h, row.distance), t, h->a.n_classes, row.weight))
            s = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory after %ld rows", path,
                        tra->n + val->n);
    }
    if (!s && rc < 0) s = err->code;
    if (gl_hreader_bad_rows(r))
        gl_log(GL_LOG_WARN, "%s: %ld bad rows %s", path, gl_hreader_bad_rows(r),
               keep_bad ? "kept" : "skipped");
    gl_hreader_free(r);
    if (!s && !tra->n)
        s = gl_fail(err, GL_ERR_FORMAT, "%s: the 'tra' split is empty: nothing to train on", path);
    if (!s && !val->n)
        s = gl_fail(err, GL_ERR_FORMAT, "%s: the 'val' split is empty: early stopping needs it",
                    path);
    return s;
}

/* Copies rows idx[0..n) into the workspace inputs and expands their targets and weights. */
static void gather(const gl_head *h, const row_store *s, const long *idx, int n, heads_work *w,
                   int *dist, float *targets, float *weights) {
    int cd = h->a.clip_dim, dd = h->a.dist_dim, d = cd + dd, c = h->a.n_classes;
    for (int i = 0; i < n; i++) {
        long j = idx ? idx[i] : i;
        float *x = w->x + (size_t)i * d;
        if (s->half)
            for (int k = 0; k < cd; k++)
                x[k] = (float)((const _Float16 *)s->clip)[(size_t)j * cd + k];
        else
            memcpy(x, (const float *)s->clip + (size_t)j * cd, (size_t)cd * sizeof(float));
        memcpy(w->x + (size_t)i * d + cd, h->emb + (size_t)s->dist[j] * dd,
               (size_t)dd * sizeof(float));
        dist[i] = s->dist[j];
        for (int k = 0; k < c; k++)
            targets[(size_t)i * c + k] = (float)((s->bits[j] >> k) & 1);
        weights[i] = s->weight[j];
    }
}

/* ------------------------------------------------------------------ optimiser and state */

typedef struct {
    gl_head *h;
    float *m, *v; /* Adam moments, [n_params] */
    long step;
    int next_epoch, bad_epochs;
    double best_val;
    gl_rng rng;
} trainer;

#define ADAM_B1 0.9
#define ADAM_B2 0.999
#define ADAM_EPS 1e-8

/* torch.optim.Adam / AdamW, one step over the parameter block. GCC's -O2 cost model leaves this
 * loop scalar (sqrt, divide); O3 for this one function vectorises it. */
__attribute__((optimize("O3"))) static void adam_step(trainer *t, const float *g,
                                                      const gl_train_params *p, double lr) {
    t->step++;
    double bc1 = 1 - pow(ADAM_B1, (double)t->step), bc2 = 1 - pow(ADAM_B2, (double)t->step);
    float step_size = (float)(lr / bc1), inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2));
    float b1 = (float)ADAM_B1, b2 = (float)ADAM_B2, wd = p->weight_decay,
          decay = (float)(1 - lr * wd);
    float *restrict x = t->h->params, *restrict m = t->m, *restrict v = t->v;
    float keep = p->adamw ? decay : 1.0f, add = p->adamw ? 0.0f : wd;
    for (size_t i = 0; i < t->h->n_params; i++) {
        float gi = g[i] + add * x[i];
        x[i] *= keep;
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        x[i] -= step_size * m[i] / (sqrtf(v[i]) * inv_sqrt_bc2 + (float)ADAM_EPS);
    }
}

static char *resume_path(const char *out) {
    size_t n = strlen(out) + 8;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s.resume", out);
    return p;
}

static void meta_put(cJSON *m, const char *key, const char *fmt, double v) {
    char buf[64];
    snprintf(buf, sizeof buf, fmt, v);
    cJSON_AddStringToObject(m, key, buf);
}

static gl_status save_resume(const trainer *t, const char *path, gl_error *err) {
    heads_tensor ts[7];
    heads_tensors(t->h, ts);
    int64_t np = (int64_t)t->h->n_params;
    ts[5] = (heads_tensor){"optim.exp_avg", t->m, 1, {np}};
    ts[6] = (heads_tensor){"optim.exp_avg_sq", t->v, 1, {np}};
    cJSON *m = heads_metadata(t->h);
    meta_put(m, "step", "%.0f", (double)t->step);
    meta_put(m, "next_epoch", "%.0f", t->next_epoch);
    meta_put(m, "bad_epochs", "%.0f", t->bad_epochs);
    meta_put(m, "best_val_loss", "%.17g", t->best_val);
    char rng[80];
    snprintf(rng, sizeof rng, "%016llx%016llx%016llx%016llx", (unsigned long long)t->rng.s[0],
             (unsigned long long)t->rng.s[1], (unsigned long long)t->rng.s[2],
             (unsigned long long)t->rng.s[3]);
    cJSON_AddStringToObject(m, "rng", rng);
    gl_status s = heads_st_write(path, ts, 7, m, err);
    cJSON_Delete(m);
    return s;
}

static const char *meta_str(const cJSON *m, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static gl_status load_resume(trainer *t, const char *path, gl_error *err) {
    gl_safetensors st = {0};
    cJSON *m = NULL;
    t->h = heads_load_safetensors(path, &st, &m, err);
    if (!t->h) return err->code;
    gl_status s = GL_OK;
    const char *step = meta_str(m, "step"), *ne = meta_str(m, "next_epoch"),
               *be = meta_str(m, "bad_epochs");
    const char *bv = meta_str(m, "best_val_loss"), *rng = meta_str(m, "rng");
    const gl_st_tensor *em = gl_st_find(&st, "optim.exp_avg"),
                       *ev = gl_st_find(&st, "optim.exp_avg_sq");
    if (!step || !ne || !be || !bv || !rng || strlen(rng) != 64 || !em || !ev ||
        em->dtype != GL_ST_F32 || ev->dtype != GL_ST_F32 || em->count != t->h->n_params ||
        ev->count != t->h->n_params)
        s = gl_fail(err, GL_ERR_FORMAT, "%s: not a training state written by 'geolabel train'",
                    path);
    if (!s && (!(t->m = malloc(t->h->n_params * sizeof(float))) ||
               !(t->v = malloc(t->h->n_params * sizeof(float)))))
        s = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
    if (!s) {
        memcpy(t->m, em->data, t->h->n_params * sizeof(float));
        memcpy(t->v, ev->data, t->h->n_params * sizeof(float));
        t->step = strtol(step, NULL, 10);
        t->next_epoch = (int)strtol(ne, NULL, 10);
        t->bad_epochs = (int)strtol(be, NULL, 10);
        t->best_val = strtod(bv, NULL);
        for (int i = 0; i < 4; i++) {
            char part[17];
            memcpy(part, rng + 16 * i, 16);
            part[16] = 0;
            t->rng.s[i] = strtoull(part, NULL, 16);
        }
    }
    gl_st_close(&st);
    cJSON_Delete(m);
    return s;
}

static gl_status trainer_new(trainer *t, const gl_train_params *p, gl_error *err) {
    memset(t, 0, sizeof *t);
    gl_head_arch a = {.clip_dim = p->clip_dim,
                      .dist_dim = p->dist_dim,
                      .hidden = p->hidden,
                      .n_classes = GL_GEOGRAPH_N_CLASSES,
                      .n_dist = GL_GEOGRAPH_DIST_ROWS,
                      .dropout = p->dropout};
    const char *keys[24];
    int vals[24], n;
    heads_geograph_dist_map(keys, vals, &n);
    if (!(t->h = heads_new(&a, gl_geograph_classes, keys, vals, n, err))) return err->code;
    gl_rng_seed(&t->rng, p->seed);
    heads_init_params(t->h, &t->rng);
    t->m = calloc(t->h->n_params, sizeof(float));
    t->v = calloc(t->h->n_params, sizeof(float));
    t->best_val = INFINITY;
    return t->m && t->v ? GL_OK : gl_fail(err, GL_ERR_NOMEM, "train: out of memory");
}

static void trainer_free(trainer *t) {
    gl_head_free(t->h);
    free(t->m);
    free(t->v);
}

/* ------------------------------------------------------------------ epochs */

/* Data parallel: a batch is cut into one contiguous shard per thread, each shard runs forward and
 * backward with single-threaded BLAS, and the shard gradients are summed in shard order. The cut
 * depends only on the batch size and thread count, so a run is reproducible for both. */
#define MAX_SHARDS 64

typedef struct {
    heads_work w[MAX_SHARDS];
    int shards;
    int *dist;
    float *targets, *weights, *mask;
    long *order;
} batch_bufs;

static void bufs_free(batch_bufs *b) {
    for (int i = 0; i < MAX_SHARDS; i++)
        heads_work_free(&b->w[i]);
    free(b->dist);
    free(b->targets);
    free(b->weights);
    free(b->mask);
    free(b->order);
}

static gl_status bufs_init(batch_bufs *b, const gl_head *h, int batch, int shards, long n_rows,
                           gl_error *err) {
    memset(b, 0, sizeof *b);
    b->shards = shards < 1 ? 1 : shards > MAX_SHARDS ? MAX_SHARDS : shards > batch ? batch : shards;
    for (int i = 0; i < b->shards; i++) {
        gl_status s = heads_work_init(&b->w[i], h, batch / b->shards + 1, err);
        if (s) return s;
    }
    b->dist = malloc((size_t)batch * sizeof *b->dist);
    b->targets = malloc((size_t)batch * h->a.n_classes * sizeof *b->targets);
    b->weights = malloc((size_t)batch * sizeof *b->weights);
    b->mask = malloc((size_t)batch * h->a.hidden * sizeof *b->mask);
    b->order = malloc((size_t)n_rows * sizeof *b->order);
    return b->dist && b->targets && b->weights && b->mask && b->order
               ? GL_OK
               : gl_fail(err, GL_ERR_NOMEM, "train: out of memory");
}

/* Four 16-bit draws per generator call: a unit is dropped when its draw is below p * 2^16 (p is
 * thus kept to within 2^-17, e.g. 0.2 as 0.199997). */
static void fill_dropout(float *mask, size_t n, float p, gl_rng *rng) {
    float keep = p > 0 ? 1.0f / (1.0f - p) : 1.0f;
    uint64_t cut = (uint64_t)((double)p * 65536.0 + 0.5), r = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(i & 3)) r = gl_rng_next(rng);
        mask[i] = (r & 0xffff) < cut ? 0.0f : keep;
        r >>= 16;
    }
}

typedef struct {
    const gl_head *h;
    const row_store *rows;
    const long *idx;
    batch_bufs *b;
    int n, with_dropout, want_grad;
    double loss[MAX_SHARDS];
} shard_job;

static int shard_lo(int n, int shards, int i) {
    return (int)((long)n * i / shards);
}

static void run_shard(void *ctx, int i, int thread) {
    shard_job *j = ctx;
    batch_bufs *b = j->b;
    int lo = shard_lo(j->n, b->shards, i), m = shard_lo(j->n, b->shards, i + 1) - lo,
        C = j->h->a.n_classes;
    (void)thread;
    if (m <= 0) {
        j->loss[i] = 0;
        return;
    }
    gather(j->h, j->rows, j->idx + lo, m, &b->w[i], b->dist + lo, b->targets + (size_t)lo * C,
           b->weights + lo);
    const float *mask = j->with_dropout ? b->mask + (size_t)lo * j->h->a.hidden : NULL;
    j->loss[i] = heads_loss_grad(j->h, &b->w[i], m, b->dist + lo, b->targets + (size_t)lo * C,
                                 b->weights + lo, mask, j->want_grad);
}

/* Loss of rows idx[0..n) (and with want_grad the gradient in b->w[0].grad), over all shards. */
static double run_batch(gl_pool *pool, shard_job *j) {
    batch_bufs *b = j->b;
    gl_pool_run(pool, b->shards, run_shard, j);
    double loss = 0;
    for (int i = 0; i < b->shards; i++) {
        double share =
            (double)(shard_lo(j->n, b->shards, i + 1) - shard_lo(j->n, b->shards, i)) / j->n;
        loss += j->loss[i] * share;
        if (!j->want_grad || b->shards == 1) continue;
        float *g0 = b->w[0].grad, *gi = b->w[i].grad;
        if (i == 0)
            for (size_t k = 0; k < j->h->n_params; k++)
                g0[k] *= (float)share;
        else
            for (size_t k = 0; k < j->h->n_params; k++)
                g0[k] += (float)share * gi[k];
    }
    return loss;
}

static double train_epoch(trainer *t, gl_pool *pool, const row_store *tra, batch_bufs *b,
                          const gl_train_params *p, long total_steps) {
    long n = tra->n;
    for (long i = 0; i < n; i++)
        b->order[i] = i;
    for (long i = n - 1; i > 0; i--) { /* Fisher-Yates */
        long j = (long)(gl_rng_next(&t->rng) % (uint64_t)(i + 1)), tmp = b->order[i];
        b->order[i] = b->order[j];
        b->order[j] = tmp;
    }
    double sum = 0;
    long batches = 0;
    for (long i0 = 0; i0 < n; i0 += p->batch, batches++) {
        int m = (int)(n - i0 < p->batch ? n - i0 : p->batch);
        fill_dropout(b->mask, (size_t)m * t->h->a.hidden, t->h->a.dropout, &t->rng);
        shard_job j = {.h = t->h,
                       .rows = tra,
                       .idx = b->order + i0,
                       .b = b,
                       .n = m,
                       .with_dropout = 1,
                       .want_grad = 1};
        sum += run_batch(pool, &j);
        double lr = p->lr;
        if (p->cosine) lr = 0.5 * p->lr * (1 + cos(M_PI * (double)t->step / (double)total_steps));
        adam_step(t, b->w[0].grad, p, lr);
    }
    return sum / (double)batches;
}

/* Weighted validation loss averaged over batches (as the reference does), and F1 at 0.5. */
static double val_epoch(trainer *t, gl_pool *pool, const row_store *val, batch_bufs *b,
                        const gl_train_params *p, double *micro, double *macro) {
    int c = t->h->a.n_classes;
    double sum = 0, tp[GL_HEAD_EVAL_MAX] = {0}, fp[GL_HEAD_EVAL_MAX] = {0},
           fn[GL_HEAD_EVAL_MAX] = {0};
    long batches = 0;
    for (long i = 0; i < val->n; i++)
        b->order[i] = i;
    for (long i0 = 0; i0 < val->n; i0 += p->batch, batches++) {
        int m = (int)(val->n - i0 < p->batch ? val->n - i0 : p->batch);
        shard_job j = {.h = t->h, .rows = val, .idx = b->order + i0, .b = b, .n = m};
        sum += run_batch(pool, &j);
        for (int s = 0; s < b->shards; s++) {
            int lo = shard_lo(m, b->shards, s), hi = shard_lo(m, b->shards, s + 1);
            for (size_t k = 0; k < (size_t)(hi - lo) * c; k++) {
                int pred = b->w[s].z2[k] > 0, truth = b->targets[(size_t)lo * c + k] > 0.5f;
                tp[k % c] += pred && truth, fp[k % c] += pred && !truth,
                    fn[k % c] += !pred && truth;
            }
        }
    }
    double TP = 0, FP = 0, FN = 0, f1sum = 0;
    for (int k = 0; k < c; k++) {
        TP += tp[k], FP += fp[k], FN += fn[k];
        f1sum += 2 * tp[k] + fp[k] + fn[k] > 0 ? 2 * tp[k] / (2 * tp[k] + fp[k] + fn[k]) : 0;
    }
    *micro = 2 * TP + FP + FN > 0 ? 2 * TP / (2 * TP + FP + FN) : 0;
    *macro = f1sum / c;
    return sum / (double)batches;
}

static gl_status check_params(const gl_train_params *p, gl_error *err) {
    if (p->batch < 1 || p->batch > (1 << 20) || p->epochs < 1 || p->patience < 1 || !(p->lr > 0) ||
        !(p->dropout >= 0 && p->dropout < 1) || !(p->weight_decay >= 0) || p->hidden < 1 ||
        p->dist_dim < 0 || p->clip_dim < 1)
        return gl_fail(err, GL_ERR_ARG, "train: parameters out of range");
    return GL_OK;
}

gl_status gl_head_train(const char *data_path, const char *out_path, const gl_train_params *p,
                        gl_error *err) {
    gl_status s = check_params(p, err);
    if (s) return s;
    int threads = p->threads ? p->threads : gl_cpu_count(), blas_threads = gl_blas_get_threads();
    trainer t = {0};
    row_store tra = {.half = p->half_rows}, val = {.half = p->half_rows};
    batch_bufs b = {0};
    char *rpath = resume_path(out_path);
    gl_pool *pool = gl_pool_create(threads, err);
    if (!rpath || !pool) {
        free(rpath);
        gl_pool_free(pool);
        return err->code ? err->code : gl_fail(err, GL_ERR_NOMEM, "train: out of memory");
    }
    gl_blas_set_threads(1); /* the shards are the parallelism */
    s = p->resume ? load_resume(&t, rpath, err) : trainer_new(&t, p, err);
    if (!s) s = load_rows(t.h, data_path, p->keep_bad_rows, &tra, &val, err);
    if (!s) s = bufs_init(&b, t.h, p->batch, threads, tra.n > val.n ? tra.n : val.n, err);
    long total_steps = (long)p->epochs * ((tra.n + p->batch - 1) / p->batch);
    for (int e = t.next_epoch; !s && e < p->epochs && t.bad_epochs < p->patience; e++) {
        double t0 = gl_now_seconds(), tl = train_epoch(&t, pool, &tra, &b, p, total_steps), micro,
               macro;
        double train_seconds = gl_now_seconds() - t0;
        double vl = val_epoch(&t, pool, &val, &b, p, &micro, &macro);
        int improved = vl < t.best_val;
        if (improved) {
            t.best_val = vl;
            t.bad_epochs = 0;
            s = gl_head_save(t.h, out_path, err);
        } else {
            t.bad_epochs++;
        }
        t.next_epoch = e + 1;
        if (!s) s = save_resume(&t, rpath, err);
        if (p->on_epoch) p->on_epoch(p->ctx, e + 1, tl, vl, micro, macro, improved, train_seconds);
    }
    gl_blas_set_threads(blas_threads);
    gl_pool_free(pool);
    bufs_free(&b);
    store_free(&tra);
    store_free(&val);
    trainer_free(&t);
    free(rpath);
    return s;
}
