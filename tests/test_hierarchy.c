/* test_hierarchy.c: class hierarchies against PyYAML (GVL's reader): files PyYAML wrote read back
 * with the same structure; files we write are what yaml.safe_dump(sort_keys=True) writes. */
#include "harness.h"

#include <cjson/cJSON.h>

/* Does node n match the PyYAML value v (dict of name -> value, list of names, or None)? */
static int same_tree(const gl_class_node *n, const cJSON *v) {
    if (cJSON_IsNull(v)) return n->n_children == 0;
    if (cJSON_IsArray(v)) {
        if (cJSON_GetArraySize(v) != n->n_children) return 0;
        for (int i = 0; i < n->n_children; i++) {
            const cJSON *it = cJSON_GetArrayItem(v, i);
            if (!cJSON_IsString(it) || strcmp(it->valuestring, n->children[i].name) ||
                n->children[i].n_children)
                return 0;
        }
        return 1;
    }
    if (!cJSON_IsObject(v) || cJSON_GetArraySize(v) != n->n_children) return 0;
    for (int i = 0; i < n->n_children; i++) {
        const cJSON *child = cJSON_GetObjectItemCaseSensitive(v, n->children[i].name);
        if (!child || !same_tree(&n->children[i], child)) return 0;
    }
    return 1;
}

static const char *TREE_PY =
    "{'Water': ['river', 'lake', 'sea'], "
    "'Built': {'Residential': ['dense residential', 'sparse residential'], "
    "'Transport': {'Air': ['airport', 'runway'], 'Ground': ['freeway', 'railway station']}}, "
    "'Yes': ['1', 'null', 'S\\u00e3o Paulo: centre'], 'Bare': ['beach', 'desert']}";

static void test_reads_what_pyyaml_writes(void) {
    char script[1024], cmd[1200];
    snprintf(script, sizeof script,
             "import yaml,json\nt=%s\n"
             "open('h.yaml','w').write(yaml.safe_dump(t,allow_unicode=True))\n"
             "json.dump(t,open('h.json','w'))\n",
             TREE_PY);
    CHECK(t_write_text("h.py", script), "write h.py");
    snprintf(cmd, sizeof cmd, "%s h.py", t_python());
    CHECK(system(cmd) == 0, "python wrote the yaml");
    gl_error err = {0};
    gl_class_node *root = gl_class_tree_load("h.yaml", &err);
    CHECK(root, "%s", err.msg);
    if (!root) return;
    char *json = NULL;
    CHECK_OK(gl_read_file("h.json", 1 << 20, &json, NULL, &err), &err);
    cJSON *want = cJSON_Parse(json ? json : "");
    CHECK(want && same_tree(root, want), "tree differs from PyYAML's");
    CHECK(root->n_children == 4, "4 top-level meta-classes, got %d", root->n_children);
    cJSON_Delete(want);
    free(json);
    gl_class_tree_free(root);
}

static void test_writes_what_pyyaml_writes(void) {
    gl_class_node air[] = {{"airport", NULL, 0}, {"runway", NULL, 0}};
    gl_class_node ground[] = {{"freeway", NULL, 0}, {"railway station", NULL, 0}};
    gl_class_node transport[] = {{"Ground", ground, 2}, {"Air", air, 2}};
    gl_class_node res[] = {{"dense residential", NULL, 0}, {"sparse residential", NULL, 0}};
    gl_class_node built[] = {{"Transport", transport, 2}, {"Residential", res, 2}};
    gl_class_node water[] = {{"river", NULL, 0}, {"lake", NULL, 0}, {"sea", NULL, 0}};
    gl_class_node odd[] = {
        {"1", NULL, 0}, {"null", NULL, 0}, {"S\xc3\xa3o Paulo: centre", NULL, 0}};
    gl_class_node bare[] = {{"desert", NULL, 0}, {"beach", NULL, 0}};
    gl_class_node top[] = {
        {"Water", water, 3}, {"Built", built, 2}, {"Yes", odd, 3}, {"Bare", bare, 2}};
    gl_class_node root = {NULL, top, 4};
    gl_error err = {0};
    CHECK_OK(gl_class_tree_write_yaml("ours.yaml", &root, &err), &err);
    /* PyYAML must read back our structure, and its own dump of it must be our bytes. */
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "%s -c 'import yaml,json\nt=yaml.safe_load(open(\"ours.yaml\"))\n"
             "json.dump(t,open(\"ours.json\",\"w\"))\n"
             "open(\"py.yaml\",\"w\").write(yaml.safe_dump(t,allow_unicode=True,sort_keys=True,"
             "default_flow_style=False))'",
             t_python());
    CHECK(system(cmd) == 0, "python read our yaml");
    char *json = NULL, *ours = NULL, *theirs = NULL;
    CHECK_OK(gl_read_file("ours.json", 1 << 20, &json, NULL, &err), &err);
    cJSON *got = cJSON_Parse(json ? json : "");
    CHECK(got && same_tree(&root, got), "PyYAML reads a different tree from our file");
    CHECK_OK(gl_read_file("ours.yaml", 1 << 20, &ours, NULL, &err), &err);
    CHECK_OK(gl_read_file("py.yaml", 1 << 20, &theirs, NULL, &err), &err);
    CHECK(ours && theirs && !strcmp(ours, theirs), "ours:\n%s\nPyYAML:\n%s", ours, theirs);
    /* And we read our own file back. */
    gl_class_node *back = gl_class_tree_load("ours.yaml", &err);
    CHECK(back, "%s", err.msg);
    CHECK(got && back && same_tree(back, got), "round trip changed the tree");
    gl_class_tree_free(back);
    cJSON_Delete(got);
    free(json);
    free(ours);
    free(theirs);
}

static void test_mixed_leaves_and_meta_classes(void) {
    CHECK(t_write_text("m.yaml", "A:\n  B: [x, y]\n  c:\nd: [e]\n"), "write");
    gl_error err = {0};
    gl_class_node *root = gl_class_tree_load("m.yaml", &err);
    CHECK(root, "%s", err.msg);
    if (!root) return;
    CHECK(root->n_children == 2 && root->children[0].n_children == 2 &&
              root->children[0].children[1].n_children == 0 &&
              !strcmp(root->children[0].children[1].name, "c"),
          "a key with no value is a leaf");
    CHECK_OK(gl_class_tree_write_yaml("m2.yaml", root, &err), &err);
    gl_class_node *back = gl_class_tree_load("m2.yaml", &err);
    CHECK(back, "%s", err.msg);
    CHECK(back && back->n_children == 2 && back->children[0].n_children == 2 &&
              !strcmp(back->children[0].children[1].name, "c") &&
              back->children[0].children[1].n_children == 0,
          "mixed node survives a round trip");
    gl_class_tree_free(root);
    gl_class_tree_free(back);
}

static void expect_refused(const char *name, const char *text, gl_status code, const char *what) {
    CHECK(t_write_text(name, text), "write %s", name);
    gl_error err = {0};
    gl_class_node *root = gl_class_tree_load(name, &err);
    gl_status st = root ? GL_OK : err.code;
    CHECK(st == code, "%s: got %s (%s)", what, gl_status_name(st), err.msg);
    CHECK(strstr(err.msg, name) != NULL, "message names the file: %s", err.msg);
    CHECK(root == NULL, "nothing left allocated");
    gl_class_tree_free(root);
}

static void test_bad_files(void) {
    expect_refused("dup.yaml", "A: [x, y, x]\n", GL_ERR_FORMAT, "duplicate sibling");
    expect_refused("empty.yaml", "A: []\nB: [y]\n", GL_ERR_FORMAT, "empty meta-class");
    expect_refused("syntax.yaml", "A: [x, y\nB: {\n", GL_ERR_FORMAT, "syntax error");
    expect_refused("nothing.yaml", "\n", GL_ERR_FORMAT, "empty file");
    expect_refused("nested.yaml", "A: [[x]]\n", GL_ERR_FORMAT, "list in a list");
    char deep[4096] = "";
    for (int i = 0; i < 40; i++)
        strcat(deep, "{a: ");
    strcat(deep, "[x]");
    for (int i = 0; i < 40; i++)
        strcat(deep, "}");
    strcat(deep, "\n");
    expect_refused("deep.yaml", deep, GL_ERR_LIMIT, "too deep");
    /* Aliases multiply: 10 levels of 10 references would be 10^10 classes. */
    char bomb[4096] = "a: &a [x0,x1,x2,x3,x4,x5,x6,x7,x8,x9]\n";
    for (int l = 1; l < 10; l++) {
        char line[256];
        snprintf(line, sizeof line,
                 "%c: &%c {k0: *%c, k1: *%c, k2: *%c, k3: *%c, k4: *%c, "
                 "k5: *%c, k6: *%c, k7: *%c, k8: *%c, k9: *%c}\n",
                 'a' + l, 'a' + l, 'a' + l - 1, 'a' + l - 1, 'a' + l - 1, 'a' + l - 1, 'a' + l - 1,
                 'a' + l - 1, 'a' + l - 1, 'a' + l - 1, 'a' + l - 1, 'a' + l - 1);
        strcat(bomb, line);
    }
    expect_refused("bomb.yaml", bomb, GL_ERR_LIMIT, "alias bomb");
    gl_error err = {0};
    CHECK(!gl_class_tree_load("missing.yaml", &err) && err.code == GL_ERR_IO, "missing file");
    gl_class_tree_free(NULL);
}

int main(void) {
    RUN(test_reads_what_pyyaml_writes);
    RUN(test_writes_what_pyyaml_writes);
    RUN(test_mixed_leaves_and_meta_classes);
    RUN(test_bad_files);
    T_SUMMARY();
}
