/* truth.c: `geolabel truth --mask MASK [--split RxC] IMAGE... -o truth.csv`: ground-truth tile
 * labels by GVL's SpaceNet v7 protocol, on the tiles `geolabel label` cuts with the same options.
 */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp) {
    fprintf(
        fp,
        "usage: geolabel truth --mask mask.tif|footprints.geojson IMAGE... -o truth.csv "
        "[options]\n\n"
        "  --split RxC          rows x columns of tiles (default 1x1, as label and GVL: give\n"
        "                       both the same tiling); also --split-height-by R and\n"
        "                       --split-width-by C\n"
        "  --remainder cover|drop  cover: the last row/column absorbs the remainder (default);\n"
        "                       drop: GVL's exact cut\n"
        "  --tile PX [--overlap PX]  fixed windows instead of a split\n"
        "  --positive NAME      label of a tile holding any mask pixel or footprint area\n"
        "                       (default 'Buildings')\n"
        "  --negative NAME      label of the other tiles (default 'No Buildings')\n\n"
        "A raster mask is positive where a pixel is nonzero and not nodata; a vector file is\n"
        "positive where any feature shares area with the tile. Georeferenced inputs are matched\n"
        "in map coordinates (vectors reprojected to each image's CRS).\n");
}

int cmd_truth(int argc, char **argv) {
    static const struct option opts[] = {{"mask", required_argument, 0, 'm'},
                                         {"output", required_argument, 0, 'o'},
                                         {"split", required_argument, 0, 's'},
                                         {"split-height-by", required_argument, 0, 'H'},
                                         {"split-width-by", required_argument, 0, 'W'},
                                         {"remainder", required_argument, 0, 'r'},
                                         {"tile", required_argument, 0, 't'},
                                         {"overlap", required_argument, 0, 'v'},
                                         {"positive", required_argument, 0, 'p'},
                                         {"negative", required_argument, 0, 'n'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    gl_truth_params p = gl_truth_default_params();
    const char *mask = NULL, *out = NULL;
    int c;
    optind = 1;
    while ((c = cli_getopt(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            mask = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 's':
            if (cli_parse_split("truth", optarg, &p.tiling)) return CLI_USAGE;
            break;
        case 'H':
            if ((p.tiling.rows = cli_parse_int("truth", "--split-height-by", optarg, 1, 100000)) <
                0)
                return CLI_USAGE;
            break;
        case 'W':
            if ((p.tiling.cols = cli_parse_int("truth", "--split-width-by", optarg, 1, 100000)) < 0)
                return CLI_USAGE;
            break;
        case 'r':
            if (strcmp(optarg, "cover") && strcmp(optarg, "drop"))
                return cli_usage_error("truth", "--remainder takes cover or drop, not '%s'",
                                       optarg);
            p.tiling.drop_remainder = !strcmp(optarg, "drop");
            break;
        case 't':
            p.tiling.mode = GL_TILING_WINDOW;
            if ((p.tiling.tile = cli_parse_int("truth", "--tile", optarg, 1, 1 << 20)) < 0)
                return CLI_USAGE;
            break;
        case 'v':
            if ((p.tiling.overlap = cli_parse_int("truth", "--overlap", optarg, 0, 1 << 20)) < 0)
                return CLI_USAGE;
            break;
        case 'p':
            p.positive = optarg;
            break;
        case 'n':
            p.negative = optarg;
            break;
        case 'h':
            usage(stdout);
            return CLI_OK;
        default:
            return CLI_USAGE; /* cli_getopt said why */
        }
    }
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
