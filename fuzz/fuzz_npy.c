/* fuzz_npy.c: a .npy file (reference arrays, embeddings): magic, header dict, shape against the
 * payload. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gl_error err = {0};
    gl_npy *a = gl_npy_load(fuzz_file("a.npy", data, size), &err);
    if (a) {
        size_t bytes = a->count * a->item_size; /* the reader promised this is the payload */
        volatile unsigned char sink = 0;
        if (bytes) sink ^= ((unsigned char *)a->data)[bytes - 1];
        (void)sink;
    }
    gl_npy_free(a);
    return 0;
}
