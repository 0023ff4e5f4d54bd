/* fuzz_openclip_config.c: an open_clip architecture file (open_clip_config.json with model_cfg and
 * preprocess_cfg, or a bare model_cfg as --arch CONFIG.json takes it). */
#include "clip/sources.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    clip_config cfg;
    gl_preproc_config pp;
    gl_error err = {0};
    clip_openclip_config_load(fuzz_file("open_clip_config.json", data, size), "fuzz-quickgelu",
                              &cfg, &pp, &err);
    return 0;
}
