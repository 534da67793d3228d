// Op definition of com.microsoft MatMulNBits (format in matmul_nbits_format.h): input checks and
// Y = A[..., K] -> [..., N] in the dtype of A.
#include "runtime/ops/matmul_nbits_format.h"
#include "runtime/ops/op_registry.h"

namespace joule::ops {

namespace {

std::string dims(const Shape& s) { return shape_to_string(s); }

Status infer_matmul_nbits(InferContext& ctx) {
  MatMulNBitsShape s;
  JOULE_RETURN_IF_ERROR(MatMulNBitsShape::from_node(ctx.node(), s));
  const TensorDesc& a = ctx.input(0);
  if (a.dtype != DType::kF32 && a.dtype != DType::kF16 && a.dtype != DType::kUndefined)
    return ctx.fail("A must be float32 or float16, got " + std::string(dtype_name(a.dtype)));
  if (a.rank_known && (a.shape.empty() || (a.shape.back() >= 0 && a.shape.back() != s.k)))
    return ctx.fail("A has shape " + dims(a.shape) + " but K=" + std::to_string(s.k));
  const TensorDesc& b = ctx.input(1);
  if (b.dtype != DType::kU8 && b.dtype != DType::kUndefined) return ctx.fail("B must be uint8 (packed 4-bit codes)");
  if (b.rank_known && shape_numel(b.shape) >= 0 && shape_numel(b.shape) != s.n * s.k_blocks * s.blob)
    return ctx.fail("B has shape " + dims(b.shape) + ", expected [" + std::to_string(s.n) + "," + std::to_string(s.k_blocks) +
                    "," + std::to_string(s.blob) + "] for K=" + std::to_string(s.k) + " N=" + std::to_string(s.n) +
                    " block_size=" + std::to_string(s.block));
  const TensorDesc& sc = ctx.input(2);
  // ONNX Runtime wants scales typed like A; joule also runs f16 scales with f32 A (the form
  // runtime/passes/nbits_cast_fusion.cpp leaves when it folds the Casts of an fp16-scale model).
  if (sc.dtype != DType::kUndefined && sc.dtype != DType::kF32 && sc.dtype != DType::kF16)
    return ctx.fail("scales must be float32 or float16");
  if (sc.rank_known && shape_numel(sc.shape) >= 0 && shape_numel(sc.shape) != s.n * s.k_blocks)
    return ctx.fail("scales has " + std::to_string(shape_numel(sc.shape)) + " elements, expected N*k_blocks = " +
                    std::to_string(s.n * s.k_blocks));
  if (ctx.has_input(3)) {
    const TensorDesc& zp = ctx.input(3);
    int64_t want = zp.dtype == DType::kU8 ? s.n * s.zp_row : s.n * s.k_blocks;
    if (zp.dtype != DType::kU8 && zp.dtype != DType::kUndefined && zp.dtype != sc.dtype) return ctx.fail("zero_points must be uint8 or the type of scales");
    if (zp.rank_known && shape_numel(zp.shape) >= 0 && shape_numel(zp.shape) != want)
      return ctx.fail("zero_points has " + std::to_string(shape_numel(zp.shape)) + " elements, expected " + std::to_string(want));
  }
  if (ctx.has_input(4)) {
    const TensorDesc& gi = ctx.input(4);
    if (gi.dtype != DType::kI32 && gi.dtype != DType::kUndefined) return ctx.fail("g_idx must be int32");
    if (gi.rank_known && shape_numel(gi.shape) >= 0 && shape_numel(gi.shape) != s.k)
      return ctx.fail("g_idx must have K elements");
  }
  if (ctx.has_input(5)) {
    const TensorDesc& bias = ctx.input(5);
    if (bias.rank_known && shape_numel(bias.shape) >= 0 && shape_numel(bias.shape) != s.n)
      return ctx.fail("bias must have N elements");
  }
  if (!a.rank_known) {
    ctx.output(0) = TensorDesc{a.dtype, {}, false};
    return Status::ok();
  }
  Shape out = a.shape;
  out.back() = s.n;
  ctx.output(0) = TensorDesc::known(a.dtype, out);
  return Status::ok();
}

}  // namespace

void register_matmul_nbits_ops(OpRegistry& r) {
  r.add({"com.microsoft", "MatMulNBits", 3, 6, 1, 1, infer_matmul_nbits});
}

}  // namespace joule::ops
