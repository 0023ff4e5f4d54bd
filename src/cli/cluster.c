/* cluster.c: `geolabel cluster --model M --classes classes.txt --num-clusters 3,5 --steps 2 -o
 * meta.yaml`: GVL's meta-class YAML from CLIP text embeddings instead of an LLM. */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STEPS 16

static void usage(FILE *fp) {
    fprintf(
        fp,
        "usage: geolabel cluster --model DIR|ORG/NAME --classes classes.txt --num-clusters "
        "K[,K2..]\n"
        "                        [--steps N] -o meta.yaml [--names FILE] [--template T]\n"
        "  (--num_clusters, GVL's spelling, works too)\n\n"
        "Groups the classes into meta-classes as GVL's cluster.py does, without an LLM: step 1\n"
        "splits all classes into K groups by average-linkage clustering on the cosine distance\n"
        "of their CLIP text embeddings; each later step splits every group again with its own\n"
        "count (one --num-clusters value serves every step). A group no larger than its step's\n"
        "count stays a list. Each meta-class is named by the candidate (--names, default the\n"
        "shipped data/meta_class_names.txt) nearest its classes' mean embedding, unique in the\n"
        "tree. Classes and names are embedded as --template (default \"%s\").\n"
        "The YAML (block style, keys sorted, leaves as lists) feeds `label --mode hierarchical`.\n"
        "\n  --llm                     GVL's LLM clustering instead (--llm-model M, GVL's\n"
        "                            --model_name): its prompts name the clusters, then place\n"
        "                            each class; one placed nowhere is asked once more, then\n"
        "                            goes to the name CLIP (--model) finds nearest\n",
        GL_CLUSTER_TEMPLATE);
    cli_help(fp, CLI_O_MODEL);
    cli_help(fp, CLI_O_ARCH);
    cli_help(fp, CLI_O_THREADS);
    cli_dtype_help(fp);
    cli_llm_help(fp);
}

static int parse_counts(const char *s, int *k, int *n) {
    *n = 0;
    char *end;
    for (const char *p = s; *p; p = *end ? end + 1 : end) {
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > 100000 || (*end && *end != ',') || *n >= MAX_STEPS) return -1;
        k[(*n)++] = (int)v;
    }
    return *n ? 0 : -1;
}

static void print_tree(const gl_class_node *n, int depth) {
    for (int i = 0; i < n->n_children; i++) {
        const gl_class_node *c = &n->children[i];
        if (!c->n_children) continue;
        printf("%*s%s:", depth * 2, "", c->name);
        int leaves = 1;
        for (int j = 0; j < c->n_children; j++)
            leaves &= !c->children[j].n_children;
        if (leaves)
            for (int j = 0; j < c->n_children; j++)
                printf("%s %s", j ? "," : "", c->children[j].name);
        printf("\n");
        print_tree(c, depth + 1);
    }
}

typedef struct {
    const char *model, *arch, *classes, *names, *out, *tmpl;
    int k[MAX_STEPS], n_k, steps, threads;
    gl_dtype dtype;
    int use_llm;
    cli_llm_opts llm;
} cluster_opts;

static int parse(int argc, char **argv, cluster_opts *o) {
    const struct option opts[] = {CLI_OPT(MODEL),
                                  CLI_OPT(ARCH),
                                  CLI_OPT(CLASSES),
                                  {"num-clusters", required_argument, 0, 'k'},
                                  {"steps", required_argument, 0, 's'},
                                  CLI_OPT(OUTPUT),
                                  {"names", required_argument, 0, 'n'},
                                  CLI_OPT(TEMPLATE),
                                  CLI_OPT(THREADS),
                                  CLI_OPT(DTYPE),
                                  CLI_OPT(HELP),
                                  {"llm", no_argument, 0, 'L'},
                                  CLI_LLM_ROWS,
                                  {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = cli_getopt(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case CLI_O_MODEL:
            o->model = optarg;
            break;
        case CLI_O_ARCH:
            o->arch = optarg;
            break;
        case CLI_O_CLASSES:
            o->classes = optarg;
            break;
        case 'o':
        case CLI_O_OUTPUT:
            o->out = optarg;
            break;
        case 'n':
            o->names = optarg;
            break;
        case CLI_O_TEMPLATE:
            o->tmpl = optarg;
            break;
        case 'k':
            if (parse_counts(optarg, o->k, &o->n_k))
                return cli_usage_error(
                    "cluster", "--num-clusters takes counts like 3 or 3,5, not '%s'", optarg);
            break;
        case 's':
            if ((o->steps = cli_parse_int("cluster", "--steps", optarg, 1, MAX_STEPS)) < 0)
                return CLI_USAGE;
            break;
        case CLI_O_THREADS:
            if ((o->threads = cli_parse_shared_int("cluster", CLI_O_THREADS, optarg)) < 0)
                return CLI_USAGE;
            break;
        case CLI_O_DTYPE:
            if (cli_parse_dtype("cluster", optarg, &o->dtype)) return CLI_USAGE;
            break;
        case 'h':
        case CLI_O_HELP:
            usage(stdout);
            return -1;
        case 'L':
            o->use_llm = 1;
            break;
        default:
            if (cli_is_llm_option(c)) {
                if (cli_llm_option("cluster", c, optarg, &o->llm)) return CLI_USAGE;
                break;
            }
            return CLI_USAGE; /* cli_getopt said why */
        }
    }
    if (!o->model || !o->classes || !o->out || !o->n_k)
        return cli_usage_error("cluster", "--model, --classes, --num-clusters and -o are required");
    if (optind < argc) return cli_usage_error("cluster", "unexpected argument '%s'", argv[optind]);
    if (cli_check_output("cluster", o->out)) return CLI_FAIL;
    if (o->use_llm && !o->llm.model) return cli_usage_error("cluster", "--llm needs --llm-model");
    if (o->n_k == 1)
        for (int s = 1; s < o->steps; s++)
            o->k[s] = o->k[0];
    else if (o->n_k != o->steps)
        return cli_usage_error("cluster",
                               "%d cluster counts given for %d steps (give one, or one per step)",
                               o->n_k, o->steps);
    return 0;
}

int cmd_cluster(int argc, char **argv) {
    cluster_opts o = {.steps = 1, .llm = cli_llm_defaults()};
    int rc = parse(argc, argv, &o);
    if (rc) return rc < 0 ? CLI_OK : rc;
    gl_error err = {0};
    char names_path[4096];
    if (!o.names) {
        if (gl_data_path("meta_class_names.txt", names_path, sizeof names_path, &err))
            return cli_report(&err);
        o.names = names_path;
    }
    char **classes = NULL, **names = NULL;
    int n = 0, n_names = 0;
    gl_clip *clip = NULL;
    gl_class_node *root = NULL;
    gl_llm *llm = NULL;
    gl_clip_params cp = gl_clip_default_params();
    cp.threads = o.threads;
    cp.max_batch = 32;
    cp.arch = o.arch;
    cp.dtype = o.dtype;
    gl_status st = gl_class_list_read(o.classes, &classes, &n, &err);
    if (!st) st = gl_class_list_read(o.names, &names, &n_names, &err);
    if (!st && !(clip = gl_clip_load(o.model, &cp, &err))) st = err.code;
    if (!st && o.use_llm && !(llm = cli_llm_open("cluster", &o.llm, o.out, &err))) st = err.code;
    if (!st && llm &&
        !(root = gl_cluster_classes_llm(llm, o.llm.model, clip, (const char *const *)classes, n,
                                        o.tmpl, o.k, o.steps, &err)))
        st = err.code;
    else if (!st && !llm &&
             !(root = gl_cluster_classes(clip, (const char *const *)classes, n,
                                         (const char *const *)names, n_names, o.tmpl, o.k, o.steps,
                                         &err)))
        st = err.code;
    if (!st) st = gl_class_tree_write_yaml(o.out, root, &err);
    if (!st) {
        print_tree(root, 0);
        printf("wrote %s: %d classes in %d meta-classes at the top level\n", o.out, n,
               root->n_children);
    }
    gl_class_tree_free(root);
    cli_llm_report(llm, "llm");
    gl_llm_free(llm);
    gl_clip_free(clip);
    gl_strings_free(classes, n);
    gl_strings_free(names, n_names);
    return st ? cli_report(&err) : CLI_OK;
}
