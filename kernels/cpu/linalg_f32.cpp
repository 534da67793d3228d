// f32 MatMul and Gemm on the packed GEMM (gemm_f32.h), one KernelDef per micro-kernel ISA.
// A constant B (the weight) is packed once in prepare; otherwise B is packed per run into scratch.
#include <algorithm>
#include <memory>

#include "kernels/cpu/batched_gemm_f32.h"
#include "kernels/cpu/fused_activation.h"
#include "kernels/cpu/gemm_f32.h"
#include "kernels/kernel_registry.h"
#include "runtime/ops/infer_helpers.h"

namespace joule::kernels::cpu {
namespace {

/// Prepared state: B packed as [ceil(N/NR)][K][NR].
struct PackedWeight {
  PackedF32 data;
  int64_t k = 0, n = 0;
};

const GemmUkernel& ukernel(int u) { return gemm_f32_ukernels()[static_cast<size_t>(u)]; }

// The ONNX type constraint makes A, B (and C) one type T, so one input known to be f32 (usually the
// weight) decides it when another's dtype is still unknown at load time (checked again at run time).
bool all_f32(const KernelQuery& q, size_t count) {
  bool known = false;
  for (size_t i = 0; i < count && i < q.inputs.size(); ++i) {
    if (q.inputs[i].dtype == DType::kUndefined) continue;
    if (q.inputs[i].dtype != DType::kF32) return false;
    known = true;
  }
  return known;
}

bool inputs_f32(const KernelContext& ctx) {
  for (size_t i = 0; i < ctx.num_inputs(); ++i)
    if (ctx.has_input(i) && ctx.in(i).dtype() != DType::kF32) return false;
  return true;
}

// ---- MatMul: numpy semantics, batch dims broadcast --------------------------------------------

bool matmul_accepts(const KernelQuery& q) {
  GemmEpilogue ep;
  return q.inputs.size() == 2 && all_f32(q, 2) && read_fused_activation(q.node, ep);
}

template <int U>
Status matmul_prepare(const KernelQuery& q, std::shared_ptr<const void>& state) {
  const Tensor* b = q.constant_inputs.size() > 1 ? q.constant_inputs[1] : nullptr;
  if (!b || b->rank() != 2) return Status::ok();
  auto pw = std::make_shared<PackedWeight>();
  pw->k = b->dim(0);
  pw->n = b->dim(1);
  pw->data.resize(static_cast<size_t>(packed_b_size(ukernel(U), pw->k, pw->n)));
  pack_b_f32(ukernel(U), b->data<float>(), pw->n, 1, pw->k, pw->n, pw->data.data());
  state = pw;
  return Status::ok();
}

template <int U>
Status matmul_run(KernelContext& ctx) {
  const GemmUkernel& uk = ukernel(U);
  if (!inputs_f32(ctx)) return ctx.fail_unsupported("inputs are not all float32");
  const Tensor& ta = ctx.in(0);
  const Tensor& tb = ctx.in(1);
  GemmEpilogue ep;
  read_fused_activation(ctx.node, ep);
  Shape a = ta.rank() == 1 ? Shape{1, ta.dim(0)} : ta.shape();
  Shape b = tb.rank() == 1 ? Shape{tb.dim(0), 1} : tb.shape();
  const int64_t m = a[a.size() - 2], k = a.back(), n = b.back();
  float* y = ctx.out(0).data<float>();
  thread_local PackedF32 bpack;
  if (b.size() == 2) {
    // One B for every batch: fold A's batch dims into M (A is contiguous [..., M, K]).
    const float* packed = nullptr;
    auto* pw = static_cast<const PackedWeight*>(ctx.state);
    if (pw && pw->k == k && pw->n == n) {
      packed = pw->data.data();
    } else {
      bpack.resize(static_cast<size_t>(packed_b_size(uk, k, n)));
      pack_b_f32(uk, tb.data<float>(), n, 1, k, n, bpack.data());
      packed = bpack.data();
    }
    const int64_t rows = k == 0 ? ctx.out(0).numel() / std::max<int64_t>(n, 1) : ta.numel() / k;
    gemm_f32_packed(uk, rows, n, k, ta.data<float>(), k, 1, packed, y, n, ep, ctx.pool);
    return Status::ok();
  }
  Shape ba(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2);
  auto batch_or = ops::broadcast_shapes(ba, bb);
  if (!batch_or) return ctx.fail("MatMul batch dims do not broadcast");
  const Shape& batch = *batch_or;
  // Batched: one parallel_for over (batch x M chunk) tasks, each packing its B slice (batched_gemm_f32.h).
  StridedOperand sa{ta.data<float>(), ops::broadcast_strides(ba, batch), k, 1};
  StridedOperand sb{tb.data<float>(), ops::broadcast_strides(bb, batch), n, 1};
  for (int64_t& s : sa.batch_strides) s *= m * k;
  for (int64_t& s : sb.batch_strides) s *= k * n;
  std::vector<int64_t> sc = ops::strides_of(batch);
  for (int64_t& s : sc) s *= m * n;
  batched_gemm_f32(uk, batch, m, n, k, sa, sb, y, sc, n, BatchedEpilogue{}, ctx.pool);
  if (ep.act != Activation::kNone) {  // a fused Relu/Clip (fusion.cpp), one pass over Y
    const int64_t total = ctx.out(0).numel();
    for (int64_t i = 0; i < total; ++i)
      y[i] = ep.act == Activation::kRelu ? (y[i] > 0.0f ? y[i] : 0.0f) : std::min(std::max(y[i], ep.lo), ep.hi);
  }
  return Status::ok();
}

// ---- Gemm: Y = alpha * A' B' + beta * C ------------------------------------------------------

bool gemm_accepts(const KernelQuery& q) {
  GemmEpilogue ep;
  return q.inputs.size() >= 2 && all_f32(q, q.inputs.size()) && read_fused_activation(q.node, ep);
}

template <int U>
Status gemm_prepare(const KernelQuery& q, std::shared_ptr<const void>& state) {
  const Tensor* b = q.constant_inputs.size() > 1 ? q.constant_inputs[1] : nullptr;
  if (!b || b->rank() != 2) return Status::ok();
  const bool tb = q.node.attr_int("transB", 0) != 0;
  auto pw = std::make_shared<PackedWeight>();
  pw->k = tb ? b->dim(1) : b->dim(0);
  pw->n = tb ? b->dim(0) : b->dim(1);
  pw->data.resize(static_cast<size_t>(packed_b_size(ukernel(U), pw->k, pw->n)));
  pack_b_f32(ukernel(U), b->data<float>(), tb ? 1 : pw->n, tb ? pw->k : 1, pw->k, pw->n, pw->data.data());
  state = pw;
  return Status::ok();
}

template <int U>
Status gemm_run(KernelContext& ctx) {
  const GemmUkernel& uk = ukernel(U);
  if (!inputs_f32(ctx)) return ctx.fail_unsupported("inputs are not all float32");
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  Tensor& y = ctx.out(0);
  const bool ta = ctx.node.attr_int("transA", 0) != 0, tb = ctx.node.attr_int("transB", 0) != 0;
  const int64_t m = y.dim(0), n = y.dim(1), k = ta ? a.dim(0) : a.dim(1);
  GemmEpilogue ep;
  read_fused_activation(ctx.node, ep);
  ep.alpha = ctx.node.attr_float("alpha", 1.0f);
  ep.beta = ctx.node.attr_float("beta", 1.0f);
  if (ctx.has_input(2) && ctx.in(2).numel() > 0) {
    auto sc = ops::broadcast_strides(ctx.in(2).shape(), {m, n});
    ep.bias = ctx.in(2).data<float>();
    ep.bias_rs = sc[0];
    ep.bias_cs = sc[1];
  }
  const float* packed = nullptr;
  auto* pw = static_cast<const PackedWeight*>(ctx.state);
  thread_local PackedF32 bpack;
  if (pw && pw->k == k && pw->n == n) {
    packed = pw->data.data();
  } else {
    bpack.resize(static_cast<size_t>(packed_b_size(uk, k, n)));
    pack_b_f32(uk, b.data<float>(), tb ? 1 : n, tb ? k : 1, k, n, bpack.data());
    packed = bpack.data();
  }
  gemm_f32_packed(uk, m, n, k, a.data<float>(), ta ? 1 : k, ta ? m : 1, packed, y.data<float>(), n, ep, ctx.pool);
  return Status::ok();
}

template <int U>
void add_linalg(KernelRegistry& r, const char* matmul_name, const char* gemm_name) {
  const Isa isa = ukernel(U).isa;
  const int prio = 10 + static_cast<int>(isa);
  // B (input 1) packed in prepare: with a constant B its K and N never change, so run() always uses the pack.
  r.add(with_packed_inputs({"", "MatMul", matmul_name, Device::kCpu, isa, prio, matmul_accepts, matmul_prepare<U>, matmul_run<U>}, 1u << 1));
  r.add(with_packed_inputs({"", "Gemm", gemm_name, Device::kCpu, isa, prio, gemm_accepts, gemm_prepare<U>, gemm_run<U>}, 1u << 1));
}

}  // namespace

void register_cpu_linalg(KernelRegistry& r) {
  add_linalg<0>(r, "matmul_f32_6x16__avx2", "gemm_f32_6x16__avx2");
  add_linalg<1>(r, "matmul_f32_12x32__avx512", "gemm_f32_12x32__avx512");
}

}  // namespace joule::kernels::cpu
