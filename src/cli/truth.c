/* truth.c: `geolabel truth --mask MASK [--split RxC] IMAGE... -o truth.csv`: ground-truth tile
 * labels by GVL's SpaceNet v7 protocol, on the tiles `geolabel label` cuts with the same options.
 */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp) {
    fprintf(fp, "usage: geolabel truth --mask mask.tif|footprints.geojson IMAGE... -o truth.csv "
                "[options]\n\n"
                "  --mask FILE               a raster mask, or vector footprints GDAL reads\n");
    cli_help(fp, CLI_O_OUTPUT);
    fprintf(fp, "tiles (the same options and defaults as label's, so both cut the same tiles):\n");
    cli_tiling_help(fp);
    fprintf(fp, "labels:\n"
                "  --positive NAME           label of a tile holding any mask pixel or footprint\n"
                "                            area (default 'Buildings')\n"
                "  --negative NAME           label of the other tiles (default 'No Buildings')\n");
    cli_help(fp, CLI_O_HELP);
    fprintf(
        fp,
        "\nA raster mask is positive where a pixel is nonzero and not nodata; a vector file is\n"
        "positive where any feature shares area with the tile. Georeferenced inputs are matched\n"
        "in map coordinates (vectors reprojected to each image's CRS).\n");
}

int cmd_truth(int argc, char **argv) {
    const struct option opts[] = {{"mask", required_argument, 0, 'm'},
                                  CLI_OPT(OUTPUT),
                                  CLI_TILING_OPTS,
                                  {"positive", required_argument, 0, 'p'},
                                  {"negative", required_argument, 0, 'n'},
                                  CLI_OPT(HELP),
                                  {0, 0, 0, 0}};
    gl_truth_params p = gl_truth_default_params();
    cli_split_by by = {0, 0};
    const char *mask = NULL, *out = NULL;
    int c;
    optind = 1;
    while ((c = cli_getopt(argc, argv, "o:h", opts, NULL)) != -1) {
        if (c == 'm')
            mask = optarg;
        else if (c == 'o' || c == CLI_O_OUTPUT)
            out = optarg;
        else if (cli_is_tiling_option(c)) {
            if (cli_tiling_option("truth", c, optarg, &p.tiling, &by)) return CLI_USAGE;
        } else if (c == 'p')
            p.positive = optarg;
        else if (c == 'n')
            p.negative = optarg;
        else if (c == 'h' || c == CLI_O_HELP)
            return usage(stdout), CLI_OK;
        else
            return CLI_USAGE; /* cli_getopt said why */
    }
    if (cli_tiling_finish("truth", &p.tiling, &by)) return CLI_USAGE;
    if (!mask || !out) return cli_usage_error("truth", "--mask and -o are required");
    if (optind >= argc) return cli_usage_error("truth", "no images given");
    if (!*p.positive || !*p.negative || !strcmp(p.positive, p.negative))
        return cli_usage_error("truth", "--positive and --negative must be two different names");
    gl_error err = {0};
    gl_truth_stats stats;
    if (gl_truth_write_csv(mask, (const char *const *)argv + optind, argc - optind, &p, out, &stats,
                           &err))
        return cli_report(&err);
    printf("wrote %s: %ld tiles, %ld '%s', %ld '%s'\n", out, stats.tiles, stats.positive,
           p.positive, stats.tiles - stats.positive, p.negative);
    return CLI_OK;
}
