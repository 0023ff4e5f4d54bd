/* test_safetensors.c: safetensors reading against the fixture models and against hand-built
 * files: exact F16/BF16 widening, sharded index.json sets, and every kind of lying header. */
#include "harness.h"
#include "io/safetensors.h"

#include <unistd.h>

/* Writes a safetensors file: header JSON (padded to 8), then payload bytes. */
static void write_st(const char *path, const char *header, const void *payload, size_t n) {
    FILE *fp = fopen(path, "wb");
    size_t h = strlen(header), padded = (h + 7) / 8 * 8;
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)(padded >> (8 * i));
    fwrite(len, 1, 8, fp);
    fwrite(header, 1, h, fp);
    for (size_t i = h; i < padded; i++)
        fputc(' ', fp);
    if (n) fwrite(payload, 1, n, fp);
    fclose(fp);
}

static gl_status open_one(const char *header, const void *payload, size_t n, gl_error *err) {
    write_st("t.safetensors", header, payload, n);
    gl_safetensors st;
    gl_status s = gl_st_open("t.safetensors", &st, err);
    gl_st_close(&st);
    unlink("t.safetensors");
    return s;
}

static void test_reads_fixture_header(void) {
    gl_safetensors st;
    gl_error err = {0};
    CHECK_OK(gl_st_open(t_path("fixtures/clip-tiny-b32/model.safetensors"), &st, &err), &err);
    CHECK(st.n_tensors == 78, "78 tensors, got %d", st.n_tensors);
    const gl_st_tensor *t = gl_st_find(&st, "text_model.embeddings.token_embedding.weight");
    CHECK(t && t->dtype == GL_ST_F32 && t->ndim == 2 && t->shape[0] == 49408 && t->shape[1] == 64,
          "token_embedding");
    const gl_st_tensor *ls = gl_st_find(&st, "logit_scale");
    CHECK(ls && ls->ndim == 0 && ls->count == 1, "logit_scale is a scalar");
    if (ls) {
        float v;
        memcpy(&v, ls->data, 4);
        CHECK(fabsf(v - 2.6592f) < 1e-6f, "logit_scale %g", v);
    }
    CHECK(gl_st_find(&st, "no.such.tensor") == NULL, "absent name");
    gl_st_close(&st);

    CHECK_OK(gl_st_open(t_path("fixtures/clip-tiny-l14-336/model.safetensors"), &st, &err), &err);
    CHECK(st.n_tensors == 62, "62 tensors, got %d", st.n_tensors);
    ls = gl_st_find(&st, "logit_scale");
    CHECK(ls && ls->dtype == GL_ST_F16, "F16 model");
    if (ls) {
        float v;
        gl_st_widen(ls->dtype, ls->data, 1, &v);
        /* numpy: float(np.float16(2.6592)) == 2.66015625 */
        CHECK(v == 2.66015625f, "F16 logit_scale %.9g", v);
    }
    gl_st_close(&st);
}

static void test_widen_exact(void) {
    const unsigned char f16[] = {0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00, 0xff,
                                 0x7b, 0x00, 0x7c, 0x00, 0x80, 0x00, 0x02};
    float out[7];
    gl_st_widen(GL_ST_F16, f16, 7, out);
    CHECK(out[0] == 1.0f && out[1] == -2.0f, "1, -2: %g %g", out[0], out[1]);
    CHECK(out[2] == ldexpf(1.0f, -24), "smallest subnormal %g", out[2]);
    CHECK(out[3] == 65504.0f, "largest half %g", out[3]);
    CHECK(isinf(out[4]) && out[4] > 0, "inf");
    CHECK(out[5] == 0.0f && signbit(out[5]), "-0");
    CHECK(out[6] == ldexpf(1.0f, -15), "subnormal 0x0200 %g", out[6]);
    const unsigned char bf16[] = {0x80, 0x3f, 0x49, 0x40, 0x80, 0xbf};
    gl_st_widen(GL_ST_BF16, bf16, 3, out);
    CHECK(out[0] == 1.0f && out[1] == 3.140625f && out[2] == -1.0f, "bf16 %g %g %g", out[0], out[1],
          out[2]);
}

static void test_rejects_lies(void) {
    float data[4] = {1, 2, 3, 4};
    gl_error err = {0};
    gl_status s = open_one("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
                           data, 16, &err);
    CHECK(s == GL_OK, "a good file opens: %s", err.msg);
    struct {
        const char *header, *needle;
    } bad[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,20]}}", "exceed"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", "needs"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
         "overlap"},
        {"{\"a\":{\"dtype\":\"Q4\",\"shape\":[4],\"data_offsets\":[0,16]}}", "dtype"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}", "shape"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,4]}}", "data_offsets"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,16]}}",
         "shape"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}", "JSON"},
        {"[1,2]", "JSON"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4]}}", "lacks"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gl_error e = {0};
        s = open_one(bad[i].header, data, 16, &e);
        CHECK(s == GL_ERR_FORMAT, "case %zu: code %d (%s)", i, s, e.msg);
        CHECK(strstr(e.msg, "t.safetensors") && strstr(e.msg, bad[i].needle), "case %zu: %s", i,
              e.msg);
        CHECK(!strchr(e.msg, '\n'), "one line");
    }
}

static void test_rejects_bad_lengths(void) {
    FILE *fp = fopen("short.safetensors", "wb");
    fputs("abc", fp);
    fclose(fp);
    gl_safetensors st;
    gl_error err = {0};
    CHECK(gl_st_open("short.safetensors", &st, &err) == GL_ERR_FORMAT, "3-byte file: %s", err.msg);
    CHECK(strstr(err.msg, "short.safetensors") != NULL, "names the file: %s", err.msg);
    fp = fopen("huge.safetensors", "wb");
    unsigned char len[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
    fwrite(len, 1, 8, fp);
    fputs("{}      ", fp);
    fclose(fp);
    CHECK(gl_st_open("huge.safetensors", &st, &err) == GL_ERR_FORMAT, "huge header length: %s",
          err.msg);
    CHECK(strstr(err.msg, "header length") != NULL, "%s", err.msg);
    CHECK(gl_st_open("absent.safetensors", &st, &err) == GL_ERR_IO, "missing file: %s", err.msg);
    gl_st_close(&st);
    unlink("short.safetensors");
    unlink("huge.safetensors");
}

static void test_sharded_index(void) {
    float a[2] = {1, 2}, b[3] = {3, 4, 5};
    write_st("model-00001-of-00002.safetensors",
             "{\"__metadata__\":{\"format\":\"pt\"},"
             "\"x.a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
             a, 8);
    write_st("model-00002-of-00002.safetensors",
             "{\"x.b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}", b, 12);
    FILE *fp = fopen("model.safetensors.index.json", "w");
    fputs("{\"metadata\":{\"total_size\":20},\"weight_map\":{\"x.a\":\"model-00001-of-00002."
          "safetensors\","
          "\"x.b\":\"model-00002-of-00002.safetensors\"}}",
          fp);
    fclose(fp);
    gl_safetensors st;
    gl_error err = {0};
    CHECK_OK(gl_st_open("model.safetensors.index.json", &st, &err), &err);
    CHECK(st.n_files == 2 && st.n_tensors == 2, "2 files, 2 tensors");
    const gl_st_tensor *t = gl_st_find(&st, "x.b");
    CHECK(t && t->count == 3 && !memcmp(t->data, b, 12), "x.b from shard 2");
    CHECK(t && strstr(gl_st_tensor_path(&st, t), "00002"), "path of x.b");
    uint64_t d1[2], d2[2];
    gl_st_digest(&st, d1);
    gl_st_close(&st);

    /* the digest follows the bytes: change one weight */
    b[1] = 4.5f;
    write_st("model-00002-of-00002.safetensors",
             "{\"x.b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}", b, 12);
    CHECK_OK(gl_st_open("model.safetensors.index.json", &st, &err), &err);
    gl_st_digest(&st, d2);
    CHECK(d1[0] != d2[0] && d1[1] != d2[1], "digest changes with a weight");
    gl_st_close(&st);

    fp = fopen("model.safetensors.index.json", "w");
    fputs("{\"weight_map\":{\"x.a\":\"model-00002-of-00002.safetensors\",\"x.b\":\"model-00002-of-"
          "00002.safetensors\"}}",
          fp);
    fclose(fp);
    CHECK(gl_st_open("model.safetensors.index.json", &st, &err) == GL_ERR_FORMAT,
          "x.a is not in shard 2");
    CHECK(strstr(err.msg, "'x.a'") != NULL, "%s", err.msg);
    fp = fopen("model.safetensors.index.json", "w");
    fputs("{\"weight_map\":{\"x.a\":\"../etc/passwd\"}}", fp);
    fclose(fp);
    CHECK(gl_st_open("model.safetensors.index.json", &st, &err) == GL_ERR_FORMAT,
          "path escape refused");
    unlink("model-00001-of-00002.safetensors");
    unlink("model-00002-of-00002.safetensors");
    unlink("model.safetensors.index.json");
}

int main(void) {
    RUN(test_reads_fixture_header);
    RUN(test_widen_exact);
    RUN(test_rejects_lies);
    RUN(test_rejects_bad_lengths);
    RUN(test_sharded_index);
    T_SUMMARY();
}
