/* geotiff.c: `label -o labels.tif`: per scene a classified, tiled, compressed Cloud-Optimized
 * GeoTIFF (1..K classes, 0 nodata) with a colour table and a raster attribute table of class names,
 * overlapping tiles blended by probability, optionally a float band per class beside it. */
#include "label/geotiff.h"

#include <cpl_conv.h>
#include <cpl_string.h>
#include <errno.h>
#include <gdal.h>
#include <math.h>
#include <ogr_srs_api.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_CELLS (1L << 28) /* output pixels x classes held while a scene is open */

typedef struct {
    char *name;     /* the scene's base name */
    char *tmp;      /* its finished temporary GeoTIFF */
    char *tmp_prob; /* and the probabilities beside it, or NULL */
} done_scene;

struct gl_tif_writer {
    char *path;
    gl_tiling tiling;
    double res;
    int probabilities, hierarchical, K;
    char **classes;
    unsigned *rgb;
    /* the scene in progress */
    const gl_scene_grid *grid;
    char *scene, *input, *crs_wkt;
    int has_gt;
    double gt[6];
    int w, h;      /* output pixels */
    double px, py; /* source pixels per output pixel */
    float *acc;    /* [h*w, K]: summed leaf probabilities */
    float *votes;  /* [h*w, K]: hierarchical: summed scores of chosen leaves */
    int *cover;    /* [h*w]: valid tiles covering the pixel */
    done_scene *done;
    int n_done;
};

gl_tif_writer *gl_tif_writer_open(const char *path, const gl_tiling *tiling, double raster_res,
                                  int probabilities, gl_error *err) {
    gl_tif_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    w->tiling = *tiling;
    w->res = raster_res;
    w->probabilities = probabilities;
    GDALAllRegister();
    return w;
}

gl_status gl_tif_writer_classes(gl_tif_writer *w, const char *const *names, int n,
                                const gl_colors *colors, int hierarchical, gl_error *err) {
    if (n < 1 || n > 255)
        return gl_fail(err, GL_ERR_LIMIT, "%s: a byte raster holds 1 to 255 classes, not %d",
                       w->path, n);
    w->classes = calloc((size_t)n, sizeof *w->classes);
    w->rgb = calloc((size_t)n, sizeof *w->rgb);
    if (!w->classes || !w->rgb) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", w->path);
    w->K = n;
    for (int k = 0; k < n; k++) {
        if (!(w->classes[k] = strdup(names[k])))
            return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", w->path);
        w->rgb[k] = gl_color_of(colors, names[k]);
    }
    w->hierarchical = hierarchical;
    return GL_OK;
}

static void drop_scene(gl_tif_writer *w) {
    free(w->acc), free(w->votes), free(w->cover), free(w->scene), free(w->input), free(w->crs_wkt);
    w->acc = w->votes = NULL, w->cover = NULL, w->scene = w->input = w->crs_wkt = NULL;
    w->grid = NULL;
}

/* The output grid of a scene: one pixel per tile stride, or --raster-res map units. */
static gl_status start_scene(gl_tif_writer *w, const gl_scene_grid *g, gl_error *err) {
    const gl_tiling *t = &w->tiling;
    w->grid = g;
    w->has_gt = g->has_gt;
    memcpy(w->gt, g->gt, sizeof w->gt);
    if (w->res > 0) {
        if (!g->has_gt || g->gt[2] != 0 || g->gt[4] != 0)
            return gl_fail(err, GL_ERR_ARG, "%s: --raster-res needs a north-up georeferenced scene",
                           g->input);
        w->px = w->res / fabs(g->gt[1]);
        w->py = w->res / fabs(g->gt[5]);
        w->w = (int)ceil(g->width / w->px - 1e-9);
        w->h = (int)ceil(g->height / w->py - 1e-9);
    } else if (t->mode == GL_TILING_SPLIT) {
        w->w = t->cols, w->h = t->rows;
        w->px = t->drop_remainder ? g->width / t->cols : (double)g->width / t->cols;
        w->py = t->drop_remainder ? g->height / t->rows : (double)g->height / t->rows;
    } else {
        int step = t->tile - t->overlap;
        w->px = w->py = step;
        w->w = g->width <= t->tile ? 1 : 1 + (g->width - t->tile + step - 1) / step;
        w->h = g->height <= t->tile ? 1 : 1 + (g->height - t->tile + step - 1) / step;
    }
    long cells = (long)w->w * w->h;
    if (w->w < 1 || w->h < 1 || cells * w->K > MAX_CELLS)
        return gl_fail(err, GL_ERR_LIMIT, "%s: a %dx%d label raster of %d classes is too large",
                       g->input, w->w, w->h, w->K);
    w->acc = calloc((size_t)cells * w->K, sizeof *w->acc);
    w->votes = w->hierarchical ? calloc((size_t)cells * w->K, sizeof *w->votes) : NULL;
    w->cover = calloc((size_t)cells, sizeof *w->cover);
    const char *b = strrchr(g->filename, '/');
    w->scene = strdup(b ? b + 1 : g->filename);
    w->crs_wkt = strdup(g->crs_wkt ? g->crs_wkt : "");
    w->input = strdup(g->input ? g->input : g->filename);
    if (!w->input || !w->acc || (w->hierarchical && !w->votes) || !w->cover || !w->scene ||
        !w->crs_wkt)
        return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", g->input);
    return GL_OK;
}

static int class_index(const gl_tif_writer *w, const char *label) {
    for (int k = 0; k < w->K; k++)
        if (!strcmp(w->classes[k], label)) return k;
    return -1;
}

/* Output pixels whose centres fall inside [a, a + n) source pixels along one axis. */
static void pixel_span(double a, double n, double p, int limit, int *lo, int *hi) {
    *lo = (int)ceil(a / p - 0.5);
    *hi = (int)ceil((a + n) / p - 0.5) - 1;
    if (*lo < 0) *lo = 0;
    if (*hi > limit - 1) *hi = limit - 1;
}

static gl_status finish_scene(gl_tif_writer *w, gl_error *err);

gl_status gl_tif_writer_add(gl_tif_writer *w, const gl_label_row *r, gl_error *err) {
    if (!r->grid)
        return gl_fail(err, GL_ERR_INTERNAL, "%s: a row without its scene's grid", w->path);
    if (!w->K) return gl_fail(err, GL_ERR_INTERNAL, "%s: no class list", w->path);
    gl_status st = GL_OK;
    if (w->grid && strcmp(w->input, r->grid->input ? r->grid->input : r->grid->filename))
        st = finish_scene(w, err);
    if (!st && !w->grid) st = start_scene(w, r->grid, err);
    if (st) return st;
    if (isnan(r->score)) return GL_OK; /* nodata: leaves its pixels at 0 unless others cover */
    int c = class_index(w, r->label);
    if (c < 0)
        return gl_fail(err, GL_ERR_INTERNAL, "%s: label '%s' is not in the class list", w->path,
                       r->label);
    int x0, x1, y0, y1;
    if (w->res <= 0 && w->tiling.mode == GL_TILING_SPLIT) {
        x0 = x1 = r->col, y0 = y1 = r->row; /* one pixel per tile, exactly */
    } else {
        pixel_span(r->left, r->right - r->left, w->px, w->w, &x0, &x1);
        pixel_span(r->lower, r->upper - r->lower, w->py, w->h, &y0, &y1);
    }
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            size_t cell = (size_t)y * w->w + x;
            float *a = w->acc + cell * w->K;
            w->cover[cell]++;
            if (r->leaf_probs)
                for (int k = 0; k < w->K; k++)
                    a[k] += r->leaf_probs[k];
            else
                a[c] += (float)r->score;
            if (w->votes) w->votes[cell * w->K + c] += (float)r->score;
        }
    return GL_OK;
}

static GDALDatasetH mem_dataset(gl_tif_writer *w, int bands, GDALDataType type) {
    GDALDriverH mem = GDALGetDriverByName("MEM");
    GDALDatasetH ds = mem ? GDALCreate(mem, "", w->w, w->h, bands, type, NULL) : NULL;
    if (!ds) return NULL;
    if (w->has_gt) {
        double gt[6] = {w->gt[0], w->gt[1] * w->px, w->gt[2] * w->py,
                        w->gt[3], w->gt[4] * w->px, w->gt[5] * w->py};
        GDALSetGeoTransform(ds, gt);
    }
    if (*w->crs_wkt) {
        OGRSpatialReferenceH s = OSRNewSpatialReference(NULL);
        char *wkt = NULL;
        if (OSRSetFromUserInput(s, w->crs_wkt) == OGRERR_NONE && OSRExportToWkt(s, &wkt) == 0)
            GDALSetProjection(ds, wkt);
        CPLFree(wkt);
        OSRDestroySpatialReference(s);
    }
    return ds;
}

static gl_status write_cog(gl_tif_writer *w, GDALDatasetH src, const char *to, int byte,
                           gl_error *err) {
    GDALDriverH cog = GDALGetDriverByName("COG");
    if (!cog) return gl_fail(err, GL_ERR_INTERNAL, "%s: GDAL has no COG driver", to);
    char *opts[] = {"COMPRESS=DEFLATE", "BLOCKSIZE=256",
                    byte ? "OVERVIEW_RESAMPLING=NEAREST" : "OVERVIEW_RESAMPLING=AVERAGE",
                    byte ? NULL : "PREDICTOR=YES", NULL};
    CPLErrorReset();
    GDALDatasetH out = GDALCreateCopy(cog, to, src, FALSE, opts, NULL, NULL);
    if (!out) {
        unlink(to);
        return gl_fail(err, GL_ERR_IO, "%s: cannot write the GeoTIFF: %s", w->path,
                       CPLGetLastErrorMsg());
    }
    GDALClose(out);
    return GL_OK;
}

/* The class band: argmax of the blended probabilities (hierarchical: of the score-weighted votes
 * for the chosen leaves, so a tile alone keeps its own label). */
static gl_status write_classes(gl_tif_writer *w, const char *tmp, gl_error *err) {
    GDALDatasetH ds = mem_dataset(w, 1, GDT_Byte);
    if (!ds)
        return gl_fail(err, GL_ERR_NOMEM, "%s: cannot make a %dx%d raster", w->path, w->w, w->h);
    unsigned char *v = malloc((size_t)w->w * w->h);
    gl_status st = v ? GL_OK : gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", w->path);
    for (long i = 0; !st && i < (long)w->w * w->h; i++) {
        const float *a = (w->votes ? w->votes : w->acc) + (size_t)i * w->K;
        int best = 0;
        for (int k = 1; k < w->K; k++)
            if (a[k] > a[best]) best = k;
        v[i] = w->cover[i] ? (unsigned char)(best + 1) : 0;
    }
    GDALRasterBandH b = GDALGetRasterBand(ds, 1);
    if (!st &&
        GDALRasterIO(b, GF_Write, 0, 0, w->w, w->h, v, w->w, w->h, GDT_Byte, 0, 0) != CE_None)
        st = gl_fail(err, GL_ERR_INTERNAL, "%s: cannot fill the raster", w->path);
    free(v);
    GDALSetRasterNoDataValue(b, 0);
    GDALSetDescription(b, "class");
    GDALColorTableH ct = GDALCreateColorTable(GPI_RGB);
    GDALColorEntry none = {0, 0, 0, 0};
    GDALSetColorEntry(ct, 0, &none);
    char **names = CSLAddString(NULL, "nodata");
    for (int k = 0; k < w->K; k++) {
        GDALColorEntry e = {(short)(w->rgb[k] >> 16 & 255), (short)(w->rgb[k] >> 8 & 255),
                            (short)(w->rgb[k] & 255), 255};
        GDALSetColorEntry(ct, k + 1, &e);
        names = CSLAddString(names, w->classes[k]);
    }
    GDALSetRasterColorTable(b, ct);
    GDALSetRasterCategoryNames(b, names);
    GDALDestroyColorTable(ct);
    CSLDestroy(names);
    if (!st) st = write_cog(w, ds, tmp, 1, err);
    GDALClose(ds);
    if (st) return st;
    /* The attribute table travels in the .aux.xml beside the GeoTIFF (GDAL's PAM), as QGIS and
     * ArcGIS read it. */
    GDALDatasetH out = GDALOpen(tmp, GA_ReadOnly);
    if (!out) return gl_fail(err, GL_ERR_IO, "%s: cannot reopen: %s", tmp, CPLGetLastErrorMsg());
    GDALRasterAttributeTableH rat = GDALCreateRasterAttributeTable();
    GDALRATCreateColumn(rat, "value", GFT_Integer, GFU_MinMax);
    GDALRATCreateColumn(rat, "class", GFT_String, GFU_Name);
    GDALRATCreateColumn(rat, "red", GFT_Integer, GFU_Red);
    GDALRATCreateColumn(rat, "green", GFT_Integer, GFU_Green);
    GDALRATCreateColumn(rat, "blue", GFT_Integer, GFU_Blue);
    GDALRATSetRowCount(rat, w->K);
    for (int k = 0; k < w->K; k++) {
        GDALRATSetValueAsInt(rat, k, 0, k + 1);
        GDALRATSetValueAsString(rat, k, 1, w->classes[k]);
        GDALRATSetValueAsInt(rat, k, 2, (int)(w->rgb[k] >> 16 & 255));
        GDALRATSetValueAsInt(rat, k, 3, (int)(w->rgb[k] >> 8 & 255));
        GDALRATSetValueAsInt(rat, k, 4, (int)(w->rgb[k] & 255));
    }
    if (GDALSetDefaultRAT(GDALGetRasterBand(out, 1), rat) != CE_None)
        st = gl_fail(err, GL_ERR_IO, "%s: cannot attach the attribute table", tmp);
    GDALDestroyRasterAttributeTable(rat);
    CPLErrorReset();
    GDALClose(out);
    if (!st && CPLGetLastErrorType() >= CE_Failure)
        st = gl_fail(err, GL_ERR_IO, "%s: %s", tmp, CPLGetLastErrorMsg());
    return st;
}

/* One float band per class: the mean leaf probability of the tiles covering each pixel. */
static gl_status write_probs(gl_tif_writer *w, const char *tmp, gl_error *err) {
    GDALDatasetH ds = mem_dataset(w, w->K, GDT_Float32);
    if (!ds)
        return gl_fail(err, GL_ERR_NOMEM, "%s: cannot make a %dx%d raster", w->path, w->w, w->h);
    float *v = malloc((size_t)w->w * w->h * sizeof *v);
    gl_status st = v ? GL_OK : gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", w->path);
    for (int k = 0; !st && k < w->K; k++) {
        for (long i = 0; i < (long)w->w * w->h; i++)
            v[i] = w->cover[i] ? w->acc[(size_t)i * w->K + k] / w->cover[i] : NAN;
        GDALRasterBandH b = GDALGetRasterBand(ds, k + 1);
        GDALSetRasterNoDataValue(b, NAN);
        GDALSetDescription(b, w->classes[k]);
        if (GDALRasterIO(b, GF_Write, 0, 0, w->w, w->h, v, w->w, w->h, GDT_Float32, 0, 0) !=
            CE_None)
            st = gl_fail(err, GL_ERR_INTERNAL, "%s: cannot fill the raster", w->path);
    }
    free(v);
    if (!st) st = write_cog(w, ds, tmp, 0, err);
    GDALClose(ds);
    return st;
}

static char *tmp_name(const char *path, int n, const char *what) {
    size_t len = strlen(path) + 64;
    char *s = malloc(len);
    if (s) snprintf(s, len, "%s.tmp%ld-%d%s.tif", path, (long)getpid(), n, what);
    return s;
}

static void remove_tif(const char *p) {
    char aux[4200];
    unlink(p);
    snprintf(aux, sizeof aux, "%s.aux.xml", p);
    unlink(aux);
}

static gl_status finish_scene(gl_tif_writer *w, gl_error *err) {
    if (!w->grid) return GL_OK;
    done_scene *g = realloc(w->done, (size_t)(w->n_done + 1) * sizeof *g);
    if (!g) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", w->path);
    w->done = g;
    done_scene *d = &w->done[w->n_done];
    memset(d, 0, sizeof *d);
    d->name = w->scene;
    w->scene = NULL;
    d->tmp = tmp_name(w->path, w->n_done, "");
    d->tmp_prob = w->probabilities ? tmp_name(w->path, w->n_done, "p") : NULL;
    w->n_done++;
    gl_status st = d->tmp && (d->tmp_prob || !w->probabilities)
                       ? GL_OK
                       : gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", w->path);
    if (!st) st = write_classes(w, d->tmp, err);
    if (!st && d->tmp_prob) st = write_probs(w, d->tmp_prob, err);
    drop_scene(w);
    return st;
}

/* Where scene i goes: OUT itself for a single scene, else OUT's stem + "." + the scene's stem. */
static char *final_name(const gl_tif_writer *w, int i, int prob) {
    size_t n = strlen(w->path);
    const char *stem_end = n > 4 && !strcasecmp(w->path + n - 4, ".tif")    ? w->path + n - 4
                           : n > 5 && !strcasecmp(w->path + n - 5, ".tiff") ? w->path + n - 5
                                                                            : w->path + n;
    const char *scene = w->done[i].name;
    const char *dot = strrchr(scene, '.');
    int scene_len = dot && dot != scene ? (int)(dot - scene) : (int)strlen(scene);
    size_t len = n + strlen(scene) + 16;
    char *s = malloc(len);
    if (!s) return NULL;
    int stem = (int)(stem_end - w->path);
    if (w->n_done == 1)
        snprintf(s, len, "%.*s%s.tif", stem, w->path, prob ? ".prob" : "");
    else
        snprintf(s, len, "%.*s.%.*s%s.tif", stem, w->path, scene_len, scene, prob ? ".prob" : "");
    return s;
}

static gl_status move_tif(const char *from, const char *to, gl_error *err) {
    char a[4200], b[4200];
    snprintf(a, sizeof a, "%s.aux.xml", from);
    snprintf(b, sizeof b, "%s.aux.xml", to);
    if (rename(from, to) != 0)
        return gl_fail(err, GL_ERR_IO, "%s: cannot rename into place: %s", to, strerror(errno));
    if (access(a, F_OK) == 0) {
        if (rename(a, b) != 0)
            return gl_fail(err, GL_ERR_IO, "%s: cannot rename into place: %s", b, strerror(errno));
    } else {
        unlink(b); /* a stale attribute table from an older file must not describe this one */
    }
    return GL_OK;
}

static void free_writer(gl_tif_writer *w) {
    drop_scene(w);
    for (int i = 0; i < w->n_done; i++) {
        if (w->done[i].tmp) remove_tif(w->done[i].tmp);
        if (w->done[i].tmp_prob) remove_tif(w->done[i].tmp_prob);
        free(w->done[i].name), free(w->done[i].tmp), free(w->done[i].tmp_prob);
    }
    free(w->done);
    gl_strings_free(w->classes, w->K);
    free(w->rgb);
    free(w->path);
    free(w);
}

gl_status gl_tif_writer_commit(gl_tif_writer *w, gl_error *err) {
    gl_status st = finish_scene(w, err);
    if (!st && w->n_done == 0)
        st = gl_fail(err, GL_ERR_ARG, "%s: no tiles to write as a raster", w->path);
    for (int i = 0; !st && i < w->n_done; i++) {
        for (int prob = 0; !st && prob <= (w->done[i].tmp_prob != NULL); prob++) {
            char *to = final_name(w, i, prob);
            char **from = prob ? &w->done[i].tmp_prob : &w->done[i].tmp;
            st = to ? move_tif(*from, to, err) : gl_fail(err, GL_ERR_NOMEM, "out of memory");
            if (!st) free(*from), *from = NULL;
            free(to);
        }
    }
    free_writer(w);
    return st;
}

void gl_tif_writer_abort(gl_tif_writer *w) {
    if (w) free_writer(w);
}
