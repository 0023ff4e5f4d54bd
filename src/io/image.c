/* image.c: decoding pictures (JPEG, PNG, TIFF, WebP, ...) through GDAL into 8-bit RGB, converted
 * as Pillow 9.4's Image.open(...).convert('RGB') does, the reference's first preprocessing step.
 *
 * Conversion rules, from Pillow's PngImagePlugin/TiffImagePlugin modes and Convert.c:
 *  - RGBA, LA: alpha is dropped (not composited); gray (L) is replicated into R, G and B. The
 *    alpha is kept beside the RGB (gl_image.alpha) for open_clip's transform.
 *  - P (palette): each index goes through the colour table; an index past the table's end gets
 *    (i, i, i), the gray ramp Pillow's palettes start from.
 *  - 1/2/4-bit gray: scaled to 0..255 (v * 255 / (2^bits - 1)), as Pillow's "1", "L;2", "L;4"
 *    unpackers do; GDAL reports the raw values with an NBITS hint.
 *  - 16-bit with several bands (RGB;16B, RGBA;16B, LA;16B): the high byte, v >> 8.
 *  - 16-bit single band: Pillow 9.4 opens it as mode "I" and I->RGB CLIPS to 0..255 (values
 *    >= 255 become 255); we do the same, surprising as it is. Other single-band types (int32,
 *    float) are clipped and truncated the same way.
 *  - CMYK: GDAL is asked for the raw inks (GDAL_JPEG_TO_RGB=NO, GTIFF_RAW:) and Pillow's
 *    cmyk2rgb applied:
 *    nk = 255 - k, channel = nk - c * nk / 255 with its rounding; JPEG inks are inverted first,
 *    as Pillow always reads CMYK JPEGs with Adobe's inverted convention ("CMYK;I"), TIFF inks
 *    are taken as stored.
 * EXIF orientation and ICC profiles are ignored, as the reference ignores them. test_preproc
 * checks every rule byte for byte against Pillow 9.4 itself. */
#include "geolabel.h"
#include "io/raster_internal.h"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <gdal.h>
#include <stdlib.h>
#include <string.h>

typedef enum { CONV_DIRECT, CONV_PALETTE, CONV_HIGH_BYTE, CONV_CLIP, CONV_CMYK } conversion;

/* How the dataset holds CMYK inks, when it does (see open_inks). */
typedef enum { INKS_NONE = 0, INKS_RAW, INKS_INVERTED } ink_storage;

typedef struct {
    int bands[3]; /* 1-based GDAL bands for R, G, B */
    conversion conv;
    ink_storage inks;
    int gray_bits; /* 1, 2 or 4: low-bit gray to scale up; 0 otherwise */
    GDALColorTableH palette;
} decode_plan;

/* Releases the pixels of an image held by value (decode's partial output). */
static void image_clear(gl_image *img) {
    free(img->rgb);
    free(img->alpha);
    img->rgb = img->alpha = NULL;
    img->width = img->height = 0;
}

void gl_image_free(gl_image *img) {
    if (!img) return;
    free(img->rgb);
    free(img->alpha);
    free(img);
}

static int band_nbits(GDALRasterBandH b) {
    const char *s = GDALGetMetadataItem(b, "NBITS", "IMAGE_STRUCTURE");
    return s ? atoi(s) : 0;
}

static decode_plan plan_decode(GDALDatasetH ds, ink_storage inks) {
    decode_plan p = {{1, 1, 1}, CONV_DIRECT, inks, 0, NULL};
    int nb = GDALGetRasterCount(ds);
    GDALRasterBandH b1 = GDALGetRasterBand(ds, 1);
    GDALDataType type = GDALGetRasterDataType(b1);
    if (nb >= 3) {
        p.bands[1] = 2;
        p.bands[2] = 3;
    }
    if (type == GDT_Byte && inks && nb == 4) {
        p.conv = CONV_CMYK;
    } else if (type == GDT_Byte) {
        if (nb < 3 && GDALGetRasterColorInterpretation(b1) == GCI_PaletteIndex &&
            GDALGetRasterColorTable(b1)) {
            p.conv = CONV_PALETTE;
            p.palette = GDALGetRasterColorTable(b1);
        } else if (nb < 3) {
            int bits = band_nbits(b1);
            if (bits == 1 || bits == 2 || bits == 4) p.gray_bits = bits;
        }
    } else if (type == GDT_UInt16 && nb >= 2) {
        p.conv = CONV_HIGH_BYTE;
    } else {
        p.conv = CONV_CLIP;
    }
    return p;
}

/* Reads the three planned bands as bytes straight into the interleaved output. */
static CPLErr read_direct(GDALDatasetH ds, const decode_plan *p, gl_image *img) {
    int w = img->width, h = img->height;
    if (p->bands[0] != p->bands[1]) {
        int map[3] = {p->bands[0], p->bands[1], p->bands[2]};
        return GDALDatasetRasterIO(ds, GF_Read, 0, 0, w, h, img->rgb, w, h, GDT_Byte, 3, map, 3,
                                   (GSpacing)3 * w, 1);
    }
    return GDALRasterIO(GDALGetRasterBand(ds, p->bands[0]), GF_Read, 0, 0, w, h, img->rgb, w, h,
                        GDT_Byte, 3, 3 * w);
}

/* Channel 0 holds gray or palette indices after read_direct on a single band; expand in place. */
static void expand_single_band(const decode_plan *p, gl_image *img) {
    unsigned char lut[256][3];
    gl_gdal_palette_lut(p->palette, lut);
    for (int i = 0; p->gray_bits && i < 256; i++) {
        int v = i >= (1 << p->gray_bits) ? 255 : i * 255 / ((1 << p->gray_bits) - 1);
        lut[i][0] = lut[i][1] = lut[i][2] = (unsigned char)v;
    }
    size_t n = (size_t)img->width * img->height;
    for (size_t i = 0; i < n; i++)
        memcpy(img->rgb + 3 * i, lut[img->rgb[3 * i]], 3);
}

static unsigned char convert_value(double v, conversion conv) {
    if (conv == CONV_HIGH_BYTE) return (unsigned char)((unsigned)v >> 8);
    if (!(v > 0)) return 0; /* NaN too */
    return v >= 255 ? 255 : (unsigned char)v;
}

/* Non-byte data in strips of rows, so the scratch buffer stays small whatever the image size. */
static CPLErr read_converted(GDALDatasetH ds, const decode_plan *p, gl_image *img) {
    int w = img->width, h = img->height;
    int rows = (1 << 20) / w > 0 ? (1 << 20) / w : 1;
    if (rows > h) rows = h;
    double *buf = malloc((size_t)rows * w * sizeof *buf);
    if (!buf) return CE_Failure;
    CPLErr e = CE_None;
    for (int y = 0; y < h && e == CE_None; y += rows) {
        int n = h - y < rows ? h - y : rows;
        for (int c = 0; c < 3 && e == CE_None; c++) {
            if (c > 0 && p->bands[c] == p->bands[c - 1]) {
                for (size_t i = 0; i < (size_t)n * w; i++) {
                    unsigned char *px = img->rgb + ((size_t)y * w + i) * 3;
                    px[c] = px[c - 1];
                }
                continue;
            }
            e = GDALRasterIO(GDALGetRasterBand(ds, p->bands[c]), GF_Read, 0, y, w, n, buf, w, n,
                             GDT_Float64, 0, 0);
            for (size_t i = 0; e == CE_None && i < (size_t)n * w; i++)
                img->rgb[((size_t)y * w + i) * 3 + c] = convert_value(buf[i], p->conv);
        }
    }
    free(buf);
    return e;
}

/* Pillow's MULDIV255: a * b / 255 rounded, in integers. */
static inline int muldiv255(int a, int b) {
    int t = a * b + 128;
    return ((t >> 8) + t) >> 8;
}

static CPLErr read_cmyk(GDALDatasetH ds, const decode_plan *p, gl_image *img) {
    int w = img->width, h = img->height;
    int rows = (1 << 20) / w > 0 ? (1 << 20) / w : 1;
    if (rows > h) rows = h;
    unsigned char *buf = malloc((size_t)rows * w * 4);
    if (!buf) return CE_Failure;
    CPLErr e = CE_None;
    for (int y = 0; y < h && e == CE_None; y += rows) {
        int n = h - y < rows ? h - y : rows;
        e = GDALDatasetRasterIO(ds, GF_Read, 0, y, w, n, buf, w, n, GDT_Byte, 4, NULL, 4,
                                (GSpacing)4 * w, 1);
        for (size_t i = 0; e == CE_None && i < (size_t)n * w; i++) {
            unsigned char *ink = buf + 4 * i, *o = img->rgb + ((size_t)y * w + i) * 3;
            int inv = p->inks == INKS_INVERTED ? 255 : 0, nk = 255 - (ink[3] ^ inv);
            for (int c = 0; c < 3; c++)
                o[c] = (unsigned char)(nk - muldiv255(ink[c] ^ inv, nk));
        }
    }
    free(buf);
    return e;
}

/* The alpha of RGBA and LA pictures (the last band, when GDAL calls it alpha), as Pillow keeps it
 * for a transform that resamples before converting to RGB (open_clip's): 8-bit as stored, the
 * high byte of 16-bit samples. */
static CPLErr read_alpha(GDALDatasetH ds, const decode_plan *p, gl_image *img) {
    int nb = GDALGetRasterCount(ds);
    if ((nb != 2 && nb != 4) || p->conv == CONV_CMYK) return CE_None;
    GDALRasterBandH b = GDALGetRasterBand(ds, nb);
    GDALDataType type = GDALGetRasterDataType(b);
    if (GDALGetRasterColorInterpretation(b) != GCI_AlphaBand ||
        (type != GDT_Byte && type != GDT_UInt16))
        return CE_None;
    size_t n = (size_t)img->width * img->height;
    if (!(img->alpha = malloc(n))) return CE_Failure;
    if (type == GDT_Byte)
        return GDALRasterIO(b, GF_Read, 0, 0, img->width, img->height, img->alpha, img->width,
                            img->height, GDT_Byte, 0, 0);
    uint16_t *wide = malloc(n * sizeof *wide);
    if (!wide) return CE_Failure;
    CPLErr e = GDALRasterIO(b, GF_Read, 0, 0, img->width, img->height, wide, img->width,
                            img->height, GDT_UInt16, 0, 0);
    for (size_t i = 0; e == CE_None && i < n; i++)
        img->alpha[i] = (unsigned char)(wide[i] >> 8);
    free(wide);
    return e;
}

static gl_status decode(GDALDatasetH ds, ink_storage inks, const char *path, gl_image *out,
                        gl_error *err) {
    int w = GDALGetRasterXSize(ds), h = GDALGetRasterYSize(ds);
    if (GDALGetRasterCount(ds) < 1) return gl_fail(err, GL_ERR_FORMAT, "%s: no raster bands", path);
    if ((long long)w * h > GL_IMAGE_MAX_PIXELS)
        return gl_fail(err, GL_ERR_LIMIT, "%s: image claims %dx%d pixels, over the limit of %lld",
                       path, w, h, (long long)GL_IMAGE_MAX_PIXELS);
    if (w < GL_IMAGE_MIN_SIDE || h < GL_IMAGE_MIN_SIDE)
        return gl_fail(err, GL_ERR_FORMAT, "%s: image is %dx%d; at least %dx%d pixels are needed",
                       path, w, h, GL_IMAGE_MIN_SIDE, GL_IMAGE_MIN_SIDE);
    decode_plan p = plan_decode(ds, inks);
    out->rgb = malloc((size_t)w * h * 3);
    if (!out->rgb) return gl_fail(err, GL_ERR_NOMEM, "%s: no memory for %dx%d pixels", path, w, h);
    out->width = w;
    out->height = h;
    CPLErr e;
    if (p.conv == CONV_DIRECT || p.conv == CONV_PALETTE) {
        e = read_direct(ds, &p, out);
        if (e == CE_None && p.bands[0] == p.bands[1]) expand_single_band(&p, out);
    } else if (p.conv == CONV_CMYK) {
        e = read_cmyk(ds, &p, out);
    } else {
        e = read_converted(ds, &p, out);
    }
    if (e == CE_None) e = read_alpha(ds, &p, out);
    if (e != CE_None || CPLGetLastErrorType() >= CE_Failure) {
        char msg[512];
        image_clear(out);
        return gl_fail(err, GL_ERR_FORMAT, "%s: cannot decode: %s", path,
                       gl_gdal_last_error(msg, sizeof msg, "read failed"));
    }
    return GL_OK;
}

/* Sets a thread-local GDAL option for the decode; returns the previous value (CPLFree it) for
 * restore_option. */
static char *set_option(const char *key, const char *value) {
    const char *v = CPLGetThreadLocalConfigOption(key, NULL);
    char *old = v ? CPLStrdup(v) : NULL;
    CPLSetThreadLocalConfigOption(key, value);
    return old;
}

static void restore_option(const char *key, char *old) {
    CPLSetThreadLocalConfigOption(key, old);
    CPLFree(old);
}

/* GDAL converts CMYK and YCCK pictures to RGB its own way; Pillow's conversion needs the raw
 * inks. JPEGs give them with GDAL_JPEG_TO_RGB=NO (which would also leave YCbCr JPEGs raw, hence
 * the reopening), TIFFs through the GTIFF_RAW: prefix (path is a checked regular file). */
static GDALDatasetH open_inks(GDALDatasetH ds, const char *path, ink_storage *inks, gl_error *err) {
    const char *space = GDALGetMetadataItem(ds, "SOURCE_COLOR_SPACE", "IMAGE_STRUCTURE");
    const char *driver = GDALGetDriverShortName(GDALGetDatasetDriver(ds));
    int jpeg = !strcmp(driver, "JPEG"), tiff = !strcmp(driver, "GTiff");
    *inks = INKS_NONE;
    if (!space || (strcmp(space, "CMYK") && strcmp(space, "YCCK")) || !(jpeg || tiff)) return ds;
    GDALClose(ds);
    if (jpeg) {
        char *old = set_option("GDAL_JPEG_TO_RGB", "NO");
        ds = gl_gdal_open(path, err);
        restore_option("GDAL_JPEG_TO_RGB", old);
        *inks = INKS_INVERTED;
        return ds;
    }
    size_t n = strlen(path) + 11;
    char *raw = malloc(n);
    ds = raw ? (snprintf(raw, n, "GTIFF_RAW:%s", path),
                GDALOpenEx(raw, GDAL_OF_RASTER | GDAL_OF_READONLY, NULL, NULL, NULL))
             : NULL;
    free(raw);
    if (!ds) gl_fail(err, GL_ERR_FORMAT, "%s: cannot read its CMYK inks", path);
    *inks = INKS_RAW;
    return ds;
}

gl_image *gl_image_load(const char *path, gl_error *err) {
    gl_image *out = calloc(1, sizeof *out);
    if (!out) {
        gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    gl_gdal_init();
    int truncated = 0;
    CPLPushErrorHandlerEx(gl_gdal_watch_truncation, &truncated);
    CPLErrorReset();
    gl_status st;
    GDALDatasetH ds = gl_gdal_open(path, err);
    ink_storage inks = INKS_NONE;
    if (ds) ds = open_inks(ds, path, &inks, err);
    if (!ds) {
        st = err ? err->code : GL_ERR_IO;
        if (st == GL_OK) st = GL_ERR_IO;
    } else {
        st = decode(ds, inks, path, out, err);
        GDALClose(ds);
    }
    if (!st && truncated)
        st = gl_fail(err, GL_ERR_FORMAT, "%s: cannot decode: the JPEG data ends early", path);
    CPLPopErrorHandler();
    if (!st) return out;
    gl_image_free(out);
    return NULL;
}
