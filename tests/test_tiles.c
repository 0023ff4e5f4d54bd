/* test_tiles.c: tilings against hand-worked arithmetic (GVL's W//n cut, full cover, windows with
 * overlap), the tile augmentations against numpy's fliplr/flipud/rot90, GVL's resize against PIL.
 */
#include "harness.h"
#include "label/label.h"

static void expect_tile(const gl_tiling *t, int W, int H, int index, int row, int col, int x, int y,
                        int w, int h) {
    gl_tile g;
    gl_tiling_get(t, W, H, index, &g);
    CHECK(g.row == row && g.col == col && g.x == x && g.y == y && g.w == w && g.h == h,
          "tile %d of %dx%d: got r%d c%d (%d,%d %dx%d), want r%d c%d (%d,%d %dx%d)", index, W, H,
          g.row, g.col, g.x, g.y, g.w, g.h, row, col, x, y, w, h);
}

static int count_of(const gl_tiling *t, int W, int H) {
    gl_error err = {0};
    int n = -1;
    CHECK_OK(gl_tiling_count(t, W, H, &n, &err), &err);
    return n;
}

/* GVL on a 1024x1000 image split 3x3: W//3 = 341, H//3 = 333; 1 column and 1 row dropped. */
static void test_split_drop_is_gvl(void) {
    gl_tiling t = {.mode = GL_TILING_SPLIT, .rows = 3, .cols = 3, .drop_remainder = 1};
    CHECK(count_of(&t, 1024, 1000) == 9, "9 tiles");
    expect_tile(&t, 1024, 1000, 0, 0, 0, 0, 0, 341, 333);
    expect_tile(&t, 1024, 1000, 1, 0, 1, 341, 0, 341, 333);
    expect_tile(&t, 1024, 1000, 5, 1, 2, 682, 333, 341, 333);
    expect_tile(&t, 1024, 1000, 8, 2, 2, 682, 666, 341, 333);
}

static void test_split_cover_absorbs_remainder(void) {
    gl_tiling t = {.mode = GL_TILING_SPLIT, .rows = 3, .cols = 3};
    expect_tile(&t, 1024, 1000, 2, 0, 2, 682, 0, 342, 333);
    expect_tile(&t, 1024, 1000, 6, 2, 0, 0, 666, 341, 334);
    expect_tile(&t, 1024, 1000, 8, 2, 2, 682, 666, 342, 334);
    /* rows x cols: 2 rows of 4 columns, row-major. */
    gl_tiling u = {.mode = GL_TILING_SPLIT, .rows = 2, .cols = 4};
    CHECK(count_of(&u, 10, 7) == 8, "8 tiles");
    expect_tile(&u, 10, 7, 3, 0, 3, 6, 0, 4, 3);
    expect_tile(&u, 10, 7, 4, 1, 0, 0, 3, 2, 4);
    /* Every pixel is covered exactly once. */
    static unsigned char hits[7][10];
    memset(hits, 0, sizeof hits);
    for (int i = 0; i < 8; i++) {
        gl_tile g;
        gl_tiling_get(&u, 10, 7, i, &g);
        for (int y = g.y; y < g.y + g.h; y++)
            for (int x = g.x; x < g.x + g.w; x++)
                hits[y][x]++;
    }
    int bad = 0;
    for (int y = 0; y < 7; y++)
        for (int x = 0; x < 10; x++)
            bad += hits[y][x] != 1;
    CHECK(bad == 0, "%d pixels not covered exactly once", bad);
}

static void test_windows_with_overlap(void) {
    /* 10 wide, tile 4, no overlap: x = 0, 4, 8 (the last clipped to 2). */
    gl_tiling t = {.mode = GL_TILING_WINDOW, .tile = 4};
    CHECK(count_of(&t, 10, 4) == 3, "3 windows");
    expect_tile(&t, 10, 4, 2, 0, 2, 8, 0, 2, 4);
    /* overlap 2: step 2, x = 0, 2, 4, 6 (6 + 4 reaches the edge, so no window at 8). */
    gl_tiling o = {.mode = GL_TILING_WINDOW, .tile = 4, .overlap = 2};
    CHECK(count_of(&o, 10, 3) == 4, "4 windows");
    expect_tile(&o, 10, 3, 3, 0, 3, 6, 0, 4, 3);
    /* A scene smaller than one tile is one clipped window. */
    gl_tiling big = {.mode = GL_TILING_WINDOW, .tile = 224};
    CHECK(count_of(&big, 100, 50) == 1, "1 window");
    expect_tile(&big, 100, 50, 0, 0, 0, 0, 0, 100, 50);
    /* 20000 / 224 = 89.3: 90 per side. */
    CHECK(count_of(&big, 20000, 20000) == 8100, "8100 windows");
    expect_tile(&big, 20000, 20000, 8099, 89, 89, 19936, 19936, 64, 64);
    expect_tile(&big, 20000, 20000, 90, 1, 0, 0, 224, 224, 224);
}

static void test_impossible_tilings(void) {
    gl_error err = {0};
    int n;
    gl_tiling s = {.mode = GL_TILING_SPLIT, .rows = 3, .cols = 0};
    CHECK(gl_tiling_count(&s, 100, 100, &n, &err) == GL_ERR_ARG, "zero columns");
    gl_tiling many = {.mode = GL_TILING_SPLIT, .rows = 1, .cols = 200};
    CHECK(gl_tiling_count(&many, 100, 100, &n, &err) == GL_ERR_ARG, "more columns than pixels");
    gl_tiling ov = {.mode = GL_TILING_WINDOW, .tile = 4, .overlap = 4};
    CHECK(gl_tiling_count(&ov, 100, 100, &n, &err) == GL_ERR_ARG, "overlap >= tile");
    gl_tiling one = {.mode = GL_TILING_WINDOW, .tile = 1};
    CHECK(gl_tiling_count(&one, 100000, 100000, &n, &err) == GL_ERR_LIMIT, "10^10 tiles");
    CHECK(gl_tiling_count(&one, 0, 10, &n, &err) == GL_ERR_ARG, "empty scene");
}

/* A 3x5 RGB tile with distinct values; numpy writes each augmentation as .npy. */
static void test_augmentations_match_numpy(void) {
    const int W = 5, H = 3;
    unsigned char rgb[3 * 5 * 3];
    for (int i = 0; i < H * W * 3; i++)
        rgb[i] = (unsigned char)(i * 7 + 1);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "%s -c 'import numpy as np\n"
             "a=((np.arange(45)*7+1)%%256).astype(np.uint8).reshape(3,5,3)\n"
             "for n,b in [(\"x\",np.fliplr(a)),(\"y\",np.flipud(a)),(\"xy\",np.rot90(a,2)),"
             "(\"r90\",np.rot90(a)),(\"r270\",np.rot90(a,-1))]: "
             "np.save(n+\".npy\",np.ascontiguousarray(b))'",
             t_python());
    CHECK(system(cmd) == 0, "numpy wrote the augmentations");
    const struct {
        gl_tta_op op;
        const char *file;
    } cases[] = {{GL_TTA_OP_X, "x.npy"},
                 {GL_TTA_OP_Y, "y.npy"},
                 {GL_TTA_OP_XY, "xy.npy"},
                 {GL_TTA_OP_ROT90, "r90.npy"},
                 {GL_TTA_OP_ROT270, "r270.npy"}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        gl_error err = {0};
        gl_npy *want = NULL;
        want = gl_npy_load(cases[c].file, &err);
        CHECK(want, "%s", err.msg);
        unsigned char out[sizeof rgb];
        int ow, oh;
        gl_tile_augment(cases[c].op, rgb, W, H, out, &ow, &oh);
        CHECK(want->ndim == 3 && want->shape[0] == oh && want->shape[1] == ow, "%s shape %dx%d",
              cases[c].file, oh, ow);
        CHECK(want->data && !memcmp(out, want->data, sizeof out), "%s pixels differ",
              cases[c].file);
        gl_npy_free(want);
    }
    /* The hand-worked corner: rot90 (counter-clockwise) puts the top-right pixel at top-left. */
    unsigned char out[sizeof rgb];
    int ow, oh;
    gl_tile_augment(GL_TTA_OP_ROT90, rgb, W, H, out, &ow, &oh);
    CHECK(ow == 3 && oh == 5 && out[0] == rgb[(W - 1) * 3], "rot90 corner");
}

/* GVL's resize of small scenes is PIL's Image.resize((224, 224), BILINEAR): compare bit for bit,
 * upscaling both sides and upscaling one while downscaling the other. */
static void test_gvl_resize_matches_pil(void) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "%s -c 'import numpy as np\nfrom PIL import Image\n"
             "g=np.random.default_rng(7)\n"
             "for n,(w,h) in [(\"up\",(150,97)),(\"mixed\",(613,131))]:\n"
             "  a=g.integers(0,256,(h,w,3),dtype=np.uint8)\n"
             "  np.save(n+\"_in.npy\",a)\n"
             "  b=np.asarray(Image.fromarray(a,\"RGB\").resize((224,224),Image.BILINEAR))\n"
             "  np.save(n+\"_out.npy\",b)'",
             t_python());
    CHECK(system(cmd) == 0, "PIL wrote the references");
    const char *names[] = {"up", "mixed"};
    for (int c = 0; c < 2; c++) {
        char in_path[64], out_path[64];
        snprintf(in_path, sizeof in_path, "%s_in.npy", names[c]);
        snprintf(out_path, sizeof out_path, "%s_out.npy", names[c]);
        gl_error err = {0};
        gl_npy *in = NULL, *want = NULL;
        in = gl_npy_load(in_path, &err);
        CHECK(in, "%s", err.msg);
        want = gl_npy_load(out_path, &err);
        CHECK(want, "%s", err.msg);
        if (!in || !want) continue;
        static unsigned char got[224 * 224 * 3];
        CHECK_OK(gl_gvl_resize(in->data, (int)in->shape[1], (int)in->shape[0], got, 224, 224, &err),
                 &err);
        int bad = 0, first = -1;
        for (size_t i = 0; i < sizeof got; i++)
            if (got[i] != ((unsigned char *)want->data)[i] && !bad++) first = (int)i;
        CHECK(bad == 0, "%s: %d bytes differ from PIL, first at %d", names[c], bad, first);
        gl_npy_free(in);
        gl_npy_free(want);
    }
}

static void expect_read(int w, int h, int side, int min_long, int want_w, int want_h) {
    int rw = -1, rh = -1;
    gl_tile_read_size(w, h, side, min_long, &rw, &rh);
    CHECK(rw == want_w && rh == want_h, "%dx%d for side %d (long >= %d): read %dx%d, want %dx%d", w,
          h, side, min_long, rw, rh, want_w, want_h);
}

/* The read rule (README "Large tiles"), worked by hand: full resolution while the shorter side is
 * at most 4 model inputs; beyond, that shorter side is 4 * side and the longer one in proportion,
 * rounded half up; a vision-LLM patch raises it; never more than 4 Mpixels. */
static void test_read_size_rule(void) {
    expect_read(791, 718, 224, 0, 791, 718);      /* small: exact */
    expect_read(896, 900, 224, 0, 896, 900);      /* shorter side exactly 4 x 224: exact */
    expect_read(12000, 6000, 224, 0, 1792, 896);  /* 36000 x 18000 split 3x3 */
    expect_read(6000, 12000, 224, 0, 896, 1792);  /* the same, portrait */
    expect_read(12000, 6000, 336, 0, 2688, 1344); /* ViT-L/14-336 */
    expect_read(2658, 2667, 224, 0, 896, 899);    /* 2667 * 896 / 2658 = 899.03 */
    expect_read(3001, 2000, 224, 0, 1344, 896);   /* 3001 * 896 / 2000 = 1344.448 */
    expect_read(2000, 3005, 224, 0, 896, 1346);   /* 3005 * 896 / 2000 = 1346.24 */
    expect_read(1000, 1500, 224, 0, 896, 1344);   /* 1344.0 */
    expect_read(1001, 2001, 224, 0, 896, 1791);   /* 2001 * 896 / 1001 = 1791.10 */
    /* --vlm-size 2048: the longer side reaches 2048, the shorter ceil(2048 * 6000 / 12000). */
    expect_read(12000, 6000, 224, 2048, 2048, 1024);
    expect_read(12000, 6000, 224, 448, 1792, 896); /* 448 is already covered */
    expect_read(1500, 800, 224, 4096, 1500, 800);  /* never above full size */
    /* 4 Mpixels at most: 896 x 5000 is 4.48 M; the shorter side floor(sqrt(4194304 * 896 / 5000))
     * = 866, the longer round(5000 * 866 / 896) = 4833 (4,185,378 pixels). */
    expect_read(896, 5000, 224, 0, 866, 4833);
    expect_read(5000, 896, 224, 0, 4833, 866);
}

int main(void) {
    RUN(test_split_drop_is_gvl);
    RUN(test_split_cover_absorbs_remainder);
    RUN(test_windows_with_overlap);
    RUN(test_impossible_tilings);
    RUN(test_augmentations_match_numpy);
    RUN(test_gvl_resize_matches_pil);
    RUN(test_read_size_rule);
    T_SUMMARY();
}
