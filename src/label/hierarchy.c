/* hierarchy.c: class hierarchies in GVL's YAML form (meta-class keys, nested mappings, leaf lists),
 * read and written with libyaml. Untrusted files are bounded in size, depth and node count. */
#include "geolabel.h"

#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_YAML_BYTES (16u << 20)
#define MAX_DEPTH 32
#define MAX_NODES 100000 /* aliases can multiply nodes; this bounds what we build */

typedef struct {
    const char *path;
    yaml_document_t *doc;
    int built;
    gl_error *err;
} loader;

static void node_free_children(gl_class_node *n) {
    for (int i = 0; i < n->n_children; i++) {
        node_free_children(&n->children[i]);
        free(n->children[i].name);
    }
    free(n->children);
    n->children = NULL;
    n->n_children = 0;
}

void gl_class_tree_free(gl_class_node *root) {
    if (!root) return;
    node_free_children(root);
    free(root->name);
    free(root);
}

static int is_null_scalar(const yaml_node_t *v) {
    if (v->type != YAML_SCALAR_NODE || v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    const char *s = (const char *)v->data.scalar.value;
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* Appends a child named by a scalar node; returns it, or NULL with the error set. */
static gl_class_node *add_child(loader *L, gl_class_node *parent, const yaml_node_t *key) {
    if (key->type != YAML_SCALAR_NODE) {
        gl_fail(L->err, GL_ERR_FORMAT, "%s:%lu: a class name must be a plain string", L->path,
                (unsigned long)key->start_mark.line + 1);
        return NULL;
    }
    const char *name = (const char *)key->data.scalar.value;
    unsigned long line = (unsigned long)key->start_mark.line + 1;
    if (!*name) {
        gl_fail(L->err, GL_ERR_FORMAT, "%s:%lu: empty class name", L->path, line);
        return NULL;
    }
    for (int i = 0; i < parent->n_children; i++) {
        if (!strcmp(parent->children[i].name, name)) {
            gl_fail(L->err, GL_ERR_FORMAT, "%s:%lu: duplicate class '%s' under the same parent",
                    L->path, line, name);
            return NULL;
        }
    }
    if (++L->built > MAX_NODES) {
        gl_fail(L->err, GL_ERR_LIMIT, "%s: more than %d classes", L->path, MAX_NODES);
        return NULL;
    }
    gl_class_node *grown =
        realloc(parent->children, (size_t)(parent->n_children + 1) * sizeof *grown);
    if (!grown) {
        gl_fail(L->err, GL_ERR_NOMEM, "%s: out of memory", L->path);
        return NULL;
    }
    parent->children = grown;
    gl_class_node *c = &grown[parent->n_children];
    memset(c, 0, sizeof *c);
    if (!(c->name = strdup(name))) {
        gl_fail(L->err, GL_ERR_NOMEM, "%s: out of memory", L->path);
        return NULL;
    }
    parent->n_children++;
    return c;
}

static gl_status fill(loader *L, gl_class_node *parent, yaml_node_t *v, int depth);

static gl_status fill_mapping(loader *L, gl_class_node *parent, yaml_node_t *v, int depth) {
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        gl_class_node *c = add_child(L, parent, yaml_document_get_node(L->doc, p->key));
        if (!c) return L->err->code;
        yaml_node_t *value = yaml_document_get_node(L->doc, p->value);
        if (is_null_scalar(value)) continue; /* "name:" with nothing is a leaf class */
        gl_status st = fill(L, c, value, depth + 1);
        if (st) return st;
        if (c->n_children == 0)
            return gl_fail(L->err, GL_ERR_FORMAT, "%s:%lu: meta-class '%s' has no classes", L->path,
                           (unsigned long)value->start_mark.line + 1, c->name);
    }
    return GL_OK;
}

/* Adds v's classes under parent: a mapping gives meta-classes, a list gives leaves (or, for
 * mapping items, more meta-classes), a lone scalar one leaf. */
static gl_status fill(loader *L, gl_class_node *parent, yaml_node_t *v, int depth) {
    if (depth > MAX_DEPTH)
        return gl_fail(L->err, GL_ERR_LIMIT, "%s:%lu: hierarchy deeper than %d levels", L->path,
                       (unsigned long)v->start_mark.line + 1, MAX_DEPTH);
    if (v->type == YAML_MAPPING_NODE) return fill_mapping(L, parent, v, depth);
    if (v->type == YAML_SCALAR_NODE) return add_child(L, parent, v) ? GL_OK : L->err->code;
    if (v->type != YAML_SEQUENCE_NODE)
        return gl_fail(L->err, GL_ERR_FORMAT, "%s: unexpected YAML node", L->path);
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        yaml_node_t *item = yaml_document_get_node(L->doc, *it);
        gl_status st = item->type == YAML_MAPPING_NODE ? fill_mapping(L, parent, item, depth)
                       : item->type == YAML_SCALAR_NODE
                           ? (add_child(L, parent, item) ? GL_OK : L->err->code)
                           : gl_fail(L->err, GL_ERR_FORMAT, "%s:%lu: nested list in a class list",
                                     L->path, (unsigned long)item->start_mark.line + 1);
        if (st) return st;
    }
    return GL_OK;
}

gl_class_node *gl_class_tree_load(const char *path, gl_error *err) {
    char *text;
    size_t len;
    if (gl_read_file(path, MAX_YAML_BYTES, &text, &len, err)) return NULL;
    gl_status st = GL_OK;
    gl_class_node *root = calloc(1, sizeof *root);
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!root || !yaml_parser_initialize(&parser)) {
        free(text);
        free(root);
        gl_fail(err, GL_ERR_NOMEM, "%s: cannot start the YAML parser", path);
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        st = gl_fail(err, GL_ERR_FORMAT, "%s:%lu: YAML error: %s", path,
                     (unsigned long)parser.problem_mark.line + 1,
                     parser.problem ? parser.problem : "unknown");
        yaml_parser_delete(&parser);
        free(text);
        free(root);
        return NULL;
    }
    yaml_node_t *top = yaml_document_get_root_node(&doc);
    loader L = {path, &doc, 0, err};
    if (!top || is_null_scalar(top))
        st = gl_fail(err, GL_ERR_FORMAT, "%s: empty hierarchy", path);
    else
        st = fill(&L, root, top, 1);
    if (!st && root->n_children == 0) st = gl_fail(err, GL_ERR_FORMAT, "%s: no classes", path);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    free(text);
    if (!st) return root;
    gl_class_tree_free(root);
    return NULL;
}

/* ---------------------------------------------------------------- writing */

static int emit(yaml_emitter_t *em, yaml_event_t *ev, int ok) {
    return ok && yaml_emitter_emit(em, ev);
}

/* Names YAML 1.1 readers (PyYAML, so GVL) would turn into null, a boolean or a number. */
static int reads_as_non_string(const char *s) {
    static const char *const words[] = {"null",  "Null",  "NULL",  "~",   "true", "True", "TRUE",
                                        "false", "False", "FALSE", "yes", "Yes",  "YES",  "no",
                                        "No",    "NO",    "on",    "On",  "ON",   "off",  "Off",
                                        "OFF",   "y",     "Y",     "n",   "N"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (!strcmp(s, words[i])) return 1;
    char *end;
    strtod(s, &end);
    return end != s && *end == 0;
}

static int emit_scalar_styled(yaml_emitter_t *em, const char *s, yaml_scalar_style_t style) {
    yaml_event_t ev;
    return emit(em, &ev,
                yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1,
                                             1, style));
}

static int emit_scalar(yaml_emitter_t *em, const char *s) {
    return emit_scalar_styled(
        em, s, reads_as_non_string(s) ? YAML_SINGLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE);
}

static int cmp_node_name(const void *a, const void *b) {
    return strcmp((*(const gl_class_node *const *)a)->name,
                  (*(const gl_class_node *const *)b)->name);
}

static int all_leaves(const gl_class_node *n) {
    for (int i = 0; i < n->n_children; i++)
        if (n->children[i].n_children) return 0;
    return 1;
}

static int emit_node(yaml_emitter_t *em, const gl_class_node *n);

/* Leaves in their own order, as PyYAML keeps list order. */
static int emit_leaf_list(yaml_emitter_t *em, const gl_class_node *n) {
    yaml_event_t ev;
    int ok =
        emit(em, &ev,
             yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE));
    for (int i = 0; ok && i < n->n_children; i++)
        ok = emit_scalar(em, n->children[i].name);
    return emit(em, &ev, ok && yaml_sequence_end_event_initialize(&ev));
}

/* Keys sorted as PyYAML's sort_keys does; a leaf beside meta-classes is a key with a null value. */
static int emit_mapping(yaml_emitter_t *em, const gl_class_node *n) {
    const gl_class_node **sorted = malloc((size_t)n->n_children * sizeof *sorted);
    if (!sorted) return 0;
    for (int i = 0; i < n->n_children; i++)
        sorted[i] = &n->children[i];
    qsort(sorted, (size_t)n->n_children, sizeof *sorted, cmp_node_name);
    yaml_event_t ev;
    int ok = emit(
        em, &ev, yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE));
    for (int i = 0; ok && i < n->n_children; i++) {
        ok = emit_scalar(em, sorted[i]->name);
        if (ok)
            ok = sorted[i]->n_children ? emit_node(em, sorted[i])
                                       : emit_scalar_styled(em, "null", YAML_PLAIN_SCALAR_STYLE);
    }
    free(sorted);
    return emit(em, &ev, ok && yaml_mapping_end_event_initialize(&ev));
}

static int emit_node(yaml_emitter_t *em, const gl_class_node *n) {
    return all_leaves(n) ? emit_leaf_list(em, n) : emit_mapping(em, n);
}

gl_status gl_class_tree_write_yaml(const char *path, const gl_class_node *root, gl_error *err) {
    if (!root->n_children) return gl_fail(err, GL_ERR_ARG, "%s: no classes to write", path);
    gl_atomic_file f;
    gl_status st = gl_atomic_open(&f, path, err);
    if (st) return st;
    yaml_emitter_t em;
    yaml_event_t ev;
    if (!yaml_emitter_initialize(&em)) {
        gl_atomic_abort(&f);
        return gl_fail(err, GL_ERR_NOMEM, "%s: cannot start the YAML emitter", path);
    }
    yaml_emitter_set_output_file(&em, f.fp);
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_indent(&em, 2);
    int ok = emit(&em, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
    ok = emit(&em, &ev, ok && yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
    ok = ok && emit_node(&em, root);
    ok = emit(&em, &ev, ok && yaml_document_end_event_initialize(&ev, 1));
    ok = emit(&em, &ev, ok && yaml_stream_end_event_initialize(&ev));
    ok = ok && yaml_emitter_flush(&em);
    yaml_emitter_delete(&em);
    if (!ok) {
        gl_atomic_abort(&f);
        return gl_fail(err, GL_ERR_IO, "%s: cannot write the YAML", path);
    }
    return gl_atomic_commit(&f, err);
}
