/* test_cluster.c: average linkage against hand-worked distance matrices, and meta-class trees
 * (GVL's top-down recursion, zero-shot names) round-tripped through the YAML reader. */
#include "harness.h"

/* Five items; pairs (0,1) at 1 and (2,3) at 2 merge first. Hand-worked next merge of item 4:
 * M1: average {0,1}-4 = (12+3)/2 = 7.5, {2,3}-4 = (4+6)/2 = 5 -> joins {2,3} (single linkage
 *     would join {0,1} through d(1,4) = 3).
 * M2: average {0,1}-4 = (9+3)/2 = 6, {2,3}-4 = 6.5 -> joins {0,1} (complete linkage would pick
 *     {2,3}: max 6.5 < max 9). {0,1}-{2,3} averages 12 in both, so it never merges first. */
static void fill_sym(double d[25], const double upper[10]) {
    int k = 0;
    for (int i = 0; i < 5; i++) {
        d[i * 5 + i] = 0;
        for (int j = i + 1; j < 5; j++)
            d[i * 5 + j] = d[j * 5 + i] = upper[k++];
    }
}

static void test_average_linkage_hand(void) {
    /* order: 01 02 03 04 12 13 14 23 24 34 */
    const double m1[10] = {1, 10, 11, 12, 13, 14, 3, 2, 4, 6};
    const double m2[10] = {1, 10, 11, 9, 13, 14, 3, 2, 6.5, 6.5};
    double d[25];
    int a[5];
    gl_error err = {0};
    fill_sym(d, m1);
    CHECK_OK(gl_cluster_average_linkage(d, 5, 3, a, &err), &err);
    int e3[5] = {0, 0, 1, 1, 2};
    for (int i = 0; i < 5; i++)
        CHECK(a[i] == e3[i], "k=3 item %d in %d, expected %d", i, a[i], e3[i]);
    CHECK_OK(gl_cluster_average_linkage(d, 5, 2, a, &err), &err);
    int e1[5] = {0, 0, 1, 1, 1};
    for (int i = 0; i < 5; i++)
        CHECK(a[i] == e1[i], "M1 item %d in %d, expected %d", i, a[i], e1[i]);
    fill_sym(d, m2);
    CHECK_OK(gl_cluster_average_linkage(d, 5, 2, a, &err), &err);
    int e2[5] = {0, 0, 1, 1, 0};
    for (int i = 0; i < 5; i++)
        CHECK(a[i] == e2[i], "M2 item %d in %d, expected %d", i, a[i], e2[i]);
    CHECK_OK(gl_cluster_average_linkage(d, 5, 5, a, &err), &err);
    for (int i = 0; i < 5; i++)
        CHECK(a[i] == i, "k=n keeps item %d alone, got %d", i, a[i]);
    CHECK_OK(gl_cluster_average_linkage(d, 5, 1, a, &err), &err);
    for (int i = 0; i < 5; i++)
        CHECK(a[i] == 0, "k=1 puts item %d in 0, got %d", i, a[i]);
    CHECK(gl_cluster_average_linkage(d, 5, 6, a, &err) == GL_ERR_ARG, "k > n refused");
    CHECK(gl_cluster_average_linkage(d, 5, 0, a, &err) == GL_ERR_ARG, "k = 0 refused");
}

/* Six classes in three tight pairs along three axes of R^4; candidate names near each pair's
 * direction, with a decoy that is nearest two groups, so uniqueness is exercised. */
static const char *const classes6[] = {"forest", "river", "meadow", "lake", "houses", "roads"};
static const float emb6[6 * 4] = {
    1,    0.1f, 0,    0,    /* forest  -> A */
    0,    1,    0.1f, 0,    /* river   -> B */
    1,    0,    0.1f, 0,    /* meadow  -> A */
    0,    1,    0,    0.1f, /* lake    -> B */
    0,    0,    0.1f, 1,    /* houses  -> C */
    0.1f, 0,    0,    1,    /* roads   -> C */
};
static const char *const names4[] = {"Vegetation", "Water", "Built-up", "Nature", "forest"};
static const float name_emb4[5 * 4] = {
    1,    0,    0, 0, /* Vegetation: A's direction */
    0,    1,    0, 0, /* Water */
    0,    0,    0, 1, /* Built-up */
    0.9f, 0.5f, 0, 0, /* Nature: cos 0.87 to A; A prefers Vegetation */
    1,    0.1f, 0, 0, /* a class name: never used for a meta-class */
};

static const gl_class_node *child(const gl_class_node *n, const char *name) {
    for (int i = 0; i < n->n_children; i++)
        if (!strcmp(n->children[i].name, name)) return &n->children[i];
    return NULL;
}

static int has_leaves(const gl_class_node *n, const char *a, const char *b) {
    return n && n->n_children == 2 && !n->children[0].n_children &&
           !strcmp(n->children[0].name, a) && !strcmp(n->children[1].name, b);
}

static void check_one_step(const gl_class_node *root) {
    CHECK(root->n_children == 3, "3 meta-classes, got %d", root->n_children);
    CHECK(has_leaves(child(root, "Vegetation"), "forest", "meadow"), "Vegetation: forest, meadow");
    CHECK(has_leaves(child(root, "Water"), "river", "lake"), "Water: river, lake");
    CHECK(has_leaves(child(root, "Built-up"), "houses", "roads"), "Built-up: houses, roads");
}

static void test_tree_one_step(void) {
    gl_error err = {0};
    int k[1] = {3};
    gl_class_node *root =
        gl_cluster_build_tree(classes6, emb6, 6, names4, name_emb4, 5, 4, k, 1, &err);
    CHECK(root, "%s", err.msg);
    if (!root) return;
    check_one_step(root);
    /* Written in GVL's YAML and read back: the same tree. */
    CHECK_OK(gl_class_tree_write_yaml("meta.yaml", root, &err), &err);
    gl_class_node *back = gl_class_tree_load("meta.yaml", &err);
    CHECK(back, "%s", err.msg);
    if (back) check_one_step(back);
    gl_class_tree_free(back);
    gl_class_tree_free(root);
}

/* Two names only for three groups: the uniqueness rule runs out and says so. */
static void test_too_few_names(void) {
    gl_error err = {0};
    int k[1] = {3};
    gl_class_node *root =
        gl_cluster_build_tree(classes6, emb6, 6, names4, name_emb4, 2, 4, k, 1, &err);
    CHECK(err.code == GL_ERR_ARG, "too few names refused, got %d", err.code);
    CHECK(strstr(err.msg, "too few") != NULL, "message: %s", err.msg);
    CHECK(root == NULL, "nothing left allocated");
    gl_class_tree_free(root);
}

/* GVL's recursion: step 1 makes 2 groups of all classes, step 2 splits each group into 2.
 * Hand-worked: cos(a1,a2) 0.995, cos(b1,b2) 0.997, cos(a,b) ~0.83, cos(c1,c2) 0.995, cos(a,c) ~0,
 * so step 1 gives {a1,a2,b1,b2} and {c1,c2}; the first's centroid ~(0.945,0.326,0) is nearest n1
 * (cos 0.9998), the second's ~(0,0.05,1) nearest n4. */
static void test_tree_two_steps(void) {
    gl_error err = {0};
    static const char *const cls[] = {"a1", "a2", "b1", "b2", "c1", "c2"};
    static const float e[6 * 3] = {1,     0.05f, 0, 1, -0.05f, 0, 0.8f, 0.6f, 0,
                                   0.75f, 0.66f, 0, 0, 0,      1, 0,    0.1f, 1};
    static const char *const nm[] = {"n1", "n2", "n3", "n4", "n5", "n6"};
    static const float ne[6 * 3] = {0.9f, 0.3f, 0, 1, 0, 0, 0.7f, 0.7f, 0,
                                    0,    0,    1, 0, 1, 0, 0,    -1,   0};
    int k[2] = {2, 2};
    gl_class_node *root = gl_cluster_build_tree(cls, e, 6, nm, ne, 6, 3, k, 2, &err);
    CHECK(root, "%s", err.msg);
    if (!root) return;
    CHECK(root->n_children == 2, "2 top groups, got %d", root->n_children);
    /* The a/b group splits into {a1,a2} and {b1,b2}; the c group has 2 classes <= 2 and stays a
     * list, as a group no larger than its step's count. */
    const gl_class_node *ab = NULL, *c = NULL;
    for (int i = 0; i < root->n_children; i++) {
        if (root->children[i].n_children == 2 && root->children[i].children[0].n_children)
            ab = &root->children[i];
        else
            c = &root->children[i];
    }
    CHECK(ab && c, "one split group and one list");
    if (ab && c) {
        CHECK(has_leaves(c, "c1", "c2"), "c group is the list c1, c2");
        CHECK(!strcmp(c->name, "n4"), "c named n4 (its axis), got %s", c->name);
        CHECK(!strcmp(ab->name, "n1"), "a/b group named n1 (nearest its centroid), got %s",
              ab->name);
        int found_a = 0, found_b = 0;
        for (int i = 0; i < 2; i++) {
            found_a += has_leaves(&ab->children[i], "a1", "a2");
            found_b += has_leaves(&ab->children[i], "b1", "b2");
        }
        CHECK(found_a == 1 && found_b == 1, "a/b split into {a1,a2} and {b1,b2}");
        /* Level 2: names unique across the tree: n1 is taken, so {a1,a2} gets n2 (1,0,0). */
        const gl_class_node *ga =
            has_leaves(&ab->children[0], "a1", "a2") ? &ab->children[0] : &ab->children[1];
        const gl_class_node *gb = ga == &ab->children[0] ? &ab->children[1] : &ab->children[0];
        CHECK(!strcmp(ga->name, "n2"), "a pair named n2, got %s", ga->name);
        CHECK(!strcmp(gb->name, "n3"), "b pair named n3, got %s", gb->name);
    }
    gl_class_tree_free(root);
}

static void test_bad_arguments(void) {
    gl_error err = {0};
    int k[1] = {6};
    CHECK(!gl_cluster_build_tree(classes6, emb6, 6, names4, name_emb4, 5, 4, k, 1, &err) &&
              err.code == GL_ERR_ARG,
          "6 classes into 6 groups refused");
    int k0[1] = {0};
    gl_error_clear(&err);
    CHECK(!gl_cluster_build_tree(classes6, emb6, 6, names4, name_emb4, 5, 4, k0, 1, &err) &&
              err.code == GL_ERR_ARG,
          "0 groups refused");
}

int main(void) {
    RUN(test_average_linkage_hand);
    RUN(test_tree_one_step);
    RUN(test_too_few_names);
    RUN(test_tree_two_steps);
    RUN(test_bad_arguments);
    T_SUMMARY();
}
