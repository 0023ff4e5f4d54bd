/* fuzz_preproc_json.c: preprocessor_config.json (CLIPImageProcessor settings, old and new forms),
 * then the resize rule it implies on a few image sizes. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gl_preproc_config cfg = gl_preproc_default_config(224);
    gl_error err = {0};
    if (gl_preproc_config_read(fuzz_file("preprocessor_config.json", data, size), &cfg, &err) ==
        GL_OK) {
        static const int sides[][2] = {{1, 1}, {640, 480}, {3, 20000}, {65535, 2}};
        for (int i = 0; i < 4; i++) {
            int w, h;
            gl_preproc_resized_size(&cfg, sides[i][0], sides[i][1], &w, &h);
        }
    }
    return 0;
}
