/* tokenize.c: `geolabel tokenize --model M [--jsonl]`: CLIP token ids for each text on stdin,
 * one JSON array of 77 ids per line. With --jsonl each line is a JSON string (texts with newlines).
 */
#include "cli.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp) {
    fprintf(fp,
            "usage: geolabel tokenize --model M [--arch A] [--jsonl] < texts\n"
            "  Reads one text per line (with --jsonl, one JSON string per line) and writes one\n"
            "  JSON array of 77 CLIP token ids per line: the model's vocab.json and merges.txt,\n"
            "  or OpenAI's BPE (shipped) for open_clip models.\n");
    cli_help(fp, CLI_O_MODEL);
    cli_help(fp, CLI_O_ARCH);
    fprintf(fp,
            "  --jsonl                   each input line is a JSON string (texts with newlines)\n");
    cli_help(fp, CLI_O_HELP);
}

static void print_ids(const int32_t *ids) {
    putchar('[');
    for (int i = 0; i < GL_CLIP_CONTEXT; i++)
        printf(i ? ",%d" : "%d", ids[i]);
    fputs("]\n", stdout);
}

/* Drops "\u0000" escapes from a JSON line in place: cJSON would end the string there, and the
 * tokenizer's cleaning (as ftfy) deletes U+0000 anyway, so the ids are the same. */
static size_t drop_json_nul_escapes(char *line, size_t len) {
    size_t out = 0;
    for (size_t i = 0; i < len;) {
        if (line[i] == '\\' && i + 5 < len && line[i + 1] == 'u' &&
            !memcmp(line + i + 2, "0000", 4)) {
            i += 6;
            continue;
        }
        size_t k = line[i] == '\\' && i + 1 < len ? 2 : 1; /* an escape and its letter together */
        memmove(line + out, line + i, k);
        out += k;
        i += k;
    }
    return out;
}

/* One input line (without its newline) to one output line. */
static gl_status tokenize_line(gl_tokenizer *tok, char *line, size_t len, int jsonl, long line_no,
                               gl_error *err) {
    int32_t ids[GL_CLIP_CONTEXT];
    gl_status s;
    if (jsonl) {
        cJSON *v = cJSON_ParseWithLength(line, drop_json_nul_escapes(line, len));
        if (!cJSON_IsString(v))
            s = gl_fail(err, GL_ERR_FORMAT, "stdin line %ld: not a JSON string", line_no);
        else
            s = gl_tokenizer_encode(tok, v->valuestring, ids, NULL, err);
        cJSON_Delete(v);
    } else {
        s = gl_tokenizer_encode_len(tok, line, len, ids, NULL, err);
    }
    if (s) return gl_error_prefix(err, "stdin line %ld: ", line_no);
    print_ids(ids);
    return GL_OK;
}

int cmd_tokenize(int argc, char **argv) {
    const struct option opts[] = {
        CLI_OPT(MODEL), CLI_OPT(ARCH), {"jsonl", no_argument, 0, 'j'}, CLI_OPT(HELP), {0}};
    const char *model = NULL, *arch = NULL;
    int jsonl = 0, c;
    optind = 1;
    while ((c = cli_getopt(argc, argv, "m:h", opts, NULL)) != -1) {
        if (c == 'm' || c == CLI_O_MODEL)
            model = optarg;
        else if (c == CLI_O_ARCH)
            arch = optarg;
        else if (c == 'j')
            jsonl = 1;
        else if (c == 'h' || c == CLI_O_HELP)
            return usage(stdout), CLI_OK;
        else
            return CLI_USAGE; /* cli_getopt said why */
    }
    if (!model) return cli_usage_error("tokenize", "--model is required");
    if (optind < argc) return cli_usage_error("tokenize", "unexpected argument '%s'", argv[optind]);
    gl_error err = {0};
    gl_tokenizer *tok = gl_model_tokenizer_load(model, arch, &err);
    if (!tok) return cli_report(&err);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long line_no = 0;
    gl_status s = GL_OK;
    while (!s && (n = getline(&line, &cap, stdin)) >= 0) {
        line_no++;
        if (n > 0 && line[n - 1] == '\n') line[--n] = 0;
        s = tokenize_line(tok, line, (size_t)n, jsonl, line_no, &err);
    }
    free(line);
    gl_tokenizer_free(tok);
    if (!s && fflush(stdout) != 0) s = gl_fail(&err, GL_ERR_IO, "stdout: write failed");
    return s ? cli_report(&err) : CLI_OK;
}
