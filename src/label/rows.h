/* rows.h: label tables read alike whatever `label` wrote them as: CSV (through io/csv.c) or a
 * vector file (GeoJSON, GPKG, any OGR format) whose attribute fields carry the same columns. */
#ifndef GEOLABEL_LABEL_ROWS_H
#define GEOLABEL_LABEL_ROWS_H

#include "geolabel.h"

#include <ogr_api.h>

/* One table, one row at a time. A vector file's rows are the features of all its tile layers
 * (those with row and col fields: label writes one, or one per CRS) in order; its columns are the
 * first such layer's fields, and a later layer's fields are found by name. Caller frees with
 * label_rows_free (NULL-safe). A path ending in a vector suffix (.geojson, .json, .gpkg, .fgb,
 * .shp, .gml, .kml, .sqlite) is opened by OGR; any other is CSV. NULL when unreadable. */
typedef struct label_rows label_rows;
label_rows *label_rows_open(const char *path, gl_error *err);
void label_rows_free(label_rows *r);
/* 1 and the next row, 0 at the end, -1 on error (err set). */
int label_rows_next(label_rows *r, gl_error *err);
int label_rows_column(const label_rows *r, const char *name); /* column index, or -1 */
const char *label_rows_field(const label_rows *r, int i);     /* "" for an unset or null field */
const char *label_rows_path(const label_rows *r);
/* Where the current row is, for messages: "line 12" (CSV, 1-based) or "feature 12" (1-based over
 * all layers), into buf. */
const char *label_rows_where(const label_rows *r, char *buf, size_t cap);
long label_rows_index(const label_rows *r); /* the number above: line or feature */

/* 1 when the layer holds tiles (row and col fields), not, say, a GPKG's layer_styles: every
 * reader of label's vector outputs takes these layers and skips the rest. */
int label_rows_is_tile_layer(OGRLayerH l);

#endif
