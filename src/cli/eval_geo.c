/* eval_geo.c: `geolabel eval --geo --pred located.csv --truth truth.csv [--json]`: prints the
 * geolocation metrics of gl_geo_eval_files as text or JSON. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>

static void usage(FILE *fp) {
    fprintf(fp, "usage: geolabel eval --geo --pred LOCATED.csv --truth TRUTH.csv [--json]\n"
                "  LOCATED.csv: filename,lat,lon[,country] (as written by 'geolabel locate')\n"
                "  TRUTH.csv:   filename,lat,lon[,iso2]\n"
                "Reports haversine errors (R = 6371 km): %% within 1/25/200/750/2500 km, median\n"
                "and mean km, and country accuracy when the truth has iso2. A truth row without a\n"
                "prediction counts as a miss in the percentages.\n");
    cli_help(fp, CLI_O_PRED);
    cli_help(fp, CLI_O_TRUTH);
    cli_help(fp, CLI_O_JSON);
    cli_help(fp, CLI_O_HELP);
}

static cJSON *number_or_null(double v) {
    return isnan(v) ? cJSON_CreateNull() : cJSON_CreateNumber(v);
}

static void print_json(const gl_geo_eval *r) {
    static const double rings[GL_GEO_N_THRESHOLDS] = GL_GEO_THRESHOLDS_KM;
    cJSON *o = cJSON_CreateObject(), *w = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "n_truth", r->n_truth);
    cJSON_AddNumberToObject(o, "n_matched", r->n_matched);
    for (int t = 0; t < GL_GEO_N_THRESHOLDS; t++) {
        char key[16];
        snprintf(key, sizeof key, "%g", rings[t]);
        cJSON_AddItemToObject(w, key, number_or_null(r->within_pct[t]));
    }
    cJSON_AddItemToObject(o, "within_km_pct", w);
    cJSON_AddItemToObject(o, "median_km", number_or_null(r->median_km));
    cJSON_AddItemToObject(o, "mean_km", number_or_null(r->mean_km));
    cJSON_AddNumberToObject(o, "n_country", r->n_country);
    cJSON_AddItemToObject(o, "country_accuracy_pct", number_or_null(r->country_acc_pct));
    char *s = cJSON_Print(o);
    if (s) puts(s);
    free(s);
    cJSON_Delete(o);
}

static void print_text(const gl_geo_eval *r) {
    static const double rings[GL_GEO_N_THRESHOLDS] = GL_GEO_THRESHOLDS_KM;
    printf("images: %d in truth, %d predicted\n", r->n_truth, r->n_matched);
    for (int t = 0; t < GL_GEO_N_THRESHOLDS; t++)
        printf("within %g km: %.2f%%\n", rings[t], r->within_pct[t]);
    printf("median error: %.3f km\nmean error: %.3f km\n", r->median_km, r->mean_km);
    if (r->n_country) printf("country accuracy: %.2f%% of %d\n", r->country_acc_pct, r->n_country);
}

int cli_eval_geo(int argc, char **argv) {
    const struct option opts[] = {{"geo", no_argument, 0, 'g'},
                                  CLI_OPT(PRED),
                                  CLI_OPT(TRUTH),
                                  CLI_OPT(JSON),
                                  CLI_OPT(HELP),
                                  {0, 0, 0, 0}};
    const char *pred = NULL, *truth = NULL;
    int json = 0, c;
    optind = 1;
    while ((c = cli_getopt(argc, argv, "h", opts, NULL)) != -1) {
        if (c == CLI_O_PRED)
            pred = optarg;
        else if (c == CLI_O_TRUTH)
            truth = optarg;
        else if (c == CLI_O_JSON)
            json = 1;
        else if (c == 'h' || c == CLI_O_HELP)
            return usage(stdout), CLI_OK;
        else if (c != 'g')
            return CLI_USAGE; /* cli_getopt said why */
    }
    if (!pred || !truth) return cli_usage_error("eval", "--geo needs --pred and --truth");
    if (optind < argc) return cli_usage_error("eval", "unexpected argument '%s'", argv[optind]);
    gl_geo_eval r;
    gl_error err = {0};
    if (gl_geo_eval_files(pred, truth, &r, &err) != GL_OK) return cli_report(&err);
    if (json)
        print_json(&r);
    else
        print_text(&r);
    return CLI_OK;
}
