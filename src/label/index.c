/* index.c: the tile-embedding store (format in index.h): written through OGR into a GeoPackage in
 * committed batches that survive kill -9, and read back by streaming SQLite cursors over the BLOBs.
 */
#include "label/index.h"
#include "label/crs.h"
#include "core/half.h"

#include <cpl_conv.h>
#include <errno.h>
#include <fcntl.h>
#include <gdal.h>
#include <math.h>
#include <ogr_api.h>
#include <cjson/cJSON.h>
#include <ogr_srs_api.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef __F16C__
#include <immintrin.h>
#endif

#define COMMIT_SECONDS 2.0
#define MAX_DIM 65536
#define MAX_META 64

/* ---------------------------------------------------------------- float16 */

/* F16C converts 8 at a time where the CPU has it; core/half.c is the exact scalar rule. */
void gl_f16_encode(const float *in, uint16_t *out, size_t n) {
    size_t i = 0;
#ifdef __F16C__
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(out + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT));
#endif
    for (; i < n; i++)
        out[i] = gl_float_to_half(in[i]);
}

void gl_f16_decode(const uint16_t *in, float *out, size_t n) {
    size_t i = 0;
#ifdef __F16C__
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(in + i))));
#endif
    for (; i < n; i++)
        out[i] = gl_half_to_float(in[i]);
}

/* ---------------------------------------------------------------- shared */

typedef enum { T_STR, T_INT, T_REAL, T_BLOB } col_type;
static const struct {
    const char *name;
    col_type type;
} TILE_FIELDS[] = {
    {"input_id", T_INT}, {"input", T_STR},    {"filename", T_STR}, {"tile", T_INT},
    {"row", T_INT},      {"col", T_INT},      {"left", T_INT},     {"upper", T_INT},
    {"right", T_INT},    {"lower", T_INT},    {"nodata", T_INT},   {"crs", T_STR},
    {"lon", T_REAL},     {"lat", T_REAL},     {"lon_min", T_REAL}, {"lat_min", T_REAL},
    {"lon_max", T_REAL}, {"lat_max", T_REAL}, {"corners", T_BLOB}, {"embedding", T_BLOB}};
enum {
    F_INPUT_ID,
    F_INPUT,
    F_FILENAME,
    F_TILE,
    F_ROW,
    F_COL,
    F_LEFT,
    F_UPPER,
    F_RIGHT,
    F_LOWER,
    F_NODATA,
    F_CRS,
    F_LON,
    F_LAT,
    F_LON_MIN,
    F_LAT_MIN,
    F_LON_MAX,
    F_LAT_MAX,
    F_CORNERS,
    F_EMBEDDING,
    N_TILE_FIELDS
};
static const char *const INPUT_FIELDS[] = {"input",        "filename", "width", "height",
                                           "geotransform", "crs_wkt",  "tiles", "complete"};
enum {
    I_INPUT,
    I_FILENAME,
    I_WIDTH,
    I_HEIGHT,
    I_GT,
    I_CRS_WKT,
    I_TILES,
    I_COMPLETE,
    N_INPUT_FIELDS
};

gl_manifest *gl_index_manifest(gl_clip *clip, const gl_label_params *p, const gl_index_spec *s,
                               gl_error *err) {
    gl_run_text rt;
    gl_label_run_text(p, &rt);
    const gl_preproc_config *pp = s->preproc;
    char dim[16], views[16], size[16], prep[320];
    snprintf(dim, sizeof dim, "%d", s->dim);
    snprintf(views, sizeof views, "%d", s->views);
    snprintf(size, sizeof size, "%d", s->image_size);
    snprintf(prep, sizeof prep,
             "shortest_edge=%d crop=%dx%d size=%dx%d rescale=%g mean=%g,%g,%g std=%g,%g,%g",
             pp ? pp->resize_shortest_edge : 0, pp ? pp->crop_width : 0, pp ? pp->crop_height : 0,
             pp ? pp->resize_width : 0, pp ? pp->resize_height : 0, pp ? pp->rescale_factor : 0,
             pp ? pp->mean[0] : 0, pp ? pp->mean[1] : 0, pp ? pp->mean[2] : 0, pp ? pp->std[0] : 0,
             pp ? pp->std[1] : 0, pp ? pp->std[2] : 0);
    const char *kv[][2] = {{"format", GL_INDEX_FORMAT},
                           {"format_version", GL_INDEX_FORMAT_VERSION},
                           {"version", GL_VERSION},
                           {"model", p->model_name ? p->model_name : ""},
                           {"model_hash", gl_clip_model_hash(clip)},
                           {"dim", dim},
                           {"views", views},
                           {"tta", rt.tta},
                           {"dtype", s->dtype == GL_EMB_F32 ? "f32" : "f16"},        /* as stored */
                           {"compute_dtype", gl_dtype_name(gl_clip_dtype(clip, 1))}, /* --dtype */
                           {"image_size", size},
                           {"preprocessing", prep},
                           {"tiling", rt.tiling},
                           {"bands", rt.bands},
                           {"stretch", rt.stretch},
                           {"layer_crs", s->layer_crs ? s->layer_crs : "EPSG:4326"}};
    gl_manifest *m = gl_manifest_new(err);
    for (size_t i = 0; m && i < sizeof kv / sizeof kv[0]; i++)
        if (gl_manifest_set(m, kv[i][0], kv[i][1], err)) {
            gl_manifest_free(m);
            m = NULL;
        }
    return m;
}

/* What --resume compares: all but the model as named (its hash is compared) and the version. */
static int resume_key(const char *key) {
    return strcmp(key, "model") && strcmp(key, "version") && strcmp(key, "created");
}

/* ---------------------------------------------------------------- the writer */

struct gl_index_writer {
    char *path, *part;
    GDALDatasetH ds;
    OGRLayerH tiles, inputs;
    OGRSpatialReferenceH layer_srs;
    OGRCoordinateTransformationH ct; /* the current input's CRS to the layer's; NULL: the same */
    int placed;                      /* the current input has a CRS to place its tiles by */
    double lat_limit;                /* its pole, when geographic (gl_crs_ring) */
    int dim, views;
    gl_emb_dtype dtype;
    void *blob; /* one tile's embedding as stored */
    long input_id;
    int in_tx;
    double last_commit;
};

static gl_status ogr_fail(gl_index_writer *w, const char *what, gl_error *err) {
    return gl_fail(err, GL_ERR_IO, "%s: cannot %s: %s", w->part, what, CPLGetLastErrorMsg());
}

static gl_status tx_begin(gl_index_writer *w, gl_error *err) {
    if (w->in_tx) return GL_OK;
    if (GDALDatasetStartTransaction(w->ds, FALSE) != OGRERR_NONE)
        return ogr_fail(w, "start a transaction", err);
    w->in_tx = 1;
    w->last_commit = gl_now_seconds();
    return GL_OK;
}

static gl_status tx_commit(gl_index_writer *w, gl_error *err) {
    if (!w->in_tx) return GL_OK;
    w->in_tx = 0;
    if (GDALDatasetCommitTransaction(w->ds) != OGRERR_NONE)
        return ogr_fail(w, "commit a batch of tiles", err);
    return GL_OK;
}

static gl_status add_fields(gl_index_writer *w, OGRLayerH l, const char *const *names,
                            const col_type *types, int n, gl_error *err) {
    for (int k = 0; k < n; k++) {
        OGRFieldType t = types[k] == T_INT    ? OFTInteger64
                         : types[k] == T_REAL ? OFTReal
                         : types[k] == T_BLOB ? OFTBinary
                                              : OFTString;
        OGRFieldDefnH f = OGR_Fld_Create(names[k], t);
        OGRErr e = OGR_L_CreateField(l, f, TRUE);
        OGR_Fld_Destroy(f);
        if (e != OGRERR_NONE) return ogr_fail(w, "add a field", err);
    }
    return GL_OK;
}

/* The manifest's string members as a cJSON object (to walk them); NULL when out of memory. */
static cJSON *manifest_object(const gl_manifest *m, gl_error *err) {
    char *text = gl_manifest_to_json(m, err);
    cJSON *o = text ? cJSON_Parse(text) : NULL;
    if (text && !o) gl_fail(err, GL_ERR_NOMEM, "manifest: out of memory");
    free(text);
    return o;
}

static gl_status create_layers(gl_index_writer *w, const gl_manifest *m, gl_error *err) {
    char *opts[] = {"FID=fid", "GEOMETRY_NAME=geom", NULL};
    w->tiles = GDALDatasetCreateLayer(w->ds, "tiles", w->layer_srs, wkbPolygon, opts);
    if (!w->tiles) return ogr_fail(w, "create the tiles layer", err);
    const char *names[N_TILE_FIELDS];
    col_type types[N_TILE_FIELDS];
    for (int k = 0; k < N_TILE_FIELDS; k++)
        names[k] = TILE_FIELDS[k].name, types[k] = TILE_FIELDS[k].type;
    gl_status st = add_fields(w, w->tiles, names, types, N_TILE_FIELDS, err);
    col_type it[N_INPUT_FIELDS] = {T_STR, T_STR, T_INT, T_INT, T_STR, T_STR, T_INT, T_INT};
    if (!st && !(w->inputs = GDALDatasetCreateLayer(w->ds, "geolabel_inputs", NULL, wkbNone,
                                                    (char *[]){"FID=id", NULL})))
        st = ogr_fail(w, "create the inputs table", err);
    if (!st) st = add_fields(w, w->inputs, INPUT_FIELDS, it, N_INPUT_FIELDS, err);
    OGRLayerH meta =
        st ? NULL : GDALDatasetCreateLayer(w->ds, "geolabel_meta", NULL, wkbNone, NULL);
    if (!st && !meta) st = ogr_fail(w, "create the metadata table", err);
    const char *mk[2] = {"key", "value"};
    col_type mt[2] = {T_STR, T_STR};
    if (!st) st = add_fields(w, meta, mk, mt, 2, err);
    cJSON *o = st ? NULL : manifest_object(m, err);
    if (!st && !o) st = err->code;
    char created[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
    cJSON_AddStringToObject(o, "created", created);
    const cJSON *it2;
    cJSON_ArrayForEach(it2, o) {
        if (st || !cJSON_IsString(it2)) continue;
        OGRFeatureH f = OGR_F_Create(OGR_L_GetLayerDefn(meta));
        OGR_F_SetFieldString(f, 0, it2->string);
        OGR_F_SetFieldString(f, 1, it2->valuestring);
        if (OGR_L_CreateFeature(meta, f) != OGRERR_NONE) st = ogr_fail(w, "write metadata", err);
        OGR_F_Destroy(f);
    }
    cJSON_Delete(o);
    return st;
}

/* --resume: the stored metadata must be what this run would write (resume_key's keys). */
static gl_status check_meta(gl_index_writer *w, const gl_manifest *m, gl_error *err) {
    OGRLayerH meta = GDALDatasetGetLayerByName(w->ds, "geolabel_meta");
    w->tiles = GDALDatasetGetLayerByName(w->ds, "tiles");
    w->inputs = GDALDatasetGetLayerByName(w->ds, "geolabel_inputs");
    if (!meta || !w->tiles || !w->inputs)
        return gl_fail(err, GL_ERR_FORMAT, "%s: not a geolabel index; cannot resume into it",
                       w->part);
    gl_manifest *want = gl_manifest_new(err), *have = want ? gl_manifest_new(err) : NULL;
    cJSON *o = have ? manifest_object(m, err) : NULL;
    gl_status st = o ? GL_OK : err->code;
    const cJSON *it;
    cJSON_ArrayForEach(it, o) {
        if (!st && cJSON_IsString(it) && resume_key(it->string))
            st = gl_manifest_set(want, it->string, it->valuestring, err);
    }
    cJSON_Delete(o);
    OGR_L_ResetReading(meta);
    OGRFeatureH f;
    while (!st && (f = OGR_L_GetNextFeature(meta))) {
        const char *k = OGR_F_GetFieldAsString(f, 0);
        if (resume_key(k)) st = gl_manifest_set(have, k, OGR_F_GetFieldAsString(f, 1), err);
        OGR_F_Destroy(f);
    }
    if (!st)
        st = gl_manifest_require(want, have, w->part,
                                 "cannot resume: start afresh without --resume", err);
    gl_manifest_free(want);
    gl_manifest_free(have);
    return st;
}

static gl_status copy_file(const char *from, const char *to, gl_error *err) {
    FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
    gl_status st = GL_OK;
    if (!in || !out)
        st = gl_fail(err, GL_ERR_IO, "%s: cannot copy to %s: %s", from, to, strerror(errno));
    char buf[1 << 16];
    size_t n;
    while (!st && (n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            st = gl_fail(err, GL_ERR_IO, "%s: %s", to, strerror(errno));
    if (in) fclose(in);
    if (out && fclose(out) && !st) st = gl_fail(err, GL_ERR_IO, "%s: %s", to, strerror(errno));
    return st;
}

static gl_status writer_setup(gl_index_writer *w, const gl_manifest *m, const gl_index_spec *s,
                              int resume, gl_error *err) {
    GDALAllRegister();
    if (s->dim <= 0 || s->dim > MAX_DIM || s->views < 1 || s->views > 8)
        return gl_fail(err, GL_ERR_ARG, "%s: %d views of dimension %d", w->path, s->views, s->dim);
    w->dim = s->dim, w->views = s->views, w->dtype = s->dtype;
    size_t es = s->dtype == GL_EMB_F32 ? 4 : 2;
    if (!(w->blob = malloc((size_t)s->views * s->dim * es)))
        return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", w->path);
    if (!(w->layer_srs = gl_crs_parse(s->layer_crs ? s->layer_crs : "EPSG:4326")))
        return gl_fail(err, GL_ERR_ARG, "%s: --crs '%s' is not a CRS GDAL knows", w->path,
                       s->layer_crs);
    struct stat sb;
    int have_part = stat(w->part, &sb) == 0, have_out = stat(w->path, &sb) == 0;
    if (resume && !have_part && have_out) {
        gl_status st = copy_file(w->path, w->part, err);
        if (st) return st;
        have_part = 1;
    }
    if (!resume || !have_part) {
        unlink(w->part);
        GDALDriverH drv = GDALGetDriverByName("GPKG");
        if (!drv) return gl_fail(err, GL_ERR_INTERNAL, "%s: GDAL has no GPKG driver", w->path);
        if (!(w->ds = GDALCreate(drv, w->part, 0, 0, 0, GDT_Unknown, NULL)))
            return ogr_fail(w, "create", err);
        gl_status st = tx_begin(w, err);
        if (!st) st = create_layers(w, m, err);
        if (!st) st = tx_commit(w, err);
        return st;
    }
    const char *drivers[] = {"GPKG", NULL};
    w->ds = GDALOpenEx(w->part, GDAL_OF_VECTOR | GDAL_OF_UPDATE, drivers, NULL, NULL);
    if (!w->ds)
        return gl_fail(err, GL_ERR_FORMAT, "%s: cannot reopen the index to resume: %s", w->part,
                       CPLGetLastErrorMsg());
    return check_meta(w, m, err);
}

/* STEM.part.gpkg for STEM.gpkg (the GPKG driver wants its extension last). malloc'ed. */
static char *part_path(const char *path) {
    size_t n = strlen(path) + 16;
    char *part = malloc(n);
    if (part) snprintf(part, n, "%.*s.part.gpkg", (int)(strlen(path) - 5), path);
    return part;
}

gl_index_writer *gl_index_writer_open(const char *path, const gl_manifest *m,
                                      const gl_index_spec *spec, int resume, gl_error *err) {
    if (!gl_path_has_suffix(path, ".gpkg")) {
        gl_fail(err, GL_ERR_ARG, "%s: an index is a GeoPackage; its name must end in .gpkg", path);
        return NULL;
    }
    gl_index_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path)) || !(w->part = part_path(path))) {
        if (w) free(w->path);
        free(w);
        gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    w->input_id = -1;
    if (writer_setup(w, m, spec, resume, err)) {
        gl_index_writer_abort(w);
        return NULL;
    }
    return w;
}

static void format_gt(const gl_scene_grid *g, char *buf, size_t cap) {
    if (!g->has_gt) {
        buf[0] = 0;
        return;
    }
    snprintf(buf, cap, "%.17g %.17g %.17g %.17g %.17g %.17g", g->gt[0], g->gt[1], g->gt[2],
             g->gt[3], g->gt[4], g->gt[5]);
}

/* The attribute filter selecting input's row of geolabel_inputs (malloc'ed; NULL: no memory).
 * OGR SQL quotes an apostrophe by doubling it. */
static char *input_filter(const char *input) {
    size_t n = strlen(input);
    char *q = malloc(2 * n + 16), *o = q;
    if (!q) return NULL;
    o += sprintf(o, "input = '");
    for (size_t i = 0; i < n; i++) {
        if (input[i] == '\'') *o++ = '\'';
        *o++ = input[i];
    }
    strcpy(o, "'");
    return q;
}

int gl_index_writer_complete(gl_index_writer *w, const char *input) {
    char *q = input_filter(input);
    if (!q) return 0;
    OGR_L_SetAttributeFilter(w->inputs, q);
    OGR_L_ResetReading(w->inputs);
    OGRFeatureH f = OGR_L_GetNextFeature(w->inputs);
    int complete = f && OGR_F_GetFieldAsInteger64(f, I_COMPLETE) != 0;
    if (f) OGR_F_Destroy(f);
    OGR_L_SetAttributeFilter(w->inputs, NULL);
    free(q);
    return complete;
}

/* Finds the input's row; resumed inputs must have the same grid. */
static gl_status find_input(gl_index_writer *w, const gl_scene_grid *g, int n_tiles, long *done,
                            gl_error *err) {
    *done = 0;
    w->input_id = -1;
    char *q = input_filter(g->input);
    if (!q) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", w->part);
    gl_status st = GL_OK;
    if (q) {
        OGR_L_SetAttributeFilter(w->inputs, q);
        OGR_L_ResetReading(w->inputs);
        OGRFeatureH f = OGR_L_GetNextFeature(w->inputs);
        if (f) {
            w->input_id = OGR_F_GetFID(f);
            if (OGR_F_GetFieldAsInteger(f, I_WIDTH) != g->width ||
                OGR_F_GetFieldAsInteger(f, I_HEIGHT) != g->height ||
                OGR_F_GetFieldAsInteger64(f, I_TILES) != n_tiles)
                st = gl_fail(err, GL_ERR_ARG,
                             "%s: %s was indexed as a %dx%d grid of %lld tiles, now %dx%d with %d; "
                             "cannot resume",
                             w->part, g->input, OGR_F_GetFieldAsInteger(f, I_WIDTH),
                             OGR_F_GetFieldAsInteger(f, I_HEIGHT),
                             (long long)OGR_F_GetFieldAsInteger64(f, I_TILES), g->width, g->height,
                             n_tiles);
            OGR_F_Destroy(f);
        }
        OGR_L_SetAttributeFilter(w->inputs, NULL);
        free(q);
    }
    if (st || w->input_id < 0) return st;
    /* Batches are committed in tiling order, so the tile after the last stored one is where to go
     * on (a shard by tile stores only some tiles, so not the count). */
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT COALESCE(MAX(tile) + 1, 0) FROM tiles WHERE input_id = %ld",
             w->input_id);
    OGRLayerH r = GDALDatasetExecuteSQL(w->ds, sql, NULL, NULL);
    OGRFeatureH f = r ? OGR_L_GetNextFeature(r) : NULL;
    if (f) *done = OGR_F_GetFieldAsInteger64(f, 0);
    if (f) OGR_F_Destroy(f);
    if (r) GDALDatasetReleaseResultSet(w->ds, r);
    return GL_OK;
}

gl_status gl_index_writer_begin(gl_index_writer *w, const gl_scene_grid *g, int n_tiles, long *done,
                                gl_error *err) {
    if (w->ct) OCTDestroyCoordinateTransformation(w->ct);
    w->ct = NULL;
    w->placed = 0;
    gl_status st = find_input(w, g, n_tiles, done, err);
    if (!st && w->input_id < 0) {
        st = tx_begin(w, err);
        OGRFeatureH f = OGR_F_Create(OGR_L_GetLayerDefn(w->inputs));
        char gt[256];
        format_gt(g, gt, sizeof gt);
        OGR_F_SetFieldString(f, I_INPUT, g->input);
        OGR_F_SetFieldString(f, I_FILENAME, g->filename);
        OGR_F_SetFieldInteger64(f, I_WIDTH, g->width);
        OGR_F_SetFieldInteger64(f, I_HEIGHT, g->height);
        OGR_F_SetFieldString(f, I_GT, gt);
        OGR_F_SetFieldString(f, I_CRS_WKT, g->crs_wkt ? g->crs_wkt : "");
        OGR_F_SetFieldInteger64(f, I_TILES, n_tiles);
        OGR_F_SetFieldInteger64(f, I_COMPLETE, 0);
        if (!st && OGR_L_CreateFeature(w->inputs, f) != OGRERR_NONE)
            st = ogr_fail(w, "record an input", err);
        w->input_id = OGR_F_GetFID(f);
        OGR_F_Destroy(f);
        if (!st) st = tx_commit(w, err);
    }
    OGRSpatialReferenceH s = !st && g->crs_wkt && *g->crs_wkt ? gl_crs_parse(g->crs_wkt) : NULL;
    if (s && !gl_crs_same(s, w->layer_srs)) {
        w->ct = gl_crs_transformation(s, w->layer_srs);
        w->lat_limit = gl_crs_lat_limit(s);
    }
    w->placed = s && (w->ct || gl_crs_same(s, w->layer_srs));
    if (s) OSRDestroySpatialReference(s);
    return st;
}

static void set_real(OGRFeatureH f, int k, double v, int valid) {
    if (valid && isfinite(v))
        OGR_F_SetFieldDouble(f, k, v);
    else
        OGR_F_SetFieldNull(f, k);
}

/* The tile's polygon in the layer CRS (densified and checked as label's outputs do), or NULL:
 * no georeference, or no place in that CRS. */
static OGRGeometryH tile_polygon(gl_index_writer *w, const gl_label_row *r) {
    return r->has_geo && w->placed ? gl_crs_tile(w->ct, r->ring_crs, w->lat_limit) : NULL;
}

gl_status gl_index_writer_add(gl_index_writer *w, int tile, const gl_label_row *r, const float *emb,
                              gl_error *err) {
    gl_status st = tx_begin(w, err);
    if (st) return st;
    OGRFeatureH f = OGR_F_Create(OGR_L_GetLayerDefn(w->tiles));
    const long ints[] = {w->input_id, tile,     r->row,   r->col,     r->left,
                         r->upper,    r->right, r->lower, emb == NULL};
    const int ik[] = {F_INPUT_ID, F_TILE,  F_ROW,   F_COL,   F_LEFT,
                      F_UPPER,    F_RIGHT, F_LOWER, F_NODATA};
    for (int k = 0; k < 9; k++)
        OGR_F_SetFieldInteger64(f, ik[k], ints[k]);
    OGR_F_SetFieldString(f, F_FILENAME, r->filename);
    OGR_F_SetFieldString(f, F_INPUT, r->input ? r->input : r->filename);
    OGR_F_SetFieldString(f, F_CRS, r->has_geo && r->crs ? r->crs : "");
    double bb[4] = {INFINITY, INFINITY, -INFINITY, -INFINITY};
    for (int k = 0; k < 4; k++) {
        bb[0] = fmin(bb[0], r->ring_lonlat[k][0]), bb[2] = fmax(bb[2], r->ring_lonlat[k][0]);
        bb[1] = fmin(bb[1], r->ring_lonlat[k][1]), bb[3] = fmax(bb[3], r->ring_lonlat[k][1]);
    }
    set_real(f, F_LON, r->lon, r->has_geo);
    set_real(f, F_LAT, r->lat, r->has_geo);
    for (int k = 0; k < 4; k++)
        set_real(f, F_LON_MIN + k, bb[k], r->has_geo);
    if (r->has_geo) {
        double c[16];
        memcpy(c, r->ring_crs, sizeof r->ring_crs);
        memcpy(c + 8, r->ring_lonlat, sizeof r->ring_lonlat);
        OGR_F_SetFieldBinary(f, F_CORNERS, (int)sizeof c, (const void *)c);
    } else {
        OGR_F_SetFieldNull(f, F_CORNERS);
    }
    size_t n = (size_t)w->views * w->dim;
    if (emb && w->dtype == GL_EMB_F16) {
        gl_f16_encode(emb, w->blob, n);
        OGR_F_SetFieldBinary(f, F_EMBEDDING, (int)(n * 2), w->blob);
    } else if (emb) {
        memcpy(w->blob, emb, n * 4);
        OGR_F_SetFieldBinary(f, F_EMBEDDING, (int)(n * 4), w->blob);
    } else {
        OGR_F_SetFieldNull(f, F_EMBEDDING);
    }
    OGRGeometryH g = tile_polygon(w, r);
    if (g) OGR_F_SetGeometryDirectly(f, g);
    if (OGR_L_CreateFeature(w->tiles, f) != OGRERR_NONE) st = ogr_fail(w, "write a tile", err);
    OGR_F_Destroy(f);
    if (!st && gl_now_seconds() - w->last_commit > COMMIT_SECONDS) st = tx_commit(w, err);
    return st;
}

gl_status gl_index_writer_end(gl_index_writer *w, gl_error *err) {
    gl_status st = tx_begin(w, err);
    OGRFeatureH f = st ? NULL : OGR_L_GetFeature(w->inputs, w->input_id);
    if (!st && !f) st = ogr_fail(w, "find the input's record", err);
    if (f) {
        OGR_F_SetFieldInteger64(f, I_COMPLETE, 1);
        if (OGR_L_SetFeature(w->inputs, f) != OGRERR_NONE) st = ogr_fail(w, "mark an input", err);
        OGR_F_Destroy(f);
    }
    if (!st) st = tx_commit(w, err);
    return st;
}

gl_status gl_index_writer_drop(gl_index_writer *w, gl_error *err) {
    if (w->input_id < 0) return GL_OK;
    gl_status st = tx_begin(w, err);
    char sql[128];
    snprintf(sql, sizeof sql, "DELETE FROM tiles WHERE input_id = %ld", w->input_id);
    CPLErrorReset();
    OGRLayerH r = st ? NULL : GDALDatasetExecuteSQL(w->ds, sql, NULL, NULL);
    if (r) GDALDatasetReleaseResultSet(w->ds, r);
    if (!st && CPLGetLastErrorType() >= CE_Failure) st = ogr_fail(w, "drop a failed input", err);
    if (!st && OGR_L_DeleteFeature(w->inputs, w->input_id) != OGRERR_NONE)
        st = ogr_fail(w, "drop a failed input's record", err);
    w->input_id = -1;
    if (!st) st = tx_commit(w, err);
    return st;
}

static void free_writer(gl_index_writer *w) {
    if (w->ct) OCTDestroyCoordinateTransformation(w->ct);
    if (w->layer_srs) OSRDestroySpatialReference(w->layer_srs);
    free(w->blob);
    free(w->path);
    free(w->part);
    free(w);
}

gl_status gl_index_writer_commit(gl_index_writer *w, gl_error *err) {
    gl_status st = tx_commit(w, err);
    CPLErrorReset();
    GDALClose(w->ds);
    w->ds = NULL;
    if (!st && CPLGetLastErrorType() >= CE_Failure) st = ogr_fail(w, "close", err);
    int fd = st ? -1 : open(w->part, O_RDONLY);
    if (!st && (fd < 0 || fsync(fd) != 0))
        st = gl_fail(err, GL_ERR_IO, "%s: cannot sync: %s", w->part, strerror(errno));
    if (fd >= 0) close(fd);
    if (!st && rename(w->part, w->path) != 0)
        st = gl_fail(err, GL_ERR_IO, "%s: cannot rename into place: %s", w->path, strerror(errno));
    free_writer(w);
    return st;
}

void gl_index_writer_abort(gl_index_writer *w) {
    if (!w) return;
    if (w->ds) {
        if (w->in_tx) GDALDatasetRollbackTransaction(w->ds);
        GDALClose(w->ds);
    }
    free_writer(w);
}

/* ---------------------------------------------------------------- the reader */

struct gl_index {
    char *path;
    sqlite3 *db;
    char *keys[MAX_META], *vals[MAX_META];
    int n_meta, dim, views, f16;
    long max_id;
};

static gl_status sql_fail(const char *path, sqlite3 *db, const char *what, gl_error *err) {
    return gl_fail(err, GL_ERR_FORMAT, "%s: cannot %s: %s", path, what,
                   db ? sqlite3_errmsg(db) : "out of memory");
}

static sqlite3 *open_db(const char *path, gl_error *err) {
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        sql_fail(path, db, "open the index", err);
        sqlite3_close(db);
        return NULL;
    }
    /* Relabelling reads every BLOB once: map the file rather than copy pages through the cache. */
    sqlite3_exec(db, "PRAGMA mmap_size=1073741824", NULL, NULL, NULL);
    return db;
}

static gl_status load_meta(gl_index *ix, gl_error *err) {
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(ix->db, "SELECT key, value FROM geolabel_meta", -1, &s, NULL) !=
        SQLITE_OK)
        return gl_fail(err, GL_ERR_FORMAT, "%s: not a geolabel index (%s)", ix->path,
                       sqlite3_errmsg(ix->db));
    gl_status st = GL_OK;
    int r;
    while (!st && (r = sqlite3_step(s)) == SQLITE_ROW && ix->n_meta < MAX_META) {
        const char *k = (const char *)sqlite3_column_text(s, 0),
                   *v = (const char *)sqlite3_column_text(s, 1);
        if (!(ix->keys[ix->n_meta] = strdup(k ? k : "")) ||
            !(ix->vals[ix->n_meta] = strdup(v ? v : "")))
            st = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", ix->path);
        ix->n_meta++;
    }
    if (!st && r != SQLITE_ROW && r != SQLITE_DONE) st = sql_fail(ix->path, ix->db, "read", err);
    sqlite3_finalize(s);
    return st;
}

const char *gl_index_meta(const gl_index *ix, const char *key) {
    for (int i = 0; i < ix->n_meta; i++)
        if (ix->keys[i] && !strcmp(ix->keys[i], key)) return ix->vals[i];
    return NULL;
}

const char *gl_index_compute_dtype(const gl_index *ix) {
    const char *v = gl_index_meta(ix, "compute_dtype");
    return v ? v : "f32";
}

static gl_status check_header(gl_index *ix, gl_error *err) {
    const char *fmt = gl_index_meta(ix, "format"), *ver = gl_index_meta(ix, "format_version");
    const char *dim = gl_index_meta(ix, "dim"), *views = gl_index_meta(ix, "views");
    const char *dtype = gl_index_meta(ix, "dtype");
    if (!fmt || strcmp(fmt, GL_INDEX_FORMAT))
        return gl_fail(err, GL_ERR_FORMAT, "%s: not a geolabel index (no format key)", ix->path);
    if (!ver || strcmp(ver, GL_INDEX_FORMAT_VERSION))
        return gl_fail(err, GL_ERR_UNSUPPORTED, "%s: index format version %s; this build reads %s",
                       ix->path, ver ? ver : "(none)", GL_INDEX_FORMAT_VERSION);
    ix->dim = dim ? atoi(dim) : 0;
    ix->views = views ? atoi(views) : 0;
    if (ix->dim <= 0 || ix->dim > MAX_DIM || ix->views < 1 || ix->views > 8 || !dtype ||
        (strcmp(dtype, "f16") && strcmp(dtype, "f32")))
        return gl_fail(err, GL_ERR_FORMAT, "%s: bad metadata (dim %s, views %s, dtype %s)",
                       ix->path, dim ? dim : "-", views ? views : "-", dtype ? dtype : "-");
    ix->f16 = !strcmp(dtype, "f16");
    sqlite3_stmt *s = NULL;
    gl_status st = GL_OK;
    if (sqlite3_prepare_v2(ix->db, "SELECT COALESCE(MAX(fid), 0) FROM tiles", -1, &s, NULL) !=
            SQLITE_OK ||
        sqlite3_step(s) != SQLITE_ROW)
        st = sql_fail(ix->path, ix->db, "count the tiles", err);
    else
        ix->max_id = (long)sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return st;
}

gl_index *gl_index_open(const char *path, gl_error *err) {
    size_t n = strlen(path);
    if (n > 10 && !strcmp(path + n - 10, ".part.gpkg")) {
        gl_fail(err, GL_ERR_ARG,
                "%s: an unfinished index; finish it with `geolabel index --resume` first", path);
        return NULL;
    }
    if (access(path, R_OK) != 0) {
        gl_fail(err, GL_ERR_IO, "%s: cannot read the index: %s", path, strerror(errno));
        return NULL;
    }
    gl_index *ix = calloc(1, sizeof *ix);
    if (!ix || !(ix->path = strdup(path))) {
        free(ix);
        gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    gl_status st = (ix->db = open_db(path, err)) ? GL_OK : err->code;
    if (!st) st = load_meta(ix, err);
    if (!st) st = check_header(ix, err);
    if (st) {
        gl_index_close(ix);
        return NULL;
    }
    return ix;
}

void gl_index_close(gl_index *ix) {
    if (!ix) return;
    for (int i = 0; i < ix->n_meta; i++)
        free(ix->keys[i]), free(ix->vals[i]);
    sqlite3_close(ix->db);
    free(ix->path);
    free(ix);
}

const char *gl_index_path(const gl_index *ix) {
    return ix->path;
}
int gl_index_dim(const gl_index *ix) {
    return ix->dim;
}
int gl_index_views(const gl_index *ix) {
    return ix->views;
}
long gl_index_max_id(const gl_index *ix) {
    return ix->max_id;
}

gl_status gl_index_check_model(const gl_index *ix, const char *model_hash, gl_error *err) {
    const char *have = gl_index_meta(ix, "model_hash"), *model = gl_index_meta(ix, "model");
    if (!have || strcmp(have, model_hash))
        return gl_fail(err, GL_ERR_ARG,
                       "%s: the index was made with model %s (hash %s), not this one (hash %s); "
                       "use the same --model",
                       ix->path, model ? model : "?", have ? have : "?", model_hash);
    return GL_OK;
}

static char *dup_text(sqlite3_stmt *s, int k) {
    const unsigned char *t = sqlite3_column_text(s, k);
    return strdup(t ? (const char *)t : "");
}

gl_status gl_index_grids(const gl_index *ix, gl_scene_grid **grids, int *n, gl_error *err) {
    *grids = NULL;
    *n = 0;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(ix->db,
                           "SELECT id, input, filename, width, height, geotransform, crs_wkt, "
                           "complete, tiles FROM geolabel_inputs ORDER BY id",
                           -1, &s, NULL) != SQLITE_OK)
        return sql_fail(ix->path, ix->db, "read the inputs", err);
    gl_status st = GL_OK;
    int r, cap = 0;
    while (!st && (r = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            gl_scene_grid *g = realloc(*grids, (size_t)cap * sizeof *g);
            if (!g) {
                st = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", ix->path);
                break;
            }
            *grids = g;
        }
        gl_scene_grid *g = &(*grids)[*n];
        memset(g, 0, sizeof *g);
        g->id = (long)sqlite3_column_int64(s, 0);
        g->input = dup_text(s, 1);
        g->filename = dup_text(s, 2);
        g->width = sqlite3_column_int(s, 3);
        g->height = sqlite3_column_int(s, 4);
        const char *gt = (const char *)sqlite3_column_text(s, 5);
        g->has_gt = gt && sscanf(gt, "%lf %lf %lf %lf %lf %lf", &g->gt[0], &g->gt[1], &g->gt[2],
                                 &g->gt[3], &g->gt[4], &g->gt[5]) == 6;
        g->crs_wkt = dup_text(s, 6);
        g->tiles = sqlite3_column_int(s, 8);
        (*n)++;
        if (!g->input || !g->filename || !g->crs_wkt)
            st = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", ix->path);
        else if (!sqlite3_column_int(s, 7))
            st = gl_fail(err, GL_ERR_FORMAT, "%s: input %s is incomplete in the index", ix->path,
                         g->input);
    }
    if (!st && r != SQLITE_DONE) st = sql_fail(ix->path, ix->db, "read the inputs", err);
    sqlite3_finalize(s);
    if (st) {
        gl_index_grids_free(*grids, *n);
        *grids = NULL;
        *n = 0;
    }
    return st;
}

void gl_index_grids_free(gl_scene_grid *grids, int n) {
    for (int i = 0; grids && i < n; i++)
        free((char *)grids[i].input), free((char *)grids[i].filename),
            free((char *)grids[i].crs_wkt);
    free(grids);
}

struct gl_index_cursor {
    const gl_index *ix;
    sqlite3 *db; /* its own connection: cursors run on separate threads */
    sqlite3_stmt *s;
    int with_geo;
};

#define GEO_COLUMNS                                                                                \
    "SELECT fid, nodata, embedding, lon_min, lat_min, lon_max, lat_max, input_id, tile, input, "   \
    "filename, \"row\", \"col\", \"left\", \"upper\", \"right\", \"lower\", crs, "                 \
    "(SELECT g.crs_wkt FROM geolabel_inputs g WHERE g.id = tiles.input_id), lon, "                 \
    "lat, "                                                                                        \
    "corners FROM tiles "

/* A cursor over sql's rows, its two parameters bound to a and b. */
static gl_index_cursor *cursor_open(const gl_index *ix, const char *sql, int with_geo, long a,
                                    long b, gl_error *err) {
    gl_index_cursor *c = calloc(1, sizeof *c);
    if (!c) {
        gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", ix->path);
        return NULL;
    }
    c->ix = ix;
    c->with_geo = with_geo;
    if (!(c->db = open_db(ix->path, err)) ||
        sqlite3_prepare_v2(c->db, sql, -1, &c->s, NULL) != SQLITE_OK) {
        if (c->db) sql_fail(ix->path, c->db, "read the tiles", err);
        gl_index_cursor_free(c);
        return NULL;
    }
    sqlite3_bind_int64(c->s, 1, a);
    sqlite3_bind_int64(c->s, 2, b);
    return c;
}

gl_index_cursor *gl_index_cursor_new(const gl_index *ix, long lo, long hi, int with_geo,
                                     gl_error *err) {
    const char *sql = with_geo ? GEO_COLUMNS "WHERE fid BETWEEN ? AND ? ORDER BY fid"
                               : "SELECT fid, nodata, embedding, lon_min, lat_min, lon_max, "
                                 "lat_max FROM tiles WHERE fid BETWEEN ? AND ? ORDER BY fid";
    return cursor_open(ix, sql, with_geo, lo, hi < 0 ? INT64_MAX : hi, err);
}

gl_index_cursor *gl_index_cursor_input(const gl_index *ix, long input_id, gl_error *err) {
    return cursor_open(ix, GEO_COLUMNS "WHERE input_id BETWEEN ? AND ? ORDER BY tile, fid", 1,
                       input_id, input_id, err);
}

void gl_index_cursor_free(gl_index_cursor *c) {
    if (!c) return;
    sqlite3_finalize(c->s);
    sqlite3_close(c->db);
    free(c);
}

static double col_real(sqlite3_stmt *s, int k) {
    return sqlite3_column_type(s, k) == SQLITE_NULL ? NAN : sqlite3_column_double(s, k);
}

/* Columns 0..6 of either query: id, nodata, the embedding, the bbox. */
static int read_common(const gl_index *ix, sqlite3_stmt *s, gl_index_tile *t, float *emb,
                       gl_error *err) {
    t->id = (long)sqlite3_column_int64(s, 0);
    t->nodata = sqlite3_column_int(s, 1);
    for (int k = 0; k < 4; k++)
        t->bbox[k] = col_real(s, 3 + k);
    if (t->nodata || !emb) return 1;
    size_t n = (size_t)ix->views * ix->dim, bytes = n * (ix->f16 ? 2 : 4);
    const void *b = sqlite3_column_blob(s, 2);
    if (!b || (size_t)sqlite3_column_bytes(s, 2) != bytes) {
        gl_fail(err, GL_ERR_FORMAT, "%s: tile %ld: embedding of %d bytes, expected %zu", ix->path,
                t->id, sqlite3_column_bytes(s, 2), bytes);
        return -1;
    }
    if (ix->f16) {
        uint16_t tmp[512];
        for (size_t i = 0; i < n; i += 512) {
            size_t m = n - i < 512 ? n - i : 512;
            memcpy(tmp, (const uint16_t *)b + i, m * 2); /* BLOBs need not be aligned */
            gl_f16_decode(tmp, emb + i, m);
        }
    } else {
        memcpy(emb, b, bytes);
    }
    return 1;
}

static void read_geo(sqlite3_stmt *s, gl_index_tile *t) {
    gl_label_row *r = &t->row;
    memset(r, 0, sizeof *r);
    t->input_id = (long)sqlite3_column_int64(s, 7);
    t->tile = sqlite3_column_int(s, 8);
    t->input = (const char *)sqlite3_column_text(s, 9);
    r->input = t->input;
    r->filename = (const char *)sqlite3_column_text(s, 10);
    int *ints[] = {&r->row, &r->col, &r->left, &r->upper, &r->right, &r->lower};
    for (int k = 0; k < 6; k++)
        *ints[k] = sqlite3_column_int(s, 11 + k);
    r->crs = (const char *)sqlite3_column_text(s, 17);
    r->crs_wkt = (const char *)sqlite3_column_text(s, 18);
    r->lon = col_real(s, 19);
    r->lat = col_real(s, 20);
    const void *c = sqlite3_column_blob(s, 21);
    r->has_geo = c && sqlite3_column_bytes(s, 21) == 16 * 8;
    if (!r->has_geo) return;
    double v[16];
    memcpy(v, c, sizeof v);
    memcpy(r->ring_crs, v, sizeof r->ring_crs);
    memcpy(r->ring_lonlat, v + 8, sizeof r->ring_lonlat);
    r->x_min = r->y_min = INFINITY;
    r->x_max = r->y_max = -INFINITY;
    for (int k = 0; k < 4; k++) {
        r->x_min = fmin(r->x_min, v[2 * k]), r->x_max = fmax(r->x_max, v[2 * k]);
        r->y_min = fmin(r->y_min, v[2 * k + 1]), r->y_max = fmax(r->y_max, v[2 * k + 1]);
    }
}

int gl_index_cursor_next(gl_index_cursor *c, gl_index_tile *t, float *emb, gl_error *err) {
    int r = sqlite3_step(c->s);
    if (r == SQLITE_DONE) return 0;
    if (r != SQLITE_ROW) {
        sql_fail(c->ix->path, c->db, "read the tiles", err);
        return -1;
    }
    if (c->with_geo) read_geo(c->s, t);
    return read_common(c->ix, c->s, t, emb, err);
}

int gl_index_get(const gl_index *ix, long id, gl_index_tile *t, float *emb, gl_error *err) {
    gl_index_cursor *c = gl_index_cursor_new(ix, id, id, 0, err);
    if (!c) return -1;
    int r = gl_index_cursor_next(c, t, emb, err);
    gl_index_cursor_free(c);
    return r;
}

/* ---------------------------------------------------------------- merging stores */

int gl_index_is_store(const char *path) {
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return 0;
    }
    sqlite3_stmt *s = NULL;
    int yes = sqlite3_prepare_v2(db, "SELECT value FROM geolabel_meta WHERE key = 'format'", -1, &s,
                                 NULL) == SQLITE_OK &&
              sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0) &&
              !strcmp((const char *)sqlite3_column_text(s, 0), GL_INDEX_FORMAT);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return yes;
}

/* The stored metadata as a manifest: every key but created (all) or only resume_key's. */
static gl_manifest *meta_manifest(const gl_index *ix, int all, gl_error *err) {
    gl_manifest *m = gl_manifest_new(err);
    for (int i = 0; m && i < ix->n_meta; i++) {
        if (!strcmp(ix->keys[i], "created") || (!all && !resume_key(ix->keys[i]))) continue;
        if (gl_manifest_set(m, ix->keys[i], ix->vals[i], err)) {
            gl_manifest_free(m);
            m = NULL;
        }
    }
    return m;
}

/* One input of the merged store: where its tiles are (by tile sharding spreads them). */
typedef struct {
    const char *input;
    int store;    /* the first store that has it (stores come in shard order) */
    long ord, id; /* its place in the run (or -1), and its id in that store */
    const gl_scene_grid *grid;
} merge_ref;

static int cmp_ref_input(const void *a, const void *b) {
    const merge_ref *x = a, *y = b;
    int c = strcmp(x->input, y->input);
    return c ? c : x->store != y->store ? x->store - y->store : (x->id > y->id) - (x->id < y->id);
}

/* An input's entries: refs[start .. start + n - 1], first by store; its first entry's keys. */
typedef struct {
    long start;
    int n, store;
    long ord, id;
} merge_group;

/* As one process writes: by the run's input order when known (unknown, -1, first), then by
 * the first store's order (stores come in shard order) and id there. */
static int cmp_group(const void *a, const void *b) {
    const merge_group *x = a, *y = b;
    if (x->ord != y->ord) return x->ord < y->ord ? -1 : 1;
    return x->store != y->store ? x->store - y->store : (x->id > y->id) - (x->id < y->id);
}

/* Copies the tiles of the group's stores (refs[0..n-1], one input) into w in tiling order. */
static gl_status merge_input(gl_index_writer *w, gl_index **ix, const merge_ref *refs, int n,
                             long *tiles, gl_error *err) {
    const gl_scene_grid *g = refs[0].grid;
    for (int k = 1; k < n; k++) {
        const gl_scene_grid *h = refs[k].grid;
        if (h->width != g->width || h->height != g->height || h->tiles != g->tiles)
            return gl_fail(err, GL_ERR_ARG,
                           "%s: input %s is a %dx%d grid of %d tiles there, %dx%d of %d in %s",
                           ix[refs[k].store]->path, g->input, h->width, h->height, h->tiles,
                           g->width, g->height, g->tiles, ix[refs[0].store]->path);
    }
    long done;
    gl_status st = gl_index_writer_begin(w, g, g->tiles, &done, err);
    gl_index_cursor **cur = calloc((size_t)n, sizeof *cur);
    gl_index_tile *t = calloc((size_t)n, sizeof *t);
    int *live = calloc((size_t)n, sizeof *live);
    size_t per = (size_t)ix[0]->views * ix[0]->dim;
    float *emb = malloc((size_t)n * per * sizeof *emb);
    if (!st && (!cur || !t || !live || !emb))
        st = gl_fail(err, GL_ERR_NOMEM, "merge: out of memory");
    for (int k = 0; !st && k < n; k++) {
        if (!(cur[k] = gl_index_cursor_input(ix[refs[k].store], refs[k].id, err))) st = err->code;
        if (!st && (live[k] = gl_index_cursor_next(cur[k], &t[k], emb + k * per, err)) < 0)
            st = err->code;
    }
    /* Each store's tiles come in tile order: take the lowest tile across them each time. */
    for (;;) {
        int best = -1;
        for (int k = 0; !st && k < n; k++) {
            if (!live[k]) continue;
            if (best >= 0 && t[k].tile == t[best].tile)
                st = gl_fail(err, GL_ERR_ARG,
                             "tile %d of %s is in %s and in %s: not one run's shards", t[k].tile,
                             g->input, ix[refs[best].store]->path, ix[refs[k].store]->path);
            else if (best < 0 || t[k].tile < t[best].tile)
                best = k;
        }
        if (st || best < 0) break;
        st = gl_index_writer_add(w, t[best].tile, &t[best].row,
                                 t[best].nodata ? NULL : emb + best * per, err);
        (*tiles)++;
        if (!st &&
            (live[best] = gl_index_cursor_next(cur[best], &t[best], emb + best * per, err)) < 0)
            st = err->code;
    }
    if (!st) st = gl_index_writer_end(w, err);
    for (int k = 0; cur && k < n; k++)
        gl_index_cursor_free(cur[k]);
    free(cur), free(t), free(live), free(emb);
    return st;
}

gl_status gl_index_merge(const char *output, const char *const *stores, int n,
                         long (*ordinal)(void *ctx, const char *input), void *ctx, long *tiles,
                         gl_error *err) {
    *tiles = 0;
    gl_index **ix = calloc((size_t)n + 1, sizeof *ix);
    gl_scene_grid **grids = calloc((size_t)n + 1, sizeof *grids);
    int *n_grids = calloc((size_t)n + 1, sizeof *n_grids);
    merge_ref *refs = NULL;
    merge_group *groups = NULL;
    gl_manifest *want = NULL, *all = NULL;
    gl_index_writer *w = NULL;
    long n_refs = 0, m = 0, n_groups = 0;
    gl_status st =
        ix && grids && n_grids ? GL_OK : gl_fail(err, GL_ERR_NOMEM, "merge: out of memory");
    for (int k = 0; !st && k < n; k++) {
        if (!(ix[k] = gl_index_open(stores[k], err))) st = err->code;
        gl_manifest *have = st ? NULL : meta_manifest(ix[k], 0, err);
        if (!st && !have) st = err->code;
        if (!st && k == 0) want = have, have = NULL;
        if (!st && have)
            st = gl_manifest_require(want, have, stores[k], "not one run's stores", err);
        gl_manifest_free(have);
        if (!st) st = gl_index_grids(ix[k], &grids[k], &n_grids[k], err);
        n_refs += n_grids[k];
    }
    if (!st && (!(refs = calloc((size_t)n_refs + 1, sizeof *refs)) ||
                !(groups = calloc((size_t)n_refs + 1, sizeof *groups))))
        st = gl_fail(err, GL_ERR_NOMEM, "merge: out of memory");
    for (int k = 0; !st && k < n; k++)
        for (int i = 0; i < n_grids[k]; i++)
            refs[m++] = (merge_ref){.input = grids[k][i].input,
                                    .store = k,
                                    .id = grids[k][i].id,
                                    .grid = &grids[k][i],
                                    .ord = ordinal ? ordinal(ctx, grids[k][i].input) : -1};
    if (!st && m) qsort(refs, (size_t)m, sizeof *refs, cmp_ref_input);
    for (long i = 0; !st && i < m; i++) {
        if (i && !strcmp(refs[i].input, refs[i - 1].input)) {
            if (refs[i].store == refs[i - 1].store)
                st = gl_fail(err, GL_ERR_FORMAT, "%s: input %s is listed twice",
                             stores[refs[i].store], refs[i].input);
            groups[n_groups - 1].n++;
        } else {
            groups[n_groups++] = (merge_group){
                .start = i, .n = 1, .store = refs[i].store, .ord = refs[i].ord, .id = refs[i].id};
        }
    }
    if (!st && n_groups) qsort(groups, (size_t)n_groups, sizeof *groups, cmp_group);
    if (!st && !(all = meta_manifest(ix[0], 1, err))) st = err->code;
    if (!st) {
        gl_index_spec spec = {.dim = ix[0]->dim,
                              .views = ix[0]->views,
                              .dtype = ix[0]->f16 ? GL_EMB_F16 : GL_EMB_F32,
                              .layer_crs = gl_index_meta(ix[0], "layer_crs")};
        if (!(w = gl_index_writer_open(output, all, &spec, 0, err))) st = err->code;
    }
    for (long g = 0; !st && g < n_groups; g++)
        st = merge_input(w, ix, refs + groups[g].start, groups[g].n, tiles, err);
    if (!st && w) st = gl_index_writer_commit(w, err), w = NULL;
    if (w) { /* a failed merge leaves nothing behind: its part file is not worth resuming */
        char *part = part_path(output);
        gl_index_writer_abort(w);
        if (part) unlink(part);
        free(part);
    }
    gl_manifest_free(want);
    gl_manifest_free(all);
    free(refs);
    free(groups);
    for (int k = 0; k < n; k++) {
        if (grids) gl_index_grids_free(grids[k], n_grids[k]);
        if (ix) gl_index_close(ix[k]);
    }
    free(grids), free(n_grids), free(ix);
    return st;
}
