/* label.c: `geolabel label`: zero-shot labels for the tiles of scenes, GeoVision Labeler style.
 * Parses options into gl_label_params, loads the model, runs gl_label_run, prints the summary. */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp) {
    fprintf(fp,
            "usage: geolabel label --model M --classes FILE [options] INPUT... -o OUT\n"
            "  INPUT                     image files, directories (their files), quoted globs, or\n"
            "                            GDAL paths (/vsizip/..., /vsicurl/..., https://...);\n"
            "                            also --input PATH (GVL's --input_dir)\n");
    cli_help(fp, CLI_O_MODEL);
    cli_help(fp, CLI_O_ARCH);
    fprintf(fp, "  --classes FILE            classes.txt (one per line) or a GVL hierarchy .yaml\n"
                "  -o, --output OUT          .csv (GVL's columns, then score, crs, x_min, y_min,\n"
                "                            x_max, y_max, lon, lat, input: the path as given),\n"
                "                            .geojson (EPSG:4326) or .gpkg; as in GVL, 'lower' is\n"
                "                            the tile's top pixel row, 'upper' its bottom\n"
                "  --crs CRS                 the output CRS (EPSG:3857, WKT, PROJ, a file): tile\n"
                "                            polygons and the crs/x/y columns in it. Default: a\n"
                "                            CSV row in its input's CRS; a .gpkg in its inputs'\n"
                "                            CRS when they share one, else EPSG:4326\n"
                "  --layer-per-crs           .gpkg: one layer per input CRS (labels_epsg_N, or\n"
                "                            labels_crs_HASH for a CRS without a code)\n"
                "                            (inputs without a geotransform or CRS: no geometry;\n"
                "                            in a .gpkg the table labels_nogeo)\n"
                "tiles:\n");
    cli_tiling_help(fp);
    fprintf(
        fp,
        "  a tile whose shorter side exceeds 4 model inputs (896 px at 224) is read at reduced\n"
        "  resolution by GDAL (averaged, through overviews when the file has them): that\n"
        "  shorter side 4 x the input, the other in proportion, at most 4 Mpixels; smaller\n"
        "  tiles are read exactly (README: Large scenes and large tiles)\n");
    cli_help(fp, CLI_O_BANDS);
    cli_help(fp, CLI_O_STRETCH);
    fprintf(fp, "classes and prompts:\n"
                "  --mode flat|hierarchical  default: hierarchical for .yaml/.yml classes\n");
    cli_help(fp, CLI_O_CONTEXT);
    fprintf(fp, "  --prompt-style gvl        GVL's \"{context} Label '{label}'.\" (default)\n");
    cli_help(fp, CLI_O_TEMPLATE);
    cli_help(fp, CLI_O_TEMPLATES);
    fprintf(fp, "  --tta LIST                average over augmentations: x,y,xy,rot90,rot270\n"
                "                            (GVL's --test_time_augmentation)\n");
    fprintf(fp,
            "inputs (README: Scaling out):\n"
            "  --inputs-from FILE        inputs one per line (- for stdin), before any INPUT\n"
            "  INPUT may be https://... or s3://BUCKET/KEY (read by HTTP range requests)\n"
            "  --stac ITEM|URL           a STAC Item, ItemCollection or search result: its\n"
            "                            items are inputs too, keyed by item id\n"
            "  --asset NAME|R,G,B        the asset to read (default visual), or three band\n"
            "                            assets (red,green,blue: keys or eo:bands common names)\n"
            "scale-out:\n");
    cli_shard_help(fp);
    fprintf(fp, "run:\n");
    cli_help(fp, CLI_O_RESUME);
    cli_help(fp, CLI_O_FORCE);
    fprintf(fp,
            "                            rows go to OUT.journal as they come, so a killed run\n"
            "                            (even kill -9) resumes; OUT.manifest.json records what\n"
            "                            made OUT (model and hash, classes, prompts, tiling...)\n");
    cli_help(fp, CLI_O_THREADS);
    cli_help(fp, CLI_O_BATCH);
    cli_dtype_help(fp);
    cli_llm_label_help(fp);
    fprintf(
        fp,
        "embed once, label many:\n"
        "  --save-embeddings IDX.gpkg  also store every tile's embedding (see 'geolabel index')\n"
        "  --embedding-dtype f16|f32   as stored (default f16)\n"
        "  --from-index IDX.gpkg     label the tiles of an index: no INPUT, only the text tower\n"
        "                            runs; --model must be the index's\n"
        "outputs:\n"
        "  -o OUT.tif                a classified GeoTIFF (COG) per scene: values 1..K in class\n"
        "                            order, 0 nodata, colour table and attribute table; several\n"
        "                            scenes give OUT.<scene>.tif\n"
        "  --raster-res R            .tif pixel size in CRS units (default: one per tile stride)\n"
        "  --probabilities           .tif: also OUT.prob.tif, one float band per class\n");
    cli_help(fp, CLI_O_COLORS);
    fprintf(fp,
            "                            .geojson and .gpkg get a QGIS style OUT.qml beside\n"
            "GVL's spellings work too: --classes_file, --output_file, --split_height_by, ...\n");
}

typedef struct {
    const char *cmd; /* "label", or "index": -o names the index, no classes */
    const char *model, *arch, *output;
    gl_label_params p;
    int threads;
    gl_dtype dtype;
    char **inputs;
    int n_inputs;
    char **named; /* --input (GVL's --input_dir) values, before the operands */
    int n_named;
    cli_shard shard;
    char **listed; /* --inputs-from's lines (owned; also in named) */
    int n_listed;
    cli_llm_opts llm;
} label_opts;

static int add_input(label_opts *o, const char *path) {
    char **g = realloc(o->named, (size_t)(o->n_named + 1) * sizeof *g);
    if (!g) return cli_usage_error("label", "out of memory");
    o->named = g;
    o->named[o->n_named++] = (char *)path;
    return -1;
}

/* --inputs-from: one input per line (blank lines skipped), as if each were given with --input: a
 * list of millions of photos does not fit in argv. Returns -1 to continue, else an exit code. */
static int read_inputs_from(label_opts *o, const char *path) {
    FILE *fp = strcmp(path, "-") ? fopen(path, "r") : stdin;
    if (!fp) {
        fprintf(stderr, "geolabel: %s: cannot open the input list\n", path);
        return CLI_FAIL;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = -1;
    while (rc < 0 && (len = getline(&line, &cap, fp)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        if (!len) continue;
        char **g = realloc(o->listed, (size_t)(o->n_listed + 1) * sizeof *g);
        char *copy = g ? strdup(line) : NULL;
        if (g) o->listed = g;
        if (!copy) {
            fprintf(stderr, "geolabel: %s: out of memory\n", path);
            rc = CLI_FAIL;
            break;
        }
        o->listed[o->n_listed++] = copy;
        rc = add_input(o, copy);
    }
    if (rc < 0 && ferror(fp)) {
        fprintf(stderr, "geolabel: %s: read error\n", path);
        rc = CLI_FAIL;
    }
    free(line);
    if (fp != stdin) fclose(fp);
    return rc;
}

static int parse_choice(const char *opt, const char *v, const char *a, const char *b, int *out) {
    if (!strcmp(v, a))
        *out = 0;
    else if (!strcmp(v, b))
        *out = 1;
    else
        return cli_usage_error("label", "%s is %s or %s, not '%s'", opt, a, b, v);
    return -1;
}

static int parse_int_opt(const char *opt, int min, int max, int *out) {
    return (*out = cli_parse_int("label", opt, optarg, min, max)) < 0 ? CLI_USAGE : -1;
}

static int parse_opt(int c, label_opts *o, cli_split_by *by) {
    gl_label_params *p = &o->p;
    int v = 0, rc = -1;
    gl_error err = {0};
    switch (c) {
    case CLI_O_MODEL:
        o->model = optarg;
        break;
    case CLI_O_ARCH:
        o->arch = optarg;
        break;
    case CLI_O_CLASSES:
        p->classes_path = optarg;
        break;
    case 'o':
    case CLI_O_OUTPUT:
        o->output = optarg;
        break;
    case CLI_O_BANDS:
        return cli_parse_bands("label", optarg, &p->raster) ? CLI_USAGE : -1;
    case CLI_O_STRETCH:
        return cli_parse_stretch("label", optarg, &p->raster) ? CLI_USAGE : -1;
    case 'M':
        rc = parse_choice("--mode", optarg, "flat", "hierarchical", &v);
        p->mode = v ? GL_LABEL_HIERARCHICAL : GL_LABEL_FLAT;
        return rc;
    case CLI_O_CONTEXT:
        p->context = optarg;
        break;
    case 'P':
        if (strcmp(optarg, "gvl"))
            return cli_usage_error("label", "--prompt-style is gvl (or use --templates FILE)");
        break;
    case CLI_O_TEMPLATES:
        p->templates_path = optarg;
        break;
    case CLI_O_TEMPLATE:
        if (!strstr(optarg, "{}"))
            return cli_usage_error("label", "--template needs {} for the class name");
        p->template_text = optarg;
        break;
    case 'I':
        return add_input(o, optarg);
    case 'L':
        return read_inputs_from(o, optarg);
    case 'C':
        p->stac = optarg;
        break;
    case 'A':
        p->stac_assets = optarg;
        break;
    case CLI_O_SHARD:
    case CLI_O_SHARD_BY:
    case CLI_O_SHARD_COUNT:
        return cli_shard_option("label", c, optarg, &o->shard) ? CLI_USAGE : -1;
    case 'a':
        if (gl_tta_parse(optarg, &p->tta, &err)) return cli_usage_error("label", "%s", err.msg);
        break;
    case CLI_O_RESUME:
        p->resume = 1;
        break;
    case CLI_O_FORCE:
        p->force = 1;
        break;
    case CLI_O_THREADS:
        return (o->threads = cli_parse_shared_int(o->cmd, c, optarg)) < 0 ? CLI_USAGE : -1;
    case CLI_O_BATCH:
        return parse_int_opt("--batch", 1, 256, &p->batch);
    case CLI_O_DTYPE:
        return cli_parse_dtype(o->cmd, optarg, &o->dtype) ? CLI_USAGE : -1;
    case 'E':
        p->index_path = optarg;
        break;
    case 'D':
        rc = parse_choice("--embedding-dtype", optarg, "f16", "f32", &v);
        p->index_dtype = v ? GL_EMB_F32 : GL_EMB_F16;
        return rc;
    case 'F':
        p->from_index = optarg;
        break;
    case CLI_O_COLORS:
        p->colors_path = optarg;
        break;
    case 'p':
        p->probabilities = 1;
        break;
    case 'X':
        p->crs = optarg;
        break;
    case 'Y':
        p->layer_per_crs = 1;
        break;
    case 'e': {
        char *end;
        p->raster_res = strtod(optarg, &end);
        if (end == optarg || *end || !(p->raster_res > 0))
            return cli_usage_error(o->cmd, "--raster-res takes a positive size, not '%s'", optarg);
        break;
    }
    case 'h':
    case CLI_O_HELP:
        if (!strcmp(o->cmd, "index"))
            cli_index_usage(stdout);
        else
            usage(stdout);
        return CLI_OK;
    default:
        if (cli_is_tiling_option(c))
            return cli_tiling_option(o->cmd, c, optarg, &p->tiling, by) ? CLI_USAGE : -1;
        if (cli_is_llm_option(c))
            return cli_llm_label_option("label", c, optarg, &o->llm, &p->llm) ? CLI_USAGE : -1;
        return CLI_USAGE; /* cli_getopt said why */
    }
    return -1;
}

/* index takes label's table but has no labels: these options would change nothing in an index, so
 * index refuses them rather than ignore them (--classes, --save-embeddings, --force and
 * --layer-per-crs have their own messages below). */
static int label_only(int c) {
    return c == 'M' || c == CLI_O_CONTEXT || c == 'P' || c == CLI_O_TEMPLATE ||
           c == CLI_O_TEMPLATES || c == 'F' || c == CLI_O_COLORS || c == 'p' || c == 'e' ||
           cli_is_llm_option(c);
}

/* Returns -1 to continue, else an exit code. */
static int parse(int argc, char **argv, label_opts *o) {
    const struct option opts[] = {CLI_OPT(MODEL),
                                  CLI_OPT(ARCH),
                                  CLI_OPT(CLASSES),
                                  CLI_OPT(OUTPUT),
                                  {"input", required_argument, 0, 'I'},
                                  {"inputs-from", required_argument, 0, 'L'},
                                  {"stac", required_argument, 0, 'C'},
                                  {"asset", required_argument, 0, 'A'},
                                  CLI_SHARD_OPTS,
                                  CLI_TILING_OPTS,
                                  CLI_OPT(BANDS),
                                  CLI_OPT(STRETCH),
                                  {"mode", required_argument, 0, 'M'},
                                  CLI_OPT(CONTEXT),
                                  {"prompt-style", required_argument, 0, 'P'},
                                  CLI_OPT(TEMPLATE),
                                  CLI_OPT(TEMPLATES),
                                  {"tta", required_argument, 0, 'a'},
                                  CLI_OPT(RESUME),
                                  CLI_OPT(FORCE),
                                  CLI_OPT(THREADS),
                                  CLI_OPT(BATCH),
                                  CLI_OPT(DTYPE),
                                  {"save-embeddings", required_argument, 0, 'E'},
                                  {"embedding-dtype", required_argument, 0, 'D'},
                                  {"from-index", required_argument, 0, 'F'},
                                  CLI_OPT(COLORS),
                                  {"probabilities", no_argument, 0, 'p'},
                                  {"raster-res", required_argument, 0, 'e'},
                                  {"crs", required_argument, 0, 'X'},
                                  {"layer-per-crs", no_argument, 0, 'Y'},
                                  CLI_OPT(HELP),
                                  CLI_LLM_LABEL_ROWS,
                                  {0, 0, 0, 0}};
    int c, at = -1;
    cli_split_by by = {0, 0};
    optind = 1;
    while ((c = cli_getopt(argc, argv, "ho:", opts, &at)) != -1) {
        if (!strcmp(o->cmd, "index") && label_only(c))
            return cli_usage_error("index",
                                   "--%s is label's: an index stores embeddings, not "
                                   "labels",
                                   opts[at].name);
        int rc = parse_opt(c, o, &by);
        if (rc >= 0) return rc;
    }
    if (cli_tiling_finish(o->cmd, &o->p.tiling, &by)) return CLI_USAGE;
    o->inputs = argv + optind;
    o->n_inputs = argc - optind;
    if (o->n_named) { /* --input values first, then the operands, all in one list */
        char **all = realloc(o->named, (size_t)(o->n_named + o->n_inputs) * sizeof *all);
        if (!all) return cli_usage_error("label", "out of memory");
        memcpy(all + o->n_named, o->inputs, (size_t)o->n_inputs * sizeof *all);
        o->named = o->inputs = all;
        o->n_inputs += o->n_named;
    }
    const char *cmd = o->cmd;
    int index = !strcmp(cmd, "index");
    if (!o->model) return cli_usage_error(cmd, "--model is required");
    o->p.model_name = o->model;
    if (!index && !o->p.classes_path) return cli_usage_error(cmd, "--classes is required");
    if (!o->output) return cli_usage_error(cmd, "-o OUT is required");
    if (index && o->p.classes_path)
        return cli_usage_error(cmd, "an index holds no labels; give --classes to label");
    if (index && o->p.index_path)
        return cli_usage_error(cmd, "-o names the index; --save-embeddings is for label");
    if (index && o->p.force)
        return cli_usage_error(cmd, "an index resumes only into the same model and options: "
                                    "no --force");
    if (o->p.from_index && (o->n_inputs || o->p.stac))
        return cli_usage_error(cmd, "--from-index labels the index's tiles: no INPUT");
    if (o->p.from_index && o->p.index_path)
        return cli_usage_error(cmd, "--from-index and --save-embeddings do not go together");
    if (!o->p.from_index && !o->n_inputs && !o->p.stac)
        return cli_usage_error(cmd, "no INPUT given");
    if (o->p.stac_assets && !o->p.stac) return cli_usage_error(cmd, "--asset needs --stac");
    if (cli_shard_resolve(cmd, &o->shard)) return CLI_USAGE;
    o->p.shard = o->shard.shard;
    if (cli_check_output(cmd, o->output)) return CLI_FAIL;
    if (o->p.index_path && cli_check_output(cmd, o->p.index_path)) return CLI_FAIL;
    gl_error err = {0};
    if (index && o->p.layer_per_crs)
        return cli_usage_error(cmd, "--layer-per-crs is for label's .gpkg; an index has one layer");
    if (!index && gl_label_output_check(&o->p, o->output, &err))
        return cli_usage_error(cmd, "%s", err.msg);
    if (index) o->p.index_path = o->output, o->output = NULL;
    gl_label_llm *l = &o->p.llm;
    l->llm_model = o->llm.model;
    if (l->type == GL_CLASSIFIER_VLM_LLM && (!l->vlm_model || !l->llm_model))
        return cli_usage_error("label", "--classifier-type vlm-llm needs --vlm-model and "
                                        "--llm-model");
    if (l->type == GL_CLASSIFIER_LLM && (!l->llm_model || !l->descriptions_path))
        return cli_usage_error("label", "--classifier-type llm needs --llm-model and "
                                        "--descriptions CSV");
    return -1;
}

static void report_input(void *ctx, const char *input, const gl_error *err) {
    (void)ctx;
    const char *msg = err->msg[0] ? err->msg : gl_status_name(err->code);
    /* Messages name their file already; add the input only when they do not. */
    if (strstr(msg, input))
        fprintf(stderr, "geolabel: skipped: %s\n", msg);
    else
        fprintf(stderr, "geolabel: skipped %s: %s\n", input, msg);
}

static void free_opts(label_opts *o) {
    free(o->named);
    for (int i = 0; i < o->n_listed; i++)
        free(o->listed[i]);
    free(o->listed);
}

int cli_label_main(const char *cmd, int argc, char **argv) {
    label_opts o = {.cmd = cmd, .p = gl_label_default_params(), .llm = cli_llm_defaults()};
    int rc = parse(argc, argv, &o);
    if (rc >= 0) {
        free_opts(&o);
        return rc;
    }
    o.p.on_error = report_input;
    gl_error err = {0};
    gl_llm *llm = NULL, *vlm = NULL;
    if (o.p.llm.type != GL_CLASSIFIER_CLIP &&
        (!(llm = cli_llm_open("label", &o.llm, o.output, &err)) ||
         (!(vlm = cli_vlm_open(&o.llm, &err)) && err.code))) {
        gl_llm_free(llm);
        free_opts(&o);
        return cli_report(&err);
    }
    o.p.llm.llm = llm;
    o.p.llm.vlm = vlm;
    gl_clip_params cp = gl_clip_default_params();
    if (o.threads) cp.threads = o.threads;
    cp.max_batch = o.p.batch;
    cp.arch = o.arch;
    cp.dtype = o.dtype;
    gl_clip *clip = gl_clip_load(o.model, &cp, &err);
    if (!clip) {
        gl_llm_free(llm);
        gl_llm_free(vlm);
        free_opts(&o);
        return cli_report(&err);
    }
    gl_label_summary s;
    gl_status st =
        gl_label_run(clip, &o.p, (const char *const *)o.inputs, o.n_inputs, o.output, &s, &err);
    gl_clip_free(clip);
    free_opts(&o);
    cli_llm_report(vlm, "vision llm");
    cli_llm_report(llm, "llm");
    gl_llm_free(vlm);
    gl_llm_free(llm);
    if (st && st != GL_ERR_PARTIAL) return cli_report(&err);
    if (gl_log_get_level() > GL_LOG_QUIET && s.index_compute_dtype[0])
        fprintf(stderr, "geolabel: %s: its tiles were embedded in %s\n", o.p.from_index,
                s.index_compute_dtype);
    if (gl_log_get_level() > GL_LOG_QUIET)
        fprintf(stderr,
                "geolabel: %d inputs: %d labelled, %d already complete, %d failed; %ld tiles "
                "(%ld nodata) in %.1f s, %.1f tiles/s -> %s\n",
                s.inputs, s.labelled, s.resumed, s.failed, s.tiles, s.nodata_tiles, s.seconds,
                s.seconds > 0 ? s.tiles / s.seconds : 0.0, o.output ? o.output : o.p.index_path);
    return st ? cli_report(&err) : CLI_OK;
}

int cmd_label(int argc, char **argv) {
    return cli_label_main("label", argc, argv);
}
