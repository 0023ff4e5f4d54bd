/* client.c: the OpenAI-compatible chat client: endpoints and keys from the environment, requests
 * in flight over one curl multi handle (connections reused), retries with backoff, the circuit. */
#include "llm/llm.h"

#include "core/buf.h"
#include "core/rng.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_BODY_BYTES (16u << 20)
#define MAX_CONCURRENCY 256
#define AZURE_DEFAULT_VERSION "2024-10-21"

struct gl_llm {
    gl_llm_params p;
    gl_llm_api api;
    char *base;        /* OPENAI/LOCAL: ".../v1"; AZURE: the endpoint; no trailing '/' */
    char *api_version; /* AZURE */
    char *cache_dir;
    char *auth;            /* the whole auth header line; holds the key, so never printed */
    const char *key_start; /* the key inside auth, for scrubbing messages */
    CURLM *multi;
    gl_rng rng; /* backoff jitter */
    int consecutive_failures;
    int open; /* the circuit is open: every call fails at once */
    char open_msg[512];
    gl_llm_usage usage;
};

gl_llm_params gl_llm_default_params(void) {
    gl_llm_params p;
    memset(&p, 0, sizeof p);
    p.api = GL_LLM_OPENAI;
    p.concurrency = 4;
    p.max_retries = 5;
    p.timeout = 120;
    p.max_failures = 5;
    p.backoff = 1;
    p.backoff_max = 60;
    return p;
}

static char *trimmed_url(const char *u) {
    size_t n = strlen(u);
    while (n && u[n - 1] == '/')
        n--;
    return strndup(u, n);
}

static const char *env(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* A key must fit one header line: no control characters. */
static int header_safe(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return 0;
    return 1;
}

static gl_status set_auth(gl_llm *c, const char *header, const char *key, const char *var,
                          gl_error *err) {
    if (!key) return GL_OK;
    if (!header_safe(key))
        return gl_fail(err, GL_ERR_ARG, "$%s: the key holds a control character", var);
    size_t n = strlen(header) + strlen(key) + 1;
    if (!(c->auth = malloc(n))) return gl_fail(err, GL_ERR_NOMEM, "llm: out of memory");
    snprintf(c->auth, n, "%s%s", header, key);
    c->key_start = c->auth + strlen(header);
    return GL_OK;
}

static gl_status configure(gl_llm *c, const gl_llm_params *p, gl_error *err) {
    const char *base = NULL, *key = NULL, *var = NULL;
    switch (p->api) {
    case GL_LLM_OPENAI:
        base = p->base_url ? p->base_url : env("OPENAI_BASE_URL");
        if (!base) base = "https://api.openai.com/v1";
        if (!(key = env(var = "OPENAI_API_KEY")))
            return gl_fail(err, GL_ERR_ARG,
                           "llm: $OPENAI_API_KEY is not set (for a local server give "
                           "--llm-base-url)");
        break;
    case GL_LLM_AZURE:
        if (!(base = p->base_url ? p->base_url : env("AZURE_OPENAI_ENDPOINT")))
            return gl_fail(err, GL_ERR_ARG, "llm: $AZURE_OPENAI_ENDPOINT is not set");
        if (!(key = env(var = "AZURE_OPENAI_API_KEY")))
            return gl_fail(err, GL_ERR_ARG, "llm: $AZURE_OPENAI_API_KEY is not set");
        {
            const char *v = env("AZURE_OPENAI_API_VERSION");
            if (!(c->api_version = strdup(v ? v : AZURE_DEFAULT_VERSION)))
                return gl_fail(err, GL_ERR_NOMEM, "llm: out of memory");
        }
        break;
    case GL_LLM_LOCAL:
        if (!(base = p->base_url))
            return gl_fail(err, GL_ERR_ARG, "llm: a local server needs --llm-base-url");
        key = env(var = "GEOLABEL_LLM_API_KEY");
        break;
    default:
        return gl_fail(err, GL_ERR_ARG, "llm: unknown API kind %d", (int)p->api);
    }
    if (strncmp(base, "http://", 7) && strncmp(base, "https://", 8))
        return gl_fail(err, GL_ERR_ARG, "llm: the server URL must start with http:// or https://");
    if (!(c->base = trimmed_url(base))) return gl_fail(err, GL_ERR_NOMEM, "llm: out of memory");
    return set_auth(c, p->api == GL_LLM_AZURE ? "api-key: " : "Authorization: Bearer ", key, var,
                    err);
}

gl_llm *gl_llm_load(const gl_llm_params *p, gl_error *err) {
    gl_llm_params d = gl_llm_default_params();
    if (!p) p = &d;
    if (p->concurrency < 1 || p->concurrency > MAX_CONCURRENCY || p->max_retries < 0 ||
        !(p->timeout > 0) || p->max_failures < 1 || !(p->backoff >= 0) || !(p->backoff_max >= 0)) {
        gl_fail(err, GL_ERR_ARG, "llm: concurrency 1..%d, retries >= 0, timeout > 0, failures >= 1",
                MAX_CONCURRENCY);
        return NULL;
    }
    gl_llm *c = calloc(1, sizeof *c);
    if (!c) {
        gl_fail(err, GL_ERR_NOMEM, "llm: out of memory");
        return NULL;
    }
    c->p = *p;
    c->api = p->api;
    c->p.base_url = NULL;
    c->p.cache_dir = NULL;
    gl_status st = configure(c, p, err);
    if (!st && p->cache_dir && !(c->cache_dir = strdup(p->cache_dir)))
        st = gl_fail(err, GL_ERR_NOMEM, "llm: out of memory");
    if (!st && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        st = gl_fail(err, GL_ERR_NET, "llm: libcurl failed to start");
    if (!st && !(c->multi = curl_multi_init()))
        st = gl_fail(err, GL_ERR_NOMEM, "llm: out of memory");
    if (st) {
        gl_llm_free(c);
        return NULL;
    }
    /* Jitter only spreads retries apart; it need not be reproducible. */
    gl_rng_seed(&c->rng, (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid());
    return c;
}

void gl_llm_free(gl_llm *c) {
    if (!c) return;
    if (c->multi) curl_multi_cleanup(c->multi);
    if (c->auth) {
        memset(c->auth, 0, strlen(c->auth));
        free(c->auth);
    }
    free(c->base);
    free(c->api_version);
    free(c->cache_dir);
    free(c);
}

gl_llm_usage gl_llm_get_usage(const gl_llm *c) {
    gl_llm_usage u = {0};
    return c ? c->usage : u;
}

void gl_llm_call_clear(gl_llm_call *call) {
    if (!call) return;
    free(call->body);
    free(call->content);
    call->body = call->content = NULL;
}

/* ---------------------------------------------------------------- messages without the key */

/* Servers sometimes quote the key they were given; it must not reach a message. */
static void scrub(const gl_llm *c, char *msg) {
    if (!c->key_start || !*c->key_start) return;
    size_t k = strlen(c->key_start);
    char *hit;
    while ((hit = strstr(msg, c->key_start))) {
        static const char mask[] = "[key]";
        memmove(hit + sizeof mask - 1, hit + k, strlen(hit + k) + 1);
        memcpy(hit, mask, sizeof mask - 1);
    }
}

/* ---------------------------------------------------------------- one transfer */

typedef struct {
    CURL *h;
    int call;    /* index into calls, -1 when free */
    gl_buf body; /* the answer so far */
    int too_big;
    struct curl_slist *headers;
} slot;

typedef struct {
    int attempts;
    double not_before;
    int state; /* 0 waiting, 1 in flight, 2 done */
} call_state;

static size_t on_data(char *data, size_t size, size_t n, void *user) {
    slot *s = user;
    size_t k = size * n;
    if (s->body.len + k > MAX_BODY_BYTES) {
        s->too_big = 1;
        return 0;
    }
    return gl_buf_append(&s->body, data, k) ? 0 : k;
}

static char *url_for(const gl_llm *c, const char *model) {
    char *u = NULL;
    if (c->api != GL_LLM_AZURE) {
        if (asprintf(&u, "%s/chat/completions", c->base) < 0) u = NULL;
        return u;
    }
    CURL *h = curl_easy_init();
    char *d = h ? curl_easy_escape(h, model ? model : "", 0) : NULL;
    if (d && asprintf(&u, "%s/openai/deployments/%s/chat/completions?api-version=%s", c->base, d,
                      c->api_version) < 0)
        u = NULL;
    curl_free(d);
    curl_easy_cleanup(h);
    return u;
}

static gl_status start(gl_llm *c, slot *s, gl_llm_call *call, int index, gl_error *err) {
    char *url = url_for(c, call->model);
    if (!url) return gl_fail(err, GL_ERR_NOMEM, "llm: out of memory");
    if (!s->h && !(s->h = curl_easy_init())) {
        free(url);
        return gl_fail(err, GL_ERR_NOMEM, "llm: out of memory");
    }
    curl_easy_reset(s->h);
    s->body.len = 0;
    s->too_big = 0;
    curl_slist_free_all(s->headers);
    s->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (s->headers && c->auth) s->headers = curl_slist_append(s->headers, c->auth);
    if (!s->headers) {
        free(url);
        return gl_fail(err, GL_ERR_NOMEM, "llm: out of memory");
    }
    curl_easy_setopt(s->h, CURLOPT_URL, url);
    curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(s->h, CURLOPT_POSTFIELDS, call->body);
    curl_easy_setopt(s->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(call->body));
    curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(s->h, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->h, CURLOPT_TIMEOUT_MS, (long)(c->p.timeout * 1000));
    curl_easy_setopt(s->h, CURLOPT_CONNECTTIMEOUT_MS, (long)(fmin(c->p.timeout, 30) * 1000));
    curl_easy_setopt(s->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s->h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(s->h, CURLOPT_USERAGENT, "geolabel");
    /* The key goes to this host only: never follow a redirect elsewhere with it. */
    curl_easy_setopt(s->h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(s->h, CURLOPT_PRIVATE, s);
    free(url); /* curl copies the URL */
    s->call = index;
    if (curl_multi_add_handle(c->multi, s->h) != CURLM_OK)
        return gl_fail(err, GL_ERR_NET, "llm: cannot start a request");
    c->usage.requests++;
    return GL_OK;
}

/* error.message of an API's JSON error body ("" when there is none), cut short. */
static void api_message(const char *body, size_t len, char *out, size_t cap) {
    out[0] = 0;
    cJSON *root = body ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
    const cJSON *m = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "message") : e;
    if (cJSON_IsString(m)) snprintf(out, cap, "%.200s", m->valuestring);
    cJSON_Delete(root);
}

static int content_type_is_json(CURL *h) {
    char *ct = NULL;
    curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
    return ct && strstr(ct, "json");
}

typedef enum { DONE_OK, DONE_FAILED, DONE_RETRY } outcome;

/* Reads a finished transfer into the call; says whether to retry, and after how long at least. */
static outcome finish(gl_llm *c, slot *s, gl_llm_call *call, CURLcode res, double *retry_after) {
    long status = 0;
    curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
    curl_off_t ra = -1;
    curl_easy_getinfo(s->h, CURLINFO_RETRY_AFTER, &ra);
    *retry_after = ra > 0 ? (double)ra : 0;
    gl_error_clear(&call->err);
    if (res != CURLE_OK) {
        int transient = res == CURLE_OPERATION_TIMEDOUT || res == CURLE_COULDNT_CONNECT ||
                        res == CURLE_PARTIAL_FILE || res == CURLE_RECV_ERROR ||
                        res == CURLE_SEND_ERROR || res == CURLE_GOT_NOTHING ||
                        res == CURLE_COULDNT_RESOLVE_HOST;
        if (s->too_big)
            gl_fail(&call->err, GL_ERR_LIMIT, "llm: the answer is larger than %u bytes",
                    MAX_BODY_BYTES);
        else if (res == CURLE_OPERATION_TIMEDOUT)
            gl_fail(&call->err, GL_ERR_NET, "llm: no complete answer within %.0f s (--llm-timeout)",
                    c->p.timeout);
        else
            gl_fail(&call->err, GL_ERR_NET, "llm: %s", curl_easy_strerror(res));
        return transient && !s->too_big ? DONE_RETRY : DONE_FAILED;
    }
    if (status == 429 || status == 408 || (status >= 500 && status <= 599)) {
        gl_fail(&call->err, GL_ERR_NET, "llm: the server answered HTTP %ld", status);
        return DONE_RETRY;
    }
    if (status != 200) {
        char m[256];
        api_message(s->body.data, s->body.len, m, sizeof m);
        gl_fail(&call->err, status == 401 || status == 403 ? GL_ERR_ARG : GL_ERR_NET,
                "llm: the server answered HTTP %ld%s%s", status, m[0] ? ": " : "", m);
        return DONE_FAILED;
    }
    if (!content_type_is_json(s->h)) {
        char *ct = NULL;
        curl_easy_getinfo(s->h, CURLINFO_CONTENT_TYPE, &ct);
        gl_fail(&call->err, GL_ERR_FORMAT, "llm: the answer is '%s', not JSON",
                ct ? ct : "without a content type");
        return DONE_FAILED;
    }
    gl_status st =
        gl_llm_parse_answer(s->body.data ? s->body.data : "", s->body.len, &call->content,
                            &c->usage.prompt_tokens, &c->usage.completion_tokens, &call->err);
    if (st) {
        gl_error_prefix(&call->err, "llm: ");
        return DONE_FAILED;
    }
    if (c->cache_dir) {
        gl_error e = {0};
        if (gl_llm_cache_put(c->cache_dir, call->body, s->body.data, s->body.len, &e))
            gl_log(GL_LOG_WARN, "llm cache: %s", e.msg);
    }
    return DONE_OK;
}

/* Exponential backoff with jitter (a random half to the full delay); Retry-After wins when longer.
 */
static double delay_for(gl_llm *c, int attempt, double retry_after) {
    double d = c->p.backoff * pow(2, attempt - 1);
    if (d > c->p.backoff_max) d = c->p.backoff_max;
    d *= 0.5 + 0.5 * gl_rng_uniform(&c->rng);
    return retry_after > d ? retry_after : d;
}

static int from_cache(gl_llm *c, gl_llm_call *call) {
    char *body = NULL;
    size_t len = 0;
    if (!gl_llm_cache_get(c->cache_dir, call->body, &body, &len)) return 0;
    gl_error e = {0};
    /* Cached usage is not counted: it was paid for in an earlier run. */
    int ok = gl_llm_parse_answer(body, len, &call->content, NULL, NULL, &e) == GL_OK;
    free(body);
    if (ok) {
        call->cached = 1;
        c->usage.cache_hits++;
    }
    return ok;
}

static void open_circuit(gl_llm *c, const gl_error *last) {
    c->open = 1;
    snprintf(c->open_msg, sizeof c->open_msg,
             "llm: %d requests in a row failed, so the run stops (the last: %.300s); check the "
             "server, the key and the model name",
             c->consecutive_failures, last->msg);
}

/* Drives the transfers until every call is done or the circuit opens. */
static gl_status drive(gl_llm *c, gl_llm_call *calls, int n, call_state *cs, slot *slots,
                       int n_slots, gl_error *err) {
    int left = n;
    for (int i = 0; i < n; i++)
        if (cs[i].state == 2) left--;
    int next = 0;
    while (left > 0) {
        double now = gl_now_seconds(), wait = 0.1;
        for (int k = 0; k < n_slots && !c->open; k++) {
            if (slots[k].call >= 0) continue;
            int pick = -1;
            for (int i = next; i < n && pick < 0; i++)
                if (cs[i].state == 0 && cs[i].not_before <= now) pick = i;
            for (int i = 0; i < next && pick < 0; i++)
                if (cs[i].state == 0 && cs[i].not_before <= now) pick = i;
            if (pick < 0) break;
            next = pick + 1;
            gl_status st = start(c, &slots[k], &calls[pick], pick, err);
            if (st) return st;
            cs[pick].state = 1;
            cs[pick].attempts++;
        }
        if (c->open) break;
        for (int i = 0; i < n; i++)
            if (cs[i].state == 0 && cs[i].not_before - now < wait)
                wait = fmax(cs[i].not_before - now, 0.0);
        int running = 0;
        curl_multi_perform(c->multi, &running);
        curl_multi_poll(c->multi, NULL, 0, (int)(wait * 1000) + 1, NULL);
        curl_multi_perform(c->multi, &running);
        CURLMsg *m;
        int q;
        while ((m = curl_multi_info_read(c->multi, &q))) {
            if (m->msg != CURLMSG_DONE) continue;
            slot *s = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            CURLcode res = m->data.result;
            curl_multi_remove_handle(c->multi, s->h);
            int i = s->call;
            s->call = -1;
            double ra;
            outcome o = finish(c, s, &calls[i], res, &ra);
            scrub(c, calls[i].err.msg);
            if (o == DONE_RETRY && cs[i].attempts <= c->p.max_retries) {
                double d = delay_for(c, cs[i].attempts, ra);
                gl_log(GL_LOG_INFO, "llm: %s; retry %d in %.1f s", calls[i].err.msg, cs[i].attempts,
                       d);
                c->usage.retries++;
                cs[i].state = 0;
                cs[i].not_before = gl_now_seconds() + d;
                continue;
            }
            cs[i].state = 2;
            left--;
            if (o == DONE_OK) {
                c->consecutive_failures = 0;
                continue;
            }
            c->usage.failures++;
            if (++c->consecutive_failures >= c->p.max_failures) open_circuit(c, &calls[i].err);
        }
    }
    return GL_OK;
}

gl_status gl_llm_run(gl_llm *c, gl_llm_call *calls, int n, gl_error *err) {
    for (int i = 0; i < n; i++) {
        free(calls[i].content);
        calls[i].content = NULL;
        calls[i].cached = 0;
        gl_error_clear(&calls[i].err);
    }
    if (c->open) return gl_fail(err, GL_ERR_NET, "%s", c->open_msg);
    if (n <= 0) return GL_OK;
    call_state *cs = calloc((size_t)n, sizeof *cs);
    int n_slots = c->p.concurrency < n ? c->p.concurrency : n;
    slot *slots = calloc((size_t)n_slots, sizeof *slots);
    if (!cs || !slots) {
        free(cs);
        free(slots);
        return gl_fail(err, GL_ERR_NOMEM, "llm: out of memory");
    }
    for (int k = 0; k < n_slots; k++)
        slots[k].call = -1;
    for (int i = 0; i < n; i++) {
        if (!calls[i].body) {
            gl_fail(&calls[i].err, GL_ERR_NOMEM, "llm: out of memory building the request");
            cs[i].state = 2;
        } else if (c->cache_dir && from_cache(c, &calls[i])) {
            cs[i].state = 2;
        }
    }
    gl_status st = drive(c, calls, n, cs, slots, n_slots, err);
    for (int k = 0; k < n_slots; k++) {
        if (slots[k].h) {
            if (slots[k].call >= 0) curl_multi_remove_handle(c->multi, slots[k].h);
            curl_easy_cleanup(slots[k].h);
        }
        curl_slist_free_all(slots[k].headers);
        free(slots[k].body.data);
    }
    for (int i = 0; i < n; i++)
        if (cs[i].state != 2 && !calls[i].err.msg[0])
            gl_fail(&calls[i].err, GL_ERR_NET, "llm: not sent: the circuit is open");
    free(cs);
    free(slots);
    if (!st && c->open) st = gl_fail(err, GL_ERR_NET, "%s", c->open_msg);
    return st;
}
