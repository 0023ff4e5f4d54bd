/* test_sources.c: every --model form against references nobody here wrote: pytorch_model.bin
 * against transformers' outputs (fixtures/expected/clip-tiny-b32), both open_clip layouts against
 * open_clip v2.20.0's own pixel values, token ids, embeddings and logits, HF folders converted
 * from each reloading with the same outputs, and open_clip's shipped architectures. */
#include "clip/sources.h"
#include "harness.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const IMAGES[] = {
    "00_rocket.jpg",      "01_chelsea.png",          "02_astronaut_q90_420.jpg",
    "03_camera_gray.png", "04_tall_rgba_97x263.png", "05_tiny_5x7.png"};
#define N_IMAGES 6

/* The two open_clip fixtures: the folder spec and --arch as a user would pass them. */
typedef struct {
    const char *name, *spec, *arch;
} oc_fixture;

static oc_fixture oc_fixtures(int i) {
    static char spec[2][1024], arch[1024];
    if (i == 0) {
        snprintf(spec[0], sizeof spec[0], "%s",
                 t_path("fixtures/openclip/openclip-tiny-quickgelu"));
        return (oc_fixture){"openclip-tiny-quickgelu", spec[0], NULL};
    }
    snprintf(spec[1], sizeof spec[1], "%s",
             t_path("fixtures/openclip/openclip-tiny-gelu/epoch_3.pt"));
    snprintf(arch, sizeof arch, "%s",
             t_path("fixtures/openclip/openclip-tiny-gelu/openclip-tiny-gelu.json"));
    return (oc_fixture){"openclip-tiny-gelu", spec[1], arch};
}

static int load_npy(const char *path, gl_npy **a) {
    gl_error err = {0};
    *a = gl_npy_load(path, &err);
    CHECK(*a != NULL, "%s: %s", path, err.msg);
    return *a != NULL;
}

static gl_clip *load(const char *spec, const char *arch, int threads, int batch, gl_error *err) {
    gl_clip_params p = gl_clip_default_params();
    p.threads = threads;
    p.max_batch = batch;
    p.arch = arch;
    return gl_clip_load(spec, &p, err);
}

/* logits[i][j] = scale * cos(image i, text j), in double as the reference's float32 math allows. */
static void logits_of(const float *img, int n, const float *txt, int m, int dim, float scale,
                      float *out) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++) {
            double s = 0, a = 0, b = 0;
            for (int k = 0; k < dim; k++) {
                s += (double)img[i * dim + k] * txt[j * dim + k];
                a += (double)img[i * dim + k] * img[i * dim + k];
                b += (double)txt[j * dim + k] * txt[j * dim + k];
            }
            out[i * m + j] = (float)(scale * s / sqrt(a * b));
        }
}

static void image_paths(const char **paths) {
    static char buf[N_IMAGES][1024];
    for (int i = 0; i < N_IMAGES; i++) {
        snprintf(buf[i], sizeof buf[i], "%s", t_path("fixtures/expected/images/%s", IMAGES[i]));
        paths[i] = buf[i];
    }
}

/* The checks every fixture shares: n image and m text embeddings against the reference's to
 * 5e-5 (abs and rel), and the logits from them to 2e-4 abs + 5e-5 rel; lg: n * m floats of
 * scratch. */
static void check_embeds(gl_clip *c, const char *what, const float *img, int n, const float *txt,
                         int m, const gl_npy *img_e, const gl_npy *txt_e, const gl_npy *lg_e,
                         float *lg) {
    int P = gl_clip_projection_dim(c);
    char label[200];
    snprintf(label, sizeof label, "%s image_embeds", what);
    CHECK_CLOSE(label, img, img_e->data, (size_t)n * P, 5e-5, 5e-5);
    snprintf(label, sizeof label, "%s text_embeds", what);
    CHECK_CLOSE(label, txt, txt_e->data, (size_t)m * P, 5e-5, 5e-5);
    logits_of(img, n, txt, m, P, gl_clip_logit_scale(c), lg);
    snprintf(label, sizeof label, "%s logits_per_image", what);
    CHECK_CLOSE(label, lg, lg_e->data, (size_t)n * m, 2e-4, 5e-5);
}

/* ------------------------------------------------------------------ pytorch_model.bin */

static void check_hf_expected(gl_clip *c, const char *what) {
    gl_npy *px = NULL, *ids = NULL, *img_e = NULL, *txt_e = NULL, *lg_e = NULL;
    if (!load_npy(t_path("fixtures/expected/clip-tiny-b32/pixel_values.npy"), &px) ||
        !load_npy(t_path("fixtures/expected/input_ids.npy"), &ids) ||
        !load_npy(t_path("fixtures/expected/clip-tiny-b32/image_embeds.npy"), &img_e) ||
        !load_npy(t_path("fixtures/expected/clip-tiny-b32/text_embeds.npy"), &txt_e) ||
        !load_npy(t_path("fixtures/expected/clip-tiny-b32/logits_per_image.npy"), &lg_e)) {
        gl_npy_free(px), gl_npy_free(ids), gl_npy_free(img_e), gl_npy_free(txt_e);
        return;
    }
    int n = (int)px->shape[0], m = (int)ids->shape[0], P = gl_clip_projection_dim(c);
    float *img = calloc((size_t)n * P, 4), *txt = calloc((size_t)m * P, 4),
          *lg = calloc((size_t)n * m, 4);
    int32_t *ids32 = malloc((size_t)m * GL_CLIP_CONTEXT * 4);
    for (size_t i = 0; i < (size_t)m * GL_CLIP_CONTEXT; i++) /* int32 or int64 on disk */
        ids32[i] = ids->item_size == 8 ? (int32_t)((const int64_t *)ids->data)[i]
                                       : ((const int32_t *)ids->data)[i];
    gl_error err = {0};
    CHECK_OK(gl_clip_encode_images(c, px->data, n, img, &err), &err);
    CHECK_OK(gl_clip_encode_tokens(c, ids32, m, txt, &err), &err);
    check_embeds(c, what, img, n, txt, m, img_e, txt_e, lg_e, lg);
    free(img);
    free(txt);
    free(lg);
    free(ids32);
    gl_npy_free(px);
    gl_npy_free(ids);
    gl_npy_free(img_e);
    gl_npy_free(txt_e);
    gl_npy_free(lg_e);
}

static void test_torchbin_folder(void) {
    gl_error err = {0};
    for (int threads = 1; threads <= 2; threads++) {
        gl_clip *c = load(t_path("fixtures/clip-tiny-b32-torchbin"), NULL, threads, 4, &err);
        CHECK(c != NULL, "%s", err.msg);
        if (!c) return;
        check_hf_expected(c, "torchbin");
        gl_clip_free(c);
    }
    /* the same weights in either container are the same model to an embedding cache */
    gl_clip *a = load(t_path("fixtures/clip-tiny-b32-torchbin"), NULL, 1, 1, &err);
    gl_clip *b = load(t_path("fixtures/clip-tiny-b32"), NULL, 1, 1, &err);
    CHECK(a && b, "%s", err.msg);
    if (a && b) CHECK(!strcmp(gl_clip_model_hash(a), gl_clip_model_hash(b)), "same hash");
    gl_clip_free(a);
    gl_clip_free(b);
}

/* ------------------------------------------------------------------ open_clip */

/* The fixture's prompts, from its inputs.json (cJSON: nobody here wrote it). */
static int read_texts(const char *name, char ***texts) {
    FILE *fp = fopen(t_path("fixtures/openclip/%s/expected/inputs.json", name), "rb");
    if (!fp) return 0;
    char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = 0;
    cJSON *j = cJSON_Parse(buf);
    const cJSON *arr = cJSON_GetObjectItem(j, "texts"), *e;
    int count = cJSON_GetArraySize(arr), i = 0;
    *texts = calloc((size_t)count, sizeof **texts);
    cJSON_ArrayForEach(e, arr)(*texts)[i++] = strdup(e->valuestring);
    cJSON_Delete(j);
    return count;
}

static void check_open_clip(gl_clip *c, const oc_fixture *f, const char *what, int pixels_too) {
    gl_npy *px = NULL, *ids = NULL, *img_e = NULL, *txt_e = NULL, *lg_e = NULL;
    if (!load_npy(t_path("fixtures/openclip/%s/expected/pixel_values.npy", f->name), &px) ||
        !load_npy(t_path("fixtures/openclip/%s/expected/input_ids.npy", f->name), &ids) ||
        !load_npy(t_path("fixtures/openclip/%s/expected/image_embeds.npy", f->name), &img_e) ||
        !load_npy(t_path("fixtures/openclip/%s/expected/text_embeds.npy", f->name), &txt_e) ||
        !load_npy(t_path("fixtures/openclip/%s/expected/logits_per_image.npy", f->name), &lg_e)) {
        gl_npy_free(px), gl_npy_free(ids), gl_npy_free(img_e), gl_npy_free(txt_e);
        return;
    }
    char **texts = NULL;
    int m = read_texts(f->name, &texts), n = N_IMAGES, P = gl_clip_projection_dim(c);
    CHECK(m == (int)ids->shape[0] && n == (int)px->shape[0], "%s: %d texts", what, m);
    size_t per = (size_t)3 * 224 * 224;
    float *img = calloc((size_t)n * P, 4), *txt = calloc((size_t)m * P, 4),
          *lg = calloc((size_t)n * m, 4), *mine = calloc(per, 4);
    gl_error err = {0};
    char label[200];
    /* pixel values exactly, image by image, from the picture files */
    for (int i = 0; pixels_too && i < n; i++) {
        gl_image *im = gl_image_load(t_path("fixtures/expected/images/%s", IMAGES[i]), &err);
        CHECK(im != NULL, "%s", err.msg);
        if (!im) continue;
        CHECK_OK(gl_preprocess(gl_clip_preproc_config(c), im, mine, &err), &err);
        snprintf(label, sizeof label, "%s pixel_values %s", what, IMAGES[i]);
        CHECK_CLOSE(label, mine, (const float *)px->data + per * i, per, 0, 0);
        gl_image_free(im);
    }
    /* token ids exactly */
    gl_tokenizer *tok = gl_clip_tokenizer(c);
    for (int j = 0; j < m; j++) {
        int32_t got[GL_CLIP_CONTEXT];
        CHECK_OK(gl_tokenizer_encode(tok, texts[j], got, NULL, &err), &err);
        const int64_t *want = (const int64_t *)ids->data + (size_t)j * GL_CLIP_CONTEXT;
        int same = 1;
        for (int k = 0; k < GL_CLIP_CONTEXT; k++)
            same &= got[k] == want[k];
        CHECK(same, "%s input_ids of text %d", what, j);
    }
    /* embeddings from the files, through our own decode and preprocessing */
    const char *paths[N_IMAGES];
    image_paths(paths);
    CHECK_OK(gl_clip_encode_image_files(c, paths, n, img, &err), &err);
    CHECK_OK(gl_clip_encode_texts(c, (const char *const *)texts, m, txt, &err), &err);
    check_embeds(c, what, img, n, txt, m, img_e, txt_e, lg_e, lg);
    /* and from open_clip's own pixel values */
    CHECK_OK(gl_clip_encode_images(c, px->data, n, img, &err), &err);
    snprintf(label, sizeof label, "%s image_embeds from its pixel_values", what);
    CHECK_CLOSE(label, img, img_e->data, (size_t)n * P, 5e-5, 5e-5);
    for (int j = 0; j < m; j++)
        free(texts[j]);
    free(texts);
    free(img);
    free(txt);
    free(lg);
    free(mine);
    gl_npy_free(px);
    gl_npy_free(ids);
    gl_npy_free(img_e);
    gl_npy_free(txt_e);
    gl_npy_free(lg_e);
}

static void test_open_clip_fixtures(void) {
    for (int i = 0; i < 2; i++) {
        oc_fixture f = oc_fixtures(i);
        gl_error err = {0};
        gl_clip *c = load(f.spec, f.arch, 2, 4, &err);
        CHECK(c != NULL, "%s: %s", f.name, err.msg);
        if (!c) continue;
        check_open_clip(c, &f, f.name, 1);
        gl_clip_free(c);
    }
}

/* A training checkpoint without --arch names what is missing. */
static void test_checkpoint_needs_arch(void) {
    gl_error err = {0};
    gl_clip *c = load(oc_fixtures(1).spec, NULL, 1, 1, &err);
    CHECK(c == NULL && err.code == GL_ERR_ARG && strstr(err.msg, "epoch_3.pt") &&
              strstr(err.msg, "--arch"),
          "%s", err.msg);
    gl_clip_free(c);
}

/* ------------------------------------------------------------------ convert round trips */

static void test_convert_round_trip(void) {
    gl_error err = {0};
    const char *specs[3], *archs[3] = {NULL, NULL, NULL};
    char hf[1024];
    snprintf(hf, sizeof hf, "%s", t_path("fixtures/clip-tiny-b32-torchbin"));
    specs[0] = hf;
    oc_fixture f[2] = {oc_fixtures(0), oc_fixtures(1)};
    specs[1] = f[0].spec;
    specs[2] = f[1].spec;
    archs[2] = f[1].arch;
    for (int i = 0; i < 3; i++) {
        char dir[64];
        snprintf(dir, sizeof dir, "converted%d", i);
        CHECK_OK(gl_model_convert(specs[i], archs[i], dir, &err), &err);
        gl_clip *a = load(specs[i], archs[i], 2, 4, &err);
        gl_clip *b = load(dir, NULL, 2, 4, &err);
        CHECK(a && b, "%s: %s", dir, err.msg);
        if (a && b) {
            const char *paths[N_IMAGES];
            image_paths(paths);
            float ea[N_IMAGES * 32], eb[N_IMAGES * 32];
            CHECK_OK(gl_clip_encode_image_files(a, paths, N_IMAGES, ea, &err), &err);
            CHECK_OK(gl_clip_encode_image_files(b, paths, N_IMAGES, eb, &err), &err);
            /* the same floats in the same order through the same code: identical */
            CHECK_CLOSE("round trip image_embeds", eb, ea, N_IMAGES * 32, 0, 0);
            const char *t[2] = {"a satellite image of a forest", "A PHOTO OF A DOG!!!"};
            CHECK_OK(gl_clip_encode_texts(a, t, 2, ea, &err), &err);
            CHECK_OK(gl_clip_encode_texts(b, t, 2, eb, &err), &err);
            CHECK_CLOSE("round trip text_embeds", eb, ea, 2 * 32, 0, 0);
            CHECK(gl_clip_logit_scale(a) == gl_clip_logit_scale(b), "logit scale");
            CHECK(!strcmp(gl_clip_model_hash(a), gl_clip_model_hash(b)) || i > 0, "hash");
            if (i == 0) check_hf_expected(b, "converted torchbin");
            if (i > 0) check_open_clip(b, &f[i - 1], dir, 1);
        }
        gl_clip_free(a);
        gl_clip_free(b);
    }
}

/* ------------------------------------------------------------------ shipped architectures */

static void test_shipped_architectures(void) {
    /* name, image, patch, v width, v layers, v heads (width / head_width), v mlp, text width,
     * text layers, text heads, embed, quick: open_clip's model_configs with its rules */
    static const struct {
        const char *name;
        int image, patch, vw, vl, vh, vmlp, tw, tl, th, embed, quick;
    } want[] = {
        {"ViT-B-32", 224, 32, 768, 12, 12, 3072, 512, 12, 8, 512, 0},
        {"ViT-B-32-quickgelu", 224, 32, 768, 12, 12, 3072, 512, 12, 8, 512, 1},
        {"ViT-B-16", 224, 16, 768, 12, 12, 3072, 512, 12, 8, 512, 0},
        {"ViT-L-14", 224, 14, 1024, 24, 16, 4096, 768, 12, 12, 768, 0},
        {"ViT-L-14-quickgelu", 224, 14, 1024, 24, 16, 4096, 768, 12, 12, 768, 1},
        {"ViT-L-14-336", 336, 14, 1024, 24, 16, 4096, 768, 12, 12, 768, 0},
        {"ViT-H-14", 224, 14, 1280, 32, 16, 5120, 1024, 24, 16, 1024, 0},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        char rel[128], path[4096];
        gl_error err = {0};
        snprintf(rel, sizeof rel, "open_clip/%s.json", want[i].name);
        CHECK_OK(gl_data_path(rel, path, sizeof path, &err), &err);
        clip_config cfg;
        gl_preproc_config pp;
        CHECK_OK(clip_openclip_config_load(path, want[i].name, &cfg, &pp, &err), &err);
        const clip_tower_config *v = &cfg.vision, *t = &cfg.text;
        CHECK(v->image_size == want[i].image && v->patch_size == want[i].patch &&
                  v->hidden == want[i].vw && v->layers == want[i].vl && v->heads == want[i].vh &&
                  v->intermediate == want[i].vmlp && t->hidden == want[i].tw &&
                  t->layers == want[i].tl && t->heads == want[i].th &&
                  t->intermediate == 4 * t->hidden && cfg.projection_dim == want[i].embed &&
                  t->eos_token_id == 2 && t->max_positions == 77 && t->vocab_size == 49408,
              "%s geometry", want[i].name);
        gl_act act = want[i].quick ? GL_ACT_QUICK_GELU : GL_ACT_GELU;
        CHECK(v->act == act && t->act == act, "%s activation", want[i].name);
        CHECK(pp.family == GL_PREPROC_OPEN_CLIP && pp.crop_width == want[i].image &&
                  pp.resize_shortest_edge == want[i].image &&
                  fabsf(pp.mean[0] - 0.48145466f) < 1e-7f,
              "%s preprocessing", want[i].name);
    }
    /* the "-quickgelu" name alone selects QuickGELU, as open_clip's naming does */
    t_write_text("ViT-X-quickgelu.json",
                 "{\"embed_dim\": 8, \"vision_cfg\": {\"image_size\": 32, \"layers\": 1, "
                 "\"width\": 64, \"patch_size\": 16}, \"text_cfg\": {\"width\": 32, \"heads\": 2, "
                 "\"layers\": 1}}");
    clip_config cfg;
    gl_preproc_config pp;
    gl_error err = {0};
    CHECK_OK(clip_openclip_config_load("ViT-X-quickgelu.json", "ViT-X-quickgelu", &cfg, &pp, &err),
             &err);
    CHECK(cfg.vision.act == GL_ACT_QUICK_GELU && cfg.vision.heads == 1, "suffix");
}

/* Towers other than open_clip's ViT are refused in one line, never run with wrong numbers. */
static void test_unsupported_configs(void) {
    static const struct {
        const char *json, *needle;
    } cases[] = {
        {"{\"embed_dim\": 1024, \"vision_cfg\": {\"image_size\": 224, \"layers\": [3, 4, 6, 3], "
         "\"width\": 64, \"patch_size\": null}, \"text_cfg\": {}}",
         "ModifiedResNet"},
        {"{\"embed_dim\": 512, \"vision_cfg\": {\"timm_model_name\": \"convnext_base\"}, "
         "\"text_cfg\": {}}",
         "timm_model_name"},
        {"{\"embed_dim\": 512, \"vision_cfg\": {}, \"text_cfg\": {\"hf_model_name\": "
         "\"xlm-roberta-base\"}}",
         "hf_model_name"},
        {"{\"embed_dim\": 768, \"init_logit_bias\": -10, \"vision_cfg\": {}, \"text_cfg\": {}}",
         "SigLIP"},
        {"{\"embed_dim\": 512, \"vision_cfg\": {}, \"text_cfg\": {\"context_length\": 64}}",
         "context_length"},
        {"{\"model_cfg\": {\"embed_dim\": 512, \"vision_cfg\": {}, \"text_cfg\": {}}, "
         "\"preprocess_cfg\": {\"size\": 256}}",
         "disagrees"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        t_write_text("arch.json", cases[i].json);
        clip_config cfg;
        gl_preproc_config pp;
        gl_error err = {0};
        gl_status s = clip_openclip_config_load("arch.json", "arch", &cfg, &pp, &err);
        CHECK(s != GL_OK && strstr(err.msg, "arch.json") && strstr(err.msg, cases[i].needle) &&
                  !strchr(err.msg, '\n'),
              "case %zu: %s", i, err.msg);
    }
}

int main(void) {
    RUN(test_torchbin_folder);
    RUN(test_open_clip_fixtures);
    RUN(test_checkpoint_needs_arch);
    RUN(test_convert_round_trip);
    RUN(test_shipped_architectures);
    RUN(test_unsupported_configs);
    T_SUMMARY();
}
