/* crs.h: CRS plumbing shared by the label outputs and the embedding index: a CRS read from what a
 * user or a raster gives, compared, named, and a tile's ring carried into another CRS. */
#ifndef GEOLABEL_LABEL_CRS_H
#define GEOLABEL_LABEL_CRS_H

#include <ogr_api.h>
#include <ogr_srs_api.h>

/* Points per tile edge when a tile changes CRS: straight edges in one CRS curve in another. */
#define GL_CRS_DENSIFY 8

/* text: anything OGRSpatialReference's SetFromUserInput reads (EPSG:n, WKT, PROJ, a file). The
 * result has the traditional GIS axis order (x = easting or longitude), as rasters' coordinates
 * are; NULL when GDAL cannot read it. Free with OSRDestroySpatialReference. */
OGRSpatialReferenceH gl_crs_parse(const char *text);
/* 1 for the same CRS, whatever axis order either is read in. */
int gl_crs_same(OGRSpatialReferenceH a, OGRSpatialReferenceH b);
/* s as one-line WKT2; CPLFree it. NULL when GDAL cannot write it. */
char *gl_crs_wkt(OGRSpatialReferenceH s);
/* s's authority and code ("EPSG", "32618"), or the ones its definition matches; 0 if none. */
int gl_crs_authority(OGRSpatialReferenceH s, char *name, size_t name_cap, char *code,
                     size_t code_cap);
/* "EPSG:3857", or the CRS's WKT when it has no code: what a crs column says. malloc'ed. */
char *gl_crs_text(OGRSpatialReferenceH s);
/* The crs column of a row whose input's CRS has the code `code` ("EPSG:32618", or "" when it has
 * none) and the one-line WKT2 `wkt`: the code, else the WKT, else "". Every table label and
 * truth write says it alike. */
const char *gl_crs_column(const char *code, const char *wkt);
/* from -> to with PROJ's complaints kept off stderr; NULL when PROJ has none. */
OGRCoordinateTransformationH gl_crs_transformation(OGRSpatialReferenceH from,
                                                   OGRSpatialReferenceH to);
/* A geographic CRS's pole in its angular unit (90 for degrees); 0 for any other CRS. */
double gl_crs_lat_limit(OGRSpatialReferenceH s);
/* The tile's ring (TL, TR, BR, BL), GL_CRS_DENSIFY points per edge, through ct into pts; 0 when
 * some point has no image (a tile outside the target CRS's area of use). lat_limit (from
 * gl_crs_lat_limit of the source) clamps latitudes past a pole: a global grid's pixel-is-area
 * edges can overhang it by half a pixel, and PROJ refuses those ("Invalid latitude"). */
int gl_crs_ring(OGRCoordinateTransformationH ct, const double ring[4][2], double lat_limit,
                double pts[4 * GL_CRS_DENSIFY][2]);
/* The tile's polygon through ct (gl_crs_ring), or NULL when it has no place in ct's target: a
 * point PROJ cannot transform, or a ring that crosses itself (a projection used far outside its
 * area folds, as UTM does on the far side of the globe, while PROJ still answers). ct NULL: the
 * ring as it is. The caller owns it. */
OGRGeometryH gl_crs_tile(OGRCoordinateTransformationH ct, const double ring[4][2],
                         double lat_limit);
/* The closed polygon of n points, its exterior ring counter-clockwise (RFC 7946's rule; OGC
 * readers do not mind). The caller owns it. */
OGRGeometryH gl_crs_polygon(const double (*ring)[2], int n);

#endif
