/* geolabel.h: the public API of libgeolabel, the CLIP labelling toolkit, and the only header a
 * program needs. One section per subsystem; internals live in private headers under src/.
 *
 * USAGE
 *
 *     #include "geolabel.h"
 *
 *     gl_error err = {0};
 *     gl_clip_params cp = gl_clip_default_params();
 *     gl_clip *clip = gl_clip_load("openai/clip-vit-base-patch32", &cp, &err);
 *     if (!clip) { fprintf(stderr, "%s\n", err.msg); return 1; }
 *
 *     const char *files[] = {"scene.jpg"};
 *     const char *classes[] = {"forest", "harbour", "farmland"};
 *     float *img = malloc(sizeof(float) * gl_clip_projection_dim(clip)), probs[3];
 *     gl_status s = gl_clip_encode_image_files(clip, files, 1, img, &err);
 *     if (!s) s = gl_classify_zeroshot(clip, img, 1, classes, 3, NULL, probs, &err);
 *     if (!s) printf("P(forest) = %.3f\n", probs[0]);  // softmax over the 3 classes
 *     else fprintf(stderr, "%s\n", err.msg);           // one line naming file and problem
 *     free(img);
 *     gl_clip_free(clip);                              // gl_*_free(NULL) is a no-op
 *
 * OBJECTS
 *
 *     T *gl_T_load(..., gl_error *err)   reads T from files (_open: a stream or dataset kept open
 *                                        and read incrementally; _new: built from other objects,
 *                                        which it borrows); NULL on failure, with err filled
 *     void gl_T_free(T *)                releases T and everything it owns; NULL is a no-op
 *     gl_T_params gl_T_default_params()  the defaults a params struct starts from
 *
 * The caller owns what a _load/_open/_new returns and frees it with the matching _free. Borrowed
 * arguments are stated ("borrows x": x must outlive the result). Callback data is always `ctx`,
 * passed back unchanged as the callback's first argument.
 *
 * FAILURE
 *
 * Every call that can fail returns a gl_status (or NULL for constructors) and fills the caller's
 * gl_error (err may be NULL) with a code and one line naming the file and the problem, e.g.
 * "model.safetensors: tensor 'x' data_offsets [0,9) exceed the 8-byte payload". A failed call
 * leaves no partial result behind: outputs are untouched (files are written atomically) and
 * nothing needs freeing. Untrusted sizes are checked before any allocation; corrupt, truncated or
 * hostile input is an error, never a crash. The library never prints (except the progress line
 * and gl_log, both on stderr) and never exits. Contexts are not thread-safe unless stated: use
 * one per thread.
 */
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
gl_status gl_error_prefix(gl_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void gl_error_clear(gl_error *err);         /* code GL_OK, empty message; NULL ok */
const char *gl_status_name(gl_status code); /* "GL_ERR_IO"...: a static string */

/* ------------------------------------------------------------------ logging */

/* The library's version, as `geolabel --version` prints it and run manifests record it. */
#define GL_VERSION "0.4.0"

typedef enum { GL_LOG_QUIET = 0, GL_LOG_WARN = 1, GL_LOG_INFO = 2, GL_LOG_DEBUG = 3 } gl_log_level;
/* The process-wide log level (GL_LOG_WARN by default); gl_log writes one line to stderr when
 * level is at most the current level. */
void gl_log_set_level(gl_log_level level);
gl_log_level gl_log_get_level(void);
void gl_log(gl_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Progress on stderr (silent at GL_LOG_QUIET): on a terminal a bar redrawn in place; otherwise
 * (a log file, a pipe, a batch job) one timestamped line every interval seconds,
 * "2026-11-24T13:05:00Z label: 1200/5000 tiles (24%), 38.1 tiles/s, ETA 00:01:40", and a last
 * line at the end when any was written. */
typedef struct gl_progress gl_progress;
/* Process-wide, like the log level: name starts each line (borrowed, a static string such as the
 * command; "geolabel" until set; NULL keeps it), interval_s the seconds between lines off a
 * terminal (10 until set; 0: a line at every update; negative keeps it). */
void gl_progress_configure(const char *name, double interval_s);
/* Starts a line counting `what` (borrowed; "images") up to total (0: unknown). Caller frees with
 * gl_progress_free; NULL when out of memory, which every progress call accepts. */
gl_progress *gl_progress_new(const char *what, long total);
void gl_progress_add(gl_progress *p, long n); /* counts n more done; redraws at most 5 times/s */
void gl_progress_free(gl_progress *p);        /* draws the final line and frees */
double gl_now_seconds(void);                  /* a monotonic clock, for durations */

/* ------------------------------------------------------------------ files and arrays */

/* Reads a whole file into a malloc'ed, NUL-terminated buffer (caller frees *out). Files larger
 * than max_bytes are refused (GL_ERR_LIMIT) before any allocation. */
gl_status gl_read_file(const char *path, size_t max_bytes, char **out, size_t *len, gl_error *err);

/* Shipped data (gazetteer, gallery, BPE vocabulary, meta-class names): $GEOLABEL_DATA, else the
 * data/ folder of the source tree the executable was built in (/proc/self/exe's ../data or
 * ../../data), else ../share/geolabel beside it, else /usr/share/geolabel. Writes DIR/rel to out.
 */
gl_status gl_data_path(const char *rel, char *out, size_t cap, gl_error *err);

/* mkdir -p: creates path and every missing parent (mode 0755); an existing folder is fine. */
gl_status gl_make_dirs(const char *path, gl_error *err);

/* The last segment of a path ("a/b/c.tif" -> "c.tif"), pointing into path; for a GDAL virtual
 * path (a URL) the search for '/' stops at its query or fragment. */
const char *gl_path_base_name(const char *path);
/* 1 when path ends with suffix, ignoring ASCII case (".TIF" counts as ".tif"). */
int gl_path_has_suffix(const char *path, const char *suffix);

/* Atomic output: write to "<path>.tmp.<pid>", then rename over path on commit. An aborted or
 * crashed run leaves the previous file untouched. */
typedef struct {
    FILE *fp;
    char *path, *tmp_path;
} gl_atomic_file;
gl_status gl_atomic_open(gl_atomic_file *f, const char *path, gl_error *err); /* f: caller's */
gl_status gl_atomic_commit(gl_atomic_file *f, gl_error *err); /* fflush+fsync+rename, frees */
void gl_atomic_abort(gl_atomic_file *f);                      /* removes the temp file, frees */

/* .npy arrays (format 1.0/2.0, C order, little-endian). dtype is numpy's descr: "<f4", "<i4",
 * "|u1", "<i8", "<f8". */
typedef struct {
    char dtype[8];
    int ndim;
    int64_t shape[8];
    size_t count;     /* product of shape */
    size_t item_size; /* bytes per element */
    void *data;
} gl_npy;
/* Reads an array; caller frees with gl_npy_free (which frees data too). NULL on a bad file. */
gl_npy *gl_npy_load(const char *path, gl_error *err);
void gl_npy_free(gl_npy *a);
/* Writes float32 data of the given shape atomically; the previous file survives a failure. */
gl_status gl_npy_write_f32(const char *path, const float *data, const int64_t *shape, int ndim,
                           gl_error *err);

/* base64 (RFC 4648, with padding) for the Geograph data set's float32 vectors. */
char *gl_base64_encode(const void *data, size_t len); /* caller frees; NULL when out of memory */
/* Decodes into out (capacity out_cap). Returns GL_ERR_FORMAT on bad characters or padding. */
gl_status gl_base64_decode(const char *text, size_t text_len, unsigned char *out, size_t out_cap,
                           size_t *out_len, gl_error *err);

/* CSV: one field writer that quotes as RFC 4180 (and Python's csv module) expects. Write errors
 * show in ferror(fp), checked when the file is committed. */
void gl_csv_write_field(FILE *fp, const char *s);

/* ------------------------------------------------------------------ threads */

/* Threads BLAS may use outside a CLIP encode call (heads, GeoCLIP); 0 keeps the current setting.
 * Process-wide, as BLAS's own setting is. */
void gl_blas_set_threads(int n);

/* ------------------------------------------------------------------ images */

/* An 8-bit RGB image, rows top to bottom, pixels interleaved [height][width][3]. */
typedef struct {
    int width, height;
    unsigned char *rgb;   /* [height][width][3] */
    unsigned char *alpha; /* [height][width] for RGBA/LA pictures, else NULL; freed with rgb */
} gl_image;

/* Decodes any GDAL-readable picture (JPEG, PNG gray/RGBA/palette/16-bit, TIFF, WebP) and converts
 * to RGB the way PIL's convert('RGB') does: alpha dropped, gray replicated, palette expanded.
 * Refuses images whose header claims more than GL_IMAGE_MAX_PIXELS before decoding (GL_ERR_LIMIT),
 * and images narrower or shorter than GL_IMAGE_MIN_SIDE (GL_ERR_FORMAT: a 1x1 picture holds
 * nothing to label, and HF's processor misreads a height of 1 as a channel axis). */
#define GL_IMAGE_MAX_PIXELS (1LL << 28)
#define GL_IMAGE_MIN_SIDE 2
/* Caller frees with gl_image_free (pixels and struct); NULL on failure. A gl_image built by the
 * caller around its own pixels (a tile) is never passed to gl_image_free. */
gl_image *gl_image_load(const char *path, gl_error *err);
void gl_image_free(gl_image *img);

/* ------------------------------------------------------------------ preprocessing */

/* Whose image transform a model was trained with. They differ in two places:
 *  - the centre crop's offset: HF's CLIPImageProcessor floors (h-S)//2; open_clip's torchvision
 *    CenterCrop takes int(round((h-S)/2.0)), Python's round half to even (55.5 -> 56, 54.5 -> 54);
 *  - the order: HF converts to RGB first; open_clip resizes and crops the picture in its own mode
 *    and converts after, so RGBA and LA pictures are resampled premultiplied (Pillow's RGBa) and
 *    their alpha dropped only then.
 * A converted open_clip model keeps its family as "geolabel_family": "open_clip" in
 * preprocessor_config.json, which gl_preproc_config_read reads back ("hf" is the default). */
typedef enum { GL_PREPROC_HF = 0, GL_PREPROC_OPEN_CLIP } gl_preproc_family;

/* CLIPImageProcessor settings, read from preprocessor_config.json (old and new forms). */
typedef struct {
    int resize_shortest_edge;        /* 0: no resize */
    int crop_height, crop_width;     /* 0: no crop */
    int resize_height, resize_width; /* size {height,width}: an exact resize instead (0: unused) */
    double rescale_factor;           /* 1/255 */
    float mean[3], std[3];           /* what normalisation uses: the values below as floats */
    double mean_given[3], std_given[3]; /* as the file (or the default) gives them, for writing
                                         * it back: 0.48145466 as a float prints 0.48145467 */
    int do_resize, do_center_crop, do_rescale, do_normalize, do_convert_rgb;
    gl_preproc_family family;
} gl_preproc_config;
gl_preproc_config gl_preproc_default_config(int image_size);
/* Applies the file's keys to *cfg; keys the file lacks keep cfg's values (start from
 * gl_preproc_default_config). Only "resample": 3 (bicubic) is accepted. On failure *cfg may hold
 * some of the file's keys: start again from the defaults. */
gl_status gl_preproc_config_read(const char *path, gl_preproc_config *cfg, gl_error *err);
/* cfg as preprocessor_config.json in CLIPImageProcessor's current form (transformers reads it; so
 * does gl_preproc_config_read, to the same cfg), with "geolabel_family" for an open_clip model's
 * preprocessing; mean and std as given (mean_given, std_given). Written atomically. */
gl_status gl_preproc_config_write(const gl_preproc_config *cfg, const char *path, gl_error *err);
/* Sets mean and std (and their given values) from doubles. */
void gl_preproc_set_norm(gl_preproc_config *cfg, const double mean[3], const double std[3]);

/* PIL-identical Image.resize(BICUBIC) of 8-bit RGB, with antialiasing on downscale; dst is the
 * caller's [dst_h][dst_w][3]. Fails only on impossible sizes or out of memory. */
gl_status gl_resize_bicubic(const unsigned char *src, int src_w, int src_h, unsigned char *dst,
                            int dst_w, int dst_h, gl_error *err);
/* The size shortest-edge resizing gives, rounded as the reference does. */
void gl_preproc_resized_size(const gl_preproc_config *cfg, int w, int h, int *out_w, int *out_h);
/* Full pipeline: resize, center crop, rescale, normalise, HWC->CHW. out is [3,crop_h,crop_w]
 * ([3,resized_h,resized_w] without a crop). Any image of at least 1x1 (tiles too); only the
 * pixels the crop keeps are resampled. Thread-safe. */
gl_status gl_preprocess(const gl_preproc_config *cfg, const gl_image *img, float *out,
                        gl_error *err);

/* ------------------------------------------------------------------ tokenizer */

#define GL_CLIP_CONTEXT 77
#define GL_CLIP_SOT 49406
#define GL_CLIP_EOT 49407
typedef struct gl_tokenizer gl_tokenizer;
/* CLIP's byte-level BPE from vocab.json and merges.txt; caller frees; NULL on a bad file. */
gl_tokenizer *gl_tokenizer_load(const char *vocab_json_path, const char *merges_txt_path,
                                gl_error *err);
void gl_tokenizer_free(gl_tokenizer *tok);
/* ids gets [SOT, ..., EOT, 0...] (77 ids, truncated keeping EOT last). n_untruncated (optional)
 * is the length including SOT/EOT before truncation. */
gl_status gl_tokenizer_encode(gl_tokenizer *tok, const char *utf8, int32_t ids[GL_CLIP_CONTEXT],
                              int *n_untruncated, gl_error *err);
/* The same for text of len bytes that may hold NUL characters (ftfy drops them). */
gl_status gl_tokenizer_encode_len(gl_tokenizer *tok, const char *utf8, size_t len,
                                  int32_t ids[GL_CLIP_CONTEXT], int *n_untruncated, gl_error *err);

/* ------------------------------------------------------------------ CLIP model */

typedef struct gl_clip gl_clip;
/* What an eval callback sees (as whisper.cpp's and llama.cpp's do): one tower's residual stream
 * after its embeddings (layer 0: HF's hidden_states[0], after pre_layrnorm for vision) or after
 * encoder layer `layer` (hidden_states[layer]), for one forward chunk of n_seqs inputs. */
typedef struct {
    const char *tower;       /* "vision" or "text" */
    int layer;               /* 0 .. layers */
    const float *hidden;     /* [rows, d]; valid only during the callback */
    int rows, d;             /* rows: the chunk's inputs packed row after row */
    int n_seqs;              /* inputs in the chunk (<= max_batch) */
    const int *offset, *len; /* [n_seqs]: input s is rows [offset[s], offset[s] + len[s]); a text
                                stops at its pooled (EOT) position */
} gl_clip_layer_state;
/* The encoder layers' arithmetic. F32 is exact to the reference; BF16 needs AVX512-BF16 (or AMX),
 * INT8 (dynamic per-row uint8 activations, per-channel int8 weights; image tower only, text stays
 * F32) AVX512-VNNI (or AMX); both keep LayerNorm, softmax, the patch embedding and the
 * projections in float. */
typedef enum { GL_DTYPE_F32 = 0, GL_DTYPE_BF16, GL_DTYPE_INT8 } gl_dtype;
const char *gl_dtype_name(gl_dtype dtype); /* "f32", "bf16", "int8" */
typedef struct {
    int threads;   /* 0: all cores */
    int max_batch; /* images or texts per forward call; sizes the workspace */
    const char
        *arch; /* --arch: open_clip architecture NAME or CONFIG.json; NULL: the model's own */
    /* Called during every forward with each layer's output (may be NULL): inspection for tests
     * and debugging, at no cost when NULL. ctx is passed back unchanged. */
    void (*on_layer)(void *ctx, const gl_clip_layer_state *state);
    void *ctx;
    gl_dtype dtype; /* weights packed at load for this dtype */
} gl_clip_params;
gl_clip_params gl_clip_default_params(void);

/* Loads a CLIP from any source (clip/sources.c): a Hugging Face CLIP folder (config.json,
 * model.safetensors, pytorch_model.bin or a sharded index of either, vocab.json, merges.txt,
 * preprocessor_config.json), an open_clip folder (open_clip_config.json +
 * open_clip_model.safetensors or open_clip_pytorch_model.bin), a single checkpoint file
 * (.pt/.pth/.bin/.safetensors: a bare state dict or an open_clip training checkpoint) with
 * params->arch, ORG/NAME of a model pulled into the cache, or ORG/NAME/FILE pulled with --file.
 * Weights whose layout allows are mmap'ed in place; F16/BF16 are widened once. Preprocessing,
 * activation and text pooling follow the model's family (see gl_preproc_family). A context owns one
 * workspace and one thread pool: it runs one encode call at a time. During an encode call BLAS runs
 * one thread per call (the pool already splits every GEMM); the caller's BLAS thread count is
 * restored on return. */
/* Caller frees with gl_clip_free; NULL (err filled) for a missing, malformed or inconsistent
 * folder. params NULL: gl_clip_default_params(). */
gl_clip *gl_clip_load(const char *dir_or_id, const gl_clip_params *params, gl_error *err);
void gl_clip_free(gl_clip *clip);

int gl_clip_image_size(const gl_clip *clip);
int gl_clip_projection_dim(const gl_clip *clip);
float gl_clip_logit_scale(const gl_clip *clip);                       /* exp(logit_scale) */
const gl_preproc_config *gl_clip_preproc_config(const gl_clip *clip); /* owned by clip */
gl_tokenizer *gl_clip_tokenizer(gl_clip *clip);                       /* owned by clip */
/* The CPU level the context's kernels run at ("avx2", "avx512", "amx"), and the dtype one tower's
 * encoder layers run in (INT8 contexts keep the text tower in F32). */
const char *gl_clip_isa(const gl_clip *clip);
gl_dtype gl_clip_dtype(const gl_clip *clip, int image_tower);
int gl_clip_threads(const gl_clip *clip); /* the pool's thread count */
/* Times one tower alone, as llama-bench does: a warm-up forward, then runs timed forwards of
 * batch fixed synthetic inputs (images of noise; texts of tokens ids, SOT .. EOT) with no
 * decoding or preprocessing. ms_per_item[runs] (caller-owned) gets each run's wall milliseconds
 * per image or text. batch must be <= the context's max_batch; tokens 2..77. */
gl_status gl_clip_bench(gl_clip *clip, int image_tower, int batch, int tokens, int runs,
                        double *ms_per_item, gl_error *err);
/* A hex digest that changes when the weights change: a key for on-disk embedding caches. Owned
 * by clip; the first call reads every weight byte once. */
const char *gl_clip_model_hash(gl_clip *clip);

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
/* Decodes, preprocesses and encodes n image files, max_batch at a time. embeds: [n,projection_dim]
 * raw. The first file that fails ends the call with its error (the message names the file). */
gl_status gl_clip_encode_image_files(gl_clip *clip, const char *const *paths, int n, float *embeds,
                                     gl_error *err);
/* Writes n embeddings by path suffix: .npy a float32 [n,dim] array; .jsonl one
 * {"id":..., "embeddings": base64 of little-endian float32} per line. Atomic: on failure the
 * previous file is untouched. */
gl_status gl_embeddings_write(const char *path, const char *const *ids, const float *embeds, int n,
                              int dim, gl_error *err);

/* ------------------------------------------------------------------ scoring */

/* The one scoring stage (src/label/score.c) every path uses: classify, label, cluster, locate and
 * GeoCLIP retrieval. */

/* In-place L2 normalisation of n rows of length dim (a zero row stays zero). */
void gl_l2_normalize_rows(float *x, int n, int dim);
/* In-place softmax over each row (double sums, so results do not depend on batching). */
void gl_softmax_rows(float *x, int n, int dim);

/* A prompt: tmpl with every occurrence of slot ("{}", "{country}") replaced by name. The caller
 * frees the result; NULL when out of memory. */
char *gl_prompt_fill(const char *tmpl, const char *slot, const char *name);

/* Indices of the k largest of x[0..n) into idx (k of them), best first, ties to the lower index;
 * returns min(k, n). One pass, O(n k): for small k over long rows. */
int gl_top_k(const float *x, int n, int k, int *idx);

/* CLIP's logits_per_image and their softmax for unit rows a [n, dim] and b [m, dim]:
 * logits [n, m] (the caller's scratch) = scale * a_i . b_j, scale being exp(logit_scale).
 * top_k 0: probs [n, m] = the softmax of each logits row (probs may be logits itself).
 * top_k k: idx [n, k] each row's k best j, best first, and probs [n, k] their softmax
 *          probabilities over the whole row, with no softmax of size m written (a GeoCLIP gallery
 *          of 100K locations). GL_ERR_ARG for sizes out of range or k > m. */
gl_status gl_scores_from_embeddings(const float *a, int n, const float *b, int m, int dim,
                                    float scale, int top_k, float *logits, float *probs, int *idx,
                                    gl_error *err);

/* Whole-image zero-shot (`geolabel classify`): probs [n,n_classes] (the caller's) = softmax over
 * classes of exp(logit_scale) * cos(image, text(template with "{}" replaced by the class name)).
 * template NULL: "a photo of {}."; one without "{}" is GL_ERR_ARG. */
gl_status gl_classify_zeroshot(gl_clip *clip, const float *image_embeds, int n,
                               const char *const *classes, int n_classes, const char *template,
                               float *probs, gl_error *err);
/* CSV "filename,label,score,top_k": the best class and its probability, then the top_k best as
 * "label:prob;label:prob" (probabilities with 6 decimals). Write errors show in ferror(fp). */
void gl_classify_write_csv(FILE *fp, const char *const *filenames, const float *probs, int n,
                           const char *const *classes, int n_classes, int top_k);

/* ------------------------------------------------------------------ CSV reading */

/* A streaming RFC 4180 reader (quotes, doubled quotes, CRLF, newlines inside quotes). With
 * has_header, the first row is kept as the header and gl_csv_column() looks names up in it. */
typedef struct gl_csv gl_csv;
/* Caller frees with gl_csv_free (which closes the file); NULL when the file cannot be opened or
 * (has_header) its first row cannot be read. */
gl_csv *gl_csv_open(const char *path, int has_header, gl_error *err);
void gl_csv_free(gl_csv *csv);
/* Reads the next row: returns 1 for a row, 0 at end of file, or -1 with err set. */
int gl_csv_next(gl_csv *csv, gl_error *err);
int gl_csv_field_count(const gl_csv *csv);
const char *gl_csv_field(const gl_csv *csv, int i);     /* "" when i is out of range */
int gl_csv_column(const gl_csv *csv, const char *name); /* header index, or -1 */
long gl_csv_line(const gl_csv *csv);                    /* 1-based line of the current row */
const char *gl_csv_path(const gl_csv *csv);             /* owned by csv */

/* ------------------------------------------------------------------ classes */

/* Reads a class list: one name per line, blank lines and '#' comments skipped, names trimmed.
 * Refuses an empty list and duplicates (naming the file and line). The caller frees *names with
 * gl_strings_free; on failure nothing is allocated. */
gl_status gl_class_list_read(const char *path, char ***names, int *count, gl_error *err);
void gl_strings_free(char **strings, int count); /* frees each string and the array; NULL ok */

/* A class hierarchy: inner nodes are meta-classes, leaves are classes. The root has no name. */
typedef struct gl_class_node {
    char *name;
    struct gl_class_node *children; /* n_children nodes; NULL for a leaf */
    int n_children;
} gl_class_node;
/* Reads GVL's YAML (top-level keys are meta-classes, nested mappings, leaves are lists). The
 * caller frees the root with gl_class_tree_free; NULL on a bad file. */
gl_class_node *gl_class_tree_load(const char *path, gl_error *err);
/* Writes GVL's YAML form: block style, keys sorted, leaves as lists; atomically. */
gl_status gl_class_tree_write_yaml(const char *path, const gl_class_node *root, gl_error *err);
/* Frees a tree from gl_class_tree_load or gl_cluster_*: every node, every name, and root. */
void gl_class_tree_free(gl_class_node *root);

/* ------------------------------------------------------------------ rasters (GDAL) */

/* Scenes of any size are read by windows, so memory stays bounded by the window. A gl_raster
 * wraps one GDAL dataset: use it from one thread at a time (open one per thread otherwise). */
typedef struct gl_raster gl_raster;
typedef enum { GL_STRETCH_MINMAX = 0, GL_STRETCH_PERCENTILE, GL_STRETCH_NONE } gl_stretch_kind;
typedef struct {
    int bands[3]; /* 1-based band numbers; all 0: colour-interpretation RGB, else the first
                     three (a single band is replicated) */
    gl_stretch_kind stretch; /* how non-8-bit data maps to 0..255; MINMAX is GVL's global min/max */
    double percentile_low, percentile_high; /* for GL_STRETCH_PERCENTILE, e.g. 2 and 98 */
} gl_raster_params;
gl_raster_params gl_raster_default_params(void);

typedef struct {
    int width, height, band_count;
    int has_geotransform;
    double geotransform[6]; /* GDAL's: x = gt[0] + col*gt[1] + row*gt[2], y = gt[3] + ... */
    char crs_label[64];     /* "EPSG:32618", or the WKT's authority, or "" */
    int has_crs;
    /* The CRS itself as one-line WKT2 (owned by the raster), NULL without one: what outputs
     * build their layers from, as a label cannot name a CRS without an authority code. */
    const char *crs_wkt;
    int has_nodata; /* the selected bands' nodata value applies */
    double nodata;
    int has_alpha; /* an alpha band or mask marks invalid pixels */
} gl_raster_info;

/* Caller frees with gl_raster_free (which closes the dataset); NULL when GDAL cannot open it or
 * the bands asked for do not exist. params NULL: gl_raster_default_params(). */
gl_raster *gl_raster_open(const char *path, const gl_raster_params *params, gl_error *err);
void gl_raster_free(gl_raster *r);
const gl_raster_info *gl_raster_get_info(const gl_raster *r); /* owned by r */
/* Reads the window at (x,y) of size w*h as 8-bit RGB [h][w][3] with the stretch applied; valid
 * (optional, [h][w]) gets 1 where a pixel holds data (not nodata, alpha > 0). */
gl_status gl_raster_read_rgb(gl_raster *r, int x, int y, int w, int h, unsigned char *rgb,
                             unsigned char *valid, gl_error *err);
/* The same window at reduced resolution, out_w x out_h (at most w x h): GDAL's resampled read
 * with averaging (nearest for palette indices), from the file's overviews when it has them (GDAL's
 * choice: the coarsest at most 1.2 times coarser than asked), else averaged from full resolution.
 * So memory and bytes read follow the output, not the window. Nodata and masked pixels are left out
 * of each average; valid gets 1 where any pixel under an output pixel holds data. The stretch
 * applies to the averaged values. out_w = w, out_h = h is gl_raster_read_rgb. */
gl_status gl_raster_read_rgb_scaled(gl_raster *r, int x, int y, int w, int h, int out_w, int out_h,
                                    unsigned char *rgb, unsigned char *valid, gl_error *err);
/* Pixel (col,row), fractional allowed, to the raster's CRS through the geotransform. */
void gl_raster_pixel_to_crs(const gl_raster_info *info, double col, double row, double *x,
                            double *y);
/* Coordinates in the raster's CRS to WGS 84 longitude/latitude (traditional GIS order). */
gl_status gl_raster_crs_to_lonlat(gl_raster *r, double x, double y, double *lon, double *lat,
                                  gl_error *err);
const char *gl_raster_path(const gl_raster *r); /* owned by r */
/* 1 for a path GDAL resolves itself (/vsi*, URLs with "://"): gl_raster_open passes it through. */
int gl_path_is_gdal_virtual(const char *path);
/* The input range each channel's stretch maps to 0..255 (MINMAX: GVL's global min/max over the
 * selected bands, nodata included; PERCENTILE: per band; NONE: 0..255). Computed by a streaming
 * pass on first use, then kept. */
gl_status gl_raster_stretch_range(gl_raster *r, double lo[3], double hi[3], gl_error *err);

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
/* The one default tiling of every command that cuts scenes (label, truth, and so eval's match):
 * GVL's own default, --split_height_by 1 --split_width_by 1, one tile per scene. */
gl_tiling gl_tiling_default(void);
/* The number of tiles for a width x height scene; GL_ERR_ARG for an impossible tiling. */
gl_status gl_tiling_count(const gl_tiling *t, int width, int height, int *count, gl_error *err);
/* Tile `index` (row-major, 0 <= index < count). */
void gl_tiling_get(const gl_tiling *t, int width, int height, int index, gl_tile *out);
/* The size a w x h tile is read at for a model whose input is `side` px square (the read rule,
 * README "Large tiles"): at full resolution while its shorter side is at most
 * GL_TILE_EXACT_SIDES * side; larger tiles at reduced resolution (gl_raster_read_rgb_scaled) with
 * that shorter side, the longer one in proportion (rounded half up), raised when needed so the
 * longer side reaches min_long (a vision-LLM patch's size; 0: none) but never above full size; and
 * never more than GL_TILE_READ_MAX_PIXELS pixels, whatever the shape. */
#define GL_TILE_EXACT_SIDES 4
#define GL_TILE_READ_MAX_PIXELS (1L << 22)
void gl_tile_read_size(int w, int h, int side, int min_long, int *read_w, int *read_h);

/* ------------------------------------------------------------------ hub (model cache) */

/* The cache root: $GEOLABEL_CACHE, else $XDG_CACHE_HOME/geolabel, else ~/.cache/geolabel. A
 * model ORG/NAME lives in <root>/models/ORG--NAME. */
gl_status gl_hub_cache_dir(char *out, size_t out_size, gl_error *err);
typedef struct {
    const char *revision; /* branch, tag, commit or refs/pr/N (URL-encoded as one segment) */
    const char *file; /* a single checkpoint (e.g. "ckpt/RS5M_ViT-B-32.pt") instead of a folder */
    const char *arch; /* with file: open_clip NAME or CONFIG.json, kept as FILE.arch.json */
} gl_pull_params;
gl_pull_params gl_pull_default_params(void);
/* Downloads a model from the Hugging Face Hub ($HF_ENDPOINT, default https://huggingface.co;
 * $HF_TOKEN sent as a bearer token, never printed) into the cache. A folder pull takes the
 * config, vocab.json, merges.txt, preprocessor_config.json and tokenizer files when present, and
 * the weights: model.safetensors, else pytorch_model.bin, each whole or sharded (index first);
 * or an open_clip repository's open_clip_config.json with its open_clip_model.safetensors or
 * open_clip_pytorch_model.bin. With p->file it fetches that one file to <cache folder>/FILE,
 * which --model ORG/NAME/FILE then names. Resumable; sizes and sha256 (or git blob ids) checked
 * against the Hub's listing; files renamed into place only when complete. Writes the local folder
 * (or file) to out. p NULL: gl_pull_default_params(). */
gl_status gl_hub_pull(const char *repo_id, const gl_pull_params *p, char *out, size_t out_size,
                      gl_error *err);
/* An existing directory is used as is; ORG/NAME maps to its cache folder if it was pulled,
 * otherwise a clear error suggesting `geolabel model pull ORG/NAME`. */
gl_status gl_model_resolve(const char *dir_or_id, char *out_dir, size_t out_size, gl_error *err);
/* The sha256 of a file's bytes as 64 hex digits and a NUL, as `sha256sum` prints it. */
gl_status gl_file_sha256(const char *path, char hex[65], gl_error *err);

/* ------------------------------------------------------------------ model sources */

/* Every command that takes --model takes the forms gl_clip_load lists, plus --arch; these read
 * them the same way (clip/sources.c). */

/* The tokenizer of a model (its vocab.json and merges.txt, or the shipped OpenAI BPE for
 * open_clip models), without reading the weights. Free with gl_tokenizer_free. */
gl_tokenizer *gl_model_tokenizer_load(const char *model, const char *arch, gl_error *err);

/* What `geolabel model info` reports. Every string is owned by the info. */
typedef struct {
    const char *source;    /* "hf-safetensors", "hf-pytorch-bin", "open_clip", "checkpoint" */
    const char *family;    /* whose conventions apply: "hf" or "open_clip" */
    const char *key_style; /* tensor names in the file: "hf" or "open_clip" */
    char *path;            /* the folder or file the spec named */
    char *config;          /* the file the architecture came from */
    char *arch;            /* open_clip architecture name, or NULL */
    const char *dtype;     /* weights as stored: "F32", "F16", "BF16", "F64" or "mixed" */
    long long params;      /* elements of every weight the model uses */
    int embed_dim;
    struct {
        int image_size, patch_size, width, layers, heads, mlp;
        const char *act; /* "quick_gelu", "gelu" (exact, erf) or "gelu_tanh" */
    } vision;
    struct {
        int context, vocab, width, layers, heads, mlp;
        const char *act;
        int pool_argmax; /* 1: pooled at argmax(input_ids); 0: at the first eos_token_id */
        int eos_token_id;
    } text;
    float logit_scale; /* exp(logit_scale) */
    gl_preproc_config preproc;
    int n_files;
    char **files;          /* weight files (every shard) */
    long long *file_bytes; /* their sizes */
    long long total_bytes;
} gl_model_info;
gl_model_info *gl_model_info_load(const char *model, const char *arch, gl_error *err);
void gl_model_info_free(gl_model_info *info);

/* Writes any model gl_clip_load opens as a Hugging Face CLIP folder in out_dir (created when
 * missing): config.json, model.safetensors (F32, HF CLIPModel names), vocab.json, merges.txt and
 * preprocessor_config.json, each written atomically. transformers reads the result as the same
 * model: open_clip's exact GELU is "hidden_act": "gelu" and its argmax pooling is
 * "eos_token_id": 2, transformers' own keys. open_clip's image transform has no HF key, so it is
 * kept as "geolabel_family": "open_clip" in preprocessor_config.json (gl_preproc_family), which
 * our loader reads back; other tools ignore it and crop as HF does. */
gl_status gl_model_convert(const char *model, const char *arch, const char *out_dir, gl_error *err);
/* Quantises an HF folder's image-tower linear weights and patch embedding to int8 once (per
 * output channel, as gl_clip_load with GL_DTYPE_INT8 does at load) and stores them as
 * dir/int8.safetensors (I8 "NAME" and F32 "NAME.scale"); a later load with GL_DTYPE_INT8 packs
 * them as stored, with the same results, and other loads and tools ignore the file. */
gl_status gl_model_quantize_int8(const char *dir, gl_error *err);

/* Writes a Hub-layout CLIP folder with random weights (N(0, 0.02), LayerNorm weights 1) for
 * benchmarks. like: "vit-b-32", "vit-b-16", "vit-l-14", "vit-l-14-336"; dtype: "f32" or "f16". */
gl_status gl_clip_random_model(const char *like, const char *out_dir, uint64_t seed,
                               const char *dtype, gl_error *err);

/* ------------------------------------------------------------------ geolocation */

/* Great-circle distance in km by the haversine formula on a sphere of GL_EARTH_RADIUS_KM. */
#define GL_EARTH_RADIUS_KM 6371.0
double gl_haversine_km(double lat1, double lon1, double lat2, double lon2);

/* Embedding caches: ROOT/embeddings, ROOT being $GEOLABEL_CACHE, else $XDG_CACHE_HOME/geolabel,
 * else ~/.cache/geolabel (the hub's root too); created when missing. */
gl_status gl_geo_cache_dir(char *out, size_t cap, gl_error *err);

/* The gazetteer: countries.csv (iso2,iso3,name,lat,lon) and cities.csv (name,iso2,lat,lon and an
 * optional population) in one folder. Each country keeps at most GL_GEO_MAX_CITIES cities, the
 * most populous first; cities[] is ordered by country so a country's cities are contiguous. */
#define GL_GEO_MAX_CITIES 30
typedef struct {
    char iso2[3], iso3[4];
    char *name;
    double lat, lon;          /* the country's point (GeoNames: its capital) */
    int first_city, n_cities; /* cities[first_city .. first_city + n_cities) */
} gl_geo_country;
typedef struct {
    char *name;
    int country; /* index into countries */
    double lat, lon;
    long long population; /* -1 when the file has no population column */
} gl_geo_city;
typedef struct {
    gl_geo_country *countries;
    int n_countries;
    gl_geo_city *cities;
    int n_cities;
    char hash[17]; /* hex FNV-1a over both files' bytes: the embedding-cache key */
} gl_gazetteer;
/* dir NULL: the shipped data/gazetteer. Missing columns, bad coordinates, unknown iso2 codes and
 * duplicate countries fail (NULL) naming the file and line. Caller frees with gl_gazetteer_free.
 */
gl_gazetteer *gl_gazetteer_load(const char *dir, gl_error *err);
void gl_gazetteer_free(gl_gazetteer *gz);
int gl_gazetteer_find_country(const gl_gazetteer *gz, const char *iso2); /* index or -1 */

/* One guess for one image. Fields that do not apply are -1 (indices) or NAN (probabilities). */
typedef struct {
    double lat, lon;
    int country, city;  /* gazetteer indices; city -1: the country's point */
    int gallery_row;    /* GeoCLIP: 0-based data row of the gallery */
    float country_prob; /* P(country) */
    float city_prob;    /* P(city | country) */
    float score;        /* the ranking score: product of the above, or GeoCLIP's P */
} gl_geo_guess;

/* Zero-shot locate, StreetCLIP's procedure: a softmax over countries, then over the cities of
 * the chosen country (or of the top_countries best, scored by P(country) * P(city | country)). */
typedef enum { GL_GEO_LEVEL_CITY = 0, GL_GEO_LEVEL_COUNTRY } gl_geo_level;
typedef struct {
    const char *country_template; /* "{country}" is replaced by the country's name */
    const char *city_template;    /* "{city}" is replaced by the city's name */
    int top_countries;            /* 1: commit to the best country */
    const char *countries;        /* "FR,DE": restrict the search; NULL: every country */
    gl_geo_level level;
    int top_k;             /* guesses per image */
    const char *cache_dir; /* NULL: gl_geo_cache_dir(); "": no cache */
} gl_locate_params;
gl_locate_params gl_locate_default_params(void);

/* Work done for a locator or a GeoCLIP index: prompts (or gallery locations) encoded now, and
 * those read from the on-disk cache instead. */
typedef struct {
    long encoded;
    long cached;
} gl_geo_cache_stats;

typedef struct gl_locator gl_locator;
/* Borrows clip and gz, which must outlive the locator. Country prompts are embedded (or read
 * from the cache) here; city prompts on first use, then cached. */
gl_locator *gl_locator_new(gl_clip *clip, const gl_gazetteer *gz, const gl_locate_params *p,
                           gl_error *err);
void gl_locator_free(gl_locator *loc);
/* image_embeds: [n, projection_dim] raw get_image_features rows. out: [n, top_k] guesses, best
 * first; n_out[i] (<= top_k) says how many image i has. */
gl_status gl_locator_run(gl_locator *loc, const float *image_embeds, int n, gl_geo_guess *out,
                         int *n_out, gl_error *err);
gl_geo_cache_stats gl_locator_stats(const gl_locator *loc);

/* GeoCLIP (VicenteVivan/geo-clip): the location encoder, the image MLP and the logit scale, read
 * from the released .pth files or safetensors conversions of them. */
#define GL_GEOCLIP_DIM 512
#define GL_GEOCLIP_CLIP_DIM 768
typedef struct gl_geoclip gl_geoclip;
/* Any path may end in .pth or .safetensors. */
gl_geoclip *gl_geoclip_load_files(const char *location_encoder, const char *image_mlp,
                                  const char *logit_scale, gl_error *err);
/* dir holds location_encoder_weights, image_encoder_mlp_weights and logit_scale_weights, each
 * as .safetensors or .pth (the former preferred). dir NULL: $GEOLABEL_GEOCLIP_DIR. */
gl_geoclip *gl_geoclip_load(const char *dir, gl_error *err);
void gl_geoclip_free(gl_geoclip *g);
const char *gl_geoclip_hash(const gl_geoclip *g);
float gl_geoclip_logit_scale(const gl_geoclip *g); /* exp(logit_scale) */
/* GeoCLIP's scaled Equal Earth projection: xy[i] = (x, y) * 66.50336 / 180 of latlon[i] =
 * (lat, lon) in degrees. */
void gl_geoclip_equal_earth(const float *latlon, int n, double *xy);
/* features: [n, 512] raw (not normalised) location features of latlon [n, 2]. */
gl_status gl_geoclip_encode_locations(gl_geoclip *g, const float *latlon, int n, float *features,
                                      gl_error *err);
/* clip_features: [n, 768] CLIP get_image_features rows; out: [n, 512] raw MLP outputs. */
gl_status gl_geoclip_encode_images(gl_geoclip *g, const float *clip_features, int n, float *out,
                                   gl_error *err);

/* A GPS gallery: a CSV with LAT,LON columns (header names case-insensitive). */
typedef struct {
    float *latlon;  /* [n, 2] as GeoCLIP reads them (float32), for the encoder */
    double *coords; /* [n, 2] as written in the file, for reporting */
    int n;
    char hash[17];
} gl_geo_gallery;
/* Caller frees with gl_geo_gallery_free; NULL for a missing column, a bad coordinate (naming the
 * line) or an empty gallery. */
gl_geo_gallery *gl_geo_gallery_load(const char *path, gl_error *err);
void gl_geo_gallery_free(gl_geo_gallery *gal);

/* Retrieval over a gallery: normalised location features computed once (or read from the cache
 * in cache_dir; NULL: gl_geo_cache_dir(), "": no cache). Borrows g and gal. */
typedef struct gl_geoclip_index gl_geoclip_index;
gl_geoclip_index *gl_geoclip_index_new(gl_geoclip *g, const gl_geo_gallery *gal,
                                       const char *cache_dir, gl_error *err);
void gl_geoclip_index_free(gl_geoclip_index *ix);
gl_geo_cache_stats gl_geoclip_index_stats(const gl_geoclip_index *ix); /* counts locations */
/* logits [n, gallery] = exp(logit_scale) * cos(MLP(clip_features), locations) (logits may be
 * NULL); out: [n, top_k] guesses by softmax probability over the gallery, best first. */
gl_status gl_geoclip_retrieve(gl_geoclip_index *ix, const float *clip_features, int n, int top_k,
                              gl_geo_guess *out, float *logits, gl_error *err);

/* Writes located images: CSV "filename,lat,lon,country,country_prob,city,city_prob,score" then
 * the same columns suffixed _2.._k for the alternatives; a .geojson/.json/.gpkg path gets one
 * EPSG:4326 Point per image through OGR with the same properties. gz may be NULL (GeoCLIP). */
typedef struct {
    const char *filename;
    const gl_geo_guess *guesses; /* best first */
    int n_guesses;
} gl_geo_located;
/* Atomic: on failure the previous file is untouched. gz and rows are borrowed. */
gl_status gl_geo_write_located(const char *path, const gl_gazetteer *gz, const gl_geo_located *rows,
                               int n, int top_k, gl_error *err);
/* The CSV form to an open stream (e.g. stdout). */
gl_status gl_geo_write_located_fp(FILE *fp, const gl_gazetteer *gz, const gl_geo_located *rows,
                                  int n, int top_k, gl_error *err);

/* eval --geo: predictions (filename,lat,lon[,country]) against truth (filename,lat,lon[,iso2]). */
#define GL_GEO_N_THRESHOLDS 5
#define GL_GEO_THRESHOLDS_KM                                                                       \
    { 1.0, 25.0, 200.0, 750.0, 2500.0 }
typedef struct {
    int n_truth;                            /* truth rows */
    int n_matched;                          /* truth rows with a prediction */
    double within_pct[GL_GEO_N_THRESHOLDS]; /* % of truth rows (a missing prediction misses) */
    double median_km, mean_km;              /* over matched rows; NAN when none */
    int n_country;                          /* truth rows with an iso2 (0: no country accuracy) */
    double country_acc_pct; /* % of those whose predicted country agrees; NAN when none */
} gl_geo_eval;
/* Fills the caller's *out; a missing column or bad value fails naming the file. */
gl_status gl_geo_eval_files(const char *pred_csv, const char *truth_csv, gl_geo_eval *out,
                            gl_error *err);

/* ------------------------------------------------------------------ shards (run/shard.c) */

/* One shard of a run split over many processes (Slurm arrays, Kubernetes indexed jobs, AWS Batch
 * arrays). Each input (GL_SHARD_BY_INPUT), or each tile (GL_SHARD_BY_TILE, for a few huge scenes),
 * belongs to exactly one shard, chosen by a stable hash of the input path as given, so re-runs and
 * retries on other machines agree. count 0 means no sharding: everything is kept. */
typedef enum { GL_SHARD_BY_INPUT = 0, GL_SHARD_BY_TILE } gl_shard_by;
typedef struct {
    int index, count; /* 0 <= index < count; count 0: not sharded */
    gl_shard_by by;
} gl_shard;
#define GL_SHARD_MAX 1000000
/* Parses "i/n" (0 <= i < n <= GL_SHARD_MAX) into s->index and s->count. */
gl_status gl_shard_parse(const char *spec, gl_shard *s, gl_error *err);
/* Fills s from the scheduler's environment when it names an array task: SLURM_ARRAY_TASK_ID with
 * SLURM_ARRAY_TASK_COUNT (or _MIN/_MAX), JOB_COMPLETION_INDEX with count_hint (Kubernetes indexed
 * jobs; count_hint 0 there is an error), AWS_BATCH_JOB_ARRAY_INDEX with AWS_BATCH_JOB_ARRAY_SIZE.
 * *found is 0 and s untouched when none is set. env is getenv-like (NULL: getenv). */
gl_status gl_shard_from_env(const char *(*env)(const char *name), int count_hint, gl_shard *s,
                            int *found, gl_error *err);
/* The 64-bit FNV-1a hash of key's bytes, finished with SplitMix64's mixer; a shard owns the keys
 * whose hash % count is its index. A tile's key is "PATH#ROW,COL". Fixed forever: every existing
 * shard output depends on it. */
uint64_t gl_shard_hash(const char *key);
/* Whether s owns the input path (every input, when s is NULL, unsharded or split by tile). */
int gl_shard_owns_input(const gl_shard *s, const char *path);
/* Whether s owns tile (row, col) of path (every tile, unless split by tile). */
int gl_shard_owns_tile(const gl_shard *s, const char *path, int row, int col);

/* ------------------------------------------------------------------ runs: manifest and journal */

/* A manifest says what produced an output: ordered members, strings or JSON values, stored as one
 * JSON object beside the output (OUT.manifest.json, gl_run_manifest_path). `label` records model
 * (as given), model_hash (gl_clip_model_hash), classes, mode, context, templates, tiling, bands,
 * stretch, tta, stac_assets, llm, command and version (GL_VERSION) (gl_label_manifest), a sharded
 * run also its "shard" (gl_manifest_set_shard), and the finished output its "inputs"
 * (gl_manifest_set_inputs). The journal starts with it; --resume compares it (the journal's, else
 * the finished output's) with the run's own and refuses a difference unless --force; `geolabel
 * merge` requires the shards' to agree (gl_shard_set_check). */
typedef struct gl_manifest gl_manifest;
gl_manifest *gl_manifest_new(gl_error *err); /* empty; free with gl_manifest_free */
void gl_manifest_free(gl_manifest *m);
/* Sets (or replaces) key; both strings are copied. */
gl_status gl_manifest_set(gl_manifest *m, const char *key, const char *value, gl_error *err);
/* Sets key to a JSON object, array or number given as text (kept in one canonical spelling). */
gl_status gl_manifest_set_json(gl_manifest *m, const char *key, const char *json, gl_error *err);
void gl_manifest_remove(gl_manifest *m, const char *key); /* no-op when absent */
const char *
gl_manifest_get(const gl_manifest *m,
                const char *key); /* NULL when unset; JSON text for JSON values; owned by m */
/* One-line JSON; malloc'ed, the caller frees. */
char *gl_manifest_to_json(const gl_manifest *m, gl_error *err);
/* what names the source in errors (a file, "shard 3"). Free with gl_manifest_free. */
gl_manifest *gl_manifest_from_json(const char *json, const char *what, gl_error *err);
gl_manifest *gl_manifest_load(const char *path, gl_error *err);
gl_status gl_manifest_write(const gl_manifest *m, const char *path, gl_error *err); /* atomic */
/* GL_OK when both hold the same members with the same values (but for the records "inputs" and
 * "merged_shards", which say what a run did, not how); else GL_ERR_ARG naming what, the first
 * key that differs, and both values. */
gl_status gl_manifest_compare(const gl_manifest *want, const gl_manifest *have, const char *what,
                              gl_error *err);
/* The same, with hint (e.g. "--force resumes anyway") appended to the message; hint may be NULL. */
gl_status gl_manifest_require(const gl_manifest *want, const gl_manifest *have, const char *what,
                              const char *hint, gl_error *err);
/* "shard": {"index", "count", "by": "input"|"tile"}: a shard resumes only as the same shard. */
gl_status gl_manifest_set_shard(gl_manifest *m, const gl_shard *s, gl_error *err);
/* "inputs": {"total": the whole run's input count, "sha256": digest (gl_inputs_digest of the whole
 * run's list; NULL or "" leaves it out), "list": [[ordinal, key], ...]}: the output's n inputs with
 * their places in the whole run (ordinals NULL: 0..n-1). */
gl_status gl_manifest_set_inputs(gl_manifest *m, const char *const *inputs, const long *ordinals,
                                 int n, long total, const char *digest, gl_error *err);
/* The sha256 (hex) of an input list in order, each path with its NUL; "" if OpenSSL fails. */
void gl_inputs_digest(const char *const *inputs, int n, char hex[65]);
/* A shard's share of a run's input list: the places (0-based, ascending) of the inputs[0..n) that
 * s owns (gl_shard_owns_input) into ordinals (room for n), and the whole list's gl_inputs_digest
 * into hex, as a shard's manifest records them. Returns how many s owns. */
int gl_shard_pick_inputs(const gl_shard *s, const char *const *inputs, int n, long *ordinals,
                         char hex[65]);

/* A journal is the append-only file a long run writes as it goes (`label` keeps OUT.journal):
 * its manifest, then units (one per input) of records, each unit closed by an end mark and
 * flushed. A run killed at any moment, kill -9 included, leaves every finished unit readable;
 * the unit in flight and a torn last line are dropped when the journal is reopened to resume.
 * Records are text (any bytes but NUL). */
typedef struct gl_journal gl_journal;
/* Starts a new journal at path (replacing one there), or with resume continues an existing one:
 * its manifest must equal m (else GL_ERR_ARG, unless force), its torn tail is cut. Free with
 * gl_journal_free after gl_journal_close. */
gl_journal *gl_journal_open(const char *path, const gl_manifest *m, int resume, int force,
                            gl_error *err);
int gl_journal_is_done(const gl_journal *j, const char *key); /* a complete unit of this key */
int gl_journal_done_count(const gl_journal *j);
const char *gl_journal_done_key(const gl_journal *j, int i); /* sorted; owned by j */
/* A unit: begin (key, e.g. the input path; header: text the unit's records share), add its
 * records, then end (it counts) or abandon (it does not: a failed input). */
gl_status gl_journal_begin(gl_journal *j, const char *key, const char *header, gl_error *err);
gl_status gl_journal_add(gl_journal *j, const char *text, gl_error *err);
gl_status gl_journal_end(gl_journal *j, gl_error *err);
gl_status gl_journal_abandon(gl_journal *j, gl_error *err); /* no-op outside a unit */
gl_status gl_journal_close(gl_journal *j, gl_error *err);   /* flush, fsync, close: checked */
void gl_journal_free(gl_journal *j);
/* Reads back the complete units of the journal at path, in order: unit(key, header), each of its
 * records, unit_end(key). A callback's non-OK status stops the replay and is returned. */
typedef struct {
    gl_status (*unit)(void *ctx, const char *key, const char *header, gl_error *err);
    gl_status (*record)(void *ctx, const char *text, gl_error *err);
    gl_status (*unit_end)(void *ctx, const char *key, gl_error *err);
    void *ctx;
} gl_journal_visitor;
gl_status gl_journal_replay(const char *path, gl_journal_visitor *v, gl_error *err);
/* The manifest a journal was started with. */
gl_manifest *gl_journal_manifest(const char *path, gl_error *err);

/* ------------------------------------------------------------------ zero-shot labelling */

/* Test-time augmentations, as bits: the class probabilities are averaged over the tile and each
 * chosen augmentation. */
enum { GL_TTA_X = 1, GL_TTA_Y = 2, GL_TTA_XY = 4, GL_TTA_ROT90 = 8, GL_TTA_ROT270 = 16 };
/* Parses a comma list of x, y, xy, rot90, rot270 into GL_TTA_* bits. */
gl_status gl_tta_parse(const char *list, unsigned *bits, gl_error *err);

/* GeoVision Labeler's LLM pipeline: a vision LLM describes each patch, an LLM picks a class from
 * the description at every level, and CLIP decides wherever the answer is not one of the level's
 * classes. CLIP: CLIP alone. LLM: the descriptions come from a CSV (filename,row,col,description).
 * VLM_LLM: GVL's vision step, then its classifier. */
typedef enum { GL_CLASSIFIER_CLIP = 0, GL_CLASSIFIER_LLM, GL_CLASSIFIER_VLM_LLM } gl_classifier;
struct gl_llm;
typedef struct {
    gl_classifier type;
    struct gl_llm *llm;    /* borrowed; needed unless type is CLIP */
    struct gl_llm *vlm;    /* borrowed; the vision step's own server, if another; NULL: llm */
    const char *vlm_model; /* the vision model (Azure: deployment) */
    const char *llm_model; /* the classifier model (Azure: deployment) */
    const char *prompt;    /* NULL: GVL's "Detailed long description of the image: " */
    int include_filename;  /* GVL's --include_filename, in both prompts */
    int include_classes;   /* GVL's --include_classes: the top-level classes in the vision prompt */
    int apply_template;    /* the vision prompt as separate text parts, as GVL's chat template */
    int vlm_size;          /* the longer side of the patch sent, px (448); 0: as read */
    int vlm_max_tokens;    /* 128, GVL's */
    double vlm_temperature;        /* 0 */
    int llm_max_tokens;            /* 0: not sent */
    double llm_temperature;        /* 0, greedy as GVL's pipeline */
    const char *descriptions_path; /* type LLM: the CSV of descriptions */
} gl_label_llm;
gl_label_llm gl_label_llm_default_params(void);

typedef enum { GL_LABEL_AUTO = 0, GL_LABEL_FLAT, GL_LABEL_HIERARCHICAL } gl_label_mode;
/* Tile embeddings as stored in an index (`geolabel index`, `label --save-embeddings`). */
typedef enum { GL_EMB_F16 = 0, GL_EMB_F32 = 1 } gl_emb_dtype;
typedef struct {
    const char *classes_path;   /* a class list, or a GVL hierarchy (.yaml/.yml) */
    gl_label_mode mode;         /* AUTO: hierarchical for .yaml/.yml, else flat */
    const char *context;        /* GVL's prompt context; NULL: "This is a satellite image." */
    const char *templates_path; /* a prompt ensemble, one template with {} per line, used instead
                                   of GVL's prompt; NULL: GVL's "{context} Label '{label}'." */
    const char *template_text;  /* one template with {} (a one-line ensemble); NULL: none */
    const char *model_name;     /* the model as the user named it, for the manifest; may be NULL */
    gl_tiling tiling;
    gl_raster_params raster;
    unsigned tta;            /* GL_TTA_* bits */
    int batch;               /* tiles per engine call; 0: 16 */
    int resume;              /* continue: OUT.journal's finished inputs, then those OUT holds */
    int force;               /* with resume: continue even when the manifest differs */
    gl_shard shard;          /* label only this shard's inputs or tiles (count 0: all) */
    const char *stac;        /* a STAC Item/ItemCollection file or URL whose items are inputs too */
    const char *stac_assets; /* its asset: "visual" (NULL), or band assets "red,green,blue" */
    gl_label_llm llm;        /* the LLM pipeline; type CLIP by default */
    /* Embed once, label many. index_path: also store every tile's embeddings there (with
     * classes_path NULL and output NULL the run only indexes). from_index: label the tiles stored
     * there (inputs ignored; only the text tower runs; the index's model must be clip's). */
    const char *index_path;
    gl_emb_dtype index_dtype;
    const char *from_index;
    /* Outputs: .tif a classified GeoTIFF per input (values 1..K, 0 nodata); .geojson/.gpkg get a
     * QGIS .qml style beside them. */
    const char *colors_path; /* a colours file (gl_colors_load); NULL: hashed colours */
    int probabilities;       /* .tif: also write OUT.prob.tif, one float band per class */
    double raster_res;       /* .tif pixel size in CRS units; 0: one pixel per tile stride */
    const char *crs;   /* the output CRS (EPSG:n, WKT, PROJ, a file: what OGRSpatialReference's
                          SetFromUserInput takes); NULL: see gl_label_run. The
                          index store is in it too (NULL there: EPSG:4326) */
    int layer_per_crs; /* .gpkg: one layer per input CRS instead of one CRS for all */
    /* Called for each input that fails before it is skipped (the run goes on); may be NULL. */
    void (*on_error)(void *ctx, const char *input, const gl_error *err);
    void *ctx;
} gl_label_params;
gl_label_params gl_label_default_params(void);

typedef struct {
    int inputs;   /* after expanding directories and globs */
    int labelled; /* inputs labelled in this run */
    int resumed;  /* inputs kept from the existing output */
    int failed;
    long tiles;        /* tiles labelled in this run, nodata tiles included */
    long nodata_tiles; /* tiles wholly nodata: labelled "nodata" without a model call */
    double seconds;
    char index_compute_dtype[8]; /* --from-index: the dtype that embedded the index; else "" */
} gl_label_summary;

/* The manifest of a label run with these params (see the runs section). Free with
 * gl_manifest_free. */
gl_manifest *gl_label_manifest(gl_clip *clip, const gl_label_params *p, gl_error *err);
/* Labels every tile of every input (files, directories, glob patterns, GDAL paths such as
 * /vsizip/ and URLs) and writes output: .csv (GVL's header, then score, crs, x_min, y_min, x_max,
 * y_max, lon, lat, input: the path as given, which keys the rows), .geojson (EPSG:4326,
 * RFC 7946) or .gpkg. Coordinates: p->crs puts geometries and the crs and x/y bound columns in
 * that CRS (GeoJSON: EPSG:4326 only). Without it a CSV row is in its raster's CRS (the crs
 * column names it: "EPSG:n", or its WKT without a code), and a GPKG's "labels" layer in the
 * inputs' CRS when they share one, else EPSG:4326 (p->layer_per_crs: one layer per CRS, named
 * labels_epsg_N or labels_crs_HASH). Inputs without a geotransform or CRS: no geometry (GPKG: the
 * layer labels_nogeo). Rows go to OUT.journal as they come (kill -9 safe);
 * at the end the output is written from it in one pass, renamed into place, OUT.manifest.json
 * written and the journal removed. A failed run leaves OUT as it was and the journal for
 * --resume. As in GVL, the pixel column `lower` is a
 * tile's top row and `upper` its bottom row; left/right are its x bounds. Failing inputs go to
 * p->on_error and are skipped; the run then ends with GL_ERR_PARTIAL and summary filled (summary
 * may be NULL). */
gl_status gl_label_run(gl_clip *clip, const gl_label_params *p, const char *const *inputs,
                       int n_inputs, const char *output, gl_label_summary *summary, gl_error *err);
/* GL_ERR_ARG unless output's format and p's crs and layer_per_crs go together (a CRS GDAL reads;
 * GeoJSON only EPSG:4326; one layer per CRS only in .gpkg). gl_label_run checks it first too. */
gl_status gl_label_output_check(const gl_label_params *p, const char *output, gl_error *err);

/* ------------------------------------------------------------------ colours, search and review */

/* Class colours, stable across pictures, rasters, QGIS styles and review pages: a class's colour
 * comes from its name alone (gl_color_hashed: common land-cover names such as water, trees, road
 * or buildings have fixed conventional colours, any other name a colour from a hash of it),
 * unless a colours file names it. The file is CSV,
 * one "class,#RRGGBB" per line ('#' lines and a "class,color" header skipped; the last entry for a
 * name wins). path NULL: hashed colours only. Free with gl_colors_free (NULL-safe). */
typedef struct gl_colors gl_colors;
gl_colors *gl_colors_load(const char *path, gl_error *err);
void gl_colors_free(gl_colors *c);
unsigned gl_color_of(const gl_colors *c, const char *name); /* 0xRRGGBB; c may be NULL */
unsigned gl_color_hashed(const char *name);

/* `geolabel search`: the top_k tiles of an index by cosine to a query: the mean of the unit text
 * embeddings of texts, or of an image file, or of a stored tile. Exact brute force over the BLOBs,
 * threads streaming disjoint id ranges with memory bounded by top_k. */
typedef struct {
    const char *const *texts; /* n_texts prompts, used as given */
    int n_texts;
    const char *image; /* an image file; or NULL */
    long tile_id;      /* a tile id of the index (its fid); 0: none */
    int top_k;         /* 0: 10 */
    double min_score;  /* hits below it are dropped; -2: none */
    int has_bbox;
    double bbox[4]; /* lon_min, lat_min, lon_max, lat_max (WGS 84): tiles intersecting it */
    int threads;    /* 0: all cores */
} gl_search_params;
gl_search_params gl_search_default_params(void);
typedef struct {
    long scanned; /* tiles compared */
    int hits;
    double seconds; /* the scan alone, without loading the model or encoding the query */
    char index_compute_dtype[8]; /* the dtype that embedded the index's tiles */
} gl_search_summary;
/* clip may be NULL for a tile query. The index's model must be clip's. output: .csv (rank,
 * tile_id, score, input, filename, row, col, left, upper, right, lower, lon, lat) or .geojson
 * (tile polygons in WGS 84, the same properties), written atomically. */
gl_status gl_search_run(gl_clip *clip, const char *index, const gl_search_params *p,
                        const char *output, gl_search_summary *summary, gl_error *err);

/* `geolabel review`: one self-contained HTML page (no network) to look through labels: per scene
 * an overview with the tiles in class colours and a grid of thumbnails (read from the scenes under
 * image_root by base name; a scene that is not found is listed without pictures), filters, sort by
 * score, top-3 probabilities, corrections exported as a truth CSV that `eval --truth` reads. */
typedef struct {
    const char *image_root;
    const char *colors_path;  /* NULL: hashed colours */
    const char *classes_path; /* every class a correction may choose (list or YAML); NULL: those
                                 the labels hold */
    gl_raster_params raster;
    int thumb_px;    /* thumbnail side; 0: 96 */
    int overview_px; /* longest side of a scene overview; 0: 1024 */
} gl_review_params;
gl_review_params gl_review_default_params(void);
gl_status gl_review_write(const char *labels, const gl_review_params *p, const char *out_html,
                          gl_error *err);

/* ------------------------------------------------------------------ cluster, truth, eval, show */

/* Average-linkage agglomerative clustering (UPGMA) of n items given their symmetric distance
 * matrix dist [n][n]: the closest pair of clusters merges (ties to the lowest indices) until k
 * remain. assign [n] (the caller's) gets each item's cluster, numbered 0..k-1 by first
 * appearance. GL_ERR_ARG for k outside 1..n. */
gl_status gl_cluster_average_linkage(const double *dist, int n, int k, int *assign, gl_error *err);

/* GVL's meta-class generation without an LLM. Step s splits every group of the previous step into
 * num_clusters[s] groups by average linkage on cosine distance (1 - cos) of the class
 * embeddings, as GVL's cluster.py recurses top-down; a group no larger than its step's count stays
 * a plain list. Each group is named by the candidate whose embedding is nearest (cosine) the
 * normalised mean of its classes' embeddings: level by level, the best (group, name) pair first,
 * names unique in the whole tree and never equal (case-insensitively) to a class name. Embeddings
 * [n,dim] and [n_names,dim] need not be normalised. Leaves keep the class list's order. The
 * caller frees the root with gl_class_tree_free; NULL for impossible steps or too few names. */
gl_class_node *gl_cluster_build_tree(const char *const *classes, const float *class_emb, int n,
                                     const char *const *names, const float *name_emb, int n_names,
                                     int dim, const int *num_clusters, int steps, gl_error *err);
/* The same with CLIP text embeddings of tmpl ("{}" replaced by the class or name; NULL:
 * GL_CLUSTER_TEMPLATE) for both classes and candidate names. */
#define GL_CLUSTER_TEMPLATE "a satellite image of {}."
/* The caller frees the root with gl_class_tree_free; NULL as gl_cluster_build_tree, or when the
 * text tower fails. */
gl_class_node *gl_cluster_classes(gl_clip *clip, const char *const *classes, int n,
                                  const char *const *names, int n_names, const char *tmpl,
                                  const int *num_clusters, int steps, gl_error *err);

/* GVL's cluster.py with an LLM (model: its name, or the Azure deployment): for each group, GVL's
 * prompt asks for num_clusters[step] named clusters ("Cluster_k: name" lines), then GVL's second
 * prompt puts each class into one ("Cat: name"; exact, case-insensitive, then either name inside
 * the other). A class left unplaced is asked once more, then goes to the cluster whose name's CLIP
 * text embedding (tmpl, as above) is nearest. Empty clusters are dropped; a group no larger than
 * its step's count stays a list. The caller frees the root with gl_class_tree_free; NULL on
 * failure. */
struct gl_llm;
gl_class_node *gl_cluster_classes_llm(struct gl_llm *llm, const char *model, gl_clip *clip,
                                      const char *const *classes, int n, const char *tmpl,
                                      const int *num_clusters, int steps, gl_error *err);

/* Ground truth by GVL's SpaceNet v7 protocol: a tile is `positive` when a nonzero (and not
 * nodata) mask pixel, or any area of a vector feature, lies inside it; otherwise `negative`.
 * mask: a raster or an OGR vector (GeoJSON, GPKG, Shapefile). Georeferenced inputs are matched in
 * map coordinates (vectors reprojected to each image's CRS); without georeferencing a raster mask
 * must share the image's pixel grid and vector coordinates are pixel (col,row). Writes the label
 * CSV's columns (classification_mode "truth", score 1, geo columns as `label` writes them)
 * atomically. */
typedef struct {
    gl_tiling tiling;
    const char *positive, *negative; /* "Buildings", "No Buildings" */
} gl_truth_params;
gl_truth_params gl_truth_default_params(void);
typedef struct {
    long tiles, positive;
} gl_truth_stats;
/* stats (optional) is the caller's; a failure names the file it concerns. */
gl_status gl_truth_write_csv(const char *mask, const char *const *images, int n_images,
                             const gl_truth_params *p, const char *out_csv, gl_truth_stats *stats,
                             gl_error *err);

/* Label evaluation: predictions against truth, both label tables (CSV, GeoJSON or GPKG). Tiles
 * match by input and position: by the `input` column when both files have one and share an
 * input, else by the base name of `filename`; then by row and col, and where both files carry
 * tile bounds (left, upper, right, lower) those must agree too. The two must cut every shared
 * input into the same grid: a grid that differs (3x3 against 2x2) is refused (GL_ERR_SHAPE, the
 * message naming both grids), unless both files have bounds and every tile of the smaller one
 * matches (a truth of a few reviewed tiles). Without bounds, both must hold the whole grid.
 * Memory is bounded by the rows and by max_labels distinct labels over both files (the confusion
 * matrix is K x K longs: 128 MiB at 4096); more are refused (GL_ERR_LIMIT), never grown into.
 * A class with no predictions has precision 0 (and no truth rows: recall 0), as scikit-learn's
 * zero_division=0; kappa is NAN when chance agreement is 1. Level accuracy compares the
 * classification_tree's i-th label over rows whose trees both have two or more levels and reach
 * level i; hierarchy (may be NULL, borrowed) gives rows without such a tree (a flat truth) their
 * label's path. */
#define GL_EVAL_MAX_LABELS 4096
typedef struct {
    const char *truth_column, *pred_column; /* the label column; NULL: classification, else label */
    int max_labels;                         /* distinct labels allowed; 0: GL_EVAL_MAX_LABELS */
    const gl_class_node *hierarchy;         /* may be NULL, borrowed */
} gl_label_eval_params;
gl_label_eval_params gl_label_eval_default_params(void);
typedef struct {
    long n_pred, n_truth, n_matched; /* rows read, and truth rows with a prediction */
    long n_truth_unmatched;          /* truth rows without a prediction: a partial evaluation */
    int n_classes;
    char **classes;                  /* sorted union of the matched rows' labels */
    long *confusion;                 /* [n_classes][n_classes]: row = truth, column = prediction */
    double *precision, *recall, *f1; /* [n_classes] */
    long *support;                   /* [n_classes] truth rows per class */
    double accuracy, macro_f1, kappa;
    int n_levels;           /* 0 unless some tree has two or more levels */
    double *level_accuracy; /* [n_levels] */
    long *level_n;          /* [n_levels] rows compared at that level */
} gl_label_eval;
/* Caller frees with gl_label_eval_free; NULL when a file is unreadable, lacks a column, repeats a
 * tile, cuts a shared input differently, holds too many labels, or shares no tile with the
 * other. A partial match (n_truth_unmatched > 0) is returned: the caller decides. p NULL:
 * defaults. */
gl_label_eval *gl_label_eval_files(const char *pred, const char *truth,
                                   const gl_label_eval_params *p, gl_error *err);
void gl_label_eval_free(gl_label_eval *e);

/* Drawing (cairo). Each class gets its stable colour (gl_color_of: from its name, or from
 * colors_path), blended over the scene with alpha. */
typedef struct {
    gl_raster_params raster;
    int max_side;  /* the scene is drawn with its longest side at most this (px); 0: 1600 */
    double alpha;  /* tile fill opacity; 0.35 */
    int collage;   /* GVL's collage: a grid of 256x256 tiles, sorted by (row, col), captioned */
    int max_tiles; /* collage: at most this many tiles; 0: 100 */
    const char *colors_path; /* a colours file (gl_colors_load); NULL: the names' own colours */
} gl_show_params;
gl_show_params gl_show_default_params(void);
/* Draws the rows of a label table (CSV, GeoJSON or GPKG as `label` writes them) that belong to
 * image (by input path, or by base name without an input column) over the scene (read by
 * strips, so memory is bounded by the output size), with a 300-pixel legend panel on the right
 * (class colours and tile counts, grouped by meta-class when the rows carry classification
 * trees). PNG, written atomically. */
gl_status gl_show_labels(const char *labels_csv, const char *image, const gl_show_params *p,
                         const char *out_png, gl_error *err);
/* A confusion-matrix heat map (rows truth, columns prediction) with counts, as a PNG. */
gl_status gl_draw_confusion_png(const gl_label_eval *e, const char *out_png, gl_error *err);

/* ------------------------------------------------------------------ heads (Geograph MLP) */

/* The Geograph type classifier's facts: classes in checkpoint order and the distance buckets.
 * Distance index: DIST_MAP.get(str(v).strip(), 22) with DIST_MAP = {"0":0, "":0, "2^i": i+1 for
 * i in 0..20, "Unknown":22}. */
#define GL_GEOGRAPH_N_CLASSES 7
#define GL_GEOGRAPH_DIST_UNKNOWN 22
#define GL_GEOGRAPH_DIST_ROWS 24 /* nn.Embedding(len(DIST_MAP)=24, 16) */
extern const char *const gl_geograph_classes[GL_GEOGRAPH_N_CLASSES];
int gl_geograph_dist_index(const char *distance);
/* The raw distance string from national-grid coordinates: "Unknown" unless n1 > 0 and e2 > 0,
 * "0" when they coincide, else str(int(2**floor(log2(d)))). out holds at least 24 bytes. */
void gl_geograph_distance(double e1, double n1, double e2, double n2, char *out, size_t cap);
/* Multi-hot targets from a "types" tag string after the project's mapping ("Cross Grid" ->
 * "Cross Far" when distance is all digits and > 256, else "Geograph" when it is the only tag,
 * else dropped; "From Above" -> "From Drone"; other tags ignored). out[i] is 0 or 1 for classes[i].
 */
void gl_geograph_targets(const char *types, const char *distance, const char *const *classes,
                         int n_classes, float *out);

/* A trained head: Embedding(n_dist, dist_dim) over the distance index; concat(clip, dist) ->
 * Linear(clip_dim + dist_dim, hidden) -> ReLU -> Dropout -> Linear(hidden, n_classes). */
typedef struct gl_head gl_head;
typedef struct {
    int clip_dim, dist_dim, hidden, n_classes, n_dist;
    float dropout;
} gl_head_arch;
/* Loads a PyTorch checkpoint (.pth, the project's format) or our .safetensors. Caller frees with
 * gl_head_free; NULL for a missing tensor, a wrong shape or an unsupported pickle. */
gl_head *gl_head_load(const char *path, gl_error *err);
void gl_head_free(gl_head *h);
gl_head_arch gl_head_get_arch(const gl_head *h);
/* The sha256 of the checkpoint h was loaded from (gl_file_sha256), for run manifests: shards and
 * resumed runs of another head are refused. */
gl_status gl_head_sha256(const gl_head *h, char hex[65], gl_error *err);
const char *gl_head_class_name(const gl_head *h, int i); /* owned by h */
/* The head's own distance map (from its checkpoint), Unknown for anything not in it. */
int gl_head_dist_index(const gl_head *h, const char *distance);
/* logits: [n, n_classes] for clip [n, clip_dim] and dist_idx [n] (eval mode: no dropout). */
gl_status gl_head_forward(const gl_head *h, const float *clip, const int *dist_idx, int n,
                          float *logits, gl_error *err);
void gl_sigmoid_inplace(float *x, size_t n); /* logits to probabilities, in place */
/* Writes the head as safetensors (tensors named as in PyTorch's state dict; classes, dist map
 * and architecture in __metadata__), atomically. */
gl_status gl_head_save(const gl_head *h, const char *path, gl_error *err);

/* The data set: JSONL or .jsonl.gz, one object per line, streamed (one line in memory at a time,
 * any length). A bad row (JSON, base64, wrong length, NaN/Inf) is counted and skipped with a
 * warning naming file and line, or with keep_bad_rows kept as the reference does (zero vector). */
typedef enum { GL_SPLIT_TRA = 0, GL_SPLIT_VAL, GL_SPLIT_TES, GL_SPLIT_OTHER } gl_split;
typedef struct {
    long line;              /* 1-based line in the file */
    const char *id;         /* gridimage_id as text; valid until the next call */
    const char *types;      /* "" when absent */
    const char *distance;   /* str() of the JSON value; "Unknown" when absent */
    const float *embedding; /* [clip_dim] */
    gl_split split;
    float weight; /* default 1 */
    int bad;      /* kept bad row (keep_bad_rows): embedding is zeros */
} gl_hrow;
typedef struct gl_hreader gl_hreader;
/* clip_dim 0: embeddings are not decoded (row.embedding NULL), for commands that need only labels.
 */
/* Caller frees with gl_hreader_free; NULL when the file cannot be opened. */
gl_hreader *gl_hreader_open(const char *path, int clip_dim, int keep_bad_rows, gl_error *err);
/* 1: a row; 0: end of file; -1: a read error (err set). */
int gl_hreader_next(gl_hreader *r, gl_hrow *row, gl_error *err);
long gl_hreader_bad_rows(const gl_hreader *r);
const char *gl_hreader_first_bad(const gl_hreader *r); /* message for the first bad row, or NULL */
void gl_hreader_free(gl_hreader *r);                   /* closes the file */
const char *gl_split_name(gl_split s); /* "tra", "val", "tes", "other": static strings */

/* dataset stats */
#define GL_HSTATS_MAX_TAGS 64
typedef struct {
    long rows, bad_rows, split_rows[4];
    long target_count[GL_GEOGRAPH_N_CLASSES]; /* rows with each mapped target */
    long dist_hist[GL_GEOGRAPH_DIST_ROWS];    /* rows per distance index */
    int n_tags;                               /* raw tags seen (first 64) */
    char tag_names[GL_HSTATS_MAX_TAGS][32];
    long tag_count[GL_HSTATS_MAX_TAGS];
} gl_hstats;
/* Fills the caller's *out in one streaming pass; fails only when the file cannot be read. */
gl_status gl_hdata_stats(const char *path, int clip_dim, gl_hstats *out, gl_error *err);
/* targets.csv: gridimage_id plus one 0/1 column per Geograph class. */
gl_status gl_hdata_write_targets(const char *data_path, const char *out_csv, long *n_rows,
                                 long *n_bad, gl_error *err);

/* dataset build: embeds the images of meta_csv (columns id,path,e1,n1,e2,n2; optional types,
 * split, weight) with the CLIP model (loaded with clip_params; NULL: defaults) and appends rows in
 * the data set's format to out_jsonl. Ids already in out_jsonl are skipped (resume); a partial last
 * line left by a crash is cut off first; each batch is flushed and fsync'ed, so a crash loses at
 * most the batch in flight. shard (NULL: every row) keeps the rows whose image path it owns.
 * model_hash (NULL: not wanted) gets the model's gl_clip_model_hash. Sharded or not, out_jsonl's
 * manifest (gl_run_manifest_path) records the model's hash and compute dtype before the first row
 * is appended; when it records another model_hash or compute_dtype for rows already there, the
 * build is refused before any row: its rows would mix two models' embeddings. */
gl_status gl_hdata_build(const char *model, const gl_clip_params *clip_params, const char *meta_csv,
                         const char *out_jsonl, const gl_shard *shard, long *n_new, long *n_skipped,
                         char model_hash[40], gl_error *err);

/* predict: rows of a data set (or embeddings) through a head to CSV: gridimage_id, one
 * probability per class; with threshold >= 0 a labels column (classes with p > threshold joined
 * by ",", or "None"). */
typedef struct {
    FILE *fp;
    const gl_head *head;
    float threshold; /* < 0: no labels column */
} gl_head_writer;
/* The CSV header, then one row per call (probs [n_classes]); fp and head are borrowed. */
gl_status gl_head_write_header(gl_head_writer *w);
void gl_head_write_row(gl_head_writer *w, const char *id, const float *probs);
/* The whole data set to out_csv, atomically; n_rows counts the rows predicted from their own
 * embedding (kept bad rows are written but not counted), n_bad the bad rows read; shard (NULL:
 * every row) keeps the rows whose gridimage_id it owns. */
gl_status gl_head_predict_file(const gl_head *h, const char *data_path, const char *out_csv,
                               float threshold, int keep_bad_rows, const gl_shard *shard,
                               long *n_rows, long *n_bad, gl_error *err);

/* train */
typedef struct {
    int clip_dim;         /* 512: floats per embedding in the data set */
    int hidden, dist_dim; /* 256, 16 */
    float dropout;        /* 0.2 */
    int adamw;            /* 0: Adam (weight decay added to the gradient), 1: AdamW */
    float lr, weight_decay;
    int cosine; /* cosine decay of lr over the epochs */
    int batch, epochs, patience;
    uint64_t seed;
    int threads;
    int resume; /* continue from "<out>.resume" */
    int keep_bad_rows;
    int half_rows; /* hold embeddings as float16 in memory: 1030 instead of 2054 bytes/row */
    /* Called after each epoch (may be NULL); train_seconds is the epoch's training time. */
    void (*on_epoch)(void *ctx, int epoch, double train_loss, double val_loss, double micro_f1,
                     double macro_f1, int improved, double train_seconds);
    void *ctx;
} gl_train_params;
gl_train_params gl_train_default_params(void);
/* Trains on the "tra" rows with early stopping on the weighted "val" loss; the best head is
 * written to out_path (atomically) after each improving epoch, and the full state (weights,
 * optimizer, RNG, counters) to "<out_path>.resume" after every epoch. */
gl_status gl_head_train(const char *data_path, const char *out_path, const gl_train_params *p,
                        gl_error *err);

#define GL_HEAD_EVAL_MAX 64
/* eval --head: on "tes", P/R/F1 per class at 0.5 and at per-class thresholds tuned on "val"
 * (best F1 over 0.01..0.99), micro/macro F1, average precision per class and mAP. */
typedef struct {
    int n_classes;
    long n_val, n_test;
    double precision[GL_HEAD_EVAL_MAX], recall[GL_HEAD_EVAL_MAX], f1[GL_HEAD_EVAL_MAX];
    double tuned_threshold[GL_HEAD_EVAL_MAX];
    double tuned_precision[GL_HEAD_EVAL_MAX], tuned_recall[GL_HEAD_EVAL_MAX],
        tuned_f1[GL_HEAD_EVAL_MAX];
    double ap[GL_HEAD_EVAL_MAX]; /* NAN when the class has no positives */
    long support[GL_HEAD_EVAL_MAX];
    double micro_f1, macro_f1, tuned_micro_f1, tuned_macro_f1, map;
} gl_head_eval;
/* Fills the caller's *out; GL_ERR_FORMAT when the data set has no "tes" rows. */
gl_status gl_head_eval_file(const gl_head *h, const char *data_path, int keep_bad_rows,
                            gl_head_eval *out, gl_error *err);

/* ------------------------------------------------------------------ cloud inputs and STAC */

/* The path GDAL opens for an input as the user spelled it: http://, https:// and ftp:// URLs go
 * through /vsicurl/ (HTTP range reads; nothing is downloaded whole), s3://BUCKET/KEY through
 * /vsis3/, gs:// through /vsigs/, az:// through /vsiaz/; anything else (files, /vsi* paths, VRT
 * XML) is returned as it is. malloc'ed; the caller frees. NULL when out of memory. */
char *gl_gdal_path_of(const char *input);
/* Whether input is read over the network (a URL, or a /vsicurl/, /vsis3/, ... path). */
int gl_input_is_remote(const char *input);

/* One scene from a STAC catalogue: the item's id, and what GDAL opens for the chosen asset(s). */
typedef struct {
    char *id;   /* the item's "id" */
    char *path; /* a GDAL path (a file, a URL as GDAL spells it), or a VRT stacking band assets */
} gl_stac_scene;
/* Reads a STAC Item, an ItemCollection or a STAC API search result (a FeatureCollection of
 * items) from a file or URL, and picks from each item the asset named by assets: one name
 * ("visual"), or a comma list of 1 or 3 band names ("red,green,blue"), each an asset key or an
 * eo:bands common_name, stacked in that order into one 3-band VRT. Relative hrefs resolve against
 * the item's self link, else against src's location. *scenes (free with gl_stac_scenes_free) has
 * one entry per item, in file order; an item without the asset is an error naming it. */
gl_status gl_stac_read(const char *src, const char *assets, gl_stac_scene **scenes, int *n,
                       gl_error *err);
void gl_stac_scenes_free(gl_stac_scene *scenes, int n);

/* ------------------------------------------------------------------ merging shards (run/merge.c)
 */

typedef struct {
    int sort; /* rows in the whole run's input order (then tile row, col), as one process writes */
} gl_merge_params;
gl_merge_params gl_merge_default_params(void);
/* "<output>.manifest.json": where a run's manifest sits beside its output. malloc'ed. */
char *gl_run_manifest_path(const char *output);
/* The manifest of a command without a run journal (embed, locate, predict, dataset build), for
 * merge: command, model_hash, options, shard (left out when shard.count is 0: dataset build
 * records its model unsharded too) and inputs (run/shard_manifest.c). */
typedef struct {
    const char *command;        /* "embed", "locate", "predict", "dataset build" */
    const char *model_hash;     /* gl_clip_model_hash, or NULL */
    const char *compute_dtype;  /* the image tower's gl_dtype_name, or NULL: no CLIP ran */
    const char *head_sha256;    /* predict: gl_head_sha256 of the head, or NULL */
    const char *const *options; /* what decides the results, as "name=value": must agree */
    int n_options;
    gl_shard shard;
    const char *const *inputs; /* the shard's inputs (row keys); NULL: not listed (rows */
    const long *ordinals;      /*   inside a data file): merge then skips coverage */
    int n_inputs;
    long total;         /* inputs of the whole run, before sharding */
    const char *digest; /* gl_inputs_digest of the whole run's inputs, or NULL */
} gl_shard_record;
gl_status gl_shard_manifest_write(const char *output, const gl_shard_record *r, gl_error *err);

/* The outputs of one sharded run, checked against each other from their manifests (run/
 * shard_set.c), whatever they are (CSV, GeoJSON, GPKG, tile-embedding stores): every member but
 * "shard" and the records agree (model and model_hash, classes, options, version, the whole run's
 * input count and digest), the shards are 0..n-1 each once, all split the same way, and every
 * input of the run is listed by exactly one shard (split by tile: by every shard, at one place).
 * Each refusal is one line naming the files. */
typedef struct gl_shard_set gl_shard_set;
/* names[k] (kept, not copied: they must outlive the set) is what manifests[k] describes; the set
 * takes every manifest, also on failure. NULL on a refusal. Free with gl_shard_set_free. */
gl_shard_set *gl_shard_set_check(const char *const *names, gl_manifest **manifests, int n,
                                 gl_error *err);
/* The same with the manifest beside each output (gl_run_manifest_path). */
gl_shard_set *gl_shard_set_load(const char *const *outputs, int n, gl_error *err);
void gl_shard_set_free(gl_shard_set *s);
int gl_shard_set_count(const gl_shard_set *s);
const char *gl_shard_set_name(const gl_shard_set *s, int k); /* of shard k (shard order) */
long gl_shard_set_inputs(const gl_shard_set *s);             /* the run's listed inputs */
/* input's place in the whole run's input order; -1 when the manifests list no inputs (rows of a
 * data file), -2 when none lists this one. */
long gl_shard_set_ordinal(const gl_shard_set *s, const char *input);
/* The merged output's manifest: the shards' without "shard", with every input, and
 * "merged_shards": n. Free with gl_manifest_free. */
gl_manifest *gl_shard_set_manifest(const gl_shard_set *s, gl_error *err);

typedef struct {
    int shards;
    long rows;
    long inputs; /* distinct inputs with rows */
} gl_merge_summary;
/* Merges the outputs of shards 0..n-1 of one run (.csv, .geojson or .gpkg, the same format as
 * output) into output, atomically. Refuses: manifests that disagree or are missing, a shard
 * missing or given twice, inputs lost (the shards' input ordinals must cover the run's inputs
 * exactly once), different columns or layers, and any tile (input, row, col) present twice.
 * summary may be NULL. */
gl_status gl_merge_outputs(const char *output, const char *const *shards, int n,
                           const gl_merge_params *p, gl_merge_summary *summary, gl_error *err);
/* Tile-embedding stores (`geolabel index`, label --save-embeddings) merge through these, which
 * gl_merge_outputs calls for .gpkg shards that are stores. gl_index_is_store: whether path is one.
 * gl_index_merge: the stores' metadata must agree (all but model, version and created), each input
 * be complete, and no tile (input, tile) be in two stores; output gets every input once with its
 * tiles in tiling order, inputs ordered by ordinal (the run's input order; -1: unknown, first)
 * then by store order (give stores in shard order) and place there. ordinal may be NULL. *tiles:
 * how many were copied. Written atomically. */
int gl_index_is_store(const char *path);
gl_status gl_index_merge(const char *output, const char *const *stores, int n,
                         long (*ordinal)(void *ctx, const char *input), void *ctx, long *tiles,
                         gl_error *err);

/* ------------------------------------------------------------------ LLM client (src/llm) */

/* One client for OpenAI-compatible chat completions (libcurl): OpenAI, Azure OpenAI, or a local
 * server (vLLM, llama-server, Ollama's /v1, LM Studio). Keys come from the environment only and
 * are never logged, cached or put in an error message. */
typedef enum { GL_LLM_OPENAI = 0, GL_LLM_AZURE, GL_LLM_LOCAL } gl_llm_api;
typedef struct {
    gl_llm_api api;
    const char *base_url;  /* LOCAL: the server's OpenAI root, e.g. http://127.0.0.1:8000/v1;
                              OPENAI: overrides $OPENAI_BASE_URL */
    const char *cache_dir; /* responses kept here, keyed by the sha256 of the body; NULL: none */
    int concurrency;       /* requests in flight (4) */
    int max_retries;       /* per request, on 429, 5xx, timeouts and cut connections (5) */
    double timeout;        /* seconds for one whole attempt (120) */
    int max_failures;      /* consecutive failed requests after which the run stops (5) */
    double backoff;        /* first retry delay, s, doubled per retry, with jitter (1) */
    double backoff_max;    /* longest computed delay, s (60); a longer Retry-After still wins */
} gl_llm_params;
gl_llm_params gl_llm_default_params(void);

typedef struct gl_llm gl_llm;
/* OPENAI: $OPENAI_API_KEY (required), $OPENAI_BASE_URL (default https://api.openai.com/v1).
 * AZURE: $AZURE_OPENAI_ENDPOINT, $AZURE_OPENAI_API_KEY (required), $AZURE_OPENAI_API_VERSION
 * (default 2024-10-21); models name deployments. LOCAL: p->base_url (required) and
 * $GEOLABEL_LLM_API_KEY when the server wants one. Free with gl_llm_free. */
gl_llm *gl_llm_load(const gl_llm_params *p, gl_error *err);
void gl_llm_free(gl_llm *llm);

/* One chat completion. The caller sets model and body (malloc'ed JSON; the call owns it);
 * gl_llm_run fills content (malloc'ed answer text) or err. gl_llm_call_clear frees both. */
typedef struct {
    const char *model; /* the model, or the Azure deployment */
    char *body;
    char *content;
    gl_error err;
    int cached; /* served from the cache */
} gl_llm_call;
void gl_llm_call_clear(gl_llm_call *c);
/* Runs the n calls, p->concurrency at a time. A call that fails (after its retries) gets its own
 * err and the run goes on; the return is non-OK only when the circuit opens (max_failures
 * consecutive failures; every later run fails at once too) or memory runs out. */
gl_status gl_llm_run(gl_llm *llm, gl_llm_call *calls, int n, gl_error *err);

typedef struct {
    long requests;   /* HTTP attempts made */
    long cache_hits; /* calls answered from the cache */
    long retries, failures;
    long prompt_tokens, completion_tokens; /* summed from the answers' usage, cache hits excluded */
} gl_llm_usage;
gl_llm_usage gl_llm_get_usage(const gl_llm *llm);

/* @@ new public sections go above this line, one per subsystem, each headed like the others @@ */

#ifdef __cplusplus
}
#endif
#endif
