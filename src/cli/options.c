/* options.c: the one option parser (exact names, GVL's aliases, -v/-q anywhere, --version), the
 * table of options several commands share, and their values (--split, --bands, --stretch). */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cli_parse_split(const char *cmd, const char *v, gl_tiling *t) {
    char x;
    int r, c, n = 0;
    if (sscanf(v, "%d%c%d%n", &r, &x, &c, &n) != 3 || (x != 'x' && x != 'X') || v[n] || r < 1 ||
        c < 1 || r > 10000 || c > 10000)
        return cli_usage_error(cmd, "--split takes RxC, e.g. 3x3, not '%s'", v);
    t->rows = r, t->cols = c;
    return 0;
}

int cli_parse_shared_int(const char *cmd, int id, const char *v) {
    int lo = 1, hi = 1 << 16;
    switch (id) {
    case CLI_O_THREADS:
        hi = 1024;
        break;
    case CLI_O_SPLIT_H:
    case CLI_O_SPLIT_W:
        hi = 10000; /* as --split */
        break;
    case CLI_O_TILE:
        lo = 16;
        break;
    case CLI_O_OVERLAP:
        lo = 0;
        break;
    default: /* CLI_O_CLIP_DIM */
        break;
    }
    char opt[64];
    snprintf(opt, sizeof opt, "--%s", cli_shared_name(id));
    return cli_parse_int(cmd, opt, v, lo, hi);
}

int cli_is_tiling_option(int id) {
    return id == CLI_O_SPLIT || id == CLI_O_SPLIT_H || id == CLI_O_SPLIT_W ||
           id == CLI_O_REMAINDER || id == CLI_O_TILE || id == CLI_O_OVERLAP;
}

int cli_tiling_option(const char *cmd, int id, const char *v, gl_tiling *t, cli_split_by *by) {
    switch (id) {
    case CLI_O_SPLIT:
        return cli_parse_split(cmd, v, t);
    case CLI_O_SPLIT_H:
        return (by->rows = cli_parse_shared_int(cmd, id, v)) < 0 ? CLI_USAGE : 0;
    case CLI_O_SPLIT_W:
        return (by->cols = cli_parse_shared_int(cmd, id, v)) < 0 ? CLI_USAGE : 0;
    case CLI_O_REMAINDER:
        if (strcmp(v, "cover") && strcmp(v, "drop"))
            return cli_usage_error(cmd, "--remainder is cover or drop, not '%s'", v);
        t->drop_remainder = !strcmp(v, "drop");
        return 0;
    case CLI_O_TILE:
        t->mode = GL_TILING_WINDOW;
        return (t->tile = cli_parse_shared_int(cmd, id, v)) < 0 ? CLI_USAGE : 0;
    default:
        return (t->overlap = cli_parse_shared_int(cmd, id, v)) < 0 ? CLI_USAGE : 0;
    }
}

int cli_tiling_finish(const char *cmd, gl_tiling *t, const cli_split_by *by) {
    if (by->rows) t->rows = by->rows;
    if (by->cols) t->cols = by->cols;
    if (t->mode == GL_TILING_WINDOW && t->overlap >= t->tile)
        return cli_usage_error(cmd, "--overlap must be smaller than --tile");
    return 0;
}

void cli_tiling_help(FILE *fp) {
    cli_help(fp, CLI_O_SPLIT);
    cli_help(fp, CLI_O_SPLIT_H);
    cli_help(fp, CLI_O_SPLIT_W);
    cli_help(fp, CLI_O_REMAINDER);
    fprintf(fp, "                            drop: GVL's W//C x H//R patches exactly\n");
    cli_help(fp, CLI_O_TILE);
    cli_help(fp, CLI_O_OVERLAP);
}

int cli_parse_bands(const char *cmd, const char *v, gl_raster_params *rp) {
    int b[3] = {0, 0, 0}, n = 0;
    for (const char *p = v; *p; n++) {
        char *end;
        long k = strtol(p, &end, 10);
        if (end == p || k < 1 || k > 65535 || n >= 3 || (*end && *end != ','))
            return cli_usage_error(cmd, "--bands takes 1 to 3 band numbers, e.g. 4,3,2, not '%s'",
                                   v);
        b[n] = (int)k;
        p = *end ? end + 1 : end;
    }
    if (n == 0) return cli_usage_error(cmd, "--bands is empty");
    /* One band is drawn as grey: it fills all three channels. */
    for (int i = 0; i < 3; i++)
        rp->bands[i] = i < n ? b[i] : b[n - 1];
    return 0;
}

int cli_parse_stretch(const char *cmd, const char *v, gl_raster_params *rp) {
    if (!strcmp(v, "minmax")) {
        rp->stretch = GL_STRETCH_MINMAX;
    } else if (!strcmp(v, "none")) {
        rp->stretch = GL_STRETCH_NONE;
    } else if (!strncmp(v, "percentile", 10)) {
        double lo = 2, hi = 98;
        int n = 0;
        if (v[10] && (v[10] != ':' || sscanf(v + 11, "%lf,%lf%n", &lo, &hi, &n) != 2 || v[11 + n]))
            return cli_usage_error(cmd, "--stretch percentile takes :LO,HI, e.g. :2,98");
        if (!(lo >= 0 && lo < hi && hi <= 100))
            return cli_usage_error(cmd, "--stretch percentiles need 0 <= LO < HI <= 100");
        rp->stretch = GL_STRETCH_PERCENTILE;
        rp->percentile_low = lo, rp->percentile_high = hi;
    } else {
        return cli_usage_error(cmd, "--stretch is minmax, percentile[:LO,HI] or none, not '%s'", v);
    }
    return 0;
}

/* ---------------------------------------------------------------- the parser */

#define CLI_SHARED_ROW(ID, name, arg, value, help) {CLI_O_##ID, name, arg, value, help},
static const struct {
    int id;
    const char *name;
    int has_arg;
    const char *value, *help;
} SHARED[] = {CLI_SHARED_OPTIONS(CLI_SHARED_ROW)};
#undef CLI_SHARED_ROW
enum { N_SHARED = sizeof SHARED / sizeof SHARED[0] };

const char *cli_shared_name(int id) {
    return id > CLI_O_FIRST && id - CLI_O_FIRST - 1 < N_SHARED ? SHARED[id - CLI_O_FIRST - 1].name
                                                               : "?";
}

int cli_shared_has_arg(int id) {
    return id > CLI_O_FIRST && id - CLI_O_FIRST - 1 < N_SHARED
               ? SHARED[id - CLI_O_FIRST - 1].has_arg
               : 0;
}

void cli_help(FILE *fp, int id) {
    if (id <= CLI_O_FIRST || id - CLI_O_FIRST - 1 >= N_SHARED) return;
    char left[64];
    const char *v = SHARED[id - CLI_O_FIRST - 1].value;
    snprintf(left, sizeof left, "--%s%s%s", SHARED[id - CLI_O_FIRST - 1].name, *v ? " " : "", v);
    fprintf(fp, "  %-26s%s\n", left, SHARED[id - CLI_O_FIRST - 1].help);
}

/* The long name a token spells, '_' read as '-' and GVL's aliases mapped; into buf. */
static const char *canonical(const char *tok, size_t len, char *buf, size_t cap) {
    static const char *const aliases[][2] = {CLI_ALIASES};
    if (len >= cap) len = cap - 1;
    for (size_t i = 0; i < len; i++)
        buf[i] = tok[i] == '_' ? '-' : tok[i];
    buf[len] = 0;
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
        if (strlen(aliases[i][0]) != len || strncmp(aliases[i][0], tok, len)) continue;
        snprintf(buf, cap, "%s", aliases[i][1]);
        break;
    }
    return buf;
}

static int is_option(const char *a) {
    return a[0] == '-' && a[1] != 0; /* "-" alone is an operand: stdin */
}

/* Moves argv[from..from+n) to position to (< from), shifting what lay between up: the GNU
 * permutation that keeps operands in their order after the options. */
static void rotate(char **argv, int to, int from, int n) {
    for (int k = 0; k < n; k++) {
        char *t = argv[from + k];
        memmove(argv + to + k + 1, argv + to + k, (size_t)(from - to) * sizeof *argv);
        argv[to + k] = t;
    }
}

static int short_has_arg(const char *shortopts, char c, int *known) {
    const char *p = c != ':' ? strchr(shortopts, c) : NULL;
    *known = p != NULL;
    return p && p[1] == ':';
}

static int global_flag(const char *a) {
    if (!strcmp(a, "-v"))
        gl_log_set_level(GL_LOG_INFO);
    else if (!strcmp(a, "-vv"))
        gl_log_set_level(GL_LOG_DEBUG);
    else if (!strcmp(a, "-q"))
        gl_log_set_level(GL_LOG_QUIET);
    else
        return 0;
    return 1;
}

int cli_progress_option(const char *cmd, int argc, char **argv) {
    const char *a = argv[0], *v = NULL;
    static const char name[] = "--progress-interval";
    size_t len = sizeof name - 1;
    int taken;
    if ((strncmp(a, name, len) && strncmp(a, "--progress_interval", len)) ||
        (a[len] && a[len] != '='))
        return 0;
    if (a[len] == '=')
        v = a + len + 1, taken = 1;
    else if (argc > 1)
        v = argv[1], taken = 2;
    else
        return cli_usage_error(cmd, "--progress-interval needs a value"), -1;
    char *end;
    double s = strtod(v, &end);
    if (end == v || *end || !(s >= 0 && s <= 86400))
        return cli_usage_error(cmd, "--progress-interval takes seconds from 0 to 86400, not '%s'",
                               v),
               -1;
    gl_progress_configure(NULL, s);
    return taken;
}

int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts,
               int *longindex) {
    const char *cmd = argv[0];
    optarg = NULL;
    for (;;) {
        int i = optind < 1 ? (optind = 1) : optind;
        while (i < argc && !is_option(argv[i]))
            i++;
        if (i >= argc) return -1;
        char *a = argv[i];
        if (!strcmp(a, "--")) {
            rotate(argv, optind, i, 1);
            optind++;
            return -1;
        }
        if (global_flag(a)) {
            rotate(argv, optind, i, 1);
            optind++;
            continue;
        }
        int taken = cli_progress_option(cmd, argc - i, argv + i);
        if (taken < 0) return '?';
        if (taken) {
            rotate(argv, optind, i, taken);
            optind += taken;
            continue;
        }
        if (!strcmp(a, "--version")) {
            printf("geolabel %s\n", GL_VERSION);
            exit(CLI_OK);
        }
        int id = '?', has_arg = 0, known = 0, idx = -1;
        const char *inline_val = NULL;
        char name[128];
        if (a[1] == '-') {
            const char *eq = strchr(a + 2, '=');
            size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
            canonical(a + 2, len, name, sizeof name);
            for (int k = 0; longopts && longopts[k].name && !known; k++)
                if (!strcmp(longopts[k].name, name)) {
                    known = 1, idx = k;
                    has_arg = longopts[k].has_arg == required_argument;
                    id = longopts[k].flag ? 0 : longopts[k].val;
                    if (longopts[k].flag) *longopts[k].flag = longopts[k].val;
                }
            if (!known) {
                cli_usage_error(cmd, "unknown option '--%.*s'", (int)len, a + 2);
                return '?';
            }
            if (eq && !has_arg) {
                cli_usage_error(cmd, "--%s takes no value", name);
                return '?';
            }
            inline_val = eq ? eq + 1 : NULL;
            snprintf(name, sizeof name, "--%s", longopts[idx].name);
        } else {
            has_arg = short_has_arg(shortopts, a[1], &known);
            if (!known || (a[2] && !has_arg)) {
                cli_usage_error(cmd, "unknown option '%s'", a);
                return '?';
            }
            id = (unsigned char)a[1];
            inline_val = a[2] ? a + 2 : NULL;
            snprintf(name, sizeof name, "-%c", a[1]);
        }
        if (has_arg && !inline_val && i + 1 >= argc) {
            cli_usage_error(cmd, "%s needs a value", name);
            return '?';
        }
        int n = has_arg && !inline_val ? 2 : 1;
        rotate(argv, optind, i, n);
        optarg = has_arg ? (inline_val ? (char *)inline_val : argv[optind + 1]) : NULL;
        optind += n;
        if (longindex && idx >= 0) *longindex = idx;
        return id;
    }
}

/* ---------------------------------------------------------------- paths checked up front */

int cli_check_output(const char *cmd, const char *path) {
    char *copy = strdup(path);
    if (!copy) return 1;
    char *slash = strrchr(copy, '/');
    const char *dir = slash ? (slash == copy ? "/" : (*slash = 0, copy)) : ".";
    struct stat sb;
    int bad = 0;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "geolabel %s: %s: the output's folder %s does not exist\n", cmd, path, dir);
        bad = 1;
    } else if (access(dir, W_OK | X_OK) != 0) {
        fprintf(stderr, "geolabel %s: %s: cannot write in the folder %s\n", cmd, path, dir);
        bad = 1;
    }
    free(copy);
    return bad;
}

int cli_check_dir(const char *cmd, const char *opt, const char *dir) {
    struct stat sb;
    if (stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode) && access(dir, W_OK | X_OK) == 0) return 0;
    if (stat(dir, &sb) == 0)
        fprintf(stderr, "geolabel %s: %s %s: %s\n", cmd, opt, dir,
                S_ISDIR(sb.st_mode) ? "cannot write in it" : "not a folder");
    else
        fprintf(stderr, "geolabel %s: %s %s: no such folder\n", cmd, opt, dir);
    return 1;
}

int cli_parse_dtype(const char *cmd, const char *v, gl_dtype *dtype) {
    if (!strcmp(v, "f32") || !strcmp(v, "fp32"))
        *dtype = GL_DTYPE_F32;
    else if (!strcmp(v, "bf16"))
        *dtype = GL_DTYPE_BF16;
    else if (!strcmp(v, "int8"))
        *dtype = GL_DTYPE_INT8;
    else
        return cli_usage_error(cmd, "--dtype is f32, bf16 or int8, not '%s'", v);
    return 0;
}

void cli_dtype_help(FILE *fp) {
    cli_help(fp, CLI_O_DTYPE);
    fprintf(
        fp,
        "                            bf16: AVX512-BF16 or AMX; int8 (image tower; text stays\n"
        "                            f32): AVX512-VNNI or AMX; refused on other CPUs. f32 is\n"
        "                            the default also for a folder made by 'model convert\n"
        "                            --dtype int8': its stored int8 weights need --dtype int8\n");
}

int cli_shard_option(const char *cmd, int which, const char *v, cli_shard *o) {
    gl_error err = {0};
    switch (which) {
    case CLI_O_SHARD:
        if (gl_shard_parse(v, &o->shard, &err)) return cli_usage_error(cmd, "%s", err.msg);
        o->given = 1;
        return 0;
    case CLI_O_SHARD_BY:
        if (!strcmp(v, "input"))
            o->shard.by = GL_SHARD_BY_INPUT;
        else if (!strcmp(v, "tile"))
            o->shard.by = GL_SHARD_BY_TILE;
        else
            return cli_usage_error(cmd, "--shard-by is input or tile, not '%s'", v);
        return 0;
    default:
        if ((o->count_hint = cli_parse_int(cmd, "--shard-count", v, 1, GL_SHARD_MAX)) < 0)
            return CLI_USAGE;
        return 0;
    }
}

void cli_shard_help(FILE *fp) {
    cli_help(fp, CLI_O_SHARD);
    fprintf(fp,
            "                            without it: SLURM_ARRAY_TASK_ID/_COUNT, or\n"
            "                            JOB_COMPLETION_INDEX with --shard-count N, or\n"
            "                            AWS_BATCH_JOB_ARRAY_INDEX/_SIZE; then 'geolabel merge'\n");
    cli_help(fp, CLI_O_SHARD_BY);
    cli_help(fp, CLI_O_SHARD_COUNT);
}

int cli_shard_resolve(const char *cmd, cli_shard *o) {
    if (o->given) return 0; /* --shard i/n wins over any scheduler */
    gl_error err = {0};
    int found = 0;
    if (gl_shard_from_env(NULL, o->count_hint, &o->shard, &found, &err))
        return cli_usage_error(cmd, "%s", err.msg);
    if (!found && o->count_hint)
        return cli_usage_error(cmd, "--shard-count needs JOB_COMPLETION_INDEX (a Kubernetes "
                                    "indexed job); elsewhere use --shard i/n");
    if (found)
        gl_log(GL_LOG_INFO, "%s: shard %d/%d from the scheduler's environment", cmd, o->shard.index,
               o->shard.count);
    return 0;
}

void cli_shard_model(cli_shard *o, gl_clip *clip) {
    /* Only a shard pays for the digest (a pass over every weight). */
    if (o->shard.count > 0 && clip)
        snprintf(o->model_hash, sizeof o->model_hash, "%s", gl_clip_model_hash(clip));
    if (clip) o->uses_clip = 1, o->dtype = gl_clip_dtype(clip, 1);
}

int cli_shard_head(cli_shard *o, const gl_head *h) {
    gl_error err = {0};
    if (o->shard.count < 1 || !h) return 0;
    return gl_head_sha256(h, o->head_sha256, &err) ? cli_report(&err) : 0;
}

int cli_shard_keep(cli_shard *o, char **items, int n, long *ordinals) {
    int kept = gl_shard_pick_inputs(&o->shard, (const char *const *)items, n, ordinals, o->digest);
    for (int i = 0; i < kept; i++) /* ordinals ascend, so each item moves down or stays */
        items[i] = items[ordinals[i]];
    return kept;
}

/* Options that differ between the tasks of one run by design, with whether they take a value. */
static int run_specific(const char *tok, int *takes_value) {
    static const char *const with[] = {"--shard",  "--shard-count", "-o",
                                       "--output", "--threads",     "-j"};
    static const char *const without[] = {"-v", "-vv", "-q", "--resume", "--force"};
    for (size_t i = 0; i < sizeof with / sizeof with[0]; i++) {
        size_t k = strlen(with[i]);
        if (!strncmp(tok, with[i], k) && (!tok[k] || tok[k] == '=')) {
            *takes_value = !tok[k];
            return 1;
        }
    }
    for (size_t i = 0; i < sizeof without / sizeof without[0]; i++)
        if (!strcmp(tok, without[i])) return *takes_value = 0, 1;
    return 0;
}

int cli_shard_record(const char *cmd, int n_opts, char **opts, const cli_shard *o,
                     const char *output, char **inputs, const long *ordinals, int n, long total) {
    if (o->shard.count < 1) return 0;
    char **kept = malloc(((size_t)n_opts + 1) * sizeof *kept);
    int k = 0;
    for (int i = 0; kept && i < n_opts; i++) {
        int value = 0;
        if (run_specific(opts[i], &value)) {
            i += value;
            continue;
        }
        kept[k++] = opts[i];
    }
    char **named = kept ? calloc((size_t)k + 1, sizeof *named) : NULL;
    int ok = named != NULL;
    for (int i = 0; ok && i < k; i++) {
        size_t len = strlen(kept[i]) + 16;
        if ((named[i] = malloc(len))) snprintf(named[i], len, "arg%03d=%s", i, kept[i]);
        ok = named[i] != NULL;
    }
    gl_error err = {0};
    gl_shard_record rec = {.command = cmd,
                           .options = (const char *const *)named,
                           .n_options = k,
                           .shard = o->shard,
                           .inputs = (const char *const *)inputs,
                           .ordinals = ordinals,
                           .n_inputs = n,
                           .total = total,
                           .digest = o->digest,
                           .model_hash = o->model_hash[0] ? o->model_hash : NULL,
                           .compute_dtype = o->uses_clip ? gl_dtype_name(o->dtype) : NULL,
                           .head_sha256 = o->head_sha256[0] ? o->head_sha256 : NULL};
    gl_status st = ok ? gl_shard_manifest_write(output, &rec, &err)
                      : gl_fail(&err, GL_ERR_NOMEM, "%s: out of memory", output);
    for (int i = 0; named && i < k; i++)
        free(named[i]);
    free(named);
    free(kept);
    return st ? cli_report(&err) : 0;
}
