/* chat.c: the chat-completions wire format: request bodies built with cJSON, and answers read
 * defensively (empty choices, refusals, cut-off answers and non-JSON bodies are errors). */
#include "llm/llm.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static cJSON *message(const char *role, cJSON *content) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", role);
    cJSON_AddItemToObject(m, "content", content);
    return m;
}

static cJSON *text_part(const char *text) {
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "type", "text");
    cJSON_AddStringToObject(p, "text", text);
    return p;
}

static cJSON *image_part(const char *url) {
    cJSON *p = cJSON_CreateObject(), *u = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "type", "image_url");
    cJSON_AddStringToObject(u, "url", url);
    cJSON_AddItemToObject(p, "image_url", u);
    return p;
}

/* The body around msgs (which it takes): model first, the sampling fields after. */
static char *print_body(const char *model, cJSON *msgs, int max_tokens, double temperature) {
    cJSON *root = cJSON_CreateObject();
    if (!root || !msgs) {
        cJSON_Delete(root);
        cJSON_Delete(msgs);
        return NULL;
    }
    cJSON_AddStringToObject(root, "model", model ? model : "");
    cJSON_AddItemToObject(root, "messages", msgs);
    if (max_tokens > 0) cJSON_AddNumberToObject(root, "max_tokens", max_tokens);
    if (!isnan(temperature)) cJSON_AddNumberToObject(root, "temperature", temperature);
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return out;
}

char *gl_llm_chat_body(const char *model, const char *system, const char *const *texts, int n_texts,
                       const char *image_url, int max_tokens, double temperature) {
    cJSON *msgs = cJSON_CreateArray();
    if (msgs && system) cJSON_AddItemToArray(msgs, message("system", cJSON_CreateString(system)));
    cJSON *content;
    if (!image_url && n_texts == 1) {
        content = cJSON_CreateString(texts[0]);
    } else {
        content = cJSON_CreateArray();
        /* The image first, as GVL's chat template puts it. */
        if (image_url) cJSON_AddItemToArray(content, image_part(image_url));
        for (int i = 0; i < n_texts; i++)
            cJSON_AddItemToArray(content, text_part(texts[i]));
    }
    if (msgs)
        cJSON_AddItemToArray(msgs, message("user", content));
    else
        cJSON_Delete(content);
    return print_body(model, msgs, max_tokens, temperature);
}

static void add_tokens(const cJSON *usage, const char *name, long *sum) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(usage, name);
    if (sum && cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e12)
        *sum += (long)v->valuedouble;
}

/* The first line of s, at most 120 bytes, for an error message. */
static void excerpt(const char *s, size_t len, char *out, size_t cap) {
    size_t n = 0;
    while (n < len && n + 1 < cap && n < 120 && s[n] != '\n' && s[n] != '\r' && s[n])
        n++;
    memcpy(out, s, n);
    out[n] = 0;
}

gl_status gl_llm_parse_answer(const char *body, size_t len, char **content, long *prompt_tokens,
                              long *completion_tokens, gl_error *err) {
    *content = NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!root || !cJSON_IsObject(root)) {
        char ex[128];
        excerpt(body, len, ex, sizeof ex);
        cJSON_Delete(root);
        return gl_fail(err, GL_ERR_FORMAT, "the answer is not a JSON object (%zu bytes: '%s')", len,
                       ex);
    }
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
    const cJSON *first = cJSON_IsArray(choices) ? cJSON_GetArrayItem(choices, 0) : NULL;
    const cJSON *msg = first ? cJSON_GetObjectItemCaseSensitive(first, "message") : NULL;
    const cJSON *text = msg ? cJSON_GetObjectItemCaseSensitive(msg, "content") : NULL;
    const cJSON *refusal = msg ? cJSON_GetObjectItemCaseSensitive(msg, "refusal") : NULL;
    const cJSON *finish = first ? cJSON_GetObjectItemCaseSensitive(first, "finish_reason") : NULL;
    const char *why = cJSON_IsString(finish) ? finish->valuestring : "";
    gl_status st = GL_OK;
    if (!first || !cJSON_IsObject(first))
        st = gl_fail(err, GL_ERR_FORMAT, "the answer has no choices");
    else if (cJSON_IsString(refusal) && refusal->valuestring[0])
        st = gl_fail(err, GL_ERR_FORMAT, "the model refused: %.200s", refusal->valuestring);
    else if (!strcmp(why, "length"))
        st = gl_fail(err, GL_ERR_FORMAT,
                     "the answer was cut at its token limit (finish_reason length)");
    else if (!strcmp(why, "content_filter"))
        st = gl_fail(err, GL_ERR_FORMAT, "the answer was withheld by a content filter");
    else if (!cJSON_IsString(text))
        st = gl_fail(err, GL_ERR_FORMAT, "the answer has no message content");
    else if (!(*content = strdup(text->valuestring)))
        st = gl_fail(err, GL_ERR_NOMEM, "llm: out of memory");
    if (!st) {
        const cJSON *usage = cJSON_GetObjectItemCaseSensitive(root, "usage");
        add_tokens(usage, "prompt_tokens", prompt_tokens);
        add_tokens(usage, "completion_tokens", completion_tokens);
    }
    cJSON_Delete(root);
    return st;
}

char *gl_llm_chat_turns(const char *model, const char *const *roles, const char *const *texts,
                        int n, int max_tokens, double temperature) {
    cJSON *msgs = cJSON_CreateArray();
    for (int i = 0; msgs && i < n; i++)
        cJSON_AddItemToArray(msgs, message(roles[i], cJSON_CreateString(texts[i])));
    return print_body(model, msgs, max_tokens, temperature);
}
