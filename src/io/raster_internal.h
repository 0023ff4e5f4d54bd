/* raster_internal.h: GDAL plumbing shared by image decoding (image.c) and rasters (raster.c):
 * one-time driver registration, guarded opening, and GDAL's last error as a one-line message. */
#ifndef GEOLABEL_RASTER_INTERNAL_H
#define GEOLABEL_RASTER_INTERNAL_H

#include "geolabel.h"

#include <cpl_error.h>
#include <gdal.h>

/* Registers GDAL's drivers once per process (thread-safe). */
void gl_gdal_init(void);

/* Opens path read-only as a raster. Only existing, non-empty regular files are passed to GDAL, so
 * connection strings ("MEM:::", "/vsicurl/") never reach it. The caller must have pushed
 * CPLQuietErrorHandler; on failure returns NULL with err naming the file and GDAL's reason.
 * Close the result with GDALClose. */
GDALDatasetH gl_gdal_open(const char *path, gl_error *err);
/* The same for scenes, which may also be GDAL virtual paths ("/vsizip/a.zip/x.tif", "/vsicurl/",
 * "https://..."): those go to GDAL unchecked, as gdalinfo takes them. */
GDALDatasetH gl_gdal_open_scene(const char *path, gl_error *err);

/* An error handler that keeps GDAL's messages off stderr and sets *(int *)user_data when
 * libjpeg reports a premature end of data. libjpeg's other warnings (stray bytes before a
 * marker) stay harmless, as in Pillow, but Pillow refuses a truncated file that GDAL would pad
 * with gray. Push with CPLPushErrorHandlerEx(gl_gdal_watch_truncation, &flag). */
void CPL_STDCALL gl_gdal_watch_truncation(CPLErr level, CPLErrorNum num, const char *msg);

/* GDAL's last error message as one line (newlines folded), or `fallback` when it has none. */
const char *gl_gdal_last_error(char *buf, size_t cap, const char *fallback);

/* lut[i] = colour-table entry i, or (i, i, i) past the table's end (Pillow's palette ramp). */
void gl_gdal_palette_lut(GDALColorTableH ct, unsigned char lut[256][3]);

#endif
