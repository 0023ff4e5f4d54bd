/* classify.c: `geolabel classify --model M --classes classes.txt IMAGE... [-o out.csv]`:
 * whole-image zero-shot classification, one CSV row per image (filename,label,score,top_k). */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp) {
    fprintf(fp, "usage: geolabel classify --model M --classes CLASSES.txt [options] IMAGE...\n");
    cli_help(fp, CLI_O_MODEL);
    cli_help(fp, CLI_O_ARCH);
    cli_help(fp, CLI_O_CLASSES);
    fprintf(fp, "  --template T              prompt with {} for the class name (default 'a photo "
                "of {}.')\n"
                "  --top-k K                 classes listed in the top_k column (default 5)\n");
    cli_help(fp, CLI_O_BATCH);
    cli_help(fp, CLI_O_THREADS);
    cli_dtype_help(fp);
    fprintf(fp, "  -o, --output OUT.csv      the CSV (default: stdout)\n"
                "Writes CSV filename,label,score,top_k (top_k as 'label:prob;label:prob').\n"
                "A hierarchy (.yaml) is `label`'s: classify takes a flat list only.\n");
}

static gl_status run(const char *model, const gl_clip_params *p, const char *classes_path,
                     const char *template, int top_k, const char *const *images, int n,
                     const char *out, gl_error *err) {
    char **classes = NULL;
    int n_classes = 0;
    gl_status s = gl_class_list_read(classes_path, &classes, &n_classes, err);
    if (s) return s;
    gl_clip *clip = gl_clip_load(model, p, err);
    float *embeds = NULL, *probs = NULL;
    if (!clip) s = err->code ? err->code : GL_ERR_INTERNAL;
    if (!s) {
        embeds = malloc(sizeof(float) * (size_t)n * gl_clip_projection_dim(clip));
        probs = malloc(sizeof(float) * (size_t)n * n_classes);
        if (!embeds || !probs) s = gl_fail(err, GL_ERR_NOMEM, "classify: out of memory");
    }
    if (!s) s = gl_clip_encode_image_files(clip, images, n, embeds, err);
    if (!s)
        s = gl_classify_zeroshot(clip, embeds, n, (const char *const *)classes, n_classes, template,
                                 probs, err);
    gl_atomic_file f = {0};
    if (!s && out) s = gl_atomic_open(&f, out, err);
    if (!s) {
        gl_classify_write_csv(out ? f.fp : stdout, images, probs, n, (const char *const *)classes,
                              n_classes, top_k);
        if (out)
            s = gl_atomic_commit(&f, err);
        else if (fflush(stdout) != 0 || ferror(stdout))
            s = gl_fail(err, GL_ERR_IO, "stdout: cannot write the results: %s", strerror(errno));
    }
    free(embeds);
    free(probs);
    gl_clip_free(clip);
    gl_strings_free(classes, n_classes);
    return s;
}

int cmd_classify(int argc, char **argv) {
    const struct option opts[] = {CLI_OPT(MODEL),
                                  CLI_OPT(ARCH),
                                  CLI_OPT(CLASSES),
                                  CLI_OPT(TEMPLATE),
                                  {"top-k", required_argument, 0, 'k'},
                                  CLI_OPT(BATCH),
                                  CLI_OPT(THREADS),
                                  CLI_OPT(DTYPE),
                                  CLI_OPT(OUTPUT),
                                  CLI_OPT(HELP),
                                  {0, 0, 0, 0}};
    const char *model = NULL, *classes = NULL, *template = NULL, *out = NULL;
    int top_k = 5, c;
    gl_clip_params p = gl_clip_default_params();
    p.max_batch = CLI_DEFAULT_BATCH;
    optind = 1;
    while ((c = cli_getopt(argc, argv, "m:o:h", opts, NULL)) != -1) {
        if (c == 'm' || c == CLI_O_MODEL)
            model = optarg;
        else if (c == CLI_O_ARCH)
            p.arch = optarg;
        else if (c == CLI_O_CLASSES)
            classes = optarg;
        else if (c == CLI_O_TEMPLATE)
            template = optarg;
        else if (c == 'o' || c == CLI_O_OUTPUT)
            out = optarg;
        else if (c == 'k' && (top_k = cli_parse_int("classify", "--top-k", optarg, 1, 1000000)) < 0)
            return CLI_USAGE;
        else if (c == CLI_O_BATCH &&
                 (p.max_batch = cli_parse_int("classify", "--batch", optarg, 1, 4096)) < 0)
            return CLI_USAGE;
        else if (c == CLI_O_THREADS &&
                 (p.threads = cli_parse_shared_int("classify", CLI_O_THREADS, optarg)) < 0)
            return CLI_USAGE;
        else if (c == CLI_O_DTYPE && cli_parse_dtype("classify", optarg, &p.dtype))
            return CLI_USAGE;
        else if (c == 'h' || c == CLI_O_HELP)
            return usage(stdout), CLI_OK;
        else if (c == '?')
            return CLI_USAGE; /* cli_getopt said why */
    }
    if (!model || !classes)
        return cli_usage_error("classify", "--model and --classes are required");
    if (optind >= argc) return cli_usage_error("classify", "no images to classify");
    if (gl_path_has_suffix(classes, ".yaml") || gl_path_has_suffix(classes, ".yml"))
        return cli_usage_error("classify",
                               "%s is a hierarchy; classify takes a flat class list (use `label` "
                               "for a hierarchy)",
                               classes);
    if (out && !gl_path_has_suffix(out, ".csv"))
        return cli_usage_error("classify", "%s: classify writes CSV only; name the output .csv",
                               out);
    if (out && cli_check_output("classify", out)) return CLI_FAIL;
    gl_error err = {0};
    gl_status s = run(model, &p, classes, template, top_k, (const char *const *)argv + optind,
                      argc - optind, out, &err);
    return s ? cli_report(&err) : CLI_OK;
}
