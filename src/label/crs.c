/* crs.c: CRSs as outputs use them: read from a user's or a raster's text in x/y order, compared,
 * named by code or WKT, and tile rings densified and transformed into the output's CRS. */
#include "label/crs.h"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

OGRSpatialReferenceH gl_crs_parse(const char *text) {
    OGRSpatialReferenceH s = OSRNewSpatialReference(NULL);
    CPLPushErrorHandler(CPLQuietErrorHandler);
    if (s && OSRSetFromUserInput(s, text) != OGRERR_NONE) {
        OSRDestroySpatialReference(s);
        s = NULL;
    }
    CPLPopErrorHandler();
    if (s) OSRSetAxisMappingStrategy(s, OAMS_TRADITIONAL_GIS_ORDER);
    return s;
}

int gl_crs_same(OGRSpatialReferenceH a, OGRSpatialReferenceH b) {
    const char *const opts[] = {"IGNORE_DATA_AXIS_TO_SRS_AXIS_MAPPING=YES", NULL};
    return a && b && OSRIsSameEx(a, b, opts);
}

char *gl_crs_wkt(OGRSpatialReferenceH s) {
    const char *const opts[] = {"FORMAT=WKT2_2019", "MULTILINE=NO", NULL};
    char *wkt = NULL;
    if (OSRExportToWktEx(s, &wkt, opts) != OGRERR_NONE || !wkt || !*wkt) {
        CPLFree(wkt);
        wkt = NULL;
    }
    return wkt;
}

const char *gl_crs_column(const char *code, const char *wkt) {
    return code && *code ? code : wkt ? wkt : "";
}

int gl_crs_authority(OGRSpatialReferenceH s, char *name, size_t name_cap, char *code,
                     size_t code_cap) {
    OGRSpatialReferenceH c = OSRClone(s);
    if (!c) return 0;
    const char *a = OSRGetAuthorityName(c, NULL), *k = OSRGetAuthorityCode(c, NULL);
    if ((!a || !k) && OSRAutoIdentifyEPSG(c) == OGRERR_NONE) {
        a = OSRGetAuthorityName(c, NULL);
        k = OSRGetAuthorityCode(c, NULL);
    }
    int ok = a && k;
    if (ok) {
        snprintf(name, name_cap, "%s", a);
        snprintf(code, code_cap, "%s", k);
    }
    OSRDestroySpatialReference(c);
    return ok;
}

char *gl_crs_text(OGRSpatialReferenceH s) {
    char a[64], k[64];
    if (gl_crs_authority(s, a, sizeof a, k, sizeof k)) {
        size_t n = strlen(a) + strlen(k) + 2;
        char *t = malloc(n);
        if (t) snprintf(t, n, "%s:%s", a, k);
        return t;
    }
    char *wkt = gl_crs_wkt(s), *t = wkt ? strdup(wkt) : NULL;
    CPLFree(wkt);
    return t;
}

OGRCoordinateTransformationH gl_crs_transformation(OGRSpatialReferenceH from,
                                                   OGRSpatialReferenceH to) {
    CPLPushErrorHandler(CPLQuietErrorHandler);
    OGRCoordinateTransformationH ct = OCTNewCoordinateTransformation(from, to);
    CPLPopErrorHandler();
    return ct;
}

double gl_crs_lat_limit(OGRSpatialReferenceH s) {
    return OSRIsGeographic(s) ? (M_PI / 2) / OSRGetAngularUnits(s, NULL) : 0;
}

int gl_crs_ring(OGRCoordinateTransformationH ct, const double ring[4][2], double lat_limit,
                double pts[4 * GL_CRS_DENSIFY][2]) {
    enum { N = 4 * GL_CRS_DENSIFY };
    double x[N], y[N];
    int ok[N];
    for (int e = 0; e < 4; e++)
        for (int s = 0; s < GL_CRS_DENSIFY; s++) {
            const double *a = ring[e], *b = ring[(e + 1) % 4], t = (double)s / GL_CRS_DENSIFY;
            x[e * GL_CRS_DENSIFY + s] = a[0] + t * (b[0] - a[0]);
            y[e * GL_CRS_DENSIFY + s] = a[1] + t * (b[1] - a[1]);
            if (lat_limit > 0)
                y[e * GL_CRS_DENSIFY + s] =
                    fmax(-lat_limit, fmin(lat_limit, y[e * GL_CRS_DENSIFY + s]));
        }
    /* PROJ reports points it cannot place ("Invalid latitude", ...) as errors: they are
     * answered by the 0 return, not printed. */
    CPLPushErrorHandler(CPLQuietErrorHandler);
    int all = OCTTransformEx(ct, N, x, y, NULL, ok);
    CPLPopErrorHandler();
    for (int k = 0; k < N; k++) {
        if (!all || !ok[k] || !isfinite(x[k]) || !isfinite(y[k])) return 0;
        pts[k][0] = x[k];
        pts[k][1] = y[k];
    }
    return 1;
}

/* Shoelace: positive for a counter-clockwise ring in x-right, y-up axes. */
static double signed_area(const double (*ring)[2], int n) {
    double a = 0;
    for (int i = 0; i < n; i++) {
        const double *p = ring[i], *q = ring[(i + 1) % n];
        a += p[0] * q[1] - q[0] * p[1];
    }
    return a / 2;
}

OGRGeometryH gl_crs_polygon(const double (*ring)[2], int n) {
    OGRGeometryH poly = OGR_G_CreateGeometry(wkbPolygon), lr = OGR_G_CreateGeometry(wkbLinearRing);
    int ccw = signed_area(ring, n) > 0;
    for (int i = 0; i <= n; i++) {
        const double *p = ring[ccw ? i % n : (n - i) % n];
        OGR_G_AddPoint_2D(lr, p[0], p[1]);
    }
    OGR_G_AddGeometryDirectly(poly, lr);
    return poly;
}

OGRGeometryH gl_crs_tile(OGRCoordinateTransformationH ct, const double ring[4][2],
                         double lat_limit) {
    if (!ct) return gl_crs_polygon(ring, 4);
    double pts[4 * GL_CRS_DENSIFY][2];
    if (!gl_crs_ring(ct, ring, lat_limit, pts)) return NULL;
    OGRGeometryH g = gl_crs_polygon((const double(*)[2])pts, 4 * GL_CRS_DENSIFY);
    CPLPushErrorHandler(CPLQuietErrorHandler); /* GEOS's "Ring Self-intersection at ..." */
    int valid = OGR_G_IsValid(g);
    CPLPopErrorHandler();
    if (!valid) OGR_G_DestroyGeometry(g);
    return valid ? g : NULL;
}
