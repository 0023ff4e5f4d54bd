/* geo.h: what the geolocation files share privately: coordinate parsing, content hashes and the
 * on-disk embedding cache used for gazetteer prompts and GeoCLIP gallery features. */
#ifndef GEOLABEL_GEO_PRIVATE_H
#define GEOLABEL_GEO_PRIVATE_H

#include "geolabel.h"

/* Parses a whole field as a finite decimal in [lo, hi]; 0 on success, -1 otherwise. */
int gl_geo_parse_number(const char *s, double lo, double hi, double *out);

/* Grows *arr (items of elem bytes, capacity *cap) so that index n fits, doubling from 256.
 * Returns -1 when memory runs out (the array is then unchanged). */
int gl_geo_grow(void **arr, int *cap, int n, size_t elem);

/* FNV-1a 64: cheap content keys for caches (not a security hash). */
#define GL_GEO_FNV_INIT 0xcbf29ce484222325ULL
uint64_t gl_geo_fnv1a(uint64_t h, const void *data, size_t len);
void gl_geo_hex64(uint64_t h, char out[17]);

/* Opens a CSV with a header and finds every name in cols (case-insensitive); a missing required
 * column fails naming the file. idx[i] is -1 for a missing optional column (required[i] == 0). */
gl_csv *gl_geo_csv_open(const char *path, const char *const *cols, const int *required, int n,
                        int *idx, gl_error *err);
/* Reads a lat,lon pair from the current row, failing with the file and line when out of range. */
gl_status gl_geo_csv_latlon(const gl_csv *csv, int lat_col, int lon_col, double *lat, double *lon,
                            gl_error *err);

/* An on-disk matrix of embeddings [rows, dim] with a per-row "present" flag, keyed by a string
 * (model hash, template, data hash...). The file is named after a hash of the key, holds the key
 * itself, and ends with a CRC-32 over everything before it: a wrong key, size or checksum reads
 * as "no cache" and is rebuilt. */
typedef struct {
    char *path; /* NULL: caching disabled */
    char *key;
    int rows, dim;
    unsigned char *present; /* [rows] */
    float *data;            /* [rows, dim] */
    int dirty;
} gl_geo_embcache;
/* Opens (or starts empty) the cache for key in dir (NULL: gl_geo_cache_dir(), "": none).
 * A stale or corrupt file is logged at INFO and ignored. */
gl_status gl_geo_embcache_open(gl_geo_embcache *c, const char *dir, const char *kind,
                               const char *key, int rows, int dim, gl_error *err);
/* Writes the cache atomically when rows were added since it was opened. */
gl_status gl_geo_embcache_save(gl_geo_embcache *c, gl_error *err);
void gl_geo_embcache_close(gl_geo_embcache *c);

#endif
