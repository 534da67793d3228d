// FP32 / FP16 MatMul and Gemm through cuBLAS (cublasGemmStridedBatchedEx, f32 accumulation), with the
// Gemm bias (beta * C, broadcast) and a fused activation ("joule.activation" from runtime/passes/fusion.cpp)
// applied by one epilogue kernel (elementwise.cu).
//
// Row-major Y[m, n] = op(A)[m, k] op(B)[k, n] is computed as the column-major product Y^T = op(B)^T op(A)^T:
// a row-major [r, c] buffer read column-major is its transpose, so no data moves.
// FP32 uses CUBLAS_COMPUTE_32F (exact FP32 math); JOULE_CUDA_TF32=1 allows TF32 tensor cores instead.
#include <cstdlib>
#include <limits>

#include "kernels/cuda/cuda_kernel_def.h"
#include "kernels/cuda/cuda_libraries.h"
#include "kernels/cuda/cuda_status.h"
#include "runtime/ops/infer_helpers.h"

namespace joule::kernels::cuda {

namespace {

struct Epilogue {
  Activation act = Activation::kNone;
  float lo = 0.f, hi = 0.f;
};

bool epilogue_of(const ir::Node& n, Epilogue& e) {
  if (!n.has_attr("joule.activation")) return true;
  std::string act = n.attr_string("joule.activation", "");
  if (act == "Relu") {
    e.act = Activation::kRelu;
  } else if (act == "Clip") {
    e.act = Activation::kClip;
    e.lo = n.attr_float("joule.clip_min", -std::numeric_limits<float>::infinity());
    e.hi = n.attr_float("joule.clip_max", std::numeric_limits<float>::infinity());
  } else {
    return false;
  }
  return true;
}

cudaDataType_t cuda_type(DType t) { return t == DType::kF16 ? CUDA_R_16F : CUDA_R_32F; }

cublasComputeType_t compute_type(DType t) {
  static const bool tf32 = [] {
    const char* e = std::getenv("JOULE_CUDA_TF32");
    return e && e[0] == '1';
  }();
  return t == DType::kF32 && tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
}

/// Y (row-major [batch][m][n]) = op(A) op(B); strides in elements, 0 to reuse one matrix for every batch.
Status gemm(KernelContext& ctx, DType t, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const void* a,
            int64_t stride_a, const void* b, int64_t stride_b, void* y, int64_t batch, float alpha) {
  if (m == 0 || n == 0 || batch == 0) return Status::ok();
  const int64_t limit = std::numeric_limits<int>::max();
  if (m > limit || n > limit || k > limit || batch > limit) return ctx.fail_unsupported("GEMM dimension over 2^31 on CUDA");
  if (k == 0) return fill_device_bytes(y, 0, static_cast<size_t>(batch * m * n) * (t == DType::kF16 ? 2 : 4), &cuda_of(ctx));
  const CublasApi* api = nullptr;
  JOULE_RETURN_IF_ERROR(load_cublas(api));
  const float beta = 0.f;
  const int lda = static_cast<int>(trans_a ? m : k), ldb = static_cast<int>(trans_b ? k : n);
  return cublas_status(
      api->gemm_strided_batched_ex(static_cast<cublasHandle_t>(cuda_of(ctx).cublas), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                                 trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, static_cast<int>(n), static_cast<int>(m),
                                 static_cast<int>(k), &alpha, b, cuda_type(t), ldb, stride_b, a, cuda_type(t), lda, stride_a,
                                 &beta, y, cuda_type(t), static_cast<int>(n), m * n, static_cast<int>(batch),
                                 compute_type(t), CUBLAS_GEMM_DEFAULT),
      (ctx.node.label() + ": cublasGemmStridedBatchedEx").c_str());
}

// ---- MatMul: A [..., m, k] x B [..., k, n]; batch dims equal on both sides, or absent / all 1 on one side.
bool batch_of(const Shape& s, size_t keep, Shape& batch) {
  batch.assign(s.begin(), s.end() - static_cast<std::ptrdiff_t>(std::min(keep, s.size())));
  return true;
}

bool accepts_matmul(const KernelQuery& q) {
  if (!same_float_inputs(q, {0, 1})) return false;
  Epilogue e;
  if (!epilogue_of(q.node, e)) return false;
  const TensorDesc &a = q.inputs[0], &b = q.inputs[1];
  if (!a.rank_known || !b.rank_known) return false;
  Shape ba, bb;
  batch_of(a.shape, a.shape.size() >= 2 ? 2 : 1, ba);
  batch_of(b.shape, b.shape.size() >= 2 ? 2 : 1, bb);
  const int64_t na = shape_numel(ba), nb = shape_numel(bb);
  if (na == 1 || nb == 1) return true;
  // Both batched: the batch dims must match exactly after right-alignment with leading 1s.
  auto strip = [](Shape s) {
    while (!s.empty() && s.front() == 1) s.erase(s.begin());
    return s;
  };
  return strip(ba) == strip(bb);
}

Status run_matmul(KernelContext& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  Tensor& y = ctx.out(0);
  const int64_t k = a.shape().back();
  const int64_t m = a.rank() >= 2 ? a.dim(a.rank() - 2) : 1;
  const int64_t n = b.rank() >= 2 ? b.shape().back() : 1;
  if ((b.rank() >= 2 ? b.dim(b.rank() - 2) : b.dim(0)) != k) return ctx.fail("inner dimensions differ");
  const int64_t na = a.rank() > 2 ? shape_numel(Shape(a.shape().begin(), a.shape().end() - 2)) : 1;
  const int64_t nb = b.rank() > 2 ? shape_numel(Shape(b.shape().begin(), b.shape().end() - 2)) : 1;
  Epilogue e;
  epilogue_of(ctx.node, e);
  Status st;
  if (nb == 1) {
    // One B for every row of A: fold A's batch into m.
    st = gemm(ctx, a.dtype(), false, false, na * m, n, k, a.raw(), 0, b.raw(), 0, y.raw(), 1, 1.f);
  } else {
    st = gemm(ctx, a.dtype(), false, false, m, n, k, a.raw(), na == 1 ? 0 : m * k, b.raw(), k * n, y.raw(), nb, 1.f);
  }
  JOULE_RETURN_IF_ERROR(st);
  return launch_bias_activation(y.dtype(), y.raw(), y.numel() / std::max<int64_t>(n, 1), n, nullptr, 0, 0, 0.f, e.act,
                                e.lo, e.hi, stream_of_ctx(ctx));
}

// ---- Gemm: Y = alpha * op(A) op(B) + beta * C, A and B 2-D.
bool accepts_gemm(const KernelQuery& q) {
  if (!same_float_inputs(q, {0, 1, 2})) return false;
  Epilogue e;
  if (!epilogue_of(q.node, e)) return false;
  if (!q.inputs[0].rank_known || !q.inputs[1].rank_known) return false;
  return q.inputs[0].shape.size() == 2 && q.inputs[1].shape.size() == 2;
}

Status run_gemm(KernelContext& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  Tensor& y = ctx.out(0);
  const bool ta = ctx.node.attr_int("transA", 0) != 0, tb = ctx.node.attr_int("transB", 0) != 0;
  const float alpha = ctx.node.attr_float("alpha", 1.f), beta = ctx.node.attr_float("beta", 1.f);
  const int64_t m = ta ? a.dim(1) : a.dim(0), k = ta ? a.dim(0) : a.dim(1), n = tb ? b.dim(0) : b.dim(1);
  if ((tb ? b.dim(1) : b.dim(0)) != k) return ctx.fail("inner dimensions differ");
  JOULE_RETURN_IF_ERROR(gemm(ctx, a.dtype(), ta, tb, m, n, k, a.raw(), 0, b.raw(), 0, y.raw(), 1, alpha));
  Epilogue e;
  epilogue_of(ctx.node, e);
  const void* c = nullptr;
  int64_t csm = 0, csn = 0;
  if (ctx.has_input(2) && beta != 0.f) {
    const Tensor& ct = ctx.in(2);
    if (ct.rank() > 2) return ctx.fail("C has rank > 2");
    auto bs = ops::broadcast_shapes(ct.shape(), {m, n});
    if (!bs || *bs != Shape{m, n}) return ctx.fail("C of shape " + shape_to_string(ct.shape()) + " does not broadcast to [M, N]");
    std::vector<int64_t> s = ops::broadcast_strides(ct.shape(), {m, n});
    c = ct.raw();
    csm = s[0];
    csn = s[1];
  }
  return launch_bias_activation(y.dtype(), y.raw(), m, n, c, csm, csn, beta, e.act, e.lo, e.hi, stream_of_ctx(ctx));
}

// ---- joule.MatMulBias (runtime/passes/matmul_bias_fusion.cpp): A [..., K] x B [K, N] + bias [N], fused activation.
bool accepts_matmul_bias(const KernelQuery& q) {
  if (q.inputs.size() != 3 || !same_float_inputs(q, {0, 1, 2})) return false;
  Epilogue e;
  if (!epilogue_of(q.node, e)) return false;
  const TensorDesc &a = q.inputs[0], &b = q.inputs[1], &c = q.inputs[2];
  return a.rank_known && b.rank_known && c.rank_known && a.shape.size() >= 2 && b.shape.size() == 2 && c.shape.size() == 1;
}

Status run_matmul_bias(KernelContext& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  const Tensor& bias = ctx.in(2);
  Tensor& y = ctx.out(0);
  const int64_t k = b.dim(0), n = b.dim(1);
  if (a.shape().back() != k || bias.numel() != n) return ctx.fail("expects A [..., K], B [K, N], bias [N]");
  const int64_t rows = k ? a.numel() / k : y.numel() / std::max<int64_t>(n, 1);
  JOULE_RETURN_IF_ERROR(gemm(ctx, a.dtype(), false, false, rows, n, k, a.raw(), 0, b.raw(), 0, y.raw(), 1, 1.f));
  Epilogue e;
  epilogue_of(ctx.node, e);
  return launch_bias_activation(y.dtype(), y.raw(), rows, n, bias.raw(), 0, 1, 1.f, e.act, e.lo, e.hi, stream_of_ctx(ctx));
}

}  // namespace

void register_cuda_gemm(KernelRegistry& r) {
  r.add(cuda_kernel("", "MatMul", "matmul_f32_f16__cublas", accepts_matmul, nullptr, run_matmul));
  r.add(cuda_kernel("joule", "MatMulBias", "matmul_bias_f32_f16__cublas", accepts_matmul_bias, nullptr, run_matmul_bias));
  r.add(cuda_kernel("", "Gemm", "gemm_f32_f16__cublas", accepts_gemm, nullptr, run_gemm));
}

}  // namespace joule::kernels::cuda
