/* test_heads.c: Geograph heads against the fixtures (the four published checkpoints' logits and
 * probabilities, the targets), hand-computed metrics, gradients against a float64 re-derivation
 * by finite differences, and training that recovers a known head from synthetic data. */
#include "harness.h"
#include "heads/heads.h"

#include <unistd.h>

static const char *versions[] = {"v1", "v2", "v2.1", "v2.3"};

/* Reads every row of inputs.jsonl: clip [64,512], dist idx by the head, targets. */
static int read_inputs(const gl_head *h, float *clip, int *dist, float *targets, int max) {
    gl_error err = {0};
    gl_hreader *r =
        gl_hreader_open(t_path("fixtures/geograph/expected/inputs.jsonl"), 512, 0, &err);
    CHECK(r, "%s", err.msg);
    if (!r) return 0;
    gl_hrow row;
    int n = 0;
    while (n < max && gl_hreader_next(r, &row, &err) == 1) {
        memcpy(clip + (size_t)n * 512, row.embedding, 512 * sizeof(float));
        if (h) dist[n] = gl_head_dist_index(h, row.distance);
        gl_geograph_targets(row.types, row.distance, gl_geograph_classes, 7, targets + n * 7);
        n++;
    }
    CHECK(gl_hreader_bad_rows(r) == 0, "bad rows");
    gl_hreader_free(r);
    return n;
}

static void check_npy(const char *what, const float *got, const char *path, size_t n, double tol) {
    gl_error err = {0};
    gl_npy *ref = NULL;
    ref = gl_npy_load(path, &err);
    CHECK(ref, "%s", err.msg);
    if (err.code) return;
    CHECK(ref->count == n, "%s: %zu values, expected %zu", what, ref->count, n);
    if (ref->count == n) CHECK_CLOSE(what, got, (const float *)ref->data, n, tol, 0);
    gl_npy_free(ref);
}

static void test_parity(void) {
    static float clip[64 * 512], targets[64 * 7], logits[64 * 7];
    int dist[64];
    for (int v = 0; v < 4; v++) {
        gl_error err = {0};
        gl_head *h =
            gl_head_load(t_path("fixtures/geograph/best_geograph_model_%s.pth", versions[v]), &err);
        CHECK(h, "%s", err.msg);
        if (!h) continue;
        gl_head_arch a = gl_head_get_arch(h);
        CHECK(a.clip_dim == 512 && a.dist_dim == 16 && a.hidden == 256 && a.n_classes == 7 &&
                  a.n_dist == 24,
              "arch");
        for (int c = 0; c < 7; c++)
            CHECK(!strcmp(gl_head_class_name(h, c), gl_geograph_classes[c]), "class %d", c);
        int n = read_inputs(h, clip, dist, targets, 64);
        CHECK(n == 64, "%d rows", n);
        CHECK_OK(gl_head_forward(h, clip, dist, n, logits, &err), &err);
        check_npy(
            "logits", logits,
            t_path("fixtures/geograph/expected/best_geograph_model_%s.logits.npy", versions[v]),
            64 * 7, 1e-4);
        gl_sigmoid_inplace(logits, 64 * 7);
        check_npy(
            "probs", logits,
            t_path("fixtures/geograph/expected/best_geograph_model_%s.probs.npy", versions[v]),
            64 * 7, 1e-4);
        gl_head_free(h);
    }
}

static void test_targets(void) {
    static float clip[64 * 512], targets[64 * 7];
    int n = read_inputs(NULL, clip, NULL, targets, 64);
    CHECK(n == 64, "%d rows", n);
    check_npy("targets", targets, t_path("fixtures/geograph/expected/targets.npy"), 64 * 7, 0);
}

/* The rules as the issue and the project's README state them. */
static void test_distance_rules(void) {
    struct {
        const char *s;
        int idx;
    } cases[] = {{"", 0},   {"0", 0},    {" 64 ", 7},     {"1", 1},        {"1048576", 21},
                 {"3", 22}, {"abc", 22}, {"2097152", 22}, {"Unknown", 22}, {"64.0", 22}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK(gl_geograph_dist_index(cases[i].s) == cases[i].idx, "'%s' -> %d", cases[i].s,
              gl_geograph_dist_index(cases[i].s));
    char d[32];
    gl_geograph_distance(100, 200, 103, 204, d, sizeof d); /* d = 5 -> 2^2 */
    CHECK(!strcmp(d, "4"), "%s", d);
    gl_geograph_distance(100, 200, 100, 200, d, sizeof d);
    CHECK(!strcmp(d, "0"), "%s", d);
    gl_geograph_distance(100, 0, 100, 200, d, sizeof d);
    CHECK(!strcmp(d, "Unknown"), "%s", d);
    gl_geograph_distance(100, 200, 0, 200, d, sizeof d);
    CHECK(!strcmp(d, "Unknown"), "%s", d);
    gl_geograph_distance(0, 1, 1024, 1, d, sizeof d);
    CHECK(!strcmp(d, "1024"), "%s", d);
    float t[7];
    gl_geograph_targets("Cross Grid", "0257", gl_geograph_classes, 7, t);
    CHECK(t[2] == 1 && t[4] == 0, "0257 > 256");
    gl_geograph_targets("Cross Grid", "256", gl_geograph_classes, 7, t);
    CHECK(t[2] == 0 && t[4] == 1, "only tag -> Geograph");
    gl_geograph_targets("Cross Grid, Inside", "16", gl_geograph_classes, 7, t);
    CHECK(t[2] == 0 && t[4] == 0 && t[5] == 1, "dropped");
    gl_geograph_targets(" From Above ,Extra", "x", gl_geograph_classes, 7, t);
    CHECK(t[6] == 1 && t[3] == 1, "From Above");
}

static void test_safetensors_roundtrip(void) {
    static float clip[64 * 512], targets[64 * 7], a[64 * 7], b[64 * 7];
    int dist[64];
    gl_error err = {0};
    gl_head *h = gl_head_load(t_path("fixtures/geograph/best_geograph_model_v2.3.pth"), &err);
    CHECK(h, "%s", err.msg);
    if (!h) return;
    CHECK_OK(gl_head_save(h, "rt.safetensors", &err), &err);
    gl_head *g = gl_head_load("rt.safetensors", &err);
    CHECK(g, "%s", err.msg);
    if (g) {
        int n = read_inputs(h, clip, dist, targets, 64);
        CHECK_OK(gl_head_forward(h, clip, dist, n, a, &err), &err);
        CHECK_OK(gl_head_forward(g, clip, dist, n, b, &err), &err);
        CHECK(!memcmp(a, b, sizeof a), "forward differs after a round trip");
        CHECK(gl_head_dist_index(g, "1048576") == 21 && gl_head_dist_index(g, "") == 0,
              "dist map kept");
        CHECK(!strcmp(gl_head_class_name(g, 6), "From Drone"), "classes kept");
    }
    gl_head_free(g);
    gl_head_free(h);
}

/* ------------------------------------------------------------------ metrics by hand */

static void test_metrics(void) {
    /* column 0: p [.9 .6 .4 .2], y [1 0 1 0]; column 1: p [.1 .8 .7 .3], y [0 1 1 1] */
    const float p[8] = {0.9f, 0.1f, 0.6f, 0.8f, 0.4f, 0.7f, 0.2f, 0.3f};
    const float y[8] = {1, 0, 0, 1, 1, 1, 0, 1};
    double thr[2] = {0.5, 0.5}, P[2], R[2], F[2], micro, macro;
    gl_multilabel_prf(p, y, 4, 2, thr, P, R, F, &micro, &macro);
    CHECK(fabs(P[0] - 0.5) < 1e-12 && fabs(R[0] - 0.5) < 1e-12 && fabs(F[0] - 0.5) < 1e-12,
          "class 0");
    CHECK(fabs(P[1] - 1) < 1e-12 && fabs(R[1] - 2.0 / 3) < 1e-12 && fabs(F[1] - 0.8) < 1e-12,
          "class 1");
    CHECK(fabs(micro - 6.0 / 9) < 1e-12 && fabs(macro - 0.65) < 1e-12, "micro %g macro %g", micro,
          macro);
    /* AP: class 0 = 0.5*1 + 0.5*(2/3); class 1 = 1 */
    CHECK(fabs(gl_average_precision(p, y, 4, 2) - (0.5 + 1.0 / 3)) < 1e-12, "AP0 %g",
          gl_average_precision(p, y, 4, 2));
    CHECK(fabs(gl_average_precision(p + 1, y + 1, 4, 2) - 1) < 1e-12, "AP1");
    /* tied scores form one step: [.5 .5 .2] y [1 0 1] -> 0.5*0.5 + 0.5*(2/3) */
    const float ts[3] = {0.5f, 0.5f, 0.2f}, ty[3] = {1, 0, 1}, none[3] = {0, 0, 0};
    CHECK(fabs(gl_average_precision(ts, ty, 3, 1) - (0.25 + 1.0 / 3)) < 1e-12, "tied AP");
    CHECK(isnan(gl_average_precision(ts, none, 3, 1)), "AP without positives");
    /* threshold 0.6 is strict: p = .6 is not predicted */
    thr[0] = 0.6f; /* the float 0.6f itself, so p == threshold exactly */
    gl_multilabel_prf(p, y, 4, 2, thr, P, R, F, NULL, NULL);
    CHECK(fabs(P[0] - 1) < 1e-12 && fabs(R[0] - 0.5) < 1e-12, "strict threshold");
}

/* ------------------------------------------------------------------ gradients */

typedef struct {
    int n, C, D, H, cd, dd, nd;
} dims;

/* An independent float64 loss of the same model, written from the math, not from train.c. */
static double loss64(const gl_head *h, const dims *d, const double *theta, const double *clip,
                     const int *dist, const float *y, const float *w, const float *mask) {
    const double *emb = theta, *w1 = emb + d->nd * d->dd, *b1 = w1 + d->H * d->D, *w2 = b1 + d->H,
                 *b2 = w2 + d->C * d->H;
    (void)h;
    double total = 0;
    for (int i = 0; i < d->n; i++) {
        double x[64], a[64], row = 0;
        for (int j = 0; j < d->cd; j++)
            x[j] = clip[i * d->cd + j];
        for (int j = 0; j < d->dd; j++)
            x[d->cd + j] = emb[dist[i] * d->dd + j];
        for (int k = 0; k < d->H; k++) {
            double z = b1[k];
            for (int j = 0; j < d->D; j++)
                z += w1[k * d->D + j] * x[j];
            a[k] = (z > 0 ? z : 0) * mask[i * d->H + k];
        }
        for (int c = 0; c < d->C; c++) {
            double z = b2[c];
            for (int k = 0; k < d->H; k++)
                z += w2[c * d->H + k] * a[k];
            double t = y[i * d->C + c], sig = 1 / (1 + exp(-z));
            row += -(t * log(sig) + (1 - t) * log(1 - sig));
        }
        total += w[i] * row / d->C;
    }
    return total / d->n;
}

static void test_gradient_check(void) {
    dims d = {.n = 6, .C = 3, .cd = 5, .dd = 3, .nd = 4, .H = 7};
    d.D = d.cd + d.dd;
    gl_head_arch a = {.clip_dim = d.cd,
                      .dist_dim = d.dd,
                      .hidden = d.H,
                      .n_classes = d.C,
                      .n_dist = d.nd,
                      .dropout = 0.3f};
    const char *classes[3] = {"a", "b", "c"}, *keys[1] = {"Unknown"};
    int vals[1] = {3};
    gl_error err = {0};
    gl_head *h = heads_new(&a, classes, keys, vals, 1, &err);
    CHECK(h, "%s", err.msg);
    if (!h) return;
    gl_rng rng;
    gl_rng_seed(&rng, 7);
    heads_init_params(h, &rng);
    float clip[6 * 5], y[6 * 3], w[6], mask[6 * 7];
    double clip64[6 * 5];
    int dist[6] = {0, 1, 3, 3, 2, 0};
    for (int i = 0; i < 30; i++)
        clip64[i] = clip[i] = (float)gl_rng_normal(&rng);
    for (int i = 0; i < 18; i++)
        y[i] = gl_rng_uniform(&rng) < 0.5;
    for (int i = 0; i < 6; i++)
        w[i] = (float)(0.2 + gl_rng_uniform(&rng));
    for (int i = 0; i < 42; i++)
        mask[i] = gl_rng_uniform(&rng) < 0.3 ? 0.0f : 1.0f / 0.7f;
    heads_work wk;
    CHECK_OK(heads_work_init(&wk, h, 6, &err), &err);
    heads_assemble(h, clip, dist, 6, wk.x);
    double loss = heads_loss_grad(h, &wk, 6, dist, y, w, mask, 1);
    double *theta = calloc(h->n_params, sizeof *theta);
    for (size_t i = 0; i < h->n_params; i++)
        theta[i] = h->params[i];
    double l64 = loss64(h, &d, theta, clip64, dist, y, w, mask);
    CHECK(fabs(loss - l64) < 1e-5, "loss %g vs float64 %g", loss, l64);
    int bad = 0;
    double worst = 0;
    for (size_t i = 0; i < h->n_params; i++) {
        double keep = theta[i], eps = 1e-6;
        theta[i] = keep + eps;
        double up = loss64(h, &d, theta, clip64, dist, y, w, mask);
        theta[i] = keep - eps;
        double down = loss64(h, &d, theta, clip64, dist, y, w, mask);
        theta[i] = keep;
        double num = (up - down) / (2 * eps), diff = fabs(num - wk.grad[i]);
        if (diff > worst) worst = diff;
        if (diff > 1e-5 + 1e-3 * fabs(num)) {
            if (bad++ < 5)
                fprintf(stderr, "  param %zu: analytic %.8g numeric %.8g\n", i, wk.grad[i], num);
        }
    }
    CHECK(bad == 0, "%d of %zu gradients disagree (worst %g)", bad, h->n_params, worst);
    free(theta);
    heads_work_free(&wk);
    gl_head_free(h);
}

/* ------------------------------------------------------------------ training end to end */

/* Rows whose labels come from a known random head: targets = (teacher logits > 0). */
static void write_synthetic(const char *path, int n, int cd, uint64_t seed) {
    gl_head_arch a = {.clip_dim = cd, .dist_dim = 4, .hidden = 12, .n_classes = 7, .n_dist = 24};
    const char *keys[24];
    int vals[24], nk;
    heads_geograph_dist_map(keys, vals, &nk);
    gl_error err = {0};
    gl_head *teacher = heads_new(&a, gl_geograph_classes, keys, vals, nk, &err);
    gl_rng rng;
    gl_rng_seed(&rng, seed);
    heads_init_params(teacher, &rng);
    FILE *f = fopen(path, "w");
    const char *dists[4] = {"16", "Unknown", "1024", "0"};
    float x[64], logit[7];
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < cd; j++)
            x[j] = (float)gl_rng_normal(&rng);
        int di = gl_head_dist_index(teacher, dists[i % 4]);
        gl_head_forward(teacher, x, &di, 1, logit, &err);
        char types[256] = "";
        for (int c = 0; c < 7; c++)
            if (logit[c] > 0 && c != 2) /* Cross Far only comes from Cross Grid */
                snprintf(types + strlen(types), sizeof types - strlen(types), "%s%s",
                         types[0] ? "," : "", gl_geograph_classes[c]);
        char *b64 = gl_base64_encode(x, (size_t)cd * sizeof(float));
        fprintf(f,
                "{\"gridimage_id\": %d, \"types\": \"%s\", \"distance\": \"%s\", \"embeddings\": "
                "\"%s\", \"split\": \"%s\", \"weight\": 1.0}\n",
                i, types, dists[i % 4], b64,
                i % 10 < 8    ? "tra"
                : i % 10 == 8 ? "val"
                              : "tes");
        free(b64);
    }
    fclose(f);
    gl_head_free(teacher);
}

typedef struct {
    double best_micro, last_val;
    int epochs;
} progress;

static void note_epoch(void *ctx, int epoch, double tl, double vl, double micro, double macro,
                       int improved, double seconds) {
    progress *p = ctx;
    (void)tl, (void)macro, (void)seconds;
    if (improved) p->best_micro = micro;
    p->last_val = vl;
    p->epochs = epoch;
}

static void test_train_recovers_teacher(void) {
    write_synthetic("syn.jsonl", 8000, 16, 11);
    gl_train_params p = gl_train_default_params();
    p.clip_dim = 16;
    p.batch = 128;
    p.epochs = 40;
    p.lr = 3e-3f;
    p.threads = 1;
    progress pr = {0};
    p.on_epoch = note_epoch;
    p.ctx = &pr;
    gl_error err = {0};
    CHECK_OK(gl_head_train("syn.jsonl", "student.safetensors", &p, &err), &err);
    CHECK(pr.best_micro >= 0.95, "val micro-F1 %.4f after %d epochs", pr.best_micro, pr.epochs);
    gl_head *h = gl_head_load("student.safetensors", &err);
    CHECK(h, "%s", err.msg);
    gl_head_eval e;
    if (h) CHECK_OK(gl_head_eval_file(h, "syn.jsonl", 0, &e, &err), &err);
    if (h)
        CHECK(e.micro_f1 >= 0.95 && e.n_test == 800, "tes micro-F1 %.4f on %ld rows", e.micro_f1,
              e.n_test);
    gl_head_free(h);
}

/* Two epochs, then a resumed run to four, equals four epochs straight (same seed, one thread). */
static void test_resume_matches(void) {
    write_synthetic("res.jsonl", 1500, 8, 5);
    gl_train_params p = gl_train_default_params();
    p.clip_dim = 8;
    p.batch = 64;
    p.epochs = 4;
    p.patience = 100;
    p.threads = 1;
    gl_error err = {0};
    CHECK_OK(gl_head_train("res.jsonl", "straight.safetensors", &p, &err), &err);
    p.epochs = 2;
    CHECK_OK(gl_head_train("res.jsonl", "resumed.safetensors", &p, &err), &err);
    p.epochs = 4;
    p.resume = 1;
    CHECK_OK(gl_head_train("res.jsonl", "resumed.safetensors", &p, &err), &err);
    const char *files[2][2] = {{"straight.safetensors.resume", "resumed.safetensors.resume"},
                               {"straight.safetensors", "resumed.safetensors"}};
    for (int k = 0; k < 2; k++) {
        char *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        CHECK_OK(gl_read_file(files[k][0], 1 << 24, &a, &na, &err), &err);
        CHECK_OK(gl_read_file(files[k][1], 1 << 24, &b, &nb, &err), &err);
        CHECK(a && b && na == nb && !memcmp(a, b, na), "%s and %s differ", files[k][0],
              files[k][1]);
        free(a);
        free(b);
    }
}

/* ------------------------------------------------------------------ bad input */

static void test_bad_rows(void) {
    FILE *f = fopen("bad.jsonl", "w");
    float v[4] = {1, 2, 3, 4}, nanv[4] = {1, NAN, 3, 4};
    char *good = gl_base64_encode(v, 16), *three = gl_base64_encode(v, 12),
         *nan = gl_base64_encode(nanv, 16);
    fprintf(f,
            "{\"gridimage_id\": 1, \"types\": \"Aerial\", \"distance\": \"16\", \"embeddings\": "
            "\"%s\", \"split\": \"tra\"}\n",
            good);
    fprintf(f,
            "{\"gridimage_id\": 2, \"types\": \"Aerial\", \"distance\": \"16\", \"embeddings\": "
            "\"%s\"\n",
            good); /* line 2: JSON */
    fprintf(
        f,
        "{\"gridimage_id\": 3, \"types\": \"Aerial\", \"embeddings\": \"@@@@\"}\n"); /* 3: base64 */
    fprintf(f, "{\"gridimage_id\": 4, \"types\": \"Aerial\", \"embeddings\": \"%s\"}\n",
            three);                                                       /* 4: length */
    fprintf(f, "\n{\"gridimage_id\": 5, \"embeddings\": \"%s\"}\n", nan); /* 6: NaN */
    fprintf(f,
            "{\"gridimage_id\": 7, \"embeddings\": \"%s\", \"weight\": 0.5, \"distance\": 300}\n",
            good);
    fprintf(f, "{\"gridimage_id\": 8, \"embeddings\": \"%s\", \"types\": \"Inside,",
            good); /* 8: a 300 kB line */
    for (int i = 0; i < 30000; i++)
        fputs("Supplement", f);
    fprintf(f, "\"}\n");
    fclose(f);
    free(good), free(three), free(nan);
    gl_error err = {0};
    gl_log_level lv = gl_log_get_level();
    gl_log_set_level(GL_LOG_QUIET);
    for (int keep = 0; keep < 2; keep++) {
        gl_hreader *r = gl_hreader_open("bad.jsonl", 4, keep, &err);
        gl_hrow row;
        long lines[8];
        int n = 0, zeros = 0;
        while (n < 8 && gl_hreader_next(r, &row, &err) == 1) {
            lines[n++] = row.line;
            zeros += row.bad && row.embedding[0] == 0;
            if (row.line == 7)
                CHECK(row.weight == 0.5f && !strcmp(row.distance, "300"),
                      "weight, numeric distance");
        }
        CHECK(gl_hreader_bad_rows(r) == 4, "%ld bad rows", gl_hreader_bad_rows(r));
        CHECK(gl_hreader_first_bad(r) &&
                  strstr(gl_hreader_first_bad(r), "bad.jsonl:2: malformed JSON"),
              "%s", gl_hreader_first_bad(r));
        if (!keep)
            CHECK(n == 3 && lines[0] == 1 && lines[1] == 7 && lines[2] == 8 &&
                      strlen(row.types) == 300007,
                  "rows");
        else
            CHECK(n == 6 && zeros == 3, "kept %d rows, %d zeroed", n,
                  zeros); /* a JSON error cannot be kept */
        gl_hreader_free(r);
    }
    gl_log_set_level(lv);
}

static void test_empty_splits(void) {
    write_synthetic("nosplit.jsonl", 50, 4, 3);
    /* keep only 'tra' rows */
    FILE *in = fopen("nosplit.jsonl", "r"), *out = fopen("onlytra.jsonl", "w");
    char line[4096];
    while (fgets(line, sizeof line, in))
        if (strstr(line, "\"tra\"")) fputs(line, out);
    fclose(in);
    fclose(out);
    gl_train_params p = gl_train_default_params();
    p.clip_dim = 4;
    gl_error err = {0};
    CHECK(gl_head_train("onlytra.jsonl", "x.safetensors", &p, &err) == GL_ERR_FORMAT &&
              strstr(err.msg, "onlytra.jsonl: the 'val' split is empty"),
          "%s", err.msg);
    gl_head_arch a = {.clip_dim = 4, .dist_dim = 2, .hidden = 3, .n_classes = 7, .n_dist = 24};
    const char *keys[24];
    int vals[24], nk;
    heads_geograph_dist_map(keys, vals, &nk);
    gl_head *h = heads_new(&a, gl_geograph_classes, keys, vals, nk, &err);
    gl_head_eval e;
    CHECK(gl_head_eval_file(h, "onlytra.jsonl", 0, &e, &err) == GL_ERR_FORMAT &&
              strstr(err.msg, "'tes' split is empty"),
          "%s", err.msg);
    gl_head_free(h);
    CHECK(access("x.safetensors", F_OK) != 0, "output written on failure");
}

int main(void) {
    RUN(test_parity);
    RUN(test_targets);
    RUN(test_distance_rules);
    RUN(test_safetensors_roundtrip);
    RUN(test_metrics);
    RUN(test_gradient_check);
    RUN(test_bad_rows);
    RUN(test_empty_splits);
    RUN(test_resume_matches);
    RUN(test_train_recovers_teacher);
    T_SUMMARY();
}
