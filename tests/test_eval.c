/* test_eval.c: label metrics on a hand-worked example (confusion, precision/recall/F1, macro-F1,
 * kappa, per-level accuracy) and the refusals: duplicate tiles, missing columns, no overlap. */
#include "harness.h"

#define HEADER                                                                                     \
    "filename,row,col,left,upper,right,lower,classification_mode,description,classification_tree," \
    "classification\n"

/* Truth A A A B B C, predictions A A B B C C on six shared tiles; one extra tile on each side.
 * Hand-worked (rows truth A,B,C): confusion [[2,1,0],[0,1,1],[0,0,1]], accuracy 4/6, precision
 * 1, .5, .5, recall 2/3, .5, 1, F1 .8, .5, 2/3, macro-F1 .65556, pe = (3*2+2*2+1*2)/36 = 1/3 so
 * kappa = (2/3-1/3)/(2/3) = .5. Trees X;A X;B Y;C: level 1 agrees on 5 of 6. */
static void write_example(void) {
    t_write_text("truth.csv", HEADER "dir/s.tif,0,0,0,10,10,0,truth,,X;A,A\n"
                                     "s.tif,0,1,10,10,20,0,truth,,X;A,A\n"
                                     "s.tif,1,0,0,20,10,10,truth,,X;A,A\n"
                                     "s.tif,1,1,10,20,20,10,truth,,X;B,B\n"
                                     "t.tif,0,0,0,10,10,0,truth,,X;B,B\n"
                                     "t.tif,0,1,10,10,20,0,truth,,\"Y;C, wet\",\"C, wet\"\n"
                                     "t.tif,5,5,0,0,0,0,truth,,X;A,A\n");
    t_write_text("pred.csv", HEADER "t.tif,0,1,10,10,20,0,hierarchical,,\"Y;C, wet\",\"C, wet\"\n"
                                    "s.tif,0,0,0,10,10,0,hierarchical,,X;A,A\n"
                                    "/abs/s.tif,0,1,10,10,20,0,hierarchical,,X;A,A\n"
                                    "s.tif,1,0,0,20,10,10,hierarchical,,X;B,B\n"
                                    "s.tif,1,1,10,20,20,10,hierarchical,,X;B,B\n"
                                    "t.tif,0,0,0,10,10,0,hierarchical,,\"Y;C, wet\",\"C, wet\"\n"
                                    "u.tif,0,0,0,10,10,0,hierarchical,,X;A,A\n");
}

static void test_hand_example(void) {
    write_example();
    gl_error err = {0};
    gl_label_eval *e = gl_label_eval_files("pred.csv", "truth.csv", NULL, &err);
    CHECK(e, "%s", err.msg);
    if (!e) return;
    CHECK(e->n_pred == 7 && e->n_truth == 7 && e->n_matched == 6, "rows %ld %ld %ld", e->n_pred,
          e->n_truth, e->n_matched);
    CHECK(e->n_classes == 3, "3 classes, got %d", e->n_classes);
    if (e->n_classes == 3) {
        CHECK(!strcmp(e->classes[0], "A") && !strcmp(e->classes[1], "B") &&
                  !strcmp(e->classes[2], "C, wet"),
              "sorted classes");
        const long cm[9] = {2, 1, 0, 0, 1, 1, 0, 0, 1};
        for (int i = 0; i < 9; i++)
            CHECK(e->confusion[i] == cm[i], "confusion[%d] %ld != %ld", i, e->confusion[i], cm[i]);
        const float prec[3] = {1, .5f, .5f}, rec[3] = {2 / 3.f, .5f, 1},
                    f1[3] = {.8f, .5f, 2 / 3.f};
        float got[3];
        for (int i = 0; i < 3; i++)
            got[i] = (float)e->precision[i];
        CHECK_CLOSE("precision", got, prec, 3, 1e-6, 0);
        for (int i = 0; i < 3; i++)
            got[i] = (float)e->recall[i];
        CHECK_CLOSE("recall", got, rec, 3, 1e-6, 0);
        for (int i = 0; i < 3; i++)
            got[i] = (float)e->f1[i];
        CHECK_CLOSE("f1", got, f1, 3, 1e-6, 0);
        CHECK(e->support[0] == 3 && e->support[1] == 2 && e->support[2] == 1, "support");
    }
    CHECK(fabs(e->accuracy - 4.0 / 6) < 1e-12, "accuracy %g", e->accuracy);
    CHECK(fabs(e->macro_f1 - (0.8 + 0.5 + 2.0 / 3) / 3) < 1e-12, "macro-F1 %g", e->macro_f1);
    CHECK(fabs(e->kappa - 0.5) < 1e-12, "kappa %g", e->kappa);
    CHECK(e->n_levels == 2, "2 levels, got %d", e->n_levels);
    if (e->n_levels == 2) {
        CHECK(fabs(e->level_accuracy[0] - 5.0 / 6) < 1e-12 && e->level_n[0] == 6, "level 1 %g",
              e->level_accuracy[0]);
        CHECK(fabs(e->level_accuracy[1] - 4.0 / 6) < 1e-12, "level 2 %g", e->level_accuracy[1]);
    }
    gl_label_eval_free(e);
}

/* Everything agrees on one class: chance agreement is 1 and kappa undefined, as scikit-learn. */
static void test_single_class(void) {
    t_write_text("a.csv", "filename,row,col,classification\nx,0,0,A\nx,0,1,A\n");
    gl_error err = {0};
    gl_label_eval *e = gl_label_eval_files("a.csv", "a.csv", NULL, &err);
    CHECK(e, "%s", err.msg);
    if (!e) return;
    CHECK(e->accuracy == 1 && isnan(e->kappa) && e->n_levels == 0, "acc %g kappa %g", e->accuracy,
          e->kappa);
    gl_label_eval_free(e);
}

/* A flat truth (no tree) against hierarchical predictions: no level is comparable on its own;
 * the hierarchy gives truth labels their paths. Level 1: X X Y both sides; level 2: 2 of 3. */
static void test_hierarchy_paths(void) {
    t_write_text("flat.csv",
                 "filename,row,col,classification\ns,0,0,A\ns,0,1,A\ns,1,0,\"C, wet\"\n");
    t_write_text("tree.csv", "filename,row,col,classification_tree,classification\n"
                             "s,0,0,X;A,A\ns,0,1,X;B,B\ns,1,0,\"Y;C, wet\",\"C, wet\"\n");
    gl_error err = {0};
    gl_label_eval *e = gl_label_eval_files("tree.csv", "flat.csv", NULL, &err);
    CHECK(e, "%s", err.msg);
    if (!e) return;
    CHECK(e->n_levels == 0, "flat truth: no levels, got %d", e->n_levels);
    gl_label_eval_free(e);
    gl_class_node leaves_x[2] = {{"A", NULL, 0}, {"B", NULL, 0}},
                  leaves_y[1] = {{"C, wet", NULL, 0}};
    gl_class_node metas[2] = {{"X", leaves_x, 2}, {"Y", leaves_y, 1}};
    gl_class_node root = {NULL, metas, 2};
    e = gl_label_eval_files("tree.csv", "flat.csv", &root, &err);
    CHECK(e, "%s", err.msg);
    if (!e) return;
    CHECK(e->n_levels == 2, "2 levels, got %d", e->n_levels);
    if (e->n_levels == 2) {
        CHECK(e->level_accuracy[0] == 1 && e->level_n[0] == 3, "level 1 %g", e->level_accuracy[0]);
        CHECK(fabs(e->level_accuracy[1] - 2.0 / 3) < 1e-12, "level 2 %g", e->level_accuracy[1]);
    }
    CHECK(fabs(e->accuracy - 2.0 / 3) < 1e-12, "accuracy %g", e->accuracy);
    gl_label_eval_free(e);
}

/* The status of an evaluation expected to fail (a result, if any, is freed). */
static gl_status eval_status(const char *pred, const char *truth, gl_error *err) {
    gl_label_eval *e = gl_label_eval_files(pred, truth, NULL, err);
    gl_label_eval_free(e);
    return e ? GL_OK : err->code;
}

static void test_refusals(void) {
    gl_error err = {0};
    t_write_text("dup.csv", "filename,row,col,classification\nx,0,0,A\nx,0,1,A\nx,0,0,B\n");
    t_write_text("ok.csv", "filename,row,col,classification\nx,0,0,A\n");
    CHECK(eval_status("dup.csv", "ok.csv", &err) == GL_ERR_FORMAT, "duplicate refused");
    CHECK(strstr(err.msg, "dup.csv: lines 2 and 4") != NULL, "message: %s", err.msg);
    t_write_text("nocol.csv", "filename,row,col,name\nx,0,0,A\n"); /* `label` is accepted */
    CHECK(eval_status("nocol.csv", "ok.csv", &err) == GL_ERR_FORMAT, "missing column");
    CHECK(strstr(err.msg, "'classification'") != NULL, "message: %s", err.msg);
    t_write_text("other.csv", "filename,row,col,classification\ny,0,0,A\n");
    CHECK(eval_status("other.csv", "ok.csv", &err) == GL_ERR_FORMAT, "no overlap");
    CHECK(eval_status("missing.csv", "ok.csv", &err) == GL_ERR_IO, "missing file");
    /* a header and no rows: refused as no overlap; sorting its empty (NULL) row array used to
     * call qsort(NULL, 0), undefined behaviour that UBSan reports */
    t_write_text("header_only.csv", "filename,row,col,classification\n");
    CHECK(eval_status("header_only.csv", "ok.csv", &err) == GL_ERR_FORMAT,
          "header-only prediction: %s", err.msg);
    CHECK(eval_status("ok.csv", "header_only.csv", &err) == GL_ERR_FORMAT, "header-only truth: %s",
          err.msg);
}

int main(void) {
    RUN(test_hand_example);
    RUN(test_single_class);
    RUN(test_hierarchy_paths);
    RUN(test_refusals);
    T_SUMMARY();
}
