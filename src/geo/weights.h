/* weights.h: one way to read named float32 tensors from either a PyTorch .pth (through
 * io/torchzip) or a safetensors file, so GeoCLIP's loader does not care which it was given. */
#ifndef GEOLABEL_GEO_WEIGHTS_H
#define GEOLABEL_GEO_WEIGHTS_H

#include "io/safetensors.h"
#include "io/torchzip.h"

typedef struct {
    const char *path;  /* borrowed */
    gl_pth *pth;       /* a .pth, or NULL */
    const gl_py *dict; /* its state dict, or NULL when the root is a bare tensor */
    gl_safetensors st; /* a .safetensors when pth is NULL */
} gl_geo_weights;

/* Opens path by its extension (.safetensors, else .pth). Close with gl_geo_weights_close. */
gl_status gl_geo_weights_open(gl_geo_weights *w, const char *path, gl_error *err);
void gl_geo_weights_close(gl_geo_weights *w);
/* Copies tensor key (shape[0..ndim) exactly) as float32 into out; key NULL takes the file's only
 * tensor (a bare .pth tensor, or a one-tensor safetensors file). */
gl_status gl_geo_weights_read(gl_geo_weights *w, const char *key, const int64_t *shape, int ndim,
                              float *out, gl_error *err);

#endif
