// joule.StridedMatMul (runtime/ops/strided_matmul_ops.cpp) on the batched strided GEMM (batched_gemm_f32.h):
// the folded Transposes of A, B and Y become strides (no copies), the scale and the addend C are applied
// to each finished block of rows while it is still in cache. One KernelDef per micro-kernel ISA.
#include "kernels/cpu/batched_gemm_f32.h"
#include "kernels/kernel_registry.h"
#include "runtime/ops/infer_helpers.h"
#include "runtime/ops/strided_matmul_shape.h"

namespace joule::kernels::cpu {
namespace {

const GemmUkernel& ukernel(int u) { return gemm_f32_ukernels()[static_cast<size_t>(u)]; }

bool accepts(const KernelQuery& q) {
  if (q.inputs.size() < 2 || q.inputs.size() > 3) return false;
  // Y's last dim must be Z's last dim (C rows written with column stride 1).
  const std::vector<int64_t> py = q.node.attr_ints("perm_y", {});
  if (!py.empty() && py.back() != static_cast<int64_t>(py.size()) - 1) return false;
  bool known = false;  // one type T: an input whose dtype is unknown at load follows the others (checked at run)
  for (const auto& d : q.inputs) {
    if (d.dtype == DType::kUndefined) continue;
    if (d.dtype != DType::kF32) return false;
    known = true;
  }
  return known;
}

// The strided view of `t` transposed by `perm`, its batch dims right-aligned to `batch`.
StridedOperand view(const float* data, const Shape& shape, const std::vector<int64_t>& perm, const Shape& batch) {
  const std::vector<int64_t> st = ops::strides_of(shape);
  const size_t r = shape.size(), nbd = batch.size();
  StridedOperand o;
  o.data = data;
  o.rs = st[static_cast<size_t>(perm[r - 2])];
  o.cs = st[static_cast<size_t>(perm[r - 1])];
  o.batch_strides.assign(nbd, 0);
  for (size_t d = 0; d + 2 < r; ++d) {
    const size_t src = static_cast<size_t>(perm[d]);
    o.batch_strides[nbd - (r - 2) + d] = shape[src] == 1 ? 0 : st[src];
  }
  return o;
}

template <int U>
Status run(KernelContext& ctx) {
  const Tensor& ta = ctx.in(0);
  const Tensor& tb = ctx.in(1);
  const Tensor* tc = ctx.has_input(2) ? &ctx.in(2) : nullptr;
  if (ta.dtype() != DType::kF32 || tb.dtype() != DType::kF32 || (tc && tc->dtype() != DType::kF32))
    return ctx.fail_unsupported("inputs are not all float32");
  ops::StridedMatMulShapes s;
  std::string err;
  if (!ops::strided_matmul_shapes(ctx.node, ta.shape(), tb.shape(), s, err)) return ctx.fail(err);
  const size_t rz = s.z.size();
  if (s.perm_y.back() != static_cast<int64_t>(rz) - 1) return ctx.fail("perm_y must keep the last axis last");
  const int64_t m = s.z[rz - 2], n = s.z[rz - 1], k = s.a.back();
  const StridedOperand a = view(ta.data<float>(), ta.shape(), s.perm_a, s.batch);
  const StridedOperand b = view(tb.data<float>(), tb.shape(), s.perm_b, s.batch);
  // Z dim perm_y[j] is Y dim j: its stride is Y's (contiguous) stride j.
  const std::vector<int64_t> ys = ops::strides_of(ctx.out(0).shape());
  std::vector<int64_t> zs(rz);
  for (size_t j = 0; j < rz; ++j) zs[static_cast<size_t>(s.perm_y[j])] = ys[j];
  std::vector<int64_t> c_batch(zs.begin(), zs.end() - 2);
  BatchedEpilogue ep;
  if (ctx.node.has_attr("scale")) {
    ep.has_scale = true;
    ep.scale = ctx.node.attr_float("scale", 1.0f);
    ep.divide = ctx.node.attr_int("scale_div", 0) != 0;
  }
  if (tc) {
    const std::vector<int64_t> cs = ops::broadcast_strides(tc->shape(), s.z);
    ep.addend.data = tc->data<float>();
    ep.addend.batch_strides.assign(cs.begin(), cs.end() - 2);
    ep.addend.rs = cs[rz - 2];
    ep.addend.cs = cs[rz - 1];
  }
  batched_gemm_f32(ukernel(U), s.batch, m, n, k, a, b, ctx.out(0).data<float>(), c_batch, zs[rz - 2], ep, ctx.pool);
  return Status::ok();
}

template <int U>
void add_variant(KernelRegistry& r, const char* name) {
  const Isa isa = ukernel(U).isa;
  KernelDef d{"joule", "StridedMatMul", name, Device::kCpu, isa, 10 + static_cast<int>(isa), accepts, nullptr, run<U>};
  d.overwrites_outputs = true;  // every element of Y is a GEMM result (k == 0: zero)
  r.add(std::move(d));
}

}  // namespace

void register_cpu_strided_matmul(KernelRegistry& r) {
  add_variant<0>(r, "strided_matmul_f32_6x16__avx2");
  add_variant<1>(r, "strided_matmul_f32_12x32__avx512");
}

}  // namespace joule::kernels::cpu
