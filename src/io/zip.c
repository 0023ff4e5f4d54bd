/* zip.c: the zip container under .pth checkpoints: end-of-central-directory search (zip64 too),
 * the central directory, and entry reads (stored or deflated, CRC-checked). */
#include "io/zip.h"

#include "io/bytes.h"
#include "io/mapping.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <zlib.h>

/* Record signatures and fixed sizes, from PKWARE's APPNOTE.TXT (sections 4.3.6 to 4.3.16). */
enum {
    ZIP_LOCAL = 0x04034b50,
    ZIP_CDIR = 0x02014b50,
    ZIP_EOCD = 0x06054b50,
    ZIP_EOCD64 = 0x06064b50,
    ZIP_EOCD64_LOC = 0x07064b50,
    ZIP_LOCAL_SIZE = 30,
    ZIP_CDIR_SIZE = 46,
    ZIP_EOCD_SIZE = 22,
    ZIP_EOCD64_SIZE = 56,
    ZIP_EOCD64_LOC_SIZE = 20,
    ZIP_MAX_COMMENT = 65535,
};

struct gl_zip {
    char *name;
    const unsigned char *data;
    size_t size;
    int mapped; /* data is our mapping of the file (gl_zip_open) */
    gl_zip_entry *entries;
    size_t n_entries;
};

static gl_status find_eocd(const gl_zip *z, uint64_t *cd_off, uint64_t *cd_size, uint64_t *count,
                           gl_error *err) {
    const unsigned char *m = z->data;
    size_t n = z->size;
    if (n < ZIP_EOCD_SIZE)
        return gl_fail(err, GL_ERR_FORMAT, "%s: %zu bytes is too short to be a zip archive",
                       z->name, n);
    size_t lo = n > ZIP_EOCD_SIZE + ZIP_MAX_COMMENT ? n - ZIP_EOCD_SIZE - ZIP_MAX_COMMENT : 0;
    for (size_t at = n - ZIP_EOCD_SIZE + 1; at-- > lo;) {
        if (gl_rd_le(m + at, 4) != ZIP_EOCD || at + ZIP_EOCD_SIZE + gl_rd_le(m + at + 20, 2) != n)
            continue;
        *count = gl_rd_le(m + at + 10, 2);
        *cd_size = gl_rd_le(m + at + 12, 4);
        *cd_off = gl_rd_le(m + at + 16, 4);
        if (*count == 0xFFFF || *cd_size == 0xFFFFFFFF || *cd_off == 0xFFFFFFFF) {
            if (at < ZIP_EOCD64_LOC_SIZE ||
                gl_rd_le(m + at - ZIP_EOCD64_LOC_SIZE, 4) != ZIP_EOCD64_LOC)
                return gl_fail(err, GL_ERR_FORMAT, "%s: zip64 end record locator missing", z->name);
            uint64_t off64 = gl_rd_le(m + at - ZIP_EOCD64_LOC_SIZE + 8, 8);
            /* n - 56 would wrap for a tiny file and let any offset through */
            if (n < ZIP_EOCD64_SIZE || off64 > n - ZIP_EOCD64_SIZE ||
                gl_rd_le(m + off64, 4) != ZIP_EOCD64)
                return gl_fail(err, GL_ERR_FORMAT, "%s: zip64 end record is corrupt", z->name);
            *count = gl_rd_le(m + off64 + 32, 8);
            *cd_size = gl_rd_le(m + off64 + 40, 8);
            *cd_off = gl_rd_le(m + off64 + 48, 8);
        }
        if (*cd_off > n || *cd_size > n - *cd_off)
            return gl_fail(err, GL_ERR_FORMAT,
                           "%s: zip central directory [%llu, +%llu) lies outside the %zu-byte file "
                           "(truncated?)",
                           z->name, (unsigned long long)*cd_off, (unsigned long long)*cd_size, n);
        if (*count > *cd_size / ZIP_CDIR_SIZE)
            return gl_fail(err, GL_ERR_FORMAT,
                           "%s: zip claims %llu entries in a %llu-byte directory", z->name,
                           (unsigned long long)*count, (unsigned long long)*cd_size);
        return GL_OK;
    }
    return gl_fail(err, GL_ERR_FORMAT,
                   "%s: not a zip archive (no end-of-central-directory record; truncated?)",
                   z->name);
}

/* Reads the zip64 extended-information extra field for the fields that overflowed. */
static gl_status zip64_extra(const gl_zip *z, const unsigned char *x, size_t xlen, gl_zip_entry *e,
                             gl_error *err) {
    for (size_t at = 0; at + 4 <= xlen;) {
        size_t id = gl_rd_le(x + at, 2), sz = gl_rd_le(x + at + 2, 2);
        if (at + 4 + sz > xlen) break;
        if (id == 1) {
            const unsigned char *f = x + at + 4;
            size_t left = sz;
            uint64_t *fields[3] = {&e->size, &e->comp_size, &e->local_off};
            for (int i = 0; i < 3; i++) {
                if (*fields[i] != 0xFFFFFFFF) continue;
                if (left < 8)
                    return gl_fail(err, GL_ERR_FORMAT, "%s: entry '%s' has a short zip64 field",
                                   z->name, e->name);
                *fields[i] = gl_rd_le(f, 8);
                f += 8;
                left -= 8;
            }
            return GL_OK;
        }
        at += 4 + sz;
    }
    return GL_OK;
}

static gl_status read_directory(gl_zip *z, gl_error *err) {
    uint64_t cd_off = 0, cd_size = 0, count = 0;
    gl_status s = find_eocd(z, &cd_off, &cd_size, &count, err);
    if (s) return s;
    z->entries = calloc(count ? count : 1, sizeof *z->entries);
    if (!z->entries) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", z->name);
    const unsigned char *at = z->data + cd_off, *end = at + cd_size;
    for (uint64_t i = 0; i < count; i++) {
        if (end - at < ZIP_CDIR_SIZE || gl_rd_le(at, 4) != ZIP_CDIR)
            return gl_fail(err, GL_ERR_FORMAT, "%s: zip central directory entry %llu is corrupt",
                           z->name, (unsigned long long)i);
        size_t nlen = gl_rd_le(at + 28, 2), xlen = gl_rd_le(at + 30, 2),
               clen = gl_rd_le(at + 32, 2);
        if ((size_t)(end - at) < ZIP_CDIR_SIZE + nlen + xlen + clen)
            return gl_fail(err, GL_ERR_FORMAT,
                           "%s: zip central directory entry %llu overruns the directory", z->name,
                           (unsigned long long)i);
        gl_zip_entry *e = &z->entries[z->n_entries++];
        e->name = strndup((const char *)at + ZIP_CDIR_SIZE, nlen);
        if (!e->name) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", z->name);
        e->method = gl_rd_le(at + 10, 2);
        e->crc = gl_rd_le(at + 16, 4);
        e->comp_size = gl_rd_le(at + 20, 4);
        e->size = gl_rd_le(at + 24, 4);
        e->local_off = gl_rd_le(at + 42, 4);
        if ((s = zip64_extra(z, at + ZIP_CDIR_SIZE + nlen, xlen, e, err))) return s;
        at += ZIP_CDIR_SIZE + nlen + xlen + clen;
    }
    return GL_OK;
}

static gl_zip *zip_new(const char *name, gl_error *err) {
    gl_zip *z = calloc(1, sizeof *z);
    if (!z || !(z->name = strdup(name))) {
        free(z);
        gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", name);
        return NULL;
    }
    return z;
}

static gl_status map_file(gl_zip *z, gl_error *err) {
    void *m;
    size_t n;
    gl_status s = gl_map_file(z->name, &m, &n, err);
    if (s) return s;
    if (!n) return gl_fail(err, GL_ERR_FORMAT, "%s: empty file", z->name);
    z->data = m;
    z->size = n;
    z->mapped = 1;
    return GL_OK;
}

gl_zip *gl_zip_open(const char *path, gl_error *err) {
    gl_zip *z = zip_new(path, err);
    if (z && (map_file(z, err) || read_directory(z, err))) {
        gl_zip_free(z);
        return NULL;
    }
    return z;
}

gl_zip *gl_zip_memory(const char *name, const unsigned char *data, size_t size, gl_error *err) {
    gl_zip *z = zip_new(name, err);
    if (!z) return NULL;
    z->data = data;
    z->size = size;
    if (read_directory(z, err)) {
        gl_zip_free(z);
        return NULL;
    }
    return z;
}

void gl_zip_free(gl_zip *z) {
    if (!z) return;
    for (size_t i = 0; i < z->n_entries; i++)
        free(z->entries[i].name);
    free(z->entries);
    if (z->mapped) munmap((void *)z->data, z->size);
    free(z->name);
    free(z);
}

void gl_zip_release(const gl_zip *z, const void *p, size_t n) {
    if (z && z->mapped) gl_map_release(z->data, z->size, p, n);
}

const char *gl_zip_name(const gl_zip *z) {
    return z->name;
}
size_t gl_zip_count(const gl_zip *z) {
    return z->n_entries;
}
const gl_zip_entry *gl_zip_entry_at(const gl_zip *z, size_t i) {
    return i < z->n_entries ? &z->entries[i] : NULL;
}

const gl_zip_entry *gl_zip_find(const gl_zip *z, const char *name) {
    for (size_t i = 0; i < z->n_entries; i++)
        if (!strcmp(z->entries[i].name, name)) return &z->entries[i];
    return NULL;
}

static gl_status inflate_entry(const gl_zip *z, const gl_zip_entry *e, const unsigned char *src,
                               unsigned char **out, gl_error *err) {
    /* Deflate expands at most ~1032:1, so a larger claim is corruption, not a big tensor. */
    if (e->size > e->comp_size * 1032 + 1024)
        return gl_fail(err, GL_ERR_FORMAT, "%s: entry '%s' claims %llu bytes from %llu compressed",
                       z->name, e->name, (unsigned long long)e->size,
                       (unsigned long long)e->comp_size);
    unsigned char *data = malloc(e->size ? e->size : 1);
    if (!data) return gl_fail(err, GL_ERR_NOMEM, "%s: entry '%s': out of memory", z->name, e->name);
    z_stream zs = {0};
    int ok = inflateInit2(&zs, -15) == Z_OK;
    zs.next_in = (unsigned char *)src;
    zs.avail_in = (uInt)e->comp_size;
    zs.next_out = data;
    zs.avail_out = (uInt)e->size;
    ok = ok && e->comp_size <= UINT32_MAX && e->size <= UINT32_MAX &&
         inflate(&zs, Z_FINISH) == Z_STREAM_END && zs.total_out == e->size;
    inflateEnd(&zs);
    if (!ok) {
        free(data);
        return gl_fail(err, GL_ERR_FORMAT, "%s: entry '%s' does not inflate (corrupt)", z->name,
                       e->name);
    }
    *out = data;
    return GL_OK;
}

gl_status gl_zip_read(const gl_zip *z, const gl_zip_entry *e, unsigned char **out, int *owned,
                      gl_error *err) {
    size_t n = z->size;
    *out = NULL;
    *owned = 0;
    if (e->local_off > n || n - e->local_off < ZIP_LOCAL_SIZE ||
        gl_rd_le(z->data + e->local_off, 4) != ZIP_LOCAL)
        return gl_fail(err, GL_ERR_FORMAT,
                       "%s: entry '%s': local header at %llu is missing (truncated or corrupt zip)",
                       z->name, e->name, (unsigned long long)e->local_off);
    const unsigned char *lh = z->data + e->local_off;
    uint64_t start = e->local_off + ZIP_LOCAL_SIZE + gl_rd_le(lh + 26, 2) + gl_rd_le(lh + 28, 2);
    if (start > n || e->comp_size > n - start)
        return gl_fail(err, GL_ERR_FORMAT,
                       "%s: entry '%s' data [%llu, +%llu) runs past the %zu-byte file (truncated?)",
                       z->name, e->name, (unsigned long long)start,
                       (unsigned long long)e->comp_size, n);
    const unsigned char *src = z->data + start;
    unsigned char *data = NULL;
    if (e->method == 0) {
        if (e->size != e->comp_size)
            return gl_fail(err, GL_ERR_FORMAT, "%s: stored entry '%s' has differing sizes", z->name,
                           e->name);
        data = (unsigned char *)src;
    } else if (e->method == 8) {
        gl_status s = inflate_entry(z, e, src, &data, err);
        if (s) return s;
        *owned = 1;
    } else {
        return gl_fail(err, GL_ERR_UNSUPPORTED,
                       "%s: entry '%s' uses zip method %llu (only stored and deflated are read)",
                       z->name, e->name, (unsigned long long)e->method);
    }
    if (*owned) gl_zip_release(z, src, e->comp_size);
    /* A stored entry is checked in blocks whose pages go back once summed: a checkpoint's
     * tensors are read again only when used (packed), and must not all stay in memory. */
    uLong crc = crc32(0L, Z_NULL, 0);
    for (uint64_t done = 0; done < e->size;) {
        uInt chunk = (uInt)(e->size - done > (4u << 20) ? (4u << 20) : e->size - done);
        crc = crc32(crc, data + done, chunk);
        if (!*owned) gl_zip_release(z, data + done, chunk);
        done += chunk;
    }
    if (crc != e->crc) {
        if (*owned) free(data);
        *owned = 0;
        return gl_fail(err, GL_ERR_FORMAT, "%s: entry '%s' fails its CRC check (corrupt)", z->name,
                       e->name);
    }
    *out = data;
    return GL_OK;
}
