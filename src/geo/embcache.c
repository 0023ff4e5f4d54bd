/* embcache.c: the on-disk cache of prompt and gallery embeddings: one file per key, rows filled on
 * demand, checked by size, key and CRC-32 on read, rewritten atomically. */
#include "geo/geo.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define CACHE_MAGIC "GLEMBC01"
#define CACHE_MAX_ROWS (1 << 24)
#define CACHE_MAX_DIM 65536

static size_t cache_file_size(size_t key_len, int rows, int dim) {
    return 8 + 4 * 4 + key_len + (size_t)rows + (size_t)rows * dim * sizeof(float) + 4;
}

static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void header_bytes(const gl_geo_embcache *c, unsigned char hdr[24]) {
    memcpy(hdr, CACHE_MAGIC, 8);
    put_u32(hdr + 8, (uint32_t)strlen(c->key));
    put_u32(hdr + 12, (uint32_t)c->rows);
    put_u32(hdr + 16, (uint32_t)c->dim);
    put_u32(hdr + 20, 0);
}

/* Reads n bytes into dst and folds them into the running CRC; -1 on a short read. */
static int read_crc(FILE *fp, void *dst, size_t n, uLong *crc) {
    if (n && fread(dst, 1, n, fp) != n) return -1;
    *crc = crc32_z(*crc, dst, n);
    return 0;
}

/* 0 when the file holds this key's rows intact; -1 (and a reason) when it must be rebuilt. */
static int try_read(gl_geo_embcache *c, const char **why) {
    FILE *fp = fopen(c->path, "rb");
    struct stat st;
    *why = "absent";
    if (!fp) return -1;
    size_t key_len = strlen(c->key);
    unsigned char want[24], got[24], tail[4];
    header_bytes(c, want);
    uLong crc = crc32(0L, Z_NULL, 0);
    char *key = malloc(key_len + 1);
    int bad = !key || fstat(fileno(fp), &st) != 0;
    if (!bad && (size_t)st.st_size != cache_file_size(key_len, c->rows, c->dim))
        bad = 1, *why = "wrong size";
    if (!bad && (read_crc(fp, got, 24, &crc) || memcmp(got, want, 24)))
        bad = 1, *why = "wrong header";
    if (!bad && (read_crc(fp, key, key_len, &crc) || memcmp(key, c->key, key_len)))
        bad = 1, *why = "a different key";
    if (!bad && (read_crc(fp, c->present, (size_t)c->rows, &crc) ||
                 read_crc(fp, c->data, (size_t)c->rows * c->dim * sizeof(float), &crc) ||
                 fread(tail, 1, 4, fp) != 4))
        bad = 1, *why = "truncated";
    if (!bad) {
        uint32_t stored = tail[0] | tail[1] << 8 | tail[2] << 16 | (uint32_t)tail[3] << 24;
        if (stored != (uint32_t)crc) bad = 1, *why = "checksum mismatch";
    }
    free(key);
    fclose(fp);
    if (bad) {
        memset(c->present, 0, (size_t)c->rows);
        return -1;
    }
    return 0;
}

gl_status gl_geo_embcache_open(gl_geo_embcache *c, const char *dir, const char *kind,
                               const char *key, int rows, int dim, gl_error *err) {
    memset(c, 0, sizeof *c);
    if (rows <= 0 || rows > CACHE_MAX_ROWS || dim <= 0 || dim > CACHE_MAX_DIM)
        return gl_fail(err, GL_ERR_LIMIT, "%s cache: %d x %d embeddings is out of range", kind,
                       rows, dim);
    c->rows = rows, c->dim = dim;
    c->key = strdup(key);
    c->present = calloc((size_t)rows, 1);
    c->data = malloc((size_t)rows * dim * sizeof(float));
    if (!c->key || !c->present || !c->data) {
        gl_geo_embcache_close(c);
        return gl_fail(err, GL_ERR_NOMEM, "%s cache: cannot allocate %d x %d floats", kind, rows,
                       dim);
    }
    char base[PATH_MAX];
    if (dir && !*dir) return GL_OK;
    if (!dir) {
        gl_error e = {0};
        if (gl_geo_cache_dir(base, sizeof base, &e) != GL_OK) {
            gl_log(GL_LOG_WARN, "embeddings are not cached: %s", e.msg);
            return GL_OK;
        }
        dir = base;
    }
    char name[17], path[PATH_MAX];
    gl_geo_hex64(gl_geo_fnv1a(GL_GEO_FNV_INIT, key, strlen(key)), name);
    int n = snprintf(path, sizeof path, "%s/%.32s-%s.emb", dir, kind, name);
    if (n < 0 || (size_t)n >= sizeof path) {
        gl_geo_embcache_close(c);
        return gl_fail(err, GL_ERR_LIMIT, "%s: cache path is too long", dir);
    }
    if (!(c->path = strdup(path))) {
        gl_geo_embcache_close(c);
        return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
    }
    const char *why;
    if (try_read(c, &why) == 0)
        gl_log(GL_LOG_INFO, "%s: cached embeddings read", path);
    else if (strcmp(why, "absent"))
        gl_log(GL_LOG_INFO, "%s: %s, rebuilding", path, why);
    return GL_OK;
}

gl_status gl_geo_embcache_save(gl_geo_embcache *c, gl_error *err) {
    if (!c->path || !c->dirty) return GL_OK;
    gl_atomic_file f;
    gl_status s = gl_atomic_open(&f, c->path, err);
    if (s != GL_OK) return s;
    unsigned char hdr[24], tail[4];
    header_bytes(c, hdr);
    size_t key_len = strlen(c->key), nbytes = (size_t)c->rows * c->dim * sizeof(float);
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32_z(crc, hdr, 24);
    crc = crc32_z(crc, (const unsigned char *)c->key, key_len);
    crc = crc32_z(crc, c->present, (size_t)c->rows);
    crc = crc32_z(crc, (const unsigned char *)c->data, nbytes);
    put_u32(tail, (uint32_t)crc);
    fwrite(hdr, 1, 24, f.fp);
    fwrite(c->key, 1, key_len, f.fp);
    fwrite(c->present, 1, (size_t)c->rows, f.fp);
    fwrite(c->data, 1, nbytes, f.fp);
    fwrite(tail, 1, 4, f.fp);
    s = gl_atomic_commit(&f, err);
    if (s == GL_OK) c->dirty = 0;
    return s;
}

void gl_geo_embcache_close(gl_geo_embcache *c) {
    if (!c) return;
    free(c->path);
    free(c->key);
    free(c->present);
    free(c->data);
    memset(c, 0, sizeof *c);
}
