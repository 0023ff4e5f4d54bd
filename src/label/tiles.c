/* tiles.c: how a scene is cut into tiles: GVL's rows x cols split (with or without the remainder)
 * and fixed windows with overlap. Pure arithmetic, so `label`, `truth` and `show` line up. */
#include "label.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>

gl_tiling gl_tiling_default(void) {
    return (gl_tiling){.mode = GL_TILING_SPLIT, .rows = 1, .cols = 1, .drop_remainder = 0};
}

/* Windows of size tile stepping by step cover [0, extent): the last one starts before the end and
 * is clipped, so no window lies wholly inside its predecessor's overlap. */
static long window_count(int extent, int tile, int step) {
    if (extent <= tile) return 1;
    return 1 + ((long)extent - tile + step - 1) / step;
}

gl_status gl_tiling_count(const gl_tiling *t, int width, int height, int *count, gl_error *err) {
    *count = 0;
    if (width <= 0 || height <= 0)
        return gl_fail(err, GL_ERR_ARG, "tiling: empty %dx%d scene", width, height);
    long n;
    if (t->mode == GL_TILING_SPLIT) {
        if (t->rows <= 0 || t->cols <= 0)
            return gl_fail(err, GL_ERR_ARG, "tiling: split %dx%d needs positive rows and columns",
                           t->rows, t->cols);
        if (t->cols > width || t->rows > height)
            return gl_fail(err, GL_ERR_ARG, "tiling: cannot split a %dx%d scene into %dx%d tiles",
                           width, height, t->rows, t->cols);
        n = (long)t->rows * t->cols;
    } else if (t->mode == GL_TILING_WINDOW) {
        if (t->tile <= 0 || t->overlap < 0 || t->overlap >= t->tile)
            return gl_fail(err, GL_ERR_ARG,
                           "tiling: tile %d with overlap %d (overlap must be in [0, tile))",
                           t->tile, t->overlap);
        int step = t->tile - t->overlap;
        n = window_count(width, t->tile, step) * window_count(height, t->tile, step);
    } else {
        return gl_fail(err, GL_ERR_ARG, "tiling: unknown mode %d", (int)t->mode);
    }
    if (n > INT_MAX)
        return gl_fail(err, GL_ERR_LIMIT, "tiling: %ld tiles for a %dx%d scene is too many", n,
                       width, height);
    *count = (int)n;
    return GL_OK;
}

/* One axis of a split: cell i of n over extent, the last absorbing the remainder unless dropped. */
static void split_axis(int extent, int n, int i, int drop, int *start, int *size) {
    int cell = extent / n;
    *start = i * cell;
    *size = (i == n - 1 && !drop) ? extent - *start : cell;
}

static void window_axis(int extent, int tile, int step, int i, int *start, int *size) {
    *start = i * step;
    *size = extent - *start < tile ? extent - *start : tile;
}

void gl_tiling_get(const gl_tiling *t, int width, int height, int index, gl_tile *out) {
    if (t->mode == GL_TILING_SPLIT) {
        out->row = index / t->cols;
        out->col = index % t->cols;
        split_axis(width, t->cols, out->col, t->drop_remainder, &out->x, &out->w);
        split_axis(height, t->rows, out->row, t->drop_remainder, &out->y, &out->h);
        return;
    }
    int step = t->tile - t->overlap;
    int cols = (int)window_count(width, t->tile, step);
    out->row = index / cols;
    out->col = index % cols;
    window_axis(width, t->tile, step, out->col, &out->x, &out->w);
    window_axis(height, t->tile, step, out->row, &out->y, &out->h);
}

/* The long side in proportion to a short side of t: round(l * t / s), half up. */
static long scaled_long(long s, long l, long t) {
    return (long)floor((double)l * t / s + 0.5);
}

void gl_tile_read_size(int w, int h, int side, int min_long, int *read_w, int *read_h) {
    long s = w < h ? w : h, l = w < h ? h : w;
    if (s < 1) {
        *read_w = w, *read_h = h;
        return;
    }
    /* The model shrinks the shorter side to `side` with an antialiased bicubic: reading it at
     * GL_TILE_EXACT_SIDES times that keeps the model's own resize doing the last, larger step. */
    long t = (long)GL_TILE_EXACT_SIDES * (side > 0 ? side : 1);
    if (min_long > l) min_long = (int)l;
    if (min_long > 0 && (double)t * l < (double)min_long * s)
        t = (long)ceil((double)min_long * s / l);
    if (t > s) t = s;
    long tl = t == s ? l : scaled_long(s, l, t);
    if ((double)t * tl > GL_TILE_READ_MAX_PIXELS) {
        t = (long)floor(sqrt((double)GL_TILE_READ_MAX_PIXELS * s / l));
        if (t < 1) t = 1;
        tl = scaled_long(s, l, t);
        while (t > 1 && (double)t * tl > GL_TILE_READ_MAX_PIXELS)
            tl = scaled_long(s, l, --t);
        if (tl < 1) tl = 1;
        if (tl > GL_TILE_READ_MAX_PIXELS / t) tl = GL_TILE_READ_MAX_PIXELS / t; /* > 4M:1 slivers */
    }
    *read_w = (int)(w < h ? t : tl);
    *read_h = (int)(w < h ? tl : t);
}

int gl_label_gvl_resizes(const gl_tiling *t, const gl_raster_info *in) {
    return t->mode == GL_TILING_SPLIT && t->drop_remainder &&
           (in->width < GL_GVL_MIN_SIDE || in->height < GL_GVL_MIN_SIDE);
}

void gl_label_cut_size(const gl_tiling *t, const gl_raster_info *in, int *w, int *h) {
    int small = gl_label_gvl_resizes(t, in);
    *w = small ? GL_GVL_MIN_SIDE : in->width;
    *h = small ? GL_GVL_MIN_SIDE : in->height;
}

/* Index arithmetic as numpy's fliplr/flipud/rot90 (k=1 counter-clockwise, as PIL's ROTATE_90). */
void gl_tile_augment(gl_tta_op op, const unsigned char *rgb, int w, int h, unsigned char *out,
                     int *out_w, int *out_h) {
    int rotated = op == GL_TTA_OP_ROT90 || op == GL_TTA_OP_ROT270;
    int ow = rotated ? h : w, oh = rotated ? w : h;
    for (int i = 0; i < oh; i++) {
        for (int j = 0; j < ow; j++) {
            int si = i, sj = j;
            switch (op) {
            case GL_TTA_OP_X:
                sj = w - 1 - j;
                break;
            case GL_TTA_OP_Y:
                si = h - 1 - i;
                break;
            case GL_TTA_OP_XY:
                si = h - 1 - i, sj = w - 1 - j;
                break;
            case GL_TTA_OP_ROT90:
                si = j, sj = w - 1 - i;
                break;
            case GL_TTA_OP_ROT270:
                si = h - 1 - j, sj = i;
                break;
            default:
                break;
            }
            const unsigned char *s = rgb + ((size_t)si * w + sj) * 3;
            unsigned char *d = out + ((size_t)i * ow + j) * 3;
            d[0] = s[0], d[1] = s[1], d[2] = s[2];
        }
    }
    *out_w = ow;
    *out_h = oh;
}

/* ---------------------------------------------------------------- GVL's small-scene resize */

/* Pillow's resampling weights for one axis with the triangle (bilinear) filter: support 1 widened
 * by the downscale factor, taps normalised to sum 1, then fixed point with 22 fraction bits. */
#define PIL_PRECISION_BITS 22
typedef struct {
    int ksize;
    int *bounds; /* [out][2]: first tap, tap count */
    int32_t *k;  /* [out][ksize] */
} pil_taps;

static int pil_taps_make(pil_taps *t, int in_size, int out_size) {
    double scale = (double)in_size / out_size, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale;
    t->ksize = (int)ceil(support) * 2 + 1;
    t->bounds = malloc((size_t)out_size * 2 * sizeof *t->bounds);
    t->k = calloc((size_t)out_size * t->ksize, sizeof *t->k);
    double *w = malloc((size_t)t->ksize * sizeof *w);
    if (!t->bounds || !t->k || !w) {
        free(w);
        return 0;
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale, sum = 0;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0) xmin = 0;
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            double d = fabs((x + xmin - center + 0.5) / filterscale);
            sum += w[x] = d < 1.0 ? 1.0 - d : 0.0;
        }
        for (int x = 0; x < xmax; x++) {
            double v = sum != 0.0 ? w[x] / sum : w[x];
            t->k[(size_t)xx * t->ksize + x] =
                (int32_t)(v < 0 ? -0.5 + v * (1 << PIL_PRECISION_BITS)
                                : 0.5 + v * (1 << PIL_PRECISION_BITS));
        }
        t->bounds[2 * xx] = xmin;
        t->bounds[2 * xx + 1] = xmax;
    }
    free(w);
    return 1;
}

static void pil_taps_free(pil_taps *t) {
    free(t->bounds);
    free(t->k);
}

static unsigned char pil_clip8(int32_t acc) {
    int32_t v = acc >> PIL_PRECISION_BITS;
    return (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* One output pixel from `count` source pixels `stride` bytes apart. */
static void pil_mac(const unsigned char *src, size_t stride, const int32_t *k, int count,
                    unsigned char *dst) {
    for (int c = 0; c < 3; c++) {
        int32_t acc = 1 << (PIL_PRECISION_BITS - 1);
        for (int i = 0; i < count; i++)
            acc += src[(size_t)i * stride + c] * k[i];
        dst[c] = pil_clip8(acc);
    }
}

gl_status gl_gvl_resize(const unsigned char *src, int w, int h, unsigned char *dst, int out_w,
                        int out_h, gl_error *err) {
    pil_taps th = {0}, tv = {0};
    unsigned char *tmp = NULL;
    int ok = pil_taps_make(&th, w, out_w) && pil_taps_make(&tv, h, out_h);
    /* Pillow runs the horizontal pass only over the rows the vertical pass reads. */
    int y0 = ok ? tv.bounds[0] : 0;
    int y1 = ok ? tv.bounds[2 * out_h - 2] + tv.bounds[2 * out_h - 1] : 0;
    ok = ok && (tmp = malloc((size_t)out_w * (y1 - y0) * 3));
    for (int y = y0; ok && y < y1; y++)
        for (int x = 0; x < out_w; x++)
            pil_mac(src + ((size_t)y * w + th.bounds[2 * x]) * 3, 3, th.k + (size_t)x * th.ksize,
                    th.bounds[2 * x + 1], tmp + ((size_t)(y - y0) * out_w + x) * 3);
    for (int y = 0; ok && y < out_h; y++)
        for (int x = 0; x < out_w; x++)
            pil_mac(tmp + ((size_t)(tv.bounds[2 * y] - y0) * out_w + x) * 3, (size_t)out_w * 3,
                    tv.k + (size_t)y * tv.ksize, tv.bounds[2 * y + 1],
                    dst + ((size_t)y * out_w + x) * 3);
    free(tmp);
    pil_taps_free(&th);
    pil_taps_free(&tv);
    return ok ? GL_OK : gl_fail(err, GL_ERR_NOMEM, "resize: out of memory");
}
