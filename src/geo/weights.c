/* weights.c: named float32 tensors from .pth or .safetensors files with exact shape checks;
 * a wrong shape fails naming the file, the tensor, its shape and the expected one. */
#include "geo/weights.h"

#include <string.h>

gl_status gl_geo_weights_open(gl_geo_weights *w, const char *path, gl_error *err) {
    memset(w, 0, sizeof *w);
    w->path = path;
    if (gl_path_has_suffix(path, ".safetensors")) return gl_st_open(path, &w->st, err);
    if (!(w->pth = gl_pth_open(path, err))) return err->code;
    const gl_py *root = gl_pth_root(w->pth);
    if (root && root->kind == GL_PY_TENSOR) return GL_OK;
    if (!(w->dict = gl_pth_state_dict(w->pth, err))) {
        gl_geo_weights_close(w);
        return err->code;
    }
    return GL_OK;
}

void gl_geo_weights_close(gl_geo_weights *w) {
    if (!w) return;
    gl_pth_free(w->pth);
    if (!w->pth) gl_st_close(&w->st);
    memset(w, 0, sizeof *w);
}

static int same_shape(const int64_t *a, int an, const int64_t *b, int bn) {
    if (an != bn) return 0;
    for (int i = 0; i < an; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

static void shape_text(const int64_t *shape, int ndim, char *out, size_t cap) {
    size_t n = (size_t)snprintf(out, cap, "[");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%lld", i ? "," : "", (long long)shape[i]);
    if (n < cap) snprintf(out + n, cap - n, "]");
}

static gl_status shape_error(const char *path, const char *key, const int64_t *got, int got_nd,
                             const int64_t *want, int want_nd, gl_error *err) {
    char a[128], b[128];
    shape_text(got, got_nd, a, sizeof a);
    shape_text(want, want_nd, b, sizeof b);
    return gl_fail(err, GL_ERR_SHAPE, "%s: tensor '%s' has shape %s, expected %s", path, key, a, b);
}

static gl_status read_st(gl_geo_weights *w, const char *key, const int64_t *shape, int ndim,
                         float *out, gl_error *err) {
    const gl_st_tensor *t = NULL;
    if (key)
        t = gl_st_find(&w->st, key);
    else if (w->st.n_tensors == 1)
        t = &w->st.tensors[0], key = t->name;
    if (!t)
        return gl_fail(err, GL_ERR_FORMAT, "%s: no tensor '%s'", w->path,
                       key ? key : "(the file should hold exactly one)");
    if (!same_shape(t->shape, t->ndim, shape, ndim))
        return shape_error(w->path, key, t->shape, t->ndim, shape, ndim, err);
    if (t->dtype == GL_ST_F32)
        memcpy(out, t->data, t->count * sizeof(float));
    else if (t->dtype == GL_ST_F16 || t->dtype == GL_ST_BF16)
        gl_st_widen(t->dtype, t->data, t->count, out);
    else
        return gl_fail(err, GL_ERR_UNSUPPORTED,
                       "%s: tensor '%s' has dtype %s, expected a float type", w->path, key,
                       t->dtype_name);
    return GL_OK;
}

gl_status gl_geo_weights_read(gl_geo_weights *w, const char *key, const int64_t *shape, int ndim,
                              float *out, gl_error *err) {
    if (!w->pth) return read_st(w, key, shape, ndim, out, err);
    if (key && w->dict) return gl_pth_read_f32(w->pth, w->dict, key, shape, ndim, out, err);
    const gl_py *root = gl_pth_root(w->pth);
    if (key || !root || root->kind != GL_PY_TENSOR)
        return gl_fail(err, GL_ERR_FORMAT, "%s: expected %s", w->path,
                       key ? "a state dict" : "a single tensor");
    return gl_pth_tensor_f32(w->pth, "(root)", root->tensor, shape, ndim, out, err);
}
