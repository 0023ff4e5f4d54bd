/* classify.c: whole-image zero-shot (`geolabel classify`): one prompt per class, the scoring
 * stage's softmax over classes, and the classify CSV with each image's best classes. */
#include "geolabel.h"

#include <stdlib.h>
#include <string.h>

gl_status gl_classify_zeroshot(gl_clip *clip, const float *image_embeds, int n,
                               const char *const *classes, int n_classes, const char *template,
                               float *probs, gl_error *err) {
    if (!template) template = "a photo of {}.";
    if (!strstr(template, "{}"))
        return gl_fail(err, GL_ERR_ARG, "template '%s' has no {} for the class name", template);
    int P = gl_clip_projection_dim(clip);
    char **prompts = calloc((size_t)n_classes, sizeof *prompts);
    float *text = malloc(sizeof(float) * (size_t)n_classes * P),
          *img = malloc(sizeof(float) * (size_t)(n ? n : 1) * P);
    gl_status s =
        prompts && text && img ? GL_OK : gl_fail(err, GL_ERR_NOMEM, "zero-shot: out of memory");
    for (int k = 0; k < n_classes && !s; k++)
        if (!(prompts[k] = gl_prompt_fill(template, "{}", classes[k])))
            s = gl_fail(err, GL_ERR_NOMEM, "zero-shot: out of memory");
    if (!s) s = gl_clip_encode_texts(clip, (const char *const *)prompts, n_classes, text, err);
    if (!s) {
        memcpy(img, image_embeds, sizeof(float) * (size_t)n * P);
        gl_l2_normalize_rows(img, n, P);
        gl_l2_normalize_rows(text, n_classes, P);
        s = gl_scores_from_embeddings(img, n, text, n_classes, P, gl_clip_logit_scale(clip), 0,
                                      probs, probs, NULL, err);
    }
    for (int k = 0; prompts && k < n_classes; k++)
        free(prompts[k]);
    free(prompts);
    free(text);
    free(img);
    return s;
}

void gl_classify_write_csv(FILE *fp, const char *const *filenames, const float *probs, int n,
                           const char *const *classes, int n_classes, int top_k) {
    if (top_k > n_classes) top_k = n_classes;
    if (top_k < 1) top_k = 1;
    int *idx = malloc(sizeof(int) * (size_t)top_k);
    size_t cap = 64;
    for (int k = 0; k < n_classes; k++)
        cap += strlen(classes[k]) + 16;
    char *list = malloc(cap);
    fputs("filename,label,score,top_k\n", fp);
    for (int i = 0; idx && list && i < n; i++) {
        const float *row = probs + (size_t)i * n_classes;
        gl_top_k(row, n_classes, top_k, idx);
        size_t len = 0;
        list[0] = 0;
        for (int t = 0; t < top_k; t++)
            len += (size_t)snprintf(list + len, cap - len, "%s%s:%.6f", t ? ";" : "",
                                    classes[idx[t]], row[idx[t]]);
        char score[32];
        snprintf(score, sizeof score, "%.6f", row[idx[0]]);
        gl_csv_write_field(fp, filenames[i]);
        fputc(',', fp);
        gl_csv_write_field(fp, classes[idx[0]]);
        fputc(',', fp);
        gl_csv_write_field(fp, score);
        fputc(',', fp);
        gl_csv_write_field(fp, list);
        fputc('\n', fp);
    }
    free(idx);
    free(list);
}
