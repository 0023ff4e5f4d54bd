/* raster.c: GDAL rasters of any size read by windows into 8-bit RGB (band choice, stretch,
 * nodata and alpha), georeferencing (geotransform, CRS label, lon/lat), and the GDAL plumbing. */
#include "geolabel.h"
#include "io/raster_internal.h"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_vsi.h>
#include <gdal.h>
#include <math.h>
#include <ogr_srs_api.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ------------------------------------------------------------------ GDAL plumbing */

/* GDAL's block cache defaults to 5% of RAM (1.2 GB here), and a scene read window by window
 * would fill it: RSS must stay bounded by the window, not the scene. 64 MB holds two rows of
 * 256-pixel blocks of a 20000-pixel-wide 3-band uint16 scene, so overlapping windows still hit
 * the cache. A user's GDAL_CACHEMAX wins. */
#define GL_GDAL_CACHE_BYTES (64LL << 20)

static pthread_once_t gdal_once = PTHREAD_ONCE_INIT;
static void gdal_register(void) {
    GDALAllRegister();
    if (!CPLGetConfigOption("GDAL_CACHEMAX", NULL)) GDALSetCacheMax64(GL_GDAL_CACHE_BYTES);
    /* Opening a remote file lists its folder (a GET of an index page, then a HEAD per possible
     * sidecar) unless told not to: COGs and STAC assets have no sidecars. Only for the network
     * file systems, so local .ovr/.aux.xml files still count; a user's setting wins. */
    if (!CPLGetConfigOption("GDAL_DISABLE_READDIR_ON_OPEN", NULL)) {
        static const char *const remote[] = {"/vsicurl/", "/vsis3/", "/vsigs/", "/vsiaz/"};
        for (size_t i = 0; i < sizeof remote / sizeof remote[0]; i++)
            VSISetPathSpecificOption(remote[i], "GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR");
    }
}
void gl_gdal_init(void) {
    pthread_once(&gdal_once, gdal_register);
}

void CPL_STDCALL gl_gdal_watch_truncation(CPLErr level, CPLErrorNum num, const char *msg) {
    int *truncated = CPLGetErrorHandlerUserData();
    if (truncated && msg && strstr(msg, "Premature end of JPEG")) *truncated = 1;
    (void)level;
    (void)num;
}

const char *gl_gdal_last_error(char *buf, size_t cap, const char *fallback) {
    const char *m = CPLGetLastErrorMsg();
    snprintf(buf, cap, "%s", m && *m ? m : fallback);
    for (char *c = buf; *c; c++)
        if (*c == '\n' || *c == '\r') *c = ' ';
    return buf;
}

/* GDALOpenEx read-only as a raster; a failure names path, what went wrong and GDAL's reason. */
static GDALDatasetH open_raster(const char *path, gl_status code, const char *what,
                                const char *fallback, gl_error *err) {
    CPLErrorReset();
    GDALDatasetH ds = GDALOpenEx(path, GDAL_OF_RASTER | GDAL_OF_READONLY, NULL, NULL, NULL);
    if (!ds) {
        char msg[512];
        gl_fail(err, code, "%s: %s: %s", path, what, gl_gdal_last_error(msg, sizeof msg, fallback));
    }
    return ds;
}

GDALDatasetH gl_gdal_open(const char *path, gl_error *err) {
    struct stat st;
    if (stat(path, &st) != 0) {
        gl_fail(err, GL_ERR_IO, "%s: no such file", path);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        gl_fail(err, GL_ERR_IO, "%s: not a regular file", path);
        return NULL;
    }
    if (st.st_size == 0) {
        gl_fail(err, GL_ERR_FORMAT, "%s: empty file", path);
        return NULL;
    }
    return open_raster(path, GL_ERR_FORMAT, "not a readable image", "format not recognised", err);
}

int gl_path_is_gdal_virtual(const char *path) {
    /* A VRT's XML is a path to GDAL too: STAC band assets stacked into one scene. */
    return !strncmp(path, "/vsi", 4) || strstr(path, "://") != NULL ||
           !strncmp(path, "<VRTDataset", 11);
}

GDALDatasetH gl_gdal_open_scene(const char *path, gl_error *err) {
    if (!gl_path_is_gdal_virtual(path)) return gl_gdal_open(path, err);
    /* https:// and s3:// go through /vsicurl/ and /vsis3/ (range reads), never GDAL's HTTP
     * driver, which would download the whole file first. */
    char *gdal_path = gl_gdal_path_of(path);
    if (!gdal_path) {
        gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    GDALDatasetH ds =
        open_raster(gdal_path, GL_ERR_IO, "GDAL cannot open it", "not found or not a raster", err);
    free(gdal_path);
    return ds;
}

/* ------------------------------------------------------------------ rasters
 *
 * Stretches (how sample values become bytes):
 *  - MINMAX is GeoVision Labeler's normalisation (src/main.py split_image): one global min and
 *    max over the three selected bands, every pixel included (GVL reads with rasterio without
 *    masking, so nodata and transparent pixels count), then trunc((v - min) / (max - min) * 255)
 *    in float64 (float32 for Float32 bands, as numpy computes it), for 8-bit data too. A constant
 * image (max == min) gives 0, as numpy's NaN -> uint8 cast does on x86. The min/max pass streams
 * the file block by block on first read.
 *  - PERCENTILE: per band, over the pixels that hold data (nodata, NaN and masked pixels are
 *    left out), as numpy's inverted-CDF percentile: exact for integer data (one histogram bucket
 *    per value; one pass for 8- and 16-bit data, a min/max pass first for wider types), 4096
 *    buckets between the band's min and max for floats. Streaming passes of our own: GDAL's
 *    histogram API would write .aux.xml files beside the user's data. Then
 *    the same truncating formula, clamped to 0..255.
 *  - NONE: values clamped to 0..255 and rounded to nearest, GDAL's own conversion to Byte.
 * A single palette band is expanded through its colour table; the stretch does not apply. */

#define RASTER_CHUNK_PIXELS (1 << 20)

struct gl_raster {
    char *path;
    GDALDatasetH ds;
    gl_raster_info info;
    gl_raster_params params;
    int bands[3];            /* 1-based */
    int is_byte;             /* every selected band is GDT_Byte */
    GDALColorTableH palette; /* single palette band: expand through it */
    int has_nodata[3];
    double nodata[3];
    int use_mask; /* read GDAL's mask band (alpha or explicit mask) */
    int have_range;
    double lo[3], hi[3]; /* stretch input range per channel */
    double *scratch;     /* window buffer, grown on demand */
    size_t scratch_cap;
    OGRCoordinateTransformationH to_lonlat;
    double lat_limit; /* a geographic CRS's pole in its own unit (90 for degrees); 0: projected */
    char *crs_wkt;    /* info.crs_wkt; CPLFree */
};

gl_raster_params gl_raster_default_params(void) {
    gl_raster_params p;
    memset(&p, 0, sizeof p);
    p.stretch = GL_STRETCH_MINMAX;
    p.percentile_low = 2;
    p.percentile_high = 98;
    return p;
}

const gl_raster_info *gl_raster_get_info(const gl_raster *r) {
    return &r->info;
}
const char *gl_raster_path(const gl_raster *r) {
    return r->path;
}

void gl_raster_pixel_to_crs(const gl_raster_info *info, double col, double row, double *x,
                            double *y) {
    const double *gt = info->geotransform;
    *x = gt[0] + col * gt[1] + row * gt[2];
    *y = gt[3] + col * gt[4] + row * gt[5];
}

void gl_raster_free(gl_raster *r) {
    if (!r) return;
    CPLPushErrorHandler(CPLQuietErrorHandler);
    if (r->to_lonlat) OCTDestroyCoordinateTransformation(r->to_lonlat);
    if (r->ds) GDALClose(r->ds);
    CPLPopErrorHandler();
    free(r->scratch);
    free(r->path);
    CPLFree(r->crs_wkt);
    free(r);
}

/* A nodata value a band of this type can actually hold (a Byte band may declare -10000). */
static int nodata_representable(GDALDataType t, double v) {
    if (isnan(v)) return !GDALDataTypeIsInteger(t);
    if (!GDALDataTypeIsInteger(t)) return 1;
    if (v != floor(v)) return 0;
    int bits = GDALGetDataTypeSizeBits(t);
    double lo = GDALDataTypeIsSigned(t) ? -ldexp(1, bits - 1) : 0;
    double hi = GDALDataTypeIsSigned(t) ? ldexp(1, bits - 1) - 1 : ldexp(1, bits) - 1;
    return v >= lo && v <= hi;
}

static gl_status choose_bands(gl_raster *r, gl_error *err) {
    int n = GDALGetRasterCount(r->ds);
    const int *want = r->params.bands;
    if (want[0] || want[1] || want[2]) {
        int single = want[0] && !want[1] && !want[2];
        for (int c = 0; c < 3; c++) {
            int b = single ? want[0] : want[c];
            if (b < 1 || b > n)
                return gl_fail(err, GL_ERR_ARG, "%s: band %d requested but the file has %d band%s",
                               r->path, b, n, n == 1 ? "" : "s");
            r->bands[c] = b;
        }
        return GL_OK;
    }
    int found[3] = {0, 0, 0};
    for (int b = n; b >= 1; b--) {
        GDALColorInterp ci = GDALGetRasterColorInterpretation(GDALGetRasterBand(r->ds, b));
        if (ci == GCI_RedBand) found[0] = b;
        if (ci == GCI_GreenBand) found[1] = b;
        if (ci == GCI_BlueBand) found[2] = b;
    }
    for (int c = 0; c < 3; c++)
        r->bands[c] = found[0] && found[1] && found[2] ? found[c] : (n >= 3 ? c + 1 : 1);
    return GL_OK;
}

static void describe_bands(gl_raster *r) {
    r->is_byte = 1;
    for (int c = 0; c < 3; c++) {
        GDALRasterBandH b = GDALGetRasterBand(r->ds, r->bands[c]);
        GDALDataType t = GDALGetRasterDataType(b);
        if (t != GDT_Byte) r->is_byte = 0;
        int has = 0;
        double v = GDALGetRasterNoDataValue(b, &has);
        r->has_nodata[c] = has && nodata_representable(t, v);
        r->nodata[c] = v;
    }
    GDALRasterBandH b0 = GDALGetRasterBand(r->ds, r->bands[0]);
    if (r->bands[0] == r->bands[1] && r->bands[1] == r->bands[2] && r->is_byte &&
        GDALGetRasterColorInterpretation(b0) == GCI_PaletteIndex)
        r->palette = GDALGetRasterColorTable(b0);
    int flags = GDALGetMaskFlags(b0);
    r->use_mask = !(flags & GMF_ALL_VALID) && !(flags & GMF_NODATA);
    r->info.has_nodata = r->has_nodata[0];
    r->info.nodata = r->nodata[0];
    r->info.has_alpha = r->use_mask;
}

/* The CRS as WKT2 (every CRS has one, with or without a code), and "EPSG:32618" when it carries
 * or can be matched to an authority code. */
static void describe_crs(gl_raster *r) {
    OGRSpatialReferenceH srs = GDALGetSpatialRef(r->ds);
    if (!srs) return;
    const char *const wkt2[] = {"FORMAT=WKT2_2019", "MULTILINE=NO", NULL};
    char *wkt = NULL;
    if (OSRExportToWktEx(srs, &wkt, wkt2) != OGRERR_NONE || !wkt || !*wkt) {
        CPLFree(wkt);
        wkt = NULL;
        if (OSRExportToWkt(srs, &wkt) != OGRERR_NONE || !wkt || !*wkt) {
            CPLFree(wkt);
            return; /* a CRS GDAL cannot even write out is no CRS to place tiles by */
        }
    }
    r->crs_wkt = wkt;
    r->info.crs_wkt = wkt;
    r->info.has_crs = 1;
    OGRSpatialReferenceH s = OSRClone(srs);
    const char *name = OSRGetAuthorityName(s, NULL), *code = OSRGetAuthorityCode(s, NULL);
    if ((!name || !code) && OSRAutoIdentifyEPSG(s) == OGRERR_NONE) {
        name = OSRGetAuthorityName(s, NULL);
        code = OSRGetAuthorityCode(s, NULL);
    }
    if (name && code) snprintf(r->info.crs_label, sizeof r->info.crs_label, "%s:%s", name, code);
    OSRDestroySpatialReference(s);
}

static gl_status open_dataset(gl_raster *r, gl_error *err) {
    r->ds = gl_gdal_open_scene(r->path, err);
    if (!r->ds) return err && err->code ? err->code : GL_ERR_FORMAT;
    gl_raster_info *in = &r->info;
    in->width = GDALGetRasterXSize(r->ds);
    in->height = GDALGetRasterYSize(r->ds);
    in->band_count = GDALGetRasterCount(r->ds);
    if (in->band_count < 1 || in->width < 1 || in->height < 1)
        return gl_fail(err, GL_ERR_FORMAT, "%s: no raster bands", r->path);
    in->has_geotransform = GDALGetGeoTransform(r->ds, in->geotransform) == CE_None;
    gl_status s = choose_bands(r, err);
    if (s) return s;
    describe_bands(r);
    describe_crs(r);
    return GL_OK;
}

gl_raster *gl_raster_open(const char *path, const gl_raster_params *params, gl_error *err) {
    gl_raster *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    r->params = params ? *params : gl_raster_default_params();
    if (r->params.stretch == GL_STRETCH_PERCENTILE &&
        !(r->params.percentile_low >= 0 && r->params.percentile_low < r->params.percentile_high &&
          r->params.percentile_high <= 100)) {
        gl_fail(err, GL_ERR_ARG, "%s: percentiles %g,%g must satisfy 0 <= low < high <= 100", path,
                r->params.percentile_low, r->params.percentile_high);
        gl_raster_free(r);
        return NULL;
    }
    gl_gdal_init();
    CPLPushErrorHandler(CPLQuietErrorHandler);
    gl_status s = open_dataset(r, err);
    CPLPopErrorHandler();
    if (s) {
        gl_raster_free(r);
        return NULL;
    }
    return r;
}

/* ------------------------------------------------------------------ statistics */

static double *scratch(gl_raster *r, size_t n) {
    if (n > r->scratch_cap) {
        double *p = realloc(r->scratch, n * sizeof *p);
        if (!p) return NULL;
        r->scratch = p;
        r->scratch_cap = n;
    }
    return r->scratch;
}

/* Reads band's window (x,y,w,h) into a bw x bh buffer. A smaller buffer is GDAL's resampled
 * read: from the overview GDAL finds nearest the buffer's size when the file has overviews, else
 * from full resolution, averaging (nearest for palette indices, which cannot be averaged); GDAL
 * leaves nodata and masked pixels out of an average. Same-size reads are plain copies. */
static gl_status read_band_as(gl_raster *r, GDALRasterBandH b, const char *what, int x, int y,
                              int w, int h, int bw, int bh, void *buf, GDALDataType type,
                              int pixel_space, gl_error *err) {
    GDALRasterIOExtraArg extra;
    INIT_RASTERIO_EXTRA_ARG(extra);
    if (bw != w || bh != h) {
        extra.eResampleAlg = r->palette ? GRIORA_NearestNeighbour : GRIORA_Average;
        /* The window as exact coordinates: GDAL then maps it onto an overview without rounding
         * it to whole overview pixels (which shifts the picture by up to half a pixel), as its
         * VRT sources (gdal_translate -outsize) do. */
        extra.bFloatingPointWindowValidity = TRUE;
        extra.dfXOff = x, extra.dfYOff = y, extra.dfXSize = w, extra.dfYSize = h;
    }
    CPLErrorReset();
    CPLErr e = GDALRasterIOEx(b, GF_Read, x, y, w, h, buf, bw, bh, type, pixel_space,
                              (GSpacing)pixel_space * bw, &extra);
    if (e == CE_None) return GL_OK;
    char msg[512], as[64] = "";
    if (bw != w || bh != h) snprintf(as, sizeof as, " as %dx%d", bw, bh);
    return gl_fail(err, GL_ERR_FORMAT, "%s: cannot read %s at %d,%d size %dx%d%s: %s", r->path,
                   what, x, y, w, h, as, gl_gdal_last_error(msg, sizeof msg, "read failed"));
}

static gl_status read_band(gl_raster *r, int band, int x, int y, int w, int h, int bw, int bh,
                           void *buf, GDALDataType type, int pixel_space, gl_error *err) {
    char what[32];
    snprintf(what, sizeof what, "band %d", band);
    return read_band_as(r, GDALGetRasterBand(r->ds, band), what, x, y, w, h, bw, bh, buf, type,
                        pixel_space, err);
}

/* Windows aligned on the band's blocks, about RASTER_CHUNK_PIXELS each, for streaming passes. */
static void chunk_size(gl_raster *r, int band, int *cw, int *ch) {
    int W = r->info.width, H = r->info.height, bx, by;
    GDALGetBlockSize(GDALGetRasterBand(r->ds, band), &bx, &by);
    bx = bx < 1 || bx > W ? W : bx;
    by = by < 1 || by > H ? H : by;
    long long per = RASTER_CHUNK_PIXELS / ((long long)bx * by);
    *cw = bx == W ? W : (int)(bx * (per > 1 ? (per < W / bx ? per : W / bx) : 1));
    per = RASTER_CHUNK_PIXELS / ((long long)*cw * by);
    *ch = by * (int)(per > 1 ? per : 1);
    if (*ch > H) *ch = H;
    if ((long long)*cw * *ch > 4LL * RASTER_CHUNK_PIXELS) *ch = RASTER_CHUNK_PIXELS / *cw + 1;
}

/* The mask (0 = no data) of band's window at bw x bh: averaged when smaller, so a pixel counts
 * as data when any pixel under it does. */
static gl_status read_mask(gl_raster *r, int band, int x, int y, int w, int h, int bw, int bh,
                           unsigned char *m, gl_error *err) {
    GDALRasterBandH mb = GDALGetMaskBand(GDALGetRasterBand(r->ds, band));
    return read_band_as(r, mb, "the mask", x, y, w, h, bw, bh, m, GDT_Byte, 1, err);
}

/* A streaming pass over one band: the visitor sees each chunk's values (and, when asked, the
 * mask, 0 = no data) and returns 1 to stop early. Memory stays at one chunk. */
typedef int (*chunk_visitor)(void *ctx, const double *v, const unsigned char *mask, size_t n);

static gl_status stream_band(gl_raster *r, int band, int with_mask, chunk_visitor visit, void *ctx,
                             gl_error *err) {
    int cw, ch;
    chunk_size(r, band, &cw, &ch);
    size_t cap = (size_t)cw * ch;
    double *buf = scratch(r, cap + (with_mask ? cap / sizeof(double) + 1 : 0));
    if (!buf) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", r->path);
    unsigned char *m = with_mask ? (unsigned char *)(buf + cap) : NULL;
    for (int y = 0; y < r->info.height; y += ch)
        for (int x = 0; x < r->info.width; x += cw) {
            int w = r->info.width - x < cw ? r->info.width - x : cw;
            int h = r->info.height - y < ch ? r->info.height - y : ch;
            gl_status s = read_band(r, band, x, y, w, h, w, h, buf, GDT_Float64, 8, err);
            if (!s && m) s = read_mask(r, band, x, y, w, h, w, h, m, err);
            if (s) return s;
            if (visit(ctx, buf, m, (size_t)w * h)) return GL_OK;
        }
    return GL_OK;
}

typedef struct {
    double mn, mx;
    int stop_at_byte_range;      /* 0 and 255 seen: a Byte band cannot widen further */
    int skip_nodata, nan_nodata; /* percentiles ignore nodata, NaN and masked pixels */
    double nodata;
    uint64_t *counts; /* histogram pass: n buckets from dmin, width 1/scale */
    int n;
    double dmin, scale;
    uint64_t total;
} band_stats;

static inline int skipped(const band_stats *b, double v, const unsigned char *mask, size_t i) {
    return isnan(v) || (mask && !mask[i]) || (b->skip_nodata && v == b->nodata);
}

static int visit_minmax(void *ctx, const double *v, const unsigned char *mask, size_t n) {
    band_stats *b = ctx;
    double mn = b->mn, mx = b->mx;
    if (!mask && !b->skip_nodata) {
        for (size_t i = 0; i < n; i++) { /* comparisons with NaN are false: NaN is ignored */
            mn = v[i] < mn ? v[i] : mn;
            mx = v[i] > mx ? v[i] : mx;
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            if (skipped(b, v[i], mask, i)) continue;
            mn = v[i] < mn ? v[i] : mn;
            mx = v[i] > mx ? v[i] : mx;
        }
    }
    b->mn = mn;
    b->mx = mx;
    return b->stop_at_byte_range && mn <= 0 && mx >= 255;
}

static int visit_histogram(void *ctx, const double *v, const unsigned char *mask, size_t n) {
    band_stats *b = ctx;
    for (size_t i = 0; i < n; i++) {
        if (skipped(b, v[i], mask, i)) continue;
        int k = (int)((v[i] - b->dmin) * b->scale);
        b->counts[k < 0 ? 0 : k >= b->n ? b->n - 1 : k]++;
        b->total++;
    }
    return 0;
}

/* GVL's global min and max over every pixel of the selected bands (nodata included). */
static gl_status global_minmax(gl_raster *r, double *lo, double *hi, gl_error *err) {
    band_stats b = {.mn = INFINITY, .mx = -INFINITY};
    gl_status s = GL_OK;
    for (int c = 0; c < 3 && !s; c++) {
        if (c > 0 && (r->bands[c] == r->bands[0] || r->bands[c] == r->bands[c - 1])) continue;
        GDALDataType t = GDALGetRasterDataType(GDALGetRasterBand(r->ds, r->bands[c]));
        b.stop_at_byte_range = t == GDT_Byte;
        s = stream_band(r, r->bands[c], 0, visit_minmax, &b, err);
    }
    *lo = b.mn;
    *hi = b.mx;
    return s;
}

/* The value below which p percent of the counted pixels lie (numpy's inverted CDF). */
static double histogram_percentile(const band_stats *b, double p) {
    double target = p / 100.0 * (double)b->total;
    uint64_t cum = 0;
    int i = 0;
    for (; i < b->n - 1; i++) {
        cum += b->counts[i];
        if (cum > 0 && (double)cum >= target) break;
    }
    return b->dmin + (i + 0.5) / b->scale;
}

/* Percentiles of channel c's band over its valid pixels: a min/max pass, then a histogram
 * pass with one bucket per value for integer data, 4096 buckets otherwise. Our own passes
 * rather than GDAL's histogram, which would leave .aux.xml files beside the user's data. */
static gl_status band_percentiles(gl_raster *r, int c, double *lo, double *hi, gl_error *err) {
    int band = r->bands[c];
    band_stats b = {
        .mn = INFINITY, .mx = -INFINITY, .skip_nodata = r->has_nodata[c], .nodata = r->nodata[c]};
    GDALDataType t = GDALGetRasterDataType(GDALGetRasterBand(r->ds, band));
    gl_status s = GL_OK;
    if (t == GDT_Byte || t == GDT_UInt16 || t == GDT_Int16) {
        /* every possible value gets its bucket: one pass, no min/max pass needed */
        b.mn = t == GDT_Int16 ? -32768 : 0;
        b.mx = t == GDT_Byte ? 255 : t == GDT_UInt16 ? 65535 : 32767;
    } else {
        s = stream_band(r, band, r->use_mask, visit_minmax, &b, err);
        if (s) return s;
        if (!(b.mx >= b.mn))
            return gl_fail(err, GL_ERR_FORMAT, "%s: band %d holds no valid pixel", r->path, band);
    }
    int integer = GDALDataTypeIsInteger(t);
    b.n = integer && b.mx - b.mn < (1 << 20) ? (int)(b.mx - b.mn) + 1 : 4096;
    b.dmin = integer ? b.mn - 0.5 : b.mn;
    b.scale = integer ? 1.0 : (b.mx > b.mn ? b.n / (b.mx - b.mn) : 1.0);
    b.counts = calloc((size_t)b.n, sizeof *b.counts);
    if (!b.counts) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", r->path);
    s = stream_band(r, band, r->use_mask, visit_histogram, &b, err);
    if (!s && !b.total)
        s = gl_fail(err, GL_ERR_FORMAT, "%s: band %d holds no valid pixel", r->path, band);
    if (!s) {
        *lo = histogram_percentile(&b, r->params.percentile_low);
        *hi = histogram_percentile(&b, r->params.percentile_high);
    }
    free(b.counts);
    return s;
}

static gl_status compute_range(gl_raster *r, gl_error *err) {
    gl_status s = GL_OK;
    if (r->params.stretch == GL_STRETCH_MINMAX) {
        s = global_minmax(r, &r->lo[0], &r->hi[0], err);
        for (int c = 1; c < 3; c++) {
            r->lo[c] = r->lo[0];
            r->hi[c] = r->hi[0];
        }
    } else if (r->params.stretch == GL_STRETCH_PERCENTILE) {
        for (int c = 0; c < 3 && !s; c++)
            if (c > 0 && r->bands[c] == r->bands[c - 1]) {
                r->lo[c] = r->lo[c - 1];
                r->hi[c] = r->hi[c - 1];
            } else {
                s = band_percentiles(r, c, &r->lo[c], &r->hi[c], err);
            }
    } else {
        for (int c = 0; c < 3; c++) {
            r->lo[c] = 0;
            r->hi[c] = 255;
        }
    }
    r->have_range = !s;
    return s;
}

gl_status gl_raster_stretch_range(gl_raster *r, double lo[3], double hi[3], gl_error *err) {
    gl_status s = GL_OK;
    if (!r->have_range) {
        CPLPushErrorHandler(CPLQuietErrorHandler);
        s = compute_range(r, err);
        CPLPopErrorHandler();
    }
    for (int c = 0; c < 3 && !s; c++) {
        lo[c] = r->lo[c];
        hi[c] = r->hi[c];
    }
    return s;
}

/* ------------------------------------------------------------------ windows */

void gl_gdal_palette_lut(GDALColorTableH ct, unsigned char lut[256][3]) {
    int entries = ct ? GDALGetColorEntryCount(ct) : 0;
    for (int i = 0; i < 256; i++) {
        const GDALColorEntry *e = i < entries ? GDALGetColorEntry(ct, i) : NULL;
        lut[i][0] = (unsigned char)(e ? e->c1 : i);
        lut[i][1] = (unsigned char)(e ? e->c2 : i);
        lut[i][2] = (unsigned char)(e ? e->c3 : i);
    }
}

static inline unsigned char stretch_value(double v, double lo, double hi, int single) {
    double t;
    if (!(hi > lo)) return 0;
    if (single) /* numpy keeps float32 data in float32 */
        t = ((float)v - (float)lo) / ((float)hi - (float)lo) * 255.0f;
    else
        t = (v - lo) / (hi - lo) * 255.0;
    if (!(t > 0)) return 0;
    return t >= 255 ? 255 : (unsigned char)t;
}

static inline unsigned char clamp_round(double v) {
    if (!(v > 0)) return 0;
    return v >= 255 ? 255 : (unsigned char)(v + 0.5);
}

/* Bytes read as they are: no stretch, or a min/max stretch that is the identity. */
static int byte_passthrough(const gl_raster *r) {
    if (!r->is_byte) return 0;
    if (r->palette || r->params.stretch == GL_STRETCH_NONE) return 1;
    return r->params.stretch == GL_STRETCH_MINMAX && r->lo[0] == 0 && r->hi[0] == 255;
}

/* A window (x,y,w,h) of the raster read into a bw x bh buffer (bw = w, bh = h: full resolution). */
typedef struct {
    int x, y, w, h, bw, bh;
} window;

/* One channel of the window into rgb[c::3]; counts nodata hits per pixel into hits. */
static gl_status read_channel(gl_raster *r, int c, const window *v, unsigned char *rgb,
                              unsigned char *hits, gl_error *err) {
    size_t n = (size_t)v->bw * v->bh;
    int band = r->bands[c];
    if (byte_passthrough(r)) {
        gl_status s =
            read_band(r, band, v->x, v->y, v->w, v->h, v->bw, v->bh, rgb + c, GDT_Byte, 3, err);
        for (size_t i = 0; !s && hits && r->has_nodata[c] && i < n; i++)
            hits[i] += rgb[3 * i + c] == r->nodata[c];
        return s;
    }
    double *buf = scratch(r, n);
    if (!buf) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", r->path);
    gl_status s =
        read_band(r, band, v->x, v->y, v->w, v->h, v->bw, v->bh, buf, GDT_Float64, 8, err);
    if (s) return s;
    int single = GDALGetRasterDataType(GDALGetRasterBand(r->ds, band)) == GDT_Float32;
    double lo = r->lo[c], hi = r->hi[c], nd = r->nodata[c];
    for (size_t i = 0; i < n; i++)
        rgb[3 * i + c] = r->params.stretch == GL_STRETCH_NONE
                             ? clamp_round(buf[i])
                             : stretch_value(buf[i], lo, hi, single);
    for (size_t i = 0; hits && r->has_nodata[c] && i < n; i++)
        hits[i] += buf[i] == nd || (isnan(nd) && isnan(buf[i]));
    return GL_OK;
}

/* valid holds per-pixel nodata hits on entry; on exit 1 where the pixel holds data. */
static gl_status finish_valid(gl_raster *r, const window *v, unsigned char *valid, gl_error *err) {
    size_t n = (size_t)v->bw * v->bh;
    /* A pixel is nodata when every selected band that declares nodata holds it. */
    unsigned char all_hit = 0;
    for (int c = 0; c < 3; c++)
        all_hit += r->has_nodata[c];
    for (size_t i = 0; i < n; i++)
        valid[i] = !(all_hit > 0 && valid[i] >= all_hit);
    if (!r->use_mask) return GL_OK;
    unsigned char *m = (unsigned char *)scratch(r, n / sizeof(double) + 1);
    if (!m) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", r->path);
    gl_status s = read_mask(r, r->bands[0], v->x, v->y, v->w, v->h, v->bw, v->bh, m, err);
    if (s) return s;
    for (size_t i = 0; i < n; i++)
        valid[i] &= m[i] != 0;
    return GL_OK;
}

static gl_status read_window(gl_raster *r, const window *v, unsigned char *rgb,
                             unsigned char *valid, gl_error *err) {
    gl_status s = r->have_range ? GL_OK : compute_range(r, err);
    size_t n = (size_t)v->bw * v->bh;
    if (valid) memset(valid, 0, n);
    int single = r->bands[0] == r->bands[1] && r->bands[1] == r->bands[2];
    for (int c = 0; c < (single ? 1 : 3) && !s; c++)
        s = read_channel(r, c, v, rgb, valid, err);
    if (s) return s;
    if (r->palette) {
        unsigned char lut[256][3];
        gl_gdal_palette_lut(r->palette, lut);
        for (size_t i = 0; i < n; i++)
            memcpy(rgb + 3 * i, lut[rgb[3 * i]], 3);
    } else if (single) {
        for (size_t i = 0; i < n; i++)
            rgb[3 * i + 1] = rgb[3 * i + 2] = rgb[3 * i];
        for (size_t i = 0; valid && r->has_nodata[0] && i < n; i++)
            valid[i] *= 3;
    }
    return valid ? finish_valid(r, v, valid, err) : GL_OK;
}

gl_status gl_raster_read_rgb_scaled(gl_raster *r, int x, int y, int w, int h, int out_w, int out_h,
                                    unsigned char *rgb, unsigned char *valid, gl_error *err) {
    if (w < 1 || h < 1 || x < 0 || y < 0 || x > r->info.width - w || y > r->info.height - h)
        return gl_fail(err, GL_ERR_ARG, "%s: window %d,%d size %dx%d lies outside the %dx%d raster",
                       r->path, x, y, w, h, r->info.width, r->info.height);
    if (out_w < 1 || out_h < 1 || out_w > w || out_h > h)
        return gl_fail(err, GL_ERR_ARG, "%s: window %d,%d size %dx%d cannot be read as %dx%d",
                       r->path, x, y, w, h, out_w, out_h);
    window v = {x, y, w, h, out_w, out_h};
    int truncated = 0;
    CPLPushErrorHandlerEx(gl_gdal_watch_truncation, &truncated);
    gl_status s = read_window(r, &v, rgb, valid, err);
    CPLPopErrorHandler();
    if (!s && truncated)
        s = gl_fail(err, GL_ERR_FORMAT, "%s: the JPEG data ends before window %d,%d size %dx%d",
                    r->path, x, y, w, h);
    return s;
}

gl_status gl_raster_read_rgb(gl_raster *r, int x, int y, int w, int h, unsigned char *rgb,
                             unsigned char *valid, gl_error *err) {
    return gl_raster_read_rgb_scaled(r, x, y, w, h, w, h, rgb, valid, err);
}

/* ------------------------------------------------------------------ coordinates */

static gl_status make_transform(gl_raster *r, gl_error *err) {
    OGRSpatialReferenceH src = GDALGetSpatialRef(r->ds);
    if (!src) return gl_fail(err, GL_ERR_UNSUPPORTED, "%s: the raster has no CRS", r->path);
    OGRSpatialReferenceH s = OSRClone(src), wgs84 = OSRNewSpatialReference(NULL);
    OSRSetAxisMappingStrategy(s, OAMS_TRADITIONAL_GIS_ORDER);
    OSRImportFromEPSG(wgs84, 4326);
    OSRSetAxisMappingStrategy(wgs84, OAMS_TRADITIONAL_GIS_ORDER);
    CPLErrorReset();
    r->to_lonlat = OCTNewCoordinateTransformation(s, wgs84);
    if (OSRIsGeographic(s)) r->lat_limit = (M_PI / 2) / OSRGetAngularUnits(s, NULL);
    OSRDestroySpatialReference(s);
    OSRDestroySpatialReference(wgs84);
    if (r->to_lonlat) return GL_OK;
    char msg[512];
    return gl_fail(err, GL_ERR_UNSUPPORTED, "%s: no transformation from %s to WGS 84: %s", r->path,
                   r->info.crs_label[0] ? r->info.crs_label : "its CRS",
                   gl_gdal_last_error(msg, sizeof msg, "PROJ found none"));
}

gl_status gl_raster_crs_to_lonlat(gl_raster *r, double x, double y, double *lon, double *lat,
                                  gl_error *err) {
    CPLPushErrorHandler(CPLQuietErrorHandler);
    gl_status s = r->to_lonlat ? GL_OK : make_transform(r, err);
    /* A global grid's pixel-is-area edges can overhang a pole by half a pixel (a grid registered
     * at pixel centres, -180.25..180.25 x -90.25..90.25): PROJ refuses such latitudes ("Invalid
     * latitude") and RFC 7946 writers such polygons, while the pixel's real extent stops at the
     * pole. Longitudes past 180 are left to wrap. */
    if (r->lat_limit > 0) y = fmax(-r->lat_limit, fmin(r->lat_limit, y));
    if (!s && !OCTTransform(r->to_lonlat, 1, &x, &y, NULL))
        s = gl_fail(err, GL_ERR_ARG, "%s: cannot transform (%.10g, %.10g) to longitude/latitude",
                    r->path, x, y);
    CPLPopErrorHandler();
    if (!s) {
        *lon = x;
        *lat = y;
    }
    return s;
}
