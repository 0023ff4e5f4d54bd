/* fuzz_yaml_hierarchy.c: a class hierarchy YAML (meta-classes mapping to classes, nested). */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gl_error err = {0};
    gl_class_node *root = gl_class_tree_load(fuzz_file("classes.yaml", data, size), &err);
    gl_class_tree_free(root);
    return 0;
}
