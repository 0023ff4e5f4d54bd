/* tiles.c: how a scene is cut into tiles: GVL's rows x cols split (with or without the remainder)
 * and fixed windows with overlap. Pure arithmetic, so `label`, `truth` and `show` line up. */
#include "label.h"

#include <limits.h>

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
