/* test_preproc.c: image decoding and CLIP preprocessing against the reference fixtures (PIL and
 * transformers outputs in ../shared/fixtures/expected) and against files made by GDAL's tools. */
#include "harness.h"

#include <stdint.h>
#include <zlib.h>

static const char *STEMS[6] = {"00_rocket",      "01_chelsea",          "02_astronaut_q90_420",
                               "03_camera_gray", "04_tall_rgba_97x263", "05_tiny_5x7"};
static const char *FILES[6] = {
    "00_rocket.jpg",      "01_chelsea.png",          "02_astronaut_q90_420.jpg",
    "03_camera_gray.png", "04_tall_rgba_97x263.png", "05_tiny_5x7.png"};
static const char *MODELS[2] = {"clip-tiny-b32", "clip-tiny-l14-336"};
static const int MODEL_SIZE[2] = {224, 336};

/* Counts differing bytes between got and an HWC uint8 npy of the given size; -1 on shape error. */
static long diff_u8(const unsigned char *got, int w, int h, const char *npy_path, int *max_diff) {
    gl_error err = {0};
    *max_diff = 0;
    gl_npy *a = gl_npy_load(npy_path, &err);
    if (!a) {
        fprintf(stderr, "  %s\n", err.msg);
        return -1;
    }
    long bad = -1;
    if (!strcmp(a->dtype, "|u1") && a->ndim == 3 && a->shape[0] == h && a->shape[1] == w &&
        a->shape[2] == 3) {
        bad = 0;
        const unsigned char *e = a->data;
        for (size_t i = 0; i < a->count; i++) {
            int d = abs((int)got[i] - e[i]);
            if (d) bad++;
            if (d > *max_diff) *max_diff = d;
        }
    } else {
        fprintf(stderr, "  %s: shape [%lld,%lld,%lld] vs %dx%d\n", npy_path, (long long)a->shape[0],
                (long long)a->shape[1], (long long)a->shape[2], w, h);
    }
    gl_npy_free(a);
    return bad;
}

/* The fixture's decoded RGB (caller frees with gl_npy_free), and img a view of it. */
static gl_npy *load_decoded(int i, gl_image *img) {
    gl_error err = {0};
    memset(img, 0, sizeof *img);
    gl_npy *a = gl_npy_load(t_path("fixtures/expected/decoded_rgb/%s.npy", STEMS[i]), &err);
    if (!a) return NULL;
    img->height = (int)a->shape[0];
    img->width = (int)a->shape[1];
    img->rgb = a->data;
    return a;
}

static void test_decode_fixtures(void) {
    for (int i = 0; i < 6; i++) {
        gl_error err = {0};
        gl_image *img = gl_image_load(t_path("fixtures/expected/images/%s", FILES[i]), &err);
        CHECK(img, "%s", err.msg);
        if (!img) continue;
        int md;
        long bad = diff_u8(img->rgb, img->width, img->height,
                           t_path("fixtures/expected/decoded_rgb/%s.npy", STEMS[i]), &md);
        CHECK(bad == 0, "%s: %ld bytes differ, max |d| %d", FILES[i], bad, md);
        gl_image_free(img);
    }
}

static void test_config_forms(void) {
    gl_error err = {0};
    for (int m = 0; m < 2; m++) {
        gl_preproc_config c = gl_preproc_default_config(1);
        c.rescale_factor = 0.5; /* the old form has no rescale_factor: ours must stay */
        CHECK_OK(gl_preproc_config_read(t_path("fixtures/%s/preprocessor_config.json", MODELS[m]),
                                        &c, &err),
                 &err);
        CHECK(c.resize_shortest_edge == MODEL_SIZE[m], "%s size %d", MODELS[m],
              c.resize_shortest_edge);
        CHECK(c.crop_width == MODEL_SIZE[m] && c.crop_height == MODEL_SIZE[m], "crop %dx%d",
              c.crop_width, c.crop_height);
        CHECK(c.do_resize && c.do_center_crop && c.do_normalize && c.do_rescale, "flags");
        CHECK(c.mean[1] == 0.4578275f && c.std[2] == 0.27577711f, "mean/std");
        CHECK(c.rescale_factor == (m == 0 ? 0.5 : 0.00392156862745098), "rescale %.17g",
              c.rescale_factor);
    }
    FILE *f = fopen("pp.json", "w");
    fputs("{\"size\": {\"height\": 20, \"width\": 30}, \"crop_size\": 16, \"do_normalize\": false,"
          " \"image_mean\": 0.5}",
          f);
    fclose(f);
    gl_preproc_config c = gl_preproc_default_config(224);
    CHECK_OK(gl_preproc_config_read("pp.json", &c, &err), &err);
    int w, h;
    gl_preproc_resized_size(&c, 100, 7, &w, &h);
    CHECK(w == 30 && h == 20 && c.crop_width == 16 && !c.do_normalize && c.mean[2] == 0.5f,
          "exact-size form: %dx%d crop %d", w, h, c.crop_width);
    const char *bad[] = {"{\"size\": {\"shortest\": 3}}", "{\"crop_size\": -4}", "[1,2]",
                         "{\"image_std\": [1, 2]}",       "{\"resample\": 2}",   "{\"size\": 1e9}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        f = fopen("pp.json", "w");
        fputs(bad[i], f);
        fclose(f);
        gl_status s = gl_preproc_config_read("pp.json", &c, &err);
        CHECK(s != GL_OK && strstr(err.msg, "pp.json"), "%s accepted (%s)", bad[i], err.msg);
    }
}

static void test_resized_size(void) {
    gl_preproc_config c = gl_preproc_default_config(224);
    int w, h;
    gl_preproc_resized_size(&c, 640, 427, &w, &h);
    CHECK(w == 335 && h == 224, "640x427 -> %dx%d", w, h);
    gl_preproc_resized_size(&c, 5, 7, &w, &h);
    CHECK(w == 224 && h == 313, "5x7 -> %dx%d", w, h);
    c = gl_preproc_default_config(336);
    gl_preproc_resized_size(&c, 97, 263, &w, &h);
    CHECK(w == 336 && h == 911, "97x263 -> %dx%d", w, h);
}

/* resized_*.npy exactly, for every image and both sizes (downscales and the 5x7 upscale). */
static void test_resize_exact(void) {
    for (int m = 0; m < 2; m++) {
        gl_preproc_config c = gl_preproc_default_config(MODEL_SIZE[m]);
        for (int i = 0; i < 6; i++) {
            gl_image img;
            gl_error err = {0};
            gl_npy *dec = load_decoded(i, &img);
            if (!dec) {
                CHECK(0, "cannot read decoded %s", STEMS[i]);
                continue;
            }
            int w, h, md;
            gl_preproc_resized_size(&c, img.width, img.height, &w, &h);
            unsigned char *out = malloc((size_t)w * h * 3);
            CHECK_OK(gl_resize_bicubic(img.rgb, img.width, img.height, out, w, h, &err), &err);
            long bad = diff_u8(
                out, w, h, t_path("fixtures/expected/%s/resized_%s.npy", MODELS[m], STEMS[i]), &md);
            CHECK(bad == 0, "%s %s: %ld bytes differ, max |d| %d", MODELS[m], STEMS[i], bad, md);
            free(out);
            gl_npy_free(dec);
        }
    }
}

/* pixel_values.npy within 1e-6, from decoded_rgb and end to end from the image files. */
static void check_pixel_values(int from_files) {
    for (int m = 0; m < 2; m++) {
        gl_npy *pv = NULL;
        gl_error err = {0};
        int s = MODEL_SIZE[m];
        pv = gl_npy_load(t_path("fixtures/expected/%s/pixel_values.npy", MODELS[m]), &err);
        CHECK(pv, "%s", err.msg);
        if (!pv) continue;
        gl_preproc_config c = gl_preproc_default_config(s);
        CHECK_OK(gl_preproc_config_read(t_path("fixtures/%s/preprocessor_config.json", MODELS[m]),
                                        &c, &err),
                 &err);
        float *out = malloc(sizeof(float) * 3 * s * s);
        double worst = 0;
        for (int i = 0; i < 6; i++) {
            gl_image view = {0}, *img = &view;
            gl_npy *dec = NULL;
            if (from_files) {
                img = gl_image_load(t_path("fixtures/expected/images/%s", FILES[i]), &err);
                CHECK(img, "%s", err.msg);
            } else {
                dec = load_decoded(i, &view);
                CHECK(dec, "decoded %s", STEMS[i]);
            }
            if (!img || !img->rgb) continue;
            CHECK_OK(gl_preprocess(&c, img, out, &err), &err);
            double d = CHECK_CLOSE(STEMS[i], out, (const float *)pv->data + (size_t)i * 3 * s * s,
                                   (size_t)3 * s * s, 1e-6, 0);
            if (d > worst) worst = d;
            if (from_files) gl_image_free(img);
            gl_npy_free(dec);
        }
        printf("# %s pixel_values from %s: max |d| %.3g\n", MODELS[m],
               from_files ? "image files" : "decoded_rgb", worst);
        free(out);
        gl_npy_free(pv);
    }
}
static void test_pixel_values_from_decoded(void) {
    check_pixel_values(0);
}
static void test_pixel_values_from_files(void) {
    check_pixel_values(1);
}

/* Cropping a region larger than the image pads with zeros before normalising, as HF does. */
static void test_crop_padding(void) {
    unsigned char px[4 * 3 * 3];
    for (int i = 0; i < 36; i++)
        px[i] = (unsigned char)(i * 7);
    gl_image img = {4, 3, px, NULL};
    gl_preproc_config c = gl_preproc_default_config(4);
    c.do_resize = 0;
    c.crop_width = 6;
    c.crop_height = 2;
    float out[3 * 2 * 6];
    gl_error err = {0};
    CHECK_OK(gl_preprocess(&c, &img, out, &err), &err);
    /* top = (3-2)//2 = 0, left = (4-6)//2 = -1: column 0 is padding, column 1 is image x=0. */
    float pad = (0.0f - c.mean[0]) / c.std[0];
    float x0 = ((float)(px[0] * c.rescale_factor) - c.mean[0]) / c.std[0];
    CHECK(out[0] == pad && out[1] == x0 && out[5] == pad, "%g %g %g", out[0], out[1], out[5]);
}

/* A 1x1 tile (a raster's last column can be that thin) upscales to a constant crop. */
static void test_one_pixel_preprocess(void) {
    unsigned char px[3] = {10, 200, 77};
    gl_image img = {1, 1, px, NULL};
    gl_preproc_config c = gl_preproc_default_config(224);
    float *out = malloc(sizeof(float) * 3 * 224 * 224);
    gl_error err = {0};
    CHECK_OK(gl_preprocess(&c, &img, out, &err), &err);
    int bad = 0;
    for (int ch = 0; ch < 3; ch++) {
        float want = ((float)(px[ch] * c.rescale_factor) - c.mean[ch]) / c.std[ch];
        for (int i = 0; i < 224 * 224; i++)
            bad += out[ch * 224 * 224 + i] != want;
    }
    CHECK(bad == 0, "%d values differ from the constant", bad);
    free(out);
}

static int run(const char *cmd) {
    char full[2048];
    snprintf(full, sizeof full, "%s >/dev/null 2>&1", cmd);
    return system(full);
}

static int check_msg(gl_status s, gl_status want, const gl_error *err, const char *name) {
    return s == want && strstr(err->msg, name) && !strchr(err->msg, '\n');
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, n, f);
    fclose(f);
}

/* A PNG whose IHDR claims w x h (valid CRC) followed by an empty IDAT and IEND. */
static void write_png_header(const char *path, uint32_t w, uint32_t h) {
    unsigned char b[64] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
                           0,    0,   0,   13,  'I',  'H',  'D',  'R'};
    uint32_t v[2] = {w, h};
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 4; k++)
            b[16 + 4 * i + k] = (unsigned char)(v[i] >> (24 - 8 * k));
    b[24] = 8; /* bit depth */
    b[25] = 2; /* RGB */
    uLong crc = crc32(0, b + 12, 17);
    for (int k = 0; k < 4; k++)
        b[29 + k] = (unsigned char)(crc >> (24 - 8 * k));
    /* An empty IDAT (libpng reads the header up to the first IDAT), then IEND. */
    memcpy(b + 33, "\0\0\0\0IDAT", 8);
    crc = crc32(0, b + 37, 4);
    for (int k = 0; k < 4; k++)
        b[41 + k] = (unsigned char)(crc >> (24 - 8 * k));
    static const unsigned char iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
    memcpy(b + 45, iend, 12);
    write_bytes(path, b, 57);
}

/* Loads an image expected to fail: its status, and whether pixels were left behind. */
static gl_status load_status(const char *path, gl_error *err, int *left) {
    gl_image *img = gl_image_load(path, err);
    *left = img != NULL;
    gl_image_free(img);
    return img ? GL_OK : err->code;
}

static void test_bad_images(void) {
    int left = 0;
    gl_error err = {0};
    gl_status s = load_status("missing.png", &err, &left);
    CHECK(check_msg(s, GL_ERR_IO, &err, "missing.png"), "missing: %s", err.msg);
    write_bytes("empty.png", "", 0);
    s = load_status("empty.png", &err, &left);
    CHECK(check_msg(s, GL_ERR_FORMAT, &err, "empty.png"), "empty: %s", err.msg);
    unsigned char junk[4096];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)((x = x * 1103515245 + 12345) >> 16);
    write_bytes("junk.jpg", junk, sizeof junk);
    s = load_status("junk.jpg", &err, &left);
    CHECK(check_msg(s, GL_ERR_FORMAT, &err, "junk.jpg"), "corrupt: %s", err.msg);
    write_png_header("huge.png", 100000, 100000);
    s = load_status("huge.png", &err, &left);
    CHECK(check_msg(s, GL_ERR_LIMIT, &err, "huge.png"), "huge: %s", err.msg);
    CHECK(!left, "no pixels on failure");
    /* A 1x1 picture made by GDAL from a fixture. */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "gdal_translate -q -of PNG -srcwin 0 0 1 1 %s one.png",
             t_path("fixtures/expected/images/01_chelsea.png"));
    CHECK(run(cmd) == 0, "%s", cmd);
    s = load_status("one.png", &err, &left);
    CHECK(check_msg(s, GL_ERR_FORMAT, &err, "one.png"), "1x1: %s", err.msg);
    /* A JPEG cut in half: Pillow refuses it ("image file is truncated"), so must we. */
    char *jpg;
    size_t n;
    CHECK_OK(
        gl_read_file(t_path("fixtures/expected/images/00_rocket.jpg"), 1 << 20, &jpg, &n, &err),
        &err);
    write_bytes("cut.jpg", jpg, n / 2);
    free(jpg);
    s = load_status("cut.jpg", &err, &left);
    CHECK(check_msg(s, GL_ERR_FORMAT, &err, "cut.jpg"), "truncated: %s", err.msg);
    char *png;
    CHECK_OK(
        gl_read_file(t_path("fixtures/expected/images/01_chelsea.png"), 1 << 20, &png, &n, &err),
        &err);
    write_bytes("cut.png", png, n / 2);
    free(png);
    s = load_status("cut.png", &err, &left);
    CHECK(check_msg(s, GL_ERR_FORMAT, &err, "cut.png"), "truncated png: %s", err.msg);
}

/* Stray bytes before a JPEG marker only make libjpeg warn; Pillow decodes such files (to the
 * same pixels), so we must too. */
static void test_jpeg_stray_bytes(void) {
    char *jpg;
    size_t n;
    gl_error err = {0};
    CHECK_OK(gl_read_file(t_path("fixtures/expected/images/02_astronaut_q90_420.jpg"), 1 << 20,
                          &jpg, &n, &err),
             &err);
    if (!jpg) return;
    size_t sos = 0;
    for (size_t i = 2; i + 1 < n && !sos; i++)
        if ((unsigned char)jpg[i] == 0xff && (unsigned char)jpg[i + 1] == 0xda) sos = i;
    FILE *f = fopen("stray.jpg", "wb");
    fwrite(jpg, 1, sos, f);
    fwrite("\x12\x34\x56", 1, 3, f);
    fwrite(jpg + sos, 1, n - sos, f);
    fclose(f);
    free(jpg);
    gl_image *img = gl_image_load("stray.jpg", &err);
    CHECK(img, "%s", err.msg);
    if (!img) return;
    int md;
    long bad = diff_u8(img->rgb, img->width, img->height,
                       t_path("fixtures/expected/decoded_rgb/02_astronaut_q90_420.npy"), &md);
    CHECK(bad == 0, "%ld bytes differ (max %d)", bad, md);
    gl_image_free(img);
}

/* Lossless re-encodings made by gdal_translate must decode to the fixture's RGB exactly. */
static void test_other_formats(void) {
    struct {
        const char *src, *stem, *args, *out;
    } cases[] = {
        {"01_chelsea.png", "01_chelsea", "-of WEBP -co LOSSLESS=YES", "c.webp"},
        {"01_chelsea.png", "01_chelsea", "-of GTiff -co COMPRESS=DEFLATE", "c.tif"},
        {"04_tall_rgba_97x263.png", "04_tall_rgba_97x263", "-of GTiff", "rgba.tif"},
        {"03_camera_gray.png", "03_camera_gray", "-of GTiff", "gray.tif"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "gdal_translate -q %s %s %s", cases[i].args,
                 t_path("fixtures/expected/images/%s", cases[i].src), cases[i].out);
        CHECK(run(cmd) == 0, "%s", cmd);
        gl_error err = {0};
        gl_image *img = gl_image_load(cases[i].out, &err);
        CHECK(img, "%s", err.msg);
        if (!img) continue;
        int md;
        long bad = diff_u8(img->rgb, img->width, img->height,
                           t_path("fixtures/expected/decoded_rgb/%s.npy", cases[i].stem), &md);
        CHECK(bad == 0, "%s: %ld bytes differ (max %d)", cases[i].out, bad, md);
        gl_image_free(img);
    }
}

/* Pillow 9.4 (Debian's python3-pil, the version that made the fixtures) as the reference for
 * what the fixtures do not cover: every picture mode its convert('RGB') handles, and resizes and
 * preprocessing of random images at many geometries (downscales, upscales, 1x1, slivers). */
static const char *PIL_SCRIPT =
    "import numpy as np\n"
    "from PIL import Image\n"
    "from osgeo import gdal\n"
    "rng = np.random.default_rng(7)\n"
    "a = rng.integers(0, 256, (37, 53, 4), dtype=np.uint8)\n"
    "rgb = Image.fromarray(a[..., :3], 'RGB')\n"
    "files = []\n"
    "def pil(name, im, **kw):\n"
    "    im.save(name, **kw); files.append(name)\n"
    "pil('m_L.png', Image.fromarray(a[..., 0], 'L'))\n"
    "pil('m_LA.png', Image.fromarray(a[..., :2], 'LA'))\n"
    "pil('m_RGBA.png', Image.fromarray(a, 'RGBA'))\n"
    "pil('m_P.png', rgb.quantize(64))\n"
    "pil('m_Ptrns.png', rgb.quantize(16), transparency=3)\n"
    "pil('m_P4.png', rgb.quantize(8), bits=4)\n"
    "pil('m_1.png', Image.fromarray(a[..., 0] > 128))\n"
    "pil('m_I16.png', Image.fromarray(a[..., 0].astype(np.uint16) * 3, 'I;16'))\n"
    "pil('m_L.jpg', Image.fromarray(a[..., 0], 'L'), quality=90)\n"
    "pil('m_prog.jpg', rgb, quality=85, progressive=True, subsampling=1)\n"
    "pil('m_cmyk.jpg', Image.fromarray(a, 'CMYK'), quality=95)\n"
    "pil('m.webp', rgb, quality=80)\n"
    "pil('m_rgba.webp', Image.fromarray(a, 'RGBA'), quality=80)\n"
    "pil('m.gif', rgb.quantize(32))\n"
    "pil('m.bmp', rgb)\n"
    "pil('m_lzw.tif', rgb, compression='tiff_lzw')\n"
    "mem = gdal.GetDriverByName('MEM')\n"
    "def gd(name, drv, arrs, dtype, opts=[]):\n"
    "    ds = mem.Create('', arrs[0].shape[1], arrs[0].shape[0], len(arrs), dtype)\n"
    "    for i, x in enumerate(arrs): ds.GetRasterBand(i + 1).WriteArray(x)\n"
    "    gdal.GetDriverByName(drv).CreateCopy(name, ds, options=opts); files.append(name)\n"
    "u = rng.integers(0, 65536, (4, 37, 53))\n"
    "gd('g_rgb16.png', 'PNG', list(u[:3]), gdal.GDT_UInt16)\n"
    "gd('g_rgba16.png', 'PNG', list(u), gdal.GDT_UInt16)\n"
    "gd('g_la16.png', 'PNG', list(u[:2]), gdal.GDT_UInt16)\n"
    "gd('g_g16.png', 'PNG', [u[0] % 700], gdal.GDT_UInt16)\n"
    "gd('g_g16.tif', 'GTiff', [u[0] % 700], gdal.GDT_UInt16)\n"
    "gd('g_g2.png', 'PNG', [u[0] % 4], gdal.GDT_Byte, ['NBITS=2'])\n"
    "gd('g_g4.png', 'PNG', [u[0] % 16], gdal.GDT_Byte, ['NBITS=4'])\n"
    "gd('g_rgb16.tif', 'GTiff', list(u[:3]), gdal.GDT_UInt16, ['PHOTOMETRIC=RGB'])\n"
    "gd('g_rgba16.tif', 'GTiff', list(u), gdal.GDT_UInt16, ['PHOTOMETRIC=RGB', 'ALPHA=YES'])\n"
    "gd('g_f32.tif', 'GTiff', [u[0].astype(np.float32) / 100], gdal.GDT_Float32)\n"
    "gd('g_i32.tif', 'GTiff', [u[0] - 30000], gdal.GDT_Int32)\n"
    "gd('g_cmyk.tif', 'GTiff', list(u.astype(np.uint8)), gdal.GDT_Byte, ['PHOTOMETRIC=CMYK'])\n"
    "for f in files:\n"
    "    np.save(f + '.npy', np.asarray(Image.open(f).convert('RGB')))\n"
    "open('modes.txt', 'w').write('\\n'.join(files) + '\\n')\n"
    "sizes = [((1, 1), (224, 224)), ((2, 3), (224, 336)), ((10, 3), (746, 224)),\n"
    "         ((640, 480), (299, 224)), ((1000, 17), (13176, 224)), ((97, 263), (224, 607)),\n"
    "         ((500, 500), (37, 411)), ((224, 300), (224, 150)), ((300, 224), (150, 224)),\n"
    "         ((1500, 1200), (30, 24)), ((333, 777), (336, 784)), ((64, 64), (65, 63))]\n"
    "with open('resize.txt', 'w') as f:\n"
    "    for i, ((w, h), (W, H)) in enumerate(sizes):\n"
    "        x = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)\n"
    "        x[rng.random((h, w)) < 0.05] = 255  # saturated spots exercise the clamping\n"
    "        np.save('src%d.npy' % i, x)\n"
    "        y = np.asarray(Image.fromarray(x).resize((W, H), resample=Image.BICUBIC))\n"
    "        np.save('dst%d.npy' % i, y)\n"
    "        f.write('%d %d %d\\n' % (i, W, H))\n"
    "mean = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)\n"
    "std = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)\n"
    "with open('pipeline.txt', 'w') as f:\n"
    "    for i, (w, h, S, C) in enumerate([(800, 600, 224, 224), (31, 700, 256, 224),\n"
    "                                      (3000, 40, 336, 336), (225, 224, 224, 224)]):\n"
    "        x = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)\n"
    "        np.save('psrc%d.npy' % i, x)\n"
    "        W, H = (S, int(S * h / w)) if w <= h else (int(S * w / h), S)\n"
    "        r = np.asarray(Image.fromarray(x).resize((W, H), resample=Image.BICUBIC))\n"
    "        t, l = (H - C) // 2, (W - C) // 2\n"
    "        r = (r[t:t + C, l:l + C].astype(np.float64) * "
    "0.00392156862745098).astype(np.float32)\n"
    "        np.save('pv%d.npy' % i, ((r - mean) / std).transpose(2, 0, 1).copy())\n"
    "        f.write('%d %d %d\\n' % (i, S, C))\n";

static int pil_refs_ready;

static void test_pil_refs(void) {
    write_bytes("pil_refs.py", PIL_SCRIPT, strlen(PIL_SCRIPT));
    pil_refs_ready = run("${PY:-/usr/bin/python3} pil_refs.py") == 0;
    CHECK(pil_refs_ready, "the Pillow reference script failed (python3-pil installed?)");
}

static void test_pil_modes(void) {
    FILE *f = fopen("modes.txt", "r");
    char name[128];
    int n = 0;
    while (f && fscanf(f, "%127s", name) == 1) {
        char npy[160];
        snprintf(npy, sizeof npy, "%s.npy", name);
        gl_error err = {0};
        gl_image *img = gl_image_load(name, &err);
        CHECK(img, "%s", err.msg);
        if (!img) continue;
        int md;
        long bad = diff_u8(img->rgb, img->width, img->height, npy, &md);
        CHECK(bad == 0, "%s: %ld bytes differ from Pillow (max %d)", name, bad, md);
        gl_image_free(img);
        n++;
    }
    if (f) fclose(f);
    CHECK(n >= 28, "only %d picture modes checked", n);
}

/* Reads up to max lines of three integers; returns how many. */
static int read_triples(const char *path, int (*rows)[3], int max) {
    FILE *f = fopen(path, "r");
    int n = 0;
    while (f && n < max && fscanf(f, "%d %d %d", &rows[n][0], &rows[n][1], &rows[n][2]) == 3)
        n++;
    if (f) fclose(f);
    return n;
}

static void test_pil_resize(void) {
    int rows[32][3], n = read_triples("resize.txt", rows, 32);
    CHECK(n >= 12, "only %d resizes listed", n);
    for (int k = 0; k < n; k++) {
        int i = rows[k][0], W = rows[k][1], H = rows[k][2];
        char src[32], dst[32];
        snprintf(src, sizeof src, "src%d.npy", i);
        snprintf(dst, sizeof dst, "dst%d.npy", i);
        gl_npy *a = NULL;
        gl_error err = {0};
        a = gl_npy_load(src, &err);
        CHECK(a, "%s", err.msg);
        if (!a) continue;
        unsigned char *out = malloc((size_t)W * H * 3);
        CHECK_OK(gl_resize_bicubic(a->data, (int)a->shape[1], (int)a->shape[0], out, W, H, &err),
                 &err);
        int md;
        long bad = diff_u8(out, W, H, dst, &md);
        CHECK(bad == 0, "%lldx%lld -> %dx%d: %ld bytes differ from Pillow (max %d)",
              (long long)a->shape[1], (long long)a->shape[0], W, H, bad, md);
        free(out);
        gl_npy_free(a);
    }
}

static void test_pil_pipeline(void) {
    int rows[8][3], n = read_triples("pipeline.txt", rows, 8);
    CHECK(n >= 4, "only %d pipelines listed", n);
    for (int k = 0; k < n; k++) {
        int i = rows[k][0], S = rows[k][1], C = rows[k][2];
        char src[32], pv[32];
        snprintf(src, sizeof src, "psrc%d.npy", i);
        snprintf(pv, sizeof pv, "pv%d.npy", i);
        gl_npy *a = NULL, *e = NULL;
        gl_error err = {0};
        a = gl_npy_load(src, &err);
        CHECK(a, "%s", err.msg);
        e = gl_npy_load(pv, &err);
        CHECK(e, "%s", err.msg);
        if (a && e->data && e->count == (size_t)3 * C * C) {
            gl_image img = {(int)a->shape[1], (int)a->shape[0], a->data, NULL};
            gl_preproc_config c = gl_preproc_default_config(S);
            c.crop_width = c.crop_height = C;
            float *out = malloc(sizeof(float) * e->count);
            CHECK_OK(gl_preprocess(&c, &img, out, &err), &err);
            CHECK_CLOSE(src, out, e->data, e->count, 1e-6, 0);
            free(out);
        } else {
            CHECK(0, "%s or %s unusable", src, pv);
        }
        gl_npy_free(a);
        gl_npy_free(e);
    }
}

int main(void) {
    RUN(test_decode_fixtures);
    RUN(test_config_forms);
    RUN(test_resized_size);
    RUN(test_resize_exact);
    RUN(test_pixel_values_from_decoded);
    RUN(test_pixel_values_from_files);
    RUN(test_crop_padding);
    RUN(test_one_pixel_preprocess);
    RUN(test_bad_images);
    RUN(test_jpeg_stray_bytes);
    RUN(test_other_formats);
    RUN(test_pil_refs);
    RUN(test_pil_modes);
    RUN(test_pil_resize);
    RUN(test_pil_pipeline);
    T_SUMMARY();
}
