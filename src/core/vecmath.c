/* vecmath.c: small row-wise kernels shared by every path: L2 normalisation and softmax.
 * Accumulation is in double where rows are short, so results do not depend on batching. */
#include "core/vecmath.h"
#include "geolabel.h"

#include <math.h>

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
