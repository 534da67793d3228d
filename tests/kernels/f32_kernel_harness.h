// Shared by the f32 kernel-vs-reference tests: random inputs, a KernelQuery for a node, prepare + run of
// one KernelDef, and the error measure the conv tests bound.
#pragma once

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "kernels/kernel_registry.h"
#include "runtime/ir/graph.h"
#include "runtime/thread_pool.h"

namespace joule::test {

/// Uniform [-1, 1) values.
inline Tensor random_f32(const Shape& s, std::mt19937& rng) {
  Tensor t(DType::kF32, s);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
  return t;
}

/// The query a session would make for `node` on `in`; inputs after the first are constants when const_w.
inline kernels::KernelQuery query_for(const ir::Node& node, const std::vector<Tensor>& in, bool const_w) {
  kernels::KernelQuery q{node, {}, {}};
  for (size_t i = 0; i < in.size(); ++i) {
    q.inputs.push_back(ir::TensorDesc::known(in[i].dtype(), in[i].shape()));
    q.constant_inputs.push_back(i > 0 && const_w ? &in[i] : nullptr);
  }
  return q;
}

/// prepare (if the kernel has one) then run into a fresh float32 `out` of out_shape.
inline Status prepare_and_run(const kernels::KernelDef& k, const ir::Node& node, const std::vector<Tensor>& in, bool const_w,
                              ThreadPool* pool, const Shape& out_shape, Tensor& out) {
  std::shared_ptr<const void> state;
  if (k.prepare) {
    Status s = k.prepare(query_for(node, in, const_w), state);
    if (!s.is_ok()) return s;
  }
  out = Tensor(DType::kF32, out_shape);
  kernels::KernelContext ctx{node, {}, {&out}, pool, state.get()};
  for (const Tensor& t : in) ctx.inputs.push_back(&t);
  return k.run(ctx);
}

/// max |got - want| / (|want| + mean |want|); infinite when NaN-ness differs.
inline double rel_error(const Tensor& got, const Tensor& want) {
  double mean = 0;
  for (int64_t i = 0; i < want.numel(); ++i) mean += std::fabs(want.data<float>()[i]);
  mean = mean / std::max<int64_t>(1, want.numel()) + 1e-30;
  double worst = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    const double r = want.data<float>()[i], f = got.data<float>()[i];
    if (std::isnan(f) != std::isnan(r)) return INFINITY;
    worst = std::max(worst, std::fabs(f - r) / (std::fabs(r) + mean));
  }
  return worst;
}

}  // namespace joule::test
