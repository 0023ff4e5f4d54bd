/* sources.c: the one resolver behind --model: finds what a spec names, reads its architecture,
 * opens its weights, and presents them under HF CLIPModel names, checked against the architecture.
 *
 * Facts taken from open_clip v2.20.0 (factory.load_state_dict, model.py, transformer.py): a
 * training checkpoint keeps its weights under "state_dict" with "module." prefixes, stripped when
 * the first key has one; q, k and v are packed row-wise in attn.in_proj_weight [3d, d];
 * visual.proj and text_projection are [width, embed_dim], the transpose of HF's projections;
 * CustomTextCLIP nests the text tower under "text.". Nothing in a checkpoint is executed: .bin and
 * .pt files go through io/torchzip's restricted unpickler, and only the tensors the architecture
 * names are ever read, so a training checkpoint's optimizer moments stay untouched in the file. */
#include "clip/sources.h"
#include "io/json.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define INDEX_MAX_BYTES (16u << 20)
#define MAX_SHARDS 1024
#define NAMED_IN_ERRORS 3 /* how many missing or unknown tensors a message lists */

/* ------------------------------------------------------------------ small helpers */

static int is_file(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int is_dir(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static long long size_of(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? (long long)sb.st_size : 0;
}

/* *dst = malloc'ed "a" + "b" (b may be NULL). */
static gl_status join(char **dst, const char *a, const char *b, gl_error *err) {
    size_t n = strlen(a) + (b ? strlen(b) + 1 : 0) + 1;
    free(*dst);
    if (!(*dst = malloc(n))) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", a);
    snprintf(*dst, n, "%s%s%s", a, b ? "/" : "", b ? b : "");
    return GL_OK;
}

static void shape_text(const int64_t *shape, int ndim, char *out, size_t cap) {
    size_t n = (size_t)snprintf(out, cap, "[");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%lld", i ? "," : "", (long long)shape[i]);
    if (n < cap) snprintf(out + n, cap - n, "]");
}

/* ------------------------------------------------------------------ what the spec names */

/* Hub-cache forms: ORG/NAME (a pulled folder) and ORG/NAME/PATH (a file pulled with --file). */
static gl_status locate_cached(const char *spec, char **dir, char **file, gl_error *err) {
    const char *first = strchr(spec, '/');
    const char *second = first ? strchr(first + 1, '/') : NULL;
    char repo[512], cached[4096];
    if (!second) {
        gl_status s = gl_model_resolve(spec, cached, sizeof cached, err);
        return s ? s : join(dir, cached, NULL, err);
    }
    if ((size_t)(second - spec) >= sizeof repo || strstr(second, "/..") || strstr(second, "//"))
        return gl_fail(err, GL_ERR_IO, "%s: no such model folder or file", spec);
    snprintf(repo, sizeof repo, "%.*s", (int)(second - spec), spec);
    gl_error quiet = {0};
    if (gl_model_resolve(repo, cached, sizeof cached, &quiet))
        return gl_fail(err, GL_ERR_IO,
                       "%s: no such model folder or file (nor %s/FILE pulled into the model "
                       "cache with 'geolabel model pull %s --file FILE')",
                       spec, repo, repo);
    gl_status s = join(file, cached, second + 1, err);
    if (!s && !is_file(*file))
        s = gl_fail(err, GL_ERR_IO,
                    "%s: not in the model cache; run 'geolabel model pull %s --file %s'", spec,
                    repo, second + 1);
    return s;
}

static const char *const hf_weights[] = {"model.safetensors", "model.safetensors.index.json",
                                         "pytorch_model.bin", "pytorch_model.bin.index.json"};
static const char *const oc_weights[] = {"open_clip_model.safetensors",
                                         "open_clip_pytorch_model.bin"};

static gl_status classify_folder(clip_source *src, gl_error *err) {
    char path[4352];
    snprintf(path, sizeof path, "%s/config.json", src->dir);
    if (is_file(path)) {
        for (size_t i = 0; i < sizeof hf_weights / sizeof *hf_weights; i++) {
            snprintf(path, sizeof path, "%s/%s", src->dir, hf_weights[i]);
            if (!is_file(path)) continue;
            src->kind = i < 2 ? CLIP_SRC_HF_SAFETENSORS : CLIP_SRC_HF_BIN;
            gl_status s = join(&src->weights, path, NULL, err);
            return s ? s : join(&src->config, src->dir, "config.json", err);
        }
        return gl_fail(err, GL_ERR_IO,
                       "%s: no model.safetensors, pytorch_model.bin or a sharded index of either",
                       src->dir);
    }
    snprintf(path, sizeof path, "%s/open_clip_config.json", src->dir);
    if (is_file(path)) {
        src->kind = CLIP_SRC_OPEN_CLIP;
        gl_status s = join(&src->config, path, NULL, err);
        for (size_t i = 0; !s && i < sizeof oc_weights / sizeof *oc_weights; i++) {
            snprintf(path, sizeof path, "%s/%s", src->dir, oc_weights[i]);
            if (is_file(path)) return join(&src->weights, path, NULL, err);
        }
        return s ? s
                 : gl_fail(err, GL_ERR_IO,
                           "%s: open_clip_config.json but no open_clip_model.safetensors or "
                           "open_clip_pytorch_model.bin",
                           src->dir);
    }
    return gl_fail(err, GL_ERR_IO,
                   "%s: neither a Hugging Face CLIP folder (config.json) nor an open_clip one "
                   "(open_clip_config.json)",
                   src->dir);
}

/* --arch NAME (a shipped open_clip config) or FILE; else a config pulled beside the checkpoint. */
static gl_status resolve_arch(clip_source *src, const char *arch, const char *ckpt, gl_error *err) {
    if (arch && is_file(arch)) return join(&src->config, arch, NULL, err);
    if (arch) {
        int plain = *arch && strlen(arch) < 100;
        for (const char *p = arch; *p && plain; p++)
            plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.';
        char rel[160], path[4096];
        snprintf(rel, sizeof rel, "open_clip/%s.json", arch);
        gl_error quiet = {0};
        if (!plain || strstr(arch, "..") || gl_data_path(rel, path, sizeof path, &quiet))
            return gl_fail(err, GL_ERR_ARG,
                           "%s: neither a config file nor a shipped open_clip architecture "
                           "(data/open_clip/: ViT-B-32, ViT-B-32-quickgelu, ViT-B-16, ViT-L-14, "
                           "ViT-L-14-quickgelu, ViT-L-14-336, ViT-H-14)",
                           arch);
        gl_status s = join(&src->config, path, NULL, err);
        if (!s && !(src->arch_name = strdup(arch)))
            s = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", arch);
        return s;
    }
    /* a checkpoint pulled with --arch keeps that architecture beside it as FILE.arch.json */
    size_t n = strlen(ckpt) + sizeof ".arch.json";
    char *side = malloc(n);
    if (!side) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", ckpt);
    snprintf(side, n, "%s.arch.json", ckpt);
    if (is_file(side)) {
        src->config = side;
        return GL_OK;
    }
    free(side);
    return gl_fail(err, GL_ERR_ARG,
                   "%s: a single checkpoint needs --arch NAME|CONFIG.json (e.g. --arch ViT-B-32)",
                   ckpt);
}

static gl_status locate(const char *spec, const char *arch, clip_source *src, gl_error *err) {
    char *file = NULL;
    gl_status s = GL_OK;
    if (is_dir(spec))
        s = join(&src->dir, spec, NULL, err);
    else if (is_file(spec))
        s = join(&file, spec, NULL, err);
    else
        s = locate_cached(spec, &src->dir, &file, err);
    if (!s && file) {
        src->kind = CLIP_SRC_CHECKPOINT;
        src->weights = file;
        file = NULL;
        const char *slash = strrchr(src->weights, '/');
        if (slash) {
            src->dir = strndup(src->weights, (size_t)(slash - src->weights));
            if (!src->dir) s = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", spec);
        } else {
            s = join(&src->dir, ".", NULL, err);
        }
        if (!s) s = resolve_arch(src, arch, src->weights, err);
        return s;
    }
    free(file);
    if (!s) s = classify_folder(src, err);
    /* --arch with a folder replaces the folder's own config (e.g. one that lacks quick_gelu) */
    if (!s && arch) {
        free(src->config);
        src->config = NULL;
        s = resolve_arch(src, arch, NULL, err);
    }
    return s;
}

/* ------------------------------------------------------------------ architecture */

/* HF's CLIPConfig has text_config/vision_config; open_clip's has model_cfg or vision_cfg. */
static gl_status config_is_hf(const char *path, int *hf, gl_error *err) {
    cJSON *root;
    gl_status s = gl_json_load_object(path, 4u << 20, &root, err);
    if (s) return s;
    *hf = !cJSON_GetObjectItemCaseSensitive(root, "model_cfg") &&
          !cJSON_GetObjectItemCaseSensitive(root, "vision_cfg");
    cJSON_Delete(root);
    return GL_OK;
}

static gl_status shipped_bpe(clip_source *src, gl_error *err) {
    char path[4096];
    gl_status s = gl_data_path("clip-bpe/vocab.json", path, sizeof path, err);
    if (!s) s = join(&src->vocab, path, NULL, err);
    if (!s) s = gl_data_path("clip-bpe/merges.txt", path, sizeof path, err);
    if (!s) s = join(&src->merges, path, NULL, err);
    return s;
}

static gl_status load_architecture(clip_source *src, gl_error *err) {
    int hf = 0;
    gl_status s = config_is_hf(src->config, &hf, err);
    if (s) return s;
    if (!hf) {
        const char *name = src->arch_name;
        char stem[256];
        if (!name) { /* a config file's name says "-quickgelu" as open_clip's names do */
            snprintf(stem, sizeof stem, "%s", gl_path_base_name(src->config));
            if (gl_path_has_suffix(stem, ".json")) stem[strlen(stem) - 5] = 0;
            name = stem;
        }
        src->family = "open_clip";
        s = clip_openclip_config_load(src->config, name, &src->cfg, &src->preproc, err);
        return s ? s : shipped_bpe(src, err);
    }
    src->family = "hf";
    s = clip_config_load(src->config, &src->cfg, err);
    if (s) return s;
    /* the processor and tokenizer files sit beside the config */
    char *dir = strdup(src->config), *pp = NULL;
    if (!dir) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", src->config);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    else
        strcpy(dir, ".");
    src->preproc = gl_preproc_default_config(src->cfg.vision.image_size);
    s = join(&pp, dir, "preprocessor_config.json", err);
    if (!s && is_file(pp)) s = gl_preproc_config_read(pp, &src->preproc, err);
    if (!s && src->preproc.family == GL_PREPROC_OPEN_CLIP)
        src->family = "open_clip"; /* converted from open_clip: its transform came along */
    char *vocab = NULL;
    if (!s) s = join(&vocab, dir, "vocab.json", err);
    if (!s && src->kind == CLIP_SRC_CHECKPOINT && !is_file(vocab)) {
        s = shipped_bpe(src, err);
    } else if (!s) {
        src->vocab = vocab;
        vocab = NULL;
        s = join(&src->merges, dir, "merges.txt", err);
    }
    free(vocab);
    free(pp);
    free(dir);
    return s;
}

/* ------------------------------------------------------------------ raw tensors */

/* One tensor as stored, before renaming. data is its contiguous little-endian bytes when it
 * has them (every safetensors tensor, contiguous .pth views); else NULL and it is copied. */
typedef struct {
    const char *stored; /* the key in the file */
    const char *name;   /* the key with "module." (and for open_clip "text.") removed */
    int file;
    gl_st_dtype dtype;
    char dtype_name[8];
    int ndim;
    int64_t shape[GL_ST_MAX_DIMS];
    size_t count;
    const void *data;
    const gl_pth_tensor *pt;
    const gl_pth *pth;
    float *f32; /* a float32 copy, made on demand */
} raw_tensor;

typedef struct {
    raw_tensor *items;
    int n, cap;
} raw_list;

static raw_tensor *raw_add(raw_list *l, gl_error *err) {
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 256;
        raw_tensor *p = realloc(l->items, (size_t)cap * sizeof *p);
        if (!p) {
            gl_fail(err, GL_ERR_NOMEM, "out of memory for the tensor list");
            return NULL;
        }
        l->items = p;
        l->cap = cap;
    }
    raw_tensor *r = &l->items[l->n++];
    memset(r, 0, sizeof *r);
    return r;
}

static size_t st_elem_size(gl_st_dtype d) {
    return d == GL_ST_F32 ? 4 : d == GL_ST_F16 || d == GL_ST_BF16 ? 2 : 0;
}

static gl_status add_file(clip_source *src, const char *path, gl_error *err) {
    char **files = realloc(src->files, (size_t)(src->n_files + 1) * sizeof *files);
    if (!files) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
    src->files = files;
    if (!(files[src->n_files] = strdup(path)))
        return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
    src->n_files++;
    src->file_bytes += size_of(path);
    return GL_OK;
}

static gl_status collect_safetensors(clip_source *src, raw_list *raw, gl_error *err) {
    gl_status s = gl_st_open(src->weights, &src->st, err);
    for (int f = 0; !s && f < src->st.n_files; f++)
        s = add_file(src, src->st.paths[f], err);
    for (int i = 0; !s && i < src->st.n_tensors; i++) {
        const gl_st_tensor *t = &src->st.tensors[i];
        raw_tensor *r = raw_add(raw, err);
        if (!r) return GL_ERR_NOMEM;
        r->stored = r->name = t->name;
        r->file = t->file;
        r->dtype = t->dtype;
        memcpy(r->dtype_name, t->dtype_name, sizeof r->dtype_name);
        r->ndim = t->ndim;
        memcpy(r->shape, t->shape, sizeof r->shape);
        r->count = t->count;
        r->data = t->data;
    }
    return s;
}

static const char *const pth_dtype_names[] = {
    [GL_PTH_F32] = "F32", [GL_PTH_F64] = "F64",  [GL_PTH_F16] = "F16", [GL_PTH_BF16] = "BF16",
    [GL_PTH_I64] = "I64", [GL_PTH_I32] = "I32",  [GL_PTH_I16] = "I16", [GL_PTH_I8] = "I8",
    [GL_PTH_U8] = "U8",   [GL_PTH_BOOL] = "BOOL"};

/* A view torch laid out row-major with no gaps can be used where it lies. */
static int pth_contiguous(const gl_pth_tensor *t) {
    int64_t expect = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->stride[d] != expect) return 0;
        expect *= t->shape[d];
    }
    return 1;
}

static gl_status collect_pth_file(clip_source *src, const char *path, raw_list *raw,
                                  gl_error *err) {
    gl_pth **pth = realloc(src->pth, (size_t)(src->n_pth + 1) * sizeof *pth);
    if (!pth) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
    src->pth = pth;
    gl_pth *p = gl_pth_open(path, err);
    if (!p) return err && err->code ? err->code : GL_ERR_FORMAT;
    pth[src->n_pth++] = p;
    gl_status s = add_file(src, path, err);
    const gl_py *dict = s ? NULL : gl_pth_state_dict(p, err);
    if (!dict) return s ? s : (err && err->code ? err->code : GL_ERR_FORMAT);
    for (size_t k = 0; k < dict->len; k++) {
        const gl_py *key = dict->items[2 * k], *val = dict->items[2 * k + 1];
        if (key->kind != GL_PY_STR)
            return gl_fail(err, GL_ERR_FORMAT, "%s: the state dict has a %s key", path,
                           gl_py_kind_name(key->kind));
        if (val->kind != GL_PY_TENSOR) continue; /* e.g. OpenAI's input_resolution ints */
        const gl_pth_tensor *t = val->tensor;
        raw_tensor *r = raw_add(raw, err);
        if (!r) return GL_ERR_NOMEM;
        r->stored = r->name = key->s;
        r->file = src->n_files - 1;
        r->pt = t;
        r->pth = p;
        r->dtype = t->dtype == GL_PTH_F32    ? GL_ST_F32
                   : t->dtype == GL_PTH_F16  ? GL_ST_F16
                   : t->dtype == GL_PTH_BF16 ? GL_ST_BF16
                                             : GL_ST_OTHER;
        snprintf(r->dtype_name, sizeof r->dtype_name, "%s", pth_dtype_names[t->dtype]);
        r->ndim = t->ndim;
        for (int d = 0; d < t->ndim; d++)
            r->shape[d] = t->shape[d];
        r->count = (size_t)t->numel;
        if (r->dtype != GL_ST_OTHER && pth_contiguous(t))
            r->data = t->storage + (size_t)t->offset * st_elem_size(r->dtype);
    }
    return GL_OK;
}

/* pytorch_model.bin.index.json: {"weight_map": {tensor: shard file}}, shards beside it. */
static gl_status collect_pth_index(clip_source *src, raw_list *raw, gl_error *err) {
    cJSON *index;
    gl_status s = gl_json_load_object(src->weights, INDEX_MAX_BYTES, &index, err);
    if (s) return s;
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(index, "weight_map"), *e;
    if (!cJSON_IsObject(map))
        s = gl_fail(err, GL_ERR_FORMAT, "%s: no weight_map object", src->weights);
    const char *slash = strrchr(src->weights, '/');
    int dir_len = slash ? (int)(slash - src->weights) : 1;
    const char *dir = slash ? src->weights : ".";
    const char **seen = calloc(MAX_SHARDS, sizeof *seen);
    int n_seen = 0;
    if (!seen && !s) s = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", src->weights);
    cJSON_ArrayForEach(e, map) {
        if (s) break;
        const char *f = cJSON_IsString(e) ? e->valuestring : NULL;
        if (!f || !*f || strchr(f, '/') || !strcmp(f, "..")) {
            s = gl_fail(err, GL_ERR_FORMAT, "%s: weight_map values must be plain file names",
                        src->weights);
            break;
        }
        int known = 0;
        for (int i = 0; i < n_seen && !known; i++)
            known = !strcmp(seen[i], f);
        if (known) continue;
        if (n_seen == MAX_SHARDS) {
            s = gl_fail(err, GL_ERR_LIMIT, "%s: more than %d shards", src->weights, MAX_SHARDS);
            break;
        }
        seen[n_seen++] = f;
        char path[4352];
        snprintf(path, sizeof path, "%.*s/%s", dir_len, dir, f);
        s = collect_pth_file(src, path, raw, err);
    }
    free(seen);
    cJSON_Delete(index);
    return s;
}

static gl_status collect(clip_source *src, raw_list *raw, gl_error *err) {
    if (gl_path_has_suffix(src->weights, ".safetensors") ||
        gl_path_has_suffix(src->weights, ".safetensors.index.json"))
        return collect_safetensors(src, raw, err);
    if (gl_path_has_suffix(src->weights, ".bin.index.json"))
        return collect_pth_index(src, raw, err);
    return collect_pth_file(src, src->weights, raw, err);
}

/* ------------------------------------------------------------------ expected tensors */

typedef struct {
    char name[96]; /* HF name */
    int ndim;
    int64_t shape[4];
    int order; /* the binder's order: shape errors report the first tensor it would reach */
    int covered;
    int mapped; /* index+1 of the raw tensor that supplies it, 0 for none */
} expected;

typedef struct {
    expected *items;
    int n;
} expected_list;

static void expect(expected_list *l, const char *prefix, const char *suffix, int ndim, int64_t a,
                   int64_t b, int64_t c, int64_t d) {
    expected *e = &l->items[l->n++];
    snprintf(e->name, sizeof e->name, "%s%s", prefix, suffix);
    e->ndim = ndim;
    e->shape[0] = a, e->shape[1] = b, e->shape[2] = c, e->shape[3] = d;
    e->order = l->n - 1;
    e->covered = e->mapped = 0;
}

/* One encoder layer's tensors, in units of d (hidden) and i (MLP width). */
static const struct {
    const char *hf, *oc;
    int rows_i, cols_i, ndim; /* rows/cols: 0 = d, 1 = i */
} layer_names[] = {
    {"layer_norm1.weight", "ln_1.weight", 0, 0, 1},
    {"layer_norm1.bias", "ln_1.bias", 0, 0, 1},
    {"layer_norm2.weight", "ln_2.weight", 0, 0, 1},
    {"layer_norm2.bias", "ln_2.bias", 0, 0, 1},
    {"self_attn.q_proj.weight", "attn.in_proj_weight", 0, 0, 2},
    {"self_attn.q_proj.bias", "attn.in_proj_bias", 0, 0, 1},
    {"self_attn.k_proj.weight", "attn.in_proj_weight", 0, 0, 2},
    {"self_attn.k_proj.bias", "attn.in_proj_bias", 0, 0, 1},
    {"self_attn.v_proj.weight", "attn.in_proj_weight", 0, 0, 2},
    {"self_attn.v_proj.bias", "attn.in_proj_bias", 0, 0, 1},
    {"self_attn.out_proj.weight", "attn.out_proj.weight", 0, 0, 2},
    {"self_attn.out_proj.bias", "attn.out_proj.bias", 0, 0, 1},
    {"mlp.fc1.weight", "mlp.c_fc.weight", 1, 0, 2},
    {"mlp.fc1.bias", "mlp.c_fc.bias", 1, 0, 1},
    {"mlp.fc2.weight", "mlp.c_proj.weight", 0, 1, 2},
    {"mlp.fc2.bias", "mlp.c_proj.bias", 0, 0, 1},
};
#define N_LAYER_NAMES ((int)(sizeof layer_names / sizeof layer_names[0]))

static void expect_layers(expected_list *l, const char *tower, const clip_tower_config *tc) {
    for (int i = 0; i < tc->layers; i++) {
        char p[96];
        snprintf(p, sizeof p, "%s.encoder.layers.%d.", tower, i);
        for (int k = 0; k < N_LAYER_NAMES; k++) {
            int64_t r = layer_names[k].rows_i ? tc->intermediate : tc->hidden;
            int64_t c = layer_names[k].cols_i ? tc->intermediate : tc->hidden;
            expect(l, p, layer_names[k].hf, layer_names[k].ndim, r, c, 0, 0);
        }
    }
}

static int cmp_expected(const void *a, const void *b) {
    return strcmp(((const expected *)a)->name, ((const expected *)b)->name);
}

static gl_status expected_tensors(const clip_config *cfg, expected_list *l, gl_error *err) {
    const clip_tower_config *v = &cfg->vision, *t = &cfg->text;
    size_t n = 14 + (size_t)N_LAYER_NAMES * (size_t)(v->layers + t->layers);
    if (!(l->items = calloc(n, sizeof *l->items)))
        return gl_fail(err, GL_ERR_NOMEM, "out of memory for %zu tensor names", n);
    int64_t side = v->image_size / v->patch_size, P = cfg->projection_dim;
    const char *ve = "vision_model.embeddings.";
    expect(l, ve, "class_embedding", 1, v->hidden, 0, 0, 0);
    expect(l, ve, "patch_embedding.weight", 4, v->hidden, v->channels, v->patch_size,
           v->patch_size);
    expect(l, ve, "position_embedding.weight", 2, side * side + 1, v->hidden, 0, 0);
    expect(l, "vision_model.", "pre_layrnorm.weight", 1, v->hidden, 0, 0, 0);
    expect(l, "vision_model.", "pre_layrnorm.bias", 1, v->hidden, 0, 0, 0);
    expect(l, "vision_model.", "post_layernorm.weight", 1, v->hidden, 0, 0, 0);
    expect(l, "vision_model.", "post_layernorm.bias", 1, v->hidden, 0, 0, 0);
    expect(l, "", "visual_projection.weight", 2, P, v->hidden, 0, 0);
    expect_layers(l, "vision_model", v);
    const char *te = "text_model.embeddings.";
    expect(l, te, "token_embedding.weight", 2, t->vocab_size, t->hidden, 0, 0);
    expect(l, te, "position_embedding.weight", 2, t->max_positions, t->hidden, 0, 0);
    expect(l, "text_model.", "final_layer_norm.weight", 1, t->hidden, 0, 0, 0);
    expect(l, "text_model.", "final_layer_norm.bias", 1, t->hidden, 0, 0, 0);
    expect(l, "", "text_projection.weight", 2, P, t->hidden, 0, 0);
    expect_layers(l, "text_model", t);
    expect(l, "", "logit_scale", 0, 0, 0, 0, 0);
    qsort(l->items, (size_t)l->n, sizeof *l->items, cmp_expected);
    return GL_OK;
}

static expected *find_expected(expected_list *l, const char *name) {
    expected key;
    snprintf(key.name, sizeof key.name, "%s", name);
    return bsearch(&key, l->items, (size_t)l->n, sizeof *l->items, cmp_expected);
}

/* ------------------------------------------------------------------ open_clip names */

typedef enum { MAP_SAME = 0, MAP_TRANSPOSE, MAP_QKV } map_kind;

static const struct {
    const char *oc, *hf;
    map_kind kind;
} top_names[] = {
    {"visual.class_embedding", "vision_model.embeddings.class_embedding", MAP_SAME},
    {"visual.conv1.weight", "vision_model.embeddings.patch_embedding.weight", MAP_SAME},
    {"visual.positional_embedding", "vision_model.embeddings.position_embedding.weight", MAP_SAME},
    {"visual.ln_pre.weight", "vision_model.pre_layrnorm.weight", MAP_SAME},
    {"visual.ln_pre.bias", "vision_model.pre_layrnorm.bias", MAP_SAME},
    {"visual.ln_post.weight", "vision_model.post_layernorm.weight", MAP_SAME},
    {"visual.ln_post.bias", "vision_model.post_layernorm.bias", MAP_SAME},
    {"visual.proj", "visual_projection.weight", MAP_TRANSPOSE},
    {"token_embedding.weight", "text_model.embeddings.token_embedding.weight", MAP_SAME},
    {"positional_embedding", "text_model.embeddings.position_embedding.weight", MAP_SAME},
    {"ln_final.weight", "text_model.final_layer_norm.weight", MAP_SAME},
    {"ln_final.bias", "text_model.final_layer_norm.bias", MAP_SAME},
    {"text_projection", "text_projection.weight", MAP_TRANSPOSE},
    {"logit_scale", "logit_scale", MAP_SAME},
};

static const struct {
    const char *oc, *hf;
} tower_prefixes[] = {{"visual.transformer.resblocks.", "vision_model.encoder.layers."},
                      {"transformer.resblocks.", "text_model.encoder.layers."}};

/* "<prefix><N>.<rest>" -> N and rest; 0 when name does not have that form. */
static int layer_parts(const char *name, const char *prefix, int *layer, const char **rest) {
    size_t n = strlen(prefix);
    if (strncmp(name, prefix, n)) return 0;
    const char *p = name + n;
    long v = 0;
    if (*p < '0' || *p > '9') return 0;
    for (; *p >= '0' && *p <= '9' && v < 100000; p++)
        v = v * 10 + (*p - '0');
    if (*p != '.' || v >= 100000) return 0;
    *layer = (int)v;
    *rest = p + 1;
    return 1;
}

/* open_clip name -> HF name (the q one for MAP_QKV); 0 when it is not a CLIP ViT name. */
static int oc_to_hf(const char *oc, char *hf, size_t cap, map_kind *kind) {
    for (size_t i = 0; i < sizeof top_names / sizeof *top_names; i++)
        if (!strcmp(oc, top_names[i].oc)) {
            snprintf(hf, cap, "%s", top_names[i].hf);
            *kind = top_names[i].kind;
            return 1;
        }
    for (size_t t = 0; t < sizeof tower_prefixes / sizeof *tower_prefixes; t++) {
        int layer;
        const char *rest;
        if (!layer_parts(oc, tower_prefixes[t].oc, &layer, &rest)) continue;
        for (int k = 0; k < N_LAYER_NAMES; k++)
            if (!strcmp(rest, layer_names[k].oc)) { /* the first match is q_proj for in_proj */
                snprintf(hf, cap, "%s%d.%s", tower_prefixes[t].hf, layer, layer_names[k].hf);
                *kind = strstr(rest, "in_proj") ? MAP_QKV : MAP_SAME;
                return 1;
            }
    }
    return 0;
}

/* HF name -> the open_clip name holding it, for messages about missing tensors. */
static void hf_to_oc(const char *hf, char *oc, size_t cap) {
    for (size_t i = 0; i < sizeof top_names / sizeof *top_names; i++)
        if (!strcmp(hf, top_names[i].hf)) {
            snprintf(oc, cap, "%s", top_names[i].oc);
            return;
        }
    for (size_t t = 0; t < sizeof tower_prefixes / sizeof *tower_prefixes; t++) {
        int layer;
        const char *rest;
        if (!layer_parts(hf, tower_prefixes[t].hf, &layer, &rest)) continue;
        for (int k = 0; k < N_LAYER_NAMES; k++)
            if (!strcmp(rest, layer_names[k].hf)) {
                snprintf(oc, cap, "%s%d.%s", tower_prefixes[t].oc, layer, layer_names[k].oc);
                return;
            }
    }
    snprintf(oc, cap, "%s", hf);
}

/* ------------------------------------------------------------------ naming and checking */

/* Buffers the model rebuilds itself, which checkpoints may carry: never weights. */
static int ignorable(const char *name) {
    return gl_path_has_suffix(name, "position_ids") || !strcmp(name, "attn_mask") ||
           !strcmp(name, "input_resolution") || !strcmp(name, "context_length") ||
           !strcmp(name, "vocab_size");
}

/* open_clip strips "module." from every key when the first key has it (DistributedDataParallel);
 * the key style follows from the names. */
static void normalise_names(clip_source *src, raw_list *raw) {
    int strip = raw->n > 0 && !strncmp(raw->items[0].stored, "module.", 7);
    int oc = 0;
    for (int i = 0; i < raw->n; i++) {
        raw_tensor *r = &raw->items[i];
        if (strip && !strncmp(r->name, "module.", 7)) r->name += 7;
        if (!strncmp(r->name, "visual.", 7) || !strcmp(r->name, "token_embedding.weight") ||
            !strcmp(r->name, "text.token_embedding.weight"))
            oc = 1;
    }
    src->keys = oc ? CLIP_KEYS_OPEN_CLIP : CLIP_KEYS_HF;
    for (int i = 0; oc && i < raw->n; i++)
        if (!strncmp(raw->items[i].name, "text.", 5)) raw->items[i].name += 5;
}

static int same_shape(const int64_t *a, int an, const int64_t *b, int bn) {
    if (an != bn) return 0;
    for (int i = 0; i < an; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

/* Messages list up to NAMED_IN_ERRORS names: "'a', 'b', 'c' and 4 more". */
typedef struct {
    char text[640];
    int n;
} name_list;

static void name_list_add(name_list *l, const char *name) {
    size_t len = strlen(l->text);
    if (l->n < NAMED_IN_ERRORS)
        snprintf(l->text + len, sizeof l->text - len, "%s'%.150s'", l->n ? ", " : "", name);
    l->n++;
}

static void name_list_end(name_list *l) {
    size_t len = strlen(l->text);
    if (l->n > NAMED_IN_ERRORS)
        snprintf(l->text + len, sizeof l->text - len, " and %d more", l->n - NAMED_IN_ERRORS);
}

static const char *config_name(const clip_source *src) {
    return gl_path_base_name(src->config);
}

/* The weights file named in messages: the tensor's own shard. */
static const char *raw_file(const clip_source *src, const raw_tensor *r) {
    return src->n_files ? src->files[r->file] : src->weights;
}

typedef struct {
    raw_tensor *raw;
    map_kind kind;
    expected *e; /* the (first) HF tensor it supplies */
} mapping;

static gl_status check_mapping(clip_source *src, raw_list *raw, expected_list *ex, mapping *map,
                               gl_error *err) {
    name_list unknown = {{0}, 0}, missing = {{0}, 0};
    int oc = src->keys == CLIP_KEYS_OPEN_CLIP;
    for (int i = 0; i < raw->n; i++) {
        raw_tensor *r = &raw->items[i];
        map[i] = (mapping){r, MAP_SAME, NULL};
        if (ignorable(r->name)) continue;
        if (oc && !strncmp(r->name, "visual.layer1.", 14))
            return gl_fail(err, GL_ERR_UNSUPPORTED,
                           "%s: the vision tower is a ModifiedResNet (RN50-style), which is not "
                           "supported yet (ViT only)",
                           raw_file(src, r));
        if (oc && !strncmp(r->name, "visual.trunk.", 13))
            return gl_fail(err, GL_ERR_UNSUPPORTED,
                           "%s: the vision tower is a timm model, which is not supported yet "
                           "(open_clip's own ViT only)",
                           raw_file(src, r));
        char hf[160];
        expected *e = NULL;
        if (!oc)
            e = find_expected(ex, r->name);
        else if (oc_to_hf(r->name, hf, sizeof hf, &map[i].kind))
            e = find_expected(ex, hf);
        if (!e) {
            name_list_add(&unknown, r->stored);
            continue;
        }
        /* a repeated key: the later one wins, as in the Python dict it came from */
        if (e->mapped) map[e->mapped - 1].e = NULL;
        map[i].e = e;
        e->mapped = i + 1;
    }
    int *by_order = malloc((size_t)(ex->n ? ex->n : 1) * sizeof *by_order);
    if (!by_order) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", src->weights);
    for (int k = 0; k < ex->n; k++)
        by_order[ex->items[k].order] = k;
    for (int k = 0; k < ex->n; k++) {
        expected *e = &ex->items[by_order[k]];
        if (!e->mapped) continue;
        const mapping *m = &map[e->mapped - 1];
        const raw_tensor *r = m->raw;
        int64_t want[4];
        int nd = e->ndim;
        memcpy(want, e->shape, sizeof want);
        if (m->kind == MAP_QKV) want[0] *= 3;
        if (m->kind == MAP_TRANSPOSE) want[0] = e->shape[1], want[1] = e->shape[0];
        int ok = same_shape(r->shape, r->ndim, want, nd);
        if (nd == 0) ok = r->count == 1 && r->ndim <= 1; /* logit_scale: [] or [1] */
        gl_status s = GL_OK;
        if (!ok) {
            char got[96], exp[96];
            shape_text(r->shape, r->ndim, got, sizeof got);
            shape_text(want, nd, exp, sizeof exp);
            s = gl_fail(err, GL_ERR_SHAPE, "%s: tensor '%s' has shape %s, %s implies %s",
                        raw_file(src, r), r->stored, got, config_name(src), exp);
        } else if (r->dtype == GL_ST_OTHER && !(r->pt && r->pt->dtype == GL_PTH_F64)) {
            s = gl_fail(err, GL_ERR_UNSUPPORTED,
                        "%s: tensor '%s' has dtype %s; F32, F16 or BF16 expected", raw_file(src, r),
                        r->stored, r->dtype_name);
        }
        if (s) {
            free(by_order);
            return s;
        }
    }
    for (int i = 0; i < raw->n; i++) {
        if (!map[i].e) continue;
        if (map[i].kind != MAP_QKV) {
            map[i].e->covered = 1;
            continue;
        }
        /* in_proj supplies q, k and v: mark all three */
        char name[96];
        for (int j = 0; j < 3; j++) {
            snprintf(name, sizeof name, "%s", map[i].e->name);
            char *at = strstr(name, "q_proj");
            if (at) *at = "qkv"[j];
            expected *e = find_expected(ex, name);
            if (e) e->covered = 1;
        }
    }
    for (int k = 0; k < ex->n; k++) { /* named in the binder's order, not alphabetically */
        int i = by_order[k];
        if (ex->items[i].covered) continue;
        const char *hf = ex->items[i].name;
        char name[160];
        /* q, k and v come from one in_proj: name it once */
        if (oc && (strstr(hf, ".k_proj.") || strstr(hf, ".v_proj."))) continue;
        if (oc)
            hf_to_oc(hf, name, sizeof name);
        else
            snprintf(name, sizeof name, "%s", hf);
        name_list_add(&missing, name);
    }
    free(by_order);
    name_list_end(&missing);
    name_list_end(&unknown);
    const char *also = unknown.n ? "; unknown: " : "";
    if (missing.n == 1)
        return gl_fail(err, GL_ERR_FORMAT, "%s: required tensor %s is missing%s%s", src->weights,
                       missing.text, also, unknown.text);
    if (missing.n)
        return gl_fail(err, GL_ERR_FORMAT,
                       "%s: %d required tensors are missing: %s%s%s (does %s match the weights?)",
                       src->weights, missing.n, missing.text, also, unknown.text, config_name(src));
    if (unknown.n)
        return gl_fail(err, GL_ERR_FORMAT,
                       "%s: %d unknown tensor%s: %s (not part of the CLIP ViT that %s describes)",
                       src->weights, unknown.n, unknown.n == 1 ? "" : "s", unknown.text,
                       config_name(src));
    return GL_OK;
}

/* ------------------------------------------------------------------ building the views */

static gl_status own(clip_source *src, void *p, gl_error *err) {
    void **o = realloc(src->owned, (size_t)(src->n_owned + 1) * sizeof *o);
    if (!o) {
        free(p);
        return gl_fail(err, GL_ERR_NOMEM, "out of memory");
    }
    src->owned = o;
    o[src->n_owned++] = p;
    return GL_OK;
}

/* The raw tensor as float32 row-major, copied once (strided, F64, or to transpose). */
static gl_status raw_f32(clip_source *src, raw_tensor *r, gl_error *err) {
    if (r->f32) return GL_OK;
    float *f = malloc((r->count ? r->count : 1) * sizeof(float));
    if (!f)
        return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory for '%s'", raw_file(src, r),
                       r->stored);
    gl_status s = own(src, f, err);
    if (s) return s;
    r->f32 = f;
    if (r->pt) return gl_pth_tensor_f32(r->pth, r->stored, r->pt, NULL, -1, f, err);
    if (r->dtype == GL_ST_F32)
        memcpy(f, r->data, r->count * sizeof(float));
    else
        gl_st_widen(r->dtype, r->data, r->count, f);
    return GL_OK;
}

static gl_status add_tensor(clip_source *src, const char *name, const raw_tensor *r,
                            gl_st_dtype dtype, const void *data, int ndim, const int64_t *shape,
                            gl_error *err) {
    gl_st_tensor *t = &src->tensors[src->n_tensors];
    memset(t, 0, sizeof *t);
    if (!(t->name = strdup(name))) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", name);
    src->n_tensors++;
    t->dtype = dtype;
    snprintf(t->dtype_name, sizeof t->dtype_name, "%s", dtype == GL_ST_F32 ? "F32" : r->dtype_name);
    t->ndim = ndim;
    t->count = 1;
    for (int d = 0; d < ndim; d++) {
        t->shape[d] = shape[d];
        t->count *= (size_t)shape[d];
    }
    t->nbytes = t->count * st_elem_size(dtype);
    t->data = data;
    t->file = r->file;
    src->n_params += (int64_t)t->count;
    /* the stored dtype, whatever we made of it in memory */
    static const char *const names[] = {"F32", "F16", "BF16", "F64"};
    const char *stored = "mixed";
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (!strcmp(r->dtype_name, names[i])) stored = names[i];
    if (!src->dtype)
        src->dtype = stored;
    else if (strcmp(src->dtype, stored))
        src->dtype = "mixed";
    return GL_OK;
}

static gl_status build_tensor(clip_source *src, mapping *m, gl_error *err) {
    raw_tensor *r = m->raw;
    const expected *e = m->e;
    if (m->kind == MAP_TRANSPOSE) { /* [width, embed] -> [embed, width] */
        gl_status s = raw_f32(src, r, err);
        int64_t rows = r->shape[0], cols = r->shape[1];
        float *t = s ? NULL : malloc((size_t)(rows * cols > 0 ? rows * cols : 1) * sizeof(float));
        if (!s && !t) s = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", r->stored);
        if (!s) s = own(src, t, err);
        if (s) return s;
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < cols; j++)
                t[j * rows + i] = r->f32[i * cols + j];
        return add_tensor(src, e->name, r, GL_ST_F32, t, 2, e->shape, err);
    }
    gl_status s = GL_OK;
    if (!r->data) s = raw_f32(src, r, err);
    if (s) return s;
    gl_st_dtype dt = r->data ? r->dtype : GL_ST_F32;
    const unsigned char *base = r->data ? r->data : (const void *)r->f32;
    if (m->kind == MAP_SAME) {
        int64_t one = 1;
        return e->ndim ? add_tensor(src, e->name, r, dt, base, e->ndim, e->shape, err)
                       : add_tensor(src, e->name, r, dt, base, r->ndim, r->ndim ? &one : NULL, err);
    }
    /* in_proj [3d, ...]: q, k and v are its three row blocks, used in place */
    size_t part = r->count / 3 * st_elem_size(dt);
    for (int j = 0; j < 3 && !s; j++) {
        char name[96];
        snprintf(name, sizeof name, "%s", e->name);
        char *at = strstr(name, "q_proj");
        if (at) *at = "qkv"[j];
        s = add_tensor(src, name, r, dt, base + part * (size_t)j, e->ndim, e->shape, err);
    }
    return s;
}

static int cmp_tensor(const void *a, const void *b) {
    return strcmp(((const gl_st_tensor *)a)->name, ((const gl_st_tensor *)b)->name);
}

static gl_status open_weights(clip_source *src, gl_error *err) {
    raw_list raw = {0};
    expected_list ex = {0};
    mapping *map = NULL;
    gl_status s = collect(src, &raw, err);
    if (!s) s = expected_tensors(&src->cfg, &ex, err);
    if (!s) {
        normalise_names(src, &raw);
        map = calloc((size_t)(raw.n ? raw.n : 1), sizeof *map);
        src->tensors = calloc((size_t)ex.n, sizeof *src->tensors);
        if (!map || !src->tensors)
            s = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", src->weights);
    }
    if (!s) s = check_mapping(src, &raw, &ex, map, err);
    for (int i = 0; !s && i < raw.n; i++)
        if (map[i].e) s = build_tensor(src, &map[i], err);
    if (!s) {
        qsort(src->tensors, (size_t)src->n_tensors, sizeof *src->tensors, cmp_tensor);
    }
    free(map);
    free(ex.items);
    free(raw.items);
    return s;
}

/* ------------------------------------------------------------------ public */

gl_status clip_source_open(const char *spec, const char *arch, int with_weights, clip_source *src,
                           gl_error *err) {
    memset(src, 0, sizeof *src);
    if (!spec || !*spec) return gl_fail(err, GL_ERR_ARG, "no model given");
    if (arch && !*arch) arch = NULL;
    gl_status s = locate(spec, arch, src, err);
    if (!s) s = load_architecture(src, err);
    if (!s && with_weights) s = open_weights(src, err);
    if (!s && !with_weights) s = add_file(src, src->weights, err);
    if (s) clip_source_close(src);
    return s;
}

void clip_source_close(clip_source *src) {
    if (!src) return;
    for (int i = 0; i < src->n_tensors; i++)
        free(src->tensors[i].name);
    free(src->tensors);
    for (int i = 0; i < src->n_owned; i++)
        free(src->owned[i]);
    free(src->owned);
    for (int i = 0; i < src->n_pth; i++)
        gl_pth_free(src->pth[i]);
    free(src->pth);
    gl_st_close(&src->st);
    for (int i = 0; i < src->n_files; i++)
        free(src->files[i]);
    free(src->files);
    free(src->dir);
    free(src->weights);
    free(src->config);
    free(src->arch_name);
    free(src->vocab);
    free(src->merges);
    memset(src, 0, sizeof *src);
}

const gl_st_tensor *clip_source_find(const clip_source *src, const char *name) {
    gl_st_tensor key;
    key.name = (char *)name;
    return bsearch(&key, src->tensors, (size_t)src->n_tensors, sizeof *src->tensors, cmp_tensor);
}

const char *clip_source_tensor_file(const clip_source *src, const gl_st_tensor *t) {
    return t && t->file >= 0 && t->file < src->n_files ? src->files[t->file] : src->weights;
}

void clip_source_release(const clip_source *src, const void *p, size_t n) {
    gl_st_release(&src->st, p, n);
    for (int i = 0; i < src->n_pth; i++)
        gl_pth_release(src->pth[i], p, n);
}

static void release_source(void *src, const void *p, size_t n) {
    clip_source_release(src, p, n);
}

void clip_source_digest(const clip_source *src, uint64_t out[2]) {
    /* the tensors in name order are the digest's list of byte ranges, so the same weights give
     * the same digest whichever container they came in; mapped pages go back as they are read
     * (the weights were packed at load: reading them here must not bring them all back) */
    gl_st_digester d;
    gl_st_digest_begin(&d);
    for (int i = 0; i < src->n_tensors; i++)
        gl_st_digest_add(&d, src->tensors[i].data, src->tensors[i].nbytes, release_source,
                         (void *)src);
    gl_st_digest_end(&d, out);
}

gl_tokenizer *gl_model_tokenizer_load(const char *model, const char *arch, gl_error *err) {
    char cfg[4352], oc[4352];
    snprintf(cfg, sizeof cfg, "%s/config.json", model);
    snprintf(oc, sizeof oc, "%s/open_clip_config.json", model);
    if (!arch && is_dir(model) && !is_file(cfg) && !is_file(oc)) {
        /* a tokenizer-only folder: its vocab.json and merges.txt are all tokenizing needs */
        char vocab[4352], merges[4352];
        snprintf(vocab, sizeof vocab, "%s/vocab.json", model);
        snprintf(merges, sizeof merges, "%s/merges.txt", model);
        return gl_tokenizer_load(vocab, merges, err);
    }
    clip_source src;
    if (clip_source_open(model, arch, 0, &src, err)) return NULL;
    gl_tokenizer *tok = gl_tokenizer_load(src.vocab, src.merges, err);
    clip_source_close(&src);
    return tok;
}
