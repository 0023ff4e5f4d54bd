/* draw.h: cairo helpers shared by the pictures in src/label (overlay.c, draw.c): colours, legible
 * text, surfaces of bounded size and atomic PNG output. */
#ifndef GEOLABEL_LABEL_DRAW_H
#define GEOLABEL_LABEL_DRAW_H

#include "geolabel.h"

#include <cairo.h>

#define DRAW_MAX_SIDE 16384 /* a PNG larger than this is no longer read at a glance */

void draw_set_rgb(cairo_t *cr, unsigned hex, double alpha); /* hex 0xRRGGBB */
/* Text with a dark halo so it reads on any background; (x,y) is the baseline start. */
void draw_halo_text(cairo_t *cr, double x, double y, const char *s, unsigned fill);
/* An opaque RGB24 surface (caller destroys), or NULL with err set for sizes out of range. */
cairo_surface_t *draw_new_surface(int w, int h, const char *path, gl_error *err);
/* The window (x,y,w,h) of r averaged down to out_w x out_h RGB [out_h][out_w][3] by GDAL
 * (gl_raster_read_rgb_scaled: from overviews when the file has them), nearest on an axis it
 * enlarges: memory follows the picture, not the scene. */
gl_status draw_read_scaled(gl_raster *r, int x, int y, int w, int h, int out_w, int out_h,
                           unsigned char *out, gl_error *err);
/* Writes the surface to path as PNG through gl_atomic_open/commit. */
gl_status draw_write_png(cairo_surface_t *s, const char *path, gl_error *err);

#endif
