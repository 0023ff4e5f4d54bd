/* random_model.c: `model random`: a full-size Hub-layout CLIP folder (config.json, preprocessor
 * config, vocab, merges, model.safetensors) with random weights, for benchmarks on real shapes. */
#include "core/progress.h"
#include "geolabel.h"

#include "core/half.h"
#include "core/rng.h"
#include "io/json.h"
#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define VOCAB_SIZE 49408
#define TEXT_POSITIONS 77
#define MAX_TENSORS 1024    /* ViT-L/14 has 590 */
#define LOGIT_SCALE 2.6592f /* log(1/0.07), CLIP's initial value */
#define BPE_MAX_BYTES (64u << 20)

typedef struct {
    const char *name;
    int v_width, v_layers, v_heads, v_mlp, patch, image;
    int t_width, t_heads, t_layers, t_mlp;
    int projection;
} geometry;

/* The released OpenAI CLIP geometries (vit-l-14-336 is StreetCLIP's). */
static const geometry geometries[] = {
    {"vit-b-32", 768, 12, 12, 3072, 32, 224, 512, 8, 12, 2048, 512},
    {"vit-b-16", 768, 12, 12, 3072, 16, 224, 512, 8, 12, 2048, 512},
    {"vit-l-14", 1024, 24, 16, 4096, 14, 224, 768, 12, 12, 3072, 768},
    {"vit-l-14-336", 1024, 24, 16, 4096, 14, 336, 768, 12, 12, 3072, 768},
};

typedef enum { INIT_NORMAL, INIT_ONES, INIT_ZEROS, INIT_LOGIT } init_kind;

typedef struct {
    char name[96];
    int ndim;
    int64_t shape[4];
    init_kind init;
} tensor_spec;

typedef struct {
    tensor_spec t[MAX_TENSORS];
    int count, overflow;
} spec_list;

static void add(spec_list *l, init_kind init, int ndim, int64_t a, int64_t b, int64_t c, int64_t d,
                const char *fmt, ...) __attribute__((format(printf, 8, 9)));
static void add(spec_list *l, init_kind init, int ndim, int64_t a, int64_t b, int64_t c, int64_t d,
                const char *fmt, ...) {
    if (l->count == MAX_TENSORS) {
        l->overflow = 1;
        return;
    }
    tensor_spec *t = &l->t[l->count++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    t->ndim = ndim;
    int64_t dims[4] = {a, b, c, d};
    memcpy(t->shape, dims, sizeof dims);
    t->init = init;
}

/* A LayerNorm: weight 1, bias 0. */
static void add_norm(spec_list *l, const char *prefix, int width) {
    add(l, INIT_ONES, 1, width, 0, 0, 0, "%s.weight", prefix);
    add(l, INIT_ZEROS, 1, width, 0, 0, 0, "%s.bias", prefix);
}

static void add_linear(spec_list *l, const char *prefix, int out, int in) {
    add(l, INIT_NORMAL, 2, out, in, 0, 0, "%s.weight", prefix);
    add(l, INIT_ZEROS, 1, out, 0, 0, 0, "%s.bias", prefix);
}

/* CLIPEncoder layers under tower ("text_model" / "vision_model"). */
static void add_layers(spec_list *l, const char *tower, int layers, int width, int mlp) {
    static const char *const attn[] = {"q_proj", "k_proj", "v_proj", "out_proj"};
    char p[160];
    for (int i = 0; i < layers; i++) {
        for (int k = 0; k < 4; k++) {
            snprintf(p, sizeof p, "%s.encoder.layers.%d.self_attn.%s", tower, i, attn[k]);
            add_linear(l, p, width, width);
        }
        snprintf(p, sizeof p, "%s.encoder.layers.%d.layer_norm1", tower, i);
        add_norm(l, p, width);
        snprintf(p, sizeof p, "%s.encoder.layers.%d.layer_norm2", tower, i);
        add_norm(l, p, width);
        snprintf(p, sizeof p, "%s.encoder.layers.%d.mlp.fc1", tower, i);
        add_linear(l, p, mlp, width);
        snprintf(p, sizeof p, "%s.encoder.layers.%d.mlp.fc2", tower, i);
        add_linear(l, p, width, mlp);
    }
}

static int cmp_spec(const void *a, const void *b) {
    return strcmp(((const tensor_spec *)a)->name, ((const tensor_spec *)b)->name);
}

/* The keys and shapes of CLIPModel.state_dict() (position_ids buffers are not persistent). */
static void build_specs(const geometry *g, spec_list *l) {
    int grid = g->image / g->patch;
    l->count = l->overflow = 0;
    add(l, INIT_NORMAL, 2, VOCAB_SIZE, g->t_width, 0, 0,
        "text_model.embeddings.token_embedding.weight");
    add(l, INIT_NORMAL, 2, TEXT_POSITIONS, g->t_width, 0, 0,
        "text_model.embeddings.position_embedding.weight");
    add_layers(l, "text_model", g->t_layers, g->t_width, g->t_mlp);
    add_norm(l, "text_model.final_layer_norm", g->t_width);
    add(l, INIT_NORMAL, 1, g->v_width, 0, 0, 0, "vision_model.embeddings.class_embedding");
    add(l, INIT_NORMAL, 4, g->v_width, 3, g->patch, g->patch,
        "vision_model.embeddings.patch_embedding.weight");
    add(l, INIT_NORMAL, 2, grid * grid + 1, g->v_width, 0, 0,
        "vision_model.embeddings.position_embedding.weight");
    add_norm(l, "vision_model.pre_layrnorm", g->v_width);
    add_layers(l, "vision_model", g->v_layers, g->v_width, g->v_mlp);
    add_norm(l, "vision_model.post_layernorm", g->v_width);
    add(l, INIT_NORMAL, 2, g->projection, g->v_width, 0, 0, "visual_projection.weight");
    add(l, INIT_NORMAL, 2, g->projection, g->t_width, 0, 0, "text_projection.weight");
    add(l, INIT_LOGIT, 0, 0, 0, 0, 0, "logit_scale");
    qsort(l->t, (size_t)l->count, sizeof *l->t, cmp_spec); /* safetensors' own order */
}

static int64_t spec_count(const tensor_spec *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

/* ------------------------------------------------------------------ files */

static cJSON *tower_config(const geometry *g, int vision) {
    cJSON *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "attention_dropout", 0.0);
    cJSON_AddStringToObject(c, "hidden_act", "quick_gelu");
    cJSON_AddNumberToObject(c, "hidden_size", vision ? g->v_width : g->t_width);
    cJSON_AddNumberToObject(c, "initializer_factor", 1.0);
    cJSON_AddNumberToObject(c, "initializer_range", 0.02);
    cJSON_AddNumberToObject(c, "intermediate_size", vision ? g->v_mlp : g->t_mlp);
    cJSON_AddNumberToObject(c, "layer_norm_eps", 1e-05);
    cJSON_AddStringToObject(c, "model_type", vision ? "clip_vision_model" : "clip_text_model");
    cJSON_AddNumberToObject(c, "num_attention_heads", vision ? g->v_heads : g->t_heads);
    cJSON_AddNumberToObject(c, "num_hidden_layers", vision ? g->v_layers : g->t_layers);
    cJSON_AddNumberToObject(c, "projection_dim", g->projection);
    if (vision) {
        cJSON_AddNumberToObject(c, "image_size", g->image);
        cJSON_AddNumberToObject(c, "num_channels", 3);
        cJSON_AddNumberToObject(c, "patch_size", g->patch);
    } else {
        cJSON_AddNumberToObject(c, "bos_token_id", GL_CLIP_SOT);
        cJSON_AddNumberToObject(c, "eos_token_id", GL_CLIP_EOT);
        cJSON_AddNumberToObject(c, "max_position_embeddings", TEXT_POSITIONS);
        cJSON_AddNumberToObject(c, "pad_token_id", 1);
        cJSON_AddNumberToObject(c, "vocab_size", VOCAB_SIZE);
    }
    return c;
}

/* config.json: a CLIPConfig with every CLIP-specific key of both towers. */
static gl_status write_config(const char *dir, const geometry *g, int f16, gl_error *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    cJSON *c = cJSON_CreateObject();
    cJSON_AddItemToObject(c, "architectures",
                          cJSON_CreateStringArray((const char *[]){"CLIPModel"}, 1));
    cJSON_AddNumberToObject(c, "initializer_factor", 1.0);
    cJSON_AddNumberToObject(c, "logit_scale_init_value", (double)LOGIT_SCALE);
    cJSON_AddStringToObject(c, "model_type", "clip");
    cJSON_AddNumberToObject(c, "projection_dim", g->projection);
    cJSON_AddItemToObject(c, "text_config", tower_config(g, 0));
    cJSON_AddStringToObject(c, "torch_dtype", f16 ? "float16" : "float32");
    cJSON_AddStringToObject(c, "transformers_version", "4.45.0");
    cJSON_AddItemToObject(c, "vision_config", tower_config(g, 1));
    gl_status s = gl_json_write_file(path, c, err);
    cJSON_Delete(c);
    return s;
}

/* preprocessor_config.json: OpenAI CLIP's preprocessing at the model's input size. */
static gl_status write_preprocessor(const char *dir, const geometry *g, gl_error *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/preprocessor_config.json", dir);
    gl_preproc_config c = gl_preproc_default_config(g->image);
    return gl_preproc_config_write(&c, path, err);
}

static gl_status copy_file(const char *from, const char *to, gl_error *err) {
    char *text;
    size_t len;
    gl_status s = gl_read_file(from, BPE_MAX_BYTES, &text, &len, err);
    if (s) return s;
    gl_atomic_file f;
    s = gl_atomic_open(&f, to, err);
    if (!s) {
        fwrite(text, 1, len, f.fp);
        s = gl_atomic_commit(&f, err);
    }
    free(text);
    return s;
}

static gl_status copy_bpe(const char *dir, gl_error *err) {
    char src[4200], from[4300], to[4300];
    gl_status s = gl_data_path("clip-bpe", src, sizeof src, err);
    static const char *const names[] = {"vocab.json", "merges.txt"};
    for (int i = 0; i < 2 && !s; i++) {
        snprintf(from, sizeof from, "%s/%s", src, names[i]);
        snprintf(to, sizeof to, "%s/%s", dir, names[i]);
        s = copy_file(from, to, err);
    }
    return s;
}

/* ------------------------------------------------------------------ safetensors */

/* What gl_st_write asks for each tensor's bytes: values streamed in chunks, so memory stays small
 * for any model size. Weights are 0.02 * N(0,1), LayerNorm 1 and 0, biases 0. */
typedef struct {
    const spec_list *l;
    int f16;
    gl_rng rng;
    gl_progress progress;
} value_writer;

static int write_values(void *ctx, int i, FILE *fp) {
    value_writer *w = ctx;
    const tensor_spec *t = &w->l->t[i];
    enum { CHUNK = 16384 };
    float vals[CHUNK];
    uint16_t halves[CHUNK];
    int bad = 0;
    for (int64_t left = spec_count(t); left > 0 && !bad;) {
        int n = left < CHUNK ? (int)left : CHUNK;
        for (int k = 0; k < n; k++)
            vals[k] = t->init == INIT_NORMAL  ? (float)(0.02 * gl_rng_normal(&w->rng))
                      : t->init == INIT_ONES  ? 1.0f
                      : t->init == INIT_LOGIT ? LOGIT_SCALE
                                              : 0.0f;
        if (w->f16) {
            for (int k = 0; k < n; k++)
                halves[k] = gl_float_to_half(vals[k]);
            bad = fwrite(halves, 2, (size_t)n, fp) != (size_t)n;
        } else {
            bad = fwrite(vals, 4, (size_t)n, fp) != (size_t)n; /* little-endian, as the loader */
        }
        left -= n;
    }
    gl_progress_add(&w->progress, 1);
    return bad;
}

static gl_status write_weights(const char *dir, const spec_list *l, int f16, uint64_t seed,
                               gl_error *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    gl_st_out *out = calloc((size_t)l->count + 1, sizeof *out);
    cJSON *meta = cJSON_CreateObject();
    if (!out || !meta || !cJSON_AddStringToObject(meta, "format", "pt")) {
        free(out);
        cJSON_Delete(meta);
        return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
    }
    for (int i = 0; i < l->count; i++) {
        out[i] =
            (gl_st_out){.name = l->t[i].name, .dtype = f16 ? "F16" : "F32", .ndim = l->t[i].ndim};
        memcpy(out[i].shape, l->t[i].shape, sizeof l->t[i].shape);
    }
    value_writer w = {.l = l, .f16 = f16};
    gl_rng_seed(&w.rng, seed);
    gl_progress_begin(&w.progress, "tensors", l->count);
    gl_status s = gl_st_write(path, out, l->count, meta, write_values, &w, err);
    gl_progress_end(&w.progress);
    cJSON_Delete(meta);
    free(out);
    return s;
}

gl_status gl_clip_random_model(const char *like, const char *out_dir, uint64_t seed,
                               const char *dtype, gl_error *err) {
    const geometry *g = NULL;
    for (size_t i = 0; i < sizeof geometries / sizeof *geometries; i++)
        if (!strcmp(like, geometries[i].name)) g = &geometries[i];
    if (!g)
        return gl_fail(err, GL_ERR_ARG,
                       "%s: unknown geometry (vit-b-32, vit-b-16, vit-l-14, vit-l-14-336)", like);
    int f16 = dtype && !strcmp(dtype, "f16");
    if (dtype && !f16 && strcmp(dtype, "f32") != 0)
        return gl_fail(err, GL_ERR_ARG, "%s: unknown dtype (f32 or f16)", dtype);
    gl_status made = gl_make_dirs(out_dir, err);
    if (made) return made;
    spec_list *l = malloc(sizeof *l);
    if (!l) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", out_dir);
    build_specs(g, l);
    gl_status s = l->overflow
                      ? gl_fail(err, GL_ERR_INTERNAL, "%s: more than %d tensors", like, MAX_TENSORS)
                      : copy_bpe(out_dir, err);
    if (!s) s = write_config(out_dir, g, f16, err);
    if (!s) s = write_preprocessor(out_dir, g, err);
    if (!s) s = write_weights(out_dir, l, f16, seed, err);
    free(l);
    return s;
}
