/* mapping.h: read-only file mappings of weight files (safetensors, zip checkpoints), and giving
 * back their resident pages once a range has been read (weights packed, a digest taken). */
#ifndef GEOLABEL_MAPPING_H
#define GEOLABEL_MAPPING_H

#include <stddef.h>

#include "geolabel.h"

/* Maps the regular file at path read-only (MAP_PRIVATE) into *map, its size in *size. An empty
 * file is not mapped: GL_OK with *map = NULL and *size = 0, for the caller to judge. Fails
 * (GL_ERR_IO, one line naming path) when it cannot be opened, is not a regular file or cannot be
 * mapped. The caller unmaps with munmap(*map, *size). */
gl_status gl_map_file(const char *path, void **map, size_t *size, gl_error *err);

/* Drops the process's pages of the whole pages inside [p, p+n) when that range lies inside the
 * read-only, never-written file mapping [map, map+map_size) (MADV_DONTNEED); otherwise nothing.
 * The data stays valid: touching it again reads it back from the file (the page cache). Never
 * call it on a writable or anonymous mapping, whose pages would come back as zeros. */
void gl_map_release(const void *map, size_t map_size, const void *p, size_t n);

#endif
