/* preproc.c: CLIPImageProcessor's PIL path in C: preprocessor_config.json, Pillow-identical
 * bicubic resize, center crop (floor-rounded as HF, or half-even as open_clip's torchvision),
 * rescale, normalise and HWC->CHW.
 *
 * The resampler reproduces Pillow 9.4's src/libImaging/Resample.c bit for bit (facts taken from
 * it: bicubic a = -0.5 with support 2 widened by the downscale factor, taps normalised to sum 1
 * in double, rounded half away from zero to 22-bit fixed point, a horizontal pass into a
 * rounded, clamped 8-bit intermediate, then a vertical pass). Every output pixel depends only on
 * its own row and column taps, so we compute just the pixels the center crop keeps: the same
 * values as resizing everything and cropping, at a cost bounded by the crop. */
#include "geolabel.h"
#include "io/json.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PRECISION_BITS (32 - 8 - 2)
#define BICUBIC_SUPPORT 2.0
#define MAX_CONFIG_SIDE 16384

static const double OPENAI_MEAN[3] = {0.48145466, 0.4578275, 0.40821073};
static const double OPENAI_STD[3] = {0.26862954, 0.26130258, 0.27577711};

void gl_preproc_set_norm(gl_preproc_config *cfg, const double mean[3], const double std[3]) {
    for (int i = 0; i < 3; i++) {
        cfg->mean_given[i] = mean[i], cfg->mean[i] = (float)mean[i];
        cfg->std_given[i] = std[i], cfg->std[i] = (float)std[i];
    }
}

gl_preproc_config gl_preproc_default_config(int image_size) {
    gl_preproc_config c;
    memset(&c, 0, sizeof c);
    c.resize_shortest_edge = image_size;
    c.crop_height = c.crop_width = image_size;
    c.rescale_factor = 0.00392156862745098; /* the float64 nearest 1/255, as HF stores it */
    gl_preproc_set_norm(&c, OPENAI_MEAN, OPENAI_STD);
    c.do_resize = c.do_center_crop = c.do_rescale = c.do_normalize = c.do_convert_rgb = 1;
    return c;
}

/* ------------------------------------------------------------------ preprocessor_config.json */

static gl_status read_side(const char *path, const char *key, const cJSON *v, int *out,
                           gl_error *err) {
    if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > MAX_CONFIG_SIDE ||
        v->valuedouble != (int)v->valuedouble)
        return gl_fail(err, GL_ERR_FORMAT, "%s: '%s' must be an integer in 1..%d", path, key,
                       MAX_CONFIG_SIDE);
    *out = v->valueint;
    return GL_OK;
}

/* "size": 224 (old form, the shortest edge), {"shortest_edge": 224} or {"height", "width"}. */
static gl_status read_size(const char *path, const cJSON *v, gl_preproc_config *c, gl_error *err) {
    if (cJSON_IsNumber(v)) {
        c->resize_height = c->resize_width = 0;
        return read_side(path, "size", v, &c->resize_shortest_edge, err);
    }
    const cJSON *se = cJSON_GetObjectItemCaseSensitive(v, "shortest_edge");
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(v, "height");
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(v, "width");
    if (se) {
        c->resize_height = c->resize_width = 0;
        return read_side(path, "size.shortest_edge", se, &c->resize_shortest_edge, err);
    }
    if (h && w) {
        c->resize_shortest_edge = 0;
        gl_status s = read_side(path, "size.height", h, &c->resize_height, err);
        return s ? s : read_side(path, "size.width", w, &c->resize_width, err);
    }
    return gl_fail(err, GL_ERR_FORMAT,
                   "%s: 'size' must be an integer, {shortest_edge} or {height, width}", path);
}

static gl_status read_crop(const char *path, const cJSON *v, gl_preproc_config *c, gl_error *err) {
    if (cJSON_IsNumber(v)) {
        gl_status s = read_side(path, "crop_size", v, &c->crop_height, err);
        c->crop_width = c->crop_height;
        return s;
    }
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(v, "height");
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(v, "width");
    if (!h || !w)
        return gl_fail(err, GL_ERR_FORMAT, "%s: 'crop_size' must be an integer or {height, width}",
                       path);
    gl_status s = read_side(path, "crop_size.height", h, &c->crop_height, err);
    return s ? s : read_side(path, "crop_size.width", w, &c->crop_width, err);
}

/* image_mean / image_std: three numbers, or one number for every channel (HF accepts both). */
static gl_status read_triple(const char *path, const char *key, const cJSON *v, double out[3],
                             gl_error *err) {
    if (cJSON_IsNumber(v)) {
        out[0] = out[1] = out[2] = v->valuedouble;
        return GL_OK;
    }
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 3)
        return gl_fail(err, GL_ERR_FORMAT, "%s: '%s' must be a number or 3 numbers", path, key);
    for (int i = 0; i < 3; i++) {
        const cJSON *e = cJSON_GetArrayItem(v, i);
        if (!cJSON_IsNumber(e))
            return gl_fail(err, GL_ERR_FORMAT, "%s: '%s' must hold numbers", path, key);
        out[i] = e->valuedouble;
    }
    return GL_OK;
}

static void read_flag(const cJSON *root, const char *key, int *flag) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (cJSON_IsBool(v)) *flag = cJSON_IsTrue(v);
}

static gl_status apply_config(const char *path, const cJSON *root, gl_preproc_config *c,
                              gl_error *err) {
    gl_status s = GL_OK;
    const cJSON *v;
    read_flag(root, "do_resize", &c->do_resize);
    read_flag(root, "do_center_crop", &c->do_center_crop);
    read_flag(root, "do_rescale", &c->do_rescale);
    read_flag(root, "do_normalize", &c->do_normalize);
    read_flag(root, "do_convert_rgb", &c->do_convert_rgb);
    if (!s && (v = cJSON_GetObjectItemCaseSensitive(root, "size"))) s = read_size(path, v, c, err);
    if (!s && (v = cJSON_GetObjectItemCaseSensitive(root, "crop_size")))
        s = read_crop(path, v, c, err);
    double mean[3], std[3];
    memcpy(mean, c->mean_given, sizeof mean);
    memcpy(std, c->std_given, sizeof std);
    if (!s && (v = cJSON_GetObjectItemCaseSensitive(root, "image_mean")))
        s = read_triple(path, "image_mean", v, mean, err);
    if (!s && (v = cJSON_GetObjectItemCaseSensitive(root, "image_std")))
        s = read_triple(path, "image_std", v, std, err);
    if (s) return s;
    gl_preproc_set_norm(c, mean, std);
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "rescale_factor"))) {
        if (!cJSON_IsNumber(v) || !(v->valuedouble > 0))
            return gl_fail(err, GL_ERR_FORMAT, "%s: 'rescale_factor' must be a positive number",
                           path);
        c->rescale_factor = v->valuedouble;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "geolabel_family"))) {
        const char *f = cJSON_IsString(v) ? v->valuestring : "";
        if (strcmp(f, "hf") && strcmp(f, "open_clip"))
            return gl_fail(err, GL_ERR_FORMAT,
                           "%s: 'geolabel_family' must be \"hf\" or \"open_clip\"", path);
        c->family = strcmp(f, "hf") ? GL_PREPROC_OPEN_CLIP : GL_PREPROC_HF;
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "resample");
    if (v && !(cJSON_IsNumber(v) && v->valuedouble == 3))
        return gl_fail(err, GL_ERR_UNSUPPORTED,
                       "%s: only 'resample': 3 (bicubic) is supported, as CLIP uses", path);
    for (int i = 0; i < 3; i++)
        if (c->do_normalize && !(c->std[i] != 0))
            return gl_fail(err, GL_ERR_FORMAT, "%s: 'image_std' holds a zero", path);
    return GL_OK;
}

gl_status gl_preproc_config_write(const gl_preproc_config *p, const char *path, gl_error *err) {
    cJSON *c = cJSON_CreateObject(), *size = cJSON_CreateObject(), *crop = cJSON_CreateObject();
    if (!c || !size || !crop) {
        cJSON_Delete(c), cJSON_Delete(size), cJSON_Delete(crop);
        return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
    }
    cJSON_AddStringToObject(c, "image_processor_type", "CLIPImageProcessor");
    cJSON_AddBoolToObject(c, "do_resize", p->do_resize);
    cJSON_AddBoolToObject(c, "do_center_crop", p->do_center_crop);
    cJSON_AddBoolToObject(c, "do_rescale", p->do_rescale);
    cJSON_AddBoolToObject(c, "do_normalize", p->do_normalize);
    cJSON_AddBoolToObject(c, "do_convert_rgb", p->do_convert_rgb);
    if (p->resize_height > 0 && p->resize_width > 0) {
        cJSON_AddNumberToObject(size, "height", p->resize_height);
        cJSON_AddNumberToObject(size, "width", p->resize_width);
    } else {
        cJSON_AddNumberToObject(size, "shortest_edge", p->resize_shortest_edge);
    }
    cJSON_AddItemToObject(c, "size", size);
    cJSON_AddNumberToObject(crop, "height", p->crop_height);
    cJSON_AddNumberToObject(crop, "width", p->crop_width);
    cJSON_AddItemToObject(c, "crop_size", crop);
    cJSON_AddNumberToObject(c, "resample", 3);
    cJSON_AddNumberToObject(c, "rescale_factor", p->rescale_factor);
    cJSON_AddItemToObject(c, "image_mean", cJSON_CreateDoubleArray(p->mean_given, 3));
    cJSON_AddItemToObject(c, "image_std", cJSON_CreateDoubleArray(p->std_given, 3));
    if (p->family == GL_PREPROC_OPEN_CLIP) /* HF's own keys only, otherwise */
        cJSON_AddStringToObject(c, "geolabel_family", "open_clip");
    gl_status s = gl_json_write_file(path, c, err);
    cJSON_Delete(c);
    return s;
}

gl_status gl_preproc_config_read(const char *path, gl_preproc_config *cfg, gl_error *err) {
    cJSON *root;
    gl_status s = gl_json_load_object(path, 1 << 20, &root, err);
    if (s) return s;
    gl_preproc_config c = *cfg;
    s = apply_config(path, root, &c, err);
    cJSON_Delete(root);
    if (!s) *cfg = c;
    return s;
}

/* ------------------------------------------------------------------ Pillow's resampler */

static double bicubic(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

/* Taps of outputs [first, first+count) along one axis of an in_size -> out_size resize. */
typedef struct {
    int ksize;
    int *start, *len; /* per output: first input index and tap count */
    int32_t *k;       /* per output: ksize fixed-point weights */
} taps;

static void taps_free(taps *t) {
    free(t->start);
    free(t->len);
    free(t->k);
}

static int taps_make(taps *t, int in_size, int out_size, int first, int count) {
    memset(t, 0, sizeof *t);
    double scale = (double)((float)in_size - 0.0f) / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = BICUBIC_SUPPORT * filterscale;
    t->ksize = (int)ceil(support) * 2 + 1;
    t->start = malloc((size_t)count * sizeof *t->start);
    t->len = malloc((size_t)count * sizeof *t->len);
    t->k = calloc((size_t)count * t->ksize, sizeof *t->k);
    double *w = malloc((size_t)t->ksize * sizeof *w);
    if (!t->start || !t->len || !t->k || !w) {
        free(w);
        taps_free(t);
        return 0;
    }
    for (int i = 0; i < count; i++) {
        int xx = first + i;
        double center = 0.0 + (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0) xmin = 0;
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            w[x] = bicubic((x + xmin - center + 0.5) * ss);
            ww += w[x];
        }
        int32_t *k = t->k + (size_t)i * t->ksize;
        for (int x = 0; x < xmax; x++) {
            double v = ww != 0.0 ? w[x] / ww : w[x];
            k[x] = (int32_t)(v < 0 ? -0.5 + v * (1 << PRECISION_BITS)
                                   : 0.5 + v * (1 << PRECISION_BITS));
        }
        t->start[i] = xmin;
        t->len[i] = xmax;
    }
    free(w);
    return 1;
}

/* Pillow's clip8: the fixed-point sum's integer part (floor), clamped to 0..255. GCC shifts
 * negative ints arithmetically, so negative sums floor to negatives and clamp to 0. */
static inline unsigned char clip8(int32_t v) {
    v >>= PRECISION_BITS;
    return (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* acc[i] += row[i] * k over n values. The fixed-size inner loop is what GCC vectorises at -O2. */
static inline void mac_row(int32_t *restrict acc, const unsigned char *restrict row, int32_t k,
                           size_t n) {
    size_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int j = 0; j < 32; j++)
            acc[i + j] += row[i + j] * k;
    for (; i < n; i++)
        acc[i] += row[i] * k;
}

/* One resampling pass along the slow axis: output line j = clip8(sum of taps_j[y] * input line
 * (start_j + y - base)), each line n bytes. Integer sums are exact, so the order of the taps and
 * of the lines does not change a single result compared with Pillow's loops. */
static void convolve_lines(const unsigned char *in, size_t in_stride, int base, const taps *t,
                           int n_out, size_t n, int32_t *acc, unsigned char *out,
                           size_t out_stride) {
    for (int j = 0; j < n_out; j++) {
        const int32_t *k = t->k + (size_t)j * t->ksize;
        for (size_t i = 0; i < n; i++)
            acc[i] = 1 << (PRECISION_BITS - 1);
        for (int y = 0; y < t->len[j]; y++)
            mac_row(acc, in + (size_t)(t->start[j] + y - base) * in_stride, k[y], n);
        unsigned char *restrict o = out + (size_t)j * out_stride;
        size_t i = 0;
        for (; i + 32 <= n; i += 32)
            for (int q = 0; q < 32; q++)
                o[i + q] = clip8(acc[i + q]);
        for (; i < n; i++)
            o[i] = clip8(acc[i]);
    }
}

/* dst[x][y][c] = src[y][x][c] for a rows x cols block of RGB pixels. */
static void transpose_rgb(const unsigned char *src, size_t src_stride, int rows, int cols,
                          unsigned char *dst, size_t dst_stride) {
    enum { B = 32 };
    for (int y0 = 0; y0 < rows; y0 += B)
        for (int x0 = 0; x0 < cols; x0 += B)
            for (int x = x0; x < cols && x < x0 + B; x++) {
                unsigned char *d = dst + (size_t)x * dst_stride;
                const unsigned char *p = src + (size_t)x * 3;
                for (int y = y0; y < rows && y < y0 + B; y++) {
                    const unsigned char *q = p + (size_t)y * src_stride;
                    d[3 * y] = q[0];
                    d[3 * y + 1] = q[1];
                    d[3 * y + 2] = q[2];
                }
            }
}

/* Source rows per horizontal strip: the transposed copy stays a strip, not the whole image. */
#define STRIP_ROWS 64

/* Horizontal then vertical pass, as Pillow orders them. The horizontal pass runs strip by strip
 * on the transposed source so that both passes use the same vectorised line kernel. */
static gl_status two_passes(const unsigned char *src, int src_w, const taps *th, const taps *tv,
                            int ow, int oh, unsigned char *dst, size_t dst_stride) {
    int y0 = tv->start[0], rows = tv->start[oh - 1] + tv->len[oh - 1] - y0;
    int x0 = th->start[0], cols = th->start[ow - 1] + th->len[ow - 1] - x0;
    size_t strip = STRIP_ROWS * 3, line = (size_t)ow * 3;
    unsigned char *src_t = malloc((size_t)cols * strip), *tmp_t = malloc((size_t)ow * strip);
    unsigned char *tmp = malloc((size_t)rows * line);
    int32_t *acc = malloc((strip > line ? strip : line) * sizeof *acc);
    int ok = src_t && tmp_t && tmp && acc;
    for (int y = 0; ok && y < rows; y += STRIP_ROWS) {
        int n = rows - y < STRIP_ROWS ? rows - y : STRIP_ROWS;
        transpose_rgb(src + ((size_t)(y0 + y) * src_w + x0) * 3, (size_t)src_w * 3, n, cols, src_t,
                      strip);
        convolve_lines(src_t, strip, x0, th, ow, (size_t)n * 3, acc, tmp_t, strip);
        transpose_rgb(tmp_t, strip, ow, n, tmp + (size_t)y * line, line);
    }
    if (ok) convolve_lines(tmp, line, y0, tv, oh, line, acc, dst, dst_stride);
    free(src_t);
    free(tmp_t);
    free(tmp);
    free(acc);
    return ok ? GL_OK : GL_ERR_NOMEM;
}

/* Pixels [ox, ox+ow) x [oy, oy+oh) of the full src -> dst_w x dst_h resize, into dst with rows
 * dst_stride bytes apart. The window must lie inside the resized image. */
static gl_status resize_window(const unsigned char *src, int src_w, int src_h, int dst_w, int dst_h,
                               int ox, int oy, int ow, int oh, unsigned char *dst,
                               size_t dst_stride, gl_error *err) {
    if (src_w == dst_w && src_h == dst_h) {
        for (int j = 0; j < oh; j++)
            memcpy(dst + (size_t)j * dst_stride, src + ((size_t)(oy + j) * src_w + ox) * 3,
                   (size_t)ow * 3);
        return GL_OK;
    }
    taps th, tv;
    gl_status s = GL_ERR_NOMEM;
    if (taps_make(&th, src_w, dst_w, ox, ow)) {
        if (taps_make(&tv, src_h, dst_h, oy, oh)) {
            s = two_passes(src, src_w, &th, &tv, ow, oh, dst, dst_stride);
            taps_free(&tv);
        }
        taps_free(&th);
    }
    return s ? gl_fail(err, s, "resize: no memory for %dx%d -> %dx%d", src_w, src_h, dst_w, dst_h)
             : GL_OK;
}

/* Sizes beyond this are refused before any allocation (a sliver tile upscaled to shortest edge
 * S can ask for an absurd long side). */
#define RESIZE_MAX_SIDE (1 << 20)

gl_status gl_resize_bicubic(const unsigned char *src, int src_w, int src_h, unsigned char *dst,
                            int dst_w, int dst_h, gl_error *err) {
    if (src_w < 1 || src_h < 1 || dst_w < 1 || dst_h < 1 || dst_w > RESIZE_MAX_SIDE ||
        dst_h > RESIZE_MAX_SIDE)
        return gl_fail(err, GL_ERR_ARG, "resize: cannot resize %dx%d to %dx%d", src_w, src_h, dst_w,
                       dst_h);
    return resize_window(src, src_w, src_h, dst_w, dst_h, 0, 0, dst_w, dst_h, dst,
                         (size_t)dst_w * 3, err);
}

/* ------------------------------------------------------------------ the pipeline */

void gl_preproc_resized_size(const gl_preproc_config *cfg, int w, int h, int *out_w, int *out_h) {
    *out_w = w;
    *out_h = h;
    if (!cfg->do_resize) return;
    if (cfg->resize_height > 0 && cfg->resize_width > 0) {
        *out_w = cfg->resize_width;
        *out_h = cfg->resize_height;
        return;
    }
    int s = cfg->resize_shortest_edge;
    if (s <= 0 || w <= 0 || h <= 0) return;
    /* Python's int(S * long / short): an exact integer product, a float division, truncation. */
    if (w <= h) {
        *out_w = s;
        *out_h = (int)((double)((long long)s * h) / w);
    } else {
        *out_w = (int)((double)((long long)s * w) / h);
        *out_h = s;
    }
}

/* The crop's first row (or column) for n = resized - crop. HF floors n/2, padding with zeros
 * when n < 0. torchvision rounds n/2.0 half to even; when n < 0 it first pads (-n)//2 on the
 * top/left, then crops at 0. */
static int crop_offset(const gl_preproc_config *cfg, int n) {
    if (cfg->family != GL_PREPROC_OPEN_CLIP) return n >= 0 ? n / 2 : -((1 - n) / 2);
    if (n < 0) return -((-n) / 2);
    int k = n / 2;
    return (n & 1) && (k & 1) ? k + 1 : k;
}

/* The model input for byte v in channel c: HF's float64 rescale cast to float32, then float32
 * normalisation. Only 3 x 256 values exist, so they are tabulated once per call. */
static float normalised(const gl_preproc_config *cfg, unsigned char v, int c) {
    float x = cfg->do_rescale ? (float)(v * cfg->rescale_factor) : (float)v;
    return cfg->do_normalize ? (x - cfg->mean[c]) / cfg->std[c] : x;
}

static inline int muldiv255(int a, int b) { /* Pillow's MULDIV255: a * b / 255, rounded */
    int t = a * b + 128;
    return ((t >> 8) + t) >> 8;
}

/* open_clip resizes an RGBA or LA picture in Pillow's premultiplied RGBa and drops the alpha only
 * after the crop: colour times alpha and the alpha itself go through the same resampler (Pillow
 * filters each band alike), then colour is divided back (rgba2rgbA: 255 * c / a, kept as is
 * where a is 0 or 255). */
static gl_status resize_window_premultiplied(const gl_image *img, int rw, int rh, int x0, int y0,
                                             int ow, int oh, unsigned char *win, gl_error *err) {
    size_t n = (size_t)img->width * img->height, m = (size_t)ow * oh;
    unsigned char *pre = malloc(n * 3), *a3 = malloc(n * 3), *awin = malloc(m * 3);
    gl_status s = pre && a3 && awin ? GL_OK : gl_fail(err, GL_ERR_NOMEM, "preprocess: no memory");
    for (size_t i = 0; !s && i < n; i++) {
        int a = img->alpha[i];
        for (int c = 0; c < 3; c++) {
            pre[3 * i + c] = (unsigned char)muldiv255(img->rgb[3 * i + c], a);
            a3[3 * i + c] = (unsigned char)a;
        }
    }
    if (!s)
        s = resize_window(pre, img->width, img->height, rw, rh, x0, y0, ow, oh, win, (size_t)ow * 3,
                          err);
    if (!s)
        s = resize_window(a3, img->width, img->height, rw, rh, x0, y0, ow, oh, awin, (size_t)ow * 3,
                          err);
    for (size_t i = 0; !s && i < m; i++) {
        int a = awin[3 * i];
        if (a == 0 || a == 255) continue;
        for (int c = 0; c < 3; c++) {
            int v = 255 * win[3 * i + c] / a;
            win[3 * i + c] = (unsigned char)(v > 255 ? 255 : v);
        }
    }
    free(pre);
    free(a3);
    free(awin);
    return s;
}

gl_status gl_preprocess(const gl_preproc_config *cfg, const gl_image *img, float *out,
                        gl_error *err) {
    if (!img->rgb || img->width < 1 || img->height < 1)
        return gl_fail(err, GL_ERR_ARG, "preprocess: empty image");
    int rw, rh;
    gl_preproc_resized_size(cfg, img->width, img->height, &rw, &rh);
    if (rw < 1 || rh < 1 || rw > RESIZE_MAX_SIDE || rh > RESIZE_MAX_SIDE)
        return gl_fail(err, GL_ERR_LIMIT, "preprocess: a %dx%d image would resize to %dx%d",
                       img->width, img->height, rw, rh);
    int crop = cfg->do_center_crop && cfg->crop_width > 0 && cfg->crop_height > 0;
    int cw = crop ? cfg->crop_width : rw, ch = crop ? cfg->crop_height : rh;
    if (cw < 1 || ch < 1 || (long long)cw * ch > GL_IMAGE_MAX_PIXELS)
        return gl_fail(err, GL_ERR_ARG, "preprocess: bad crop size %dx%d", cw, ch);
    /* A too-small image is padded with zeros before cropping, as both references do. */
    int top = crop_offset(cfg, rh - ch), left = crop_offset(cfg, rw - cw);
    int x0 = left > 0 ? left : 0, y0 = top > 0 ? top : 0;
    int x1 = left + cw < rw ? left + cw : rw, y1 = top + ch < rh ? top + ch : rh;
    int ow = x1 - x0, oh = y1 - y0;
    unsigned char *win = malloc((size_t)ow * oh * 3);
    if (!win) return gl_fail(err, GL_ERR_NOMEM, "preprocess: no memory");
    /* Pillow returns an unresized copy as it is, alpha untouched */
    int premultiply = cfg->family == GL_PREPROC_OPEN_CLIP && img->alpha &&
                      (rw != img->width || rh != img->height);
    gl_status s = premultiply ? resize_window_premultiplied(img, rw, rh, x0, y0, ow, oh, win, err)
                              : resize_window(img->rgb, img->width, img->height, rw, rh, x0, y0, ow,
                                              oh, win, (size_t)ow * 3, err);
    if (s) {
        free(win);
        return s;
    }
    size_t plane = (size_t)cw * ch;
    float lut[3][256];
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++)
            lut[c][v] = normalised(cfg, (unsigned char)v, c);
    for (int c = 0; c < 3; c++)
        for (int j = 0; j < ch; j++) {
            float *o = out + c * plane + (size_t)j * cw;
            int sy = top + j;
            for (int i = 0; i < cw; i++) {
                int sx = left + i;
                int inside = sy >= y0 && sy < y1 && sx >= x0 && sx < x1;
                o[i] = lut[c][inside ? win[((size_t)(sy - y0) * ow + (sx - x0)) * 3 + c] : 0];
            }
        }
    free(win);
    return GL_OK;
}
