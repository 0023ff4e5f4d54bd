/* predict.c: a head over a data set's rows, in batches, to a CSV of per-class probabilities with
 * the project demo's optional labels column (classes above the threshold, or "None"). */
#include "heads/heads.h"

#include <stdlib.h>
#include <string.h>

#define PREDICT_BATCH 1024

gl_status gl_head_write_header(gl_head_writer *w) {
    fputs("gridimage_id", w->fp);
    for (int c = 0; c < w->head->a.n_classes; c++) {
        fputc(',', w->fp);
        gl_csv_write_field(w->fp, w->head->classes[c]);
    }
    if (w->threshold >= 0) fputs(",labels", w->fp);
    fputc('\n', w->fp);
    return ferror(w->fp) ? GL_ERR_IO : GL_OK;
}

void gl_head_write_row(gl_head_writer *w, const char *id, const float *probs) {
    int nc = w->head->a.n_classes;
    gl_csv_write_field(w->fp, id);
    for (int c = 0; c < nc; c++)
        fprintf(w->fp, ",%.8g", probs[c]);
    if (w->threshold < 0) {
        fputc('\n', w->fp);
        return;
    }
    /* the demo keeps p > threshold, strictly; we join the names with "," as the data set's types */
    char labels[2048];
    size_t n = 0;
    labels[0] = 0;
    for (int c = 0; c < nc; c++)
        if (probs[c] > w->threshold && n < sizeof labels)
            n += (size_t)snprintf(labels + n, sizeof labels - n, "%s%s", n ? "," : "",
                                  w->head->classes[c]);
    fputc(',', w->fp);
    gl_csv_write_field(w->fp, n ? labels : "None");
    fputc('\n', w->fp);
}

/* One batch of rows: inputs gathered for the head, and what callers need of each row. */
typedef struct {
    float *clip, *probs, *targets; /* [PREDICT_BATCH, clip_dim / n_classes / n_classes] */
    int *dist;
    gl_split *split;
    char (*ids)[HEADS_ID_MAX];
    int n;
} batch;

static void batch_free(batch *b) {
    free(b->clip);
    free(b->probs);
    free(b->targets);
    free(b->dist);
    free(b->split);
    free(b->ids);
}

static gl_status flush_batch(const gl_head *h, batch *b, heads_batch_fn fn, void *ctx,
                             gl_error *err) {
    gl_status s = gl_head_forward(h, b->clip, b->dist, b->n, b->probs, err);
    if (s) return s;
    gl_sigmoid_inplace(b->probs, (size_t)b->n * h->a.n_classes);
    s = fn(ctx, b->n, (const char(*)[HEADS_ID_MAX])b->ids, b->split, b->probs, b->targets, err);
    b->n = 0;
    return s;
}

gl_status heads_run_rows(const gl_head *h, const char *data_path, int keep_bad_rows,
                         const gl_shard *shard, heads_batch_fn fn, void *ctx, long *n_rows,
                         long *n_bad, gl_error *err) {
    *n_rows = *n_bad = 0;
    int cd = h->a.clip_dim, c = h->a.n_classes;
    batch b = {malloc((size_t)PREDICT_BATCH * cd * sizeof(float)),
               malloc((size_t)PREDICT_BATCH * c * sizeof(float)),
               malloc((size_t)PREDICT_BATCH * c * sizeof(float)),
               malloc(PREDICT_BATCH * sizeof(int)),
               malloc(PREDICT_BATCH * sizeof(gl_split)),
               malloc(PREDICT_BATCH * sizeof *b.ids),
               0};
    gl_hreader *r = gl_hreader_open(data_path, cd, keep_bad_rows, err);
    gl_status s = !r ? err->code : GL_OK;
    if (!s && (!b.clip || !b.probs || !b.targets || !b.dist || !b.split || !b.ids))
        s = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", data_path);
    gl_hrow row;
    int rc = 0;
    while (!s && (rc = gl_hreader_next(r, &row, err)) == 1) {
        if (!gl_shard_owns_input(shard, row.id)) continue; /* another shard's row */
        memcpy(b.clip + (size_t)b.n * cd, row.embedding, (size_t)cd * sizeof(float));
        b.dist[b.n] = gl_head_dist_index(h, row.distance);
        b.split[b.n] = row.split;
        heads_row_targets(h, &row, b.targets + (size_t)b.n * c);
        snprintf(b.ids[b.n], sizeof b.ids[0], "%s", row.id);
        *n_rows += !row.bad; /* a kept bad row is written, but was not predicted */
        if (++b.n == PREDICT_BATCH) s = flush_batch(h, &b, fn, ctx, err);
    }
    if (!s && rc < 0) s = err->code;
    if (!s && b.n) s = flush_batch(h, &b, fn, ctx, err);
    if (r) *n_bad = gl_hreader_bad_rows(r);
    gl_hreader_free(r);
    batch_free(&b);
    return s;
}

static gl_status write_rows(void *ctx, int n, const char (*ids)[HEADS_ID_MAX],
                            const gl_split *split, const float *probs, const float *targets,
                            gl_error *err) {
    gl_head_writer *w = ctx;
    (void)split, (void)targets, (void)err;
    for (int i = 0; i < n; i++)
        gl_head_write_row(w, ids[i], probs + (size_t)i * w->head->a.n_classes);
    return GL_OK;
}

gl_status gl_head_predict_file(const gl_head *h, const char *data_path, const char *out_csv,
                               float threshold, int keep_bad_rows, const gl_shard *shard,
                               long *n_rows, long *n_bad, gl_error *err) {
    *n_rows = *n_bad = 0;
    gl_atomic_file f;
    gl_status s = gl_atomic_open(&f, out_csv, err);
    if (s) return s;
    gl_head_writer w = {f.fp, h, threshold};
    s = gl_head_write_header(&w);
    if (!s)
        s = heads_run_rows(h, data_path, keep_bad_rows, shard, write_rows, &w, n_rows, n_bad, err);
    if (s) {
        gl_atomic_abort(&f);
        return s;
    }
    return gl_atomic_commit(&f, err);
}
