/* config.c: config.json (CLIPConfig) to clip_config, with transformers' CLIPTextConfig and
 * CLIPVisionConfig defaults for missing keys, and range checks before any size is used. */
#include "clip/clip_internal.h"
#include "io/json.h"

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
    if (!cJSON_IsNumber(v) || d != (double)(long)d || d < f->min || d > f->max)
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
    if (cJSON_IsNumber(eos)) tc->eos_token_id = (int)eos->valuedouble;
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
