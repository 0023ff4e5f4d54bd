/* safetensors.h: memory-mapped safetensors files (single or sharded by an index.json), validated
 * before use: header bounds, JSON, dtypes, shapes against byte sizes, in-bounds non-overlapping
 * data. */
#ifndef GEOLABEL_SAFETENSORS_H
#define GEOLABEL_SAFETENSORS_H

#include "geolabel.h"

struct cJSON;

typedef enum { GL_ST_F32 = 0, GL_ST_F16, GL_ST_BF16, GL_ST_OTHER } gl_st_dtype;

#define GL_ST_MAX_DIMS 8

typedef struct {
    char *name; /* owned by the gl_safetensors */
    gl_st_dtype dtype;
    char dtype_name[8]; /* "F32", "I64", ... as written */
    int ndim;
    int64_t shape[GL_ST_MAX_DIMS];
    size_t count; /* product of shape */
    size_t nbytes;
    const void *data; /* points into the read-only mapping; may be unaligned for F16 */
    int file;         /* index into gl_safetensors.paths */
} gl_st_tensor;

typedef struct {
    int n_files;
    char **paths; /* each shard's path, for error messages */
    void **maps;  /* mmap'ed shards */
    size_t *map_sizes;
    gl_st_tensor *tensors; /* sorted by name */
    int n_tensors;
} gl_safetensors;

/* Opens path: a .safetensors file, or a model.safetensors.index.json whose shards sit beside it.
 * On failure *st is left empty (safe to close). Close with gl_st_close. */
gl_status gl_st_open(const char *path, gl_safetensors *st, gl_error *err);
void gl_st_close(gl_safetensors *st);
/* NULL when absent. */
const gl_st_tensor *gl_st_find(const gl_safetensors *st, const char *name);
const char *gl_st_tensor_path(const gl_safetensors *st, const gl_st_tensor *t);

/* Gives back the resident pages of [p, p+n) when it lies in one of st's mappings (whole pages;
 * io/mapping.h): once a tensor has been read (packed, hashed) its bytes need not stay in memory,
 * and reading them again reads the file. Anything else: nothing happens. */
void gl_st_release(const gl_safetensors *st, const void *p, size_t n);

/* A 128-bit digest of every byte of every shard, in order: it changes whenever a weight does.
 * Reads the whole mapping (giving its pages back as it goes), so callers compute it once and
 * only when needed. */
void gl_st_digest(const gl_safetensors *st, uint64_t out[2]);

/* The same digest over any list of byte ranges, one at a time: begin, add each range (its length
 * counts too), end. add calls release(ctx, block, bytes), when not NULL, on each block of the
 * range once hashed, so a mapping's pages can go back as they are read, not after. */
typedef struct {
    uint64_t lane[4];
} gl_st_digester;
void gl_st_digest_begin(gl_st_digester *d);
void gl_st_digest_add(gl_st_digester *d, const void *p, size_t n,
                      void (*release)(void *ctx, const void *p, size_t n), void *ctx);
void gl_st_digest_end(const gl_st_digester *d, uint64_t out[2]);

/* One tensor of a safetensors file being written. */
typedef struct {
    const char *name;
    const char *dtype; /* "F32", "F16", "BF16" or "I8" */
    int ndim;
    int64_t shape[GL_ST_MAX_DIMS];
    const void *data; /* its little-endian bytes, or NULL: gl_st_write asks write_data for them */
} gl_st_out;

/* Writes path atomically as the format specifies: an 8-byte little-endian header length, the JSON
 * header (metadata, when non-NULL, as "__metadata__", then the tensors in order, their data
 * offsets in the same order), spaces up to a multiple of 8, then each tensor's bytes: t[i].data,
 * or what write_data(ctx, i, fp) writes (it returns 0 on success). Every write is checked; on
 * failure the previous file is kept and err names path. */
gl_status gl_st_write(const char *path, const gl_st_out *t, int n, const struct cJSON *metadata,
                      int (*write_data)(void *ctx, int i, FILE *fp), void *ctx, gl_error *err);

/* Widens n F16 or BF16 values (little-endian, possibly unaligned) to float, exactly. */
void gl_st_widen(gl_st_dtype dtype, const void *src, size_t n, float *dst);

#endif
