/* vecmath.h: the softmax normaliser that gl_softmax_rows and the scoring stage's top-k path share,
 * so a probability is the same number whether or not the whole row is written. */
#ifndef GEOLABEL_VECMATH_H
#define GEOLABEL_VECMATH_H

/* sum_j exp(x[j] - max) in double, with *max = max_j x[j]; n >= 1. P(j) = exp(x[j] - max) / sum. */
double gl_softmax_denominator(const float *x, int n, float *max);

#endif
