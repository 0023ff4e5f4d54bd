/* test_llm.c: src/llm against references nobody here wrote: GVL's own cleaning expressions and
 * cluster.py's line parsing run by Python's re, Python's json for request bodies, Pillow for the
 * PNG data URL; and answer bodies shaped as the OpenAI reference documents them. */
#include "harness.h"
#include "llm/llm.h"

#include <stdlib.h>
#include <string.h>

static int run_python(const char *file, const char *script) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s %s", t_python(), file);
    return t_write_text(file, script) && system(cmd) == 0;
}

/* Generated texts, and what vision.py's cleaning makes of them (computed by Python below). */
static const char *const RAW[] = {
    "<grounding> An image of<phrase> a snowman</phrase> warming himself by a fire.",
    "This is a satellite image. Detailed long description of the image: a RIVER and fields",
    "first line\nDetailed long description of the image: not removed: the prompt is on line 2",
    "user\n\nassistant\n\nDetailed long description of the image:   Dense ÉTÉ Roofs  ",
    "<a><b>x</b></a> tail <unclosed",
    "Describe (briefly)? the image",
    "",
};

static void test_clean_description(void) {
    FILE *f = fopen("raw.txt", "wb");
    for (size_t i = 0; i < sizeof RAW / sizeof RAW[0]; i++)
        fprintf(f, "%s%c", RAW[i], 0);
    fclose(f);
    /* vision.py's expressions, verbatim; the prompt is GVL's default except for item 5. */
    CHECK(run_python("clean.py",
                     "import re\n"
                     "raw = open('raw.txt', encoding='utf-8').read().split('\\0')[:-1]\n"
                     "out = []\n"
                     "for i, generated_text in enumerate(raw):\n"
                     "    prompt = 'Describe (briefly)?' if i == 5 else "
                     "'Detailed long description of the image: '\n"
                     "    generated_text = re.sub(r'<.*?>.*?<.*?>', '', generated_text)\n"
                     "    generated_text = generated_text.replace('user\\n\\n', '')"
                     ".replace('assistant\\n\\n', '')\n"
                     "    out.append(re.sub(rf'^.*?{re.escape(prompt.lower())}', '', "
                     "generated_text.lower()).strip())\n"
                     "open('clean.txt', 'w', encoding='utf-8').write(''.join(o + '\\0' for o in "
                     "out))\n"),
          "python failed");
    char *ref = NULL;
    size_t len = 0;
    gl_error e = {0};
    CHECK_OK(gl_read_file("clean.txt", 1 << 20, &ref, &len, &e), &e);
    const char *r = ref;
    for (size_t i = 0; r && i < sizeof RAW / sizeof RAW[0]; i++) {
        char *got = gl_gvl_clean_description(RAW[i], i == 5 ? "Describe (briefly)?" : NULL);
        CHECK(got && !strcmp(got, r), "item %zu: got '%s', GVL's '%s'", i, got, r);
        free(got);
        r += strlen(r) + 1;
    }
    free(ref);
}

static void test_match_class(void) {
    const char *classes[] = {"Water", "Buildings", "No Buildings", "water body"};
    CHECK(gl_gvl_match_class("Water", classes, 4) == 0, "exact");
    CHECK(gl_gvl_match_class("  buildings. \n", classes, 4) == 1, "case and one period");
    CHECK(gl_gvl_match_class("NO BUILDINGS!", classes, 4) == 2, "case and !");
    CHECK(gl_gvl_match_class("Water..", classes, 4) == -1, "only one trailing mark goes");
    CHECK(gl_gvl_match_class("The answer is Water", classes, 4) == -1, "no substring matching");
    CHECK(gl_gvl_match_class("", classes, 4) == -1, "empty");
    const char *both[] = {"water", "Water"};
    CHECK(gl_gvl_match_class("Water", both, 2) == 1, "exact wins over case-insensitive");
}

/* The OpenAI reference's chat.completion object, with its fields filled as given. */
static void test_parse_answer(void) {
    char *c = NULL;
    long pt = 0, ct = 0;
    gl_error e = {0};
    const char *ok = "{\"id\":\"x\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
                     "\"message\":{\"role\":\"assistant\",\"content\":\"Water\",\"refusal\":null},"
                     "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":12,"
                     "\"completion_tokens\":3,\"total_tokens\":15}}";
    CHECK_OK(gl_llm_parse_answer(ok, strlen(ok), &c, &pt, &ct, &e), &e);
    CHECK(c && !strcmp(c, "Water") && pt == 12 && ct == 3, "%s %ld %ld", c, pt, ct);
    free(c);
    const struct {
        const char *body, *why;
    } bad[] = {
        {"{\"choices\":[]}", "no choices"},
        {"{\"choices\":[{\"message\":{\"content\":null,\"refusal\":\"no\"},\"finish_reason\":"
         "\"stop\"}]}",
         "refused"},
        {"{\"choices\":[{\"message\":{\"content\":\"Wa\"},\"finish_reason\":\"length\"}]}",
         "finish_reason length"},
        {"{\"choices\":[{\"message\":{\"content\":null},\"finish_reason\":\"stop\"}]}",
         "no message content"},
        {"<html><body>502 Bad Gateway</body></html>", "not a JSON object"},
        {"{\"choices\":[{\"message\":{\"content\":\"Wat", "not a JSON object"},
        {"[1,2]", "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gl_error_clear(&e);
        gl_status st = gl_llm_parse_answer(bad[i].body, strlen(bad[i].body), &c, NULL, NULL, &e);
        CHECK(st == GL_ERR_FORMAT && !c && strstr(e.msg, bad[i].why), "%zu: %s", i, e.msg);
    }
}

static void test_body_and_png(void) {
    /* 3x2 RGB, every pixel distinct */
    unsigned char rgb[2 * 3 * 3];
    for (int i = 0; i < 18; i++)
        rgb[i] = (unsigned char)(i * 13 + 7);
    gl_error e = {0};
    char *url = gl_llm_png_data_url(rgb, 3, 2, &e);
    CHECK(url != NULL, "%s", e.msg);
    const char *texts[] = {"first \"quoted\"", "second\n"};
    char *body = gl_llm_chat_body("m", NULL, texts, 2, url, 64, 0.0);
    char *plain = gl_llm_chat_body("m", "You are a classifier.", texts, 1, NULL, 0, NAN);
    CHECK(body && plain, "bodies");
    FILE *f = fopen("bodies.json", "wb");
    fprintf(f, "[%s,%s]", body, plain);
    fclose(f);
    CHECK(
        run_python("body.py",
                   "import json, base64, io\n"
                   "from PIL import Image\n"
                   "b, p = json.load(open('bodies.json'))\n"
                   "assert b['model'] == 'm' and b['max_tokens'] == 64 and b['temperature'] == 0\n"
                   "(m,) = b['messages']\n"
                   "assert m['role'] == 'user' and [x['type'] for x in m['content']] == "
                   "['image_url', 'text', 'text']\n"
                   "assert [x['text'] for x in m['content'][1:]] == ['first \"quoted\"', "
                   "'second\\n']\n"
                   "url = m['content'][0]['image_url']['url']\n"
                   "assert url.startswith('data:image/png;base64,')\n"
                   "im = Image.open(io.BytesIO(base64.b64decode(url.split(',', 1)[1])))\n"
                   "assert im.format == 'PNG' and im.mode == 'RGB' and im.size == (3, 2)\n"
                   "assert list(im.getdata()) == [tuple((i * 13 + 7) % 256 for i in range(k, k "
                   "+ 3)) for k in range(0, 18, 3)]\n"
                   "assert p == {'model': 'm', 'messages': [{'role': 'system', 'content': 'You "
                   "are a classifier.'}, {'role': 'user', 'content': 'first \"quoted\"'}]}, p\n"),
        "python disagrees with the request bodies");
    free(url);
    free(body);
    free(plain);
}

static void test_cluster_lines(void) {
    const char *answer = "Sure! Here are the clusters:\nCluster_1: [Water Bodies]\n"
                         "Cluster_2: Built-up (urban)\nCluster_2: Built-up (urban)\n"
                         "Cluster_3 Vegetation\n  Cluster_4: indented\nCluster_5: É-Z_9: extra";
    FILE *f = fopen("answer.txt", "wb");
    fputs(answer, f);
    fclose(f);
    /* cluster.py's loop, verbatim, then our two documented departures: lines without ':' are
     * skipped (GVL raises) and repeated names dropped. */
    CHECK(run_python("names.py",
                     "import re\n"
                     "content = open('answer.txt', encoding='utf-8').read().strip()\n"
                     "clusters = []\n"
                     "for line in content.split('\\n'):\n"
                     "    if line.startswith('Cluster_') and ':' in line:\n"
                     "        cluster = line.split(':')[1]\n"
                     "        cluster = re.sub(r'[^a-zA-Z0-9_\\s]', '', cluster)\n"
                     "        cluster = cluster.strip()\n"
                     "        if cluster and cluster not in clusters: clusters.append(cluster)\n"
                     "open('names.txt', 'w').write('\\n'.join(clusters))\n"),
          "python failed");
    char **names = NULL;
    int n = 0;
    gl_error e = {0};
    CHECK_OK(gl_gvl_parse_cluster_names(answer, &names, &n, &e), &e);
    char *ref = NULL;
    size_t len;
    CHECK_OK(gl_read_file("names.txt", 1 << 16, &ref, &len, &e), &e);
    char joined[1024] = "";
    for (int i = 0; i < n; i++)
        snprintf(joined + strlen(joined), sizeof joined - strlen(joined), "%s%s", i ? "\n" : "",
                 names[i]);
    CHECK(ref && !strcmp(joined, ref), "got '%s', cluster.py '%s'", joined, ref);
    const char *choices[] = {"Water Bodies", "Builtup urban"};
    CHECK(gl_gvl_parse_cluster_choice("Cat: Water Bodies", choices, 2) == 0, "exact");
    CHECK(gl_gvl_parse_cluster_choice("Cat: builtup URBAN\n...", choices, 2) == 1, "case");
    CHECK(gl_gvl_parse_cluster_choice("Cat: Water", choices, 2) == 0, "inside");
    CHECK(gl_gvl_parse_cluster_choice("Cat: Space", choices, 2) == -1, "none");
    CHECK(gl_gvl_parse_cluster_choice("Water Bodies", choices, 2) == -1, "no ':'");
    gl_strings_free(names, n);
    free(ref);
}

int main(void) {
    RUN(test_clean_description);
    RUN(test_match_class);
    RUN(test_parse_answer);
    RUN(test_body_and_png);
    RUN(test_cluster_lines);
    T_SUMMARY();
}
