/* paths.c: where geolocation finds its shipped data (gazetteer, GeoCLIP gallery) and where it
 * keeps embedding caches. */
#include "geo/geo.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int readable(const char *dir, const char *rel, char *out, size_t cap) {
    int n = snprintf(out, cap, "%s/%s", dir, rel);
    return n > 0 && (size_t)n < cap && access(out, R_OK) == 0;
}

gl_status gl_geo_data_path(const char *rel, char *out, size_t cap, gl_error *err) {
    const char *env = getenv("GEOLABEL_DATA");
    if (env && *env) {
        if (readable(env, rel, out, cap)) return GL_OK;
        return gl_fail(err, GL_ERR_IO, "%s/%s: not found ($GEOLABEL_DATA)", env, rel);
    }
    /* A binary run from build/ (or a test from build/tests/) finds the source tree's data/. */
    char exe[PATH_MAX], dir[PATH_MAX + 16];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        static const char *const ups[] = {"/../data", "/../../data", "/../share/geolabel"};
        for (size_t i = 0; i < sizeof ups / sizeof ups[0]; i++) {
            snprintf(dir, sizeof dir, "%s%s", exe, ups[i]);
            if (readable(dir, rel, out, cap)) return GL_OK;
        }
    }
    if (readable("/usr/share/geolabel", rel, out, cap)) return GL_OK;
    return gl_fail(err, GL_ERR_IO,
                   "%s: shipped data not found (set $GEOLABEL_DATA to the folder holding it)", rel);
}

gl_status gl_geo_cache_dir(char *out, size_t cap, gl_error *err) {
    char root[PATH_MAX];
    gl_status s = gl_hub_cache_dir(root, sizeof root, err); /* one root for models and embeddings */
    if (s != GL_OK) return s;
    int n = snprintf(out, cap, "%s/embeddings", root);
    if (n <= 0 || (size_t)n >= cap)
        return gl_fail(err, GL_ERR_LIMIT, "%s: cache path is too long", root);
    return gl_make_dirs(out, err);
}
