/* test_raster.c: windowed raster reads, stretches, nodata/alpha and georeferencing on the real
 * imagery in ../shared/data/imagery, checked against GDAL's own utilities and numpy. */
#include "harness.h"

#include <cjson/cJSON.h>
#include <stdint.h>

static const char *img(const char *name) {
    return t_path("data/imagery/%s", name);
}

static int run(const char *cmd) {
    char full[4200];
    snprintf(full, sizeof full, "%s >/dev/null 2>&1", cmd);
    return system(full);
}

/* Runs a command and returns its whole stdout (malloc'ed), or NULL. */
static char *capture(const char *cmd) {
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t k;
    while (buf && (k = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += k;
        if (n + 1 == cap) buf = realloc(buf, cap *= 2);
    }
    if (pclose(p) != 0 || !buf) {
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    return buf;
}

static cJSON *gdalinfo_json(const char *path, const char *extra) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "gdalinfo -json %s '%s' 2>/dev/null", extra, path);
    char *out = capture(cmd);
    cJSON *j = out ? cJSON_Parse(out) : NULL;
    free(out);
    return j;
}

static double jnum(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* The n bytes of a raw file a command wrote, malloc'ed; NULL when it holds fewer. */
static unsigned char *read_raw(const char *path, size_t n) {
    unsigned char *b = malloc(n);
    FILE *f = fopen(path, "rb");
    size_t got = f && b ? fread(b, 1, n, f) : 0;
    if (f) fclose(f);
    if (got != n) {
        free(b);
        return NULL;
    }
    return b;
}

/* Band-sequential bytes of `gdal_translate -srcwin` output (ENVI raw), malloc'ed. */
static unsigned char *translate_window(const char *path, int x, int y, int w, int h,
                                       const char *band_args, int nbands) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "gdal_translate -q -of ENVI -co INTERLEAVE=BSQ -ot Byte %s -srcwin %d %d %d %d '%s' "
             "win.bin",
             band_args, x, y, w, h, path);
    return run(cmd) == 0 ? read_raw("win.bin", (size_t)w * h * nbands) : NULL;
}

/* Largest |ours - theirs| over the window's three channels (theirs band-sequential). */
static int max_channel_diff(const unsigned char *rgb, const unsigned char *bsq, int w, int h) {
    int md = 0;
    size_t n = (size_t)w * h;
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < 3; c++) {
            int d = abs((int)rgb[3 * i + c] - bsq[c * n + i]);
            if (d > md) md = d;
        }
    return md;
}

static gl_raster *open_with(const char *path, gl_stretch_kind stretch, int b0, int b1, int b2) {
    gl_raster_params p = gl_raster_default_params();
    p.stretch = stretch;
    p.bands[0] = b0;
    p.bands[1] = b1;
    p.bands[2] = b2;
    gl_error err = {0};
    gl_raster *r = gl_raster_open(path, &p, &err);
    CHECK(r != NULL, "open %s: %s", path, err.msg);
    return r;
}

/* Size, band count, geotransform and EPSG code agree with gdalinfo -json; pixel corners agree
 * with gdaltransform (GDAL's own pixel -> CRS computation) to 1e-6 of a pixel. */
static void test_info_and_bounds(void) {
    const char *files[] = {"RGB.byte.tif", "world.rgb.tif", "L7_ETMs.tif", "uint16_cog.tif",
                           "drone_rgba_nodata.tif"};
    for (int f = 0; f < 5; f++) {
        const char *path = img(files[f]);
        cJSON *j = gdalinfo_json(path, "");
        CHECK(j != NULL, "gdalinfo -json %s", path);
        gl_raster *r = open_with(path, GL_STRETCH_NONE, 0, 0, 0);
        if (!j || !r) {
            cJSON_Delete(j);
            gl_raster_free(r);
            continue;
        }
        const gl_raster_info *in = gl_raster_get_info(r);
        const cJSON *size = cJSON_GetObjectItem(j, "size"),
                    *gt = cJSON_GetObjectItem(j, "geoTransform");
        CHECK(in->width == cJSON_GetArrayItem(size, 0)->valueint &&
                  in->height == cJSON_GetArrayItem(size, 1)->valueint,
              "%s size %dx%d", files[f], in->width, in->height);
        CHECK(in->band_count == cJSON_GetArraySize(cJSON_GetObjectItem(j, "bands")), "%s bands",
              files[f]);
        CHECK(in->has_geotransform, "%s geotransform", files[f]);
        for (int k = 0; k < 6; k++)
            CHECK(fabs(in->geotransform[k] - cJSON_GetArrayItem(gt, k)->valuedouble) <=
                      1e-12 * fabs(in->geotransform[k]),
                  "%s gt[%d] %.17g", files[f], k, in->geotransform[k]);
        char want[64];
        snprintf(want, sizeof want, "EPSG:%d",
                 (int)jnum(cJSON_GetObjectItem(j, "stac"), "proj:epsg"));
        CHECK(in->has_crs && !strcmp(in->crs_label, want), "%s crs %s vs %s", files[f],
              in->crs_label, want);
        /* The CRS itself travels as one-line WKT2 carrying gdalinfo's code. */
        char id[96];
        snprintf(id, sizeof id, "ID[\"EPSG\",%s]", want + 5);
        CHECK(in->crs_wkt && !strchr(in->crs_wkt, '\n') && strstr(in->crs_wkt, id), "%s WKT %.80s",
              files[f], in->crs_wkt ? in->crs_wkt : "(none)");
        /* Tile corners of a 3x3 split and the far corner, through gdaltransform. */
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "printf '0 0\\n%d %d\\n%d %d\\n%d %d\\n' | gdaltransform '%s'",
                 in->width / 3, in->height / 3, 2 * (in->width / 3), in->height, in->width,
                 in->height, path);
        char *out = capture(cmd);
        CHECK(out != NULL, "%s", cmd);
        int pts[4][2] = {{0, 0},
                         {in->width / 3, in->height / 3},
                         {2 * (in->width / 3), in->height},
                         {in->width, in->height}};
        const char *p = out;
        for (int k = 0; out && k < 4; k++) {
            char *end;
            double gx = strtod(p, &end), gy = strtod(end, &end);
            strtod(end, &end);
            p = end;
            double x, y;
            gl_raster_pixel_to_crs(in, pts[k][0], pts[k][1], &x, &y);
            double px = fabs(x - gx) / fabs(in->geotransform[1]);
            double py = fabs(y - gy) / fabs(in->geotransform[5]);
            CHECK(px <= 1e-6 && py <= 1e-6,
                  "%s corner %d: (%.9f,%.9f) vs gdaltransform (%.9f,%.9f)", files[f], k, x, y, gx,
                  gy);
        }
        free(out);
        gl_raster_free(r);
        cJSON_Delete(j);
    }
}

/* Longitude/latitude of pixel centres against gdaltransform -t_srs EPSG:4326. */
static void test_lonlat(void) {
    const char *files[] = {"RGB.byte.tif", "world.rgb.tif", "L7_ETMs.tif", "drone_rgba_nodata.tif"};
    for (int f = 0; f < 4; f++) {
        gl_raster *r = open_with(img(files[f]), GL_STRETCH_NONE, 0, 0, 0);
        if (!r) continue;
        const gl_raster_info *in = gl_raster_get_info(r);
        double col = in->width * 0.37 + 0.5, row = in->height * 0.61 + 0.5, x, y, lon, lat;
        gl_raster_pixel_to_crs(in, col, row, &x, &y);
        gl_error err = {0};
        CHECK_OK(gl_raster_crs_to_lonlat(r, x, y, &lon, &lat, &err), &err);
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "echo '%.10f %.10f' | gdaltransform -t_srs EPSG:4326 '%s'", col,
                 row, img(files[f]));
        char *out = capture(cmd);
        double glon = NAN, glat = NAN;
        if (out) sscanf(out, "%lf %lf", &glon, &glat);
        CHECK(fabs(lon - glon) < 1e-9 && fabs(lat - glat) < 1e-9,
              "%s: ours (%.12f, %.12f) gdaltransform (%.12f, %.12f)", files[f], lon, lat, glon,
              glat);
        free(out);
        gl_raster_free(r);
    }
}

/* Windows are exactly gdal_translate -srcwin's bytes (band selection included). pal.tif is
 * written by the numpy reference script in the working directory. */
static void test_byte_windows(void) {
    struct {
        const char *file;
        int bands[3];
        const char *band_args;
        gl_stretch_kind stretch;
        int x, y, w, h;
    } cases[] = {
        {"RGB.byte.tif", {0, 0, 0}, "-b 1 -b 2 -b 3", GL_STRETCH_NONE, 100, 200, 64, 48},
        /* global min 0 and max 255: GVL's stretch is the identity here */
        {"RGB.byte.tif", {0, 0, 0}, "-b 1 -b 2 -b 3", GL_STRETCH_MINMAX, 700, 650, 91, 68},
        {"world.rgb.tif", {0, 0, 0}, "-b 1 -b 2 -b 3", GL_STRETCH_MINMAX, 0, 0, 512, 256},
        {"L7_ETMs.tif", {4, 3, 2}, "-b 4 -b 3 -b 2", GL_STRETCH_NONE, 30, 40, 224, 200},
        {"L7_ETMs.tif", {5, 0, 0}, "-b 5 -b 5 -b 5", GL_STRETCH_NONE, 0, 0, 349, 352},
        {"drone_rgba_nodata.tif", {0, 0, 0}, "-b 1 -b 2 -b 3", GL_STRETCH_NONE, 300, 0, 386, 100},
        /* a palette band expands like -expand rgb, whatever the stretch */
        {"pal.tif", {0, 0, 0}, "-expand rgb", GL_STRETCH_MINMAX, 3, 5, 50, 40},
        /* uint16 without a stretch saturates like -ot Byte */
        {"uint16_cog.tif", {0, 0, 0}, "-b 1 -b 1 -b 1", GL_STRETCH_NONE, 50, 60, 50, 40},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *path = strcmp(cases[i].file, "pal.tif") ? img(cases[i].file) : "pal.tif";
        gl_raster *r = open_with(path, cases[i].stretch, cases[i].bands[0], cases[i].bands[1],
                                 cases[i].bands[2]);
        int w = cases[i].w, h = cases[i].h;
        unsigned char *rgb = malloc((size_t)w * h * 3);
        unsigned char *ref =
            translate_window(path, cases[i].x, cases[i].y, w, h, cases[i].band_args, 3);
        gl_error err = {0};
        CHECK(ref != NULL, "gdal_translate %s", cases[i].file);
        if (r && ref) {
            CHECK_OK(gl_raster_read_rgb(r, cases[i].x, cases[i].y, w, h, rgb, NULL, &err), &err);
            int md = max_channel_diff(rgb, ref, w, h);
            CHECK(md == 0, "case %zu %s: max |d| %d", i, cases[i].file, md);
        }
        free(rgb);
        free(ref);
        gl_raster_free(r);
    }
}

/* Writes reference arrays with numpy from GDAL's Python bindings: GVL's min/max formula over
 * the whole image (its split_image), inverted-CDF percentiles, nodata and alpha masks. */
static int make_numpy_refs(void) {
    char script[8192];
    snprintf(
        script, sizeof script,
        "import numpy as np\n"
        "from osgeo import gdal\n"
        "D = '%s/data/imagery/'\n"
        "def gvl(a):\n"
        "    a = np.moveaxis(a, 0, -1)\n"
        "    return ((a - a.min()) / (a.max() - a.min()) * 255).astype(np.uint8)\n"
        "u = gdal.Open(D + 'uint16_cog.tif').ReadAsArray()\n"
        "np.save('u16_gvl.npy', gvl(np.stack([u, u, u]))[1000:1224, 2400:2658])\n"
        "lo, hi = np.percentile(u, [2, 98], method='inverted_cdf')\n"
        "np.save('u16_pct.npy', np.array([lo, hi], dtype=np.float64))\n"
        "l7 = gdal.Open(D + 'L7_ETMs.tif').ReadAsArray()\n"
        "np.save('l7_gvl.npy', gvl(l7[[3, 2, 1]]))\n"
        "rgb = gdal.Open(D + 'RGB.byte.tif').ReadAsArray()\n"
        "np.save('rgb_pct.npy', np.array([np.percentile(b[b != 0], [5, 95], method='inverted_cdf')"
        " for b in rgb], dtype=np.float64))\n"
        "np.save('rgb_valid.npy', (rgb != 0).any(0).astype(np.uint8))\n"
        "dr = gdal.Open(D + 'drone_rgba_nodata.tif').ReadAsArray()\n"
        "np.save('drone_valid.npy', (dr[3] > 0).astype(np.uint8))\n"
        "# about 3 values in a million truncate differently in float32 and float64\n"
        "f = (np.random.default_rng(1).random((3, 1000, 1000)) * 0.8 + 0.1).astype(np.float32)\n"
        "ds = gdal.GetDriverByName('GTiff').Create('f32.tif', 1000, 1000, 3, gdal.GDT_Float32)\n"
        "[ds.GetRasterBand(i + 1).WriteArray(f[i]) for i in range(3)]\n"
        "ds = None\n"
        "np.save('f32_gvl.npy', gvl(f))\n"
        "ct = gdal.ColorTable()\n"
        "[ct.SetColorEntry(i, (i * 7 %% 256, 255 - i, i * 3 %% 256, 255)) for i in range(200)]\n"
        "ds = gdal.GetDriverByName('GTiff').Create('pal.tif', 64, 48, 1, gdal.GDT_Byte)\n"
        "ds.GetRasterBand(1).WriteArray((np.arange(64 * 48).reshape(48, 64) %% "
        "230).astype(np.uint8))\n"
        "ds.GetRasterBand(1).SetRasterColorTable(ct)\n"
        "ds = None\n",
        t_shared());
    FILE *f = fopen("refs.py", "w");
    if (!f) return 0;
    fputs(script, f);
    fclose(f);
    return run("${PY:-/usr/bin/python3} refs.py") == 0;
}

/* Compares a [h][w] or [h][w][3] uint8 npy with ours; returns differing bytes (-1: bad file). */
static long npy_diff(const char *path, const unsigned char *got, size_t n, int *max_diff) {
    gl_error err = {0};
    *max_diff = 0;
    gl_npy *a = gl_npy_load(path, &err);
    if (!a || a->count != n || strcmp(a->dtype, "|u1")) {
        gl_npy_free(a);
        return -1;
    }
    long bad = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)got[i] - ((unsigned char *)a->data)[i]);
        bad += d != 0;
        if (d > *max_diff) *max_diff = d;
    }
    gl_npy_free(a);
    return bad;
}

static void test_numpy_refs(void) {
    CHECK(make_numpy_refs(), "numpy reference script failed");
}

static void test_minmax_like_gvl(void) {
    gl_error err = {0};
    int md;
    /* L7 bands 4,3,2: the whole scene as GVL would stretch it. */
    gl_raster *r = open_with(img("L7_ETMs.tif"), GL_STRETCH_MINMAX, 4, 3, 2);
    if (r) {
        unsigned char *rgb = malloc(349 * 352 * 3);
        CHECK_OK(gl_raster_read_rgb(r, 0, 0, 349, 352, rgb, NULL, &err), &err);
        long bad = npy_diff("l7_gvl.npy", rgb, 349 * 352 * 3, &md);
        CHECK(bad == 0, "L7 4,3,2 vs GVL formula: %ld differ, max %d", bad, md);
        free(rgb);
        gl_raster_free(r);
    }
    /* uint16: a window of the stretched scene. */
    r = open_with(img("uint16_cog.tif"), GL_STRETCH_MINMAX, 0, 0, 0);
    if (r) {
        int w = 258, h = 224;
        unsigned char *rgb = malloc((size_t)w * h * 3);
        CHECK_OK(gl_raster_read_rgb(r, 2400, 1000, w, h, rgb, NULL, &err), &err);
        long bad = npy_diff("u16_gvl.npy", rgb, (size_t)w * h * 3, &md);
        CHECK(bad == 0, "uint16 window vs GVL formula: %ld differ, max %d", bad, md);
        free(rgb);
        gl_raster_free(r);
    }
}

/* Float32 data: GVL's formula runs in float32 in numpy, and so must ours. */
static void test_float32_like_gvl(void) {
    gl_raster *r = open_with("f32.tif", GL_STRETCH_MINMAX, 0, 0, 0);
    if (!r) return;
    unsigned char *rgb = malloc(1000 * 1000 * 3);
    gl_error err = {0};
    int md;
    CHECK_OK(gl_raster_read_rgb(r, 0, 0, 1000, 1000, rgb, NULL, &err), &err);
    long bad = npy_diff("f32_gvl.npy", rgb, 1000 * 1000 * 3, &md);
    CHECK(bad == 0, "float32 vs GVL formula: %ld differ, max %d", bad, md);
    free(rgb);
    gl_raster_free(r);
}

/* A picture without georeferencing opens as a raster with no CRS; lon/lat is refused. */
static void test_plain_picture(void) {
    gl_raster *r =
        open_with(t_path("fixtures/expected/images/01_chelsea.png"), GL_STRETCH_NONE, 0, 0, 0);
    if (!r) return;
    const gl_raster_info *in = gl_raster_get_info(r);
    CHECK(!in->has_geotransform && !in->has_crs && !in->crs_label[0] && !in->crs_wkt,
          "georeferenced?");
    double lon, lat;
    gl_error err = {0};
    CHECK(gl_raster_crs_to_lonlat(r, 1, 2, &lon, &lat, &err) == GL_ERR_UNSUPPORTED &&
              strstr(err.msg, "01_chelsea.png"),
          "%s", err.msg);
    gl_raster_free(r);
}

/* uint16 min/max agree with gdalinfo -mm; the stretched window is gdal_translate -scale's within
 * one level (GDAL rounds to nearest, GVL and we truncate). */
static void test_uint16_vs_gdal_translate(void) {
    const char *path = img("uint16_cog.tif");
    cJSON *j = gdalinfo_json(path, "-mm");
    CHECK(j != NULL, "gdalinfo -mm");
    gl_raster *r = open_with(path, GL_STRETCH_MINMAX, 0, 0, 0);
    if (!j || !r) {
        cJSON_Delete(j);
        gl_raster_free(r);
        return;
    }
    const cJSON *b = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "bands"), 0);
    double mn = jnum(b, "computedMin"), mx = jnum(b, "computedMax"), lo[3], hi[3];
    gl_error err = {0};
    CHECK_OK(gl_raster_stretch_range(r, lo, hi, &err), &err);
    CHECK(lo[0] == mn && hi[2] == mx, "range %g..%g vs gdalinfo %g..%g", lo[0], hi[2], mn, mx);
    char args[256];
    snprintf(args, sizeof args, "-b 1 -b 1 -b 1 -scale %.17g %.17g 0 255", mn, mx);
    int x = 1234, y = 2301, w = 300, h = 366;
    unsigned char *ref = translate_window(path, x, y, w, h, args, 3);
    unsigned char *rgb = malloc((size_t)w * h * 3);
    CHECK(ref != NULL, "gdal_translate -scale");
    CHECK_OK(gl_raster_read_rgb(r, x, y, w, h, rgb, NULL, &err), &err);
    if (ref) {
        int md = max_channel_diff(rgb, ref, w, h);
        CHECK(md <= 1, "uint16 window vs gdal_translate -scale: max |d| %d", md);
    }
    free(ref);
    free(rgb);
    gl_raster_free(r);
    cJSON_Delete(j);
}

static void test_percentile(void) {
    gl_raster_params p = gl_raster_default_params();
    p.stretch = GL_STRETCH_PERCENTILE;
    p.percentile_low = 2;
    p.percentile_high = 98;
    gl_error err = {0};
    gl_raster *r = gl_raster_open(img("uint16_cog.tif"), &p, &err);
    CHECK(r != NULL, "%s", err.msg);
    gl_npy *ref = NULL;
    ref = gl_npy_load("u16_pct.npy", &err);
    CHECK(ref, "%s", err.msg);
    double lo[3], hi[3];
    if (r && ref->data) {
        CHECK_OK(gl_raster_stretch_range(r, lo, hi, &err), &err);
        const double *e = ref->data;
        CHECK(lo[0] == e[0] && hi[0] == e[1], "percentiles %g,%g vs numpy %g,%g", lo[0], hi[0],
              e[0], e[1]);
        char args[256];
        snprintf(args, sizeof args, "-b 1 -b 1 -b 1 -scale %.17g %.17g 0 255", e[0], e[1]);
        unsigned char *want = translate_window(img("uint16_cog.tif"), 700, 900, 64, 64, args, 3);
        unsigned char px[3 * 64 * 64];
        CHECK_OK(gl_raster_read_rgb(r, 700, 900, 64, 64, px, NULL, &err), &err);
        CHECK(want && max_channel_diff(px, want, 64, 64) <= 1, "percentile window vs -scale");
        free(want);
    }
    gl_npy_free(ref);
    gl_raster_free(r);
    /* RGB.byte.tif: per band, nodata (0) left out. Run on a copy: no .aux.xml may appear. */
    char *data;
    size_t n;
    CHECK_OK(gl_read_file(img("RGB.byte.tif"), 1 << 24, &data, &n, &err), &err);
    FILE *f = fopen("copy.tif", "wb");
    fwrite(data, 1, n, f);
    fclose(f);
    free(data);
    p.percentile_low = 5;
    p.percentile_high = 95;
    r = gl_raster_open("copy.tif", &p, &err);
    ref = gl_npy_load("rgb_pct.npy", &err);
    CHECK(ref, "%s", err.msg);
    if (r && ref->data) {
        CHECK_OK(gl_raster_stretch_range(r, lo, hi, &err), &err);
        const double *e = ref->data;
        for (int c = 0; c < 3; c++)
            CHECK(lo[c] == e[2 * c] && hi[c] == e[2 * c + 1], "band %d: %g,%g vs numpy %g,%g",
                  c + 1, lo[c], hi[c], e[2 * c], e[2 * c + 1]);
    }
    gl_npy_free(ref);
    gl_raster_free(r);
    f = fopen("copy.tif.aux.xml", "rb");
    CHECK(f == NULL, "an .aux.xml was written beside the data");
    if (f) fclose(f);
    p.percentile_low = 50;
    p.percentile_high = 10;
    r = gl_raster_open(img("uint16_cog.tif"), &p, &err);
    CHECK(!r && err.code == GL_ERR_ARG, "bad percentiles accepted");
    gl_raster_free(r);
}

/* valid: nodata 0 on every band (RGB.byte.tif) and the alpha band (drone). */
static void test_valid_masks(void) {
    struct {
        const char *file, *npy;
        int has_nodata, has_alpha;
    } cases[] = {{"RGB.byte.tif", "rgb_valid.npy", 1, 0},
                 {"drone_rgba_nodata.tif", "drone_valid.npy", 0, 1}};
    for (int i = 0; i < 2; i++) {
        gl_raster *r = open_with(img(cases[i].file), GL_STRETCH_NONE, 0, 0, 0);
        if (!r) continue;
        const gl_raster_info *in = gl_raster_get_info(r);
        CHECK(in->has_nodata == cases[i].has_nodata && in->has_alpha == cases[i].has_alpha,
              "%s nodata %d alpha %d", cases[i].file, in->has_nodata, in->has_alpha);
        size_t n = (size_t)in->width * in->height;
        unsigned char *rgb = malloc(n * 3), *valid = malloc(n);
        gl_error err = {0};
        CHECK_OK(gl_raster_read_rgb(r, 0, 0, in->width, in->height, rgb, valid, &err), &err);
        int md;
        long bad = npy_diff(cases[i].npy, valid, n, &md);
        CHECK(bad == 0, "%s valid: %ld differ", cases[i].file, bad);
        free(rgb);
        free(valid);
        gl_raster_free(r);
    }
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, n, f);
    fclose(f);
}

static void test_bad_inputs(void) {
    gl_error err = {0};
    unsigned char junk[8192];
    uint32_t s = 99;
    memcpy(junk, "II*\0", 4); /* a TIFF signature, then noise */
    for (size_t i = 4; i < sizeof junk; i++)
        junk[i] = (unsigned char)((s = s * 1664525 + 1013904223) >> 24);
    write_bytes("corrupt.tif", junk, sizeof junk);
    gl_raster *r = gl_raster_open("corrupt.tif", NULL, &err);
    CHECK(!r && err.code == GL_ERR_FORMAT && strstr(err.msg, "corrupt.tif") &&
              !strchr(err.msg, '\n'),
          "corrupt: %s", err.msg);
    gl_raster_free(r);
    r = gl_raster_open("nothere.tif", NULL, &err);
    CHECK(!r && err.code == GL_ERR_IO && strstr(err.msg, "nothere.tif"), "missing: %s", err.msg);
    /* A GeoTIFF cut short: opening may work, reading the lost rows must fail cleanly. */
    char *data;
    size_t n;
    CHECK_OK(gl_read_file(img("RGB.byte.tif"), 1 << 24, &data, &n, &err), &err);
    write_bytes("cut.tif", data, n / 3);
    free(data);
    gl_raster_params p = gl_raster_default_params();
    p.stretch = GL_STRETCH_NONE;
    r = gl_raster_open("cut.tif", &p, &err);
    if (r) {
        unsigned char px[791 * 3];
        gl_status st = gl_raster_read_rgb(r, 0, 700, 791, 1, px, NULL, &err);
        CHECK(st == GL_ERR_FORMAT && strstr(err.msg, "cut.tif"), "cut read: %s", err.msg);
    } else {
        CHECK(strstr(err.msg, "cut.tif") != NULL, "cut open: %s", err.msg);
    }
    gl_raster_free(r);
    /* A JPEG cut short: GDAL would pad it with gray; the read must fail instead. */
    CHECK_OK(gl_read_file(img("airport.jpg"), 1 << 24, &data, &n, &err), &err);
    write_bytes("cut.jpg", data, n / 2);
    free(data);
    r = gl_raster_open("cut.jpg", &p, &err);
    CHECK(r != NULL, "cut.jpg open: %s", err.msg);
    if (r) {
        unsigned char *px = malloc(224 * 224 * 3);
        gl_status st = gl_raster_read_rgb(r, 0, 0, 224, 224, px, NULL, &err);
        CHECK(st == GL_ERR_FORMAT && strstr(err.msg, "cut.jpg"), "cut jpeg read: %s", err.msg);
        free(px);
    }
    gl_raster_free(r);
    p.bands[0] = 7;
    r = gl_raster_open(img("L7_ETMs.tif"), &p, &err);
    CHECK(!r && err.code == GL_ERR_ARG && strstr(err.msg, "band 7"), "band 7: %s", err.msg);
    gl_raster_free(r);
    r = open_with(img("world.rgb.tif"), GL_STRETCH_NONE, 0, 0, 0);
    if (r) {
        unsigned char px[3 * 4];
        CHECK(gl_raster_read_rgb(r, 510, 0, 4, 1, px, NULL, &err) == GL_ERR_ARG, "window outside");
    }
    gl_raster_free(r);
}

/* A 20000 x 20000 sparse GeoTIFF made by gdal_create: windows anywhere are read without
 * touching the rest (the far corner here), and the bounds follow its geotransform. */
static void test_large_scene_window(void) {
    CHECK(
        run("gdal_create -q -of GTiff -outsize 20000 20000 -bands 3 -ot UInt16 -co TILED=YES "
            "-co SPARSE_OK=YES -a_srs EPSG:32633 -a_ullr 500000 4000000 520000 3980000 big.tif") ==
            0,
        "gdal_create failed");
    gl_raster *r = open_with("big.tif", GL_STRETCH_NONE, 0, 0, 0);
    if (!r) return;
    const gl_raster_info *in = gl_raster_get_info(r);
    CHECK(in->width == 20000 && in->height == 20000 && !strcmp(in->crs_label, "EPSG:32633"),
          "%dx%d %s", in->width, in->height, in->crs_label);
    unsigned char rgb[224 * 224 * 3], valid[224 * 224];
    memset(rgb, 9, sizeof rgb);
    gl_error err = {0};
    CHECK_OK(gl_raster_read_rgb(r, 20000 - 224, 20000 - 224, 224, 224, rgb, valid, &err), &err);
    int nonzero = 0, invalid = 0;
    for (int i = 0; i < 224 * 224 * 3; i++)
        nonzero += rgb[i] != 0;
    for (int i = 0; i < 224 * 224; i++)
        invalid += !valid[i];
    CHECK(!nonzero && !invalid, "%d nonzero, %d invalid", nonzero, invalid);
    double x, y;
    gl_raster_pixel_to_crs(in, 20000, 20000, &x, &y);
    CHECK(fabs(x - 520000) < 1e-6 && fabs(y - 3980000) < 1e-6, "corner %.9f %.9f", x, y);
    gl_raster_free(r);
}

/* Band-sequential bytes of `gdal_translate -srcwin x y w h -outsize ow oh -r average`: GDAL's own
 * reduced-resolution read of the window (from overviews when the file has them), malloc'ed. Made
 * as a GeoTIFF first, which GDAL writes in one swath: a raw ENVI output is written in row swaths,
 * and GDAL rounds the source window differently at each swath's edge (up to 8 levels apart on
 * one row). */
static unsigned char *translate_scaled(const char *path, int x, int y, int w, int h, int ow, int oh,
                                       const char *args) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "gdal_translate -q -ot Byte %s -srcwin %d %d %d %d -outsize %d %d -r average '%s' "
             "small.tif && gdal_translate -q -of ENVI -co INTERLEAVE=BSQ small.tif small.bin",
             args, x, y, w, h, ow, oh, path);
    return run(cmd) == 0 ? read_raw("small.bin", (size_t)ow * oh * 3) : NULL;
}

/* Reads (x,y,w,h) at ow x oh and compares with gdal_translate's; returns the largest difference
 * (-1 when something failed). valid (optional) must be 0 exactly where GDAL's three values are 0
 * (nodata 0 on every band: GDAL writes nodata where no pixel under it holds data). */
static int scaled_vs_gdal(gl_raster *r, const char *path, int x, int y, int w, int h, int ow,
                          int oh, const char *args, int check_valid) {
    unsigned char *ref = translate_scaled(path, x, y, w, h, ow, oh, args);
    unsigned char *rgb = malloc((size_t)ow * oh * 3), *valid = malloc((size_t)ow * oh);
    gl_error err = {0};
    int md = -1;
    CHECK(ref != NULL, "gdal_translate -outsize %d %d -r average %s", ow, oh, path);
    CHECK_OK(gl_raster_read_rgb_scaled(r, x, y, w, h, ow, oh, rgb, valid, &err), &err);
    if (ref && !err.code) {
        md = max_channel_diff(rgb, ref, ow, oh);
        size_t n = (size_t)ow * oh;
        long bad = 0, empty = 0;
        for (size_t i = 0; check_valid && i < n; i++) {
            int nodata = !ref[i] && !ref[n + i] && !ref[2 * n + i];
            bad += valid[i] == nodata;
            empty += nodata;
        }
        CHECK(!bad, "%s %dx%d as %dx%d: %ld valid flags differ (%ld nodata)", path, w, h, ow, oh,
              bad, empty);
    }
    free(ref);
    free(rgb);
    free(valid);
    return md;
}

/* Reduced-resolution windows equal GDAL's own -outsize -r average reads: decimated from full
 * resolution (RGB.byte.tif has no overviews; nodata left out of the averages, non-integer ratios),
 * through overviews (a file whose full-resolution pixels were blanked after gdaladdo: only an
 * overview read sees the picture), a uint16 stretch, and bad sizes refused. */
static void test_scaled_reads_vs_gdal(void) {
    const char *rgb_path = img("RGB.byte.tif");
    gl_raster *r = open_with(rgb_path, GL_STRETCH_NONE, 0, 0, 0);
    if (r) {
        int md = scaled_vs_gdal(r, rgb_path, 0, 0, 791, 718, 264, 240, "", 1);
        CHECK(md == 0, "whole scene at 264x240: max |d| %d", md);
        md = scaled_vs_gdal(r, rgb_path, 37, 51, 700, 650, 233, 217, "", 1);
        CHECK(md == 0, "window at 233x217: max |d| %d", md);
        md = scaled_vs_gdal(r, rgb_path, 100, 0, 400, 300, 100, 75, "", 1);
        CHECK(md == 0, "window at 100x75 (x4): max |d| %d", md);
        gl_error err = {0};
        unsigned char px[3 * 16];
        CHECK(gl_raster_read_rgb_scaled(r, 0, 0, 4, 4, 5, 4, px, NULL, &err) == GL_ERR_ARG,
              "enlarging accepted");
        CHECK(gl_raster_read_rgb_scaled(r, 0, 0, 4, 4, 0, 4, px, NULL, &err) == GL_ERR_ARG,
              "0 wide accepted");
    }
    gl_raster_free(r);

    /* 4000 x 3600 tiled with 2,4,8 overviews, then its full-resolution pixels set to 0 behind
     * GDAL's back: a read at 1/4 size must come from the level-4 overview (the picture), where a
     * full-resolution read would give black. */
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "gdal_translate -q -outsize 4000 3600 -r bilinear -a_nodata none -co TILED=YES '%s' "
             "ovr.tif && gdaladdo -q -r average ovr.tif 2 4 8 && %s -c \"from osgeo import gdal\n"
             "ds = gdal.Open('ovr.tif', gdal.GA_Update)\nimport numpy as np\n"
             "z = np.zeros((3600, 4000), np.uint8)\n"
             "[ds.GetRasterBand(b).WriteArray(z) for b in (1, 2, 3)]\nds = None\"",
             rgb_path, t_python());
    CHECK(run(cmd) == 0, "making ovr.tif");
    r = open_with("ovr.tif", GL_STRETCH_NONE, 0, 0, 0);
    if (r) {
        int md = scaled_vs_gdal(r, "ovr.tif", 0, 0, 4000, 3600, 1000, 900, "", 0);
        CHECK(md == 0, "overview read at 1000x900: max |d| %d", md);
        md = scaled_vs_gdal(r, "ovr.tif", 1333, 1200, 1333, 1200, 448, 403, "", 0);
        CHECK(md == 0, "overview read of a 3x3 tile at 448x403: max |d| %d", md);
        unsigned char full[3 * 64 * 64], small[3 * 16 * 16];
        long sum_full = 0, sum_small = 0;
        gl_error err = {0};
        CHECK_OK(gl_raster_read_rgb(r, 2000, 1800, 64, 64, full, NULL, &err), &err);
        CHECK_OK(gl_raster_read_rgb_scaled(r, 2000, 1800, 64, 64, 16, 16, small, NULL, &err), &err);
        for (int i = 0; i < 3 * 64 * 64; i++)
            sum_full += full[i];
        for (int i = 0; i < 3 * 16 * 16; i++)
            sum_small += small[i];
        CHECK(sum_full == 0 && sum_small > 0, "full resolution %ld (blanked), overview %ld",
              sum_full, sum_small);
    }
    gl_raster_free(r);

    /* uint16 with overviews, min/max stretched: GDAL averages, then -scale rounds where we
     * truncate (one level). */
    const char *u16 = img("uint16_cog.tif");
    cJSON *j = gdalinfo_json(u16, "-mm");
    r = open_with(u16, GL_STRETCH_MINMAX, 0, 0, 0);
    if (j && r) {
        const cJSON *b = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "bands"), 0);
        char args[256];
        snprintf(args, sizeof args, "-b 1 -b 1 -b 1 -scale %.17g %.17g 0 255",
                 jnum(b, "computedMin"), jnum(b, "computedMax"));
        int md = scaled_vs_gdal(r, u16, 0, 0, 2658, 2667, 896, 899, args, 0);
        CHECK(md >= 0 && md <= 1, "uint16 at 896x899: max |d| %d", md);
    }
    cJSON_Delete(j);
    gl_raster_free(r);
}

/* The model input (224 px, CLIP's preprocessing: antialiased bicubic to 224 on the shorter side,
 * centre crop, normalise) from a reduced read at gl_tile_read_size's size against the one from a
 * full-resolution read, in 8-bit levels: mean and largest |difference| over the 3 x 224 x 224
 * values, into mean_out and max_out; the scaled read's size goes to rw, rh. */
static void compare_model_inputs(gl_raster *r, int *rw, int *rh, double *mean_out,
                                 double *max_out) {
    const gl_raster_info *in = gl_raster_get_info(r);
    const int W = in->width, H = in->height, S = 224;
    gl_tile_read_size(W, H, S, 0, rw, rh);
    unsigned char *full = malloc((size_t)W * H * 3), *small = malloc((size_t)*rw * *rh * 3);
    float *a = malloc(sizeof(float) * 3 * S * S), *b = malloc(sizeof(float) * 3 * S * S);
    gl_preproc_config cfg = gl_preproc_default_config(S);
    gl_error err = {0};
    *mean_out = *max_out = -1;
    CHECK_OK(gl_raster_read_rgb(r, 0, 0, W, H, full, NULL, &err), &err);
    CHECK_OK(gl_raster_read_rgb_scaled(r, 0, 0, W, H, *rw, *rh, small, NULL, &err), &err);
    gl_image fi = {W, H, full, NULL}, si = {*rw, *rh, small, NULL};
    CHECK_OK(gl_preprocess(&cfg, &fi, a, &err), &err);
    CHECK_OK(gl_preprocess(&cfg, &si, b, &err), &err);
    if (!err.code) {
        double sum = 0, mx = 0;
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < S * S; i++) {
                double d = fabs((double)a[c * S * S + i] - b[c * S * S + i]) * cfg.std[c] * 255;
                sum += d;
                mx = d > mx ? d : mx;
            }
        *mean_out = sum / (3.0 * S * S);
        *max_out = mx;
    }
    free(full);
    free(small);
    free(a);
    free(b);
}

/* How close a reduced read is to a full one once the model has resized it (README "Large tiles"):
 * a real photo tiled 3 x 3 into 6000 x 6000 (GDAL averages 6.7 pixels into one), the uint16
 * satellite COG (overviews, factor 2.97) and the 2000 x 2000 JPEG (GDAL's DCT-scaled overview,
 * factor 2.23). Not identical; bounds above what was measured (figures printed). */
static void test_reduced_read_close_to_full(void) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "%s -c \"from osgeo import gdal\nimport numpy as np\n"
             "a = gdal.Open('%s').ReadAsArray()\n"
             "t = np.tile(a, (1, 3, 3))\n"
             "d = gdal.GetDriverByName('GTiff').Create('mosaic.tif', t.shape[2], t.shape[1], 3, "
             "gdal.GDT_Byte, ['TILED=YES'])\nd.WriteRaster(0, 0, t.shape[2], t.shape[1], "
             "t.tobytes())\nd = None\"",
             t_python(), img("ground_photo_no_geo.jpg"));
    CHECK(run(cmd) == 0, "making mosaic.tif");
    struct {
        const char *path;
        gl_stretch_kind stretch;
        double mean_max, max_max;
    } cases[] = {{"mosaic.tif", GL_STRETCH_NONE, 0.5, 8},
                 {img("uint16_cog.tif"), GL_STRETCH_MINMAX, 1.0, 32},
                 {img("ground_photo_no_geo.jpg"), GL_STRETCH_NONE, 1.0, 12}};
    for (int k = 0; k < 3; k++) {
        gl_raster *r = open_with(cases[k].path, cases[k].stretch, 0, 0, 0);
        if (!r) continue;
        int rw, rh;
        double mean, mx;
        compare_model_inputs(r, &rw, &rh, &mean, &mx);
        const gl_raster_info *in = gl_raster_get_info(r);
        printf("# %s %dx%d read as %dx%d: model input differs by %.3f levels on average, %.1f at "
               "most\n",
               cases[k].path, in->width, in->height, rw, rh, mean, mx);
        CHECK(mean >= 0 && mean <= cases[k].mean_max && mx <= cases[k].max_max,
              "%s: mean %.3f max %.1f", cases[k].path, mean, mx);
        CHECK(rw < in->width && rh < in->height, "%s was read at full size", cases[k].path);
        gl_raster_free(r);
    }
}

int main(void) {
    RUN(test_numpy_refs);
    RUN(test_info_and_bounds);
    RUN(test_lonlat);
    RUN(test_byte_windows);
    RUN(test_minmax_like_gvl);
    RUN(test_float32_like_gvl);
    RUN(test_plain_picture);
    RUN(test_uint16_vs_gdal_translate);
    RUN(test_percentile);
    RUN(test_valid_masks);
    RUN(test_bad_inputs);
    RUN(test_large_scene_window);
    RUN(test_scaled_reads_vs_gdal);
    RUN(test_reduced_read_close_to_full);
    T_SUMMARY();
}
