/* zip.h: a read-only zip archive (stored and deflated entries, zip64), as torch.save writes it,
 * over a memory-mapped file or a caller's buffer.
 *
 * Safety: every record offset and size is checked against the archive before it is read, with
 * overflow-free comparisons; a deflated entry's claimed size is bounded by deflate's maximum
 * ratio before anything is allocated; every entry's CRC-32 is checked on read.
 *
 * Ownership: gl_zip_open* returns a gl_zip that owns its entry table (and the file mapping for
 * gl_zip_open); gl_zip_memory borrows the caller's buffer, which must outlive it. Free with
 * gl_zip_free (NULL-safe). */
#ifndef GEOLABEL_ZIP_H
#define GEOLABEL_ZIP_H

#include "geolabel.h"

typedef struct {
    char *name; /* as stored, NUL-terminated */
    uint64_t method, crc, comp_size, size, local_off;
} gl_zip_entry;

typedef struct gl_zip gl_zip;

/* Maps path and reads its central directory. Errors: GL_ERR_IO (unreadable, not a regular file),
 * GL_ERR_FORMAT (empty, not a zip, truncated, corrupt directory), GL_ERR_NOMEM. */
gl_zip *gl_zip_open(const char *path, gl_error *err);
/* The same over size bytes at data (borrowed); name is used in messages. */
gl_zip *gl_zip_memory(const char *name, const unsigned char *data, size_t size, gl_error *err);
void gl_zip_free(gl_zip *z);

const char *gl_zip_name(const gl_zip *z);
size_t gl_zip_count(const gl_zip *z);
const gl_zip_entry *gl_zip_entry_at(const gl_zip *z, size_t i);
/* The entry with exactly this name, or NULL. */
const gl_zip_entry *gl_zip_find(const gl_zip *z, const char *name);

/* The entry's bytes (e->size of them): a pointer into the archive for stored entries, a malloc'ed
 * buffer the caller frees (*owned = 1) for deflated ones. The CRC is checked either way. Errors
 * name the archive and the entry: GL_ERR_FORMAT (out of bounds, corrupt, CRC),
 * GL_ERR_UNSUPPORTED (another compression method), GL_ERR_NOMEM. */
gl_status gl_zip_read(const gl_zip *z, const gl_zip_entry *e, unsigned char **out, int *owned,
                      gl_error *err);

/* Gives back the resident pages of [p, p+n) when the archive is a file mapping (gl_zip_open) and
 * the range lies in it (io/mapping.h); a stored entry's bytes stay valid (read back from the
 * file when touched). gl_zip_read already does this for each entry it checks. */
void gl_zip_release(const gl_zip *z, const void *p, size_t n);

#endif
