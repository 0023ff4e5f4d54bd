/* draw.c: the cairo helpers every picture shares (surfaces, halo text, atomic PNG output) and the
 * confusion-matrix picture of `eval --confusion-png`. */
#include "label/draw.h"

#include <cairo.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void draw_set_rgb(cairo_t *cr, unsigned hex, double alpha) {
    cairo_set_source_rgba(cr, ((hex >> 16) & 255) / 255.0, ((hex >> 8) & 255) / 255.0,
                          (hex & 255) / 255.0, alpha);
}

/* ------------------------------------------------------------------ scaled reads */

gl_status draw_read_scaled(gl_raster *r, int x, int y, int w, int h, int out_w, int out_h,
                           unsigned char *out, gl_error *err) {
    /* GDAL averages down to at most the picture's size (from overviews when the file has them);
     * an axis the picture enlarges is then repeated nearest-pixel here. */
    int rw = out_w < w ? out_w : w, rh = out_h < h ? out_h : h;
    if (rw == out_w && rh == out_h)
        return gl_raster_read_rgb_scaled(r, x, y, w, h, out_w, out_h, out, NULL, err);
    unsigned char *small = malloc((size_t)rw * rh * 3);
    gl_status st = small ? gl_raster_read_rgb_scaled(r, x, y, w, h, rw, rh, small, NULL, err)
                         : gl_fail(err, GL_ERR_NOMEM, "%s: out of memory for a %dx%d picture",
                                   gl_raster_path(r), rw, rh);
    for (int j = 0; !st && j < out_h; j++) {
        const unsigned char *row = small + (size_t)((long)j * rh / out_h) * rw * 3;
        for (int i = 0; i < out_w; i++)
            memcpy(out + ((size_t)j * out_w + i) * 3, row + (size_t)((long)i * rw / out_w) * 3, 3);
    }
    free(small);
    return st;
}

/* ------------------------------------------------------------------ PNG output */

static cairo_status_t png_to_file(void *closure, const unsigned char *data, unsigned int len) {
    return fwrite(data, 1, len, (FILE *)closure) == len ? CAIRO_STATUS_SUCCESS
                                                        : CAIRO_STATUS_WRITE_ERROR;
}

gl_status draw_write_png(cairo_surface_t *s, const char *path, gl_error *err) {
    cairo_surface_flush(s);
    if (cairo_surface_status(s))
        return gl_fail(err, GL_ERR_INTERNAL, "%s: drawing failed: %s", path,
                       cairo_status_to_string(cairo_surface_status(s)));
    gl_atomic_file f;
    gl_status st = gl_atomic_open(&f, path, err);
    if (st) return st;
    cairo_status_t cs = cairo_surface_write_to_png_stream(s, png_to_file, f.fp);
    if (cs) {
        gl_atomic_abort(&f);
        return gl_fail(err, GL_ERR_IO, "%s: cannot write the PNG: %s", path,
                       cairo_status_to_string(cs));
    }
    return gl_atomic_commit(&f, err);
}

cairo_surface_t *draw_new_surface(int w, int h, const char *path, gl_error *err) {
    if (w <= 0 || h <= 0 || w > DRAW_MAX_SIDE || h > DRAW_MAX_SIDE) {
        gl_fail(err, GL_ERR_LIMIT, "%s: a %dx%d picture is out of range", path, w, h);
        return NULL;
    }
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    if (cairo_surface_status(s)) {
        cairo_surface_destroy(s);
        gl_fail(err, GL_ERR_NOMEM, "%s: cannot make a %dx%d picture", path, w, h);
        return NULL;
    }
    return s;
}

void draw_halo_text(cairo_t *cr, double x, double y, const char *s, unsigned fill) {
    cairo_move_to(cr, x, y);
    cairo_text_path(cr, s);
    cairo_set_source_rgba(cr, 0, 0, 0, 0.85);
    cairo_set_line_width(cr, 3);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_stroke_preserve(cr);
    draw_set_rgb(cr, fill, 1);
    cairo_fill(cr);
}

/* ------------------------------------------------------------------ confusion matrix */

/* The widest class name at this font size, clamped so one long name cannot crowd the matrix out. */
static double widest_name(const gl_label_eval *e, double font_size) {
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1);
    cairo_t *cr = cairo_create(s);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, font_size);
    double w = 40;
    for (int i = 0; i < e->n_classes; i++) {
        cairo_text_extents_t ex;
        cairo_text_extents(cr, e->classes[i], &ex);
        w = fmax(w, ex.x_advance);
    }
    cairo_destroy(cr);
    cairo_surface_destroy(s);
    return fmin(w, 320);
}

/* One matrix cell at (x,y): shaded by its share of the truth row (recall on the diagonal). */
static void confusion_cell(cairo_t *cr, double x, double y, int cell, long n, long row) {
    double f = row ? (double)n / row : 0;
    cairo_set_source_rgb(cr, 1 - 0.8 * f, 1 - 0.6 * f, 1 - 0.2 * f);
    cairo_rectangle(cr, x, y, cell, cell);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.7, 0.7, 0.7);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    char num[32];
    snprintf(num, sizeof num, "%ld", n);
    cairo_text_extents_t ex;
    cairo_text_extents(cr, num, &ex);
    double ink = f > 0.5 ? 1 : 0;
    cairo_set_source_rgb(cr, ink, ink, ink);
    cairo_move_to(cr, x + (cell - ex.width) / 2 - ex.x_bearing,
                  y + (cell - ex.height) / 2 - ex.y_bearing);
    cairo_show_text(cr, num);
}

/* Class t's name left of its row and, rising at 60 degrees, above its column. */
static void confusion_names(cairo_t *cr, const char *name, int t, int margin, int top, int cell) {
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_text_extents_t ex;
    cairo_text_extents(cr, name, &ex);
    cairo_move_to(cr, margin - 6 - ex.x_advance, top + t * cell + cell / 2.0 + 4);
    cairo_show_text(cr, name);
    cairo_save(cr);
    cairo_move_to(cr, margin + t * cell + cell / 2.0, top - 6);
    cairo_rotate(cr, -M_PI / 3);
    cairo_show_text(cr, name);
    cairo_restore(cr);
}

gl_status gl_draw_confusion_png(const gl_label_eval *e, const char *out_png, gl_error *err) {
    int K = e->n_classes;
    if (K <= 0 || K > 200)
        return gl_fail(err, GL_ERR_LIMIT, "%s: cannot draw a %d-class confusion matrix", out_png,
                       K);
    int cell = K <= 10 ? 56 : K <= 30 ? 32 : 16;
    double names = widest_name(e, cell >= 32 ? 12 : 9);
    int margin = (int)names + 16, top = (int)(names * 0.87) + 40;
    int w = (int)fmax(margin + K * cell + names * 0.5 + 20, 380), h = top + K * cell + 40;
    cairo_surface_t *s = draw_new_surface(w, h, out_png, err);
    if (!s) return err->code;
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, cell >= 32 ? 12 : 9);
    for (int t = 0; t < K; t++) {
        long row = 0;
        for (int p = 0; p < K; p++)
            row += e->confusion[(size_t)t * K + p];
        for (int p = 0; p < K; p++)
            confusion_cell(cr, margin + p * cell, top + t * cell, cell,
                           e->confusion[(size_t)t * K + p], row);
        confusion_names(cr, e->classes[t], t, margin, top, cell);
    }
    cairo_set_font_size(cr, 13);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_move_to(cr, 10, 20);
    cairo_show_text(cr, "rows: truth, columns: prediction");
    char line[128];
    snprintf(line, sizeof line, "accuracy %.3f  macro-F1 %.3f  kappa %.3f", e->accuracy,
             e->macro_f1, e->kappa);
    cairo_move_to(cr, 10, h - 14);
    cairo_show_text(cr, line);
    cairo_destroy(cr);
    gl_status st = draw_write_png(s, out_png, err);
    cairo_surface_destroy(s);
    return st;
}
