/* test_npy.c: the .npy reader against files written by numpy itself ($PY), and hostile headers:
 * shapes whose element count overflows, truncated payloads, unreadable headers. */
#include "harness.h"

/* numpy writes the well-formed files and, through its own header writer, the hostile shapes
 * with an empty payload (np.lib.format does not check a shape against the data it writes). */
static const char *script =
    "import numpy as np, numpy.lib.format as fmt\n"
    "np.save('ok.npy', np.arange(12, dtype='<f4').reshape(3, 4) / 8)\n"
    "def hostile(name, shape):\n"
    "    with open(name, 'wb') as f:\n"
    "        fmt.write_array_header_1_0(f, {'descr': '<f4', 'fortran_order': False, "
    "'shape': shape})\n"
    "hostile('wrap0.npy', (2**32, 2**32))\n"
    "hostile('wrap_bytes.npy', (2**62,))\n"
    "hostile('three.npy', (2**22, 2**22, 2**22))\n"
    "hostile('short.npy', (3, 4))\n";

static void test_npy_against_numpy(void) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "'%s' make.py", t_python());
    CHECK(t_write_text("make.py", script) && system(cmd) == 0, "%s failed", cmd);
    gl_error err = {0};
    gl_npy *a = gl_npy_load("ok.npy", &err);
    CHECK(a != NULL, "%s", err.msg);
    if (!a) return;
    CHECK(a->ndim == 2 && a->shape[0] == 3 && a->shape[1] == 4 && a->count == 12 &&
              !strcmp(a->dtype, "<f4"),
          "shape");
    float want[12];
    for (int i = 0; i < 12; i++)
        want[i] = (float)i / 8;
    CHECK_CLOSE("ok.npy", (const float *)a->data, want, 12, 0, 0);
    gl_npy_free(a);
}

/* A shape whose product overflows size_t used to wrap (to 0 for 2^32 x 2^32) and then match an
 * empty payload: the caller got a 2^64-element array backed by nothing. */
static void test_npy_shape_overflow(void) {
    static const char *const names[] = {"wrap0.npy", "wrap_bytes.npy", "three.npy"};
    for (int i = 0; i < 3; i++) {
        gl_error err = {0};
        gl_npy *a = gl_npy_load(names[i], &err);
        CHECK(!a && err.code == GL_ERR_LIMIT, "%s: %s (%s)", names[i], gl_status_name(err.code),
              err.msg);
        CHECK(strstr(err.msg, names[i]) && strstr(err.msg, "shape"), "%s", err.msg);
        gl_npy_free(a);
    }
    gl_error err = {0};
    gl_npy *a = gl_npy_load("short.npy", &err);
    CHECK(!a && err.code == GL_ERR_FORMAT && strstr(err.msg, "short.npy"), "%s", err.msg);
    gl_npy_free(a);
}

int main(void) {
    RUN(test_npy_against_numpy);
    RUN(test_npy_shape_overflow);
    T_SUMMARY();
}
