/* base64.c: RFC 4648 base64, the encoding of float32 vectors in Geograph's JSONL data set.
 * Decoding is strict: any character outside the alphabet or misplaced padding is an error. */
#include "geolabel.h"

#include <stdlib.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *gl_base64_encode(const void *data, size_t len) {
    const unsigned char *p = data;
    size_t out_len = 4 * ((len + 2) / 3);
    char *out = malloc(out_len + 1), *o = out;
    if (!out) return NULL;
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        *o++ = alphabet[v >> 18];
        *o++ = alphabet[(v >> 12) & 63];
        *o++ = alphabet[(v >> 6) & 63];
        *o++ = alphabet[v & 63];
    }
    if (i < len) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < len ? (unsigned)p[i + 1] << 8 : 0);
        *o++ = alphabet[v >> 18];
        *o++ = alphabet[(v >> 12) & 63];
        *o++ = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    *o = 0;
    return out;
}

static int sextet(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

gl_status gl_base64_decode(const char *text, size_t text_len, unsigned char *out, size_t out_cap,
                           size_t *out_len, gl_error *err) {
    if (text_len % 4 != 0)
        return gl_fail(err, GL_ERR_FORMAT, "base64 length %zu is not a multiple of 4", text_len);
    size_t n = 0;
    for (size_t i = 0; i < text_len; i += 4) {
        int pad = 0, v[4];
        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)text[i + k];
            if (c == '=' && i + 4 == text_len && k >= 2) {
                v[k] = 0;
                pad++;
            } else if (pad || (v[k] = sextet(c)) < 0) {
                return gl_fail(err, GL_ERR_FORMAT, "bad base64 character at offset %zu", i + k);
            }
        }
        unsigned w =
            (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 | (unsigned)v[3];
        int bytes = 3 - pad;
        if (n + (size_t)bytes > out_cap)
            return gl_fail(err, GL_ERR_SHAPE, "base64 decodes to more than %zu bytes", out_cap);
        out[n++] = (unsigned char)(w >> 16);
        if (bytes > 1) out[n++] = (unsigned char)(w >> 8);
        if (bytes > 2) out[n++] = (unsigned char)w;
    }
    *out_len = n;
    return GL_OK;
}
