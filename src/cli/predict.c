/* predict.c: `geolabel predict --head CKPT` over a data set (--data), or over images through the
 * CLIP engine (--image IMG... --distance D, or --meta CSV with id,path,e1,n1,e2,n2). */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp) {
    fprintf(fp,
            "usage: geolabel predict --head CKPT (--data ROWS.jsonl[.gz] | --model M --image "
            "IMG... [--distance D]\n"
            "                        | --model M --meta META.csv) -o PROBS.csv [--threshold T]\n"
            "  --data: the data set's JSONL (gridimage_id, distance, embeddings)\n"
            "  --image: images to embed with the CLIP model --model; --distance applies to all "
            "(default Unknown)\n"
            "  --meta: CSV with columns id,path,e1,n1,e2,n2 (national-grid subject and camera)\n"
            "  output: gridimage_id, one probability per class in checkpoint order; --threshold T "
            "adds\n"
            "          a labels column: classes with p > T joined by ',' or None\n");
    cli_help(fp, CLI_O_HEAD);
    cli_help(fp, CLI_O_DATA);
    cli_help(fp, CLI_O_KEEP_BAD_ROWS);
    cli_help(fp, CLI_O_MODEL);
    cli_help(fp, CLI_O_ARCH);
    cli_help(fp, CLI_O_OUTPUT);
    cli_help(fp, CLI_O_THREADS);
    fprintf(fp, "                            (the head's BLAS and the CLIP towers)\n");
    cli_dtype_help(fp);
    cli_help(fp, CLI_O_HELP);
    cli_shard_help(fp);
}

typedef struct {
    const char *head, *data, *model, *arch, *distance, *meta, *out;
    float threshold;
    int keep_bad, threads;
    gl_dtype dtype;
    char **images;
    int n_images;
    cli_shard shard;
    long *ordinals; /* --image: the kept images' places (sharded runs) */
    int total, n_opts;
} predict_args;

#define IMAGE_CHUNK 32

/* Embeds n images, runs the head, writes rows. ids and dists are per image. */
static gl_status predict_images(gl_clip *clip, const gl_head *h, gl_head_writer *w,
                                const char *const *ids, const char *const *paths, const int *dists,
                                int n, gl_error *err) {
    gl_head_arch a = gl_head_get_arch(h);
    float *emb = malloc(sizeof(float) * (size_t)n * a.clip_dim),
          *logits = malloc(sizeof(float) * (size_t)n * a.n_classes);
    gl_status s = emb && logits ? GL_OK : gl_fail(err, GL_ERR_NOMEM, "predict: out of memory");
    if (!s) s = gl_clip_encode_image_files(clip, paths, n, emb, err);
    if (!s) s = gl_head_forward(h, emb, dists, n, logits, err);
    if (!s) {
        gl_sigmoid_inplace(logits, (size_t)n * a.n_classes);
        for (int i = 0; i < n; i++)
            gl_head_write_row(w, ids[i], logits + (size_t)i * a.n_classes);
    }
    free(emb);
    free(logits);
    return s;
}

static gl_status run_meta(gl_clip *clip, const gl_head *h, gl_head_writer *w, const char *meta,
                          const gl_shard *shard, gl_error *err) {
    gl_csv *csv = gl_csv_open(meta, 1, err);
    if (!csv) return err->code;
    const char *cols[6] = {"id", "path", "e1", "n1", "e2", "n2"};
    int idx[6];
    for (int k = 0; k < 6; k++)
        if ((idx[k] = gl_csv_column(csv, cols[k])) < 0) {
            gl_csv_free(csv);
            return gl_fail(err, GL_ERR_FORMAT, "%s: no '%s' column (need id,path,e1,n1,e2,n2)",
                           meta, cols[k]);
        }
    char *ids[IMAGE_CHUNK] = {0}, *paths[IMAGE_CHUNK] = {0};
    int dists[IMAGE_CHUNK], n = 0, rc;
    gl_status s = GL_OK;
    while (!s && (rc = gl_csv_next(csv, err)) != 0) {
        if (rc < 0) {
            s = err->code;
            break;
        }
        if (!gl_shard_owns_input(shard, gl_csv_field(csv, idx[1]))) continue; /* by image path */
        double v[4];
        for (int k = 0; k < 4; k++) {
            char *end;
            v[k] = strtod(gl_csv_field(csv, idx[k + 2]), &end);
            if (end == gl_csv_field(csv, idx[k + 2]) || *end)
                s = gl_fail(err, GL_ERR_FORMAT, "%s:%ld: %s is not a number", meta,
                            gl_csv_line(csv), cols[k + 2]);
        }
        if (s) break;
        char dist[32];
        gl_geograph_distance(v[0], v[1], v[2], v[3], dist, sizeof dist);
        dists[n] = gl_head_dist_index(h, dist);
        ids[n] = strdup(gl_csv_field(csv, idx[0]));
        paths[n] = strdup(gl_csv_field(csv, idx[1]));
        if (!ids[n] || !paths[n]) s = gl_fail(err, GL_ERR_NOMEM, "predict: out of memory");
        if (++n == IMAGE_CHUNK || s) {
            if (!s)
                s = predict_images(clip, h, w, (const char *const *)ids, (const char *const *)paths,
                                   dists, n, err);
            for (int i = 0; i < n; i++)
                free(ids[i]), free(paths[i]), ids[i] = paths[i] = NULL;
            n = 0;
        }
    }
    if (!s && n)
        s = predict_images(clip, h, w, (const char *const *)ids, (const char *const *)paths, dists,
                           n, err);
    for (int i = 0; i < n; i++)
        free(ids[i]), free(paths[i]);
    gl_csv_free(csv);
    return s;
}

static int run_clip(predict_args *a, const gl_head *h) {
    gl_error err = {0};
    gl_clip_params cp = gl_clip_default_params();
    if (a->threads) cp.threads = a->threads;
    cp.arch = a->arch;
    cp.dtype = a->dtype;
    gl_clip *clip = gl_clip_load(a->model, &cp, &err);
    if (!clip) return cli_report(&err);
    cli_shard_model(&a->shard, clip);
    gl_status s = GL_OK;
    if (gl_clip_projection_dim(clip) != gl_head_get_arch(h).clip_dim)
        s = gl_fail(&err, GL_ERR_SHAPE, "%s: embeddings have %d dimensions but the head takes %d",
                    a->model, gl_clip_projection_dim(clip), gl_head_get_arch(h).clip_dim);
    gl_atomic_file f = {0};
    if (!s) s = gl_atomic_open(&f, a->out, &err);
    gl_head_writer w = {f.fp, h, a->threshold};
    if (!s) gl_head_write_header(&w);
    if (!s && a->meta) s = run_meta(clip, h, &w, a->meta, &a->shard.shard, &err);
    for (int i0 = 0; !s && !a->meta && i0 < a->n_images; i0 += IMAGE_CHUNK) {
        int n = a->n_images - i0 < IMAGE_CHUNK ? a->n_images - i0 : IMAGE_CHUNK, dists[IMAGE_CHUNK];
        for (int i = 0; i < n; i++)
            dists[i] = gl_head_dist_index(h, a->distance);
        const char *const *p = (const char *const *)a->images + i0;
        s = predict_images(clip, h, &w, p, p, dists, n, &err);
    }
    if (f.fp) s = s ? (gl_atomic_abort(&f), s) : gl_atomic_commit(&f, &err);
    gl_clip_free(clip);
    return s ? cli_report(&err) : CLI_OK;
}

static int parse(int argc, char **argv, predict_args *a) {
    const struct option opts[] = {CLI_OPT(ARCH),
                                  CLI_OPT(HEAD),
                                  CLI_OPT(DATA),
                                  CLI_OPT(MODEL),
                                  {"image", no_argument, 0, 'i'},
                                  {"distance", required_argument, 0, 'D'},
                                  {"meta", required_argument, 0, 'M'},
                                  CLI_OPT(OUTPUT),
                                  {"threshold", required_argument, 0, 't'},
                                  CLI_OPT(KEEP_BAD_ROWS),
                                  CLI_OPT(THREADS),
                                  CLI_OPT(DTYPE),
                                  CLI_OPT(HELP),
                                  CLI_SHARD_OPTS,
                                  {0, 0, 0, 0}};
    int c, image = 0;
    memset(a, 0, sizeof *a);
    a->threshold = -1;
    a->distance = "Unknown";
    optind = 1;
    while ((c = cli_getopt(argc, argv, "o:h", opts, NULL)) != -1) {
        char *end;
        if (c == CLI_O_HEAD)
            a->head = optarg;
        else if (c == CLI_O_DATA)
            a->data = optarg;
        else if (c == CLI_O_MODEL)
            a->model = optarg;
        else if (c == CLI_O_ARCH)
            a->arch = optarg;
        else if (c == 'i')
            image = 1;
        else if (c == 'D')
            a->distance = optarg;
        else if (c == 'M')
            a->meta = optarg;
        else if (c == 'o' || c == CLI_O_OUTPUT)
            a->out = optarg;
        else if (c == CLI_O_KEEP_BAD_ROWS)
            a->keep_bad = 1;
        else if (c == CLI_O_THREADS &&
                 (a->threads = cli_parse_shared_int("predict", CLI_O_THREADS, optarg)) < 0)
            return CLI_USAGE;
        else if (c == CLI_O_DTYPE && cli_parse_dtype("predict", optarg, &a->dtype))
            return CLI_USAGE;
        else if (c == 't' &&
                 (!((a->threshold = strtof(optarg, &end)) >= 0 && a->threshold <= 1) || *end))
            return cli_usage_error("predict", "--threshold takes a number in [0,1], not '%s'",
                                   optarg);
        else if (c == 'h' || c == CLI_O_HELP)
            return usage(stdout), -1;
        else if ((c == CLI_O_SHARD || c == CLI_O_SHARD_BY || c == CLI_O_SHARD_COUNT) &&
                 cli_shard_option("predict", c, optarg, &a->shard))
            return CLI_USAGE;
        else if (c == '?')
            return CLI_USAGE; /* cli_getopt said why */
    }
    a->images = argv + optind;
    a->n_images = argc - optind;
    if (!a->head || !a->out) return cli_usage_error("predict", "--head and -o are required");
    if (!!a->data + !!image + !!a->meta != 1)
        return cli_usage_error("predict", "give exactly one of --data, --image, --meta");
    if (a->n_images && !image)
        return cli_usage_error("predict", "unexpected argument '%s'", a->images[0]);
    if (image && !a->n_images) return cli_usage_error("predict", "--image needs image files");
    if (!a->data && !a->model) return cli_usage_error("predict", "--image and --meta need --model");
    if (cli_shard_resolve("predict", &a->shard)) return CLI_USAGE;
    a->n_opts = optind - 1;
    a->total = a->n_images;
    if (!(a->ordinals = malloc(((size_t)a->n_images + 1) * sizeof *a->ordinals)))
        return fprintf(stderr, "geolabel: out of memory\n"), CLI_FAIL;
    a->n_images = cli_shard_keep(&a->shard, a->images, a->n_images, a->ordinals);
    return 0;
}

/* The shard's manifest: --image lists its images; --data and --meta rows are not listed. */
static int record(predict_args *a, char **argv, int rc) {
    if (!rc)
        rc = cli_shard_record("predict", a->n_opts, argv + 1, &a->shard, a->out,
                              a->images && a->n_images >= 0 && !a->data && !a->meta ? a->images
                                                                                    : NULL,
                              a->ordinals, a->n_images, a->total);
    free(a->ordinals);
    return rc;
}

int cmd_predict(int argc, char **argv) {
    predict_args a;
    int rc = parse(argc, argv, &a);
    if (rc) return free(a.ordinals), rc < 0 ? CLI_OK : rc;
    if (a.threads) gl_blas_set_threads(a.threads);
    gl_error err = {0};
    gl_head *h = gl_head_load(a.head, &err);
    if (!h) return record(&a, argv, cli_report(&err));
    if ((rc = cli_shard_head(&a.shard, h))) {
        gl_head_free(h);
        return record(&a, argv, rc);
    }
    if (!a.data) {
        rc = run_clip(&a, h);
        gl_head_free(h);
        return record(&a, argv, rc);
    }
    long rows, bad;
    gl_status s = gl_head_predict_file(h, a.data, a.out, a.threshold, a.keep_bad, &a.shard.shard,
                                       &rows, &bad, &err);
    gl_head_free(h);
    if (s) return record(&a, argv, cli_report(&err));
    gl_log(GL_LOG_INFO, "predict: %ld rows predicted into %s", rows, a.out);
    if (bad)
        fprintf(stderr, "geolabel predict: %ld bad row%s %s\n", bad, bad == 1 ? "" : "s",
                a.keep_bad ? "kept as zero vectors" : "skipped");
    /* rows counts the good rows (kept bad rows are not among them) */
    if (bad && rows == 0) {
        fprintf(stderr, "geolabel predict: %s: every row was bad; nothing was predicted\n", a.data);
        return record(&a, argv, CLI_FAIL);
    }
    return record(&a, argv, CLI_OK);
}
