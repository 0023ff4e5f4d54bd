/* url.c: inputs spelled as URLs (https://, s3://, ...) mapped to the GDAL virtual file systems
 * that read them by HTTP range requests, so a COG in an object store is never downloaded whole. */
#include "geolabel.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *scheme, *prefix;
    int keep_scheme; /* /vsicurl/ takes the whole URL; the object stores take BUCKET/KEY */
} MAP[] = {{"http://", "/vsicurl/", 1}, {"https://", "/vsicurl/", 1}, {"ftp://", "/vsicurl/", 1},
           {"s3://", "/vsis3/", 0},     {"gs://", "/vsigs/", 0},      {"az://", "/vsiaz/", 0}};

char *gl_gdal_path_of(const char *input) {
    for (size_t i = 0; i < sizeof MAP / sizeof MAP[0]; i++) {
        size_t k = strlen(MAP[i].scheme);
        if (strncasecmp(input, MAP[i].scheme, k)) continue;
        const char *rest = MAP[i].keep_scheme ? input : input + k;
        size_t n = strlen(MAP[i].prefix) + strlen(rest) + 1;
        char *out = malloc(n);
        if (out) snprintf(out, n, "%s%s", MAP[i].prefix, rest);
        return out;
    }
    return strdup(input);
}

int gl_input_is_remote(const char *input) {
    static const char *const vsi[] = {"/vsicurl", "/vsis3",    "/vsigs",      "/vsiaz",  "/vsiadls",
                                      "/vsioss",  "/vsiswift", "/vsiwebhdfs", "/vsihdfs"};
    for (size_t i = 0; i < sizeof MAP / sizeof MAP[0]; i++)
        if (!strncasecmp(input, MAP[i].scheme, strlen(MAP[i].scheme))) return 1;
    for (size_t i = 0; i < sizeof vsi / sizeof vsi[0]; i++) {
        size_t k = strlen(vsi[i]);
        if (!strncmp(input, vsi[i], k) && (input[k] == '/' || input[k] == '_')) return 1;
    }
    return 0;
}
