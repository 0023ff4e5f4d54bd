/* rows.c: one reader for label tables in every format `label` writes (CSV, GeoJSON, GPKG), so
 * `show` and `eval` take any of them; CSV stays on io/csv.c (line numbers), the rest go via OGR. */
#include "label/rows.h"
#include "io/raster_internal.h"

#include <errno.h>
#include <ogr_api.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct label_rows {
    char *path;
    gl_csv *csv; /* a CSV file; else the OGR fields below */
    GDALDatasetH ds;
    int layer, n_layers;
    OGRLayerH l;
    int *map;     /* [n_cols] the current layer's field index of column k, or -1 */
    char **names; /* [n_cols] the first layer's field names */
    char **vals;  /* [n_cols] the current feature's values (owned copies) */
    int n_cols;
    long feature;
};

static char *dup_or_empty(const char *s) {
    return strdup(s ? s : "");
}

int label_rows_is_tile_layer(OGRLayerH l) {
    OGRFeatureDefnH d = OGR_L_GetLayerDefn(l);
    return OGR_FD_GetFieldIndex(d, "row") >= 0 && OGR_FD_GetFieldIndex(d, "col") >= 0;
}

/* Moves to the next tile layer from index `from` on; 0 when there is none. */
static int seek_layer(label_rows *r, int from) {
    for (r->layer = from; r->layer < r->n_layers; r->layer++) {
        r->l = GDALDatasetGetLayer(r->ds, r->layer);
        if (r->l && label_rows_is_tile_layer(r->l)) return 1;
    }
    return 0;
}

static void map_layer(label_rows *r) {
    OGRFeatureDefnH d = OGR_L_GetLayerDefn(r->l);
    for (int k = 0; k < r->n_cols; k++)
        r->map[k] = OGR_FD_GetFieldIndex(d, r->names[k]);
}

static gl_status open_ogr(label_rows *r, gl_error *err) {
    struct stat sb;
    if (stat(r->path, &sb) != 0)
        return gl_fail(err, GL_ERR_IO, "%s: cannot open: %s", r->path, strerror(errno));
    gl_gdal_init();
    CPLPushErrorHandler(CPLQuietErrorHandler);
    r->ds = GDALOpenEx(r->path, GDAL_OF_VECTOR | GDAL_OF_READONLY, NULL, NULL, NULL);
    char why[256];
    gl_gdal_last_error(why, sizeof why, "not a CSV, GeoJSON or GeoPackage file");
    CPLPopErrorHandler();
    if (!r->ds) return gl_fail(err, GL_ERR_FORMAT, "%s: cannot read the labels: %s", r->path, why);
    r->n_layers = GDALDatasetGetLayerCount(r->ds);
    if (!seek_layer(r, 0))
        return gl_fail(err, GL_ERR_FORMAT, "%s: no layer with row and col fields", r->path);
    OGRFeatureDefnH d = OGR_L_GetLayerDefn(r->l);
    r->n_cols = OGR_FD_GetFieldCount(d);
    r->names = calloc((size_t)r->n_cols + 1, sizeof *r->names);
    r->vals = calloc((size_t)r->n_cols + 1, sizeof *r->vals);
    r->map = calloc((size_t)r->n_cols + 1, sizeof *r->map);
    if (!r->names || !r->vals || !r->map)
        return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", r->path);
    for (int k = 0; k < r->n_cols; k++)
        if (!(r->names[k] = strdup(OGR_Fld_GetNameRef(OGR_FD_GetFieldDefn(d, k)))))
            return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", r->path);
    map_layer(r);
    return GL_OK;
}

/* The vector formats label writes, and their usual kin; any other name is read as CSV, as
 * before GeoJSON and GPKG were read at all. */
static int is_vector_path(const char *path) {
    static const char *const suffixes[] = {".geojson", ".json", ".gpkg", ".fgb",
                                           ".shp",     ".gml",  ".kml",  ".sqlite"};
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++)
        if (gl_path_has_suffix(path, suffixes[i])) return 1;
    return 0;
}

label_rows *label_rows_open(const char *path, gl_error *err) {
    label_rows *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    gl_status st = is_vector_path(path)                   ? open_ogr(r, err)
                   : (r->csv = gl_csv_open(path, 1, err)) ? GL_OK
                                                          : err->code;
    if (st) {
        label_rows_free(r);
        return NULL;
    }
    return r;
}

void label_rows_free(label_rows *r) {
    if (!r) return;
    gl_csv_free(r->csv);
    for (int k = 0; k < r->n_cols; k++) {
        if (r->names) free(r->names[k]);
        if (r->vals) free(r->vals[k]);
    }
    free(r->names), free(r->vals), free(r->map);
    if (r->ds) GDALClose(r->ds);
    free(r->path);
    free(r);
}

int label_rows_next(label_rows *r, gl_error *err) {
    if (r->csv) return gl_csv_next(r->csv, err);
    OGRFeatureH f;
    while (!(f = OGR_L_GetNextFeature(r->l))) {
        if (!seek_layer(r, r->layer + 1)) return 0;
        map_layer(r);
    }
    r->feature++;
    int ok = 1;
    for (int k = 0; k < r->n_cols; k++) {
        int i = r->map[k];
        free(r->vals[k]);
        r->vals[k] = dup_or_empty(
            i >= 0 && OGR_F_IsFieldSetAndNotNull(f, i) ? OGR_F_GetFieldAsString(f, i) : "");
        ok &= r->vals[k] != NULL;
    }
    OGR_F_Destroy(f);
    if (!ok) {
        gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", r->path);
        return -1;
    }
    return 1;
}

int label_rows_column(const label_rows *r, const char *name) {
    if (r->csv) return gl_csv_column(r->csv, name);
    for (int k = 0; k < r->n_cols; k++)
        if (!strcmp(r->names[k], name)) return k;
    return -1;
}

const char *label_rows_field(const label_rows *r, int i) {
    if (r->csv) return gl_csv_field(r->csv, i);
    return i >= 0 && i < r->n_cols && r->vals[i] ? r->vals[i] : "";
}

const char *label_rows_path(const label_rows *r) {
    return r->path;
}

long label_rows_index(const label_rows *r) {
    return r->csv ? gl_csv_line(r->csv) : r->feature;
}

const char *label_rows_where(const label_rows *r, char *buf, size_t cap) {
    snprintf(buf, cap, "%s %ld", r->csv ? "line" : "feature", label_rows_index(r));
    return buf;
}
