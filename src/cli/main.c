/* main.c: the geolabel entry point: global flags, then dispatch to one subcommand file.
 * Nothing here knows about models or images; see cli.h for the conventions. */
#include "core/blas.h"
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name, *help;
    int (*run)(int, char **);
} command;

#define CLI_ENTRY(name, help) {#name, help, cmd_##name},
static const command commands[] = {CLI_COMMANDS(CLI_ENTRY)};
#undef CLI_ENTRY

int cli_report(const gl_error *err) {
    fprintf(stderr, "geolabel: %s\n", err->msg[0] ? err->msg : gl_status_name(err->code));
    if (err->code == GL_ERR_ARG) return CLI_USAGE;
    if (err->code == GL_ERR_PARTIAL) return CLI_PARTIAL;
    return CLI_FAIL;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "geolabel %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'geolabel %s --help')\n", cmd);
    va_end(ap);
    return CLI_USAGE;
}

int cli_parse_int(const char *cmd, const char *opt, const char *value, int min, int max) {
    char *end;
    long v = value ? strtol(value, &end, 10) : 0;
    if (!value || *end || end == value || v < min || v > max) {
        cli_usage_error(cmd, "%s takes a whole number from %d to %d, not '%s'", opt, min, max,
                        value ? value : "");
        return -1;
    }
    return (int)v;
}

static void usage(FILE *fp) {
    fprintf(fp, "usage: geolabel [-v|-vv|-q] [--progress-interval S] COMMAND [options]\n"
                "       (-v/-q/--progress-interval also after COMMAND; S: seconds between\n"
                "       timestamped progress lines when stderr is not a terminal, default 10)\n"
                "       geolabel --version\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(fp, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(fp, "\n'geolabel COMMAND --help' describes a command.\n");
}

int main(int argc, char **argv) {
    gl_blas_reexec_if_needed(argv);
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        int taken = cli_progress_option("geolabel", argc - i, argv + i);
        if (taken < 0) return CLI_USAGE;
        if (taken) {
            i += taken - 1; /* the value may be the next word */
            continue;
        }
        if (!strcmp(argv[i], "-v"))
            gl_log_set_level(GL_LOG_INFO);
        else if (!strcmp(argv[i], "-vv"))
            gl_log_set_level(GL_LOG_DEBUG);
        else if (!strcmp(argv[i], "-q"))
            gl_log_set_level(GL_LOG_QUIET);
        else if (!strcmp(argv[i], "--version")) {
            printf("geolabel %s\n", GL_VERSION);
            return CLI_OK;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return CLI_OK;
        } else {
            usage(stderr);
            return CLI_USAGE;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return CLI_USAGE;
    }
    for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++) {
        if (strcmp(argv[i], commands[c].name) != 0) continue;
        if (!commands[c].run) {
            fprintf(stderr, "geolabel: command '%s' is not built in this binary\n", argv[i]);
            return CLI_FAIL;
        }
        gl_progress_configure(commands[c].name, -1); /* keeps an interval set before COMMAND */
        int rc = commands[c].run(argc - i, argv + i);
        /* What a command printed must have reached stdout: `classify > /dev/full` fails. */
        if (fflush(stdout) != 0 || ferror(stdout) || fclose(stdout) != 0) {
            fprintf(stderr, "geolabel: stdout: cannot write: %s\n", strerror(errno));
            return rc ? rc : CLI_FAIL;
        }
        return rc;
    }
    fprintf(stderr, "geolabel: unknown command '%s'\n", argv[i]);
    usage(stderr);
    return CLI_USAGE;
}
