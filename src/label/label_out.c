/* label_out.c: the label outputs: CSV with GVL's header plus our columns, GeoJSON (RFC 7946) and
 * GPKG through OGR, all into a temporary file renamed into place; and reading them for --resume. */
#include "label/geotiff.h"

#include <errno.h>
#include <fcntl.h>
#include <gdal.h>
#include <math.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef enum { F_STR, F_INT, F_REAL } field_type;
static const struct {
    const char *name;
    field_type type;
} FIELDS[] = {
    /* GVL's header, exactly; then ours. */
    {"filename", F_STR},
    {"row", F_INT},
    {"col", F_INT},
    {"left", F_INT},
    {"upper", F_INT},
    {"right", F_INT},
    {"lower", F_INT},
    {"classification_mode", F_STR},
    {"description", F_STR},
    {"classification_tree", F_STR},
    {"classification", F_STR},
    {"score", F_REAL},
    {"crs", F_STR},
    {"x_min", F_REAL},
    {"y_min", F_REAL},
    {"x_max", F_REAL},
    {"y_max", F_REAL},
    {"lon", F_REAL},
    {"lat", F_REAL},
    {"input", F_STR},
    {"llm_error", F_STR},
    {"top3", F_STR}};
enum {
    N_FIELDS = sizeof FIELDS / sizeof FIELDS[0],
    N_GVL_FIELDS = 11,
    F_INPUT = N_FIELDS - 3,
    F_LLM_ERROR = N_FIELDS - 2,
    F_TOP3 = N_FIELDS - 1
};

gl_status gl_label_format_of(const char *path, gl_label_format *fmt, gl_error *err) {
    if (gl_path_has_suffix(path, ".csv"))
        *fmt = GL_LABEL_CSV;
    else if (gl_path_has_suffix(path, ".geojson") || gl_path_has_suffix(path, ".json"))
        *fmt = GL_LABEL_GEOJSON;
    else if (gl_path_has_suffix(path, ".gpkg"))
        *fmt = GL_LABEL_GPKG;
    else if (gl_path_has_suffix(path, ".tif") || gl_path_has_suffix(path, ".tiff"))
        *fmt = GL_LABEL_TIF;
    else
        return gl_fail(err, GL_ERR_ARG, "%s: the output must end in .csv, .geojson, .gpkg or .tif",
                       path);
    return GL_OK;
}

/* Field k of row as text ("" for none): the one formatting both CSV and OGR use. */
static const char *field_text(const gl_label_row *r, int k, char *buf, size_t cap) {
    const double reals[] = {r->x_min, r->y_min, r->x_max, r->y_max, r->lon, r->lat};
    const int ints[] = {r->row, r->col, r->left, r->upper, r->right, r->lower};
    switch (k) {
    case 0:
        return r->filename;
    case 7:
        return r->mode;
    case 8:
        return r->description ? r->description : ""; /* empty on the CLIP path, as in GVL */
    case 9:
        return r->tree;
    case 10:
        return r->label;
    case 11:
        if (isnan(r->score)) return "";
        snprintf(buf, cap, "%.6f", r->score);
        return buf;
    case 12:
        return r->has_geo && r->crs ? r->crs : "";
    case F_INPUT:
        return r->input ? r->input : r->filename;
    case F_LLM_ERROR:
        return r->llm_error ? r->llm_error : "";
    case F_TOP3:
        return r->top3 ? r->top3 : "";
    default:
        break;
    }
    if (k >= 1 && k <= 6) {
        snprintf(buf, cap, "%d", ints[k - 1]);
        return buf;
    }
    if (!r->has_geo) return "";
    snprintf(buf, cap, "%.15g", reals[k - 13]);
    return buf;
}

/* ---------------------------------------------------------------- the writer */

struct gl_label_writer {
    gl_label_format fmt;
    char *path;
    gl_atomic_file csv; /* CSV */
    char *tmp_path;     /* OGR */
    GDALDatasetH ds;
    OGRLayerH layer;
    OGRSpatialReferenceH layer_srs;
    long n_features;    /* features written so far */
    gl_tif_writer *tif; /* .tif */
    char **classes;     /* the leaves, for the .tif and the .qml beside vector outputs */
    int n_classes;
    gl_colors *colors;
};

void gl_label_top3(const float *probs, const char *const *names, int n, char *buf, size_t cap) {
    int best[3] = {-1, -1, -1};
    for (int k = 0; k < n; k++)
        for (int j = 0; j < 3; j++)
            if (best[j] < 0 || probs[k] > probs[best[j]]) {
                for (int m = 2; m > j; m--)
                    best[m] = best[m - 1];
                best[j] = k;
                break;
            }
    size_t used = 0;
    buf[0] = 0;
    for (int j = 0; j < 3 && best[j] >= 0 && used < cap; j++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%s:%.6f", j ? ";" : "", names[best[j]],
                                 probs[best[j]]);
}

gl_status gl_label_writer_classes(gl_label_writer *w, const gl_label_params *p,
                                  const char *const *leaves, int n, int hierarchical,
                                  gl_error *err) {
    if (!(w->colors = gl_colors_load(p->colors_path, err))) return err->code;
    w->classes = calloc((size_t)n + 1, sizeof *w->classes);
    if (!w->classes) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", w->path);
    for (int k = 0; k < n; k++)
        if (!(w->classes[w->n_classes++] = strdup(leaves[k])))
            return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", w->path);
    if (w->fmt != GL_LABEL_TIF) return GL_OK;
    if (!(w->tif = gl_tif_writer_open(w->path, &p->tiling, p->raster_res, p->probabilities, err)))
        return err->code;
    return gl_tif_writer_classes(w->tif, leaves, n, w->colors, hierarchical, err);
}

static void write_csv_header(FILE *fp) {
    for (int k = 0; k < N_FIELDS; k++) {
        if (k) fputc(',', fp);
        fputs(FIELDS[k].name, fp);
    }
    fputs("\r\n", fp);
}

static int is_listed(const char *name, const char *const *list, int n) {
    for (int i = 0; i < n; i++)
        if (!strcmp(list[i], name)) return 1;
    return 0;
}

static gl_status check_csv_header(const gl_csv *c, gl_error *err) {
    for (int k = 0; k < N_FIELDS; k++)
        if (gl_csv_column(c, FIELDS[k].name) != k)
            return gl_fail(err, GL_ERR_FORMAT,
                           "%s: not a geolabel labels file (column %d should be '%s'); cannot "
                           "resume into it",
                           gl_csv_path(c), k + 1, FIELDS[k].name);
    return GL_OK;
}

/* Re-writes the existing CSV's rows, field by field, but those of the inputs to redo. */
static gl_status copy_csv_rows(gl_label_writer *w, const char *const *redo, int n_redo,
                               gl_error *err) {
    gl_csv *c = gl_csv_open(w->path, 1, err);
    if (!c) return err->code;
    gl_status st = check_csv_header(c, err);
    int r;
    while (!st && (r = gl_csv_next(c, err)) == 1) {
        if (is_listed(gl_csv_field(c, F_INPUT), redo, n_redo)) continue;
        for (int k = 0; k < N_FIELDS; k++) {
            if (k) fputc(',', w->csv.fp);
            gl_csv_write_field(w->csv.fp, gl_csv_field(c, k));
        }
        fputs("\r\n", w->csv.fp);
    }
    if (!st && r < 0) st = err->code;
    gl_csv_free(c);
    return st;
}

static OGRSpatialReferenceH srs_from(const char *wkt_or_user) {
    OGRSpatialReferenceH s = OSRNewSpatialReference(NULL);
    if (s && OSRSetFromUserInput(s, wkt_or_user) != OGRERR_NONE) {
        OSRDestroySpatialReference(s);
        return NULL;
    }
    if (s) OSRSetAxisMappingStrategy(s, OAMS_TRADITIONAL_GIS_ORDER);
    return s;
}

/* The layer is made on first need: a GPKG takes the CRS of its first georeferenced tile. */
static gl_status ensure_layer(gl_label_writer *w, OGRSpatialReferenceH srs, gl_error *err) {
    if (w->layer) return GL_OK;
    if (srs && !w->layer_srs) w->layer_srs = OSRClone(srs);
    char *opts[] = {"RFC7946=YES", "WRITE_NAME=NO", NULL};
    w->layer = GDALDatasetCreateLayer(w->ds, "labels", w->layer_srs, wkbPolygon,
                                      w->fmt == GL_LABEL_GEOJSON ? opts : NULL);
    if (!w->layer)
        return gl_fail(err, GL_ERR_IO, "%s: cannot create the layer: %s", w->path,
                       CPLGetLastErrorMsg());
    for (int k = 0; k < N_FIELDS; k++) {
        OGRFieldDefnH f = OGR_Fld_Create(FIELDS[k].name, FIELDS[k].type == F_INT    ? OFTInteger
                                                         : FIELDS[k].type == F_REAL ? OFTReal
                                                                                    : OFTString);
        OGRErr e = OGR_L_CreateField(w->layer, f, TRUE);
        OGR_Fld_Destroy(f);
        if (e != OGRERR_NONE)
            return gl_fail(err, GL_ERR_IO, "%s: cannot add field '%s'", w->path, FIELDS[k].name);
    }
    return GL_OK;
}

static gl_status copy_ogr_rows(gl_label_writer *w, const char *const *redo, int n_redo,
                               gl_error *err) {
    GDALDatasetH src = GDALOpenEx(w->path, GDAL_OF_VECTOR | GDAL_OF_READONLY, NULL, NULL, NULL);
    if (!src) return gl_fail(err, GL_ERR_FORMAT, "%s: cannot read it to resume", w->path);
    OGRLayerH in = GDALDatasetGetLayerCount(src) ? GDALDatasetGetLayer(src, 0) : NULL;
    gl_status st = in ? GL_OK : gl_fail(err, GL_ERR_FORMAT, "%s: no layer to resume", w->path);
    if (!st) st = ensure_layer(w, OGR_L_GetSpatialRef(in), err);
    OGRFeatureH f;
    while (!st && in && (f = OGR_L_GetNextFeature(in))) {
        int fi = OGR_F_GetFieldIndex(f, FIELDS[F_INPUT].name);
        if (fi >= 0 && !is_listed(OGR_F_GetFieldAsString(f, fi), redo, n_redo)) {
            OGRFeatureH g = OGR_F_Create(OGR_L_GetLayerDefn(w->layer));
            if (OGR_F_SetFrom(g, f, TRUE) != OGRERR_NONE ||
                OGR_L_CreateFeature(w->layer, g) != OGRERR_NONE)
                st = gl_fail(err, GL_ERR_IO, "%s: cannot copy a feature", w->path);
            else
                w->n_features++;
            OGR_F_Destroy(g);
        }
        OGR_F_Destroy(f);
    }
    GDALClose(src);
    return st;
}

static gl_status open_ogr(gl_label_writer *w, gl_error *err) {
    GDALAllRegister();
    const char *driver = w->fmt == GL_LABEL_GPKG ? "GPKG" : "GeoJSON";
    GDALDriverH drv = GDALGetDriverByName(driver);
    size_t n = strlen(w->path) + 40;
    if (!drv || !(w->tmp_path = malloc(n)))
        return gl_fail(err, GL_ERR_INTERNAL, "%s: no %s driver in GDAL", w->path, driver);
    /* Keep the extension last: drivers check it. */
    snprintf(w->tmp_path, n, "%s.tmp%ld%s", w->path, (long)getpid(),
             w->fmt == GL_LABEL_GPKG ? ".gpkg" : ".geojson");
    w->ds = GDALCreate(drv, w->tmp_path, 0, 0, 0, GDT_Unknown, NULL);
    if (!w->ds)
        return gl_fail(err, GL_ERR_IO, "%s: cannot create: %s", w->tmp_path, CPLGetLastErrorMsg());
    if (w->fmt == GL_LABEL_GEOJSON) w->layer_srs = srs_from("EPSG:4326");
    /* One transaction: GPKG inserts are slow one by one. */
    if (w->fmt == GL_LABEL_GPKG) GDALDatasetStartTransaction(w->ds, FALSE);
    return GL_OK;
}

gl_label_writer *gl_label_writer_open(const char *path, const char *const *redo, int n_redo,
                                      gl_error *err) {
    int resume = redo != NULL;
    gl_label_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    gl_status st = gl_label_format_of(path, &w->fmt, err);
    if (!st && w->fmt == GL_LABEL_TIF) {
        /* gl_label_writer_classes opens the raster writer, which needs the class list */
    } else if (!st && w->fmt == GL_LABEL_CSV) {
        st = gl_atomic_open(&w->csv, path, err);
        if (!st) write_csv_header(w->csv.fp);
        if (!st && resume && access(path, F_OK) == 0) st = copy_csv_rows(w, redo, n_redo, err);
    } else if (!st) {
        st = open_ogr(w, err);
        if (!st && resume && access(path, F_OK) == 0) st = copy_ogr_rows(w, redo, n_redo, err);
    }
    if (st) {
        gl_label_writer_abort(w);
        return NULL;
    }
    return w;
}

static gl_status add_csv(gl_label_writer *w, const gl_label_row *r) {
    char buf[64];
    for (int k = 0; k < N_FIELDS; k++) {
        if (k) fputc(',', w->csv.fp);
        gl_csv_write_field(w->csv.fp, field_text(r, k, buf, sizeof buf));
    }
    fputs("\r\n", w->csv.fp);
    return GL_OK;
}

/* Shoelace: positive for a counter-clockwise ring in x-right, y-up axes. */
static double signed_area(const double ring[4][2]) {
    double a = 0;
    for (int i = 0; i < 4; i++) {
        const double *p = ring[i], *q = ring[(i + 1) % 4];
        a += p[0] * q[1] - q[0] * p[1];
    }
    return a / 2;
}

/* A closed counter-clockwise ring (RFC 7946 wants exterior rings so; OGC readers do not mind). */
static OGRGeometryH polygon_of(const double ring[4][2]) {
    OGRGeometryH poly = OGR_G_CreateGeometry(wkbPolygon), lr = OGR_G_CreateGeometry(wkbLinearRing);
    int ccw = signed_area(ring) > 0;
    for (int i = 0; i <= 4; i++) {
        const double *p = ring[ccw ? i % 4 : (4 - i) % 4];
        OGR_G_AddPoint_2D(lr, p[0], p[1]);
    }
    OGR_G_AddGeometryDirectly(poly, lr);
    return poly;
}

/* The tile's polygon in the layer's CRS, or NULL (no georeference, or no way to transform). */
static OGRGeometryH geometry_for(gl_label_writer *w, const gl_label_row *r) {
    if (!r->has_geo) return NULL;
    if (w->fmt == GL_LABEL_GEOJSON) return polygon_of(r->ring_lonlat);
    OGRGeometryH g = polygon_of(r->ring_crs);
    OGRSpatialReferenceH srs = r->crs_wkt ? srs_from(r->crs_wkt) : NULL;
    if (srs && w->layer_srs && !OSRIsSame(srs, w->layer_srs)) {
        OGR_G_AssignSpatialReference(g, srs);
        if (OGR_G_TransformTo(g, w->layer_srs) != OGRERR_NONE) {
            OGR_G_DestroyGeometry(g);
            g = NULL;
        }
    }
    if (srs) OSRDestroySpatialReference(srs);
    return g;
}

static gl_status add_ogr(gl_label_writer *w, const gl_label_row *r, gl_error *err) {
    if (!w->layer) {
        OGRSpatialReferenceH srs = r->has_geo && r->crs_wkt ? srs_from(r->crs_wkt) : NULL;
        gl_status st = ensure_layer(w, srs, err);
        if (srs) OSRDestroySpatialReference(srs);
        if (st) return st;
    }
    OGRFeatureH f = OGR_F_Create(OGR_L_GetLayerDefn(w->layer));
    char buf[64];
    for (int k = 0; k < N_FIELDS; k++) {
        const char *v = field_text(r, k, buf, sizeof buf);
        if (!*v && FIELDS[k].type != F_STR)
            OGR_F_SetFieldNull(f, k);
        else if (FIELDS[k].type == F_INT)
            OGR_F_SetFieldInteger(f, k, atoi(v));
        else if (FIELDS[k].type == F_REAL)
            OGR_F_SetFieldDouble(f, k, strtod(v, NULL));
        else
            OGR_F_SetFieldString(f, k, v);
    }
    OGRGeometryH g = geometry_for(w, r);
    if (g) OGR_F_SetGeometryDirectly(f, g);
    OGRErr e = OGR_L_CreateFeature(w->layer, f);
    OGR_F_Destroy(f);
    if (e == OGRERR_NONE) w->n_features++;
    if (e != OGRERR_NONE)
        return gl_fail(err, GL_ERR_IO, "%s: cannot write a feature: %s", w->path,
                       CPLGetLastErrorMsg());
    return GL_OK;
}

gl_status gl_label_writer_add(gl_label_writer *w, const gl_label_row *r, gl_error *err) {
    if (w->fmt == GL_LABEL_TIF)
        return w->tif ? gl_tif_writer_add(w->tif, r, err)
                      : gl_fail(err, GL_ERR_INTERNAL, "%s: no class list", w->path);
    return w->fmt == GL_LABEL_CSV ? add_csv(w, r) : add_ogr(w, r, err);
}

static void free_writer(gl_label_writer *w) {
    gl_strings_free(w->classes, w->n_classes);
    gl_colors_free(w->colors);
    if (w->layer_srs) OSRDestroySpatialReference(w->layer_srs);
    free(w->tmp_path);
    free(w->path);
    free(w);
}

/* OGR closes its own files; fsync them as gl_atomic_commit does before the rename. */
static int sync_file(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 0;
    int ok = fsync(fd) == 0;
    close(fd);
    return ok;
}

/* OGR's GeoJSON writer does not report a failed write (a full disk leaves a truncated file and
 * no error), so the closed file is checked before it may replace the old one: a GeoJSON must end
 * with the collection's closing bracket, and a GPKG must hold every feature written. */
static gl_status verify_ogr(gl_label_writer *w, gl_error *err) {
    if (w->fmt == GL_LABEL_GEOJSON) {
        FILE *fp = fopen(w->tmp_path, "rb");
        char tail[8] = {0};
        int ok = fp && fseek(fp, -4, SEEK_END) == 0 && fread(tail, 1, 4, fp) == 4 &&
                 !memcmp(tail, "]\n}\n", 4);
        if (fp) fclose(fp);
        return ok ? GL_OK
                  : gl_fail(err, GL_ERR_IO, "%s: the GeoJSON was not written whole (disk full?)",
                            w->path);
    }
    GDALDatasetH ds = GDALOpenEx(w->tmp_path, GDAL_OF_VECTOR | GDAL_OF_READONLY, NULL, NULL, NULL);
    OGRLayerH l = ds && GDALDatasetGetLayerCount(ds) ? GDALDatasetGetLayer(ds, 0) : NULL;
    long n = l ? (long)OGR_L_GetFeatureCount(l, TRUE) : -1;
    if (ds) GDALClose(ds);
    if (n != w->n_features)
        return gl_fail(err, GL_ERR_IO, "%s: %ld of %ld features were written (disk full?)", w->path,
                       n < 0 ? 0 : n, w->n_features);
    return GL_OK;
}

gl_status gl_label_writer_commit(gl_label_writer *w, gl_error *err) {
    gl_status st = GL_OK;
    if (w->fmt == GL_LABEL_TIF) {
        st = w->tif ? gl_tif_writer_commit(w->tif, err)
                    : gl_fail(err, GL_ERR_INTERNAL, "%s: no class list", w->path);
        w->tif = NULL;
    } else if (w->fmt == GL_LABEL_CSV) {
        st = gl_atomic_commit(&w->csv, err);
    } else {
        st = ensure_layer(w, NULL, err); /* an empty run still leaves a valid, empty layer */
        if (w->fmt == GL_LABEL_GPKG && GDALDatasetCommitTransaction(w->ds) != OGRERR_NONE && !st)
            st = gl_fail(err, GL_ERR_IO, "%s: cannot commit: %s", w->path, CPLGetLastErrorMsg());
        CPLErrorReset();
        GDALClose(w->ds);
        w->ds = NULL;
        if (!st && CPLGetLastErrorType() >= CE_Failure)
            st = gl_fail(err, GL_ERR_IO, "%s: %s", w->path, CPLGetLastErrorMsg());
        if (!st) st = verify_ogr(w, err);
        if (!st && !sync_file(w->tmp_path))
            st = gl_fail(err, GL_ERR_IO, "%s: cannot sync: %s", w->tmp_path, strerror(errno));
        if (!st && rename(w->tmp_path, w->path) != 0)
            st = gl_fail(err, GL_ERR_IO, "%s: cannot rename into place: %s", w->path,
                         strerror(errno));
        if (st) unlink(w->tmp_path);
        /* QGIS loads OUT's stem + .qml with the layer: the classes in their colours. */
        if (!st && w->classes)
            st = gl_qml_write(w->path, (const char *const *)w->classes, w->n_classes, w->colors,
                              err);
    }
    free_writer(w);
    return st;
}

void gl_label_writer_abort(gl_label_writer *w) {
    if (!w) return;
    if (w->fmt == GL_LABEL_TIF) {
        gl_tif_writer_abort(w->tif);
    } else if (w->fmt == GL_LABEL_CSV) {
        if (w->csv.path) gl_atomic_abort(&w->csv);
    } else if (w->tmp_path) {
        if (w->ds) GDALClose(w->ds);
        unlink(w->tmp_path);
    }
    free_writer(w);
}

/* ---------------------------------------------------------------- reading back for --resume */

static gl_status done_push(gl_label_done **rows, int *n, int *cap, const char *name, const int v[6],
                           gl_error *err) {
    if (*n == *cap) {
        int c = *cap ? *cap * 2 : 256;
        gl_label_done *g = realloc(*rows, (size_t)c * sizeof *g);
        if (!g) return gl_fail(err, GL_ERR_NOMEM, "resume: out of memory");
        *rows = g;
        *cap = c;
    }
    gl_label_done *d = &(*rows)[*n];
    if (!(d->input = strdup(name))) return gl_fail(err, GL_ERR_NOMEM, "resume: out of memory");
    d->row = v[0], d->col = v[1], d->left = v[2], d->upper = v[3], d->right = v[4];
    d->lower = v[5];
    (*n)++;
    return GL_OK;
}

static int parse_int(const char *s, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    *out = (int)v;
    return end != s && !*end && v >= 0 && v <= 1 << 30;
}

static gl_status done_load_csv(const char *path, gl_label_done **rows, int *n, gl_error *err) {
    gl_csv *c = gl_csv_open(path, 1, err);
    if (!c) return err->code;
    gl_status st = check_csv_header(c, err);
    int cap = 0, r;
    while (!st && (r = gl_csv_next(c, err)) == 1) {
        int v[6], ok = 1;
        for (int k = 0; k < 6; k++)
            ok &= parse_int(gl_csv_field(c, k + 1), &v[k]);
        if (!ok)
            st = gl_fail(err, GL_ERR_FORMAT, "%s:%ld: bad tile numbers", path, gl_csv_line(c));
        else
            st = done_push(rows, n, &cap, gl_csv_field(c, F_INPUT), v, err);
    }
    if (!st && r < 0) st = err->code;
    gl_csv_free(c);
    return st;
}

static gl_status done_load_ogr(const char *path, gl_label_done **rows, int *n, gl_error *err) {
    GDALAllRegister();
    GDALDatasetH ds = GDALOpenEx(path, GDAL_OF_VECTOR | GDAL_OF_READONLY, NULL, NULL, NULL);
    if (!ds) return gl_fail(err, GL_ERR_FORMAT, "%s: cannot read it to resume", path);
    OGRLayerH l = GDALDatasetGetLayerCount(ds) ? GDALDatasetGetLayer(ds, 0) : NULL;
    gl_status st = GL_OK;
    int cap = 0, idx[7];
    for (int k = 0; l && k < 7; k++) {
        const char *name = FIELDS[k ? k : F_INPUT].name; /* idx[0]: the input path */
        if ((idx[k] = OGR_FD_GetFieldIndex(OGR_L_GetLayerDefn(l), name)) < 0)
            st =
                gl_fail(err, GL_ERR_FORMAT, "%s: no '%s' field; cannot resume into it", path, name);
    }
    OGRFeatureH f;
    while (!st && l && (f = OGR_L_GetNextFeature(l))) {
        int v[6];
        for (int k = 0; k < 6; k++)
            v[k] = OGR_F_GetFieldAsInteger(f, idx[k + 1]);
        st = done_push(rows, n, &cap, OGR_F_GetFieldAsString(f, idx[0]), v, err);
        OGR_F_Destroy(f);
    }
    GDALClose(ds);
    return st;
}

gl_status gl_label_done_load(const char *path, gl_label_done **rows, int *n, gl_error *err) {
    *rows = NULL;
    *n = 0;
    gl_label_format fmt;
    gl_status st = gl_label_format_of(path, &fmt, err);
    if (st || fmt == GL_LABEL_TIF || access(path, F_OK) != 0) return st; /* a raster: redo all */
    st =
        fmt == GL_LABEL_CSV ? done_load_csv(path, rows, n, err) : done_load_ogr(path, rows, n, err);
    if (st) {
        gl_label_done_free(*rows, *n);
        *rows = NULL;
        *n = 0;
    }
    return st;
}

void gl_label_done_free(gl_label_done *rows, int n) {
    for (int i = 0; i < n; i++)
        free(rows[i].input);
    free(rows);
}

/* ---------------------------------------------------------------- rows as journal records */

/* Fields are tab-separated; '%' and TAB inside one are written %25 and %09. */
static void put_field(char **buf, size_t *len, size_t *cap, const char *v, int first) {
    size_t need = *len + 3 * strlen(v) + 2;
    if (need > *cap) {
        size_t c = need * 2;
        char *g = realloc(*buf, c);
        if (!g) {
            free(*buf);
            *buf = NULL;
            return;
        }
        *buf = g;
        *cap = c;
    }
    if (!first) (*buf)[(*len)++] = '\t';
    for (; *v; v++)
        if (*v == '%' || *v == '\t')
            *len += (size_t)sprintf(*buf + *len, "%%%02X", (unsigned char)*v);
        else
            (*buf)[(*len)++] = *v;
    (*buf)[*len] = 0;
}

/* The row's fields, then (since the index store) its tile number, top3 and, for raster outputs,
 * every leaf's probability (comma-separated; empty otherwise). */
enum { REC_FIELDS_V1 = 13 + 6 + 16, REC_FIELDS = REC_FIELDS_V1 + 3 };

char *gl_label_row_encode(const gl_label_row *r) {
    char *buf = NULL, num[40];
    size_t len = 0, cap = 0;
    const int ints[] = {r->row, r->col, r->left, r->upper, r->right, r->lower, r->has_geo};
    for (int k = 0; k < 7; k++) {
        snprintf(num, sizeof num, "%d", ints[k]);
        put_field(&buf, &len, &cap, num, k == 0);
        if (!buf) return NULL;
    }
    put_field(&buf, &len, &cap, r->mode, 0);
    if (buf) put_field(&buf, &len, &cap, r->tree, 0);
    if (buf) put_field(&buf, &len, &cap, r->label, 0);
    if (buf) put_field(&buf, &len, &cap, r->description ? r->description : "", 0);
    if (buf) put_field(&buf, &len, &cap, r->llm_error ? r->llm_error : "", 0);
    if (isnan(r->score))
        num[0] = 0;
    else
        snprintf(num, sizeof num, "%.17g", r->score);
    if (buf) put_field(&buf, &len, &cap, num, 0);
    const double reals[6] = {r->x_min, r->y_min, r->x_max, r->y_max, r->lon, r->lat};
    for (int k = 0; buf && k < 6 + 16; k++) {
        double v = k < 6    ? reals[k]
                   : k < 14 ? r->ring_crs[(k - 6) / 2][(k - 6) % 2]
                            : r->ring_lonlat[(k - 14) / 2][(k - 14) % 2];
        snprintf(num, sizeof num, "%.17g", v);
        put_field(&buf, &len, &cap, num, 0);
    }
    snprintf(num, sizeof num, "%d", r->tile);
    if (buf) put_field(&buf, &len, &cap, num, 0);
    if (buf) put_field(&buf, &len, &cap, r->top3 ? r->top3 : "", 0);
    char *probs = malloc((size_t)r->n_leaf_probs * 16 + 1);
    size_t used = 0;
    if (probs) probs[0] = 0;
    for (int k = 0; probs && r->leaf_probs && k < r->n_leaf_probs; k++)
        used += (size_t)sprintf(probs + used, "%s%.9g", k ? "," : "", r->leaf_probs[k]);
    if (buf && probs) put_field(&buf, &len, &cap, probs, 0);
    if (!probs) free(buf), buf = NULL;
    free(probs);
    return buf;
}

/* Undoes put_field's escapes in place. */
static void unescape(char *s) {
    char *o = s;
    for (; *s; s++) {
        unsigned v;
        if (*s == '%' && sscanf(s + 1, "%2x", &v) == 1) {
            *o++ = (char)v;
            s += 2;
        } else {
            *o++ = *s;
        }
    }
    *o = 0;
}

gl_status gl_label_row_decode(char *text, gl_label_row *r, float *probs, int n_probs,
                              gl_error *err) {
    char *f[REC_FIELDS];
    int n = 0;
    for (char *p = text; n < REC_FIELDS; n++) {
        f[n] = p;
        char *tab = strchr(p, '\t');
        if (!tab) {
            n++;
            break;
        }
        *tab = 0;
        p = tab + 1;
    }
    if (n != REC_FIELDS && n != REC_FIELDS_V1)
        return gl_fail(err, GL_ERR_FORMAT, "journal: a row record has %d fields, not %d", n,
                       REC_FIELDS);
    for (int k = 0; k < n; k++)
        unescape(f[k]);
    int *ints[] = {&r->row, &r->col, &r->left, &r->upper, &r->right, &r->lower, &r->has_geo};
    for (int k = 0; k < 7; k++)
        *ints[k] = atoi(f[k]);
    r->mode = f[7], r->tree = f[8], r->label = f[9];
    r->description = *f[10] ? f[10] : NULL;
    r->llm_error = *f[11] ? f[11] : NULL;
    r->score = *f[12] ? strtod(f[12], NULL) : NAN;
    double *reals[6] = {&r->x_min, &r->y_min, &r->x_max, &r->y_max, &r->lon, &r->lat};
    for (int k = 0; k < 6 + 16; k++) {
        double v = strtod(f[13 + k], NULL);
        if (k < 6)
            *reals[k] = v;
        else if (k < 14)
            r->ring_crs[(k - 6) / 2][(k - 6) % 2] = v;
        else
            r->ring_lonlat[(k - 14) / 2][(k - 14) % 2] = v;
    }
    if (n == REC_FIELDS_V1) return GL_OK;
    r->tile = atoi(f[REC_FIELDS_V1]);
    r->top3 = *f[REC_FIELDS_V1 + 1] ? f[REC_FIELDS_V1 + 1] : NULL;
    const char *pr = f[REC_FIELDS_V1 + 2];
    if (!*pr) return GL_OK;
    int k = 0;
    for (char *end; k < n_probs && *pr; k++, pr = *end == ',' ? end + 1 : end) {
        probs[k] = strtof(pr, &end);
        if (end == pr) break;
    }
    if (k != n_probs || *pr)
        return gl_fail(err, GL_ERR_FORMAT, "journal: a row record's probabilities are not %d",
                       n_probs);
    r->leaf_probs = probs;
    r->n_leaf_probs = n_probs;
    return GL_OK;
}

char *gl_label_unit_header(const gl_raster_info *info, const gl_scene_grid *g) {
    size_t n = strlen(info->crs_label) + 256;
    char *h = malloc(n);
    if (h)
        snprintf(h, n, "%s\t\t%d %d %d %.17g %.17g %.17g %.17g %.17g %.17g", info->crs_label,
                 g->width, g->height, g->has_gt, g->gt[0], g->gt[1], g->gt[2], g->gt[3], g->gt[4],
                 g->gt[5]);
    return h;
}

gl_status gl_label_unit_header_parse(const char *header, char **crs, char **wkt, gl_scene_grid *g,
                                     gl_error *err) {
    const char *t1 = strchr(header, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
    memset(g, 0, sizeof *g);
    *crs = t1 ? strndup(header, (size_t)(t1 - header)) : strdup(header);
    *wkt = t1 ? (t2 ? strndup(t1 + 1, (size_t)(t2 - t1 - 1)) : strdup(t1 + 1)) : strdup("");
    if (!*crs || !*wkt) return gl_fail(err, GL_ERR_NOMEM, "label: out of memory");
    if (t2 && sscanf(t2 + 1, "%d %d %d %lf %lf %lf %lf %lf %lf", &g->width, &g->height, &g->has_gt,
                     &g->gt[0], &g->gt[1], &g->gt[2], &g->gt[3], &g->gt[4], &g->gt[5]) != 9)
        return gl_fail(err, GL_ERR_FORMAT, "journal: a unit header's grid is unreadable");
    return GL_OK;
}
