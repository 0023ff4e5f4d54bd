/* safetensors.c: validated, memory-mapped reading of safetensors files and sharded index.json sets.
 * Nothing in a header is trusted: every size is checked against the mapped file before use. */
#include "io/safetensors.h"

#include "core/half.h"
#include "io/json.h"
#include "io/mapping.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define ST_MAX_HEADER (100u << 20) /* the format's own limit is 100 MB */
#define ST_MAX_INDEX (64u << 20)
#define ST_MAX_DIM_VALUE (1LL << 40)

typedef struct {
    const char *name;
    int size;
    gl_st_dtype dtype;
} dtype_info;

static const dtype_info dtypes[] = {
    {"F32", 4, GL_ST_F32},    {"F16", 2, GL_ST_F16},       {"BF16", 2, GL_ST_BF16},
    {"F64", 8, GL_ST_OTHER},  {"I64", 8, GL_ST_OTHER},     {"I32", 4, GL_ST_OTHER},
    {"I16", 2, GL_ST_OTHER},  {"I8", 1, GL_ST_OTHER},      {"U8", 1, GL_ST_OTHER},
    {"U16", 2, GL_ST_OTHER},  {"U32", 4, GL_ST_OTHER},     {"U64", 8, GL_ST_OTHER},
    {"BOOL", 1, GL_ST_OTHER}, {"F8_E4M3", 1, GL_ST_OTHER}, {"F8_E5M2", 1, GL_ST_OTHER},
};

static const dtype_info *dtype_lookup(const char *s) {
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (!strcmp(dtypes[i].name, s)) return &dtypes[i];
    return NULL;
}

void gl_st_close(gl_safetensors *st) {
    if (!st) return;
    for (int i = 0; i < st->n_files; i++) {
        if (st->maps && st->maps[i]) munmap(st->maps[i], st->map_sizes[i]);
        if (st->paths) free(st->paths[i]);
    }
    for (int i = 0; i < st->n_tensors; i++)
        free(st->tensors[i].name);
    free(st->paths);
    free(st->maps);
    free(st->map_sizes);
    free(st->tensors);
    memset(st, 0, sizeof *st);
}

/* Reads a JSON number that must be a whole number in [0, max]. */
static int json_whole(const cJSON *v, double max, int64_t *out) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= max) || d != (double)(int64_t)d) return 0;
    *out = (int64_t)d;
    return 1;
}

/* Fills t from one header entry; the data pointer is set once offsets are known to be valid. */
static gl_status parse_entry(const cJSON *e, const char *path, size_t payload, gl_st_tensor *t,
                             size_t *begin, gl_error *err) {
    const char *nm = t->name;
    if (!cJSON_IsObject(e))
        return gl_fail(err, GL_ERR_FORMAT, "%s: tensor '%s' is not an object", path, nm);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(off))
        return gl_fail(err, GL_ERR_FORMAT, "%s: tensor '%s' lacks dtype, shape or data_offsets",
                       path, nm);
    const dtype_info *di = dtype_lookup(dt->valuestring);
    if (!di)
        return gl_fail(err, GL_ERR_FORMAT, "%s: tensor '%s' has unknown dtype '%.16s'", path, nm,
                       dt->valuestring);
    t->dtype = di->dtype;
    snprintf(t->dtype_name, sizeof t->dtype_name, "%s", di->name);
    int nd = cJSON_GetArraySize(sh);
    if (nd > GL_ST_MAX_DIMS)
        return gl_fail(err, GL_ERR_FORMAT, "%s: tensor '%s' has %d dimensions", path, nm, nd);
    t->ndim = nd;
    size_t count = 1;
    for (int i = 0; i < nd; i++) {
        int64_t v;
        if (!json_whole(cJSON_GetArrayItem(sh, i), (double)ST_MAX_DIM_VALUE, &v))
            return gl_fail(err, GL_ERR_FORMAT, "%s: tensor '%s' has a bad shape", path, nm);
        t->shape[i] = v;
        if (v && count > payload / (size_t)v) /* bigger than the file can hold */
            return gl_fail(err, GL_ERR_FORMAT, "%s: tensor '%s' shape exceeds the file", path, nm);
        count *= (size_t)v;
    }
    t->count = count;
    int64_t b, e2;
    if (cJSON_GetArraySize(off) != 2 || !json_whole(cJSON_GetArrayItem(off, 0), 9e15, &b) ||
        !json_whole(cJSON_GetArrayItem(off, 1), 9e15, &e2) || e2 < b)
        return gl_fail(err, GL_ERR_FORMAT, "%s: tensor '%s' has bad data_offsets", path, nm);
    if ((uint64_t)e2 > payload)
        return gl_fail(err, GL_ERR_FORMAT,
                       "%s: tensor '%s' data_offsets [%lld,%lld) exceed the %zu-byte payload", path,
                       nm, (long long)b, (long long)e2, payload);
    if (count > payload / (size_t)di->size || (size_t)(e2 - b) != count * (size_t)di->size)
        return gl_fail(err, GL_ERR_FORMAT,
                       "%s: tensor '%s' holds %lld bytes, its %s shape needs %zu", path, nm,
                       (long long)(e2 - b), di->name, count * (size_t)di->size);
    t->nbytes = (size_t)(e2 - b);
    *begin = (size_t)b;
    return GL_OK;
}

static int cmp_by_offset(const void *a, const void *b) {
    const gl_st_tensor *x = a, *y = b;
    const char *px = x->data, *py = y->data;
    return px < py ? -1 : px > py;
}

static int cmp_by_name(const void *a, const void *b) {
    return strcmp(((const gl_st_tensor *)a)->name, ((const gl_st_tensor *)b)->name);
}

/* The tensors of one file were appended at [first, n_tensors); none may share bytes. */
static gl_status check_overlaps(gl_safetensors *st, int first, const char *path, gl_error *err) {
    gl_st_tensor *t = st->tensors + first;
    int n = st->n_tensors - first;
    qsort(t, (size_t)n, sizeof *t, cmp_by_offset);
    for (int i = 1; i < n; i++) {
        const char *prev_end = (const char *)t[i - 1].data + t[i - 1].nbytes;
        if ((const char *)t[i].data < prev_end)
            return gl_fail(err, GL_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap", path,
                           t[i - 1].name, t[i].name);
    }
    return GL_OK;
}

static gl_status parse_header(gl_safetensors *st, int file, const char *json, size_t hlen,
                              const unsigned char *payload, size_t payload_len, gl_error *err) {
    const char *path = st->paths[file];
    cJSON *root = cJSON_ParseWithLength(json, hlen);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return gl_fail(err, GL_ERR_FORMAT, "%s: header is not a JSON object", path);
    }
    int n = cJSON_GetArraySize(root);
    gl_st_tensor *grown = realloc(st->tensors, sizeof *grown * (size_t)(st->n_tensors + n + 1));
    if (!grown) {
        cJSON_Delete(root);
        return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
    }
    st->tensors = grown;
    int first = st->n_tensors;
    gl_status s = GL_OK;
    for (const cJSON *e = root->child; e && !s; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) continue;
        gl_st_tensor *t = &st->tensors[st->n_tensors];
        memset(t, 0, sizeof *t);
        t->name = strdup(e->string);
        if (!t->name) {
            s = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        st->n_tensors++;
        t->file = file;
        size_t begin = 0;
        s = parse_entry(e, path, payload_len, t, &begin, err);
        if (!s) t->data = payload + begin;
    }
    cJSON_Delete(root);
    return s ? s : check_overlaps(st, first, path, err);
}

static gl_status map_file(const char *path, void **map, size_t *size, gl_error *err) {
    gl_status s = gl_map_file(path, map, size, err);
    if (s || *size >= 8) return s;
    size_t n = *size;
    if (*map) munmap(*map, n);
    *map = NULL;
    *size = 0;
    return gl_fail(err, GL_ERR_FORMAT, "%s: truncated: %lld bytes, no header", path, (long long)n);
}

static gl_status add_file(gl_safetensors *st, const char *path, gl_error *err) {
    int i = st->n_files;
    char **p = realloc(st->paths, sizeof *p * (size_t)(i + 1));
    if (p) st->paths = p;
    void **m = p ? realloc(st->maps, sizeof *m * (size_t)(i + 1)) : NULL;
    if (m) st->maps = m;
    size_t *z = m ? realloc(st->map_sizes, sizeof *z * (size_t)(i + 1)) : NULL;
    if (z) st->map_sizes = z;
    if (!z || !(st->paths[i] = strdup(path)))
        return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
    st->maps[i] = NULL;
    st->map_sizes[i] = 0;
    st->n_files++;
    gl_status s = map_file(path, &st->maps[i], &st->map_sizes[i], err);
    if (s) return s;
    const unsigned char *base = st->maps[i];
    uint64_t hlen = 0;
    for (int k = 7; k >= 0; k--)
        hlen = hlen << 8 | base[k];
    size_t size = st->map_sizes[i];
    if (hlen > size - 8 || hlen > ST_MAX_HEADER)
        return gl_fail(err, GL_ERR_FORMAT, "%s: header length %llu exceeds the %zu-byte file", path,
                       (unsigned long long)hlen, size);
    return parse_header(st, i, (const char *)base + 8, (size_t)hlen, base + 8 + hlen,
                        size - 8 - hlen, err);
}

static gl_status check_unique(gl_safetensors *st, gl_error *err) {
    qsort(st->tensors, (size_t)st->n_tensors, sizeof *st->tensors, cmp_by_name);
    for (int i = 1; i < st->n_tensors; i++)
        if (!strcmp(st->tensors[i].name, st->tensors[i - 1].name))
            return gl_fail(err, GL_ERR_FORMAT, "%s: tensor '%s' appears twice",
                           st->paths[st->tensors[i].file], st->tensors[i].name);
    return GL_OK;
}

static int is_plain_file_name(const char *s) {
    return s[0] && s[0] != '.' && !strchr(s, '/') && !strchr(s, '\\');
}

/* Opens every shard an index names (each once), then checks each entry sits in its shard. */
static gl_status open_index(gl_safetensors *st, const char *path, gl_error *err) {
    cJSON *root;
    gl_status s = gl_json_load_object(path, ST_MAX_INDEX, &root, err);
    if (s) return s;
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(map)) {
        cJSON_Delete(root);
        return gl_fail(err, GL_ERR_FORMAT, "%s: no \"weight_map\" object", path);
    }
    const char *slash = strrchr(path, '/');
    int dir_len = slash ? (int)(slash - path + 1) : 0;
    for (const cJSON *e = map->child; e && !s; e = e->next) {
        if (!cJSON_IsString(e) || !is_plain_file_name(e->valuestring)) {
            s = gl_fail(err, GL_ERR_FORMAT, "%s: tensor '%s' names a bad shard file", path,
                        e->string);
            break;
        }
        char shard[4096];
        snprintf(shard, sizeof shard, "%.*s%s", dir_len, path, e->valuestring);
        int seen = 0;
        for (int f = 0; f < st->n_files && !seen; f++)
            seen = !strcmp(st->paths[f], shard);
        if (!seen) s = add_file(st, shard, err);
    }
    if (!s) s = check_unique(st, err);
    for (const cJSON *e = map->child; e && !s; e = e->next) {
        const gl_st_tensor *t = gl_st_find(st, e->string);
        const char *file = t ? st->paths[t->file] : "";
        if (!t || strcmp(gl_path_base_name(file), e->valuestring))
            s = gl_fail(err, GL_ERR_FORMAT, "%s: tensor '%s' is not in %s", path, e->string,
                        e->valuestring);
    }
    cJSON_Delete(root);
    return s;
}

gl_status gl_st_open(const char *path, gl_safetensors *st, gl_error *err) {
    memset(st, 0, sizeof *st);
    gl_status s =
        gl_path_has_suffix(path, ".json") ? open_index(st, path, err) : add_file(st, path, err);
    if (!s && !gl_path_has_suffix(path, ".json")) s = check_unique(st, err);
    if (s) gl_st_close(st);
    return s;
}

const gl_st_tensor *gl_st_find(const gl_safetensors *st, const char *name) {
    int lo = 0, hi = st->n_tensors - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        int c = strcmp(st->tensors[mid].name, name);
        if (!c) return &st->tensors[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

const char *gl_st_tensor_path(const gl_safetensors *st, const gl_st_tensor *t) {
    return st->paths[t->file];
}

void gl_st_widen(gl_st_dtype dtype, const void *src, size_t n, float *dst) {
    const unsigned char *p = src;
    for (size_t i = 0; i < n; i++) {
        uint16_t h = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
        dst[i] = dtype == GL_ST_F16 ? gl_half_to_float(h) : gl_bf16_to_float(h);
    }
}

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ x >> 33;
}

/* Four independent multiply-rotate lanes keep this near memory speed; two outputs mix them
 * differently. Not cryptographic: it keys caches, it does not authenticate. */
static void digest_block(const unsigned char *p, size_t n, uint64_t lane[4]) {
    const uint64_t k = 0x9e3779b97f4a7c15ULL;
    /* The lanes in locals: through lane[] every step stored and reloaded them (p's bytes may
     * alias them), 2.5x the instructions of the whole-file digest this replaced. */
    uint64_t l[4] = {lane[0], lane[1], lane[2], lane[3]};
    for (size_t i = 0; i + 32 <= n; i += 32) {
        for (int j = 0; j < 4; j++) {
            uint64_t w;
            memcpy(&w, p + i + 8 * j, 8);
            l[j] = (l[j] ^ w) * k;
            l[j] = l[j] << 31 | l[j] >> 33;
        }
    }
    memcpy(lane, l, sizeof l);
}

/* Blocks of the digest between releases: a multiple of the 32-byte step, so the result does
 * not depend on it. */
#define DIGEST_BLOCK ((size_t)4 << 20)

void gl_st_digest_begin(gl_st_digester *d) {
    for (int j = 0; j < 4; j++)
        d->lane[j] = (uint64_t)j + 1;
}

void gl_st_digest_add(gl_st_digester *d, const void *data, size_t n,
                      void (*release)(void *ctx, const void *p, size_t n), void *ctx) {
    const uint64_t k = 0x9e3779b97f4a7c15ULL;
    const unsigned char *p = data;
    size_t body = n & ~(size_t)31, i = 0;
    for (; i < body; i += DIGEST_BLOCK) {
        size_t len = body - i < DIGEST_BLOCK ? body - i : DIGEST_BLOCK;
        digest_block(p + i, len, d->lane);
        if (release) release(ctx, p + i, len);
    }
    for (i = body; i < n; i++)
        d->lane[i & 3] = (d->lane[i & 3] ^ p[i]) * k;
    if (release && n > body) release(ctx, p + body, n - body);
    d->lane[0] ^= n;
}

void gl_st_digest_end(const gl_st_digester *d, uint64_t out[2]) {
    const uint64_t *lane = d->lane;
    out[0] = mix64(lane[0] ^ mix64(lane[1] ^ mix64(lane[2] ^ mix64(lane[3]))));
    out[1] = mix64(lane[3] + mix64(lane[2] + mix64(lane[1] + mix64(lane[0] + 7))));
}

void gl_st_release(const gl_safetensors *st, const void *p, size_t n) {
    for (int f = 0; st && st->maps && f < st->n_files; f++)
        gl_map_release(st->maps[f], st->map_sizes[f], p, n);
}

static void release_st(void *st, const void *p, size_t n) {
    gl_st_release(st, p, n);
}

void gl_st_digest(const gl_safetensors *st, uint64_t out[2]) {
    gl_st_digester d;
    gl_st_digest_begin(&d);
    for (int f = 0; f < st->n_files; f++)
        gl_st_digest_add(&d, st->maps[f], st->map_sizes[f], release_st, (void *)st);
    gl_st_digest_end(&d, out);
}

/* ------------------------------------------------------------------ writing */

static size_t out_bytes(const gl_st_out *t) {
    size_t count = 1;
    for (int d = 0; d < t->ndim; d++)
        count *= (size_t)t->shape[d];
    return count * (!strcmp(t->dtype, "F32") ? 4 : !strcmp(t->dtype, "I8") ? 1 : 2);
}

static char *write_header(const gl_st_out *t, int n, const cJSON *metadata) {
    cJSON *root = cJSON_CreateObject();
    if (metadata) cJSON_AddItemToObject(root, "__metadata__", cJSON_Duplicate(metadata, 1));
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_AddObjectToObject(root, t[i].name);
        cJSON_AddStringToObject(e, "dtype", t[i].dtype);
        cJSON *shape = cJSON_AddArrayToObject(e, "shape");
        for (int d = 0; d < t[i].ndim; d++)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t[i].shape[d]));
        cJSON *offs = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        off += out_bytes(&t[i]);
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return json;
}

gl_status gl_st_write(const char *path, const gl_st_out *t, int n, const cJSON *metadata,
                      int (*write_data)(void *ctx, int i, FILE *fp), void *ctx, gl_error *err) {
    char *json = write_header(t, n, metadata);
    if (!json) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
    size_t hlen = strlen(json), padded = (hlen + 7) & ~(size_t)7;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    gl_atomic_file f;
    gl_status s = gl_atomic_open(&f, path, err);
    if (s) {
        free(json);
        return s;
    }
    int bad = fwrite(len8, 1, 8, f.fp) != 8 || fwrite(json, 1, hlen, f.fp) != hlen ||
              fwrite("        ", 1, padded - hlen, f.fp) !=
                  padded - hlen; /* the format pads with spaces */
    free(json);
    for (int i = 0; i < n && !bad; i++) {
        size_t bytes = out_bytes(&t[i]);
        /* little-endian hosts only, as the reader */
        bad = t[i].data ? fwrite(t[i].data, 1, bytes, f.fp) != bytes
                        : !write_data || write_data(ctx, i, f.fp) != 0;
    }
    if (bad || ferror(f.fp)) {
        gl_atomic_abort(&f);
        return gl_fail(err, GL_ERR_IO, "%s: write failed", path);
    }
    return gl_atomic_commit(&f, err);
}
