/* bench.c: `geolabel bench --model M [--tower image|text] [--batch B] [--threads T] [--tokens N]
 * [--runs R] [--dtype f32|bf16|int8] [--json]`: one tower's speed on this machine. */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp) {
    fprintf(fp,
            "usage: geolabel bench --model M [--arch A] [--tower image|text] [--batch B]\n"
            "                      [--threads T] [--tokens N] [--runs R] [--dtype f32|bf16|int8]\n"
            "                      [--json]\n"
            "  Times the image or text tower alone (no decoding or preprocessing): one warm-up\n"
            "  forward, then R timed forwards of B fixed synthetic inputs (texts of N tokens).\n"
            "  Defaults: image, batch 1, all cores, 77 tokens, 10 runs, f32.\n"
            "  --json prints one object: tower, batch, threads, tokens, dtype, isa,\n"
            "  runs_ms_per_item, median_ms_per_item.\n"
            "  GEOLABEL_ISA=avx2|avx512|amx caps the kernels' instruction set; a level this CPU\n"
            "  lacks runs the best one it has, with a warning.\n");
    cli_dtype_help(fp);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int cmd_bench(int argc, char **argv) {
    const struct option opts[] = {CLI_OPT(ARCH),
                                  CLI_OPT(MODEL),
                                  {"tower", required_argument, 0, 'w'},
                                  CLI_OPT(BATCH),
                                  CLI_OPT(THREADS),
                                  {"tokens", required_argument, 0, 'n'},
                                  {"runs", required_argument, 0, 'r'},
                                  CLI_OPT(DTYPE),
                                  CLI_OPT(JSON),
                                  CLI_OPT(HELP),
                                  {0, 0, 0, 0}};
    const char *model = NULL;
    int image = 1, batch = 1, tokens = GL_CLIP_CONTEXT, runs = 10, json = 0, c;
    gl_clip_params p = gl_clip_default_params();
    optind = 1;
    while ((c = cli_getopt(argc, argv, "m:h", opts, NULL)) != -1) {
        if (c == 'm' || c == CLI_O_MODEL)
            model = optarg;
        else if (c == CLI_O_ARCH)
            p.arch = optarg;
        else if (c == 'w') {
            if (strcmp(optarg, "image") && strcmp(optarg, "text"))
                return cli_usage_error("bench", "--tower is image or text, not '%s'", optarg);
            image = !strcmp(optarg, "image");
        } else if (c == CLI_O_BATCH &&
                   (batch = cli_parse_int("bench", "--batch", optarg, 1, 4096)) < 0)
            return CLI_USAGE;
        else if (c == CLI_O_THREADS &&
                 (p.threads = cli_parse_shared_int("bench", CLI_O_THREADS, optarg)) < 0)
            return CLI_USAGE;
        else if (c == 'n' &&
                 (tokens = cli_parse_int("bench", "--tokens", optarg, 2, GL_CLIP_CONTEXT)) < 0)
            return CLI_USAGE;
        else if (c == 'r' && (runs = cli_parse_int("bench", "--runs", optarg, 1, 100000)) < 0)
            return CLI_USAGE;
        else if (c == CLI_O_DTYPE && cli_parse_dtype("bench", optarg, &p.dtype))
            return CLI_USAGE;
        else if (c == CLI_O_JSON)
            json = 1;
        else if (c == 'h' || c == CLI_O_HELP)
            return usage(stdout), CLI_OK;
        else if (c == '?')
            return CLI_USAGE; /* cli_getopt said why */
    }
    if (!model) return cli_usage_error("bench", "--model is required");
    if (optind < argc) return cli_usage_error("bench", "unexpected argument '%s'", argv[optind]);
    p.max_batch = batch;
    gl_error err = {0};
    gl_clip *clip = gl_clip_load(model, &p, &err);
    if (!clip) return cli_report(&err);
    double *ms = malloc(sizeof(double) * (size_t)runs),
           *sorted = malloc(sizeof(double) * (size_t)runs);
    gl_status s = ms && sorted ? GL_OK : gl_fail(&err, GL_ERR_NOMEM, "bench: out of memory");
    if (!s) s = gl_clip_bench(clip, image, batch, tokens, runs, ms, &err);
    if (!s) {
        memcpy(sorted, ms, sizeof(double) * (size_t)runs);
        qsort(sorted, (size_t)runs, sizeof(double), cmp_double);
        double median = runs % 2 ? sorted[runs / 2] : (sorted[runs / 2 - 1] + sorted[runs / 2]) / 2;
        int threads = gl_clip_threads(clip);
        if (json) {
            printf("{\"tower\":\"%s\",\"batch\":%d,\"threads\":%d,\"tokens\":%d,\"dtype\":\"%s\","
                   "\"isa\":\"%s\",\"runs_ms_per_item\":[",
                   image ? "image" : "text", batch, threads, image ? 0 : tokens,
                   gl_dtype_name(gl_clip_dtype(clip, image)), gl_clip_isa(clip));
            for (int r = 0; r < runs; r++)
                printf(r ? ",%.3f" : "%.3f", ms[r]);
            printf("],\"median_ms_per_item\":%.3f}\n", median);
        } else {
            char what[32] = "";
            if (!image) snprintf(what, sizeof what, ", %d tokens", tokens);
            printf("%s tower, batch %d%s, %d thread%s, %s on %s: median %.2f ms per %s "
                   "[%.2f-%.2f] over %d runs\n",
                   image ? "image" : "text", batch, what, threads, threads == 1 ? "" : "s",
                   gl_dtype_name(gl_clip_dtype(clip, image)), gl_clip_isa(clip), median,
                   image ? "image" : "text", sorted[0], sorted[runs - 1], runs);
        }
    }
    free(ms);
    free(sorted);
    gl_clip_free(clip);
    return s ? cli_report(&err) : CLI_OK;
}
