#!/usr/bin/env python3
"""make_corpus.py: writes the small seed corpus of every fuzz harness into fuzz/corpus/<harness>/.

Run with Debian's python3 (numpy and torch for the .npy and .pth seeds); the output is committed,
so a fresh clone fuzzes without running this. Nothing here is model weights: every tensor is a
few elements. Usage: fuzz/make_corpus.py [fuzz/corpus]"""
import base64, collections, io, json, os, pickle, struct, sys, zipfile

import numpy as np
import torch

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")
SHARED = os.environ.get("GEOLABEL_SHARED", os.path.join(os.path.dirname(__file__), "../../shared"))


def put(harness, name, data):
    d = os.path.join(OUT, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# safetensors: the format as huggingface/safetensors writes it (8-byte length, JSON, data)
def safetensors(tensors, meta=None):
    header, blob = {}, b""
    if meta is not None:
        header["__metadata__"] = meta
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(raw)]}
        blob += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + blob


a = np.arange(6, dtype="<f4") / 3
put("fuzz_safetensors", "f32", safetensors({"w": ("F32", [2, 3], a.tobytes())}, {"format": "pt"}))
put("fuzz_safetensors", "f16_bf16", safetensors({
    "h": ("F16", [3], np.array([1, -0.5, 65504], "<f2").tobytes()),
    "b": ("BF16", [2], (np.array([1.5, -2], "<f4").view("<u4") >> 16).astype("<u2").tobytes()),
    "i": ("I64", [1], np.array([7], "<i8").tobytes())}))
put("fuzz_safetensors", "scalar_empty", safetensors({"s": ("F32", [], b"\0\0\x80?"), "e": ("F32", [0, 4], b"")}))

# .pth: torch.save itself (zip, data.pkl, storages), small tensors of every dtype and a view
base = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 7
ckpts = {
    "state_dict": collections.OrderedDict(w=base, b=torch.zeros(4)),
    "dtypes": collections.OrderedDict(h=base.half(), bf=base.bfloat16(), d=base.double()[1],
                                      i=torch.arange(-2, 3), u=torch.tensor([1, 2], dtype=torch.uint8),
                                      t=base.t(), s=torch.tensor(2.5), p=torch.nn.Parameter(base[0])),
    "nested": {"epoch": 3, "loss": 0.25, "model_state_dict": collections.OrderedDict(fc=base[1:, ::2]),
               "classes": ["a", "b"], "dist_map": {"16": 1}, "flag": True, "none": None},
}
for name, obj in ckpts.items():
    buf = io.BytesIO()
    torch.save(obj, buf)
    put("fuzz_pth", name, buf.getvalue())

# pickle: data.pkl for fuzz_pickle's fixed archive, whose storage "0" holds 64 bytes (16 float32)
# and "1" 6 bytes (6 uint8); torch numbers storages in the order it meets them.
for name, obj in {
    "one_tensor": collections.OrderedDict(w=torch.arange(16, dtype=torch.float32).reshape(4, 4)),
    "two_storages": {"w": torch.zeros(16)[2:10].reshape(2, 4), "u": torch.zeros(6, dtype=torch.uint8)},
    "param": {"p": torch.nn.Parameter(torch.ones(16)), "n": [1, 2.5, "x", None, True, (3, 4)]},
}.items():
    buf = io.BytesIO()
    torch.save(obj, buf)
    with zipfile.ZipFile(buf) as z:
        pkl = [n for n in z.namelist() if n.endswith("data.pkl")][0]
        put("fuzz_pickle", name, z.read(pkl))
put("fuzz_pickle", "plain_p2", pickle.dumps({"a": [1, -2, 3.5, "s", b"b", (1,), None]}, protocol=2))
put("fuzz_pickle", "plain_p4", pickle.dumps([{"k": i, "v": "x" * i} for i in range(5)], protocol=4))
put("fuzz_pickle", "ordered", pickle.dumps(collections.OrderedDict(x=1, y=[2, 3]), protocol=2))

# npy: numpy's own writer, format versions 1.0 and 2.0, several dtypes
for name, arr, ver in (("f4", np.arange(6, dtype="<f4").reshape(2, 3), (1, 0)),
                       ("u1", np.arange(24, dtype="|u1").reshape(2, 3, 4), (1, 0)),
                       ("i8_v2", np.array([-1, 2], "<i8"), (2, 0)),
                       ("scalar", np.array(1.5, "<f8"), (1, 0)),
                       ("empty", np.zeros((0, 5), "<f4"), (1, 0))):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, version=ver)
    put("fuzz_npy", name, buf.getvalue())

# config.json: the tiny fixture's, and the older *_config_dict form
with open(os.path.join(SHARED, "fixtures/clip-tiny-b32/config.json")) as f:
    cfg = json.load(f)
put("fuzz_config_json", "tiny", json.dumps(cfg))
small = {"projection_dim": 32,
         "text_config": {k: cfg["text_config"][k] for k in ("hidden_size", "intermediate_size",
                         "num_attention_heads", "num_hidden_layers", "vocab_size", "max_position_embeddings")},
         "vision_config": {k: cfg["vision_config"][k] for k in ("hidden_size", "intermediate_size",
                           "num_attention_heads", "num_hidden_layers", "image_size", "patch_size")}}
put("fuzz_config_json", "minimal", json.dumps(small))
put("fuzz_config_json", "dicts", json.dumps({"projection_dim": 32, "text_config_dict": small["text_config"],
                                             "vision_config_dict": dict(small["vision_config"], hidden_act="gelu")}))

# open_clip architectures: the fixture's open_clip_config.json, a shipped bare model_cfg, and
# one with list-valued sizes
put("fuzz_openclip_config", "fixture",
    open(os.path.join(SHARED, "fixtures/openclip/openclip-tiny-quickgelu/open_clip_config.json")).read())
put("fuzz_openclip_config", "vit-h-14",
    open(os.path.join(os.path.dirname(__file__), "../data/open_clip/ViT-H-14.json")).read())
put("fuzz_openclip_config", "lists", json.dumps({"model_cfg": {"embed_dim": 16, "quick_gelu": False,
    "vision_cfg": {"image_size": [64, 64], "layers": 1, "width": 64, "head_width": 32, "patch_size": 16,
                   "mlp_ratio": 2.5}, "text_cfg": {"width": 32, "heads": 2, "layers": 1}},
    "preprocess_cfg": {"size": [64, 64], "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
                       "interpolation": "bicubic", "resize_mode": "shortest"}}))

# open_clip weights for fuzz_openclip_load's fixed architecture (embed 4; vision 16 px, patch 8,
# width 4 in heads of 2, 1 layer; text vocab 8, width 4, 2 heads, 1 layer): open_clip's key names
# and shapes; the first byte picks the harness's form (1: a folder's open_clip_pytorch_model.bin,
# 0: a training checkpoint {"epoch", "state_dict": {"module.<key>"}} with --arch).
def oc_block(prefix, w):
    return {prefix + k: torch.randn(*s) for k, s in (
        ("ln_1.weight", (w,)), ("ln_1.bias", (w,)), ("attn.in_proj_weight", (3 * w, w)),
        ("attn.in_proj_bias", (3 * w,)), ("attn.out_proj.weight", (w, w)), ("attn.out_proj.bias", (w,)),
        ("ln_2.weight", (w,)), ("ln_2.bias", (w,)), ("mlp.c_fc.weight", (4 * w, w)),
        ("mlp.c_fc.bias", (4 * w,)), ("mlp.c_proj.weight", (w, 4 * w)), ("mlp.c_proj.bias", (w,)))}
torch.manual_seed(0)
oc = collections.OrderedDict(
    [("positional_embedding", torch.randn(77, 4)), ("text_projection", torch.randn(4, 4)),
     ("logit_scale", torch.tensor(4.6052)), ("visual.class_embedding", torch.randn(4)),
     ("visual.positional_embedding", torch.randn(5, 4)), ("visual.proj", torch.randn(4, 4)),
     ("visual.conv1.weight", torch.randn(4, 3, 8, 8)), ("visual.ln_pre.weight", torch.ones(4)),
     ("visual.ln_pre.bias", torch.zeros(4))]
    + list(oc_block("visual.transformer.resblocks.0.", 4).items())
    + [("visual.ln_post.weight", torch.ones(4)), ("visual.ln_post.bias", torch.zeros(4)),
       ("token_embedding.weight", torch.randn(8, 4))]
    + list(oc_block("transformer.resblocks.0.", 4).items())
    + [("ln_final.weight", torch.ones(4)), ("ln_final.bias", torch.zeros(4))])
for name, form, obj in (("folder", b"\1", oc),
                        ("training", b"\0", {"epoch": 1, "name": "tiny",
                                              "state_dict": collections.OrderedDict(
                                                  ("module." + k, v) for k, v in oc.items())})):
    buf = io.BytesIO()
    torch.save(obj, buf)
    put("fuzz_openclip_load", name, form + buf.getvalue())

# preprocessor_config.json: old (ints) and new (dicts) forms
put("fuzz_preproc_json", "old", open(os.path.join(SHARED, "fixtures/clip-tiny-b32/preprocessor_config.json")).read())
put("fuzz_preproc_json", "new", json.dumps({"crop_size": {"height": 336, "width": 336}, "do_center_crop": True,
    "do_normalize": True, "do_resize": True, "do_convert_rgb": True, "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.25, 0.25, 0.25], "resample": 3, "rescale_factor": 0.00392156862745098,
    "size": {"shortest_edge": 336}}))

# vocab.json + NUL + merges.txt: the 256 byte tokens (GPT-2's bytes_to_unicode), their </w>
# forms, and a few merges
bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
cs, n = bs[:], 0
for b in range(256):
    if b not in bs:
        bs.append(b)
        cs.append(256 + n)
        n += 1
chars = [chr(c) for c in cs]
vocab = {c: i for i, c in enumerate(chars)}
vocab.update({c + "</w>": 256 + i for i, c in enumerate(chars)})
merges = ["h e", "he l", "hel l", "hell o</w>", "t h", "th e</w>"]
for m in merges:
    vocab[m.replace(" ", "")] = len(vocab)
vocab["<|startoftext|>"] = len(vocab)
vocab["<|endoftext|>"] = len(vocab)
put("fuzz_vocab_merges", "bytes_and_merges",
    json.dumps(vocab, ensure_ascii=False).encode() + b"\0" + ("#version: 0.2\n" + "\n".join(merges) + "\n").encode())

# tokenizer input: CLIP's hard cases
for i, t in enumerate(["a photo of a cat", "A PHOTO OF A DOG!!!", "don't, WON'T, I'LL",
                       "&amp; &lt;b&gt; caf&eacute; &#39;x&#39;", "Ã©tÃ© â€” mojibake", "emoji 🛰️🌍 and 中文",
                       "  tabs\tand\nnewlines  ", "x" * 300, "It's 3:45pm on 2024-01-31; $19.99 (20%)."]):
    put("fuzz_tokenizer", "t%d" % i, t)
# 816df11's finding: a two-byte mojibake pair that is not led by Â/Ã ends the text, so the rule
# looked for a second pair past the end: 64 code points fill the code point buffer exactly, so
# ASan sees the read (the code before 816df11 fails on this seed)
put("fuzz_tokenizer", "mojibake_end", "x" * 62 + "Ð¿")

# YAML hierarchy: the demo's, nested meta-classes, a flat list
put("fuzz_yaml_hierarchy", "samples", open(os.path.join(os.path.dirname(__file__), "../data/samples/hierarchy.yaml")).read())
put("fuzz_yaml_hierarchy", "nested", "Land:\n  Built:\n  - road\n  - roof\n  Green:\n  - forest\nWater:\n- lake\n- sea\n")
put("fuzz_yaml_hierarchy", "flat", "- forest\n- water\n")

# CSV: GVL's label output, quotes, CRLF, a header only
put("fuzz_csv", "labels", "filename,row,col,classification,classification_tree\n"
    "a.tif,0,0,forest,Green;forest\r\nb.tif,0,1,\"road, paved\",\"Built;road, paved\"\n")
put("fuzz_csv", "quotes", 'x,"y ""q"""\n"multi\nline",2\n')
put("fuzz_csv", "header_only", "filename,row,col,classification\n")

# JSONL rows: Geograph's fields with 4-float base64 embeddings
def row(i, **kw):
    r = {"gridimage_id": 1000 + i, "types": "Aerial", "distance": "16", "split": "tra",
         "embeddings": base64.b64encode(np.array([i, -1, 0.5, 2], "<f4").tobytes()).decode()}
    r.update(kw)
    return json.dumps(r)
put("fuzz_jsonl_rows", "rows", "\n".join([row(0), row(1, split="val", weight=0.5), row(2, distance=None),
                                          row(3, types="Close look,Inside"), row(4, embeddings="!!bad")]) + "\n")
