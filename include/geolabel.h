/* geolabel.h: the public API of libgeolabel, the CLIP labelling toolkit.
 * Contexts are opaque; whoever calls a _load or _open function owns the result and frees it with the
 * matching *_free, which accepts NULL. Every fallible call returns a gl_status and fills gl_error. */
#ifndef GEOLABEL_H
#define GEOLABEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ errors */

typedef enum {
    GL_OK = 0,
    GL_ERR_ARG,         /* a caller or command-line argument is wrong */
    GL_ERR_IO,          /* a file is missing, unreadable or unwritable */
    GL_ERR_FORMAT,      /* a file's content is malformed, truncated or corrupt */
    GL_ERR_SHAPE,       /* sizes disagree with each other or with a config */
    GL_ERR_NOMEM,       /* an allocation failed */
    GL_ERR_NET,         /* a download failed or the network is unreachable */
    GL_ERR_UNSUPPORTED, /* well-formed input we deliberately refuse (e.g. a pickle global) */
    GL_ERR_LIMIT,       /* a size beyond sane limits (e.g. an image claiming 100000x100000) */
    GL_ERR_PARTIAL,     /* a batch run finished but some inputs failed */
    GL_ERR_INTERNAL
} gl_status;

/* One error record per call chain. The message is a single line that names the file and the
 * problem, e.g. "model.safetensors: tensor 'x' data_offsets [0,9) exceed the 8-byte payload". */
typedef struct {
    gl_status code;
    char msg[768];
} gl_error;

/* Sets err (when non-NULL) and returns code, so callers write `return gl_fail(err, ...)`. */
gl_status gl_fail(gl_error *err, gl_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes an existing message with context ("label: "), keeping the code. */
gl_status gl_error_prefix(gl_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void gl_error_clear(gl_error *err);
const char *gl_status_name(gl_status code);

/* ------------------------------------------------------------------ logging */

typedef enum { GL_LOG_QUIET = 0, GL_LOG_WARN = 1, GL_LOG_INFO = 2, GL_LOG_DEBUG = 3 } gl_log_level;
void gl_log_set_level(gl_log_level level);
gl_log_level gl_log_get_level(void);
void gl_log(gl_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A progress line on stderr, drawn only when stderr is a terminal: done/total, rate, ETA. */
typedef struct {
    const char *what; /* "tiles", "images", ... */
    long total;       /* 0 when unknown */
    long done;
    double start_s, last_draw_s;
    int enabled;
} gl_progress;
void gl_progress_begin(gl_progress *p, const char *what, long total);
void gl_progress_add(gl_progress *p, long n);
void gl_progress_end(gl_progress *p);
double gl_now_seconds(void);

/* ------------------------------------------------------------------ files and arrays */

/* Reads a whole file into a malloc'ed, NUL-terminated buffer (caller frees). Files larger than
 * max_bytes are refused before any allocation. */
gl_status gl_read_file(const char *path, size_t max_bytes, char **out, size_t *len, gl_error *err);

/* Atomic output: write to "<path>.tmp.<pid>", then rename over path on commit. An aborted or
 * crashed run leaves the previous file untouched. */
typedef struct {
    FILE *fp;
    char *path, *tmp_path;
} gl_atomic_file;
gl_status gl_atomic_open(gl_atomic_file *f, const char *path, gl_error *err);
gl_status gl_atomic_commit(gl_atomic_file *f, gl_error *err); /* fflush+fsync+rename, frees */
void gl_atomic_abort(gl_atomic_file *f);                      /* removes the temp file, frees */

/* .npy arrays (format 1.0/2.0, C order, little-endian). dtype is numpy's descr: "<f4", "<i4",
 * "|u1", "<i8", "<f8". Data is malloc'ed; gl_npy_free releases it. */
typedef struct {
    char dtype[8];
    int ndim;
    int64_t shape[8];
    size_t count;     /* product of shape */
    size_t item_size; /* bytes per element */
    void *data;
} gl_npy;
gl_status gl_npy_read(const char *path, gl_npy *out, gl_error *err);
void gl_npy_free(gl_npy *a);
/* Writes float32 data of the given shape atomically. */
gl_status gl_npy_write_f32(const char *path, const float *data, const int64_t *shape, int ndim,
                           gl_error *err);

/* base64 (RFC 4648, with padding) for the Geograph data set's float32 vectors. */
char *gl_base64_encode(const void *data, size_t len); /* malloc'ed, NUL-terminated */
/* Decodes into out (capacity out_cap). Returns GL_ERR_FORMAT on bad characters or padding. */
gl_status gl_base64_decode(const char *text, size_t text_len, unsigned char *out, size_t out_cap,
                           size_t *out_len, gl_error *err);

/* CSV: one field writer that quotes as RFC 4180 (and Python's csv module) expects. */
void gl_csv_write_field(FILE *fp, const char *s);

/* ------------------------------------------------------------------ BLAS and threads */

/* C[M,N] = alpha * A[M,K] * B[N,K]^T + beta * C: the layout of every nn.Linear weight. */
void gl_sgemm_nt(int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                 float beta, float *C, int ldc);
/* C[M,N] = alpha * A[M,K] * B[K,N] + beta * C. */
void gl_sgemm_nn(int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                 float beta, float *C, int ldc);
/* Threads BLAS may use; 0 keeps the current setting. */
void gl_blas_set_threads(int n);
/* Debian's OpenBLAS 0.3.21 runs generic kernels on CPUs it does not know (Zen 4) unless
 * OPENBLAS_CORETYPE is set before it loads. A program calls this first thing in main(); when the
 * variable is unset and the CPU has AVX-512 it re-executes itself with SKYLAKEX. */
void gl_blas_reexec_if_needed(char **argv);

/* ------------------------------------------------------------------ images */

/* An 8-bit RGB image, rows top to bottom, pixels interleaved [height][width][3]. */
typedef struct {
    int width, height;
    unsigned char *rgb; /* malloc'ed; gl_image_free releases it */
} gl_image;
void gl_image_free(gl_image *img);

/* Decodes any GDAL-readable picture (JPEG, PNG gray/RGBA/palette/16-bit, TIFF, WebP) and converts
 * to RGB the way PIL's convert('RGB') does: alpha dropped, gray replicated, palette expanded.
 * Refuses images whose header claims more than GL_IMAGE_MAX_PIXELS before decoding. */
#define GL_IMAGE_MAX_PIXELS (1LL << 28)
gl_status gl_image_load(const char *path, gl_image *out, gl_error *err);

/* ------------------------------------------------------------------ preprocessing */

/* CLIPImageProcessor settings, read from preprocessor_config.json (old and new forms). */
typedef struct {
    int resize_shortest_edge; /* 0: no resize */
    int crop_height, crop_width; /* 0: no crop */
    double rescale_factor;    /* 1/255 */
    float mean[3], std[3];
    int do_resize, do_center_crop, do_rescale, do_normalize, do_convert_rgb;
} gl_preproc_config;
gl_preproc_config gl_preproc_default_config(int image_size);
gl_status gl_preproc_config_load(const char *path, gl_preproc_config *cfg, gl_error *err);

/* PIL-identical Image.resize(BICUBIC) of 8-bit RGB, with antialiasing on downscale. */
gl_status gl_resize_bicubic(const unsigned char *src, int src_w, int src_h, unsigned char *dst,
                            int dst_w, int dst_h, gl_error *err);
/* The size shortest-edge resizing gives, rounded as the reference does. */
void gl_preproc_resized_size(const gl_preproc_config *cfg, int w, int h, int *out_w, int *out_h);
/* Full pipeline: resize, center crop, rescale, normalise, HWC->CHW. out is [3,crop_h,crop_w]. */
gl_status gl_preprocess(const gl_preproc_config *cfg, const gl_image *img, float *out,
                        gl_error *err);

/* ------------------------------------------------------------------ tokenizer */

#define GL_CLIP_CONTEXT 77
#define GL_CLIP_SOT 49406
#define GL_CLIP_EOT 49407
typedef struct gl_tokenizer gl_tokenizer;
gl_tokenizer *gl_tokenizer_load(const char *vocab_json_path, const char *merges_txt_path,
                                gl_error *err);
void gl_tokenizer_free(gl_tokenizer *tok);
/* ids gets [SOT, ..., EOT, 0...] (77 ids, truncated keeping EOT last). n_untruncated (optional)
 * is the length including SOT/EOT before truncation. */
gl_status gl_tokenizer_encode(gl_tokenizer *tok, const char *utf8, int32_t ids[GL_CLIP_CONTEXT],
                              int *n_untruncated, gl_error *err);

/* ------------------------------------------------------------------ CLIP model */

typedef struct gl_clip gl_clip;
typedef struct {
    int threads;   /* 0: all cores */
    int max_batch; /* images or texts per forward call; sizes the workspace */
} gl_clip_params;
gl_clip_params gl_clip_default_params(void);

/* Loads a Hugging Face CLIP folder (config.json, model.safetensors or sharded index,
 * vocab.json, merges.txt, preprocessor_config.json). F32 weights are mmap'ed in place; F16/BF16
 * are widened once. `dir_or_id` may also be ORG/NAME of a model pulled into the cache. */
gl_clip *gl_clip_load(const char *dir_or_id, const gl_clip_params *params, gl_error *err);
void gl_clip_free(gl_clip *clip);

int gl_clip_image_size(const gl_clip *clip);
int gl_clip_projection_dim(const gl_clip *clip);
float gl_clip_logit_scale(const gl_clip *clip); /* exp(logit_scale) */
const gl_preproc_config *gl_clip_preproc_config(const gl_clip *clip);
gl_tokenizer *gl_clip_tokenizer(gl_clip *clip);
/* A hex digest that changes when the weights change: a key for on-disk embedding caches. */
const char *gl_clip_model_hash(const gl_clip *clip);

/* pixels: [n,3,S,S] from gl_preprocess. embeds: [n,projection_dim], raw (not normalised), as
 * get_image_features. Any n is accepted; it is cut into max_batch chunks internally. */
gl_status gl_clip_encode_images(gl_clip *clip, const float *pixels, int n, float *embeds,
                                gl_error *err);
/* ids: [n,77]. embeds: [n,projection_dim], raw, as get_text_features. */
gl_status gl_clip_encode_tokens(gl_clip *clip, const int32_t *ids, int n, float *embeds,
                                gl_error *err);
/* Tokenizes and encodes n UTF-8 strings. */
gl_status gl_clip_encode_texts(gl_clip *clip, const char *const *texts, int n, float *embeds,
                               gl_error *err);

/* In-place L2 normalisation of n rows of length dim. */
void gl_l2_normalize_rows(float *x, int n, int dim);
/* In-place softmax over each row. */
void gl_softmax_rows(float *x, int n, int dim);

/* ------------------------------------------------------------------ CSV reading */

/* A streaming RFC 4180 reader (quotes, doubled quotes, CRLF, newlines inside quotes). With
 * has_header, the first row is kept as the header and gl_csv_column() looks names up in it. */
typedef struct gl_csv gl_csv;
gl_csv *gl_csv_open(const char *path, int has_header, gl_error *err);
void gl_csv_close(gl_csv *csv);
/* Reads the next row: returns 1 for a row, 0 at end of file, or -1 with err set. */
int gl_csv_next(gl_csv *csv, gl_error *err);
int gl_csv_field_count(const gl_csv *csv);
const char *gl_csv_field(const gl_csv *csv, int i); /* "" when i is out of range */
int gl_csv_column(const gl_csv *csv, const char *name); /* header index, or -1 */
long gl_csv_line(const gl_csv *csv);                    /* 1-based line of the current row */
const char *gl_csv_path(const gl_csv *csv);

/* ------------------------------------------------------------------ classes */

/* Reads a class list: one name per line, blank lines and '#' comments skipped, names trimmed.
 * Refuses an empty list and duplicates (naming the file and line). *names is malloc'ed; free
 * with gl_strings_free. */
gl_status gl_class_list_load(const char *path, char ***names, int *count, gl_error *err);
void gl_strings_free(char **strings, int count);

/* A class hierarchy: inner nodes are meta-classes, leaves are classes. The root has no name. */
typedef struct gl_class_node {
    char *name;
    struct gl_class_node *children; /* n_children nodes; NULL for a leaf */
    int n_children;
} gl_class_node;
/* Reads GVL's YAML (top-level keys are meta-classes, nested mappings, leaves are lists). */
gl_status gl_class_tree_load_yaml(const char *path, gl_class_node *root, gl_error *err);
/* Writes GVL's YAML form: block style, keys sorted, leaves as lists; atomically. */
gl_status gl_class_tree_write_yaml(const char *path, const gl_class_node *root, gl_error *err);
void gl_class_tree_free(gl_class_node *root); /* frees the children and names, not root itself */

/* ------------------------------------------------------------------ rasters (GDAL) */

/* Scenes of any size are read by windows, so memory stays bounded by the window. */
typedef struct gl_raster gl_raster;
typedef enum { GL_STRETCH_MINMAX = 0, GL_STRETCH_PERCENTILE, GL_STRETCH_NONE } gl_stretch_kind;
typedef struct {
    int bands[3];  /* 1-based band numbers; all 0: colour-interpretation RGB, else the first
                      three (a single band is replicated) */
    gl_stretch_kind stretch; /* how non-8-bit data maps to 0..255; MINMAX is GVL's global min/max */
    double percentile_low, percentile_high; /* for GL_STRETCH_PERCENTILE, e.g. 2 and 98 */
} gl_raster_params;
gl_raster_params gl_raster_default_params(void);

typedef struct {
    int width, height, band_count;
    int has_geotransform;
    double geotransform[6];  /* GDAL's: x = gt[0] + col*gt[1] + row*gt[2], y = gt[3] + ... */
    char crs_label[64];      /* "EPSG:32618", or the WKT's authority, or "" */
    int has_crs;
    int has_nodata;          /* the selected bands' nodata value applies */
    double nodata;
    int has_alpha;           /* an alpha band or mask marks invalid pixels */
} gl_raster_info;

gl_raster *gl_raster_open(const char *path, const gl_raster_params *params, gl_error *err);
void gl_raster_close(gl_raster *r);
const gl_raster_info *gl_raster_get_info(const gl_raster *r);
/* Reads the window at (x,y) of size w*h as 8-bit RGB [h][w][3] with the stretch applied; valid
 * (optional, [h][w]) gets 1 where a pixel holds data (not nodata, alpha > 0). */
gl_status gl_raster_read_rgb(gl_raster *r, int x, int y, int w, int h, unsigned char *rgb,
                             unsigned char *valid, gl_error *err);
/* Pixel (col,row), fractional allowed, to the raster's CRS through the geotransform. */
void gl_raster_pixel_to_crs(const gl_raster_info *info, double col, double row, double *x,
                            double *y);
/* Coordinates in the raster's CRS to WGS 84 longitude/latitude (traditional GIS order). */
gl_status gl_raster_crs_to_lonlat(gl_raster *r, double x, double y, double *lon, double *lat,
                                  gl_error *err);
const char *gl_raster_path(const gl_raster *r);

/* ------------------------------------------------------------------ tiling */

/* How a scene is cut. SPLIT: rows x cols patches of W//cols x H//rows in row-major order; by
 * default the last row and column absorb the remainder, with drop_remainder GVL's exact cut.
 * WINDOW: fixed tile x tile windows stepping by tile - overlap, the last ones clipped to the
 * scene, for scenes of any size. */
typedef enum { GL_TILING_SPLIT = 0, GL_TILING_WINDOW } gl_tiling_mode;
typedef struct {
    gl_tiling_mode mode;
    int rows, cols;     /* SPLIT */
    int drop_remainder; /* SPLIT */
    int tile, overlap;  /* WINDOW */
} gl_tiling;
typedef struct {
    int row, col;   /* position in the grid */
    int x, y, w, h; /* pixel window */
} gl_tile;
/* The number of tiles for a width x height scene; GL_ERR_ARG for an impossible tiling. */
gl_status gl_tiling_count(const gl_tiling *t, int width, int height, int *count, gl_error *err);
/* Tile `index` (row-major, 0 <= index < count). */
void gl_tiling_get(const gl_tiling *t, int width, int height, int index, gl_tile *out);

/* ------------------------------------------------------------------ hub (model cache) */

/* The cache root: $GEOLABEL_CACHE, else $XDG_CACHE_HOME/geolabel, else ~/.cache/geolabel. A
 * model ORG/NAME lives in <root>/models/ORG--NAME. */
gl_status gl_hub_cache_dir(char *out, size_t out_size, gl_error *err);
/* Downloads a model folder from the Hugging Face Hub ($HF_ENDPOINT, default
 * https://huggingface.co; $HF_TOKEN sent as a bearer token, never printed) into the cache:
 * config.json, weights (single or sharded safetensors), vocab.json, merges.txt,
 * preprocessor_config.json and tokenizer files when present. Resumable; sizes and sha256 checked
 * where the Hub lists them; files renamed into place only when complete. revision NULL: "main". */
gl_status gl_hub_pull(const char *repo_id, const char *revision, gl_error *err);
/* An existing directory is used as is; ORG/NAME maps to its cache folder if it was pulled,
 * otherwise a clear error suggesting `geolabel model pull ORG/NAME`. */
gl_status gl_model_resolve(const char *dir_or_id, char *out_dir, size_t out_size, gl_error *err);

/* Writes a Hub-layout CLIP folder with random weights (N(0, 0.02), LayerNorm weights 1) for
 * benchmarks. like: "vit-b-32", "vit-b-16", "vit-l-14", "vit-l-14-336"; dtype: "f32" or "f16". */
gl_status gl_clip_random_model(const char *like, const char *out_dir, uint64_t seed,
                               const char *dtype, gl_error *err);

/* @@ new public sections go above this line, one per subsystem, each headed like the others @@ */

#ifdef __cplusplus
}
#endif
#endif
