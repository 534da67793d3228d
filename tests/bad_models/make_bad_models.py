#!/usr/bin/python3
"""Writes one broken ONNX model per defect into OUT_DIR for bad_models_test.cpp.

usage: make_bad_models.py OUT_DIR

Files named run_*.onnx load fine and must fail when run on the inputs in run_*.inputs/.
The expected error of each file is listed in expected_errors.txt next to this script.
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = sys.argv[1]
rng = np.random.default_rng(7)
HUGE = 1 << 40


def vi(name, shape, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, shape)


def model(nodes, inputs, outputs, inits=(), opset=13, extra_opsets=(), value_info=()):
    g = helper.make_graph(nodes, "bad", inputs, outputs, initializer=list(inits), value_info=list(value_info))
    ops = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in extra_opsets]
    m = helper.make_model(g, opset_imports=ops)
    m.ir_version = 8
    return m


def write(name, m):
    data = m if isinstance(m, bytes) else m.SerializeToString()
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def write_inputs(name, *arrays):
    d = os.path.join(OUT, name.replace(".onnx", ".inputs"))
    os.makedirs(d, exist_ok=True)
    for i, a in enumerate(arrays):
        with open(os.path.join(d, "input_%d.pb" % i), "wb") as f:
            f.write(numpy_helper.from_array(a).SerializeToString())


def add_model(**kw):
    """y = x + W, the healthy starting point most defects are planted into."""
    w = numpy_helper.from_array(rng.standard_normal((4,)).astype(np.float32), "W")
    return model([helper.make_node("Add", ["x", "W"], ["y"])], [vi("x", [4])], [vi("y", [4])], [w], **kw)


def ext_tensor(name, location, offset=None, length=None, dims=(4,)):
    t = TensorProto()
    t.name = name
    t.data_type = TensorProto.FLOAT
    t.dims.extend(dims)
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", offset), ("length", length)):
        if v is not None:
            e = t.external_data.add()
            e.key, e.value = k, str(v)
    return t


def ext_model(t):
    return model([helper.make_node("Add", ["x", t.name], ["y"])], [vi("x", [4])], [vi("y", [4])], [t])


def main():
    os.makedirs(OUT, exist_ok=True)
    # --- files that are not protobuf -----------------------------------------------------
    big = numpy_helper.from_array(rng.standard_normal((1000,)).astype(np.float32), "W")
    full = model([helper.make_node("Add", ["x", "W"], ["y"])], [vi("x", [1000])], [vi("y", [1000])], [big])
    data = full.SerializeToString()
    write("truncated.onnx", data[: len(data) // 2])  # cut inside W's raw_data
    write("random_bytes.onnx", bytes(rng.integers(0, 256, size=4096, dtype=np.uint8)))
    write("empty.onnx", b"")

    # --- opsets, ops and domains ---------------------------------------------------------
    write("opset_too_old.onnx", add_model(opset=0))
    # Opsets 1-6 import, but their axis-aligned broadcasting (broadcast=1, axis=...) is refused.
    b = numpy_helper.from_array(np.ones((3,), np.float32), "B")
    write("legacy_broadcast.onnx", model([helper.make_node("Add", ["x", "B"], ["y"], broadcast=1, axis=0)],
                                         [vi("x", [3, 4])], [vi("y", [3, 4])], [b], opset=3))
    write("opset_too_new.onnx", add_model(opset=99))
    write("unknown_op.onnx", model([helper.make_node("FooBar", ["x"], ["y"])], [vi("x", [4])], [vi("y", [4])]))
    write("unknown_domain.onnx", model([helper.make_node("Add", ["x", "x"], ["y"], domain="com.example.nope")],
                                       [vi("x", [4])], [vi("y", [4])], extra_opsets=[("com.example.nope", 1)]))
    write("undeclared_domain.onnx", model([helper.make_node("Add", ["x", "x"], ["y"], domain="com.example.undeclared")],
                                          [vi("x", [4])], [vi("y", [4])]))
    write("wrong_arity.onnx", model([helper.make_node("Add", ["x"], ["y"])], [vi("x", [4])], [vi("y", [4])]))

    # --- graph structure -----------------------------------------------------------------
    write("missing_initializer.onnx", model([helper.make_node("Add", ["x", "W_missing"], ["y"])],
                                            [vi("x", [4])], [vi("y", [4])]))
    write("cycle.onnx", model([helper.make_node("Add", ["x", "b"], ["a"], name="first"),
                               helper.make_node("Add", ["a", "x"], ["b"], name="second"),
                               helper.make_node("Identity", ["b"], ["y"])],
                              [vi("x", [4])], [vi("y", [4])]))
    write("duplicate_output.onnx", model([helper.make_node("Add", ["x", "x"], ["y"], name="one"),
                                          helper.make_node("Sub", ["x", "x"], ["y"], name="two")],
                                         [vi("x", [4])], [vi("y", [4])]))
    write("dangling_output.onnx", model([helper.make_node("Add", ["x", "x"], ["y"])],
                                        [vi("x", [4])], [vi("nowhere", [4])]))
    # If nodes nested 40 deep (the limit is 32); each else branch is a trivial Identity.
    body = helper.make_graph([helper.make_node("Identity", ["x"], ["o0"])], "leaf", [], [vi("o0", [4])])
    for d in range(1, 41):
        other = helper.make_graph([helper.make_node("Identity", ["x"], ["e%d" % d])], "else%d" % d, [],
                                  [vi("e%d" % d, [4])])
        node = helper.make_node("If", ["cond"], ["o%d" % d], then_branch=body, else_branch=other)
        body = helper.make_graph([node], "level%d" % d, [], [vi("o%d" % d, [4])])
    nested = model(list(body.node), [vi("cond", [], TensorProto.BOOL), vi("x", [4])], [vi("o40", [4])])
    write("nested_subgraphs.onnx", nested)

    # --- initializers --------------------------------------------------------------------
    neg = helper.make_tensor("W", TensorProto.FLOAT, [4], [0.0] * 4)
    neg.dims[0] = -4
    write("negative_dim.onnx", ext_model(neg))
    huge = TensorProto(name="W", data_type=TensorProto.FLOAT, dims=[HUGE], raw_data=b"\0" * 16)
    write("huge_initializer.onnx", ext_model(huge))
    short = TensorProto(name="W", data_type=TensorProto.FLOAT, dims=[4], raw_data=b"\0" * 15)
    write("raw_data_mismatch.onnx", ext_model(short))
    few = helper.make_tensor("W", TensorProto.FLOAT, [2], [1.0, 2.0], raw=False)
    few.dims[0] = 4
    write("typed_data_mismatch.onnx", ext_model(few))
    strings = helper.make_tensor("W", TensorProto.STRING, [1], [b"hello"])
    write("string_initializer.onnx", ext_model(strings))

    # --- external data -------------------------------------------------------------------
    with open(os.path.join(OUT, "weights.bin"), "wb") as f:
        f.write(np.arange(4, dtype=np.float32).tobytes())
    write("external_outside.onnx", ext_model(ext_tensor("W", "../outside.bin")))
    write("external_absolute.onnx", ext_model(ext_tensor("W", "/etc/passwd")))
    write("external_missing.onnx", ext_model(ext_tensor("W", "no_such_weights.bin")))
    write("external_offset_past_end.onnx", ext_model(ext_tensor("W", "weights.bin", offset=4096)))
    write("external_length_mismatch.onnx", ext_model(ext_tensor("W", "weights.bin", length=8)))
    write("external_bad_offset.onnx", ext_model(ext_tensor("W", "weights.bin", offset="-16")))

    # --- resource limits -----------------------------------------------------------------
    shape = numpy_helper.from_array(np.array([HUGE], dtype=np.int64), "shape")
    write("constant_of_shape_huge.onnx",
          model([helper.make_node("ConstantOfShape", ["shape"], ["big"]),
                 helper.make_node("Add", ["big", "x"], ["y"])], [vi("x", [1])], [vi("y", [HUGE])], [shape]))
    # 1.5 GiB: under the 16 GiB inference guard, over the 1 GiB max_tensor_bytes bad_models_test.cpp
    # sets, and planned into the activation arena: the session must refuse it at load instead of
    # allocating (and zeroing) it in every run.
    shape_1_5gib = numpy_helper.from_array(np.array([3 << 27], dtype=np.int64), "shape")
    write("constant_of_shape_1_5gib.onnx",
          model([helper.make_node("ConstantOfShape", ["shape"], ["big"]),
                 helper.make_node("Add", ["big", "x"], ["y"])], [vi("x", [1])], [vi("y", [3 << 27])], [shape_1_5gib]))
    write_inputs("constant_of_shape_1_5gib.onnx", np.ones((1,), np.float32))
    write("expand_1_5gib.onnx",
          model([helper.make_node("Expand", ["x", "shape"], ["big"]),
                 helper.make_node("Identity", ["big"], ["y"])], [vi("x", [1])], [vi("y", [3 << 27])], [shape_1_5gib]))
    write_inputs("expand_1_5gib.onnx", np.ones((1,), np.float32))
    write("reshape_huge.onnx",
          model([helper.make_node("Reshape", ["x", "shape"], ["y"])], [vi("x", [4])], [vi("y", [HUGE])], [shape]))

    # --- failures at run time ------------------------------------------------------------
    # Declared 2^40 input fed with 4 values: nothing is planned at that size, the run must refuse the input.
    write("run_huge_input_dims.onnx", model([helper.make_node("Identity", ["x"], ["y"])],
                                            [vi("x", [HUGE])], [vi("y", [HUGE])]))
    write_inputs("run_huge_input_dims.onnx", np.ones((4,), np.float32))
    # The same with an intermediate of 4 TiB that the memory planner would place: refused at load.
    write("huge_input_dims_planned.onnx", model([helper.make_node("Add", ["x", "x"], ["t"]),
                                                 helper.make_node("Identity", ["t"], ["y"])],
                                                [vi("x", [HUGE])], [vi("y", [HUGE])]))
    write_inputs("huge_input_dims_planned.onnx", np.ones((4,), np.float32))
    # 2^120 elements overflow int64 element counts: refused by the importer.
    write("overflow_input_dims.onnx", model([helper.make_node("Add", ["x", "x"], ["t"]),
                                             helper.make_node("Identity", ["t"], ["y"])],
                                            [vi("x", [HUGE, HUGE, HUGE])], [vi("y", [HUGE, HUGE, HUGE])]))
    write("run_wrong_dtype.onnx", add_model())
    write_inputs("run_wrong_dtype.onnx", np.arange(4, dtype=np.int64))
    write("run_wrong_rank.onnx", add_model())
    write_inputs("run_wrong_rank.onnx", np.ones((2, 2), np.float32))


if __name__ == "__main__":
    main()
