#!/usr/bin/env python3
"""INT4 benchmark: FP32 vs INT8 (--dynamic) vs INT4 (RTN, GPTQ) on transformer encoders, joule and ONNX Runtime.

  /usr/bin/python3 bench/int4_bench.py --bin build/bin --work /tmp/int4_bench [--shapes minilm bert] [--repeat 10]

For each shape (tests/models/make_int4_models.py: synthetic weights, seq 128, batch 1) it writes the variants with
`quantize`, then measures, interleaved in one loop, `joule run --threads 1` and `ort_run.js --threads 1` (median of
--repeat runs after 2 warm-up runs) on each variant, the output cosine against FP32 (joule, mean over the eval
samples) and the file sizes; INT4 linear-layer weight bytes come from the quantize summary. Prints a Markdown table;
"joule CPU ms" is the process CPU-time median `joule run` prints (on a loaded machine the wall median also counts
time spent waiting for a core).
"""
import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sh(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("failed: %s\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
    return r.stdout + r.stderr


def load_pb(path):
    import numpy as np
    import onnx
    from onnx import numpy_helper
    return numpy_helper.to_array(onnx.load_tensor(path)).astype(np.float64).ravel()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    ap.add_argument("--work", default="/tmp/int4_bench")
    ap.add_argument("--shapes", nargs="+", default=["minilm"])
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--eval", type=int, default=2)
    ap.add_argument("--no-gptq", action="store_true", help="skip the GPTQ variant (slow to quantize on BERT-base; "
                    "its file runs the same kernels as RTN's)")
    args = ap.parse_args()
    import numpy as np
    joule, quantize = os.path.join(args.bin, "joule"), os.path.join(args.bin, "quantize")
    ort = os.path.join(ROOT, "bench", "peer", "ort_run.js")
    have_ort = os.path.isdir(os.path.join(ROOT, "bench", "peer", "node_modules", "onnxruntime-node"))
    models = os.path.join(args.work, "models")
    rows = []
    for shape in args.shapes:
        sh(["/usr/bin/python3", os.path.join(ROOT, "tests", "models", "make_int4_models.py"), "--out", models, "--shape", shape])
        fp32 = os.path.join(models, shape + ".onnx")
        calib = os.path.join(models, shape + "_calib")
        ev = [os.path.join(models, shape + "_eval", d) for d in sorted(os.listdir(os.path.join(models, shape + "_eval")))][: args.eval]
        variants = [("FP32", fp32, None)]
        for name, extra in (("INT8 dynamic", ["--dynamic"]), ("INT4 RTN", ["--int4"]),
                            ("INT4 RTN fp16 scales", ["--int4", "--scale-dtype", "fp16"]),
                            ("INT4 GPTQ", ["--int4", "--method", "gptq", "--calib", calib])):
            if args.no_gptq and "GPTQ" in name:
                continue
            out = os.path.join(args.work, "%s_%s.onnx" % (shape, name.replace(" ", "_").lower()))
            summary = sh([quantize, fp32, "-o", out] + extra)
            m = re.search(r"INT4 layer weight bytes: (\d+) -> (\d+)", summary)
            variants.append((name, out, (int(m.group(1)), int(m.group(2))) if m else None))
        lat = {name: {"joule": [], "cpu": [], "ort": []} for name, _, _ in variants}
        outs = {}
        for name, path, _ in variants:  # outputs for the cosine
            outs[name] = []
            for i, d in enumerate(ev):
                od = os.path.join(args.work, "out_%s_%s_%d" % (shape, name.replace(" ", "_"), i))
                sh([joule, "run", path, "--inputs", d, "--outputs", od, "--threads", "1"])
                outs[name].append(load_pb(os.path.join(od, "output_0.pb")))
        for rnd in range(2):  # interleaved rounds: joule and ORT on each variant in turn
            for name, path, _ in variants:
                t = sh([joule, "run", path, "--inputs", ev[0], "--threads", "1", "--repeat", str(args.repeat), "--warmup", "2"])
                lat[name]["joule"].append(float(re.search(r"run median ([\d.]+) ms", t).group(1)))
                c = re.search(r"cpu median ([\d.]+) ms", t)
                lat[name]["cpu"].append(float(c.group(1)) if c else float("nan"))
                if have_ort:
                    t = sh(["node", ort, path, "--inputs", ev[0], "--threads", "1", "--repeat", str(args.repeat), "--warmup", "2"])
                    lat[name]["ort"].append(float(re.search(r"run (?:median )?([\d.]+) ms", t).group(1)))
        for name, path, wb in variants:
            cos = np.mean([a @ b / np.linalg.norm(a) / np.linalg.norm(b) for a, b in zip(outs["FP32"], outs[name])])
            j = min(lat[name]["joule"])
            o = min(lat[name]["ort"]) if have_ort else float("nan")
            rows.append((shape, name, j, min(lat[name]["cpu"]), o, j / o if have_ort else float("nan"), cos, os.path.getsize(path),
                         "%.4fx" % (wb[1] / wb[0]) if wb else ""))
            print("| %s | %s | %.1f | %.1f | %.1f | %.2f | %.6f | %d | %s |" % rows[-1], file=sys.stderr, flush=True)
    print("| model | variant | joule ms | joule CPU ms | ORT 1.30 ms | joule/ORT | cosine vs FP32 | file bytes | INT4 linear weight bytes |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %s | %.1f | %.1f | %.1f | %.2f | %.6f | %d | %s |" % r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
