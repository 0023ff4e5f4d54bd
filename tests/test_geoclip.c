/* test_geoclip.c: GeoCLIP parity against ../shared/fixtures/geoclip (reference outputs of the
 * official code): Equal Earth, location features, the image MLP, combined logits and top-5, plus
 * the gallery cache and the errors for wrong shapes and empty galleries. */
#include "harness.h"

#include <unistd.h>

#define FIX "fixtures/geoclip/"

static gl_geoclip *load_fixture(gl_error *err) {
    return gl_geoclip_load_files(t_path(FIX "location_encoder_random.pth"),
                                 t_path(FIX "image_encoder_mlp_weights.pth"),
                                 t_path(FIX "logit_scale_weights.pth"), err);
}

static int read_npy(const char *rel, gl_npy **a, size_t count) {
    gl_error err = {0};
    *a = gl_npy_load(t_path(FIX "%s", rel), &err);
    CHECK(*a && (*a)->count == count && !strcmp((*a)->dtype, "<f4"), "%s: %s", rel, err.msg);
    return *a && (*a)->count == count;
}

static void test_equal_earth(void) {
    gl_npy *in = NULL, *ex = NULL;
    if (read_npy("inputs_latlon.npy", &in, 400) && read_npy("expected_equal_earth.npy", &ex, 400)) {
        double xy[400];
        float xyf[400];
        gl_geoclip_equal_earth(in->data, 200, xy);
        for (int i = 0; i < 400; i++)
            xyf[i] = (float)xy[i];
        double worst = CHECK_CLOSE("equal earth", xyf, ex->data, 400, 1e-6, 0);
        printf("# equal earth max |d| %.3g\n", worst);
    }
    gl_npy_free(in);
    gl_npy_free(ex);
}

static void test_location_features(void) {
    gl_error err = {0};
    gl_geoclip *g = load_fixture(&err);
    CHECK(g != NULL, "%s", err.msg);
    gl_npy *in = NULL, *ex = NULL;
    if (g && read_npy("inputs_latlon.npy", &in, 400) &&
        read_npy("expected_location_features.npy", &ex, 200 * 512)) {
        float *f = malloc(200 * 512 * sizeof(float));
        CHECK_OK(gl_geoclip_encode_locations(g, in->data, 200, f, &err), &err);
        double worst = CHECK_CLOSE("location features", f, ex->data, 200 * 512, 2e-4, 0);
        printf("# location features max |d| %.3g\n", worst);
        free(f);
    }
    CHECK(g && fabs(gl_geoclip_logit_scale(g) - 39.687442) < 1e-4, "exp(logit_scale)");
    gl_npy_free(in);
    gl_npy_free(ex);
    gl_geoclip_free(g);
}

/* combo_image_features_in -> image MLP -> logits against the 200 inputs as the gallery. */
static void test_combo_logits(void) {
    gl_error err = {0};
    gl_geoclip *g = load_fixture(&err);
    gl_npy *in = NULL, *img = NULL, *mlp = NULL, *ex = NULL;
    int ok = g && read_npy("inputs_latlon.npy", &in, 400) &&
             read_npy("combo_image_features_in.npy", &img, 4 * 768) &&
             read_npy("combo_mlp_out.npy", &mlp, 4 * 512) &&
             read_npy("combo_logits.npy", &ex, 4 * 200);
    CHECK(ok, "fixtures: %s", err.msg);
    if (ok) {
        float out[4 * 512], logits[4 * 200];
        CHECK_OK(gl_geoclip_encode_images(g, img->data, 4, out, &err), &err);
        printf("# image MLP max |d| %.3g\n",
               CHECK_CLOSE("image MLP", out, mlp->data, 4 * 512, 1e-5, 0));
        gl_geo_gallery gal = {.latlon = in->data, .n = 200, .hash = "fixture"};
        double coords[400];
        for (int i = 0; i < 400; i++)
            coords[i] = ((float *)in->data)[i];
        gal.coords = coords;
        gl_geoclip_index *ix = gl_geoclip_index_new(g, &gal, "", &err);
        CHECK(ix != NULL, "%s", err.msg);
        gl_geo_guess top[4 * 5];
        if (ix) CHECK_OK(gl_geoclip_retrieve(ix, img->data, 4, 5, top, logits, &err), &err);
        printf("# combo logits max |d| %.3g\n",
               CHECK_CLOSE("logits", logits, ex->data, 800, 2e-3, 0));
        /* Top-5 rows per image, as listed in the fixture README. */
        static const int want[4][5] = {{124, 136, 153, 130, 173},
                                       {132, 58, 5, 136, 49},
                                       {58, 11, 173, 36, 149},
                                       {123, 130, 48, 132, 77}};
        for (int i = 0; ix && i < 4; i++)
            for (int r = 0; r < 5; r++)
                CHECK(top[i * 5 + r].gallery_row == want[i][r], "image %d rank %d: row %d, want %d",
                      i, r, top[i * 5 + r].gallery_row, want[i][r]);
        gl_geoclip_index_free(ix);
    }
    gl_npy_free(in);
    gl_npy_free(img);
    gl_npy_free(mlp);
    gl_npy_free(ex);
    gl_geoclip_free(g);
}

/* The gallery cache: the second index reads every location from disk and gives the same top-k. */
static void test_gallery_cache(void) {
    gl_error err = {0};
    gl_geoclip *g = load_fixture(&err);
    t_write_text("gal->csv", "LAT,LON\n48.8566,2.3522\n-33.8688,151.2093\n35.6895,139.6917\n0,0\n");
    gl_geo_gallery *gal = gl_geo_gallery_load("gal->csv", &err);
    CHECK(gal, "%s", err.msg);
    if (!gal) return;
    CHECK(gal->n == 4 && gal->coords[2] == -33.8688 && gal->coords[3] == 151.2093, "gallery rows");
    gl_npy *img = NULL;
    int ok = g && gal->n == 4 && read_npy("combo_image_features_in.npy", &img, 4 * 768);
    CHECK(system("rm -rf gc-cache && mkdir gc-cache") == 0, "a fresh cache folder");
    for (int pass = 0; ok && pass < 2; pass++) {
        gl_geoclip_index *ix = gl_geoclip_index_new(g, gal, "gc-cache", &err);
        CHECK(ix != NULL, "%s", err.msg);
        if (!ix) break;
        gl_geo_cache_stats st = gl_geoclip_index_stats(ix);
        CHECK(st.encoded == (pass ? 0 : 4) && st.cached == (pass ? 4 : 0),
              "pass %d: %ld encoded, %ld cached", pass, st.encoded, st.cached);
        gl_geo_guess q[2];
        CHECK_OK(gl_geoclip_retrieve(ix, img->data, 1, 2, q, NULL, &err), &err);
        /* Every answer is a gallery row, reported with the file's own coordinates. */
        CHECK(q[0].gallery_row >= 0 && q[0].gallery_row < 4 &&
                  q[0].lat == gal->coords[2 * q[0].gallery_row],
              "answer from the gallery");
        CHECK(q[0].score >= q[1].score && q[0].score <= 1, "ranked probabilities");
        gl_geoclip_index_free(ix);
    }
    gl_npy_free(img);
    gl_geo_gallery_free(gal);
    gl_geoclip_free(g);
    unlink("gal->csv");
    CHECK(system("rm -rf gc-cache") == 0, "cleanup");
}

static void test_bad_inputs(void) {
    gl_error err = {0};
    t_write_text("empty.csv", "LAT,LON\n");
    CHECK(!gl_geo_gallery_load("empty.csv", &err) && err.code == GL_ERR_FORMAT &&
              strstr(err.msg, "empty.csv: the gallery has no coordinates"),
          "%s", err.msg);
    t_write_text("empty.csv", "LAT,LON\n10,200\n");
    CHECK(!gl_geo_gallery_load("empty.csv", &err) && err.code == GL_ERR_FORMAT &&
              strstr(err.msg, "line 2: longitude '200'"),
          "%s", err.msg);
    unlink("empty.csv");
    /* The image MLP given as the location encoder: its tensors are not the encoder's. */
    gl_geoclip *g = gl_geoclip_load_files(t_path(FIX "image_encoder_mlp_weights.pth"),
                                          t_path(FIX "image_encoder_mlp_weights.pth"),
                                          t_path(FIX "logit_scale_weights.pth"), &err);
    CHECK(!g && strstr(err.msg, "LocEnc0.capsule.0.b"), "%s", err.msg);
    /* A safetensors image MLP whose second layer is transposed: a shape error naming it. */
    FILE *fp = fopen("mlp.safetensors", "wb");
    char hdr[512];
    size_t w0 = 768 * 768 * 4, b0 = 768 * 4, w2 = 512 * 768 * 4;
    int n =
        snprintf(hdr, sizeof hdr,
                 "{\"0.weight\":{\"dtype\":\"F32\",\"shape\":[768,768],\"data_offsets\":[0,%zu]},"
                 "\"0.bias\":{\"dtype\":\"F32\",\"shape\":[768],\"data_offsets\":[%zu,%zu]},"
                 "\"2.weight\":{\"dtype\":\"F32\",\"shape\":[768,512],\"data_offsets\":[%zu,%zu]},"
                 "\"2.bias\":{\"dtype\":\"F32\",\"shape\":[512],\"data_offsets\":[%zu,%zu]}}",
                 w0, w0, w0 + b0, w0 + b0, w0 + b0 + w2, w0 + b0 + w2, w0 + b0 + w2 + 2048);
    while (n % 8)
        hdr[n++] = ' ';
    uint64_t len = (uint64_t)n;
    fwrite(&len, 8, 1, fp);
    fwrite(hdr, 1, (size_t)n, fp);
    float *zeros = calloc(w0 + b0 + w2 + 2048, 1);
    fwrite(zeros, 1, w0 + b0 + w2 + 2048, fp);
    free(zeros);
    fclose(fp);
    g = gl_geoclip_load_files(t_path(FIX "location_encoder_random.pth"), "mlp.safetensors",
                              t_path(FIX "logit_scale_weights.pth"), &err);
    CHECK(!g && err.code == GL_ERR_SHAPE &&
              strstr(err.msg,
                     "mlp.safetensors: tensor '2.weight' has shape [768,512], expected [512,768]"),
          "%s", err.msg);
    unlink("mlp.safetensors");
    g = load_fixture(&err);
    gl_geo_gallery none = {0};
    CHECK(g && !gl_geoclip_index_new(g, &none, "", &err) && strstr(err.msg, "empty"), "%s",
          err.msg);
    gl_geoclip_free(g);
}

int main(void) {
    RUN(test_equal_earth);
    RUN(test_location_features);
    RUN(test_combo_logits);
    RUN(test_gallery_cache);
    RUN(test_bad_inputs);
    T_SUMMARY();
}
