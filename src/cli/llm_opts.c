/* llm_opts.c: the LLM client's command-line options, shared by `label` and `cluster --llm`: which
 * API, the server, concurrency, retries, timeout, circuit, cache; and the closing usage line. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

cli_llm_opts cli_llm_defaults(void) {
    cli_llm_opts o;
    memset(&o, 0, sizeof o);
    o.p = gl_llm_default_params();
    return o;
}

int cli_is_llm_option(int c) {
    return (c >= CLI_O_LLM_API && c <= CLI_O_NO_LLM_CACHE) ||
           (c >= CLI_OPT_CLASSIFIER_TYPE && c <= CLI_OPT_LLM_LAST);
}

void cli_llm_help(FILE *fp) {
    fprintf(fp, "LLM server (keys only from the environment: OPENAI_API_KEY [OPENAI_BASE_URL],\n"
                "AZURE_OPENAI_API_KEY [AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_VERSION], or\n"
                "GEOLABEL_LLM_API_KEY for a local server that wants one):\n");
    for (int id = CLI_O_LLM_API; id <= CLI_O_NO_LLM_CACHE; id++)
        cli_help(fp, id);
}

void cli_llm_label_help(FILE *fp) {
    fprintf(
        fp,
        "GVL's LLM pipeline (vision LLM -> LLM classifier -> CLIP fallback):\n"
        "  --classifier-type T       clip (default) | vlm-llm: describe each patch with\n"
        "                            --vlm-model, classify that with --llm-model (GVL's openai\n"
        "                            and huggingface) | llm: classify --descriptions CSV's\n"
        "  --vlm-model M             the vision model (GVL's --vision_model)\n"
        "  --vlm-base-url URL        its own local server (default: the classifier's)\n"
        "  --prompt TEXT             the vision prompt ('Detailed long description of the image: "
        "')\n"
        "  --include-filename        the file name in both prompts\n"
        "  --include-classes         the (top-level) classes in the vision prompt\n"
        "  --apply-vision-template   the vision prompt as separate text parts\n"
        "  --vlm-size PX             the patch's longer side as sent (448; 0: as read)\n"
        "  --vlm-max-tokens N        (128, GVL's)  --vlm-temperature T (0)\n"
        "  --llm-max-tokens N        (not sent)    --llm-temperature T (0)\n"
        "  --descriptions CSV        filename,row,col,description per tile, for llm\n");
    cli_llm_help(fp);
}

static int parse_seconds(const char *cmd, const char *opt, const char *v, double min, double *out) {
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || !(d >= min) || d > 86400)
        return cli_usage_error(cmd, "%s takes seconds (%g to 86400), not '%s'", opt, min, v);
    *out = d;
    return 0;
}

int cli_llm_option(const char *cmd, int code, const char *v, cli_llm_opts *o) {
    int n;
    switch (code) {
    case CLI_O_LLM_API:
        if (!strcmp(v, "openai"))
            o->p.api = GL_LLM_OPENAI;
        else if (!strcmp(v, "azure"))
            o->p.api = GL_LLM_AZURE;
        else if (!strcmp(v, "local"))
            o->p.api = GL_LLM_LOCAL;
        else
            return cli_usage_error(cmd,
                                   "--llm-api (GVL's --openai_variant) is openai, azure or "
                                   "local, not '%s'",
                                   v);
        o->api_set = 1;
        return 0;
    case CLI_O_LLM_MODEL:
        o->model = v;
        return 0;
    case CLI_O_LLM_BASE_URL:
        o->p.base_url = v;
        return 0;
    case CLI_O_LLM_CONCURRENCY:
        if ((n = cli_parse_int(cmd, "--llm-concurrency", v, 1, 256)) < 0) return CLI_USAGE;
        o->p.concurrency = n;
        return 0;
    case CLI_O_LLM_RETRIES:
        if ((n = cli_parse_int(cmd, "--llm-retries", v, 0, 100)) < 0) return CLI_USAGE;
        o->p.max_retries = n;
        return 0;
    case CLI_O_LLM_MAX_FAILURES:
        if ((n = cli_parse_int(cmd, "--llm-max-failures", v, 1, 1000000)) < 0) return CLI_USAGE;
        o->p.max_failures = n;
        return 0;
    case CLI_O_LLM_TIMEOUT:
        return parse_seconds(cmd, "--llm-timeout", v, 0.001, &o->p.timeout) ? CLI_USAGE : 0;
    case CLI_O_LLM_BACKOFF:
        return parse_seconds(cmd, "--llm-backoff", v, 0, &o->p.backoff) ? CLI_USAGE : 0;
    case CLI_O_LLM_CACHE:
        o->cache = v;
        return 0;
    case CLI_O_NO_LLM_CACHE:
        o->no_cache = 1;
        return 0;
    default:
        return cli_usage_error(cmd, "unknown option");
    }
}

gl_llm *cli_llm_open(const char *cmd, cli_llm_opts *o, const char *output, gl_error *err) {
    /* A server URL alone means a local server; OpenAI needs --llm-api openai with it. */
    if (!o->api_set && o->p.base_url) o->p.api = GL_LLM_LOCAL;
    if (!o->no_cache) {
        if (o->cache) {
            o->p.cache_dir = o->cache;
        } else {
            /* Beside the output, so a re-run or --resume of the same output finds it. */
            snprintf(o->cache_buf, sizeof o->cache_buf, "%s.llm-cache", output);
            o->p.cache_dir = o->cache_buf;
        }
        /* Checked before any work, so a bad folder fails at once, not at the first answer. */
        if (gl_make_dirs(o->p.cache_dir, err)) return NULL;
        if (access(o->p.cache_dir, W_OK | X_OK)) {
            gl_fail(err, GL_ERR_IO, "%s %s: cannot write in the LLM cache folder", cmd,
                    o->p.cache_dir);
            return NULL;
        }
    }
    return gl_llm_load(&o->p, err);
}

gl_llm *cli_vlm_open(const cli_llm_opts *o, gl_error *err) {
    if (!o->vlm_base_url) return NULL;
    gl_llm_params p = o->p;
    p.api = GL_LLM_LOCAL;
    p.base_url = o->vlm_base_url;
    return gl_llm_load(&p, err);
}

void cli_llm_report(const gl_llm *llm, const char *what) {
    if (!llm || gl_log_get_level() <= GL_LOG_QUIET) return;
    gl_llm_usage u = gl_llm_get_usage(llm);
    fprintf(stderr,
            "geolabel: %s: %ld requests (%ld retries, %ld failed), %ld answers from the cache; "
            "tokens: %ld prompt_tokens + %ld completion_tokens\n",
            what, u.requests, u.retries, u.failures, u.cache_hits, u.prompt_tokens,
            u.completion_tokens);
}

static int parse_temperature(const char *cmd, const char *opt, const char *v, double *out) {
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || !(d >= 0 && d <= 2))
        return cli_usage_error(cmd, "%s takes 0 to 2, not '%s'", opt, v);
    *out = d;
    return 0;
}

int cli_llm_label_option(const char *cmd, int code, const char *v, cli_llm_opts *o,
                         gl_label_llm *lp) {
    int n;
    switch (code) {
    case CLI_OPT_CLASSIFIER_TYPE:
        /* GVL's openai and huggingface both mean its vision-then-classifier pipeline. */
        if (!strcmp(v, "clip"))
            lp->type = GL_CLASSIFIER_CLIP;
        else if (!strcmp(v, "llm"))
            lp->type = GL_CLASSIFIER_LLM;
        else if (!strcmp(v, "vlm-llm") || !strcmp(v, "openai") || !strcmp(v, "huggingface"))
            lp->type = GL_CLASSIFIER_VLM_LLM;
        else
            return cli_usage_error(cmd, "--classifier-type is clip, llm or vlm-llm, not '%s'", v);
        return 0;
    case CLI_OPT_VLM_MODEL:
        lp->vlm_model = v;
        return 0;
    case CLI_OPT_PROMPT:
        lp->prompt = v;
        return 0;
    case CLI_OPT_INCLUDE_FILENAME:
        lp->include_filename = 1;
        return 0;
    case CLI_OPT_INCLUDE_CLASSES:
        lp->include_classes = 1;
        return 0;
    case CLI_OPT_APPLY_TEMPLATE:
        lp->apply_template = 1;
        return 0;
    case CLI_OPT_VLM_SIZE:
        if ((n = cli_parse_int(cmd, "--vlm-size", v, 0, 4096)) < 0) return CLI_USAGE;
        lp->vlm_size = n;
        return 0;
    case CLI_OPT_VLM_MAX_TOKENS:
        if ((n = cli_parse_int(cmd, "--vlm-max-tokens", v, 1, 1 << 20)) < 0) return CLI_USAGE;
        lp->vlm_max_tokens = n;
        return 0;
    case CLI_OPT_LLM_MAX_TOKENS:
        if ((n = cli_parse_int(cmd, "--llm-max-tokens", v, 1, 1 << 20)) < 0) return CLI_USAGE;
        lp->llm_max_tokens = n;
        return 0;
    case CLI_OPT_VLM_TEMPERATURE:
        return parse_temperature(cmd, "--vlm-temperature", v, &lp->vlm_temperature) ? CLI_USAGE : 0;
    case CLI_OPT_LLM_TEMPERATURE:
        return parse_temperature(cmd, "--llm-temperature", v, &lp->llm_temperature) ? CLI_USAGE : 0;
    case CLI_OPT_DESCRIPTIONS:
        lp->descriptions_path = v;
        return 0;
    case CLI_OPT_VLM_BASE_URL:
        o->vlm_base_url = v;
        return 0;
    default:
        return cli_llm_option(cmd, code, v, o);
    }
}
