/* output.c: writes located images as CSV (Python-csv compatible) or as EPSG:4326 points through
 * OGR (GeoJSON, GeoPackage), with one set of columns for both and for both methods. */
#include "geo/geo.h"

#include <gdal.h>
#include <math.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { F_LAT, F_LON, F_COUNTRY, F_COUNTRY_PROB, F_CITY, F_CITY_PROB, F_SCORE, N_FIELDS };
static const char *const field_names[N_FIELDS] = {"lat",  "lon",       "country", "country_prob",
                                                  "city", "city_prob", "score"};

static int is_text(int f) {
    return f == F_COUNTRY || f == F_CITY;
}

/* Text fields: the country's iso2 and the city's name, "" when the guess has none. */
static const char *text_value(const gl_gazetteer *gz, const gl_geo_guess *q, int f) {
    if (!gz || !q) return "";
    if (f == F_COUNTRY) return q->country >= 0 ? gz->countries[q->country].iso2 : "";
    return q->city >= 0 ? gz->cities[q->city].name : "";
}

static double number_value(const gl_geo_guess *q, int f) {
    if (!q) return NAN;
    switch (f) {
    case F_LAT:
        return q->lat;
    case F_LON:
        return q->lon;
    case F_COUNTRY_PROB:
        return q->country_prob;
    case F_CITY_PROB:
        return q->city_prob;
    default:
        return q->score;
    }
}

/* Column name of field f for guess rank r (0-based): "lat", then "lat_2", ... */
static void column_name(int f, int r, char *out, size_t cap) {
    if (r == 0)
        snprintf(out, cap, "%s", field_names[f]);
    else
        snprintf(out, cap, "%s_%d", field_names[f], r + 1);
}

/* The shortest %g form (15 to 17 digits) that reads back as the same double, so coordinates
 * from a file come out as written there. */
static void print_exact(FILE *fp, double v) {
    char buf[40];
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, v);
        if (strtod(buf, NULL) == v) break;
    }
    fputs(buf, fp);
}

gl_status gl_geo_write_located_fp(FILE *fp, const gl_gazetteer *gz, const gl_geo_located *rows,
                                  int n, int top_k, gl_error *err) {
    fputs("filename", fp);
    for (int r = 0; r < top_k; r++)
        for (int f = 0; f < N_FIELDS; f++) {
            char name[32];
            column_name(f, r, name, sizeof name);
            fprintf(fp, ",%s", name);
        }
    fputc('\n', fp);
    for (int i = 0; i < n; i++) {
        gl_csv_write_field(fp, rows[i].filename);
        for (int r = 0; r < top_k; r++) {
            const gl_geo_guess *q = r < rows[i].n_guesses ? &rows[i].guesses[r] : NULL;
            for (int f = 0; f < N_FIELDS; f++) {
                fputc(',', fp);
                double v = number_value(q, f);
                if (is_text(f))
                    gl_csv_write_field(fp, text_value(gz, q, f));
                else if (!isnan(v) && f <= F_LON)
                    print_exact(fp, v);
                else if (!isnan(v))
                    fprintf(fp, "%.7g", v);
            }
        }
        fputc('\n', fp);
    }
    return ferror(fp) ? gl_fail(err, GL_ERR_IO, "located CSV: write failed") : GL_OK;
}

static gl_status write_csv(const char *path, const gl_gazetteer *gz, const gl_geo_located *rows,
                           int n, int top_k, gl_error *err) {
    gl_atomic_file af;
    gl_status s = gl_atomic_open(&af, path, err);
    if (s == GL_OK) s = gl_geo_write_located_fp(af.fp, gz, rows, n, top_k, err);
    if (s != GL_OK) {
        gl_atomic_abort(&af);
        return s;
    }
    return gl_atomic_commit(&af, err);
}

static void add_fields(OGRLayerH layer, int top_k) {
    OGRFieldDefnH fd = OGR_Fld_Create("filename", OFTString);
    OGR_L_CreateField(layer, fd, TRUE);
    OGR_Fld_Destroy(fd);
    for (int r = 0; r < top_k; r++)
        for (int f = 0; f < N_FIELDS; f++) {
            char name[32];
            column_name(f, r, name, sizeof name);
            fd = OGR_Fld_Create(name, is_text(f) ? OFTString : OFTReal);
            OGR_L_CreateField(layer, fd, TRUE);
            OGR_Fld_Destroy(fd);
        }
}

static int add_feature(OGRLayerH layer, const gl_gazetteer *gz, const gl_geo_located *row,
                       int top_k) {
    OGRFeatureH feat = OGR_F_Create(OGR_L_GetLayerDefn(layer));
    OGR_F_SetFieldString(feat, 0, row->filename);
    for (int r = 0; r < top_k; r++) {
        const gl_geo_guess *q = r < row->n_guesses ? &row->guesses[r] : NULL;
        for (int f = 0; f < N_FIELDS; f++) {
            int at = 1 + r * N_FIELDS + f;
            double v = number_value(q, f);
            if (is_text(f) && q)
                OGR_F_SetFieldString(feat, at, text_value(gz, q, f));
            else if (!is_text(f) && !isnan(v))
                OGR_F_SetFieldDouble(feat, at, v);
            else
                OGR_F_SetFieldNull(feat, at);
        }
    }
    if (row->n_guesses > 0) {
        OGRGeometryH pt = OGR_G_CreateGeometry(wkbPoint);
        OGR_G_SetPoint_2D(pt, 0, row->guesses[0].lon, row->guesses[0].lat);
        OGR_F_SetGeometryDirectly(feat, pt);
    }
    int bad = OGR_L_CreateFeature(layer, feat) != OGRERR_NONE;
    OGR_F_Destroy(feat);
    return bad;
}

/* OGR writes to a temporary name beside path, renamed into place once the dataset is closed. */
static gl_status write_ogr(const char *path, const char *driver, const gl_gazetteer *gz,
                           const gl_geo_located *rows, int n, int top_k, gl_error *err) {
    GDALAllRegister();
    GDALDriverH drv = GDALGetDriverByName(driver);
    if (!drv) return gl_fail(err, GL_ERR_UNSUPPORTED, "%s: GDAL has no %s driver", path, driver);
    size_t len = strlen(path) + 48;
    char *tmp = malloc(len);
    if (!tmp) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
    const char *ext = strrchr(path, '.');
    snprintf(tmp, len, "%s.tmp%ld%s", path, (long)getpid(), ext ? ext : "");
    unlink(tmp);
    GDALDatasetH ds = GDALCreate(drv, tmp, 0, 0, 0, GDT_Unknown, NULL);
    gl_status s = GL_OK;
    if (!ds) s = gl_fail(err, GL_ERR_IO, "%s: cannot create: %s", path, CPLGetLastErrorMsg());
    if (s == GL_OK) {
        OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
        OSRImportFromEPSG(srs, 4326);
        OSRSetAxisMappingStrategy(srs, OAMS_TRADITIONAL_GIS_ORDER);
        OGRLayerH layer = GDALDatasetCreateLayer(ds, "located", srs, wkbPoint, NULL);
        OSRRelease(srs);
        if (!layer)
            s = gl_fail(err, GL_ERR_IO, "%s: cannot create a layer: %s", path,
                        CPLGetLastErrorMsg());
        else
            add_fields(layer, top_k);
        for (int i = 0; s == GL_OK && i < n; i++)
            if (add_feature(layer, gz, &rows[i], top_k))
                s = gl_fail(err, GL_ERR_IO, "%s: cannot write a feature: %s", path,
                            CPLGetLastErrorMsg());
        CPLErrorReset();
        GDALClose(ds);
        if (CPLGetLastErrorType() >= CE_Failure && s == GL_OK)
            s = gl_fail(err, GL_ERR_IO, "%s: write failed: %s", path, CPLGetLastErrorMsg());
    }
    if (s == GL_OK && rename(tmp, path) != 0)
        s = gl_fail(err, GL_ERR_IO, "%s: cannot rename into place", path);
    if (s != GL_OK) unlink(tmp);
    free(tmp);
    return s;
}

gl_status gl_geo_write_located(const char *path, const gl_gazetteer *gz, const gl_geo_located *rows,
                               int n, int top_k, gl_error *err) {
    if (top_k < 1) return gl_fail(err, GL_ERR_ARG, "%s: top-k must be at least 1", path);
    if (gl_path_has_suffix(path, ".geojson") || gl_path_has_suffix(path, ".json"))
        return write_ogr(path, "GeoJSON", gz, rows, n, top_k, err);
    if (gl_path_has_suffix(path, ".gpkg")) return write_ogr(path, "GPKG", gz, rows, n, top_k, err);
    return write_csv(path, gz, rows, n, top_k, err);
}
