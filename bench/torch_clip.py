#!/usr/bin/python3
"""torch_clip.py: a plain-PyTorch CLIP forward (no transformers) written from the architecture
notes in ../shared/fixtures/expected/README.txt, for benchmarks and as an independent reference.

  torch_clip.py bench MODEL image|text BATCH THREADS TOKENS RUNS   median wall and CPU ms per item
  torch_clip.py images MODEL pixels.npy out.npy                    image_embeds [N,P]
  torch_clip.py texts MODEL input_ids.npy out.npy                  text_embeds [N,P]
    (several images/texts groups may follow each other in one call)
  torch_clip.py random DIR GEOMETRY [SEED]                         random-weight Hub-layout folder
GEOMETRY: vit-b-32, vit-b-16, vit-l-14, vit-l-14-336 or wide-test (a small model whose widths
are not powers of two, for tests). Run with Debian's /usr/bin/python3 and OPENBLAS_CORETYPE=SKYLAKEX.
"""
import json
import os
import statistics
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

TEXT_DEFAULTS = dict(hidden_size=512, num_attention_heads=8, num_hidden_layers=12,
                     intermediate_size=2048, hidden_act="quick_gelu", layer_norm_eps=1e-5,
                     vocab_size=49408, max_position_embeddings=77, eos_token_id=49407)
VISION_DEFAULTS = dict(hidden_size=768, num_attention_heads=12, num_hidden_layers=12,
                       intermediate_size=3072, hidden_act="quick_gelu", layer_norm_eps=1e-5,
                       image_size=224, patch_size=32, num_channels=3)

GEOMETRIES = {
    # vision (width, layers, heads, mlp, patch, image), text (width, layers, heads, mlp), projection
    "vit-b-32": ((768, 12, 12, 3072, 32, 224), (512, 12, 8, 2048), 512),
    "vit-b-16": ((768, 12, 12, 3072, 16, 224), (512, 12, 8, 2048), 512),
    "vit-l-14": ((1024, 24, 16, 4096, 14, 224), (768, 12, 12, 3072), 768),
    "vit-l-14-336": ((1024, 24, 16, 4096, 14, 336), (768, 12, 12, 3072), 768),
    "wide-test": ((320, 2, 5, 1280, 32, 224), (288, 2, 4, 1100), 96),
}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    kinds = {"F32": np.float32, "F16": np.float16, "BF16": None, "I64": np.int64}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        raw = data[base + b:base + end]
        if e["dtype"] == "BF16":
            arr = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(raw, kinds[e["dtype"]])
        if e["dtype"] != "I64":  # position_ids buffers are not weights
            out[name] = torch.from_numpy(arr.astype(np.float32).reshape(e["shape"]))
    return out


def load(model_dir):
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    text = dict(TEXT_DEFAULTS, **(cfg.get("text_config_dict") or cfg.get("text_config") or {}))
    vision = dict(VISION_DEFAULTS, **(cfg.get("vision_config_dict") or cfg.get("vision_config") or {}))
    return text, vision, read_safetensors(os.path.join(model_dir, "model.safetensors"))


def act(name, x):
    if name == "quick_gelu":
        return x * torch.sigmoid(1.702 * x)
    return F.gelu(x)


def encoder(w, prefix, c, x, causal):
    heads, eps = c["num_attention_heads"], c["layer_norm_eps"]
    n, t, _ = x.shape
    d = c["hidden_size"]  # a constant, so LayerNorm traces into ONNX
    hd = d // heads
    mask = None
    if causal:
        mask = torch.full((t, t), float("-inf")).triu(1)
    for i in range(c["num_hidden_layers"]):
        p = f"{prefix}.encoder.layers.{i}."
        g = lambda k: w[p + k]
        h = F.layer_norm(x, (d,), g("layer_norm1.weight"), g("layer_norm1.bias"), eps)
        q = F.linear(h, g("self_attn.q_proj.weight"), g("self_attn.q_proj.bias")) * hd ** -0.5
        k = F.linear(h, g("self_attn.k_proj.weight"), g("self_attn.k_proj.bias"))
        v = F.linear(h, g("self_attn.v_proj.weight"), g("self_attn.v_proj.bias"))
        q, k, v = (z.view(n, t, heads, hd).transpose(1, 2) for z in (q, k, v))
        s = q @ k.transpose(-1, -2)
        if mask is not None:
            s = s + mask
        o = (s.softmax(-1) @ v).transpose(1, 2).reshape(n, t, d)
        x = x + F.linear(o, g("self_attn.out_proj.weight"), g("self_attn.out_proj.bias"))
        h = F.layer_norm(x, (d,), g("layer_norm2.weight"), g("layer_norm2.bias"), eps)
        h = act(c["hidden_act"], F.linear(h, g("mlp.fc1.weight"), g("mlp.fc1.bias")))
        x = x + F.linear(h, g("mlp.fc2.weight"), g("mlp.fc2.bias"))
    return x


def vision_forward(w, c, pixels):
    e = "vision_model.embeddings."
    d, eps = c["hidden_size"], c["layer_norm_eps"]
    x = F.conv2d(pixels, w[e + "patch_embedding.weight"], stride=c["patch_size"])
    x = x.flatten(2).transpose(1, 2)
    cls = w[e + "class_embedding"].expand(x.shape[0], 1, d)
    x = torch.cat([cls, x], 1) + w[e + "position_embedding.weight"]
    x = F.layer_norm(x, (d,), w["vision_model.pre_layrnorm.weight"], w["vision_model.pre_layrnorm.bias"], eps)
    x = encoder(w, "vision_model", c, x, False)
    pooled = F.layer_norm(x[:, 0], (d,), w["vision_model.post_layernorm.weight"],
                          w["vision_model.post_layernorm.bias"], eps)
    return pooled @ w["visual_projection.weight"].T


def text_forward(w, c, ids):
    e = "text_model.embeddings."
    d, eps = c["hidden_size"], c["layer_norm_eps"]
    t = ids.shape[1]
    x = w[e + "token_embedding.weight"][ids] + w[e + "position_embedding.weight"][:t]
    x = encoder(w, "text_model", c, x, True)
    x = F.layer_norm(x, (d,), w["text_model.final_layer_norm.weight"], w["text_model.final_layer_norm.bias"], eps)
    if c["eos_token_id"] == 2:
        pos = ids.argmax(-1)
    else:
        pos = (ids == c["eos_token_id"]).int().argmax(-1)
    return x[torch.arange(x.shape[0]), pos] @ w["text_projection.weight"].T


def bench(model_dir, mode, batch, threads, tokens, runs):
    torch.set_num_threads(threads)
    text, vision, w = load(model_dir)
    g = torch.Generator().manual_seed(1)
    if mode == "image":
        s = vision["image_size"]
        inp = torch.rand(batch, 3, s, s, generator=g) * 4 - 2
        fn = lambda: vision_forward(w, vision, inp)
    else:
        # the text tower only needs the positions up to EOT (causal mask), so time that length
        ids = torch.randint(320, 1320, (batch, tokens), generator=g)
        ids[:, 0], ids[:, -1] = 49406, 49407
        fn = lambda: text_forward(w, text, ids)
    times, cpu = [], []
    with torch.inference_mode():
        for r in range(runs + 1):
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            times.append((time.perf_counter() - t0) * 1000 / batch)
            cpu.append((time.process_time() - c0) * 1000 / batch)
    print("%.2f %.2f" % (statistics.median(times[1:]), statistics.median(cpu[1:])))


def random_model(out_dir, geometry, seed=0):
    (vw, vl, vh, vm, patch, image), (tw, tl, th, tm), proj = GEOMETRIES[geometry]
    rng = np.random.default_rng(seed)
    tensors = {}

    def put(name, *shape, kind="normal"):
        if kind == "ones":
            a = 1 + 0.1 * rng.standard_normal(shape, dtype=np.float32)
        else:
            a = 0.02 * rng.standard_normal(shape, dtype=np.float32)
        tensors[name] = a.astype(np.float32)

    def layers(prefix, d, n, m):
        for i in range(n):
            p = f"{prefix}.encoder.layers.{i}."
            for ln in ("layer_norm1", "layer_norm2"):
                put(p + ln + ".weight", d, kind="ones")
                put(p + ln + ".bias", d)
            for k in ("q", "k", "v", "out"):
                put(p + f"self_attn.{k}_proj.weight", d, d)
                put(p + f"self_attn.{k}_proj.bias", d)
            put(p + "mlp.fc1.weight", m, d)
            put(p + "mlp.fc1.bias", m)
            put(p + "mlp.fc2.weight", d, m)
            put(p + "mlp.fc2.bias", d)

    ve = "vision_model.embeddings."
    put(ve + "class_embedding", vw)
    put(ve + "patch_embedding.weight", vw, 3, patch, patch)
    put(ve + "position_embedding.weight", (image // patch) ** 2 + 1, vw)
    for ln in ("pre_layrnorm", "post_layernorm"):
        put(f"vision_model.{ln}.weight", vw, kind="ones")
        put(f"vision_model.{ln}.bias", vw)
    layers("vision_model", vw, vl, vm)
    put("visual_projection.weight", proj, vw)
    put("text_model.embeddings.token_embedding.weight", 49408, tw)
    put("text_model.embeddings.position_embedding.weight", 77, tw)
    put("text_model.final_layer_norm.weight", tw, kind="ones")
    put("text_model.final_layer_norm.bias", tw)
    layers("text_model", tw, tl, tm)
    put("text_projection.weight", proj, tw)
    tensors["logit_scale"] = np.array(2.6592, dtype=np.float32)

    os.makedirs(out_dir, exist_ok=True)
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name in sorted(tensors):
        a = tensors[name]
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(os.path.join(out_dir, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for name in sorted(tensors):
            f.write(tensors[name].tobytes())
    config = {"projection_dim": proj, "logit_scale_init_value": 2.6592,
              "text_config": {"hidden_size": tw, "num_hidden_layers": tl, "num_attention_heads": th,
                              "intermediate_size": tm, "projection_dim": proj},
              # wide-test runs exact-erf gelu in its text tower, so tests cover both activations
              "vision_config": {"hidden_size": vw, "num_hidden_layers": vl, "num_attention_heads": vh,
                                "intermediate_size": vm, "patch_size": patch, "image_size": image,
                                "projection_dim": proj}}
    if geometry == "wide-test":
        config["text_config"]["hidden_act"] = "gelu"
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)


def main(argv):
    if len(argv) >= 2 and argv[1] == "bench" and len(argv) == 8:
        bench(argv[2], argv[3], *map(int, argv[4:8]))
    elif len(argv) >= 5 and argv[1] in ("images", "texts") and (len(argv) - 1) % 4 == 0:
        for i in range(1, len(argv), 4):  # several KIND MODEL IN OUT groups share one start-up
            kind, model, src, dst = argv[i:i + 4]
            text, vision, w = load(model)
            inp = torch.from_numpy(np.load(src))
            with torch.inference_mode():
                out = vision_forward(w, vision, inp) if kind == "images" else text_forward(w, text, inp.long())
            np.save(dst, out.numpy().astype(np.float32))
    elif len(argv) in (4, 5) and argv[1] == "random":
        random_model(argv[2], argv[3], int(argv[4]) if len(argv) == 5 else 0)
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
