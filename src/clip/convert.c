/* convert.c: gl_model_convert, any loadable model written as a Hugging Face CLIP folder whose
 * weights later load by mmap without copies, and which transformers reads as the same model;
 * gl_model_quantize_int8, the image tower's int8 weights stored beside them. */
#include "clip/sources.h"
#include "io/json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *hf_act(gl_act act) {
    return act == GL_ACT_QUICK_GELU  ? "quick_gelu"
           : act == GL_ACT_GELU_TANH ? "gelu_pytorch_tanh"
                                     : "gelu"; /* transformers' "gelu" is the exact (erf) one */
}

static cJSON *tower(const clip_tower_config *t, int vision) {
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "model_type", vision ? "clip_vision_model" : "clip_text_model");
    cJSON_AddNumberToObject(c, "hidden_size", t->hidden);
    cJSON_AddNumberToObject(c, "intermediate_size", t->intermediate);
    cJSON_AddNumberToObject(c, "num_attention_heads", t->heads);
    cJSON_AddNumberToObject(c, "num_hidden_layers", t->layers);
    cJSON_AddStringToObject(c, "hidden_act", hf_act(t->act));
    cJSON_AddNumberToObject(c, "layer_norm_eps", (double)t->eps);
    if (vision) {
        cJSON_AddNumberToObject(c, "image_size", t->image_size);
        cJSON_AddNumberToObject(c, "patch_size", t->patch_size);
        cJSON_AddNumberToObject(c, "num_channels", t->channels);
    } else {
        cJSON_AddNumberToObject(c, "vocab_size", t->vocab_size);
        cJSON_AddNumberToObject(c, "max_position_embeddings", t->max_positions);
        /* 2 is transformers' marker for pooling at argmax(input_ids), open_clip's rule */
        cJSON_AddNumberToObject(c, "eos_token_id", t->eos_token_id);
        cJSON_AddNumberToObject(c, "bos_token_id", GL_CLIP_SOT);
        cJSON_AddNumberToObject(c, "pad_token_id", 1);
    }
    return c;
}

static gl_status write_config(const clip_source *src, const char *spec, const char *dir,
                              gl_error *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    cJSON *c = cJSON_CreateObject(), *from = cJSON_CreateObject();
    cJSON_AddItemToObject(c, "architectures",
                          cJSON_CreateStringArray((const char *[]){"CLIPModel"}, 1));
    cJSON_AddStringToObject(c, "model_type", "clip");
    cJSON_AddNumberToObject(c, "projection_dim", src->cfg.projection_dim);
    cJSON_AddNumberToObject(c, "logit_scale_init_value", 2.6592);
    cJSON_AddStringToObject(c, "torch_dtype", "float32");
    cJSON_AddItemToObject(c, "text_config", tower(&src->cfg.text, 0));
    cJSON_AddItemToObject(c, "vision_config", tower(&src->cfg.vision, 1));
    /* for people reading the folder; the loader takes nothing from here */
    cJSON_AddStringToObject(from, "converted_from", spec);
    cJSON_AddStringToObject(from, "family", src->family);
    cJSON_AddItemToObject(c, "geolabel", from);
    gl_status s = gl_json_write_file(path, c, err);
    cJSON_Delete(c);
    return s;
}

static gl_status write_preprocessor(const gl_preproc_config *p, const char *dir, gl_error *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/preprocessor_config.json", dir);
    return gl_preproc_config_write(p, path, err);
}

static gl_status copy_file(const char *from, const char *dir, const char *name, gl_error *err) {
    char to[4200];
    snprintf(to, sizeof to, "%s/%s", dir, name);
    FILE *in = fopen(from, "rb");
    if (!in) return gl_fail(err, GL_ERR_IO, "%s: cannot open: %s", from, strerror(errno));
    gl_atomic_file f;
    gl_status s = gl_atomic_open(&f, to, err);
    if (s) {
        fclose(in);
        return s;
    }
    char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, n, f.fp);
    int bad = ferror(in);
    fclose(in);
    if (bad) {
        gl_atomic_abort(&f);
        return gl_fail(err, GL_ERR_IO, "%s: read failed", from);
    }
    return gl_atomic_commit(&f, err);
}

/* An F16/BF16 tensor widened to F32 in chunks, so no copy of the model is held. */
static int write_widened(void *ctx, int i, FILE *fp) {
    const gl_st_tensor *t = &((const clip_source *)ctx)->tensors[i];
    enum { CHUNK = 16384 };
    float buf[CHUNK];
    for (size_t done = 0; done < t->count; done += CHUNK) {
        size_t n = t->count - done < CHUNK ? t->count - done : CHUNK;
        gl_st_widen(t->dtype, (const unsigned char *)t->data + done * 2, n, buf);
        if (fwrite(buf, 4, n, fp) != n) return -1; /* little-endian hosts only, as the reader */
    }
    return 0;
}

/* Every tensor as F32 in name order: F32 ones written as they lie, the others widened. */
static gl_status write_weights(const clip_source *src, const char *dir, gl_error *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    gl_st_out *out = calloc((size_t)(src->n_tensors ? src->n_tensors : 1), sizeof *out);
    if (!out) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; i < src->n_tensors; i++) {
        const gl_st_tensor *t = &src->tensors[i];
        out[i] = (gl_st_out){t->name, "F32", t->ndim, {0}, t->dtype == GL_ST_F32 ? t->data : NULL};
        memcpy(out[i].shape, t->shape, sizeof out[i].shape);
    }
    cJSON *meta = cJSON_CreateObject();
    cJSON_AddStringToObject(meta, "format", "pt");
    gl_status s = gl_st_write(path, out, src->n_tensors, meta, write_widened, (void *)src, err);
    cJSON_Delete(meta);
    free(out);
    return s;
}

gl_status gl_model_convert(const char *model, const char *arch, const char *out_dir,
                           gl_error *err) {
    clip_source src;
    gl_status s = clip_source_open(model, arch, 1, &src, err);
    if (s) return s;
    s = gl_make_dirs(out_dir, err);
    if (!s) s = write_weights(&src, out_dir, err);
    if (!s) { /* int8 weights of whatever was here before would no longer match */
        char stale[4200];
        snprintf(stale, sizeof stale, "%s/int8.safetensors", out_dir);
        if (remove(stale) && errno != ENOENT)
            s = gl_fail(err, GL_ERR_IO, "%s: cannot remove: %s", stale, strerror(errno));
    }
    if (!s) s = write_config(&src, model, out_dir, err);
    if (!s) s = write_preprocessor(&src.preproc, out_dir, err);
    if (!s) s = copy_file(src.vocab, out_dir, "vocab.json", err);
    if (!s) s = copy_file(src.merges, out_dir, "merges.txt", err);
    clip_source_close(&src);
    return s;
}

/* ------------------------------------------------------------------ int8 weights */

typedef struct {
    clip_source *src;
    int8_t *q; /* [N, K] of the tensor being written */
    float *w, *scale;
    size_t max_nk, max_n;
} int8_writer;

/* Tensor pairs in clip_int8_name's order: even i the I8 weight, odd i its F32 scales (made with
 * the weight, just before). */
static int write_int8(void *ctx, int i, FILE *fp) {
    int8_writer *wr = ctx;
    const clip_config *cfg = &wr->src->cfg;
    char name[128];
    clip_int8_name(cfg, i / 2, name, sizeof name);
    const gl_st_tensor *t = clip_source_find(wr->src, name);
    size_t N = (size_t)t->shape[0], K = t->count / N;
    if (i % 2) return fwrite(wr->scale, 4, N, fp) == N ? 0 : -1;
    if (t->dtype == GL_ST_F32)
        memcpy(wr->w, t->data, 4 * t->count); /* may be unaligned in the mapping */
    else
        gl_st_widen(t->dtype, t->data, t->count, wr->w);
    gl_quantize_int8(wr->w, (int)N, (int)K, wr->q, wr->scale);
    return fwrite(wr->q, 1, t->count, fp) == t->count ? 0 : -1;
}

gl_status gl_model_quantize_int8(const char *dir, gl_error *err) {
    clip_source src;
    gl_status s = clip_source_open(dir, NULL, 1, &src, err);
    if (s) return s;
    int n = clip_int8_count(&src.cfg);
    gl_st_out *out = calloc((size_t)n * 2, sizeof *out);
    char(*names)[140] = calloc((size_t)n * 2, sizeof *names);
    int8_writer wr = {&src, NULL, NULL, NULL, 0, 0};
    for (int i = 0; out && names && i < n && !s; i++) {
        char name[128];
        clip_int8_name(&src.cfg, i, name, sizeof name);
        snprintf(names[2 * i], sizeof names[0], "%s", name);
        snprintf(names[2 * i + 1], sizeof names[0], "%s.scale", name);
        const gl_st_tensor *t = clip_source_find(&src, names[2 * i]);
        if (!t || t->ndim < 2 || t->dtype == GL_ST_OTHER) {
            s = gl_fail(err, GL_ERR_FORMAT, "%s: no float weight '%s' to quantise", dir,
                        names[2 * i]);
            break;
        }
        int64_t N = t->shape[0], K = (int64_t)t->count / N;
        out[2 * i] = (gl_st_out){names[2 * i], "I8", 2, {N, K}, NULL};
        out[2 * i + 1] = (gl_st_out){names[2 * i + 1], "F32", 1, {N}, NULL};
        wr.max_nk = t->count > wr.max_nk ? t->count : wr.max_nk;
        wr.max_n = (size_t)N > wr.max_n ? (size_t)N : wr.max_n;
    }
    if (!s && (!out || !names)) s = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", dir);
    if (!s) {
        wr.q = malloc(wr.max_nk);
        wr.w = malloc(4 * wr.max_nk);
        wr.scale = malloc(4 * wr.max_n);
        if (!wr.q || !wr.w || !wr.scale) s = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", dir);
    }
    if (!s) {
        char path[4200];
        snprintf(path, sizeof path, "%s/int8.safetensors", dir);
        cJSON *meta = cJSON_CreateObject();
        cJSON_AddStringToObject(meta, "format", "geolabel-int8");
        cJSON_AddStringToObject(meta, "scheme",
                                "per output channel, symmetric: scale = max|w| / 127, "
                                "q = round(w / scale)");
        s = gl_st_write(path, out, 2 * n, meta, write_int8, &wr, err);
        cJSON_Delete(meta);
    }
    free(wr.q);
    free(wr.w);
    free(wr.scale);
    free(out);
    free(names);
    clip_source_close(&src);
    return s;
}
