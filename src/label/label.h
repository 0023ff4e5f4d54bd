/* label.h: what the labelling files share inside src/label: tile augmentations, the zero-shot
 * classifier (text embeddings, prompt ensembles, hierarchy walk) and the label writers. */
#ifndef GEOLABEL_LABEL_H
#define GEOLABEL_LABEL_H

#include "geolabel.h"

/* ---------------------------------------------------------------- augmentations (tiles.c) */

/* One test-time augmentation; GL_TTA_OP_NONE is the tile itself. The GL_TTA_* bit of op k is
 * 1 << (k - 1). */
typedef enum {
    GL_TTA_OP_NONE = 0,
    GL_TTA_OP_X,      /* mirror left-right (numpy.fliplr, PIL FLIP_LEFT_RIGHT) */
    GL_TTA_OP_Y,      /* mirror top-bottom (numpy.flipud) */
    GL_TTA_OP_XY,     /* both: a half turn, as GVL's "xy" (PIL ROTATE_180) */
    GL_TTA_OP_ROT90,  /* a quarter turn counter-clockwise (numpy.rot90, PIL ROTATE_90) */
    GL_TTA_OP_ROT270, /* a quarter turn clockwise (numpy.rot90 k=-1) */
    GL_TTA_OP_COUNT
} gl_tta_op;

/* Writes the augmented [out_h][out_w][3] copy of rgb [h][w][3] to out (w*h*3 bytes, not rgb);
 * quarter turns swap width and height. */
void gl_tile_augment(gl_tta_op op, const unsigned char *rgb, int w, int h, unsigned char *out,
                     int *out_w, int *out_h);

#endif
