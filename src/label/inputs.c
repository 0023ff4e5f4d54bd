/* inputs.c: what `label` is asked to read, as a list of scenes: files, directories (their files),
 * shell globs, and any path GDAL opens itself (/vsizip/, /vsicurl/, URLs), each kept as given. */
#include "label.h"

#include <dirent.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_INPUTS 1000000

static gl_status list_push(gl_input_list *l, const char *path, gl_error *err) {
    if (l->n >= MAX_INPUTS)
        return gl_fail(err, GL_ERR_LIMIT, "%s: more than %d inputs", path, MAX_INPUTS);
    if (l->n == l->cap) {
        int c = l->cap ? l->cap * 2 : 32;
        char **g = realloc(l->paths, (size_t)c * sizeof *g);
        if (!g) return gl_fail(err, GL_ERR_NOMEM, "inputs: out of memory");
        l->paths = g;
        l->cap = c;
    }
    if (!(l->paths[l->n] = strdup(path)))
        return gl_fail(err, GL_ERR_NOMEM, "inputs: out of memory");
    l->n++;
    return GL_OK;
}

/* GDAL's sidecars sit beside scenes in directories; they are not inputs. */
static int is_sidecar(const char *name) {
    static const char *const ext[] = {".aux.xml", ".ovr", ".msk", ".tfw", ".tfwx",
                                      ".jgw",     ".pgw", ".wld", ".prj"};
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (gl_path_has_suffix(name, ext[i])) return 1;
    return name[0] == '.'; /* hidden files, and so a bare ".ovr" too */
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A directory gives its regular files (not recursing), sorted so runs are reproducible. */
static gl_status expand_dir(gl_input_list *l, const char *dir, gl_error *err) {
    DIR *d = opendir(dir);
    if (!d) return gl_fail(err, GL_ERR_IO, "%s: cannot list the directory", dir);
    int first = l->n;
    gl_status st = GL_OK;
    struct dirent *e;
    size_t dl = strlen(dir);
    int slash = dl > 0 && dir[dl - 1] == '/'; /* "scenes/" gives "scenes/a.tif", not "scenes//" */
    while (!st && (e = readdir(d))) {
        if (is_sidecar(e->d_name)) continue;
        size_t n = dl + strlen(e->d_name) + 2;
        char *p = malloc(n);
        if (!p) {
            st = gl_fail(err, GL_ERR_NOMEM, "inputs: out of memory");
            break;
        }
        snprintf(p, n, "%s%s%s", dir, slash ? "" : "/", e->d_name);
        struct stat sb;
        if (stat(p, &sb) == 0 && S_ISREG(sb.st_mode)) st = list_push(l, p, err);
        free(p);
    }
    closedir(d);
    if (l->n > first) qsort(l->paths + first, (size_t)(l->n - first), sizeof *l->paths, cmp_str);
    return st;
}

/* Files and GDAL paths stay as given (a missing one fails later, as an input); globs match as the
 * shell does. A GDAL path is never globbed: '?' starts a URL's query. */
gl_status gl_inputs_expand(const char *const *inputs, int n, gl_input_list *l, gl_error *err) {
    for (int i = 0; i < n; i++) {
        struct stat sb;
        gl_status st = GL_OK;
        const char *in = inputs[i];
        if (gl_path_is_gdal_virtual(in)) {
            st = list_push(l, in, err);
        } else if (stat(in, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            st = expand_dir(l, in, err);
        } else if (stat(in, &sb) != 0 && strpbrk(in, "*?[")) {
            glob_t g;
            int r = glob(in, 0, NULL, &g);
            for (size_t k = 0; !st && r == 0 && k < g.gl_pathc; k++)
                if (stat(g.gl_pathv[k], &sb) == 0 && S_ISREG(sb.st_mode))
                    st = list_push(l, g.gl_pathv[k], err);
            if (r == 0)
                globfree(&g);
            else
                st = list_push(l, in, err); /* reported as a missing input */
        } else {
            st = list_push(l, in, err);
        }
        if (st) return st;
    }
    return GL_OK;
}

void gl_inputs_free(gl_input_list *l) {
    if (!l) return;
    for (int i = 0; i < l->n; i++) {
        free(l->paths[i]);
        if (l->open) free(l->open[i]);
    }
    free(l->paths);
    free(l->open);
    free(l->ordinal);
    memset(l, 0, sizeof *l);
}
