/* merge.c: `geolabel merge`: the outputs of a sharded run (CSV, GeoJSON, GPKG) joined into one,
 * once shard_set.c has found them the shards of one run, with every tile there exactly once;
 * optionally in the order one process would have written. */
#include "geolabel.h"
#include "io/raster_internal.h"
#include "label/geotiff.h"
#include "label/rows.h"

#include <gdal.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

gl_merge_params gl_merge_default_params(void) {
    gl_merge_params p = {0};
    return p;
}

/* ---------------------------------------------------------------- tiles seen: string -> shard */

typedef struct {
    char **keys;
    long *vals;
    size_t cap, n; /* cap a power of two, kept at most half full */
} strtab;

static gl_status tab_grow(strtab *t, gl_error *err) {
    size_t cap = t->cap ? t->cap * 2 : 1024;
    char **keys = calloc(cap, sizeof *keys);
    long *vals = calloc(cap, sizeof *vals);
    if (!keys || !vals) {
        free(keys), free(vals);
        return gl_fail(err, GL_ERR_NOMEM, "merge: out of memory");
    }
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->keys[i]) continue;
        size_t h = gl_shard_hash(t->keys[i]) & (cap - 1);
        while (keys[h])
            h = (h + 1) & (cap - 1);
        keys[h] = t->keys[i], vals[h] = t->vals[i];
    }
    free(t->keys), free(t->vals);
    t->keys = keys, t->vals = vals, t->cap = cap;
    return GL_OK;
}

/* Finds key; with add, inserts it with val when absent. Returns the slot's value pointer, or NULL
 * (absent, or out of memory with err set). *added tells a new key from an old one. */
static long *tab_get(strtab *t, const char *key, int add, long val, int *added, gl_error *err) {
    if (added) *added = 0;
    if (add && (t->n + 1) * 2 > t->cap && tab_grow(t, err)) return NULL;
    if (!t->cap) return NULL;
    size_t h = gl_shard_hash(key) & (t->cap - 1);
    while (t->keys[h]) {
        if (!strcmp(t->keys[h], key)) return &t->vals[h];
        h = (h + 1) & (t->cap - 1);
    }
    if (!add) return NULL;
    if (!(t->keys[h] = strdup(key))) {
        gl_fail(err, GL_ERR_NOMEM, "merge: out of memory");
        return NULL;
    }
    t->vals[h] = val;
    t->n++;
    if (added) *added = 1;
    return &t->vals[h];
}

static void tab_free(strtab *t) {
    for (size_t i = 0; i < t->cap; i++)
        free(t->keys[i]);
    free(t->keys), free(t->vals);
    memset(t, 0, sizeof *t);
}

/* ---------------------------------------------------------------- rows */

typedef struct {
    long ord;
    int row, col;
    int shard;
    long id;    /* OGR: feature id in its shard's layer */
    char *line; /* CSV: the row as written */
    char *key;  /* the row's input, when inputs are unlisted (ord -1) */
} row_ref;

typedef struct {
    row_ref *v;
    long n, cap;
} row_list;

static gl_status rows_push(row_list *l, row_ref r, gl_error *err) {
    if (l->n == l->cap) {
        long c = l->cap ? l->cap * 2 : 4096;
        row_ref *g = realloc(l->v, (size_t)c * sizeof *g);
        if (!g) return gl_fail(err, GL_ERR_NOMEM, "merge: out of memory");
        l->v = g, l->cap = c;
    }
    l->v[l->n++] = r;
    return GL_OK;
}

static int cmp_rows(const void *a, const void *b) {
    const row_ref *x = a, *y = b;
    if (x->ord != y->ord) return x->ord < y->ord ? -1 : 1;
    if (x->key && y->key) {
        int c = strcmp(x->key, y->key);
        if (c) return c;
    }
    if (x->row != y->row) return x->row < y->row ? -1 : 1;
    if (x->col != y->col) return x->col < y->col ? -1 : 1;
    return 0;
}

/* Registers tile (input, row, col) of shard k; a second sighting is an error naming both. */
static gl_status check_tile(strtab *tiles, const gl_shard_set *set, const char *input, int row,
                            int col, int k, long *ordinal, gl_error *err) {
    *ordinal = gl_shard_set_ordinal(set, input); /* -1: inputs unlisted, sorted by key */
    if (*ordinal == -2)
        return gl_fail(err, GL_ERR_FORMAT, "%s: rows of input %s, which no shard manifest lists",
                       gl_shard_set_name(set, k), input);
    size_t n = strlen(input) + 32;
    char stack[512], *key = n <= sizeof stack ? stack : malloc(n);
    if (!key) return gl_fail(err, GL_ERR_NOMEM, "merge: out of memory");
    snprintf(key, n, "%s#%d,%d", input, row, col);
    int added = 0;
    long *first = tab_get(tiles, key, 1, k, &added, err);
    gl_status st = !first ? err->code : GL_OK;
    if (!st && !added)
        st = gl_fail(err, GL_ERR_ARG, "merge: tile row %d col %d of %s is in %s and in %s", row,
                     col, input, gl_shard_set_name(set, (int)*first), gl_shard_set_name(set, k));
    if (key != stack) free(key);
    return st;
}

static int parse_int_field(const char *s, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    *out = (int)v;
    return end != s && !*end && v >= -1 && v <= 1L << 30;
}

/* ---------------------------------------------------------------- CSV */

/* Columns that name a row's input, preferred first: label's input and GVL's filename, locate's
 * image, predict's gridimage_id. Rows without row/col columns are one per input. */
static const char *const KEY_COLUMNS[] = {"input", "filename", "image", "id", "gridimage_id"};
enum { N_KEYS = sizeof KEY_COLUMNS / sizeof KEY_COLUMNS[0] };

/* The header of a CSV as one line, and the columns the merge keys rows by. */
static gl_status csv_header(const char *path, char **line, int *c_input, int *c_row, int *c_col,
                            gl_error *err) {
    gl_csv *c = gl_csv_open(path, 0, err);
    if (!c) return err->code;
    int r = gl_csv_next(c, err);
    gl_status st = r == 1   ? GL_OK
                   : r == 0 ? gl_fail(err, GL_ERR_FORMAT, "%s: empty; not a labels file", path)
                            : err->code;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = st ? NULL : open_memstream(&buf, &len);
    *c_input = *c_row = *c_col = -1;
    int key_rank = N_KEYS;
    for (int k = 0; m && k < gl_csv_field_count(c); k++) {
        const char *f = gl_csv_field(c, k);
        if (k) fputc(',', m);
        gl_csv_write_field(m, f);
        for (int rank = 0; rank < N_KEYS; rank++)
            if (!strcmp(f, KEY_COLUMNS[rank]) && (*c_input < 0 || rank < key_rank))
                *c_input = k, key_rank = rank;
        if (!strcmp(f, "row")) *c_row = k;
        if (!strcmp(f, "col")) *c_col = k;
    }
    if (m) fclose(m);
    gl_csv_free(c);
    if (!st && *c_input < 0)
        st = gl_fail(err, GL_ERR_FORMAT, "%s: no column naming the input (%s, ...)", path,
                     KEY_COLUMNS[0]);
    if (st)
        free(buf);
    else
        *line = buf;
    return st;
}

static gl_status merge_csv(const char *output, const gl_shard_set *set, const gl_merge_params *p,
                           gl_merge_summary *sum, gl_error *err) {
    const int n = gl_shard_set_count(set);
    char *head = NULL;
    int ci, cr, cc;
    gl_status st = csv_header(gl_shard_set_name(set, 0), &head, &ci, &cr, &cc, err);
    if (st) return st;
    gl_atomic_file out = {0};
    st = gl_atomic_open(&out, output, err);
    if (!st) fprintf(out.fp, "%s\r\n", head);
    strtab tiles = {0};
    row_list rows = {0};
    for (int k = 0; !st && k < n; k++) {
        char *h = NULL;
        int ci2, cr2, cc2;
        st = csv_header(gl_shard_set_name(set, k), &h, &ci2, &cr2, &cc2, err);
        if (!st && strcmp(h, head))
            st = gl_fail(err, GL_ERR_FORMAT, "%s and %s have different columns",
                         gl_shard_set_name(set, 0), gl_shard_set_name(set, k));
        free(h);
        gl_csv *c = st ? NULL : gl_csv_open(gl_shard_set_name(set, k), 1, err);
        if (!st && !c) st = err->code;
        int r = 0;
        while (!st && (r = gl_csv_next(c, err)) == 1) {
            row_ref ref = {.shard = k};
            if ((cr >= 0 && !parse_int_field(gl_csv_field(c, cr), &ref.row)) ||
                (cc >= 0 && !parse_int_field(gl_csv_field(c, cc), &ref.col))) {
                st = gl_fail(err, GL_ERR_FORMAT, "%s:%ld: bad row/col", gl_shard_set_name(set, k),
                             gl_csv_line(c));
                break;
            }
            st = check_tile(&tiles, set, gl_csv_field(c, ci), ref.row, ref.col, k, &ref.ord, err);
            if (!st && p->sort && ref.ord < 0 && !(ref.key = strdup(gl_csv_field(c, ci))))
                st = gl_fail(err, GL_ERR_NOMEM, "merge: out of memory");
            size_t len = 0;
            FILE *m = NULL;
            if (!st && p->sort && !(m = open_memstream(&ref.line, &len)))
                st = gl_fail(err, GL_ERR_NOMEM, "merge: out of memory");
            FILE *to = p->sort ? m : out.fp;
            for (int f = 0; !st && f < gl_csv_field_count(c); f++) {
                if (f) fputc(',', to);
                gl_csv_write_field(to, gl_csv_field(c, f));
            }
            if (!st) fputs("\r\n", to);
            if (m) fclose(m);
            if (!st && p->sort)
                st = rows_push(&rows, ref, err);
            else
                free(ref.line), free(ref.key);
            if (!st) sum->rows++;
        }
        if (!st && r < 0) st = err->code;
        gl_csv_free(c);
    }
    if (!st && p->sort) {
        qsort(rows.v, (size_t)rows.n, sizeof *rows.v, cmp_rows);
        for (long i = 0; i < rows.n; i++)
            fputs(rows.v[i].line, out.fp);
    }
    for (long i = 0; i < rows.n; i++)
        free(rows.v[i].line), free(rows.v[i].key);
    free(rows.v);
    tab_free(&tiles);
    free(head);
    if (!st)
        st = gl_atomic_commit(&out, err);
    else if (out.fp)
        gl_atomic_abort(&out);
    return st;
}

/* ---------------------------------------------------------------- GeoJSON and GPKG */

typedef struct {
    GDALDatasetH ds;
    char *tmp;
} ogr_out;

static gl_status same_fields(OGRFeatureDefnH a, OGRFeatureDefnH b, const char *pa, const char *pb,
                             gl_error *err) {
    int n = OGR_FD_GetFieldCount(a);
    int same = n == OGR_FD_GetFieldCount(b);
    for (int k = 0; same && k < n; k++) {
        OGRFieldDefnH x = OGR_FD_GetFieldDefn(a, k), y = OGR_FD_GetFieldDefn(b, k);
        same = !strcmp(OGR_Fld_GetNameRef(x), OGR_Fld_GetNameRef(y)) &&
               OGR_Fld_GetType(x) == OGR_Fld_GetType(y);
    }
    return same ? GL_OK
                : gl_fail(err, GL_ERR_FORMAT, "%s and %s have different fields in layer %s", pa, pb,
                          OGR_FD_GetName(a));
}

/* Appends src's layer_styles rows whose f_table_name dst lacks. */
static gl_status add_styles(OGRLayerH dst, OGRLayerH src, const char *path, gl_error *err) {
    gl_status st = GL_OK;
    OGRFeatureH f;
    OGR_L_ResetReading(src);
    while (!st && (f = OGR_L_GetNextFeature(src))) {
        int i = OGR_F_GetFieldIndex(f, "f_table_name");
        const char *table = i >= 0 ? OGR_F_GetFieldAsString(f, i) : "";
        int have = 0;
        OGRFeatureH g;
        OGR_L_ResetReading(dst);
        while (!have && (g = OGR_L_GetNextFeature(dst))) {
            int j = OGR_F_GetFieldIndex(g, "f_table_name");
            have = j >= 0 && !strcmp(OGR_F_GetFieldAsString(g, j), table);
            OGR_F_Destroy(g);
        }
        if (!have && *table) {
            g = OGR_F_Create(OGR_L_GetLayerDefn(dst));
            if (OGR_F_SetFrom(g, f, TRUE) != OGRERR_NONE ||
                (OGR_F_SetFID(g, OGRNullFID), OGR_L_CreateFeature(dst, g)) != OGRERR_NONE)
                st = gl_fail(err, GL_ERR_IO, "%s: cannot copy the style of %s: %s", path, table,
                             CPLGetLastErrorMsg());
            OGR_F_Destroy(g);
        }
        OGR_F_Destroy(f);
    }
    return st;
}

/* A GeoJSON file has one layer, named after the file: shard files' layers match by position. */
static OGRLayerH layer_named(GDALDatasetH ds, int geojson, const char *name) {
    if (geojson) return GDALDatasetGetLayerCount(ds) ? GDALDatasetGetLayer(ds, 0) : NULL;
    return GDALDatasetGetLayerByName(ds, name);
}

/* The output layer for src's layer, made from the first shard's fields and CRS; every later
 * shard's layer (first is the first one seen) must have the same. */
static gl_status out_layer(ogr_out *o, int geojson, OGRLayerH src, OGRLayerH first,
                           const char *src_path, const char *first_path, OGRLayerH *dst,
                           gl_error *err) {
    const char *name = OGR_L_GetName(src);
    if (*dst) {
        OGRSpatialReferenceH a = OGR_L_GetSpatialRef(first), b = OGR_L_GetSpatialRef(src);
        if ((a == NULL) != (b == NULL) || (a && !OSRIsSame(a, b)))
            return gl_fail(err, GL_ERR_FORMAT,
                           "%s: layer %s is in another CRS than in %s (label with --crs)", src_path,
                           name, first_path);
        return same_fields(OGR_L_GetLayerDefn(first), OGR_L_GetLayerDefn(src), first_path, src_path,
                           err);
    }
    char *opts[] = {"RFC7946=YES", "WRITE_NAME=NO", NULL};
    *dst = GDALDatasetCreateLayer(o->ds, name, OGR_L_GetSpatialRef(src), OGR_L_GetGeomType(src),
                                  geojson ? opts : NULL);
    if (!*dst)
        return gl_fail(err, GL_ERR_IO, "%s: cannot create layer %s: %s", o->tmp, name,
                       CPLGetLastErrorMsg());
    OGRFeatureDefnH d = OGR_L_GetLayerDefn(src);
    for (int k = 0; k < OGR_FD_GetFieldCount(d); k++)
        if (OGR_L_CreateField(*dst, OGR_FD_GetFieldDefn(d, k), TRUE) != OGRERR_NONE)
            return gl_fail(err, GL_ERR_IO, "%s: cannot add field %s", o->tmp,
                           OGR_Fld_GetNameRef(OGR_FD_GetFieldDefn(d, k)));
    return GL_OK;
}

static gl_status copy_feature(OGRLayerH dst, OGRFeatureH f, const char *path, gl_error *err) {
    OGRFeatureH g = OGR_F_Create(OGR_L_GetLayerDefn(dst));
    gl_status st = GL_OK;
    if (!g || OGR_F_SetFrom(g, f, TRUE) != OGRERR_NONE ||
        OGR_L_CreateFeature(dst, g) != OGRERR_NONE)
        st = gl_fail(err, GL_ERR_IO, "%s: cannot write a feature: %s", path, CPLGetLastErrorMsg());
    OGR_F_Destroy(g);
    return st;
}

static gl_status feature_key(OGRFeatureH f, const char *path, const char **input, int *row,
                             int *col, gl_error *err) {
    int fi = OGR_F_GetFieldIndex(f, "input");
    if (fi < 0) fi = OGR_F_GetFieldIndex(f, "filename");
    int fr = OGR_F_GetFieldIndex(f, "row"), fc = OGR_F_GetFieldIndex(f, "col");
    if (fi < 0 || fr < 0 || fc < 0)
        return gl_fail(err, GL_ERR_FORMAT, "%s: no input/filename, row and col fields", path);
    *input = OGR_F_GetFieldAsString(f, fi);
    *row = OGR_F_GetFieldAsInteger(f, fr);
    *col = OGR_F_GetFieldAsInteger(f, fc);
    return GL_OK;
}

static gl_status merge_layer(ogr_out *o, int geojson, GDALDatasetH *src, const gl_shard_set *set,
                             const char *name, const gl_merge_params *p, strtab *tiles,
                             gl_merge_summary *sum, gl_error *err) {
    const int n = gl_shard_set_count(set);
    OGRLayerH dst = NULL;
    row_list rows = {0};
    gl_status st = GL_OK;
    /* The layer's CRS and fields come from the first shard with rows in it: a shard given no
     * inputs holds an empty layer in the CRS it fell back to (EPSG:4326). */
    int first_k = -1;
    for (int k = 0; k < n && first_k < 0; k++) {
        OGRLayerH l = layer_named(src[k], geojson, name);
        if (l && OGR_L_GetFeatureCount(l, TRUE) > 0) first_k = k;
    }
    for (int k = 0; k < n && first_k < 0; k++)
        if (layer_named(src[k], geojson, name)) first_k = k;
    OGRLayerH first = first_k >= 0 ? layer_named(src[first_k], geojson, name) : NULL;
    for (int k = 0; !st && k < n; k++) {
        OGRLayerH l = layer_named(src[k], geojson, name);
        if (!l) continue; /* a shard without inputs in this layer's CRS */
        if (k != first_k && OGR_L_GetFeatureCount(l, TRUE) == 0) continue;
        st = out_layer(o, geojson, l, first, gl_shard_set_name(set, k),
                       gl_shard_set_name(set, first_k), &dst, err);
        OGR_L_ResetReading(l);
        OGRFeatureH f;
        while (!st && (f = OGR_L_GetNextFeature(l))) {
            row_ref ref = {.shard = k, .id = (long)OGR_F_GetFID(f)};
            const char *input = NULL;
            st = feature_key(f, gl_shard_set_name(set, k), &input, &ref.row, &ref.col, err);
            if (!st) st = check_tile(tiles, set, input, ref.row, ref.col, k, &ref.ord, err);
            if (!st && p->sort && ref.ord < 0 && !(ref.key = strdup(input)))
                st = gl_fail(err, GL_ERR_NOMEM, "merge: out of memory");
            if (!st) st = p->sort ? rows_push(&rows, ref, err) : copy_feature(dst, f, o->tmp, err);
            if (!st) sum->rows++;
            OGR_F_Destroy(f);
        }
    }
    if (!st && p->sort) {
        qsort(rows.v, (size_t)rows.n, sizeof *rows.v, cmp_rows);
        for (long i = 0; !st && i < rows.n; i++) {
            OGRLayerH l = layer_named(src[rows.v[i].shard], geojson, name);
            OGRFeatureH f = OGR_L_GetFeature(l, rows.v[i].id);
            st = f ? copy_feature(dst, f, o->tmp, err)
                   : gl_fail(err, GL_ERR_IO, "%s: cannot read back feature %ld",
                             gl_shard_set_name(set, rows.v[i].shard), rows.v[i].id);
            OGR_F_Destroy(f);
        }
    }
    for (long i = 0; i < rows.n; i++)
        free(rows.v[i].key);
    free(rows.v);
    return st;
}

static gl_status merge_ogr(const char *output, int geojson, const gl_shard_set *set,
                           const gl_merge_params *p, gl_merge_summary *sum, gl_error *err) {
    const int n = gl_shard_set_count(set);
    gl_gdal_init();
    GDALDatasetH *src = calloc((size_t)n, sizeof *src);
    ogr_out o = {0};
    size_t tl = strlen(output) + 48;
    gl_status st =
        src && (o.tmp = malloc(tl)) ? GL_OK : gl_fail(err, GL_ERR_NOMEM, "merge: out of memory");
    for (int k = 0; !st && k < n; k++)
        if (!(src[k] = GDALOpenEx(gl_shard_set_name(set, k), GDAL_OF_VECTOR | GDAL_OF_READONLY,
                                  NULL, NULL, NULL)))
            st = gl_fail(err, GL_ERR_FORMAT, "%s: not a readable %s", gl_shard_set_name(set, k),
                         geojson ? "GeoJSON" : "GeoPackage");
    GDALDriverH drv = GDALGetDriverByName(geojson ? "GeoJSON" : "GPKG");
    if (!st) {
        /* The extension stays last: drivers check it. */
        snprintf(o.tmp, tl, "%s.tmp%ld%s", output, (long)getpid(), geojson ? ".geojson" : ".gpkg");
        if (!drv || !(o.ds = GDALCreate(drv, o.tmp, 0, 0, 0, GDT_Unknown, NULL)))
            st = gl_fail(err, GL_ERR_IO, "%s: cannot create: %s", o.tmp, CPLGetLastErrorMsg());
    }
    if (!st && !geojson) GDALDatasetStartTransaction(o.ds, FALSE);
    strtab tiles = {0};
    /* Layers in order of first appearance over the shards. */
    for (int k = 0; !st && k < n; k++)
        for (int i = 0; !st && i < GDALDatasetGetLayerCount(src[k]); i++) {
            OGRLayerH l = GDALDatasetGetLayer(src[k], i);
            const char *name = OGR_L_GetName(l);
            if (layer_named(o.ds, geojson, name)) continue;
            if (label_rows_is_tile_layer(l))
                st = merge_layer(&o, geojson, src, set, name, p, &tiles, sum, err);
        }
    tab_free(&tiles);
    if (!st && !geojson && GDALDatasetCommitTransaction(o.ds) != OGRERR_NONE)
        st = gl_fail(err, GL_ERR_IO, "%s: cannot commit: %s", o.tmp, CPLGetLastErrorMsg());
    /* Other tables from the first shard that has them (the copy makes its own transaction);
     * layer_styles gains, from later shards, the styles of layers the first one did not have
     * (a shard without inputs in some CRS has no layer for it). */
    for (int k = 0; !st && !geojson && k < n; k++)
        for (int i = 0; !st && i < GDALDatasetGetLayerCount(src[k]); i++) {
            OGRLayerH l = GDALDatasetGetLayer(src[k], i), out;
            const char *name = OGR_L_GetName(l);
            if (label_rows_is_tile_layer(l)) continue;
            if (!(out = layer_named(o.ds, geojson, name))) {
                if (!GDALDatasetCopyLayer(o.ds, l, name, NULL))
                    st = gl_fail(err, GL_ERR_IO, "%s: cannot copy layer %s: %s", o.tmp, name,
                                 CPLGetLastErrorMsg());
            } else if (!strcmp(name, GL_QML_STYLES_TABLE)) {
                st = add_styles(out, l, o.tmp, err);
            }
        }
    if (o.ds) {
        CPLErrorReset();
        GDALClose(o.ds);
        if (!st && CPLGetLastErrorType() >= CE_Failure)
            st = gl_fail(err, GL_ERR_IO, "%s: %s", output, CPLGetLastErrorMsg());
    }
    for (int k = 0; src && k < n; k++)
        if (src[k]) GDALClose(src[k]);
    if (!st && rename(o.tmp, output) != 0)
        st = gl_fail(err, GL_ERR_IO, "%s: cannot rename into place", output);
    if (st && o.tmp) unlink(o.tmp);
    free(o.tmp);
    free(src);
    return st;
}

/* ---------------------------------------------------------------- tile-embedding stores */

static long store_ordinal(void *ctx, const char *input) {
    long v = gl_shard_set_ordinal(ctx, input);
    return v < 0 ? -1 : v;
}

/* Stores keep tiles and inputs in tables of their own (label/index.c merges them). */
static gl_status merge_stores(const char *output, const gl_shard_set *set, const gl_merge_params *p,
                              gl_merge_summary *sum, gl_error *err) {
    const int n = gl_shard_set_count(set);
    const char **paths = calloc((size_t)n, sizeof *paths);
    if (!paths) return gl_fail(err, GL_ERR_NOMEM, "merge: out of memory");
    for (int k = 0; k < n; k++)
        paths[k] = gl_shard_set_name(set, k);
    gl_status st = gl_index_merge(output, paths, n, p->sort ? store_ordinal : NULL, (void *)set,
                                  &sum->rows, err);
    free(paths);
    return st;
}

/* ---------------------------------------------------------------- the call */

gl_status gl_merge_outputs(const char *output, const char *const *shards, int n,
                           const gl_merge_params *p, gl_merge_summary *summary, gl_error *err) {
    gl_merge_params dp = gl_merge_default_params();
    if (!p) p = &dp;
    gl_merge_summary sum = {.shards = n};
    if (n < 1) return gl_fail(err, GL_ERR_ARG, "merge: no shard outputs given");
    int csv = gl_path_has_suffix(output, ".csv"), gpkg = gl_path_has_suffix(output, ".gpkg");
    int geojson = gl_path_has_suffix(output, ".geojson") || gl_path_has_suffix(output, ".json");
    if (!csv && !gpkg && !geojson)
        return gl_fail(err, GL_ERR_ARG, "%s: the merged output must end in .csv, .geojson or .gpkg",
                       output);
    for (int k = 0; k < n; k++) {
        int same = csv    ? gl_path_has_suffix(shards[k], ".csv")
                   : gpkg ? gl_path_has_suffix(shards[k], ".gpkg")
                          : gl_path_has_suffix(shards[k], ".geojson") ||
                                gl_path_has_suffix(shards[k], ".json");
        if (!same)
            return gl_fail(err, GL_ERR_ARG, "%s: not the same format as %s", shards[k], output);
        if (!strcmp(shards[k], output))
            return gl_fail(err, GL_ERR_ARG, "%s: the merged output cannot be one of the shards",
                           output);
    }
    gl_shard_set *set = gl_shard_set_load(shards, n, err);
    if (!set) return err->code;
    gl_status st = csv ? merge_csv(output, set, p, &sum, err)
                   : gpkg && gl_index_is_store(gl_shard_set_name(set, 0))
                       ? merge_stores(output, set, p, &sum, err)
                       : merge_ogr(output, geojson, set, p, &sum, err);
    /* The merged output's manifest, as one process's: resumable, mergeable no more. */
    gl_manifest *m = st ? NULL : gl_shard_set_manifest(set, err);
    char *mpath = st ? NULL : gl_run_manifest_path(output);
    if (!st && !m) st = err->code;
    if (!st)
        st = mpath ? gl_manifest_write(m, mpath, err)
                   : gl_fail(err, GL_ERR_NOMEM, "merge: out of memory");
    sum.inputs = gl_shard_set_inputs(set);
    free(mpath);
    gl_manifest_free(m);
    gl_shard_set_free(set);
    if (summary) *summary = sum;
    return st;
}
