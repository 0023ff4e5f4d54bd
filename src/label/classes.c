/* classes.c: class lists (classes.txt): one name per line, trimmed, with '#' comments, refused
 * when empty or duplicated so every command gets the same rule; and a label run's class tree. */
#include "label.h"

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

gl_status gl_class_list_read(const char *path, char ***names, int *count, gl_error *err) {
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

/* ---------------------------------------------------------------- a label run's classes */

static int has_yaml_ext(const char *path) {
    return gl_path_has_suffix(path, ".yaml") || gl_path_has_suffix(path, ".yml");
}

/* The leaves of a tree, unique, as the children of a new flat root. */
static gl_status flatten(gl_class_node *flat, const gl_class_node *n, gl_error *err) {
    for (int i = 0; i < n->n_children; i++) {
        const gl_class_node *c = &n->children[i];
        if (c->n_children) {
            gl_status st = flatten(flat, c, err);
            if (st) return st;
            continue;
        }
        int seen = 0;
        for (int k = 0; k < flat->n_children && !seen; k++)
            seen = !strcmp(flat->children[k].name, c->name);
        if (seen) continue;
        gl_class_node *g = realloc(flat->children, (size_t)(flat->n_children + 1) * sizeof *g);
        if (!g) return gl_fail(err, GL_ERR_NOMEM, "classes: out of memory");
        flat->children = g;
        memset(&g[flat->n_children], 0, sizeof *g);
        if (!(g[flat->n_children].name = strdup(c->name)))
            return gl_fail(err, GL_ERR_NOMEM, "classes: out of memory");
        flat->n_children++;
    }
    return GL_OK;
}

/* A class list becomes a one-level tree; a YAML hierarchy is flattened for --mode flat. */
gl_class_node *gl_label_classes_load(const gl_label_params *p, int *hierarchical, gl_error *err) {
    int yaml = has_yaml_ext(p->classes_path);
    *hierarchical = p->mode == GL_LABEL_HIERARCHICAL || (p->mode == GL_LABEL_AUTO && yaml);
    gl_class_node *full = yaml ? gl_class_tree_load(p->classes_path, err) : NULL;
    if (yaml && (!full || *hierarchical)) return full;
    gl_class_node *tree = calloc(1, sizeof *tree);
    if (!tree) {
        gl_class_tree_free(full);
        gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", p->classes_path);
        return NULL;
    }
    if (yaml) {
        gl_status st = flatten(tree, full, err);
        gl_class_tree_free(full);
        if (!st) return tree;
        gl_class_tree_free(tree);
        return NULL;
    }
    char **names;
    int n;
    if (gl_class_list_read(p->classes_path, &names, &n, err)) {
        free(tree);
        return NULL;
    }
    tree->children = calloc((size_t)n, sizeof *tree->children);
    if (!tree->children) {
        gl_strings_free(names, n);
        free(tree);
        gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", p->classes_path);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        tree->children[i].name = names[i]; /* the tree takes the names */
    tree->n_children = n;
    free(names);
    return tree;
}
