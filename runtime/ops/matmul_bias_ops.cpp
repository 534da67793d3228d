// Op definition of joule.MatMulBias, the fused MatMul + bias Add that runtime/passes/matmul_bias_fusion.cpp
// creates (never read from or written to a model file):
//   Y[..., N] = A[..., K] x B[K, N] + bias[N]   (A of rank >= 1, B 2-D, bias 1-D; one float type)
#include "runtime/ops/op_registry.h"

namespace joule::ops {

namespace {

Status infer_matmul_bias(InferContext& ctx) {
  const TensorDesc& a = ctx.input(0);
  const TensorDesc& b = ctx.input(1);
  const TensorDesc& bias = ctx.input(2);
  if (a.dtype != b.dtype || a.dtype != bias.dtype)
    return ctx.fail("A, B and bias must have one dtype, got " + std::string(dtype_name(a.dtype)) + ", " +
                    std::string(dtype_name(b.dtype)) + ", " + std::string(dtype_name(bias.dtype)));
  if (!a.rank_known) {
    ctx.output(0) = TensorDesc{a.dtype, {}, false};
    return Status::ok();
  }
  if (a.rank() < 1 || b.rank() != 2 || bias.rank() != 1)
    return ctx.fail("expects A of rank >= 1, 2-D B and 1-D bias, got " + shape_to_string(a.shape) + ", " +
                    shape_to_string(b.shape) + ", " + shape_to_string(bias.shape));
  const int64_t k = a.shape.back(), n = b.shape[1];
  if (k >= 0 && b.shape[0] >= 0 && k != b.shape[0])
    return ctx.fail("inner dimensions differ: A is " + shape_to_string(a.shape) + ", B is " + shape_to_string(b.shape));
  if (n >= 0 && bias.shape[0] >= 0 && bias.shape[0] != n)
    return ctx.fail("bias of shape " + shape_to_string(bias.shape) + " does not match N = " + std::to_string(n));
  Shape out = a.shape;
  out.back() = n;
  ctx.output(0) = TensorDesc::known(a.dtype, out);
  return Status::ok();
}

}  // namespace

void register_matmul_bias_ops(OpRegistry& r) { r.add({"joule", "MatMulBias", 3, 3, 1, 1, infer_matmul_bias}); }

}  // namespace joule::ops
