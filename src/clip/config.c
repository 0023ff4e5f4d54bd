/* config.c: config.json (CLIPConfig) and open_clip architectures (model_cfg + preprocess_cfg) to
 * clip_config, with the defaults of transformers or open_clip for missing keys, range-checked. */
#include "clip/clip_internal.h"
#include "io/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_MAX_BYTES (4u << 20)

/* transformers' defaults (configuration_clip.py): the ViT-B/32 geometry. */
static clip_tower_config text_defaults(void) {
    return (clip_tower_config){.hidden = 512,
                               .heads = 8,
                               .layers = 12,
                               .intermediate = 2048,
                               .act = GL_ACT_QUICK_GELU,
                               .eps = 1e-5f,
                               .vocab_size = 49408,
                               .max_positions = 77,
                               .eos_token_id = 49407};
}

static clip_tower_config vision_defaults(void) {
    return (clip_tower_config){.hidden = 768,
                               .heads = 12,
                               .layers = 12,
                               .intermediate = 3072,
                               .act = GL_ACT_QUICK_GELU,
                               .eps = 1e-5f,
                               .image_size = 224,
                               .patch_size = 32,
                               .channels = 3};
}

typedef struct {
    const char *key;
    size_t offset;
    int min, max;
} int_field;

#define TF(field) offsetof(clip_tower_config, field)
static const int_field int_fields[] = {
    {"hidden_size", TF(hidden), 1, 16384},
    {"num_attention_heads", TF(heads), 1, 1024},
    {"num_hidden_layers", TF(layers), 1, 512},
    {"intermediate_size", TF(intermediate), 1, 131072},
    {"image_size", TF(image_size), 1, 4096},
    {"patch_size", TF(patch_size), 1, 1024},
    {"num_channels", TF(channels), 3, 3},
    {"vocab_size", TF(vocab_size), 1, 10000000},
    {"max_position_embeddings", TF(max_positions), 1, 4096},
};

static gl_status read_int(const cJSON *obj, const int_field *f, clip_tower_config *tc,
                          const char *path, const char *section, gl_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, f->key);
    if (!v || cJSON_IsNull(v)) return GL_OK;
    double d = cJSON_IsNumber(v) ? v->valuedouble : -1;
    /* the range first: converting an out-of-range double to an integer is undefined */
    if (!cJSON_IsNumber(v) || !(d >= f->min && d <= f->max) || d != floor(d))
        return gl_fail(err, GL_ERR_FORMAT, "%s: %s.%s must be a whole number from %d to %d", path,
                       section, f->key, f->min, f->max);
    *(int *)((char *)tc + f->offset) = (int)d;
    return GL_OK;
}

static gl_status read_act(const cJSON *obj, clip_tower_config *tc, const char *path,
                          const char *section, gl_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "hidden_act");
    if (!v) return GL_OK;
    const char *s = cJSON_IsString(v) ? v->valuestring : "";
    if (!strcmp(s, "quick_gelu"))
        tc->act = GL_ACT_QUICK_GELU;
    else if (!strcmp(s, "gelu"))
        tc->act = GL_ACT_GELU;
    else if (!strcmp(s, "gelu_new") || !strcmp(s, "gelu_pytorch_tanh"))
        tc->act = GL_ACT_GELU_TANH;
    else
        return gl_fail(err, GL_ERR_UNSUPPORTED, "%s: %s.hidden_act '%.32s' is not supported", path,
                       section, s);
    return GL_OK;
}

static gl_status read_tower(const cJSON *obj, clip_tower_config *tc, const char *path,
                            const char *section, gl_error *err) {
    if (!obj) return GL_OK;
    if (!cJSON_IsObject(obj))
        return gl_fail(err, GL_ERR_FORMAT, "%s: %s is not an object", path, section);
    for (size_t i = 0; i < sizeof int_fields / sizeof int_fields[0]; i++) {
        gl_status s = read_int(obj, &int_fields[i], tc, path, section, err);
        if (s) return s;
    }
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(obj, "layer_norm_eps");
    if (cJSON_IsNumber(eps)) {
        if (!(eps->valuedouble > 0 && eps->valuedouble < 1))
            return gl_fail(err, GL_ERR_FORMAT, "%s: %s.layer_norm_eps out of range", path, section);
        tc->eps = (float)eps->valuedouble;
    }
    const cJSON *eos = cJSON_GetObjectItemCaseSensitive(obj, "eos_token_id");
    if (cJSON_IsNumber(eos)) {
        if (!(eos->valuedouble >= -1 && eos->valuedouble <= 1e9))
            return gl_fail(err, GL_ERR_FORMAT, "%s: %s.eos_token_id out of range", path, section);
        tc->eos_token_id = (int)eos->valuedouble;
    }
    if (tc->hidden % tc->heads)
        return gl_fail(err, GL_ERR_FORMAT,
                       "%s: %s.hidden_size %d is not a multiple of num_attention_heads %d", path,
                       section, tc->hidden, tc->heads);
    return read_act(obj, tc, path, section, err);
}

/* transformers builds the tower config from *_config_dict when present, defaults filled in, and
 * lets it override *_config wholesale. */
static const cJSON *tower_source(const cJSON *root, const char *name) {
    char key[32];
    snprintf(key, sizeof key, "%s_dict", name);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, key);
    return cJSON_IsObject(d) ? d : cJSON_GetObjectItemCaseSensitive(root, name);
}

gl_status clip_config_load(const char *path, clip_config *cfg, gl_error *err) {
    cJSON *root;
    gl_status s = gl_json_load_object(path, CONFIG_MAX_BYTES, &root, err);
    if (s) return s;
    cfg->text = text_defaults();
    cfg->vision = vision_defaults();
    cfg->projection_dim = 512;
    const cJSON *pd = cJSON_GetObjectItemCaseSensitive(root, "projection_dim");
    if (pd && (!cJSON_IsNumber(pd) || pd->valuedouble < 1 || pd->valuedouble > 65536))
        s = gl_fail(err, GL_ERR_FORMAT, "%s: projection_dim out of range", path);
    else if (pd)
        cfg->projection_dim = (int)pd->valuedouble;
    if (!s) s = read_tower(tower_source(root, "text_config"), &cfg->text, path, "text_config", err);
    if (!s)
        s = read_tower(tower_source(root, "vision_config"), &cfg->vision, path, "vision_config",
                       err);
    if (!s && cfg->vision.patch_size > cfg->vision.image_size)
        s = gl_fail(err, GL_ERR_FORMAT, "%s: vision_config.patch_size exceeds image_size", path);
    cJSON_Delete(root);
    return s;
}

/* ------------------------------------------------------------------ open_clip architectures */

/* open_clip's CLIPVisionCfg / CLIPTextCfg fields, at open_clip's defaults when absent. */
static gl_status oc_int(const cJSON *obj, const char *key, int def, int min, int max, int *out,
                        const char *path, const char *section, gl_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = def;
    if (!v || cJSON_IsNull(v)) return GL_OK;
    double d = cJSON_IsNumber(v) ? v->valuedouble : -1;
    if (!cJSON_IsNumber(v) || !(d >= min && d <= max) || d != floor(d))
        return gl_fail(err, GL_ERR_FORMAT, "%s: %s.%s must be a whole number from %d to %d", path,
                       section, key, min, max);
    *out = (int)d;
    return GL_OK;
}

/* Options that change the network; any other value than open_clip's default would give wrong
 * numbers, so it is refused rather than ignored. */
static gl_status oc_refuse(const cJSON *obj, const char *path, const char *section, gl_error *err) {
    static const char *const truthy[] = {
        "input_patchnorm", "global_average_pool", "attentional_pool", "embed_cls",
        "no_ln_pre",       "final_ln_after_pool", "proj_bias",        "no_causal_mask"};
    static const char *const towers[] = {"timm_model_name", "hf_model_name"};
    for (size_t i = 0; i < sizeof towers / sizeof *towers; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, towers[i]);
        if (cJSON_IsString(v) && *v->valuestring)
            return gl_fail(err, GL_ERR_UNSUPPORTED,
                           "%s: %s.%s '%.60s': only open_clip's own ViT and text transformer are "
                           "supported yet",
                           path, section, towers[i], v->valuestring);
    }
    for (size_t i = 0; i < sizeof truthy / sizeof *truthy; i++)
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, truthy[i])))
            return gl_fail(err, GL_ERR_UNSUPPORTED, "%s: %s.%s is not supported yet", path, section,
                           truthy[i]);
    const cJSON *ls = cJSON_GetObjectItemCaseSensitive(obj, "ls_init_value");
    if (ls && !cJSON_IsNull(ls))
        return gl_fail(err, GL_ERR_UNSUPPORTED,
                       "%s: %s.ls_init_value (layer scale) is not supported yet", path, section);
    const cJSON *pool = cJSON_GetObjectItemCaseSensitive(obj, "pool_type");
    if (cJSON_IsString(pool) && strcmp(pool->valuestring, "tok") &&
        strcmp(pool->valuestring, "argmax"))
        return gl_fail(err, GL_ERR_UNSUPPORTED, "%s: %s.pool_type '%.20s' is not supported yet",
                       path, section, pool->valuestring);
    return GL_OK;
}

/* width * mlp_ratio, truncated as open_clip's int(d_model * mlp_ratio). */
static gl_status oc_mlp(const cJSON *obj, int width, int *out, const char *path,
                        const char *section, gl_error *err) {
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(obj, "mlp_ratio");
    double ratio = 4.0;
    if (r && !cJSON_IsNull(r)) {
        if (!cJSON_IsNumber(r) || !(r->valuedouble > 0 && r->valuedouble <= 64))
            return gl_fail(err, GL_ERR_FORMAT, "%s: %s.mlp_ratio must be a number in (0, 64]", path,
                           section);
        ratio = r->valuedouble;
    }
    *out = (int)(width * ratio);
    if (*out < 1) return gl_fail(err, GL_ERR_FORMAT, "%s: %s: MLP width below 1", path, section);
    return GL_OK;
}

/* image_size or preprocess size: a number or a square [h, w]. */
static gl_status oc_side(const cJSON *v, int *out, const char *path, const char *what,
                         gl_error *err) {
    if (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 2) {
        const cJSON *h = cJSON_GetArrayItem(v, 0), *w = cJSON_GetArrayItem(v, 1);
        if (!cJSON_IsNumber(h) || !cJSON_IsNumber(w) || h->valuedouble != w->valuedouble)
            return gl_fail(err, GL_ERR_UNSUPPORTED, "%s: %s: only square sizes are supported", path,
                           what);
        v = h;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 4096 ||
        v->valuedouble != (int)v->valuedouble)
        return gl_fail(err, GL_ERR_FORMAT, "%s: %s must be a whole number from 1 to 4096", path,
                       what);
    *out = (int)v->valuedouble;
    return GL_OK;
}

static gl_status oc_vision(const cJSON *vc, clip_tower_config *v, const char *path, gl_error *err) {
    const char *sec = "vision_cfg";
    if (!cJSON_IsObject(vc)) return gl_fail(err, GL_ERR_FORMAT, "%s: no vision_cfg object", path);
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(vc, "layers");
    if (cJSON_IsArray(layers))
        return gl_fail(err, GL_ERR_UNSUPPORTED,
                       "%s: vision_cfg.layers is a list: a ModifiedResNet (RN50-style) vision "
                       "tower, which is not supported yet (ViT only)",
                       path);
    gl_status s = oc_refuse(vc, path, sec, err);
    int head_width = 64;
    *v = (clip_tower_config){.act = GL_ACT_GELU, .eps = 1e-5f, .channels = 3};
    if (!s) s = oc_int(vc, "layers", 12, 1, 512, &v->layers, path, sec, err);
    if (!s) s = oc_int(vc, "width", 768, 1, 16384, &v->hidden, path, sec, err);
    if (!s) s = oc_int(vc, "head_width", 64, 1, 16384, &head_width, path, sec, err);
    if (!s) s = oc_int(vc, "patch_size", 16, 1, 1024, &v->patch_size, path, sec, err);
    v->image_size = 224;
    const cJSON *is = cJSON_GetObjectItemCaseSensitive(vc, "image_size");
    if (!s && is) s = oc_side(is, &v->image_size, path, "vision_cfg.image_size", err);
    if (!s) s = oc_mlp(vc, v->hidden, &v->intermediate, path, sec, err);
    if (s) return s;
    if (v->hidden % head_width)
        return gl_fail(err, GL_ERR_FORMAT,
                       "%s: vision_cfg.width %d is not a multiple of head_width %d", path,
                       v->hidden, head_width);
    v->heads = v->hidden / head_width;
    if (v->patch_size > v->image_size)
        return gl_fail(err, GL_ERR_FORMAT, "%s: vision_cfg.patch_size exceeds image_size", path);
    return GL_OK;
}

static gl_status oc_text(const cJSON *tc, clip_tower_config *t, const char *path, gl_error *err) {
    const char *sec = "text_cfg";
    if (!cJSON_IsObject(tc)) return gl_fail(err, GL_ERR_FORMAT, "%s: no text_cfg object", path);
    gl_status s = oc_refuse(tc, path, sec, err);
    /* eos_token_id 2 is transformers' marker for the argmax(input_ids) pooling open_clip uses */
    *t = (clip_tower_config){.act = GL_ACT_GELU, .eps = 1e-5f, .eos_token_id = 2};
    if (!s) s = oc_int(tc, "context_length", 77, 1, 4096, &t->max_positions, path, sec, err);
    if (!s) s = oc_int(tc, "vocab_size", 49408, 1, 10000000, &t->vocab_size, path, sec, err);
    if (!s) s = oc_int(tc, "width", 512, 1, 16384, &t->hidden, path, sec, err);
    if (!s) s = oc_int(tc, "heads", 8, 1, 1024, &t->heads, path, sec, err);
    if (!s) s = oc_int(tc, "layers", 12, 1, 512, &t->layers, path, sec, err);
    if (!s) s = oc_mlp(tc, t->hidden, &t->intermediate, path, sec, err);
    if (s) return s;
    /* our tokenizer writes the 77 ids of OpenAI's BPE, which is what these models read */
    if (t->max_positions != GL_CLIP_CONTEXT)
        return gl_fail(err, GL_ERR_UNSUPPORTED,
                       "%s: text_cfg.context_length %d is not supported yet (77 only)", path,
                       t->max_positions);
    if (t->hidden % t->heads)
        return gl_fail(err, GL_ERR_FORMAT, "%s: text_cfg.width %d is not a multiple of heads %d",
                       path, t->hidden, t->heads);
    return GL_OK;
}

static gl_status oc_preprocess(const cJSON *pc, int image_size, gl_preproc_config *pp,
                               const char *path, gl_error *err) {
    *pp = gl_preproc_default_config(image_size);
    pp->family = GL_PREPROC_OPEN_CLIP;
    if (!pc) return GL_OK;
    if (!cJSON_IsObject(pc))
        return gl_fail(err, GL_ERR_FORMAT, "%s: preprocess_cfg is not an object", path);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(pc, "size");
    int size = image_size;
    gl_status s = v ? oc_side(v, &size, path, "preprocess_cfg.size", err) : GL_OK;
    if (!s && size != image_size)
        s = gl_fail(err, GL_ERR_FORMAT,
                    "%s: preprocess_cfg.size %d disagrees with vision_cfg.image_size %d", path,
                    size, image_size);
    const char *keys[2] = {"mean", "std"};
    double norm[2][3];
    memcpy(norm[0], pp->mean_given, sizeof norm[0]);
    memcpy(norm[1], pp->std_given, sizeof norm[1]);
    double *dst[2] = {norm[0], norm[1]};
    for (int k = 0; k < 2 && !s; k++) {
        v = cJSON_GetObjectItemCaseSensitive(pc, keys[k]);
        if (!v) continue;
        if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 3)
            s = gl_fail(err, GL_ERR_FORMAT, "%s: preprocess_cfg.%s must hold 3 numbers", path,
                        keys[k]);
        for (int i = 0; i < 3 && !s; i++) {
            const cJSON *e = cJSON_GetArrayItem(v, i);
            if (!cJSON_IsNumber(e) || (k == 1 && !(e->valuedouble > 0)))
                s = gl_fail(err, GL_ERR_FORMAT, "%s: preprocess_cfg.%s must hold %s numbers", path,
                            keys[k], k ? "positive" : "");
            else
                dst[k][i] = e->valuedouble;
        }
    }
    if (!s) gl_preproc_set_norm(pp, norm[0], norm[1]);
    v = cJSON_GetObjectItemCaseSensitive(pc, "interpolation");
    if (!s && v && !(cJSON_IsString(v) && !strcmp(v->valuestring, "bicubic")))
        s = gl_fail(err, GL_ERR_UNSUPPORTED,
                    "%s: preprocess_cfg.interpolation: only 'bicubic' is supported", path);
    v = cJSON_GetObjectItemCaseSensitive(pc, "resize_mode");
    if (!s && v && !(cJSON_IsString(v) && !strcmp(v->valuestring, "shortest")))
        s = gl_fail(err, GL_ERR_UNSUPPORTED,
                    "%s: preprocess_cfg.resize_mode: only 'shortest' is supported", path);
    return s;
}

gl_status clip_openclip_config_load(const char *path, const char *name, clip_config *cfg,
                                    gl_preproc_config *pp, gl_error *err) {
    cJSON *root;
    gl_status s = gl_json_load_object(path, CONFIG_MAX_BYTES, &root, err);
    if (s) return s;
    const cJSON *mc = cJSON_GetObjectItemCaseSensitive(root, "model_cfg");
    if (!mc) mc = root; /* open_clip's model_configs files hold the bare model_cfg */
    const cJSON *pd = cJSON_GetObjectItemCaseSensitive(mc, "embed_dim");
    if (!cJSON_IsObject(mc))
        s = gl_fail(err, GL_ERR_FORMAT, "%s: model_cfg is not an object", path);
    else if (!cJSON_IsNumber(pd) || pd->valuedouble < 1 || pd->valuedouble > 65536 ||
             pd->valuedouble != (int)pd->valuedouble)
        s = gl_fail(err, GL_ERR_FORMAT, "%s: embed_dim must be a whole number from 1 to 65536",
                    path);
    else if (cJSON_GetObjectItemCaseSensitive(mc, "init_logit_bias"))
        s = gl_fail(err, GL_ERR_UNSUPPORTED,
                    "%s: a SigLIP model (init_logit_bias) is not supported yet", path);
    else
        cfg->projection_dim = (int)pd->valuedouble;
    if (!s)
        s = oc_vision(cJSON_GetObjectItemCaseSensitive(mc, "vision_cfg"), &cfg->vision, path, err);
    if (!s) s = oc_text(cJSON_GetObjectItemCaseSensitive(mc, "text_cfg"), &cfg->text, path, err);
    if (!s) {
        /* open_clip: QuickGELU when asked for, or by a "-quickgelu" name; nn.GELU (erf) else */
        int quick = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(mc, "quick_gelu")) ||
                    (name && gl_path_has_suffix(name, "-quickgelu"));
        cfg->vision.act = cfg->text.act = quick ? GL_ACT_QUICK_GELU : GL_ACT_GELU;
        s = oc_preprocess(cJSON_GetObjectItemCaseSensitive(root, "preprocess_cfg"),
                          cfg->vision.image_size, pp, path, err);
    }
    cJSON_Delete(root);
    return s;
}
