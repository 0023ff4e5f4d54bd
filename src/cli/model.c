/* model.c: `geolabel model pull` (Hub download into the cache), `model info` (what a model is),
 * `model convert` (any model as an HF folder) and `model random` (random weights for benchmarks).
 */
#include "cli.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp) {
    fprintf(
        fp,
        "usage: geolabel model pull ORG/NAME [--revision REV] [--file PATH [--arch A]]\n"
        "                           [--cache-dir DIR]\n"
        "         Downloads from the Hugging Face Hub ($HF_ENDPOINT, $HF_TOKEN) into the cache\n"
        "         (--cache-dir, else $GEOLABEL_CACHE, else $XDG_CACHE_HOME/geolabel, else\n"
        "         ~/.cache/geolabel) and prints where. A CLIP folder: model.safetensors, else "
        "pytorch_model.bin\n"
        "         (whole or sharded), or an open_clip repository's config and weights; --model\n"
        "         ORG/NAME then finds it. --file PATH fetches one checkpoint (e.g.\n"
        "         RemoteCLIP-ViT-B-32.pt); --model ORG/NAME/PATH then finds it, with the --arch\n"
        "         given here kept beside it.\n"
        "       geolabel model info MODEL [--arch A] [--json]\n"
        "         Source, architecture, parameter count, dtype, family, preprocessing, file "
        "sizes.\n"
        "       geolabel model convert MODEL [--arch A] [--dtype f32|int8] -o DIR\n"
        "         Writes MODEL as a Hugging Face CLIP folder (config.json, model.safetensors in "
        "F32,\n"
        "         vocab.json, merges.txt, preprocessor_config.json) that loads without copies.\n"
        "       geolabel model random --like vit-b-32|vit-b-16|vit-l-14|vit-l-14-336 -o DIR\n"
        "                             [--seed N] [--dtype f32|f16]\n"
        "         Writes a Hub-layout CLIP folder with random weights (for benchmarks); "
        "vocab.json\n"
        "         and merges.txt come from $GEOLABEL_DATA/clip-bpe, else data/clip-bpe beside the\n"
        "         executable's folder, else /usr/share/geolabel/clip-bpe.\n"
        "  MODEL: an HF CLIP folder (safetensors or pytorch_model.bin), an open_clip folder, a\n"
        "  checkpoint file (.pt/.pth/.bin/.safetensors) with --arch, ORG/NAME or ORG/NAME/FILE "
        "pulled.\n"
        "options:\n");
    cli_help(fp, CLI_O_ARCH);
    fprintf(fp,
            "  --revision REV            pull: a branch, tag, commit or refs/pr/N (default main)\n"
            "  --file PATH               pull: one checkpoint file of the repository\n");
    cli_help(fp, CLI_O_CACHE_DIR);
    fprintf(fp, "                            (pull; also --cache DIR)\n");
    cli_help(fp, CLI_O_JSON);
    cli_help(fp, CLI_O_OUTPUT);
    fprintf(
        fp,
        "  --dtype f32|int8|f16      how the written weights are STORED, not the compute\n"
        "                            dtype of other commands' --dtype. convert: f32 (default),\n"
        "                            or int8 to also store the image tower's weights\n"
        "                            quantised once (int8.safetensors), which --dtype int8\n"
        "                            loads as stored; random: f32 (default) or f16\n"
        "  --like ARCH               random: the architecture (vit-b-32, vit-b-16, vit-l-14,\n"
        "                            vit-l-14-336)\n"
        "  --seed N                  random: seed of the weights (default 0)\n");
    cli_help(fp, CLI_O_HELP);
}

/* --dtype of convert and random: the stored format of the written weights (one row, one check),
 * a different option from the compute --dtype (cli_parse_dtype) of the commands that run towers. */
#define STORED_DTYPE_ROW                                                                           \
    { "dtype", required_argument, 0, 'd' }
static const char *parse_stored_dtype(const char *cmd, const char *v, const char *a,
                                      const char *b) {
    if (!strcmp(v, "fp32")) return "f32"; /* as the compute --dtype spells it too */
    if (strcmp(v, a) && strcmp(v, b)) {
        cli_usage_error(cmd, "--dtype is %s or %s (how the weights are stored), not '%s'", a, b, v);
        return NULL;
    }
    return v;
}

static int model_pull(int argc, char **argv) {
    /* --cache was pull's name for the shared --cache-dir; it still works. */
    const struct option opts[] = {{"revision", required_argument, 0, 'r'},
                                  CLI_OPT(CACHE_DIR),
                                  {"cache", required_argument, 0, 'c'},
                                  {"file", required_argument, 0, 'f'},
                                  CLI_OPT(ARCH),
                                  CLI_OPT(HELP),
                                  {0}};
    gl_pull_params p = gl_pull_default_params();
    int c;
    optind = 1;
    while ((c = cli_getopt(argc, argv, "r:c:f:a:h", opts, NULL)) != -1) {
        if (c == 'r')
            p.revision = optarg;
        else if (c == 'f')
            p.file = optarg;
        else if (c == 'a' || c == CLI_O_ARCH)
            p.arch = optarg;
        else if (c == 'c' || c == CLI_O_CACHE_DIR)
            setenv("GEOLABEL_CACHE", optarg, 1); /* the library reads the cache root from here */
        else if (c == 'h' || c == CLI_O_HELP)
            return usage(stdout), CLI_OK;
        else
            return CLI_USAGE; /* cli_getopt said why */
    }
    if (optind + 1 != argc) return cli_usage_error("model pull", "give exactly one ORG/NAME");
    if (p.arch && !p.file) return cli_usage_error("model pull", "--arch goes with --file");
    gl_error err = {0};
    char where[4096];
    if (gl_hub_pull(argv[optind], &p, where, sizeof where, &err)) return cli_report(&err);
    printf("%s\n", where);
    return CLI_OK;
}

/* MODEL [--arch A] [--json] [-o DIR] [--dtype D], for info and convert. */
static int model_args(const char *cmd, int argc, char **argv, const char **model, const char **arch,
                      int *json, const char **out, gl_dtype *dtype) {
    const struct option info_opts[] = {CLI_OPT(ARCH), CLI_OPT(JSON), CLI_OPT(HELP), {0}};
    const struct option convert_opts[] = {
        CLI_OPT(ARCH), CLI_OPT(OUTPUT), STORED_DTYPE_ROW, CLI_OPT(HELP), {0}};
    int c;
    optind = 1;
    while ((c = cli_getopt(argc, argv, out ? "a:o:h" : "a:h", out ? convert_opts : info_opts,
                           NULL)) != -1) {
        if (c == 'a' || c == CLI_O_ARCH)
            *arch = optarg;
        else if (c == CLI_O_JSON && json)
            *json = 1;
        else if ((c == 'o' || c == CLI_O_OUTPUT) && out)
            *out = optarg;
        else if (c == 'd' && dtype) {
            const char *d = parse_stored_dtype(cmd, optarg, "f32", "int8");
            if (!d) return CLI_USAGE;
            *dtype = strcmp(d, "int8") ? GL_DTYPE_F32 : GL_DTYPE_INT8;
        } else if (c == 'h' || c == CLI_O_HELP) {
            usage(stdout);
            return -1;
        } else
            return CLI_USAGE; /* cli_getopt said why */
    }
    if (optind + 1 != argc) return cli_usage_error(cmd, "give exactly one MODEL");
    *model = argv[optind];
    if (out && !*out) return cli_usage_error(cmd, "-o DIR is required");
    return 0;
}

static cJSON *int_array(const int *v, int n) {
    return cJSON_CreateIntArray(v, n);
}

static cJSON *float_array(const float *v) {
    double d[3] = {v[0], v[1], v[2]};
    return cJSON_CreateDoubleArray(d, 3);
}

/* The keys both towers report, in the order both print them. */
static void add_tower_shape(cJSON *o, int width, int layers, int heads, int mlp, const char *act) {
    cJSON_AddNumberToObject(o, "width", width);
    cJSON_AddNumberToObject(o, "layers", layers);
    cJSON_AddNumberToObject(o, "heads", heads);
    cJSON_AddNumberToObject(o, "mlp", mlp);
    cJSON_AddStringToObject(o, "act", act);
}

static void print_info_json(const gl_model_info *m) {
    const gl_preproc_config *p = &m->preproc;
    int oc = p->family == GL_PREPROC_OPEN_CLIP;
    cJSON *j = cJSON_CreateObject(), *v = cJSON_CreateObject(), *t = cJSON_CreateObject(),
          *pp = cJSON_CreateObject(), *files = cJSON_CreateArray();
    cJSON_AddStringToObject(j, "path", m->path);
    cJSON_AddStringToObject(j, "source", m->source);
    cJSON_AddStringToObject(j, "key_style", m->key_style);
    cJSON_AddStringToObject(j, "config", m->config);
    if (m->arch)
        cJSON_AddStringToObject(j, "arch", m->arch);
    else
        cJSON_AddNullToObject(j, "arch");
    cJSON_AddStringToObject(j, "family", m->family);
    cJSON_AddNumberToObject(j, "params", (double)m->params);
    cJSON_AddStringToObject(j, "dtype", m->dtype);
    cJSON_AddNumberToObject(j, "embed_dim", m->embed_dim);
    cJSON_AddNumberToObject(j, "logit_scale", (double)m->logit_scale);
    cJSON_AddStringToObject(v, "type", "ViT");
    cJSON_AddNumberToObject(v, "image_size", m->vision.image_size);
    cJSON_AddNumberToObject(v, "patch_size", m->vision.patch_size);
    add_tower_shape(v, m->vision.width, m->vision.layers, m->vision.heads, m->vision.mlp,
                    m->vision.act);
    cJSON_AddItemToObject(j, "vision", v);
    cJSON_AddNumberToObject(t, "context", m->text.context);
    cJSON_AddNumberToObject(t, "vocab", m->text.vocab);
    add_tower_shape(t, m->text.width, m->text.layers, m->text.heads, m->text.mlp, m->text.act);
    cJSON_AddStringToObject(t, "pooling", m->text.pool_argmax ? "argmax" : "eos");
    cJSON_AddNumberToObject(t, "eos_token_id", m->text.eos_token_id);
    cJSON_AddItemToObject(j, "text", t);
    int crop[2] = {p->do_center_crop ? p->crop_height : 0, p->do_center_crop ? p->crop_width : 0};
    cJSON_AddStringToObject(pp, "family", oc ? "open_clip" : "hf");
    cJSON_AddNumberToObject(pp, "resize_shortest_edge", p->do_resize ? p->resize_shortest_edge : 0);
    cJSON_AddItemToObject(pp, "crop", int_array(crop, 2));
    cJSON_AddStringToObject(pp, "crop_rounding", oc ? "half_even" : "floor");
    cJSON_AddItemToObject(pp, "mean", float_array(p->mean));
    cJSON_AddItemToObject(pp, "std", float_array(p->std));
    cJSON_AddItemToObject(j, "preprocess", pp);
    for (int i = 0; i < m->n_files; i++) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "path", m->files[i]);
        cJSON_AddNumberToObject(f, "bytes", (double)m->file_bytes[i]);
        cJSON_AddItemToArray(files, f);
    }
    cJSON_AddItemToObject(j, "files", files);
    cJSON_AddNumberToObject(j, "total_bytes", (double)m->total_bytes);
    char *text = cJSON_Print(j);
    if (text) puts(text);
    free(text);
    cJSON_Delete(j);
}

static void print_info_text(const gl_model_info *m) {
    const gl_preproc_config *p = &m->preproc;
    printf("path:          %s\n", m->path);
    printf("source:        %s (tensor names: %s)\n", m->source, m->key_style);
    printf("architecture:  %s%s%s\n", m->config, m->arch ? " = open_clip " : "",
           m->arch ? m->arch : "");
    printf("family:        %s\n", m->family);
    printf("parameters:    %lld (%.1f M)\n", m->params, m->params / 1e6);
    printf("dtype:         %s\n", m->dtype);
    printf("embed_dim:     %d    logit_scale: %.4g\n", m->embed_dim, (double)m->logit_scale);
    printf("vision:        ViT image %d, patch %d, width %d, %d layers, %d heads, mlp %d, %s\n",
           m->vision.image_size, m->vision.patch_size, m->vision.width, m->vision.layers,
           m->vision.heads, m->vision.mlp, m->vision.act);
    printf("text:          context %d, vocab %d, width %d, %d layers, %d heads, mlp %d, %s, "
           "pooled at %s\n",
           m->text.context, m->text.vocab, m->text.width, m->text.layers, m->text.heads,
           m->text.mlp, m->text.act, m->text.pool_argmax ? "argmax(input_ids)" : "the first EOS");
    printf("preprocessing: %s: bicubic resize of the shortest edge to %d, centre crop %dx%d "
           "(offset %s), mean %.8g %.8g %.8g, std %.8g %.8g %.8g\n",
           p->family == GL_PREPROC_OPEN_CLIP ? "open_clip (torchvision)"
                                             : "hf (CLIPImageProcessor)",
           p->resize_shortest_edge, p->crop_width, p->crop_height,
           p->family == GL_PREPROC_OPEN_CLIP ? "rounded half to even" : "floored",
           (double)p->mean[0], (double)p->mean[1], (double)p->mean[2], (double)p->std[0],
           (double)p->std[1], (double)p->std[2]);
    for (int i = 0; i < m->n_files; i++)
        printf("file:          %s (%lld bytes)\n", m->files[i], m->file_bytes[i]);
    printf("total:         %lld bytes\n", m->total_bytes);
}

static int model_info(int argc, char **argv) {
    const char *model = NULL, *arch = NULL;
    int json = 0;
    int r = model_args("model info", argc, argv, &model, &arch, &json, NULL, NULL);
    if (r) return r < 0 ? CLI_OK : r;
    gl_error err = {0};
    gl_model_info *m = gl_model_info_load(model, arch, &err);
    if (!m) return cli_report(&err);
    if (json)
        print_info_json(m);
    else
        print_info_text(m);
    gl_model_info_free(m);
    return CLI_OK;
}

static int model_convert(int argc, char **argv) {
    const char *model = NULL, *arch = NULL, *out = NULL;
    gl_dtype dtype = GL_DTYPE_F32;
    int r = model_args("model convert", argc, argv, &model, &arch, NULL, &out, &dtype);
    if (r) return r < 0 ? CLI_OK : r;
    gl_error err = {0};
    if (gl_model_convert(model, arch, out, &err)) return cli_report(&err);
    if (dtype == GL_DTYPE_INT8 && gl_model_quantize_int8(out, &err)) return cli_report(&err);
    printf("%s\n", out);
    return CLI_OK;
}

static int model_random(int argc, char **argv) {
    const struct option opts[] = {{"like", required_argument, 0, 'l'},
                                  CLI_OPT(OUTPUT),
                                  {"seed", required_argument, 0, 's'},
                                  STORED_DTYPE_ROW,
                                  CLI_OPT(HELP),
                                  {0}};
    const char *like = NULL, *out = NULL, *dtype = "f32";
    unsigned long long seed = 0;
    int c;
    optind = 1;
    while ((c = cli_getopt(argc, argv, "l:o:s:d:h", opts, NULL)) != -1) {
        if (c == 'l')
            like = optarg;
        else if (c == 'o' || c == CLI_O_OUTPUT)
            out = optarg;
        else if (c == 'd') {
            if (!(dtype = parse_stored_dtype("model random", optarg, "f32", "f16")))
                return CLI_USAGE;
        } else if (c == 's') {
            char *end;
            seed = strtoull(optarg, &end, 10);
            if (*end || end == optarg)
                return cli_usage_error("model random", "--seed takes a whole number");
        } else if (c == 'h' || c == CLI_O_HELP)
            return usage(stdout), CLI_OK;
        else
            return CLI_USAGE; /* cli_getopt said why */
    }
    if (!like || !out) return cli_usage_error("model random", "--like and -o are required");
    if (optind < argc)
        return cli_usage_error("model random", "unexpected argument '%s'", argv[optind]);
    gl_error err = {0};
    if (gl_clip_random_model(like, out, (uint64_t)seed, dtype, &err)) return cli_report(&err);
    return CLI_OK;
}

int cmd_model(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "pull")) return model_pull(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "random")) return model_random(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "info")) return model_info(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "convert")) return model_convert(argc - 1, argv + 1);
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
        return usage(stdout), CLI_OK;
    if (argc < 2) return usage(stderr), CLI_USAGE;
    return cli_usage_error("model", "unknown subcommand '%s' (pull, info, convert, random)",
                           argv[1]);
}
