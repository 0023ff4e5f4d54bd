/* eval_labels.c: `geolabel eval --pred labels.csv --truth truth.csv [--json] [--confusion-png F]`:
 * prints the tile-label metrics as text or JSON, and optionally draws the confusion matrix. */
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
        "                     [--hierarchy meta.yaml]\n\n"
        "Matches rows by filename (base name), row and col, and reports overall accuracy,\n"
        "per-class precision/recall/F1, macro-F1, Cohen's kappa and the confusion matrix\n"
        "(rows truth, columns prediction); with classification trees, accuracy per level.\n"
        "--hierarchy gives rows without a tree (e.g. from `geolabel truth`) their label's path.\n");
}

static cJSON *number_or_null(double v) {
    return isnan(v) ? cJSON_CreateNull() : cJSON_CreateNumber(v);
}

static cJSON *eval_json(const gl_label_eval *e) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "n_pred", (double)e->n_pred);
    cJSON_AddNumberToObject(o, "n_truth", (double)e->n_truth);
    cJSON_AddNumberToObject(o, "n_matched", (double)e->n_matched);
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
    printf("tiles: %ld predicted, %ld truth, %ld matched\n", e->n_pred, e->n_truth, e->n_matched);
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
    static const struct option opts[] = {{"pred", required_argument, 0, 'p'},
                                         {"truth", required_argument, 0, 't'},
                                         {"json", no_argument, 0, 'j'},
                                         {"confusion-png", required_argument, 0, 'c'},
                                         {"hierarchy", required_argument, 0, 'y'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *pred = NULL, *truth = NULL, *png = NULL, *yaml = NULL;
    int json = 0, c;
    optind = 1;
    while ((c = cli_getopt(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'p')
            pred = optarg;
        else if (c == 't')
            truth = optarg;
        else if (c == 'j')
            json = 1;
        else if (c == 'c')
            png = optarg;
        else if (c == 'y')
            yaml = optarg;
        else if (c == 'h') {
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
    gl_label_eval *e = gl_label_eval_files(pred, truth, tree, &err);
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
    gl_label_eval_free(e);
    return CLI_OK;
}
