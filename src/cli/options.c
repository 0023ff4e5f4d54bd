/* options.c: option values that several commands share (--split, --bands, --stretch), parsed
 * one way everywhere. Each returns 0, or prints a usage error naming the command and returns
 * CLI_USAGE. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

int cli_parse_split(const char *cmd, const char *v, gl_tiling *t) {
    char x;
    int r, c, n = 0;
    if (sscanf(v, "%d%c%d%n", &r, &x, &c, &n) != 3 || (x != 'x' && x != 'X') || v[n] || r < 1 ||
        c < 1 || r > 10000 || c > 10000)
        return cli_usage_error(cmd, "--split takes RxC, e.g. 3x3, not '%s'", v);
    t->rows = r, t->cols = c;
    return 0;
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
