// Reference kernel of joule.MatMulBias (runtime/ops/matmul_bias_ops.cpp): exactly what the MatMul and
// Add reference kernels compute one after the other, Y = float(sum_k A[r, k] B[k, j] in double) + bias[j],
// over the rows r of A[..., M, K] viewed as [rows, K]. float32 only (the fusion creates no other).
#include <vector>

#include "kernels/kernel_registry.h"

namespace joule::kernels {
namespace {

Status matmul_bias_ref(KernelContext& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  const Tensor& bias = ctx.in(2);
  if (a.dtype() != DType::kF32 || b.dtype() != DType::kF32 || bias.dtype() != DType::kF32)
    return ctx.fail_unsupported("only float32 is supported");
  if (a.rank() < 1 || b.rank() != 2 || bias.rank() != 1 || a.dim(a.rank() - 1) != b.dim(0) || bias.dim(0) != b.dim(1))
    return ctx.fail("expects A [..., K], B [K, N], bias [N], got " + shape_to_string(a.shape()) + ", " +
                    shape_to_string(b.shape()) + ", " + shape_to_string(bias.shape()));
  const int64_t k = b.dim(0), n = b.dim(1), rows = k ? a.numel() / k : ctx.out(0).numel() / std::max<int64_t>(n, 1);
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  const float* pc = bias.data<float>();
  float* y = ctx.out(0).data<float>();
  std::vector<double> acc(static_cast<size_t>(n));
  for (int64_t r = 0; r < rows; ++r) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int64_t p = 0; p < k; ++p) {
      const double av = pa[r * k + p];
      for (int64_t j = 0; j < n; ++j) acc[static_cast<size_t>(j)] += av * static_cast<double>(pb[p * n + j]);
    }
    for (int64_t j = 0; j < n; ++j) y[r * n + j] = static_cast<float>(acc[static_cast<size_t>(j)]) + pc[j];
  }
  return Status::ok();
}

}  // namespace

void register_ref_matmul_bias(KernelRegistry& r) {
  r.add({"joule", "MatMulBias", "matmul_bias__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, matmul_bias_ref});
}

}  // namespace joule::kernels
