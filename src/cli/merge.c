/* merge.c: `geolabel merge OUT SHARD_OUTPUT...`: joins the outputs of a sharded run into one,
 * refusing shards of different runs, missing or repeated shards, and repeated tiles. */
#include "cli.h"

#include <getopt.h>
#include <string.h>

static void usage(FILE *fp) {
    fprintf(
        fp,
        "usage: geolabel merge [--sort] OUT SHARD_OUTPUT...\n"
        "  OUT                       the merged .csv, .geojson or .gpkg (the shards' format;\n"
        "                            the stores of `geolabel index --shard` merge into one)\n"
        "  SHARD_OUTPUT              every shard's output of one run (--shard i/n, or an array\n"
        "                            job), each with its run manifest beside it; all n\n"
        "                            shards, each once\n"
        "  --sort                    rows in the run's input order, then tile row and column,\n"
        "                            as a single process writes them (default: shard 0's\n"
        "                            rows, then shard 1's)\n");
    cli_help(fp, CLI_O_HELP);
}

int cmd_merge(int argc, char **argv) {
    const struct option opts[] = {{"sort", no_argument, 0, 's'}, CLI_OPT(HELP), {0, 0, 0, 0}};
    gl_merge_params p = gl_merge_default_params();
    int c;
    optind = 1;
    while ((c = cli_getopt(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 's')
            p.sort = 1;
        else if (c == 'h' || c == CLI_O_HELP)
            return usage(stdout), CLI_OK;
        else
            return CLI_USAGE; /* cli_getopt said why */
    }
    if (argc - optind < 2) return cli_usage_error("merge", "give OUT and the shard outputs");
    gl_error err = {0};
    gl_merge_summary s;
    const char *out = argv[optind];
    if (gl_merge_outputs(out, (const char *const *)argv + optind + 1, argc - optind - 1, &p, &s,
                         &err))
        return cli_report(&err);
    if (gl_log_get_level() > GL_LOG_QUIET)
        fprintf(stderr, "geolabel: merged %d shards: %ld rows of %ld inputs -> %s\n", s.shards,
                s.rows, s.inputs, out);
    return CLI_OK;
}
