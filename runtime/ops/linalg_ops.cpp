// Op definitions (arity, shape and type inference) for the linalg family: Gemm, MatMul, Einsum.
#include "runtime/ops/einsum_equation.h"
#include "runtime/ops/infer_helpers.h"
#include "runtime/ops/linalg_shapes.h"
#include "runtime/ops/op_registry.h"

namespace joule::ops {

namespace {

std::string dt(DType t) { return std::string(dtype_name(t)); }

Status require_same_dtype(InferContext& ctx) {
  for (size_t i = 1; i < ctx.num_inputs(); ++i)
    if (ctx.has_input(i) && ctx.input(i).dtype != ctx.input(0).dtype)
      return ctx.fail("input " + std::to_string(i) + " is " + dt(ctx.input(i).dtype) + " but input 0 is " + dt(ctx.input(0).dtype));
  return Status::ok();
}

// Y[M,N] = alpha * A'[M,K] B'[K,N] + beta * C, with A' = transA ? A^T : A (same for B) and C
// unidirectionally broadcast to [M,N]. Before opset 11, C is required.
Status infer_gemm(InferContext& ctx) {
  JOULE_RETURN_IF_ERROR(require_same_dtype(ctx));
  const Shape& a = ctx.input(0).shape;
  const Shape& b = ctx.input(1).shape;
  if (a.size() != 2 || b.size() != 2) return ctx.fail("A and B must be 2-D, got " + shape_to_string(a) + " and " + shape_to_string(b));
  bool ta = ctx.node().attr_int("transA", 0) != 0, tb = ctx.node().attr_int("transB", 0) != 0;
  int64_t m = ta ? a[1] : a[0], ka = ta ? a[0] : a[1];
  int64_t kb = tb ? b[1] : b[0], n = tb ? b[0] : b[1];
  if (ka != kb) return ctx.fail("inner dimensions differ: A' is " + std::to_string(m) + "x" + std::to_string(ka) + ", B' is " +
                                std::to_string(kb) + "x" + std::to_string(n));
  if (ctx.has_input(2)) {
    const Shape& c = ctx.input(2).shape;
    auto bc = broadcast_shapes(c, {m, n});
    if (c.size() > 2 || !bc || *bc != Shape{m, n})
      return ctx.fail("C of shape " + shape_to_string(c) + " cannot be broadcast to " + std::to_string(m) + "x" + std::to_string(n));
  } else if (ctx.node().opset < 11) {
    return ctx.fail("C is required before opset 11");
  }
  ctx.output(0) = TensorDesc::known(ctx.input(0).dtype, {m, n});
  return Status::ok();
}

Status infer_matmul(InferContext& ctx) {
  JOULE_RETURN_IF_ERROR(require_same_dtype(ctx));
  Shape out;
  Status st = matmul_output_shape(ctx.input(0).shape, ctx.input(1).shape, out);
  if (!st.is_ok()) return ctx.fail(st.message());
  ctx.output(0) = TensorDesc::known(ctx.input(0).dtype, out);
  return Status::ok();
}

Status infer_einsum(InferContext& ctx) {
  JOULE_RETURN_IF_ERROR(require_same_dtype(ctx));
  if (!ctx.node().has_attr("equation")) return ctx.fail("missing attribute 'equation'");
  std::vector<Shape> shapes;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) return ctx.fail("input " + std::to_string(i) + " is missing");
    shapes.push_back(ctx.input(i).shape);
  }
  EinsumPlan plan;
  Status st = plan_einsum(ctx.node().attr_string("equation", ""), shapes, plan);
  if (!st.is_ok()) return ctx.fail(st.message());
  ctx.output(0) = TensorDesc::known(ctx.input(0).dtype, plan.output_shape);
  return Status::ok();
}

}  // namespace

void register_linalg_ops(OpRegistry& r) {
  r.add({"", "Gemm", 2, 3, 1, 1, infer_gemm});
  r.add({"", "MatMul", 2, 2, 1, 1, infer_matmul});
  r.add({"", "Einsum", 1, -1, 1, 1, infer_einsum});
}

}  // namespace joule::ops
