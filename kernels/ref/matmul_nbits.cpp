// Reference kernel of com.microsoft MatMulNBits (format in runtime/ops/matmul_nbits_format.h): the oracle
// for the fast INT4 kernels. Each weight is dequantized as float((q - zp) * scale) and the products are
// summed in double, one output element at a time; A, scales, zero points and bias may be f32 or f16.
#include <vector>

#include "kernels/kernel_registry.h"
#include "runtime/ops/matmul_nbits_format.h"

namespace joule::kernels {

namespace {

// Element i of a float tensor (f32 or f16) as float.
float float_at(const Tensor& t, int64_t i) {
  return t.dtype() == DType::kF16 ? static_cast<float>(t.data<Half>()[i]) : t.data<float>()[i];
}

Status check_float(const KernelContext& ctx, size_t i, const char* what) {
  if (!ctx.has_input(i)) return Status::ok();
  DType t = ctx.in(i).dtype();
  if (t != DType::kF32 && t != DType::kF16) return ctx.fail_unsupported(std::string(what) + " must be float32 or float16");
  return Status::ok();
}

Status matmul_nbits_ref(KernelContext& ctx) {
  ops::MatMulNBitsShape s;
  JOULE_RETURN_IF_ERROR(ops::MatMulNBitsShape::from_node(ctx.node, s));
  JOULE_RETURN_IF_ERROR(check_float(ctx, 0, "A"));
  JOULE_RETURN_IF_ERROR(check_float(ctx, 2, "scales"));
  JOULE_RETURN_IF_ERROR(check_float(ctx, 5, "bias"));
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  const Tensor& sc = ctx.in(2);
  if (a.rank() < 1 || a.shape().back() != s.k) return ctx.fail("A's last dim is not K=" + std::to_string(s.k));
  if (b.dtype() != DType::kU8 || b.numel() != s.n * s.k_blocks * s.blob) return ctx.fail("B is not uint8 [N, k_blocks, block_size/2]");
  if (sc.numel() != s.n * s.k_blocks) return ctx.fail("scales must have N*k_blocks elements");
  const Tensor* zp = ctx.has_input(3) ? &ctx.in(3) : nullptr;
  const bool zp_packed = zp && zp->dtype() == DType::kU8;
  if (zp && zp->numel() != (zp_packed ? s.n * s.zp_row : s.n * s.k_blocks)) return ctx.fail("zero_points has the wrong size");
  if (zp && !zp_packed) JOULE_RETURN_IF_ERROR(check_float(ctx, 3, "zero_points"));
  const int32_t* g_idx = nullptr;
  if (ctx.has_input(4)) {
    if (ctx.in(4).dtype() != DType::kI32 || ctx.in(4).numel() != s.k) return ctx.fail("g_idx must be int32 [K]");
    g_idx = ctx.in(4).data<int32_t>();
    for (int64_t k = 0; k < s.k; ++k)
      if (g_idx[k] < 0 || g_idx[k] >= s.k_blocks) return ctx.fail("g_idx[" + std::to_string(k) + "] is not a block index");
  }
  const Tensor* bias = ctx.has_input(5) ? &ctx.in(5) : nullptr;
  if (bias && bias->numel() != s.n) return ctx.fail("bias must have N elements");

  // Dequantized weights W[n][k], one row at a time.
  const int64_t m = a.numel() / s.k;
  const uint8_t* codes = b.data<uint8_t>();
  std::vector<float> w(static_cast<size_t>(s.k));
  Tensor& y = ctx.out(0);
  for (int64_t n = 0; n < s.n; ++n) {
    for (int64_t k = 0; k < s.k; ++k) {
      int64_t blk = g_idx ? g_idx[k] : k / s.block;
      float scale = float_at(sc, n * s.k_blocks + blk);
      float z = 8.0f;
      if (zp_packed) z = ops::nbits_packed_zero_point(zp->data<uint8_t>(), s, n, blk);
      else if (zp) z = float_at(*zp, n * s.k_blocks + blk);
      w[static_cast<size_t>(k)] = (static_cast<float>(ops::nbits_code(codes, s, n, k)) - z) * scale;
    }
    for (int64_t i = 0; i < m; ++i) {
      double acc = 0;
      for (int64_t k = 0; k < s.k; ++k) acc += static_cast<double>(float_at(a, i * s.k + k)) * w[static_cast<size_t>(k)];
      if (bias) acc += float_at(*bias, n);
      if (y.dtype() == DType::kF16) y.data<Half>()[i * s.n + n] = Half(static_cast<float>(acc));
      else y.data<float>()[i * s.n + n] = static_cast<float>(acc);
    }
  }
  return Status::ok();
}

}  // namespace

void register_ref_matmul_nbits(KernelRegistry& r) {
  KernelDef d;
  d.domain = "com.microsoft";
  d.op_type = "MatMulNBits";
  d.name = "matmul_nbits__ref";
  d.run = matmul_nbits_ref;
  r.add(d);
}

}  // namespace joule::kernels
