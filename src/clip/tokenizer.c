/* tokenizer.c: the CLIP tokenizer proper: vocab.json and merges.txt, the pre-tokenizer regex
 * (with \p{L}/\p{N} from utf8proc's categories), byte-level BPE with merges.txt ranks, SOT/EOT,
 * truncation keeping EOT last, 0 padding. The text is cleaned first by clip/textclean.c. */
#include "clip/textclean.h"
#include "core/hashmap.h"
#include "geolabel.h"
#include "io/json.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define VOCAB_MAX_BYTES (64u << 20)
#define MERGES_MAX_BYTES (64u << 20)
#define WORD_CACHE_MAX 65536 /* entries; beyond this, words are encoded without caching */

static uint64_t pair_key(int32_t a, int32_t b) {
    return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
}

/* ------------------------------------------------------------------ the tokenizer object */

struct gl_tokenizer {
    gl_strmap vocab;          /* vocab.json key (bytes_to_unicode form, UTF-8) -> id */
    gl_u64map merges;         /* (left id << 32 | right id) -> (rank << 32 | merged id) */
    int32_t byte_id[256];     /* single byte as a symbol */
    int32_t byte_eow_id[256]; /* single byte + "</w>" as a word's last symbol */
    gl_strmap word_cache;     /* piece bytes -> offset into cache_ids (count first) */
    int32_t *cache_ids;
    size_t cache_len, cache_cap;
    int32_t *work; /* BPE scratch, grown per word */
    size_t work_cap;
};

/* GPT-2's bytes_to_unicode: printable bytes stand for themselves, the rest for 256 + n. */
static uint32_t byte_to_unicode(int b) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))
        return (uint32_t)b;
    int n = 0;
    for (int c = 0; c < b; c++)
        if (!((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255))) n++;
    return 256u + (uint32_t)n;
}

static gl_status load_vocab(gl_tokenizer *t, const char *path, gl_error *err) {
    cJSON *root;
    gl_status s = gl_json_load_object(path, VOCAB_MAX_BYTES, &root, err);
    if (s) return s;
    int n = cJSON_GetArraySize(root);
    if (!gl_strmap_init(&t->vocab, (size_t)n + 1)) {
        cJSON_Delete(root);
        return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
    }
    for (cJSON *e = root->child; e; e = e->next) {
        if (!cJSON_IsNumber(e) || !(e->valuedouble >= 0 && e->valuedouble <= 1e7) ||
            e->valuedouble != (int32_t)e->valuedouble || !e->string) {
            /* the message quotes the key, which lives in the tree: format before freeing it */
            gl_fail(err, GL_ERR_FORMAT, "%s: entry '%.40s' is not a token id", path,
                    e->string ? e->string : "");
            cJSON_Delete(root);
            return GL_ERR_FORMAT;
        }
        if (!gl_strmap_put(&t->vocab, e->string, strlen(e->string), (int32_t)e->valuedouble)) {
            cJSON_Delete(root);
            return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
        }
    }
    cJSON_Delete(root);
    for (int b = 0; b < 256; b++) {
        char key[16];
        int k = utf8proc_encode_char((utf8proc_int32_t)byte_to_unicode(b), (utf8proc_uint8_t *)key);
        memcpy(key + k, "</w>", 5);
        if (!gl_strmap_get(&t->vocab, key, (size_t)k, &t->byte_id[b]) ||
            !gl_strmap_get(&t->vocab, key, (size_t)k + 4, &t->byte_eow_id[b]))
            return gl_fail(err, GL_ERR_FORMAT, "%s: byte %d has no token (not a CLIP vocabulary)",
                           path, b);
    }
    return GL_OK;
}

/* One merges.txt line "A B": ids of A, B and AB; 0 when a part is not in the vocabulary. */
static int parse_merge(const gl_tokenizer *t, const char *line, size_t len, int32_t ids[3]) {
    const char *sp = memchr(line, ' ', len);
    if (!sp || sp == line || sp + 1 == line + len) return 0;
    size_t la = (size_t)(sp - line), lb = len - la - 1;
    char joined[512];
    if (la + lb >= sizeof joined) return 0;
    memcpy(joined, line, la);
    memcpy(joined + la, sp + 1, lb);
    return gl_strmap_get(&t->vocab, line, la, &ids[0]) &&
           gl_strmap_get(&t->vocab, sp + 1, lb, &ids[1]) &&
           gl_strmap_get(&t->vocab, joined, la + lb, &ids[2]);
}

static gl_status load_merges(gl_tokenizer *t, const char *path, gl_error *err) {
    char *text;
    size_t len;
    gl_status s = gl_read_file(path, MERGES_MAX_BYTES, &text, &len, err);
    if (s) return s;
    size_t lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    if (!gl_u64map_init(&t->merges, lines)) {
        free(text);
        return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
    }
    int32_t rank = 0;
    long line_no = 0;
    for (char *p = text, *end = text + len; p < end; line_no++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n && p[n - 1] == '\r') n--;
        int header = line_no == 0 && n >= 8 && !memcmp(p, "#version", 8);
        if (n && !header) {
            int32_t ids[3];
            if (!parse_merge(t, p, n, ids)) {
                free(text);
                return gl_fail(err, GL_ERR_FORMAT,
                               "%s: line %ld is not a merge of two vocabulary tokens", path,
                               line_no + 1);
            }
            /* the first (best-ranked) occurrence of a pair wins */
            gl_u64map_add(&t->merges, pair_key(ids[0], ids[1]),
                          (int64_t)rank << 32 | (uint32_t)ids[2]);
            rank++;
        }
        p = nl ? nl + 1 : end;
    }
    free(text);
    return GL_OK;
}

gl_tokenizer *gl_tokenizer_load(const char *vocab_json_path, const char *merges_txt_path,
                                gl_error *err) {
    gl_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", vocab_json_path);
        return NULL;
    }
    if (load_vocab(t, vocab_json_path, err) || load_merges(t, merges_txt_path, err)) {
        gl_tokenizer_free(t);
        return NULL;
    }
    if (!gl_strmap_init(&t->word_cache, WORD_CACHE_MAX)) {
        gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", vocab_json_path);
        gl_tokenizer_free(t);
        return NULL;
    }
    return t;
}

void gl_tokenizer_free(gl_tokenizer *t) {
    if (!t) return;
    gl_strmap_free(&t->vocab);
    gl_strmap_free(&t->word_cache);
    gl_u64map_free(&t->merges);
    free(t->cache_ids);
    free(t->work);
    free(t);
}

/* ------------------------------------------------------------------ pre-tokenizer and BPE */

static int is_letter(uint32_t c) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO;
}

static int is_number(uint32_t c) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO;
}

static int matches_at(const uint32_t *s, size_t n, const char *lit) {
    size_t k = strlen(lit);
    if (k > n) return 0;
    for (size_t i = 0; i < k; i++)
        if (s[i] != (unsigned char)lit[i]) return 0;
    return 1;
}

/* Length of the regex match at s[0] (the text is already lower case, so IGNORECASE changes
 * nothing), 0 at whitespace; *special gets SOT/EOT for the two literal tokens, else 0. */
static size_t piece_at(const uint32_t *s, size_t n, int32_t *special) {
    static const char *const contractions[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    *special = 0;
    if (matches_at(s, n, "<|startoftext|>")) {
        *special = GL_CLIP_SOT;
        return 15;
    }
    if (matches_at(s, n, "<|endoftext|>")) {
        *special = GL_CLIP_EOT;
        return 13;
    }
    for (int k = 0; k < 7; k++)
        if (matches_at(s, n, contractions[k])) return strlen(contractions[k]);
    size_t i = 0;
    if (is_letter(s[0])) {
        while (i < n && is_letter(s[i]))
            i++;
        return i;
    }
    if (is_number(s[0])) return 1;
    while (i < n && !clip_is_space(s[i]) && !is_letter(s[i]) && !is_number(s[i]))
        i++;
    return i;
}

static int grow_ids(int32_t **p, size_t *cap, size_t need) {
    if (need <= *cap) return 1;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    int32_t *q = realloc(*p, c * sizeof *q);
    if (!q) return 0;
    *p = q;
    *cap = c;
    return 1;
}

/* The reference's bpe(): repeatedly merge every occurrence of the best-ranked adjacent pair. */
static size_t bpe_word(const gl_tokenizer *t, int32_t *w, size_t n) {
    for (;;) {
        int32_t best_rank = INT32_MAX, a = 0, b = 0, merged = 0;
        for (size_t i = 0; i + 1 < n; i++) {
            int64_t rank_merged;
            if (gl_u64map_get(&t->merges, pair_key(w[i], w[i + 1]), &rank_merged) &&
                (int32_t)(rank_merged >> 32) < best_rank) {
                best_rank = (int32_t)(rank_merged >> 32);
                a = w[i];
                b = w[i + 1];
                merged = (int32_t)(uint32_t)rank_merged;
            }
        }
        if (best_rank == INT32_MAX) return n;
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            if (i + 1 < n && w[i] == a && w[i + 1] == b) {
                w[k++] = merged;
                i++;
            } else
                w[k++] = w[i];
        }
        n = k;
    }
}

/* Appends the ids of one piece (UTF-8 bytes) to *ids, through the word cache. */
static gl_status encode_piece(gl_tokenizer *t, const unsigned char *bytes, size_t len,
                              int32_t **ids, size_t *n_ids, size_t *cap_ids, gl_error *err) {
    int32_t at;
    if (gl_strmap_get(&t->word_cache, (const char *)bytes, len, &at)) {
        int32_t count = t->cache_ids[at];
        if (!grow_ids(ids, cap_ids, *n_ids + (size_t)count))
            return gl_fail(err, GL_ERR_NOMEM, "tokenizer: out of memory");
        memcpy(*ids + *n_ids, t->cache_ids + at + 1, (size_t)count * sizeof **ids);
        *n_ids += (size_t)count;
        return GL_OK;
    }
    if (!grow_ids(&t->work, &t->work_cap, len) || !grow_ids(ids, cap_ids, *n_ids + len))
        return gl_fail(err, GL_ERR_NOMEM, "tokenizer: out of memory");
    for (size_t i = 0; i < len; i++)
        t->work[i] = i + 1 < len ? t->byte_id[bytes[i]] : t->byte_eow_id[bytes[i]];
    size_t n = bpe_word(t, t->work, len);
    memcpy(*ids + *n_ids, t->work, n * sizeof **ids);
    *n_ids += n;
    if (t->word_cache.count + 1 < WORD_CACHE_MAX && t->cache_len + n + 1 < INT32_MAX &&
        grow_ids(&t->cache_ids, &t->cache_cap, t->cache_len + n + 1)) {
        t->cache_ids[t->cache_len] = (int32_t)n;
        memcpy(t->cache_ids + t->cache_len + 1, t->work, n * sizeof *t->work);
        if (gl_strmap_put(&t->word_cache, (const char *)bytes, len, (int32_t)t->cache_len))
            t->cache_len += n + 1;
    }
    return GL_OK;
}

/* The cleaned text's BPE ids (without SOT/EOT) into a malloc'ed array. */
static gl_status encode_clean(gl_tokenizer *t, const clip_cpbuf *text, int32_t **ids, size_t *n_ids,
                              gl_error *err) {
    size_t cap = 0;
    *ids = NULL;
    *n_ids = 0;
    unsigned char *bytes = malloc(text->n * 4 + 1);
    if (!bytes) return gl_fail(err, GL_ERR_NOMEM, "tokenizer: out of memory");
    gl_status s = GL_OK;
    for (size_t i = 0; i < text->n && !s;) {
        if (clip_is_space(text->cp[i])) {
            i++;
            continue;
        }
        int32_t special;
        size_t len = piece_at(text->cp + i, text->n - i, &special);
        if (special) {
            if (!grow_ids(ids, &cap, *n_ids + 1))
                s = gl_fail(err, GL_ERR_NOMEM, "tokenizer: out of memory");
            else
                (*ids)[(*n_ids)++] = special;
        } else {
            size_t nb = 0;
            for (size_t k = 0; k < len; k++)
                nb += (size_t)utf8proc_encode_char((utf8proc_int32_t)text->cp[i + k], bytes + nb);
            s = encode_piece(t, bytes, nb, ids, n_ids, &cap, err);
        }
        i += len;
    }
    free(bytes);
    return s;
}

gl_status gl_tokenizer_encode(gl_tokenizer *tok, const char *utf8, int32_t ids[GL_CLIP_CONTEXT],
                              int *n_untruncated, gl_error *err) {
    return gl_tokenizer_encode_len(tok, utf8, strlen(utf8), ids, n_untruncated, err);
}

gl_status gl_tokenizer_encode_len(gl_tokenizer *tok, const char *utf8, size_t len,
                                  int32_t ids[GL_CLIP_CONTEXT], int *n_untruncated, gl_error *err) {
    clip_cpbuf text = {0};
    int32_t *body = NULL;
    size_t n = 0;
    gl_status s = clip_clean_text(utf8, len, &text, err);
    if (!s) s = encode_clean(tok, &text, &body, &n, err);
    free(text.cp);
    if (s) {
        free(body);
        return s;
    }
    memset(ids, 0, GL_CLIP_CONTEXT * sizeof *ids);
    ids[0] = GL_CLIP_SOT;
    size_t keep = n < GL_CLIP_CONTEXT - 2 ? n : GL_CLIP_CONTEXT - 2;
    if (keep) memcpy(ids + 1, body, keep * sizeof *ids);
    ids[keep + 1] = GL_CLIP_EOT;
    if (n_untruncated) *n_untruncated = n + 2 > INT32_MAX ? INT32_MAX : (int)(n + 2);
    free(body);
    return GL_OK;
}
