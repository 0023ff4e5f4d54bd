/* classes.c: class lists (classes.txt): one name per line, trimmed, with '#' comments.
 * Empty lists and duplicate names are refused here so every command gets the same rule. */
#include "geolabel.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

void gl_strings_free(char **strings, int count) {
    if (!strings) return;
    for (int i = 0; i < count; i++)
        free(strings[i]);
    free(strings);
}

static char *trim(char *s) {
    while (*s && isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = 0;
    return s;
}

gl_status gl_class_list_load(const char *path, char ***names, int *count, gl_error *err) {
    *names = NULL;
    *count = 0;
    char *text;
    gl_status st = gl_read_file(path, 64u << 20, &text, NULL, err);
    if (st) return st;
    char **list = NULL;
    int n = 0, cap = 0, line_no = 0;
    for (char *p = text; p && *p;) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = 0;
        line_no++;
        char *name = trim(p);
        p = nl ? nl + 1 : NULL;
        if (!*name || *name == '#') continue;
        for (int i = 0; i < n; i++) {
            if (!strcmp(list[i], name)) {
                st =
                    gl_fail(err, GL_ERR_FORMAT, "%s:%d: duplicate class '%s'", path, line_no, name);
                goto done;
            }
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **grown = realloc(list, (size_t)cap * sizeof *grown);
            if (!grown) {
                st = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
                goto done;
            }
            list = grown;
        }
        if (!(list[n] = strdup(name))) {
            st = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
            goto done;
        }
        n++;
    }
    if (n == 0) st = gl_fail(err, GL_ERR_FORMAT, "%s: no class names in the file", path);
done:
    free(text);
    if (st) {
        gl_strings_free(list, n);
        return st;
    }
    *names = list;
    *count = n;
    return GL_OK;
}
