/* fuzz_config_json.c: a model's config.json (CLIPConfig, nested or *_config_dict forms). */
#include "clip/clip_internal.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    clip_config cfg;
    gl_error err = {0};
    clip_config_load(fuzz_file("config.json", data, size), &cfg, &err);
    return 0;
}
