/* distance.c: great-circle distances (haversine on a sphere of 6371 km) and the small parsing and
 * hashing helpers the geolocation files share. */
#include "geo/geo.h"

#include <math.h>
#include <stdlib.h>

double gl_haversine_km(double lat1, double lon1, double lat2, double lon2) {
    const double rad = M_PI / 180.0;
    double dlat = (lat2 - lat1) * rad, dlon = (lon2 - lon1) * rad;
    double s1 = sin(dlat / 2), s2 = sin(dlon / 2);
    double a = s1 * s1 + cos(lat1 * rad) * cos(lat2 * rad) * s2 * s2;
    /* Rounding can push a a hair past 1 for antipodes; asin would then return NaN. */
    if (a > 1) a = 1;
    return 2 * GL_EARTH_RADIUS_KM * asin(sqrt(a));
}

int gl_geo_parse_number(const char *s, double lo, double hi, double *out) {
    char *end;
    if (!s || !*s) return -1;
    double v = strtod(s, &end);
    while (*end == ' ')
        end++;
    if (*end || end == s || !isfinite(v) || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int gl_geo_grow(void **arr, int *cap, int n, size_t elem) {
    if (n < *cap) return 0;
    int c = *cap ? *cap * 2 : 256;
    void *p = c > *cap ? realloc(*arr, (size_t)c * elem) : NULL;
    if (!p) return -1;
    *arr = p;
    *cap = c;
    return 0;
}

uint64_t gl_geo_fnv1a(uint64_t h, const void *data, size_t len) {
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

void gl_geo_hex64(uint64_t h, char out[17]) {
    static const char digits[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, h >>= 4)
        out[i] = digits[h & 15];
    out[16] = 0;
}
