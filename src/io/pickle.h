/* pickle.h: a restricted unpickler for the pickles inside checkpoints: it builds only Python
 * containers and scalars, and hands anything else to its host (torchzip.c) through hooks.
 *
 * Safety: it knows a fixed set of opcodes (named as in CPython's pickletools); a GLOBAL is
 * accepted only when the host's allow_global says so (collections.OrderedDict always is), and a
 * global is never called: REDUCE on one goes to the host's reduce hook, which builds a value or
 * refuses. Every length and memo index is checked against the pickle's size.
 *
 * Ownership: every gl_py node belongs to the gl_py_arena it was made in and lives until
 * gl_py_arena_free. Nodes may be shared (pickle's memo), so never free or modify them. */
#ifndef GEOLABEL_PICKLE_H
#define GEOLABEL_PICKLE_H

#include "geolabel.h"

typedef enum {
    GL_PY_NONE = 0,
    GL_PY_BOOL,
    GL_PY_INT,
    GL_PY_FLOAT,
    GL_PY_STR,
    GL_PY_BYTES,
    GL_PY_TUPLE,
    GL_PY_LIST,
    GL_PY_DICT,   /* dict or collections.OrderedDict (see `ordered`), insertion order kept */
    GL_PY_TENSOR, /* built by the host's reduce hook; `tensor` */
    GL_PY_GLOBAL, /* a reference to an allowed global: `s` is "module.name" */
    GL_PY_OBJECT  /* a host object (a torch storage): `object` */
} gl_py_kind;

struct gl_pth_tensor;

typedef struct gl_py gl_py;
struct gl_py {
    gl_py_kind kind;
    int ordered;   /* DICT: built by collections.OrderedDict */
    int64_t i;     /* BOOL (0 or 1), INT (ints beyond 64 bits are refused) */
    double f;      /* FLOAT */
    const char *s; /* STR: UTF-8, NUL-terminated; BYTES: raw, NUL-terminated too; GLOBAL */
    size_t len;    /* STR/BYTES: bytes; TUPLE/LIST: items; DICT: key/value pairs */
    gl_py **items; /* TUPLE/LIST: items[0..len); DICT: key k at items[2k], value at
                      items[2k+1] */
    struct gl_pth_tensor *tensor; /* TENSOR */
    void *object;                 /* the node's extra bytes (gl_pickle_new), e.g. OBJECT's */
};

/* Owns nodes; zero-initialise, free with gl_py_arena_free. */
typedef struct {
    struct py_node *nodes;
} gl_py_arena;
void gl_py_arena_free(gl_py_arena *a);

/* One unpickling run, passed to the hooks. */
typedef struct gl_pickle gl_pickle;

typedef struct {
    const char *path;  /* the file, for messages */
    const char *entry; /* the pickle inside it ("data.pkl"), for messages */
    /* Whether GLOBAL/STACK_GLOBAL may name "module.name" (besides collections.OrderedDict). */
    int (*allow_global)(void *ctx, const char *module, size_t mlen, const char *name, size_t nlen);
    /* BINPERSID: the object behind a persistent id; fails through gl_pickle_fail or err. */
    gl_status (*persistent_load)(void *ctx, gl_pickle *pk, const gl_py *pid, gl_py **out);
    /* REDUCE of an allowed global other than OrderedDict, with a tuple of arguments. */
    gl_status (*reduce)(void *ctx, gl_pickle *pk, const gl_py *global, const gl_py *args,
                        gl_py **out);
    void *ctx;
} gl_pickle_hooks;

/* Unpickles len bytes into *root (a node of arena). Errors name the file, the entry and the byte:
 * GL_ERR_FORMAT (truncated, malformed), GL_ERR_UNSUPPORTED (an opcode outside the set, a
 * forbidden global, a bare global or object as the result), GL_ERR_NOMEM, or a hook's error.
 * On failure the nodes made so far stay in the arena for the caller to free. */
gl_status gl_unpickle(const gl_pickle_hooks *h, gl_py_arena *arena, const unsigned char *buf,
                      size_t len, gl_py **root, gl_error *err);

/* For hooks: a new node of the run's arena with `extra` zeroed bytes at node->object (NULL when
 * out of memory). */
gl_py *gl_pickle_new(gl_pickle *pk, gl_py_kind kind, size_t extra);
/* For hooks: fails as "<file>: <entry> byte <pos>: <message>". */
gl_status gl_pickle_fail(gl_pickle *pk, gl_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* For hooks that fail with their own message. */
gl_error *gl_pickle_error(gl_pickle *pk);

/* DICT lookups; NULL when d is not a dict or has no such key. The last of repeated keys wins. */
const gl_py *gl_py_get(const gl_py *d, const char *key); /* string keys */
const gl_py *gl_py_get_int(const gl_py *d, int64_t key); /* int keys (optimizer state) */
const char *gl_py_kind_name(gl_py_kind kind);

#endif
