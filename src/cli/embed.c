/* embed.c: `geolabel embed --model M IMAGE... -o out.npy|out.jsonl` (or --text STRING...):
 * raw or L2-normalised CLIP embeddings in input order. */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>

static void usage(FILE *fp) {
    fprintf(fp, "usage: geolabel embed --model M [--arch A] [--text] [--normalize] [--batch N]\n"
                "                      [--threads N] [--dtype f32|bf16|int8] -o OUT.npy|OUT.jsonl "
                "INPUT...\n"
                "  INPUT                     image files, or with --text the strings to embed\n");
    cli_help(fp, CLI_O_MODEL);
    cli_help(fp, CLI_O_ARCH);
    fprintf(fp,
            "  -o, --output OUT          OUT.npy: float32 [N, projection_dim] in input order;\n"
            "                            OUT.jsonl: {\"id\": input, \"embeddings\": base64 of\n"
            "                            little-endian float32} per line\n"
            "  --text                    the inputs are strings (the text tower)\n"
            "  --normalize               L2-normalise each row (default: raw get_*_features)\n");
    cli_help(fp, CLI_O_BATCH);
    cli_help(fp, CLI_O_THREADS);
    cli_dtype_help(fp);
    cli_help(fp, CLI_O_HELP);
    cli_shard_help(fp);
}

int cmd_embed(int argc, char **argv) {
    const struct option opts[] = {CLI_OPT(MODEL),
                                  {"text", no_argument, 0, 't'},
                                  {"normalize", no_argument, 0, 'n'},
                                  CLI_OPT(BATCH),
                                  CLI_OPT(THREADS),
                                  CLI_OPT(DTYPE),
                                  CLI_OPT(OUTPUT),
                                  CLI_OPT(ARCH),
                                  CLI_OPT(HELP),
                                  CLI_SHARD_OPTS,
                                  {0, 0, 0, 0}};
    const char *model = NULL, *out = NULL;
    int text = 0, normalize = 0, c;
    cli_shard shard = {0};
    gl_clip_params p = gl_clip_default_params();
    p.max_batch = CLI_DEFAULT_BATCH;
    optind = 1;
    while ((c = cli_getopt(argc, argv, "m:o:h", opts, NULL)) != -1) {
        if (c == 'm' || c == CLI_O_MODEL)
            model = optarg;
        else if (c == 'o' || c == CLI_O_OUTPUT)
            out = optarg;
        else if (c == CLI_O_ARCH)
            p.arch = optarg;
        else if (c == 't')
            text = 1;
        else if (c == 'n')
            normalize = 1;
        else if (c == CLI_O_BATCH &&
                 (p.max_batch = cli_parse_int("embed", "--batch", optarg, 1, 4096)) < 0)
            return CLI_USAGE;
        else if (c == CLI_O_THREADS &&
                 (p.threads = cli_parse_shared_int("embed", CLI_O_THREADS, optarg)) < 0)
            return CLI_USAGE;
        else if (c == CLI_O_DTYPE && cli_parse_dtype("embed", optarg, &p.dtype))
            return CLI_USAGE;
        else if (c == 'h' || c == CLI_O_HELP)
            return usage(stdout), CLI_OK;
        else if ((c == CLI_O_SHARD || c == CLI_O_SHARD_BY || c == CLI_O_SHARD_COUNT) &&
                 cli_shard_option("embed", c, optarg, &shard))
            return CLI_USAGE;
        else if (c == '?')
            return CLI_USAGE; /* cli_getopt said why */
    }
    if (!model || !out) return cli_usage_error("embed", "--model and -o are required");
    int n = argc - optind;
    if (n < 1) return cli_usage_error("embed", "no %s to embed", text ? "texts" : "images");
    if (cli_shard_resolve("embed", &shard)) return CLI_USAGE;
    /* A shard embeds its share of the inputs, in their order; its rows merge by id. */
    long total = n, *ordinals = malloc(((size_t)n + 1) * sizeof *ordinals);
    if (!ordinals) return fprintf(stderr, "geolabel: out of memory\n"), CLI_FAIL;
    n = cli_shard_keep(&shard, argv + optind, n, ordinals);
    const char *const *inputs = (const char *const *)argv + optind;
    gl_error err = {0};
    gl_clip *clip = gl_clip_load(model, &p, &err);
    if (!clip) return free(ordinals), cli_report(&err);
    int dim = gl_clip_projection_dim(clip);
    float *embeds = malloc(sizeof(float) * (size_t)(n ? n : 1) * dim); /* a shard may be empty */
    gl_status s = embeds ? GL_OK : gl_fail(&err, GL_ERR_NOMEM, "embed: out of memory");
    if (!s)
        s = text ? gl_clip_encode_texts(clip, inputs, n, embeds, &err)
                 : gl_clip_encode_image_files(clip, inputs, n, embeds, &err);
    if (!s && normalize) gl_l2_normalize_rows(embeds, n, dim);
    if (!s) s = gl_embeddings_write(out, inputs, embeds, n, dim, &err);
    free(embeds);
    cli_shard_model(&shard, clip);
    gl_clip_free(clip);
    int rc = s ? cli_report(&err)
               : cli_shard_record("embed", optind - 1, argv + 1, &shard, out, argv + optind,
                                  ordinals, n, total);
    free(ordinals);
    return rc;
}
