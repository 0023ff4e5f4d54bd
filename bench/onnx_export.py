#!/usr/bin/python3
"""onnx_export.py: the same CLIP weights as ONNX for ONNX Runtime, for bench/peers.sh. Not a test.

  onnx_export.py MODEL OUT_DIR           image.onnx and text.onnx (opset 14, dynamic batch, and
                                         dynamic length for text), then image_int8.onnx
  onnx_export.py quantize IN.onnx OUT.onnx   only the int8 rewrite

The graphs are traced from bench/torch_clip.py's plain-PyTorch forward (Debian's python3-torch and
python3-onnx). The int8 model is written in the form onnxruntime.quantization.quantize_dynamic
gives (that module is not packaged by Debian): every MatMul whose second input is a 2-D float
initializer becomes DynamicQuantizeLinear(A) -> MatMulInteger(A_q, W_q, A_zp, 0) -> Cast(float)
-> Mul(A_scale * W_scale), with W quantised to int8, symmetric, one scale per tensor (its
defaults); ONNX Runtime fuses that into its own dynamic-quantised MatMul.
"""
import os
import sys

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_clip  # noqa: E402


class Tower(torch.nn.Module):
    def __init__(self, fn, w, c):
        super().__init__()
        self.fn, self.w, self.c = fn, w, c
        # registered, the weights become graph initializers rather than Constant nodes
        for i, v in enumerate(w.values()):
            self.register_buffer(f"w{i}", v)

    def forward(self, x):
        return self.fn(self.w, self.c, x)


def export(model_dir, out_dir):
    text, vision, w = torch_clip.load(model_dir)
    os.makedirs(out_dir, exist_ok=True)
    s = vision["image_size"]
    with torch.inference_mode(False), torch.no_grad():
        torch.onnx.export(Tower(torch_clip.vision_forward, w, vision), (torch.zeros(1, 3, s, s),),
                          os.path.join(out_dir, "image.onnx"), opset_version=14,
                          input_names=["pixel_values"], output_names=["image_embeds"],
                          dynamic_axes={"pixel_values": {0: "batch"}, "image_embeds": {0: "batch"}},
                          do_constant_folding=True)
        ids = torch.full((1, 8), 320, dtype=torch.long)
        ids[0, 0], ids[0, -1] = 49406, 49407
        torch.onnx.export(Tower(torch_clip.text_forward, w, text), (ids,),
                          os.path.join(out_dir, "text.onnx"), opset_version=14,
                          input_names=["input_ids"], output_names=["text_embeds"],
                          dynamic_axes={"input_ids": {0: "batch", 1: "tokens"},
                                        "text_embeds": {0: "batch"}},
                          do_constant_folding=True)
    quantize(os.path.join(out_dir, "image.onnx"), os.path.join(out_dir, "image_int8.onnx"))


def quantize(src, dst):
    m = onnx.load(src)
    g = m.graph
    inits = {i.name: i for i in g.initializer}
    nodes, done = [], 0
    for n in g.node:
        w = inits.get(n.input[1]) if n.op_type == "MatMul" else None
        if w is None or len(w.dims) != 2 or w.data_type != TensorProto.FLOAT:
            nodes.append(n)
            continue
        wf = numpy_helper.to_array(w)
        scale = max(float(np.abs(wf).max()) / 127.0, 1e-12)
        wq = np.clip(np.rint(wf / scale), -127, 127).astype(np.int8)
        p = f"{n.name or n.output[0]}_q"
        g.initializer.extend([numpy_helper.from_array(wq, w.name + "_quantized"),
                              numpy_helper.from_array(np.array(scale, np.float32), w.name + "_scale"),
                              numpy_helper.from_array(np.array(0, np.int8), w.name + "_zero_point")])
        a = n.input[0]
        nodes += [
            helper.make_node("DynamicQuantizeLinear", [a], [p + "_a", p + "_a_scale", p + "_a_zp"],
                             name=p + "_dql"),
            helper.make_node("MatMulInteger",
                             [p + "_a", w.name + "_quantized", p + "_a_zp", w.name + "_zero_point"],
                             [p + "_int"], name=p + "_mmi"),
            helper.make_node("Cast", [p + "_int"], [p + "_f"], to=TensorProto.FLOAT, name=p + "_cast"),
            helper.make_node("Mul", [p + "_a_scale", w.name + "_scale"], [p + "_s"], name=p + "_smul"),
            helper.make_node("Mul", [p + "_f", p + "_s"], [n.output[0]], name=p + "_mul"),
        ]
        done += 1
    del g.node[:]
    g.node.extend(nodes)
    used = {i for n in g.node for i in n.input}
    keep = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)
    onnx.checker.check_model(m)
    onnx.save(m, dst)
    print(f"{dst}: {done} MatMuls quantised (dynamic uint8 activations, int8 per-tensor weights)",
          file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "quantize":
        quantize(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3:
        export(sys.argv[1], sys.argv[2])
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)
