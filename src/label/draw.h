/* draw.h: cairo helpers shared by the pictures in src/label (overlay.c, draw.c): colours, legible
 * text, surfaces of bounded size and atomic PNG output. */
#ifndef GEOLABEL_LABEL_DRAW_H
#define GEOLABEL_LABEL_DRAW_H

#include "geolabel.h"

#include <cairo.h>

#define DRAW_MAX_SIDE 16384 /* a PNG larger than this is no longer read at a glance */

/* Class colours: the legend's i-th class gets DRAW_PALETTE[i % 20] (matplotlib's tab10, then
 * tab20's light partners), so a scene's colours match what GVL users know from matplotlib. */
#define DRAW_PALETTE                                                                               \
    {                                                                                              \
        0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd, 0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22,  \
            0x17becf, 0xaec7e8, 0xffbb78, 0x98df8a, 0xff9896, 0xc5b0d5, 0xc49c94, 0xf7b6d2,        \
            0xc7c7c7, 0xdbdb8d, 0x9edae5                                                           \
    }

void draw_set_rgb(cairo_t *cr, unsigned hex, double alpha); /* hex 0xRRGGBB */
/* Text with a dark halo so it reads on any background; (x,y) is the baseline start. */
void draw_halo_text(cairo_t *cr, double x, double y, const char *s, unsigned fill);
/* An opaque RGB24 surface (caller destroys), or NULL with err set for sizes out of range. */
cairo_surface_t *draw_new_surface(int w, int h, const char *path, gl_error *err);
/* Writes the surface to path as PNG through gl_atomic_open/commit. */
gl_status draw_write_png(cairo_surface_t *s, const char *path, gl_error *err);

#endif
