/* textclean.c: the CLIP tokenizer's text cleaning, as openai/CLIP's simple_tokenizer.py does it
 * before BPE: an ftfy subset, html.unescape twice, whitespace collapse, str.lower.
 *
 * What matches the reference exactly: html.unescape (numeric references with Python's replacement
 * rules; named entities: HTML 4.01's 253 plus &apos;, with HTML5 code points, and the legacy names
 * that need no ';'), the regex module's \s (White_Space), str.strip, str.lower (full mapping of
 * U+0130 to "i" + U+0307, and the Final_Sigma rule).
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
#include "clip/textclean.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define TEXT_MAX_BYTES (16u << 20)

/* ------------------------------------------------------------------ code point buffers */

static void clip_cp_push(clip_cpbuf *b, uint32_t c) {
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

static void cp_swap(clip_cpbuf *a, clip_cpbuf *b) {
    clip_cpbuf t = *a;
    *a = *b;
    *b = t;
    b->n = 0;
}

static int cp_equal(const clip_cpbuf *a, const clip_cpbuf *b) {
    return a->n == b->n && (!a->n || !memcmp(a->cp, b->cp, a->n * sizeof *a->cp));
}

static gl_status decode_utf8(const char *s, size_t len, clip_cpbuf *out, gl_error *err) {
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
        clip_cp_push(out, (uint32_t)c);
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
static void cp_normalize(clip_cpbuf *b, int compat) {
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
static size_t unescape_numeric(const uint32_t *s, size_t n, clip_cpbuf *out) {
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
        clip_cp_push(out, 0xFFFD);
    else if (num == 0x0D)
        clip_cp_push(out, '\r');
    else if (num >= 0x80 && num <= 0x9F)
        clip_cp_push(out, cp1252_high[num - 0x80]);
    else if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF)
        clip_cp_push(out, 0xFFFD);
    else if ((num >= 1 && num <= 8) || num == 0x0B || (num >= 0x0E && num <= 0x1F) || num == 0x7F ||
             (num >= 0xFDD0 && num <= 0xFDEF) || (num & 0xFFFE) == 0xFFFE)
        ; /* Python drops these */
    else
        clip_cp_push(out, (uint32_t)num);
    return i;
}

/* Named reference at s[0] == '&': Python's rule (exact name with ';', else the longest legacy
 * prefix). Returns chars consumed (the name and ';' even when unknown, as Python's regex does). */
static size_t unescape_named(const uint32_t *s, size_t n, clip_cpbuf *out) {
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
        clip_cp_push(out, c);
        return used;
    }
    size_t whole = name_len + (size_t)semi; /* Python's s, ';' included */
    for (size_t x = whole - 1; x >= 2; x--) {
        if (x > name_len) continue;
        c = legacy_entity(s + 1, x);
        if (c) {
            clip_cp_push(out, c);
            for (size_t k = 1 + x; k < used; k++)
                clip_cp_push(out, s[k]);
            return used;
        }
    }
    for (size_t k = 0; k < used; k++)
        clip_cp_push(out, s[k]);
    return used;
}

static void html_unescape(const clip_cpbuf *in, clip_cpbuf *out) {
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
            clip_cp_push(out, in->cp[i++]);
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
    if (!n) return 0; /* fix_mojibake_at looks past a sequence that may end the text */
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
static size_t fix_mojibake_at(const uint32_t *s, size_t n, int after_fix, clip_cpbuf *out) {
    uint32_t c, next;
    size_t k = mojibake_at(s, n, &c);
    if (!k) return 0;
    int alone_ok = k > 2 || s[0] == 0xC2 || s[0] == 0xC3;
    if (!alone_ok && !after_fix && !mojibake_at(s + k, n - k, &next)) return 0;
    clip_cp_push(out, c);
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

static void push_utf8_literal(clip_cpbuf *out, const char *s) {
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
static void ftfy_char_fixes(const clip_cpbuf *in, clip_cpbuf *out) {
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
            clip_cpbuf one = {0};
            clip_cp_push(&one, c);
            cp_normalize(&one, 1);
            for (size_t k = 0; k < one.n; k++)
                clip_cp_push(out, one.cp[k]);
            out->oom |= one.oom;
            free(one.cp);
        } else if (c == 0x3000)
            clip_cp_push(out, ' ');
        else if (c == 0x2BC || (c >= 0x2018 && c <= 0x201B))
            clip_cp_push(out, '\'');
        else if (c >= 0x201C && c <= 0x201F)
            clip_cp_push(out, '"');
        else if (c == '\r') {
            if (i < in->n && in->cp[i] == '\n') i++;
            clip_cp_push(out, '\n');
        } else if (c == 0x2028 || c == 0x2029)
            clip_cp_push(out, '\n');
        else if (!is_ftfy_control(c))
            clip_cp_push(out, c);
    }
}

/* ftfy.fix_text on one line (with its '\n'): the passes until nothing changes. */
static void ftfy_line(clip_cpbuf *line, int unescape, clip_cpbuf *tmp) {
    for (int pass = 0; pass < 8 && !line->oom; pass++) {
        clip_cpbuf before = {0};
        for (size_t k = 0; k < line->n; k++)
            clip_cp_push(&before, line->cp[k]);
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
static void ftfy_fix(const clip_cpbuf *in, clip_cpbuf *out) {
    clip_cpbuf line = {0}, tmp = {0};
    int unescape = 1;
    out->n = 0;
    for (size_t i = 0; i < in->n;) {
        line.n = 0;
        while (i < in->n) {
            clip_cp_push(&line, in->cp[i]);
            if (in->cp[i++] == '\n') break;
        }
        for (size_t k = 0; k < line.n && unescape; k++)
            if (line.cp[k] == '<') unescape = 0;
        ftfy_line(&line, unescape, &tmp);
        for (size_t k = 0; k < line.n; k++)
            clip_cp_push(out, line.cp[k]);
        out->oom |= line.oom | tmp.oom;
    }
    free(line.cp);
    free(tmp.cp);
}

/* ------------------------------------------------------------------ whitespace and case */

/* The regex module's \s: the Unicode White_Space property. */
int clip_is_space(uint32_t c) {
    return (c >= 9 && c <= 13) || c == ' ' || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

/* Python's str.isspace, which str.strip uses: White_Space plus U+001C..U+001F. */
static int is_py_space(uint32_t c) {
    return clip_is_space(c) || (c >= 0x1C && c <= 0x1F);
}

/* strip, runs of \s to one space, strip. */
static void collapse_whitespace(const clip_cpbuf *in, clip_cpbuf *out) {
    size_t a = 0, b = in->n;
    while (a < b && is_py_space(in->cp[a]))
        a++;
    while (b > a && is_py_space(in->cp[b - 1]))
        b--;
    out->n = 0;
    for (size_t i = a; i < b; i++) {
        if (clip_is_space(in->cp[i])) {
            while (i + 1 < b && clip_is_space(in->cp[i + 1]))
                i++;
            clip_cp_push(out, ' ');
        } else
            clip_cp_push(out, in->cp[i]);
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
static void py_lower(const clip_cpbuf *in, clip_cpbuf *out) {
    out->n = 0;
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->cp[i];
        if (c == 0x130) {
            clip_cp_push(out, 'i');
            clip_cp_push(out, 0x307);
        } else if (c == 0x3A3)
            clip_cp_push(out, final_sigma(in->cp, in->n, i) ? 0x3C2 : 0x3C3);
        else
            clip_cp_push(out, (uint32_t)utf8proc_tolower((utf8proc_int32_t)c));
    }
}

/* basic_clean + whitespace_clean + lower, as simple_tokenizer.encode does. */
gl_status clip_clean_text(const char *utf8, size_t len, clip_cpbuf *text, gl_error *err) {
    clip_cpbuf a = {0}, b = {0};
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
