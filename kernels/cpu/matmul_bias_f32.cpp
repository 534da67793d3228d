// joule.MatMulBias (A[..., K] x B[K, N] + bias[N], optional fused activation) on the packed GEMM:
// A's leading dims fold into M, the bias and activation run in the GEMM epilogue. A constant B is
// packed once in prepare ([ceil(N/NR)][K][NR]); otherwise per run into scratch.
#include <memory>
#include <vector>

#include "kernels/cpu/fused_activation.h"
#include "kernels/cpu/gemm_f32.h"
#include "kernels/kernel_registry.h"

namespace joule::kernels::cpu {
namespace {

struct PackedB {
  PackedF32 data;
  int64_t k = 0, n = 0;
};

const GemmUkernel& ukernel(int u) { return gemm_f32_ukernels()[static_cast<size_t>(u)]; }

bool accepts(const KernelQuery& q) {
  GemmEpilogue ep;
  if (q.inputs.size() != 3 || !read_fused_activation(q.node, ep)) return false;
  // One type T for all inputs: an input whose dtype is still unknown at load (dynamic shapes) follows
  // the others (B and bias are f32 constants when the fusion made the node); checked again at run time.
  bool known = false;
  for (const auto& d : q.inputs) {
    if (d.dtype == DType::kUndefined) continue;
    if (d.dtype != DType::kF32) return false;
    known = true;
  }
  return known;
}

template <int U>
Status prepare(const KernelQuery& q, std::shared_ptr<const void>& state) {
  const Tensor* b = q.constant_inputs.size() > 1 ? q.constant_inputs[1] : nullptr;
  if (!b || b->rank() != 2) return Status::ok();
  auto pb = std::make_shared<PackedB>();
  pb->k = b->dim(0);
  pb->n = b->dim(1);
  pb->data.resize(static_cast<size_t>(packed_b_size(ukernel(U), pb->k, pb->n)));
  pack_b_f32(ukernel(U), b->data<float>(), pb->n, 1, pb->k, pb->n, pb->data.data());
  state = pb;
  return Status::ok();
}

template <int U>
Status run(KernelContext& ctx) {
  const GemmUkernel& uk = ukernel(U);
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  const Tensor& bias = ctx.in(2);
  if (a.dtype() != DType::kF32 || b.dtype() != DType::kF32 || bias.dtype() != DType::kF32)
    return ctx.fail_unsupported("inputs are not all float32");
  if (a.rank() < 1 || b.rank() != 2 || bias.rank() != 1 || a.dim(a.rank() - 1) != b.dim(0) || bias.dim(0) != b.dim(1))
    return ctx.fail("expects A [..., K], B [K, N], bias [N], got " + shape_to_string(a.shape()) + ", " +
                    shape_to_string(b.shape()) + ", " + shape_to_string(bias.shape()));
  const int64_t k = b.dim(0), n = b.dim(1);
  const int64_t rows = k ? a.numel() / k : ctx.out(0).numel() / std::max<int64_t>(n, 1);
  GemmEpilogue ep;
  read_fused_activation(ctx.node, ep);
  ep.bias = bias.data<float>();
  ep.bias_rs = 0;
  ep.bias_cs = 1;
  const float* packed = nullptr;
  auto* pb = static_cast<const PackedB*>(ctx.state);
  thread_local PackedF32 scratch;
  if (pb && pb->k == k && pb->n == n) {
    packed = pb->data.data();
  } else {
    scratch.resize(static_cast<size_t>(packed_b_size(uk, k, n)));
    pack_b_f32(uk, b.data<float>(), n, 1, k, n, scratch.data());
    packed = scratch.data();
  }
  gemm_f32_packed(uk, rows, n, k, a.data<float>(), k, 1, packed, ctx.out(0).data<float>(), n, ep, ctx.pool);
  return Status::ok();
}

template <int U>
void add_variant(KernelRegistry& r, const char* name) {
  const Isa isa = ukernel(U).isa;
  // B (input 1) packed in prepare; a constant B keeps its K and N, so run() always uses the pack.
  // The GEMM writes every element of Y (k == 0: zeros, then the bias): Y need not be zeroed first.
  KernelDef d = with_packed_inputs(
      {"joule", "MatMulBias", name, Device::kCpu, isa, 10 + static_cast<int>(isa), accepts, prepare<U>, run<U>}, 1u << 1);
  d.overwrites_outputs = true;
  r.add(std::move(d));
}

}  // namespace

void register_cpu_matmul_bias(KernelRegistry& r) {
  add_variant<0>(r, "matmul_bias_f32_6x16__avx2");
  add_variant<1>(r, "matmul_bias_f32_12x32__avx512");
}

}  // namespace joule::kernels::cpu
