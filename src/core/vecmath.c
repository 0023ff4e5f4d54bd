/* vecmath.c: small row-wise kernels shared by every path: L2 normalisation and softmax.
 * Accumulation is in double where rows are short, so results do not depend on batching. */
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

void gl_softmax_rows(float *x, int n, int dim) {
    for (int i = 0; i < n; i++) {
        float *r = x + (size_t)i * dim;
        float m = r[0];
        for (int j = 1; j < dim; j++)
            m = r[j] > m ? r[j] : m;
        double s = 0;
        for (int j = 0; j < dim; j++)
            s += exp((double)r[j] - m);
        for (int j = 0; j < dim; j++)
            r[j] = (float)(exp((double)r[j] - m) / s);
    }
}
