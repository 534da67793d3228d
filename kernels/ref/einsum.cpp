// Reference Einsum: direct index iteration over the plan from runtime/ops/einsum_equation.h.
//
// For every output element (odometer over the output labels) and every assignment of the summed
// labels (inner odometer), multiply the operand elements the labels select and accumulate:
//   out[o] = sum_{s} prod_k X_k[offset_k(o, s)],   offset_k = sum_label idx[label] * stride_k[label]
// stride_k[label] adds the strides of every axis of operand k carrying that label (so a repeated
// label walks the diagonal) and is 0 on broadcast (size-1) ellipsis dims.
#include <type_traits>

#include "kernels/kernel_registry.h"
#include "runtime/ir/dtype_dispatch.h"
#include "runtime/ops/einsum_equation.h"
#include "runtime/ops/infer_helpers.h"

namespace joule::kernels {

namespace {

template <class T>
using AccT = std::conditional_t<std::is_floating_point_v<ComputeT<T>>, double,
                                std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>>;

template <class T>
void einsum_typed(const ops::EinsumPlan& plan, const std::vector<const Tensor*>& xs, Tensor& out) {
  using A = AccT<T>;
  size_t nl = plan.label_size.size(), nk = xs.size();
  // stride[k][label]
  std::vector<std::vector<int64_t>> stride(nk, std::vector<int64_t>(nl, 0));
  for (size_t k = 0; k < nk; ++k) {
    std::vector<int64_t> own = ops::strides_of(xs[k]->shape());
    for (size_t ax = 0; ax < own.size(); ++ax)
      if (xs[k]->dim(static_cast<int>(ax)) != 1) stride[k][static_cast<size_t>(plan.operand_labels[k][ax])] += own[ax];
  }
  auto odometer_init = [&](const std::vector<int>& labels) {
    int64_t total = 1;
    for (int l : labels) total *= plan.label_size[static_cast<size_t>(l)];
    return total;
  };
  int64_t n_out = odometer_init(plan.output_labels), n_sum = odometer_init(plan.summed_labels);
  std::vector<int64_t> base(nk, 0), off(nk, 0);
  std::vector<int64_t> oidx(plan.output_labels.size(), 0), sidx(plan.summed_labels.size(), 0);
  // Advances an odometer over `labels`, keeping each operand's offset `o` in step.
  auto step = [&](const std::vector<int>& labels, std::vector<int64_t>& idx, std::vector<int64_t>& o) {
    for (size_t d = labels.size(); d-- > 0;) {
      size_t l = static_cast<size_t>(labels[d]);
      ++idx[d];
      for (size_t k = 0; k < nk; ++k) o[k] += stride[k][l];
      if (idx[d] < plan.label_size[l]) return;
      for (size_t k = 0; k < nk; ++k) o[k] -= stride[k][l] * plan.label_size[l];
      idx[d] = 0;
    }
  };
  T* po = out.data<T>();
  for (int64_t i = 0; i < n_out; ++i) {
    A acc = 0;
    off = base;
    std::fill(sidx.begin(), sidx.end(), 0);
    for (int64_t s = 0; s < n_sum; ++s) {
      A prod = 1;
      for (size_t k = 0; k < nk; ++k) prod *= static_cast<A>(to_compute(xs[k]->data<T>()[off[k]]));
      acc += prod;
      step(plan.summed_labels, sidx, off);
    }
    po[i] = from_compute<T>(static_cast<ComputeT<T>>(acc));
    step(plan.output_labels, oidx, base);
  }
}

Status einsum_ref(KernelContext& ctx) {
  std::vector<Shape> shapes;
  for (const Tensor* t : ctx.inputs) shapes.push_back(t->shape());
  ops::EinsumPlan plan;
  Status st = ops::plan_einsum(ctx.node.attr_string("equation", ""), shapes, plan);
  if (!st.is_ok()) return ctx.fail(st.message());
  bool ok = dispatch_numeric(ctx.in(0).dtype(), [&]<class T>() { einsum_typed<T>(plan, ctx.inputs, ctx.out(0)); });
  return ok ? Status::ok() : ctx.fail_unsupported("dtype " + std::string(dtype_name(ctx.in(0).dtype())));
}

}  // namespace

void register_ref_einsum(KernelRegistry& r) {
  r.add({"", "Einsum", "einsum__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, einsum_ref});
}

}  // namespace joule::kernels
