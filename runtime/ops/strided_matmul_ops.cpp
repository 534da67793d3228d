// Op definition of joule.StridedMatMul, the MatMul with folded Transposes, scale and addend that
// runtime/passes/transpose_matmul_fusion.cpp creates (never read from or written to a model file):
//   A' = Transpose(A, perm_a), B' = Transpose(B, perm_b)     (perm_* absent: no transpose)
//   Z  = MatMul(A', B')                                       (numpy batch broadcast, A', B' of rank >= 2)
//   Z  = Z * scale, or Z / scale when scale_div = 1           (only when `scale` is present)
//   Z  = Z + C                                                (optional input 2, broadcast to Z's shape)
//   Y  = Transpose(Z, perm_y)                                 (perm_y absent: Y = Z)
// One float type for A, B and C.
#include "runtime/ops/infer_helpers.h"
#include "runtime/ops/op_registry.h"
#include "runtime/ops/strided_matmul_shape.h"

namespace joule::ops {

namespace {

Status infer_strided_matmul(InferContext& ctx) {
  const TensorDesc& a = ctx.input(0);
  const TensorDesc& b = ctx.input(1);
  if (a.dtype != b.dtype || (ctx.has_input(2) && ctx.input(2).dtype != a.dtype))
    return ctx.fail("A, B (and C) must have one dtype, got " + std::string(dtype_name(a.dtype)) + ", " +
                    std::string(dtype_name(b.dtype)));
  if (!a.rank_known || !b.rank_known) {
    ctx.output(0) = TensorDesc{a.dtype, {}, false};
    return Status::ok();
  }
  Shape y;
  std::string err;
  const Shape* c = ctx.has_input(2) && ctx.input(2).rank_known ? &ctx.input(2).shape : nullptr;
  if (!strided_matmul_output_shape(ctx.node(), a.shape, b.shape, c, y, err)) return ctx.fail(err);
  ctx.output(0) = TensorDesc::known(a.dtype, y);
  return Status::ok();
}

}  // namespace

bool strided_matmul_output_shape(const ir::Node& node, const Shape& a, const Shape& b, const Shape* c, Shape& y,
                                 std::string& err) {
  StridedMatMulShapes s;
  if (!strided_matmul_shapes(node, a, b, s, err)) return false;
  if (c) {
    auto zc = broadcast_shapes(s.z, *c);
    if (!zc || zc->size() != s.z.size()) {
      err = "C of shape " + shape_to_string(*c) + " does not broadcast to the product's shape " + shape_to_string(s.z);
      return false;
    }
    for (size_t d = 0; d < s.z.size(); ++d)
      if (s.z[d] >= 0 && (*zc)[d] != s.z[d]) {
        err = "C of shape " + shape_to_string(*c) + " would grow the product's shape " + shape_to_string(s.z);
        return false;
      }
  }
  y.resize(s.z.size());
  for (size_t d = 0; d < s.z.size(); ++d) y[d] = s.z[static_cast<size_t>(s.perm_y[d])];
  return true;
}

bool strided_matmul_shapes(const ir::Node& node, const Shape& a, const Shape& b, StridedMatMulShapes& s, std::string& err) {
  auto permute = [&](const Shape& x, const char* attr, Shape& out, std::vector<int64_t>& perm) {
    perm = node.attr_ints(attr, {});
    if (perm.empty()) {
      for (size_t d = 0; d < x.size(); ++d) perm.push_back(static_cast<int64_t>(d));
    }
    if (perm.size() != x.size()) {
      err = std::string(attr) + " has " + std::to_string(perm.size()) + " entries for an operand of rank " + std::to_string(x.size());
      return false;
    }
    std::vector<bool> seen(x.size(), false);
    out.resize(x.size());
    for (size_t d = 0; d < x.size(); ++d) {
      const int64_t p = perm[d];
      if (p < 0 || p >= static_cast<int64_t>(x.size()) || seen[static_cast<size_t>(p)]) {
        err = std::string(attr) + " is not a permutation of 0.." + std::to_string(x.size() - 1);
        return false;
      }
      seen[static_cast<size_t>(p)] = true;
      out[d] = x[static_cast<size_t>(p)];
    }
    return true;
  };
  if (a.size() < 2 || b.size() < 2) {
    err = "expects A and B of rank >= 2, got " + shape_to_string(a) + ", " + shape_to_string(b);
    return false;
  }
  if (!permute(a, "perm_a", s.a, s.perm_a) || !permute(b, "perm_b", s.b, s.perm_b)) return false;
  const int64_t k = s.a.back(), kb = s.b[s.b.size() - 2];
  if (k >= 0 && kb >= 0 && k != kb) {
    err = "inner dimensions differ: A' is " + shape_to_string(s.a) + ", B' is " + shape_to_string(s.b);
    return false;
  }
  Shape ba(s.a.begin(), s.a.end() - 2), bb(s.b.begin(), s.b.end() - 2);
  auto batch = broadcast_shapes(ba, bb);
  if (!batch) {
    err = "batch dims of A' " + shape_to_string(s.a) + " and B' " + shape_to_string(s.b) + " do not broadcast";
    return false;
  }
  s.batch = *batch;
  s.z = s.batch;
  s.z.push_back(s.a[s.a.size() - 2]);
  s.z.push_back(s.b.back());
  Shape zy;
  return permute(s.z, "perm_y", zy, s.perm_y);
}

void register_strided_matmul_ops(OpRegistry& r) { r.add({"joule", "StridedMatMul", 2, 3, 1, 1, infer_strided_matmul}); }

}  // namespace joule::ops
