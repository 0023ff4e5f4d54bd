/* overlay.c: `geolabel show`: the scene read by strips at reduced size, its labelled tiles filled
 * in class colours with their labels, a legend of tile counts, or GVL's collage of the tiles. */
#include "label/draw.h"
#include "label/rows.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define COLLAGE_CELL 256 /* GVL's display_chunks.py resizes each chunk to 256x256 */
#define COLLAGE_LINE 5   /* and separates them with 5-pixel red lines */

gl_show_params gl_show_default_params(void) {
    return (gl_show_params){.raster = gl_raster_default_params(),
                            .max_side = 1600,
                            .alpha = 0.35,
                            .collage = 0,
                            .max_tiles = 100};
}

/* ------------------------------------------------------------------ label rows */

typedef struct {
    int row, col;
    int x0, y0, x1, y1; /* pixel rectangle: GVL's lower is the top y, upper the bottom y */
    int cls;            /* legend entry */
} shown_tile;

typedef struct {
    char *label, *group; /* group: the tree above the leaf, " > "-joined; "" when flat */
    long count;
    unsigned colour;
} legend_entry;

typedef struct {
    shown_tile *tiles;
    int n, cap;
    legend_entry *legend;
    int n_legend;
} shown;

static void shown_free(shown *s) {
    for (int i = 0; i < s->n_legend; i++)
        free(s->legend[i].label), free(s->legend[i].group);
    free(s->legend), free(s->tiles);
}

/* The tree's part above the leaf, " > "-joined: "Urban;Residential;dense" -> "Urban > Residential".
 */
static char *group_of(const char *tree) {
    const char *last = strrchr(tree, ';');
    size_t n = last ? (size_t)(last - tree) : 0;
    char *g = malloc(3 * n + 1), *o = g;
    if (!g) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (tree[i] == ';')
            memcpy(o, " > ", 3), o += 3;
        else
            *o++ = tree[i];
    }
    *o = 0;
    return g;
}

static int legend_find(shown *s, const char *label, const char *tree, gl_error *err) {
    char *group = group_of(tree);
    if (!group) return gl_fail(err, GL_ERR_NOMEM, "show: out of memory"), -1;
    for (int i = 0; i < s->n_legend; i++)
        if (!strcmp(s->legend[i].label, label) && !strcmp(s->legend[i].group, group)) {
            free(group);
            return i;
        }
    if (s->n_legend >= 1000) {
        free(group);
        return gl_fail(err, GL_ERR_LIMIT, "show: more than 1000 distinct labels"), -1;
    }
    legend_entry *grown = realloc(s->legend, (size_t)(s->n_legend + 1) * sizeof *grown);
    char *l = strdup(label);
    if (!grown || !l) {
        free(group), free(l);
        if (grown) s->legend = grown;
        return gl_fail(err, GL_ERR_NOMEM, "show: out of memory"), -1;
    }
    s->legend = grown;
    s->legend[s->n_legend] = (legend_entry){l, group, 0, 0};
    return s->n_legend++;
}

static int parse_int(const char *s, int *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v > -1e9 && v < 1e9)) return 0;
    *out = (int)floor(v + 0.5);
    return 1;
}

static gl_status add_row(shown *s, label_rows *csv, const int *c, gl_error *err) {
    shown_tile t;
    int l, u, r, lo;
    if (!parse_int(label_rows_field(csv, c[1]), &t.row) ||
        !parse_int(label_rows_field(csv, c[2]), &t.col) ||
        !parse_int(label_rows_field(csv, c[3]), &l) ||
        !parse_int(label_rows_field(csv, c[4]), &u) ||
        !parse_int(label_rows_field(csv, c[5]), &r) || !parse_int(label_rows_field(csv, c[6]), &lo))
        return gl_fail(err, GL_ERR_FORMAT, "%s:%ld: row, col or tile bounds are not numbers",
                       label_rows_path(csv), label_rows_index(csv));
    t.x0 = l < r ? l : r, t.x1 = l < r ? r : l;
    t.y0 = lo < u ? lo : u, t.y1 = lo < u ? u : lo;
    if ((t.cls = legend_find(s, label_rows_field(csv, c[7]),
                             c[8] >= 0 ? label_rows_field(csv, c[8]) : "", err)) < 0)
        return err->code;
    s->legend[t.cls].count++;
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 64;
        shown_tile *g = cap <= (1 << 24) ? realloc(s->tiles, (size_t)cap * sizeof *g) : NULL;
        if (!g) return gl_fail(err, GL_ERR_LIMIT, "%s: too many tiles", label_rows_path(csv));
        s->tiles = g, s->cap = cap;
    }
    s->tiles[s->n++] = t;
    return GL_OK;
}

static int cmp_legend(const void *a, const void *b) {
    const legend_entry *x = a, *y = b;
    int c = strcmp(x->group, y->group);
    return c ? c : strcmp(x->label, y->label);
}

/* Legend order is by group, then label; tiles are re-pointed to it. Colours come from the class
 * names (gl_color_of), so a class looks the same in every picture. */
static gl_status sort_legend(shown *s, const char *colors_path, gl_error *err) {
    gl_colors *colors = gl_colors_load(colors_path, err);
    if (!colors) return err->code;
    int *order = malloc((size_t)(s->n_legend + 1) * sizeof *order);
    legend_entry *copy = malloc((size_t)(s->n_legend + 1) * sizeof *copy);
    if (!order || !copy) {
        free(order), free(copy);
        gl_colors_free(colors);
        return gl_fail(err, GL_ERR_NOMEM, "show: out of memory");
    }
    if (s->n_legend) memcpy(copy, s->legend, (size_t)s->n_legend * sizeof *copy);
    if (s->n_legend > 1) /* no qsort(NULL, 0): an empty legend may have no array */
        qsort(s->legend, (size_t)s->n_legend, sizeof *s->legend, cmp_legend);
    for (int i = 0; i < s->n_legend; i++) {
        s->legend[i].colour = gl_color_of(colors, s->legend[i].label);
        for (int j = 0; j < s->n_legend; j++)
            if (copy[j].label == s->legend[i].label) order[j] = i;
    }
    for (int i = 0; i < s->n; i++)
        s->tiles[i].cls = order[s->tiles[i].cls];
    free(order), free(copy);
    gl_colors_free(colors);
    return GL_OK;
}

/* Whether a row's input path names image: the same text, or the same file by another path. */
static int same_input(const char *input, const char *image, const char *image_real) {
    if (!strcmp(input, image)) return 1;
    if (!image_real || gl_path_is_gdal_virtual(input)) return 0;
    char *r = realpath(input, NULL);
    int same = r && !strcmp(r, image_real);
    free(r);
    return same;
}

/* Reads the label CSV rows that belong to image: by input path (two scenes may share a base
 * name), or by base name in a file without the input column (GVL's own CSV). */
static gl_status read_rows(const char *csv_path, const char *image, const char *colors_path,
                           shown *s, gl_error *err) {
    memset(s, 0, sizeof *s);
    label_rows *csv = label_rows_open(csv_path, err);
    if (!csv) return err->code;
    static const char *const names[] = {"filename", "row",   "col",   "left",
                                        "upper",    "right", "lower", "classification"};
    int c[9];
    gl_status st = GL_OK;
    for (int i = 0; i < 8 && !st; i++)
        if ((c[i] = label_rows_column(csv, names[i])) < 0)
            st = gl_fail(err, GL_ERR_FORMAT, "%s: no '%s' column", csv_path, names[i]);
    c[8] = label_rows_column(csv, "classification_tree");
    const char *want = gl_path_base_name(image);
    int in_col = label_rows_column(csv, "input");
    char *image_real = in_col >= 0 ? realpath(image, NULL) : NULL, *last = NULL;
    int r = 0, last_same = 0; /* rows come grouped by input: one realpath per group */
    while (!st && (r = label_rows_next(csv, err)) == 1) {
        int same;
        if (in_col < 0) {
            same = !strcmp(gl_path_base_name(label_rows_field(csv, c[0])), want);
        } else if (last && !strcmp(last, label_rows_field(csv, in_col))) {
            same = last_same;
        } else {
            free(last);
            last = strdup(label_rows_field(csv, in_col));
            same = last_same = same_input(label_rows_field(csv, in_col), image, image_real);
        }
        if (same) st = add_row(s, csv, c, err);
    }
    free(last);
    free(image_real);
    if (!st && r < 0) st = err->code;
    label_rows_free(csv);
    if (!st && s->n == 0) st = gl_fail(err, GL_ERR_FORMAT, "%s: no rows for '%s'", csv_path, want);
    if (!st) st = sort_legend(s, colors_path, err);
    if (st) shown_free(s);
    return st;
}

/* ------------------------------------------------------------------ scaled scene reads */

/* Reads the window (x,y,w,h) scaled to out_w x out_h (draw_read_scaled) into a cairo RGB24
 * surface at (ox,oy). */
static gl_status read_scaled(gl_raster *r, int x, int y, int w, int h, cairo_surface_t *dst, int ox,
                             int oy, int out_w, int out_h, gl_error *err) {
    unsigned char *rgb = malloc((size_t)out_w * out_h * 3);
    if (!rgb) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", gl_raster_path(r));
    gl_status st = draw_read_scaled(r, x, y, w, h, out_w, out_h, rgb, err);
    unsigned char *pix = cairo_image_surface_get_data(dst);
    int stride = cairo_image_surface_get_stride(dst);
    for (int j = 0; !st && j < out_h; j++) {
        uint32_t *row = (uint32_t *)(pix + (size_t)(oy + j) * stride) + ox;
        const unsigned char *p = rgb + (size_t)j * out_w * 3;
        for (int i = 0; i < out_w; i++, p += 3)
            row[i] = 0xff000000u | (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
    }
    cairo_surface_mark_dirty(dst);
    free(rgb);
    return st;
}

/* ------------------------------------------------------------------ overlay and legend */

static void draw_tile_label(cairo_t *cr, const char *text, double x, double y, double w, double h) {
    double size = fmin(16, fmax(9, fmin(w, h) / 8));
    cairo_set_font_size(cr, size);
    cairo_text_extents_t ex;
    cairo_text_extents(cr, text, &ex);
    if (ex.width > w - 4) { /* shrink to fit, but never below legibility */
        size = fmax(7, size * (w - 4) / ex.width);
        cairo_set_font_size(cr, size);
        cairo_text_extents(cr, text, &ex);
    }
    if (ex.width > w || ex.height > h) return; /* the legend still names it */
    draw_halo_text(cr, x + (w - ex.width) / 2 - ex.x_bearing,
                   y + (h - ex.height) / 2 - ex.y_bearing, text, 0xffffff);
}

static void draw_tiles(cairo_t *cr, const shown *s, double scale, double alpha) {
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    for (int i = 0; i < s->n; i++) {
        const shown_tile *t = &s->tiles[i];
        double x = t->x0 * scale, y = t->y0 * scale, w = (t->x1 - t->x0) * scale,
               h = (t->y1 - t->y0) * scale;
        draw_set_rgb(cr, s->legend[t->cls].colour, alpha);
        cairo_rectangle(cr, x, y, w, h);
        cairo_fill(cr);
    }
    /* Borders after all fills, so overlapping windows do not hide each other's edges. */
    cairo_set_line_width(cr, 1);
    for (int i = 0; i < s->n; i++) {
        const shown_tile *t = &s->tiles[i];
        draw_set_rgb(cr, s->legend[t->cls].colour, 1);
        cairo_rectangle(cr, floor(t->x0 * scale) + 0.5, floor(t->y0 * scale) + 0.5,
                        fmax(1, floor(t->x1 * scale) - floor(t->x0 * scale) - 1),
                        fmax(1, floor(t->y1 * scale) - floor(t->y0 * scale) - 1));
        cairo_stroke(cr);
    }
    for (int i = 0; i < s->n; i++) {
        const shown_tile *t = &s->tiles[i];
        draw_tile_label(cr, s->legend[t->cls].label, t->x0 * scale, t->y0 * scale,
                        (t->x1 - t->x0) * scale, (t->y1 - t->y0) * scale);
    }
}

#define LEGEND_W 300
#define LEGEND_ROW 22

static int legend_height(const shown *s) {
    int rows = 2;
    for (int i = 0; i < s->n_legend; i++)
        rows += 1 + (s->legend[i].group[0] &&
                     (i == 0 || strcmp(s->legend[i].group, s->legend[i - 1].group)));
    return rows * LEGEND_ROW + 10;
}

static void draw_legend(cairo_t *cr, const shown *s, double x, const char *title) {
    double y = LEGEND_ROW;
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    cairo_set_font_size(cr, 13);
    cairo_move_to(cr, x + 10, y);
    cairo_show_text(cr, title);
    y += LEGEND_ROW;
    for (int i = 0; i < s->n_legend; i++) {
        const legend_entry *e = &s->legend[i];
        int indent = e->group[0] ? 14 : 0;
        if (e->group[0] && (i == 0 || strcmp(e->group, s->legend[i - 1].group))) {
            cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                                   CAIRO_FONT_WEIGHT_BOLD);
            cairo_set_font_size(cr, 12);
            cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
            cairo_move_to(cr, x + 10, y);
            cairo_show_text(cr, e->group);
            y += LEGEND_ROW;
        }
        draw_set_rgb(cr, e->colour, 1);
        cairo_rectangle(cr, x + 10 + indent, y - 13, 16, 16);
        cairo_fill(cr);
        char line[300];
        snprintf(line, sizeof line, "%s (%ld)", e->label, e->count);
        cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
        cairo_set_font_size(cr, 12);
        cairo_set_source_rgb(cr, 0, 0, 0);
        cairo_move_to(cr, x + 34 + indent, y);
        cairo_show_text(cr, line);
        y += LEGEND_ROW;
    }
}

static gl_status draw_overlay(gl_raster *r, const shown *s, const gl_show_params *p,
                              const char *out, gl_error *err) {
    const gl_raster_info *info = gl_raster_get_info(r);
    int longest = info->width > info->height ? info->width : info->height;
    int max_side = p->max_side > 0
                       ? (p->max_side < DRAW_MAX_SIDE / 2 ? p->max_side : DRAW_MAX_SIDE / 2)
                       : 1600;
    double scale = longest > max_side ? (double)max_side / longest : 1.0;
    int sw = (int)fmax(1, floor(info->width * scale + 0.5)),
        sh = (int)fmax(1, floor(info->height * scale + 0.5));
    int lh = legend_height(s);
    cairo_surface_t *surf = draw_new_surface(sw + LEGEND_W, sh > lh ? sh : lh, out, err);
    if (!surf) return err->code;
    cairo_t *cr = cairo_create(surf);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_surface_flush(surf);
    gl_status st = read_scaled(r, 0, 0, info->width, info->height, surf, 0, 0, sw, sh, err);
    if (!st) {
        /* Tile coordinates scale by the exact output/scene ratio of each axis' rounding. */
        draw_tiles(cr, s, (double)sw / info->width, p->alpha > 0 ? p->alpha : 0.35);
        char title[64];
        snprintf(title, sizeof title, "classes (%d tiles)", s->n);
        draw_legend(cr, s, sw, title);
    }
    cairo_destroy(cr);
    if (!st) st = draw_write_png(surf, out, err);
    cairo_surface_destroy(surf);
    return st;
}

/* ------------------------------------------------------------------ collage */

static int cmp_tile_pos(const void *a, const void *b) {
    const shown_tile *x = a, *y = b;
    return x->row != y->row ? x->row - y->row : x->col - y->col;
}

static void caption(cairo_t *cr, double x, double y, const char *file, const shown_tile *t,
                    const legend_entry *e) {
    char lines[3][300];
    snprintf(lines[0], sizeof lines[0], "%s", file);
    snprintf(lines[1], sizeof lines[1], "(%d, %d)", t->row, t->col);
    snprintf(lines[2], sizeof lines[2], "Label: %s", e->label);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    cairo_set_font_size(cr, 12);
    for (int i = 0; i < 3; i++)
        draw_halo_text(cr, x + 6, y + 17 + 15 * i, lines[i], 0xffff00);
    draw_set_rgb(cr, e->colour,
                 1); /* a class-coloured band at the foot ties the tile to the legend */
    cairo_rectangle(cr, x, y + COLLAGE_CELL - 8, COLLAGE_CELL, 8);
    cairo_fill(cr);
}

static gl_status draw_collage(gl_raster *r, shown *s, const gl_show_params *p, const char *image,
                              const char *out, gl_error *err) {
    if (s->n > 1) qsort(s->tiles, (size_t)s->n, sizeof *s->tiles, cmp_tile_pos);
    int n = s->n < (p->max_tiles > 0 ? p->max_tiles : 100)
                ? s->n
                : (p->max_tiles > 0 ? p->max_tiles : 100);
    int cols = (int)ceil(sqrt(n)), rows = (n + cols - 1) / cols;
    int w = cols * COLLAGE_CELL + (cols - 1) * COLLAGE_LINE,
        h = rows * COLLAGE_CELL + (rows - 1) * COLLAGE_LINE;
    cairo_surface_t *surf =
        draw_new_surface(w + LEGEND_W, h > legend_height(s) ? h : legend_height(s), out, err);
    if (!surf) return err->code;
    cairo_t *cr = cairo_create(surf);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_set_source_rgb(cr, 1, 0, 0);
    cairo_rectangle(cr, 0, 0, w, h);
    cairo_fill(cr);
    cairo_surface_flush(surf);
    const gl_raster_info *info = gl_raster_get_info(r);
    gl_status st = GL_OK;
    for (int i = 0; i < n && !st; i++) {
        const shown_tile *t = &s->tiles[i];
        int x0 = t->x0 < 0 ? 0 : t->x0, y0 = t->y0 < 0 ? 0 : t->y0;
        int x1 = t->x1 > info->width ? info->width : t->x1,
            y1 = t->y1 > info->height ? info->height : t->y1;
        if (x1 <= x0 || y1 <= y0) {
            st = gl_fail(err, GL_ERR_FORMAT, "%s: tile (%d, %d) lies outside the %dx%d scene",
                         image, t->row, t->col, info->width, info->height);
            break;
        }
        int cx = (i % cols) * (COLLAGE_CELL + COLLAGE_LINE),
            cy = (i / cols) * (COLLAGE_CELL + COLLAGE_LINE);
        st =
            read_scaled(r, x0, y0, x1 - x0, y1 - y0, surf, cx, cy, COLLAGE_CELL, COLLAGE_CELL, err);
        if (!st) caption(cr, cx, cy, gl_path_base_name(image), t, &s->legend[t->cls]);
    }
    if (!st) {
        char title[96];
        snprintf(title, sizeof title, "classes (%d of %d tiles shown)", n, s->n);
        draw_legend(cr, s, w, title);
    }
    cairo_destroy(cr);
    if (!st) st = draw_write_png(surf, out, err);
    cairo_surface_destroy(surf);
    return st;
}

gl_status gl_show_labels(const char *labels_csv, const char *image, const gl_show_params *p,
                         const char *out_png, gl_error *err) {
    shown s;
    gl_status st = read_rows(labels_csv, image, p->colors_path, &s, err);
    if (st) return st;
    gl_raster *r = gl_raster_open(image, &p->raster, err);
    if (!r) {
        shown_free(&s);
        return err->code;
    }
    st = p->collage ? draw_collage(r, &s, p, image, out_png, err)
                    : draw_overlay(r, &s, p, out_png, err);
    gl_raster_free(r);
    shown_free(&s);
    return st;
}
