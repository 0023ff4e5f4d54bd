/* eval_labels.c: `geolabel eval --pred labels.csv --truth truth.csv [--json] [--confusion-png F]`:
 * prints the tile-label metrics as text or JSON, optionally draws the confusion matrix, and fails
 * when part of the truth went unmatched unless --allow-partial. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp) {
    fprintf(
        fp,
        "usage: geolabel eval --pred labels.csv --truth truth.csv [--json] "
        "[--confusion-png cm.png]\n"
        "                     [--hierarchy meta.yaml] [--truth-column NAME] [--pred-column NAME]\n"
        "                     [--max-labels N] [--allow-partial]\n\n"
        "Both files are label tables: CSV, GeoJSON or GPKG as `label` and `truth` write them.\n"
        "Tiles match by input (the input column when both files have one, else the filename's\n"
        "base name), row and col; where both carry tile bounds (left, upper, right, lower) they\n"
        "must agree. Files that cut an input into different grids (3x3 against 2x2) are refused.\n"
        "Reports overall accuracy, per-class precision/recall/F1, macro-F1, Cohen's kappa and\n"
        "the confusion matrix (rows truth, columns prediction); with classification trees,\n"
        "accuracy per level.\n");
    cli_help(fp, CLI_O_PRED);
    cli_help(fp, CLI_O_TRUTH);
    cli_help(fp, CLI_O_JSON);
    fprintf(fp,
            "  --confusion-png cm.png    also draw the confusion matrix as a picture\n"
            "  --truth-column NAME       the truth's label column (default classification, else\n"
            "                            label)\n"
            "  --pred-column NAME        the predictions' label column (the same default)\n"
            "  --max-labels N            distinct labels allowed over both files (default %d; the\n"
            "                            confusion matrix takes N x N x 8 bytes)\n"
            "  --allow-partial           exit 0 although some truth tiles have no prediction (by\n"
            "                            default that is an error, after the report)\n"
            "  --hierarchy meta.yaml     gives rows without a tree (e.g. from `geolabel truth`)\n"
            "                            their label's path\n",
            GL_EVAL_MAX_LABELS);
    cli_help(fp, CLI_O_HELP);
}

static cJSON *number_or_null(double v) {
    return isnan(v) ? cJSON_CreateNull() : cJSON_CreateNumber(v);
}

static cJSON *eval_json(const gl_label_eval *e) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "n_pred", (double)e->n_pred);
    cJSON_AddNumberToObject(o, "n_truth", (double)e->n_truth);
    cJSON_AddNumberToObject(o, "n_matched", (double)e->n_matched);
    cJSON_AddNumberToObject(o, "n_truth_unmatched", (double)e->n_truth_unmatched);
    cJSON_AddItemToObject(o, "accuracy", number_or_null(e->accuracy));
    cJSON_AddItemToObject(o, "macro_f1", number_or_null(e->macro_f1));
    cJSON_AddItemToObject(o, "kappa", number_or_null(e->kappa));
    cJSON *classes = cJSON_AddArrayToObject(o, "classes"),
          *per = cJSON_AddObjectToObject(o, "per_class");
    cJSON *cm = cJSON_AddArrayToObject(o, "confusion");
    for (int c = 0; c < e->n_classes; c++) {
        cJSON_AddItemToArray(classes, cJSON_CreateString(e->classes[c]));
        cJSON *k = cJSON_AddObjectToObject(per, e->classes[c]);
        cJSON_AddNumberToObject(k, "precision", e->precision[c]);
        cJSON_AddNumberToObject(k, "recall", e->recall[c]);
        cJSON_AddNumberToObject(k, "f1", e->f1[c]);
        cJSON_AddNumberToObject(k, "support", (double)e->support[c]);
        cJSON *row = cJSON_CreateArray();
        for (int j = 0; j < e->n_classes; j++)
            cJSON_AddItemToArray(
                row, cJSON_CreateNumber((double)e->confusion[(size_t)c * e->n_classes + j]));
        cJSON_AddItemToArray(cm, row);
    }
    cJSON *levels = cJSON_AddArrayToObject(o, "levels");
    for (int l = 0; l < e->n_levels; l++) {
        cJSON *v = cJSON_CreateObject();
        cJSON_AddNumberToObject(v, "level", l + 1);
        cJSON_AddItemToObject(v, "accuracy", number_or_null(e->level_accuracy[l]));
        cJSON_AddNumberToObject(v, "n", (double)e->level_n[l]);
        cJSON_AddItemToArray(levels, v);
    }
    return o;
}

static void print_text(const gl_label_eval *e) {
    printf("tiles: %ld predicted, %ld truth, %ld matched, %ld truth without a prediction\n",
           e->n_pred, e->n_truth, e->n_matched, e->n_truth_unmatched);
    printf("accuracy  %.4f\nmacro-F1  %.4f\nkappa     %.4f\n\n", e->accuracy, e->macro_f1,
           e->kappa);
    int w = 5;
    for (int c = 0; c < e->n_classes; c++)
        w = (int)strlen(e->classes[c]) > w ? (int)strlen(e->classes[c]) : w;
    if (w > 40) w = 40;
    printf("%-*s  precision  recall      F1  support\n", w, "class");
    for (int c = 0; c < e->n_classes; c++)
        printf("%-*.*s  %9.4f  %6.4f  %6.4f  %7ld\n", w, w, e->classes[c], e->precision[c],
               e->recall[c], e->f1[c], e->support[c]);
    printf("\nconfusion matrix (rows truth, columns prediction, in the order above):\n");
    for (int c = 0; c < e->n_classes; c++) {
        printf("%-*.*s", w, w, e->classes[c]);
        for (int j = 0; j < e->n_classes; j++)
            printf(" %6ld", e->confusion[(size_t)c * e->n_classes + j]);
        printf("\n");
    }
    for (int l = 0; l < e->n_levels; l++)
        printf("%slevel %d accuracy  %.4f  (%ld tiles)\n", l ? "" : "\n", l + 1,
               e->level_accuracy[l], e->level_n[l]);
}

int cli_eval_labels(int argc, char **argv) {
    const struct option opts[] = {CLI_OPT(PRED),
                                  CLI_OPT(TRUTH),
                                  CLI_OPT(JSON),
                                  {"confusion-png", required_argument, 0, 'c'},
                                  {"hierarchy", required_argument, 0, 'y'},
                                  {"truth-column", required_argument, 0, 'T'},
                                  {"pred-column", required_argument, 0, 'P'},
                                  {"max-labels", required_argument, 0, 'm'},
                                  {"allow-partial", no_argument, 0, 'a'},
                                  CLI_OPT(HELP),
                                  {0, 0, 0, 0}};
    const char *pred = NULL, *truth = NULL, *png = NULL, *yaml = NULL;
    gl_label_eval_params p = gl_label_eval_default_params();
    int json = 0, partial_ok = 0, c;
    optind = 1;
    while ((c = cli_getopt(argc, argv, "h", opts, NULL)) != -1) {
        if (c == CLI_O_PRED)
            pred = optarg;
        else if (c == CLI_O_TRUTH)
            truth = optarg;
        else if (c == CLI_O_JSON)
            json = 1;
        else if (c == 'c')
            png = optarg;
        else if (c == 'y')
            yaml = optarg;
        else if (c == 'T')
            p.truth_column = optarg;
        else if (c == 'P')
            p.pred_column = optarg;
        else if (c == 'a')
            partial_ok = 1;
        else if (c == 'm') {
            if ((p.max_labels = cli_parse_int("eval", "--max-labels", optarg, 1, 1 << 20)) < 0)
                return CLI_USAGE;
        } else if (c == 'h' || c == CLI_O_HELP) {
            usage(stdout);
            return CLI_OK;
        } else
            return CLI_USAGE; /* cli_getopt said why */
    }
    if (!pred || !truth) return cli_usage_error("eval", "--pred and --truth are both required");
    if (optind < argc) return cli_usage_error("eval", "unexpected argument '%s'", argv[optind]);
    gl_error err = {0};
    gl_class_node *tree = NULL;
    if (yaml && !(tree = gl_class_tree_load(yaml, &err))) return cli_report(&err);
    p.hierarchy = tree;
    gl_label_eval *e = gl_label_eval_files(pred, truth, &p, &err);
    gl_class_tree_free(tree);
    if (!e) return cli_report(&err);
    if (png && gl_draw_confusion_png(e, png, &err)) {
        gl_label_eval_free(e);
        return cli_report(&err);
    }
    if (json) {
        cJSON *o = eval_json(e);
        char *s = cJSON_Print(o);
        if (s) printf("%s\n", s);
        free(s);
        cJSON_Delete(o);
    } else {
        print_text(e);
        if (png) printf("\nconfusion matrix drawn to %s\n", png);
    }
    int rc = CLI_OK;
    /* A metric over part of the truth reads as the whole: said, and an error unless accepted. */
    if (e->n_truth_unmatched) {
        fprintf(stderr,
                "geolabel eval: %ld of %ld truth tiles in %s have no prediction in %s; the "
                "metrics cover %ld%s\n",
                e->n_truth_unmatched, e->n_truth, truth, pred, e->n_matched,
                partial_ok ? "" : " (--allow-partial accepts this)");
        if (!partial_ok) rc = CLI_FAIL;
    }
    gl_label_eval_free(e);
    return rc;
}
