/* buf.h: the one growable byte buffer, kept NUL-terminated: HTTP bodies (Hub listings, LLM
 * answers), encoded pictures and prompt strings are appended to it piece by piece. */
#ifndef GEOLABEL_BUF_H
#define GEOLABEL_BUF_H

#include <stddef.h>

typedef struct {
    char *data; /* len bytes and a NUL once anything was appended, else NULL; the owner frees it */
    size_t len, cap;
} gl_buf;

/* Appends n bytes of p and keeps a NUL after them, at least doubling the capacity when it grows
 * (callers check their own size limits first). 0 on success; -1 when out of memory, with the
 * buffer unchanged. */
int gl_buf_append(gl_buf *b, const void *p, size_t n);

#endif
