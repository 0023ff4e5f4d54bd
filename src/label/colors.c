/* colors.c: stable class colours: a colour derived from a hash of the class name, so a class keeps
 * its colour in every picture, raster, style and review page, overridable by a --colors file. */
#include "geolabel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_COLOR_ENTRIES 100000

struct gl_colors {
    char **names;
    unsigned *rgb;
    int n;
};

/* FNV-1a, 64 bits: cheap, and its output for a given name never changes between versions. */
static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* HSL to 0xRRGGBB; h in [0,360), s and l in [0,1]. */
static unsigned hsl_rgb(double h, double s, double l) {
    double c = (1 - fabs(2 * l - 1)) * s, hp = h / 60, x = c * (1 - fabs(fmod(hp, 2) - 1));
    double r = 0, g = 0, b = 0;
    if (hp < 1)
        r = c, g = x;
    else if (hp < 2)
        r = x, g = c;
    else if (hp < 3)
        g = c, b = x;
    else if (hp < 4)
        g = x, b = c;
    else if (hp < 5)
        r = x, b = c;
    else
        r = c, b = x;
    double m = l - c / 2;
    unsigned R = (unsigned)lround((r + m) * 255), G = (unsigned)lround((g + m) * 255),
             B = (unsigned)lround((b + m) * 255);
    return R << 16 | G << 8 | B;
}

/* Common land-cover names keep the colours map readers expect (water blue, trees green, roads
 * grey), after the conventions of land-cover maps such as ESA WorldCover and NLCD. */
static const struct {
    const char *name;
    unsigned rgb;
} KNOWN[] = {{"nodata", 0x808080},     {"water", 0x1f6fd1},       {"river", 0x3b8ee8},
             {"lake", 0x2a5fb0},       {"sea", 0x17489a},         {"ocean", 0x0f3a80},
             {"forest", 0x1b7a2e},     {"trees", 0x2e8b3a},       {"tree", 0x2e8b3a},
             {"woodland", 0x3d9a46},   {"grass", 0x8fd16a},       {"grassland", 0x8fd16a},
             {"meadow", 0xa3d97c},     {"park", 0x6cc24a},        {"shrubland", 0x9a9a35},
             {"shrub", 0x9a9a35},      {"cropland", 0xf0d23c},    {"crops", 0xf0d23c},
             {"farmland", 0xe8c547},   {"agriculture", 0xe0b83a}, {"field", 0xd9c25b},
             {"buildings", 0xd7301f},  {"building", 0xd7301f},    {"houses", 0xe34a33},
             {"house", 0xe34a33},      {"residential", 0xf16946}, {"urban", 0xb30000},
             {"built-up", 0xc4161c},   {"industrial", 0x8c3fa8},  {"road", 0x6e6e6e},
             {"roads", 0x6e6e6e},      {"highway", 0x4d4d4d},     {"parking lot", 0x9c9c9c},
             {"bare", 0xc8a97e},       {"bare soil", 0xb89968},   {"sand", 0xe3cf9a},
             {"desert", 0xd9b77e},     {"beach", 0xf2dfa6},       {"snow", 0xe8f4fb},
             {"ice", 0xc9e6f5},        {"cloud", 0xd0d0d0},       {"clouds", 0xd0d0d0},
             {"wetland", 0x2aa198},    {"mangroves", 0x00785a},   {"airport", 0x5a4b8f},
             {"solar farm", 0x3c3cb4}, {"golf course", 0x76c893}, {"railway", 0x8b5a2b}};

unsigned gl_color_hashed(const char *name) {
    for (size_t i = 0; i < sizeof KNOWN / sizeof KNOWN[0]; i++)
        if (!strcasecmp(KNOWN[i].name, name)) return KNOWN[i].rgb;
    uint64_t h = fnv1a(name);
    /* Hue spreads over the whole wheel; saturation and lightness vary a little so that two names
     * whose hues collide still differ. Lightness stays mid-range: legible under black text. */
    double hue = (double)(h % 3600) / 10.0;
    double sat = 0.50 + (double)((h >> 16) % 40) / 100.0;
    double light = 0.35 + (double)((h >> 32) % 30) / 100.0;
    return hsl_rgb(hue, sat, light);
}

static int parse_hex(const char *s, unsigned *out) {
    while (*s == ' ')
        s++;
    if (*s == '#') s++;
    if (strlen(s) != 6) return 0;
    char *end;
    unsigned long v = strtoul(s, &end, 16);
    if (*end) return 0;
    *out = (unsigned)v;
    return 1;
}

gl_colors *gl_colors_load(const char *path, gl_error *err) {
    gl_colors *c = calloc(1, sizeof *c);
    if (!c) {
        gl_fail(err, GL_ERR_NOMEM, "colours: out of memory");
        return NULL;
    }
    if (!path) return c;
    gl_csv *csv = gl_csv_open(path, 0, err);
    if (!csv) {
        free(c);
        return NULL;
    }
    gl_status st = GL_OK;
    int r, cap = 0;
    while (!st && (r = gl_csv_next(csv, err)) == 1) {
        const char *name = gl_csv_field(csv, 0);
        if (!*name || name[0] == '#') continue; /* blank lines and comments */
        if (!strcmp(name, "class") && !strcmp(gl_csv_field(csv, 1), "color")) continue;
        unsigned rgb;
        if (gl_csv_field_count(csv) != 2 || !parse_hex(gl_csv_field(csv, 1), &rgb)) {
            st = gl_fail(err, GL_ERR_FORMAT, "%s:%ld: expected 'class,#RRGGBB'", path,
                         gl_csv_line(csv));
            break;
        }
        if (c->n >= MAX_COLOR_ENTRIES) {
            st = gl_fail(err, GL_ERR_LIMIT, "%s: more than %d colours", path, MAX_COLOR_ENTRIES);
            break;
        }
        if (c->n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(c->names, (size_t)cap * sizeof *nn);
            if (nn) c->names = nn;
            unsigned *nr = nn ? realloc(c->rgb, (size_t)cap * sizeof *nr) : NULL;
            if (nr) c->rgb = nr;
            if (!nn || !nr) {
                st = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
        }
        if (!(c->names[c->n] = strdup(name))) {
            st = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        c->rgb[c->n++] = rgb;
    }
    if (!st && r < 0) st = err->code;
    gl_csv_free(csv);
    if (st) {
        gl_colors_free(c);
        return NULL;
    }
    return c;
}

void gl_colors_free(gl_colors *c) {
    if (!c) return;
    gl_strings_free(c->names, c->n);
    free(c->rgb);
    free(c);
}

unsigned gl_color_of(const gl_colors *c, const char *name) {
    /* The last entry wins, so a file can be appended to. */
    for (int i = c ? c->n - 1 : -1; i >= 0; i--)
        if (!strcmp(c->names[i], name)) return c->rgb[i];
    return gl_color_hashed(name);
}
