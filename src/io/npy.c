/* npy.c: NumPy .npy reading (for reference fixtures and embeddings) and float32 writing.
 * The header is parsed strictly and the payload size is checked against the file before use. */
#include "geolabel.h"

#include <stdlib.h>
#include <string.h>

static size_t dtype_size(const char *d) {
    if (!strcmp(d, "<f4") || !strcmp(d, "<i4") || !strcmp(d, "<u4")) return 4;
    if (!strcmp(d, "<f8") || !strcmp(d, "<i8") || !strcmp(d, "<u8")) return 8;
    if (!strcmp(d, "|u1") || !strcmp(d, "|i1") || !strcmp(d, "|b1")) return 1;
    if (!strcmp(d, "<f2") || !strcmp(d, "<i2") || !strcmp(d, "<u2")) return 2;
    return 0;
}

/* Parses "{'descr': '<f4', 'fortran_order': False, 'shape': (6, 32), }". */
static gl_status parse_header(const char *path, const char *h, gl_npy *a, gl_error *err) {
    const char *d = strstr(h, "'descr'");
    const char *f = strstr(h, "'fortran_order'");
    const char *s = strstr(h, "'shape'");
    if (!d || !f || !s) return gl_fail(err, GL_ERR_FORMAT, "%s: npy header lacks a key", path);
    d = strchr(d + 7, '\'');
    if (!d) return gl_fail(err, GL_ERR_FORMAT, "%s: npy descr unreadable", path);
    const char *e = strchr(d + 1, '\'');
    if (!e || e - d - 1 >= (long)sizeof a->dtype)
        return gl_fail(err, GL_ERR_FORMAT, "%s: npy descr unreadable", path);
    memcpy(a->dtype, d + 1, (size_t)(e - d - 1));
    a->dtype[e - d - 1] = 0;
    a->item_size = dtype_size(a->dtype);
    if (!a->item_size)
        return gl_fail(err, GL_ERR_UNSUPPORTED, "%s: npy dtype '%s' not supported", path, a->dtype);
    if (strstr(f, "True") && strstr(f, "True") < s)
        return gl_fail(err, GL_ERR_UNSUPPORTED, "%s: Fortran-order npy not supported", path);
    const char *p = strchr(s, '(');
    if (!p) return gl_fail(err, GL_ERR_FORMAT, "%s: npy shape unreadable", path);
    p++;
    a->ndim = 0;
    a->count = 1;
    while (*p && *p != ')') {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == ')') break;
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0 || a->ndim >= 8)
            return gl_fail(err, GL_ERR_FORMAT, "%s: npy shape unreadable", path);
        a->shape[a->ndim++] = v;
        /* a wrapped product (2^32 x 2^32 -> 0) would match an empty payload */
        if (__builtin_mul_overflow(a->count, (size_t)v, &a->count) ||
            __builtin_mul_overflow(a->count, a->item_size, &(size_t){0}))
            return gl_fail(err, GL_ERR_LIMIT, "%s: npy shape's element count overflows", path);
        p = end;
    }
    return GL_OK;
}

static gl_status npy_read(const char *path, gl_npy *a, gl_error *err) {
    char *buf;
    size_t len;
    gl_status st = gl_read_file(path, (size_t)1 << 34, &buf, &len, err);
    if (st) return st;
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0) {
        free(buf);
        return gl_fail(err, GL_ERR_FORMAT, "%s: not an .npy file", path);
    }
    size_t hlen, off;
    if (buf[6] == 1) {
        hlen = (unsigned char)buf[8] | ((size_t)(unsigned char)buf[9] << 8);
        off = 10;
    } else if (len >= 12) {
        hlen = (unsigned char)buf[8] | ((size_t)(unsigned char)buf[9] << 8) |
               ((size_t)(unsigned char)buf[10] << 16) | ((size_t)(unsigned char)buf[11] << 24);
        off = 12;
    } else {
        hlen = len;
        off = 0;
    }
    if (off + hlen > len) {
        free(buf);
        return gl_fail(err, GL_ERR_FORMAT, "%s: npy header truncated", path);
    }
    char save = buf[off + hlen - 1];
    buf[off + hlen - 1] = 0;
    st = parse_header(path, buf + off, a, err);
    buf[off + hlen - 1] = save;
    size_t payload = len - off - hlen;
    if (!st && payload != a->count * a->item_size)
        st = gl_fail(err, GL_ERR_FORMAT, "%s: npy payload is %zu bytes, shape needs %zu", path,
                     payload, a->count * a->item_size);
    if (!st) {
        a->data = malloc(payload ? payload : 1);
        if (!a->data)
            st = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
        else
            memcpy(a->data, buf + off + hlen, payload);
    }
    free(buf);
    return st;
}

gl_npy *gl_npy_load(const char *path, gl_error *err) {
    gl_npy *a = calloc(1, sizeof *a);
    if (!a) {
        gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    if (npy_read(path, a, err) == GL_OK) return a;
    gl_npy_free(a);
    return NULL;
}

void gl_npy_free(gl_npy *a) {
    if (!a) return;
    free(a->data);
    free(a);
}

gl_status gl_npy_write_f32(const char *path, const float *data, const int64_t *shape, int ndim,
                           gl_error *err) {
    char header[256];
    int n = snprintf(header, sizeof header, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        n += snprintf(header + n, sizeof header - (size_t)n, "%lld,%s", (long long)shape[i],
                      i + 1 < ndim ? " " : "");
        count *= (size_t)shape[i];
    }
    if (ndim > 1) n--; /* numpy writes (6, 32) but (6,) */
    n += snprintf(header + n, sizeof header - (size_t)n, "), }");
    int total = 10 + n + 1, pad = (64 - total % 64) % 64;
    gl_atomic_file f;
    gl_status st = gl_atomic_open(&f, path, err);
    if (st) return st;
    fwrite("\x93NUMPY\x01\x00", 1, 8, f.fp);
    int hlen = n + pad + 1;
    fputc(hlen & 0xff, f.fp);
    fputc(hlen >> 8, f.fp);
    fwrite(header, 1, (size_t)n, f.fp);
    for (int i = 0; i < pad; i++)
        fputc(' ', f.fp);
    fputc('\n', f.fp);
    fwrite(data, sizeof(float), count, f.fp);
    return gl_atomic_commit(&f, err);
}
