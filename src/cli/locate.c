/* locate.c: `geolabel locate`: geolocates photos zero-shot (StreetCLIP's country -> city) or by
 * GeoCLIP retrieval over a GPS gallery, and writes CSV or GeoJSON. */
#include "cli.h"

#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *model, *arch, *method, *output, *gazetteer, *geoclip_dir, *gallery, *features,
        *cache_dir;
    gl_locate_params p;
    int threads;
    gl_dtype dtype;
    char **inputs;
    cli_shard shard;
    long *ordinals, total; /* the kept inputs' places in the full list (sharded runs) */
    int n_opts;            /* argv[1..n_opts] are the options, for the shard's manifest */
    int n_inputs;
} locate_opts;

typedef struct {
    char **names; /* input names as printed (owned when from --image-features) */
    int n, owned;
    float *features; /* [n, dim] */
    int dim;
    unsigned char *ok; /* [n]: features were computed */
} locate_inputs;

static void usage(FILE *fp) {
    fprintf(
        fp,
        "usage: geolabel locate [options] IMAGE... -o OUT.csv|OUT.geojson\n"
        "  --method zeroshot|geoclip zeroshot (default): StreetCLIP's country then city prompts;\n"
        "                            geoclip: GeoCLIP retrieval over a GPS gallery\n");
    cli_help(fp, CLI_O_MODEL);
    fprintf(fp, "                            (geoclip: a ViT-L/14, 768-d features)\n");
    cli_help(fp, CLI_O_ARCH);
    cli_help(fp, CLI_O_OUTPUT);
    fprintf(fp, "                            .csv (default '-': stdout), .geojson/.json or .gpkg\n"
                "                            points\n");
    cli_help(fp, CLI_O_THREADS);
    cli_dtype_help(fp);
    cli_help(fp, CLI_O_HELP);
    fprintf(
        fp,
        "  --top-k K                 guesses per image (default 1), as extra _2.._K columns\n"
        "  --image-features F.npy    [n, dim] CLIP image features instead of IMAGE files\n"
        "  --cache-dir DIR           embedding cache (default ROOT/embeddings, ROOT being\n"
        "                            $GEOLABEL_CACHE, $XDG_CACHE_HOME/geolabel or\n"
        "                            ~/.cache/geolabel; '' disables it)\n"
        "zeroshot:\n"
        "  --gazetteer DIR           countries.csv + cities.csv (default: the shipped GeoNames "
        "copy,\n"
        "                            found via $GEOLABEL_DATA or data/ beside the build folder)\n"
        "  --countries ISO2,...      restrict the search\n"
        "  --top-countries K         score cities of the K best countries by "
        "P(country)*P(city|country)\n"
        "  --country-template T      default 'A Street View photo in {country}.'\n"
        "  --city-template T         default 'A Street View photo from {city}.'\n"
        "  --level country|city      default city\n"
        "geoclip:\n"
        "  --geoclip-dir DIR         location_encoder_weights, image_encoder_mlp_weights and\n"
        "                            logit_scale_weights (.pth or .safetensors; default\n"
        "                            $GEOLABEL_GEOCLIP_DIR)\n"
        "  --gallery FILE.csv        LAT,LON gallery (default: the shipped "
        "coordinates_100K.csv)\n");
    cli_shard_help(fp);
}

/* Returns -1 to continue, else an exit code. */
static int parse(int argc, char **argv, locate_opts *o) {
    const struct option opts[] = {CLI_OPT(MODEL),
                                  CLI_OPT(ARCH),
                                  {"method", required_argument, 0, 'M'},
                                  CLI_OPT(OUTPUT),
                                  {"gazetteer", required_argument, 0, 'g'},
                                  {"countries", required_argument, 0, 'c'},
                                  {"top-countries", required_argument, 0, 'K'},
                                  {"country-template", required_argument, 0, 'T'},
                                  {"city-template", required_argument, 0, 't'},
                                  {"level", required_argument, 0, 'l'},
                                  {"top-k", required_argument, 0, 'k'},
                                  CLI_OPT(THREADS),
                                  CLI_OPT(DTYPE),
                                  {"geoclip-dir", required_argument, 0, 'G'},
                                  {"gallery", required_argument, 0, 'y'},
                                  {"image-features", required_argument, 0, 'f'},
                                  {"cache-dir", required_argument, 0, 'C'},
                                  CLI_SHARD_OPTS,
                                  CLI_OPT(HELP),
                                  {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = cli_getopt(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case CLI_O_MODEL:
            o->model = optarg;
            break;
        case CLI_O_ARCH:
            o->arch = optarg;
            break;
        case CLI_O_DTYPE:
            if (cli_parse_dtype("locate", optarg, &o->dtype)) return CLI_USAGE;
            break;
        case 'M':
            o->method = optarg;
            break;
        case 'o':
        case CLI_O_OUTPUT:
            o->output = optarg;
            break;
        case 'g':
            o->gazetteer = optarg;
            break;
        case 'c':
            o->p.countries = optarg;
            break;
        case 'T':
            o->p.country_template = optarg;
            break;
        case 't':
            o->p.city_template = optarg;
            break;
        case 'G':
            o->geoclip_dir = optarg;
            break;
        case 'y':
            o->gallery = optarg;
            break;
        case 'f':
            o->features = optarg;
            break;
        case 'C':
            o->cache_dir = optarg;
            break;
        case 'K':
            if ((o->p.top_countries = cli_parse_int("locate", "--top-countries", optarg, 1, 64)) <
                0)
                return CLI_USAGE;
            break;
        case 'k':
            if ((o->p.top_k = cli_parse_int("locate", "--top-k", optarg, 1, 1000)) < 0)
                return CLI_USAGE;
            break;
        case CLI_O_THREADS:
            if ((o->threads = cli_parse_shared_int("locate", CLI_O_THREADS, optarg)) < 0)
                return CLI_USAGE;
            break;
        case 'l':
            if (!strcmp(optarg, "country"))
                o->p.level = GL_GEO_LEVEL_COUNTRY;
            else if (!strcmp(optarg, "city"))
                o->p.level = GL_GEO_LEVEL_CITY;
            else
                return cli_usage_error("locate", "--level is country or city, not '%s'", optarg);
            break;
        case CLI_O_SHARD:
        case CLI_O_SHARD_BY:
        case CLI_O_SHARD_COUNT:
            if (cli_shard_option("locate", c, optarg, &o->shard)) return CLI_USAGE;
            break;
        case 'h':
        case CLI_O_HELP:
            usage(stdout);
            return CLI_OK;
        default:
            return CLI_USAGE; /* cli_getopt said why */
        }
    }
    o->inputs = argv + optind;
    o->n_inputs = argc - optind;
    if (strcmp(o->method, "zeroshot") && strcmp(o->method, "geoclip"))
        return cli_usage_error("locate", "--method is zeroshot or geoclip, not '%s'", o->method);
    if (!o->features && !o->n_inputs) return cli_usage_error("locate", "no IMAGE given");
    if (o->features && o->n_inputs)
        return cli_usage_error("locate", "give IMAGE files or --image-features, not both");
    if (!o->model && (!o->features || !strcmp(o->method, "zeroshot")))
        return cli_usage_error("locate", "--model is required");
    o->p.cache_dir = o->cache_dir;
    if (o->cache_dir && cli_check_dir("locate", "--cache-dir", o->cache_dir)) return CLI_FAIL;
    if (o->output && cli_check_output("locate", o->output)) return CLI_FAIL;
    if (cli_shard_resolve("locate", &o->shard)) return CLI_USAGE;
    o->n_opts = optind - 1;
    if (o->shard.shard.count > 0) {
        if (o->features)
            return cli_usage_error("locate", "--shard splits IMAGE files, not --image-features");
        if (!strcmp(o->output, "-"))
            return cli_usage_error("locate", "a shard writes its own -o OUT.csv");
        o->total = o->n_inputs;
        if (!(o->ordinals = malloc(((size_t)o->n_inputs + 1) * sizeof *o->ordinals)))
            return fprintf(stderr, "geolabel: out of memory\n"), CLI_FAIL;
        o->n_inputs = cli_shard_keep(&o->shard, o->inputs, o->n_inputs, o->ordinals);
    }
    return -1;
}

static void inputs_free(locate_inputs *in) {
    if (in->owned)
        for (int i = 0; i < in->n; i++)
            free(in->names[i]);
    if (in->owned) free(in->names);
    free(in->features);
    free(in->ok);
}

/* Rows of an [n, dim] float32 .npy, named "FILE#row". */
static int inputs_from_npy(const char *path, locate_inputs *in) {
    gl_error err = {0};
    gl_npy *a = gl_npy_load(path, &err);
    if (!a) return cli_report(&err);
    if (strcmp(a->dtype, "<f4") || a->ndim != 2 || a->shape[0] < 1 || a->shape[0] > INT_MAX / 2) {
        gl_npy_free(a);
        fprintf(stderr, "geolabel: %s: expected a float32 [n, dim] array\n", path);
        return CLI_FAIL;
    }
    in->n = (int)a->shape[0], in->dim = (int)a->shape[1], in->owned = 1;
    in->features = a->data; /* taken over from the array */
    a->data = NULL;
    gl_npy_free(a);
    in->names = calloc((size_t)in->n, sizeof *in->names);
    in->ok = malloc((size_t)in->n);
    for (int i = 0; in->names && i < in->n; i++) {
        size_t len = strlen(path) + 16;
        if ((in->names[i] = malloc(len))) snprintf(in->names[i], len, "%s#%d", path, i);
    }
    if (in->ok) memset(in->ok, 1, (size_t)in->n);
    return in->names && in->ok ? -1 : (fprintf(stderr, "geolabel: out of memory\n"), CLI_FAIL);
}

/* Encodes the images in batches; a batch that fails is retried one image at a time so one bad
 * file is reported and skipped without losing the others. */
static int inputs_from_images(gl_clip *clip, char **paths, int n, locate_inputs *in) {
    in->names = paths, in->n = n, in->dim = gl_clip_projection_dim(clip);
    in->features = malloc((size_t)n * in->dim * sizeof(float));
    in->ok = calloc((size_t)n, 1);
    if (!in->features || !in->ok) return fprintf(stderr, "geolabel: out of memory\n"), CLI_FAIL;
    double t0 = gl_now_seconds();
    gl_progress *prog = gl_progress_new("images", n);
    for (int i = 0; i < n; i += 8) {
        int b = n - i < 8 ? n - i : 8;
        gl_error err = {0};
        if (gl_clip_encode_image_files(clip, (const char *const *)paths + i, b,
                                       in->features + (size_t)i * in->dim, &err) == GL_OK)
            memset(in->ok + i, 1, (size_t)b);
        else
            for (int j = i; j < i + b; j++) {
                if (gl_clip_encode_image_files(clip, (const char *const *)paths + j, 1,
                                               in->features + (size_t)j * in->dim, &err) == GL_OK)
                    in->ok[j] = 1;
                else
                    cli_report(&err);
            }
        gl_progress_add(prog, b);
    }
    gl_progress_free(prog);
    double dt = gl_now_seconds() - t0;
    gl_log(GL_LOG_INFO, "locate: %d images encoded in %.3f s (%.3f images/s)", n, dt,
           n / (dt > 0 ? dt : 1e-9));
    return -1;
}

/* Writes the located rows of the inputs that worked; PARTIAL when some failed. */
static int write_results(const locate_opts *o, const gl_gazetteer *gz, const locate_inputs *in,
                         const gl_geo_guess *guesses, const int *n_guesses) {
    gl_geo_located *rows = calloc((size_t)in->n, sizeof *rows);
    if (!rows) return fprintf(stderr, "geolabel: out of memory\n"), CLI_FAIL;
    int n = 0;
    for (int i = 0; i < in->n; i++)
        if (in->ok[i])
            rows[n++] =
                (gl_geo_located){in->names[i], guesses + (size_t)i * o->p.top_k, n_guesses[i]};
    gl_error err = {0};
    gl_status s = GL_OK;
    if (!strcmp(o->output, "-"))
        s = gl_geo_write_located_fp(stdout, gz, rows, n, o->p.top_k, &err);
    else
        s = gl_geo_write_located(o->output, gz, rows, n, o->p.top_k, &err);
    free(rows);
    if (s != GL_OK) return cli_report(&err);
    return n == in->n ? CLI_OK : CLI_PARTIAL;
}

static gl_clip *load_clip(locate_opts *o) {
    gl_clip_params cp = gl_clip_default_params();
    cp.threads = o->threads;
    cp.arch = o->arch;
    cp.dtype = o->dtype;
    gl_error err = {0};
    gl_clip *clip = gl_clip_load(o->model, &cp, &err);
    if (!clip) cli_report(&err);
    cli_shard_model(&o->shard, clip);
    return clip;
}

static int get_inputs(const locate_opts *o, gl_clip *clip, locate_inputs *in) {
    return o->features ? inputs_from_npy(o->features, in)
                       : inputs_from_images(clip, o->inputs, o->n_inputs, in);
}

static int check_dim(const locate_inputs *in, int want, const char *what) {
    if (in->dim == want) return -1;
    fprintf(stderr, "geolabel: %s: features are %d-d, %s needs %d-d\n", in->names[0], in->dim, what,
            want);
    return CLI_FAIL;
}

static int run_zeroshot(const locate_opts *o, gl_clip *clip, const gl_gazetteer *gz) {
    locate_inputs in = {0};
    gl_error err = {0};
    int rc = get_inputs(o, clip, &in);
    if (rc < 0) rc = check_dim(&in, gl_clip_projection_dim(clip), "the model");
    double t0 = gl_now_seconds();
    gl_locator *loc = rc < 0 ? gl_locator_new(clip, gz, &o->p, &err) : NULL;
    if (loc) gl_log(GL_LOG_INFO, "locate: country prompts ready in %.3f s", gl_now_seconds() - t0);
    t0 = gl_now_seconds();
    if (rc < 0 && !loc) rc = cli_report(&err);
    gl_geo_guess *guesses = rc < 0 ? calloc((size_t)in.n * o->p.top_k, sizeof *guesses) : NULL;
    int *n_guesses = rc < 0 ? calloc((size_t)in.n, sizeof *n_guesses) : NULL;
    for (int i = 0; rc < 0 && i < in.n; i++) {
        if (!in.ok[i]) continue;
        if (gl_locator_run(loc, in.features + (size_t)i * in.dim, 1,
                           guesses + (size_t)i * o->p.top_k, &n_guesses[i], &err) != GL_OK)
            rc = cli_report(&err);
    }
    if (rc < 0) {
        gl_geo_cache_stats st = gl_locator_stats(loc);
        gl_log(GL_LOG_INFO, "locate: text encodings %ld, cached prompt embeddings used %ld",
               st.encoded, st.cached);
        gl_log(GL_LOG_INFO, "locate: %d images located in %.3f s (city prompts included)", in.n,
               gl_now_seconds() - t0);
        rc = write_results(o, gz, &in, guesses, n_guesses);
    }
    free(guesses);
    free(n_guesses);
    gl_locator_free(loc);
    inputs_free(&in);
    return rc;
}

static int zeroshot(locate_opts *o) {
    gl_error err = {0};
    gl_gazetteer *gz = gl_gazetteer_load(o->gazetteer, &err);
    if (!gz) return cli_report(&err);
    gl_clip *clip = load_clip(o);
    int rc = clip ? run_zeroshot(o, clip, gz) : CLI_FAIL;
    gl_clip_free(clip);
    gl_gazetteer_free(gz);
    return rc;
}

static int run_geoclip(locate_opts *o, gl_geoclip_index *ix) {
    locate_inputs in = {0};
    gl_error err = {0};
    gl_clip *clip = o->features ? NULL : load_clip(o);
    int rc = o->features || clip ? get_inputs(o, clip, &in) : CLI_FAIL;
    if (rc < 0) rc = check_dim(&in, GL_GEOCLIP_CLIP_DIM, "GeoCLIP (CLIP ViT-L/14 image features)");
    gl_geo_guess *guesses = rc < 0 ? calloc((size_t)in.n * o->p.top_k, sizeof *guesses) : NULL;
    int *n_guesses = rc < 0 ? calloc((size_t)in.n, sizeof *n_guesses) : NULL;
    double t0 = gl_now_seconds();
    if (rc < 0 &&
        gl_geoclip_retrieve(ix, in.features, in.n, o->p.top_k, guesses, NULL, &err) != GL_OK)
        rc = cli_report(&err);
    if (rc < 0)
        gl_log(GL_LOG_INFO, "locate: retrieval %.3f ms per image (%d images)",
               1e3 * (gl_now_seconds() - t0) / in.n, in.n);
    for (int i = 0; rc < 0 && i < in.n; i++)
        n_guesses[i] = o->p.top_k;
    if (rc < 0) rc = write_results(o, NULL, &in, guesses, n_guesses);
    free(guesses);
    free(n_guesses);
    inputs_free(&in);
    gl_clip_free(clip);
    return rc;
}

static int geoclip(locate_opts *o) {
    gl_error err = {0};
    char shipped[PATH_MAX];
    const char *gallery = o->gallery;
    if (!gallery &&
        gl_data_path("geoclip/coordinates_100K.csv", shipped, sizeof shipped, &err) != GL_OK)
        return cli_report(&err);
    gl_geo_gallery *gal = gl_geo_gallery_load(gallery ? gallery : shipped, &err);
    if (!gal) return cli_report(&err);
    gl_geoclip *g = gl_geoclip_load(o->geoclip_dir, &err);
    double t0 = gl_now_seconds();
    gl_geoclip_index *ix = g ? gl_geoclip_index_new(g, gal, o->cache_dir, &err) : NULL;
    if (ix) gl_log(GL_LOG_INFO, "locate: gallery features ready in %.3f s", gl_now_seconds() - t0);
    int rc = ix ? run_geoclip(o, ix) : cli_report(&err);
    if (ix) {
        gl_geo_cache_stats st = gl_geoclip_index_stats(ix);
        gl_log(GL_LOG_INFO, "locate: gallery locations encoded %ld, cached %ld", st.encoded,
               st.cached);
    }
    gl_geoclip_index_free(ix);
    gl_geoclip_free(g);
    gl_geo_gallery_free(gal);
    return rc;
}

int cmd_locate(int argc, char **argv) {
    locate_opts o = {.method = "zeroshot", .output = "-", .p = gl_locate_default_params()};
    int rc = parse(argc, argv, &o);
    if (rc >= 0) return free(o.ordinals), rc;
    if (o.threads) gl_blas_set_threads(o.threads);
    rc = !strcmp(o.method, "geoclip") ? geoclip(&o) : zeroshot(&o);
    if (rc == CLI_OK)
        rc = cli_shard_record("locate", o.n_opts, argv + 1, &o.shard, o.output, o.inputs,
                              o.ordinals, o.n_inputs, o.total);
    free(o.ordinals);
    return rc;
}
