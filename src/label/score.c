/* score.c: the one scoring stage every path shares: prompts from templates, CLIP's logits
 * (scale x cosine), their softmax or only the top k, and the one top-k selection. */
/* The stage lives in src/label (DESIGN.md's label/score) but is public API, so geo/ (locate,
 * GeoCLIP retrieval) reuses it through geolabel.h without reaching into label's private headers,
 * and clip/ stays below both. */
#include "geolabel.h"

#include "core/blas.h"
#include "core/vecmath.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

char *gl_prompt_fill(const char *tmpl, const char *slot, const char *name) {
    size_t sl = strlen(slot), nl = strlen(name), holes = 0;
    for (const char *s = sl ? strstr(tmpl, slot) : NULL; s; s = strstr(s + sl, slot))
        holes++;
    char *out = malloc(strlen(tmpl) + holes * nl + 1), *o = out;
    if (!out) return NULL;
    for (const char *s = tmpl;;) {
        const char *hit = sl ? strstr(s, slot) : NULL;
        size_t k = hit ? (size_t)(hit - s) : strlen(s);
        memcpy(o, s, k);
        o += k;
        if (!hit) break;
        memcpy(o, name, nl);
        o += nl;
        s = hit + sl;
    }
    *o = 0;
    return out;
}

int gl_top_k(const float *x, int n, int k, int *idx) {
    int have = 0;
    for (int j = 0; j < n && k > 0; j++) {
        if (have == k && !(x[j] > x[idx[k - 1]])) continue;
        int at = have < k ? have++ : k - 1;
        while (at > 0 && x[idx[at - 1]] < x[j]) {
            idx[at] = idx[at - 1];
            at--;
        }
        idx[at] = j;
    }
    return have;
}

/* The k best of one row of logits with their softmax probabilities over the whole row: the
 * normaliser is one pass of exp, and nothing of size m is written (a 100K-row GeoCLIP gallery).
 * The normaliser is gl_softmax_rows' own, so both paths give the same probabilities. */
static int top_k_probs(const float *logits, int m, int k, int *idx, float *prob) {
    float mx;
    double sum = gl_softmax_denominator(logits, m, &mx);
    int n = gl_top_k(logits, m, k, idx);
    for (int i = 0; i < n; i++)
        prob[i] = (float)(exp((double)logits[idx[i]] - mx) / sum);
    return n;
}

gl_status gl_scores_from_embeddings(const float *a, int n, const float *b, int m, int dim,
                                    float scale, int top_k, float *logits, float *probs, int *idx,
                                    gl_error *err) {
    if (n < 0 || m < 1 || dim < 1 || top_k < 0 || top_k > m)
        return gl_fail(err, GL_ERR_ARG, "scores: %d x %d rows of %d with top-k %d", n, m, dim,
                       top_k);
    if (n == 0) return GL_OK;
    /* CLIPModel: logits_per_image = logit_scale.exp() * image_embeds @ text_embeds.t() */
    gl_sgemm_nt(n, m, dim, scale, a, dim, b, dim, 0.0f, logits, m);
    if (top_k == 0) {
        if (probs != logits) memcpy(probs, logits, (size_t)n * m * sizeof(float));
        gl_softmax_rows(probs, n, m);
        return GL_OK;
    }
    for (int i = 0; i < n; i++)
        top_k_probs(logits + (size_t)i * m, m, top_k, idx + (size_t)i * top_k,
                    probs + (size_t)i * top_k);
    return GL_OK;
}
