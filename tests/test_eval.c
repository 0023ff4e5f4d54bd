/* test_eval.c: label metrics on a hand-worked example (confusion, precision/recall/F1, macro-F1,
 * kappa, per-level accuracy) and the refusals: duplicate tiles, missing columns, no overlap. */
#include "harness.h"

#define HEADER                                                                                     \
    "filename,row,col,left,upper,right,lower,classification_mode,description,classification_tree," \
    "classification\n"

/* Truth A A A B B C, predictions A A B B C C on six shared tiles; one extra tile on each side
 * (an input only one file has: v.tif's truth tile is unmatched, u.tif's prediction unused).
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
                                     "v.tif,0,0,0,10,10,0,truth,,X;A,A\n");
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
    CHECK(e->n_pred == 7 && e->n_truth == 7 && e->n_matched == 6 && e->n_truth_unmatched == 1,
          "rows %ld %ld %ld %ld", e->n_pred, e->n_truth, e->n_matched, e->n_truth_unmatched);
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
    gl_label_eval_params p = gl_label_eval_default_params();
    p.hierarchy = &root;
    e = gl_label_eval_files("tree.csv", "flat.csv", &p, &err);
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

/* A grid on one side, as label or truth write it: rows x cols tiles of a W x H scene, each
 * labelled by lab(row, col); with_bounds adds GVL's pixel columns (remainder to the last). */
static void write_grid(const char *path, int rows, int cols, int W, int H, int with_bounds,
                       const char *(*lab)(int, int)) {
    FILE *fp = fopen(path, "w");
    fprintf(fp, with_bounds ? "filename,row,col,left,upper,right,lower,classification\n"
                            : "filename,row,col,classification\n");
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            int x0 = c * (W / cols), x1 = c == cols - 1 ? W : x0 + W / cols;
            int y0 = r * (H / rows), y1 = r == rows - 1 ? H : y0 + H / rows;
            if (with_bounds)
                fprintf(fp, "s.tif,%d,%d,%d,%d,%d,%d,%s\n", r, c, x0, y1, x1, y0, lab(r, c));
            else
                fprintf(fp, "s.tif,%d,%d,%s\n", r, c, lab(r, c));
        }
    fclose(fp);
}

static const char *all_a(int r, int c) {
    (void)r, (void)c;
    return "A";
}

/* A 3x3 prediction against a 2x2 truth: refused naming both grids, with or without bounds
 * (it used to "match" the four shared row/col pairs). */
static void test_grid_mismatch(void) {
    gl_error err = {0};
    for (int b = 0; b < 2; b++) {
        write_grid("p33.csv", 3, 3, 90, 90, b, all_a);
        write_grid("t22.csv", 2, 2, 90, 90, b, all_a);
        CHECK(eval_status("p33.csv", "t22.csv", &err) == GL_ERR_SHAPE, "bounds %d: %s", b, err.msg);
        CHECK(strstr(err.msg, "p33.csv cuts s.tif into 3x3") && strstr(err.msg, "t22.csv into 2x2"),
              "message: %s", err.msg);
    }
    /* same grid, other bounds (a remainder dropped on one side): refused naming the bounds */
    write_grid("p.csv", 2, 2, 91, 90, 1, all_a);
    write_grid("t.csv", 2, 2, 90, 90, 1, all_a);
    CHECK(eval_status("p.csv", "t.csv", &err) == GL_ERR_SHAPE, "bounds differ: %s", err.msg);
    CHECK(strstr(err.msg, "row 0 col 1 of s.tif spans x 45..91"), "message: %s", err.msg);
    /* a truth of a few reviewed tiles (bounds on both sides) is a subset, not another grid */
    t_write_text("few.csv", "filename,row,col,left,upper,right,lower,label\n"
                            "s.tif,0,1,30,30,60,0,A\ns.tif,1,0,0,60,30,30,B\n");
    write_grid("p33.csv", 3, 3, 90, 90, 1, all_a);
    gl_label_eval *e = gl_label_eval_files("p33.csv", "few.csv", NULL, &err);
    CHECK(e && e->n_matched == 2 && e->n_truth_unmatched == 0 && fabs(e->accuracy - 0.5) < 1e-12,
          "%s", e ? "counts" : err.msg);
    gl_label_eval_free(e);
}

/* Labels are interned and limited: the limit is an error naming the file, not 18 GB. */
static void test_label_limit(void) {
    FILE *fp = fopen("many.csv", "w");
    fprintf(fp, "filename,row,col,classification\n");
    for (int i = 0; i < 300; i++)
        fprintf(fp, "s.tif,%d,%d,label %d\n", i / 20, i % 20, i);
    fclose(fp);
    gl_error err = {0};
    gl_label_eval_params p = gl_label_eval_default_params();
    p.max_labels = 299;
    gl_label_eval *e = gl_label_eval_files("many.csv", "many.csv", &p, &err);
    CHECK(!e && err.code == GL_ERR_LIMIT && strstr(err.msg, "many.csv: more than 299 distinct"),
          "%s", err.msg);
    gl_label_eval_free(e);
    p.max_labels = 300;
    e = gl_label_eval_files("many.csv", "many.csv", &p, &err);
    CHECK(e && e->n_classes == 300 && e->accuracy == 1, "%s", e ? "classes" : err.msg);
    gl_label_eval_free(e);
}

/* --truth-column / --pred-column name the label columns. */
static void test_label_columns(void) {
    t_write_text("p.csv", "filename,row,col,classification,guess\nx,0,0,A,B\nx,0,1,A,A\n");
    t_write_text("t.csv", "filename,row,col,label,manual\nx,0,0,B,A\nx,0,1,B,A\n");
    gl_error err = {0};
    gl_label_eval_params p = gl_label_eval_default_params();
    gl_label_eval *e = gl_label_eval_files("p.csv", "t.csv", &p, &err);
    CHECK(e && e->accuracy == 0, "classification vs label: %s", e ? "accuracy" : err.msg);
    gl_label_eval_free(e);
    p.truth_column = "manual", p.pred_column = "guess";
    e = gl_label_eval_files("p.csv", "t.csv", &p, &err);
    CHECK(e && e->accuracy == 0.5, "guess vs manual: %s", e ? "accuracy" : err.msg);
    gl_label_eval_free(e);
    p.truth_column = "nothing";
    e = gl_label_eval_files("p.csv", "t.csv", &p, &err);
    CHECK(!e && strstr(err.msg, "t.csv: no 'nothing' column"), "%s", err.msg);
    gl_label_eval_free(e);
}

int main(void) {
    RUN(test_hand_example);
    RUN(test_single_class);
    RUN(test_hierarchy_paths);
    RUN(test_refusals);
    RUN(test_grid_mismatch);
    RUN(test_label_limit);
    RUN(test_label_columns);
    T_SUMMARY();
}
