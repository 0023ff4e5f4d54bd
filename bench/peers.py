#!/usr/bin/python3
"""peers.py: geolabel against ONNX Runtime (and PyTorch) row by row, for bench/peers.sh. Not a test.

Every measurement is one process (model load, a warm-up forward, RUNS timed forwards). Before each
one the script waits until /proc/stat shows the machine idle, and afterwards it checks that the
CPU time spent while it ran was the process's own (children's rusage) within IDLE_FRAC of the
machine: otherwise the measurement is thrown away and repeated. (This kernel schedules by
autogroup, so a niced neighbour still takes its share: only an idle machine gives clean figures.)
geolabel and ORT alternate within each row, and the order is reversed every other round.

  peers.py GEOLABEL WORK ORT_NODE_DIR ROUNDS RUNS [KEY,KEY...]   (rows whose name holds a KEY)
WORK holds vit-b-32/ and vit-l-14-336/ (model folders) with onnx/ inside each; fma_peak beside.
Prints the Markdown table; raw runs go to WORK/peers.json.
"""
import json
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"
IDLE_FRAC = float(os.environ.get("IDLE_FRAC", "0.03"))  # of all CPUs: what others may use
IDLE_WAIT_MAX = float(os.environ.get("IDLE_WAIT_MAX", "3600"))
NCPU = os.cpu_count()
TICK = os.sysconf("SC_CLK_TCK")

# name, model, tower, batch, threads, tokens, our dtype, ORT graph
ROWS = [
    ("image b1, 1 thread", "vit-b-32", "image", 1, 1, 0, "f32", "image.onnx"),
    ("image b1, 2 threads", "vit-b-32", "image", 1, 2, 0, "f32", "image.onnx"),
    ("image b8, 1 thread", "vit-b-32", "image", 8, 1, 0, "f32", "image.onnx"),
    ("image b8, 2 threads", "vit-b-32", "image", 8, 2, 0, "f32", "image.onnx"),
    ("text 8 tokens, 1 thread", "vit-b-32", "text", 1, 1, 8, "f32", "text.onnx"),
    ("text 8 tokens, 2 threads", "vit-b-32", "text", 1, 2, 8, "f32", "text.onnx"),
    ("text 77 tokens, 1 thread", "vit-b-32", "text", 1, 1, 77, "f32", "text.onnx"),
    ("text 77 tokens, 2 threads", "vit-b-32", "text", 1, 2, 77, "f32", "text.onnx"),
    ("ViT-L/14-336 image b1, 2 threads", "vit-l-14-336", "image", 1, 2, 0, "f32", "image.onnx"),
    ("image int8 b1, 2 threads (ORT dynamic int8)", "vit-b-32", "image", 1, 2, 0, "int8",
     "image_int8.onnx"),
    ("image int8 b8, 2 threads (ORT dynamic int8)", "vit-b-32", "image", 8, 2, 0, "int8",
     "image_int8.onnx"),
    ("image bf16 b8, 2 threads (ORT f32: no bf16 CPU path)", "vit-b-32", "image", 8, 2, 0, "bf16",
     "image.onnx"),
]


def stat_busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    total = sum(v[:8])
    return total - v[3] - v[4], total  # busy, all (jiffies over all CPUs)


def wait_idle():
    t0 = time.time()
    calm, last_note = 0, 0
    while calm < 3:
        b0, a0 = stat_busy()
        time.sleep(1.0)
        b1, a1 = stat_busy()
        frac = (b1 - b0) / max(1, a1 - a0)
        calm = calm + 1 if frac < IDLE_FRAC else 0
        if time.time() - last_note > 60 and calm == 0:
            last_note = time.time()
            print(f"  waiting for an idle machine ({100 * frac:.0f}% busy)", file=sys.stderr)
        if time.time() - t0 > IDLE_WAIT_MAX:
            sys.exit(f"peers.py: the machine was not idle for {IDLE_WAIT_MAX:.0f} s; no figures")


def measured(cmd, env=None):
    """Runs cmd on an idle machine; repeats it if anything else ran meanwhile. Returns stdout."""
    for attempt in range(20):
        wait_idle()
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        b0, _ = stat_busy()
        t0 = time.time()
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
        wall = time.time() - t0
        b1, _ = stat_busy()
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if p.returncode:
            sys.exit(f"peers.py: {' '.join(cmd)} failed: {p.stderr.strip()}")
        own = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        others = (b1 - b0) / TICK - own
        if others <= IDLE_FRAC * wall * NCPU + 0.05:
            return p.stdout
        print(f"  disturbed: others used {others:.2f} CPU s during {wall:.1f} s; repeating",
              file=sys.stderr)
    sys.exit("peers.py: 20 disturbed attempts in a row; no figures")


def gflop(model_dir, tower, tokens):
    """Multiply-adds x 2 of one item through the tower (linear layers, attention, patches)."""
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    v, t = cfg["vision_config"], cfg["text_config"]
    c = v if tower == "image" else t
    d, i = c["hidden_size"], c["intermediate_size"]
    layers = c["num_hidden_layers"]
    proj = cfg.get("projection_dim", 512)
    if tower == "image":
        side = v["image_size"] // v["patch_size"]
        T = side * side + 1
        extra = 2 * side * side * 3 * v["patch_size"] ** 2 * d
    else:
        T = tokens
        extra = 0
    per_layer = 2 * T * (4 * d * d + 2 * d * i) + 2 * 2 * T * T * d
    return (layers * per_layer + extra + 2 * d * proj) * 1e-9


def main(argv):
    geolabel, work, ort_dir, rounds, runs = argv[1], argv[2], argv[3], int(argv[4]), int(argv[5])
    keys = [k for k in (argv[6].split(",") if len(argv) > 6 else []) if k]
    rows = [r for r in ROWS if not keys or any(k in r[0] for k in keys)]
    env_ort = dict(os.environ, ORT_NODE_DIR=ort_dir)
    peaks, bf16_peaks = {}, {}
    for th in (1, 2):
        out = measured([os.path.join(work, "fma_peak"), str(th)])
        peaks[th] = float(out.split()[0])
        # the VDPBF16PS ceiling of the bf16 rows on CPUs without AMX (exit 3: no AVX512-BF16)
        p = subprocess.run([os.path.join(work, "fma_peak"), str(th), "bf16"],
                           capture_output=True, text=True)
        if p.returncode == 0:
            bf16_peaks[th] = float(measured([os.path.join(work, "fma_peak"), str(th), "bf16"])
                                   .split()[0])
    results = []
    for name, model, tower, batch, threads, tokens, dtype, graph in rows:
        mdir = os.path.join(work, model)
        cfg = json.load(open(os.path.join(mdir, "config.json")))
        ours_cmd = [geolabel, "bench", "--model", mdir, "--tower", tower, "--batch", str(batch),
                    "--threads", str(threads), "--runs", str(runs), "--dtype", dtype, "--json"]
        if tower == "text":
            ours_cmd += ["--tokens", str(tokens)]
        ort_cmd = ["node", os.path.join(HERE, "ort_bench.js"), "bench",
                   os.path.join(mdir, "onnx", graph), tower, str(batch), str(threads),
                   str(tokens), str(runs)]
        env = dict(env_ort, IMAGE_SIZE=str(cfg["vision_config"]["image_size"]))
        ours, ort, isa = [], [], ""
        for r in range(rounds):
            order = [("ours", ours_cmd), ("ort", ort_cmd)]
            if r % 2:
                order.reverse()
            for who, cmd in order:
                o = json.loads(measured(cmd, env))
                (ours if who == "ours" else ort).extend(o["runs_ms_per_item"])
                isa = o.get("isa", isa)
        torch_best = None
        if os.environ.get("PEERS_TORCH", "1") == "1" and model == "vit-b-32" and dtype == "f32":
            # PyTorch's thread settings on `threads` cores: torch intra-op threads x OpenBLAS's
            for tt, bt in ((1, 1),) if threads == 1 else ((2, 1), (1, 2), (2, 2)):
                cmd = [PY, os.path.join(HERE, "torch_clip.py"), "bench", mdir, tower, str(batch),
                       str(tt), str(tokens or 77), str(runs)]
                out = measured(cmd, dict(os.environ, OPENBLAS_NUM_THREADS=str(bt),
                                         OPENBLAS_CORETYPE="SKYLAKEX"))
                ms = float(out.split()[0])
                if torch_best is None or ms < torch_best[0]:
                    torch_best = (ms, f"torch {tt} x OpenBLAS {bt}")
        gf = gflop(mdir, tower, tokens)
        res = dict(name=name, ours=ours, ort=ort, isa=isa, gflop=gf, peak=peaks[threads],
                   torch=torch_best, dtype=dtype, threads=threads)
        results.append(res)
        print(f"  {name}: geolabel {statistics.median(ours):.2f} ms, ORT {statistics.median(ort):.2f}"
              f" ms", file=sys.stderr)
    with open(os.path.join(work, "peers.json"), "w") as f:
        json.dump(dict(peaks=peaks, bf16_peaks=bf16_peaks, rows=results), f, indent=1)
    print(f"Measured FMA peak (f32, AVX-512 FMA chains): {peaks[1]:.1f} GFLOP/s on 1 core, "
          f"{peaks[2]:.1f} on 2. {rounds} rounds x {runs} runs per engine and row, "
          "ms per image or text, median [min-max]; ratio = geolabel / ORT.")
    if bf16_peaks:
        print(f"Measured bf16 peak (VDPBF16PS chains): {bf16_peaks[1]:.1f} GFLOP/s on 1 core, "
              f"{bf16_peaks[2]:.1f} on 2; bf16 rows also give their % of it.")
    print()
    print("| row | geolabel | ONNX Runtime | ratio | geolabel % of peak | ORT % of peak "
          "| PyTorch, best setting |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        mo, mt = statistics.median(r["ours"]), statistics.median(r["ort"])
        pct = lambda ms: 100 * r["gflop"] / (ms * 1e-3) / r["peak"]
        tb = f"{r['torch'][0]:.1f} ({r['torch'][1]})" if r["torch"] else "-"
        bf = bf16_peaks.get(r["threads"]) if r["dtype"] == "bf16" else None
        ours_pct = f"{pct(mo):.0f}%" + (
            f" ({100 * r['gflop'] / (mo * 1e-3) / bf:.0f}% of bf16 peak)" if bf else "")
        print(f"| {r['name']} | {mo:.2f} [{min(r['ours']):.2f}-{max(r['ours']):.2f}] "
              f"| {mt:.2f} [{min(r['ort']):.2f}-{max(r['ort']):.2f}] | {mo / mt:.2f} "
              f"| {ours_pct} | {pct(mt):.0f}% | {tb} |")


if __name__ == "__main__":
    main(sys.argv)
