/* label_run.c: `geolabel label`'s and `geolabel index`'s run loop: each scene read window by
 * window, tiles batched through CLIP, rows to the journal and embeddings to the index; failing
 * inputs skipped (inputs.c and resume.c feed it). */
#include "core/progress.h"
#include "label/index.h"

#include <cpl_conv.h>
#include <gdal.h>
#include <math.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_TILE_PIXELS (1L << 26) /* GVL's resize of a small scene reads it whole */
#define DEFAULT_BATCH 16
#define GDAL_CACHE_BYTES (64LL << 20)

gl_label_params gl_label_default_params(void) {
    gl_label_params p;
    memset(&p, 0, sizeof p);
    p.tiling = gl_tiling_default();
    p.raster = gl_raster_default_params();
    p.batch = DEFAULT_BATCH;
    p.llm = gl_label_llm_default_params();
    return p;
}

/* ---------------------------------------------------------------- one run */

typedef struct {
    const gl_label_params *p;
    gl_clip *clip;
    gl_zeroshot *zs;     /* NULL when the run only indexes */
    gl_journal *j;       /* the labels' journal; NULL when the run only indexes */
    gl_index_writer *iw; /* --save-embeddings / `geolabel index`; or NULL */
    gl_manifest *im;     /* the index's manifest, when iw */
    const char *const *leaves;
    int n_leaves, index_only;
    int keep_probs; /* a .tif output blends every leaf's probability: the journal keeps them */
    float *probs;   /* [n_leaves] */
    long start;     /* the first tile of the scene to do (an index being resumed) */
    const char *mode_name;
    gl_tta_op views[GL_TTA_OP_COUNT];
    int n_views, batch, size, dim;
    float *pixels; /* [batch * n_views, 3, size, size] */
    float *embeds; /* [batch * n_views, dim] */
    unsigned char *aug;
    size_t aug_cap;
    gl_progress progress;
    gl_label_summary sum;
    int writer_failed; /* the journal, not an input, failed: the run stops */
    gl_llm_step *llm;  /* GVL's LLM pipeline, when asked for */
    int llm_failed;    /* the LLM circuit opened: the run stops */
} run_ctx;

/* One scene being labelled: its raster and the tiles of the batch in flight. */
typedef struct {
    const char *path;
    gl_raster *r;
    const gl_raster_info *info;
    int width, height; /* what is cut: the raster, or GVL's 224 x 224 resize of a small one */
    unsigned char *small_rgb, *small_valid; /* that resize, when it applies */
    double sx, sy;                          /* raster pixels per pixel of what is cut */
    gl_scene_grid grid;                     /* what is cut, for the index and raster outputs */
    int index[256];                         /* each tile's index in the tiling order */
    gl_tile tiles[256];
    int nodata[256];
    int n;
} scene;

/* Reads the whole (small) scene and resizes it as GVL does; a resized pixel is valid when the
 * raster pixel under its centre is. */
static gl_status load_small(scene *s, gl_error *err) {
    const int W = s->info->width, H = s->info->height, S = GL_GVL_MIN_SIDE;
    if ((long)W * H > MAX_TILE_PIXELS)
        return gl_fail(err, GL_ERR_LIMIT, "%s: %dx%d is too large to resize whole as GVL does",
                       s->path, W, H);
    unsigned char *rgb = malloc((size_t)W * H * 3), *valid = malloc((size_t)W * H);
    s->small_rgb = malloc((size_t)S * S * 3);
    s->small_valid = malloc((size_t)S * S);
    gl_status st = rgb && valid && s->small_rgb && s->small_valid
                       ? gl_raster_read_rgb(s->r, 0, 0, W, H, rgb, valid, err)
                       : gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", s->path);
    if (!st) st = gl_gvl_resize(rgb, W, H, s->small_rgb, S, S, err);
    for (int y = 0; !st && y < S; y++)
        for (int x = 0; x < S; x++)
            s->small_valid[y * S + x] =
                valid[(size_t)((y + 0.5) * H / S) * W + (size_t)((x + 0.5) * W / S)];
    s->sx = (double)W / S;
    s->sy = (double)H / S;
    free(rgb);
    free(valid);
    return st;
}

/* The tile's pixels and valid mask at as_read's size (gl_tile_read_size), from the raster or from
 * the resized scene (whose tiles are small: read as they are). */
static gl_status read_tile(scene *s, const gl_tile *t, const gl_tile *as_read, unsigned char *rgb,
                           unsigned char *valid, gl_error *err) {
    if (!s->small_rgb)
        return gl_raster_read_rgb_scaled(s->r, t->x, t->y, t->w, t->h, as_read->w, as_read->h, rgb,
                                         valid, err);
    for (int y = 0; y < t->h; y++) {
        size_t from = (size_t)(t->y + y) * s->width + t->x;
        memcpy(rgb + (size_t)y * t->w * 3, s->small_rgb + from * 3, (size_t)t->w * 3);
        memcpy(valid + (size_t)y * t->w, s->small_valid + from, (size_t)t->w);
    }
    return GL_OK;
}

static gl_status fill_geo(scene *s, const gl_tile *t, gl_label_row *row, gl_error *err) {
    const gl_raster_info *in = s->info;
    row->has_geo = in->has_geotransform && in->has_crs;
    if (!row->has_geo) return GL_OK;
    row->crs = in->crs_label;
    row->crs_wkt = in->crs_wkt;
    /* Corners in raster pixels: the cut's pixels scaled back when GVL's resize applied. */
    const double x0 = t->x * s->sx, x1 = (t->x + t->w) * s->sx;
    const double y0 = t->y * s->sy, y1 = (t->y + t->h) * s->sy;
    const double px[4][2] = {{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}};
    row->x_min = row->y_min = INFINITY;
    row->x_max = row->y_max = -INFINITY;
    for (int k = 0; k < 4; k++) {
        double *c = row->ring_crs[k];
        gl_raster_pixel_to_crs(in, px[k][0], px[k][1], &c[0], &c[1]);
        row->x_min = fmin(row->x_min, c[0]), row->x_max = fmax(row->x_max, c[0]);
        row->y_min = fmin(row->y_min, c[1]), row->y_max = fmax(row->y_max, c[1]);
        gl_status st = gl_raster_crs_to_lonlat(s->r, c[0], c[1], &row->ring_lonlat[k][0],
                                               &row->ring_lonlat[k][1], err);
        if (st) return st;
    }
    double cx, cy;
    gl_raster_pixel_to_crs(in, (x0 + x1) / 2, (y0 + y1) / 2, &cx, &cy);
    return gl_raster_crs_to_lonlat(s->r, cx, cy, &row->lon, &row->lat, err);
}

/* Writes the row of tile i of the batch to the journal and the index. choice is NULL for a nodata
 * tile or when the run only indexes; llm: the LLM step's description, classification_mode and
 * note, or NULL; emb (the tile's views, unit rows) is NULL for a nodata tile or an LLM row. */
static gl_status emit_row(run_ctx *c, scene *s, int i, const gl_zs_choice *choice,
                          const char *const *llm, const float *emb, gl_error *err) {
    const gl_tile *t = &s->tiles[i];
    char tree[4096] = "nodata", top3[1024] = ""; /* a longer path is cut short */
    const char *label = "nodata";
    gl_status st = GL_OK;
    if (choice) {
        size_t used = 0;
        for (int d = 0; d < choice->depth; d++)
            used += (size_t)snprintf(tree + used, used < sizeof tree ? sizeof tree - used : 0,
                                     "%s%s", d ? ";" : "", choice->path[d]->name);
        label = choice->path[choice->depth - 1]->name;
        if (emb) st = gl_zeroshot_leaf_probs(c->zs, emb, c->n_views, c->probs, err);
        if (!st && emb) gl_label_top3(c->probs, c->leaves, c->n_leaves, top3, sizeof top3);
    }
    gl_label_row row = {.input = s->path,
                        .filename = gl_path_base_name(s->path),
                        .row = t->row,
                        .col = t->col,
                        .left = t->x,
                        .right = t->x + t->w,
                        .lower = t->y,
                        .upper = t->y + t->h,
                        .mode = llm ? llm[1] : c->mode_name,
                        .description = llm ? llm[0] : NULL,
                        .llm_error = llm ? llm[2] : NULL,
                        .tree = tree,
                        .label = label,
                        .score = choice ? choice->score : NAN,
                        .grid = &s->grid,
                        .tile = s->index[i],
                        .leaf_probs = choice && emb ? c->probs : NULL,
                        .n_leaf_probs = choice && emb && c->keep_probs ? c->n_leaves : 0,
                        .top3 = choice && emb ? top3 : NULL};
    if (!st) st = fill_geo(s, t, &row, err);
    if (st) return st;
    if (c->iw && (st = gl_index_writer_add(c->iw, row.tile, &row, emb, err))) {
        c->writer_failed = 1;
        return st;
    }
    if (!c->j) return GL_OK;
    char *rec = gl_label_row_encode(&row);
    st = rec ? gl_journal_add(c->j, rec, err) : gl_fail(err, GL_ERR_NOMEM, "label: out of memory");
    free(rec);
    if (st) c->writer_failed = 1;
    return st;
}

/* Preprocesses every view of one tile into the batch's pixel slots from slot. */
static gl_status prepare_views(run_ctx *c, const unsigned char *rgb, const gl_tile *t, int slot,
                               gl_error *err) {
    const gl_preproc_config *cfg = gl_clip_preproc_config(c->clip);
    size_t per = (size_t)3 * c->size * c->size;
    for (int v = 0; v < c->n_views; v++) {
        gl_image img = {t->w, t->h, (unsigned char *)rgb, NULL};
        if (c->views[v] != GL_TTA_OP_NONE) {
            gl_tile_augment(c->views[v], rgb, t->w, t->h, c->aug, &img.width, &img.height);
            img.rgb = c->aug;
        }
        gl_status st = gl_preprocess(cfg, &img, c->pixels + (size_t)(slot + v) * per, err);
        if (st) return st;
    }
    return GL_OK;
}

static gl_status grow_aug(run_ctx *c, size_t bytes, gl_error *err) {
    if (bytes <= c->aug_cap) return GL_OK;
    unsigned char *g = realloc(c->aug, bytes);
    if (!g) return gl_fail(err, GL_ERR_NOMEM, "label: out of memory for a %zu-byte tile", bytes);
    c->aug = g;
    c->aug_cap = bytes;
    return GL_OK;
}

/* Reads the batch's windows; wholly-nodata tiles are marked and take no slots. */
static gl_status read_batch(run_ctx *c, scene *s, int *n_slots, gl_error *err) {
    *n_slots = 0;
    if (c->llm) gl_llm_step_begin(c->llm);
    for (int i = 0; i < s->n; i++) {
        const gl_tile *t = &s->tiles[i];
        /* The tile as the model sees it: large tiles are read at reduced resolution. */
        gl_tile as_read = *t;
        if (!s->small_rgb)
            gl_tile_read_size(t->w, t->h, c->size,
                              c->p->llm.type == GL_CLASSIFIER_VLM_LLM ? c->p->llm.vlm_size : 0,
                              &as_read.w, &as_read.h);
        size_t px = (size_t)as_read.w * as_read.h;
        gl_status st = c->n_views > 1 ? grow_aug(c, px * 3, err) : GL_OK; /* for TTA copies */
        if (st) return st;
        unsigned char *rgb = malloc(px * 3), *valid = malloc(px);
        if (!rgb || !valid) st = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", s->path);
        if (!st) st = read_tile(s, t, &as_read, rgb, valid, err);
        int any = 0;
        for (size_t k = 0; !st && k < px && !any; k++)
            any = valid[k] != 0;
        s->nodata[i] = !st && !any;
        if (!st && any) {
            st = prepare_views(c, rgb, &as_read, *n_slots * c->n_views, err);
            if (!st && c->llm) st = gl_llm_step_tile(c->llm, s->path, &as_read, rgb, err);
            (*n_slots)++;
        }
        free(rgb);
        free(valid);
        if (st) return st;
    }
    return GL_OK;
}

static gl_status label_batch(run_ctx *c, scene *s, gl_error *err) {
    int n_slots;
    gl_status st = read_batch(c, s, &n_slots, err);
    if (!st && n_slots)
        st = gl_clip_encode_images(c->clip, c->pixels, n_slots * c->n_views, c->embeds, err);
    if (!st && c->llm && n_slots &&
        (st = gl_llm_step_decide(c->llm, c->zs, c->embeds, c->n_views, c->dim, err)))
        c->llm_failed = 1;
    for (int i = 0, slot = 0; !st && i < s->n; i++) {
        if (s->nodata[i]) {
            c->sum.nodata_tiles++;
            st = emit_row(c, s, i, NULL, NULL, NULL, err);
            continue;
        }
        if (c->llm) {
            const gl_zs_choice *ch;
            const char *llm[3];
            gl_llm_step_result(c->llm, slot++, &ch, &llm[0], &llm[1], &llm[2]);
            st = emit_row(c, s, i, ch, llm, NULL, err);
            continue;
        }
        gl_zs_choice choice;
        float *e = c->embeds + (size_t)slot++ * c->n_views * c->dim;
        /* classify normalises the views in place; they are stored so (once, so labels stay
         * bit-identical to a run without an index) */
        if (c->zs)
            st = gl_zeroshot_classify(c->zs, e, c->n_views, &choice, err);
        else
            gl_l2_normalize_rows(e, c->n_views, c->dim);
        if (!st) st = emit_row(c, s, i, c->zs ? &choice : NULL, NULL, e, err);
    }
    if (!st) {
        c->sum.tiles += s->n;
        gl_progress_add(&c->progress, s->n);
    }
    return st;
}

static gl_status label_scene(run_ctx *c, scene *s, int count, gl_error *err) {
    c->progress.total += count - c->start;
    for (int next = (int)c->start; next < count;) {
        s->n = 0;
        while (next < count && s->n < c->batch) {
            gl_tile *t = &s->tiles[s->n];
            s->index[s->n] = next;
            gl_tiling_get(&c->p->tiling, s->width, s->height, next++, t);
            if (!gl_shard_owns_tile(&c->p->shard, s->path, t->row, t->col)) continue;
            s->n++;
        }
        gl_status st = s->n ? label_batch(c, s, err) : GL_OK;
        if (st) return st;
    }
    return GL_OK;
}

static gl_status label_input(run_ctx *c, const char *path, const char *open, gl_error *err) {
    scene s = {.path = path, .sx = 1, .sy = 1};
    if (!(s.r = gl_raster_open(open, &c->p->raster, err))) return err->code;
    s.info = gl_raster_get_info(s.r);
    gl_label_cut_size(&c->p->tiling, s.info, &s.width, &s.height);
    int count;
    gl_status st = gl_tiling_count(&c->p->tiling, s.width, s.height, &count, err);
    if (st) gl_error_prefix(err, "%s: ", path);
    if (!st && gl_label_gvl_resizes(&c->p->tiling, s.info)) st = load_small(&s, err);
    s.grid = (gl_scene_grid){.input = path,
                             .filename = gl_path_base_name(path),
                             .width = s.width,
                             .height = s.height,
                             .has_gt = s.info->has_geotransform,
                             .crs_wkt = s.info->has_crs && s.info->crs_wkt ? s.info->crs_wkt : ""};
    for (int k = 0; k < 6; k++) /* the geotransform of what is cut */
        s.grid.gt[k] = s.info->geotransform[k] * (k == 1 || k == 4   ? s.sx
                                                  : k == 2 || k == 5 ? s.sy
                                                                     : 1);
    c->start = 0;
    if (!st && c->iw && (st = gl_index_writer_begin(c->iw, &s.grid, count, &c->start, err)))
        c->writer_failed = 1;
    if (!c->index_only) c->start = 0; /* labels need every tile: index them again too */
    if (!st && c->j) {
        /* The unit's header: what every row of the input shares (its CRS and grid). */
        char *header = gl_label_unit_header(s.info, &s.grid);
        st = header ? gl_journal_begin(c->j, path, header, err)
                    : gl_fail(err, GL_ERR_NOMEM, "label: out of memory");
        free(header);
        if (st) c->writer_failed = 1;
    }
    if (!st) st = label_scene(c, &s, count, err);
    if (!st && c->iw && (st = gl_index_writer_end(c->iw, err))) c->writer_failed = 1;
    free(s.small_rgb);
    free(s.small_valid);
    gl_raster_free(s.r);
    return st;
}

/* ---------------------------------------------------------------- the call */

gl_status gl_label_zeroshot(gl_clip *clip, const gl_label_params *p, gl_class_node **tree,
                            int *hierarchical, gl_zeroshot **zs, gl_error *err) {
    if (!(*tree = gl_label_classes_load(p, hierarchical, err))) return err->code;
    gl_status st;
    char **tmpl = NULL;
    int n_tmpl = 0;
    if (p->templates_path && (st = gl_zs_templates_read(p->templates_path, &tmpl, &n_tmpl, err)))
        return st;
    if (p->template_text && !p->templates_path) {
        if (!(tmpl = calloc(1, sizeof *tmpl)) || !(tmpl[0] = strdup(p->template_text))) {
            free(tmpl);
            return gl_fail(err, GL_ERR_NOMEM, "label: out of memory");
        }
        n_tmpl = 1;
    }
    *zs = gl_zeroshot_new(clip, *tree, p->context, tmpl, n_tmpl, err);
    gl_strings_free(tmpl, n_tmpl);
    return *zs ? GL_OK : err->code;
}

static gl_status run_setup(run_ctx *c, gl_class_node **tree, gl_error *err) {
    const gl_label_params *p = c->p;
    int hier = 0;
    gl_status st = c->index_only ? GL_OK : gl_label_zeroshot(c->clip, p, tree, &hier, &c->zs, err);
    if (st) return st;
    c->mode_name = hier ? "hierarchical" : "flat";
    if (c->zs) {
        c->n_leaves = gl_zeroshot_leaves(c->zs, &c->leaves);
        if (!(c->probs = malloc((size_t)c->n_leaves * sizeof *c->probs)))
            return gl_fail(err, GL_ERR_NOMEM, "label: out of memory");
    }
    c->views[c->n_views++] = GL_TTA_OP_NONE;
    for (int op = GL_TTA_OP_X; op < GL_TTA_OP_COUNT; op++)
        if (p->tta & (1u << (op - 1))) c->views[c->n_views++] = (gl_tta_op)op;
    c->batch = p->batch > 0 ? (p->batch > 256 ? 256 : p->batch) : DEFAULT_BATCH;
    c->size = gl_clip_image_size(c->clip);
    c->dim = gl_clip_projection_dim(c->clip);
    size_t imgs = (size_t)c->batch * c->n_views;
    c->pixels = malloc(imgs * 3 * c->size * c->size * sizeof *c->pixels);
    c->embeds = malloc(imgs * c->dim * sizeof *c->embeds);
    if (!c->pixels || !c->embeds) return gl_fail(err, GL_ERR_NOMEM, "label: out of memory");
    if (p->llm.type != GL_CLASSIFIER_CLIP && !(c->llm = gl_llm_step_new(p, *tree, c->batch, err)))
        return err->code;
    return GL_OK;
}

static gl_status run_inputs(run_ctx *c, const gl_input_list *in, const char *done, gl_error *err) {
    for (int i = 0; i < in->n; i++) {
        if (done[i]) {
            c->sum.resumed++;
            continue;
        }
        gl_error e = {0};
        long tiles = c->sum.tiles, nodata = c->sum.nodata_tiles;
        gl_status st = label_input(c, in->paths[i], gl_input_open_path(in, i), &e);
        if (st == GL_ERR_NOMEM || c->writer_failed || c->llm_failed) {
            *err = e;
            return st;
        }
        if (st) {
            /* A unit begun (the raster opened) is abandoned: its rows do not count. */
            gl_status rs = c->j ? gl_journal_abandon(c->j, err) : GL_OK;
            if (!rs && c->iw) rs = gl_index_writer_drop(c->iw, err);
            if (rs) return rs;
            c->sum.tiles = tiles, c->sum.nodata_tiles = nodata; /* its rows are gone too */
            c->sum.failed++;
            if (c->p->on_error) c->p->on_error(c->p->ctx, in->paths[i], &e);
        } else {
            if (c->j && (st = gl_journal_end(c->j, err))) return st;
            c->sum.labelled++;
        }
    }
    return GL_OK;
}

/* ---------------------------------------------------------------- the output from the journal */

typedef struct {
    gl_label_writer *w;
    char *input, *crs, *wkt; /* the unit being replayed */
    gl_scene_grid grid;      /* its grid (strings point into the fields above) */
    float *probs;            /* [n_probs]: a row's leaf probabilities, when the journal has them */
    int n_probs;
} replay_ctx;

static gl_status replay_unit(void *ctx, const char *key, const char *header, gl_error *err) {
    replay_ctx *r = ctx;
    free(r->input), free(r->crs), free(r->wkt);
    r->input = strdup(key);
    r->crs = r->wkt = NULL;
    gl_status st = r->input ? gl_label_unit_header_parse(header, &r->crs, &r->wkt, &r->grid, err)
                            : gl_fail(err, GL_ERR_NOMEM, "label: out of memory");
    if (st) return st;
    r->grid.input = r->input;
    r->grid.filename = gl_path_base_name(r->input);
    r->grid.crs_wkt = *r->wkt ? r->wkt : r->crs;
    return GL_OK;
}

static gl_status replay_row(void *ctx, const char *text, gl_error *err) {
    replay_ctx *r = ctx;
    char *copy = strdup(text);
    if (!copy) return gl_fail(err, GL_ERR_NOMEM, "label: out of memory");
    gl_label_row row = {.input = r->input, .filename = gl_path_base_name(r->input)};
    gl_status st = gl_label_row_decode(copy, &row, r->probs, r->n_probs, err);
    row.crs = r->crs;
    row.crs_wkt = *r->wkt ? r->wkt : *r->crs ? r->crs : NULL;
    row.grid = &r->grid;
    if (!st) st = gl_label_writer_add(r->w, &row, err);
    free(copy);
    return st;
}

/* A first pass over the journal's units: the writer learns every input's CRS before any row. */
static gl_status announce_crs(void *ctx, const char *key, const char *header, gl_error *err) {
    (void)key;
    char *crs = NULL, *wkt = NULL;
    gl_scene_grid g;
    gl_status st = gl_label_unit_header_parse(header, &crs, &wkt, &g, err);
    if (!st) st = gl_label_writer_expect_crs(ctx, wkt, err);
    free(crs), free(wkt);
    return st;
}

/* Writes output from the old output's kept rows (redo: the inputs whose old rows go) and the
 * journal's finished inputs, renames it into place, then records the manifest with the run's
 * inputs in it (what merge checks a shard's coverage by). */
static gl_status publish(const run_ctx *c, const char *output, const char *jpath, const char *mpath,
                         gl_manifest *m, const gl_input_list *in, const char *const *redo,
                         int n_redo, gl_error *err) {
    const gl_label_params *p = c->p;
    replay_ctx r = {0};
    if (!(r.w = gl_label_writer_open(output, p->resume ? redo : NULL, n_redo, err)))
        return err->code;
    gl_status st =
        gl_label_writer_classes(r.w, p, c->leaves, c->n_leaves, c->mode_name[0] == 'h', err);
    r.n_probs = c->n_leaves;
    if (!st && !(r.probs = calloc((size_t)c->n_leaves + 1, sizeof *r.probs)))
        st = gl_fail(err, GL_ERR_NOMEM, "label: out of memory");
    gl_journal_visitor units = {.unit = announce_crs, .ctx = r.w};
    gl_journal_visitor v = {.unit = replay_unit, .record = replay_row, .ctx = &r};
    if (!st) st = gl_label_writer_set_crs(r.w, p->crs, p->layer_per_crs, err);
    if (!st) st = gl_journal_replay(jpath, &units, err);
    if (!st) st = gl_journal_replay(jpath, &v, err);
    free(r.input), free(r.crs), free(r.wkt), free(r.probs);
    if (st) {
        gl_label_writer_abort(r.w);
        return st;
    }
    if ((st = gl_label_writer_commit(r.w, err))) return st;
    if ((st = gl_manifest_set_inputs(m, (const char *const *)in->paths, in->ordinal, in->n,
                                     in->total, in->digest, err)) ||
        (st = gl_manifest_write(m, mpath, err)))
        return st;
    if (unlink(jpath) != 0)
        return gl_fail(err, GL_ERR_IO, "%s: cannot remove: %s", jpath, strerror(errno));
    return GL_OK;
}

static char *with_suffix(const char *path, const char *suffix) {
    size_t n = strlen(path) + strlen(suffix) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s%s", path, suffix);
    return s;
}

/* --resume onto a finished output: the manifest it was made with must match (unless --force). */
static gl_status check_old_manifest(const char *output, const char *mpath, const gl_manifest *m,
                                    gl_error *err) {
    if (access(output, F_OK) != 0 || access(mpath, F_OK) != 0) return GL_OK;
    gl_manifest *old = gl_manifest_load(mpath, err);
    if (!old) return err->code;
    gl_status st = gl_manifest_require(m, old, output, "--force resumes anyway", err);
    gl_manifest_free(old);
    return st;
}

/* Marks the inputs already done (in the journal, or in full in the old output) and lists in
 * redo the inputs whose rows in the old output must go: all but those kept from it, and every
 * input the journal finished (its rows come from the journal). */
static gl_status plan_resume(const gl_label_params *p, const char *output, const gl_input_list *in,
                             const gl_journal *j, char *done, const char **redo, int *n_redo,
                             gl_error *err) {
    char *old_done = calloc((size_t)in->n + 1, 1);
    if (!old_done) return gl_fail(err, GL_ERR_NOMEM, "label: out of memory");
    gl_status st = gl_resume_plan(p, output, in, old_done, err);
    for (int i = 0; !st && i < in->n; i++) {
        int in_journal = gl_journal_is_done(j, in->paths[i]);
        done[i] = in_journal || old_done[i];
        if (!old_done[i] && !in_journal) redo[(*n_redo)++] = in->paths[i];
    }
    for (int k = 0; !st && k < gl_journal_done_count(j); k++)
        redo[(*n_redo)++] = gl_journal_done_key(j, k);
    free(old_done);
    return st;
}

/* The index writer of a run that stores embeddings: its manifest is this run's (index.h). */
static gl_status open_index(run_ctx *c, gl_error *err) {
    const gl_label_params *p = c->p;
    if (p->llm.type != GL_CLASSIFIER_CLIP)
        return gl_fail(err, GL_ERR_ARG,
                       "%s: --save-embeddings stores CLIP tile embeddings; it does not go with "
                       "an LLM classifier",
                       p->index_path);
    if (p->resume && !c->index_only)
        return gl_fail(err, GL_ERR_ARG,
                       "%s: --resume with --save-embeddings is not supported; build the index with "
                       "`geolabel index --resume`, then `label --from-index`",
                       p->index_path);
    gl_index_spec spec = {.dim = c->dim,
                          .views = c->n_views,
                          .image_size = c->size,
                          .dtype = p->index_dtype,
                          .preproc = gl_clip_preproc_config(c->clip),
                          .layer_crs = p->crs};
    if (!(c->im = gl_index_manifest(c->clip, p, &spec, err))) return err->code;
    c->iw = gl_index_writer_open(p->index_path, c->im, &spec, p->resume, err);
    return c->iw ? GL_OK : err->code;
}

/* A shard's store: its run manifest (the index's, with the shard and its inputs) beside it. */
static gl_status store_manifest(run_ctx *c, const gl_input_list *in, gl_error *err) {
    char *path = gl_run_manifest_path(c->p->index_path);
    gl_status st = path ? gl_manifest_set_shard(c->im, &c->p->shard, err)
                        : gl_fail(err, GL_ERR_NOMEM, "label: out of memory");
    if (!st)
        st = gl_manifest_set_inputs(c->im, (const char *const *)in->paths, in->ordinal, in->n,
                                    in->total, in->digest, err);
    if (!st) st = gl_manifest_write(c->im, path, err);
    free(path);
    return st;
}

gl_status gl_label_run(gl_clip *clip, const gl_label_params *p, const char *const *inputs,
                       int n_inputs, const char *output, gl_label_summary *summary, gl_error *err) {
    if (p->from_index) return gl_label_from_index(clip, p, output, summary, err);
    if (!output && !p->index_path)
        return gl_fail(err, GL_ERR_ARG, "label: no output and no index to write");
    run_ctx c = {.p = p, .clip = clip, .index_only = output == NULL};
    gl_class_node *tree = NULL;
    gl_input_list in = {0};
    gl_manifest *m = NULL;
    char *done = NULL, *jpath = output ? with_suffix(output, ".journal") : NULL;
    char *mpath = output ? gl_run_manifest_path(output) : NULL;
    const char **redo = NULL;
    int n_redo = 0;
    double t0 = gl_now_seconds();
    /* Each window is read once, so GDAL's block cache (5% of RAM by default) only needs a band of
     * blocks across the scene; left at its default it grows past a gigabyte on large scenes. */
    if (!CPLGetConfigOption("GDAL_CACHEMAX", NULL) && GDALGetCacheMax64() > GDAL_CACHE_BYTES)
        GDALSetCacheMax64(GDAL_CACHE_BYTES);
    gl_label_format fmt = GL_LABEL_CSV;
    gl_status st = output && (!jpath || !mpath) ? gl_fail(err, GL_ERR_NOMEM, "label: out of memory")
                   : output                     ? gl_label_format_of(output, &fmt, err)
                                                : GL_OK;
    c.keep_probs = output && fmt == GL_LABEL_TIF;
    if (!st && output) st = gl_label_output_check(p, output, err);
    if (!st) st = run_setup(&c, &tree, err);
    if (!st && output && !(m = gl_label_manifest(clip, p, err))) st = err->code;
    if (!st) st = gl_inputs_expand(inputs, n_inputs, &in, err);
    if (!st && p->stac) st = gl_inputs_add_stac(&in, p->stac, p->stac_assets, err);
    if (!st) st = gl_inputs_shard(&in, &p->shard, err);
    if (!st && p->index_path) st = open_index(&c, err);
    int had_journal = jpath && access(jpath, F_OK) == 0;
    if (!st && output && p->resume && !had_journal && !p->force)
        st = check_old_manifest(output, mpath, m, err);
    if (!st && !p->resume && had_journal)
        gl_log(GL_LOG_WARN,
               "%s: starting over: the unfinished run's journal is replaced "
               "(--resume continues it)",
               jpath);
    if (!st && output && !(c.j = gl_journal_open(jpath, m, p->resume, p->force, err)))
        st = err->code;
    size_t n_redo_max = (size_t)in.n + (c.j ? (size_t)gl_journal_done_count(c.j) : 0) + 1;
    if (!st &&
        (!(done = calloc((size_t)in.n + 1, 1)) || !(redo = calloc(n_redo_max, sizeof *redo))))
        st = gl_fail(err, GL_ERR_NOMEM, "label: out of memory");
    if (!st && p->resume && c.j) st = plan_resume(p, output, &in, c.j, done, redo, &n_redo, err);
    for (int i = 0; !st && p->resume && c.index_only && c.iw && i < in.n; i++)
        done[i] = (char)gl_index_writer_complete(c.iw, in.paths[i]);
    c.sum.inputs = in.n;
    if (!st) {
        gl_progress_begin(&c.progress, "tiles", 0);
        st = run_inputs(&c, &in, done, err);
        gl_progress_end(&c.progress);
    }
    gl_status cs = c.j ? gl_journal_close(c.j, err) : GL_OK;
    if (!st) st = cs;
    /* A run where every input failed must not replace an earlier output with an empty one. */
    if (!st && c.sum.failed && !c.sum.labelled && !c.sum.resumed) {
        st = gl_fail(err, GL_ERR_IO,
                     "label: none of the %d inputs could be labelled; %s left as it was",
                     c.sum.inputs, output ? output : p->index_path);
        if (c.j && gl_journal_done_count(c.j) == 0) unlink(jpath); /* nothing worth resuming */
    }
    if (!st && output) st = publish(&c, output, jpath, mpath, m, &in, redo, n_redo, err);
    if (!st && c.iw) st = gl_index_writer_commit(c.iw, err), c.iw = NULL;
    /* A shard's store carries the run manifest too, beside it: what merge checks. */
    if (!st && p->index_path && p->shard.count > 0) st = store_manifest(&c, &in, err);
    gl_index_writer_abort(c.iw); /* what is committed stays in STEM.part.gpkg for --resume */
    c.sum.seconds = gl_now_seconds() - t0;
    if (summary) *summary = c.sum;
    if (!st && c.sum.failed)
        st = gl_fail(err, GL_ERR_PARTIAL, "label: %d of %d inputs failed; %d labelled, %d kept",
                     c.sum.failed, c.sum.inputs, c.sum.labelled, c.sum.resumed);
    gl_journal_free(c.j);
    gl_manifest_free(m);
    gl_manifest_free(c.im);
    gl_inputs_free(&in);
    free(jpath);
    free(mpath);
    free(done);
    free(redo);
    free(c.pixels);
    free(c.embeds);
    free(c.aug);
    free(c.probs);
    gl_zeroshot_free(c.zs);
    gl_llm_step_free(c.llm);
    gl_class_tree_free(tree);
    return st;
}
