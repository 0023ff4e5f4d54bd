/* show.c: `geolabel show --labels labels.csv --image IMG -o overlay.png [--collage]`: draws the
 * labelled tiles over the scene (or GVL's collage) with a legend of classes and tile counts. */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp) {
    fprintf(fp, "usage: geolabel show --labels labels.csv|.geojson|.gpkg --image IMG -o out.png "
                "[options]\n\n"
                "  --labels FILE             label's output: CSV, GeoJSON or GPKG\n"
                "  --image IMG               the scene to draw them over\n");
    cli_help(fp, CLI_O_OUTPUT);
    cli_help(fp, CLI_O_BANDS);
    cli_help(fp, CLI_O_STRETCH);
    fprintf(fp,
            "  --max-side PX             longest side of the drawn scene (default 1600)\n"
            "  --alpha A                 tile fill opacity, 0..1 (default 0.35)\n"
            "  --collage                 GVL's collage: the tiles in a grid, captioned with their\n"
            "                            labels\n"
            "  --max-tiles N             collage: at most N tiles, by (row, col) (default 100)\n");
    cli_help(fp, CLI_O_COLORS);
    cli_help(fp, CLI_O_HELP);
    fprintf(fp,
            "\nRows are those whose input is IMG (or, without an input column, whose filename has\n"
            "IMG's base name). A class has the same colour in every picture, raster and style:\n"
            "from its name (water blue, trees green, roads grey, ...; other names a colour of\n"
            "their own) unless --colors sets it.\n");
}

int cmd_show(int argc, char **argv) {
    const struct option opts[] = {{"labels", required_argument, 0, 'l'},
                                  {"image", required_argument, 0, 'i'},
                                  CLI_OPT(OUTPUT),
                                  CLI_OPT(BANDS),
                                  CLI_OPT(STRETCH),
                                  {"max-side", required_argument, 0, 'm'},
                                  {"alpha", required_argument, 0, 'a'},
                                  {"collage", no_argument, 0, 'c'},
                                  {"max-tiles", required_argument, 0, 'n'},
                                  CLI_OPT(COLORS),
                                  CLI_OPT(HELP),
                                  {0, 0, 0, 0}};
    gl_show_params p = gl_show_default_params();
    const char *labels = NULL, *image = NULL, *out = NULL;
    int c;
    optind = 1;
    while ((c = cli_getopt(argc, argv, "o:h", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'l':
            labels = optarg;
            break;
        case 'i':
            image = optarg;
            break;
        case 'o':
        case CLI_O_OUTPUT:
            out = optarg;
            break;
        case CLI_O_BANDS:
            if (cli_parse_bands("show", optarg, &p.raster)) return CLI_USAGE;
            break;
        case CLI_O_STRETCH:
            if (cli_parse_stretch("show", optarg, &p.raster)) return CLI_USAGE;
            break;
        case 'm':
            if ((p.max_side = cli_parse_int("show", "--max-side", optarg, 16, 8192)) < 0)
                return CLI_USAGE;
            break;
        case 'n':
            if ((p.max_tiles = cli_parse_int("show", "--max-tiles", optarg, 1, 10000)) < 0)
                return CLI_USAGE;
            break;
        case 'a':
            p.alpha = strtod(optarg, &end);
            if (end == optarg || *end || !(p.alpha > 0 && p.alpha <= 1))
                return cli_usage_error("show", "--alpha takes a number in (0, 1], not '%s'",
                                       optarg);
            break;
        case 'c':
            p.collage = 1;
            break;
        case CLI_O_COLORS:
            p.colors_path = optarg;
            break;
        case 'h':
        case CLI_O_HELP:
            usage(stdout);
            return CLI_OK;
        default:
            return CLI_USAGE; /* cli_getopt said why */
        }
    }
    if (!labels || !image || !out)
        return cli_usage_error("show", "--labels, --image and -o are required");
    if (optind < argc) return cli_usage_error("show", "unexpected argument '%s'", argv[optind]);
    gl_error err = {0};
    if (gl_show_labels(labels, image, &p, out, &err)) return cli_report(&err);
    printf("wrote %s\n", out);
    return CLI_OK;
}
