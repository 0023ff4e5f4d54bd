/* buf.c: gl_buf_append, the growth policy of every growable byte buffer (amortised doubling,
 * a NUL kept after the data so text can be parsed in place). */
#include "core/buf.h"

#include <stdlib.h>
#include <string.h>

int gl_buf_append(gl_buf *b, const void *p, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *g = realloc(b->data, cap);
        if (!g) return -1;
        b->data = g;
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}
