/* sources.h: every form a --model can take (HF folder with safetensors or pytorch_model.bin,
 * open_clip folder, single checkpoint + architecture, Hub id) opened as one set of tensors under
 * the Hugging Face CLIPModel names, with its config, preprocessing and tokenizer files.
 *
 * Ownership: clip_source_open fills a caller-owned clip_source; every pointer in it (tensor
 * names, tensor data, paths) stays valid until clip_source_close, which is safe on a zeroed or
 * failed source. Tensor data point into read-only mappings or into blocks the source owns. */
#ifndef GEOLABEL_CLIP_SOURCES_H
#define GEOLABEL_CLIP_SOURCES_H

#include "clip/clip_internal.h"
#include "io/safetensors.h"
#include "io/torchzip.h"

typedef enum {
    CLIP_SRC_HF_SAFETENSORS = 0, /* config.json + model.safetensors (or its sharded index) */
    CLIP_SRC_HF_BIN,             /* config.json + pytorch_model.bin (or its sharded index) */
    CLIP_SRC_OPEN_CLIP,          /* open_clip_config.json + open_clip weights */
    CLIP_SRC_CHECKPOINT          /* one .pt/.pth/.bin/.safetensors + --arch */
} clip_source_kind;

/* Names in the weights file: HF's CLIPModel, or OpenAI/open_clip's (visual.*, in_proj, ...). */
typedef enum { CLIP_KEYS_HF = 0, CLIP_KEYS_OPEN_CLIP } clip_key_style;

typedef struct clip_source {
    clip_source_kind kind;
    clip_key_style keys;
    char *dir;            /* the folder of the model (of the checkpoint for CHECKPOINT) */
    char *weights;        /* the weights file, or the shard index */
    char *config;         /* the file the architecture came from */
    char *arch_name;      /* open_clip architecture name when known ("ViT-B-32"), else NULL */
    char *vocab, *merges; /* tokenizer files (the model's own, or the shipped OpenAI BPE) */
    clip_config cfg;
    gl_preproc_config preproc;
    const char *family; /* "hf" or "open_clip": whose transform and conventions apply */

    int n_files; /* weight files (shards) */
    char **files;
    long long file_bytes; /* their total size */
    const char *dtype;    /* stored dtype: "F32", "F16", "BF16", "F64" or "mixed" (static) */

    gl_st_tensor *tensors; /* sorted by HF name; .file indexes files */
    int n_tensors;
    int64_t n_params; /* total elements of tensors */

    /* what the views point into */
    gl_safetensors st;
    gl_pth **pth;
    int n_pth;
    void **owned;
    int n_owned;
} clip_source;

/* Opens spec: a folder, a checkpoint file, ORG/NAME pulled into the cache, or ORG/NAME/FILE
 * pulled with --file. arch (NULL when not given) is an open_clip architecture name (a config
 * in data/open_clip/) or a JSON file in open_clip's or HF's config form; it is required for a
 * single checkpoint (unless one was pulled with it) and overrides a folder's own config.
 * with_weights 0 reads only the config, preprocessing and tokenizer paths. Every tensor the
 * architecture needs is checked to be present with its shape before this returns, and no
 * tensor may be left over: one-line errors name the file and the tensors. */
gl_status clip_source_open(const char *spec, const char *arch, int with_weights, clip_source *src,
                           gl_error *err);
void clip_source_close(clip_source *src);

/* NULL when absent. */
const gl_st_tensor *clip_source_find(const clip_source *src, const char *name);
const char *clip_source_tensor_file(const clip_source *src, const gl_st_tensor *t);
/* A 128-bit digest of every tensor's bytes (keys embedding caches and manifests); the pages of
 * the file mappings it reads are given back as it goes. */
void clip_source_digest(const clip_source *src, uint64_t out[2]);
/* Gives back the resident pages of [p, p+n) when it lies in one of the source's file mappings
 * (safetensors shards, .pth archives): the bytes stay valid, read back from the file when
 * touched. Blocks the source owns (copies, inflated storages) are left alone. */
void clip_source_release(const clip_source *src, const void *p, size_t n);

/* Reads an open_clip architecture ({"model_cfg", "preprocess_cfg"} or the bare model_cfg) into
 * cfg and the open_clip transform into pp. name (may be NULL) is the architecture name, whose
 * "-quickgelu" suffix selects QuickGELU as open_clip's factory does. */
gl_status clip_openclip_config_load(const char *path, const char *name, clip_config *cfg,
                                    gl_preproc_config *pp, gl_error *err);

#endif
