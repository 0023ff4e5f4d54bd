/* torchzip.c: .pth checkpoints on top of io/zip and io/pickle: torch's globals and storages as the
 * unpickler's hooks, tensor views checked against their storage, and copies to float32. */
#include "io/torchzip.h"

#include "core/half.h"
#include "io/bytes.h"
#include "io/zip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *key;
    unsigned char *data; /* malloc'ed when inflated; else points into the archive */
    size_t bytes;
    int owned;
} storage_buf;

struct gl_pth {
    char *path;
    gl_zip *zip;
    char *prefix; /* "archive/" */
    storage_buf *storages;
    size_t n_storages, cap_storages;
    gl_py_arena arena; /* every node */
    gl_py *root;
};

static const struct {
    const char *storage, *name;
    size_t size;
} dtype_info[] = {
    [GL_PTH_F32] = {"FloatStorage", "float32", 4},
    [GL_PTH_F64] = {"DoubleStorage", "float64", 8},
    [GL_PTH_F16] = {"HalfStorage", "float16", 2},
    [GL_PTH_BF16] = {"BFloat16Storage", "bfloat16", 2},
    [GL_PTH_I64] = {"LongStorage", "int64", 8},
    [GL_PTH_I32] = {"IntStorage", "int32", 4},
    [GL_PTH_I16] = {"ShortStorage", "int16", 2},
    [GL_PTH_I8] = {"CharStorage", "int8", 1},
    [GL_PTH_U8] = {"ByteStorage", "uint8", 1},
    [GL_PTH_BOOL] = {"BoolStorage", "bool", 1},
};
#define N_DTYPES ((int)(sizeof dtype_info / sizeof dtype_info[0]))

/* Tensors larger than this many elements (4 TiB of float32) are refused as corrupt. */
#define MAX_NUMEL ((uint64_t)1 << 40)

const char *gl_pth_dtype_name(gl_pth_dtype d) {
    return (int)d >= 0 && (int)d < N_DTYPES ? dtype_info[d].name : "?";
}
size_t gl_pth_dtype_size(gl_pth_dtype d) {
    return (int)d >= 0 && (int)d < N_DTYPES ? dtype_info[d].size : 0;
}

/* ------------------------------------------------------------------ storages */

static gl_status storage_get(gl_pth *p, const char *key, storage_buf **out, gl_error *err) {
    for (size_t i = 0; i < p->n_storages; i++)
        if (!strcmp(p->storages[i].key, key)) {
            *out = &p->storages[i];
            return GL_OK;
        }
    if (strlen(key) > 200 || strchr(key, '/'))
        return gl_fail(err, GL_ERR_FORMAT, "%s: storage key '%.40s' is malformed", p->path, key);
    char name[512];
    snprintf(name, sizeof name, "%sdata/%s", p->prefix, key);
    const gl_zip_entry *e = gl_zip_find(p->zip, name);
    if (!e)
        return gl_fail(err, GL_ERR_FORMAT, "%s: storage '%s' has no archive entry '%s'", p->path,
                       key, name);
    if (p->n_storages == p->cap_storages) {
        size_t cap = p->cap_storages ? p->cap_storages * 2 : 16;
        storage_buf *s = realloc(p->storages, cap * sizeof *s);
        if (!s) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", p->path);
        p->storages = s;
        p->cap_storages = cap;
    }
    storage_buf *sb = &p->storages[p->n_storages];
    memset(sb, 0, sizeof *sb);
    gl_status s = gl_zip_read(p->zip, e, &sb->data, &sb->owned, err);
    if (s) return s;
    sb->bytes = e->size;
    sb->key = strdup(key);
    if (!sb->key) {
        if (sb->owned) free(sb->data);
        return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", p->path);
    }
    p->n_storages++;
    *out = sb;
    return GL_OK;
}

/* ------------------------------------------------------------------ unpickler hooks */

static const char *const allowed_globals[] = {
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_parameter",
};

/* The rebuild functions and the torch.<X>Storage types; nothing else of torch. */
static int allow_global(void *ctx, const char *module, size_t mlen, const char *name, size_t nlen) {
    (void)ctx;
    for (size_t i = 0; i < sizeof allowed_globals / sizeof *allowed_globals; i++) {
        const char *g = allowed_globals[i], *dot = strrchr(g, '.');
        if ((size_t)(dot - g) == mlen && !memcmp(g, module, mlen) && strlen(dot + 1) == nlen &&
            !memcmp(dot + 1, name, nlen))
            return 1;
    }
    for (int d = 0; d < N_DTYPES; d++)
        if (mlen == 5 && !memcmp(module, "torch", 5) && strlen(dtype_info[d].storage) == nlen &&
            !memcmp(name, dtype_info[d].storage, nlen))
            return 1;
    return 0;
}

/* persistent_load: ('storage', torch.<X>Storage, key, location, numel) -> a storage object (a
 * gl_pth_tensor describing the whole storage). */
static gl_status persistent_load(void *ctx, gl_pickle *pk, const gl_py *t, gl_py **out) {
    gl_pth *p = ctx;
    if (t->kind != GL_PY_TUPLE || t->len < 5 || t->items[0]->kind != GL_PY_STR ||
        strcmp(t->items[0]->s, "storage") || t->items[1]->kind != GL_PY_GLOBAL ||
        t->items[2]->kind != GL_PY_STR || t->items[4]->kind != GL_PY_INT || t->items[4]->i < 0)
        return gl_pickle_fail(pk, GL_ERR_FORMAT,
                              "persistent id is not ('storage', type, key, location, numel)");
    const char *type = t->items[1]->s;
    int dtype = -1;
    for (int d = 0; d < N_DTYPES; d++)
        if (!strncmp(type, "torch.", 6) && !strcmp(type + 6, dtype_info[d].storage)) dtype = d;
    if (dtype < 0)
        return gl_pickle_fail(pk, GL_ERR_UNSUPPORTED, "persistent id names no storage type");
    storage_buf *sb = NULL;
    gl_status s = storage_get(p, t->items[2]->s, &sb, gl_pickle_error(pk));
    if (s) return s;
    uint64_t numel = (uint64_t)t->items[4]->i;
    if (numel > sb->bytes / dtype_info[dtype].size)
        return gl_fail(gl_pickle_error(pk), GL_ERR_FORMAT,
                       "%s: storage '%s' holds %zu bytes, fewer than %llu %s values", p->path,
                       sb->key, sb->bytes, (unsigned long long)numel, dtype_info[dtype].name);
    gl_py *n = gl_pickle_new(pk, GL_PY_OBJECT, sizeof(gl_pth_tensor));
    if (!n) return gl_pickle_fail(pk, GL_ERR_NOMEM, "out of memory");
    gl_pth_tensor *st = n->object;
    st->dtype = (gl_pth_dtype)dtype;
    st->storage_key = sb->key;
    st->storage = sb->data;
    st->storage_bytes = (size_t)numel * dtype_info[dtype].size;
    *out = n;
    return GL_OK;
}

static int is_int_tuple(const gl_py *t, int max_len) {
    if (t->kind != GL_PY_TUPLE || t->len > (size_t)max_len) return 0;
    for (size_t i = 0; i < t->len; i++)
        if (t->items[i]->kind != GL_PY_INT || t->items[i]->i < 0) return 0;
    return 1;
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]). The
 * element count and the last element's offset are computed with overflow checks: a wrapped
 * product would pass the bounds check and let a copy read far outside the storage. */
static gl_status rebuild_tensor(gl_pth *p, gl_pickle *pk, const gl_py *args, gl_py **out) {
    if (args->len < 4 || args->items[0]->kind != GL_PY_OBJECT ||
        args->items[1]->kind != GL_PY_INT || args->items[1]->i < 0 ||
        !is_int_tuple(args->items[2], GL_PTH_MAX_DIMS) ||
        !is_int_tuple(args->items[3], GL_PTH_MAX_DIMS) ||
        args->items[2]->len != args->items[3]->len)
        return gl_pickle_fail(pk, GL_ERR_FORMAT, "malformed _rebuild_tensor_v2 arguments");
    const gl_pth_tensor *st = args->items[0]->object;
    gl_py *n = gl_pickle_new(pk, GL_PY_TENSOR, sizeof(gl_pth_tensor));
    if (!n) return gl_pickle_fail(pk, GL_ERR_NOMEM, "out of memory");
    gl_pth_tensor *t = n->object;
    *t = *st;
    t->ndim = (int)args->items[2]->len;
    t->offset = args->items[1]->i;
    uint64_t capacity = st->storage_bytes / dtype_info[st->dtype].size;
    uint64_t numel = 1, last = (uint64_t)t->offset, reach;
    int wrapped = 0;
    for (int d = 0; d < t->ndim; d++) {
        t->shape[d] = args->items[2]->items[d]->i;
        t->stride[d] = args->items[3]->items[d]->i;
        if (t->shape[d] > (int64_t)MAX_NUMEL || t->stride[d] > (int64_t)MAX_NUMEL)
            return gl_pickle_fail(pk, GL_ERR_LIMIT, "tensor dimension beyond limits");
        if (__builtin_mul_overflow(numel, (uint64_t)t->shape[d], &numel) || numel > MAX_NUMEL)
            return gl_pickle_fail(pk, GL_ERR_LIMIT, "tensor size beyond limits");
        if (t->shape[d] &&
            (__builtin_mul_overflow((uint64_t)(t->shape[d] - 1), (uint64_t)t->stride[d], &reach) ||
             __builtin_add_overflow(last, reach, &last)))
            wrapped = 1;
    }
    t->numel = (int64_t)numel;
    if (numel && (wrapped || last >= capacity))
        return gl_fail(gl_pickle_error(pk), GL_ERR_FORMAT,
                       "%s: a tensor view reaches %selement %llu of storage '%s', which holds "
                       "%llu",
                       p->path, wrapped ? "beyond " : "", (unsigned long long)last, t->storage_key,
                       (unsigned long long)capacity);
    n->tensor = t;
    *out = n;
    return GL_OK;
}

static gl_status reduce(void *ctx, gl_pickle *pk, const gl_py *fn, const gl_py *args, gl_py **out) {
    gl_pth *p = ctx;
    if (!strcmp(fn->s, "torch._utils._rebuild_tensor_v2")) return rebuild_tensor(p, pk, args, out);
    if (!strcmp(fn->s, "torch._utils._rebuild_parameter")) {
        if (args->len < 1 || args->items[0]->kind != GL_PY_TENSOR)
            return gl_pickle_fail(pk, GL_ERR_FORMAT, "malformed _rebuild_parameter arguments");
        gl_py *n = gl_pickle_new(pk, GL_PY_TENSOR, sizeof(gl_pth_tensor));
        if (!n) return gl_pickle_fail(pk, GL_ERR_NOMEM, "out of memory");
        gl_pth_tensor *t = n->object;
        *t = *args->items[0]->tensor;
        t->is_parameter = 1;
        n->tensor = t;
        *out = n;
        return GL_OK;
    }
    return gl_pickle_fail(pk, GL_ERR_UNSUPPORTED, "calling '%s' is not allowed", fn->s);
}

/* ------------------------------------------------------------------ open / free */

/* The pickle is "<prefix>data.pkl"; storages sit beside it under "<prefix>data/". */
static gl_status find_pickle(gl_pth *p, const gl_zip_entry **pkl, gl_error *err) {
    *pkl = NULL;
    for (size_t i = 0; i < gl_zip_count(p->zip) && !*pkl; i++) {
        const char *nm = gl_zip_entry_at(p->zip, i)->name;
        size_t n = strlen(nm);
        if (n >= 8 && !strcmp(nm + n - 8, "data.pkl") && (n == 8 || nm[n - 9] == '/'))
            *pkl = gl_zip_entry_at(p->zip, i);
    }
    if (!*pkl)
        return gl_fail(err, GL_ERR_FORMAT, "%s: zip has no data.pkl (not a torch.save checkpoint)",
                       p->path);
    size_t plen = strlen((*pkl)->name) - 8;
    p->prefix = strndup((*pkl)->name, plen);
    if (!p->prefix) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", p->path);
    char name[512];
    snprintf(name, sizeof name, "%sbyteorder", p->prefix);
    const gl_zip_entry *bo = gl_zip_find(p->zip, name);
    if (bo) {
        unsigned char *d;
        int owned;
        gl_status s = gl_zip_read(p->zip, bo, &d, &owned, err);
        if (s) return s;
        int little = bo->size == 6 && !memcmp(d, "little", 6);
        if (owned) free(d);
        if (!little)
            return gl_fail(err, GL_ERR_UNSUPPORTED, "%s: big-endian checkpoints are not supported",
                           p->path);
    }
    return GL_OK;
}

/* torch.save before 1.6 wrote a bare pickle (PROTO 2), not a zip: say so rather than "not a
 * zip". head holds the file's first n bytes. */
static void explain_legacy(const char *path, const unsigned char *head, size_t n, gl_error *err) {
    if (err && err->code == GL_ERR_FORMAT && n >= 2 && head[0] == 0x80 && head[1] <= 5)
        gl_fail(err, GL_ERR_UNSUPPORTED,
                "%s: legacy (pre-1.6, non-zip) torch.save format is not supported; re-save it "
                "with a current PyTorch",
                path);
}

static gl_pth *pth_new(const char *path, gl_error *err) {
    gl_pth *p = calloc(1, sizeof *p);
    if (!p || !(p->path = strdup(path))) {
        free(p);
        gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    return p;
}

/* Unpickles data.pkl once p->zip is open; frees p on failure. */
static gl_pth *pth_load(gl_pth *p, gl_error *err) {
    const gl_zip_entry *pkl;
    unsigned char *pdata = NULL;
    int powned = 0;
    gl_pickle_hooks hooks = {.path = p->path,
                             .entry = "data.pkl",
                             .allow_global = allow_global,
                             .persistent_load = persistent_load,
                             .reduce = reduce,
                             .ctx = p};
    gl_status s = find_pickle(p, &pkl, err);
    if (!s) s = gl_zip_read(p->zip, pkl, &pdata, &powned, err);
    if (!s) s = gl_unpickle(&hooks, &p->arena, pdata, pkl->size, &p->root, err);
    if (powned) free(pdata);
    if (s) {
        gl_pth_free(p);
        return NULL;
    }
    return p;
}

gl_pth *gl_pth_open(const char *path, gl_error *err) {
    gl_pth *p = pth_new(path, err);
    if (!p) return NULL;
    if (!(p->zip = gl_zip_open(path, err))) {
        unsigned char head[2];
        FILE *fp = fopen(path, "rb");
        size_t n = fp ? fread(head, 1, 2, fp) : 0;
        if (fp) fclose(fp);
        explain_legacy(path, head, n, err);
        gl_pth_free(p);
        return NULL;
    }
    return pth_load(p, err);
}

gl_pth *gl_pth_open_memory(const char *name, const unsigned char *data, size_t size,
                           gl_error *err) {
    gl_pth *p = pth_new(name, err);
    if (!p) return NULL;
    if (!(p->zip = gl_zip_memory(name, data, size, err))) {
        explain_legacy(name, data, size, err);
        gl_pth_free(p);
        return NULL;
    }
    return pth_load(p, err);
}

void gl_pth_free(gl_pth *p) {
    if (!p) return;
    gl_py_arena_free(&p->arena);
    for (size_t i = 0; i < p->n_storages; i++) {
        if (p->storages[i].owned) free(p->storages[i].data);
        free(p->storages[i].key);
    }
    free(p->storages);
    gl_zip_free(p->zip);
    free(p->prefix);
    free(p->path);
    free(p);
}

void gl_pth_release(const gl_pth *p, const void *ptr, size_t n) {
    if (p) gl_zip_release(p->zip, ptr, n);
}

const char *gl_pth_path(const gl_pth *p) {
    return p->path;
}
const gl_py *gl_pth_root(const gl_pth *p) {
    return p->root;
}

/* ------------------------------------------------------------------ lookups */

static int holds_tensor(const gl_py *d) {
    for (size_t k = 0; d && d->kind == GL_PY_DICT && k < d->len; k++)
        if (d->items[2 * k + 1]->kind == GL_PY_TENSOR) return 1;
    return 0;
}

const gl_py *gl_pth_state_dict(const gl_pth *p, gl_error *err) {
    if (holds_tensor(p->root)) return p->root;
    const char *keys[] = {"model_state_dict", "state_dict"};
    for (int i = 0; i < 2; i++) {
        const gl_py *d = gl_py_get(p->root, keys[i]);
        if (d && d->kind == GL_PY_DICT) return d;
    }
    gl_fail(err, GL_ERR_FORMAT,
            "%s: no state dict (the checkpoint holds a %s with no tensors, "
            "model_state_dict or state_dict)",
            p->path, gl_py_kind_name(p->root->kind));
    return NULL;
}

const gl_pth_tensor *gl_pth_find_tensor(const gl_pth *p, const gl_py *dict, const char *key,
                                        gl_error *err) {
    const gl_py *v = gl_py_get(dict, key);
    if (!v) {
        gl_fail(err, GL_ERR_FORMAT, "%s: no tensor '%s'", p->path, key);
        return NULL;
    }
    if (v->kind != GL_PY_TENSOR) {
        gl_fail(err, GL_ERR_FORMAT, "%s: '%s' is a %s, not a tensor", p->path, key,
                gl_py_kind_name(v->kind));
        return NULL;
    }
    return v->tensor;
}

/* ------------------------------------------------------------------ tensor copies */

static float element_f32(gl_pth_dtype dt, const unsigned char *b) {
    switch (dt) {
    case GL_PTH_F32: {
        float f;
        memcpy(&f, b, 4);
        return f;
    }
    case GL_PTH_F64: {
        double d;
        memcpy(&d, b, 8);
        return (float)d;
    }
    case GL_PTH_F16:
        return gl_half_to_float((uint16_t)gl_rd_le(b, 2));
    case GL_PTH_BF16:
        return gl_bf16_to_float((uint16_t)gl_rd_le(b, 2));
    case GL_PTH_I64:
        return (float)(int64_t)gl_rd_le(b, 8);
    case GL_PTH_I32:
        return (float)(int32_t)gl_rd_le(b, 4);
    case GL_PTH_I16:
        return (float)(int16_t)gl_rd_le(b, 2);
    case GL_PTH_I8:
        return (float)(int8_t)b[0];
    case GL_PTH_U8:
        return (float)b[0];
    case GL_PTH_BOOL:
        return b[0] ? 1.0f : 0.0f;
    }
    return 0;
}

static void format_shape(char *buf, size_t cap, const int64_t *shape, int ndim) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", d ? "," : "", (long long)shape[d]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

gl_status gl_pth_tensor_f32(const gl_pth *p, const char *name, const gl_pth_tensor *t,
                            const int64_t *shape, int ndim, float *out, gl_error *err) {
    /* ndim 0 (a scalar) has no shape array to compare: memcmp must not see a NULL pointer. */
    if (ndim >= 0 &&
        (ndim != t->ndim || (ndim > 0 && memcmp(shape, t->shape, (size_t)ndim * sizeof *shape)))) {
        char got[128], want[128];
        format_shape(got, sizeof got, t->shape, t->ndim);
        format_shape(want, sizeof want, shape, ndim);
        return gl_fail(err, GL_ERR_SHAPE, "%s: tensor '%s' has shape %s, expected %s", p->path,
                       name, got, want);
    }
    size_t es = dtype_info[t->dtype].size;
    int64_t idx[GL_PTH_MAX_DIMS] = {0};
    for (int64_t i = 0; i < t->numel; i++) {
        int64_t off = t->offset;
        for (int d = 0; d < t->ndim; d++)
            off += idx[d] * t->stride[d];
        out[i] = element_f32(t->dtype, t->storage + (size_t)off * es);
        for (int d = t->ndim - 1; d >= 0; d--) {
            if (++idx[d] < t->shape[d]) break;
            idx[d] = 0;
        }
    }
    return GL_OK;
}

gl_status gl_pth_read_f32(const gl_pth *p, const gl_py *dict, const char *key, const int64_t *shape,
                          int ndim, float *out, gl_error *err) {
    const gl_pth_tensor *t = gl_pth_find_tensor(p, dict, key, err);
    if (!t) return err ? err->code : GL_ERR_FORMAT;
    return gl_pth_tensor_f32(p, key, t, shape, ndim, out, err);
}
