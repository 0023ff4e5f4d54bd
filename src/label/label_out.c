/* label_out.c: the label outputs: CSV with GVL's header plus our columns, GeoJSON (RFC 7946) and
 * GPKG through OGR, all into a temporary file renamed into place; and reading them for --resume. */
#include "label/crs.h"
#include "label/geotiff.h"
#include "label/rows.h"

#include "io/raster_internal.h"

#include <cpl_conv.h>
#include <ctype.h>
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
    case 12: /* the CRS's code, else (a CRS without one) its WKT */
        if (!r->has_geo) return "";
        return gl_crs_column(r->crs, r->crs_wkt);
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
    if (!r->has_geo || isnan(reals[k - 13])) return ""; /* NaN: outside the output CRS */
    snprintf(buf, cap, "%.15g", reals[k - 13]);
    return buf;
}

/* ---------------------------------------------------------------- the writer */

/* Where rows go. GeoJSON: one layer, EPSG:4326 (RFC 7946). GPKG: georeferenced rows in "labels",
 * in one CRS (--crs; else the inputs' own when they share one; else EPSG:4326), or with
 * --layer-per-crs in one layer per input CRS (labels_epsg_32618, or labels_crs_XXXXXXXX for a CRS
 * without a code: a hash of its WKT, so shards agree on names); rows of inputs without a
 * geotransform or CRS in "labels_nogeo", a table without geometry, never in an undefined CRS. */
#define LAYER_MAIN "labels"
#define LAYER_NOGEO "labels_nogeo"

typedef struct {
    char *name;
    OGRLayerH layer;
    OGRSpatialReferenceH srs; /* owned; NULL: no geometry */
} out_layer;

/* How rows of one source CRS are written: the layer and the transformation into its CRS. */
typedef struct {
    char *wkt;                       /* the source CRS as the rows name it */
    OGRSpatialReferenceH srs;        /* parsed, traditional GIS axis order */
    int bound;                       /* layer and ct are set */
    int layer;                       /* into w->layers (OGR) */
    OGRCoordinateTransformationH ct; /* source -> the CRS written; NULL: the same */
    double lat_limit;                /* the source's pole, when geographic (gl_crs_ring) */
} crs_route;

struct gl_label_writer {
    gl_label_format fmt;
    char *path;
    gl_atomic_file csv; /* CSV */
    char *tmp_path;     /* OGR */
    GDALDatasetH ds;
    long n_features; /* features written so far, over every layer */
    /* The CRS written: --crs, or for a GPKG without it the one chosen from the inputs (NULL until
     * chosen, and with --layer-per-crs); GeoJSON geometry is EPSG:4326 whatever this is. */
    OGRSpatialReferenceH target;
    char *target_text; /* the crs column under --crs: "EPSG:3857", or the CRS's WKT */
    int fixed;         /* --crs given: the crs and x/y bound columns are in target too */
    int per_crs;       /* --layer-per-crs */
    int decided;       /* layers chosen, and the old output's rows copied */
    out_layer *layers;
    int n_layers;
    crs_route *routes;
    int n_routes;
    const char *const *redo; /* --resume: the old output's rows to drop (borrowed until commit) */
    int n_redo, resume;
    long n_outside;     /* tiles written without geometry: the output CRS has no place for them */
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

/* ---- CRSs */

gl_status gl_label_output_check(const gl_label_params *p, const char *output, gl_error *err) {
    gl_label_format fmt;
    gl_status st = gl_label_format_of(output, &fmt, err);
    if (st) return st;
    if (p->crs && p->layer_per_crs)
        return gl_fail(err, GL_ERR_ARG, "%s: --crs and --layer-per-crs do not go together", output);
    if (p->layer_per_crs && fmt != GL_LABEL_GPKG)
        return gl_fail(err, GL_ERR_ARG, "%s: --layer-per-crs needs a .gpkg output", output);
    if (!p->crs) return GL_OK;
    if (fmt == GL_LABEL_TIF)
        return gl_fail(err, GL_ERR_ARG,
                       "%s: a .tif is written in each scene's own CRS; --crs is for .gpkg and .csv",
                       output);
    OGRSpatialReferenceH s = gl_crs_parse(p->crs), wgs84 = gl_crs_parse("EPSG:4326");
    if (!s)
        st = gl_fail(err, GL_ERR_ARG, "%s: --crs '%s' is not a CRS GDAL knows", output, p->crs);
    else if (fmt == GL_LABEL_GEOJSON && !gl_crs_same(s, wgs84))
        st = gl_fail(err, GL_ERR_ARG,
                     "%s: GeoJSON is always EPSG:4326 (RFC 7946); --crs '%s' needs .gpkg or .csv",
                     output, p->crs);
    if (s) OSRDestroySpatialReference(s);
    if (wgs84) OSRDestroySpatialReference(wgs84);
    return st;
}

gl_status gl_label_writer_set_crs(gl_label_writer *w, const char *crs, int layer_per_crs,
                                  gl_error *err) {
    if (w->decided) return gl_fail(err, GL_ERR_INTERNAL, "%s: the CRS is set after rows", w->path);
    w->per_crs = layer_per_crs && w->fmt == GL_LABEL_GPKG;
    if (!crs) return GL_OK;
    if (!(w->target = gl_crs_parse(crs)))
        return gl_fail(err, GL_ERR_ARG, "%s: --crs '%s' is not a CRS GDAL knows", w->path, crs);
    if (!(w->target_text = gl_crs_text(w->target)))
        return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", w->path);
    w->fixed = 1;
    return GL_OK;
}

/* The route for rows in the CRS wkt, made (unbound) on first sight; NULL when out of memory. */
static crs_route *route_of(gl_label_writer *w, const char *wkt, gl_error *err) {
    for (int i = 0; i < w->n_routes; i++)
        if (!strcmp(w->routes[i].wkt, wkt)) return &w->routes[i];
    crs_route *g = realloc(w->routes, (size_t)(w->n_routes + 1) * sizeof *g);
    if (!g) {
        gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", w->path);
        return NULL;
    }
    w->routes = g;
    crs_route *r = &g[w->n_routes];
    memset(r, 0, sizeof *r);
    if (!(r->wkt = strdup(wkt))) {
        gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", w->path);
        return NULL;
    }
    if ((r->srs = gl_crs_parse(wkt))) r->lat_limit = gl_crs_lat_limit(r->srs);
    if (!r->srs) {
        free(r->wkt);
        gl_fail(err, GL_ERR_FORMAT, "%s: a row's CRS is not one GDAL reads: %.80s", w->path, wkt);
        return NULL;
    }
    w->n_routes++;
    return r;
}

gl_status gl_label_writer_expect_crs(gl_label_writer *w, const char *wkt, gl_error *err) {
    if (!wkt || !*wkt || w->fmt != GL_LABEL_GPKG) return GL_OK;
    return route_of(w, wkt, err) ? GL_OK : err->code;
}

static gl_status create_layer(gl_label_writer *w, const char *name, OGRSpatialReferenceH srs,
                              int *index, gl_error *err) {
    out_layer *g = realloc(w->layers, (size_t)(w->n_layers + 1) * sizeof *g);
    if (!g) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", w->path);
    w->layers = g;
    out_layer *l = &g[w->n_layers];
    memset(l, 0, sizeof *l);
    if (!(l->name = strdup(name))) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", w->path);
    l->srs = srs ? OSRClone(srs) : NULL;
    if (l->srs) OSRSetAxisMappingStrategy(l->srs, OAMS_TRADITIONAL_GIS_ORDER);
    *index = w->n_layers++;
    char *opts[] = {"RFC7946=YES", "WRITE_NAME=NO", NULL};
    l->layer = GDALDatasetCreateLayer(w->ds, name, l->srs, l->srs ? wkbPolygon : wkbNone,
                                      w->fmt == GL_LABEL_GEOJSON ? opts : NULL);
    if (!l->layer)
        return gl_fail(err, GL_ERR_IO, "%s: cannot create layer %s: %s", w->path, name,
                       CPLGetLastErrorMsg());
    for (int k = 0; k < N_FIELDS; k++) {
        OGRFieldDefnH f = OGR_Fld_Create(FIELDS[k].name, FIELDS[k].type == F_INT    ? OFTInteger
                                                         : FIELDS[k].type == F_REAL ? OFTReal
                                                                                    : OFTString);
        OGRErr e = OGR_L_CreateField(l->layer, f, TRUE);
        OGR_Fld_Destroy(f);
        if (e != OGRERR_NONE)
            return gl_fail(err, GL_ERR_IO, "%s: cannot add field '%s'", w->path, FIELDS[k].name);
    }
    return GL_OK;
}

static int layer_named(const gl_label_writer *w, const char *name) {
    for (int i = 0; i < w->n_layers; i++)
        if (!strcmp(w->layers[i].name, name)) return i;
    return -1;
}

/* The layer of the one output CRS ("labels"), made on first need. A GPKG's CRS, when none is
 * chosen yet (rows no one announced), is srs's, else EPSG:4326; a GeoJSON's is EPSG:4326. */
static gl_status main_layer(gl_label_writer *w, OGRSpatialReferenceH srs, int *index,
                            gl_error *err) {
    if ((*index = layer_named(w, LAYER_MAIN)) >= 0) return GL_OK;
    OGRSpatialReferenceH wgs84 = gl_crs_parse("EPSG:4326");
    if (!wgs84) return gl_fail(err, GL_ERR_INTERNAL, "%s: PROJ does not know EPSG:4326", w->path);
    gl_status st = GL_OK;
    if (w->fmt == GL_LABEL_GEOJSON) {
        st = create_layer(w, LAYER_MAIN, wgs84, index, err);
    } else {
        if (!w->target) {
            w->target = OSRClone(srs ? srs : wgs84);
            OSRSetAxisMappingStrategy(w->target, OAMS_TRADITIONAL_GIS_ORDER);
        }
        st = create_layer(w, LAYER_MAIN, w->target, index, err);
    }
    OSRDestroySpatialReference(wgs84);
    return st;
}

/* --layer-per-crs: labels_epsg_32618, or labels_crs_XXXXXXXX from the WKT's hash. */
static void per_crs_name(const crs_route *r, char *buf, size_t cap) {
    char a[64], k[64];
    if (gl_crs_authority(r->srs, a, sizeof a, k, sizeof k)) {
        snprintf(buf, cap, "labels_%s_%s", a, k);
        for (char *c = buf; *c; c++)
            *c = isalnum((unsigned char)*c) ? (char)tolower((unsigned char)*c) : '_';
    } else {
        snprintf(buf, cap, "labels_crs_%08x", (unsigned)(gl_shard_hash(r->wkt) >> 32));
    }
}

/* Chooses r's layer and transformation. */
static gl_status bind_route(gl_label_writer *w, crs_route *r, gl_error *err) {
    if (r->bound) return GL_OK;
    gl_status st = GL_OK;
    OGRSpatialReferenceH to = w->target;
    if (w->per_crs) {
        r->layer = -1;
        for (int i = 0; i < w->n_layers && r->layer < 0; i++)
            if (w->layers[i].srs && gl_crs_same(w->layers[i].srs, r->srs)) r->layer = i;
        if (r->layer < 0) {
            char name[160];
            per_crs_name(r, name, sizeof name);
            st = create_layer(w, name, r->srs, &r->layer, err);
        }
        to = NULL;
    } else if (w->fmt != GL_LABEL_CSV) {
        st = main_layer(w, r->srs, &r->layer, err);
        /* a GeoJSON's tiles go to its layer's EPSG:4326 as a GPKG's go to its CRS */
        to = w->fmt == GL_LABEL_GEOJSON && !st ? w->layers[r->layer].srs : w->target;
    }
    if (!st && to && !gl_crs_same(r->srs, to)) {
        CPLErrorReset();
        if (!(r->ct = gl_crs_transformation(r->srs, to))) {
            char a[512];
            st = gl_fail(err, GL_ERR_UNSUPPORTED,
                         "%s: no transformation from an input's CRS (%s): %s", w->path,
                         OSRGetName(r->srs) ? OSRGetName(r->srs) : "unnamed",
                         gl_gdal_last_error(a, sizeof a, "PROJ found none"));
        }
    }
    r->bound = !st;
    return st;
}

/* Copies the old output's rows (--resume) but the inputs to redo, each into the layer its CRS
 * goes to now (a mixed run may have moved the CRS). */
static gl_status copy_ogr_rows(gl_label_writer *w, gl_error *err) {
    GDALDatasetH src = GDALOpenEx(w->path, GDAL_OF_VECTOR | GDAL_OF_READONLY, NULL, NULL, NULL);
    if (!src) return gl_fail(err, GL_ERR_FORMAT, "%s: cannot read it to resume", w->path);
    gl_status st = GDALDatasetGetLayerCount(src)
                       ? GL_OK
                       : gl_fail(err, GL_ERR_FORMAT, "%s: no layer to resume", w->path);
    for (int li = 0; !st && li < GDALDatasetGetLayerCount(src); li++) {
        OGRLayerH in = GDALDatasetGetLayer(src, li);
        if (!label_rows_is_tile_layer(in)) continue; /* layer_styles: written anew */
        OGRSpatialReferenceH ls = OGR_L_GetSpatialRef(in);
        int dst = -1;
        OGRCoordinateTransformationH ct = NULL;
        if (ls && OGR_L_GetGeomType(in) != wkbNone && w->per_crs) {
            /* its layer again, under its name: a name from the WKT's hash would change with
             * the WKT's round trip through the GPKG */
            for (int i = 0; i < w->n_layers && dst < 0; i++)
                if (w->layers[i].srs && gl_crs_same(w->layers[i].srs, ls)) dst = i;
            if (dst < 0) st = create_layer(w, OGR_L_GetName(in), ls, &dst, err);
        } else if (ls && OGR_L_GetGeomType(in) != wkbNone) {
            char *wkt = gl_crs_wkt(ls);
            crs_route *r = wkt ? route_of(w, wkt, err) : NULL;
            if (!wkt)
                st = gl_fail(err, GL_ERR_FORMAT, "%s: layer %s's CRS has no WKT", w->path,
                             OGR_L_GetName(in));
            else if (!r)
                st = err->code;
            CPLFree(wkt);
            if (!st) st = bind_route(w, r, err);
            if (!st) dst = r->layer, ct = w->fmt == GL_LABEL_GPKG ? r->ct : NULL;
        } else if (w->fmt == GL_LABEL_GPKG) {
            dst = layer_named(w, LAYER_NOGEO);
            if (dst < 0) st = create_layer(w, LAYER_NOGEO, NULL, &dst, err);
        } else {
            st = main_layer(w, NULL, &dst, err);
        }
        OGRFeatureH f;
        while (!st && (f = OGR_L_GetNextFeature(in))) {
            int fi = OGR_F_GetFieldIndex(f, FIELDS[F_INPUT].name);
            if (fi >= 0 && !is_listed(OGR_F_GetFieldAsString(f, fi), w->redo, w->n_redo)) {
                OGRLayerH out = w->layers[dst].layer;
                OGRFeatureH g = OGR_F_Create(OGR_L_GetLayerDefn(out));
                OGRGeometryH geom;
                if (OGR_F_SetFrom(g, f, TRUE) != OGRERR_NONE) {
                    st = gl_fail(err, GL_ERR_IO, "%s: cannot copy a feature", w->path);
                } else if (ct && (geom = OGR_F_GetGeometryRef(g))) {
                    CPLPushErrorHandler(CPLQuietErrorHandler);
                    OGRErr e = OGR_G_Transform(geom, ct);
                    CPLPopErrorHandler();
                    if (e != OGRERR_NONE) OGR_F_SetGeometryDirectly(g, NULL), w->n_outside++;
                }
                if (!st && OGR_L_CreateFeature(out, g) != OGRERR_NONE)
                    st = gl_fail(err, GL_ERR_IO, "%s: cannot copy a feature: %s", w->path,
                                 CPLGetLastErrorMsg());
                if (!st) w->n_features++;
                OGR_F_Destroy(g);
            }
            OGR_F_Destroy(f);
        }
    }
    GDALClose(src);
    return st;
}

/* Before the first row: the GPKG's CRS from every CRS announced (the inputs' and the old
 * output's), then the old output's rows. */
static gl_status decide(gl_label_writer *w, gl_error *err) {
    if (w->decided || w->fmt == GL_LABEL_CSV) return GL_OK;
    w->decided = 1;
    gl_status st = GL_OK;
    int idx;
    if (w->fmt == GL_LABEL_GEOJSON) {
        st = main_layer(w, NULL, &idx, err);
    } else if (!w->target && !w->per_crs && w->n_routes) {
        int n = 0;
        for (int i = 0; i < w->n_routes; i++) {
            int seen = 0;
            for (int k = 0; k < i && !seen; k++)
                seen = gl_crs_same(w->routes[k].srs, w->routes[i].srs);
            n += !seen;
        }
        if (n > 1) {
            gl_log(GL_LOG_INFO,
                   "%s: the inputs are in %d CRSs; the layer is in EPSG:4326 (--crs or "
                   "--layer-per-crs choose otherwise)",
                   w->path, n);
        }
        st = main_layer(w, n == 1 ? w->routes[0].srs : NULL, &idx, err);
    }
    if (!st && w->resume && access(w->path, F_OK) == 0) st = copy_ogr_rows(w, err);
    return st;
}

/* The old GPKG's layer CRSs count among the inputs' when the CRS is chosen. */
static gl_status expect_old_layers(gl_label_writer *w, gl_error *err) {
    GDALDatasetH src = GDALOpenEx(w->path, GDAL_OF_VECTOR | GDAL_OF_READONLY, NULL, NULL, NULL);
    if (!src) return gl_fail(err, GL_ERR_FORMAT, "%s: cannot read it to resume", w->path);
    gl_status st = GL_OK;
    for (int li = 0; !st && li < GDALDatasetGetLayerCount(src); li++) {
        OGRLayerH l = GDALDatasetGetLayer(src, li);
        OGRSpatialReferenceH ls = OGR_L_GetSpatialRef(l);
        if (!ls || OGR_L_GetGeomType(l) == wkbNone || !OGR_L_GetFeatureCount(l, TRUE)) continue;
        char *wkt = gl_crs_wkt(ls);
        if (wkt) st = gl_label_writer_expect_crs(w, wkt, err);
        CPLFree(wkt);
    }
    GDALClose(src);
    return st;
}

static gl_status open_ogr(gl_label_writer *w, gl_error *err) {
    gl_gdal_init();
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
        w->redo = redo, w->n_redo = n_redo, w->resume = resume;
        st = open_ogr(w, err);
        if (!st && resume && w->fmt == GL_LABEL_GPKG && access(path, F_OK) == 0)
            st = expect_old_layers(w, err);
    }
    if (st) {
        gl_label_writer_abort(w);
        return NULL;
    }
    return w;
}

static void write_csv_row(gl_label_writer *w, const gl_label_row *r) {
    char buf[64];
    for (int k = 0; k < N_FIELDS; k++) {
        if (k) fputc(',', w->csv.fp);
        gl_csv_write_field(w->csv.fp, field_text(r, k, buf, sizeof buf));
    }
    fputs("\r\n", w->csv.fp);
}

static gl_status add_feature(gl_label_writer *w, int layer, const gl_label_row *r, OGRGeometryH g,
                             gl_error *err) {
    OGRFeatureH f = OGR_F_Create(OGR_L_GetLayerDefn(w->layers[layer].layer));
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
    if (g) OGR_F_SetGeometryDirectly(f, g);
    OGRErr e = OGR_L_CreateFeature(w->layers[layer].layer, f);
    OGR_F_Destroy(f);
    if (e != OGRERR_NONE)
        return gl_fail(err, GL_ERR_IO, "%s: cannot write a feature: %s", w->path,
                       CPLGetLastErrorMsg());
    w->n_features++;
    return GL_OK;
}

gl_status gl_label_writer_add(gl_label_writer *w, const gl_label_row *r, gl_error *err) {
    if (w->fmt == GL_LABEL_TIF)
        return w->tif ? gl_tif_writer_add(w->tif, r, err)
                      : gl_fail(err, GL_ERR_INTERNAL, "%s: no class list", w->path);
    gl_status st = decide(w, err);
    const char *wkt = r->crs_wkt && *r->crs_wkt ? r->crs_wkt : r->crs;
    int geo = r->has_geo && wkt && *wkt;
    crs_route *route = NULL;
    if (!st && geo && (w->fixed || w->fmt != GL_LABEL_CSV)) {
        route = route_of(w, wkt, err);
        st = route ? bind_route(w, route, err) : err->code;
    }
    if (st) return st;
    gl_label_row row = *r;
    OGRGeometryH g = NULL;
    if (route && route->ct) {
        if (!(g = gl_crs_tile(route->ct, r->ring_crs, route->lat_limit))) w->n_outside++;
    }
    if (route && w->fixed) { /* the crs and bound columns in --crs's CRS */
        row.crs = w->target_text;
        row.crs_wkt = NULL;
        OGREnvelope e = {NAN, NAN, NAN, NAN};
        if (g) OGR_G_GetEnvelope(g, &e);
        if (route->ct)
            row.x_min = e.MinX, row.x_max = e.MaxX, row.y_min = e.MinY, row.y_max = e.MaxY;
    }
    if (w->fmt == GL_LABEL_CSV && g) OGR_G_DestroyGeometry(g), g = NULL;
    if (w->fmt == GL_LABEL_CSV) {
        write_csv_row(w, &row);
        return GL_OK;
    }
    int layer = -1;
    if (!geo) {
        /* GeoJSON: a null geometry in its one layer; GPKG: the table without geometry */
        if (w->fmt == GL_LABEL_GEOJSON)
            st = main_layer(w, NULL, &layer, err);
        else if ((layer = layer_named(w, LAYER_NOGEO)) < 0)
            st = create_layer(w, LAYER_NOGEO, NULL, &layer, err);
    } else {
        layer = route->layer;
        /* In the output's own CRS: the corners as they are (a GeoJSON's from the run's lon/lat,
         * whose latitudes stop at the poles) */
        if (!route->ct)
            g = gl_crs_polygon(w->fmt == GL_LABEL_GEOJSON ? r->ring_lonlat : r->ring_crs, 4);
    }
    if (st) {
        if (g) OGR_G_DestroyGeometry(g);
        return st;
    }
    return add_feature(w, layer, &row, g, err);
}

static void free_writer(gl_label_writer *w) {
    gl_strings_free(w->classes, w->n_classes);
    gl_colors_free(w->colors);
    for (int i = 0; i < w->n_layers; i++) {
        free(w->layers[i].name);
        if (w->layers[i].srs) OSRDestroySpatialReference(w->layers[i].srs);
    }
    free(w->layers);
    for (int i = 0; i < w->n_routes; i++) {
        free(w->routes[i].wkt);
        if (w->routes[i].srs) OSRDestroySpatialReference(w->routes[i].srs);
        if (w->routes[i].ct) OCTDestroyCoordinateTransformation(w->routes[i].ct);
    }
    free(w->routes);
    if (w->target) OSRDestroySpatialReference(w->target);
    free(w->target_text);
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
    long n = ds ? 0 : -1;
    for (int i = 0; ds && i < GDALDatasetGetLayerCount(ds); i++)
        if (label_rows_is_tile_layer(GDALDatasetGetLayer(ds, i)))
            n += (long)OGR_L_GetFeatureCount(GDALDatasetGetLayer(ds, i), TRUE);
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
        int idx;
        st = decide(w, err);
        /* An empty run still leaves a valid, empty layer. */
        if (!st && !w->per_crs) st = main_layer(w, NULL, &idx, err);
        if (!st && w->per_crs && !w->n_layers) st = main_layer(w, NULL, &idx, err);
        /* Every layer's style inside the GPKG; the .qml below styles a single-layer file. */
        if (!st && w->fmt == GL_LABEL_GPKG && w->classes)
            st = gl_qml_gpkg_styles(w->ds, w->path, (const char *const *)w->classes, w->n_classes,
                                    w->colors, err);
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
    if (!st && w->n_outside)
        gl_log(GL_LOG_WARN,
               "%s: %ld tiles lie outside what the output CRS can hold: their rows have no "
               "geometry%s",
               w->path, w->n_outside, w->fixed ? " and no x/y bounds" : "");
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

/* Every layer: a GPKG may hold one per CRS and one without geometry. */
static gl_status done_load_ogr(const char *path, gl_label_done **rows, int *n, gl_error *err) {
    gl_gdal_init();
    GDALDatasetH ds = GDALOpenEx(path, GDAL_OF_VECTOR | GDAL_OF_READONLY, NULL, NULL, NULL);
    if (!ds) return gl_fail(err, GL_ERR_FORMAT, "%s: cannot read it to resume", path);
    gl_status st = GL_OK;
    int cap = 0, idx[7];
    for (int li = 0; !st && li < GDALDatasetGetLayerCount(ds); li++) {
        OGRLayerH l = GDALDatasetGetLayer(ds, li);
        if (!label_rows_is_tile_layer(l)) continue;
        for (int k = 0; !st && k < 7; k++) {
            const char *name = FIELDS[k ? k : F_INPUT].name; /* idx[0]: the input path */
            if ((idx[k] = OGR_FD_GetFieldIndex(OGR_L_GetLayerDefn(l), name)) < 0)
                st = gl_fail(err, GL_ERR_FORMAT,
                             "%s: no '%s' field in layer %s; cannot resume "
                             "into it",
                             path, name, OGR_L_GetName(l));
        }
        OGRFeatureH f;
        while (!st && (f = OGR_L_GetNextFeature(l))) {
            int v[6];
            for (int k = 0; k < 6; k++)
                v[k] = OGR_F_GetFieldAsInteger(f, idx[k + 1]);
            st = done_push(rows, n, &cap, OGR_F_GetFieldAsString(f, idx[0]), v, err);
            OGR_F_Destroy(f);
        }
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
    /* rows are placed only with a geotransform too: a CRS alone places nothing */
    const char *wkt = info->has_crs && info->has_geotransform && info->crs_wkt ? info->crs_wkt : "";
    size_t n = strlen(info->crs_label) + strlen(wkt) + 256;
    char *h = malloc(n);
    if (h)
        snprintf(h, n, "%s\t%s\t%d %d %d %.17g %.17g %.17g %.17g %.17g %.17g", info->crs_label, wkt,
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
