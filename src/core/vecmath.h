/* vecmath.h: the softmax normaliser that gl_softmax_rows and the scoring stage's top-k path share,
 * so a probability is the same number whether or not the whole row is written. */
#ifndef GEOLABEL_VECMATH_H
#define GEOLABEL_VECMATH_H

#include "geolabel.h"

#include <stddef.h>

/* sum_j exp(x[j] - max) in double, with *max = max_j x[j]; n >= 1. P(j) = exp(x[j] - max) / sum. */
double gl_softmax_denominator(const float *x, int n, float *max);

/* The index of the first NaN or infinity in x[0..n), or -1 when every value is finite. One pass
 * of integer max over the exponent bits (vectorised by the compiler), so scanning every weight at
 * load costs about a memory read; only a block that holds a bad value is searched again. */
long gl_first_nonfinite(const float *x, size_t n);
/* A weight tensor's check at load: GL_ERR_FORMAT "file: tensor 'name' holds NaN at element k"
 * (or an infinity) for the first bad value, else GL_OK. */
gl_status gl_check_finite_tensor(const char *file, const char *name, const float *x, size_t n,
                                 gl_error *err);
/* The same for a block x[0..n) of a tensor read a block at a time, whose first value is the
 * tensor's element first: the message names the element in the whole tensor. */
gl_status gl_check_finite_block(const char *file, const char *name, const float *x, size_t n,
                                size_t first, gl_error *err);

#endif
