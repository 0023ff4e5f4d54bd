/* info.c: gl_model_info, what `geolabel model info` prints: where a model came from, its
 * architecture, parameter count, dtype, family, preprocessing and file sizes. */
#include "clip/sources.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *act_name(gl_act act) {
    return act == GL_ACT_QUICK_GELU ? "quick_gelu" : act == GL_ACT_GELU_TANH ? "gelu_tanh" : "gelu";
}

/* The fields both towers report (gl_model_info's vision and text are separate structs). */
static void tower_shape(const clip_tower_config *c, int *width, int *layers, int *heads, int *mlp,
                        const char **act) {
    *width = c->hidden;
    *layers = c->layers;
    *heads = c->heads;
    *mlp = c->intermediate;
    *act = act_name(c->act);
}

static const char *const source_names[] = {[CLIP_SRC_HF_SAFETENSORS] = "hf-safetensors",
                                           [CLIP_SRC_HF_BIN] = "hf-pytorch-bin",
                                           [CLIP_SRC_OPEN_CLIP] = "open_clip",
                                           [CLIP_SRC_CHECKPOINT] = "checkpoint"};

/* Keeps the first failure; later steps see it and do nothing. */
static char *dup_or_fail(const char *s, gl_status *st, gl_error *err) {
    if (*st || !s) return NULL;
    char *d = strdup(s);
    if (!d) *st = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", s);
    return d;
}

gl_model_info *gl_model_info_load(const char *model, const char *arch, gl_error *err) {
    clip_source src;
    if (clip_source_open(model, arch, 1, &src, err)) return NULL;
    gl_model_info *info = calloc(1, sizeof *info);
    gl_status s = info ? GL_OK : gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", model);
    if (!s) {
        info->source = source_names[src.kind];
        info->family = src.family;
        info->key_style = src.keys == CLIP_KEYS_OPEN_CLIP ? "open_clip" : "hf";
        info->path = dup_or_fail(src.kind == CLIP_SRC_CHECKPOINT ? src.weights : src.dir, &s, err);
        info->config = dup_or_fail(src.config, &s, err);
        info->arch = dup_or_fail(src.arch_name, &s, err);
        info->dtype = src.dtype ? src.dtype : "F32"; /* a static name (sources.h) */
        info->params = (long long)src.n_params;
    }
    if (!s) {
        const clip_tower_config *v = &src.cfg.vision, *t = &src.cfg.text;
        info->embed_dim = src.cfg.projection_dim;
        info->vision.image_size = v->image_size;
        info->vision.patch_size = v->patch_size;
        tower_shape(v, &info->vision.width, &info->vision.layers, &info->vision.heads,
                    &info->vision.mlp, &info->vision.act);
        info->text.context = t->max_positions;
        info->text.vocab = t->vocab_size;
        tower_shape(t, &info->text.width, &info->text.layers, &info->text.heads, &info->text.mlp,
                    &info->text.act);
        info->text.pool_argmax = t->eos_token_id == 2;
        info->text.eos_token_id = t->eos_token_id;
        info->preproc = src.preproc;
        const gl_st_tensor *ls = clip_source_find(&src, "logit_scale");
        float scale = 0;
        if (ls && ls->dtype == GL_ST_F32)
            memcpy(&scale, ls->data, 4);
        else if (ls && ls->dtype != GL_ST_OTHER)
            gl_st_widen(ls->dtype, ls->data, 1, &scale);
        info->logit_scale = expf(scale);
        info->n_files = src.n_files;
        info->files = calloc((size_t)(src.n_files ? src.n_files : 1), sizeof *info->files);
        info->file_bytes = calloc((size_t)(src.n_files ? src.n_files : 1), sizeof(long long));
        if (!info->files || !info->file_bytes)
            s = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", model);
        for (int i = 0; !s && i < src.n_files; i++) {
            struct stat sb;
            info->files[i] = dup_or_fail(src.files[i], &s, err);
            info->file_bytes[i] = stat(src.files[i], &sb) == 0 ? (long long)sb.st_size : 0;
            info->total_bytes += info->file_bytes[i];
        }
    }
    clip_source_close(&src);
    if (s) {
        gl_model_info_free(info);
        return NULL;
    }
    return info;
}

void gl_model_info_free(gl_model_info *info) {
    if (!info) return;
    for (int i = 0; info->files && i < info->n_files; i++)
        free(info->files[i]);
    free(info->files);
    free(info->file_bytes);
    free(info->path);
    free(info->config);
    free(info->arch);
    free(info);
}
