/* test_clip.c: the CLIP towers against transformers' outputs in ../shared/fixtures/expected for
 * both fixture models, at several batch sizes and thread counts; config parsing and defaults;
 * the text pooling rules; and model folders with corrupted weights or configs. */
#include "clip/clip_internal.h"
#include "harness.h"

#include <sys/stat.h>
#include <unistd.h>

static const char *models[] = {"clip-tiny-b32", "clip-tiny-l14-336"};

static gl_npy *load_npy(const char *path) {
    gl_error err = {0};
    gl_npy *a = gl_npy_load(path, &err);
    CHECK(a, "%s", err.msg);
    return a;
}

static gl_clip *load_model(const char *dir, int threads, int max_batch, gl_error *err) {
    gl_clip_params p = gl_clip_default_params();
    p.threads = threads;
    p.max_batch = max_batch;
    return gl_clip_load(dir, &p, err);
}

/* logits[i][j] = scale * cos(image i, text j), the reference's definition. */
static void logits_of(const float *img, int n, const float *txt, int m, int dim, float scale,
                      float *out) {
    float *a = malloc(sizeof(float) * (size_t)n * dim),
          *b = malloc(sizeof(float) * (size_t)m * dim);
    memcpy(a, img, sizeof(float) * (size_t)n * dim);
    memcpy(b, txt, sizeof(float) * (size_t)m * dim);
    gl_l2_normalize_rows(a, n, dim);
    gl_l2_normalize_rows(b, m, dim);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++) {
            double s = 0;
            for (int k = 0; k < dim; k++)
                s += (double)a[i * dim + k] * b[j * dim + k];
            out[i * m + j] = (float)(scale * s);
        }
    free(a);
    free(b);
}

static void check_model(const char *model, int threads, int max_batch) {
    char dir[1024], what[128];
    snprintf(dir, sizeof dir, "%s", t_path("fixtures/%s", model));
    gl_error err = {0};
    gl_clip *c = load_model(dir, threads, max_batch, &err);
    CHECK(c != NULL, "%s: %s", model, err.msg);
    if (!c) return;
    gl_npy *px = load_npy(t_path("fixtures/expected/%s/pixel_values.npy", model));
    gl_npy *ids = load_npy(t_path("fixtures/expected/input_ids.npy"));
    gl_npy *img_exp = load_npy(t_path("fixtures/expected/%s/image_embeds.npy", model));
    gl_npy *txt_exp = load_npy(t_path("fixtures/expected/%s/text_embeds.npy", model));
    gl_npy *img_n = load_npy(t_path("fixtures/expected/%s/image_embeds_normalized.npy", model));
    gl_npy *txt_n = load_npy(t_path("fixtures/expected/%s/text_embeds_normalized.npy", model));
    gl_npy *logits = load_npy(t_path("fixtures/expected/%s/logits_per_image.npy", model));
    gl_npy *all[] = {px, ids, img_exp, txt_exp, img_n, txt_n, logits};
    if (!px || !ids || !img_exp || !txt_exp || !img_n || !txt_n || !logits) goto done;
    int n = (int)px->shape[0], m = (int)ids->shape[0], P = gl_clip_projection_dim(c);
    CHECK(P == 32 && gl_clip_image_size(c) == (int)px->shape[2], "geometry");
    CHECK(fabsf(gl_clip_logit_scale(c) - expf(2.6592f)) < 2e-2f, "logit scale %g",
          gl_clip_logit_scale(c));
    float *img = calloc((size_t)n * P, sizeof(float)), *txt = calloc((size_t)m * P, sizeof(float));
    float *lg = calloc((size_t)n * m, sizeof(float));
    CHECK_OK(gl_clip_encode_images(c, px->data, n, img, &err), &err);
    CHECK_OK(gl_clip_encode_tokens(c, ids->data, m, txt, &err), &err);
    snprintf(what, sizeof what, "%s t%d b%d image_embeds", model, threads, max_batch);
    CHECK_CLOSE(what, img, img_exp->data, (size_t)n * P, 5e-5, 5e-5);
    snprintf(what, sizeof what, "%s t%d b%d text_embeds", model, threads, max_batch);
    CHECK_CLOSE(what, txt, txt_exp->data, (size_t)m * P, 5e-5, 5e-5);
    logits_of(img, n, txt, m, P, gl_clip_logit_scale(c), lg);
    snprintf(what, sizeof what, "%s t%d b%d logits_per_image", model, threads, max_batch);
    CHECK_CLOSE(what, lg, logits->data, (size_t)n * m, 2e-4, 0);
    gl_l2_normalize_rows(img, n, P);
    gl_l2_normalize_rows(txt, m, P);
    CHECK_CLOSE("image_embeds_normalized", img, img_n->data, (size_t)n * P, 5e-5, 5e-5);
    CHECK_CLOSE("text_embeds_normalized", txt, txt_n->data, (size_t)m * P, 5e-5, 5e-5);
    free(img);
    free(txt);
    free(lg);
done:
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        gl_npy_free(all[i]);
    gl_clip_free(c);
}

static void test_parity_batch1_thread1(void) {
    for (int i = 0; i < 2; i++)
        check_model(models[i], 1, 1);
}
static void test_parity_batch4_thread2(void) {
    for (int i = 0; i < 2; i++)
        check_model(models[i], 2, 4);
}
static void test_parity_batch8_thread1(void) {
    for (int i = 0; i < 2; i++)
        check_model(models[i], 1, 8);
}
static void test_parity_batch3_thread2(void) {
    for (int i = 0; i < 2; i++)
        check_model(models[i], 2, 3);
}

/* What the eval callback collects: each layer's residual stream for one tower, laid out
 * [layers+1][rows][d], and the packing of the last forward chunk. */
typedef struct {
    const char *tower;
    float *hidden;
    size_t cap; /* floats in hidden */
    int rows, n_seqs, offset[16], len[16];
    int calls, overflow;
} layer_log;

static void log_layer(void *ctx, const gl_clip_layer_state *st) {
    layer_log *lg = ctx;
    if (strcmp(st->tower, lg->tower)) return;
    size_t per = (size_t)st->rows * st->d, at = per * (size_t)st->layer;
    lg->calls++;
    if (at + per > lg->cap || st->n_seqs > 16) {
        lg->overflow = 1;
        return;
    }
    memcpy(lg->hidden + at, st->hidden, per * sizeof(float));
    lg->rows = st->rows;
    lg->n_seqs = st->n_seqs;
    for (int s = 0; s < st->n_seqs; s++)
        lg->offset[s] = st->offset[s], lg->len[s] = st->len[s];
}

/* Every layer's output against transformers' hidden_states, so a divergence names its layer; the
 * layers come through the eval callback in gl_clip_params. Text rows exist only up to each
 * text's EOT (the causal mask makes later rows irrelevant). */
static void check_hidden_states(const char *model) {
    gl_error err = {0};
    layer_log lg = {0};
    gl_clip_params p = gl_clip_default_params();
    p.threads = 2;
    p.max_batch = 8;
    p.on_layer = log_layer;
    p.ctx = &lg;
    gl_clip *c = gl_clip_load(t_path("fixtures/%s", model), &p, &err);
    CHECK(c != NULL, "%s", err.msg);
    if (!c) return;
    gl_npy *px = load_npy(t_path("fixtures/expected/%s/pixel_values.npy", model));
    gl_npy *ids = load_npy(t_path("fixtures/expected/input_ids.npy"));
    gl_npy *vh = load_npy(t_path("fixtures/expected/%s/vision_hidden_states.npy", model));
    gl_npy *th = load_npy(t_path("fixtures/expected/%s/text_hidden_states.npy", model));
    float out[12 * 32];
    if (px && ids && vh && th) {
        lg.tower = "vision";
        lg.cap = vh->count;
        lg.hidden = malloc(sizeof(float) * lg.cap);
        CHECK_OK(gl_clip_encode_images(c, px->data, 6, out, &err), &err);
        CHECK(lg.calls == (int)vh->shape[0] && !lg.overflow, "%d vision layer calls for %d states",
              lg.calls, (int)vh->shape[0]);
        for (int l = 0; l < (int)vh->shape[0]; l++) {
            char what[96];
            size_t per = vh->count / (size_t)vh->shape[0];
            snprintf(what, sizeof what, "%s vision hidden state %d", model, l);
            CHECK_CLOSE(what, lg.hidden + per * l, (const float *)vh->data + per * l, per, 1e-4,
                        1e-4);
        }
        free(lg.hidden);
        lg = (layer_log){.tower = "text", .cap = th->count};
        lg.hidden = malloc(sizeof(float) * lg.cap);
        CHECK_OK(gl_clip_encode_tokens(c, ids->data, 8, out, &err), &err);
        int L = (int)th->shape[0], d = (int)th->shape[3];
        CHECK(lg.calls == L && !lg.overflow && lg.n_seqs == 8, "%d text layer calls for %d states",
              lg.calls, L);
        for (int l = 0; l < L && lg.n_seqs == 8; l++)
            for (int t = 0; t < 8; t++) {
                char what[96];
                snprintf(what, sizeof what, "%s text %d hidden state %d", model, t, l);
                const float *got = lg.hidden + ((size_t)l * lg.rows + lg.offset[t]) * d;
                const float *exp =
                    (const float *)th->data + (((size_t)l * th->shape[1] + t) * 77) * d;
                CHECK_CLOSE(what, got, exp, (size_t)lg.len[t] * d, 1e-4, 1e-4);
            }
        free(lg.hidden);
    }
    gl_npy_free(px);
    gl_npy_free(ids);
    gl_npy_free(vh);
    gl_npy_free(th);
    gl_clip_free(c);
}

static void test_hidden_states(void) {
    for (int i = 0; i < 2; i++)
        check_hidden_states(models[i]);
}

/* ------------------------------------------------------------------ model folder copies */

static void copy_file(const char *from, const char *to) {
    char *buf = NULL;
    size_t n = 0;
    gl_error err = {0};
    CHECK_OK(gl_read_file(from, 1u << 30, &buf, &n, &err), &err);
    FILE *fp = fopen(to, "wb");
    if (fp && buf) fwrite(buf, 1, n, fp);
    if (fp) fclose(fp);
    free(buf);
}

/* Copies a fixture model folder into ./name (weights and config copied, so they can be patched). */
static void copy_model(const char *model, const char *name) {
    static const char *files[] = {"config.json", "model.safetensors", "vocab.json", "merges.txt",
                                  "preprocessor_config.json"};
    mkdir(name, 0755);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char to[512];
        snprintf(to, sizeof to, "%s/%s", name, files[i]);
        copy_file(t_path("fixtures/%s/%s", model, files[i]), to);
    }
}

/* Replaces the first occurrence of `from` by `to` (same length) in a file. */
static void patch_file(const char *path, const char *from, const char *to) {
    char *buf = NULL;
    size_t n = 0;
    gl_error err = {0};
    CHECK_OK(gl_read_file(path, 1u << 30, &buf, &n, &err), &err);
    char *at = buf ? memmem(buf, n, from, strlen(from)) : NULL;
    CHECK(at && strlen(from) == strlen(to), "patch '%s' in %s", from, path);
    if (at) {
        memcpy(at, to, strlen(to));
        FILE *fp = fopen(path, "wb");
        fwrite(buf, 1, n, fp);
        fclose(fp);
    }
    free(buf);
}

static void expect_load_error(const char *dir, gl_status code, const char *file,
                              const char *needle) {
    gl_error err = {0};
    gl_clip *c = load_model(dir, 1, 2, &err);
    CHECK(c == NULL, "%s should not load", dir);
    gl_clip_free(c);
    CHECK(err.code == code, "%s: code %s, expected %s (%s)", dir, gl_status_name(err.code),
          gl_status_name(code), err.msg);
    CHECK(strstr(err.msg, file) && strstr(err.msg, needle), "%s: message '%s' lacks '%s' / '%s'",
          dir, err.msg, file, needle);
    CHECK(!strchr(err.msg, '\n'), "one line");
}

static void test_bad_model_folders(void) {
    copy_model("clip-tiny-b32", "trunc");
    CHECK(truncate("trunc/model.safetensors", 7000000) == 0, "truncate");
    expect_load_error("trunc", GL_ERR_FORMAT, "trunc/model.safetensors", "exceed");

    copy_model("clip-tiny-b32", "tiny");
    CHECK(truncate("tiny/model.safetensors", 100) == 0, "truncate");
    expect_load_error("tiny", GL_ERR_FORMAT, "tiny/model.safetensors", "header length");

    /* same-length patches: {folder, file, from, to, code, needle} */
    static const struct {
        const char *dir, *file, *from, *to;
        gl_status code;
        const char *needle;
    } patches[] = {
        {"badjson", "model.safetensors", "{\"__metadata__\"", "[\"__metadata__\"", GL_ERR_FORMAT,
         "JSON"},
        /* position_embedding claims logit_scale's bytes */
        {"overlap", "model.safetensors", "[4,19716]", "[0,19712]", GL_ERR_FORMAT, "overlap"},
        {"lying", "model.safetensors", "[4,19716]", "[4,19720]", GL_ERR_FORMAT,
         "position_embedding"},
        {"missing", "model.safetensors", "\"visual_projection.weight\"",
         "\"visual_projectioX.weight\"", GL_ERR_FORMAT, "'visual_projection.weight' is missing"},
        {"shape", "config.json", "\"intermediate_size\": 256", "\"intermediate_size\": 128",
         GL_ERR_SHAPE, "fc1.weight"},
        {"badcfg", "config.json", "\"num_attention_heads\": 4", "\"num_attention_heads\": 3",
         GL_ERR_FORMAT, "num_attention_heads"},
    };
    for (size_t i = 0; i < sizeof patches / sizeof patches[0]; i++) {
        char path[256], weights[256];
        copy_model("clip-tiny-b32", patches[i].dir);
        snprintf(path, sizeof path, "%s/%s", patches[i].dir, patches[i].file);
        patch_file(path, patches[i].from, patches[i].to);
        /* a shape contradicting the config is reported against the weights */
        snprintf(weights, sizeof weights, "%s/model.safetensors", patches[i].dir);
        expect_load_error(patches[i].dir, patches[i].code,
                          patches[i].code == GL_ERR_SHAPE ? weights : path, patches[i].needle);
    }

    copy_model("clip-tiny-l14-336", "novocab");
    unlink("novocab/vocab.json");
    expect_load_error("novocab", GL_ERR_IO, "novocab/vocab.json", "");

    copy_model("clip-tiny-b32", "noweights");
    unlink("noweights/model.safetensors");
    expect_load_error("noweights", GL_ERR_IO, "noweights", "model.safetensors");

    expect_load_error("no-such-model-dir", GL_ERR_IO, "no-such-model-dir", "");
}

/* ------------------------------------------------------------------ config and pooling */

static void test_config_defaults(void) {
    clip_config cfg;
    gl_error err = {0};
    t_write_text("c.json", "{}");
    CHECK_OK(clip_config_load("c.json", &cfg, &err), &err);
    /* transformers' CLIPTextConfig / CLIPVisionConfig / CLIPConfig defaults */
    CHECK(cfg.text.hidden == 512 && cfg.text.heads == 8 && cfg.text.layers == 12 &&
              cfg.text.intermediate == 2048,
          "text defaults");
    CHECK(cfg.text.vocab_size == 49408 && cfg.text.max_positions == 77 &&
              cfg.text.eos_token_id == 49407,
          "text ids");
    CHECK(cfg.vision.hidden == 768 && cfg.vision.heads == 12 && cfg.vision.layers == 12 &&
              cfg.vision.intermediate == 3072 && cfg.vision.image_size == 224 &&
              cfg.vision.patch_size == 32,
          "vision defaults");
    CHECK(cfg.projection_dim == 512 && cfg.text.act == GL_ACT_QUICK_GELU && cfg.text.eps == 1e-5f,
          "shared defaults");

    /* the *_config_dict form overrides *_config, as transformers' CLIPConfig does */
    t_write_text(
        "c.json",
        "{\"projection_dim\":768,\"text_config\":{\"hidden_size\":256},"
        "\"text_config_dict\":{\"hidden_size\":768,\"num_attention_heads\":12,\"eos_token_id\":2},"
        "\"vision_config\":{\"hidden_size\":1024,\"num_hidden_layers\":24,\"num_attention_heads\":"
        "16,"
        "\"intermediate_size\":4096,\"patch_size\":14,\"image_size\":336,\"hidden_act\":\"gelu\","
        "\"layer_norm_eps\":1e-6}}");
    CHECK_OK(clip_config_load("c.json", &cfg, &err), &err);
    CHECK(cfg.text.hidden == 768 && cfg.text.heads == 12 && cfg.text.eos_token_id == 2,
          "text_config_dict wins");
    CHECK(cfg.vision.hidden == 1024 && cfg.vision.layers == 24 && cfg.vision.patch_size == 14 &&
              cfg.vision.image_size == 336 && cfg.vision.act == GL_ACT_GELU &&
              cfg.vision.eps == 1e-6f,
          "L/14-336 vision");
    CHECK(cfg.projection_dim == 768, "projection_dim");

    t_write_text("c.json", "{\"vision_config\":{\"hidden_act\":\"relu6\"}}");
    CHECK(clip_config_load("c.json", &cfg, &err) == GL_ERR_UNSUPPORTED, "unknown activation: %s",
          err.msg);
    t_write_text("c.json", "{\"vision_config\":{\"hidden_size\":-5}}");
    CHECK(clip_config_load("c.json", &cfg, &err) == GL_ERR_FORMAT, "negative size: %s", err.msg);
    CHECK(strstr(err.msg, "c.json") && strstr(err.msg, "hidden_size"), "%s", err.msg);
    t_write_text("c.json", "{\"vision_config\":");
    CHECK(clip_config_load("c.json", &cfg, &err) == GL_ERR_FORMAT, "truncated JSON: %s", err.msg);
    /* fuzz_config_json's finding: a number beyond long was converted before the range check
     * (undefined; the sanitizer build halts on it) */
    t_write_text("c.json", "{\"text_config_dict\":{\"hidden_size\":8.9e47}}");
    CHECK(clip_config_load("c.json", &cfg, &err) == GL_ERR_FORMAT && strstr(err.msg, "hidden_size"),
          "huge size: %s", err.msg);
    t_write_text("c.json", "{\"text_config\":{\"eos_token_id\":-1e300}}");
    CHECK(clip_config_load("c.json", &cfg, &err) == GL_ERR_FORMAT &&
              strstr(err.msg, "eos_token_id"),
          "huge eos: %s", err.msg);
    unlink("c.json");
}

/* Text pooling: config eos_token_id 320 ("a</w>") must pool at the first 320, here position 1 of
 * "a photo of a cat"; the reference row is final_layer_norm's output there, projected. eos 2 pools
 * at the largest id, which for tokenizer output is the EOT position, as the fixture's. */
static void test_text_pooling_rules(void) {
    gl_npy *ids = load_npy(t_path("fixtures/expected/input_ids.npy"));
    gl_npy *last = load_npy(t_path("fixtures/expected/clip-tiny-b32/text_last_hidden_state.npy"));
    gl_npy *txt_exp = load_npy(t_path("fixtures/expected/clip-tiny-b32/text_embeds.npy"));
    if (!ids || !last || !txt_exp) {
        gl_npy_free(ids), gl_npy_free(last), gl_npy_free(txt_exp);
        return;
    }
    const int32_t *row0 = ids->data;
    CHECK(row0[1] == 320 && row0[4] == 320, "fixture text 0 starts 'a photo of a'");
    copy_model("clip-tiny-b32", "eos320");
    patch_file("eos320/config.json", "\"eos_token_id\": 49407", "\"eos_token_id\": 320  ");
    gl_error err = {0};
    gl_clip *c = load_model("eos320", 2, 4, &err);
    CHECK(c != NULL, "%s", err.msg);
    if (c) {
        float got[32], exp[32];
        CHECK_OK(gl_clip_encode_tokens(c, row0, 1, got, &err), &err);
        const float *h = (const float *)last->data + 1 * 64; /* text 0, position 1 */
        for (int p = 0; p < 32; p++) {
            double s = 0;
            for (int k = 0; k < 64; k++)
                s += (double)c->txt.proj[p * 64 + k] * h[k];
            exp[p] = (float)s;
        }
        CHECK_CLOSE("pooled at the first eos_token_id", got, exp, 32, 5e-5, 5e-5);
    }
    gl_clip_free(c);
    copy_model("clip-tiny-b32", "eos2");
    patch_file("eos2/config.json", "\"eos_token_id\": 49407", "\"eos_token_id\": 2    ");
    c = load_model("eos2", 1, 8, &err);
    CHECK(c != NULL, "%s", err.msg);
    if (c) {
        float got[12 * 32];
        CHECK_OK(gl_clip_encode_tokens(c, ids->data, 12, got, &err), &err);
        CHECK_CLOSE("argmax pooling", got, txt_exp->data, 12 * 32, 5e-5, 5e-5);
        int32_t bad[77] = {49406, 49408};
        CHECK(gl_clip_encode_tokens(c, bad, 1, got, &err) == GL_ERR_ARG,
              "id beyond the vocabulary");
    }
    gl_clip_free(c);
    gl_npy_free(ids);
    gl_npy_free(last);
    gl_npy_free(txt_exp);
}

/* ------------------------------------------------------------------ other weight layouts */

/* Writes the fixture's tensors into two shards (text, rest) plus an index, via our reader; the
 * embeddings must still match the reference outputs. */
static void write_shard(const gl_safetensors *st, const char *path, int text_part) {
    char *hdr = malloc(1 << 20);
    size_t hl = 0, off = 0;
    hl += (size_t)sprintf(hdr + hl, "{");
    for (int i = 0; i < st->n_tensors; i++) {
        const gl_st_tensor *t = &st->tensors[i];
        if ((strncmp(t->name, "text_", 5) == 0) != text_part) continue;
        hl += (size_t)sprintf(hdr + hl, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", hl > 1 ? "," : "",
                              t->name, t->dtype_name);
        for (int d = 0; d < t->ndim; d++)
            hl += (size_t)sprintf(hdr + hl, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        hl += (size_t)sprintf(hdr + hl, "],\"data_offsets\":[%zu,%zu]}", off, off + t->nbytes);
        off += t->nbytes;
    }
    hl += (size_t)sprintf(hdr + hl, "}");
    while (hl % 8)
        hdr[hl++] = ' ';
    FILE *fp = fopen(path, "wb");
    for (int i = 0; i < 8; i++)
        fputc((int)((hl >> (8 * i)) & 0xff), fp);
    fwrite(hdr, 1, hl, fp);
    for (int i = 0; i < st->n_tensors; i++) {
        const gl_st_tensor *t = &st->tensors[i];
        if ((strncmp(t->name, "text_", 5) == 0) == text_part) fwrite(t->data, 1, t->nbytes, fp);
    }
    fclose(fp);
    free(hdr);
}

static void test_sharded_model(void) {
    for (int m = 0; m < 2; m++) {
        char dir[64];
        snprintf(dir, sizeof dir, "sharded%d", m);
        copy_model(models[m], dir);
        char path[256];
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        gl_safetensors st;
        gl_error err = {0};
        CHECK_OK(gl_st_open(path, &st, &err), &err);
        char s1[256], s2[256], idx[256];
        snprintf(s1, sizeof s1, "%s/model-00001-of-00002.safetensors", dir);
        snprintf(s2, sizeof s2, "%s/model-00002-of-00002.safetensors", dir);
        write_shard(&st, s1, 1);
        write_shard(&st, s2, 0);
        snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", dir);
        FILE *fp = fopen(idx, "w");
        fprintf(fp, "{\"metadata\":{},\"weight_map\":{");
        for (int i = 0; i < st.n_tensors; i++)
            fprintf(fp, "%s\"%s\":\"model-0000%d-of-00002.safetensors\"", i ? "," : "",
                    st.tensors[i].name, strncmp(st.tensors[i].name, "text_", 5) == 0 ? 1 : 2);
        fprintf(fp, "}}");
        fclose(fp);
        gl_st_close(&st);
        unlink(path);
        gl_clip *c = load_model(dir, 2, 8, &err);
        CHECK(c != NULL, "%s", err.msg);
        if (!c) continue;
        gl_npy *px = load_npy(t_path("fixtures/expected/%s/pixel_values.npy", models[m]));
        gl_npy *ids = load_npy(t_path("fixtures/expected/input_ids.npy"));
        gl_npy *img_exp = load_npy(t_path("fixtures/expected/%s/image_embeds.npy", models[m]));
        gl_npy *txt_exp = load_npy(t_path("fixtures/expected/%s/text_embeds.npy", models[m]));
        float img[6 * 32], txt[12 * 32];
        if (px && ids && img_exp && txt_exp) {
            CHECK_OK(gl_clip_encode_images(c, px->data, 6, img, &err), &err);
            CHECK_OK(gl_clip_encode_tokens(c, ids->data, 12, txt, &err), &err);
            CHECK_CLOSE("sharded image_embeds", img, img_exp->data, 6 * 32, 5e-5, 5e-5);
            CHECK_CLOSE("sharded text_embeds", txt, txt_exp->data, 12 * 32, 5e-5, 5e-5);
        }
        gl_npy_free(px);
        gl_npy_free(ids);
        gl_npy_free(img_exp);
        gl_npy_free(txt_exp);
        gl_clip_free(c);
    }
}

/* The hash keys embedding caches: stable across loads, different for different weights. */
static void test_model_hash(void) {
    gl_error err = {0};
    gl_clip *a = load_model(t_path("fixtures/clip-tiny-b32"), 1, 1, &err);
    gl_clip *b = load_model(t_path("fixtures/clip-tiny-b32"), 2, 4, &err);
    copy_model("clip-tiny-b32", "hashcopy");
    /* one float of the last tensor's bytes changed */
    FILE *fp = fopen("hashcopy/model.safetensors", "r+b");
    if (fp) {
        fseek(fp, -4, SEEK_END);
        fputc(0x42, fp);
        fclose(fp);
    }
    gl_clip *d = load_model("hashcopy", 1, 1, &err);
    CHECK(a && b && d, "%s", err.msg);
    if (a && b && d) {
        CHECK(strlen(gl_clip_model_hash(a)) == 32, "32 hex digits: %s", gl_clip_model_hash(a));
        CHECK(!strcmp(gl_clip_model_hash(a), gl_clip_model_hash(b)), "stable");
        CHECK(strcmp(gl_clip_model_hash(a), gl_clip_model_hash(d)) != 0, "changes with a weight");
    }
    gl_clip_free(a);
    gl_clip_free(b);
    gl_clip_free(d);
}

int main(void) {
    RUN(test_config_defaults);
    RUN(test_parity_batch1_thread1);
    RUN(test_parity_batch4_thread2);
    RUN(test_parity_batch8_thread1);
    RUN(test_parity_batch3_thread2);
    RUN(test_hidden_states);
    RUN(test_text_pooling_rules);
    RUN(test_sharded_model);
    RUN(test_bad_model_folders);
    RUN(test_model_hash);
    T_SUMMARY();
}
