/* label.h: what the labelling files share inside src/label: tile augmentations, the zero-shot
 * classifier (text embeddings, prompt ensembles, hierarchy walk) and the label writers. */
#ifndef GEOLABEL_LABEL_H
#define GEOLABEL_LABEL_H

#include "geolabel.h"

/* ---------------------------------------------------------------- augmentations (tiles.c) */

/* One test-time augmentation; GL_TTA_OP_NONE is the tile itself. The GL_TTA_* bit of op k is
 * 1 << (k - 1). */
typedef enum {
    GL_TTA_OP_NONE = 0,
    GL_TTA_OP_X,      /* mirror left-right (numpy.fliplr, PIL FLIP_LEFT_RIGHT) */
    GL_TTA_OP_Y,      /* mirror top-bottom (numpy.flipud) */
    GL_TTA_OP_XY,     /* both: a half turn, as GVL's "xy" (PIL ROTATE_180) */
    GL_TTA_OP_ROT90,  /* a quarter turn counter-clockwise (numpy.rot90, PIL ROTATE_90) */
    GL_TTA_OP_ROT270, /* a quarter turn clockwise (numpy.rot90 k=-1) */
    GL_TTA_OP_COUNT
} gl_tta_op;

/* Writes the augmented [out_h][out_w][3] copy of rgb [h][w][3] to out (w*h*3 bytes, not rgb);
 * quarter turns swap width and height. */
void gl_tile_augment(gl_tta_op op, const unsigned char *rgb, int w, int h, unsigned char *out,
                     int *out_w, int *out_h);

/* GVL resizes a scene whose shorter side is under GL_GVL_MIN_SIDE to 224 x 224 before cutting it,
 * with PIL's Image.resize(BILINEAR); this is that resize, bit for bit, on 8-bit RGB. */
#define GL_GVL_MIN_SIDE 224
gl_status gl_gvl_resize(const unsigned char *src, int w, int h, unsigned char *dst, int out_w,
                        int out_h, gl_error *err);
/* GVL resizes scenes with a side under 224 px to 224 x 224 before splitting; we do too when asked
 * for GVL's exact cut (--remainder drop). Otherwise tiles come from the raster's own pixels.
 * cut_size is the size that is cut into tiles: the raster's, or 224 x 224. */
int gl_label_gvl_resizes(const gl_tiling *t, const gl_raster_info *in);
void gl_label_cut_size(const gl_tiling *t, const gl_raster_info *in, int *w, int *h);

/* ---------------------------------------------------------------- classes (classes.c) */

/* The run's class tree: a class list as a one-level tree, a YAML hierarchy as is, or its unique
 * leaves for --mode flat. The caller frees it with gl_class_tree_free; NULL on a bad file. */
gl_class_node *gl_label_classes_load(const gl_label_params *p, int *hierarchical, gl_error *err);

/* ---------------------------------------------------------------- inputs (inputs.c) */

/* The scenes of a run, each path as the user gave it (directories and globs expanded). */
typedef struct {
    char **paths; /* the keys rows carry: paths as given, or a STAC item's id */
    int n, cap;
    char **open;     /* when non-NULL and open[i] non-NULL: what GDAL opens for input i (STAC) */
    long *ordinal;   /* when non-NULL: input i's place in the whole run's list, before sharding */
    long total;      /* that list's length (set by gl_inputs_shard) */
    char digest[65]; /* that list's gl_inputs_digest (set by gl_inputs_shard) */
} gl_input_list;
/* Appends the expansion of inputs to l; free l's contents with gl_inputs_free. */
gl_status gl_inputs_expand(const char *const *inputs, int n, gl_input_list *l, gl_error *err);
void gl_inputs_free(gl_input_list *l);

/* ---------------------------------------------------------------- scale-out (scale.c) */

/* What GDAL opens for input i: its STAC asset (or band VRT), else its path. */
const char *gl_input_open_path(const gl_input_list *l, int i);
/* Appends the items of a STAC Item/ItemCollection (file or URL): keyed by item id, opening the
 * asset(s) named by assets ("visual", or "red,green,blue"). */
gl_status gl_inputs_add_stac(gl_input_list *l, const char *src, const char *assets, gl_error *err);
/* Keeps the inputs shard s owns (all of them when s splits by tile or is unsharded), each with
 * its ordinal in the full list; l->total becomes that list's length, l->digest its digest. */
gl_status gl_inputs_shard(gl_input_list *l, const gl_shard *s, gl_error *err);
/* ---------------------------------------------------------------- zero-shot (zeroshot.c) */

/* GVL's prompt, "{context.strip()} Label '{label}'." stripped, or with template (non-NULL) every
 * "{}" replaced by label. malloc'ed; NULL when out of memory. */
char *gl_zs_prompt(const char *template_or_null, const char *context, const char *label);

/* Reads a prompt ensemble: one template per line with at least one "{}"; blank lines and '#'
 * comments skipped. Free with gl_strings_free. */
gl_status gl_zs_templates_read(const char *path, char ***templates, int *count, gl_error *err);

#define GL_ZS_MAX_DEPTH 40
/* A class tree with every node's text embedding, computed once. */
typedef struct gl_zeroshot gl_zeroshot;
/* tree is borrowed and must outlive zs; templates NULL (or n_templates 0) means GVL's prompt. */
gl_zeroshot *gl_zeroshot_new(gl_clip *clip, const gl_class_node *tree, const char *context,
                             char *const *templates, int n_templates, gl_error *err);
void gl_zeroshot_free(gl_zeroshot *zs);

typedef struct {
    const gl_class_node *path[GL_ZS_MAX_DEPTH]; /* top level first, the leaf last */
    int depth;
    float score; /* the leaf's probability among its siblings, averaged over the views */
} gl_zs_choice;
/* Walks the tree for one tile: at each level a softmax over the children of the chosen node,
 * averaged over the n_views image embeddings (the tile and its augmentations), then argmax.
 * emb: [n_views, dim] raw embeddings, normalised in place. Not reentrant (shared scratch). */
gl_status gl_zeroshot_classify(gl_zeroshot *zs, float *emb, int n_views, gl_zs_choice *out,
                               gl_error *err);

/* The unique leaf names in depth-first order (borrowed from the tree); returns their count. */
int gl_zeroshot_leaves(const gl_zeroshot *zs, const char *const **names);
/* P(leaf) for every leaf: the product of the softmax probabilities along its path (flat: the
 * softmax itself), each averaged over the views. emb: [n_views, dim] unit rows; out [leaves]. */
gl_status gl_zeroshot_leaf_probs(gl_zeroshot *zs, const float *emb, int n_views, float *out,
                                 gl_error *err);

/* The run's class tree (p's classes, mode, context, templates) and its zero-shot classifier; free
 * with gl_class_tree_free and gl_zeroshot_free. (label_run.c) */
gl_status gl_label_zeroshot(gl_clip *clip, const gl_label_params *p, gl_class_node **tree,
                            int *hierarchical, gl_zeroshot **zs, gl_error *err);
/* `label --from-index`: p->from_index's tiles (p->shard's only) labelled with clip's text tower
 * only; the manifest lists the inputs labelled, so shards merge like label's. (relabel.c) */
gl_status gl_label_from_index(gl_clip *clip, const gl_label_params *p, const char *output,
                              gl_label_summary *summary, gl_error *err);

/* ---------------------------------------------------------------- --resume (resume.c) */

/* Which inputs an existing output already holds in full (done[i] = 1; done zeroed by the
 * caller, room for in->n). */
gl_status gl_resume_plan(const gl_label_params *p, const char *output, const gl_input_list *in,
                         char *done, gl_error *err);
/* How a run reads its inputs, as its manifest spells it (label's and the index's). */
typedef struct {
    char tiling[96]; /* "split RxC cover|drop" or "tile T overlap O" */
    char bands[64];  /* "auto" or "r,g,b" */
    char stretch[64];
    char tta[16];
} gl_run_text;
void gl_label_run_text(const gl_label_params *p, gl_run_text *rt);
/* Reads gl_run_text's tiling back; GL_ERR_FORMAT (no message) when it is not one. */
gl_status gl_label_tiling_parse(const char *text, gl_tiling *t);

/* The unit header a label journal keeps per input: "CRS-label TAB CRS-WKT TAB grid" (the grid:
 * width height has_gt gt[6], what raster outputs place tiles by). malloc'ed. */
typedef struct gl_scene_grid gl_scene_grid;
char *gl_label_unit_header(const gl_raster_info *info, const gl_scene_grid *g);
/* Reads one back: *crs and *wkt malloc'ed (the caller frees both, also on failure), g's numbers
 * filled (its strings left NULL). */
gl_status gl_label_unit_header_parse(const char *header, char **crs, char **wkt, gl_scene_grid *g,
                                     gl_error *err);

/* One level of the walk: the mean-over-views probabilities among node's children (probs holds
 * node->n_children) and the best child, for a node of zs's tree. emb as above. */
gl_status gl_zeroshot_level(gl_zeroshot *zs, const gl_class_node *node, float *emb, int n_views,
                            float *probs, int *best, gl_error *err);

/* ---------------------------------------------------------------- clustering (cluster.c) */

/* node's children become leaves named classes[members[i]] (copies), i < m; node has none yet. */
gl_status gl_cluster_add_leaves(gl_class_node *node, const char *const *classes, const int *members,
                                int m, gl_error *err);
/* CLIP text embeddings [n, dim] (raw) of tmpl with "{}" replaced by each text (a template without
 * "{}" is a prefix). *out is malloc'ed. */
gl_status gl_cluster_embed_texts(gl_clip *clip, const char *tmpl, const char *const *texts, int n,
                                 float **out, gl_error *err);

/* ---------------------------------------------------------------- the LLM step (llm_step.c) */

/* GVL's LLM pipeline over one batch of tiles at a time: begin, one tile() per tile with pixels
 * (in slot order), decide() once the slots' CLIP embeddings are in, then result() per slot. */
typedef struct gl_llm_step gl_llm_step;
/* p and tree are borrowed and must outlive the step. */
gl_llm_step *gl_llm_step_new(const gl_label_params *p, const gl_class_node *tree, int max_slots,
                             gl_error *err);
void gl_llm_step_free(gl_llm_step *s);
void gl_llm_step_begin(gl_llm_step *s);
gl_status gl_llm_step_tile(gl_llm_step *s, const char *input, const gl_tile *tile,
                           const unsigned char *rgb, gl_error *err);
/* Fails only when the run must stop (the LLM circuit opened, memory ran out); a tile's own
 * failure falls back to CLIP and is noted. embeds: [slots, n_views, dim]. */
gl_status gl_llm_step_decide(gl_llm_step *s, gl_zeroshot *zs, float *embeds, int n_views, int dim,
                             gl_error *err);
/* The slot's path, description ("" for none), classification_mode ("llm", "clip-fallback",
 * "clip") and note ("" or why the LLM did not decide); valid until the next begin. */
void gl_llm_step_result(const gl_llm_step *s, int slot, const gl_zs_choice **choice,
                        const char **description, const char **mode, const char **note);

/* ---------------------------------------------------------------- outputs (label_out.c) */

/* The grid a scene is cut from (the raster, or GVL's resize of a small one): what the index keeps
 * per input and the GeoTIFF writer needs to place tiles. */
struct gl_scene_grid {
    long id; /* the index's input id, when read from one */
    const char *input, *filename;
    int width, height;
    int has_gt;
    double gt[6]; /* of this grid (pixel sizes scaled when GVL's resize applied) */
    const char *crs_wkt;
    int tiles; /* how many tiles its tiling makes (as read from an index) */
};

/* One labelled tile. Pixel bounds keep GVL's naming: left/right are x; `lower` is the TOP y and
 * `upper` the BOTTOM y (GVL computes lower = row * h, upper = lower + h in image rows). */
typedef struct {
    const char *input;    /* the input path as given: what rows are keyed by */
    const char *filename; /* GVL's column: the input's base name */
    int row, col;
    int left, upper, right, lower;
    const char *mode; /* "flat" or "hierarchical"; with an LLM "llm", "clip-fallback" or "clip" */
    const char *description; /* the vision LLM's, or NULL */
    const char *llm_error;   /* why the LLM did not decide, or NULL */
    const char *tree;        /* ';'-joined labels, top level to leaf */
    const char *label;
    double score;                      /* NAN for nodata tiles */
    int has_geo;                       /* the rest holds only for georeferenced inputs */
    const char *crs;                   /* "EPSG:32618", or "" for a CRS without a code */
    const char *crs_wkt;               /* the CRS (WKT, or anything SetFromUserInput reads) */
    double x_min, y_min, x_max, y_max; /* in the raster's CRS */
    double lon, lat;                   /* tile centre, WGS 84 */
    double ring_crs[4][2];             /* corners (x, y) in the raster's CRS: TL, TR, BR, BL */
    double ring_lonlat[4][2];          /* the same corners as (lon, lat) */
    const gl_scene_grid *grid;         /* for raster outputs; may be NULL */
    int tile;                          /* index in the scene's tiling order */
    const float *leaf_probs;           /* [n leaves] for raster outputs; may be NULL */
    int n_leaf_probs;                  /* how many of them a journal record keeps (0: none) */
    const char *top3;                  /* "label:p;label:p;label:p" (gl_label_top3); may be NULL */
} gl_label_row;

typedef enum { GL_LABEL_CSV = 0, GL_LABEL_GEOJSON, GL_LABEL_GPKG, GL_LABEL_TIF } gl_label_format;
/* The format an output path's extension asks for; GL_ERR_ARG for an unknown one. */
gl_status gl_label_format_of(const char *path, gl_label_format *fmt, gl_error *err);

/* Rows an existing output holds, for --resume: per row its input path and pixel window. */
typedef struct {
    char *input;
    int row, col, left, upper, right, lower;
} gl_label_done;
/* Reads path (any of the three formats) if it exists; a missing file gives 0 rows. */
gl_status gl_label_done_load(const char *path, gl_label_done **rows, int *n, gl_error *err);
void gl_label_done_free(gl_label_done *rows, int n);

typedef struct gl_label_writer gl_label_writer;
/* Starts the output in a temporary file beside path. With redo non-NULL (--resume), an existing
 * output's rows are copied over first, except those of the n_redo inputs (paths) it names (redo
 * stays borrowed until commit or abort: a GPKG copies once its CRS is chosen); with redo NULL
 * the output starts empty. */
gl_label_writer *gl_label_writer_open(const char *path, const char *const *redo, int n_redo,
                                      gl_error *err);
/* The run's leaves (unique, in the order a .tif numbers them 1..n), its mode and p's colours and
 * raster options: needed by a .tif before any row, and for the .qml beside GeoJSON and GPKG. */
gl_status gl_label_writer_classes(gl_label_writer *w, const gl_label_params *p,
                                  const char *const *leaves, int n, int hierarchical,
                                  gl_error *err);
/* The three most probable leaves as "label:p;label:p;label:p" (6 decimals), into buf. */
void gl_label_top3(const float *probs, const char *const *names, int n, char *buf, size_t cap);
/* The output CRS (before any row): crs (anything OGRSpatialReference's SetFromUserInput takes)
 * puts every georeferenced row's geometry and its crs and x/y bound columns in that CRS; NULL
 * keeps a CSV's rows in their own CRS and gives a GPKG its inputs' one CRS, or EPSG:4326 when
 * they differ; layer_per_crs makes a GPKG layer per input CRS. GeoJSON is EPSG:4326 always. */
gl_status gl_label_writer_set_crs(gl_label_writer *w, const char *crs, int layer_per_crs,
                                  gl_error *err);
/* Announces a CRS (WKT) that rows will have, before the first row: a GPKG chooses its CRS from
 * all of them. Rows in a CRS nobody announced are transformed into the chosen one. */
gl_status gl_label_writer_expect_crs(gl_label_writer *w, const char *wkt, gl_error *err);
gl_status gl_label_writer_add(gl_label_writer *w, const gl_label_row *row, gl_error *err);
/* Renames the output into place and frees w; abort drops the temporary file. */
gl_status gl_label_writer_commit(gl_label_writer *w, gl_error *err);
void gl_label_writer_abort(gl_label_writer *w);

/* A row as one journal record (the per-input fields, input, filename and CRS, travel in the
 * unit's header instead). encode: malloc'ed, NULL when out of memory. decode parses text in place;
 * r's strings point into it; a record with leaf probabilities must hold n_probs of them, put in
 * probs (the caller's) and pointed to by r->leaf_probs. */
char *gl_label_row_encode(const gl_label_row *r);
gl_status gl_label_row_decode(char *text, gl_label_row *r, float *probs, int n_probs,
                              gl_error *err);

#endif
