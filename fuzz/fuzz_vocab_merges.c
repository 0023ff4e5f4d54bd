/* fuzz_vocab_merges.c: a tokenizer's vocab.json and merges.txt together: the input is the vocab,
 * a NUL byte, then the merges (no NUL: the merges are empty). A tokenizer that loads encodes a
 * fixed sentence. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t vlen = nul ? (size_t)(nul - data) : size;
    char vocab[600], merges[600];
    snprintf(vocab, sizeof vocab, "%s", fuzz_file("vocab.json", data, vlen));
    snprintf(merges, sizeof merges, "%s",
             fuzz_file("merges.txt", nul ? nul + 1 : data + size, nul ? size - vlen - 1 : 0));
    gl_error err = {0};
    gl_tokenizer *tok = gl_tokenizer_load(vocab, merges, &err);
    if (tok) {
        int32_t ids[GL_CLIP_CONTEXT];
        gl_tokenizer_encode(tok, "a photo of a golf course, it's 3:45pm!", ids, NULL, &err);
    }
    gl_tokenizer_free(tok);
    return 0;
}
