/* raster.c: GDAL rasters of any size read by windows into 8-bit RGB (band choice, stretch,
 * nodata and alpha), georeferencing (geotransform, CRS label, lon/lat), and the GDAL plumbing. */
#include "geolabel.h"
#include "io/raster_internal.h"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <gdal.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ------------------------------------------------------------------ GDAL plumbing */

static pthread_once_t gdal_once = PTHREAD_ONCE_INIT;
static void gdal_register(void) { GDALAllRegister(); }
void gl_gdal_init(void) { pthread_once(&gdal_once, gdal_register); }

const char *gl_gdal_last_error(char *buf, size_t cap, const char *fallback) {
    const char *m = CPLGetLastErrorMsg();
    snprintf(buf, cap, "%s", m && *m ? m : fallback);
    for (char *c = buf; *c; c++)
        if (*c == '\n' || *c == '\r') *c = ' ';
    return buf;
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
    CPLErrorReset();
    GDALDatasetH ds = GDALOpenEx(path, GDAL_OF_RASTER | GDAL_OF_READONLY, NULL, NULL, NULL);
    if (!ds) {
        char msg[512];
        gl_fail(err, GL_ERR_FORMAT, "%s: not a readable image: %s", path,
                gl_gdal_last_error(msg, sizeof msg, "format not recognised"));
    }
    return ds;
}
