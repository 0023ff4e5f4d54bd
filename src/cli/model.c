/* model.c: `geolabel model pull ORG/NAME` (Hub download into the cache) and
 * `geolabel model random --like GEOMETRY -o DIR` (random full-size weights for benchmarks). */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char *const usage_text =
    "usage: geolabel model pull ORG/NAME [--revision REV] [--cache DIR]\n"
    "         Downloads the model folder from the Hugging Face Hub ($HF_ENDPOINT, $HF_TOKEN) into\n"
    "         the cache ($GEOLABEL_CACHE, else $XDG_CACHE_HOME/geolabel, else ~/.cache/geolabel);\n"
    "         --model ORG/NAME then finds it there.\n"
    "       geolabel model random --like vit-b-32|vit-b-16|vit-l-14|vit-l-14-336 -o DIR\n"
    "                             [--seed N] [--dtype f32|f16]\n"
    "         Writes a Hub-layout CLIP folder with random weights (for benchmarks); vocab.json\n"
    "         and merges.txt come from $GEOLABEL_DATA/clip-bpe, else data/clip-bpe beside the\n"
    "         executable's folder, else /usr/share/geolabel/clip-bpe.\n";

static int model_pull(int argc, char **argv) {
    static const struct option opts[] = {{"revision", required_argument, 0, 'r'},
                                         {"cache", required_argument, 0, 'c'},
                                         {"help", no_argument, 0, 'h'},
                                         {0}};
    const char *revision = "main";
    int c;
    optind = 1;
    while ((c = cli_getopt(argc, argv, "r:c:h", opts, NULL)) != -1) {
        if (c == 'r')
            revision = optarg;
        else if (c == 'c')
            setenv("GEOLABEL_CACHE", optarg, 1); /* the library reads the cache root from here */
        else if (c == 'h') {
            fputs(usage_text, stdout);
            return CLI_OK;
        } else
            return CLI_USAGE; /* cli_getopt said why */
    }
    if (optind + 1 != argc) return cli_usage_error("model pull", "give exactly one ORG/NAME");
    gl_error err = {0};
    if (gl_hub_pull(argv[optind], revision, &err)) return cli_report(&err);
    char dir[4096];
    if (gl_model_resolve(argv[optind], dir, sizeof dir, &err)) return cli_report(&err);
    printf("%s\n", dir);
    return CLI_OK;
}

static int model_random(int argc, char **argv) {
    static const struct option opts[] = {
        {"like", required_argument, 0, 'l'}, {"output", required_argument, 0, 'o'},
        {"seed", required_argument, 0, 's'}, {"dtype", required_argument, 0, 'd'},
        {"help", no_argument, 0, 'h'},       {0}};
    const char *like = NULL, *out = NULL, *dtype = "f32";
    unsigned long long seed = 0;
    int c;
    optind = 1;
    while ((c = cli_getopt(argc, argv, "l:o:s:d:h", opts, NULL)) != -1) {
        if (c == 'l')
            like = optarg;
        else if (c == 'o')
            out = optarg;
        else if (c == 'd')
            dtype = optarg;
        else if (c == 's') {
            char *end;
            seed = strtoull(optarg, &end, 10);
            if (*end || end == optarg)
                return cli_usage_error("model random", "--seed takes a whole number");
        } else if (c == 'h') {
            fputs(usage_text, stdout);
            return CLI_OK;
        } else
            return CLI_USAGE; /* cli_getopt said why */
    }
    if (!like || !out) return cli_usage_error("model random", "--like and -o are required");
    if (optind < argc)
        return cli_usage_error("model random", "unexpected argument '%s'", argv[optind]);
    gl_error err = {0};
    if (gl_clip_random_model(like, out, (uint64_t)seed, dtype, &err)) return cli_report(&err);
    return CLI_OK;
}

int cmd_model(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "pull")) return model_pull(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "random")) return model_random(argc - 1, argv + 1);
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(usage_text, stdout);
        return CLI_OK;
    }
    fputs(usage_text, stderr);
    return CLI_USAGE;
}
