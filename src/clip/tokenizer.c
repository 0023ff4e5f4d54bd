/* tokenizer.c: the CLIP tokenizer: text cleaning as openai/CLIP's simple_tokenizer.py does it
 * (ftfy subset, html.unescape twice, whitespace collapse, str.lower), pre-tokenizer, byte-level
 * BPE.
 *
 * What matches the reference exactly: html.unescape (numeric references with Python's replacement
 * rules; named entities: HTML 4.01's 253 plus &apos;, with HTML5 code points, and the legacy names
 * that need no ';'), the regex module's \s (White_Space), str.strip, str.lower (full mapping of
 * U+0130 to "i" + U+0307, and the Final_Sigma rule), the pre-tokenizer regex with \p{L}/\p{N} from
 * utf8proc's categories, BPE with merges.txt ranks, SOT/EOT, truncation keeping EOT last, 0
 * padding.
 *
 * ftfy.fix_text (6.3, default config) is only partly replicated. We do, in ftfy's order and
 * repeated until nothing changes: unescape_html (only while no line so far held '<', and only
 * the entities above), remove_terminal_escapes (ESC [ digits/';' letter), mojibake repair of UTF-8
 * read as Latin-1/sloppy Windows-1252 (a fixed rule, see fix_mojibake_at),
 * fix_c1_controls (U+0080..U+009F read as Windows-1252), fix_latin_ligatures (ﬀ ﬁ ﬂ ﬃ ﬄ ﬅ ﬆ Ĳ ĳ
 * Ǆ..ǌ Ǳ..ǳ), fix_character_width (U+FF01..U+FFEF by NFKC, U+3000 to space), uncurl_quotes
 * (U+2018..U+201B and U+02BC to ', U+201C..U+201F to "), fix_line_breaks (CR LF, CR, U+2028,
 * U+2029 to LF; U+0085 has become "…" by then), remove_control_chars (U+0000..0008, 000B,
 * 000E..001F, 007F, 206A..206F, FEFF, FFF9..FFFC) and NFC. What we do NOT replicate: ftfy's badness
 * heuristics (is_bad) and text_cost, so mojibake is fixed by a fixed pattern rule instead (it may
 * differ on mixed texts that are both legitimate and mis-decoded, and on encodings other than
 * Latin-1/Windows-1252 such as MacRoman or CP437 that ftfy also considers); restore_byte_a0 and
 * replace_lossy_sequences (mojibake whose 0xA0 or lost bytes ftfy reconstructs);
 * decode_inconsistent_utf8's checks; ftfy's own html table beyond the entities above and its
 * all-caps entity variants (&EACUTE;); fix_surrogates (our input is UTF-8, so no surrogates can
 * occur). All 200 fixture cases match. */
#include "geolabel.h"
#include "io/json.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define VOCAB_MAX_BYTES (64u << 20)
#define MERGES_MAX_BYTES (64u << 20)
#define WORD_CACHE_MAX 65536 /* entries; beyond this, words are encoded without caching */
#define TEXT_MAX_BYTES (16u << 20)

/* ------------------------------------------------------------------ hash maps */

static uint64_t hash_bytes(const void *p, size_t n) {
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static uint64_t hash_u64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

/* Byte-string keys (owned by the map) to int values; open addressing, power-of-two size. */
typedef struct {
    char **keys;
    size_t *key_lens;
    int32_t *values;
    size_t cap, count;
} str_map;

static int str_map_init(str_map *m, size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2)
        cap <<= 1;
    m->keys = calloc(cap, sizeof *m->keys);
    m->key_lens = calloc(cap, sizeof *m->key_lens);
    m->values = calloc(cap, sizeof *m->values);
    m->cap = cap;
    m->count = 0;
    return m->keys && m->key_lens && m->values;
}

static void str_map_free(str_map *m) {
    if (m->keys)
        for (size_t i = 0; i < m->cap; i++)
            free(m->keys[i]);
    free(m->keys);
    free(m->key_lens);
    free(m->values);
    memset(m, 0, sizeof *m);
}

static size_t str_map_slot(const str_map *m, const char *key, size_t len) {
    size_t i = hash_bytes(key, len) & (m->cap - 1);
    while (m->keys[i] && !(m->key_lens[i] == len && !memcmp(m->keys[i], key, len)))
        i = (i + 1) & (m->cap - 1);
    return i;
}

static int str_map_get(const str_map *m, const char *key, size_t len, int32_t *value) {
    size_t i = str_map_slot(m, key, len);
    if (!m->keys[i]) return 0;
    *value = m->values[i];
    return 1;
}

/* Inserts or overwrites; the map never grows past half full (callers size it up front). */
static int str_map_put(str_map *m, const char *key, size_t len, int32_t value) {
    if ((m->count + 1) * 2 > m->cap) return 0;
    size_t i = str_map_slot(m, key, len);
    if (!m->keys[i]) {
        m->keys[i] = malloc(len + 1);
        if (!m->keys[i]) return 0;
        memcpy(m->keys[i], key, len);
        m->keys[i][len] = 0;
        m->key_lens[i] = len;
        m->count++;
    }
    m->values[i] = value;
    return 1;
}

/* A merge (left id, right id) -> (rank, merged id). */
typedef struct {
    uint64_t *keys; /* (left << 32 | right) + 1; 0 marks an empty slot */
    int32_t *ranks, *merged;
    size_t cap;
} pair_map;

static uint64_t pair_key(int32_t a, int32_t b) {
    return (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
}

static size_t pair_slot(const pair_map *m, uint64_t key) {
    size_t i = hash_u64(key) & (m->cap - 1);
    while (m->keys[i] && m->keys[i] != key)
        i = (i + 1) & (m->cap - 1);
    return i;
}

/* ------------------------------------------------------------------ the tokenizer object */

struct gl_tokenizer {
    str_map vocab; /* vocab.json key (bytes_to_unicode form, UTF-8) -> id */
    pair_map merges;
    int32_t byte_id[256];     /* single byte as a symbol */
    int32_t byte_eow_id[256]; /* single byte + "</w>" as a word's last symbol */
    str_map word_cache;       /* piece bytes -> offset into cache_ids (count first) */
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
    if (!str_map_init(&t->vocab, (size_t)n + 1)) {
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
        if (!str_map_put(&t->vocab, e->string, strlen(e->string), (int32_t)e->valuedouble)) {
            cJSON_Delete(root);
            return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
        }
    }
    cJSON_Delete(root);
    for (int b = 0; b < 256; b++) {
        char key[16];
        int k = utf8proc_encode_char((utf8proc_int32_t)byte_to_unicode(b), (utf8proc_uint8_t *)key);
        memcpy(key + k, "</w>", 5);
        if (!str_map_get(&t->vocab, key, (size_t)k, &t->byte_id[b]) ||
            !str_map_get(&t->vocab, key, (size_t)k + 4, &t->byte_eow_id[b]))
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
    return str_map_get(&t->vocab, line, la, &ids[0]) &&
           str_map_get(&t->vocab, sp + 1, lb, &ids[1]) &&
           str_map_get(&t->vocab, joined, la + lb, &ids[2]);
}

static gl_status load_merges(gl_tokenizer *t, const char *path, gl_error *err) {
    char *text;
    size_t len;
    gl_status s = gl_read_file(path, MERGES_MAX_BYTES, &text, &len, err);
    if (s) return s;
    size_t lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    size_t cap = 16;
    while (cap < lines * 2)
        cap <<= 1;
    t->merges.cap = cap;
    t->merges.keys = calloc(cap, sizeof *t->merges.keys);
    t->merges.ranks = malloc(cap * sizeof *t->merges.ranks);
    t->merges.merged = malloc(cap * sizeof *t->merges.merged);
    if (!t->merges.keys || !t->merges.ranks || !t->merges.merged) {
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
            uint64_t key = pair_key(ids[0], ids[1]);
            size_t slot = pair_slot(&t->merges, key);
            if (!t->merges.keys[slot]) { /* the first (best-ranked) occurrence wins */
                t->merges.keys[slot] = key;
                t->merges.ranks[slot] = rank;
                t->merges.merged[slot] = ids[2];
            }
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
    if (!str_map_init(&t->word_cache, WORD_CACHE_MAX)) {
        gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", vocab_json_path);
        gl_tokenizer_free(t);
        return NULL;
    }
    return t;
}

void gl_tokenizer_free(gl_tokenizer *t) {
    if (!t) return;
    str_map_free(&t->vocab);
    str_map_free(&t->word_cache);
    free(t->merges.keys);
    free(t->merges.ranks);
    free(t->merges.merged);
    free(t->cache_ids);
    free(t->work);
    free(t);
}

/* ------------------------------------------------------------------ code point buffers */

typedef struct {
    uint32_t *cp;
    size_t n, cap;
    int oom;
} cpbuf;

static void cp_push(cpbuf *b, uint32_t c) {
    if (b->oom) return;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        uint32_t *p = realloc(b->cp, cap * sizeof *p);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->cp = p;
        b->cap = cap;
    }
    b->cp[b->n++] = c;
}

static void cp_swap(cpbuf *a, cpbuf *b) {
    cpbuf t = *a;
    *a = *b;
    *b = t;
    b->n = 0;
}

static int cp_equal(const cpbuf *a, const cpbuf *b) {
    return a->n == b->n && (!a->n || !memcmp(a->cp, b->cp, a->n * sizeof *a->cp));
}

static gl_status decode_utf8(const char *s, size_t len, cpbuf *out, gl_error *err) {
    if (len > TEXT_MAX_BYTES)
        return gl_fail(err, GL_ERR_LIMIT, "text of %zu bytes is over the %u-byte limit", len,
                       TEXT_MAX_BYTES);
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    while (len) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate(p, (utf8proc_ssize_t)len, &c);
        if (k <= 0)
            return gl_fail(err, GL_ERR_FORMAT, "text is not valid UTF-8 (byte offset %zu)",
                           (size_t)(p - (const utf8proc_uint8_t *)s));
        cp_push(out, (uint32_t)c);
        p += k;
        len -= (size_t)k;
    }
    return GL_OK;
}

/* UTF-8 of n code points into a malloc'ed string (NULL when out of memory). ftfy has removed
 * any U+0000 by the time this runs, so the result is a proper C string. */
static char *encode_utf8(const uint32_t *cp, size_t n, size_t *out_len) {
    char *s = malloc(n * 4 + 1);
    if (!s) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += (size_t)utf8proc_encode_char((utf8proc_int32_t)cp[i], (utf8proc_uint8_t *)s + k);
    s[k] = 0;
    if (out_len) *out_len = k;
    return s;
}

/* Replaces b's content by utf8proc's normalisation of it (NFC or NFKC). */
static void cp_normalize(cpbuf *b, int compat) {
    char *s = encode_utf8(b->cp, b->n, NULL);
    if (!s) {
        b->oom = 1;
        return;
    }
    utf8proc_uint8_t *norm =
        compat ? utf8proc_NFKC((utf8proc_uint8_t *)s) : utf8proc_NFC((utf8proc_uint8_t *)s);
    free(s);
    if (!norm) {
        b->oom = 1;
        return;
    }
    b->n = 0;
    gl_error ignored;
    if (decode_utf8((const char *)norm, strlen((const char *)norm), b, &ignored)) b->oom = 1;
    free(norm);
}

/* ------------------------------------------------------------------ html.unescape */

typedef struct {
    const char *name;
    uint32_t cp;
} entity;

/* Names of U+00A0..U+00FF, in order: the legacy entities HTML5 also accepts without ';'. */
static const char *const latin1_names[96] = {
    "nbsp",   "iexcl",  "cent",   "pound",  "curren", "yen",    "brvbar", "sect",   "uml",
    "copy",   "ordf",   "laquo",  "not",    "shy",    "reg",    "macr",   "deg",    "plusmn",
    "sup2",   "sup3",   "acute",  "micro",  "para",   "middot", "cedil",  "sup1",   "ordm",
    "raquo",  "frac14", "frac12", "frac34", "iquest", "Agrave", "Aacute", "Acirc",  "Atilde",
    "Auml",   "Aring",  "AElig",  "Ccedil", "Egrave", "Eacute", "Ecirc",  "Euml",   "Igrave",
    "Iacute", "Icirc",  "Iuml",   "ETH",    "Ntilde", "Ograve", "Oacute", "Ocirc",  "Otilde",
    "Ouml",   "times",  "Oslash", "Ugrave", "Uacute", "Ucirc",  "Uuml",   "Yacute", "THORN",
    "szlig",  "agrave", "aacute", "acirc",  "atilde", "auml",   "aring",  "aelig",  "ccedil",
    "egrave", "eacute", "ecirc",  "euml",   "igrave", "iacute", "icirc",  "iuml",   "eth",
    "ntilde", "ograve", "oacute", "ocirc",  "otilde", "ouml",   "divide", "oslash", "ugrave",
    "uacute", "ucirc",  "uuml",   "yacute", "thorn",  "yuml"};

/* Legacy names outside Latin-1 that also work without ';'. */
static const entity legacy_entities[] = {{"amp", '&'},   {"lt", '<'},  {"gt", '>'}, {"quot", '"'},
                                         {"AMP", '&'},   {"LT", '<'},  {"GT", '>'}, {"QUOT", '"'},
                                         {"COPY", 0xA9}, {"REG", 0xAE}};

/* The rest of HTML 4.01's entities (with HTML5's code points) and &apos;: only with ';'. */
static const entity named_entities[] = {
    {"apos", 0x27},      {"OElig", 0x152},    {"oelig", 0x153},  {"Scaron", 0x160},
    {"scaron", 0x161},   {"Yuml", 0x178},     {"fnof", 0x192},   {"circ", 0x2C6},
    {"tilde", 0x2DC},    {"ensp", 0x2002},    {"emsp", 0x2003},  {"thinsp", 0x2009},
    {"zwnj", 0x200C},    {"zwj", 0x200D},     {"lrm", 0x200E},   {"rlm", 0x200F},
    {"ndash", 0x2013},   {"mdash", 0x2014},   {"lsquo", 0x2018}, {"rsquo", 0x2019},
    {"sbquo", 0x201A},   {"ldquo", 0x201C},   {"rdquo", 0x201D}, {"bdquo", 0x201E},
    {"dagger", 0x2020},  {"Dagger", 0x2021},  {"bull", 0x2022},  {"hellip", 0x2026},
    {"permil", 0x2030},  {"prime", 0x2032},   {"Prime", 0x2033}, {"lsaquo", 0x2039},
    {"rsaquo", 0x203A},  {"oline", 0x203E},   {"frasl", 0x2044}, {"euro", 0x20AC},
    {"image", 0x2111},   {"weierp", 0x2118},  {"real", 0x211C},  {"trade", 0x2122},
    {"alefsym", 0x2135}, {"larr", 0x2190},    {"uarr", 0x2191},  {"rarr", 0x2192},
    {"darr", 0x2193},    {"harr", 0x2194},    {"crarr", 0x21B5}, {"lArr", 0x21D0},
    {"uArr", 0x21D1},    {"rArr", 0x21D2},    {"dArr", 0x21D3},  {"hArr", 0x21D4},
    {"forall", 0x2200},  {"part", 0x2202},    {"exist", 0x2203}, {"empty", 0x2205},
    {"nabla", 0x2207},   {"isin", 0x2208},    {"notin", 0x2209}, {"ni", 0x220B},
    {"prod", 0x220F},    {"sum", 0x2211},     {"minus", 0x2212}, {"lowast", 0x2217},
    {"radic", 0x221A},   {"prop", 0x221D},    {"infin", 0x221E}, {"ang", 0x2220},
    {"and", 0x2227},     {"or", 0x2228},      {"cap", 0x2229},   {"cup", 0x222A},
    {"int", 0x222B},     {"there4", 0x2234},  {"sim", 0x223C},   {"cong", 0x2245},
    {"asymp", 0x2248},   {"ne", 0x2260},      {"equiv", 0x2261}, {"le", 0x2264},
    {"ge", 0x2265},      {"sub", 0x2282},     {"sup", 0x2283},   {"nsub", 0x2284},
    {"sube", 0x2286},    {"supe", 0x2287},    {"oplus", 0x2295}, {"otimes", 0x2297},
    {"perp", 0x22A5},    {"sdot", 0x22C5},    {"lceil", 0x2308}, {"rceil", 0x2309},
    {"lfloor", 0x230A},  {"rfloor", 0x230B},  {"lang", 0x27E8},  {"rang", 0x27E9},
    {"loz", 0x25CA},     {"spades", 0x2660},  {"clubs", 0x2663}, {"hearts", 0x2665},
    {"diams", 0x2666},   {"thetasym", 0x3D1}, {"upsih", 0x3D2},  {"piv", 0x3D6},
    {"sigmaf", 0x3C2}};

static const char *const greek_names[25] = {
    "Alpha", "Beta",   "Gamma",   "Delta", "Epsilon", "Zeta",    "Eta",  "Theta", "Iota",
    "Kappa", "Lambda", "Mu",      "Nu",    "Xi",      "Omicron", "Pi",   "Rho",   NULL,
    "Sigma", "Tau",    "Upsilon", "Phi",   "Chi",     "Psi",     "Omega"};

static int name_is(const uint32_t *s, size_t n, const char *name) {
    size_t k = strlen(name);
    if (k != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] != (unsigned char)name[i]) return 0;
    return 1;
}

/* The code point of a legacy (no ';' needed) entity name, or 0. */
static uint32_t legacy_entity(const uint32_t *s, size_t n) {
    for (int i = 0; i < 96; i++)
        if (name_is(s, n, latin1_names[i])) return 0xA0u + (uint32_t)i;
    for (size_t i = 0; i < sizeof legacy_entities / sizeof *legacy_entities; i++)
        if (name_is(s, n, legacy_entities[i].name)) return legacy_entities[i].cp;
    return 0;
}

/* The code point of any known entity name written with ';', or 0. */
static uint32_t full_entity(const uint32_t *s, size_t n) {
    uint32_t c = legacy_entity(s, n);
    if (c) return c;
    for (size_t i = 0; i < sizeof named_entities / sizeof *named_entities; i++)
        if (name_is(s, n, named_entities[i].name)) return named_entities[i].cp;
    for (int i = 0; i < 25; i++) {
        if (!greek_names[i]) continue;
        if (name_is(s, n, greek_names[i])) return 0x391u + (uint32_t)i;
        if (n == strlen(greek_names[i]) && s[0] == (uint32_t)greek_names[i][0] + 32 &&
            name_is(s + 1, n - 1, greek_names[i] + 1))
            return 0x3B1u + (uint32_t)i + (i > 17); /* lower case skips ς at U+03C2 */
    }
    return 0;
}

/* Windows-1252 for 0x80..0x9F; the five undefined bytes keep their C1 value ("sloppy"). */
static const uint16_t cp1252_high[32] = {
    0x20AC, 0x81,   0x201A, 0x192,  0x201E, 0x2026, 0x2020, 0x2021, 0x2C6,  0x2030, 0x160,
    0x2039, 0x152,  0x8D,   0x17D,  0x8F,   0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x2DC,  0x2122, 0x161,  0x203A, 0x153,  0x9D,   0x17E,  0x178};

static int is_hex(uint32_t c) {
    return (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'f');
}

/* Python's html._replace_charref for "&#..." at s[0]: appends the result, returns chars used
 * (0 when this is no numeric reference). */
static size_t unescape_numeric(const uint32_t *s, size_t n, cpbuf *out) {
    size_t i = 2;
    int hex = n > 2 && (s[2] == 'x' || s[2] == 'X');
    if (hex) i = 3;
    size_t start = i;
    uint64_t num = 0;
    while (i < n && (hex ? is_hex(s[i]) : (s[i] >= '0' && s[i] <= '9'))) {
        uint32_t d = s[i] <= '9' ? s[i] - '0' : (s[i] | 32) - 'a' + 10;
        if (num <= 0x10FFFFull)
            num = num * (hex ? 16 : 10) + d; /* beyond that it is U+FFFD anyway */
        i++;
    }
    if (i == start) return 0;
    if (i < n && s[i] == ';') i++;
    if (num == 0)
        cp_push(out, 0xFFFD);
    else if (num == 0x0D)
        cp_push(out, '\r');
    else if (num >= 0x80 && num <= 0x9F)
        cp_push(out, cp1252_high[num - 0x80]);
    else if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF)
        cp_push(out, 0xFFFD);
    else if ((num >= 1 && num <= 8) || num == 0x0B || (num >= 0x0E && num <= 0x1F) || num == 0x7F ||
             (num >= 0xFDD0 && num <= 0xFDEF) || (num & 0xFFFE) == 0xFFFE)
        ; /* Python drops these */
    else
        cp_push(out, (uint32_t)num);
    return i;
}

/* Named reference at s[0] == '&': Python's rule (exact name with ';', else the longest legacy
 * prefix). Returns chars consumed (the name and ';' even when unknown, as Python's regex does). */
static size_t unescape_named(const uint32_t *s, size_t n, cpbuf *out) {
    size_t i = 1;
    while (i < n && i <= 32 && s[i] != '\t' && s[i] != '\n' && s[i] != '\f' && s[i] != ' ' &&
           s[i] != '<' && s[i] != '&' && s[i] != '#' && s[i] != ';')
        i++;
    size_t name_len = i - 1;
    if (!name_len) return 0;
    int semi = i < n && s[i] == ';';
    size_t used = i + (size_t)semi;
    uint32_t c = semi ? full_entity(s + 1, name_len) : legacy_entity(s + 1, name_len);
    if (c) {
        cp_push(out, c);
        return used;
    }
    size_t whole = name_len + (size_t)semi; /* Python's s, ';' included */
    for (size_t x = whole - 1; x >= 2; x--) {
        if (x > name_len) continue;
        c = legacy_entity(s + 1, x);
        if (c) {
            cp_push(out, c);
            for (size_t k = 1 + x; k < used; k++)
                cp_push(out, s[k]);
            return used;
        }
    }
    for (size_t k = 0; k < used; k++)
        cp_push(out, s[k]);
    return used;
}

static void html_unescape(const cpbuf *in, cpbuf *out) {
    out->n = 0;
    for (size_t i = 0; i < in->n;) {
        size_t used = 0;
        if (in->cp[i] == '&') {
            if (i + 1 < in->n && in->cp[i + 1] == '#')
                used = unescape_numeric(in->cp + i, in->n - i, out);
            else
                used = unescape_named(in->cp + i, in->n - i, out);
        }
        if (used)
            i += used;
        else
            cp_push(out, in->cp[i++]);
    }
}

/* ------------------------------------------------------------------ ftfy subset */

/* Windows-1252 byte of a code point, "sloppy" (C1 controls and Latin-1 map to themselves), or -1.
 */
static int cp1252_byte(uint32_t c) {
    if (c < 0x100) return (int)c;
    for (int i = 0; i < 32; i++)
        if (cp1252_high[i] == c) return 0x80 + i;
    return -1;
}

static int utf8_len_of_lead(int b) {
    if (b >= 0xC2 && b <= 0xDF) return 2;
    if (b >= 0xE0 && b <= 0xEF) return 3;
    if (b >= 0xF0 && b <= 0xF4) return 4;
    return 0;
}

/* One UTF-8 sequence read as Windows-1252 at s[0]: a lead character whose byte starts a
 * sequence, then the right number of characters whose bytes are continuation bytes, forming
 * valid UTF-8. Returns its length (0: none) and the character it stood for. */
static size_t mojibake_at(const uint32_t *s, size_t n, uint32_t *decoded) {
    int lead = s[0] >= 0x80 ? cp1252_byte(s[0]) : -1;
    int k = lead < 0 ? 0 : utf8_len_of_lead(lead);
    if (!k || (size_t)k > n) return 0;
    utf8proc_uint8_t bytes[4] = {(utf8proc_uint8_t)lead};
    for (int j = 1; j < k; j++) {
        int b = cp1252_byte(s[j]);
        if (b < 0x80 || b > 0xBF) return 0;
        bytes[j] = (utf8proc_uint8_t)b;
    }
    utf8proc_int32_t c;
    if (utf8proc_iterate(bytes, k, &c) != k) return 0;
    utf8proc_category_t cat = utf8proc_category(c);
    if (cat == UTF8PROC_CATEGORY_CO || cat == UTF8PROC_CATEGORY_CN)
        return 0; /* no text means these */
    *decoded = (uint32_t)c;
    return (size_t)k;
}

/* The rule that stands in for ftfy's fix_encoding. Accepted alone: three- and four-byte
 * sequences ("â€™", "ðŸ˜€") and two-byte ones led by Â or Ã (Latin-1 read twice: "Ã©"), which
 * real text does not contain. Other two-byte sequences ("Ð¿", but also "NESTLÉ®") only inside
 * a run of at least two, as mis-decoded Cyrillic, Greek, Hebrew or Arabic words are. */
static size_t fix_mojibake_at(const uint32_t *s, size_t n, int after_fix, cpbuf *out) {
    uint32_t c, next;
    size_t k = mojibake_at(s, n, &c);
    if (!k) return 0;
    int alone_ok = k > 2 || s[0] == 0xC2 || s[0] == 0xC3;
    if (!alone_ok && !after_fix && !mojibake_at(s + k, n - k, &next)) return 0;
    cp_push(out, c);
    return k;
}

/* Ligatures ftfy's fix_latin_ligatures spells out (U+FB05 is ſt; U+01C4..U+01C6 hold Ž/ž). */
static const struct {
    uint32_t cp;
    const char *spelled; /* UTF-8 */
} ligatures[] = {{0xFB00, "ff"},  {0xFB01, "fi"},        {0xFB02, "fl"},       {0xFB03, "ffi"},
                 {0xFB04, "ffl"}, {0xFB05, "\xc5\xbft"}, {0xFB06, "st"},       {0x132, "IJ"},
                 {0x133, "ij"},   {0x1C4, "D\xc5\xbd"},  {0x1C5, "D\xc5\xbe"}, {0x1C6, "d\xc5\xbe"},
                 {0x1C7, "LJ"},   {0x1C8, "Lj"},         {0x1C9, "lj"},        {0x1CA, "NJ"},
                 {0x1CB, "Nj"},   {0x1CC, "nj"},         {0x1F1, "DZ"},        {0x1F2, "Dz"},
                 {0x1F3, "dz"}};

static const char *ligature(uint32_t c) {
    for (size_t i = 0; i < sizeof ligatures / sizeof *ligatures; i++)
        if (ligatures[i].cp == c) return ligatures[i].spelled;
    return NULL;
}

static int is_ftfy_control(uint32_t c) {
    return c <= 8 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F ||
           (c >= 0x206A && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
}

static void push_utf8_literal(cpbuf *out, const char *s) {
    gl_error ignored;
    if (decode_utf8(s, strlen(s), out, &ignored)) out->oom = 1;
}

/* ESC [ (digits | ';')* letter, at s[0] == ESC: length, or 0. */
static size_t terminal_escape_len(const uint32_t *s, size_t n) {
    if (n < 3 || s[1] != '[') return 0;
    size_t i = 2;
    while (i < n && ((s[i] >= '0' && s[i] <= '9') || s[i] == ';'))
        i++;
    return i < n && s[i] < 128 && ((s[i] | 32) >= 'a' && (s[i] | 32) <= 'z') ? i + 1 : 0;
}

/* Character-level fixes of one pass, in ftfy's order: escapes, mojibake, C1 controls,
 * ligatures, width, quotes, line breaks, control characters. */
static void ftfy_char_fixes(const cpbuf *in, cpbuf *out) {
    out->n = 0;
    int after_fix = 0;
    for (size_t i = 0; i < in->n;) {
        uint32_t c = in->cp[i];
        size_t used = c == 0x1B ? terminal_escape_len(in->cp + i, in->n - i) : 0;
        if (used) {
            i += used;
            continue;
        }
        after_fix = (used = fix_mojibake_at(in->cp + i, in->n - i, after_fix, out)) > 0;
        if (used) {
            i += used;
            continue;
        }
        i++;
        const char *lig = ligature(c);
        if (c >= 0x80 && c <= 0x9F)
            c = cp1252_high[c - 0x80]; /* U+0085 too: ftfy fixes it before line breaks */
        if (lig)
            push_utf8_literal(out, lig);
        else if (c >= 0xFF01 && c <= 0xFFEF) {
            cpbuf one = {0};
            cp_push(&one, c);
            cp_normalize(&one, 1);
            for (size_t k = 0; k < one.n; k++)
                cp_push(out, one.cp[k]);
            out->oom |= one.oom;
            free(one.cp);
        } else if (c == 0x3000)
            cp_push(out, ' ');
        else if (c == 0x2BC || (c >= 0x2018 && c <= 0x201B))
            cp_push(out, '\'');
        else if (c >= 0x201C && c <= 0x201F)
            cp_push(out, '"');
        else if (c == '\r') {
            if (i < in->n && in->cp[i] == '\n') i++;
            cp_push(out, '\n');
        } else if (c == 0x2028 || c == 0x2029)
            cp_push(out, '\n');
        else if (!is_ftfy_control(c))
            cp_push(out, c);
    }
}

/* ftfy.fix_text on one line (with its '\n'): the passes until nothing changes. */
static void ftfy_line(cpbuf *line, int unescape, cpbuf *tmp) {
    for (int pass = 0; pass < 8 && !line->oom; pass++) {
        cpbuf before = {0};
        for (size_t k = 0; k < line->n; k++)
            cp_push(&before, line->cp[k]);
        if (unescape) {
            html_unescape(line, tmp);
            cp_swap(line, tmp);
        }
        ftfy_char_fixes(line, tmp);
        cp_swap(line, tmp);
        cp_normalize(line, 0);
        int same = cp_equal(&before, line);
        line->oom |= before.oom | tmp->oom;
        free(before.cp);
        if (same) break;
    }
}

/* ftfy.fix_text: line by line; HTML unescaping stops for good at the first line holding '<'. */
static void ftfy_fix(const cpbuf *in, cpbuf *out) {
    cpbuf line = {0}, tmp = {0};
    int unescape = 1;
    out->n = 0;
    for (size_t i = 0; i < in->n;) {
        line.n = 0;
        while (i < in->n) {
            cp_push(&line, in->cp[i]);
            if (in->cp[i++] == '\n') break;
        }
        for (size_t k = 0; k < line.n && unescape; k++)
            if (line.cp[k] == '<') unescape = 0;
        ftfy_line(&line, unescape, &tmp);
        for (size_t k = 0; k < line.n; k++)
            cp_push(out, line.cp[k]);
        out->oom |= line.oom | tmp.oom;
    }
    free(line.cp);
    free(tmp.cp);
}

/* ------------------------------------------------------------------ whitespace and case */

/* The regex module's \s: the Unicode White_Space property. */
static int is_regex_space(uint32_t c) {
    return (c >= 9 && c <= 13) || c == ' ' || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

/* Python's str.isspace, which str.strip uses: White_Space plus U+001C..U+001F. */
static int is_py_space(uint32_t c) {
    return is_regex_space(c) || (c >= 0x1C && c <= 0x1F);
}

/* strip, runs of \s to one space, strip. */
static void collapse_whitespace(const cpbuf *in, cpbuf *out) {
    size_t a = 0, b = in->n;
    while (a < b && is_py_space(in->cp[a]))
        a++;
    while (b > a && is_py_space(in->cp[b - 1]))
        b--;
    out->n = 0;
    for (size_t i = a; i < b; i++) {
        if (is_regex_space(in->cp[i])) {
            while (i + 1 < b && is_regex_space(in->cp[i + 1]))
                i++;
            cp_push(out, ' ');
        } else
            cp_push(out, in->cp[i]);
    }
    a = 0;
    while (a < out->n && is_py_space(out->cp[a]))
        a++;
    while (out->n > a && is_py_space(out->cp[out->n - 1]))
        out->n--;
    if (a) {
        memmove(out->cp, out->cp + a, (out->n - a) * sizeof *out->cp);
        out->n -= a;
    }
}

static int is_cased(uint32_t c) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT ||
           utf8proc_islower((utf8proc_int32_t)c) || utf8proc_isupper((utf8proc_int32_t)c);
}

/* Unicode's Case_Ignorable: Mn Me Cf Lm Sk plus the word-break MidLetter/MidNumLet/quote set. */
static int is_case_ignorable(uint32_t c) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_ME || k == UTF8PROC_CATEGORY_CF ||
           k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_SK || c == '\'' || c == '.' ||
           c == ':' || c == 0xB7 || c == 0x387 || c == 0x55F || c == 0x5F4 || c == 0x2018 ||
           c == 0x2019 || c == 0x2024 || c == 0x2027 || c == 0xFE13 || c == 0xFE52 || c == 0xFE55 ||
           c == 0xFF07 || c == 0xFF0E || c == 0xFF1A;
}

/* Python's Final_Sigma test for the Σ at s[i]. */
static int final_sigma(const uint32_t *s, size_t n, size_t i) {
    size_t j = i;
    while (j > 0 && is_case_ignorable(s[j - 1]))
        j--;
    if (j == 0 || !is_cased(s[j - 1])) return 0;
    j = i + 1;
    while (j < n && is_case_ignorable(s[j]))
        j++;
    return !(j < n && is_cased(s[j]));
}

/* Python's str.lower: full lower-case mapping (only U+0130 expands) and Final_Sigma. */
static void py_lower(const cpbuf *in, cpbuf *out) {
    out->n = 0;
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->cp[i];
        if (c == 0x130) {
            cp_push(out, 'i');
            cp_push(out, 0x307);
        } else if (c == 0x3A3)
            cp_push(out, final_sigma(in->cp, in->n, i) ? 0x3C2 : 0x3C3);
        else
            cp_push(out, (uint32_t)utf8proc_tolower((utf8proc_int32_t)c));
    }
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
    while (i < n && !is_regex_space(s[i]) && !is_letter(s[i]) && !is_number(s[i]))
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
            size_t slot = pair_slot(&t->merges, pair_key(w[i], w[i + 1]));
            if (t->merges.keys[slot] && t->merges.ranks[slot] < best_rank) {
                best_rank = t->merges.ranks[slot];
                a = w[i];
                b = w[i + 1];
                merged = t->merges.merged[slot];
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
    if (str_map_get(&t->word_cache, (const char *)bytes, len, &at)) {
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
        if (str_map_put(&t->word_cache, (const char *)bytes, len, (int32_t)t->cache_len))
            t->cache_len += n + 1;
    }
    return GL_OK;
}

/* The cleaned text's BPE ids (without SOT/EOT) into a malloc'ed array. */
static gl_status encode_clean(gl_tokenizer *t, const cpbuf *text, int32_t **ids, size_t *n_ids,
                              gl_error *err) {
    size_t cap = 0;
    *ids = NULL;
    *n_ids = 0;
    unsigned char *bytes = malloc(text->n * 4 + 1);
    if (!bytes) return gl_fail(err, GL_ERR_NOMEM, "tokenizer: out of memory");
    gl_status s = GL_OK;
    for (size_t i = 0; i < text->n && !s;) {
        if (is_regex_space(text->cp[i])) {
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

/* basic_clean + whitespace_clean + lower, as simple_tokenizer.encode does. */
static gl_status clean_text(const char *utf8, size_t len, cpbuf *text, gl_error *err) {
    cpbuf a = {0}, b = {0};
    gl_status s = decode_utf8(utf8, len, &a, err);
    if (!s) {
        ftfy_fix(&a, &b);
        html_unescape(&b, &a);
        html_unescape(&a, &b);
        collapse_whitespace(&b, &a);
        py_lower(&a, text);
        if (a.oom || b.oom || text->oom) s = gl_fail(err, GL_ERR_NOMEM, "tokenizer: out of memory");
    }
    free(a.cp);
    free(b.cp);
    return s;
}

gl_status gl_tokenizer_encode(gl_tokenizer *tok, const char *utf8, int32_t ids[GL_CLIP_CONTEXT],
                              int *n_untruncated, gl_error *err) {
    return gl_tokenizer_encode_len(tok, utf8, strlen(utf8), ids, n_untruncated, err);
}

gl_status gl_tokenizer_encode_len(gl_tokenizer *tok, const char *utf8, size_t len,
                                  int32_t ids[GL_CLIP_CONTEXT], int *n_untruncated, gl_error *err) {
    cpbuf text = {0};
    int32_t *body = NULL;
    size_t n = 0;
    gl_status s = clean_text(utf8, len, &text, err);
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
