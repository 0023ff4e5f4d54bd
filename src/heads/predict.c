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
    for (int c = 0; c < nc; c++) fprintf(w->fp, ",%.8g", probs[c]);
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
            n += (size_t)snprintf(labels + n, sizeof labels - n, "%s%s", n ? "," : "", w->head->classes[c]);
    fputc(',', w->fp);
    gl_csv_write_field(w->fp, n ? labels : "None");
    fputc('\n', w->fp);
}

typedef struct {
    float *clip, *logits;
    int *dist;
    char (*ids)[64];
    int n;
} batch;

static gl_status flush_batch(const gl_head *h, gl_head_writer *w, batch *b, gl_error *err) {
    gl_status s = gl_head_forward(h, b->clip, b->dist, b->n, b->logits, err);
    if (s) return s;
    gl_sigmoid_inplace(b->logits, (size_t)b->n * h->a.n_classes);
    for (int i = 0; i < b->n; i++) gl_head_write_row(w, b->ids[i], b->logits + (size_t)i * h->a.n_classes);
    b->n = 0;
    return GL_OK;
}

gl_status gl_head_predict_file(const gl_head *h, const char *data_path, const char *out_csv,
                               float threshold, int keep_bad_rows, long *n_rows, long *n_bad,
                               gl_error *err) {
    *n_rows = *n_bad = 0;
    int cd = h->a.clip_dim;
    batch b = {malloc((size_t)PREDICT_BATCH * cd * sizeof(float)),
               malloc((size_t)PREDICT_BATCH * h->a.n_classes * sizeof(float)),
               malloc(PREDICT_BATCH * sizeof(int)), malloc(PREDICT_BATCH * sizeof *b.ids), 0};
    gl_hreader *r = gl_hreader_open(data_path, cd, keep_bad_rows, err);
    gl_atomic_file f = {0};
    gl_status s = !r ? err->code : GL_OK;
    if (!s && (!b.clip || !b.logits || !b.dist || !b.ids)) s = gl_fail(err, GL_ERR_NOMEM, "predict: out of memory");
    if (!s) s = gl_atomic_open(&f, out_csv, err);
    gl_head_writer w = {f.fp, h, threshold};
    if (!s) s = gl_head_write_header(&w);
    gl_hrow row;
    int rc = 0;
    while (!s && (rc = gl_hreader_next(r, &row, err)) == 1) {
        memcpy(b.clip + (size_t)b.n * cd, row.embedding, (size_t)cd * sizeof(float));
        b.dist[b.n] = gl_head_dist_index(h, row.distance);
        snprintf(b.ids[b.n], sizeof b.ids[0], "%s", row.id);
        (*n_rows)++;
        if (++b.n == PREDICT_BATCH) s = flush_batch(h, &w, &b, err);
    }
    if (!s && rc < 0) s = err->code;
    if (!s && b.n) s = flush_batch(h, &w, &b, err);
    if (r) *n_bad = gl_hreader_bad_rows(r);
    gl_hreader_close(r);
    if (f.fp) s = s ? (gl_atomic_abort(&f), s) : gl_atomic_commit(&f, err);
    free(b.clip);
    free(b.logits);
    free(b.dist);
    free(b.ids);
    return s;
}
