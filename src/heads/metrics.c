/* metrics.c: multi-label metrics (precision, recall, F1 per class, micro and macro F1, average
 * precision as scikit-learn defines it) and `eval --head` over a data set's val and tes splits. */
#include "heads/heads.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double ratio(double a, double b) {
    return b > 0 ? a / b : 0.0;
}

/* Predictions are p > threshold, strictly, as in the project's demo. */
static void class_counts(const float *probs, const float *targets, long n, int c, int k, double thr,
                         double *tp, double *fp, double *fn) {
    *tp = *fp = *fn = 0;
    for (long i = 0; i < n; i++) {
        int pred = probs[i * c + k] > thr, truth = targets[i * c + k] > 0.5f;
        *tp += pred && truth;
        *fp += pred && !truth;
        *fn += !pred && truth;
    }
}

void gl_multilabel_prf(const float *probs, const float *targets, long n, int c,
                       const double *thresholds, double *precision, double *recall, double *f1,
                       double *micro_f1, double *macro_f1) {
    double TP = 0, FP = 0, FN = 0, sum_f1 = 0;
    for (int k = 0; k < c; k++) {
        double tp, fp, fn;
        class_counts(probs, targets, n, c, k, thresholds[k], &tp, &fp, &fn);
        if (precision) precision[k] = ratio(tp, tp + fp);
        if (recall) recall[k] = ratio(tp, tp + fn);
        double f = ratio(2 * tp, 2 * tp + fp + fn);
        if (f1) f1[k] = f;
        sum_f1 += f;
        TP += tp, FP += fp, FN += fn;
    }
    if (micro_f1) *micro_f1 = ratio(2 * TP, 2 * TP + FP + FN);
    if (macro_f1) *macro_f1 = c ? sum_f1 / c : 0;
}

typedef struct {
    float score;
    int pos;
} scored;

static int by_score_desc(const void *a, const void *b) {
    float x = ((const scored *)a)->score, y = ((const scored *)b)->score;
    return (x < y) - (x > y);
}

/* AP = sum over distinct score thresholds (high to low) of (R_k - R_{k-1}) * P_k. */
double gl_average_precision(const float *scores, const float *targets, long n, int stride) {
    scored *s = malloc((size_t)(n ? n : 1) * sizeof *s);
    if (!s) return NAN;
    long positives = 0;
    for (long i = 0; i < n; i++) {
        s[i].score = scores[i * stride];
        s[i].pos = targets[i * stride] > 0.5f;
        positives += s[i].pos;
    }
    if (!positives) {
        free(s);
        return NAN;
    }
    qsort(s, (size_t)n, sizeof *s, by_score_desc);
    double ap = 0, tp = 0, prev_recall = 0;
    for (long i = 0; i < n;) {
        long j = i;
        while (j < n && s[j].score == s[i].score)
            tp += s[j++].pos;
        double recall = tp / positives;
        ap += (recall - prev_recall) * (tp / (double)j);
        prev_recall = recall;
        i = j;
    }
    free(s);
    return ap;
}

/* ------------------------------------------------------------------ eval --head */

typedef struct {
    float *probs, *targets; /* [n, c] */
    long n, cap;
} split_buf;

static int split_push(split_buf *b, int c, const float *p, const float *t) {
    if (b->n == b->cap) {
        long cap = b->cap ? b->cap * 2 : 1024;
        float *np = realloc(b->probs, (size_t)cap * c * sizeof *np);
        if (!np) return -1;
        b->probs = np;
        float *nt = realloc(b->targets, (size_t)cap * c * sizeof *nt);
        if (!nt) return -1;
        b->targets = nt;
        b->cap = cap;
    }
    memcpy(b->probs + (size_t)b->n * c, p, (size_t)c * sizeof *p);
    memcpy(b->targets + (size_t)b->n * c, t, (size_t)c * sizeof *t);
    b->n++;
    return 0;
}

typedef struct {
    split_buf val, tes;
    int c;
    const char *path;
} eval_ctx;

static gl_status keep_rows(void *ctx, int n, const char (*ids)[HEADS_ID_MAX], const gl_split *split,
                           const float *probs, const float *targets, gl_error *err) {
    eval_ctx *e = ctx;
    (void)ids;
    for (int i = 0; i < n; i++) {
        if (split[i] != GL_SPLIT_VAL && split[i] != GL_SPLIT_TES) continue;
        if (split_push(split[i] == GL_SPLIT_VAL ? &e->val : &e->tes, e->c, probs + (size_t)i * e->c,
                       targets + (size_t)i * e->c))
            return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", e->path);
    }
    return GL_OK;
}

#define TUNE_STEPS 99

static void tune_thresholds(const split_buf *val, int c, double *thr) {
    for (int k = 0; k < c; k++) {
        double best = -1;
        thr[k] = 0.5;
        for (int step = 1; step <= TUNE_STEPS; step++) {
            double t = step / 100.0, tp, fp, fn;
            class_counts(val->probs, val->targets, val->n, c, k, t, &tp, &fp, &fn);
            double f1 = ratio(2 * tp, 2 * tp + fp + fn);
            if (f1 > best) best = f1, thr[k] = t;
        }
    }
}

gl_status gl_head_eval_file(const gl_head *h, const char *data_path, int keep_bad_rows,
                            gl_head_eval *out, gl_error *err) {
    memset(out, 0, sizeof *out);
    int c = h->a.n_classes;
    eval_ctx ctx = {.c = c, .path = data_path};
    long n_rows, n_bad;
    gl_status s =
        heads_run_rows(h, data_path, keep_bad_rows, NULL, keep_rows, &ctx, &n_rows, &n_bad, err);
    split_buf val = ctx.val, tes = ctx.tes;
    if (!s && !tes.n)
        s = gl_fail(err, GL_ERR_FORMAT, "%s: the 'tes' split is empty: nothing to evaluate",
                    data_path);
    if (!s && !val.n)
        s = gl_fail(err, GL_ERR_FORMAT,
                    "%s: the 'val' split is empty: no rows to tune thresholds on", data_path);
    if (!s) {
        out->n_classes = c;
        out->n_val = val.n;
        out->n_test = tes.n;
        double half[GL_HEAD_EVAL_MAX], sum_ap = 0;
        int n_ap = 0;
        for (int k = 0; k < GL_HEAD_EVAL_MAX; k++)
            half[k] = 0.5;
        gl_multilabel_prf(tes.probs, tes.targets, tes.n, c, half, out->precision, out->recall,
                          out->f1, &out->micro_f1, &out->macro_f1);
        tune_thresholds(&val, c, out->tuned_threshold);
        gl_multilabel_prf(tes.probs, tes.targets, tes.n, c, out->tuned_threshold,
                          out->tuned_precision, out->tuned_recall, out->tuned_f1,
                          &out->tuned_micro_f1, &out->tuned_macro_f1);
        for (int k = 0; k < c; k++) {
            out->ap[k] = gl_average_precision(tes.probs + k, tes.targets + k, tes.n, c);
            for (long i = 0; i < tes.n; i++)
                out->support[k] += tes.targets[i * c + k] > 0.5f;
            if (!isnan(out->ap[k])) sum_ap += out->ap[k], n_ap++;
        }
        out->map = n_ap ? sum_ap / n_ap : NAN;
    }
    free(val.probs);
    free(val.targets);
    free(tes.probs);
    free(tes.targets);
    return s;
}
