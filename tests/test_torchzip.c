/* test_torchzip.c: the .pth reader against PyTorch itself (torch.load via $PY writes .npy
 * references) and against hostile files: forbidden globals, truncation, corrupt zips, bad shapes.
 */
#include "harness.h"
#include "io/torchzip.h"

#include <sys/stat.h>

/* Writes the artefacts below into the current directory with Debian's python3 + torch. */
static const char *make_script =
    "import sys, io, os, pickle, zipfile, collections, numpy as np, torch\n"
    "ck = sys.argv[1]\n"
    "d = torch.load(ck, map_location='cpu')\n"
    "for k, v in d['model_state_dict'].items(): np.save('ref_' + k + '.npy', v.numpy())\n"
    "st = d['optimizer_state_dict']['state'][0]\n"
    "np.save('ref_exp_avg0.npy', st['exp_avg'].numpy())\n"
    "open('ref_meta.txt','w').write('%r %r %r %r\\n' % (d['epoch'], d['loss'], "
    "d['optimizer_state_dict']['param_groups'][0]['lr'], float(st['step'])))\n"
    /* odd dtypes and strided views */
    "base = torch.arange(60, dtype=torch.float32).reshape(5, 12) / 7\n"
    "odd = collections.OrderedDict(t=base.t(), sl=base[1:4, 2:9:3], h=base.half(), "
    "bf=base.bfloat16(), i=torch.arange(-3, 9, dtype=torch.int64), d=base.double()[2], "
    "s=torch.tensor(2.5), p=torch.nn.Parameter(base[0]))\n"
    "torch.save(odd, 'odd.pth')\n"
    "for k, v in odd.items(): np.save('odd_' + k + '.npy', "
    "np.ascontiguousarray(v.detach().float().numpy()))\n"
    /* the same checkpoint with deflated entries */
    "with zipfile.ZipFile(ck) as zi, zipfile.ZipFile('deflated.pth', 'w', zipfile.ZIP_DEFLATED) as "
    "zo:\n"
    "    for it in zi.infolist(): zo.writestr(it.filename, zi.read(it.filename))\n"
    /* hostile pickles: os.system through GLOBAL, builtins.eval through STACK_GLOBAL */
    "class Sys:\n"
    "    def __reduce__(self): return (os.system, ('touch pwned',))\n"
    "class Ev:\n"
    "    def __reduce__(self): return (eval, ('1+1',))\n"
    "for name, obj, proto in (('evil_system', Sys(), 2), ('evil_eval', Ev(), 4)):\n"
    "    with zipfile.ZipFile(name + '.pth', 'w') as z:\n"
    "        z.writestr('archive/data.pkl', pickle.dumps({'a': obj}, protocol=proto))\n"
    "        z.writestr('archive/byteorder', 'little')\n"
    "raw = open(ck, 'rb').read()\n"
    "open('truncated.pth', 'wb').write(raw[:len(raw) // 2])\n"
    "open('cut_tail.pth', 'wb').write(raw[:-7])\n"
    "cd = raw.rfind(b'PK\\x01\\x02')\n"
    "first = raw.find(b'PK\\x01\\x02')\n"
    "bad = bytearray(raw); bad[first:first + 4] = b'XXXX'\n"
    "open('bad_cdir.pth', 'wb').write(bytes(bad))\n"
    "bad = bytearray(raw); i = raw.find(b'data/1'); j = raw.find(b'PK\\x03\\x04', i)\n"
    "bad[j - 100] ^= 0xFF\n"
    "open('bad_crc.pth', 'wb').write(bytes(bad))\n";

static int setup_done;
static const char *ckpt(void) {
    return t_path("fixtures/geograph/best_geograph_model_v2.pth");
}

/* Writes the PyTorch references once: 1 when they exist, 0 when python3-torch is missing (the
 * caller skips, visibly), and a failed check when the script itself fails. */
static int setup(void) {
    if (setup_done) return setup_done > 0;
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' -c 'import torch' 2>/dev/null", t_python());
    if (system(cmd) != 0) {
        setup_done = -1;
        return 0;
    }
    CHECK(t_write_text("make_refs.py", make_script), "cannot write make_refs.py");
    snprintf(cmd, sizeof cmd, "'%s' make_refs.py '%s'", t_python(), ckpt());
    int ok = system(cmd) == 0;
    CHECK(ok, "%s failed", cmd);
    setup_done = ok ? 1 : -1;
    return ok;
}
#define NEED_REFS()                                                                                \
    do {                                                                                           \
        if (!setup()) {                                                                            \
            if (t_current_failed) return;                                                          \
            SKIP("%s cannot import torch (install python3-torch)", t_python());                    \
        }                                                                                          \
    } while (0)

static void check_against_npy(const gl_pth *p, const gl_py *dict, const char *key,
                              const char *npy) {
    gl_error err = {0};
    gl_npy *ref = NULL;
    ref = gl_npy_load(npy, &err);
    CHECK(ref, "%s", err.msg);
    if (err.code) return;
    float *got = malloc(ref->count * sizeof *got + 4);
    /* numpy's reader here reports a 0-d array as [1]; a torch scalar has ndim 0 */
    const gl_pth_tensor *t = gl_pth_find_tensor(p, dict, key, &err);
    int ndim = t && t->ndim == 0 && ref->count == 1 ? 0 : ref->ndim;
    CHECK_OK(gl_pth_read_f32(p, dict, key, ref->shape, ndim, got, &err), &err);
    if (!err.code) CHECK_CLOSE(key, got, (const float *)ref->data, ref->count, 0, 0);
    free(got);
    gl_npy_free(ref);
}

static void test_real_checkpoint(void) {
    NEED_REFS();
    gl_error err = {0};
    gl_pth *p = gl_pth_open(ckpt(), &err);
    CHECK(p, "%s", err.msg);
    if (!p) return;
    const gl_py *sd = gl_pth_state_dict(p, &err);
    CHECK(sd && sd->ordered && sd->len == 5, "state dict");
    const char *keys[] = {"dist_emb.weight", "fc.0.weight", "fc.0.bias", "fc.3.weight",
                          "fc.3.bias"};
    char npy[128];
    for (int i = 0; i < 5; i++) {
        snprintf(npy, sizeof npy, "ref_%s.npy", keys[i]);
        check_against_npy(p, sd, keys[i], npy);
    }
    const gl_py *root = gl_pth_root(p);
    const gl_py *classes = gl_py_get(root, "classes");
    const char *want[] = {"Aerial",   "Close Look", "Cross Far", "Extra",
                          "Geograph", "Inside",     "From Drone"};
    CHECK(classes && classes->kind == GL_PY_LIST && classes->len == 7, "classes");
    for (size_t i = 0; classes && i < classes->len && i < 7; i++)
        CHECK(!strcmp(classes->items[i]->s, want[i]), "class %zu is %s", i, classes->items[i]->s);
    const gl_py *dm = gl_py_get(root, "dist_map");
    CHECK(dm && dm->len == 24, "dist_map has %zu entries", dm ? dm->len : 0);
    CHECK(gl_py_get(dm, "1048576") && gl_py_get(dm, "1048576")->i == 21, "dist_map 2^20");
    CHECK(gl_py_get(dm, "Unknown") && gl_py_get(dm, "Unknown")->i == 22, "dist_map Unknown");
    CHECK(gl_py_get(root, "clip_dim")->i == 512, "clip_dim");
    /* epoch, loss, lr, step from torch.load */
    const gl_py *opt = gl_py_get(root, "optimizer_state_dict");
    const gl_py *st0 = gl_py_get_int(gl_py_get(opt, "state"), 0);
    CHECK(st0 != NULL, "optimizer state 0");
    check_against_npy(p, st0, "exp_avg", "ref_exp_avg0.npy");
    FILE *f = fopen("ref_meta.txt", "r");
    long epoch = -1;
    double loss = 0, lr = 0, step = 0;
    CHECK(f && fscanf(f, "%ld %lf %lf %lf", &epoch, &loss, &lr, &step) == 4, "ref_meta.txt");
    if (f) fclose(f);
    CHECK(gl_py_get(root, "epoch")->i == epoch, "epoch");
    CHECK(gl_py_get(root, "loss")->kind == GL_PY_FLOAT && gl_py_get(root, "loss")->f == loss,
          "loss");
    const gl_py *pg = gl_py_get(opt, "param_groups");
    CHECK(pg && pg->kind == GL_PY_LIST && gl_py_get(pg->items[0], "lr")->f == lr, "lr");
    const gl_pth_tensor *stp = gl_pth_find_tensor(p, st0, "step", &err);
    float stepv = -1;
    CHECK(stp && gl_pth_tensor_f32(p, "step", stp, NULL, -1, &stepv, &err) == GL_OK &&
              stepv == step,
          "step %g vs %g", stepv, step);
    gl_pth_free(p);
}

static void test_odd_dtypes_and_views(void) {
    NEED_REFS();
    gl_error err = {0};
    gl_pth *p = gl_pth_open("odd.pth", &err);
    CHECK(p, "%s", err.msg);
    if (!p) return;
    const gl_py *sd = gl_pth_state_dict(p, &err);
    const char *keys[] = {"t", "sl", "h", "bf", "i", "d", "s", "p"};
    char npy[64];
    for (int i = 0; i < 8; i++) {
        snprintf(npy, sizeof npy, "odd_%s.npy", keys[i]);
        check_against_npy(p, sd, keys[i], npy);
    }
    const gl_pth_tensor *t = gl_pth_find_tensor(p, sd, "h", &err);
    CHECK(t && t->dtype == GL_PTH_F16, "half dtype");
    t = gl_pth_find_tensor(p, sd, "p", &err);
    CHECK(t && t->is_parameter, "parameter flag");
    gl_pth_free(p);
}

static void test_deflated(void) {
    NEED_REFS();
    gl_error err = {0};
    gl_pth *p = gl_pth_open("deflated.pth", &err);
    CHECK(p, "%s", err.msg);
    if (!p) return;
    check_against_npy(p, gl_pth_state_dict(p, &err), "fc.0.weight", "ref_fc.0.weight.npy");
    gl_pth_free(p);
}

static void expect_fail(const char *path, gl_status code, const char *needle) {
    gl_error err = {0};
    gl_pth *p = gl_pth_open(path, &err);
    CHECK(!p, "%s opened", path);
    gl_pth_free(p);
    CHECK(err.code == code, "%s: code %s (%s)", path, gl_status_name(err.code), err.msg);
    CHECK(strstr(err.msg, path) && strstr(err.msg, needle), "%s: message '%s' lacks '%s'", path,
          err.msg, needle);
}

static void test_hostile(void) {
    NEED_REFS();
    expect_fail("evil_system.pth", GL_ERR_UNSUPPORTED, "'posix.system' is not allowed");
    expect_fail("evil_eval.pth", GL_ERR_UNSUPPORTED, "'builtins.eval' is not allowed");
    struct stat st;
    CHECK(stat("pwned", &st) != 0, "the pickle ran code");
    expect_fail("truncated.pth", GL_ERR_FORMAT, "zip");
    expect_fail("cut_tail.pth", GL_ERR_FORMAT, "end-of-central-directory");
    expect_fail("bad_cdir.pth", GL_ERR_FORMAT, "central directory entry 0 is corrupt");
    expect_fail("bad_crc.pth", GL_ERR_FORMAT, "CRC");
    expect_fail("no_such_file.pth", GL_ERR_IO, "cannot open");
    FILE *f = fopen("not_zip.pth", "w");
    fputs("hello, this is not a checkpoint at all", f);
    fclose(f);
    expect_fail("not_zip.pth", GL_ERR_FORMAT, "not a zip");
}

static void test_wrong_shape(void) {
    gl_error err = {0};
    gl_pth *p = gl_pth_open(ckpt(), &err);
    CHECK(p, "%s", err.msg);
    if (!p) return;
    const gl_py *sd = gl_pth_state_dict(p, &err);
    float *buf = malloc(256 * 528 * sizeof *buf);
    int64_t shape[2] = {256, 512};
    CHECK(gl_pth_read_f32(p, sd, "fc.0.weight", shape, 2, buf, &err) == GL_ERR_SHAPE, "shape");
    CHECK(strstr(err.msg, "'fc.0.weight' has shape [256,528], expected [256,512]"), "%s", err.msg);
    CHECK(gl_pth_read_f32(p, sd, "fc.9.weight", shape, 2, buf, &err) == GL_ERR_FORMAT &&
              strstr(err.msg, "no tensor 'fc.9.weight'"),
          "%s", err.msg);
    free(buf);
    gl_pth_free(p);
}

static void test_geoclip_files(void) {
    gl_error err = {0};
    const char *names[] = {"image_encoder_mlp_weights.pth", "location_encoder_random.pth",
                           "logit_scale_weights.pth"};
    for (int i = 0; i < 3; i++) {
        gl_pth *p = gl_pth_open(t_path("fixtures/geoclip/%s", names[i]), &err);
        CHECK(p, "%s", err.msg);
        if (!p) continue;
        const gl_py *root = gl_pth_root(p);
        CHECK(root->kind == (i == 2 ? GL_PY_TENSOR : GL_PY_DICT), "%s root %s", names[i],
              gl_py_kind_name(root->kind));
        gl_pth_free(p);
    }
}

/* A 42-byte file: a zip64 locator whose end-record offset points far past the file, then an
 * end-of-central-directory record asking for zip64. The bound "off64 > n - 56" underflowed for
 * files under 56 bytes and the reader dereferenced the wild offset. */
static void test_tiny_zip64(void) {
    unsigned char b[42] = {0};
    const unsigned char loc[] = {0x50, 0x4b, 0x06, 0x07};
    memcpy(b, loc, 4);
    for (int i = 0; i < 8; i++)
        b[8 + i] = (unsigned char)(0x0000010000000000ULL >> (8 * i)); /* 1 TiB */
    const unsigned char eocd[] = {0x50, 0x4b, 0x05, 0x06};
    memcpy(b + 20, eocd, 4);
    b[30] = b[31] = 0xff; /* entry count 0xFFFF: "see the zip64 record" */
    FILE *f = fopen("tiny.pth", "wb");
    CHECK(f && fwrite(b, 1, sizeof b, f) == sizeof b && fclose(f) == 0, "write tiny.pth");
    expect_fail("tiny.pth", GL_ERR_FORMAT, "zip64");
}

/* Pickles written by Python's own pickle module (no torch needed): modules named torch and
 * torch._utils are stand-ins that only give the globals their names. */
static const char *shape_script =
    "import sys, types, pickle, zipfile, collections\n"
    "torch = types.ModuleType('torch'); utils = types.ModuleType('torch._utils')\n"
    "sys.modules['torch'] = torch; sys.modules['torch._utils'] = utils; torch._utils = utils\n"
    "class FloatStorage: pass\n"
    "FloatStorage.__module__ = 'torch'; torch.FloatStorage = FloatStorage\n"
    "def _rebuild_tensor_v2(*a): pass\n"
    "_rebuild_tensor_v2.__module__ = 'torch._utils'; utils._rebuild_tensor_v2 = "
    "_rebuild_tensor_v2\n"
    "class Store: pass\n"
    "class T:\n"
    "    def __init__(self, shape, stride): self.a = (Store(), 0, shape, stride, False, "
    "collections.OrderedDict())\n"
    "    def __reduce__(self): return (_rebuild_tensor_v2, self.a)\n"
    "class P(pickle.Pickler):\n"
    "    def persistent_id(self, o):\n"
    "        return ('storage', FloatStorage, '0', 'cpu', 4) if isinstance(o, Store) else None\n"
    "def save(name, shape, stride):\n"
    "    import io; buf = io.BytesIO(); P(buf, protocol=2).dump({'w': T(shape, stride)})\n"
    "    with zipfile.ZipFile(name, 'w') as z:\n"
    "        z.writestr('archive/data.pkl', buf.getvalue())\n"
    "        z.writestr('archive/data/0', b'\\0' * 16)\n"
    "        z.writestr('archive/byteorder', 'little')\n"
    "save('ok_shape.pth', (2, 2), (2, 1))\n"
    "save('numel_wraps.pth', (2**40, 2**40), (1, 1))\n"
    "save('extent_wraps.pth', (2**32 + 1,), (2**32,))\n"
    "save('three_dims_wrap.pth', (2**22, 2**22, 2**22), (0, 0, 0))\n"
    /* a list that holds itself, as pickle's memo allows (fuzz_pickle found a walker recursing) */
    "l = []; l.append(l)\n"
    "with zipfile.ZipFile('cycle.pth', 'w') as z:\n"
    "    z.writestr('archive/data.pkl', pickle.dumps({'l': l, 'n': 1}, protocol=2))\n"
    "    z.writestr('archive/byteorder', 'little')\n";

/* A shape whose element count overflows 64 bits wrapped to 0 and passed the bounds check; a
 * view whose last element's offset wraps to 0 passed it too and read far outside the storage. */
static void test_shape_overflow(void) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "'%s' shapes.py", t_python());
    CHECK(t_write_text("shapes.py", shape_script) && system(cmd) == 0, "%s failed", cmd);
    gl_error err = {0};
    gl_pth *p = gl_pth_open("ok_shape.pth", &err);
    CHECK(p != NULL, "the control file must open: %s", err.msg);
    gl_pth_free(p);
    expect_fail("numel_wraps.pth", GL_ERR_LIMIT, "beyond limits");
    expect_fail("extent_wraps.pth", GL_ERR_FORMAT, "storage '0'");
    expect_fail("three_dims_wrap.pth", GL_ERR_LIMIT, "beyond limits");
    /* a cycle loads as Python builds it (the list's item is the list) and frees cleanly */
    p = gl_pth_open("cycle.pth", &err);
    CHECK(p != NULL, "cycle.pth: %s", err.msg);
    const gl_py *l = p ? gl_py_get(gl_pth_root(p), "l") : NULL;
    CHECK(l && l->kind == GL_PY_LIST && l->len == 1 && l->items[0] == l, "the list holds itself");
    const gl_py *n = p ? gl_py_get(gl_pth_root(p), "n") : NULL;
    CHECK(n && n->kind == GL_PY_INT && n->i == 1, "the dict goes on after the cycle");
    gl_pth_free(p);
}

int main(void) {
    RUN(test_real_checkpoint);
    RUN(test_odd_dtypes_and_views);
    RUN(test_deflated);
    RUN(test_hostile);
    RUN(test_wrong_shape);
    RUN(test_geoclip_files);
    RUN(test_tiny_zip64);
    RUN(test_shape_overflow);
    T_SUMMARY();
}
