/* test_geo.c: distances against Python's math module, the gazetteer against its README's counts
 * and rows, the embedding cache's corruption checks, and zero-shot locate's mechanics. */
#include "harness.h"
#include "geo/geo.h"

#include <sys/stat.h>
#include <unistd.h>

static void write_text(const char *path, const char *text) {
    FILE *fp = fopen(path, "w");
    fputs(text, fp);
    fclose(fp);
}

/* Expected values from Python: 2*6371*asin(sqrt(sin(dphi/2)**2 + cos(p1)cos(p2)sin(dl/2)**2)). */
static void test_haversine(void) {
    CHECK(fabs(gl_haversine_km(48.8566, 2.3522, 51.5074, -0.1278) - 343.55606034104153) < 1e-9,
          "Paris-London %.10f", gl_haversine_km(48.8566, 2.3522, 51.5074, -0.1278));
    double half = M_PI * 6371.0; /* 20015.086796020572 */
    CHECK(fabs(gl_haversine_km(90, 0, -90, 0) - half) < 1e-9, "pole to pole");
    CHECK(fabs(gl_haversine_km(10, 20, -10, -160) - 20015.086606149976) < 1e-6, "antipodes %.9f",
          gl_haversine_km(10, 20, -10, -160));
    CHECK(fabs(gl_haversine_km(0, 0, 0, 180) - half) < 1e-9, "equator antipodes");
    CHECK(fabs(gl_haversine_km(90, 0, 90, 123)) < 1e-9, "north pole at any longitude");
    CHECK(gl_haversine_km(37.5, -122.25, 37.5, -122.25) == 0, "identical points");
    CHECK(fabs(gl_haversine_km(0, 179.5, 0, -179.5) - 111.19492664455905) < 1e-9, "antimeridian");
}

static void test_gazetteer_shipped(void) {
    gl_gazetteer gz;
    gl_error err = {0};
    CHECK_OK(gl_gazetteer_load(t_path("data/gazetteer"), &gz, &err), &err);
    /* Counts from the gazetteer README: 250 countries, 4368 cities, 6 countries without any. */
    CHECK(gz.n_countries == 250 && gz.n_cities == 4368, "%d countries, %d cities", gz.n_countries,
          gz.n_cities);
    int empty = 0, full = 0;
    for (int i = 0; i < gz.n_countries; i++) {
        empty += gz.countries[i].n_cities == 0;
        full += gz.countries[i].n_cities == 30;
    }
    CHECK(empty == 6 && full == 110, "%d without cities, %d with 30", empty, full);
    int fr = gl_gazetteer_find_country(&gz, "fr");
    CHECK(fr >= 0 && !strcmp(gz.countries[fr].name, "France"), "FR");
    if (fr >= 0) {
        const gl_geo_city *c = &gz.cities[gz.countries[fr].first_city];
        CHECK(!strcmp(c->name, "Paris") && fabs(c->lat - 48.85341) < 1e-9, "first FR city %s", c->name);
    }
    int aq = gl_gazetteer_find_country(&gz, "AQ");
    CHECK(aq >= 0 && fabs(gz.countries[aq].lat - -77.83333) < 1e-9, "AQ point");
    gl_gazetteer_free(&gz);
    /* The shipped copy is found from the executable's location and is the same data. */
    gl_gazetteer shipped;
    CHECK_OK(gl_gazetteer_load(NULL, &shipped, &err), &err);
    CHECK(shipped.n_cities == 4368, "shipped copy: %d cities", shipped.n_cities);
    gl_gazetteer_free(&shipped);
}

static void expect_gazetteer_error(const char *countries, const char *cities, const char *needle) {
    mkdir("gz", 0755);
    write_text("gz/countries.csv", countries);
    write_text("gz/cities.csv", cities);
    gl_gazetteer gz;
    gl_error err = {0};
    gl_status s = gl_gazetteer_load("gz", &gz, &err);
    CHECK(s == GL_ERR_FORMAT && strstr(err.msg, needle), "expected '%s', got %d '%s'", needle, s,
          err.msg);
    gl_gazetteer_free(&gz);
}

static void test_gazetteer_errors(void) {
    const char *countries = "iso2,iso3,name,lat,lon\nFR,FRA,France,48.85,2.35\n";
    expect_gazetteer_error("iso2,name,lon\nFR,France,2\n", "name,iso2,lat,lon\n",
                           "gz/countries.csv: line 1: missing column 'lat'");
    expect_gazetteer_error("iso2,name,lat,lon\nFR,France,91,2\n", "name,iso2,lat,lon\n",
                           "gz/countries.csv: line 2: latitude '91'");
    expect_gazetteer_error(countries, "name,iso2,lat,lon\nParis,FR,48.8,x\n",
                           "gz/cities.csv: line 2: longitude 'x'");
    expect_gazetteer_error(countries, "name,iso2,lat,lon\nLyon,FR,45.7,4.8\nBerlin,DE,52.5,13.4\n",
                           "gz/cities.csv: line 3: unknown country 'DE'");
    expect_gazetteer_error(countries, "name,lat,lon\n", "gz/cities.csv: line 1: missing column 'iso2'");
    unlink("gz/countries.csv");
    unlink("gz/cities.csv");
    rmdir("gz");
}

/* A user gazetteer: cities out of order and more than 30 in a country are ranked and cut. */
static void test_gazetteer_ranks(void) {
    mkdir("gz", 0755);
    write_text("gz/countries.csv", "iso2,name,lat,lon\nXA,Alpha,1,1\nXB,Beta,2,2\n");
    FILE *fp = fopen("gz/cities.csv", "w");
    fprintf(fp, "name,iso2,lat,lon,population\n");
    for (int i = 0; i < 40; i++) fprintf(fp, "\"B%02d, Town\",XB,%d,0,%d\n", i, i, 1000 + i);
    fprintf(fp, "Ōsaka,XA,34.69,135.5,5\nZürich,XA,47.37,8.55,50\n");
    fclose(fp);
    gl_gazetteer gz;
    gl_error err = {0};
    CHECK_OK(gl_gazetteer_load("gz", &gz, &err), &err);
    CHECK(gz.n_cities == 32, "%d cities kept", gz.n_cities);
    if (gz.n_cities == 32) {
        CHECK(gz.countries[0].first_city == 0 && gz.countries[0].n_cities == 2, "XA block");
        CHECK(!strcmp(gz.cities[0].name, "Zürich") && !strcmp(gz.cities[1].name, "Ōsaka"), "XA order");
        CHECK(gz.countries[1].first_city == 2 && gz.countries[1].n_cities == 30, "XB block");
        CHECK(!strcmp(gz.cities[2].name, "B39, Town") && !strcmp(gz.cities[31].name, "B10, Town"),
              "XB ranked by population: %s .. %s", gz.cities[2].name, gz.cities[31].name);
    }
    gl_gazetteer_free(&gz);
    unlink("gz/countries.csv");
    unlink("gz/cities.csv");
    rmdir("gz");
}

static void test_embcache(void) {
    gl_geo_embcache c;
    gl_error err = {0};
    CHECK_OK(gl_geo_embcache_open(&c, ".", "t", "key-1", 3, 2, &err), &err);
    CHECK(!c.present[0] && !c.present[1] && !c.present[2], "starts empty");
    c.present[1] = 1, c.data[2] = 1.5f, c.data[3] = -2.0f, c.dirty = 1;
    char *path = strdup(c.path);
    CHECK_OK(gl_geo_embcache_save(&c, &err), &err);
    gl_geo_embcache_close(&c);
    CHECK_OK(gl_geo_embcache_open(&c, ".", "t", "key-1", 3, 2, &err), &err);
    CHECK(!c.present[0] && c.present[1] && !c.present[2] && c.data[2] == 1.5f && c.data[3] == -2.0f,
          "round trip");
    gl_geo_embcache_close(&c);
    /* One flipped byte in the data: the CRC no longer matches and the rows read as absent. */
    FILE *fp = fopen(path, "r+b");
    fseek(fp, -6, SEEK_END);
    int ch = fgetc(fp);
    fseek(fp, -6, SEEK_END);
    fputc(ch ^ 0x40, fp);
    fclose(fp);
    CHECK_OK(gl_geo_embcache_open(&c, ".", "t", "key-1", 3, 2, &err), &err);
    CHECK(!c.present[1], "corrupt cache ignored");
    gl_geo_embcache_close(&c);
    /* Truncated file. */
    CHECK(truncate(path, 20) == 0, "truncate");
    CHECK_OK(gl_geo_embcache_open(&c, ".", "t", "key-1", 3, 2, &err), &err);
    CHECK(!c.present[1], "truncated cache ignored");
    gl_geo_embcache_close(&c);
    unlink(path);
    free(path);
}

static void test_eval_errors(void) {
    write_text("pred.csv", "filename,lat,lon\na.jpg,10,20\n");
    write_text("truth.csv", "filename,lat,lon\na.jpg,10,20\nb.jpg,-12,181\n");
    gl_geo_eval r;
    gl_error err = {0};
    gl_status s = gl_geo_eval_files("pred.csv", "truth.csv", &r, &err);
    CHECK(s == GL_ERR_FORMAT && strstr(err.msg, "truth.csv: line 3: longitude '181'"), "%s", err.msg);
    write_text("truth.csv", "filename,lat\na.jpg,10\n");
    s = gl_geo_eval_files("pred.csv", "truth.csv", &r, &err);
    CHECK(s == GL_ERR_FORMAT && strstr(err.msg, "missing column 'lon'"), "%s", err.msg);
    unlink("pred.csv");
    unlink("truth.csv");
}

int main(void) {
    RUN(test_haversine);
    RUN(test_gazetteer_shipped);
    RUN(test_gazetteer_errors);
    RUN(test_gazetteer_ranks);
    RUN(test_embcache);
    RUN(test_eval_errors);
    T_SUMMARY();
}
