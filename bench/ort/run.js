#!/usr/bin/env node
// Times onnxruntime-node (CPU EP) on a pd-llama-style export, the peer of
// bench/run_cpu_bench.sh. Prints one JSON object on stdout.
//
//   node bench/ort/run.js MODEL.onnx --prefill T  [options]   model.onnx: T tokens, no cache
//   node bench/ort/run.js MODEL.onnx --decode PAST [options]  model_kv.onnx: one token after
//                                                           a random KV cache of PAST tokens
// options:
//   --threads N   intraOpNumThreads (default 1; interOpNumThreads 1, sequential execution)
//   --runs N      timed runs after warm-up; the median is reported (default 20)
//   --warmup N    untimed runs first (default 3)
//   --opt LEVEL   graphOptimizationLevel: disabled|basic|extended|all (default all: speed;
//                 use basic for exact references)
//   --dump DIR    also write the inputs (DIR/NAME.npy) and the first output
//                 (DIR/ort-OUTPUT.npy), so another engine can be fed the same data
//                 and compared
//
// Inputs: token ids are deterministic pseudo-random ids below the vocab size
// (64 is safe for every model here); past_key.i / past_value.i are random
// floats in [-1, 1) of the shape the model declares with batch = 1,
// past_seq = PAST.
'use strict';
const ort = require('onnxruntime-node');

function usage(msg) {
  if (msg) process.stderr.write(`run.js: error: ${msg}\n`);
  process.stderr.write('usage: node run.js MODEL.onnx (--prefill T | --decode PAST) ' +
                       '[--threads N] [--runs N] [--warmup N] [--opt LEVEL]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const a = {threads: 1, runs: 20, warmup: 3, opt: 'all', model: null, mode: null, n: 0,
             dump: null};
  for (let i = 0; i < argv.length; ++i) {
    const k = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) usage(`${k} needs a value`);
      return argv[++i];
    };
    const int = (s) => {
      const v = Number(s);
      if (!Number.isInteger(v) || v < 0) usage(`${k} takes a non-negative integer, got '${s}'`);
      return v;
    };
    if (k === '--prefill') { a.mode = 'prefill'; a.n = int(val()); }
    else if (k === '--decode') { a.mode = 'decode'; a.n = int(val()); }
    else if (k === '--threads') a.threads = int(val());
    else if (k === '--runs') a.runs = int(val());
    else if (k === '--warmup') a.warmup = int(val());
    else if (k === '--opt') a.opt = val();
    else if (k === '--dump') a.dump = val();
    else if (k === '-h' || k === '--help') usage();
    else if (k.startsWith('--')) usage(`unknown option '${k}'`);
    else if (!a.model) a.model = k;
    else usage('more than one model given');
  }
  if (!a.model) usage('no model given');
  if (!a.mode) usage('give --prefill T or --decode PAST');
  if (a.mode === 'prefill' && a.n < 1) usage('--prefill needs T >= 1');
  if (a.runs < 1) usage('--runs must be >= 1');
  if (!['disabled', 'basic', 'extended', 'all'].includes(a.opt)) usage(`bad --opt '${a.opt}'`);
  return a;
}

// A NumPy .npy file (format 1.0, little-endian) of a float32 / int64 tensor.
function writeNpy(file, tensor) {
  const fs = require('fs');
  const descr = tensor.type === 'float32' ? '<f4' : tensor.type === 'int64' ? '<i8' : null;
  if (!descr) throw new Error(`--dump: no .npy writer for ${tensor.type}`);
  const shape = tensor.dims.length === 1 ? `(${tensor.dims[0]},)` : `(${tensor.dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1; head[7] = 0; head.writeUInt16LE(header.length, 8);
  const d = tensor.data;
  fs.writeFileSync(file, Buffer.concat([head, Buffer.from(header, 'latin1'),
                                        Buffer.from(d.buffer, d.byteOffset, d.byteLength)]));
}

// Small deterministic generator (xorshift32), so every run feeds the same data.
function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const tLoad = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(a.model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: a.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: a.opt,
  });
  const loadS = Number(process.hrtime.bigint() - tLoad) / 1e9;

  const rand = rng(12345);
  const T = a.mode === 'prefill' ? a.n : 1;
  const feeds = {};
  const meta = session.inputMetadata;
  for (let i = 0; i < session.inputNames.length; ++i) {
    const name = session.inputNames[i];
    const m = meta[i];
    if (m.type === 'int64' || m.type === 'int32') {
      const n = T;
      const ids = m.type === 'int64' ? new BigInt64Array(n) : new Int32Array(n);
      for (let k = 0; k < n; ++k) {
        const v = 1 + Math.floor(rand() * 63);
        ids[k] = m.type === 'int64' ? BigInt(v) : v;
      }
      feeds[name] = new ort.Tensor(m.type, ids, [1, T]);
      continue;
    }
    if (a.mode !== 'decode')
      throw new Error(`input '${name}' is not a token input: use --decode PAST for a KV-cache model`);
    // [batch, kv_heads, past_seq, head_dim]: symbolic dims become 1 (batch) and PAST.
    const dims = m.shape.map((d, j) => (typeof d === 'number' ? d : j === 0 ? 1 : a.n));
    const n = dims.reduce((x, y) => x * y, 1);
    const data = new Float32Array(n);
    for (let k = 0; k < n; ++k) data[k] = rand() * 2 - 1;
    feeds[name] = new ort.Tensor('float32', data, dims);
  }
  if (a.mode === 'decode' && Object.keys(feeds).length < 2)
    throw new Error('--decode needs a model with past_key/past_value inputs (model_kv.onnx)');

  if (a.dump) {
    require('fs').mkdirSync(a.dump, {recursive: true});
    for (const [name, t] of Object.entries(feeds)) writeNpy(`${a.dump}/${name}.npy`, t);
    const out = await session.run(feeds);
    const first = session.outputNames[0];
    writeNpy(`${a.dump}/ort-${first}.npy`, out[first]);
  }
  for (let i = 0; i < a.warmup; ++i) await session.run(feeds);
  const times = [];
  for (let i = 0; i < a.runs; ++i) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  times.sort((x, y) => x - y);
  const median = times[Math.floor(times.length / 2)];
  process.stdout.write(JSON.stringify({
    peer: 'onnxruntime-node',
    version: require('onnxruntime-node/package.json').version,
    model: a.model,
    mode: a.mode,
    tokens: T,
    past: a.mode === 'decode' ? a.n : 0,
    threads: a.threads,
    graph_optimization_level: a.opt,
    runs: a.runs,
    warmup: a.warmup,
    median_s: median,
    min_s: times[0],
    tok_s: T / median,
    session_create_s: loadS,
  }) + '\n');
}

main().catch((e) => {
  process.stderr.write(`run.js: error: ${e && e.message ? e.message : e}\n`);
  process.exit(1);
});
