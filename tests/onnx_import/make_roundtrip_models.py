#!/usr/bin/python3
"""Builds the small ONNX models that roundtrip_test.cpp imports, exports and re-imports.

usage: make_roundtrip_models.py OUT_DIR

Each model exercises one way real files store things: raw_data initializers, typed
float_data/int64_data fields, IR-3 style inputs that are also initializers, symbolic dims,
external data, a Constant node, an unused initializer and an If subgraph reading outer values.
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(1234)


def rand(shape, dtype=np.float32, low=-2.0, high=2.0):
    return rng.uniform(low, high, size=shape).astype(dtype)


def nonzero(shape):
    # Divisors stay away from zero so that Div results are ordinary numbers.
    return (rng.uniform(0.5, 2.0, size=shape) * rng.choice([-1, 1], size=shape)).astype(np.float32)


def save(model, out_dir, name, **kw):
    onnx.checker.check_model(model, full_check=True)
    onnx.save_model(model, os.path.join(out_dir, name + ".onnx"), **kw)


def add_mul_raw(out_dir):
    """Add/Mul/Sub chain, raw_data initializers, symbolic 'batch' dim, value_info for intermediates."""
    w = numpy_helper.from_array(rand((3, 5)), "W")
    b = numpy_helper.from_array(rand((5,)), "B")
    nodes = [
        helper.make_node("Add", ["x", "W"], ["t"], name="add0"),
        helper.make_node("Mul", ["t", "B"], ["u"], name="mul0"),
        helper.make_node("Sub", ["u", "x"], ["y"], name="sub0"),
    ]
    g = helper.make_graph(
        nodes, "add_mul_raw",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3, 5])],
        initializer=[w, b],
        value_info=[helper.make_tensor_value_info("t", TensorProto.FLOAT, ["batch", 3, 5])])
    save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), out_dir, "add_mul_raw")


def typed_fields(out_dir):
    """Initializers stored in float_data and int64_data instead of raw_data; two dtypes, two outputs."""
    wf = helper.make_tensor("Wf", TensorProto.FLOAT, [4, 1], rand((4, 1)).flatten().tolist(), raw=False)
    wi = helper.make_tensor("Wi", TensorProto.INT64, [6], rng.integers(-50, 50, size=6).tolist(), raw=False)
    ki = helper.make_tensor("Ki", TensorProto.INT64, [], [3], raw=False)
    nodes = [
        helper.make_node("Mul", ["xf", "Wf"], ["yf0"]),
        helper.make_node("Add", ["yf0", "xf"], ["yf"]),
        helper.make_node("Add", ["xi", "Wi"], ["yi0"]),
        helper.make_node("Mul", ["yi0", "Ki"], ["yi"]),
    ]
    g = helper.make_graph(
        nodes, "typed_fields",
        [helper.make_tensor_value_info("xf", TensorProto.FLOAT, [4, 7]),
         helper.make_tensor_value_info("xi", TensorProto.INT64, ["n", 6])],
        [helper.make_tensor_value_info("yf", TensorProto.FLOAT, [4, 7]),
         helper.make_tensor_value_info("yi", TensorProto.INT64, ["n", 6])],
        initializer=[wf, wi, ki])
    save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)]), out_dir, "typed_fields")


def old_ir_input_initializer(out_dir):
    """IR 3 / opset 8: the initializer W is also listed as a graph input (pre-IR-4 style)."""
    w = numpy_helper.from_array(rand((2, 3)), "W")
    d = numpy_helper.from_array(nonzero((3,)), "D")
    nodes = [
        helper.make_node("Mul", ["x", "W"], ["m"]),
        helper.make_node("Div", ["m", "D"], ["y"]),
    ]
    g = helper.make_graph(
        nodes, "old_ir",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("W", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("D", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        initializer=[w, d])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 8)])
    m.ir_version = 3
    save(m, out_dir, "old_ir_input_initializer")


def external_data(out_dir):
    """Initializers of 16 KiB each saved to one external file next to the model."""
    w1 = numpy_helper.from_array(rand((64, 64)), "W1")
    w2 = numpy_helper.from_array(rand((64, 64)), "W2")
    w3 = numpy_helper.from_array(nonzero((64, 64)), "W3")
    small = numpy_helper.from_array(rand((64,)), "S")
    nodes = [
        helper.make_node("Add", ["x", "W1"], ["a"]),
        helper.make_node("Mul", ["a", "W2"], ["b"]),
        helper.make_node("Div", ["b", "W3"], ["c"]),
        helper.make_node("Sub", ["c", "S"], ["d"]),
        helper.make_node("Identity", ["d"], ["y"]),
    ]
    g = helper.make_graph(
        nodes, "external_data",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 64, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 64, 64])],
        initializer=[w1, w2, w3, small])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    save(m, out_dir, "external_data", save_as_external_data=True, all_tensors_to_one_file=True,
         location="external_data.weights", size_threshold=1024)


def constant_node_and_unused(out_dir):
    """A Constant node, an initializer nobody reads, an output computed from constants only (folded
    into an initializer by the session) and an output that is a plain Identity."""
    unused = numpy_helper.from_array(rand((1000,)), "unused_weight")
    k = numpy_helper.from_array(rand((5,)), "k")
    nodes = [
        helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(rand((5,)), "cval")),
        helper.make_node("Add", ["x", "c"], ["s"]),
        helper.make_node("Mul", ["s", "k"], ["y"]),
        helper.make_node("Identity", ["x"], ["x_copy"]),
        helper.make_node("Mul", ["k", "c"], ["kc"]),
    ]
    g = helper.make_graph(
        nodes, "constant_node",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [17, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [17, 5]),
         helper.make_tensor_value_info("x_copy", TensorProto.FLOAT, [17, 5]),
         helper.make_tensor_value_info("kc", TensorProto.FLOAT, [5])],
        initializer=[unused, k])
    save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), out_dir, "constant_node_and_unused")


def if_subgraph(out_dir):
    """If with then/else bodies that read the outer initializer W and outer input x."""
    w = numpy_helper.from_array(rand((3,)), "W")
    then_g = helper.make_graph(
        [helper.make_node("Add", ["x", "W"], ["then_out"])], "then_body", [],
        [helper.make_tensor_value_info("then_out", TensorProto.FLOAT, [3])])
    else_g = helper.make_graph(
        [helper.make_node("Sub", ["x", "W"], ["else_out"])], "else_body", [],
        [helper.make_tensor_value_info("else_out", TensorProto.FLOAT, [3])])
    nodes = [helper.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g)]
    g = helper.make_graph(
        nodes, "if_subgraph",
        [helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])],
        initializer=[w])
    save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), out_dir, "if_subgraph")


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    for f in (add_mul_raw, typed_fields, old_ir_input_initializer, external_data, constant_node_and_unused,
              if_subgraph):
        f(out_dir)


if __name__ == "__main__":
    main()
