/* gazetteer.c: loads and validates countries.csv and cities.csv (the GeoNames-derived layout of
 * data/gazetteer), keeping each country's most populous cities contiguous and in rank order. */
#include "geo/geo.h"

#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define GAZ_MAX_FILE_BYTES ((size_t)256 << 20)

/* iso2 "FR" -> 0..675, or -1 for anything but two ASCII letters. */
static int iso_slot(const char *s) {
    if (!isalpha((unsigned char)s[0]) || !isalpha((unsigned char)s[1]) || s[2]) return -1;
    return (toupper((unsigned char)s[0]) - 'A') * 26 + (toupper((unsigned char)s[1]) - 'A');
}

int gl_gazetteer_find_country(const gl_gazetteer *gz, const char *iso2) {
    int slot = iso_slot(iso2);
    for (int i = 0; slot >= 0 && i < gz->n_countries; i++)
        if (iso_slot(gz->countries[i].iso2) == slot) return i;
    return -1;
}

void gl_gazetteer_free(gl_gazetteer *gz) {
    if (!gz) return;
    for (int i = 0; i < gz->n_countries; i++)
        free(gz->countries[i].name);
    for (int i = 0; i < gz->n_cities; i++)
        free(gz->cities[i].name);
    free(gz->countries);
    free(gz->cities);
    free(gz);
}

static gl_status read_countries(const char *path, gl_gazetteer *gz, int *slots, gl_error *err) {
    static const char *const cols[] = {"iso2", "iso3", "name", "lat", "lon"};
    static const int req[] = {1, 0, 1, 1, 1};
    int idx[5], cap = 0, r;
    gl_csv *csv = gl_geo_csv_open(path, cols, req, 5, idx, err);
    if (!csv) return err->code;
    gl_status s = GL_OK;
    while (s == GL_OK && (r = gl_csv_next(csv, err)) == 1) {
        const char *iso = gl_csv_field(csv, idx[0]), *name = gl_csv_field(csv, idx[2]);
        int slot = iso_slot(iso);
        double lat, lon;
        if (slot < 0 || slots[slot] >= 0 || !*name)
            s = gl_fail(err, GL_ERR_FORMAT, "%s: line %ld: %s '%s'", path, gl_csv_line(csv),
                        !*name     ? "empty name for"
                        : slot < 0 ? "iso2 is not two letters:"
                                   : "duplicate country",
                        iso);
        if (s == GL_OK) s = gl_geo_csv_latlon(csv, idx[3], idx[4], &lat, &lon, err);
        if (s == GL_OK &&
            gl_geo_grow((void **)&gz->countries, &cap, gz->n_countries, sizeof(gl_geo_country)))
            s = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
        if (s != GL_OK) break;
        gl_geo_country *c = &gz->countries[gz->n_countries];
        memset(c, 0, sizeof *c);
        c->iso2[0] = (char)toupper((unsigned char)iso[0]);
        c->iso2[1] = (char)toupper((unsigned char)iso[1]);
        if (idx[1] >= 0) snprintf(c->iso3, sizeof c->iso3, "%.3s", gl_csv_field(csv, idx[1]));
        c->lat = lat, c->lon = lon;
        if (!(c->name = strdup(name)))
            s = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
        else
            slots[slot] = gz->n_countries++;
    }
    if (s == GL_OK && r < 0) s = err->code;
    if (s == GL_OK && gz->n_countries == 0)
        s = gl_fail(err, GL_ERR_FORMAT, "%s: no countries", path);
    gl_csv_free(csv);
    return s;
}

static gl_status read_cities(const char *path, gl_gazetteer *gz, const int *slots, gl_error *err) {
    static const char *const cols[] = {"name", "iso2", "lat", "lon", "population"};
    static const int req[] = {1, 1, 1, 1, 0};
    int idx[5], cap = 0, r;
    gl_csv *csv = gl_geo_csv_open(path, cols, req, 5, idx, err);
    if (!csv) return err->code;
    gl_status s = GL_OK;
    while (s == GL_OK && (r = gl_csv_next(csv, err)) == 1) {
        const char *iso = gl_csv_field(csv, idx[1]), *name = gl_csv_field(csv, idx[0]);
        int slot = iso_slot(iso);
        double lat, lon, pop = -1;
        if (slot < 0 || slots[slot] < 0 || !*name)
            s = gl_fail(err, GL_ERR_FORMAT, "%s: line %ld: %s '%s'", path, gl_csv_line(csv),
                        !*name ? "empty name for a city in" : "unknown country", iso);
        if (s == GL_OK) s = gl_geo_csv_latlon(csv, idx[2], idx[3], &lat, &lon, err);
        if (s == GL_OK && idx[4] >= 0 &&
            gl_geo_parse_number(gl_csv_field(csv, idx[4]), 0, 1e12, &pop))
            s = gl_fail(err, GL_ERR_FORMAT, "%s: line %ld: population '%s' is not a number", path,
                        gl_csv_line(csv), gl_csv_field(csv, idx[4]));
        if (s == GL_OK &&
            gl_geo_grow((void **)&gz->cities, &cap, gz->n_cities, sizeof(gl_geo_city)))
            s = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
        if (s != GL_OK) break;
        gl_geo_city *c = &gz->cities[gz->n_cities];
        c->country = slots[slot], c->lat = lat, c->lon = lon, c->population = (long long)pop;
        if (!(c->name = strdup(name)))
            s = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
        else
            gz->n_cities++;
    }
    if (s == GL_OK && r < 0) s = err->code;
    gl_csv_free(csv);
    return s;
}

typedef struct {
    int country, row;
    long long population;
} city_rank;

/* Ties keep file order, so the result does not depend on qsort's stability. */
static int cmp_rank(const void *a, const void *b) {
    const city_rank *x = a, *y = b;
    if (x->country != y->country) return x->country < y->country ? -1 : 1;
    if (x->population != y->population) return x->population > y->population ? -1 : 1;
    return (x->row > y->row) - (x->row < y->row);
}

/* Orders cities by country then population and keeps GL_GEO_MAX_CITIES per country. */
static gl_status rank_cities(gl_gazetteer *gz, gl_error *err) {
    int n = gz->n_cities;
    city_rank *rank = malloc((size_t)(n ? n : 1) * sizeof *rank);
    gl_geo_city *sorted = malloc((size_t)(n ? n : 1) * sizeof *sorted);
    if (!rank || !sorted) {
        free(rank);
        free(sorted);
        return gl_fail(err, GL_ERR_NOMEM, "gazetteer: out of memory");
    }
    for (int i = 0; i < n; i++)
        rank[i] = (city_rank){gz->cities[i].country, i, gz->cities[i].population};
    qsort(rank, (size_t)n, sizeof *rank, cmp_rank);
    int kept = 0;
    for (int i = 0; i < n; i++) {
        gl_geo_city *city = &gz->cities[rank[i].row];
        gl_geo_country *c = &gz->countries[city->country];
        if (c->n_cities == GL_GEO_MAX_CITIES) {
            free(city->name);
            continue;
        }
        if (c->n_cities++ == 0) c->first_city = kept;
        sorted[kept++] = *city;
    }
    free(gz->cities);
    free(rank);
    gz->cities = sorted;
    gz->n_cities = kept;
    return GL_OK;
}

static gl_status hash_files(const char *a, const char *b, char out[17], gl_error *err) {
    uint64_t h = GL_GEO_FNV_INIT;
    const char *paths[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        char *buf;
        size_t len;
        gl_status s = gl_read_file(paths[i], GAZ_MAX_FILE_BYTES, &buf, &len, err);
        if (s != GL_OK) return s;
        h = gl_geo_fnv1a(h, buf, len + 1); /* the NUL separates the files */
        free(buf);
    }
    gl_geo_hex64(h, out);
    return GL_OK;
}

gl_gazetteer *gl_gazetteer_load(const char *dir, gl_error *err) {
    char shipped[PATH_MAX], countries[PATH_MAX + 16], cities[PATH_MAX + 16];
    if (!dir) {
        if (gl_data_path("gazetteer", shipped, sizeof shipped, err) != GL_OK) return NULL;
        dir = shipped;
    }
    snprintf(countries, sizeof countries, "%s/countries.csv", dir);
    snprintf(cities, sizeof cities, "%s/cities.csv", dir);
    int slots[26 * 26];
    for (int i = 0; i < 26 * 26; i++)
        slots[i] = -1;
    gl_gazetteer *gz = calloc(1, sizeof *gz);
    if (!gz) {
        gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", dir);
        return NULL;
    }
    gl_status s = hash_files(countries, cities, gz->hash, err);
    if (s == GL_OK) s = read_countries(countries, gz, slots, err);
    if (s == GL_OK) s = read_cities(cities, gz, slots, err);
    if (s == GL_OK) s = rank_cities(gz, err);
    if (s == GL_OK) return gz;
    gl_gazetteer_free(gz);
    return NULL;
}
