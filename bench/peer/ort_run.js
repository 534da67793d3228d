#!/usr/bin/env node
// Runs an ONNX model with ONNX Runtime (npm onnxruntime-node) as a second opinion for joule.
//
//   node bench/peer/ort_run.js MODEL --inputs DIR --outputs DIR [--threads N] [--repeat N] [--warmup N] [--version]
//
// DIR holds input_0.pb, input_1.pb ... (serialized ONNX TensorProto, the backend-test layout). A file
// whose stored name matches a model input feeds that input; otherwise files feed inputs in order.
// Outputs are written as output_0.pb ... (TensorProto with raw_data, named after the model output).
// Prints the ORT version, each output's dtype/shape, the session load time and the median latency over
// --repeat runs (after --warmup untimed runs, default 0).
//
// TensorProto is parsed by hand (protobuf wire format), covering the fields numpy_helper.from_array
// and the ONNX test data use: dims(1), data_type(2), float_data(4), int32_data(5), int64_data(7),
// name(8), raw_data(9), double_data(10), uint64_data(11).
'use strict';
const fs = require('fs');
const path = require('path');

function loadOrt() {
  const local = path.join(__dirname, 'node_modules', 'onnxruntime-node');
  try {
    return { ort: require(local), version: require(path.join(local, 'package.json')).version };
  } catch (e) {
    console.error('ort_run.js: onnxruntime-node not installed (run bench/peer/install_ort.sh): ' + e.message);
    process.exit(2);
  }
}

// ---- ONNX data types <-> ORT tensor types ----------------------------------------------------------
const DTYPES = {
  1: { ort: 'float32', arr: Float32Array },
  2: { ort: 'uint8', arr: Uint8Array },
  3: { ort: 'int8', arr: Int8Array },
  4: { ort: 'uint16', arr: Uint16Array },
  5: { ort: 'int16', arr: Int16Array },
  6: { ort: 'int32', arr: Int32Array },
  7: { ort: 'int64', arr: BigInt64Array },
  9: { ort: 'bool', arr: Uint8Array },
  10: { ort: 'float16', arr: Uint16Array },
  11: { ort: 'float64', arr: Float64Array },
  12: { ort: 'uint32', arr: Uint32Array },
  13: { ort: 'uint64', arr: BigUint64Array },
};
const ORT_TO_ONNX = {};
for (const [k, v] of Object.entries(DTYPES)) ORT_TO_ONNX[v.ort] = Number(k);

// ---- protobuf wire format ----------------------------------------------------------------------------
function readVarint(buf, pos) {
  let result = 0n, shift = 0n;
  for (;;) {
    if (pos.i >= buf.length) throw new Error('truncated varint');
    const b = buf[pos.i++];
    result |= BigInt(b & 0x7f) << shift;
    if (!(b & 0x80)) return result;
    shift += 7n;
    if (shift > 70n) throw new Error('varint too long');
  }
}

function parseTensorProto(buf) {
  const t = { dims: [], dataType: 0, name: '', raw: null, floats: [], int32s: [], int64s: [], doubles: [], uint64s: [] };
  const pos = { i: 0 };
  const toSigned = (v) => BigInt.asIntN(64, v);
  while (pos.i < buf.length) {
    const key = Number(readVarint(buf, pos));
    const field = key >>> 3, wire = key & 7;
    // Repeated numeric fields come packed (wire 2) or one by one (wire 0/1/5).
    const readPackedOr = (single) => {
      if (wire === 2) {
        const len = Number(readVarint(buf, pos)), end = pos.i + len;
        while (pos.i < end) single();
      } else {
        single();
      }
    };
    switch (field) {
      case 1: readPackedOr(() => t.dims.push(Number(toSigned(readVarint(buf, pos))))); break;
      case 2: t.dataType = Number(readVarint(buf, pos)); break;
      case 4: readPackedOr(() => { t.floats.push(buf.readFloatLE(pos.i)); pos.i += 4; }); break;
      case 5: readPackedOr(() => t.int32s.push(Number(BigInt.asIntN(32, readVarint(buf, pos))))); break;
      case 7: readPackedOr(() => t.int64s.push(toSigned(readVarint(buf, pos)))); break;
      case 10: readPackedOr(() => { t.doubles.push(buf.readDoubleLE(pos.i)); pos.i += 8; }); break;
      case 11: readPackedOr(() => t.uint64s.push(readVarint(buf, pos))); break;
      case 8: case 9: {
        const len = Number(readVarint(buf, pos));
        const bytes = buf.subarray(pos.i, pos.i + len);
        pos.i += len;
        if (field === 8) t.name = bytes.toString('utf8');
        else t.raw = Buffer.from(bytes);
        break;
      }
      default: // skip unknown fields
        if (wire === 0) readVarint(buf, pos);
        else if (wire === 1) pos.i += 8;
        else if (wire === 5) pos.i += 4;
        else if (wire === 2) { const len = Number(readVarint(buf, pos)); pos.i += len; }
        else throw new Error('unsupported wire type ' + wire);
    }
  }
  return t;
}

function toOrtTensor(ort, t) {
  const dt = DTYPES[t.dataType];
  if (!dt) throw new Error('unsupported TensorProto data_type ' + t.dataType);
  const n = t.dims.reduce((a, b) => a * b, 1);
  let data;
  if (t.raw) {
    const copy = new Uint8Array(t.raw); // aligned copy
    data = new dt.arr(copy.buffer, 0, n);
  } else {
    data = new dt.arr(n);
    const src = t.dataType === 1 ? t.floats : t.dataType === 11 ? t.doubles : t.dataType === 7 ? t.int64s
      : t.dataType === 13 ? t.uint64s : t.int32s;
    for (let i = 0; i < n; ++i) data[i] = (dt.arr === BigInt64Array || dt.arr === BigUint64Array) ? BigInt(src[i]) : src[i];
  }
  if (t.dataType === 9) return new ort.Tensor('bool', data, t.dims);
  return new ort.Tensor(dt.ort, data, t.dims);
}

function writeVarint(out, v) {
  let x = BigInt.asUintN(64, BigInt(v));
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x) b |= 0x80;
    out.push(b);
  } while (x);
}

// Builds the message in field order: dims, data_type, name, raw_data.
function assemble(dims, type, nameBytes, raw) {
  const head = [];
  for (const d of dims) { head.push(0x08); writeVarint(head, d); }
  head.push(0x10); writeVarint(head, type);
  head.push(0x42); writeVarint(head, nameBytes.length);
  const mid = [0x4a]; writeVarint(mid, raw.length);
  return Buffer.concat([Buffer.from(head), nameBytes, Buffer.from(mid), raw]);
}

// ---- command line ----------------------------------------------------------------------------------
function parseArgs(argv) {
  const a = { model: null, inputs: null, outputs: null, threads: 0, repeat: 1, warmup: 0, version: false };
  for (let i = 0; i < argv.length; ++i) {
    const s = argv[i];
    if (s === '--inputs') a.inputs = argv[++i];
    else if (s === '--outputs') a.outputs = argv[++i];
    else if (s === '--threads') a.threads = parseInt(argv[++i], 10);
    else if (s === '--repeat') a.repeat = Math.max(1, parseInt(argv[++i], 10));
    else if (s === '--warmup') a.warmup = Math.max(0, parseInt(argv[++i], 10));
    else if (s === '--version') a.version = true;
    else if (!a.model) a.model = s;
    else throw new Error('unexpected argument ' + s);
  }
  return a;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const { ort, version } = loadOrt();
  console.log('onnxruntime-node ' + version);
  if (args.version) return;
  if (!args.model || !args.inputs) throw new Error('usage: ort_run.js MODEL --inputs DIR [--outputs DIR] [--threads N] [--repeat N]');
  const opts = { graphOptimizationLevel: 'all' };
  if (args.threads > 0) { opts.intraOpNumThreads = args.threads; opts.interOpNumThreads = 1; }
  const tLoad = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(args.model, opts);
  const loadMs = Number(process.hrtime.bigint() - tLoad) / 1e6;

  const files = fs.readdirSync(args.inputs).filter((f) => /^input_\d+\.pb$/.test(f))
    .sort((x, y) => parseInt(x.slice(6), 10) - parseInt(y.slice(6), 10));
  const protos = files.map((f) => parseTensorProto(fs.readFileSync(path.join(args.inputs, f))));
  const byName = protos.every((p) => session.inputNames.includes(p.name));
  if (!byName && protos.length !== session.inputNames.length)
    throw new Error(`${args.inputs}: has ${protos.length} inputs, the model takes ${session.inputNames.length}`);
  const feeds = {};
  protos.forEach((p, i) => { feeds[byName ? p.name : session.inputNames[i]] = toOrtTensor(ort, p); });

  const ms = [];
  let results;
  for (let w = 0; w < args.warmup; ++w) results = await session.run(feeds);
  for (let r = 0; r < args.repeat; ++r) {
    const t0 = process.hrtime.bigint();
    results = await session.run(feeds);
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  ms.sort((x, y) => x - y);
  if (args.outputs) fs.mkdirSync(args.outputs, { recursive: true });
  session.outputNames.forEach((name, i) => {
    const t = results[name];
    console.log(`output ${i} '${name}': ${t.type} ${t.dims.join('x')}`);
    if (args.outputs) fs.writeFileSync(path.join(args.outputs, `output_${i}.pb`), assemble(t.dims, ORT_TO_ONNX[t.type], Buffer.from(name, 'utf8'), Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)));
  });
  console.log(`load ${loadMs.toFixed(3)} ms`);
  console.log(`run ${args.repeat > 1 ? 'median ' : ''}${ms[ms.length >> 1].toFixed(3)} ms (${args.repeat} runs)`);
}

main().catch((e) => { console.error('ort_run.js: error: ' + e.message); process.exit(1); });
