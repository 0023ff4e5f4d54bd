/* review.c: `geolabel review`: one self-contained HTML page from a labels file and its scenes:
 * embedded JPEG thumbnails and scene overviews, the data as JSON, and the page's script
 * (review.js). */
#include "label/draw.h"
#include "label/label.h"
#include "label/rows.h"

#include <cjson/cJSON.h>
#include <cpl_conv.h>
#include <cpl_vsi.h>
#include <gdal.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_TILES 200000
#define MAX_CLASSES 1000

#include "label/review_page.h" /* generated from src/label/review/: REVIEW_BODY, _CSS, _JS */

gl_review_params gl_review_default_params(void) {
    return (gl_review_params){
        .raster = gl_raster_default_params(), .thumb_px = 96, .overview_px = 1024};
}

typedef struct {
    int scene, row, col, left, upper, right, lower, cls;
    double score; /* NAN: nodata */
    char *top3;   /* "label:p;label:p;..." or NULL */
} review_tile;

typedef struct {
    char **names, **trees;
    int n;
} class_list;

typedef struct {
    char **names;
    int n;
} scene_list;

static int find_or_add(char ***list, int *n, const char *s, int limit) {
    for (int i = 0; i < *n; i++)
        if (!strcmp((*list)[i], s)) return i;
    if (*n >= limit) return -2;
    char **g = realloc(*list, (size_t)(*n + 1) * sizeof *g);
    if (!g) return -1;
    *list = g;
    if (!(g[*n] = strdup(s))) return -1;
    return (*n)++;
}

static int add_class(class_list *c, const char *name, const char *tree) {
    int before = c->n, k = find_or_add(&c->names, &c->n, name, MAX_CLASSES);
    if (k >= 0 && c->n > before) {
        char **g = realloc(c->trees, (size_t)c->n * sizeof *g);
        if (!g) return -1;
        c->trees = g;
        g[k] = strdup(tree && *tree ? tree : name);
        if (!g[k]) return -1;
    }
    return k;
}

/* ---------------------------------------------------------------- reading the labels */

/* Every tile layer of the file (a GPKG's per-CRS layers and labels_nogeo too), through the one
 * reader show and eval use. */
static gl_status read_labels(const char *path, review_tile **tiles, int *n, class_list *cl,
                             scene_list *sc, gl_error *err) {
    label_rows *r = label_rows_open(path, err);
    if (!r) return err->code;
    static const char *const need[] = {"filename", "row",   "col",   "left",
                                       "upper",    "right", "lower", "classification"};
    int idx[8];
    gl_status st = GL_OK;
    for (int k = 0; !st && k < 8; k++)
        if ((idx[k] = label_rows_column(r, need[k])) < 0)
            st = gl_fail(err, GL_ERR_FORMAT, "%s: no '%s' column", path, need[k]);
    int i_score = label_rows_column(r, "score"),
        i_tree = label_rows_column(r, "classification_tree"), i_top = label_rows_column(r, "top3");
    int cap = 0, more = 0;
    while (!st && (more = label_rows_next(r, err)) > 0) {
        if (*n >= MAX_TILES) {
            st = gl_fail(err, GL_ERR_LIMIT, "%s: more than %d tiles for one page", path, MAX_TILES);
        } else if (*n == cap) {
            cap = cap ? cap * 2 : 256;
            review_tile *g = realloc(*tiles, (size_t)cap * sizeof *g);
            if (!g)
                st = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
            else
                *tiles = g;
        }
        if (st) break;
        review_tile *t = &(*tiles)[*n];
        memset(t, 0, sizeof *t);
        int *v[] = {&t->row, &t->col, &t->left, &t->upper, &t->right, &t->lower};
        for (int k = 0; k < 6; k++)
            *v[k] = atoi(label_rows_field(r, idx[k + 1]));
        const char *label = label_rows_field(r, idx[7]);
        const char *score = label_rows_field(r, i_score);
        t->score = *score && strcmp(label, "nodata") ? strtod(score, NULL) : NAN;
        t->cls = -1; /* nodata */
        if (!isnan(t->score) || strcmp(label, "nodata")) {
            int k = add_class(cl, label, label_rows_field(r, i_tree));
            t->cls = k >= 0 ? k : k == -2 ? -2 : -3;
        }
        t->scene = find_or_add(&sc->names, &sc->n, gl_path_base_name(label_rows_field(r, idx[0])),
                               MAX_TILES);
        const char *top = label_rows_field(r, i_top);
        if (*top && !(t->top3 = strdup(top))) t->cls = -3;
        if (t->cls == -2)
            st = gl_fail(err, GL_ERR_LIMIT, "%s: more than %d classes", path, MAX_CLASSES);
        else if (t->cls < -1 || t->scene < 0)
            st = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
        else
            (*n)++;
    }
    if (!st && more < 0) st = err->code;
    label_rows_free(r);
    if (!st && *n == 0) st = gl_fail(err, GL_ERR_FORMAT, "%s: no labelled tiles", path);
    return st;
}

/* ---------------------------------------------------------------- pictures */

/* RGB [h][w][3] as a base64 JPEG (malloc'ed), through GDAL's JPEG driver in memory. */
static char *jpeg_base64(const unsigned char *rgb, int w, int h, int quality) {
    GDALDriverH mem = GDALGetDriverByName("MEM"), jpg = GDALGetDriverByName("JPEG");
    GDALDatasetH ds = mem && jpg ? GDALCreate(mem, "", w, h, 3, GDT_Byte, NULL) : NULL;
    if (!ds) return NULL;
    char *out = NULL;
    if (GDALDatasetRasterIO(ds, GF_Write, 0, 0, w, h, (void *)rgb, w, h, GDT_Byte, 3, NULL, 3,
                            (GSpacing)w * 3, 1) == CE_None) {
        char name[64], q[32];
        snprintf(name, sizeof name, "/vsimem/geolabel_review_%p.jpg", (void *)ds);
        snprintf(q, sizeof q, "QUALITY=%d", quality);
        char *opts[] = {q, NULL};
        GDALDatasetH j = GDALCreateCopy(jpg, name, ds, FALSE, opts, NULL, NULL);
        if (j) GDALClose(j);
        vsi_l_offset len = 0;
        GByte *buf = VSIGetMemFileBuffer(name, &len, TRUE);
        if (buf) out = gl_base64_encode(buf, (size_t)len);
        VSIFree(buf);
        VSIUnlink(name);
    }
    GDALClose(ds);
    return out;
}

/* Fits a w x h window into side x side, keeping its aspect. */
static void fit(int w, int h, int side, int *ow, int *oh) {
    double s = fmin(1.0, (double)side / (w > h ? w : h));
    *ow = (int)fmax(1, lround(w * s));
    *oh = (int)fmax(1, lround(h * s));
}

/* "root/name" when it is a file, else NULL. */
static char *scene_path(const char *root, const char *name) {
    size_t n = strlen(root) + strlen(name) + 2;
    char *p = malloc(n);
    struct stat sb;
    if (p) snprintf(p, n, "%s/%s", root, name);
    if (p && (stat(p, &sb) != 0 || !S_ISREG(sb.st_mode))) {
        free(p);
        p = NULL;
    }
    return p;
}

/* ---------------------------------------------------------------- the page */

/* JSON inside <script> must not close the element early. */
static void put_script_json(FILE *fp, const char *s) {
    for (; *s; s++) {
        if (s[0] == '<' && s[1] == '/') {
            fputs("<\\/", fp);
            s++;
        } else {
            fputc(*s, fp);
        }
    }
}

static cJSON *top3_json(const char *top3, class_list *cl) {
    cJSON *a = cJSON_CreateArray();
    char *copy = top3 ? strdup(top3) : NULL, *save = NULL;
    for (char *it = copy ? strtok_r(copy, ";", &save) : NULL; it; it = strtok_r(NULL, ";", &save)) {
        char *colon = strrchr(it, ':');
        if (!colon) continue;
        *colon = 0;
        int k = add_class(cl, it, NULL);
        if (k < 0) continue;
        cJSON *pair = cJSON_CreateArray();
        cJSON_AddItemToArray(pair, cJSON_CreateNumber(k));
        cJSON_AddItemToArray(pair, cJSON_CreateNumber(round(strtod(colon + 1, NULL) * 1e4) / 1e4));
        cJSON_AddItemToArray(a, pair);
    }
    free(copy);
    return a;
}

static int cmp_tiles(const void *a, const void *b) {
    const review_tile *x = a, *y = b;
    if (x->scene != y->scene) return x->scene - y->scene;
    return x->row != y->row ? x->row - y->row : x->col - y->col;
}

/* One scene: its overview (when the picture is found) and its tiles' thumbnails, in tile order. */
static gl_status scene_pictures(const gl_review_params *p, const char *name, review_tile *t, int n,
                                cJSON *scene, FILE *thumbs, int *first, gl_error *err) {
    char *path = scene_path(p->image_root, name);
    gl_error e = {0};
    gl_raster *r = path ? gl_raster_open(path, &p->raster, &e) : NULL;
    free(path);
    int max_col = 0, max_row = 0;
    for (int i = 0; i < n; i++)
        max_col = t[i].col > max_col ? t[i].col : max_col,
        max_row = t[i].row > max_row ? t[i].row : max_row;
    cJSON_AddNumberToObject(scene, "cols", max_col + 1);
    cJSON_AddNumberToObject(scene, "rows", max_row + 1);
    cJSON_AddBoolToObject(scene, "found", r != NULL);
    if (!r) {
        if (e.msg[0]) gl_log(GL_LOG_WARN, "review: %s", e.msg);
        for (int i = 0; i < n; i++, *first = 0)
            fputs(*first ? "\"\"" : ",\"\"", thumbs);
        return GL_OK;
    }
    const gl_raster_info *in = gl_raster_get_info(r);
    int ow, oh;
    fit(in->width, in->height, p->overview_px, &ow, &oh);
    cJSON_AddNumberToObject(scene, "w", in->width);
    cJSON_AddNumberToObject(scene, "h", in->height);
    cJSON_AddNumberToObject(scene, "ow", ow);
    cJSON_AddNumberToObject(scene, "oh", oh);
    size_t cap = (size_t)p->overview_px * p->overview_px * 3;
    if ((size_t)p->thumb_px * p->thumb_px * 3 > cap) cap = (size_t)p->thumb_px * p->thumb_px * 3;
    unsigned char *rgb = malloc(cap);
    gl_status st = rgb ? draw_read_scaled(r, 0, 0, in->width, in->height, ow, oh, rgb, err)
                       : gl_fail(err, GL_ERR_NOMEM, "review: out of memory");
    char *b64 = st ? NULL : jpeg_base64(rgb, ow, oh, 80);
    if (b64) cJSON_AddStringToObject(scene, "overview", b64);
    free(b64);
    for (int i = 0; !st && i < n; i++, *first = 0) {
        int x0 = t[i].left < t[i].right ? t[i].left : t[i].right;
        int y0 = t[i].lower < t[i].upper ? t[i].lower : t[i].upper;
        int w = abs(t[i].right - t[i].left), h = abs(t[i].upper - t[i].lower), tw, th;
        char *thumb = NULL;
        if (w > 0 && h > 0 && x0 >= 0 && y0 >= 0 && x0 + w <= in->width && y0 + h <= in->height) {
            fit(w, h, p->thumb_px, &tw, &th);
            if (!(st = draw_read_scaled(r, x0, y0, w, h, tw, th, rgb, err)))
                thumb = jpeg_base64(rgb, tw, th, 75);
        }
        fprintf(thumbs, "%s\"%s\"", *first ? "" : ",", thumb ? thumb : "");
        free(thumb);
    }
    free(rgb);
    gl_raster_free(r);
    return st;
}

static gl_status write_page(FILE *fp, const gl_review_params *p, const char *labels, review_tile *t,
                            int n, class_list *cl, scene_list *sc, gl_error *err) {
    fputs("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src "
          "data: blob:; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n"
          "<title>geolabel review</title>\n<style>",
          fp);
    fputs(REVIEW_CSS, fp);
    fputs("</style></head>\n<body>\n", fp);
    fputs(REVIEW_BODY, fp);
    /* Thumbnails first, in their own script: a plain array of base64 strings, decoded only when
     * a cell scrolls into view. */
    fputs("<script>const THUMBS=[", fp);
    cJSON *scenes = cJSON_CreateArray();
    gl_status st = GL_OK;
    int first = 1;
    for (int s = 0, i = 0; !st && s < sc->n; s++) {
        int j = i;
        while (j < n && t[j].scene == s)
            j++;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", sc->names[s]);
        cJSON_AddItemToArray(scenes, o);
        st = scene_pictures(p, sc->names[s], t + i, j - i, o, fp, &first, err);
        i = j;
    }
    fputs("];</script>\n", fp);
    cJSON *root = cJSON_CreateObject(), *classes = cJSON_CreateArray(), *rows = cJSON_CreateArray();
    cJSON_AddStringToObject(root, "labels", gl_path_base_name(labels));
    cJSON_AddItemToObject(root, "scenes", scenes);
    for (int i = 0; !st && i < n; i++) {
        cJSON *a = cJSON_CreateArray();
        const int v[] = {t[i].scene, t[i].row,   t[i].col,   t[i].left,
                         t[i].upper, t[i].right, t[i].lower, t[i].cls};
        for (int k = 0; k < 8; k++)
            cJSON_AddItemToArray(a, cJSON_CreateNumber(v[k]));
        cJSON_AddItemToArray(a, isnan(t[i].score)
                                    ? cJSON_CreateNull()
                                    : cJSON_CreateNumber(round(t[i].score * 1e6) / 1e6));
        cJSON_AddItemToArray(a, top3_json(t[i].top3, cl));
        cJSON_AddItemToArray(rows, a);
    }
    gl_colors *colors = st ? NULL : gl_colors_load(p->colors_path, err);
    if (!st && !colors) st = err->code;
    for (int k = 0; !st && k < cl->n; k++) {
        cJSON *c = cJSON_CreateObject();
        char hex[8];
        snprintf(hex, sizeof hex, "#%06x", gl_color_of(colors, cl->names[k]));
        cJSON_AddStringToObject(c, "name", cl->names[k]);
        cJSON_AddStringToObject(c, "tree", cl->trees[k]);
        cJSON_AddStringToObject(c, "color", hex);
        cJSON_AddItemToArray(classes, c);
    }
    gl_colors_free(colors);
    cJSON_AddItemToObject(root, "classes", classes);
    cJSON_AddItemToObject(root, "tiles", rows);
    char *json = st ? NULL : cJSON_PrintUnformatted(root);
    if (!st && !json) st = gl_fail(err, GL_ERR_NOMEM, "review: out of memory");
    if (!st) {
        fputs("<script>const DATA=", fp);
        put_script_json(fp, json);
        fputs(";</script>\n<script>", fp);
        fputs(REVIEW_JS, fp);
        fputs("</script>\n</body></html>\n", fp);
    }
    free(json);
    cJSON_Delete(root);
    return st;
}

static gl_status add_class_file(const char *path, class_list *cl, gl_error *err) {
    int yaml = gl_path_has_suffix(path, ".yaml") || gl_path_has_suffix(path, ".yml");
    if (yaml) {
        gl_class_node *rootp = gl_class_tree_load(path, err);
        if (!rootp) return err->code;
        gl_class_node root = *rootp;
        gl_status st = GL_OK;
        /* Leaves with their paths, depth first. */
        const gl_class_node *stack[64];
        int at[64], depth = 0;
        stack[0] = &root, at[0] = 0;
        char tree[4096];
        while (!st && depth >= 0) {
            const gl_class_node *node = stack[depth];
            if (at[depth] >= node->n_children) {
                depth--;
                if (depth >= 0) at[depth]++;
                continue;
            }
            const gl_class_node *c = &node->children[at[depth]];
            if (c->n_children && depth < 62) {
                stack[++depth] = c, at[depth] = 0;
                continue;
            }
            size_t used = 0;
            for (int d = 1; d <= depth; d++)
                used += (size_t)snprintf(tree + used, used < sizeof tree ? sizeof tree - used : 0,
                                         "%s;", stack[d]->name);
            snprintf(tree + (used < sizeof tree ? used : sizeof tree - 1),
                     used < sizeof tree ? sizeof tree - used : 1, "%s", c->name);
            if (add_class(cl, c->name, tree) < 0)
                st = gl_fail(err, GL_ERR_LIMIT, "%s: too many classes", path);
            at[depth]++;
        }
        gl_class_tree_free(rootp);
        return st;
    }
    char **names;
    int k;
    gl_status st = gl_class_list_read(path, &names, &k, err);
    for (int i = 0; !st && i < k; i++)
        if (add_class(cl, names[i], NULL) < 0)
            st = gl_fail(err, GL_ERR_LIMIT, "%s: too many classes", path);
    if (!st || names) gl_strings_free(names, k);
    return st;
}

gl_status gl_review_write(const char *labels, const gl_review_params *p, const char *out_html,
                          gl_error *err) {
    gl_review_params q = *p;
    if (q.thumb_px <= 0) q.thumb_px = 96;
    if (q.overview_px <= 0) q.overview_px = 1024;
    if (q.thumb_px > 512 || q.overview_px > 4096)
        return gl_fail(err, GL_ERR_ARG, "review: thumbnails up to 512 px, overviews up to 4096");
    if (!q.image_root) q.image_root = ".";
    review_tile *t = NULL;
    int n = 0;
    class_list cl = {0};
    scene_list sc = {0};
    gl_status st = q.classes_path ? add_class_file(q.classes_path, &cl, err) : GL_OK;
    if (!st) st = read_labels(labels, &t, &n, &cl, &sc, err);
    if (!st) qsort(t, (size_t)n, sizeof *t, cmp_tiles);
    gl_atomic_file f;
    if (!st) st = gl_atomic_open(&f, out_html, err);
    if (!st) {
        st = write_page(f.fp, &q, labels, t, n, &cl, &sc, err);
        if (st)
            gl_atomic_abort(&f);
        else
            st = gl_atomic_commit(&f, err);
    }
    for (int i = 0; i < n; i++)
        free(t[i].top3);
    free(t);
    gl_strings_free(cl.names, cl.n);
    gl_strings_free(cl.trees, cl.n);
    gl_strings_free(sc.names, sc.n);
    return st;
}
