/* eval_head.c: `geolabel eval --head CKPT --data F [--json]`: a head on the data set's 'tes' rows,
 * at 0.5 and at per-class thresholds tuned on 'val', with micro/macro F1 and mAP. */
#include "cli.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>

static void usage(FILE *fp) {
    fprintf(fp, "usage: geolabel eval --head CKPT --data F.jsonl[.gz] [--json] [--keep-bad-rows] "
                "[--threads N]\n"
                "  per-class precision/recall/F1 on 'tes' at 0.5 and at thresholds tuned on 'val' "
                "(best F1\n"
                "  over 0.01..0.99), micro and macro F1, average precision and mAP\n");
    cli_help(fp, CLI_O_HEAD);
    cli_help(fp, CLI_O_DATA);
    cli_help(fp, CLI_O_JSON);
    cli_help(fp, CLI_O_KEEP_BAD_ROWS);
    cli_help(fp, CLI_O_THREADS);
    cli_help(fp, CLI_O_HELP);
}

static void json_string(const char *s) {
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 32)
            printf("\\u%04x", *s);
        else
            putchar(*s);
    }
    putchar('"');
}

static void json_num(const char *key, double v, int comma) {
    if (isnan(v))
        printf("\"%s\": null%s", key, comma ? ", " : "");
    else
        printf("\"%s\": %.6f%s", key, v, comma ? ", " : "");
}

static void print_json(const gl_head *h, const gl_head_eval *e) {
    printf("{\"n_val\": %ld, \"n_test\": %ld, ", e->n_val, e->n_test);
    json_num("micro_f1", e->micro_f1, 1);
    json_num("macro_f1", e->macro_f1, 1);
    json_num("tuned_micro_f1", e->tuned_micro_f1, 1);
    json_num("tuned_macro_f1", e->tuned_macro_f1, 1);
    json_num("map", e->map, 1);
    printf("\"classes\": [");
    for (int k = 0; k < e->n_classes; k++) {
        printf("%s{\"name\": ", k ? ", " : "");
        json_string(gl_head_class_name(h, k));
        printf(", \"support\": %ld, ", e->support[k]);
        json_num("precision", e->precision[k], 1);
        json_num("recall", e->recall[k], 1);
        json_num("f1", e->f1[k], 1);
        json_num("threshold", e->tuned_threshold[k], 1);
        json_num("tuned_precision", e->tuned_precision[k], 1);
        json_num("tuned_recall", e->tuned_recall[k], 1);
        json_num("tuned_f1", e->tuned_f1[k], 1);
        json_num("ap", e->ap[k], 0);
        printf("}");
    }
    printf("]}\n");
}

static void print_text(const gl_head *h, const gl_head_eval *e) {
    printf("tes rows %ld (thresholds tuned on %ld val rows)\n\n", e->n_test, e->n_val);
    printf("%-16s %7s | %6s %6s %6s | %5s %6s %6s %6s | %6s\n", "class", "support", "P@.5", "R@.5",
           "F1@.5", "thr", "P", "R", "F1", "AP");
    for (int k = 0; k < e->n_classes; k++)
        printf("%-16s %7ld | %6.4f %6.4f %6.4f | %5.2f %6.4f %6.4f %6.4f | %6.4f\n",
               gl_head_class_name(h, k), e->support[k], e->precision[k], e->recall[k], e->f1[k],
               e->tuned_threshold[k], e->tuned_precision[k], e->tuned_recall[k], e->tuned_f1[k],
               e->ap[k]);
    printf("\nmicro-F1 %.4f  macro-F1 %.4f  (tuned: micro %.4f  macro %.4f)  mAP %.4f\n",
           e->micro_f1, e->macro_f1, e->tuned_micro_f1, e->tuned_macro_f1, e->map);
}

int cli_eval_head(int argc, char **argv) {
    const struct option opts[] = {
        CLI_OPT(HEAD),    CLI_OPT(DATA), CLI_OPT(JSON), CLI_OPT(KEEP_BAD_ROWS),
        CLI_OPT(THREADS), CLI_OPT(HELP), {0, 0, 0, 0}};
    const char *head = NULL, *data = NULL;
    int c, json = 0, keep = 0, threads = 0;
    optind = 1;
    while ((c = cli_getopt(argc, argv, "h", opts, NULL)) != -1) {
        if (c == CLI_O_HEAD)
            head = optarg;
        else if (c == CLI_O_DATA)
            data = optarg;
        else if (c == CLI_O_JSON)
            json = 1;
        else if (c == CLI_O_KEEP_BAD_ROWS)
            keep = 1;
        else if (c == CLI_O_THREADS && (threads = cli_parse_shared_int("eval", c, optarg)) < 0)
            return CLI_USAGE;
        else if (c == 'h' || c == CLI_O_HELP)
            return usage(stdout), CLI_OK;
        else if (c == '?')
            return CLI_USAGE; /* cli_getopt said why */
    }
    if (!head || !data) return cli_usage_error("eval", "--head needs --data");
    if (optind < argc) return cli_usage_error("eval", "unexpected argument '%s'", argv[optind]);
    if (threads) gl_blas_set_threads(threads);
    gl_error err = {0};
    gl_head *h = gl_head_load(head, &err);
    if (!h) return cli_report(&err);
    gl_head_eval e;
    gl_status s = gl_head_eval_file(h, data, keep, &e, &err);
    if (!s && json)
        print_json(h, &e);
    else if (!s)
        print_text(h, &e);
    gl_head_free(h);
    return s ? cli_report(&err) : CLI_OK;
}
