/* fuzz_pth.c: a whole .pth file (zip container, data.pkl, storages): opened from memory, its state
 * dict found, and every small tensor copied out as float32. */
#include "io/torchzip.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static float buf[4096];
    gl_error err = {0};
    gl_pth *p = gl_pth_open_memory("fuzz.pth", data, size, &err);
    if (p) {
        int budget = 10000;
        fuzz_pth_walk(p, gl_pth_root(p), 0, &budget, buf);
        gl_pth_state_dict(p, &err);
        gl_pth_free(p);
    }
    return 0;
}
