/* dataset.c: `geolabel dataset targets|stats|build`: the Geograph data set's label targets,
 * its summary, and new rows embedded from images (streamed, resumable). */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp) {
    fprintf(
        fp,
        "usage: geolabel dataset targets --data F.jsonl[.gz] -o targets.csv\n"
        "       geolabel dataset stats --data F.jsonl[.gz] [--clip-dim 512] [--json]\n"
        "       geolabel dataset build --model M [--arch A] --meta meta.csv -o new.jsonl "
        "[--threads N]\n"
        "                              [--dtype f32|bf16|int8]\n"
        "  targets: gridimage_id plus one 0/1 column per class after the project's label mapping\n"
        "  stats: rows per split, tag prevalence, bad rows, distance-bucket histogram\n"
        "  build: meta.csv columns id,path,e1,n1,e2,n2 and optional types,split,weight; rows whose "
        "id\n"
        "         is already in the output are skipped, so an interrupted build resumes; rows are\n"
        "         appended and flushed one batch at a time (a crash loses at most the batch in "
        "flight);\n"
        "         OUT.manifest.json records the model's hash and --dtype before the first row, and "
        "a\n"
        "         resume with another model or dtype is refused\n");
    cli_help(fp, CLI_O_DATA);
    cli_help(fp, CLI_O_CLIP_DIM);
    cli_help(fp, CLI_O_JSON);
    cli_help(fp, CLI_O_MODEL);
    cli_help(fp, CLI_O_ARCH);
    cli_help(fp, CLI_O_OUTPUT);
    cli_help(fp, CLI_O_THREADS);
    cli_dtype_help(fp);
    cli_help(fp, CLI_O_HELP);
    cli_shard_help(fp);
}

static int run_targets(const char *data, const char *out) {
    gl_error err = {0};
    long rows, bad;
    if (gl_hdata_write_targets(data, out, &rows, &bad, &err)) return cli_report(&err);
    if (bad) fprintf(stderr, "geolabel dataset: %ld bad row%s skipped\n", bad, bad == 1 ? "" : "s");
    if (bad && rows == 0) {
        fprintf(stderr, "geolabel dataset: %s: every row was bad; no targets written\n", data);
        return CLI_FAIL;
    }
    gl_log(GL_LOG_INFO, "dataset targets: %ld rows", rows);
    return CLI_OK;
}

static void print_stats_text(const gl_hstats *s) {
    printf("rows %ld (bad rows skipped: %ld)\n", s->rows, s->bad_rows);
    for (int k = 0; k < 4; k++)
        printf("split %-5s %ld\n", gl_split_name((gl_split)k), s->split_rows[k]);
    printf("\ntarget (after mapping)    rows  prevalence\n");
    for (int c = 0; c < GL_GEOGRAPH_N_CLASSES; c++)
        printf("%-22s %8ld  %6.3f%%\n", gl_geograph_classes[c], s->target_count[c],
               s->rows ? 100.0 * s->target_count[c] / s->rows : 0.0);
    printf("\nraw tag                   rows  prevalence\n");
    for (int t = 0; t < s->n_tags; t++)
        printf("%-22s %8ld  %6.3f%%\n", s->tag_names[t][0] ? s->tag_names[t] : "(empty)",
               s->tag_count[t], s->rows ? 100.0 * s->tag_count[t] / s->rows : 0.0);
    printf("\ndistance index  rows\n");
    for (int d = 0; d < GL_GEOGRAPH_DIST_ROWS; d++)
        if (s->dist_hist[d]) printf("%14d  %ld\n", d, s->dist_hist[d]);
}

static void print_stats_json(const gl_hstats *s) {
    printf("{\"rows\": %ld, \"bad_rows\": %ld, \"splits\": {", s->rows, s->bad_rows);
    for (int k = 0; k < 4; k++)
        printf("%s\"%s\": %ld", k ? ", " : "", gl_split_name((gl_split)k), s->split_rows[k]);
    printf("}, \"targets\": {");
    for (int c = 0; c < GL_GEOGRAPH_N_CLASSES; c++)
        printf("%s\"%s\": %ld", c ? ", " : "", gl_geograph_classes[c], s->target_count[c]);
    printf("}, \"tags\": {");
    for (int t = 0; t < s->n_tags; t++) {
        printf("%s\"", t ? ", " : "");
        for (const char *p = s->tag_names[t]; *p; p++)
            if (*p == '"' || *p == '\\')
                printf("\\%c", *p);
            else if ((unsigned char)*p >= 32)
                putchar(*p);
        printf("\": %ld", s->tag_count[t]);
    }
    printf("}, \"distance_index\": [");
    for (int d = 0; d < GL_GEOGRAPH_DIST_ROWS; d++)
        printf("%s%ld", d ? ", " : "", s->dist_hist[d]);
    printf("]}\n");
}

static int run_stats(const char *data, int clip_dim, int json) {
    gl_error err = {0};
    gl_hstats s;
    if (gl_hdata_stats(data, clip_dim, &s, &err)) return cli_report(&err);
    if (json)
        print_stats_json(&s);
    else
        print_stats_text(&s);
    return CLI_OK;
}

static int run_build(const char *model, const char *meta, const char *out, gl_clip_params cp,
                     cli_shard *shard, int n_opts, char **opts) {
    gl_error err = {0};
    long added, skipped;
    shard->uses_clip = 1, shard->dtype = cp.dtype; /* the manifest's compute_dtype */
    if (gl_hdata_build(model, &cp, meta, out, &shard->shard, &added, &skipped, shard->model_hash,
                       &err))
        return cli_report(&err);
    fprintf(stderr, "geolabel dataset build: %ld rows added, %ld already present\n", added,
            skipped);
    /* Rows come from the meta file: the manifest lists no inputs. */
    return cli_shard_record("dataset build", n_opts, opts, shard, out, NULL, NULL, 0, 0);
}

int cmd_dataset(int argc, char **argv) {
    const struct option opts[] = {CLI_OPT(DATA),
                                  CLI_OPT(OUTPUT),
                                  CLI_OPT(CLIP_DIM),
                                  CLI_OPT(JSON),
                                  CLI_OPT(MODEL),
                                  CLI_OPT(ARCH),
                                  {"meta", required_argument, 0, 'M'},
                                  CLI_OPT(THREADS),
                                  CLI_OPT(DTYPE),
                                  CLI_SHARD_OPTS,
                                  CLI_OPT(HELP),
                                  {0, 0, 0, 0}};
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    const char *sub = argv[1], *data = NULL, *out = NULL, *model = NULL, *meta = NULL;
    int c, clip_dim = 512, json = 0;
    gl_clip_params cp = gl_clip_default_params();
    cli_shard shard = {0};
    optind = 1;
    while ((c = cli_getopt(argc - 1, argv + 1, "o:h", opts, NULL)) != -1) {
        if (c == CLI_O_DATA)
            data = optarg;
        else if (c == 'o' || c == CLI_O_OUTPUT)
            out = optarg;
        else if (c == CLI_O_JSON)
            json = 1;
        else if (c == CLI_O_MODEL)
            model = optarg;
        else if (c == CLI_O_ARCH)
            cp.arch = optarg;
        else if (c == 'M')
            meta = optarg;
        else if (c == CLI_O_CLIP_DIM && (clip_dim = cli_parse_shared_int("dataset", c, optarg)) < 0)
            return CLI_USAGE;
        else if (c == CLI_O_THREADS &&
                 (cp.threads = cli_parse_shared_int("dataset", CLI_O_THREADS, optarg)) < 0)
            return CLI_USAGE;
        else if (c == CLI_O_DTYPE && cli_parse_dtype("dataset", optarg, &cp.dtype))
            return CLI_USAGE;
        else if (c == 'h' || c == CLI_O_HELP)
            return usage(stdout), CLI_OK;
        else if ((c == CLI_O_SHARD || c == CLI_O_SHARD_BY || c == CLI_O_SHARD_COUNT) &&
                 cli_shard_option("dataset", c, optarg, &shard))
            return CLI_USAGE;
        else if (c == '?')
            return CLI_USAGE; /* cli_getopt said why */
    }
    if (cli_shard_resolve("dataset", &shard)) return CLI_USAGE;
    if (optind < argc - 1)
        return cli_usage_error("dataset", "unexpected argument '%s'", argv[1 + optind]);
    if (!strcmp(sub, "targets")) {
        if (!data || !out) return cli_usage_error("dataset", "targets needs --data and -o");
        return run_targets(data, out);
    }
    if (!strcmp(sub, "stats")) {
        if (!data) return cli_usage_error("dataset", "stats needs --data");
        return run_stats(data, clip_dim, json);
    }
    if (!strcmp(sub, "build")) {
        if (!model || !meta || !out)
            return cli_usage_error("dataset", "build needs --model, --meta and -o");
        return run_build(model, meta, out, cp, &shard, optind - 1, argv + 2);
    }
    return cli_usage_error("dataset", "unknown subcommand '%s' (targets, stats, build)", sub);
}
