/* textclean.h: the text cleaning CLIP's tokenizer applies before BPE (ftfy subset, HTML unescape,
 * whitespace, lower case), on buffers of Unicode code points. */
#ifndef GEOLABEL_TEXTCLEAN_H
#define GEOLABEL_TEXTCLEAN_H

#include "geolabel.h"

/* A growable code point buffer; oom is set (and pushes stop) when memory runs out. Zero-initialise;
 * the owner frees cp. */
typedef struct {
    uint32_t *cp;
    size_t n, cap;
    int oom;
} clip_cpbuf;

/* basic_clean + whitespace_clean + lower, as simple_tokenizer.encode does, of len bytes of UTF-8
 * into *text (zero-initialised; the caller frees text->cp). Errors: GL_ERR_FORMAT (invalid
 * UTF-8, naming the byte offset), GL_ERR_LIMIT (over 16 MiB), GL_ERR_NOMEM. */
gl_status clip_clean_text(const char *utf8, size_t len, clip_cpbuf *text, gl_error *err);

/* The regex module's \s: the Unicode White_Space property (the pre-tokenizer splits on it). */
int clip_is_space(uint32_t c);

#endif
