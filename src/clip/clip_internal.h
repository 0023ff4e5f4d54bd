/* clip_internal.h: what the files of src/clip share: the parsed config, the weight views (shapes
 * in comments, all row-major float, bound by HF tensor names), the workspace and the context. */
#ifndef GEOLABEL_CLIP_INTERNAL_H
#define GEOLABEL_CLIP_INTERNAL_H

#include "core/kernels.h"
#include "core/pool.h"
#include "geolabel.h"
#include "io/safetensors.h"

/* One tower's CLIPTextConfig or CLIPVisionConfig, missing keys at transformers' defaults. */
typedef struct {
    int hidden, heads, layers, intermediate;
    gl_act act;
    float eps;
    int image_size, patch_size, channels; /* vision */
    int vocab_size, max_positions;        /* text */
    int eos_token_id;                     /* text: 2 selects the argmax-id pooling rule */
} clip_tower_config;

typedef struct {
    clip_tower_config text, vision;
    int projection_dim;
} clip_config;

/* Reads config.json (CLIPConfig, with text_config_dict/vision_config_dict overriding as
 * transformers does) and checks every size is sane. */
gl_status clip_config_load(const char *path, clip_config *cfg, gl_error *err);

typedef struct {
    const float *ln1_w, *ln1_b;         /* [d] */
    const float *q_w, *k_w, *v_w, *o_w; /* [d,d] (out,in) */
    const float *q_b, *k_b, *v_b, *o_b; /* [d] */
    const float *ln2_w, *ln2_b;         /* [d] */
    const float *fc1_w, *fc1_b;         /* [i,d], [i] */
    const float *fc2_w, *fc2_b;         /* [d,i], [d] */
} clip_layer;

typedef struct {
    const float *class_emb; /* [d] */
    const float *patch_w;   /* [d, c*p*p]: the conv kernel [d,c,p,p] flattened */
    const float *pos_emb;   /* [tokens, d] */
    const float *pre_ln_w, *pre_ln_b, *post_ln_w, *post_ln_b; /* [d] */
    const float *proj;                                        /* [projection_dim, d] */
    clip_layer *layers;                                       /* [layers], malloc'ed */
} clip_vision_weights;

typedef struct {
    const void *tok_emb; /* [vocab, d] in the file's tok_dtype: rows read by clip_token_row */
    gl_st_dtype tok_dtype;
    const float *pos_emb;                 /* [max_positions, d] */
    const float *final_ln_w, *final_ln_b; /* [d] */
    const float *proj;                    /* [projection_dim, d] */
    clip_layer *layers;
} clip_text_weights;

/* The row stride of a workspace matrix n floats wide: rows exactly 4 KB apart (n a multiple of
 * 1024: fc1's 3072 outputs, ViT-B/32's 3072-wide patches) fall into the same L1 sets while the
 * GEMM reads 12 of them at once, so they get 16 floats of padding here, written that way by the
 * step that fills them, instead of being copied to a padded buffer before every GEMM. */
static inline size_t clip_ld(size_t n) {
    return n % 1024 == 0 ? n + 16 : n;
}

/* Activations, sized at load for max_batch sequences of the longer tower; shared by both towers
 * (a context runs one forward at a time). */
typedef struct {
    size_t rows;                     /* max_batch * max tokens */
    float *x, *h, *q, *k, *v, *attn; /* [rows, max d] */
    float *mlp;                      /* [rows, clip_ld(max intermediate)] */
    float *patches;                  /* [max_batch * patches, clip_ld(c*p*p)] */
    float *scores;                   /* [threads, max tokens, max tokens] */
    float *pooled;                   /* [max_batch, max d] */
    int32_t *ids;                    /* [max_batch, 77] tokenizer output */
    int *offset, *len;               /* [max_batch] packed sequences */
    int *pooled_row;                 /* [max_batch] each sequence's pooled row, within it */
} clip_workspace;

/* A weight clip_pack packs (linear layers, patch embedding, projections). clip_bind hands out its
 * stored address as the view (for F16/BF16 a key only: the forward passes it and the kernels
 * find the packed copy by it; nothing reads it as floats) without checking or widening it: pack
 * reads each once (clip_weight_read), packs it and gives its mapped pages back, so neither a
 * widened copy nor the file's pages stay resident beside the packed weights. */
typedef struct {
    const float *key;
    const gl_st_tensor *t;
    int packed;
} clip_packed_src;

struct gl_clip {
    clip_config cfg;
    char *dir;
    struct clip_source *src; /* the weights under HF names (sources.h) */
    float *widened; /* F16/BF16 (and misaligned F32) weights not packed, as float, one block */
    clip_packed_src *packed_src; /* [n_packed_src]: the weights clip_pack must pack */
    int n_packed_src;
    clip_vision_weights vis;
    clip_text_weights txt;
    float logit_scale; /* exp(logit_scale) */
    int max_batch;
    gl_pool *pool;
    gl_kernels *kernels; /* weights packed at load, kernel scratch (clip/pack.c) */
    gl_dtype dtype;
    clip_workspace ws;
    gl_tokenizer *tok;
    gl_preproc_config preproc;
    char hash[33]; /* lazily filled; "" until asked */
    /* gl_clip_params' eval callback (may be NULL) and its data, called by forward.c. */
    void (*on_layer)(void *ctx, const gl_clip_layer_state *state);
    void *ctx;
};

/* Packs every linear layer's weights for the CPU's kernels in dtype (clip/pack.c); after the
 * workspace exists. */
gl_status clip_pack(gl_clip *c, gl_dtype dtype, gl_error *err);
/* gl_clip_encode_images whose numbers check names input k by names[k] (the image files). */
gl_status clip_encode_images_named(gl_clip *c, const float *pixels, int n, float *embeds,
                                   const char *const *names, gl_error *err);

/* The weights `model convert --dtype int8` stores quantised (the image tower's linear layers and
 * patch embedding), by HF name: clip_int8_count of them, name i in buf. */
int clip_int8_count(const clip_config *cfg);
void clip_int8_name(const clip_config *cfg, int i, char *buf, size_t n);
/* The dtype a tower's encoder layers run in for a context's dtype (int8 keeps text in f32). */
gl_dtype clip_tower_dtype(gl_dtype dtype, int image_tower);

/* Binds a weight to a tensor, checking its shape (dims terminated by -1). Fills *out with a
 * float view: the mapping itself for F32, else widened space taken from c->widened; checked
 * finite, and its mapped pages given back once read. A weight clip_pack packs gets its stored
 * address instead, unchecked (clip_packed_src). */
gl_status clip_bind(gl_clip *c, const char *name, float const **out, size_t *widened_used,
                    gl_error *err, ...);
/* Row id of the token embedding as floats (widened exactly from F16/BF16) into out [d]. */
void clip_token_row(const clip_text_weights *w, int id, int d, float *out);
/* The weight bound as key, or NULL. */
clip_packed_src *clip_packed_find(gl_clip *c, const float *key);
/* A packed weight's floats, read for packing: the mapping itself when stored as aligned F32,
 * else widened into scratch (room for its count); checked finite either way. */
gl_status clip_weight_read(gl_clip *c, const clip_packed_src *w, float *scratch, const float **data,
                           gl_error *err);

#endif
