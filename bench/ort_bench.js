// ort_bench.js: ONNX Runtime (npm onnxruntime-node) on the ONNX graphs of bench/onnx_export.py,
// for bench/peers.sh. Not a test. ORT_NODE_DIR is the folder whose node_modules holds it.
//   node ort_bench.js bench MODEL.onnx image|text BATCH THREADS TOKENS RUNS
//       -> {"runs_ms_per_item":[...],"median_ms_per_item":x}: a warm-up run, then RUNS timed ones
//   node ort_bench.js run MODEL.onnx image|text IN.bin SHAPE(a,b,..) OUT.bin THREADS
//       -> the embeddings of a float32 (image) or int64 (text) input, as float32
const fs = require("fs");
const path = require("path");
const ort = require(path.join(process.env.ORT_NODE_DIR || ".", "node_modules", "onnxruntime-node"));

async function session(model, threads) {
  // ORT's best CPU setting: all optimisations, intra-op threads = cores used, spinning allowed
  return ort.InferenceSession.create(model, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
  });
}

function feeds(s, tower, data, dims) {
  const name = s.inputNames[0];
  return { [name]: new ort.Tensor(tower === "image" ? "float32" : "int64", data, dims) };
}

async function bench(model, tower, batch, threads, tokens, runs) {
  const s = await session(model, threads);
  let data, dims;
  if (tower === "image") {
    const side = Number(process.env.IMAGE_SIZE || 224);
    data = new Float32Array(batch * 3 * side * side);
    let x = 12345;
    for (let i = 0; i < data.length; i++) {
      x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
      data[i] = ((x >>> 8) / (1 << 24)) * 4 - 2;
    }
    dims = [batch, 3, side, side];
  } else {
    data = new BigInt64Array(batch * tokens);
    for (let b = 0; b < batch; b++)
      for (let t = 0; t < tokens; t++)
        data[b * tokens + t] = BigInt(t === 0 ? 49406 : t === tokens - 1 ? 49407 : 320 + ((b * 7 + t) % 1000));
    dims = [batch, tokens];
  }
  const f = feeds(s, tower, data, dims);
  const ms = [];
  for (let r = -1; r < runs; r++) {
    const t0 = process.hrtime.bigint();
    await s.run(f);
    const dt = Number(process.hrtime.bigint() - t0) / 1e6 / batch;
    if (r >= 0) ms.push(dt);
  }
  const sorted = [...ms].sort((a, b) => a - b);
  const n = sorted.length;
  const median = n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  console.log(JSON.stringify({ runs_ms_per_item: ms.map((v) => +v.toFixed(3)), median_ms_per_item: +median.toFixed(3) }));
}

async function run(model, tower, inFile, shape, outFile, threads) {
  const s = await session(model, threads);
  const buf = fs.readFileSync(inFile);
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const data = tower === "image" ? new Float32Array(ab) : new BigInt64Array(ab);
  const out = await s.run(feeds(s, tower, data, shape.split(",").map(Number)));
  const y = out[s.outputNames[0]].data;
  fs.writeFileSync(outFile, Buffer.from(y.buffer, y.byteOffset, y.byteLength));
}

const a = process.argv.slice(2);
const main =
  a[0] === "bench" && a.length === 7
    ? bench(a[1], a[2], +a[3], +a[4], +a[5], +a[6])
    : a[0] === "run" && a.length === 7
      ? run(a[1], a[2], a[3], a[4], a[5], +a[6])
      : Promise.reject(new Error("usage: see the head of ort_bench.js"));
main.catch((e) => {
  console.error("ort_bench: " + e.message);
  process.exit(1);
});
