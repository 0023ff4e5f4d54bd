/* relabel.c: `label --from-index`: the tiles of an index (or a shard's share of them) labelled
 * again with new classes, prompts or hierarchy, running only the text tower; rows leave in the
 * index's order to any label output, with the run manifest beside it. */
#include "label/index.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* The tiling the index was cut with, for raster outputs. */
static gl_status index_tiling(const gl_index *ix, gl_tiling *t, gl_error *err) {
    const char *text = gl_index_meta(ix, "tiling");
    if (gl_label_tiling_parse(text, t))
        return gl_fail(err, GL_ERR_FORMAT, "%s: the metadata's tiling '%s' is unreadable",
                       gl_index_path(ix), text ? text : "(none)");
    return GL_OK;
}

static const gl_scene_grid *grid_of(const gl_scene_grid *g, int n, long id) {
    int lo = 0, hi = n - 1; /* ids ascend */
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (g[mid].id == id) return &g[mid];
        if (g[mid].id < id)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

typedef struct {
    gl_zeroshot *zs;
    const char *const *leaves;
    int n_leaves, views, dim, hier;
    float *probs, *emb;
    const char *mode;
} relabel_ctx;

/* Whether the run's shard (--shard, or the scheduler's) owns t: its input, or split by tile its
 * (row, col), keyed as label keys them, so shards of a relabel merge like label's. */
static int owns(const gl_shard *s, const gl_index_tile *t) {
    return gl_shard_owns_input(s, t->input) &&
           gl_shard_owns_tile(s, t->input, t->row.row, t->row.col);
}

/* Fills the label fields of t's row (buffers tree and top3 hold what the row points to). */
static gl_status classify(relabel_ctx *c, gl_index_tile *t, char *tree, size_t tree_cap, char *top3,
                          size_t top3_cap, gl_error *err) {
    gl_label_row *r = &t->row;
    r->mode = c->mode;
    if (t->nodata) {
        r->tree = r->label = "nodata";
        r->score = NAN;
        r->leaf_probs = NULL;
        r->top3 = NULL;
        return GL_OK;
    }
    gl_l2_normalize_rows(c->emb, c->views, c->dim); /* f16 rounding leaves them nearly unit */
    gl_status st = gl_zeroshot_leaf_probs(c->zs, c->emb, c->views, c->probs, err);
    if (st) return st;
    if (!c->hier) {
        /* Flat: the leaves are the root's children, so the walk is the argmax of these. */
        int best = 0;
        for (int k = 1; k < c->n_leaves; k++)
            if (c->probs[k] > c->probs[best]) best = k;
        r->label = r->tree = c->leaves[best];
        r->score = c->probs[best];
    } else {
        gl_zs_choice ch;
        if ((st = gl_zeroshot_classify(c->zs, c->emb, c->views, &ch, err))) return st;
        size_t used = 0;
        for (int d = 0; d < ch.depth; d++)
            used += (size_t)snprintf(tree + used, used < tree_cap ? tree_cap - used : 0, "%s%s",
                                     d ? ";" : "", ch.path[d]->name);
        r->tree = tree;
        r->label = ch.path[ch.depth - 1]->name;
        r->score = ch.score;
    }
    r->leaf_probs = c->probs;
    gl_label_top3(c->probs, c->leaves, c->n_leaves, top3, top3_cap);
    r->top3 = top3;
    return GL_OK;
}

/* Two threads: one reads and classifies tiles into a batch while the other formats and writes
 * the previous one (formatting numbers costs as much as classifying them). */
#define BATCH_ROWS 2048
#define ARENA_BYTES (1 << 20)

typedef struct {
    gl_label_row rows[BATCH_ROWS];
    int n, state; /* state 0: free for the reader, 1: ready for the writer */
    long nodata;
    char *arena; /* the rows' strings: SQLite's are only valid until its next step */
    size_t used, cap;
    float *probs; /* [BATCH_ROWS, n_leaves] */
} row_batch;

typedef struct {
    relabel_ctx *c;
    const gl_index *ix;
    const gl_shard *shard;
    const gl_scene_grid *grids;
    int n_grids;
    row_batch b[2];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, stop; /* the reader finished (all batches handed over), the writer gave up */
    gl_status st;
    gl_error err;
} pipeline;

static char *keep(row_batch *b, const char *s) {
    size_t n = strlen(s ? s : "") + 1;
    char *d = b->arena + b->used;
    memcpy(d, s ? s : "", n);
    b->used += n;
    return d;
}

/* Moves t's row into batch slot; 0 when the batch has no room for its strings. */
static int stash(pipeline *pl, row_batch *b, gl_index_tile *t, const char *tree, const char *top3) {
    gl_label_row *r = &t->row;
    const char *strs[] = {t->input, r->filename, r->crs, r->crs_wkt, tree, top3};
    size_t need = 0;
    for (int k = 0; k < 6; k++)
        need += strlen(strs[k] ? strs[k] : "") + 1;
    if (b->used + need > b->cap) {
        if (b->n) return 0;
        char *g = realloc(b->arena, b->used + need);
        if (!g) return 0;
        b->arena = g, b->cap = b->used + need;
    }
    gl_label_row *o = &b->rows[b->n];
    *o = *r;
    o->input = keep(b, t->input);
    o->filename = keep(b, r->filename);
    o->crs = keep(b, r->crs);
    o->crs_wkt = keep(b, r->crs_wkt);
    if (r->tree == tree) o->tree = keep(b, tree);
    if (r->top3) o->top3 = keep(b, top3);
    if (r->leaf_probs) {
        float *p = b->probs + (size_t)b->n * pl->c->n_leaves;
        memcpy(p, r->leaf_probs, (size_t)pl->c->n_leaves * sizeof *p);
        o->leaf_probs = p;
    }
    b->nodata += t->nodata;
    b->n++;
    return 1;
}

static void hand_over(pipeline *pl, row_batch *b) {
    pthread_mutex_lock(&pl->mu);
    b->state = 1;
    pthread_cond_broadcast(&pl->cv);
    pthread_mutex_unlock(&pl->mu);
}

static void *reader(void *arg) {
    pipeline *pl = arg;
    relabel_ctx *c = pl->c;
    gl_index_cursor *cur = gl_index_cursor_new(pl->ix, 1, -1, 1, &pl->err);
    gl_status st = cur ? GL_OK : pl->err.code;
    gl_index_tile t;
    char tree[4096], top3[1024];
    int r = 1, k = 0, pending = 0; /* pending: t holds a row the last batch had no room for */
    while (!st && (pending || (r = gl_index_cursor_next(cur, &t, c->emb, &pl->err)) == 1)) {
        row_batch *b = &pl->b[k];
        pthread_mutex_lock(&pl->mu);
        while (b->state && !pl->stop)
            pthread_cond_wait(&pl->cv, &pl->mu);
        int stop = pl->stop;
        pthread_mutex_unlock(&pl->mu);
        if (stop) break;
        if (!pending && !owns(pl->shard, &t)) continue; /* another shard's */
        if (!pending) {
            if (!(t.row.grid = grid_of(pl->grids, pl->n_grids, t.input_id)))
                st = gl_fail(&pl->err, GL_ERR_FORMAT, "%s: tile %ld belongs to no input",
                             gl_index_path(pl->ix), t.id);
            if (!st) st = classify(c, &t, tree, sizeof tree, top3, sizeof top3, &pl->err);
            if (st) break;
        }
        pending = 0;
        if (!stash(pl, b, &t, tree, top3)) {
            if (!b->n) { /* no room even alone: out of memory */
                st = gl_fail(&pl->err, GL_ERR_NOMEM, "label: out of memory");
                break;
            }
            pending = 1;
        }
        if (pending || b->n == BATCH_ROWS) {
            hand_over(pl, b);
            k ^= 1;
        }
    }
    if (!st && r < 0) st = pl->err.code;
    if (!st && pl->b[k].n && !pl->b[k].state) hand_over(pl, &pl->b[k]);
    gl_index_cursor_free(cur);
    pthread_mutex_lock(&pl->mu);
    pl->st = st;
    pl->done = 1;
    pthread_cond_broadcast(&pl->cv);
    pthread_mutex_unlock(&pl->mu);
    return NULL;
}

static gl_status relabel_rows(relabel_ctx *c, const gl_index *ix, const gl_shard *shard,
                              const gl_scene_grid *grids, int n_grids, gl_label_writer *w,
                              gl_label_summary *sum, gl_error *err) {
    pipeline pl = {.c = c, .ix = ix, .shard = shard, .grids = grids, .n_grids = n_grids};
    gl_status st = GL_OK;
    for (int k = 0; k < 2 && !st; k++) {
        pl.b[k].arena = malloc(ARENA_BYTES);
        pl.b[k].cap = ARENA_BYTES;
        pl.b[k].probs = malloc((size_t)BATCH_ROWS * c->n_leaves * sizeof(float));
        if (!pl.b[k].arena || !pl.b[k].probs)
            st = gl_fail(err, GL_ERR_NOMEM, "label: out of memory");
    }
    pthread_t th;
    pthread_mutex_init(&pl.mu, NULL);
    pthread_cond_init(&pl.cv, NULL);
    int started = !st && pthread_create(&th, NULL, reader, &pl) == 0;
    if (!st && !started) st = gl_fail(err, GL_ERR_INTERNAL, "label: cannot start a thread");
    gl_progress *prog = gl_progress_new("tiles", gl_index_max_id(ix));
    for (int k = 0; started && !st;) {
        row_batch *b = &pl.b[k];
        pthread_mutex_lock(&pl.mu);
        while (!b->state && !pl.done)
            pthread_cond_wait(&pl.cv, &pl.mu);
        int ready = b->state;
        pthread_mutex_unlock(&pl.mu);
        if (!ready) break; /* the reader is done and nothing is left */
        for (int i = 0; i < b->n && !st; i++)
            st = gl_label_writer_add(w, &b->rows[i], err);
        sum->tiles += b->n;
        sum->nodata_tiles += b->nodata;
        gl_progress_add(prog, b->n);
        pthread_mutex_lock(&pl.mu);
        b->n = 0, b->used = 0, b->nodata = 0, b->state = 0;
        if (st) pl.stop = 1;
        pthread_cond_broadcast(&pl.cv);
        pthread_mutex_unlock(&pl.mu);
        k ^= 1;
    }
    if (started) pthread_join(th, NULL);
    gl_progress_free(prog);
    if (!st && pl.st) {
        *err = pl.err;
        st = pl.st;
    }
    pthread_mutex_destroy(&pl.mu);
    pthread_cond_destroy(&pl.cv);
    for (int k = 0; k < 2; k++)
        free(pl.b[k].arena), free(pl.b[k].probs);
    return st;
}

/* The output's manifest: label's for these classes and prompts, with what the index fixed (how
 * its tiles were cut and read), where they came from, and the inputs labelled: the index's, or
 * the shard's with their places among them (what merge checks a shard's coverage by). */
static gl_status write_manifest(gl_clip *clip, const gl_label_params *p, const gl_index *ix,
                                const gl_scene_grid *grids, int n_grids, const char *output,
                                gl_error *err) {
    gl_manifest *m = gl_label_manifest(clip, p, err);
    gl_status st = m ? GL_OK : err->code;
    const char *fixed[] = {"tiling", "bands", "stretch", "tta"};
    for (int k = 0; !st && k < 4; k++) {
        const char *v = gl_index_meta(ix, fixed[k]);
        st = gl_manifest_set(m, fixed[k], v ? v : "", err);
    }
    if (!st) st = gl_manifest_set(m, "from_index", p->from_index, err);
    /* The tiles' dtype; compute_dtype is this run's (only the text tower runs here). */
    if (!st) st = gl_manifest_set(m, "index_compute_dtype", gl_index_compute_dtype(ix), err);
    const char **keys = st ? NULL : malloc(((size_t)n_grids + 1) * sizeof *keys);
    long *ordinals = keys ? malloc(((size_t)n_grids + 1) * sizeof *ordinals) : NULL;
    if (!st && !ordinals) st = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", output);
    int kept = 0;
    char digest[65];
    for (int i = 0; !st && i < n_grids; i++)
        keys[i] = grids[i].input;
    if (!st) kept = gl_shard_pick_inputs(&p->shard, keys, n_grids, ordinals, digest);
    for (int i = 0; i < kept; i++) /* ordinals ascend, so each key moves down or stays */
        keys[i] = keys[ordinals[i]];
    if (!st) st = gl_manifest_set_inputs(m, keys, ordinals, kept, n_grids, digest, err);
    free(keys);
    free(ordinals);
    char *path = st ? NULL : gl_run_manifest_path(output);
    if (!st && !path) st = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", output);
    if (!st) st = gl_manifest_write(m, path, err);
    free(path);
    gl_manifest_free(m);
    return st;
}

gl_status gl_label_from_index(gl_clip *clip, const gl_label_params *p, const char *output,
                              gl_label_summary *summary, gl_error *err) {
    double t0 = gl_now_seconds();
    gl_label_summary sum = {0};
    if (!output) return gl_fail(err, GL_ERR_ARG, "label --from-index: no output");
    gl_index *ix = gl_index_open(p->from_index, err);
    if (!ix) return err->code;
    relabel_ctx c = {.views = gl_index_views(ix), .dim = gl_index_dim(ix)};
    gl_class_node *tree = NULL;
    gl_scene_grid *grids = NULL;
    int n_grids = 0;
    gl_label_writer *w = NULL;
    gl_label_params q = *p;
    gl_status st = gl_index_check_model(ix, gl_clip_model_hash(clip), err);
    if (!st && gl_clip_projection_dim(clip) != c.dim)
        st = gl_fail(err, GL_ERR_SHAPE, "%s: %d-dimensional embeddings, the model gives %d",
                     p->from_index, c.dim, gl_clip_projection_dim(clip));
    if (!st && p->tta)
        st = gl_fail(err, GL_ERR_ARG,
                     "%s: --tta is fixed when indexing (the index holds %d view(s) per tile)",
                     p->from_index, c.views);
    if (!st) st = index_tiling(ix, &q.tiling, err);
    if (!st) st = gl_label_zeroshot(clip, p, &tree, &c.hier, &c.zs, err);
    if (!st) {
        c.mode = c.hier ? "hierarchical" : "flat";
        c.n_leaves = gl_zeroshot_leaves(c.zs, &c.leaves);
        c.probs = malloc((size_t)c.n_leaves * sizeof *c.probs);
        c.emb = malloc((size_t)c.views * c.dim * sizeof *c.emb);
        if (!c.probs || !c.emb) st = gl_fail(err, GL_ERR_NOMEM, "label: out of memory");
    }
    if (!st) st = gl_index_grids(ix, &grids, &n_grids, err);
    if (!st && !(w = gl_label_writer_open(output, NULL, 0, err))) st = err->code;
    if (!st) st = gl_label_writer_set_crs(w, p->crs, p->layer_per_crs, err);
    for (int i = 0; !st && i < n_grids; i++) /* a GPKG's CRS is chosen from all of them */
        st = gl_label_writer_expect_crs(w, grids[i].crs_wkt, err);
    if (!st) st = gl_label_writer_classes(w, &q, c.leaves, c.n_leaves, c.hier, err);
    if (!st) st = relabel_rows(&c, ix, &p->shard, grids, n_grids, w, &sum, err);
    if (!st)
        st = gl_label_writer_commit(w, err);
    else
        gl_label_writer_abort(w);
    if (!st) st = write_manifest(clip, p, ix, grids, n_grids, output, err);
    for (int i = 0; i < n_grids; i++)
        sum.inputs += gl_shard_owns_input(&p->shard, grids[i].input);
    sum.labelled = sum.inputs;
    snprintf(sum.index_compute_dtype, sizeof sum.index_compute_dtype, "%s",
             gl_index_compute_dtype(ix));
    sum.seconds = gl_now_seconds() - t0;
    if (summary) *summary = sum;
    free(c.probs);
    free(c.emb);
    gl_zeroshot_free(c.zs);
    gl_class_tree_free(tree);
    gl_index_grids_free(grids, n_grids);
    gl_index_close(ix);
    return st;
}
