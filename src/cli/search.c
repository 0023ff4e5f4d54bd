/* search.c: `geolabel search --index tiles.gpkg (--text T... | --image IMG | --tile ID) -o hits`:
 * the tiles of an index nearest a query by cosine, exact, without re-encoding any tile. */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TEXTS 64

static void usage(FILE *fp) {
    fprintf(fp,
            "usage: geolabel search --index tiles.gpkg [--model M] QUERY [options] -o hits.csv\n"
            "  QUERY is one of:\n"
            "  --text T          a text prompt (repeat for an ensemble: the mean of their "
            "embeddings)\n"
            "  --image IMG       an example image\n"
            "  --tile ID         a tile of the index (its tile id, the GPKG fid)\n"
            "  --model M         the index's model (for --text and --image; it must match)\n"
            "  --top K           hits to keep (default 10)\n"
            "  --min-score S     drop hits with a cosine below S\n"
            "  --bbox W,S,E,N    only tiles intersecting this WGS 84 box\n"
            "  --threads N       scanning threads (default all cores)\n"
            "  -o, --output OUT  .csv or .geojson (tile polygons in WGS 84)\n"
            "The search is exact: every stored tile is compared (see BENCHMARKS.md for its "
            "speed).\n"
            "It says which dtype embedded the index's tiles; --dtype is the query's:\n");
    cli_dtype_help(fp);
}

static int parse_bbox(const char *v, gl_search_params *p) {
    double *b = p->bbox;
    int n = 0;
    if (sscanf(v, "%lf,%lf,%lf,%lf%n", &b[0], &b[1], &b[2], &b[3], &n) != 4 || v[n] ||
        !(b[0] <= b[2]) || !(b[1] <= b[3]))
        return cli_usage_error("search", "--bbox takes W,S,E,N in degrees, not '%s'", v);
    p->has_bbox = 1;
    return 0;
}

int cmd_search(int argc, char **argv) {
    const struct option opts[] = {{"index", required_argument, 0, 'i'},
                                  CLI_OPT(MODEL),
                                  {"text", required_argument, 0, 't'},
                                  {"image", required_argument, 0, 'I'},
                                  {"tile", required_argument, 0, 'T'},
                                  {"top", required_argument, 0, 'k'},
                                  {"min-score", required_argument, 0, 's'},
                                  {"bbox", required_argument, 0, 'b'},
                                  CLI_OPT(THREADS),
                                  CLI_OPT(DTYPE),
                                  CLI_OPT(OUTPUT),
                                  CLI_OPT(HELP),
                                  {0, 0, 0, 0}};
    gl_search_params p = gl_search_default_params();
    const char *index = NULL, *model = NULL, *out = NULL, *texts[MAX_TEXTS];
    gl_dtype dtype = GL_DTYPE_F32;
    int c;
    optind = 1;
    while ((c = cli_getopt(argc, argv, "o:h", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'i':
            index = optarg;
            break;
        case CLI_O_MODEL:
            model = optarg;
            break;
        case 't':
            if (p.n_texts >= MAX_TEXTS)
                return cli_usage_error("search", "at most %d --text prompts", MAX_TEXTS);
            texts[p.n_texts++] = optarg;
            break;
        case 'I':
            p.image = optarg;
            break;
        case 'T':
            p.tile_id = strtol(optarg, &end, 10);
            if (end == optarg || *end || p.tile_id < 1)
                return cli_usage_error("search", "--tile takes a tile id (1 or more), not '%s'",
                                       optarg);
            break;
        case 'k':
            if ((p.top_k = cli_parse_int("search", "--top", optarg, 1, 100000)) < 0)
                return CLI_USAGE;
            break;
        case 's':
            p.min_score = strtod(optarg, &end);
            if (end == optarg || *end || !(p.min_score >= -1 && p.min_score <= 1))
                return cli_usage_error("search", "--min-score takes a cosine in [-1, 1], not '%s'",
                                       optarg);
            break;
        case 'b':
            if (parse_bbox(optarg, &p)) return CLI_USAGE;
            break;
        case CLI_O_THREADS:
            if ((p.threads = cli_parse_int("search", "--threads", optarg, 1, 64)) < 0)
                return CLI_USAGE;
            break;
        case CLI_O_DTYPE:
            if (cli_parse_dtype("search", optarg, &dtype)) return CLI_USAGE;
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
    if (optind < argc) return cli_usage_error("search", "unexpected argument '%s'", argv[optind]);
    if (!index || !out) return cli_usage_error("search", "--index and -o are required");
    if ((p.n_texts > 0) + (p.image != NULL) + (p.tile_id > 0) != 1)
        return cli_usage_error("search", "give exactly one of --text, --image or --tile");
    if (!p.tile_id && !model) return cli_usage_error("search", "--text and --image need --model");
    p.texts = texts;
    gl_error err = {0};
    gl_clip *clip = NULL;
    if (!p.tile_id) {
        gl_clip_params cp = gl_clip_default_params();
        if (p.threads) cp.threads = p.threads;
        cp.dtype = dtype;
        if (!(clip = gl_clip_load(model, &cp, &err))) return cli_report(&err);
    }
    gl_search_summary s;
    gl_status st = gl_search_run(clip, index, &p, out, &s, &err);
    gl_clip_free(clip);
    if (st) return cli_report(&err);
    if (gl_log_get_level() > GL_LOG_QUIET)
        fprintf(
            stderr,
            "geolabel: %d hits from %ld tiles (embedded in %s) in %.3f s (%.0f tiles/s) -> %s\n",
            s.hits, s.scanned, s.index_compute_dtype, s.seconds,
            s.seconds > 0 ? s.scanned / s.seconds : 0.0, out);
    return CLI_OK;
}
