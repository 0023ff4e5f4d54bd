/* eval.c: `geolabel eval` picks one of three evaluations by its flags and hands over argv.
 * --geo: geolocation (eval_geo.c); --head: Geograph heads (eval_head.c); else tile labels. */
#include "cli.h"

#include <string.h>

int cmd_eval(int argc, char **argv) {
    int (*run)(int, char **) = cli_eval_labels;
    const char *what = "label";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--geo"))
            run = cli_eval_geo, what = "geolocation";
        else if (!strcmp(argv[i], "--head") || !strncmp(argv[i], "--head=", 7))
            run = cli_eval_head, what = "head";
    }
    if (!run) {
        fprintf(stderr, "geolabel eval: %s evaluation is not built in this binary\n", what);
        return CLI_FAIL;
    }
    return run(argc, argv);
}
