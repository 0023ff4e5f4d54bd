/* stac.c: STAC Items, ItemCollections and search results as scenes to label: one asset per item
 * (a COG), or band assets stacked into a 3-band VRT; relative hrefs resolved; item ids kept. */
#include "geolabel.h"
#include "io/raster_internal.h"

#include <cjson/cJSON.h>
#include <cpl_vsi.h>
#include <gdal.h>
#include <gdal_utils.h>
#include <stdlib.h>
#include <string.h>

#define STAC_MAX_BYTES (256L << 20) /* a search result page of thousands of items fits */
#define STAC_MAX_BANDS 3

/* Reads src (a file or URL) whole through GDAL's virtual files, so URLs need no code of ours. */
static gl_status read_all(const char *src, char **text, size_t *len, gl_error *err) {
    gl_gdal_init(); /* GDAL's network settings before the first request */
    char *path = gl_gdal_path_of(src);
    if (!path) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", src);
    VSILFILE *f = VSIFOpenL(path, "rb");
    free(path);
    if (!f) return gl_fail(err, GL_ERR_IO, "%s: cannot open the STAC document", src);
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap + 1);
    gl_status st = buf ? GL_OK : gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", src);
    while (!st && (got = VSIFReadL(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n < cap) continue;
        if (cap >= (size_t)STAC_MAX_BYTES) {
            st = gl_fail(err, GL_ERR_LIMIT, "%s: larger than %ld MB; not a STAC document", src,
                         STAC_MAX_BYTES >> 20);
            break;
        }
        char *g = realloc(buf, cap * 2 + 1);
        if (!g)
            st = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", src);
        else
            buf = g, cap *= 2;
    }
    VSIFCloseL(f);
    if (st) {
        free(buf);
        return st;
    }
    buf[n] = 0;
    *text = buf;
    *len = n;
    return GL_OK;
}

static int is_absolute(const char *href) {
    return href[0] == '/' || strstr(href, "://") != NULL;
}

/* href resolved against the location of base (a file path or URL), RFC 3986 style for the path:
 * the base's last segment dropped, "." and ".." segments folded. malloc'ed; NULL out of memory. */
static char *resolve(const char *base, const char *href) {
    if (is_absolute(href) || !base) return strdup(href);
    const char *scheme = strstr(base, "://");
    const char *path = scheme ? strchr(scheme + 3, '/') : base;
    if (!path) path = base + strlen(base);
    size_t root_len = (size_t)(path - base); /* "https://host:port", or 0 for a file */
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0; /* with its '/' */
    size_t n = root_len + dir_len + strlen(href) + 2;
    char *joined = malloc(n), *out = malloc(n);
    char **seg = malloc(n * sizeof *seg);
    if (!joined || !out || !seg) {
        free(joined), free(out), free(seg);
        return NULL;
    }
    snprintf(joined, n, "%.*s%s", (int)dir_len, path, href);
    int leading = joined[0] == '/', k = 0;
    for (char *save = NULL, *t = strtok_r(joined, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (!strcmp(t, ".")) continue;
        if (!strcmp(t, "..") && k > 0 && strcmp(seg[k - 1], "..")) {
            k--;
            continue;
        }
        if (!strcmp(t, "..") && (leading || root_len)) continue; /* above the root: stays there */
        seg[k++] = t;
    }
    size_t o = root_len;
    memcpy(out, base, root_len);
    for (int i = 0; i < k; i++) {
        if (i || leading || root_len) out[o++] = '/';
        size_t len = strlen(seg[i]);
        memcpy(out + o, seg[i], len);
        o += len;
    }
    out[o] = 0;
    free(joined);
    free(seg);
    return out;
}

/* The item's self link when it is absolute: hrefs are relative to where the item lives. */
static const char *self_href(const cJSON *item) {
    const cJSON *l;
    cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(item, "links")) {
        const cJSON *rel = cJSON_GetObjectItemCaseSensitive(l, "rel");
        const cJSON *href = cJSON_GetObjectItemCaseSensitive(l, "href");
        if (cJSON_IsString(rel) && !strcmp(rel->valuestring, "self") && cJSON_IsString(href) &&
            is_absolute(href->valuestring))
            return href->valuestring;
    }
    return NULL;
}

/* Whether asset a declares a band of common name name: eo:bands (STAC 1.0) or bands (1.1). */
static int has_common_name(const cJSON *a, const char *name) {
    const char *lists[] = {"eo:bands", "bands"}, *keys[] = {"common_name", "eo:common_name"};
    for (int l = 0; l < 2; l++) {
        const cJSON *b;
        cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(a, lists[l])) {
            const cJSON *c = cJSON_GetObjectItemCaseSensitive(b, keys[l]);
            if (cJSON_IsString(c) && !strcmp(c->valuestring, name)) return 1;
        }
    }
    return 0;
}

static const char *asset_href(const cJSON *assets, const char *name) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(assets, name);
    if (!a) {
        const cJSON *x;
        cJSON_ArrayForEach(x, assets) {
            if (has_common_name(x, name)) {
                a = x;
                break;
            }
        }
    }
    const cJSON *h = a ? cJSON_GetObjectItemCaseSensitive(a, "href") : NULL;
    return cJSON_IsString(h) ? h->valuestring : NULL;
}

/* A 3-band VRT over one band file per channel, as XML (GDAL opens the text itself as a path). */
static gl_status stack_bands(const char *id, char *const *paths, int n, char **xml, gl_error *err) {
    gl_gdal_init();
    char *argv[] = {"-separate", NULL};
    GDALBuildVRTOptions *o = GDALBuildVRTOptionsNew(argv, NULL);
    int usage = 0;
    CPLErrorReset();
    GDALDatasetH vrt = o ? GDALBuildVRT("", n, NULL, (const char *const *)paths, o, &usage) : NULL;
    GDALBuildVRTOptionsFree(o);
    if (!vrt)
        return gl_fail(err, GL_ERR_IO, "STAC item %s: cannot stack its band assets: %s", id,
                       CPLGetLastErrorMsg());
    char **md = GDALGetMetadata(vrt, "xml:VRT");
    *xml = md && md[0] ? strdup(md[0]) : NULL;
    GDALClose(vrt);
    return *xml ? GL_OK : gl_fail(err, GL_ERR_IO, "STAC item %s: no VRT for its bands", id);
}

static gl_status item_scene(const cJSON *item, const char *src, char *const *names, int n_names,
                            gl_stac_scene *out, gl_error *err) {
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(item, "id");
    const cJSON *assets = cJSON_GetObjectItemCaseSensitive(item, "assets");
    if (!cJSON_IsString(id) || !cJSON_IsObject(assets))
        return gl_fail(err, GL_ERR_FORMAT, "%s: a STAC item without an id or assets", src);
    const char *base = self_href(item);
    char *paths[STAC_MAX_BANDS] = {0};
    gl_status st = GL_OK;
    for (int b = 0; !st && b < n_names; b++) {
        const char *href = asset_href(assets, names[b]);
        if (!href) {
            char keys[512] = "";
            size_t used = 0;
            const cJSON *a;
            cJSON_ArrayForEach(a, assets) used +=
                (size_t)snprintf(keys + used, used < sizeof keys ? sizeof keys - used : 0, "%s%s",
                                 used ? ", " : "", a->string);
            st = gl_fail(err, GL_ERR_ARG, "%s: STAC item %s has no asset or band '%s' (assets: %s)",
                         src, id->valuestring, names[b], keys);
            break;
        }
        char *abs = resolve(base ? base : src, href);
        paths[b] = abs ? gl_gdal_path_of(abs) : NULL;
        free(abs);
        if (!paths[b]) st = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", src);
    }
    out->id = st ? NULL : strdup(id->valuestring);
    if (!st && !out->id) st = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", src);
    if (!st && n_names == 1) {
        out->path = paths[0];
        paths[0] = NULL;
    } else if (!st) {
        st = stack_bands(id->valuestring, paths, n_names, &out->path, err);
    }
    for (int b = 0; b < n_names; b++)
        free(paths[b]);
    if (st) {
        free(out->id);
        out->id = out->path = NULL;
    }
    return st;
}

static gl_status split_names(const char *assets, char *buf, size_t cap, char **names, int *n,
                             gl_error *err) {
    if (!assets || !*assets || strlen(assets) >= cap)
        return gl_fail(err, GL_ERR_ARG, "--asset takes an asset name or red,green,blue");
    strcpy(buf, assets);
    *n = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (*n == STAC_MAX_BANDS)
            return gl_fail(err, GL_ERR_ARG, "--asset %s: at most %d band assets", assets,
                           STAC_MAX_BANDS);
        names[(*n)++] = t;
    }
    if (*n != 1 && *n != 3)
        return gl_fail(err, GL_ERR_ARG,
                       "--asset %s: one asset (visual) or three bands (red,green,blue)", assets);
    return GL_OK;
}

gl_status gl_stac_read(const char *src, const char *assets, gl_stac_scene **scenes, int *n,
                       gl_error *err) {
    *scenes = NULL;
    *n = 0;
    char buf[512], *names[STAC_MAX_BANDS];
    int n_names;
    gl_status st = split_names(assets, buf, sizeof buf, names, &n_names, err);
    char *text = NULL;
    size_t len = 0;
    if (!st) st = read_all(src, &text, &len, err);
    if (st) return st;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *type = root ? cJSON_GetObjectItemCaseSensitive(root, "type") : NULL;
    const cJSON *items = NULL;
    int single = 0;
    if (!root)
        st = gl_fail(err, GL_ERR_FORMAT, "%s: not JSON", src);
    else if (cJSON_IsString(type) && !strcmp(type->valuestring, "Feature"))
        single = 1;
    else if (cJSON_IsString(type) && !strcmp(type->valuestring, "FeatureCollection") &&
             cJSON_IsArray(items = cJSON_GetObjectItemCaseSensitive(root, "features")))
        ;
    else
        st = gl_fail(err, GL_ERR_FORMAT,
                     "%s: not a STAC Item or ItemCollection (type Feature or FeatureCollection)",
                     src);
    int count = st ? 0 : single ? 1 : cJSON_GetArraySize(items);
    if (!st && count == 0) st = gl_fail(err, GL_ERR_FORMAT, "%s: no STAC items", src);
    if (!st && !(*scenes = calloc((size_t)count, sizeof **scenes)))
        st = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", src);
    for (int i = 0; !st && i < count; i++) {
        st = item_scene(single ? root : cJSON_GetArrayItem(items, i), src, names, n_names,
                        &(*scenes)[i], err);
        if (!st) (*n)++;
    }
    cJSON_Delete(root);
    if (st) {
        gl_stac_scenes_free(*scenes, *n);
        *scenes = NULL;
        *n = 0;
    }
    return st;
}

void gl_stac_scenes_free(gl_stac_scene *scenes, int n) {
    for (int i = 0; scenes && i < n; i++) {
        free(scenes[i].id);
        free(scenes[i].path);
    }
    free(scenes);
}
