/* heads.h: what the heads subsystem's files share: the head's layout in memory, its safetensors
 * container (written here, read with io/safetensors) and the random numbers training uses. */
#ifndef GEOLABEL_HEADS_H
#define GEOLABEL_HEADS_H

#include "core/rng.h"
#include "geolabel.h"

#include "io/safetensors.h"

#include <cjson/cJSON.h>

struct gl_head {
    char *path;
    gl_head_arch a;
    char **classes;   /* [n_classes] */
    char **dist_keys; /* the distance map: dist_keys[i] -> dist_vals[i] */
    int *dist_vals;
    int n_dist_keys;
    float *params; /* one block: emb, w1, b1, w2, b2 (so optimisers see one vector) */
    size_t n_params;
    float *emb; /* [n_dist, dist_dim] */
    float *w1;  /* [hidden, clip_dim + dist_dim] row-major, y = x W1^T + b1 */
    float *b1;  /* [hidden] */
    float *w2;  /* [n_classes, hidden] */
    float *b2;  /* [n_classes] */
};

/* The metric kernels of eval --head (metrics.c), on probs/targets [n, c]: precision, recall and
 * F1 at per-class thresholds (micro/macro may be NULL), and average precision of one column. */
void gl_multilabel_prf(const float *probs, const float *targets, long n, int c,
                       const double *thresholds, double *precision, double *recall, double *f1,
                       double *micro_f1, double *macro_f1);
double gl_average_precision(const float *scores, const float *targets, long n, int stride);

/* A new head with zeroed parameters; classes and dist map are copied. NULL on bad sizes. */
gl_head *heads_new(const gl_head_arch *a, const char *const *classes, const char *const *dist_keys,
                   const int *dist_vals, int n_dist_keys, gl_error *err);
/* The Geograph project's DIST_MAP, for heads trained here. */
void heads_geograph_dist_map(const char **keys, int *vals, int *n);
/* PyTorch's default initialisation: Linear U(+-1/sqrt(fan_in)), Embedding N(0,1). */
void heads_init_params(gl_head *h, gl_rng *r);

/* Safetensors writing: named F32 tensors plus string metadata, atomically. */
typedef struct {
    const char *name;
    const float *data;
    int ndim;
    int64_t shape[4];
} heads_tensor;
gl_status heads_st_write(const char *path, const heads_tensor *t, int n, const cJSON *metadata,
                         gl_error *err);
/* Reads a safetensors file's __metadata__ object (caller frees with cJSON_Delete). */
gl_status heads_st_metadata(const char *path, cJSON **out, gl_error *err);
/* The head's tensors, in state-dict names. out must hold 5 entries. */
void heads_tensors(const gl_head *h, heads_tensor *out);
cJSON *heads_metadata(const gl_head *h);
/* Loads a head from a safetensors file; when st_out is non-NULL the open file is handed back
 * (the caller closes it with gl_st_close) so training state can be read from it too. */
gl_head *heads_load_safetensors(const char *path, gl_safetensors *st_out, cJSON **meta_out,
                                gl_error *err);

/* X [n, clip_dim + dist_dim] = concat(clip rows, emb[dist_idx]). */
void heads_assemble(const gl_head *h, const float *clip, const int *dist_idx, int n, float *x);

/* Sets every class's targets in the head's order from a data set row. */
void heads_row_targets(const gl_head *h, const gl_hrow *row, float *out);

/* Row ids (gridimage_id, or an image path) are kept up to this many bytes, NUL included. */
#define HEADS_ID_MAX 1024

/* Streams a data set through a head in batches: fn gets each batch's ids, splits, probabilities
 * and mapped targets ([n, n_classes] each). Bad rows are skipped or kept as the reader does. */
typedef gl_status (*heads_batch_fn)(void *ctx, int n, const char (*ids)[HEADS_ID_MAX],
                                    const gl_split *split, const float *probs, const float *targets,
                                    gl_error *err);
/* shard (NULL: all rows) keeps the rows whose id it owns; n_rows counts the good rows passed on
 * (not kept bad ones), n_bad every bad row read. */
gl_status heads_run_rows(const gl_head *h, const char *data_path, int keep_bad_rows,
                         const gl_shard *shard, heads_batch_fn fn, void *ctx, long *n_rows,
                         long *n_bad, gl_error *err);

/* Training workspace for up to `cap` rows (caller fills x, then calls heads_loss_grad). */
typedef struct {
    int cap;
    float *x;    /* [cap, clip_dim + dist_dim] inputs */
    float *a1;   /* [cap, hidden] ReLU output */
    float *a1d;  /* [cap, hidden] after dropout */
    float *z2;   /* [cap, n_classes] logits */
    float *dz2;  /* [cap, n_classes] */
    float *da;   /* [cap, hidden] */
    float *dxd;  /* [cap, dist_dim] gradient of the distance embedding inputs */
    float *grad; /* [n_params], laid out as gl_head.params */
} heads_work;
gl_status heads_work_init(heads_work *w, const gl_head *h, int cap, gl_error *err);
void heads_work_free(heads_work *w);
/* The reference loss on w->x [n, D] with dist [n], targets [n, C], weights [n]: mean over rows of
 * weight * mean over classes of BCEWithLogits. mask [n, hidden] holds dropout multipliers (0 or
 * 1/(1-p)), NULL in eval mode. With want_grad, w->grad = dLoss/dparams. Logits stay in w->z2. */
double heads_loss_grad(const gl_head *h, heads_work *w, int n, const int *dist,
                       const float *targets, const float *weights, const float *mask,
                       int want_grad);

#endif
