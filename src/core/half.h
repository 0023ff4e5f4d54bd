/* half.h: IEEE binary16 and bfloat16 conversions, exact (widening) or round-to-nearest-even
 * (narrowing), shared by the safetensors and .pth readers and the random-model writer. */
#ifndef GEOLABEL_HALF_H
#define GEOLABEL_HALF_H

#include <stdint.h>

/* Exact: every half (subnormals, infinities, NaN payloads included) is a float. */
float gl_half_to_float(uint16_t h);
/* Round to nearest, ties to even; overflow goes to infinity, underflow to signed zero. */
uint16_t gl_float_to_half(float f);
/* Exact: bfloat16 is a float's top 16 bits. */
float gl_bf16_to_float(uint16_t h);

#endif
