/* mapping.h: giving back the resident pages of a read-only file mapping once a range of it has
 * been read (weights packed, a digest taken), so a mapped model does not stay in memory twice. */
#ifndef GEOLABEL_MAPPING_H
#define GEOLABEL_MAPPING_H

#include <stddef.h>

/* Drops the process's pages of the whole pages inside [p, p+n) when that range lies inside the
 * read-only, never-written file mapping [map, map+map_size) (MADV_DONTNEED); otherwise nothing.
 * The data stays valid: touching it again reads it back from the file (the page cache). Never
 * call it on a writable or anonymous mapping, whose pages would come back as zeros. */
void gl_map_release(const void *map, size_t map_size, const void *p, size_t n);

#endif
