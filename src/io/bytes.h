/* bytes.h: little-endian integer reads from untrusted byte buffers (zip records, pickle operands,
 * tensor elements). Header-only: they sit in every parser's inner loop. */
#ifndef GEOLABEL_BYTES_H
#define GEOLABEL_BYTES_H

#include <stdint.h>

/* The n-byte (1..8) little-endian unsigned value at p; p needs no alignment. */
static inline uint64_t gl_rd_le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

#endif
