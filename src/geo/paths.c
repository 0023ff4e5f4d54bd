/* paths.c: where geolocation keeps its embedding caches (the shipped data is found through
 * gl_data_path in io/file.c). */
#include "geo/geo.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

gl_status gl_geo_cache_dir(char *out, size_t cap, gl_error *err) {
    char root[PATH_MAX];
    gl_status s = gl_hub_cache_dir(root, sizeof root, err); /* one root for models and embeddings */
    if (s != GL_OK) return s;
    int n = snprintf(out, cap, "%s/embeddings", root);
    if (n <= 0 || (size_t)n >= cap)
        return gl_fail(err, GL_ERR_LIMIT, "%s: cache path is too long", root);
    return gl_make_dirs(out, err);
}
