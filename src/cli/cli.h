/* cli.h: what the subcommand files share: their entry points and the error/exit conventions.
 * The CLI only parses arguments, calls the library, prints, and picks the exit code. */
#ifndef GEOLABEL_CLI_H
#define GEOLABEL_CLI_H

#include "geolabel.h"

/* Exit codes: 0 success, 1 failure, 2 usage error, 3 finished with some inputs failed. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2, CLI_PARTIAL = 3 };

/* Prints "geolabel: <message>" for a failed library call and maps its status to an exit code. */
int cli_report(const gl_error *err);
/* Prints "geolabel <cmd>: <message>" plus a hint to --help; returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parses a positive integer option value; on failure prints a usage error and returns -1. */
int cli_parse_int(const char *cmd, const char *opt, const char *value, int min, int max);

/* Shared option values (options.c): 0 on success, else a printed usage error and CLI_USAGE. */
int cli_parse_split(const char *cmd, const char *value, gl_tiling *tiling);    /* RxC */
int cli_parse_bands(const char *cmd, const char *value, gl_raster_params *rp); /* 4,3,2 */
int cli_parse_stretch(const char *cmd, const char *value, gl_raster_params *rp);

/* Subcommands: argv[0] is the subcommand name. Declared weak so the table can list a command
 * whose file is still being written; main() reports such a command as not built. */
#define CLI_COMMANDS(X)                                                                            \
    X(embed, "embed images or texts into .npy or .jsonl")                                          \
    X(tokenize, "CLIP token ids for text lines on stdin")                                          \
    X(classify, "zero-shot classification of whole images")                                        \
    X(model, "model pull ORG/NAME | model random --like GEOMETRY")                                 \
    X(label, "zero-shot labelling of tiles of scenes (GeoVision Labeler style)")                   \
    X(cluster, "cluster class names into a meta-class YAML")                                       \
    X(show, "draw labels over a scene as a PNG")                                                   \
    X(truth, "ground-truth tile labels from a mask or footprints")                                 \
    X(eval, "evaluate labels (--pred/--truth), heads (--head) or geolocation (--geo)")             \
    X(predict, "Geograph-style head predictions")                                                  \
    X(dataset, "Geograph data set: targets | stats | build")                                       \
    X(train, "train an MLP head on embeddings")                                                    \
    X(locate, "geolocate photos (zeroshot country->city, or geoclip)")

#define CLI_DECLARE(name, help) int cmd_##name(int argc, char **argv) __attribute__((weak));
CLI_COMMANDS(CLI_DECLARE)
#undef CLI_DECLARE

/* `geolabel eval` serves three paths, each in its own file; eval.c picks one by flag. */
int cli_eval_labels(int argc, char **argv) __attribute__((weak)); /* --pred/--truth */
int cli_eval_head(int argc, char **argv) __attribute__((weak));   /* --head */
int cli_eval_geo(int argc, char **argv) __attribute__((weak));    /* --geo */

#endif
