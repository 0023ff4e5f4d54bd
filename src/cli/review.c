/* review.c: `geolabel review labels.csv --image-root DIR -o review.html`: one self-contained page
 * to look through labels, correct them and export the corrections as truth for `eval`. */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp) {
    fprintf(fp,
            "usage: geolabel review LABELS --image-root DIR -o review.html [options]\n"
            "  LABELS              label's output: .csv, .geojson or .gpkg\n"
            "  --image-root DIR    where the scenes are (found by their file names)\n"
            "  --classes FILE      every class a correction may pick (default: those labelled)\n"
            "  --colors FILE       class colours, 'class,#RRGGBB' per line (default: stable "
            "hashed colours)\n"
            "  --thumb PX          thumbnail side (default 96); --overview PX scene overview side "
            "(1024)\n"
            "  --bands 4,3,2, --stretch S   as for label\n"
            "The page needs no server and no network: open it in a browser. Corrections export as\n"
            "a truth CSV that 'geolabel eval --truth' reads.\n");
}

int cmd_review(int argc, char **argv) {
    const struct option opts[] = {{"image-root", required_argument, 0, 'r'},
                                  CLI_OPT(CLASSES),
                                  CLI_OPT(COLORS),
                                  {"thumb", required_argument, 0, 't'},
                                  {"overview", required_argument, 0, 'v'},
                                  CLI_OPT(BANDS),
                                  CLI_OPT(STRETCH),
                                  CLI_OPT(OUTPUT),
                                  CLI_OPT(HELP),
                                  {0, 0, 0, 0}};
    gl_review_params p = gl_review_default_params();
    const char *out = NULL;
    int c;
    optind = 1;
    while ((c = cli_getopt(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            p.image_root = optarg;
            break;
        case CLI_O_CLASSES:
            p.classes_path = optarg;
            break;
        case CLI_O_COLORS:
            p.colors_path = optarg;
            break;
        case 't':
            if ((p.thumb_px = cli_parse_int("review", "--thumb", optarg, 16, 512)) < 0)
                return CLI_USAGE;
            break;
        case 'v':
            if ((p.overview_px = cli_parse_int("review", "--overview", optarg, 64, 4096)) < 0)
                return CLI_USAGE;
            break;
        case CLI_O_BANDS:
            if (cli_parse_bands("review", optarg, &p.raster)) return CLI_USAGE;
            break;
        case CLI_O_STRETCH:
            if (cli_parse_stretch("review", optarg, &p.raster)) return CLI_USAGE;
            break;
        case 'o':
        case CLI_O_OUTPUT:
            out = optarg;
            break;
        case 'h':
        case CLI_O_HELP:
            usage(stdout);
            return CLI_OK;
        default:
            return CLI_USAGE; /* cli_getopt said why */
        }
    }
    if (argc - optind != 1) return cli_usage_error("review", "give one labels file");
    if (!out) return cli_usage_error("review", "-o review.html is required");
    gl_error err = {0};
    if (gl_review_write(argv[optind], &p, out, &err)) return cli_report(&err);
    if (gl_log_get_level() > GL_LOG_QUIET) fprintf(stderr, "geolabel: wrote %s\n", out);
    return CLI_OK;
}
