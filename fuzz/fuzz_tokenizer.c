/* fuzz_tokenizer.c: arbitrary text (any bytes: bad UTF-8, HTML entities, mojibake, huge words)
 * through the shipped CLIP BPE tokenizer, loaded once. */
#include "fuzz.h"

static gl_tokenizer *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    char dir[4096], vocab[4200], merges[4200];
    gl_error err = {0};
    if (gl_data_path("clip-bpe", dir, sizeof dir, &err)) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", err.msg);
        abort();
    }
    snprintf(vocab, sizeof vocab, "%s/vocab.json", dir);
    snprintf(merges, sizeof merges, "%s/merges.txt", dir);
    tok = gl_tokenizer_load(vocab, merges, &err);
    if (!tok) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", err.msg);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int32_t ids[GL_CLIP_CONTEXT];
    int n = 0;
    gl_error err = {0};
    if (gl_tokenizer_encode_len(tok, (const char *)data, size, ids, &n, &err) == GL_OK)
        for (int i = 0; i < GL_CLIP_CONTEXT; i++)
            if (ids[i] < 0) abort();
    return 0;
}
