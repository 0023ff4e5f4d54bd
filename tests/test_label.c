/* test_label.c: zero-shot classification against the fixture model's transformers logits (flat,
 * hierarchical, TTA averaging, prompt ensembles), GVL's prompt, and the label writers against
 * Python's csv and json modules and ogrinfo. */
#include "harness.h"
#include "label/label.h"

/* Writes script to file and runs it with Debian's python, then `then` (a shell command, or ""). */
static int run_python(const char *file, const char *script, const char *then) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s %s%s", t_python(), file, then);
    return t_write_text(file, script) && system(cmd) == 0;
}

static void test_gvl_prompt(void) {
    /* GVL: f"{context.strip()} Label '{label}'.".strip() with its default "This is a satellite
     * image. " (trailing space). */
    char *p = gl_zs_prompt(NULL, "This is a satellite image. ", "Buildings");
    CHECK(p && !strcmp(p, "This is a satellite image. Label 'Buildings'."), "%s", p);
    free(p);
    p = gl_zs_prompt(NULL, " \t ", "No Buildings");
    CHECK(p && !strcmp(p, "Label 'No Buildings'."), "empty context: %s", p);
    free(p);
    p = gl_zs_prompt("a {} next to a {}.", NULL, "lake");
    CHECK(p && !strcmp(p, "a lake next to a lake."), "template: %s", p);
    free(p);
}

static void test_templates_file(void) {
    gl_error err = {0};
    char **t;
    int n;
    CHECK(t_write_text("t.txt", "# CLIP's ensemble\na photo of a {}.\n\nsatellite view of {}\n"),
          "w");
    CHECK_OK(gl_zs_templates_read("t.txt", &t, &n, &err), &err);
    CHECK(n == 2 && !strcmp(t[1], "satellite view of {}"), "2 templates");
    if (n > 0) gl_strings_free(t, n);
    CHECK(t_write_text("bad.txt", "a photo of a {}.\nno hole here\n"), "w");
    CHECK(gl_zs_templates_read("bad.txt", &t, &n, &err) == GL_ERR_FORMAT &&
              strstr(err.msg, "bad.txt") && strstr(err.msg, "no hole here"),
          "template without {} refused: %s", err.msg);
}

typedef struct {
    gl_clip *clip;
    gl_npy *img, *logits; /* fixture image_embeds [n_img, 32], logits_per_image [n_img, 12] */
} fixture;

static int fixture_open(fixture *f) {
    gl_error err = {0};
    memset(f, 0, sizeof *f);
    gl_clip_params cp = gl_clip_default_params();
    cp.threads = 1;
    f->clip = gl_clip_load(t_path("fixtures/clip-tiny-b32"), &cp, &err);
    CHECK(f->clip != NULL, "%s", err.msg);
    f->img = gl_npy_load(t_path("fixtures/expected/clip-tiny-b32/image_embeds.npy"), &err);
    CHECK(f->img, "%s", err.msg);
    f->logits = gl_npy_load(t_path("fixtures/expected/clip-tiny-b32/logits_per_image.npy"), &err);
    CHECK(f->logits, "%s", err.msg);
    return f->clip && f->img && f->logits;
}

static void fixture_close(fixture *f) {
    gl_clip_free(f->clip);
    gl_npy_free(f->img);
    gl_npy_free(f->logits);
}

/* softmax over logits_per_image[image, cols[0..n)] averaged over images[0..n_img). */
static void expected_probs(const fixture *f, const int *images, int n_img, const int *cols, int n,
                           double *out) {
    const float *L = f->logits->data;
    int width = (int)f->logits->shape[1];
    for (int k = 0; k < n; k++)
        out[k] = 0;
    for (int i = 0; i < n_img; i++) {
        double mx = -1e30, sum = 0, e[16];
        for (int k = 0; k < n; k++)
            mx = fmax(mx, L[images[i] * width + cols[k]]);
        for (int k = 0; k < n; k++)
            sum += e[k] = exp(L[images[i] * width + cols[k]] - mx);
        for (int k = 0; k < n; k++)
            out[k] += e[k] / sum / n_img;
    }
}

static int argmax(const double *p, int n) {
    int b = 0;
    for (int k = 1; k < n; k++)
        if (p[k] > p[b]) b = k;
    return b;
}

/* Copies image i's raw embedding to e; s[k] = scale * cos(image, unit row k of rows[2][32]). */
static void image_scores(const fixture *f, int i, const float *rows, float scale, float e[32],
                         double s[2]) {
    float u[32];
    memcpy(e, (float *)f->img->data + i * 32, 32 * sizeof *e);
    memcpy(u, e, sizeof u);
    gl_l2_normalize_rows(u, 1, 32);
    s[0] = s[1] = 0;
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < 32; j++)
            s[k] += scale * u[j] * rows[k * 32 + j];
}

/* Template "{}" makes each class name its own prompt, so fixture texts are the prompts. */
static const int COLS[4] = {0, 1, 3, 9};
static gl_class_node leaf_nodes[4];
static const char *fixture_text(int i) {
    static const char *const t[] = {"a photo of a cat", "A PHOTO OF A DOG!!!",
                                    "It's 3:45pm on 2024-01-31; it costs $19.99 (approx. 20%).",
                                    "don't, WON'T, I'LL, we've, they're, she'd, it's"};
    return t[i];
}

static void test_flat_and_tta_match_transformers(void) {
    fixture f;
    if (!fixture_open(&f)) return fixture_close(&f);
    for (int k = 0; k < 4; k++)
        leaf_nodes[k] = (gl_class_node){(char *)fixture_text(k), NULL, 0};
    gl_class_node root = {NULL, leaf_nodes, 4};
    char *tmpl[] = {"{}"};
    gl_error err = {0};
    gl_zeroshot *zs = gl_zeroshot_new(f.clip, &root, NULL, tmpl, 1, &err);
    CHECK(zs != NULL, "%s", err.msg);
    int n_img = (int)f.img->shape[0], dim = (int)f.img->shape[1];
    for (int i = 0; zs && i < n_img; i++) {
        float e[64];
        memcpy(e, (float *)f.img->data + i * dim, dim * sizeof *e);
        gl_zs_choice ch;
        CHECK_OK(gl_zeroshot_classify(zs, e, 1, &ch, &err), &err);
        double want[4];
        expected_probs(&f, &i, 1, COLS, 4, want);
        int b = argmax(want, 4);
        CHECK(ch.depth == 1 && ch.path[0] == &leaf_nodes[b], "image %d: label %s, want %s", i,
              ch.path[0]->name, fixture_text(b));
        CHECK(fabs(ch.score - want[b]) < 1e-4, "image %d: score %g, want %g", i, ch.score, want[b]);
    }
    /* Two views: probabilities averaged, not embeddings. */
    for (int i = 0; zs && i + 1 < n_img; i++) {
        float e[128];
        memcpy(e, (float *)f.img->data + i * dim, 2 * dim * sizeof *e);
        gl_zs_choice ch;
        CHECK_OK(gl_zeroshot_classify(zs, e, 2, &ch, &err), &err);
        int views[2] = {i, i + 1};
        double want[4];
        expected_probs(&f, views, 2, COLS, 4, want);
        int b = argmax(want, 4);
        CHECK(ch.path[0] == &leaf_nodes[b] && fabs(ch.score - want[b]) < 1e-4,
              "views %d,%d: %s %g, want %s %g", i, i + 1, ch.path[0]->name, ch.score,
              fixture_text(b), want[b]);
    }
    gl_zeroshot_free(zs);
    fixture_close(&f);
}

static void test_hierarchy_walk(void) {
    fixture f;
    if (!fixture_open(&f)) return fixture_close(&f);
    for (int k = 0; k < 4; k++)
        leaf_nodes[k] = (gl_class_node){(char *)fixture_text(k), NULL, 0};
    gl_class_node metas[2] = {{"animals", leaf_nodes, 2}, {"words", leaf_nodes + 2, 2}};
    gl_class_node root = {NULL, metas, 2};
    char *tmpl[] = {"{}"};
    gl_error err = {0};
    gl_zeroshot *zs = gl_zeroshot_new(f.clip, &root, NULL, tmpl, 1, &err);
    CHECK(zs != NULL, "%s", err.msg);
    /* The meta-class level has no fixture logits: score it with the engine's text embeddings. */
    const char *meta_names[2] = {"animals", "words"};
    float meta[64];
    CHECK_OK(gl_clip_encode_texts(f.clip, meta_names, 2, meta, &err), &err);
    gl_l2_normalize_rows(meta, 2, 32);
    int n_img = (int)f.img->shape[0], chosen_meta[2] = {0, 0};
    for (int i = 0; zs && i < n_img; i++) {
        float e[32];
        double s[2];
        image_scores(&f, i, meta, 1.0f, e, s);
        int m = s[1] > s[0];
        chosen_meta[m]++;
        gl_zs_choice ch;
        CHECK_OK(gl_zeroshot_classify(zs, e, 1, &ch, &err), &err);
        double want[2];
        expected_probs(&f, &i, 1, COLS + 2 * m, 2, want);
        int b = argmax(want, 2);
        CHECK(ch.depth == 2 && ch.path[0] == &metas[m], "image %d: meta %s, want %s", i,
              ch.path[0]->name, metas[m].name);
        CHECK(ch.depth == 2 && ch.path[1] == &metas[m].children[b] &&
                  fabs(ch.score - want[b]) < 1e-4,
              "image %d: leaf %s %g, want %s %g", i, ch.path[1]->name, ch.score,
              metas[m].children[b].name, want[b]);
    }
    CHECK(chosen_meta[0] && chosen_meta[1], "both branches walked: %d, %d", chosen_meta[0],
          chosen_meta[1]);
    gl_zeroshot_free(zs);
    fixture_close(&f);
}

/* Ensemble = normalise(mean of the unit embeddings of each template's prompt). */
static void test_prompt_ensemble(void) {
    fixture f;
    if (!fixture_open(&f)) return fixture_close(&f);
    gl_class_node classes[2] = {{"forest", NULL, 0}, {"harbour", NULL, 0}};
    gl_class_node root = {NULL, classes, 2};
    char *tmpl[] = {"a satellite photo of {}.", "an aerial view of a {}, from above"};
    gl_error err = {0};
    gl_zeroshot *zs = gl_zeroshot_new(f.clip, &root, NULL, tmpl, 2, &err);
    CHECK(zs != NULL, "%s", err.msg);
    const char *prompts[4] = {
        "a satellite photo of forest.", "an aerial view of a forest, from above",
        "a satellite photo of harbour.", "an aerial view of a harbour, from above"};
    float t[4 * 32], c[2 * 32];
    CHECK_OK(gl_clip_encode_texts(f.clip, prompts, 4, t, &err), &err);
    gl_l2_normalize_rows(t, 4, 32);
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < 32; j++)
            c[k * 32 + j] = t[2 * k * 32 + j] + t[(2 * k + 1) * 32 + j];
    gl_l2_normalize_rows(c, 2, 32);
    float scale = gl_clip_logit_scale(f.clip);
    for (int i = 0; zs && i < (int)f.img->shape[0]; i++) {
        float e[32];
        double l[2];
        image_scores(&f, i, c, scale, e, l);
        double p1 = 1 / (1 + exp(l[0] - l[1]));
        int b = p1 > 0.5;
        gl_zs_choice ch;
        CHECK_OK(gl_zeroshot_classify(zs, e, 1, &ch, &err), &err);
        CHECK(ch.path[0] == &classes[b] && fabs(ch.score - (b ? p1 : 1 - p1)) < 1e-4,
              "image %d: %s %g", i, ch.path[0]->name, ch.score);
    }
    gl_zeroshot_free(zs);
    fixture_close(&f);
}

static void test_tta_parse(void) {
    gl_error err = {0};
    unsigned b;
    CHECK_OK(gl_tta_parse("x,rot270,xy", &b, &err), &err);
    CHECK(b == (GL_TTA_X | GL_TTA_ROT270 | GL_TTA_XY), "bits %u", b);
    CHECK(gl_tta_parse("x,rot180", &b, &err) == GL_ERR_ARG && strstr(err.msg, "rot180"), "bad");
}

/* A row the way the run fills it, around a 10x10 pixel tile at (20, 30) of a north-up raster. */
static gl_label_row sample_row(const char *file, int geo) {
    gl_label_row r = {.filename = file,
                      .row = 1,
                      .col = 2,
                      .left = 20,
                      .right = 30,
                      .lower = 30,
                      .upper = 40,
                      .mode = "hierarchical",
                      .tree = "Water;sea, \"open\"",
                      .label = "sea, \"open\"",
                      .score = 0.625,
                      .has_geo = geo,
                      .crs = "EPSG:32618",
                      .crs_wkt = "EPSG:32618",
                      .x_min = 500000,
                      .y_min = 4999900,
                      .x_max = 500100,
                      .y_max = 5000000,
                      .lon = -74.99936,
                      .lat = 45.1377};
    const double c[4][2] = {
        {500000, 5000000}, {500100, 5000000}, {500100, 4999900}, {500000, 4999900}};
    const double ll[4][2] = {
        {-75, 45.1386}, {-74.9987, 45.1386}, {-74.9987, 45.1377}, {-75, 45.1377}};
    memcpy(r.ring_crs, c, sizeof c);
    memcpy(r.ring_lonlat, ll, sizeof ll);
    return r;
}

static void write_rows(const char *path) {
    gl_error err = {0};
    gl_label_writer *w = gl_label_writer_open(path, NULL, 0, &err);
    CHECK(w != NULL, "%s", err.msg);
    if (!w) return;
    gl_label_row a = sample_row("a,b.tif", 1), b = sample_row("plain.png", 0);
    a.input = "/vsizip/scenes.zip/x/a,b.tif"; /* b keeps no input: its filename stands in */
    b.score = NAN;
    b.tree = b.label = "nodata";
    CHECK_OK(gl_label_writer_add(w, &a, &err), &err);
    CHECK_OK(gl_label_writer_add(w, &b, &err), &err);
    CHECK_OK(gl_label_writer_commit(w, &err), &err);
}

static void test_csv_through_python(void) {
    write_rows("l.csv");
    CHECK(run_python(
              "c.py",
              "import csv\n"
              "r=list(csv.reader(open('l.csv',newline='')))\n"
              "assert r[0][:11]==['filename','row','col','left','upper','right','lower',"
              "'classification_mode','description','classification_tree','classification'],"
              "r[0]\n"
              "assert r[0][11:]==['score','crs','x_min','y_min','x_max','y_max','lon','lat',"
              "'input','llm_error','top3']\n"
              "assert r[1][-3]=='/vsizip/scenes.zip/x/a,b.tif' and r[2][-3]=='plain.png'\n"
              "assert r[1][-1]=='' and r[2][-1]==''\n"
              "a=dict(zip(r[0],r[1])); b=dict(zip(r[0],r[2]))\n"
              "assert a['filename']=='a,b.tif' and a['classification']=='sea, \"open\"'\n"
              "assert a['classification_tree']=='Water;sea, \"open\"' and a['description']==''\n"
              "assert (a['left'],a['right'],a['lower'],a['upper'])==('20','30','30','40')\n"
              "assert float(a['score'])==0.625 and a['crs']=='EPSG:32618'\n"
              "assert float(a['y_min'])==4999900 and float(a['lon'])==-74.99936\n"
              "assert b['score']=='' and b['crs']=='' and b['lon']=='' and "
              "b['classification']=='nodata'\n"
              "assert len(r)==3\n",
              ""),
          "python's csv module disagrees");
    /* --resume reads it back. */
    gl_error err = {0};
    gl_label_done *d;
    int n;
    CHECK_OK(gl_label_done_load("l.csv", &d, &n, &err), &err);
    CHECK(n == 2 && !strcmp(d[0].input, "/vsizip/scenes.zip/x/a,b.tif") && d[0].lower == 30 &&
              d[0].upper == 40,
          "done rows");
    gl_label_done_free(d, n);
}

static void test_geojson_is_rfc7946(void) {
    write_rows("l.geojson");
    CHECK(run_python("g.py",
                     "import json\n"
                     "g=json.load(open('l.geojson'))\n"
                     "assert 'crs' not in g and g['type']=='FeatureCollection'\n"
                     "f=g['features']; assert len(f)==2\n"
                     "ring=f[0]['geometry']['coordinates'][0]\n"
                     "assert ring[0]==ring[-1] and len(ring)==4*8+1\n"
                     "a=sum(p[0]*q[1]-q[0]*p[1] for p,q in zip(ring,ring[1:]))\n"
                     "assert a>0, 'clockwise exterior ring'\n"
                     /* the UTM ring densified into lon/lat, its corners where OSR puts them */
                     "from osgeo import osr\n"
                     "u=osr.SpatialReference(); u.ImportFromEPSG(32618)\n"
                     "w=osr.SpatialReference(); w.ImportFromEPSG(4326)\n"
                     "for s in (u,w): s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)\n"
                     "t=osr.CoordinateTransformation(u,w)\n"
                     "for x,y in ((500000,5000000),(500100,5000000),(500100,4999900)):\n"
                     "  lo,la=t.TransformPoint(x,y)[:2]\n"
                     "  assert any(abs(p[0]-lo)<2e-7 and abs(p[1]-la)<2e-7 for p in ring),(lo,la)\n"
                     "assert f[1]['geometry'] is None and f[1]['properties']['score'] is None\n"
                     "assert f[0]['properties']['classification']=='sea, \"open\"'\n",
                     " && ogrinfo -ro -so l.geojson >/dev/null"),
          "GeoJSON check failed");
}

/* The georeferenced row in the raster's CRS; the one without georeferencing in a table without
 * geometry, not in an undefined CRS. */
static void test_gpkg_keeps_crs(void) {
    write_rows("l.gpkg");
    CHECK(system("ogrinfo -ro -so l.gpkg labels > info.txt && "
                 "ogrinfo -ro -so l.gpkg labels_nogeo > nogeo.txt") == 0,
          "ogrinfo opens both layers");
    char *info = NULL, *nogeo = NULL;
    gl_error err = {0};
    CHECK_OK(gl_read_file("info.txt", 1 << 20, &info, NULL, &err), &err);
    CHECK_OK(gl_read_file("nogeo.txt", 1 << 20, &nogeo, NULL, &err), &err);
    CHECK(info && strstr(info, "Feature Count: 1") && strstr(info, "32618") &&
              strstr(info, "(500000.000000, 4999900.000000) - (500100.000000, 5000000.000000)"),
          "ogrinfo: %s", info);
    CHECK(nogeo && strstr(nogeo, "Feature Count: 1") && strstr(nogeo, "Geometry: None") &&
              !strstr(nogeo, "Undefined"),
          "ogrinfo: %s", nogeo);
    free(info);
    free(nogeo);
}

/* The scoring stage's two paths on the fixture's image embeddings against themselves as text:
 * the top-k path ranks like the full softmax and gives its probabilities; ties keep the lower
 * index, as Python's sorted(..., key=-score) does. */
static void test_scoring_stage(void) {
    gl_error err = {0};
    gl_npy *a = gl_npy_load(t_path("fixtures/expected/clip-tiny-b32/image_embeds.npy"), &err);
    CHECK(a, "%s", err.msg);
    if (!a) return;
    int n = (int)a->shape[0], d = (int)a->shape[1], k = 3;
    float *u = malloc(a->count * sizeof(float)), *full = malloc((size_t)n * n * sizeof(float));
    float *logits = malloc((size_t)n * n * sizeof(float)), *top = malloc((size_t)n * k * 4);
    int *idx = malloc((size_t)n * k * sizeof(int)), *want = malloc((size_t)k * sizeof(int));
    memcpy(u, a->data, a->count * sizeof(float));
    gl_l2_normalize_rows(u, n, d);
    CHECK_OK(gl_scores_from_embeddings(u, n, u, n, d, 10, 0, full, full, NULL, &err), &err);
    CHECK_OK(gl_scores_from_embeddings(u, n, u, n, d, 10, k, logits, top, idx, &err), &err);
    for (int i = 0; i < n; i++) {
        double sum = 0;
        for (int j = 0; j < n; j++)
            sum += full[(size_t)i * n + j];
        CHECK(fabs(sum - 1) < 1e-5, "row %d sums to %g", i, sum);
        CHECK(idx[(size_t)i * k] == i, "row %d: itself first, got %d", i, idx[(size_t)i * k]);
        gl_top_k(full + (size_t)i * n, n, k, want);
        for (int r = 0; r < k; r++)
            CHECK(idx[(size_t)i * k + r] == want[r] &&
                      top[(size_t)i * k + r] == full[(size_t)i * n + want[r]],
                  "row %d rank %d: %d %g vs full softmax %d %g", i, r, idx[(size_t)i * k + r],
                  top[(size_t)i * k + r], want[r], full[(size_t)i * n + want[r]]);
    }
    const float ties[6] = {0.5f, 2, 1, 2, 0.5f, 2};
    int got[4];
    CHECK(gl_top_k(ties, 6, 4, got) == 4 && got[0] == 1 && got[1] == 3 && got[2] == 5 &&
              got[3] == 2,
          "ties to the lower index: %d %d %d %d", got[0], got[1], got[2], got[3]);
    CHECK(gl_top_k(ties, 2, 4, got) == 2 && got[0] == 1 && got[1] == 0, "k beyond n");
    CHECK(gl_scores_from_embeddings(u, n, u, n, d, 10, n + 1, logits, top, idx, &err) == GL_ERR_ARG,
          "top-k beyond the row refused");
    char *p = gl_prompt_fill("{country}: a photo in {country}.", "{country}", "Chile");
    CHECK(p && !strcmp(p, "Chile: a photo in Chile."), "%s", p ? p : "(null)");
    free(p);
    free(u), free(full), free(logits), free(top), free(idx), free(want);
    gl_npy_free(a);
}

int main(void) {
    RUN(test_gvl_prompt);
    RUN(test_scoring_stage);
    RUN(test_templates_file);
    RUN(test_tta_parse);
    RUN(test_flat_and_tta_match_transformers);
    RUN(test_hierarchy_walk);
    RUN(test_prompt_ensemble);
    RUN(test_csv_through_python);
    RUN(test_geojson_is_rfc7946);
    RUN(test_gpkg_keeps_crs);
    T_SUMMARY();
}
