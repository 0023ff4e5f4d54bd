/* pickle.c: the restricted unpickler: the pickle virtual machine's stack, marks and memo for the
 * opcodes torch.save emits, Python containers and scalars; everything else goes to the host. */
#include "io/pickle.h"

#include "io/bytes.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The opcodes we execute, named and valued as in CPython's Lib/pickletools.py. Any other byte in
 * opcode position is refused. */
enum {
    OP_MARK = '(',
    OP_STOP = '.',
    OP_BININT = 'J',
    OP_BININT1 = 'K',
    OP_BININT2 = 'M',
    OP_NONE = 'N',
    OP_BINPERSID = 'Q',
    OP_REDUCE = 'R',
    OP_BINSTRING = 'T',
    OP_SHORT_BINSTRING = 'U',
    OP_BINUNICODE = 'X',
    OP_APPEND = 'a',
    OP_BUILD = 'b',
    OP_GLOBAL = 'c',
    OP_DICT = 'd',
    OP_EMPTY_DICT = '}',
    OP_APPENDS = 'e',
    OP_BINGET = 'h',
    OP_LONG_BINGET = 'j',
    OP_LIST = 'l',
    OP_EMPTY_LIST = ']',
    OP_BINPUT = 'q',
    OP_LONG_BINPUT = 'r',
    OP_SETITEM = 's',
    OP_TUPLE = 't',
    OP_EMPTY_TUPLE = ')',
    OP_SETITEMS = 'u',
    OP_BINFLOAT = 'G',
    OP_BINBYTES = 'B',
    OP_SHORT_BINBYTES = 'C',
    OP_PROTO = 0x80,
    OP_TUPLE1 = 0x85,
    OP_TUPLE2 = 0x86,
    OP_TUPLE3 = 0x87,
    OP_NEWTRUE = 0x88,
    OP_NEWFALSE = 0x89,
    OP_LONG1 = 0x8a,
    OP_SHORT_BINUNICODE = 0x8c,
    OP_BINUNICODE8 = 0x8d,
    OP_BINBYTES8 = 0x8e,
    OP_STACK_GLOBAL = 0x93,
    OP_MEMOIZE = 0x94,
    OP_FRAME = 0x95,
};

typedef struct py_node {
    gl_py pub; /* first, so a gl_py* is a py_node* */
    size_t cap;
    char *owned; /* string storage */
    struct py_node *next_alloc;
    max_align_t extra[]; /* gl_pickle_new's extra bytes */
} py_node;

struct gl_pickle {
    const gl_pickle_hooks *h;
    gl_py_arena *arena;
    const unsigned char *buf;
    size_t len, pos;
    gl_py **stack;
    size_t sp, stack_cap;
    size_t *marks;
    size_t n_marks, marks_cap;
    gl_py **memo;
    size_t memo_cap, memo_count;
    gl_error *err;
};

/* ------------------------------------------------------------------ nodes */

static py_node *node_new(gl_py_arena *a, gl_py_kind kind, size_t extra) {
    py_node *n = calloc(1, sizeof *n + extra);
    if (!n) return NULL;
    n->pub.kind = kind;
    if (extra) n->pub.object = n->extra;
    n->next_alloc = a->nodes;
    a->nodes = n;
    return n;
}

void gl_py_arena_free(gl_py_arena *a) {
    if (!a) return;
    for (py_node *n = a->nodes, *next; n; n = next) {
        next = n->next_alloc;
        free(n->pub.items);
        free(n->owned);
        free(n);
    }
    a->nodes = NULL;
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

gl_py *gl_pickle_new(gl_pickle *pk, gl_py_kind kind, size_t extra) {
    py_node *n = node_new(pk->arena, kind, extra);
    return n ? &n->pub : NULL;
}

gl_error *gl_pickle_error(gl_pickle *pk) {
    return pk->err;
}

gl_status gl_pickle_fail(gl_pickle *pk, gl_status code, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return gl_fail(pk->err, code, "%s: %s byte %zu: %s", pk->h->path, pk->h->entry, pk->pos, msg);
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

/* ------------------------------------------------------------------ the stack machine */

static gl_status push(gl_pickle *u, gl_py *v) {
    if (!v) return gl_pickle_fail(u, GL_ERR_NOMEM, "out of memory");
    if (u->sp == u->stack_cap) {
        size_t cap = u->stack_cap ? u->stack_cap * 2 : 64;
        gl_py **s = realloc(u->stack, cap * sizeof *s);
        if (!s) return gl_pickle_fail(u, GL_ERR_NOMEM, "out of memory");
        u->stack = s;
        u->stack_cap = cap;
    }
    u->stack[u->sp++] = v;
    return GL_OK;
}

static gl_status push_new(gl_pickle *u, gl_py_kind kind) {
    return push(u, gl_pickle_new(u, kind, 0));
}

/* The stack floor: items below the innermost MARK are out of reach until it is popped. */
static size_t floor_of(const gl_pickle *u) {
    return u->n_marks ? u->marks[u->n_marks - 1] : 0;
}

static gl_py *pop(gl_pickle *u) {
    return u->sp > floor_of(u) ? u->stack[--u->sp] : NULL;
}

static gl_py *top(gl_pickle *u) {
    return u->sp > floor_of(u) ? u->stack[u->sp - 1] : NULL;
}

static const unsigned char *take(gl_pickle *u, size_t n) {
    if (n > u->len - u->pos) return NULL;
    const unsigned char *r = u->buf + u->pos;
    u->pos += n;
    return r;
}

static gl_py *new_scalar(gl_pickle *u, gl_py_kind kind, int64_t i, double f) {
    gl_py *n = gl_pickle_new(u, kind, 0);
    if (!n) return NULL;
    n->i = i;
    n->f = f;
    return n;
}

static gl_py *new_string(gl_pickle *u, gl_py_kind kind, const unsigned char *s, size_t len) {
    py_node *n = node_new(u->arena, kind, 0);
    if (!n || !(n->owned = malloc(len + 1))) return NULL;
    memcpy(n->owned, s, len);
    n->owned[len] = 0;
    n->pub.s = n->owned;
    n->pub.len = len;
    return &n->pub;
}

static gl_status op_string(gl_pickle *u, gl_py_kind kind, int len_bytes) {
    const unsigned char *lp = take(u, (size_t)len_bytes);
    if (!lp) return gl_pickle_fail(u, GL_ERR_FORMAT, "truncated string length");
    uint64_t n = gl_rd_le(lp, len_bytes);
    const unsigned char *s = n <= u->len ? take(u, (size_t)n) : NULL;
    if (!s) return gl_pickle_fail(u, GL_ERR_FORMAT, "string runs past the end of the pickle");
    return push(u, new_string(u, kind, s, (size_t)n));
}

static gl_status op_mark(gl_pickle *u) {
    if (u->n_marks == u->marks_cap) {
        size_t cap = u->marks_cap ? u->marks_cap * 2 : 32;
        size_t *m = realloc(u->marks, cap * sizeof *m);
        if (!m) return gl_pickle_fail(u, GL_ERR_NOMEM, "out of memory");
        u->marks = m;
        u->marks_cap = cap;
    }
    u->marks[u->n_marks++] = u->sp;
    return GL_OK;
}

/* TUPLE, LIST, DICT: everything above the last mark into a new container of the given kind. */
static gl_status op_from_mark(gl_pickle *u, gl_py_kind kind) {
    if (!u->n_marks) return gl_pickle_fail(u, GL_ERR_FORMAT, "no MARK on the stack");
    size_t base = u->marks[--u->n_marks];
    py_node *n = node_new(u->arena, kind, 0);
    if (!n) return gl_pickle_fail(u, GL_ERR_NOMEM, "out of memory");
    if (kind == GL_PY_DICT && (u->sp - base) % 2)
        return gl_pickle_fail(u, GL_ERR_FORMAT, "DICT with an odd number of items");
    for (size_t i = base; i < u->sp; i++)
        if (node_push_item(n, u->stack[i])) return gl_pickle_fail(u, GL_ERR_NOMEM, "out of memory");
    if (kind == GL_PY_DICT) n->pub.len /= 2;
    u->sp = base;
    return push(u, &n->pub);
}

/* TUPLE1..3: the top k items. */
static gl_status op_tuple_n(gl_pickle *u, int k) {
    py_node *n = node_new(u->arena, GL_PY_TUPLE, 0);
    if (!n) return gl_pickle_fail(u, GL_ERR_NOMEM, "out of memory");
    if (u->sp < floor_of(u) + (size_t)k)
        return gl_pickle_fail(u, GL_ERR_FORMAT, "stack underflow building a tuple");
    for (size_t i = u->sp - (size_t)k; i < u->sp; i++)
        if (node_push_item(n, u->stack[i])) return gl_pickle_fail(u, GL_ERR_NOMEM, "out of memory");
    u->sp -= (size_t)k;
    return push(u, &n->pub);
}

/* APPEND(S) and SETITEM(S): items above the mark (or the top one or two) go into the container
 * just below them. */
static gl_status op_add_items(gl_pickle *u, int per_item, int from_mark) {
    size_t base;
    if (from_mark) {
        if (!u->n_marks) return gl_pickle_fail(u, GL_ERR_FORMAT, "no MARK on the stack");
        base = u->marks[--u->n_marks];
    } else {
        if (u->sp < floor_of(u) + (size_t)per_item + 1)
            return gl_pickle_fail(u, GL_ERR_FORMAT, "stack underflow");
        base = u->sp - (size_t)per_item;
    }
    if (base == 0 || base - 1 < floor_of(u))
        return gl_pickle_fail(u, GL_ERR_FORMAT, "no container below the items");
    gl_py *c = u->stack[base - 1];
    gl_py_kind want = per_item == 2 ? GL_PY_DICT : GL_PY_LIST;
    if (c->kind != want || (u->sp - base) % (size_t)per_item)
        return gl_pickle_fail(u, GL_ERR_FORMAT, "%s",
                              per_item == 2 ? "SETITEM(S) on something not a dict"
                                            : "APPEND(S) on something not a list");
    py_node *n = (py_node *)c;
    if (want == GL_PY_DICT) n->pub.len *= 2;
    for (size_t i = base; i < u->sp; i++)
        if (node_push_item(n, u->stack[i])) return gl_pickle_fail(u, GL_ERR_NOMEM, "out of memory");
    if (want == GL_PY_DICT) n->pub.len /= 2;
    u->sp = base;
    return GL_OK;
}

static gl_status op_memo_put(gl_pickle *u, uint64_t idx) {
    gl_py *t = top(u);
    if (!t) return gl_pickle_fail(u, GL_ERR_FORMAT, "memo put on an empty stack");
    /* Real pickles number memo entries densely; a sparse huge index is refused, not allocated. */
    if (idx > u->len + 16)
        return gl_pickle_fail(u, GL_ERR_FORMAT, "memo index beyond the pickle's size");
    if (idx >= u->memo_cap) {
        size_t cap = u->memo_cap ? u->memo_cap : 64;
        while (cap <= idx)
            cap *= 2;
        gl_py **m = realloc(u->memo, cap * sizeof *m);
        if (!m) return gl_pickle_fail(u, GL_ERR_NOMEM, "out of memory");
        memset(m + u->memo_cap, 0, (cap - u->memo_cap) * sizeof *m);
        u->memo = m;
        u->memo_cap = cap;
    }
    if (!u->memo[idx]) u->memo_count++;
    u->memo[idx] = t;
    return GL_OK;
}

static gl_status op_memo_get(gl_pickle *u, uint64_t idx) {
    if (idx >= u->memo_cap || !u->memo[idx])
        return gl_pickle_fail(u, GL_ERR_FORMAT, "memo get of an unset index");
    return push(u, u->memo[idx]);
}

/* BINPUT, LONG_BINPUT, BINGET, LONG_BINGET: a 1- or 4-byte memo index. */
static gl_status op_memo_arg(gl_pickle *u, int nbytes, int put) {
    const unsigned char *b = take(u, (size_t)nbytes);
    if (!b) return gl_pickle_fail(u, GL_ERR_FORMAT, "truncated memo index");
    uint64_t idx = gl_rd_le(b, nbytes);
    return put ? op_memo_put(u, idx) : op_memo_get(u, idx);
}

static gl_status op_global(gl_pickle *u, const char *module, size_t mlen, const char *name,
                           size_t nlen) {
    char full[256];
    if (mlen + nlen + 2 > sizeof full)
        return gl_pickle_fail(u, GL_ERR_UNSUPPORTED, "over-long global name");
    snprintf(full, sizeof full, "%.*s.%.*s", (int)mlen, module, (int)nlen, name);
    int ok = !strcmp(full, "collections.OrderedDict") ||
             (u->h->allow_global && u->h->allow_global(u->h->ctx, module, mlen, name, nlen));
    if (!ok) {
        for (char *c = full; *c; c++)
            if ((unsigned char)*c < 32 || (unsigned char)*c > 126) *c = '?';
        return gl_pickle_fail(u, GL_ERR_UNSUPPORTED,
                              "pickle global '%s' is not allowed (a checkpoint may only build "
                              "tensors and containers)",
                              full);
    }
    return push(u, new_string(u, GL_PY_GLOBAL, (const unsigned char *)full, strlen(full)));
}

/* GLOBAL: "module\nname\n" inline. */
static gl_status op_global_text(gl_pickle *u) {
    const char *start = (const char *)u->buf + u->pos;
    size_t left = u->len - u->pos;
    const char *nl1 = memchr(start, '\n', left);
    const char *nl2 = nl1 ? memchr(nl1 + 1, '\n', left - (size_t)(nl1 + 1 - start)) : NULL;
    if (!nl2) return gl_pickle_fail(u, GL_ERR_FORMAT, "truncated GLOBAL");
    u->pos += (size_t)(nl2 + 1 - start);
    return op_global(u, start, (size_t)(nl1 - start), nl1 + 1, (size_t)(nl2 - nl1 - 1));
}

/* STACK_GLOBAL: module and name from the stack. */
static gl_status op_stack_global(gl_pickle *u) {
    gl_py *name = pop(u), *module = pop(u);
    if (!name || !module || name->kind != GL_PY_STR || module->kind != GL_PY_STR)
        return gl_pickle_fail(u, GL_ERR_FORMAT, "STACK_GLOBAL needs two strings");
    return op_global(u, module->s, module->len, name->s, name->len);
}

static gl_status op_persid(gl_pickle *u) {
    gl_py *pid = pop(u);
    if (!pid) return gl_pickle_fail(u, GL_ERR_FORMAT, "BINPERSID on an empty stack");
    if (!u->h->persistent_load)
        return gl_pickle_fail(u, GL_ERR_UNSUPPORTED, "persistent ids are not allowed here");
    gl_py *out = NULL;
    gl_status s = u->h->persistent_load(u->h->ctx, u, pid, &out);
    return s ? s : push(u, out);
}

static gl_status op_reduce(gl_pickle *u) {
    gl_py *args = pop(u), *fn = pop(u);
    if (!args || !fn) return gl_pickle_fail(u, GL_ERR_FORMAT, "REDUCE on an empty stack");
    if (fn->kind != GL_PY_GLOBAL)
        return gl_pickle_fail(u, GL_ERR_UNSUPPORTED,
                              "REDUCE on something that is not an allowed global");
    if (args->kind != GL_PY_TUPLE)
        return gl_pickle_fail(u, GL_ERR_FORMAT, "REDUCE arguments are not a tuple");
    if (!strcmp(fn->s, "collections.OrderedDict")) {
        if (args->len) return gl_pickle_fail(u, GL_ERR_UNSUPPORTED, "OrderedDict() with arguments");
        gl_py *d = gl_pickle_new(u, GL_PY_DICT, 0);
        if (d) d->ordered = 1;
        return push(u, d);
    }
    if (!u->h->reduce)
        return gl_pickle_fail(u, GL_ERR_UNSUPPORTED, "calling '%s' is not allowed", fn->s);
    gl_py *out = NULL;
    gl_status s = u->h->reduce(u->h->ctx, u, fn, args, &out);
    return s ? s : push(u, out);
}

/* BUILD sets attributes (OrderedDict._metadata, tensor hooks); we keep the object as it is. */
static gl_status op_build(gl_pickle *u) {
    gl_py *state = pop(u), *obj = top(u);
    if (!state || !obj) return gl_pickle_fail(u, GL_ERR_FORMAT, "BUILD on an empty stack");
    if (obj->kind != GL_PY_DICT && obj->kind != GL_PY_TENSOR)
        return gl_pickle_fail(u, GL_ERR_UNSUPPORTED,
                              "BUILD on something that is not a dict or tensor");
    return GL_OK;
}

/* BININT, BININT1, BININT2 and LONG1's payload: little-endian, signed or not. */
static gl_status op_int(gl_pickle *u, int nbytes, int is_signed) {
    const unsigned char *b = take(u, (size_t)nbytes);
    if (!b) return gl_pickle_fail(u, GL_ERR_FORMAT, "truncated integer");
    uint64_t v = gl_rd_le(b, nbytes);
    int64_t x = (int64_t)v;
    if (is_signed && nbytes < 8 && (v >> (8 * nbytes - 1)) & 1)
        x = (int64_t)(v | (~0ULL << (8 * nbytes)));
    return push(u, new_scalar(u, GL_PY_INT, x, 0));
}

static gl_status op_long1(gl_pickle *u) {
    const unsigned char *lp = take(u, 1);
    if (!lp) return gl_pickle_fail(u, GL_ERR_FORMAT, "truncated LONG1");
    if (*lp > 8) return gl_pickle_fail(u, GL_ERR_UNSUPPORTED, "integer wider than 64 bits");
    if (*lp == 0) return push(u, new_scalar(u, GL_PY_INT, 0, 0));
    return op_int(u, *lp, 1);
}

static gl_status op_binfloat(gl_pickle *u) {
    const unsigned char *b = take(u, 8);
    if (!b) return gl_pickle_fail(u, GL_ERR_FORMAT, "truncated BINFLOAT");
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i]; /* big-endian */
    double d;
    memcpy(&d, &v, 8);
    return push(u, new_scalar(u, GL_PY_FLOAT, 0, d));
}

static gl_status step(gl_pickle *u, int op, int *stop) {
    switch (op) {
    case OP_PROTO:
        return take(u, 1) ? GL_OK : gl_pickle_fail(u, GL_ERR_FORMAT, "truncated PROTO");
    case OP_FRAME:
        return take(u, 8) ? GL_OK : gl_pickle_fail(u, GL_ERR_FORMAT, "truncated FRAME");
    case OP_EMPTY_DICT:
        return push_new(u, GL_PY_DICT);
    case OP_EMPTY_LIST:
        return push_new(u, GL_PY_LIST);
    case OP_EMPTY_TUPLE:
        return push_new(u, GL_PY_TUPLE);
    case OP_MARK:
        return op_mark(u);
    case OP_BINUNICODE:
        return op_string(u, GL_PY_STR, 4);
    case OP_SHORT_BINUNICODE:
        return op_string(u, GL_PY_STR, 1);
    case OP_BINUNICODE8:
        return op_string(u, GL_PY_STR, 8);
    case OP_SHORT_BINSTRING:
        return op_string(u, GL_PY_STR, 1);
    case OP_BINSTRING:
        return op_string(u, GL_PY_STR, 4);
    case OP_SHORT_BINBYTES:
        return op_string(u, GL_PY_BYTES, 1);
    case OP_BINBYTES:
        return op_string(u, GL_PY_BYTES, 4);
    case OP_BINBYTES8:
        return op_string(u, GL_PY_BYTES, 8);
    case OP_BINPUT:
        return op_memo_arg(u, 1, 1);
    case OP_LONG_BINPUT:
        return op_memo_arg(u, 4, 1);
    case OP_MEMOIZE:
        return op_memo_put(u, u->memo_count);
    case OP_BINGET:
        return op_memo_arg(u, 1, 0);
    case OP_LONG_BINGET:
        return op_memo_arg(u, 4, 0);
    case OP_GLOBAL:
        return op_global_text(u);
    case OP_STACK_GLOBAL:
        return op_stack_global(u);
    case OP_BININT:
        return op_int(u, 4, 1);
    case OP_BININT1:
        return op_int(u, 1, 0);
    case OP_BININT2:
        return op_int(u, 2, 0);
    case OP_LONG1:
        return op_long1(u);
    case OP_BINFLOAT:
        return op_binfloat(u);
    case OP_NEWTRUE:
        return push(u, new_scalar(u, GL_PY_BOOL, 1, 0));
    case OP_NEWFALSE:
        return push(u, new_scalar(u, GL_PY_BOOL, 0, 0));
    case OP_NONE:
        return push(u, new_scalar(u, GL_PY_NONE, 0, 0));
    case OP_TUPLE:
        return op_from_mark(u, GL_PY_TUPLE);
    case OP_TUPLE1:
        return op_tuple_n(u, 1);
    case OP_TUPLE2:
        return op_tuple_n(u, 2);
    case OP_TUPLE3:
        return op_tuple_n(u, 3);
    case OP_LIST:
        return op_from_mark(u, GL_PY_LIST);
    case OP_DICT:
        return op_from_mark(u, GL_PY_DICT);
    case OP_APPEND:
        return op_add_items(u, 1, 0);
    case OP_APPENDS:
        return op_add_items(u, 1, 1);
    case OP_SETITEM:
        return op_add_items(u, 2, 0);
    case OP_SETITEMS:
        return op_add_items(u, 2, 1);
    case OP_REDUCE:
        return op_reduce(u);
    case OP_BUILD:
        return op_build(u);
    case OP_BINPERSID:
        return op_persid(u);
    case OP_STOP:
        *stop = 1;
        return GL_OK;
    default:
        return gl_pickle_fail(u, GL_ERR_UNSUPPORTED, "pickle opcode 0x%02x is not allowed", op);
    }
}

gl_status gl_unpickle(const gl_pickle_hooks *h, gl_py_arena *arena, const unsigned char *buf,
                      size_t len, gl_py **root, gl_error *err) {
    gl_pickle u = {.h = h, .arena = arena, .buf = buf, .len = len, .err = err};
    gl_status s = GL_OK;
    int stop = 0;
    *root = NULL;
    while (!s && !stop) {
        if (u.pos >= u.len) {
            s = gl_pickle_fail(&u, GL_ERR_FORMAT, "pickle ends without STOP (truncated)");
            break;
        }
        s = step(&u, u.buf[u.pos++], &stop);
    }
    if (!s && (u.sp != 1 || u.n_marks))
        s = gl_pickle_fail(&u, GL_ERR_FORMAT, "STOP with a malformed stack");
    if (!s && (u.stack[0]->kind == GL_PY_GLOBAL || u.stack[0]->kind == GL_PY_OBJECT))
        s = gl_pickle_fail(&u, GL_ERR_UNSUPPORTED,
                           "the pickled object is a bare global or storage");
    if (!s) *root = u.stack[0];
    free(u.stack);
    free(u.marks);
    free(u.memo);
    return s;
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
