/* headfile.c: heads on disk: the Geograph project's PyTorch checkpoints (through io/torchzip) and
 * our safetensors files, whose __metadata__ carries classes, distance map and architecture. */
#include "heads/heads.h"
#include "core/vecmath.h"
#include "io/torchzip.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define META_MAX (1u << 20)

static const char *const tensor_names[5] = {"dist_emb.weight", "fc.0.weight", "fc.0.bias",
                                            "fc.3.weight", "fc.3.bias"};

void heads_tensors(const gl_head *h, heads_tensor *t) {
    const gl_head_arch *a = &h->a;
    heads_tensor v[5] = {
        {tensor_names[0], h->emb, 2, {a->n_dist, a->dist_dim}},
        {tensor_names[1], h->w1, 2, {a->hidden, a->clip_dim + a->dist_dim}},
        {tensor_names[2], h->b1, 1, {a->hidden}},
        {tensor_names[3], h->w2, 2, {a->n_classes, a->hidden}},
        {tensor_names[4], h->b2, 1, {a->n_classes}},
    };
    memcpy(t, v, sizeof v);
}

/* ------------------------------------------------------------------ PyTorch checkpoints */

static int py_int(const gl_py *v, int fallback) {
    return v && v->kind == GL_PY_INT && v->i >= 0 && v->i < (1 << 20) ? (int)v->i : fallback;
}

static gl_head *load_pth(const char *path, gl_error *err) {
    gl_pth *p = gl_pth_open(path, err);
    if (!p) return NULL;
    gl_head *h = NULL;
    const gl_py *root = gl_pth_root(p), *sd = gl_pth_state_dict(p, err);
    const gl_py *classes = gl_py_get(root, "classes"), *dm = gl_py_get(root, "dist_map");
    const gl_pth_tensor *emb = sd ? gl_pth_find_tensor(p, sd, tensor_names[0], err) : NULL;
    const gl_pth_tensor *w1 = emb ? gl_pth_find_tensor(p, sd, tensor_names[1], err) : NULL;
    const gl_pth_tensor *w2 = w1 ? gl_pth_find_tensor(p, sd, tensor_names[3], err) : NULL;
    if (!w2) goto done;
    if (!classes || classes->kind != GL_PY_LIST || !dm || dm->kind != GL_PY_DICT ||
        emb->ndim != 2 || w1->ndim != 2 || w2->ndim != 2) {
        gl_fail(err, GL_ERR_FORMAT,
                "%s: not a Geograph head checkpoint (needs classes, dist_map and a "
                "dist_emb/fc state dict)",
                path);
        goto done;
    }
    gl_head_arch a = {.dist_dim = (int)emb->shape[1],
                      .n_dist = (int)emb->shape[0],
                      .hidden = (int)w1->shape[0],
                      .n_classes = (int)classes->len,
                      .dropout = 0.2f};
    a.clip_dim = py_int(gl_py_get(root, "clip_dim"), (int)w1->shape[1] - a.dist_dim);
    const char *names[GL_HEAD_EVAL_MAX], *keys[4096];
    int vals[4096];
    if (classes->len > GL_HEAD_EVAL_MAX || dm->len > 4096) {
        gl_fail(err, GL_ERR_LIMIT, "%s: %zu classes, %zu distance keys: too many", path,
                classes->len, dm->len);
        goto done;
    }
    for (size_t i = 0; i < classes->len; i++) {
        if (classes->items[i]->kind != GL_PY_STR) {
            gl_fail(err, GL_ERR_FORMAT, "%s: classes[%zu] is not a string", path, i);
            goto done;
        }
        names[i] = classes->items[i]->s;
    }
    for (size_t i = 0; i < dm->len; i++) {
        const gl_py *k = dm->items[2 * i], *v = dm->items[2 * i + 1];
        if (k->kind != GL_PY_STR || v->kind != GL_PY_INT || v->i < 0 || v->i > 4096) {
            gl_fail(err, GL_ERR_FORMAT, "%s: dist_map entry %zu is not str -> int", path, i);
            goto done;
        }
        keys[i] = k->s;
        vals[i] = (int)v->i;
    }
    if (!(h = heads_new(&a, names, keys, vals, (int)dm->len, err))) {
        gl_error_prefix(err, "%s: ", path);
        goto done;
    }
    heads_tensor t[5];
    heads_tensors(h, t);
    for (int i = 0; i < 5; i++)
        if (gl_pth_read_f32(p, sd, t[i].name, t[i].shape, t[i].ndim, (float *)t[i].data, err)) {
            gl_head_free(h);
            h = NULL;
            goto done;
        }
done:
    gl_pth_free(p);
    return h;
}

/* ------------------------------------------------------------------ safetensors */

gl_status heads_st_metadata(const char *path, cJSON **out, gl_error *err) {
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return gl_fail(err, GL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char len8[8];
    uint64_t n = 0;
    char *hdr = NULL;
    gl_status s = GL_OK;
    if (fread(len8, 1, 8, fp) != 8)
        s = gl_fail(err, GL_ERR_FORMAT, "%s: too short for safetensors", path);
    for (int i = 7; !s && i >= 0; i--)
        n = n << 8 | len8[i];
    if (!s && (n == 0 || n > 100u << 20))
        s = gl_fail(err, GL_ERR_FORMAT, "%s: bad safetensors header length", path);
    if (!s && !(hdr = malloc(n + 1))) s = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
    if (!s && fread(hdr, 1, n, fp) != n)
        s = gl_fail(err, GL_ERR_FORMAT, "%s: truncated safetensors header", path);
    fclose(fp);
    if (!s) {
        hdr[n] = 0;
        cJSON *j = cJSON_Parse(hdr);
        cJSON *m = cJSON_DetachItemFromObjectCaseSensitive(j, "__metadata__");
        cJSON_Delete(j);
        if (!cJSON_IsObject(m)) {
            cJSON_Delete(m);
            s = gl_fail(err, GL_ERR_FORMAT,
                        "%s: safetensors file has no __metadata__ (not a geolabel head)", path);
        } else {
            *out = m;
        }
    }
    free(hdr);
    return s;
}

gl_status heads_st_write(const char *path, const heads_tensor *t, int n, const cJSON *metadata,
                         gl_error *err) {
    gl_st_out *out = calloc((size_t)n + 1, sizeof *out);
    if (!out) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; i < n; i++) {
        out[i] =
            (gl_st_out){.name = t[i].name, .dtype = "F32", .ndim = t[i].ndim, .data = t[i].data};
        memcpy(out[i].shape, t[i].shape, (size_t)t[i].ndim * sizeof *t[i].shape);
    }
    gl_status s = gl_st_write(path, out, n, metadata, NULL, NULL, err);
    free(out);
    return s;
}

static char *json_string_of(cJSON *item) {
    char *s = cJSON_PrintUnformatted(item);
    cJSON_Delete(item);
    return s;
}

cJSON *heads_metadata(const gl_head *h) {
    cJSON *m = cJSON_CreateObject();
    cJSON *classes = cJSON_CreateArray(), *dm = cJSON_CreateObject();
    for (int i = 0; i < h->a.n_classes; i++)
        cJSON_AddItemToArray(classes, cJSON_CreateString(h->classes[i]));
    for (int i = 0; i < h->n_dist_keys; i++)
        cJSON_AddNumberToObject(dm, h->dist_keys[i], h->dist_vals[i]);
    char *cs = json_string_of(classes), *ds = json_string_of(dm), num[32];
    cJSON_AddStringToObject(m, "format", "geolabel-head-v1");
    cJSON_AddStringToObject(
        m, "architecture",
        "Embedding(n_dist,dist_embed_dim); concat(clip,dist) -> Linear -> ReLU -> "
        "Dropout -> Linear; sigmoid");
    cJSON_AddStringToObject(m, "classes", cs ? cs : "[]");
    cJSON_AddStringToObject(m, "dist_map", ds ? ds : "{}");
    const struct {
        const char *k;
        double v;
    } nums[] = {{"clip_dim", h->a.clip_dim},
                {"dist_embed_dim", h->a.dist_dim},
                {"hidden", h->a.hidden},
                {"n_dist", h->a.n_dist},
                {"dropout", h->a.dropout}};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        snprintf(num, sizeof num, "%.9g", nums[i].v);
        cJSON_AddStringToObject(m, nums[i].k, num);
    }
    free(cs);
    free(ds);
    return m;
}

gl_status gl_head_save(const gl_head *h, const char *path, gl_error *err) {
    heads_tensor t[5];
    heads_tensors(h, t);
    cJSON *m = heads_metadata(h);
    gl_status s = heads_st_write(path, t, 5, m, err);
    cJSON_Delete(m);
    return s;
}

static int meta_int(const cJSON *m, const char *key, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, key);
    char *end;
    long x = cJSON_IsString(v) ? strtol(v->valuestring, &end, 10) : -1;
    if (!cJSON_IsString(v) || *end || x < 0 || x > (1 << 20)) return 0;
    *out = (int)x;
    return 1;
}

/* Parses the metadata into an architecture, class names and a dist map (arrays of borrowed
 * strings from the parsed JSON, which the caller deletes). */
static gl_status parse_meta(const char *path, const cJSON *m, gl_head_arch *a, cJSON **classes,
                            cJSON **dm, gl_error *err) {
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(m, "classes");
    const cJSON *ds = cJSON_GetObjectItemCaseSensitive(m, "dist_map");
    const cJSON *dr = cJSON_GetObjectItemCaseSensitive(m, "dropout");
    memset(a, 0, sizeof *a);
    if (!meta_int(m, "clip_dim", &a->clip_dim) || !meta_int(m, "dist_embed_dim", &a->dist_dim) ||
        !meta_int(m, "hidden", &a->hidden) || !meta_int(m, "n_dist", &a->n_dist) ||
        !cJSON_IsString(cs) || !cJSON_IsString(ds))
        return gl_fail(err, GL_ERR_FORMAT,
                       "%s: head metadata lacks clip_dim, dist_embed_dim, hidden, "
                       "n_dist, classes or dist_map",
                       path);
    a->dropout = cJSON_IsString(dr) ? strtof(dr->valuestring, NULL) : 0.2f;
    *classes = cJSON_Parse(cs->valuestring);
    *dm = cJSON_Parse(ds->valuestring);
    if (!cJSON_IsArray(*classes) || !cJSON_IsObject(*dm))
        return gl_fail(err, GL_ERR_FORMAT,
                       "%s: head metadata classes/dist_map are not JSON list/object", path);
    a->n_classes = cJSON_GetArraySize(*classes);
    return GL_OK;
}

static gl_head *head_from_meta(const char *path, const cJSON *m, gl_error *err) {
    gl_head_arch a;
    cJSON *classes = NULL, *dm = NULL;
    gl_head *h = NULL;
    if (parse_meta(path, m, &a, &classes, &dm, err)) goto done;
    int nc = cJSON_GetArraySize(classes), nd = cJSON_GetArraySize(dm);
    if (nc < 1 || nc > GL_HEAD_EVAL_MAX || nd > 4096) {
        gl_fail(err, GL_ERR_FORMAT, "%s: %d classes / %d distance keys in metadata", path, nc, nd);
        goto done;
    }
    const char *names[GL_HEAD_EVAL_MAX], *keys[4096];
    int vals[4096], i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, classes) names[i++] = cJSON_IsString(it) ? it->valuestring : "";
    i = 0;
    cJSON_ArrayForEach(it, dm) {
        keys[i] = it->string;
        vals[i++] = cJSON_IsNumber(it) ? (int)it->valuedouble : -1;
    }
    h = heads_new(&a, names, keys, vals, nd, err);
    if (!h) gl_error_prefix(err, "%s: ", path);
done:
    cJSON_Delete(classes);
    cJSON_Delete(dm);
    return h;
}

gl_head *heads_load_safetensors(const char *path, gl_safetensors *st_out, cJSON **meta_out,
                                gl_error *err) {
    cJSON *m = NULL;
    gl_safetensors st = {0};
    gl_head *h = NULL;
    if (heads_st_metadata(path, &m, err) || !(h = head_from_meta(path, m, err)) ||
        gl_st_open(path, &st, err))
        goto fail;
    heads_tensor t[5];
    heads_tensors(h, t);
    for (int i = 0; i < 5; i++) {
        const gl_st_tensor *x = gl_st_find(&st, t[i].name);
        size_t count = 1;
        for (int d = 0; d < t[i].ndim; d++)
            count *= (size_t)t[i].shape[d];
        if (!x || x->dtype != GL_ST_F32 || x->ndim != t[i].ndim || x->count != count ||
            memcmp(x->shape, t[i].shape, (size_t)t[i].ndim * sizeof(int64_t))) {
            gl_fail(err, GL_ERR_SHAPE,
                    "%s: tensor '%s' is missing or not F32 of the metadata's shape", path,
                    t[i].name);
            goto fail;
        }
        memcpy((float *)t[i].data, x->data, count * sizeof(float));
    }
    if (st_out)
        *st_out = st;
    else
        gl_st_close(&st);
    if (meta_out)
        *meta_out = m;
    else
        cJSON_Delete(m);
    return h;
fail:
    gl_st_close(&st);
    cJSON_Delete(m);
    gl_head_free(h);
    return NULL;
}

/* A NaN or infinite weight makes every prediction NaN: refused at load, naming the tensor. */
static gl_status check_finite(const gl_head *h, const char *path, gl_error *err) {
    heads_tensor t[5];
    heads_tensors(h, t);
    gl_status st = GL_OK;
    for (int i = 0; i < 5 && !st; i++) {
        size_t n = 1;
        for (int d = 0; d < t[i].ndim; d++)
            n *= (size_t)t[i].shape[d];
        st = gl_check_finite_tensor(path, t[i].name, t[i].data, n, err);
    }
    return st;
}

gl_status gl_head_sha256(const gl_head *h, char hex[65], gl_error *err) {
    return gl_file_sha256(h->path, hex, err);
}

gl_head *gl_head_load(const char *path, gl_error *err) {
    gl_head *h = gl_path_has_suffix(path, ".safetensors")
                     ? heads_load_safetensors(path, NULL, NULL, err)
                     : load_pth(path, err);
    if (h && check_finite(h, path, err)) {
        gl_head_free(h);
        return NULL;
    }
    if (h && !(h->path = strdup(path))) {
        gl_head_free(h);
        gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    return h;
}
