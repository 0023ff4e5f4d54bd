/* fuzz_pickle.c: the restricted unpickler with torch's hooks: the input is data.pkl inside a
 * well-formed checkpoint zip whose storages "0" (64 bytes) and "1" (6 bytes) exist, so the fuzzer
 * spends its time on opcodes, globals, persistent ids and tensor rebuilds, not on zip records. */
#include "io/torchzip.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static float buf[4096];
    static const uint8_t storage0[64] = {0, 0, 128, 63, 0, 0, 0, 64}, storage1[6] = {1, 2, 3};
    const char *names[] = {"archive/data.pkl", "archive/byteorder", "archive/data/0",
                           "archive/data/1"};
    const uint8_t *datas[] = {data, (const uint8_t *)"little", storage0, storage1};
    size_t sizes[] = {size, 6, sizeof storage0, sizeof storage1};
    uint8_t *zip;
    size_t n = fuzz_zip(names, datas, sizes, 4, &zip);
    gl_error err = {0};
    gl_pth *p = gl_pth_open_memory("fuzz.pth", zip, n, &err);
    if (p) {
        int budget = 10000;
        fuzz_pth_walk(p, gl_pth_root(p), 0, &budget, buf);
        gl_pth_state_dict(p, &err);
        gl_pth_free(p);
    }
    free(zip);
    return 0;
}
