/* test_core.c: the shared plumbing: errors, .npy reading against the fixtures, base64, CSV
 * quoting, atomic files. */
#include "harness.h"

#include <unistd.h>

static void test_npy_reads_fixture(void) {
    gl_npy *a = NULL;
    gl_error err = {0};
    a = gl_npy_load(t_path("fixtures/expected/input_ids.npy"), &err);
    CHECK(a, "%s", err.msg);
    CHECK(!strcmp(a->dtype, "<i4"), "dtype %s", a->dtype);
    CHECK(a->ndim == 2 && a->shape[0] == 12 && a->shape[1] == 77, "shape");
    if (a) CHECK(((int32_t *)a->data)[0] == GL_CLIP_SOT, "first id %d", ((int32_t *)a->data)[0]);
    gl_npy_free(a);
}

static void test_npy_roundtrip(void) {
    float v[6] = {1, 2, 3, 4, 5, -6.5f};
    int64_t shape[2] = {2, 3};
    gl_error err = {0};
    CHECK_OK(gl_npy_write_f32("t_core.npy", v, shape, 2, &err), &err);
    gl_npy *a = NULL;
    a = gl_npy_load("t_core.npy", &err);
    CHECK(a, "%s", err.msg);
    CHECK(a->ndim == 2 && a->shape[0] == 2 && a->shape[1] == 3, "shape");
    if (a) CHECK(!memcmp(a->data, v, sizeof v), "data");
    gl_npy_free(a);
    unlink("t_core.npy");
}

static void test_npy_rejects_truncated(void) {
    FILE *fp = fopen("t_bad.npy", "wb");
    fputs("\x93NUMPY\x01", fp);
    fclose(fp);
    gl_error err = {0};
    gl_npy *a = gl_npy_load("t_bad.npy", &err);
    CHECK(!a && err.code == GL_ERR_FORMAT, "code %d", err.code);
    gl_npy_free(a);
    CHECK(strstr(err.msg, "t_bad.npy") != NULL, "message names the file: %s", err.msg);
    unlink("t_bad.npy");
}

static void test_base64(void) {
    /* RFC 4648 section 10 test vectors. */
    const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char *e = gl_base64_encode(plain[i], strlen(plain[i]));
        CHECK(!strcmp(e, coded[i]), "encode %s -> %s", plain[i], e);
        free(e);
        unsigned char out[16];
        size_t n;
        gl_error err = {0};
        CHECK_OK(gl_base64_decode(coded[i], strlen(coded[i]), out, sizeof out, &n, &err), &err);
        CHECK(n == strlen(plain[i]) && !memcmp(out, plain[i], n), "decode %s", coded[i]);
    }
    unsigned char out[16];
    size_t n;
    gl_error err = {0};
    CHECK(gl_base64_decode("Zm9v!A==", 8, out, sizeof out, &n, &err) == GL_ERR_FORMAT, "bad char");
    CHECK(gl_base64_decode("Zm9", 3, out, sizeof out, &n, &err) == GL_ERR_FORMAT, "bad length");
    CHECK(gl_base64_decode("Zg==Zg==", 8, out, sizeof out, &n, &err) == GL_ERR_FORMAT, "mid pad");
}

static void test_atomic_abort_keeps_old(void) {
    gl_error err = {0};
    FILE *fp = fopen("t_atomic.txt", "w");
    fputs("old", fp);
    fclose(fp);
    gl_atomic_file f;
    CHECK_OK(gl_atomic_open(&f, "t_atomic.txt", &err), &err);
    fputs("new", f.fp);
    gl_atomic_abort(&f);
    char *s;
    CHECK_OK(gl_read_file("t_atomic.txt", 100, &s, NULL, &err), &err);
    CHECK(s && !strcmp(s, "old"), "content %s", s);
    free(s);
    CHECK_OK(gl_atomic_open(&f, "t_atomic.txt", &err), &err);
    gl_csv_write_field(f.fp, "a,\"b\"");
    CHECK_OK(gl_atomic_commit(&f, &err), &err);
    CHECK_OK(gl_read_file("t_atomic.txt", 100, &s, NULL, &err), &err);
    CHECK(s && !strcmp(s, "\"a,\"\"b\"\"\""), "csv quoting %s", s);
    free(s);
    unlink("t_atomic.txt");
}

static void test_make_dirs(void) {
    gl_error err = {0};
    CHECK_OK(gl_make_dirs("t_dirs/a/b/c", &err), &err);
    CHECK_OK(gl_make_dirs("t_dirs/a/b/c", &err), &err); /* existing: fine */
    CHECK(t_write_text("t_dirs/a/b/c/f.txt", "x"), "the folder exists and is writable");
    CHECK(t_write_text("t_dirs/file", "x"), "a plain file");
    CHECK(gl_make_dirs("t_dirs/file/sub", &err) == GL_ERR_IO, "a file in the way is an error");
    CHECK(strstr(err.msg, "t_dirs/file") != NULL, "message names the path: %s", err.msg);
    CHECK(system("rm -rf t_dirs") == 0, "cleanup");
}

static void test_softmax_and_norm(void) {
    float x[3] = {1, 2, 3};
    gl_softmax_rows(x, 1, 3);
    float exp3[3] = {0.09003057f, 0.24472847f, 0.66524096f};
    CHECK_CLOSE("softmax", x, exp3, 3, 1e-7, 0);
    float v[2] = {3, 4}, vn[2] = {0.6f, 0.8f};
    gl_l2_normalize_rows(v, 1, 2);
    CHECK_CLOSE("l2", v, vn, 2, 1e-7, 0);
}

int main(void) {
    RUN(test_npy_reads_fixture);
    RUN(test_npy_roundtrip);
    RUN(test_npy_rejects_truncated);
    RUN(test_base64);
    RUN(test_atomic_abort_keeps_old);
    RUN(test_make_dirs);
    RUN(test_softmax_and_norm);
    T_SUMMARY();
}
