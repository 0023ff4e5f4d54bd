/* fuzz_openclip_load.c: the open_clip loader on a fixed tiny architecture: the input is the
 * weights, as an open_clip folder's open_clip_pytorch_model.bin or as a training checkpoint with
 * --arch (first byte's low bit), then every tensor's name, shape and bytes are checked and read. */
#include "clip/sources.h"
#include "fuzz.h"

#include <sys/stat.h>

/* The shape every tensor is checked against (fuzz/make_corpus.py writes seeds for it). */
static const char ARCH[] =
    "{\"model_cfg\": {\"embed_dim\": 4, \"quick_gelu\": true,"
    " \"vision_cfg\": {\"image_size\": 16, \"patch_size\": 8, \"width\": 4, \"head_width\": 2,"
    " \"layers\": 1}, \"text_cfg\": {\"context_length\": 77, \"vocab_size\": 8, \"width\": 4,"
    " \"heads\": 2, \"layers\": 1}}}";

static char folder[600], folder_weights[700], checkpoint[600], arch_file[600];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    snprintf(folder, sizeof folder, "%s", fuzz_path("oc"));
    if (mkdir(folder, 0700) != 0) abort();
    char cfg[700];
    snprintf(cfg, sizeof cfg, "%s/open_clip_config.json", folder);
    FILE *fp = fopen(cfg, "w");
    if (!fp || fputs(ARCH, fp) < 0 || fclose(fp) != 0) abort();
    snprintf(folder_weights, sizeof folder_weights, "%s/open_clip_pytorch_model.bin", folder);
    snprintf(arch_file, sizeof arch_file, "%s",
             fuzz_file("tiny.json", (const uint8_t *)ARCH, sizeof ARCH - 1));
    snprintf(checkpoint, sizeof checkpoint, "%s", fuzz_path("epoch_1.pt"));
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int as_folder = data[0] & 1;
    const char *path = as_folder ? folder_weights : checkpoint;
    FILE *fp = fopen(path, "wb");
    if (!fp || (size > 1 && fwrite(data + 1, 1, size - 1, fp) != size - 1) || fclose(fp) != 0)
        abort();
    clip_source src = {0};
    gl_error err = {0};
    if (clip_source_open(as_folder ? folder : checkpoint, as_folder ? NULL : arch_file, 1, &src,
                         &err) == GL_OK) {
        uint64_t d[2];
        clip_source_digest(&src, d); /* reads every byte of every tensor */
    }
    clip_source_close(&src);
    return 0;
}
