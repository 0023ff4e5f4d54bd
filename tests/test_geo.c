/* test_geo.c: distances against Python's math module, the gazetteer against its README's counts
 * and rows, the embedding cache's corruption checks, and zero-shot locate's mechanics. */
#include "harness.h"
#include "geo/geo.h"

#include <sys/stat.h>
#include <unistd.h>

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
    gl_gazetteer *gz = NULL;
    gl_error err = {0};
    gz = gl_gazetteer_load(t_path("data/gazetteer"), &err);
    CHECK(gz, "%s", err.msg);
    if (!gz) return;
    /* Counts from the gazetteer README: 250 countries, 4368 cities, 6 countries without any. */
    CHECK(gz->n_countries == 250 && gz->n_cities == 4368, "%d countries, %d cities",
          gz->n_countries, gz->n_cities);
    int empty = 0, full = 0;
    for (int i = 0; i < gz->n_countries; i++) {
        empty += gz->countries[i].n_cities == 0;
        full += gz->countries[i].n_cities == 30;
    }
    CHECK(empty == 6 && full == 110, "%d without cities, %d with 30", empty, full);
    int fr = gl_gazetteer_find_country(gz, "fr");
    CHECK(fr >= 0 && !strcmp(gz->countries[fr].name, "France"), "FR");
    if (fr >= 0) {
        const gl_geo_city *c = &gz->cities[gz->countries[fr].first_city];
        CHECK(!strcmp(c->name, "Paris") && fabs(c->lat - 48.85341) < 1e-9, "first FR city %s",
              c->name);
    }
    int aq = gl_gazetteer_find_country(gz, "AQ");
    CHECK(aq >= 0 && fabs(gz->countries[aq].lat - -77.83333) < 1e-9, "AQ point");
    gl_gazetteer_free(gz);
    /* The shipped copy is found from the executable's location and is the same data. */
    gl_gazetteer *shipped = NULL;
    shipped = gl_gazetteer_load(NULL, &err);
    CHECK(shipped, "%s", err.msg);
    if (!shipped) return;
    CHECK(shipped->n_cities == 4368, "shipped copy: %d cities", shipped->n_cities);
    gl_gazetteer_free(shipped);
}

static void expect_gazetteer_error(const char *countries, const char *cities, const char *needle) {
    mkdir("gz", 0755);
    t_write_text("gz/countries.csv", countries);
    t_write_text("gz/cities.csv", cities);
    gl_error err = {0};
    gl_gazetteer *gz = gl_gazetteer_load("gz", &err);
    gl_status s = gz ? GL_OK : err.code;
    CHECK(s == GL_ERR_FORMAT && strstr(err.msg, needle), "expected '%s', got %d '%s'", needle, s,
          err.msg);
    gl_gazetteer_free(gz);
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
    expect_gazetteer_error(countries, "name,lat,lon\n",
                           "gz/cities.csv: line 1: missing column 'iso2'");
    unlink("gz/countries.csv");
    unlink("gz/cities.csv");
    rmdir("gz");
}

/* A user gazetteer: cities out of order and more than 30 in a country are ranked and cut. */
static void test_gazetteer_ranks(void) {
    mkdir("gz", 0755);
    t_write_text("gz/countries.csv", "iso2,name,lat,lon\nXA,Alpha,1,1\nXB,Beta,2,2\n");
    FILE *fp = fopen("gz/cities.csv", "w");
    fprintf(fp, "name,iso2,lat,lon,population\n");
    for (int i = 0; i < 40; i++)
        fprintf(fp, "\"B%02d, Town\",XB,%d,0,%d\n", i, i, 1000 + i);
    fprintf(fp, "Ōsaka,XA,34.69,135.5,5\nZürich,XA,47.37,8.55,50\n");
    fclose(fp);
    gl_gazetteer *gz = NULL;
    gl_error err = {0};
    gz = gl_gazetteer_load("gz", &err);
    CHECK(gz, "%s", err.msg);
    if (!gz) return;
    CHECK(gz->n_cities == 32, "%d cities kept", gz->n_cities);
    if (gz->n_cities == 32) {
        CHECK(gz->countries[0].first_city == 0 && gz->countries[0].n_cities == 2, "XA block");
        CHECK(!strcmp(gz->cities[0].name, "Zürich") && !strcmp(gz->cities[1].name, "Ōsaka"),
              "XA order");
        CHECK(gz->countries[1].first_city == 2 && gz->countries[1].n_cities == 30, "XB block");
        CHECK(!strcmp(gz->cities[2].name, "B39, Town") && !strcmp(gz->cities[31].name, "B10, Town"),
              "XB ranked by population: %s .. %s", gz->cities[2].name, gz->cities[31].name);
    }
    gl_gazetteer_free(gz);
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
    t_write_text("pred.csv", "filename,lat,lon\na.jpg,10,20\n");
    t_write_text("truth.csv", "filename,lat,lon\na.jpg,10,20\nb.jpg,-12,181\n");
    gl_geo_eval r;
    gl_error err = {0};
    gl_status s = gl_geo_eval_files("pred.csv", "truth.csv", &r, &err);
    CHECK(s == GL_ERR_FORMAT && strstr(err.msg, "truth.csv: line 3: longitude '181'"), "%s",
          err.msg);
    t_write_text("truth.csv", "filename,lat\na.jpg,10\n");
    s = gl_geo_eval_files("pred.csv", "truth.csv", &r, &err);
    CHECK(s == GL_ERR_FORMAT && strstr(err.msg, "missing column 'lon'"), "%s", err.msg);
    unlink("pred.csv");
    unlink("truth.csv");
}

/* ---------------------------------------------------------------- zero-shot locate mechanics */

static gl_clip *tiny_clip(gl_error *err) {
    gl_clip_params cp = gl_clip_default_params();
    cp.threads = 2;
    return gl_clip_load(t_path("fixtures/clip-tiny-b32"), &cp, err);
}

/* The shipped gazetteer, checked (NULL after a failed check). */
static gl_gazetteer *shipped_gazetteer(void) {
    gl_error err = {0};
    gl_gazetteer *gz = gl_gazetteer_load(t_path("data/gazetteer"), &err);
    CHECK(gz, "%s", err.msg);
    return gz;
}

static int kauai_embedding(gl_clip *clip, float *emb, gl_error *err) {
    const char *path = t_path("data/imagery/Kauai.png");
    gl_status s = gl_clip_encode_image_files(clip, &path, 1, emb, err);
    CHECK(s == GL_OK, "Kauai.png: %s", err->msg);
    return s == GL_OK;
}

/* --countries FR: the answer is in France, a city of its block; the second locator over the
 * same cache encodes no prompt at all. */
static void test_locate_restricted_and_cached(void) {
    gl_error err = {0};
    gl_clip *clip = tiny_clip(&err);
    CHECK(clip != NULL, "%s", err.msg);
    gl_gazetteer *gz = shipped_gazetteer();
    float emb[64];
    if (!clip || !gz || !kauai_embedding(clip, emb, &err)) goto out;
    int fr = gl_gazetteer_find_country(gz, "FR");
    gl_locate_params p = gl_locate_default_params();
    p.countries = "FR", p.cache_dir = "zs-cache", p.top_k = 3;
    /* A fresh cache folder: the first pass must find nothing. */
    CHECK(system("rm -rf zs-cache && mkdir zs-cache") == 0, "mkdir");
    for (int pass = 0; pass < 2; pass++) {
        gl_locator *loc = gl_locator_new(clip, gz, &p, &err);
        CHECK(loc != NULL, "%s", err.msg);
        if (!loc) break;
        gl_geo_guess q[3];
        int n = 0;
        CHECK_OK(gl_locator_run(loc, emb, 1, q, &n, &err), &err);
        CHECK(n == 3 && q[0].country == fr && fabs(q[0].country_prob - 1) < 1e-6, "FR with P=1");
        const gl_geo_country *c = &gz->countries[fr];
        for (int i = 0; i < n; i++)
            CHECK(q[i].city >= c->first_city && q[i].city < c->first_city + c->n_cities &&
                      q[i].lat == gz->cities[q[i].city].lat,
                  "guess %d is a French city", i);
        CHECK(n == 3 && q[0].score >= q[1].score && q[1].score >= q[2].score, "ranked");
        gl_geo_cache_stats st = gl_locator_stats(loc);
        /* 1 country prompt + FR's 30 city prompts, encoded once, then all from the cache. */
        CHECK(st.encoded == (pass ? 0 : 31) && st.cached == (pass ? 31 : 0),
              "pass %d: %ld encoded, %ld cached", pass, st.encoded, st.cached);
        gl_locator_free(loc);
    }
out:
    CHECK(system("rm -rf zs-cache") == 0, "cleanup");
    gl_clip_free(clip);
    gl_gazetteer_free(gz);
}

static double dot_d(const float *a, const float *b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

/* softmax(scale * cos(img, text_k)) over texts, computed here from get_text_features rows. */
static void hand_probs(gl_clip *clip, const float *img, char **texts, int n, double *prob) {
    int d = gl_clip_projection_dim(clip);
    float *t = malloc((size_t)n * d * sizeof(float));
    gl_error err = {0};
    CHECK_OK(gl_clip_encode_texts(clip, (const char *const *)texts, n, t, &err), &err);
    double ni = sqrt(dot_d(img, img, d)), mx = -1e300, sum = 0;
    for (int k = 0; k < n; k++) {
        const float *r = t + (size_t)k * d;
        prob[k] = gl_clip_logit_scale(clip) * dot_d(img, r, d) / (ni * sqrt(dot_d(r, r, d)));
        mx = prob[k] > mx ? prob[k] : mx;
    }
    for (int k = 0; k < n; k++)
        sum += prob[k] = exp(prob[k] - mx);
    for (int k = 0; k < n; k++)
        prob[k] /= sum;
    free(t);
}

typedef struct {
    double score;
    int city;
} scored;

static int cmp_scored(const void *a, const void *b) {
    double x = ((const scored *)a)->score, y = ((const scored *)b)->score;
    return (x < y) - (x > y);
}

/* --top-countries 2 over FR,DE,JP,BR: P(country) * P(city | country) computed by hand. */
static void test_locate_top_countries_by_hand(void) {
    gl_error err = {0};
    gl_clip *clip = tiny_clip(&err);
    gl_gazetteer *gz = shipped_gazetteer();
    float emb[64];
    if (!clip || !gz || !kauai_embedding(clip, emb, &err)) goto out;
    const char *iso[4] = {"FR", "DE", "JP", "BR"};
    char *texts[GL_GEO_MAX_CITIES];
    double pc[4], pcity[GL_GEO_MAX_CITIES];
    for (int k = 0; k < 4; k++) {
        texts[k] = malloc(128);
        snprintf(texts[k], 128, "A Street View photo in %s.",
                 gz->countries[gl_gazetteer_find_country(gz, iso[k])].name);
    }
    hand_probs(clip, emb, texts, 4, pc);
    for (int k = 0; k < 4; k++)
        free(texts[k]);
    int order[4] = {0, 1, 2, 3};
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++)
            if (pc[order[j]] > pc[order[i]]) {
                int t = order[i];
                order[i] = order[j], order[j] = t;
            }
    scored all[2 * GL_GEO_MAX_CITIES];
    int n_all = 0;
    for (int j = 0; j < 2; j++) {
        const gl_geo_country *c = &gz->countries[gl_gazetteer_find_country(gz, iso[order[j]])];
        for (int i = 0; i < c->n_cities; i++) {
            texts[i] = malloc(256);
            snprintf(texts[i], 256, "A Street View photo from %s.",
                     gz->cities[c->first_city + i].name);
        }
        hand_probs(clip, emb, texts, c->n_cities, pcity);
        for (int i = 0; i < c->n_cities; i++) {
            free(texts[i]);
            all[n_all++] = (scored){pc[order[j]] * pcity[i], c->first_city + i};
        }
    }
    qsort(all, (size_t)n_all, sizeof *all, cmp_scored);
    gl_locate_params p = gl_locate_default_params();
    p.countries = "FR,DE,JP,BR", p.top_countries = 2, p.top_k = 5, p.cache_dir = "";
    gl_locator *loc = gl_locator_new(clip, gz, &p, &err);
    gl_geo_guess q[5];
    int n = 0;
    CHECK(loc && gl_locator_run(loc, emb, 1, q, &n, &err) == GL_OK, "%s", err.msg);
    CHECK(n == 5, "%d guesses", n);
    for (int r = 0; r < n; r++)
        CHECK(q[r].city == all[r].city && fabs(q[r].score - all[r].score) < 1e-5,
              "rank %d: city %d score %.7f, by hand city %d score %.7f", r, q[r].city, q[r].score,
              all[r].city, all[r].score);
    gl_locator_free(loc);
out:
    gl_clip_free(clip);
    gl_gazetteer_free(gz);
}

/* A country without cities (AQ in the shipped data) answers with the country's own point. */
static void test_locate_country_without_cities(void) {
    gl_error err = {0};
    gl_clip *clip = tiny_clip(&err);
    gl_gazetteer *gz = shipped_gazetteer();
    float emb[64];
    if (clip && gz && kauai_embedding(clip, emb, &err)) {
        gl_locate_params p = gl_locate_default_params();
        p.countries = "AQ", p.cache_dir = "";
        gl_locator *loc = gl_locator_new(clip, gz, &p, &err);
        gl_geo_guess q;
        int n = 0;
        CHECK(loc && gl_locator_run(loc, emb, 1, &q, &n, &err) == GL_OK, "%s", err.msg);
        CHECK(n == 1 && q.city == -1 && q.lat == -77.83333 && q.lon == 166.6 && q.score == 1.0f,
              "AQ point: city %d at %g,%g", q.city, q.lat, q.lon);
        gl_locator_free(loc);
    }
    gl_clip_free(clip);
    gl_gazetteer_free(gz);
}

/* Odd Unicode names tokenize and embed; level country gives the country point. */
static void test_locate_unicode_names(void) {
    mkdir("gzu", 0755);
    t_write_text("gzu/countries.csv",
                 "iso2,name,lat,lon\nBR,Brasil,-15.78,-47.93\nCH,Schweiz/Suisse,46.95,7.45\n"
                 "JP,日本,35.69,139.69\n");
    t_write_text("gzu/cities.csv",
                 "name,iso2,lat,lon,population\nSão Paulo,BR,-23.55,-46.63,10021295\n"
                 "Zürich,CH,47.37,8.55,341730\nŌsaka,JP,34.69,135.5,2592413\n"
                 "Bộ Ḱ̈ẅ \"quoted\",JP,35,135,1\n");
    gl_error err = {0};
    gl_gazetteer *gz = NULL;
    gl_clip *clip = tiny_clip(&err);
    gz = gl_gazetteer_load("gzu", &err);
    CHECK(gz, "%s", err.msg);
    if (!gz) return;
    float emb[64];
    if (clip && kauai_embedding(clip, emb, &err)) {
        gl_locate_params p = gl_locate_default_params();
        p.top_countries = 3, p.top_k = 4, p.cache_dir = "";
        gl_locator *loc = gl_locator_new(clip, gz, &p, &err);
        gl_geo_guess q[4];
        int n = 0;
        CHECK(loc && gl_locator_run(loc, emb, 1, q, &n, &err) == GL_OK, "%s", err.msg);
        double sum = 0;
        for (int i = 0; i < n; i++)
            sum += q[i].score;
        CHECK(n == 4 && fabs(sum - 1) < 1e-5, "all 4 cities scored, total %.7f", sum);
        CHECK(loc && gl_locator_stats(loc).encoded == 3 + 4, "3 countries + 4 cities encoded");
        gl_locator_free(loc);
        p.level = GL_GEO_LEVEL_COUNTRY;
        loc = gl_locator_new(clip, gz, &p, &err);
        CHECK(loc && gl_locator_run(loc, emb, 1, q, &n, &err) == GL_OK, "%s", err.msg);
        CHECK(n == 3 && q[0].city == -1 && q[0].lat == gz->countries[q[0].country].lat,
              "country level");
        gl_locator_free(loc);
    }
    gl_clip_free(clip);
    gl_gazetteer_free(gz);
    unlink("gzu/countries.csv");
    unlink("gzu/cities.csv");
    rmdir("gzu");
}

/* Cache and data folders follow the environment: caches go under ROOT/embeddings, created. */
static void test_paths(void) {
    char out[4096], *saved = getenv("GEOLABEL_CACHE") ? strdup(getenv("GEOLABEL_CACHE")) : NULL;
    gl_error err = {0};
    setenv("GEOLABEL_CACHE", "cc/deeper", 1);
    CHECK_OK(gl_geo_cache_dir(out, sizeof out, &err), &err);
    struct stat st;
    CHECK(!strcmp(out, "cc/deeper/embeddings") && stat(out, &st) == 0 && S_ISDIR(st.st_mode), "%s",
          out);
    rmdir("cc/deeper/embeddings");
    rmdir("cc/deeper");
    rmdir("cc");
    if (saved)
        setenv("GEOLABEL_CACHE", saved, 1);
    else
        unsetenv("GEOLABEL_CACHE");
    free(saved);
    setenv("GEOLABEL_DATA", "no-such-folder", 1);
    gl_status s = gl_data_path("gazetteer", out, sizeof out, &err);
    CHECK(s == GL_ERR_IO && strstr(err.msg, "no-such-folder/gazetteer: not found ($GEOLABEL_DATA)"),
          "%s", err.msg);
    setenv("GEOLABEL_DATA", t_path("data"), 1);
    CHECK_OK(gl_data_path("gazetteer", out, sizeof out, &err), &err);
    unsetenv("GEOLABEL_DATA");
}

int main(void) {
    RUN(test_paths);
    RUN(test_haversine);
    RUN(test_gazetteer_shipped);
    RUN(test_gazetteer_errors);
    RUN(test_gazetteer_ranks);
    RUN(test_embcache);
    RUN(test_eval_errors);
    RUN(test_locate_restricted_and_cached);
    RUN(test_locate_top_countries_by_hand);
    RUN(test_locate_unicode_names);
    RUN(test_locate_country_without_cities);
    T_SUMMARY();
}
