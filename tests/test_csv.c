/* test_csv.c: the CSV reader against Python's csv module (which writes a tricky file and a JSON
 * dump of its rows), and class-list rules. */
#include "harness.h"

#include <cjson/cJSON.h>
#include <unistd.h>

static void test_csv_matches_python(void) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "%s -c 'import csv,json\n"
             "rows=[[\"filename\",\"a,b\",\"q\"],[\"x.tif\",\"say \\\"hi\\\"\",\"\"],"
             "[\"two\\nlines\",\"S\\u00e3o Paulo\",\"\\u014csaka, JP\"],[\"last\",\"1\",\"2\"]]\n"
             "w=csv.writer(open(\"t.csv\",\"w\",newline=\"\"));w.writerows(rows)\n"
             "json.dump(rows[1:],open(\"t.json\",\"w\"))'",
             t_python());
    CHECK(system(cmd) == 0, "python wrote the csv");
    gl_error err = {0};
    gl_csv *c = gl_csv_open("t.csv", 1, &err);
    CHECK(c != NULL, "%s", err.msg);
    if (!c) return;
    CHECK(gl_csv_column(c, "a,b") == 1 && gl_csv_column(c, "q") == 2, "header lookup");
    char *json;
    CHECK_OK(gl_read_file("t.json", 1 << 20, &json, NULL, &err), &err);
    cJSON *rows = cJSON_Parse(json);
    int i = 0, r;
    while ((r = gl_csv_next(c, &err)) == 1) {
        cJSON *row = cJSON_GetArrayItem(rows, i++);
        CHECK(gl_csv_field_count(c) == cJSON_GetArraySize(row), "row %d width", i);
        for (int k = 0; k < gl_csv_field_count(c); k++) {
            const char *want = cJSON_GetArrayItem(row, k)->valuestring;
            CHECK(!strcmp(gl_csv_field(c, k), want), "row %d field %d: '%s' vs '%s'", i, k,
                  gl_csv_field(c, k), want);
        }
    }
    CHECK(r == 0 && i == 3, "3 rows then EOF (r=%d i=%d) %s", r, i, err.msg);
    CHECK(gl_csv_line(c) == 5, "line of last row %ld (a quoted newline counts)", gl_csv_line(c));
    cJSON_Delete(rows);
    free(json);
    gl_csv_free(c);
    unlink("t.csv");
    unlink("t.json");
}

static void test_csv_unterminated_quote(void) {
    FILE *fp = fopen("bad.csv", "w");
    fputs("a,b\n1,\"oops\n", fp);
    fclose(fp);
    gl_error err = {0};
    gl_csv *c = gl_csv_open("bad.csv", 1, &err);
    CHECK(c != NULL, "%s", err.msg);
    CHECK(gl_csv_next(c, &err) == -1, "error");
    CHECK(strstr(err.msg, "bad.csv:2") != NULL, "message names file and line: %s", err.msg);
    gl_csv_free(c);
    unlink("bad.csv");
}

static void test_class_list(void) {
    gl_error err = {0};
    char **names;
    int n;
    t_write_text("c.txt", "# comment\n  Forest \n\nWater\r\nBuilt-up area\n");
    CHECK_OK(gl_class_list_read("c.txt", &names, &n, &err), &err);
    CHECK(n == 3, "count %d", n);
    if (n == 3)
        CHECK(!strcmp(names[0], "Forest") && !strcmp(names[1], "Water") &&
                  !strcmp(names[2], "Built-up area"),
              "names trimmed");
    gl_strings_free(names, n);
    t_write_text("c.txt", "a\nb\na\n");
    CHECK(gl_class_list_read("c.txt", &names, &n, &err) == GL_ERR_FORMAT, "duplicate refused");
    CHECK(strstr(err.msg, "c.txt:3") && strstr(err.msg, "duplicate"), "%s", err.msg);
    t_write_text("c.txt", "\n# nothing\n");
    CHECK(gl_class_list_read("c.txt", &names, &n, &err) == GL_ERR_FORMAT, "empty refused");
    CHECK(strstr(err.msg, "c.txt") != NULL, "%s", err.msg);
    CHECK(gl_class_list_read("missing.txt", &names, &n, &err) == GL_ERR_IO, "missing file");
    unlink("c.txt");
}

int main(void) {
    RUN(test_csv_matches_python);
    RUN(test_csv_unterminated_quote);
    RUN(test_class_list);
    T_SUMMARY();
}
