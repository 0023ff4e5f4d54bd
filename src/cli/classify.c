/* classify.c: `geolabel classify --model M --classes classes.txt IMAGE... [-o out.csv]`:
 * whole-image zero-shot classification, one CSV row per image (filename,label,score,top_k). */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>

static void usage(FILE *fp) {
    fprintf(fp,
            "usage: geolabel classify --model DIR|ORG/NAME --classes CLASSES.txt [--template T]\n"
            "                         [--top-k K] [--batch N] [--threads N] [-o OUT.csv] IMAGE...\n"
            "  CLASSES.txt: one class name per line ('#' comments and blank lines skipped)\n"
            "  --template: prompt with {} for the class name (default 'a photo of {}.')\n"
            "  --top-k: classes listed in the top_k column (default 5)\n"
            "Writes CSV filename,label,score,top_k (top_k as 'label:prob;label:prob'), to stdout\n"
            "without -o.\n");
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
        if (out) s = gl_atomic_commit(&f, err);
    }
    free(embeds);
    free(probs);
    gl_clip_free(clip);
    gl_strings_free(classes, n_classes);
    return s;
}

int cmd_classify(int argc, char **argv) {
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"classes", required_argument, 0, 'c'},
                                         {"template", required_argument, 0, 't'},
                                         {"top-k", required_argument, 0, 'k'},
                                         {"batch", required_argument, 0, 'b'},
                                         {"threads", required_argument, 0, 'j'},
                                         {"output", required_argument, 0, 'o'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *model = NULL, *classes = NULL, *template = NULL, *out = NULL;
    int top_k = 5, c;
    gl_clip_params p = gl_clip_default_params();
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:o:h", opts, NULL)) != -1) {
        if (c == 'm')
            model = optarg;
        else if (c == 'c')
            classes = optarg;
        else if (c == 't')
            template = optarg;
        else if (c == 'o')
            out = optarg;
        else if (c == 'k' && (top_k = cli_parse_int("classify", "--top-k", optarg, 1, 1000000)) < 0)
            return CLI_USAGE;
        else if (c == 'b' &&
                 (p.max_batch = cli_parse_int("classify", "--batch", optarg, 1, 4096)) < 0)
            return CLI_USAGE;
        else if (c == 'j' &&
                 (p.threads = cli_parse_int("classify", "--threads", optarg, 1, 1024)) < 0)
            return CLI_USAGE;
        else if (c == 'h')
            return usage(stdout), CLI_OK;
        else if (c == '?')
            return cli_usage_error("classify", "unknown option");
    }
    if (!model || !classes)
        return cli_usage_error("classify", "--model and --classes are required");
    if (optind >= argc) return cli_usage_error("classify", "no images to classify");
    gl_error err = {0};
    gl_status s = run(model, &p, classes, template, top_k, (const char *const *)argv + optind,
                      argc - optind, out, &err);
    return s ? cli_report(&err) : CLI_OK;
}
