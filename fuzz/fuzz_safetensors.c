/* fuzz_safetensors.c: a .safetensors file as downloaded: header length, JSON header, dtypes,
 * shapes and offsets against the file; every F16/BF16 tensor is widened, every byte digested. */
#include "fuzz.h"
#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file("model.safetensors", data, size);
    gl_safetensors st;
    gl_error err = {0};
    if (gl_st_open(path, &st, &err) == GL_OK) {
        float buf[256];
        for (int i = 0; i < st.n_tensors; i++) {
            const gl_st_tensor *t = &st.tensors[i];
            if (gl_st_find(&st, t->name) == NULL) abort(); /* sorted and findable */
            if (t->dtype == GL_ST_F16 || t->dtype == GL_ST_BF16)
                gl_st_widen(t->dtype, t->data, t->count < 256 ? t->count : 256, buf);
            else if (t->dtype == GL_ST_F32 && t->count)
                memcpy(buf, t->data, (t->count < 256 ? t->count : 256) * 4);
        }
        uint64_t digest[2];
        gl_st_digest(&st, digest);
    }
    gl_st_close(&st);
    return 0;
}
