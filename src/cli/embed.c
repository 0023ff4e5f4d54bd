/* embed.c: `geolabel embed --model M IMAGE... -o out.npy|out.jsonl` (or --text STRING...):
 * raw or L2-normalised CLIP embeddings in input order. */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>

static void usage(FILE *fp) {
    fprintf(
        fp,
        "usage: geolabel embed --model M [--arch A] [--text] [--normalize] [--batch N] [--threads "
        "N]\n"
        "                      -o OUT.npy|OUT.jsonl INPUT...\n"
        "  M: an HF CLIP folder (model.safetensors or pytorch_model.bin), an open_clip folder, a\n"
        "     checkpoint file (.pt/.pth/.bin/.safetensors) with --arch NAME|CONFIG.json, or\n"
        "     ORG/NAME (or ORG/NAME/FILE) pulled with 'geolabel model pull'\n"
        "  INPUT: image files, or with --text the strings to embed\n"
        "  OUT.npy: float32 [N, projection_dim] in input order\n"
        "  OUT.jsonl: {\"id\": input, \"embeddings\": base64 of little-endian float32} per line\n"
        "  --normalize: L2-normalise each row (default: raw get_*_features output)\n"
        "  --batch N: inputs per forward pass (default 8); --threads N (default: all cores)\n");
    cli_shard_help(fp);
}

int cmd_embed(int argc, char **argv) {
    const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                  {"text", no_argument, 0, 't'},
                                  {"normalize", no_argument, 0, 'n'},
                                  {"batch", required_argument, 0, 'b'},
                                  {"threads", required_argument, 0, 'j'},
                                  {"output", required_argument, 0, 'o'},
                                  CLI_OPT(ARCH),
                                  {"help", no_argument, 0, 'h'},
                                  CLI_SHARD_OPTS,
                                  {0, 0, 0, 0}};
    const char *model = NULL, *out = NULL;
    int text = 0, normalize = 0, c;
    cli_shard shard = {0};
    gl_clip_params p = gl_clip_default_params();
    optind = 1;
    while ((c = cli_getopt(argc, argv, "m:o:h", opts, NULL)) != -1) {
        if (c == 'm')
            model = optarg;
        else if (c == 'o')
            out = optarg;
        else if (c == CLI_O_ARCH)
            p.arch = optarg;
        else if (c == 't')
            text = 1;
        else if (c == 'n')
            normalize = 1;
        else if (c == 'b' && (p.max_batch = cli_parse_int("embed", "--batch", optarg, 1, 4096)) < 0)
            return CLI_USAGE;
        else if (c == 'j' && (p.threads = cli_parse_int("embed", "--threads", optarg, 1, 1024)) < 0)
            return CLI_USAGE;
        else if (c == 'h')
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
