/* truth.c: ground-truth tile labels by GVL's SpaceNet v7 protocol from a raster mask (any nonzero
 * pixel) or vector footprints (any area of a feature), on the same tiles `label` cuts. */
#include "geolabel.h"
#include "io/raster_internal.h"
#include "label/crs.h"

#include <cpl_error.h>
#include <gdal.h>
#include <math.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_FEATURES 10000000L
#define MASK_CHUNK_PIXELS (1 << 20) /* mask windows are scanned in chunks of at most this */

gl_truth_params gl_truth_default_params(void) {
    /* label's tiling, so that eval matches every tile of a run made with the same options */
    return (gl_truth_params){
        .tiling = gl_tiling_default(), .positive = "Buildings", .negative = "No Buildings"};
}

/* The geometry of an image or a raster mask: size, pixel -> map transform and CRS. */
typedef struct {
    int width, height;
    double gt[6], inv[6];
    int has_gt;
    OGRSpatialReferenceH srs; /* owned clone, traditional GIS axis order; NULL when none */
} grid;

static void grid_clear(grid *g) {
    if (g->srs) OSRDestroySpatialReference(g->srs);
    g->srs = NULL;
}

static OGRSpatialReferenceH clone_srs(OGRSpatialReferenceH s) {
    if (!s) return NULL;
    OGRSpatialReferenceH c = OSRClone(s);
    if (c) OSRSetAxisMappingStrategy(c, OAMS_TRADITIONAL_GIS_ORDER);
    return c;
}

static void grid_of(GDALDatasetH ds, grid *g) {
    g->width = GDALGetRasterXSize(ds);
    g->height = GDALGetRasterYSize(ds);
    g->has_gt = GDALGetGeoTransform(ds, g->gt) == CE_None;
    if (!g->has_gt || !GDALInvGeoTransform(g->gt, g->inv)) {
        /* GDAL's convention without georeferencing: map coordinates are pixel (col, row). */
        const double id[6] = {0, 1, 0, 0, 0, 1};
        memcpy(g->gt, id, sizeof id), memcpy(g->inv, id, sizeof id);
        g->has_gt = 0;
    }
    g->srs = g->has_gt ? clone_srs(GDALGetSpatialRef(ds)) : NULL;
}

/* Transforms from one grid's CRS to another's, or NULL when both are the same or either has none.
 */
static OGRCoordinateTransformationH transform_between(OGRSpatialReferenceH from,
                                                      OGRSpatialReferenceH to) {
    if (!from || !to || OSRIsSame(from, to)) return NULL;
    return OCTNewCoordinateTransformation(from, to);
}

/* ------------------------------------------------------------------ raster masks */

typedef struct {
    GDALDatasetH ds;
    GDALRasterBandH band;
    grid g;
    int has_nodata;
    double nodata;
    double *buf;
} raster_mask;

/* Any pixel of the window other than 0 and nodata. */
static gl_status window_positive(raster_mask *m, const char *path, int x0, int y0, int x1, int y1,
                                 int *positive, gl_error *err) {
    *positive = 0;
    int w = x1 - x0, rows = MASK_CHUNK_PIXELS / (w > 0 ? w : 1);
    if (rows < 1) rows = 1;
    for (int y = y0; y < y1 && !*positive; y += rows) {
        int h = y + rows > y1 ? y1 - y : rows;
        if (GDALRasterIO(m->band, GF_Read, x0, y, w, h, m->buf, w, h, GDT_Float64, 0, 0) !=
            CE_None) {
            char msg[256];
            return gl_fail(err, GL_ERR_FORMAT, "%s: cannot read the mask: %s", path,
                           gl_gdal_last_error(msg, sizeof msg, "read failed"));
        }
        for (long i = 0; i < (long)w * h; i++) {
            double v = m->buf[i];
            if (v != 0 && !isnan(v) && !(m->has_nodata && v == m->nodata)) {
                *positive = 1;
                break;
            }
        }
    }
    return GL_OK;
}

/* Rounds a coordinate that is an integer up to floating-point noise, so aligned grids stay exact.
 */
static double snap(double v) {
    double r = floor(v + 0.5);
    return fabs(v - r) < 1e-6 ? r : v;
}

/* The tile's rectangle as a window of mask pixels: the mask pixels its area overlaps. */
static int mask_window(const grid *img, const grid *mg, OGRCoordinateTransformationH ct,
                       const gl_tile *t, int win[4]) {
    double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
    for (int k = 0; k < 4; k++) {
        double px = t->x + (k & 1 ? t->w : 0), py = t->y + (k & 2 ? t->h : 0);
        double X = img->gt[0] + px * img->gt[1] + py * img->gt[2];
        double Y = img->gt[3] + px * img->gt[4] + py * img->gt[5];
        if (ct && !OCTTransform(ct, 1, &X, &Y, NULL)) return 0;
        double mx = snap(mg->inv[0] + X * mg->inv[1] + Y * mg->inv[2]);
        double my = snap(mg->inv[3] + X * mg->inv[4] + Y * mg->inv[5]);
        lo[0] = fmin(lo[0], mx), hi[0] = fmax(hi[0], mx);
        lo[1] = fmin(lo[1], my), hi[1] = fmax(hi[1], my);
    }
    win[0] = (int)fmax(0, floor(lo[0])), win[1] = (int)fmax(0, floor(lo[1]));
    win[2] = (int)fmin(mg->width, ceil(hi[0])), win[3] = (int)fmin(mg->height, ceil(hi[1]));
    return win[2] > win[0] && win[3] > win[1];
}

/* ------------------------------------------------------------------ vector footprints */

typedef struct {
    OGRGeometryH geom; /* in the image's map coordinates */
    OGREnvelope env;
} footprint;

typedef struct {
    footprint *f;
    long n, cap;
} footprints;

static void footprints_clear(footprints *fp) {
    for (long i = 0; i < fp->n; i++)
        OGR_G_DestroyGeometry(fp->f[i].geom);
    free(fp->f);
    memset(fp, 0, sizeof *fp);
}

static gl_status footprint_push(footprints *fp, OGRGeometryH g, const char *path, gl_error *err) {
    if (fp->n == fp->cap) {
        long cap = fp->cap ? fp->cap * 2 : 256;
        footprint *grown = cap <= MAX_FEATURES ? realloc(fp->f, (size_t)cap * sizeof *grown) : NULL;
        if (!grown) {
            OGR_G_DestroyGeometry(g);
            return gl_fail(err, GL_ERR_LIMIT, "%s: too many features", path);
        }
        fp->f = grown, fp->cap = cap;
    }
    fp->f[fp->n].geom = g;
    OGR_G_GetEnvelope(g, &fp->f[fp->n].env);
    fp->n++;
    return GL_OK;
}

/* Every feature of every layer, reprojected into the image's CRS when both have one. */
static gl_status load_footprints(GDALDatasetH ds, const char *path, const grid *img, footprints *fp,
                                 gl_error *err) {
    gl_status st = GL_OK;
    for (int l = 0; l < GDALDatasetGetLayerCount(ds) && !st; l++) {
        OGRLayerH layer = GDALDatasetGetLayer(ds, l);
        OGRSpatialReferenceH lsrs = clone_srs(OGR_L_GetSpatialRef(layer));
        OGRCoordinateTransformationH ct = transform_between(lsrs, img->srs);
        if (lsrs && img->srs && !OSRIsSame(lsrs, img->srs) && !ct)
            st = gl_fail(err, GL_ERR_FORMAT, "%s: cannot transform layer %d to the image's CRS",
                         path, l);
        OGR_L_ResetReading(layer);
        OGRFeatureH f;
        while (!st && (f = OGR_L_GetNextFeature(layer))) {
            OGRGeometryH g = OGR_F_GetGeometryRef(f);
            if (g && !OGR_G_IsEmpty(g)) {
                OGRGeometryH c = OGR_G_Clone(g);
                if (ct && OGR_G_Transform(c, ct) != OGRERR_NONE) {
                    OGR_G_DestroyGeometry(c);
                    st = gl_fail(err, GL_ERR_FORMAT, "%s: feature %lld cannot be reprojected", path,
                                 (long long)OGR_F_GetFID(f));
                } else {
                    st = footprint_push(fp, c, path, err);
                }
            }
            OGR_F_Destroy(f);
        }
        if (ct) OCTDestroyCoordinateTransformation(ct);
        if (lsrs) OSRDestroySpatialReference(lsrs);
    }
    return st;
}

static OGRGeometryH tile_polygon(const grid *img, const gl_tile *t) {
    OGRGeometryH ring = OGR_G_CreateGeometry(wkbLinearRing),
                 poly = OGR_G_CreateGeometry(wkbPolygon);
    static const int order[5][2] = {{0, 0}, {1, 0}, {1, 1}, {0, 1}, {0, 0}};
    for (int k = 0; k < 5; k++) {
        double px = t->x + order[k][0] * t->w, py = t->y + order[k][1] * t->h;
        OGR_G_AddPoint_2D(ring, img->gt[0] + px * img->gt[1] + py * img->gt[2],
                          img->gt[3] + px * img->gt[4] + py * img->gt[5]);
    }
    OGR_G_AddGeometryDirectly(poly, ring);
    return poly;
}

/* Positive when a footprint shares area (or, for lines and points, more than a boundary touch)
 * with the tile: touching the tile's edge from outside is not "inside it". */
static int footprints_hit(const footprints *fp, const grid *img, const gl_tile *t) {
    OGRGeometryH tile = tile_polygon(img, t);
    OGREnvelope te;
    OGR_G_GetEnvelope(tile, &te);
    int hit = 0;
    for (long i = 0; i < fp->n && !hit; i++) {
        const OGREnvelope *e = &fp->f[i].env;
        if (e->MinX > te.MaxX || e->MaxX < te.MinX || e->MinY > te.MaxY || e->MaxY < te.MinY)
            continue;
        hit = OGR_G_Intersects(fp->f[i].geom, tile) && !OGR_G_Touches(fp->f[i].geom, tile);
    }
    OGR_G_DestroyGeometry(tile);
    return hit;
}

/* ------------------------------------------------------------------ the run */

typedef struct {
    const char *path;
    int is_raster;
    raster_mask rm;
    GDALDatasetH vds;
} mask_source;

static gl_status open_mask(const char *path, mask_source *m, gl_error *err) {
    memset(m, 0, sizeof *m);
    m->path = path;
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
        return gl_fail(err, GL_ERR_IO, "%s: no such file", path);
    GDALDatasetH ds =
        GDALOpenEx(path, GDAL_OF_RASTER | GDAL_OF_VECTOR | GDAL_OF_READONLY, NULL, NULL, NULL);
    if (!ds) {
        char msg[256];
        return gl_fail(err, GL_ERR_FORMAT, "%s: not a raster mask or vector file: %s", path,
                       gl_gdal_last_error(msg, sizeof msg, "unrecognised format"));
    }
    if (GDALGetRasterCount(ds) > 0) {
        m->is_raster = 1;
        m->rm.ds = ds;
        m->rm.band = GDALGetRasterBand(ds, 1);
        m->rm.nodata = GDALGetRasterNoDataValue(m->rm.band, &m->rm.has_nodata);
        grid_of(ds, &m->rm.g);
        if (!(m->rm.buf = malloc(MASK_CHUNK_PIXELS * sizeof *m->rm.buf)))
            return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
        return GL_OK;
    }
    if (GDALDatasetGetLayerCount(ds) > 0) {
        m->vds = ds;
        return GL_OK;
    }
    GDALClose(ds);
    return gl_fail(err, GL_ERR_FORMAT, "%s: holds neither raster bands nor vector layers", path);
}

static void close_mask(mask_source *m) {
    if (m->rm.ds) GDALClose(m->rm.ds);
    if (m->vds) GDALClose(m->vds);
    grid_clear(&m->rm.g);
    free(m->rm.buf);
}

/* The label CSV's columns: GVL's header, then score and, for georeferenced images, the CRS, the
 * tile's bounds in it and its centre's lon/lat. GVL's `lower` is the top y, `upper` the bottom. */
static const char CSV_HEADER[] = "filename,row,col,left,upper,right,lower,classification_mode,"
                                 "description,classification_tree,classification,score,crs,"
                                 "x_min,y_min,x_max,y_max,lon,lat\n";

static gl_status write_row(FILE *fp, gl_raster *r, const char *image, const gl_tile *t,
                           const char *label, gl_error *err) {
    gl_csv_write_field(fp, gl_path_base_name(image));
    fprintf(fp, ",%d,%d,%d,%d,%d,%d,truth,,", t->row, t->col, t->x, t->y + t->h, t->x + t->w, t->y);
    gl_csv_write_field(fp, label);
    fputc(',', fp);
    gl_csv_write_field(fp, label);
    const gl_raster_info *in = gl_raster_get_info(r);
    if (!in->has_geotransform || !in->has_crs) {
        fputs(",1,,,,,,,\n", fp);
        return GL_OK;
    }
    double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY}, X, Y, lon, lat;
    for (int k = 0; k < 4; k++) {
        gl_raster_pixel_to_crs(in, t->x + (k & 1 ? t->w : 0), t->y + (k & 2 ? t->h : 0), &X, &Y);
        lo[0] = fmin(lo[0], X), hi[0] = fmax(hi[0], X), lo[1] = fmin(lo[1], Y),
        hi[1] = fmax(hi[1], Y);
    }
    gl_raster_pixel_to_crs(in, t->x + t->w / 2.0, t->y + t->h / 2.0, &X, &Y);
    gl_status st = gl_raster_crs_to_lonlat(r, X, Y, &lon, &lat, err);
    if (st) return st;
    fputs(",1,", fp);
    gl_csv_write_field(fp, gl_crs_column(in->crs_label, in->crs_wkt));
    fprintf(fp, ",%.15g,%.15g,%.15g,%.15g,%.15g,%.15g\n", lo[0], lo[1], hi[0], hi[1], lon, lat);
    return GL_OK;
}

/* Labels every tile of one image and writes its rows. */
/* Maps img onto the raster mask: a transform between differing CRSs (*ct, may stay NULL), or,
 * when either lacks georeferencing, the same pixel grid (which needs the same size). */
static gl_status align_raster_mask(const mask_source *m, grid *img, const char *image,
                                   OGRCoordinateTransformationH *ct, gl_error *err) {
    const grid *mg = &m->rm.g;
    if (!img->has_gt || !mg->has_gt) {
        if (img->width != mg->width || img->height != mg->height)
            return gl_fail(err, GL_ERR_SHAPE,
                           "%s: a %dx%d mask without georeferencing cannot cover "
                           "the %dx%d image %s",
                           m->path, mg->width, mg->height, img->width, img->height, image);
        memcpy(img->gt, mg->gt, sizeof img->gt);
        return GL_OK;
    }
    *ct = transform_between(img->srs, mg->srs);
    if (!*ct && img->srs && mg->srs && !OSRIsSame(img->srs, mg->srs))
        return gl_fail(err, GL_ERR_FORMAT, "%s: cannot transform %s's CRS to the mask's", m->path,
                       image);
    return GL_OK;
}

static gl_status truth_image(mask_source *m, const char *image, const gl_truth_params *p,
                             FILE *fp_out, gl_truth_stats *stats, gl_error *err) {
    GDALDatasetH ds = gl_gdal_open(image, err);
    if (!ds) return err->code;
    grid img = {0};
    grid_of(ds, &img);
    GDALClose(ds);
    /* The geo columns come from the raster module, so they read exactly as `label` writes them. */
    gl_raster_params rp = gl_raster_default_params();
    rp.stretch = GL_STRETCH_NONE;
    gl_raster *r = gl_raster_open(image, &rp, err);
    if (!r) {
        grid_clear(&img);
        return err->code;
    }
    int count;
    gl_status st = gl_tiling_count(&p->tiling, img.width, img.height, &count, err);
    if (st) gl_error_prefix(err, "%s: ", image);
    footprints fp = {0};
    OGRCoordinateTransformationH ct = NULL;
    if (!st)
        st = m->is_raster ? align_raster_mask(m, &img, image, &ct, err)
                          : load_footprints(m->vds, m->path, &img, &fp, err);
    for (int i = 0; i < count && !st; i++) {
        gl_tile t;
        gl_tiling_get(&p->tiling, img.width, img.height, i, &t);
        int positive = 0, win[4];
        if (!m->is_raster)
            positive = footprints_hit(&fp, &img, &t);
        else if (mask_window(&img, &m->rm.g, ct, &t, win))
            st = window_positive(&m->rm, m->path, win[0], win[1], win[2], win[3], &positive, err);
        if (!st) st = write_row(fp_out, r, image, &t, positive ? p->positive : p->negative, err);
        stats->tiles++;
        stats->positive += positive;
    }
    if (ct) OCTDestroyCoordinateTransformation(ct);
    footprints_clear(&fp);
    grid_clear(&img);
    gl_raster_free(r);
    return st;
}

gl_status gl_truth_write_csv(const char *mask, const char *const *images, int n_images,
                             const gl_truth_params *p, const char *out_csv, gl_truth_stats *stats,
                             gl_error *err) {
    gl_truth_stats local = {0};
    if (!stats) stats = &local;
    memset(stats, 0, sizeof *stats);
    if (n_images <= 0) return gl_fail(err, GL_ERR_ARG, "truth: no images");
    gl_gdal_init();
    CPLPushErrorHandler(CPLQuietErrorHandler);
    mask_source m;
    gl_status st = open_mask(mask, &m, err);
    gl_atomic_file out = {0};
    if (!st && !(st = gl_atomic_open(&out, out_csv, err))) {
        fputs(CSV_HEADER, out.fp);
        for (int i = 0; i < n_images && !st; i++)
            st = truth_image(&m, images[i], p, out.fp, stats, err);
        if (st)
            gl_atomic_abort(&out);
        else
            st = gl_atomic_commit(&out, err);
    }
    close_mask(&m);
    CPLPopErrorHandler();
    return st;
}
