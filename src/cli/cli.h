/* cli.h: what the subcommand files share: their entry points and the error/exit conventions.
 * The CLI only parses arguments, calls the library, prints, and picks the exit code. */
#ifndef GEOLABEL_CLI_H
#define GEOLABEL_CLI_H

#include "geolabel.h"

#include <stdio.h>

/* Exit codes: 0 success, 1 failure, 2 usage error, 3 finished with some inputs failed. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2, CLI_PARTIAL = 3 };

/* Prints "geolabel: <message>" for a failed library call and maps its status to an exit code. */
int cli_report(const gl_error *err);
/* Prints "geolabel <cmd>: <message>" plus a hint to --help; returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parses a positive integer option value; on failure prints a usage error and returns -1. */
int cli_parse_int(const char *cmd, const char *opt, const char *value, int min, int max);

/* ---------------------------------------------------------------- the option parser (options.c)
 *
 * Every command parses its argv with cli_getopt, a drop-in for getopt_long (same arguments, same
 * optind/optarg, options and operands in any order, "--" ends options) with these rules:
 *  - long names match exactly: no abbreviations ("--prompt" is not "--prompt-style");
 *  - '_' reads as '-' in long names, so GVL's spellings work ("--split_height_by",
 *    "--num_clusters", "--top_k"), and CLI_ALIASES below maps GVL's other names;
 *  - "-v", "-vv", "-q" and "--progress-interval S" are taken anywhere (log level; seconds
 *    between timestamped progress lines when stderr is not a terminal), "--version" prints the
 *    version and exits, in every command;
 *  - an unknown option or a missing value is reported here, naming the command and the option;
 *    cli_getopt then returns '?' and the command returns CLI_USAGE.
 *
 * Adding an option: put a row in your command's struct option table (an id >= CLI_O_LOCAL, or a
 * letter). An option two commands share is spelled once: add it to CLI_SHARED_OPTIONS (name,
 * value name, help with its default) and list CLI_OPT(ID) in each command's table; print its help
 * with cli_help(fp, CLI_O_ID), so names, defaults and help agree across commands. A whole-number
 * shared option is checked by cli_parse_shared_int (its limits in one place). An option that means
 * something else keeps its own row and says so in its help (train's --batch, model's stored
 * --dtype). tests/cli/cli_help.sh reads these tables: every row must appear in the --help. */
/* --progress-interval SECONDS (or =SECONDS), taken anywhere like -v: argv[0] is the candidate.
 * Returns the arguments it used (0: not this option), or -1 after a usage error. */
int cli_progress_option(const char *cmd, int argc, char **argv);
struct option;
int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts,
               int *longindex);

/* X(ID, "name", has_arg, "VALUE", "help, with the default"): options several commands share. */
#define CLI_SHARED_OPTIONS(X)                                                                      \
    X(MODEL, "model", 1, "M",                                                                      \
      "CLIP: HF or open_clip folder, checkpoint file with --arch, ORG/NAME[/FILE] pulled")         \
    X(ARCH, "arch", 1, "A", "open_clip architecture (ViT-B-32, ViT-L-14, ...) or its config JSON") \
    X(CLASSES, "classes", 1, "FILE", "classes.txt, one class per line ('#' comments skipped)")     \
    X(TEMPLATE, "template", 1, "T", "one prompt template with {} for the class name")              \
    X(TEMPLATES, "templates", 1, "FILE", "a prompt ensemble: one template with {} per line")       \
    X(CONTEXT, "context", 1, "TEXT", "GVL's context (default 'This is a satellite image.')")       \
    X(THREADS, "threads", 1, "N", "threads (default: all cores)")                                  \
    X(BATCH, "batch", 1, "N", "images per model call (default 16)")                                \
    X(DTYPE, "dtype", 1, "f32|bf16|int8", "the encoders' arithmetic (default f32, exact)")         \
    X(SPLIT, "split", 1, "RxC", "cut each scene into R rows by C columns (default 1x1)")           \
    X(SPLIT_H, "split-height-by", 1, "R", "rows of the split, as GVL spells it")                   \
    X(SPLIT_W, "split-width-by", 1, "C", "columns of the split, as GVL spells it")                 \
    X(BANDS, "bands", 1, "4,3,2", "bands for R,G,B (default: the colour bands, else the first 3)") \
    X(STRETCH, "stretch", 1, "S", "minmax|percentile[:LO,HI]|none to 8 bits (default minmax)")     \
    X(CACHE_DIR, "cache-dir", 1, "DIR", "cache folder (default $GEOLABEL_CACHE, ~/.cache/...)")    \
    X(RESUME, "resume", 0, "", "continue an interrupted or extended run into the same output")     \
    X(FORCE, "force", 0, "", "with --resume: continue even when the run's manifest differs")       \
    X(COLORS, "colors", 1, "FILE", "class colours, 'class,#RRGGBB' lines (default: from names)")   \
    X(OUTPUT, "output", 1, "OUT", "the output file (also -o)")                                     \
    X(SHARD, "shard", 1, "i/n",                                                                    \
      "only shard i of n (0-based), chosen by a hash of the input path;")                          \
    X(SHARD_BY, "shard-by", 1, "input|tile", "split the inputs (default), or every input's tiles") \
    X(SHARD_COUNT, "shard-count", 1, "N",                                                          \
      "shards of a Kubernetes indexed job (JOB_COMPLETION_INDEX)")                                 \
    X(HELP, "help", 0, "", "this help (also -h)")                                                  \
    X(JSON, "json", 0, "", "print one JSON object instead of text")                                \
    X(REMAINDER, "remainder", 1, "cover|drop",                                                     \
      "cover: the last row/column absorb the remainder (default);")                                \
    X(TILE, "tile", 1, "PX", "fixed PX windows instead of a split, read one by one")               \
    X(OVERLAP, "overlap", 1, "PX", "pixels neighbouring --tile windows share (default 0)")         \
    X(DATA, "data", 1, "F.jsonl[.gz]", "the Geograph data set's rows (JSONL, gzipped or not)")     \
    X(CLIP_DIM, "clip-dim", 1, "N", "the embeddings' width in --data rows (default 512)")          \
    X(KEEP_BAD_ROWS, "keep-bad-rows", 0, "",                                                       \
      "undecodable rows as zero vectors, as the reference (default: skipped)")                     \
    X(HEAD, "head", 1, "CKPT", "a Geograph .pth checkpoint, or a head from 'geolabel train'")      \
    X(PRED, "pred", 1, "FILE", "the predictions: label's output (with --geo: locate's)")           \
    X(TRUTH, "truth", 1, "FILE", "the reference: truth's or review's output (--geo: lat,lon)")     \
    X(LLM_API, "llm-api", 1, "API", "openai|azure|local (default openai; local with a base URL)")  \
    X(LLM_BASE_URL, "llm-base-url", 1, "URL", "an OpenAI-compatible root, e.g. .../v1")            \
    X(LLM_MODEL, "llm-model", 1, "M", "the LLM's model name (Azure: its deployment)")              \
    X(LLM_CONCURRENCY, "llm-concurrency", 1, "N", "LLM requests in flight (default 4)")            \
    X(LLM_RETRIES, "llm-retries", 1, "N", "retries on 429, 5xx, timeouts (default 5)")             \
    X(LLM_BACKOFF, "llm-backoff", 1, "S", "first retry delay, doubled, jittered (default 1)")      \
    X(LLM_TIMEOUT, "llm-timeout", 1, "S", "seconds for one whole LLM request (default 120)")       \
    X(LLM_MAX_FAILURES, "llm-max-failures", 1, "K", "stop after K failed in a row (default 5)")    \
    X(LLM_CACHE, "llm-cache", 1, "DIR", "LLM answers cached here (default OUT.llm-cache)")         \
    X(NO_LLM_CACHE, "no-llm-cache", 0, "", "neither read nor write the LLM answer cache")

#define CLI_SHARED_ID(ID, name, arg, value, help) CLI_O_##ID,
enum { CLI_O_FIRST = 256, CLI_SHARED_OPTIONS(CLI_SHARED_ID) CLI_O_LOCAL = 512 };
#undef CLI_SHARED_ID
/* A struct option row for a shared option (in an automatic, not static, table: the name comes from
 * the one list above). -o and -h stay the short forms of output and help. */
#define CLI_OPT(ID)                                                                                \
    { cli_shared_name(CLI_O_##ID), cli_shared_has_arg(CLI_O_##ID), 0, CLI_O_##ID }
const char *cli_shared_name(int id);
int cli_shared_has_arg(int id);
/* Prints the shared option's help line, aligned as the commands' usage texts. */
void cli_help(FILE *fp, int id);

/* GVL's names that differ by more than '_' for '-': {"gvl name", "our name"}. */
#define CLI_ALIASES                                                                                \
    {"classes_file", "classes"}, {"output_file", "output"}, {"input_dir", "input"},                \
        {"test_time_augmentation", "tta"}, {"num_clusters", "num-clusters"},                       \
        {"vision_model", "vlm-model"}, {"classifier", "llm-model"}, {"model_name", "llm-model"}, { \
        "openai_variant", "llm-api"                                                                \
    }

/* --batch's default, the same in every command that takes it. */
#define CLI_DEFAULT_BATCH 16

/* Checked before any work, so a typo fails in a second, not after the run: the output's folder
 * exists and is writable (0, else a printed error naming it and 1); a folder to write in (cache
 * dirs) exists or can be created. */
int cli_check_output(const char *cmd, const char *path);
int cli_check_dir(const char *cmd, const char *opt, const char *dir);

/* A whole-number shared option (--threads, --clip-dim, --split-height-by, ...) checked against its
 * one set of limits: the value, or -1 after a printed usage error. */
int cli_parse_shared_int(const char *cmd, int id, const char *value);
/* Shared option values (options.c): 0 on success, else a printed usage error and CLI_USAGE. */
int cli_parse_split(const char *cmd, const char *value, gl_tiling *tiling);    /* RxC */
int cli_parse_bands(const char *cmd, const char *value, gl_raster_params *rp); /* 4,3,2 */
int cli_parse_stretch(const char *cmd, const char *value, gl_raster_params *rp);
int cli_parse_dtype(const char *cmd, const char *value, gl_dtype *dtype); /* f32|bf16|int8 */
/* --dtype's help: the shared line and what each dtype needs (one text for every command). */
void cli_dtype_help(FILE *fp);

/* The tiling options of label, index and truth: one parser, one set of limits and one help, so
 * the same words cut the same tiles in both (eval matches their rows). --split-height-by and
 * --split-width-by override --split's rows or columns whatever their order. */
#define CLI_TILING_OPTS                                                                            \
    CLI_OPT(SPLIT), CLI_OPT(SPLIT_H), CLI_OPT(SPLIT_W), CLI_OPT(REMAINDER), CLI_OPT(TILE),         \
        CLI_OPT(OVERLAP)
typedef struct {
    int rows, cols; /* --split-height-by, --split-width-by (0: not given) */
} cli_split_by;
int cli_is_tiling_option(int id);
/* Option id (CLI_O_SPLIT...) with value v into t: 0, or a printed usage error and CLI_USAGE. */
int cli_tiling_option(const char *cmd, int id, const char *v, gl_tiling *t, cli_split_by *by);
/* After parsing: applies by to t and checks --overlap against --tile. 0 or CLI_USAGE. */
int cli_tiling_finish(const char *cmd, gl_tiling *t, const cli_split_by *by);
void cli_tiling_help(FILE *fp);

/* --shard i/n, --shard-by input|tile, --shard-count N (options.c), for every command that can
 * split its inputs over array tasks. Without --shard, cli_shard_resolve reads the scheduler's
 * array-task variables (Slurm, Kubernetes indexed jobs with --shard-count, AWS Batch). */
typedef struct {
    gl_shard shard;
    int given, count_hint;
    char digest[65]; /* cli_shard_keep: the whole input list's gl_inputs_digest, for the manifest */
    char model_hash[40];  /* the command's gl_clip_model_hash, for the manifest; "" when none */
    gl_dtype dtype;       /* --dtype: recorded as the manifest's compute_dtype when uses_clip */
    int uses_clip;        /* the command runs a CLIP tower (not predict --data, dataset targets) */
    char head_sha256[65]; /* predict's gl_head_sha256, for the manifest; "" when none */
} cli_shard;
/* The shard options' rows and help, for every command that splits its inputs. */
#define CLI_SHARD_OPTS CLI_OPT(SHARD), CLI_OPT(SHARD_BY), CLI_OPT(SHARD_COUNT)
void cli_shard_help(FILE *fp);
/* Handles option which (CLI_O_SHARD...) with value v: 0, or a printed usage error's exit code. */
int cli_shard_option(const char *cmd, int which, const char *v, cli_shard *o);
/* After parsing: the scheduler's shard when --shard was not given. 0 or CLI_USAGE. */
int cli_shard_resolve(const char *cmd, cli_shard *o);
/* Keeps, in order, the items[0..n) the shard owns (all when unsharded); ordinals (room for n)
 * get their places in the full list, o->digest the full list's digest. Returns how many are
 * kept. */
int cli_shard_keep(cli_shard *o, char **items, int n, long *ordinals);
/* For a sharded run: writes OUT.manifest.json with the command, o's model hash, its options
 * (opts[0..n_opts): the argv options, less --shard, -o, --threads, -v/-q, --resume, which differ
 * between tasks) and the kept inputs (NULL: rows of a data file, unlisted) with o's digest. 0, or
 * a printed error's exit code. */
void cli_shard_model(cli_shard *o, gl_clip *clip);  /* records clip's hash when sharded */
int cli_shard_head(cli_shard *o, const gl_head *h); /* h's sha256 when sharded: 0 or exit code */
int cli_shard_record(const char *cmd, int n_opts, char **opts, const cli_shard *o,
                     const char *output, char **inputs, const long *ordinals, int n, long total);

/* The LLM options (llm_opts.c). The client's are shared (CLI_O_LLM_*, rows CLI_LLM_ROWS);
 * label's pipeline options are label's own (CLI_OPT_*, rows CLI_LLM_LABEL_ROWS). */
enum {
    CLI_OPT_CLASSIFIER_TYPE = CLI_O_LOCAL + 100,
    CLI_OPT_VLM_MODEL,
    CLI_OPT_PROMPT,
    CLI_OPT_INCLUDE_FILENAME,
    CLI_OPT_INCLUDE_CLASSES,
    CLI_OPT_APPLY_TEMPLATE,
    CLI_OPT_VLM_SIZE,
    CLI_OPT_VLM_MAX_TOKENS,
    CLI_OPT_VLM_TEMPERATURE,
    CLI_OPT_LLM_MAX_TOKENS,
    CLI_OPT_LLM_TEMPERATURE,
    CLI_OPT_DESCRIPTIONS,
    CLI_OPT_VLM_BASE_URL,
    CLI_OPT_LLM_LAST = CLI_OPT_VLM_BASE_URL
};
/* clang-format off */
#define CLI_LLM_ROWS                                                            \
    CLI_OPT(LLM_API), CLI_OPT(LLM_BASE_URL), CLI_OPT(LLM_MODEL),                \
    CLI_OPT(LLM_CONCURRENCY), CLI_OPT(LLM_RETRIES), CLI_OPT(LLM_BACKOFF),       \
    CLI_OPT(LLM_TIMEOUT), CLI_OPT(LLM_MAX_FAILURES), CLI_OPT(LLM_CACHE),        \
    CLI_OPT(NO_LLM_CACHE)
#define CLI_LLM_LABEL_ROWS                                                      \
    CLI_LLM_ROWS,                                                               \
    {"classifier-type", required_argument, 0, CLI_OPT_CLASSIFIER_TYPE},         \
    {"vlm-model", required_argument, 0, CLI_OPT_VLM_MODEL},                     \
    {"prompt", required_argument, 0, CLI_OPT_PROMPT},                           \
    {"include-filename", no_argument, 0, CLI_OPT_INCLUDE_FILENAME},             \
    {"include-classes", no_argument, 0, CLI_OPT_INCLUDE_CLASSES},               \
    {"apply-vision-template", no_argument, 0, CLI_OPT_APPLY_TEMPLATE},          \
    {"vlm-size", required_argument, 0, CLI_OPT_VLM_SIZE},                       \
    {"vlm-max-tokens", required_argument, 0, CLI_OPT_VLM_MAX_TOKENS},           \
    {"vlm-temperature", required_argument, 0, CLI_OPT_VLM_TEMPERATURE},         \
    {"llm-max-tokens", required_argument, 0, CLI_OPT_LLM_MAX_TOKENS},           \
    {"llm-temperature", required_argument, 0, CLI_OPT_LLM_TEMPERATURE},         \
    {"descriptions", required_argument, 0, CLI_OPT_DESCRIPTIONS},               \
    {"vlm-base-url", required_argument, 0, CLI_OPT_VLM_BASE_URL}
/* clang-format on */
/* 1 for an option code cli_llm_option or cli_llm_label_option takes. */
int cli_is_llm_option(int code);
typedef struct {
    gl_llm_params p;
    int api_set, no_cache;
    const char *model; /* --llm-model */
    const char *cache;
    const char *vlm_base_url; /* label: a second, local server for the vision step */
    char cache_buf[4096];
} cli_llm_opts;
cli_llm_opts cli_llm_defaults(void);
/* A shared CLI_O_LLM_* code: 0, or a printed usage error and CLI_USAGE. */
int cli_llm_option(const char *cmd, int code, const char *value, cli_llm_opts *o);
/* Any LLM code, label's included: the client's into o, the pipeline's into *lp. */
int cli_llm_label_option(const char *cmd, int code, const char *value, cli_llm_opts *o,
                         gl_label_llm *lp);
/* The help lines: the client's (with where keys come from), and label's pipeline's. */
void cli_llm_help(FILE *fp);
void cli_llm_label_help(FILE *fp);
/* The client, its cache beside output unless told otherwise (its folder checked first). */
gl_llm *cli_llm_open(const char *cmd, cli_llm_opts *o, const char *output, gl_error *err);
/* The vision step's own client when --vlm-base-url names one (a local server, same settings and
 * cache); NULL with err clear when there is none. */
gl_llm *cli_vlm_open(const cli_llm_opts *o, gl_error *err);
/* Prints the requests, cache hits and tokens of the run on stderr; what: "llm" or "vision llm". */
void cli_llm_report(const gl_llm *llm, const char *what);

/* Subcommands: argv[0] is the subcommand name. Declared weak so the table can list a command
 * whose file is still being written; main() reports such a command as not built. */
#define CLI_COMMANDS(X)                                                                            \
    X(embed, "embed images or texts into .npy or .jsonl")                                          \
    X(tokenize, "CLIP token ids for text lines on stdin")                                          \
    X(classify, "zero-shot classification of whole images")                                        \
    X(model, "model pull | info | convert | random: fetch, inspect, convert models")               \
    X(label, "zero-shot labelling of tiles of scenes (GeoVision Labeler style)")                   \
    X(cluster, "cluster class names into a meta-class YAML")                                       \
    X(show, "draw labels over a scene as a PNG")                                                   \
    X(truth, "ground-truth tile labels from a mask or footprints")                                 \
    X(eval, "evaluate labels (--pred/--truth), heads (--head) or geolocation (--geo)")             \
    X(predict, "Geograph-style head predictions")                                                  \
    X(dataset, "Geograph data set: targets | stats | build")                                       \
    X(train, "train an MLP head on embeddings")                                                    \
    X(locate, "geolocate photos (zeroshot country->city, or geoclip)")                             \
    X(merge, "merge the outputs of a sharded run (--shard i/n) into one")                          \
    X(bench, "time the CLIP towers alone on synthetic inputs (like llama-bench)")                  \
    X(index, "store tile embeddings once (a GeoPackage) for label --from-index and search")        \
    X(search, "the tiles of an index nearest a text, an image or a tile")                          \
    X(review, "a self-contained HTML page to review and correct labels")

#define CLI_DECLARE(name, help) int cmd_##name(int argc, char **argv) __attribute__((weak));
CLI_COMMANDS(CLI_DECLARE)
#undef CLI_DECLARE

/* `geolabel label` and `geolabel index` share one parser and run (label.c); cmd picks the mode. */
int cli_label_main(const char *cmd, int argc, char **argv);
void cli_index_usage(FILE *fp);

/* `geolabel eval` serves three paths, each in its own file; eval.c picks one by flag. */
int cli_eval_labels(int argc, char **argv) __attribute__((weak)); /* --pred/--truth */
int cli_eval_head(int argc, char **argv) __attribute__((weak));   /* --head */
int cli_eval_geo(int argc, char **argv) __attribute__((weak));    /* --geo */

#endif
