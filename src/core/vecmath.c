/* vecmath.c: small row-wise kernels shared by every path: L2 normalisation and softmax.
 * Accumulation is in double where rows are short, so results do not depend on batching. */
#include "core/vecmath.h"
#include "geolabel.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

void gl_l2_normalize_rows(float *x, int n, int dim) {
    for (int i = 0; i < n; i++) {
        float *r = x + (size_t)i * dim;
        double s = 0;
        for (int j = 0; j < dim; j++)
            s += (double)r[j] * r[j];
        float inv = s > 0 ? (float)(1.0 / sqrt(s)) : 0.0f;
        for (int j = 0; j < dim; j++)
            r[j] *= inv;
    }
}

double gl_softmax_denominator(const float *x, int n, float *max) {
    float m = x[0];
    for (int j = 1; j < n; j++)
        m = x[j] > m ? x[j] : m;
    double s = 0;
    for (int j = 0; j < n; j++)
        s += exp((double)x[j] - m);
    *max = m;
    return s;
}

void gl_softmax_rows(float *x, int n, int dim) {
    for (int i = 0; i < n; i++) {
        float *r = x + (size_t)i * dim, m;
        double s = gl_softmax_denominator(r, dim, &m);
        for (int j = 0; j < dim; j++)
            r[j] = (float)(exp((double)r[j] - m) / s);
    }
}

/* A float is NaN or infinite when its exponent bits are all ones: |bits| >= 0x7f800000. The max
 * of |bits| over a block needs no branch, so the loop vectorises. */
static uint32_t block_max_abs_bits(const float *x, size_t n) {
    uint32_t m = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, 4);
        u &= 0x7fffffffu;
        m = u > m ? u : m;
    }
    return m;
}

long gl_first_nonfinite(const float *x, size_t n) {
    const size_t block = 4096;
    for (size_t at = 0; at < n; at += block) {
        size_t len = n - at < block ? n - at : block;
        if (block_max_abs_bits(x + at, len) < 0x7f800000u) continue;
        for (size_t i = at; i < at + len; i++)
            if (!isfinite(x[i])) return (long)i;
    }
    return -1;
}

gl_status gl_check_finite_block(const char *file, const char *name, const float *x, size_t n,
                                size_t first, gl_error *err) {
    long at = gl_first_nonfinite(x, n);
    if (at < 0) return GL_OK;
    return gl_fail(err, GL_ERR_FORMAT, "%s: tensor '%s' holds %s at element %zu", file, name,
                   isnan(x[at]) ? "NaN" : "an infinity", first + (size_t)at);
}

gl_status gl_check_finite_tensor(const char *file, const char *name, const float *x, size_t n,
                                 gl_error *err) {
    return gl_check_finite_block(file, name, x, n, 0, err);
}
