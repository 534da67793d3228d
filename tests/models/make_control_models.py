#!/usr/bin/python3
"""Builds small control-flow models, runs them through `joule run` (and ONNX Runtime 1.30 through
bench/peer/ort_run.js when installed) and compares both with values computed here in numpy (within 1e-5).

    /usr/bin/python3 tests/models/make_control_models.py --out build/control_models --joule build/bin/joule

Models (opset 16), each written as NAME/model.onnx + NAME/inputs/input_K.pb + NAME/expected/output_K.pb:
  if_by_int64   an If that picks a branch by an int64 input (mode > 0: x * w + b; else: flatten(x) - 1,
                another shape), run for both branches
  loop_rnn      a Loop that unrolls a tanh recurrence h <- tanh(h W + x_t) over the rows of x (read from the
                outer scope with Gather(i)), with the per-step h as scan output
  scan_cumsum   a Scan cumulative sum over axis 1 of x [4, 9], reversed direction, state = row totals
Exit status 0 when everything matches; when onnx/numpy cannot be imported it prints why and exits 0
(the caller skips); a missing ORT peer is reported and skipped.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def build_models(np, onnx, helper, numpy_helper):
    TP = onnx.TensorProto
    rng = np.random.default_rng(7)
    models = {}

    # ---- If picking a branch by an int64 input --------------------------------------------------------
    w = rng.standard_normal((5,)).astype(np.float32)
    b = rng.standard_normal((5,)).astype(np.float32)
    then_g = helper.make_graph(
        [helper.make_node("Mul", ["x", "w"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["t_out"])],
        "then", [], [helper.make_tensor_value_info("t_out", TP.FLOAT, None)],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    else_g = helper.make_graph(
        [helper.make_node("Flatten", ["x"], ["fx"], axis=0), helper.make_node("Sub", ["fx", "one"], ["e_out"])],
        "else", [], [helper.make_tensor_value_info("e_out", TP.FLOAT, None)],
        [numpy_helper.from_array(np.array(1, np.float32), "one")])
    g = helper.make_graph(
        [helper.make_node("Constant", [], ["zero"], value=numpy_helper.from_array(np.array(0, np.int64))),
         helper.make_node("Greater", ["mode", "zero"], ["c"]),
         helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)],
        "if_by_int64",
        [helper.make_tensor_value_info("x", TP.FLOAT, [3, 5]), helper.make_tensor_value_info("mode", TP.INT64, [])],
        [helper.make_tensor_value_info("y", TP.FLOAT, None)])
    x = rng.standard_normal((3, 5)).astype(np.float32)
    cases = []
    for mode in (3, -2):
        y = x * w + b if mode > 0 else x.reshape(1, 15) - 1
        cases.append(([x, np.array(mode, np.int64)], [y.astype(np.float32)]))
    models["if_by_int64"] = (g, cases)

    # ---- Loop unrolling a recurrence ------------------------------------------------------------------
    T, H = 6, 8
    W = (rng.standard_normal((H, H)) * 0.4).astype(np.float32)
    body = helper.make_graph(
        [helper.make_node("Gather", ["xs", "i"], ["xt"], axis=0),
         helper.make_node("MatMul", ["h", "W"], ["hw"]),
         helper.make_node("Add", ["hw", "xt"], ["pre"]),
         helper.make_node("Tanh", ["pre"], ["h_next"]),
         helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Identity", ["h_next"], ["h_scan"])],
        "body",
        [helper.make_tensor_value_info("i", TP.INT64, []), helper.make_tensor_value_info("cond_in", TP.BOOL, []),
         helper.make_tensor_value_info("h", TP.FLOAT, None)],
        [helper.make_tensor_value_info("cond_out", TP.BOOL, []), helper.make_tensor_value_info("h_next", TP.FLOAT, None),
         helper.make_tensor_value_info("h_scan", TP.FLOAT, None)])
    g = helper.make_graph(
        [helper.make_node("Shape", ["xs"], ["xs_shape"]),
         helper.make_node("Gather", ["xs_shape", "zero_i"], ["trip"], axis=0),
         helper.make_node("Loop", ["trip", "", "h0"], ["h_final", "h_all"], body=body)],
        "loop_rnn",
        [helper.make_tensor_value_info("xs", TP.FLOAT, [T, H]), helper.make_tensor_value_info("h0", TP.FLOAT, [H])],
        [helper.make_tensor_value_info("h_final", TP.FLOAT, [H]), helper.make_tensor_value_info("h_all", TP.FLOAT, None)],
        [numpy_helper.from_array(W, "W"), numpy_helper.from_array(np.array(0, np.int64), "zero_i")])
    xs = rng.standard_normal((T, H)).astype(np.float32)
    h0 = rng.standard_normal((H,)).astype(np.float32)
    h, hs = h0.astype(np.float64), []
    for t in range(T):
        h = np.tanh(h @ W.astype(np.float64) + xs[t])
        hs.append(h)
    models["loop_rnn"] = (g, [([xs, h0], [h.astype(np.float32), np.stack(hs).astype(np.float32)])])

    # ---- Scan cumulative sum --------------------------------------------------------------------------
    body = helper.make_graph(
        [helper.make_node("Add", ["s", "xi"], ["s_next"]), helper.make_node("Identity", ["s_next"], ["s_out"])],
        "body",
        [helper.make_tensor_value_info("s", TP.FLOAT, [4]), helper.make_tensor_value_info("xi", TP.FLOAT, [4])],
        [helper.make_tensor_value_info("s_next", TP.FLOAT, [4]), helper.make_tensor_value_info("s_out", TP.FLOAT, [4])])
    g = helper.make_graph(
        [helper.make_node("Scan", ["s0", "x"], ["total", "cums"], body=body, num_scan_inputs=1,
                          scan_input_axes=[1], scan_input_directions=[1], scan_output_axes=[1])],
        "scan_cumsum",
        [helper.make_tensor_value_info("s0", TP.FLOAT, [4]), helper.make_tensor_value_info("x", TP.FLOAT, [4, 9])],
        [helper.make_tensor_value_info("total", TP.FLOAT, [4]), helper.make_tensor_value_info("cums", TP.FLOAT, [4, 9])])
    x = rng.standard_normal((4, 9)).astype(np.float32)
    s0 = rng.standard_normal((4,)).astype(np.float32)
    cums = s0[:, None] + np.cumsum(x[:, ::-1].astype(np.float64), axis=1)
    models["scan_cumsum"] = (g, [([s0, x], [cums[:, -1].astype(np.float32), cums.astype(np.float32)])])

    out = {}
    for name, (graph, cases) in models.items():
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 16)], producer_name="make_control_models")
        m.ir_version = 8
        # (no onnx.checker: onnx 1.12 insists on shapes for the untyped-shape body values used here)
        out[name] = (m, cases)
    return out


def write_tensors(np, numpy_helper, folder, prefix, arrays):
    os.makedirs(folder, exist_ok=True)
    for k, a in enumerate(arrays):
        with open(os.path.join(folder, f"{prefix}_{k}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(np.asarray(a)).SerializeToString())


def read_outputs(onnx, numpy_helper, folder, n):
    outs = []
    for k in range(n):
        t = onnx.TensorProto()
        with open(os.path.join(folder, f"output_{k}.pb"), "rb") as f:
            t.ParseFromString(f.read())
        outs.append(numpy_helper.to_array(t))
    return outs


def compare(np, label, got, want, tol=1e-5):
    if len(got) != len(want):
        return f"{label}: {len(got)} outputs, expected {len(want)}"
    for k, (g, w) in enumerate(zip(got, want)):
        if g.shape != w.shape:
            return f"{label}: output {k} has shape {g.shape}, expected {w.shape}"
        err = float(np.max(np.abs(g.astype(np.float64) - w.astype(np.float64)))) if g.size else 0.0
        if err > tol:
            return f"{label}: output {k} differs by {err:.3g} (> {tol})"
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--joule", required=True, help="path to the joule CLI")
    args = ap.parse_args()
    try:
        import numpy as np
        import onnx
        from onnx import helper, numpy_helper
    except Exception as e:  # noqa: BLE001
        print(f"SKIP: cannot import numpy/onnx ({e})")
        return 0
    models = build_models(np, onnx, helper, numpy_helper)
    ort_js = os.path.join(ROOT, "bench", "peer", "ort_run.js")
    have_ort = shutil.which("node") is not None and os.path.isdir(os.path.join(ROOT, "bench", "peer", "node_modules", "onnxruntime-node"))
    if not have_ort:
        print("ORT peer not installed (bench/peer/install_ort.sh): comparing joule with numpy only")
    failures = []
    for name, (m, cases) in models.items():
        d = os.path.join(args.out, name)
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "model.onnx")
        onnx.save(m, path)
        for ci, (ins, want) in enumerate(cases):
            cd = os.path.join(d, f"case_{ci}")
            write_tensors(np, numpy_helper, os.path.join(cd, "inputs"), "input", ins)
            write_tensors(np, numpy_helper, os.path.join(cd, "expected"), "output", want)
            runners = [("joule", [args.joule, "run", path, "--inputs", os.path.join(cd, "inputs"), "--outputs"])]
            if have_ort:
                runners.append(("ort", ["node", ort_js, path, "--inputs", os.path.join(cd, "inputs"), "--threads", "1", "--outputs"]))
            for who, cmd in runners:
                od = os.path.join(cd, f"out_{who}")
                shutil.rmtree(od, ignore_errors=True)
                os.makedirs(od)
                r = subprocess.run(cmd + [od], capture_output=True, text=True, timeout=120)
                if r.returncode != 0:
                    failures.append(f"{name} case {ci} ({who}): exit {r.returncode}: {(r.stderr or r.stdout).strip()[-300:]}")
                    continue
                err = compare(np, f"{name} case {ci} ({who})", read_outputs(onnx, numpy_helper, od, len(want)), want)
                if err:
                    failures.append(err)
                else:
                    print(f"ok   {name} case {ci} ({who})")
    for f in failures:
        print("FAIL", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
