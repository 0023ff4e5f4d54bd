/* torchzip.c: the .pth reader: zip container (stored and deflated entries, zip64), a restricted
 * unpickler that builds only containers and tensors, and tensor copies to contiguous float32. */
#include "io/torchzip.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* Kinds that live only on the unpickler's stack (or inside containers of a strange pickle): a
 * reference to an allowed global, and a storage returned by persistent_load. */
#define PY_GLOBAL ((gl_py_kind)100)
#define PY_STORAGE ((gl_py_kind)101)

typedef struct py_node {
    gl_py pub; /* first, so a gl_py* is a py_node* */
    size_t cap;
    char *owned; /* string storage */
    gl_pth_tensor tensor;
    struct py_node *next_alloc;
} py_node;

typedef struct {
    char *name;
    uint64_t method, crc, comp_size, size, local_off;
} zip_entry;

typedef struct {
    char *key;
    unsigned char *data; /* malloc'ed when inflated; else points into the mapping */
    size_t bytes;
    int owned;
} storage_buf;

struct gl_pth {
    char *path;
    unsigned char *map;
    size_t map_size;
    zip_entry *entries;
    size_t n_entries;
    char *prefix; /* "archive/" */
    storage_buf *storages;
    size_t n_storages, cap_storages;
    py_node *nodes; /* every node, for freeing */
    gl_py *root;
};

/* ------------------------------------------------------------------ small helpers */

static uint64_t rd_le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static py_node *node_new(gl_pth *p, gl_py_kind kind) {
    py_node *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->pub.kind = kind;
    n->next_alloc = p->nodes;
    p->nodes = n;
    return n;
}

static int node_push_item(py_node *n, gl_py *item) {
    if (n->pub.len == n->cap) {
        size_t cap = n->cap ? n->cap * 2 : 4;
        gl_py **items = realloc(n->pub.items, cap * sizeof *items);
        if (!items) return -1;
        n->pub.items = items;
        n->cap = cap;
    }
    n->pub.items[n->pub.len++] = item;
    return 0;
}

const char *gl_py_kind_name(gl_py_kind kind) {
    switch (kind) {
    case GL_PY_NONE:
        return "None";
    case GL_PY_BOOL:
        return "bool";
    case GL_PY_INT:
        return "int";
    case GL_PY_FLOAT:
        return "float";
    case GL_PY_STR:
        return "str";
    case GL_PY_BYTES:
        return "bytes";
    case GL_PY_TUPLE:
        return "tuple";
    case GL_PY_LIST:
        return "list";
    case GL_PY_DICT:
        return "dict";
    case GL_PY_TENSOR:
        return "tensor";
    default:
        return "object";
    }
}

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

const char *gl_pth_dtype_name(gl_pth_dtype d) {
    return (int)d >= 0 && (int)d < N_DTYPES ? dtype_info[d].name : "?";
}
size_t gl_pth_dtype_size(gl_pth_dtype d) {
    return (int)d >= 0 && (int)d < N_DTYPES ? dtype_info[d].size : 0;
}

/* ------------------------------------------------------------------ zip container */

#define ZIP_EOCD 0x06054b50u
#define ZIP_EOCD64 0x06064b50u
#define ZIP_EOCD64_LOC 0x07064b50u
#define ZIP_CDIR 0x02014b50u
#define ZIP_LOCAL 0x04034b50u

static gl_status zip_find_eocd(gl_pth *p, uint64_t *cd_off, uint64_t *cd_size, uint64_t *count,
                               gl_error *err) {
    const unsigned char *m = p->map;
    size_t n = p->map_size;
    if (n < 22)
        return gl_fail(err, GL_ERR_FORMAT, "%s: %zu bytes is too short to be a zip checkpoint",
                       p->path, n);
    size_t lo = n > 22 + 65535 ? n - 22 - 65535 : 0;
    for (size_t at = n - 22 + 1; at-- > lo;) {
        if (rd_le(m + at, 4) != ZIP_EOCD || at + 22 + rd_le(m + at + 20, 2) != n) continue;
        *count = rd_le(m + at + 10, 2);
        *cd_size = rd_le(m + at + 12, 4);
        *cd_off = rd_le(m + at + 16, 4);
        if (*count == 0xFFFF || *cd_size == 0xFFFFFFFF || *cd_off == 0xFFFFFFFF) {
            if (at < 20 || rd_le(m + at - 20, 4) != ZIP_EOCD64_LOC)
                return gl_fail(err, GL_ERR_FORMAT, "%s: zip64 end record locator missing", p->path);
            uint64_t off64 = rd_le(m + at - 20 + 8, 8);
            if (off64 > n - 56 || rd_le(m + off64, 4) != ZIP_EOCD64)
                return gl_fail(err, GL_ERR_FORMAT, "%s: zip64 end record is corrupt", p->path);
            *count = rd_le(m + off64 + 32, 8);
            *cd_size = rd_le(m + off64 + 40, 8);
            *cd_off = rd_le(m + off64 + 48, 8);
        }
        if (*cd_off > n || *cd_size > n - *cd_off)
            return gl_fail(err, GL_ERR_FORMAT,
                           "%s: zip central directory [%llu, +%llu) lies outside the %zu-byte file "
                           "(truncated?)",
                           p->path, (unsigned long long)*cd_off, (unsigned long long)*cd_size, n);
        if (*count > *cd_size / 46)
            return gl_fail(err, GL_ERR_FORMAT,
                           "%s: zip claims %llu entries in a %llu-byte directory", p->path,
                           (unsigned long long)*count, (unsigned long long)*cd_size);
        return GL_OK;
    }
    if (n >= 2 && m[0] == 0x80 && m[1] <= 5)
        return gl_fail(err, GL_ERR_UNSUPPORTED,
                       "%s: legacy (pre-1.6, non-zip) torch.save format is not supported; re-save "
                       "it with a current PyTorch",
                       p->path);
    return gl_fail(err, GL_ERR_FORMAT,
                   "%s: not a zip checkpoint (no end-of-central-directory record; truncated?)",
                   p->path);
}

/* Reads the zip64 extended-information extra field for the fields that overflowed. */
static gl_status zip64_extra(gl_pth *p, const unsigned char *x, size_t xlen, zip_entry *e,
                             gl_error *err) {
    for (size_t at = 0; at + 4 <= xlen;) {
        size_t id = rd_le(x + at, 2), sz = rd_le(x + at + 2, 2);
        if (at + 4 + sz > xlen) break;
        if (id == 1) {
            const unsigned char *f = x + at + 4;
            size_t left = sz;
            uint64_t *fields[3] = {&e->size, &e->comp_size, &e->local_off};
            for (int i = 0; i < 3; i++) {
                if (*fields[i] != 0xFFFFFFFF) continue;
                if (left < 8)
                    return gl_fail(err, GL_ERR_FORMAT, "%s: entry '%s' has a short zip64 field",
                                   p->path, e->name);
                *fields[i] = rd_le(f, 8);
                f += 8;
                left -= 8;
            }
            return GL_OK;
        }
        at += 4 + sz;
    }
    return GL_OK;
}

static gl_status zip_read_directory(gl_pth *p, gl_error *err) {
    uint64_t cd_off = 0, cd_size = 0, count = 0;
    gl_status s = zip_find_eocd(p, &cd_off, &cd_size, &count, err);
    if (s) return s;
    p->entries = calloc(count ? count : 1, sizeof *p->entries);
    if (!p->entries) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", p->path);
    const unsigned char *at = p->map + cd_off, *end = at + cd_size;
    for (uint64_t i = 0; i < count; i++) {
        if (end - at < 46 || rd_le(at, 4) != ZIP_CDIR)
            return gl_fail(err, GL_ERR_FORMAT, "%s: zip central directory entry %llu is corrupt",
                           p->path, (unsigned long long)i);
        size_t nlen = rd_le(at + 28, 2), xlen = rd_le(at + 30, 2), clen = rd_le(at + 32, 2);
        if ((size_t)(end - at) < 46 + nlen + xlen + clen)
            return gl_fail(err, GL_ERR_FORMAT,
                           "%s: zip central directory entry %llu overruns the directory", p->path,
                           (unsigned long long)i);
        zip_entry *e = &p->entries[p->n_entries++];
        e->name = strndup((const char *)at + 46, nlen);
        if (!e->name) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", p->path);
        e->method = rd_le(at + 10, 2);
        e->crc = rd_le(at + 16, 4);
        e->comp_size = rd_le(at + 20, 4);
        e->size = rd_le(at + 24, 4);
        e->local_off = rd_le(at + 42, 4);
        if ((s = zip64_extra(p, at + 46 + nlen, xlen, e, err))) return s;
        at += 46 + nlen + xlen + clen;
    }
    return GL_OK;
}

static const zip_entry *zip_find(const gl_pth *p, const char *name) {
    for (size_t i = 0; i < p->n_entries; i++)
        if (!strcmp(p->entries[i].name, name)) return &p->entries[i];
    return NULL;
}

/* Returns the entry's bytes: a pointer into the mapping for stored entries, a malloc'ed buffer
 * (*owned = 1) for deflated ones. The CRC is checked either way. */
static gl_status zip_entry_data(gl_pth *p, const zip_entry *e, unsigned char **out, int *owned,
                                gl_error *err) {
    size_t n = p->map_size;
    *out = NULL;
    *owned = 0;
    if (e->local_off > n || n - e->local_off < 30 || rd_le(p->map + e->local_off, 4) != ZIP_LOCAL)
        return gl_fail(err, GL_ERR_FORMAT,
                       "%s: entry '%s': local header at %llu is missing (truncated or corrupt zip)",
                       p->path, e->name, (unsigned long long)e->local_off);
    const unsigned char *lh = p->map + e->local_off;
    uint64_t start = e->local_off + 30 + rd_le(lh + 26, 2) + rd_le(lh + 28, 2);
    if (start > n || e->comp_size > n - start)
        return gl_fail(err, GL_ERR_FORMAT,
                       "%s: entry '%s' data [%llu, +%llu) runs past the %zu-byte file (truncated?)",
                       p->path, e->name, (unsigned long long)start,
                       (unsigned long long)e->comp_size, n);
    const unsigned char *src = p->map + start;
    unsigned char *data;
    if (e->method == 0) {
        if (e->size != e->comp_size)
            return gl_fail(err, GL_ERR_FORMAT, "%s: stored entry '%s' has differing sizes", p->path,
                           e->name);
        data = (unsigned char *)src;
    } else if (e->method == 8) {
        /* Deflate expands at most ~1032:1, so a larger claim is corruption, not a big tensor. */
        if (e->size > e->comp_size * 1032 + 1024)
            return gl_fail(err, GL_ERR_FORMAT,
                           "%s: entry '%s' claims %llu bytes from %llu compressed", p->path,
                           e->name, (unsigned long long)e->size, (unsigned long long)e->comp_size);
        data = malloc(e->size ? e->size : 1);
        if (!data)
            return gl_fail(err, GL_ERR_NOMEM, "%s: entry '%s': out of memory", p->path, e->name);
        z_stream z = {0};
        int ok = inflateInit2(&z, -15) == Z_OK;
        z.next_in = (unsigned char *)src;
        z.avail_in = (uInt)e->comp_size;
        z.next_out = data;
        z.avail_out = (uInt)e->size;
        ok = ok && e->comp_size <= UINT32_MAX && e->size <= UINT32_MAX &&
             inflate(&z, Z_FINISH) == Z_STREAM_END && z.total_out == e->size;
        inflateEnd(&z);
        if (!ok) {
            free(data);
            return gl_fail(err, GL_ERR_FORMAT, "%s: entry '%s' does not inflate (corrupt)", p->path,
                           e->name);
        }
        *owned = 1;
    } else {
        return gl_fail(err, GL_ERR_UNSUPPORTED,
                       "%s: entry '%s' uses zip method %llu (only stored and deflated are read)",
                       p->path, e->name, (unsigned long long)e->method);
    }
    uLong crc = crc32(0L, Z_NULL, 0);
    for (uint64_t done = 0; done < e->size;) {
        uInt chunk = (uInt)(e->size - done > (1u << 30) ? (1u << 30) : e->size - done);
        crc = crc32(crc, data + done, chunk);
        done += chunk;
    }
    if (crc != e->crc) {
        if (*owned) free(data);
        *owned = 0;
        return gl_fail(err, GL_ERR_FORMAT, "%s: entry '%s' fails its CRC check (corrupt)", p->path,
                       e->name);
    }
    *out = data;
    return GL_OK;
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
    const zip_entry *e = zip_find(p, name);
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
    gl_status s = zip_entry_data(p, e, &sb->data, &sb->owned, err);
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

/* ------------------------------------------------------------------ restricted unpickler */

typedef struct {
    gl_pth *p;
    const unsigned char *buf;
    size_t len, pos;
    gl_py **stack;
    size_t sp, stack_cap;
    size_t *marks;
    size_t n_marks, marks_cap;
    gl_py **memo;
    size_t memo_cap, memo_count;
    gl_error *err;
} unpickler;

static gl_status up_fail(unpickler *u, gl_status code, const char *what) {
    return gl_fail(u->err, code, "%s: data.pkl byte %zu: %s", u->p->path, u->pos, what);
}

static gl_status up_push(unpickler *u, gl_py *v) {
    if (!v) return up_fail(u, GL_ERR_NOMEM, "out of memory");
    if (u->sp == u->stack_cap) {
        size_t cap = u->stack_cap ? u->stack_cap * 2 : 64;
        gl_py **s = realloc(u->stack, cap * sizeof *s);
        if (!s) return up_fail(u, GL_ERR_NOMEM, "out of memory");
        u->stack = s;
        u->stack_cap = cap;
    }
    u->stack[u->sp++] = v;
    return GL_OK;
}

static gl_status push_new(unpickler *u, gl_py_kind kind) {
    py_node *n = node_new(u->p, kind);
    return up_push(u, n ? &n->pub : NULL);
}

static gl_py *up_pop(unpickler *u) {
    size_t floor = u->n_marks ? u->marks[u->n_marks - 1] : 0;
    return u->sp > floor ? u->stack[--u->sp] : NULL;
}

static gl_py *up_top(unpickler *u) {
    size_t floor = u->n_marks ? u->marks[u->n_marks - 1] : 0;
    return u->sp > floor ? u->stack[u->sp - 1] : NULL;
}

static const unsigned char *up_take(unpickler *u, size_t n) {
    if (n > u->len - u->pos) return NULL;
    const unsigned char *r = u->buf + u->pos;
    u->pos += n;
    return r;
}

static gl_py *new_scalar(unpickler *u, gl_py_kind kind, int64_t i, double f) {
    py_node *n = node_new(u->p, kind);
    if (!n) return NULL;
    n->pub.i = i;
    n->pub.f = f;
    return &n->pub;
}

static gl_py *new_string(unpickler *u, gl_py_kind kind, const unsigned char *s, size_t len) {
    py_node *n = node_new(u->p, kind);
    if (!n || !(n->owned = malloc(len + 1))) return NULL;
    memcpy(n->owned, s, len);
    n->owned[len] = 0;
    n->pub.s = n->owned;
    n->pub.len = len;
    return &n->pub;
}

static gl_status op_string(unpickler *u, gl_py_kind kind, int len_bytes) {
    const unsigned char *lp = up_take(u, (size_t)len_bytes);
    if (!lp) return up_fail(u, GL_ERR_FORMAT, "truncated string length");
    uint64_t n = rd_le(lp, len_bytes);
    const unsigned char *s = n <= u->len ? up_take(u, (size_t)n) : NULL;
    if (!s) return up_fail(u, GL_ERR_FORMAT, "string runs past the end of the pickle");
    return up_push(u, new_string(u, kind, s, (size_t)n));
}

static gl_status op_mark(unpickler *u) {
    if (u->n_marks == u->marks_cap) {
        size_t cap = u->marks_cap ? u->marks_cap * 2 : 32;
        size_t *m = realloc(u->marks, cap * sizeof *m);
        if (!m) return up_fail(u, GL_ERR_NOMEM, "out of memory");
        u->marks = m;
        u->marks_cap = cap;
    }
    u->marks[u->n_marks++] = u->sp;
    return GL_OK;
}

/* Pops everything above the last mark into a new container of the given kind. */
static gl_status op_from_mark(unpickler *u, gl_py_kind kind) {
    if (!u->n_marks) return up_fail(u, GL_ERR_FORMAT, "no MARK on the stack");
    size_t base = u->marks[--u->n_marks];
    py_node *n = node_new(u->p, kind);
    if (!n) return up_fail(u, GL_ERR_NOMEM, "out of memory");
    if (kind == GL_PY_DICT && (u->sp - base) % 2)
        return up_fail(u, GL_ERR_FORMAT, "DICT with an odd number of items");
    for (size_t i = base; i < u->sp; i++)
        if (node_push_item(n, u->stack[i])) return up_fail(u, GL_ERR_NOMEM, "out of memory");
    if (kind == GL_PY_DICT) n->pub.len /= 2;
    u->sp = base;
    return up_push(u, &n->pub);
}

static gl_status op_tuple_n(unpickler *u, int k) {
    py_node *n = node_new(u->p, GL_PY_TUPLE);
    if (!n) return up_fail(u, GL_ERR_NOMEM, "out of memory");
    size_t floor = u->n_marks ? u->marks[u->n_marks - 1] : 0;
    if (u->sp < floor + (size_t)k)
        return up_fail(u, GL_ERR_FORMAT, "stack underflow building a tuple");
    for (size_t i = u->sp - (size_t)k; i < u->sp; i++)
        if (node_push_item(n, u->stack[i])) return up_fail(u, GL_ERR_NOMEM, "out of memory");
    u->sp -= (size_t)k;
    return up_push(u, &n->pub);
}

/* APPEND(S) and SETITEM(S): items above the mark (or the top one or two) go into the container
 * just below them. */
static gl_status op_add_items(unpickler *u, int per_item, int from_mark) {
    size_t base;
    if (from_mark) {
        if (!u->n_marks) return up_fail(u, GL_ERR_FORMAT, "no MARK on the stack");
        base = u->marks[--u->n_marks];
    } else {
        size_t floor = u->n_marks ? u->marks[u->n_marks - 1] : 0;
        if (u->sp < floor + (size_t)per_item + 1)
            return up_fail(u, GL_ERR_FORMAT, "stack underflow");
        base = u->sp - (size_t)per_item;
    }
    size_t floor = u->n_marks ? u->marks[u->n_marks - 1] : 0;
    if (base == 0 || base - 1 < floor)
        return up_fail(u, GL_ERR_FORMAT, "no container below the items");
    gl_py *c = u->stack[base - 1];
    gl_py_kind want = per_item == 2 ? GL_PY_DICT : GL_PY_LIST;
    if (c->kind != want || (u->sp - base) % (size_t)per_item)
        return up_fail(u, GL_ERR_FORMAT,
                       per_item == 2 ? "SETITEM(S) on something not a dict"
                                     : "APPEND(S) on something not a list");
    py_node *n = (py_node *)c;
    if (want == GL_PY_DICT) n->pub.len *= 2;
    for (size_t i = base; i < u->sp; i++)
        if (node_push_item(n, u->stack[i])) return up_fail(u, GL_ERR_NOMEM, "out of memory");
    if (want == GL_PY_DICT) n->pub.len /= 2;
    u->sp = base;
    return GL_OK;
}

static gl_status op_memo_put(unpickler *u, uint64_t idx) {
    gl_py *top = up_top(u);
    if (!top) return up_fail(u, GL_ERR_FORMAT, "memo put on an empty stack");
    /* Real pickles number memo entries densely; a sparse huge index is refused, not allocated. */
    if (idx > u->len + 16) return up_fail(u, GL_ERR_FORMAT, "memo index beyond the pickle's size");
    if (idx >= u->memo_cap) {
        size_t cap = u->memo_cap ? u->memo_cap : 64;
        while (cap <= idx)
            cap *= 2;
        gl_py **m = realloc(u->memo, cap * sizeof *m);
        if (!m) return up_fail(u, GL_ERR_NOMEM, "out of memory");
        memset(m + u->memo_cap, 0, (cap - u->memo_cap) * sizeof *m);
        u->memo = m;
        u->memo_cap = cap;
    }
    if (!u->memo[idx]) u->memo_count++;
    u->memo[idx] = top;
    return GL_OK;
}

static gl_status op_memo_get(unpickler *u, uint64_t idx) {
    if (idx >= u->memo_cap || !u->memo[idx])
        return up_fail(u, GL_ERR_FORMAT, "memo get of an unset index");
    return up_push(u, u->memo[idx]);
}

static const char *const allowed_globals[] = {
    "collections.OrderedDict",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_parameter",
};

static gl_status op_global(unpickler *u, const char *module, size_t mlen, const char *name,
                           size_t nlen) {
    char full[256];
    if (mlen + nlen + 2 > sizeof full)
        return up_fail(u, GL_ERR_UNSUPPORTED, "over-long global name");
    snprintf(full, sizeof full, "%.*s.%.*s", (int)mlen, module, (int)nlen, name);
    int ok = 0;
    for (size_t i = 0; i < sizeof allowed_globals / sizeof *allowed_globals; i++)
        ok |= !strcmp(full, allowed_globals[i]);
    for (int d = 0; d < N_DTYPES && !ok; d++)
        ok = mlen == 5 && !memcmp(module, "torch", 5) && strlen(dtype_info[d].storage) == nlen &&
             !memcmp(name, dtype_info[d].storage, nlen);
    if (!ok) {
        for (char *c = full; *c; c++)
            if ((unsigned char)*c < 32 || (unsigned char)*c > 126) *c = '?';
        return gl_fail(u->err, GL_ERR_UNSUPPORTED,
                       "%s: data.pkl byte %zu: pickle global '%s' is not allowed (a checkpoint may "
                       "only build tensors and containers)",
                       u->p->path, u->pos, full);
    }
    return up_push(u, new_string(u, PY_GLOBAL, (const unsigned char *)full, strlen(full)));
}

static gl_status op_global_text(unpickler *u) {
    const char *start = (const char *)u->buf + u->pos;
    size_t left = u->len - u->pos;
    const char *nl1 = memchr(start, '\n', left);
    const char *nl2 = nl1 ? memchr(nl1 + 1, '\n', left - (size_t)(nl1 + 1 - start)) : NULL;
    if (!nl2) return up_fail(u, GL_ERR_FORMAT, "truncated GLOBAL");
    u->pos += (size_t)(nl2 + 1 - start);
    return op_global(u, start, (size_t)(nl1 - start), nl1 + 1, (size_t)(nl2 - nl1 - 1));
}

static gl_status op_stack_global(unpickler *u) {
    gl_py *name = up_pop(u), *module = up_pop(u);
    if (!name || !module || name->kind != GL_PY_STR || module->kind != GL_PY_STR)
        return up_fail(u, GL_ERR_FORMAT, "STACK_GLOBAL needs two strings");
    return op_global(u, module->s, module->len, name->s, name->len);
}

/* persistent_load: ('storage', torch.<X>Storage, key, location, numel). */
static gl_status op_persid(unpickler *u) {
    gl_py *t = up_pop(u);
    if (!t || t->kind != GL_PY_TUPLE || t->len < 5 || t->items[0]->kind != GL_PY_STR ||
        strcmp(t->items[0]->s, "storage") || t->items[1]->kind != PY_GLOBAL ||
        t->items[2]->kind != GL_PY_STR || t->items[4]->kind != GL_PY_INT || t->items[4]->i < 0)
        return up_fail(u, GL_ERR_FORMAT,
                       "persistent id is not ('storage', type, key, location, numel)");
    const char *type = t->items[1]->s;
    int dtype = -1;
    for (int d = 0; d < N_DTYPES; d++)
        if (!strncmp(type, "torch.", 6) && !strcmp(type + 6, dtype_info[d].storage)) dtype = d;
    if (dtype < 0) return up_fail(u, GL_ERR_UNSUPPORTED, "persistent id names no storage type");
    storage_buf *sb = NULL;
    gl_status s = storage_get(u->p, t->items[2]->s, &sb, u->err);
    if (s) return s;
    uint64_t numel = (uint64_t)t->items[4]->i;
    if (numel > sb->bytes / dtype_info[dtype].size)
        return gl_fail(u->err, GL_ERR_FORMAT,
                       "%s: storage '%s' holds %zu bytes, fewer than %llu %s values", u->p->path,
                       sb->key, sb->bytes, (unsigned long long)numel, dtype_info[dtype].name);
    py_node *n = node_new(u->p, PY_STORAGE);
    if (!n) return up_fail(u, GL_ERR_NOMEM, "out of memory");
    n->tensor.dtype = (gl_pth_dtype)dtype;
    n->tensor.storage_key = sb->key;
    n->tensor.storage = sb->data;
    n->tensor.storage_bytes = (size_t)numel * dtype_info[dtype].size;
    return up_push(u, &n->pub);
}

static int is_int_tuple(const gl_py *t, int max_len) {
    if (t->kind != GL_PY_TUPLE || t->len > (size_t)max_len) return 0;
    for (size_t i = 0; i < t->len; i++)
        if (t->items[i]->kind != GL_PY_INT || t->items[i]->i < 0) return 0;
    return 1;
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]). */
static gl_status rebuild_tensor(unpickler *u, const gl_py *args) {
    if (args->len < 4 || args->items[0]->kind != PY_STORAGE || args->items[1]->kind != GL_PY_INT ||
        args->items[1]->i < 0 || !is_int_tuple(args->items[2], GL_PTH_MAX_DIMS) ||
        !is_int_tuple(args->items[3], GL_PTH_MAX_DIMS) ||
        args->items[2]->len != args->items[3]->len)
        return up_fail(u, GL_ERR_FORMAT, "malformed _rebuild_tensor_v2 arguments");
    const gl_pth_tensor *st = &((const py_node *)args->items[0])->tensor;
    py_node *n = node_new(u->p, GL_PY_TENSOR);
    if (!n) return up_fail(u, GL_ERR_NOMEM, "out of memory");
    gl_pth_tensor *t = &n->tensor;
    *t = *st;
    t->ndim = (int)args->items[2]->len;
    t->offset = args->items[1]->i;
    t->numel = 1;
    uint64_t capacity = st->storage_bytes / dtype_info[st->dtype].size;
    uint64_t last = (uint64_t)t->offset;
    for (int d = 0; d < t->ndim; d++) {
        t->shape[d] = args->items[2]->items[d]->i;
        t->stride[d] = args->items[3]->items[d]->i;
        if (t->shape[d] > (int64_t)1 << 40 || t->stride[d] > (int64_t)1 << 40)
            return up_fail(u, GL_ERR_LIMIT, "tensor dimension beyond limits");
        t->numel *= t->shape[d];
        if (t->numel > (int64_t)1 << 40)
            return up_fail(u, GL_ERR_LIMIT, "tensor size beyond limits");
        if (t->shape[d]) last += (uint64_t)(t->shape[d] - 1) * (uint64_t)t->stride[d];
    }
    if (t->numel && last >= capacity)
        return gl_fail(u->err, GL_ERR_FORMAT,
                       "%s: a tensor view reaches element %llu of storage '%s', which holds %llu",
                       u->p->path, (unsigned long long)last, t->storage_key,
                       (unsigned long long)capacity);
    n->pub.tensor = t;
    return up_push(u, &n->pub);
}

static gl_status op_reduce(unpickler *u) {
    gl_py *args = up_pop(u), *fn = up_pop(u);
    if (!args || !fn) return up_fail(u, GL_ERR_FORMAT, "REDUCE on an empty stack");
    if (fn->kind != PY_GLOBAL)
        return up_fail(u, GL_ERR_UNSUPPORTED, "REDUCE on something that is not an allowed global");
    if (args->kind != GL_PY_TUPLE)
        return up_fail(u, GL_ERR_FORMAT, "REDUCE arguments are not a tuple");
    if (!strcmp(fn->s, "collections.OrderedDict")) {
        if (args->len) return up_fail(u, GL_ERR_UNSUPPORTED, "OrderedDict() with arguments");
        py_node *n = node_new(u->p, GL_PY_DICT);
        if (n) n->pub.ordered = 1;
        return up_push(u, n ? &n->pub : NULL);
    }
    if (!strcmp(fn->s, "torch._utils._rebuild_tensor_v2")) return rebuild_tensor(u, args);
    if (!strcmp(fn->s, "torch._utils._rebuild_parameter")) {
        if (args->len < 1 || args->items[0]->kind != GL_PY_TENSOR)
            return up_fail(u, GL_ERR_FORMAT, "malformed _rebuild_parameter arguments");
        py_node *n = node_new(u->p, GL_PY_TENSOR);
        if (!n) return up_fail(u, GL_ERR_NOMEM, "out of memory");
        n->tensor = *args->items[0]->tensor;
        n->tensor.is_parameter = 1;
        n->pub.tensor = &n->tensor;
        return up_push(u, &n->pub);
    }
    char msg[320];
    snprintf(msg, sizeof msg, "calling '%s' is not allowed", fn->s);
    return up_fail(u, GL_ERR_UNSUPPORTED, msg);
}

/* BUILD sets attributes (OrderedDict._metadata, tensor hooks); we keep the object as it is. */
static gl_status op_build(unpickler *u) {
    gl_py *state = up_pop(u), *obj = up_top(u);
    if (!state || !obj) return up_fail(u, GL_ERR_FORMAT, "BUILD on an empty stack");
    if (obj->kind != GL_PY_DICT && obj->kind != GL_PY_TENSOR)
        return up_fail(u, GL_ERR_UNSUPPORTED, "BUILD on something that is not a dict or tensor");
    return GL_OK;
}

static gl_status op_int(unpickler *u, int nbytes, int is_signed) {
    const unsigned char *b = up_take(u, (size_t)nbytes);
    if (!b) return up_fail(u, GL_ERR_FORMAT, "truncated integer");
    uint64_t v = rd_le(b, nbytes);
    int64_t x = (int64_t)v;
    if (is_signed && nbytes < 8 && (v >> (8 * nbytes - 1)) & 1)
        x = (int64_t)(v | (~0ULL << (8 * nbytes)));
    return up_push(u, new_scalar(u, GL_PY_INT, x, 0));
}

static gl_status op_long1(unpickler *u) {
    const unsigned char *lp = up_take(u, 1);
    if (!lp) return up_fail(u, GL_ERR_FORMAT, "truncated LONG1");
    if (*lp > 8) return up_fail(u, GL_ERR_UNSUPPORTED, "integer wider than 64 bits");
    if (*lp == 0) return up_push(u, new_scalar(u, GL_PY_INT, 0, 0));
    return op_int(u, *lp, 1);
}

static gl_status op_binfloat(unpickler *u) {
    const unsigned char *b = up_take(u, 8);
    if (!b) return up_fail(u, GL_ERR_FORMAT, "truncated BINFLOAT");
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i]; /* big-endian */
    double d;
    memcpy(&d, &v, 8);
    return up_push(u, new_scalar(u, GL_PY_FLOAT, 0, d));
}

static gl_status op_arg_index(unpickler *u, int nbytes, int put) {
    const unsigned char *b = up_take(u, (size_t)nbytes);
    if (!b) return up_fail(u, GL_ERR_FORMAT, "truncated memo index");
    uint64_t idx = rd_le(b, nbytes);
    return put ? op_memo_put(u, idx) : op_memo_get(u, idx);
}

static gl_status up_step(unpickler *u, int op, int *stop) {
    switch (op) {
    case 0x80:
        return up_take(u, 1) ? GL_OK : up_fail(u, GL_ERR_FORMAT, "truncated PROTO");
    case 0x95:
        return up_take(u, 8) ? GL_OK : up_fail(u, GL_ERR_FORMAT, "truncated FRAME");
    case '}':
        return push_new(u, GL_PY_DICT);
    case ']':
        return push_new(u, GL_PY_LIST);
    case ')':
        return push_new(u, GL_PY_TUPLE);
    case '(':
        return op_mark(u);
    case 'X':
        return op_string(u, GL_PY_STR, 4);
    case 0x8c:
        return op_string(u, GL_PY_STR, 1);
    case 0x8d:
        return op_string(u, GL_PY_STR, 8);
    case 'U':
        return op_string(u, GL_PY_STR, 1);
    case 'T':
        return op_string(u, GL_PY_STR, 4);
    case 'C':
        return op_string(u, GL_PY_BYTES, 1);
    case 'B':
        return op_string(u, GL_PY_BYTES, 4);
    case 0x8e:
        return op_string(u, GL_PY_BYTES, 8);
    case 'q':
        return op_arg_index(u, 1, 1);
    case 'r':
        return op_arg_index(u, 4, 1);
    case 0x94:
        return op_memo_put(u, u->memo_count);
    case 'h':
        return op_arg_index(u, 1, 0);
    case 'j':
        return op_arg_index(u, 4, 0);
    case 'c':
        return op_global_text(u);
    case 0x93:
        return op_stack_global(u);
    case 'J':
        return op_int(u, 4, 1);
    case 'K':
        return op_int(u, 1, 0);
    case 'M':
        return op_int(u, 2, 0);
    case 0x8a:
        return op_long1(u);
    case 'G':
        return op_binfloat(u);
    case 0x88:
        return up_push(u, new_scalar(u, GL_PY_BOOL, 1, 0));
    case 0x89:
        return up_push(u, new_scalar(u, GL_PY_BOOL, 0, 0));
    case 'N':
        return up_push(u, new_scalar(u, GL_PY_NONE, 0, 0));
    case 't':
        return op_from_mark(u, GL_PY_TUPLE);
    case 0x85:
        return op_tuple_n(u, 1);
    case 0x86:
        return op_tuple_n(u, 2);
    case 0x87:
        return op_tuple_n(u, 3);
    case 'l':
        return op_from_mark(u, GL_PY_LIST);
    case 'd':
        return op_from_mark(u, GL_PY_DICT);
    case 'a':
        return op_add_items(u, 1, 0);
    case 'e':
        return op_add_items(u, 1, 1);
    case 's':
        return op_add_items(u, 2, 0);
    case 'u':
        return op_add_items(u, 2, 1);
    case 'R':
        return op_reduce(u);
    case 'b':
        return op_build(u);
    case 'Q':
        return op_persid(u);
    case '.':
        *stop = 1;
        return GL_OK;
    default: {
        char msg[96];
        snprintf(msg, sizeof msg, "pickle opcode 0x%02x is not allowed", op);
        return up_fail(u, GL_ERR_UNSUPPORTED, msg);
    }
    }
}

static gl_status unpickle(gl_pth *p, const unsigned char *buf, size_t len, gl_error *err) {
    unpickler u = {.p = p, .buf = buf, .len = len, .err = err};
    gl_status s = GL_OK;
    int stop = 0;
    while (!s && !stop) {
        if (u.pos >= u.len) {
            s = up_fail(&u, GL_ERR_FORMAT, "pickle ends without STOP (truncated)");
            break;
        }
        s = up_step(&u, u.buf[u.pos++], &stop);
    }
    if (!s && (u.sp != 1 || u.n_marks))
        s = up_fail(&u, GL_ERR_FORMAT, "STOP with a malformed stack");
    if (!s && (u.stack[0]->kind == PY_GLOBAL || u.stack[0]->kind == PY_STORAGE))
        s = up_fail(&u, GL_ERR_UNSUPPORTED, "the pickled object is a bare global or storage");
    if (!s) p->root = u.stack[0];
    free(u.stack);
    free(u.marks);
    free(u.memo);
    return s;
}

/* ------------------------------------------------------------------ open / free */

static gl_status map_file(gl_pth *p, gl_error *err) {
    int fd = open(p->path, O_RDONLY);
    if (fd < 0) return gl_fail(err, GL_ERR_IO, "%s: cannot open: %s", p->path, strerror(errno));
    struct stat st;
    gl_status s = GL_OK;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        s = gl_fail(err, GL_ERR_IO, "%s: not a regular file", p->path);
    else if (st.st_size == 0)
        s = gl_fail(err, GL_ERR_FORMAT, "%s: empty file", p->path);
    if (!s) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED)
            s = gl_fail(err, GL_ERR_IO, "%s: cannot map: %s", p->path, strerror(errno));
        else {
            p->map = m;
            p->map_size = (size_t)st.st_size;
        }
    }
    close(fd);
    return s;
}

/* The pickle is "<prefix>data.pkl"; storages sit beside it under "<prefix>data/". */
static gl_status find_pickle(gl_pth *p, const zip_entry **pkl, gl_error *err) {
    *pkl = NULL;
    for (size_t i = 0; i < p->n_entries && !*pkl; i++) {
        const char *nm = p->entries[i].name;
        size_t n = strlen(nm);
        if (n >= 8 && !strcmp(nm + n - 8, "data.pkl") && (n == 8 || nm[n - 9] == '/'))
            *pkl = &p->entries[i];
    }
    if (!*pkl)
        return gl_fail(err, GL_ERR_FORMAT, "%s: zip has no data.pkl (not a torch.save checkpoint)",
                       p->path);
    size_t plen = strlen((*pkl)->name) - 8;
    p->prefix = strndup((*pkl)->name, plen);
    if (!p->prefix) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", p->path);
    char name[512];
    snprintf(name, sizeof name, "%sbyteorder", p->prefix);
    const zip_entry *bo = zip_find(p, name);
    if (bo) {
        unsigned char *d;
        int owned;
        gl_status s = zip_entry_data(p, bo, &d, &owned, err);
        if (s) return s;
        int little = bo->size == 6 && !memcmp(d, "little", 6);
        if (owned) free(d);
        if (!little)
            return gl_fail(err, GL_ERR_UNSUPPORTED, "%s: big-endian checkpoints are not supported",
                           p->path);
    }
    return GL_OK;
}

gl_pth *gl_pth_open(const char *path, gl_error *err) {
    gl_pth *p = calloc(1, sizeof *p);
    if (!p || !(p->path = strdup(path))) {
        free(p);
        gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    const zip_entry *pkl;
    unsigned char *pdata = NULL;
    int powned = 0;
    gl_status s = map_file(p, err);
    if (!s) s = zip_read_directory(p, err);
    if (!s) s = find_pickle(p, &pkl, err);
    if (!s) s = zip_entry_data(p, pkl, &pdata, &powned, err);
    if (!s) s = unpickle(p, pdata, pkl->size, err);
    if (powned) free(pdata);
    if (s) {
        gl_pth_free(p);
        return NULL;
    }
    return p;
}

void gl_pth_free(gl_pth *p) {
    if (!p) return;
    for (py_node *n = p->nodes, *next; n; n = next) {
        next = n->next_alloc;
        free(n->pub.items);
        free(n->owned);
        free(n);
    }
    for (size_t i = 0; i < p->n_storages; i++) {
        if (p->storages[i].owned) free(p->storages[i].data);
        free(p->storages[i].key);
    }
    free(p->storages);
    for (size_t i = 0; i < p->n_entries; i++)
        free(p->entries[i].name);
    free(p->entries);
    if (p->map) munmap(p->map, p->map_size);
    free(p->prefix);
    free(p->path);
    free(p);
}

const char *gl_pth_path(const gl_pth *p) {
    return p->path;
}
const gl_py *gl_pth_root(const gl_pth *p) {
    return p->root;
}

/* ------------------------------------------------------------------ lookups */

/* Scans from the end so a repeated key resolves as Python's dict would: the last one wins. */
const gl_py *gl_py_get(const gl_py *d, const char *key) {
    if (!d || d->kind != GL_PY_DICT) return NULL;
    for (size_t k = d->len; k-- > 0;) {
        const gl_py *kk = d->items[2 * k];
        if (kk->kind == GL_PY_STR && !strcmp(kk->s, key)) return d->items[2 * k + 1];
    }
    return NULL;
}

const gl_py *gl_py_get_int(const gl_py *d, int64_t key) {
    if (!d || d->kind != GL_PY_DICT) return NULL;
    for (size_t k = d->len; k-- > 0;) {
        const gl_py *kk = d->items[2 * k];
        if (kk->kind == GL_PY_INT && kk->i == key) return d->items[2 * k + 1];
    }
    return NULL;
}

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

static float half_to_float(uint16_t h) {
    int sign = h >> 15, exp = (h >> 10) & 31, mant = h & 1023;
    float v;
    if (exp == 0)
        v = ldexpf((float)mant, -24);
    else if (exp == 31)
        v = mant ? NAN : INFINITY;
    else
        v = ldexpf((float)(mant | 1024), exp - 25);
    return sign ? -v : v;
}

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
        return half_to_float((uint16_t)rd_le(b, 2));
    case GL_PTH_BF16: {
        uint32_t u = (uint32_t)rd_le(b, 2) << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    case GL_PTH_I64:
        return (float)(int64_t)rd_le(b, 8);
    case GL_PTH_I32:
        return (float)(int32_t)rd_le(b, 4);
    case GL_PTH_I16:
        return (float)(int16_t)rd_le(b, 2);
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
