/* test_run.c: run journals and manifests: a journal cut at every byte (a kill at any moment)
 * reopens with exactly the units whose end mark was whole, keeps appending after the cut, and
 * replays the records byte for byte; a manifest round-trips through Python's json and a
 * difference is named; a set of shard manifests is accepted or refused (naming both files) for a
 * model hash, a shard twice or missing, another split, an input twice or lost, another list. */
#include "geolabel.h"
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static gl_manifest *sample_manifest(const char *classes) {
    gl_error err = {0};
    gl_manifest *m = gl_manifest_new(&err);
    CHECK_OK(gl_manifest_set(m, "model", "openai/clip-vit-base-patch32", &err), &err);
    CHECK_OK(gl_manifest_set(m, "classes", classes, &err), &err);
    CHECK_OK(gl_manifest_set(m, "context", "tab\there, newline\nthere, \"quotes\" \\", &err), &err);
    return m;
}

/* Records with the bytes the format must escape. */
static const char *REC[3][2] = {{"a\tb", "line\nbreak\\n"}, {"x\r\ny", "%09"}, {"", "last"}};

static void write_three(const char *path, const gl_manifest *m) {
    gl_error err = {0};
    gl_journal *j = gl_journal_open(path, m, 0, 0, &err);
    CHECK(j != NULL, "%s", err.msg);
    if (!j) return;
    char key[32];
    for (int u = 0; u < 3; u++) {
        snprintf(key, sizeof key, "in/%d.tif", u);
        CHECK_OK(gl_journal_begin(j, key, "EPSG:4326\tWKT", &err), &err);
        for (int r = 0; r < 2; r++)
            CHECK_OK(gl_journal_add(j, REC[u][r], &err), &err);
        if (u == 1) {
            CHECK_OK(gl_journal_abandon(j, &err), &err); /* a failed input: does not count */
            CHECK_OK(gl_journal_begin(j, key, "EPSG:4326\tWKT", &err), &err);
            for (int r = 0; r < 2; r++)
                CHECK_OK(gl_journal_add(j, REC[u][r], &err), &err);
        }
        CHECK_OK(gl_journal_end(j, &err), &err);
    }
    CHECK_OK(gl_journal_close(j, &err), &err);
    gl_journal_free(j);
}

typedef struct {
    char seen[4096];
} replayed;
static gl_status on_unit(void *ctx, const char *key, const char *header, gl_error *err) {
    (void)err;
    replayed *r = ctx;
    snprintf(r->seen + strlen(r->seen), sizeof r->seen - strlen(r->seen), "[%s|%s]", key, header);
    return GL_OK;
}
static gl_status on_record(void *ctx, const char *text, gl_error *err) {
    (void)err;
    replayed *r = ctx;
    snprintf(r->seen + strlen(r->seen), sizeof r->seen - strlen(r->seen), "(%s)", text);
    return GL_OK;
}

static void test_replay_round_trip(void) {
    gl_manifest *m = sample_manifest("a;b");
    write_three("j.journal", m);
    gl_error err = {0};
    replayed r = {{0}};
    gl_journal_visitor v = {.unit = on_unit, .record = on_record, .ctx = &r};
    CHECK_OK(gl_journal_replay("j.journal", &v, &err), &err);
    char want[1024];
    snprintf(want, sizeof want,
             "[in/0.tif|EPSG:4326\tWKT](%s)(%s)[in/1.tif|EPSG:4326\tWKT](%s)(%s)"
             "[in/2.tif|EPSG:4326\tWKT](%s)(%s)",
             REC[0][0], REC[0][1], REC[1][0], REC[1][1], REC[2][0], REC[2][1]);
    CHECK(!strcmp(r.seen, want), "replayed %s", r.seen);
    gl_manifest *back = gl_journal_manifest("j.journal", &err);
    CHECK(back && gl_manifest_compare(m, back, "j", &err) == GL_OK, "%s", err.msg);
    gl_manifest_free(back);
    gl_manifest_free(m);
}

/* Every prefix of the file is what a kill can leave. Reopened for resume, the journal knows the
 * units whose D line is whole, and a unit then added replays after them. */
static void test_every_cut_resumes(void) {
    gl_manifest *m = sample_manifest("a;b");
    write_three("full.journal", m);
    FILE *fp = fopen("full.journal", "rb");
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    /* Where each unit's end line finishes, from the bytes themselves. */
    size_t ends[3];
    int k = 0;
    for (size_t i = 0; i + 1 < n && k < 3; i++)
        if (buf[i] == '\n' && buf[i + 1] == 'D') ends[k++] = strchr(buf + i + 1, '\n') - buf + 1;
    CHECK(k == 3, "found %d end lines", k);
    size_t header_end = strchr(strchr(buf, '\n') + 1, '\n') - buf + 1; /* magic + manifest */
    int bad = 0;
    for (size_t cut = 0; cut <= n && !bad; cut++) {
        fp = fopen("cut.journal", "wb");
        fwrite(buf, 1, cut, fp);
        fclose(fp);
        gl_error err = {0};
        gl_journal *j = gl_journal_open("cut.journal", m, 1, 0, &err);
        if (!j) {
            CHECK(0, "cut at %zu: %s", cut, err.msg);
            bad = 1;
            break;
        }
        int want = cut < header_end ? 0 : (cut >= ends[0]) + (cut >= ends[1]) + (cut >= ends[2]);
        int got = gl_journal_done_count(j);
        if (got != want) {
            CHECK(0, "cut at %zu: %d units done, want %d", cut, got, want);
            bad = 1;
        }
        for (int u = 0; u < 3 && !bad; u++) {
            char key[32];
            snprintf(key, sizeof key, "in/%d.tif", u);
            if (gl_journal_is_done(j, key) != (u < want)) bad = 1;
        }
        /* Resume: add unit 9, close, replay: the done units, then 9. */
        bad |= gl_journal_begin(j, "in/9.tif", "", &err) || gl_journal_add(j, "r9", &err) ||
               gl_journal_end(j, &err) || gl_journal_close(j, &err);
        gl_journal_free(j);
        replayed r = {{0}};
        gl_journal_visitor v = {.unit = on_unit, .record = on_record, .ctx = &r};
        if (!bad && gl_journal_replay("cut.journal", &v, &err)) bad = 1;
        const char *tail = strstr(r.seen, "[in/9.tif|](r9)");
        if (bad || !tail || tail[15] != 0) {
            CHECK(0, "cut at %zu: replay after resume gave %s (%s)", cut, r.seen, err.msg);
            bad = 1;
        }
    }
    CHECK(!bad, "every cut of %zu bytes resumes", n);
    gl_manifest_free(m);
}

static void test_mismatch_and_corruption(void) {
    gl_manifest *m = sample_manifest("a;b"), *other = sample_manifest("a;b;c");
    write_three("m.journal", m);
    gl_error err = {0};
    gl_journal *j = gl_journal_open("m.journal", other, 1, 0, &err);
    CHECK(!j && err.code == GL_ERR_ARG && strstr(err.msg, "classes") && strstr(err.msg, "a;b;c") &&
              strstr(err.msg, "m.journal"),
          "mismatch: %s", err.msg);
    gl_journal_free(j);
    j = gl_journal_open("m.journal", other, 1, 1, &err); /* --force */
    CHECK(j && gl_journal_done_count(j) == 3, "force: %s", err.msg);
    gl_journal_free(j);
    /* A flipped byte inside an early record is corruption, not a kill. */
    FILE *fp = fopen("m.journal", "r+b");
    fseek(fp, 200, SEEK_SET);
    int c = fgetc(fp);
    fseek(fp, 200, SEEK_SET);
    fputc(c ^ 1, fp);
    fclose(fp);
    memset(&err, 0, sizeof err);
    j = gl_journal_open("m.journal", m, 1, 0, &err);
    CHECK(!j && err.code == GL_ERR_FORMAT && strstr(err.msg, "m.journal:"), "corrupt: %s", err.msg);
    gl_journal_free(j);
    /* Not a journal at all. */
    t_write_text("x.journal", "hello\n");
    j = gl_journal_open("x.journal", m, 1, 0, &err);
    CHECK(!j && strstr(err.msg, "not a geolabel journal"), "%s", err.msg);
    gl_journal_free(j);
    gl_manifest_free(m);
    gl_manifest_free(other);
}

static void test_manifest_json_for_python(void) {
    gl_manifest *m = sample_manifest("Water(sea;lake);Land");
    gl_error err = {0};
    CHECK_OK(gl_manifest_write(m, "m.json", &err), &err);
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "%s -c \"import json; d = json.load(open('m.json')); "
             "assert list(d) == ['model', 'classes', 'context'], list(d); "
             "assert d['context'] == 'tab\\there, newline\\nthere, \\\"quotes\\\" \\\\\\\\', "
             "repr(d['context']); assert d['classes'] == 'Water(sea;lake);Land'\"",
             t_python());
    CHECK(system(cmd) == 0, "python's json disagrees");
    gl_manifest *back = gl_manifest_load("m.json", &err);
    CHECK(back && gl_manifest_compare(m, back, "m.json", &err) == GL_OK, "%s", err.msg);
    CHECK_OK(gl_manifest_set(back, "model", "other", &err), &err);
    CHECK(gl_manifest_compare(m, back, "out.csv", &err) == GL_ERR_ARG &&
              strstr(err.msg, "out.csv") && strstr(err.msg, "model 'other'") &&
              strstr(err.msg, "openai/clip-vit-base-patch32"),
          "%s", err.msg);
    gl_manifest_free(back);
    gl_manifest_free(m);
}

/* A shard's manifest: the run's members, "shard", and "inputs" over a run of 4 inputs. */
static gl_manifest *shard_manifest(const char *hash, int index, int count, const char *by,
                                   const char *inputs_json) {
    gl_error err = {0};
    gl_manifest *m = gl_manifest_new(&err);
    char shard[96];
    snprintf(shard, sizeof shard, "{\"index\": %d, \"count\": %d, \"by\": \"%s\"}", index, count,
             by);
    if (gl_manifest_set(m, "model", "m", &err) || gl_manifest_set(m, "model_hash", hash, &err) ||
        gl_manifest_set(m, "classes", "a;b", &err) ||
        gl_manifest_set_json(m, "shard", shard, &err) ||
        (inputs_json && gl_manifest_set_json(m, "inputs", inputs_json, &err)))
        abort();
    return m;
}

#define IN(list) "{\"total\": 4, \"sha256\": \"d\", \"list\": " list "}"

/* Builds a set of up to 3 shards and returns the refusal's message ("" when accepted). */
static const char *check_set(gl_manifest *a, gl_manifest *b, gl_manifest *c) {
    static gl_error err;
    memset(&err, 0, sizeof err);
    const char *names[] = {"a.csv", "b.csv", "c.csv"};
    gl_manifest *m[] = {a, b, c};
    gl_shard_set *s = gl_shard_set_check(names, m, c ? 3 : 2, &err);
    if (s) {
        err.msg[0] = 0;
        gl_shard_set_free(s);
    }
    return err.msg;
}

static void test_shard_set(void) {
    gl_error err = {0};
    const char *x;
    /* Accepted: two shards in either order; ordinals and the merged manifest. */
    const char *names[] = {"one.csv", "zero.csv"};
    gl_manifest *m[] = {shard_manifest("h", 1, 2, "input", IN("[[1, \"q\"], [3, \"s\"]]")),
                        shard_manifest("h", 0, 2, "input", IN("[[0, \"p\"], [2, \"r\"]]"))};
    gl_shard_set *s = gl_shard_set_check(names, m, 2, &err);
    CHECK(s != NULL, "%s", err.msg);
    if (s) {
        CHECK(!strcmp(gl_shard_set_name(s, 0), "zero.csv") && gl_shard_set_inputs(s) == 4 &&
                  gl_shard_set_ordinal(s, "s") == 3 && gl_shard_set_ordinal(s, "zz") == -2,
              "order or ordinals");
        gl_manifest *merged = gl_shard_set_manifest(s, &err);
        char *json = merged ? gl_manifest_to_json(merged, &err) : NULL;
        CHECK(json && !strcmp(json, "{\"model\":\"m\",\"model_hash\":\"h\",\"classes\":\"a;b\","
                                    "\"inputs\":{\"total\":4,\"sha256\":\"d\",\"list\":[[0,\"p\"],"
                                    "[1,\"q\"],[2,\"r\"],[3,\"s\"]]},\"merged_shards\":2}"),
              "merged manifest %s", json ? json : err.msg);
        free(json);
        gl_manifest_free(merged);
        gl_shard_set_free(s);
    }
    /* Refused, each naming both files: a.csv is shard ia/ca over la, b.csv shard ib/cb by `by`
     * over lb with model hash hb. */
#define PR IN("[[0, \"p\"], [2, \"r\"]]")
#define QS IN("[[1, \"q\"], [3, \"s\"]]")
    static const struct {
        int ia, ca, ib, cb;
        const char *hb, *by, *la, *lb, *want;
    } cases[] = {
        {0, 2, 1, 2, "H", "input", PR, QS,
         "a.csv and b.csv come from different runs: their manifests differ in 'model_hash' ('h' "
         "and 'H')"},
        {0, 2, 0, 2, "h", "input", PR, PR, "a.csv and b.csv are both shard 0/2"},
        {0, 3, 2, 3, "h", "input", PR, QS, "2 of 3 shards given (a.csv, b.csv); missing shard 1"},
        {0, 2, 1, 3, "h", "input", PR, QS, "b.csv is shard 1/3 but a.csv is shard 0/2"},
        {0, 2, 1, 2, "h", "input", PR, IN("[[1, \"q\"], [2, \"r\"]]"),
         "input r is in a.csv and in b.csv: not one run's shards"},
        {0, 2, 1, 2, "h", "input", PR, IN("[[1, \"q\"]]"),
         "the shards list 3 inputs, the run had 4"},
        {0, 2, 1, 2, "h", "input", PR,
         "{\"total\": 4, \"sha256\": \"e\", \"list\": [[1, \"q\"], [3, \"s\"]]}",
         "a.csv and b.csv were run over different input lists"},
        {0, 2, 1, 2, "h", "tile", PR, QS, "b.csv is sharded by tile but a.csv by input"},
        {0, 2, 1, 2, "h", "input", PR, NULL, "a.csv lists its inputs but b.csv does not"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        x = check_set(
            shard_manifest("h", cases[i].ia, cases[i].ca, "input", cases[i].la),
            shard_manifest(cases[i].hb, cases[i].ib, cases[i].cb, cases[i].by, cases[i].lb), NULL);
        CHECK(strstr(x, cases[i].want) != NULL, "case %zu: '%s'", i, x);
    }
    gl_manifest *bad = shard_manifest("h", 1, 2, "input", NULL);
    gl_manifest_remove(bad, "shard");
    x = check_set(shard_manifest("h", 0, 2, "input", NULL), bad, NULL);
    CHECK(strstr(x, "b.csv: its run manifest names no shard i/n") == x, "no shard: %s", x);
    /* By tile every shard lists every input at one place. */
    const char *all = IN("[[0, \"p\"], [1, \"q\"], [2, \"r\"], [3, \"s\"]]");
    x = check_set(shard_manifest("h", 0, 2, "tile", all), shard_manifest("h", 1, 2, "tile", all),
                  NULL);
    CHECK(!*x, "by tile: %s", x);
    x = check_set(
        shard_manifest("h", 0, 2, "tile", all),
        shard_manifest("h", 1, 2, "tile", IN("[[0, \"p\"], [1, \"r\"], [2, \"q\"], [3, \"s\"]]")),
        NULL);
    CHECK(!strcmp(x, "input r is input 2 in a.csv and 1 in b.csv"), "by tile order: %s", x);
}

/* "inputs" and "merged_shards" record what a run did: a resume compares everything else,
 * JSON members (a shard) included. */
static void test_manifest_records(void) {
    gl_error err = {0};
    gl_manifest *a = shard_manifest("h", 0, 2, "input", IN("[[0, \"p\"]]"));
    gl_manifest *b = shard_manifest("h", 0, 2, "input", IN("[[0, \"p\"], [2, \"r\"]]"));
    CHECK(gl_manifest_compare(a, b, "o.csv", &err) == GL_OK, "%s", err.msg);
    CHECK_OK(gl_manifest_set_json(b, "shard", "{\"index\":1,\"count\":2,\"by\":\"input\"}", &err),
             &err);
    CHECK(gl_manifest_compare(a, b, "o.csv", &err) == GL_ERR_ARG && strstr(err.msg, "shard"), "%s",
          err.msg);
    CHECK(gl_manifest_set_json(b, "x", "\"a string\"", &err) == GL_ERR_ARG &&
              gl_manifest_set_json(b, "x", "{bad", &err) == GL_ERR_ARG,
          "non-JSON accepted");
    gl_manifest_free(a);
    gl_manifest_free(b);
}

/* An output made before compute_dtype was recorded was computed in f32: it resumes under an f32
 * run, in either direction, and is refused under int8 naming both values. */
static void test_manifest_compute_dtype_absent(void) {
    gl_error err = {0};
    gl_manifest *old = gl_manifest_new(&err), *now = gl_manifest_new(&err);
    CHECK_OK(gl_manifest_set(old, "model_hash", "h", &err), &err);
    CHECK_OK(gl_manifest_set(now, "model_hash", "h", &err), &err);
    CHECK_OK(gl_manifest_set(now, "compute_dtype", "f32", &err), &err);
    CHECK(gl_manifest_compare(now, old, "o.csv", &err) == GL_OK, "%s", err.msg);
    CHECK(gl_manifest_compare(old, now, "o.csv", &err) == GL_OK, "%s", err.msg);
    CHECK_OK(gl_manifest_set(now, "compute_dtype", "int8", &err), &err);
    CHECK(gl_manifest_compare(now, old, "o.csv", &err) == GL_ERR_ARG &&
              !strcmp(err.msg, "o.csv was made with compute_dtype 'f32', this run has 'int8'"),
          "%s", err.msg);
    CHECK(gl_manifest_compare(old, now, "o.csv", &err) == GL_ERR_ARG &&
              strstr(err.msg, "compute_dtype 'int8', this run has none"),
          "%s", err.msg);
    gl_manifest_free(old);
    gl_manifest_free(now);
}

int main(void) {
    RUN(test_replay_round_trip);
    RUN(test_every_cut_resumes);
    RUN(test_mismatch_and_corruption);
    RUN(test_manifest_json_for_python);
    RUN(test_shard_set);
    RUN(test_manifest_records);
    RUN(test_manifest_compute_dtype_absent);
    T_SUMMARY();
}
