/* geocsv.c: column lookup and coordinate validation for the CSV files geolocation reads
 * (gazetteer, gallery, predictions, truth), so every one reports bad rows the same way. */
#include "geo/geo.h"

#include <ctype.h>
#include <string.h>

/* Header names match as written, in lower case or in upper case (GeoCLIP's gallery says LAT). */
static int find_column(const gl_csv *csv, const char *name) {
    int i = gl_csv_column(csv, name);
    char buf[64];
    size_t n = strlen(name);
    if (i >= 0 || n >= sizeof buf) return i;
    for (int upper = 0; upper < 2 && i < 0; upper++) {
        for (size_t k = 0; k <= n; k++)
            buf[k] =
                (char)(upper ? toupper((unsigned char)name[k]) : tolower((unsigned char)name[k]));
        i = gl_csv_column(csv, buf);
    }
    return i;
}

gl_csv *gl_geo_csv_open(const char *path, const char *const *cols, const int *required, int n,
                        int *idx, gl_error *err) {
    gl_csv *csv = gl_csv_open(path, 1, err);
    if (!csv) return NULL;
    for (int i = 0; i < n; i++) {
        idx[i] = find_column(csv, cols[i]);
        if (idx[i] < 0 && required[i]) {
            gl_fail(err, GL_ERR_FORMAT, "%s: line 1: missing column '%s'", path, cols[i]);
            gl_csv_free(csv);
            return NULL;
        }
    }
    return csv;
}

gl_status gl_geo_csv_latlon(const gl_csv *csv, int lat_col, int lon_col, double *lat, double *lon,
                            gl_error *err) {
    const char *a = gl_csv_field(csv, lat_col), *b = gl_csv_field(csv, lon_col);
    if (gl_geo_parse_number(a, -90, 90, lat))
        return gl_fail(err, GL_ERR_FORMAT,
                       "%s: line %ld: latitude '%s' is not a number in [-90, 90]", gl_csv_path(csv),
                       gl_csv_line(csv), a);
    if (gl_geo_parse_number(b, -180, 180, lon))
        return gl_fail(err, GL_ERR_FORMAT,
                       "%s: line %ld: longitude '%s' is not a number in [-180, 180]",
                       gl_csv_path(csv), gl_csv_line(csv), b);
    return GL_OK;
}
